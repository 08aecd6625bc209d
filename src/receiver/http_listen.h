/* The parts of an HTTP listener over libmicrohttpd that the OTLP/HTTP
 * receiver and the metrics listener share: binding ("host:port",
 * "[v6]:port", ":port"), HTTPS and mutual TLS (PEM files, the client
 * certificate checked against the client CA at the first request of a
 * connection), bearer tokens compared in constant time, a whole-request
 * deadline against slow clients (a reaper thread cuts late connections),
 * and connection limits. The request handling stays with the caller. */
#ifndef OA_RECEIVER_HTTP_LISTEN_H
#define OA_RECEIVER_HTTP_LISTEN_H

#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "otlparrow/common.h"

typedef struct oa_http_listener oa_http_listener;

typedef struct oa_http_listener_options {
  const char *what;   /* names the listener in error messages: "OTLP/HTTP" */
  const char *listen; /* required */
  /* PEM files; both set turns on HTTPS; tls_client_ca (needs HTTPS) asks
   * for client certificates signed by it (see oa_http_listener_check_peer) */
  const char *tls_cert_file;
  const char *tls_key_file;
  const char *tls_client_ca;
  const char *auth_token;        /* non-empty: see oa_http_listener_token_ok */
  unsigned threads;              /* worker threads, 0: 2 */
  unsigned connection_timeout_s; /* idle connections, 0: 30 */
  unsigned connection_limit;     /* 0: 1000 */
  unsigned request_timeout_s;    /* whole request, 0: 60 */
  unsigned per_ip_connection_limit; /* 0: none */
  size_t connection_memory_limit;   /* per connection, 0: 128 KiB */
  MHD_AccessHandlerCallback handler;
  MHD_RequestCompletedCallback completed; /* may be NULL */
  void *cls;                              /* of handler and completed */
} oa_http_listener_options;

/* Binds and starts serving. *out is set before the daemon starts, so a
 * handler may use the pointer it was stored into; NULL again on failure.
 * Strings are copied. */
int oa_http_listener_start(oa_http_listener **out,
                           const oa_http_listener_options *o, oa_error *err);
/* Stops accepting new connections (requests on open ones continue). */
void oa_http_listener_quiesce(oa_http_listener *l);
/* Closes every connection, stops the threads and frees l (NULL: no-op). */
void oa_http_listener_stop(oa_http_listener *l);
int oa_http_listener_port(const oa_http_listener *l);
bool oa_http_listener_tls(const oa_http_listener *l);
/* Connections shut down so far because their request was late. */
int64_t oa_http_listener_cut_connections(const oa_http_listener *l);

/* The request deadline of c: start (true) when a request may begin, off
 * (false) while the answer is being sent. */
void oa_http_listener_deadline(oa_http_listener *l, struct MHD_Connection *c,
                               bool start);
/* True without a configured token, or when c's request carries
 * "Authorization: Bearer <token>" (compared in constant time). */
bool oa_http_listener_token_ok(const oa_http_listener *l,
                               struct MHD_Connection *c);
/* Mutual TLS: 0 without a client CA or when c's client certificate is
 * trusted; else 401 (no certificate) or 403 (rejected) with msg saying why. */
unsigned oa_http_listener_check_peer(const oa_http_listener *l,
                                     struct MHD_Connection *c, char *msg,
                                     size_t cap);

#endif
