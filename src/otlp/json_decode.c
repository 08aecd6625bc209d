/* OTLP/JSON ExportTraceServiceRequest -> span batch.
 *
 * json-c parses the text into a tree; the tree is transcoded, table-driven
 * (json_table.c), into OTLP protobuf wire bytes, which the protobuf decoder
 * then turns into the batch. One decoder thus holds all OTLP semantics
 * (validation, partial success, resource/scope grouping) for both formats.
 * Fields are written in field-number order with proto3 defaults left out
 * (except inside AnyValue's oneof), so nested AnyValue bytes (the kvlist
 * and array union children) equal what a protobuf serializer makes of the
 * same request.
 *
 * Request-level errors (malformed JSON, wrong JSON types, out-of-range
 * numbers, bad base64) name the byte offset or the JSON path. Span-level
 * problems are left to the protobuf decoder: an id that is not hex is
 * written as a 1-byte id so that its span is rejected, and a lone \u
 * surrogate escape is turned into the (invalid) UTF-8 encoding of the
 * surrogate so that UTF-8 validation rejects its span. The partial-success
 * message is then rewritten to name the JSON path of the rejected span. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp/json_internal.h"

/* Where a resource, scope or span ended up in the wire bytes. */
typedef struct jrec {
  int64_t start, end; /* content range */
  int32_t rs, ss, sp;
  int32_t link;       /* link index of a bad link id, -1 for the span's */
  const char *bad_id; /* JSON name of an id that is not hex, or NULL */
  uint8_t kind;       /* OA_JM_* */
} jrec;

struct oa_otlp_json_decoder {
  oa_otlp_options opts;
  oa_otlp_decoder *pb;
  json_tokener *tok;
  oa_bytes wire; /* the transcoded request */
  oa_bytes text; /* the input with lone surrogates replaced (rarely used) */
  jrec *recs;
  int64_t n_recs, cap_recs;
  int64_t *fix; /* offsets in text where a replacement shortened it by 3 */
  int64_t n_fix, cap_fix;
};

/* ------------------------------------------------------------ context */

typedef struct jpath {
  const struct jpath *up;
  const char *key;
  int64_t idx; /* array index, -1 for none */
} jpath;

typedef struct jd {
  oa_otlp_json_decoder *dec;
  oa_bytes *w;
  int rc; /* first allocation failure; later writes are no-ops */
  oa_error *err;
  int32_t rs, ss, sp, link;
  const char *bad_id; /* current span: first id that is not hex */
  int32_t bad_link;
  /* json-c clamps integers past 64 bits to INT64_MIN / UINT64_MAX: seeing
   * one of those asks for a look at the text */
  bool saturated;
} jd;

static size_t path_put(const jpath *p, char *buf, size_t cap, size_t pos) {
  if (!p) return pos;
  pos = path_put(p->up, buf, cap, pos);
  if (pos >= cap) return pos;
  int n;
  if (p->idx >= 0)
    n = snprintf(buf + pos, cap - pos, "%s%s[%lld]", pos ? "." : "", p->key,
                 (long long)p->idx);
  else
    n = snprintf(buf + pos, cap - pos, "%s%s", pos ? "." : "", p->key);
  return n < 0 ? cap : pos + (size_t)n;
}

static int path_err(jd *c, const jpath *p, const char *fmt, ...)
    OA_PRINTF(3, 4);
static int path_err(jd *c, const jpath *p, const char *fmt, ...) {
  char path[256], msg[OA_ERROR_SIZE];
  path[0] = 0;
  path_put(p, path, sizeof path, 0);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return oa_error_set(c->err, EINVAL, "otlp json: %s: %s",
                      path[0] ? path : "(request)", msg);
}

static const char *jtype_name(json_object *v) {
  switch (json_object_get_type(v)) {
  case json_type_null:
    return "null";
  case json_type_boolean:
    return "a boolean";
  case json_type_double:
  case json_type_int:
    return "a number";
  case json_type_object:
    return "an object";
  case json_type_array:
    return "an array";
  case json_type_string:
    return "a string";
  }
  return "?";
}

/* ------------------------------------------------------------- writer */

static inline uint8_t *w_room(jd *c, int64_t n) {
  if (OA_UNLIKELY(c->rc)) return NULL;
  int rc = oa_bytes_reserve(c->w, n);
  if (OA_UNLIKELY(rc)) {
    c->rc = rc;
    return NULL;
  }
  return c->w->data + c->w->size;
}

static inline void w_done(jd *c, uint8_t *p) { c->w->size = p - c->w->data; }

static inline void w_varint_field(jd *c, uint32_t num, uint64_t v) {
  uint8_t *p = w_room(c, 15);
  if (!p) return;
  p = oa_pb_put_varint(p, (uint64_t)num << 3 | OA_PB_VARINT);
  w_done(c, oa_pb_put_varint(p, v));
}

static inline void w_fixed_field(jd *c, uint32_t num, uint64_t v, int size) {
  uint8_t *p = w_room(c, 13);
  if (!p) return;
  p = oa_pb_put_varint(p, (uint64_t)num << 3 |
                              (size == 8 ? OA_PB_I64 : OA_PB_I32));
  if (size == 8) {
    memcpy(p, &v, 8);
  } else {
    uint32_t v32 = (uint32_t)v;
    memcpy(p, &v32, 4);
  }
  w_done(c, p + size);
}

/* Writes a LEN field's tag and length; returns where its n bytes go. */
static inline uint8_t *w_len_head(jd *c, uint32_t num, int64_t n) {
  uint8_t *p = w_room(c, 15 + n);
  if (!p) return NULL;
  p = oa_pb_put_varint(p, (uint64_t)num << 3 | OA_PB_LEN);
  return oa_pb_put_varint(p, (uint64_t)n);
}

/* Opens a nested message with a guessed length size; returns the content
 * start. */
static inline int64_t w_open(jd *c, uint32_t num, int guess) {
  uint8_t *p = w_room(c, 5 + guess);
  if (!p) return 0;
  p = oa_pb_put_varint(p, (uint64_t)num << 3 | OA_PB_LEN);
  w_done(c, p + guess);
  return c->w->size;
}

/* Patches the length in; returns how far the content moved. */
static inline int64_t w_close(jd *c, int64_t start, int guess) {
  if (c->rc) return 0;
  int64_t len = c->w->size - start;
  int need = oa_pb_varint_size((uint64_t)len);
  if (need > guess && !w_room(c, need - guess)) return 0;
  uint8_t *d = c->w->data;
  if (need != guess) memmove(d + start + need - guess, d + start, (size_t)len);
  oa_pb_put_varint(d + start - guess, (uint64_t)len);
  c->w->size += need - guess;
  return need - guess;
}

static int add_rec(jd *c, const jrec *r) {
  oa_otlp_json_decoder *dec = c->dec;
  if (dec->n_recs == dec->cap_recs) {
    int64_t cap = dec->cap_recs ? dec->cap_recs * 2 : 256;
    jrec *n = realloc(dec->recs, (size_t)cap * sizeof *n);
    if (!n) return c->rc = ENOMEM;
    dec->recs = n;
    dec->cap_recs = cap;
  }
  dec->recs[dec->n_recs++] = *r;
  return 0;
}

/* ------------------------------------------------------------- values */

static inline int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  ch |= 0x20;
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

static inline int b64val(int ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '+' || ch == '-') return 62;
  if (ch == '/' || ch == '_') return 63;
  return -1;
}

/* base64 (standard or URL-safe alphabet, padding optional) -> wire */
static int j_bytes(jd *c, const oa_jfield *f, const char *s, int64_t n,
                   const jpath *path) {
  int64_t m = n;
  while (m > 0 && n - m < 2 && s[m - 1] == '=')
    m--;
  if (m % 4 == 1 || (m != n && n % 4 != 0))
    return path_err(c, path, "invalid base64 (length %lld)", (long long)n);
  int64_t out_n = m / 4 * 3 + (m % 4 == 3 ? 2 : m % 4 == 2 ? 1 : 0);
  if (out_n == 0 && !(f->flags & OA_JF_ONEOF)) return 0;
  uint8_t *p = w_len_head(c, f->num, out_n);
  if (!p) return c->rc;
  uint32_t acc = 0;
  int bits = 0;
  for (int64_t i = 0; i < m; i++) {
    int v = b64val((unsigned char)s[i]);
    if (v < 0)
      return path_err(c, path, "invalid base64 character at %lld",
                      (long long)i);
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      *p++ = (uint8_t)(acc >> bits);
    }
  }
  w_done(c, p);
  return 0;
}

/* hex id -> wire; not hex: a 1-byte id that gets its span rejected */
static void j_hexid(jd *c, const oa_jfield *f, const char *s, int64_t n) {
  if (n == 0) return; /* "" is absent */
  bool ok = n % 2 == 0;
  for (int64_t i = 0; ok && i < n; i++)
    ok = hexval((unsigned char)s[i]) >= 0;
  if (!ok) {
    if (!c->bad_id) {
      c->bad_id = f->json;
      c->bad_link = c->link;
    }
    uint8_t *p = w_len_head(c, f->num, 1);
    if (p) {
      *p = 0;
      w_done(c, p + 1);
    }
    return;
  }
  uint8_t *p = w_len_head(c, f->num, n / 2);
  if (!p) return;
  for (int64_t i = 0; i < n; i += 2)
    *p++ = (uint8_t)(hexval((unsigned char)s[i]) << 4 |
                     hexval((unsigned char)s[i + 1]));
  w_done(c, p);
}

/* A JSON number or decimal string as a 64-bit integer: *neg set when it is
 * negative (then *u holds its two's complement). */
static int j_int(jd *c, json_object *v, const jpath *path, bool *neg,
                 uint64_t *u) {
  *neg = false;
  *u = 0;
  switch (json_object_get_type(v)) {
  case json_type_int: {
    int64_t i = json_object_get_int64(v);
    if (i == INT64_MAX) {
      *u = json_object_get_uint64(v); /* exact past INT64_MAX */
      if (*u == UINT64_MAX) c->saturated = true;
    } else {
      if (i == INT64_MIN) c->saturated = true;
      *neg = i < 0;
      *u = (uint64_t)i;
    }
    return 0;
  }
  case json_type_double: {
    double d = json_object_get_double(v);
    if (!isfinite(d) || d != floor(d))
      return path_err(c, path, "%.17g is not an integer", d);
    if (d < 0) {
      if (d < -9223372036854775808.0)
        return path_err(c, path, "%.17g is out of range", d);
      *neg = true;
      *u = (uint64_t)(int64_t)d;
    } else {
      if (d >= 18446744073709551616.0)
        return path_err(c, path, "%.17g is out of range", d);
      *u = (uint64_t)d;
    }
    return 0;
  }
  case json_type_string: {
    const char *s = json_object_get_string(v);
    int64_t n = json_object_get_string_len(v), i = 0;
    if (n > 0 && s[0] == '-') {
      *neg = true;
      i = 1;
    }
    if (i == n) return path_err(c, path, "\"%.40s\" is not an integer", s);
    uint64_t mag = 0;
    for (; i < n; i++) {
      unsigned d = (unsigned char)s[i] - '0';
      if (d > 9) return path_err(c, path, "\"%.40s\" is not an integer", s);
      if (mag > (UINT64_MAX - d) / 10)
        return path_err(c, path, "\"%.40s\" is out of range", s);
      mag = mag * 10 + d;
    }
    if (*neg) {
      if (mag > (uint64_t)INT64_MAX + 1)
        return path_err(c, path, "\"%.40s\" is out of range", s);
      *u = (uint64_t)0 - mag;
      if (mag == 0) *neg = false;
    } else {
      *u = mag;
    }
    return 0;
  }
  default:
    return path_err(c, path,
                    "expected an integer (a number or a decimal string), got "
                    "%s",
                    jtype_name(v));
  }
}

static int j_double(jd *c, json_object *v, const jpath *path, double *out) {
  switch (json_object_get_type(v)) {
  case json_type_int: {
    int64_t i = json_object_get_int64(v);
    uint64_t u = i == INT64_MAX ? json_object_get_uint64(v) : 0;
    if (u == UINT64_MAX || i == INT64_MIN) c->saturated = true;
    *out = i == INT64_MAX ? (double)u : (double)i;
    return 0;
  }
  case json_type_double:
    *out = json_object_get_double(v);
    if (!isfinite(*out))
      return path_err(c, path, "%.40s is out of range for a double",
                      json_object_to_json_string(v));
    return 0;
  case json_type_string: {
    const char *s = json_object_get_string(v);
    int64_t n = json_object_get_string_len(v);
    if (n == 3 && memcmp(s, "NaN", 3) == 0) {
      *out = NAN;
      return 0;
    }
    if (n == 8 && memcmp(s, "Infinity", 8) == 0) {
      *out = INFINITY;
      return 0;
    }
    if (n == 9 && memcmp(s, "-Infinity", 9) == 0) {
      *out = -INFINITY;
      return 0;
    }
    /* a number in a string: JSON number characters only (no hex, inf) */
    bool ok = n > 0 && n < 64;
    for (int64_t i = 0; ok && i < n; i++)
      ok = (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '+' ||
           s[i] == '.' || s[i] == 'e' || s[i] == 'E';
    char *end = NULL;
    if (ok) *out = strtod(s, &end);
    if (!ok || end != s + n || !isfinite(*out))
      return path_err(c, path, "\"%.40s\" is not a double", s);
    return 0;
  }
  default:
    return path_err(c, path,
                    "expected a double (a number, \"NaN\", \"Infinity\" or "
                    "\"-Infinity\"), got %s",
                    jtype_name(v));
  }
}

/* --------------------------------------------------------------- walk */

static int j_message(jd *c, json_object *o, const oa_jmsg *m,
                     const jpath *path);

static int j_submessage(jd *c, const oa_jfield *f, json_object *v,
                        const jpath *path, int64_t idx) {
  if (!json_object_is_type(v, json_type_object))
    return path_err(c, path, "expected an object, got %s", jtype_name(v));
  const int kind = f->msg->kind;
  int guess = 1;
  int32_t saved_link = c->link;
  switch (kind) {
  case OA_JM_RESOURCE_SPANS:
    c->rs = (int32_t)idx;
    c->ss = c->sp = -1;
    guess = 3;
    break;
  case OA_JM_SCOPE_SPANS:
    c->ss = (int32_t)idx;
    c->sp = -1;
    guess = 3;
    break;
  case OA_JM_SPAN:
    c->sp = (int32_t)idx;
    c->link = c->bad_link = -1;
    c->bad_id = NULL;
    guess = 2;
    break;
  case OA_JM_LINK:
    c->link = (int32_t)idx;
    break;
  }
  const int64_t first_rec = c->dec->n_recs;
  int64_t start = w_open(c, f->num, guess);
  OA_RETURN_NOT_OK(j_message(c, v, f->msg, path));
  int64_t delta = w_close(c, start, guess);
  if (kind == OA_JM_LINK) c->link = saved_link;
  if (kind == OA_JM_OTHER || kind == OA_JM_LINK || c->rc) return c->rc;
  /* records inside moved with the content */
  for (int64_t i = first_rec; i < c->dec->n_recs; i++) {
    c->dec->recs[i].start += delta;
    c->dec->recs[i].end += delta;
  }
  jrec r = {.start = start + delta,
            .end = c->w->size,
            .rs = c->rs,
            .ss = kind == OA_JM_RESOURCE_SPANS ? -1 : c->ss,
            .sp = kind == OA_JM_SPAN ? c->sp : -1,
            .link = kind == OA_JM_SPAN ? c->bad_link : -1,
            .bad_id = kind == OA_JM_SPAN ? c->bad_id : NULL,
            .kind = (uint8_t)kind};
  return add_rec(c, &r);
}

static int j_single(jd *c, const oa_jfield *f, json_object *v,
                    const jpath *path, int64_t idx) {
  const bool oneof = f->flags & OA_JF_ONEOF;
  switch (f->type) {
  case OA_JT_MESSAGE:
    return j_submessage(c, f, v, path, idx);
  case OA_JT_STRING:
  case OA_JT_BYTES:
  case OA_JT_HEXID: {
    if (!json_object_is_type(v, json_type_string))
      return path_err(c, path, "expected a%s string, got %s",
                      f->type == OA_JT_HEXID   ? " hex"
                      : f->type == OA_JT_BYTES ? " base64"
                                               : "",
                      jtype_name(v));
    const char *s = json_object_get_string(v);
    int64_t n = json_object_get_string_len(v);
    if (f->type == OA_JT_BYTES) return j_bytes(c, f, s, n, path);
    if (f->type == OA_JT_HEXID) {
      j_hexid(c, f, s, n);
      return c->rc;
    }
    if (n == 0 && !oneof) return 0;
    uint8_t *p = w_len_head(c, f->num, n);
    if (p) {
      memcpy(p, s, (size_t)n);
      w_done(c, p + n);
    }
    return c->rc;
  }
  case OA_JT_BOOL: {
    if (!json_object_is_type(v, json_type_boolean))
      return path_err(c, path, "expected true or false, got %s", jtype_name(v));
    bool b = json_object_get_boolean(v);
    if (b || oneof) w_varint_field(c, f->num, b);
    return c->rc;
  }
  case OA_JT_DOUBLE: {
    double d = 0;
    OA_RETURN_NOT_OK(j_double(c, v, path, &d));
    uint64_t bits;
    memcpy(&bits, &d, 8);
    if (bits || oneof) w_fixed_field(c, f->num, bits, 8);
    return c->rc;
  }
  case OA_JT_ENUM:
    if (json_object_is_type(v, json_type_string)) {
      const char *s = json_object_get_string(v);
      for (int i = 0; i < f->n_enum; i++) {
        if (strcmp(s, f->enum_names[i]) == 0) {
          if (i) w_varint_field(c, f->num, (uint64_t)i);
          return c->rc;
        }
      }
      /* a number in a string is not an enum name; fall through for it */
      if (!(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return path_err(c, path, "unknown enum value \"%.60s\"", s);
    }
    /* fall through */
  default: {
    bool neg;
    uint64_t u;
    OA_RETURN_NOT_OK(j_int(c, v, path, &neg, &u));
    bool range_ok = true;
    switch (f->type) {
    case OA_JT_INT64:
      range_ok = neg || u <= INT64_MAX;
      break;
    case OA_JT_UINT32:
    case OA_JT_FIXED32:
      range_ok = !neg && u <= UINT32_MAX;
      break;
    case OA_JT_FIXED64:
      range_ok = !neg;
      break;
    case OA_JT_ENUM:
      range_ok = neg ? (int64_t)u >= INT32_MIN : u <= INT32_MAX;
      break;
    }
    if (!range_ok)
      return path_err(c, path, "%s%llu is out of range for %s", neg ? "-" : "",
                      neg ? (unsigned long long)(0 - u) : (unsigned long long)u,
                      f->type == OA_JT_INT64     ? "int64"
                      : f->type == OA_JT_FIXED64 ? "fixed64"
                      : f->type == OA_JT_ENUM    ? "an enum (int32)"
                                                 : "uint32");
    if (u == 0 && !oneof) return 0;
    if (f->type == OA_JT_FIXED32)
      w_fixed_field(c, f->num, u, 4);
    else if (f->type == OA_JT_FIXED64)
      w_fixed_field(c, f->num, u, 8);
    else
      w_varint_field(c, f->num, u);
    return c->rc;
  }
  }
}

static int j_field(jd *c, const oa_jfield *f, json_object *v,
                   const jpath *path) {
  if (!(f->flags & OA_JF_REPEATED)) return j_single(c, f, v, path, 0);
  if (!json_object_is_type(v, json_type_array))
    return path_err(c, path, "expected an array, got %s", jtype_name(v));
  size_t n = json_object_array_length(v);
  for (size_t k = 0; k < n; k++) {
    json_object *e = json_object_array_get_idx(v, k);
    jpath ep = {path->up, path->key, (int64_t)k};
    if (!e) return path_err(c, &ep, "null is not allowed in an array");
    OA_RETURN_NOT_OK(j_single(c, f, e, &ep, (int64_t)k));
  }
  return 0;
}

static inline int find_field(const oa_jmsg *m, const char *k) {
  for (int i = 0; i < m->n_fields; i++) {
    const oa_jfield *f = &m->fields[i];
    if (k[0] == f->json[0] && strcmp(k, f->json) == 0) return i;
    if (f->proto != f->json && k[0] == f->proto[0] && strcmp(k, f->proto) == 0)
      return i;
  }
  return -1;
}

/* Writes the known fields of object o in field-number order. */
static int j_message(jd *c, json_object *o, const oa_jmsg *m,
                     const jpath *path) {
  json_object *slot[OA_JMSG_MAX_FIELDS] = {0};
  const char *oneof_key = NULL;
  for (struct lh_entry *e = lh_table_head(json_object_get_object(o)); e;
       e = lh_entry_next(e)) {
    const char *k = lh_entry_k(e);
    json_object *v = lh_entry_v(e);
    int i = find_field(m, k);
    if (i < 0 || !v) continue; /* unknown field, or null (absent) */
    const oa_jfield *f = &m->fields[i];
    if (slot[i]) {
      jpath fp = {path, f->json, -1};
      return path_err(c, &fp, "given twice (as \"%s\" and \"%s\")", f->json,
                      f->proto);
    }
    if (f->flags & OA_JF_ONEOF) {
      if (oneof_key) {
        jpath fp = {path, k, -1};
        return path_err(c, &fp, "%s has more than one value (also \"%s\")",
                        m->name, oneof_key);
      }
      oneof_key = k;
    }
    slot[i] = v;
  }
  for (int i = 0; i < m->n_fields; i++) {
    if (!slot[i]) continue;
    jpath fp = {path, m->fields[i].json, -1};
    OA_RETURN_NOT_OK(j_field(c, &m->fields[i], slot[i], &fp));
  }
  return c->rc;
}

/* ------------------------------------------------------------- decoder */

void oa_otlp_json_decoder_free(oa_otlp_json_decoder *dec) {
  if (!dec) return;
  oa_otlp_decoder_free(dec->pb);
  if (dec->tok) json_tokener_free(dec->tok);
  oa_bytes_reset(&dec->wire);
  oa_bytes_reset(&dec->text);
  free(dec->recs);
  free(dec->fix);
  free(dec);
}

int oa_otlp_json_decoder_new(oa_otlp_json_decoder **out,
                             const oa_otlp_options *opts, oa_error *err) {
  *out = NULL;
  oa_otlp_json_decoder *dec = calloc(1, sizeof *dec);
  if (!dec)
    return oa_error_set(err, ENOMEM, "otlp json decoder: out of memory");
  if (opts)
    dec->opts = *opts;
  else
    oa_otlp_options_default(&dec->opts);
  oa_bytes_init(&dec->wire);
  oa_bytes_init(&dec->text);
  int rc = oa_otlp_decoder_new(&dec->pb, &dec->opts, err);
  if (rc) {
    oa_otlp_json_decoder_free(dec);
    return rc;
  }
  /* Room for AnyValues nested past max_depth (4 JSON levels per kvlist
   * level, 12 above the outermost value), so that such a span is rejected
   * and counted by the protobuf decoder rather than failing the request;
   * capped to bound the recursion of the tree walk. */
  int64_t depth = 4 * (int64_t)dec->opts.max_depth + 32;
  if (depth < 64) depth = 64;
  if (depth > 1024) depth = 1024;
  dec->tok = json_tokener_new_ex((int)depth);
  if (!dec->tok) {
    oa_otlp_json_decoder_free(dec);
    return oa_error_set(err, ENOMEM, "otlp json decoder: out of memory");
  }
  json_tokener_set_flags(dec->tok, JSON_TOKENER_STRICT);
  *out = dec;
  return 0;
}

static inline bool hex4(const char *s, uint32_t *cp) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval((unsigned char)s[i]);
    if (h < 0) return false;
    v = v << 4 | (uint32_t)h;
  }
  *cp = v;
  return true;
}

/* json-c turns a lone surrogate escape into U+FFFD, which would hide it.
 * Each one is replaced by the 3-byte encoding of the surrogate itself:
 * invalid UTF-8, so the span holding it is rejected like any other invalid
 * UTF-8. Returns the text to parse (json itself when nothing changed). */
static int fix_surrogates(oa_otlp_json_decoder *dec, const char *s, int64_t n,
                          const char **text, int64_t *text_n) {
  dec->n_fix = 0;
  dec->text.size = 0;
  *text = s;
  *text_n = n;
  int64_t i = 0, copied = 0;
  for (;;) {
    const char *bs = memchr(s + i, '\\', (size_t)(n - i));
    if (!bs) break;
    i = bs - s;
    if (i + 1 >= n) break;
    if (s[i + 1] != 'u') {
      i += 2;
      continue;
    }
    uint32_t cp, lo;
    if (i + 6 > n || !hex4(s + i + 2, &cp)) {
      i += 2;
      continue;
    }
    if (cp < 0xd800 || cp > 0xdfff) {
      i += 6;
      continue;
    }
    if (cp <= 0xdbff && i + 12 <= n && s[i + 6] == '\\' && s[i + 7] == 'u' &&
        hex4(s + i + 8, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
      i += 12;
      continue;
    }
    const uint8_t wtf8[3] = {0xed, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)),
                             (uint8_t)(0x80 | (cp & 0x3f))};
    if (dec->n_fix == dec->cap_fix) {
      int64_t cap = dec->cap_fix ? dec->cap_fix * 2 : 16;
      int64_t *nf = realloc(dec->fix, (size_t)cap * sizeof *nf);
      if (!nf) return ENOMEM;
      dec->fix = nf;
      dec->cap_fix = cap;
    }
    OA_RETURN_NOT_OK(oa_bytes_append(&dec->text, s + copied, i - copied));
    dec->fix[dec->n_fix++] = dec->text.size;
    OA_RETURN_NOT_OK(oa_bytes_append(&dec->text, wtf8, 3));
    i += 6;
    copied = i;
  }
  if (dec->n_fix) {
    OA_RETURN_NOT_OK(oa_bytes_append(&dec->text, s + copied, n - copied));
    *text = (const char *)dec->text.data;
    *text_n = dec->text.size;
  }
  return 0;
}

/* Offset of the first integer literal (outside strings) that does not fit
 * in 64 bits, -1 when there is none. */
static int64_t find_int_overflow(const char *s, int64_t n) {
  int64_t i = 0;
  while (i < n) {
    char ch = s[i];
    if (ch == '"') {
      for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\') i++;
      i++;
      continue;
    }
    if (ch != '-' && (ch < '0' || ch > '9')) {
      i++;
      continue;
    }
    const int64_t at = i;
    const bool neg = ch == '-';
    if (neg) i++;
    uint64_t mag = 0;
    bool over = false;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
      unsigned d = (unsigned)(s[i] - '0');
      if (mag > (UINT64_MAX - d) / 10)
        over = true;
      else
        mag = mag * 10 + d;
    }
    if (i < n && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')) {
      while (i < n &&
             ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' ||
              s[i] == 'E' || s[i] == '+' || s[i] == '-'))
        i++;
      continue;
    }
    if (over || (neg && mag > (uint64_t)INT64_MAX + 1)) return at;
  }
  return -1;
}

/* An offset in the parsed text -> the offset in the caller's input. */
static int64_t input_offset(const oa_otlp_json_decoder *dec, int64_t off) {
  int64_t k = 0;
  while (k < dec->n_fix && dec->fix[k] < off)
    k++;
  return off + 3 * k;
}

/* "offset N: why" from the protobuf decoder -> "<JSON path>: why" */
static void rewrite_result(const oa_otlp_json_decoder *dec,
                           oa_otlp_result *res) {
  const char *msg = res->error_message;
  if (strncmp(msg, "offset ", 7) != 0) return;
  char *end = NULL;
  errno = 0;
  long long off = strtoll(msg + 7, &end, 10);
  if (end == msg + 7 || errno == ERANGE || *end != ':') return;
  end++;
  while (*end == ' ')
    end++;
  int used = (int)(end - msg);
  char why[OA_ERROR_SIZE - 140];
  snprintf(why, sizeof why, "%s", res->error_message + used);
  const jrec *best = NULL;
  for (int64_t i = 0; i < dec->n_recs; i++) {
    const jrec *r = &dec->recs[i];
    if (r->start <= off && off <= r->end &&
        (!best || r->end - r->start < best->end - best->start ||
         (r->end - r->start == best->end - best->start &&
          r->kind > best->kind)))
      best = r;
  }
  if (!best) return;
  char path[128];
  int n = snprintf(path, sizeof path, "resourceSpans[%d]", (int)best->rs);
  if (best->ss >= 0 && n > 0 && (size_t)n < sizeof path)
    n += snprintf(path + n, sizeof path - (size_t)n, ".scopeSpans[%d]",
                  (int)best->ss);
  if (best->sp >= 0 && n > 0 && (size_t)n < sizeof path)
    snprintf(path + n, sizeof path - (size_t)n, ".spans[%d]", (int)best->sp);
  if (best->kind == OA_JM_SPAN && best->bad_id) {
    if (best->link >= 0)
      snprintf(res->error_message, sizeof res->error_message,
               "%s.links[%d].%s: not a hex string (odd length or a non-hex "
               "character)",
               path, (int)best->link, best->bad_id);
    else
      snprintf(res->error_message, sizeof res->error_message,
               "%s.%s: not a hex string (odd length or a non-hex character)",
               path, best->bad_id);
    return;
  }
  snprintf(res->error_message, sizeof res->error_message, "%s: %s", path, why);
}

int oa_otlp_json_decoder_decode(oa_otlp_json_decoder *dec, const char *json,
                                int64_t len, oa_batch *out,
                                oa_otlp_result *result, oa_error *err) {
  oa_otlp_result local;
  if (!result) result = &local;
  memset(result, 0, sizeof *result);
  oa_batch_reset(out);
  if (len < 0 || (!json && len > 0))
    return oa_error_set(err, EINVAL, "otlp json: invalid input buffer");
  if (!json) json = "";
  const char *text;
  int64_t n;
  if (fix_surrogates(dec, json, len, &text, &n))
    return oa_error_set(err, ENOMEM, "otlp json: out of memory");

  json_tokener_reset(dec->tok);
  json_object *root = NULL;
  enum json_tokener_error jerr = json_tokener_continue;
  int64_t off = 0;
  do {
    int chunk = (int)(n - off < (1 << 30) ? n - off : (1 << 30));
    root = json_tokener_parse_ex(dec->tok, text + off, chunk);
    jerr = json_tokener_get_error(dec->tok);
    if (jerr != json_tokener_continue) {
      off += (int64_t)json_tokener_get_parse_end(dec->tok);
      break;
    }
    off += chunk;
  } while (off < n);
  if (jerr == json_tokener_continue)
    return oa_error_set(err, EINVAL,
                        "otlp json: offset %lld: unexpected end of input",
                        (long long)len);
  if (jerr != json_tokener_success) {
    json_object_put(root);
    return oa_error_set(err, EINVAL, "otlp json: offset %lld: %s",
                        (long long)input_offset(dec, off),
                        json_tokener_error_desc(jerr));
  }
  for (; off < n; off++) {
    char ch = text[off];
    if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
      json_object_put(root);
      return oa_error_set(err, EINVAL,
                          "otlp json: offset %lld: data after the request",
                          (long long)input_offset(dec, off));
    }
  }
  if (!json_object_is_type(root, json_type_object)) {
    int rc = oa_error_set(err, EINVAL,
                          "otlp json: the request must be an object, got %s",
                          jtype_name(root));
    json_object_put(root);
    return rc;
  }

  jd c = {.dec = dec,
          .w = &dec->wire,
          .err = err,
          .rs = -1,
          .ss = -1,
          .sp = -1,
          .link = -1,
          .bad_link = -1};
  dec->wire.size = 0;
  dec->n_recs = 0;
  int rc = j_message(&c, root, &oa_jmsg_request, NULL);
  json_object_put(root);
  if (rc == ENOMEM || c.rc)
    return oa_error_set(err, ENOMEM, "otlp json: out of memory");
  if (rc) return rc;
  if (c.saturated) {
    int64_t at = find_int_overflow(text, n);
    if (at >= 0)
      return oa_error_set(err, EINVAL,
                          "otlp json: offset %lld: integer out of the 64-bit "
                          "range",
                          (long long)input_offset(dec, at));
  }

  rc = oa_otlp_decoder_decode(dec->pb, dec->wire.data, dec->wire.size, out,
                              result, err);
  if (rc) return oa_error_prefix(err, rc, "otlp json: ");
  if (result->rejected_spans) rewrite_result(dec, result);
  return 0;
}

int oa_otlp_decode_traces_json(const char *json, int64_t len,
                               const oa_otlp_options *opts, oa_batch *out,
                               oa_otlp_result *result, oa_error *err) {
  oa_otlp_json_decoder *dec = NULL;
  OA_RETURN_NOT_OK(oa_otlp_json_decoder_new(&dec, opts, err));
  if (!dec) return ENOMEM; /* unreachable: set whenever new succeeds */
  int rc = oa_otlp_json_decoder_decode(dec, json, len, out, result, err);
  oa_otlp_json_decoder_free(dec);
  return rc;
}
