/* Blocking gRPC client calls over gRPC core (see the client section of
 * oa_grpc.h for the threading contract).
 *
 * Every streaming call owns a pluck completion queue and a fixed tag per
 * kind of operation, so a thread can wait for exactly the operation it
 * needs (a send) while another (a read) stays pending. */
#include <errno.h>
#include <grpc/compression.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/oa_grpc.h"

struct oa_grpc_channel {
  atomic_long refs;
  grpc_channel *ch;
};

void oa_grpc_channel_options_init(oa_grpc_channel_options *o) {
  memset(o, 0, sizeof *o);
}

static void arg_int(grpc_arg *a, const char *key, int v) {
  a->type = GRPC_ARG_INTEGER;
  a->key = (char *)key;
  a->value.integer = v;
}

/* gRPC core takes int limits; -1 means unlimited. */
static int clamp_limit(int64_t v) {
  if (v < 0) return -1;
  return v > INT32_MAX ? INT32_MAX : (int)v;
}

int oa_grpc_channel_new(oa_grpc_channel **out, const char *target,
                        const oa_grpc_channel_options *o, oa_error *err) {
  *out = NULL;
  oa_grpc_channel_options def;
  if (!o) {
    oa_grpc_channel_options_init(&def);
    o = &def;
  }
  if (!target || !*target)
    return oa_error_set(err, EINVAL, "grpc client: empty target");
  if ((o->cert_pem != NULL) != (o->key_pem != NULL))
    return oa_error_set(err, EINVAL,
                        "grpc client: a client certificate needs its key "
                        "(cert_pem and key_pem go together)");
  oa_grpc_channel *c = calloc(1, sizeof *c);
  if (!c) return oa_error_set(err, ENOMEM, "grpc client: out of memory");
  atomic_init(&c->refs, 1);
  grpc_init();

  grpc_arg args[10];
  size_t n = 0;
  /* one connection per channel: without this, channels to the same target
   * share a subchannel and "connections" would be one TCP connection */
  arg_int(&args[n++], GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (o->max_send_message_size)
    arg_int(&args[n++], GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
            clamp_limit(o->max_send_message_size));
  if (o->max_recv_message_size)
    arg_int(&args[n++], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
            clamp_limit(o->max_recv_message_size));
  if (o->keepalive_time_ms > 0) {
    arg_int(&args[n++], GRPC_ARG_KEEPALIVE_TIME_MS,
            clamp_limit(o->keepalive_time_ms));
    arg_int(&args[n++], GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    arg_int(&args[n++], GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    if (o->keepalive_timeout_ms > 0)
      arg_int(&args[n++], GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
              clamp_limit(o->keepalive_timeout_ms));
  }
  if (o->gzip)
    arg_int(&args[n++], GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM,
            GRPC_COMPRESS_GZIP);
  bool tls = o->tls || o->ca_pem || o->cert_pem;
  if (tls && o->server_name && *o->server_name) {
    args[n].type = GRPC_ARG_STRING;
    args[n].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
    args[n].value.string = (char *)o->server_name;
    n++;
  }
  grpc_channel_args ca = {n, args};
  grpc_channel_credentials *creds;
  if (tls) {
    grpc_ssl_pem_key_cert_pair pair = {o->key_pem, o->cert_pem};
    creds = grpc_ssl_credentials_create(o->ca_pem, o->cert_pem ? &pair : NULL,
                                        NULL, NULL);
  } else {
    creds = grpc_insecure_credentials_create();
  }
  if (!creds) {
    grpc_shutdown();
    free(c);
    return oa_error_set(err, EINVAL,
                        "grpc client: cannot create %s credentials for '%s'",
                        tls ? "TLS" : "insecure", target);
  }
  c->ch = grpc_channel_create(target, creds, &ca);
  grpc_channel_credentials_release(creds);
  if (!c->ch) {
    grpc_shutdown();
    free(c);
    return oa_error_set(err, EINVAL,
                        "grpc client: cannot create a channel "
                        "to '%s'",
                        target);
  }
  *out = c;
  return 0;
}

void oa_grpc_channel_retain(oa_grpc_channel *ch) {
  atomic_fetch_add(&ch->refs, 1);
}

void oa_grpc_channel_release(oa_grpc_channel *ch) {
  if (!ch || atomic_fetch_sub(&ch->refs, 1) != 1) return;
  grpc_channel_destroy(ch->ch);
  free(ch);
  grpc_shutdown();
}

grpc_channel *oa_grpc_channel_raw(oa_grpc_channel *ch) { return ch->ch; }

/* ------------------------------------------------------------- results */

void oa_grpc_result_init(oa_grpc_result *r) {
  memset(r, 0, sizeof *r);
  oa_bytes_init(&r->details);
}

void oa_grpc_result_reset(oa_grpc_result *r) {
  oa_bytes_reset(&r->details);
  oa_grpc_result_init(r);
}

static void fill_result(oa_grpc_result *r, grpc_status_code code,
                        grpc_slice details, const grpc_metadata_array *trail) {
  if (!r) return;
  r->code = code;
  size_t n = GRPC_SLICE_LENGTH(details);
  if (n >= sizeof r->message) n = sizeof r->message - 1;
  memcpy(r->message, GRPC_SLICE_START_PTR(details), n);
  r->message[n] = 0;
  r->details.size = 0;
  for (size_t i = 0; i < trail->count; i++) {
    const grpc_metadata *m = &trail->metadata[i];
    if (grpc_slice_str_cmp(m->key, "grpc-status-details-bin") == 0)
      oa_bytes_append(&r->details, GRPC_SLICE_START_PTR(m->value),
                      (int64_t)GRPC_SLICE_LENGTH(m->value));
  }
}

int oa_grpc_status_errno(grpc_status_code code) {
  switch (code) {
  case GRPC_STATUS_OK:
    return 0;
  case GRPC_STATUS_INVALID_ARGUMENT:
  case GRPC_STATUS_FAILED_PRECONDITION:
  case GRPC_STATUS_OUT_OF_RANGE:
    return EINVAL;
  case GRPC_STATUS_NOT_FOUND:
    return ENOENT;
  case GRPC_STATUS_ALREADY_EXISTS:
    return EEXIST;
  case GRPC_STATUS_UNAUTHENTICATED:
  case GRPC_STATUS_PERMISSION_DENIED:
    return EACCES;
  case GRPC_STATUS_RESOURCE_EXHAUSTED:
    return E2BIG;
  case GRPC_STATUS_UNAVAILABLE:
    return EAGAIN;
  case GRPC_STATUS_DEADLINE_EXCEEDED:
    return ETIMEDOUT;
  case GRPC_STATUS_UNIMPLEMENTED:
    return ENOTSUP;
  case GRPC_STATUS_CANCELLED:
    return ECANCELED;
  default:
    return EIO;
  }
}

const char *oa_grpc_status_name(grpc_status_code code) {
  static const char *const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  if ((int)code < 0 || (size_t)code >= sizeof names / sizeof names[0])
    return "UNKNOWN_STATUS";
  return names[code];
}

static gpr_timespec deadline_of(const oa_grpc_call_options *co) {
  if (!co || co->deadline_ms <= 0) return gpr_inf_future(GPR_CLOCK_REALTIME);
  return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                      gpr_time_from_millis(co->deadline_ms, GPR_TIMESPAN));
}

static grpc_call *new_call(oa_grpc_channel *ch, grpc_completion_queue *cq,
                           const char *path, const oa_grpc_call_options *co) {
  grpc_slice method = grpc_slice_from_copied_string(path);
  grpc_call *call =
      grpc_channel_create_call(ch->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                               method, NULL, deadline_of(co), NULL);
  grpc_slice_unref(method);
  return call;
}

static void unref_slices(grpc_slice *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    grpc_slice_unref(s[i]);
}

static void drain_destroy_cq(grpc_completion_queue *cq) {
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_pluck(cq, NULL,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
             .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
}

/* --------------------------------------------------------------- unary */

int oa_grpc_unary_start(oa_grpc_unary_op *op, oa_grpc_channel *ch,
                        grpc_completion_queue *cq, const char *path,
                        grpc_slice *slices, size_t n,
                        const oa_grpc_call_options *co, void *tag,
                        oa_error *err) {
  memset(op, 0, sizeof *op);
  op->call = new_call(ch, cq, path, co);
  if (!op->call) {
    unref_slices(slices, n);
    return oa_error_set(err, EIO, "grpc client: cannot create a call to %s",
                        path);
  }
  op->send = grpc_raw_byte_buffer_create(slices, n);
  unref_slices(slices, n);
  if (co && co->authorization) {
    op->md.key = grpc_slice_from_static_string("authorization");
    op->md.value = grpc_slice_from_copied_string(co->authorization);
    op->has_md = true;
  }
  grpc_metadata_array_init(&op->init_md);
  grpc_metadata_array_init(&op->trail_md);
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = op->has_md ? 1 : 0;
  ops[0].data.send_initial_metadata.metadata = op->has_md ? &op->md : NULL;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = op->send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &op->init_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &op->recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &op->trail_md;
  ops[5].data.recv_status_on_client.status = &op->code;
  ops[5].data.recv_status_on_client.status_details = &op->details;
  grpc_call_error e = grpc_call_start_batch(op->call, ops, 6, tag, NULL);
  if (e != GRPC_CALL_OK) {
    op->code = GRPC_STATUS_INTERNAL;
    op->details = grpc_empty_slice();
    oa_grpc_unary_complete(op, NULL, NULL);
    return oa_error_set(err, EIO, "grpc client: start_batch on %s: %d", path,
                        (int)e);
  }
  return 0;
}

static void append_bb(oa_bytes *out, grpc_byte_buffer *bb) {
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, bb)) return;
  grpc_slice s;
  while (grpc_byte_buffer_reader_next(&r, &s)) {
    oa_bytes_append(out, GRPC_SLICE_START_PTR(s),
                    (int64_t)GRPC_SLICE_LENGTH(s));
    grpc_slice_unref(s);
  }
  grpc_byte_buffer_reader_destroy(&r);
}

grpc_status_code oa_grpc_unary_complete(oa_grpc_unary_op *op, oa_bytes *resp,
                                        oa_grpc_result *res) {
  fill_result(res, op->code, op->details, &op->trail_md);
  if (op->recv) {
    if (resp) append_bb(resp, op->recv);
    grpc_byte_buffer_destroy(op->recv);
  }
  if (op->send) grpc_byte_buffer_destroy(op->send);
  grpc_slice_unref(op->details);
  if (op->has_md) grpc_slice_unref(op->md.value);
  grpc_metadata_array_destroy(&op->init_md);
  grpc_metadata_array_destroy(&op->trail_md);
  if (op->call) grpc_call_unref(op->call);
  grpc_status_code code = op->code;
  memset(op, 0, sizeof *op);
  return code;
}

int oa_grpc_unary(oa_grpc_channel *ch, const char *path, grpc_slice *slices,
                  size_t n, const oa_grpc_call_options *co, oa_bytes *resp,
                  oa_grpc_result *res, oa_error *err) {
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  oa_grpc_unary_op op;
  int tag = 0;
  int rc = oa_grpc_unary_start(&op, ch, cq, path, slices, n, co, &tag, err);
  if (rc == 0) {
    grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME),
                                NULL);
    oa_grpc_unary_complete(&op, resp, res);
  }
  drain_destroy_cq(cq);
  return rc;
}

/* ------------------------------------------------------------ messages */

void oa_grpc_client_message_reset(oa_grpc_message *m) {
  if (m->region) oa_region_release(m->region);
  if (m->zero_copy) grpc_slice_unref(m->slice);
  if (m->bb) grpc_byte_buffer_destroy(m->bb);
  memset(m, 0, sizeof *m);
}

/* One message from bb: its only slice in place, or one copy into a heap
 * region whose start is padded so that the byte at align_at (when >= 0)
 * lands on an 8-byte boundary (Flight bodies are then read in place). */
static int msg_from_bb(oa_grpc_message *m, grpc_byte_buffer *bb,
                       oa_grpc_align_fn align, oa_error *err) {
  memset(m, 0, sizeof *m);
  m->bb = bb;
  if (bb->type == GRPC_BB_RAW &&
      bb->data.raw.compression == GRPC_COMPRESS_NONE &&
      bb->data.raw.slice_buffer.count == 1) {
    m->slice = grpc_slice_ref(bb->data.raw.slice_buffer.slices[0]);
    m->zero_copy = true;
    m->data = GRPC_SLICE_START_PTR(m->slice);
    m->size = (int64_t)GRPC_SLICE_LENGTH(m->slice);
    return 0;
  }
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, bb))
    return oa_error_set(err, EIO, "grpc client: cannot decompress a message");
  int64_t total = (int64_t)grpc_byte_buffer_length(bb);
  if (bb->type != GRPC_BB_RAW ||
      bb->data.raw.compression != GRPC_COMPRESS_NONE) {
    /* compressed: the length is only known after inflating */
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    total = (int64_t)GRPC_SLICE_LENGTH(all);
    m->region = oa_region_alloc(total + 8);
    if (!m->region) {
      grpc_slice_unref(all);
      return oa_error_set(err, ENOMEM, "grpc client: out of memory");
    }
    int64_t pad = 0;
    if (align) {
      int64_t at = align(GRPC_SLICE_START_PTR(all), total);
      if (at >= 0) pad = (8 - (at & 7)) & 7;
    }
    memcpy(m->region->data + pad, GRPC_SLICE_START_PTR(all), (size_t)total);
    grpc_slice_unref(all);
    m->data = m->region->data + pad;
    m->size = total;
    return 0;
  }
  grpc_byte_buffer_reader_destroy(&r);
  const grpc_slice_buffer *sb = &bb->data.raw.slice_buffer;
  int64_t pad = 0;
  if (align && sb->count > 0) {
    int64_t at = align(GRPC_SLICE_START_PTR(sb->slices[0]),
                       (int64_t)GRPC_SLICE_LENGTH(sb->slices[0]));
    if (at >= 0) pad = (8 - (at & 7)) & 7;
  }
  m->region = oa_region_alloc(total + 8);
  if (!m->region)
    return oa_error_set(err, ENOMEM, "grpc client: out of memory");
  uint8_t *p = m->region->data + pad;
  for (size_t i = 0; i < sb->count; i++) {
    size_t len = GRPC_SLICE_LENGTH(sb->slices[i]);
    memcpy(p, GRPC_SLICE_START_PTR(sb->slices[i]), len);
    p += len;
  }
  m->data = m->region->data + pad;
  m->size = total;
  /* the copy owns the bytes now: give gRPC's slices back early */
  grpc_byte_buffer_destroy(bb);
  m->bb = NULL;
  return 0;
}

/* -------------------------------------------------------------- stream */

struct oa_grpc_stream {
  grpc_completion_queue *cq;
  grpc_call *call;
  grpc_metadata_array init_md, trail_md;
  grpc_status_code code;
  grpc_slice details;
  grpc_byte_buffer *recv_bb;
  oa_grpc_message cur; /* the last message handed out */
  oa_grpc_align_fn align;
  bool asked_init_md, read_pending, eos, closed, status_done, broken;
  /* tags: one per kind of operation */
  char t_init, t_send, t_close, t_recv, t_status;
};

static grpc_event pluck(oa_grpc_stream *s, void *tag, gpr_timespec until) {
  return grpc_completion_queue_pluck(s->cq, tag, until, NULL);
}

int oa_grpc_stream_start(oa_grpc_stream **out, oa_grpc_channel *ch,
                         const char *path, const oa_grpc_call_options *co,
                         oa_error *err) {
  *out = NULL;
  oa_grpc_stream *s = calloc(1, sizeof *s);
  if (!s) return oa_error_set(err, ENOMEM, "grpc client: out of memory");
  s->cq = grpc_completion_queue_create_for_pluck(NULL);
  s->call = new_call(ch, s->cq, path, co);
  if (!s->call) {
    drain_destroy_cq(s->cq);
    free(s);
    return oa_error_set(err, EIO, "grpc client: cannot create a call to %s",
                        path);
  }
  grpc_metadata_array_init(&s->init_md);
  grpc_metadata_array_init(&s->trail_md);
  s->details = grpc_empty_slice();
  grpc_metadata md;
  memset(&md, 0, sizeof md);
  bool has_md = co && co->authorization;
  if (has_md) {
    md.key = grpc_slice_from_static_string("authorization");
    md.value = grpc_slice_from_copied_string(co->authorization);
  }
  grpc_op ops[1];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = has_md ? 1 : 0;
  ops[0].data.send_initial_metadata.metadata = has_md ? &md : NULL;
  grpc_call_error e = grpc_call_start_batch(s->call, ops, 1, &s->t_init, NULL);
  if (e == GRPC_CALL_OK)
    pluck(s, &s->t_init, gpr_inf_future(GPR_CLOCK_REALTIME));
  if (has_md) grpc_slice_unref(md.value);
  /* the status is received whenever the server sends it */
  grpc_op st;
  memset(&st, 0, sizeof st);
  st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  st.data.recv_status_on_client.trailing_metadata = &s->trail_md;
  st.data.recv_status_on_client.status = &s->code;
  st.data.recv_status_on_client.status_details = &s->details;
  if (e == GRPC_CALL_OK)
    e = grpc_call_start_batch(s->call, &st, 1, &s->t_status, NULL);
  if (e != GRPC_CALL_OK) {
    grpc_call_cancel(s->call, NULL);
    s->status_done = true; /* nothing pending */
    oa_grpc_stream_free(s);
    return oa_error_set(err, EIO, "grpc client: start_batch on %s: %d", path,
                        (int)e);
  }
  *out = s;
  return 0;
}

void oa_grpc_stream_set_align(oa_grpc_stream *s, oa_grpc_align_fn fn) {
  s->align = fn;
}

int oa_grpc_stream_write(oa_grpc_stream *s, grpc_slice *slices, size_t n,
                         oa_error *err) {
  if (s->broken || s->closed) {
    unref_slices(slices, n);
    return oa_error_set(err, EPIPE, "grpc client: the call is %s",
                        s->closed ? "half-closed" : "over");
  }
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(slices, n);
  unref_slices(slices, n);
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = bb;
  grpc_call_error e = grpc_call_start_batch(s->call, &op, 1, &s->t_send, NULL);
  bool ok = false;
  if (e == GRPC_CALL_OK) {
    grpc_event ev = pluck(s, &s->t_send, gpr_inf_future(GPR_CLOCK_REALTIME));
    ok = ev.type == GRPC_OP_COMPLETE && ev.success;
  }
  grpc_byte_buffer_destroy(bb);
  if (!ok) {
    s->broken = true;
    return oa_error_set(err, EPIPE, "grpc client: the call is over");
  }
  return 0;
}

int oa_grpc_stream_close_send(oa_grpc_stream *s, oa_error *err) {
  if (s->closed) return 0;
  s->closed = true;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  if (grpc_call_start_batch(s->call, &op, 1, &s->t_close, NULL) != GRPC_CALL_OK)
    return oa_error_set(err, EPIPE, "grpc client: cannot half-close");
  grpc_event ev = pluck(s, &s->t_close, gpr_inf_future(GPR_CLOCK_REALTIME));
  if (ev.type != GRPC_OP_COMPLETE || !ev.success) s->broken = true;
  return 0;
}

static int ask_read(oa_grpc_stream *s, oa_error *err) {
  if (s->read_pending) return 0;
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  if (!s->asked_init_md) {
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    s->asked_init_md = true;
  }
  s->recv_bb = NULL;
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n++].data.recv_message.recv_message = &s->recv_bb;
  if (grpc_call_start_batch(s->call, ops, n, &s->t_recv, NULL) != GRPC_CALL_OK)
    return oa_error_set(err, EIO, "grpc client: cannot start a read");
  s->read_pending = true;
  return 0;
}

static int read_until(oa_grpc_stream *s, oa_grpc_message **msg,
                      gpr_timespec until, bool *ready, bool *got,
                      oa_error *err) {
  *got = false;
  *ready = true;
  oa_grpc_client_message_reset(&s->cur);
  if (msg) *msg = NULL;
  if (s->eos) return 0;
  OA_RETURN_NOT_OK(ask_read(s, err));
  grpc_event ev = pluck(s, &s->t_recv, until);
  if (ev.type == GRPC_QUEUE_TIMEOUT) {
    *ready = false;
    return 0;
  }
  s->read_pending = false;
  if (!s->recv_bb) {
    s->eos = true;
    return 0;
  }
  grpc_byte_buffer *bb = s->recv_bb;
  s->recv_bb = NULL;
  int rc = msg_from_bb(&s->cur, bb, s->align, err);
  if (rc) {
    oa_grpc_client_message_reset(&s->cur);
    return rc;
  }
  if (msg) *msg = &s->cur;
  *got = true;
  return 0;
}

int oa_grpc_stream_read(oa_grpc_stream *s, oa_grpc_message **msg, bool *got,
                        oa_error *err) {
  bool ready;
  return read_until(s, msg, gpr_inf_future(GPR_CLOCK_REALTIME), &ready, got,
                    err);
}

int oa_grpc_stream_try_read(oa_grpc_stream *s, oa_grpc_message **msg,
                            bool *ready, bool *got, oa_error *err) {
  return read_until(s, msg, gpr_inf_past(GPR_CLOCK_REALTIME), ready, got, err);
}

int oa_grpc_stream_finish(oa_grpc_stream *s, oa_grpc_result *res,
                          oa_error *err) {
  if (!s->status_done) {
    if (!s->closed && !s->broken) oa_grpc_stream_close_send(s, NULL);
    bool got = true;
    while (got) {
      int rc = oa_grpc_stream_read(s, NULL, &got, err);
      if (rc) {
        grpc_call_cancel(s->call, NULL);
        got = false;
      }
    }
    oa_grpc_client_message_reset(&s->cur);
    pluck(s, &s->t_status, gpr_inf_future(GPR_CLOCK_REALTIME));
    s->status_done = true;
  }
  fill_result(res, s->code, s->details, &s->trail_md);
  return 0;
}

void oa_grpc_stream_free(oa_grpc_stream *s) {
  if (!s) return;
  oa_grpc_client_message_reset(&s->cur);
  if (!s->status_done) {
    grpc_call_cancel(s->call, NULL);
    pluck(s, &s->t_status, gpr_inf_future(GPR_CLOCK_REALTIME));
  }
  if (s->read_pending) {
    pluck(s, &s->t_recv, gpr_inf_future(GPR_CLOCK_REALTIME));
    if (s->recv_bb) grpc_byte_buffer_destroy(s->recv_bb);
  }
  grpc_slice_unref(s->details);
  grpc_metadata_array_destroy(&s->init_md);
  grpc_metadata_array_destroy(&s->trail_md);
  grpc_call_unref(s->call);
  drain_destroy_cq(s->cq);
  free(s);
}
