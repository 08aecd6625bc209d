/* Bitmaps, element access and zero-copy slicing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/internal.h"

int64_t oa_bitmap_count_set(const uint8_t *bits, int64_t offset,
                            int64_t length) {
  if (!bits || length <= 0) return 0;
  int64_t count = 0, i = offset, end = offset + length;
  while (i < end && (i & 7))
    count += oa_bit_get(bits, i++);
  const uint8_t *p = bits + (i >> 3);
  int64_t nbytes = (end - i) >> 3;
  i += nbytes * 8;
  for (; nbytes >= 8; nbytes -= 8, p += 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    count += __builtin_popcountll(w);
  }
  for (; nbytes > 0; nbytes--)
    count += __builtin_popcount(*p++);
  while (i < end)
    count += oa_bit_get(bits, i++);
  return count;
}

int64_t oa_fixed_bytes_(const oa_field *f) {
  if (f->dict.encoded) return oa_int_width_(f->dict.index_type);
  if (f->type.id == OA_TYPE_BOOL) return 0;
  return oa_datatype_bit_width(&f->type) / 8;
}

/* IEEE 754 binary16 <-> binary32 by bit manipulation. */
float oa_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { /* subnormal: normalize */
      int e = -1;
      do {
        mant <<= 1;
        e++;
      } while (!(mant & 0x400));
      mant &= 0x3ff;
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
    }
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t oa_float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
  uint32_t exp = (x >> 23) & 0xff, mant = x & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  int e = (int)exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    int shift = 14 - e;
    uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return sign | (uint16_t)half;
  }
  uint32_t half = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
    half++; /* may carry to inf */
  return sign | (uint16_t)half;
}

int oa_utf8_seq_len_(const uint8_t *s, int64_t n) {
  uint8_t c = s[0];
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3) return 0;
    uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return (s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80) ? 3 : 0;
  }
  if (c < 0xF5) {
    if (n < 4) return 0;
    uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return (s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 &&
            (s[3] & 0xC0) == 0x80)
               ? 4
               : 0;
  }
  return 0;
}

bool oa_utf8_validate(const uint8_t *s, int64_t n, int64_t *bad) {
  int64_t i = 0;
  while (i < n) {
    /* ASCII fast path, 8 bytes at a time */
    while (n - i >= 8) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    int k = oa_utf8_seq_len_(s + i, n - i);
    if (!k) {
      if (bad) *bad = i;
      return false;
    }
    i += k;
  }
  return true;
}

/* ------------------------------------------------------------- access */

int64_t oa_union_child_row_(const oa_field *f, const oa_array *a, int64_t i,
                            int *child) {
  int8_t code = (int8_t)a->buffers[0].data[a->offset + i];
  *child = -1;
  for (int64_t k = 0; k < f->n_children && k < OA_MAX_UNION_CHILDREN; k++)
    if (f->type.type_codes[k] == code) {
      *child = (int)k;
      break;
    }
  if (f->type.id == OA_TYPE_DENSE_UNION)
    return (int32_t)oa_load32_(a->buffers[1].data, a->offset + i);
  return a->offset + i;
}

int64_t oa_array_null_count(const oa_field *f, oa_array *a) {
  if (a->null_count >= 0) return a->null_count;
  oa_type_id id = oa_physical_id_(f);
  if (id == OA_TYPE_NA && !f->dict.encoded)
    a->null_count = a->length;
  else if (!oa_has_validity_(id) || a->n_buffers < 1 || !a->buffers[0].data)
    a->null_count = 0;
  else
    a->null_count = a->length - oa_bitmap_count_set(a->buffers[0].data,
                                                    a->offset, a->length);
  return a->null_count;
}

bool oa_array_is_null(const oa_field *f, const oa_array *a, int64_t i) {
  if (f->dict.encoded) {
    if (a->null_count == 0 || !a->buffers[0].data) return false;
    return !oa_bit_get(a->buffers[0].data, a->offset + i);
  }
  switch (f->type.id) {
  case OA_TYPE_NA:
    return true;
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION: {
    int c;
    int64_t row = oa_union_child_row_(f, a, i, &c);
    if (c < 0 || c >= a->n_children) return false;
    /* the child row is absolute in the child's own logical space */
    return oa_array_is_null(&f->children[c], &a->children[c], row);
  }
  default:
    if (a->null_count == 0 || a->n_buffers < 1 || !a->buffers[0].data)
      return false;
    return !oa_bit_get(a->buffers[0].data, a->offset + i);
  }
}

int64_t oa_array_get_int(const oa_field *f, const oa_array *a, int64_t i) {
  const uint8_t *p = a->buffers[1].data;
  int64_t j = a->offset + i;
  switch (oa_physical_id_(f)) {
  case OA_TYPE_BOOL:
    return oa_bit_get(p, j);
  case OA_TYPE_INT8:
    return ((const int8_t *)p)[j];
  case OA_TYPE_UINT8:
    return p[j];
  case OA_TYPE_INT16:
    return (int16_t)oa_load16_(p, j);
  case OA_TYPE_UINT16:
    return oa_load16_(p, j);
  case OA_TYPE_INT32:
  case OA_TYPE_DATE32:
  case OA_TYPE_TIME32:
  case OA_TYPE_INTERVAL_MONTHS:
    return (int32_t)oa_load32_(p, j);
  case OA_TYPE_UINT32:
    return oa_load32_(p, j);
  case OA_TYPE_INT64:
  case OA_TYPE_UINT64:
  case OA_TYPE_DATE64:
  case OA_TYPE_TIME64:
  case OA_TYPE_TIMESTAMP:
  case OA_TYPE_DURATION:
  case OA_TYPE_INTERVAL_DAY_TIME:
    return (int64_t)oa_load64_(p, j);
  case OA_TYPE_HALF_FLOAT:
  case OA_TYPE_FLOAT:
  case OA_TYPE_DOUBLE: {
    double d = oa_array_get_double(f, a, i);
    if (!(d == d) || d >= 9.2233720368547758e18 || d < -9.2233720368547758e18)
      return 0;
    return (int64_t)d;
  }
  default:
    return 0;
  }
}

uint64_t oa_array_get_uint(const oa_field *f, const oa_array *a, int64_t i) {
  oa_type_id id = oa_physical_id_(f);
  if (id == OA_TYPE_UINT64)
    return oa_load64_(a->buffers[1].data, a->offset + i);
  if (id == OA_TYPE_HALF_FLOAT || id == OA_TYPE_FLOAT || id == OA_TYPE_DOUBLE) {
    double d = oa_array_get_double(f, a, i);
    if (!(d >= 0) || d >= 1.8446744073709552e19) return 0;
    return (uint64_t)d;
  }
  return (uint64_t)oa_array_get_int(f, a, i);
}

double oa_array_get_double(const oa_field *f, const oa_array *a, int64_t i) {
  const uint8_t *p = a->buffers[1].data;
  int64_t j = a->offset + i;
  switch (oa_physical_id_(f)) {
  case OA_TYPE_HALF_FLOAT:
    return oa_half_to_float(oa_load16_(p, j));
  case OA_TYPE_FLOAT:
    return oa_bits_f32_(oa_load32_(p, j));
  case OA_TYPE_DOUBLE:
    return oa_bits_f64_(oa_load64_(p, j));
  case OA_TYPE_UINT64:
    return (double)oa_array_get_uint(f, a, i);
  default:
    return (double)oa_array_get_int(f, a, i);
  }
}

const uint8_t *oa_array_get_bytes(const oa_field *f, const oa_array *a,
                                  int64_t i, int64_t *len) {
  int64_t j = a->offset + i;
  oa_type_id id = oa_physical_id_(f);
  switch (id) {
  case OA_TYPE_STRING:
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_LARGE_BINARY: {
    bool large = id == OA_TYPE_LARGE_STRING || id == OA_TYPE_LARGE_BINARY;
    int64_t s = oa_offset_at_(a, large, j), e = oa_offset_at_(a, large, j + 1);
    *len = e - s;
    return a->buffers[2].data ? a->buffers[2].data + s : (const uint8_t *)"";
  }
  default: {
    int64_t w = oa_fixed_bytes_(f);
    if (w <= 0 || f->dict.encoded) {
      *len = 0;
      return NULL;
    }
    *len = w;
    return a->buffers[1].data + j * w;
  }
  }
}

int64_t oa_array_get_dict_index(const oa_field *f, const oa_array *a,
                                int64_t i) {
  if (!f->dict.encoded) return -1;
  if (f->dict.index_type == OA_TYPE_UINT64)
    return (int64_t)oa_array_get_uint(f, a, i);
  return oa_array_get_int(f, a, i);
}

/* ------------------------------------------------------------- slicing */

int oa_array_slice(oa_array *dst, const oa_array *src, int64_t offset,
                   int64_t length, oa_error *err) {
  if (offset < 0 || length < 0 || offset > src->length ||
      length > src->length - offset)
    return oa_error_set(err, EINVAL,
                        "slice [%lld, +%lld) out of bounds of array length "
                        "%lld",
                        (long long)offset, (long long)length,
                        (long long)src->length);
  OA_RETURN_NOT_OK(oa_array_copy(dst, src, err));
  dst->offset = src->offset + offset;
  dst->length = length;
  if (src->null_count == 0)
    dst->null_count = 0;
  else if (src->null_count == src->length)
    dst->null_count = length;
  else
    dst->null_count = -1;
  return 0;
}

int oa_batch_slice(oa_batch *dst, const oa_batch *src, int64_t offset,
                   int64_t length, oa_error *err) {
  oa_batch_init(dst);
  if (offset < 0 || length < 0 || offset > src->length ||
      length > src->length - offset)
    return oa_error_set(err, EINVAL,
                        "batch slice [%lld, +%lld) out of bounds of length "
                        "%lld",
                        (long long)offset, (long long)length,
                        (long long)src->length);
  if (src->n_columns > 0) {
    dst->columns = calloc((size_t)src->n_columns, sizeof *dst->columns);
    if (!dst->columns) return oa_error_set(err, ENOMEM, "batch: out of memory");
  }
  for (int64_t i = 0; i < src->n_columns; i++) {
    int rc =
        oa_array_slice(&dst->columns[i], &src->columns[i], offset, length, err);
    if (rc) {
      oa_batch_reset(dst);
      return rc;
    }
    dst->n_columns = i + 1;
  }
  oa_schema_retain(src->schema);
  dst->schema = src->schema;
  dst->length = length;
  return 0;
}
