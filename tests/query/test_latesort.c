/* The late-materialization ORDER BY path (src/query/latesort.c) against
 * the general path: the same query with a WHERE that keeps every row takes
 * the general path (materialized columns, normalized keys from engine
 * vectors), so both must give the same schema and the same rows in the
 * same order, also on sliced batches, with ties, DESC keys, string
 * outputs, top-k and offsets, on one and on two threads. */
#include "qtest.h"

static oa_error err_s;
static oa_error *err = &err_s;

static qt_table tabs[2]; /* spans, and the same rows in sliced batches */
static qt_db db = {tabs, 2};
static int64_t n_rows;

static void setup(void) {
  if (tabs[0].schema) return;
  tabs[0].name = "spans";
  if (qt_gen_spans(20000, 700, &tabs[0], err)) {
    fprintf(stderr, "gen: %s\n", err->message);
    exit(1);
  }
  for (int64_t b = 0; b < tabs[0].n_batches; b++)
    n_rows += tabs[0].batches[b].length;
  /* batches cut at other places, so every array has an offset */
  qt_table *s = &tabs[1];
  s->name = "sliced";
  s->schema = tabs[0].schema;
  oa_schema_retain(s->schema);
  s->batches = calloc((size_t)tabs[0].n_batches * 2, sizeof(oa_batch));
  for (int64_t b = 0; b < tabs[0].n_batches; b++) {
    const oa_batch *src = &tabs[0].batches[b];
    int64_t cut = src->length / 3;
    oa_batch_init(&s->batches[s->n_batches]);
    if (oa_batch_slice(&s->batches[s->n_batches++], src, 0, cut, err) ||
        (oa_batch_init(&s->batches[s->n_batches]),
         oa_batch_slice(&s->batches[s->n_batches++], src, cut,
                        src->length - cut, err))) {
      fprintf(stderr, "slice: %s\n", err->message);
      exit(1);
    }
  }
}

static int run(const char *sql, int threads, oa_query_result *r) {
  oa_query_options o;
  oa_query_options_init(&o);
  o.resolve = qt_resolve;
  o.resolve_ctx = &db;
  o.threads = threads;
  return oa_query_run(sql, &o, r, err);
}

/* Runs "SELECT <sel> FROM <table> <tail>" on the fast path and with a
 * WHERE that keeps every row on the general path; both must agree. */
static void same(const char *sel, const char *table, const char *tail,
                 int threads, int64_t want_rows) {
  char fast[512], slow[512];
  snprintf(fast, sizeof fast, "SELECT %s FROM %s %s", sel, table, tail);
  snprintf(slow, sizeof slow, "SELECT %s FROM %s WHERE span_id IS NOT NULL %s",
           sel, table, tail);
  oa_query_result a, b;
  CHECK_OK(run(fast, threads, &a), err);
  CHECK_OK(run(slow, 1, &b), err);
  if (oa_test_current_failed_) return;
  CHECK_EQ_INT(a.n_rows, want_rows);
  CHECK_EQ_INT(a.n_rows, b.n_rows);
  CHECK_EQ_INT(a.stats.rows_scanned, b.stats.rows_scanned);
  CHECK(oa_schema_equals(a.schema, b.schema, true, err));
  char *ta = qt_text(&a), *tb = qt_text(&b);
  if (strcmp(ta, tb)) {
    fprintf(stderr, "differs: %s\n", fast);
    oa_test_current_failed_ = 1;
  }
  free(ta);
  free(tb);
  oa_query_result_reset(&a);
  oa_query_result_reset(&b);
}

OA_TEST(late_sort_equals_general_path) {
  setup();
  static const char *tables[] = {"spans", "sliced"};
  for (int t = 0; t < 2; t++)
    for (int threads = 1; threads <= 2; threads++) {
      const char *tb = tables[t];
      same("trace_id, start_time, span_id", tb,
           "ORDER BY trace_id, start_time, span_id", threads, n_rows);
      /* ties on the only key keep the input order */
      same("trace_id, name, span_id", tb, "ORDER BY trace_id", threads, n_rows);
      same("name, duration, span_id, trace_id", tb,
           "ORDER BY duration DESC, span_id", threads, n_rows);
      same("trace_id AS t, duration AS d", tb, "ORDER BY d, t DESC", threads,
           n_rows);
      /* the order key need not be an output */
      same("name", tb, "ORDER BY end_time DESC, span_id", threads, n_rows);
      /* top-k, and a sort with an offset */
      same("trace_id, start_time, span_id", tb,
           "ORDER BY trace_id DESC, start_time LIMIT 50 OFFSET 7", threads, 50);
      same("span_id, end_time", tb,
           "ORDER BY end_time DESC LIMIT 900 OFFSET 10", threads, 900);
      same("span_id, end_time", tb,
           "ORDER BY end_time, span_id LIMIT 5000 OFFSET 4000", threads, 5000);
      same("span_id", tb, "ORDER BY span_id LIMIT 10 OFFSET 1000000", threads,
           0);
      same("span_id", tb, "ORDER BY span_id LIMIT 0", threads, 0);
    }
}

OA_TEST(late_sort_matches_brute_force_order) {
  setup();
  oa_query_result r;
  CHECK_OK(run("SELECT start_time, span_id FROM sliced ORDER BY start_time "
               "DESC, span_id LIMIT 100000",
               2, &r),
           err);
  if (oa_test_current_failed_) return;
  CHECK_EQ_INT(r.n_rows, n_rows);
  int64_t bad = 0, prev = INT64_MAX, k = 0;
  const uint8_t *prev_id = NULL;
  for (int64_t bi = 0; bi < r.n_batches; bi++) {
    const oa_batch *b = &r.batches[bi];
    for (int64_t i = 0; i < b->length; i++, k++) {
      int64_t v = oa_array_get_int(&b->schema->fields[0], &b->columns[0], i);
      int64_t len;
      const uint8_t *id =
          oa_array_get_bytes(&b->schema->fields[1], &b->columns[1], i, &len);
      bad += v > prev;
      bad += v == prev && prev_id && memcmp(prev_id, id, 8) > 0;
      prev = v;
      prev_id = id;
    }
  }
  CHECK_EQ_INT(bad, 0);
  oa_query_result_reset(&r);
  /* the max-rows limit applies here too */
  oa_query_options o;
  oa_query_options_init(&o);
  o.resolve = qt_resolve;
  o.resolve_ctx = &db;
  o.max_result_rows = 1000;
  CHECK_FAILS(
      oa_query_run("SELECT span_id FROM spans ORDER BY span_id", &o, &r, err),
      E2BIG, err, "more than the limit of 1000");
}

/* From 262,144 rows the scans, the aggregation (per-thread tables merged)
 * and the sort run on two threads: the results must be those of one. */
OA_TEST(large_inputs_two_threads_equal_one) {
  /* 30,000 spans repeated 9 times (shared buffers, cheap under ASan): every
   * trace id 9 times over, so merges and ties are everywhere */
  static qt_table one, big;
  CHECK_OK(qt_gen_spans(30000, 4096, &one, err), err);
  if (oa_test_current_failed_) return;
  big.name = "big";
  big.schema = one.schema;
  oa_schema_retain(big.schema);
  big.batches = calloc((size_t)one.n_batches * 9, sizeof(oa_batch));
  for (int rep = 0; rep < 9; rep++)
    for (int64_t b = 0; b < one.n_batches; b++) {
      oa_batch_init(&big.batches[big.n_batches]);
      CHECK_OK(
          oa_batch_copy(&big.batches[big.n_batches++], &one.batches[b], err),
          err);
    }
  qt_table_free(&one);
  if (oa_test_current_failed_) return;
  qt_db bdb = {&big, 1};
  static const char *sqls[] = {
      "SELECT trace_id, count(*) AS n, count(parent_span_id), sum(duration), "
      "avg(duration), max(duration), min(start_time) FROM big GROUP BY "
      "trace_id ORDER BY n DESC, trace_id LIMIT 500",
      "SELECT trace_id, count(*), sum(duration) FROM big GROUP BY trace_id "
      "ORDER BY trace_id",
      "SELECT trace_id, start_time, span_id FROM big ORDER BY trace_id, "
      "start_time, span_id",
      "SELECT trace_id, start_time, span_id FROM big WHERE duration >= 0 "
      "ORDER BY trace_id, start_time, span_id"};
  char *text[4][2];
  for (int q = 0; q < 4; q++)
    for (int t = 0; t < 2; t++) {
      oa_query_options o;
      oa_query_options_init(&o);
      o.resolve = qt_resolve;
      o.resolve_ctx = &bdb;
      o.threads = t + 1;
      oa_query_result r;
      text[q][t] = NULL;
      CHECK_OK(oa_query_run(sqls[q], &o, &r, err), err);
      if (oa_test_current_failed_) continue;
      text[q][t] = qt_text(&r);
      oa_query_result_reset(&r);
    }
  for (int q = 0; q < 4; q++) {
    if (text[q][0] && text[q][1] && strcmp(text[q][0], text[q][1])) {
      fprintf(stderr, "threads differ: %s\n", sqls[q]);
      oa_test_current_failed_ = 1;
    }
  }
  /* the sort's fast path (no WHERE) and the general path agree */
  if (text[2][0] && text[3][0]) CHECK(!strcmp(text[2][0], text[3][0]));
  /* the grouped sums add up to the whole */
  int64_t rows = 0;
  for (const char *l = text[1][0]; l && *l; l = strchr(l, '\n') + 1) {
    const char *bar = strchr(l, '|');
    rows += atoll(bar + 1);
  }
  CHECK_EQ_INT(rows, 270000);
  for (int q = 0; q < 4; q++)
    for (int t = 0; t < 2; t++)
      free(text[q][t]);
  qt_table_free(&big);
}

/* Columns with nulls leave the fast path: NULLs still sort last. */
OA_TEST(late_sort_nulls_take_general_path) {
  oa_schema *s;
  CHECK_OK(oa_schema_new(&s, err), err);
  oa_field f;
  CHECK_OK(oa_field_init(&f, "x", OA_TYPE_INT64, err), err);
  f.nullable = true;
  CHECK_OK(oa_schema_add_field(s, &f, err), err);
  oa_builder bld;
  CHECK_OK(oa_builder_init(&bld, &s->fields[0], 0, err), err);
  int64_t vals[] = {5, -1, 3, -1, 1};
  for (int i = 0; i < 5; i++)
    CHECK(!(vals[i] < 0 ? oa_builder_append_null(&bld)
                        : oa_builder_append_int(&bld, vals[i])));
  oa_array col;
  CHECK_OK(oa_builder_finish(&bld, &col, err), err);
  oa_builder_reset(&bld);
  qt_table t = {0};
  t.name = "n";
  t.schema = s;
  t.batches = calloc(1, sizeof(oa_batch));
  t.n_batches = 1;
  oa_batch_init(&t.batches[0]);
  CHECK_OK(oa_batch_set(&t.batches[0], s, 5, &col, err), err);
  qt_db ndb = {&t, 1};
  CHECK_QUERY(&ndb, "SELECT x FROM n ORDER BY x", "1\n3\n5\nNULL\nNULL\n");
  CHECK_QUERY(&ndb, "SELECT x FROM n ORDER BY x DESC NULLS FIRST",
              "NULL\nNULL\n5\n3\n1\n");
  qt_table_free(&t);
}

OA_TEST_MAIN(OA_T(late_sort_equals_general_path),
             OA_T(late_sort_matches_brute_force_order),
             OA_T(large_inputs_two_threads_equal_one),
             OA_T(late_sort_nulls_take_general_path))
