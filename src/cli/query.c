/* otlparrow query / otlparrow trace: SQL over span files, a data directory
 * or a Flight server, printed for people (table) or tools (CSV, JSON lines,
 * Arrow IPC). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "otlparrow/dataset.h"
#include "otlparrow/flight_client.h"
#include "otlparrow/format.h"
#include "otlparrow/query.h"

static const char kQueryHelp[] =
    "usage: otlparrow query [SOURCE] \"SQL\" [options]\n"
    "\n"
    "Runs one SELECT statement over spans and prints the result. The table\n"
    "`spans` has the columns of docs/schema.md.\n"
    "\n"
    "sources (one of):\n"
    "  --input FILE       OTLP protobuf/JSON or Arrow IPC span files, loaded "
    "as\n"
    "                     the table `spans` (repeatable; default: stdin)\n"
    "  --data-dir DIR     a serve data directory, opened read-only; tables "
    "are\n"
    "                     its datasets\n"
    "  --flight HOST:PORT a running `otlparrow serve`: the SQL is sent as a\n"
    "                     DoGet ticket and runs on the server\n"
    "\n"
    "options:\n"
    "  --format F         table (default), csv, json (JSON lines) or arrow\n"
    "                     (Arrow IPC stream)\n"
    "  -o, --output FILE  write the result to FILE (default: standard output)\n"
    "  --max-width N      table: cut values longer than N characters "
    "(default 40;\n"
    "                     0: never)\n"
    "  --threads N        engine threads (default: all CPUs)\n"
    "  --token T          Flight bearer token\n"
    "  --timing           print load and query times to standard error\n"
    "  --repeat N         run the query N times on the loaded data (not with\n"
    "                     --flight); --timing reports the median and the\n"
    "                     first run's engine time\n"
    "  --max-memory BYTES memory one run may hold for GROUP BY tables, sort\n"
    "                     keys and the result (default 1G; K/M/G suffixes;\n"
    "                     0: no limit); over it the query fails (exit 1)\n"
    "  --max-rows N       result rows (default 100000000); more fail\n"
    "  -h, --help         show this help\n"
    "\n"
    "CSV has a header row and RFC 4180 quoting; ids are lowercase hex, "
    "times\n"
    "integer nanoseconds, NULL an empty field and nested values JSON text.\n"
    "Table output shows times in ISO-8601 UTC.\n"
    "\n"
    "example:\n"
    "  otlparrow query --input spans.pb \"SELECT service_name, count(*) AS n,\n"
    "    quantile(duration, 0.99) FROM spans WHERE status_code = 2\n"
    "    GROUP BY service_name ORDER BY n DESC LIMIT 10\"\n";

static const char kTraceHelp[] =
    "usage: otlparrow trace TRACE_ID [SOURCE]\n"
    "\n"
    "Prints one trace as an indented tree: each span under its parent, "
    "children\n"
    "by start time, with name, service, duration and status. Exit status 1\n"
    "when no span has this id.\n"
    "\n"
    "sources (one of):\n"
    "  --input FILE       OTLP protobuf/JSON or Arrow IPC span files "
    "(repeatable)\n"
    "  --data-dir DIR     a serve data directory (read-only)\n"
    "  --flight HOST:PORT a running `otlparrow serve`\n"
    "  --token T          Flight bearer token\n"
    "  -h, --help         show this help\n";

/* ------------------------------------------------------------ sources */

typedef struct q_source {
  const char **inputs;
  int n_inputs;
  const char *data_dir;
  const char *flight;
  const char *token;
  /* --input: every batch of every file, the table `spans` */
  oa_schema *schema;
  oa_batch *batches;
  int64_t n_batches, cap_batches;
  /* --data-dir */
  oa_datasets *store;
} q_source;

static void source_reset(q_source *s) {
  for (int64_t i = 0; i < s->n_batches; i++)
    oa_batch_reset(&s->batches[i]);
  free(s->batches);
  if (s->schema) oa_schema_release(s->schema);
  oa_datasets_free(s->store);
  free(s->inputs);
  memset(s, 0, sizeof *s);
}

static int push_batch(q_source *s, oa_batch *b, oa_error *err) {
  if (s->n_batches == s->cap_batches) {
    int64_t cap = s->cap_batches ? s->cap_batches * 2 : 16;
    oa_batch *nb = realloc(s->batches, (size_t)cap * sizeof *nb);
    if (!nb) return oa_error_set(err, ENOMEM, "out of memory");
    s->batches = nb;
    s->cap_batches = cap;
  }
  oa_batch_init(&s->batches[s->n_batches]);
  oa_batch_move(&s->batches[s->n_batches++], b);
  return 0;
}

/* Loads every batch of every --input file; all must share one schema. */
static int load_inputs(q_source *s, oa_error *err) {
  static const char *kStdin[] = {"-"};
  const char **paths = s->n_inputs ? s->inputs : kStdin;
  int n = s->n_inputs ? s->n_inputs : 1;
  for (int i = 0; i < n; i++) {
    oa_cli_input in;
    int rc = oa_cli_input_open(&in, paths[i], err);
    if (rc) return oa_error_prefix(err, rc, "%s: ", paths[i]);
    for (;;) {
      oa_batch b;
      oa_batch_init(&b);
      bool got = false;
      rc = oa_cli_input_next(&in, &b, &got, err);
      if (rc || !got) break;
      if (!s->schema) {
        s->schema = b.schema;
        oa_schema_retain(s->schema);
      } else if (b.schema != s->schema &&
                 !oa_schema_equals(b.schema, s->schema, false, err)) {
        oa_batch_reset(&b);
        rc = oa_error_prefix(err, EINVAL,
                             "schema differs from the first input's: ");
        break;
      }
      rc = push_batch(s, &b, err);
      oa_batch_reset(&b);
      if (rc) break;
    }
    if (rc == 0 && !s->schema && oa_cli_input_schema(&in)) {
      s->schema = oa_cli_input_schema(&in);
      oa_schema_retain(s->schema);
    }
    oa_cli_input_close(&in);
    if (rc) return oa_error_prefix(err, rc, "%s: ", paths[i]);
  }
  if (!s->schema) {
    /* no batch and no schema (an empty OTLP input): an empty span table */
    OA_RETURN_NOT_OK(oa_span_schema(&s->schema, err));
  }
  return 0;
}

static void release_borrowed(oa_query_table *t) {
  if (t->schema) oa_schema_release(t->schema);
  t->schema = NULL;
}

static void release_snapshot(oa_query_table *t) {
  oa_datasets_snapshot_free(t->schema, (oa_batch *)t->batches, t->n_batches);
  t->schema = NULL;
  t->batches = NULL;
}

static int resolve_input(void *ctx, const char *name,
                         const oa_query_scan_hint *hint, oa_query_table *out,
                         oa_error *err) {
  q_source *s = ctx;
  (void)hint;
  if (strcasecmp(name, "spans") != 0)
    return oa_error_set(err, ENOENT,
                        "no table '%s' (with --input the only table is "
                        "'spans')",
                        name);
  oa_schema_retain(s->schema);
  out->schema = s->schema;
  out->batches = s->batches;
  out->n_batches = s->n_batches;
  out->release = release_borrowed;
  out->private_data = NULL;
  return 0;
}

static int resolve_store(void *ctx, const char *name,
                         const oa_query_scan_hint *hint, oa_query_table *out,
                         oa_error *err) {
  q_source *s = ctx;
  oa_schema *schema = NULL;
  oa_batch *batches = NULL;
  int64_t n = 0;
  int rc;
  if (hint)
    rc = oa_datasets_snapshot_filtered(
        s->store, name, hint->trace_ids, hint->n_trace_ids,
        hint->min_start_time, hint->max_start_time, &schema, &batches, &n, err);
  else
    rc = oa_datasets_snapshot(s->store, name, &schema, &batches, &n, err);
  if (rc == ENOENT)
    return oa_error_set(err, ENOENT, "no table '%s' in %s", name, s->data_dir);
  if (rc) return rc;
  out->schema = schema;
  out->batches = batches;
  out->n_batches = n;
  out->release = release_snapshot;
  out->private_data = NULL;
  return 0;
}

static int open_store(q_source *s, oa_error *err) {
  oa_store_options so;
  oa_store_options_init(&so);
  so.read_only = true;
  int rc = oa_datasets_open(&s->store, s->data_dir, &so, 0, err);
  if (rc) return oa_error_prefix(err, rc, "--data-dir %s: ", s->data_dir);
  return 0;
}

static int open_flight(oa_flight_client **c, const q_source *s, oa_error *err) {
  oa_flight_client_options fo;
  oa_flight_client_options_init(&fo);
  fo.token = s->token;
  return oa_flight_client_new(c, s->flight, &fo, err);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ----------------------------------------------------------- values */

static const char kHex[] = "0123456789abcdef";

static int put_hex(oa_bytes *o, const uint8_t *d, int64_t n) {
  OA_RETURN_NOT_OK(oa_bytes_reserve(o, 2 * n));
  for (int64_t i = 0; i < n; i++) {
    char c[2] = {kHex[d[i] >> 4], kHex[d[i] & 15]};
    oa_bytes_append(o, c, 2);
  }
  return 0;
}

static int putf(oa_bytes *o, const char *fmt, ...) OA_PRINTF(2, 3);
static int putf(oa_bytes *o, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return EINVAL;
  return oa_bytes_append(o, tmp, n < (int)sizeof tmp ? n : (int)sizeof tmp - 1);
}

static bool is_nested(oa_type_id id) {
  switch (id) {
  case OA_TYPE_LIST:
  case OA_TYPE_LARGE_LIST:
  case OA_TYPE_FIXED_SIZE_LIST:
  case OA_TYPE_STRUCT:
  case OA_TYPE_MAP:
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION:
    return true;
  default:
    return false;
  }
}

static bool is_binary(oa_type_id id) {
  return id == OA_TYPE_BINARY || id == OA_TYPE_LARGE_BINARY ||
         id == OA_TYPE_FIXED_SIZE_BINARY;
}

static bool is_string(oa_type_id id) {
  return id == OA_TYPE_STRING || id == OA_TYPE_LARGE_STRING;
}

static bool is_numeric(oa_type_id id) {
  return oa_type_is_integer(id) || id == OA_TYPE_HALF_FLOAT ||
         id == OA_TYPE_FLOAT || id == OA_TYPE_DOUBLE ||
         id == OA_TYPE_DURATION || id == OA_TYPE_DECIMAL128 ||
         id == OA_TYPE_DECIMAL256;
}

/* Sees through dictionary encoding: the values' field and array, and the
 * row in them. */
static void undict(const oa_field *f, const oa_array *a, int64_t i,
                   oa_field *vf, const oa_array **va, int64_t *vi) {
  *vf = *f;
  *va = a;
  *vi = i;
  if (f->dict.encoded && a->dictionary) {
    *vi = oa_array_get_dict_index(f, a, i);
    vf->dict.encoded = false;
    *va = a->dictionary;
  }
}

/* The CSV form of a non-null element (unquoted). */
static int csv_raw(const oa_field *f0, const oa_array *a0, int64_t i0,
                   oa_bytes *o, oa_error *err) {
  oa_field f;
  const oa_array *a;
  int64_t i;
  undict(f0, a0, i0, &f, &a, &i);
  oa_type_id id = f.type.id;
  if (is_binary(id)) {
    int64_t len = 0;
    const uint8_t *d = oa_array_get_bytes(&f, a, i, &len);
    return put_hex(o, d, len);
  }
  if (is_string(id)) {
    int64_t len = 0;
    const uint8_t *d = oa_array_get_bytes(&f, a, i, &len);
    return oa_bytes_append(o, d, len);
  }
  switch (id) {
  case OA_TYPE_TIMESTAMP:
  case OA_TYPE_DURATION:
  case OA_TYPE_DATE64:
  case OA_TYPE_TIME64:
  case OA_TYPE_DATE32:
  case OA_TYPE_TIME32:
    return putf(o, "%lld", (long long)oa_array_get_int(&f, a, i));
  case OA_TYPE_DOUBLE:
  case OA_TYPE_FLOAT:
  case OA_TYPE_HALF_FLOAT: {
    double v = oa_array_get_double(&f, a, i);
    if (v != v) return putf(o, "nan");
    if (v > 1.7976931348623157e308) return putf(o, "inf");
    if (v < -1.7976931348623157e308) return putf(o, "-inf");
    return putf(o, "%.17g", v);
  }
  default:
    break;
  }
  if (is_nested(id)) return oa_format_value(&f, a, i, OA_FORMAT_JSON, o, err);
  return oa_format_value(&f, a, i, OA_FORMAT_TEXT, o, err);
}

static int csv_cell(const oa_field *f, const oa_array *a, int64_t i,
                    oa_bytes *o, oa_bytes *tmp, oa_error *err) {
  if (oa_array_is_null(f, a, i) || f->type.id == OA_TYPE_NA) return 0;
  tmp->size = 0;
  OA_RETURN_NOT_OK(csv_raw(f, a, i, tmp, err));
  bool quote = false;
  for (int64_t k = 0; k < tmp->size && !quote; k++) {
    uint8_t c = tmp->data[k];
    quote = c == ',' || c == '"' || c == '\n' || c == '\r';
  }
  /* an empty string is quoted so that it differs from NULL */
  if (tmp->size == 0 && is_string(f->type.id)) quote = true;
  if (!quote) return oa_bytes_append(o, tmp->data, tmp->size);
  OA_RETURN_NOT_OK(oa_bytes_append(o, "\"", 1));
  for (int64_t k = 0; k < tmp->size; k++) {
    if (tmp->data[k] == '"') OA_RETURN_NOT_OK(oa_bytes_append(o, "\"", 1));
    OA_RETURN_NOT_OK(oa_bytes_append(o, &tmp->data[k], 1));
  }
  return oa_bytes_append(o, "\"", 1);
}

static int csv_name(const char *name, oa_bytes *o) {
  bool quote = name[0] == 0 || strpbrk(name, ",\"\r\n") != NULL;
  if (!quote) return oa_bytes_append(o, name, (int64_t)strlen(name));
  OA_RETURN_NOT_OK(oa_bytes_append(o, "\"", 1));
  for (const char *p = name; *p; p++) {
    if (*p == '"') OA_RETURN_NOT_OK(oa_bytes_append(o, "\"", 1));
    OA_RETURN_NOT_OK(oa_bytes_append(o, p, 1));
  }
  return oa_bytes_append(o, "\"", 1);
}

/* A JSON string of s (escaped like oa_format_value's strings). */
static int json_string(const char *s, oa_bytes *o) {
  OA_RETURN_NOT_OK(oa_bytes_append(o, "\"", 1));
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      char e[2] = {'\\', (char)*p};
      OA_RETURN_NOT_OK(oa_bytes_append(o, e, 2));
    } else if (*p < 0x20) {
      OA_RETURN_NOT_OK(putf(o, "\\u%04x", *p));
    } else {
      OA_RETURN_NOT_OK(oa_bytes_append(o, p, 1));
    }
  }
  return oa_bytes_append(o, "\"", 1);
}

/* ---------------------------------------------------------- outputs */

typedef enum q_format { Q_TABLE, Q_CSV, Q_JSON, Q_ARROW } q_format;

static int flush_bytes(FILE *f, oa_bytes *b, oa_error *err) {
  if (b->size && fwrite(b->data, 1, (size_t)b->size, f) != (size_t)b->size)
    return oa_error_set(err, EIO, "write failed: %s", strerror(errno));
  b->size = 0;
  return 0;
}

static int write_csv(const oa_schema *s, const oa_batch *bs, int64_t n, FILE *f,
                     oa_error *err) {
  oa_bytes o, tmp;
  oa_bytes_init(&o);
  oa_bytes_init(&tmp);
  int rc = 0;
  for (int64_t c = 0; c < s->n_fields && rc == 0; c++) {
    if (c) rc = oa_bytes_append(&o, ",", 1);
    if (rc == 0) rc = csv_name(s->fields[c].name, &o);
  }
  if (rc == 0) rc = oa_bytes_append(&o, "\r\n", 2);
  for (int64_t b = 0; b < n && rc == 0; b++) {
    for (int64_t r = 0; r < bs[b].length && rc == 0; r++) {
      for (int64_t c = 0; c < s->n_fields && rc == 0; c++) {
        if (c) rc = oa_bytes_append(&o, ",", 1);
        if (rc == 0)
          rc = csv_cell(&s->fields[c], &bs[b].columns[c], r, &o, &tmp, err);
      }
      if (rc == 0) rc = oa_bytes_append(&o, "\r\n", 2);
      if (rc == 0 && o.size > (1 << 20)) rc = flush_bytes(f, &o, err);
    }
  }
  if (rc == 0)
    rc = flush_bytes(f, &o, err);
  else if (rc == ENOMEM)
    oa_error_set(err, ENOMEM, "out of memory");
  oa_bytes_reset(&o);
  oa_bytes_reset(&tmp);
  return rc;
}

static int write_json(const oa_schema *s, const oa_batch *bs, int64_t n,
                      FILE *f, oa_error *err) {
  oa_bytes o;
  oa_bytes_init(&o);
  int rc = 0;
  for (int64_t b = 0; b < n && rc == 0; b++) {
    for (int64_t r = 0; r < bs[b].length && rc == 0; r++) {
      rc = oa_bytes_append(&o, "{", 1);
      for (int64_t c = 0; c < s->n_fields && rc == 0; c++) {
        if (c) rc = oa_bytes_append(&o, ",", 1);
        if (rc == 0) rc = json_string(s->fields[c].name, &o);
        if (rc == 0) rc = oa_bytes_append(&o, ":", 1);
        if (rc == 0)
          rc = oa_format_value(&s->fields[c], &bs[b].columns[c], r,
                               OA_FORMAT_JSON, &o, err);
      }
      if (rc == 0) rc = oa_bytes_append(&o, "}\n", 2);
      if (rc == 0 && o.size > (1 << 20)) rc = flush_bytes(f, &o, err);
    }
  }
  if (rc == 0) rc = flush_bytes(f, &o, err);
  oa_bytes_reset(&o);
  return rc;
}

/* Display width of UTF-8 text (code points; no East Asian widths). */
static int64_t text_width(const uint8_t *s, int64_t n) {
  int64_t w = 0;
  for (int64_t i = 0; i < n; i++)
    if ((s[i] & 0xC0) != 0x80) w++;
  return w;
}

/* Byte length of the first `width` code points of s. */
static int64_t text_prefix(const uint8_t *s, int64_t n, int64_t width) {
  int64_t w = 0;
  for (int64_t i = 0; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      if (w == width) return i;
      w++;
    }
  }
  return n;
}

/* The table form of an element: text style, one line, cut to max_width. */
static int table_cell(const oa_field *f, const oa_array *a, int64_t i,
                      int64_t max_width, oa_bytes *o, oa_error *err) {
  if (f->type.id == OA_TYPE_NA || oa_array_is_null(f, a, i))
    return oa_bytes_append(o, "NULL", 4);
  int64_t start = o->size;
  if ((f->type.id == OA_TYPE_DOUBLE || f->type.id == OA_TYPE_FLOAT) &&
      !f->dict.encoded) {
    /* 15 digits: exact enough for people, without 0.30000000000000004 */
    double v = oa_array_get_double(f, a, i);
    if (v != v) return putf(o, "NaN");
    if (isinf(v)) return putf(o, v > 0 ? "inf" : "-inf");
    return putf(o, "%.15g", v);
  }
  OA_RETURN_NOT_OK(oa_format_value(f, a, i, OA_FORMAT_TEXT, o, err));
  /* control characters would break the columns */
  for (int64_t k = start; k < o->size; k++)
    if (o->data[k] < 0x20) o->data[k] = ' ';
  int64_t len = o->size - start;
  if (max_width > 0 && text_width(o->data + start, len) > max_width) {
    int64_t keep = text_prefix(o->data + start, len, max_width - 1);
    o->size = start + keep;
    OA_RETURN_NOT_OK(oa_bytes_append(o, "\xe2\x80\xa6", 3)); /* … */
  }
  return 0;
}

static int write_table(const oa_schema *s, const oa_batch *bs, int64_t n,
                       int64_t max_width, FILE *f, oa_error *err) {
  int64_t nc = s->n_fields, rows = 0;
  for (int64_t b = 0; b < n; b++)
    rows += bs[b].length;
  /* cells as offsets into one text buffer: [start, end) per cell */
  oa_bytes text;
  oa_bytes_init(&text);
  int64_t *ends = malloc((size_t)((rows + 1) * (nc ? nc : 1)) * sizeof *ends);
  int64_t *width = calloc((size_t)(nc ? nc : 1), sizeof *width);
  bool *right = calloc((size_t)(nc ? nc : 1), sizeof *right);
  int rc = 0;
  if (!ends || !width || !right) {
    rc = oa_error_set(err, ENOMEM, "out of memory");
    goto done;
  }
  int64_t k = 0;
  for (int64_t c = 0; c < nc && rc == 0; c++) {
    rc = oa_bytes_append(&text, s->fields[c].name,
                         (int64_t)strlen(s->fields[c].name));
    ends[k++] = text.size;
    right[c] = is_numeric(s->fields[c].type.id) && !s->fields[c].dict.encoded;
  }
  for (int64_t b = 0; b < n && rc == 0; b++)
    for (int64_t r = 0; r < bs[b].length && rc == 0; r++)
      for (int64_t c = 0; c < nc && rc == 0; c++) {
        rc = table_cell(&s->fields[c], &bs[b].columns[c], r, max_width, &text,
                        err);
        ends[k++] = text.size;
      }
  if (rc) goto done;
  for (int64_t j = 0; j < k; j++) {
    int64_t st = j ? ends[j - 1] : 0;
    int64_t w = text_width(text.data + st, ends[j] - st);
    if (w > width[j % nc]) width[j % nc] = w;
  }
  oa_bytes o;
  oa_bytes_init(&o);
  for (int64_t row = 0; row <= rows && rc == 0; row++) {
    for (int64_t c = 0; c < nc && rc == 0; c++) {
      int64_t j = row * nc + c;
      int64_t st = j ? ends[j - 1] : 0;
      int64_t len = ends[j] - st;
      int64_t pad = width[c] - text_width(text.data + st, len);
      if (c) rc = oa_bytes_append(&o, "  ", 2);
      bool r = right[c] && row > 0;
      for (int64_t p = 0; r && p < pad && rc == 0; p++)
        rc = oa_bytes_append(&o, " ", 1);
      if (rc == 0) rc = oa_bytes_append(&o, text.data + st, len);
      for (int64_t p = 0; !r && c + 1 < nc && p < pad && rc == 0; p++)
        rc = oa_bytes_append(&o, " ", 1);
    }
    if (rc == 0) rc = oa_bytes_append(&o, "\n", 1);
    if (row == 0) {
      for (int64_t c = 0; c < nc && rc == 0; c++) {
        if (c) rc = oa_bytes_append(&o, "  ", 2);
        for (int64_t p = 0; p < width[c] && rc == 0; p++)
          rc = oa_bytes_append(&o, "-", 1);
      }
      if (rc == 0) rc = oa_bytes_append(&o, "\n", 1);
    }
    if (rc == 0 && o.size > (1 << 20)) rc = flush_bytes(f, &o, err);
  }
  if (rc == 0)
    rc = putf(&o, "(%lld row%s)\n", (long long)rows, rows == 1 ? "" : "s");
  if (rc == 0)
    rc = flush_bytes(f, &o, err);
  else if (rc == ENOMEM)
    oa_error_set(err, ENOMEM, "out of memory");
  oa_bytes_reset(&o);
done:
  oa_bytes_reset(&text);
  free(ends);
  free(width);
  free(right);
  return rc;
}

static int write_arrow(oa_schema *s, const oa_batch *bs, int64_t n,
                       const char *path, oa_error *err) {
  oa_cli_output out;
  OA_RETURN_NOT_OK(oa_cli_output_open(&out, path ? path : "-",
                                      OA_CLI_OUT_STREAM, s, NULL, false, err));
  int rc = 0;
  for (int64_t b = 0; b < n && rc == 0; b++)
    rc = oa_cli_output_batch(&out, &bs[b], err);
  if (rc == 0) rc = oa_cli_output_finish(&out, err);
  oa_cli_output_close(&out);
  return rc;
}

/* ------------------------------------------------------ SQL errors */

/* Prints the error; when it names a position ("at LINE:COL"), also the
 * SQL line with a caret under that column. */
static int fail_sql(const char *sql, const char *msg) {
  fprintf(stderr, "otlparrow: error: %s\n", msg);
  const char *at = strstr(msg, "SQL error at ");
  int line = 0, col = 0;
  if (!at || sscanf(at + 13, "%d:%d", &line, &col) != 2 || line < 1 || col < 1)
    return 1;
  const char *p = sql;
  for (int l = 1; l < line && p; l++) {
    p = strchr(p, '\n');
    if (p) p++;
  }
  if (!p) return 1;
  size_t len = strcspn(p, "\n");
  fprintf(stderr, "  %.*s\n  ", (int)len, p);
  /* tabs stay tabs so that the caret lines up */
  for (int c = 1; c < col && (size_t)(c - 1) < len; c++)
    fputc(p[c - 1] == '\t' ? '\t' : ' ', stderr);
  fputs("^\n", stderr);
  return 1;
}

/* ------------------------------------------------------------- query */

typedef struct q_opts {
  q_source src;
  const char *sql;
  q_format format;
  const char *output;
  int64_t max_width;
  int64_t threads;
  int64_t repeat;    /* runs of the query (local sources); default 1 */
  int64_t first_ns;  /* engine time of the first run */
  int64_t median_ns; /* median engine time of all runs */
  int64_t max_memory, max_rows;
  bool timing;
} q_opts;

/* Parses the source options shared by query and trace; *used is the number
 * of argv entries consumed (0: not a source option). */
static int parse_source(q_source *s, int argc, char **argv, int i, int *used) {
  const char *a = argv[i];
  *used = 0;
  bool input = strcmp(a, "--input") == 0 || strcmp(a, "-i") == 0;
  if (!input && strcmp(a, "--data-dir") != 0 && strcmp(a, "--flight") != 0 &&
      strcmp(a, "--token") != 0)
    return 0;
  if (i + 1 >= argc) return oa_cli_fail("%s needs a value", a);
  *used = 2;
  const char *v = argv[i + 1];
  if (input) {
    const char **p = realloc(s->inputs, (size_t)(s->n_inputs + 1) * sizeof *p);
    if (!p) return oa_cli_fail("out of memory");
    s->inputs = p;
    s->inputs[s->n_inputs++] = v;
  } else if (strcmp(a, "--data-dir") == 0) {
    s->data_dir = v;
  } else if (strcmp(a, "--flight") == 0) {
    s->flight = v;
  } else {
    s->token = v;
  }
  return 0;
}

static int check_sources(const q_source *s) {
  int n = (s->n_inputs > 0) + (s->data_dir != NULL) + (s->flight != NULL);
  if (n > 1)
    return oa_cli_fail("give one source: --input, --data-dir or --flight");
  /* the default source is stdin: not a terminal nobody types spans into */
  if (n == 0 && isatty(0))
    return oa_cli_fail("no spans: give --input FILE, --data-dir DIR or "
                       "--flight HOST:PORT (or pipe them in)");
  return 0;
}

static int run_local(q_opts *q, oa_query_result *res, int64_t *load_ns,
                     oa_error *err) {
  int64_t t0 = now_ns();
  oa_query_options o;
  oa_query_options_init(&o);
  o.threads = (int)q->threads;
  o.max_memory = q->max_memory;
  o.memory_limit_hint = "--max-memory";
  if (q->max_rows > 0) o.max_result_rows = q->max_rows;
  if (q->src.data_dir) {
    OA_RETURN_NOT_OK(open_store(&q->src, err));
    o.resolve = resolve_store;
  } else {
    OA_RETURN_NOT_OK(load_inputs(&q->src, err));
    o.resolve = resolve_input;
  }
  o.resolve_ctx = &q->src;
  *load_ns = now_ns() - t0;
  /* --repeat: later runs take the pages the earlier ones freed, as a
   * database's warm query does */
  oa_query_cache *cache = NULL;
  if (q->repeat > 1) {
    int64_t cap = (int64_t)256 << 20;
    if (q->max_memory > 0 && q->max_memory < cap) cap = q->max_memory;
    OA_RETURN_NOT_OK(oa_query_cache_new(cap, &cache, err));
    o.cache = cache;
  }
  int rc = oa_query_run(q->sql, &o, res, err);
  if (rc) {
    oa_query_cache_free(cache);
    return rc;
  }
  /* --repeat: the same query on the same loaded tables, as a database
   * measures a warm query; the last result is the one printed */
  int64_t n = q->repeat > 1 ? q->repeat : 1;
  int64_t *ns = malloc((size_t)n * sizeof *ns);
  if (!ns) {
    oa_query_cache_free(cache);
    return oa_error_set(err, ENOMEM, "out of memory");
  }
  ns[0] = q->first_ns = res->stats.elapsed_ns;
  for (int64_t k = 1; k < n && !rc; k++) {
    oa_query_result_reset(res);
    rc = oa_query_run(q->sql, &o, res, err);
    ns[k] = res->stats.elapsed_ns;
  }
  if (!rc) {
    for (int64_t a = 1; a < n; a++) /* insertion sort: n is small */
      for (int64_t b = a; b > 0 && ns[b - 1] > ns[b]; b--) {
        int64_t t = ns[b];
        ns[b] = ns[b - 1];
        ns[b - 1] = t;
      }
    q->median_ns = ns[n / 2];
  }
  free(ns);
  oa_query_cache_free(cache);
  return rc;
}

/* Runs the SQL on the server: the DoGet ticket is the statement. The
 * result is freed with oa_flight_batches_free. */
static int run_flight(q_opts *q, oa_schema **schema, oa_batch **batches,
                      int64_t *n, oa_error *err) {
  oa_flight_client *c = NULL;
  OA_RETURN_NOT_OK(open_flight(&c, &q->src, err));
  int rc = oa_flight_client_do_get_all(c, q->sql, (int64_t)strlen(q->sql),
                                       schema, batches, n, err);
  oa_flight_client_free(c);
  if (rc == 0 && !*schema)
    rc = oa_error_set(err, EIO, "the server sent no schema");
  return rc;
}

int oa_cli_query(int argc, char **argv) {
  q_opts q;
  memset(&q, 0, sizeof q);
  q.max_width = 40;
  q.max_memory = (int64_t)1 << 30;
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int used = 0;
    if (oa_cli_is_help(a)) {
      fputs(kQueryHelp, stdout);
      source_reset(&q.src);
      return 0;
    }
    if ((rc = parse_source(&q.src, argc, argv, i, &used)) != 0) goto out;
    if (used) {
      i += used - 1;
      continue;
    }
    if (strcmp(a, "--format") == 0 || strcmp(a, "-f") == 0) {
      const char *v = i + 1 < argc ? argv[++i] : "";
      if (strcmp(v, "table") == 0)
        q.format = Q_TABLE;
      else if (strcmp(v, "csv") == 0)
        q.format = Q_CSV;
      else if (strcmp(v, "json") == 0 || strcmp(v, "jsonl") == 0)
        q.format = Q_JSON;
      else if (strcmp(v, "arrow") == 0 || strcmp(v, "arrows") == 0)
        q.format = Q_ARROW;
      else {
        rc = oa_cli_fail("--format needs table, csv, json or arrow");
        goto out;
      }
    } else if (strcmp(a, "--output") == 0 || strcmp(a, "-o") == 0) {
      if (i + 1 >= argc) {
        rc = oa_cli_fail("%s needs a file name", a);
        goto out;
      }
      q.output = argv[++i];
    } else if (strcmp(a, "--max-width") == 0 || strcmp(a, "--threads") == 0) {
      int64_t v = 0;
      if (i + 1 >= argc || !oa_cli_parse_i64(argv[i + 1], &v)) {
        rc = oa_cli_fail("%s needs a non-negative integer", a);
        goto out;
      }
      i++;
      if (a[2] == 'm')
        q.max_width = v;
      else
        q.threads = v > 1024 ? 1024 : v;
    } else if (strcmp(a, "--max-memory") == 0 || strcmp(a, "--max-rows") == 0) {
      int64_t v = 0;
      if (i + 1 >= argc || !oa_cli_parse_size(argv[i + 1], &v)) {
        rc = oa_cli_fail("%s needs a number (K/M/G suffixes; %s)", a,
                         a[6] == 'm' ? "0: no limit" : "at least 1");
        goto out;
      }
      if (a[6] == 'r' && v < 1) {
        rc = oa_cli_fail("--max-rows needs at least 1");
        goto out;
      }
      i++;
      if (a[6] == 'm')
        q.max_memory = v;
      else
        q.max_rows = v;
    } else if (strcmp(a, "--timing") == 0) {
      q.timing = true;
    } else if (strcmp(a, "--repeat") == 0) {
      int64_t v = 0;
      if (i + 1 >= argc || !oa_cli_parse_i64(argv[i + 1], &v) || v < 1 ||
          v > 1000) {
        rc = oa_cli_fail("--repeat needs a number of runs from 1 to 1000");
        goto out;
      }
      q.repeat = v;
      i++;
    } else if (a[0] == '-' && a[1] != 0) {
      rc = oa_cli_fail("unknown option '%s' (see otlparrow query --help)", a);
      goto out;
    } else if (q.sql) {
      rc = oa_cli_fail("one SQL statement, please (quote it): '%s'", a);
      goto out;
    } else {
      q.sql = a;
    }
  }
  if (!q.sql) {
    fputs(kQueryHelp, stderr);
    source_reset(&q.src);
    return 2;
  }
  if ((rc = check_sources(&q.src)) != 0) goto out;
  if (q.repeat > 1 && q.src.flight) {
    rc = oa_cli_fail("--repeat runs the query locally: not with --flight");
    goto out;
  }
  if (q.format == Q_ARROW && !q.output && isatty(1)) {
    rc = oa_cli_fail("--format arrow writes binary: give --output FILE or "
                     "pipe it");
    goto out;
  }
  oa_error err = {{0}};
  oa_query_result res;
  oa_query_result_init(&res);
  int64_t t0 = now_ns(), load = 0;
  /* the result: the engine's, or the batches the server sent */
  oa_schema *rs = NULL;
  oa_batch *rb = NULL;
  int64_t rn = 0, rows = 0;
  int st;
  if (q.src.flight) {
    st = run_flight(&q, &rs, &rb, &rn, &err);
  } else {
    st = run_local(&q, &res, &load, &err);
    rs = res.schema;
    rb = res.batches;
    rn = res.n_batches;
  }
  for (int64_t i = 0; st == 0 && i < rn; i++)
    rows += rb[i].length;
  int64_t t1 = now_ns();
  if (st) {
    rc = fail_sql(q.sql, err.message);
    goto done;
  }
  if (q.format == Q_ARROW) {
    st = write_arrow(rs, rb, rn, q.output, &err);
  } else {
    FILE *f = q.output ? fopen(q.output, "wb") : stdout;
    if (!f) {
      rc = oa_cli_fail("%s: %s", q.output, strerror(errno));
      goto done;
    }
    if (q.format == Q_CSV)
      st = write_csv(rs, rb, rn, f, &err);
    else if (q.format == Q_JSON)
      st = write_json(rs, rb, rn, f, &err);
    else
      st = write_table(rs, rb, rn, q.max_width, f, &err);
    if (fflush(f) != 0 && st == 0)
      st = oa_error_set(&err, EIO, "write failed: %s", strerror(errno));
    if (q.output && fclose(f) != 0 && st == 0)
      st = oa_error_set(&err, EIO, "%s: %s", q.output, strerror(errno));
  }
  int64_t t2 = now_ns();
  if (st) {
    rc = oa_cli_fail("%s", err.message);
  } else if (q.timing) {
    if (q.src.flight)
      fprintf(stderr, "rows %lld, flight query %.3f ms, output %.3f ms\n",
              (long long)rows, (t1 - t0) / 1e6, (t2 - t1) / 1e6);
    else
      fprintf(stderr,
              "rows %lld, load %.3f ms, engine %.3f ms (median of %lld runs, "
              "first %.3f ms; scanned %lld rows in %lld batches%s%s; query "
              "memory %.1f MiB), output %.3f ms\n",
              (long long)rows, load / 1e6, q.median_ns / 1e6,
              (long long)(q.repeat > 1 ? q.repeat : 1), q.first_ns / 1e6,
              (long long)res.stats.rows_scanned,
              (long long)res.stats.batches_scanned,
              res.stats.filter_kernel && *res.stats.filter_kernel
                  ? ", trace-id filter "
                  : "",
              res.stats.filter_kernel ? res.stats.filter_kernel : "",
              (double)res.stats.peak_memory / (1 << 20), (t2 - t1) / 1e6);
  }
done:
  if (q.src.flight) oa_flight_batches_free(rs, rb, rn);
  oa_query_result_reset(&res);
out:
  source_reset(&q.src);
  return rc;
}

/* ------------------------------------------------------------- trace */

typedef struct t_span {
  uint8_t span_id[8], parent[8];
  bool has_parent;
  char *name, *service, *status_message;
  int64_t start, duration;
  int32_t status;
  int64_t first_child, next_sibling; /* -1: none */
  bool placed;
} t_span;

typedef struct t_trace {
  uint8_t id[16];
  t_span *spans;
  int64_t n, cap;
} t_trace;

static void trace_reset(t_trace *t) {
  for (int64_t i = 0; i < t->n; i++) {
    free(t->spans[i].name);
    free(t->spans[i].service);
    free(t->spans[i].status_message);
  }
  free(t->spans);
  t->spans = NULL;
  t->n = t->cap = 0;
}

static int parse_trace_id(const char *s, uint8_t out[16]) {
  if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0) s += 2;
  if (strlen(s) != 32) return EINVAL;
  for (int i = 0; i < 32; i++) {
    char c = s[i];
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (v < 0) return EINVAL;
    if (i % 2 == 0)
      out[i / 2] = (uint8_t)(v << 4);
    else
      out[i / 2] |= (uint8_t)v;
  }
  return 0;
}

static char *str_of(const oa_schema *s, const oa_batch *b, int64_t col,
                    int64_t row) {
  if (col < 0 || oa_array_is_null(&s->fields[col], &b->columns[col], row))
    return NULL;
  oa_field f;
  const oa_array *a;
  int64_t i;
  undict(&s->fields[col], &b->columns[col], row, &f, &a, &i);
  if (!is_string(f.type.id)) return NULL;
  int64_t len = 0;
  const uint8_t *d = oa_array_get_bytes(&f, a, i, &len);
  char *out = malloc((size_t)len + 1);
  if (!out) return NULL;
  memcpy(out, d, (size_t)len);
  out[len] = 0;
  return out;
}

/* Columns of the span schema the tree needs, by name (a SQL result or an
 * older file may order them differently). */
typedef struct t_cols {
  int64_t trace_id, span_id, parent, name, service, start, end, duration,
      status, status_message;
} t_cols;

static int find_cols(const oa_schema *s, t_cols *c, oa_error *err) {
  c->trace_id = oa_schema_find(s, "trace_id");
  c->span_id = oa_schema_find(s, "span_id");
  c->parent = oa_schema_find(s, "parent_span_id");
  c->name = oa_schema_find(s, "name");
  c->service = oa_schema_find(s, "service_name");
  c->start = oa_schema_find(s, "start_time");
  c->end = oa_schema_find(s, "end_time");
  c->duration = oa_schema_find(s, "duration");
  c->status = oa_schema_find(s, "status_code");
  c->status_message = oa_schema_find(s, "status_message");
  if (c->trace_id < 0 || c->span_id < 0 || c->start < 0)
    return oa_error_set(err, EINVAL,
                        "not span data: trace_id, span_id and start_time "
                        "columns are needed");
  const oa_field *t = &s->fields[c->trace_id], *sp = &s->fields[c->span_id];
  if (t->type.id != OA_TYPE_FIXED_SIZE_BINARY || t->type.byte_width != 16 ||
      t->dict.encoded || sp->type.id != OA_TYPE_FIXED_SIZE_BINARY ||
      sp->type.byte_width != 8 || sp->dict.encoded)
    return oa_error_set(err, EINVAL,
                        "not span data: trace_id must be fixed_size_binary(16) "
                        "and span_id fixed_size_binary(8)");
  return 0;
}

/* Adds the rows of b whose trace id is t->id. */
static int trace_scan(t_trace *t, const oa_batch *b, oa_error *err) {
  const oa_schema *s = b->schema;
  t_cols c;
  OA_RETURN_NOT_OK(find_cols(s, &c, err));
  for (int64_t r = 0; r < b->length; r++) {
    int64_t len = 0;
    const uint8_t *id = oa_array_get_bytes(&s->fields[c.trace_id],
                                           &b->columns[c.trace_id], r, &len);
    if (len != 16 || memcmp(id, t->id, 16) != 0) continue;
    if (t->n == t->cap) {
      int64_t cap = t->cap ? t->cap * 2 : 64;
      t_span *ns = realloc(t->spans, (size_t)cap * sizeof *ns);
      if (!ns) return oa_error_set(err, ENOMEM, "out of memory");
      t->spans = ns;
      t->cap = cap;
    }
    t_span *sp = &t->spans[t->n++];
    memset(sp, 0, sizeof *sp);
    const uint8_t *d = oa_array_get_bytes(&s->fields[c.span_id],
                                          &b->columns[c.span_id], r, &len);
    memcpy(sp->span_id, d, len == 8 ? 8 : 0);
    if (c.parent >= 0 &&
        !oa_array_is_null(&s->fields[c.parent], &b->columns[c.parent], r)) {
      d = oa_array_get_bytes(&s->fields[c.parent], &b->columns[c.parent], r,
                             &len);
      if (len == 8) {
        memcpy(sp->parent, d, 8);
        static const uint8_t zero[8];
        sp->has_parent = memcmp(d, zero, 8) != 0;
      }
    }
    sp->name = str_of(s, b, c.name, r);
    sp->service = str_of(s, b, c.service, r);
    sp->status_message = str_of(s, b, c.status_message, r);
    sp->start = oa_array_get_int(&s->fields[c.start], &b->columns[c.start], r);
    if (c.duration >= 0)
      sp->duration =
          oa_array_get_int(&s->fields[c.duration], &b->columns[c.duration], r);
    else if (c.end >= 0)
      sp->duration =
          oa_array_get_int(&s->fields[c.end], &b->columns[c.end], r) -
          sp->start;
    if (c.status >= 0)
      sp->status = (int32_t)oa_array_get_int(&s->fields[c.status],
                                             &b->columns[c.status], r);
  }
  return 0;
}

static int by_start(const void *pa, const void *pb) {
  const t_span *a = pa, *b = pb;
  if (a->start != b->start) return a->start < b->start ? -1 : 1;
  return memcmp(a->span_id, b->span_id, 8);
}

static void put_duration(FILE *f, int64_t ns) {
  double v = (double)ns;
  if (ns < 0) v = -v;
  const char *sign = ns < 0 ? "-" : "";
  if (v >= 1e9)
    fprintf(f, "%s%.3f s", sign, v / 1e9);
  else if (v >= 1e6)
    fprintf(f, "%s%.3f ms", sign, v / 1e6);
  else if (v >= 1e3)
    fprintf(f, "%s%.3f us", sign, v / 1e3);
  else
    fprintf(f, "%s%lld ns", sign, (long long)(ns < 0 ? -ns : ns));
}

static void print_span(FILE *f, const t_span *s, int64_t t0) {
  fprintf(f, "%s", s->name ? s->name : "(no name)");
  if (s->service) fprintf(f, " [%s]", s->service);
  fputs("  ", f);
  put_duration(f, s->duration);
  fputs(" @+", f);
  put_duration(f, s->start - t0);
  if (s->status == 1) fputs("  OK", f);
  if (s->status == 2)
    fprintf(f, "  ERROR%s%s",
            s->status_message && *s->status_message ? ": " : "",
            s->status_message ? s->status_message : "");
  fprintf(f, "  span ");
  for (int i = 0; i < 8; i++)
    fprintf(f, "%02x", s->span_id[i]);
  fputc('\n', f);
}

/* Depth-first, iterative (a deep parent chain cannot overflow the stack;
 * every span is printed once, even in a cycle). */
static int print_tree(FILE *f, t_trace *t, int64_t root, int64_t t0) {
  typedef struct frame {
    int64_t span;
    int64_t depth;
    bool last; /* its parent's last child */
  } frame;
  frame *stack = malloc((size_t)(t->n + 1) * sizeof *stack);
  bool *last = calloc((size_t)(t->n + 2), sizeof *last);
  if (!stack || !last) {
    free(stack);
    free(last);
    return ENOMEM;
  }
  int64_t sp = 0;
  stack[sp++] = (frame){root, 0, true};
  t->spans[root].placed = true;
  while (sp > 0) {
    frame fr = stack[--sp];
    last[fr.depth] = fr.last;
    for (int64_t d = 1; d < fr.depth; d++)
      fputs(last[d] ? "   " : "\xe2\x94\x82  ", f); /* │ */
    if (fr.depth > 0)
      fputs(fr.last ? "\xe2\x94\x94\xe2\x94\x80 "  /* └─ */
                    : "\xe2\x94\x9c\xe2\x94\x80 ", /* ├─ */
            f);
    print_span(f, &t->spans[fr.span], t0);
    int64_t first = sp;
    for (int64_t k = t->spans[fr.span].first_child; k >= 0;
         k = t->spans[k].next_sibling) {
      if (t->spans[k].placed) continue;
      t->spans[k].placed = true;
      stack[sp++] = (frame){k, fr.depth + 1, false};
    }
    /* reversed, so that the earliest child is popped first */
    for (int64_t a = first, b = sp - 1; a < b; a++, b--) {
      frame tmp = stack[a];
      stack[a] = stack[b];
      stack[b] = tmp;
    }
    if (sp > first) stack[first].last = true;
  }
  free(stack);
  free(last);
  return 0;
}

static int by_id_index(const void *pa, const void *pb, void *ctx) {
  const t_span *s = ctx;
  return memcmp(s[*(const int64_t *)pa].span_id,
                s[*(const int64_t *)pb].span_id, 8);
}

static int64_t find_span(const t_trace *t, const int64_t *idx,
                         const uint8_t id[8]) {
  int64_t lo = 0, hi = t->n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    int c = memcmp(t->spans[idx[mid]].span_id, id, 8);
    if (c == 0) return idx[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* Links children to parents (in start order) and prints every root: spans
 * without a parent, or whose parent is not in the data. */
static int print_trace(FILE *f, t_trace *t) {
  qsort(t->spans, (size_t)t->n, sizeof *t->spans, by_start);
  int64_t *idx = malloc((size_t)t->n * sizeof *idx);
  int64_t *tail = malloc((size_t)t->n * sizeof *tail);
  int64_t *parent = malloc((size_t)t->n * sizeof *parent);
  if (!idx || !tail || !parent) {
    free(idx);
    free(tail);
    free(parent);
    return ENOMEM;
  }
  for (int64_t i = 0; i < t->n; i++) {
    idx[i] = i;
    tail[i] = -1;
    t->spans[i].first_child = t->spans[i].next_sibling = -1;
    t->spans[i].placed = false;
  }
  qsort_r(idx, (size_t)t->n, sizeof *idx, by_id_index, t->spans);
  int64_t t0 = t->n ? t->spans[0].start : 0, t_end = t0;
  char services[8][64];
  int n_services = 0;
  for (int64_t i = 0; i < t->n; i++) {
    t_span *s = &t->spans[i];
    parent[i] = s->has_parent ? find_span(t, idx, s->parent) : -1;
    if (parent[i] == i) parent[i] = -1;
    if (parent[i] >= 0) {
      int64_t p = parent[i];
      if (tail[p] < 0)
        t->spans[p].first_child = i;
      else
        t->spans[tail[p]].next_sibling = i;
      tail[p] = i;
    }
    if (s->start + s->duration > t_end) t_end = s->start + s->duration;
    bool seen = false;
    for (int k = 0; k < n_services && s->service; k++)
      seen = seen || strncmp(services[k], s->service, 63) == 0;
    if (s->service && !seen && n_services < 8)
      snprintf(services[n_services++], sizeof services[0], "%s", s->service);
  }
  fprintf(f, "trace ");
  for (int i = 0; i < 16; i++)
    fprintf(f, "%02x", t->id[i]);
  fprintf(f, ": %lld span%s, %d%s service%s, ", (long long)t->n,
          t->n == 1 ? "" : "s", n_services, n_services == 8 ? "+" : "",
          n_services == 1 ? "" : "s");
  put_duration(f, t_end - t0);
  fputc('\n', f);
  int rc = 0;
  for (int64_t i = 0; i < t->n && rc == 0; i++)
    if (parent[i] < 0) rc = print_tree(f, t, i, t0);
  /* spans in a parent cycle have no root: print them too */
  for (int64_t i = 0; i < t->n && rc == 0; i++)
    if (!t->spans[i].placed) rc = print_tree(f, t, i, t0);
  free(idx);
  free(tail);
  free(parent);
  return rc;
}

static int trace_flight(t_trace *t, const q_source *src, oa_error *err) {
  oa_flight_client *c = NULL;
  OA_RETURN_NOT_OK(open_flight(&c, src, err));
  char sql[256];
  int n = snprintf(sql, sizeof sql,
                   "SELECT trace_id, span_id, parent_span_id, name, "
                   "service_name, start_time, duration, status_code, "
                   "status_message FROM spans WHERE trace_id = X'");
  for (int i = 0; i < 16 && n + 3 < (int)sizeof sql; i++)
    n += snprintf(sql + n, sizeof sql - (size_t)n, "%02x", t->id[i]);
  snprintf(sql + n, sizeof sql - (size_t)n, "'");
  oa_schema *schema = NULL;
  oa_batch *bs = NULL;
  int64_t nb = 0;
  int rc = oa_flight_client_do_get_all(c, sql, (int64_t)strlen(sql), &schema,
                                       &bs, &nb, err);
  if (rc == EINVAL || rc == ENOTSUP) {
    /* a server without SQL: fetch the dataset and filter here */
    rc = oa_flight_client_do_get_all(c, "spans", 5, &schema, &bs, &nb, err);
  }
  for (int64_t i = 0; i < nb && rc == 0; i++)
    rc = trace_scan(t, &bs[i], err);
  oa_flight_batches_free(schema, bs, nb);
  oa_flight_client_free(c);
  return rc;
}

static int trace_store(t_trace *t, q_source *src, oa_error *err) {
  OA_RETURN_NOT_OK(open_store(src, err));
  oa_schema *schema = NULL;
  oa_batch *bs = NULL;
  int64_t nb = 0;
  int rc =
      oa_datasets_snapshot_filtered(src->store, "spans", t->id, 1, INT64_MIN,
                                    INT64_MAX, &schema, &bs, &nb, err);
  if (rc == ENOENT) {
    rc = 0;
    nb = 0;
  }
  for (int64_t i = 0; i < nb && rc == 0; i++)
    rc = trace_scan(t, &bs[i], err);
  if (schema || bs) oa_datasets_snapshot_free(schema, bs, nb);
  return rc;
}

int oa_cli_trace(int argc, char **argv) {
  q_source src;
  memset(&src, 0, sizeof src);
  const char *id = NULL;
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int used = 0;
    if (oa_cli_is_help(a)) {
      fputs(kTraceHelp, stdout);
      source_reset(&src);
      return 0;
    }
    if ((rc = parse_source(&src, argc, argv, i, &used)) != 0) goto out;
    if (used) {
      i += used - 1;
    } else if (a[0] == '-' && a[1] != 0) {
      rc = oa_cli_fail("unknown option '%s' (see otlparrow trace --help)", a);
      goto out;
    } else if (id) {
      rc = oa_cli_fail("one trace id, please: '%s'", a);
      goto out;
    } else {
      id = a;
    }
  }
  if (!id) {
    fputs(kTraceHelp, stderr);
    source_reset(&src);
    return 2;
  }
  if ((rc = check_sources(&src)) != 0) goto out;
  t_trace t;
  memset(&t, 0, sizeof t);
  if (parse_trace_id(id, t.id) != 0) {
    rc = oa_cli_fail("trace id '%s': 32 hex digits expected", id);
    goto out;
  }
  oa_error err = {{0}};
  int st = 0;
  if (src.flight) {
    st = trace_flight(&t, &src, &err);
  } else if (src.data_dir) {
    st = trace_store(&t, &src, &err);
  } else {
    st = load_inputs(&src, &err);
    for (int64_t i = 0; i < src.n_batches && st == 0; i++)
      st = trace_scan(&t, &src.batches[i], &err);
  }
  if (st) {
    rc = oa_cli_fail("%s", err.message);
  } else if (t.n == 0) {
    rc = oa_cli_fail("trace %s not found", id);
  } else if (print_trace(stdout, &t) != 0) {
    rc = oa_cli_fail("out of memory");
  } else if (fflush(stdout) != 0) {
    rc = oa_cli_fail("write failed: %s", strerror(errno));
  }
  trace_reset(&t);
out:
  source_reset(&src);
  return rc;
}

/* ------------------------------------------------ SQL for the server */

static int resolve_datasets(void *ctx, const char *name,
                            const oa_query_scan_hint *hint, oa_query_table *out,
                            oa_error *err) {
  oa_datasets *d = ctx;
  oa_schema *schema = NULL;
  oa_batch *batches = NULL;
  int64_t n = 0;
  int rc = hint ? oa_datasets_snapshot_filtered(
                      d, name, hint->trace_ids, hint->n_trace_ids,
                      hint->min_start_time, hint->max_start_time, &schema,
                      &batches, &n, err)
                : oa_datasets_snapshot(d, name, &schema, &batches, &n, err);
  if (rc == ENOENT) return oa_error_set(err, ENOENT, "no table '%s'", name);
  if (rc) return rc;
  out->schema = schema;
  out->batches = batches;
  out->n_batches = n;
  out->release = release_snapshot;
  out->private_data = NULL;
  return 0;
}

int64_t oa_cli_query_memory_default(int64_t max_query_memory,
                                    int64_t max_memory) {
  if (max_query_memory >= 0) return max_query_memory;
  return max_memory > 0 ? max_memory / 4 : (int64_t)1 << 30;
}

int oa_cli_query_cache_new(oa_cli_query_ctx *qc, oa_error *err) {
  int64_t cap = (int64_t)256 << 20;
  if (qc->max_memory > 0 && qc->max_memory < cap) cap = qc->max_memory;
  return oa_query_cache_new(cap, &qc->cache, err);
}

void oa_cli_query_cache_free(oa_cli_query_ctx *qc) {
  oa_query_cache_free(qc->cache);
  qc->cache = NULL;
}

int oa_cli_flight_query(void *ctx, const char *sql, oa_schema **schema,
                        oa_batch **batches, int64_t *n, oa_error *err) {
  const oa_cli_query_ctx *qc = ctx;
  oa_query_options o;
  oa_query_options_init(&o);
  o.cache = qc->cache; /* warm queries reuse the last ones' pages */
  o.resolve = resolve_datasets;
  o.resolve_ctx = qc->datasets;
  o.max_memory = qc->max_memory;
  o.memory_limit_hint = qc->hint ? qc->hint : "--max-query-memory";
  oa_query_result res;
  oa_query_result_init(&res);
  int rc = oa_query_run(sql, &o, &res, err);
  if (rc == 0) {
    /* our own array, so that oa_datasets_snapshot_free releases it */
    *batches =
        malloc((size_t)(res.n_batches ? res.n_batches : 1) * sizeof **batches);
    if (!*batches) {
      rc = oa_error_set(err, ENOMEM, "out of memory");
    } else {
      for (int64_t i = 0; i < res.n_batches; i++) {
        oa_batch_init(&(*batches)[i]);
        oa_batch_move(&(*batches)[i], &res.batches[i]);
      }
      *n = res.n_batches;
      *schema = res.schema;
      oa_schema_retain(*schema);
    }
  }
  oa_query_result_reset(&res);
  return rc;
}
