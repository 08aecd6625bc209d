/* Column-append helpers shared by the two span-batch builders: the OTLP
 * protobuf decoder (pb_decode.c) and the exporter's builder from staged
 * span records (src/exporter/span_rows.c). Both append into the same
 * builders, so one definition keeps their batches identical. */
#ifndef OA_OTLP_BUILD_H
#define OA_OTLP_BUILD_H

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "arrow/internal.h"
#include "otlp/otlp_internal.h"

/* The span columns that hold per-resource / per-scope values: both builders
 * keep these as dictionaries with one entry per resource or scope. */
#define OA_OTLP_N_VALUE_COLS 7
static const int oa_otlp_value_cols[OA_OTLP_N_VALUE_COLS] = {
    OA_SPAN_RESOURCE_ATTRIBUTES,  OA_SPAN_RESOURCE_SCHEMA_URL,
    OA_SPAN_RESOURCE_ENTITY_REFS, OA_SPAN_SCOPE_NAME,
    OA_SPAN_SCOPE_VERSION,        OA_SPAN_SCOPE_ATTRIBUTES,
    OA_SPAN_SCOPE_SCHEMA_URL};

/* Byte equality without a call for short strings. */
static inline bool oa_otlp_eq_bytes(const uint8_t *a, const uint8_t *b,
                                    int64_t n) {
  if (n >= 8) {
    if (n > 32) return memcmp(a, b, (size_t)n) == 0;
    uint64_t x = oa_pb_load64(a) ^ oa_pb_load64(b);
    x |= oa_pb_load64(a + n - 8) ^ oa_pb_load64(b + n - 8);
    if (n > 16) {
      x |= oa_pb_load64(a + 8) ^ oa_pb_load64(b + 8);
      x |= oa_pb_load64(a + n - 16) ^ oa_pb_load64(b + n - 16);
    }
    return x == 0;
  }
  if (n >= 4)
    return ((oa_pb_load32(a) ^ oa_pb_load32(b)) |
            (oa_pb_load32(a + n - 4) ^ oa_pb_load32(b + n - 4))) == 0;
  for (int64_t i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}

static inline bool oa_otlp_ascii_only(const uint8_t *s, int64_t n) {
  uint64_t acc = 0;
#if defined(__SSE2__)
  if (n >= 16) { /* 16 bytes at a time (SSE2 is in the x86-64 baseline) */
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
    for (int64_t i = 0; i + 16 < n; i += 16)
      v = _mm_or_si128(v,
                       _mm_loadu_si128((const __m128i *)(const void *)(s + i)));
    return _mm_movemask_epi8(v) == 0;
  }
#endif
  if (n >= 8) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      acc |= oa_pb_load64(s + i);
    acc |= oa_pb_load64(s + n - 8);
  } else if (n >= 4) {
    acc = oa_pb_load32(s) | oa_pb_load32(s + n - 4);
  } else {
    for (int64_t i = 0; i < n; i++)
      acc |= s[i];
  }
  return (acc & 0x8080808080808080ull) == 0;
}

/* Appends a dictionary index (int32) to a dictionary-encoded builder. */
static inline int oa_otlp_dict_index(oa_builder *b, int32_t idx) {
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  rc = oa_bytes_append(&b->values, &idx, 4);
  if (rc) return rc;
  b->length++;
  return 0;
}

/* Appends a bool; bitmap bytes are added zeroed as the length crosses 8. */
static inline int oa_otlp_bool_append(oa_builder *b, bool v) {
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  if ((b->length & 7) == 0) {
    rc = oa_bytes_reserve(&b->values, 1);
    if (rc) return rc;
    b->values.data[b->values.size++] = 0;
  }
  if (v) oa_bit_set(b->values.data, b->length);
  b->length++;
  return 0;
}

/* Closes a list entry whose elements were appended to children[0]. */
static inline int oa_otlp_list_valid(oa_builder *b) {
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  if (OA_UNLIKELY(b->children[0].length > INT32_MAX)) return E2BIG;
  int32_t end = (int32_t)b->children[0].length;
  rc = oa_bytes_append(&b->values, &end, 4);
  if (rc) return rc;
  b->length++;
  return 0;
}

/* Grows b to cap without zero-filling (the builders' own growth zeroes the
 * new space, which costs a second pass over memory about to be written). A
 * failed allocation only costs speed: appends grow as usual. */
static inline void oa_otlp_reserve_raw(oa_bytes *b, int64_t cap) {
  if (cap <= b->capacity) return;
  cap = (cap + 63) & ~(int64_t)63;
  uint8_t *p = oa_aligned_alloc(cap);
  if (!p) return;
  if (b->size) memcpy(p, b->data, (size_t)b->size);
  oa_aligned_free(b->data);
  b->data = p;
  b->capacity = cap;
}

/* Zeroes the bytes between size and the next 64-byte boundary, which Arrow
 * buffers are padded to and reserve_raw left unset. */
static inline void oa_otlp_zero_tail(oa_bytes *b) {
  if (!b->data) return;
  int64_t pad = ((b->size + 63) & ~(int64_t)63) - b->size;
  if (pad > b->capacity - b->size) pad = b->capacity - b->size;
  if (pad > 0) memset(b->data + b->size, 0, (size_t)pad);
}

#endif
