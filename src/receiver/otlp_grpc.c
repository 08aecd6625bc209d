/* otlparrow: the OTLP/gRPC trace receiver (see receiver/receiver.h). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "receiver/receiver.h"

#define TRACE_EXPORT                                                           \
  "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define LOGS_EXPORT "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
#define METRICS_EXPORT                                                         \
  "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"

struct oa_otlp_grpc {
  oa_otlp_grpc_options opts;
  char *dataset;
  oa_datasets *d;
  int n_workers;
  oa_otlp_decoder **decoders; /* one per event-loop thread */
  oa_batch *batches;          /* per thread, reused */
  atomic_llong requests, accepted, rejected, failed;
};

void oa_otlp_grpc_options_init(oa_otlp_grpc_options *o) {
  memset(o, 0, sizeof *o);
  o->dataset = "spans";
  o->max_recv_size = 4 << 20;
  o->retry_delay_ms = 1000;
  oa_otlp_options_default(&o->decode);
}

void oa_otlp_grpc_get_stats(oa_otlp_grpc *r, oa_otlp_grpc_stats *st) {
  st->requests = atomic_load(&r->requests);
  st->accepted_spans = atomic_load(&r->accepted);
  st->rejected_spans = atomic_load(&r->rejected);
  st->failed = atomic_load(&r->failed);
}

static int put_varint(uint8_t *p, uint64_t v) {
  int n = 0;
  do {
    p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return n;
}

/* ExportTraceServiceResponse{partial_success=1: ExportTracePartialSuccess{
 * rejected_spans=1 (int64), error_message=2}}; empty when none rejected. */
static void reply_success(oa_grpc_call *call, const oa_otlp_result *res) {
  if (res->rejected_spans <= 0) {
    oa_grpc_call_reply_bytes(call, "", 0, NULL);
    return;
  }
  size_t msg_len = strnlen(res->error_message, sizeof res->error_message);
  uint8_t inner[32 + sizeof res->error_message];
  size_t k = 0;
  inner[k++] = 0x08;
  k += (size_t)put_varint(inner + k, (uint64_t)res->rejected_spans);
  if (msg_len) {
    inner[k++] = 0x12;
    k += (size_t)put_varint(inner + k, msg_len);
    memcpy(inner + k, res->error_message, msg_len);
    k += msg_len;
  }
  uint8_t out[48 + sizeof res->error_message];
  size_t n = 0;
  out[n++] = 0x0a;
  n += (size_t)put_varint(out + n, k);
  memcpy(out + n, inner, k);
  n += k;
  oa_grpc_call_reply_bytes(call, out, n, NULL);
}

static void fail_retryable(oa_otlp_grpc *r, oa_grpc_call *call,
                           const char *message) {
  oa_bytes det;
  oa_bytes_init(&det);
  oa_grpc_status st = {GRPC_STATUS_UNAVAILABLE, message, NULL, 0};
  if (oa_grpc_status_details_retry(&det, GRPC_STATUS_UNAVAILABLE, message,
                                   r->opts.retry_delay_ms, NULL) == 0) {
    st.details = det.data;
    st.details_len = (size_t)det.size;
  }
  oa_grpc_call_finish(call, &st, NULL);
  oa_bytes_reset(&det);
}

static void trace_export(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  oa_otlp_grpc *r = ctx;
  int w = oa_grpc_call_worker(call);
  oa_batch *b = &r->batches[w];
  oa_otlp_result res;
  oa_error err;
  err.message[0] = 0;
  atomic_fetch_add(&r->requests, 1);
  int rc = oa_otlp_decoder_decode(r->decoders[w], msg->data, msg->size, b, &res,
                                  &err);
  if (rc) {
    atomic_fetch_add(&r->failed, 1);
    oa_grpc_call_finish_code(call,
                             rc == E2BIG    ? GRPC_STATUS_RESOURCE_EXHAUSTED
                             : rc == ENOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED
                                            : GRPC_STATUS_INVALID_ARGUMENT,
                             "%s", err.message);
    oa_otlp_decoder_recycle(r->decoders[w], b);
    return;
  }
  if (b->length > 0) {
    rc = r->opts.sink ? r->opts.sink(r->opts.sink_ctx, b, &err)
                      : oa_datasets_append(r->d, r->dataset, b, &err);
    /* the dataset or sink holds its own references: what only the batch
     * held goes back to this worker's decoder for the next request */
    oa_otlp_decoder_recycle(r->decoders[w], b);
    if (rc == EAGAIN) {
      atomic_fetch_add(&r->failed, 1);
      fail_retryable(r, call, err.message);
      return;
    }
    if (rc) {
      atomic_fetch_add(&r->failed, 1);
      oa_grpc_call_finish_code(call,
                               rc == E2BIG || rc == ENOMEM
                                   ? GRPC_STATUS_RESOURCE_EXHAUSTED
                                   : GRPC_STATUS_INTERNAL,
                               "%s", err.message);
      return;
    }
    atomic_fetch_add(&r->accepted, res.accepted_spans);
  }
  oa_otlp_decoder_recycle(r->decoders[w], b);
  atomic_fetch_add(&r->rejected, res.rejected_spans);
  reply_success(call, &res);
}

static void unimplemented(void *ctx, oa_grpc_call *call, oa_grpc_message *msg) {
  const char *signal = ctx;
  oa_grpc_call_finish_code(call, GRPC_STATUS_UNIMPLEMENTED,
                           "otlparrow does not support OTLP %s yet; only "
                           "traces (%s)",
                           signal, &TRACE_EXPORT[1]);
}

void oa_otlp_grpc_free(oa_otlp_grpc *r) {
  if (!r) return;
  for (int i = 0; i < r->n_workers; i++) {
    if (r->decoders) oa_otlp_decoder_free(r->decoders[i]);
    if (r->batches) oa_batch_reset(&r->batches[i]);
  }
  free(r->decoders);
  free(r->batches);
  free(r->dataset);
  free(r);
}

int oa_otlp_grpc_register(oa_otlp_grpc **out, oa_grpc_server *srv,
                          const oa_otlp_grpc_options *o, oa_datasets *d,
                          oa_error *err) {
  *out = NULL;
  oa_otlp_grpc *r = calloc(1, sizeof *r);
  if (!r) return oa_error_set(err, ENOMEM, "otlp/grpc: out of memory");
  if (o)
    r->opts = *o;
  else
    oa_otlp_grpc_options_init(&r->opts);
  if (!r->opts.dataset || !*r->opts.dataset) r->opts.dataset = "spans";
  if (r->opts.max_recv_size == 0) r->opts.max_recv_size = 4 << 20;
  r->d = d;
  r->dataset = strdup(r->opts.dataset);
  r->opts.dataset = r->dataset;
  r->n_workers = oa_grpc_server_threads(srv);
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
  r->decoders = calloc((size_t)r->n_workers, sizeof *r->decoders);
  r->batches = calloc((size_t)r->n_workers, sizeof *r->batches);
  int rc = 0;
  if (!r->dataset || !r->decoders || !r->batches) {
    rc = oa_error_set(err, ENOMEM, "otlp/grpc: out of memory");
    goto fail;
  }
  for (int i = 0; i < r->n_workers; i++) {
    oa_batch_init(&r->batches[i]);
    OA_GOTO_NOT_OK(
        rc, oa_otlp_decoder_new(&r->decoders[i], &r->opts.decode, err), fail);
  }
  if (!r->opts.sink) {
    if (!d) {
      rc = oa_error_set(err, EINVAL, "otlp/grpc: no datasets and no sink");
      goto fail;
    }
    oa_schema *schema;
    OA_GOTO_NOT_OK(rc, oa_span_schema(&schema, err), fail);
    rc = oa_datasets_create(d, r->dataset, schema, err);
    oa_schema_release(schema);
    if (rc) goto fail;
  }
  oa_grpc_method_options mo = {r->opts.max_recv_size, false};
  OA_GOTO_NOT_OK(rc,
                 oa_grpc_server_register_unary(srv, TRACE_EXPORT, trace_export,
                                               r, &mo, err),
                 fail);
  OA_GOTO_NOT_OK(rc,
                 oa_grpc_server_register_unary(srv, LOGS_EXPORT, unimplemented,
                                               "logs", &mo, err),
                 fail);
  OA_GOTO_NOT_OK(rc,
                 oa_grpc_server_register_unary(
                     srv, METRICS_EXPORT, unimplemented, "metrics", &mo, err),
                 fail);
  *out = r;
  return 0;
fail:
  oa_otlp_grpc_free(r);
  return rc;
}
