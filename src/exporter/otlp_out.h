/* otlparrow: OTLP exporters out, for `otlparrow forward --to otlp://` and
 * `--to otlp+http://`: span batches go back out as
 * ExportTraceServiceRequest (oa_otlp_encode_traces) over OTLP/gRPC (the
 * gRPC client in grpc/oa_grpc.h) or OTLP/HTTP (POST application/
 * x-protobuf on a minimal HTTP/1.1 client over a plain socket, keep-alive,
 * optionally gzip).
 *
 * Retries follow the OTLP specification:
 *   gRPC  CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE,
 *         DATA_LOSS, and RESOURCE_EXHAUSTED only when the status carries a
 *         google.rpc.RetryInfo; RetryInfo's delay is honoured.
 *   HTTP  429, 502, 503, 504 (Retry-After in seconds honoured); connection
 *         failures and timeouts.
 * Everything else is final. Backoff is exponential with jitter, bounded by
 * max_elapsed_ms over all attempts of one batch.
 *
 * One oa_otlp_out serves one thread at a time (it keeps one connection). */
#ifndef OA_EXPORTER_OTLP_OUT_H
#define OA_EXPORTER_OTLP_OUT_H

#include <stdatomic.h>

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum oa_otlp_out_protocol {
  OA_OTLP_OUT_GRPC = 0,
  OA_OTLP_OUT_HTTP = 1
} oa_otlp_out_protocol;

typedef struct oa_otlp_out_options {
  oa_otlp_out_protocol protocol;
  /* gRPC: "host:port". HTTP: "host:port[/path]" (path default /v1/traces),
   * an "http://" prefix is accepted. Copied. */
  const char *endpoint;
  bool tls; /* gRPC only (HTTPS is not supported: ENOTSUP) */
  const char *tls_ca_file, *tls_cert_file, *tls_key_file;
  const char *token; /* "authorization: Bearer TOKEN" when set */
  /* Extra headers, OTEL_EXPORTER_OTLP_HEADERS syntax "k1=v1,k2=v2" (values
   * percent-decoded). HTTP: all of them; gRPC: only "authorization". */
  const char *headers;
  bool gzip;                    /* compress requests */
  int64_t timeout_ms;           /* per attempt, default 10000 */
  int64_t retry_initial_ms;     /* default 500 */
  int64_t retry_max_ms;         /* default 5000 */
  double retry_multiplier;      /* default 1.5 */
  int64_t retry_max_elapsed_ms; /* default 60000; 0: no retries */
} oa_otlp_out_options;

void oa_otlp_out_options_init(oa_otlp_out_options *o);

/* What one attempt ended with. */
typedef struct oa_otlp_out_attempt {
  int status;             /* gRPC code, or HTTP status; -1: no answer */
  bool retryable;         /* per the rules above */
  int64_t retry_after_ms; /* the server's RetryInfo / Retry-After, or -1 */
  int64_t rejected_spans; /* partial_success.rejected_spans */
} oa_otlp_out_attempt;

typedef struct oa_otlp_out_stats {
  int64_t requests;       /* attempts made */
  int64_t retries;        /* attempts after the first of a batch */
  int64_t exported_spans; /* acknowledged (minus rejected) */
  int64_t rejected_spans; /* partial_success */
  int64_t failed_spans;   /* final errors or retries exhausted */
  int64_t bytes_sent;     /* request bodies on the wire */
} oa_otlp_out_stats;

typedef struct oa_otlp_out oa_otlp_out;

int oa_otlp_out_new(oa_otlp_out **out, const oa_otlp_out_options *o,
                    oa_error *err);
void oa_otlp_out_free(oa_otlp_out *o);

/* One attempt with an encoded ExportTraceServiceRequest. Returns 0 when the
 * server accepted it (a fills rejected spans), else an errno-style code
 * (EAGAIN retryable, EIO/EACCES/EINVAL/E2BIG final) with a filled. */
int oa_otlp_out_send_once(oa_otlp_out *o, const uint8_t *req, int64_t len,
                          oa_otlp_out_attempt *a, oa_error *err);

/* Sends an encoded ExportTraceServiceRequest of n_spans spans, retrying
 * per the policy until accepted (0), a final error or the end of the retry
 * window (the error; spans counted failed), or *stop becoming true while
 * waiting to retry (ECANCELED; not counted: the caller decides, e.g. keeps
 * a persisted copy). stop may be NULL. */
int oa_otlp_out_export_request(oa_otlp_out *o, const uint8_t *req, int64_t len,
                               int64_t n_spans, const atomic_bool *stop,
                               oa_error *err);

/* Encodes the batch and exports it as above; stopping counts as failed. */
int oa_otlp_out_export(oa_otlp_out *o, const oa_batch *spans,
                       const atomic_bool *stop, oa_error *err);

void oa_otlp_out_get_stats(oa_otlp_out *o, oa_otlp_out_stats *st);

/* Parses "k1=v1,k2=v2" (OTEL_EXPORTER_OTLP_HEADERS): fn for each pair,
 * keys trimmed and values percent-decoded. EINVAL for a pair without '='. */
int oa_otlp_out_parse_headers(const char *s,
                              int (*fn)(void *ctx, const char *key,
                                        const char *value, oa_error *err),
                              void *ctx, oa_error *err);

#ifdef __cplusplus
}
#endif

#endif
