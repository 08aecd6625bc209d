/* Helpers of the exporter tests: an in-process Flight server on a free
 * port, and reading back what it stored as OTLP/JSON (an independent path:
 * the server's dataset, the JSON encoder, json-c). */
#ifndef OA_EXP_TEST_UTIL_H
#define OA_EXP_TEST_UTIL_H

#include <json-c/json.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "flight/flight.h"
#include "otlparrow/dataset.h"
#include "otlparrow/exporter.h"
#include "otlparrow/otlp.h"
#include "test.h"
#include "test_pki.h"

typedef struct xserver {
  oa_datasets *d;
  oa_grpc_server *srv;
  oa_flight_service *svc;
  int port;
  char uri[64];
} xserver;

static inline void xs_start(xserver *t, const char *token, int64_t max_memory,
                            const oa_grpc_tls *tls) {
  oa_error err_, *err = &err_;
  memset(t, 0, sizeof *t);
  CHECK_OK(oa_datasets_new(&t->d, max_memory, err), err);
  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  so.max_recv_message_size = -1;
  CHECK_OK(oa_grpc_server_new(&t->srv, &so, err), err);
  oa_flight_options fo;
  oa_flight_options_init(&fo);
  fo.auth_token = token;
  CHECK_OK(oa_flight_service_new(&t->svc, t->d, &fo, err), err);
  CHECK_OK(oa_flight_service_register(t->svc, t->srv, err), err);
  CHECK_OK(
      oa_grpc_server_add_listener(t->srv, "127.0.0.1:0", tls, &t->port, err),
      err);
  CHECK_OK(oa_grpc_server_start(t->srv, err), err);
  snprintf(t->uri, sizeof t->uri, "%s://127.0.0.1:%d",
           tls ? "grpc+tls" : "grpc", t->port);
}

static inline void xs_stop(xserver *t) {
  oa_grpc_server_shutdown(t->srv, 1000);
  oa_grpc_server_free(t->srv);
  oa_flight_service_free(t->svc);
  oa_datasets_free(t->d);
}

/* Rows stored in dataset `name` (0 when it does not exist); *n_batches may
 * be NULL. */
static inline int64_t xs_rows(xserver *t, const char *name,
                              int64_t *n_batches) {
  oa_schema *s = NULL;
  oa_batch *b = NULL;
  int64_t n = 0, rows = 0;
  if (oa_datasets_snapshot(t->d, name, &s, &b, &n, NULL) != 0) {
    if (n_batches) *n_batches = 0;
    return 0;
  }
  for (int64_t i = 0; i < n; i++)
    rows += b[i].length;
  if (n_batches) *n_batches = n;
  oa_datasets_snapshot_free(s, b, n);
  return rows;
}

/* Every stored span batch as OTLP/JSON requests, in a json array. */
static inline json_object *xs_json(xserver *t, const char *name) {
  oa_error err_, *err = &err_;
  oa_schema *s = NULL;
  oa_batch *b = NULL;
  int64_t n = 0;
  json_object *arr = json_object_new_array();
  if (oa_datasets_snapshot(t->d, name, &s, &b, &n, err) != 0) return arr;
  for (int64_t i = 0; i < n; i++) {
    oa_bytes js;
    oa_bytes_init(&js);
    CHECK_OK(oa_otlp_encode_traces_json(&b[i], &js, err), err);
    CHECK_OK(oa_bytes_append(&js, "", 1), err);
    json_object *o = json_tokener_parse((const char *)js.data);
    CHECK(o != NULL);
    if (o) json_object_array_add(arr, o);
    oa_bytes_reset(&js);
  }
  oa_datasets_snapshot_free(s, b, n);
  return arr;
}

/* Polls until the exporter's metric reaches want (5 s at most). */
#define XS_WAIT_METRIC(e, field, want)                                         \
  do {                                                                         \
    oa_exporter_metrics xm_;                                                   \
    for (int xi_ = 0; xi_ < 500; xi_++) {                                      \
      oa_exporter_get_metrics((e), &xm_);                                      \
      if (xm_.field >= (want)) break;                                          \
      usleep(10000);                                                           \
    }                                                                          \
  } while (0)

/* A span with distinct ids derived from i. */
static inline void xs_span(oa_span *sp, int64_t i, const oa_keyvalue *attrs,
                           size_t n_attrs) {
  memset(sp, 0, sizeof *sp);
  for (int k = 0; k < 16; k++)
    sp->trace_id[k] = (uint8_t)(0xa0 + k);
  memcpy(sp->trace_id, &i, sizeof i);
  int64_t sid = i + 1;
  memcpy(sp->span_id, &sid, 8);
  sp->name = "op";
  sp->kind = OA_SPAN_KIND_SERVER;
  sp->start_time_unix_nano = 1700000000000000000ll + i * 1000;
  sp->end_time_unix_nano = sp->start_time_unix_nano + 500;
  sp->attrs = attrs;
  sp->n_attrs = n_attrs;
}

/* A server (no token, no memory limit, plain) and a config to it. */
static inline void xs_start_config(xserver *t, oa_exporter_config *c) {
  xs_start(t, NULL, 0, NULL);
  oa_exporter_config_init(c);
  c->endpoint = t->uri;
}

/* The first request of n generated spans (default generator options). */
static inline void xs_gen_request(oa_trace_gen *g, int64_t n, oa_bytes *req) {
  oa_error err_, *err = &err_;
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = n;
  CHECK_OK(oa_trace_gen_init(g, &go, err), err);
  oa_bytes_init(req);
  int64_t got = 0;
  CHECK_OK(oa_trace_gen_next_request(g, n, req, &got, err), err);
  CHECK_EQ_INT(got, n);
}

/* A fresh queue directory (dir: a mkdtemp template) and a config whose
 * endpoint nothing listens on, with the queue there. */
static inline void xs_queue_config(char *dir, oa_exporter_config *c) {
  CHECK(mkdtemp(dir) != NULL);
  oa_exporter_config_init(c);
  c->endpoint = "grpc://127.0.0.1:1";
  c->queue_dir = dir;
}

/* Removes a test's temporary directory and what is in it. */
static inline void xs_rm_rf(const char *dir) { CHECK(oa_test_rm_dir(dir)); }

#endif
