/* The Flight service end to end: a server on 127.0.0.1 (free port) and a
 * Flight client written directly on gRPC core (flight_test_client.h). */
#include <json-c/json.h>

#include "flight/flight.h"
#include "flight_test_client.h"
#include "ipc/ipc_test_util.h"
#include "otlparrow/dataset.h"
#include "otlparrow/otlp.h"
#include "test.h"

typedef struct tserver {
  oa_datasets *d;
  oa_grpc_server *srv;
  oa_flight_service *svc;
  int port;
  tc_client cl;
} tserver;

static void ts_start(tserver *t, const char *token, int64_t max_memory,
                     int64_t max_msg) {
  oa_error err_, *err = &err_;
  memset(t, 0, sizeof *t);
  CHECK_OK(oa_datasets_new(&t->d, max_memory, err), err);
  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  CHECK_OK(oa_grpc_server_new(&t->srv, &so, err), err);
  oa_flight_options fo;
  oa_flight_options_init(&fo);
  fo.auth_token = token;
  fo.location = "grpc+tcp://127.0.0.1:1";
  if (max_msg) fo.max_message_size = max_msg;
  CHECK_OK(oa_flight_service_new(&t->svc, t->d, &fo, err), err);
  CHECK_OK(oa_flight_service_register(t->svc, t->srv, err), err);
  CHECK_OK(
      oa_grpc_server_add_listener(t->srv, "127.0.0.1:0", NULL, &t->port, err),
      err);
  CHECK_OK(oa_grpc_server_start(t->srv, err), err);
  tc_connect(&t->cl, t->port);
}

static void ts_stop(tserver *t) {
  tc_disconnect(&t->cl);
  oa_grpc_server_shutdown(t->srv, 1000);
  oa_grpc_server_free(t->srv);
  oa_flight_service_free(t->svc);
  oa_datasets_free(t->d);
}

/* ---------------------------------------------------------- DoPut */

typedef struct put_ctx {
  tc_call *c;
  const oa_flight_descriptor *desc; /* sent with the first message */
  const char *app;
  int64_t sent;
  bool ok;
} put_ctx;

static int put_emit(void *ctx, const oa_ipc_message *msg, oa_error *err) {
  put_ctx *p = ctx;
  oa_flight_wire w;
  oa_flight_wire_init(&w);
  int rc = oa_flight_data_encode(
      p->sent == 0 ? p->desc : NULL, msg,
      msg->type == OA_IPC_MSG_RECORD_BATCH ? p->app : NULL,
      msg->type == OA_IPC_MSG_RECORD_BATCH && p->app ? (int64_t)strlen(p->app)
                                                     : 0,
      &w, err);
  if (rc == 0 && !tc_send_wire(p->c, &w)) p->ok = false;
  p->sent++;
  oa_flight_wire_reset(&w);
  return rc;
}

/* DoPut of batches to name; returns the status; *acks gets the number of
 * PutResults (and their app_metadata must echo "ack"). */
static grpc_status_code do_put(tc_client *cl, const char *name, oa_schema *s,
                               const oa_batch *batches, int64_t n,
                               int64_t *acks, char *msg, size_t cap) {
  oa_error err_, *err = &err_;
  tc_call c;
  tc_start(&c, cl, "DoPut");
  oa_flight_descriptor d;
  oa_flight_descriptor_path(&d, name);
  put_ctx p = {&c, &d, "ack", 0, true};
  oa_ipc_encoder *enc = NULL;
  CHECK_OK(oa_ipc_encoder_new(&enc, s, NULL, err), err);
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  CHECK_OK(oa_ipc_encoder_schema(enc, &m, err), err);
  put_emit(&p, &m, err);
  oa_ipc_message_reset(&m);
  int64_t got = 0;
  oa_bytes r;
  oa_bytes_init(&r);
  for (int64_t i = 0; i < n && p.ok; i++) {
    if (oa_ipc_encoder_batch(enc, &batches[i], put_emit, &p, err)) break;
    if (!tc_recv(&c, &r)) break;
    oa_flight_view v;
    CHECK_OK(
        oa_flight_single_bytes_decode(r.data, r.size, &v, "PutResult", err),
        err);
    CHECK(v.size == 3 && memcmp(v.data, "ack", 3) == 0);
    got++;
  }
  tc_close_send(&c);
  while (tc_recv(&c, &r))
    got++;
  grpc_status_code st = tc_finish(&c);
  if (msg) snprintf(msg, cap, "%s", c.message);
  if (acks) *acks = got;
  oa_bytes_reset(&r);
  oa_ipc_encoder_free(enc);
  return st;
}

/* DoGet: all record batches of ticket (appended to *out). */
static grpc_status_code do_get(tc_client *cl, const char *ticket,
                               oa_batch **out, int64_t *n, int64_t *max_msg,
                               char *msg, size_t cap) {
  oa_error err_, *err = &err_;
  oa_bytes req;
  oa_bytes_init(&req);
  oa_flight_single_bytes_encode(ticket, (int64_t)strlen(ticket), &req, err);
  tc_call c;
  tc_start(&c, cl, "DoGet");
  tc_send(&c, req.data, (size_t)req.size);
  tc_close_send(&c);
  oa_ipc_decoder *dec = NULL;
  oa_ipc_decoder_new(&dec, NULL, err);
  *out = NULL;
  *n = 0;
  if (max_msg) *max_msg = 0;
  oa_bytes r;
  oa_bytes_init(&r);
  while (tc_recv(&c, &r)) {
    if (max_msg && r.size > *max_msg) *max_msg = r.size;
    oa_buffer in;
    oa_bytes copy;
    oa_bytes_init(&copy);
    oa_bytes_append(&copy, r.data, r.size);
    oa_bytes_finish(&copy, &in);
    oa_flight_data fd;
    CHECK_OK(oa_flight_data_decode(&in, &fd, err), err);
    oa_ipc_msg_type type;
    oa_batch b;
    oa_batch_init(&b);
    CHECK_OK(oa_ipc_decoder_decode(dec, fd.data_header.data,
                                   fd.data_header.size, &fd.body, &type, &b,
                                   err),
             err);
    if (type == OA_IPC_MSG_RECORD_BATCH) {
      *out = realloc(*out, (size_t)(*n + 1) * sizeof **out);
      oa_batch_move(&(*out)[(*n)++], &b);
    }
    oa_batch_reset(&b);
    oa_region_release(in.region);
  }
  grpc_status_code st = tc_finish(&c);
  if (msg) snprintf(msg, cap, "%s", c.message);
  oa_bytes_reset(&r);
  oa_bytes_reset(&req);
  oa_ipc_decoder_free(dec);
  return st;
}

static void free_batches(oa_batch *b, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    oa_batch_reset(&b[i]);
  free(b);
}

static grpc_status_code get_info(tc_client *cl, const char *method,
                                 const char *name, oa_bytes *resp, char *msg) {
  oa_flight_descriptor d;
  oa_flight_descriptor_path(&d, name);
  oa_bytes req;
  oa_bytes_init(&req);
  oa_flight_descriptor_encode(&d, &req, NULL);
  grpc_status_code st =
      tc_unary(cl, method, req.data, (size_t)req.size, resp, msg, 1024);
  oa_bytes_reset(&req);
  return st;
}

/* DoAction: the Result bodies joined by '\n' into out. */
static grpc_status_code do_action(tc_client *cl, const char *type,
                                  const char *body, oa_bytes *out, char *msg) {
  oa_flight_action a = {
      {(const uint8_t *)type, (int64_t)strlen(type)},
      {(const uint8_t *)body, body ? (int64_t)strlen(body) : 0}};
  oa_bytes req, r;
  oa_bytes_init(&req);
  oa_bytes_init(&r);
  oa_flight_action_encode(&a, &req, NULL);
  tc_call c;
  tc_start(&c, cl, "DoAction");
  tc_send(&c, req.data, (size_t)req.size);
  tc_close_send(&c);
  out->size = 0;
  while (tc_recv(&c, &r)) {
    oa_flight_view v;
    CHECK_OK(oa_flight_single_bytes_decode(r.data, r.size, &v, "Result", NULL),
             (oa_error *)NULL);
    oa_bytes_append(out, v.data, v.size);
    oa_bytes_append(out, "\n", 1);
  }
  oa_bytes_append(out, "", 1); /* NUL-terminated */
  out->size--;
  grpc_status_code st = tc_finish(&c);
  if (msg) snprintf(msg, 1024, "%s", c.message);
  oa_bytes_reset(&req);
  oa_bytes_reset(&r);
  return st;
}

/* ----------------------------------------------------------- tests */

OA_TEST(test_put_get_info_actions) {
  oa_error err_, *err = &err_;
  tserver t;
  ts_start(&t, NULL, 0, 0);
  oa_schema *s = tu_all_types_schema();
  oa_batch in[3];
  for (int i = 0; i < 3; i++) {
    oa_batch_init(&in[i]);
    CHECK_OK(tu_random_batch(s, 100 + i, &in[i], err), err);
  }
  char msg[1024];
  int64_t acks = 0;
  CHECK_EQ_INT(do_put(&t.cl, "t1", s, in, 3, &acks, msg, sizeof msg),
               GRPC_STATUS_OK);
  CHECK_EQ_INT(acks, 3);

  oa_batch *out = NULL;
  int64_t n = 0;
  CHECK_EQ_INT(do_get(&t.cl, "t1", &out, &n, NULL, msg, sizeof msg),
               GRPC_STATUS_OK);
  CHECK_EQ_INT(n, 3);
  for (int64_t i = 0; i < n && i < 3; i++)
    if (!oa_batch_equals(&in[i], &out[i], err)) {
      fprintf(stderr, "batch %lld: %s\n", (long long)i, err->message);
      CHECK(false);
    }
  free_batches(out, n);

  /* GetFlightInfo: schema, counts, one endpoint with the ticket */
  oa_bytes resp;
  oa_bytes_init(&resp);
  CHECK_EQ_INT(get_info(&t.cl, "GetFlightInfo", "t1", &resp, msg),
               GRPC_STATUS_OK);
  oa_flight_info *info = calloc(1, sizeof *info);
  CHECK_OK(oa_flight_info_decode(resp.data, resp.size, info, err), err);
  CHECK_EQ_INT(info->total_records, 303);
  CHECK(info->total_bytes > 0);
  CHECK_EQ_INT(info->n_endpoints, 1);
  CHECK(info->endpoints[0].ticket.size == 2 &&
        memcmp(info->endpoints[0].ticket.data, "t1", 2) == 0);
  CHECK_EQ_INT(info->endpoints[0].n_locations, 1);
  CHECK(info->has_descriptor && info->descriptor.n_path == 1);
  oa_schema *back = NULL;
  CHECK_OK(
      oa_flight_schema_parse(info->schema.data, info->schema.size, &back, err),
      err);
  CHECK(back && oa_schema_equals(s, back, false, err));
  oa_schema_release(back);
  back = NULL;

  /* GetSchema */
  CHECK_EQ_INT(get_info(&t.cl, "GetSchema", "t1", &resp, msg), GRPC_STATUS_OK);
  oa_flight_view sv;
  CHECK_OK(oa_flight_single_bytes_decode(resp.data, resp.size, &sv,
                                         "SchemaResult", err),
           err);
  CHECK_OK(oa_flight_schema_parse(sv.data, sv.size, &back, err), err);
  CHECK(back && oa_schema_equals(s, back, false, err));
  if (back) oa_schema_release(back);

  /* unknown dataset */
  CHECK_EQ_INT(get_info(&t.cl, "GetFlightInfo", "nope", &resp, msg),
               GRPC_STATUS_NOT_FOUND);
  CHECK(strstr(msg, "nope") != NULL);
  CHECK_EQ_INT(do_get(&t.cl, "nope", &out, &n, NULL, msg, sizeof msg),
               GRPC_STATUS_NOT_FOUND);
  free_batches(out, n);

  /* ListFlights: spans (created empty) and t1 */
  tc_call c;
  tc_start(&c, &t.cl, "ListFlights");
  tc_send(&c, "", 0);
  tc_close_send(&c);
  int found = 0, total = 0;
  while (tc_recv(&c, &resp)) {
    CHECK_OK(oa_flight_info_decode(resp.data, resp.size, info, err), err);
    oa_flight_view p = info->descriptor.path[0];
    if (p.size == 2 && memcmp(p.data, "t1", 2) == 0) {
      found++;
      CHECK_EQ_INT(info->total_records, 303);
    }
    if (p.size == 5 && memcmp(p.data, "spans", 5) == 0) {
      found++;
      CHECK_EQ_INT(info->total_records, 0);
    }
    total++;
  }
  CHECK_EQ_INT(tc_finish(&c), GRPC_STATUS_OK);
  CHECK_EQ_INT(found, 2);
  CHECK_EQ_INT(total, 2);

  /* ListActions */
  tc_start(&c, &t.cl, "ListActions");
  tc_send(&c, "", 0);
  tc_close_send(&c);
  int n_actions = 0;
  bool has_drop = false;
  while (tc_recv(&c, &resp)) {
    oa_flight_action a;
    CHECK_OK(
        oa_flight_action_decode(resp.data, resp.size, &a, "ActionType", err),
        err);
    has_drop |=
        a.type.size == 12 && memcmp(a.type.data, "drop-dataset", 12) == 0;
    CHECK(a.body.size > 0); /* description */
    n_actions++;
  }
  CHECK_EQ_INT(tc_finish(&c), GRPC_STATUS_OK);
  CHECK_EQ_INT(n_actions, 3);
  CHECK(has_drop);

  /* DoAction list-datasets: JSON per dataset */
  oa_bytes res;
  oa_bytes_init(&res);
  CHECK_EQ_INT(do_action(&t.cl, "list-datasets", NULL, &res, msg),
               GRPC_STATUS_OK);
  bool saw_t1 = false;
  for (char *line = strtok((char *)res.data, "\n"); line;
       line = strtok(NULL, "\n")) {
    json_object *o = json_tokener_parse(line);
    CHECK(o != NULL);
    json_object *nm, *rows, *batches, *bytes;
    CHECK(json_object_object_get_ex(o, "name", &nm));
    CHECK(json_object_object_get_ex(o, "rows", &rows));
    CHECK(json_object_object_get_ex(o, "batches", &batches));
    CHECK(json_object_object_get_ex(o, "bytes", &bytes));
    if (strcmp(json_object_get_string(nm), "t1") == 0) {
      saw_t1 = true;
      CHECK_EQ_INT(json_object_get_int64(rows), 303);
      CHECK_EQ_INT(json_object_get_int64(batches), 3);
      CHECK(json_object_get_int64(bytes) > 0);
    }
    json_object_put(o);
  }
  CHECK(saw_t1);

  /* stats */
  CHECK_EQ_INT(do_action(&t.cl, "stats", NULL, &res, msg), GRPC_STATUS_OK);
  json_object *o = json_tokener_parse((const char *)res.data);
  json_object *v;
  CHECK(o && json_object_object_get_ex(o, "datasets", &v) &&
        json_object_get_int64(v) == 2);
  CHECK(o && json_object_object_get_ex(o, "memory_used", &v) &&
        json_object_get_int64(v) == oa_datasets_memory_used(t.d));
  CHECK(o && json_object_object_get_ex(o, "memory_limit", &v));
  json_object_put(o);

  /* drop-dataset, then it is gone */
  CHECK_EQ_INT(do_action(&t.cl, "drop-dataset", "t1", &res, msg),
               GRPC_STATUS_OK);
  CHECK(strstr((const char *)res.data, "\"dropped\":\"t1\"") != NULL);
  CHECK_EQ_INT(get_info(&t.cl, "GetFlightInfo", "t1", &resp, msg),
               GRPC_STATUS_NOT_FOUND);
  CHECK_EQ_INT(do_action(&t.cl, "drop-dataset", "t1", &res, msg),
               GRPC_STATUS_NOT_FOUND);
  CHECK_EQ_INT(do_action(&t.cl, "frobnicate", NULL, &res, msg),
               GRPC_STATUS_UNIMPLEMENTED);
  CHECK(strstr(msg, "frobnicate") != NULL);

  /* DoExchange and PollFlightInfo are not implemented */
  tc_start(&c, &t.cl, "DoExchange");
  tc_close_send(&c);
  CHECK_EQ_INT(tc_finish(&c), GRPC_STATUS_UNIMPLEMENTED);
  CHECK_EQ_INT(get_info(&t.cl, "PollFlightInfo", "x", &resp, msg),
               GRPC_STATUS_UNIMPLEMENTED);

  free(info);
  oa_bytes_reset(&res);
  oa_bytes_reset(&resp);
  for (int i = 0; i < 3; i++)
    oa_batch_reset(&in[i]);
  oa_schema_release(s);
  ts_stop(&t);
}

OA_TEST(test_auth) {
  tserver t;
  ts_start(&t, "s3cret", 0, 0);
  char msg[1024];
  oa_bytes resp;
  oa_bytes_init(&resp);
  /* no header, wrong header */
  CHECK_EQ_INT(get_info(&t.cl, "GetFlightInfo", "spans", &resp, msg),
               GRPC_STATUS_UNAUTHENTICATED);
  snprintf(t.cl.auth, sizeof t.cl.auth, "Bearer s3cre");
  CHECK_EQ_INT(get_info(&t.cl, "GetFlightInfo", "spans", &resp, msg),
               GRPC_STATUS_UNAUTHENTICATED);
  oa_batch *out = NULL;
  int64_t n = 0;
  CHECK_EQ_INT(do_get(&t.cl, "spans", &out, &n, NULL, msg, sizeof msg),
               GRPC_STATUS_UNAUTHENTICATED);
  free_batches(out, n);
  snprintf(t.cl.auth, sizeof t.cl.auth, "Bearer s3cret-and-more");
  CHECK_EQ_INT(get_info(&t.cl, "GetSchema", "spans", &resp, msg),
               GRPC_STATUS_UNAUTHENTICATED);

  /* Handshake with the token as payload (no header): token back */
  t.cl.auth[0] = 0;
  oa_flight_handshake h = {0, {(const uint8_t *)"s3cret", 6}};
  oa_bytes req;
  oa_bytes_init(&req);
  oa_flight_handshake_encode(&h, &req, NULL);
  tc_call c;
  tc_start(&c, &t.cl, "Handshake");
  tc_send(&c, req.data, (size_t)req.size);
  CHECK(tc_recv(&c, &resp));
  oa_flight_handshake hr;
  CHECK_OK(oa_flight_handshake_decode(resp.data, resp.size, &hr, NULL),
           (oa_error *)NULL);
  CHECK(hr.payload.size == 6 && memcmp(hr.payload.data, "s3cret", 6) == 0);
  tc_close_send(&c);
  CHECK_EQ_INT(tc_finish(&c), GRPC_STATUS_OK);

  /* Handshake with a wrong token */
  req.size = 0;
  h.payload.size = 5;
  oa_flight_handshake_encode(&h, &req, NULL);
  tc_start(&c, &t.cl, "Handshake");
  tc_send(&c, req.data, (size_t)req.size);
  tc_close_send(&c);
  while (tc_recv(&c, &resp)) {
  }
  CHECK_EQ_INT(tc_finish(&c), GRPC_STATUS_UNAUTHENTICATED);

  /* the right header opens every method */
  snprintf(t.cl.auth, sizeof t.cl.auth, "Bearer s3cret");
  CHECK_EQ_INT(get_info(&t.cl, "GetFlightInfo", "spans", &resp, msg),
               GRPC_STATUS_OK);
  CHECK_EQ_INT(do_get(&t.cl, "spans", &out, &n, NULL, msg, sizeof msg),
               GRPC_STATUS_OK);
  free_batches(out, n);
  /* Handshake with the header only */
  tc_start(&c, &t.cl, "Handshake");
  oa_flight_handshake empty = {0, {NULL, 0}};
  req.size = 0;
  oa_flight_handshake_encode(&empty, &req, NULL);
  tc_send(&c, req.data, (size_t)req.size);
  CHECK(tc_recv(&c, &resp));
  tc_close_send(&c);
  CHECK_EQ_INT(tc_finish(&c), GRPC_STATUS_OK);

  oa_bytes_reset(&req);
  oa_bytes_reset(&resp);
  ts_stop(&t);
}

OA_TEST(test_spans_schema) {
  oa_error err_, *err = &err_;
  tserver t;
  ts_start(&t, NULL, 0, 0);
  char msg[1024];
  /* a schema whose first column is not the span schema's */
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_schema *span;
  CHECK_OK(oa_span_schema(&span, err), err);
  oa_field f0;
  oa_field_init(&f0, span->fields[0].name, OA_TYPE_INT64, NULL);
  oa_schema_add_field(s, &f0, NULL);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s, 10, &b, err), err);
  CHECK_EQ_INT(do_put(&t.cl, "spans", s, &b, 1, NULL, msg, sizeof msg),
               GRPC_STATUS_INVALID_ARGUMENT);
  char want[300];
  snprintf(want, sizeof want, "column '%s'", span->fields[0].name);
  if (!strstr(msg, want)) {
    fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, want);
    CHECK(false);
  }
  /* the same batch is fine under another name */
  CHECK_EQ_INT(do_put(&t.cl, "other", s, &b, 1, NULL, msg, sizeof msg),
               GRPC_STATUS_OK);

  /* real spans: generated OTLP, decoded, put and read back */
  oa_trace_gen g;
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = 500;
  CHECK_OK(oa_trace_gen_init(&g, &go, err), err);
  oa_bytes req;
  oa_bytes_init(&req);
  int64_t ns = 0;
  CHECK_OK(oa_trace_gen_next_request(&g, 500, &req, &ns, err), err);
  oa_batch sb;
  oa_batch_init(&sb);
  CHECK_OK(oa_otlp_decode_traces(req.data, req.size, NULL, &sb, NULL, err),
           err);
  int64_t acks = 0;
  CHECK_EQ_INT(
      do_put(&t.cl, "spans", sb.schema, &sb, 1, &acks, msg, sizeof msg),
      GRPC_STATUS_OK);
  CHECK_EQ_INT(acks, 1);
  oa_batch *out = NULL;
  int64_t n = 0;
  CHECK_EQ_INT(do_get(&t.cl, "spans", &out, &n, NULL, msg, sizeof msg),
               GRPC_STATUS_OK);
  CHECK_EQ_INT(n, 1);
  if (n == 1) CHECK(oa_batch_equals(&sb, &out[0], err));
  free_batches(out, n);
  oa_batch_reset(&sb);
  oa_trace_gen_reset(&g);
  oa_bytes_reset(&req);
  oa_batch_reset(&b);
  oa_schema_release(s);
  oa_schema_release(span);
  ts_stop(&t);
}

OA_TEST(test_large_batch_split) {
  oa_error err_, *err = &err_;
  tserver t;
  ts_start(&t, NULL, 0, 64 << 10); /* 64 KiB target */
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f0, f1;
  oa_field_init(&f0, "i", OA_TYPE_INT64, NULL);
  oa_field_init(&f1, "s", OA_TYPE_STRING, NULL);
  oa_schema_add_field(s, &f0, NULL);
  oa_schema_add_field(s, &f1, NULL);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s, 50000, &b, err), err); /* ~1 MB */
  char msg[1024];
  CHECK_EQ_INT(do_put(&t.cl, "big", s, &b, 1, NULL, msg, sizeof msg),
               GRPC_STATUS_OK);
  oa_batch *out = NULL;
  int64_t n = 0, max_msg = 0;
  CHECK_EQ_INT(do_get(&t.cl, "big", &out, &n, &max_msg, msg, sizeof msg),
               GRPC_STATUS_OK);
  CHECK(n > 8);
  CHECK(max_msg <= (64 << 10) + 4096);
  int64_t off = 0;
  for (int64_t i = 0; i < n; i++) {
    oa_batch want;
    oa_batch_init(&want);
    CHECK_OK(oa_batch_slice(&want, &b, off, out[i].length, err), err);
    if (!oa_batch_equals(&want, &out[i], err)) {
      fprintf(stderr, "piece %lld: %s\n", (long long)i, err->message);
      CHECK(false);
    }
    off += out[i].length;
    oa_batch_reset(&want);
  }
  CHECK_EQ_INT(off, 50000);
  /* DoPut kept the batch in the received body: its columns' buffers share
   * one region (no copy per buffer) */
  oa_schema *ss = NULL;
  oa_batch *bb = NULL;
  int64_t nn = 0;
  CHECK_OK(oa_datasets_snapshot(t.d, "big", &ss, &bb, &nn, err), err);
  CHECK_EQ_INT(nn, 1);
  if (nn == 1)
    CHECK(bb[0].columns[0].buffers[1].region ==
          bb[0].columns[1].buffers[2].region);
  oa_datasets_snapshot_free(ss, bb, nn);
  free_batches(out, n);
  oa_batch_reset(&b);
  oa_schema_release(s);
  ts_stop(&t);
}

OA_TEST(test_malformed_and_limits) {
  oa_error err_, *err = &err_;
  tserver t;
  ts_start(&t, NULL, 200 << 10, 0); /* 200 KiB of datasets */
  char msg[1024];
  oa_bytes resp;
  oa_bytes_init(&resp);

  /* garbage bytes as FlightData */
  tc_call c;
  tc_start(&c, &t.cl, "DoPut");
  tc_send(&c, "\x12\x7f\x00", 3);
  tc_close_send(&c);
  while (tc_recv(&c, &resp)) {
  }
  CHECK_EQ_INT(tc_finish(&c), GRPC_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(c.message, "FlightData") != NULL);

  /* a descriptor, then a data_header that is no flatbuffer */
  oa_flight_descriptor d;
  oa_flight_descriptor_path(&d, "bad");
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  oa_bytes_append(&m.metadata, "\x08\x00\x00\x00garbage!", 12);
  oa_flight_wire w;
  oa_flight_wire_init(&w);
  CHECK_OK(oa_flight_data_encode(&d, &m, NULL, 0, &w, err), err);
  tc_start(&c, &t.cl, "DoPut");
  tc_send_wire(&c, &w);
  tc_close_send(&c);
  while (tc_recv(&c, &resp)) {
  }
  CHECK_EQ_INT(tc_finish(&c), GRPC_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(c.message, "IPC") != NULL);
  oa_flight_wire_reset(&w);
  oa_ipc_message_reset(&m);

  /* no descriptor at all */
  tc_start(&c, &t.cl, "DoPut");
  tc_send(&c, "", 0);
  tc_close_send(&c);
  while (tc_recv(&c, &resp)) {
  }
  CHECK_EQ_INT(tc_finish(&c), GRPC_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(c.message, "FlightDescriptor") != NULL);

  /* a bad ticket / descriptor */
  CHECK_EQ_INT(
      tc_unary(&t.cl, "GetFlightInfo", "\x1a\x05", 2, &resp, msg, sizeof msg),
      GRPC_STATUS_INVALID_ARGUMENT);

  /* still serving */
  CHECK_EQ_INT(get_info(&t.cl, "GetFlightInfo", "spans", &resp, msg),
               GRPC_STATUS_OK);

  /* the memory limit: UNAVAILABLE (retryable), earlier batches kept */
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f0;
  oa_field_init(&f0, "i", OA_TYPE_INT64, NULL);
  oa_schema_add_field(s, &f0, NULL);
  oa_batch b[4];
  for (int i = 0; i < 4; i++) {
    oa_batch_init(&b[i]);
    CHECK_OK(tu_random_batch(s, 8000, &b[i], err), err); /* 64 KB each */
  }
  int64_t acks = 0;
  CHECK_EQ_INT(do_put(&t.cl, "full", s, b, 4, &acks, msg, sizeof msg),
               GRPC_STATUS_UNAVAILABLE);
  CHECK(acks >= 1 && acks < 4);
  oa_batch *out = NULL;
  int64_t n = 0;
  CHECK_EQ_INT(do_get(&t.cl, "full", &out, &n, NULL, msg, sizeof msg),
               GRPC_STATUS_OK);
  CHECK_EQ_INT(n, acks);
  for (int64_t i = 0; i < n; i++)
    CHECK(oa_batch_equals(&b[i], &out[i], err));
  free_batches(out, n);

  for (int i = 0; i < 4; i++)
    oa_batch_reset(&b[i]);
  oa_schema_release(s);
  oa_bytes_reset(&resp);
  ts_stop(&t);
}

OA_TEST_MAIN(OA_T(test_put_get_info_actions), OA_T(test_auth),
             OA_T(test_spans_schema), OA_T(test_large_batch_split),
             OA_T(test_malformed_and_limits))
