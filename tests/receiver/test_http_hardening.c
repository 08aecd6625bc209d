/* OTLP/HTTP hardening: the request path against decompression bombs and bad
 * headers (oa_otlp_http_decode_request, the receiver's own code without the
 * network), decoder limits, and slow clients against a live server: a
 * client that trickles its headers or body is cut at request_timeout_s
 * while other clients are served. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "receiver/encoding_test_util.h"
#include "receiver/http_test_client.h"
#include "receiver/otlp_http.h"
#include "test.h"

/* ------------------------------------------------------------ helpers */

/* One span with n_attrs string attributes and one attribute whose value is
 * an array nested depth times. */
static char *span_json(int n_attrs, int depth) {
  size_t cap = 4096 + (size_t)n_attrs * 64 + (size_t)depth * 32;
  char *s = malloc(cap);
  size_t k = (size_t)snprintf(
      s, cap,
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
      "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\","
      "\"name\":\"op\",\"kind\":1,\"startTimeUnixNano\":\"1\","
      "\"endTimeUnixNano\":\"2\",\"attributes\":[");
  for (int i = 0; i < n_attrs; i++)
    k += (size_t)snprintf(s + k, cap - k,
                          "%s{\"key\":\"k%d\",\"value\":{\"stringValue\":"
                          "\"v\"}}",
                          i ? "," : "", i);
  if (depth > 0) {
    k += (size_t)snprintf(s + k, cap - k,
                          "%s{\"key\":\"deep\",\"value\":", n_attrs ? "," : "");
    for (int i = 0; i < depth; i++)
      k += (size_t)snprintf(s + k, cap - k, "{\"arrayValue\":{\"values\":[");
    k += (size_t)snprintf(s + k, cap - k, "{\"intValue\":\"1\"}");
    for (int i = 0; i < depth; i++)
      k += (size_t)snprintf(s + k, cap - k, "]}}");
    k += (size_t)snprintf(s + k, cap - k, "}");
  }
  snprintf(s + k, cap - k, "]}]}]}]}");
  return s;
}

typedef struct decoded {
  oa_otlp_http_outcome out;
  oa_otlp_result res;
  int64_t spans;
} decoded;

/* The receiver's request path with limit max_body and decoder options. */
static decoded run(const char *ct, const char *ce, const void *body, size_t len,
                   size_t chunk, int64_t max_body,
                   const oa_otlp_options *opts) {
  decoded d;
  memset(&d, 0, sizeof d);
  oa_otlp_options def;
  if (!opts) {
    oa_otlp_options_default(&def);
    opts = &def;
  }
  oa_error err, *ep = &err;
  oa_otlp_decoder *pb = NULL;
  oa_otlp_json_decoder *js = NULL;
  CHECK_OK(oa_otlp_decoder_new(&pb, opts, &err), ep);
  CHECK_OK(oa_otlp_json_decoder_new(&js, opts, &err), ep);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(oa_otlp_http_decode_request(ct, ce, body, len, chunk, max_body, pb,
                                       js, &b, &d.res, &d.out),
           (oa_error *)NULL);
  d.spans = b.length;
  oa_batch_reset(&b);
  oa_otlp_json_decoder_free(js);
  oa_otlp_decoder_free(pb);
  return d;
}

/* ------------------------------------------------- request path tests */

OA_TEST(test_decompression_bombs) {
  /* 64 MiB of zeros is 64 KiB of gzip and a few KiB of zstd: stopped at
   * the 1 MiB limit, never inflated */
  const size_t big = 64u << 20;
  uint8_t *zeros = calloc(1, big);
  oa_bytes gz, zs;
  enc_gzip(zeros, big, 9, &gz);
  enc_zstd(zeros, big, 19, &zs);
  free(zeros);
  CHECK(gz.size < 128 * 1024);
  CHECK(zs.size < 16 * 1024);
  const int64_t limit = 1 << 20;
  const char *encs[] = {"gzip", "zstd"};
  oa_bytes *bodies[] = {&gz, &zs};
  for (int i = 0; i < 2; i++) {
    size_t chunks[] = {0, 1000};
    for (int c = 0; c < 2; c++) {
      decoded d = run("application/x-protobuf", encs[i], bodies[i]->data,
                      (size_t)bodies[i]->size, chunks[c], limit, NULL);
      CHECK_EQ_INT(d.out.status, 413);
      CHECK_EQ_INT(d.out.rpc_code, 8); /* RESOURCE_EXHAUSTED */
      CHECK(strstr(d.out.message, "exceeds the limit of 1048576 bytes after "
                                  "decompression") != NULL);
      CHECK_EQ_INT(d.spans, 0);
    }
  }
  /* the raw size counts too, before any decompression */
  decoded d = run("application/x-protobuf", "gzip", gz.data, (size_t)gz.size, 0,
                  1000, NULL);
  CHECK_EQ_INT(d.out.status, 413);
  CHECK(strstr(d.out.message, "of 1000 bytes") != NULL);
  oa_bytes_reset(&gz);
  oa_bytes_reset(&zs);
}

OA_TEST(test_encodings_and_types) {
  char *js = span_json(2, 0);
  size_t n = strlen(js);
  oa_bytes gz, zs;
  enc_gzip(js, n, 9, &gz);
  enc_zstd(js, n, 19, &zs);
  const int64_t limit = 1 << 20;
  /* the same span whatever the encoding and however the body is cut */
  size_t chunks[] = {0, 1, 7, 4096};
  for (int c = 0; c < 4; c++) {
    decoded a = run("application/json", NULL, js, n, chunks[c], limit, NULL);
    decoded b = run("application/json", "gzip", gz.data, (size_t)gz.size,
                    chunks[c], limit, NULL);
    decoded z = run("application/json", "zstd", zs.data, (size_t)zs.size,
                    chunks[c], limit, NULL);
    CHECK_EQ_INT(a.out.status, 200);
    CHECK_EQ_INT(b.out.status, 200);
    CHECK_EQ_INT(z.out.status, 200);
    CHECK_EQ_INT(a.spans, 1);
    CHECK_EQ_INT(b.spans, 1);
    CHECK_EQ_INT(z.spans, 1);
  }
  /* two gzip members are one body */
  oa_bytes two;
  oa_bytes_init(&two);
  oa_bytes g1, g2;
  enc_gzip(js, 10, 9, &g1);
  enc_gzip(js + 10, n - 10, 9, &g2);
  oa_bytes_append(&two, g1.data, g1.size);
  oa_bytes_append(&two, g2.data, g2.size);
  decoded m = run("application/json", "gzip", two.data, (size_t)two.size, 5,
                  limit, NULL);
  CHECK_EQ_INT(m.out.status, 200);
  CHECK_EQ_INT(m.spans, 1);

  struct {
    const char *ct, *ce;
    const void *body;
    size_t len;
    unsigned status;
    const char *msg;
  } bad[] = {
      {NULL, NULL, js, n, 415, "unsupported Content-Type ''"},
      {"text/plain", NULL, js, n, 415, "unsupported Content-Type 'text/plain'"},
      {"application/json", "br", js, n, 415,
       "unsupported Content-Encoding 'br'"},
      {"application/json", "gzip, zstd", js, n, 415,
       "unsupported Content-Encoding"},
      {"application/json", "gzip", gz.data, (size_t)gz.size - 9, 400,
       "gzip body is truncated"},
      {"application/json", "zstd", zs.data, (size_t)zs.size - 3, 400,
       "zstd body is truncated"},
      {"application/json", "gzip", js, n, 400, "gzip body:"},
      {"application/json", "zstd", js, n, 400, "zstd body:"},
      {"application/json", NULL, js, n - 1, 400, NULL},
      {"application/x-protobuf", NULL, "\x0a\x05\x01", 3, 400, NULL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    decoded d =
        run(bad[i].ct, bad[i].ce, bad[i].body, bad[i].len, 0, limit, NULL);
    CHECK_EQ_INT(d.out.status, bad[i].status);
    CHECK_EQ_INT(d.spans, 0);
    CHECK(d.out.message[0] != 0);
    if (bad[i].msg && !strstr(d.out.message, bad[i].msg)) {
      fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, d.out.message,
              bad[i].msg);
      CHECK(0);
    }
  }
  oa_bytes_reset(&two);
  oa_bytes_reset(&g1);
  oa_bytes_reset(&g2);
  oa_bytes_reset(&gz);
  oa_bytes_reset(&zs);
  free(js);
}

OA_TEST(test_decoder_limits) {
  oa_otlp_options o;
  oa_otlp_options_default(&o);
  o.max_attributes = 8;
  o.max_depth = 4;
  const int64_t limit = 1 << 20;
  /* at the limits: accepted */
  char *ok = span_json(7, 3); /* 8 attributes */
  decoded d = run("application/json", NULL, ok, strlen(ok), 0, limit, &o);
  CHECK_EQ_INT(d.out.status, 200);
  CHECK_EQ_INT(d.spans, 1);
  free(ok);
  /* one attribute or one level more: not stored, and said why (a
   * rejected span or a refused request, never a crash or a stored span) */
  char *wide = span_json(9, 0), *deep = span_json(0, 5);
  char *bodies[] = {wide, deep};
  const char *why[] = {"attributes", "nested deeper than 4"};
  for (int i = 0; i < 2; i++) {
    d = run("application/json", NULL, bodies[i], strlen(bodies[i]), 0, limit,
            &o);
    CHECK_EQ_INT(d.spans, 0);
    const char *msg = d.out.status == 200 ? d.res.error_message : d.out.message;
    if (d.out.status == 200) CHECK_EQ_INT(d.res.rejected_spans, 1);
    if (!strstr(msg, why[i])) {
      fprintf(stderr, "status %u: '%s' lacks '%s'\n", d.out.status, msg,
              why[i]);
      CHECK(0);
    }
  }
  free(wide);
  free(deep);
  /* a JSON nesting bomb far past the depth limit */
  char *bomb = span_json(0, 5000);
  d = run("application/json", NULL, bomb, strlen(bomb), 0, limit, &o);
  CHECK_EQ_INT(d.spans, 0);
  free(bomb);
}

/* ------------------------------------------------------- slow clients */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void nap_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* A whole JSON request on a fresh connection: its HTTP status, or -1. */
static int post_json(int port, const char *body) {
  ht_resp r;
  int rc = ht_send(port,
                   &(ht_request){.ctype = "application/json",
                                 .body = body,
                                 .len = strlen(body)},
                   &r);
  int status = rc == 0 ? r.status : -1;
  ht_resp_free(&r);
  return status;
}

/* Sends one byte of msg every step_ms until the server hangs up; returns
 * the seconds it took, or -1 if msg ran out first. */
static double trickle(int fd, const char *msg, int step_ms) {
  double t0 = now_s();
  for (size_t i = 0; msg[i]; i++) {
    if (send(fd, msg + i, 1, MSG_NOSIGNAL) != 1) return now_s() - t0;
    nap_ms(step_ms);
    /* a cut connection reads as closed (0) or reset (-1) at once */
    char c;
    ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
    if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      return now_s() - t0;
  }
  return -1;
}

typedef struct slow_arg {
  int port;
  const char *msg;
  double took;
} slow_arg;

static void *slow_client(void *p) {
  slow_arg *a = p;
  int fd = ht_connect(a->port);
  a->took = fd < 0 ? -2 : trickle(fd, a->msg, 100);
  if (fd >= 0) close(fd);
  return NULL;
}

OA_TEST(test_slowloris_cut_at_request_timeout) {
  oa_datasets *ds = NULL;
  oa_error err, *ep = &err;
  CHECK_OK(oa_datasets_new(&ds, 0, &err), ep);
  oa_otlp_http_options o;
  oa_otlp_http_options_init(&o);
  o.listen = "127.0.0.1:0";
  o.request_timeout_s = 2;
  o.connection_timeout_s = 30; /* idle: never reached by a trickle */
  oa_otlp_http *h = NULL;
  CHECK_OK(oa_otlp_http_start(&h, &o, ds, &err), ep);
  if (!h) {
    oa_datasets_free(ds);
    return;
  }
  int port = oa_otlp_http_port(h);
  /* one client trickles its headers, another its body: 10 bytes a second,
   * so that neither is ever idle */
  static char headers[4096], body_msg[16384];
  snprintf(headers, sizeof headers,
           "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: "
           "application/json\r\nX-Pad: %0300d\r\n\r\n",
           0);
  char *js = span_json(1, 0);
  snprintf(body_msg, sizeof body_msg,
           "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: "
           "application/json\r\nContent-Length: %zu\r\n\r\n%s",
           strlen(js), js);
  slow_arg a = {port, headers, 0}, b = {port, NULL, 0};
  /* the body client sends its headers at once and trickles the body */
  int fd_b = ht_connect(port);
  CHECK(fd_b >= 0);
  size_t head_len = (size_t)(strstr(body_msg, "\r\n\r\n") + 4 - body_msg);
  CHECK(send(fd_b, body_msg, head_len, MSG_NOSIGNAL) == (ssize_t)head_len);
  pthread_t ta;
  double t0 = now_s();
  pthread_create(&ta, NULL, slow_client, &a);
  b.took = trickle(fd_b, body_msg + head_len, 100);
  close(fd_b);
  pthread_join(ta, NULL);
  /* both cut after about 2 s (the reaper looks five times a second) */
  CHECK(a.took > 1.5 && a.took < 4.0);
  CHECK(b.took > 1.5 && b.took < 4.0);
  if (!(a.took > 1.5 && a.took < 4.0 && b.took > 1.5 && b.took < 4.0))
    fprintf(stderr, "headers cut after %.2f s, body after %.2f s\n", a.took,
            b.took);
  CHECK_EQ_INT(oa_otlp_http_cut_connections(h), 2);
  (void)t0;

  /* meanwhile and afterwards other clients are served at once */
  pthread_create(&ta, NULL, slow_client, &a);
  nap_ms(300);
  double t1 = now_s();
  CHECK_EQ_INT(post_json(port, js), 200);
  CHECK(now_s() - t1 < 1.0);
  pthread_join(ta, NULL);
  CHECK_EQ_INT(post_json(port, js), 200);

  /* a keep-alive connection whose requests each arrive in time is not cut,
   * however long it lives */
  int fd = ht_connect(port);
  CHECK(fd >= 0);
  int answered = 0;
  double t2 = now_s();
  while (now_s() - t2 < 3.0) {
    char head[256];
    int hn = ht_request_head(&(ht_request){.ctype = "application/json",
                                           .body = js,
                                           .len = strlen(js)},
                             true, head, sizeof head);
    if (!ht_send_all(fd, head, (size_t)hn) || !ht_send_all(fd, js, strlen(js)))
      break;
    char buf[1024];
    ssize_t k = recv(fd, buf, sizeof buf - 1, 0);
    if (k < 12) break;
    buf[k] = 0;
    if (atoi(buf + 9) == 200) answered++;
    nap_ms(400);
  }
  close(fd);
  CHECK(answered >= 6);
  CHECK_EQ_INT(oa_otlp_http_cut_connections(h), 3);
  free(js);
  oa_otlp_http_stop(h);
  oa_datasets_free(ds);
}

OA_TEST_MAIN(OA_T(test_decompression_bombs), OA_T(test_encodings_and_types),
             OA_T(test_decoder_limits),
             OA_T(test_slowloris_cut_at_request_timeout))
