/* otlparrow forward: the gateway. OTLP in (the receivers of `serve`), the
 * exporter out: Arrow Flight DoPut, or OTLP/gRPC and OTLP/HTTP for any OTLP
 * backend; with --data-dir through a persistent queue. A full
 * buffer makes the receivers answer retryable (UNAVAILABLE / 503), so
 * senders back off instead of spans being dropped. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "exporter/exporter_internal.h"
#include "exporter/otlp_out.h"
#include "grpc/oa_grpc.h"
#include "otlparrow/exporter.h"
#include "receiver/otlp_http.h"
#include "receiver/receiver.h"

static const char kForwardHelp[] =
    "usage: otlparrow forward --to URI [options]\n"
    "\n"
    "Receive traces over OTLP (gRPC and HTTP) and send them on:\n"
    "  flight://HOST:PORT, grpc://HOST:PORT   Arrow Flight DoPut (e.g. to\n"
    "                                         otlparrow serve)\n"
    "  grpc+tls://HOST:PORT                   Arrow Flight over TLS\n"
    "  otlp://HOST:PORT, otlp+tls://HOST:PORT OTLP/gRPC\n"
    "  otlp+http://HOST:PORT[/v1/traces]      OTLP/HTTP (protobuf)\n"
    "When the buffer is full the receivers answer retryable (UNAVAILABLE /\n"
    "503 with a retry delay) rather than drop. SIGINT/SIGTERM stop the\n"
    "receivers, flush what is buffered and exit 0; a metrics line\n"
    "(accepted = exported + failed + dropped + queued) ends on stderr.\n"
    "\n"
    "options:\n"
    "  --to URI                destination (default from\n"
    "                          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or\n"
    "                          OTEL_EXPORTER_OTLP_ENDPOINT)\n"
    "  --otlp-grpc ADDR        OTLP/gRPC listener (default 127.0.0.1:4317;\n"
    "                          'off' disables, port 0 picks one)\n"
    "  --otlp-http ADDR        OTLP/HTTP listener (default 127.0.0.1:4318)\n"
    "  --data-dir DIR          data directory; the persistent queue lives in\n"
    "                          DIR/queue and is replayed on start\n"
    "  --no-queue              keep the queue in memory even with --data-dir\n"
    "  --batch-size N          spans per Flight batch (default 8192)\n"
    "  --flush-interval MS     send a partial batch after MS (default 1000)\n"
    "  --max-buffer-spans N    spans buffered before backpressure\n"
    "                          (default 1048576)\n"
    "  --compression C         Flight: none, lz4, zstd; OTLP: none, gzip\n"
    "  --connections N         connections (Flight) or senders (OTLP),\n"
    "                          default 1\n"
    "  --retry-max-elapsed MS  give a batch up after MS of retries\n"
    "                          (default 60000); its spans count as failed\n"
    "  --timeout MS            per request deadline (default 30000)\n"
    "  --shutdown-timeout MS   flush time on exit (default 10000)\n"
    "  --token TOKEN           bearer token sent to the destination\n"
    "  --headers K=V,...       OTLP out: extra request headers\n"
    "  --tls-ca FILE           TLS to the destination: CA (PEM)\n"
    "  --tls-cert FILE         client certificate (mTLS), with --tls-key\n"
    "  --tls-key FILE\n"
    "  --auth-token TOKEN      require this bearer token from OTLP senders\n"
    "  --threads N             receiver event-loop threads (default 2)\n"
    "  --max-recv-size BYTES   largest OTLP request (default 4M)\n"
    "  --verbose               a metrics line on stderr every\n"
    "                          --metrics-interval seconds (default 5)\n"
    "  --metrics-interval S\n"
    "  -h, --help              this help\n"
    "\n"
    "environment (when the matching option is not given):\n"
    "  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT,\n"
    "  OTEL_EXPORTER_OTLP_PROTOCOL (grpc | http/protobuf),\n"
    "  OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, _COMPRESSION, _TIMEOUT,\n"
    "  _CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY\n";

typedef enum dest_kind {
  DEST_FLIGHT,
  DEST_OTLP_GRPC,
  DEST_OTLP_HTTP
} dest_kind;

typedef struct fwd_cfg {
  const char *to, *otlp_grpc, *otlp_http, *data_dir, *compression;
  const char *token, *headers, *tls_ca, *tls_cert, *tls_key, *auth_token;
  int64_t batch_size, flush_interval_ms, max_buffer_spans, connections;
  int64_t retry_max_elapsed_ms, timeout_ms, shutdown_timeout_ms, threads;
  int64_t max_recv_size, metrics_interval_s;
  bool verbose, no_queue;
  /* derived */
  dest_kind kind;
  char endpoint[1024];
  bool tls;
} fwd_cfg;

/* ------------------------------------------------------- OTLP out pipe */

/* Received batches, encoded as ExportTraceServiceRequest at once (the form
 * they are sent and persisted in), waiting for an OTLP sender; bounded in
 * spans. With a queue directory each request is written there (fsync)
 * before the receiver acknowledges it, and removed once the destination
 * answered: final, like the Flight exporter's queue. */
typedef struct qnode {
  struct qnode *next;
  oa_bytes req;
  int64_t spans;
  char name[64]; /* queue file, "" when not persisted */
} qnode;

typedef struct otlp_pipe {
  pthread_mutex_t mu;
  pthread_cond_t nonempty, idle;
  qnode *head, *tail;
  int64_t queued_spans, max_spans;
  int busy;
  bool closing;
  atomic_bool stop; /* abandon retries */
  int n;
  oa_otlp_out **outs;
  pthread_t *threads;
  bool *started;
  const char *queue_dir; /* NULL: in memory only */
  oa_crc32c_table crc;
  uint64_t seq, rng;
  atomic_llong accepted, failed_unsent, kept_on_disk, replayed, corrupt;
} otlp_pipe;

static void qnode_free(qnode *n) {
  if (!n) return;
  oa_bytes_reset(&n->req);
  free(n);
}

/* Appends n (the caller holds no lock). */
static void pipe_push(otlp_pipe *p, qnode *n) {
  pthread_mutex_lock(&p->mu);
  if (p->tail)
    p->tail->next = n;
  else
    p->head = n;
  p->tail = n;
  p->queued_spans += n->spans;
  atomic_fetch_add(&p->accepted, n->spans);
  pthread_cond_signal(&p->nonempty);
  pthread_mutex_unlock(&p->mu);
}

static int pipe_sink(void *ctx, const oa_batch *b, oa_error *err) {
  otlp_pipe *p = ctx;
  pthread_mutex_lock(&p->mu);
  bool full = p->closing || (p->queued_spans > 0 && p->max_spans > 0 &&
                             p->queued_spans + b->length > p->max_spans);
  int64_t q = p->queued_spans;
  uint64_t seq = p->seq++;
  uint8_t id[16];
  for (int i = 0; i < 16; i++) {
    p->rng = p->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    id[i] = (uint8_t)(p->rng >> 56);
  }
  pthread_mutex_unlock(&p->mu);
  if (full)
    return oa_error_set(err, EAGAIN,
                        "forward: buffer full (%lld spans queued), retry later",
                        (long long)q);
  qnode *n = calloc(1, sizeof *n);
  if (!n) return oa_error_set(err, ENOMEM, "forward: out of memory");
  oa_bytes_init(&n->req);
  n->spans = b->length;
  int rc = oa_otlp_encode_traces(b, &n->req, err);
  if (!rc && p->queue_dir)
    rc = oa_exp_queue_write(p->queue_dir, &p->crc, seq, id, n->spans,
                            n->req.data, n->req.size, true, n->name, err);
  if (rc) {
    qnode_free(n);
    return rc;
  }
  pipe_push(p, n);
  return 0;
}

typedef struct sender_arg {
  otlp_pipe *p;
  int i;
} sender_arg;

static void *pipe_sender(void *arg) {
  otlp_pipe *p = ((sender_arg *)arg)->p;
  oa_otlp_out *out = p->outs[((sender_arg *)arg)->i];
  free(arg);
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (!p->head && !p->closing)
      pthread_cond_wait(&p->nonempty, &p->mu);
    qnode *n = p->head;
    if (!n) {
      pthread_mutex_unlock(&p->mu);
      break;
    }
    p->head = n->next;
    if (!p->head) p->tail = NULL;
    p->busy++;
    pthread_mutex_unlock(&p->mu);
    oa_error err;
    err.message[0] = 0;
    int rc = ECANCELED;
    if (!atomic_load(&p->stop))
      rc = oa_otlp_out_export_request(out, n->req.data, n->req.size, n->spans,
                                      &p->stop, &err);
    if (rc == ECANCELED) {
      /* shutting down: a persisted request waits for the next process */
      atomic_fetch_add(n->name[0] ? &p->kept_on_disk : &p->failed_unsent,
                       n->spans);
    } else {
      if (rc)
        fprintf(stderr, "otlparrow forward: %lld spans failed: %s\n",
                (long long)n->spans, err.message);
      if (n->name[0] &&
          oa_exp_queue_remove(p->queue_dir, n->name, true, &err) != 0)
        fprintf(stderr, "otlparrow forward: %s\n", err.message);
    }
    pthread_mutex_lock(&p->mu);
    p->queued_spans -= n->spans;
    p->busy--;
    pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->mu);
    qnode_free(n);
  }
  return NULL;
}

/* An Arrow entry (left by `forward --to flight://` in the same data dir) as
 * an OTLP request: each batch of the stream encoded and appended (protobuf
 * concatenation merges the requests' resource_spans). */
static int arrow_entry_to_otlp(oa_bytes *req, oa_error *err) {
  oa_ipc_stream_reader *r = NULL;
  OA_RETURN_NOT_OK(oa_ipc_stream_reader_new(&r, NULL, err));
  oa_bytes out;
  oa_bytes_init(&out);
  int rc = oa_ipc_stream_reader_push(r, req->data, req->size, err);
  oa_batch b;
  oa_batch_init(&b);
  for (bool got = true; !rc && got;) {
    rc = oa_ipc_stream_reader_next(r, &b, &got, err);
    if (!rc && got) rc = oa_otlp_encode_traces(&b, &out, err);
    oa_batch_reset(&b);
  }
  if (!rc) rc = oa_ipc_stream_reader_close(r, err);
  oa_ipc_stream_reader_free(r);
  if (!rc) {
    oa_bytes_reset(req);
    *req = out;
  } else {
    oa_bytes_reset(&out);
  }
  return rc;
}

/* Queues the requests a previous process left in the queue directory. A
 * damaged file is reported, renamed *.corrupt and skipped. */
static int pipe_replay(otlp_pipe *p, oa_error *err) {
  oa_exp_queue_entry *es = NULL;
  int64_t n = 0;
  OA_RETURN_NOT_OK(oa_exp_queue_list(p->queue_dir, &es, &n, err));
  int rc = 0;
  for (int64_t i = 0; i < n && !rc; i++) {
    qnode *q = calloc(1, sizeof *q);
    if (!q) {
      rc = oa_error_set(err, ENOMEM, "forward: out of memory");
      break;
    }
    oa_bytes_init(&q->req);
    oa_error e;
    e.message[0] = 0;
    int qr = oa_exp_queue_read(p->queue_dir, &p->crc, &es[i], &q->req, &e);
    if (!qr && es[i].format == OA_EXP_QUEUE_ARROW &&
        (qr = arrow_entry_to_otlp(&q->req, &e)) != 0)
      oa_error_prefix(&e, qr, "%s: ", es[i].name);
    if (qr != 0) {
      fprintf(stderr, "otlparrow forward: skipping queue file: %s\n",
              e.message);
      char from[4200], to[4300];
      snprintf(from, sizeof from, "%s/%s", p->queue_dir, es[i].name);
      snprintf(to, sizeof to, "%s.corrupt", from);
      rename(from, to);
      atomic_fetch_add(&p->corrupt, 1);
      qnode_free(q);
      continue;
    }
    q->spans = es[i].spans;
    snprintf(q->name, sizeof q->name, "%s", es[i].name);
    atomic_fetch_add(&p->replayed, 1);
    pipe_push(p, q);
  }
  free(es);
  return rc;
}

static void pipe_free(otlp_pipe *p) {
  if (!p) return;
  for (int i = 0; i < p->n; i++)
    oa_otlp_out_free(p->outs ? p->outs[i] : NULL);
  free(p->outs);
  free(p->threads);
  free(p->started);
  for (qnode *n = p->head; n;) {
    qnode *next = n->next;
    qnode_free(n);
    n = next;
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->nonempty);
  pthread_cond_destroy(&p->idle);
  free(p);
}

static int pipe_new(otlp_pipe **out, const fwd_cfg *c, const char *queue_dir,
                    oa_error *err) {
  otlp_pipe *p = calloc(1, sizeof *p);
  if (!p) return oa_error_set(err, ENOMEM, "forward: out of memory");
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->nonempty, NULL);
  pthread_cond_init(&p->idle, NULL);
  p->max_spans = c->max_buffer_spans;
  p->queue_dir = queue_dir;
  oa_crc32c_init(&p->crc);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  /* names sort by seq: later processes' entries after earlier ones */
  p->seq = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
  p->rng = p->seq ^ ((uint64_t)(uintptr_t)p << 17);
  p->n = (int)c->connections;
  p->outs = calloc((size_t)p->n, sizeof *p->outs);
  p->threads = calloc((size_t)p->n, sizeof *p->threads);
  p->started = calloc((size_t)p->n, sizeof *p->started);
  int rc = 0;
  if (!p->outs || !p->threads || !p->started) {
    rc = oa_error_set(err, ENOMEM, "forward: out of memory");
    goto fail;
  }
  oa_otlp_out_options o;
  oa_otlp_out_options_init(&o);
  o.protocol = c->kind == DEST_OTLP_HTTP ? OA_OTLP_OUT_HTTP : OA_OTLP_OUT_GRPC;
  o.endpoint = c->endpoint;
  o.tls = c->tls;
  o.tls_ca_file = c->tls_ca;
  o.tls_cert_file = c->tls_cert;
  o.tls_key_file = c->tls_key;
  o.token = c->token;
  o.headers = c->headers;
  o.gzip = c->compression && strcasecmp(c->compression, "gzip") == 0;
  o.timeout_ms = c->timeout_ms;
  o.retry_max_elapsed_ms = c->retry_max_elapsed_ms;
  for (int i = 0; i < p->n; i++)
    OA_GOTO_NOT_OK(rc, oa_otlp_out_new(&p->outs[i], &o, err), fail);
  if (queue_dir) OA_GOTO_NOT_OK(rc, pipe_replay(p, err), fail);
  for (int i = 0; i < p->n; i++) {
    sender_arg *a = malloc(sizeof *a);
    if (!a) {
      rc = oa_error_set(err, ENOMEM, "forward: out of memory");
      goto fail;
    }
    *a = (sender_arg){p, i};
    if (pthread_create(&p->threads[i], NULL, pipe_sender, a) != 0) {
      free(a);
      rc = oa_error_set(err, EAGAIN, "forward: cannot start a sender thread");
      goto fail;
    }
    p->started[i] = true;
  }
  *out = p;
  return 0;
fail:
  pthread_mutex_lock(&p->mu);
  p->closing = true;
  pthread_cond_broadcast(&p->nonempty);
  pthread_mutex_unlock(&p->mu);
  atomic_store(&p->stop, true);
  for (int i = 0; i < p->n; i++)
    if (p->started && p->started[i]) pthread_join(p->threads[i], NULL);
  pipe_free(p);
  return rc;
}

/* Lets the senders drain for up to timeout_ms, then abandons the rest
 * (failed, or left on disk when persisted) and joins them. */
static void pipe_close(otlp_pipe *p, int64_t timeout_ms) {
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += timeout_ms / 1000;
  dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) {
    dl.tv_sec++;
    dl.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&p->mu);
  p->closing = true;
  pthread_cond_broadcast(&p->nonempty);
  while ((p->head || p->busy) &&
         pthread_cond_timedwait(&p->idle, &p->mu, &dl) != ETIMEDOUT) {
  }
  pthread_mutex_unlock(&p->mu);
  atomic_store(&p->stop, true);
  for (int i = 0; i < p->n; i++)
    if (p->started[i]) pthread_join(p->threads[i], NULL);
}

/* ------------------------------------------------------------ metrics */

typedef struct fwd_metrics {
  int64_t accepted, exported, failed, dropped, queued, retries, bytes_sent;
  int64_t replayed, corrupt;
} fwd_metrics;

static void get_metrics(oa_exporter *e, otlp_pipe *p, fwd_metrics *m) {
  memset(m, 0, sizeof *m);
  if (e) {
    oa_exporter_metrics em;
    oa_exporter_get_metrics(e, &em);
    m->accepted = em.spans_accepted;
    m->exported = em.spans_exported;
    m->failed = em.spans_failed;
    m->dropped = em.spans_dropped;
    /* buffered, or left in the queue directory at exit */
    m->queued = em.queue_depth_spans + em.spans_kept;
    m->retries = em.retries;
    m->bytes_sent = em.bytes_sent;
    m->replayed = em.queue_replayed;
    m->corrupt = em.queue_corrupt;
  }
  if (p) {
    m->accepted = atomic_load(&p->accepted);
    m->failed = atomic_load(&p->failed_unsent);
    m->replayed = atomic_load(&p->replayed);
    m->corrupt = atomic_load(&p->corrupt);
    for (int i = 0; i < p->n; i++) {
      oa_otlp_out_stats st;
      oa_otlp_out_get_stats(p->outs[i], &st);
      /* rejected (partial success) spans were answered: final, not lost */
      m->exported += st.exported_spans;
      m->failed += st.failed_spans + st.rejected_spans;
      m->retries += st.retries;
      m->bytes_sent += st.bytes_sent;
    }
    pthread_mutex_lock(&p->mu);
    /* still in memory, or left in the queue directory at exit */
    m->queued = p->queued_spans + atomic_load(&p->kept_on_disk);
    pthread_mutex_unlock(&p->mu);
  }
}

static void print_metrics(const char *what, oa_exporter *e, otlp_pipe *p,
                          oa_otlp_grpc *g) {
  fwd_metrics m;
  get_metrics(e, p, &m);
  long long backpressure = 0;
  if (g) {
    oa_otlp_grpc_stats st;
    oa_otlp_grpc_get_stats(g, &st);
    backpressure = (long long)st.failed;
  }
  fprintf(stderr,
          "otlparrow forward: %s accepted=%lld exported=%lld failed=%lld "
          "dropped=%lld queued=%lld retries=%lld bytes_sent=%lld "
          "replayed_batches=%lld corrupt_files=%lld grpc_refused=%lld\n",
          what, (long long)m.accepted, (long long)m.exported,
          (long long)m.failed, (long long)m.dropped, (long long)m.queued,
          (long long)m.retries, (long long)m.bytes_sent, (long long)m.replayed,
          (long long)m.corrupt, backpressure);
}

/* ------------------------------------------------------------ sinks */

static int exporter_sink(void *ctx, const oa_batch *b, oa_error *err) {
  int rc = oa_exporter_add_batch(ctx, b, err);
  /* full, shutting down, or the queue file could not be written (disk
   * full): not acknowledged, the sender should come back later */
  if (rc == ETIMEDOUT || rc == EPIPE || rc == EIO) rc = EAGAIN;
  return rc;
}

static void exporter_log(void *ctx, int level, const char *msg) {
  (void)ctx;
  fprintf(stderr, "otlparrow forward: %s%s\n",
          level >= 2   ? "error: "
          : level == 1 ? "warning: "
                       : "",
          msg);
}

/* ------------------------------------------------------------ config */

static bool has_prefix(const char *s, const char *p) {
  return strncasecmp(s, p, strlen(p)) == 0;
}

/* Turns --to (or an OTEL endpoint) into the destination kind and the
 * endpoint string the exporter or otlp_out takes. */
static int parse_dest(fwd_cfg *c, const char *to) {
  static const struct {
    const char *scheme;
    dest_kind kind;
    const char *flight_scheme; /* Flight: what the exporter takes */
    bool tls;
  } kSchemes[] = {
      {"flight+tls://", DEST_FLIGHT, "grpc+tls://", true},
      {"flight://", DEST_FLIGHT, "grpc://", false},
      {"grpc+tls://", DEST_FLIGHT, "grpc+tls://", true},
      {"grpc+tcp://", DEST_FLIGHT, "grpc://", false},
      {"grpc://", DEST_FLIGHT, "grpc://", false},
      {"otlp+http://", DEST_OTLP_HTTP, NULL, false},
      {"otlp+tls://", DEST_OTLP_GRPC, NULL, true},
      {"otlp+grpc://", DEST_OTLP_GRPC, NULL, false},
      {"otlp://", DEST_OTLP_GRPC, NULL, false},
  };
  for (size_t i = 0; i < sizeof kSchemes / sizeof kSchemes[0]; i++) {
    if (!has_prefix(to, kSchemes[i].scheme)) continue;
    const char *rest = to + strlen(kSchemes[i].scheme);
    c->kind = kSchemes[i].kind;
    c->tls = kSchemes[i].tls;
    size_t hl = strcspn(rest, "/");
    if (hl == 0 || !memchr(rest, ':', hl))
      return oa_cli_fail("--to %s: expected %sHOST:PORT", to,
                         kSchemes[i].scheme);
    if (c->kind != DEST_OTLP_HTTP && rest[hl] && strcmp(rest + hl, "/") != 0)
      return oa_cli_fail("--to %s: a path is only allowed for otlp+http://",
                         to);
    int n =
        c->kind == DEST_FLIGHT
            ? snprintf(c->endpoint, sizeof c->endpoint, "%s%.*s",
                       kSchemes[i].flight_scheme, (int)hl, rest)
        : c->kind == DEST_OTLP_GRPC
            ? snprintf(c->endpoint, sizeof c->endpoint, "%.*s", (int)hl, rest)
            : snprintf(c->endpoint, sizeof c->endpoint, "%s", rest);
    if (n < 0 || n >= (int)sizeof c->endpoint)
      return oa_cli_fail("--to: URI too long");
    return 0;
  }
  return oa_cli_fail("--to %s: expected flight://HOST:PORT, "
                     "grpc+tls://HOST:PORT, otlp://HOST:PORT or "
                     "otlp+http://HOST:PORT[/path]",
                     to);
}

static const char *env2(const char *traces, const char *all) {
  const char *v = getenv(traces);
  if (v && *v) return v;
  v = getenv(all);
  return v && *v ? v : NULL;
}

/* The OTEL_EXPORTER_OTLP_* variables, for what the command line left
 * unset. Endpoint URLs are http(s)://HOST:PORT[/path]. */
static int apply_env(fwd_cfg *c, char *buf, size_t cap) {
  if (!c->to) {
    const char *te = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    const char *ae = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    const char *ep = te && *te ? te : ae && *ae ? ae : NULL;
    if (ep) {
      const char *proto = env2("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                               "OTEL_EXPORTER_OTLP_PROTOCOL");
      bool grpc = proto && strcasecmp(proto, "grpc") == 0;
      bool https = has_prefix(ep, "https://");
      const char *hp = has_prefix(ep, "http://") ? ep + 7 : https ? ep + 8 : ep;
      if (strstr(ep, "://") && hp == ep) {
        c->to = ep; /* already one of our URIs */
      } else {
        size_t hl = strcspn(hp, "/");
        bool signal_path = ep == te; /* TRACES_ENDPOINT: the path is used */
        int n;
        if (grpc)
          n = snprintf(buf, cap, "%s%.*s", https ? "otlp+tls://" : "otlp://",
                       (int)hl, hp);
        else if (https)
          return oa_cli_fail("%s=%s: OTLP/HTTP over HTTPS is not supported",
                             ep == te ? "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
                                      : "OTEL_EXPORTER_OTLP_ENDPOINT",
                             ep);
        else if (signal_path && hp[hl])
          n = snprintf(buf, cap, "otlp+http://%s", hp);
        else {
          /* OTEL_EXPORTER_OTLP_ENDPOINT: base URL + /v1/traces */
          size_t pl = strlen(hp);
          while (pl > hl && hp[pl - 1] == '/')
            pl--;
          n = snprintf(buf, cap, "otlp+http://%.*s/v1/traces", (int)pl, hp);
        }
        if (n < 0 || (size_t)n >= cap)
          return oa_cli_fail("OTEL_EXPORTER_OTLP endpoint too long");
        c->to = buf;
      }
    }
  }
  if (!c->headers)
    c->headers =
        env2("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS");
  if (!c->compression)
    c->compression = env2("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                          "OTEL_EXPORTER_OTLP_COMPRESSION");
  if (!c->tls_ca)
    c->tls_ca = env2("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                     "OTEL_EXPORTER_OTLP_CERTIFICATE");
  if (!c->tls_cert)
    c->tls_cert = env2("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                       "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE");
  if (!c->tls_key)
    c->tls_key = env2("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                      "OTEL_EXPORTER_OTLP_CLIENT_KEY");
  if (c->timeout_ms == 0) {
    const char *t =
        env2("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT");
    int64_t v;
    if (t && oa_cli_parse_i64(t, &v) && v > 0) c->timeout_ms = v;
  }
  return 0;
}

static int parse_args(fwd_cfg *c, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
      c->verbose = true;
      continue;
    }
    if (strcmp(a, "--no-queue") == 0) {
      c->no_queue = true;
      continue;
    }
    if (strncmp(a, "--", 2) != 0)
      return oa_cli_fail("forward: unexpected argument '%s' (see --help)", a);
    char name[64];
    const char *eq = strchr(a, '=');
    size_t nl = eq ? (size_t)(eq - a) : strlen(a);
    if (nl >= sizeof name)
      return oa_cli_fail("forward: unknown option '%s' (see --help)", a);
    memcpy(name, a, nl);
    name[nl] = 0;
    const char *v;
    if (eq) {
      v = eq + 1;
    } else {
      if (i + 1 >= argc)
        return oa_cli_fail("forward: %s needs a value (see --help)", a);
      v = argv[++i];
    }
    const struct {
      const char *name;
      const char **slot;
    } strs[] = {{"--to", &c->to},
                {"--otlp-grpc", &c->otlp_grpc},
                {"--otlp-http", &c->otlp_http},
                {"--data-dir", &c->data_dir},
                {"--compression", &c->compression},
                {"--token", &c->token},
                {"--headers", &c->headers},
                {"--tls-ca", &c->tls_ca},
                {"--tls-cert", &c->tls_cert},
                {"--tls-key", &c->tls_key},
                {"--auth-token", &c->auth_token}};
    bool done = false;
    for (size_t k = 0; k < sizeof strs / sizeof strs[0] && !done; k++)
      if (strcmp(name, strs[k].name) == 0) {
        *strs[k].slot = v;
        done = true;
      }
    if (done) continue;
    const struct {
      const char *name;
      int64_t *slot;
      int64_t min, max;
    } nums[] = {{"--batch-size", &c->batch_size, 1, 1 << 24},
                {"--flush-interval", &c->flush_interval_ms, 1, 3600000},
                {"--max-buffer-spans", &c->max_buffer_spans, 1, INT64_MAX},
                {"--connections", &c->connections, 1, 64},
                {"--retry-max-elapsed", &c->retry_max_elapsed_ms, 0, 86400000},
                {"--timeout", &c->timeout_ms, 1, 3600000},
                {"--shutdown-timeout", &c->shutdown_timeout_ms, 0, 3600000},
                {"--threads", &c->threads, 1, 64},
                {"--max-recv-size", &c->max_recv_size, 1, INT64_MAX},
                {"--metrics-interval", &c->metrics_interval_s, 1, 86400}};
    for (size_t k = 0; k < sizeof nums / sizeof nums[0] && !done; k++)
      if (strcmp(name, nums[k].name) == 0) {
        int64_t x;
        bool ok = strcmp(name, "--max-recv-size") == 0
                      ? oa_cli_parse_size(v, &x)
                      : oa_cli_parse_i64(v, &x);
        if (!ok || x < nums[k].min || x > nums[k].max)
          return oa_cli_fail("forward: %s must be an integer in %lld..%lld, "
                             "not '%s'",
                             name, (long long)nums[k].min,
                             (long long)nums[k].max, v);
        *nums[k].slot = x;
        done = true;
      }
    if (!done)
      return oa_cli_fail("forward: unknown option '%s' (see --help)", a);
  }
  return 0;
}

typedef struct token_find {
  char token[512];
} token_find;

static int find_bearer(void *ctx, const char *key, const char *value,
                       oa_error *err) {
  token_find *t = ctx;
  if (strcasecmp(key, "authorization") == 0 &&
      strncasecmp(value, "Bearer ", 7) == 0)
    snprintf(t->token, sizeof t->token, "%s", value + 7);
  return 0;
}

static int make_dir(const char *path, const char *what) {
  struct stat st;
  if (stat(path, &st) != 0 && mkdir(path, 0755) != 0)
    return oa_cli_fail("%s %s: %s", what, path, strerror(errno));
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    return oa_cli_fail("%s %s is not a directory", what, path);
  return 0;
}

/* ------------------------------------------------------------ run */

static int forward_run(fwd_cfg *c) {
  oa_error err;
  err.message[0] = 0;
  int rc = 1;
  oa_exporter *exp = NULL;
  otlp_pipe *opipe = NULL;
  oa_grpc_server *srv = NULL;
  oa_otlp_grpc *otlp = NULL;
  oa_otlp_http *http = NULL;
  char queue_dir[4096];
  char shown[300];
  int (*sink)(void *, const oa_batch *, oa_error *) = NULL;
  void *sink_ctx = NULL;

  if ((c->tls_cert != NULL) != (c->tls_key != NULL))
    return oa_cli_fail("--tls-cert and --tls-key go together");
  if (c->data_dir && make_dir(c->data_dir, "--data-dir")) return 1;

  /* Block the stop signals before any thread starts (the exporter's and
   * gRPC's included): a thread that left them unblocked would take a
   * SIGTERM while the main thread is between two sigtimedwait calls, and
   * its default action ends the process without the final flush. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  if (c->kind == DEST_FLIGHT) {
    /* Flight takes a bearer token only: "authorization=Bearer X" from
     * --headers / OTEL_EXPORTER_OTLP_HEADERS is the one header that applies */
    token_find tf = {{0}};
    if (c->headers &&
        oa_otlp_out_parse_headers(c->headers, find_bearer, &tf, &err) != 0)
      return oa_cli_fail("--headers: %s", err.message);
    oa_exporter_config ec;
    oa_exporter_config_init(&ec);
    ec.endpoint = c->endpoint;
    if (c->batch_size) ec.batch_size = c->batch_size;
    if (c->flush_interval_ms) ec.flush_interval_ms = c->flush_interval_ms;
    if (c->max_buffer_spans) ec.max_buffer_spans = c->max_buffer_spans;
    ec.overflow = OA_OVERFLOW_BLOCK;
    ec.block_timeout_ms = 0; /* EAGAIN at once: the receivers say retry */
    if (c->compression &&
        oa_compression_parse(c->compression, &ec.compression, &err) != 0)
      return oa_cli_fail("--compression: %s (Flight takes none, lz4, zstd)",
                         err.message);
    ec.connections = (int)c->connections;
    if (c->timeout_ms) ec.deadline_ms = c->timeout_ms;
    ec.retry.max_elapsed_ms = c->retry_max_elapsed_ms;
    ec.tls_ca_file = c->tls_ca;
    ec.tls_cert_file = c->tls_cert;
    ec.tls_key_file = c->tls_key;
    ec.token = c->token ? c->token : tf.token[0] ? tf.token : NULL;
    if (c->data_dir && !c->no_queue) {
      int n = snprintf(queue_dir, sizeof queue_dir, "%s/queue", c->data_dir);
      if (n < 0 || n >= (int)sizeof queue_dir)
        return oa_cli_fail("--data-dir: path too long");
      if (make_dir(queue_dir, "queue directory")) return 1;
      ec.queue_dir = queue_dir;
    }
    ec.log = exporter_log;
    if (oa_exporter_new(&exp, &ec, &err) != 0)
      return oa_cli_fail("--to %s: %s", c->to, err.message);
    sink = exporter_sink;
    sink_ctx = exp;
  } else {
    if (c->compression && strcasecmp(c->compression, "gzip") != 0 &&
        strcasecmp(c->compression, "none") != 0)
      return oa_cli_fail("--compression %s: OTLP out takes none or gzip",
                         c->compression);
    const char *qd = NULL;
    if (c->data_dir && !c->no_queue) {
      int n = snprintf(queue_dir, sizeof queue_dir, "%s/queue", c->data_dir);
      if (n < 0 || n >= (int)sizeof queue_dir)
        return oa_cli_fail("--data-dir: path too long");
      if (make_dir(queue_dir, "queue directory")) return 1;
      qd = queue_dir;
    }
    if (pipe_new(&opipe, c, qd, &err) != 0)
      return oa_cli_fail("--to %s: %s", c->to, err.message);
    sink = pipe_sink;
    sink_ctx = opipe;
  }

  if (!oa_cli_addr_off(c->otlp_grpc)) {
    oa_grpc_server_options so;
    oa_grpc_server_options_default(&so);
    so.threads = (int)c->threads;
    so.auth_token = c->auth_token;
    so.max_recv_message_size = c->max_recv_size;
    oa_otlp_grpc_options oo;
    oa_otlp_grpc_options_init(&oo);
    oo.max_recv_size = c->max_recv_size;
    oo.sink = sink;
    oo.sink_ctx = sink_ctx;
    int port;
    if (oa_grpc_server_new(&srv, &so, &err) ||
        oa_otlp_grpc_register(&otlp, srv, &oo, NULL, &err) ||
        oa_grpc_server_add_listener(srv, c->otlp_grpc, NULL, &port, &err) ||
        oa_grpc_server_start(srv, &err)) {
      oa_cli_fail("OTLP/gRPC: %s", err.message);
      goto done;
    }
    oa_cli_bound_addr(shown, sizeof shown, c->otlp_grpc, port);
    printf("otlparrow forward: OTLP/gRPC on %s\n", shown);
  }
  if (!oa_cli_addr_off(c->otlp_http)) {
    oa_otlp_http_options ho;
    oa_otlp_http_options_init(&ho);
    ho.listen = c->otlp_http;
    ho.auth_token = c->auth_token;
    ho.sink = sink;
    ho.sink_ctx = sink_ctx;
    if (oa_otlp_http_start(&http, &ho, NULL, &err)) {
      oa_cli_fail("OTLP/HTTP: %s", err.message);
      goto done;
    }
    oa_cli_bound_addr(shown, sizeof shown, c->otlp_http,
                      oa_otlp_http_port(http));
    printf("otlparrow forward: OTLP/HTTP on %s\n", shown);
  }
  if (!srv && !http) {
    oa_cli_fail("forward: both receivers are off");
    goto done;
  }
  printf("otlparrow forward: ready, forwarding to %s%s\n", c->to,
         c->data_dir && !c->no_queue ? " (persistent queue)" : "");
  fflush(stdout);

  int sig = 0;
  time_t last = time(NULL);
  for (;;) {
    struct timespec tick = {1, 0};
    sig = sigtimedwait(&stop, NULL, &tick);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (c->verbose && time(NULL) - last >= c->metrics_interval_s) {
      last = time(NULL);
      print_metrics("metrics", exp, opipe, otlp);
    }
  }
  fprintf(stderr, "otlparrow forward: %s, flushing\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  rc = 0;

done:
  /* receivers first, so nothing arrives while the exporter flushes */
  if (http) oa_otlp_http_stop(http);
  if (srv) oa_grpc_server_shutdown(srv, -1);
  if (exp) {
    if (oa_exporter_shutdown(exp, c->shutdown_timeout_ms, &err) != 0)
      fprintf(stderr, "otlparrow forward: shutdown: %s\n", err.message);
  }
  if (opipe) pipe_close(opipe, c->shutdown_timeout_ms);
  if (rc == 0) print_metrics("final", exp, opipe, otlp);
  oa_grpc_server_free(srv);
  oa_otlp_grpc_free(otlp);
  oa_exporter_free(exp);
  pipe_free(opipe);
  return rc;
}

int oa_cli_forward(int argc, char **argv) {
  fwd_cfg c;
  memset(&c, 0, sizeof c);
  for (int i = 1; i < argc; i++)
    if (oa_cli_is_help(argv[i])) {
      fputs(kForwardHelp, stdout);
      return 0;
    }
  if (parse_args(&c, argc, argv) != 0) return 1;
  char env_to[1100];
  if (apply_env(&c, env_to, sizeof env_to) != 0) return 1;
  if (!c.to)
    return oa_cli_fail("forward: give --to URI (or set "
                       "OTEL_EXPORTER_OTLP_ENDPOINT); see --help");
  if (!c.otlp_grpc) c.otlp_grpc = "127.0.0.1:4317";
  if (!c.otlp_http) c.otlp_http = "127.0.0.1:4318";
  if (!c.connections) c.connections = 1;
  if (!c.threads) c.threads = 2;
  if (!c.max_recv_size) c.max_recv_size = 4 << 20;
  if (!c.metrics_interval_s) c.metrics_interval_s = 5;
  if (!c.shutdown_timeout_ms) c.shutdown_timeout_ms = 10000;
  if (!c.max_buffer_spans) c.max_buffer_spans = 1 << 20;
  if (!c.timeout_ms) c.timeout_ms = 30000;
  bool retry_set = false;
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "--retry-max-elapsed", 19) == 0) retry_set = true;
  if (!retry_set) c.retry_max_elapsed_ms = 60000;
  if (parse_dest(&c, c.to) != 0) return 1;
  return forward_run(&c);
}
