/* A small blocking gRPC core client for the tests (unary and streaming
 * calls on a pluck queue). Header-only: included by the test programs. */
#ifndef OA_TEST_GRPC_CLIENT_H
#define OA_TEST_GRPC_CLIENT_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tc_result {
  grpc_status_code code;
  char message[1024];
  uint8_t *resp; /* malloc'ed response message (unary), NULL if none */
  size_t resp_len;
  uint8_t *details; /* grpc-status-details-bin, malloc'ed */
  size_t details_len;
} tc_result;

static inline void tc_result_free(tc_result *r) {
  free(r->resp);
  free(r->details);
  memset(r, 0, sizeof *r);
}

static inline gpr_timespec tc_deadline(int ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                      gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* compression: NULL or "gzip". */
static inline grpc_channel *tc_channel(int port, const char *compression) {
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  grpc_arg args[2];
  size_t n = 0;
  args[n].type = GRPC_ARG_INTEGER;
  args[n].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[n].value.integer = -1;
  n++;
  if (compression && strcmp(compression, "gzip") == 0) {
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM;
    args[n].value.integer = GRPC_COMPRESS_GZIP;
    n++;
  }
  grpc_channel_args ca = {n, args};
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  grpc_channel *ch = grpc_channel_create(target, creds, &ca);
  grpc_channel_credentials_release(creds);
  return ch;
}

static inline uint8_t *tc_flatten(grpc_byte_buffer *bb, size_t *len) {
  grpc_byte_buffer_reader r;
  grpc_byte_buffer_reader_init(&r, bb);
  grpc_slice s = grpc_byte_buffer_reader_readall(&r);
  grpc_byte_buffer_reader_destroy(&r);
  *len = GRPC_SLICE_LENGTH(s);
  uint8_t *out = malloc(*len ? *len : 1);
  memcpy(out, GRPC_SLICE_START_PTR(s), *len);
  grpc_slice_unref(s);
  return out;
}

static inline void tc_pluck(grpc_completion_queue *cq, void *tag) {
  grpc_event ev = grpc_completion_queue_pluck(
      cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  if (ev.type != GRPC_OP_COMPLETE) {
    fprintf(stderr, "tc_pluck: unexpected event %d\n", (int)ev.type);
    abort();
  }
}

static inline void tc_copy_status(tc_result *r, grpc_slice details,
                                  grpc_metadata_array *trailing) {
  size_t n = GRPC_SLICE_LENGTH(details);
  if (n >= sizeof r->message) n = sizeof r->message - 1;
  memcpy(r->message, GRPC_SLICE_START_PTR(details), n);
  r->message[n] = 0;
  for (size_t i = 0; i < trailing->count; i++) {
    grpc_metadata *m = &trailing->metadata[i];
    if (grpc_slice_str_cmp(m->key, "grpc-status-details-bin") == 0) {
      r->details_len = GRPC_SLICE_LENGTH(m->value);
      r->details = malloc(r->details_len ? r->details_len : 1);
      memcpy(r->details, GRPC_SLICE_START_PTR(m->value), r->details_len);
    }
  }
}

/* One unary call. auth: value of "authorization" metadata or NULL. */
static inline void tc_unary(grpc_channel *ch, const char *path, const void *req,
                            size_t len, int deadline_ms, const char *auth,
                            tc_result *r) {
  memset(r, 0, sizeof *r);
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_slice method = grpc_slice_from_copied_string(path);
  grpc_call *call =
      grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
                               NULL, tc_deadline(deadline_ms), NULL);
  grpc_slice_unref(method);
  grpc_slice payload = grpc_slice_from_copied_buffer(req, len);
  grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&payload, 1);
  grpc_slice_unref(payload);
  grpc_metadata md[1];
  memset(md, 0, sizeof md);
  size_t nmd = 0;
  if (auth) {
    md[0].key = grpc_slice_from_static_string("authorization");
    md[0].value = grpc_slice_from_copied_string(auth);
    nmd = 1;
  }
  grpc_metadata_array init_md, trailing;
  grpc_metadata_array_init(&init_md);
  grpc_metadata_array_init(&trailing);
  grpc_byte_buffer *recv = NULL;
  grpc_slice details;
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = nmd;
  ops[0].data.send_initial_metadata.metadata = nmd ? md : NULL;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
  ops[5].data.recv_status_on_client.status = &r->code;
  ops[5].data.recv_status_on_client.status_details = &details;
  int tag = 1;
  if (grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK) abort();
  tc_pluck(cq, &tag);
  tc_copy_status(r, details, &trailing);
  grpc_slice_unref(details);
  if (recv) {
    r->resp = tc_flatten(recv, &r->resp_len);
    grpc_byte_buffer_destroy(recv);
  }
  grpc_byte_buffer_destroy(send);
  if (nmd) grpc_slice_unref(md[0].value);
  grpc_metadata_array_destroy(&init_md);
  grpc_metadata_array_destroy(&trailing);
  grpc_call_unref(call);
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_pluck(cq, NULL,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
}

/* ---- a streaming call driven step by step */
typedef struct tc_stream {
  grpc_completion_queue *cq;
  grpc_call *call;
  grpc_metadata_array init_md;
  int md_asked;
} tc_stream;

static inline void tc_stream_start(tc_stream *s, grpc_channel *ch,
                                   const char *path, int deadline_ms) {
  s->cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_slice method = grpc_slice_from_copied_string(path);
  s->call =
      grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, method,
                               NULL, tc_deadline(deadline_ms), NULL);
  grpc_slice_unref(method);
  grpc_metadata_array_init(&s->init_md);
  s->md_asked = 0;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_INITIAL_METADATA;
  int tag = 1;
  if (grpc_call_start_batch(s->call, &op, 1, &tag, NULL) != GRPC_CALL_OK)
    abort();
  tc_pluck(s->cq, &tag);
}

/* Returns the batch success flag. */
static inline int tc_stream_send(tc_stream *s, const void *data, size_t len) {
  grpc_slice payload = grpc_slice_from_copied_buffer(data, len);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&payload, 1);
  grpc_slice_unref(payload);
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = bb;
  int tag = 2;
  if (grpc_call_start_batch(s->call, &op, 1, &tag, NULL) != GRPC_CALL_OK)
    abort();
  grpc_event ev = grpc_completion_queue_pluck(
      s->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_byte_buffer_destroy(bb);
  return ev.success;
}

static inline void tc_stream_close_send(tc_stream *s) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  int tag = 3;
  if (grpc_call_start_batch(s->call, &op, 1, &tag, NULL) != GRPC_CALL_OK)
    abort();
  tc_pluck(s->cq, &tag);
}

/* Next message (malloc'ed), NULL at the end of the stream. */
static inline uint8_t *tc_stream_recv(tc_stream *s, size_t *len) {
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  grpc_byte_buffer *bb = NULL;
  if (!s->md_asked) {
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    n++;
    s->md_asked = 1;
  }
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n].data.recv_message.recv_message = &bb;
  n++;
  int tag = 4;
  if (grpc_call_start_batch(s->call, ops, n, &tag, NULL) != GRPC_CALL_OK)
    abort();
  tc_pluck(s->cq, &tag);
  *len = 0;
  if (!bb) return NULL;
  uint8_t *out = tc_flatten(bb, len);
  grpc_byte_buffer_destroy(bb);
  return out;
}

static inline void tc_stream_finish(tc_stream *s, tc_result *r) {
  memset(r, 0, sizeof *r);
  grpc_metadata_array trailing;
  grpc_metadata_array_init(&trailing);
  grpc_slice details;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  op.data.recv_status_on_client.trailing_metadata = &trailing;
  op.data.recv_status_on_client.status = &r->code;
  op.data.recv_status_on_client.status_details = &details;
  int tag = 5;
  if (grpc_call_start_batch(s->call, &op, 1, &tag, NULL) != GRPC_CALL_OK)
    abort();
  tc_pluck(s->cq, &tag);
  tc_copy_status(r, details, &trailing);
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&trailing);
  grpc_metadata_array_destroy(&s->init_md);
  grpc_call_unref(s->call);
  grpc_completion_queue_shutdown(s->cq);
  while (grpc_completion_queue_pluck(s->cq, NULL,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(s->cq);
}

#endif
