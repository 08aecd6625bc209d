/* The gRPC event-loop layer against a gRPC core client: unary and streaming
 * echo, errors with details, limits, compression, deadlines, cancellation,
 * auth and shutdown with calls in flight. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "grpc/oa_grpc.h"
#include "grpc_client.h"
#include "test.h"
#include "test_pki.h"

typedef struct fixture {
  oa_grpc_server *srv;
  int port;
  grpc_channel *ch;
  atomic_int done_calls, cancelled_calls, regions_released;
  atomic_int bad_worker;
} fixture;

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- handlers */

typedef struct delayed {
  oa_grpc_call *call;
  int ms;
  uint8_t *data;
  size_t len;
} delayed;

static void *delayed_reply(void *p) {
  delayed *d = p;
  sleep_ms(d->ms);
  oa_grpc_call_reply_bytes(d->call, d->data, d->len, NULL);
  free(d->data);
  free(d);
  return NULL;
}

/* Echo; "fail:MSG" -> INVALID_ARGUMENT MSG; "retry" -> UNAVAILABLE with
 * RetryInfo 1.5 s; "delay:MS" -> the echo from another thread after MS. */
static void unary_echo(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  fixture *f = ctx;
  int w = oa_grpc_call_worker(call);
  if (w < 0 || w >= oa_grpc_server_threads(oa_grpc_call_server(call)))
    atomic_store(&f->bad_worker, 1);
  if (msg->size >= 5 && memcmp(msg->data, "fail:", 5) == 0) {
    oa_grpc_call_finish_code(call, GRPC_STATUS_INVALID_ARGUMENT, "%.*s",
                             (int)msg->size - 5, (const char *)msg->data + 5);
    return;
  }
  if (msg->size == 5 && memcmp(msg->data, "retry", 5) == 0) {
    oa_bytes det;
    oa_bytes_init(&det);
    oa_grpc_status_details_retry(&det, GRPC_STATUS_UNAVAILABLE, "busy", 1500,
                                 NULL);
    oa_grpc_status st = {GRPC_STATUS_UNAVAILABLE, "busy", det.data,
                         (size_t)det.size};
    oa_grpc_call_finish(call, &st, NULL);
    oa_bytes_reset(&det);
    return;
  }
  if (msg->size > 6 && memcmp(msg->data, "delay:", 6) == 0) {
    delayed *d = calloc(1, sizeof *d);
    d->call = call;
    d->ms = atoi((const char *)msg->data + 6);
    d->len = (size_t)msg->size;
    d->data = malloc(d->len);
    memcpy(d->data, msg->data, d->len);
    pthread_t t;
    pthread_create(&t, NULL, delayed_reply, d);
    pthread_detach(t);
    return;
  }
  if (msg->size == 6 && memcmp(msg->data, "region", 6) == 0) {
    /* the reply references the request's bytes through a region */
    oa_region *r = oa_grpc_message_region(msg);
    grpc_slice s = oa_grpc_slice_from_region(r, r->data, (size_t)r->size);
    oa_region_release(r);
    oa_grpc_call_reply(call, &s, 1, NULL);
    return;
  }
  oa_grpc_call_reply_bytes(call, msg->data, (size_t)msg->size, NULL);
}

static void counting_release(void *p) {
  fixture *f = ((void **)p)[0];
  free(((void **)p)[1]);
  free(p);
  atomic_fetch_add(&f->regions_released, 1);
}

/* A region of n bytes (i & 0xff), counted when released. */
static oa_region *counted_region(fixture *f, size_t n) {
  uint8_t *data = malloc(n ? n : 1);
  for (size_t i = 0; i < n; i++)
    data[i] = (uint8_t)(i & 0xff);
  void **priv = malloc(2 * sizeof(void *));
  priv[0] = f;
  priv[1] = data;
  return oa_region_wrap(data, (int64_t)n, counting_release, priv);
}

/* Big: request "N" -> a response of N bytes made of 3 region slices. */
static void unary_big(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  fixture *f = ctx;
  char buf[32] = {0};
  memcpy(buf, msg->data, msg->size < 31 ? (size_t)msg->size : 31);
  size_t n = (size_t)atoll(buf);
  oa_region *r = counted_region(f, n);
  grpc_slice s[3];
  size_t a = n / 3, b = n / 3;
  s[0] = oa_grpc_slice_from_region(r, r->data, a);
  s[1] = oa_grpc_slice_from_region(r, r->data + a, b);
  s[2] = oa_grpc_slice_from_region(r, r->data + a + b, n - a - b);
  oa_region_release(r);
  oa_grpc_call_reply(call, s, 3, NULL);
}

/* Bidi echo: reads, writes back, reads after the write; on half-close
 * finishes OK with the count in the status message. */
typedef struct echo_state {
  int count;
} echo_state;

static void bidi_start(void *ctx, oa_grpc_call *call) {
  oa_grpc_call_set_user(call, calloc(1, sizeof(echo_state)));
  oa_grpc_call_read(call, NULL);
}

static void bidi_message(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  echo_state *st = oa_grpc_call_user(call);
  if (!msg) {
    oa_grpc_call_finish_code(call, GRPC_STATUS_OK, "%d", st->count);
    return;
  }
  st->count++;
  grpc_slice s =
      grpc_slice_from_copied_buffer((const char *)msg->data, (size_t)msg->size);
  oa_grpc_call_write(call, &s, 1, NULL);
}

static void bidi_sent(void *ctx, oa_grpc_call *call, bool ok) {
  if (ok) oa_grpc_call_read(call, NULL);
}

static void bidi_done(void *ctx, oa_grpc_call *call, bool cancelled) {
  fixture *f = ctx;
  free(oa_grpc_call_user(call));
  atomic_fetch_add(&f->done_calls, 1);
  if (cancelled) atomic_fetch_add(&f->cancelled_calls, 1);
}

/* Server streaming: request "N" -> N messages "i", each a region slice,
 * then OK. The write chain is driven by on_sent. */
typedef struct ss_state {
  int n, sent;
} ss_state;

static void ss_write_next(fixture *f, oa_grpc_call *call, ss_state *st) {
  if (st->sent == st->n) {
    oa_grpc_call_finish_code(call, GRPC_STATUS_OK, "sent %d", st->sent);
    return;
  }
  oa_region *r = counted_region(f, 1000);
  grpc_slice s = oa_grpc_slice_from_region(r, r->data, 1000);
  oa_region_release(r);
  st->sent++;
  oa_grpc_call_write(call, &s, 1, NULL);
}

static void ss_start(void *ctx, oa_grpc_call *call) {
  oa_grpc_call_set_user(call, calloc(1, sizeof(ss_state)));
  oa_grpc_call_read(call, NULL);
}

static void ss_message(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  ss_state *st = oa_grpc_call_user(call);
  if (!msg) {
    if (st->n == 0)
      oa_grpc_call_finish_code(call, GRPC_STATUS_INVALID_ARGUMENT,
                               "no request");
    return;
  }
  char buf[16] = {0};
  memcpy(buf, msg->data, msg->size < 15 ? (size_t)msg->size : 15);
  st->n = atoi(buf);
  /* a second write must be refused while one is pending */
  ss_write_next(ctx, call, st);
  if (st->n > 0) {
    oa_error e;
    grpc_slice s = grpc_slice_from_static_string("x");
    if (oa_grpc_call_write(call, &s, 1, &e) != EBUSY) abort();
  }
}

static void ss_sent(void *ctx, oa_grpc_call *call, bool ok) {
  ss_state *st = oa_grpc_call_user(call);
  if (ok) ss_write_next(ctx, call, st);
}

static void ss_done(void *ctx, oa_grpc_call *call, bool cancelled) {
  bidi_done(ctx, call, cancelled);
}

static void fixture_start(fixture *f, const char *auth, int threads) {
  memset(f, 0, sizeof *f);
  oa_error err_, *err = &err_;
  oa_grpc_server_options o;
  oa_grpc_server_options_default(&o);
  o.threads = threads;
  o.auth_token = auth;
  o.shutdown_grace_ms = 3000;
  CHECK_OK(oa_grpc_server_new(&f->srv, &o, err), err);
  CHECK_OK(oa_grpc_server_register_unary(f->srv, "/test.Echo/Unary", unary_echo,
                                         f, NULL, err),
           err);
  CHECK_OK(oa_grpc_server_register_unary(f->srv, "/test.Echo/Big", unary_big, f,
                                         NULL, err),
           err);
  oa_grpc_method_options lim = {100, false};
  CHECK_OK(oa_grpc_server_register_unary(f->srv, "/test.Echo/Limited",
                                         unary_echo, f, &lim, err),
           err);
  oa_grpc_method_options open = {0, true};
  CHECK_OK(oa_grpc_server_register_unary(f->srv, "/test.Echo/Open", unary_echo,
                                         f, &open, err),
           err);
  oa_grpc_stream_handler bidi = {bidi_start, bidi_message, bidi_sent,
                                 bidi_done};
  CHECK_OK(oa_grpc_server_register_stream(f->srv, "/test.Echo/Bidi",
                                          OA_GRPC_BIDI_STREAMING, &bidi, f,
                                          NULL, err),
           err);
  oa_grpc_stream_handler ss = {ss_start, ss_message, ss_sent, ss_done};
  CHECK_OK(oa_grpc_server_register_stream(f->srv, "/test.Echo/Many",
                                          OA_GRPC_SERVER_STREAMING, &ss, f,
                                          NULL, err),
           err);
  CHECK_OK(
      oa_grpc_server_add_listener(f->srv, "127.0.0.1:0", NULL, &f->port, err),
      err);
  CHECK(f->port > 0);
  CHECK_OK(oa_grpc_server_start(f->srv, err), err);
  f->ch = tc_channel(f->port, NULL);
}

static void wait_idle(fixture *f) {
  oa_grpc_server_stats st;
  for (int i = 0; i < 400; i++) {
    oa_grpc_server_get_stats(f->srv, &st);
    if (st.calls_active == 0) return;
    sleep_ms(5);
  }
}

static void fixture_stop(fixture *f) {
  grpc_channel_destroy(f->ch);
  oa_grpc_server_free(f->srv);
}

/* ---- tests */

OA_TEST(test_unary_echo) {
  fixture f;
  fixture_start(&f, NULL, 2);
  tc_result r;
  for (int i = 0; i < 20; i++) {
    char msg[32];
    int n = snprintf(msg, sizeof msg, "hello %d", i);
    tc_unary(f.ch, "/test.Echo/Unary", msg, (size_t)n, 5000, NULL, &r);
    CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
    CHECK_EQ_INT(r.resp_len, n);
    CHECK(r.resp && memcmp(r.resp, msg, (size_t)n) == 0);
    tc_result_free(&r);
  }
  /* empty message */
  tc_unary(f.ch, "/test.Echo/Unary", "", 0, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  CHECK_EQ_INT(r.resp_len, 0);
  tc_result_free(&r);
  /* a reply that references the request's bytes through a region */
  tc_unary(f.ch, "/test.Echo/Unary", "region", 6, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  CHECK(r.resp_len == 6 && memcmp(r.resp, "region", 6) == 0);
  tc_result_free(&r);
  CHECK_EQ_INT(atomic_load(&f.bad_worker), 0);
  wait_idle(&f);
  oa_grpc_server_stats st;
  oa_grpc_server_get_stats(f.srv, &st);
  CHECK_EQ_INT(st.calls_started, 22);
  CHECK_EQ_INT(st.calls_finished, 22);
  fixture_stop(&f);
}

OA_TEST(test_large_messages) {
  fixture f;
  fixture_start(&f, NULL, 2);
  /* 3 MiB request (under the 4 MiB default), echoed */
  size_t n = 3u << 20;
  uint8_t *big = malloc(n);
  for (size_t i = 0; i < n; i++)
    big[i] = (uint8_t)(i * 7 + 3);
  tc_result r;
  tc_unary(f.ch, "/test.Echo/Unary", big, n, 10000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  CHECK(r.resp_len == n && memcmp(r.resp, big, n) == 0);
  tc_result_free(&r);
  /* 5 MiB: over the server limit, refused by gRPC core */
  uint8_t *huge = calloc(5u << 20, 1);
  tc_unary(f.ch, "/test.Echo/Unary", huge, 5u << 20, 10000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  tc_result_free(&r);
  free(huge);
  /* per-method limit of 100 bytes, enforced by the layer */
  tc_unary(f.ch, "/test.Echo/Limited", big, 101, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  CHECK(strstr(r.message, "larger than max (101 vs. 100)") != NULL);
  tc_result_free(&r);
  tc_unary(f.ch, "/test.Echo/Limited", big, 100, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  CHECK_EQ_INT(r.resp_len, 100);
  tc_result_free(&r);
  /* a 20 MB response sent from region slices without copies (no send
   * limit), then the regions are released */
  tc_unary(f.ch, "/test.Echo/Big", "20000000", 8, 20000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  CHECK_EQ_INT(r.resp_len, 20000000);
  bool ok = r.resp_len == 20000000;
  for (size_t i = 0; ok && i < r.resp_len; i++)
    ok = r.resp[i] == (uint8_t)(i & 0xff);
  CHECK(ok);
  tc_result_free(&r);
  free(big);
  wait_idle(&f);
  fixture_stop(&f);
  CHECK_EQ_INT(atomic_load(&f.regions_released), 1);
}

OA_TEST(test_errors_and_details) {
  fixture f;
  fixture_start(&f, NULL, 1);
  tc_result r;
  tc_unary(f.ch, "/test.Echo/Unary", "fail:bad field 'x'", 18, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_EQ_STR(r.message, "bad field 'x'");
  CHECK(r.resp == NULL);
  tc_result_free(&r);
  tc_unary(f.ch, "/test.Echo/Unary", "retry", 5, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_UNAVAILABLE);
  CHECK_EQ_STR(r.message, "busy");
  /* google.rpc.Status{code=14, message="busy", details=[Any{type_url,
   * RetryInfo{retry_delay=Duration{seconds=1, nanos=500000000}}}]},
   * written out by hand from the field numbers */
  static const char kUrl[] = "type.googleapis.com/google.rpc.RetryInfo";
  uint8_t want[128];
  size_t k = 0;
  want[k++] = 0x08;
  want[k++] = 14;
  want[k++] = 0x12;
  want[k++] = 4;
  memcpy(want + k, "busy", 4);
  k += 4;
  uint8_t dur[] = {0x08, 0x01, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01};
  size_t any_len = 2 + (sizeof kUrl - 1) + 2 + 2 + sizeof dur;
  want[k++] = 0x1a;
  want[k++] = (uint8_t)any_len;
  want[k++] = 0x0a;
  want[k++] = sizeof kUrl - 1;
  memcpy(want + k, kUrl, sizeof kUrl - 1);
  k += sizeof kUrl - 1;
  want[k++] = 0x12;
  want[k++] = 2 + sizeof dur;
  want[k++] = 0x0a;
  want[k++] = sizeof dur;
  memcpy(want + k, dur, sizeof dur);
  k += sizeof dur;
  CHECK_EQ_INT(r.details_len, k);
  CHECK(r.details && memcmp(r.details, want, k) == 0);
  tc_result_free(&r);
  /* an unregistered method */
  tc_unary(f.ch, "/test.Echo/Nope", "x", 1, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_UNIMPLEMENTED);
  CHECK(strstr(r.message, "/test.Echo/Nope") != NULL);
  tc_result_free(&r);
  /* the server still serves */
  tc_unary(f.ch, "/test.Echo/Unary", "ok", 2, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  tc_result_free(&r);
  fixture_stop(&f);
}

OA_TEST(test_compression) {
  fixture f;
  fixture_start(&f, NULL, 2);
  grpc_channel *gz = tc_channel(f.port, "gzip");
  size_t n = 1u << 20;
  uint8_t *msg = malloc(n);
  for (size_t i = 0; i < n; i++)
    msg[i] = (uint8_t)("abcdefgh"[i % 8]);
  tc_result r;
  tc_unary(gz, "/test.Echo/Unary", msg, n, 10000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  CHECK(r.resp_len == n && memcmp(r.resp, msg, n) == 0);
  tc_result_free(&r);
  /* 8 MiB of zeros compress to a few KiB: the limit applies to the
   * decompressed size */
  uint8_t *zeros = calloc(8u << 20, 1);
  tc_unary(gz, "/test.Echo/Unary", zeros, 8u << 20, 10000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  tc_result_free(&r);
  /* and the per-method limit too */
  tc_unary(gz, "/test.Echo/Limited", zeros, 1000, 10000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  tc_result_free(&r);
  free(zeros);
  free(msg);
  grpc_channel_destroy(gz);
  fixture_stop(&f);
}

OA_TEST(test_bidi_stream) {
  fixture f;
  fixture_start(&f, NULL, 2);
  tc_stream s;
  tc_stream_start(&s, f.ch, "/test.Echo/Bidi", 10000);
  bool ok = true;
  for (int i = 0; i < 100; i++) {
    char msg[32];
    int n = snprintf(msg, sizeof msg, "message %d", i);
    CHECK(tc_stream_send(&s, msg, (size_t)n));
    size_t len;
    uint8_t *got = tc_stream_recv(&s, &len);
    ok = ok && got && len == (size_t)n && memcmp(got, msg, len) == 0;
    free(got);
  }
  CHECK(ok);
  tc_stream_close_send(&s);
  size_t len;
  CHECK(tc_stream_recv(&s, &len) == NULL);
  tc_result r;
  tc_stream_finish(&s, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  CHECK_EQ_STR(r.message, "100");
  tc_result_free(&r);
  wait_idle(&f);
  CHECK_EQ_INT(atomic_load(&f.done_calls), 1);
  CHECK_EQ_INT(atomic_load(&f.cancelled_calls), 0);
  fixture_stop(&f);
}

OA_TEST(test_server_stream_zero_copy) {
  fixture f;
  fixture_start(&f, NULL, 2);
  tc_stream s;
  tc_stream_start(&s, f.ch, "/test.Echo/Many", 10000);
  CHECK(tc_stream_send(&s, "50", 2));
  tc_stream_close_send(&s);
  int got = 0;
  bool ok = true;
  for (;;) {
    size_t len;
    uint8_t *m = tc_stream_recv(&s, &len);
    if (!m) break;
    got++;
    ok = ok && len == 1000 && m[999] == (uint8_t)(999 & 0xff);
    free(m);
  }
  CHECK(ok);
  CHECK_EQ_INT(got, 50);
  tc_result r;
  tc_stream_finish(&s, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  CHECK_EQ_STR(r.message, "sent 50");
  tc_result_free(&r);
  wait_idle(&f);
  CHECK_EQ_INT(atomic_load(&f.regions_released), 50);
  fixture_stop(&f);
}

OA_TEST(test_deadline_and_cancel) {
  fixture f;
  fixture_start(&f, NULL, 2);
  tc_result r;
  /* the handler answers after 400 ms; the client gives up at 100 ms */
  tc_unary(f.ch, "/test.Echo/Unary", "delay:400", 9, 100, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  tc_result_free(&r);
  /* a late reply on a dead call is harmless, and the server still serves */
  sleep_ms(500);
  tc_unary(f.ch, "/test.Echo/Unary", "delay:50", 8, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  CHECK(r.resp_len == 8 && memcmp(r.resp, "delay:50", 8) == 0);
  tc_result_free(&r);
  /* a stream cancelled by the client: on_done reports it */
  tc_stream s;
  tc_stream_start(&s, f.ch, "/test.Echo/Bidi", 10000);
  CHECK(tc_stream_send(&s, "one", 3));
  size_t len;
  free(tc_stream_recv(&s, &len));
  CHECK_EQ_INT(len, 3);
  grpc_call_cancel(s.call, NULL);
  tc_stream_finish(&s, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_CANCELLED);
  tc_result_free(&r);
  /* a stream whose deadline expires while the server waits for a message */
  tc_stream_start(&s, f.ch, "/test.Echo/Bidi", 150);
  tc_stream_finish(&s, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  tc_result_free(&r);
  wait_idle(&f);
  CHECK_EQ_INT(atomic_load(&f.done_calls), 2);
  CHECK_EQ_INT(atomic_load(&f.cancelled_calls), 2);
  oa_grpc_server_stats st;
  oa_grpc_server_get_stats(f.srv, &st);
  CHECK_EQ_INT(st.calls_active, 0);
  fixture_stop(&f);
}

OA_TEST(test_auth) {
  fixture f;
  fixture_start(&f, "s3cret", 1);
  tc_result r;
  tc_unary(f.ch, "/test.Echo/Unary", "x", 1, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_UNAUTHENTICATED);
  CHECK(strstr(r.message, "bearer token") != NULL);
  tc_result_free(&r);
  tc_unary(f.ch, "/test.Echo/Unary", "x", 1, 5000, "Bearer wrong", &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_UNAUTHENTICATED);
  tc_result_free(&r);
  tc_unary(f.ch, "/test.Echo/Unary", "x", 1, 5000, "Bearer s3cret", &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  tc_result_free(&r);
  tc_unary(f.ch, "/test.Echo/Open", "y", 1, 5000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
  tc_result_free(&r);
  fixture_stop(&f);
}

typedef struct shut_arg {
  fixture *f;
  int64_t grace;
} shut_arg;

static void *shutdown_thread(void *p) {
  shut_arg *a = p;
  oa_grpc_server_shutdown(a->f->srv, a->grace);
  return NULL;
}

typedef struct unary_arg {
  grpc_channel *ch;
  const char *msg;
  tc_result r;
} unary_arg;

static void *unary_thread(void *p) {
  unary_arg *a = p;
  tc_unary(a->ch, "/test.Echo/Unary", a->msg, strlen(a->msg), 10000, NULL,
           &a->r);
  return NULL;
}

OA_TEST(test_shutdown_drains) {
  fixture f;
  fixture_start(&f, NULL, 2);
  /* a call in flight (answered after 300 ms) survives a shutdown with a
   * grace period of 3 s */
  unary_arg ua = {f.ch, "delay:300", {0}};
  pthread_t tu, ts;
  pthread_create(&tu, NULL, unary_thread, &ua);
  sleep_ms(100);
  shut_arg sa = {&f, 3000};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_create(&ts, NULL, shutdown_thread, &sa);
  pthread_join(tu, NULL);
  pthread_join(ts, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  CHECK_EQ_INT(ua.r.code, GRPC_STATUS_OK);
  CHECK(ua.r.resp_len == 9 && memcmp(ua.r.resp, "delay:300", 9) == 0);
  tc_result_free(&ua.r);
  double secs =
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  CHECK(secs < 2.0);
  /* new calls are refused once the server is down */
  tc_result r;
  tc_unary(f.ch, "/test.Echo/Unary", "late", 4, 1000, NULL, &r);
  CHECK(r.code == GRPC_STATUS_UNAVAILABLE ||
        r.code == GRPC_STATUS_DEADLINE_EXCEEDED);
  tc_result_free(&r);
  fixture_stop(&f);

  /* a stream that never ends is cancelled when the grace period is over */
  fixture g;
  fixture_start(&g, NULL, 2);
  tc_stream s;
  tc_stream_start(&s, g.ch, "/test.Echo/Bidi", 30000);
  CHECK(tc_stream_send(&s, "one", 3));
  size_t len;
  free(tc_stream_recv(&s, &len));
  clock_gettime(CLOCK_MONOTONIC, &t0);
  oa_grpc_server_shutdown(g.srv, 200);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  secs =
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  CHECK(secs < 5.0);
  tc_stream_finish(&s, &r);
  CHECK(r.code != GRPC_STATUS_OK);
  tc_result_free(&r);
  CHECK_EQ_INT(atomic_load(&g.done_calls), 1);
  CHECK_EQ_INT(atomic_load(&g.cancelled_calls), 1);
  fixture_stop(&g);
}

OA_TEST(test_api_errors) {
  oa_error err_, *err = &err_;
  oa_grpc_server *srv;
  CHECK_OK(oa_grpc_server_new(&srv, NULL, err), err);
  CHECK_FAILS(
      oa_grpc_server_register_unary(srv, "bad", unary_echo, NULL, NULL, err),
      EINVAL, err, "/pkg.Svc/Method");
  /* neither a handler nor a path: the message names both without %s NULL */
  CHECK_FAILS(oa_grpc_server_register_unary(srv, NULL, NULL, NULL, NULL, err),
              EINVAL, err, "NULL handler for '(null)'");
  CHECK_OK(
      oa_grpc_server_register_unary(srv, "/a.B/C", unary_echo, NULL, NULL, err),
      err);
  CHECK_FAILS(
      oa_grpc_server_register_unary(srv, "/a.B/C", unary_echo, NULL, NULL, err),
      EINVAL, err, "registered twice");
  int port = 0;
  CHECK_OK(oa_grpc_server_add_listener(srv, "127.0.0.1:0", NULL, &port, err),
           err);
  /* the same port twice: refused */
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  oa_grpc_server *other;
  CHECK_OK(oa_grpc_server_new(&other, NULL, err), err);
  CHECK_FAILS(oa_grpc_server_add_listener(other, addr, NULL, NULL, err),
              EADDRINUSE, err, "127.0.0.1:");
  CHECK_FAILS(
      oa_grpc_server_add_listener(other, "not an address", NULL, NULL, err),
      EADDRINUSE, err, "not an address");
  oa_grpc_server_free(other);
  /* raising the limit after a listener exists is refused */
  oa_grpc_method_options big = {-1, false};
  CHECK_FAILS(
      oa_grpc_server_register_unary(srv, "/a.B/D", unary_echo, NULL, &big, err),
      EINVAL, err, "register methods first");
  /* freed without being started */
  oa_grpc_server_free(srv);
  CHECK_FAILS(oa_grpc_read_pem("/nonexistent/cert.pem", (char **)&srv, err),
              EIO, err, "/nonexistent/cert.pem");
}

static grpc_channel *tls_channel(int port, const char *root, const char *key,
                                 const char *cert) {
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  grpc_ssl_pem_key_cert_pair pair = {key, cert};
  grpc_channel_credentials *creds =
      grpc_ssl_credentials_create(root, key ? &pair : NULL, NULL, NULL);
  grpc_channel *ch = grpc_channel_create(target, creds, NULL);
  grpc_channel_credentials_release(creds);
  return ch;
}

OA_TEST(test_tls) {
  char dir[64], path[128];
  if (!oa_test_pki_make(dir, sizeof dir, OA_TEST_PKI_SELF_SIGNED)) {
    printf("skip test_tls: openssl not available\n");
    return;
  }
  oa_error err_, *err = &err_;
  char *cert = NULL, *key = NULL;
  snprintf(path, sizeof path, "%s/cert.pem", dir);
  CHECK_OK(oa_grpc_read_pem(path, &cert, err), err);
  snprintf(path, sizeof path, "%s/key.pem", dir);
  CHECK_OK(oa_grpc_read_pem(path, &key, err), err);
  for (int mtls = 0; mtls < 2 && cert && key; mtls++) {
    oa_grpc_server *srv;
    CHECK_OK(oa_grpc_server_new(&srv, NULL, err), err);
    CHECK_OK(oa_grpc_server_register_unary(srv, "/test.Echo/Unary", unary_echo,
                                           NULL, NULL, err),
             err);
    oa_grpc_tls tls = {cert, key, mtls ? cert : NULL};
    int port = 0;
    CHECK_OK(oa_grpc_server_add_listener(srv, "127.0.0.1:0", &tls, &port, err),
             err);
    CHECK_OK(oa_grpc_server_start(srv, err), err);
    tc_result r;
    /* a TLS client that trusts the certificate (and presents it for mTLS) */
    grpc_channel *ch =
        tls_channel(port, cert, mtls ? key : NULL, mtls ? cert : NULL);
    tc_unary(ch, "/test.Echo/Unary", "secure", 6, 5000, NULL, &r);
    CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
    CHECK(r.resp_len == 6 && memcmp(r.resp, "secure", 6) == 0);
    tc_result_free(&r);
    grpc_channel_destroy(ch);
    /* plaintext against TLS fails */
    ch = tc_channel(port, NULL);
    tc_unary(ch, "/test.Echo/Unary", "plain", 5, 2000, NULL, &r);
    CHECK(r.code == GRPC_STATUS_UNAVAILABLE ||
          r.code == GRPC_STATUS_DEADLINE_EXCEEDED);
    tc_result_free(&r);
    grpc_channel_destroy(ch);
    if (mtls) { /* no client certificate: refused */
      ch = tls_channel(port, cert, NULL, NULL);
      tc_unary(ch, "/test.Echo/Unary", "nocert", 6, 2000, NULL, &r);
      CHECK(r.code != GRPC_STATUS_OK);
      tc_result_free(&r);
      grpc_channel_destroy(ch);
    }
    oa_grpc_server_free(srv);
  }
  free(cert);
  free(key);
  oa_test_rm_dir(dir);
}

OA_TEST_MAIN(OA_T(test_unary_echo), OA_T(test_large_messages),
             OA_T(test_errors_and_details), OA_T(test_compression),
             OA_T(test_bidi_stream), OA_T(test_server_stream_zero_copy),
             OA_T(test_deadline_and_cancel), OA_T(test_auth),
             OA_T(test_shutdown_drains), OA_T(test_api_errors), OA_T(test_tls))
