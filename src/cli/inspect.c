/* otlparrow inspect: the schema and batches of an Arrow IPC stream or file,
 * as a table for people or as one JSON document for tools. */
#include <stdarg.h>
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
    "A persistent queue file of otlparrow forward or the exporter\n"
    "(DATA_DIR/queue/*.oaq) is checked (checksums) and its batch shown,\n"
    "with its batch id and span count.\n"
    "\n"
    "OTLP traces (protobuf or JSON, one or several requests; see\n"
    "otlparrow gen --help) are decoded into span batches, one per request.\n"
    "Span batches are shown span by span: hex ids, ISO-8601 start times,\n"
    "durations in ms, attributes as key=value (arrays as [..], key-value\n"
    "lists as {..}), events and links, and each resource and scope once.\n"
    "\n"
    "options:\n"
    "  --json         one JSON document: {format, schema, batches[{length, "
    "columns}]}\n"
    "  --batches N    print at most N batches (default: all)\n"
    "  --rows N       print at most N rows per batch (default: 20 for tables,\n"
    "                 all for --json)\n"
    "  --max-width N  truncate table cells to N characters (default 32; span\n"
    "                 values are cut at 4N)\n"
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
  int n = snprintf(head, sizeof head, "{\"length\":%lld,\"columns\":[",
                   (long long)b->length);
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
  fprintf(f, "schema: %lld field%s\n", (long long)s->n_fields,
          s->n_fields == 1 ? "" : "s");
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
    fprintf(f, "  metadata %s = %s\n", s->metadata.items[k].key,
            s->metadata.items[k].value);
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

static int print_batch_text(const oa_batch *b, int64_t index,
                            const inspect_opts *o, FILE *f, oa_error *err) {
  int64_t rows = b->length < o->max_rows ? b->length : o->max_rows;
  int64_t ncol = b->n_columns;
  fprintf(f, "\nbatch %lld: %lld row%s\n", (long long)index,
          (long long)b->length, b->length == 1 ? "" : "s");
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
    oa_bytes_append(&text, b->schema->fields[c].name,
                    (int64_t)strlen(b->schema->fields[c].name));
  }
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < ncol; c++) {
      start[(r + 1) * ncol + c] = text.size;
      OA_GOTO_NOT_OK(rc,
                     oa_format_value(&b->schema->fields[c], &b->columns[c], r,
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
      for (int64_t k = 0; k < len; k++)
        fputc(s[k] == '\n' || s[k] == '\r' ? ' ' : s[k], f);
      if (cut) fputs("…", f);
      if (c + 1 < ncol) fprintf(f, "%*s", (int)(width[c] - w + 2), "");
    }
    fputc('\n', f);
    if (r == 0) {
      for (int64_t c = 0; c < ncol; c++) {
        for (int64_t k = 0; k < width[c]; k++)
          fputc('-', f);
        if (c + 1 < ncol) fputs("  ", f);
      }
      fputc('\n', f);
    }
  }
  if (rows < b->length)
    fprintf(f, "... %lld more row%s (use --rows)\n",
            (long long)(b->length - rows), b->length - rows == 1 ? "" : "s");
done:
  free(start);
  free(width);
  oa_bytes_reset(&text);
  return rc;
}

/* ------------------------------------------------------------ span view */

#include <time.h>

#include "otlp/otlp_internal.h"

static void put_str(oa_bytes *o, const char *s) {
  oa_bytes_append(o, s, (int64_t)strlen(s));
}

static void putf(oa_bytes *o, const char *fmt, ...) OA_PRINTF(2, 3);
static void putf(oa_bytes *o, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0)
    oa_bytes_append(o, buf, n < (int)sizeof buf ? n : (int)sizeof buf - 1);
}

static void put_hex(oa_bytes *o, const uint8_t *d, int64_t n) {
  static const char kHex[] = "0123456789abcdef";
  for (int64_t i = 0; i < n; i++) {
    char c[2] = {kHex[d[i] >> 4], kHex[d[i] & 15]};
    oa_bytes_append(o, c, 2);
  }
}

/* ISO-8601 UTC with nanoseconds. */
static void put_time(oa_bytes *o, int64_t ns) {
  int64_t sec = ns / 1000000000, frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    sec--;
  }
  time_t t = (time_t)sec;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) {
    putf(o, "%lld", (long long)ns);
    return;
  }
  putf(o, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
       (long long)frac);
}

static void put_ms(oa_bytes *o, int64_t ns) {
  putf(o, "%s%lld.%06lld ms", ns < 0 ? "-" : "",
       (long long)(ns < 0 ? -ns : ns) / 1000000,
       (long long)(ns < 0 ? -ns : ns) % 1000000);
}

/* A string value: bare when it is a plain token, else quoted with escapes;
 * cut after limit characters. */
static void put_text(oa_bytes *o, const uint8_t *s, int64_t n, int64_t limit) {
  bool bare = n > 0;
  for (int64_t i = 0; i < n && bare; i++)
    bare = s[i] > 0x20 && s[i] != '"' && s[i] != '=' && s[i] != ',' &&
           s[i] != '\\' && s[i] != '{' && s[i] != '}' && s[i] != '[' &&
           s[i] != ']';
  if (!bare) oa_bytes_append(o, "\"", 1);
  int64_t shown = 0;
  for (int64_t i = 0; i < n; i++) {
    if (shown >= limit) {
      put_str(o, "…");
      break;
    }
    uint8_t c = s[i];
    if ((c & 0xC0) != 0x80) shown++;
    if (c == '\n')
      put_str(o, "\\n");
    else if (c == '\t')
      put_str(o, "\\t");
    else if (c == '\r')
      put_str(o, "\\r");
    else if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      oa_bytes_append(o, e, 2);
    } else if (c < 0x20)
      putf(o, "\\x%02x", c);
    else
      oa_bytes_append(o, &s[i], 1);
  }
  if (!bare) oa_bytes_append(o, "\"", 1);
}

static void put_bytes_value(oa_bytes *o, const uint8_t *d, int64_t n) {
  put_str(o, "0x");
  put_hex(o, d, n < 32 ? n : 32);
  if (n > 32) putf(o, "…(%lld bytes)", (long long)n);
}

static void put_double(oa_bytes *o, double v) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.15g", v);
  if (!strpbrk(buf, ".eEn")) strcat(buf, ".0"); /* show it is a double */
  put_str(o, buf);
}

/* One AnyValue message (the stored bytes of an array or kvlist value). */
static bool put_anyvalue_pb(oa_bytes *o, const uint8_t *p, const uint8_t *end,
                            int depth, int64_t limit);

static bool pb_len(const uint8_t **p, const uint8_t *end, const uint8_t **d,
                   int64_t *n) {
  uint64_t len;
  if (!oa_pb_varint(p, end, &len) || len > (uint64_t)(end - *p)) return false;
  *d = *p;
  *n = (int64_t)len;
  *p += len;
  return true;
}

/* Skips a field of wire type wt. */
static bool pb_skip(const uint8_t **p, const uint8_t *end, int wt) {
  uint64_t v;
  const uint8_t *d;
  int64_t n;
  switch (wt) {
  case OA_PB_VARINT:
    return oa_pb_varint(p, end, &v);
  case OA_PB_I64:
    if (end - *p < 8) return false;
    *p += 8;
    return true;
  case OA_PB_I32:
    if (end - *p < 4) return false;
    *p += 4;
    return true;
  case OA_PB_LEN:
    return pb_len(p, end, &d, &n);
  default:
    return false;
  }
}

static bool put_anyvalue_pb(oa_bytes *o, const uint8_t *p, const uint8_t *end,
                            int depth, int64_t limit) {
  if (depth > 16) {
    put_str(o, "…");
    return true;
  }
  bool any = false;
  while (p < end) {
    uint64_t tag, v;
    if (!oa_pb_varint(&p, end, &tag)) return false;
    int wt = (int)(tag & 7);
    uint64_t field = tag >> 3;
    const uint8_t *d;
    int64_t n;
    if (any) continue; /* the first member is enough to show */
    if (field == 1 && wt == OA_PB_LEN) {
      if (!pb_len(&p, end, &d, &n)) return false;
      put_text(o, d, n, limit);
    } else if (field == 2 && wt == OA_PB_VARINT) {
      if (!oa_pb_varint(&p, end, &v)) return false;
      put_str(o, v ? "true" : "false");
    } else if (field == 3 && wt == OA_PB_VARINT) {
      if (!oa_pb_varint(&p, end, &v)) return false;
      putf(o, "%lld", (long long)v);
    } else if (field == 4 && wt == OA_PB_I64) {
      if (end - p < 8) return false;
      double x;
      memcpy(&x, p, 8);
      p += 8;
      put_double(o, x);
    } else if ((field == 5 || field == 6) && wt == OA_PB_LEN) {
      if (!pb_len(&p, end, &d, &n)) return false;
      const uint8_t *q = d, *qe = d + n;
      put_str(o, field == 5 ? "[" : "{");
      bool first = true;
      while (q < qe) {
        uint64_t t2;
        if (!oa_pb_varint(&q, qe, &t2)) return false;
        if ((t2 >> 3) != 1 || (t2 & 7) != OA_PB_LEN) {
          if (!pb_skip(&q, qe, (int)(t2 & 7))) return false;
          continue;
        }
        const uint8_t *e;
        int64_t m;
        if (!pb_len(&q, qe, &e, &m)) return false;
        if (!first) put_str(o, ", ");
        first = false;
        if (field == 5) {
          if (!put_anyvalue_pb(o, e, e + m, depth + 1, limit)) return false;
          continue;
        }
        /* KeyValue: key = 1, value = 2 */
        const uint8_t *r = e, *re = e + m, *key = NULL, *val = NULL;
        int64_t kn = 0, vn = 0;
        while (r < re) {
          uint64_t t3;
          if (!oa_pb_varint(&r, re, &t3)) return false;
          if ((t3 & 7) == OA_PB_LEN && ((t3 >> 3) == 1 || (t3 >> 3) == 2)) {
            const uint8_t *x;
            int64_t xn;
            if (!pb_len(&r, re, &x, &xn)) return false;
            if ((t3 >> 3) == 1)
              key = x, kn = xn;
            else
              val = x, vn = xn;
          } else if (!pb_skip(&r, re, (int)(t3 & 7))) {
            return false;
          }
        }
        put_text(o, key ? key : (const uint8_t *)"", kn, limit);
        put_str(o, "=");
        if (!val || vn == 0)
          put_str(o, "(empty)");
        else if (!put_anyvalue_pb(o, val, val + vn, depth + 1, limit))
          return false;
      }
      put_str(o, field == 5 ? "]" : "}");
    } else if (field == 7 && wt == OA_PB_LEN) {
      if (!pb_len(&p, end, &d, &n)) return false;
      put_bytes_value(o, d, n);
    } else {
      if (!pb_skip(&p, end, wt)) return false;
      continue;
    }
    any = true;
  }
  if (!any) put_str(o, "(empty)");
  return true;
}

/* A string or binary element, dictionary-encoded or not. */
static const uint8_t *get_str(const oa_field *f, const oa_array *a, int64_t i,
                              int64_t *n) {
  *n = 0;
  if (oa_array_is_null(f, a, i)) return NULL;
  if (!f->dict.encoded) return oa_array_get_bytes(f, a, i, n);
  oa_field vf = *f;
  vf.dict.encoded = false;
  int64_t k = oa_array_get_dict_index(f, a, i);
  if (!a->dictionary || k < 0 || k >= a->dictionary->length) return NULL;
  return oa_array_get_bytes(&vf, a->dictionary, k, n);
}

static int64_t list_start(const oa_array *a, int64_t i) {
  return ((const int32_t *)a->buffers[1].data)[a->offset + i];
}

/* Type code (= union child index, an oa_attr_type) of element k of an
 * attribute value dense union; *row is its row in that child. */
static int attr_value(const oa_array *va, int64_t k, int64_t *row) {
  int32_t off;
  memcpy(&off, va->buffers[1].data + (va->offset + k) * 4, 4);
  *row = off;
  return (int8_t)va->buffers[0].data[va->offset + k];
}

/* key=value pairs of element i of an attribute map. */
static void put_attrs(oa_bytes *o, const oa_field *mf, const oa_array *ma,
                      int64_t i, const char *sep, int64_t limit) {
  if (oa_array_is_null(mf, ma, i)) return;
  int64_t b = list_start(ma, i), e = list_start(ma, i + 1);
  const oa_field *ef = &mf->children[0];
  const oa_array *ea = &ma->children[0];
  const oa_field *kf = &ef->children[0], *vf = &ef->children[1];
  const oa_array *ka = &ea->children[0], *va = &ea->children[1];
  for (int64_t k = b; k < e; k++) {
    if (k > b) put_str(o, sep);
    int64_t n;
    const uint8_t *key = get_str(kf, ka, k, &n);
    put_text(o, key ? key : (const uint8_t *)"", n, limit);
    put_str(o, "=");
    int64_t row;
    int t = attr_value(va, k, &row);
    const oa_field *cf = NULL;
    const oa_array *ca = NULL;
    switch (t) {
    case OA_ATTR_STR:
      cf = &vf->children[OA_ATTR_VALUE_STR];
      ca = &va->children[OA_ATTR_VALUE_STR];
      {
        const uint8_t *s = get_str(cf, ca, row, &n);
        put_text(o, s ? s : (const uint8_t *)"", n, limit);
        if (!s) put_str(o, "\"\"");
      }
      break;
    case OA_ATTR_INT:
      putf(o, "%lld",
           (long long)oa_array_get_int(&vf->children[OA_ATTR_VALUE_INT],
                                       &va->children[OA_ATTR_VALUE_INT], row));
      break;
    case OA_ATTR_DOUBLE:
      put_double(o,
                 oa_array_get_double(&vf->children[OA_ATTR_VALUE_DOUBLE],
                                     &va->children[OA_ATTR_VALUE_DOUBLE], row));
      break;
    case OA_ATTR_BOOL:
      put_str(o, oa_array_get_int(&vf->children[OA_ATTR_VALUE_BOOL],
                                  &va->children[OA_ATTR_VALUE_BOOL], row)
                     ? "true"
                     : "false");
      break;
    case OA_ATTR_BYTES: {
      const uint8_t *s = get_str(&vf->children[OA_ATTR_VALUE_BYTES],
                                 &va->children[OA_ATTR_VALUE_BYTES], row, &n);
      put_bytes_value(o, s ? s : (const uint8_t *)"", n);
      break;
    }
    case OA_ATTR_ARRAY:
    case OA_ATTR_KVLIST: {
      const uint8_t *s = get_str(&vf->children[t], &va->children[t], row, &n);
      int64_t mark = o->size;
      if (!s || !put_anyvalue_pb(o, s, s + n, 0, limit)) {
        o->size = mark;
        put_str(o, "(malformed value)");
      }
      break;
    }
    default:
      put_str(o, "(empty)");
    }
  }
}

/* Element i of a dictionary<ATTRS> column (resource/scope attributes). */
static void put_dict_attrs(oa_bytes *o, const oa_field *f, const oa_array *a,
                           int64_t i, int64_t limit) {
  int64_t k = oa_array_get_dict_index(f, a, i);
  if (!a->dictionary || k < 0 || k >= a->dictionary->length) return;
  oa_field vf = *f;
  vf.dict.encoded = false;
  put_attrs(o, &vf, a->dictionary, k, " ", limit);
}

static const char *kind_name(int64_t k) {
  static const char *const kKinds[] = {"UNSPECIFIED", "INTERNAL", "SERVER",
                                       "CLIENT",      "PRODUCER", "CONSUMER"};
  return k >= 0 && k <= 5 ? kKinds[k] : "KIND?";
}

static bool is_span_view_schema(const oa_schema *s) {
  oa_schema *ref = NULL;
  if (oa_span_schema(&ref, NULL)) return false;
  bool eq = oa_schema_equals(ref, s, false, NULL);
  oa_schema_release(ref);
  return eq;
}

int oa_cli_print_spans(const oa_batch *b, int64_t index, int64_t max_rows,
                       int64_t max_width, FILE *f, oa_error *err) {
  const oa_field *F = b->schema->fields;
  const oa_array *C = b->columns;
  int64_t rows = b->length < max_rows ? b->length : max_rows;
  int64_t limit = max_width * 4;
  fprintf(f, "\nbatch %lld: %lld span%s\n", (long long)index,
          (long long)b->length, b->length == 1 ? "" : "s");
  oa_bytes o;
  oa_bytes_init(&o);
  int64_t prev_res = -1, prev_scope = -1, n;
  const uint8_t *s;
  for (int64_t r = 0; r < rows; r++) {
    o.size = 0;
    int64_t res =
        oa_array_get_int(&F[OA_SPAN_RESOURCE_ID], &C[OA_SPAN_RESOURCE_ID], r);
    int64_t sc =
        oa_array_get_int(&F[OA_SPAN_SCOPE_ID], &C[OA_SPAN_SCOPE_ID], r);
    if (res != prev_res) {
      putf(&o, "\nresource %lld: ", (long long)res);
      put_dict_attrs(&o, &F[OA_SPAN_RESOURCE_ATTRIBUTES],
                     &C[OA_SPAN_RESOURCE_ATTRIBUTES], r, limit);
      s = get_str(&F[OA_SPAN_RESOURCE_SCHEMA_URL],
                  &C[OA_SPAN_RESOURCE_SCHEMA_URL], r, &n);
      if (n) {
        put_str(&o, "\n  schema_url ");
        put_text(&o, s, n, limit);
      }
      put_str(&o, "\n");
      prev_scope = -1;
    }
    if (sc != prev_scope) {
      put_str(&o, "  scope ");
      s = get_str(&F[OA_SPAN_SCOPE_NAME], &C[OA_SPAN_SCOPE_NAME], r, &n);
      put_text(&o, s ? s : (const uint8_t *)"", n, limit);
      s = get_str(&F[OA_SPAN_SCOPE_VERSION], &C[OA_SPAN_SCOPE_VERSION], r, &n);
      if (n) {
        put_str(&o, " ");
        put_text(&o, s, n, limit);
      }
      int64_t mark = o.size;
      put_str(&o, " {");
      int64_t inner = o.size;
      put_dict_attrs(&o, &F[OA_SPAN_SCOPE_ATTRIBUTES],
                     &C[OA_SPAN_SCOPE_ATTRIBUTES], r, limit);
      if (o.size == inner)
        o.size = mark;
      else
        put_str(&o, "}");
      s = get_str(&F[OA_SPAN_SCOPE_SCHEMA_URL], &C[OA_SPAN_SCOPE_SCHEMA_URL], r,
                  &n);
      if (n) {
        put_str(&o, " schema_url ");
        put_text(&o, s, n, limit);
      }
      put_str(&o, "\n");
    }
    prev_res = res;
    prev_scope = sc;
    int64_t start =
        oa_array_get_int(&F[OA_SPAN_START_TIME], &C[OA_SPAN_START_TIME], r);
    int64_t end =
        oa_array_get_int(&F[OA_SPAN_END_TIME], &C[OA_SPAN_END_TIME], r);
    putf(&o, "  [%lld] ", (long long)r);
    put_time(&o, start);
    put_str(&o, "  ");
    put_ms(&o, oa_array_get_int(&F[OA_SPAN_DURATION], &C[OA_SPAN_DURATION], r));
    putf(&o, "  %s  ",
         kind_name(oa_array_get_int(&F[OA_SPAN_KIND], &C[OA_SPAN_KIND], r)));
    s = get_str(&F[OA_SPAN_NAME], &C[OA_SPAN_NAME], r, &n);
    put_text(&o, s ? s : (const uint8_t *)"", n, limit);
    int64_t st =
        oa_array_get_int(&F[OA_SPAN_STATUS_CODE], &C[OA_SPAN_STATUS_CODE], r);
    s = get_str(&F[OA_SPAN_STATUS_MESSAGE], &C[OA_SPAN_STATUS_MESSAGE], r, &n);
    if (st || n) {
      putf(&o, "  status %s",
           st == 1   ? "OK"
           : st == 2 ? "ERROR"
           : st == 0 ? "UNSET"
                     : "?");
      if (n) {
        put_str(&o, " ");
        put_text(&o, s, n, limit);
      }
    }
    put_str(&o, "\n      trace ");
    s = get_str(&F[OA_SPAN_TRACE_ID], &C[OA_SPAN_TRACE_ID], r, &n);
    put_hex(&o, s, n);
    put_str(&o, " span ");
    s = get_str(&F[OA_SPAN_SPAN_ID], &C[OA_SPAN_SPAN_ID], r, &n);
    put_hex(&o, s, n);
    s = get_str(&F[OA_SPAN_PARENT_SPAN_ID], &C[OA_SPAN_PARENT_SPAN_ID], r, &n);
    if (s) {
      put_str(&o, " parent ");
      put_hex(&o, s, n);
    } else {
      put_str(&o, " (root)");
    }
    putf(&o, " flags 0x%08llx",
         (unsigned long long)oa_array_get_uint(&F[OA_SPAN_FLAGS],
                                               &C[OA_SPAN_FLAGS], r));
    s = get_str(&F[OA_SPAN_TRACE_STATE], &C[OA_SPAN_TRACE_STATE], r, &n);
    if (n) {
      put_str(&o, " trace_state ");
      put_text(&o, s, n, limit);
    }
    put_str(&o, "\n      attributes: ");
    put_attrs(&o, &F[OA_SPAN_ATTRIBUTES], &C[OA_SPAN_ATTRIBUTES], r, " ",
              limit);
    static const struct {
      int col;
      const char *what;
    } kDropped[] = {{OA_SPAN_DROPPED_ATTRIBUTES_COUNT, "attributes"},
                    {OA_SPAN_DROPPED_EVENTS_COUNT, "events"},
                    {OA_SPAN_DROPPED_LINKS_COUNT, "links"}};
    for (size_t k = 0; k < 3; k++) {
      uint64_t d =
          oa_array_get_uint(&F[kDropped[k].col], &C[kDropped[k].col], r);
      if (d)
        putf(&o, "\n      dropped %s: %llu", kDropped[k].what,
             (unsigned long long)d);
    }
    /* events */
    const oa_field *evf = &F[OA_SPAN_EVENTS].children[0];
    const oa_array *eva = &C[OA_SPAN_EVENTS].children[0];
    int64_t eb = list_start(&C[OA_SPAN_EVENTS], r),
            ee = list_start(&C[OA_SPAN_EVENTS], r + 1);
    for (int64_t k = eb; k < ee; k++) {
      put_str(&o, "\n      event +");
      put_ms(&o,
             oa_array_get_int(&evf->children[0], &eva->children[0], k) - start);
      put_str(&o, " ");
      s = get_str(&evf->children[1], &eva->children[1], k, &n);
      put_text(&o, s ? s : (const uint8_t *)"", n, limit);
      put_str(&o, ": ");
      put_attrs(&o, &evf->children[2], &eva->children[2], k, " ", limit);
    }
    const oa_field *lf = &F[OA_SPAN_LINKS].children[0];
    const oa_array *la = &C[OA_SPAN_LINKS].children[0];
    int64_t lb = list_start(&C[OA_SPAN_LINKS], r),
            le = list_start(&C[OA_SPAN_LINKS], r + 1);
    for (int64_t k = lb; k < le; k++) {
      put_str(&o, "\n      link trace ");
      s = get_str(&lf->children[0], &la->children[0], k, &n);
      put_hex(&o, s, n);
      put_str(&o, " span ");
      s = get_str(&lf->children[1], &la->children[1], k, &n);
      put_hex(&o, s, n);
      putf(&o, " flags 0x%08llx",
           (unsigned long long)oa_array_get_uint(&lf->children[3],
                                                 &la->children[3], k));
      s = get_str(&lf->children[2], &la->children[2], k, &n);
      if (n) {
        put_str(&o, " trace_state ");
        put_text(&o, s, n, limit);
      }
      int64_t mark = o.size;
      put_str(&o, " {");
      int64_t inner = o.size;
      put_attrs(&o, &lf->children[4], &la->children[4], k, " ", limit);
      if (o.size == inner)
        o.size = mark;
      else
        put_str(&o, "}");
    }
    (void)end;
    put_str(&o, "\n");
    if (oa_bytes_reserve(&o, 0) == 0) fwrite(o.data, 1, (size_t)o.size, f);
  }
  if (rows < b->length)
    fprintf(f, "... %lld more span%s (use --rows)\n",
            (long long)(b->length - rows), b->length - rows == 1 ? "" : "s");
  oa_bytes_reset(&o);
  (void)err;
  return 0;
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
        return oa_cli_fail(
            "%s needs a non-negative number (see otlparrow inspect --help)", a);
      i++;
      if (a[2] == 'b')
        o.max_batches = v;
      else if (a[2] == 'r')
        o.max_rows = v;
      else
        o.max_width = v < 4 ? 4 : v;
    } else if (a[0] == '-' && a[1] != 0) {
      return oa_cli_fail("unknown option %s (see otlparrow inspect --help)", a);
    } else if (!path) {
      path = a;
    } else {
      return oa_cli_fail("inspect takes one FILE, got '%s' and '%s'", path, a);
    }
  }
  if (!path)
    return oa_cli_fail("inspect needs a FILE (see otlparrow inspect --help)");
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
  bool span_view = false;
  const oa_schema *schema = oa_cli_input_schema(&in);
  if (rc == 0 && !schema)
    rc = oa_error_set(&err, EINVAL, "%s: no schema found", path);
  if (rc == 0 && !schema)
    rc = EINVAL; /* unreachable: oa_error_set is nonzero */
  if (rc == 0) {
    if (o.json) {
      const char *fmt = in.source == OA_CLI_OTLP_PB     ? "pb"
                        : in.source == OA_CLI_OTLP_JSON ? "json"
                        : in.format == OA_IPC_FILE      ? "file"
                                                        : "stream";
      char head[160];
      int n = snprintf(head, sizeof head, "{\"format\":\"%s\",", fmt);
      oa_bytes_append(&out, head, n);
      if (in.queue_format) {
        char id[33];
        for (int k = 0; k < 16; k++)
          snprintf(id + 2 * k, 3, "%02x", in.queue_id[k]);
        n = snprintf(head, sizeof head,
                     "\"queue_entry\":{\"batch_id\":\"%s\",\"spans\":%lld},",
                     id, (long long)in.queue_spans);
        oa_bytes_append(&out, head, n);
      }
      oa_bytes_append(&out, "\"schema\":", 9);
      rc = print_schema_json(schema, &out, &err);
      oa_bytes_append(&out, ",\"batches\":[", 12);
    } else {
      if (in.queue_format) {
        printf("%s: queue entry of batch ", path);
        for (int k = 0; k < 16; k++)
          printf("%02x", in.queue_id[k]);
        printf(", %lld spans, checksums good; payload: %s\n",
               (long long)in.queue_spans, oa_cli_source_name(in.source));
      } else {
        printf("%s: %s\n", path, oa_cli_source_name(in.source));
      }
      span_view = is_span_view_schema(schema);
      if (span_view) {
        printf("span schema (otlparrow.schema = spans/2; --json shows every "
               "column):");
        for (int64_t k = 0; k < schema->n_fields; k++)
          printf(" %s", schema->fields[k].name);
        printf("\n");
      } else
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
      } else if (span_view) {
        rc = oa_cli_print_spans(&b, index, o.max_rows, o.max_width, stdout,
                                &err);
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
      printf("\n%lld batch%s, %lld row%s\n", (long long)index,
             index == 1 ? "" : "es", (long long)total_rows,
             total_rows == 1 ? "" : "s");
    }
  }
  oa_batch_reset(&b);
  oa_bytes_reset(&out);
  oa_cli_input_close(&in);
  if (rc) return oa_cli_fail("%s", err.message);
  return 0;
}
