/* otlparrow loadgen: drives an OTLP/gRPC receiver (Export) or an Arrow
 * Flight server (DoPut/DoGet) with pre-generated data and reports
 * throughput, latency, errors by status and the server's CPU cost. */
#include <errno.h>
#include <grpc/support/time.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "flight/flight_proto.h"
#include "grpc/oa_grpc.h"
#include "otlparrow/flight_client.h"
#include "otlparrow/otlp.h"

static const char kLoadgenHelp[] =
    "usage: otlparrow loadgen (--otlp-grpc HOST:PORT | --flight HOST:PORT)\n"
    "                         [options]\n"
    "\n"
    "Sends pre-generated traces as fast as allowed and reports requests/s,\n"
    "spans/s, MB/s, latency p50/p99 and errors by gRPC status. Runs for\n"
    "--duration seconds or --requests requests, whichever ends first.\n"
    "\n"
    "targets:\n"
    "  --otlp-grpc HOST:PORT   OTLP/gRPC TraceService/Export requests\n"
    "  --flight HOST:PORT      Arrow Flight (HOST:PORT or a grpc[+tls]:// "
    "URI)\n"
    "\n"
    "options:\n"
    "  --mode put|get          Flight: DoPut of batches (default) or DoGet\n"
    "                          of a dataset put once beforehand\n"
    "  --spans-per-request N   OTLP: spans per Export request (default 1000)\n"
    "  --batch-spans N         Flight: spans per record batch (default 10000)\n"
    "  --connections C         gRPC channels (TCP connections; default 2)\n"
    "  --concurrency K         in-flight calls per connection (default 4 for\n"
    "                          OTLP, 1 for Flight)\n"
    "  --duration S            seconds to run (default 10)\n"
    "  --requests N            stop after N requests (default: no limit)\n"
    "  --rate R                at most R requests/s in total (default: no "
    "limit)\n"
    "  --compression C         Flight DoPut IPC compression: none, lz4, zstd\n"
    "  --no-validate           Flight DoGet: skip full validation of batches\n"
    "  --drop-bytes BYTES      Flight DoPut: drop a worker's dataset "
    "(DoAction\n"
    "                          drop-dataset) after it put this many bytes\n"
    "                          (default 256M; K/M/G suffixes)\n"
    "  --token TOKEN           bearer token for every call\n"
    "  --tls-ca FILE           TLS with this CA (PEM); also --tls-cert FILE\n"
    "                          and --tls-key FILE for mTLS\n"
    "  --server-pid PID        read the server's CPU time from /proc/PID/stat\n"
    "                          and report CPU seconds per million spans\n"
    "  --seed N                generator seed (default 1)\n"
    "  --json                  print one JSON line instead of the report\n"
    "  --allow-remote          allow a non-loopback target\n"
    "  -h, --help              this help\n";

#define N_CODES 17
#define DISTINCT_REQUESTS 8

typedef struct lg_cfg {
  const char *otlp, *flight, *mode, *token, *ca, *cert, *key;
  int64_t spans_per_req, batch_spans, connections, concurrency;
  double duration, rate;
  int64_t requests, server_pid, seed, drop_bytes;
  oa_compression compression;
  bool json, allow_remote, no_validate;
} lg_cfg;

/* Shared by all workers. */
typedef struct lg_shared {
  const lg_cfg *cfg;
  int n_workers;
  atomic_llong issued; /* requests started (for --requests) */
  double t_end;        /* monotonic seconds */
  double t_start;
  /* OTLP */
  grpc_slice reqs[DISTINCT_REQUESTS];
  int64_t req_bytes[DISTINCT_REQUESTS];
  int64_t n_reqs;
  /* Flight */
  oa_schema *schema;
  oa_batch batch;
  oa_flight_client **conns;
} lg_shared;

typedef struct lg_worker {
  lg_shared *sh;
  int index;
  pthread_t th;
  oa_grpc_channel *ch; /* OTLP */
  oa_flight_client *fc;
  int64_t ok, spans, rejected, bytes;
  int64_t codes[N_CODES + 1]; /* the last: local failures */
  double *lat;                /* seconds */
  int64_t n_lat, cap_lat;
  char first_error[256];
} lg_worker;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void add_lat(lg_worker *w, double s) {
  if (w->n_lat == w->cap_lat) {
    int64_t cap = w->cap_lat ? w->cap_lat * 2 : 4096;
    double *p = realloc(w->lat, (size_t)cap * sizeof *p);
    if (!p) return;
    w->lat = p;
    w->cap_lat = cap;
  }
  w->lat[w->n_lat++] = s;
}

static void count_code(lg_worker *w, int code, const char *msg) {
  if (code < 0 || code >= N_CODES) code = N_CODES;
  w->codes[code]++;
  /* the first error is kept for the report; a long one is cut */
  if (code != 0 && !w->first_error[0] &&
      snprintf(w->first_error, sizeof w->first_error, "%s: %s",
               code == N_CODES ? "LOCAL" : oa_grpc_status_name(code),
               msg) >= (int)sizeof w->first_error)
    w->first_error[sizeof w->first_error - 1] = 0;
}

/* May another request start? Claims it when yes. */
static bool claim(lg_shared *sh) {
  if (now_s() >= sh->t_end) return false;
  if (sh->cfg->requests > 0 &&
      atomic_fetch_add(&sh->issued, 1) >= sh->cfg->requests)
    return false;
  return true;
}

/* Paced start time of this worker's i-th request (--rate), or 0. */
static double paced(const lg_worker *w, int64_t i) {
  const lg_cfg *c = w->sh->cfg;
  if (c->rate <= 0) return 0;
  double per_worker = c->rate / (double)w->sh->n_workers;
  return w->sh->t_start + (double)i / per_worker;
}

/* ---------------------------------------------------------- OTLP */

/* rejected_spans of an ExportTraceServiceResponse (0 if none). */
static int64_t rejected_of(const oa_bytes *resp) {
  oa_pb_reader r;
  oa_pb_field f, g;
  bool more, m2;
  oa_pb_reader_init(&r, resp->data, resp->size);
  while (oa_pb_next(&r, &f, &more, "response", NULL) == 0 && more) {
    if (f.number != 1 || f.wire != 2) continue;
    oa_pb_reader p;
    oa_pb_reader_init(&p, f.bytes.data, f.bytes.size);
    while (oa_pb_next(&p, &g, &m2, "partial_success", NULL) == 0 && m2)
      if (g.number == 1 && g.wire == 0) return (int64_t)g.value;
  }
  return 0;
}

typedef struct otlp_slot {
  oa_grpc_unary_op op;
  double t0;
  int req;
  bool busy;
} otlp_slot;

static void *otlp_worker(void *arg) {
  lg_worker *w = arg;
  lg_shared *sh = w->sh;
  const lg_cfg *c = sh->cfg;
  int k = (int)c->concurrency;
  otlp_slot *slots = calloc((size_t)k, sizeof *slots);
  grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
  char auth[300];
  oa_grpc_call_options co = {30000, NULL};
  if (c->token) {
    snprintf(auth, sizeof auth, "Bearer %s", c->token);
    co.authorization = auth;
  }
  oa_bytes resp;
  oa_bytes_init(&resp);
  oa_grpc_result res;
  oa_grpc_result_init(&res);
  int64_t started = 0;
  int busy = 0;
  bool stop = false;
  static const char path[] =
      "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
  for (;;) {
    /* fill free slots (paced) */
    double next_at = 0;
    for (int i = 0; i < k && !stop; i++) {
      if (slots[i].busy) continue;
      double at = paced(w, started);
      if (at > 0 && now_s() < at) {
        next_at = at;
        break;
      }
      if (!claim(sh)) {
        stop = true;
        break;
      }
      otlp_slot *s = &slots[i];
      s->req = (int)((w->index + started) % sh->n_reqs);
      grpc_slice sl = grpc_slice_ref(sh->reqs[s->req]);
      s->t0 = now_s();
      oa_error e;
      if (oa_grpc_unary_start(&s->op, w->ch, cq, path, &sl, 1, &co, s, &e)) {
        count_code(w, -1, e.message);
        continue;
      }
      s->busy = true;
      busy++;
      started++;
    }
    if (busy == 0 && (stop || next_at == 0)) break;
    gpr_timespec until = gpr_inf_future(GPR_CLOCK_MONOTONIC);
    if (next_at > 0) {
      double wait = next_at - now_s();
      if (wait < 0) wait = 0;
      until = gpr_time_add(
          gpr_now(GPR_CLOCK_MONOTONIC),
          gpr_time_from_micros((int64_t)(wait * 1e6), GPR_TIMESPAN));
    }
    grpc_event ev = grpc_completion_queue_next(cq, until, NULL);
    if (ev.type != GRPC_OP_COMPLETE) continue;
    otlp_slot *s = ev.tag;
    resp.size = 0;
    grpc_status_code code = oa_grpc_unary_complete(&s->op, &resp, &res);
    double lat = now_s() - s->t0;
    s->busy = false;
    busy--;
    count_code(w, (int)code, res.message);
    if (code == GRPC_STATUS_OK) {
      int64_t rej = rejected_of(&resp);
      w->ok++;
      w->spans += c->spans_per_req - rej;
      w->rejected += rej;
      w->bytes += sh->req_bytes[s->req];
      add_lat(w, lat);
    }
  }
  oa_bytes_reset(&resp);
  oa_grpc_result_reset(&res);
  grpc_completion_queue_shutdown(cq);
  while (
      grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
          .type != GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  free(slots);
  return NULL;
}

/* ---------------------------------------------------------- Flight */

static void *flight_worker(void *arg) {
  lg_worker *w = arg;
  lg_shared *sh = w->sh;
  const lg_cfg *c = sh->cfg;
  bool put = strcmp(c->mode, "put") == 0;
  char name[64];
  snprintf(name, sizeof name, "loadgen-%d", w->index);
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  wo.compression = c->compression;
  int64_t since_drop = 0;
  oa_error e;
  for (int64_t i = 0;; i++) {
    double at = paced(w, i);
    if (at > 0) {
      double wait = at - now_s();
      if (wait > 0) usleep((useconds_t)(wait * 1e6));
    }
    if (!claim(sh)) break;
    double t0 = now_s();
    int rc;
    int64_t bytes = 0, spans = 0;
    if (put) {
      oa_flight_put_result pr;
      rc = oa_flight_client_do_put(w->fc, name, sh->schema, &sh->batch, 1, &wo,
                                   NULL, &pr, &e);
      bytes = pr.bytes;
      spans = sh->batch.length;
    } else {
      oa_flight_get_result gr;
      rc = oa_flight_client_do_get(w->fc, "loadgen-get", 11, NULL, NULL, &gr,
                                   &e);
      bytes = gr.bytes;
      spans = gr.rows;
    }
    double lat = now_s() - t0;
    int code = oa_flight_client_last_status(w->fc);
    count_code(w, rc == 0 ? 0 : (code > 0 ? code : -1), e.message);
    if (rc == 0) {
      w->ok++;
      w->spans += spans;
      w->bytes += bytes;
      add_lat(w, lat);
      since_drop += bytes;
    }
    if (put && since_drop >= c->drop_bytes) {
      oa_flight_client_do_action(w->fc, "drop-dataset", name,
                                 (int64_t)strlen(name), NULL, NULL, NULL);
      since_drop = 0;
    }
  }
  if (put)
    oa_flight_client_do_action(w->fc, "drop-dataset", name,
                               (int64_t)strlen(name), NULL, NULL, NULL);
  return NULL;
}

/* ------------------------------------------------------------ setup */

/* An ExportTraceServiceRequest of exactly n spans: generated requests are
 * concatenated (a request is a repeated field, so their bytes add up). */
static int gen_request(oa_trace_gen *g, int64_t n, oa_bytes *out,
                       oa_error *err) {
  oa_bytes part;
  oa_bytes_init(&part);
  out->size = 0;
  int64_t have = 0;
  int rc = 0;
  while (have < n && rc == 0) {
    int64_t got = 0;
    rc = oa_trace_gen_next_request(g, n - have, &part, &got, err);
    if (rc == 0 && got == 0) {
      oa_trace_gen_reset(g); /* ran out: start over */
      continue;
    }
    if (rc == 0) rc = oa_bytes_append(out, part.data, part.size);
    have += got;
  }
  oa_bytes_reset(&part);
  return rc;
}

static double cpu_seconds(int64_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *p = strrchr(buf, ')');
  if (!p) return -1;
  /* after ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt
   * majflt cmajflt utime(14) stime(15) */
  p += 2;
  for (int field = 3; field < 14; field++) {
    while (*p == ' ')
      p++;
    if (!*p) return -1;
    while (*p && *p != ' ')
      p++;
  }
  char *end = NULL;
  errno = 0;
  unsigned long long ut = strtoull(p, &end, 10);
  if (end == p || errno) return -1;
  p = end;
  unsigned long long st = strtoull(p, &end, 10);
  if (end == p || errno) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static bool is_loopback(const char *target) {
  const char *h = target;
  const char *sep = strstr(h, "://");
  if (sep) h = sep + 3;
  if (strncmp(h, "unix:", 5) == 0) return true;
  return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost:", 10) == 0 ||
         strncmp(h, "[::1]:", 6) == 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *v, int64_t n, double p) {
  if (n == 0) return 0;
  int64_t i = (int64_t)ceil(p * (double)n) - 1;
  if (i < 0) i = 0;
  if (i >= n) i = n - 1;
  return v[i];
}

static bool parse_bytes(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || v < 0) return false;
  int64_t m = 1;
  if (*end == 'k' || *end == 'K')
    m = 1 << 10;
  else if (*end == 'm' || *end == 'M')
    m = 1 << 20;
  else if (*end == 'g' || *end == 'G')
    m = 1LL << 30;
  else if (*end)
    return false;
  if (m > 1 && end[1]) return false;
  *out = v * m;
  return true;
}

static int run(lg_cfg *c) {
  oa_error err;
  err.message[0] = 0;
  lg_shared sh;
  memset(&sh, 0, sizeof sh);
  sh.cfg = c;
  oa_batch_init(&sh.batch);
  bool otlp = c->otlp != NULL;
  const char *target = otlp ? c->otlp : c->flight;
  int rc = 1;
  int nw = (int)(otlp ? c->connections : c->connections * c->concurrency);
  lg_worker *ws = calloc((size_t)nw, sizeof *ws);
  oa_grpc_channel **chs = NULL;
  char *ca = NULL, *cert = NULL, *key = NULL;
  if (!ws) return oa_cli_fail("out of memory");

  oa_trace_gen g;
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.seed = (uint64_t)c->seed;
  go.spans = otlp ? c->spans_per_req * DISTINCT_REQUESTS : c->batch_spans;
  if (oa_trace_gen_init(&g, &go, &err)) {
    free(ws);
    return oa_cli_fail("generator: %s", err.message);
  }
  oa_bytes req;
  oa_bytes_init(&req);
  double prep = now_s();
  if (otlp) {
    for (int i = 0; i < DISTINCT_REQUESTS; i++) {
      if (gen_request(&g, c->spans_per_req, &req, &err)) {
        oa_cli_fail("generator: %s", err.message);
        goto done;
      }
      sh.reqs[i] = grpc_slice_from_copied_buffer((const char *)req.data,
                                                 (size_t)req.size);
      sh.req_bytes[i] = req.size;
      sh.n_reqs++;
    }
  } else {
    if (gen_request(&g, c->batch_spans, &req, &err) ||
        oa_otlp_decode_traces(req.data, req.size, NULL, &sh.batch, NULL,
                              &err)) {
      oa_cli_fail("generator: %s", err.message);
      goto done;
    }
    sh.schema = sh.batch.schema;
  }
  prep = now_s() - prep;

  /* connections */
  if (otlp) {
    oa_grpc_channel_options co;
    oa_grpc_channel_options_init(&co);
    if (c->ca && (oa_grpc_read_pem(c->ca, &ca, &err) ||
                  (c->cert && oa_grpc_read_pem(c->cert, &cert, &err)) ||
                  (c->key && oa_grpc_read_pem(c->key, &key, &err)))) {
      oa_cli_fail("TLS: %s", err.message);
      goto done;
    }
    co.ca_pem = ca;
    co.cert_pem = cert;
    co.key_pem = key;
    co.max_recv_message_size = -1;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    chs = calloc((size_t)c->connections, sizeof *chs);
    if (!chs) {
      oa_cli_fail("out of memory");
      goto done;
    }
    for (int64_t i = 0; i < c->connections; i++)
      if (oa_grpc_channel_new(&chs[i], target, &co, &err)) {
        oa_cli_fail("--otlp-grpc %s: %s", target, err.message);
        goto done;
      }
    for (int i = 0; i < nw; i++)
      ws[i].ch = chs[i];
  } else {
    char uri[600];
    if (strstr(target, "://"))
      snprintf(uri, sizeof uri, "%s", target);
    else
      snprintf(uri, sizeof uri, "%s://%s", c->ca ? "grpc+tls" : "grpc", target);
    oa_flight_client_options fo;
    oa_flight_client_options_init(&fo);
    fo.token = c->token;
    fo.tls_ca_file = c->ca;
    fo.tls_cert_file = c->cert;
    fo.tls_key_file = c->key;
    fo.deadline_ms = 120000;
    fo.max_message_size = -1; /* the server takes 2 GiB messages */
    oa_ipc_read_options ro;
    oa_ipc_read_options_init(&ro);
    if (c->no_validate) {
      ro.validate = false;
      ro.check_utf8 = false;
    }
    fo.read = &ro;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    sh.conns = calloc((size_t)c->connections, sizeof *sh.conns);
    if (!sh.conns) {
      oa_cli_fail("out of memory");
      goto done;
    }
    for (int64_t i = 0; i < c->connections; i++)
      if (oa_flight_client_new(&sh.conns[i], uri, &fo, &err)) {
        oa_cli_fail("--flight: %s", err.message);
        goto done;
      }
    for (int i = 0; i < nw; i++)
      if (oa_flight_client_new_shared(&ws[i].fc, sh.conns[i % c->connections],
                                      &err)) {
        oa_cli_fail("--flight: %s", err.message);
        goto done;
      }
    if (strcmp(c->mode, "get") == 0) {
      oa_flight_client_do_action(sh.conns[0], "drop-dataset", "loadgen-get", 11,
                                 NULL, NULL, NULL);
      if (oa_flight_client_do_put(sh.conns[0], "loadgen-get", sh.schema,
                                  &sh.batch, 1, NULL, NULL, NULL, &err)) {
        oa_cli_fail("--flight: preparing the DoGet dataset: %s", err.message);
        goto done;
      }
    }
  }

  double cpu0 = c->server_pid ? cpu_seconds(c->server_pid) : -1;
  if (c->server_pid && cpu0 < 0) {
    oa_cli_fail("--server-pid %lld: cannot read /proc/%lld/stat",
                (long long)c->server_pid, (long long)c->server_pid);
    goto done;
  }
  sh.n_workers = nw;
  sh.t_start = now_s();
  sh.t_end = sh.t_start + c->duration;
  for (int i = 0; i < nw; i++) {
    ws[i].sh = &sh;
    ws[i].index = i;
    pthread_create(&ws[i].th, NULL, otlp ? otlp_worker : flight_worker, &ws[i]);
  }
  for (int i = 0; i < nw; i++)
    pthread_join(ws[i].th, NULL);
  double elapsed = now_s() - sh.t_start;
  double cpu1 = c->server_pid ? cpu_seconds(c->server_pid) : -1;
  if (!otlp && strcmp(c->mode, "get") == 0)
    oa_flight_client_do_action(sh.conns[0], "drop-dataset", "loadgen-get", 11,
                               NULL, NULL, NULL);

  /* merge */
  int64_t ok = 0, spans = 0, bytes = 0, rejected = 0, nlat = 0;
  int64_t codes[N_CODES + 1] = {0};
  const char *first_error = "";
  for (int i = 0; i < nw; i++) {
    ok += ws[i].ok;
    spans += ws[i].spans;
    bytes += ws[i].bytes;
    rejected += ws[i].rejected;
    nlat += ws[i].n_lat;
    for (int k = 0; k <= N_CODES; k++)
      codes[k] += ws[i].codes[k];
    if (!first_error[0] && ws[i].first_error[0])
      first_error = ws[i].first_error;
  }
  double *lat = malloc((size_t)(nlat ? nlat : 1) * sizeof *lat);
  int64_t li = 0;
  for (int i = 0; lat && i < nw; i++) {
    if (ws[i].n_lat == 0) continue; /* lat may be NULL: no memcpy from it */
    memcpy(lat + li, ws[i].lat, (size_t)ws[i].n_lat * sizeof *lat);
    li += ws[i].n_lat;
  }
  if (lat) qsort(lat, (size_t)nlat, sizeof *lat, cmp_double);
  double p50 = lat ? pct(lat, nlat, 0.50) * 1e3 : 0;
  double p99 = lat ? pct(lat, nlat, 0.99) * 1e3 : 0;
  free(lat);
  int64_t errors = 0;
  for (int k = 1; k <= N_CODES; k++)
    errors += codes[k];
  double rps = (double)ok / elapsed, sps = (double)spans / elapsed;
  double mbps = (double)bytes / elapsed / 1e6;
  double cpu = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
  const char *what =
      otlp ? "otlp-grpc"
           : (strcmp(c->mode, "put") == 0 ? "flight-put" : "flight-get");
  if (c->json) {
    printf("{\"scenario\":\"%s\",\"target\":\"%s\",\"connections\":%lld,"
           "\"concurrency\":%lld,\"spans_per_request\":%lld,"
           "\"compression\":\"%s\",\"seconds\":%.3f,\"requests\":%lld,"
           "\"spans\":%lld,\"rejected_spans\":%lld,\"bytes\":%lld,"
           "\"requests_per_s\":%.1f,\"spans_per_s\":%.0f,\"mb_per_s\":%.1f,"
           "\"latency_p50_ms\":%.3f,\"latency_p99_ms\":%.3f,\"errors\":%lld",
           what, target, (long long)c->connections, (long long)c->concurrency,
           (long long)(otlp ? c->spans_per_req : c->batch_spans),
           oa_compression_name(c->compression), elapsed, (long long)ok,
           (long long)spans, (long long)rejected, (long long)bytes, rps, sps,
           mbps, p50, p99, (long long)errors);
    printf(",\"errors_by_status\":{");
    bool first = true;
    for (int k = 1; k <= N_CODES; k++)
      if (codes[k]) {
        printf("%s\"%s\":%lld", first ? "" : ",",
               k == N_CODES ? "LOCAL" : oa_grpc_status_name(k),
               (long long)codes[k]);
        first = false;
      }
    printf("}");
    if (cpu >= 0)
      printf(",\"server_cpu_s\":%.3f,\"server_cpu_s_per_million_spans\":%.4f,"
             "\"spans_per_s_per_server_core\":%.0f",
             cpu, spans ? cpu / ((double)spans / 1e6) : 0,
             cpu > 0 ? (double)spans / cpu : 0);
    printf("}\n");
  } else {
    printf("otlparrow loadgen: %s -> %s, %lld connections x %lld in flight, "
           "%lld spans per request%s%s (prepared in %.2f s)\n",
           what, target, (long long)c->connections, (long long)c->concurrency,
           (long long)(otlp ? c->spans_per_req : c->batch_spans),
           otlp ? "" : ", compression ",
           otlp ? "" : oa_compression_name(c->compression), prep);
    printf("  %lld requests in %.2f s: %.1f requests/s, %.0f spans/s, "
           "%.1f MB/s (%s)\n",
           (long long)ok, elapsed, rps, sps, mbps,
           otlp ? "protobuf bytes" : "FlightData bytes");
    printf("  latency p50 %.3f ms, p99 %.3f ms\n", p50, p99);
    if (rejected)
      printf("  rejected spans (partial success): %lld\n", (long long)rejected);
    printf("  errors: %lld", (long long)errors);
    for (int k = 1; k <= N_CODES; k++)
      if (codes[k])
        printf(" %s=%lld", k == N_CODES ? "LOCAL" : oa_grpc_status_name(k),
               (long long)codes[k]);
    printf("\n");
    if (errors) printf("  first error: %s\n", first_error);
    if (cpu >= 0)
      printf("  server CPU: %.2f s, %.4f s per million spans, %.0f spans/s "
             "per core of server CPU\n",
             cpu, spans ? cpu / ((double)spans / 1e6) : 0,
             cpu > 0 ? (double)spans / cpu : 0);
  }
  rc = errors && ok == 0 ? 1 : 0;
done:
  for (int i = 0; i < nw; i++) {
    oa_flight_client_free(ws[i].fc);
    free(ws[i].lat);
  }
  free(ws);
  if (sh.conns)
    for (int64_t i = 0; i < c->connections; i++)
      oa_flight_client_free(sh.conns[i]);
  free(sh.conns);
  if (chs)
    for (int64_t i = 0; i < c->connections; i++)
      oa_grpc_channel_release(chs[i]);
  free(chs);
  for (int64_t i = 0; i < sh.n_reqs; i++)
    grpc_slice_unref(sh.reqs[i]);
  oa_batch_reset(&sh.batch);
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  free(ca);
  free(cert);
  free(key);
  return rc;
}

int oa_cli_loadgen(int argc, char **argv) {
  lg_cfg c;
  memset(&c, 0, sizeof c);
  c.mode = "put";
  c.spans_per_req = 1000;
  c.batch_spans = 10000;
  c.connections = 2;
  c.concurrency = -1;
  c.duration = 10;
  c.seed = 1;
  c.drop_bytes = 256LL << 20;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (oa_cli_is_help(a)) {
      fputs(kLoadgenHelp, stdout);
      return 0;
    }
    if (strcmp(a, "--json") == 0) {
      c.json = true;
      continue;
    }
    if (strcmp(a, "--allow-remote") == 0) {
      c.allow_remote = true;
      continue;
    }
    if (strcmp(a, "--no-validate") == 0) {
      c.no_validate = true;
      continue;
    }
    if (strncmp(a, "--", 2) != 0)
      return oa_cli_fail("loadgen: unexpected argument '%s' (see --help)", a);
    if (i + 1 >= argc)
      return oa_cli_fail("loadgen: %s needs a value (see --help)", a);
    const char *v = argv[++i];
    int64_t n = 0;
    const char *const strs[] = {"--otlp-grpc", "--flight", "--mode",
                                "--token",     "--tls-ca", "--tls-cert",
                                "--tls-key"};
    const char **slots[] = {&c.otlp, &c.flight, &c.mode, &c.token,
                            &c.ca,   &c.cert,   &c.key};
    bool done = false;
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
      if (strcmp(a, strs[k]) == 0) {
        *slots[k] = v;
        done = true;
      }
    if (done) continue;
    if (strcmp(a, "--duration") == 0 || strcmp(a, "--rate") == 0) {
      char *end;
      double d = strtod(v, &end);
      if (end == v || *end || !(d >= 0))
        return oa_cli_fail("loadgen: %s must be a number >= 0, not '%s'", a, v);
      if (a[2] == 'd')
        c.duration = d;
      else
        c.rate = d;
      continue;
    }
    if (strcmp(a, "--compression") == 0) {
      oa_error e;
      if (oa_compression_parse(v, &c.compression, &e))
        return oa_cli_fail("loadgen: --compression: %s", e.message);
      continue;
    }
    if (strcmp(a, "--drop-bytes") == 0) {
      if (!parse_bytes(v, &c.drop_bytes))
        return oa_cli_fail("loadgen: --drop-bytes must be a size, not '%s'", v);
      continue;
    }
    if (!oa_cli_parse_i64(v, &n))
      return oa_cli_fail("loadgen: %s must be a non-negative integer, not '%s'",
                         a, v);
    if (strcmp(a, "--spans-per-request") == 0)
      c.spans_per_req = n;
    else if (strcmp(a, "--batch-spans") == 0)
      c.batch_spans = n;
    else if (strcmp(a, "--connections") == 0)
      c.connections = n;
    else if (strcmp(a, "--concurrency") == 0)
      c.concurrency = n;
    else if (strcmp(a, "--requests") == 0)
      c.requests = n;
    else if (strcmp(a, "--server-pid") == 0)
      c.server_pid = n;
    else if (strcmp(a, "--seed") == 0)
      c.seed = n;
    else
      return oa_cli_fail("loadgen: unknown option '%s' (see --help)", a);
  }
  if ((c.otlp != NULL) == (c.flight != NULL))
    return oa_cli_fail("loadgen: give one of --otlp-grpc HOST:PORT or "
                       "--flight HOST:PORT (see --help)");
  const char *target = c.otlp ? c.otlp : c.flight;
  if (!c.allow_remote && !is_loopback(target))
    return oa_cli_fail("loadgen: %s is not a loopback address (127.x, [::1], "
                       "localhost); pass --allow-remote to load another host",
                       target);
  if (strcmp(c.mode, "put") != 0 && strcmp(c.mode, "get") != 0)
    return oa_cli_fail("loadgen: --mode must be put or get, not '%s'", c.mode);
  if (c.concurrency < 0) c.concurrency = c.otlp ? 4 : 1;
  if (c.connections < 1 || c.connections > 256 || c.concurrency < 1 ||
      c.concurrency > 1024)
    return oa_cli_fail("loadgen: --connections must be 1..256 and "
                       "--concurrency 1..1024");
  if (c.spans_per_req < 1 || c.batch_spans < 1)
    return oa_cli_fail("loadgen: --spans-per-request and --batch-spans must "
                       "be at least 1");
  if (c.duration <= 0 && c.requests <= 0)
    return oa_cli_fail("loadgen: give --duration S > 0 or --requests N");
  if (c.duration <= 0) c.duration = 1e9; /* bounded by --requests */
  return run(&c);
}
