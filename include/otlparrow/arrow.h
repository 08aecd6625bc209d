/* otlparrow: the Arrow columnar core.
 *
 * Ownership model
 * - oa_region: a reference-counted block of memory (heap, mmap'ed file, a
 *   received message, an imported C Data Interface array). It is released when
 *   its last reference goes away.
 * - oa_buffer: a borrowed view (data, size) into a region, plus the region
 *   pointer that keeps it alive. Arrays hold buffers; copying an array retains
 *   the regions instead of copying bytes, which is what makes slicing and
 *   zero-copy reads cheap.
 * - oa_field / oa_schema describe types. An oa_array is untyped (like the C
 *   Data Interface): it is always interpreted together with its oa_field.
 * - A dictionary-encoded field has field->dict.encoded set; field->type is the
 *   type of the dictionary *values*, the array's own buffers hold indices of
 *   field->dict.index_type and array->dictionary holds the values.
 */
#ifndef OTLPARROW_ARROW_H
#define OTLPARROW_ARROW_H

#include <stdatomic.h>

#include "otlparrow/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- regions */

typedef struct oa_region oa_region;
typedef void (*oa_region_release_fn)(oa_region *region);

struct oa_region {
  atomic_long refcount;
  uint8_t *data;
  int64_t size;
  /* Called when the refcount drops to zero; must free data (if owned) and
   * the region itself. */
  oa_region_release_fn release;
  void *private_data;
};

/* New heap region of size bytes, 64-byte aligned, zero-filled padding.
 * Returns NULL on allocation failure. refcount starts at 1. */
oa_region *oa_region_alloc(int64_t size);
/* Takes ownership of memory from oa_aligned_alloc (size used bytes). */
oa_region *oa_region_adopt(void *aligned_data, int64_t size);
/* Wraps foreign memory; release_fn(private_data) runs on the last release. */
oa_region *oa_region_wrap(void *data, int64_t size,
                          void (*release_fn)(void *private_data),
                          void *private_data);
void oa_region_retain(oa_region *region);
void oa_region_release(oa_region *region);

typedef struct oa_buffer {
  const uint8_t *data;
  int64_t size;
  oa_region *region; /* keeps data alive; NULL for static or empty data */
} oa_buffer;

/* ------------------------------------------------------------------ types */

typedef enum oa_type_id {
  OA_TYPE_NA = 0,
  OA_TYPE_BOOL,
  OA_TYPE_INT8,
  OA_TYPE_INT16,
  OA_TYPE_INT32,
  OA_TYPE_INT64,
  OA_TYPE_UINT8,
  OA_TYPE_UINT16,
  OA_TYPE_UINT32,
  OA_TYPE_UINT64,
  OA_TYPE_HALF_FLOAT,
  OA_TYPE_FLOAT,
  OA_TYPE_DOUBLE,
  OA_TYPE_STRING,
  OA_TYPE_LARGE_STRING,
  OA_TYPE_BINARY,
  OA_TYPE_LARGE_BINARY,
  OA_TYPE_FIXED_SIZE_BINARY,
  OA_TYPE_DATE32,
  OA_TYPE_DATE64,
  OA_TYPE_TIME32,
  OA_TYPE_TIME64,
  OA_TYPE_TIMESTAMP,
  OA_TYPE_DURATION,
  OA_TYPE_INTERVAL_MONTHS,
  OA_TYPE_INTERVAL_DAY_TIME,
  OA_TYPE_INTERVAL_MONTH_DAY_NANO,
  OA_TYPE_DECIMAL128,
  OA_TYPE_DECIMAL256,
  OA_TYPE_LIST,
  OA_TYPE_LARGE_LIST,
  OA_TYPE_FIXED_SIZE_LIST,
  OA_TYPE_STRUCT,
  OA_TYPE_MAP,
  OA_TYPE_SPARSE_UNION,
  OA_TYPE_DENSE_UNION,
  OA_TYPE_COUNT
} oa_type_id;

typedef enum oa_time_unit {
  OA_TIME_UNIT_SECOND = 0,
  OA_TIME_UNIT_MILLI = 1,
  OA_TIME_UNIT_MICRO = 2,
  OA_TIME_UNIT_NANO = 3
} oa_time_unit;

#define OA_MAX_UNION_CHILDREN 128

typedef struct oa_datatype {
  oa_type_id id;
  oa_time_unit unit;  /* time32/64, timestamp, duration */
  int32_t byte_width; /* fixed_size_binary */
  int32_t list_size;  /* fixed_size_list */
  int32_t precision;  /* decimal */
  int32_t scale;      /* decimal */
  bool keys_sorted;   /* map */
  char *timezone;     /* timestamp; owned, NULL when absent */
  /* unions: type code of each child (children[i] has code type_codes[i]) */
  int8_t type_codes[OA_MAX_UNION_CHILDREN];
} oa_datatype;

/* Name of a type id ("int64", "timestamp", ...). */
const char *oa_type_name(oa_type_id id);
bool oa_type_is_integer(oa_type_id id);
bool oa_type_is_signed_integer(oa_type_id id);
/* Bits per value of fixed-width types (1 for bool, 0 when not fixed-width;
 * fixed_size_binary and decimals report their byte width * 8). */
int64_t oa_datatype_bit_width(const oa_datatype *type);
/* Number of buffers in the physical layout (validity included where the
 * layout has one): na 0, struct/fixed_size_list/sparse union 1,
 * primitives/list/map/dense union 2, binary/string 3. */
int oa_layout_n_buffers(oa_type_id id);

/* ------------------------------------------------------------- metadata */

typedef struct oa_kv {
  char *key;
  int64_t key_len;
  char *value;
  int64_t value_len;
} oa_kv;

typedef struct oa_metadata {
  int64_t n;
  oa_kv *items;
} oa_metadata;

void oa_metadata_init(oa_metadata *md);
void oa_metadata_reset(oa_metadata *md);
int oa_metadata_add(oa_metadata *md, const char *key, int64_t key_len,
                    const char *value, int64_t value_len, oa_error *err);
int oa_metadata_copy(oa_metadata *dst, const oa_metadata *src, oa_error *err);
/* Value for key (NUL-terminated), or NULL. */
const oa_kv *oa_metadata_find(const oa_metadata *md, const char *key);

/* ---------------------------------------------------------------- fields */

typedef struct oa_dict_encoding {
  bool encoded;          /* false: not dictionary-encoded */
  int64_t id;            /* dictionary id (IPC) */
  oa_type_id index_type; /* int8..int64 or uint8..uint64 */
  bool ordered;
} oa_dict_encoding;

typedef struct oa_field {
  char *name; /* owned, may be "" */
  oa_datatype type;
  bool nullable;
  oa_dict_encoding dict;
  int64_t n_children;
  struct oa_field *children; /* owned array of n_children */
  oa_metadata metadata;
} oa_field;

/* Initializes a field with a name and a type id without parameters. */
int oa_field_init(oa_field *f, const char *name, oa_type_id id, oa_error *err);
void oa_field_reset(oa_field *f);
int oa_field_copy(oa_field *dst, const oa_field *src, oa_error *err);
/* Appends a child, taking ownership of *child (it is left zeroed). */
int oa_field_add_child(oa_field *f, oa_field *child, oa_error *err);
/* Sets timestamp timezone (copied; NULL clears). */
int oa_field_set_timezone(oa_field *f, const char *tz, oa_error *err);
/* Marks the field dictionary-encoded with the given index type and id. */
void oa_field_set_dictionary(oa_field *f, oa_type_id index_type, int64_t id,
                             bool ordered);
/* Structural equality (names, types, nullability, dictionary encoding,
 * children; metadata only if check_metadata). On mismatch fills err with the
 * path of the first difference, e.g. "field 'events.item.name': type utf8 !=
 * binary". */
bool oa_field_equals(const oa_field *a, const oa_field *b, bool check_metadata,
                     oa_error *err);
/* Writes a human-readable type, e.g. "list<item: utf8>" or
 * "dictionary<values=utf8, indices=uint16>". Returns the length that would
 * have been written (snprintf semantics). */
int oa_field_format_type(const oa_field *f, char *out, size_t cap);

/* ---------------------------------------------------------------- schema */

/* A reference-counted schema: batches from one reader share one schema. */
typedef struct oa_schema {
  atomic_long refcount;
  int64_t n_fields;
  oa_field *fields;
  oa_metadata metadata;
} oa_schema;

/* New empty schema with refcount 1. */
int oa_schema_new(oa_schema **out, oa_error *err);
/* Appends a field, taking ownership of *field (it is left zeroed). */
int oa_schema_add_field(oa_schema *s, oa_field *field, oa_error *err);
void oa_schema_retain(oa_schema *s);
void oa_schema_release(oa_schema *s);
int oa_schema_copy(oa_schema **out, const oa_schema *src, oa_error *err);
bool oa_schema_equals(const oa_schema *a, const oa_schema *b,
                      bool check_metadata, oa_error *err);
/* Index of the top-level field with this name, or -1. */
int64_t oa_schema_find(const oa_schema *s, const char *name);

/* ---------------------------------------------------------------- arrays */

typedef struct oa_array {
  int64_t length;
  int64_t offset;     /* logical offset into the buffers (slices) */
  int64_t null_count; /* -1 when not computed */
  int32_t n_buffers;
  oa_buffer buffers[3];
  int64_t n_children;
  struct oa_array *children;   /* owned array of n_children */
  struct oa_array *dictionary; /* owned; values of a dictionary array */
} oa_array;

void oa_array_init(oa_array *a);
/* Releases the regions it references and frees its children. */
void oa_array_reset(oa_array *a);
/* Moves src into dst (dst must be reset/initialized; src is left empty). */
void oa_array_move(oa_array *dst, oa_array *src);
/* Shares src's buffers (regions retained, no bytes copied). */
int oa_array_copy(oa_array *dst, const oa_array *src, oa_error *err);
/* Zero-copy slice [offset, offset+length) of src into dst. */
int oa_array_slice(oa_array *dst, const oa_array *src, int64_t offset,
                   int64_t length, oa_error *err);
/* Counts (and stores) null_count if unknown. Unions and na are handled. */
int64_t oa_array_null_count(const oa_field *f, oa_array *a);
/* True if element i (relative to the array's offset) is null. */
bool oa_array_is_null(const oa_field *f, const oa_array *a, int64_t i);

/* Full validation against the field: buffer sizes, offsets monotonic and in
 * bounds, child lengths, union type codes and offsets, dictionary indices in
 * range, and (if check_utf8) UTF-8 of string values. */
int oa_array_validate(const oa_field *f, const oa_array *a, bool check_utf8,
                      oa_error *err);

/* Bytes of the buffers an array and its children reference (dictionaries
 * not included): a cheap size estimate, e.g. to split a batch into messages
 * of a target size. */
int64_t oa_array_buffer_bytes(const oa_array *a);

/* Logical equality of two arrays of the same field: same length and, element
 * by element, same nullness and value (offsets, slicing and dictionary
 * encoding are looked through: two dictionary arrays are equal when their
 * decoded values are). On mismatch fills err with where ("row 3: 5 != 6",
 * "row 2 child 'x': ..."). */
bool oa_array_equals(const oa_field *f, const oa_array *a, const oa_array *b,
                     oa_error *err);

/* Typed element access for printing and tests (i relative to offset). */
int64_t oa_array_get_int(const oa_field *f, const oa_array *a, int64_t i);
uint64_t oa_array_get_uint(const oa_field *f, const oa_array *a, int64_t i);
double oa_array_get_double(const oa_field *f, const oa_array *a, int64_t i);
/* Bytes of a string/binary/fixed_size_binary element. */
const uint8_t *oa_array_get_bytes(const oa_field *f, const oa_array *a,
                                  int64_t i, int64_t *len);
/* Index into array->dictionary for a dictionary-encoded element. */
int64_t oa_array_get_dict_index(const oa_field *f, const oa_array *a,
                                int64_t i);

/* Validity bitmap helpers (LSB bit order). */
static inline bool oa_bit_get(const uint8_t *bits, int64_t i) {
  return (bits[i >> 3] >> (i & 7)) & 1;
}
static inline void oa_bit_set(uint8_t *bits, int64_t i) {
  bits[i >> 3] |= (uint8_t)(1u << (i & 7));
}
static inline void oa_bit_clear(uint8_t *bits, int64_t i) {
  bits[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}
int64_t oa_bitmap_count_set(const uint8_t *bits, int64_t offset,
                            int64_t length);

/* ---------------------------------------------------------- record batch */

typedef struct oa_batch {
  oa_schema *schema; /* retained */
  int64_t length;
  int64_t n_columns;
  oa_array *columns; /* owned array of n_columns, one per schema field */
} oa_batch;

void oa_batch_init(oa_batch *b);
void oa_batch_reset(oa_batch *b);
/* Memory a batch keeps alive for its values: the bytes of every distinct
 * buffer its columns, children and dictionaries reference, each counted
 * once (a buffer shared by two columns, or a dictionary shared by two
 * arrays, counts once). ENOMEM if the bookkeeping could not be allocated. */
int oa_batch_held_bytes(const oa_batch *b, int64_t *out, oa_error *err);
void oa_batch_move(oa_batch *dst, oa_batch *src);
/* Takes a reference to schema and ownership of columns[0..n) (each array is
 * moved out and left empty). */
int oa_batch_set(oa_batch *b, oa_schema *schema, int64_t length,
                 oa_array *columns, oa_error *err);
int oa_batch_slice(oa_batch *dst, const oa_batch *src, int64_t offset,
                   int64_t length, oa_error *err);
int oa_batch_copy(oa_batch *dst, const oa_batch *src, oa_error *err);
/* Same schema (without metadata) and equal columns. */
bool oa_batch_equals(const oa_batch *a, const oa_batch *b, oa_error *err);
int oa_batch_validate(const oa_batch *b, bool check_utf8, oa_error *err);
/* Plain copy of in: every dictionary-encoded field (at any depth) becomes its
 * value type in a new schema, and its arrays are gathered from the dictionary
 * (a null index or a null dictionary value gives null). Other arrays share
 * in's buffers. out is overwritten (not reset first), like oa_batch_copy.
 * ENOTSUP names a field whose dictionary value type is not a string, binary,
 * fixed_size_binary, bool or fixed-width primitive; EINVAL an index out of
 * its dictionary. */
int oa_batch_decode_dictionaries(const oa_batch *in, oa_batch *out,
                                 oa_error *err);

#ifdef __cplusplus
}
#endif

#endif
