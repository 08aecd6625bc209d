/* What `otlparrow serve --metrics` exposes: the counters of the running
 * listeners and of the datasets, written per scrape (serve_metrics.c). */
#ifndef OA_CLI_SERVE_METRICS_H
#define OA_CLI_SERVE_METRICS_H

#include <stdbool.h>

#include "flight/flight.h"
#include "grpc/oa_grpc.h"
#include "otlparrow/dataset.h"
#include "receiver/metrics.h"
#include "receiver/otlp_http.h"
#include "receiver/receiver.h"

/* Borrowed pointers, NULL for what is not running; set before the
 * metrics listener starts, unchanged while it runs. */
typedef struct oa_serve_metrics {
  oa_datasets *datasets;
  bool store; /* --data-dir: the durable store's counters too */
  oa_otlp_grpc *otlp_grpc;
  oa_grpc_server *otlp_grpc_server;
  oa_grpc_server *flight_server;
  oa_otlp_http *otlp_http;
} oa_serve_metrics;

/* An oa_metrics_fill_fn; ctx is an oa_serve_metrics. */
int oa_serve_metrics_fill(void *ctx, oa_metrics_writer *w, oa_error *err);

#endif
