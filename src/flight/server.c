/* The Arrow Flight service on the gRPC event-loop layer (see flight.h).
 *
 * Every streaming call keeps an outbox of encoded messages and sends one at
 * a time: the next write is started from the previous write's completion
 * (the layer allows one outstanding write per call). DoGet produces the
 * next batch's messages only when the outbox is empty, so a large dataset
 * is never encoded all at once. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flight/flight.h"
#include "flight/flight_proto.h"
#include "otlparrow/otlp.h"

#define SERVICE "/arrow.flight.protocol.FlightService/"
/* Slices smaller than this are copied together into one slice rather than
 * referenced one by one (a reference costs an allocation too). */
#define COPY_BELOW 1024
#define RETRY_DELAY_MS 1000

struct oa_flight_service {
  oa_datasets *d;
  char *token;
  size_t token_len;
  char *location;
  char *recv_hint; /* named when a DoPut message is too large */
  int64_t max_recv;
  int64_t max_msg;
  oa_ipc_read_options put_read; /* limits of the DoPut decoder */
  oa_schema *span_schema;
  struct method_ctx *ctxs;     /* one per streaming/unary method */
  oa_flight_query_fn query_fn; /* SQL tickets and Flight SQL; may be NULL */
  void *query_ctx;
};

void oa_flight_options_init(oa_flight_options *o) {
  memset(o, 0, sizeof *o);
  o->max_recv_message_size = 256 << 20;
  o->max_message_size = 2 << 20;
  o->max_decompressed_size = 256 << 20;
}

/* ------------------------------------------------------------- helpers */

static grpc_status_code code_of(int rc) {
  switch (rc) {
  case EINVAL:
    return GRPC_STATUS_INVALID_ARGUMENT;
  case ENOENT:
    return GRPC_STATUS_NOT_FOUND;
  case EAGAIN:
    return GRPC_STATUS_UNAVAILABLE;
  case E2BIG:
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
  case ENOTSUP:
    return GRPC_STATUS_UNIMPLEMENTED;
  default:
    return GRPC_STATUS_INTERNAL;
  }
}

/* Finishes with the status for rc; a full dataset (EAGAIN) is retryable and
 * says when to retry (google.rpc.RetryInfo). */
static void finish_rc(oa_grpc_call *call, int rc, const char *what,
                      const oa_error *e) {
  char msg[OA_ERROR_SIZE + 128];
  snprintf(msg, sizeof msg, "%s: %s", what, e->message);
  grpc_status_code code = code_of(rc);
  oa_grpc_status st = {code, msg, NULL, 0};
  oa_bytes details;
  oa_bytes_init(&details);
  if (code == GRPC_STATUS_UNAVAILABLE &&
      oa_grpc_status_details_retry(&details, code, msg, RETRY_DELAY_MS, NULL) ==
          0) {
    st.details = details.data;
    st.details_len = (size_t)details.size;
  }
  oa_grpc_call_finish(call, &st, NULL);
  oa_bytes_reset(&details);
}

/* Constant-time comparison (the length of the token is not secret). */
static bool same_secret(const uint8_t *a, size_t an, const uint8_t *b,
                        size_t bn) {
  size_t n = an > bn ? an : bn;
  unsigned char diff = (unsigned char)(an != bn);
  for (size_t i = 0; i < n; i++) {
    unsigned char x = i < an ? a[i] : 0, y = i < bn ? b[i] : 0;
    diff |= (unsigned char)(x ^ y);
  }
  return diff == 0;
}

static bool header_authorized(const oa_flight_service *svc,
                              const oa_grpc_call *call) {
  size_t len = 0;
  const char *v = oa_grpc_call_metadata(call, "authorization", &len);
  if (!v || len < 7 || strncasecmp(v, "Bearer ", 7) != 0) return false;
  return same_secret((const uint8_t *)v + 7, len - 7,
                     (const uint8_t *)svc->token, svc->token_len);
}

/* True if the call may go on; otherwise it was finished UNAUTHENTICATED. */
static bool check_auth(const oa_flight_service *svc, oa_grpc_call *call) {
  if (!svc->token || header_authorized(svc, call)) return true;
  oa_grpc_call_finish_code(call, GRPC_STATUS_UNAUTHENTICATED,
                           "%s: missing or invalid \"authorization: Bearer "
                           "<token>\" header",
                           oa_grpc_call_method(call));
  return false;
}

/* The dataset name of a PATH descriptor (elements joined with '/'). */
static int descriptor_name(const oa_flight_descriptor *d, char *out,
                           oa_error *err) {
  if (d->type != OA_FLIGHT_DESCRIPTOR_PATH)
    return oa_error_set(err, EINVAL,
                        "descriptor type %d: only PATH descriptors name "
                        "datasets",
                        (int)d->type);
  if (d->n_path == 0)
    return oa_error_set(err, EINVAL, "PATH descriptor without a path");
  size_t n = 0;
  for (int32_t i = 0; i < d->n_path; i++) {
    size_t len = (size_t)d->path[i].size;
    if (n + len + (i ? 1 : 0) > 255)
      return oa_error_set(err, EINVAL, "dataset name longer than 255 bytes");
    if (len && memchr(d->path[i].data, 0, len))
      return oa_error_set(err, EINVAL, "path element %d contains a NUL byte",
                          (int)i);
    if (i) out[n++] = '/';
    memcpy(out + n, d->path[i].data, len);
    n += len;
  }
  out[n] = 0;
  if (n == 0) return oa_error_set(err, EINVAL, "empty dataset name");
  return 0;
}

static int ticket_name(oa_flight_view t, char *out, oa_error *err) {
  if (t.size == 0) return oa_error_set(err, EINVAL, "empty ticket");
  if (t.size > 255)
    return oa_error_set(err, EINVAL, "ticket longer than 255 bytes");
  if (memchr(t.data, 0, (size_t)t.size))
    return oa_error_set(err, EINVAL, "ticket contains a NUL byte");
  memcpy(out, t.data, (size_t)t.size);
  out[t.size] = 0;
  return 0;
}

/* ------------------------------------------------------ SQL (Flight SQL) */

#define FLIGHT_SQL_TYPE "type.googleapis.com/arrow.flight.protocol.sql."

/* A google.protobuf.Any { string type_url = 1; bytes value = 2; } whose
 * type is Flight SQL's `name`: its value. */
static bool any_of_type(oa_flight_view any, const char *name,
                        oa_flight_view *value) {
  oa_pb_reader r;
  oa_pb_reader_init(&r, any.data, any.size);
  oa_pb_field f;
  bool more = true, typed = false;
  size_t pre = strlen(FLIGHT_SQL_TYPE), nlen = strlen(name);
  value->data = NULL;
  value->size = 0;
  int rc;
  while ((rc = oa_pb_next(&r, &f, &more, "Any", NULL)) == 0 && more) {
    if (f.number == 1 && f.wire == 2)
      typed = (size_t)f.bytes.size == pre + nlen &&
              memcmp(f.bytes.data, FLIGHT_SQL_TYPE, pre) == 0 &&
              memcmp(f.bytes.data + pre, name, nlen) == 0;
    else if (f.number == 2 && f.wire == 2)
      *value = f.bytes;
  }
  return rc == 0 && typed;
}

/* The first string/bytes field 1 of a message (CommandStatementQuery.query,
 * TicketStatementQuery.statement_handle). */
static bool field1_bytes(oa_flight_view msg, oa_flight_view *out) {
  oa_pb_reader r;
  oa_pb_reader_init(&r, msg.data, msg.size);
  oa_pb_field f;
  bool more = true, found = false;
  int rc;
  while ((rc = oa_pb_next(&r, &f, &more, "Flight SQL message", NULL)) == 0 &&
         more)
    if (f.number == 1 && f.wire == 2 && !found) {
      *out = f.bytes;
      found = true;
    }
  return rc == 0 && found;
}

/* True if the ticket starts with the keyword SELECT or WITH. */
static bool is_statement(oa_flight_view t) {
  int64_t i = 0;
  while (i < t.size &&
         (t.data[i] == ' ' || t.data[i] == '\t' || t.data[i] == '\n' ||
          t.data[i] == '\r' || t.data[i] == '('))
    i++;
  static const char *const kw[] = {"select", "with"};
  for (size_t k = 0; k < 2; k++) {
    int64_t n = (int64_t)strlen(kw[k]);
    if (t.size - i < n ||
        strncasecmp((const char *)t.data + i, kw[k], (size_t)n) != 0)
      continue;
    if (i + n == t.size) return true;
    uint8_t c = t.data[i + n];
    bool ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
    if (!ident) return true;
  }
  return false;
}

/* The SQL a ticket carries: *sql malloc'ed (NUL-terminated), or NULL when
 * the ticket names a dataset. */
static int ticket_sql(oa_flight_view t, char **sql, oa_error *err) {
  *sql = NULL;
  oa_flight_view v = t, stmt;
  if (t.size > 0 && t.data[0] == 0x0a &&
      any_of_type(t, "TicketStatementQuery", &v)) {
    if (!field1_bytes(v, &stmt))
      return oa_error_set(err, EINVAL,
                          "TicketStatementQuery without a statement_handle");
  } else if (is_statement(t)) {
    stmt = t;
  } else {
    return 0;
  }
  if (stmt.size > 0 && memchr(stmt.data, 0, (size_t)stmt.size))
    return oa_error_set(err, EINVAL, "SQL statement contains a NUL byte");
  *sql = malloc((size_t)stmt.size + 1);
  if (!*sql) return oa_error_set(err, ENOMEM, "out of memory");
  if (stmt.size) memcpy(*sql, stmt.data, (size_t)stmt.size);
  (*sql)[stmt.size] = 0;
  return 0;
}

static int run_sql(const oa_flight_service *svc, const char *sql,
                   oa_schema **schema, oa_batch **batches, int64_t *n,
                   oa_error *err) {
  *schema = NULL;
  *batches = NULL;
  *n = 0;
  if (!svc->query_fn)
    return oa_error_set(err, ENOTSUP, "this server does not run SQL");
  return svc->query_fn(svc->query_ctx, sql, schema, batches, n, err);
}

/* Any { type_url: ...TicketStatementQuery, value: { statement_handle: sql } }
 */
static int statement_ticket(const char *sql, oa_bytes *out, oa_error *err) {
  oa_bytes inner;
  oa_bytes_init(&inner);
  static const char kType[] = FLIGHT_SQL_TYPE "TicketStatementQuery";
  int rc = oa_pb_put_bytes_field(&inner, 1, sql, (int64_t)strlen(sql));
  if (rc == 0)
    rc = oa_pb_put_bytes_field(out, 1, kType, (int64_t)sizeof kType - 1);
  if (rc == 0) rc = oa_pb_put_bytes_field(out, 2, inner.data, inner.size);
  oa_bytes_reset(&inner);
  if (rc) return oa_error_set(err, ENOMEM, "out of memory");
  return 0;
}

/* GetFlightInfo / GetSchema of a Flight SQL command descriptor. */
static int sql_info(const oa_flight_service *svc, const oa_flight_descriptor *d,
                    bool schema_only, oa_bytes *out, oa_error *err) {
  oa_flight_view v, q;
  if (!any_of_type(d->cmd, "CommandStatementQuery", &v))
    return oa_error_set(err, ENOTSUP,
                        "CMD descriptor: only Flight SQL "
                        "CommandStatementQuery is supported");
  if (!field1_bytes(v, &q))
    return oa_error_set(err, EINVAL, "CommandStatementQuery without a query");
  char *sql = malloc((size_t)q.size + 1);
  if (!sql) return oa_error_set(err, ENOMEM, "out of memory");
  if (q.size) memcpy(sql, q.data, (size_t)q.size);
  sql[q.size] = 0;
  if (memchr(sql, 0, (size_t)q.size)) {
    free(sql);
    return oa_error_set(err, EINVAL, "SQL statement contains a NUL byte");
  }
  oa_schema *schema = NULL;
  oa_batch *batches = NULL;
  int64_t n = 0, rows = 0;
  oa_bytes sb, ticket;
  oa_bytes_init(&sb);
  oa_bytes_init(&ticket);
  int rc = run_sql(svc, sql, &schema, &batches, &n, err);
  if (rc == 0) rc = oa_flight_schema_bytes(schema, &sb, err);
  for (int64_t i = 0; i < n; i++)
    rows += batches[i].length;
  if (rc == 0 && schema_only) {
    rc = oa_flight_single_bytes_encode(sb.data, sb.size, out, err);
  } else if (rc == 0) {
    rc = statement_ticket(sql, &ticket, err);
    oa_flight_info *info = rc == 0 ? calloc(1, sizeof *info) : NULL;
    if (rc == 0 && !info) rc = oa_error_set(err, ENOMEM, "out of memory");
    if (rc == 0) {
      info->schema.data = sb.data;
      info->schema.size = sb.size;
      info->has_descriptor = true;
      info->descriptor = *d;
      info->n_endpoints = 1;
      oa_flight_endpoint *e = &info->endpoints[0];
      e->ticket.data = ticket.data;
      e->ticket.size = ticket.size;
      if (svc->location) {
        e->n_locations = 1;
        e->locations[0].data = (const uint8_t *)svc->location;
        e->locations[0].size = (int64_t)strlen(svc->location);
      }
      info->total_records = rows;
      info->total_bytes = -1;
      info->ordered = true;
      rc = oa_flight_info_encode(info, out, err);
      free(info);
    }
  }
  if (schema || batches) oa_datasets_snapshot_free(schema, batches, n);
  oa_bytes_reset(&sb);
  oa_bytes_reset(&ticket);
  free(sql);
  return rc;
}

/* Turns the slices of a wire into grpc slices: large ones referenced in
 * place, runs of small ones copied together. *out is malloc'ed. */
static int wire_to_grpc(const oa_flight_wire *w, grpc_slice **out, size_t *n) {
  grpc_slice *s = malloc((size_t)(w->n_slices + 1) * sizeof *s);
  if (!s) return ENOMEM;
  size_t k = 0;
  int64_t i = 0;
  while (i < w->n_slices) {
    const oa_buffer *b = &w->slices[i];
    if (b->size >= COPY_BELOW && b->region) {
      s[k++] = oa_grpc_slice_from_region(b->region, b->data, (size_t)b->size);
      i++;
      continue;
    }
    if (b->size >= COPY_BELOW) { /* static data */
      s[k++] = grpc_slice_from_static_buffer(b->data, (size_t)b->size);
      i++;
      continue;
    }
    int64_t j = i, total = 0;
    while (j < w->n_slices && w->slices[j].size < COPY_BELOW)
      total += w->slices[j++].size;
    grpc_slice c = grpc_slice_malloc((size_t)total);
    uint8_t *p = GRPC_SLICE_START_PTR(c);
    for (; i < j; i++) {
      memcpy(p, w->slices[i].data, (size_t)w->slices[i].size);
      p += w->slices[i].size;
    }
    s[k++] = c;
  }
  *out = s;
  *n = k;
  return 0;
}

static int write_bytes(oa_grpc_call *call, const oa_bytes *b, oa_error *err) {
  grpc_slice s = grpc_slice_from_copied_buffer(
      (const char *)(b->data ? b->data : (const uint8_t *)""), (size_t)b->size);
  return oa_grpc_call_write(call, &s, 1, err);
}

static int info_for(const oa_flight_service *svc, const oa_dataset_info *di,
                    oa_bytes *out, oa_error *err) {
  oa_bytes schema;
  oa_bytes_init(&schema);
  int rc = oa_flight_schema_bytes(di->schema, &schema, err);
  if (rc == 0) {
    oa_flight_info *info = calloc(1, sizeof *info);
    if (!info) {
      oa_bytes_reset(&schema);
      return oa_error_set(err, ENOMEM, "out of memory");
    }
    info->schema.data = schema.data;
    info->schema.size = schema.size;
    info->has_descriptor = true;
    oa_flight_descriptor_path(&info->descriptor, di->name);
    info->n_endpoints = 1;
    oa_flight_endpoint *e = &info->endpoints[0];
    e->ticket.data = (const uint8_t *)di->name;
    e->ticket.size = (int64_t)strlen(di->name);
    if (svc->location) {
      e->n_locations = 1;
      e->locations[0].data = (const uint8_t *)svc->location;
      e->locations[0].size = (int64_t)strlen(svc->location);
    }
    info->total_records = di->n_rows;
    info->total_bytes = di->n_bytes;
    info->ordered = true;
    rc = oa_flight_info_encode(info, out, err);
    free(info);
  }
  oa_bytes_reset(&schema);
  return rc;
}

/* ---------------------------------------------------------- call state */

typedef enum fkind {
  K_HANDSHAKE,
  K_LIST_FLIGHTS,
  K_DO_GET,
  K_DO_PUT,
  K_DO_ACTION,
  K_LIST_ACTIONS,
  K_DO_EXCHANGE
} fkind;

typedef struct out_msg {
  oa_flight_wire w;
  oa_ipc_msg_type type;
  int64_t body;
} out_msg;

typedef struct fcall {
  oa_flight_service *svc;
  fkind kind;
  bool started; /* the request (server streaming) was received */
  /* outbox */
  out_msg *q;
  int64_t qn, qcap, qi;
  oa_bytes *simple; /* plain messages (lists, results) */
  int64_t sn, si;
  /* DoGet */
  oa_schema *schema;
  oa_batch *batches;
  int64_t n_batches, bi;
  oa_ipc_encoder *enc;
  /* DoPut */
  oa_ipc_decoder *dec;
  bool have_name;
  char name[256];
  int64_t n_put;
  /* Handshake */
  bool authed;
} fcall;

static fcall *fcall_new(oa_flight_service *svc, fkind kind) {
  fcall *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->svc = svc;
  c->kind = kind;
  return c;
}

static void fcall_free(fcall *c) {
  if (!c) return;
  for (int64_t i = 0; i < c->qn; i++)
    oa_flight_wire_reset(&c->q[i].w);
  free(c->q);
  for (int64_t i = 0; i < c->sn; i++)
    oa_bytes_reset(&c->simple[i]);
  free(c->simple);
  if (c->batches || c->schema)
    oa_datasets_snapshot_free(c->schema, c->batches, c->n_batches);
  oa_ipc_encoder_free(c->enc);
  oa_ipc_decoder_free(c->dec);
  free(c);
}

static int push_simple(fcall *c, oa_bytes *b, oa_error *err) {
  if (c->sn % 16 == 0) {
    oa_bytes *s = realloc(c->simple, (size_t)(c->sn + 16) * sizeof *s);
    if (!s) return oa_error_set(err, ENOMEM, "out of memory");
    c->simple = s;
  }
  c->simple[c->sn++] = *b;
  oa_bytes_init(b);
  return 0;
}

static out_msg *push_out(fcall *c, oa_error *err) {
  if (c->qn == c->qcap) {
    /* sent messages at the front are dropped before growing */
    if (c->qi > 0) {
      for (int64_t i = 0; i < c->qi; i++)
        oa_flight_wire_reset(&c->q[i].w);
      memmove(c->q, c->q + c->qi, (size_t)(c->qn - c->qi) * sizeof *c->q);
      c->qn -= c->qi;
      c->qi = 0;
    }
    if (c->qn == c->qcap) {
      int64_t cap = c->qcap ? c->qcap * 2 : 8;
      out_msg *q = realloc(c->q, (size_t)cap * sizeof *q);
      if (!q) {
        oa_error_set(err, ENOMEM, "out of memory");
        return NULL;
      }
      c->q = q;
      c->qcap = cap;
    }
  }
  out_msg *m = &c->q[c->qn++];
  oa_flight_wire_init(&m->w);
  m->type = OA_IPC_MSG_NONE;
  m->body = 0;
  return m;
}

static int emit_message(void *ctx, const oa_ipc_message *msg, oa_error *err) {
  fcall *c = ctx;
  out_msg *m = push_out(c, err);
  if (!m) return ENOMEM;
  m->type = msg->type;
  m->body = msg->body_length;
  int rc = oa_flight_data_encode(NULL, msg, NULL, 0, &m->w, err);
  if (rc) c->qn--;
  return rc;
}

/* Encodes rows [off, off+len) of batch; a record batch message larger than
 * the target is replaced by two halves (its dictionaries were sent). */
static int encode_rows(fcall *c, const oa_batch *batch, int64_t off,
                       int64_t len, oa_error *err) {
  oa_batch piece;
  oa_batch_init(&piece);
  const oa_batch *src = batch;
  if (off != 0 || len != batch->length) {
    OA_RETURN_NOT_OK(oa_batch_slice(&piece, batch, off, len, err));
    src = &piece;
  }
  int rc = oa_ipc_encoder_batch(c->enc, src, emit_message, c, err);
  oa_batch_reset(&piece);
  if (rc) return rc;
  out_msg *last = &c->q[c->qn - 1];
  if (last->type == OA_IPC_MSG_RECORD_BATCH && last->body > c->svc->max_msg &&
      len > 1) {
    oa_flight_wire_reset(&last->w);
    c->qn--;
    int64_t half = len / 2;
    OA_RETURN_NOT_OK(encode_rows(c, batch, off, half, err));
    return encode_rows(c, batch, off + half, len - half, err);
  }
  return 0;
}

/* Queues the messages of the next batch: in pieces of about max_msg bytes
 * (the estimate from the buffer sizes, refined by encode_rows). */
static int produce_next(fcall *c, oa_error *err) {
  const oa_batch *b = &c->batches[c->bi++];
  int64_t bytes = 0;
  for (int64_t i = 0; i < b->n_columns; i++)
    bytes += oa_array_buffer_bytes(&b->columns[i]);
  int64_t pieces =
      b->length > 1 ? (bytes + c->svc->max_msg - 1) / c->svc->max_msg : 1;
  if (pieces < 1) pieces = 1;
  if (pieces > b->length) pieces = b->length > 0 ? b->length : 1;
  int64_t rows = pieces > 1 ? (b->length + pieces - 1) / pieces : b->length;
  if (rows <= 0 || rows >= b->length)
    return encode_rows(c, b, 0, b->length, err);
  for (int64_t off = 0; off < b->length; off += rows) {
    int64_t n = b->length - off < rows ? b->length - off : rows;
    OA_RETURN_NOT_OK(encode_rows(c, b, off, n, err));
  }
  return 0;
}

/* Sends the next queued message, producing more for DoGet; finishes OK when
 * nothing is left. */
static void pump(oa_grpc_call *call, fcall *c) {
  oa_error e;
  e.message[0] = 0;
  for (;;) {
    if (c->qi < c->qn) {
      out_msg *m = &c->q[c->qi++];
      grpc_slice *s = NULL;
      size_t n = 0;
      if (wire_to_grpc(&m->w, &s, &n)) {
        oa_grpc_call_finish_code(call, GRPC_STATUS_INTERNAL, "out of memory");
        return;
      }
      oa_flight_wire_reset(&m->w);
      oa_grpc_call_write(call, s, n, NULL);
      free(s);
      return;
    }
    if (c->si < c->sn) {
      oa_bytes *b = &c->simple[c->si++];
      write_bytes(call, b, NULL);
      oa_bytes_reset(b);
      return;
    }
    c->qn = c->qi = 0;
    if (c->kind == K_DO_GET && c->bi < c->n_batches) {
      int rc = produce_next(c, &e);
      if (rc) {
        finish_rc(call, rc, "DoGet", &e);
        return;
      }
      continue;
    }
    oa_grpc_call_finish_code(call, GRPC_STATUS_OK, "%s", "");
    return;
  }
}

/* ------------------------------------------------------------- methods */

typedef struct method_ctx {
  oa_flight_service *svc;
  fkind kind;
} method_ctx;

static int check_span_schema(const oa_schema *got, const oa_schema *want,
                             oa_error *err) {
  int64_t n = got->n_fields > want->n_fields ? got->n_fields : want->n_fields;
  for (int64_t i = 0; i < n; i++) {
    if (i >= got->n_fields)
      return oa_error_set(err, EINVAL,
                          "dataset 'spans' takes the span schema: column '%s' "
                          "(%lld) is missing",
                          want->fields[i].name, (long long)i);
    if (i >= want->n_fields)
      return oa_error_set(err, EINVAL,
                          "dataset 'spans' takes the span schema: unexpected "
                          "column '%s' (%lld)",
                          got->fields[i].name, (long long)i);
    oa_error e;
    e.message[0] = 0;
    if (!oa_field_equals(&want->fields[i], &got->fields[i], false, &e))
      return oa_error_set(err, EINVAL,
                          "dataset 'spans' takes the span schema: column "
                          "'%s' (%lld) differs: %s",
                          want->fields[i].name, (long long)i, e.message);
  }
  return 0;
}

/* One DoPut message. *ack: a record batch was stored, acknowledge it with
 * the PutResult in ack_out. */
/* The batch id of a DoPut app_metadata "oa-batch-id:ID" (ID: 1..64
 * printable ASCII bytes), copied NUL-terminated into buf; NULL otherwise. */
static const char *put_batch_id(const oa_flight_view *md, char buf[65]) {
  static const char kPrefix[] = "oa-batch-id:";
  const int64_t pl = (int64_t)sizeof kPrefix - 1;
  int64_t n = md->size - pl;
  if (n < 1 || n > 64 || memcmp(md->data, kPrefix, (size_t)pl) != 0)
    return NULL;
  for (int64_t i = 0; i < n; i++) {
    uint8_t ch = md->data[pl + i];
    if (ch < 0x20 || ch > 0x7e) return NULL;
    buf[i] = (char)ch;
  }
  buf[n] = 0;
  return buf;
}

static int put_message(fcall *c, oa_grpc_message *msg, bool *ack,
                       oa_bytes *ack_out, oa_error *err) {
  *ack = false;
  oa_region *region = oa_grpc_message_region(msg);
  if (!region) return oa_error_set(err, ENOMEM, "out of memory");
  oa_buffer in = {msg->data, msg->size, region};
  oa_flight_data fd;
  oa_batch batch;
  oa_batch_init(&batch);
  int rc = oa_flight_data_decode(&in, &fd, err);
  if (rc) {
    oa_error_prefix(err, rc,
                    "malformed FlightData %lld: ", (long long)c->n_put);
    goto done;
  }
  if (fd.has_descriptor) {
    char name[256];
    OA_GOTO_NOT_OK(rc, descriptor_name(&fd.descriptor, name, err), done);
    if (c->have_name && strcmp(name, c->name) != 0) {
      rc = oa_error_set(err, EINVAL,
                        "FlightDescriptor changed from '%s' to '%s' within "
                        "one DoPut",
                        c->name, name);
      goto done;
    }
    memcpy(c->name, name, sizeof name);
    c->have_name = true;
  }
  if (!c->have_name) {
    rc = oa_error_set(err, EINVAL,
                      "the first FlightData of a DoPut must carry a "
                      "FlightDescriptor");
    goto done;
  }
  c->n_put++;
  if (fd.data_header.size == 0) {
    if (fd.body.size)
      rc = oa_error_set(err, EINVAL,
                        "FlightData has a data_body but no "
                        "data_header");
    goto done; /* metadata only */
  }
  /* A body that is not 8-byte aligned in the received message is copied
   * once, whole, rather than buffer by buffer by the decoder. Multi-slice
   * messages arrive aligned already (oa_flight_data_body_offset); this is for a
   * single slice whose body happens to be misaligned (zero copy otherwise)
   * and for compressed messages. */
  oa_region *aligned = NULL;
  if (fd.body.size > 0 && ((uintptr_t)fd.body.data & 7) != 0) {
    aligned = oa_region_alloc(fd.body.size);
    if (!aligned) {
      rc = oa_error_set(err, ENOMEM, "out of memory");
      goto done;
    }
    memcpy(aligned->data, fd.body.data, (size_t)fd.body.size);
    fd.body.data = aligned->data;
    fd.body.region = aligned;
  }
  oa_ipc_msg_type type = OA_IPC_MSG_NONE;
  rc = oa_ipc_decoder_decode(c->dec, fd.data_header.data, fd.data_header.size,
                             &fd.body, &type, &batch, err);
  if (aligned) oa_region_release(aligned); /* the batch holds what it uses */
  if (rc) {
    /* a malformed message is a bad request whatever the decoder's code */
    if (rc != ENOMEM) rc = EINVAL;
    oa_error_prefix(err, rc, "invalid IPC message in FlightData %lld: ",
                    (long long)c->n_put);
    goto done;
  }
  if (type == OA_IPC_MSG_SCHEMA) {
    oa_schema *s = oa_ipc_decoder_schema(c->dec);
    if (strcmp(c->name, "spans") == 0)
      OA_GOTO_NOT_OK(rc, check_span_schema(s, c->svc->span_schema, err), done);
    OA_GOTO_NOT_OK(rc, oa_datasets_create(c->svc->d, c->name, s, err), done);
  } else if (type == OA_IPC_MSG_RECORD_BATCH) {
    if (strcmp(c->name, "spans") == 0)
      OA_GOTO_NOT_OK(
          rc, check_span_schema(batch.schema, c->svc->span_schema, err), done);
    /* "oa-batch-id:<1..64 printable bytes>": an idempotency key, so that a
     * client retrying after a lost acknowledgement stores the batch once
     * (a duplicate is acknowledged but not stored) */
    char bid[65];
    const char *bidp = put_batch_id(&fd.app_metadata, bid);
    int dup = 0;
    OA_GOTO_NOT_OK(
        rc, oa_datasets_append_id(c->svc->d, c->name, &batch, bidp, &dup, err),
        done);
    if (oa_flight_single_bytes_encode(fd.app_metadata.data,
                                      fd.app_metadata.size, ack_out, err)) {
      rc = ENOMEM;
      goto done;
    }
    *ack = true;
  }
done:
  oa_batch_reset(&batch);
  oa_region_release(region);
  return rc;
}

static void on_put_message(oa_grpc_call *call, fcall *c, oa_grpc_message *msg) {
  oa_error e;
  e.message[0] = 0;
  if (!msg) {
    if (!c->have_name)
      oa_grpc_call_finish_code(call, GRPC_STATUS_INVALID_ARGUMENT,
                               "DoPut: the stream carried no FlightDescriptor");
    else
      oa_grpc_call_finish_code(call, GRPC_STATUS_OK, "%s", "");
    return;
  }
  bool ack = false;
  oa_bytes out;
  oa_bytes_init(&out);
  int rc = put_message(c, msg, &ack, &out, &e);
  if (rc)
    finish_rc(call, rc, "DoPut", &e);
  else if (ack)
    write_bytes(call, &out, NULL); /* the next read starts from on_sent */
  else
    oa_grpc_call_read(call, NULL);
  oa_bytes_reset(&out);
}

static void on_handshake_message(oa_grpc_call *call, fcall *c,
                                 oa_grpc_message *msg) {
  oa_flight_service *svc = c->svc;
  if (!msg) {
    if (svc->token && !c->authed)
      oa_grpc_call_finish_code(call, GRPC_STATUS_UNAUTHENTICATED,
                               "Handshake: no valid token was presented");
    else
      oa_grpc_call_finish_code(call, GRPC_STATUS_OK, "%s", "");
    return;
  }
  oa_error e;
  oa_flight_handshake req;
  int rc = oa_flight_handshake_decode(msg->data, msg->size, &req, &e);
  if (rc) {
    finish_rc(call, rc, "Handshake", &e);
    return;
  }
  oa_flight_handshake resp = {req.protocol_version, req.payload};
  if (svc->token) {
    if (!c->authed &&
        !same_secret(req.payload.data, (size_t)req.payload.size,
                     (const uint8_t *)svc->token, svc->token_len)) {
      oa_grpc_call_finish_code(call, GRPC_STATUS_UNAUTHENTICATED,
                               "Handshake: invalid token");
      return;
    }
    c->authed = true;
    resp.payload.data = (const uint8_t *)svc->token;
    resp.payload.size = (int64_t)svc->token_len;
  }
  oa_bytes out;
  oa_bytes_init(&out);
  if (oa_flight_handshake_encode(&resp, &out, &e) == 0)
    write_bytes(call, &out, NULL);
  else
    oa_grpc_call_finish_code(call, GRPC_STATUS_INTERNAL, "out of memory");
  oa_bytes_reset(&out);
}

static int list_flights(fcall *c, oa_grpc_message *msg, oa_error *err) {
  oa_flight_view expr;
  OA_RETURN_NOT_OK(oa_flight_single_bytes_decode(msg->data, msg->size, &expr,
                                                 "Criteria", err));
  oa_dataset_info *infos = NULL;
  int64_t n = 0;
  OA_RETURN_NOT_OK(oa_datasets_list(c->svc->d, &infos, &n, err));
  int rc = 0;
  for (int64_t i = 0; i < n && rc == 0; i++) {
    oa_bytes b;
    oa_bytes_init(&b);
    rc = info_for(c->svc, &infos[i], &b, err);
    if (rc == 0) rc = push_simple(c, &b, err);
    oa_bytes_reset(&b);
  }
  oa_dataset_info_free(infos, n);
  return rc;
}

static int do_get(fcall *c, oa_grpc_message *msg, oa_error *err) {
  oa_flight_view t;
  char name[256];
  OA_RETURN_NOT_OK(
      oa_flight_single_bytes_decode(msg->data, msg->size, &t, "Ticket", err));
  char *sql = NULL;
  OA_RETURN_NOT_OK(ticket_sql(t, &sql, err));
  int rc;
  if (sql) {
    rc = run_sql(c->svc, sql, &c->schema, &c->batches, &c->n_batches, err);
    free(sql);
    if (rc) return rc;
  } else {
    OA_RETURN_NOT_OK(ticket_name(t, name, err));
    rc = oa_datasets_snapshot(c->svc->d, name, &c->schema, &c->batches,
                              &c->n_batches, err);
    if (rc == ENOENT)
      return oa_error_set(err, ENOENT, "dataset '%s' not found", name);
    if (rc) return rc;
  }
  OA_RETURN_NOT_OK(oa_ipc_encoder_new(&c->enc, c->schema, NULL, err));
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  rc = oa_ipc_encoder_schema(c->enc, &m, err);
  if (rc == 0) rc = emit_message(c, &m, err);
  oa_ipc_message_reset(&m);
  return rc;
}

static int push_json(fcall *c, json_object *o, oa_error *err) {
  size_t len = 0;
  const char *s =
      json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
  oa_bytes b;
  oa_bytes_init(&b);
  int rc = 0;
  if (!s || oa_flight_single_bytes_encode(s, (int64_t)len, &b, err))
    rc = oa_error_set(err, ENOMEM, "out of memory");
  if (rc == 0) rc = push_simple(c, &b, err);
  oa_bytes_reset(&b);
  json_object_put(o);
  return rc;
}

static json_object *jstr(const void *p, size_t n) {
  return json_object_new_string_len((const char *)p, (int)n);
}

static const struct {
  const char *type, *description;
} ACTIONS[] = {
    {"list-datasets", "One Result per dataset: JSON {name, rows, bytes, "
                      "batches}"},
    {"drop-dataset", "Drops the dataset named by the action body"},
    {"stats", "JSON {memory_used, memory_limit, datasets}"},
};

static int do_action(fcall *c, oa_grpc_message *msg, oa_error *err) {
  oa_flight_action a;
  OA_RETURN_NOT_OK(
      oa_flight_action_decode(msg->data, msg->size, &a, "Action", err));
  oa_datasets *d = c->svc->d;
  if (a.type.size == 13 && memcmp(a.type.data, "list-datasets", 13) == 0) {
    oa_dataset_info *infos = NULL;
    int64_t n = 0;
    OA_RETURN_NOT_OK(oa_datasets_list(d, &infos, &n, err));
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) {
      json_object *o = json_object_new_object();
      json_object_object_add(o, "name",
                             jstr(infos[i].name, strlen(infos[i].name)));
      json_object_object_add(o, "rows", json_object_new_int64(infos[i].n_rows));
      json_object_object_add(o, "bytes",
                             json_object_new_int64(infos[i].n_bytes));
      json_object_object_add(o, "batches",
                             json_object_new_int64(infos[i].n_batches));
      rc = push_json(c, o, err);
    }
    oa_dataset_info_free(infos, n);
    return rc;
  }
  if (a.type.size == 12 && memcmp(a.type.data, "drop-dataset", 12) == 0) {
    char name[256];
    if (a.body.size == 0)
      return oa_error_set(err, EINVAL,
                          "drop-dataset: the body must name the dataset");
    OA_RETURN_NOT_OK(ticket_name(a.body, name, err));
    int rc = oa_datasets_drop(d, name, err);
    if (rc == ENOENT)
      return oa_error_set(err, ENOENT, "dataset '%s' not found", name);
    if (rc) return rc;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "dropped", jstr(name, strlen(name)));
    return push_json(c, o, err);
  }
  if (a.type.size == 5 && memcmp(a.type.data, "stats", 5) == 0) {
    oa_dataset_info *infos = NULL;
    int64_t n = 0;
    OA_RETURN_NOT_OK(oa_datasets_list(d, &infos, &n, err));
    oa_dataset_info_free(infos, n);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "memory_used",
                           json_object_new_int64(oa_datasets_memory_used(d)));
    json_object_object_add(o, "memory_limit",
                           json_object_new_int64(oa_datasets_memory_limit(d)));
    json_object_object_add(o, "datasets", json_object_new_int64(n));
    return push_json(c, o, err);
  }
  return oa_error_set(err, ENOTSUP,
                      "unknown action type '%.*s' (see ListActions: "
                      "list-datasets, drop-dataset, stats)",
                      (int)(a.type.size > 64 ? 64 : a.type.size),
                      (const char *)a.type.data);
}

static int list_actions(fcall *c, oa_error *err) {
  for (size_t i = 0; i < sizeof ACTIONS / sizeof ACTIONS[0]; i++) {
    oa_flight_action t = {
        {(const uint8_t *)ACTIONS[i].type, (int64_t)strlen(ACTIONS[i].type)},
        {(const uint8_t *)ACTIONS[i].description,
         (int64_t)strlen(ACTIONS[i].description)}};
    oa_bytes b;
    oa_bytes_init(&b);
    int rc = oa_flight_action_encode(&t, &b, err);
    if (rc == 0) rc = push_simple(c, &b, err);
    oa_bytes_reset(&b);
    OA_RETURN_NOT_OK(rc);
  }
  return 0;
}

static const char *kind_name(fkind k) {
  static const char *const names[] = {"Handshake", "ListFlights", "DoGet",
                                      "DoPut",     "DoAction",    "ListActions",
                                      "DoExchange"};
  return names[k];
}

/* --------------------------------------------------- stream callbacks */

static void s_on_start(void *ctx, oa_grpc_call *call) {
  method_ctx *mc = ctx;
  if (mc->kind == K_DO_EXCHANGE) {
    oa_grpc_call_finish_code(call, GRPC_STATUS_UNIMPLEMENTED,
                             "DoExchange is not supported by this server");
    return;
  }
  if (mc->kind != K_HANDSHAKE && !check_auth(mc->svc, call)) return;
  fcall *c = fcall_new(mc->svc, mc->kind);
  oa_error e;
  if (c && mc->kind == K_DO_PUT &&
      oa_ipc_decoder_new(&c->dec, &mc->svc->put_read, &e) != 0) {
    fcall_free(c);
    c = NULL;
  }
  if (!c) {
    oa_grpc_call_finish_code(call, GRPC_STATUS_INTERNAL, "out of memory");
    return;
  }
  if (mc->kind == K_HANDSHAKE && mc->svc->token &&
      header_authorized(mc->svc, call))
    c->authed = true;
  oa_grpc_call_set_user(call, c);
  oa_grpc_call_read(call, NULL);
}

static void s_on_message(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  fcall *c = oa_grpc_call_user(call);
  if (!c) return;
  if (c->kind == K_DO_PUT) {
    on_put_message(call, c, msg);
    return;
  }
  if (c->kind == K_HANDSHAKE) {
    on_handshake_message(call, c, msg);
    return;
  }
  /* server streaming: the single request */
  if (!msg) {
    if (!c->started)
      oa_grpc_call_finish_code(call, GRPC_STATUS_INVALID_ARGUMENT,
                               "%s: no request message", kind_name(c->kind));
    return;
  }
  c->started = true;
  oa_error e;
  e.message[0] = 0;
  int rc = 0;
  switch (c->kind) {
  case K_LIST_FLIGHTS:
    rc = list_flights(c, msg, &e);
    break;
  case K_DO_GET:
    rc = do_get(c, msg, &e);
    break;
  case K_DO_ACTION:
    rc = do_action(c, msg, &e);
    break;
  case K_LIST_ACTIONS:
    rc = list_actions(c, &e);
    break;
  default:
    rc = oa_error_set(&e, EINVAL, "unexpected call");
  }
  if (rc) {
    finish_rc(call, rc, kind_name(c->kind), &e);
    return;
  }
  pump(call, c);
}

static void s_on_sent(void *ctx, oa_grpc_call *call, bool ok) {
  fcall *c = oa_grpc_call_user(call);
  if (!c || !ok) return;
  if (c->kind == K_DO_PUT || c->kind == K_HANDSHAKE)
    oa_grpc_call_read(call, NULL);
  else
    pump(call, c);
}

static void s_on_done(void *ctx, oa_grpc_call *call, bool cancelled) {
  fcall_free(oa_grpc_call_user(call));
  oa_grpc_call_set_user(call, NULL);
}

/* ------------------------------------------------------ unary methods */

static void reply_info(void *ctx, oa_grpc_call *call, oa_grpc_message *msg,
                       bool schema_only) {
  method_ctx *mc = ctx;
  const char *what = schema_only ? "GetSchema" : "GetFlightInfo";
  if (!check_auth(mc->svc, call)) return;
  oa_error e;
  e.message[0] = 0;
  oa_flight_descriptor d;
  char name[256];
  oa_dataset_info di;
  memset(&di, 0, sizeof di);
  oa_bytes out, schema;
  oa_bytes_init(&out);
  oa_bytes_init(&schema);
  int rc;
  OA_GOTO_NOT_OK(rc, oa_flight_descriptor_decode(msg->data, msg->size, &d, &e),
                 fail);
  if (d.type == OA_FLIGHT_DESCRIPTOR_CMD) {
    OA_GOTO_NOT_OK(rc, sql_info(mc->svc, &d, schema_only, &out, &e), fail);
    oa_grpc_call_reply_bytes(call, out.data ? out.data : (const uint8_t *)"",
                             (size_t)out.size, NULL);
    goto done;
  }
  OA_GOTO_NOT_OK(rc, descriptor_name(&d, name, &e), fail);
  rc = oa_datasets_info(mc->svc->d, name, &di, &e);
  if (rc == ENOENT) oa_error_set(&e, ENOENT, "dataset '%s' not found", name);
  if (rc) goto fail;
  if (schema_only) {
    OA_GOTO_NOT_OK(rc, oa_flight_schema_bytes(di.schema, &schema, &e), fail);
    OA_GOTO_NOT_OK(
        rc, oa_flight_single_bytes_encode(schema.data, schema.size, &out, &e),
        fail);
  } else {
    OA_GOTO_NOT_OK(rc, info_for(mc->svc, &di, &out, &e), fail);
  }
  oa_grpc_call_reply_bytes(call, out.data ? out.data : (const uint8_t *)"",
                           (size_t)out.size, NULL);
  goto done;
fail:
  finish_rc(call, rc, what, &e);
done:
  if (di.schema) oa_schema_release(di.schema);
  oa_bytes_reset(&out);
  oa_bytes_reset(&schema);
}

static void u_get_flight_info(void *ctx, oa_grpc_call *call,
                              oa_grpc_message *msg) {
  reply_info(ctx, call, msg, false);
}

static void u_get_schema(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  reply_info(ctx, call, msg, true);
}

static void u_poll_flight_info(void *ctx, oa_grpc_call *call,
                               oa_grpc_message *msg) {
  method_ctx *mc = ctx;
  if (!check_auth(mc->svc, call)) return;
  oa_grpc_call_finish_code(call, GRPC_STATUS_UNIMPLEMENTED,
                           "PollFlightInfo is not supported by this server: "
                           "use GetFlightInfo");
}

/* ------------------------------------------------------------ service */

int oa_flight_service_new(oa_flight_service **out, oa_datasets *d,
                          const oa_flight_options *o, oa_error *err) {
  *out = NULL;
  oa_flight_options def;
  if (!o) {
    oa_flight_options_init(&def);
    o = &def;
  }
  if (!d) return oa_error_set(err, EINVAL, "flight: NULL datasets");
  if (o->max_message_size <= 0)
    return oa_error_set(err, EINVAL, "flight: max_message_size %lld <= 0",
                        (long long)o->max_message_size);
  oa_flight_service *svc = calloc(1, sizeof *svc);
  if (!svc) return oa_error_set(err, ENOMEM, "flight: out of memory");
  svc->d = d;
  svc->max_recv =
      o->max_recv_message_size ? o->max_recv_message_size : 256 << 20;
  oa_ipc_read_options_init(&svc->put_read);
  if (o->max_decompressed_size > 0)
    svc->put_read.max_decompressed_size = o->max_decompressed_size;
  else if (o->max_decompressed_size == 0)
    svc->put_read.max_decompressed_size = 256 << 20;
  if (o->max_dictionary_size > 0)
    svc->put_read.max_dictionary_size = o->max_dictionary_size;
  svc->max_msg = o->max_message_size;
  int rc = 0;
  if (o->recv_limit_hint && *o->recv_limit_hint) {
    svc->recv_hint = strdup(o->recv_limit_hint);
    if (!svc->recv_hint)
      rc = oa_error_set(err, ENOMEM, "flight: out of memory");
  }
  if (o->auth_token && *o->auth_token) {
    svc->token = strdup(o->auth_token);
    svc->token_len = strlen(o->auth_token);
    if (!svc->token) rc = oa_error_set(err, ENOMEM, "flight: out of memory");
  }
  if (rc == 0 && o->location && *o->location) {
    svc->location = strdup(o->location);
    if (!svc->location) rc = oa_error_set(err, ENOMEM, "flight: out of memory");
  }
  if (rc == 0) rc = oa_span_schema(&svc->span_schema, err);
  /* "spans" exists from the start, so that it is listed and typed */
  if (rc == 0) rc = oa_datasets_create(d, "spans", svc->span_schema, err);
  if (rc) {
    oa_flight_service_free(svc);
    return rc;
  }
  *out = svc;
  return 0;
}

void oa_flight_service_free(oa_flight_service *svc) {
  if (!svc) return;
  free(svc->token);
  free(svc->location);
  free(svc->recv_hint);
  if (svc->span_schema) oa_schema_release(svc->span_schema);
  free(svc->ctxs);
  free(svc);
}

int oa_flight_service_set_query_handler(oa_flight_service *svc,
                                        oa_flight_query_fn fn, void *ctx,
                                        oa_error *err) {
  if (!svc) return oa_error_set(err, EINVAL, "flight: NULL service");
  svc->query_fn = fn;
  svc->query_ctx = ctx;
  return 0;
}

int oa_flight_service_register(oa_flight_service *svc, oa_grpc_server *srv,
                               oa_error *err) {
  static const struct {
    const char *name;
    fkind kind;
    oa_grpc_stream_kind stream;
    bool big; /* receives FlightData: the lifted limit */
  } streams[] = {
      {"Handshake", K_HANDSHAKE, OA_GRPC_BIDI_STREAMING, false},
      {"ListFlights", K_LIST_FLIGHTS, OA_GRPC_SERVER_STREAMING, false},
      {"DoGet", K_DO_GET, OA_GRPC_SERVER_STREAMING, false},
      {"DoPut", K_DO_PUT, OA_GRPC_BIDI_STREAMING, true},
      {"DoExchange", K_DO_EXCHANGE, OA_GRPC_BIDI_STREAMING, true},
      {"DoAction", K_DO_ACTION, OA_GRPC_SERVER_STREAMING, false},
      {"ListActions", K_LIST_ACTIONS, OA_GRPC_SERVER_STREAMING, false},
  };
  enum { N_STREAMS = sizeof streams / sizeof streams[0] };
  if (!svc->ctxs) {
    svc->ctxs = calloc(N_STREAMS + 1, sizeof *svc->ctxs);
    if (!svc->ctxs) return oa_error_set(err, ENOMEM, "flight: out of memory");
  }
  static const oa_grpc_stream_handler h = {s_on_start, s_on_message, s_on_sent,
                                           s_on_done};
  char path[128];
  for (size_t i = 0; i < N_STREAMS; i++) {
    method_ctx *mc = &svc->ctxs[i];
    mc->svc = svc;
    mc->kind = streams[i].kind;
    oa_grpc_method_options mo = {0, false};
    mo.skip_auth = streams[i].kind == K_HANDSHAKE;
    if (streams[i].big) mo.max_recv_message_size = svc->max_recv;
    snprintf(path, sizeof path, SERVICE "%s", streams[i].name);
    OA_RETURN_NOT_OK(oa_grpc_server_register_stream(
        srv, path, streams[i].stream, &h, mc, &mo, err));
    if (streams[i].big)
      OA_RETURN_NOT_OK(
          oa_grpc_server_set_align(srv, path, oa_flight_data_body_offset, err));
    if (streams[i].big && svc->recv_hint)
      OA_RETURN_NOT_OK(
          oa_grpc_server_set_limit_hint(srv, path, svc->recv_hint, err));
  }
  method_ctx *uc = &svc->ctxs[N_STREAMS];
  uc->svc = svc;
  uc->kind = K_DO_GET; /* unused by the unary handlers */
  OA_RETURN_NOT_OK(oa_grpc_server_register_unary(
      srv, SERVICE "GetFlightInfo", u_get_flight_info, uc, NULL, err));
  OA_RETURN_NOT_OK(oa_grpc_server_register_unary(srv, SERVICE "GetSchema",
                                                 u_get_schema, uc, NULL, err));
  OA_RETURN_NOT_OK(oa_grpc_server_register_unary(
      srv, SERVICE "PollFlightInfo", u_poll_flight_info, uc, NULL, err));
  return 0;
}

int oa_flight_server_register(oa_grpc_server *srv, oa_datasets *d,
                              const oa_flight_options *o, oa_error *err) {
  oa_flight_service *svc = NULL;
  OA_RETURN_NOT_OK(oa_flight_service_new(&svc, d, o, err));
  if (!svc) return ENOMEM; /* unreachable: set whenever new succeeds */
  /* svc is not freed, even on failure: registered methods may point to it */
  return oa_flight_service_register(svc, srv, err);
}
