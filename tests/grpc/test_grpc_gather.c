/* How the gRPC layer flattens a message that gRPC core hands as several
 * slices: into the thread's reusable buffer (regions taken from it are
 * copies that outlive later calls) or, for a method with an align function,
 * into one region where the chosen byte lands on a 64-byte boundary. */
#include <pthread.h>

#include "grpc/oa_grpc.h"
#include "grpc_client.h"
#include "test.h"

#define MSG_SIZE ((size_t)2 << 20)
#define ALIGN_AT 5

typedef struct seen {
  pthread_mutex_t mu;
  oa_region *kept[4];
  const uint8_t *kept_data[4];
  int n_kept;
  int copied, copied_aligned; /* messages not handed zero copy */
  int bad;                    /* content or alignment mismatches */
  int in_place; /* aligned messages whose region starts before data */
} seen;

static uint8_t pattern(uint8_t seed, size_t i) {
  return (uint8_t)(seed + i * 13 + (i >> 9));
}

static bool content_ok(const uint8_t *p, int64_t n) {
  if (n != (int64_t)MSG_SIZE) return false;
  for (size_t i = 0; i < MSG_SIZE; i++)
    if (p[i] != pattern(p[0], i)) return false;
  return true;
}

/* Keeps a region of every message it gets. */
static void keep(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  seen *s = ctx;
  pthread_mutex_lock(&s->mu);
  if (!msg->zero_copy) s->copied++;
  if (!content_ok(msg->data, msg->size)) s->bad++;
  oa_region *r = oa_grpc_message_region(msg);
  if (!r || s->n_kept == 4) {
    s->bad++;
  } else {
    s->kept[s->n_kept] = r;
    s->kept_data[s->n_kept++] = msg->data;
  }
  pthread_mutex_unlock(&s->mu);
  oa_grpc_call_reply_bytes(call, "", 0, NULL);
}

static void aligned(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  seen *s = ctx;
  pthread_mutex_lock(&s->mu);
  if (!content_ok(msg->data, msg->size)) s->bad++;
  if (!msg->zero_copy) {
    s->copied_aligned++;
    if (((uintptr_t)(msg->data + ALIGN_AT) & 63) != 0) s->bad++;
    /* the region is the copy itself: no second copy */
    oa_region *r = oa_grpc_message_region(msg);
    if (r && msg->data >= r->data && msg->data + msg->size <= r->data + r->size)
      s->in_place++;
    if (r) oa_region_release(r);
  }
  pthread_mutex_unlock(&s->mu);
  oa_grpc_call_reply_bytes(call, "", 0, NULL);
}

static int64_t align_at(const uint8_t *prefix, int64_t len) {
  (void)prefix;
  return len > ALIGN_AT ? ALIGN_AT : -1;
}

OA_TEST(test_gather) {
  seen s;
  memset(&s, 0, sizeof s);
  pthread_mutex_init(&s.mu, NULL);
  oa_error err_, *err = &err_;
  oa_grpc_server_options o;
  oa_grpc_server_options_default(&o);
  o.threads = 1; /* every call shares one reusable buffer */
  oa_grpc_server *srv;
  CHECK_OK(oa_grpc_server_new(&srv, &o, err), err);
  CHECK_OK(oa_grpc_server_register_unary(srv, "/t.G/Keep", keep, &s, NULL, err),
           err);
  CHECK_OK(oa_grpc_server_register_unary(srv, "/t.G/Aligned", aligned, &s, NULL,
                                         err),
           err);
  CHECK_EQ_INT(oa_grpc_server_set_align(srv, "/t.G/Nope", align_at, err),
               ENOENT);
  CHECK(strstr(err->message, "'/t.G/Nope' is not registered") != NULL);
  CHECK_OK(oa_grpc_server_set_align(srv, "/t.G/Aligned", align_at, err), err);
  int port = 0;
  CHECK_OK(oa_grpc_server_add_listener(srv, "127.0.0.1:0", NULL, &port, err),
           err);
  CHECK_OK(oa_grpc_server_start(srv, err), err);
  CHECK_EQ_INT(oa_grpc_server_set_align(srv, "/t.G/Aligned", NULL, err),
               EINVAL);
  grpc_channel *ch = tc_channel(port, NULL);

  uint8_t *buf = malloc(MSG_SIZE);
  tc_result r;
  for (uint8_t seed = 1; seed <= 3; seed++) {
    for (size_t i = 0; i < MSG_SIZE; i++)
      buf[i] = pattern(seed, i);
    tc_unary(ch, "/t.G/Keep", buf, MSG_SIZE, 10000, NULL, &r);
    CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
    tc_result_free(&r);
    tc_unary(ch, "/t.G/Aligned", buf, MSG_SIZE, 10000, NULL, &r);
    CHECK_EQ_INT(r.code, GRPC_STATUS_OK);
    tc_result_free(&r);
  }
  grpc_channel_destroy(ch);
  oa_grpc_server_free(srv);
  free(buf);

  CHECK_EQ_INT(s.bad, 0);
  /* 2 MiB messages come in several slices: the gathering paths ran */
  CHECK(s.copied >= 1);
  CHECK(s.copied_aligned >= 1);
  CHECK_EQ_INT(s.in_place, s.copied_aligned);
  CHECK_EQ_INT(s.n_kept, 3);
  /* regions taken during earlier calls still hold their own bytes after
   * later calls reused the thread's buffer */
  for (int i = 0; i < s.n_kept; i++) {
    CHECK(content_ok(s.kept[i]->data, s.kept[i]->size));
    CHECK_EQ_INT(s.kept[i]->data[0], (uint8_t)(i + 1));
    CHECK(s.kept[i]->data == s.kept_data[i]);
    oa_region_release(s.kept[i]);
  }
  pthread_mutex_destroy(&s.mu);
}

OA_TEST_MAIN(OA_T(test_gather))
