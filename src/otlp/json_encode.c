/* Span batch -> OTLP/JSON, by way of the protobuf encoder: the batch is
 * encoded as an ExportTraceServiceRequest and its wire bytes are printed as
 * JSON, table-driven (json_table.c), the way protobuf's JSON printer does
 * with the OTLP exceptions: lowerCamelCase keys in field-number order, hex
 * ids, enums and 32-bit integers as numbers, 64-bit integers as decimal
 * strings, bytes as base64, default scalars left out (AnyValue's oneof is
 * always printed). Nested AnyValues in the batch are kept as protobuf bytes
 * (the kvlist and array union children), so this one printer serves both. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "otlp/json_internal.h"

#define OA_JSON_MAX_NESTING 1000

typedef struct jw {
  oa_bytes *b;
  int rc; /* first allocation failure */
  oa_error *err;
  const uint8_t *base;
} jw;

static int wire_err(jw *w, const uint8_t *p, const char *fmt, ...)
    OA_PRINTF(3, 4);
static int wire_err(jw *w, const uint8_t *p, const char *fmt, ...) {
  char msg[OA_ERROR_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return oa_error_set(w->err, EINVAL, "otlp json encode: offset %lld: %s",
                      (long long)(p - w->base), msg);
}

static inline char *w_room(jw *w, int64_t n) {
  if (OA_UNLIKELY(w->rc)) return NULL;
  int rc = oa_bytes_reserve(w->b, n);
  if (OA_UNLIKELY(rc)) {
    w->rc = rc;
    return NULL;
  }
  return (char *)w->b->data + w->b->size;
}

static inline void w_done(jw *w, char *p) {
  w->b->size = (uint8_t *)p - w->b->data;
}

static inline void put(jw *w, const char *s, size_t n) {
  char *p = w_room(w, (int64_t)n);
  if (!p) return;
  memcpy(p, s, n);
  w_done(w, p + n);
}

static inline void put_c(jw *w, char ch) {
  char *p = w_room(w, 1);
  if (!p) return;
  *p = ch;
  w_done(w, p + 1);
}

/* A JSON string from valid UTF-8: only '"', '\\' and controls escaped. */
static void put_str(jw *w, const uint8_t *s, int64_t n) {
  static const char kHex[] = "0123456789abcdef";
  char *p = w_room(w, 2 + 6 * n);
  if (!p) return;
  *p++ = '"';
  int64_t i = 0;
  while (i < n) {
    int64_t run = i;
    while (run < n && s[run] >= 0x20 && s[run] != '"' && s[run] != '\\')
      run++;
    memcpy(p, s + i, (size_t)(run - i));
    p += run - i;
    if (run == n) break;
    uint8_t ch = s[run];
    *p++ = '\\';
    switch (ch) {
    case '"':
      *p++ = '"';
      break;
    case '\\':
      *p++ = '\\';
      break;
    case '\n':
      *p++ = 'n';
      break;
    case '\r':
      *p++ = 'r';
      break;
    case '\t':
      *p++ = 't';
      break;
    case '\b':
      *p++ = 'b';
      break;
    case '\f':
      *p++ = 'f';
      break;
    default:
      *p++ = 'u';
      *p++ = '0';
      *p++ = '0';
      *p++ = kHex[ch >> 4];
      *p++ = kHex[ch & 15];
    }
    i = run + 1;
  }
  *p++ = '"';
  w_done(w, p);
}

static void put_hex(jw *w, const uint8_t *d, int64_t n) {
  static const char kHex[] = "0123456789abcdef";
  char *p = w_room(w, 2 + 2 * n);
  if (!p) return;
  *p++ = '"';
  for (int64_t i = 0; i < n; i++) {
    *p++ = kHex[d[i] >> 4];
    *p++ = kHex[d[i] & 15];
  }
  *p++ = '"';
  w_done(w, p);
}

static void put_base64(jw *w, const uint8_t *d, int64_t n) {
  static const char kB64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *p = w_room(w, 2 + (n + 2) / 3 * 4);
  if (!p) return;
  *p++ = '"';
  int64_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
    *p++ = kB64[v >> 18];
    *p++ = kB64[(v >> 12) & 63];
    *p++ = kB64[(v >> 6) & 63];
    *p++ = kB64[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)d[i] << 16;
    *p++ = kB64[v >> 18];
    *p++ = kB64[(v >> 12) & 63];
    *p++ = '=';
    *p++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8;
    *p++ = kB64[v >> 18];
    *p++ = kB64[(v >> 12) & 63];
    *p++ = kB64[(v >> 6) & 63];
    *p++ = '=';
  }
  *p++ = '"';
  w_done(w, p);
}

static void put_fmt(jw *w, const char *fmt, ...) OA_PRINTF(2, 3);
static void put_fmt(jw *w, const char *fmt, ...) {
  char buf[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) put(w, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* The shortest %g form that reads back as the same double. */
static void put_double(jw *w, double d) {
  if (isnan(d)) {
    put(w, "\"NaN\"", 5);
    return;
  }
  if (isinf(d)) {
    if (d > 0)
      put(w, "\"Infinity\"", 10);
    else
      put(w, "\"-Infinity\"", 11);
    return;
  }
  if (d == 0) {
    /* "-0" would read back as the integer 0 */
    if (signbit(d))
      put(w, "-0.0", 4);
    else
      put_c(w, '0');
    return;
  }
  char buf[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) break;
  }
  put(w, buf, strlen(buf));
}

/* ----------------------------------------------------------- wire scan */

typedef struct pbv {
  uint32_t num;
  int wt;
  uint64_t v;       /* varint / fixed */
  const uint8_t *d; /* LEN payload */
  int64_t n;
  const uint8_t *at; /* tag position */
} pbv;

static int next(jw *w, const uint8_t **pp, const uint8_t *end, const char *msg,
                pbv *f) {
  uint64_t tag;
  f->at = *pp;
  if (!oa_pb_varint(pp, end, &tag))
    return wire_err(w, f->at, "%s: truncated or overlong tag", msg);
  if (tag > UINT32_MAX || (tag >> 3) == 0)
    return wire_err(w, f->at, "%s: invalid field number", msg);
  f->num = (uint32_t)(tag >> 3);
  f->wt = (int)(tag & 7);
  switch (f->wt) {
  case OA_PB_VARINT:
    if (!oa_pb_varint(pp, end, &f->v))
      return wire_err(w, f->at, "%s: truncated varint", msg);
    return 0;
  case OA_PB_I64:
  case OA_PB_I32: {
    int size = f->wt == OA_PB_I64 ? 8 : 4;
    if (end - *pp < size)
      return wire_err(w, f->at, "%s: truncated fixed value", msg);
    f->v = size == 8 ? oa_pb_load64(*pp) : oa_pb_load32(*pp);
    *pp += size;
    return 0;
  }
  case OA_PB_LEN: {
    uint64_t n;
    if (!oa_pb_varint(pp, end, &n) || n > (uint64_t)(end - *pp))
      return wire_err(w, f->at, "%s: bad length", msg);
    f->d = *pp;
    f->n = (int64_t)n;
    *pp += n;
    return 0;
  }
  default:
    return wire_err(w, f->at, "%s: unsupported wire type %d", msg, f->wt);
  }
}

static int expected_wt(int type) {
  switch (type) {
  case OA_JT_BOOL:
  case OA_JT_INT64:
  case OA_JT_UINT32:
  case OA_JT_ENUM:
    return OA_PB_VARINT;
  case OA_JT_FIXED32:
    return OA_PB_I32;
  case OA_JT_FIXED64:
  case OA_JT_DOUBLE:
    return OA_PB_I64;
  default:
    return OA_PB_LEN;
  }
}

static int w_message(jw *w, const uint8_t *p, const uint8_t *end,
                     const oa_jmsg *m, int depth);

static int w_value(jw *w, const oa_jfield *f, const oa_jmsg *m, const pbv *v,
                   int depth) {
  switch (f->type) {
  case OA_JT_MESSAGE:
    return w_message(w, v->d, v->d + v->n, f->msg, depth + 1);
  case OA_JT_STRING:
    if (!oa_otlp_utf8_valid(v->d, v->n))
      return wire_err(w, v->at, "%s.%s: invalid UTF-8", m->name, f->proto);
    put_str(w, v->d, v->n);
    break;
  case OA_JT_BYTES:
    put_base64(w, v->d, v->n);
    break;
  case OA_JT_HEXID:
    put_hex(w, v->d, v->n);
    break;
  case OA_JT_BOOL:
    if (v->v)
      put(w, "true", 4);
    else
      put(w, "false", 5);
    break;
  case OA_JT_INT64:
    put_fmt(w, "\"%" PRId64 "\"", (int64_t)v->v);
    break;
  case OA_JT_FIXED64:
    put_fmt(w, "\"%" PRIu64 "\"", v->v);
    break;
  case OA_JT_UINT32:
  case OA_JT_FIXED32:
    put_fmt(w, "%" PRIu32, (uint32_t)v->v);
    break;
  case OA_JT_ENUM:
    put_fmt(w, "%" PRId32, (int32_t)(uint32_t)v->v);
    break;
  case OA_JT_DOUBLE: {
    double d;
    memcpy(&d, &v->v, 8);
    put_double(w, d);
    break;
  }
  }
  return w->rc;
}

static void put_key(jw *w, bool *first, const char *key) {
  if (!*first) put_c(w, ',');
  *first = false;
  put_c(w, '"');
  put(w, key, strlen(key));
  put(w, "\":", 2);
}

/* Prints message [p, end) as a JSON object: known fields in table order,
 * the last occurrence of a singular field (protobuf's "last one wins"),
 * every occurrence of a repeated one; unknown fields are skipped. */
static int w_message(jw *w, const uint8_t *p, const uint8_t *end,
                     const oa_jmsg *m, int depth) {
  if (depth > OA_JSON_MAX_NESTING)
    return wire_err(w, p, "%s: nested deeper than %d messages", m->name,
                    OA_JSON_MAX_NESTING);
  /* validate once, find the oneof member that wins and what is present */
  uint32_t oneof = 0;
  uint32_t present = 0; /* bit per field index */
  pbv v = {0};          /* fields of other wire types stay defined */
  for (const uint8_t *q = p; q < end;) {
    OA_RETURN_NOT_OK(next(w, &q, end, m->name, &v));
    for (int i = 0; i < m->n_fields; i++) {
      const oa_jfield *f = &m->fields[i];
      if (f->num != v.num) continue;
      if (v.wt != expected_wt(f->type))
        return wire_err(w, v.at, "%s.%s: wire type %d, expected %d", m->name,
                        f->proto, v.wt, expected_wt(f->type));
      present |= 1u << i;
      if (f->flags & OA_JF_ONEOF) oneof = f->num;
    }
  }
  put_c(w, '{');
  bool first = true;
  for (int i = 0; i < m->n_fields; i++) {
    if (!(present & (1u << i))) continue;
    const oa_jfield *f = &m->fields[i];
    if ((f->flags & OA_JF_ONEOF) && f->num != oneof) continue;
    if (f->flags & OA_JF_REPEATED) {
      put_key(w, &first, f->json);
      put_c(w, '[');
      bool first_el = true;
      for (const uint8_t *q = p; q < end;) {
        next(w, &q, end, m->name, &v); /* validated above */
        if (v.num != f->num) continue;
        if (!first_el) put_c(w, ',');
        first_el = false;
        OA_RETURN_NOT_OK(w_value(w, f, m, &v, depth));
      }
      put_c(w, ']');
      continue;
    }
    pbv last = {0};
    for (const uint8_t *q = p; q < end;) {
      next(w, &q, end, m->name, &v);
      if (v.num == f->num) last = v;
    }
    if (!(f->flags & OA_JF_ONEOF) && f->type != OA_JT_MESSAGE &&
        (expected_wt(f->type) == OA_PB_LEN ? last.n == 0 : last.v == 0))
      continue; /* proto3 default: left out */
    put_key(w, &first, f->json);
    OA_RETURN_NOT_OK(w_value(w, f, m, &last, depth));
  }
  put_c(w, '}');
  return w->rc;
}

int oa_otlp_traces_pb_to_json(const uint8_t *data, int64_t size, oa_bytes *out,
                              oa_error *err) {
  if (size < 0 || (!data && size > 0))
    return oa_error_set(err, EINVAL, "otlp json encode: invalid input buffer");
  static const uint8_t kEmpty[1] = {0};
  if (!data) data = kEmpty;
  const int64_t old_size = out->size;
  jw w = {.b = out, .err = err, .base = data};
  int rc = w_message(&w, data, data + size, &oa_jmsg_request, 0);
  if (rc == 0 && w.rc) rc = w.rc;
  if (rc) {
    out->size = old_size;
    if (rc == ENOMEM)
      return oa_error_set(err, ENOMEM, "otlp json encode: out of memory");
  }
  return rc;
}

int oa_otlp_encode_traces_json(const oa_batch *batch, oa_bytes *out,
                               oa_error *err) {
  oa_bytes pb;
  oa_bytes_init(&pb);
  int rc = oa_otlp_encode_traces(batch, &pb, err);
  if (rc == 0) rc = oa_otlp_traces_pb_to_json(pb.data, pb.size, out, err);
  oa_bytes_reset(&pb);
  return rc;
}
