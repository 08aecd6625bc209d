/* Internals of the durable store shared by src/store, its tests and the
 * fuzz target: checksums, log records, the manifest and bloom filters.
 * Every decoder here reads untrusted bytes (a file torn by a crash, or
 * damaged on disk) and checks each length against what is left. */
#ifndef OA_STORE_INTERNAL_H
#define OA_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlparrow/builder.h"
#include "otlparrow/dataset.h"

/* CRC32C (Castagnoli) of n bytes continuing from crc (0 to start).
 * allow_hw false forces the table path (tests compare both). */
uint32_t oa_store_crc32c_(uint32_t crc, const void *data, size_t n,
                          bool allow_hw);

/* ------------------------------------------------------------ log records
 * A record: u32 magic "OAWL", u32 payload length, u32 CRC32C of the
 * payload, u32 CRC32C of the 12 bytes before it; then the payload: u8 type,
 * u8 name length, name, u8 id length (0: none), id, i64 time (ns), and for
 * CREATE and APPEND an Arrow IPC stream (schema, dictionaries, at most one
 * record batch, end-of-stream). All integers little-endian. */
#define OA_WAL_MAGIC 0x4c57414fu
#define OA_WAL_HEADER 16
#define OA_WAL_MAX_RECORD (1LL << 31)

enum { OA_WAL_CREATE = 1, OA_WAL_APPEND = 2, OA_WAL_DROP = 3 };

typedef struct oa_store_wal_record {
  int type;
  const char *name;
  size_t name_len;
  const char *id;
  size_t id_len;
  int64_t time;
  const uint8_t *ipc;
  int64_t ipc_len;
  int64_t offset; /* of the record in the scanned bytes */
} oa_store_wal_record;

/* Starts a record at the end of out (header left blank); returns its start
 * offset in *start. The IPC bytes are then appended by the caller. */
int oa_store_wal_begin_(oa_bytes *out, int type, const char *name,
                        const char *id, int64_t time, int64_t *start,
                        oa_error *err);
/* Fills the header of the record that starts at start. */
int oa_store_wal_end_(oa_bytes *out, int64_t start, oa_error *err);
/* Fills a record header at h for a payload of len bytes whose CRC32C is crc
 * (for a payload gathered from pieces rather than contiguous). */
int oa_store_wal_header_(uint8_t *h, int64_t len, uint32_t crc, oa_error *err);

typedef int (*oa_store_wal_fn)(void *ctx, const oa_store_wal_record *r,
                               oa_error *err);
/* Calls fn for each intact record from the start; stops at the first one
 * that is cut short or fails its checksum (a torn tail). *valid_end is the
 * offset just past the last intact record, *torn the bytes after it. */
int oa_store_wal_scan_(const uint8_t *data, int64_t len, oa_store_wal_fn fn,
                       void *ctx, int64_t *valid_end, int64_t *torn,
                       oa_error *err);

/* ------------------------------------------------------------ manifest */

#define OA_STORE_MAX_ID 64

typedef struct oa_store_seg_meta {
  uint64_t id;
  char dataset[256];
  int64_t min_time, max_time; /* start_time (spans) or arrival, ns */
  int64_t rows, bytes, n_batches;
  int64_t part;   /* time partition number */
  uint32_t flags; /* OA_SEG_BLOOM: seg-N.bloom exists */
  int64_t n_ids;  /* batch ids stored in the segment */
  char **ids;     /* malloc'ed NUL-terminated strings */
} oa_store_seg_meta;

#define OA_SEG_BLOOM 1u

typedef struct oa_store_ds_meta {
  char name[256];
  uint8_t *schema_ipc; /* IPC stream holding only the schema */
  int64_t schema_len;
} oa_store_ds_meta;

typedef struct oa_store_manifest {
  uint64_t generation;
  uint64_t wal_flushed;  /* logs wal-N with N <= this are in segments */
  uint64_t next_segment; /* id of the next segment file */
  int64_t n_ds, cap_ds;
  oa_store_ds_meta *ds;
  int64_t n_segs, cap_segs;
  oa_store_seg_meta *segs;
} oa_store_manifest;

void oa_store_manifest_init_(oa_store_manifest *m);
void oa_store_manifest_reset_(oa_store_manifest *m);
void oa_store_seg_meta_reset_(oa_store_seg_meta *s);
int oa_store_seg_meta_copy_(oa_store_seg_meta *dst,
                            const oa_store_seg_meta *src, oa_error *err);
/* Appends (moves) a segment; s is left zeroed. */
int oa_store_manifest_add_seg_(oa_store_manifest *m, oa_store_seg_meta *s,
                               oa_error *err);
void oa_store_manifest_remove_seg_(oa_store_manifest *m, int64_t i);
int oa_store_manifest_set_ds_(oa_store_manifest *m, const char *name,
                              const uint8_t *schema_ipc, int64_t len,
                              oa_error *err);
void oa_store_manifest_remove_ds_(oa_store_manifest *m, const char *name);
int oa_store_manifest_encode_(const oa_store_manifest *m, oa_bytes *out,
                              oa_error *err);
/* m must be initialized; on error it is left empty. */
int oa_store_manifest_decode_(const uint8_t *p, int64_t n, oa_store_manifest *m,
                              oa_error *err);

/* ------------------------------------------------------------ bloom */

typedef struct oa_store_bloom {
  uint64_t nbits; /* a power of two */
  uint32_t k;
  uint64_t *bits;
} oa_store_bloom;

/* About 1% false positives for n_items ids (10 bits each, 7 probes). */
int oa_store_bloom_init_(oa_store_bloom *b, int64_t n_items, oa_error *err);
void oa_store_bloom_reset_(oa_store_bloom *b);
void oa_store_bloom_add_(oa_store_bloom *b, const uint8_t id[16]);
bool oa_store_bloom_test_(const oa_store_bloom *b, const uint8_t id[16]);
/* A segment's bloom file: one filter per record batch of the segment.
 * Layout: "OABLOOM2", u32 count, then per filter u32 k, u32 0, u64 nbits
 * and the words; u32 CRC32C of all that precedes. */
int oa_store_blooms_encode_(const oa_store_bloom *b, int64_t n, oa_bytes *out,
                            oa_error *err);
/* *out: malloc'ed array of *n filters (free each, then the array). */
int oa_store_blooms_decode_(const uint8_t *p, int64_t len, oa_store_bloom **out,
                            int64_t *n, oa_error *err);
void oa_store_blooms_free_(oa_store_bloom *b, int64_t n);

#endif
