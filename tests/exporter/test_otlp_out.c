/* OTLP out (exporter/otlp_out.h) against otlparrow's own OTLP receivers,
 * with their sink hook: round trips over gRPC and HTTP (gzip), backpressure
 * (EAGAIN from the sink -> UNAVAILABLE + RetryInfo / 503 + Retry-After,
 * retried without duplicates), final errors and the retry window. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "exporter/otlp_out.h"
#include "grpc/oa_grpc.h"
#include "otlparrow/otlp.h"
#include "receiver/otlp_http.h"
#include "receiver/receiver.h"
#include "test.h"

/* A sink that keeps copies of what it gets, or refuses the first
 * `refuse` calls with EAGAIN. */
typedef struct capture {
  pthread_mutex_t mu;
  oa_batch b[16];
  int n;
  atomic_int refuse;
  atomic_int calls;
} capture;

static int capture_sink(void *ctx, const oa_batch *spans, oa_error *err) {
  capture *c = ctx;
  atomic_fetch_add(&c->calls, 1);
  if (atomic_load(&c->refuse) > 0) {
    atomic_fetch_sub(&c->refuse, 1);
    return oa_error_set(err, EAGAIN, "test sink is full");
  }
  pthread_mutex_lock(&c->mu);
  int rc = c->n < 16 ? oa_batch_copy(&c->b[c->n++], spans, err)
                     : oa_error_set(err, E2BIG, "test sink: too many");
  pthread_mutex_unlock(&c->mu);
  return rc;
}

static void capture_init(capture *c) {
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->mu, NULL);
}

static void capture_reset(capture *c) {
  for (int i = 0; i < c->n; i++)
    oa_batch_reset(&c->b[i]);
  pthread_mutex_destroy(&c->mu);
}

/* A decoded batch of n generated spans. */
static void make_batch(oa_batch *b, int64_t n, uint64_t seed) {
  oa_error e_, *e = &e_;
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  o.spans = n;
  o.seed = seed;
  oa_trace_gen g;
  oa_bytes req;
  oa_bytes_init(&req);
  int64_t got = 0;
  CHECK_OK(oa_trace_gen_init(&g, &o, e), e);
  CHECK_OK(oa_trace_gen_next_request(&g, n, &req, &got, e), e);
  CHECK_EQ_INT(got, n);
  oa_batch_init(b);
  CHECK_OK(oa_otlp_decode_traces(req.data, req.size, NULL, b, NULL, e), e);
  oa_trace_gen_reset(&g);
  oa_bytes_reset(&req);
}

typedef struct grpc_rx {
  oa_grpc_server *srv;
  oa_otlp_grpc *r;
  int port;
  char target[64];
} grpc_rx;

static void grpc_rx_start(grpc_rx *x, capture *c, const char *token) {
  oa_error e_, *e = &e_;
  memset(x, 0, sizeof *x);
  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  so.threads = 1;
  so.auth_token = token;
  oa_otlp_grpc_options oo;
  oa_otlp_grpc_options_init(&oo);
  oo.sink = capture_sink;
  oo.sink_ctx = c;
  oo.retry_delay_ms = 250;
  CHECK_OK(oa_grpc_server_new(&x->srv, &so, e), e);
  /* no datasets at all: the sink replaces them */
  CHECK_OK(oa_otlp_grpc_register(&x->r, x->srv, &oo, NULL, e), e);
  CHECK_OK(
      oa_grpc_server_add_listener(x->srv, "127.0.0.1:0", NULL, &x->port, e), e);
  CHECK_OK(oa_grpc_server_start(x->srv, e), e);
  snprintf(x->target, sizeof x->target, "127.0.0.1:%d", x->port);
}

static void grpc_rx_stop(grpc_rx *x) {
  oa_grpc_server_shutdown(x->srv, 1000);
  oa_grpc_server_free(x->srv);
  oa_otlp_grpc_free(x->r);
}

static oa_otlp_http *http_rx_start(capture *c, const char *token,
                                   char *endpoint, size_t cap) {
  oa_error e_, *e = &e_;
  oa_otlp_http_options ho;
  oa_otlp_http_options_init(&ho);
  ho.listen = "127.0.0.1:0";
  ho.sink = capture_sink;
  ho.sink_ctx = c;
  ho.auth_token = token;
  ho.retry_after_s = 2;
  oa_otlp_http *h = NULL;
  CHECK_OK(oa_otlp_http_start(&h, &ho, NULL, e), e);
  snprintf(endpoint, cap, "http://127.0.0.1:%d/v1/traces",
           oa_otlp_http_port(h));
  return h;
}

/* ------------------------------------------------------------ tests */

typedef struct hdrs {
  char got[8][2][64];
  int n;
} hdrs;

static int take_header(void *ctx, const char *k, const char *v, oa_error *err) {
  hdrs *h = ctx;
  if (h->n >= 8) return oa_error_set(err, E2BIG, "too many");
  snprintf(h->got[h->n][0], 64, "%s", k);
  snprintf(h->got[h->n][1], 64, "%s", v);
  h->n++;
  return 0;
}

OA_TEST(headers_parse) {
  oa_error e_, *e = &e_;
  hdrs h = {0};
  CHECK_OK(oa_otlp_out_parse_headers(
               " api-key = s3cr%3Dt , Authorization=Bearer%20abc,,x=",
               take_header, &h, e),
           e);
  CHECK_EQ_INT(h.n, 3);
  CHECK_EQ_STR(h.got[0][0], "api-key");
  CHECK_EQ_STR(h.got[0][1], "s3cr=t");
  CHECK_EQ_STR(h.got[1][0], "Authorization");
  CHECK_EQ_STR(h.got[1][1], "Bearer abc");
  CHECK_EQ_STR(h.got[2][0], "x");
  CHECK_EQ_STR(h.got[2][1], "");
  hdrs h2 = {0};
  CHECK_FAILS(oa_otlp_out_parse_headers("a=b,novalue", take_header, &h2, e),
              EINVAL, e, "'novalue' is not key=value");
  CHECK_FAILS(oa_otlp_out_parse_headers("a=b%0d%0aX: y", take_header, &h2, e),
              EINVAL, e, "line break");
}

OA_TEST(endpoint_errors) {
  oa_error e_, *e = &e_;
  oa_otlp_out *o = NULL;
  oa_otlp_out_options oo;
  oa_otlp_out_options_init(&oo);
  oo.protocol = OA_OTLP_OUT_HTTP;
  oo.endpoint = "localhost";
  CHECK_FAILS(oa_otlp_out_new(&o, &oo, e), EINVAL, e, "expected HOST:PORT");
  oo.endpoint = "https://localhost:4318";
  CHECK_FAILS(oa_otlp_out_new(&o, &oo, e), ENOTSUP, e, "HTTPS");
  oo.endpoint = "localhost:4318";
  oo.headers = "broken";
  CHECK_FAILS(oa_otlp_out_new(&o, &oo, e), EINVAL, e, "'broken'");
  CHECK(o == NULL);
}

OA_TEST(grpc_round_trip_and_backpressure) {
  oa_error e_, *e = &e_;
  capture c;
  capture_init(&c);
  grpc_rx x;
  grpc_rx_start(&x, &c, NULL);
  oa_batch want;
  make_batch(&want, 300, 7);

  oa_otlp_out_options oo;
  oa_otlp_out_options_init(&oo);
  oo.endpoint = x.target;
  oo.retry_initial_ms = 20;
  oo.retry_max_elapsed_ms = 5000;
  oa_otlp_out *o = NULL;
  CHECK_OK(oa_otlp_out_new(&o, &oo, e), e);
  if (!o) return;
  CHECK_OK(oa_otlp_out_export(o, &want, NULL, e), e);
  CHECK_EQ_INT(c.n, 1);
  if (c.n == 1) CHECK(oa_batch_equals(&c.b[0], &want, e));

  /* one attempt against a full sink: UNAVAILABLE with the receiver's
   * RetryInfo delay, retryable */
  atomic_store(&c.refuse, 1);
  oa_bytes req;
  oa_bytes_init(&req);
  CHECK_OK(oa_otlp_encode_traces(&want, &req, e), e);
  oa_otlp_out_attempt a;
  CHECK_FAILS(oa_otlp_out_send_once(o, req.data, req.size, &a, e), EAGAIN, e,
              "UNAVAILABLE");
  CHECK_EQ_INT(a.status, GRPC_STATUS_UNAVAILABLE);
  CHECK(a.retryable);
  CHECK_EQ_INT(a.retry_after_ms, 250);
  CHECK_EQ_INT(c.n, 1);

  /* refused twice, then accepted: exported once, two retries */
  atomic_store(&c.refuse, 2);
  CHECK_OK(oa_otlp_out_export(o, &want, NULL, e), e);
  CHECK_EQ_INT(c.n, 2);
  oa_otlp_out_stats st;
  oa_otlp_out_get_stats(o, &st);
  CHECK_EQ_INT(st.exported_spans, 600);
  CHECK_EQ_INT(st.retries, 2);
  CHECK_EQ_INT(st.failed_spans, 0);
  oa_bytes_reset(&req);
  oa_otlp_out_free(o);

  /* the retry window ends before the sink frees up: failed, counted */
  oo.retry_max_elapsed_ms = 600;
  CHECK_OK(oa_otlp_out_new(&o, &oo, e), e);
  atomic_store(&c.refuse, 1000);
  CHECK_FAILS(oa_otlp_out_export(o, &want, NULL, e), EAGAIN, e,
              "test sink is full");
  oa_otlp_out_get_stats(o, &st);
  CHECK_EQ_INT(st.failed_spans, 300);
  CHECK_EQ_INT(st.exported_spans, 0);
  CHECK(st.retries >= 1 && st.retries <= 3); /* 250 ms RetryInfo each */
  oa_otlp_out_free(o);
  grpc_rx_stop(&x);
  oa_batch_reset(&want);
  capture_reset(&c);
}

OA_TEST(grpc_auth_is_final) {
  oa_error e_, *e = &e_;
  capture c;
  capture_init(&c);
  grpc_rx x;
  grpc_rx_start(&x, &c, "right");
  oa_batch want;
  make_batch(&want, 50, 3);
  oa_otlp_out_options oo;
  oa_otlp_out_options_init(&oo);
  oo.endpoint = x.target;
  oo.token = "wrong";
  oa_otlp_out *o = NULL;
  CHECK_OK(oa_otlp_out_new(&o, &oo, e), e);
  CHECK_FAILS(oa_otlp_out_export(o, &want, NULL, e), EACCES, e,
              "UNAUTHENTICATED");
  oa_otlp_out_stats st;
  oa_otlp_out_get_stats(o, &st);
  CHECK_EQ_INT(st.requests, 1); /* not retried */
  CHECK_EQ_INT(st.failed_spans, 50);
  oa_otlp_out_free(o);
  /* the token given as an OTEL header works too */
  oo.token = NULL;
  oo.headers = "authorization=Bearer%20right";
  CHECK_OK(oa_otlp_out_new(&o, &oo, e), e);
  CHECK_OK(oa_otlp_out_export(o, &want, NULL, e), e);
  CHECK_EQ_INT(c.n, 1);
  oa_otlp_out_free(o);
  grpc_rx_stop(&x);
  oa_batch_reset(&want);
  capture_reset(&c);
}

OA_TEST(http_round_trip_gzip_and_backpressure) {
  oa_error e_, *e = &e_;
  capture c;
  capture_init(&c);
  char ep[128];
  oa_otlp_http *h = http_rx_start(&c, "tok", ep, sizeof ep);
  if (!h) return;
  oa_batch want;
  make_batch(&want, 400, 11);
  oa_otlp_out_options oo;
  oa_otlp_out_options_init(&oo);
  oo.protocol = OA_OTLP_OUT_HTTP;
  oo.endpoint = ep;
  oo.gzip = true;
  oo.token = "tok";
  oo.retry_max_elapsed_ms = 10000;
  oa_otlp_out *o = NULL;
  CHECK_OK(oa_otlp_out_new(&o, &oo, e), e);
  if (!o) return;
  /* twice: the second request reuses the kept-alive connection */
  CHECK_OK(oa_otlp_out_export(o, &want, NULL, e), e);
  CHECK_OK(oa_otlp_out_export(o, &want, NULL, e), e);
  CHECK_EQ_INT(c.n, 2);
  for (int i = 0; i < c.n; i++)
    CHECK(oa_batch_equals(&c.b[i], &want, e));

  oa_bytes req;
  oa_bytes_init(&req);
  CHECK_OK(oa_otlp_encode_traces(&want, &req, e), e);
  oa_otlp_out_attempt a;
  atomic_store(&c.refuse, 1);
  CHECK_FAILS(oa_otlp_out_send_once(o, req.data, req.size, &a, e), EAGAIN, e,
              "HTTP 503");
  CHECK_EQ_INT(a.status, 503);
  CHECK(a.retryable);
  CHECK_EQ_INT(a.retry_after_ms, 2000);
  CHECK(strstr(e->message, "test sink is full") != NULL);
  oa_otlp_out_free(o);

  /* a wrong token: 401, final, counted */
  oo.token = "bad";
  CHECK_OK(oa_otlp_out_new(&o, &oo, e), e);
  CHECK_FAILS(oa_otlp_out_export(o, &want, NULL, e), EACCES, e, "HTTP 401");
  oa_otlp_out_stats st;
  oa_otlp_out_get_stats(o, &st);
  CHECK_EQ_INT(st.requests, 1);
  CHECK_EQ_INT(st.failed_spans, 400);
  oa_otlp_out_free(o);
  oa_bytes_reset(&req);
  oa_otlp_http_stop(h);
  oa_batch_reset(&want);
  capture_reset(&c);
}

OA_TEST(unreachable_fails_after_window) {
  oa_error e_, *e = &e_;
  /* a port nobody listens on: bind one, note it, close it */
  grpc_rx x;
  capture c;
  capture_init(&c);
  grpc_rx_start(&x, &c, NULL);
  int port = x.port;
  grpc_rx_stop(&x);
  char ep[64];
  snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
  oa_batch want;
  make_batch(&want, 20, 5);
  for (int proto = 0; proto < 2; proto++) {
    oa_otlp_out_options oo;
    oa_otlp_out_options_init(&oo);
    oo.protocol = proto ? OA_OTLP_OUT_HTTP : OA_OTLP_OUT_GRPC;
    oo.endpoint = ep;
    oo.timeout_ms = 500;
    oo.retry_initial_ms = 50;
    oo.retry_max_elapsed_ms = 400;
    oa_otlp_out *o = NULL;
    CHECK_OK(oa_otlp_out_new(&o, &oo, e), e);
    if (!o) continue;
    CHECK_EQ_INT(oa_otlp_out_export(o, &want, NULL, e), EAGAIN);
    oa_otlp_out_stats st;
    oa_otlp_out_get_stats(o, &st);
    CHECK_EQ_INT(st.failed_spans, 20);
    CHECK_EQ_INT(st.exported_spans, 0);
    if (st.retries < 1)
      fprintf(stderr, "protocol %d: %lld requests, %s\n", proto,
              (long long)st.requests, e->message);
    CHECK(st.retries >= 1);
    /* stopping while retrying: ECANCELED, the spans not counted (the
     * caller may keep a persisted copy) */
    atomic_bool stop = true;
    oa_bytes req;
    oa_bytes_init(&req);
    CHECK_OK(oa_otlp_encode_traces(&want, &req, e), e);
    CHECK_FAILS(oa_otlp_out_export_request(o, req.data, req.size, 20, &stop, e),
                ECANCELED, e, "stopped while retrying");
    oa_otlp_out_get_stats(o, &st);
    CHECK_EQ_INT(st.failed_spans, 20);
    oa_bytes_reset(&req);
    oa_otlp_out_free(o);
  }
  oa_batch_reset(&want);
  capture_reset(&c);
}

OA_TEST_MAIN(OA_T(headers_parse), OA_T(endpoint_errors),
             OA_T(grpc_round_trip_and_backpressure), OA_T(grpc_auth_is_final),
             OA_T(http_round_trip_gzip_and_backpressure),
             OA_T(unreachable_fails_after_window))
