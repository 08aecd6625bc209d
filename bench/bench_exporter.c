/* Exporter benchmark (see docs/benchmarks.md).
 *
 * 1. The application's cost: CPU ns of the calling thread per
 *    oa_exporter_add of one span with 10 attributes (batches are sealed and
 *    queued; with no server, nothing competes for the lock), and in the
 *    end-to-end runs below, next to two baselines doing comparable work on the
 *    same span: a memcpy of its encoded bytes, and building + packing it as
 *    a protobuf-c message (what an OTLP SDK exporter does per span).
 * 2. End to end: spans/s from oa_exporter_add to an in-process Flight
 *    server over loopback (acknowledged), without/with zstd, with the
 *    persistent queue off/on.
 * 3. With the queue runs: what the disk allows (files of one queue entry's
 *    size written and synced as the queue does, and with fdatasync only),
 *    to tell the queue's own cost from the disk's.
 *
 * Usage: bench_exporter [SPANS [add|CONFIG]] (default 1000000; "add": part 1
 * only, e.g. to count instructions with valgrind --tool=callgrind
 * --toggle-collect=oa_exporter_add; CONFIG, e.g. "none, queue off": that
 * end-to-end run only, and a third argument: the compression level;
 * BENCH_EXP_BUFFER=N: the buffer of the sustained runs, default 65536) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "exporter/exporter_internal.h"
#include "flight/flight.h"
#include "opentelemetry/proto/trace/v1/trace.pb-c.h"
#include "otlparrow/dataset.h"
#include "otlparrow/exporter.h"

#define BENCH_NAME "bench_exporter"
#include "bench_util.h"

static oa_error err;

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Trace__V1__Span Span;

static const char *keys[10] = {
    "http.method",   "http.route",     "http.status", "net.peer.name",
    "net.peer.port", "sampling.ratio", "cache.hit",   "request.size",
    "user.tier",     "thread.id"};

static void fill(oa_span *sp, oa_keyvalue *kv, int64_t i) {
  kv[0] = (oa_keyvalue)OA_KV_STR(keys[0], (i & 1) ? "GET" : "POST");
  kv[1] = (oa_keyvalue)OA_KV_STR(keys[1], "/api/checkout");
  kv[2] = (oa_keyvalue)OA_KV_INT(keys[2], 200);
  kv[3] = (oa_keyvalue)OA_KV_STR(keys[3], "backend.internal");
  kv[4] = (oa_keyvalue)OA_KV_INT(keys[4], 8080);
  kv[5] = (oa_keyvalue)OA_KV_DOUBLE(keys[5], 0.25);
  kv[6] = (oa_keyvalue)OA_KV_BOOL(keys[6], (i % 3) == 0);
  kv[7] = (oa_keyvalue)OA_KV_INT(keys[7], 512 + i % 1000);
  kv[8] = (oa_keyvalue)OA_KV_STR(keys[8], "free");
  kv[9] = (oa_keyvalue)OA_KV_INT(keys[9], i % 16);
  memset(sp, 0, sizeof *sp);
  uint64_t hi = 0x0123456789abcdefull, lo = (uint64_t)(i / 10) + 1,
           sid = (uint64_t)i + 1;
  memcpy(sp->trace_id, &hi, 8);
  memcpy(sp->trace_id + 8, &lo, 8);
  memcpy(sp->span_id, &sid, 8);
  sp->has_parent = (i % 10) != 0;
  sp->parent_span_id[0] = 1;
  sp->name = "db.query";
  sp->kind = OA_SPAN_KIND_CLIENT;
  sp->start_time_unix_nano = 1735689600000000000ll + i * 1000;
  sp->end_time_unix_nano = sp->start_time_unix_nano + 250000;
  sp->attrs = kv;
  sp->n_attrs = 10;
}

/* page faults taken by the calling thread so far */
static int64_t thread_faults(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_THREAD, &ru)) return 0;
  return (int64_t)ru.ru_minflt + (int64_t)ru.ru_majflt;
}

/* page faults of the calling thread per 1000 adds in the last add_cost */
static double last_faults_k;

/* ns (thread CPU) per add of n spans; the exporter is built from cfg. */
static double add_cost(oa_exporter_config *cfg, int64_t n, double *wall_sps,
                       oa_exporter_metrics *mout) {
  oa_exporter *e;
  CHECK(oa_exporter_new(&e, cfg, &err));
  oa_keyvalue kv[10];
  oa_span sp;
  double w0 = bench_wall_s(), c0 = bench_cpu_s();
  int64_t f0 = thread_faults();
  for (int64_t i = 0; i < n; i++) {
    fill(&sp, kv, i);
    CHECK(oa_exporter_add(e, &sp, 1, &err));
  }
  double c1 = bench_cpu_s();
  last_faults_k = (double)(thread_faults() - f0) * 1000.0 / (double)n;
  if (wall_sps) {
    CHECK(oa_exporter_flush(e, 120000, &err));
    *wall_sps = (double)n / (bench_wall_s() - w0);
  }
  if (mout) oa_exporter_get_metrics(e, mout);
  oa_exporter_free(e);
  return (c1 - c0) * 1e9 / (double)n;
}

/* The encoding alone (what add does under its lock), without the lock,
 * the checks or the exporter around it; batches of 8192 reuse the buffer. */
static double staging_only(int64_t n) {
  oa_exp_stage st;
  oa_exp_stage_init(&st);
  oa_keyvalue kv[10];
  oa_span sp;
  double c0 = bench_cpu_s();
  for (int64_t i = 0; i < n; i++) {
    if (st.n_spans == 8192) oa_exp_stage_clear(&st);
    fill(&sp, kv, i);
    CHECK(oa_exp_stage_add(&st, &sp, &err));
  }
  double c1 = bench_cpu_s();
  oa_exp_stage_reset(&st);
  return (c1 - c0) * 1e9 / (double)n;
}

/* What the disk allows the persistent queue: files of `bytes` written as
 * the queue writes them (create, write, fsync, rename, fsync of the
 * directory), one after the other; the same with fdatasync only (no rename,
 * no directory sync), and without any sync. Returns files/s in r[0..2]. */
static void disk_rates(const char *dir, int64_t bytes, int files, double r[3]) {
  uint8_t *buf = malloc((size_t)bytes);
  if (!buf) exit(1);
  for (int64_t i = 0; i < bytes; i++)
    buf[i] = (uint8_t)(i * 131);
  char path[4096], tmp[4200];
  for (int mode = 0; mode < 3; mode++) {
    double w0 = bench_wall_s();
    for (int f = 0; f < files; f++) {
      snprintf(path, sizeof path, "%s/disk-%d.bin", dir, f);
      snprintf(tmp, sizeof tmp, "%s.tmp", path);
      int fd = open(mode == 0 ? tmp : path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || write(fd, buf, (size_t)bytes) != (ssize_t)bytes) exit(1);
      if (mode == 0 && fsync(fd)) exit(1);
      if (mode == 1 && fdatasync(fd)) exit(1);
      close(fd);
      if (mode == 0) {
        if (rename(tmp, path)) exit(1);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        if (dfd < 0 || fsync(dfd)) exit(1);
        close(dfd);
      }
    }
    r[mode] = files / (bench_wall_s() - w0);
    for (int f = 0; f < files; f++) {
      snprintf(path, sizeof path, "%s/disk-%d.bin", dir, f);
      unlink(path);
    }
  }
  free(buf);
}

static double baseline_memcpy(int64_t n) {
  /* the encoded span is ~330 bytes: copy that many per span */
  static uint8_t src[330];
  memset(src, 7, sizeof src);
  size_t cap = (size_t)n * sizeof src;
  uint8_t *dst = malloc(cap);
  if (!dst) exit(1);
  memset(dst, 0, cap);
  double c0 = bench_cpu_s();
  for (int64_t i = 0; i < n; i++) {
    src[0] = (uint8_t)i;
    memcpy(dst + (size_t)i * sizeof src, src, sizeof src);
  }
  double c1 = bench_cpu_s();
  volatile uint8_t sink = dst[cap - 1];
  (void)sink;
  free(dst);
  return (c1 - c0) * 1e9 / (double)n;
}

static double baseline_protobuf_c(int64_t n) {
  size_t cap = 1 << 20, used = 0;
  uint8_t *out = malloc(cap);
  if (!out) exit(1);
  double c0 = bench_cpu_s();
  for (int64_t i = 0; i < n; i++) {
    oa_keyvalue src[10];
    oa_span sp;
    fill(&sp, src, i);
    AnyValue av[10];
    KeyValue kv[10], *kvp[10];
    for (int k = 0; k < 10; k++) {
      opentelemetry__proto__common__v1__any_value__init(&av[k]);
      opentelemetry__proto__common__v1__key_value__init(&kv[k]);
      kv[k].key = (char *)src[k].key;
      kv[k].value = &av[k];
      kvp[k] = &kv[k];
      switch (src[k].value.type) {
      case OA_ANY_STRING:
        av[k].value_case =
            OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        av[k].string_value = (char *)src[k].value.v.str.ptr;
        break;
      case OA_ANY_INT:
        av[k].value_case =
            OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
        av[k].int_value = src[k].value.v.i;
        break;
      case OA_ANY_DOUBLE:
        av[k].value_case =
            OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
        av[k].double_value = src[k].value.v.d;
        break;
      default:
        av[k].value_case =
            OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
        av[k].bool_value = src[k].value.v.b;
        break;
      }
    }
    Span s;
    opentelemetry__proto__trace__v1__span__init(&s);
    s.trace_id.data = sp.trace_id;
    s.trace_id.len = 16;
    s.span_id.data = sp.span_id;
    s.span_id.len = 8;
    if (sp.has_parent) {
      s.parent_span_id.data = sp.parent_span_id;
      s.parent_span_id.len = 8;
    }
    s.name = (char *)sp.name;
    s.kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)sp.kind;
    s.start_time_unix_nano = (uint64_t)sp.start_time_unix_nano;
    s.end_time_unix_nano = (uint64_t)sp.end_time_unix_nano;
    s.n_attributes = 10;
    s.attributes = kvp;
    size_t sz = opentelemetry__proto__trace__v1__span__get_packed_size(&s);
    if (used + sz > cap) used = 0; /* reuse the buffer */
    used += opentelemetry__proto__trace__v1__span__pack(&s, out + used);
  }
  double c1 = bench_cpu_s();
  free(out);
  return (c1 - c0) * 1e9 / (double)n;
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 1000000;
  if (n < 1000) n = 1000;

  printf("bench_exporter: %lld spans, 10 attributes each\n\n", (long long)n);
  oa_exporter_config cfg;
  bool only_add = argc > 2 && strcmp(argv[2], "add") == 0;
  if (argc <= 2 || only_add) {
    printf("calling thread, CPU ns per span:\n");
    oa_exporter_config_init(&cfg);
    /* never reached: batches are sealed and queued, not sent */
    cfg.endpoint = "grpc://127.0.0.1:1";
    cfg.retry.initial_ms = 60000;
    cfg.max_buffer_spans = 0;
    cfg.max_buffer_bytes = 0;
    double ns = add_cost(&cfg, n, NULL, NULL);
    /* nothing is sent, so every stage is fresh memory (a burst) */
    printf("  oa_exporter_add, no server (burst)  %8.1f  (%.1f page faults "
           "per 1000 adds)\n",
           ns, last_faults_k);
    printf("  span staging alone (internal)       %8.1f\n", staging_only(n));
    printf("  baseline: memcpy of 330 bytes       %8.1f\n", baseline_memcpy(n));
    printf("  baseline: protobuf-c build + pack   %8.1f\n",
           baseline_protobuf_c(n));
    if (only_add) return 0;
  }

  /* an in-process Flight server over loopback */
  oa_datasets *d;
  oa_grpc_server *srv;
  oa_flight_service *svc;
  int port;
  CHECK(oa_datasets_new(&d, 0, &err));
  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  so.max_recv_message_size = -1;
  CHECK(oa_grpc_server_new(&srv, &so, &err));
  CHECK(oa_flight_service_new(&svc, d, NULL, &err));
  CHECK(oa_flight_service_register(svc, srv, &err));
  CHECK(oa_grpc_server_add_listener(srv, "127.0.0.1:0", NULL, &port, &err));
  CHECK(oa_grpc_server_start(srv, &err));
  char uri[64];
  snprintf(uri, sizeof uri, "grpc://127.0.0.1:%d", port);
  char qdir[] = "/tmp/oa-bench-queue-XXXXXX";
  if (!mkdtemp(qdir)) return 1;

  /* The sustained rate: a buffer of 8 batches, so the adding thread waits
   * for the pipeline (block policy) as a program producing spans faster
   * than they can be sent does. The last run keeps the default buffer
   * (1M spans): all n spans are then a burst staged into fresh memory
   * before most are sent, which measures how fast the machine hands out
   * new pages as much as the exporter. */
  int64_t buffer =
      getenv("BENCH_EXP_BUFFER") ? atoll(getenv("BENCH_EXP_BUFFER")) : 8 * 8192;
  printf("\nend to end to an in-process Flight server (loopback, acked), "
         "buffer %lld spans:\n",
         (long long)buffer);
  printf("  %-30s %12s %14s %10s %12s\n", "config", "spans/s", "add ns/span",
         "ratio", "faults/1000");
  for (int run = 0; run < 5; run++) {
    int zstd = run == 4 || run >= 2, q = run == 4 || run % 2;
    oa_exporter_config_init(&cfg);
    cfg.endpoint = uri;
    cfg.compression = zstd ? OA_COMPRESSION_ZSTD : OA_COMPRESSION_NONE;
    cfg.compression_level = argc > 3 ? atoi(argv[3]) : 0;
    cfg.queue_dir = q ? qdir : NULL;
    if (run < 4) cfg.max_buffer_spans = buffer;
    char label[64];
    snprintf(label, sizeof label, "%s, queue %s%s", zstd ? "zstd" : "none",
             q ? "on" : "off", run == 4 ? ", default buffer" : "");
    if (argc > 2 && strcmp(argv[2], label) != 0) continue;
    double sps = 0;
    oa_exporter_metrics m;
    double ns = add_cost(&cfg, n, &sps, &m);
    printf("  %-30s %12.0f %14.1f %10.2f %12.1f\n", label, sps, ns,
           m.compression_ratio, last_faults_k);
    if (m.spans_exported != n) {
      fprintf(stderr, "bench_exporter: exported %lld of %lld\n",
              (long long)m.spans_exported, (long long)n);
      return 1;
    }
    CHECK(oa_datasets_drop(d, "spans", &err));
  }
  if (argc <= 2 || strstr(argv[2], "queue on")) {
    /* an 8192-span batch of these spans is about 2.7 MB uncompressed in
     * the queue (zstd: 337 KB) */
    double r[3];
    disk_rates(qdir, 2700000, 20, r);
    printf("\nthe disk, files of 2.7 MB (one uncompressed 8192-span queue "
           "entry) in sequence:\n");
    printf("  as the queue (fsync, rename, dir fsync) %8.1f files/s = %9.0f "
           "spans/s\n",
           r[0], r[0] * 8192);
    printf("  write + fdatasync                       %8.1f files/s = %9.0f "
           "spans/s\n",
           r[1], r[1] * 8192);
    printf("  write, no sync (page cache)             %8.1f files/s = %9.0f "
           "spans/s\n",
           r[2], r[2] * 8192);
  }
  oa_grpc_server_shutdown(srv, 1000);
  oa_grpc_server_free(srv);
  oa_flight_service_free(svc);
  oa_datasets_free(d);
  rmdir(qdir);
  return 0;
}
