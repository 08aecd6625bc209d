/* Internal: a small FlatBuffers reader/verifier and builder, written from the
 * FlatBuffers binary format description (Internals.md).
 *
 * Reader: every access is bounds-checked against (buf, len) at the moment it
 * is made, so reading a field is also verifying it. Values are read with
 * memcpy (no alignment is required of the input). A budget on the number of
 * tables visited and a depth limit stop buffers whose offsets are shared
 * (DAGs) from making decoding blow up. Every failure is EINVAL with a message
 * naming the object, its position and the buffer length.
 *
 * Builder: builds back to front like the official builders, with the same
 * alignment rules, so the result is readable by any FlatBuffers reader.
 * Errors are sticky: builder calls return references and record the first
 * failure, which oa_fb_builder_finish reports. */
#ifndef OA_IPC_FLATBUF_H
#define OA_IPC_FLATBUF_H

#include <string.h>

#include "otlparrow/builder.h"
#include "otlparrow/common.h"

/* ----------------------------------------------------------------- reader */

#define OA_FB_DEFAULT_MAX_TABLES 1000000
#define OA_FB_DEFAULT_MAX_DEPTH 128

typedef struct oa_fb_reader {
  const uint8_t *buf;
  int64_t len;
  int64_t tables_left; /* budget: tables that may still be visited */
  int32_t max_depth;   /* nesting of tables below the root */
  oa_error *err;
} oa_fb_reader;

typedef struct oa_fb_table {
  const oa_fb_reader *r;
  int64_t pos;         /* table start (its soffset) */
  int64_t vtable;      /* vtable start */
  int32_t vtable_size; /* bytes, including the two header fields */
  int32_t inline_size; /* bytes of the table's inline data */
  int32_t depth;       /* 0 for the root */
  const char *name;    /* for messages */
} oa_fb_table;

typedef struct oa_fb_vector {
  const oa_fb_reader *r;
  int64_t data;      /* position of the first element */
  int64_t n;         /* number of elements */
  int32_t elem_size; /* bytes per element */
  int32_t depth;     /* depth of the table that holds the vector */
  const char *name;
} oa_fb_vector;

/* Sets up a reader. The table budget is min(max_tables, len / 4 + 64):
 * unshared tables take at least 4 bytes each, so a larger count means the
 * offsets are shared. max_tables <= 0 and max_depth <= 0 select defaults. */
void oa_fb_reader_init(oa_fb_reader *r, const uint8_t *buf, int64_t len,
                       int64_t max_tables, int32_t max_depth, oa_error *err);

/* The root table (the uoffset at position 0). */
int oa_fb_root(oa_fb_reader *r, const char *name, oa_fb_table *out);

/* True if the field in slot is present (non-zero vtable entry). */
bool oa_fb_has(const oa_fb_table *t, int slot);

/* Scalars: *out is def when the field is absent. */
int oa_fb_get_u8(const oa_fb_table *t, int slot, const char *name, uint8_t def,
                 uint8_t *out);
int oa_fb_get_bool(const oa_fb_table *t, int slot, const char *name, bool def,
                   bool *out);
int oa_fb_get_i8(const oa_fb_table *t, int slot, const char *name, int8_t def,
                 int8_t *out);
int oa_fb_get_i16(const oa_fb_table *t, int slot, const char *name, int16_t def,
                  int16_t *out);
int oa_fb_get_i32(const oa_fb_table *t, int slot, const char *name, int32_t def,
                  int32_t *out);
int oa_fb_get_i64(const oa_fb_table *t, int slot, const char *name, int64_t def,
                  int64_t *out);

/* Sub-table; *present false (and out untouched) when absent. */
int oa_fb_get_table(const oa_fb_table *t, int slot, const char *name,
                    oa_fb_table *out, bool *present);
/* String: *s points into the buffer (NUL-terminated there), NULL if absent. */
int oa_fb_get_string(const oa_fb_table *t, int slot, const char *name,
                     const char **s, int64_t *len);
/* Vector of elem_size-byte elements (4 for offsets to tables/strings); an
 * absent vector reads as empty (n 0) and *present is false. */
int oa_fb_get_vector(const oa_fb_table *t, int slot, const char *name,
                     int32_t elem_size, oa_fb_vector *out, bool *present);
/* Inline struct of size bytes: pointer into the buffer, NULL if absent. */
int oa_fb_get_struct(const oa_fb_table *t, int slot, const char *name,
                     int32_t size, const uint8_t **out);

/* Element access; i must be < v->n. */
const uint8_t *oa_fb_vector_elem(const oa_fb_vector *v, int64_t i);
int oa_fb_vector_table(const oa_fb_vector *v, int64_t i, oa_fb_table *out);
int oa_fb_vector_string(const oa_fb_vector *v, int64_t i, const char **s,
                        int64_t *len);

/* Little-endian loads (any alignment). */
static inline int16_t oa_fb_load_i16(const uint8_t *p) {
  int16_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline int32_t oa_fb_load_i32(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline int64_t oa_fb_load_i64(const uint8_t *p) {
  int64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* ---------------------------------------------------------------- builder */

/* Reference to a built object: its distance from the end of the buffer. */
typedef uint32_t oa_fb_ref;

#define OA_FB_MAX_SLOTS 32

typedef struct oa_fb_builder {
  uint8_t *buf; /* data occupies buf[cap - used, cap) */
  int64_t cap;
  int64_t used;
  int64_t minalign; /* largest alignment used: the buffer size's multiple */
  int status;       /* first failure (sticky) */
  char what[96];    /* what failed */
  bool in_table;
  int64_t table_start;
  int32_t n_slots;                 /* highest slot used + 1 */
  uint32_t slots[OA_FB_MAX_SLOTS]; /* field positions (from end); 0: absent */
} oa_fb_builder;

void oa_fb_builder_init(oa_fb_builder *b);
void oa_fb_builder_reset(oa_fb_builder *b);
/* Empties the builder for reuse (keeps its memory). */
void oa_fb_builder_clear(oa_fb_builder *b);

/* Leaf objects (must not be called while a table is open). */
oa_fb_ref oa_fb_create_string(oa_fb_builder *b, const char *s, int64_t len);
/* Vector of n scalars or structs of elem_size bytes, aligned to align. */
oa_fb_ref oa_fb_create_vector(oa_fb_builder *b, const void *data, int64_t n,
                              int32_t elem_size, int32_t align);
/* Vector of offsets to tables or strings built earlier. */
oa_fb_ref oa_fb_create_vector_refs(oa_fb_builder *b, const oa_fb_ref *refs,
                                   int64_t n);

/* Tables: start, add fields (children built beforehand), end. */
void oa_fb_start_table(oa_fb_builder *b);
/* Scalars are omitted when equal to their schema default (def). */
void oa_fb_add_u8(oa_fb_builder *b, int slot, uint8_t v, uint8_t def);
void oa_fb_add_bool(oa_fb_builder *b, int slot, bool v, bool def);
void oa_fb_add_i8(oa_fb_builder *b, int slot, int8_t v, int8_t def);
void oa_fb_add_i16(oa_fb_builder *b, int slot, int16_t v, int16_t def);
void oa_fb_add_i32(oa_fb_builder *b, int slot, int32_t v, int32_t def);
void oa_fb_add_i64(oa_fb_builder *b, int slot, int64_t v, int64_t def);
/* Offset to a table, string or vector (0 ref: nothing added). */
void oa_fb_add_ref(oa_fb_builder *b, int slot, oa_fb_ref ref);
/* Struct stored inline. */
void oa_fb_add_struct(oa_fb_builder *b, int slot, const void *data,
                      int32_t size, int32_t align);
oa_fb_ref oa_fb_end_table(oa_fb_builder *b);

/* Writes the root offset and appends the finished buffer to out. Reports
 * the first builder failure (ENOMEM, EINVAL for misuse, E2BIG past 2 GiB). */
int oa_fb_builder_finish(oa_fb_builder *b, oa_fb_ref root, oa_bytes *out,
                         oa_error *err);

#endif
