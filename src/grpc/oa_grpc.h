/* otlparrow: a small event-loop layer over the gRPC core C library, shared by
 * the OTLP/gRPC receiver, the Arrow Flight service and later services.
 *
 * Model
 * - One oa_grpc_server owns one grpc_server, its listeners and N event-loop
 *   threads. Each thread polls its own completion queue; every method keeps
 *   calls requested on every queue, so a call is bound to one thread for its
 *   whole life and all its callbacks run on that thread.
 *   oa_grpc_call_worker() gives that thread's index (0..threads-1), which is
 *   how a service keeps per-thread state (e.g. one OTLP decoder per thread)
 *   without locks.
 * - Callbacks of one call are serialized (a per-call recursive mutex is held
 *   while they run); the oa_grpc_call_* functions may be called from inside
 *   a callback or from any other thread.
 * - Unary methods: the handler gets the request message and answers with
 *   oa_grpc_call_reply (message + OK) or oa_grpc_call_finish (a status),
 *   either before returning or later from any thread.
 * - Streaming methods (client, server or bidi): on_start runs when the call
 *   arrives; oa_grpc_call_read asks for the next message (on_message gets it,
 *   or NULL when the client half-closed); oa_grpc_call_write sends one
 *   message (at most one write outstanding: EBUSY otherwise; on_sent reports
 *   completion); oa_grpc_call_finish sends the status (after a pending write
 *   completes). on_done runs last, once the call is over (status sent or the
 *   client cancelled / the deadline expired) and no operation is pending;
 *   the call object is freed right after on_done returns.
 * - Received messages are handed over as a flat view (data, size): when gRPC
 *   hands a single uncompressed slice the view points into it (zero copy),
 *   otherwise the layer copies once (into a per-thread reusable buffer, or
 *   an aligned region: see oa_grpc_server_set_align). The view is valid
 *   during the callback; oa_grpc_message_region() returns a reference-counted
 *   oa_region that keeps the bytes alive longer (e.g. for Arrow buffers that
 *   point into a received FlightData message).
 * - Messages to send are a list of grpc_slices (ownership passes to the
 *   layer). oa_grpc_slice_from_region() makes a slice that references an
 *   oa_region without copying (grpc_slice_new_with_user_data), so Arrow
 *   buffers go out as they are.
 * - Limits: the server-wide receive limit is enforced by gRPC core (it
 *   answers RESOURCE_EXHAUSTED before the handler sees anything);
 *   max_connections bounds the open connections (the layer closes extra
 *   ones as they are accepted) and max_concurrent_streams the calls per
 *   connection;
 *   a method may set a lower limit, checked by the layer per message with
 *   the same status. The core limit is the largest of the server's and the
 *   methods' limits, fixed when the first listener is added: register
 *   methods first.
 * - gRPC message compression (gzip, deflate) is handled by gRPC core: the
 *   handler sees decompressed bytes, and the receive limit applies to the
 *   decompressed size.
 * - Auth: with options.auth_token set, every call must carry metadata
 *   "authorization: Bearer <token>" (UNAUTHENTICATED otherwise), except on
 *   methods registered with skip_auth.
 * - Shutdown: oa_grpc_server_shutdown stops accepting calls, lets in-flight
 *   calls finish until the grace period ends, then cancels what remains,
 *   stops the threads and returns. Unregistered methods get UNIMPLEMENTED.
 *
 * All functions return 0 or an errno-style code and fill err (may be NULL).
 */
#ifndef OA_GRPC_H
#define OA_GRPC_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/status.h>

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct oa_grpc_server oa_grpc_server;
typedef struct oa_grpc_call oa_grpc_call;

typedef struct oa_grpc_server_options {
  int threads;                   /* event-loop threads, default 2 */
  int64_t max_recv_message_size; /* bytes, default 4 MiB; -1: unlimited */
  int64_t max_send_message_size; /* bytes, default -1: unlimited */
  const char *auth_token;        /* NULL: no auth (copied) */
  int64_t shutdown_grace_ms;     /* default 5000 */
  /* Concurrent calls per client connection (HTTP/2 streams); 0: default
   * 100; -1: gRPC's own (unlimited). */
  int max_concurrent_streams;
  /* A message write that the client does not take within this time (it
   * stopped reading: HTTP/2 flow control holds the write) cancels the call
   * with DEADLINE_EXCEEDED, releasing what the call holds. 0: default
   * 60000; -1: never. */
  int64_t write_timeout_ms;
  /* Client connections open at once over all listeners. A connection over
   * it is closed as soon as it is accepted, before the handshake (its calls
   * fail UNAVAILABLE; the client retries later); connections already open
   * keep working. 0: default 1024; -1: unlimited; at most 2^20. */
  int max_connections;
  /* Bytes gRPC core may hold for this server's connections (read buffers
   * and messages being received: core reads a whole message before it
   * checks its size, whatever the receive limit). Near it gRPC shrinks
   * flow-control windows; over it, it cancels streams (RESOURCE_EXHAUSTED,
   * "RST_STREAM with error code 11"), not necessarily the largest one.
   * Must leave room for the largest accepted message(s). 0: none
   * (gRPC's default, unbounded). */
  int64_t memory_quota;
} oa_grpc_server_options;

void oa_grpc_server_options_default(oa_grpc_server_options *o);

/* TLS for a listener. PEM text (not file names); NULL/empty client_ca:
 * no client certificates; with client_ca, clients must present a
 * certificate signed by it (mTLS). */
typedef struct oa_grpc_tls {
  const char *cert_chain_pem;
  const char *private_key_pem;
  const char *client_ca_pem;
} oa_grpc_tls;

/* For copied messages: fn gets the first received bytes and returns the
 * offset of the byte that should land on an aligned boundary (e.g. the
 * FlightData body), or -1. */
typedef int64_t (*oa_grpc_align_fn)(const uint8_t *prefix, int64_t len);

typedef struct oa_grpc_method_options {
  int64_t max_recv_message_size; /* 0: the server's; -1: unlimited */
  bool skip_auth;                /* e.g. a Handshake method */
} oa_grpc_method_options;

/* A received message (see the model above). */
typedef struct oa_grpc_message {
  const uint8_t *data;
  int64_t size;
  grpc_byte_buffer *bb; /* as gRPC delivered it (owned by the layer) */
  oa_region *region;    /* private: lazily made by oa_grpc_message_region */
  grpc_slice slice;     /* private: the single slice, when zero copy */
  bool zero_copy;       /* data points into bb's only slice */
} oa_grpc_message;

/* A reference to a region that holds msg->data (retained; release it with
 * oa_region_release). NULL on allocation failure. */
oa_region *oa_grpc_message_region(oa_grpc_message *msg);

/* A status to finish a call with. details: the value of
 * grpc-status-details-bin (a serialized google.rpc.Status), or NULL. */
typedef struct oa_grpc_status {
  grpc_status_code code;
  const char *message; /* NULL: "" */
  const uint8_t *details;
  size_t details_len;
} oa_grpc_status;

/* ------------------------------------------------------------ handlers */

/* A unary request. msg is valid until the handler returns. The handler must
 * (now or later) call oa_grpc_call_reply or oa_grpc_call_finish once. */
typedef void (*oa_grpc_unary_fn)(void *ctx, oa_grpc_call *call,
                                 oa_grpc_message *msg);

typedef enum oa_grpc_stream_kind {
  OA_GRPC_CLIENT_STREAMING = 1,
  OA_GRPC_SERVER_STREAMING = 2,
  OA_GRPC_BIDI_STREAMING = 3
} oa_grpc_stream_kind;

typedef struct oa_grpc_stream_handler {
  /* The call arrived (metadata readable). Typically calls
   * oa_grpc_call_read. */
  void (*on_start)(void *ctx, oa_grpc_call *call);
  /* A message asked for by oa_grpc_call_read; msg is NULL when the client
   * half-closed (no more messages) or the call failed. */
  void (*on_message)(void *ctx, oa_grpc_call *call, oa_grpc_message *msg);
  /* The write finished (ok false: the call is broken; finish or wait for
   * on_done). May be NULL. */
  void (*on_sent)(void *ctx, oa_grpc_call *call, bool ok);
  /* Last callback: cancelled is true when the call ended without our status
   * reaching the client (cancel, deadline, broken connection). Release the
   * call's user state here. May be NULL. */
  void (*on_done)(void *ctx, oa_grpc_call *call, bool cancelled);
} oa_grpc_stream_handler;

/* ------------------------------------------------------------ server */

int oa_grpc_server_new(oa_grpc_server **out, const oa_grpc_server_options *o,
                       oa_error *err);
/* Stops it if running (oa_grpc_server_shutdown) and frees everything. */
void oa_grpc_server_free(oa_grpc_server *srv);

/* path: "/package.Service/Method". mo may be NULL. Before start. */
int oa_grpc_server_register_unary(oa_grpc_server *srv, const char *path,
                                  oa_grpc_unary_fn fn, void *ctx,
                                  const oa_grpc_method_options *mo,
                                  oa_error *err);
int oa_grpc_server_register_stream(oa_grpc_server *srv, const char *path,
                                   oa_grpc_stream_kind kind,
                                   const oa_grpc_stream_handler *h, void *ctx,
                                   const oa_grpc_method_options *mo,
                                   oa_error *err);
/* For a registered method (before start): a message gRPC hands as several
 * slices is copied once into a fresh region where the byte at align's
 * offset lands on a 64-byte boundary (the region then outlives the callback
 * at no extra cost). Without it such messages are gathered into a
 * per-thread buffer reused by every call of that thread
 * (oa_grpc_message_region then copies). ENOENT if path is not registered. */
int oa_grpc_server_set_align(oa_grpc_server *srv, const char *path,
                             oa_grpc_align_fn align, oa_error *err);

/* For a registered method (before the first listener): the message that
 * refuses a message over its receive limit (RESOURCE_EXHAUSTED) names
 * hint as the setting that holds the limit, e.g. a command-line flag.
 * Such a method's limit is then checked by the layer rather than gRPC
 * core (both see the whole message first). ENOENT if path is not
 * registered. */
int oa_grpc_server_set_limit_hint(oa_grpc_server *srv, const char *path,
                                  const char *hint, oa_error *err);

/* Binds addr ("127.0.0.1:4317", "[::1]:0", "unix:/path"); tls NULL for
 * plaintext. Port 0 picks a free port; *port (may be NULL) gets the bound
 * port. EADDRINUSE/EINVAL with a message when binding fails. Before start. */
int oa_grpc_server_add_listener(oa_grpc_server *srv, const char *addr,
                                const oa_grpc_tls *tls, int *port,
                                oa_error *err);

/* Starts the event-loop threads. */
int oa_grpc_server_start(oa_grpc_server *srv, oa_error *err);
/* Drains: no new calls, in-flight calls get up to grace_ms (< 0: the
 * option's shutdown_grace_ms) to finish, the rest are cancelled; then the
 * threads stop. Safe to call twice; not from a callback. */
void oa_grpc_server_shutdown(oa_grpc_server *srv, int64_t grace_ms);

int oa_grpc_server_threads(const oa_grpc_server *srv);

/* Counters (for stats and tests). */
typedef struct oa_grpc_server_stats {
  int64_t calls_started;
  int64_t calls_finished; /* on_done reached (any outcome) */
  int64_t calls_active;
  int64_t writes_timed_out;    /* calls cancelled by write_timeout_ms */
  int64_t connections_active;  /* open now (with max_connections) */
  int64_t connections_refused; /* closed for max_connections */
} oa_grpc_server_stats;
void oa_grpc_server_get_stats(oa_grpc_server *srv, oa_grpc_server_stats *st);

/* ------------------------------------------------------------ calls */

/* The thread index the call is bound to (0..threads-1). */
int oa_grpc_call_worker(const oa_grpc_call *call);
const char *oa_grpc_call_method(const oa_grpc_call *call);
/* The first value of a request metadata key (lowercase), NULL if absent;
 * *len gets its length (values are not NUL-terminated). */
const char *oa_grpc_call_metadata(const oa_grpc_call *call, const char *key,
                                  size_t *len);
gpr_timespec oa_grpc_call_deadline(const oa_grpc_call *call);
/* Per-call user pointer (NULL initially). */
void oa_grpc_call_set_user(oa_grpc_call *call, void *user);
void *oa_grpc_call_user(const oa_grpc_call *call);
oa_grpc_server *oa_grpc_call_server(const oa_grpc_call *call);

/* Adds response initial metadata (copied); before the first write/reply. */
int oa_grpc_call_add_initial_metadata(oa_grpc_call *call, const char *key,
                                      const char *value, size_t value_len,
                                      oa_error *err);

/* Streaming: asks for the next message (EBUSY if a read is pending, EPIPE if
 * the client half-closed or the call is over). */
int oa_grpc_call_read(oa_grpc_call *call, oa_error *err);
/* Sends one message made of n slices (their references pass to the layer,
 * also on failure). EBUSY if a write is pending, EPIPE if finished. */
int oa_grpc_call_write(oa_grpc_call *call, grpc_slice *slices, size_t n,
                       oa_error *err);
/* Sends the status and ends the call (after a pending write completes).
 * EPIPE if already finished. */
int oa_grpc_call_finish(oa_grpc_call *call, const oa_grpc_status *st,
                        oa_error *err);
/* Shorthand: finish with code and printf-style message. */
int oa_grpc_call_finish_code(oa_grpc_call *call, grpc_status_code code,
                             const char *fmt, ...) OA_PRINTF(3, 4);
/* Unary: one response message and OK, in one batch. */
int oa_grpc_call_reply(oa_grpc_call *call, grpc_slice *slices, size_t n,
                       oa_error *err);
/* Convenience: reply with a copy of bytes. */
int oa_grpc_call_reply_bytes(oa_grpc_call *call, const void *data, size_t len,
                             oa_error *err);

/* ------------------------------------------------------------ slices */

/* A slice referencing [data, data+len) inside region (retained; released
 * when gRPC is done with the slice). No copy. */
grpc_slice oa_grpc_slice_from_region(oa_region *region, const void *data,
                                     size_t len);
/* A slice that takes ownership of malloc'ed data (freed with free). */
grpc_slice oa_grpc_slice_take(void *data, size_t len);

/* ------------------------------------------------------------ status */

/* Appends a serialized google.rpc.Status { code, message, details: [Any
 * google.rpc.RetryInfo { retry_delay }] } to out: the value for
 * grpc-status-details-bin on a retryable error (e.g. UNAVAILABLE when a
 * memory limit is reached). retry_delay_ms < 0: no RetryInfo detail. */
int oa_grpc_status_details_retry(oa_bytes *out, grpc_status_code code,
                                 const char *message, int64_t retry_delay_ms,
                                 oa_error *err);

/* Reads a PEM file into a NUL-terminated malloc'ed string (for TLS). */
int oa_grpc_read_pem(const char *path, char **out, oa_error *err);

/* ============================================================ client
 *
 * Blocking client calls over gRPC core (src/grpc/client.c).
 *
 * Threading contract
 * - An oa_grpc_channel is thread-safe and reference-counted: any number of
 *   threads may start calls on it at once. Each channel is its own HTTP/2
 *   connection (channels do not share subchannels).
 * - A call (oa_grpc_stream, or the blocking oa_grpc_unary) owns a private
 *   pluck completion queue, so it blocks only its caller and needs no
 *   event-loop thread. One call is used by one thread at a time.
 * - oa_grpc_unary_op is the asynchronous unary form for load generators:
 *   the caller supplies a completion queue (usually one "next" queue per
 *   thread) and completes the op when its tag comes out.
 * - gRPC core delivers the status only after the incoming stream was read
 *   to its end: oa_grpc_stream_finish drains what is left first.
 */

typedef struct oa_grpc_channel oa_grpc_channel;

typedef struct oa_grpc_channel_options {
  bool tls;                      /* TLS (also implied by any PEM below) */
  const char *ca_pem;            /* roots; NULL: gRPC's default roots */
  const char *cert_pem;          /* client certificate chain (mTLS) */
  const char *key_pem;           /* its private key */
  const char *server_name;       /* TLS target name override, NULL: the host */
  int64_t max_send_message_size; /* 0: gRPC default; -1: unlimited */
  int64_t max_recv_message_size; /* 0: gRPC default (4 MiB); -1: unlimited */
  int64_t keepalive_time_ms;     /* 0: off */
  int64_t keepalive_timeout_ms;  /* 0: gRPC default (20 s) */
  bool gzip;                     /* compress requests with gzip */
} oa_grpc_channel_options;

void oa_grpc_channel_options_init(oa_grpc_channel_options *o);

/* target: "host:port" (as gRPC core takes it). o may be NULL. */
int oa_grpc_channel_new(oa_grpc_channel **out, const char *target,
                        const oa_grpc_channel_options *o, oa_error *err);
void oa_grpc_channel_retain(oa_grpc_channel *ch);
/* Drops a reference; the last one destroys the channel. */
void oa_grpc_channel_release(oa_grpc_channel *ch);
grpc_channel *oa_grpc_channel_raw(oa_grpc_channel *ch);

/* What a call ended with. details: grpc-status-details-bin (a serialized
 * google.rpc.Status), empty if none. */
typedef struct oa_grpc_result {
  grpc_status_code code;
  char message[512];
  oa_bytes details;
} oa_grpc_result;

void oa_grpc_result_init(oa_grpc_result *r);
void oa_grpc_result_reset(oa_grpc_result *r);

/* Per-call settings. */
typedef struct oa_grpc_call_options {
  int64_t deadline_ms;       /* <= 0: none */
  const char *authorization; /* value of "authorization" metadata or NULL */
} oa_grpc_call_options;

/* A unary call: request slices (references pass to the layer, also on
 * failure) -> *resp (appended; may be NULL) and the status in *res. Returns
 * 0 when the call ran (whatever its status), an errno code when it could
 * not be started. */
int oa_grpc_unary(oa_grpc_channel *ch, const char *path, grpc_slice *slices,
                  size_t n, const oa_grpc_call_options *co, oa_bytes *resp,
                  oa_grpc_result *res, oa_error *err);

/* The asynchronous unary form: start, then when `tag` comes out of cq
 * (success or not), complete. The op must stay put in between. */
typedef struct oa_grpc_unary_op {
  grpc_call *call;
  grpc_byte_buffer *send, *recv;
  grpc_metadata_array init_md, trail_md;
  grpc_metadata md;
  bool has_md;
  grpc_status_code code;
  grpc_slice details;
} oa_grpc_unary_op;

int oa_grpc_unary_start(oa_grpc_unary_op *op, oa_grpc_channel *ch,
                        grpc_completion_queue *cq, const char *path,
                        grpc_slice *slices, size_t n,
                        const oa_grpc_call_options *co, void *tag,
                        oa_error *err);
/* Fills res (may be NULL) and resp (may be NULL; appended) and releases
 * the op's call. Returns the status code. */
grpc_status_code oa_grpc_unary_complete(oa_grpc_unary_op *op, oa_bytes *resp,
                                        oa_grpc_result *res);

/* A streaming call (client, server or bidi) driven by blocking calls. */
typedef struct oa_grpc_stream oa_grpc_stream;

int oa_grpc_stream_start(oa_grpc_stream **out, oa_grpc_channel *ch,
                         const char *path, const oa_grpc_call_options *co,
                         oa_error *err);
/* Sends one message of n slices (references pass to the layer, also on
 * failure) and waits until gRPC took it. EPIPE when the call is over (the
 * server finished or the deadline expired): oa_grpc_stream_finish tells
 * why. */
int oa_grpc_stream_write(oa_grpc_stream *s, grpc_slice *slices, size_t n,
                         oa_error *err);
/* Half-closes (no more messages from the client). */
int oa_grpc_stream_close_send(oa_grpc_stream *s, oa_error *err);
/* Waits for the next message: *msg points to it (*got false and *msg NULL
 * at the end of the stream). It belongs to the stream and stays valid until
 * the next read, finish or free; oa_grpc_message_region keeps its bytes
 * longer. Zero-copy when gRPC hands a single uncompressed slice; otherwise
 * one copy into a heap region (see oa_grpc_stream_set_align). msg may be
 * NULL (the message is dropped). */
int oa_grpc_stream_read(oa_grpc_stream *s, oa_grpc_message **msg, bool *got,
                        oa_error *err);
/* Like read, but returns at once: *ready false when no message has
 * arrived yet (a read stays pending). */
int oa_grpc_stream_try_read(oa_grpc_stream *s, oa_grpc_message **msg,
                            bool *ready, bool *got, oa_error *err);
/* For copied messages: the byte at fn's offset lands on an 8-byte
 * boundary (oa_grpc_align_fn above). */
void oa_grpc_stream_set_align(oa_grpc_stream *s, oa_grpc_align_fn fn);
/* Reads and drops whatever is left, then receives the status into res. */
int oa_grpc_stream_finish(oa_grpc_stream *s, oa_grpc_result *res,
                          oa_error *err);
/* Cancels the call if not finished and frees everything. */
void oa_grpc_stream_free(oa_grpc_stream *s);

/* Releases what a received message holds (safe on a zeroed message). */
void oa_grpc_client_message_reset(oa_grpc_message *msg);

/* errno-style code for a gRPC status (OK 0, INVALID_ARGUMENT EINVAL,
 * NOT_FOUND ENOENT, ALREADY_EXISTS EEXIST, UNAUTHENTICATED and
 * PERMISSION_DENIED EACCES, RESOURCE_EXHAUSTED E2BIG, UNAVAILABLE EAGAIN,
 * DEADLINE_EXCEEDED ETIMEDOUT, UNIMPLEMENTED ENOTSUP, CANCELLED ECANCELED,
 * others EIO). */
int oa_grpc_status_errno(grpc_status_code code);
const char *oa_grpc_status_name(grpc_status_code code);

#ifdef __cplusplus
}
#endif

#endif
