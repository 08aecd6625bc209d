/* otlparrow inspect: the schema and batches of an Arrow IPC stream or file,
 * as a table for people or as one JSON document for tools. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "otlparrow/format.h"

static const char kInspectHelp[] =
    "usage: otlparrow inspect FILE [options]\n"
    "\n"
    "Prints the schema and the record batches of an Arrow IPC stream or file\n"
    "(the format is detected from the ARROW1 magic; FILE '-' reads a stream\n"
    "from standard input).\n"
    "\n"
    "options:\n"
    "  --json         one JSON document: {format, schema, batches[{length, columns}]}\n"
    "  --batches N    print at most N batches (default: all)\n"
    "  --rows N       print at most N rows per batch (default: 20 for tables,\n"
    "                 all for --json)\n"
    "  --max-width N  truncate table cells to N characters (default 32)\n"
    "  -h, --help     show this help\n";

typedef struct inspect_opts {
  bool json;
  int64_t max_batches;
  int64_t max_rows;
  int64_t max_width;
} inspect_opts;

static void put_json_string(oa_bytes *out, const char *s, int64_t n) {
  oa_bytes_append(out, "\"", 1);
  for (int64_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      oa_bytes_append(out, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      oa_bytes_append(out, esc, 6);
    } else {
      oa_bytes_append(out, &s[i], 1);
    }
  }
  oa_bytes_append(out, "\"", 1);
}

static int print_schema_json(const oa_schema *s, oa_bytes *out, oa_error *err) {
  oa_bytes_append(out, "{\"fields\":[", 11);
  for (int64_t i = 0; i < s->n_fields; i++) {
    if (i) oa_bytes_append(out, ",", 1);
    OA_RETURN_NOT_OK(oa_format_field_json(&s->fields[i], out, err));
  }
  oa_bytes_append(out, "],\"metadata\":{", 14);
  for (int64_t i = 0; i < s->metadata.n; i++) {
    const oa_kv *kv = &s->metadata.items[i];
    if (i) oa_bytes_append(out, ",", 1);
    put_json_string(out, kv->key, kv->key_len);
    oa_bytes_append(out, ":", 1);
    put_json_string(out, kv->value, kv->value_len);
  }
  return oa_bytes_append(out, "}}", 2);
}

static int print_batch_json(const oa_batch *b, int64_t max_rows, oa_bytes *out,
                            oa_error *err) {
  char head[64];
  int n = snprintf(head, sizeof head, "{\"length\":%lld,\"columns\":[", (long long)b->length);
  oa_bytes_append(out, head, n);
  int64_t rows = b->length < max_rows ? b->length : max_rows;
  for (int64_t c = 0; c < b->n_columns; c++) {
    if (c) oa_bytes_append(out, ",", 1);
    oa_bytes_append(out, "[", 1);
    for (int64_t r = 0; r < rows; r++) {
      if (r) oa_bytes_append(out, ",", 1);
      OA_RETURN_NOT_OK(oa_format_value(&b->schema->fields[c], &b->columns[c], r,
                                       OA_FORMAT_JSON, out, err));
    }
    oa_bytes_append(out, "]", 1);
  }
  return oa_bytes_append(out, "]}", 2);
}

static void print_schema_text(const oa_schema *s, FILE *f) {
  fprintf(f, "schema: %lld field%s\n", (long long)s->n_fields, s->n_fields == 1 ? "" : "s");
  for (int64_t i = 0; i < s->n_fields; i++) {
    char type[1024];
    oa_field_format_type(&s->fields[i], type, sizeof type);
    fprintf(f, "  %s: %s%s\n", s->fields[i].name, type,
            s->fields[i].nullable ? "" : " not null");
    for (int64_t k = 0; k < s->fields[i].metadata.n; k++)
      fprintf(f, "    %s = %s\n", s->fields[i].metadata.items[k].key,
              s->fields[i].metadata.items[k].value);
  }
  for (int64_t k = 0; k < s->metadata.n; k++)
    fprintf(f, "  metadata %s = %s\n", s->metadata.items[k].key, s->metadata.items[k].value);
}

/* Display width of a UTF-8 string (code points; good enough for a table). */
static int64_t utf8_width(const char *s, int64_t n) {
  int64_t w = 0;
  for (int64_t i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) w++;
  return w;
}

/* Byte length of the first `width` code points. */
static int64_t utf8_prefix(const char *s, int64_t n, int64_t width) {
  int64_t w = 0;
  for (int64_t i = 0; i < n; i++) {
    if (((unsigned char)s[i] & 0xC0) != 0x80) {
      if (w == width) return i;
      w++;
    }
  }
  return n;
}

static int print_batch_text(const oa_batch *b, int64_t index, const inspect_opts *o,
                            FILE *f, oa_error *err) {
  int64_t rows = b->length < o->max_rows ? b->length : o->max_rows;
  int64_t ncol = b->n_columns;
  fprintf(f, "\nbatch %lld: %lld row%s\n", (long long)index, (long long)b->length,
          b->length == 1 ? "" : "s");
  if (ncol == 0 || rows == 0) return 0;
  /* cells[r][c] as offsets into one text buffer; row -1 is the header */
  int64_t ncells = (rows + 1) * ncol;
  int64_t *start = calloc((size_t)ncells + 1, sizeof *start);
  int64_t *width = calloc((size_t)ncol, sizeof *width);
  oa_bytes text;
  oa_bytes_init(&text);
  int rc = 0;
  if (!start || !width) {
    rc = oa_error_set(err, ENOMEM, "inspect: out of memory");
    goto done;
  }
  for (int64_t c = 0; c < ncol; c++) {
    start[c] = text.size;
    oa_bytes_append(&text, b->schema->fields[c].name, (int64_t)strlen(b->schema->fields[c].name));
  }
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < ncol; c++) {
      start[(r + 1) * ncol + c] = text.size;
      OA_GOTO_NOT_OK(rc, oa_format_value(&b->schema->fields[c], &b->columns[c], r,
                                         OA_FORMAT_TEXT, &text, err),
                     done);
    }
  }
  start[ncells] = text.size;
  for (int64_t i = 0; i < ncells; i++) {
    const char *s = (const char *)text.data + start[i];
    int64_t w = utf8_width(s, start[i + 1] - start[i]);
    if (w > o->max_width) w = o->max_width;
    if (w > width[i % ncol]) width[i % ncol] = w;
  }
  for (int64_t r = 0; r <= rows; r++) {
    for (int64_t c = 0; c < ncol; c++) {
      int64_t i = r * ncol + c;
      const char *s = (const char *)text.data + start[i];
      int64_t len = start[i + 1] - start[i];
      int64_t w = utf8_width(s, len);
      bool cut = w > o->max_width;
      if (cut) {
        len = utf8_prefix(s, len, o->max_width - 1);
        w = o->max_width;
      }
      /* newlines inside values would break the table */
      for (int64_t k = 0; k < len; k++) fputc(s[k] == '\n' || s[k] == '\r' ? ' ' : s[k], f);
      if (cut) fputs("…", f);
      if (c + 1 < ncol)
        fprintf(f, "%*s", (int)(width[c] - w + 2), "");
    }
    fputc('\n', f);
    if (r == 0) {
      for (int64_t c = 0; c < ncol; c++) {
        for (int64_t k = 0; k < width[c]; k++) fputc('-', f);
        if (c + 1 < ncol) fputs("  ", f);
      }
      fputc('\n', f);
    }
  }
  if (rows < b->length)
    fprintf(f, "... %lld more row%s (use --rows)\n", (long long)(b->length - rows),
            b->length - rows == 1 ? "" : "s");
done:
  free(start);
  free(width);
  oa_bytes_reset(&text);
  return rc;
}

int oa_cli_inspect(int argc, char **argv) {
  inspect_opts o = {false, INT64_MAX, -1, 32};
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (oa_cli_is_help(a)) {
      fputs(kInspectHelp, stdout);
      return 0;
    } else if (strcmp(a, "--json") == 0) {
      o.json = true;
    } else if (strcmp(a, "--batches") == 0 || strcmp(a, "--rows") == 0 ||
               strcmp(a, "--max-width") == 0) {
      int64_t v;
      if (i + 1 >= argc || !oa_cli_parse_i64(argv[i + 1], &v))
        return oa_cli_fail("%s needs a non-negative number (see otlparrow inspect --help)", a);
      i++;
      if (a[2] == 'b') o.max_batches = v;
      else if (a[2] == 'r') o.max_rows = v;
      else o.max_width = v < 4 ? 4 : v;
    } else if (a[0] == '-' && a[1] != 0) {
      return oa_cli_fail("unknown option %s (see otlparrow inspect --help)", a);
    } else if (!path) {
      path = a;
    } else {
      return oa_cli_fail("inspect takes one FILE, got '%s' and '%s'", path, a);
    }
  }
  if (!path) return oa_cli_fail("inspect needs a FILE (see otlparrow inspect --help)");
  if (o.max_rows < 0) o.max_rows = o.json ? INT64_MAX : 20;

  oa_error err = {{0}};
  oa_cli_input in;
  if (oa_cli_input_open(&in, path, &err)) return oa_cli_fail("%s", err.message);

  oa_bytes out;
  oa_bytes_init(&out);
  oa_batch b;
  oa_batch_init(&b);
  bool got = false;
  int rc = oa_cli_input_next(&in, &b, &got, &err);
  int64_t index = 0, total_rows = 0;
  const oa_schema *schema = oa_cli_input_schema(&in);
  if (rc == 0 && !schema) rc = oa_error_set(&err, EINVAL, "%s: no schema found", path);
  if (rc == 0) {
    if (o.json) {
      const char *fmt = in.format == OA_IPC_FILE ? "file" : "stream";
      char head[64];
      int n = snprintf(head, sizeof head, "{\"format\":\"%s\",\"schema\":", fmt);
      oa_bytes_append(&out, head, n);
      rc = print_schema_json(schema, &out, &err);
      oa_bytes_append(&out, ",\"batches\":[", 12);
    } else {
      printf("%s: Arrow IPC %s\n", path, in.format == OA_IPC_FILE ? "file" : "stream");
      print_schema_text(schema, stdout);
    }
  }
  while (rc == 0 && got) {
    total_rows += b.length;
    if (index < o.max_batches) {
      if (o.json) {
        if (index) oa_bytes_append(&out, ",", 1);
        rc = print_batch_json(&b, o.max_rows, &out, &err);
        if (rc == 0 && out.size > (1 << 20)) {
          fwrite(out.data, 1, (size_t)out.size, stdout);
          out.size = 0;
        }
      } else {
        rc = print_batch_text(&b, index, &o, stdout, &err);
      }
    }
    index++;
    oa_batch_reset(&b);
    if (rc == 0) rc = oa_cli_input_next(&in, &b, &got, &err);
  }
  if (rc == 0) {
    if (o.json) {
      oa_bytes_append(&out, "]}\n", 3);
      fwrite(out.data, 1, (size_t)out.size, stdout);
    } else {
      printf("\n%lld batch%s, %lld row%s\n", (long long)index, index == 1 ? "" : "es",
             (long long)total_rows, total_rows == 1 ? "" : "s");
    }
  }
  oa_batch_reset(&b);
  oa_bytes_reset(&out);
  oa_cli_input_close(&in);
  if (rc) return oa_cli_fail("%s", err.message);
  return 0;
}
