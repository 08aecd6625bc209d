/* Span records to OTLP protobuf: resources, scopes and the span stage. */
#include <stdlib.h>
#include <string.h>

#include "exporter_internal.h"

struct oa_resource {
  oa_bytes msg; /* Resource message body */
  char *schema_url;
};

struct oa_scope {
  oa_bytes msg; /* InstrumentationScope message body */
  char *schema_url;
};

#define OA_EXP_MAX_DEPTH 32

/* ------------------------------------------------------ wire writing */

static inline int w_varint(oa_bytes *b, uint64_t v) {
  OA_RETURN_NOT_OK(oa_bytes_reserve(b, 10));
  uint8_t *p = b->data + b->size;
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  b->size = p - b->data;
  return 0;
}

static inline int w_tag(oa_bytes *b, uint32_t field, uint32_t wt) {
  return w_varint(b, ((uint64_t)field << 3) | wt);
}

static inline int w_len(oa_bytes *b, uint32_t field, const void *data,
                        int64_t n) {
  OA_RETURN_NOT_OK(w_tag(b, field, 2));
  OA_RETURN_NOT_OK(w_varint(b, (uint64_t)n));
  return oa_bytes_append(b, data, n);
}

static inline int w_str(oa_bytes *b, uint32_t field, const char *s) {
  if (!s || !*s) return 0; /* proto3: empty is absent */
  return w_len(b, field, s, (int64_t)strlen(s));
}

static inline int w_fixed64(oa_bytes *b, uint32_t field, uint64_t v) {
  OA_RETURN_NOT_OK(w_tag(b, field, 1));
  return oa_bytes_append(b, &v, 8); /* little-endian hosts */
}

static inline int w_fixed32(oa_bytes *b, uint32_t field, uint32_t v) {
  OA_RETURN_NOT_OK(w_tag(b, field, 5));
  return oa_bytes_append(b, &v, 4);
}

/* Nested message: the length is not known up front, so `room` bytes are
 * reserved for it and the body is moved over the difference at the end
 * (this keeps the encoding canonical in one pass). Small bodies reserve 5
 * (moved back a few bytes); spans reserve 2, their usual length size, so
 * that the common case moves nothing. */
static inline int w_begin_r(oa_bytes *b, uint32_t field, int room,
                            int64_t *mark) {
  OA_RETURN_NOT_OK(w_tag(b, field, 2));
  OA_RETURN_NOT_OK(oa_bytes_reserve(b, room));
  b->size += room;
  *mark = b->size;
  return 0;
}

static inline int w_begin(oa_bytes *b, uint32_t field, int64_t *mark) {
  return w_begin_r(b, field, 5, mark);
}

static inline int w_end_r(oa_bytes *b, int64_t mark, int room) {
  uint64_t len = (uint64_t)(b->size - mark);
  uint8_t tmp[10];
  int n = 0;
  uint64_t v = len;
  while (v >= 0x80) {
    tmp[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  tmp[n++] = (uint8_t)v;
  if (n > room) { /* longer than guessed: move the body forward */
    OA_RETURN_NOT_OK(oa_bytes_reserve(b, n - room));
    memmove(b->data + mark + (n - room), b->data + mark, (size_t)len);
    b->size += n - room;
    mark += n - room;
    room = n;
  }
  uint8_t *dst = b->data + mark - room;
  memcpy(dst, tmp, (size_t)n);
  if (n < room) {
    memmove(dst + n, b->data + mark, (size_t)len);
    b->size -= room - n;
  }
  return 0;
}

static inline void w_end(oa_bytes *b, int64_t mark) {
  (void)w_end_r(b, mark, 5); /* cannot fail: 5 bytes hold any length */
}

static int w_kv(oa_bytes *b, uint32_t field, const oa_keyvalue *kv);

static int w_anyvalue_body(oa_bytes *b, const oa_anyvalue *v) {
  int64_t m;
  switch (v->type) {
  case OA_ANY_EMPTY:
    return 0;
  case OA_ANY_STRING: {
    const char *s = v->v.str.ptr ? v->v.str.ptr : "";
    int64_t n = v->v.str.len < 0 ? (int64_t)strlen(s) : v->v.str.len;
    return w_len(b, 1, s, n);
  }
  case OA_ANY_BOOL:
    OA_RETURN_NOT_OK(w_tag(b, 2, 0));
    return w_varint(b, v->v.b ? 1 : 0);
  case OA_ANY_INT:
    OA_RETURN_NOT_OK(w_tag(b, 3, 0));
    return w_varint(b, (uint64_t)v->v.i);
  case OA_ANY_DOUBLE: {
    uint64_t u;
    memcpy(&u, &v->v.d, 8);
    return w_fixed64(b, 4, u);
  }
  case OA_ANY_BYTES:
    return w_len(b, 7, v->v.bytes.ptr, v->v.bytes.ptr ? v->v.bytes.len : 0);
  case OA_ANY_ARRAY:
    OA_RETURN_NOT_OK(w_begin(b, 5, &m));
    for (size_t i = 0; i < v->v.array.n; i++) {
      int64_t m2;
      OA_RETURN_NOT_OK(w_begin(b, 1, &m2));
      OA_RETURN_NOT_OK(w_anyvalue_body(b, &v->v.array.values[i]));
      w_end(b, m2);
    }
    w_end(b, m);
    return 0;
  case OA_ANY_KVLIST:
    OA_RETURN_NOT_OK(w_begin(b, 6, &m));
    for (size_t i = 0; i < v->v.kvlist.n; i++)
      OA_RETURN_NOT_OK(w_kv(b, 1, &v->v.kvlist.kvs[i]));
    w_end(b, m);
    return 0;
  }
  return EINVAL;
}

static inline int vsize(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

/* Attributes with a scalar value (nearly all of them): sizes are known up
 * front, so the KeyValue is written in one go without moving bytes. */
static int w_kv_scalar(oa_bytes *b, uint32_t field, const oa_keyvalue *kv) {
  const oa_anyvalue *v = &kv->value;
  int64_t klen = kv->key ? (int64_t)strlen(kv->key) : 0;
  int64_t body; /* AnyValue message size */
  const char *str = NULL;
  int64_t slen = 0;
  switch (v->type) {
  case OA_ANY_STRING:
    str = v->v.str.ptr ? v->v.str.ptr : "";
    slen = v->v.str.len < 0 ? (int64_t)strlen(str) : v->v.str.len;
    body = 1 + vsize((uint64_t)slen) + slen;
    break;
  case OA_ANY_BYTES:
    str = (const char *)v->v.bytes.ptr;
    slen = str ? v->v.bytes.len : 0;
    body = 1 + vsize((uint64_t)slen) + slen;
    break;
  case OA_ANY_INT:
    body = 1 + vsize((uint64_t)v->v.i);
    break;
  case OA_ANY_DOUBLE:
    body = 9;
    break;
  case OA_ANY_BOOL:
    body = 2;
    break;
  default: /* OA_ANY_EMPTY */
    body = 0;
    break;
  }
  int64_t kvsize = (klen ? 1 + vsize((uint64_t)klen) + klen : 0) + 1 +
                   vsize((uint64_t)body) + body;
  OA_RETURN_NOT_OK(oa_bytes_reserve(b, kvsize + 16));
  uint8_t *p = b->data + b->size;
  p = put_varint(p, ((uint64_t)field << 3) | 2);
  p = put_varint(p, (uint64_t)kvsize);
  if (klen) {
    *p++ = 0x0a;
    p = put_varint(p, (uint64_t)klen);
    memcpy(p, kv->key, (size_t)klen);
    p += klen;
  }
  *p++ = 0x12;
  p = put_varint(p, (uint64_t)body);
  switch (v->type) {
  case OA_ANY_STRING:
  case OA_ANY_BYTES:
    *p++ = v->type == OA_ANY_STRING ? 0x0a : 0x3a;
    p = put_varint(p, (uint64_t)slen);
    if (slen) memcpy(p, str, (size_t)slen);
    p += slen;
    break;
  case OA_ANY_INT:
    *p++ = 0x18;
    p = put_varint(p, (uint64_t)v->v.i);
    break;
  case OA_ANY_DOUBLE:
    *p++ = 0x21;
    memcpy(p, &v->v.d, 8);
    p += 8;
    break;
  case OA_ANY_BOOL:
    *p++ = 0x10;
    *p++ = v->v.b ? 1 : 0;
    break;
  default:
    break;
  }
  b->size = p - b->data;
  return 0;
}

/* The usual attribute: a scalar value, field < 16, and key plus value short
 * enough that every length is one byte. Written without size
 * precomputation; anything else goes to w_kv_scalar. */
__attribute__((always_inline)) static inline int
w_kv_short(oa_bytes *b, uint32_t field, const oa_keyvalue *kv) {
  const oa_anyvalue *v = &kv->value;
  size_t klen = kv->key ? strlen(kv->key) : 0;
  const char *str = NULL;
  size_t slen = 0;
  if (v->type == OA_ANY_STRING) {
    str = v->v.str.ptr ? v->v.str.ptr : "";
    slen = v->v.str.len < 0 ? strlen(str) : (size_t)v->v.str.len;
  } else if (v->type == OA_ANY_BYTES) {
    str = (const char *)v->v.bytes.ptr;
    slen = str ? (size_t)v->v.bytes.len : 0;
  }
  /* kv = 2 + klen + 2 + body, body <= slen + 2 or 11: all < 128 */
  if (OA_UNLIKELY(klen + slen >= 110 || field >= 16))
    return w_kv_scalar(b, field, kv);
  OA_RETURN_NOT_OK(oa_bytes_reserve(b, (int64_t)(klen + slen) + 24));
  uint8_t *p = b->data + b->size, *q = p + 2;
  if (klen) {
    q[0] = 0x0a;
    q[1] = (uint8_t)klen;
    memcpy(q + 2, kv->key, klen);
    q += 2 + klen;
  }
  q[0] = 0x12;
  uint8_t *vs = q + 2;
  q = vs;
  switch (v->type) {
  case OA_ANY_STRING:
  case OA_ANY_BYTES:
    q[0] = v->type == OA_ANY_STRING ? 0x0a : 0x3a;
    q[1] = (uint8_t)slen;
    if (slen) memcpy(q + 2, str, slen);
    q += 2 + slen;
    break;
  case OA_ANY_INT:
    *q++ = 0x18;
    q = put_varint(q, (uint64_t)v->v.i);
    break;
  case OA_ANY_DOUBLE:
    *q++ = 0x21;
    memcpy(q, &v->v.d, 8);
    q += 8;
    break;
  case OA_ANY_BOOL:
    q[0] = 0x10;
    q[1] = v->v.b ? 1 : 0;
    q += 2;
    break;
  default: /* OA_ANY_EMPTY */
    break;
  }
  vs[-1] = (uint8_t)(q - vs);
  p[0] = (uint8_t)(field << 3 | 2);
  p[1] = (uint8_t)(q - (p + 2));
  b->size = q - b->data;
  return 0;
}

static int w_kv(oa_bytes *b, uint32_t field, const oa_keyvalue *kv) {
  if (kv->value.type != OA_ANY_ARRAY && kv->value.type != OA_ANY_KVLIST)
    return w_kv_short(b, field, kv);
  int64_t m, mv;
  OA_RETURN_NOT_OK(w_begin(b, field, &m));
  OA_RETURN_NOT_OK(w_str(b, 1, kv->key));
  OA_RETURN_NOT_OK(w_begin(b, 2, &mv));
  OA_RETURN_NOT_OK(w_anyvalue_body(b, &kv->value));
  w_end(b, mv);
  w_end(b, m);
  return 0;
}

static int w_attrs(oa_bytes *b, uint32_t field, const oa_keyvalue *kvs,
                   size_t n) {
  for (size_t i = 0; i < n; i++) {
    const oa_keyvalue *kv = &kvs[i];
    int rc = kv->value.type != OA_ANY_ARRAY && kv->value.type != OA_ANY_KVLIST
                 ? w_kv_short(b, field, kv)
                 : w_kv(b, field, kv);
    if (OA_UNLIKELY(rc)) return rc;
  }
  return 0;
}

static int w_uint(oa_bytes *b, uint32_t field, uint64_t v) {
  if (!v) return 0;
  OA_RETURN_NOT_OK(w_tag(b, field, 0));
  return w_varint(b, v);
}

/* ---------------------------------------------------------- checking */

static int check_value(const oa_anyvalue *v, int depth, const char *where,
                       size_t i, oa_error *err);

static int check_kvs(const oa_keyvalue *kvs, size_t n, int depth,
                     const char *where, size_t i, oa_error *err) {
  if (n && !kvs)
    return oa_error_set(err, EINVAL, "span %zu: %s: NULL attribute array", i,
                        where);
  for (size_t k = 0; k < n; k++)
    OA_RETURN_NOT_OK(check_value(&kvs[k].value, depth, where, i, err));
  return 0;
}

static int check_value(const oa_anyvalue *v, int depth, const char *where,
                       size_t i, oa_error *err) {
  switch (v->type) {
  case OA_ANY_EMPTY:
  case OA_ANY_STRING:
  case OA_ANY_BOOL:
  case OA_ANY_INT:
  case OA_ANY_DOUBLE:
    return 0;
  case OA_ANY_BYTES:
    if (v->v.bytes.len < 0 || (v->v.bytes.len && !v->v.bytes.ptr))
      return oa_error_set(err, EINVAL, "span %zu: %s: bad bytes value", i,
                          where);
    return 0;
  case OA_ANY_ARRAY:
  case OA_ANY_KVLIST:
    if (depth + 1 > OA_EXP_MAX_DEPTH)
      return oa_error_set(err, EINVAL,
                          "span %zu: %s: value nesting deeper than %d", i,
                          where, OA_EXP_MAX_DEPTH);
    if (v->type == OA_ANY_KVLIST)
      return check_kvs(v->v.kvlist.kvs, v->v.kvlist.n, depth + 1, where, i,
                       err);
    if (v->v.array.n && !v->v.array.values)
      return oa_error_set(err, EINVAL, "span %zu: %s: NULL array values", i,
                          where);
    for (size_t k = 0; k < v->v.array.n; k++)
      OA_RETURN_NOT_OK(
          check_value(&v->v.array.values[k], depth + 1, where, i, err));
    return 0;
  }
  return oa_error_set(err, EINVAL, "span %zu: %s: unknown value type %d", i,
                      where, (int)v->type);
}

/* Attributes whose values need no checking (scalars but bytes): the
 * common case, tested without a call per value. */
static inline bool plain_kvs(const oa_keyvalue *kvs, size_t n) {
  if (n && !kvs) return false;
  for (size_t k = 0; k < n; k++)
    if ((unsigned)kvs[k].value.type > OA_ANY_DOUBLE) return false;
  return true;
}

int oa_exp_span_check(const oa_span *sp, size_t i, oa_error *err) {
  uint64_t t[2], s;
  memcpy(t, sp->trace_id, 16);
  memcpy(&s, sp->span_id, 8);
  if (!(t[0] | t[1]))
    return oa_error_set(err, EINVAL, "span %zu: trace_id is all zero", i);
  if (!s) return oa_error_set(err, EINVAL, "span %zu: span_id is all zero", i);
  if (!plain_kvs(sp->attrs, sp->n_attrs))
    OA_RETURN_NOT_OK(
        check_kvs(sp->attrs, sp->n_attrs, 0, "attributes", i, err));
  if (sp->n_events && !sp->events)
    return oa_error_set(err, EINVAL, "span %zu: NULL events array", i);
  for (size_t k = 0; k < sp->n_events; k++)
    OA_RETURN_NOT_OK(check_kvs(sp->events[k].attrs, sp->events[k].n_attrs, 0,
                               "event attributes", i, err));
  if (sp->n_links && !sp->links)
    return oa_error_set(err, EINVAL, "span %zu: NULL links array", i);
  for (size_t k = 0; k < sp->n_links; k++)
    OA_RETURN_NOT_OK(check_kvs(sp->links[k].attrs, sp->links[k].n_attrs, 0,
                               "link attributes", i, err));
  return 0;
}

/* ------------------------------------------------- resource and scope */

int oa_resource_new(oa_resource **out, const char *service_name,
                    const oa_keyvalue *attrs, size_t n_attrs,
                    const char *schema_url, oa_error *err) {
  *out = NULL;
  OA_RETURN_NOT_OK(check_kvs(attrs, n_attrs, 0, "resource attributes", 0, err));
  oa_resource *r = calloc(1, sizeof *r);
  if (!r) return oa_error_set(err, ENOMEM, "resource: out of memory");
  oa_bytes_init(&r->msg);
  int rc = 0;
  if (service_name) {
    oa_keyvalue kv = OA_KV_STR("service.name", service_name);
    rc = w_kv(&r->msg, 1, &kv);
  }
  if (!rc) rc = w_attrs(&r->msg, 1, attrs, n_attrs);
  if (!rc && schema_url && !(r->schema_url = strdup(schema_url))) rc = ENOMEM;
  if (rc) {
    oa_resource_free(r);
    return oa_error_set(err, rc, "resource: out of memory");
  }
  *out = r;
  return 0;
}

void oa_resource_free(oa_resource *r) {
  if (!r) return;
  oa_bytes_reset(&r->msg);
  free(r->schema_url);
  free(r);
}

int oa_scope_new(oa_scope **out, const char *name, const char *version,
                 const oa_keyvalue *attrs, size_t n_attrs,
                 const char *schema_url, oa_error *err) {
  *out = NULL;
  OA_RETURN_NOT_OK(check_kvs(attrs, n_attrs, 0, "scope attributes", 0, err));
  oa_scope *s = calloc(1, sizeof *s);
  if (!s) return oa_error_set(err, ENOMEM, "scope: out of memory");
  oa_bytes_init(&s->msg);
  int rc = w_str(&s->msg, 1, name);
  if (!rc) rc = w_str(&s->msg, 2, version);
  if (!rc) rc = w_attrs(&s->msg, 3, attrs, n_attrs);
  if (!rc && schema_url && !(s->schema_url = strdup(schema_url))) rc = ENOMEM;
  if (rc) {
    oa_scope_free(s);
    return oa_error_set(err, rc, "scope: out of memory");
  }
  *out = s;
  return 0;
}

void oa_scope_free(oa_scope *s) {
  if (!s) return;
  oa_bytes_reset(&s->msg);
  free(s->schema_url);
  free(s);
}

/* ----------------------------------------------------------- the stage */

void oa_exp_stage_init(oa_exp_stage *s) {
  memset(s, 0, sizeof *s);
  oa_bytes_init(&s->spans);
  oa_bytes_init(&s->meta);
}

void oa_exp_stage_reset(oa_exp_stage *s) {
  oa_bytes_reset(&s->spans);
  oa_bytes_reset(&s->meta);
  free(s->groups);
  oa_exp_stage_init(s);
}

int oa_exp_stage_presize(oa_exp_stage *s, int64_t bytes) {
  if (bytes <= s->spans.capacity || s->spans.size) return 0;
  /* Not zeroed: every byte up to size is written before it is read, and a
   * batch is megabytes of fresh memory; zeroing it first doubled the cost
   * of its page faults on the adding thread. (Huge pages, tried with
   * madvise, cut that further but stalled some runs for 100+ ms.) */
  void *p = NULL;
  size_t cap = ((size_t)bytes + 63) & ~(size_t)63;
  if (posix_memalign(&p, 64, cap) != 0) return ENOMEM;
  oa_aligned_free(s->spans.data);
  s->spans.data = p; /* oa_aligned_free (free) releases it */
  s->spans.capacity = (int64_t)cap;
  return 0;
}

void oa_exp_stage_clear(oa_exp_stage *s) {
  s->spans.size = 0;
  s->meta.size = 0;
  s->n_groups = 0;
  s->n_spans = 0;
  s->first_ms = 0;
}

static int meta_add(oa_bytes *meta, const void *p, int64_t n, int64_t *off) {
  *off = meta->size;
  return oa_bytes_append(meta, p, n);
}

static inline bool memeq(const void *a, const void *b, int64_t n) {
  return n == 0 || memcmp(a, b, (size_t)n) == 0;
}

/* data + off without arithmetic on a NULL (never allocated) buffer */
static inline const uint8_t *at(const oa_bytes *b, int64_t off) {
  return b->data ? b->data + off : (const uint8_t *)"";
}

/* Same object as the open run, and (in case the address was reused after a
 * free) the same bytes. */
static bool same_res(const oa_exp_stage *s, const oa_exp_group *g,
                     const oa_resource *r) {
  if (g->res_key != (const void *)r) return false;
  if (!r) return true;
  const char *url = r->schema_url ? r->schema_url : "";
  return g->res_len == r->msg.size && g->res_url_len == (int64_t)strlen(url) &&
         memeq(at(&s->meta, g->res_off), at(&r->msg, 0), g->res_len) &&
         memeq(at(&s->meta, g->res_url_off), url, g->res_url_len);
}

static bool same_scope(const oa_exp_stage *s, const oa_exp_group *g,
                       const oa_scope *sc) {
  if (g->scope_key != (const void *)sc) return false;
  if (!sc) return true;
  const char *url = sc->schema_url ? sc->schema_url : "";
  return g->scope_len == sc->msg.size &&
         g->scope_url_len == (int64_t)strlen(url) &&
         memeq(at(&s->meta, g->scope_off), at(&sc->msg, 0), g->scope_len) &&
         memeq(at(&s->meta, g->scope_url_off), url, g->scope_url_len);
}

static int new_group(oa_exp_stage *s, const oa_resource *r,
                     const oa_scope *sc) {
  if (s->n_groups == s->cap_groups) {
    int64_t cap = s->cap_groups ? s->cap_groups * 2 : 8;
    oa_exp_group *g = realloc(s->groups, (size_t)cap * sizeof *g);
    if (!g) return ENOMEM;
    s->groups = g;
    s->cap_groups = cap;
  }
  oa_exp_group *g = &s->groups[s->n_groups];
  memset(g, 0, sizeof *g);
  g->res_key = r;
  g->scope_key = sc;
  if (r) {
    const char *url = r->schema_url ? r->schema_url : "";
    OA_RETURN_NOT_OK(meta_add(&s->meta, r->msg.data, r->msg.size, &g->res_off));
    g->res_len = r->msg.size;
    OA_RETURN_NOT_OK(
        meta_add(&s->meta, url, (int64_t)strlen(url), &g->res_url_off));
    g->res_url_len = (int64_t)strlen(url);
  }
  if (sc) {
    const char *url = sc->schema_url ? sc->schema_url : "";
    OA_RETURN_NOT_OK(
        meta_add(&s->meta, sc->msg.data, sc->msg.size, &g->scope_off));
    g->scope_len = sc->msg.size;
    OA_RETURN_NOT_OK(
        meta_add(&s->meta, url, (int64_t)strlen(url), &g->scope_url_off));
    g->scope_url_len = (int64_t)strlen(url);
  }
  g->span_off = g->span_end = s->spans.size;
  s->n_groups++;
  return 0;
}

static int w_span(oa_bytes *b, const oa_span *sp) {
  int64_t m;
  /* spans of 128 bytes to 16 KiB (nearly all) have a 2-byte length */
  OA_RETURN_NOT_OK(w_begin_r(b, 2, 2, &m));
  /* ids, times and kind: fixed sizes, one reservation */
  OA_RETURN_NOT_OK(oa_bytes_reserve(b, 18 + 10 + 10 + 11 + 9 + 9));
  uint8_t *p = b->data + b->size;
  p[0] = 0x0a;
  p[1] = 16;
  memcpy(p + 2, sp->trace_id, 16);
  p[18] = 0x12;
  p[19] = 8;
  memcpy(p + 20, sp->span_id, 8);
  b->size += 28;
  OA_RETURN_NOT_OK(w_str(b, 3, sp->trace_state));
  if (sp->has_parent) OA_RETURN_NOT_OK(w_len(b, 4, sp->parent_span_id, 8));
  OA_RETURN_NOT_OK(w_str(b, 5, sp->name));
  OA_RETURN_NOT_OK(oa_bytes_reserve(b, 11 + 9 + 9));
  p = b->data + b->size;
  if (sp->kind) {
    *p++ = 6 << 3;
    p = put_varint(p, (uint64_t)(int64_t)sp->kind);
  }
  if (sp->start_time_unix_nano) {
    *p++ = 7 << 3 | 1;
    memcpy(p, &sp->start_time_unix_nano, 8);
    p += 8;
  }
  if (sp->end_time_unix_nano) {
    *p++ = 8 << 3 | 1;
    memcpy(p, &sp->end_time_unix_nano, 8);
    p += 8;
  }
  b->size = p - b->data;
  OA_RETURN_NOT_OK(w_attrs(b, 9, sp->attrs, sp->n_attrs));
  OA_RETURN_NOT_OK(w_uint(b, 10, sp->dropped_attributes_count));
  for (size_t k = 0; k < sp->n_events; k++) {
    const oa_span_event *ev = &sp->events[k];
    int64_t me;
    OA_RETURN_NOT_OK(w_begin(b, 11, &me));
    if (ev->time_unix_nano)
      OA_RETURN_NOT_OK(w_fixed64(b, 1, (uint64_t)ev->time_unix_nano));
    OA_RETURN_NOT_OK(w_str(b, 2, ev->name));
    OA_RETURN_NOT_OK(w_attrs(b, 3, ev->attrs, ev->n_attrs));
    OA_RETURN_NOT_OK(w_uint(b, 4, ev->dropped_attributes_count));
    w_end(b, me);
  }
  OA_RETURN_NOT_OK(w_uint(b, 12, sp->dropped_events_count));
  for (size_t k = 0; k < sp->n_links; k++) {
    const oa_span_link *l = &sp->links[k];
    int64_t ml;
    OA_RETURN_NOT_OK(w_begin(b, 13, &ml));
    OA_RETURN_NOT_OK(w_len(b, 1, l->trace_id, 16));
    OA_RETURN_NOT_OK(w_len(b, 2, l->span_id, 8));
    OA_RETURN_NOT_OK(w_str(b, 3, l->trace_state));
    OA_RETURN_NOT_OK(w_attrs(b, 4, l->attrs, l->n_attrs));
    OA_RETURN_NOT_OK(w_uint(b, 5, l->dropped_attributes_count));
    if (l->flags) OA_RETURN_NOT_OK(w_fixed32(b, 6, l->flags));
    w_end(b, ml);
  }
  OA_RETURN_NOT_OK(w_uint(b, 14, sp->dropped_links_count));
  if (sp->status_code || (sp->status_message && *sp->status_message)) {
    int64_t ms;
    OA_RETURN_NOT_OK(w_begin(b, 15, &ms));
    OA_RETURN_NOT_OK(w_str(b, 2, sp->status_message));
    OA_RETURN_NOT_OK(w_uint(b, 3, (uint64_t)(int64_t)sp->status_code));
    w_end(b, ms);
  }
  if (sp->flags) OA_RETURN_NOT_OK(w_fixed32(b, 16, sp->flags));
  return w_end_r(b, m, 2);
}

int oa_exp_stage_add(oa_exp_stage *s, const oa_span *sp, oa_error *err) {
  oa_exp_group *g = s->n_groups ? &s->groups[s->n_groups - 1] : NULL;
  int rc = 0;
  if (!g || !same_res(s, g, sp->resource) || !same_scope(s, g, sp->scope)) {
    rc = new_group(s, sp->resource, sp->scope);
    g = &s->groups[s->n_groups - 1];
  }
  int64_t before = s->spans.size;
  if (!rc) rc = w_span(&s->spans, sp);
  if (rc) {
    s->spans.size = before; /* drop the partial span */
    return oa_error_set(err, rc, "exporter: staging a span: out of memory");
  }
  g->span_end = s->spans.size;
  s->n_spans++;
  return 0;
}

int oa_exp_stage_request(const oa_exp_stage *s, oa_bytes *out, oa_error *err) {
  out->size = 0;
  int rc = oa_bytes_reserve(out, s->spans.size + s->n_groups * 64 +
                                     s->meta.size + 64);
  const oa_bytes *mb = &s->meta;
  for (int64_t i = 0; !rc && i < s->n_groups;) {
    const oa_exp_group *g = &s->groups[i];
    int64_t mrs, mr;
    rc = w_begin(out, 1, &mrs);
    if (!rc) rc = w_begin(out, 1, &mr);
    if (!rc) rc = oa_bytes_append(out, at(mb, g->res_off), g->res_len);
    if (rc) break;
    w_end(out, mr);
    /* following runs with an equal resource share its ResourceSpans */
    int64_t j = i;
    for (; !rc && j < s->n_groups; j++) {
      const oa_exp_group *h = &s->groups[j];
      if (j > i &&
          (h->res_len != g->res_len || h->res_url_len != g->res_url_len ||
           !memeq(at(mb, h->res_off), at(mb, g->res_off), g->res_len) ||
           !memeq(at(mb, h->res_url_off), at(mb, g->res_url_off),
                  g->res_url_len)))
        break;
      int64_t mss, msc;
      rc = w_begin(out, 2, &mss);
      if (!rc) rc = w_begin(out, 1, &msc);
      if (!rc) rc = oa_bytes_append(out, at(mb, h->scope_off), h->scope_len);
      if (rc) break;
      w_end(out, msc);
      rc = oa_bytes_append(out, at(&s->spans, h->span_off),
                           h->span_end - h->span_off);
      if (!rc && h->scope_url_len)
        rc = w_len(out, 3, at(mb, h->scope_url_off), h->scope_url_len);
      if (rc) break;
      w_end(out, mss);
    }
    if (!rc && g->res_url_len)
      rc = w_len(out, 3, at(mb, g->res_url_off), g->res_url_len);
    if (rc) break;
    w_end(out, mrs);
    i = j;
  }
  if (rc)
    return oa_error_set(err, rc, "exporter: building a request: %s",
                        rc == ENOMEM ? "out of memory" : "failed");
  return 0;
}
