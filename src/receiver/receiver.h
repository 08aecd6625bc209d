/* otlparrow: the OTLP/gRPC receiver on the gRPC event-loop layer.
 *
 * Serves opentelemetry.proto.collector.trace.v1.TraceService/Export: each
 * request is decoded (one oa_otlp_decoder per event-loop thread) and the
 * span batch appended to a dataset ("spans"). Answers, per the OTLP
 * specification:
 *   OK                  ExportTraceServiceResponse, empty, or with
 *                       partial_success {rejected_spans, error_message}
 *   INVALID_ARGUMENT    malformed protobuf (the decoder's message)
 *   RESOURCE_EXHAUSTED  request over max_recv_size (also after gzip
 *                       decompression), too many spans, or a batch larger
 *                       than the whole memory limit (not retryable)
 *   UNAVAILABLE         memory limit reached; grpc-status-details-bin holds
 *                       a google.rpc.Status with google.rpc.RetryInfo
 *   UNIMPLEMENTED       LogsService/Export and MetricsService/Export
 * The HTTP receiver's declarations are in receiver/otlp_http.h. */
#ifndef OA_RECEIVER_H
#define OA_RECEIVER_H

#include "grpc/oa_grpc.h"
#include "otlparrow/dataset.h"
#include "otlparrow/otlp.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct oa_otlp_grpc_options {
  const char *dataset;    /* default "spans" (copied) */
  int64_t max_recv_size;  /* bytes, default 4 MiB; -1: unlimited */
  int64_t retry_delay_ms; /* RetryInfo when memory is full, default 1000 */
  oa_otlp_options decode; /* decoder limits */
  /* When set, every decoded span batch goes to sink instead of a dataset
   * (the datasets may then be NULL). EAGAIN from the sink is backpressure:
   * answered UNAVAILABLE with RetryInfo, like a full memory limit. Called
   * from the event-loop threads; the batch is only borrowed. */
  int (*sink)(void *ctx, const oa_batch *spans, oa_error *err);
  void *sink_ctx;
} oa_otlp_grpc_options;

void oa_otlp_grpc_options_init(oa_otlp_grpc_options *o);

typedef struct oa_otlp_grpc oa_otlp_grpc;

/* Counters since start. */
typedef struct oa_otlp_grpc_stats {
  int64_t requests;       /* Export calls answered */
  int64_t accepted_spans; /* appended to the dataset */
  int64_t rejected_spans; /* reported through partial_success */
  int64_t failed;         /* requests answered with an error */
} oa_otlp_grpc_stats;

/* Registers the trace, logs and metrics services on srv (before its first
 * listener is added; the server's thread count must be final). Creates the
 * dataset with the span schema if it does not exist (not with a sink). o may
 * be NULL. Free the receiver after the server was shut down. */
int oa_otlp_grpc_register(oa_otlp_grpc **out, oa_grpc_server *srv,
                          const oa_otlp_grpc_options *o, oa_datasets *d,
                          oa_error *err);
void oa_otlp_grpc_free(oa_otlp_grpc *r);
void oa_otlp_grpc_get_stats(oa_otlp_grpc *r, oa_otlp_grpc_stats *st);

#ifdef __cplusplus
}
#endif

#endif
