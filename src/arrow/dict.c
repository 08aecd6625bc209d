/* Dictionary builder: an open-addressing hash table over the values
 * builder. Slots store value indices, so looking a value up never
 * allocates: keys are compared against the values' own buffers. */
#include <stdlib.h>
#include <string.h>

#include "arrow/internal.h"

typedef struct dict_slot {
  uint64_t hash;
  int64_t index; /* -1: empty */
} dict_slot;

struct oa_dict_table {
  dict_slot *slots;
  int64_t cap; /* power of two */
  int64_t n;
};

static int table_alloc(oa_dict_table *t, int64_t cap) {
  dict_slot *s = malloc((size_t)cap * sizeof *s);
  if (!s) return ENOMEM;
  /* all bits set: every index reads -1 (empty) */
  memset(s, 0xFF, (size_t)cap * sizeof *s);
  t->slots = s;
  t->cap = cap;
  return 0;
}

int oa_dict_table_new_(oa_dict_table **out) {
  oa_dict_table *t = calloc(1, sizeof *t);
  if (!t) return ENOMEM;
  if (table_alloc(t, 64)) {
    free(t);
    return ENOMEM;
  }
  *out = t;
  return 0;
}

void oa_dict_table_free_(oa_dict_table *t) {
  if (!t) return;
  free(t->slots);
  free(t);
}

void oa_dict_table_clear_(oa_dict_table *t) {
  for (int64_t i = 0; i < t->cap; i++)
    t->slots[i].index = -1;
  t->n = 0;
}

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

static uint64_t hash_bytes(const uint8_t *p, int64_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0x100000001b3ull);
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  if (n > 0) {
    uint64_t w = 0;
    memcpy(&w, p, (size_t)n);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
  }
  return mix(h);
}

/* Bytes of dictionary value k in the values builder. */
static const uint8_t *value_bytes(const oa_builder *v, int64_t k,
                                  int64_t *len) {
  switch (v->type.id) {
  case OA_TYPE_STRING:
  case OA_TYPE_BINARY: {
    int32_t s, e;
    memcpy(&s, v->values.data + k * 4, 4);
    memcpy(&e, v->values.data + k * 4 + 4, 4);
    *len = e - s;
    return v->data.data + s;
  }
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_LARGE_BINARY: {
    int64_t s, e;
    memcpy(&s, v->values.data + k * 8, 8);
    memcpy(&e, v->values.data + k * 8 + 8, 8);
    *len = e - s;
    return v->data.data + s;
  }
  default: {
    int64_t w = oa_datatype_bit_width(&v->type) / 8;
    *len = w;
    return v->values.data + k * w;
  }
  }
}

static bool offsets_type(oa_type_id id) {
  return id == OA_TYPE_STRING || id == OA_TYPE_BINARY ||
         id == OA_TYPE_LARGE_STRING || id == OA_TYPE_LARGE_BINARY;
}

static int64_t max_values(oa_type_id index_type) {
  switch (index_type) {
  case OA_TYPE_INT8:
    return 128;
  case OA_TYPE_UINT8:
    return 256;
  case OA_TYPE_INT16:
    return 32768;
  case OA_TYPE_UINT16:
    return 65536;
  case OA_TYPE_INT32:
    return (int64_t)1 << 31;
  case OA_TYPE_UINT32:
    return (int64_t)1 << 32;
  default:
    return INT64_MAX;
  }
}

static int rehash(oa_dict_table *t) {
  dict_slot *old = t->slots;
  int64_t old_cap = t->cap;
  if (table_alloc(t, old_cap * 2)) {
    t->slots = old;
    t->cap = old_cap;
    return ENOMEM;
  }
  int64_t mask = t->cap - 1;
  for (int64_t i = 0; i < old_cap; i++) {
    if (old[i].index < 0) continue;
    int64_t pos = (int64_t)(old[i].hash & (uint64_t)mask);
    while (t->slots[pos].index >= 0)
      pos = (pos + 1) & mask;
    t->slots[pos] = old[i];
  }
  free(old);
  return 0;
}

int oa_dict_append_(oa_builder *b, const void *key, int64_t len) {
  oa_builder *v = b->dict_values;
  oa_dict_table *t = b->dict_table;
  uint64_t h = hash_bytes(key, len);
  int64_t mask = t->cap - 1, pos = (int64_t)(h & (uint64_t)mask), idx = -1;
  while (t->slots[pos].index >= 0) {
    if (t->slots[pos].hash == h) {
      int64_t vlen;
      const uint8_t *vb = value_bytes(v, t->slots[pos].index, &vlen);
      if (vlen == len && (len == 0 || memcmp(vb, key, (size_t)len) == 0)) {
        idx = t->slots[pos].index;
        break;
      }
    }
    pos = (pos + 1) & mask;
  }
  int rc;
  if (idx < 0) {
    if (v->length >= max_values(b->dict.index_type)) return E2BIG;
    rc = offsets_type(v->type.id) ? oa_builder_append_bytes(v, key, len)
                                  : oa_builder_append_raw_(v, key, len);
    if (rc) return rc;
    idx = v->length - 1;
    t->slots[pos].hash = h;
    t->slots[pos].index = idx;
    t->n++;
    if (t->n * 2 > t->cap && (rc = rehash(t))) return rc;
  }
  uint8_t buf[8];
  int w;
  if (b->dict.index_type == OA_TYPE_UINT64)
    rc = oa_encode_uint_(b->dict.index_type, (uint64_t)idx, buf, &w);
  else
    rc = oa_encode_int_(b->dict.index_type, idx, buf, &w);
  if (rc) return rc;
  if ((rc = oa_builder_mark_valid_(b))) return rc;
  if ((rc = oa_bytes_append(&b->values, buf, w))) return rc;
  b->length++;
  return 0;
}
