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

/* ------------------------------------------------------- durable store
 *
 * oa_datasets_open with a directory persists every dataset: an append is
 * written to a write-ahead log (DIR/wal-N.log, one checksummed record per
 * batch) and, per the fsync policy, synced before it returns 0 (that is the
 * acknowledgement). A background thread turns logged batches into immutable
 * Arrow IPC files (DIR/seg-N.arrow, zstd) grouped by time partition, lists
 * them in DIR/MANIFEST (written atomically: temp file, fsync, rename,
 * directory fsync) and then deletes the covered logs. Span datasets (a
 * trace_id fixed_size_binary(16) and a start_time timestamp column) get a
 * bloom filter over trace ids per segment (DIR/seg-N.bloom) and are
 * partitioned by start_time; other datasets by arrival time. Segments are
 * read through mmap. Small segments of a partition are merged; retention
 * drops the oldest segments past max age or total size.
 *
 * Directory layout and crash safety: segments are renamed into place only
 * once complete and synced, and count only once the manifest lists them;
 * a torn log tail (length or checksum) is dropped on recovery and counted
 * in oa_store_stats.wal_torn; a segment that cannot be read is reported,
 * counted and skipped. */

typedef enum oa_fsync_policy {
  OA_FSYNC_BATCH = 0,    /* fsync the log before each append returns */
  OA_FSYNC_INTERVAL = 1, /* fsync every fsync_interval_ms */
  OA_FSYNC_NEVER = 2     /* leave it to the kernel (a crash may lose data) */
} oa_fsync_policy;

typedef struct oa_store_options {
  oa_fsync_policy fsync;     /* default OA_FSYNC_BATCH */
  int64_t fsync_interval_ms; /* OA_FSYNC_INTERVAL; default 100 */
  int64_t segment_rows;      /* target rows per segment; default 262144 */
  int64_t segment_bytes;     /* flush when unflushed bytes exceed it;
                                default 64 MiB (and half of max_memory) */
  int64_t flush_interval_ms; /* flush logged data at least this often;
                                default 2000 */
  int64_t partition_ns;      /* time partition width; default 1 hour */
  /* merge a partition's segments smaller than segment_rows / 2 once it has
   * this many; default 4, 0: never */
  int32_t compaction_min_segments;
  int64_t retention_age_ns; /* drop segments older than this; 0: keep */
  int64_t retention_bytes;  /* keep segments under this total; 0: no limit */
  int32_t compression_level; /* zstd level of segments; default 1 */
  bool read_only; /* no lock, no log, no flushing: a consistent snapshot of
                     the directory at open time */
  bool background; /* run the flush thread; default true (tests turn it off
                      and call oa_datasets_flush) */
} oa_store_options;

void oa_store_options_init(oa_store_options *o);

/* dir NULL: in memory only (as oa_datasets_new; o may be NULL). Otherwise
 * the directory is created if missing, locked (DIR/LOCK, flock; a second
 * writer gets EBUSY) unless read_only, and recovered: manifest, segments,
 * then the logs replayed. max_memory bounds data not yet in segments. */
int oa_datasets_open(oa_datasets **out, const char *dir,
                     const oa_store_options *o, int64_t max_memory,
                     oa_error *err);

/* As oa_datasets_append with an idempotency key: when batch_id (1..64
 * bytes, NULL: none) was already stored in this dataset (also before a
 * restart), *duplicate is set to 1 and nothing is stored. Returns 0 once
 * the batch is durable per the fsync policy. EROFS on a read-only store. */
int oa_datasets_append_id(oa_datasets *d, const char *name,
                          const oa_batch *batch, const char *batch_id,
                          int *duplicate, oa_error *err);

/* A snapshot narrowed to what may match: segments whose time range misses
 * [min_time, max_time] (start_time ns, inclusive) or whose bloom filter has
 * none of the n_ids trace ids (16 bytes each; trace_ids NULL: any) are not
 * opened. Not-yet-flushed batches are always included; the caller filters
 * rows. Datasets without span columns ignore the filter. */
int oa_datasets_snapshot_filtered(oa_datasets *d, const char *name,
                                  const uint8_t *trace_ids, int64_t n_ids,
                                  int64_t min_time, int64_t max_time,
                                  oa_schema **schema, oa_batch **batches,
                                  int64_t *n, oa_error *err);

/* Writes everything logged so far into segments now (also run by the
 * background thread), then compaction and retention. No-op in memory. */
int oa_datasets_flush(oa_datasets *d, oa_error *err);

typedef struct oa_store_stats {
  int64_t segments, segment_bytes, segment_rows;
  int64_t segments_opened, segments_skipped; /* by snapshots */
  int64_t segments_corrupt;                  /* unreadable, skipped */
  int64_t wal_records_replayed, wal_torn;    /* recovery */
  int64_t duplicates;                        /* appends refused by id */
  int64_t flushes, compactions, segments_expired;
  int64_t flush_errors; /* background flushes that failed (retried) */
  int64_t unflushed_bytes;
} oa_store_stats;

void oa_datasets_store_stats(oa_datasets *d, oa_store_stats *out);

#ifdef __cplusplus
}
#endif

#endif
