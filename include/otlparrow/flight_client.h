/* otlparrow: an Arrow Flight client (arrow.flight.protocol.FlightService)
 * over gRPC core.
 *
 * - DoPut encodes batches once with the IPC encoder and sends FlightData
 *   whose bodies reference the batches' buffers (no copy unless
 *   compressed); record batches larger than max_message_size are sent as
 *   row slices. PutResults are read while sending.
 * - DoGet decodes FlightData into batches whose buffers point into the
 *   received messages (one copy at most, made so that bodies are aligned).
 * - Every call carries "authorization: Bearer <token>" when a token is set.
 * - Errors: a call that ends with a non-OK gRPC status returns an errno-style
 *   code (see oa_flight_client_last_status for the exact status; EACCES for
 *   UNAUTHENTICATED/PERMISSION_DENIED, ENOENT NOT_FOUND, EINVAL
 *   INVALID_ARGUMENT, EAGAIN UNAVAILABLE, E2BIG RESOURCE_EXHAUSTED,
 *   ETIMEDOUT DEADLINE_EXCEEDED, ENOTSUP UNIMPLEMENTED, EIO others) and err
 *   names the method, the status and the server's message.
 *
 * Threading: one client runs one call at a time (it records the last
 * status). For parallel calls over the same connection, make more clients
 * with oa_flight_client_new_shared and use one per thread.
 */
#ifndef OTLPARROW_FLIGHT_CLIENT_H
#define OTLPARROW_FLIGHT_CLIENT_H

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"
#include "otlparrow/ipc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct oa_flight_client oa_flight_client;

typedef struct oa_flight_client_options {
  const char *token; /* bearer token for every call; NULL: none */
  /* TLS (for grpc+tls:// URIs): PEM text, or files when the text is NULL.
   * No CA: the system roots. Certificate and key: mTLS. */
  const char *tls_ca_pem, *tls_cert_pem, *tls_key_pem;
  const char *tls_ca_file, *tls_cert_file, *tls_key_file;
  const char *tls_server_name; /* name override for the certificate check */
  /* Record batch messages larger than this are sent as row slices (DoPut).
   * Default 16 MiB; -1: never split. */
  int64_t max_message_size;
  int64_t max_recv_message_size; /* default -1: unlimited */
  int64_t deadline_ms;           /* per call; default 60000; <= 0: none */
  int64_t keepalive_ms;          /* keepalive pings; 0 (default): off */
  /* DoGet decoding: NULL for the defaults (full validation). Copied. */
  const oa_ipc_read_options *read;
} oa_flight_client_options;

void oa_flight_client_options_init(oa_flight_client_options *o);

/* uri: "grpc://HOST:PORT", "grpc+tcp://HOST:PORT", "grpc+tls://HOST:PORT",
 * "grpc+unix:///path" or plain "HOST:PORT". o may be NULL. The connection
 * is made lazily, by the first call. */
int oa_flight_client_new(oa_flight_client **out, const char *uri,
                         const oa_flight_client_options *o, oa_error *err);
/* A second client on the same connection (and options) as c. */
int oa_flight_client_new_shared(oa_flight_client **out, oa_flight_client *c,
                                oa_error *err);
void oa_flight_client_free(oa_flight_client *c);

/* The gRPC status code of the last call (0 OK), or -1 when it failed
 * before the server could answer (bad arguments, encoding errors). */
int oa_flight_client_last_status(const oa_flight_client *c);
/* The server's status message of the last call ("" if none). */
const char *oa_flight_client_last_message(const oa_flight_client *c);
/* google.rpc.RetryInfo retry_delay of the last call's status details in
 * milliseconds, or -1 when the server sent none. */
int64_t oa_flight_client_last_retry_delay_ms(const oa_flight_client *c);
/* The name of a gRPC status code ("UNAVAILABLE"). */
const char *oa_flight_status_name(int code);

/* ---------------------------------------------------------------- DoPut */

typedef struct oa_flight_put_result {
  int64_t messages; /* FlightData sent (schema, dictionaries, batches) */
  int64_t batches;  /* record batch messages (a split batch: each slice) */
  int64_t acks;     /* PutResults received */
  int64_t bytes;    /* FlightData bytes sent */
} oa_flight_put_result;

/* Called for every PutResult with its app_metadata (DoPut of this client). */
typedef void (*oa_flight_ack_fn)(void *ctx, const uint8_t *app_metadata,
                                 int64_t len);
void oa_flight_client_set_ack_handler(oa_flight_client *c, oa_flight_ack_fn fn,
                                      void *ctx);

/* One DoPut stream to the PATH descriptor `path`: the schema, then the n
 * batches (dictionaries as the encoder decides). wopt: IPC compression etc.
 * (NULL: none). app_metadata: NULL or n buffers, sent with each batch (with
 * every slice of a split batch). Waits for the server's status. res may be
 * NULL. */
int oa_flight_client_do_put(oa_flight_client *c, const char *path,
                            oa_schema *schema, const oa_batch *batches,
                            int64_t n, const oa_ipc_write_options *wopt,
                            const oa_buffer *app_metadata,
                            oa_flight_put_result *res, oa_error *err);

/* One DoPut stream of messages encoded earlier (oa_ipc_encoder_batch_bounded
 * and oa_ipc_message_share, or oa_ipc_message_read from stored bytes):
 * msgs[0] is the schema, then dictionaries and record batches in stream
 * order; a second schema is refused (EINVAL). app_metadata (NULL: none) is
 * sent with every record batch message. Bodies are sent from the messages'
 * segments without a copy. Waits for the server's status. */
int oa_flight_client_do_put_messages(oa_flight_client *c, const char *path,
                                     const oa_ipc_message *msgs, int64_t n,
                                     const oa_buffer *app_metadata,
                                     oa_flight_put_result *res, oa_error *err);

/* ---------------------------------------------------------------- DoGet */

typedef struct oa_flight_get_result {
  int64_t messages; /* FlightData received */
  int64_t batches;  /* record batches */
  int64_t rows;
  int64_t bytes; /* FlightData bytes received */
} oa_flight_get_result;

/* Gets each record batch (batch->schema is the stream's schema). The
 * callback may keep the batch by moving it out (oa_batch_move); a non-zero
 * return cancels the call and is returned. */
typedef int (*oa_flight_batch_fn)(void *ctx, oa_batch *batch, oa_error *err);

int oa_flight_client_do_get(oa_flight_client *c, const void *ticket,
                            int64_t ticket_len, oa_flight_batch_fn fn,
                            void *ctx, oa_flight_get_result *res,
                            oa_error *err);
/* Collects every batch: *schema (new reference, NULL when the stream had
 * none) and a malloc'ed array of *n batches. Free with
 * oa_flight_batches_free. */
int oa_flight_client_do_get_all(oa_flight_client *c, const void *ticket,
                                int64_t ticket_len, oa_schema **schema,
                                oa_batch **batches, int64_t *n, oa_error *err);
void oa_flight_batches_free(oa_schema *schema, oa_batch *batches, int64_t n);

/* ---------------------------------------------- info, actions, listing */

typedef struct oa_flight_client_info {
  char path[256];    /* the descriptor's path elements joined with '/' */
  oa_schema *schema; /* new reference; NULL if the info had none */
  int64_t total_records, total_bytes;
  int64_t n_endpoints;
  oa_bytes ticket;    /* the first endpoint's ticket */
  char location[256]; /* its first location URI, "" if none */
} oa_flight_client_info;

void oa_flight_client_info_init(oa_flight_client_info *info);
void oa_flight_client_info_reset(oa_flight_client_info *info);

/* GetFlightInfo of the PATH descriptor `path` into info (reset first; may
 * be NULL to only check that it exists). */
int oa_flight_client_get_flight_info(oa_flight_client *c, const char *path,
                                     oa_flight_client_info *info,
                                     oa_error *err);

/* ListFlights (empty criteria): fn for each FlightInfo. */
typedef int (*oa_flight_info_fn)(void *ctx, const oa_flight_client_info *info,
                                 oa_error *err);
int oa_flight_client_list_flights(oa_flight_client *c, oa_flight_info_fn fn,
                                  void *ctx, oa_error *err);

/* DoAction: fn (may be NULL) for the body of each Result. */
typedef int (*oa_flight_result_fn)(void *ctx, const uint8_t *body, int64_t len,
                                   oa_error *err);
int oa_flight_client_do_action(oa_flight_client *c, const char *type,
                               const void *body, int64_t body_len,
                               oa_flight_result_fn fn, void *ctx,
                               oa_error *err);

#ifdef __cplusplus
}
#endif

#endif
