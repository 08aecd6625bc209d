/* Internals of the exporter (not installed): span staging as OTLP
 * protobuf, the persistent queue and CRC-32C. */
#ifndef OA_EXPORTER_INTERNAL_H
#define OA_EXPORTER_INTERNAL_H

#include "otlparrow/exporter.h"

/* A run of consecutive staged spans with the same resource and scope. The
 * resource/scope message bytes are copied into the stage's meta buffer when
 * the run starts, so the objects need only outlive the add. */
typedef struct oa_exp_group {
  const void *res_key, *scope_key;
  int64_t res_off, res_len, res_url_off, res_url_len;
  int64_t scope_off, scope_len, scope_url_off, scope_url_len;
  int64_t span_off, span_end;
} oa_exp_group;

/* Spans added since the last seal, as encoded ScopeSpans.spans fields
 * (tag + length + Span message). Staging as protobuf keeps the calling
 * thread's cost at one sequential write per value; the columnar batch is
 * built by the sender thread with the (tested) OTLP decoder. */
typedef struct oa_exp_stage {
  oa_bytes spans;
  oa_bytes meta;
  oa_exp_group *groups;
  int64_t n_groups, cap_groups;
  int64_t n_spans;
  int64_t first_ms; /* clock when the first span was staged */
} oa_exp_stage;

void oa_exp_stage_init(oa_exp_stage *s);
void oa_exp_stage_reset(oa_exp_stage *s);
/* Empties s but keeps its memory. */
void oa_exp_stage_clear(oa_exp_stage *s);
/* Gives an empty stage room for `bytes` of spans, fresh and unzeroed. */
int oa_exp_stage_presize(oa_exp_stage *s, int64_t bytes);

/* Checks a span (ids, nesting depth); err names span index i. */
int oa_exp_span_check(const oa_span *sp, size_t i, oa_error *err);
/* Appends one span to the stage. */
int oa_exp_stage_add(oa_exp_stage *s, const oa_span *sp, oa_error *err);
/* Writes the ExportTraceServiceRequest of the stage to out (replacing). */
int oa_exp_stage_request(const oa_exp_stage *s, oa_bytes *out, oa_error *err);

/* ---- CRC-32C (Castagnoli) */
typedef struct oa_crc32c {
  uint32_t table[256];
} oa_crc32c_table;
void oa_crc32c_init(oa_crc32c_table *c);
uint32_t oa_crc32c(const oa_crc32c_table *c, uint32_t crc, const void *data,
                   size_t n);

/* ---- persistent queue: one file per batch in a directory.
 * File layout (little-endian): "OAQ1", u32 header size (48), id[16],
 * i64 spans, i64 payload length, u32 CRC-32C of the payload, u32 CRC-32C
 * of the preceding 44 header bytes; then the payload (the batch as an OTLP
 * ExportTraceServiceRequest). Written as NAME.tmp, fsync'ed, renamed to
 * NAME.oaq and the directory fsync'ed, so a crash leaves either no entry
 * or a whole one; the checksums catch the rest (disk or copy damage). */
typedef struct oa_exp_queue_entry {
  char name[64]; /* file name inside the directory */
  uint8_t id[16];
  int64_t spans;
  int64_t file_bytes;
} oa_exp_queue_entry;

/* Writes an entry; name (>= 64 bytes) gets its file name. seq orders
 * entries (replay sorts by name). */
int oa_exp_queue_write(const char *dir, const oa_crc32c_table *crc,
                       uint64_t seq, const uint8_t id[16], int64_t spans,
                       const uint8_t *payload, int64_t len, bool sync,
                       char *name, oa_error *err);
int oa_exp_queue_remove(const char *dir, const char *name, bool sync,
                        oa_error *err);
/* Lists the *.oaq entries sorted by name (malloc'ed array, free()); stale
 * *.tmp files are removed. */
int oa_exp_queue_list(const char *dir, oa_exp_queue_entry **out, int64_t *n,
                      oa_error *err);
/* Reads and verifies an entry: payload replaced in out; EIO with a message
 * naming the file and what is wrong when torn or corrupt. */
int oa_exp_queue_read(const char *dir, const oa_crc32c_table *crc,
                      oa_exp_queue_entry *e, oa_bytes *out, oa_error *err);

#endif
