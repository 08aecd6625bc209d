/* Span batch -> OTLP protobuf ExportTraceServiceRequest.
 *
 * Consecutive rows with the same resource_id / scope_id are regrouped into
 * one ResourceSpans / ScopeSpans, so row order survives a round trip. Nested
 * messages are written in one pass: a length slot is reserved before the
 * content and patched afterwards (moving the content when the varint needs a
 * different number of bytes than guessed). Default values are omitted as
 * proto3 does, except inside AnyValue's oneof where presence matters. */
#include <stdlib.h>

#include "otlp/otlp_internal.h"

/* ------------------------------------------------------------- writer */

typedef struct pbw {
  oa_bytes *b;
  int rc; /* first failure; later writes are no-ops */
} pbw;

static inline uint8_t *w_room(pbw *w, int64_t n) {
  if (OA_UNLIKELY(w->rc)) return NULL;
  int rc = oa_bytes_reserve(w->b, n);
  if (OA_UNLIKELY(rc)) {
    w->rc = rc;
    return NULL;
  }
  return w->b->data + w->b->size;
}

static inline void w_done(pbw *w, uint8_t *p) { w->b->size = p - w->b->data; }

static inline void w_varint_field(pbw *w, uint32_t field, uint64_t v) {
  uint8_t *p = w_room(w, 15);
  if (!p) return;
  p = oa_pb_put_varint(p, (uint64_t)field << 3 | OA_PB_VARINT);
  w_done(w, oa_pb_put_varint(p, v));
}

static inline void w_fixed64_field(pbw *w, uint32_t field, uint64_t v) {
  uint8_t *p = w_room(w, 13);
  if (!p) return;
  p = oa_pb_put_varint(p, (uint64_t)field << 3 | OA_PB_I64);
  memcpy(p, &v, 8);
  w_done(w, p + 8);
}

static inline void w_fixed32_field(pbw *w, uint32_t field, uint32_t v) {
  uint8_t *p = w_room(w, 9);
  if (!p) return;
  p = oa_pb_put_varint(p, (uint64_t)field << 3 | OA_PB_I32);
  memcpy(p, &v, 4);
  w_done(w, p + 4);
}

static inline void w_len_field(pbw *w, uint32_t field, const void *d,
                               int64_t n) {
  uint8_t *p = w_room(w, 15 + n);
  if (!p) return;
  p = oa_pb_put_varint(p, (uint64_t)field << 3 | OA_PB_LEN);
  p = oa_pb_put_varint(p, (uint64_t)n);
  if (n) memcpy(p, d, (size_t)n);
  w_done(w, p + n);
}

/* Opens a length-delimited field with a guessed length size; returns the
 * content start. */
static inline int64_t w_open(pbw *w, uint32_t field, int guess) {
  uint8_t *p = w_room(w, 5 + guess);
  if (!p) return 0;
  p = oa_pb_put_varint(p, (uint64_t)field << 3 | OA_PB_LEN);
  w_done(w, p + guess);
  return w->b->size;
}

static inline void w_close(pbw *w, int64_t start, int guess) {
  if (w->rc) return;
  int64_t len = w->b->size - start;
  int need = oa_pb_varint_size((uint64_t)len);
  if (need != guess) {
    if (!w_room(w, need - guess + 1)) return;
    memmove(w->b->data + start - guess + need, w->b->data + start, (size_t)len);
    w->b->size += need - guess;
  }
  oa_pb_put_varint(w->b->data + start - guess, (uint64_t)len);
}

/* ------------------------------------------------------------- readers */

/* Index i is relative to the array (its offset is applied here). */
static inline bool r_valid(const oa_array *a, int64_t i) {
  const uint8_t *v = a->n_buffers > 0 ? a->buffers[0].data : NULL;
  return !v || oa_bit_get(v, a->offset + i);
}
static inline int32_t r_i32(const oa_array *a, int64_t i) {
  int32_t v;
  memcpy(&v, a->buffers[1].data + (a->offset + i) * 4, 4);
  return v;
}
static inline uint32_t r_u32(const oa_array *a, int64_t i) {
  return (uint32_t)r_i32(a, i);
}
static inline uint64_t r_u64(const oa_array *a, int64_t i) {
  uint64_t v;
  memcpy(&v, a->buffers[1].data + (a->offset + i) * 8, 8);
  return v;
}
static inline bool r_bool(const oa_array *a, int64_t i) {
  return oa_bit_get(a->buffers[1].data, a->offset + i);
}
static inline const uint8_t *r_fsb(const oa_array *a, int64_t i, int w) {
  return a->buffers[1].data + (a->offset + i) * w;
}
static inline void r_range(const oa_array *a, int64_t i, int64_t *s,
                           int64_t *e) {
  *s = r_i32(a, i);
  *e = r_i32(a, i + 1);
}
static inline const uint8_t *r_bytes(const oa_array *a, int64_t i,
                                     int64_t *len) {
  int64_t s, e;
  r_range(a, i, &s, &e);
  *len = e - s;
  static const uint8_t kEmpty[1] = {0};
  return a->buffers[2].data ? a->buffers[2].data + s : kEmpty;
}
/* utf8/binary, looking through an int32-indexed dictionary */
static inline const uint8_t *r_str(const oa_field *f, const oa_array *a,
                                   int64_t i, int64_t *len) {
  if (f->dict.encoded) return r_bytes(a->dictionary, r_i32(a, i), len);
  return r_bytes(a, i, len);
}

/* ------------------------------------------------------------ messages */

/* Writes the KeyValues of map row `row` as repeated field `field`. */
static int w_attrs(pbw *w, uint32_t field, const oa_field *mf,
                   const oa_array *m, int64_t row) {
  int64_t s, e;
  r_range(m, row, &s, &e);
  if (s == e) return 0;
  const oa_array *entries = &m->children[0];
  const oa_field *keyf = &mf->children[0].children[0];
  const oa_array *keys = &entries->children[0];
  const oa_array *val = &entries->children[1];
  const oa_array *vc = val->children;
  const uint8_t *codes = val->buffers[0].data;
  const uint8_t *offs = val->buffers[1].data;
  for (int64_t j = s; j < e; j++) {
    int64_t key_len;
    const uint8_t *key = r_str(keyf, keys, j, &key_len);
    /* dense union: the type code is the child index (oa_attr_type) */
    uint8_t type = codes[val->offset + j];
    int32_t vrow;
    memcpy(&vrow, offs + (val->offset + j) * 4, 4);
    const uint8_t *vd = NULL;
    int64_t vn = 0, any_len;
    uint8_t scalar[10];
    uint32_t vfield = 0;
    int vwt = OA_PB_VARINT;
    switch (type) {
    case OA_ATTR_EMPTY:
      break;
    case OA_ATTR_STR:
      vd = r_bytes(&vc[OA_ATTR_VALUE_STR], vrow, &vn);
      vfield = 1;
      vwt = OA_PB_LEN;
      break;
    case OA_ATTR_BYTES:
      vd = r_bytes(&vc[OA_ATTR_VALUE_BYTES], vrow, &vn);
      vfield = 7;
      vwt = OA_PB_LEN;
      break;
    case OA_ATTR_ARRAY:
    case OA_ATTR_KVLIST:
      vd = r_bytes(&vc[type], vrow, &vn);
      break;
    case OA_ATTR_INT:
      vfield = 3;
      vn = oa_pb_put_varint(scalar, r_u64(&vc[OA_ATTR_VALUE_INT], vrow)) -
           scalar;
      vd = scalar;
      break;
    case OA_ATTR_BOOL:
      vfield = 2;
      scalar[0] = r_bool(&vc[OA_ATTR_VALUE_BOOL], vrow);
      vn = 1;
      vd = scalar;
      break;
    case OA_ATTR_DOUBLE: {
      uint64_t bits = r_u64(&vc[OA_ATTR_VALUE_DOUBLE], vrow);
      vfield = 4;
      vwt = OA_PB_I64;
      memcpy(scalar, &bits, 8);
      vn = 8;
      vd = scalar;
      break;
    }
    default:
      return EINVAL;
    }
    /* AnyValue size is known up front: no length patching needed */
    if (type == OA_ATTR_ARRAY || type == OA_ATTR_KVLIST ||
        type == OA_ATTR_EMPTY)
      any_len = vn;
    else
      any_len =
          1 + (vwt == OA_PB_LEN ? oa_pb_varint_size((uint64_t)vn) : 0) + vn;
    int64_t kv_len =
        (key_len ? 1 + oa_pb_varint_size((uint64_t)key_len) + key_len : 0) + 1 +
        oa_pb_varint_size((uint64_t)any_len) + any_len;
    uint8_t *p = w_room(w, 15 + kv_len);
    if (!p) return w->rc;
    p = oa_pb_put_varint(p, (uint64_t)field << 3 | OA_PB_LEN);
    p = oa_pb_put_varint(p, (uint64_t)kv_len);
    if (key_len) {
      *p++ = 1 << 3 | OA_PB_LEN;
      p = oa_pb_put_varint(p, (uint64_t)key_len);
      memcpy(p, key, (size_t)key_len);
      p += key_len;
    }
    *p++ = 2 << 3 | OA_PB_LEN;
    p = oa_pb_put_varint(p, (uint64_t)any_len);
    if (vfield) {
      *p++ = (uint8_t)(vfield << 3 | vwt);
      if (vwt == OA_PB_LEN) p = oa_pb_put_varint(p, (uint64_t)vn);
    }
    if (vn) memcpy(p, vd, (size_t)vn);
    w_done(w, p + vn);
  }
  return 0;
}

typedef struct enc {
  pbw w;
  const oa_schema *s;
  const oa_batch *b;
} enc;

#define COL(e, c) (&(e)->b->columns[(c)])
#define FLD(e, c) (&(e)->s->fields[(c)])

/* The dictionary row of a dictionary-encoded column at row i. */
static inline const oa_array *dict_row(const oa_array *a, int64_t i,
                                       int64_t *row) {
  *row = r_i32(a, i);
  return a->dictionary;
}

static int w_resource(enc *e, int64_t i) {
  int64_t arow, rrow;
  const oa_array *attrs =
      dict_row(COL(e, OA_SPAN_RESOURCE_ATTRIBUTES), i, &arow);
  const oa_array *refs =
      dict_row(COL(e, OA_SPAN_RESOURCE_ENTITY_REFS), i, &rrow);
  uint32_t dropped =
      r_u32(COL(e, OA_SPAN_RESOURCE_DROPPED_ATTRIBUTES_COUNT), i);
  int64_t as, ae, rs, re;
  r_range(attrs, arow, &as, &ae);
  r_range(refs, rrow, &rs, &re);
  if (as == ae && rs == re && dropped == 0) return 0; /* absent == empty */
  int64_t m = w_open(&e->w, 1, 2);
  OA_RETURN_NOT_OK(
      w_attrs(&e->w, 1, FLD(e, OA_SPAN_RESOURCE_ATTRIBUTES), attrs, arow));
  if (dropped) w_varint_field(&e->w, 2, dropped);
  for (int64_t j = rs; j < re; j++) {
    int64_t n;
    const uint8_t *d = r_bytes(&refs->children[0], j, &n);
    w_len_field(&e->w, 3, d, n);
  }
  w_close(&e->w, m, 2);
  return e->w.rc;
}

static int w_scope(enc *e, int64_t i) {
  int64_t nlen, vlen, arow;
  const uint8_t *name =
      r_str(FLD(e, OA_SPAN_SCOPE_NAME), COL(e, OA_SPAN_SCOPE_NAME), i, &nlen);
  const uint8_t *version = r_str(FLD(e, OA_SPAN_SCOPE_VERSION),
                                 COL(e, OA_SPAN_SCOPE_VERSION), i, &vlen);
  const oa_array *attrs = dict_row(COL(e, OA_SPAN_SCOPE_ATTRIBUTES), i, &arow);
  uint32_t dropped = r_u32(COL(e, OA_SPAN_SCOPE_DROPPED_ATTRIBUTES_COUNT), i);
  int64_t as, ae;
  r_range(attrs, arow, &as, &ae);
  if (!nlen && !vlen && as == ae && !dropped) return 0;
  int64_t m = w_open(&e->w, 1, 1);
  if (nlen) w_len_field(&e->w, 1, name, nlen);
  if (vlen) w_len_field(&e->w, 2, version, vlen);
  OA_RETURN_NOT_OK(
      w_attrs(&e->w, 3, FLD(e, OA_SPAN_SCOPE_ATTRIBUTES), attrs, arow));
  if (dropped) w_varint_field(&e->w, 4, dropped);
  w_close(&e->w, m, 1);
  return e->w.rc;
}

static void w_opt_str(pbw *w, uint32_t field, const uint8_t *d, int64_t n) {
  if (n) w_len_field(w, field, d, n);
}

static int w_events(enc *e, int64_t i) {
  const oa_array *list = COL(e, OA_SPAN_EVENTS);
  int64_t s, end;
  r_range(list, i, &s, &end);
  if (s == end) return 0;
  const oa_field *itemf = &FLD(e, OA_SPAN_EVENTS)->children[0];
  const oa_array *item = &list->children[0];
  const oa_array *ch = item->children;
  for (int64_t j = s; j < end; j++) {
    int64_t m = w_open(&e->w, 11, 1);
    uint64_t t = r_u64(&ch[0], j);
    if (t) w_fixed64_field(&e->w, 1, t);
    int64_t n;
    const uint8_t *name = r_str(&itemf->children[1], &ch[1], j, &n);
    w_opt_str(&e->w, 2, name, n);
    OA_RETURN_NOT_OK(w_attrs(&e->w, 3, &itemf->children[2], &ch[2], j));
    uint32_t dropped = r_u32(&ch[3], j);
    if (dropped) w_varint_field(&e->w, 4, dropped);
    w_close(&e->w, m, 1);
  }
  return e->w.rc;
}

static int w_links(enc *e, int64_t i) {
  const oa_array *list = COL(e, OA_SPAN_LINKS);
  int64_t s, end;
  r_range(list, i, &s, &end);
  if (s == end) return 0;
  const oa_field *itemf = &FLD(e, OA_SPAN_LINKS)->children[0];
  const oa_array *item = &list->children[0];
  const oa_array *ch = item->children;
  for (int64_t j = s; j < end; j++) {
    int64_t m = w_open(&e->w, 13, 1);
    w_len_field(&e->w, 1, r_fsb(&ch[0], j, 16), 16);
    w_len_field(&e->w, 2, r_fsb(&ch[1], j, 8), 8);
    int64_t n;
    const uint8_t *ts = r_bytes(&ch[2], j, &n);
    w_opt_str(&e->w, 3, ts, n);
    OA_RETURN_NOT_OK(w_attrs(&e->w, 4, &itemf->children[4], &ch[4], j));
    uint32_t dropped = r_u32(&ch[5], j);
    if (dropped) w_varint_field(&e->w, 5, dropped);
    uint32_t flags = r_u32(&ch[3], j);
    if (flags) w_fixed32_field(&e->w, 6, flags);
    w_close(&e->w, m, 1);
  }
  return e->w.rc;
}

static int w_span(enc *e, int64_t i) {
  pbw *w = &e->w;
  int64_t m = w_open(w, 2, 2);
  int64_t n;
  const uint8_t *d;
  w_len_field(w, 1, r_fsb(COL(e, OA_SPAN_TRACE_ID), i, 16), 16);
  w_len_field(w, 2, r_fsb(COL(e, OA_SPAN_SPAN_ID), i, 8), 8);
  d = r_bytes(COL(e, OA_SPAN_TRACE_STATE), i, &n);
  w_opt_str(w, 3, d, n);
  const oa_array *parent = COL(e, OA_SPAN_PARENT_SPAN_ID);
  if (r_valid(parent, i)) w_len_field(w, 4, r_fsb(parent, i, 8), 8);
  d = r_str(FLD(e, OA_SPAN_NAME), COL(e, OA_SPAN_NAME), i, &n);
  w_opt_str(w, 5, d, n);
  int32_t kind = r_i32(COL(e, OA_SPAN_KIND), i);
  if (kind) w_varint_field(w, 6, (uint64_t)(int64_t)kind);
  uint64_t t = r_u64(COL(e, OA_SPAN_START_TIME), i);
  if (t) w_fixed64_field(w, 7, t);
  t = r_u64(COL(e, OA_SPAN_END_TIME), i);
  if (t) w_fixed64_field(w, 8, t);
  OA_RETURN_NOT_OK(
      w_attrs(w, 9, FLD(e, OA_SPAN_ATTRIBUTES), COL(e, OA_SPAN_ATTRIBUTES), i));
  uint32_t u = r_u32(COL(e, OA_SPAN_DROPPED_ATTRIBUTES_COUNT), i);
  if (u) w_varint_field(w, 10, u);
  OA_RETURN_NOT_OK(w_events(e, i));
  u = r_u32(COL(e, OA_SPAN_DROPPED_EVENTS_COUNT), i);
  if (u) w_varint_field(w, 12, u);
  OA_RETURN_NOT_OK(w_links(e, i));
  u = r_u32(COL(e, OA_SPAN_DROPPED_LINKS_COUNT), i);
  if (u) w_varint_field(w, 14, u);
  int32_t code = r_i32(COL(e, OA_SPAN_STATUS_CODE), i);
  d = r_bytes(COL(e, OA_SPAN_STATUS_MESSAGE), i, &n);
  if (code || n) {
    int64_t sm = w_open(w, 15, 1);
    w_opt_str(w, 2, d, n);
    if (code) w_varint_field(w, 3, (uint64_t)(int64_t)code);
    w_close(w, sm, 1);
  }
  u = r_u32(COL(e, OA_SPAN_FLAGS), i);
  if (u) w_fixed32_field(w, 16, u);
  w_close(w, m, 2);
  return w->rc;
}

static void w_schema_url(enc *e, int col, int64_t i) {
  int64_t n;
  const uint8_t *d = r_str(FLD(e, col), COL(e, col), i, &n);
  w_opt_str(&e->w, 3, d, n);
}

int oa_otlp_encode_traces(const oa_batch *batch, oa_bytes *out, oa_error *err) {
  oa_schema *ref;
  OA_RETURN_NOT_OK(oa_span_schema(&ref, err));
  oa_error why;
  bool same = batch->schema && batch->n_columns == OA_SPAN_N_COLUMNS &&
              oa_schema_equals(batch->schema, ref, false, &why);
  oa_schema_release(ref);
  if (!same)
    return oa_error_set(err, EINVAL,
                        "otlp encode: the batch does not have the span "
                        "schema%s%s",
                        batch->schema ? ": " : "",
                        batch->schema ? why.message : "");
  enc e = {.w = {.b = out}, .s = batch->schema, .b = batch};
  const oa_array *rid = COL(&e, OA_SPAN_RESOURCE_ID);
  const oa_array *sid = COL(&e, OA_SPAN_SCOPE_ID);
  int64_t rs_mark = -1, ss_mark = -1, rs_row = 0, ss_row = 0;
  int rc = 0;
  for (int64_t i = 0; i < batch->length; i++) {
    bool new_res = i == 0 || r_i32(rid, i) != r_i32(rid, i - 1);
    bool new_scope = new_res || r_i32(sid, i) != r_i32(sid, i - 1);
    if (new_scope && ss_mark >= 0) {
      w_schema_url(&e, OA_SPAN_SCOPE_SCHEMA_URL, ss_row);
      w_close(&e.w, ss_mark, 3);
    }
    if (new_res) {
      if (rs_mark >= 0) {
        w_schema_url(&e, OA_SPAN_RESOURCE_SCHEMA_URL, rs_row);
        w_close(&e.w, rs_mark, 3);
      }
      rs_mark = w_open(&e.w, 1, 3);
      rs_row = i;
      OA_GOTO_NOT_OK(rc, w_resource(&e, i), fail);
    }
    if (new_scope) {
      ss_mark = w_open(&e.w, 2, 3);
      ss_row = i;
      OA_GOTO_NOT_OK(rc, w_scope(&e, i), fail);
    }
    OA_GOTO_NOT_OK(rc, w_span(&e, i), fail);
  }
  if (ss_mark >= 0) {
    w_schema_url(&e, OA_SPAN_SCOPE_SCHEMA_URL, ss_row);
    w_close(&e.w, ss_mark, 3);
  }
  if (rs_mark >= 0) {
    w_schema_url(&e, OA_SPAN_RESOURCE_SCHEMA_URL, rs_row);
    w_close(&e.w, rs_mark, 3);
  }
  if (e.w.rc) {
    rc = e.w.rc;
    goto fail;
  }
  return 0;
fail:
  if (rc == ENOMEM) return oa_error_set(err, rc, "otlp encode: out of memory");
  return oa_error_set(err, rc,
                      "otlp encode: invalid attribute value type in the "
                      "batch (expected 0..7)");
}
