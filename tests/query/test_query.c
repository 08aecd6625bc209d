/* SQL semantics on a small hand-built table with known answers: parser
 * positions and errors, projection, filters with NULL logic, GROUP BY and
 * every aggregate, ORDER BY / LIMIT / OFFSET, functions and time. */
#include "qtest.h"

static oa_error err_s;
static oa_error *err = &err_s;

/* id | name | v    | k    | tid (16 bytes) | ts (ns)    | flag  | d (ns)
 *  1 | a    | 1.5  | 1    | 00..01         | T0         | true  | 100
 *  2 | b    | NULL | 2    | 00..02         | T0+60s     | false | 2000
 *  3 | NULL | 3.0  | 1    | 00..03         | T0+120s    | NULL  | 300
 *  4 | a    | -2.0 | 2    | 00..01         | T0+3600s   | true  | 50
 *  5 | c    | 10.0 | 1    | ff..ff         | T0+86400s  | false | 7000
 *  6 | b    | 0.5  | NULL | 00..02         | T0+90000s  | true  | 10  */
#define T0 1767225600000000000LL /* 2026-01-01 00:00:00 UTC */
static const char *names[] = {"a", "b", NULL, "a", "c", "b"};
static const double vs[] = {1.5, 0, 3.0, -2.0, 10.0, 0.5};
static const int ks[] = {1, 2, 1, 2, 1, -1};
static const int tids[] = {1, 2, 3, 1, 255, 2};
static const int64_t tss[] = {0, 60, 120, 3600, 86400, 90000};
static const int flags[] = {1, 0, -1, 1, 0, 1};
static const int64_t ds[] = {100, 2000, 300, 50, 7000, 10};

static int append_row(oa_builder *b, const oa_field *f, int64_t r) {
  const char *n = f->name;
  if (!strcmp(n, "id")) return oa_builder_append_int(b, r + 1);
  if (!strcmp(n, "name"))
    return names[r] ? oa_builder_append_cstr(b, names[r])
                    : oa_builder_append_null(b);
  if (!strcmp(n, "v"))
    return r == 1 ? oa_builder_append_null(b)
                  : oa_builder_append_double(b, vs[r]);
  if (!strcmp(n, "k"))
    return ks[r] < 0 ? oa_builder_append_null(b)
                     : oa_builder_append_int(b, ks[r]);
  if (!strcmp(n, "tid")) {
    uint8_t id[16];
    memset(id, tids[r] == 255 ? 0xff : 0, 16);
    id[15] = (uint8_t)tids[r];
    return oa_builder_append_bytes(b, id, 16);
  }
  if (!strcmp(n, "ts"))
    return oa_builder_append_int(b, T0 + tss[r] * 1000000000LL);
  if (!strcmp(n, "flag"))
    return flags[r] < 0 ? oa_builder_append_null(b)
                        : oa_builder_append_bool(b, flags[r]);
  if (!strcmp(n, "d")) return oa_builder_append_int(b, ds[r]);
  return EINVAL;
}

static qt_table tbl[2];
static qt_db db = {tbl, 2};

static void setup(void) {
  if (tbl[0].schema) return;
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f = tf("id", OA_TYPE_INT64);
  oa_schema_add_field(s, &f, NULL);
  f = tf("name", OA_TYPE_STRING);
  f.nullable = true;
  oa_schema_add_field(s, &f, NULL);
  f = tf("v", OA_TYPE_DOUBLE);
  oa_schema_add_field(s, &f, NULL);
  f = tf("k", OA_TYPE_INT32);
  oa_schema_add_field(s, &f, NULL);
  f = tf("tid", OA_TYPE_FIXED_SIZE_BINARY);
  f.type.byte_width = 16;
  oa_schema_add_field(s, &f, NULL);
  f = tf("ts", OA_TYPE_TIMESTAMP);
  f.type.unit = OA_TIME_UNIT_NANO;
  oa_field_set_timezone(&f, "UTC", NULL);
  oa_schema_add_field(s, &f, NULL);
  f = tf("flag", OA_TYPE_BOOL);
  oa_schema_add_field(s, &f, NULL);
  f = tf("d", OA_TYPE_DURATION);
  f.type.unit = OA_TIME_UNIT_NANO;
  oa_schema_add_field(s, &f, NULL);
  tbl[0].name = "t";
  tbl[0].schema = s;
  /* two batches: rows 0-3 and 4-5, so that every operator crosses batches */
  oa_batch whole;
  oa_batch_init(&whole);
  if (tbuild_batch(s, 6, append_row, &whole, err)) {
    fprintf(stderr, "setup: %s\n", err->message);
    exit(1);
  }
  tbl[0].batches = calloc(2, sizeof(oa_batch));
  oa_batch_slice(&tbl[0].batches[0], &whole, 0, 4, NULL);
  oa_batch_slice(&tbl[0].batches[1], &whole, 4, 2, NULL);
  tbl[0].n_batches = 2;
  oa_batch_reset(&whole);
  /* an empty table with the same schema */
  tbl[1].name = "empty";
  tbl[1].schema = s;
  oa_schema_retain(s);
}

OA_TEST(projection_and_arithmetic) {
  setup();
  CHECK_QUERY(&db, "SELECT id, name FROM t WHERE id <= 3",
              "1|a\n2|b\n3|NULL\n");
  CHECK_QUERY(&db,
              "select id*2+1 AS x, -id, 7 % 3, 7 / 2, 1.5 * 2 from t "
              "where id = 1",
              "3|-1|1|3.5|3\n");
  /* integer division by zero and x/0 give NULL */
  CHECK_QUERY(&db, "SELECT id / 0, id % 0, v / 0 FROM t WHERE id = 1",
              "NULL|NULL|NULL\n");
  CHECK_QUERY(&db, "SELECT 1 + 1, 'x' || 'y', NULL IS NULL", "2|xy|true\n");
  CHECK_QUERY(&db, "SELECT * FROM t WHERE id = 2",
              "2|b|NULL|2|00000000000000000000000000000002|"
              "1767225660000000000|false|2000\n");
  CHECK_QUERY(&db, "SELECT count(*) FROM empty", "0\n");
  CHECK_QUERY(&db, "SELECT id FROM empty", "");
}

OA_TEST(null_logic) {
  setup();
  /* v is NULL in row 2: comparisons with NULL are unknown, so NOT keeps it
   * out too */
  CHECK_QUERY(&db, "SELECT id FROM t WHERE v > 1", "1\n3\n5\n");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE NOT (v > 1)", "4\n6\n");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE v > 1 OR id = 2", "1\n2\n3\n5\n");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE v IS NULL", "2\n");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE name IS NOT NULL AND k IS NULL",
              "6\n");
  /* three-valued AND/OR on a nullable bool */
  CHECK_QUERY(&db,
              "SELECT id, flag AND true, flag OR true, NOT flag FROM t "
              "WHERE id = 3",
              "3|NULL|true|NULL\n");
  CHECK_QUERY(&db, "SELECT flag AND false FROM t WHERE id = 3", "false\n");
  /* IN with a NULL item: no match -> NULL (so NOT IN keeps nothing) */
  CHECK_QUERY(&db, "SELECT id FROM t WHERE k NOT IN (2, NULL)", "");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE k IN (2, NULL)", "2\n4\n");
  CHECK_QUERY(&db, "SELECT coalesce(v, -1), nullif(k, 1) FROM t WHERE id <= 2",
              "1.5|NULL\n-1|2\n");
}

OA_TEST(predicates) {
  setup();
  CHECK_QUERY(&db, "SELECT id FROM t WHERE id BETWEEN 2 AND 4", "2\n3\n4\n");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE id NOT BETWEEN 2 AND 4",
              "1\n5\n6\n");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE name IN ('a', 'c')", "1\n4\n5\n");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE name LIKE '_'", "1\n2\n4\n5\n6\n");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE name NOT LIKE 'a%'", "2\n5\n6\n");
  CHECK_QUERY(&db,
              "SELECT 'abcabc' LIKE '%bc', 'abc' LIKE 'a%c%', "
              "'ab' LIKE 'a', 'a_c' LIKE 'a\\_c', 'abc' LIKE 'a\\_c'",
              "true|true|false|true|false\n");
  CHECK_QUERY(&db,
              "SELECT id, CASE WHEN v > 2 THEN 'big' WHEN v > 0 THEN "
              "'small' ELSE 'other' END FROM t WHERE id < 4",
              "1|small\n2|other\n3|big\n");
  CHECK_QUERY(&db, "SELECT CASE k WHEN 1 THEN 'one' END FROM t WHERE id <= 2",
              "one\nNULL\n");
}

OA_TEST(trace_ids_and_functions) {
  setup();
  CHECK_QUERY(&db,
              "SELECT id FROM t WHERE tid = '00000000000000000000000000000001'",
              "1\n4\n");
  CHECK_QUERY(
      &db, "SELECT id FROM t WHERE tid = X'00000000000000000000000000000002'",
      "2\n6\n");
  CHECK_QUERY(
      &db,
      "SELECT id FROM t WHERE tid IN ('ffffffffffffffffffffffffffffffff',"
      " '00000000000000000000000000000003') AND id > 1",
      "3\n5\n");
  CHECK_QUERY(&db, "SELECT hex(tid) FROM t WHERE id = 5",
              "ffffffffffffffffffffffffffffffff\n");
  CHECK_QUERY(&db,
              "SELECT count(*) FROM t WHERE hex(tid) = "
              "'00000000000000000000000000000002'",
              "2\n");
  CHECK_QUERY(
      &db,
      "SELECT unhex('0aff'), length(unhex('0aff')), "
      "upper('abc'), lower('AbC'), abs(-3), abs(-2.5), length('h\xc3\xa9')",
      "0aff|2|ABC|abc|3|2.5|2\n");
}

OA_TEST(time_functions) {
  setup();
  CHECK_QUERY(&db,
              "SELECT id FROM t WHERE ts >= TIMESTAMP '2026-01-01 01:00:00'",
              "4\n5\n6\n");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE ts < '2026-01-01T00:02:00Z'",
              "1\n2\n");
  CHECK_QUERY(&db,
              "SELECT id FROM t WHERE ts > now() - INTERVAL '5 minutes'"
              " AND ts < now() + INTERVAL '1 hour'",
              "1\n2\n3\n");
  CHECK_QUERY(&db,
              "SELECT epoch_ns(date_trunc('hour', ts)), "
              "epoch_ns(date_trunc('day', ts)) FROM t WHERE id = 6",
              "1767315600000000000|1767312000000000000\n");
  CHECK_QUERY(&db,
              "SELECT epoch_ns(TIMESTAMP '1970-01-02'), "
              "epoch_ns(INTERVAL '1 hour 30 minutes'), epoch_ms(ts) FROM t "
              "WHERE id = 1",
              "86400000000000|5400000000000|1767225600000\n");
  CHECK_QUERY(&db,
              "SELECT epoch_ns(date_trunc('month', TIMESTAMP "
              "'2024-02-29 12:00:00')), epoch_ns(date_trunc('week', "
              "TIMESTAMP '2026-01-01'))",
              "1706745600000000000|1766966400000000000\n");
  CHECK_QUERY(&db, "SELECT id, ts - TIMESTAMP '2026-01-01' FROM t WHERE id = 2",
              "2|60000000000\n");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE d > 1000", "2\n5\n");
  CHECK_QUERY(&db, "SELECT id FROM t WHERE d * 2 >= INTERVAL '4 us'", "2\n5\n");
  CHECK_QUERY(&db, "SELECT epoch_ns(to_timestamp(1.5))", "1500000000\n");
}

OA_TEST(group_by_and_aggregates) {
  setup();
  CHECK_QUERY(&db,
              "SELECT name, count(*), count(v), sum(id), avg(v), min(v), "
              "max(id) FROM t GROUP BY name ORDER BY name",
              "a|2|2|5|-0.25|-2|4\n"
              "b|2|1|8|0.5|0.5|6\n"
              "c|1|1|5|10|10|5\n"
              "NULL|1|1|3|3|3|3\n");
  CHECK_QUERY(&db,
              "SELECT count(*), count(k), count(DISTINCT k), "
              "count(DISTINCT name), sum(k), min(name), max(name) FROM t",
              "6|5|2|3|7|a|c\n");
  /* aggregates over no rows: one row, COUNT 0, others NULL */
  CHECK_QUERY(&db,
              "SELECT count(*), sum(id), min(name), avg(v) FROM t "
              "WHERE id > 100",
              "0|NULL|NULL|NULL\n");
  CHECK_QUERY(&db, "SELECT name, count(*) FROM t WHERE id > 100 GROUP BY name",
              "");
  /* GROUP BY ordinal and alias; HAVING; expression keys */
  CHECK_QUERY(&db,
              "SELECT k AS kk, count(*) AS c FROM t GROUP BY 1 "
              "HAVING count(*) > 1 ORDER BY c DESC, kk",
              "1|3\n2|2\n");
  CHECK_QUERY(&db,
              "SELECT id % 2 AS odd, sum(v) FROM t GROUP BY odd ORDER BY odd",
              "0|-1.5\n1|14.5\n");
  CHECK_QUERY(&db,
              "SELECT name, k, count(*) FROM t GROUP BY name, k "
              "ORDER BY name NULLS FIRST, k",
              "NULL|1|1\na|1|1\na|2|1\nb|2|1\nb|NULL|1\nc|1|1\n");
  CHECK_QUERY(&db, "SELECT count(*) * 10 + max(id) FROM t", "66\n");
  CHECK_QUERY(&db, "SELECT DISTINCT name FROM t ORDER BY 1", "a\nb\nc\nNULL\n");
  /* quantiles: exact; disc = smallest value whose cumulative share >= q */
  CHECK_QUERY(&db,
              "SELECT quantile(id, 0.5), quantile_disc(id, 0.9), "
              "quantile_cont(id, 0.5), median(v), quantile(id, 0), "
              "quantile(id, 1) FROM t",
              "3|6|3.5|1.5|1|6\n");
  CHECK_QUERY(&db, "SELECT hex(min(tid)), hex(max(tid)) FROM t",
              "00000000000000000000000000000001|"
              "ffffffffffffffffffffffffffffffff\n");
  CHECK_QUERY(&db, "SELECT max(ts), min(d), sum(d) FROM t",
              "1767315600000000000|10|9460\n");
}

OA_TEST(order_limit_offset) {
  setup();
  /* DuckDB's default: NULLS LAST for ASC and for DESC */
  CHECK_QUERY(&db, "SELECT id, v FROM t ORDER BY v",
              "4|-2\n6|0.5\n1|1.5\n3|3\n5|10\n2|NULL\n");
  CHECK_QUERY(&db, "SELECT id FROM t ORDER BY v DESC", "5\n3\n1\n6\n4\n2\n");
  CHECK_QUERY(&db, "SELECT id FROM t ORDER BY v DESC NULLS FIRST",
              "2\n5\n3\n1\n6\n4\n");
  CHECK_QUERY(&db, "SELECT id FROM t ORDER BY v ASC NULLS FIRST LIMIT 2",
              "2\n4\n");
  /* ties keep scan order; several keys, mixed directions */
  CHECK_QUERY(&db, "SELECT id FROM t ORDER BY k DESC, name DESC",
              "2\n4\n5\n1\n3\n6\n");
  CHECK_QUERY(&db, "SELECT id FROM t ORDER BY name, id DESC",
              "4\n1\n6\n2\n5\n3\n");
  CHECK_QUERY(&db, "SELECT id FROM t ORDER BY tid DESC, ts",
              "5\n3\n2\n6\n1\n4\n");
  CHECK_QUERY(&db, "SELECT id FROM t ORDER BY id LIMIT 2 OFFSET 3", "4\n5\n");
  CHECK_QUERY(&db, "SELECT id FROM t ORDER BY id DESC LIMIT 10 OFFSET 5",
              "1\n");
  CHECK_QUERY(&db, "SELECT id FROM t LIMIT 0", "");
  CHECK_QUERY(&db, "SELECT id FROM t LIMIT 2", "1\n2\n");
  CHECK_QUERY(&db, "SELECT id FROM t OFFSET 4", "5\n6\n");
  CHECK_QUERY(&db, "SELECT id AS x FROM t ORDER BY x DESC LIMIT 1", "6\n");
  CHECK_QUERY(&db, "SELECT id FROM t ORDER BY flag, id", "2\n5\n1\n4\n6\n3\n");
}

static void check_fails(const char *sql, int code, const char *msg) {
  oa_query_result r;
  CHECK_FAILS(qt_run(&db, sql, &r, err), code, err, msg);
}

OA_TEST(errors_with_positions) {
  setup();
  check_fails("SELEC id FROM t", EINVAL, "SQL error at 1:1: expected SELECT");
  check_fails("SELECT id FROM t WHERE", EINVAL,
              "SQL error at 1:23: expected an expression, found end of input");
  check_fails("SELECT id,\n  nme FROM t", EINVAL,
              "SQL error at 2:3: unknown column 'nme' (did you mean 'name'");
  check_fails("SELECT id FROM nope", ENOENT, "no table 'nope'");
  check_fails("SELECT id FROM t WHERE name = 5", EINVAL,
              "1:29: cannot compare VARCHAR with BIGINT");
  check_fails("SELECT name, count(*) FROM t", EINVAL,
              "column 'name' must appear in the GROUP BY clause");
  check_fails("SELECT id FROM t WHERE count(*) > 1", EINVAL,
              "aggregate count() is not allowed here");
  check_fails("SELECT foo(id) FROM t", EINVAL, "1:8: unknown function 'foo'");
  check_fails("SELECT 'abc FROM t", EINVAL, "1:8: unterminated string");
  check_fails("SELECT id FROM t ORDER BY 5", EINVAL,
              "ORDER BY position 5 is not in the select list");
  check_fails("SELECT id FROM t WHERE ts > TIMESTAMP 'yesterday'", EINVAL,
              "1:39: 'yesterday' is not a timestamp");
  check_fails("SELECT id FROM t WHERE tid = 'xyz'", EINVAL,
              "is not a hex string");
  check_fails("SELECT id FROM t LIMIT -1", EINVAL, "LIMIT");
  check_fails("SELECT id FROM t extra junk", EINVAL,
              "expected end of statement");
  check_fails("SELECT sum(name) FROM t", EINVAL, "sum() of VARCHAR");
  check_fails("SELECT quantile(v, 2) FROM t", EINVAL, "in [0, 1]");
  check_fails("SELECT 'a\xff' FROM t", EINVAL, "1:10: invalid UTF-8");
  check_fails("SELECT TIMESTAMP '9999-01-01'", EINVAL,
              "1:18: '9999-01-01' is not a timestamp");
  check_fails("SELECT INTERVAL '99999999999 days'", EINVAL,
              "is not an interval");
  check_fails("SELECT id FROM t WHERE id", EINVAL,
              "expected a boolean expression");
  /* a limit on the result size */
  oa_query_options o;
  oa_query_options_init(&o);
  o.resolve = qt_resolve;
  o.resolve_ctx = &db;
  o.max_result_rows = 3;
  oa_query_result r;
  CHECK_FAILS(oa_query_run("SELECT id FROM t", &o, &r, err), E2BIG, err,
              "more than the limit of 3");
  CHECK_OK(oa_query_run("SELECT id FROM t LIMIT 3", &o, &r, err), err);
  oa_query_result_reset(&r);
  /* every resolved table is released, also after errors */
  int before = tbl[0].released;
  check_fails("SELECT nope FROM t", EINVAL, "unknown column");
  CHECK_EQ_INT(tbl[0].released, before + 1);
}

OA_TEST(check_syntax) {
  CHECK_OK(oa_query_check_syntax("SELECT a FROM b", 15, err), err);
  CHECK_FAILS(oa_query_check_syntax("SELECT a FROM", 13, err), EINVAL, err,
              "SQL error at 1:14");
  /* not NUL-terminated: only len bytes are read */
  CHECK_OK(oa_query_check_syntax("SELECT 1xyz", 8, err), err);
  char deep[2000];
  memset(deep, '(', sizeof deep);
  memcpy(deep, "SELECT ", 7);
  CHECK_FAILS(oa_query_check_syntax(deep, sizeof deep, err), EINVAL, err,
              "nested too deeply");
}

OA_TEST(result_schema) {
  setup();
  oa_query_result r;
  CHECK_OK(
      qt_run(&db, "SELECT tid, ts, d, name AS n, k, v, flag FROM t", &r, err),
      err);
  CHECK_EQ_INT(r.n_rows, 6);
  CHECK_EQ_INT(r.schema->n_fields, 7);
  CHECK_EQ_INT(r.schema->fields[0].type.id, OA_TYPE_FIXED_SIZE_BINARY);
  CHECK_EQ_INT(r.schema->fields[0].type.byte_width, 16);
  CHECK_EQ_INT(r.schema->fields[1].type.id, OA_TYPE_TIMESTAMP);
  CHECK_EQ_STR(r.schema->fields[1].type.timezone, "UTC");
  CHECK_EQ_INT(r.schema->fields[2].type.id, OA_TYPE_DURATION);
  CHECK_EQ_STR(r.schema->fields[3].name, "n");
  CHECK_EQ_INT(r.schema->fields[4].type.id, OA_TYPE_INT64);
  CHECK_EQ_INT(r.schema->fields[6].type.id, OA_TYPE_BOOL);
  CHECK_OK(oa_batch_validate(&r.batches[0], true, err), err);
  CHECK_EQ_INT(r.stats.rows_scanned, 6);
  CHECK_EQ_INT(r.stats.batches_scanned, 2);
  oa_query_result_reset(&r);
}

/* 300K rows: big enough for the parallel paths (aggregation, sort, result
 * building), checked against the same queries on one thread. */
static int big_row(oa_builder *b, const oa_field *f, int64_t r) {
  uint64_t h = (uint64_t)r * 0x9E3779B97F4A7C15ULL;
  h ^= h >> 29;
  if (!strcmp(f->name, "k"))
    return oa_builder_append_int(b, (int64_t)(h % 1000));
  if (!strcmp(f->name, "tid")) {
    uint8_t id[16];
    uint64_t x = (h % 5000) * 0xD6E8FEB86659FD93ULL;
    memcpy(id, &x, 8);
    memcpy(id + 8, &x, 8);
    return oa_builder_append_bytes(b, id, 16);
  }
  if (!strcmp(f->name, "v"))
    return h % 97 == 0 ? oa_builder_append_null(b)
                       : oa_builder_append_double(b, (double)(h % 100000) / 7);
  if (!strcmp(f->name, "s")) {
    static const char *const words[] = {"alpha", "beta", "gamma", "delta",
                                        "eps",   "zeta", "eta"};
    return h % 13 == 0 ? oa_builder_append_null(b)
                       : oa_builder_append_cstr(b, words[h % 7]);
  }
  return EINVAL;
}

OA_TEST(parallel_equals_serial) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f = tf("k", OA_TYPE_INT64);
  oa_schema_add_field(s, &f, NULL);
  f = tf("tid", OA_TYPE_FIXED_SIZE_BINARY);
  f.type.byte_width = 16;
  oa_schema_add_field(s, &f, NULL);
  f = tf("v", OA_TYPE_DOUBLE);
  oa_schema_add_field(s, &f, NULL);
  f = tf("s", OA_TYPE_STRING);
  oa_schema_add_field(s, &f, NULL);
  qt_table big = {.name = "big", .schema = s};
  big.batches = calloc(3, sizeof(oa_batch));
  /* three batches of uneven sizes */
  oa_batch whole;
  oa_batch_init(&whole);
  CHECK_OK(tbuild_batch(s, 300000, big_row, &whole, err), err);
  oa_batch_slice(&big.batches[0], &whole, 0, 100000, NULL);
  oa_batch_slice(&big.batches[1], &whole, 100000, 150001, NULL);
  oa_batch_slice(&big.batches[2], &whole, 250001, 49999, NULL);
  big.n_batches = 3;
  oa_batch_reset(&whole);
  qt_db bdb = {&big, 1};
  const char *sqls[] = {
      "SELECT k, count(*), sum(k), avg(v), min(v), max(v), min(s), max(s), "
      "count(DISTINCT s), quantile(v, 0.9), median(k) FROM big GROUP BY k",
      "SELECT tid, count(*) AS n, max(v) FROM big GROUP BY tid ORDER BY n "
      "DESC, "
      "tid LIMIT 20",
      "SELECT s, count(*), count(v), count(DISTINCT k) FROM big GROUP BY s",
      "SELECT count(*), sum(v), min(tid), count(DISTINCT tid) FROM big",
      "SELECT k % 10 AS m, s, count(*) FROM big GROUP BY m, s",
      "SELECT k, tid, v FROM big ORDER BY tid DESC, k, v NULLS FIRST LIMIT 50 "
      "OFFSET 1000",
      "SELECT k, v FROM big WHERE k < 3 ORDER BY v, k",
      /* no ORDER BY: scan order, also across the threads' ranges */
      "SELECT k, s, lower(s) || '!' FROM big WHERE k = 5 OR k = 999"};
  for (size_t q = 0; q < sizeof sqls / sizeof sqls[0]; q++) {
    char *text[2] = {NULL, NULL};
    for (int t = 0; t < 2; t++) {
      oa_query_options o;
      oa_query_options_init(&o);
      o.resolve = qt_resolve;
      o.resolve_ctx = &bdb;
      o.threads = t ? 2 : 1;
      oa_query_result r;
      CHECK_OK(oa_query_run(sqls[q], &o, &r, err), err);
      text[t] = qt_text(&r);
      CHECK_EQ_INT(r.stats.rows_scanned, 300000);
      CHECK_EQ_INT(r.stats.batches_scanned, 3);
      oa_query_result_reset(&r);
    }
    if (strcmp(text[0], text[1])) {
      fprintf(stderr, "parallel result differs for %s\n", sqls[q]);
      oa_test_current_failed_ = 1;
    }
    CHECK(strlen(text[0]) > 0);
    free(text[0]);
    free(text[1]);
  }
  /* a brute-force check of one group */
  CHECK_QUERY(
      &bdb, "SELECT count(*) FROM big WHERE k = 7 AND v IS NULL AND s IS NULL",
      "0\n");
  qt_table_free(&big);
}

OA_TEST_MAIN(OA_T(parallel_equals_serial), OA_T(projection_and_arithmetic),
             OA_T(null_logic), OA_T(predicates), OA_T(trace_ids_and_functions),
             OA_T(time_functions), OA_T(group_by_and_aggregates),
             OA_T(order_limit_offset), OA_T(errors_with_positions),
             OA_T(check_syntax), OA_T(result_schema))
