/* otlparrow: SQL over Arrow record batches.
 *
 * The engine reads tables through a resolver callback (the CLI resolves
 * names to the store's datasets, tests to in-memory batches), so it depends
 * on no storage. Execution is vectorized over Arrow arrays; large scans use
 * up to `threads` threads.
 *
 * Errors: EINVAL for SQL that cannot be parsed or bound, with a message
 * "SQL error at LINE:COLUMN: what" naming the problem; ENOENT when a table
 * does not exist ("no table 'x'"); E2BIG when a limit is exceeded.
 */
#ifndef OTLPARROW_QUERY_H
#define OTLPARROW_QUERY_H

#include "otlparrow/arrow.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel paths of the SIMD kernels (trace-id filter). AUTO picks the best
 * one the CPU has; the others force a path (tests run each one the machine
 * has; forcing one the CPU lacks is ENOTSUP). */
typedef enum oa_simd_level {
  OA_SIMD_AUTO = 0,
  OA_SIMD_SCALAR = 1,
  OA_SIMD_SSE2 = 2,
  OA_SIMD_AVX2 = 3,
  OA_SIMD_AVX512 = 4
} oa_simd_level;

/* The best level this CPU supports, and a level's name ("avx2"). */
oa_simd_level oa_simd_detect(void);
const char *oa_simd_name(oa_simd_level level);

/* What the engine can tell the resolver about a scan, so that a store can
 * skip segments (bloom filters over trace ids, time ranges). A hint only
 * narrows: the engine still applies the full predicate to what it gets. */
typedef struct oa_query_scan_hint {
  const uint8_t *trace_ids; /* n_trace_ids x 16 bytes; NULL: any */
  int64_t n_trace_ids;
  int64_t min_start_time, max_start_time; /* ns, inclusive; INT64_MIN/MAX */
} oa_query_scan_hint;

/* A resolved table: a schema and batches the engine borrows until it calls
 * release (always called once, also after errors). */
typedef struct oa_query_table {
  oa_schema *schema;
  const oa_batch *batches;
  int64_t n_batches;
  void (*release)(struct oa_query_table *t);
  void *private_data;
} oa_query_table;

/* Resolves a table name (as written in the SQL, case preserved). ENOENT with
 * a message when there is no such table. */
typedef int (*oa_query_resolve_fn)(void *ctx, const char *name,
                                   const oa_query_scan_hint *hint,
                                   oa_query_table *out, oa_error *err);

/* Memory kept between queries by a long-lived caller (a server, a repeated
 * query): the big blocks a query frees (group tables, aggregate arrays,
 * arenas, sort keys) go back to the cache, and the next query takes them
 * instead of fresh pages from the kernel, whose clearing was a fifth of a
 * warm 100K-group GROUP BY. It holds at most max_bytes; what a query takes
 * from it is still charged to that query's max_memory. Thread-safe: queries
 * may share one cache concurrently. Caller-owned: free it after the last
 * query that uses it has returned. */
typedef struct oa_query_cache oa_query_cache;

/* max_bytes <= 0: 256 MB. ENOMEM when the cache cannot be allocated. */
int oa_query_cache_new(int64_t max_bytes, oa_query_cache **out, oa_error *err);
/* Returns every held block to the system; NULL is a no-op. */
void oa_query_cache_free(oa_query_cache *c);

typedef struct oa_query_cache_stats {
  int64_t bytes;  /* held now */
  int64_t blocks; /* held now */
  int64_t hits;   /* allocations served from the cache */
  int64_t misses; /* big allocations that had to get fresh memory */
} oa_query_cache_stats;

void oa_query_cache_get_stats(oa_query_cache *c, oa_query_cache_stats *out);

typedef struct oa_query_options {
  oa_query_resolve_fn resolve;
  void *resolve_ctx;
  int threads;             /* 0: the number of online CPUs */
  int64_t now_ns;          /* value of now(); 0: the real-time clock */
  int64_t max_result_rows; /* E2BIG beyond it; default 100M */
  oa_simd_level simd;      /* default AUTO */
  /* Bytes the query may hold in its big structures: the GROUP BY table and
   * accumulators, COUNT(DISTINCT) sets, quantile buffers, collected rows,
   * sort keys and the result. Past it the query fails with E2BIG naming
   * what ran out. 0 (the default): no limit. */
  int64_t max_memory;
  /* How the caller's users set max_memory ("--max-memory"), named in that
   * message; NULL: "max_memory". */
  const char *memory_limit_hint;
  /* Borrowed; NULL (the default): every query gets fresh memory and
   * returns it to the system. */
  oa_query_cache *cache;
} oa_query_options;

void oa_query_options_init(oa_query_options *o);

typedef struct oa_query_stats {
  int64_t rows_scanned;
  int64_t batches_scanned;
  int64_t elapsed_ns;
  const char *filter_kernel; /* kernel path of the trace-id filter, or "" */
  int64_t peak_memory;       /* bytes counted against max_memory at the peak */
} oa_query_stats;

typedef struct oa_query_result {
  oa_schema *schema; /* owned */
  oa_batch *batches; /* owned, n_batches of them */
  int64_t n_batches;
  int64_t n_rows;
  oa_query_stats stats;
} oa_query_result;

void oa_query_result_init(oa_query_result *r);
void oa_query_result_reset(oa_query_result *r);

/* Parses, plans and runs one SELECT statement. */
int oa_query_run(const char *sql, const oa_query_options *o,
                 oa_query_result *out, oa_error *err);

/* Only parses and binds nothing: EINVAL with the position for bad SQL. For
 * the fuzzer and for tools that validate before sending. */
int oa_query_check_syntax(const char *sql, size_t len, oa_error *err);

#ifdef __cplusplus
}
#endif

#endif
