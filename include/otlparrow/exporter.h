/* otlparrow: the exporter, a C API that sends spans to an Arrow Flight
 * server (otlparrow serve, or any Flight backend that accepts DoPut).
 *
 * A program fills oa_span records and calls oa_exporter_add. Under a short
 * lock each span is copied, with everything it points to, into the open
 * batch's staging arena (no allocation per value; resources and scopes are
 * referenced, not copied), so the record and its strings may be reused as
 * soon as add returns. When a batch reaches batch_size spans, or
 * flush_interval_ms after its first span, it is sealed and queued; a sender
 * thread builds the columnar span batch straight from the staged records
 * (the schema of otlp.h, docs/schema.md: the same batch the OTLP decoder
 * makes of the equivalent request, off the application's thread) and
 * encodes it once as Arrow IPC messages (compressed as configured); sender
 * threads (connections x max_in_flight) send those messages, without
 * re-encoding or copying, as one DoPut stream to the PATH
 * descriptor `dataset`, with app_metadata "oa-batch-id:<32 lowercase hex>" (a
 * random 128-bit id chosen when the batch is sealed, kept across retries and
 * replays so the server can drop duplicates). One stream per batch keeps the
 * retry unit equal to the dedup unit; dictionaries are therefore sent whole
 * with each batch.
 *
 * Failures: retryable gRPC statuses (UNAVAILABLE, DEADLINE_EXCEEDED,
 * ABORTED, CANCELLED, and RESOURCE_EXHAUSTED when the server sent a
 * RetryInfo) are retried with exponential backoff and jitter, honouring the
 * server's RetryInfo delay, until retry.max_elapsed_ms has passed since the
 * first attempt; then, or at once for any other status, the batch's spans
 * count as failed. Nothing is dropped silently: every span accepted ends as
 * exported, failed or dropped (DROP_OLDEST) in the metrics.
 *
 * Durability: with queue_dir set, every sealed batch is written to a file
 * in that directory (the batch's encoded messages as an Arrow IPC stream,
 * the very bytes DoPut sends, with length and CRC-32C framing; written to
 * a temporary name, fsync'ed, renamed) before
 * any sender may take it, and the file is removed only after the server
 * acknowledged the DoPut. oa_exporter_add_batch writes its batch before it
 * returns (a receiver may acknowledge its client then); batches sealed from
 * oa_exporter_add are written by the exporter's keeper thread. Spans still
 * in the open (unsealed) batch are in memory only: oa_exporter_flush seals
 * them and returns only after every sealed batch is on disk (even when it
 * then times out waiting for the server).
 *
 * Interval: the keeper thread (not a sender, which may be busy retrying)
 * seals the open batch flush_interval_ms after its first span.
 * oa_exporter_new replays the files left by a previous process (at-least-once;
 * the batch id makes it exactly-once on a deduplicating server). A torn or
 * corrupt file is reported through the log callback and the queue_corrupt
 * metric, and skipped (renamed to NAME.corrupt for inspection). Files of
 * earlier versions (an OTLP request) are replayed too. Spans the batch
 * builder refuses (invalid UTF-8, over the OTLP decoder's limits) count as
 * failed when their batch is built, and are not written.
 *
 * Threading: add, add_batch, flush and get_metrics may be called from any
 * thread. shutdown and free must not race with other calls.
 */
#ifndef OTLPARROW_EXPORTER_H
#define OTLPARROW_EXPORTER_H

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"
#include "otlparrow/ipc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- values */

typedef enum oa_anyvalue_type {
  OA_ANY_EMPTY = 0, /* unset AnyValue */
  OA_ANY_STRING,
  OA_ANY_BOOL,
  OA_ANY_INT,
  OA_ANY_DOUBLE,
  OA_ANY_BYTES,
  OA_ANY_ARRAY, /* v.array: n values */
  OA_ANY_KVLIST /* v.kvlist: n key/values */
} oa_anyvalue_type;

typedef struct oa_keyvalue oa_keyvalue;
typedef struct oa_anyvalue oa_anyvalue;

/* An OTLP AnyValue. Strings and bytes are (pointer, length): NUL is not
 * required; a string with len < 0 is NUL-terminated (strlen is used). */
struct oa_anyvalue {
  oa_anyvalue_type type;
  union {
    struct {
      const char *ptr;
      int64_t len;
    } str;
    bool b;
    int64_t i;
    double d;
    struct {
      const uint8_t *ptr;
      int64_t len;
    } bytes;
    struct {
      const oa_anyvalue *values;
      size_t n;
    } array;
    struct {
      const oa_keyvalue *kvs;
      size_t n;
    } kvlist;
  } v;
};

/* A key/value attribute (oa_kv is the schema metadata pair of arrow.h).
 * key is NUL-terminated. */
struct oa_keyvalue {
  const char *key;
  oa_anyvalue value;
};

/* Convenience initializers (C99 compound literals). */
#define OA_KV_STR(k, s)                                                        \
  ((oa_keyvalue){.key = (k),                                                   \
                 .value = {.type = OA_ANY_STRING, .v.str = {(s), -1}}})
#define OA_KV_INT(k, x)                                                        \
  ((oa_keyvalue){.key = (k), .value = {.type = OA_ANY_INT, .v.i = (x)}})
#define OA_KV_DOUBLE(k, x)                                                     \
  ((oa_keyvalue){.key = (k), .value = {.type = OA_ANY_DOUBLE, .v.d = (x)}})
#define OA_KV_BOOL(k, x)                                                       \
  ((oa_keyvalue){.key = (k), .value = {.type = OA_ANY_BOOL, .v.b = (x)}})

/* ------------------------------------------------- resource and scope */

/* A resource and an instrumentation scope are created once (their strings
 * and attributes are copied) and referenced by pointer from spans; they must
 * outlive every oa_exporter_add that references them (not the export:
 * staged batches hold a reference of their own, so oa_*_free may be called
 * right after the last add; the object goes when the last batch is built). */
typedef struct oa_resource oa_resource;
typedef struct oa_scope oa_scope;

/* service_name: convenience for the "service.name" attribute (NULL: taken
 * from attrs if present). schema_url may be NULL. */
int oa_resource_new(oa_resource **out, const char *service_name,
                    const oa_keyvalue *attrs, size_t n_attrs,
                    const char *schema_url, oa_error *err);
void oa_resource_free(oa_resource *r);

int oa_scope_new(oa_scope **out, const char *name, const char *version,
                 const oa_keyvalue *attrs, size_t n_attrs,
                 const char *schema_url, oa_error *err);
void oa_scope_free(oa_scope *s);

/* ----------------------------------------------------------------- spans */

typedef enum oa_span_kind {
  OA_SPAN_KIND_UNSPECIFIED = 0,
  OA_SPAN_KIND_INTERNAL = 1,
  OA_SPAN_KIND_SERVER = 2,
  OA_SPAN_KIND_CLIENT = 3,
  OA_SPAN_KIND_PRODUCER = 4,
  OA_SPAN_KIND_CONSUMER = 5
} oa_span_kind;

typedef enum oa_status_code {
  OA_STATUS_UNSET = 0,
  OA_STATUS_OK = 1,
  OA_STATUS_ERROR = 2
} oa_status_code;

typedef struct oa_span_event {
  int64_t time_unix_nano;
  const char *name;
  const oa_keyvalue *attrs;
  size_t n_attrs;
  uint32_t dropped_attributes_count;
} oa_span_event;

typedef struct oa_span_link {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  const char *trace_state; /* NULL: none */
  uint32_t flags;
  const oa_keyvalue *attrs;
  size_t n_attrs;
  uint32_t dropped_attributes_count;
} oa_span_link;

/* One span. Zero-initialize ({0}) and fill what you have; NULL strings are
 * empty. All pointed-to data is copied by oa_exporter_add. */
typedef struct oa_span {
  uint8_t trace_id[16]; /* must not be all zero */
  uint8_t span_id[8];   /* must not be all zero */
  uint8_t parent_span_id[8];
  bool has_parent; /* false: root span (parent_span_id null) */
  const char *trace_state;
  uint32_t flags;
  const char *name;
  oa_span_kind kind;
  int64_t start_time_unix_nano;
  int64_t end_time_unix_nano;
  oa_status_code status_code;
  const char *status_message;
  const oa_keyvalue *attrs;
  size_t n_attrs;
  uint32_t dropped_attributes_count;
  const oa_span_event *events;
  size_t n_events;
  uint32_t dropped_events_count;
  const oa_span_link *links;
  size_t n_links;
  uint32_t dropped_links_count;
  const oa_resource *resource; /* NULL: an empty resource */
  const oa_scope *scope;       /* NULL: an empty scope */
} oa_span;

/* ---------------------------------------------------------------- config */

typedef enum oa_overflow_policy {
  OA_OVERFLOW_BLOCK = 0,   /* add waits up to block_timeout_ms: ETIMEDOUT */
  OA_OVERFLOW_DROP_NEWEST, /* add refuses the new spans: EAGAIN, counted */
  OA_OVERFLOW_DROP_OLDEST  /* the oldest queued batch is dropped, counted */
} oa_overflow_policy;

typedef struct oa_retry_policy {
  int64_t initial_ms;     /* first backoff, default 100 */
  int64_t max_ms;         /* cap of one backoff, default 5000 */
  double multiplier;      /* default 2.0 */
  double jitter;          /* 0..1: backoff * (1 +- jitter*u), default 0.2 */
  int64_t max_elapsed_ms; /* give up after, default 60000; 0: never retry */
} oa_retry_policy;

/* Milliseconds on a monotonic clock (tests pass a fake one). */
typedef int64_t (*oa_exporter_clock_fn)(void *ctx);
/* Called for events worth a log line (queue corruption, give-ups). level:
 * 0 info, 1 warning, 2 error. Called from exporter threads. */
typedef void (*oa_exporter_log_fn)(void *ctx, int level, const char *msg);

typedef struct oa_exporter_config {
  const char *endpoint;      /* Flight URI: grpc://H:P, grpc+tls://H:P, H:P */
  const char *dataset;       /* DoPut PATH descriptor, default "spans" */
  int64_t batch_size;        /* spans per batch, default 8192 */
  int64_t flush_interval_ms; /* seal a non-empty batch after, default 1000 */
  /* Buffer limits over the open batch + sealed batches not yet acknowledged
   * (0: unlimited). Defaults 1 << 20 spans, 256 MiB. Staging memory kept
   * for reuse is outside them: up to max_buffer_spans / batch_size stages
   * (8 to 32) and half of max_buffer_bytes. */
  int64_t max_buffer_spans;
  int64_t max_buffer_bytes;
  oa_overflow_policy overflow; /* default OA_OVERFLOW_BLOCK */
  int64_t block_timeout_ms;    /* default 5000; < 0: wait forever */
  oa_compression compression;  /* default none */
  int compression_level;       /* 0: codec default (zstd: 1, not 3) */
  int connections;             /* channels, default 1 */
  int max_in_flight;           /* DoPut streams per connection, default 2 */
  int64_t deadline_ms;         /* per DoPut, default 30000 */
  oa_retry_policy retry;
  /* TLS (grpc+tls://): PEM files; CA NULL: system roots; cert+key: mTLS. */
  const char *tls_ca_file, *tls_cert_file, *tls_key_file;
  const char *tls_server_name; /* certificate name override, may be NULL */
  const char *token;           /* bearer token, NULL: none */
  const char *queue_dir;       /* persistent queue; NULL: off */
  int64_t queue_max_bytes;     /* default 1 GiB; over: overflow policy */
  bool queue_fsync;            /* fsync files and dir, default true */
  oa_exporter_clock_fn clock;  /* NULL: CLOCK_MONOTONIC */
  void *clock_ctx;
  oa_exporter_log_fn log; /* NULL: silent */
  void *log_ctx;
  uint64_t seed; /* batch ids and jitter; 0: from the OS */
} oa_exporter_config;

void oa_exporter_config_init(oa_exporter_config *cfg);

/* --------------------------------------------------------------- metrics */

#define OA_EXPORTER_LATENCY_BUCKETS 16
/* Upper bounds (ms) of the latency buckets: 1, 2, 5, 10, 20, 50, 100, 200,
 * 500, 1000, 2000, 5000, 10000, 30000, 60000, +inf. */
extern const int64_t oa_exporter_latency_bounds_ms[OA_EXPORTER_LATENCY_BUCKETS];

typedef struct oa_exporter_metrics {
  int64_t spans_accepted; /* taken by add/add_batch (or replayed) */
  int64_t spans_exported; /* acknowledged by the server */
  int64_t spans_failed;   /* non-retryable error or retries exhausted */
  int64_t spans_dropped;  /* overflow policy (DROP_NEWEST/DROP_OLDEST) */
  int64_t batches_exported, batches_failed, batches_dropped;
  int64_t retries;             /* DoPut attempts after the first */
  int64_t queue_depth_spans;   /* buffered, not yet acknowledged */
  int64_t queue_depth_batches; /* sealed, not yet acknowledged */
  int64_t queue_bytes;         /* on-disk queue size */
  int64_t queue_replayed;      /* batches replayed from queue_dir */
  int64_t queue_corrupt;       /* queue files skipped as corrupt */
  /* spans of batches left in queue_dir when shutdown gave up on them (or a
   * sender was stopped): not failed, the next process replays them */
  int64_t spans_kept;
  int64_t bytes_sent;         /* FlightData bytes of successful DoPuts */
  int64_t uncompressed_bytes; /* batch body bytes before compression */
  int64_t compressed_bytes;   /* IPC bytes as encoded */
  double compression_ratio;   /* uncompressed / compressed (0: none yet) */
  int64_t auth_failures;      /* UNAUTHENTICATED / PERMISSION_DENIED */
  int64_t last_status;        /* gRPC status of the last DoPut */
  /* Export latency (seal to acknowledgement) of exported batches. */
  int64_t latency_buckets[OA_EXPORTER_LATENCY_BUCKETS];
  int64_t latency_count;
  int64_t latency_sum_ms;
} oa_exporter_metrics;

/* -------------------------------------------------------------- exporter */

typedef struct oa_exporter oa_exporter;

/* Validates cfg (copied, strings included), replays queue_dir and starts
 * the sender threads. The connection is made lazily. */
int oa_exporter_new(oa_exporter **out, const oa_exporter_config *cfg,
                    oa_error *err);

/* Copies n spans into the current batch. Bad spans (zero ids, nesting deeper
 * than 32) reject the whole call with EINVAL before anything is added.
 * Strings must be UTF-8: a span with invalid UTF-8 is left out when its
 * batch is built and counted in spans_failed. When
 * the buffer is full: BLOCK waits (ETIMEDOUT after block_timeout_ms),
 * DROP_NEWEST returns EAGAIN (spans counted as dropped), DROP_OLDEST drops
 * queued batches. After shutdown: EPIPE. A string over 2 GiB (a column's
 * 32-bit offsets) stops the call with E2BIG at that span (the ones before
 * it are added). */
int oa_exporter_add(oa_exporter *e, const oa_span *spans, size_t n,
                    oa_error *err);

/* Queues an already built span batch (the schema of otlp.h, e.g. from
 * oa_otlp_decoder_decode) as-is, sealing the open batch first so order is
 * kept. The batch is referenced, not copied (the caller keeps its own).
 * When the buffer is full: EAGAIN at once (DROP_NEWEST, and BLOCK when
 * block_timeout_ms is 0) or after block_timeout_ms (BLOCK: ETIMEDOUT), so a
 * receiver can answer retryable; the spans are not counted as dropped.
 * With queue_dir, 0 means the batch is on disk (fsync'ed if queue_fsync);
 * EIO if it could not be written (the batch is not taken). A previous
 * process may have died after writing a batch but before its caller could
 * acknowledge it; the client then sends the same spans again. So a batch
 * whose content (a 128-bit hash of its queue file payload) equals that of an
 * entry replayed from the queue, written in the last seconds before the
 * previous process stopped, takes that entry's batch id (once per entry),
 * and a server that deduplicates batch ids stores the spans once. Other
 * batches, identical ones included, get fresh ids. */
int oa_exporter_add_batch(oa_exporter *e, const oa_batch *b, oa_error *err);

/* Seals the open batch and waits until every span accepted before the call
 * is exported, failed or dropped. timeout_ms < 0: no limit. ETIMEDOUT if
 * spans remain; err says how many. With queue_dir, sealed batches are
 * written to disk first, whatever the timeout. */
int oa_exporter_flush(oa_exporter *e, int64_t timeout_ms, oa_error *err);

/* Flushes (as above), then stops the senders. Batches still unsent after the
 * timeout stay in queue_dir (if set) for the next process, else count as
 * failed. Later adds give EPIPE. */
int oa_exporter_shutdown(oa_exporter *e, int64_t timeout_ms, oa_error *err);

/* Stops without flushing if shutdown was not called (queued files stay on
 * disk) and releases everything. NULL is fine. */
void oa_exporter_free(oa_exporter *e);

void oa_exporter_get_metrics(oa_exporter *e, oa_exporter_metrics *m);

/* ---------------------------------------------- retry policy (pure) */

/* Whether a DoPut that ended with gRPC status `code` is retried.
 * has_retry_info: the status carried a google.rpc.RetryInfo. */
bool oa_exporter_status_retryable(int code, bool has_retry_info);

/* The delay before attempt number `attempt` (1 = the first retry):
 * initial_ms * multiplier^(attempt-1) capped at max_ms, scaled by
 * 1 + jitter * (2u - 1) with u in [0,1) (pass u = 0.5 for none), and at
 * least server_delay_ms (a RetryInfo delay, < 0: none). Returns -1 when
 * retrying would end after first_attempt_ms + max_elapsed_ms (now_ms is the
 * current clock), i.e. give up. */
int64_t oa_exporter_retry_delay_ms(const oa_retry_policy *p, int attempt,
                                   double u, int64_t server_delay_ms,
                                   int64_t first_attempt_ms, int64_t now_ms);

#ifdef __cplusplus
}
#endif

#endif
