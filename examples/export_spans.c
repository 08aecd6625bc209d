/* Example: generate 100K spans with 10 attributes each and export them over
 * Arrow Flight with the exporter C API, then print the exporter's metrics.
 *
 *   otlparrow serve --flight 127.0.0.1:8815 &
 *   ./export_spans [grpc://HOST:PORT] [spans]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "otlparrow/exporter.h"

static void print_log(void *ctx, int level, const char *msg) {
  (void)ctx;
  if (level > 0) fprintf(stderr, "exporter: %s\n", msg);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  const char *endpoint = argc > 1 ? argv[1] : "grpc://127.0.0.1:8815";
  long long total = argc > 2 ? atoll(argv[2]) : 100000;
  if (total <= 0) {
    fprintf(stderr, "usage: %s [grpc://HOST:PORT] [spans]\n", argv[0]);
    return 2;
  }
  oa_error err;
  oa_exporter_config cfg;
  oa_exporter_config_init(&cfg);
  cfg.endpoint = endpoint;
  cfg.log = print_log;
  const char *token = getenv("OA_TOKEN");
  if (token && *token) cfg.token = token;

  oa_exporter *e = NULL;
  if (oa_exporter_new(&e, &cfg, &err)) {
    fprintf(stderr, "export_spans: %s\n", err.message);
    return 1;
  }
  oa_resource *res = NULL;
  oa_scope *scope = NULL;
  oa_keyvalue res_attrs[] = {OA_KV_STR("deployment.environment", "example")};
  if (oa_resource_new(&res, "export-example", res_attrs, 1, NULL, &err) ||
      oa_scope_new(&scope, "examples/export_spans", "1.0", NULL, 0, NULL,
                   &err)) {
    fprintf(stderr, "export_spans: %s\n", err.message);
    oa_exporter_free(e);
    return 1;
  }

  static const char *routes[] = {"/api/cart", "/api/checkout", "/api/user",
                                 "/api/search"};
  uint64_t trace_hi = 0x0123456789abcdefull;
  double t0 = now_s();
  int rc = 0;
  for (long long i = 0; i < total && !rc; i++) {
    /* 10 spans per trace: a root and 9 children */
    uint64_t trace_lo = (uint64_t)(i / 10) + 1, sid = (uint64_t)i + 1;
    uint64_t parent = (uint64_t)(i - i % 10) + 1;
    oa_keyvalue attrs[10] = {
        OA_KV_STR("http.method", (i & 1) ? "GET" : "POST"),
        OA_KV_STR("http.route", routes[i % 4]),
        OA_KV_INT("http.status_code", (i % 50) ? 200 : 500),
        OA_KV_STR("net.peer.name", "backend.internal"),
        OA_KV_INT("net.peer.port", 8080),
        OA_KV_DOUBLE("sampling.ratio", 0.25),
        OA_KV_BOOL("cache.hit", (i % 3) == 0),
        OA_KV_INT("request.size", 512 + i % 1000),
        OA_KV_STR("user.tier", (i % 7) ? "free" : "pro"),
        OA_KV_INT("thread.id", i % 16),
    };
    oa_span sp;
    memset(&sp, 0, sizeof sp);
    memcpy(sp.trace_id, &trace_hi, 8);
    memcpy(sp.trace_id + 8, &trace_lo, 8);
    memcpy(sp.span_id, &sid, 8);
    if (i % 10) {
      sp.has_parent = true;
      memcpy(sp.parent_span_id, &parent, 8);
    }
    sp.name = (i % 10) ? "db.query" : routes[i % 4];
    sp.kind = (i % 10) ? OA_SPAN_KIND_CLIENT : OA_SPAN_KIND_SERVER;
    sp.start_time_unix_nano = 1735689600000000000ll + i * 1000000;
    sp.end_time_unix_nano = sp.start_time_unix_nano + 250000 + (i % 97) * 1000;
    sp.status_code = (i % 50) ? OA_STATUS_UNSET : OA_STATUS_ERROR;
    sp.attrs = attrs;
    sp.n_attrs = 10;
    sp.resource = res;
    sp.scope = scope;
    rc = oa_exporter_add(e, &sp, 1, &err);
  }
  double t_add = now_s() - t0;
  if (rc) fprintf(stderr, "export_spans: add: %s\n", err.message);
  int src = oa_exporter_shutdown(e, 60000, &err);
  double t_all = now_s() - t0;
  if (src) fprintf(stderr, "export_spans: shutdown: %s\n", err.message);

  oa_exporter_metrics m;
  oa_exporter_get_metrics(e, &m);
  printf("endpoint            %s\n", endpoint);
  printf("spans accepted      %lld\n", (long long)m.spans_accepted);
  printf("spans exported      %lld\n", (long long)m.spans_exported);
  printf("spans failed        %lld\n", (long long)m.spans_failed);
  printf("spans dropped       %lld\n", (long long)m.spans_dropped);
  printf("batches exported    %lld\n", (long long)m.batches_exported);
  printf("retries             %lld\n", (long long)m.retries);
  printf("queue depth         %lld spans\n", (long long)m.queue_depth_spans);
  printf("bytes sent          %lld\n", (long long)m.bytes_sent);
  printf("compression ratio   %.2f\n", m.compression_ratio);
  printf("add time            %.1f ns/span\n",
         t_add * 1e9 / (double)(total ? total : 1));
  printf("end to end          %.0f spans/s\n",
         (double)m.spans_exported / (t_all > 0 ? t_all : 1));
  printf("export latency      count %lld, mean %.1f ms\n",
         (long long)m.latency_count,
         m.latency_count ? (double)m.latency_sum_ms / (double)m.latency_count
                         : 0.0);
  for (int b = 0; b < OA_EXPORTER_LATENCY_BUCKETS; b++)
    if (m.latency_buckets[b]) {
      if (oa_exporter_latency_bounds_ms[b] == INT64_MAX)
        printf("  > %lld ms: %lld\n",
               (long long)oa_exporter_latency_bounds_ms[b - 1],
               (long long)m.latency_buckets[b]);
      else
        printf("  <= %lld ms: %lld\n",
               (long long)oa_exporter_latency_bounds_ms[b],
               (long long)m.latency_buckets[b]);
    }
  oa_exporter_free(e);
  oa_scope_free(scope);
  oa_resource_free(res);
  return (rc || src || m.spans_exported != total) ? 1 : 0;
}
