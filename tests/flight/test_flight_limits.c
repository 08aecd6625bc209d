/* Flight DoPut against decompression bombs: a few MiB of zstd or lz4 that
 * decompress to 8 MiB are refused (INVALID_ARGUMENT, nothing stored) by a
 * service whose max_decompressed_size is 1 MiB, and accepted whole by one
 * with the default limit. A DoPut message over max_recv_message_size is
 * refused with RESOURCE_EXHAUSTED naming the limit and the setting, and
 * the same connection then puts a smaller batch. */
#include "flight/flight.h"
#include "flight_test_client.h"
#include "ipc/ipc_test_util.h"
#include "otlparrow/dataset.h"
#include "test.h"

typedef struct put_ctx {
  tc_call *c;
  const oa_flight_descriptor *desc;
  int64_t sent;
  int64_t bytes;
} put_ctx;

static int put_emit(void *ctx, const oa_ipc_message *msg, oa_error *err) {
  put_ctx *p = ctx;
  oa_flight_wire w;
  oa_flight_wire_init(&w);
  int rc = oa_flight_data_encode(p->sent == 0 ? p->desc : NULL, msg, NULL, 0,
                                 &w, err);
  if (rc == 0) tc_send_wire(p->c, &w);
  p->bytes += w.size;
  p->sent++;
  oa_flight_wire_reset(&w);
  return rc;
}

typedef struct server {
  oa_datasets *d;
  oa_grpc_server *srv;
  oa_flight_service *svc;
  int port;
} server;

static void server_start(server *t, const oa_flight_options *fo) {
  oa_error err_, *err = &err_;
  memset(t, 0, sizeof *t);
  CHECK_OK(oa_datasets_new(&t->d, 0, err), err);
  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  so.max_recv_message_size = -1;
  CHECK_OK(oa_grpc_server_new(&t->srv, &so, err), err);
  CHECK_OK(oa_flight_service_new(&t->svc, t->d, fo, err), err);
  CHECK_OK(oa_flight_service_register(t->svc, t->srv, err), err);
  CHECK_OK(
      oa_grpc_server_add_listener(t->srv, "127.0.0.1:0", NULL, &t->port, err),
      err);
  CHECK_OK(oa_grpc_server_start(t->srv, err), err);
}

static void server_stop(server *t) {
  oa_grpc_server_shutdown(t->srv, 1000);
  oa_grpc_server_free(t->srv);
  oa_flight_service_free(t->svc);
  oa_datasets_free(t->d);
}

/* Rows of dataset name (0 if it does not exist). */
static int64_t stored_rows(oa_datasets *d, const char *name) {
  oa_error err;
  oa_schema *s = NULL;
  oa_batch *bs = NULL;
  int64_t n = 0, rows = 0;
  if (oa_datasets_snapshot(d, name, &s, &bs, &n, &err) == 0) {
    for (int64_t i = 0; i < n; i++)
      rows += bs[i].length;
    oa_datasets_snapshot_free(s, bs, n);
  }
  return rows;
}

/* One DoPut of batch to dataset name on cl, compressed with codec; the
 * status and message, *wire the batch's bytes on the wire. */
static grpc_status_code put_on(tc_client *cl, const char *name,
                               oa_compression codec, const oa_batch *batch,
                               int64_t *wire, char *msg, size_t cap) {
  oa_error err_, *err = &err_;
  tc_call c;
  tc_start(&c, cl, "DoPut");
  oa_flight_descriptor desc;
  oa_flight_descriptor_path(&desc, name);
  put_ctx p = {&c, &desc, 0, 0};
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  wo.compression = codec;
  oa_ipc_encoder *enc = NULL;
  CHECK_OK(oa_ipc_encoder_new(&enc, batch->schema, &wo, err), err);
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  CHECK_OK(oa_ipc_encoder_schema(enc, &m, err), err);
  put_emit(&p, &m, err);
  oa_ipc_message_reset(&m);
  int64_t before = p.bytes;
  CHECK_OK(oa_ipc_encoder_batch(enc, batch, put_emit, &p, err), err);
  *wire = p.bytes - before;
  tc_close_send(&c);
  oa_bytes r;
  oa_bytes_init(&r);
  while (tc_recv(&c, &r)) {
  }
  grpc_status_code st = tc_finish(&c);
  snprintf(msg, cap, "%s", c.message);
  oa_bytes_reset(&r);
  oa_ipc_encoder_free(enc);
  return st;
}

/* One DoPut of batch to "bomb" on a fresh server, compressed with codec;
 * the status and message. */
static grpc_status_code put_compressed(oa_compression codec,
                                       int64_t max_decompressed,
                                       const oa_batch *batch, int64_t *wire,
                                       int64_t *stored, char *msg, size_t cap) {
  oa_flight_options fo;
  oa_flight_options_init(&fo);
  fo.max_decompressed_size = max_decompressed;
  server t;
  server_start(&t, &fo);
  tc_client cl;
  tc_connect(&cl, t.port);
  grpc_status_code st = put_on(&cl, "bomb", codec, batch, wire, msg, cap);
  *stored = stored_rows(t.d, "bomb");
  tc_disconnect(&cl);
  server_stop(&t);
  return st;
}

OA_TEST(test_doput_decompression_bomb) {
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f0;
  oa_field_init(&f0, "i", OA_TYPE_INT64, NULL);
  oa_schema_add_field(s, &f0, NULL);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s, 1 << 20, &b, err), err); /* 8 MiB of int64 */
  char msg[1024];
  int64_t wire = 0, stored = 0;
  oa_compression codecs[] = {OA_COMPRESSION_ZSTD, OA_COMPRESSION_LZ4_FRAME};
  for (int k = 0; k < 2; k++) {
    CHECK_EQ_INT(
        put_compressed(codecs[k], 1 << 20, &b, &wire, &stored, msg, sizeof msg),
        GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(wire < (4 << 20)); /* less than half of it went over the network */
    CHECK_EQ_INT(stored, 0);
    if (!strstr(msg, "exceed") || !strstr(msg, "1048576")) {
      fprintf(stderr, "message: %s\n", msg);
      CHECK(0);
    }
    /* the default limit (256 MiB) takes it */
    CHECK_EQ_INT(
        put_compressed(codecs[k], 0, &b, &wire, &stored, msg, sizeof msg),
        GRPC_STATUS_OK);
    CHECK_EQ_INT(stored, 1 << 20);
  }
  oa_batch_reset(&b);
  oa_schema_release(s);
}

static void int64_batch(int64_t rows, oa_schema **s, oa_batch *b) {
  oa_error err_, *err = &err_;
  oa_schema_new(s, NULL);
  oa_field f0;
  oa_field_init(&f0, "i", OA_TYPE_INT64, NULL);
  oa_schema_add_field(*s, &f0, NULL);
  oa_batch_init(b);
  CHECK_OK(tu_random_batch(*s, rows, b, err), err);
}

OA_TEST(test_doput_message_over_recv_limit) {
  oa_flight_options fo;
  oa_flight_options_init(&fo);
  /* a 100,000-span batch (about 35 MB) fits the default */
  CHECK_EQ_INT(fo.max_recv_message_size, 256 << 20);
  fo.max_recv_message_size = 1 << 20;
  fo.recv_limit_hint = "--max-flight-recv-size";
  server t;
  server_start(&t, &fo);
  tc_client cl;
  tc_connect(&cl, t.port);
  oa_schema *s;
  oa_batch big, small;
  int64_batch(1 << 18, &s, &big); /* 2 MiB of int64 in one message */
  oa_schema_release(s);
  int64_batch(1 << 16, &s, &small); /* 512 KiB */
  char msg[1024];
  int64_t wire = 0;
  CHECK_EQ_INT(
      put_on(&cl, "big", OA_COMPRESSION_NONE, &big, &wire, msg, sizeof msg),
      GRPC_STATUS_RESOURCE_EXHAUSTED);
  CHECK(wire > (2 << 20));
  if (!strstr(msg, "1048576") || !strstr(msg, "--max-flight-recv-size")) {
    fprintf(stderr, "message: %s\n", msg);
    CHECK(0);
  }
  CHECK_EQ_INT(stored_rows(t.d, "big"), 0);
  /* the same connection, then a new one, keep being served */
  CHECK_EQ_INT(
      put_on(&cl, "small", OA_COMPRESSION_NONE, &small, &wire, msg, sizeof msg),
      GRPC_STATUS_OK);
  CHECK_EQ_INT(stored_rows(t.d, "small"), 1 << 16);
  tc_client cl2;
  tc_connect(&cl2, t.port);
  CHECK_EQ_INT(put_on(&cl2, "small", OA_COMPRESSION_ZSTD, &small, &wire, msg,
                      sizeof msg),
               GRPC_STATUS_OK);
  CHECK_EQ_INT(stored_rows(t.d, "small"), 2 << 16);
  tc_disconnect(&cl2);
  tc_disconnect(&cl);
  server_stop(&t);
  oa_batch_reset(&big);
  oa_batch_reset(&small);
  oa_schema_release(s);
}

OA_TEST_MAIN(OA_T(test_doput_decompression_bomb),
             OA_T(test_doput_message_over_recv_limit))
