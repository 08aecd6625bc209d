/* OTLP/JSON ExportTraceServiceRequest -> span batch.
 *
 * A streaming (pull) JSON parser reads the text once, strictly by RFC 8259,
 * and transcodes it, table-driven (json_table.c), straight into OTLP
 * protobuf wire bytes; no tree is built and nothing is allocated per value.
 * The protobuf decoder then fills the span builders from those bytes, so
 * the row building (validation, partial success, resource/scope grouping,
 * dictionaries) is the very code the protobuf path runs: the two formats
 * cannot drift apart, and the extra wire pass costs far less than the JSON
 * scan. Each message's fields are written in field-number order (JSON key
 * order is free: out-of-order fields are moved when the object closes) with
 * proto3 defaults left out (except inside AnyValue's oneof), so nested
 * AnyValue bytes (the kvlist and array union children) equal what a
 * protobuf serializer makes of the same request.
 *
 * Request-level errors (malformed JSON, wrong JSON types, out-of-range
 * numbers, bad base64) name the byte offset and the JSON path. Span-level
 * problems are left to the protobuf decoder: an id that is not hex is
 * written as a 1-byte id so that its span is rejected, and a lone \u
 * surrogate escape becomes the (invalid) UTF-8 encoding of the surrogate so
 * that UTF-8 validation rejects its span, as raw invalid UTF-8 in a known
 * string field does. The partial-success message is then rewritten to name
 * the JSON path of the rejected span. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "otlp/json_internal.h"

/* Offsets of the wire bytes stay well inside int64 and the protobuf
 * decoder's limits below this. */
#define OA_JSON_MAX_INPUT ((int64_t)INT32_MAX)

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
  int max_nesting;
  oa_bytes wire; /* the transcoded request */
  oa_bytes str;  /* a string with escapes, unescaped */
  oa_bytes tmp;  /* fields being put in field-number order */
  jrec *recs;
  int64_t n_recs, cap_recs;
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
  const uint8_t *s; /* the input */
  int64_t n, i;     /* its size, the cursor */
  int64_t vat;      /* where the value being converted starts */
  int depth, max_depth;
  const jpath *path; /* of the value being read, for syntax errors */
  int32_t rs, ss, sp, link;
  const char *bad_id; /* current span: first id that is not hex */
  int32_t bad_link;
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

/* "otlp json: offset N: <path>: why" (the value's offset) */
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
  return oa_error_set(c->err, EINVAL, "otlp json: offset %lld: %s: %s",
                      (long long)c->vat, path[0] ? path : "(request)", msg);
}

/* "otlp json: offset N: why (in <path>)" for malformed JSON at `at` */
static int syn_err(jd *c, int64_t at, const char *fmt, ...) OA_PRINTF(3, 4);
static int syn_err(jd *c, int64_t at, const char *fmt, ...) {
  char path[256], msg[OA_ERROR_SIZE];
  path[0] = 0;
  path_put(c->path, path, sizeof path, 0);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!path[0])
    return oa_error_set(c->err, EINVAL, "otlp json: offset %lld: %s",
                        (long long)at, msg);
  return oa_error_set(c->err, EINVAL, "otlp json: offset %lld: %s (in %s)",
                      (long long)at, msg, path);
}

static int nomem(jd *c) {
  c->rc = ENOMEM;
  return ENOMEM;
}

/* ------------------------------------------------------------ scanner */

static inline bool is_ws(uint8_t ch) {
  return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
}

/* The next significant byte (not consumed), -1 at the end. */
static inline int peek(jd *c) {
  while (c->i < c->n && is_ws(c->s[c->i]))
    c->i++;
  return c->i < c->n ? c->s[c->i] : -1;
}

static int unexpected(jd *c) {
  if (c->i >= c->n) return syn_err(c, c->n, "unexpected end of input");
  uint8_t ch = c->s[c->i];
  if (ch >= 0x20 && ch < 0x7f)
    return syn_err(c, c->i, "unexpected character '%c'", ch);
  return syn_err(c, c->i, "unexpected character (byte 0x%02x)", ch);
}

static inline int expect(jd *c, int ch) {
  if (OA_UNLIKELY(peek(c) != ch)) return unexpected(c);
  c->i++;
  return 0;
}

static inline int enter(jd *c) {
  if (OA_UNLIKELY(++c->depth > c->max_depth))
    return syn_err(c, c->i, "nesting too deep (more than %d levels)",
                   c->max_depth);
  c->i++;
  return 0;
}

/* Consumes true, false or null at the cursor; *b gets the boolean. */
static int read_literal(jd *c, bool *b) {
  static const char *const kLit[] = {"true", "false", "null"};
  const int ch = c->s[c->i];
  const char *lit = ch == 't' ? kLit[0] : ch == 'f' ? kLit[1] : kLit[2];
  const int64_t len = ch == 'f' ? 5 : 4;
  for (int64_t k = 0; k < len; k++) {
    if (c->i + k >= c->n) return syn_err(c, c->n, "unexpected end of input");
    if (c->s[c->i + k] != (uint8_t)lit[k]) {
      c->i += k;
      return unexpected(c);
    }
  }
  c->i += len;
  *b = ch == 't';
  return 0;
}

/* hex digit values, -1 for anything else */
static const int8_t kHex[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,
    9,  -1, -1, -1, -1, -1, -1, -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1};

static inline int hexval(int ch) { return kHex[(uint8_t)ch]; }

/* True when a word holds a '"', a '\\' or a byte below 0x20. */
static inline bool special8(uint64_t w) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
  uint64_t zq = (q - ones) & ~q, zb = (b - ones) & ~b;
  uint64_t lt = (w - ones * 0x20) & ~w;
  return ((zq | zb | lt) & high) != 0;
}

static inline uint8_t *put_utf8(uint8_t *p, uint32_t cp) {
  if (cp < 0x80) {
    *p++ = (uint8_t)cp;
  } else if (cp < 0x800) {
    *p++ = (uint8_t)(0xc0 | cp >> 6);
    *p++ = (uint8_t)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    /* surrogates too: a lone one stays invalid UTF-8 on purpose */
    *p++ = (uint8_t)(0xe0 | cp >> 12);
    *p++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    *p++ = (uint8_t)(0x80 | (cp & 0x3f));
  } else {
    *p++ = (uint8_t)(0xf0 | cp >> 18);
    *p++ = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    *p++ = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    *p++ = (uint8_t)(0x80 | (cp & 0x3f));
  }
  return p;
}

static bool hex4_at(const jd *c, int64_t at, uint32_t *cp) {
  if (at + 4 > c->n) return false;
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hexval(c->s[at + k]);
    if (h < 0) return false;
    v = v << 4 | (uint32_t)h;
  }
  *cp = v;
  return true;
}

/* Reads the string at the cursor (its opening quote). *out points into the
 * input when the string has no escapes, else into dec->str (valid until
 * the next string). check_utf8 rejects raw invalid UTF-8 (keys, skipped
 * values); the strings of known fields are checked by the protobuf
 * decoder, which rejects just the span holding a bad one. */
static int read_string(jd *c, const uint8_t **out, int64_t *len,
                       bool check_utf8) {
  const uint8_t *s = c->s;
  const int64_t n = c->n, start = c->i + 1;
  int64_t j = start;
#if defined(__SSE2__)
  /* 16 bytes at a time (SSE2 is in the x86-64 baseline) */
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                ctl = _mm_set1_epi8(0x1f);
  while (j + 16 <= n) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + j));
    __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
        _mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x));
    unsigned mask = (unsigned)_mm_movemask_epi8(hit);
    if (mask) {
      j += __builtin_ctz(mask);
      goto found;
    }
    j += 16;
  }
#endif
  while (j + 8 <= n) {
    uint64_t w;
    memcpy(&w, s + j, 8);
    if (special8(w)) break;
    j += 8;
  }
  while (j < n && s[j] != '"' && s[j] != '\\' && s[j] >= 0x20)
    j++;
#if defined(__SSE2__)
found:
#endif
  if (OA_UNLIKELY(j >= n)) return syn_err(c, n, "unexpected end of input");
  if (OA_LIKELY(s[j] == '"')) {
    if (check_utf8 && !oa_otlp_utf8_valid(s + start, j - start))
      return syn_err(c, start, "invalid UTF-8 in a string");
    *out = s + start;
    *len = j - start;
    c->i = j + 1;
    return 0;
  }
  if (s[j] < 0x20)
    return syn_err(c, j, "unescaped control character in a string");
  /* escapes: unescape into dec->str (never longer than the raw text) */
  oa_bytes *b = &c->dec->str;
  b->size = 0;
  int64_t end = j;
  while (end < n && s[end] != '"')
    end += s[end] == '\\' ? 2 : 1;
  if (end >= n) return syn_err(c, n, "unexpected end of input");
  if (check_utf8 && !oa_otlp_utf8_valid(s + start, end - start))
    return syn_err(c, start, "invalid UTF-8 in a string");
  if (oa_bytes_reserve(b, end - start + 8)) return nomem(c);
  uint8_t *p = b->data;
  memcpy(p, s + start, (size_t)(j - start));
  p += j - start;
  while (j < end) {
    uint8_t ch = s[j];
    if (ch != '\\') {
      if (ch < 0x20)
        return syn_err(c, j, "unescaped control character in a string");
      *p++ = ch;
      j++;
      continue;
    }
    uint8_t e = s[j + 1]; /* j + 1 < end: end only stops on a quote */
    switch (e) {
    case '"':
    case '\\':
    case '/':
      *p++ = e;
      break;
    case 'b':
      *p++ = '\b';
      break;
    case 'f':
      *p++ = '\f';
      break;
    case 'n':
      *p++ = '\n';
      break;
    case 'r':
      *p++ = '\r';
      break;
    case 't':
      *p++ = '\t';
      break;
    case 'u': {
      uint32_t cp, lo;
      if (!hex4_at(c, j + 2, &cp) || j + 6 > end)
        return syn_err(c, j, "invalid \\u escape");
      if (cp >= 0xd800 && cp <= 0xdbff && j + 12 <= end && s[j + 6] == '\\' &&
          s[j + 7] == 'u' && hex4_at(c, j + 8, &lo) && lo >= 0xdc00 &&
          lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        j += 6;
      }
      p = put_utf8(p, cp);
      j += 6;
      continue;
    }
    default:
      return syn_err(c, j, "invalid escape '\\%c'",
                     e >= 0x20 && e < 0x7f ? e : '?');
    }
    j += 2;
  }
  b->size = p - b->data;
  *out = b->data;
  *len = b->size;
  c->i = end + 1;
  return 0;
}

/* A number token: integers are exact when they fit in 64 bits. */
typedef struct jnum {
  int64_t at, len;
  uint64_t mag;
  bool neg, is_int, over;
} jnum;

static inline bool is_digit(int ch) { return ch >= '0' && ch <= '9'; }

static int read_number(jd *c, jnum *num) {
  const uint8_t *s = c->s;
  const int64_t n = c->n, at = c->i;
  int64_t j = at;
  num->at = at;
  num->neg = false;
  num->is_int = true;
  num->over = false;
  num->mag = 0;
  if (s[j] == '-') {
    num->neg = true;
    j++;
  }
  if (j >= n) return syn_err(c, n, "unexpected end of input");
  if (s[j] == '0') {
    j++;
  } else if (is_digit(s[j])) {
    uint64_t mag = 0;
    for (; j < n && is_digit(s[j]); j++) {
      unsigned d = (unsigned)(s[j] - '0');
      if (mag > (UINT64_MAX - d) / 10)
        num->over = true;
      else
        mag = mag * 10 + d;
    }
    num->mag = mag;
  } else {
    c->i = j;
    return unexpected(c);
  }
  if (j < n && s[j] == '.') {
    num->is_int = false;
    j++;
    if (j >= n || !is_digit(s[j])) {
      c->i = j;
      return unexpected(c);
    }
    while (j < n && is_digit(s[j]))
      j++;
  }
  if (j < n && (s[j] == 'e' || s[j] == 'E')) {
    num->is_int = false;
    j++;
    if (j < n && (s[j] == '+' || s[j] == '-')) j++;
    if (j >= n || !is_digit(s[j])) {
      c->i = j;
      return unexpected(c);
    }
    while (j < n && is_digit(s[j]))
      j++;
  }
  num->len = j - at;
  c->i = j;
  return 0;
}

/* strtod of a number token (JSON's number syntax is a subset of strtod's) */
static int num_double(jd *c, const jnum *num, double *out) {
  char small[64];
  char *buf = small;
  if (num->len >= (int64_t)sizeof small) {
    if (oa_bytes_reserve(&c->dec->str, num->len + 1)) return nomem(c);
    buf = (char *)c->dec->str.data;
  }
  memcpy(buf, c->s + num->at, (size_t)num->len);
  buf[num->len] = 0;
  *out = strtod(buf, NULL);
  return 0;
}

static int skip_value(jd *c);

static int skip_container(jd *c, bool object) {
  OA_RETURN_NOT_OK(enter(c));
  const int close = object ? '}' : ']';
  if (peek(c) == close) {
    c->i++;
    c->depth--;
    return 0;
  }
  for (;;) {
    if (object) {
      if (peek(c) != '"') return unexpected(c);
      const uint8_t *k;
      int64_t kn;
      OA_RETURN_NOT_OK(read_string(c, &k, &kn, true));
      OA_RETURN_NOT_OK(expect(c, ':'));
    }
    OA_RETURN_NOT_OK(skip_value(c));
    int ch = peek(c);
    if (ch == ',') {
      c->i++;
      continue;
    }
    if (ch == close) break;
    return unexpected(c);
  }
  c->i++;
  c->depth--;
  return 0;
}

/* Consumes any JSON value (an unknown field's), checking its syntax. */
static int skip_value(jd *c) {
  int ch = peek(c);
  switch (ch) {
  case '{':
    return skip_container(c, true);
  case '[':
    return skip_container(c, false);
  case '"': {
    const uint8_t *s;
    int64_t n;
    return read_string(c, &s, &n, true);
  }
  case 't':
  case 'f':
  case 'n': {
    bool b;
    return read_literal(c, &b);
  }
  default:
    if (ch == '-' || is_digit(ch)) {
      jnum num;
      return read_number(c, &num);
    }
    return unexpected(c);
  }
}

/* The JSON type a value starting with ch has (for messages), NULL when
 * no value can start with it. */
static const char *jtype_of(int ch) {
  switch (ch) {
  case '{':
    return "an object";
  case '[':
    return "an array";
  case '"':
    return "a string";
  case 't':
  case 'f':
    return "a boolean";
  case 'n':
    return "null";
  default:
    return ch == '-' || is_digit(ch) ? "a number" : NULL;
  }
}

/* A wrong JSON type: a syntax error when no value starts here at all. */
static int type_err(jd *c, const jpath *p, const char *want, int ch) {
  const char *got = jtype_of(ch);
  if (!got) return unexpected(c);
  return path_err(c, p, "%s, got %s", want, got);
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
    if (!n) return nomem(c);
    dec->recs = n;
    dec->cap_recs = cap;
  }
  dec->recs[dec->n_recs++] = *r;
  return 0;
}

/* The wire bytes of one JSON key's value, and the records made inside. */
typedef struct jrange {
  int64_t start, end, rec0, rec1;
  int field;
} jrange;

/* Puts the fields of a message written in JSON key order into field-number
 * order (rare: serializers write fields in .proto order). */
static int reorder(jd *c, jrange *rg, int n_rg, int64_t content0) {
  for (int a = 1; a < n_rg; a++) { /* stable insertion sort, n <= 16 */
    jrange x = rg[a];
    int b = a;
    for (; b > 0 && rg[b - 1].field > x.field; b--)
      rg[b] = rg[b - 1];
    rg[b] = x;
  }
  const int64_t len = c->w->size - content0;
  oa_bytes *t = &c->dec->tmp;
  t->size = 0;
  if (oa_bytes_append(t, c->w->data + content0, len)) return nomem(c);
  int64_t pos = content0;
  for (int k = 0; k < n_rg; k++) {
    const int64_t n = rg[k].end - rg[k].start;
    memcpy(c->w->data + pos, t->data + (rg[k].start - content0), (size_t)n);
    const int64_t delta = pos - rg[k].start;
    for (int64_t r = rg[k].rec0; r < rg[k].rec1; r++) {
      c->dec->recs[r].start += delta;
      c->dec->recs[r].end += delta;
    }
    pos += n;
  }
  return 0;
}

/* ------------------------------------------------------------- values */

static inline int b64val(int ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '+' || ch == '-') return 62;
  if (ch == '/' || ch == '_') return 63;
  return -1;
}

/* base64 (standard or URL-safe alphabet, padding optional) -> wire */
static int j_bytes(jd *c, const oa_jfield *f, const uint8_t *s, int64_t n,
                   const jpath *path) {
  int64_t m = n;
  while (m > 0 && n - m < 2 && s[m - 1] == '=')
    m--;
  if (m % 4 == 1 || (m != n && n % 4 != 0))
    return path_err(c, path, "invalid base64 (length %lld)", (long long)n);
  int64_t out_n = m / 4 * 3 + (m % 4 == 3 ? 2 : m % 4 == 2 ? 1 : 0);
  if (out_n == 0 && !(f->flags & OA_JF_ONEOF)) return 0;
  const int64_t at = c->w->size;
  uint8_t *p = w_len_head(c, f->num, out_n);
  if (!p) return c->rc;
  uint32_t acc = 0;
  int bits = 0;
  for (int64_t i = 0; i < m; i++) {
    int v = b64val(s[i]);
    if (v < 0) {
      c->w->size = at;
      return path_err(c, path, "invalid base64 character at %lld",
                      (long long)i);
    }
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
static void j_hexid(jd *c, const oa_jfield *f, const uint8_t *s, int64_t n) {
  if (n == 0) return; /* "" is absent */
  bool ok = n % 2 == 0;
  uint8_t *p = ok ? w_len_head(c, f->num, n / 2) : NULL;
  if (ok && !p) return;
  for (int64_t i = 0; ok && i < n; i += 2) {
    int hi = hexval(s[i]), lo = hexval(s[i + 1]);
    ok = (hi | lo) >= 0;
    if (ok) *p++ = (uint8_t)(hi << 4 | lo);
  }
  if (ok) {
    w_done(c, p);
    return;
  }
  if (!c->bad_id) {
    c->bad_id = f->json;
    c->bad_link = c->link;
  }
  p = w_len_head(c, f->num, 1);
  if (p) {
    *p = 0;
    w_done(c, p + 1);
  }
}

static int out_of_64(jd *c, const jpath *path) {
  char p[256];
  p[0] = 0;
  path_put(path, p, sizeof p, 0);
  return oa_error_set(c->err, EINVAL,
                      "otlp json: offset %lld: integer out of the 64-bit "
                      "range (%s)",
                      (long long)c->vat, p[0] ? p : "request");
}

/* A number token as a 64-bit integer: *neg set when it is negative (then
 * *u holds its two's complement). */
static int j_int_num(jd *c, const jnum *num, const jpath *path, bool *neg,
                     uint64_t *u) {
  *neg = false;
  *u = 0;
  if (num->is_int) {
    if (num->over || (num->neg && num->mag > (uint64_t)INT64_MAX + 1))
      return out_of_64(c, path);
    *neg = num->neg && num->mag != 0;
    *u = num->neg ? (uint64_t)0 - num->mag : num->mag;
    return 0;
  }
  double d;
  OA_RETURN_NOT_OK(num_double(c, num, &d));
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

/* A decimal string as a 64-bit integer (as j_int_num). */
static int j_int_str(jd *c, const uint8_t *s, int64_t n, const jpath *path,
                     bool *neg, uint64_t *u) {
  const int shown = n > 40 ? 40 : (int)n;
  int64_t i = 0;
  *neg = false;
  *u = 0;
  if (n > 0 && s[0] == '-') {
    *neg = true;
    i = 1;
  }
  if (i == n)
    return path_err(c, path, "\"%.*s\" is not an integer", shown,
                    (const char *)s);
  uint64_t mag = 0;
  for (; i < n; i++) {
    unsigned d = (unsigned)s[i] - '0';
    if (d > 9)
      return path_err(c, path, "\"%.*s\" is not an integer", shown,
                      (const char *)s);
    if (mag > (UINT64_MAX - d) / 10)
      return path_err(c, path, "\"%.*s\" is out of range", shown,
                      (const char *)s);
    mag = mag * 10 + d;
  }
  if (*neg) {
    if (mag > (uint64_t)INT64_MAX + 1)
      return path_err(c, path, "\"%.*s\" is out of range", shown,
                      (const char *)s);
    *u = (uint64_t)0 - mag;
    if (mag == 0) *neg = false;
  } else {
    *u = mag;
  }
  return 0;
}

static int j_double(jd *c, const jpath *path, double *out) {
  const int ch = peek(c);
  c->vat = c->i;
  if (ch == '-' || is_digit(ch)) {
    jnum num;
    OA_RETURN_NOT_OK(read_number(c, &num));
    if (num.is_int) {
      if (num.over || (num.neg && num.mag > (uint64_t)INT64_MAX + 1))
        return out_of_64(c, path);
      *out = num.neg ? -(double)num.mag : (double)num.mag;
      return 0;
    }
    OA_RETURN_NOT_OK(num_double(c, &num, out));
    if (!isfinite(*out))
      return path_err(c, path, "%.*s is out of range for a double",
                      num.len > 40 ? 40 : (int)num.len,
                      (const char *)c->s + num.at);
    return 0;
  }
  if (ch != '"')
    return type_err(c, path,
                    "expected a double (a number, \"NaN\", \"Infinity\" or "
                    "\"-Infinity\")",
                    ch);
  const uint8_t *s;
  int64_t n;
  OA_RETURN_NOT_OK(read_string(c, &s, &n, false));
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
  char buf[64];
  bool ok = n > 0 && n < 64;
  for (int64_t i = 0; ok && i < n; i++)
    ok = is_digit(s[i]) || s[i] == '-' || s[i] == '+' || s[i] == '.' ||
         s[i] == 'e' || s[i] == 'E';
  char *end = NULL;
  if (ok) {
    memcpy(buf, s, (size_t)n);
    buf[n] = 0;
    *out = strtod(buf, &end);
  }
  if (!ok || end != buf + n || !isfinite(*out))
    return path_err(c, path, "\"%.*s\" is not a double", n > 40 ? 40 : (int)n,
                    (const char *)s);
  return 0;
}

/* --------------------------------------------------------------- walk */

static int j_message(jd *c, const oa_jmsg *m, const jpath *path);

static int j_submessage(jd *c, const oa_jfield *f, const jpath *path,
                        int64_t idx) {
  const int ch = peek(c);
  c->vat = c->i;
  if (ch != '{') return type_err(c, path, "expected an object", ch);
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
  OA_RETURN_NOT_OK(j_message(c, f->msg, path));
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

static int j_integer(jd *c, const oa_jfield *f, const jpath *path, bool oneof,
                     bool neg, uint64_t u) {
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

static int j_single(jd *c, const oa_jfield *f, const jpath *path, int64_t idx) {
  const bool oneof = f->flags & OA_JF_ONEOF;
  if (f->type == OA_JT_MESSAGE) return j_submessage(c, f, path, idx);
  const int ch = peek(c);
  c->vat = c->i;
  const uint8_t *s;
  int64_t n;
  switch (f->type) {
  case OA_JT_STRING:
  case OA_JT_BYTES:
  case OA_JT_HEXID: {
    if (ch != '"')
      return type_err(c, path,
                      f->type == OA_JT_HEXID   ? "expected a hex string"
                      : f->type == OA_JT_BYTES ? "expected a base64 string"
                                               : "expected a string",
                      ch);
    OA_RETURN_NOT_OK(read_string(c, &s, &n, false));
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
    if (ch != 't' && ch != 'f')
      return type_err(c, path, "expected true or false", ch);
    bool b = false;
    OA_RETURN_NOT_OK(read_literal(c, &b));
    if (b || oneof) w_varint_field(c, f->num, b);
    return c->rc;
  }
  case OA_JT_DOUBLE: {
    double d = 0;
    OA_RETURN_NOT_OK(j_double(c, path, &d));
    uint64_t bits;
    memcpy(&bits, &d, 8);
    if (bits || oneof) w_fixed_field(c, f->num, bits, 8);
    return c->rc;
  }
  default:
    break;
  }
  bool neg;
  uint64_t u;
  if (ch == '"') {
    OA_RETURN_NOT_OK(read_string(c, &s, &n, false));
    if (f->type == OA_JT_ENUM) {
      for (int i = 0; i < f->n_enum; i++) {
        const char *name = f->enum_names[i];
        if ((int64_t)strlen(name) == n && memcmp(s, name, (size_t)n) == 0) {
          if (i) w_varint_field(c, f->num, (uint64_t)i);
          return c->rc;
        }
      }
      /* a number in a string is not an enum name */
      if (n == 0 || !(s[0] == '-' || is_digit(s[0])))
        return path_err(c, path, "unknown enum value \"%.*s\"",
                        n > 60 ? 60 : (int)n, (const char *)s);
    }
    OA_RETURN_NOT_OK(j_int_str(c, s, n, path, &neg, &u));
  } else if (ch == '-' || is_digit(ch)) {
    jnum num;
    OA_RETURN_NOT_OK(read_number(c, &num));
    OA_RETURN_NOT_OK(j_int_num(c, &num, path, &neg, &u));
  } else {
    return type_err(c, path,
                    "expected an integer (a number or a decimal string)", ch);
  }
  return j_integer(c, f, path, oneof, neg, u);
}

static int j_field(jd *c, const oa_jfield *f, const jpath *path) {
  if (!(f->flags & OA_JF_REPEATED)) return j_single(c, f, path, 0);
  int ch = peek(c);
  c->vat = c->i;
  if (ch != '[') return type_err(c, path, "expected an array", ch);
  OA_RETURN_NOT_OK(enter(c));
  if (peek(c) == ']') {
    c->i++;
    c->depth--;
    return 0;
  }
  for (int64_t k = 0;; k++) {
    jpath ep = {path->up, path->key, k};
    /* c->path is set back to path before any return */
    c->path = &ep; // cppcheck-suppress autoVariables
    int rc = peek(c) == 'n'
                 ? (c->vat = c->i,
                    path_err(c, &ep, "null is not allowed in an array"))
                 : j_single(c, f, &ep, k);
    c->path = path;
    if (rc) return rc;
    ch = peek(c);
    if (ch == ',') {
      c->i++;
      continue;
    }
    if (ch == ']') break;
    return unexpected(c);
  }
  c->i++;
  c->depth--;
  return 0;
}

static inline bool key_is(const char *name, const uint8_t *k, int64_t kn) {
  int64_t i = 0;
  for (; i < kn; i++)
    if ((uint8_t)name[i] != k[i] || !name[i]) return false;
  return name[i] == 0;
}

/* Serializers write the fields in one order (mostly .proto order): the
 * search starts at the field after the previous key's. */
static inline int find_field(const oa_jmsg *m, const uint8_t *k, int64_t kn,
                             int from) {
  if (kn == 0) return -1;
  const int nf = m->n_fields;
  for (int t = 0, i = from < nf ? from : 0; t < nf;
       t++, i = i + 1 < nf ? i + 1 : 0) {
    const oa_jfield *f = &m->fields[i];
    if (k[0] == (uint8_t)f->json[0] && key_is(f->json, k, kn)) return i;
    if (f->proto != f->json && k[0] == (uint8_t)f->proto[0] &&
        key_is(f->proto, k, kn))
      return i;
  }
  return -1;
}

/* Reads the object at the cursor as message m; known fields go to the wire
 * (in field-number order), unknown ones are checked and skipped, null is
 * absent. */
static int j_message(jd *c, const oa_jmsg *m, const jpath *path) {
  OA_RETURN_NOT_OK(enter(c));
  uint32_t seen = 0;
  int oneof = -1;
  jrange rg[OA_JMSG_MAX_FIELDS];
  int n_rg = 0;
  bool sorted = true;
  int next = 0;
  const int64_t content0 = c->w->size;
  if (peek(c) == '}') {
    c->i++;
    c->depth--;
    return 0;
  }
  for (;;) {
    if (peek(c) != '"') return unexpected(c);
    const uint8_t *k;
    int64_t kn;
    OA_RETURN_NOT_OK(read_string(c, &k, &kn, true));
    OA_RETURN_NOT_OK(expect(c, ':'));
    const int fi = find_field(m, k, kn, next);
    if (fi >= 0) next = fi + 1;
    int ch = peek(c);
    if (fi < 0) {
      OA_RETURN_NOT_OK(skip_value(c));
    } else if (ch == 'n') {
      bool b;
      OA_RETURN_NOT_OK(read_literal(c, &b)); /* null: absent */
    } else {
      const oa_jfield *f = &m->fields[fi];
      jpath fp = {path, f->json, -1};
      c->vat = c->i;
      if (seen & (1u << fi))
        return path_err(c, &fp, "given twice (as \"%s\" or \"%s\")", f->json,
                        f->proto);
      if (f->flags & OA_JF_ONEOF) {
        if (oneof >= 0)
          return path_err(c, &fp, "%s has more than one value (also \"%s\")",
                          m->name, m->fields[oneof].json);
        oneof = fi;
      }
      seen |= 1u << fi;
      const int64_t st = c->w->size, r0 = c->dec->n_recs;
      c->path = &fp; // cppcheck-suppress autoVariables
      int rc = j_field(c, f, &fp);
      c->path = path; /* never left pointing at this frame */
      if (rc) return rc;
      if (c->rc) return c->rc;
      if (c->w->size > st) {
        if (n_rg && rg[n_rg - 1].field > fi) sorted = false;
        rg[n_rg++] = (jrange){st, c->w->size, r0, c->dec->n_recs, fi};
      }
    }
    ch = peek(c);
    if (ch == ',') {
      c->i++;
      continue;
    }
    if (ch == '}') break;
    return unexpected(c);
  }
  c->i++;
  c->depth--;
  if (!sorted) return reorder(c, rg, n_rg, content0);
  return 0;
}

/* ------------------------------------------------------------- decoder */

void oa_otlp_json_decoder_free(oa_otlp_json_decoder *dec) {
  if (!dec) return;
  oa_otlp_decoder_free(dec->pb);
  oa_bytes_reset(&dec->wire);
  oa_bytes_reset(&dec->str);
  oa_bytes_reset(&dec->tmp);
  free(dec->recs);
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
  oa_bytes_init(&dec->str);
  oa_bytes_init(&dec->tmp);
  int rc = oa_otlp_decoder_new(&dec->pb, &dec->opts, err);
  if (rc) {
    oa_otlp_json_decoder_free(dec);
    return rc;
  }
  /* Room for AnyValues nested past max_depth (3 JSON levels per array or
   * kvlist level, about 10 above the outermost value), so that such a span
   * is rejected and counted by the protobuf decoder rather than failing the
   * request; capped to bound the parser's recursion. */
  int64_t depth = 4 * (int64_t)dec->opts.max_depth + 32;
  if (depth < 64) depth = 64;
  if (depth > 1024) depth = 1024;
  dec->max_nesting = (int)depth;
  *out = dec;
  return 0;
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
  if (len > OA_JSON_MAX_INPUT)
    return oa_error_set(err, E2BIG,
                        "otlp json: request of %lld bytes is over the %lld "
                        "byte limit",
                        (long long)len, (long long)OA_JSON_MAX_INPUT);
  if (!json) json = "";

  jd c = {.dec = dec,
          .w = &dec->wire,
          .err = err,
          .s = (const uint8_t *)json,
          .n = len,
          .max_depth = dec->max_nesting,
          .rs = -1,
          .ss = -1,
          .sp = -1,
          .link = -1,
          .bad_link = -1};
  dec->wire.size = 0;
  dec->n_recs = 0;
  /* the wire bytes are about half the JSON: one reservation up front */
  if (oa_bytes_reserve(&dec->wire, len / 2 + 64))
    return oa_error_set(err, ENOMEM, "otlp json: out of memory");
  const int ch = peek(&c);
  int rc;
  if (ch != '{') {
    const char *got = jtype_of(ch);
    rc = got ? oa_error_set(err, EINVAL,
                            "otlp json: offset %lld: the request must be an "
                            "object, got %s",
                            (long long)c.i, got)
             : unexpected(&c);
  } else {
    rc = j_message(&c, &oa_jmsg_request, NULL);
  }
  if (c.rc) return oa_error_set(err, ENOMEM, "otlp json: out of memory");
  if (rc) return rc;
  if (peek(&c) >= 0)
    return oa_error_set(err, EINVAL,
                        "otlp json: offset %lld: data after the request",
                        (long long)c.i);

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
