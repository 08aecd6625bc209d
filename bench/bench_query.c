/* Query engine benchmark: the field's three standard cases on generated
 * spans (see docs/benchmarks.md, "Query engine"), each next to a naive
 * baseline computed in the same run:
 * - GROUP BY trace_id with COUNT/AVG/MAX/MIN ORDER BY count DESC LIMIT 100
 *   (baseline: qsort of (trace_id, row) and a walk over the runs);
 * - ORDER BY trace_id, start_time, span_id over every row (baseline: qsort
 *   with a comparison function);
 * - WHERE trace_id = X (baseline: a memcmp loop), on every SIMD path.
 * Figures are wall-clock medians of R repeats.
 *
 * Usage: bench_query [SPANS (default 1000000)] [REPEATS (5)] [THREADS (0)]
 * Environment: BENCH_ONLY=group|sort|filter runs one case; BENCH_TRACE_SPANS
 * caps a generated trace (default 14: about 100K traces per 1M spans);
 * BENCH_INPUT=FILE.arrow queries the batches of an Arrow IPC file, mapped as
 * `otlparrow query --input` maps it (SPANS is then ignored), e.g. the file of
 * `otlparrow gen --spans 1000000 --seed 1 --max-trace-spans 14 --batch 65536
 * -o FILE.arrow` that bench_query_duckdb.mjs uses. Queries share an
 * oa_query_cache, as in a server; BENCH_NO_CACHE=1 runs them without. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlparrow/ipc.h"
#include "otlparrow/otlp.h"
#include "otlparrow/query.h"

#define BENCH_NAME "bench_query"
#include "bench_util.h"

static oa_error err;
static double g_cpu; /* process CPU seconds of the last query */
/* kept between the runs, as a server keeps it (BENCH_NO_CACHE=1: none) */
static oa_query_cache *g_cache;

typedef struct table {
  oa_schema *schema;
  oa_batch *batches;
  int64_t n_batches, n_rows;
  oa_ipc_file_reader *file; /* BENCH_INPUT: the batches reference its map */
} table;

static void no_release(oa_query_table *t) { (void)t; }

static int resolve(void *ctx, const char *name, const oa_query_scan_hint *hint,
                   oa_query_table *out, oa_error *e) {
  (void)hint;
  table *t = ctx;
  if (strcmp(name, "spans"))
    return oa_error_set(e, ENOENT, "no table '%s'", name);
  out->schema = t->schema;
  out->batches = t->batches;
  out->n_batches = t->n_batches;
  out->release = no_release;
  return 0;
}

static void gen(int64_t n, table *t) {
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = n;
  /* The generator's default trace sizes give 70K traces per 1M spans; the
   * field's case is 100K groups. Capping a trace at 14 spans gives 99,962
   * traces (BENCH_TRACE_SPANS overrides the cap). */
  const char *cap = getenv("BENCH_TRACE_SPANS");
  go.max_trace_spans = cap ? atoi(cap) : 14;
  oa_trace_gen g;
  CHECK(oa_trace_gen_init(&g, &go, &err));
  oa_bytes req;
  oa_bytes_init(&req);
  memset(t, 0, sizeof *t);
  for (;;) {
    int64_t got;
    CHECK(oa_trace_gen_next_request(&g, 65536, &req, &got, &err));
    if (!got) break;
    oa_otlp_options oo;
    oa_otlp_options_default(&oo);
    oa_otlp_result res;
    t->batches =
        realloc(t->batches, sizeof(oa_batch) * (size_t)(t->n_batches + 1));
    oa_batch_init(&t->batches[t->n_batches]);
    CHECK(oa_otlp_decode_traces(req.data, req.size, &oo,
                                &t->batches[t->n_batches], &res, &err));
    t->n_rows += t->batches[t->n_batches].length;
    t->n_batches++;
  }
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  t->schema = t->batches[0].schema;
}

static void load_file(const char *path, table *t) {
  memset(t, 0, sizeof *t);
  oa_ipc_read_options ro;
  oa_ipc_read_options_init(&ro);
  CHECK(oa_ipc_file_reader_open(&t->file, path, &ro, &err));
  t->n_batches = oa_ipc_file_reader_n_batches(t->file);
  t->batches =
      calloc((size_t)(t->n_batches ? t->n_batches : 1), sizeof(oa_batch));
  for (int64_t i = 0; i < t->n_batches; i++) {
    oa_batch_init(&t->batches[i]);
    CHECK(oa_ipc_file_reader_read(t->file, i, &t->batches[i], &err));
    t->n_rows += t->batches[i].length;
  }
  t->schema = oa_ipc_file_reader_schema(t->file);
}

static double run_query(table *t, const char *sql, int threads,
                        oa_simd_level simd, int64_t *rows,
                        const char **kernel) {
  oa_query_options o;
  oa_query_options_init(&o);
  o.resolve = resolve;
  o.resolve_ctx = t;
  o.threads = threads;
  o.simd = simd;
  o.cache = g_cache;
  oa_query_result r;
  double t0 = bench_wall_s(), c0 = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  CHECK(oa_query_run(sql, &o, &r, &err));
  double dt = bench_wall_s() - t0;
  g_cpu = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
  *rows = r.n_rows;
  if (kernel) *kernel = r.stats.filter_kernel;
  oa_query_result_reset(&r);
  return dt;
}

static double median_query(table *t, const char *sql, int reps, int threads,
                           oa_simd_level simd, int64_t *rows,
                           const char **kernel) {
  double v[64];
  for (int i = 0; i < reps; i++)
    v[i] = run_query(t, sql, threads, simd, rows, kernel);
  return bench_median(v, reps);
}

/* ---- naive baselines */

typedef struct idrow {
  uint8_t id[16];
  int64_t a, b; /* duration / start_time */
  uint8_t sid[8];
} idrow;

static idrow *rows_of(table *t) {
  idrow *v = malloc(sizeof(idrow) * (size_t)t->n_rows);
  int64_t k = 0;
  for (int64_t bi = 0; bi < t->n_batches; bi++) {
    const oa_batch *b = &t->batches[bi];
    const oa_field *f = b->schema->fields;
    for (int64_t i = 0; i < b->length; i++, k++) {
      int64_t len;
      memcpy(v[k].id,
             oa_array_get_bytes(&f[OA_SPAN_TRACE_ID],
                                &b->columns[OA_SPAN_TRACE_ID], i, &len),
             16);
      memcpy(v[k].sid,
             oa_array_get_bytes(&f[OA_SPAN_SPAN_ID],
                                &b->columns[OA_SPAN_SPAN_ID], i, &len),
             8);
      v[k].a = oa_array_get_int(&f[OA_SPAN_DURATION],
                                &b->columns[OA_SPAN_DURATION], i);
      v[k].b = oa_array_get_int(&f[OA_SPAN_START_TIME],
                                &b->columns[OA_SPAN_START_TIME], i);
    }
  }
  return v;
}

static int cmp_id(const void *x, const void *y) { return memcmp(x, y, 16); }
static int cmp_sort(const void *x, const void *y) {
  const idrow *a = x, *b = y;
  int c = memcmp(a->id, b->id, 16);
  if (c) return c;
  if (a->b != b->b) return a->b < b->b ? -1 : 1;
  return memcmp(a->sid, b->sid, 8);
}
typedef struct grp {
  uint8_t id[16];
  int64_t n, mx, mn;
  double sum;
} grp;
static int cmp_grp(const void *x, const void *y) {
  const grp *a = x, *b = y;
  return (a->n < b->n) - (a->n > b->n);
}

static double naive_group(const idrow *src, int64_t n, int64_t *groups) {
  double t0 = bench_wall_s();
  idrow *v = malloc(sizeof(idrow) * (size_t)n);
  memcpy(v, src, sizeof(idrow) * (size_t)n);
  qsort(v, (size_t)n, sizeof *v, cmp_id);
  grp *g = malloc(sizeof(grp) * (size_t)n);
  int64_t ng = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!i || memcmp(v[i].id, v[i - 1].id, 16)) {
      memcpy(g[ng].id, v[i].id, 16);
      g[ng].n = 0;
      g[ng].sum = 0;
      g[ng].mx = g[ng].mn = v[i].a;
      ng++;
    }
    grp *x = &g[ng - 1];
    x->n++;
    x->sum += (double)v[i].a;
    if (v[i].a > x->mx) x->mx = v[i].a;
    if (v[i].a < x->mn) x->mn = v[i].a;
  }
  qsort(g, (size_t)ng, sizeof *g, cmp_grp);
  double dt = bench_wall_s() - t0;
  *groups = ng;
  free(g);
  free(v);
  return dt;
}

static double naive_sort(const idrow *src, int64_t n) {
  idrow *v = malloc(sizeof(idrow) * (size_t)n);
  memcpy(v, src, sizeof(idrow) * (size_t)n);
  double t0 = bench_wall_s();
  qsort(v, (size_t)n, sizeof *v, cmp_sort);
  double dt = bench_wall_s() - t0;
  free(v);
  return dt;
}

static double naive_filter(table *t, const uint8_t *id, int64_t *hits) {
  double t0 = bench_wall_s();
  int64_t h = 0;
  for (int64_t bi = 0; bi < t->n_batches; bi++) {
    const oa_array *a = &t->batches[bi].columns[OA_SPAN_TRACE_ID];
    /* volatile: keep the compiler from hoisting the loop across repeats */
    const uint8_t *volatile idv = id;
    const uint8_t *p = a->buffers[1].data + a->offset * 16;
    for (int64_t i = 0; i < a->length; i++)
      h += memcmp(p + 16 * i, idv, 16) == 0;
  }
  *hits = h;
  return bench_wall_s() - t0;
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 1000000;
  int reps = argc > 2 ? atoi(argv[2]) : 5;
  int threads = argc > 3 ? atoi(argv[3]) : 0;
  if (reps < 1) reps = 1;
  if (reps > 64) reps = 64;
  table t;
  double g0 = bench_wall_s();
  const char *input = getenv("BENCH_INPUT");
  if (input && *input)
    load_file(input, &t);
  else
    gen(n, &t);
  printf("bench_query: %lld spans in %lld batches (%s in %.2f s), "
         "threads=%d, best SIMD=%s\n",
         (long long)t.n_rows, (long long)t.n_batches,
         t.file ? "mapped from BENCH_INPUT" : "generated", bench_wall_s() - g0,
         threads, oa_simd_name(oa_simd_detect()));
  const char *nocache = getenv("BENCH_NO_CACHE");
  if (!(nocache && *nocache == '1'))
    CHECK(oa_query_cache_new(0, &g_cache, &err));
  idrow *rows = rows_of(&t);
  int64_t r, groups;
  double base[64];

  /* BENCH_ONLY=group|sort|filter runs one case (for profiling) */
  const char *only = getenv("BENCH_ONLY");
  if (only && strcmp(only, "group")) goto sort_case;
  const char *q1 =
      "SELECT trace_id, count(*) AS n, avg(duration), max(duration), "
      "min(duration) FROM spans GROUP BY trace_id ORDER BY n DESC LIMIT 100";
  double e1 = median_query(&t, q1, reps, threads, OA_SIMD_AUTO, &r, NULL);
  for (int i = 0; i < reps && i < 3; i++)
    base[i] = naive_group(rows, t.n_rows, &groups);
  printf("group by trace_id (%lld groups) + top 100: %8.1f ms (cpu %.1f ms)   "
         "naive qsort: %8.1f ms\n",
         (long long)groups, e1 * 1e3, g_cpu * 1e3,
         bench_median(base, reps < 3 ? reps : 3) * 1e3);

sort_case:
  if (only && strcmp(only, "sort")) goto filter_case;
  const char *q2 = "SELECT trace_id, start_time, span_id FROM spans "
                   "ORDER BY trace_id, start_time, span_id";
  double e2 = median_query(&t, q2, reps, threads, OA_SIMD_AUTO, &r, NULL);
  for (int i = 0; i < reps && i < 3; i++)
    base[i] = naive_sort(rows, t.n_rows);
  printf("order by trace_id, start_time, span_id (%lld rows): %8.1f ms (cpu "
         "%.1f ms)   naive qsort: %8.1f ms\n",
         (long long)r, e2 * 1e3, g_cpu * 1e3,
         bench_median(base, reps < 3 ? reps : 3) * 1e3);

filter_case:
  if (only && strcmp(only, "filter")) goto end;
  const uint8_t *id = rows[t.n_rows / 2].id;
  char sql[256], hex[33];
  for (int i = 0; i < 16; i++)
    sprintf(hex + 2 * i, "%02x", id[i]);
  snprintf(sql, sizeof sql,
           "SELECT span_id, name, start_time, duration FROM spans WHERE "
           "trace_id = '%s'",
           hex);
  int64_t hits;
  for (int i = 0; i < reps; i++)
    base[i] = naive_filter(&t, id, &hits);
  double nb = bench_median(base, reps);
  for (int lv = OA_SIMD_SCALAR; lv <= (int)oa_simd_detect(); lv++) {
    const char *k;
    double e3 = median_query(&t, sql, reps, threads, (oa_simd_level)lv, &r, &k);
    printf("where trace_id = X (%lld rows) [%s]: %8.2f ms (cpu %.2f ms)   "
           "naive memcmp loop: %8.2f ms\n",
           (long long)r, k, e3 * 1e3, g_cpu * 1e3, nb * 1e3);
  }
end:
  oa_query_cache_free(g_cache);
  free(rows);
  for (int64_t i = 0; i < t.n_batches; i++)
    oa_batch_reset(&t.batches[i]);
  free(t.batches);
  if (t.file) oa_ipc_file_reader_free(t.file);
  return 0;
}
