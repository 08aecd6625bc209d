/* FlatBuffers reader/verifier and builder (see flatbuf.h). Layout facts used
 * here, from the FlatBuffers format description:
 * - the buffer starts with a uoffset (uint32) to the root table;
 * - a uoffset is relative to its own position and points forward;
 * - a table starts with an soffset (int32): vtable = table - soffset;
 * - a vtable is uint16 [vtable size, table inline size, field offsets...],
 *   a field offset of 0 (or one past the vtable's end) means "absent";
 * - vectors and strings are a uint32 count followed by the elements; strings
 *   carry an extra NUL byte;
 * - scalars are aligned to their size, vectors' elements to their alignment
 *   (and the count to 4), and the whole buffer to the largest alignment. */
#include "ipc/flatbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "flatbuffers are little-endian; this code loads them with memcpy"
#endif

/* ----------------------------------------------------------------- reader */

static uint32_t load_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static uint16_t load_u16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static const char *nm(const char *s) { return s ? s : "?"; }

void oa_fb_reader_init(oa_fb_reader *r, const uint8_t *buf, int64_t len,
                       int64_t max_tables, int32_t max_depth, oa_error *err) {
  r->buf = buf;
  r->len = buf ? (len < 0 ? 0 : len) : 0;
  if (max_tables <= 0) max_tables = OA_FB_DEFAULT_MAX_TABLES;
  int64_t by_size = r->len / 4 + 64;
  r->tables_left = max_tables < by_size ? max_tables : by_size;
  r->max_depth = max_depth > 0 ? max_depth : OA_FB_DEFAULT_MAX_DEPTH;
  r->err = err;
}

static int table_at(const oa_fb_reader *rc, int64_t pos, int32_t depth,
                    const char *name, oa_fb_table *out) {
  /* the budget is the only mutable part of a reader */
  oa_fb_reader *r = (oa_fb_reader *)rc;
  if (r->tables_left <= 0)
    return oa_error_set(r->err, EINVAL,
                        "flatbuffer: too many tables at '%s' (offsets shared "
                        "or looping?)",
                        nm(name));
  if (depth > r->max_depth)
    return oa_error_set(r->err, EINVAL,
                        "flatbuffer: table '%s' nested deeper than %d",
                        nm(name), (int)r->max_depth);
  if (pos < 0 || pos > r->len - 4)
    return oa_error_set(r->err, EINVAL,
                        "flatbuffer: table '%s' at %" PRId64
                        " extends past end (len %" PRId64 ")",
                        nm(name), pos, r->len);
  int64_t vt = pos - (int64_t)oa_fb_load_i32(r->buf + pos);
  if (vt < 0 || vt > r->len - 4)
    return oa_error_set(r->err, EINVAL,
                        "flatbuffer: vtable of '%s' (table at %" PRId64
                        ") at %" PRId64 " out of range (len %" PRId64 ")",
                        nm(name), pos, vt, r->len);
  int32_t vt_size = load_u16(r->buf + vt);
  int32_t inline_size = load_u16(r->buf + vt + 2);
  if (vt_size < 4 || (vt_size & 1) || vt + vt_size > r->len)
    return oa_error_set(r->err, EINVAL,
                        "flatbuffer: vtable of '%s' at %" PRId64
                        " has bad size %d (len %" PRId64 ")",
                        nm(name), vt, (int)vt_size, r->len);
  if (inline_size < 4 || pos + inline_size > r->len)
    return oa_error_set(r->err, EINVAL,
                        "flatbuffer: table '%s' at %" PRId64
                        " has bad inline size %d (len %" PRId64 ")",
                        nm(name), pos, (int)inline_size, r->len);
  r->tables_left--;
  out->r = r;
  out->pos = pos;
  out->vtable = vt;
  out->vtable_size = vt_size;
  out->inline_size = inline_size;
  out->depth = depth;
  out->name = name;
  return 0;
}

int oa_fb_root(oa_fb_reader *r, const char *name, oa_fb_table *out) {
  if (r->len < 8)
    return oa_error_set(r->err, EINVAL,
                        "flatbuffer: '%s' buffer too short (len %" PRId64 ")",
                        nm(name), r->len);
  return table_at(r, (int64_t)load_u32(r->buf), 0, name, out);
}

/* Position of a field of size bytes, or -1 if absent. */
static int field_pos(const oa_fb_table *t, int slot, int32_t size,
                     const char *name, int64_t *pos) {
  *pos = -1;
  int64_t entry = 4 + 2 * (int64_t)slot;
  if (slot < 0 || entry + 2 > t->vtable_size) return 0;
  int32_t off = load_u16(t->r->buf + t->vtable + entry);
  if (off == 0) return 0;
  if (off < 4 || off + size > t->inline_size)
    return oa_error_set(t->r->err, EINVAL,
                        "flatbuffer: field '%s' of '%s' at offset %d (size "
                        "%d) outside the table's inline size %d",
                        nm(name), nm(t->name), (int)off, (int)size,
                        (int)t->inline_size);
  *pos = t->pos + off;
  return 0;
}

bool oa_fb_has(const oa_fb_table *t, int slot) {
  int64_t entry = 4 + 2 * (int64_t)slot;
  if (slot < 0 || entry + 2 > t->vtable_size) return false;
  return load_u16(t->r->buf + t->vtable + entry) != 0;
}

/* A scalar field of size bytes into out, or the default when absent. */
static int get_scalar(const oa_fb_table *t, int slot, const char *name,
                      const void *def, void *out, int32_t size) {
  int64_t pos;
  OA_RETURN_NOT_OK(field_pos(t, slot, size, name, &pos));
  memcpy(out, pos < 0 ? def : t->r->buf + pos, (size_t)size);
  return 0;
}

int oa_fb_get_u8(const oa_fb_table *t, int slot, const char *name, uint8_t def,
                 uint8_t *out) {
  return get_scalar(t, slot, name, &def, out, (int32_t)sizeof def);
}

int oa_fb_get_i8(const oa_fb_table *t, int slot, const char *name, int8_t def,
                 int8_t *out) {
  return get_scalar(t, slot, name, &def, out, (int32_t)sizeof def);
}

int oa_fb_get_i16(const oa_fb_table *t, int slot, const char *name, int16_t def,
                  int16_t *out) {
  return get_scalar(t, slot, name, &def, out, (int32_t)sizeof def);
}

int oa_fb_get_i32(const oa_fb_table *t, int slot, const char *name, int32_t def,
                  int32_t *out) {
  return get_scalar(t, slot, name, &def, out, (int32_t)sizeof def);
}

int oa_fb_get_i64(const oa_fb_table *t, int slot, const char *name, int64_t def,
                  int64_t *out) {
  return get_scalar(t, slot, name, &def, out, (int32_t)sizeof def);
}

int oa_fb_get_bool(const oa_fb_table *t, int slot, const char *name, bool def,
                   bool *out) {
  uint8_t v;
  OA_RETURN_NOT_OK(oa_fb_get_u8(t, slot, name, def ? 1 : 0, &v));
  *out = v != 0;
  return 0;
}

/* Follows the uoffset stored at pos; the target must leave room for at least
 * a 4-byte header. */
static int follow(const oa_fb_reader *r, int64_t pos, const char *what,
                  const char *name, int64_t *target) {
  int64_t tgt = pos + (int64_t)load_u32(r->buf + pos);
  if (tgt > r->len - 4)
    return oa_error_set(r->err, EINVAL,
                        "flatbuffer: %s '%s' at %" PRId64
                        " extends past end (len %" PRId64 ")",
                        what, nm(name), tgt, r->len);
  *target = tgt;
  return 0;
}

int oa_fb_get_table(const oa_fb_table *t, int slot, const char *name,
                    oa_fb_table *out, bool *present) {
  int64_t pos, tgt = 0;
  *present = false;
  OA_RETURN_NOT_OK(field_pos(t, slot, 4, name, &pos));
  if (pos < 0) return 0;
  OA_RETURN_NOT_OK(follow(t->r, pos, "table", name, &tgt));
  OA_RETURN_NOT_OK(table_at(t->r, tgt, t->depth + 1, name, out));
  *present = true;
  return 0;
}

static int string_at(const oa_fb_reader *r, int64_t pos, const char *name,
                     const char **s, int64_t *len) {
  int64_t tgt = 0;
  OA_RETURN_NOT_OK(follow(r, pos, "string", name, &tgt));
  int64_t n = load_u32(r->buf + tgt);
  int64_t data = tgt + 4;
  if (n >= r->len - data)
    return oa_error_set(r->err, EINVAL,
                        "flatbuffer: string '%s' at %" PRId64 " (%" PRId64
                        " bytes) extends past end (len %" PRId64 ")",
                        nm(name), tgt, n, r->len);
  if (r->buf[data + n] != 0)
    return oa_error_set(r->err, EINVAL,
                        "flatbuffer: string '%s' at %" PRId64
                        " is not NUL-terminated",
                        nm(name), tgt);
  *s = (const char *)r->buf + data;
  *len = n;
  return 0;
}

int oa_fb_get_string(const oa_fb_table *t, int slot, const char *name,
                     const char **s, int64_t *len) {
  int64_t pos;
  *s = NULL;
  *len = 0;
  OA_RETURN_NOT_OK(field_pos(t, slot, 4, name, &pos));
  if (pos < 0) return 0;
  return string_at(t->r, pos, name, s, len);
}

int oa_fb_get_vector(const oa_fb_table *t, int slot, const char *name,
                     int32_t elem_size, oa_fb_vector *out, bool *present) {
  int64_t pos, tgt = 0;
  memset(out, 0, sizeof *out);
  out->r = t->r;
  out->elem_size = elem_size;
  out->depth = t->depth;
  out->name = name;
  *present = false;
  if (elem_size <= 0)
    return oa_error_set(t->r->err, EINVAL,
                        "flatbuffer: bad element size for '%s'", nm(name));
  OA_RETURN_NOT_OK(field_pos(t, slot, 4, name, &pos));
  if (pos < 0) return 0;
  OA_RETURN_NOT_OK(follow(t->r, pos, "vector", name, &tgt));
  int64_t n = load_u32(t->r->buf + tgt);
  int64_t data = tgt + 4;
  /* division instead of n * elem_size: no overflow to reason about */
  if (n > (t->r->len - data) / elem_size)
    return oa_error_set(t->r->err, EINVAL,
                        "flatbuffer: vector of '%s' at %" PRId64 " (%" PRId64
                        " x %d bytes) extends past end (len %" PRId64 ")",
                        nm(name), tgt, n, (int)elem_size, t->r->len);
  out->data = data;
  out->n = n;
  *present = true;
  return 0;
}

int oa_fb_get_struct(const oa_fb_table *t, int slot, const char *name,
                     int32_t size, const uint8_t **out) {
  int64_t pos;
  *out = NULL;
  OA_RETURN_NOT_OK(field_pos(t, slot, size, name, &pos));
  if (pos >= 0) *out = t->r->buf + pos;
  return 0;
}

const uint8_t *oa_fb_vector_elem(const oa_fb_vector *v, int64_t i) {
  return v->r->buf + v->data + i * v->elem_size;
}

int oa_fb_vector_table(const oa_fb_vector *v, int64_t i, oa_fb_table *out) {
  int64_t tgt = 0;
  if (i < 0 || i >= v->n || v->elem_size != 4)
    return oa_error_set(v->r->err, EINVAL,
                        "flatbuffer: bad index %" PRId64 " into vector '%s'", i,
                        nm(v->name));
  OA_RETURN_NOT_OK(
      follow(v->r, v->data + 4 * i, "table in vector", v->name, &tgt));
  return table_at(v->r, tgt, v->depth + 1, v->name, out);
}

int oa_fb_vector_string(const oa_fb_vector *v, int64_t i, const char **s,
                        int64_t *len) {
  if (i < 0 || i >= v->n || v->elem_size != 4)
    return oa_error_set(v->r->err, EINVAL,
                        "flatbuffer: bad index %" PRId64 " into vector '%s'", i,
                        nm(v->name));
  return string_at(v->r, v->data + 4 * i, v->name, s, len);
}

/* ---------------------------------------------------------------- builder */

/* Keep every position representable as a uoffset. */
#define OA_FB_MAX_SIZE ((int64_t)INT32_MAX)

void oa_fb_builder_init(oa_fb_builder *b) {
  memset(b, 0, sizeof *b);
  b->minalign = 1;
}

void oa_fb_builder_reset(oa_fb_builder *b) {
  free(b->buf);
  oa_fb_builder_init(b);
}

void oa_fb_builder_clear(oa_fb_builder *b) {
  uint8_t *buf = b->buf;
  int64_t cap = b->cap;
  oa_fb_builder_init(b);
  b->buf = buf;
  b->cap = cap;
}

static void fail(oa_fb_builder *b, int code, const char *what) {
  if (b->status) return;
  b->status = code;
  snprintf(b->what, sizeof b->what, "%s", what);
}

/* Ensures room for n more bytes at the front. */
static bool room(oa_fb_builder *b, int64_t n) {
  if (b->status) return false;
  if (n < 0 || b->used + n > OA_FB_MAX_SIZE) {
    fail(b, E2BIG, "flatbuffer larger than 2 GiB");
    return false;
  }
  if (b->cap - b->used >= n) return true;
  int64_t cap = b->cap ? b->cap * 2 : 256;
  while (cap - b->used < n)
    cap *= 2;
  uint8_t *nb = malloc((size_t)cap);
  if (!nb) {
    fail(b, ENOMEM, "out of memory");
    return false;
  }
  if (b->used)
    memcpy(nb + cap - b->used, b->buf + b->cap - b->used, (size_t)b->used);
  free(b->buf);
  b->buf = nb;
  b->cap = cap;
  return true;
}

static void push(oa_fb_builder *b, const void *data, int64_t n) {
  if (!room(b, n)) return;
  b->used += n;
  if (n) memcpy(b->buf + b->cap - b->used, data, (size_t)n);
}

static void push_zeros(oa_fb_builder *b, int64_t n) {
  if (!room(b, n)) return;
  b->used += n;
  if (n) memset(b->buf + b->cap - b->used, 0, (size_t)n);
}

/* Pads so that after n more bytes the size is a multiple of align (a power of
 * two): then those n bytes start aligned. */
static void prealign(oa_fb_builder *b, int64_t n, int64_t align) {
  if (align > b->minalign) b->minalign = align;
  int64_t pad = (-(b->used + n)) & (align - 1);
  push_zeros(b, pad);
}

/* uoffset from the next 4-byte slot (after prealign(4)) to ref. */
static uint32_t refer(oa_fb_builder *b, oa_fb_ref ref) {
  int64_t here = b->used + 4;
  if (ref == 0 || (int64_t)ref > b->used) {
    fail(b, EINVAL, "offset to an object that was not built");
    return 0;
  }
  return (uint32_t)(here - (int64_t)ref);
}

static bool not_in_table(oa_fb_builder *b, const char *what) {
  if (b->in_table) {
    fail(b, EINVAL, what);
    return false;
  }
  return !b->status;
}

oa_fb_ref oa_fb_create_string(oa_fb_builder *b, const char *s, int64_t len) {
  if (!not_in_table(b, "string built inside a table")) return 0;
  if (len < 0 || len > OA_FB_MAX_SIZE) {
    fail(b, EINVAL, "bad string length");
    return 0;
  }
  prealign(b, len + 1, 4);
  push_zeros(b, 1);
  push(b, s, len);
  uint32_t n = (uint32_t)len;
  push(b, &n, 4);
  return b->status ? 0 : (oa_fb_ref)b->used;
}

oa_fb_ref oa_fb_create_vector(oa_fb_builder *b, const void *data, int64_t n,
                              int32_t elem_size, int32_t align) {
  if (!not_in_table(b, "vector built inside a table")) return 0;
  if (n < 0 || elem_size <= 0 || n > OA_FB_MAX_SIZE / elem_size || align <= 0 ||
      (align & (align - 1))) {
    fail(b, EINVAL, "bad vector size or alignment");
    return 0;
  }
  int64_t bytes = n * elem_size;
  prealign(b, bytes, align < 4 ? 4 : align);
  push(b, data, bytes);
  uint32_t cnt = (uint32_t)n;
  push(b, &cnt, 4);
  return b->status ? 0 : (oa_fb_ref)b->used;
}

oa_fb_ref oa_fb_create_vector_refs(oa_fb_builder *b, const oa_fb_ref *refs,
                                   int64_t n) {
  if (!not_in_table(b, "vector built inside a table")) return 0;
  if (n < 0 || n > OA_FB_MAX_SIZE / 4) {
    fail(b, EINVAL, "bad vector size");
    return 0;
  }
  prealign(b, n * 4, 4);
  if (!room(b, n * 4 + 4)) return 0;
  for (int64_t i = n - 1; i >= 0; i--) {
    uint32_t off = refer(b, refs[i]);
    push(b, &off, 4);
  }
  uint32_t cnt = (uint32_t)n;
  push(b, &cnt, 4);
  return b->status ? 0 : (oa_fb_ref)b->used;
}

void oa_fb_start_table(oa_fb_builder *b) {
  if (!not_in_table(b, "table started inside a table")) return;
  b->in_table = true;
  b->table_start = b->used;
  b->n_slots = 0;
  memset(b->slots, 0, sizeof b->slots);
}

static void add_field(oa_fb_builder *b, int slot, const void *data,
                      int32_t size, int32_t align) {
  if (b->status) return;
  if (!b->in_table || slot < 0 || slot >= OA_FB_MAX_SLOTS) {
    fail(b, EINVAL, "field added outside a table or bad slot");
    return;
  }
  prealign(b, size, align);
  push(b, data, size);
  if (b->status) return;
  b->slots[slot] = (uint32_t)b->used;
  if (slot + 1 > b->n_slots) b->n_slots = slot + 1;
}

void oa_fb_add_u8(oa_fb_builder *b, int slot, uint8_t v, uint8_t def) {
  if (v != def) add_field(b, slot, &v, 1, 1);
}
void oa_fb_add_bool(oa_fb_builder *b, int slot, bool v, bool def) {
  oa_fb_add_u8(b, slot, v ? 1 : 0, def ? 1 : 0);
}
void oa_fb_add_i8(oa_fb_builder *b, int slot, int8_t v, int8_t def) {
  if (v != def) add_field(b, slot, &v, 1, 1);
}
void oa_fb_add_i16(oa_fb_builder *b, int slot, int16_t v, int16_t def) {
  if (v != def) add_field(b, slot, &v, 2, 2);
}
void oa_fb_add_i32(oa_fb_builder *b, int slot, int32_t v, int32_t def) {
  if (v != def) add_field(b, slot, &v, 4, 4);
}
void oa_fb_add_i64(oa_fb_builder *b, int slot, int64_t v, int64_t def) {
  if (v != def) add_field(b, slot, &v, 8, 8);
}

void oa_fb_add_ref(oa_fb_builder *b, int slot, oa_fb_ref ref) {
  if (ref == 0 || b->status) return;
  prealign(b, 4, 4);
  uint32_t off = refer(b, ref);
  add_field(b, slot, &off, 4, 4);
}

void oa_fb_add_struct(oa_fb_builder *b, int slot, const void *data,
                      int32_t size, int32_t align) {
  if (size <= 0 || align <= 0 || (align & (align - 1))) {
    fail(b, EINVAL, "bad struct size or alignment");
    return;
  }
  add_field(b, slot, data, size, align);
}

oa_fb_ref oa_fb_end_table(oa_fb_builder *b) {
  if (b->status) return 0;
  if (!b->in_table) {
    fail(b, EINVAL, "table ended without being started");
    return 0;
  }
  prealign(b, 4, 4);
  int32_t placeholder = 0;
  push(b, &placeholder, 4);
  if (b->status) return 0;
  int64_t table_ref = b->used;
  int64_t inline_size = table_ref - b->table_start;
  int64_t vt_size = 4 + 2 * (int64_t)b->n_slots;
  if (inline_size > UINT16_MAX) {
    fail(b, E2BIG, "table inline data larger than 64 KiB");
    return 0;
  }
  uint16_t vt[2 + OA_FB_MAX_SLOTS];
  vt[0] = (uint16_t)vt_size;
  vt[1] = (uint16_t)inline_size;
  for (int i = 0; i < b->n_slots; i++)
    vt[2 + i] = b->slots[i] ? (uint16_t)(table_ref - b->slots[i]) : 0;
  push(b, vt, vt_size);
  if (b->status) return 0;
  /* vtable sits just before the table: soffset = table - vtable > 0 */
  int32_t soff = (int32_t)(b->used - table_ref);
  memcpy(b->buf + b->cap - table_ref, &soff, 4);
  b->in_table = false;
  return (oa_fb_ref)table_ref;
}

int oa_fb_builder_finish(oa_fb_builder *b, oa_fb_ref root, oa_bytes *out,
                         oa_error *err) {
  if (b->in_table) fail(b, EINVAL, "finished with a table still open");
  if (!b->status) {
    prealign(b, 4, b->minalign);
    uint32_t off = refer(b, root);
    push(b, &off, 4);
  }
  if (b->status)
    return oa_error_set(err, b->status, "flatbuffer builder: %s", b->what);
  if (oa_bytes_append(out, b->buf + b->cap - b->used, b->used) != 0)
    return oa_error_set(err, ENOMEM, "flatbuffer builder: out of memory");
  return 0;
}
