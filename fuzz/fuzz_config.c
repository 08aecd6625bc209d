/* libFuzzer target: the configuration file parser of `otlparrow serve`
 * (cli/config.c: libyaml's event parser, the flat-mapping rules and the
 * size values). Every key and value handed over must be a NUL-terminated
 * string within the limit, and a refused file must say why. */
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_key(void *ctx, const char *key, const char *value, size_t line,
                  oa_error *err) {
  size_t *count = ctx;
  (*count)++;
  if (strlen(key) > OA_CLI_CONFIG_MAX_SIZE ||
      strlen(value) > OA_CLI_CONFIG_MAX_SIZE || line == 0)
    abort();
  /* the numeric options go through the size parser */
  int64_t v;
  if (oa_cli_parse_size(value, &v) && v < 0) abort();
  /* an option name that serve does not know stops it, like serve does */
  if (strcmp(key, "stop") == 0)
    return oa_error_set(err, EINVAL, "config line %zu: unknown option '%s'",
                        line, key);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size ? size : 1);
  if (!text) return 0;
  if (size) memcpy(text, data, size);
  size_t count = 0;
  oa_error err;
  err.message[0] = 0;
  int rc = oa_cli_config_parse(text, size, "fuzz.yaml", on_key, &count, &err);
  if (rc != 0 && (rc != EINVAL && rc != E2BIG && rc != ENOMEM)) abort();
  if (rc != 0 && !err.message[0]) abort();
  free(text);
  return 0;
}
