/* Pieces of `otlparrow bench` (src/cli/bench*.c; not installed). The
 * measuring helpers (bench_measure.c) are also compiled into the programs
 * of bench/. */
#ifndef OA_CLI_BENCH_H
#define OA_CLI_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"
#include "otlparrow/exporter.h"

/* ------------------------------------------------------------- records */

/* Spans as an application holds them before export: the exporter's span
 * records (oa_span, include/otlparrow/exporter.h), with the data they point
 * to in an arena. The resource and scope objects are the exporter's; their
 * content is kept here too, for the protobuf-c baseline. */
typedef struct oa_bench_resource {
  oa_resource *exp;
  const oa_keyvalue *attrs;
  size_t n_attrs;
  uint32_t dropped;
  const char *schema_url;
} oa_bench_resource;

typedef struct oa_bench_scope {
  oa_scope *exp;
  const char *name, *version;
  const oa_keyvalue *attrs;
  size_t n_attrs;
  uint32_t dropped;
  const char *schema_url; /* of the ScopeSpans */
} oa_bench_scope;

/* A chunked bump allocator: everything of a record set, or of one protobuf-c
 * message tree, freed at once. */
typedef struct oa_bench_arena {
  struct oa_bench_chunk *head, *cur;
  int64_t used; /* bytes handed out */
} oa_bench_arena;

void *oa_bench_arena_alloc(oa_bench_arena *a, size_t n);
/* Forgets every allocation but keeps the chunks for reuse. */
void oa_bench_arena_clear(oa_bench_arena *a);
void oa_bench_arena_free(oa_bench_arena *a);

typedef struct oa_bench_records {
  oa_span *spans;
  int64_t n, cap;
  oa_bench_resource **res;
  int64_t n_res, cap_res;
  oa_bench_scope **scopes;
  int64_t n_scopes, cap_scopes;
  oa_bench_arena arena; /* strings, attributes, events, links */
} oa_bench_records;

void oa_bench_records_init(oa_bench_records *r);
void oa_bench_records_free(oa_bench_records *r);
/* Appends the spans of an OTLP ExportTraceServiceRequest (protobuf). */
int oa_bench_records_add_otlp(oa_bench_records *r, const uint8_t *data,
                              int64_t size, oa_error *err);
/* Bytes the records hold: span structs, arena, resources and scopes. */
int64_t oa_bench_records_bytes(const oa_bench_records *r);

/* protobuf-c baseline: records [from, from + n) -> message tree (in arena)
 * -> packed bytes appended to out. */
int oa_bench_pbc_pack(const oa_bench_records *r, int64_t from, int64_t n,
                      oa_bench_arena *arena, oa_bytes *out, oa_error *err);
/* protobuf-c unpack of a request; *spans counts its spans and *alloc_bytes
 * the bytes protobuf-c asked its allocator for (either may be NULL). With
 * keep, the message is handed out in *keep (free with oa_bench_pbc_free)
 * instead of freed. */
int oa_bench_pbc_unpack(const uint8_t *data, int64_t size, int64_t *spans,
                        int64_t *alloc_bytes, void **keep, oa_error *err);
void oa_bench_pbc_free(void *msg);
/* Versions for the JSON machine description. */
const char *oa_bench_pbc_version(void);
bool oa_bench_have_pbc(void);

/* ------------------------------------------------------------ measuring */

double oa_bench_now(void); /* monotonic seconds */
/* Median of v[0..n) (v is not changed); min and max. */
void oa_bench_stats(const double *v, int n, double *median, double *min,
                    double *max);
/* Resident set (VmRSS) and its high-water mark (VmHWM) of this process in
 * bytes; -1 when /proc is not readable. */
int64_t oa_bench_vm_kb(const char *key);
/* Bytes of the distinct buffers of a batch (dictionaries included). */
int64_t oa_bench_batch_bytes(const oa_batch *b);

/* A loopback `otlparrow serve` child process (OTLP/gRPC and Flight on free
 * ports). */
typedef struct oa_bench_server {
  pid_t pid;
  int otlp_port, flight_port;
} oa_bench_server;

int oa_bench_server_start(oa_bench_server *s, const char *exe, oa_error *err);
void oa_bench_server_stop(oa_bench_server *s);
/* Drops a dataset of the server (best effort). */
void oa_bench_server_drop(const oa_bench_server *s, const char *dataset);

/* One `otlparrow loadgen --json` run against the server: its figures. */
typedef struct oa_bench_load {
  double requests_per_s, spans_per_s, mb_per_s, requests, bytes, errors;
  double latency_p50_ms, latency_p99_ms;
  double server_cpu_s_per_million_spans, spans_per_s_per_server_core;
} oa_bench_load;

int oa_bench_loadgen(const char *exe, const oa_bench_server *s,
                     const char *args, oa_bench_load *out, oa_error *err);

#endif
