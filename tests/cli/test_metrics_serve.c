/* `otlparrow serve --metrics` end to end, run as a process ($OA_BIN): the
 * page parses as Prometheus text (strict checker) and its numbers move as
 * spans arrive over OTLP/HTTP (plain, lz4, malformed); the store's counters
 * appear with --data-dir; HTTPS, mutual TLS and the bearer token apply to
 * the metrics listener as to the others (curl, openssl-made certificates);
 * --require-tls refuses a plaintext metrics listener; the YAML key and a
 * bare port (loopback) work, and it is off by default. */
#include <errno.h>
#include <lz4frame.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "otlp_gen_test_util.h"
#include "otlparrow/builder.h"
#include "otlparrow/otlp.h"
#include "receiver/metrics_test_util.h"
#include "test.h"

static const char *bin(void) {
  const char *b = getenv("OA_BIN");
  return b && *b ? b : "otlparrow";
}

typedef struct serve_proc {
  pid_t pid;
  FILE *out;
  int grpc_port, http_port, metrics_port;
  char text[8192]; /* what it printed up to "ready" */
} serve_proc;

static int port_after(const char *text, const char *what) {
  const char *p = strstr(text, what);
  if (!p) return -1;
  const char *eol = strchr(p, '\n');
  const char *colon = p;
  for (const char *q = p; q < eol; q++)
    if (*q == ':') colon = q;
  return atoi(colon + 1);
}

/* Starts `otlparrow serve ARGS`; false (with the output in s->text) when
 * it exited before "ready". */
static bool serve_start(serve_proc *s, const char *args) {
  memset(s, 0, sizeof *s);
  int fds[2];
  if (pipe(fds) != 0) return false;
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "exec %s serve %s 2>&1", bin(), args);
  s->pid = fork();
  if (s->pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  s->out = fdopen(fds[0], "r");
  size_t n = 0;
  char line[1024];
  while (fgets(line, sizeof line, s->out)) {
    size_t k = strlen(line);
    if (n + k < sizeof s->text) {
      memcpy(s->text + n, line, k + 1);
      n += k;
    }
    if (strstr(line, "otlparrow serve: ready")) {
      s->grpc_port = port_after(s->text, "OTLP/gRPC on ");
      s->http_port = port_after(s->text, "OTLP/HTTP on ");
      s->metrics_port = port_after(s->text, "metrics on ");
      return true;
    }
  }
  int st;
  waitpid(s->pid, &st, 0);
  fclose(s->out);
  s->pid = 0;
  return false;
}

/* SIGINT; the exit status. */
static int serve_stop(serve_proc *s) {
  if (!s->pid) return -1;
  kill(s->pid, SIGINT);
  char line[1024];
  while (fgets(line, sizeof line, s->out)) {
  }
  int st = 0;
  waitpid(s->pid, &st, 0);
  fclose(s->out);
  s->pid = 0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int post(int port, const char *encoding, const void *body, size_t n) {
  char extra[256];
  snprintf(extra, sizeof extra,
           "Content-Type: application/x-protobuf\r\n%s%s%sContent-Length: "
           "%zu\r\n",
           encoding ? "Content-Encoding: " : "", encoding ? encoding : "",
           encoding ? "\r\n" : "", n);
  mt_resp r;
  if (mt_request_body(port, "POST", "/v1/traces", extra, body, n, &r) != 0)
    return -1;
  int st = r.status;
  mt_resp_free(&r);
  return st;
}

/* A scrape that must parse; the page in r. */
static bool scrape(int port, mt_resp *r) {
  if (mt_request(port, "GET", "/metrics", NULL, r) != 0) return false;
  char why[256] = "";
  bool ok =
      r->status == 200 && prom_check(r->body, r->body_len, why, sizeof why);
  if (!ok) fprintf(stderr, "scrape %d: %s\n%s", r->status, why, r->body);
  return ok;
}

/* Polls until the series has the value (counters updated as a request
 * completes can trail its answer by a moment); the last value seen. */
static double await(int port, const char *key, double want) {
  double v = NAN;
  for (int i = 0; i < 100; i++) {
    mt_resp r;
    if (scrape(port, &r)) v = prom_value(r.body, key);
    mt_resp_free(&r);
    if (v == want) break;
    struct timespec t = {0, 20 * 1000 * 1000};
    nanosleep(&t, NULL);
  }
  return v;
}

#define RECV(name) "otlparrow_receiver_" name "{receiver=\"otlp_http\"}"

OA_TEST(test_numbers_move) {
  serve_proc s;
  bool up = serve_start(&s, "--otlp-grpc off --flight 127.0.0.1:0 "
                            "--otlp-http 127.0.0.1:0 --metrics 127.0.0.1:0 "
                            "--max-memory 64M");
  if (!up) fprintf(stderr, "serve did not start:\n%s", s.text);
  CHECK(up);
  if (!up) return;
  CHECK(s.metrics_port > 0 && s.http_port > 0);
  CHECK(strstr(s.text, "otlparrow serve: metrics on 127.0.0.1:") != NULL);
  mt_resp r;
  CHECK(scrape(s.metrics_port, &r));
  CHECK_EQ_INT(prom_value(r.body, RECV("accepted_spans_total")), 0);
  CHECK_EQ_INT(prom_value(r.body, RECV("requests_total")), 0);
  CHECK_EQ_INT(prom_value(r.body, "otlparrow_memory_limit_bytes"), 64 << 20);
  CHECK_EQ_INT(prom_value(r.body, "otlparrow_memory_used_bytes"), 0);
  CHECK_EQ_INT(
      prom_value(r.body,
                 "otlparrow_grpc_calls_started_total{server=\"flight\"}"),
      0);
  /* OTLP/gRPC is off: no sample for it */
  CHECK(strstr(r.body, "receiver=\"otlp_grpc\"") == NULL);
  CHECK(prom_value(r.body, "otlparrow_process_resident_memory_bytes") > 0);
  mt_resp_free(&r);

  oa_bytes a, b, c, lz;
  oa_test_gen_request(100, 1, &a);
  oa_test_gen_request(50, 2, &b);
  oa_test_gen_request(30, 3, &c);
  oa_bytes_init(&lz);
  oa_bytes_reserve(&lz, (int64_t)LZ4F_compressFrameBound((size_t)c.size, NULL));
  size_t k = LZ4F_compressFrame(lz.data, (size_t)lz.capacity, c.data,
                                (size_t)c.size, NULL);
  CHECK(!LZ4F_isError(k));
  lz.size = (int64_t)k;
  CHECK_EQ_INT(post(s.http_port, NULL, a.data, (size_t)a.size), 200);
  CHECK_EQ_INT(post(s.http_port, NULL, b.data, (size_t)b.size), 200);
  CHECK_EQ_INT(post(s.http_port, "lz4", lz.data, (size_t)lz.size), 200);
  CHECK_EQ_INT(post(s.http_port, NULL, "\x0a\x05garb", 7), 400);

  CHECK_EQ_INT(await(s.metrics_port, RECV("requests_failed_total"), 1), 1);
  CHECK(scrape(s.metrics_port, &r));
  CHECK_EQ_INT(prom_value(r.body, RECV("accepted_spans_total")), 180);
  CHECK_EQ_INT(prom_value(r.body, RECV("rejected_spans_total")), 0);
  CHECK_EQ_INT(prom_value(r.body, RECV("requests_total")), 4);
  /* the malformed body reached the decoder too */
  CHECK_EQ_INT(prom_value(r.body, RECV("decoded_bytes_total")),
               a.size + b.size + c.size + 7);
  CHECK_EQ_INT(prom_value(r.body, RECV("received_bytes_total")),
               a.size + b.size + lz.size + 7);
  CHECK_EQ_INT(prom_value(r.body, "otlparrow_dataset_rows{dataset=\"spans\"}"),
               180);
  CHECK_EQ_INT(
      prom_value(r.body, "otlparrow_dataset_batches{dataset=\"spans\"}"), 3);
  double used = prom_value(r.body, "otlparrow_memory_used_bytes");
  CHECK(used > 0 && used <= 64 << 20);
  CHECK(prom_value(r.body, "otlparrow_dataset_bytes{dataset=\"spans\"}") > 0);
  /* the listener's own requests are not OTLP requests */
  CHECK_EQ_INT(prom_value(r.body, RECV("requests_total")), 4);
  mt_resp_free(&r);
  CHECK_OK(mt_request(s.metrics_port, "GET", "/healthz", NULL, &r),
           (oa_error *)NULL);
  CHECK_EQ_INT(r.status, 200);
  mt_resp_free(&r);
  CHECK_EQ_INT(serve_stop(&s), 0);
  oa_bytes *all[] = {&a, &b, &c, &lz};
  for (int i = 0; i < 4; i++)
    oa_bytes_reset(all[i]);
}

static char dir[64];

OA_TEST(test_store_counters) {
  char args[512];
  snprintf(args, sizeof args,
           "--otlp-grpc 127.0.0.1:0 --flight off --otlp-http 127.0.0.1:0 "
           "--metrics 127.0.0.1:0 --data-dir %s/store",
           dir);
  serve_proc s;
  bool up = serve_start(&s, args);
  if (!up) fprintf(stderr, "serve did not start:\n%s", s.text);
  CHECK(up);
  if (!up) return;
  oa_bytes a;
  oa_test_gen_request(64, 9, &a);
  CHECK_EQ_INT(post(s.http_port, NULL, a.data, (size_t)a.size), 200);
  mt_resp r;
  CHECK(scrape(s.metrics_port, &r));
  const char *fams[] = {
      "otlparrow_store_segments",
      "otlparrow_store_segment_bytes",
      "otlparrow_store_segment_rows",
      "otlparrow_store_unflushed_bytes",
      "otlparrow_store_flushes_total",
      "otlparrow_store_wal_records_replayed_total",
      RECV("accepted_spans_total"),
      "otlparrow_receiver_accepted_spans_total{receiver=\"otlp_grpc\"}",
      "otlparrow_grpc_calls_active{server=\"otlp_grpc\"}"};
  for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
    double v = prom_value(r.body, fams[i]);
    if (isnan(v)) fprintf(stderr, "missing %s\n", fams[i]);
    CHECK(!isnan(v));
  }
  CHECK_EQ_INT(prom_value(r.body, RECV("accepted_spans_total")), 64);
  mt_resp_free(&r);
  /* OTLP/gRPC too: 3 Export calls of 100 spans */
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "%s loadgen --otlp-grpc 127.0.0.1:%d --requests 3 "
           "--spans-per-request 100 --connections 1 --concurrency 1 "
           ">/dev/null 2>&1",
           bin(), s.grpc_port);
  CHECK_EQ_INT(system(cmd), 0);
  CHECK_EQ_INT(await(s.metrics_port,
                     "otlparrow_grpc_calls_finished_total{server="
                     "\"otlp_grpc\"}",
                     3),
               3);
  CHECK(scrape(s.metrics_port, &r));
  CHECK_EQ_INT(prom_value(r.body, "otlparrow_receiver_accepted_spans_total{"
                                  "receiver=\"otlp_grpc\"}"),
               300);
  CHECK_EQ_INT(
      prom_value(r.body,
                 "otlparrow_receiver_requests_total{receiver=\"otlp_grpc\"}"),
      3);
  CHECK_EQ_INT(prom_value(r.body, "otlparrow_grpc_calls_started_total{"
                                  "server=\"otlp_grpc\"}"),
               3);
  /* the 64 rows are logged: not yet in segments, or flushed into them */
  CHECK(prom_value(r.body, "otlparrow_store_unflushed_bytes") > 0 ||
        prom_value(r.body, "otlparrow_store_segment_rows") >= 64);
  mt_resp_free(&r);
  CHECK_EQ_INT(serve_stop(&s), 0);
  oa_bytes_reset(&a);
}

OA_TEST(test_tls_mtls_and_token) {
  char pki[64];
  if (!mt_have_curl() || !mt_make_pki(pki, sizeof pki)) {
    printf("skip test_tls_mtls_and_token: curl or openssl not available\n");
    return;
  }
  char args[1024], url[128], body[65536];
  snprintf(args, sizeof args,
           "--require-tls --otlp-grpc off --flight off --otlp-http off "
           "--metrics 127.0.0.1:0 --tls-cert %s/server.pem --tls-key "
           "%s/server.key --tls-client-ca %s/ca.pem --auth-token m3trics",
           pki, pki, pki);
  serve_proc s;
  bool up = serve_start(&s, args);
  if (!up) fprintf(stderr, "serve did not start:\n%s", s.text);
  CHECK(up);
  if (up) {
    CHECK(strstr(s.text, "(HTTPS, mTLS)") != NULL);
    snprintf(url, sizeof url, "https://localhost:%d/metrics", s.metrics_port);
    CHECK_EQ_INT(mt_curl(pki, url, "client", "m3trics", body, sizeof body),
                 200);
    char why[256] = "";
    bool ok = prom_check(body, strlen(body), why, sizeof why);
    if (!ok) fprintf(stderr, "page: %s\n", why);
    CHECK(ok);
    CHECK(!isnan(prom_value(body, "otlparrow_memory_used_bytes")));
    CHECK_EQ_INT(mt_curl(pki, url, "client", NULL, body, sizeof body), 401);
    CHECK_EQ_INT(mt_curl(pki, url, "client", "m3tricz", body, sizeof body),
                 401);
    CHECK_EQ_INT(mt_curl(pki, url, NULL, "m3trics", body, sizeof body), 401);
    CHECK(strstr(body, "client certificate required") != NULL);
    CHECK_EQ_INT(mt_curl(pki, url, "rogue", "m3trics", body, sizeof body), 403);
    /* no plaintext answer on the HTTPS port */
    mt_resp r;
    CHECK(mt_request(s.metrics_port, "GET", "/metrics", NULL, &r) != 0 ||
          r.status != 200);
    mt_resp_free(&r);
    CHECK_EQ_INT(serve_stop(&s), 0);
  }
  /* TLS without client certificates */
  snprintf(args, sizeof args,
           "--otlp-grpc off --flight off --otlp-http off --metrics "
           "127.0.0.1:0 --tls-cert %s/server.pem --tls-key %s/server.key",
           pki, pki);
  up = serve_start(&s, args);
  CHECK(up);
  if (up) {
    CHECK(strstr(s.text, "(HTTPS)") != NULL);
    snprintf(url, sizeof url, "https://localhost:%d/metrics", s.metrics_port);
    CHECK_EQ_INT(mt_curl(pki, url, NULL, NULL, body, sizeof body), 200);
    char why[256] = "";
    CHECK(prom_check(body, strlen(body), why, sizeof why));
    CHECK_EQ_INT(serve_stop(&s), 0);
  }
  mt_rm_dir(pki);
}

/* Runs serve expecting it to exit by itself; its status, output in out. */
static int run_serve(const char *args, char *out, size_t cap) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "timeout --preserve-status -s INT 3 %s serve %s 2>&1", bin(), args);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

OA_TEST(test_require_tls_refuses_plaintext_metrics) {
  char out[8192];
  int rc = run_serve("--require-tls --otlp-grpc off --otlp-http off --flight "
                     "off --metrics 127.0.0.1:0",
                     out, sizeof out);
  CHECK_EQ_INT(rc, 1);
  CHECK(strstr(out, "--require-tls: --metrics 127.0.0.1:0 would accept "
                    "plaintext") != NULL);
  CHECK(strstr(out, "ready") == NULL);
  /* a plaintext metrics listener on every interface is warned about */
  serve_proc s;
  bool up = serve_start(&s, "--otlp-grpc off --otlp-http off --flight off "
                            "--metrics :0");
  CHECK(up);
  if (up) {
    CHECK(strstr(s.text, "warning: --metrics :0 is reachable from other "
                         "machines without TLS") != NULL);
    CHECK_EQ_INT(serve_stop(&s), 0);
  }
}

OA_TEST(test_config_key_bare_port_and_default) {
  char path[128];
  snprintf(path, sizeof path, "%s/serve.yaml", dir);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs("otlp_grpc: off\notlp_http: off\nflight: off\nmetrics: \"0\"\n", f);
  fclose(f);
  char args[256];
  snprintf(args, sizeof args, "--config %s", path);
  serve_proc s;
  bool up = serve_start(&s, args);
  if (!up) fprintf(stderr, "serve did not start:\n%s", s.text);
  CHECK(up);
  if (up) {
    /* a bare port is loopback */
    CHECK(strstr(s.text, "metrics on 127.0.0.1:") != NULL);
    CHECK(s.metrics_port > 0);
    mt_resp r;
    CHECK(scrape(s.metrics_port, &r));
    /* nothing but the datasets and the process when no listener runs */
    CHECK(strstr(r.body, "otlparrow_receiver_") == NULL);
    CHECK(!isnan(prom_value(r.body, "otlparrow_memory_used_bytes")));
    mt_resp_free(&r);
    CHECK_EQ_INT(serve_stop(&s), 0);
  }
  /* off by default */
  up = serve_start(&s, "--otlp-grpc off --otlp-http off --flight 127.0.0.1:0");
  CHECK(up);
  if (up) {
    CHECK(strstr(s.text, "metrics on") == NULL);
    CHECK_EQ_INT(serve_stop(&s), 0);
  }
}

static void all(void) {
  snprintf(dir, sizeof dir, "/tmp/oa-metrics-cli-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  test_numbers_move();
  test_store_counters();
  test_tls_mtls_and_token();
  test_require_tls_refuses_plaintext_metrics();
  test_config_key_bare_port_and_default();
  mt_rm_dir(dir);
}

OA_TEST_MAIN(OA_T(all))
