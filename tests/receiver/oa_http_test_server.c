/* Test helper for tests/interop/otlp_http_sdk.test.mjs: runs the OTLP/HTTP
 * receiver on 127.0.0.1 (a free port unless --port is given), prints
 * "port N" once it listens, and on stdin EOF or SIGTERM/SIGINT stops and
 * writes the "spans" dataset to OUT as an Arrow IPC stream (a stream, not
 * the file format: each batch has its own dictionaries, which only streams
 * may replace).
 *
 * usage: oa_http_test_server OUT.arrow [--max-memory BYTES]
 *        [--max-body BYTES] [--tls-cert PEM --tls-key PEM]
 *        [--tls-client-ca PEM] [--token T] */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "otlparrow/dataset.h"
#include "otlparrow/ipc.h"
#include "otlparrow/otlp.h"
#include "receiver/otlp_http.h"

static int write_spans(oa_datasets *ds, const char *path, int64_t *rows,
                       oa_error *err) {
  oa_schema *schema = NULL;
  oa_batch *bs = NULL;
  int64_t n = 0;
  int rc = oa_datasets_snapshot(ds, "spans", &schema, &bs, &n, err);
  if (rc == ENOENT) rc = oa_span_schema(&schema, err);
  if (rc) return rc;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    oa_datasets_snapshot_free(schema, bs, n);
    return oa_error_set(err, EIO, "%s: cannot create", path);
  }
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  oa_ipc_writer *w = NULL;
  rc = oa_ipc_writer_new(&w, OA_IPC_STREAM, schema, &wo, oa_sink_fd(&fd), err);
  *rows = 0;
  for (int64_t i = 0; rc == 0 && i < n; i++) {
    rc = oa_ipc_writer_write(w, &bs[i], err);
    *rows += bs[i].length;
  }
  if (rc == 0) rc = oa_ipc_writer_finish(w, err);
  oa_ipc_writer_free(w);
  close(fd);
  oa_datasets_snapshot_free(schema, bs, n);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s OUT.arrow [options]\n", argv[0]);
    return 2;
  }
  const char *out = argv[1];
  oa_otlp_http_options o;
  oa_otlp_http_options_init(&o);
  o.listen = "127.0.0.1:0";
  int64_t max_memory = 0;
  char listen[64];
  for (int i = 2; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (strcmp(k, "--max-memory") == 0)
      max_memory = atoll(v);
    else if (strcmp(k, "--max-body") == 0)
      o.max_body_size = atoll(v);
    else if (strcmp(k, "--tls-cert") == 0)
      o.tls_cert_file = v;
    else if (strcmp(k, "--tls-key") == 0)
      o.tls_key_file = v;
    else if (strcmp(k, "--tls-client-ca") == 0)
      o.tls_client_ca = v;
    else if (strcmp(k, "--token") == 0)
      o.auth_token = v;
    else if (strcmp(k, "--port") == 0) {
      snprintf(listen, sizeof listen, "127.0.0.1:%s", v);
      o.listen = listen;
    } else {
      fprintf(stderr, "unknown option %s\n", k);
      return 2;
    }
  }
  /* the receiver's threads inherit the mask: signals come to sigtimedwait */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  oa_error err = {{0}};
  oa_datasets *ds = NULL;
  oa_otlp_http *h = NULL;
  if (oa_datasets_new(&ds, max_memory, &err) != 0 ||
      oa_otlp_http_start(&h, &o, ds, &err) != 0) {
    fprintf(stderr, "oa_http_test_server: %s\n", err.message);
    oa_datasets_free(ds);
    return 1;
  }
  printf("port %d\n", oa_otlp_http_port(h));
  fflush(stdout);

  struct timespec tick = {0, 50 * 1000 * 1000};
  for (;;) {
    struct pollfd p = {0, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) {
      char buf[256];
      if (read(0, buf, sizeof buf) <= 0) break; /* EOF */
    }
    if (sigtimedwait(&set, NULL, &tick) >= 0) break;
  }
  oa_otlp_http_stop(h);
  int64_t rows = 0;
  int rc = write_spans(ds, out, &rows, &err);
  oa_datasets_free(ds);
  if (rc) {
    fprintf(stderr, "oa_http_test_server: %s\n", err.message);
    return 1;
  }
  printf("wrote %lld spans\n", (long long)rows);
  return 0;
}
