/* The exporter: staging, sealing, sender threads, retries, persistence. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "exporter_internal.h"
#include "otlparrow/flight_client.h"
#include "otlparrow/otlp.h"

const int64_t oa_exporter_latency_bounds_ms[OA_EXPORTER_LATENCY_BUCKETS] = {
    1,   2,    5,    10,   20,    50,    100,   200,
    500, 1000, 2000, 5000, 10000, 30000, 60000, INT64_MAX};

enum { ST_PERMISSION_DENIED = 7, ST_UNAUTHENTICATED = 16 };

/* stages kept for reuse: 8, or up to 32 when the buffer limit lets that
 * many batches wait (see pool_put_locked) */
#define OA_EXP_POOL 32
#define OA_EXP_WARM 4

typedef struct item {
  struct item *next;
  oa_exp_stage stage; /* has_stage: spans staged by add */
  bool has_stage;
  oa_batch batch; /* built (add_batch, replay) or from the stage */
  /* The batch encoded once as an Arrow IPC stream (schema, dictionaries,
   * record batches): what the queue file holds and what DoPut sends. */
  oa_ipc_message *msgs;
  int64_t n_msgs, cap_msgs;
  bool encoded;
  bool encode_failed;   /* by an idle sender: left to the keeper */
  int64_t good;         /* spans in the encoded batch */
  int64_t ubytes;       /* the batch's uncompressed buffer bytes */
  int64_t spans, bytes; /* bytes: memory held (stage, batch or stream) */
  uint8_t id[16];
  char qname[64]; /* queue file name, "" if not persisted */
  bool ready;     /* may be sent: persisted, or no queue_dir */
  bool busy;      /* the keeper persists it */
  uint64_t pseq;  /* order of items the keeper must persist (0: none) */
  int64_t qbytes;
  int64_t sealed_ms;
} item;

typedef struct sender {
  oa_exporter *e;
  pthread_t thread;
  bool started;
  oa_flight_client *client;
  oa_exp_rows *rows;
  oa_ipc_encoder *enc; /* kept between batches: its codec contexts */
  uint64_t rng;
} sender;

struct oa_exporter {
  oa_exporter_config cfg; /* strings point into strs below */
  char *strs[9];
  oa_ipc_write_options wopt;
  int64_t max_msg; /* record batch bodies over this are sent as slices */
  oa_crc32c_table crc;

  pthread_mutex_t mu;
  pthread_cond_t work_cv;  /* senders: ready items, stop */
  pthread_cond_t space_cv; /* adders (room) and flush (progress) */
  pthread_cond_t keep_cv;  /* keeper: unpersisted items, a staged span */
  oa_exp_stage stage;
  /* stages whose batches were built: reused so that steady state allocates
   * (and page-faults) nothing new */
  oa_exp_stage pool[OA_EXP_POOL];
  int n_pool, pool_cap;
  int64_t pool_bytes; /* oa_exp_stage_capacity of the pooled stages */
  /* size of the last sealed stage: the keeper and idle senders keep
   * OA_EXP_WARM stages of that size in the pool, their memory touched, so
   * that the adding thread takes no page faults when it starts a batch (4:
   * huge page faults sometimes wait milliseconds for compaction) */
  int64_t warm_spans, warm_bytes;
  int warming; /* threads warming a stage (the keeper, idle senders) */
  item *head, *tail;
  int64_t n_pending, in_flight;
  int64_t buf_spans, buf_bytes;
  int64_t accepted_total, settled_total;
  bool stop, shut, joined;
  uint64_t rng, seq, pseq;
  /* Entries the previous process wrote last (replayed): it may have died
   * before its client got the acknowledgement, and the client then sends
   * the same request again; add_batch gives such a retry the entry's id so
   * that the server drops it. Content hash and id, 32 bytes each; each
   * matches once. */
  uint8_t (*retry_of)[32];
  int64_t n_retry_of;
  oa_exporter_metrics m;
  /* encoders for add_batch's callers (they encode on their own thread) */
  oa_ipc_encoder *spare_enc[4];
  int n_spare_enc;

  int n_senders;
  sender *senders;
};

/* ------------------------------------------------------------ helpers */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(const oa_exporter *e) {
  return e->cfg.clock ? e->cfg.clock(e->cfg.clock_ctx) : mono_ms();
}

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Waits on cv for up to ms real milliseconds (CLOCK_MONOTONIC cvs). */
static void cv_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms) {
  if (ms < 0) {
    pthread_cond_wait(cv, mu);
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  pthread_cond_timedwait(cv, mu, &ts);
}

static void logf_(oa_exporter *e, int level, const char *fmt, ...)
    OA_PRINTF(3, 4);
static void logf_(oa_exporter *e, int level, const char *fmt, ...) {
  if (!e->cfg.log) return;
  char msg[OA_ERROR_SIZE + 256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  e->cfg.log(e->cfg.log_ctx, level, msg);
}

/* arena room above the last batch's: spans vary in size */
static int64_t nb_slack(const oa_exporter *e) {
  return e->warm_bytes / 8 + 4096;
}

static int64_t batch_bytes(const oa_batch *b) {
  int64_t n = 0;
  for (int64_t i = 0; i < b->n_columns; i++)
    n += oa_array_buffer_bytes(&b->columns[i]);
  return n;
}

static void drop_msgs(item *it) {
  for (int64_t i = 0; i < it->n_msgs; i++)
    oa_ipc_message_reset(&it->msgs[i]);
  free(it->msgs);
  it->msgs = NULL;
  it->n_msgs = it->cap_msgs = 0;
}

static void item_free(item *it) {
  if (!it) return;
  if (it->has_stage) oa_exp_stage_reset(&it->stage);
  oa_batch_reset(&it->batch);
  drop_msgs(it);
  free(it);
}

static void push_locked(oa_exporter *e, item *it) {
  it->next = NULL;
  if (e->tail)
    e->tail->next = it;
  else
    e->head = it;
  e->tail = it;
  e->n_pending++;
  if (it->ready)
    pthread_cond_signal(&e->work_cv);
  else
    pthread_cond_signal(&e->keep_cv);
}

/* Unlinks the first item that is ready (need_ready) or not busy. */
static item *take_locked(oa_exporter *e, bool need_ready) {
  item *prev = NULL, *it = e->head;
  while (it && (it->busy || (need_ready && !it->ready))) {
    prev = it;
    it = it->next;
  }
  if (!it) return NULL;
  if (prev)
    prev->next = it->next;
  else
    e->head = it->next;
  if (e->tail == it) e->tail = prev;
  e->n_pending--;
  return it;
}

static void new_id_locked(oa_exporter *e, uint8_t id[16]) {
  uint64_t a = rng_next(&e->rng), b = rng_next(&e->rng);
  memcpy(id, &a, 8);
  memcpy(id + 8, &b, 8);
}

/* A batch id from the batch's content (its OTLP encoding): 128 bits from
 * two independent multiply-rotate lanes over 8-byte words. */
static uint64_t id_mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static void content_id(const uint8_t *p, int64_t n, uint8_t id[16]) {
  uint64_t a = 0x243f6a8885a308d3ull ^ (uint64_t)n, b = 0x13198a2e03707344ull;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    a = (a ^ w) * 0x9e3779b97f4a7c15ull;
    a = (a << 31) | (a >> 33);
    b = (b + w) * 0xc2b2ae3d27d4eb4full;
    b = (b << 27) | (b >> 37);
  }
  uint64_t w = 0;
  if (n > i) memcpy(&w, p + i, (size_t)(n - i));
  a = id_mix(a ^ w ^ (uint64_t)(n - i));
  b = id_mix(b + w + a);
  a = id_mix(a ^ b);
  memcpy(id, &a, 8);
  memcpy(id + 8, &b, 8);
}

/* Accounts spans leaving the buffer (exported, failed or dropped). */
static void settle_locked(oa_exporter *e, const item *it) {
  e->buf_spans -= it->spans;
  e->buf_bytes -= it->bytes;
  e->settled_total += it->spans;
  pthread_cond_broadcast(&e->space_cv);
}

/* Moves the open stage into a queued item. */
static int seal_locked(oa_exporter *e) {
  if (e->stage.n_spans == 0) return 0;
  item *it = calloc(1, sizeof *it);
  if (!it) return ENOMEM;
  oa_batch_init(&it->batch);
  it->stage = e->stage;
  it->has_stage = true;
  it->spans = e->stage.n_spans;
  it->bytes = oa_exp_stage_bytes(&e->stage);
  it->sealed_ms = now_ms(e);
  new_id_locked(e, it->id);
  it->ready = e->cfg.queue_dir == NULL;
  if (!it->ready) it->pseq = ++e->pseq;
  e->warm_spans = it->spans;
  e->warm_bytes = it->stage.arena.bytes;
  /* pooled stages come cleared (their chunks kept) */
  if (e->n_pool) {
    e->stage = e->pool[--e->n_pool];
    e->pool_bytes -= oa_exp_stage_capacity(&e->stage);
  } else {
    oa_exp_stage_init(&e->stage);
  }
  push_locked(e, it);
  /* the keeper or an idle sender warms a stage for the next seal */
  if (e->n_pool < OA_EXP_WARM) {
    pthread_cond_signal(&e->keep_cv);
    pthread_cond_signal(&e->work_cv);
  }
  return 0;
}

static void drop_item_locked(oa_exporter *e, item *it) {
  e->m.spans_dropped += it->spans;
  e->m.batches_dropped++;
  if (it->qname[0]) {
    oa_exp_queue_remove(e->cfg.queue_dir, it->qname, false, NULL);
    e->m.queue_bytes -= it->qbytes;
  }
  settle_locked(e, it);
  item_free(it);
}

static bool full_locked(const oa_exporter *e, int64_t n) {
  const oa_exporter_config *c = &e->cfg;
  if (e->buf_spans == 0) return false; /* an oversized add still fits once */
  if (c->max_buffer_spans > 0 && e->buf_spans + n > c->max_buffer_spans)
    return true;
  if (c->max_buffer_bytes > 0 && e->buf_bytes >= c->max_buffer_bytes)
    return true;
  if (c->queue_dir && c->queue_max_bytes > 0 &&
      e->m.queue_bytes >= c->queue_max_bytes)
    return true;
  return false;
}

/* Applies the overflow policy for n new spans. counted: whether refused
 * spans count as dropped (add) or are left to the caller (add_batch). */
static int make_room_locked(oa_exporter *e, int64_t n, bool counted,
                            oa_error *err) {
  if (!full_locked(e, n)) return 0;
  /* let the senders start on what is staged */
  if (e->stage.n_spans) OA_RETURN_NOT_OK(seal_locked(e));
  switch (e->cfg.overflow) {
  case OA_OVERFLOW_DROP_OLDEST:
    for (item *old; full_locked(e, n) && (old = take_locked(e, false));)
      drop_item_locked(e, old);
    if (!full_locked(e, n)) return 0;
    break;
  case OA_OVERFLOW_BLOCK: {
    int64_t t = e->cfg.block_timeout_ms;
    if (t == 0 && !counted) break;
    int64_t start = mono_ms();
    while (full_locked(e, n) && !e->shut) {
      int64_t left = t < 0 ? -1 : t - (mono_ms() - start);
      if (t >= 0 && left <= 0) break;
      cv_wait_ms(&e->space_cv, &e->mu, left < 0 ? 1000 : left);
    }
    if (e->shut)
      return oa_error_set(err, EPIPE, "exporter: shut down while waiting");
    if (!full_locked(e, n)) return 0;
    if (counted) {
      e->m.spans_dropped += n;
      return oa_error_set(err, ETIMEDOUT,
                          "exporter: buffer full (%lld spans, %lld bytes) for "
                          "%lld ms: %lld spans not added",
                          (long long)e->buf_spans, (long long)e->buf_bytes,
                          (long long)t, (long long)n);
    }
    return oa_error_set(err, t == 0 ? EAGAIN : ETIMEDOUT,
                        "exporter: buffer full (%lld spans, %lld bytes)",
                        (long long)e->buf_spans, (long long)e->buf_bytes);
  }
  case OA_OVERFLOW_DROP_NEWEST:
    break;
  }
  if (counted) e->m.spans_dropped += n;
  return oa_error_set(err, EAGAIN,
                      "exporter: buffer full (%lld spans, %lld bytes): %lld "
                      "spans %s",
                      (long long)e->buf_spans, (long long)e->buf_bytes,
                      (long long)n, counted ? "dropped" : "refused");
}

/* ------------------------------------------------------------- sender */

static void record_latency_locked(oa_exporter *e, int64_t ms) {
  if (ms < 0) ms = 0;
  int b = 0;
  while (b < OA_EXPORTER_LATENCY_BUCKETS - 1 &&
         ms > oa_exporter_latency_bounds_ms[b])
    b++;
  e->m.latency_buckets[b]++;
  e->m.latency_count++;
  e->m.latency_sum_ms += ms;
}

/* Keeps an empty stage for reuse if the pool has room: at most pool_cap
 * stages and, with a byte limit, half of max_buffer_bytes (the warm ones
 * always). The pooled memory is held beyond the buffer limits. */
static bool pool_put_locked(oa_exporter *e, const oa_exp_stage *st) {
  int64_t cap = oa_exp_stage_capacity(st);
  int64_t max_bytes = e->cfg.max_buffer_bytes;
  if (e->n_pool >= e->pool_cap) return false;
  if (e->n_pool >= OA_EXP_WARM && max_bytes > 0 &&
      e->pool_bytes + cap > max_bytes / 2)
    return false;
  e->pool[e->n_pool++] = *st;
  e->pool_bytes += cap;
  return true;
}

/* Whether a stage should be warmed for the next seal. */
static bool want_warm_locked(const oa_exporter *e) {
  return e->n_pool + e->warming < OA_EXP_WARM && e->warm_spans > 0 && !e->stop;
}

/* Warms a stage of the last sealed one's size into the pool; the lock is
 * released meanwhile (the page faults take milliseconds). */
static void warm_locked(oa_exporter *e) {
  int64_t ns = e->warm_spans, nb = e->warm_bytes + nb_slack(e);
  e->warming++;
  pthread_mutex_unlock(&e->mu);
  oa_exp_stage st;
  oa_exp_stage_init(&st);
  int rc = oa_exp_stage_warm(&st, ns, nb);
  pthread_mutex_lock(&e->mu);
  e->warming--;
  if (rc || !pool_put_locked(e, &st)) oa_exp_stage_reset(&st);
  if (rc) e->warm_spans = 0; /* no memory: do not insist */
}

/* Builds it->batch from its stage (no lock held). Spans the OTLP decoder
 * would have refused count as failed now. */
static int build_batch(sender *s, item *it, oa_error *err) {
  oa_exporter *e = s->e;
  int64_t rejected = 0;
  char why[OA_ERROR_SIZE];
  OA_RETURN_NOT_OK(
      oa_exp_rows_build(s->rows, &it->stage, &it->batch, &rejected, why, err));
  /* give the stage's memory back for the next batch */
  oa_exp_stage_clear(&it->stage);
  pthread_mutex_lock(&e->mu);
  if (pool_put_locked(e, &it->stage)) oa_exp_stage_init(&it->stage);
  /* refused for good (they settle with the batch) */
  e->m.spans_failed += rejected;
  pthread_mutex_unlock(&e->mu);
  oa_exp_stage_reset(&it->stage);
  it->has_stage = false;
  if (rejected)
    logf_(e, 1, "exporter: %lld spans rejected: %s", (long long)rejected, why);
  return 0;
}

static int keep_msg(void *ctx, const oa_ipc_message *m, oa_error *err) {
  item *it = ctx;
  if (it->n_msgs == it->cap_msgs) {
    int64_t cap = it->cap_msgs ? it->cap_msgs * 2 : 16;
    oa_ipc_message *v = realloc(it->msgs, (size_t)cap * sizeof *v);
    if (!v) return oa_error_set(err, ENOMEM, "exporter: out of memory");
    it->msgs = v;
    it->cap_msgs = cap;
  }
  oa_ipc_message_init(&it->msgs[it->n_msgs]);
  OA_RETURN_NOT_OK(oa_ipc_message_share(&it->msgs[it->n_msgs], m, err));
  it->n_msgs++;
  return 0;
}

/* Bytes of the encoded stream as framed in the queue file. */
static int64_t msgs_bytes(const item *it) {
  int64_t n = it->n_msgs ? 8 : 0; /* end-of-stream marker */
  for (int64_t i = 0; i < it->n_msgs; i++)
    n += 8 + it->msgs[i].metadata.size + it->msgs[i].body_length;
  return n;
}

/* Encodes it->batch as one stream into it->msgs with *enc (replaced when
 * NULL or made for another schema; restarted, so the stream carries whole
 * dictionaries and stands alone). */
static int encode_stream(oa_exporter *e, oa_ipc_encoder **enc, item *it,
                         oa_error *err) {
  oa_schema *schema = it->batch.schema;
  if (*enc && oa_ipc_encoder_schema_of(*enc) != schema &&
      !oa_schema_equals(oa_ipc_encoder_schema_of(*enc), schema, false, NULL)) {
    oa_ipc_encoder_free(*enc);
    *enc = NULL;
  }
  if (!*enc) OA_RETURN_NOT_OK(oa_ipc_encoder_new(enc, schema, &e->wopt, err));
  oa_ipc_encoder_restart(*enc);
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  int rc = oa_ipc_encoder_schema(*enc, &m, err);
  if (!rc) rc = keep_msg(it, &m, err);
  oa_ipc_message_reset(&m);
  if (!rc)
    rc = oa_ipc_encoder_batch_bounded(*enc, &it->batch, e->max_msg, keep_msg,
                                      it, err);
  if (rc) drop_msgs(it);
  return rc;
}

/* it->batch -> it->msgs; the batch is dropped (the stream holds what it
 * needs; rows, when given, takes back the buffers nothing else holds for
 * its next batch) and the buffer accounting follows the memory held. */
static int encode_batch(oa_exporter *e, oa_ipc_encoder **enc, oa_exp_rows *rows,
                        item *it, oa_error *err) {
  int64_t ub = batch_bytes(&it->batch);
  if (it->batch.length > 0) OA_RETURN_NOT_OK(encode_stream(e, enc, it, err));
  it->good = it->batch.length;
  it->ubytes = ub;
  if (rows)
    oa_exp_rows_recycle(rows, &it->batch);
  else
    oa_batch_reset(&it->batch);
  int64_t nb = msgs_bytes(it);
  pthread_mutex_lock(&e->mu);
  e->buf_bytes += nb - it->bytes;
  it->bytes = nb;
  it->encoded = true;
  pthread_mutex_unlock(&e->mu);
  return 0;
}

/* Builds and encodes an item that is not yet (no lock held; the caller owns
 * it or marked it busy). */
static int encode_item(sender *s, item *it, oa_error *err) {
  if (it->encoded) return 0;
  if (it->has_stage) OA_RETURN_NOT_OK(build_batch(s, it, err));
  return encode_batch(s->e, &s->enc, s->rows, it, err);
}

/* Writes the encoded item to the queue file (writev from the messages' own
 * buffers); no lock held. On success it->qname and qbytes are set and
 * counted in queue_bytes. */
static int write_item(oa_exporter *e, item *it, oa_error *err) {
  /* per message: prefix, metadata, body segments; then end of stream */
  int64_t n_iov = 1, n = it->n_msgs;
  for (int64_t i = 0; i < n; i++)
    n_iov += 2 + it->msgs[i].n_segments;
  struct iovec *iov = malloc((size_t)n_iov * sizeof *iov);
  uint8_t(*pre)[8] = malloc((size_t)(n + 1) * 8);
  if (!iov || !pre) {
    free(iov);
    free(pre);
    return oa_error_set(err, ENOMEM, "queue: out of memory");
  }
  int64_t k = 0;
  for (int64_t i = 0; i <= n; i++) {
    uint32_t cont = 0xFFFFFFFFu,
             len = i < n ? (uint32_t)it->msgs[i].metadata.size : 0;
    memcpy(pre[i], &cont, 4);
    memcpy(pre[i] + 4, &len, 4);
    iov[k++] = (struct iovec){pre[i], 8};
    if (i == n) break;
    const oa_ipc_message *m = &it->msgs[i];
    iov[k++] = (struct iovec){m->metadata.data, (size_t)m->metadata.size};
    for (int64_t j = 0; j < m->n_segments; j++)
      iov[k++] = (struct iovec){(void *)m->segments[j].data,
                                (size_t)m->segments[j].size};
  }
  pthread_mutex_lock(&e->mu);
  uint64_t seq = (uint64_t)time(NULL) * 1000000ull;
  if (seq <= e->seq) seq = e->seq + 1;
  e->seq = seq;
  pthread_mutex_unlock(&e->mu);
  int rc = oa_exp_queue_writev(e->cfg.queue_dir, &e->crc, seq, it->id, it->good,
                               OA_EXP_QUEUE_ARROW, iov, k, e->cfg.queue_fsync,
                               it->qname, err);
  free(iov);
  free(pre);
  if (rc) {
    it->qname[0] = 0;
    return rc;
  }
  it->qbytes = msgs_bytes(it) + 48;
  pthread_mutex_lock(&e->mu);
  e->m.queue_bytes += it->qbytes;
  pthread_mutex_unlock(&e->mu);
  return 0;
}

/* The keeper's write: a failure is logged and the batch is sent anyway
 * (from memory only). */
static void persist(oa_exporter *e, item *it) {
  oa_error err;
  if (write_item(e, it, &err)) logf_(e, 2, "exporter: %s", err.message);
}

typedef enum { R_EXPORTED, R_FAILED, R_ABANDONED } outcome;

static outcome send_item(sender *s, item *it, oa_flight_put_result *pr) {
  oa_exporter *e = s->e;
  char meta[12 + 33];
  memcpy(meta, "oa-batch-id:", 12);
  for (int i = 0; i < 16; i++)
    snprintf(meta + 12 + 2 * i, 3, "%02x", it->id[i]);
  oa_buffer app = {(const uint8_t *)meta, 44, NULL};
  int64_t first = now_ms(e);
  for (int attempt = 0;; attempt++) {
    oa_error err;
    memset(pr, 0, sizeof *pr);
    int rc = oa_flight_client_do_put_messages(
        s->client, e->cfg.dataset, it->msgs, it->n_msgs, &app, pr, &err);
    int st = rc ? oa_flight_client_last_status(s->client) : 0;
    int64_t server_delay =
        rc ? oa_flight_client_last_retry_delay_ms(s->client) : -1;
    pthread_mutex_lock(&e->mu);
    e->m.last_status = st;
    if (st == ST_UNAUTHENTICATED || st == ST_PERMISSION_DENIED)
      e->m.auth_failures++;
    pthread_mutex_unlock(&e->mu);
    if (rc == 0) return R_EXPORTED;
    if (st < 0 || !oa_exporter_status_retryable(st, server_delay >= 0)) {
      logf_(e, 2, "exporter: batch of %lld spans failed (not retryable): %s",
            (long long)it->spans, err.message);
      return R_FAILED;
    }
    double u = (double)(rng_next(&s->rng) >> 11) / 9007199254740992.0;
    int64_t d = oa_exporter_retry_delay_ms(&e->cfg.retry, attempt + 1, u,
                                           server_delay, first, now_ms(e));
    if (d < 0) {
      logf_(e, 2,
            "exporter: batch of %lld spans failed after %d attempts "
            "(retry time exhausted): %s",
            (long long)it->spans, attempt + 1, err.message);
      return R_FAILED;
    }
    logf_(e, 0, "exporter: retrying in %lld ms: %s", (long long)d, err.message);
    pthread_mutex_lock(&e->mu);
    e->m.retries++;
    int64_t until = mono_ms() + d;
    while (!e->stop && mono_ms() < until)
      cv_wait_ms(&e->work_cv, &e->mu, until - mono_ms());
    bool stop = e->stop;
    pthread_mutex_unlock(&e->mu);
    if (stop) return R_ABANDONED;
  }
}

static void process(sender *s, item *it) {
  oa_exporter *e = s->e;
  oa_error err;
  if (!it->encoded && encode_item(s, it, &err)) {
    logf_(e, 2, "exporter: encoding a batch of %lld spans: %s",
          (long long)it->spans, err.message);
    pthread_mutex_lock(&e->mu);
    e->m.spans_failed += it->spans;
    e->m.batches_failed++;
    if (it->qname[0]) {
      /* a replayed OTLP entry that cannot be encoded never will be */
      oa_exp_queue_remove(e->cfg.queue_dir, it->qname, false, NULL);
      e->m.queue_bytes -= it->qbytes;
    }
    settle_locked(e, it);
    pthread_mutex_unlock(&e->mu);
    item_free(it);
    return;
  }
  if (e->cfg.queue_dir && !it->qname[0] && it->n_msgs) persist(e, it);
  oa_flight_put_result pr;
  outcome o = it->n_msgs > 0 ? send_item(s, it, &pr) : R_EXPORTED;
  if (o == R_EXPORTED && it->n_msgs == 0) memset(&pr, 0, sizeof pr);
  if (o == R_EXPORTED && it->qname[0])
    oa_exp_queue_remove(e->cfg.queue_dir, it->qname, e->cfg.queue_fsync, NULL);
  int64_t ub = o == R_EXPORTED ? it->ubytes : 0;
  pthread_mutex_lock(&e->mu);
  int64_t good = it->good;
  switch (o) {
  case R_EXPORTED:
    e->m.spans_exported += good;
    e->m.batches_exported++;
    e->m.bytes_sent += pr.bytes;
    e->m.uncompressed_bytes += ub;
    e->m.compressed_bytes += pr.bytes;
    if (it->qname[0]) e->m.queue_bytes -= it->qbytes;
    record_latency_locked(e, now_ms(e) - it->sealed_ms);
    break;
  case R_FAILED:
    e->m.spans_failed += good;
    e->m.batches_failed++;
    /* a failed batch is not kept: it would be refused again */
    if (it->qname[0]) {
      oa_exp_queue_remove(e->cfg.queue_dir, it->qname, false, NULL);
      e->m.queue_bytes -= it->qbytes;
    }
    break;
  case R_ABANDONED:
    /* stopping: a persisted batch stays on disk for the next process */
    if (!it->qname[0]) {
      e->m.spans_failed += good;
      e->m.batches_failed++;
    } else {
      e->m.spans_kept += good;
    }
    break;
  }
  settle_locked(e, it);
  pthread_mutex_unlock(&e->mu);
  item_free(it);
}

/* The first item the keeper must persist. */
static item *unpersisted_locked(const oa_exporter *e) {
  item *it = e->head;
  while (it && (it->ready || it->busy))
    it = it->next;
  return it;
}

/* Whether an idle sender is encoding an item the keeper must still write. */
static bool helper_encoding_locked(const oa_exporter *e) {
  for (const item *it = e->head; it; it = it->next)
    if (it->busy && !it->ready) return true;
  return false;
}

/* An item waiting for the keeper that an idle sender can encode meanwhile
 * (the keeper writes one while a sender encodes the next). */
static item *unencoded_locked(const oa_exporter *e) {
  item *it = e->head;
  while (it && (it->ready || it->busy || it->encoded || it->encode_failed))
    it = it->next;
  return it;
}

/* Whether an item with pseq <= upto is not yet persisted (flush). */
static bool persisting_locked(const oa_exporter *e, uint64_t upto) {
  for (const item *it = e->head; it; it = it->next)
    if (!it->ready && it->pseq && it->pseq <= upto) return true;
  return false;
}

/* The keeper thread: seals the open batch when flush_interval_ms has passed
 * since its first span, and with queue_dir builds, encodes and writes each
 * sealed batch to the queue (oldest first; idle senders encode the next
 * ones meanwhile), so that the senders only take persisted batches. A
 * thread of its own, so that neither depends on a sender being idle (they
 * may all be retrying). On stop it first persists what is left sealed, so
 * that those batches survive for the next process. */
static void *keeper_main(void *arg) {
  sender *s = arg;
  oa_exporter *e = s->e;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    item *it = e->cfg.queue_dir ? unpersisted_locked(e) : NULL;
    if (it) {
      it->busy = true;
      pthread_mutex_unlock(&e->mu);
      /* encoded once: the same messages go to the file and to DoPut */
      oa_error err;
      int rc = encode_item(s, it, &err);
      if (rc)
        logf_(e, 2, "exporter: queue: batch of %lld spans: %s",
              (long long)it->spans, err.message);
      else if (it->n_msgs)
        persist(e, it);
      pthread_mutex_lock(&e->mu);
      it->busy = false;
      it->ready = true;
      pthread_cond_broadcast(&e->work_cv);
      pthread_cond_broadcast(&e->space_cv); /* flush waits for this */
      continue;
    }
    if (e->stop) {
      /* it comes back unpersisted when the sender is done (keep_cv) */
      if (!helper_encoding_locked(e)) break;
      cv_wait_ms(&e->keep_cv, &e->mu, 100);
      continue;
    }
    if (want_warm_locked(e)) {
      warm_locked(e);
      continue;
    }
    if (e->stage.n_spans) {
      int64_t age = now_ms(e) - e->stage.first_ms;
      if (age >= e->cfg.flush_interval_ms) {
        seal_locked(e);
        continue;
      }
      int64_t left = e->cfg.flush_interval_ms - age;
      /* a test's fake clock does not wake us: poll it */
      if (e->cfg.clock && left > 20) left = 20;
      cv_wait_ms(&e->keep_cv, &e->mu, left);
    } else {
      cv_wait_ms(&e->keep_cv, &e->mu, -1);
    }
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

static void *sender_main(void *arg) {
  sender *s = arg;
  oa_exporter *e = s->e;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    if (e->stop) break;
    item *it = take_locked(e, true);
    if (it) {
      e->in_flight++;
      pthread_mutex_unlock(&e->mu);
      process(s, it);
      pthread_mutex_lock(&e->mu);
      e->in_flight--;
      pthread_cond_broadcast(&e->space_cv);
      continue;
    }
    /* idle (the keeper may be busy with the queue's disk writes) */
    if (want_warm_locked(e)) {
      warm_locked(e);
      continue;
    }
    if (e->cfg.queue_dir && (it = unencoded_locked(e)) != NULL) {
      it->busy = true;
      pthread_mutex_unlock(&e->mu);
      oa_error err;
      int rc = encode_item(s, it, &err);
      pthread_mutex_lock(&e->mu);
      it->busy = false;
      /* a failure is the keeper's to report: it tries again */
      if (rc) it->encode_failed = true;
      pthread_cond_signal(&e->keep_cv);
      continue;
    }
    cv_wait_ms(&e->work_cv, &e->mu, -1);
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

/* -------------------------------------------------------------- public */

void oa_exporter_config_init(oa_exporter_config *c) {
  memset(c, 0, sizeof *c);
  c->dataset = "spans";
  c->batch_size = 8192;
  c->flush_interval_ms = 1000;
  c->max_buffer_spans = 1 << 20;
  c->max_buffer_bytes = 256ll << 20;
  c->overflow = OA_OVERFLOW_BLOCK;
  c->block_timeout_ms = 5000;
  c->compression = OA_COMPRESSION_NONE;
  c->connections = 1;
  c->max_in_flight = 2;
  c->deadline_ms = 30000;
  c->retry.initial_ms = 100;
  c->retry.max_ms = 5000;
  c->retry.multiplier = 2.0;
  c->retry.jitter = 0.2;
  c->retry.max_elapsed_ms = 60000;
  c->queue_max_bytes = 1ll << 30;
  c->queue_fsync = true;
}

static int dup_str(oa_exporter *e, int slot, const char **s) {
  if (!*s) return 0;
  e->strs[slot] = strdup(*s);
  if (!e->strs[slot]) return ENOMEM;
  *s = e->strs[slot];
  return 0;
}

static int check_config(const oa_exporter_config *c, oa_error *err) {
  if (!c->endpoint || !*c->endpoint)
    return oa_error_set(err, EINVAL, "exporter config: endpoint is not set");
  if (!c->dataset || !*c->dataset)
    return oa_error_set(err, EINVAL, "exporter config: dataset is empty");
  if (c->batch_size < 1)
    return oa_error_set(err, EINVAL, "exporter config: batch_size %lld < 1",
                        (long long)c->batch_size);
  if (c->flush_interval_ms < 1)
    return oa_error_set(err, EINVAL,
                        "exporter config: flush_interval_ms %lld < 1",
                        (long long)c->flush_interval_ms);
  if (c->connections < 1 || c->connections > 64)
    return oa_error_set(err, EINVAL,
                        "exporter config: connections %d not in 1..64",
                        c->connections);
  if (c->max_in_flight < 1 || c->max_in_flight > 64)
    return oa_error_set(err, EINVAL,
                        "exporter config: max_in_flight %d not in 1..64",
                        c->max_in_flight);
  if ((unsigned)c->overflow > OA_OVERFLOW_DROP_OLDEST)
    return oa_error_set(err, EINVAL, "exporter config: overflow policy %d",
                        (int)c->overflow);
  if ((unsigned)c->compression > OA_COMPRESSION_ZSTD)
    return oa_error_set(err, EINVAL, "exporter config: compression %d",
                        (int)c->compression);
  if (c->retry.jitter < 0 || c->retry.jitter > 1 || c->retry.multiplier < 1)
    return oa_error_set(err, EINVAL,
                        "exporter config: retry jitter must be in 0..1 and "
                        "multiplier >= 1");
  if ((c->tls_cert_file == NULL) != (c->tls_key_file == NULL))
    return oa_error_set(err, EINVAL,
                        "exporter config: tls_cert_file and tls_key_file go "
                        "together");
  return 0;
}

/* An Arrow entry's payload into it->msgs, checked by decoding every
 * message: the batches must decode and hold the header's span count. */
static int replay_arrow(oa_bytes *payload, const oa_exp_queue_entry *q,
                        item *it, oa_error *err) {
  oa_buffer pb;
  if (oa_bytes_finish(payload, &pb))
    return oa_error_set(err, ENOMEM, "queue: %s: out of memory", q->name);
  oa_ipc_decoder *dec = NULL;
  int rc = oa_ipc_decoder_new(&dec, NULL, err);
  oa_batch b;
  oa_batch_init(&b);
  int64_t pos = 0, rows = 0, ub = 0;
  while (!rc) {
    oa_ipc_message m;
    oa_ipc_message_init(&m);
    rc = oa_ipc_message_read(&pb, &pos, 64, &m, err);
    if (!rc && m.type == OA_IPC_MSG_NONE) break;
    if (!rc && (it->n_msgs == 0) != (m.type == OA_IPC_MSG_SCHEMA))
      rc = oa_error_set(err, EINVAL, "message %lld: %s", (long long)it->n_msgs,
                        it->n_msgs ? "a second schema" : "no schema first");
    oa_ipc_msg_type t;
    oa_buffer body = m.n_segments ? m.segments[0] : (oa_buffer){0};
    if (!rc)
      rc = oa_ipc_decoder_decode(dec, m.metadata.data, m.metadata.size, &body,
                                 &t, &b, err);
    if (!rc && t == OA_IPC_MSG_RECORD_BATCH) {
      rows += b.length;
      ub += batch_bytes(&b);
      oa_batch_reset(&b);
    }
    if (!rc) rc = keep_msg(it, &m, err);
    oa_ipc_message_reset(&m);
  }
  if (!rc && pos != pb.size)
    rc = oa_error_set(err, EINVAL, "%lld bytes after the end of the stream",
                      (long long)(pb.size - pos));
  if (!rc && rows != q->spans)
    rc = oa_error_set(err, EINVAL, "%lld spans, the header says %lld",
                      (long long)rows, (long long)q->spans);
  oa_batch_reset(&b);
  oa_ipc_decoder_free(dec);
  oa_region_release(pb.region);
  if (rc) {
    drop_msgs(it);
    return oa_error_prefix(err, rc == ENOMEM ? ENOMEM : EIO,
                           "queue: %s: not a valid Arrow stream: ", q->name);
  }
  it->encoded = true;
  it->good = rows;
  it->ubytes = ub;
  it->bytes = msgs_bytes(it);
  return 0;
}

static int replay(oa_exporter *e, oa_error *err) {
  const char *dir = e->cfg.queue_dir;
  if (mkdir(dir, 0755) && errno != EEXIST)
    return oa_error_set(err, EIO, "exporter: cannot create queue_dir %s: %s",
                        dir, strerror(errno));
  oa_exp_queue_entry *v;
  int64_t n;
  OA_RETURN_NOT_OK(oa_exp_queue_list(dir, &v, &n, err));
  oa_otlp_decoder *dec = NULL;
  oa_bytes buf;
  oa_bytes_init(&buf);
  int rc = oa_otlp_decoder_new(&dec, NULL, err);
  /* the entries written in the last seconds before the previous process
   * stopped (names start with the seq: time in s * 1e6): those its clients
   * may not have had the acknowledgement of */
  unsigned long long last_s = 0, sq;
  for (int64_t i = 0; i < n; i++)
    if (sscanf(v[i].name, "%16llx", &sq) == 1 && sq / 1000000 > last_s)
      last_s = sq / 1000000;
  if (!rc && n && !(e->retry_of = calloc((size_t)n, sizeof *e->retry_of)))
    rc = oa_error_set(err, ENOMEM, "exporter: replay: out of memory");
  for (int64_t i = 0; !rc && i < n; i++) {
    oa_error qe;
    item *it = calloc(1, sizeof *it);
    if (!it) {
      rc = oa_error_set(err, ENOMEM, "exporter: replay: out of memory");
      break;
    }
    oa_batch_init(&it->batch);
    int q = oa_exp_queue_read(dir, &e->crc, &v[i], &buf, &qe);
    uint8_t hash[16];
    if (!q) content_id(buf.data, buf.size, hash);
    if (!q && v[i].format == OA_EXP_QUEUE_ARROW) {
      q = replay_arrow(&buf, &v[i], it, &qe);
    } else if (!q) {
      oa_otlp_result res;
      q = oa_otlp_decoder_decode(dec, buf.data, buf.size, &it->batch, &res,
                                 &qe);
      if (q) oa_error_prefix(&qe, q, "queue: %s: ", v[i].name);
      /* entries hold the staged request as added: spans the decoder
       * refuses (invalid UTF-8) were never sendable; the rest is intact */
      if (!q && res.rejected_spans) {
        e->m.spans_accepted += res.rejected_spans;
        e->accepted_total += res.rejected_spans;
        e->settled_total += res.rejected_spans;
        e->m.spans_failed += res.rejected_spans;
        logf_(e, 1, "exporter: queue: %s: %lld spans rejected: %s", v[i].name,
              (long long)res.rejected_spans, res.error_message);
      }
      it->bytes = batch_bytes(&it->batch);
    }
    if (q == ENOMEM) {
      item_free(it);
      rc = oa_error_set(err, ENOMEM, "exporter: replay: %s", qe.message);
      break;
    }
    if (q) {
      /* kept aside (not deleted) for inspection; never replayed again */
      char from[4096], to[4096 + 8];
      snprintf(from, sizeof from, "%s/%s", dir, v[i].name);
      snprintf(to, sizeof to, "%s.corrupt", from);
      rename(from, to);
      e->m.queue_corrupt++;
      logf_(e, 2, "exporter: skipping corrupt queue entry: %s", qe.message);
      item_free(it);
      continue;
    }
    memcpy(it->id, v[i].id, 16);
    if (sscanf(v[i].name, "%16llx", &sq) == 1 && sq / 1000000 + 2 >= last_s) {
      memcpy(e->retry_of[e->n_retry_of], hash, 16);
      memcpy(e->retry_of[e->n_retry_of++] + 16, v[i].id, 16);
    }
    it->ready = true;
    snprintf(it->qname, sizeof it->qname, "%s", v[i].name);
    it->qbytes = v[i].file_bytes;
    it->spans = it->encoded ? it->good : it->batch.length;
    it->sealed_ms = now_ms(e);
    e->m.queue_bytes += it->qbytes;
    e->m.queue_replayed++;
    e->m.spans_accepted += it->spans;
    e->accepted_total += it->spans;
    e->buf_spans += it->spans;
    e->buf_bytes += it->bytes;
    push_locked(e, it);
  }
  if (!rc && n)
    logf_(e, 0, "exporter: replayed %lld of %lld queue entries from %s",
          (long long)e->m.queue_replayed, (long long)n, dir);
  oa_bytes_reset(&buf);
  oa_otlp_decoder_free(dec);
  free(v);
  return rc;
}

int oa_exporter_new(oa_exporter **out, const oa_exporter_config *cfg,
                    oa_error *err) {
  *out = NULL;
  if (!cfg) return oa_error_set(err, EINVAL, "exporter: config is NULL");
  OA_RETURN_NOT_OK(check_config(cfg, err));
  oa_exporter *e = calloc(1, sizeof *e);
  if (!e) return oa_error_set(err, ENOMEM, "exporter: out of memory");
  e->cfg = *cfg;
  e->joined = true; /* nothing to join until threads start */
  /* reuse as many stages as batches may wait (the buffer limit) */
  int64_t waiting =
      cfg->max_buffer_spans > 0 ? cfg->max_buffer_spans / cfg->batch_size : 0;
  if (waiting > OA_EXP_POOL) waiting = OA_EXP_POOL;
  e->pool_cap = waiting < 8 ? 8 : (int)waiting;
  pthread_mutex_init(&e->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&e->work_cv, &ca);
  pthread_cond_init(&e->space_cv, &ca);
  pthread_cond_init(&e->keep_cv, &ca);
  pthread_condattr_destroy(&ca);
  oa_exp_stage_init(&e->stage);
  oa_crc32c_init(&e->crc);
  int rc = 0;
  const char **s[] = {&e->cfg.endpoint,     &e->cfg.dataset,
                      &e->cfg.tls_ca_file,  &e->cfg.tls_cert_file,
                      &e->cfg.tls_key_file, &e->cfg.tls_server_name,
                      &e->cfg.token,        &e->cfg.queue_dir};
  for (int i = 0; !rc && i < 8; i++)
    rc = dup_str(e, i, s[i]);
  if (rc) {
    oa_exporter_free(e);
    return oa_error_set(err, ENOMEM, "exporter: out of memory");
  }
  oa_ipc_write_options_init(&e->wopt);
  e->wopt.compression = cfg->compression;
  e->wopt.compression_level = cfg->compression_level;
  /* zstd's default (3) costs about 50% more CPU per batch than 1 for a
   * ratio 12% better (bench_exporter): at the edge, throughput wins */
  if (cfg->compression == OA_COMPRESSION_ZSTD && cfg->compression_level == 0)
    e->wopt.compression_level = 1;
  e->rng = cfg->seed;
  if (!e->rng && getrandom(&e->rng, sizeof e->rng, 0) != sizeof e->rng)
    e->rng = (uint64_t)mono_ms() ^ (uint64_t)(uintptr_t)e;
  if (!e->rng) e->rng = 0x9E3779B97F4A7C15ull;
  oa_flight_client_options fo;
  oa_flight_client_options_init(&fo);
  e->max_msg = fo.max_message_size;
  if (e->cfg.queue_dir && (rc = replay(e, err)) != 0) {
    oa_exporter_free(e);
    return rc;
  }
  fo.token = e->cfg.token;
  fo.tls_ca_file = e->cfg.tls_ca_file;
  fo.tls_cert_file = e->cfg.tls_cert_file;
  fo.tls_key_file = e->cfg.tls_key_file;
  fo.tls_server_name = e->cfg.tls_server_name;
  fo.deadline_ms = e->cfg.deadline_ms;
  int n_send = cfg->connections * cfg->max_in_flight;
  e->n_senders = n_send + 1; /* + the keeper */
  e->senders = calloc((size_t)e->n_senders, sizeof *e->senders);
  if (!e->senders) {
    oa_exporter_free(e);
    return oa_error_set(err, ENOMEM, "exporter: out of memory");
  }
  for (int i = 0; i < e->n_senders && !rc; i++) {
    sender *sd = &e->senders[i];
    sd->e = e;
    sd->rng = rng_next(&e->rng) | 1;
    /* max_in_flight streams share each connection */
    if (i >= n_send)
      ; /* the keeper needs no client */
    else if (i % cfg->max_in_flight == 0)
      rc = oa_flight_client_new(&sd->client, e->cfg.endpoint, &fo, err);
    else
      rc = oa_flight_client_new_shared(&sd->client, e->senders[i - 1].client,
                                       err);
    if (!rc) rc = oa_exp_rows_new(&sd->rows, err);
  }
  if (rc) {
    oa_error_prefix(err, rc, "exporter: ");
    oa_exporter_free(e);
    return rc;
  }
  e->joined = false;
  for (int i = 0; i < e->n_senders; i++) {
    if (pthread_create(&e->senders[i].thread, NULL,
                       i < n_send ? sender_main : keeper_main,
                       &e->senders[i])) {
      rc = oa_error_set(err, EIO, "exporter: cannot start sender thread %d", i);
      break;
    }
    e->senders[i].started = true;
  }
  if (rc) {
    oa_exporter_free(e);
    return rc;
  }
  *out = e;
  return 0;
}

int oa_exporter_add(oa_exporter *e, const oa_span *spans, size_t n,
                    oa_error *err) {
  if (!e || (n && !spans))
    return oa_error_set(err, EINVAL, "exporter add: NULL argument");
  for (size_t i = 0; i < n; i++)
    OA_RETURN_NOT_OK(oa_exp_span_check(&spans[i], i, err));
  if (!n) return 0;
  pthread_mutex_lock(&e->mu);
  int rc = 0;
  if (e->shut) {
    rc = oa_error_set(err, EPIPE, "exporter add: exporter is shut down");
    goto out;
  }
  if ((rc = make_room_locked(e, (int64_t)n, true, err)) != 0) goto out;
  size_t i = 0;
  for (; i < n; i++) {
    int64_t before = oa_exp_stage_bytes(&e->stage);
    if (e->stage.n_spans == 0) {
      e->stage.first_ms = now_ms(e);
      pthread_cond_signal(&e->keep_cv); /* the keeper times the interval */
    }
    if ((rc = oa_exp_stage_add(&e->stage, &spans[i], err)) != 0) break;
    e->buf_bytes += oa_exp_stage_bytes(&e->stage) - before;
    e->buf_spans++;
    if (e->stage.n_spans >= e->cfg.batch_size && (rc = seal_locked(e)) != 0) {
      i++;
      oa_error_set(err, rc, "exporter add: sealing a batch: out of memory");
      break;
    }
  }
  e->accepted_total += (int64_t)i;
  e->m.spans_accepted += (int64_t)i;
out:
  pthread_mutex_unlock(&e->mu);
  return rc;
}

int oa_exporter_add_batch(oa_exporter *e, const oa_batch *b, oa_error *err) {
  if (!e || !b || !b->schema)
    return oa_error_set(err, EINVAL, "exporter add_batch: NULL argument");
  if (b->n_columns != OA_SPAN_N_COLUMNS)
    return oa_error_set(err, EINVAL,
                        "exporter add_batch: batch has %lld columns, the "
                        "span schema %d",
                        (long long)b->n_columns, (int)OA_SPAN_N_COLUMNS);
  if (b->length == 0) return 0;
  item *it = calloc(1, sizeof *it);
  if (!it) return oa_error_set(err, ENOMEM, "exporter add_batch: no memory");
  oa_batch_init(&it->batch);
  int rc = oa_batch_slice(&it->batch, b, 0, b->length, err);
  if (rc) {
    item_free(it);
    return rc;
  }
  it->spans = b->length;
  it->bytes = batch_bytes(b);
  it->ready = true;
  pthread_mutex_lock(&e->mu);
  if (e->shut)
    rc = oa_error_set(err, EPIPE, "exporter add_batch: exporter is shut down");
  if (!rc) rc = make_room_locked(e, it->spans, false, err);
  if (!rc) rc = seal_locked(e); /* keep the order of earlier adds */
  if (!rc && e->cfg.queue_dir) {
    /* The caller (forward) acknowledges its client when this returns, so
     * the batch must be on disk first: written here, outside the lock, with
     * its room reserved meanwhile. */
    new_id_locked(e, it->id);
    bool maybe_retry = e->n_retry_of > 0;
    e->buf_spans += it->spans;
    e->buf_bytes += it->bytes;
    pthread_mutex_unlock(&e->mu);
    oa_ipc_encoder *enc = NULL;
    pthread_mutex_lock(&e->mu);
    if (e->n_spare_enc) enc = e->spare_enc[--e->n_spare_enc];
    pthread_mutex_unlock(&e->mu);
    rc = encode_batch(e, &enc, NULL, it, err);
    if (rc) oa_error_prefix(err, rc, "queue: encoding batch: ");
    pthread_mutex_lock(&e->mu);
    if (e->n_spare_enc < 4) {
      e->spare_enc[e->n_spare_enc++] = enc;
      enc = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    oa_ipc_encoder_free(enc);
    uint8_t match[32];
    bool matched = false;
    if (!rc && maybe_retry) {
      /* the hash of the payload as the queue file holds it */
      oa_bytes flat;
      oa_bytes_init(&flat);
      for (int64_t i = 0; !rc && i < it->n_msgs; i++)
        rc = oa_ipc_message_frame(&it->msgs[i], &flat, err);
      uint8_t eos[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
      if (!rc && oa_bytes_append(&flat, eos, 8))
        rc = oa_error_set(err, ENOMEM, "exporter add_batch: out of memory");
      if (!rc) content_id(flat.data, flat.size, match);
      oa_bytes_reset(&flat);
      pthread_mutex_lock(&e->mu);
      for (int64_t i = 0; !rc && !matched && i < e->n_retry_of; i++)
        if (memcmp(e->retry_of[i], match, 16) == 0) {
          memcpy(match + 16, e->retry_of[i] + 16, 16);
          memcpy(it->id, match + 16, 16);
          memmove(e->retry_of[i], e->retry_of[i + 1],
                  (size_t)(e->n_retry_of - i - 1) * sizeof *e->retry_of);
          e->n_retry_of--;
          matched = true;
        }
      pthread_mutex_unlock(&e->mu);
    }
    if (!rc && it->n_msgs) rc = write_item(e, it, err);
    if (rc) oa_error_prefix(err, rc, "exporter add_batch: ");
    pthread_mutex_lock(&e->mu);
    if (rc && matched) /* not taken: the next retry may match */
      memcpy(e->retry_of[e->n_retry_of++], match, 32);
    e->buf_spans -= it->spans;
    e->buf_bytes -= it->bytes;
    if (rc) pthread_cond_broadcast(&e->space_cv);
  } else if (!rc) {
    new_id_locked(e, it->id);
  }
  if (!rc) {
    it->sealed_ms = now_ms(e);
    e->buf_spans += it->spans;
    e->buf_bytes += it->bytes;
    e->accepted_total += it->spans;
    e->m.spans_accepted += it->spans;
    push_locked(e, it);
    it = NULL;
  }
  pthread_mutex_unlock(&e->mu);
  item_free(it);
  return rc;
}

int oa_exporter_flush(oa_exporter *e, int64_t timeout_ms, oa_error *err) {
  if (!e) return oa_error_set(err, EINVAL, "exporter flush: NULL exporter");
  pthread_mutex_lock(&e->mu);
  int rc = seal_locked(e);
  if (rc) {
    pthread_mutex_unlock(&e->mu);
    return oa_error_set(err, rc, "exporter flush: out of memory");
  }
  int64_t target = e->accepted_total, start = mono_ms();
  /* Sealed batches reach the disk first, whatever the timeout: a caller
   * that flushes before exiting must not lose them (the keeper's writes
   * are bounded by the disk, not by the network). */
  uint64_t sealed = e->pseq;
  while (!e->joined && persisting_locked(e, sealed))
    cv_wait_ms(&e->space_cv, &e->mu, 1000);
  while (e->settled_total < target && !e->joined) {
    int64_t left = timeout_ms < 0 ? 1000 : timeout_ms - (mono_ms() - start);
    if (left <= 0) break;
    cv_wait_ms(&e->space_cv, &e->mu, left);
  }
  int64_t remain = target - e->settled_total;
  pthread_mutex_unlock(&e->mu);
  if (remain > 0)
    return oa_error_set(err, ETIMEDOUT,
                        "exporter flush: %lld spans still unsent after %lld "
                        "ms",
                        (long long)remain, (long long)timeout_ms);
  return 0;
}

static void stop_and_join(oa_exporter *e) {
  if (e->joined) return;
  pthread_mutex_lock(&e->mu);
  e->stop = true;
  pthread_cond_broadcast(&e->work_cv);
  pthread_cond_broadcast(&e->space_cv);
  pthread_cond_broadcast(&e->keep_cv);
  pthread_mutex_unlock(&e->mu);
  for (int i = 0; i < e->n_senders; i++)
    if (e->senders[i].started) pthread_join(e->senders[i].thread, NULL);
  e->joined = true;
}

int oa_exporter_shutdown(oa_exporter *e, int64_t timeout_ms, oa_error *err) {
  if (!e) return oa_error_set(err, EINVAL, "exporter shutdown: NULL exporter");
  int rc = oa_exporter_flush(e, timeout_ms, err);
  pthread_mutex_lock(&e->mu);
  e->shut = true;
  pthread_mutex_unlock(&e->mu);
  stop_and_join(e);
  /* what is left: persisted batches stay for the next process, the rest
   * could not be sent in time */
  pthread_mutex_lock(&e->mu);
  item *it;
  while ((it = take_locked(e, false)) != NULL) {
    if (!it->qname[0]) {
      e->m.spans_failed += it->spans;
      e->m.batches_failed++;
    } else {
      e->m.spans_kept += it->encoded ? it->good : it->spans;
    }
    settle_locked(e, it);
    item_free(it);
  }
  pthread_mutex_unlock(&e->mu);
  return rc;
}

void oa_exporter_free(oa_exporter *e) {
  if (!e) return;
  stop_and_join(e);
  item *it;
  while ((it = take_locked(e, false)) != NULL)
    item_free(it);
  if (e->senders) {
    /* shared clients first, the connection owner last */
    for (int i = e->n_senders - 1; i >= 0; i--) {
      oa_flight_client_free(e->senders[i].client);
      oa_exp_rows_free(e->senders[i].rows);
      oa_ipc_encoder_free(e->senders[i].enc);
    }
    free(e->senders);
  }
  oa_exp_stage_reset(&e->stage);
  for (int i = 0; i < e->n_pool; i++)
    oa_exp_stage_reset(&e->pool[i]);
  for (int i = 0; i < 9; i++)
    free(e->strs[i]);
  pthread_cond_destroy(&e->work_cv);
  pthread_cond_destroy(&e->space_cv);
  pthread_cond_destroy(&e->keep_cv);
  pthread_mutex_destroy(&e->mu);
  for (int i = 0; i < e->n_spare_enc; i++)
    oa_ipc_encoder_free(e->spare_enc[i]);
  free(e->retry_of);
  free(e);
}

void oa_exporter_get_metrics(oa_exporter *e, oa_exporter_metrics *m) {
  memset(m, 0, sizeof *m);
  if (!e) return;
  pthread_mutex_lock(&e->mu);
  *m = e->m;
  m->queue_depth_spans = e->buf_spans;
  m->queue_depth_batches = e->n_pending + e->in_flight;
  pthread_mutex_unlock(&e->mu);
  m->compression_ratio =
      m->compressed_bytes > 0
          ? (double)m->uncompressed_bytes / (double)m->compressed_bytes
          : 0.0;
}
