/* otlparrow demo: the main job on the embedded defaults. Generates real
 * trace data (oa_trace_gen: OTLP protobuf requests), converts it to Arrow
 * span batches with the decoder, writes them as Arrow IPC (a file with zstd,
 * a stream with lz4), reads both back (the file zero-copy over mmap), checks
 * they are equal to what was written, compares the sizes with the OTLP
 * protobuf bytes (raw and zstd-compressed) and prints the first spans. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zstd.h>

#include "cli/cli.h"
#include "otlparrow/builder.h"

static const char kDemoHelp[] =
    "usage: otlparrow demo [options]\n"
    "\n"
    "Generates realistic traces as OTLP protobuf requests (the data of\n"
    "'otlparrow gen'), converts them to Arrow span batches, writes them as\n"
    "Arrow IPC (an IPC file with zstd and a stream with lz4), reads both "
    "back,\n"
    "checks that they equal what was written, compares their sizes with the\n"
    "OTLP protobuf bytes (raw and zstd) and prints the first spans.\n"
    "\n"
    "Files written to DIR: spans.pb (the OTLP requests, gRPC-framed),\n"
    "spans.arrow (IPC file, zstd), spans.arrows (IPC stream, lz4) and\n"
    "spans-raw.arrow (IPC file, uncompressed).\n"
    "\n"
    "options:\n"
    "  --rows N, --spans N  spans to generate (default 100000)\n"
    "  --batch N            spans per OTLP request and record batch, at most\n"
    "                       (default 10000; traces are kept whole)\n"
    "  --services K         services taking part, 1 to 20 (default 10)\n"
    "  --dir DIR            where to write the files (default ./data/demo)\n"
    "  --seed S             random seed (default 42)\n"
    "  -h, --help           show this help\n";

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_ipc(const char *path, oa_ipc_format fmt, oa_compression c,
                     oa_schema *s, const oa_batch *batches, int64_t n,
                     int64_t *bytes, oa_error *err) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return oa_error_set(err, EIO, "cannot create %s: %s", path,
                        strerror(errno));
  int fd = fileno(f);
  oa_ipc_write_options opt;
  oa_ipc_write_options_init(&opt);
  opt.compression = c;
  oa_ipc_writer *w = NULL;
  int rc = oa_ipc_writer_new(&w, fmt, s, &opt, oa_sink_fd(&fd), err);
  for (int64_t i = 0; rc == 0 && i < n; i++)
    rc = oa_ipc_writer_write(w, &batches[i], err);
  if (rc == 0) rc = oa_ipc_writer_finish(w, err);
  if (rc == 0) *bytes = oa_ipc_writer_bytes_written(w);
  oa_ipc_writer_free(w);
  if (fclose(f) != 0 && rc == 0)
    rc = oa_error_set(err, EIO, "writing %s failed", path);
  return rc;
}

static int write_bytes(const char *path, const oa_bytes *b, oa_error *err) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return oa_error_set(err, EIO, "cannot create %s: %s", path,
                        strerror(errno));
  size_t n = fwrite(b->data, 1, (size_t)b->size, f);
  if (fclose(f) != 0 || n != (size_t)b->size)
    return oa_error_set(err, EIO, "writing %s failed", path);
  return 0;
}

/* Reads path back and compares with the batches written. */
static int read_back(const char *path, const oa_batch *batches, int64_t n,
                     oa_error *err) {
  oa_cli_input in;
  OA_RETURN_NOT_OK(oa_cli_input_open(&in, path, err));
  int rc = 0;
  int64_t i = 0;
  for (;;) {
    oa_batch b;
    oa_batch_init(&b);
    bool got = false;
    rc = oa_cli_input_next(&in, &b, &got, err);
    if (rc || !got) {
      oa_batch_reset(&b);
      break;
    }
    if (i >= n)
      rc = oa_error_set(err, EINVAL, "%s: more batches than written", path);
    /* without err first: formatting where a difference is costs time */
    else if (!oa_batch_equals(&b, &batches[i], NULL) &&
             !oa_batch_equals(&b, &batches[i], err))
      rc = oa_error_prefix(
          err, EINVAL, "%s batch %lld differs from what was written: ", path,
          (long long)i);
    oa_batch_reset(&b);
    i++;
    if (rc) break;
  }
  if (rc == 0 && i != n)
    rc = oa_error_set(err, EINVAL, "%s: %lld batches read, %lld written", path,
                      (long long)i, (long long)n);
  oa_cli_input_close(&in);
  return rc;
}

static void size_line(const char *what, int64_t bytes, int64_t ref,
                      int64_t spans) {
  printf("  %-44s %11lld bytes  %7.1f B/span  %5.2fx OTLP protobuf\n", what,
         (long long)bytes, spans ? (double)bytes / (double)spans : 0.0,
         ref ? (double)bytes / (double)ref : 0.0);
}

int oa_cli_demo(int argc, char **argv) {
  int64_t rows = 100000, batch_rows = 10000, seed = 42, services = 10;
  const char *dir = "data/demo";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (oa_cli_is_help(a)) {
      fputs(kDemoHelp, stdout);
      return 0;
    } else if (strcmp(a, "--dir") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if ((strcmp(a, "--rows") == 0 || strcmp(a, "--spans") == 0 ||
                strcmp(a, "--batch") == 0 || strcmp(a, "--seed") == 0 ||
                strcmp(a, "--services") == 0) &&
               i + 1 < argc) {
      int64_t v;
      if (!oa_cli_parse_i64(argv[i + 1], &v))
        return oa_cli_fail("%s needs a number", a);
      if (a[2] == 'r' || strcmp(a, "--spans") == 0)
        rows = v;
      else if (a[2] == 'b')
        batch_rows = v > 0 ? v : 1;
      else if (strcmp(a, "--seed") == 0)
        seed = v;
      else
        services = v;
      i++;
    } else {
      return oa_cli_fail("unknown argument %s (see otlparrow demo --help)", a);
    }
  }
  if (services < 1 || services > OA_TRACE_GEN_MAX_SERVICES)
    return oa_cli_fail("--services must be 1 to %d", OA_TRACE_GEN_MAX_SERVICES);
  char path[4096];
  snprintf(path, sizeof path, "%s", dir);
  for (char *p = path + 1; *p; p++) {
    if (*p == '/') {
      *p = 0;
      mkdir(path, 0755);
      *p = '/';
    }
  }
  if (mkdir(path, 0755) != 0 && errno != EEXIST)
    return oa_cli_fail("cannot create %s: %s", dir, strerror(errno));

  oa_error err = {{0}};
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = rows;
  go.seed = (uint64_t)seed;
  go.services = (int32_t)services;
  oa_trace_gen g;
  if (oa_trace_gen_init(&g, &go, &err)) return oa_cli_fail("%s", err.message);

  printf("otlparrow demo: %lld spans of generated traces (%lld services, seed "
         "%lld), OTLP "
         "requests of at most %lld spans\n",
         (long long)rows, (long long)services, (long long)seed,
         (long long)batch_rows);
  /* 1. OTLP protobuf requests, kept one after another, and gRPC-framed */
  oa_bytes all, framed, req;
  oa_bytes_init(&all);
  oa_bytes_init(&framed);
  oa_bytes_init(&req);
  int64_t *req_off = NULL, *req_len = NULL, *req_spans = NULL, nreq = 0,
          cap = 0;
  int rc = 0;
  double t0 = now_seconds();
  for (;;) {
    int64_t n = 0;
    if ((rc = oa_trace_gen_next_request(&g, batch_rows, &req, &n, &err)) ||
        n == 0)
      break;
    if (nreq == cap) {
      cap = cap ? cap * 2 : 64;
      int64_t *a = realloc(req_off, (size_t)cap * sizeof *a);
      if (a) req_off = a;
      int64_t *b = realloc(req_len, (size_t)cap * sizeof *b);
      if (b) req_len = b;
      int64_t *c = realloc(req_spans, (size_t)cap * sizeof *c);
      if (c) req_spans = c;
      if (!a || !b || !c) {
        rc = oa_error_set(&err, ENOMEM, "out of memory");
        break;
      }
    }
    req_off[nreq] = all.size;
    req_len[nreq] = req.size;
    req_spans[nreq++] = n;
    uint8_t fh[5] = {0, (uint8_t)(req.size >> 24), (uint8_t)(req.size >> 16),
                     (uint8_t)(req.size >> 8), (uint8_t)req.size};
    if (oa_bytes_append(&all, req.data, req.size) ||
        oa_bytes_append(&framed, fh, 5) ||
        oa_bytes_append(&framed, req.data, req.size)) {
      rc = oa_error_set(&err, ENOMEM, "out of memory");
      break;
    }
  }
  double t1 = now_seconds();
  if (rc == 0)
    printf("  generated %lld traces in %lld OTLP requests, %lld bytes, in %.1f "
           "ms\n",
           (long long)g.traces_done, (long long)nreq, (long long)all.size,
           (t1 - t0) * 1e3);
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/spans.pb", dir);
    rc = write_bytes(path, nreq == 1 ? &all : &framed, &err);
  }

  /* 2. OTLP -> Arrow with the decoder: one batch per request */
  oa_batch *batches = calloc((size_t)(nreq ? nreq : 1), sizeof *batches);
  oa_batch merged, *slices = calloc((size_t)(nreq ? nreq : 1), sizeof *slices);
  oa_batch_init(&merged);
  oa_schema *schema = NULL;
  oa_otlp_decoder *dec = NULL;
  if (rc == 0 && (!batches || !slices))
    rc = oa_error_set(&err, ENOMEM, "out of memory");
  if (rc == 0) rc = oa_otlp_decoder_new(&dec, NULL, &err);
  if (rc == 0) rc = oa_span_schema(&schema, &err);
  double d0 = now_seconds();
  for (int64_t i = 0; rc == 0 && i < nreq; i++) {
    oa_otlp_result res;
    rc = oa_otlp_decoder_decode(dec, all.data + req_off[i], req_len[i],
                                &batches[i], &res, &err);
    if (rc == 0 && (res.rejected_spans || batches[i].length != req_spans[i]))
      rc = oa_error_set(&err, EINVAL,
                        "request %lld: %lld spans decoded, %lld rejected (%s)",
                        (long long)i, (long long)batches[i].length,
                        (long long)res.rejected_spans, res.error_message);
  }
  double d1 = now_seconds();
  if (rc == 0)
    printf("  decoded OTLP -> Arrow span batches in %.1f ms (%.0f MB/s, %.0f "
           "spans/ms)\n",
           (d1 - d0) * 1e3, (double)all.size / (d1 - d0) / 1e6,
           (double)rows / ((d1 - d0) * 1e3));
  /* the IPC file format allows no dictionary replacement: decode all the
   * requests as one and write it in slices that share its dictionaries */
  if (rc == 0) {
    oa_otlp_options opt;
    oa_otlp_options_default(&opt);
    opt.max_spans = INT64_MAX;
    rc = oa_otlp_decode_traces(all.data, all.size, &opt, &merged, NULL, &err);
  }
  for (int64_t i = 0, off = 0; rc == 0 && i < nreq; off += req_spans[i], i++)
    rc = oa_batch_slice(&slices[i], &merged, off, req_spans[i], &err);

  /* 3. sizes and round trips */
  int64_t zstd_pb = 0;
  if (rc == 0) {
    size_t zcap = ZSTD_compressBound((size_t)all.size);
    void *z = malloc(zcap ? zcap : 1);
    if (!z)
      rc = oa_error_set(&err, ENOMEM, "out of memory");
    else {
      size_t zn = ZSTD_compress(z, zcap, all.data, (size_t)all.size, 3);
      if (ZSTD_isError(zn))
        rc = oa_error_set(&err, EIO, "zstd: %s", ZSTD_getErrorName(zn));
      else
        zstd_pb = (int64_t)zn;
      free(z);
    }
  }
  static const struct {
    const char *name;
    oa_ipc_format fmt;
    oa_compression c;
    bool sliced;
  } kOut[] = {{"spans.arrow", OA_IPC_FILE, OA_COMPRESSION_ZSTD, true},
              {"spans.arrows", OA_IPC_STREAM, OA_COMPRESSION_LZ4_FRAME, false},
              {"spans-raw.arrow", OA_IPC_FILE, OA_COMPRESSION_NONE, true}};
  int64_t sizes[3] = {0};
  if (rc == 0) {
    printf("\n");
    size_line("OTLP protobuf (spans.pb)", all.size, all.size, rows);
    size_line("OTLP protobuf + zstd -3", zstd_pb, all.size, rows);
  }
  for (size_t k = 0; rc == 0 && k < sizeof kOut / sizeof kOut[0]; k++) {
    snprintf(path, sizeof path, "%s/%s", dir, kOut[k].name);
    const oa_batch *src = kOut[k].sliced ? slices : batches;
    double w0 = now_seconds();
    rc = write_ipc(path, kOut[k].fmt, kOut[k].c, schema, src, nreq, &sizes[k],
                   &err);
    double w1 = now_seconds();
    if (rc == 0) rc = read_back(path, src, nreq, &err);
    double w2 = now_seconds();
    if (rc == 0) {
      char what[160];
      snprintf(what, sizeof what, "Arrow IPC %s + %s (%s)",
               kOut[k].fmt == OA_IPC_FILE ? "file" : "stream",
               oa_compression_name(kOut[k].c), kOut[k].name);
      size_line(what, sizes[k], all.size, rows);
      printf("  %-44s write %.1f ms, read back + check %.1f ms\n", "",
             (w1 - w0) * 1e3, (w2 - w1) * 1e3);
    }
  }
  if (rc == 0) {
    printf("  all files read back equal to what was written\n");
    printf("  (Arrow IPC file batches share one set of dictionaries; stream "
           "batches carry "
           "their own)\n");
    if (nreq > 0) rc = oa_cli_print_spans(&batches[0], 0, 5, 32, stdout, &err);
    printf("\nmore: otlparrow inspect %s/spans.arrow    otlparrow gen --help\n",
           dir);
  }

  for (int64_t i = 0; i < nreq; i++) {
    if (batches) oa_batch_reset(&batches[i]);
    if (slices) oa_batch_reset(&slices[i]);
  }
  oa_batch_reset(&merged);
  free(batches);
  free(slices);
  free(req_off);
  free(req_len);
  free(req_spans);
  oa_otlp_decoder_free(dec);
  if (schema) oa_schema_release(schema);
  oa_bytes_reset(&all);
  oa_bytes_reset(&framed);
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  if (rc) return oa_cli_fail("%s", err.message);
  return 0;
}
