/* The OTLP/HTTP receiver, driven over loopback by a small raw-socket
 * HTTP/1.1 client: protobuf and JSON bodies, gzip and zstd, partial success,
 * malformed bodies (400 with the decoder's message in a google.rpc.Status),
 * content types, size limits and decompression bombs (413), the dataset
 * memory limit (503 + Retry-After, nothing accepted lost), routing (404/405),
 * bearer tokens, HTTPS and mutual TLS (an OpenSSL client, certificates made
 * by the openssl tool at test time), start errors and slow clients. After
 * each scenario the
 * dataset must hold exactly the accepted spans, compared batch by batch with
 * what the decoder makes of the same bytes. */
#include <json-c/json.h>
#include <lz4frame.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "otlp_gen_test_util.h"
#include "otlparrow/dataset.h"
#include "otlparrow/otlp.h"
#include "receiver/encoding_test_util.h"
#include "receiver/http_test_client.h"
#include "receiver/otlp_http.h"
#include "test.h"

/* ------------------------------------------------------------ client */

/* Plain HTTP goes through ht_send (http_test_client.h). An HTTPS client
 * (OpenSSL) that trusts ca and, when cert is set, presents cert/key as its
 * client certificate. */
typedef struct tls_id {
  const char *ca, *cert, *key;
} tls_id;

/* Sends q (repeat times on one connection, pipelined: only the last says
 * Connection: close) and parses the first response; *n_ok counts the
 * "200 OK" status lines of all of them. Returns -2 when the handshake
 * fails, -1 for other failures. */
static int https_n(int port, const tls_id *id, const ht_request *q, int repeat,
                   int *n_ok, ht_resp *out) {
  memset(out, 0, sizeof *out);
  if (n_ok) *n_ok = 0;
  int fd = ht_connect(port);
  if (fd < 0) return -1;
  int rc = -1;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL *ssl = NULL;
  if (!ctx) goto out;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  /* MHD may close without close_notify after Connection: close */
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (SSL_CTX_load_verify_locations(ctx, id->ca, NULL) != 1) goto out;
  if (id->cert &&
      (SSL_CTX_use_certificate_file(ctx, id->cert, SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx, id->key, SSL_FILETYPE_PEM) != 1))
    goto out;
  ssl = SSL_new(ctx);
  if (!ssl) goto out;
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) {
    rc = -2;
    goto out;
  }
  char head[2048];
  for (int i = 0; i < repeat; i++) {
    int hn = ht_request_head(q, i + 1 < repeat, head, sizeof head);
    if (SSL_write(ssl, head, hn) != hn) goto out;
    if (q->len && SSL_write(ssl, q->body, (int)q->len) != (int)q->len) goto out;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  for (;;) {
    if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
    int k = SSL_read(ssl, buf + n, (int)(cap - n));
    if (k <= 0) break;
    n += (size_t)k;
  }
  buf[n] = 0;
  if (n_ok)
    for (const char *p = buf; (p = strstr(p, "HTTP/1.1 200 OK")); p++)
      (*n_ok)++;
  rc = ht_parse_response(buf, n, out);
out:
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return rc;
}

static int https(int port, const tls_id *id, const ht_request *q,
                 ht_resp *out) {
  return https_n(port, id, q, 1, NULL, out);
}

/* google.rpc.Status (protobuf): code and message */
static bool parse_status_pb(const ht_resp *r, int64_t *code, char *msg,
                            size_t cap) {
  *code = 0;
  msg[0] = 0;
  if (!r->body) return false; /* no answer */
  const uint8_t *p = (const uint8_t *)r->body, *e = p + r->body_len;
  while (p < e) {
    uint64_t key = 0, v = 0;
    int sh = 0;
    while (p < e && (*p & 0x80))
      key |= (uint64_t)(*p++ & 0x7f) << sh, sh += 7;
    if (p == e) return false;
    key |= (uint64_t)*p++ << sh;
    sh = 0;
    while (p < e && (*p & 0x80))
      v |= (uint64_t)(*p++ & 0x7f) << sh, sh += 7;
    if (p == e) return false;
    v |= (uint64_t)*p++ << sh;
    if ((key & 7) == 0) {
      if (key >> 3 == 1) *code = (int64_t)v;
    } else if ((key & 7) == 2) {
      if ((size_t)(e - p) < v) return false;
      if (key >> 3 == 2) {
        size_t n = v < cap - 1 ? v : cap - 1;
        memcpy(msg, p, n);
        msg[n] = 0;
      }
      p += v;
    } else {
      return false;
    }
  }
  return true;
}

/* ExportTraceServiceResponse (protobuf) partial_success: field 1 holds
 * rejected_spans = 1 and error_message = 2, the shapes of Status's fields */
static bool parse_partial_pb(const ht_resp *r, int64_t *rejected, char *msg,
                             size_t cap) {
  *rejected = -1;
  const uint8_t *p = (const uint8_t *)r->body, *e = p + r->body_len;
  if (p == e || *p++ != 0x0a) return false;
  uint64_t len = 0;
  int sh = 0;
  while (p < e && (*p & 0x80))
    len |= (uint64_t)(*p++ & 0x7f) << sh, sh += 7;
  if (p == e) return false;
  len |= (uint64_t)*p++ << sh;
  if ((uint64_t)(e - p) != len) return false;
  ht_resp inner = *r;
  inner.body = (char *)p;
  inner.body_len = len;
  return parse_status_pb(&inner, rejected, msg, cap);
}

/* google.rpc.Status (JSON): code and message */
static bool parse_status_json(const ht_resp *r, int64_t *code, char *msg,
                              size_t cap) {
  *code = 0;
  msg[0] = 0;
  json_object *o = r->body ? json_tokener_parse(r->body) : NULL, *v = NULL;
  bool ok = o && json_object_object_get_ex(o, "code", &v) &&
            json_object_is_type(v, json_type_int);
  if (ok) *code = json_object_get_int64(v);
  ok = ok && json_object_object_get_ex(o, "message", &v) &&
       json_object_is_type(v, json_type_string);
  if (ok) snprintf(msg, cap, "%s", json_object_get_string(v));
  json_object_put(o);
  return ok;
}

/* Sends q over HTTP, or HTTPS when tls is set, into r (for ht_resp_free):
 * the answer's status, or -1 and a failed check when there was none. */
static int http_answer(int port, const tls_id *tls, const ht_request *q,
                       ht_resp *r) {
  int rc = tls ? https(port, tls, q, r) : ht_send(port, q, r);
  CHECK_EQ_INT(rc, 0);
  return rc == 0 ? r->status : -1;
}

/* The status of q's answer, as http_answer, without the answer. */
static int http_status(int port, const tls_id *tls, const ht_request *q) {
  ht_resp r;
  int status = http_answer(port, tls, q, &r);
  ht_resp_free(&r);
  return status;
}

/* The status of q's answer, whose google.rpc.Status (protobuf) must parse
 * into code and msg (a failed check otherwise). */
static int http_pb_status(int port, const tls_id *tls, const ht_request *q,
                          int64_t *code, char *msg, size_t cap) {
  ht_resp r;
  int status = http_answer(port, tls, q, &r);
  CHECK(parse_status_pb(&r, code, msg, cap));
  ht_resp_free(&r);
  return status;
}

/* The same for a JSON request: the answer is application/json and its
 * google.rpc.Status must parse. */
static int http_json_status(int port, const tls_id *tls, const ht_request *q,
                            int64_t *code, char *msg, size_t cap) {
  ht_resp r;
  char ct[64];
  int status = http_answer(port, tls, q, &r);
  CHECK_EQ_STR(ht_header(&r, "Content-Type", ct, sizeof ct),
               "application/json");
  CHECK(parse_status_json(&r, code, msg, cap));
  ht_resp_free(&r);
  return status;
}

/* ------------------------------------------------------------ fixtures */

typedef struct server {
  oa_datasets *ds;
  oa_otlp_http *h;
  int port;
} server;

static int server_start_opts(server *s, int64_t max_memory,
                             const oa_otlp_http_options *o) {
  oa_error e_ = {{0}}, *ep = &e_;
  memset(s, 0, sizeof *s);
  if (oa_datasets_new(&s->ds, max_memory, ep) != 0) {
    fprintf(stderr, "datasets: %s\n", e_.message);
    return -1;
  }
  if (oa_otlp_http_start(&s->h, o, s->ds, ep) != 0) {
    fprintf(stderr, "start: %s\n", e_.message);
    oa_datasets_free(s->ds);
    return -1;
  }
  s->port = oa_otlp_http_port(s->h);
  return 0;
}

static int server_start(server *s, int64_t max_memory, int64_t max_body,
                        const char *token, unsigned timeout_s) {
  oa_otlp_http_options o;
  oa_otlp_http_options_init(&o);
  o.listen = "127.0.0.1:0";
  if (max_body) o.max_body_size = max_body;
  o.auth_token = token;
  o.retry_after_s = 3;
  if (timeout_s) o.connection_timeout_s = timeout_s;
  return server_start_opts(s, max_memory, &o);
}

static void server_stop(server *s) {
  oa_otlp_http_stop(s->h);
  oa_datasets_free(s->ds);
}

/* The batches the decoder makes of a list of accepted bodies. */
typedef struct expected {
  oa_batch b[256];
  int n;
} expected;

static void expect_pb(expected *x, const void *body, size_t n) {
  oa_error e_ = {{0}}, *ep = &e_;
  oa_batch_init(&x->b[x->n]);
  CHECK_OK(oa_otlp_decode_traces(body, (int64_t)n, NULL, &x->b[x->n], NULL, ep),
           ep);
  x->n++;
}

static void expect_json(expected *x, const void *body, size_t n) {
  oa_error e_ = {{0}}, *ep = &e_;
  oa_batch_init(&x->b[x->n]);
  CHECK_OK(
      oa_otlp_decode_traces_json(body, (int64_t)n, NULL, &x->b[x->n], NULL, ep),
      ep);
  x->n++;
}

static void expected_free(expected *x) {
  for (int i = 0; i < x->n; i++)
    oa_batch_reset(&x->b[i]);
  x->n = 0;
}

/* The dataset holds exactly the expected batches, in order. */
static void check_dataset(server *s, const expected *x) {
  oa_error e_ = {{0}}, *ep = &e_;
  oa_schema *schema = NULL;
  oa_batch *bs = NULL;
  int64_t n = 0;
  int rc = oa_datasets_snapshot(s->ds, "spans", &schema, &bs, &n, ep);
  if (x->n == 0) {
    CHECK(rc == ENOENT || (rc == 0 && n == 0));
  } else {
    CHECK_OK(rc, ep);
    CHECK_EQ_INT(n, x->n);
    for (int64_t i = 0; i < n && i < x->n; i++) {
      bool eq = oa_batch_equals(&bs[i], &x->b[i], ep);
      if (!eq)
        fprintf(stderr, "batch %lld differs: %s\n", (long long)i, e_.message);
      CHECK(eq);
    }
  }
  if (rc == 0) oa_datasets_snapshot_free(schema, bs, n);
}

/* One LZ4 frame (with a content checksum, as the lz4 tool writes) of
 * block_kb-sized blocks. */
static void lz4_bytes(const void *in, size_t n, unsigned block_id,
                      oa_bytes *out) {
  LZ4F_preferences_t p;
  memset(&p, 0, sizeof p);
  p.frameInfo.blockSizeID = (LZ4F_blockSizeID_t)block_id;
  p.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  oa_bytes_init(out);
  oa_bytes_reserve(out, (int64_t)LZ4F_compressFrameBound(n, &p));
  size_t k = LZ4F_compressFrame(out->data, (size_t)out->capacity, in, n, &p);
  CHECK(!LZ4F_isError(k));
  out->size = LZ4F_isError(k) ? 0 : (int64_t)k;
}

static const char *PB = "application/x-protobuf";
static const char *JS = "application/json";
static const char *ENC_GZIP = "Content-Encoding: gzip\r\n";
static const char *ENC_ZSTD = "Content-Encoding: zstd\r\n";
static const char *ENC_LZ4 = "Content-Encoding: lz4\r\n";

/* The whole of an oa_bytes as a request body. */
#define BODY(b) .body = (b).data, .len = (size_t)(b).size

/* ------------------------------------------------------------ tests */

OA_TEST(test_protobuf_and_json) {
  server s;
  if (server_start(&s, 0, 0, NULL, 0) != 0) {
    CHECK(0);
    return;
  }
  CHECK(s.port > 0);
  expected x = {.n = 0};
  oa_bytes pb, js;
  oa_test_gen_request(50, 1, &pb);
  oa_bytes_init(&js);
  oa_error e_ = {{0}}, *ep = &e_;
  oa_bytes pb2;
  oa_test_gen_request(30, 2, &pb2);
  CHECK_OK(oa_otlp_traces_pb_to_json(pb2.data, pb2.size, &js, ep), ep);

  ht_resp r;
  char hv[256];
  CHECK_EQ_INT(
      http_answer(s.port, NULL, &(ht_request){.ctype = PB, BODY(pb)}, &r), 200);
  CHECK_EQ_STR(ht_header(&r, "Content-Type", hv, sizeof hv), PB);
  CHECK_EQ_INT(r.body_len, 0);
  ht_resp_free(&r);
  expect_pb(&x, pb.data, (size_t)pb.size);

  /* parameters and case in the content type */
  CHECK_EQ_INT(
      http_answer(
          s.port, NULL,
          &(ht_request){.ctype = "Application/JSON; charset=utf-8", BODY(js)},
          &r),
      200);
  CHECK_EQ_STR(ht_header(&r, "Content-Type", hv, sizeof hv), JS);
  CHECK_EQ_STR(r.body, "{}");
  ht_resp_free(&r);
  expect_json(&x, js.data, (size_t)js.size);

  /* chunked upload, no Content-Length */
  CHECK_EQ_INT(
      http_status(s.port, NULL,
                  &(ht_request){.ctype = PB, BODY(pb2), .chunked = true}),
      200);
  expect_pb(&x, pb2.data, (size_t)pb2.size);

  /* an empty request is a success that adds nothing */
  CHECK_EQ_INT(http_status(s.port, NULL, &(ht_request){.ctype = PB}), 200);

  /* the JSON request decodes to the same spans as its protobuf */
  CHECK(oa_batch_equals(&x.b[1], &x.b[2], ep));
  check_dataset(&s, &x);
  server_stop(&s);
  expected_free(&x);
  oa_bytes_reset(&pb);
  oa_bytes_reset(&pb2);
  oa_bytes_reset(&js);
}

OA_TEST(test_gzip_and_zstd) {
  server s;
  if (server_start(&s, 0, 0, NULL, 0) != 0) {
    CHECK(0);
    return;
  }
  expected x = {.n = 0};
  oa_bytes pb, gz, zs, js, jgz;
  oa_test_gen_request(200, 3, &pb);
  enc_gzip(pb.data, (size_t)pb.size, 6, &gz);
  enc_zstd(pb.data, (size_t)pb.size, 3, &zs);
  oa_error e_ = {{0}}, *ep = &e_;
  oa_bytes_init(&js);
  CHECK_OK(oa_otlp_traces_pb_to_json(pb.data, pb.size, &js, ep), ep);
  enc_gzip(js.data, (size_t)js.size, 6, &jgz);
  ht_resp r;

  CHECK_EQ_INT(
      http_status(s.port, NULL,
                  &(ht_request){.ctype = PB, .extra = ENC_GZIP, BODY(gz)}),
      200);
  expect_pb(&x, pb.data, (size_t)pb.size);

  CHECK_EQ_INT(
      http_status(s.port, NULL,
                  &(ht_request){.ctype = PB, .extra = ENC_ZSTD, BODY(zs)}),
      200);
  expect_pb(&x, pb.data, (size_t)pb.size);

  CHECK_EQ_INT(http_answer(s.port, NULL,
                           &(ht_request){.ctype = JS,
                                         .extra = "Content-Encoding: GZIP\r\n",
                                         BODY(jgz),
                                         .chunked = true},
                           &r),
               200);
  CHECK_EQ_STR(r.body, "{}");
  ht_resp_free(&r);
  expect_json(&x, js.data, (size_t)js.size);

  /* two gzip members back to back are one body */
  oa_bytes two, half1, half2;
  size_t cut = (size_t)pb.size / 2;
  enc_gzip(pb.data, cut, 6, &half1);
  enc_gzip(pb.data + cut, (size_t)pb.size - cut, 6, &half2);
  oa_bytes_init(&two);
  oa_bytes_append(&two, half1.data, half1.size);
  oa_bytes_append(&two, half2.data, half2.size);
  CHECK_EQ_INT(
      http_status(s.port, NULL,
                  &(ht_request){.ctype = PB, .extra = ENC_GZIP, BODY(two)}),
      200);
  expect_pb(&x, pb.data, (size_t)pb.size);

  /* corrupt and truncated compressed bodies: 400 with a message */
  int64_t code;
  char msg[1024];
  CHECK_EQ_INT(http_pb_status(s.port, NULL,
                              &(ht_request){.ctype = PB,
                                            .extra = ENC_GZIP,
                                            .body = pb.data,
                                            .len = 100},
                              &code, msg, sizeof msg),
               400);
  CHECK_EQ_INT(code, 3);
  CHECK(strstr(msg, "gzip body") != NULL);
  CHECK_EQ_INT(http_pb_status(s.port, NULL,
                              &(ht_request){.ctype = PB,
                                            .extra = ENC_GZIP,
                                            .body = gz.data,
                                            .len = (size_t)gz.size - 10},
                              &code, msg, sizeof msg),
               400);
  CHECK(strstr(msg, "truncated") != NULL);
  CHECK_EQ_INT(http_answer(s.port, NULL,
                           &(ht_request){.ctype = JS,
                                         .extra = ENC_ZSTD,
                                         .body = zs.data,
                                         .len = (size_t)zs.size / 2},
                           &r),
               400);
  CHECK_EQ_STR(ht_header(&r, "Content-Type", msg, sizeof msg), JS);
  CHECK(strstr(r.body, "zstd body is truncated") != NULL);
  ht_resp_free(&r);
  CHECK_EQ_INT(http_pb_status(s.port, NULL,
                              &(ht_request){.ctype = PB,
                                            .extra = ENC_ZSTD,
                                            .body = "not zstd at all",
                                            .len = 15},
                              &code, msg, sizeof msg),
               400);
  CHECK(strstr(msg, "zstd body") != NULL);

  /* unknown encoding */
  CHECK_EQ_INT(http_pb_status(s.port, NULL,
                              &(ht_request){.ctype = PB,
                                            .extra = "Content-Encoding: br\r\n",
                                            BODY(pb)},
                              &code, msg, sizeof msg),
               415);
  CHECK(strstr(msg, "Content-Encoding 'br'") != NULL);
  CHECK(strstr(msg, "gzip, zstd") != NULL);

  check_dataset(&s, &x);
  server_stop(&s);
  expected_free(&x);
  oa_bytes_reset(&pb);
  oa_bytes_reset(&gz);
  oa_bytes_reset(&zs);
  oa_bytes_reset(&js);
  oa_bytes_reset(&jgz);
  oa_bytes_reset(&two);
  oa_bytes_reset(&half1);
  oa_bytes_reset(&half2);
}

/* Content-Encoding: lz4 (the LZ4 frame format): accepted over the network
 * and through the request path in pieces of any size, equal to the decode
 * of the uncompressed bytes; a bomb stops at the limit (413); truncated,
 * corrupt or foreign bytes are 400 with a message. */
OA_TEST(test_lz4) {
  server s;
  if (server_start(&s, 0, 1 << 20, NULL, 0) != 0) {
    CHECK(0);
    return;
  }
  oa_error e_ = {{0}}, *ep = &e_;
  expected x = {.n = 0};
  oa_bytes pb, lz, lz2, two, js, jlz;
  oa_test_gen_request(300, 11, &pb);
  lz4_bytes(pb.data, (size_t)pb.size, LZ4F_max64KB, &lz);
  lz4_bytes(pb.data, (size_t)pb.size, LZ4F_max4MB, &lz2);
  CHECK(lz.size > 0 && lz.size < pb.size);
  oa_bytes_init(&js);
  CHECK_OK(oa_otlp_traces_pb_to_json(pb.data, pb.size, &js, ep), ep);
  lz4_bytes(js.data, (size_t)js.size, LZ4F_max256KB, &jlz);
  ht_resp r;
  int64_t code;
  char msg[1024];

  CHECK_EQ_INT(
      http_status(s.port, NULL,
                  &(ht_request){.ctype = PB, .extra = ENC_LZ4, BODY(lz)}),
      200);
  expect_pb(&x, pb.data, (size_t)pb.size);
  CHECK_EQ_INT(http_status(s.port, NULL,
                           &(ht_request){.ctype = JS,
                                         .extra = "Content-Encoding: LZ4\r\n",
                                         BODY(jlz),
                                         .chunked = true}),
               200);
  expect_json(&x, js.data, (size_t)js.size);

  /* two frames back to back are one body */
  size_t cut = (size_t)pb.size / 3;
  oa_bytes a, b;
  lz4_bytes(pb.data, cut, LZ4F_max64KB, &a);
  lz4_bytes(pb.data + cut, (size_t)pb.size - cut, LZ4F_max1MB, &b);
  oa_bytes_init(&two);
  oa_bytes_append(&two, a.data, a.size);
  oa_bytes_append(&two, b.data, b.size);
  CHECK_EQ_INT(
      http_status(s.port, NULL,
                  &(ht_request){.ctype = PB, .extra = ENC_LZ4, BODY(two)}),
      200);
  expect_pb(&x, pb.data, (size_t)pb.size);

  /* the request path alone, in pieces of 1, 7 and 4096 bytes and whole:
   * the same batch as the uncompressed bytes */
  oa_otlp_decoder *dec = NULL;
  oa_otlp_json_decoder *jdec = NULL;
  CHECK_OK(oa_otlp_decoder_new(&dec, NULL, ep), ep);
  CHECK_OK(oa_otlp_json_decoder_new(&jdec, NULL, ep), ep);
  oa_batch plain;
  oa_batch_init(&plain);
  CHECK_OK(oa_otlp_decode_traces(pb.data, pb.size, NULL, &plain, NULL, ep), ep);
  const oa_bytes *frames[] = {&lz, &lz2, &two};
  size_t chunks[] = {1, 7, 4096, 0};
  for (int f = 0; f < 3; f++)
    for (int c = 0; c < 4; c++) {
      oa_batch got;
      oa_batch_init(&got);
      oa_otlp_result res;
      oa_otlp_http_outcome out;
      CHECK_EQ_INT(oa_otlp_http_decode_request(
                       PB, "lz4", frames[f]->data, (size_t)frames[f]->size,
                       chunks[c], 1 << 20, dec, jdec, &got, &res, &out),
                   0);
      CHECK_EQ_INT(out.status, 200);
      CHECK_EQ_INT(res.accepted_spans, 300);
      CHECK(oa_batch_equals(&got, &plain, ep));
      oa_batch_reset(&got);
    }

  /* a bomb: 64 MiB of zeros in a frame of a few hundred KB, against a
   * 1 MiB limit, over the network and in the request path */
  size_t big = 64u << 20;
  uint8_t *zeros = calloc(1, big);
  oa_bytes bomb;
  lz4_bytes(zeros, big, LZ4F_max4MB, &bomb);
  free(zeros);
  CHECK(bomb.size < (1 << 20));
  CHECK_EQ_INT(
      http_pb_status(s.port, NULL,
                     &(ht_request){.ctype = PB, .extra = ENC_LZ4, BODY(bomb)},
                     &code, msg, sizeof msg),
      413);
  CHECK_EQ_INT(code, 8);
  CHECK(strstr(msg, "exceeds the limit of 1048576 bytes after decompression") !=
        NULL);
  {
    oa_batch got;
    oa_batch_init(&got);
    oa_otlp_result res;
    oa_otlp_http_outcome out;
    CHECK_EQ_INT(oa_otlp_http_decode_request(PB, "lz4", bomb.data,
                                             (size_t)bomb.size, 512, 1 << 20,
                                             dec, jdec, &got, &res, &out),
                 0);
    CHECK_EQ_INT(out.status, 413);
    CHECK_EQ_INT(got.length, 0);
  }

  /* truncated: no end mark (and no checksum) */
  CHECK_EQ_INT(http_pb_status(s.port, NULL,
                              &(ht_request){.ctype = PB,
                                            .extra = ENC_LZ4,
                                            .body = lz.data,
                                            .len = (size_t)lz.size - 6},
                              &code, msg, sizeof msg),
               400);
  CHECK_EQ_INT(code, 3);
  CHECK(strstr(msg, "lz4 body is truncated") != NULL);
  /* corrupt: a flipped byte in the compressed blocks fails the block
   * decoder or the content checksum */
  oa_bytes bad;
  oa_bytes_init(&bad);
  oa_bytes_append(&bad, lz.data, lz.size);
  for (int64_t i = 40; i < bad.size - 8; i += 97)
    bad.data[i] ^= 0x5a;
  CHECK_EQ_INT(
      http_pb_status(s.port, NULL,
                     &(ht_request){.ctype = PB, .extra = ENC_LZ4, BODY(bad)},
                     &code, msg, sizeof msg),
      400);
  CHECK(strstr(msg, "lz4 body: ") != NULL);
  /* not lz4 at all (gzip bytes): the frame magic is wrong */
  oa_bytes gz;
  enc_gzip(pb.data, (size_t)pb.size, 6, &gz);
  CHECK_EQ_INT(
      http_answer(s.port, NULL,
                  &(ht_request){.ctype = JS, .extra = ENC_LZ4, BODY(gz)}, &r),
      400);
  CHECK(strstr(r.body, "lz4 body: ") != NULL);
  CHECK(strstr(r.body, "compressed byte") != NULL);
  ht_resp_free(&r);
  /* empty body with the encoding: no frame */
  CHECK_EQ_INT(
      http_status(
          s.port, NULL,
          &(ht_request){.ctype = PB, .extra = ENC_LZ4, .body = "", .len = 0}),
      400);

  /* the counters (those set before the answer is sent) */
  oa_otlp_http_stats st;
  oa_otlp_http_get_stats(s.h, &st);
  CHECK_EQ_INT(st.requests, 8);
  CHECK_EQ_INT(st.accepted_spans, 900);
  CHECK_EQ_INT(st.rejected_spans, 0);
  CHECK_EQ_INT(st.decoded_bytes, 2 * pb.size + js.size);
  CHECK_EQ_INT(st.cut_connections, 0);

  check_dataset(&s, &x);
  server_stop(&s);
  expected_free(&x);
  oa_batch_reset(&plain);
  oa_otlp_decoder_free(dec);
  oa_otlp_json_decoder_free(jdec);
  oa_bytes *all[] = {&pb, &lz, &lz2, &two, &js, &jlz, &a, &b, &bomb, &bad, &gz};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    oa_bytes_reset(all[i]);
}

/* protobuf writer helpers for hand-made requests */
static void pb_tag_len(oa_bytes *b, unsigned field, const void *d, size_t n) {
  uint8_t t[12];
  size_t k = 0;
  uint64_t v = (uint64_t)field << 3 | 2;
  while (v >= 0x80)
    t[k++] = (uint8_t)(v | 0x80), v >>= 7;
  t[k++] = (uint8_t)v;
  v = n;
  while (v >= 0x80)
    t[k++] = (uint8_t)(v | 0x80), v >>= 7;
  t[k++] = (uint8_t)v;
  oa_bytes_append(b, t, (int64_t)k);
  oa_bytes_append(b, d, (int64_t)n);
}

static void pb_span(oa_bytes *spans, size_t trace_id_len, const char *name) {
  static const uint8_t tid[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                  9, 10, 11, 12, 13, 14, 15, 16};
  static const uint8_t sid[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 2};
  oa_bytes sp;
  oa_bytes_init(&sp);
  pb_tag_len(&sp, 1, tid, trace_id_len);
  pb_tag_len(&sp, 2, sid, 8);
  pb_tag_len(&sp, 5, name, strlen(name));
  pb_tag_len(spans, 2, sp.data, (size_t)sp.size); /* ScopeSpans.spans */
  oa_bytes_reset(&sp);
}

OA_TEST(test_partial_success) {
  server s;
  if (server_start(&s, 0, 0, NULL, 0) != 0) {
    CHECK(0);
    return;
  }
  expected x = {.n = 0};
  /* one good span, one whose trace id has 3 bytes */
  oa_bytes scope, rs, reqb;
  oa_bytes_init(&scope);
  oa_bytes_init(&rs);
  oa_bytes_init(&reqb);
  pb_span(&scope, 16, "good");
  pb_span(&scope, 3, "bad");
  pb_tag_len(&rs, 2, scope.data, (size_t)scope.size);
  pb_tag_len(&reqb, 1, rs.data, (size_t)rs.size);

  oa_otlp_result want;
  oa_batch wb;
  oa_batch_init(&wb);
  oa_error e_ = {{0}}, *ep = &e_;
  CHECK_OK(oa_otlp_decode_traces(reqb.data, reqb.size, NULL, &wb, &want, ep),
           ep);
  CHECK_EQ_INT(want.rejected_spans, 1);
  CHECK_EQ_INT(wb.length, 1);
  oa_batch_reset(&wb);

  ht_resp r;
  int64_t rej;
  char msg[1024];
  CHECK_EQ_INT(
      http_answer(s.port, NULL, &(ht_request){.ctype = PB, BODY(reqb)}, &r),
      200);
  CHECK(parse_partial_pb(&r, &rej, msg, sizeof msg));
  CHECK_EQ_INT(rej, 1);
  CHECK(msg[0] != 0);
  CHECK_EQ_STR(msg, want.error_message);
  ht_resp_free(&r);
  expect_pb(&x, reqb.data, (size_t)reqb.size);

  const char *js =
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
      "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":"
      "\"eee19b7ec3c1b174\",\"name\":\"good\",\"startTimeUnixNano\":\"1\","
      "\"endTimeUnixNano\":\"2\"},"
      "{\"traceId\":\"abc\",\"spanId\":\"eee19b7ec3c1b174\",\"name\":\"bad\"},"
      "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"zz\","
      "\"name\":\"bad2\"}]}]}]}";
  CHECK_EQ_INT(
      http_answer(s.port, NULL,
                  &(ht_request){.ctype = JS, .body = js, .len = strlen(js)},
                  &r),
      200);
  json_object *o = json_tokener_parse(r.body);
  json_object *ps = NULL, *v = NULL;
  CHECK(o && json_object_object_get_ex(o, "partialSuccess", &ps));
  CHECK(ps && json_object_object_get_ex(ps, "rejectedSpans", &v));
  CHECK(v && json_object_get_int64(v) == 2);
  CHECK(ps && json_object_object_get_ex(ps, "errorMessage", &v));
  CHECK(v && json_object_get_string_len(v) > 0);
  json_object_put(o);
  ht_resp_free(&r);
  expect_json(&x, js, strlen(js));
  CHECK_EQ_INT(x.b[1].length, 1);

  check_dataset(&s, &x);
  server_stop(&s);
  expected_free(&x);
  oa_bytes_reset(&scope);
  oa_bytes_reset(&rs);
  oa_bytes_reset(&reqb);
}

OA_TEST(test_malformed_and_content_type) {
  server s;
  if (server_start(&s, 0, 0, NULL, 0) != 0) {
    CHECK(0);
    return;
  }
  int64_t code;
  char msg[1024];
  oa_error want = {{0}};
  oa_batch b;
  oa_batch_init(&b);

  /* a length that runs past the end */
  static const uint8_t bad_pb[] = {0x0a, 0x05, 0x12, 0x01};
  CHECK(oa_otlp_decode_traces(bad_pb, sizeof bad_pb, NULL, &b, NULL, &want) ==
        EINVAL);
  CHECK_EQ_INT(
      http_pb_status(
          s.port, NULL,
          &(ht_request){.ctype = PB, .body = bad_pb, .len = sizeof bad_pb},
          &code, msg, sizeof msg),
      400);
  CHECK_EQ_INT(code, 3);
  CHECK_EQ_STR(msg, want.message);

  const char *bad_js = "{\"resourceSpans\": [ {\"scopeSpans\": 7 ]";
  CHECK(oa_otlp_decode_traces_json(bad_js, (int64_t)strlen(bad_js), NULL, &b,
                                   NULL, &want) == EINVAL);
  CHECK_EQ_INT(
      http_json_status(
          s.port, NULL,
          &(ht_request){.ctype = JS, .body = bad_js, .len = strlen(bad_js)},
          &code, msg, sizeof msg),
      400);
  CHECK_EQ_INT(code, 3);
  CHECK_EQ_STR(msg, want.message);
  oa_batch_reset(&b);

  /* content types */
  const char *wrong[] = {"text/plain", "application/protobuf",
                         "application/x-protobufx", NULL};
  for (int i = 0; i < 4; i++) {
    CHECK_EQ_INT(
        http_pb_status(s.port, NULL,
                       &(ht_request){.ctype = wrong[i], .body = "{}", .len = 2},
                       &code, msg, sizeof msg),
        415);
    CHECK(strstr(msg, "application/x-protobuf") != NULL);
    CHECK(strstr(msg, "application/json") != NULL);
    if (wrong[i]) CHECK(strstr(msg, wrong[i]) != NULL);
  }
  check_dataset(&s, &(expected){.n = 0});
  server_stop(&s);
}

OA_TEST(test_size_limits) {
  const int64_t limit = 1 << 20;
  server s;
  if (server_start(&s, 0, limit, NULL, 0) != 0) {
    CHECK(0);
    return;
  }
  expected x = {.n = 0};
  int64_t code;
  char msg[1024];

  /* announced too large: answered at once, without a body */
  CHECK_EQ_INT(http_pb_status(s.port, NULL,
                              &(ht_request){.ctype = PB,
                                            .len = (size_t)limit + 1,
                                            .headers_only = true},
                              &code, msg, sizeof msg),
               413);
  CHECK_EQ_INT(code, 8);
  CHECK(strstr(msg, "1048577 bytes exceeds the limit of 1048576") != NULL);

  /* chunked, no length: cut while reading */
  size_t big = (size_t)limit + limit / 2;
  uint8_t *zeros = calloc(1, 8 << 20);
  CHECK_EQ_INT(http_pb_status(
                   s.port, NULL,
                   &(ht_request){
                       .ctype = PB, .body = zeros, .len = big, .chunked = true},
                   &code, msg, sizeof msg),
               413);
  CHECK(strstr(msg, "exceeds the limit of 1048576 bytes") != NULL);

  /* decompression bombs: 8 MiB of zeros in a few KiB */
  oa_bytes gz, zs;
  enc_gzip(zeros, 8 << 20, 6, &gz);
  enc_zstd(zeros, 8 << 20, 3, &zs);
  CHECK(gz.size < 64 * 1024);
  CHECK(zs.size < 64 * 1024);
  const char *enc[2] = {ENC_GZIP, ENC_ZSTD};
  oa_bytes *bodies[2] = {&gz, &zs};
  for (int i = 0; i < 2; i++) {
    CHECK_EQ_INT(
        http_json_status(
            s.port, NULL,
            &(ht_request){.ctype = JS, .extra = enc[i], BODY(*bodies[i])},
            &code, msg, sizeof msg),
        413);
    CHECK_EQ_INT(code, 8);
    CHECK(strstr(msg, "after decompression") != NULL);
  }
  /* exactly at the limit after decompression is fine: a valid request
   * padded with an unknown field to limit bytes */
  oa_bytes pb, padded, pgz;
  oa_test_gen_request(20, 4, &pb);
  oa_bytes_init(&padded);
  oa_bytes_append(&padded, pb.data, pb.size);
  size_t pad = (size_t)limit - (size_t)pb.size - 5; /* tag + 4-byte length */
  uint8_t hdr[5] = {(uint8_t)(15 << 3 | 2), (uint8_t)(pad | 0x80),
                    (uint8_t)((pad >> 7) | 0x80), (uint8_t)((pad >> 14) | 0x80),
                    (uint8_t)(pad >> 21)};
  oa_bytes_append(&padded, hdr, 5);
  oa_bytes_append(&padded, zeros, (int64_t)pad);
  CHECK_EQ_INT(padded.size, limit);
  enc_gzip(padded.data, (size_t)padded.size, 6, &pgz);
  CHECK_EQ_INT(
      http_status(s.port, NULL,
                  &(ht_request){.ctype = PB, .extra = ENC_GZIP, BODY(pgz)}),
      200);
  expect_pb(&x, padded.data, (size_t)padded.size);
  /* one byte more is not */
  oa_bytes_append(&padded, "", 1);
  padded.data[padded.size - 1] = 0;
  CHECK_EQ_INT(
      http_status(s.port, NULL,
                  &(ht_request){.ctype = PB, BODY(padded), .chunked = true}),
      413);

  /* still serving */
  CHECK_EQ_INT(http_status(s.port, NULL, &(ht_request){.ctype = PB, BODY(pb)}),
               200);
  expect_pb(&x, pb.data, (size_t)pb.size);

  check_dataset(&s, &x);
  server_stop(&s);
  expected_free(&x);
  free(zeros);
  oa_bytes_reset(&gz);
  oa_bytes_reset(&zs);
  oa_bytes_reset(&pb);
  oa_bytes_reset(&padded);
  oa_bytes_reset(&pgz);
}

OA_TEST(test_memory_limit) {
  server s;
  if (server_start(&s, 256 * 1024, 0, NULL, 0) != 0) {
    CHECK(0);
    return;
  }
  expected x = {.n = 0};
  ht_resp r;
  int got503 = 0;
  for (int i = 0; i < 200 && !got503; i++) {
    oa_bytes pb;
    oa_test_gen_request(40, 100 + (uint64_t)i, &pb);
    CHECK_OK(ht_send(s.port, &(ht_request){.ctype = PB, BODY(pb)}, &r),
             (oa_error *)NULL);
    if (r.status == 200) {
      expect_pb(&x, pb.data, (size_t)pb.size);
    } else {
      CHECK_EQ_INT(r.status, 503);
      got503 = 1;
      char hv[64], msg[1024];
      CHECK_EQ_STR(ht_header(&r, "Retry-After", hv, sizeof hv), "3");
      int64_t code;
      CHECK(parse_status_pb(&r, &code, msg, sizeof msg));
      CHECK_EQ_INT(code, 14);
      CHECK(msg[0] != 0);
      /* the RetryInfo detail */
      CHECK(memmem(r.body, r.body_len, "google.rpc.RetryInfo", 20) != NULL);
    }
    ht_resp_free(&r);
    oa_bytes_reset(&pb);
  }
  CHECK(got503);
  CHECK(x.n >= 2);
  if (getenv("OA_VERBOSE"))
    printf("memory limit: %d requests accepted before 503\n", x.n);
  /* JSON clients get the JSON form */
  oa_bytes pb, js;
  oa_test_gen_request(40, 999, &pb);
  oa_bytes_init(&js);
  oa_error e_ = {{0}}, *ep = &e_;
  CHECK_OK(oa_otlp_traces_pb_to_json(pb.data, pb.size, &js, ep), ep);
  CHECK_EQ_INT(
      http_answer(s.port, NULL, &(ht_request){.ctype = JS, BODY(js)}, &r), 503);
  json_object *o = json_tokener_parse(r.body), *v = NULL;
  CHECK(o && json_object_object_get_ex(o, "code", &v) &&
        json_object_get_int(v) == 14);
  CHECK(o && json_object_object_get_ex(o, "details", &v) &&
        json_object_array_length(v) == 1);
  json_object_put(o);
  ht_resp_free(&r);
  /* everything accepted before is still there */
  check_dataset(&s, &x);
  server_stop(&s);
  expected_free(&x);
  oa_bytes_reset(&pb);
  oa_bytes_reset(&js);
}

OA_TEST(test_routing_and_auth) {
  server s;
  if (server_start(&s, 0, 0, "s3cret", 0) != 0) {
    CHECK(0);
    return;
  }
  ht_resp r;
  char hv[256], msg[1024];
  int64_t code;
  const char *signals[2] = {"/v1/logs", "/v1/metrics"};
  for (int i = 0; i < 2; i++) {
    CHECK_EQ_INT(http_pb_status(
                     s.port, NULL,
                     &(ht_request){
                         .path = signals[i], .ctype = PB, .body = "", .len = 0},
                     &code, msg, sizeof msg),
                 404);
    CHECK(strstr(msg, i ? "metrics are not supported yet"
                        : "logs are not supported yet") != NULL);
  }
  CHECK_EQ_INT(http_answer(s.port, NULL,
                           &(ht_request){.path = "/v1/tracesx", .ctype = JS},
                           &r),
               404);
  CHECK(strstr(r.body, "no such path '/v1/tracesx'") != NULL);
  ht_resp_free(&r);

  /* no token, wrong token, right token */
  CHECK_EQ_INT(http_answer(s.port, NULL, &(ht_request){.ctype = PB}, &r), 401);
  CHECK_EQ_STR(ht_header(&r, "WWW-Authenticate", hv, sizeof hv), "Bearer");
  ht_resp_free(&r);
  CHECK_EQ_INT(
      http_status(s.port, NULL,
                  &(ht_request){.ctype = PB,
                                .extra = "Authorization: Bearer s3cre\r\n"}),
      401);
  CHECK_EQ_INT(
      http_status(s.port, NULL,
                  &(ht_request){.ctype = PB,
                                .extra = "Authorization: Bearer s3cretX\r\n"}),
      401);
  CHECK_EQ_INT(
      http_status(s.port, NULL,
                  &(ht_request){.ctype = PB,
                                .extra = "Authorization: bearer s3cret\r\n"}),
      200);

  const char *methods[3] = {"GET", "PUT", "DELETE"};
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(
        http_answer(s.port, NULL,
                    &(ht_request){.method = methods[i],
                                  .ctype = PB,
                                  .extra = "Authorization: Bearer s3cret\r\n"},
                    &r),
        405);
    CHECK_EQ_STR(ht_header(&r, "Allow", hv, sizeof hv), "POST");
    ht_resp_free(&r);
  }
  check_dataset(&s, &(expected){.n = 0});
  server_stop(&s);
}

typedef struct client_job {
  int port;
  int id;
  int ok;
} client_job;

static void *client_thread(void *arg) {
  client_job *j = arg;
  for (int i = 0; i < 10; i++) {
    oa_bytes pb;
    oa_test_gen_request(20, 1000 + (uint64_t)(j->id * 100 + i), &pb);
    oa_bytes body;
    bool zstd = (i % 2) == 1;
    if (zstd)
      enc_zstd(pb.data, (size_t)pb.size, 3, &body);
    else {
      oa_bytes_init(&body);
      oa_bytes_append(&body, pb.data, pb.size);
    }
    ht_resp r;
    if (ht_send(j->port,
                &(ht_request){
                    .ctype = PB, .extra = zstd ? ENC_ZSTD : NULL, BODY(body)},
                &r) == 0 &&
        r.status == 200)
      j->ok++;
    ht_resp_free(&r);
    oa_bytes_reset(&pb);
    oa_bytes_reset(&body);
  }
  return NULL;
}

OA_TEST(test_concurrent_clients) {
  server s;
  if (server_start(&s, 0, 0, NULL, 0) != 0) {
    CHECK(0);
    return;
  }
  pthread_t t[4];
  client_job jobs[4];
  for (int i = 0; i < 4; i++) {
    jobs[i] = (client_job){.port = s.port, .id = i};
    pthread_create(&t[i], NULL, client_thread, &jobs[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    CHECK_EQ_INT(jobs[i].ok, 10);
  }
  oa_dataset_info info;
  oa_error e_ = {{0}}, *ep = &e_;
  CHECK_OK(oa_datasets_info(s.ds, "spans", &info, ep), ep);
  CHECK_EQ_INT(info.n_rows, 4 * 10 * 20);
  CHECK_EQ_INT(info.n_batches, 40);
  oa_schema_release(info.schema);
  server_stop(&s);
}

OA_TEST(test_slow_client_timeout) {
  server s;
  if (server_start(&s, 0, 0, NULL, 1) != 0) {
    CHECK(0);
    return;
  }
  int fd = ht_connect(s.port);
  CHECK(fd >= 0);
  const char *part = "POST /v1/traces HTTP/1.1\r\nHost: x\r\n";
  ht_send_all(fd, part, strlen(part));
  struct timeval t0, t1;
  gettimeofday(&t0, NULL);
  char buf[256];
  ssize_t k = recv(fd, buf, sizeof buf, 0); /* the server hangs up */
  gettimeofday(&t1, NULL);
  double dt =
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6;
  CHECK(k <= 0);
  CHECK(dt < 10.0);
  close(fd);
  server_stop(&s);
}

/* A server on a free port with HTTPS (and mTLS when ca is set). */
static int server_start_tls(server *s, const char *dir, bool mtls) {
  char cert[128], key[128], ca[128];
  snprintf(cert, sizeof cert, "%s/server.pem", dir);
  snprintf(key, sizeof key, "%s/server.key", dir);
  snprintf(ca, sizeof ca, "%s/ca.pem", dir);
  oa_otlp_http_options o;
  oa_otlp_http_options_init(&o);
  o.listen = "127.0.0.1:0";
  o.tls_cert_file = cert;
  o.tls_key_file = key;
  o.tls_client_ca = mtls ? ca : NULL;
  return server_start_opts(s, 0, &o);
}

OA_TEST(test_https_and_mtls) {
  char dir[64];
  if (!oa_test_pki_make(dir, sizeof dir, OA_TEST_PKI_CA | OA_TEST_PKI_CLIENT)) {
    printf("skip test_https_and_mtls: openssl not available\n");
    ht_rm_dir(dir);
    return;
  }
  char ca[128], ccert[128], ckey[128], rcert[128], rkey[128], scert[128],
      skey[128];
  snprintf(ca, sizeof ca, "%s/ca.pem", dir);
  snprintf(ccert, sizeof ccert, "%s/client.pem", dir);
  snprintf(ckey, sizeof ckey, "%s/client.key", dir);
  snprintf(rcert, sizeof rcert, "%s/rogue.pem", dir);
  snprintf(rkey, sizeof rkey, "%s/rogue.key", dir);
  snprintf(scert, sizeof scert, "%s/server.pem", dir);
  snprintf(skey, sizeof skey, "%s/server.key", dir);
  const tls_id anon = {ca, NULL, NULL}, good = {ca, ccert, ckey},
               rogue = {ca, rcert, rkey}, server_as_client = {ca, scert, skey};

  oa_bytes pb1, pb2, pb3;
  oa_test_gen_request(7, 41, &pb1);
  oa_test_gen_request(5, 42, &pb2);
  oa_test_gen_request(3, 43, &pb3);
  static const char js[] =
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
      "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"eee19b7ec3c1b102\","
      "\"name\":\"over-mtls\",\"startTimeUnixNano\":\"1\","
      "\"endTimeUnixNano\":\"2\"}]}]}]}";
  const ht_request q1 = {.ctype = PB, BODY(pb1)};
  const ht_request q2 = {.ctype = PB, BODY(pb2)};
  const ht_request q3 = {.ctype = PB, BODY(pb3)};
  const ht_request qj = {.ctype = JS, .body = js, .len = sizeof js - 1};
  ht_resp r;
  int64_t code;
  char msg[1024];

  /* plain HTTPS (no client CA): no certificate asked for, none needed */
  server s;
  CHECK(server_start_tls(&s, dir, false) == 0);
  expected x = {.n = 0};
  CHECK_EQ_INT(http_answer(s.port, &anon, &q1, &r), 200);
  CHECK_EQ_INT(r.body_len, 0);
  expect_pb(&x, pb1.data, (size_t)pb1.size);
  ht_resp_free(&r);
  /* a client that has a certificate is not asked for it either */
  CHECK_EQ_INT(http_answer(s.port, &rogue, &q2, &r), 200);
  expect_pb(&x, pb2.data, (size_t)pb2.size);
  ht_resp_free(&r);
  /* plain HTTP on the HTTPS port gets no HTTP answer */
  CHECK(ht_send(s.port, &q3, &r) != 0 || r.status == 0);
  ht_resp_free(&r);
  check_dataset(&s, &x);
  expected_free(&x);
  server_stop(&s);

  /* mutual TLS */
  CHECK(server_start_tls(&s, dir, true) == 0);
  /* the right client certificate: protobuf and JSON accepted */
  CHECK_EQ_INT(http_answer(s.port, &good, &q1, &r), 200);
  expect_pb(&x, pb1.data, (size_t)pb1.size);
  ht_resp_free(&r);
  CHECK_EQ_INT(http_answer(s.port, &good, &qj, &r), 200);
  CHECK_EQ_STR(r.body, "{}");
  expect_json(&x, js, sizeof js - 1);
  ht_resp_free(&r);
  /* three requests on one connection: the certificate checked once serves
   * them all */
  int n_ok = 0;
  CHECK_EQ_INT(https_n(s.port, &good, &q2, 3, &n_ok, &r), 0);
  CHECK_EQ_INT(n_ok, 3);
  for (int i = 0; i < 3; i++)
    expect_pb(&x, pb2.data, (size_t)pb2.size);
  ht_resp_free(&r);

  /* no client certificate: 401, nothing stored, in the request's format */
  CHECK_EQ_INT(http_pb_status(s.port, &anon, &q3, &code, msg, sizeof msg), 401);
  CHECK_EQ_INT(code, 16); /* UNAUTHENTICATED */
  CHECK(strstr(msg, "client certificate required") != NULL);
  CHECK_EQ_INT(http_json_status(s.port, &anon, &qj, &code, msg, sizeof msg),
               401);
  CHECK_EQ_INT(code, 16);
  CHECK(strstr(msg, "signed by its client CA") != NULL);
  /* checked before routing: no path is revealed without a certificate */
  CHECK_EQ_INT(http_status(s.port, &anon,
                           &(ht_request){.method = "GET", .path = "/v1/logs"}),
               401);

  /* a self-signed certificate: 403 saying why */
  CHECK_EQ_INT(http_pb_status(s.port, &rogue, &q3, &code, msg, sizeof msg),
               403);
  CHECK_EQ_INT(code, 7); /* PERMISSION_DENIED */
  CHECK(strstr(msg, "client certificate rejected") != NULL);
  CHECK(strstr(msg, "issuer is unknown") != NULL);
  /* signed by the CA but for servers only (extended key usage) */
  CHECK_EQ_INT(
      http_pb_status(s.port, &server_as_client, &q3, &code, msg, sizeof msg),
      403);
  CHECK(strstr(msg, "intended purpose") != NULL);
  /* the rejections stored nothing */
  check_dataset(&s, &x);
  expected_free(&x);
  server_stop(&s);

  /* start errors naming the option or file */
  oa_datasets *ds = NULL;
  oa_error e_ = {{0}}, *ep = &e_;
  CHECK_OK(oa_datasets_new(&ds, 0, ep), ep);
  oa_otlp_http_options so;
  oa_otlp_http_options_init(&so);
  so.listen = "127.0.0.1:0";
  oa_otlp_http *h = NULL;
  so.tls_client_ca = ca;
  CHECK_FAILS(oa_otlp_http_start(&h, &so, ds, ep), EINVAL, ep, "tls_client_ca");
  CHECK(strstr(e_.message, "needs HTTPS") != NULL);
  so.tls_cert_file = scert;
  so.tls_key_file = skey;
  char path[160];
  snprintf(path, sizeof path, "%s/missing-ca.pem", dir);
  so.tls_client_ca = path;
  CHECK_FAILS(oa_otlp_http_start(&h, &so, ds, ep), ENOENT, ep,
              "missing-ca.pem");
  /* a key where the CA should be: no certificate in it */
  so.tls_client_ca = ckey;
  CHECK_FAILS(oa_otlp_http_start(&h, &so, ds, ep), EINVAL, ep,
              "holds no PEM certificate");
  /* a certificate block that does not decode */
  snprintf(path, sizeof path, "%s/bad-ca.pem", dir);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fputs("-----BEGIN CERTIFICATE-----\nnot*base64\n-----END "
          "CERTIFICATE-----\n",
          f);
    fclose(f);
  }
  so.tls_client_ca = path;
  CHECK_FAILS(oa_otlp_http_start(&h, &so, ds, ep), EINVAL, ep, "bad-ca.pem");
  CHECK(h == NULL);
  oa_datasets_free(ds);

  oa_bytes_reset(&pb1);
  oa_bytes_reset(&pb2);
  oa_bytes_reset(&pb3);
  ht_rm_dir(dir);
}

OA_TEST(test_start_errors) {
  oa_datasets *ds = NULL;
  oa_error e_ = {{0}}, *ep = &e_;
  CHECK_OK(oa_datasets_new(&ds, 0, ep), ep);
  oa_otlp_http_options o;
  oa_otlp_http_options_init(&o);
  CHECK_EQ_STR(o.listen, "127.0.0.1:4318");
  CHECK_EQ_INT(o.max_body_size, 20 << 20);
  oa_otlp_http *h = NULL;

  o.listen = "127.0.0.1";
  CHECK_FAILS(oa_otlp_http_start(&h, &o, ds, ep), EINVAL, ep, "host:port");
  o.listen = "127.0.0.1:99999";
  CHECK_FAILS(oa_otlp_http_start(&h, &o, ds, ep), EINVAL, ep, "bad port");
  o.listen = "127.0.0.1:0";
  o.tls_cert_file = "/nonexistent/cert.pem";
  CHECK_FAILS(oa_otlp_http_start(&h, &o, ds, ep), EINVAL, ep,
              "both a TLS certificate and a key");
  o.tls_key_file = "/nonexistent/key.pem";
  CHECK_FAILS(oa_otlp_http_start(&h, &o, ds, ep), ENOENT, ep,
              "/nonexistent/cert.pem");
  o.tls_cert_file = o.tls_key_file = NULL;
  o.max_body_size = 0;
  CHECK_FAILS(oa_otlp_http_start(&h, &o, ds, ep), EINVAL, ep, "max_body_size");
  o.max_body_size = 1 << 20;

  /* a port in use */
  CHECK_OK(oa_otlp_http_start(&h, &o, ds, ep), ep);
  char addr[64];
  const char *addrp = addr;
  snprintf(addr, sizeof addr, "127.0.0.1:%d", oa_otlp_http_port(h));
  o.listen = addr;
  oa_otlp_http *h2 = NULL;
  CHECK_FAILS(oa_otlp_http_start(&h2, &o, ds, ep), EADDRINUSE, ep,
              (const char *)addrp);
  CHECK(h2 == NULL);
  oa_otlp_http_stop(h);
  oa_otlp_http_stop(NULL);
  /* the port is free again after stop */
  CHECK_OK(oa_otlp_http_start(&h2, &o, ds, ep), ep);
  oa_otlp_http_stop(h2);
  oa_datasets_free(ds);
}

OA_TEST_MAIN(OA_T(test_protobuf_and_json), OA_T(test_gzip_and_zstd),
             OA_T(test_lz4), OA_T(test_partial_success),
             OA_T(test_malformed_and_content_type), OA_T(test_size_limits),
             OA_T(test_memory_limit), OA_T(test_routing_and_auth),
             OA_T(test_concurrent_clients), OA_T(test_slow_client_timeout),
             OA_T(test_https_and_mtls), OA_T(test_start_errors))
