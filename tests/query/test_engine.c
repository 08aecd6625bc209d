/* The engine on generated spans, checked against brute-force computations
 * written here: the trace-id filter on every SIMD path the CPU has,
 * high-cardinality GROUP BY with every aggregate, the multi-key sort,
 * attribute access and dictionary columns. */
#include "qtest.h"

static oa_error err_s;
static oa_error *err = &err_s;

static qt_table spans;
static qt_db db = {&spans, 1};
static int64_t n_rows;

static void setup(void) {
  if (spans.schema) return;
  spans.name = "spans";
  if (qt_gen_spans(30000, 700, &spans, err)) {
    fprintf(stderr, "gen: %s\n", err->message);
    exit(1);
  }
  for (int64_t b = 0; b < spans.n_batches; b++)
    n_rows += spans.batches[b].length;
}

/* Row r of the whole table: batch and row within it. */
static void locate(int64_t r, const oa_batch **b, int64_t *i) {
  for (int64_t k = 0; k < spans.n_batches; k++) {
    if (r < spans.batches[k].length) {
      *b = &spans.batches[k];
      *i = r;
      return;
    }
    r -= spans.batches[k].length;
  }
  *b = NULL;
  *i = 0;
}

static const uint8_t *tid_at(int64_t r) {
  const oa_batch *b;
  int64_t i, len;
  locate(r, &b, &i);
  return oa_array_get_bytes(&b->schema->fields[OA_SPAN_TRACE_ID],
                            &b->columns[OA_SPAN_TRACE_ID], i, &len);
}
static int64_t int_at(int64_t r, int col) {
  const oa_batch *b;
  int64_t i;
  locate(r, &b, &i);
  return oa_array_get_int(&b->schema->fields[col], &b->columns[col], i);
}

static void hex16(const uint8_t *id, char *out) {
  for (int i = 0; i < 16; i++)
    sprintf(out + 2 * i, "%02x", id[i]);
}

static int run(const char *sql, oa_simd_level simd, oa_query_result *r) {
  oa_query_options o;
  oa_query_options_init(&o);
  o.resolve = qt_resolve;
  o.resolve_ctx = &db;
  o.simd = simd;
  return oa_query_run(sql, &o, r, err);
}

OA_TEST(trace_id_filter_every_simd_path) {
  setup();
  CHECK(n_rows == 30000);
  oa_simd_level best = oa_simd_detect();
  int64_t picks[] = {0, 777, 29999, 15000};
  for (int p = 0; p < 4; p++) {
    const uint8_t *id = tid_at(picks[p]);
    int64_t want = 0;
    for (int64_t r = 0; r < n_rows; r++)
      want += memcmp(tid_at(r), id, 16) == 0;
    char hex[33], sql[256];
    hex16(id, hex);
    snprintf(
        sql, sizeof sql,
        "SELECT count(*), min(start_time) FROM spans WHERE trace_id = '%s'",
        hex);
    char *ref = NULL;
    for (int lv = OA_SIMD_SCALAR; lv <= (int)best; lv++) {
      oa_query_result r;
      CHECK_OK(run(sql, (oa_simd_level)lv, &r), err);
      if (r.n_rows != 1) {
        CHECK(0);
        oa_query_result_reset(&r);
        continue;
      }
      CHECK_EQ_INT(
          oa_array_get_int(&r.schema->fields[0], &r.batches[0].columns[0], 0),
          want);
      CHECK_EQ_STR(r.stats.filter_kernel, oa_simd_name((oa_simd_level)lv));
      char *t = qt_text(&r);
      if (!ref)
        ref = t;
      else {
        CHECK_EQ_STR(t, ref);
        free(t);
      }
      oa_query_result_reset(&r);
    }
    free(ref);
  }
  /* IN over three ids (one absent), with X'' literals, plus a residual
   * predicate; every path gives the brute-force rows in scan order */
  const uint8_t *a = tid_at(10), *b = tid_at(20000);
  char ha[33], hb[33], sql[512];
  hex16(a, ha);
  hex16(b, hb);
  snprintf(sql, sizeof sql,
           "SELECT span_id FROM spans WHERE trace_id IN (X'%s', '%s', "
           "'0123456789abcdef0123456789abcdef') AND kind >= 0",
           ha, hb);
  int64_t want = 0;
  for (int64_t r = 0; r < n_rows; r++)
    want += !memcmp(tid_at(r), a, 16) || !memcmp(tid_at(r), b, 16);
  char *ref = NULL;
  for (int lv = OA_SIMD_SCALAR; lv <= (int)best; lv++) {
    oa_query_result r;
    CHECK_OK(run(sql, (oa_simd_level)lv, &r), err);
    CHECK_EQ_INT(r.n_rows, want);
    char *t = qt_text(&r);
    if (!ref)
      ref = t;
    else {
      CHECK_EQ_STR(t, ref);
      free(t);
    }
    oa_query_result_reset(&r);
  }
  free(ref);
  /* forcing a level above the CPU's is ENOTSUP */
  if (best < OA_SIMD_AVX512) {
    oa_query_result r;
    CHECK_FAILS(run("SELECT 1", OA_SIMD_AVX512, &r), ENOTSUP, err, "avx512");
  }
  /* the resolver hears about the trace ids */
  CHECK_EQ_INT(spans.last_hint.n_trace_ids, 3);
  CHECK(!memcmp(spans.last_hint_id, a, 16));
}

typedef struct tagg {
  uint8_t id[16];
  int64_t count, min_d, max_d, sum_d, min_start;
} tagg;

static int cmp_tid(const void *x, const void *y) { return memcmp(x, y, 16); }

static int cmp_top(const void *x, const void *y) {
  const tagg *a = x, *b = y;
  if (a->count != b->count) return a->count > b->count ? -1 : 1;
  return memcmp(a->id, b->id, 16);
}

OA_TEST(group_by_trace_id_vs_brute_force) {
  setup();
  /* brute force: sort (id, row) and walk the runs */
  typedef struct {
    uint8_t id[16];
    int64_t row;
  } pr;
  pr *v = malloc(sizeof(pr) * (size_t)n_rows);
  for (int64_t r = 0; r < n_rows; r++) {
    memcpy(v[r].id, tid_at(r), 16);
    v[r].row = r;
  }
  qsort(v, (size_t)n_rows, sizeof *v, cmp_tid);
  tagg *g = calloc((size_t)n_rows, sizeof *g);
  int64_t ng = 0;
  for (int64_t i = 0; i < n_rows; i++) {
    int64_t d = int_at(v[i].row, OA_SPAN_DURATION);
    int64_t st = int_at(v[i].row, OA_SPAN_START_TIME);
    if (i == 0 || memcmp(v[i].id, v[i - 1].id, 16)) {
      memcpy(g[ng].id, v[i].id, 16);
      g[ng].min_d = g[ng].max_d = d;
      g[ng].min_start = st;
      ng++;
    }
    tagg *x = &g[ng - 1];
    x->count++;
    x->sum_d += d;
    if (d < x->min_d) x->min_d = d;
    if (d > x->max_d) x->max_d = d;
    if (st < x->min_start) x->min_start = st;
  }
  qsort(g, (size_t)ng, sizeof *g, cmp_top);
  oa_query_result r;
  CHECK_OK(run("SELECT trace_id, count(*) AS n, avg(duration), max(duration), "
               "min(duration), sum(duration), min(start_time) FROM spans "
               "GROUP BY trace_id ORDER BY n DESC, trace_id LIMIT 100",
               OA_SIMD_AUTO, &r),
           err);
  CHECK_EQ_INT(r.n_rows, ng < 100 ? ng : 100);
  const oa_batch *b = &r.batches[0];
  for (int64_t i = 0; i < r.n_rows && i < 100; i++) {
    int64_t len;
    const uint8_t *id =
        oa_array_get_bytes(&b->schema->fields[0], &b->columns[0], i, &len);
    CHECK(len == 16 && !memcmp(id, g[i].id, 16));
    CHECK_EQ_INT(oa_array_get_int(&b->schema->fields[1], &b->columns[1], i),
                 g[i].count);
    double avg = oa_array_get_double(&b->schema->fields[2], &b->columns[2], i);
    CHECK(fabs(avg - (double)g[i].sum_d / (double)g[i].count) <
          1e-6 * fabs(avg) + 1e-9);
    CHECK_EQ_INT(oa_array_get_int(&b->schema->fields[3], &b->columns[3], i),
                 g[i].max_d);
    CHECK_EQ_INT(oa_array_get_int(&b->schema->fields[4], &b->columns[4], i),
                 g[i].min_d);
    CHECK_EQ_INT(oa_array_get_int(&b->schema->fields[5], &b->columns[5], i),
                 g[i].sum_d);
    CHECK_EQ_INT(oa_array_get_int(&b->schema->fields[6], &b->columns[6], i),
                 g[i].min_start);
  }
  oa_query_result_reset(&r);
  /* every group, no LIMIT: the number of groups and COUNT(DISTINCT) agree */
  CHECK_OK(run("SELECT count(DISTINCT trace_id), count(*) FROM spans",
               OA_SIMD_AUTO, &r),
           err);
  char want[64];
  snprintf(want, sizeof want, "%lld|%lld\n", (long long)ng, (long long)n_rows);
  char *t = qt_text(&r);
  CHECK_EQ_STR(t, want);
  free(t);
  oa_query_result_reset(&r);
  CHECK_OK(
      run("SELECT trace_id FROM spans GROUP BY trace_id", OA_SIMD_AUTO, &r),
      err);
  CHECK_EQ_INT(r.n_rows, ng);
  oa_query_result_reset(&r);
  free(v);
  free(g);
}

typedef struct srow {
  uint8_t tid[16];
  int64_t start;
  uint8_t sid[8];
} srow;

static int cmp_srow(const void *x, const void *y) {
  const srow *a = x, *b = y;
  int c = memcmp(a->tid, b->tid, 16);
  if (c) return c;
  if (a->start != b->start) return a->start < b->start ? -1 : 1;
  return memcmp(a->sid, b->sid, 8);
}

OA_TEST(multi_key_sort_vs_qsort) {
  setup();
  srow *v = malloc(sizeof(srow) * (size_t)n_rows);
  for (int64_t r = 0; r < n_rows; r++) {
    const oa_batch *b;
    int64_t i, len;
    locate(r, &b, &i);
    memcpy(v[r].tid, tid_at(r), 16);
    v[r].start = int_at(r, OA_SPAN_START_TIME);
    memcpy(v[r].sid,
           oa_array_get_bytes(&b->schema->fields[OA_SPAN_SPAN_ID],
                              &b->columns[OA_SPAN_SPAN_ID], i, &len),
           8);
  }
  qsort(v, (size_t)n_rows, sizeof *v, cmp_srow);
  const char *sqls[] = {
      "SELECT trace_id, start_time, span_id FROM spans ORDER BY trace_id, "
      "start_time, span_id",
      /* top-k path */
      "SELECT trace_id, start_time, span_id FROM spans ORDER BY trace_id, "
      "start_time, span_id LIMIT 37 OFFSET 5"};
  for (int q = 0; q < 2; q++) {
    oa_query_result r;
    CHECK_OK(run(sqls[q], OA_SIMD_AUTO, &r), err);
    int64_t base = q ? 5 : 0;
    CHECK_EQ_INT(r.n_rows, q ? 37 : n_rows);
    int64_t k = 0, bad = 0;
    for (int64_t bi = 0; bi < r.n_batches; bi++) {
      const oa_batch *b = &r.batches[bi];
      for (int64_t i = 0; i < b->length; i++, k++) {
        int64_t len;
        const srow *w = &v[base + k];
        bad += memcmp(oa_array_get_bytes(&b->schema->fields[0], &b->columns[0],
                                         i, &len),
                      w->tid, 16) != 0;
        bad += oa_array_get_int(&b->schema->fields[1], &b->columns[1], i) !=
               w->start;
        bad += memcmp(oa_array_get_bytes(&b->schema->fields[2], &b->columns[2],
                                         i, &len),
                      w->sid, 8) != 0;
      }
    }
    CHECK_EQ_INT(bad, 0);
    oa_query_result_reset(&r);
  }
  /* DESC on the id: the reverse order of the ids */
  oa_query_result r;
  CHECK_OK(run("SELECT trace_id FROM spans ORDER BY trace_id DESC LIMIT 1",
               OA_SIMD_AUTO, &r),
           err);
  int64_t len;
  CHECK(!memcmp(oa_array_get_bytes(&r.schema->fields[0],
                                   &r.batches[0].columns[0], 0, &len),
                v[n_rows - 1].tid, 16));
  oa_query_result_reset(&r);
  free(v);
}

/* The attribute value of key for row i, the brute-force way: walk the
 * map's entries, decode the dictionary key, read the union's type id. */
static int attr_of(const oa_batch *b, int64_t i, const char *key,
                   const uint8_t **s, int64_t *slen, int64_t *iv) {
  const oa_field *f = &b->schema->fields[OA_SPAN_ATTRIBUTES];
  const oa_array *m = &b->columns[OA_SPAN_ATTRIBUTES];
  const int32_t *off = (const int32_t *)m->buffers[1].data + m->offset;
  const oa_array *ent = &m->children[0];
  const oa_field *kf = &f->children[0].children[0];
  const oa_field *vf = &f->children[0].children[1];
  const oa_array *keys = &ent->children[0], *vals = &ent->children[1];
  for (int64_t e = off[i]; e < off[i + 1]; e++) {
    int64_t ke = ent->offset + e;
    int64_t di = oa_array_get_dict_index(kf, keys, ke), kl;
    oa_field dkf = *kf;
    dkf.dict.encoded = false;
    const uint8_t *kp = oa_array_get_bytes(&dkf, keys->dictionary, di, &kl);
    if ((size_t)kl != strlen(key) || memcmp(kp, key, (size_t)kl)) continue;
    int8_t type = (int8_t)vals->buffers[0].data[vals->offset + ke];
    int32_t co = ((const int32_t *)vals->buffers[1].data)[vals->offset + ke];
    if (type == OA_ATTR_STR) {
      *s = oa_array_get_bytes(&vf->children[1], &vals->children[1], co, slen);
    } else if (type == OA_ATTR_INT) {
      *iv = oa_array_get_int(&vf->children[2], &vals->children[2], co);
    }
    return type;
  }
  return -1;
}

OA_TEST(attributes_and_dictionaries_vs_brute_force) {
  setup();
  int64_t want_get = 0, want_5xx = 0, want_both = 0;
  for (int64_t r = 0; r < n_rows; r++) {
    const oa_batch *b;
    int64_t i;
    locate(r, &b, &i);
    const uint8_t *s;
    int64_t sl, iv;
    int t1 = attr_of(b, i, "http.request.method", &s, &sl, &iv);
    bool get = t1 == OA_ATTR_STR && sl == 3 && !memcmp(s, "GET", 3);
    int t2 = attr_of(b, i, "http.response.status_code", &s, &sl, &iv);
    bool e5 = t2 == OA_ATTR_INT && iv >= 500;
    want_get += get;
    want_5xx += e5;
    want_both += get && e5;
  }
  CHECK(want_get > 0);
  char want[128];
  oa_query_result r;
  CHECK_OK(
      run("SELECT sum(CASE WHEN attributes['http.request.method'] = 'GET' "
          "THEN 1 ELSE 0 END), sum(CASE WHEN "
          "attributes['http.response.status_code'] >= 500 THEN 1 ELSE 0 END), "
          "count(*) FROM spans WHERE attributes['http.request.method'] = 'GET' "
          "OR attributes['http.response.status_code'] >= 500",
          OA_SIMD_AUTO, &r),
      err);
  snprintf(want, sizeof want, "%lld|%lld|%lld\n", (long long)want_get,
           (long long)want_5xx, (long long)(want_get + want_5xx - want_both));
  char *t = qt_text(&r);
  CHECK_EQ_STR(t, want);
  free(t);
  oa_query_result_reset(&r);
  /* an int attribute compared with a string matches nothing (typed) */
  CHECK_OK(run("SELECT count(*) FROM spans WHERE "
               "attributes['http.response.status_code'] = '200'",
               OA_SIMD_AUTO, &r),
           err);
  t = qt_text(&r);
  CHECK_EQ_STR(t, "0\n");
  free(t);
  oa_query_result_reset(&r);
  /* dictionary-encoded service_name: GROUP BY vs a brute-force count */
  CHECK_OK(run("SELECT service_name, count(*) AS n FROM spans GROUP BY 1 "
               "ORDER BY n DESC, service_name LIMIT 1",
               OA_SIMD_AUTO, &r),
           err);
  int64_t len;
  const uint8_t *top = oa_array_get_bytes(&r.schema->fields[0],
                                          &r.batches[0].columns[0], 0, &len);
  char name[128];
  snprintf(name, sizeof name, "%.*s", (int)len, (const char *)top);
  int64_t got_n =
      oa_array_get_int(&r.schema->fields[1], &r.batches[0].columns[1], 0);
  oa_query_result_reset(&r);
  int64_t cnt = 0;
  for (int64_t bi = 0; bi < spans.n_batches; bi++) {
    const oa_batch *b = &spans.batches[bi];
    const oa_field *f = &b->schema->fields[OA_SPAN_SERVICE_NAME];
    oa_field vf = *f;
    vf.dict.encoded = false;
    for (int64_t i = 0; i < b->length; i++) {
      if (oa_array_is_null(f, &b->columns[OA_SPAN_SERVICE_NAME], i)) continue;
      int64_t di = oa_array_get_dict_index(f, &b->columns[OA_SPAN_SERVICE_NAME],
                                           i),
              l;
      const uint8_t *p = oa_array_get_bytes(
          &vf, b->columns[OA_SPAN_SERVICE_NAME].dictionary, di, &l);
      cnt += (size_t)l == strlen(name) && !memcmp(p, name, (size_t)l);
    }
  }
  CHECK_EQ_INT(got_n, cnt);
  CHECK(cnt > 0);
  /* resource attributes (dictionary of maps) */
  CHECK_OK(run("SELECT count(*) FROM spans WHERE "
               "resource_attributes['service.name'] = service_name",
               OA_SIMD_AUTO, &r),
           err);
  snprintf(want, sizeof want, "%lld\n", (long long)n_rows);
  t = qt_text(&r);
  CHECK_EQ_STR(t, want);
  free(t);
  oa_query_result_reset(&r);
  /* SELECT * renders nested columns as JSON text */
  CHECK_OK(run("SELECT * FROM spans LIMIT 3", OA_SIMD_AUTO, &r), err);
  CHECK_EQ_INT(r.n_rows, 3);
  CHECK_EQ_INT(r.schema->n_fields, OA_SPAN_N_COLUMNS);
  CHECK_EQ_INT(r.schema->fields[OA_SPAN_ATTRIBUTES].type.id, OA_TYPE_STRING);
  oa_query_result_reset(&r);
}

OA_TEST(time_buckets) {
  setup();
  /* date_trunc buckets sum up to all rows; bucket starts are minute-aligned */
  oa_query_result r;
  CHECK_OK(
      run("SELECT date_trunc('minute', start_time) AS m, count(*) FROM spans "
          "GROUP BY m ORDER BY m",
          OA_SIMD_AUTO, &r),
      err);
  int64_t total = 0, bad = 0, prev = INT64_MIN;
  for (int64_t bi = 0; bi < r.n_batches; bi++)
    for (int64_t i = 0; i < r.batches[bi].length; i++) {
      int64_t m =
          oa_array_get_int(&r.schema->fields[0], &r.batches[bi].columns[0], i);
      bad += m % 60000000000LL != 0 || m <= prev;
      prev = m;
      total +=
          oa_array_get_int(&r.schema->fields[1], &r.batches[bi].columns[1], i);
    }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(total, n_rows);
  oa_query_result_reset(&r);
}

OA_TEST(scan_hints) {
  setup();
  oa_query_result r;
  CHECK_OK(run("SELECT count(*) FROM spans WHERE start_time >= TIMESTAMP "
               "'2025-01-01 00:00:10' AND start_time < '2025-01-01T00:01:00Z' "
               "AND kind > 0",
               OA_SIMD_AUTO, &r),
           err);
  CHECK_EQ_INT(spans.last_hint.min_start_time, 1735689610000000000LL);
  CHECK_EQ_INT(spans.last_hint.max_start_time, 1735689660000000000LL);
  CHECK_EQ_INT(spans.last_hint.n_trace_ids, 0);
  oa_query_result_reset(&r);
  /* OR: no hint (a hint may only narrow) */
  CHECK_OK(run("SELECT count(*) FROM spans WHERE start_time >= TIMESTAMP "
               "'2025-01-01 00:00:10' OR kind > 0",
               OA_SIMD_AUTO, &r),
           err);
  CHECK_EQ_INT(spans.last_hint.min_start_time, INT64_MIN);
  CHECK_EQ_INT(spans.last_hint.max_start_time, INT64_MAX);
  oa_query_result_reset(&r);
}

OA_TEST_MAIN(OA_T(scan_hints), OA_T(trace_id_filter_every_simd_path),
             OA_T(group_by_trace_id_vs_brute_force),
             OA_T(multi_key_sort_vs_qsort),
             OA_T(attributes_and_dictionaries_vs_brute_force),
             OA_T(time_buckets))
