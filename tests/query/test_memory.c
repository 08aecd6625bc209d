/* The query memory budget (oa_query_options.max_memory) and multi-batch
 * input: a table cut into many batches must give what one batch gives, and
 * a query over its budget fails with E2BIG naming what ran out. */
#include "qtest.h"
#include "test.h"

static oa_error err_s;
static oa_error *err = &err_s;

#define ROWS 200000
#define GROUPS 20011 /* distinct trace ids */

static void tid_of(int64_t r, uint8_t id[16]) {
  qt_group_id((uint64_t)(r % GROUPS), id);
}

static bool g_tid_nulls = true;

/* k: r % 1000; tid: one of GROUPS ids, with g_tid_nulls NULL every 5000th
 * row below 50000; v: a double; s: a word. Without nulls GROUP BY tid reads
 * the ids in place, with them through a key vector: both are compared. */
static int mem_row(oa_builder *b, const oa_field *f, int64_t r) {
  if (!strcmp(f->name, "k")) return oa_builder_append_int(b, r % 1000);
  if (!strcmp(f->name, "tid")) {
    if (g_tid_nulls && r < 50000 && r % 5000 == 7)
      return oa_builder_append_null(b);
    uint8_t id[16];
    tid_of(r, id);
    return oa_builder_append_bytes(b, id, 16);
  }
  if (!strcmp(f->name, "v"))
    return oa_builder_append_double(b, (double)((r * 7919) % 100003) / 8);
  static const char *const words[] = {"alpha", "beta", "gamma", "delta"};
  return oa_builder_append_cstr(b, words[r % 4]);
}

/* The same rows as one batch (one) and as 13 uneven slices (many). */
static void make_tables(qt_table *one, qt_table *many) {
  oa_schema *s = qt_ktvs_schema();
  oa_batch whole;
  oa_batch_init(&whole);
  CHECK_OK(tbuild_batch(s, ROWS, mem_row, &whole, err), err);
  memset(one, 0, sizeof *one);
  memset(many, 0, sizeof *many);
  one->name = many->name = "t";
  one->schema = s;
  many->schema = s;
  oa_schema_retain(s);
  one->batches = calloc(1, sizeof(oa_batch));
  oa_batch_init(&one->batches[0]);
  oa_batch_slice(&one->batches[0], &whole, 0, ROWS, NULL);
  one->n_batches = 1;
  many->batches = calloc(13, sizeof(oa_batch));
  int64_t at = 0;
  for (int i = 0; i < 13; i++) {
    int64_t len = i == 12 ? ROWS - at : 1000 + (int64_t)i * 2500;
    oa_batch_init(&many->batches[i]);
    oa_batch_slice(&many->batches[i], &whole, at, len, NULL);
    at += len;
  }
  many->n_batches = 13;
  oa_batch_reset(&whole);
}

static char *run_text(qt_table *t, const char *sql, int threads,
                      int64_t max_memory, oa_query_result *keep) {
  qt_db db = {t, 1};
  oa_query_options o;
  oa_query_options_init(&o);
  o.resolve = qt_resolve;
  o.resolve_ctx = &db;
  o.threads = threads;
  o.max_memory = max_memory;
  oa_query_result r;
  int rc = oa_query_run(sql, &o, &r, err);
  if (rc) {
    fprintf(stderr, "query failed (%d): %s\n  %s\n", rc, err->message, sql);
    return NULL;
  }
  char *text = qt_text(&r);
  if (keep)
    *keep = r;
  else
    oa_query_result_reset(&r);
  return text;
}

static const char *const kQueries[] = {
    "SELECT tid, count(*) AS n, avg(v), max(v), min(v) FROM t GROUP BY tid "
    "ORDER BY n DESC, tid LIMIT 100",
    "SELECT tid, count(*) AS n, max(k) FROM t GROUP BY tid ORDER BY tid",
    "SELECT tid, k, v FROM t ORDER BY tid, k, v",
    "SELECT k, v FROM t WHERE tid = X'010000000000000092fd5966b8fee8d6'",
    "SELECT s, count(DISTINCT tid), quantile(v, 0.5) FROM t GROUP BY s "
    "ORDER BY s",
    "SELECT k, s FROM t WHERE k < 2"};

OA_TEST(many_batches_equal_one) {
  qt_table one, many;
  g_tid_nulls = false;
  make_tables(&one, &many);
  g_tid_nulls = true;
  for (int pass = 0; pass < 2; pass++) {
    if (pass) {
      qt_table_free(&one);
      qt_table_free(&many);
      make_tables(&one, &many);
    }
    for (size_t q = 0; q < sizeof kQueries / sizeof kQueries[0]; q++)
      for (int threads = 1; threads <= 2; threads++) {
        char *a = run_text(&one, kQueries[q], threads, 0, NULL);
        char *b = run_text(&many, kQueries[q], threads, 0, NULL);
        CHECK(a && b && strlen(a) > 0);
        if (a && b && strcmp(a, b)) {
          fprintf(stderr, "13 batches differ from one (%d threads): %s\n",
                  threads, kQueries[q]);
          oa_test_current_failed_ = 1;
        }
        free(a);
        free(b);
      }
  }
  /* known values: GROUPS ids (NULL is a group of its own), ROWS rows; the
   * id of row 0 has ceil(ROWS / GROUPS) rows, minus the nulls among them */
  char *t = run_text(&many, "SELECT count(DISTINCT tid), count(*) FROM t", 2, 0,
                     NULL);
  CHECK_EQ_STR(t, "20011|200000\n");
  free(t);
  t = run_text(&many,
               "SELECT tid, count(*) AS n FROM t GROUP BY tid ORDER BY n "
               "DESC, tid LIMIT 1",
               2, 0, NULL);
  /* rows r with r % GROUPS == g: 10 for g < ROWS % GROUPS (= 19901), 9 else;
   * the nulls (r % 5000 == 7, r < 50000) take rows 7, 5007, ... away from
   * their ids, so the largest groups are the 10-row ids without such a row */
  CHECK(t && strstr(t, "|10\n") != NULL);
  free(t);
  qt_table_free(&one);
  qt_table_free(&many);
}

static void check_over(qt_table *t, const char *sql, int threads, int64_t limit,
                       const char *hint, const char *want1, const char *want2) {
  qt_db db = {t, 1};
  oa_query_options o;
  oa_query_options_init(&o);
  o.resolve = qt_resolve;
  o.resolve_ctx = &db;
  o.threads = threads;
  o.max_memory = limit;
  o.memory_limit_hint = hint;
  oa_query_result r;
  int before = t->released;
  CHECK_FAILS(oa_query_run(sql, &o, &r, err), E2BIG, err, want1);
  if (want2 && !strstr(err->message, want2)) {
    fprintf(stderr, "message lacks '%s': %s\n", want2, err->message);
    oa_test_current_failed_ = 1;
  }
  if (!strstr(err->message, hint ? hint : "max_memory")) {
    fprintf(stderr, "message does not name the limit: %s\n", err->message);
    oa_test_current_failed_ = 1;
  }
  CHECK_EQ_INT(r.n_batches, 0);
  CHECK(r.batches == NULL && r.schema == NULL);
  CHECK_EQ_INT(t->released, before + 1);
}

OA_TEST(over_budget_fails_with_e2big) {
  qt_table one, many;
  make_tables(&one, &many);
  for (int threads = 1; threads <= 2; threads++) {
    check_over(&many,
               "SELECT tid, count(*) AS n, avg(v), max(v), min(v) FROM t "
               "GROUP BY tid ORDER BY n DESC LIMIT 100",
               threads, 1 << 20, NULL, "GROUP BY needs more than 1 MiB for ",
               "groups so far");
    check_over(&many, "SELECT k, count(*) FROM t GROUP BY k, v", threads,
               1 << 20, "--max-memory", "GROUP BY needs more than 1 MiB",
               "add a WHERE");
    check_over(&many, "SELECT tid, k, v FROM t ORDER BY tid, k, v", threads,
               2 << 20, "--max-query-memory",
               "ORDER BY needs more than 2 MiB for 200K rows",
               "add a WHERE or a LIMIT");
    /* nulls in tid: the general sort path */
    check_over(&many, "SELECT v FROM t ORDER BY v DESC", threads, 1 << 20, NULL,
               "ORDER BY needs more than 1 MiB", NULL);
    check_over(&many, "SELECT k, s, v FROM t", threads, 1 << 20, NULL,
               "the result needs more than 1 MiB", "rows");
    check_over(&many, "SELECT count(DISTINCT v) FROM t", threads, 1 << 20, NULL,
               "COUNT(DISTINCT) needs more than 1 MiB",
               "distinct values so far");
    check_over(&many, "SELECT s, quantile(v, 0.9) FROM t GROUP BY s", threads,
               1 << 20, NULL, "quantile needs more than 1 MiB", "values");
  }
  qt_table_free(&one);
  qt_table_free(&many);
}

OA_TEST(under_budget_same_rows) {
  qt_table one, many;
  make_tables(&one, &many);
  for (size_t q = 0; q < sizeof kQueries / sizeof kQueries[0]; q++)
    for (int threads = 1; threads <= 2; threads++) {
      oa_query_result r;
      char *a = run_text(&many, kQueries[q], threads, 0, NULL);
      char *b = run_text(&many, kQueries[q], threads, 256 << 20, &r);
      CHECK(a && b);
      if (a && b && strcmp(a, b)) {
        fprintf(stderr, "a budget changed the rows of %s\n", kQueries[q]);
        oa_test_current_failed_ = 1;
      }
      /* what the budget counted: some, and within it */
      if (b) {
        CHECK(r.stats.peak_memory > 0);
        CHECK(r.stats.peak_memory <= 256 << 20);
        oa_query_result_reset(&r);
      }
      free(a);
      free(b);
    }
  /* small queries fit a small budget: a GROUP BY of 4 groups over 200K rows
   * does not size its table for the rows */
  char *t = run_text(&many, "SELECT s, count(*) FROM t GROUP BY s ORDER BY s",
                     2, 1 << 20, NULL);
  CHECK_EQ_STR(t, "alpha|50000\nbeta|50000\ndelta|50000\ngamma|50000\n");
  free(t);
  t = run_text(&many, "SELECT k, count(*) FROM t GROUP BY k ORDER BY k LIMIT 2",
               1, 1 << 20, NULL);
  CHECK_EQ_STR(t, "0|200\n1|200\n");
  free(t);
  qt_table_free(&one);
  qt_table_free(&many);
}

OA_TEST_MAIN(OA_T(many_batches_equal_one), OA_T(over_budget_fails_with_e2big),
             OA_T(under_budget_same_rows))
