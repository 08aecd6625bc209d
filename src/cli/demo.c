/* otlparrow demo: the main job on the embedded defaults. For now (the
 * Arrow/IPC foundation) it generates span-shaped rows with the builders,
 * writes them as Arrow IPC (file with zstd, stream with lz4), reads them back
 * (the file zero-copy over mmap), checks they are equal and prints them. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "otlparrow/builder.h"

static const char kDemoHelp[] =
    "usage: otlparrow demo [options]\n"
    "\n"
    "Generates span-shaped rows, writes them as Arrow IPC (an IPC file with\n"
    "zstd and a stream with lz4), reads both back, checks that they equal what\n"
    "was written and prints the first rows.\n"
    "\n"
    "options:\n"
    "  --rows N       rows to generate (default 100000)\n"
    "  --batch N      rows per record batch (default 10000)\n"
    "  --dir DIR      where to write the files (default ./data/demo)\n"
    "  --seed S       random seed (default 42)\n"
    "  -h, --help     show this help\n";

static uint64_t next_rand(uint64_t *s) {
  /* splitmix64: tiny, deterministic, good enough for sample data */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int add_field(oa_schema *s, const char *name, oa_type_id id, oa_error *err) {
  oa_field f;
  OA_RETURN_NOT_OK(oa_field_init(&f, name, id, err));
  int rc = oa_schema_add_field(s, &f, err);
  if (rc) oa_field_reset(&f);
  return rc;
}

static int demo_schema(oa_schema **out, oa_error *err) {
  oa_schema *s;
  OA_RETURN_NOT_OK(oa_schema_new(&s, err));
  int rc = 0;
  OA_GOTO_NOT_OK(rc, add_field(s, "trace_id", OA_TYPE_FIXED_SIZE_BINARY, err), fail);
  s->fields[0].type.byte_width = 16;
  s->fields[0].nullable = false;
  OA_GOTO_NOT_OK(rc, add_field(s, "span_id", OA_TYPE_FIXED_SIZE_BINARY, err), fail);
  s->fields[1].type.byte_width = 8;
  s->fields[1].nullable = false;
  OA_GOTO_NOT_OK(rc, add_field(s, "parent_span_id", OA_TYPE_FIXED_SIZE_BINARY, err), fail);
  s->fields[2].type.byte_width = 8;
  OA_GOTO_NOT_OK(rc, add_field(s, "service_name", OA_TYPE_STRING, err), fail);
  oa_field_set_dictionary(&s->fields[3], OA_TYPE_UINT8, 0, false);
  OA_GOTO_NOT_OK(rc, add_field(s, "name", OA_TYPE_STRING, err), fail);
  oa_field_set_dictionary(&s->fields[4], OA_TYPE_UINT16, 1, false);
  OA_GOTO_NOT_OK(rc, add_field(s, "kind", OA_TYPE_INT32, err), fail);
  OA_GOTO_NOT_OK(rc, add_field(s, "start_time", OA_TYPE_TIMESTAMP, err), fail);
  OA_GOTO_NOT_OK(rc, oa_field_set_timezone(&s->fields[6], "UTC", err), fail);
  OA_GOTO_NOT_OK(rc, add_field(s, "duration", OA_TYPE_DURATION, err), fail);
  OA_GOTO_NOT_OK(rc, add_field(s, "status_code", OA_TYPE_INT32, err), fail);
  OA_GOTO_NOT_OK(rc, add_field(s, "http_status", OA_TYPE_INT64, err), fail);
  *out = s;
  return 0;
fail:
  oa_schema_release(s);
  return rc;
}

static const char *const kServices[] = {"frontend", "checkout", "cart", "payment",
                                        "shipping", "email", "currency", "ad"};
static const char *const kOps[] = {"GET /api/cart", "POST /api/checkout", "GET /api/products",
                                   "grpc.Cart/GetCart", "grpc.Payment/Charge", "SELECT orders",
                                   "redis GET", "kafka.produce orders"};

/* Fills builders with rows [row0, row0+n) of the sample traces: 8 spans per
 * trace, the first of each trace a root (no parent). */
static int demo_rows(oa_builder *cols, int64_t row0, int64_t n, uint64_t seed) {
  int rc = 0;
  for (int64_t r = row0; r < row0 + n && rc == 0; r++) {
    int64_t trace = r / 8, pos = r % 8;
    uint64_t ts = seed + (uint64_t)trace * 0x1234567ull, ss = ~seed ^ ((uint64_t)r << 20);
    uint64_t tid[2] = {next_rand(&ts), next_rand(&ts)};
    uint64_t sid = next_rand(&ss);
    uint64_t pid = ~seed ^ ((uint64_t)(r - 1) << 20);
    pid = next_rand(&pid);
    uint64_t rnd = next_rand(&ss);
    int64_t start = 1735689600000000000LL + trace * 1000000LL + pos * 10000LL;
    rc |= oa_builder_append_fsb_fast(&cols[0], tid);
    rc |= oa_builder_append_fsb_fast(&cols[1], &sid);
    rc |= pos == 0 ? oa_builder_append_null(&cols[2]) : oa_builder_append_fsb_fast(&cols[2], &pid);
    rc |= oa_builder_append_cstr(&cols[3], kServices[(trace + pos) % 8]);
    rc |= oa_builder_append_cstr(&cols[4], kOps[rnd % 8]);
    rc |= oa_builder_append_int(&cols[5], pos == 0 ? 2 : (int64_t)(rnd >> 8) % 5 + 1);
    rc |= oa_builder_append_int(&cols[6], start);
    rc |= oa_builder_append_int(&cols[7], (int64_t)((rnd >> 16) % 50000000));
    rc |= oa_builder_append_int(&cols[8], (rnd >> 40) % 50 == 0 ? 2 : 1);
    if ((rnd >> 24) % 3 == 0) rc |= oa_builder_append_null(&cols[9]);
    else rc |= oa_builder_append_int(&cols[9], (rnd >> 48) % 20 == 0 ? 500 : 200);
  }
  return rc;
}

static int write_file(const char *path, oa_ipc_format fmt, oa_compression c, oa_schema *s,
                      const oa_batch *batches, int64_t n, int64_t *bytes, oa_error *err) {
  FILE *f = fopen(path, "wb");
  if (!f) return oa_error_set(err, EIO, "cannot create %s: %s", path, strerror(errno));
  int fd = fileno(f);
  oa_ipc_write_options opt;
  oa_ipc_write_options_init(&opt);
  opt.compression = c;
  oa_ipc_writer *w = NULL;
  int rc = oa_ipc_writer_new(&w, fmt, s, &opt, oa_sink_fd(&fd), err);
  for (int64_t i = 0; rc == 0 && i < n; i++) rc = oa_ipc_writer_write(w, &batches[i], err);
  if (rc == 0) rc = oa_ipc_writer_finish(w, err);
  if (rc == 0) *bytes = oa_ipc_writer_bytes_written(w);
  oa_ipc_writer_free(w);
  if (fclose(f) != 0 && rc == 0) rc = oa_error_set(err, EIO, "writing %s failed", path);
  return rc;
}

/* Reads path back and compares with the batches written. */
static int read_back(const char *path, const oa_batch *batches, int64_t n, oa_error *err) {
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
    if (i >= n) rc = oa_error_set(err, EINVAL, "%s: more batches than written", path);
    else if (!oa_batch_equals(&b, &batches[i], err))
      rc = oa_error_prefix(err, EINVAL, "%s batch %lld differs from what was written: ", path,
                           (long long)i);
    oa_batch_reset(&b);
    i++;
    if (rc) break;
  }
  if (rc == 0 && i != n)
    rc = oa_error_set(err, EINVAL, "%s: %lld batches read, %lld written", path, (long long)i,
                      (long long)n);
  oa_cli_input_close(&in);
  return rc;
}

int oa_cli_demo(int argc, char **argv) {
  int64_t rows = 100000, batch_rows = 10000, seed = 42;
  const char *dir = "data/demo";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (oa_cli_is_help(a)) {
      fputs(kDemoHelp, stdout);
      return 0;
    } else if (strcmp(a, "--dir") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if ((strcmp(a, "--rows") == 0 || strcmp(a, "--batch") == 0 ||
                strcmp(a, "--seed") == 0) && i + 1 < argc) {
      int64_t v;
      if (!oa_cli_parse_i64(argv[i + 1], &v)) return oa_cli_fail("%s needs a number", a);
      if (a[2] == 'r') rows = v;
      else if (a[2] == 'b') batch_rows = v > 0 ? v : 1;
      else seed = v;
      i++;
    } else {
      return oa_cli_fail("unknown argument %s (see otlparrow demo --help)", a);
    }
  }
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
  oa_schema *schema = NULL;
  if (demo_schema(&schema, &err)) return oa_cli_fail("%s", err.message);
  int64_t nb = rows == 0 ? 0 : (rows + batch_rows - 1) / batch_rows;
  oa_batch *batches = calloc((size_t)(nb ? nb : 1), sizeof *batches);
  oa_builder *cols = calloc((size_t)schema->n_fields, sizeof *cols);
  int rc = (!batches || !cols) ? oa_error_set(&err, ENOMEM, "out of memory") : 0;
  int64_t ncols = 0;
  for (; rc == 0 && ncols < schema->n_fields; ncols++)
    rc = oa_builder_init(&cols[ncols], &schema->fields[ncols], OA_BUILDER_KEEP_DICTIONARY, &err);
  printf("otlparrow demo: %lld span-shaped rows in batches of %lld\n", (long long)rows,
         (long long)batch_rows);
  double t0 = now_seconds();
  for (int64_t b = 0; rc == 0 && b < nb; b++) {
    int64_t n = rows - b * batch_rows < batch_rows ? rows - b * batch_rows : batch_rows;
    if (demo_rows(cols, b * batch_rows, n, (uint64_t)seed))
      rc = oa_error_set(&err, ENOMEM, "generating rows failed");
    oa_array arrays[16];
    for (int64_t c = 0; rc == 0 && c < schema->n_fields; c++) {
      oa_array_init(&arrays[c]);
      rc = oa_builder_finish(&cols[c], &arrays[c], &err);
    }
    if (rc == 0) rc = oa_batch_set(&batches[b], schema, n, arrays, &err);
    if (rc == 0) rc = oa_batch_validate(&batches[b], true, &err);
  }
  double t1 = now_seconds();
  if (rc == 0) printf("  built %lld batches with the builders in %.1f ms\n", (long long)nb, (t1 - t0) * 1e3);

  static const struct {
    const char *name;
    oa_ipc_format fmt;
    oa_compression c;
  } kOut[] = {{"spans.arrow", OA_IPC_FILE, OA_COMPRESSION_ZSTD},
              {"spans.arrows", OA_IPC_STREAM, OA_COMPRESSION_LZ4_FRAME},
              {"spans-raw.arrow", OA_IPC_FILE, OA_COMPRESSION_NONE}};
  for (size_t k = 0; rc == 0 && k < sizeof kOut / sizeof kOut[0]; k++) {
    snprintf(path, sizeof path, "%s/%s", dir, kOut[k].name);
    int64_t bytes = 0;
    double w0 = now_seconds();
    rc = write_file(path, kOut[k].fmt, kOut[k].c, schema, batches, nb, &bytes, &err);
    double w1 = now_seconds();
    if (rc == 0) rc = read_back(path, batches, nb, &err);
    double w2 = now_seconds();
    if (rc == 0)
      printf("  %-40s %-6s %-4s %10lld bytes (%5.1f B/row)  write %6.1f ms  read+check %6.1f ms\n",
             path, kOut[k].fmt == OA_IPC_FILE ? "file" : "stream", oa_compression_name(kOut[k].c),
             (long long)bytes, rows ? (double)bytes / (double)rows : 0.0, (w1 - w0) * 1e3,
             (w2 - w1) * 1e3);
  }
  for (int64_t c = 0; c < ncols; c++) oa_builder_reset(&cols[c]);
  for (int64_t b = 0; b < nb && batches; b++) oa_batch_reset(&batches[b]);
  free(cols);
  free(batches);
  oa_schema_release(schema);
  if (rc) return oa_cli_fail("%s", err.message);
  printf("  all files read back equal to what was written\n\n");
  snprintf(path, sizeof path, "%s/spans.arrow", dir);
  char *args[] = {"inspect", path, "--batches", "1", "--rows", "10", NULL};
  return oa_cli_inspect(6, args);
}
