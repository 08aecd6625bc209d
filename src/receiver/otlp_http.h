/* OTLP/HTTP receiver (libmicrohttpd): POST /v1/traces with protobuf or JSON
 * bodies, optionally gzip, zstd or lz4 (frame format) encoded; spans are
 * appended to a dataset
 * ("spans" by default).
 *
 * Answers (OTLP specification, OTLP/HTTP):
 *   200  ExportTraceServiceResponse, with partial_success when spans were
 *        rejected; in the request's content type
 *   400  malformed body (google.rpc.Status with the decoder's message)
 *   401  bearer token missing or wrong (when one is configured); no client
 *        certificate (when tls_client_ca is set)
 *   403  client certificate not signed by tls_client_ca, expired, or not
 *        usable for TLS client authentication
 *   404  unknown path; /v1/logs and /v1/metrics say the signal is not
 *        supported yet (404, not 501: both are non-retryable for OTLP
 *        clients, and 404 is what a server without the endpoint answers)
 *   405  method other than POST on /v1/traces (Allow: POST)
 *   413  body over max_body_size, raw or after decompression
 *   415  content type other than application/x-protobuf or
 *        application/json, or an unknown Content-Encoding
 *   503  dataset memory limit reached, or the sink said EAGAIN (Retry-After,
 *        Status with RetryInfo)
 * Error bodies are google.rpc.Status, protobuf or JSON like the request. */
#ifndef OA_RECEIVER_OTLP_HTTP_H
#define OA_RECEIVER_OTLP_HTTP_H

#include "otlparrow/dataset.h"
#include "otlparrow/otlp.h"

typedef struct oa_otlp_http oa_otlp_http;

typedef struct oa_otlp_http_options {
  /* "host:port", "[v6addr]:port" or ":port" (all interfaces); port 0 picks a
   * free port (see oa_otlp_http_port). Default "127.0.0.1:4318". */
  const char *listen;
  int64_t max_body_size; /* bytes after decompression, default 20 MiB */
  /* PEM files; both set turns on HTTPS. */
  const char *tls_cert_file;
  const char *tls_key_file;
  /* PEM file of CA certificates (needs HTTPS): clients must then present a
   * certificate signed by one of them (mutual TLS), checked before anything
   * else in a request. The TLS handshake only asks for one, so clients
   * without it get an HTTP answer that says why (401/403) rather than a
   * failed handshake. */
  const char *tls_client_ca;
  /* When set (non-empty), requests must carry "Authorization: Bearer X". */
  const char *auth_token;
  int threads;                   /* worker threads, default 2 */
  unsigned connection_timeout_s; /* idle/slow connections, default 30 */
  unsigned connection_limit;     /* concurrent connections, default 1000 */
  /* A request (headers and body) must arrive whole within this many seconds
   * of its start, however steadily bytes trickle in (slowloris); the
   * connection is then shut down. Default 60. */
  unsigned request_timeout_s;
  unsigned per_ip_connection_limit; /* concurrent per client address; 0: none */
  unsigned retry_after_s;           /* Retry-After on 503, default 1 */
  unsigned drain_timeout_ms; /* stop waits this long for requests, 5000 */
  const char *dataset;       /* default "spans" */
  oa_otlp_options decode;    /* decoder limits */
  /* When set, decoded span batches go to sink instead of the dataset (the
   * datasets may then be NULL); EAGAIN from it is answered 503 with
   * Retry-After (backpressure). Called from the worker threads; the batch
   * is only borrowed. */
  int (*sink)(void *ctx, const oa_batch *spans, oa_error *err);
  void *sink_ctx;
} oa_otlp_http_options;

void oa_otlp_http_options_init(oa_otlp_http_options *o);

/* Starts serving (own threads) before returning. Strings in o are copied.
 * The datasets must outlive the receiver; d may be NULL with a sink. */
int oa_otlp_http_start(oa_otlp_http **out, const oa_otlp_http_options *o,
                       oa_datasets *d, oa_error *err);
/* Stops accepting, lets in-flight requests finish (up to drain_timeout_ms),
 * then closes all connections and frees h. NULL is a no-op. */
void oa_otlp_http_stop(oa_otlp_http *h);
/* The bound port (useful after listening on port 0). */
int oa_otlp_http_port(const oa_otlp_http *h);
/* Connections shut down so far because their request was late. */
int64_t oa_otlp_http_cut_connections(const oa_otlp_http *h);

/* Counters since start. */
typedef struct oa_otlp_http_stats {
  int64_t requests;        /* requests begun (any path, any outcome) */
  int64_t accepted_spans;  /* appended to the dataset (or the sink) */
  int64_t rejected_spans;  /* reported through partial_success */
  int64_t failed;          /* requests not answered 200 */
  int64_t received_bytes;  /* request bodies as sent (compressed) */
  int64_t decoded_bytes;   /* bodies handed to the decoders */
  int64_t cut_connections; /* see oa_otlp_http_cut_connections */
} oa_otlp_http_stats;
void oa_otlp_http_get_stats(const oa_otlp_http *h, oa_otlp_http_stats *st);

/* The request path of POST /v1/traces without the network (for the fuzz
 * target and tests): Content-Type and Content-Encoding header values (NULL:
 * absent), the body as received, handed over in pieces of chunk bytes (0:
 * one piece), the same limits and decoders as the server. outcome->status is
 * 200 with the spans in out and res, else the error answer the server would
 * give (400, 413, 415, 500) with its google.rpc.Code and message. Returns
 * ENOMEM when out of memory, else 0. */
typedef struct oa_otlp_http_outcome {
  unsigned status;
  int rpc_code; /* google.rpc.Code of the error body; 0 on 200 */
  bool json;    /* the answer is JSON (the request's content type) */
  char message[OA_ERROR_SIZE];
} oa_otlp_http_outcome;

int oa_otlp_http_decode_request(const char *content_type,
                                const char *content_encoding,
                                const uint8_t *body, size_t len, size_t chunk,
                                int64_t max_body, oa_otlp_decoder *pb,
                                oa_otlp_json_decoder *js, oa_batch *out,
                                oa_otlp_result *res,
                                oa_otlp_http_outcome *outcome);

#endif
