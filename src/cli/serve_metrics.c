/* The metrics page of `otlparrow serve`: names follow the Prometheus
 * conventions (otlparrow_ prefix, snake_case, _total on counters, units in
 * the name), one family per quantity and labels for the listener. */
#include "cli/serve_metrics.h"

#include <stdio.h>
#include <unistd.h>

static int counter(oa_metrics_writer *w, const char *name, const char *help,
                   oa_error *err) {
  return oa_metrics_family(w, name, OA_METRIC_COUNTER, help, err);
}

static int gauge(oa_metrics_writer *w, const char *name, const char *help,
                 oa_error *err) {
  return oa_metrics_family(w, name, OA_METRIC_GAUGE, help, err);
}

static int one(oa_metrics_writer *w, const char *lname, const char *lvalue,
               int64_t v, oa_error *err) {
  oa_metric_label l = {lname, lvalue};
  return oa_metrics_sample(w, &l, 1, v, err);
}

/* The receivers: one sample per running receiver. */
static int receivers(const oa_serve_metrics *s, oa_metrics_writer *w,
                     oa_error *err) {
  oa_otlp_grpc_stats g = {0};
  oa_otlp_http_stats h = {0};
  if (s->otlp_grpc) oa_otlp_grpc_get_stats(s->otlp_grpc, &g);
  if (s->otlp_http) oa_otlp_http_get_stats(s->otlp_http, &h);
  bool hg = s->otlp_grpc != NULL, hh = s->otlp_http != NULL;
  if (!hg && !hh) return 0;
  const char *R = "receiver";
  OA_RETURN_NOT_OK(counter(w, "otlparrow_receiver_requests_total",
                           "OTLP export requests answered", err));
  if (hg) OA_RETURN_NOT_OK(one(w, R, "otlp_grpc", g.requests, err));
  if (hh) OA_RETURN_NOT_OK(one(w, R, "otlp_http", h.requests, err));
  OA_RETURN_NOT_OK(counter(w, "otlparrow_receiver_requests_failed_total",
                           "OTLP export requests answered with an error "
                           "(refused, malformed, over a limit, retry later)",
                           err));
  if (hg) OA_RETURN_NOT_OK(one(w, R, "otlp_grpc", g.failed, err));
  if (hh) OA_RETURN_NOT_OK(one(w, R, "otlp_http", h.failed, err));
  OA_RETURN_NOT_OK(counter(w, "otlparrow_receiver_accepted_spans_total",
                           "Spans accepted and stored", err));
  if (hg) OA_RETURN_NOT_OK(one(w, R, "otlp_grpc", g.accepted_spans, err));
  if (hh) OA_RETURN_NOT_OK(one(w, R, "otlp_http", h.accepted_spans, err));
  OA_RETURN_NOT_OK(counter(w, "otlparrow_receiver_rejected_spans_total",
                           "Spans rejected through partial success", err));
  if (hg) OA_RETURN_NOT_OK(one(w, R, "otlp_grpc", g.rejected_spans, err));
  if (hh) OA_RETURN_NOT_OK(one(w, R, "otlp_http", h.rejected_spans, err));
  if (!hh) return 0;
  OA_RETURN_NOT_OK(counter(w, "otlparrow_receiver_received_bytes_total",
                           "Request body bytes as received (compressed)", err));
  OA_RETURN_NOT_OK(one(w, R, "otlp_http", h.received_bytes, err));
  OA_RETURN_NOT_OK(counter(w, "otlparrow_receiver_decoded_bytes_total",
                           "Request body bytes after decompression, handed to "
                           "the decoder",
                           err));
  OA_RETURN_NOT_OK(one(w, R, "otlp_http", h.decoded_bytes, err));
  OA_RETURN_NOT_OK(counter(w, "otlparrow_http_connections_cut_total",
                           "Connections shut down because their request did "
                           "not arrive in time",
                           err));
  return one(w, "listener", "otlp_http", h.cut_connections, err);
}

/* The gRPC servers (OTLP/gRPC and Flight): calls. */
static int grpc_servers(const oa_serve_metrics *s, oa_metrics_writer *w,
                        oa_error *err) {
  oa_grpc_server *srv[2] = {s->otlp_grpc_server, s->flight_server};
  const char *names[2] = {"otlp_grpc", "flight"};
  oa_grpc_server_stats st[2];
  bool any = false;
  for (int i = 0; i < 2; i++)
    if (srv[i]) {
      oa_grpc_server_get_stats(srv[i], &st[i]);
      any = true;
    }
  if (!any) return 0;
  OA_RETURN_NOT_OK(counter(w, "otlparrow_grpc_calls_started_total",
                           "gRPC calls started", err));
  for (int i = 0; i < 2; i++)
    if (srv[i])
      OA_RETURN_NOT_OK(one(w, "server", names[i], st[i].calls_started, err));
  OA_RETURN_NOT_OK(counter(w, "otlparrow_grpc_calls_finished_total",
                           "gRPC calls finished (any outcome)", err));
  for (int i = 0; i < 2; i++)
    if (srv[i])
      OA_RETURN_NOT_OK(one(w, "server", names[i], st[i].calls_finished, err));
  OA_RETURN_NOT_OK(
      gauge(w, "otlparrow_grpc_calls_active", "gRPC calls in progress", err));
  for (int i = 0; i < 2; i++)
    if (srv[i])
      OA_RETURN_NOT_OK(one(w, "server", names[i], st[i].calls_active, err));
  OA_RETURN_NOT_OK(counter(w, "otlparrow_grpc_writes_timed_out_total",
                           "gRPC calls cancelled because the client did not "
                           "read the answer in time",
                           err));
  for (int i = 0; i < 2; i++)
    if (srv[i])
      OA_RETURN_NOT_OK(one(w, "server", names[i], st[i].writes_timed_out, err));
  return 0;
}

static int datasets(const oa_serve_metrics *s, oa_metrics_writer *w,
                    oa_error *err) {
  OA_RETURN_NOT_OK(oa_metrics_single(
      w, "otlparrow_memory_used_bytes", OA_METRIC_GAUGE,
      "Bytes of batch buffers held by the datasets (the memory limiter's "
      "count)",
      NULL, 0, oa_datasets_memory_used(s->datasets), err));
  OA_RETURN_NOT_OK(oa_metrics_single(
      w, "otlparrow_memory_limit_bytes", OA_METRIC_GAUGE,
      "The memory limiter's limit (--max-memory; 0: unlimited)", NULL, 0,
      oa_datasets_memory_limit(s->datasets), err));
  oa_dataset_info *infos = NULL;
  int64_t n = 0;
  OA_RETURN_NOT_OK(oa_datasets_list(s->datasets, &infos, &n, err));
  int rc = gauge(w, "otlparrow_dataset_rows", "Rows held in memory per dataset",
                 err);
  for (int64_t i = 0; !rc && i < n; i++)
    rc = one(w, "dataset", infos[i].name, infos[i].n_rows, err);
  if (!rc)
    rc = gauge(w, "otlparrow_dataset_batches",
               "Record batches held in memory per dataset", err);
  for (int64_t i = 0; !rc && i < n; i++)
    rc = one(w, "dataset", infos[i].name, infos[i].n_batches, err);
  if (!rc)
    rc = gauge(w, "otlparrow_dataset_bytes",
               "Bytes of the buffers each dataset's batches reference", err);
  for (int64_t i = 0; !rc && i < n; i++)
    rc = one(w, "dataset", infos[i].name, infos[i].n_bytes, err);
  oa_dataset_info_free(infos, n);
  return rc;
}

static int store(const oa_serve_metrics *s, oa_metrics_writer *w,
                 oa_error *err) {
  oa_store_stats st;
  oa_datasets_store_stats(s->datasets, &st);
  struct {
    const char *name;
    oa_metric_type type;
    const char *help;
    int64_t v;
  } rows[] = {
      {"otlparrow_store_segments", OA_METRIC_GAUGE, "Segment files",
       st.segments},
      {"otlparrow_store_segment_bytes", OA_METRIC_GAUGE,
       "Bytes of the segment files", st.segment_bytes},
      {"otlparrow_store_segment_rows", OA_METRIC_GAUGE,
       "Rows in the segment files", st.segment_rows},
      {"otlparrow_store_unflushed_bytes", OA_METRIC_GAUGE,
       "Bytes in the write-ahead log not yet in segments", st.unflushed_bytes},
      {"otlparrow_store_flushes_total", OA_METRIC_COUNTER,
       "Write-ahead log flushes into segments", st.flushes},
      {"otlparrow_store_flush_errors_total", OA_METRIC_COUNTER,
       "Background flushes that failed (retried)", st.flush_errors},
      {"otlparrow_store_compactions_total", OA_METRIC_COUNTER,
       "Segment compactions", st.compactions},
      {"otlparrow_store_segments_expired_total", OA_METRIC_COUNTER,
       "Segments dropped by retention", st.segments_expired},
      {"otlparrow_store_duplicates_total", OA_METRIC_COUNTER,
       "Appends refused as already stored (by batch id)", st.duplicates},
      {"otlparrow_store_segments_corrupt_total", OA_METRIC_COUNTER,
       "Segments found unreadable and skipped", st.segments_corrupt},
      {"otlparrow_store_wal_records_replayed_total", OA_METRIC_COUNTER,
       "Write-ahead log records replayed at start", st.wal_records_replayed},
      {"otlparrow_store_wal_torn_total", OA_METRIC_COUNTER,
       "Torn write-ahead log tails found at start", st.wal_torn},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    OA_RETURN_NOT_OK(oa_metrics_single(w, rows[i].name, rows[i].type,
                                       rows[i].help, NULL, 0, rows[i].v, err));
  return 0;
}

/* Resident set size from /proc (Linux); skipped where it is missing. */
static int process(oa_metrics_writer *w, oa_error *err) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long size = 0, resident = 0;
  int got = fscanf(f, "%lld %lld", &size, &resident);
  fclose(f);
  if (got != 2) return 0;
  long page = sysconf(_SC_PAGESIZE);
  return oa_metrics_single(w, "otlparrow_process_resident_memory_bytes",
                           OA_METRIC_GAUGE, "Resident set size of the process",
                           NULL, 0,
                           (int64_t)resident * (page > 0 ? page : 4096), err);
}

int oa_serve_metrics_fill(void *ctx, oa_metrics_writer *w, oa_error *err) {
  const oa_serve_metrics *s = ctx;
  OA_RETURN_NOT_OK(receivers(s, w, err));
  OA_RETURN_NOT_OK(grpc_servers(s, w, err));
  if (s->datasets) {
    OA_RETURN_NOT_OK(datasets(s, w, err));
    if (s->store) OA_RETURN_NOT_OK(store(s, w, err));
  }
  return process(w, err);
}
