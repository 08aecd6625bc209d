/* A minimal synchronous Flight client over gRPC core, for the tests only:
 * one call at a time on a pluck completion queue. */
#ifndef OA_FLIGHT_TEST_CLIENT_H
#define OA_FLIGHT_TEST_CLIENT_H

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flight/flight_proto.h"

typedef struct tc_client {
  grpc_channel *ch;
  grpc_completion_queue *cq;
  char auth[256]; /* "Bearer ..." or "" */
} tc_client;

typedef struct tc_call {
  tc_client *cl;
  grpc_call *call;
  grpc_metadata_array init_md, trail_md;
  grpc_status_code status;
  grpc_slice details;
  bool got_init;
  int tag_status;
  bool done;
  char message[1024];
} tc_call;

static inline gpr_timespec tc_deadline(int ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                      gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static inline void tc_connect(tc_client *cl, int port) {
  grpc_init();
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  grpc_arg args[1];
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = -1;
  grpc_channel_args ca = {1, args};
  grpc_channel_credentials *cr = grpc_insecure_credentials_create();
  cl->ch = grpc_channel_create(target, cr, &ca);
  grpc_channel_credentials_release(cr);
  cl->cq = grpc_completion_queue_create_for_pluck(NULL);
  cl->auth[0] = 0;
}

static inline void tc_disconnect(tc_client *cl) {
  grpc_channel_destroy(cl->ch);
  grpc_completion_queue_shutdown(cl->cq);
  while (grpc_completion_queue_pluck(cl->cq, NULL,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cl->cq);
  grpc_shutdown();
}

static inline bool tc_run(tc_call *c, const grpc_op *ops, size_t n, void *tag) {
  grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
  if (e != GRPC_CALL_OK) {
    fprintf(stderr, "start_batch: %d\n", (int)e);
    return false;
  }
  grpc_event ev =
      grpc_completion_queue_pluck(c->cl->cq, tag, tc_deadline(30000), NULL);
  return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static inline void tc_start(tc_call *c, tc_client *cl, const char *method) {
  memset(c, 0, sizeof *c);
  c->cl = cl;
  char path[128];
  snprintf(path, sizeof path, "/arrow.flight.protocol.FlightService/%s",
           method);
  grpc_slice m = grpc_slice_from_copied_string(path);
  c->call = grpc_channel_create_call(cl->ch, NULL, GRPC_PROPAGATE_DEFAULTS,
                                     cl->cq, m, NULL, tc_deadline(60000), NULL);
  grpc_slice_unref(m);
  grpc_metadata_array_init(&c->init_md);
  grpc_metadata_array_init(&c->trail_md);
  grpc_metadata md;
  memset(&md, 0, sizeof md);
  grpc_op ops[1];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (cl->auth[0]) {
    md.key = grpc_slice_from_static_string("authorization");
    md.value = grpc_slice_from_copied_string(cl->auth);
    ops[0].data.send_initial_metadata.count = 1;
    ops[0].data.send_initial_metadata.metadata = &md;
  }
  tc_run(c, ops, 1, (void *)1);
  if (cl->auth[0]) grpc_slice_unref(md.value);
  /* the status is received whenever the server sends it */
  grpc_op st;
  memset(&st, 0, sizeof st);
  st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  st.data.recv_status_on_client.trailing_metadata = &c->trail_md;
  st.data.recv_status_on_client.status = &c->status;
  st.data.recv_status_on_client.status_details = &c->details;
  grpc_call_start_batch(c->call, &st, 1, &c->tag_status, NULL);
}

static inline bool tc_send_slices(tc_call *c, grpc_slice *s, size_t n) {
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(s, n);
  for (size_t i = 0; i < n; i++)
    grpc_slice_unref(s[i]);
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = bb;
  bool ok = tc_run(c, &op, 1, (void *)2);
  grpc_byte_buffer_destroy(bb);
  return ok;
}

static inline bool tc_send(tc_call *c, const void *data, size_t len) {
  grpc_slice s = grpc_slice_from_copied_buffer(data, len);
  return tc_send_slices(c, &s, 1);
}

/* Sends a wire as slices referencing its buffers (like the server does). */
static inline bool tc_send_wire(tc_call *c, const oa_flight_wire *w) {
  grpc_slice *s = calloc((size_t)w->n_slices + 1, sizeof *s);
  for (int64_t i = 0; i < w->n_slices; i++)
    s[i] = grpc_slice_from_copied_buffer((const char *)w->slices[i].data,
                                         (size_t)w->slices[i].size);
  bool ok = tc_send_slices(c, s, (size_t)w->n_slices);
  free(s);
  return ok;
}

static inline bool tc_close_send(tc_call *c) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  return tc_run(c, &op, 1, (void *)3);
}

/* Receives one message into out (replaced); false at the end of the stream
 * or on failure. */
static inline bool tc_recv(tc_call *c, oa_bytes *out) {
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  if (!c->got_init) {
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n++].data.recv_initial_metadata.recv_initial_metadata = &c->init_md;
    c->got_init = true;
  }
  grpc_byte_buffer *bb = NULL;
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n++].data.recv_message.recv_message = &bb;
  out->size = 0;
  if (!tc_run(c, ops, n, (void *)4) || !bb) return false;
  grpc_byte_buffer_reader r;
  grpc_byte_buffer_reader_init(&r, bb);
  grpc_slice s;
  while (grpc_byte_buffer_reader_next(&r, &s)) {
    oa_bytes_append(out, GRPC_SLICE_START_PTR(s),
                    (int64_t)GRPC_SLICE_LENGTH(s));
    grpc_slice_unref(s);
  }
  grpc_byte_buffer_reader_destroy(&r);
  grpc_byte_buffer_destroy(bb);
  return true;
}

/* Waits for the status; c->message gets the details. */
static inline grpc_status_code tc_finish(tc_call *c) {
  /* core delivers the status only after the stream was read to its end */
  oa_bytes rest;
  oa_bytes_init(&rest);
  while (tc_recv(c, &rest)) {
  }
  oa_bytes_reset(&rest);
  grpc_event ev = grpc_completion_queue_pluck(c->cl->cq, &c->tag_status,
                                              tc_deadline(30000), NULL);
  if (ev.type != GRPC_OP_COMPLETE) {
    snprintf(c->message, sizeof c->message, "no status (event %d)",
             (int)ev.type);
    c->status = GRPC_STATUS_DEADLINE_EXCEEDED;
  } else {
    char *d = grpc_slice_to_c_string(c->details);
    snprintf(c->message, sizeof c->message, "%s", d);
    gpr_free(d);
  }
  grpc_slice_unref(c->details);
  grpc_metadata_array_destroy(&c->init_md);
  grpc_metadata_array_destroy(&c->trail_md);
  grpc_call_unref(c->call);
  return c->status;
}

/* Unary: request bytes -> response bytes. */
static inline grpc_status_code tc_unary(tc_client *cl, const char *method,
                                        const void *req, size_t len,
                                        oa_bytes *resp, char *msg, size_t cap) {
  tc_call c;
  tc_start(&c, cl, method);
  tc_send(&c, req, len);
  tc_close_send(&c);
  tc_recv(&c, resp);
  grpc_status_code st = tc_finish(&c);
  if (msg) snprintf(msg, cap, "%s", c.message);
  return st;
}

#endif
