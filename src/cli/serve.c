/* otlparrow serve: OTLP/gRPC, OTLP/HTTP and Arrow Flight on the in-memory
 * datasets, until SIGINT/SIGTERM (which drain in-flight requests). */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/serve_metrics.h"
#include "flight/flight.h"
#include "grpc/oa_grpc.h"
#include "otlparrow/dataset.h"
#include "receiver/otlp_http.h"
#include "receiver/receiver.h"

static const char kServeHelp[] =
    "usage: otlparrow serve [options]\n"
    "\n"
    "Receive traces over OTLP (gRPC and HTTP) into the in-memory dataset\n"
    "'spans' and serve all datasets over Arrow Flight. SIGINT/SIGTERM stop\n"
    "accepting, let in-flight requests finish and exit 0. Every address\n"
    "defaults to loopback; 'off' disables a listener, port 0 picks one.\n"
    "\n"
    "options:\n"
    "  --otlp-grpc ADDR        OTLP/gRPC listener (default 127.0.0.1:4317)\n"
    "  --otlp-http ADDR        OTLP/HTTP listener (default 127.0.0.1:4318)\n"
    "  --flight ADDR           Arrow Flight listener (default 127.0.0.1:8815)\n"
    "  --metrics ADDR          Prometheus metrics on GET /metrics (off by\n"
    "                          default; a bare PORT is loopback); same TLS,\n"
    "                          client CA and token as the other listeners\n"
    "  --data-dir DIR          persist every dataset in DIR (created if\n"
    "                          missing; see docs/ARCHITECTURE.md, store):\n"
    "                          a write-ahead log, then zstd Arrow segments\n"
    "  --fsync POLICY          with --data-dir: batch (fsync before each\n"
    "                          acknowledgement, default), interval (every\n"
    "                          100 ms) or never (the kernel decides); a\n"
    "                          killed server loses no acknowledged batch\n"
    "                          either way, a power loss may with these two\n"
    "  --retention-age DURATION  drop stored segments older than this\n"
    "                          (e.g. 90m, 12h, 30d; by span start time)\n"
    "  --retention-bytes BYTES drop the oldest segments beyond this size\n"
    "  --max-memory BYTES      memory held by datasets (default 1G; K/M/G\n"
    "                          suffixes, 0: unlimited); over it exports are\n"
    "                          refused as retryable (UNAVAILABLE / 503)\n"
    "  --max-query-memory BYTES  memory one SQL query (Flight) may hold for\n"
    "                          GROUP BY tables, sort keys and its result\n"
    "                          (default: a quarter of --max-memory, 1G when\n"
    "                          that is 0; 0: no limit); over it the client\n"
    "                          gets RESOURCE_EXHAUSTED\n"
    "  --max-recv-size BYTES   largest OTLP/gRPC request (default 4M)\n"
    "  --max-http-body BYTES   largest OTLP/HTTP body after decompression\n"
    "                          (default 20M)\n"
    "  --threads N             event-loop threads per gRPC server (default 2)\n"
    "  --tls-cert FILE         PEM certificate chain: TLS on every listener\n"
    "  --tls-key FILE          PEM private key (with --tls-cert)\n"
    "  --tls-client-ca FILE    PEM CA: require client certificates signed by\n"
    "                          it on every listener (mutual TLS)\n"
    "  --auth-token TOKEN      require 'authorization: Bearer TOKEN' on every\n"
    "                          call (Flight, OTLP/gRPC and OTLP/HTTP)\n"
    "  --require-tls           refuse to start without --tls-cert/--tls-key\n"
    "                          (no plaintext listener at all)\n"
    "  --http-request-timeout SECONDS  an OTLP/HTTP request must arrive whole\n"
    "                          within this (default 60; slow clients are cut)\n"
    "  --config FILE           YAML file with the same keys as the options\n"
    "                          (otlp_grpc: 127.0.0.1:4317, max_memory: 512M,\n"
    "                          ...); command-line options take precedence\n"
    "  --dump-on-exit FILE     write the 'spans' dataset as Arrow IPC on exit\n"
    "                          (a file for .arrow, else a stream; for tests)\n"
    "  -h, --help              this help\n"
    "\n"
    "limits (a peer over one gets the protocol's error; sizes take K/M/G;\n"
    "docs/security.md lists them all):\n"
    "  --max-grpc-connections N  open connections per gRPC listener\n"
    "                          (OTLP/gRPC and Flight each; default 1024, 0:\n"
    "                          unlimited); extra ones are closed as they\n"
    "                          come (their calls fail UNAVAILABLE)\n"
    "  --max-concurrent-streams N  calls at once per gRPC connection (default\n"
    "                          100; the client queues the others)\n"
    "  --max-grpc-memory BYTES memory gRPC may hold per gRPC server for\n"
    "                          connections and messages being received\n"
    "                          (default 1G, 0: unbounded); over it calls are\n"
    "                          cancelled (RESOURCE_EXHAUSTED)\n"
    "  --grpc-write-timeout DURATION  a gRPC stream (Flight DoGet, ...) whose\n"
    "                          client takes no message for this long is\n"
    "                          cancelled (default 60s; 500ms, 2m; 0: never)\n"
    "  --max-flight-recv-size BYTES  largest Flight DoPut message (default\n"
    "                          256M; RESOURCE_EXHAUSTED over it)\n"
    "  --max-flight-decompressed-size BYTES  a DoPut message's buffers after\n"
    "                          lz4/zstd decompression (default 256M)\n"
    "  --max-dictionary-size N values in one DoPut dictionary (default 2^31)\n"
    "  --max-http-connections N  open OTLP/HTTP connections (default 1000)\n"
    "  --max-http-connections-per-ip N  open OTLP/HTTP connections per client\n"
    "                          address (default 0: no per-address limit)\n"
    "  --max-spans-per-request N  spans in one OTLP request (default "
    "16777216)\n"
    "  --max-attributes N      attributes per list (resource, scope, span,\n"
    "                          event, link; default 4096); over it the span\n"
    "                          is rejected (partial success)\n"
    "  --max-events N          events per span (default 4096)\n"
    "  --max-links N           links per span (default 4096)\n"
    "  --max-attribute-depth N nesting of AnyValue arrays/kvlists (default "
    "32)\n";

typedef struct serve_cfg {
  char *fsync, *retention_age; /* the store's (--data-dir) */
  int64_t retention_bytes;
  char *otlp_grpc, *otlp_http, *flight, *data_dir;
  char *metrics; /* --metrics: NULL (off) unless given */
  char *tls_cert, *tls_key, *tls_client_ca, *auth_token, *dump_on_exit;
  int64_t max_memory, max_recv_size, max_http_body, threads;
  int64_t max_query_memory; /* -1 until set (see oa_cli_query_memory_default) */
  int64_t http_request_timeout; /* seconds, 0: the receiver's default */
  /* limits; 0: the library's default unless said otherwise */
  int64_t max_grpc_connections; /* -1 until set (0 there: unlimited) */
  int64_t max_grpc_memory;      /* -1 until set (0 there: unlimited) */
  int64_t max_concurrent_streams, max_flight_recv_size;
  int64_t max_flight_decompressed_size, max_dictionary_size;
  int64_t max_http_connections, max_http_connections_per_ip;
  int64_t max_spans_per_request, max_attributes, max_events, max_links;
  int64_t max_attribute_depth;
  int64_t grpc_write_timeout_ms; /* -1 until set (0 there: never) */
  bool set_http;                 /* --otlp-http given explicitly */
  bool require_tls;              /* refuse to start any plaintext listener */
} serve_cfg;

static void cfg_set(char **slot, const char *v) {
  free(*slot);
  *slot = strdup(v);
}

static void cfg_free(serve_cfg *c) {
  free(c->fsync);
  free(c->retention_age);
  free(c->metrics);
  char **s[] = {&c->otlp_grpc,     &c->otlp_http,  &c->flight,
                &c->data_dir,      &c->tls_cert,   &c->tls_key,
                &c->tls_client_ca, &c->auth_token, &c->dump_on_exit};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
    free(*s[i]);
}

/* "90m", "12h", "30d", "3600s", "500ms" into nanoseconds. */
static bool parse_duration(const char *s, int64_t *ns) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || v < 0) return false;
  int64_t unit = strcmp(end, "ms") == 0           ? 1000000LL
                 : strcmp(end, "s") == 0 || !*end ? 1000000000LL
                 : strcmp(end, "m") == 0          ? 60000000000LL
                 : strcmp(end, "h") == 0          ? 3600000000000LL
                 : strcmp(end, "d") == 0          ? 86400000000000LL
                                                  : 0;
  if (!unit || v > INT64_MAX / unit) return false;
  *ns = v * unit;
  return true;
}

/* Applies one key (flag name without dashes, '-' or '_'). */
static int apply(serve_cfg *c, const char *key, const char *val,
                 const char *where) {
  char k[64];
  size_t n = strlen(key);
  if (n >= sizeof k) return oa_cli_fail("%s: unknown option '%s'", where, key);
  for (size_t i = 0; i <= n; i++)
    k[i] = key[i] == '-' ? '_' : key[i];
  struct {
    const char *name;
    char **slot;
  } strs[] = {{"otlp_grpc", &c->otlp_grpc},
              {"otlp_http", &c->otlp_http},
              {"flight", &c->flight},
              {"data_dir", &c->data_dir},
              {"tls_cert", &c->tls_cert},
              {"tls_key", &c->tls_key},
              {"tls_client_ca", &c->tls_client_ca},
              {"auth_token", &c->auth_token},
              {"dump_on_exit", &c->dump_on_exit},
              {"fsync", &c->fsync},
              {"retention_age", &c->retention_age},
              {"metrics", &c->metrics}};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
    if (strcmp(k, strs[i].name) == 0) {
      cfg_set(strs[i].slot, val);
      if (strcmp(k, "otlp_http") == 0) c->set_http = true;
      if (strcmp(k, "metrics") == 0 && val[0] &&
          strspn(val, "0123456789") == strlen(val)) {
        char a[64]; /* a bare port is loopback */
        snprintf(a, sizeof a, "127.0.0.1:%.20s", val);
        cfg_set(strs[i].slot, a);
      }
      return 0;
    }
  if (strcmp(k, "require_tls") == 0) {
    if (strcmp(val, "true") == 0 || strcmp(val, "yes") == 0 ||
        strcmp(val, "on") == 0 || strcmp(val, "1") == 0)
      c->require_tls = true;
    else if (strcmp(val, "false") == 0 || strcmp(val, "no") == 0 ||
             strcmp(val, "off") == 0 || strcmp(val, "0") == 0)
      c->require_tls = false;
    else
      return oa_cli_fail("%s: require_tls must be true or false, not '%s'",
                         where, val);
    return 0;
  }
  /* flags are named as typed (--max-links), config keys as written */
  char shown[70];
  snprintf(shown, sizeof shown, "%s%s", strcmp(where, "serve") == 0 ? "--" : "",
           key);
  if (strcmp(k, "grpc_write_timeout") == 0) {
    int64_t ns;
    if (!parse_duration(val, &ns) || ns / 1000000 > 86400000LL)
      return oa_cli_fail("%s: %s must be a duration up to 1d (60s, 500ms, "
                         "2m; 0: never), not '%s'",
                         where, shown, val);
    c->grpc_write_timeout_ms = ns / 1000000;
    if (ns > 0 && c->grpc_write_timeout_ms == 0) c->grpc_write_timeout_ms = 1;
    return 0;
  }
  struct {
    const char *name;
    int64_t *slot;
    int64_t min, max; /* accepted range */
  } counts[] = {
      {"max_grpc_connections", &c->max_grpc_connections, 0, 1 << 20},
      {"max_grpc_memory", &c->max_grpc_memory, 0, INT64_MAX},
      {"max_concurrent_streams", &c->max_concurrent_streams, 1, 1 << 20},
      {"max_flight_recv_size", &c->max_flight_recv_size, 1, INT32_MAX},
      {"max_flight_decompressed_size", &c->max_flight_decompressed_size, 1,
       INT64_MAX},
      {"max_dictionary_size", &c->max_dictionary_size, 1, INT64_MAX},
      {"max_http_connections", &c->max_http_connections, 1, 1 << 20},
      {"max_http_connections_per_ip", &c->max_http_connections_per_ip, 0,
       1 << 20},
      {"max_spans_per_request", &c->max_spans_per_request, 1, 1 << 30},
      {"max_attributes", &c->max_attributes, 1, 1 << 30},
      {"max_events", &c->max_events, 1, 1 << 30},
      {"max_links", &c->max_links, 1, 1 << 30},
      {"max_attribute_depth", &c->max_attribute_depth, 1, 256},
  };
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
    if (strcmp(k, counts[i].name) == 0) {
      int64_t v;
      if (!oa_cli_parse_size(val, &v) || v < counts[i].min || v > counts[i].max)
        return oa_cli_fail("%s: %s must be a number from %lld to %lld, not "
                           "'%s'",
                           where, shown, (long long)counts[i].min,
                           (long long)counts[i].max, val);
      *counts[i].slot = v;
      return 0;
    }
  struct {
    const char *name;
    int64_t *slot;
  } nums[] = {{"max_memory", &c->max_memory},
              {"max_query_memory", &c->max_query_memory},
              {"retention_bytes", &c->retention_bytes},
              {"http_request_timeout", &c->http_request_timeout},
              {"max_recv_size", &c->max_recv_size},
              {"max_http_body", &c->max_http_body},
              {"threads", &c->threads}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
    if (strcmp(k, nums[i].name) == 0) {
      if (!oa_cli_parse_size(val, nums[i].slot))
        return oa_cli_fail("%s: %s must be a size in bytes (e.g. 4096, 512M, "
                           "1G), not '%s'",
                           where, shown, val);
      if (nums[i].slot == &c->threads && (c->threads < 1 || c->threads > 64))
        return oa_cli_fail("%s: %s must be 1..64, not '%s'", where, shown, val);
      return 0;
    }
  return oa_cli_fail("%s: unknown option '%s' (see otlparrow serve --help)",
                     where, key);
}

typedef struct config_ctx {
  serve_cfg *c;
  const char *path;
  bool printed; /* apply() already said what was wrong */
} config_ctx;

static int config_key(void *ctx, const char *key, const char *value,
                      size_t line, oa_error *err) {
  config_ctx *cc = ctx;
  char where[600];
  snprintf(where, sizeof where, "--config %s line %zu", cc->path, line);
  if (apply(cc->c, key, value, where) == 0) return 0;
  cc->printed = true;
  return oa_error_set(err, EINVAL, "%s: invalid option '%s'", where, key);
}

/* A flat YAML mapping of scalars (cli/config.c). */
static int load_config(serve_cfg *c, const char *path) {
  char name[520];
  snprintf(name, sizeof name, "--config %s", path);
  config_ctx cc = {c, path, false};
  oa_error err;
  err.message[0] = 0;
  if (oa_cli_config_load(path, name, config_key, &cc, &err) == 0) return 0;
  return cc.printed ? 1 : oa_cli_fail("%s", err.message);
}

/* "127.x.y.z:port", "localhost:port", "[::1]:port": reachable from this
 * machine only. ":port" and "0.0.0.0:port" listen on every interface. */
static bool is_loopback(const char *addr) {
  const char *colon = strrchr(addr, ':');
  size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
  return (hl > 4 && strncmp(addr, "127.", 4) == 0) ||
         (hl == 9 && strncmp(addr, "localhost", 9) == 0) ||
         (hl == 5 && strncmp(addr, "[::1]", 5) == 0);
}

/* Without TLS: --require-tls refuses to start; a listener reachable from
 * other machines is worth a warning (its traffic and token are readable
 * on the network). */
static int check_plaintext(const serve_cfg *c) {
  const char *names[] = {"--otlp-grpc", "--otlp-http", "--flight", "--metrics"};
  const char *addrs[] = {c->otlp_grpc, c->otlp_http, c->flight, c->metrics};
  for (int i = 0; i < 4; i++) {
    if (oa_cli_addr_off(addrs[i])) continue;
    if (c->require_tls)
      return oa_cli_fail("--require-tls: %s %s would accept plaintext "
                         "connections: give --tls-cert and --tls-key (or "
                         "turn it off)",
                         names[i], addrs[i]);
    if (!is_loopback(addrs[i]))
      fprintf(stderr,
              "otlparrow serve: warning: %s %s is reachable from other "
              "machines without TLS%s; use --tls-cert/--tls-key (and "
              "--require-tls)\n",
              names[i], addrs[i],
              c->auth_token ? " (the bearer token travels in clear)" : "");
  }
  return 0;
}

static int write_dump(oa_datasets *d, const char *path) {
  oa_error err;
  oa_schema *s;
  oa_batch *bs;
  int64_t n;
  if (oa_datasets_snapshot(d, "spans", &s, &bs, &n, &err) != 0)
    return oa_cli_fail("--dump-on-exit: %s", err.message);
  oa_cli_output out;
  oa_cli_out_format fmt = oa_cli_out_format_from_path(path);
  if (fmt != OA_CLI_OUT_FILE) fmt = OA_CLI_OUT_STREAM;
  int rc = oa_cli_output_open(&out, path, fmt, s, NULL, true, &err);
  int64_t rows = 0;
  for (int64_t i = 0; !rc && i < n; i++) {
    rc = oa_cli_output_batch(&out, &bs[i], &err);
    rows += bs[i].length;
  }
  if (!rc) rc = oa_cli_output_finish(&out, &err);
  oa_cli_output_close(&out);
  oa_datasets_snapshot_free(s, bs, n);
  if (rc) return oa_cli_fail("--dump-on-exit %s: %s", path, err.message);
  fprintf(stderr, "otlparrow serve: wrote %lld spans in %lld batches to %s\n",
          (long long)rows, (long long)n, path);
  return 0;
}

/* Received batches are made of buffers of a few hundred KB to a few MB.
 * Above glibc's mmap threshold each one is mmap'ed and munmap'ed, so every
 * freed request buffer, builder scratch or dropped dataset comes back as
 * fresh pages: a page fault and a zeroed page per 4 KiB. Serving them from
 * the heap, never trimmed and grown in large steps, lets freed memory be
 * reused as it is (glibc's own dynamic threshold gets there only after the
 * first free of each size, and trims the heap top back to the kernel).
 * What each arena keeps is scaled down with a small --max-memory: a heap
 * that keeps 256 MiB free per arena would hold RSS far above the limit. */
static void tune_malloc(int64_t max_memory) {
#ifdef __GLIBC__
  int64_t keep = 256 << 20, mmap_at = 32 << 20; /* glibc's maximum */
  if (max_memory > 0 && max_memory < (1LL << 30)) {
    keep = max_memory / 8 > (1 << 20) ? max_memory / 8 : 1 << 20;
    if (keep / 2 < mmap_at) mmap_at = keep / 2;
  }
  mallopt(M_MMAP_THRESHOLD, (int)mmap_at);
  mallopt(M_TRIM_THRESHOLD, (int)keep);
  mallopt(M_TOP_PAD, (int)(keep < (16 << 20) ? keep / 4 : 16 << 20));
#endif
}

/* The datasets: in memory, or durable in --data-dir. */
static int open_store(serve_cfg *c, oa_datasets **d, oa_error *err) {
  oa_store_options so;
  oa_store_options_init(&so);
  const char *f = c->fsync ? c->fsync : "batch";
  if (strcmp(f, "batch") == 0)
    so.fsync = OA_FSYNC_BATCH;
  else if (strcmp(f, "interval") == 0)
    so.fsync = OA_FSYNC_INTERVAL;
  else if (strcmp(f, "never") == 0)
    so.fsync = OA_FSYNC_NEVER;
  else
    return oa_cli_fail("--fsync must be batch, interval or never, not '%s'", f);
  if (c->retention_age &&
      !parse_duration(c->retention_age, &so.retention_age_ns))
    return oa_cli_fail("--retention-age must be a duration (90m, 12h, 30d), "
                       "not '%s'",
                       c->retention_age);
  so.retention_bytes = c->retention_bytes;
  if ((c->fsync || c->retention_age || c->retention_bytes) && !c->data_dir)
    return oa_cli_fail("--fsync and --retention-* need --data-dir");
  if (oa_datasets_open(d, c->data_dir, &so, c->max_memory, err))
    return oa_cli_fail("%s", err->message);
  return 0;
}

static int serve_run(serve_cfg *c) {
  oa_error err;
  err.message[0] = 0;
  int rc = 1;
  oa_datasets *d = NULL;
  oa_grpc_server *otlp_srv = NULL, *flight_srv = NULL;
  oa_otlp_grpc *otlp = NULL;
  oa_flight_service *flight = NULL;
  /* SQL handler */
  oa_cli_query_ctx qctx = {NULL, 0, "--max-query-memory", NULL};
  oa_otlp_http *http = NULL;
  oa_metrics_http *metrics = NULL;
  oa_serve_metrics sm = {0};
  char *cert = NULL, *key = NULL, *ca = NULL;
  oa_grpc_tls tls = {0};
  const oa_grpc_tls *tlsp = NULL;
  char shown[300];

  if ((c->tls_cert != NULL) != (c->tls_key != NULL)) {
    oa_cli_fail("--tls-cert and --tls-key go together");
    goto done;
  }
  if (c->tls_client_ca && !c->tls_cert) {
    oa_cli_fail("--tls-client-ca needs --tls-cert and --tls-key");
    goto done;
  }
  if (c->tls_cert) {
    if (oa_grpc_read_pem(c->tls_cert, &cert, &err) ||
        oa_grpc_read_pem(c->tls_key, &key, &err) ||
        (c->tls_client_ca && oa_grpc_read_pem(c->tls_client_ca, &ca, &err))) {
      oa_cli_fail("TLS: %s", err.message);
      goto done;
    }
    if (!strstr(cert, "CERTIFICATE-----")) {
      oa_cli_fail("--tls-cert %s holds no certificate", c->tls_cert);
      goto done;
    }
    if (!strstr(key, "PRIVATE KEY-----")) {
      oa_cli_fail("--tls-key %s holds no private key", c->tls_key);
      goto done;
    }
    tls.cert_chain_pem = cert;
    tls.private_key_pem = key;
    tls.client_ca_pem = ca;
    tlsp = &tls;
  } else if (check_plaintext(c) != 0) {
    goto done;
  }
  if (c->data_dir) {
    struct stat st;
    if (stat(c->data_dir, &st) != 0 && mkdir(c->data_dir, 0755) != 0) {
      oa_cli_fail("--data-dir %s: %s", c->data_dir, strerror(errno));
      goto done;
    }
    if (stat(c->data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
      oa_cli_fail("--data-dir %s is not a directory", c->data_dir);
      goto done;
    }
  }
  tune_malloc(c->max_memory);
  /* Block the stop signals before any thread starts (the store's flush
   * threads included), so that only sigwait below sees them. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  if (open_store(c, &d, &err)) goto done;

  oa_grpc_server_options so;
  oa_grpc_server_options_default(&so);
  so.threads = (int)c->threads;
  so.auth_token = c->auth_token;
  if (c->max_grpc_connections >= 0)
    so.max_connections =
        c->max_grpc_connections ? (int)c->max_grpc_connections : -1;
  if (c->max_concurrent_streams)
    so.max_concurrent_streams = (int)c->max_concurrent_streams;
  so.memory_quota = c->max_grpc_memory < 0 ? 1LL << 30 : c->max_grpc_memory;
  {
    /* the quota holds messages being received: one of each must fit */
    int64_t fl = c->max_flight_recv_size ? c->max_flight_recv_size : 256 << 20;
    const char *big = NULL;
    if (so.memory_quota && !oa_cli_addr_off(c->flight) &&
        so.memory_quota < 2 * fl)
      big = "--max-flight-recv-size";
    else if (so.memory_quota && !oa_cli_addr_off(c->otlp_grpc) &&
             so.memory_quota < 2 * c->max_recv_size)
      big = "--max-recv-size";
    if (big) {
      oa_cli_fail("--max-grpc-memory %lld must be at least twice %s (or 0: "
                  "unbounded)",
                  (long long)so.memory_quota, big);
      goto done;
    }
  }
  if (c->grpc_write_timeout_ms >= 0)
    so.write_timeout_ms =
        c->grpc_write_timeout_ms ? c->grpc_write_timeout_ms : -1;
  oa_otlp_options decode;
  oa_otlp_options_default(&decode);
  if (c->max_spans_per_request) decode.max_spans = c->max_spans_per_request;
  if (c->max_attributes) decode.max_attributes = c->max_attributes;
  if (c->max_events) decode.max_events = c->max_events;
  if (c->max_links) decode.max_links = c->max_links;
  if (c->max_attribute_depth)
    decode.max_depth = (int32_t)c->max_attribute_depth;
  if (!oa_cli_addr_off(c->otlp_grpc)) {
    so.max_recv_message_size = c->max_recv_size;
    oa_otlp_grpc_options oo;
    oa_otlp_grpc_options_init(&oo);
    oo.max_recv_size = c->max_recv_size;
    oo.decode = decode;
    int port;
    if (oa_grpc_server_new(&otlp_srv, &so, &err) ||
        oa_otlp_grpc_register(&otlp, otlp_srv, &oo, d, &err) ||
        oa_grpc_server_add_listener(otlp_srv, c->otlp_grpc, tlsp, &port,
                                    &err) ||
        oa_grpc_server_start(otlp_srv, &err)) {
      oa_cli_fail("OTLP/gRPC: %s", err.message);
      goto done;
    }
    oa_cli_bound_addr(shown, sizeof shown, c->otlp_grpc, port);
    printf("otlparrow serve: OTLP/gRPC on %s%s\n", shown, tlsp ? " (TLS)" : "");
  }
  if (!oa_cli_addr_off(c->flight)) {
    oa_grpc_server_options fo_s = so;
    fo_s.max_recv_message_size = -1; /* the Flight service sets its own */
    oa_flight_options fo;
    oa_flight_options_init(&fo);
    fo.auth_token = c->auth_token;
    fo.recv_limit_hint = "--max-flight-recv-size";
    if (c->max_flight_recv_size)
      fo.max_recv_message_size = c->max_flight_recv_size;
    if (c->max_flight_decompressed_size)
      fo.max_decompressed_size = c->max_flight_decompressed_size;
    if (c->max_dictionary_size) fo.max_dictionary_size = c->max_dictionary_size;
    int port;
    qctx.datasets = d;
    qctx.max_memory =
        oa_cli_query_memory_default(c->max_query_memory, c->max_memory);
    if (oa_cli_query_cache_new(&qctx, &err) ||
        oa_grpc_server_new(&flight_srv, &fo_s, &err) ||
        oa_flight_service_new(&flight, d, &fo, &err) ||
        oa_flight_service_set_query_handler(flight, oa_cli_flight_query, &qctx,
                                            &err) ||
        oa_flight_service_register(flight, flight_srv, &err) ||
        oa_grpc_server_add_listener(flight_srv, c->flight, tlsp, &port, &err) ||
        oa_grpc_server_start(flight_srv, &err)) {
      oa_cli_fail("Arrow Flight: %s", err.message);
      goto done;
    }
    oa_cli_bound_addr(shown, sizeof shown, c->flight, port);
    printf("otlparrow serve: Arrow Flight on %s%s\n", shown,
           tlsp ? " (TLS)" : "");
  }
  if (!oa_cli_addr_off(c->otlp_http)) {
    oa_otlp_http_options ho;
    oa_otlp_http_options_init(&ho);
    ho.listen = c->otlp_http;
    if (c->max_http_body) ho.max_body_size = c->max_http_body;
    ho.tls_cert_file = c->tls_cert;
    ho.tls_key_file = c->tls_key;
    ho.tls_client_ca = c->tls_client_ca;
    ho.auth_token = c->auth_token;
    ho.decode = decode;
    if (c->max_http_connections)
      ho.connection_limit = (unsigned)c->max_http_connections;
    ho.per_ip_connection_limit = (unsigned)c->max_http_connections_per_ip;
    if (c->http_request_timeout > 0)
      ho.request_timeout_s =
          (unsigned)(c->http_request_timeout > 86400 ? 86400
                                                     : c->http_request_timeout);
    if (oa_otlp_http_start(&http, &ho, d, &err)) {
      oa_cli_fail("OTLP/HTTP: %s", err.message);
      goto done;
    }
    oa_cli_bound_addr(shown, sizeof shown, c->otlp_http,
                      oa_otlp_http_port(http));
    printf("otlparrow serve: OTLP/HTTP on %s%s\n", shown,
           !tlsp ? ""
           : ca  ? " (HTTPS, mTLS)"
                 : " (HTTPS)");
  }
  if (!oa_cli_addr_off(c->metrics)) {
    sm.datasets = d;
    sm.store = c->data_dir != NULL;
    sm.otlp_grpc = otlp;
    sm.otlp_grpc_server = otlp_srv;
    sm.flight_server = flight_srv;
    sm.otlp_http = http;
    oa_metrics_http_options mo;
    oa_metrics_http_options_init(&mo);
    mo.listen = c->metrics;
    mo.tls_cert_file = c->tls_cert;
    mo.tls_key_file = c->tls_key;
    mo.tls_client_ca = c->tls_client_ca;
    mo.auth_token = c->auth_token;
    mo.fill = oa_serve_metrics_fill;
    mo.fill_ctx = &sm;
    if (oa_metrics_http_start(&metrics, &mo, &err)) {
      oa_cli_fail("metrics: %s", err.message);
      goto done;
    }
    oa_cli_bound_addr(shown, sizeof shown, c->metrics,
                      oa_metrics_http_port(metrics));
    printf("otlparrow serve: metrics on %s%s\n", shown,
           !tlsp ? ""
           : ca  ? " (HTTPS, mTLS)"
                 : " (HTTPS)");
  }
  printf("otlparrow serve: ready (max memory %lld bytes%s%s)\n",
         (long long)c->max_memory, c->data_dir ? ", data dir " : "",
         c->data_dir ? c->data_dir : "");
  fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  fprintf(stderr, "otlparrow serve: %s, draining\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  rc = 0;

done:
  /* stop the receivers first so nothing is appended during the dump */
  oa_metrics_http_stop(metrics); /* it reads the others' counters */
  if (http) oa_otlp_http_stop(http);
  if (otlp_srv) oa_grpc_server_shutdown(otlp_srv, -1);
  if (flight_srv) oa_grpc_server_shutdown(flight_srv, -1);
  if (rc == 0 && otlp) {
    oa_otlp_grpc_stats st;
    oa_otlp_grpc_get_stats(otlp, &st);
    fprintf(stderr,
            "otlparrow serve: OTLP/gRPC %lld requests, %lld spans accepted, "
            "%lld rejected, %lld failed\n",
            (long long)st.requests, (long long)st.accepted_spans,
            (long long)st.rejected_spans, (long long)st.failed);
  }
  if (rc == 0 && c->dump_on_exit && d) rc = write_dump(d, c->dump_on_exit);
  oa_grpc_server_free(otlp_srv);
  oa_grpc_server_free(flight_srv);
  oa_otlp_grpc_free(otlp);
  oa_flight_service_free(flight);
  oa_cli_query_cache_free(&qctx);
  oa_datasets_free(d);
  free(cert);
  free(key);
  free(ca);
  return rc;
}

int oa_cli_serve(int argc, char **argv) {
  serve_cfg c;
  memset(&c, 0, sizeof c);
  cfg_set(&c.otlp_grpc, "127.0.0.1:4317");
  cfg_set(&c.otlp_http, "127.0.0.1:4318");
  cfg_set(&c.flight, "127.0.0.1:8815");
  c.max_memory = 1LL << 30;
  c.max_query_memory = -1;
  c.max_recv_size = 4 << 20;
  c.threads = 2;
  c.max_grpc_connections = -1;
  c.max_grpc_memory = -1;
  c.grpc_write_timeout_ms = -1;
  int rc = 0;
  /* the config file first, so that flags override it */
  for (int i = 1; i < argc; i++) {
    if (oa_cli_is_help(argv[i])) {
      fputs(kServeHelp, stdout);
      cfg_free(&c);
      return 0;
    }
    if (strncmp(argv[i], "--config=", 9) == 0) {
      if ((rc = load_config(&c, argv[i] + 9)) != 0) goto out;
    } else if (strcmp(argv[i], "--config") == 0) {
      if (i + 1 >= argc) {
        rc = oa_cli_fail("--config needs a file");
        goto out;
      }
      if ((rc = load_config(&c, argv[i + 1])) != 0) goto out;
    }
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) != 0) {
      rc = oa_cli_fail("serve: unexpected argument '%s' (see --help)", a);
      goto out;
    }
    char name[64];
    const char *eq = strchr(a, '=');
    const char *val;
    size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (nl >= sizeof name) {
      rc = oa_cli_fail("serve: unknown option '%s'", a);
      goto out;
    }
    memcpy(name, a + 2, nl);
    name[nl] = 0;
    if (!eq && strcmp(name, "require-tls") == 0) { /* a flag */
      c.require_tls = true;
      continue;
    }
    if (eq) {
      val = eq + 1;
    } else {
      if (i + 1 >= argc) {
        rc = oa_cli_fail("serve: %s needs a value (see --help)", a);
        goto out;
      }
      val = argv[++i];
    }
    if (strcmp(name, "config") == 0) continue;
    if ((rc = apply(&c, name, val, "serve")) != 0) goto out;
  }
  rc = serve_run(&c);
out:
  cfg_free(&c);
  return rc;
}
