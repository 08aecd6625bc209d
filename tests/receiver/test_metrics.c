/* Prometheus metrics (receiver/metrics.c): the text writer against exact
 * expected pages and its refusals; the strict format checker of the tests
 * against pages it must refuse; the listener over plain HTTP (scrape,
 * health, routing, a failing callback, bearer tokens) and over HTTPS and
 * mutual TLS (curl, certificates made by openssl at test time). */
#include <errno.h>
#include <pthread.h>

#include "otlparrow/builder.h"
#include "receiver/metrics.h"
#include "receiver/metrics_test_util.h"
#include "test.h"

static char *page_str(oa_bytes *b) {
  oa_bytes_append(b, "", 1);
  b->size--;
  return (char *)b->data;
}

OA_TEST(test_writer_page) {
  oa_error e_ = {{0}}, *ep = &e_;
  oa_bytes b;
  oa_bytes_init(&b);
  oa_metrics_writer w;
  oa_metrics_writer_init(&w, &b);
  oa_metric_label grpc[] = {{"receiver", "otlp_grpc"}};
  oa_metric_label odd[] = {{"path", "a\\b \"q\"\nz"}, {"k", ""}};
  CHECK_OK(oa_metrics_family(&w, "oa_spans_total", OA_METRIC_COUNTER,
                             "Spans seen\nper receiver \\ total", ep),
           ep);
  CHECK_OK(oa_metrics_sample(&w, grpc, 1, 42, ep), ep);
  CHECK_OK(oa_metrics_sample(&w, odd, 2, 0, ep), ep);
  CHECK_OK(oa_metrics_single(&w, "oa_memory_bytes", OA_METRIC_GAUGE, "Bytes",
                             NULL, 0, -5, ep),
           ep);
  CHECK_OK(oa_metrics_family(&w, "oa:ratio", OA_METRIC_GAUGE, NULL, ep), ep);
  oa_metric_label l1[] = {{"x", "1"}}, l2[] = {{"x", "2"}}, l3[] = {{"x", "3"}};
  CHECK_OK(oa_metrics_sample_double(&w, l1, 1, 0.25, ep), ep);
  CHECK_OK(oa_metrics_sample_double(&w, l2, 1, NAN, ep), ep);
  CHECK_OK(oa_metrics_sample_double(&w, l3, 1, -INFINITY, ep), ep);
  CHECK_OK(oa_metrics_sample(&w, NULL, 0, INT64_MAX, ep), ep);
  const char *want =
      "# HELP oa_spans_total Spans seen\\nper receiver \\\\ total\n"
      "# TYPE oa_spans_total counter\n"
      "oa_spans_total{receiver=\"otlp_grpc\"} 42\n"
      "oa_spans_total{path=\"a\\\\b \\\"q\\\"\\nz\",k=\"\"} 0\n"
      "# HELP oa_memory_bytes Bytes\n"
      "# TYPE oa_memory_bytes gauge\n"
      "oa_memory_bytes -5\n"
      "# HELP oa:ratio \n"
      "# TYPE oa:ratio gauge\n"
      "oa:ratio{x=\"1\"} 0.25\n"
      "oa:ratio{x=\"2\"} NaN\n"
      "oa:ratio{x=\"3\"} -Inf\n"
      "oa:ratio 9223372036854775807\n";
  CHECK_EQ_STR(page_str(&b), want);
  char why[256] = "";
  bool ok = prom_check((const char *)b.data, (size_t)b.size, why, sizeof why);
  if (!ok) fprintf(stderr, "checker: %s\n", why);
  CHECK(ok);
  CHECK_EQ_INT(
      prom_value(page_str(&b), "oa_spans_total{receiver=\"otlp_grpc\"}"), 42);
  CHECK(isnan(prom_value(page_str(&b), "oa_spans_total")));
  oa_bytes_reset(&b);
}

OA_TEST(test_writer_refusals) {
  oa_error e_ = {{0}}, *ep = &e_;
  oa_bytes b;
  oa_bytes_init(&b);
  oa_metrics_writer w;
  oa_metrics_writer_init(&w, &b);
  CHECK_FAILS(oa_metrics_sample(&w, NULL, 0, 1, ep), EINVAL, ep,
              "before any family");
  CHECK_FAILS(oa_metrics_family(&w, "1abc", OA_METRIC_GAUGE, "h", ep), EINVAL,
              ep, "'1abc' is not a metric name");
  CHECK_FAILS(oa_metrics_family(&w, "a-b", OA_METRIC_GAUGE, "h", ep), EINVAL,
              ep, "'a-b'");
  CHECK_FAILS(oa_metrics_family(&w, "", OA_METRIC_GAUGE, "h", ep), EINVAL, ep,
              "not a metric name");
  CHECK_FAILS(oa_metrics_family(&w, "oa_spans", OA_METRIC_COUNTER, "h", ep),
              EINVAL, ep, "counter 'oa_spans' must be named *_total");
  CHECK_OK(oa_metrics_family(&w, "oa_x_total", OA_METRIC_COUNTER, "h", ep), ep);
  CHECK_FAILS(oa_metrics_sample(&w, NULL, 0, -1, ep), EINVAL, ep,
              "cannot be negative");
  CHECK_FAILS(oa_metrics_sample_double(&w, NULL, 0, -0.5, ep), EINVAL, ep,
              "cannot be negative");
  oa_metric_label bad1[] = {{"__name__", "x"}};
  oa_metric_label bad2[] = {{"a.b", "x"}};
  oa_metric_label bad3[] = {{"a", "1"}, {"a", "2"}};
  oa_metric_label bad4[] = {{"a", NULL}};
  oa_metric_label bad5[] = {{"a:b", "x"}};
  CHECK_FAILS(oa_metrics_sample(&w, bad1, 1, 1, ep), EINVAL, ep,
              "label name '__name__' is not allowed");
  CHECK_FAILS(oa_metrics_sample(&w, bad2, 1, 1, ep), EINVAL, ep, "'a.b'");
  CHECK_FAILS(oa_metrics_sample(&w, bad3, 2, 1, ep), EINVAL, ep,
              "label 'a' repeated");
  CHECK_FAILS(oa_metrics_sample(&w, bad4, 1, 1, ep), EINVAL, ep, "no value");
  CHECK_FAILS(oa_metrics_sample(&w, bad5, 1, 1, ep), EINVAL, ep, "'a:b'");
  CHECK_OK(oa_metrics_sample(&w, NULL, 0, 1, ep), ep);
  CHECK_OK(oa_metrics_family(&w, "oa_y", OA_METRIC_GAUGE, "h", ep), ep);
  CHECK_FAILS(oa_metrics_family(&w, "oa_x_total", OA_METRIC_COUNTER, "h", ep),
              EINVAL, ep, "family 'oa_x_total' is already on the page");
  /* a prefix of an existing family is another family */
  CHECK_OK(oa_metrics_family(&w, "oa_x", OA_METRIC_GAUGE, "h", ep), ep);
  /* refusals wrote nothing: the page is still well formed */
  char why[256] = "";
  bool ok = prom_check((const char *)b.data, (size_t)b.size, why, sizeof why);
  if (!ok) fprintf(stderr, "checker: %s\n", why);
  CHECK(ok);
  CHECK_EQ_INT(prom_value(page_str(&b), "oa_x_total"), 1);
  oa_bytes_reset(&b);
}

/* The checker refuses what Prometheus' parser would, and more. */
OA_TEST(test_checker_refuses) {
  const char *bad[] = {
      "a 1", /* no final newline */
      "a 1\n",
      "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",
      "# TYPE a gauge\na{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n",
      "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n",
      "# TYPE a gauge\na 1\n# HELP a late\n",
      "# TYPE a gauge\n# TYPE a counter\na 1\n",
      "# TYPE a gauge\na{x=\"\\q\"} 1\n",
      "# TYPE a gauge\na{x=\"1} 1\n",
      "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n",
      "# TYPE a gauge\na one\n",
      "# TYPE a gauge\na  1\n",
      "# TYPE a gauge\na 1 12.5\n",
      "# TYPE a gauge\n\na 1\n",
      "# TYPE a sometype\na 1\n",
      "# random comment\n",
      "# TYPE a gauge\n1a 1\n",
      "# TYPE a gauge\na{1x=\"1\"} 1\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char why[256] = "";
    bool ok = prom_check(bad[i], strlen(bad[i]), why, sizeof why);
    if (ok) fprintf(stderr, "accepted bad page %zu: %s\n", i, bad[i]);
    CHECK(!ok && why[0]);
  }
  const char *good = "# HELP a h\n# TYPE a gauge\na{x=\"1\"} 1 1700000000000\n"
                     "a{x=\"2\"} +Inf\n# TYPE b_total counter\nb_total 3e+06\n";
  char why[256] = "";
  CHECK(prom_check(good, strlen(good), why, sizeof why));
}

/* ------------------------------------------------------------ listener */

typedef struct fill_ctx {
  pthread_mutex_t mu;
  int64_t value;
  int fail; /* errno to fail with */
  int calls;
} fill_ctx;

static int fill(void *ctx, oa_metrics_writer *w, oa_error *err) {
  fill_ctx *f = ctx;
  pthread_mutex_lock(&f->mu);
  f->calls++;
  int64_t v = f->value;
  int fail = f->fail;
  pthread_mutex_unlock(&f->mu);
  if (fail) return oa_error_set(err, fail, "the stats are on holiday");
  oa_metric_label l[] = {{"receiver", "test"}};
  OA_RETURN_NOT_OK(
      oa_metrics_family(w, "t_spans_total", OA_METRIC_COUNTER, "Spans", err));
  OA_RETURN_NOT_OK(oa_metrics_sample(w, l, 1, v, err));
  return oa_metrics_single(w, "t_up", OA_METRIC_GAUGE, "Up", NULL, 0, 1, err);
}

static void set_ctx(fill_ctx *f, int64_t v, int fail) {
  pthread_mutex_lock(&f->mu);
  f->value = v;
  f->fail = fail;
  pthread_mutex_unlock(&f->mu);
}

static oa_metrics_http *start(fill_ctx *f, const char *listen,
                              const char *token, const char *dir, bool mtls) {
  oa_error e_ = {{0}}, *ep = &e_;
  oa_metrics_http_options o;
  oa_metrics_http_options_init(&o);
  o.listen = listen;
  o.auth_token = token;
  o.fill = fill;
  o.fill_ctx = f;
  char cert[256], key[256], ca[256];
  if (dir) {
    snprintf(cert, sizeof cert, "%s/server.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    if (mtls) o.tls_client_ca = ca;
  }
  oa_metrics_http *m = NULL;
  CHECK_OK(oa_metrics_http_start(&m, &o, ep), ep);
  return m;
}

static void check_page(const mt_resp *r) {
  char why[256] = "";
  bool ok = prom_check(r->body, r->body_len, why, sizeof why);
  if (!ok) fprintf(stderr, "page refused: %s\n%s", why, r->body);
  CHECK(ok);
}

OA_TEST(test_listener_plain) {
  fill_ctx f = {.value = 7};
  pthread_mutex_init(&f.mu, NULL);
  /* a bare port is loopback */
  oa_metrics_http *m = start(&f, "0", NULL, NULL, false);
  if (!m) return;
  int port = oa_metrics_http_port(m);
  CHECK(port > 0);
  mt_resp r;
  char hv[128];
  CHECK_OK(mt_request(port, "GET", "/metrics", NULL, &r), (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(mt_header(&r, "Content-Type", hv, sizeof hv),
               "text/plain; version=0.0.4; charset=utf-8");
  check_page(&r);
  CHECK_EQ_INT(prom_value(r.body, "t_spans_total{receiver=\"test\"}"), 7);
  CHECK_EQ_INT(prom_value(r.body, "t_up"), 1);
  mt_resp_free(&r);
  /* each scrape reads the numbers anew */
  set_ctx(&f, 12345678901LL, 0);
  CHECK_OK(mt_request(port, "GET", "/metrics", NULL, &r), (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 200);
  CHECK(prom_value(r.body, "t_spans_total{receiver=\"test\"}") ==
        12345678901.0);
  mt_resp_free(&r);
  CHECK_EQ_INT(oa_metrics_http_scrapes(m), 2);
  CHECK_OK(mt_request(port, "HEAD", "/metrics", NULL, &r), (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(r.body_len, 0);
  mt_resp_free(&r);
  CHECK_OK(mt_request(port, "GET", "/healthz", NULL, &r), (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "ok\n");
  mt_resp_free(&r);
  CHECK_OK(mt_request(port, "GET", "/v1/traces", NULL, &r), (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 404);
  CHECK(strstr(r.body, "GET /metrics") != NULL);
  mt_resp_free(&r);
  CHECK_OK(mt_request(port, "POST", "/metrics", "Content-Length: 0\r\n", &r),
           (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 405);
  CHECK_EQ_STR(mt_header(&r, "Allow", hv, sizeof hv), "GET, HEAD");
  mt_resp_free(&r);
  /* a failing callback: 500 with its message, and the next scrape works */
  set_ctx(&f, 1, EIO);
  CHECK_OK(mt_request(port, "GET", "/metrics", NULL, &r), (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 500);
  CHECK(strstr(r.body, "the stats are on holiday") != NULL);
  mt_resp_free(&r);
  set_ctx(&f, 3, 0);
  CHECK_OK(mt_request(port, "GET", "/metrics", NULL, &r), (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(prom_value(r.body, "t_spans_total{receiver=\"test\"}"), 3);
  mt_resp_free(&r);
  oa_metrics_http_stop(m);
  /* stopped: nothing listens any more */
  CHECK(mt_request(port, "GET", "/metrics", NULL, &r) != 0);
  pthread_mutex_destroy(&f.mu);
}

/* Reads one answer with a Content-Length from fd; its status, -1. */
static int read_one(int fd, char *body, size_t cap) {
  char buf[16384];
  size_t n = 0;
  char *sep = NULL;
  while (!sep && n + 1 < sizeof buf) {
    ssize_t k = recv(fd, buf + n, sizeof buf - n - 1, 0);
    if (k <= 0) return -1;
    n += (size_t)k;
    buf[n] = 0;
    sep = strstr(buf, "\r\n\r\n");
  }
  int status = 0;
  const char *cl = strcasestr(buf, "Content-Length:");
  if (!sep || !cl || sscanf(buf, "HTTP/1.1 %d", &status) != 1) return -1;
  size_t want = (size_t)atol(cl + 15), have = n - (size_t)(sep + 4 - buf);
  while (have < want && n + 1 < sizeof buf) {
    ssize_t k = recv(fd, buf + n, sizeof buf - n - 1, 0);
    if (k <= 0) return -1;
    n += (size_t)k;
    have += (size_t)k;
  }
  buf[n] = 0;
  snprintf(body, cap, "%s", sep + 4);
  return status;
}

/* Scrapes reuse their connection; a request with a body gets none. */
OA_TEST(test_listener_keep_alive) {
  fill_ctx f = {.value = 2};
  pthread_mutex_init(&f.mu, NULL);
  oa_metrics_http *m = start(&f, "127.0.0.1:0", NULL, NULL, false);
  if (!m) return;
  int port = oa_metrics_http_port(m);
  int fd = ht_connect(port);
  CHECK(fd >= 0);
  const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  char body[8192];
  for (int i = 0; i < 3; i++) {
    CHECK(send(fd, get, strlen(get), MSG_NOSIGNAL) == (ssize_t)strlen(get));
    CHECK_EQ_INT(read_one(fd, body, sizeof body), 200);
    CHECK_EQ_INT(prom_value(body, "t_spans_total{receiver=\"test\"}"), 2);
  }
  close(fd);
  CHECK_EQ_INT(oa_metrics_http_scrapes(m), 3);
  mt_resp r;
  CHECK(mt_request_body(port, "POST", "/metrics", "Content-Length: 5\r\n",
                        "hello", 5, &r) != 0);
  mt_resp_free(&r);
  /* the listener still answers */
  CHECK_OK(mt_request(port, "GET", "/healthz", NULL, &r), (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 200);
  mt_resp_free(&r);
  oa_metrics_http_stop(m);
  pthread_mutex_destroy(&f.mu);
}

OA_TEST(test_listener_token) {
  fill_ctx f = {.value = 1};
  pthread_mutex_init(&f.mu, NULL);
  oa_metrics_http *m = start(&f, "127.0.0.1:0", "s3cret-token", NULL, false);
  if (!m) return;
  int port = oa_metrics_http_port(m);
  mt_resp r;
  char hv[64];
  const char *wrong[] = {NULL,
                         "Authorization: Bearer nope\r\n",
                         "Authorization: Bearer s3cret-tokeX\r\n",
                         "Authorization: Bearer s3cret-token-longer\r\n",
                         "Authorization: Basic s3cret-token\r\n",
                         "Authorization: Bearer \r\n"};
  for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
    CHECK_OK(mt_request(port, "GET", "/metrics", wrong[i], &r),
             (oa_error *)NULL);
    CHECK_EQ_INT(r.status, 401);
    CHECK_EQ_STR(mt_header(&r, "WWW-Authenticate", hv, sizeof hv), "Bearer");
    CHECK(strstr(r.body, "bearer token") != NULL);
    CHECK(strstr(r.body, "s3cret") == NULL); /* never echoed */
    mt_resp_free(&r);
  }
  CHECK_OK(mt_request(port, "GET", "/healthz", NULL, &r), (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 401);
  mt_resp_free(&r);
  CHECK_EQ_INT(f.calls, 0); /* refused before any stats were read */
  CHECK_OK(mt_request(port, "GET", "/metrics",
                      "Authorization: Bearer s3cret-token\r\n", &r),
           (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 200);
  check_page(&r);
  mt_resp_free(&r);
  oa_metrics_http_stop(m);
  pthread_mutex_destroy(&f.mu);
}

OA_TEST(test_listener_tls) {
  char dir[64];
  if (!mt_have_curl() || !mt_make_pki(dir, sizeof dir)) {
    printf("skip test_listener_tls: curl or openssl not available\n");
    return;
  }
  fill_ctx f = {.value = 5};
  pthread_mutex_init(&f.mu, NULL);
  char url[128], body[8192];
  /* HTTPS */
  oa_metrics_http *m = start(&f, "127.0.0.1:0", NULL, dir, false);
  if (m) {
    int port = oa_metrics_http_port(m);
    snprintf(url, sizeof url, "https://localhost:%d/metrics", port);
    CHECK_EQ_INT(mt_curl(dir, url, NULL, NULL, body, sizeof body), 200);
    char why[256] = "";
    CHECK(prom_check(body, strlen(body), why, sizeof why));
    CHECK_EQ_INT(prom_value(body, "t_spans_total{receiver=\"test\"}"), 5);
    /* plaintext to the HTTPS port gets no HTTP answer */
    mt_resp r;
    CHECK(mt_request(port, "GET", "/metrics", NULL, &r) != 0 ||
          r.status != 200);
    mt_resp_free(&r);
    oa_metrics_http_stop(m);
  }
  /* mutual TLS, with a token too */
  m = start(&f, "127.0.0.1:0", "tok", dir, true);
  if (m) {
    int port = oa_metrics_http_port(m);
    snprintf(url, sizeof url, "https://localhost:%d/metrics", port);
    CHECK_EQ_INT(mt_curl(dir, url, "client", "tok", body, sizeof body), 200);
    char why[256] = "";
    CHECK(prom_check(body, strlen(body), why, sizeof why));
    CHECK_EQ_INT(mt_curl(dir, url, NULL, "tok", body, sizeof body), 401);
    CHECK(strstr(body, "client certificate required") != NULL);
    CHECK_EQ_INT(mt_curl(dir, url, "rogue", "tok", body, sizeof body), 403);
    CHECK(strstr(body, "client certificate rejected") != NULL);
    CHECK_EQ_INT(mt_curl(dir, url, "client", NULL, body, sizeof body), 401);
    CHECK(strstr(body, "bearer token") != NULL);
    CHECK_EQ_INT(mt_curl(dir, url, "client", "wrong", body, sizeof body), 401);
    snprintf(url, sizeof url, "https://localhost:%d/healthz", port);
    CHECK_EQ_INT(mt_curl(dir, url, "client", "tok", body, sizeof body), 200);
    CHECK_EQ_STR(body, "ok\n");
    oa_metrics_http_stop(m);
  }
  mt_rm_dir(dir);
  pthread_mutex_destroy(&f.mu);
}

OA_TEST(test_start_errors) {
  oa_error e_ = {{0}}, *ep = &e_;
  oa_metrics_http *m = NULL;
  oa_metrics_http_options o;
  oa_metrics_http_options_init(&o);
  CHECK_FAILS(oa_metrics_http_start(&m, &o, ep), EINVAL, ep,
              "no fill callback");
  fill_ctx f = {.value = 0};
  o.fill = fill;
  o.fill_ctx = &f;
  o.listen = "127.0.0.1:0";
  o.tls_cert_file = "/nonexistent/cert.pem";
  CHECK_FAILS(oa_metrics_http_start(&m, &o, ep), EINVAL, ep,
              "metrics: HTTPS needs both a TLS certificate and a key file");
  o.tls_key_file = "/nonexistent/key.pem";
  CHECK_FAILS(oa_metrics_http_start(&m, &o, ep), ENOENT, ep,
              "TLS certificate file '/nonexistent/cert.pem'");
  o.tls_cert_file = o.tls_key_file = NULL;
  o.tls_client_ca = "/nonexistent/ca.pem";
  CHECK_FAILS(oa_metrics_http_start(&m, &o, ep), EINVAL, ep, "needs HTTPS");
  o.tls_client_ca = NULL;
  o.listen = "127.0.0.1:99999";
  CHECK_FAILS(oa_metrics_http_start(&m, &o, ep), EINVAL, ep, "bad port");
  o.listen = "nohostport";
  CHECK_FAILS(oa_metrics_http_start(&m, &o, ep), EINVAL, ep,
              "expected host:port");
  /* a port in use */
  o.listen = "127.0.0.1:0";
  CHECK_OK(oa_metrics_http_start(&m, &o, ep), ep);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", oa_metrics_http_port(m));
  oa_metrics_http *m2 = NULL;
  o.listen = addr;
  const char *want = addr;
  CHECK_FAILS(oa_metrics_http_start(&m2, &o, ep), EADDRINUSE, ep, want);
  CHECK(m2 == NULL);
  oa_metrics_http_stop(m);
  oa_metrics_http_stop(NULL);
}

OA_TEST_MAIN(OA_T(test_writer_page), OA_T(test_writer_refusals),
             OA_T(test_checker_refuses), OA_T(test_listener_plain),
             OA_T(test_listener_keep_alive), OA_T(test_listener_token),
             OA_T(test_listener_tls), OA_T(test_start_errors))
