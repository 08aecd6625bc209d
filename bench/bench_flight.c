/* Service benchmarks (issue 4, "Performance"): starts `otlparrow serve` on
 * loopback (free ports), runs `otlparrow loadgen --json` scenarios against
 * it with --server-pid, and prints one table:
 *   - OTLP/gRPC Export of 1,000-span requests over several connections:
 *     accepted spans/s, server CPU s per 1M spans, spans/s per server core;
 *   - Flight DoPut and DoGet of 10,000- and 100,000-span batches: requests/s,
 *     GB/s, and for DoGet the time per batch against a memcpy of the same
 *     number of bytes measured in this run.
 * Datasets are dropped between scenarios (loadgen drops its own; the
 * "spans" dataset is dropped here with DoAction drop-dataset).
 *
 * Usage: bench_flight OTLPARROW_BIN [SECONDS] [FILTER]
 *   FILTER: run only scenarios whose label contains it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/bench.h"

#include "bench_util.h"

/* Median time of a memcpy of n bytes between pre-faulted buffers. hot:
 * the same buffers every time (they stay in cache when n fits); cold: the
 * next n bytes of 512 MiB pools each time, so the source comes from DRAM as
 * received data would. */
static double memcpy_seconds(int64_t n, bool hot) {
  if (n <= 0) return 0;
  int64_t pool = hot ? n : (512LL << 20);
  if (pool < 2 * n) pool = 2 * n;
  char *src = malloc((size_t)pool), *dst = malloc((size_t)pool);
  if (!src || !dst) {
    free(src);
    free(dst);
    return 0;
  }
  memset(src, 0x5a, (size_t)pool);
  memset(dst, 0, (size_t)pool);
  double t[21];
  int64_t off = 0;
  for (int i = 0; i < 21; i++) {
    if (!hot && off + n > pool) off = 0;
    double t0 = bench_wall_s();
    memcpy(dst + off, src + off, (size_t)n);
    t[i] = bench_wall_s() - t0;
    src[i] = dst[off + n - 1 - i]; /* keep the copy alive */
    if (!hot) off += n;
  }
  free(src);
  free(dst);
  return bench_median(t, 21);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_flight OTLPARROW_BIN [SECONDS] [FILTER]\n");
    return 2;
  }
  const char *bin = argv[1];
  double secs = argc > 2 ? atof(argv[2]) : 5;
  const char *filter = argc > 3 ? argv[3] : NULL;
  oa_bench_server s;
  oa_error err;
  if (oa_bench_server_start(&s, bin, &err) != 0) {
    fprintf(stderr, "bench_flight: %s\n", err.message);
    return 1;
  }
  struct {
    const char *label, *kind, *args;
  } sc[] = {
      {"otlp 1000 spans, 2 conn x 4", "otlp",
       "--spans-per-request 1000 --connections 2 --concurrency 4"},
      {"otlp 1000 spans, 4 conn x 4", "otlp",
       "--spans-per-request 1000 --connections 4 --concurrency 4"},
      {"put 10K, 1 conn x 1", "put",
       "--mode put --batch-spans 10000 --connections 1"},
      {"put 10K, 2 conn x 1", "put",
       "--mode put --batch-spans 10000 --connections 2"},
      {"put 10K zstd, 2 conn x 1", "put",
       "--mode put --batch-spans 10000 --connections 2 --compression zstd"},
      {"put 100K, 1 conn x 1", "put",
       "--mode put --batch-spans 100000 --connections 1"},
      {"put 100K, 2 conn x 1", "put",
       "--mode put --batch-spans 100000 --connections 2"},
      {"get 10K, 1 conn x 1", "get",
       "--mode get --batch-spans 10000 --connections 1"},
      {"get 10K, 2 conn x 1", "get",
       "--mode get --batch-spans 10000 --connections 2"},
      {"get 10K no-validate, 1 conn x 1", "get",
       "--mode get --batch-spans 10000 --connections 1 --no-validate"},
      {"get 100K, 1 conn x 1", "get",
       "--mode get --batch-spans 100000 --connections 1"},
      {"get 100K no-validate, 1 conn x 1", "get",
       "--mode get --batch-spans 100000 --connections 1 --no-validate"},
  };
  printf("otlparrow serve pid %d (OTLP/gRPC :%d, Flight :%d), %.0f s per "
         "scenario, %ld cores\n\n",
         (int)s.pid, s.otlp_port, s.flight_port, secs,
         sysconf(_SC_NPROCESSORS_ONLN));
  printf("| scenario | requests/s | spans/s | MB/s | p50 ms | p99 ms | errors "
         "| server CPU s / 1M spans | spans/s per server core | bytes/request "
         "| memcpy of those bytes, hot / cold | time per batch / memcpy, hot "
         "/ cold |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  fflush(stdout);
  int rc = 0;
  for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
    if (filter && !strstr(sc[i].label, filter)) continue;
    char args[1024];
    bool otlp = strcmp(sc[i].kind, "otlp") == 0;
    snprintf(args, sizeof args, "--%s 127.0.0.1:%d --duration %g %s",
             otlp ? "otlp-grpc" : "flight", otlp ? s.otlp_port : s.flight_port,
             secs, sc[i].args);
    oa_bench_load o;
    int lrc = oa_bench_loadgen(bin, &s, args, &o, &err);
    if (otlp) oa_bench_server_drop(&s, "spans");
    if (lrc) {
      fprintf(stderr, "bench_flight: %s\n", err.message);
      rc = 1;
      continue;
    }
    double rps = o.requests_per_s, req = o.requests;
    double per_req = req > 0 ? o.bytes / req : 0;
    printf("| %s | %.1f | %.0f | %.1f | %.2f | %.2f | %.0f | %.3f | %.0f | "
           "%.2f MB",
           sc[i].label, rps, o.spans_per_s, o.mb_per_s, o.latency_p50_ms,
           o.latency_p99_ms, o.errors, o.server_cpu_s_per_million_spans,
           o.spans_per_s_per_server_core, per_req / 1e6);
    if (strcmp(sc[i].kind, "get") == 0 && rps > 0) {
      /* one connection, one call in flight: 1/rps is the time per batch */
      double hot = memcpy_seconds((int64_t)per_req, true);
      double cold = memcpy_seconds((int64_t)per_req, false);
      double conns = strstr(sc[i].args, "--connections 2") ? 2 : 1;
      double per = conns / rps;
      printf(" | %.3f / %.3f ms | %.1fx / %.1fx |\n", hot * 1e3, cold * 1e3,
             hot > 0 ? per / hot : 0, cold > 0 ? per / cold : 0);
    } else {
      printf(" | | |\n");
    }
    fflush(stdout);
  }
  oa_bench_server_stop(&s);
  return rc;
}
