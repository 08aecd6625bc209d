/* SQL over Flight (oa_flight_service_set_query_handler): which DoGet tickets
 * are statements, Flight SQL CommandStatementQuery through GetFlightInfo /
 * GetSchema and its TicketStatementQuery ticket, the status codes of the
 * handler's errors, and a server without a handler. The handler here is a
 * fake that records the SQL it got and answers one int64 column "n" holding
 * the statement's length, so every answer has a known value. */
#include <stdlib.h>
#include <string.h>

#include "flight/flight.h"
#include "flight/flight_proto.h"
#include "flight_test_client.h"
#include "otlparrow/builder.h"
#include "otlparrow/dataset.h"
#include "otlparrow/flight_client.h"
#include "test.h"

#define SQL_TYPE "type.googleapis.com/arrow.flight.protocol.sql."

typedef struct fake {
  char last[512];
  int calls;
} fake;

static int fake_query(void *ctx, const char *sql, oa_schema **schema,
                      oa_batch **batches, int64_t *n, oa_error *err) {
  fake *f = ctx;
  f->calls++;
  snprintf(f->last, sizeof f->last, "%s", sql);
  if (strstr(sql, "bad"))
    return oa_error_set(err, EINVAL, "SQL error at 1:8: bad token");
  if (strstr(sql, "missing"))
    return oa_error_set(err, ENOENT, "no table 'missing'");
  oa_schema *s = NULL;
  OA_RETURN_NOT_OK(oa_schema_new(&s, err));
  oa_field fld;
  int rc = oa_field_init(&fld, "n", OA_TYPE_INT64, err);
  if (rc == 0) rc = oa_schema_add_field(s, &fld, err);
  oa_builder b;
  oa_array col;
  oa_array_init(&col);
  if (rc == 0) rc = oa_builder_init(&b, &s->fields[0], 0, err);
  if (rc == 0) {
    rc = oa_builder_append_int(&b, (int64_t)strlen(sql));
    if (rc == 0) rc = oa_builder_finish(&b, &col, err);
    oa_builder_reset(&b);
  }
  oa_batch *out = calloc(1, sizeof *out);
  if (rc == 0 && !out) rc = ENOMEM;
  if (rc == 0) {
    oa_batch_init(out);
    rc = oa_batch_set(out, s, 1, &col, err);
  }
  oa_array_reset(&col);
  if (rc) {
    free(out);
    oa_schema_release(s);
    return rc;
  }
  *schema = s;
  *batches = out;
  *n = 1;
  return 0;
}

typedef struct tserver {
  oa_datasets *d;
  oa_grpc_server *srv;
  oa_flight_service *svc;
  int port;
  fake f;
  oa_flight_client *c;
  tc_client raw;
} tserver;

static void ts_start(tserver *t, bool handler) {
  oa_error err_, *err = &err_;
  memset(t, 0, sizeof *t);
  CHECK_OK(oa_datasets_new(&t->d, 0, err), err);
  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  CHECK_OK(oa_grpc_server_new(&t->srv, &so, err), err);
  CHECK_OK(oa_flight_service_new(&t->svc, t->d, NULL, err), err);
  if (handler)
    CHECK_OK(
        oa_flight_service_set_query_handler(t->svc, fake_query, &t->f, err),
        err);
  CHECK_OK(oa_flight_service_register(t->svc, t->srv, err), err);
  CHECK_OK(
      oa_grpc_server_add_listener(t->srv, "127.0.0.1:0", NULL, &t->port, err),
      err);
  CHECK_OK(oa_grpc_server_start(t->srv, err), err);
  char uri[64];
  snprintf(uri, sizeof uri, "127.0.0.1:%d", t->port);
  CHECK_OK(oa_flight_client_new(&t->c, uri, NULL, err), err);
  tc_connect(&t->raw, t->port);
}

static void ts_stop(tserver *t) {
  tc_disconnect(&t->raw);
  oa_flight_client_free(t->c);
  oa_grpc_server_shutdown(t->srv, 1000);
  oa_grpc_server_free(t->srv);
  oa_flight_service_free(t->svc);
  oa_datasets_free(t->d);
}

/* DoGet of ticket; returns the status code (errno-style) and, on success,
 * the value of column n in *value (-1 if the stream had no row). */
static int get_n(tserver *t, const void *ticket, int64_t len, int64_t *value,
                 oa_error *err) {
  oa_schema *s = NULL;
  oa_batch *bs = NULL;
  int64_t n = 0;
  *value = -1;
  int rc = oa_flight_client_do_get_all(t->c, ticket, len, &s, &bs, &n, err);
  if (rc == 0 && n > 0 && bs[0].length > 0)
    *value = oa_array_get_int(&s->fields[0], &bs[0].columns[0], 0);
  oa_flight_batches_free(s, bs, n);
  return rc;
}

static void any_of(oa_bytes *out, const char *type, const oa_bytes *value) {
  char url[256];
  snprintf(url, sizeof url, SQL_TYPE "%s", type);
  CHECK(oa_pb_put_bytes_field(out, 1, url, (int64_t)strlen(url)) == 0);
  CHECK(oa_pb_put_bytes_field(out, 2, value->data, value->size) == 0);
}

/* Any-packed message with one string field 1 (CommandStatementQuery.query,
 * TicketStatementQuery.statement_handle). */
static void any_field1(oa_bytes *out, const char *type, const char *s) {
  oa_bytes inner;
  oa_bytes_init(&inner);
  CHECK(oa_pb_put_bytes_field(&inner, 1, s, (int64_t)strlen(s)) == 0);
  any_of(out, type, &inner);
  oa_bytes_reset(&inner);
}

OA_TEST(test_sql_tickets) {
  tserver t;
  ts_start(&t, true);
  oa_error err_, *err = &err_;
  int64_t v = 0;

  CHECK_OK(get_n(&t, "SELECT 1", 8, &v, err), err);
  CHECK_EQ_INT(v, 8);
  CHECK_EQ_STR(t.f.last, "SELECT 1");
  /* case, leading whitespace and parentheses; WITH */
  const char *const stmts[] = {"  select count(*) from spans",
                               "\n\tWITH x AS (SELECT 1) SELECT * FROM x",
                               "(SELECT 2)", "select"};
  for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
    int calls = t.f.calls;
    CHECK_OK(get_n(&t, stmts[i], (int64_t)strlen(stmts[i]), &v, err), err);
    CHECK_EQ_INT(v, (int64_t)strlen(stmts[i]));
    CHECK_EQ_INT(t.f.calls, calls + 1);
    CHECK_EQ_STR(t.f.last, stmts[i]);
  }
  /* names that only start like a keyword are datasets */
  int calls = t.f.calls;
  CHECK_FAILS(get_n(&t, "selection", 9, &v, err), ENOENT, err,
              "dataset 'selection' not found");
  CHECK_FAILS(get_n(&t, "with_x", 6, &v, err), ENOENT, err,
              "dataset 'with_x' not found");
  CHECK_OK(get_n(&t, "spans", 5, &v, err), err);
  CHECK_EQ_INT(t.f.calls, calls);

  /* a statement longer than a dataset name may be */
  char longsql[400];
  memset(longsql, ' ', sizeof longsql);
  memcpy(longsql, "SELECT", 6);
  longsql[sizeof longsql - 1] = 0;
  CHECK_OK(get_n(&t, longsql, (int64_t)strlen(longsql), &v, err), err);
  CHECK_EQ_INT(v, 399);

  /* Flight SQL's ticket */
  oa_bytes tk;
  oa_bytes_init(&tk);
  any_field1(&tk, "TicketStatementQuery", "SELECT abc");
  CHECK_OK(get_n(&t, tk.data, tk.size, &v, err), err);
  CHECK_EQ_INT(v, 10);
  CHECK_EQ_STR(t.f.last, "SELECT abc");

  /* errors: the handler's codes, its message */
  CHECK_FAILS(get_n(&t, "SELECT bad", 10, &v, err), EINVAL, err,
              "SQL error at 1:8: bad token");
  CHECK_EQ_INT(oa_flight_client_last_status(t.c), GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_FAILS(get_n(&t, "SELECT * FROM missing", 21, &v, err), ENOENT, err,
              "no table 'missing'");
  CHECK_EQ_INT(oa_flight_client_last_status(t.c), GRPC_STATUS_NOT_FOUND);
  CHECK_FAILS(get_n(&t, "SELECT \0x", 9, &v, err), EINVAL, err, "NUL");
  /* an Any of the right type without the statement */
  oa_bytes empty;
  oa_bytes_init(&empty);
  tk.size = 0;
  any_of(&tk, "TicketStatementQuery", &empty);
  CHECK_FAILS(get_n(&t, tk.data, tk.size, &v, err), EINVAL, err,
              "statement_handle");
  oa_bytes_reset(&tk);
  ts_stop(&t);
}

OA_TEST(test_flight_sql_info) {
  tserver t;
  ts_start(&t, true);
  oa_error err_, *err = &err_;
  oa_bytes cmd, req, resp;
  oa_bytes_init(&cmd);
  oa_bytes_init(&req);
  oa_bytes_init(&resp);
  any_field1(&cmd, "CommandStatementQuery", "SELECT 12345");
  oa_flight_descriptor d;
  memset(&d, 0, sizeof d);
  d.type = OA_FLIGHT_DESCRIPTOR_CMD;
  d.cmd.data = cmd.data;
  d.cmd.size = cmd.size;
  CHECK_OK(oa_flight_descriptor_encode(&d, &req, err), err);
  char msg[1024];
  grpc_status_code st = tc_unary(&t.raw, "GetFlightInfo", req.data,
                                 (size_t)req.size, &resp, msg, sizeof msg);
  CHECK_EQ_INT(st, GRPC_STATUS_OK);
  oa_flight_info *info = calloc(1, sizeof *info);
  CHECK_OK(oa_flight_info_decode(resp.data, resp.size, info, err), err);
  CHECK_EQ_INT(info->total_records, 1);
  CHECK_EQ_INT(info->n_endpoints, 1);
  CHECK(info->has_descriptor && info->descriptor.type == 2 &&
        info->descriptor.cmd.size == cmd.size);
  oa_schema *s = NULL;
  CHECK_OK(
      oa_flight_schema_parse(info->schema.data, info->schema.size, &s, err),
      err);
  CHECK(s && s->n_fields == 1 && strcmp(s->fields[0].name, "n") == 0);
  if (s) oa_schema_release(s);
  /* the ticket is the Any-packed TicketStatementQuery holding the SQL */
  oa_bytes want;
  oa_bytes_init(&want);
  any_field1(&want, "TicketStatementQuery", "SELECT 12345");
  CHECK_EQ_INT(info->endpoints[0].ticket.size, want.size);
  CHECK(memcmp(info->endpoints[0].ticket.data, want.data, (size_t)want.size) ==
        0);
  int64_t v = 0;
  CHECK_OK(get_n(&t, info->endpoints[0].ticket.data,
                 info->endpoints[0].ticket.size, &v, err),
           err);
  CHECK_EQ_INT(v, 12);
  free(info);

  /* GetSchema of the command */
  resp.size = 0;
  st = tc_unary(&t.raw, "GetSchema", req.data, (size_t)req.size, &resp, msg,
                sizeof msg);
  CHECK_EQ_INT(st, GRPC_STATUS_OK);
  oa_flight_view sv;
  CHECK_OK(oa_flight_single_bytes_decode(resp.data, resp.size, &sv,
                                         "SchemaResult", err),
           err);
  s = NULL;
  CHECK_OK(oa_flight_schema_parse(sv.data, sv.size, &s, err), err);
  CHECK(s && s->n_fields == 1 && s->fields[0].type.id == OA_TYPE_INT64);
  if (s) oa_schema_release(s);

  /* bad SQL in the command: INVALID_ARGUMENT with the message */
  cmd.size = req.size = resp.size = 0;
  any_field1(&cmd, "CommandStatementQuery", "SELECT bad");
  d.cmd.data = cmd.data;
  d.cmd.size = cmd.size;
  CHECK_OK(oa_flight_descriptor_encode(&d, &req, err), err);
  st = tc_unary(&t.raw, "GetFlightInfo", req.data, (size_t)req.size, &resp, msg,
                sizeof msg);
  CHECK_EQ_INT(st, GRPC_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(msg, "SQL error at 1:8") != NULL);

  /* other Flight SQL commands */
  oa_bytes none;
  oa_bytes_init(&none);
  cmd.size = req.size = resp.size = 0;
  any_of(&cmd, "CommandGetTables", &none);
  d.cmd.data = cmd.data;
  d.cmd.size = cmd.size;
  CHECK_OK(oa_flight_descriptor_encode(&d, &req, err), err);
  st = tc_unary(&t.raw, "GetFlightInfo", req.data, (size_t)req.size, &resp, msg,
                sizeof msg);
  CHECK_EQ_INT(st, GRPC_STATUS_UNIMPLEMENTED);
  CHECK(strstr(msg, "CommandStatementQuery") != NULL);

  oa_bytes_reset(&want);
  oa_bytes_reset(&cmd);
  oa_bytes_reset(&req);
  oa_bytes_reset(&resp);
  ts_stop(&t);
}

OA_TEST(test_no_handler) {
  tserver t;
  ts_start(&t, false);
  oa_error err_, *err = &err_;
  int64_t v = 0;
  CHECK_FAILS(get_n(&t, "SELECT 1", 8, &v, err), ENOTSUP, err,
              "does not run SQL");
  CHECK_EQ_INT(oa_flight_client_last_status(t.c), GRPC_STATUS_UNIMPLEMENTED);
  CHECK_OK(get_n(&t, "spans", 5, &v, err), err);
  CHECK_FAILS(oa_flight_service_set_query_handler(NULL, fake_query, NULL, err),
              EINVAL, err, "NULL service");
  ts_stop(&t);
}

OA_TEST_MAIN(OA_T(test_sql_tickets), OA_T(test_flight_sql_info),
             OA_T(test_no_handler))
