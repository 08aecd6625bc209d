/* otlparrow: the Arrow C Data Interface and C Stream Interface.
 *
 * The struct definitions follow the Arrow specification
 * (CDataInterface.rst, CStreamInterface.rst) and use its include guards, so
 * this header coexists with other Arrow libraries' copies.
 *
 * Export is zero-copy: the exported structs keep the regions of the arrays
 * alive until their release callback runs. Import takes ownership: the
 * ArrowArray is moved into a region whose last release calls the producer's
 * release (exactly once). Imports release their input also on failure. */
#ifndef OTLPARROW_C_DATA_H
#define OTLPARROW_C_DATA_H

#include <stdint.h>

#include "otlparrow/arrow.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char *format;
  const char *name;
  const char *metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema **children;
  struct ArrowSchema *dictionary;
  void (*release)(struct ArrowSchema *);
  void *private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void **buffers;
  struct ArrowArray **children;
  struct ArrowArray *dictionary;
  void (*release)(struct ArrowArray *);
  void *private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
  int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
  const char *(*get_last_error)(struct ArrowArrayStream *);
  void (*release)(struct ArrowArrayStream *);
  void *private_data;
};

#endif /* ARROW_C_STREAM_INTERFACE */

/* ------------------------------------------------------------- schemas */

/* Exports a field (its format string, name, flags, metadata, children and
 * dictionary value type). */
int oa_field_export(const oa_field *f, struct ArrowSchema *out, oa_error *err);
/* Exports a schema as a struct ("+s") whose children are the fields. */
int oa_schema_export(const oa_schema *s, struct ArrowSchema *out,
                     oa_error *err);
/* Imports into *out (initialized here) and releases in. Unknown or
 * malformed format strings give EINVAL naming the string; known but
 * unsupported ones (views, run-end encoded) give ENOTSUP. Dictionary
 * ids are numbered 0, 1, ... in depth-first order. */
int oa_field_import(struct ArrowSchema *in, oa_field *out, oa_error *err);
/* Imports a struct schema as an oa_schema (refcount 1) and releases in. */
int oa_schema_import(struct ArrowSchema *in, oa_schema **out, oa_error *err);

/* -------------------------------------------------------------- arrays */

/* Zero-copy export of an array of field f (offset passed through). */
int oa_array_export(const oa_field *f, const oa_array *a,
                    struct ArrowArray *out, oa_error *err);
/* Exports a batch as a struct array without validity. */
int oa_batch_export(const oa_batch *b, struct ArrowArray *out, oa_error *err);
/* Imports an array of field f, moving *in (in->release is NULL afterwards,
 * also on failure, when the producer's release has already run). Buffer
 * sizes are computed from the field and lengths; run oa_array_validate on
 * untrusted input. */
int oa_array_import(struct ArrowArray *in, const oa_field *f, oa_array *out,
                    oa_error *err);
/* Imports a struct array whose children are the schema's columns (the
 * struct's own offset is applied to the columns; it must have no nulls). */
int oa_batch_import(struct ArrowArray *in, oa_schema *schema, oa_batch *out,
                    oa_error *err);

/* ------------------------------------------------------------- streams */

/* A stream over n batches (copied by reference) of schema (retained). */
int oa_batches_export_stream(oa_schema *schema, const oa_batch *batches,
                             int64_t n, struct ArrowArrayStream *out,
                             oa_error *err);
int oa_stream_import_schema(struct ArrowArrayStream *stream, oa_schema **out,
                            oa_error *err);
/* Next batch; *got = false at the end of the stream. The stream is not
 * released (the caller calls stream->release). */
int oa_stream_import_next(struct ArrowArrayStream *stream,
                          const oa_schema *schema, oa_batch *out, bool *got,
                          oa_error *err);

#ifdef __cplusplus
}
#endif

#endif
