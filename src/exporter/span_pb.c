/* Span records: resources, scopes, the span stage (records copied into an
 * arena) and their OTLP protobuf (the persistent queue's payload). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "exporter_internal.h"
#include "otlp/otlp_build.h"

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

int oa_exp_anyvalue_pb(oa_bytes *b, const oa_anyvalue *v) {
  return w_anyvalue_body(b, v);
}

/* ------------------------------------------------------------- arena */

#define OA_EXP_CHUNK (256 * 1024)
#define OA_EXP_HUGE ((int64_t)2 << 20)

static int64_t huge_round(int64_t n) {
  return (n + OA_EXP_HUGE - 1) & ~(OA_EXP_HUGE - 1);
}

/* n bytes (a multiple of 2 MiB) mapped at a 2 MiB boundary and advised for
 * transparent huge pages: one page fault per 2 MiB instead of 512. Only the
 * threads that warm stages map these (a huge page fault may stall on
 * compaction: never on the adding thread). */
static void *huge_map(int64_t n) {
  size_t len = (size_t)(n + OA_EXP_HUGE);
  uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  uintptr_t a = ((uintptr_t)p + (uintptr_t)OA_EXP_HUGE - 1) &
                ~(uintptr_t)(OA_EXP_HUGE - 1);
  size_t head = a - (uintptr_t)p, tail = len - head - (size_t)n;
  if (head) munmap(p, head);
  if (tail) munmap((uint8_t *)a + n, tail);
  (void)madvise((void *)a, (size_t)n, MADV_HUGEPAGE); /* advice only */
  return (void *)a;
}

/* Takes the page faults of mapped memory now, in one call (about half the
 * cost of touching each page); a kernel before 5.14 gets the memset. */
static void populate(void *p, int64_t n) {
  if (madvise(p, (size_t)n, MADV_POPULATE_WRITE) != 0) memset(p, 0, (size_t)n);
}

/* Faults in the whole pages of fresh malloc'ed memory in one call, cheaper
 * than one fault per 4 KiB page as the copies reach them; nothing if the
 * kernel lacks MADV_POPULATE_WRITE. */
static void prefault(void *p, int64_t n) {
  uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
  uintptr_t b = ((uintptr_t)p + (uintptr_t)n) & ~(uintptr_t)4095;
  if (b > a) (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
}

static void chunk_free(const oa_exp_chunk *c) {
  if (c->mapped)
    munmap(c->data, (size_t)c->cap);
  else
    free(c->data);
}

static int add_chunk(oa_exp_arena *a, uint8_t *p, int64_t cap, bool mapped) {
  if (a->n_chunks == a->cap_chunks) {
    int nc = a->cap_chunks ? a->cap_chunks * 2 : 8;
    oa_exp_chunk *c = realloc(a->chunks, (size_t)nc * sizeof *c);
    if (!c) return ENOMEM;
    a->chunks = c;
    a->cap_chunks = nc;
  }
  a->chunks[a->n_chunks++] = (oa_exp_chunk){p, cap, mapped};
  a->cur = a->n_chunks - 1;
  a->used = 0;
  return 0;
}

void *oa_exp_arena_alloc_slow(oa_exp_arena *a, int64_t n) {
  /* the next retained chunk if it fits; a too small one is replaced */
  while (a->cur + 1 < a->n_chunks) {
    a->cur++;
    a->used = 0;
    if (n <= a->chunks[a->cur].cap) return oa_exp_arena_alloc(a, n);
  }
  /* chunks double up to 4 MiB: a batch of spans is megabytes */
  int64_t cap = OA_EXP_CHUNK;
  if (a->n_chunks) {
    cap = a->chunks[a->n_chunks - 1].cap * 2;
    if (cap > ((int64_t)4 << 20)) cap = (int64_t)4 << 20;
  }
  if (cap < n) cap = n;
  /* not zeroed: every byte is written before it is read */
  uint8_t *p = malloc((size_t)cap);
  if (!p) return NULL;
  /* a first chunk may stay mostly unused (a resource's or scope's copy, a
   * small batch): only a growing arena gets its next chunk faulted in */
  if (a->n_chunks) prefault(p, cap);
  if (add_chunk(a, p, cap, false)) {
    free(p);
    return NULL;
  }
  return oa_exp_arena_alloc(a, n);
}

void oa_exp_arena_clear(oa_exp_arena *a) {
  a->cur = 0;
  a->used = 0;
  a->bytes = 0;
}

void oa_exp_arena_reset(oa_exp_arena *a) {
  for (int i = 0; i < a->n_chunks; i++)
    chunk_free(&a->chunks[i]);
  free(a->chunks);
  memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------- deep copy */

/* Short copies inline: most strings of a span are under 16 bytes, where a
 * call to memcpy costs more than the copy. */
static inline void copy_small(uint8_t *d, const uint8_t *s, size_t n) {
  if (n >= 16) {
    memcpy(d, s, n);
  } else if (n >= 8) {
    uint64_t x, y;
    memcpy(&x, s, 8);
    memcpy(&y, s + n - 8, 8);
    memcpy(d, &x, 8);
    memcpy(d + n - 8, &y, 8);
  } else if (n >= 4) {
    uint32_t x, y;
    memcpy(&x, s, 4);
    memcpy(&y, s + n - 4, 4);
    memcpy(d, &x, 4);
    memcpy(d + n - 4, &y, 4);
  } else {
    for (size_t i = 0; i < n; i++)
      d[i] = s[i];
  }
}

/* Staged strings are addressed by 32-bit offsets in the batch anyway. */
#define OA_EXP_MAX_STRING ((int64_t)INT32_MAX - 16)

/* writes a staged string at p (room: n + 5); returns the string */
static inline char *put_staged(uint8_t *p, const void *s, int64_t n) {
  uint32_t n32 = (uint32_t)n;
  memcpy(p, &n32, 4);
  copy_small(p + 4, s, (size_t)n);
  p[4 + n] = 0;
  return (char *)p + 4;
}

/* A staged string: its length (uint32) right before it, NUL after it.
 * NULL: no memory, or too long (copy_err tells which). */
static inline const char *copy_bytes(oa_exp_arena *a, const void *s,
                                     int64_t n) {
  if (OA_UNLIKELY(n > OA_EXP_MAX_STRING)) return NULL;
  uint8_t *p = oa_exp_arena_bytes(a, n + 5);
  return p ? put_staged(p, s, n) : NULL;
}

/* the status of a failed copy_bytes of n bytes */
static inline int copy_err(int64_t n) {
  return n > OA_EXP_MAX_STRING ? E2BIG : ENOMEM;
}

/* NULL stays NULL (an empty string either way) */
static inline int copy_cstr(oa_exp_arena *a, const char **s) {
  if (!*s) return 0;
  int64_t n = (int64_t)strlen(*s);
  return (*s = copy_bytes(a, *s, n)) ? 0 : copy_err(n);
}

static int copy_kvs(oa_exp_arena *a, const oa_keyvalue **kvs, size_t n);

static int copy_value(oa_exp_arena *a, oa_anyvalue *v) {
  switch (v->type) {
  case OA_ANY_STRING: {
    const char *s = v->v.str.ptr;
    int64_t n = !s ? 0 : v->v.str.len < 0 ? (int64_t)strlen(s) : v->v.str.len;
    if (!(v->v.str.ptr = copy_bytes(a, s, n))) return copy_err(n);
    v->v.str.len = n;
    return 0;
  }
  case OA_ANY_BYTES: {
    int64_t n = v->v.bytes.ptr ? v->v.bytes.len : 0;
    const char *p = copy_bytes(a, v->v.bytes.ptr, n);
    if (!p) return copy_err(n);
    v->v.bytes.ptr = (const uint8_t *)p;
    v->v.bytes.len = n;
    return 0;
  }
  case OA_ANY_ARRAY: {
    size_t n = v->v.array.n;
    if (!n) {
      v->v.array.values = NULL;
      return 0;
    }
    oa_anyvalue *d = oa_exp_arena_alloc(a, (int64_t)(n * sizeof *d));
    if (!d) return ENOMEM;
    memcpy(d, v->v.array.values, n * sizeof *d);
    for (size_t i = 0; i < n; i++)
      OA_RETURN_NOT_OK(copy_value(a, &d[i]));
    v->v.array.values = d;
    return 0;
  }
  case OA_ANY_KVLIST:
    return copy_kvs(a, &v->v.kvlist.kvs, v->v.kvlist.n);
  default:
    return 0;
  }
}

static int copy_kvs(oa_exp_arena *a, const oa_keyvalue **kvs, size_t n) {
  if (!n) {
    *kvs = NULL;
    return 0;
  }
  oa_keyvalue *d = oa_exp_arena_alloc(a, (int64_t)(n * sizeof *d));
  if (!d) return ENOMEM;
  memcpy(d, *kvs, n * sizeof *d);
  for (size_t i = 0; i < n; i++) {
    oa_keyvalue *kv = &d[i];
    const char *k = kv->key ? kv->key : "";
    int64_t kl = (int64_t)strlen(k);
    oa_anyvalue *v = &kv->value;
    /* the key and a string value (the usual attribute) in one allocation */
    if (v->type == OA_ANY_STRING) {
      const char *s = v->v.str.ptr;
      int64_t sn = !s                 ? 0
                   : v->v.str.len < 0 ? (int64_t)strlen(s)
                                      : v->v.str.len;
      if (OA_UNLIKELY(kl > OA_EXP_MAX_STRING || sn > OA_EXP_MAX_STRING))
        return E2BIG;
      uint8_t *p = oa_exp_arena_bytes(a, kl + 5 + sn + 5);
      if (!p) return ENOMEM;
      kv->key = put_staged(p, k, kl);
      v->v.str.ptr = put_staged(p + kl + 5, s, sn);
      v->v.str.len = sn;
      continue;
    }
    if (!(kv->key = copy_bytes(a, k, kl))) return copy_err(kl);
    if (v->type >= OA_ANY_BYTES) OA_RETURN_NOT_OK(copy_value(a, v));
  }
  *kvs = d;
  return 0;
}

/* The type goes in bits user-space pointers leave clear; were it not so, a
 * collision would only cost a miss (key_is checks the type). */
static inline uint64_t key_id(const char *k, int t) {
  return (uint64_t)(uintptr_t)k ^ (uint64_t)t << 61;
}

/* the home slot of id */
static inline int64_t key_slot(uint64_t id) {
  return (int64_t)((id * 0x9E3779B97F4A7C15ull) >> (64 - OA_EXP_KEYS_BITS));
}

/* Whether staged key sk is k (kl bytes) staged with type t. */
static inline bool key_is(const char *sk, const char *k, int64_t kl, int t) {
  return (uint8_t)sk[-5] == (uint8_t)t && oa_exp_staged_len(sk) == kl &&
         oa_otlp_eq_bytes((const uint8_t *)sk, (const uint8_t *)k, kl);
}

/* Stages key k (type byte, length, bytes, NUL). */
static const char *stage_key(oa_exp_arena *a, const char *k, int64_t kl,
                             int t) {
  uint8_t *p = oa_exp_arena_bytes(a, 1 + kl + 5);
  if (!p) return NULL;
  p[0] = (uint8_t)t;
  return put_staged(p + 1, k, kl);
}

/* Not in the home slot of its id: the rest of the probe, else a new copy
 * (in the entry of the same id, whose text changed, in the first free
 * slot, or with the table half full in the home slot). Out of line: the
 * home slot's hit is the hot path. NULL: out of memory. */
static __attribute__((noinline)) const char *
key_miss(oa_exp_arena *a, oa_exp_keys *ks, uint64_t id, const char *k,
         int64_t kl, int t) {
  int64_t home = key_slot(id), j = home;
  oa_exp_key_ent *e;
  for (;; j = (j + 1) & (OA_EXP_KEYS - 1)) {
    e = &ks->e[j];
    if (e->id == id) {
      if (key_is(e->key, k, kl, t)) return e->key;
      break;
    }
    if (e->id == 0) {
      /* half full: replace the home slot's key (an empty one stays empty,
       * so that a probe always ends) */
      if (ks->n < OA_EXP_KEYS / 2)
        ks->n++;
      else
        e = j != home ? &ks->e[home] : NULL;
      break;
    }
  }
  const char *sk = stage_key(a, k, kl, t);
  if (sk && e) *e = (oa_exp_key_ent){.id = id, .key = sk};
  return sk;
}

/* A top-level attribute list as oa_exp_kv records (16 bytes each, half an
 * oa_keyvalue): the staged key carries the value's type in front of its
 * length. The list's pointer is stored where the oa_keyvalue array was.
 * keys (the stage's cache) has the keys already staged: a key staged with
 * the same type is shared, not copied again. */
static int copy_attrs(oa_exp_arena *a, oa_exp_keys *keys,
                      const oa_keyvalue **kvs, size_t n) {
  if (!n) {
    *kvs = NULL;
    return 0;
  }
  const oa_keyvalue *src = *kvs;
  oa_exp_kv *d = oa_exp_arena_alloc(a, (int64_t)(n * sizeof *d));
  if (!d) return ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const oa_keyvalue *kv = &src[i];
    const char *k = kv->key ? kv->key : "";
    int64_t kl = (int64_t)strlen(k);
    const oa_anyvalue *v = &kv->value;
    int t = (int)v->type;
    const void *sp = NULL;
    int64_t sn = 0;
    if (t == OA_ANY_STRING) {
      sp = v->v.str.ptr;
      sn = !sp ? 0 : v->v.str.len < 0 ? (int64_t)strlen(sp) : v->v.str.len;
    } else if (t == OA_ANY_BYTES) {
      sp = v->v.bytes.ptr;
      sn = sp ? v->v.bytes.len : 0;
    }
    if (OA_UNLIKELY(kl > OA_EXP_MAX_STRING || sn > OA_EXP_MAX_STRING))
      return E2BIG;
    /* the same pointer and type, then the same length and bytes: the
     * caller may have reused the key's buffer for another key */
    uint64_t id = key_id(k, t);
    const oa_exp_key_ent *ke = &keys->e[key_slot(id)];
    const char *sk = ke->key;
    if (OA_UNLIKELY(ke->id != id || !key_is(sk, k, kl, t)) &&
        !(sk = key_miss(a, keys, id, k, kl, t)))
      return ENOMEM;
    d[i].key = sk;
    switch (t) {
    case OA_ANY_STRING:
    case OA_ANY_BYTES:
      if (!(d[i].v.s = copy_bytes(a, sp, sn))) return ENOMEM;
      break;
    case OA_ANY_BOOL:
      d[i].v.i = v->v.b ? 1 : 0;
      break;
    case OA_ANY_INT:
      d[i].v.i = v->v.i;
      break;
    case OA_ANY_DOUBLE:
      d[i].v.d = v->v.d;
      break;
    case OA_ANY_ARRAY:
    case OA_ANY_KVLIST: {
      oa_anyvalue *nv = oa_exp_arena_alloc(a, (int64_t)sizeof *nv);
      if (!nv) return ENOMEM;
      *nv = *v;
      OA_RETURN_NOT_OK(copy_value(a, nv));
      d[i].v.nested = nv;
      break;
    }
    default: /* empty */
      d[i].v.i = 0;
      break;
    }
  }
  *kvs = (const oa_keyvalue *)(const void *)d;
  return 0;
}

/* ------------------------------------------------- resource and scope */

void oa_exp_resource_retain(const oa_resource *r) {
  atomic_fetch_add_explicit(&((oa_resource *)r)->refs, 1, memory_order_relaxed);
}

void oa_exp_scope_retain(const oa_scope *s) {
  atomic_fetch_add_explicit(&((oa_scope *)s)->refs, 1, memory_order_relaxed);
}

static void resource_destroy(oa_resource *r) {
  oa_bytes_reset(&r->msg);
  oa_exp_arena_reset(&r->mem);
  free(r->schema_url);
  free(r);
}

static void scope_destroy(oa_scope *s) {
  oa_bytes_reset(&s->msg);
  oa_exp_arena_reset(&s->mem);
  free(s->schema_url);
  free(s);
}

int oa_resource_new(oa_resource **out, const char *service_name,
                    const oa_keyvalue *attrs, size_t n_attrs,
                    const char *schema_url, oa_error *err) {
  *out = NULL;
  OA_RETURN_NOT_OK(check_kvs(attrs, n_attrs, 0, "resource attributes", 0, err));
  oa_resource *r = calloc(1, sizeof *r);
  if (!r) return oa_error_set(err, ENOMEM, "resource: out of memory");
  atomic_init(&r->refs, 1);
  oa_bytes_init(&r->msg);
  int rc = 0;
  size_t n = n_attrs + (service_name ? 1 : 0);
  oa_keyvalue *all = n ? calloc(n, sizeof *all) : NULL;
  if (n && !all) rc = ENOMEM;
  if (!rc && service_name) {
    all[0] = (oa_keyvalue)OA_KV_STR("service.name", service_name);
    rc = w_kv(&r->msg, 1, &all[0]);
  }
  if (!rc && n_attrs) {
    memcpy(all + (service_name ? 1 : 0), attrs, n_attrs * sizeof *all);
    rc = w_attrs(&r->msg, 1, attrs, n_attrs);
  }
  const oa_keyvalue *copy = all;
  oa_exp_keys keys; /* this copy's own (a resource is made once) */
  memset(&keys, 0, sizeof keys);
  if (!rc) rc = copy_attrs(&r->mem, &keys, &copy, n);
  r->attrs = rc ? NULL : oa_exp_kvs(copy);
  r->n_attrs = rc ? 0 : n;
  free(all);
  if (!rc && schema_url && !(r->schema_url = strdup(schema_url))) rc = ENOMEM;
  if (rc) {
    resource_destroy(r);
    return oa_error_set(err, rc, "resource: out of memory");
  }
  *out = r;
  return 0;
}

void oa_resource_free(oa_resource *r) {
  if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
    resource_destroy(r);
}

int oa_scope_new(oa_scope **out, const char *name, const char *version,
                 const oa_keyvalue *attrs, size_t n_attrs,
                 const char *schema_url, oa_error *err) {
  *out = NULL;
  OA_RETURN_NOT_OK(check_kvs(attrs, n_attrs, 0, "scope attributes", 0, err));
  oa_scope *s = calloc(1, sizeof *s);
  if (!s) return oa_error_set(err, ENOMEM, "scope: out of memory");
  atomic_init(&s->refs, 1);
  oa_bytes_init(&s->msg);
  int rc = w_str(&s->msg, 1, name);
  if (!rc) rc = w_str(&s->msg, 2, version);
  if (!rc) rc = w_attrs(&s->msg, 3, attrs, n_attrs);
  const oa_keyvalue *copy = attrs;
  oa_exp_keys keys;
  memset(&keys, 0, sizeof keys);
  if (!rc) rc = copy_attrs(&s->mem, &keys, &copy, n_attrs);
  s->attrs = rc ? NULL : oa_exp_kvs(copy);
  s->n_attrs = n_attrs;
  const char *nm = name ? name : "", *ver = version ? version : "";
  if (!rc && !(s->name = (char *)copy_bytes(&s->mem, nm, (int64_t)strlen(nm))))
    rc = ENOMEM;
  if (!rc &&
      !(s->version = (char *)copy_bytes(&s->mem, ver, (int64_t)strlen(ver))))
    rc = ENOMEM;
  if (!rc && schema_url && !(s->schema_url = strdup(schema_url))) rc = ENOMEM;
  if (rc) {
    scope_destroy(s);
    return oa_error_set(err, rc, "scope: out of memory");
  }
  *out = s;
  return 0;
}

void oa_scope_free(oa_scope *s) {
  if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
    scope_destroy(s);
}

/* ----------------------------------------------------------- the stage */

void oa_exp_stage_init(oa_exp_stage *s) { memset(s, 0, sizeof *s); }

static void release_groups(oa_exp_stage *s) {
  for (int64_t i = 0; i < s->n_groups; i++) {
    oa_resource_free((oa_resource *)s->groups[i].res);
    oa_scope_free((oa_scope *)s->groups[i].scope);
  }
  s->n_groups = 0;
}

static void free_spans(oa_exp_stage *s) {
  if (s->spans_mapped)
    munmap(s->spans, (size_t)s->cap_spans * sizeof *s->spans);
  else
    free(s->spans);
  s->spans = NULL;
  s->cap_spans = 0;
  s->spans_mapped = false;
}

void oa_exp_stage_reset(oa_exp_stage *s) {
  release_groups(s);
  free_spans(s);
  free(s->groups);
  oa_exp_arena_reset(&s->arena);
  oa_exp_stage_init(s);
}

void oa_exp_stage_clear(oa_exp_stage *s) {
  release_groups(s);
  oa_exp_arena_clear(&s->arena);
  memset(&s->keys, 0, sizeof s->keys); /* they point into the arena */
  s->n_spans = 0;
  s->first_ms = 0;
}

int oa_exp_stage_warm(oa_exp_stage *s, int64_t n_spans, int64_t bytes) {
  if (s->n_spans || s->arena.bytes) return 0; /* only an empty stage */
  /* the pages are faulted in here, not on the thread that fills the stage;
   * the cap is rounded to 2 MiB, so the stage holds that much slack */
  if (n_spans > s->cap_spans) {
    int64_t nb = huge_round(n_spans * (int64_t)sizeof(oa_span));
    oa_span *v = huge_map(nb);
    if (!v) return ENOMEM;
    populate(v, nb);
    free_spans(s);
    s->spans = v;
    s->cap_spans = nb / (int64_t)sizeof(oa_span);
    s->spans_mapped = true;
  }
  oa_exp_arena *a = &s->arena;
  if (a->n_chunks == 0 || a->chunks[0].cap < bytes) {
    int64_t nb = huge_round(bytes);
    uint8_t *p = huge_map(nb);
    if (!p) return ENOMEM;
    populate(p, nb);
    oa_exp_arena_reset(a);
    memset(&s->keys, 0, sizeof s->keys);
    if (add_chunk(a, p, nb, true)) {
      munmap(p, (size_t)nb);
      return ENOMEM;
    }
    oa_exp_arena_clear(a);
  }
  return 0;
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
  oa_exp_group *g = &s->groups[s->n_groups++];
  g->res = r;
  g->scope = sc;
  g->first = g->end = s->n_spans;
  if (r) oa_exp_resource_retain(r);
  if (sc) oa_exp_scope_retain(sc);
  return 0;
}

static int copy_span(oa_exp_stage *s, oa_span *d) {
  oa_exp_arena *a = &s->arena;
  OA_RETURN_NOT_OK(copy_cstr(a, &d->trace_state));
  OA_RETURN_NOT_OK(copy_cstr(a, &d->name));
  OA_RETURN_NOT_OK(copy_cstr(a, &d->status_message));
  OA_RETURN_NOT_OK(copy_attrs(a, &s->keys, &d->attrs, d->n_attrs));
  if (d->n_events) {
    oa_span_event *ev =
        oa_exp_arena_alloc(a, (int64_t)(d->n_events * sizeof *ev));
    if (!ev) return ENOMEM;
    memcpy(ev, d->events, d->n_events * sizeof *ev);
    for (size_t k = 0; k < d->n_events; k++) {
      OA_RETURN_NOT_OK(copy_cstr(a, &ev[k].name));
      OA_RETURN_NOT_OK(copy_attrs(a, &s->keys, &ev[k].attrs, ev[k].n_attrs));
    }
    d->events = ev;
  } else {
    d->events = NULL;
  }
  if (d->n_links) {
    oa_span_link *l = oa_exp_arena_alloc(a, (int64_t)(d->n_links * sizeof *l));
    if (!l) return ENOMEM;
    memcpy(l, d->links, d->n_links * sizeof *l);
    for (size_t k = 0; k < d->n_links; k++) {
      OA_RETURN_NOT_OK(copy_cstr(a, &l[k].trace_state));
      OA_RETURN_NOT_OK(copy_attrs(a, &s->keys, &l[k].attrs, l[k].n_attrs));
    }
    d->links = l;
  } else {
    d->links = NULL;
  }
  return 0;
}

int oa_exp_stage_add(oa_exp_stage *s, const oa_span *sp, oa_error *err) {
  oa_exp_group *g = s->n_groups ? &s->groups[s->n_groups - 1] : NULL;
  int rc = 0;
  /* the group holds references: an equal pointer is the same object */
  if (!g || g->res != sp->resource || g->scope != sp->scope)
    rc = new_group(s, sp->resource, sp->scope);
  if (!rc && s->n_spans == s->cap_spans) {
    int64_t cap = s->cap_spans ? s->cap_spans * 2 : 1024;
    oa_span *v = s->spans_mapped ? malloc((size_t)cap * sizeof *v)
                                 : realloc(s->spans, (size_t)cap * sizeof *v);
    if (!v)
      rc = ENOMEM;
    else {
      if (s->spans_mapped) { /* a warmed array outgrown */
        memcpy(v, s->spans, (size_t)s->n_spans * sizeof *v);
        free_spans(s);
      }
      if (s->n_spans) /* growing: the new half will be filled */
        prefault(v + s->n_spans, (cap - s->n_spans) * (int64_t)sizeof *v);
      s->spans = v;
      s->cap_spans = cap;
    }
  }
  if (!rc) {
    oa_span *d = &s->spans[s->n_spans];
    *d = *sp;
    rc = copy_span(s, d);
  }
  if (rc) /* what the partial copy took stays unused until clear */
    return oa_error_set(err, rc, "exporter: staging a span: %s",
                        rc == E2BIG ? "a string is longer than 2 GiB"
                                    : "out of memory");
  s->n_spans++;
  s->groups[s->n_groups - 1].end = s->n_spans;
  return 0;
}

/* -------------------------------------------------- staged -> protobuf */

/* A staged attribute list (oa_exp_kv records), as w_attrs writes it. */
static int w_staged_attrs(oa_bytes *b, uint32_t field, const oa_keyvalue *list,
                          size_t n) {
  const oa_exp_kv *kvs = oa_exp_kvs(list);
  for (size_t i = 0; i < n; i++) {
    const oa_exp_kv *kv = &kvs[i];
    oa_keyvalue t = {.key = kv->key};
    t.value.type = (oa_anyvalue_type)oa_exp_kv_type(kv);
    switch (t.value.type) {
    case OA_ANY_STRING:
      t.value.v.str.ptr = kv->v.s;
      t.value.v.str.len = oa_exp_staged_len(kv->v.s);
      break;
    case OA_ANY_BYTES:
      t.value.v.bytes.ptr = (const uint8_t *)kv->v.s;
      t.value.v.bytes.len = oa_exp_staged_len(kv->v.s);
      break;
    case OA_ANY_BOOL:
      t.value.v.b = kv->v.i != 0;
      break;
    case OA_ANY_INT:
      t.value.v.i = kv->v.i;
      break;
    case OA_ANY_DOUBLE:
      t.value.v.d = kv->v.d;
      break;
    case OA_ANY_ARRAY:
    case OA_ANY_KVLIST:
      t.value = *kv->v.nested;
      break;
    default:
      break;
    }
    OA_RETURN_NOT_OK(w_kv(b, field, &t));
  }
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
  OA_RETURN_NOT_OK(w_staged_attrs(b, 9, sp->attrs, sp->n_attrs));
  OA_RETURN_NOT_OK(w_uint(b, 10, sp->dropped_attributes_count));
  for (size_t k = 0; k < sp->n_events; k++) {
    const oa_span_event *ev = &sp->events[k];
    int64_t me;
    OA_RETURN_NOT_OK(w_begin(b, 11, &me));
    if (ev->time_unix_nano)
      OA_RETURN_NOT_OK(w_fixed64(b, 1, (uint64_t)ev->time_unix_nano));
    OA_RETURN_NOT_OK(w_str(b, 2, ev->name));
    OA_RETURN_NOT_OK(w_staged_attrs(b, 3, ev->attrs, ev->n_attrs));
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
    OA_RETURN_NOT_OK(w_staged_attrs(b, 4, l->attrs, l->n_attrs));
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

static inline const char *url_of(const char *u) { return u ? u : ""; }

bool oa_exp_same_resource(const oa_resource *a, const oa_resource *b) {
  if (a == b) return true;
  int64_t na = a ? a->msg.size : 0, nb = b ? b->msg.size : 0;
  const char *ua = a ? url_of(a->schema_url) : "";
  const char *ub = b ? url_of(b->schema_url) : "";
  return na == nb && strcmp(ua, ub) == 0 &&
         (na == 0 || memcmp(a->msg.data, b->msg.data, (size_t)na) == 0);
}

int oa_exp_stage_request(const oa_exp_stage *s, oa_bytes *out, oa_error *err) {
  out->size = 0;
  int rc = oa_bytes_reserve(out, oa_exp_stage_bytes(s) / 2 + 64);
  for (int64_t i = 0; !rc && i < s->n_groups;) {
    const oa_resource *r = s->groups[i].res;
    int64_t mrs, mr;
    rc = w_begin(out, 1, &mrs);
    if (!rc) rc = w_begin(out, 1, &mr);
    if (!rc && r) rc = oa_bytes_append(out, r->msg.data, r->msg.size);
    if (rc) break;
    w_end(out, mr);
    /* following groups with an equal resource share its ResourceSpans */
    int64_t j = i;
    for (; !rc && j < s->n_groups; j++) {
      const oa_exp_group *h = &s->groups[j];
      if (j > i && !oa_exp_same_resource(h->res, r)) break;
      int64_t mss, msc;
      rc = w_begin(out, 2, &mss);
      if (!rc) rc = w_begin(out, 1, &msc);
      if (!rc && h->scope)
        rc = oa_bytes_append(out, h->scope->msg.data, h->scope->msg.size);
      if (rc) break;
      w_end(out, msc);
      for (int64_t k = h->first; !rc && k < h->end; k++)
        rc = w_span(out, &s->spans[k]);
      if (!rc && h->scope && h->scope->schema_url && *h->scope->schema_url)
        rc = w_str(out, 3, h->scope->schema_url);
      if (rc) break;
      w_end(out, mss);
    }
    if (!rc && r && r->schema_url && *r->schema_url)
      rc = w_str(out, 3, r->schema_url);
    if (rc) break;
    w_end(out, mrs);
    i = j;
  }
  if (rc)
    return oa_error_set(err, rc, "exporter: building a request: %s",
                        rc == ENOMEM ? "out of memory" : "failed");
  return 0;
}
