/* Internal helpers shared by the Arrow core sources (not installed). */
#ifndef OA_ARROW_INTERNAL_H
#define OA_ARROW_INTERNAL_H

#include <string.h>

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"

/* A shallow view of a dictionary-encoded field describing its values: it
 * shares the field's pointers and must never be reset. */
static inline oa_field oa_value_field_(const oa_field *f) {
  oa_field v = *f;
  v.dict.encoded = false;
  return v;
}

/* Physical type of an array's own buffers (the index type when encoded). */
static inline oa_type_id oa_physical_id_(const oa_field *f) {
  return f->dict.encoded ? f->dict.index_type : f->type.id;
}

/* Byte width of a fixed-width integer type id (0 otherwise): dictionary
 * index widths for the core and the IPC encoder, decoder and concat. */
static inline int oa_int_width_(oa_type_id id) {
  switch (id) {
  case OA_TYPE_INT8:
  case OA_TYPE_UINT8:
    return 1;
  case OA_TYPE_INT16:
  case OA_TYPE_UINT16:
    return 2;
  case OA_TYPE_INT32:
  case OA_TYPE_UINT32:
    return 4;
  case OA_TYPE_INT64:
  case OA_TYPE_UINT64:
    return 8;
  default:
    return 0;
  }
}

/* Bytes per element of a fixed-width non-bool layout of the field's own
 * buffers (index width when dictionary-encoded); 0 for other layouts. */
int64_t oa_fixed_bytes_(const oa_field *f);

/* True when the type's layout carries a validity bitmap in buffers[0]. */
static inline bool oa_has_validity_(oa_type_id id) {
  return id != OA_TYPE_NA && id != OA_TYPE_SPARSE_UNION &&
         id != OA_TYPE_DENSE_UNION;
}

float oa_half_to_float(uint16_t h);
uint16_t oa_float_to_half(float f);

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if the
 * bytes there are not a valid sequence (overlong, surrogate, > U+10FFFF,
 * truncated or stray continuation). */
int oa_utf8_seq_len_(const uint8_t *s, int64_t n);
/* Validates UTF-8; on failure stores the byte position in *bad. */
bool oa_utf8_validate(const uint8_t *s, int64_t n, int64_t *bad);

/* Element j of a buffer of 2-, 4- or 8-byte values (unaligned loads). */
static inline uint16_t oa_load16_(const uint8_t *p, int64_t j) {
  uint16_t v;
  memcpy(&v, p + j * 2, 2);
  return v;
}
static inline uint32_t oa_load32_(const uint8_t *p, int64_t j) {
  uint32_t v;
  memcpy(&v, p + j * 4, 4);
  return v;
}
static inline uint64_t oa_load64_(const uint8_t *p, int64_t j) {
  uint64_t v;
  memcpy(&v, p + j * 8, 8);
  return v;
}
static inline float oa_bits_f32_(uint32_t x) {
  float v;
  memcpy(&v, &x, 4);
  return v;
}
static inline double oa_bits_f64_(uint64_t x) {
  double v;
  memcpy(&v, &x, 8);
  return v;
}

/* Offsets of variable-size element j (absolute index including offset). */
static inline int64_t oa_offset_at_(const oa_array *a, bool large, int64_t j) {
  if (large) return (int64_t)oa_load64_(a->buffers[1].data, j);
  return (int32_t)oa_load32_(a->buffers[1].data, j);
}

/* Row of child c that corresponds to element i of a union array. */
int64_t oa_union_child_row_(const oa_field *f, const oa_array *a, int64_t i,
                            int *child);

/* Builder internals shared by builder.c and dict.c. Encoders write a value
 * in the physical representation of type id (width in *w), EINVAL when the
 * type cannot hold it. */
int oa_encode_int_(oa_type_id id, int64_t v, uint8_t out[8], int *w);
int oa_encode_uint_(oa_type_id id, uint64_t v, uint8_t out[8], int *w);
int oa_encode_double_(oa_type_id id, double v, uint8_t out[8], int *w);
/* Appends raw little-endian bytes of a fixed-width (non-bool) value. */
int oa_builder_append_raw_(oa_builder *b, const void *data, int64_t len);
int oa_dict_table_new_(oa_dict_table **out);
void oa_dict_table_free_(oa_dict_table *t);
void oa_dict_table_clear_(oa_dict_table *t);
/* Looks key (bytes in the values' physical representation) up in the
 * dictionary, adding it if new, and appends its index. */
int oa_dict_append_(oa_builder *b, const void *key, int64_t len);

#endif
