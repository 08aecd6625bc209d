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
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "otlparrow/flight_client.h"

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

typedef struct server {
  pid_t pid;
  int otlp_port, flight_port;
} server;

static int start_server(server *s, const char *bin) {
  int fd[2];
  if (pipe(fd) != 0) return errno;
  pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    dup2(fd[1], 1);
    close(fd[0]);
    close(fd[1]);
    execl(bin, bin, "serve", "--otlp-grpc", "127.0.0.1:0", "--otlp-http", "off",
          "--flight", "127.0.0.1:0", "--max-memory", "8G", (char *)NULL);
    _exit(127);
  }
  close(fd[1]);
  s->pid = pid;
  FILE *f = fdopen(fd[0], "r");
  char line[512];
  bool ready = false;
  while (f && fgets(line, sizeof line, f)) {
    const char *p;
    if ((p = strstr(line, "OTLP/gRPC on 127.0.0.1:")))
      s->otlp_port = atoi(p + 23);
    if ((p = strstr(line, "Arrow Flight on 127.0.0.1:")))
      s->flight_port = atoi(p + 26);
    if (strstr(line, "ready")) {
      ready = true;
      break;
    }
  }
  if (f) fclose(f); /* serve's later lines go to a closed pipe: none come */
  return ready && s->otlp_port && s->flight_port ? 0 : EIO;
}

static void stop_server(server *s) {
  kill(s->pid, SIGTERM);
  int st;
  waitpid(s->pid, &st, 0);
}

static void drop(const server *s, const char *name) {
  char uri[64];
  snprintf(uri, sizeof uri, "grpc://127.0.0.1:%d", s->flight_port);
  oa_flight_client *c = NULL;
  if (oa_flight_client_new(&c, uri, NULL, NULL) == 0)
    oa_flight_client_do_action(c, "drop-dataset", name, (int64_t)strlen(name),
                               NULL, NULL, NULL);
  oa_flight_client_free(c);
}

/* Runs loadgen with args and parses its JSON line (NULL on failure). */
static json_object *loadgen(const char *bin, const server *s,
                            const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s loadgen --json --server-pid %d %s", bin,
           (int)s->pid, args);
  FILE *p = popen(cmd, "r");
  if (!p) return NULL;
  char line[8192];
  json_object *o = NULL;
  while (fgets(line, sizeof line, p))
    if (line[0] == '{') o = json_tokener_parse(line);
  pclose(p);
  if (!o) fprintf(stderr, "bench_flight: no result from: %s\n", cmd);
  return o;
}

static double num(json_object *o, const char *k) {
  json_object *v;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_flight OTLPARROW_BIN [SECONDS] [FILTER]\n");
    return 2;
  }
  const char *bin = argv[1];
  double secs = argc > 2 ? atof(argv[2]) : 5;
  const char *filter = argc > 3 ? argv[3] : NULL;
  server s;
  memset(&s, 0, sizeof s);
  if (start_server(&s, bin) != 0) {
    fprintf(stderr, "bench_flight: could not start %s serve\n", bin);
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
    json_object *o = loadgen(bin, &s, args);
    if (otlp) drop(&s, "spans");
    if (!o) {
      rc = 1;
      continue;
    }
    double rps = num(o, "requests_per_s"), req = num(o, "requests");
    double per_req = req > 0 ? num(o, "bytes") / req : 0;
    printf("| %s | %.1f | %.0f | %.1f | %.2f | %.2f | %.0f | %.3f | %.0f | "
           "%.2f MB",
           sc[i].label, rps, num(o, "spans_per_s"), num(o, "mb_per_s"),
           num(o, "latency_p50_ms"), num(o, "latency_p99_ms"), num(o, "errors"),
           num(o, "server_cpu_s_per_million_spans"),
           num(o, "spans_per_s_per_server_core"), per_req / 1e6);
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
    json_object_put(o);
  }
  stop_server(&s);
  return rc;
}
