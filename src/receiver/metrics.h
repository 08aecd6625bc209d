/* Prometheus metrics: a writer of the text exposition format 0.0.4, and an
 * HTTP listener (libmicrohttpd, the same TLS, mutual TLS, bearer token and
 * slow-client handling as OTLP/HTTP) that serves what a callback writes.
 *
 *   GET /metrics   200, text/plain; version=0.0.4 (the callback's page)
 *   GET /healthz   200 "ok"
 *   401 / 403      client certificate missing / rejected (with a client
 *                  CA), bearer token missing or wrong (with a token); both
 *                  paths are protected
 *   404            other paths; 405 other methods (Allow: GET, HEAD)
 *   (none)         a request with a body: the connection is closed
 *   500            the callback failed (its message)
 * The page is built per scrape into a buffer owned by the request: there is
 * no state shared between scrapes beyond what the callback reads. */
#ifndef OA_RECEIVER_METRICS_H
#define OA_RECEIVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlparrow/builder.h"
#include "otlparrow/common.h"

/* ------------------------------------------------------------ writer */

typedef enum oa_metric_type {
  OA_METRIC_COUNTER,
  OA_METRIC_GAUGE
} oa_metric_type;

typedef struct oa_metric_label {
  const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" */
  const char *value; /* any UTF-8; escaped as the format asks */
} oa_metric_label;

typedef struct oa_metrics_writer {
  oa_bytes *out;    /* appended to */
  char family[128]; /* the current family's name; "" before the first */
  oa_metric_type type;
} oa_metrics_writer;

void oa_metrics_writer_init(oa_metrics_writer *w, oa_bytes *out);

/* Starts a family: "# HELP name help" and "# TYPE name counter|gauge".
 * EINVAL for a name outside [a-zA-Z_:][a-zA-Z0-9_:]*, a counter not named
 * *_total, or a family already written to this page. */
int oa_metrics_family(oa_metrics_writer *w, const char *name,
                      oa_metric_type type, const char *help, oa_error *err);
/* One sample of the current family: "name{l="v",...} value". EINVAL before
 * any family, for a bad or repeated label name, or a negative counter. */
int oa_metrics_sample(oa_metrics_writer *w, const oa_metric_label *labels,
                      size_t n_labels, int64_t value, oa_error *err);
int oa_metrics_sample_double(oa_metrics_writer *w,
                             const oa_metric_label *labels, size_t n_labels,
                             double value, oa_error *err);
/* A family with a single sample. */
int oa_metrics_single(oa_metrics_writer *w, const char *name,
                      oa_metric_type type, const char *help,
                      const oa_metric_label *labels, size_t n_labels,
                      int64_t value, oa_error *err);

/* ---------------------------------------------------------- listener */

/* Fills a page; an error is answered 500 with err's message. Called from
 * the listener's threads, one scrape at a time per thread. */
typedef int (*oa_metrics_fill_fn)(void *ctx, oa_metrics_writer *w,
                                  oa_error *err);

typedef struct oa_metrics_http_options {
  /* "host:port", "[v6]:port", ":port" (all interfaces) or a bare "port"
   * (loopback); port 0 picks a free port. Default "127.0.0.1:9464". */
  const char *listen;
  const char *tls_cert_file; /* PEM; both set turns on HTTPS */
  const char *tls_key_file;
  const char *tls_client_ca;        /* PEM CA: mutual TLS (needs HTTPS) */
  const char *auth_token;           /* non-empty: "Authorization: Bearer X" */
  unsigned threads;                 /* default 1 */
  unsigned connection_limit;        /* default 64 */
  unsigned connection_timeout_s;    /* idle, default 10 */
  unsigned request_timeout_s;       /* whole request, default 10 */
  unsigned per_ip_connection_limit; /* default 0: none */
  oa_metrics_fill_fn fill;          /* required */
  void *fill_ctx;
} oa_metrics_http_options;

void oa_metrics_http_options_init(oa_metrics_http_options *o);

typedef struct oa_metrics_http oa_metrics_http;

/* Starts serving (own threads) before returning; strings are copied. */
int oa_metrics_http_start(oa_metrics_http **out,
                          const oa_metrics_http_options *o, oa_error *err);
/* Closes every connection and frees m (NULL: no-op). */
void oa_metrics_http_stop(oa_metrics_http *m);
int oa_metrics_http_port(const oa_metrics_http *m);
/* Scrapes answered 200 on /metrics so far. */
int64_t oa_metrics_http_scrapes(const oa_metrics_http *m);

#endif
