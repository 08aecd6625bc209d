/* The durable store (src/store): ingest and trace lookup.
 *
 * Spans come from the trace generator (OTLP protobuf decoded into span
 * batches of 1000 spans); copies get fresh trace ids (bytes 12..15 xored
 * with a copy number) so that every trace id in the store is distinct per
 * copy.
 * - ingest: oa_datasets_append of INGEST spans (default 1M) into a fresh
 *   store with --fsync batch and with never (the background thread writing
 *   zstd segments meanwhile), then the final flush; side by side, the
 *   baseline: write() of the same IPC bytes (the log records' payload) to
 *   a file, without and with fdatasync per batch.
 * - lookup: a store of N spans (default 5M, first argument), then for 50
 *   trace ids taken from the data: oa_datasets_snapshot_filtered (bloom and
 *   time pruning) plus a scan of the trace_id column, against a full
 *   snapshot plus the same scan (up to 5M spans: a full snapshot holds
 *   every segment decoded in memory).
 *
 * - CPU per span of each side (thread and process CPU time, which the
 *   other processes of a shared machine do not inflate): appends with no
 *   flush thread, then one flush, at zstd levels 1, -1 and 3.
 * Ingest runs bound the unflushed data at 1 GiB (appends wait on EAGAIN)
 * and report its high-water and the CPU of all threads per span.
 *
 * Usage: bench_store [N] [INGEST] [DIR] (DIR: where the stores go, default
 * a temp dir under /tmp, removed at the end; a given DIR is kept).
 * Environment: BENCH_STORE_LOOKUP_ONLY=1 skips the ingest sections,
 * BENCH_STORE_CPU_ONLY=1 runs only the CPU section, BENCH_STORE_REUSE=1
 * looks up in DIR/ingest as an earlier run with the same N left it. */
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "otlparrow/dataset.h"
#include "otlparrow/ipc.h"
#include "otlparrow/otlp.h"

#define BENCH_NAME "bench_store"
#include "bench_util.h"

static oa_error err;

typedef struct spans {
  oa_batch *b;
  int64_t n, rows;
} spans;

static void generate(spans *s, int64_t total) {
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = total;
  oa_trace_gen g;
  CHECK(oa_trace_gen_init(&g, &go, &err));
  oa_bytes req;
  oa_bytes_init(&req);
  s->b = NULL;
  s->n = s->rows = 0;
  int64_t cap = 0;
  for (;;) {
    int64_t ns;
    CHECK(oa_trace_gen_next_request(&g, 1000, &req, &ns, &err));
    if (ns == 0) break;
    if (s->n == cap) {
      cap = cap ? cap * 2 : 256;
      s->b = realloc(s->b, (size_t)cap * sizeof *s->b);
    }
    oa_batch_init(&s->b[s->n]);
    CHECK(oa_otlp_decode_traces(req.data, req.size, NULL, &s->b[s->n], NULL,
                                &err));
    s->rows += s->b[s->n].length;
    s->n++;
  }
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
}

/* A copy of b whose trace ids have bytes 12..15 xored with copy. */
static void with_copy_ids(oa_batch *out, const oa_batch *b, uint32_t copy) {
  CHECK(oa_batch_copy(out, b, &err));
  if (!copy) return;
  oa_array *a = &out->columns[OA_SPAN_TRACE_ID];
  int64_t n = a->offset + a->length;
  oa_region *r = oa_region_alloc(n * 16);
  memcpy(r->data, a->buffers[1].data, (size_t)(n * 16));
  for (int64_t i = a->offset; i < n; i++)
    for (int k = 0; k < 4; k++)
      r->data[i * 16 + 12 + k] ^= (uint8_t)(copy >> (8 * k));
  oa_region_release(a->buffers[1].region);
  a->buffers[1] = (oa_buffer){r->data, n * 16, r};
}

static void rmrf(const char *dir) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "bench_store: cannot remove %s\n", dir);
}

/* Unflushed bytes (memtable) high-water of the last ingest, and the CPU
 * seconds all threads spent in it (appends, log, flush thread and its
 * helper; the copies' new trace ids excluded). */
static int64_t high_water;
static double ingest_cpu;
/* flushes, compactions and segments at the end of the last ingest */
static oa_store_stats ingest_st;

/* Appends `rows` spans (copies of base) and returns the seconds until the
 * last append returned; *flush_s: until everything was in segments. */
static double ingest(const char *dir, oa_fsync_policy policy, const spans *base,
                     int64_t rows, double *flush_s) {
  rmrf(dir);
  oa_store_options o;
  oa_store_options_init(&o);
  o.fsync = policy;
  oa_datasets *d;
  /* bounded as a server would be: appends wait when the flush lags */
  CHECK(oa_datasets_open(&d, dir, &o, (int64_t)1 << 30, &err));
  double t0 = bench_wall_s(), c0 = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
  double copy_cpu = 0;
  int64_t done = 0;
  high_water = 0;
  for (uint32_t copy = 0; done < rows; copy++)
    for (int64_t i = 0; i < base->n && done < rows; i++) {
      oa_batch c;
      double cc = bench_cpu_s();
      with_copy_ids(&c, &base->b[i], copy);
      copy_cpu += bench_cpu_s() - cc;
      int rc;
      while ((rc = oa_datasets_append(d, "spans", &c, &err)) == EAGAIN)
        usleep(1000); /* memory limit: wait for the flush */
      CHECK(rc);
      done += c.length;
      oa_batch_reset(&c);
      oa_store_stats st;
      oa_datasets_store_stats(d, &st);
      if (st.unflushed_bytes > high_water) high_water = st.unflushed_bytes;
    }
  double t1 = bench_wall_s();
  CHECK(oa_datasets_flush(d, &err));
  *flush_s = bench_wall_s() - t0;
  oa_datasets_store_stats(d, &ingest_st);
  oa_datasets_free(d);
  ingest_cpu = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0 - copy_cpu;
  return t1 - t0;
}

/* CPU cost per span of each side on one core: appends (the log) with no
 * flush thread, then one oa_datasets_flush of everything (segments). Thread
 * CPU time, so other processes on the machine do not count. */
static void cpu_cost(const char *dir, const spans *base, int64_t rows,
                     int level) {
  rmrf(dir);
  oa_store_options o;
  oa_store_options_init(&o);
  o.fsync = OA_FSYNC_NEVER;
  o.background = false;
  if (level) o.compression_level = level;
  oa_datasets *d;
  CHECK(oa_datasets_open(&d, dir, &o, 0, &err));
  oa_batch *c = calloc((size_t)base->n, sizeof *c);
  int64_t done = 0;
  double app = 0;
  for (uint32_t copy = 0; done < rows; copy++)
    for (int64_t i = 0; i < base->n && done < rows; i++) {
      with_copy_ids(&c[i], &base->b[i], copy);
      double t0 = bench_cpu_s();
      CHECK(oa_datasets_append(d, "spans", &c[i], &err));
      app += bench_cpu_s() - t0;
      done += c[i].length;
      oa_batch_reset(&c[i]);
    }
  free(c);
  /* process CPU: the flush may use a helper thread (nothing else runs) */
  double t0 = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = bench_wall_s();
  CHECK(oa_datasets_flush(d, &err));
  double fl = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0,
         flw = bench_wall_s() - w0;
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  printf("zstd level %3d: append %.2f us/span CPU; flush %.2f us/span CPU "
         "(%.2f wall, fsync included); %.1f bytes/span on disk\n",
         o.compression_level, app / rows * 1e6, fl / rows * 1e6,
         flw / rows * 1e6, (double)st.segment_bytes / (double)rows);
  oa_datasets_free(d);
}

/* write() of each batch's IPC stream bytes (encoded beforehand). */
static double raw_write(const char *dir, const spans *base, int64_t rows,
                        bool sync) {
  oa_bytes *enc = calloc((size_t)base->n, sizeof *enc);
  for (int64_t i = 0; i < base->n; i++) {
    oa_bytes_init(&enc[i]);
    oa_ipc_writer *w;
    CHECK(oa_ipc_writer_new(&w, OA_IPC_STREAM, base->b[i].schema, NULL,
                            oa_sink_bytes(&enc[i]), &err));
    CHECK(oa_ipc_writer_write(w, &base->b[i], &err));
    CHECK(oa_ipc_writer_finish(w, &err));
    oa_ipc_writer_free(w);
  }
  char path[700];
  snprintf(path, sizeof path, "%s.raw", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) exit(1);
  double t0 = bench_wall_s();
  int64_t done = 0;
  while (done < rows)
    for (int64_t i = 0; i < base->n && done < rows; i++) {
      if (write(fd, enc[i].data, (size_t)enc[i].size) != enc[i].size) exit(1);
      if (sync) fdatasync(fd);
      done += base->b[i].length;
    }
  double t = bench_wall_s() - t0;
  close(fd);
  unlink(path);
  for (int64_t i = 0; i < base->n; i++)
    oa_bytes_reset(&enc[i]);
  free(enc);
  return t;
}

static int64_t scan(const oa_batch *bs, int64_t n, const uint8_t *id) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++) {
    const oa_array *a = &bs[i].columns[OA_SPAN_TRACE_ID];
    const uint8_t *p = a->buffers[1].data + a->offset * 16;
    for (int64_t r = 0; r < a->length; r++)
      m += memcmp(p + r * 16, id, 16) == 0;
  }
  return m;
}

int main(int argc, char **argv) {
#ifdef __GLIBC__
  /* as `otlparrow serve` does (src/cli/serve.c tune_malloc): large buffers
   * from the heap, not fresh zeroed pages each time */
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
#endif
  setvbuf(stdout, NULL, _IOLBF, 0); /* progress when redirected */
  int64_t n = argc > 1 ? atoll(argv[1]) : 5000000;
  int64_t n_ingest = argc > 2 ? atoll(argv[2]) : 1000000;
  char base_dir[512];
  if (argc > 3) {
    snprintf(base_dir, sizeof base_dir, "%s", argv[3]);
    (void)mkdir(base_dir, 0755);
  } else {
    strcpy(base_dir, "/tmp/oa_bench_store_XXXXXX");
    if (!mkdtemp(base_dir)) return 1;
  }
  spans base;
  generate(&base, 200000);
  printf("bench_store: %lld base spans in %lld batches (copies get new "
         "trace ids)\n",
         (long long)base.rows, (long long)base.n);
  char dir[600];
  snprintf(dir, sizeof dir, "%s/ingest", base_dir);

  if (n_ingest)
    printf("\n== CPU per span, one core each side (%lld spans)\n",
           (long long)(n_ingest < 500000 ? n_ingest : 500000));
  const int levels[] = {1, -1, 3};
  for (int i = 0; n_ingest && i < (int)(sizeof levels / sizeof *levels); i++)
    cpu_cost(dir, &base, n_ingest < 500000 ? n_ingest : 500000, levels[i]);
  if (getenv("BENCH_STORE_CPU_ONLY")) return 0;

  if (getenv("BENCH_STORE_LOOKUP_ONLY")) n_ingest = 0;
  if (n_ingest)
    printf("\n== ingest of %lld spans (batches of ~1000)\n",
           (long long)n_ingest);
  const struct {
    const char *name;
    oa_fsync_policy p;
  } pol[] = {{"fsync batch", OA_FSYNC_BATCH}, {"fsync never", OA_FSYNC_NEVER}};
  for (int i = 0; n_ingest && i < 2; i++) {
    double fl;
    double t = ingest(dir, pol[i].p, &base, n_ingest, &fl);
    printf("store, %-12s %8.3f s  %6.2f M spans/s acknowledged;  %6.2f M "
           "spans/s into segments; unflushed high-water %.0f MB; CPU %.2f "
           "us/span, all threads (2 idle cores: %.2f M spans/s)\n",
           pol[i].name, t, n_ingest / t / 1e6, n_ingest / fl / 1e6,
           high_water / 1e6, ingest_cpu / n_ingest * 1e6,
           2.0 / (ingest_cpu / n_ingest * 1e6));
    printf("  %lld flushes, %lld compactions, %lld segments of %.0f rows "
           "on average\n",
           (long long)ingest_st.flushes, (long long)ingest_st.compactions,
           (long long)ingest_st.segments,
           ingest_st.segments
               ? (double)ingest_st.segment_rows / (double)ingest_st.segments
               : 0.0);
  }
  for (int sync = 0; n_ingest && sync < 2; sync++) {
    double t = raw_write(dir, &base, n_ingest, sync);
    printf("raw write()%-13s %8.3f s  %6.2f M spans/s (baseline: the same "
           "IPC bytes)\n",
           sync ? " + fdatasync" : "", t, n_ingest / t / 1e6);
  }

  printf("\n== trace lookup in a store of %lld spans\n", (long long)n);
  /* BENCH_STORE_REUSE=1: look up in the store DIR/ingest left by an earlier
   * run with the same N (the load of 50M spans takes minutes) */
  if (!(getenv("BENCH_STORE_REUSE") && argc > 3)) {
    double fl;
    double t = ingest(dir, OA_FSYNC_NEVER, &base, n, &fl);
    printf("loaded in %.1f s (%.2f M spans/s acknowledged, %.2f M spans/s "
           "into segments; unflushed high-water %.0f MB)\n",
           fl, n / t / 1e6, n / fl / 1e6, high_water / 1e6);
  }
  oa_store_options o;
  oa_store_options_init(&o);
  o.read_only = true;
  oa_datasets *d;
  double to = bench_wall_s();
  CHECK(oa_datasets_open(&d, dir, &o, 0, &err));
  to = bench_wall_s() - to;
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  printf("%lld segments, %.1f MB on disk (%.1f bytes/span); read-only open "
         "%.1f ms\n",
         (long long)st.segments, st.segment_bytes / 1e6,
         (double)st.segment_bytes / (double)n, to * 1e3);
  enum { Q = 200 };
  double lat[Q];
  uint64_t rng = 12345;
  int64_t copies = (n + base.rows - 1) / base.rows;
  int64_t opened0 = st.segments_opened, found = 0;
  /* a store smaller than the base holds only the base's first batches */
  int64_t usable = base.n;
  if (n < base.rows) {
    int64_t rows = 0;
    usable = 0;
    while (usable < base.n && rows + base.b[usable].length <= n)
      rows += base.b[usable++].length;
    if (usable == 0) usable = 1;
  }
  for (int q = 0; q < Q; q++) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    const oa_batch *b = &base.b[rng % (uint64_t)usable];
    const oa_array *a = &b->columns[OA_SPAN_TRACE_ID];
    uint8_t id[16];
    memcpy(id,
           a->buffers[1].data +
               (a->offset + (int64_t)(rng % 997) % a->length) * 16,
           16);
    uint32_t copy = (uint32_t)((rng >> 20) % (uint64_t)copies);
    /* a copy that is wholly in the store */
    if ((int64_t)(copy + 1) * base.rows > n && copy > 0) copy--;
    for (int k = 0; k < 4; k++)
      id[12 + k] ^= (uint8_t)(copy >> (8 * k));
    double t0 = bench_wall_s();
    oa_schema *s;
    oa_batch *bs;
    int64_t nb;
    CHECK(oa_datasets_snapshot_filtered(d, "spans", id, 1, INT64_MIN, INT64_MAX,
                                        &s, &bs, &nb, &err));
    found += scan(bs, nb, id) > 0;
    oa_datasets_snapshot_free(s, bs, nb);
    lat[q] = bench_wall_s() - t0;
  }
  oa_datasets_store_stats(d, &st);
  double med = bench_median(lat, Q);
  printf("lookup by trace id: median %.1f ms, p99 %.1f ms, max %.1f ms, "
         "%.2f segments opened per lookup (of %lld), %lld/%d found\n",
         med * 1e3, lat[Q * 99 / 100 - 1] * 1e3, lat[Q - 1] * 1e3,
         (double)(st.segments_opened - opened0) / Q, (long long)st.segments,
         (long long)found, Q);
  /* a full snapshot holds every decoded segment in memory: about 400 bytes
   * a span, too much past a few million spans */
  double full[3];
  for (int r = 0; n <= 5000000 && r < 3; r++) {
    double t0 = bench_wall_s();
    oa_schema *s;
    oa_batch *bs;
    int64_t nb;
    CHECK(oa_datasets_snapshot(d, "spans", &s, &bs, &nb, &err));
    uint8_t id[16] = {0};
    (void)scan(bs, nb, id);
    oa_datasets_snapshot_free(s, bs, nb);
    full[r] = bench_wall_s() - t0;
  }
  if (n <= 5000000)
    printf("full scan (every segment decoded + the same filter): median %.1f "
           "ms (%.1fx the lookup)\n",
           bench_median(full, 3) * 1e3, bench_median(full, 3) / med);
  oa_datasets_free(d);
  if (argc <= 3) rmrf(base_dir);
  for (int64_t i = 0; i < base.n; i++)
    oa_batch_reset(&base.b[i]);
  free(base.b);
  return 0;
}
