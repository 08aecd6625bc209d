/* `otlparrow bench`: clocks, statistics, memory figures and the loopback
 * server the transport rows run against. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/bench.h"
#include "otlparrow/flight_client.h"

double oa_bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void oa_bench_stats(const double *v, int n, double *median, double *min,
                    double *max) {
  double tmp[256];
  if (n > 256) n = 256;
  if (n <= 0) {
    *median = *min = *max = 0;
    return;
  }
  memcpy(tmp, v, sizeof *tmp * (size_t)n);
  qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
  *median = n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
  *min = tmp[0];
  *max = tmp[n - 1];
}

int64_t oa_bench_vm_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  size_t kl = strlen(key);
  int64_t v = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
      v = strtoll(line + kl + 1, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

/* Distinct buffers by address: a batch's columns may share a region. */
int64_t oa_bench_batch_bytes(const oa_batch *b) {
  int64_t total = 0;
  return oa_batch_held_bytes(b, &total, NULL) ? -1 : total;
}

/* ------------------------------------------------------- loopback server */

int oa_bench_server_start(oa_bench_server *s, const char *exe, oa_error *err) {
  memset(s, 0, sizeof *s);
  int fd[2];
  if (pipe(fd) != 0)
    return oa_error_set(err, errno, "pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    close(fd[0]);
    close(fd[1]);
    return oa_error_set(err, errno, "fork: %s", strerror(errno));
  }
  if (pid == 0) {
    dup2(fd[1], 1);
    close(fd[0]);
    close(fd[1]);
    /* the server's own report would mix with bench's output */
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 2);
    /* 64M requests: OTLP requests of 100K spans are ~35 MB */
    execl(exe, exe, "serve", "--otlp-grpc", "127.0.0.1:0", "--otlp-http", "off",
          "--flight", "127.0.0.1:0", "--max-memory", "8G", "--max-recv-size",
          "64M", (char *)NULL);
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
  if (f)
    fclose(f); /* the server's later lines go to a closed pipe */
  else
    close(fd[0]);
  if (!ready || !s->otlp_port || !s->flight_port) {
    oa_bench_server_stop(s);
    return oa_error_set(err, EIO, "%s serve did not report its ports", exe);
  }
  return 0;
}

void oa_bench_server_stop(oa_bench_server *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGTERM);
  int st;
  waitpid(s->pid, &st, 0);
  s->pid = 0;
}

void oa_bench_server_drop(const oa_bench_server *s, const char *dataset) {
  char uri[64];
  snprintf(uri, sizeof uri, "grpc://127.0.0.1:%d", s->flight_port);
  oa_flight_client *c = NULL;
  if (oa_flight_client_new(&c, uri, NULL, NULL) == 0)
    oa_flight_client_do_action(c, "drop-dataset", dataset,
                               (int64_t)strlen(dataset), NULL, NULL, NULL);
  oa_flight_client_free(c);
}

static double num(json_object *o, const char *k) {
  json_object *v;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : 0;
}

int oa_bench_loadgen(const char *exe, const oa_bench_server *s,
                     const char *args, oa_bench_load *out, oa_error *err) {
  memset(out, 0, sizeof *out);
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "'%s' loadgen --json --server-pid %d %s 2>/dev/null", exe,
           (int)s->pid, args);
  FILE *p = popen(cmd, "r");
  if (!p) return oa_error_set(err, errno, "popen: %s", strerror(errno));
  char line[8192];
  json_object *o = NULL;
  while (fgets(line, sizeof line, p))
    if (line[0] == '{') {
      if (o) json_object_put(o);
      o = json_tokener_parse(line);
    }
  int st = pclose(p);
  if (!o)
    return oa_error_set(err, EIO, "loadgen gave no result (status %d): %s", st,
                        cmd);
  out->requests_per_s = num(o, "requests_per_s");
  out->spans_per_s = num(o, "spans_per_s");
  out->mb_per_s = num(o, "mb_per_s");
  out->requests = num(o, "requests");
  out->bytes = num(o, "bytes");
  out->errors = num(o, "errors");
  out->latency_p50_ms = num(o, "latency_p50_ms");
  out->latency_p99_ms = num(o, "latency_p99_ms");
  out->server_cpu_s_per_million_spans =
      num(o, "server_cpu_s_per_million_spans");
  out->spans_per_s_per_server_core = num(o, "spans_per_s_per_server_core");
  json_object_put(o);
  if (out->requests <= 0)
    return oa_error_set(err, EIO, "loadgen completed no request: %s", cmd);
  return 0;
}
