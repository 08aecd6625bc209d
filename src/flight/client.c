/* The Arrow Flight client (see include/otlparrow/flight_client.h) on the
 * blocking gRPC client calls of src/grpc/client.c. */
#include "otlparrow/flight_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flight/flight_proto.h"
#include "grpc/oa_grpc.h"

#define SERVICE "/arrow.flight.protocol.FlightService/"
/* Slices smaller than this are copied together into one slice rather than
 * referenced one by one (a reference costs an allocation too). */
#define COPY_BELOW 1024

struct oa_flight_client {
  oa_grpc_channel *ch;
  char *auth; /* "Bearer <token>" or NULL */
  int64_t max_msg;
  int64_t deadline_ms;
  oa_ipc_read_options read;
  oa_flight_ack_fn on_ack;
  void *ack_ctx;
  /* last call */
  int status;
  char message[512];
  int64_t retry_delay_ms;
};

void oa_flight_client_options_init(oa_flight_client_options *o) {
  memset(o, 0, sizeof *o);
  o->max_message_size = 16 << 20;
  o->max_recv_message_size = -1;
  o->deadline_ms = 60000;
}

const char *oa_flight_status_name(int code) {
  if (code < 0) return "LOCAL_ERROR";
  return oa_grpc_status_name((grpc_status_code)code);
}

int oa_flight_client_last_status(const oa_flight_client *c) {
  return c->status;
}
const char *oa_flight_client_last_message(const oa_flight_client *c) {
  return c->message;
}
int64_t oa_flight_client_last_retry_delay_ms(const oa_flight_client *c) {
  return c->retry_delay_ms;
}

void oa_flight_client_set_ack_handler(oa_flight_client *c, oa_flight_ack_fn fn,
                                      void *ctx) {
  c->on_ack = fn;
  c->ack_ctx = ctx;
}

/* ------------------------------------------------------------ creation */

static int read_pem_opt(const char *pem, const char *file, char **out,
                        oa_error *err) {
  *out = NULL;
  if (pem) {
    *out = strdup(pem);
    return *out ? 0 : oa_error_set(err, ENOMEM, "flight client: out of memory");
  }
  if (file) return oa_grpc_read_pem(file, out, err);
  return 0;
}

int oa_flight_client_new(oa_flight_client **out, const char *uri,
                         const oa_flight_client_options *o, oa_error *err) {
  *out = NULL;
  oa_flight_client_options def;
  if (!o) {
    oa_flight_client_options_init(&def);
    o = &def;
  }
  if (!uri || !*uri) return oa_error_set(err, EINVAL, "flight client: no URI");
  bool tls = false;
  char target[1024];
  const char *rest = uri;
  if (strncmp(uri, "grpc+tls://", 11) == 0) {
    tls = true;
    rest = uri + 11;
  } else if (strncmp(uri, "grpc+tcp://", 11) == 0) {
    rest = uri + 11;
  } else if (strncmp(uri, "grpc://", 7) == 0) {
    rest = uri + 7;
  } else if (strncmp(uri, "grpc+unix://", 12) == 0) {
    if (snprintf(target, sizeof target, "unix:%s", uri + 12) >=
        (int)sizeof target)
      return oa_error_set(err, EINVAL, "flight client: URI too long");
    rest = NULL;
  } else if (strstr(uri, "://")) {
    return oa_error_set(err, EINVAL,
                        "flight client: unsupported URI scheme in '%s' (use "
                        "grpc://, grpc+tcp://, grpc+tls:// or grpc+unix://)",
                        uri);
  }
  if (rest) {
    size_t n = strlen(rest);
    while (n && rest[n - 1] == '/')
      n--; /* "grpc://host:port/" */
    if (n == 0 || !memchr(rest, ':', n))
      return oa_error_set(err, EINVAL, "flight client: '%s' has no HOST:PORT",
                          uri);
    if (n >= sizeof target)
      return oa_error_set(err, EINVAL, "flight client: URI too long");
    memcpy(target, rest, n);
    target[n] = 0;
  }
  if (o->max_message_size == 0 || o->max_message_size < -1)
    return oa_error_set(err, EINVAL,
                        "flight client: max_message_size %lld (> 0 or -1)",
                        (long long)o->max_message_size);

  oa_flight_client *c = calloc(1, sizeof *c);
  if (!c) return oa_error_set(err, ENOMEM, "flight client: out of memory");
  c->max_msg = o->max_message_size;
  c->deadline_ms = o->deadline_ms;
  c->retry_delay_ms = -1;
  if (o->read)
    c->read = *o->read;
  else
    oa_ipc_read_options_init(&c->read);
  int rc = 0;
  char *ca = NULL, *cert = NULL, *key = NULL;
  if (o->token && *o->token) {
    size_t n = strlen(o->token) + 8;
    c->auth = malloc(n);
    if (!c->auth)
      rc = oa_error_set(err, ENOMEM, "flight client: out of memory");
    else
      snprintf(c->auth, n, "Bearer %s", o->token);
  }
  if (rc == 0 && tls) {
    rc = read_pem_opt(o->tls_ca_pem, o->tls_ca_file, &ca, err);
    if (rc == 0)
      rc = read_pem_opt(o->tls_cert_pem, o->tls_cert_file, &cert, err);
    if (rc == 0) rc = read_pem_opt(o->tls_key_pem, o->tls_key_file, &key, err);
  }
  if (rc == 0) {
    oa_grpc_channel_options co;
    oa_grpc_channel_options_init(&co);
    co.tls = tls;
    co.ca_pem = ca;
    co.cert_pem = cert;
    co.key_pem = key;
    co.server_name = o->tls_server_name;
    co.max_recv_message_size =
        o->max_recv_message_size ? o->max_recv_message_size : -1;
    co.max_send_message_size = -1;
    co.keepalive_time_ms = o->keepalive_ms;
    rc = oa_grpc_channel_new(&c->ch, target, &co, err);
    if (rc) oa_error_prefix(err, rc, "flight client %s: ", uri);
  }
  free(ca);
  free(cert);
  free(key);
  if (rc) {
    oa_flight_client_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

int oa_flight_client_new_shared(oa_flight_client **out, oa_flight_client *c,
                                oa_error *err) {
  *out = NULL;
  oa_flight_client *d = calloc(1, sizeof *d);
  if (!d) return oa_error_set(err, ENOMEM, "flight client: out of memory");
  *d = *c;
  d->status = 0;
  d->message[0] = 0;
  d->retry_delay_ms = -1;
  if (c->auth) {
    d->auth = strdup(c->auth);
    if (!d->auth) {
      free(d);
      return oa_error_set(err, ENOMEM, "flight client: out of memory");
    }
  }
  oa_grpc_channel_retain(d->ch);
  *out = d;
  return 0;
}

void oa_flight_client_free(oa_flight_client *c) {
  if (!c) return;
  oa_grpc_channel_release(c->ch);
  free(c->auth);
  free(c);
}

/* ------------------------------------------------------------- status */

static void call_options(const oa_flight_client *c, oa_grpc_call_options *co) {
  co->deadline_ms = c->deadline_ms;
  co->authorization = c->auth;
}

/* RetryInfo.retry_delay from a google.rpc.Status, or -1. */
static int64_t retry_delay(const oa_bytes *details) {
  if (details->size == 0) return -1;
  oa_pb_reader r;
  oa_pb_field f;
  bool more;
  oa_pb_reader_init(&r, details->data, details->size);
  while (oa_pb_next(&r, &f, &more, "Status", NULL) == 0 && more) {
    if (f.number != 3 || f.wire != 2) continue;
    oa_pb_reader any;
    oa_pb_reader_init(&any, f.bytes.data, f.bytes.size);
    oa_flight_view type = {NULL, 0}, value = {NULL, 0};
    oa_pb_field g;
    bool m2;
    while (oa_pb_next(&any, &g, &m2, "Any", NULL) == 0 && m2) {
      if (g.number == 1 && g.wire == 2) type = g.bytes;
      if (g.number == 2 && g.wire == 2) value = g.bytes;
    }
    static const char want[] = "google.rpc.RetryInfo";
    size_t wl = sizeof want - 1;
    if ((size_t)type.size < wl ||
        memcmp(type.data + type.size - (int64_t)wl, want, wl) != 0)
      continue;
    oa_pb_reader ri;
    oa_pb_reader_init(&ri, value.data, value.size);
    while (oa_pb_next(&ri, &g, &m2, "RetryInfo", NULL) == 0 && m2) {
      if (g.number != 1 || g.wire != 2) continue;
      int64_t secs = 0, nanos = 0;
      oa_pb_reader du;
      oa_pb_field h;
      bool m3;
      oa_pb_reader_init(&du, g.bytes.data, g.bytes.size);
      while (oa_pb_next(&du, &h, &m3, "Duration", NULL) == 0 && m3) {
        if (h.number == 1 && h.wire == 0) secs = (int64_t)h.value;
        if (h.number == 2 && h.wire == 0) nanos = (int64_t)(int32_t)h.value;
      }
      return secs * 1000 + nanos / 1000000;
    }
  }
  return -1;
}

static void begin_call(oa_flight_client *c) {
  c->status = -1;
  c->message[0] = 0;
  c->retry_delay_ms = -1;
}

/* Records the call's status; a non-OK status becomes the returned error. */
static int take_status(oa_flight_client *c, const oa_grpc_result *r,
                       const char *what, oa_error *err) {
  c->status = (int)r->code;
  snprintf(c->message, sizeof c->message, "%s", r->message);
  c->retry_delay_ms = retry_delay(&r->details);
  if (r->code == GRPC_STATUS_OK) return 0;
  return oa_error_set(err, oa_grpc_status_errno(r->code), "%s: %s: %s", what,
                      oa_grpc_status_name(r->code), r->message);
}

/* ---------------------------------------------------------- wire I/O */

/* The slices of a wire as grpc slices: large ones referenced in place,
 * runs of small ones copied together. */
static int send_wire(oa_grpc_stream *s, const oa_flight_wire *w,
                     oa_error *err) {
  grpc_slice stack[64];
  grpc_slice *sl = stack;
  if (w->n_slices + 1 > 64) {
    sl = malloc((size_t)(w->n_slices + 1) * sizeof *sl);
    if (!sl) return oa_error_set(err, ENOMEM, "flight client: out of memory");
  }
  size_t k = 0;
  int64_t i = 0;
  while (i < w->n_slices) {
    const oa_buffer *b = &w->slices[i];
    if (b->size >= COPY_BELOW) {
      sl[k++] =
          b->region
              ? oa_grpc_slice_from_region(b->region, b->data, (size_t)b->size)
              : grpc_slice_from_static_buffer(b->data, (size_t)b->size);
      i++;
      continue;
    }
    int64_t j = i, total = 0;
    while (j < w->n_slices && w->slices[j].size < COPY_BELOW)
      total += w->slices[j++].size;
    grpc_slice cs = grpc_slice_malloc((size_t)total);
    uint8_t *p = GRPC_SLICE_START_PTR(cs);
    for (; i < j; i++) {
      memcpy(p, w->slices[i].data, (size_t)w->slices[i].size);
      p += w->slices[i].size;
    }
    sl[k++] = cs;
  }
  int rc = oa_grpc_stream_write(s, sl, k, err);
  if (sl != stack) free(sl);
  return rc;
}

static int send_bytes(oa_grpc_stream *s, const oa_bytes *b, oa_error *err) {
  grpc_slice sl = grpc_slice_from_copied_buffer(
      (const char *)(b->data ? b->data : (const uint8_t *)""), (size_t)b->size);
  return oa_grpc_stream_write(s, &sl, 1, err);
}

/* ---------------------------------------------------------------- DoPut */

typedef struct put_state {
  oa_flight_client *c;
  oa_grpc_stream *s;
  const char *path;
  oa_flight_descriptor desc;
  bool desc_sent;
  const oa_buffer *app; /* of the current batch */
  oa_flight_put_result res;
} put_state;

static void handle_ack(put_state *p, const oa_grpc_message *m) {
  p->res.acks++;
  if (!p->c->on_ack) return;
  oa_flight_view v = {NULL, 0};
  if (oa_flight_single_bytes_decode(m->data, m->size, &v, "PutResult", NULL))
    return;
  p->c->on_ack(p->c->ack_ctx, v.data, v.size);
}

/* Takes the acknowledgements that have arrived, without waiting. */
static int poll_acks(put_state *p, oa_error *err) {
  for (;;) {
    oa_grpc_message *m = NULL;
    bool ready = false, got = false;
    OA_RETURN_NOT_OK(oa_grpc_stream_try_read(p->s, &m, &ready, &got, err));
    if (!ready || !got) return 0;
    handle_ack(p, m);
  }
}

/* Sends one message as FlightData (the descriptor with the first, the
 * batch's app_metadata with record batches). */
static int put_emit(void *ctx, const oa_ipc_message *msg, oa_error *err) {
  put_state *p = ctx;
  bool rb = msg->type == OA_IPC_MSG_RECORD_BATCH;
  const oa_buffer *app = rb ? p->app : NULL;
  oa_flight_wire w;
  oa_flight_wire_init(&w);
  int rc = oa_flight_data_encode(p->desc_sent ? NULL : &p->desc, msg,
                                 app ? app->data : NULL, app ? app->size : 0,
                                 &w, err);
  if (rc == 0) rc = send_wire(p->s, &w, err);
  if (rc == 0) {
    p->desc_sent = true;
    p->res.messages++;
    p->res.bytes += w.size;
    if (rb) p->res.batches++;
    rc = poll_acks(p, err);
  }
  oa_flight_wire_reset(&w);
  return rc;
}

static int put_begin(oa_flight_client *c, const char *path, put_state *p,
                     oa_error *err) {
  begin_call(c);
  memset(p, 0, sizeof *p);
  if (!path || !*path)
    return oa_error_set(err, EINVAL, "DoPut: empty descriptor path");
  p->c = c;
  p->path = path;
  oa_flight_descriptor_path(&p->desc, path);
  oa_grpc_call_options co;
  call_options(c, &co);
  int rc = oa_grpc_stream_start(&p->s, c->ch, SERVICE "DoPut", &co, err);
  if (rc) return oa_error_prefix(err, rc, "DoPut '%s': ", path);
  return 0;
}

/* Ends the call after the messages were sent (rc 0) or sending failed with
 * rc (local->message says why): the remaining acknowledgements, then the
 * server's status. A local failure cancels the call. */
static int put_end(put_state *p, int rc, const oa_error *local,
                   oa_flight_put_result *res, oa_error *err) {
  oa_flight_client *c = p->c;
  const char *path = p->path;
  bool io_failed = rc == EPIPE; /* the server ended the call: its status */
  if (rc == 0 || io_failed) {
    oa_grpc_stream_close_send(p->s, NULL);
    for (;;) {
      oa_grpc_message *am = NULL;
      bool got = false;
      if (oa_grpc_stream_read(p->s, &am, &got, NULL) || !got) break;
      handle_ack(p, am);
    }
  }
  oa_grpc_result r;
  oa_grpc_result_init(&r);
  int out = 0;
  if (rc && !io_failed) {
    out = oa_error_set(err, rc, "DoPut '%s': %s", path, local->message);
  } else {
    oa_grpc_stream_finish(p->s, &r, NULL);
    char what[300];
    snprintf(what, sizeof what, "DoPut '%s'", path);
    out = take_status(c, &r, what, err);
    if (out == 0 && io_failed)
      out = oa_error_set(err, EIO, "DoPut '%s': the stream broke: %s", path,
                         local->message);
  }
  oa_grpc_result_reset(&r);
  oa_grpc_stream_free(p->s);
  if (res) *res = p->res;
  return out;
}

int oa_flight_client_do_put(oa_flight_client *c, const char *path,
                            oa_schema *schema, const oa_batch *batches,
                            int64_t n, const oa_ipc_write_options *wopt,
                            const oa_buffer *app_metadata,
                            oa_flight_put_result *res, oa_error *err) {
  if (res) memset(res, 0, sizeof *res);
  if (!schema) {
    begin_call(c);
    return oa_error_set(err, EINVAL, "DoPut: NULL schema");
  }
  if (n < 0 || (n > 0 && !batches)) {
    begin_call(c);
    return oa_error_set(err, EINVAL, "DoPut: %lld batches", (long long)n);
  }
  oa_ipc_encoder *enc = NULL;
  if (path && *path) {
    int rc = oa_ipc_encoder_new(&enc, schema, wopt, err);
    if (rc) {
      begin_call(c);
      return oa_error_prefix(err, rc, "DoPut '%s': ", path);
    }
  }
  put_state p;
  int rc = put_begin(c, path, &p, err);
  if (rc) {
    oa_ipc_encoder_free(enc);
    return rc;
  }
  oa_error local;
  local.message[0] = 0;
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  rc = oa_ipc_encoder_schema(enc, &m, &local);
  if (rc == 0) rc = put_emit(&p, &m, &local);
  oa_ipc_message_reset(&m);
  for (int64_t i = 0; rc == 0 && i < n; i++) {
    if (batches[i].schema && batches[i].n_columns != schema->n_fields) {
      rc = oa_error_set(&local, EINVAL,
                        "batch %lld has %lld columns, the schema %lld",
                        (long long)i, (long long)batches[i].n_columns,
                        (long long)schema->n_fields);
      break;
    }
    p.app = app_metadata ? &app_metadata[i] : NULL;
    rc = oa_ipc_encoder_batch_bounded(enc, &batches[i], c->max_msg, put_emit,
                                      &p, &local);
  }
  oa_ipc_encoder_free(enc);
  return put_end(&p, rc, &local, res, err);
}

int oa_flight_client_do_put_messages(oa_flight_client *c, const char *path,
                                     const oa_ipc_message *msgs, int64_t n,
                                     const oa_buffer *app_metadata,
                                     oa_flight_put_result *res, oa_error *err) {
  if (res) memset(res, 0, sizeof *res);
  if (n < 1 || !msgs || msgs[0].type != OA_IPC_MSG_SCHEMA) {
    begin_call(c);
    return oa_error_set(err, EINVAL,
                        "DoPut: the messages must start with a schema "
                        "(%lld messages)",
                        (long long)n);
  }
  put_state p;
  OA_RETURN_NOT_OK(put_begin(c, path, &p, err));
  oa_error local;
  local.message[0] = 0;
  p.app = app_metadata;
  int rc = 0;
  for (int64_t i = 0; rc == 0 && i < n; i++) {
    if (i > 0 && msgs[i].type == OA_IPC_MSG_SCHEMA)
      rc = oa_error_set(&local, EINVAL,
                        "message %lld is a second schema (start a new DoPut)",
                        (long long)i);
    else
      rc = put_emit(&p, &msgs[i], &local);
  }
  return put_end(&p, rc, &local, res, err);
}

/* ---------------------------------------------------------------- DoGet */

/* Runs a server-streaming call with one request message; the stream is
 * returned for reading. */
static int start_server_stream(oa_flight_client *c, const char *method,
                               const oa_bytes *req, oa_grpc_stream **out,
                               oa_error *err) {
  char path[128];
  snprintf(path, sizeof path, SERVICE "%s", method);
  oa_grpc_call_options co;
  call_options(c, &co);
  OA_RETURN_NOT_OK(oa_grpc_stream_start(out, c->ch, path, &co, err));
  oa_grpc_stream_set_align(*out, oa_flight_data_body_offset);
  /* a failed send shows in the status */
  if (send_bytes(*out, req, NULL) == 0) oa_grpc_stream_close_send(*out, NULL);
  return 0;
}

/* Ends a server-streaming call: status into the client, error if not OK
 * or if rc (a local failure, which cancelled the call) is set. */
static int end_server_stream(oa_flight_client *c, oa_grpc_stream *s, int rc,
                             const char *what, oa_error *local, oa_error *err) {
  int out;
  if (rc) {
    oa_grpc_stream_free(s); /* cancels */
    c->status = -1;
    snprintf(c->message, sizeof c->message, "%s", local->message);
    return oa_error_set(err, rc, "%s: %s", what, local->message);
  }
  oa_grpc_result r;
  oa_grpc_result_init(&r);
  oa_grpc_stream_finish(s, &r, NULL);
  out = take_status(c, &r, what, err);
  oa_grpc_result_reset(&r);
  oa_grpc_stream_free(s);
  return out;
}

int oa_flight_client_do_get(oa_flight_client *c, const void *ticket,
                            int64_t ticket_len, oa_flight_batch_fn fn,
                            void *ctx, oa_flight_get_result *res,
                            oa_error *err) {
  begin_call(c);
  oa_flight_get_result gr;
  memset(&gr, 0, sizeof gr);
  if (res) *res = gr;
  if (ticket_len < 0 || (ticket_len > 0 && !ticket))
    return oa_error_set(err, EINVAL, "DoGet: bad ticket");
  oa_bytes req;
  oa_bytes_init(&req);
  oa_error local;
  local.message[0] = 0;
  int rc = oa_flight_single_bytes_encode(ticket, ticket_len, &req, err);
  if (rc) return rc;
  oa_grpc_stream *s = NULL;
  rc = start_server_stream(c, "DoGet", &req, &s, err);
  oa_bytes_reset(&req);
  if (rc) return oa_error_prefix(err, rc, "DoGet: ");
  oa_ipc_decoder *dec = NULL;
  rc = oa_ipc_decoder_new(&dec, &c->read, &local);
  oa_batch batch;
  oa_batch_init(&batch);
  while (rc == 0) {
    oa_grpc_message *m = NULL;
    bool got = false;
    rc = oa_grpc_stream_read(s, &m, &got, &local);
    if (rc || !got) break;
    gr.messages++;
    gr.bytes += m->size;
    oa_region *region = oa_grpc_message_region(m);
    if (!region) {
      rc = oa_error_set(&local, ENOMEM, "out of memory");
      break;
    }
    oa_buffer in = {m->data, m->size, region};
    oa_flight_data fd;
    rc = oa_flight_data_decode(&in, &fd, &local);
    oa_region *aligned = NULL;
    if (rc == 0 && fd.body.size > 0 && ((uintptr_t)fd.body.data & 7) != 0) {
      /* unaligned body: one copy, whole, rather than buffer by buffer */
      aligned = oa_region_alloc(fd.body.size);
      if (!aligned) {
        rc = oa_error_set(&local, ENOMEM, "out of memory");
      } else {
        memcpy(aligned->data, fd.body.data, (size_t)fd.body.size);
        fd.body.data = aligned->data;
        fd.body.region = aligned;
      }
    }
    oa_ipc_msg_type type = OA_IPC_MSG_NONE;
    if (rc == 0 && fd.data_header.size > 0)
      rc = oa_ipc_decoder_decode(dec, fd.data_header.data, fd.data_header.size,
                                 &fd.body, &type, &batch, &local);
    if (aligned) oa_region_release(aligned);
    oa_region_release(region);
    if (rc) {
      oa_error_prefix(&local, rc, "FlightData %lld: ", (long long)gr.messages);
      break;
    }
    if (type == OA_IPC_MSG_RECORD_BATCH) {
      gr.batches++;
      gr.rows += batch.length;
      if (fn) rc = fn(ctx, &batch, &local);
      oa_batch_reset(&batch);
    }
  }
  oa_batch_reset(&batch);
  oa_ipc_decoder_free(dec);
  if (res) *res = gr;
  return end_server_stream(c, s, rc, "DoGet", &local, err);
}

typedef struct collect {
  oa_schema *schema;
  oa_batch *b;
  int64_t n, cap;
} collect;

static int collect_fn(void *ctx, oa_batch *batch, oa_error *err) {
  collect *k = ctx;
  if (k->n == k->cap) {
    int64_t cap = k->cap ? k->cap * 2 : 16;
    oa_batch *b = realloc(k->b, (size_t)cap * sizeof *b);
    if (!b) return oa_error_set(err, ENOMEM, "out of memory");
    k->b = b;
    k->cap = cap;
  }
  if (!k->schema && batch->schema) {
    k->schema = batch->schema;
    oa_schema_retain(k->schema);
  }
  oa_batch_init(&k->b[k->n]);
  oa_batch_move(&k->b[k->n++], batch);
  return 0;
}

void oa_flight_batches_free(oa_schema *schema, oa_batch *batches, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    oa_batch_reset(&batches[i]);
  free(batches);
  if (schema) oa_schema_release(schema);
}

int oa_flight_client_do_get_all(oa_flight_client *c, const void *ticket,
                                int64_t ticket_len, oa_schema **schema,
                                oa_batch **batches, int64_t *n, oa_error *err) {
  collect k;
  memset(&k, 0, sizeof k);
  *schema = NULL;
  *batches = NULL;
  *n = 0;
  int rc =
      oa_flight_client_do_get(c, ticket, ticket_len, collect_fn, &k, NULL, err);
  if (rc) {
    oa_flight_batches_free(k.schema, k.b, k.n);
    return rc;
  }
  *schema = k.schema;
  *batches = k.b;
  *n = k.n;
  return 0;
}

/* ---------------------------------------------- info, actions, listing */

void oa_flight_client_info_init(oa_flight_client_info *info) {
  memset(info, 0, sizeof *info);
  oa_bytes_init(&info->ticket);
}

void oa_flight_client_info_reset(oa_flight_client_info *info) {
  if (info->schema) oa_schema_release(info->schema);
  oa_bytes_reset(&info->ticket);
  oa_flight_client_info_init(info);
}

static void copy_view(char *dst, size_t cap, oa_flight_view v) {
  size_t n = (size_t)v.size < cap - 1 ? (size_t)v.size : cap - 1;
  if (n) memcpy(dst, v.data, n);
  dst[n] = 0;
}

static int info_from_bytes(const uint8_t *data, int64_t len,
                           oa_flight_client_info *out, oa_error *err) {
  oa_flight_client_info_reset(out);
  oa_flight_info *fi = calloc(1, sizeof *fi);
  if (!fi) return oa_error_set(err, ENOMEM, "out of memory");
  int rc = oa_flight_info_decode(data, len, fi, err);
  if (rc == 0 && fi->schema.size > 0)
    rc = oa_flight_schema_parse(fi->schema.data, fi->schema.size, &out->schema,
                                err);
  if (rc == 0) {
    out->total_records = fi->total_records;
    out->total_bytes = fi->total_bytes;
    out->n_endpoints = fi->n_endpoints;
    if (fi->has_descriptor) {
      size_t k = 0;
      for (int32_t i = 0; i < fi->descriptor.n_path; i++) {
        oa_flight_view v = fi->descriptor.path[i];
        if (k + (size_t)v.size + 2 >= sizeof out->path) break;
        if (i) out->path[k++] = '/';
        memcpy(out->path + k, v.data, (size_t)v.size);
        k += (size_t)v.size;
      }
      out->path[k] = 0;
    }
    if (fi->n_endpoints > 0) {
      const oa_flight_endpoint *e = &fi->endpoints[0];
      if (oa_bytes_append(&out->ticket, e->ticket.data, e->ticket.size))
        rc = oa_error_set(err, ENOMEM, "out of memory");
      if (e->n_locations > 0)
        copy_view(out->location, sizeof out->location, e->locations[0]);
    }
  }
  free(fi);
  return rc;
}

int oa_flight_client_get_flight_info(oa_flight_client *c, const char *path,
                                     oa_flight_client_info *info,
                                     oa_error *err) {
  begin_call(c);
  if (info) oa_flight_client_info_reset(info);
  if (!path || !*path)
    return oa_error_set(err, EINVAL, "GetFlightInfo: empty path");
  oa_flight_descriptor d;
  oa_flight_descriptor_path(&d, path);
  oa_bytes req, resp;
  oa_bytes_init(&req);
  oa_bytes_init(&resp);
  int rc = oa_flight_descriptor_encode(&d, &req, err);
  if (rc) return rc;
  grpc_slice sl = grpc_slice_from_copied_buffer(
      (const char *)(req.data ? req.data : (const uint8_t *)""),
      (size_t)req.size);
  oa_bytes_reset(&req);
  oa_grpc_call_options co;
  call_options(c, &co);
  oa_grpc_result r;
  oa_grpc_result_init(&r);
  rc = oa_grpc_unary(c->ch, SERVICE "GetFlightInfo", &sl, 1, &co, &resp, &r,
                     err);
  if (rc == 0) {
    char what[300];
    snprintf(what, sizeof what, "GetFlightInfo '%s'", path);
    rc = take_status(c, &r, what, err);
  }
  if (rc == 0 && info) {
    rc = info_from_bytes(resp.data, resp.size, info, err);
    if (rc) oa_error_prefix(err, rc, "GetFlightInfo '%s': ", path);
  }
  oa_grpc_result_reset(&r);
  oa_bytes_reset(&resp);
  return rc;
}

int oa_flight_client_list_flights(oa_flight_client *c, oa_flight_info_fn fn,
                                  void *ctx, oa_error *err) {
  begin_call(c);
  oa_bytes req;
  oa_bytes_init(&req); /* empty Criteria */
  oa_grpc_stream *s = NULL;
  OA_RETURN_NOT_OK(start_server_stream(c, "ListFlights", &req, &s, err));
  oa_error local;
  local.message[0] = 0;
  oa_flight_client_info info;
  oa_flight_client_info_init(&info);
  int rc = 0;
  for (;;) {
    oa_grpc_message *m = NULL;
    bool got = false;
    rc = oa_grpc_stream_read(s, &m, &got, &local);
    if (rc || !got) break;
    rc = info_from_bytes(m->data, m->size, &info, &local);
    if (rc == 0 && fn) rc = fn(ctx, &info, &local);
    if (rc) break;
  }
  oa_flight_client_info_reset(&info);
  return end_server_stream(c, s, rc, "ListFlights", &local, err);
}

int oa_flight_client_do_action(oa_flight_client *c, const char *type,
                               const void *body, int64_t body_len,
                               oa_flight_result_fn fn, void *ctx,
                               oa_error *err) {
  begin_call(c);
  if (!type || !*type) return oa_error_set(err, EINVAL, "DoAction: no type");
  if (body_len < 0 || (body_len > 0 && !body))
    return oa_error_set(err, EINVAL, "DoAction: bad body");
  oa_flight_action a = {{(const uint8_t *)type, (int64_t)strlen(type)},
                        {(const uint8_t *)body, body_len}};
  oa_bytes req;
  oa_bytes_init(&req);
  OA_RETURN_NOT_OK(oa_flight_action_encode(&a, &req, err));
  oa_grpc_stream *s = NULL;
  int rc = start_server_stream(c, "DoAction", &req, &s, err);
  oa_bytes_reset(&req);
  if (rc) return rc;
  oa_error local;
  local.message[0] = 0;
  for (;;) {
    oa_grpc_message *m = NULL;
    bool got = false;
    rc = oa_grpc_stream_read(s, &m, &got, &local);
    if (rc || !got) break;
    oa_flight_view v = {NULL, 0};
    rc = oa_flight_single_bytes_decode(m->data, m->size, &v, "Result", &local);
    if (rc == 0 && fn) rc = fn(ctx, v.data, v.size, &local);
    if (rc) break;
  }
  char what[128];
  snprintf(what, sizeof what, "DoAction '%.64s'", type);
  return end_server_stream(c, s, rc, what, &local, err);
}
