/* otlparrow: named in-memory datasets shared by the services.
 *
 * The receivers append span batches to the dataset "spans"; Arrow Flight
 * DoPut appends to any named dataset and DoGet reads them back. A dataset
 * is a schema plus a list of immutable batches. The registry is
 * thread-safe and bounded in memory: an append that would exceed the limit
 * fails with EAGAIN (the caller answers with a retryable status) and
 * nothing already accepted is dropped.
 */
#ifndef OTLPARROW_DATASET_H
#define OTLPARROW_DATASET_H

#include "otlparrow/arrow.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct oa_datasets oa_datasets;

typedef struct oa_dataset_info {
  char name[256];
  oa_schema *schema; /* new reference: release it */
  int64_t n_batches;
  int64_t n_rows;
  int64_t n_bytes; /* bytes of the buffers the batches reference */
} oa_dataset_info;

/* max_memory: bytes of batch buffers held in all datasets (0: unlimited).
 * A batch costs the sizes of the distinct regions its buffers reference,
 * each counted once per batch (a region shared by two batches counts for
 * both): an upper bound of the memory the batch keeps alive. */
int oa_datasets_new(oa_datasets **out, int64_t max_memory, oa_error *err);
void oa_datasets_free(oa_datasets *d);

/* Appends a (retained, zero-copy) reference to batch. The first append
 * creates the dataset with the batch's schema; a later batch whose schema
 * differs is refused with EINVAL naming the first differing column.
 * EAGAIN when the memory limit would be exceeded. */
int oa_datasets_append(oa_datasets *d, const char *name, const oa_batch *batch,
                       oa_error *err);
/* Creates an empty dataset with this schema if it does not exist (EINVAL if
 * it exists with another schema). */
int oa_datasets_create(oa_datasets *d, const char *name, oa_schema *schema,
                       oa_error *err);

/* A consistent snapshot of a dataset: *batches is a malloc'ed array of n
 * batches (each a retained copy); free with oa_datasets_snapshot_free.
 * ENOENT when the dataset does not exist. */
int oa_datasets_snapshot(oa_datasets *d, const char *name, oa_schema **schema,
                         oa_batch **batches, int64_t *n, oa_error *err);
void oa_datasets_snapshot_free(oa_schema *schema, oa_batch *batches, int64_t n);

/* Info for one dataset (ENOENT if missing) or for all (malloc'ed array). */
int oa_datasets_info(oa_datasets *d, const char *name, oa_dataset_info *out,
                     oa_error *err);
int oa_datasets_list(oa_datasets *d, oa_dataset_info **out, int64_t *n,
                     oa_error *err);
void oa_dataset_info_free(oa_dataset_info *infos, int64_t n);
int oa_datasets_drop(oa_datasets *d, const char *name, oa_error *err);

/* Bytes currently held, and the limit. */
int64_t oa_datasets_memory_used(oa_datasets *d);
int64_t oa_datasets_memory_limit(const oa_datasets *d);

#ifdef __cplusplus
}
#endif

#endif
