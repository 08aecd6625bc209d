/* The reusable query cache (oa_query_options.cache): queries that take
 * their memory from blocks earlier queries left behind give the same rows
 * as queries on fresh memory, in any order, from concurrent threads; the
 * cache stays within its bound and the memory budget is still enforced. */
#include <pthread.h>

#include "qtest.h"
#include "test.h"

static oa_error err_s;
static oa_error *err = &err_s;

#define ROWS 150000
#define GROUPS 30011 /* distinct ids: arrays of 32K+ groups, past 1 MB */

static int cache_row(oa_builder *b, const oa_field *f, int64_t r) {
  if (!strcmp(f->name, "k")) return oa_builder_append_int(b, r % 997);
  if (!strcmp(f->name, "tid")) {
    if (r % 7001 == 3) return oa_builder_append_null(b);
    uint8_t id[16];
    qt_group_id((uint64_t)(r % GROUPS), id);
    return oa_builder_append_bytes(b, id, 16);
  }
  if (!strcmp(f->name, "v"))
    return oa_builder_append_double(b, (double)((r * 7919) % 100003) / 4);
  static const char *const words[] = {"red", "green", "blue"};
  return oa_builder_append_cstr(b, words[r % 3]);
}

static void make_table(qt_table *t) {
  oa_schema *s = qt_ktvs_schema();
  memset(t, 0, sizeof *t);
  t->name = "t";
  t->schema = s;
  t->batches = calloc(1, sizeof(oa_batch));
  oa_batch_init(&t->batches[0]);
  CHECK_OK(tbuild_batch(s, ROWS, cache_row, &t->batches[0], err), err);
  t->n_batches = 1;
}

/* Different shapes, so that each run finds blocks of other queries'
 * sizes and contents in the cache. */
static const char *const kQueries[] = {
    "SELECT tid, count(*) AS n, avg(v), max(v), min(v) FROM t GROUP BY tid "
    "ORDER BY n DESC, tid LIMIT 50",
    "SELECT tid, sum(k), max(s) FROM t GROUP BY tid ORDER BY tid LIMIT 40",
    "SELECT k, count(*), min(tid) FROM t GROUP BY k ORDER BY k",
    "SELECT tid, k, v FROM t ORDER BY tid, k, v LIMIT 30 OFFSET 1000",
    "SELECT v, k FROM t ORDER BY v DESC, k LIMIT 20",
    "SELECT s, count(DISTINCT tid), quantile(v, 0.5) FROM t GROUP BY s "
    "ORDER BY s",
    "SELECT count(*), count(DISTINCT k) FROM t WHERE k < 500",
    /* nulls whose values are whatever the reused memory held */
    "SELECT count(*), max(CASE WHEN k % 2 = 0 THEN s END) FROM t WHERE "
    "(CASE WHEN k % 3 = 0 THEN NULL ELSE s END) = 'red' OR "
    "lower(CASE WHEN k % 5 = 0 THEN NULL ELSE s END) LIKE 'g%'",
    "SELECT CASE WHEN k % 4 = 0 THEN NULL ELSE s END AS x, count(*) FROM t "
    "GROUP BY x ORDER BY x"};
#define NQ (sizeof kQueries / sizeof kQueries[0])

static char *run_text(qt_table *t, const char *sql, int threads,
                      oa_query_cache *cache, int64_t max_memory) {
  qt_db db = {t, 1};
  oa_query_options o;
  oa_query_options_init(&o);
  o.resolve = qt_resolve;
  o.resolve_ctx = &db;
  o.threads = threads;
  o.cache = cache;
  o.max_memory = max_memory;
  oa_query_result r;
  oa_error e;
  if (oa_query_run(sql, &o, &r, &e)) {
    fprintf(stderr, "query failed: %s\n  %s\n", e.message, sql);
    return NULL;
  }
  char *text = qt_text(&r);
  oa_query_result_reset(&r);
  return text;
}

static void check_same(const char *want, char *got, const char *sql) {
  CHECK(got != NULL);
  if (got && strcmp(want, got)) {
    fprintf(stderr, "with the cache the rows differ: %s\n", sql);
    oa_test_current_failed_ = 1;
  }
  free(got);
}

OA_TEST(cached_runs_equal_fresh_runs) {
  qt_table t;
  make_table(&t);
  char *want[NQ];
  for (size_t q = 0; q < NQ; q++) {
    want[q] = run_text(&t, kQueries[q], 1, NULL, 0);
    CHECK(want[q] && strlen(want[q]) > 0);
  }
  /* known values, so that the reference is not just another run */
  CHECK_EQ_STR(want[6], "75450|500\n");
  oa_query_cache *c = NULL;
  CHECK_OK(oa_query_cache_new(0, &c, err), err);
  /* forwards, backwards and again, on 1 and 2 threads */
  for (int round = 0; round < 3; round++)
    for (int threads = 1; threads <= 2; threads++)
      for (size_t i = 0; i < NQ; i++) {
        size_t q = round == 1 ? NQ - 1 - i : i;
        check_same(want[q], run_text(&t, kQueries[q], threads, c, 0),
                   kQueries[q]);
      }
  oa_query_cache_stats st;
  oa_query_cache_get_stats(c, &st);
  CHECK(st.hits > 0);
  CHECK(st.blocks > 0 && st.bytes > 0);
  CHECK(st.bytes <= (int64_t)256 << 20);
  oa_query_cache_free(c);
  for (size_t q = 0; q < NQ; q++)
    free(want[q]);
  qt_table_free(&t);
}

OA_TEST(cache_stays_within_its_bound) {
  qt_table t;
  make_table(&t);
  char *want = run_text(&t, kQueries[0], 2, NULL, 0);
  oa_query_cache *c = NULL;
  CHECK_OK(oa_query_cache_new(3 << 20, &c, err), err);
  for (int k = 0; k < 3; k++)
    for (size_t q = 0; q < NQ; q++) {
      free(run_text(&t, kQueries[q], 2, c, 0));
      oa_query_cache_stats st;
      oa_query_cache_get_stats(c, &st);
      CHECK(st.bytes <= 3 << 20);
    }
  check_same(want, run_text(&t, kQueries[0], 2, c, 0), kQueries[0]);
  free(want);
  oa_query_cache_free(c);
  qt_table_free(&t);
}

OA_TEST(budget_still_enforced_with_cache) {
  qt_table t;
  make_table(&t);
  const char *sql = kQueries[0];
  char *want = run_text(&t, sql, 2, NULL, 0);
  oa_query_cache *c = NULL;
  CHECK_OK(oa_query_cache_new(0, &c, err), err);
  /* a warm cache holds more than the small budget below */
  check_same(want, run_text(&t, sql, 2, c, 0), sql);
  oa_query_cache_stats st;
  oa_query_cache_get_stats(c, &st);
  CHECK(st.bytes > 1 << 20);
  for (int threads = 1; threads <= 2; threads++) {
    qt_db db = {&t, 1};
    oa_query_options o;
    oa_query_options_init(&o);
    o.resolve = qt_resolve;
    o.resolve_ctx = &db;
    o.threads = threads;
    o.cache = c;
    o.max_memory = 1 << 20;
    oa_query_result r;
    CHECK_FAILS(oa_query_run(sql, &o, &r, err), E2BIG, err,
                "GROUP BY needs more than 1 MiB");
    CHECK_FAILS(
        oa_query_run("SELECT tid, k, v FROM t ORDER BY tid, k, v", &o, &r, err),
        E2BIG, err, "ORDER BY needs more than 1 MiB");
    /* what the failed queries gave back is sound for the next one */
    check_same(want, run_text(&t, sql, threads, c, 0), sql);
    /* the peak counts what a query uses, cached or not */
    o.max_memory = 0;
    oa_query_result a, b;
    CHECK_OK(oa_query_run(sql, &o, &a, err), err);
    o.cache = NULL;
    CHECK_OK(oa_query_run(sql, &o, &b, err), err);
    CHECK_EQ_INT(a.stats.peak_memory, b.stats.peak_memory);
    oa_query_result_reset(&a);
    oa_query_result_reset(&b);
  }
  free(want);
  oa_query_cache_free(c);
  qt_table_free(&t);
}

typedef struct conc_arg {
  qt_table *t;
  oa_query_cache *c;
  char **want;
  int offset;
  int bad;
} conc_arg;

static void *conc_run(void *p) {
  conc_arg *a = p;
  for (int k = 0; k < 2 * (int)NQ; k++) {
    size_t q = (size_t)(k + a->offset) % NQ;
    char *got = run_text(a->t, kQueries[q], 1 + k % 2, a->c, 0);
    if (!got || strcmp(got, a->want[q])) a->bad++;
    free(got);
  }
  return NULL;
}

OA_TEST(concurrent_queries_share_a_cache) {
  qt_table t;
  make_table(&t);
  char *want[NQ];
  for (size_t q = 0; q < NQ; q++)
    want[q] = run_text(&t, kQueries[q], 1, NULL, 0);
  oa_query_cache *c = NULL;
  CHECK_OK(oa_query_cache_new(64 << 20, &c, err), err);
  conc_arg args[3];
  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    args[i] = (conc_arg){&t, c, want, i * 2, 0};
    CHECK(pthread_create(&th[i], NULL, conc_run, &args[i]) == 0);
  }
  for (int i = 0; i < 3; i++) {
    pthread_join(th[i], NULL);
    CHECK_EQ_INT(args[i].bad, 0);
  }
  oa_query_cache_stats st;
  oa_query_cache_get_stats(c, &st);
  CHECK(st.hits > 0);
  CHECK(st.bytes <= 64 << 20);
  oa_query_cache_free(c);
  for (size_t q = 0; q < NQ; q++)
    free(want[q]);
  qt_table_free(&t);
}

OA_TEST(cache_api_edges) {
  CHECK_FAILS(oa_query_cache_new(0, NULL, err), EINVAL, err, "NULL out");
  oa_query_cache_free(NULL);
  oa_query_cache_stats st;
  oa_query_cache_get_stats(NULL, &st);
  CHECK_EQ_INT(st.bytes, 0);
  oa_query_cache *c = NULL;
  CHECK_OK(oa_query_cache_new(-5, &c, err), err);
  oa_query_cache_get_stats(c, &st);
  CHECK_EQ_INT(st.bytes, 0);
  CHECK_EQ_INT(st.hits + st.misses, 0);
  oa_query_cache_free(c);
}

OA_TEST_MAIN(OA_T(cached_runs_equal_fresh_runs),
             OA_T(cache_stays_within_its_bound),
             OA_T(budget_still_enforced_with_cache),
             OA_T(concurrent_queries_share_a_cache), OA_T(cache_api_edges))
