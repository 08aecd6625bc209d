/* OTLP protobuf ExportTraceServiceRequest -> span batch.
 *
 * The wire format is decoded straight into the column builders. Every span is
 * first validated over its bytes (pass 1: wire format, id lengths, UTF-8,
 * nesting and limits, scalar fields collected) and only then appended (pass
 * 2), so a rejected span never leaves a partial row behind. Resource and
 * scope values are appended once per ResourceSpans/ScopeSpans to dictionary
 * values indexed by resource_id/scope_id. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "arrow/internal.h"
#include "otlp/otlp_build.h"
#include "otlp/otlp_internal.h"

#if defined(__GNUC__)
#define NOINLINE_ __attribute__((noinline))
#define ALWAYS_INLINE_ inline __attribute__((always_inline))
#else
#define NOINLINE_
#define ALWAYS_INLINE_ inline
#endif

/* One KeyValue of a span, event or link, recorded by pass 1 so that pass 2
 * appends it without parsing the wire bytes again. */
typedef struct kv_rec {
  const uint8_t *key, *d; /* d: str/bytes payload, or the whole AnyValue */
  int64_t key_len, n;     /* for arrays and kvlists (their union child) */
  uint64_t v;             /* int, bool or double bits */
  int32_t key_idx;        /* the key's dictionary index when known, else -1 */
  uint8_t type;           /* oa_attr_type */
} kv_rec;

typedef struct kv_list {
  kv_rec *a;
  int64_t n, cap;
  int64_t nbytes; /* sum of the records' n: bounds their payload bytes */
  uint32_t types; /* bit t set: a record of type t */
} kv_list;

typedef struct ev_rec {
  uint64_t time;
  const uint8_t *name;
  int64_t name_len, kv0, nkv, nbytes;
  uint32_t dropped;
  uint32_t types; /* as kv_list.types, of this event's attributes */
} ev_rec;

typedef struct lk_rec {
  const uint8_t *tid, *sid, *ts;
  int64_t ts_len, kv0, nkv, nbytes;
  uint32_t flags, dropped;
  uint32_t types; /* as kv_list.types, of this link's attributes */
} lk_rec;

/* A direct-mapped cache in front of a dictionary's hash table (dtab):
 * a hit costs one cheap hash and one memcmp against the dictionary value.
 * Entries of an older generation (an earlier batch) are stale. */
#define DCACHE_SIZE 2048
typedef struct dcache_ent {
  uint64_t h;
  const uint8_t *key; /* where the value was last seen in this input */
  int64_t len;
  uint32_t gen;
  int32_t idx;
} dcache_ent;
#define DCACHE_SUCC 256
typedef struct dcache {
  dcache_ent e[DCACHE_SIZE];
  /* the key last seen first in an attribute list (pred[0]) and after the key
   * of index i (pred[1 + i % DCACHE_SUCC]): spans of a kind repeat their
   * keys in the same order, and spans of several kinds interleave */
  dcache_ent pred[1 + DCACHE_SUCC];
} dcache;

enum { DC_NAME, DC_ATTR_KEY, DC_EVENT_NAME, DC_EVENT_KEY, DC_LINK_KEY, DC_N };

/* The decoder's own hash table of a dictionary's values (open addressing;
 * the values are the dictionary builder's, compared through its offsets).
 * It replaces the builder's table for these dictionaries (no generic
 * append dispatch, no clearing pass: entries of older batches are stale by
 * gen): a batch's new values, hundreds per request whatever its size, were
 * a large part of a small request's fixed cost. */
typedef struct dtab_ent {
  uint32_t h, gen; /* gen: the batch it belongs to (else empty) */
  int32_t idx;
} dtab_ent;
typedef struct dtab {
  dtab_ent *e;
  int64_t cap, n; /* cap: a power of two */
} dtab;

/* A valid Resource message of an earlier request and what v_resource
 * recorded for it, pointers kept as offsets into the copy (-1: kNothing).
 * Clients send the same resources in every request; one that matches byte
 * for byte skips its validation (a fixed cost per request: ~20 attributes
 * per resource, one resource per service). */
#define RES_MEMO 32
#define RES_MEMO_MAX_BYTES 4096
#define RES_MEMO_MAX_KVS 128
typedef struct res_memo {
  uint8_t *bytes; /* NULL: empty entry */
  int64_t len;
  uint64_t h;
  kv_rec *kvs; /* key and d as offsets (cast) */
  int64_t n_kvs, nbytes;
  uint32_t types, dropped;
  int64_t svc_off, svc_len; /* svc_off -1: no service.name string */
} res_memo;

struct oa_otlp_decoder {
  oa_otlp_options opts;
  oa_schema *schema;
  bool direct[OA_SPAN_N_COLUMNS]; /* built row by row by b[c] */
  oa_builder b[OA_SPAN_N_COLUMNS];
  /* dictionary values of the per-resource / per-scope columns */
  oa_field res_attrs_f, res_url_f, res_refs_f;
  oa_field sc_name_f, sc_version_f, sc_attrs_f, sc_url_f;
  oa_builder res_attrs, res_url, res_refs;
  oa_builder sc_name, sc_version, sc_attrs, sc_url;
  int32_t n_resources, n_scopes;
  /* pass 1 records of the current span */
  kv_list span_kvs, sub_kvs; /* span attributes; event and link attributes */
  kv_list res_kvs;           /* attributes of the current resource */
  kv_list sc_kvs;            /* attributes of the current scope */
  ev_rec *evs;
  lk_rec *lks;
  int64_t n_evs, cap_evs, n_lks, cap_lks;
  /* dictionary caches; gen changes with every batch */
  uint32_t gen;
  dcache *dc[DC_N];
  oa_builder *dc_b[DC_N];
  dtab tab[DC_N];
  res_memo memo[RES_MEMO];
  /* buffer sizes of the previous batch, to reserve the next one up front */
  int64_t *hints;
  int64_t n_hints;
  int64_t hint_input; /* input bytes of the batch the hints come from */
  double hint_scale;  /* this input's size / hint_input */
  /* buffers taken back by oa_otlp_decoder_recycle, one per hint slot;
   * reserve_for gives them to the builders that fit */
  oa_otlp_spares spares;
  int64_t slot[OA_SPAN_N_COLUMNS]; /* first hint slot of each column */
};

/* ------------------------------------------------------------- context */

typedef struct dctx {
  oa_otlp_decoder *dec;
  const uint8_t *base;
  oa_error *err;
  bool careful; /* pre-scan every ScopeSpans (see do_scope_spans) */
  /* the unit being validated has a semantic error (first message kept) */
  bool bad;
  char bad_msg[OA_ERROR_SIZE];
} dctx;

static int wire_err(dctx *c, const uint8_t *p, const char *fmt, ...)
    OA_PRINTF(3, 4);
static int wire_err(dctx *c, const uint8_t *p, const char *fmt, ...) {
  char msg[OA_ERROR_SIZE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return oa_error_set(c->err, EINVAL, "otlp protobuf: offset %lld: %s",
                      (long long)(p - c->base), msg);
}

static void sem_err(dctx *c, const uint8_t *p, const char *fmt, ...)
    OA_PRINTF(3, 4);
static void sem_err(dctx *c, const uint8_t *p, const char *fmt, ...) {
  if (c->bad) return;
  c->bad = true;
  char msg[OA_ERROR_SIZE - 40];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(c->bad_msg, sizeof c->bad_msg, "offset %lld: %s",
           (long long)(p - c->base), msg);
}

static const char *wt_name(int wt) {
  switch (wt) {
  case OA_PB_VARINT:
    return "varint";
  case OA_PB_I64:
    return "i64";
  case OA_PB_LEN:
    return "length-delimited";
  case OA_PB_I32:
    return "i32";
  default:
    return "group/invalid";
  }
}

/* oa_pb_varint with the 1- and 2-byte cases (tags, lengths, most ints)
 * decoded without a loop */
static ALWAYS_INLINE_ bool pb_varint(const uint8_t **pp, const uint8_t *end,
                                     uint64_t *out) {
  const uint8_t *p = *pp;
  if (OA_LIKELY(end - p >= 2)) {
    if (p[0] < 0x80) {
      *out = p[0];
      *pp = p + 1;
      return true;
    }
    if (p[1] < 0x80) {
      *out = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
      *pp = p + 2;
      return true;
    }
  }
  return oa_pb_varint(pp, end, out);
}

/* Reads the next tag. */
static inline int next_tag(dctx *c, const uint8_t **pp, const uint8_t *end,
                           const char *msg, uint32_t *field, int *wt) {
  uint64_t tag;
  const uint8_t *at = *pp;
  *field = 0;
  *wt = 0;
  if (OA_UNLIKELY(!pb_varint(pp, end, &tag)))
    return wire_err(c, at, "%s: truncated or overlong tag varint", msg);
  if (OA_UNLIKELY(tag > UINT32_MAX || (tag >> 3) == 0))
    return wire_err(c, at, "%s: invalid field number %llu", msg,
                    (unsigned long long)(tag >> 3));
  *field = (uint32_t)(tag >> 3);
  *wt = (int)(tag & 7);
  return 0;
}

static inline int expect_wt(dctx *c, const uint8_t *p, int wt, int want,
                            const char *msg, const char *field) {
  if (OA_LIKELY(wt == want)) return 0;
  return wire_err(c, p, "field '%s.%s': wire type %d (%s), expected %s", msg,
                  field, wt, wt_name(wt), wt_name(want));
}

static inline int read_varint(dctx *c, const uint8_t **pp, const uint8_t *end,
                              const char *msg, const char *field, uint64_t *v) {
  const uint8_t *at = *pp;
  if (OA_UNLIKELY(!pb_varint(pp, end, v)))
    return wire_err(c, at, "field '%s.%s': truncated or overlong varint", msg,
                    field);
  return 0;
}

static inline int read_len(dctx *c, const uint8_t **pp, const uint8_t *end,
                           const char *msg, const char *field,
                           const uint8_t **data, int64_t *len) {
  uint64_t n;
  const uint8_t *at = *pp;
  *data = *pp;
  *len = 0;
  if (OA_UNLIKELY(!pb_varint(pp, end, &n)))
    return wire_err(c, at, "field '%s.%s': truncated or overlong length", msg,
                    field);
  if (OA_UNLIKELY(n > (uint64_t)(end - *pp)))
    return wire_err(c, at,
                    "field '%s.%s': length %llu past the end of its message "
                    "(%lld bytes left)",
                    msg, field, (unsigned long long)n, (long long)(end - *pp));
  *data = *pp;
  *len = (int64_t)n;
  *pp += n;
  return 0;
}

static inline int read_fixed(dctx *c, const uint8_t **pp, const uint8_t *end,
                             int size, const char *msg, const char *field,
                             uint64_t *v) {
  *v = 0;
  if (OA_UNLIKELY(end - *pp < size))
    return wire_err(c, *pp, "field '%s.%s': truncated %d-byte value", msg,
                    field, size);
  *v = size == 8 ? oa_pb_load64(*pp) : oa_pb_load32(*pp);
  *pp += size;
  return 0;
}

/* Skips an unknown field's value. */
static int skip_value(dctx *c, const uint8_t **pp, const uint8_t *end,
                      const char *msg, uint32_t field, int wt) {
  uint64_t v;
  const uint8_t *d;
  int64_t n;
  switch (wt) {
  case OA_PB_VARINT:
    return read_varint(c, pp, end, msg, "(unknown)", &v);
  case OA_PB_I64:
    return read_fixed(c, pp, end, 8, msg, "(unknown)", &v);
  case OA_PB_I32:
    return read_fixed(c, pp, end, 4, msg, "(unknown)", &v);
  case OA_PB_LEN:
    return read_len(c, pp, end, msg, "(unknown)", &d, &n);
  default:
    return wire_err(c, *pp, "%s: field %u has unsupported wire type %d", msg,
                    field, wt);
  }
}

#define TAG_LOOP_BEGIN(c, p, end, msg)                                         \
  while ((p) < (end)) {                                                        \
    uint32_t fld_;                                                             \
    int wt_;                                                                   \
    const uint8_t *at_ = (p);                                                  \
    OA_RETURN_NOT_OK(next_tag((c), &(p), (end), (msg), &fld_, &wt_));          \
    switch (fld_) {

/* TAG_LOOP_BEGIN with a statement run before each field (it may consume
 * fields itself, and must leave p <= end) */
#define TAG_LOOP_BEGIN_PRE(c, p, end, msg, pre)                                \
  while ((p) < (end)) {                                                        \
    uint32_t fld_;                                                             \
    int wt_;                                                                   \
    pre;                                                                       \
    if ((p) >= (end)) break;                                                   \
    const uint8_t *at_ = (p);                                                  \
    OA_RETURN_NOT_OK(next_tag((c), &(p), (end), (msg), &fld_, &wt_));          \
    switch (fld_) {

#define TAG_LOOP_END(c, p, end, msg)                                           \
  default:                                                                     \
    OA_RETURN_NOT_OK(skip_value((c), &(p), (end), (msg), fld_, wt_));          \
    }                                                                          \
    (void)at_;                                                                 \
    }

#define FIELD_LEN(c, p, end, msg, name, d, n)                                  \
  OA_RETURN_NOT_OK(expect_wt((c), at_, wt_, OA_PB_LEN, (msg), (name)));        \
  OA_RETURN_NOT_OK(read_len((c), &(p), (end), (msg), (name), &(d), &(n)))
#define FIELD_VARINT(c, p, end, msg, name, v)                                  \
  OA_RETURN_NOT_OK(expect_wt((c), at_, wt_, OA_PB_VARINT, (msg), (name)));     \
  OA_RETURN_NOT_OK(read_varint((c), &(p), (end), (msg), (name), &(v)))
#define FIELD_FIXED(c, p, end, msg, name, size, v)                             \
  OA_RETURN_NOT_OK(expect_wt(                                                  \
      (c), at_, wt_, (size) == 8 ? OA_PB_I64 : OA_PB_I32, (msg), (name)));     \
  OA_RETURN_NOT_OK(read_fixed((c), &(p), (end), (size), (msg), (name), &(v)))

/* ------------------------------------------------------ pass 1: validate */

static NOINLINE_ void v_utf8_slow(dctx *c, const uint8_t *d, int64_t n,
                                  const char *what) {
  if (!oa_otlp_utf8_valid(d, n)) sem_err(c, d, "%s: invalid UTF-8", what);
}

static inline void v_utf8(dctx *c, const uint8_t *d, int64_t n,
                          const char *what) {
  if (c->dec->opts.check_utf8 && OA_UNLIKELY(!oa_otlp_ascii_only(d, n)))
    v_utf8_slow(c, d, n, what);
}

static int v_kv(dctx *c, const uint8_t *p, const uint8_t *end, int depth,
                const char *where, kv_rec *r);

static int v_anyvalue(dctx *c, const uint8_t *p, const uint8_t *end, int depth,
                      const char *where, kv_rec *r);

/* ArrayValue (arr) or KeyValueList: repeated field 1 */
static int v_container(dctx *c, const uint8_t *p, const uint8_t *end, bool arr,
                       int depth, const char *where) {
  const char *msg = arr ? "ArrayValue" : "KeyValueList";
  const uint8_t *e;
  int64_t en;
  TAG_LOOP_BEGIN(c, p, end, msg)
case 1:
  FIELD_LEN(c, p, end, msg, "values", e, en);
  if (arr)
    OA_RETURN_NOT_OK(v_anyvalue(c, e, e + en, depth, where, NULL));
  else
    OA_RETURN_NOT_OK(v_kv(c, e, e + en, depth, where, NULL));
  break;
  TAG_LOOP_END(c, p, end, msg)
  return 0;
}

/* Validates an AnyValue; r (top level only) records the oneof member that
 * wins (the last one on the wire). */
static int v_anyvalue(dctx *c, const uint8_t *p, const uint8_t *end, int depth,
                      const char *where, kv_rec *r) {
  const uint8_t *d, *start = p;
  int64_t n;
  uint64_t v;
  if (r) r->type = OA_ATTR_EMPTY;
  TAG_LOOP_BEGIN(c, p, end, "AnyValue")
case 1:
  FIELD_LEN(c, p, end, "AnyValue", "string_value", d, n);
  v_utf8(c, d, n, where);
  if (r) {
    r->type = OA_ATTR_STR;
    r->d = d;
    r->n = n;
  }
  break;
case 2:
  FIELD_VARINT(c, p, end, "AnyValue", "bool_value", v);
  if (r) {
    r->type = OA_ATTR_BOOL;
    r->v = v;
  }
  break;
case 3:
  FIELD_VARINT(c, p, end, "AnyValue", "int_value", v);
  if (r) {
    r->type = OA_ATTR_INT;
    r->v = v;
  }
  break;
case 4:
  FIELD_FIXED(c, p, end, "AnyValue", "double_value", 8, v);
  if (r) {
    r->type = OA_ATTR_DOUBLE;
    r->v = v;
  }
  break;
case 7:
  FIELD_LEN(c, p, end, "AnyValue", "bytes_value", d, n);
  if (r) {
    r->type = OA_ATTR_BYTES;
    r->d = d;
    r->n = n;
  }
  break;
case 5:
case 6: {
  bool arr = fld_ == 5;
  FIELD_LEN(c, p, end, "AnyValue", arr ? "array_value" : "kvlist_value", d, n);
  if (r) {
    /* the whole AnyValue message goes to the kvlist or array child */
    r->type = arr ? OA_ATTR_ARRAY : OA_ATTR_KVLIST;
    r->d = start;
    r->n = end - start;
  }
  if (depth + 1 > c->dec->opts.max_depth) {
    /* not inspected further: the span is rejected anyway */
    sem_err(c, d, "%s: values nested deeper than %d levels", where,
            c->dec->opts.max_depth);
    break;
  }
  OA_RETURN_NOT_OK(v_container(c, d, d + n, arr, depth + 1, where));
  break;
}
  TAG_LOOP_END(c, p, end, "AnyValue")
  return 0;
}

static const uint8_t kNothing[1] = {0};

static int v_kv(dctx *c, const uint8_t *p, const uint8_t *end, int depth,
                const char *where, kv_rec *r) {
  const uint8_t *d;
  int64_t n;
  if (r) {
    r->key = r->d = kNothing;
    r->key_len = r->n = 0;
    r->v = 0;
    r->key_idx = -1;
    r->type = OA_ATTR_EMPTY;
  }
  TAG_LOOP_BEGIN(c, p, end, "KeyValue")
case 1:
  FIELD_LEN(c, p, end, "KeyValue", "key", d, n);
  v_utf8(c, d, n, where);
  if (r) {
    r->key = d;
    r->key_len = n;
  }
  break;
case 2:
  FIELD_LEN(c, p, end, "KeyValue", "value", d, n);
  OA_RETURN_NOT_OK(v_anyvalue(c, d, d + n, depth, where, r));
  break;
  TAG_LOOP_END(c, p, end, "KeyValue")
  return 0;
}

static int scratch_oom(dctx *c) {
  return oa_error_set(c->err, ENOMEM, "otlp protobuf: out of memory");
}

static int grow(dctx *c, void **a, int64_t *cap, size_t elem) {
  int64_t ncap = *cap ? *cap * 2 : 64;
  void *na = realloc(*a, (size_t)ncap * elem);
  if (!na) return scratch_oom(c);
  *a = na;
  *cap = ncap;
  return 0;
}

static inline uint64_t cheap_hash(const uint8_t *p, int64_t n) {
  uint64_t a = 0, b = 0, m = 0;
  if (n >= 8) {
    memcpy(&a, p, 8);
    memcpy(&b, p + n - 8, 8);
    if (n > 16) memcpy(&m, p + n / 2 - 4, 8);
  } else if (n >= 4) {
    a = oa_pb_load32(p);
    b = oa_pb_load32(p + n - 4);
  } else if (n > 0) {
    a = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
  }
  uint64_t h = (a ^ ((uint64_t)n << 56)) * 0x9E3779B97F4A7C15ull;
  h ^= (b + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
  h ^= m * 0x165667B19E3779F9ull;
  return h ^ (h >> 29);
}

/* The dictionary index of key if a cache knows it (-1 otherwise). Entries
 * point into this input (gen changes with every decode), so a hit compares
 * bytes that are hot in the cache; pos >= 0 is the position in an attribute
 * list, tried first without hashing. */
static inline int32_t dict_lookup(oa_otlp_decoder *dec, int which,
                                  const uint8_t *key, int64_t len, int64_t pos,
                                  int32_t prev) {
  dcache *dc = dec->dc[which];
  dcache_ent *pe = pos == 0    ? &dc->pred[0]
                   : prev >= 0 ? &dc->pred[1 + (prev & (DCACHE_SUCC - 1))]
                               : NULL;
  /* a hit moves the entry to this occurrence: the next comparison then
   * reads recent bytes, not a line far back in the input. (The entry stays
   * valid whatever becomes of this span: the key is in the dictionary at
   * that index.) */
  if (pe && pe->gen == dec->gen && pe->len == len &&
      oa_otlp_eq_bytes(pe->key, key, len)) {
    pe->key = key;
    return pe->idx;
  }
  uint64_t h = cheap_hash(key, len);
  dcache_ent *e = &dc->e[(h >> 20) & (DCACHE_SIZE - 1)];
  /* dc is never NULL (allocated by init); the analyzer infers it might be
   * from the pe test above, pe being NULL by design when there is no
   * predecessor. */
  // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
  if (e->gen == dec->gen && e->h == h && e->len == len &&
      oa_otlp_eq_bytes(e->key, key, len)) {
    e->key = key;
    if (pe) *pe = *e;
    return e->idx;
  }
  return -1;
}

/* The KeyValue layout every SDK writes: key (1-byte length), then a value
 * holding exactly one scalar member (1-byte lengths). Returns false, having
 * changed nothing that matters, for anything else: the generic path then
 * decodes (and reports errors) as usual. */
static ALWAYS_INLINE_ bool fast_kv(dctx *c, const uint8_t *p,
                                   const uint8_t *end, const char *where,
                                   kv_rec *r, int which, int64_t pos,
                                   int32_t prev) {
  if (end - p < 4 || p[0] != 0x0a || p[1] >= 0x80) return false;
  const uint8_t *key = p + 2;
  int64_t key_len = p[1];
  p = key + key_len;
  if (end - p < 3 || p[0] != 0x12 || p[1] >= 0x80 || p[1] != end - p - 2)
    return false;
  p += 2;
  /* p..end is the AnyValue, at least one byte */
  uint8_t tag = p[0];
  const uint8_t *q = p + 1;
  uint64_t v = 0;
  switch (tag) {
  case 0x0a: /* string_value */
  case 0x3a: /* bytes_value */
    if (q >= end || q[0] >= 0x80 || q[0] != end - q - 1) return false;
    r->d = q + 1;
    r->n = q[0];
    r->type = tag == 0x0a ? OA_ATTR_STR : OA_ATTR_BYTES;
    if (tag == 0x0a) v_utf8(c, r->d, r->n, where);
    break;
  case 0x10: /* bool_value */
  case 0x18: /* int_value */
    if (!pb_varint(&q, end, &v) || q != end) return false;
    r->v = v;
    r->n = 0;
    r->type = tag == 0x10 ? OA_ATTR_BOOL : OA_ATTR_INT;
    break;
  case 0x21: /* double_value */
    if (end - q != 8) return false;
    r->v = oa_pb_load64(q);
    r->n = 0;
    r->type = OA_ATTR_DOUBLE;
    break;
  default:
    return false;
  }
  r->key = key;
  r->key_len = key_len;
  /* a key already in the dictionary was validated when it went in */
  r->key_idx =
      which >= 0 ? dict_lookup(c->dec, which, key, key_len, pos, prev) : -1;
  if (r->key_idx < 0) v_utf8(c, key, key_len, where);
  return true;
}

/* One element of a repeated KeyValue field; counts it against the limit and
 * records it in rec (NULL: resource and scope, appended from the wire). */
static ALWAYS_INLINE_ int v_attr(dctx *c, const uint8_t *d, int64_t n,
                                 int64_t *count, const char *where,
                                 kv_list *rec, int which) {
  if (++*count == c->dec->opts.max_attributes + 1)
    sem_err(c, d, "%s: more than %lld attributes", where,
            (long long)c->dec->opts.max_attributes);
  kv_rec *r = NULL;
  if (rec) {
    if (OA_UNLIKELY(rec->n == rec->cap))
      OA_RETURN_NOT_OK(grow(c, (void **)&rec->a, &rec->cap, sizeof *rec->a));
    r = &rec->a[rec->n++];
    /* the previous key of this list, for the successor cache */
    int32_t prev = *count > 1 ? rec->a[rec->n - 2].key_idx : -1;
    if (OA_LIKELY(fast_kv(c, d, d + n, where, r, which, *count - 1, prev))) {
      rec->nbytes += r->n;
      rec->types |= 1u << r->type;
      return 0;
    }
  }
  OA_RETURN_NOT_OK(v_kv(c, d, d + n, 0, where, r));
  if (rec) {
    rec->nbytes += r->n;
    rec->types |= 1u << r->type;
  }
  return 0;
}

static int v_event(dctx *c, const uint8_t *p, const uint8_t *end) {
  oa_otlp_decoder *dec = c->dec;
  if (OA_UNLIKELY(dec->n_evs == dec->cap_evs))
    OA_RETURN_NOT_OK(
        grow(c, (void **)&dec->evs, &dec->cap_evs, sizeof *dec->evs));
  ev_rec *ev = &dec->evs[dec->n_evs++];
  memset(ev, 0, sizeof *ev);
  ev->name = kNothing;
  ev->kv0 = dec->sub_kvs.n;
  int64_t nb0 = dec->sub_kvs.nbytes;
  dec->sub_kvs.types = 0;
  const uint8_t *d;
  int64_t n, count = 0;
  uint64_t v;
  /* attributes of 1-byte length (tag 0x1a): see v_span */
  TAG_LOOP_BEGIN_PRE(
      c, p, end, "Span.Event",
      while (end - p >= 2 && p[0] == 0x1a && p[1] < 0x80 &&
             p[1] <= end - p - 2) {
        d = p + 2;
        n = p[1];
        p = d + n;
        OA_RETURN_NOT_OK(v_attr(c, d, n, &count, "event attributes",
                                &dec->sub_kvs, DC_EVENT_KEY));
      })
case 1:
  FIELD_FIXED(c, p, end, "Span.Event", "time_unix_nano", 8, v);
  ev->time = v;
  break;
case 2:
  FIELD_LEN(c, p, end, "Span.Event", "name", d, n);
  v_utf8(c, d, n, "event name");
  ev->name = d;
  ev->name_len = n;
  break;
case 3:
  FIELD_LEN(c, p, end, "Span.Event", "attributes", d, n);
  OA_RETURN_NOT_OK(
      v_attr(c, d, n, &count, "event attributes", &dec->sub_kvs, DC_EVENT_KEY));
  break;
case 4:
  FIELD_VARINT(c, p, end, "Span.Event", "dropped_attributes_count", v);
  ev->dropped = (uint32_t)v;
  break;
  TAG_LOOP_END(c, p, end, "Span.Event")
  ev->nkv = dec->sub_kvs.n - ev->kv0;
  ev->nbytes = dec->sub_kvs.nbytes - nb0;
  ev->types = dec->sub_kvs.types;
  return 0;
}

static int v_link(dctx *c, const uint8_t *p, const uint8_t *end) {
  oa_otlp_decoder *dec = c->dec;
  if (OA_UNLIKELY(dec->n_lks == dec->cap_lks))
    OA_RETURN_NOT_OK(
        grow(c, (void **)&dec->lks, &dec->cap_lks, sizeof *dec->lks));
  lk_rec *lk = &dec->lks[dec->n_lks++];
  memset(lk, 0, sizeof *lk);
  lk->ts = kNothing;
  lk->kv0 = dec->sub_kvs.n;
  int64_t nb0 = dec->sub_kvs.nbytes;
  dec->sub_kvs.types = 0;
  const uint8_t *d;
  int64_t n, count = 0;
  uint64_t v;
  int64_t tid = 0, sid = 0;
  const uint8_t *start = p;
  TAG_LOOP_BEGIN(c, p, end, "Span.Link")
case 1:
  FIELD_LEN(c, p, end, "Span.Link", "trace_id", d, n);
  tid = n;
  lk->tid = d;
  break;
case 2:
  FIELD_LEN(c, p, end, "Span.Link", "span_id", d, n);
  sid = n;
  lk->sid = d;
  break;
case 3:
  FIELD_LEN(c, p, end, "Span.Link", "trace_state", d, n);
  v_utf8(c, d, n, "link trace_state");
  lk->ts = d;
  lk->ts_len = n;
  break;
case 4:
  FIELD_LEN(c, p, end, "Span.Link", "attributes", d, n);
  OA_RETURN_NOT_OK(
      v_attr(c, d, n, &count, "link attributes", &dec->sub_kvs, DC_LINK_KEY));
  break;
case 5:
  FIELD_VARINT(c, p, end, "Span.Link", "dropped_attributes_count", v);
  lk->dropped = (uint32_t)v;
  break;
case 6:
  FIELD_FIXED(c, p, end, "Span.Link", "flags", 4, v);
  lk->flags = (uint32_t)v;
  break;
  TAG_LOOP_END(c, p, end, "Span.Link")
  lk->nkv = dec->sub_kvs.n - lk->kv0;
  lk->nbytes = dec->sub_kvs.nbytes - nb0;
  lk->types = dec->sub_kvs.types;
  if (tid != 16)
    sem_err(c, start, "link trace_id is %lld bytes, expected 16",
            (long long)tid);
  if (sid != 8)
    sem_err(c, start, "link span_id is %lld bytes, expected 8", (long long)sid);
  return 0;
}

typedef struct span_info {
  const uint8_t *trace_id, *span_id, *parent;
  int64_t trace_id_len, span_id_len, parent_len;
  const uint8_t *trace_state, *name, *status_msg;
  int64_t trace_state_len, name_len, status_msg_len;
  uint64_t start, end;
  int32_t kind, status_code;
  uint32_t flags, dropped_attrs, dropped_events, dropped_links;
} span_info;

static int v_status(dctx *c, const uint8_t *p, const uint8_t *end,
                    span_info *s) {
  const uint8_t *d;
  int64_t n;
  uint64_t v;
  /* a repeated Status field merges: later values replace earlier ones */
  TAG_LOOP_BEGIN(c, p, end, "Status")
case 2:
  FIELD_LEN(c, p, end, "Status", "message", d, n);
  v_utf8(c, d, n, "status message");
  s->status_msg = d;
  s->status_msg_len = n;
  break;
case 3:
  FIELD_VARINT(c, p, end, "Status", "code", v);
  s->status_code = (int32_t)(uint32_t)v;
  break;
  TAG_LOOP_END(c, p, end, "Status")
  return 0;
}

static int v_span(dctx *c, const uint8_t *p, const uint8_t *end, span_info *s) {
  static const uint8_t kEmpty[1] = {0};
  const uint8_t *start = p, *d;
  int64_t n, n_attrs = 0, n_events = 0, n_links = 0;
  uint64_t v;
  /* field by field: a struct copy or memset of this size compiles to a
   * slow rep stos */
  s->trace_id = s->span_id = s->parent = NULL;
  s->trace_id_len = s->span_id_len = s->parent_len = 0;
  s->trace_state = s->name = s->status_msg = kEmpty;
  s->trace_state_len = s->name_len = s->status_msg_len = 0;
  s->start = s->end = 0;
  s->kind = s->status_code = 0;
  s->flags = s->dropped_attrs = s->dropped_events = s->dropped_links = 0;
  c->dec->span_kvs.n = c->dec->sub_kvs.n = 0;
  c->dec->span_kvs.nbytes = c->dec->sub_kvs.nbytes = 0;
  c->dec->span_kvs.types = 0;
  c->dec->n_evs = c->dec->n_lks = 0;
  const oa_otlp_options *o = &c->dec->opts;
  /* The fields every SDK writes first, in field order with 1-byte tags and
   * lengths, are taken without the generic loop (anything else, and every
   * later field, goes through it: the result is the same). */
  if (end - p >= 18 && p[0] == 0x0a && p[1] == 16) { /* trace_id */
    s->trace_id = p + 2;
    s->trace_id_len = 16;
    p += 18;
  }
  if (end - p >= 10 && p[0] == 0x12 && p[1] == 8) { /* span_id */
    s->span_id = p + 2;
    s->span_id_len = 8;
    p += 10;
  }
  if (end - p >= 10 && p[0] == 0x22 && p[1] == 8) { /* parent_span_id */
    s->parent = p + 2;
    s->parent_len = 8;
    p += 10;
  }
  if (end - p >= 2 && p[0] == 0x2a && p[1] < 0x80 &&
      p[1] <= end - p - 2) { /* name */
    s->name = p + 2;
    s->name_len = p[1];
    p += 2 + p[1];
    v_utf8(c, s->name, s->name_len, "span name");
  }
  if (end - p >= 2 && p[0] == 0x30 && p[1] < 0x80) { /* kind */
    s->kind = p[1];
    p += 2;
  }
  if (end - p >= 9 && p[0] == 0x39) { /* start_time_unix_nano */
    s->start = oa_pb_load64(p + 1);
    p += 9;
  }
  if (end - p >= 9 && p[0] == 0x41) { /* end_time_unix_nano */
    s->end = oa_pb_load64(p + 1);
    p += 9;
  }
  /* runs of attributes of 1-byte length (tag 0x4a) skip the generic tag
   * and length decoding: they are most of a span's fields */
  TAG_LOOP_BEGIN_PRE(
      c, p, end, "Span", while (end - p >= 3 && p[0] == 0x4a) {
        if (p[1] < 0x80) {
          n = p[1];
          d = p + 2;
        } else if (p[2] < 0x80) { /* long values (URLs, statements) */
          n = (p[1] & 0x7f) | (int64_t)p[2] << 7;
          d = p + 3;
        } else {
          break;
        }
        if (n > end - d) break;
        p = d + n;
        OA_RETURN_NOT_OK(v_attr(c, d, n, &n_attrs, "span attributes",
                                &c->dec->span_kvs, DC_ATTR_KEY));
      })
case 1:
  FIELD_LEN(c, p, end, "Span", "trace_id", s->trace_id, s->trace_id_len);
  break;
case 2:
  FIELD_LEN(c, p, end, "Span", "span_id", s->span_id, s->span_id_len);
  break;
case 3:
  FIELD_LEN(c, p, end, "Span", "trace_state", s->trace_state,
            s->trace_state_len);
  v_utf8(c, s->trace_state, s->trace_state_len, "span trace_state");
  break;
case 4:
  FIELD_LEN(c, p, end, "Span", "parent_span_id", s->parent, s->parent_len);
  break;
case 5:
  FIELD_LEN(c, p, end, "Span", "name", s->name, s->name_len);
  v_utf8(c, s->name, s->name_len, "span name");
  break;
case 6:
  FIELD_VARINT(c, p, end, "Span", "kind", v);
  s->kind = (int32_t)(uint32_t)v;
  break;
case 7:
  FIELD_FIXED(c, p, end, "Span", "start_time_unix_nano", 8, s->start);
  break;
case 8:
  FIELD_FIXED(c, p, end, "Span", "end_time_unix_nano", 8, s->end);
  break;
case 9:
  FIELD_LEN(c, p, end, "Span", "attributes", d, n);
  OA_RETURN_NOT_OK(v_attr(c, d, n, &n_attrs, "span attributes",
                          &c->dec->span_kvs, DC_ATTR_KEY));
  break;
case 10:
  FIELD_VARINT(c, p, end, "Span", "dropped_attributes_count", v);
  s->dropped_attrs = (uint32_t)v;
  break;
case 11:
  FIELD_LEN(c, p, end, "Span", "events", d, n);
  if (++n_events == o->max_events + 1)
    sem_err(c, d, "span has more than %lld events", (long long)o->max_events);
  OA_RETURN_NOT_OK(v_event(c, d, d + n));
  break;
case 12:
  FIELD_VARINT(c, p, end, "Span", "dropped_events_count", v);
  s->dropped_events = (uint32_t)v;
  break;
case 13:
  FIELD_LEN(c, p, end, "Span", "links", d, n);
  if (++n_links == o->max_links + 1)
    sem_err(c, d, "span has more than %lld links", (long long)o->max_links);
  OA_RETURN_NOT_OK(v_link(c, d, d + n));
  break;
case 14:
  FIELD_VARINT(c, p, end, "Span", "dropped_links_count", v);
  s->dropped_links = (uint32_t)v;
  break;
case 15:
  FIELD_LEN(c, p, end, "Span", "status", d, n);
  OA_RETURN_NOT_OK(v_status(c, d, d + n, s));
  break;
case 16:
  FIELD_FIXED(c, p, end, "Span", "flags", 4, v);
  s->flags = (uint32_t)v;
  break;
  TAG_LOOP_END(c, p, end, "Span")
  if (s->trace_id_len != 16)
    sem_err(c, start, "span trace_id is %lld bytes, expected 16",
            (long long)s->trace_id_len);
  if (s->span_id_len != 8)
    sem_err(c, start, "span span_id is %lld bytes, expected 8",
            (long long)s->span_id_len);
  if (s->parent_len != 0 && s->parent_len != 8)
    sem_err(c, start, "span parent_span_id is %lld bytes, expected 0 or 8",
            (long long)s->parent_len);
  return 0;
}

typedef struct group_info {
  const uint8_t *msg; /* Resource or InstrumentationScope, NULL if absent */
  int64_t msg_len;
  const uint8_t *url;
  int64_t url_len;
  const uint8_t *svc; /* resource: service.name string value */
  int64_t svc_len;
  int32_t svc_idx; /* its service_name dictionary index, -1 until known */
  const uint8_t *name, *version; /* scope: NULL when absent */
  int64_t name_len, version_len;
  uint32_t dropped;
  int32_t id; /* -1 until its first span is appended */
  bool bad;
  char bad_msg[OA_ERROR_SIZE];
} group_info;

/* service.name if the recorded KeyValue is that key: its value when a
 * string, else none (the last such KeyValue wins) */
static inline void service_name_of(const kv_rec *r, group_info *g) {
  if (r->key_len != 12 || memcmp(r->key, "service.name", 12) != 0) return;
  g->svc = r->type == OA_ATTR_STR ? r->d : NULL;
  g->svc_len = r->type == OA_ATTR_STR ? r->n : 0;
}

static int v_entity_ref(dctx *c, const uint8_t *p, const uint8_t *end) {
  const uint8_t *d;
  int64_t n;
  TAG_LOOP_BEGIN(c, p, end, "EntityRef")
case 1:
case 2:
case 3:
case 4:
  FIELD_LEN(c, p, end, "EntityRef", "string", d, n);
  v_utf8(c, d, n, "resource entity_refs");
  break;
  TAG_LOOP_END(c, p, end, "EntityRef")
  return 0;
}

static int v_resource(dctx *c, group_info *g) {
  const uint8_t *p = g->msg, *end = g->msg + g->msg_len, *d;
  int64_t n, count = 0;
  uint64_t v;
  TAG_LOOP_BEGIN(c, p, end, "Resource")
case 1:
  FIELD_LEN(c, p, end, "Resource", "attributes", d, n);
  OA_RETURN_NOT_OK(
      v_attr(c, d, n, &count, "resource attributes", &c->dec->res_kvs, -1));
  service_name_of(&c->dec->res_kvs.a[c->dec->res_kvs.n - 1], g);
  break;
case 2:
  FIELD_VARINT(c, p, end, "Resource", "dropped_attributes_count", v);
  g->dropped = (uint32_t)v;
  break;
case 3:
  FIELD_LEN(c, p, end, "Resource", "entity_refs", d, n);
  OA_RETURN_NOT_OK(v_entity_ref(c, d, d + n));
  break;
  TAG_LOOP_END(c, p, end, "Resource")
  return 0;
}

static int v_scope(dctx *c, group_info *g) {
  const uint8_t *p = g->msg, *end = g->msg + g->msg_len, *d;
  int64_t n, count = 0;
  uint64_t v;
  kv_list *kvs = &c->dec->sc_kvs;
  kvs->n = kvs->nbytes = 0;
  kvs->types = 0;
  TAG_LOOP_BEGIN(c, p, end, "InstrumentationScope")
case 1:
case 2:
  FIELD_LEN(c, p, end, "InstrumentationScope", fld_ == 1 ? "name" : "version",
            d, n);
  v_utf8(c, d, n, fld_ == 1 ? "scope name" : "scope version");
  if (fld_ == 1) {
    g->name = d;
    g->name_len = n;
  } else {
    g->version = d;
    g->version_len = n;
  }
  break;
case 3:
  FIELD_LEN(c, p, end, "InstrumentationScope", "attributes", d, n);
  OA_RETURN_NOT_OK(
      v_attr(c, d, n, &count, "scope attributes", &c->dec->sc_kvs, -1));
  break;
case 4:
  FIELD_VARINT(c, p, end, "InstrumentationScope", "dropped_attributes_count",
               v);
  g->dropped = (uint32_t)v;
  break;
  TAG_LOOP_END(c, p, end, "InstrumentationScope")
  return 0;
}

/* ------------------------------------------- pass 2: append (validated) */

/* Field iteration over bytes already validated by pass 1. */
typedef struct pbf {
  uint32_t field;
  int wt;
  const uint8_t *d; /* LEN payload */
  int64_t n;
  uint64_t v; /* varint / fixed value */
} pbf;

static inline bool next_field(const uint8_t **pp, const uint8_t *end, pbf *f) {
  if (*pp >= end) return false;
  uint64_t tag = 0;
  oa_pb_varint(pp, end, &tag);
  f->field = (uint32_t)(tag >> 3);
  f->wt = (int)(tag & 7);
  switch (f->wt) {
  case OA_PB_VARINT:
    oa_pb_varint(pp, end, &f->v);
    break;
  case OA_PB_I64:
    f->v = oa_pb_load64(*pp);
    *pp += 8;
    break;
  case OA_PB_I32:
    f->v = oa_pb_load32(*pp);
    *pp += 4;
    break;
  default: {
    uint64_t n = 0;
    oa_pb_varint(pp, end, &n);
    f->d = *pp;
    f->n = (int64_t)n;
    *pp += n;
  }
  }
  return true;
}

/* ---- inline appends for pass 2. The builders' types are fixed by the span
 * schema, so the generic type dispatch is skipped; the rare cases (first
 * null of a builder allocates its bitmap, a buffer must grow) take the
 * generic out-of-line path. */

static inline bool can_null(const oa_builder *b) {
  return b->validity.data && (b->length >> 3) + 1 <= b->validity.capacity;
}

/* null in a fixed-width column of w bytes */
static inline int null_fixed(oa_builder *b, int w) {
  if (OA_UNLIKELY(!can_null(b) || b->values.size + w > b->values.capacity))
    return oa_builder_append_null(b);
  oa_bit_clear(b->validity.data, b->length);
  b->null_count++;
  memset(b->values.data + b->values.size, 0, (size_t)w);
  b->values.size += w;
  b->length++;
  return 0;
}

/* closes a struct element (its children were appended) */
static inline int struct_valid(oa_builder *b) {
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  b->length++;
  return 0;
}

static NOINLINE_ int dtab_grow(dtab *t, uint32_t gen) {
  int64_t cap = t->cap ? t->cap * 2 : 1024;
  dtab_ent *e = calloc((size_t)cap, sizeof *e); /* gen 0: never current */
  if (!e) return ENOMEM;
  for (int64_t i = 0; i < t->cap; i++) {
    if (t->e[i].gen != gen) continue;
    int64_t pos = t->e[i].h & (cap - 1);
    while (e[pos].gen == gen)
      pos = (pos + 1) & (cap - 1);
    e[pos] = t->e[i];
  }
  free(t->e);
  t->e = e;
  t->cap = cap;
  return 0;
}

/* A hash of every byte (cheap_hash samples at most 24 bytes: values that
 * differ elsewhere, e.g. URL paths, would share a probe chain). */
static uint64_t full_hash(const uint8_t *p, int64_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
  for (; n >= 8; n -= 8, p += 8) {
    h = (h ^ oa_pb_load64(p)) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 31;
  }
  uint64_t t = 0;
  for (int64_t i = 0; i < n; i++)
    t |= (uint64_t)p[i] << (8 * i);
  /* a full avalanche: the table indexes by the low bits, and the last
   * bytes (where values like "resource17" differ) come in last */
  h ^= t;
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  return h ^ (h >> 33);
}

/* Index of key in the dictionary of b (whose values are b->dict_values),
 * adding it if new. */
static NOINLINE_ int dtab_find_add(dtab *t, uint32_t gen, oa_builder *b,
                                   const uint8_t *key, int64_t len,
                                   int32_t *out) {
  uint64_t h = full_hash(key, len);
  if (OA_UNLIKELY((t->n + 1) * 2 > t->cap) && dtab_grow(t, gen)) return ENOMEM;
  oa_builder *v = b->dict_values;
  const uint8_t *offs = v->values.data, *data = v->data.data;
  /* (the position comes from the stored bits too: dtab_grow moves entries
   * by them) */
  uint32_t h32 = (uint32_t)(h >> 32);
  int64_t mask = t->cap - 1, pos = (int64_t)(h32 & (uint64_t)mask);
  for (; t->e[pos].gen == gen; pos = (pos + 1) & mask) {
    if (t->e[pos].h != h32) continue;
    int32_t k = t->e[pos].idx, o0, o1;
    memcpy(&o0, offs + (int64_t)k * 4, 4);
    memcpy(&o1, offs + (int64_t)k * 4 + 4, 4);
    if (o1 - o0 == len && oa_otlp_eq_bytes(data + o0, key, len)) {
      *out = k;
      return 0;
    }
  }
  if (v->length >= INT32_MAX || v->data.size + len > INT32_MAX) return E2BIG;
  int rc = oa_builder_append_str_fast(v, len ? key : kNothing, len);
  if (rc) return rc;
  t->e[pos].h = h32;
  t->e[pos].gen = gen;
  t->e[pos].idx = (int32_t)(v->length - 1);
  t->n++;
  *out = t->e[pos].idx;
  return 0;
}

/* Dictionary append through the decoder's cache (attribute keys only come
 * here when pass 1 did not find them: the position caches are skipped). */
static inline int dict_append(oa_otlp_decoder *dec, int which,
                              const uint8_t *key, int64_t len) {
  oa_builder *b = dec->dc_b[which];
  dcache *dc = dec->dc[which];
  /* entries point into this input (gen changes with every decode), so a
   * hit compares bytes that are hot in the cache */
  uint64_t h = cheap_hash(key, len);
  dcache_ent *e = &dc->e[(h >> 20) & (DCACHE_SIZE - 1)];
  int32_t idx;
  if (e->gen == dec->gen && e->h == h && e->len == len &&
      oa_otlp_eq_bytes(e->key, key, len)) {
    idx = e->idx;
    e->key = key; /* (see dict_lookup) */
  } else {
    OA_RETURN_NOT_OK(
        dtab_find_add(&dec->tab[which], dec->gen, b, key, len, &idx));
    e->h = h;
    e->key = key;
    e->len = len;
    e->gen = dec->gen;
    e->idx = idx;
  }
  return oa_otlp_dict_index(b, idx);
}

/* ---- attribute values: a dense union whose child index is the type code
 * (oa_attr_type). An append writes the value into that child, then the type
 * code into the union's values and the value's row in the child (int32) into
 * its data. */

/* Appends one value of type t (d/n: string, bytes or AnyValue bytes; v: int,
 * bool or double bits) to the union builder vb. */
static inline int a_value(oa_builder *vb, int t, const uint8_t *d, int64_t n,
                          uint64_t v) {
  oa_builder *c = &vb->children[t];
  int64_t row = c->length;
  int rc;
  switch (t) {
  case OA_ATTR_STR:
  case OA_ATTR_KVLIST:
  case OA_ATTR_ARRAY:
  case OA_ATTR_BYTES:
    rc = oa_builder_append_str_fast(c, d, n);
    break;
  case OA_ATTR_INT:
  case OA_ATTR_DOUBLE:
    rc = oa_builder_append_u64_fast(c, v);
    break;
  case OA_ATTR_BOOL:
    rc = oa_otlp_bool_append(c, v != 0);
    break;
  default: /* the null-type child */
    c->length++;
    c->null_count++;
    rc = 0;
    break;
  }
  if (rc) return rc;
  if (OA_UNLIKELY(row > INT32_MAX)) return E2BIG;
  int32_t off = (int32_t)row;
  uint8_t code = (uint8_t)t;
  if ((rc = oa_bytes_append(&vb->values, &code, 1))) return rc;
  if ((rc = oa_bytes_append(&vb->data, &off, 4))) return rc;
  vb->length++;
  return 0;
}

/* ---- bulk attribute appends: room for a whole list is reserved once, then
 * the union and its children are written without per-value checks. */

/* A column's write state held in locals for a bulk loop (the compiler can
 * keep it in registers: stores into the buffers cannot alias it). */
typedef struct wcol {
  uint8_t *val, *dat;
  int64_t vs, ds, len;
} wcol;

static inline wcol wcol_load(const oa_builder *b) {
  wcol c = {b->values.data, b->data.data, b->values.size, b->data.size,
            b->length};
  return c;
}

static inline void wcol_store(const wcol *c, oa_builder *b) {
  b->values.size = c->vs;
  b->data.size = c->ds;
  b->length = c->len;
}

/* The union children hold no nulls (no validity bitmap): values only. Each
 * returns the row it wrote. */
/* memcpy of n > 0 bytes; up to 32 bytes (most values) with two overlapping
 * loads and stores instead of a call */
static ALWAYS_INLINE_ void copy_short(uint8_t *dst, const uint8_t *src,
                                      int64_t n) {
  if (n >= 8 && n <= 32) {
    if (n >= 16) {
      uint64_t a0 = oa_pb_load64(src), a1 = oa_pb_load64(src + 8);
      uint64_t b0 = oa_pb_load64(src + n - 16), b1 = oa_pb_load64(src + n - 8);
      memcpy(dst, &a0, 8);
      memcpy(dst + 8, &a1, 8);
      memcpy(dst + n - 16, &b0, 8);
      memcpy(dst + n - 8, &b1, 8);
    } else {
      uint64_t a = oa_pb_load64(src), b = oa_pb_load64(src + n - 8);
      memcpy(dst, &a, 8);
      memcpy(dst + n - 8, &b, 8);
    }
  } else if (n >= 4 && n < 8) {
    uint32_t a = oa_pb_load32(src), b = oa_pb_load32(src + n - 4);
    memcpy(dst, &a, 4);
    memcpy(dst + n - 4, &b, 4);
  } else {
    memcpy(dst, src, (size_t)n);
  }
}

static inline int32_t put_str(wcol *c, const uint8_t *d, int64_t n) {
  if (n) { /* (the data buffer may not exist yet when n is 0) */
    copy_short(c->dat + c->ds, d, n);
    c->ds += n;
  }
  int32_t end = (int32_t)c->ds;
  memcpy(c->val + c->vs, &end, 4);
  c->vs += 4;
  return (int32_t)c->len++;
}

static inline int32_t put_u64(wcol *c, uint64_t v) {
  memcpy(c->val + c->vs, &v, 8);
  c->vs += 8;
  return (int32_t)c->len++;
}

static inline int32_t put_bool(wcol *c, bool v) {
  if ((c->len & 7) == 0) c->val[c->vs++] = 0;
  if (v) oa_bit_set(c->val, c->len);
  return (int32_t)c->len++;
}

/* Reserves room for n more attribute values in the union vb; false when the
 * bulk path cannot be used (a child with a bitmap, a column near its
 * limit). */
static bool bulk_reserve(oa_builder *vb, const kv_rec *r, int64_t n) {
  oa_builder *ch = vb->children;
  if (n > INT32_MAX) return false;
  int64_t cnt[OA_ATTR_VALUE_N] = {0}, len[OA_ATTR_VALUE_N] = {0};
  for (int64_t i = 0; i < n; i++) {
    int t = r[i].type;
    if (t >= OA_ATTR_VALUE_N) return false;
    cnt[t]++;
    if (t == OA_ATTR_STR || t == OA_ATTR_BYTES || t == OA_ATTR_ARRAY ||
        t == OA_ATTR_KVLIST)
      len[t] += r[i].n;
  }
  if (ch[OA_ATTR_VALUE_EMPTY].length + cnt[OA_ATTR_VALUE_EMPTY] > INT32_MAX)
    return false;
  for (int k = OA_ATTR_VALUE_STR; k < OA_ATTR_VALUE_N; k++) {
    if (!cnt[k]) continue;
    oa_builder *b = &ch[k];
    if (b->validity.data || b->length + cnt[k] > INT32_MAX) return false;
    int64_t w = k == OA_ATTR_VALUE_INT || k == OA_ATTR_VALUE_DOUBLE ? 8
                : k == OA_ATTR_VALUE_BOOL                           ? 0
                                                                    : 4;
    if (w == 0) {
      if (oa_bytes_reserve(&b->values, cnt[k] / 8 + 2)) return false;
    } else if (oa_bytes_reserve(&b->values, cnt[k] * w)) {
      return false;
    }
    if (w == 4 && (b->data.size + len[k] > INT32_MAX ||
                   oa_bytes_reserve(&b->data, len[k])))
      return false;
  }
  return oa_bytes_reserve(&vb->values, n) == 0 &&
         oa_bytes_reserve(&vb->data, n * 4) == 0;
}

static inline bool has_room(const oa_bytes *b, int64_t n) {
  return b->size + n <= b->capacity;
}

/* True when the buffers already have room for n values of any types whose
 * payloads total at most nbytes, a bound taken without looking at the
 * records. It does not grow them (bulk_reserve then counts exactly): growth
 * from a bound would over-allocate the last buffers of a batch, which a
 * recycled buffer of the previous batch's exact size then no longer fits. */
static inline bool bulk_reserve_bound(oa_builder *vb, int64_t n, int64_t nbytes,
                                      uint32_t types) {
  oa_builder *ch = vb->children;
  if (n > INT32_MAX || nbytes > INT32_MAX ||
      ch[OA_ATTR_VALUE_EMPTY].length + n > INT32_MAX)
    return false;
  /* only the children of the types present (types: a superset) */
  for (int k = OA_ATTR_VALUE_STR; k < OA_ATTR_VALUE_N; k++) {
    if (!((types >> k) & 1)) continue;
    oa_builder *b = &ch[k];
    int64_t w = k == OA_ATTR_VALUE_INT || k == OA_ATTR_VALUE_DOUBLE ? n * 8
                : k == OA_ATTR_VALUE_BOOL                           ? n / 8 + 2
                                                                    : n * 4;
    if (b->validity.data || b->length + n > INT32_MAX ||
        !has_room(&b->values, w))
      return false;
    if (k == OA_ATTR_VALUE_STR || k >= OA_ATTR_VALUE_KVLIST) {
      if (b->data.size + nbytes > INT32_MAX || !has_room(&b->data, nbytes))
        return false;
    }
  }
  return has_room(&vb->values, n) && has_room(&vb->data, n * 4);
}

static int a_attrs_bulk(oa_otlp_decoder *dec, oa_builder *mb, int key_dc,
                        const kv_rec *r, int64_t n) {
  oa_builder *entries = &mb->children[0];
  oa_builder *vb = &entries->children[1];
  oa_builder *ch = vb->children;
  if (key_dc < 0) {
    /* plain keys (resource and scope attributes), room reserved by the
     * caller */
    wcol keys = wcol_load(&entries->children[0]);
    for (int64_t i = 0; i < n; i++)
      put_str(&keys, r[i].key, r[i].key_len);
    wcol_store(&keys, &entries->children[0]);
  }
  oa_builder *kb = key_dc < 0 ? NULL : dec->dc_b[key_dc];
  if (!kb) {
  } else if (!kb->validity.data && oa_bytes_reserve(&kb->values, n * 4) == 0) {
    /* known keys (most) are written directly, runs of them with the
     * write position in locals */
    for (int64_t i = 0; i < n;) {
      if (OA_LIKELY(r[i].key_idx >= 0)) {
        uint8_t *kd = kb->values.data;
        int64_t ks = kb->values.size, i0 = i;
        for (; i < n && r[i].key_idx >= 0; i++, ks += 4)
          memcpy(kd + ks, &r[i].key_idx, 4);
        kb->values.size = ks;
        kb->length += i - i0;
      } else {
        OA_RETURN_NOT_OK(dict_append(dec, key_dc, r[i].key, r[i].key_len));
        i++;
      }
    }
  } else {
    for (int64_t i = 0; i < n; i++)
      OA_RETURN_NOT_OK(r[i].key_idx >= 0
                           ? oa_otlp_dict_index(kb, r[i].key_idx)
                           : dict_append(dec, key_dc, r[i].key, r[i].key_len));
  }
  uint8_t *codes = vb->values.data + vb->values.size;
  uint8_t *offs = vb->data.data + vb->data.size;
  int64_t empty = ch[OA_ATTR_VALUE_EMPTY].length;
  wcol str = wcol_load(&ch[OA_ATTR_VALUE_STR]);
  wcol i64 = wcol_load(&ch[OA_ATTR_VALUE_INT]);
  wcol dbl = wcol_load(&ch[OA_ATTR_VALUE_DOUBLE]);
  wcol bo = wcol_load(&ch[OA_ATTR_VALUE_BOOL]);
  wcol kvl = wcol_load(&ch[OA_ATTR_VALUE_KVLIST]);
  wcol arr = wcol_load(&ch[OA_ATTR_VALUE_ARRAY]);
  wcol by = wcol_load(&ch[OA_ATTR_VALUE_BYTES]);
  for (int64_t i = 0; i < n; i++, r++) {
    int32_t row;
    switch (r->type) {
    case OA_ATTR_STR:
      row = put_str(&str, r->d, r->n);
      break;
    case OA_ATTR_INT:
      row = put_u64(&i64, r->v);
      break;
    case OA_ATTR_DOUBLE:
      row = put_u64(&dbl, r->v);
      break;
    case OA_ATTR_BOOL:
      row = put_bool(&bo, r->v != 0);
      break;
    case OA_ATTR_KVLIST:
      row = put_str(&kvl, r->d, r->n);
      break;
    case OA_ATTR_ARRAY:
      row = put_str(&arr, r->d, r->n);
      break;
    case OA_ATTR_BYTES:
      row = put_str(&by, r->d, r->n);
      break;
    default: /* OA_ATTR_EMPTY (bulk_reserve saw every type) */
      row = (int32_t)empty++;
      break;
    }
    codes[i] = r->type;
    memcpy(offs + i * 4, &row, 4);
  }
  oa_builder *e = &ch[OA_ATTR_VALUE_EMPTY];
  e->null_count += empty - e->length;
  e->length = empty;
  wcol_store(&str, &ch[OA_ATTR_VALUE_STR]);
  wcol_store(&i64, &ch[OA_ATTR_VALUE_INT]);
  wcol_store(&dbl, &ch[OA_ATTR_VALUE_DOUBLE]);
  wcol_store(&bo, &ch[OA_ATTR_VALUE_BOOL]);
  wcol_store(&kvl, &ch[OA_ATTR_VALUE_KVLIST]);
  wcol_store(&arr, &ch[OA_ATTR_VALUE_ARRAY]);
  wcol_store(&by, &ch[OA_ATTR_VALUE_BYTES]);
  vb->values.size += n;
  vb->data.size += n * 4;
  vb->length += n;
  entries->length += n;
  return oa_otlp_list_valid(mb);
}

/* Room for n plain (not dictionary-encoded) keys in kb; false when the
 * bulk path cannot write them. */
static bool plain_keys_reserve(oa_builder *kb, const kv_rec *r, int64_t n) {
  if (kb->dict.encoded || kb->validity.data || kb->length + n > INT32_MAX)
    return false;
  int64_t bytes = 0;
  for (int64_t i = 0; i < n; i++)
    bytes += r[i].key_len;
  return kb->data.size + bytes <= INT32_MAX &&
         oa_bytes_reserve(&kb->values, n * 4) == 0 &&
         oa_bytes_reserve(&kb->data, bytes) == 0;
}

/* Appends the attribute map element of the recorded KeyValues (key_dc < 0:
 * plain keys). */
static int a_attrs_rec(oa_otlp_decoder *dec, oa_builder *mb, int key_dc,
                       const kv_rec *r, int64_t n, int64_t nbytes,
                       uint32_t types) {
  oa_builder *vbu = &mb->children[0].children[1];
  if (n > 0 && !mb->children[0].validity.data &&
      (key_dc >= 0 || plain_keys_reserve(&mb->children[0].children[0], r, n)) &&
      (bulk_reserve_bound(vbu, n, nbytes, types) || bulk_reserve(vbu, r, n)))
    return a_attrs_bulk(dec, mb, key_dc, r, n);
  oa_builder *entries = &mb->children[0];
  oa_builder *vb = &entries->children[1];
  for (int64_t i = 0; i < n; i++, r++) {
    if (key_dc < 0)
      OA_RETURN_NOT_OK(entries->children[0].dict.encoded
                           ? oa_builder_append_bytes(
                                 &entries->children[0],
                                 r->key_len ? r->key : kNothing, r->key_len)
                           : oa_builder_append_str_fast(&entries->children[0],
                                                        r->key, r->key_len));
    else
      OA_RETURN_NOT_OK(r->key_idx >= 0
                           ? oa_otlp_dict_index(dec->dc_b[key_dc], r->key_idx)
                           : dict_append(dec, key_dc, r->key, r->key_len));
    OA_RETURN_NOT_OK(a_value(vb, r->type, r->d, r->n, r->v));
    OA_RETURN_NOT_OK(struct_valid(entries));
  }
  return oa_otlp_list_valid(mb);
}

static int a_resource(oa_otlp_decoder *dec, group_info *g) {
  const uint8_t *p = g->msg ? g->msg : kNothing;
  const uint8_t *end = p + (g->msg ? g->msg_len : 0);
  /* from the records of v_resource: parsing the wire again cost more than
   * the appends (resources hold ~20 attributes each) */
  OA_RETURN_NOT_OK(a_attrs_rec(dec, &dec->res_attrs, -1, dec->res_kvs.a,
                               dec->res_kvs.n, dec->res_kvs.nbytes,
                               dec->res_kvs.types));
  OA_RETURN_NOT_OK(oa_builder_append_str_fast(
      &dec->res_url, g->url ? g->url : kNothing, g->url_len));
  oa_builder *refs = &dec->res_refs;
  pbf f = {0}; /* members of other wire types stay defined */
  while (next_field(&p, end, &f))
    if (f.field == 3)
      OA_RETURN_NOT_OK(
          oa_builder_append_str_fast(&refs->children[0], f.d, f.n));
  OA_RETURN_NOT_OK(oa_builder_append_valid(refs));
  g->id = dec->n_resources++;
  return 0;
}

/* From what v_scope recorded (the scope's wire bytes are not parsed
 * again). */
static int a_scope(oa_otlp_decoder *dec, group_info *g) {
  OA_RETURN_NOT_OK(oa_builder_append_str_fast(
      &dec->sc_name, g->name ? g->name : kNothing, g->name ? g->name_len : 0));
  OA_RETURN_NOT_OK(oa_builder_append_str_fast(
      &dec->sc_version, g->version ? g->version : kNothing,
      g->version ? g->version_len : 0));
  if (g->msg)
    OA_RETURN_NOT_OK(a_attrs_rec(dec, &dec->sc_attrs, -1, dec->sc_kvs.a,
                                 dec->sc_kvs.n, dec->sc_kvs.nbytes,
                                 dec->sc_kvs.types));
  else
    OA_RETURN_NOT_OK(oa_otlp_list_valid(&dec->sc_attrs));
  OA_RETURN_NOT_OK(oa_builder_append_str_fast(
      &dec->sc_url, g->url ? g->url : kNothing, g->url_len));
  return 0;
}

/* Fixed-width append of w bytes for the span row (inlined: the builders'
 * fast appends are not always). */
static ALWAYS_INLINE_ int put_fixed(oa_builder *b, const void *v, int w) {
  if (OA_LIKELY(!b->validity.data &&
                b->values.size + w <= b->values.capacity)) {
    memcpy(b->values.data + b->values.size, v, (size_t)w);
    b->values.size += w;
    b->length++;
    return 0;
  }
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  rc = oa_bytes_append(&b->values, v, w);
  if (rc) return rc;
  b->length++;
  return 0;
}
static ALWAYS_INLINE_ int put_u32(oa_builder *b, uint32_t v) {
  return put_fixed(b, &v, 4);
}
static ALWAYS_INLINE_ int put_i64(oa_builder *b, int64_t v) {
  return put_fixed(b, &v, 8);
}

/* The event's or link's first attribute record; NULL while the list has
 * never held any (NULL + 0 is undefined behaviour). */
static inline const kv_rec *sub_kvs_at(const oa_otlp_decoder *dec, int64_t i) {
  return dec->sub_kvs.a ? dec->sub_kvs.a + i : NULL;
}

static int a_span(oa_otlp_decoder *dec, const span_info *s, group_info *res,
                  group_info *sc) {
  oa_builder *b = dec->b;
  if (res->id < 0) OA_RETURN_NOT_OK(a_resource(dec, res));
  /* the scope's dictionary row is appended when its ScopeSpans ends (its
   * schema_url comes after the spans) */
  if (sc->id < 0) sc->id = dec->n_scopes++;
  OA_RETURN_NOT_OK(put_fixed(&b[OA_SPAN_TRACE_ID], s->trace_id, 16));
  OA_RETURN_NOT_OK(put_fixed(&b[OA_SPAN_SPAN_ID], s->span_id, 8));
  OA_RETURN_NOT_OK(s->parent_len
                       ? put_fixed(&b[OA_SPAN_PARENT_SPAN_ID], s->parent, 8)
                       : null_fixed(&b[OA_SPAN_PARENT_SPAN_ID], 8));
  OA_RETURN_NOT_OK(oa_builder_append_str_fast(
      &b[OA_SPAN_TRACE_STATE], s->trace_state, s->trace_state_len));
  OA_RETURN_NOT_OK(put_u32(&b[OA_SPAN_FLAGS], s->flags));
  OA_RETURN_NOT_OK(dict_append(dec, DC_NAME, s->name, s->name_len));
  OA_RETURN_NOT_OK(put_u32(&b[OA_SPAN_KIND], (uint32_t)s->kind));
  OA_RETURN_NOT_OK(put_i64(&b[OA_SPAN_START_TIME], (int64_t)s->start));
  OA_RETURN_NOT_OK(put_i64(&b[OA_SPAN_END_TIME], (int64_t)s->end));
  OA_RETURN_NOT_OK(put_i64(&b[OA_SPAN_DURATION], (int64_t)(s->end - s->start)));
  OA_RETURN_NOT_OK(put_u32(&b[OA_SPAN_STATUS_CODE], (uint32_t)s->status_code));
  OA_RETURN_NOT_OK(oa_builder_append_str_fast(
      &b[OA_SPAN_STATUS_MESSAGE], s->status_msg, s->status_msg_len));
  OA_RETURN_NOT_OK(a_attrs_rec(dec, &b[OA_SPAN_ATTRIBUTES], DC_ATTR_KEY,
                               dec->span_kvs.a, dec->span_kvs.n,
                               dec->span_kvs.nbytes, dec->span_kvs.types));
  OA_RETURN_NOT_OK(
      put_u32(&b[OA_SPAN_DROPPED_ATTRIBUTES_COUNT], s->dropped_attrs));
  oa_builder *ev = &b[OA_SPAN_EVENTS], *lk = &b[OA_SPAN_LINKS];
  oa_builder *evi = &ev->children[0], *lki = &lk->children[0];
  for (int64_t k = 0; k < dec->n_evs; k++) {
    const ev_rec *e = &dec->evs[k];
    oa_builder *ch = evi->children;
    OA_RETURN_NOT_OK(put_i64(&ch[0], (int64_t)e->time));
    OA_RETURN_NOT_OK(dict_append(dec, DC_EVENT_NAME, e->name, e->name_len));
    OA_RETURN_NOT_OK(a_attrs_rec(dec, &ch[2], DC_EVENT_KEY,
                                 sub_kvs_at(dec, e->kv0), e->nkv, e->nbytes,
                                 e->types));
    OA_RETURN_NOT_OK(put_u32(&ch[3], e->dropped));
    OA_RETURN_NOT_OK(struct_valid(evi));
  }
  for (int64_t k = 0; k < dec->n_lks; k++) {
    const lk_rec *l = &dec->lks[k];
    oa_builder *ch = lki->children;
    OA_RETURN_NOT_OK(put_fixed(&ch[0], l->tid, 16));
    OA_RETURN_NOT_OK(put_fixed(&ch[1], l->sid, 8));
    OA_RETURN_NOT_OK(oa_builder_append_str_fast(&ch[2], l->ts, l->ts_len));
    OA_RETURN_NOT_OK(put_u32(&ch[3], l->flags));
    OA_RETURN_NOT_OK(a_attrs_rec(dec, &ch[4], DC_LINK_KEY,
                                 sub_kvs_at(dec, l->kv0), l->nkv, l->nbytes,
                                 l->types));
    OA_RETURN_NOT_OK(put_u32(&ch[5], l->dropped));
    OA_RETURN_NOT_OK(struct_valid(lki));
  }
  OA_RETURN_NOT_OK(oa_otlp_list_valid(ev));
  OA_RETURN_NOT_OK(oa_otlp_list_valid(lk));
  OA_RETURN_NOT_OK(
      put_u32(&b[OA_SPAN_DROPPED_EVENTS_COUNT], s->dropped_events));
  OA_RETURN_NOT_OK(put_u32(&b[OA_SPAN_DROPPED_LINKS_COUNT], s->dropped_links));
  oa_builder *svc = &b[OA_SPAN_SERVICE_NAME];
  if (!res->svc) {
    OA_RETURN_NOT_OK(null_fixed(svc, 4));
  } else if (res->svc_idx >= 0) {
    OA_RETURN_NOT_OK(oa_otlp_dict_index(svc, res->svc_idx));
  } else {
    OA_RETURN_NOT_OK(oa_builder_append_bytes(
        svc, res->svc_len ? res->svc : kNothing, res->svc_len));
    memcpy(&res->svc_idx, svc->values.data + svc->values.size - 4, 4);
  }
  OA_RETURN_NOT_OK(put_u32(&b[OA_SPAN_RESOURCE_ID], (uint32_t)res->id));
  OA_RETURN_NOT_OK(
      put_u32(&b[OA_SPAN_RESOURCE_DROPPED_ATTRIBUTES_COUNT], res->dropped));
  OA_RETURN_NOT_OK(put_u32(&b[OA_SPAN_SCOPE_ID], (uint32_t)sc->id));
  OA_RETURN_NOT_OK(
      put_u32(&b[OA_SPAN_SCOPE_DROPPED_ATTRIBUTES_COUNT], sc->dropped));
  return 0;
}

/* ------------------------------------------------------------- request */

typedef struct req_state {
  oa_otlp_result *res;
  int64_t n_spans;
} req_state;

static void reject(dctx *c, req_state *st, const char *msg) {
  if (st->res->rejected_spans++ == 0)
    snprintf(st->res->error_message, sizeof st->res->error_message, "%s", msg);
}

static int append_failed(dctx *c, int rc) {
  return oa_error_set(c->err, rc,
                      rc == ENOMEM ? "otlp protobuf: out of memory"
                                   : "otlp protobuf: a column outgrew its "
                                     "offsets or dictionary (split the "
                                     "request)");
}

/* Validates the scope and schema url of a ScopeSpans (once, before its
 * first span is decided on). */
static int scope_check(dctx *c, group_info *sg) {
  c->bad = false;
  if (sg->msg) OA_RETURN_NOT_OK(v_scope(c, sg));
  if (sg->url) v_utf8(c, sg->url, sg->url_len, "scope schema_url");
  sg->bad = c->bad;
  if (sg->bad) memcpy(sg->bad_msg, c->bad_msg, sizeof sg->bad_msg);
  return 0;
}

static int one_span(dctx *c, req_state *st, const uint8_t *d, int64_t n,
                    group_info *rg, group_info *sg) {
  if (++st->n_spans > c->dec->opts.max_spans)
    return oa_error_set(c->err, E2BIG,
                        "otlp protobuf: request has more than %lld spans",
                        (long long)c->dec->opts.max_spans);
  span_info s;
  c->bad = false;
  OA_RETURN_NOT_OK(v_span(c, d, d + n, &s));
  if (rg->bad || sg->bad || c->bad) {
    reject(c, st, rg->bad ? rg->bad_msg : sg->bad ? sg->bad_msg : c->bad_msg);
    return 0;
  }
  int rc = a_span(c->dec, &s, rg, sg);
  if (rc) return append_failed(c, rc);
  st->res->accepted_spans++;
  return 0;
}

/* Appends the scope's dictionary row once its ScopeSpans is complete (if
 * any of its spans was accepted: the row's index is scope_id). */
static int end_scope(dctx *c, group_info *sg) {
  if (sg->id < 0) return 0;
  int rc = a_scope(c->dec, sg);
  return rc ? append_failed(c, rc) : 0;
}

/* Returned (internally) when a ScopeSpans has its scope or schema_url after
 * a span: the request is decoded again in careful mode. */
#define RESTART_CAREFUL (-1)

static int do_scope_spans(dctx *c, req_state *st, const uint8_t *p,
                          const uint8_t *end, group_info *rg) {
  group_info sg;
  memset(&sg, 0, sizeof sg);
  sg.id = -1;
  const uint8_t *start = p;
  const uint8_t *d;
  int64_t n;
  if (!c->careful) {
    /* One pass: serializers write scope (1), spans (2) and schema_url (3)
     * in field order. Hopping from span to span first would cost a cache
     * miss per span. */
    bool seen = false, url_before = false;
    TAG_LOOP_BEGIN(c, p, end, "ScopeSpans")
  case 1:
    if (seen) return RESTART_CAREFUL;
    FIELD_LEN(c, p, end, "ScopeSpans", "scope", sg.msg, sg.msg_len);
    break;
  case 2:
    FIELD_LEN(c, p, end, "ScopeSpans", "spans", d, n);
    if (!seen) {
      seen = true;
      /* a schema_url after the spans would change their fate */
      OA_RETURN_NOT_OK(scope_check(c, &sg));
    }
    OA_RETURN_NOT_OK(one_span(c, st, d, n, rg, &sg));
    break;
  case 3: {
    const uint8_t *u;
    int64_t un;
    FIELD_LEN(c, p, end, "ScopeSpans", "schema_url", u, un);
    /* after the spans (field order puts it there): harmless unless it
     * would have rejected them, or replaces an earlier one */
    if (seen && (url_before || sg.bad ||
                 (c->dec->opts.check_utf8 && !oa_otlp_ascii_only(u, un) &&
                  !oa_otlp_utf8_valid(u, un))))
      return RESTART_CAREFUL;
    url_before = !seen;
    sg.url = u;
    sg.url_len = un;
    break;
  }
    TAG_LOOP_END(c, p, end, "ScopeSpans")
    if (!seen) OA_RETURN_NOT_OK(scope_check(c, &sg));
    return end_scope(c, &sg);
  }
  TAG_LOOP_BEGIN(c, p, end, "ScopeSpans")
case 1:
  FIELD_LEN(c, p, end, "ScopeSpans", "scope", sg.msg, sg.msg_len);
  break;
case 2:
  FIELD_LEN(c, p, end, "ScopeSpans", "spans", d, n);
  break;
case 3:
  FIELD_LEN(c, p, end, "ScopeSpans", "schema_url", sg.url, sg.url_len);
  break;
  TAG_LOOP_END(c, p, end, "ScopeSpans")
  OA_RETURN_NOT_OK(scope_check(c, &sg));

  p = start;
  pbf f = {0}; /* members of other wire types stay defined */
  while (next_field(&p, end, &f)) {
    if (f.field != 2) continue;
    OA_RETURN_NOT_OK(one_span(c, st, f.d, f.n, rg, &sg));
  }
  return end_scope(c, &sg);
}

static inline res_memo *memo_slot(oa_otlp_decoder *dec, uint64_t h) {
  return &dec->memo[(h >> 40) & (RES_MEMO - 1)];
}

static inline int64_t memo_off(const uint8_t *p, const uint8_t *msg) {
  return p == kNothing ? -1 : p - msg;
}

static inline const uint8_t *memo_ptr(int64_t off, const uint8_t *msg) {
  return off < 0 ? kNothing : msg + off;
}

/* Remembers the validated resource g (when small enough; on allocation
 * failure nothing is remembered). */
static void memo_store(oa_otlp_decoder *dec, const group_info *g) {
  const kv_list *kl = &dec->res_kvs;
  if (g->msg_len > RES_MEMO_MAX_BYTES || kl->n > RES_MEMO_MAX_KVS) return;
  uint64_t h = cheap_hash(g->msg, g->msg_len);
  res_memo *m = memo_slot(dec, h);
  free(m->bytes);
  m->bytes = malloc((size_t)(g->msg_len ? g->msg_len : 1));
  kv_rec *kvs = realloc(m->kvs, (size_t)(kl->n ? kl->n : 1) * sizeof *kvs);
  if (kvs) m->kvs = kvs;
  if (!m->bytes || !kvs) {
    free(m->bytes);
    m->bytes = NULL;
    return;
  }
  memcpy(m->bytes, g->msg, (size_t)g->msg_len);
  m->len = g->msg_len;
  m->h = h;
  for (int64_t i = 0; i < kl->n; i++) {
    kv_rec r = kl->a[i];
    /* int, double and bool records leave d unset: it is not read */
    bool has_d = r.type == OA_ATTR_STR || r.type == OA_ATTR_BYTES ||
                 r.type == OA_ATTR_KVLIST || r.type == OA_ATTR_ARRAY;
    r.key = (const uint8_t *)(intptr_t)memo_off(r.key, g->msg);
    r.d = (const uint8_t *)(intptr_t)(has_d ? memo_off(r.d, g->msg) : -1);
    m->kvs[i] = r;
  }
  m->n_kvs = kl->n;
  m->nbytes = kl->nbytes;
  m->types = kl->types;
  m->dropped = g->dropped;
  m->svc_off = g->svc ? g->svc - g->msg : -1;
  m->svc_len = g->svc_len;
}

/* Fills what v_resource would for a resource remembered by memo_store;
 * false when it is not. */
static bool memo_restore(oa_otlp_decoder *dec, group_info *g) {
  if (g->msg_len > RES_MEMO_MAX_BYTES) return false;
  uint64_t h = cheap_hash(g->msg, g->msg_len);
  res_memo *m = memo_slot(dec, h);
  if (!m->bytes || m->h != h || m->len != g->msg_len ||
      memcmp(m->bytes, g->msg, (size_t)g->msg_len) != 0)
    return false;
  kv_list *kl = &dec->res_kvs;
  while (kl->cap < m->n_kvs) {
    int64_t ncap = kl->cap ? kl->cap * 2 : 64;
    kv_rec *a = realloc(kl->a, (size_t)ncap * sizeof *a);
    if (!a) return false; /* validated the usual way */
    kl->a = a;
    kl->cap = ncap;
  }
  for (int64_t i = 0; i < m->n_kvs; i++) {
    kv_rec r = m->kvs[i];
    r.key = memo_ptr((int64_t)(intptr_t)r.key, g->msg);
    r.d = memo_ptr((int64_t)(intptr_t)r.d, g->msg);
    kl->a[i] = r;
  }
  kl->n = m->n_kvs;
  kl->nbytes = m->nbytes;
  kl->types = m->types;
  g->dropped = m->dropped;
  g->svc = m->svc_off < 0 ? NULL : g->msg + m->svc_off;
  g->svc_len = m->svc_len;
  return true;
}

static int do_resource_spans(dctx *c, req_state *st, const uint8_t *p,
                             const uint8_t *end) {
  group_info rg;
  memset(&rg, 0, sizeof rg);
  rg.id = -1;
  rg.svc_idx = -1;
  const uint8_t *start = p, *d;
  int64_t n;
  TAG_LOOP_BEGIN(c, p, end, "ResourceSpans")
case 1:
  FIELD_LEN(c, p, end, "ResourceSpans", "resource", rg.msg, rg.msg_len);
  break;
case 2:
  FIELD_LEN(c, p, end, "ResourceSpans", "scope_spans", d, n);
  break;
case 3:
  FIELD_LEN(c, p, end, "ResourceSpans", "schema_url", rg.url, rg.url_len);
  break;
  TAG_LOOP_END(c, p, end, "ResourceSpans")
  c->bad = false;
  c->dec->res_kvs.n = c->dec->res_kvs.nbytes = 0;
  c->dec->res_kvs.types = 0;
  if (rg.msg && !memo_restore(c->dec, &rg)) {
    OA_RETURN_NOT_OK(v_resource(c, &rg));
    if (!c->bad) memo_store(c->dec, &rg);
  }
  if (rg.url) v_utf8(c, rg.url, rg.url_len, "resource schema_url");
  rg.bad = c->bad;
  if (rg.bad) memcpy(rg.bad_msg, c->bad_msg, sizeof rg.bad_msg);
  if (rg.bad) rg.svc = NULL;

  p = start;
  pbf f = {0}; /* members of other wire types stay defined */
  while (next_field(&p, end, &f))
    if (f.field == 2)
      OA_RETURN_NOT_OK(do_scope_spans(c, st, f.d, f.d + f.n, &rg));
  return 0;
}

/* ------------------------------------------------------------- decoder */

void oa_otlp_options_default(oa_otlp_options *o) {
  o->max_depth = 32;
  o->max_attributes = 4096;
  o->max_events = 4096;
  o->max_links = 4096;
  o->max_spans = (int64_t)1 << 24;
  o->check_utf8 = true;
}

static int value_builder(oa_otlp_decoder *dec, int col, oa_field *vf,
                         oa_builder *b, oa_error *err) {
  OA_RETURN_NOT_OK(oa_field_copy(vf, &dec->schema->fields[col], err));
  vf->dict.encoded = false;
  return oa_builder_init(b, vf, 0, err);
}

void oa_otlp_decoder_free(oa_otlp_decoder *dec) {
  if (!dec) return;
  for (int c = 0; c < OA_SPAN_N_COLUMNS; c++)
    if (dec->direct[c]) oa_builder_reset(&dec->b[c]);
  oa_builder *vb[] = {&dec->res_attrs, &dec->res_url,    &dec->res_refs,
                      &dec->sc_name,   &dec->sc_version, &dec->sc_attrs,
                      &dec->sc_url};
  oa_field *vf[] = {&dec->res_attrs_f, &dec->res_url_f,    &dec->res_refs_f,
                    &dec->sc_name_f,   &dec->sc_version_f, &dec->sc_attrs_f,
                    &dec->sc_url_f};
  for (size_t i = 0; i < sizeof vb / sizeof vb[0]; i++) {
    oa_builder_reset(vb[i]);
    oa_field_reset(vf[i]);
  }
  if (dec->schema) oa_schema_release(dec->schema);
  free(dec->span_kvs.a);
  free(dec->sub_kvs.a);
  free(dec->res_kvs.a);
  for (int i = 0; i < RES_MEMO; i++) {
    free(dec->memo[i].bytes);
    free(dec->memo[i].kvs);
  }
  free(dec->sc_kvs.a);
  free(dec->evs);
  free(dec->lks);
  for (int i = 0; i < DC_N; i++) {
    free(dec->dc[i]);
    free(dec->tab[i].e);
  }
  oa_otlp_spares_free(&dec->spares);
  free(dec->hints);
  free(dec);
}

/* A hint scaled to this request's size (+ slack for the rounding), bounded
 * by what 32-bit offsets can address. Flat buffers (dictionary values,
 * per-resource and per-scope values) do not grow with the request: they are
 * scaled down, never up. */
static int64_t hint_scaled(const oa_otlp_decoder *dec, int64_t h, bool flat) {
  if (h <= 0) return 0;
  double scale = dec->hint_scale;
  if (flat && scale > 1) scale = 1;
  double w = (double)h * scale;
  if (w > (double)INT32_MAX) w = (double)INT32_MAX;
  return (int64_t)w + 64;
}

/* Visits every builder of the decoder (dictionary values included) in a
 * fixed order: mode 0 counts, 1 stores the buffer sizes in hints, 2 reserves
 * them scaled by hint_scale (the sizes of the previous batch are the best
 * guess for the next), 3 zeroes the padding after the used bytes. */
static int64_t hint_walk(oa_otlp_decoder *dec, oa_builder *b, int64_t k,
                         int mode, bool flat) {
  if (mode == 1) {
    dec->hints[k] = b->values.size;
    dec->hints[k + 1] = b->data.size;
  } else if (mode == 2) {
    oa_otlp_spare_reserve_builder(&dec->spares, k, b,
                                  hint_scaled(dec, dec->hints[k], flat),
                                  hint_scaled(dec, dec->hints[k + 1], flat));
  } else if (mode == 3) {
    oa_otlp_zero_tail(&b->values);
    oa_otlp_zero_tail(&b->data);
  }
  k += 2;
  for (int64_t i = 0; i < b->n_children; i++)
    k = hint_walk(dec, &b->children[i], k, mode, flat);
  if (b->dict_values) k = hint_walk(dec, b->dict_values, k, mode, true);
  return k;
}

/* The builders of the dictionary values of the per-resource and per-scope
 * columns (in hint order), and their columns. */

static oa_builder *value_builder_of(oa_otlp_decoder *dec, int i) {
  oa_builder *vb[OA_OTLP_N_VALUE_COLS] = {
      &dec->res_attrs,  &dec->res_url,  &dec->res_refs, &dec->sc_name,
      &dec->sc_version, &dec->sc_attrs, &dec->sc_url};
  return vb[i];
}

static void hint_all(oa_otlp_decoder *dec, int mode) {
  int64_t k = 0;
  for (int c = 0; c < OA_SPAN_N_COLUMNS; c++) {
    if (!dec->direct[c]) continue;
    dec->slot[c] = k;
    k = hint_walk(dec, &dec->b[c], k, mode, false);
  }
  for (int i = 0; i < OA_OTLP_N_VALUE_COLS; i++) {
    dec->slot[oa_otlp_value_cols[i]] = k;
    k = hint_walk(dec, value_builder_of(dec, i), k, mode, true);
  }
  dec->n_hints = k;
}

void oa_otlp_decoder_recycle(oa_otlp_decoder *dec, oa_batch *batch) {
  if (dec) {
    oa_builder *values[OA_OTLP_N_VALUE_COLS];
    for (int i = 0; i < OA_OTLP_N_VALUE_COLS; i++)
      values[i] = value_builder_of(dec, i);
    oa_otlp_recycle_batch(&dec->spares, dec->b, dec->direct, values, dec->slot,
                          batch);
  }
  oa_batch_reset(batch);
}

int oa_otlp_decoder_new(oa_otlp_decoder **out, const oa_otlp_options *opts,
                        oa_error *err) {
  *out = NULL;
  oa_otlp_decoder *dec = calloc(1, sizeof *dec);
  if (!dec) return oa_error_set(err, ENOMEM, "otlp decoder: out of memory");
  if (opts)
    dec->opts = *opts;
  else
    oa_otlp_options_default(&dec->opts);
  int rc;
  OA_GOTO_NOT_OK(rc, oa_span_schema(&dec->schema, err), fail);
  for (int c = 0; c < OA_SPAN_N_COLUMNS; c++) {
    if (!oa_otlp_is_direct(c)) continue;
    OA_GOTO_NOT_OK(
        rc, oa_builder_init(&dec->b[c], &dec->schema->fields[c], 0, err), fail);
    dec->direct[c] = true;
  }
  OA_GOTO_NOT_OK(rc,
                 value_builder(dec, OA_SPAN_RESOURCE_ATTRIBUTES,
                               &dec->res_attrs_f, &dec->res_attrs, err),
                 fail);
  OA_GOTO_NOT_OK(rc,
                 value_builder(dec, OA_SPAN_RESOURCE_SCHEMA_URL,
                               &dec->res_url_f, &dec->res_url, err),
                 fail);
  OA_GOTO_NOT_OK(rc,
                 value_builder(dec, OA_SPAN_RESOURCE_ENTITY_REFS,
                               &dec->res_refs_f, &dec->res_refs, err),
                 fail);
  OA_GOTO_NOT_OK(rc,
                 value_builder(dec, OA_SPAN_SCOPE_NAME, &dec->sc_name_f,
                               &dec->sc_name, err),
                 fail);
  OA_GOTO_NOT_OK(rc,
                 value_builder(dec, OA_SPAN_SCOPE_VERSION, &dec->sc_version_f,
                               &dec->sc_version, err),
                 fail);
  OA_GOTO_NOT_OK(rc,
                 value_builder(dec, OA_SPAN_SCOPE_ATTRIBUTES, &dec->sc_attrs_f,
                               &dec->sc_attrs, err),
                 fail);
  OA_GOTO_NOT_OK(rc,
                 value_builder(dec, OA_SPAN_SCOPE_SCHEMA_URL, &dec->sc_url_f,
                               &dec->sc_url, err),
                 fail);
  oa_builder *evi = &dec->b[OA_SPAN_EVENTS].children[0];
  oa_builder *lki = &dec->b[OA_SPAN_LINKS].children[0];
  dec->dc_b[DC_NAME] = &dec->b[OA_SPAN_NAME];
  dec->dc_b[DC_ATTR_KEY] = &dec->b[OA_SPAN_ATTRIBUTES].children[0].children[0];
  dec->dc_b[DC_EVENT_NAME] = &evi->children[1];
  dec->dc_b[DC_EVENT_KEY] = &evi->children[2].children[0].children[0];
  dec->dc_b[DC_LINK_KEY] = &lki->children[4].children[0].children[0];
  dec->gen = 1;
  for (int i = 0; i < DC_N; i++) {
    dec->dc[i] = calloc(1, sizeof *dec->dc[i]);
    if (!dec->dc[i]) goto oom;
  }
  hint_all(dec, 0);
  dec->hints = calloc((size_t)dec->n_hints, sizeof *dec->hints);
  if (!dec->hints || oa_otlp_spares_init(&dec->spares, dec->n_hints)) goto oom;
  *out = dec;
  return 0;
oom:
  rc = oa_error_set(err, ENOMEM, "otlp decoder: out of memory");
fail:
  oa_otlp_decoder_free(dec);
  return rc;
}

/* Reserves the buffers of a request of size input bytes from the previous
 * batch's sizes, scaled by the ratio of the input sizes: a small request
 * after a large one does not hold the large one's memory, and a large one
 * after a small one does not regrow every buffer (a copy and a zero-fill per
 * doubling, and the page faults of memory that is then thrown away). */
static void reserve_for(oa_otlp_decoder *dec, int64_t input) {
  if (dec->hint_input > 0 && input > 0) {
    dec->hint_scale = (double)input / (double)dec->hint_input;
    hint_all(dec, 2);
  }
  /* spares are handed out here or not at all: the decoder does not hold
   * memory past the request that could have used it */
  if (dec->spares.n_held) oa_otlp_spares_drop(&dec->spares);
}

/* Finishes every builder into cols (and the dictionaries); with cols NULL the
 * content is thrown away (a rejected request). input: the request's size,
 * kept with the sizes of the batch for reserve_for. */
static int finish_all(oa_otlp_decoder *dec, oa_array *cols, oa_error *err,
                      int64_t input) {
  if (cols) {
    hint_all(dec, 1);
    dec->hint_input = input;
  }
  hint_all(dec, 3);
  /* the dictionaries start over: every cache entry becomes stale */
  for (int i = 0; i < DC_N; i++)
    dec->tab[i].n = 0; /* its entries are of an older gen now */
  if (++dec->gen == 0) {
    for (int i = 0; i < DC_N; i++) {
      memset(dec->dc[i], 0, sizeof *dec->dc[i]);
      if (dec->tab[i].e)
        memset(dec->tab[i].e, 0, (size_t)dec->tab[i].cap * sizeof(dtab_ent));
    }
    dec->gen = 1;
  }
  oa_builder *vb[OA_OTLP_N_VALUE_COLS];
  for (int i = 0; i < OA_OTLP_N_VALUE_COLS; i++)
    vb[i] = value_builder_of(dec, i);
  int rc = oa_otlp_finish_columns(dec->b, dec->direct, vb, cols, "otlp decoder",
                                  err);
  dec->n_resources = dec->n_scopes = 0;
  return rc;
}

static int decode_request(dctx *c, req_state *st, const uint8_t *p,
                          const uint8_t *end) {
  while (p < end) {
    uint32_t fld;
    int wt;
    const uint8_t *at = p, *d;
    int64_t n;
    OA_RETURN_NOT_OK(
        next_tag(c, &p, end, "ExportTraceServiceRequest", &fld, &wt));
    if (fld != 1) {
      OA_RETURN_NOT_OK(
          skip_value(c, &p, end, "ExportTraceServiceRequest", fld, wt));
      continue;
    }
    OA_RETURN_NOT_OK(expect_wt(c, at, wt, OA_PB_LEN,
                               "ExportTraceServiceRequest", "resource_spans"));
    OA_RETURN_NOT_OK(read_len(c, &p, end, "ExportTraceServiceRequest",
                              "resource_spans", &d, &n));
    OA_RETURN_NOT_OK(do_resource_spans(c, st, d, d + n));
  }
  return 0;
}

int oa_otlp_decoder_decode(oa_otlp_decoder *dec, const uint8_t *data,
                           int64_t size, oa_batch *out, oa_otlp_result *result,
                           oa_error *err) {
  oa_otlp_result local;
  if (!result) result = &local;
  memset(result, 0, sizeof *result);
  oa_otlp_decoder_recycle(dec, out);
  if (size < 0 || (!data && size > 0))
    return oa_error_set(err, EINVAL, "otlp protobuf: invalid input buffer");
  static const uint8_t kEmpty[1] = {0};
  if (!data) data = kEmpty;
  dctx c = {.dec = dec, .base = data, .err = err};
  req_state st = {.res = result};
  reserve_for(dec, size);
  int rc = decode_request(&c, &st, data, data + size);
  if (rc == RESTART_CAREFUL) {
    finish_all(dec, NULL, NULL, 0);
    reserve_for(dec, size);
    memset(result, 0, sizeof *result);
    st.n_spans = 0;
    c.careful = true;
    rc = decode_request(&c, &st, data, data + size);
  }
  if (rc) goto fail;
  oa_array cols[OA_SPAN_N_COLUMNS];
  int64_t rows = dec->b[OA_SPAN_TRACE_ID].length;
  rc = finish_all(dec, cols, err, size);
  if (rc == 0) rc = oa_batch_set(out, dec->schema, rows, cols, err);
  if (rc) {
    for (int i = 0; i < OA_SPAN_N_COLUMNS; i++)
      oa_array_reset(&cols[i]);
    return rc;
  }
  return 0;
fail:
  finish_all(dec, NULL, NULL, 0);
  result->accepted_spans = 0;
  return rc;
}

int oa_otlp_decode_traces(const uint8_t *data, int64_t size,
                          const oa_otlp_options *opts, oa_batch *out,
                          oa_otlp_result *result, oa_error *err) {
  oa_otlp_decoder *dec = NULL;
  OA_RETURN_NOT_OK(oa_otlp_decoder_new(&dec, opts, err));
  if (!dec) return ENOMEM; /* unreachable: set whenever new succeeds */
  int rc = oa_otlp_decoder_decode(dec, data, size, out, result, err);
  oa_otlp_decoder_free(dec);
  return rc;
}
