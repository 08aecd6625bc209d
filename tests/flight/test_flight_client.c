/* The Flight client (include/otlparrow/flight_client.h) against the Flight
 * service in-process on 127.0.0.1 (free port). What the server stored is
 * checked through the datasets directly, an independent path. */
#include <json-c/json.h>
#include <stdlib.h>
#include <unistd.h>

#include "flight/flight.h"
#include "ipc/ipc_test_util.h"
#include "otlparrow/dataset.h"
#include "otlparrow/flight_client.h"
#include "otlparrow/otlp.h"
#include "test.h"
#include "test_pki.h"

typedef struct tserver {
  oa_datasets *d;
  oa_grpc_server *srv;
  oa_flight_service *svc;
  int port;
  char uri[64];
} tserver;

typedef struct ts_opts {
  const char *token;
  int64_t max_memory;
  int64_t max_msg;
  const oa_grpc_tls *tls;
} ts_opts;

static void ts_start(tserver *t, const ts_opts *o) {
  oa_error err_, *err = &err_;
  memset(t, 0, sizeof *t);
  CHECK_OK(oa_datasets_new(&t->d, o->max_memory, err), err);
  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  so.max_recv_message_size = -1;
  CHECK_OK(oa_grpc_server_new(&t->srv, &so, err), err);
  oa_flight_options fo;
  oa_flight_options_init(&fo);
  fo.auth_token = o->token;
  fo.location = "grpc+tcp://127.0.0.1:9";
  if (o->max_msg) fo.max_message_size = o->max_msg;
  CHECK_OK(oa_flight_service_new(&t->svc, t->d, &fo, err), err);
  CHECK_OK(oa_flight_service_register(t->svc, t->srv, err), err);
  CHECK_OK(
      oa_grpc_server_add_listener(t->srv, "127.0.0.1:0", o->tls, &t->port, err),
      err);
  CHECK_OK(oa_grpc_server_start(t->srv, err), err);
  snprintf(t->uri, sizeof t->uri, "%s://127.0.0.1:%d",
           o->tls ? "grpc+tls" : "grpc", t->port);
}

static void ts_stop(tserver *t) {
  oa_grpc_server_shutdown(t->srv, 1000);
  oa_grpc_server_free(t->srv);
  oa_flight_service_free(t->svc);
  oa_datasets_free(t->d);
}

/* n span batches of `spans` spans each, from the trace generator. */
static void make_spans(oa_batch *out, int64_t n, int64_t spans) {
  oa_error err_, *err = &err_;
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = n * spans;
  go.seed = 7;
  oa_trace_gen g;
  CHECK_OK(oa_trace_gen_init(&g, &go, err), err);
  oa_bytes req;
  oa_bytes_init(&req);
  for (int64_t i = 0; i < n; i++) {
    int64_t got = 0;
    oa_batch_init(&out[i]);
    CHECK_OK(oa_trace_gen_next_request(&g, spans, &req, &got, err), err);
    CHECK_OK(
        oa_otlp_decode_traces(req.data, req.size, NULL, &out[i], NULL, err),
        err);
  }
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
}

static void free_list(oa_batch *b, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    oa_batch_reset(&b[i]);
}

/* Rows of the stored dataset `name` equal the concatenation of want[]:
 * compared slice by slice (batches may have been split). */
static void check_rows(const oa_batch *got, int64_t n_got, const oa_batch *want,
                       int64_t n_want) {
  oa_error err_, *err = &err_;
  int64_t wi = 0, woff = 0;
  for (int64_t i = 0; i < n_got; i++) {
    int64_t off = 0;
    while (off < got[i].length) {
      if (wi >= n_want) {
        CHECK(!"more rows than sent");
        return;
      }
      int64_t left_w = want[wi].length - woff, left_g = got[i].length - off;
      int64_t k = left_w < left_g ? left_w : left_g;
      oa_batch a, b;
      oa_batch_init(&a);
      oa_batch_init(&b);
      CHECK_OK(oa_batch_slice(&a, &got[i], off, k, err), err);
      CHECK_OK(oa_batch_slice(&b, &want[wi], woff, k, err), err);
      if (!oa_batch_equals(&a, &b, err)) {
        fprintf(stderr, "rows differ (got batch %lld at %lld): %s\n",
                (long long)i, (long long)off, err->message);
        CHECK(!"rows equal");
      }
      oa_batch_reset(&a);
      oa_batch_reset(&b);
      off += k;
      woff += k;
      if (woff == want[wi].length) {
        wi++;
        woff = 0;
      }
    }
  }
  CHECK_EQ_INT(wi, n_want);
}

static void check_stored(tserver *t, const char *name, const oa_batch *want,
                         int64_t n) {
  oa_error err_, *err = &err_;
  oa_schema *s = NULL;
  oa_batch *b = NULL;
  int64_t nb = 0;
  CHECK_OK(oa_datasets_snapshot(t->d, name, &s, &b, &nb, err), err);
  check_rows(b, nb, want, n);
  oa_datasets_snapshot_free(s, b, nb);
}

typedef struct acks {
  char seen[16][16];
  int n;
} acks;

static void on_ack(void *ctx, const uint8_t *data, int64_t len) {
  acks *a = ctx;
  if (a->n < 16) {
    snprintf(a->seen[a->n], sizeof a->seen[0], "%.*s", (int)len,
             (const char *)data);
  }
  a->n++;
}

static int count_info(void *ctx, const oa_flight_client_info *info,
                      oa_error *err) {
  if (strcmp(info->path, "t1") == 0) (*(int *)ctx)++;
  return 0;
}

static int collect_json(void *ctx, const uint8_t *body, int64_t len,
                        oa_error *err) {
  oa_bytes_append(ctx, body, len);
  oa_bytes_append(ctx, "\n", 1);
  return 0;
}

OA_TEST(test_put_get_info_actions) {
  oa_error err_, *err = &err_;
  tserver t;
  ts_opts to = {0};
  ts_start(&t, &to);
  oa_batch spans[3];
  make_spans(spans, 3, 1000);
  oa_flight_client *c = NULL;
  CHECK_OK(oa_flight_client_new(&c, t.uri, NULL, err), err);
  acks a;
  memset(&a, 0, sizeof a);
  oa_flight_client_set_ack_handler(c, on_ack, &a);
  oa_buffer app[3] = {{(const uint8_t *)"b0", 2, NULL},
                      {(const uint8_t *)"b1", 2, NULL},
                      {(const uint8_t *)"b2", 2, NULL}};
  oa_flight_put_result pr;
  CHECK_OK(oa_flight_client_do_put(c, "t1", spans[0].schema, spans, 3, NULL,
                                   app, &pr, err),
           err);
  CHECK_EQ_INT(oa_flight_client_last_status(c), 0);
  CHECK_EQ_INT(pr.batches, 3);
  CHECK_EQ_INT(pr.acks, 3);
  CHECK(pr.messages >= 4); /* schema, dictionaries, 3 batches */
  CHECK(pr.bytes > 3 * 1000 * 50);
  CHECK_EQ_INT(a.n, 3);
  CHECK_EQ_STR(a.seen[0], "b0");
  CHECK_EQ_STR(a.seen[2], "b2");
  check_stored(&t, "t1", spans, 3);

  /* DoGet gives back equal batches */
  oa_schema *s = NULL;
  oa_batch *got = NULL;
  int64_t n = 0;
  CHECK_OK(oa_flight_client_do_get_all(c, "t1", 2, &s, &got, &n, err), err);
  CHECK_EQ_INT(n, 3);
  CHECK(s && oa_schema_equals(s, spans[0].schema, false, NULL));
  check_rows(got, n, spans, 3);
  oa_flight_batches_free(s, got, n);

  oa_flight_get_result gr;
  CHECK_OK(oa_flight_client_do_get(c, "t1", 2, NULL, NULL, &gr, err), err);
  CHECK_EQ_INT(gr.batches, 3);
  int64_t total = spans[0].length + spans[1].length + spans[2].length;
  CHECK(total > 2900);
  CHECK_EQ_INT(gr.rows, total);
  CHECK(gr.bytes > 0);

  /* GetFlightInfo describes it; its ticket is redeemable */
  oa_flight_client_info info;
  oa_flight_client_info_init(&info);
  CHECK_OK(oa_flight_client_get_flight_info(c, "t1", &info, err), err);
  CHECK_EQ_INT(info.total_records, total);
  CHECK(info.total_bytes > 0);
  CHECK_EQ_STR(info.path, "t1");
  CHECK_EQ_STR(info.location, "grpc+tcp://127.0.0.1:9");
  CHECK(info.schema &&
        oa_schema_equals(info.schema, spans[0].schema, false, NULL));
  CHECK(info.ticket.size == 2 && memcmp(info.ticket.data, "t1", 2) == 0);
  CHECK_OK(oa_flight_client_do_get(c, info.ticket.data, info.ticket.size, NULL,
                                   NULL, &gr, err),
           err);
  CHECK_EQ_INT(gr.rows, total);
  oa_flight_client_info_reset(&info);

  int listed = 0;
  CHECK_OK(oa_flight_client_list_flights(c, count_info, &listed, err), err);
  CHECK_EQ_INT(listed, 1);

  /* actions: list, stats, drop, then the dataset is gone */
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(oa_flight_client_do_action(c, "list-datasets", NULL, 0, collect_json,
                                      &out, err),
           err);
  oa_bytes_append(&out, "", 1);
  char want[64];
  snprintf(want, sizeof want, "\"rows\":%lld", (long long)total);
  CHECK(strstr((const char *)out.data, "\"name\":\"t1\"") != NULL);
  CHECK(strstr((const char *)out.data, want) != NULL);
  out.size = 0;
  CHECK_OK(oa_flight_client_do_action(c, "drop-dataset", "t1", 2, collect_json,
                                      &out, err),
           err);
  oa_bytes_append(&out, "", 1);
  CHECK(strstr((const char *)out.data, "\"dropped\":\"t1\"") != NULL);
  oa_bytes_reset(&out);

  /* NOT_FOUND and UNIMPLEMENTED carry their status */
  CHECK_FAILS(oa_flight_client_do_get(c, "t1", 2, NULL, NULL, NULL, err),
              ENOENT, err, "NOT_FOUND: DoGet: dataset 't1' not found");
  CHECK_EQ_INT(oa_flight_client_last_status(c), GRPC_STATUS_NOT_FOUND);
  CHECK_FAILS(oa_flight_client_get_flight_info(c, "nope", &info, err), ENOENT,
              err, "not found");
  CHECK_EQ_INT(oa_flight_client_last_status(c), GRPC_STATUS_NOT_FOUND);
  CHECK_FAILS(
      oa_flight_client_do_action(c, "drop-dataset", "t1", 2, NULL, NULL, err),
      ENOENT, err, "'t1' not found");
  CHECK_FAILS(
      oa_flight_client_do_action(c, "explode", NULL, 0, NULL, NULL, err),
      ENOTSUP, err, "unknown action type 'explode'");
  CHECK_EQ_INT(oa_flight_client_last_status(c), GRPC_STATUS_UNIMPLEMENTED);
  CHECK_EQ_STR(oa_flight_status_name(oa_flight_client_last_status(c)),
               "UNIMPLEMENTED");

  /* the span dataset refuses another schema, saying which column */
  oa_schema *all = tu_all_types_schema();
  oa_batch rb;
  oa_batch_init(&rb);
  CHECK_OK(tu_random_batch(all, 10, &rb, err), err);
  CHECK_FAILS(
      oa_flight_client_do_put(c, "spans", all, &rb, 1, NULL, NULL, NULL, err),
      EINVAL, err, "INVALID_ARGUMENT");
  CHECK(strstr(err->message, "span schema") != NULL);
  CHECK_EQ_INT(oa_flight_client_last_status(c), GRPC_STATUS_INVALID_ARGUMENT);
  /* ...but another name takes any schema, every type round-trips */
  CHECK_OK(
      oa_flight_client_do_put(c, "all", all, &rb, 1, NULL, NULL, NULL, err),
      err);
  CHECK_OK(oa_flight_client_do_get_all(c, "all", 3, &s, &got, &n, err), err);
  CHECK_EQ_INT(n, 1);
  check_rows(got, n, &rb, 1);
  oa_flight_batches_free(s, got, n);
  oa_batch_reset(&rb);
  oa_schema_release(all);

  /* the same connection, a second client */
  oa_flight_client *c2 = NULL;
  CHECK_OK(oa_flight_client_new_shared(&c2, c, err), err);
  CHECK_OK(oa_flight_client_do_get(c2, "all", 3, NULL, NULL, &gr, err), err);
  CHECK_EQ_INT(gr.rows, 10);
  oa_flight_client_free(c2);

  oa_flight_client_free(c);
  free_list(spans, 3);
  ts_stop(&t);
}

OA_TEST(test_compression) {
  oa_error err_, *err = &err_;
  tserver t;
  ts_opts to = {0};
  ts_start(&t, &to);
  oa_batch spans[2];
  make_spans(spans, 2, 2000);
  oa_flight_client *c = NULL;
  CHECK_OK(oa_flight_client_new(&c, t.uri, NULL, err), err);
  const char *names[] = {"none", "lz4", "zstd"};
  int64_t bytes[3] = {0};
  for (int k = 0; k < 3; k++) {
    oa_ipc_write_options w;
    oa_ipc_write_options_init(&w);
    CHECK_OK(oa_compression_parse(names[k], &w.compression, err), err);
    oa_flight_put_result pr;
    CHECK_OK(oa_flight_client_do_put(c, names[k], spans[0].schema, spans, 2, &w,
                                     NULL, &pr, err),
             err);
    CHECK_EQ_INT(pr.acks, 2);
    bytes[k] = pr.bytes;
    check_stored(&t, names[k], spans, 2);
    oa_schema *s;
    oa_batch *got;
    int64_t n;
    CHECK_OK(oa_flight_client_do_get_all(c, names[k], (int64_t)strlen(names[k]),
                                         &s, &got, &n, err),
             err);
    check_rows(got, n, spans, 2);
    oa_flight_batches_free(s, got, n);
  }
  /* compressed bodies really went over the wire */
  CHECK(bytes[1] < bytes[0] * 3 / 4);
  CHECK(bytes[2] < bytes[1]);
  oa_flight_client_free(c);
  free_list(spans, 2);
  ts_stop(&t);
}

OA_TEST(test_auth) {
  oa_error err_, *err = &err_;
  tserver t;
  ts_opts to = {0};
  to.token = "s3cret";
  ts_start(&t, &to);
  oa_batch spans[1];
  make_spans(spans, 1, 100);
  oa_flight_client_options o;
  oa_flight_client_options_init(&o);
  oa_flight_client *c = NULL;
  /* no token */
  CHECK_OK(oa_flight_client_new(&c, t.uri, &o, err), err);
  CHECK_FAILS(oa_flight_client_do_put(c, "a", spans[0].schema, spans, 1, NULL,
                                      NULL, NULL, err),
              EACCES, err, "UNAUTHENTICATED");
  CHECK_EQ_INT(oa_flight_client_last_status(c), GRPC_STATUS_UNAUTHENTICATED);
  CHECK_FAILS(oa_flight_client_do_get(c, "spans", 5, NULL, NULL, NULL, err),
              EACCES, err, "authorization");
  oa_flight_client_free(c);
  /* a wrong token */
  o.token = "guess";
  CHECK_OK(oa_flight_client_new(&c, t.uri, &o, err), err);
  CHECK_FAILS(oa_flight_client_get_flight_info(c, "spans", NULL, err), EACCES,
              err, "UNAUTHENTICATED");
  oa_flight_client_free(c);
  /* the right one */
  o.token = "s3cret";
  CHECK_OK(oa_flight_client_new(&c, t.uri, &o, err), err);
  CHECK_OK(oa_flight_client_do_put(c, "a", spans[0].schema, spans, 1, NULL,
                                   NULL, NULL, err),
           err);
  oa_flight_get_result gr;
  CHECK_OK(oa_flight_client_do_get(c, "a", 1, NULL, NULL, &gr, err), err);
  CHECK_EQ_INT(gr.rows, 100);
  oa_flight_client_free(c);
  free_list(spans, 1);
  ts_stop(&t);
}

OA_TEST(test_split_and_memory_limit) {
  oa_error err_, *err = &err_;
  tserver t;
  ts_opts to = {0};
  to.max_msg = 64 << 10; /* DoGet: 64 KiB messages */
  ts_start(&t, &to);
  oa_batch spans[1];
  make_spans(spans, 1, 5000);
  oa_flight_client_options o;
  oa_flight_client_options_init(&o);
  o.max_message_size = 64 << 10; /* DoPut too */
  oa_flight_client *c = NULL;
  CHECK_OK(oa_flight_client_new(&c, t.uri, &o, err), err);
  oa_flight_put_result pr;
  CHECK_OK(oa_flight_client_do_put(c, "big", spans[0].schema, spans, 1, NULL,
                                   NULL, &pr, err),
           err);
  CHECK(pr.batches > 4);
  CHECK_EQ_INT(pr.acks, pr.batches);
  check_stored(&t, "big", spans, 1);
  oa_schema *s;
  oa_batch *got;
  int64_t n;
  CHECK_OK(oa_flight_client_do_get_all(c, "big", 3, &s, &got, &n, err), err);
  CHECK(n > 4);
  check_rows(got, n, spans, 1);
  oa_flight_batches_free(s, got, n);
  oa_flight_client_free(c);
  ts_stop(&t);

  /* what one unsplit copy of the batch costs the server */
  to.max_msg = 0;
  ts_start(&t, &to);
  CHECK_OK(oa_flight_client_new(&c, t.uri, NULL, err), err);
  CHECK_OK(oa_flight_client_do_put(c, "big", spans[0].schema, spans, 1, NULL,
                                   NULL, &pr, err),
           err);
  int64_t used = oa_datasets_memory_used(t.d);
  CHECK(used > 0);
  oa_flight_client_free(c);
  ts_stop(&t);

  /* a full server answers UNAVAILABLE with RetryInfo (retryable) */
  to.max_memory = used * 3 / 2; /* room for one copy of the batch */
  ts_start(&t, &to);
  CHECK_OK(oa_flight_client_new(&c, t.uri, NULL, err), err);
  CHECK_OK(oa_flight_client_do_put(c, "big", spans[0].schema, spans, 1, NULL,
                                   NULL, &pr, err),
           err);
  CHECK_FAILS(oa_flight_client_do_put(c, "big", spans[0].schema, spans, 1, NULL,
                                      NULL, &pr, err),
              EAGAIN, err, "UNAVAILABLE");
  CHECK_EQ_INT(oa_flight_client_last_status(c), GRPC_STATUS_UNAVAILABLE);
  CHECK_EQ_INT(oa_flight_client_last_retry_delay_ms(c), 1000);
  oa_flight_client_free(c);
  free_list(spans, 1);
  ts_stop(&t);
}

/* Messages encoded once, stored as framed bytes and read back (what the
 * exporter's queue does), sent with do_put_messages: the server stores the
 * rows, and every record batch carries the app_metadata. A stream that does
 * not start with a schema, or has a second one, is refused locally and the
 * client keeps working. */
OA_TEST(test_put_messages) {
  oa_error err_, *err = &err_;
  tserver t;
  ts_opts to = {0};
  ts_start(&t, &to);
  oa_batch spans[2];
  make_spans(spans, 2, 3000);
  oa_ipc_write_options w;
  oa_ipc_write_options_init(&w);
  w.compression = OA_COMPRESSION_ZSTD;
  oa_ipc_encoder *enc;
  CHECK_OK(oa_ipc_encoder_new(&enc, spans[0].schema, &w, err), err);
  static tu_kept l;
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  CHECK_OK(oa_ipc_encoder_schema(enc, &m, err), err);
  CHECK_OK(tu_keep(&l, &m, err), err);
  oa_ipc_message_reset(&m);
  for (int i = 0; i < 2; i++)
    CHECK_OK(oa_ipc_encoder_batch_bounded(enc, &spans[i], 200 << 10, tu_keep,
                                          &l, err),
             err);
  oa_ipc_encoder_free(enc);
  int64_t rbs = 0;
  oa_bytes flat;
  oa_bytes_init(&flat);
  for (int64_t i = 0; i < l.n; i++) {
    rbs += l.v[i].type == OA_IPC_MSG_RECORD_BATCH;
    CHECK_OK(oa_ipc_message_frame(&l.v[i], &flat, err), err);
    oa_ipc_message_reset(&l.v[i]);
  }
  CHECK(rbs > 2); /* split: 200 KiB bodies */
  oa_buffer stream;
  CHECK_OK(oa_bytes_finish(&flat, &stream), err);
  static tu_kept back;
  for (int64_t pos = 0;;) {
    CHECK(back.n < 1024);
    oa_ipc_message_init(&back.v[back.n]);
    CHECK_OK(oa_ipc_message_read(&stream, &pos, 64, &back.v[back.n], err), err);
    if (back.v[back.n].type == OA_IPC_MSG_NONE) break;
    back.n++;
  }
  oa_region_release(stream.region); /* the messages hold it */
  CHECK_EQ_INT(back.n, l.n);
  oa_flight_client *c = NULL;
  CHECK_OK(oa_flight_client_new(&c, t.uri, NULL, err), err);
  acks a = {.n = 0};
  oa_flight_client_set_ack_handler(c, on_ack, &a);
  oa_buffer app = {(const uint8_t *)"batch-7", 7, NULL};
  oa_flight_put_result pr;
  CHECK_OK(oa_flight_client_do_put_messages(c, "pre", back.v, back.n, &app, &pr,
                                            err),
           err);
  CHECK_EQ_INT(pr.messages, back.n);
  CHECK_EQ_INT(pr.batches, rbs);
  CHECK_EQ_INT(pr.acks, rbs);
  CHECK_EQ_INT(a.n, rbs);
  CHECK(strcmp(a.seen[0], "batch-7") == 0);
  CHECK(strcmp(a.seen[rbs - 1], "batch-7") == 0);
  check_stored(&t, "pre", spans, 2);
  /* no schema first; a second schema */
  CHECK_FAILS(oa_flight_client_do_put_messages(c, "pre", back.v + 1, back.n - 1,
                                               NULL, NULL, err),
              EINVAL, err, "start with a schema");
  oa_ipc_message twice[2] = {back.v[0], back.v[0]};
  CHECK_FAILS(
      oa_flight_client_do_put_messages(c, "pre2", twice, 2, NULL, NULL, err),
      EINVAL, err, "second schema");
  CHECK_OK(oa_flight_client_do_put_messages(c, "pre", back.v, back.n, NULL, &pr,
                                            err),
           err);
  CHECK_EQ_INT(pr.acks, rbs);
  for (int64_t i = 0; i < back.n; i++)
    oa_ipc_message_reset(&back.v[i]);
  oa_flight_client_free(c);
  free_list(spans, 2);
  ts_stop(&t);
}

OA_TEST(test_bad_uri_and_unreachable) {
  oa_error err_, *err = &err_;
  oa_flight_client *c = NULL;
  CHECK_FAILS(oa_flight_client_new(&c, "http://127.0.0.1:1", NULL, err), EINVAL,
              err, "unsupported URI scheme");
  CHECK_FAILS(oa_flight_client_new(&c, "grpc://localhost", NULL, err), EINVAL,
              err, "HOST:PORT");
  CHECK(c == NULL);
  /* nothing listens on port 1: UNAVAILABLE, retryable */
  oa_flight_client_options o;
  oa_flight_client_options_init(&o);
  o.deadline_ms = 2000;
  CHECK_OK(oa_flight_client_new(&c, "grpc+tcp://127.0.0.1:1", &o, err), err);
  int rc = oa_flight_client_do_get(c, "x", 1, NULL, NULL, NULL, err);
  CHECK(rc == EAGAIN || rc == ETIMEDOUT);
  CHECK(oa_flight_client_last_status(c) == GRPC_STATUS_UNAVAILABLE ||
        oa_flight_client_last_status(c) == GRPC_STATUS_DEADLINE_EXCEEDED);
  oa_flight_client_free(c);
}

OA_TEST(test_tls) {
  oa_error err_, *err = &err_;
  char dir[64], cert_path[128], key_path[128];
  if (!oa_test_pki_make(dir, sizeof dir, OA_TEST_PKI_SELF_SIGNED)) {
    printf("skip test_tls: openssl not available\n");
    return;
  }
  snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
  snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
  char *cert = NULL, *key = NULL;
  CHECK_OK(oa_grpc_read_pem(cert_path, &cert, err), err);
  CHECK_OK(oa_grpc_read_pem(key_path, &key, err), err);
  oa_batch spans[1];
  make_spans(spans, 1, 500);
  for (int mtls = 0; mtls < 2 && cert && key; mtls++) {
    oa_grpc_tls tls = {cert, key, mtls ? cert : NULL};
    tserver t;
    ts_opts to = {0};
    to.tls = &tls;
    ts_start(&t, &to);
    oa_flight_client_options o;
    oa_flight_client_options_init(&o);
    o.deadline_ms = 5000;
    o.tls_ca_file = cert_path; /* from files */
    if (mtls) {
      o.tls_cert_pem = cert; /* and from text */
      o.tls_key_pem = key;
    }
    oa_flight_client *c = NULL;
    CHECK_OK(oa_flight_client_new(&c, t.uri, &o, err), err);
    CHECK_OK(oa_flight_client_do_put(c, "sec", spans[0].schema, spans, 1, NULL,
                                     NULL, NULL, err),
             err);
    oa_schema *s;
    oa_batch *got;
    int64_t n;
    CHECK_OK(oa_flight_client_do_get_all(c, "sec", 3, &s, &got, &n, err), err);
    check_rows(got, n, spans, 1);
    oa_flight_batches_free(s, got, n);
    oa_flight_client_free(c);
    /* plaintext to a TLS listener fails, UNAVAILABLE */
    char plain[64];
    snprintf(plain, sizeof plain, "grpc://127.0.0.1:%d", t.port);
    CHECK_OK(oa_flight_client_new(&c, plain, &o, err), err);
    CHECK_FAILS(oa_flight_client_do_get(c, "sec", 3, NULL, NULL, NULL, err),
                EAGAIN, err, "UNAVAILABLE");
    oa_flight_client_free(c);
    if (mtls) { /* no client certificate: refused */
      o.tls_cert_pem = o.tls_key_pem = NULL;
      CHECK_OK(oa_flight_client_new(&c, t.uri, &o, err), err);
      CHECK(oa_flight_client_do_get(c, "sec", 3, NULL, NULL, NULL, err) != 0);
      CHECK_EQ_INT(oa_flight_client_last_status(c), GRPC_STATUS_UNAVAILABLE);
      oa_flight_client_free(c);
    }
    ts_stop(&t);
  }
  free_list(spans, 1);
  free(cert);
  free(key);
  CHECK(oa_test_rm_dir(dir));
}

OA_TEST_MAIN(OA_T(test_put_get_info_actions), OA_T(test_compression),
             OA_T(test_auth), OA_T(test_split_and_memory_limit),
             OA_T(test_put_messages), OA_T(test_bad_uri_and_unreachable),
             OA_T(test_tls))
