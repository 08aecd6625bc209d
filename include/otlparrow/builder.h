/* otlparrow: array builders.
 *
 * One oa_builder type serves every layout; it is initialized from an
 * oa_field and mirrors its children. Appends are inline and only call out of
 * line when a buffer must grow (geometrically), so there is no malloc per
 * value. A builder is reusable: finish hands out an immutable oa_array and
 * leaves the builder empty for the next batch.
 *
 * Nested types:
 * - struct: append to each child, then oa_builder_append_valid(b) (or
 *   oa_builder_append_null(b), which also appends a null to every child).
 * - list / large_list / map: append the element's items to the child (map:
 *   the child is the entries struct), then oa_builder_append_valid(b) to
 *   close the element; oa_builder_append_null(b) appends a null element.
 * - fixed_size_list: append list_size items to the child, then append_valid.
 * - dictionary-encoded fields: oa_builder_append_bytes looks the value up
 *   in a hash table and appends its index; the values accumulate in the
 *   builder's dictionary. With OA_BUILDER_KEEP_DICTIONARY the dictionary
 *   survives finish, so consecutive batches share a growing dictionary
 *   (each finished batch holds a snapshot of it) and an IPC writer can send
 *   deltas.
 */
#ifndef OTLPARROW_BUILDER_H
#define OTLPARROW_BUILDER_H

#include <string.h>

#include "otlparrow/arrow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A growable, 64-byte aligned byte buffer. */
typedef struct oa_bytes {
  uint8_t *data;
  int64_t size;
  int64_t capacity;
} oa_bytes;

void oa_bytes_init(oa_bytes *b);
void oa_bytes_reset(oa_bytes *b);
/* Grows capacity to at least size + extra (geometrically). */
int oa_bytes_grow(oa_bytes *b, int64_t extra);
static inline int oa_bytes_reserve(oa_bytes *b, int64_t extra) {
  if (OA_LIKELY(b->size + extra <= b->capacity)) return 0;
  return oa_bytes_grow(b, extra);
}
static inline int oa_bytes_append(oa_bytes *b, const void *data, int64_t n) {
  if (OA_UNLIKELY(b->size + n > b->capacity)) {
    int rc = oa_bytes_grow(b, n);
    if (rc) return rc;
  }
  if (n) memcpy(b->data + b->size, data, (size_t)n);
  b->size += n;
  return 0;
}
/* Hands the bytes to a new region (the oa_bytes is left empty). */
int oa_bytes_finish(oa_bytes *b, oa_buffer *out);

typedef struct oa_dict_table oa_dict_table; /* private hash table */

#define OA_BUILDER_KEEP_DICTIONARY 1u

typedef struct oa_builder {
  oa_datatype type;      /* copy of the field's value type */
  oa_dict_encoding dict; /* copy of the field's dictionary encoding */
  bool nullable;
  uint32_t flags;
  int64_t length;
  int64_t null_count;
  oa_bytes validity; /* bitmap; allocated lazily on the first null */
  oa_bytes values;   /* values, offsets, type ids or dictionary indices */
  oa_bytes data;     /* string bytes, dense union offsets */
  int64_t n_children;
  struct oa_builder *children;
  /* dictionary-encoded fields: the values builder and the lookup table */
  struct oa_builder *dict_values;
  oa_dict_table *dict_table;
} oa_builder;

int oa_builder_init(oa_builder *b, const oa_field *field, uint32_t flags,
                    oa_error *err);
void oa_builder_reset(oa_builder *b);
/* Reserves room for n more elements in this builder (not its children). */
int oa_builder_reserve(oa_builder *b, int64_t n);

/* Generic appends: check the type at run time. Return EINVAL for a value the
 * type cannot hold (e.g. append_bytes on an int64 builder, wrong
 * fixed_size_binary width), ENOMEM, or E2BIG when a dictionary outgrows its
 * index type. */
int oa_builder_append_null(oa_builder *b);
int oa_builder_append_nulls(oa_builder *b, int64_t n);
int oa_builder_append_int(
    oa_builder *b, int64_t v); /* ints, dates, times, timestamp, duration */
int oa_builder_append_uint(oa_builder *b, uint64_t v);
int oa_builder_append_double(oa_builder *b, double v); /* float, double */
int oa_builder_append_bool(oa_builder *b, bool v);
int oa_builder_append_bytes(oa_builder *b, const void *data, int64_t len);
static inline int oa_builder_append_cstr(oa_builder *b, const char *s) {
  return oa_builder_append_bytes(b, s, (int64_t)strlen(s));
}
/* struct/list/map/fixed_size_list: closes a valid element (see above).
 * Unions: oa_builder_append_union(b, child_index) after appending to that
 * child (dense) or to every child (sparse: the others get nulls). */
int oa_builder_append_valid(oa_builder *b);
int oa_builder_append_union(oa_builder *b, int child_index);

/* Finishes into out (an initialized, empty array). The builder is left empty
 * and reusable; dictionaries are kept if OA_BUILDER_KEEP_DICTIONARY. */
int oa_builder_finish(oa_builder *b, oa_array *out, oa_error *err);

/* ---- fast paths for the hot decoders (no type checks; caller guarantees the
 * builder's type). They still grow buffers as needed. */

int oa_builder_grow_validity_(oa_builder *b);

static inline int oa_builder_mark_valid_(oa_builder *b) {
  if (OA_UNLIKELY(b->validity.data != NULL)) {
    if (OA_UNLIKELY(((b->length >> 3) + 1) > b->validity.capacity)) {
      int rc = oa_builder_grow_validity_(b);
      if (rc) return rc;
    }
    oa_bit_set(b->validity.data, b->length);
  }
  return 0;
}

#define OA_BUILDER_FAST_APPEND(name, ctype)                                    \
  static inline int oa_builder_append_##name##_fast(oa_builder *b, ctype v) {  \
    int rc = oa_builder_mark_valid_(b);                                        \
    if (rc) return rc;                                                         \
    rc = oa_bytes_append(&b->values, &v, (int64_t)sizeof(v));                  \
    if (rc) return rc;                                                         \
    b->length++;                                                               \
    return 0;                                                                  \
  }
OA_BUILDER_FAST_APPEND(i8, int8_t)
OA_BUILDER_FAST_APPEND(i16, int16_t)
OA_BUILDER_FAST_APPEND(i32, int32_t)
OA_BUILDER_FAST_APPEND(i64, int64_t)
OA_BUILDER_FAST_APPEND(u8, uint8_t)
OA_BUILDER_FAST_APPEND(u16, uint16_t)
OA_BUILDER_FAST_APPEND(u32, uint32_t)
OA_BUILDER_FAST_APPEND(u64, uint64_t)
OA_BUILDER_FAST_APPEND(f64, double)
#undef OA_BUILDER_FAST_APPEND

/* fixed_size_binary of exactly b->type.byte_width bytes */
static inline int oa_builder_append_fsb_fast(oa_builder *b, const void *v) {
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  rc = oa_bytes_append(&b->values, v, b->type.byte_width);
  if (rc) return rc;
  b->length++;
  return 0;
}

/* utf8/binary (32-bit offsets), not dictionary-encoded */
static inline int oa_builder_append_str_fast(oa_builder *b, const void *v,
                                             int64_t len) {
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  rc = oa_bytes_append(&b->data, v, len);
  if (rc) return rc;
  if (OA_UNLIKELY(b->data.size > INT32_MAX)) return E2BIG;
  int32_t end = (int32_t)b->data.size;
  rc = oa_bytes_append(&b->values, &end, 4);
  if (rc) return rc;
  b->length++;
  return 0;
}

#ifdef __cplusplus
}
#endif

#endif
