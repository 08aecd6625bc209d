/* IPC write/read benchmark on a span-shaped batch (see docs/benchmarks.md).
 *
 * Builds one batch of N rows (default 1M) shaped like OTLP spans with the
 * builders, then for each body compression (none, lz4, zstd) measures:
 * - write: oa_ipc_writer (stream) into a pre-reserved oa_bytes;
 * - memcpy of the same number of bytes (the baseline a copy-free writer
 *   should approach) and the write/memcpy time ratio;
 * - stream read: oa_ipc_stream_reader over the bytes (push_buffer, no copy);
 * - file read: oa_ipc_file_reader over an mmap'ed temp file, time per batch
 *   for the big batch and for a 10K-row batch, with and without validation
 *   (without validation an uncompressed read is zero-copy: its cost does not
 *   depend on the body size).
 * Each figure is the median of R repeats (default 5).
 *
 * Usage: bench_ipc [ROWS] [REPEATS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "otlparrow/builder.h"
#include "otlparrow/ipc.h"

#define BENCH_NAME "bench_ipc"
#include "bench_util.h"

static oa_error err;

static void add_field(oa_schema *s, const char *name, oa_type_id id,
                      bool nullable) {
  oa_field f;
  CHECK(oa_field_init(&f, name, id, &err));
  f.nullable = nullable;
  CHECK(oa_schema_add_field(s, &f, &err));
}

static oa_schema *span_schema(void) {
  oa_schema *s;
  CHECK(oa_schema_new(&s, &err));
  add_field(s, "trace_id", OA_TYPE_FIXED_SIZE_BINARY, false);
  s->fields[0].type.byte_width = 16;
  add_field(s, "span_id", OA_TYPE_FIXED_SIZE_BINARY, false);
  s->fields[1].type.byte_width = 8;
  add_field(s, "parent_span_id", OA_TYPE_FIXED_SIZE_BINARY, true);
  s->fields[2].type.byte_width = 8;
  add_field(s, "name", OA_TYPE_STRING, false);
  oa_field_set_dictionary(&s->fields[3], OA_TYPE_UINT16, 0, false);
  add_field(s, "service_name", OA_TYPE_STRING, false);
  oa_field_set_dictionary(&s->fields[4], OA_TYPE_UINT8, 1, false);
  add_field(s, "kind", OA_TYPE_INT32, false);
  add_field(s, "start_time", OA_TYPE_TIMESTAMP, false);
  add_field(s, "end_time", OA_TYPE_TIMESTAMP, false);
  for (int i = 6; i <= 7; i++) {
    s->fields[i].type.unit = OA_TIME_UNIT_NANO;
    CHECK(oa_field_set_timezone(&s->fields[i], "UTC", &err));
  }
  add_field(s, "duration", OA_TYPE_INT64, false);
  add_field(s, "status_code", OA_TYPE_INT32, false);

  /* attributes: map<utf8, utf8> (entries struct<key not null, value>) */
  oa_field map, entries, key, value;
  CHECK(oa_field_init(&map, "attributes", OA_TYPE_MAP, &err));
  map.nullable = true;
  CHECK(oa_field_init(&entries, "entries", OA_TYPE_STRUCT, &err));
  entries.nullable = false;
  CHECK(oa_field_init(&key, "key", OA_TYPE_STRING, &err));
  key.nullable = false;
  CHECK(oa_field_init(&value, "value", OA_TYPE_STRING, &err));
  value.nullable = true;
  CHECK(oa_field_add_child(&entries, &key, &err));
  CHECK(oa_field_add_child(&entries, &value, &err));
  CHECK(oa_field_add_child(&map, &entries, &err));
  CHECK(oa_schema_add_field(s, &map, &err));
  return s;
}

static const char *const kServices[] = {"frontend", "checkout",      "cart",
                                        "payment",  "shipping",      "email",
                                        "ads",      "recommendation"};
static const char *const kAttrKeys[] = {"http.method", "http.status_code",
                                        "net.peer.name", "component",
                                        "db.system"};
static const char *const kMethods[] = {"GET", "POST", "PUT", "DELETE"};

static void build_batch(oa_schema *s, int64_t n, oa_batch *out) {
  enum { NCOL = 11 };
  oa_builder b[NCOL];
  for (int c = 0; c < NCOL; c++)
    CHECK(oa_builder_init(&b[c], &s->fields[c], 0, &err));
  for (int c = 0; c < NCOL; c++)
    CHECK(oa_builder_reserve(&b[c], n));
  uint64_t seed = 0x9E3779B97F4A7C15ULL;
  uint8_t trace[16] = {0}, span[8] = {0}, parent[8] = {0};
  char name[64], text[64];
  const int64_t t0 = 1700000000000000000LL;
  oa_builder *entries = &b[10].children[0];
  for (int64_t i = 0; i < n; i++) {
    /* spans come in traces of 8: same trace id, parent = previous span */
    if (i % 8 == 0) {
      uint64_t a = bench_rng_next(&seed), c = bench_rng_next(&seed);
      memcpy(trace, &a, 8);
      memcpy(trace + 8, &c, 8);
    }
    memcpy(parent, span, 8);
    uint64_t sid = bench_rng_next(&seed);
    memcpy(span, &sid, 8);
    CHECK(oa_builder_append_fsb_fast(&b[0], trace));
    CHECK(oa_builder_append_fsb_fast(&b[1], span));
    CHECK(i % 8 == 0 ? oa_builder_append_null(&b[2])
                     : oa_builder_append_fsb_fast(&b[2], parent));
    int nl = snprintf(name, sizeof name, "%s /api/v1/resource/%d",
                      kMethods[i % 4], (int)(sid % 75));
    CHECK(oa_builder_append_bytes(&b[3], name, nl));
    CHECK(oa_builder_append_cstr(&b[4], kServices[(i / 8) % 8]));
    CHECK(oa_builder_append_i32_fast(&b[5], (int32_t)(1 + sid % 5)));
    int64_t start = t0 + i * 1000 + (int64_t)(sid % 1000);
    int64_t dur = 1000 + (int64_t)(sid % 5000000);
    CHECK(oa_builder_append_i64_fast(&b[6], start));
    CHECK(oa_builder_append_i64_fast(&b[7], start + dur));
    CHECK(oa_builder_append_i64_fast(&b[8], dur));
    CHECK(oa_builder_append_i32_fast(&b[9], (sid % 50) == 0 ? 2 : 0));
    for (int k = 0; k < 5; k++) {
      CHECK(oa_builder_append_cstr(&entries->children[0], kAttrKeys[k]));
      int tl;
      switch (k) {
      case 0:
        tl = snprintf(text, sizeof text, "%s", kMethods[i % 4]);
        break;
      case 1:
        tl = snprintf(text, sizeof text, "%d", (sid % 50) ? 200 : 500);
        break;
      case 2:
        tl = snprintf(text, sizeof text, "host-%d.internal", (int)(sid % 64));
        break;
      case 3:
        tl = snprintf(text, sizeof text, "%s", "http");
        break;
      default:
        tl =
            snprintf(text, sizeof text, "%s", (i % 3) ? "postgresql" : "redis");
        break;
      }
      CHECK(oa_builder_append_bytes(&entries->children[1], text, tl));
      CHECK(oa_builder_append_valid(entries));
    }
    CHECK(oa_builder_append_valid(&b[10]));
  }
  oa_array cols[NCOL];
  for (int c = 0; c < NCOL; c++) {
    oa_array_init(&cols[c]);
    CHECK(oa_builder_finish(&b[c], &cols[c], &err));
    oa_builder_reset(&b[c]);
  }
  oa_batch_init(out);
  CHECK(oa_batch_set(out, s, n, cols, &err));
  CHECK(oa_batch_validate(out, true, &err));
}

/* One IPC stream or file holding `batch`, written into out (reserved). */
static double write_ipc(oa_ipc_format fmt, const oa_batch *batch,
                        const oa_ipc_write_options *opt, oa_bytes *out) {
  out->size = 0;
  double t = bench_wall_s();
  oa_ipc_writer *w;
  CHECK(
      oa_ipc_writer_new(&w, fmt, batch->schema, opt, oa_sink_bytes(out), &err));
  CHECK(oa_ipc_writer_write(w, batch, &err));
  CHECK(oa_ipc_writer_finish(w, &err));
  oa_ipc_writer_free(w);
  return bench_wall_s() - t;
}

static double read_stream(const oa_buffer *buf, const oa_ipc_read_options *ro,
                          int64_t expect_rows) {
  double t = bench_wall_s();
  oa_ipc_stream_reader *r;
  CHECK(oa_ipc_stream_reader_new(&r, ro, &err));
  CHECK(oa_ipc_stream_reader_push_buffer(r, buf, &err));
  int64_t rows = 0;
  for (;;) {
    oa_batch b;
    oa_batch_init(&b);
    bool got = false;
    CHECK(oa_ipc_stream_reader_next(r, &b, &got, &err));
    if (!got) break;
    rows += b.length;
    oa_batch_reset(&b);
  }
  CHECK(oa_ipc_stream_reader_close(r, &err));
  oa_ipc_stream_reader_free(r);
  double dt = bench_wall_s() - t;
  if (rows != expect_rows) {
    fprintf(stderr, "bench_ipc: stream read %lld rows, expected %lld\n",
            (long long)rows, (long long)expect_rows);
    exit(1);
  }
  return dt;
}

/* Median time of reading batch 0 of an mmap'ed file (reader opened once). */
static double file_batch_time(const char *path, const oa_ipc_read_options *ro,
                              int repeats, int64_t expect_rows) {
  oa_ipc_file_reader *r;
  CHECK(oa_ipc_file_reader_open(&r, path, ro, &err));
  double *t = calloc((size_t)repeats, sizeof *t);
  for (int k = 0; k < repeats; k++) {
    oa_batch b;
    oa_batch_init(&b);
    double t0 = bench_wall_s();
    CHECK(oa_ipc_file_reader_read(r, 0, &b, &err));
    t[k] = bench_wall_s() - t0;
    if (b.length != expect_rows) {
      fprintf(stderr, "bench_ipc: file batch has %lld rows\n",
              (long long)b.length);
      exit(1);
    }
    oa_batch_reset(&b);
  }
  oa_ipc_file_reader_free(r);
  double m = bench_median(t, repeats);
  free(t);
  return m;
}

static void write_file(const char *path, const oa_bytes *bytes) {
  FILE *f = fopen(path, "wb");
  if (!f ||
      fwrite(bytes->data, 1, (size_t)bytes->size, f) != (size_t)bytes->size ||
      fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

int main(int argc, char **argv) {
  int64_t rows = argc > 1 ? atoll(argv[1]) : 1000000;
  int repeats = argc > 2 ? atoi(argv[2]) : 5;
  const int64_t small_rows = 10000;
  if (rows < 1 || repeats < 1) {
    fprintf(stderr, "usage: bench_ipc [ROWS] [REPEATS]\n");
    return 2;
  }
  oa_schema *schema = span_schema();
  oa_batch big, small;
  double tb = bench_wall_s();
  build_batch(schema, rows, &big);
  tb = bench_wall_s() - tb;
  build_batch(schema, small_rows, &small);
  printf("span batch: %lld rows, 11 columns (built in %.3f s); %d repeats, "
         "medians\n\n",
         (long long)rows, tb, repeats);

  const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  char path_big[512], path_small[512];
  snprintf(path_big, sizeof path_big, "%s/oa_bench_%d_big.arrow", tmpdir,
           (int)getpid());
  snprintf(path_small, sizeof path_small, "%s/oa_bench_%d_small.arrow", tmpdir,
           (int)getpid());

  oa_ipc_read_options ro_valid, ro_fast;
  oa_ipc_read_options_init(&ro_valid);
  oa_ipc_read_options_init(&ro_fast);
  ro_fast.validate = false;
  ro_fast.check_utf8 = false;

  printf(
      "| codec | IPC bytes | bytes/row | write GB/s | write GB/s of "
      "uncompressed IPC "
      "| memcpy GB/s | write/memcpy time "
      "| stream read GB/s | stream read GB/s (no validation) "
      "| file batch %lldK rows | file batch 10K rows "
      "| file batch %lldK (no validation) | file batch 10K (no validation) |\n",
      (long long)(rows / 1000), (long long)(rows / 1000));
  printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  int64_t n_none = 0; /* IPC size without compression (first codec) */

  const oa_compression codecs[] = {
      OA_COMPRESSION_NONE, OA_COMPRESSION_LZ4_FRAME, OA_COMPRESSION_ZSTD};
  double *tw = calloc((size_t)repeats, sizeof(double));
  double *tm = calloc((size_t)repeats, sizeof(double));
  double *tr = calloc((size_t)repeats, sizeof(double));
  double *tr2 = calloc((size_t)repeats, sizeof(double));
  for (size_t ci = 0; ci < sizeof codecs / sizeof codecs[0]; ci++) {
    oa_ipc_write_options wo;
    oa_ipc_write_options_init(&wo);
    wo.compression = codecs[ci];
    oa_bytes out;
    oa_bytes_init(&out);
    /* size once, then reserve so that the timed writes never grow */
    write_ipc(OA_IPC_STREAM, &big, &wo, &out);
    CHECK(oa_bytes_reserve(&out, out.size + 4096));
    memset(out.data, 0, (size_t)out.capacity); /* fault the pages in */
    for (int k = 0; k < repeats; k++)
      tw[k] = write_ipc(OA_IPC_STREAM, &big, &wo, &out);
    const int64_t n = out.size;
    if (codecs[ci] == OA_COMPRESSION_NONE) n_none = n;

    uint8_t *dst = malloc((size_t)n);
    memset(dst, 1, (size_t)n);
    for (int k = 0; k < repeats; k++) {
      double t = bench_wall_s();
      memcpy(dst, out.data, (size_t)n);
      tm[k] = bench_wall_s() - t;
      if (dst[n / 2] != out.data[n / 2]) abort();
    }
    free(dst);

    /* stream read straight from the written bytes (region keeps a copy) */
    oa_region *region = oa_region_alloc(n);
    if (!region) abort();
    memcpy(region->data, out.data, (size_t)n);
    oa_buffer buf = {region->data, n, region};
    for (int k = 0; k < repeats; k++)
      tr[k] = read_stream(&buf, &ro_valid, rows);
    for (int k = 0; k < repeats; k++)
      tr2[k] = read_stream(&buf, &ro_fast, rows);
    oa_region_release(region);

    /* file format, mmap'ed */
    write_ipc(OA_IPC_FILE, &big, &wo, &out);
    write_file(path_big, &out);
    write_ipc(OA_IPC_FILE, &small, &wo, &out);
    write_file(path_small, &out);
    double fb = file_batch_time(path_big, &ro_valid, repeats, rows);
    double fs = file_batch_time(path_small, &ro_valid, repeats, small_rows);
    double fb2 = file_batch_time(path_big, &ro_fast, repeats, rows);
    double fs2 = file_batch_time(path_small, &ro_fast, repeats, small_rows);
    unlink(path_big);
    unlink(path_small);

    double mw = bench_median(tw, repeats), mm = bench_median(tm, repeats);
    double mr = bench_median(tr, repeats), mr2 = bench_median(tr2, repeats);
    printf("| %s | %.1f MB | %.1f | %.2f | %.2f | %.2f | %.1fx | %.2f | %.2f | "
           "%.3f ms "
           "| %.3f ms | %.1f us | %.1f us |\n",
           oa_compression_name(codecs[ci]), (double)n / 1e6,
           (double)n / (double)rows, (double)n / mw / 1e9,
           (double)n_none / mw / 1e9, (double)n / mm / 1e9, mw / mm,
           (double)n / mr / 1e9, (double)n / mr2 / 1e9, fb * 1e3, fs * 1e3,
           fb2 * 1e6, fs2 * 1e6);
    fflush(stdout);
    oa_bytes_reset(&out);
  }
  free(tw);
  free(tm);
  free(tr);
  free(tr2);
  oa_batch_reset(&big);
  oa_batch_reset(&small);
  oa_schema_release(schema);
  return 0;
}
