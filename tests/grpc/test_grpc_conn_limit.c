/* max_connections: with a bound of 3, three clients (each channel is its
 * own connection) are served; a fourth connection is closed as it is
 * accepted and its call fails UNAVAILABLE, while the three keep working.
 * Once a client goes away its slot is free again. Unlimited (-1) serves
 * eight connections and refuses none. memory_quota: a message far larger
 * than the quota is cut off (RESOURCE_EXHAUSTED) before the server holds
 * it whole, and the server keeps serving. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "grpc/oa_grpc.h"
#include "test.h"

#define PATH "/test.Conn/Echo"

static void echo(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  (void)ctx;
  oa_grpc_call_reply_bytes(call, msg->data, (size_t)msg->size, NULL);
}

static void nap_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

static oa_grpc_server *start(int max_connections, int *port) {
  oa_error err_, *err = &err_;
  oa_grpc_server *srv = NULL;
  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  CHECK_EQ_INT(so.max_connections, 1024);
  so.max_connections = max_connections;
  CHECK_OK(oa_grpc_server_new(&srv, &so, err), err);
  CHECK_OK(oa_grpc_server_register_unary(srv, PATH, echo, NULL, NULL, err),
           err);
  CHECK_OK(oa_grpc_server_add_listener(srv, "127.0.0.1:0", NULL, port, err),
           err);
  CHECK_OK(oa_grpc_server_start(srv, err), err);
  return srv;
}

static oa_grpc_channel *dial(int port) {
  oa_error err_, *err = &err_;
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  oa_grpc_channel *ch = NULL;
  CHECK_OK(oa_grpc_channel_new(&ch, target, NULL, err), err);
  return ch;
}

/* One echo call; its status (message in res). */
static grpc_status_code call(oa_grpc_channel *ch, oa_grpc_result *res) {
  oa_error err;
  oa_grpc_call_options co = {3000, NULL};
  grpc_slice s = grpc_slice_from_copied_string("ping");
  oa_bytes resp;
  oa_bytes_init(&resp);
  oa_grpc_result_reset(res);
  int rc = oa_grpc_unary(ch, PATH, &s, 1, &co, &resp, res, &err);
  CHECK_EQ_INT(rc, 0);
  if (res->code == GRPC_STATUS_OK) {
    CHECK_EQ_INT(resp.size, 4);
    CHECK(resp.size == 4 && memcmp(resp.data, "ping", 4) == 0);
  }
  oa_bytes_reset(&resp);
  return res->code;
}

OA_TEST(test_connections_over_the_bound_are_refused) {
  int port = 0;
  oa_grpc_server *srv = start(3, &port);
  oa_grpc_result res;
  oa_grpc_result_init(&res);
  oa_grpc_channel *ch[5];
  for (int i = 0; i < 3; i++) {
    ch[i] = dial(port);
    CHECK_EQ_INT(call(ch[i], &res), GRPC_STATUS_OK);
  }
  oa_grpc_server_stats st;
  oa_grpc_server_get_stats(srv, &st);
  CHECK_EQ_INT(st.connections_active, 3);
  CHECK_EQ_INT(st.connections_refused, 0);

  /* the fourth connection is closed before its handshake */
  ch[3] = dial(port);
  CHECK_EQ_INT(call(ch[3], &res), GRPC_STATUS_UNAVAILABLE);
  oa_grpc_server_get_stats(srv, &st);
  CHECK(st.connections_refused >= 1);
  CHECK_EQ_INT(st.connections_active, 3);
  /* while the three keep working, several calls each */
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < 3; i++)
      CHECK_EQ_INT(call(ch[i], &res), GRPC_STATUS_OK);
  oa_grpc_channel_release(ch[3]); /* it would retry and take the slot */

  /* a client that leaves frees its slot */
  oa_grpc_channel_release(ch[0]);
  for (int waited = 0; waited < 5000; waited += 20) {
    oa_grpc_server_get_stats(srv, &st);
    if (st.connections_active < 3) break;
    nap_ms(20);
  }
  CHECK_EQ_INT(st.connections_active, 2);
  ch[4] = dial(port);
  CHECK_EQ_INT(call(ch[4], &res), GRPC_STATUS_OK);
  oa_grpc_server_get_stats(srv, &st);
  CHECK_EQ_INT(st.connections_active, 3);
  for (int i = 1; i < 3; i++)
    CHECK_EQ_INT(call(ch[i], &res), GRPC_STATUS_OK);

  for (int i = 1; i < 5; i++)
    if (i != 3) oa_grpc_channel_release(ch[i]);
  oa_grpc_result_reset(&res);
  oa_grpc_server_shutdown(srv, 1000);
  oa_grpc_server_free(srv);
}

OA_TEST(test_unlimited_connections) {
  int port = 0;
  oa_grpc_server *srv = start(-1, &port);
  oa_grpc_result res;
  oa_grpc_result_init(&res);
  oa_grpc_channel *ch[8];
  for (int i = 0; i < 8; i++) {
    ch[i] = dial(port);
    CHECK_EQ_INT(call(ch[i], &res), GRPC_STATUS_OK);
  }
  oa_grpc_server_stats st;
  oa_grpc_server_get_stats(srv, &st);
  CHECK_EQ_INT(st.connections_refused, 0);
  for (int i = 0; i < 8; i++)
    oa_grpc_channel_release(ch[i]);
  oa_grpc_result_reset(&res);
  oa_grpc_server_free(srv);
}

OA_TEST(test_bad_max_connections) {
  oa_error err;
  oa_grpc_server *srv = NULL;
  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  so.max_connections = (1 << 20) + 1;
  CHECK_EQ_INT(oa_grpc_server_new(&srv, &so, &err), EINVAL);
  CHECK(strstr(err.message, "max_connections") != NULL);
  CHECK(srv == NULL);
}

/* Client streaming "sum": counts the bytes of every message. */
static void sum_start(void *ctx, oa_grpc_call *call) {
  (void)ctx;
  oa_grpc_call_read(call, NULL);
}

static void sum_message(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  (void)ctx;
  intptr_t n = (intptr_t)oa_grpc_call_user(call);
  if (!msg) {
    oa_grpc_call_finish_code(call, GRPC_STATUS_OK, "%lld", (long long)n);
    return;
  }
  oa_grpc_call_set_user(call, (void *)(n + (intptr_t)msg->size));
  oa_grpc_call_read(call, NULL);
}

static long hwm_mib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char l[256];
  long v = 0;
  while (f && fgets(l, sizeof l, f))
    if (strncmp(l, "VmHWM:", 6) == 0) v = atol(l + 6);
  if (f) fclose(f);
  return v / 1024;
}

/* One message of size bytes on the sum stream; the status. */
static grpc_status_code put(oa_grpc_channel *ch, size_t size,
                            oa_grpc_result *res) {
  oa_error err_, *err = &err_;
  oa_grpc_call_options co = {20000, NULL};
  oa_grpc_stream *st = NULL;
  CHECK_OK(oa_grpc_stream_start(&st, ch, "/test.Conn/Sum", &co, err), err);
  if (!st) return GRPC_STATUS_UNKNOWN;
  grpc_slice s = grpc_slice_malloc(size);
  memset(GRPC_SLICE_START_PTR(s), 7, size);
  if (oa_grpc_stream_write(st, &s, 1, err) == 0)
    oa_grpc_stream_close_send(st, err);
  oa_grpc_result_reset(res);
  oa_grpc_stream_finish(st, res, err);
  oa_grpc_stream_free(st);
  return res->code;
}

OA_TEST(test_memory_quota_cuts_huge_message) {
  oa_error err_, *err = &err_;
  oa_grpc_server *srv = NULL;
  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  so.memory_quota = 32 << 20;
  CHECK_OK(oa_grpc_server_new(&srv, &so, err), err);
  static const oa_grpc_stream_handler h = {sum_start, sum_message, NULL, NULL};
  oa_grpc_method_options big = {-1, false}; /* no size limit but the quota */
  CHECK_OK(oa_grpc_server_register_stream(srv, "/test.Conn/Sum",
                                          OA_GRPC_CLIENT_STREAMING, &h, NULL,
                                          &big, err),
           err);
  int port = 0;
  CHECK_OK(oa_grpc_server_add_listener(srv, "127.0.0.1:0", NULL, &port, err),
           err);
  CHECK_OK(oa_grpc_server_start(srv, err), err);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  oa_grpc_channel_options o;
  oa_grpc_channel_options_init(&o);
  o.max_send_message_size = -1;
  oa_grpc_channel *ch = NULL, *ch2 = NULL;
  CHECK_OK(oa_grpc_channel_new(&ch, target, &o, err), err);
  oa_grpc_result res;
  oa_grpc_result_init(&res);
  /* 128 MiB: the client's copy plus, without the quota, the server's */
  long before = hwm_mib();
  CHECK_EQ_INT(put(ch, (size_t)128 << 20, &res),
               GRPC_STATUS_RESOURCE_EXHAUSTED);
  long grew = hwm_mib() - before;
  if (grew >= 128 + 96) {
    fprintf(stderr, "peak memory grew by %ld MiB\n", grew);
    CHECK(0);
  }
  /* the server keeps serving, messages that fit go through */
  CHECK_OK(oa_grpc_channel_new(&ch2, target, &o, err), err);
  CHECK_EQ_INT(put(ch2, (size_t)4 << 20, &res), GRPC_STATUS_OK);
  CHECK(strcmp(res.message, "4194304") == 0);
  oa_grpc_result_reset(&res);
  oa_grpc_channel_release(ch);
  oa_grpc_channel_release(ch2);
  oa_grpc_server_free(srv);
}

OA_TEST_MAIN(OA_T(test_memory_quota_cuts_huge_message),
             OA_T(test_connections_over_the_bound_are_refused),
             OA_T(test_unlimited_connections), OA_T(test_bad_max_connections))
