/* The trace generator: deterministic bytes, exact span counts, requests that
 * our decoder accepts whole, and traces that look like traces (one root,
 * parents in the same trace, children inside their parents' time windows,
 * realistic rates of attributes, events, links and errors). */
#include "otlparrow/otlp.h"
#include "test.h"

/* All requests of a generator run, concatenated, with their sizes. */
typedef struct run {
  oa_bytes all;
  int64_t n_req;
  int64_t sizes[4096];
  int64_t spans[4096];
  int64_t total;
} run;

static int gen_run(run *r, int64_t spans, uint64_t seed, int services,
                   int64_t max_spans, oa_error *err) {
  memset(r, 0, sizeof *r);
  oa_bytes_init(&r->all);
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  o.spans = spans;
  o.seed = seed;
  o.services = services;
  oa_trace_gen g;
  OA_RETURN_NOT_OK(oa_trace_gen_init(&g, &o, err));
  oa_bytes req;
  oa_bytes_init(&req);
  int rc = 0;
  for (;;) {
    int64_t n = 0;
    rc = oa_trace_gen_next_request(&g, max_spans, &req, &n, err);
    if (rc || n == 0) break;
    if (r->n_req == 4096) {
      rc = oa_error_set(err, E2BIG, "too many requests for the test");
      break;
    }
    r->sizes[r->n_req] = req.size;
    r->spans[r->n_req++] = n;
    r->total += n;
    oa_bytes_append(&r->all, req.data, req.size);
  }
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  return rc;
}

/* Element k of an attribute value dense union: its type code (= child
 * index) and its row in that child. */
static int union_code(const oa_array *u, int64_t k) {
  return (int8_t)u->buffers[0].data[u->offset + k];
}
static int64_t union_row(const oa_array *u, int64_t k) {
  int32_t off;
  memcpy(&off, u->buffers[1].data + (u->offset + k) * 4, 4);
  return off;
}

static uint64_t fnv1a(const uint8_t *d, int64_t n) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t i = 0; i < n; i++)
    h = (h ^ d[i]) * 1099511628211ull;
  return h;
}

OA_TEST(test_deterministic) {
  oa_error es = {{0}}, *err = &es;
  run a, b, c;
  CHECK_OK(gen_run(&a, 5000, 7, 12, 512, err), err);
  CHECK_OK(gen_run(&b, 5000, 7, 12, 512, err), err);
  CHECK_OK(gen_run(&c, 5000, 8, 12, 512, err), err);
  CHECK_EQ_INT(a.all.size, b.all.size);
  CHECK(a.all.size == b.all.size &&
        memcmp(a.all.data, b.all.data, (size_t)a.all.size) == 0);
  CHECK_EQ_INT(a.n_req, b.n_req);
  /* the same bytes on every machine: a change here means the generator's
   * output changed (update the value only for a deliberate change) */
  uint64_t h = fnv1a(a.all.data, a.all.size);
  if (h != 0x0e4ff86c29fe8f8eull)
    fprintf(stderr, "fnv1a(seed 7) = 0x%016llx\n", (unsigned long long)h);
  CHECK(h == 0x0e4ff86c29fe8f8eull);
  CHECK(a.all.size != c.all.size ||
        memcmp(a.all.data, c.all.data, (size_t)a.all.size) != 0);
  /* a different seed changes the traffic, not just the ids */
  CHECK(a.n_req != c.n_req || memcmp(a.spans, c.spans, sizeof a.spans) != 0 ||
        a.all.size != c.all.size);
  oa_bytes_reset(&a.all);
  oa_bytes_reset(&b.all);
  oa_bytes_reset(&c.all);
}

OA_TEST(test_span_counts_exact) {
  oa_error es = {{0}}, *err = &es;
  static const int64_t kCases[][2] = {{0, 10},        {1, 1},      {1, 100},
                                      {37, 1},        {500, 7},    {1000, 1000},
                                      {1000, 100000}, {3333, 250}, {2000, 3}};
  for (size_t k = 0; k < sizeof kCases / sizeof kCases[0]; k++) {
    int64_t n = kCases[k][0], max = kCases[k][1];
    run r;
    CHECK_OK(gen_run(&r, n, 42, 10, max, err), err);
    CHECK_EQ_INT(r.total, n);
    int64_t off = 0;
    for (int64_t i = 0; i < r.n_req; i++) {
      CHECK(r.spans[i] >= 1 && r.spans[i] <= max);
      oa_batch b;
      oa_batch_init(&b);
      oa_otlp_result res;
      CHECK_OK(oa_otlp_decode_traces(r.all.data + off, r.sizes[i], NULL, &b,
                                     &res, err),
               err);
      CHECK_EQ_INT(b.length, r.spans[i]);
      CHECK_EQ_INT(res.rejected_spans, 0);
      CHECK_OK(oa_batch_validate(&b, true, err), err);
      oa_batch_reset(&b);
      off += r.sizes[i];
    }
    if (n > 0 && max >= n) CHECK_EQ_INT(r.n_req, 1);
    oa_bytes_reset(&r.all);
  }
}

OA_TEST(test_bad_options) {
  oa_error es = {{0}}, *err = &es;
  oa_trace_gen g;
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  o.services = 0;
  CHECK_FAILS(oa_trace_gen_init(&g, &o, err), EINVAL, err, "services");
  o.services = OA_TRACE_GEN_MAX_SERVICES + 1;
  CHECK_FAILS(oa_trace_gen_init(&g, &o, err), EINVAL, err, "services");
  o.services = 3;
  o.spans = -1;
  CHECK_FAILS(oa_trace_gen_init(&g, &o, err), EINVAL, err, "spans");
  o.spans = 10;
  CHECK_OK(oa_trace_gen_init(&g, &o, err), err);
  oa_bytes out;
  oa_bytes_init(&out);
  int64_t n = -1;
  CHECK_FAILS(oa_trace_gen_next_request(&g, 0, &out, &n, err), EINVAL, err,
              "max_spans");
  oa_trace_gen_reset(&g);
  oa_trace_gen_reset(&g); /* twice is harmless */
  oa_bytes_reset(&out);
}

/* ------------------------------------------------ decoded span statistics */

typedef struct span_row {
  uint8_t trace[16], id[8], parent[8];
  bool has_parent;
  int64_t start, end;
  int32_t kind, status;
  int64_t req;
  int32_t depth;
} span_row;

static const uint8_t *bytes_at(const oa_field *f, const oa_array *a,
                               int64_t i) {
  int64_t len;
  return oa_array_get_bytes(f, a, i, &len);
}

/* Reads a dictionary-encoded string of row i into out. */
static void dict_str(const oa_field *f, const oa_array *a, int64_t i, char *out,
                     size_t cap) {
  int64_t k = oa_array_get_dict_index(f, a, i), len = 0;
  oa_field vf = *f;
  vf.dict.encoded = false;
  const uint8_t *s = oa_array_get_bytes(&vf, a->dictionary, k, &len);
  snprintf(out, cap, "%.*s", (int)len, (const char *)s);
}

static int cmp_row(const void *a, const void *b) {
  const span_row *x = a, *y = b;
  int c = memcmp(x->trace, y->trace, 16);
  return c ? c : memcmp(x->id, y->id, 8);
}

static span_row *find_row(span_row *rows, int64_t n, const uint8_t *trace,
                          const uint8_t *id) {
  span_row key;
  memcpy(key.trace, trace, 16);
  memcpy(key.id, id, 8);
  return bsearch(&key, rows, (size_t)n, sizeof *rows, cmp_row);
}

typedef struct stats {
  int64_t spans, with_events, with_links, errors, error_msgs, exceptions,
      multiline_st;
  int64_t kinds[6];
  int64_t attr_types[8], event_attr_types[8];
  int64_t names, services, trace_state, remote_flag;
} stats;

static int64_t count_distinct_dict(const oa_field *f, const oa_array *a,
                                   int64_t n, char (*seen)[160], int64_t cap,
                                   int64_t have) {
  for (int64_t i = 0; i < n; i++) {
    char s[160];
    dict_str(f, a, i, s, sizeof s);
    bool found = false;
    for (int64_t k = 0; k < have && !found; k++)
      found = strcmp(seen[k], s) == 0;
    if (!found && have < cap) snprintf(seen[have++], 160, "%s", s);
  }
  return have;
}

OA_TEST(test_realistic_traces) {
  oa_error es = {{0}}, *err = &es;
  run r;
  const int64_t N = 20000;
  CHECK_OK(gen_run(&r, N, 3, 20, 1000, err), err);
  CHECK_EQ_INT(r.total, N);
  span_row *rows = calloc((size_t)N, sizeof *rows);
  stats s;
  memset(&s, 0, sizeof s);
  static char names[2000][160], svcs[64][160];
  int64_t n_names = 0, n_svcs = 0, nrow = 0, off = 0;
  for (int64_t q = 0; q < r.n_req; q++) {
    oa_batch b;
    oa_batch_init(&b);
    oa_otlp_result res;
    CHECK_OK(oa_otlp_decode_traces(r.all.data + off, r.sizes[q], NULL, &b, &res,
                                   err),
             err);
    off += r.sizes[q];
    CHECK_EQ_INT(res.rejected_spans, 0);
    const oa_field *F = b.schema->fields;
    const oa_array *C = b.columns;
    for (int64_t i = 0; i < b.length && nrow < N; i++, nrow++) {
      span_row *w = &rows[nrow];
      memcpy(w->trace, bytes_at(&F[OA_SPAN_TRACE_ID], &C[OA_SPAN_TRACE_ID], i),
             16);
      memcpy(w->id, bytes_at(&F[OA_SPAN_SPAN_ID], &C[OA_SPAN_SPAN_ID], i), 8);
      w->has_parent = !oa_array_is_null(&F[OA_SPAN_PARENT_SPAN_ID],
                                        &C[OA_SPAN_PARENT_SPAN_ID], i);
      if (w->has_parent)
        memcpy(
            w->parent,
            bytes_at(&F[OA_SPAN_PARENT_SPAN_ID], &C[OA_SPAN_PARENT_SPAN_ID], i),
            8);
      w->start =
          oa_array_get_int(&F[OA_SPAN_START_TIME], &C[OA_SPAN_START_TIME], i);
      w->end = oa_array_get_int(&F[OA_SPAN_END_TIME], &C[OA_SPAN_END_TIME], i);
      w->kind =
          (int32_t)oa_array_get_int(&F[OA_SPAN_KIND], &C[OA_SPAN_KIND], i);
      w->status = (int32_t)oa_array_get_int(&F[OA_SPAN_STATUS_CODE],
                                            &C[OA_SPAN_STATUS_CODE], i);
      w->req = q;
      if (w->kind >= 0 && w->kind <= 5) s.kinds[w->kind]++;
      if (w->status == 2) {
        s.errors++;
        int64_t len = 0;
        oa_array_get_bytes(&F[OA_SPAN_STATUS_MESSAGE],
                           &C[OA_SPAN_STATUS_MESSAGE], i, &len);
        if (len) s.error_msgs++;
      }
      int64_t tslen = 0;
      oa_array_get_bytes(&F[OA_SPAN_TRACE_STATE], &C[OA_SPAN_TRACE_STATE], i,
                         &tslen);
      if (tslen) s.trace_state++;
      if (oa_array_get_uint(&F[OA_SPAN_FLAGS], &C[OA_SPAN_FLAGS], i) & 0x200)
        s.remote_flag++;
      const int32_t *eo = (const int32_t *)C[OA_SPAN_EVENTS].buffers[1].data;
      const int32_t *lo = (const int32_t *)C[OA_SPAN_LINKS].buffers[1].data;
      if (eo[i + 1] > eo[i]) s.with_events++;
      if (lo[i + 1] > lo[i]) s.with_links++;
      CHECK(w->end >= w->start);
    }
    n_names = count_distinct_dict(&F[OA_SPAN_NAME], &C[OA_SPAN_NAME], b.length,
                                  names, 2000, n_names);
    n_svcs =
        count_distinct_dict(&F[OA_SPAN_SERVICE_NAME], &C[OA_SPAN_SERVICE_NAME],
                            b.length, svcs, 64, n_svcs);
    /* attribute value types over all entries */
    const oa_array *entries = &C[OA_SPAN_ATTRIBUTES].children[0];
    const oa_array *vals = &entries->children[1];
    for (int64_t k = 0; k < vals->length; k++) {
      int64_t t = union_code(vals, k);
      if (t >= 0 && t < 8) s.attr_types[t]++;
    }
    /* events: exception stack traces and attribute types */
    const oa_field *ef = &F[OA_SPAN_EVENTS].children[0];
    const oa_array *ev = &C[OA_SPAN_EVENTS].children[0];
    const oa_array *eattrs = &ev->children[2];
    const oa_field *eaf = &ef->children[2];
    const oa_array *ekeys = &eattrs->children[0].children[0];
    const oa_array *evals = &eattrs->children[0].children[1];
    for (int64_t k = 0; k < ev->length; k++) {
      char nm[160];
      dict_str(&ef->children[1], &ev->children[1], k, nm, sizeof nm);
      if (strcmp(nm, "exception") == 0) s.exceptions++;
    }
    for (int64_t k = 0; k < ekeys->length; k++) {
      char key[160];
      dict_str(&eaf->children[0].children[0], ekeys, k, key, sizeof key);
      int64_t t = union_code(evals, k);
      if (t >= 0 && t < 8) s.event_attr_types[t]++;
      if (strcmp(key, "exception.stacktrace") == 0) {
        CHECK_EQ_INT(t, OA_ATTR_STR);
        int64_t len = 0;
        const uint8_t *st = oa_array_get_bytes(
            &eaf->children[0].children[1].children[OA_ATTR_VALUE_STR],
            &evals->children[OA_ATTR_VALUE_STR], union_row(evals, k), &len);
        if (memchr(st, '\n', (size_t)len) && len > 100) s.multiline_st++;
      }
    }
    oa_batch_reset(&b);
  }
  CHECK_EQ_INT(nrow, N);
  qsort(rows, (size_t)N, sizeof *rows, cmp_row);
  /* unique ids */
  int64_t dups = 0;
  for (int64_t i = 1; i < N; i++)
    dups += cmp_row(&rows[i - 1], &rows[i]) == 0;
  CHECK_EQ_INT(dups, 0);
  /* parents in the same trace, children inside their parent's window
   * (a consumer may run after its producer finished) */
  int64_t orphans = 0, outside = 0, roots = 0, traces = 0, split = 0;
  for (int64_t i = 0; i < N; i++) {
    span_row *w = &rows[i];
    if (i == 0 || memcmp(rows[i - 1].trace, w->trace, 16) != 0) traces++;
    if (!w->has_parent) {
      roots++;
      CHECK_EQ_INT(w->kind, 2);
      continue;
    }
    span_row *p = find_row(rows, N, w->trace, w->parent);
    if (!p) {
      orphans++;
      continue;
    }
    if (p->req != w->req) split++;
    if (w->start < p->start)
      outside++;
    else if (p->kind != 4 && w->end > p->end)
      outside++;
  }
  CHECK_EQ_INT(orphans, 0);
  CHECK_EQ_INT(outside, 0);
  CHECK_EQ_INT(roots, traces); /* exactly one root per trace */
  CHECK_EQ_INT(split, 0);      /* batch 1000 > the largest trace: none split */
  /* depth: follow parents (they are in the same trace) */
  int64_t depth_hist[16] = {0};
  for (int64_t i = 0; i < N; i++) {
    int d = 1;
    span_row *w = &rows[i];
    while (w->has_parent && d < 15) {
      w = find_row(rows, N, w->trace, w->parent);
      if (!w) break;
      d++;
    }
    depth_hist[d]++;
  }
  for (int d = 7; d < 16; d++)
    CHECK_EQ_INT(depth_hist[d], 0);
  for (int d = 1; d <= 6; d++)
    CHECK(depth_hist[d] > 0);
  /* rates (bounds are loose: they guard against a broken generator, not a
   * retuned one) */
  double n = (double)N;
  fprintf(stderr,
          "gen stats: %lld traces (%.1f spans/trace), %lld names, %lld "
          "services, events %.1f%%, "
          "links %.1f%%, errors %.2f%% (%lld with message), exceptions %lld, "
          "trace_state %.1f%%\n",
          (long long)traces, n / (double)traces, (long long)n_names,
          (long long)n_svcs, 100.0 * (double)s.with_events / n,
          100.0 * (double)s.with_links / n, 100.0 * (double)s.errors / n,
          (long long)s.error_msgs, (long long)s.exceptions,
          100.0 * (double)s.trace_state / n);
  CHECK(traces > 100 && traces < N / 4);
  CHECK(n_names >= 150);
  CHECK_EQ_INT(n_svcs, 20);
  for (int k = 1; k <= 5; k++)
    CHECK(s.kinds[k] > 0);
  CHECK_EQ_INT(s.kinds[0], 0);
  CHECK(s.kinds[3] > s.kinds[1] / 4); /* plenty of client spans */
  CHECK(s.with_events > N / 50 && s.with_events < N / 2);
  CHECK(s.with_links > 0 && s.with_links < N / 10);
  CHECK(s.errors > N / 500 && s.errors < N / 10);
  CHECK(s.error_msgs > 0 && s.error_msgs < s.errors);
  CHECK(s.exceptions > 0);
  CHECK_EQ_INT(s.multiline_st, s.exceptions);
  CHECK(s.trace_state > 0 && s.trace_state < N / 3);
  CHECK(s.remote_flag > 0);
  /* every attribute value type appears (kvlist in feature flag events) */
  for (int t = OA_ATTR_STR; t <= OA_ATTR_BYTES; t++)
    if (t != OA_ATTR_KVLIST) CHECK(s.attr_types[t] > 0);
  CHECK(s.event_attr_types[OA_ATTR_KVLIST] > 0);
  CHECK_EQ_INT(s.attr_types[OA_ATTR_EMPTY], 0);
  CHECK(s.attr_types[OA_ATTR_STR] >
        3 * N); /* several string attributes per span */
  free(rows);
  oa_bytes_reset(&r.all);
}

/* A trace bigger than max_spans is split, smaller ones never are. */
OA_TEST(test_trace_split) {
  oa_error es = {{0}}, *err = &es;
  run r;
  const int64_t N = 3000, MAX = 40;
  CHECK_OK(gen_run(&r, N, 11, 10, MAX, err), err);
  CHECK_EQ_INT(r.total, N);
  /* request -> set of trace ids (first 8 bytes are enough to tell) */
  typedef struct tr {
    uint64_t id;
    int64_t first_req, last_req, n;
  } tr;
  tr *t = calloc((size_t)N, sizeof *t);
  int64_t nt = 0, off = 0;
  for (int64_t q = 0; q < r.n_req; q++) {
    oa_batch b;
    oa_batch_init(&b);
    CHECK_OK(oa_otlp_decode_traces(r.all.data + off, r.sizes[q], NULL, &b, NULL,
                                   err),
             err);
    off += r.sizes[q];
    CHECK(b.length <= MAX);
    for (int64_t i = 0; i < b.length; i++) {
      uint64_t id;
      memcpy(&id, bytes_at(&b.schema->fields[0], &b.columns[0], i), 8);
      int64_t k = 0;
      while (k < nt && t[k].id != id)
        k++;
      if (k == nt) t[nt++] = (tr){id, q, q, 0};
      t[k].last_req = q;
      t[k].n++;
    }
    oa_batch_reset(&b);
  }
  int64_t big = 0;
  for (int64_t k = 0; k < nt; k++) {
    if (t[k].n > MAX) {
      big++;
      CHECK(t[k].last_req > t[k].first_req);
    } else {
      CHECK_EQ_INT(t[k].last_req, t[k].first_req);
    }
  }
  CHECK(big > 0); /* the data has traces larger than 40 spans */
  free(t);
  oa_bytes_reset(&r.all);
}

/* Requests group spans as an SDK/collector would: each (resource, scope)
 * appears once per request, so the decoder's ids only ever increase. */
OA_TEST(test_grouping) {
  oa_error es = {{0}}, *err = &es;
  run r;
  CHECK_OK(gen_run(&r, 4000, 5, 20, 500, err), err);
  int64_t off = 0;
  for (int64_t q = 0; q < r.n_req; q++) {
    oa_batch b;
    oa_batch_init(&b);
    CHECK_OK(oa_otlp_decode_traces(r.all.data + off, r.sizes[q], NULL, &b, NULL,
                                   err),
             err);
    off += r.sizes[q];
    const oa_field *F = b.schema->fields;
    int64_t prev_res = -1, prev_scope = -1, n_res = 0;
    for (int64_t i = 0; i < b.length; i++) {
      int64_t res = oa_array_get_int(&F[OA_SPAN_RESOURCE_ID],
                                     &b.columns[OA_SPAN_RESOURCE_ID], i);
      int64_t sc = oa_array_get_int(&F[OA_SPAN_SCOPE_ID],
                                    &b.columns[OA_SPAN_SCOPE_ID], i);
      CHECK(res == prev_res || res == prev_res + 1);
      CHECK(sc == prev_scope || sc == prev_scope + 1);
      if (res != prev_res) {
        n_res++;
        CHECK(sc == prev_scope + 1); /* a new resource starts a new scope */
      }
      prev_res = res;
      prev_scope = sc;
    }
    /* at most 3 instances of 20 services */
    CHECK(n_res >= 1 && n_res <= 60);
    /* the resource of each group carries its service.name */
    CHECK(oa_array_null_count(&F[OA_SPAN_SERVICE_NAME],
                              &b.columns[OA_SPAN_SERVICE_NAME]) == 0);
    oa_batch_reset(&b);
  }
  oa_bytes_reset(&r.all);
}

/* The encoder's output of a generated request decodes to the same batch:
 * the generator writes nothing our codec cannot carry. */
OA_TEST(test_codec_roundtrip) {
  oa_error es = {{0}}, *err = &es;
  run r;
  CHECK_OK(gen_run(&r, 3000, 9, 20, 3000, err), err);
  oa_batch a, b;
  oa_batch_init(&a);
  oa_batch_init(&b);
  CHECK_OK(oa_otlp_decode_traces(r.all.data, r.sizes[0], NULL, &a, NULL, err),
           err);
  oa_bytes enc;
  oa_bytes_init(&enc);
  CHECK_OK(oa_otlp_encode_traces(&a, &enc, err), err);
  CHECK_OK(oa_otlp_decode_traces(enc.data, enc.size, NULL, &b, NULL, err), err);
  CHECK(oa_batch_equals(&a, &b, err));
  /* our writer omits defaults and orders fields as the encoder does */
  CHECK_EQ_INT(enc.size, r.sizes[0]);
  oa_bytes_reset(&enc);
  oa_batch_reset(&a);
  oa_batch_reset(&b);
  oa_bytes_reset(&r.all);
}

OA_TEST_MAIN(OA_T(test_deterministic), OA_T(test_span_counts_exact),
             OA_T(test_bad_options), OA_T(test_realistic_traces),
             OA_T(test_trace_split), OA_T(test_grouping),
             OA_T(test_codec_roundtrip))
