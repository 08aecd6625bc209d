/* The exporter (include/otlparrow/exporter.h) against the Flight service
 * in-process: rows stored by the server are read back as OTLP/JSON and
 * compared field by field with the span records that were added. */
#include <pthread.h>

#include "exp_test_util.h"

static json_object *jget(json_object *o, const char *key) {
  json_object *v = NULL;
  if (!o || !json_object_object_get_ex(o, key, &v)) return NULL;
  return v;
}

static const char *jstr(json_object *o, const char *key) {
  json_object *v = jget(o, key);
  return v ? json_object_get_string(v) : "";
}

static json_object *jidx(json_object *a, size_t i) {
  if (!a || !json_object_is_type(a, json_type_array) ||
      i >= json_object_array_length(a))
    return NULL;
  return json_object_array_get_idx(a, i);
}

/* The value object of attribute `key` in an OTLP/JSON attribute list. */
static json_object *jattr(json_object *attrs, const char *key) {
  size_t n = attrs ? json_object_array_length(attrs) : 0;
  for (size_t i = 0; i < n; i++) {
    json_object *kv = json_object_array_get_idx(attrs, i);
    if (strcmp(jstr(kv, "key"), key) == 0) return jget(kv, "value");
  }
  return NULL;
}

static void log_stderr(void *ctx, int level, const char *msg) {
  (void)ctx;
  if (getenv("OA_TEST_VERBOSE")) fprintf(stderr, "[%d] %s\n", level, msg);
}

static oa_exporter *new_exporter(oa_exporter_config *c) {
  oa_error err_, *err = &err_;
  if (!c->log) c->log = log_stderr;
  oa_exporter *e = NULL;
  CHECK_OK(oa_exporter_new(&e, c, err), err);
  return e;
}

OA_TEST(test_rows_field_by_field) {
  oa_error err_, *err = &err_;
  xserver t;
  oa_exporter_config c;
  xs_start_config(&t, &c);
  oa_exporter *e = new_exporter(&c);

  oa_keyvalue res_attrs[] = {OA_KV_STR("host.name", "h1")};
  oa_resource *r1, *r2;
  CHECK_OK(oa_resource_new(&r1, "checkout", res_attrs, 1, "https://s/1", err),
           err);
  CHECK_OK(oa_resource_new(&r2, "cart", NULL, 0, NULL, err), err);
  oa_keyvalue scope_attrs[] = {OA_KV_BOOL("sampled", true)};
  oa_scope *sc;
  CHECK_OK(oa_scope_new(&sc, "lib", "1.2.3", scope_attrs, 1, NULL, err), err);

  /* every value type, nested */
  oa_anyvalue arr[] = {{.type = OA_ANY_INT, .v.i = 7},
                       {.type = OA_ANY_STRING, .v.str = {"x", 1}}};
  oa_keyvalue inner[] = {OA_KV_DOUBLE("d", 0.5)};
  static const uint8_t raw[] = {0, 1, 0xff};
  oa_keyvalue attrs[] = {
      OA_KV_STR("http.method", "GET"),
      OA_KV_INT("http.status_code", -42),
      OA_KV_DOUBLE("ratio", 2.25),
      OA_KV_BOOL("ok", false),
      {.key = "blob", .value = {.type = OA_ANY_BYTES, .v.bytes = {raw, 3}}},
      {.key = "list", .value = {.type = OA_ANY_ARRAY, .v.array = {arr, 2}}},
      {.key = "map", .value = {.type = OA_ANY_KVLIST, .v.kvlist = {inner, 1}}},
      {.key = "none", .value = {.type = OA_ANY_EMPTY}},
  };
  oa_keyvalue ev_attrs[] = {OA_KV_STR("exception.type", "E")};
  oa_span_event ev = {.time_unix_nano = 1700000000000000100ll,
                      .name = "exception",
                      .attrs = ev_attrs,
                      .n_attrs = 1,
                      .dropped_attributes_count = 3};
  oa_span_link ln = {.trace_state = "k=v", .flags = 1, .n_attrs = 0};
  memset(ln.trace_id, 0x11, 16);
  memset(ln.span_id, 0x22, 8);

  oa_span sp[3];
  for (int i = 0; i < 3; i++)
    xs_span(&sp[i], i, NULL, 0);
  sp[0].attrs = attrs;
  sp[0].n_attrs = sizeof attrs / sizeof attrs[0];
  sp[0].events = &ev;
  sp[0].n_events = 1;
  sp[0].links = &ln;
  sp[0].n_links = 1;
  sp[0].trace_state = "ts=1";
  sp[0].flags = 0x301;
  sp[0].status_code = OA_STATUS_ERROR;
  sp[0].status_message = "boom";
  sp[0].dropped_attributes_count = 4;
  sp[0].dropped_events_count = 5;
  sp[0].dropped_links_count = 6;
  sp[0].resource = r1;
  sp[0].scope = sc;
  sp[1].resource = r1;
  sp[1].scope = sc;
  sp[1].has_parent = true;
  memcpy(sp[1].parent_span_id, sp[0].span_id, 8);
  sp[1].kind = OA_SPAN_KIND_CLIENT;
  sp[1].name = "child";
  sp[2].resource = r2;
  CHECK_OK(oa_exporter_add(e, sp, 2, err), err);
  CHECK_OK(oa_exporter_add(e, &sp[2], 1, err), err);
  /* the records and objects may go away right after add */
  oa_resource_free(r1);
  oa_resource_free(r2);
  oa_scope_free(sc);
  CHECK_OK(oa_exporter_flush(e, 10000, err), err);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_accepted, 3);
  CHECK_EQ_INT(m.spans_exported, 3);
  CHECK_EQ_INT(m.batches_exported, 1);
  CHECK_EQ_INT(m.spans_failed, 0);
  CHECK(m.bytes_sent > 0);
  CHECK_EQ_INT(m.latency_count, 1);
  CHECK_EQ_INT(m.queue_depth_spans, 0);

  json_object *all = xs_json(&t, "spans");
  CHECK_EQ_INT(json_object_array_length(all), 1);
  json_object *rss = jget(jidx(all, 0), "resourceSpans");
  CHECK_EQ_INT(rss ? json_object_array_length(rss) : 0, 2);
  json_object *rs0 = jidx(rss, 0), *rs1 = jidx(rss, 1);
  json_object *rattrs = jget(jget(rs0, "resource"), "attributes");
  CHECK_EQ_STR(jstr(jattr(rattrs, "service.name"), "stringValue"), "checkout");
  CHECK_EQ_STR(jstr(jattr(rattrs, "host.name"), "stringValue"), "h1");
  CHECK_EQ_STR(jstr(rs0, "schemaUrl"), "https://s/1");
  CHECK_EQ_STR(
      jstr(jattr(jget(jget(rs1, "resource"), "attributes"), "service.name"),
           "stringValue"),
      "cart");
  json_object *ss0 = jidx(jget(rs0, "scopeSpans"), 0);
  CHECK_EQ_STR(jstr(jget(ss0, "scope"), "name"), "lib");
  CHECK_EQ_STR(jstr(jget(ss0, "scope"), "version"), "1.2.3");
  CHECK(json_object_get_boolean(jget(
      jattr(jget(jget(ss0, "scope"), "attributes"), "sampled"), "boolValue")));
  json_object *spans = jget(ss0, "spans");
  CHECK_EQ_INT(spans ? json_object_array_length(spans) : 0, 2);
  json_object *s0 = jidx(spans, 0), *s1 = jidx(spans, 1);
  CHECK_EQ_STR(jstr(s0, "traceId"), "0000000000000000a8a9aaabacadaeaf");
  CHECK_EQ_STR(jstr(s0, "spanId"), "0100000000000000");
  CHECK(jget(s0, "parentSpanId") == NULL ||
        strcmp(jstr(s0, "parentSpanId"), "") == 0);
  CHECK_EQ_STR(jstr(s1, "parentSpanId"), "0100000000000000");
  CHECK_EQ_STR(jstr(s0, "traceState"), "ts=1");
  CHECK_EQ_INT(json_object_get_int64(jget(s0, "flags")), 0x301);
  CHECK_EQ_STR(jstr(s0, "name"), "op");
  CHECK_EQ_STR(jstr(s1, "name"), "child");
  CHECK_EQ_INT(json_object_get_int(jget(s0, "kind")), 2);
  CHECK_EQ_INT(json_object_get_int(jget(s1, "kind")), 3);
  CHECK_EQ_STR(jstr(s0, "startTimeUnixNano"), "1700000000000000000");
  CHECK_EQ_STR(jstr(s0, "endTimeUnixNano"), "1700000000000000500");
  json_object *a = jget(s0, "attributes");
  CHECK_EQ_INT(a ? json_object_array_length(a) : 0, 8);
  CHECK_EQ_STR(jstr(jattr(a, "http.method"), "stringValue"), "GET");
  CHECK_EQ_STR(jstr(jattr(a, "http.status_code"), "intValue"), "-42");
  CHECK(json_object_get_double(jget(jattr(a, "ratio"), "doubleValue")) == 2.25);
  CHECK(jget(jattr(a, "ok"), "boolValue") != NULL &&
        !json_object_get_boolean(jget(jattr(a, "ok"), "boolValue")));
  CHECK_EQ_STR(jstr(jattr(a, "blob"), "bytesValue"), "AAH/");
  json_object *lv = jget(jget(jattr(a, "list"), "arrayValue"), "values");
  CHECK_EQ_STR(jstr(jidx(lv, 0), "intValue"), "7");
  CHECK_EQ_STR(jstr(jidx(lv, 1), "stringValue"), "x");
  json_object *mv = jget(jget(jattr(a, "map"), "kvlistValue"), "values");
  CHECK_EQ_STR(jstr(jidx(mv, 0), "key"), "d");
  CHECK(json_object_get_double(
            jget(jget(jidx(mv, 0), "value"), "doubleValue")) == 0.5);
  CHECK(jattr(a, "none") != NULL);
  CHECK_EQ_INT(json_object_get_int(jget(s0, "droppedAttributesCount")), 4);
  CHECK_EQ_INT(json_object_get_int(jget(s0, "droppedEventsCount")), 5);
  CHECK_EQ_INT(json_object_get_int(jget(s0, "droppedLinksCount")), 6);
  json_object *e0 = jidx(jget(s0, "events"), 0);
  CHECK_EQ_STR(jstr(e0, "name"), "exception");
  CHECK_EQ_STR(jstr(e0, "timeUnixNano"), "1700000000000000100");
  CHECK_EQ_STR(
      jstr(jattr(jget(e0, "attributes"), "exception.type"), "stringValue"),
      "E");
  CHECK_EQ_INT(json_object_get_int(jget(e0, "droppedAttributesCount")), 3);
  json_object *l0 = jidx(jget(s0, "links"), 0);
  CHECK_EQ_STR(jstr(l0, "traceId"), "11111111111111111111111111111111");
  CHECK_EQ_STR(jstr(l0, "spanId"), "2222222222222222");
  CHECK_EQ_STR(jstr(l0, "traceState"), "k=v");
  CHECK_EQ_INT(json_object_get_int(jget(l0, "flags")), 1);
  CHECK_EQ_STR(jstr(jget(s0, "status"), "message"), "boom");
  CHECK_EQ_INT(json_object_get_int(jget(jget(s0, "status"), "code")), 2);
  json_object_put(all);

  /* bad spans are refused before anything is added */
  oa_span bad[2];
  xs_span(&bad[0], 10, NULL, 0);
  xs_span(&bad[1], 11, NULL, 0);
  memset(bad[1].span_id, 0, 8);
  CHECK_FAILS(oa_exporter_add(e, bad, 2, err), EINVAL, err,
              "span 1: span_id is all zero");
  oa_anyvalue deep[40];
  for (int i = 0; i < 40; i++) {
    deep[i].type = i == 39 ? OA_ANY_INT : OA_ANY_ARRAY;
    if (i < 39) {
      deep[i].v.array.values = &deep[i + 1];
      deep[i].v.array.n = 1;
    }
  }
  oa_keyvalue dkv = {.key = "deep", .value = deep[0]};
  bad[1] = bad[0];
  bad[1].attrs = &dkv;
  bad[1].n_attrs = 1;
  CHECK_FAILS(oa_exporter_add(e, bad, 2, err), EINVAL, err, "nesting");
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_accepted, 3);

  CHECK_OK(oa_exporter_shutdown(e, 5000, err), err);
  CHECK_FAILS(oa_exporter_add(e, sp, 1, err), EPIPE, err, "shut down");
  oa_exporter_free(e);
  xs_stop(&t);
}

OA_TEST(test_config_errors) {
  oa_error err_, *err = &err_;
  oa_exporter_config c;
  oa_exporter_config_init(&c);
  oa_exporter *e = NULL;
  CHECK_FAILS(oa_exporter_new(&e, &c, err), EINVAL, err, "endpoint");
  c.endpoint = "grpc://127.0.0.1:1";
  c.batch_size = 0;
  CHECK_FAILS(oa_exporter_new(&e, &c, err), EINVAL, err, "batch_size");
  c.batch_size = 10;
  c.connections = 0;
  CHECK_FAILS(oa_exporter_new(&e, &c, err), EINVAL, err, "connections");
  c.connections = 1;
  c.endpoint = "http://x:1";
  CHECK(oa_exporter_new(&e, &c, err) == EINVAL);
  CHECK(e == NULL);
}

/* batches by size, the rest by flush */
OA_TEST(test_batch_size) {
  oa_error err_, *err = &err_;
  xserver t;
  oa_exporter_config c;
  xs_start_config(&t, &c);
  c.batch_size = 100;
  c.flush_interval_ms = 600000;
  c.max_in_flight = 1; /* one sender: batches arrive in order */
  oa_exporter *e = new_exporter(&c);
  oa_keyvalue kv[] = {OA_KV_STR("k", "v")};
  oa_span sp[250];
  for (int i = 0; i < 250; i++)
    xs_span(&sp[i], i, kv, 1);
  CHECK_OK(oa_exporter_add(e, sp, 150, err), err);
  CHECK_OK(oa_exporter_add(e, sp + 150, 100, err), err);
  XS_WAIT_METRIC(e, spans_exported, 200);
  int64_t nb = 0;
  CHECK_EQ_INT(xs_rows(&t, "spans", &nb), 200);
  CHECK_EQ_INT(nb, 2);
  CHECK_OK(oa_exporter_flush(e, 10000, err), err);
  CHECK_EQ_INT(xs_rows(&t, "spans", &nb), 250);
  CHECK_EQ_INT(nb, 3);
  /* span i is row i */
  json_object *all = xs_json(&t, "spans");
  json_object *last =
      jidx(jget(jidx(jget(jidx(jget(jidx(all, 2), "resourceSpans"), 0),
                          "scopeSpans"),
                     0),
                "spans"),
           49);
  CHECK_EQ_STR(jstr(last, "spanId"), "fa00000000000000"); /* 249 + 1 */
  json_object_put(all);
  oa_exporter_free(e);
  xs_stop(&t);
}

typedef struct fake_clock {
  pthread_mutex_t mu;
  int64_t ms;
} fake_clock;

static int64_t fake_now(void *ctx) {
  fake_clock *f = ctx;
  pthread_mutex_lock(&f->mu);
  int64_t v = f->ms;
  pthread_mutex_unlock(&f->mu);
  return v;
}

static void fake_advance(fake_clock *f, int64_t d) {
  pthread_mutex_lock(&f->mu);
  f->ms += d;
  pthread_mutex_unlock(&f->mu);
}

/* a partial batch goes out when the interval elapses on the clock */
OA_TEST(test_flush_interval) {
  oa_error err_, *err = &err_;
  xserver t;
  xs_start(&t, NULL, 0, NULL);
  fake_clock fc = {PTHREAD_MUTEX_INITIALIZER, 1000};
  oa_exporter_config c;
  oa_exporter_config_init(&c);
  c.endpoint = t.uri;
  c.flush_interval_ms = 5000;
  c.clock = fake_now;
  c.clock_ctx = &fc;
  oa_exporter *e = new_exporter(&c);
  oa_span sp[10];
  for (int i = 0; i < 10; i++)
    xs_span(&sp[i], i, NULL, 0);
  CHECK_OK(oa_exporter_add(e, sp, 10, err), err);
  usleep(200000); /* real time passes, the fake clock does not */
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_exported, 0);
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 0);
  fake_advance(&fc, 4999);
  usleep(100000);
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 0);
  fake_advance(&fc, 1);
  XS_WAIT_METRIC(e, spans_exported, 10);
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 10);
  oa_exporter_free(e);
  xs_stop(&t);
}

/* The interval seal does not depend on an idle sender: with the only
 * sender waiting out a long retry backoff, a partial batch is still sealed
 * (and queued) when the interval elapses. */
OA_TEST(test_interval_seal_while_senders_retry) {
  oa_error err_, *err = &err_;
  fake_clock fc = {PTHREAD_MUTEX_INITIALIZER, 1000};
  oa_exporter_config c;
  oa_exporter_config_init(&c);
  c.endpoint = "grpc://127.0.0.1:1"; /* nothing listens */
  c.connections = 1;
  c.max_in_flight = 1;
  c.batch_size = 10;
  c.flush_interval_ms = 5000;
  c.retry.initial_ms = 600000;
  c.retry.max_ms = 600000;
  c.retry.max_elapsed_ms = 6000000;
  c.clock = fake_now;
  c.clock_ctx = &fc;
  oa_exporter *e = new_exporter(&c);
  oa_span sp[13];
  for (int i = 0; i < 13; i++)
    xs_span(&sp[i], i, NULL, 0);
  CHECK_OK(oa_exporter_add(e, sp, 10, err), err); /* a full batch */
  XS_WAIT_METRIC(e, retries, 1);                  /* the sender backs off */
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.retries, 1);
  CHECK_OK(oa_exporter_add(e, sp + 10, 3, err), err);
  usleep(100000);
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.queue_depth_batches, 1); /* 3 spans still open */
  fake_advance(&fc, 5000);
  XS_WAIT_METRIC(e, queue_depth_batches, 2);
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.queue_depth_batches, 2);
  CHECK_EQ_INT(m.queue_depth_spans, 13);
  CHECK_EQ_INT(m.spans_exported, 0);
  oa_exporter_free(e);
}

/* nothing listens: batches stay buffered, the policies decide */
OA_TEST(test_overflow_policies) {
  oa_error err_, *err = &err_;
  oa_span sp[300];
  for (int i = 0; i < 300; i++)
    xs_span(&sp[i], i, NULL, 0);
  for (int pol = 0; pol < 3; pol++) {
    oa_exporter_config c;
    oa_exporter_config_init(&c);
    c.endpoint = "grpc://127.0.0.1:1";
    c.batch_size = 50;
    c.max_buffer_spans = 100;
    c.max_in_flight = 1;
    c.overflow = (oa_overflow_policy)pol;
    c.block_timeout_ms = 100;
    c.retry.initial_ms = 50;
    c.retry.max_elapsed_ms = 600000;
    oa_exporter *e = new_exporter(&c);
    CHECK_OK(oa_exporter_add(e, sp, 100, err), err);
    usleep(50000); /* the sender takes the first batch */
    oa_exporter_metrics m;
    if (pol == OA_OVERFLOW_BLOCK) {
      CHECK_FAILS(oa_exporter_add(e, sp + 100, 10, err), ETIMEDOUT, err,
                  "buffer full");
      oa_exporter_get_metrics(e, &m);
      CHECK_EQ_INT(m.spans_dropped, 10);
      CHECK_EQ_INT(m.spans_accepted, 100);
    } else if (pol == OA_OVERFLOW_DROP_NEWEST) {
      CHECK_FAILS(oa_exporter_add(e, sp + 100, 10, err), EAGAIN, err,
                  "10 spans dropped");
      oa_exporter_get_metrics(e, &m);
      CHECK_EQ_INT(m.spans_dropped, 10);
      CHECK_EQ_INT(m.spans_accepted, 100);
      CHECK_EQ_INT(m.queue_depth_spans, 100);
    } else {
      /* the oldest queued batch (not the one being sent) makes room */
      CHECK_OK(oa_exporter_add(e, sp + 100, 50, err), err);
      oa_exporter_get_metrics(e, &m);
      CHECK_EQ_INT(m.spans_dropped, 50);
      CHECK_EQ_INT(m.batches_dropped, 1);
      CHECK_EQ_INT(m.spans_accepted, 150);
      CHECK_EQ_INT(m.queue_depth_spans, 100);
    }
    CHECK(m.retries >= 1 || pol != OA_OVERFLOW_BLOCK);
    /* add_batch is refused without counting (the receiver retries) */
    oa_batch b;
    oa_batch_init(&b);
    oa_bytes req;
    oa_bytes_init(&req);
    oa_trace_gen_options go;
    oa_trace_gen_options_default(&go);
    go.spans = 20;
    oa_trace_gen g;
    CHECK_OK(oa_trace_gen_init(&g, &go, err), err);
    int64_t got;
    CHECK_OK(oa_trace_gen_next_request(&g, 20, &req, &got, err), err);
    CHECK_OK(oa_otlp_decode_traces(req.data, req.size, NULL, &b, NULL, err),
             err);
    if (pol != OA_OVERFLOW_DROP_OLDEST) {
      int rc = oa_exporter_add_batch(e, &b, err);
      CHECK(rc == EAGAIN || rc == ETIMEDOUT);
      oa_exporter_metrics m2;
      oa_exporter_get_metrics(e, &m2);
      CHECK_EQ_INT(m2.spans_dropped, m.spans_dropped);
    }
    oa_batch_reset(&b);
    oa_bytes_reset(&req);
    oa_trace_gen_reset(&g);
    /* shutdown gives up: what is left counts as failed */
    CHECK_FAILS(oa_exporter_shutdown(e, 100, err), ETIMEDOUT, err,
                "still unsent");
    oa_exporter_get_metrics(e, &m);
    CHECK_EQ_INT(m.spans_exported, 0);
    CHECK_EQ_INT(m.spans_failed + m.spans_dropped - (pol == 2 ? 0 : 10),
                 m.spans_accepted);
    oa_exporter_free(e);
  }
}

/* The server is full (UNAVAILABLE + RetryInfo) until the test makes room. */
OA_TEST(test_retry_then_success) {
  oa_error err_, *err = &err_;
  xserver t;
  /* measure what one filler batch costs, then leave no room */
  oa_batch filler;
  oa_batch_init(&filler);
  {
    oa_trace_gen_options go;
    oa_trace_gen_options_default(&go);
    go.spans = 2000;
    oa_trace_gen g;
    CHECK_OK(oa_trace_gen_init(&g, &go, err), err);
    oa_bytes req;
    oa_bytes_init(&req);
    int64_t got;
    CHECK_OK(oa_trace_gen_next_request(&g, 2000, &req, &got, err), err);
    CHECK_OK(
        oa_otlp_decode_traces(req.data, req.size, NULL, &filler, NULL, err),
        err);
    oa_bytes_reset(&req);
    oa_trace_gen_reset(&g);
  }
  xs_start(&t, NULL, 0, NULL);
  CHECK_OK(oa_datasets_append(t.d, "filler", &filler, err), err);
  int64_t used = oa_datasets_memory_used(t.d);
  xs_stop(&t);
  xs_start(&t, NULL, used + 1024, NULL);
  CHECK_OK(oa_datasets_append(t.d, "filler", &filler, err), err);

  oa_exporter_config c;
  oa_exporter_config_init(&c);
  c.endpoint = t.uri;
  c.retry.initial_ms = 20;
  c.retry.max_elapsed_ms = 20000;
  oa_exporter *e = new_exporter(&c);
  oa_keyvalue kv[10];
  char keys[10][8];
  for (int i = 0; i < 10; i++) {
    snprintf(keys[i], sizeof keys[i], "k%d", i);
    kv[i] = (oa_keyvalue)OA_KV_STR(keys[i], "some attribute value");
  }
  oa_span sp[500];
  for (int i = 0; i < 500; i++)
    xs_span(&sp[i], i, kv, 10);
  CHECK_OK(oa_exporter_add(e, sp, 500, err), err);
  CHECK_FAILS(oa_exporter_flush(e, 300, err), ETIMEDOUT, err, "500 spans");
  XS_WAIT_METRIC(e, retries, 1);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK(m.retries >= 1);
  CHECK_EQ_INT(m.last_status, 14); /* UNAVAILABLE */
  CHECK_EQ_INT(m.spans_exported, 0);
  CHECK_OK(oa_datasets_drop(t.d, "filler", err), err);
  CHECK_OK(oa_exporter_flush(e, 10000, err), err);
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_exported, 500);
  CHECK_EQ_INT(m.spans_failed, 0);
  CHECK_EQ_INT(m.last_status, 0);
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 500);
  /* the latency of the retried batch includes the server's 1 s delay */
  CHECK(m.latency_sum_ms >= 900);
  oa_exporter_free(e);
  oa_batch_reset(&filler);
  xs_stop(&t);
}

OA_TEST(test_wrong_token_not_retried) {
  oa_error err_, *err = &err_;
  xserver t;
  xs_start(&t, "s3cret", 0, NULL);
  for (int good = 0; good < 2; good++) {
    oa_exporter_config c;
    oa_exporter_config_init(&c);
    c.endpoint = t.uri;
    c.token = good ? "s3cret" : "wrong";
    c.retry.initial_ms = 10;
    oa_exporter *e = new_exporter(&c);
    oa_span sp[20];
    for (int i = 0; i < 20; i++)
      xs_span(&sp[i], i, NULL, 0);
    CHECK_OK(oa_exporter_add(e, sp, 20, err), err);
    CHECK_OK(oa_exporter_flush(e, 10000, err), err);
    oa_exporter_metrics m;
    oa_exporter_get_metrics(e, &m);
    CHECK_EQ_INT(m.retries, 0);
    CHECK_EQ_INT(m.spans_failed, good ? 0 : 20);
    CHECK_EQ_INT(m.batches_failed, good ? 0 : 1);
    CHECK_EQ_INT(m.auth_failures, good ? 0 : 1);
    CHECK_EQ_INT(m.spans_exported, good ? 20 : 0);
    CHECK_EQ_INT(m.last_status, good ? 0 : 16); /* UNAUTHENTICATED */
    CHECK_EQ_INT(xs_rows(&t, "spans", NULL), good ? 20 : 0);
    oa_exporter_free(e);
  }
  xs_stop(&t);
}

/* unreachable for longer than max_elapsed: failed, counted, not lost */
OA_TEST(test_retries_exhausted) {
  oa_error err_, *err = &err_;
  oa_exporter_config c;
  oa_exporter_config_init(&c);
  c.endpoint = "grpc://127.0.0.1:1";
  c.retry.initial_ms = 20;
  c.retry.max_elapsed_ms = 300;
  c.deadline_ms = 1000;
  oa_exporter *e = new_exporter(&c);
  oa_span sp[30];
  for (int i = 0; i < 30; i++)
    xs_span(&sp[i], i, NULL, 0);
  CHECK_OK(oa_exporter_add(e, sp, 30, err), err);
  CHECK_OK(oa_exporter_flush(e, 10000, err), err);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_failed, 30);
  CHECK(m.retries >= 1);
  CHECK_EQ_INT(m.spans_exported, 0);
  oa_exporter_free(e);
}

/* add_batch forwards decoded OTLP batches as they are */
OA_TEST(test_add_batch_compressed) {
  oa_error err_, *err = &err_;
  xserver t;
  oa_exporter_config c;
  xs_start_config(&t, &c);
  c.compression = OA_COMPRESSION_ZSTD;
  c.connections = 2;
  oa_exporter *e = new_exporter(&c);
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = 3000;
  oa_trace_gen g;
  CHECK_OK(oa_trace_gen_init(&g, &go, err), err);
  oa_bytes req;
  oa_bytes_init(&req);
  oa_batch want[3];
  int64_t total = 0;
  for (int i = 0; i < 3; i++) {
    int64_t got;
    oa_batch_init(&want[i]);
    CHECK_OK(oa_trace_gen_next_request(&g, 1000, &req, &got, err), err);
    CHECK_OK(
        oa_otlp_decode_traces(req.data, req.size, NULL, &want[i], NULL, err),
        err);
    CHECK_OK(oa_exporter_add_batch(e, &want[i], err), err);
    total += want[i].length;
  }
  CHECK(total > 2500); /* whole traces per request: about 1000 each */
  CHECK_OK(oa_exporter_flush(e, 10000, err), err);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_exported, total);
  CHECK_EQ_INT(m.spans_accepted, total);
  CHECK(m.compression_ratio > 1.5);
  /* the stored batches equal the ones added (any order: 2 connections) */
  oa_schema *s;
  oa_batch *b;
  int64_t n;
  CHECK_OK(oa_datasets_snapshot(t.d, "spans", &s, &b, &n, err), err);
  CHECK_EQ_INT(n, 3);
  oa_batch bad = want[0];
  bad.n_columns = 3;
  CHECK_FAILS(oa_exporter_add_batch(e, &bad, err), EINVAL, err, "columns");
  for (int i = 0; i < 3; i++) {
    int found = 0;
    for (int64_t j = 0; j < n; j++)
      if (b[j].length == want[i].length &&
          oa_batch_equals(&b[j], &want[i], NULL))
        found++;
    CHECK_EQ_INT(found, 1);
    oa_batch_reset(&want[i]);
  }
  oa_datasets_snapshot_free(s, b, n);
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  oa_exporter_free(e);
  xs_stop(&t);
}

OA_TEST(test_tls_and_mtls) {
  oa_error err_, *err = &err_;
  char dir[64], cert_path[128], key_path[128];
  if (!oa_test_pki_make(dir, sizeof dir, OA_TEST_PKI_SELF_SIGNED)) {
    printf("skip test_tls_and_mtls: openssl not available\n");
    return;
  }
  snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
  snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
  char *cert = NULL, *key = NULL;
  CHECK_OK(oa_grpc_read_pem(cert_path, &cert, err), err);
  CHECK_OK(oa_grpc_read_pem(key_path, &key, err), err);
  oa_span sp[40];
  for (int i = 0; i < 40; i++)
    xs_span(&sp[i], i, NULL, 0);
  for (int mtls = 0; mtls < 2 && cert && key; mtls++) {
    oa_grpc_tls tls = {cert, key, mtls ? cert : NULL};
    xserver t;
    xs_start(&t, NULL, 0, &tls);
    /* with the CA (and the client certificate for mTLS): delivered */
    oa_exporter_config c;
    oa_exporter_config_init(&c);
    c.endpoint = t.uri;
    c.tls_ca_file = cert_path;
    if (mtls) {
      c.tls_cert_file = cert_path;
      c.tls_key_file = key_path;
    }
    oa_exporter *e = new_exporter(&c);
    CHECK_OK(oa_exporter_add(e, sp, 40, err), err);
    CHECK_OK(oa_exporter_flush(e, 10000, err), err);
    oa_exporter_metrics m;
    oa_exporter_get_metrics(e, &m);
    CHECK_EQ_INT(m.spans_exported, 40);
    oa_exporter_free(e);
    CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 40);
    /* mTLS without a client certificate, or plaintext: refused, failed */
    c.tls_cert_file = c.tls_key_file = NULL;
    char plain[64];
    snprintf(plain, sizeof plain, "grpc://127.0.0.1:%d", t.port);
    if (!mtls) c.endpoint = plain;
    c.retry.initial_ms = 20;
    c.retry.max_elapsed_ms = 200;
    c.deadline_ms = 2000;
    e = new_exporter(&c);
    CHECK_OK(oa_exporter_add(e, sp, 40, err), err);
    CHECK_OK(oa_exporter_flush(e, 10000, err), err);
    oa_exporter_get_metrics(e, &m);
    CHECK_EQ_INT(m.spans_exported, 0);
    CHECK_EQ_INT(m.spans_failed, 40);
    oa_exporter_free(e);
    CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 40);
    xs_stop(&t);
  }
  free(cert);
  free(key);
  xs_rm_rf(dir);
}

/* many threads add at once: every span arrives once */
typedef struct adder_arg {
  oa_exporter *e;
  int id;
} adder_arg;

static void *adder(void *p) {
  adder_arg *a = p;
  oa_keyvalue kv[] = {OA_KV_INT("thread", a->id)};
  for (int i = 0; i < 1000; i++) {
    oa_span sp;
    xs_span(&sp, a->id * 100000 + i, kv, 1);
    if (oa_exporter_add(a->e, &sp, 1, NULL) != 0) break;
  }
  return NULL;
}

OA_TEST(test_threads) {
  oa_error err_, *err = &err_;
  xserver t;
  oa_exporter_config c;
  xs_start_config(&t, &c);
  c.batch_size = 700;
  oa_exporter *e = new_exporter(&c);
  pthread_t th[4];
  adder_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (adder_arg){e, i + 1};
    pthread_create(&th[i], NULL, adder, &args[i]);
  }
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  CHECK_OK(oa_exporter_shutdown(e, 10000, err), err);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_exported, 4000);
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 4000);
  oa_exporter_free(e);
  xs_stop(&t);
}

/* invalid UTF-8 is caught when the batch is built: counted as failed, the
 * other spans of the batch go through */
OA_TEST(test_invalid_utf8_counted) {
  oa_error err_, *err = &err_;
  xserver t;
  oa_exporter_config c;
  xs_start_config(&t, &c);
  oa_exporter *e = new_exporter(&c);
  oa_span sp[3];
  for (int i = 0; i < 3; i++)
    xs_span(&sp[i], i, NULL, 0);
  sp[1].name = "bad\xff";
  CHECK_OK(oa_exporter_add(e, sp, 3, err), err);
  CHECK_OK(oa_exporter_flush(e, 10000, err), err);
  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  CHECK_EQ_INT(m.spans_accepted, 3);
  CHECK_EQ_INT(m.spans_exported, 2);
  CHECK_EQ_INT(m.spans_failed, 1);
  CHECK_EQ_INT(xs_rows(&t, "spans", NULL), 2);
  oa_exporter_free(e);
  xs_stop(&t);
}

OA_TEST_MAIN(OA_T(test_rows_field_by_field), OA_T(test_invalid_utf8_counted),
             OA_T(test_config_errors), OA_T(test_batch_size),
             OA_T(test_flush_interval),
             OA_T(test_interval_seal_while_senders_retry),
             OA_T(test_overflow_policies), OA_T(test_retry_then_success),
             OA_T(test_wrong_token_not_retried), OA_T(test_retries_exhausted),
             OA_T(test_add_batch_compressed), OA_T(test_tls_and_mtls),
             OA_T(test_threads))
