/* The serve configuration file: a flat YAML mapping, read with libyaml's
 * event parser (no document tree is built, so the memory held is the text
 * plus one key). */
#include "cli/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

bool oa_cli_parse_size(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || v < 0) return false;
  int64_t mult = 1;
  if (*end) {
    char c = (char)(*end | 0x20);
    if (c == 'k')
      mult = 1LL << 10;
    else if (c == 'm')
      mult = 1LL << 20;
    else if (c == 'g')
      mult = 1LL << 30;
    else if (c == 't')
      mult = 1LL << 40;
    else if (c != 'b')
      return false;
    if (c != 'b') end++;
    if (strcasecmp(end, "") != 0 && strcasecmp(end, "b") != 0 &&
        strcasecmp(end, "ib") != 0)
      return false;
  }
  if (v > INT64_MAX / mult) return false;
  *out = v * mult;
  return true;
}

int oa_cli_config_parse(const char *text, size_t len, const char *name,
                        oa_cli_config_fn fn, void *ctx, oa_error *err) {
  if (len > OA_CLI_CONFIG_MAX_SIZE)
    return oa_error_set(err, E2BIG,
                        "%s: %zu bytes, larger than the limit of %d", name, len,
                        OA_CLI_CONFIG_MAX_SIZE);
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p))
    return oa_error_set(err, ENOMEM, "%s: out of memory", name);
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  int rc = 0, depth = 0, docs = 0;
  char *key = NULL;
  for (;;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      rc = oa_error_set(err, p.error == YAML_MEMORY_ERROR ? ENOMEM : EINVAL,
                        "%s: line %zu: %s", name, p.problem_mark.line + 1,
                        p.problem ? p.problem : "YAML syntax error");
      break;
    }
    yaml_event_type_t t = ev.type;
    size_t line = ev.start_mark.line + 1;
    if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
      rc = oa_error_set(
          err, EINVAL, "%s: line %zu: more than one YAML document", name, line);
    } else if (t == YAML_MAPPING_START_EVENT ||
               t == YAML_SEQUENCE_START_EVENT) {
      if (++depth > 1 || t == YAML_SEQUENCE_START_EVENT)
        rc = oa_error_set(err, EINVAL,
                          "%s: line %zu: expected 'key: value' lines (no "
                          "nested mappings or lists)",
                          name, line);
    } else if (t == YAML_SCALAR_EVENT) {
      const char *v = (const char *)ev.data.scalar.value;
      if (depth != 1) {
        rc = oa_error_set(err, EINVAL,
                          "%s: line %zu: expected a mapping of options", name,
                          line);
      } else if (!key) {
        key = strdup(v);
        if (!key) rc = oa_error_set(err, ENOMEM, "%s: out of memory", name);
      } else {
        rc = fn(ctx, key, v, line, err);
        free(key);
        key = NULL;
      }
    } else if (t == YAML_MAPPING_END_EVENT) {
      depth--;
    } else if (t == YAML_ALIAS_EVENT) {
      rc = oa_error_set(err, EINVAL, "%s: line %zu: aliases are not supported",
                        name, line);
    }
    yaml_event_delete(&ev);
    if (rc || t == YAML_STREAM_END_EVENT) break;
  }
  free(key);
  yaml_parser_delete(&p);
  return rc;
}

int oa_cli_config_load(const char *path, const char *name, oa_cli_config_fn fn,
                       void *ctx, oa_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return oa_error_set(err, errno == ENOENT ? ENOENT : EIO,
                        "%s: cannot open '%s': %s", name, path,
                        strerror(errno));
  /* one byte more than the limit tells a larger file apart */
  char *buf = malloc(OA_CLI_CONFIG_MAX_SIZE + 1);
  if (!buf) {
    fclose(f);
    return oa_error_set(err, ENOMEM, "%s: out of memory", name);
  }
  size_t n = fread(buf, 1, OA_CLI_CONFIG_MAX_SIZE + 1, f);
  int bad = ferror(f);
  fclose(f);
  int rc = bad ? oa_error_set(err, EIO, "%s: read error on '%s'", name, path)
               : oa_cli_config_parse(buf, n, name, fn, ctx, err);
  free(buf);
  return rc;
}
