/* gRPC server layer hardening: a server-streaming call whose client stops
 * reading is cancelled after write_timeout_ms (DEADLINE_EXCEEDED) and
 * releases what it holds, while a client that reads is never cut however
 * long its stream lasts; bearer tokens that differ only in their last byte
 * or in length are refused. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/oa_grpc.h"
#include "test.h"

#define MSG_SIZE (256 * 1024)

typedef struct fixture {
  oa_grpc_server *srv;
  int port;
  atomic_int live_regions; /* message buffers not yet released */
  atomic_int done_calls, cancelled_calls;
} fixture;

static void nap_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A message buffer that counts itself out when gRPC lets it go. */
typedef struct counted {
  fixture *f;
  uint8_t *data;
} counted;

static void region_gone(void *p) {
  counted *c = p;
  atomic_fetch_sub(&c->f->live_regions, 1);
  free(c->data);
  free(c);
}

/* "N": N messages of MSG_SIZE bytes, each its own counted buffer. */
typedef struct stream_state {
  int n, sent;
} stream_state;

static void write_next(fixture *f, oa_grpc_call *call, stream_state *st) {
  if (st->sent == st->n) {
    oa_grpc_call_finish_code(call, GRPC_STATUS_OK, "sent %d", st->sent);
    return;
  }
  counted *c = malloc(sizeof *c);
  if (!c || !(c->data = malloc(MSG_SIZE))) abort();
  memset(c->data, (int)(st->sent & 0xff), MSG_SIZE);
  c->f = f;
  atomic_fetch_add(&f->live_regions, 1);
  oa_region *r = oa_region_wrap(c->data, MSG_SIZE, region_gone, c);
  if (!r) abort();
  grpc_slice s = oa_grpc_slice_from_region(r, r->data, MSG_SIZE);
  oa_region_release(r);
  st->sent++;
  oa_grpc_call_write(call, &s, 1, NULL);
}

static void s_start(void *ctx, oa_grpc_call *call) {
  oa_grpc_call_set_user(call, calloc(1, sizeof(stream_state)));
  oa_grpc_call_read(call, NULL);
}

static void s_message(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  stream_state *st = oa_grpc_call_user(call);
  if (!msg) {
    if (st->n == 0)
      oa_grpc_call_finish_code(call, GRPC_STATUS_INVALID_ARGUMENT, "none");
    return;
  }
  char buf[16] = {0};
  memcpy(buf, msg->data, msg->size < 15 ? (size_t)msg->size : 15);
  st->n = atoi(buf);
  write_next(ctx, call, st);
}

static void s_sent(void *ctx, oa_grpc_call *call, bool ok) {
  if (ok) write_next(ctx, call, oa_grpc_call_user(call));
}

static void s_done(void *ctx, oa_grpc_call *call, bool cancelled) {
  fixture *f = ctx;
  free(oa_grpc_call_user(call));
  oa_grpc_call_set_user(call, NULL);
  atomic_fetch_add(&f->done_calls, 1);
  if (cancelled) atomic_fetch_add(&f->cancelled_calls, 1);
}

static void unary_ok(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  oa_grpc_call_finish_code(call, GRPC_STATUS_OK, "%s", "");
}

static void start(fixture *f, int64_t write_timeout_ms, const char *token) {
  memset(f, 0, sizeof *f);
  oa_error e, *ep = &e;
  oa_grpc_server_options o;
  oa_grpc_server_options_default(&o);
  o.write_timeout_ms = write_timeout_ms;
  o.auth_token = token;
  o.shutdown_grace_ms = 2000;
  CHECK_OK(oa_grpc_server_new(&f->srv, &o, ep), ep);
  oa_grpc_stream_handler h = {s_start, s_message, s_sent, s_done};
  CHECK_OK(oa_grpc_server_register_stream(
               f->srv, "/t.S/Many", OA_GRPC_SERVER_STREAMING, &h, f, NULL, ep),
           ep);
  CHECK_OK(oa_grpc_server_register_unary(f->srv, "/t.S/Unary", unary_ok, f,
                                         NULL, ep),
           ep);
  CHECK_OK(
      oa_grpc_server_add_listener(f->srv, "127.0.0.1:0", NULL, &f->port, ep),
      ep);
  CHECK_OK(oa_grpc_server_start(f->srv, ep), ep);
}

static oa_grpc_channel *channel(int port) {
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  oa_grpc_channel_options co;
  oa_grpc_channel_options_init(&co);
  co.max_recv_message_size = -1;
  oa_grpc_channel *ch = NULL;
  oa_error e, *ep = &e;
  CHECK_OK(oa_grpc_channel_new(&ch, target, &co, ep), ep);
  return ch;
}

static oa_grpc_stream *open_stream(oa_grpc_channel *ch, int n) {
  oa_error e, *ep = &e;
  oa_grpc_stream *s = NULL;
  CHECK_OK(oa_grpc_stream_start(&s, ch, "/t.S/Many", NULL, ep), ep);
  if (!s) return NULL;
  char req[16];
  snprintf(req, sizeof req, "%d", n);
  grpc_slice sl = grpc_slice_from_copied_string(req);
  CHECK_OK(oa_grpc_stream_write(s, &sl, 1, ep), ep);
  CHECK_OK(oa_grpc_stream_close_send(s, ep), ep);
  return s;
}

OA_TEST(test_stalled_reader_cancelled) {
  fixture f;
  start(&f, 1000, NULL);
  oa_grpc_channel *ch = channel(f.port);
  /* 400 messages of 256 KiB: far more than HTTP/2 flow control lets
   * through to a client that does not read */
  oa_grpc_stream *s = open_stream(ch, 400);
  double t0 = now_s();
  oa_grpc_server_stats st;
  bool gone = false;
  while (now_s() - t0 < 10.0) {
    oa_grpc_server_get_stats(f.srv, &st);
    if (st.writes_timed_out == 1 && st.calls_active == 0) {
      gone = true;
      break;
    }
    nap_ms(50);
  }
  double took = now_s() - t0;
  CHECK(gone);
  /* cancelled about a second after the write stalled */
  CHECK(took >= 0.9 && took < 5.0);
  CHECK_EQ_INT(atomic_load(&f.done_calls), 1);
  CHECK_EQ_INT(atomic_load(&f.cancelled_calls), 1);
  /* every buffer the call held was released */
  CHECK_EQ_INT(atomic_load(&f.live_regions), 0);

  /* the client now reads what had arrived, then the status */
  oa_error e, *ep = &e;
  int got_msgs = 0;
  for (;;) {
    oa_grpc_message *m = NULL;
    bool got = false;
    if (oa_grpc_stream_read(s, &m, &got, ep) != 0 || !got) break;
    got_msgs++;
    oa_grpc_client_message_reset(m);
  }
  CHECK(got_msgs < 400);
  oa_grpc_result res;
  oa_grpc_result_init(&res);
  oa_grpc_stream_finish(s, &res, ep);
  CHECK_EQ_INT(res.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  CHECK(strstr(res.message, "write timeout") != NULL);
  oa_grpc_result_reset(&res);
  oa_grpc_stream_free(s);

  /* a reading client gets everything, however long the stream takes
   * overall (each write is taken at once) */
  s = open_stream(ch, 200);
  int n = 0;
  double t1 = now_s();
  for (;;) {
    oa_grpc_message *m = NULL;
    bool got = false;
    if (oa_grpc_stream_read(s, &m, &got, ep) != 0 || !got) break;
    if (m->size != MSG_SIZE || m->data[0] != (uint8_t)(n & 0xff)) CHECK(0);
    n++;
    oa_grpc_client_message_reset(m);
    if (n % 20 == 0) nap_ms(100); /* slow, but reading */
  }
  CHECK_EQ_INT(n, 200);
  CHECK(now_s() - t1 > 1.0); /* longer than the write timeout in total */
  oa_grpc_result_init(&res);
  CHECK_OK(oa_grpc_stream_finish(s, &res, ep), ep);
  CHECK_EQ_INT(res.code, GRPC_STATUS_OK);
  oa_grpc_result_reset(&res);
  oa_grpc_stream_free(s);
  oa_grpc_server_get_stats(f.srv, &st);
  CHECK_EQ_INT(st.writes_timed_out, 1);

  oa_grpc_channel_release(ch);
  oa_grpc_server_free(f.srv);
  CHECK_EQ_INT(atomic_load(&f.live_regions), 0);
}

static grpc_status_code call_with(oa_grpc_channel *ch, const char *auth) {
  oa_grpc_call_options co = {5000, auth};
  oa_bytes resp;
  oa_bytes_init(&resp);
  oa_grpc_result res;
  oa_grpc_result_init(&res);
  oa_error e;
  grpc_slice sl = grpc_slice_from_static_string("x");
  oa_grpc_unary(ch, "/t.S/Unary", &sl, 1, &co, &resp, &res, &e);
  grpc_status_code code = res.code;
  oa_grpc_result_reset(&res);
  oa_bytes_reset(&resp);
  return code;
}

OA_TEST(test_bearer_token) {
  fixture f;
  start(&f, 0, "s3cret-token");
  oa_grpc_channel *ch = channel(f.port);
  CHECK_EQ_INT(call_with(ch, "Bearer s3cret-token"), GRPC_STATUS_OK);
  CHECK_EQ_INT(call_with(ch, "bearer s3cret-token"), GRPC_STATUS_OK);
  const char *bad[] = {NULL,
                       "Bearer s3cret-tokeN",
                       "Bearer s3cret-toke",
                       "Bearer s3cret-token2",
                       "Bearer ",
                       "Basic s3cret-token",
                       "s3cret-token"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ_INT(call_with(ch, bad[i]), GRPC_STATUS_UNAUTHENTICATED);
  oa_grpc_channel_release(ch);
  oa_grpc_server_free(f.srv);
}

/* gzip-compressed requests: gRPC core decompresses them, and the receive
 * limit applies to the decompressed size (a bomb of 64 MiB of zeros in
 * 64 KiB is refused with RESOURCE_EXHAUSTED, the server keeps serving). */
OA_TEST(test_gzip_bomb) {
  fixture f;
  start(&f, 0, NULL); /* receive limit: the default 4 MiB */
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", f.port);
  oa_grpc_channel_options co;
  oa_grpc_channel_options_init(&co);
  co.gzip = true;
  co.max_send_message_size = -1;
  oa_grpc_channel *ch = NULL;
  oa_error e, *ep = &e;
  CHECK_OK(oa_grpc_channel_new(&ch, target, &co, ep), ep);
  size_t big = 64u << 20;
  uint8_t *zeros = calloc(1, big);
  oa_grpc_call_options opts = {20000, NULL};
  oa_bytes resp;
  oa_bytes_init(&resp);
  oa_grpc_result res;
  oa_grpc_result_init(&res);
  grpc_slice sl = grpc_slice_from_copied_buffer((const char *)zeros, big);
  free(zeros);
  oa_grpc_unary(ch, "/t.S/Unary", &sl, 1, &opts, &resp, &res, &e);
  CHECK_EQ_INT(res.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  oa_grpc_result_reset(&res);
  /* a small compressed request still goes through */
  oa_grpc_result_init(&res);
  sl = grpc_slice_from_static_string("hello");
  oa_grpc_unary(ch, "/t.S/Unary", &sl, 1, &opts, &resp, &res, &e);
  CHECK_EQ_INT(res.code, GRPC_STATUS_OK);
  oa_grpc_result_reset(&res);
  oa_bytes_reset(&resp);
  oa_grpc_channel_release(ch);
  oa_grpc_server_free(f.srv);
}

OA_TEST_MAIN(OA_T(test_stalled_reader_cancelled), OA_T(test_bearer_token),
             OA_T(test_gzip_bomb))
