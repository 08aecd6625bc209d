/* otlparrow bench: the OTLP-protobuf-vs-Arrow table, both sides measured in
 * one run on the same spans (issue 7). See `otlparrow bench --help`. */
#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <json-c/json.h>
#include <lz4.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "cli/bench.h"
#include "cli/cli.h"
#include "exporter/exporter_internal.h"
#include "otlparrow/query.h"

static const char kUsage[] =
    "usage: otlparrow bench [--spans N,N,...] [--input FILE] [--repeats N]\n"
    "                       [--out DIR] [--quick] [--no-flight] "
    "[--no-analytics]\n"
    "\n"
    "Measures OTLP protobuf (protobuf-c, the baseline) against Arrow "
    "(otlparrow)\n"
    "on the same spans in one run, and prints the table the field publishes.\n"
    "\n"
    "  --spans LIST      span counts of generated data (default "
    "10000,100000,1000000)\n"
    "  --input FILE      also (or, with --spans 0, only) the spans of an OTLP\n"
    "                    protobuf file (one request or gRPC-framed requests)\n"
    "  --batch-spans N   spans per OTLP request / Arrow batch (default 10000)\n"
    "  --repeats N       repeats per measurement (default 3); rows print the\n"
    "                    median and min-max\n"
    "  --seconds S       seconds per transport run (default 3)\n"
    "  --out DIR         where bench.json, bench.md and bench.svg go (default\n"
    "                    ./bench-out)\n"
    "  --quick           10K spans, 1 repeat, 1 s transport runs: seconds in "
    "total\n"
    "  --no-flight       skip the loopback transport rows\n"
    "  --no-analytics    skip the query engine rows\n"
    "\n"
    "Serialize/deserialize times are CPU time of the measuring thread "
    "(other\n"
    "processes on the machine do not count; wall-clock samples are in the "
    "JSON);\n"
    "analytics and transport rows are wall-clock. ratio = protobuf / arrow "
    "of\n"
    "the medians. The loopback rows start `otlparrow serve` and run "
    "`otlparrow\n"
    "loadgen` (this binary).\n";

#define MAX_REP 64
#define MAX_SIZES 8
#define MAX_ROWS 256 /* 15 per size and input, 11 more: ample */

typedef struct row {
  char id[64];
  char scenario[128];
  char unit[24];
  bool higher_better;
  int64_t spans;
  double pb[MAX_REP], ar[MAX_REP];
  double pb_wall[MAX_REP], ar_wall[MAX_REP];
  int n_pb, n_ar;
  char published[128];
  char note[200];
} row;

typedef struct bench {
  int64_t sizes[MAX_SIZES];
  int n_sizes;
  const char *input;
  int64_t batch_spans;
  int repeats;
  double seconds;
  const char *out_dir;
  bool quick, no_flight, no_analytics;
  bool progress;
  char exe[4096];
  row *rows;
  int n_rows, cap_rows;
  json_object *extra; /* raw figures that are not rows */
  oa_error err;
} bench;

static void progress(bench *b, const char *fmt, ...) OA_PRINTF(2, 3);
static void progress(bench *b, const char *fmt, ...) {
  if (!b->progress) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("\r\033[K[bench] ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fflush(stderr);
}

/* Rows live in one array allocated once: the pointers add_row hands out
 * stay valid while later rows are added. NULL when full (not recorded). */
static row *add_row(bench *b, const char *id, int64_t spans,
                    const char *scenario, const char *unit,
                    bool higher_better) {
  if (b->n_rows == b->cap_rows) return NULL;
  row *r = &b->rows[b->n_rows++];
  memset(r, 0, sizeof *r);
  /* labels are ours and short; a longer one is cut, not an error */
  if (snprintf(r->id, sizeof r->id, "%s", id) >= (int)sizeof r->id ||
      snprintf(r->scenario, sizeof r->scenario, "%s", scenario) >=
          (int)sizeof r->scenario ||
      snprintf(r->unit, sizeof r->unit, "%s", unit) >= (int)sizeof r->unit)
    r->id[sizeof r->id - 1] = 0;
  r->spans = spans;
  r->higher_better = higher_better;
  return r;
}

static void add_pb(row *r, double v, double wall) {
  if (r && r->n_pb < MAX_REP) {
    r->pb_wall[r->n_pb] = wall;
    r->pb[r->n_pb++] = v;
  }
}
static void add_ar(row *r, double v, double wall) {
  if (r && r->n_ar < MAX_REP) {
    r->ar_wall[r->n_ar] = wall;
    r->ar[r->n_ar++] = v;
  }
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double median_of(const double *v, int n) {
  double m, lo, hi;
  oa_bench_stats(v, n, &m, &lo, &hi);
  return m;
}

/* ------------------------------------------------------------ the spans */

/* One size of the run: the records and every form derived from them. */
typedef struct dataset {
  const char *label; /* "gen" or the input file name */
  int64_t spans;
  int64_t traces; /* distinct traces (generated data), 0 if unknown */
  oa_bench_records rec;
  int64_t n_chunks;
  int64_t *chunk_from, *chunk_n;
  oa_bytes pb;         /* every request, one after another */
  int64_t *pb_off;     /* request k is pb[pb_off[k], pb_off[k + 1]) */
  oa_bytes ipc;        /* Arrow IPC stream of every batch */
  int64_t arrow_bytes; /* bytes of the decoded batches */
} dataset;

static void dataset_free(dataset *d) {
  oa_bench_records_free(&d->rec);
  free(d->chunk_from);
  free(d->chunk_n);
  free(d->pb_off);
  oa_bytes_reset(&d->pb);
  oa_bytes_reset(&d->ipc);
  memset(d, 0, sizeof *d);
}

static int make_chunks(dataset *d, int64_t batch, oa_error *err) {
  d->spans = d->rec.n;
  d->n_chunks = (d->spans + batch - 1) / batch;
  if (d->n_chunks == 0)
    return oa_error_set(err, EINVAL, "%s: no spans", d->label);
  d->chunk_from = calloc((size_t)d->n_chunks, sizeof *d->chunk_from);
  d->chunk_n = calloc((size_t)d->n_chunks, sizeof *d->chunk_n);
  d->pb_off = calloc((size_t)d->n_chunks + 1, sizeof *d->pb_off);
  if (!d->chunk_from || !d->chunk_n || !d->pb_off)
    return oa_error_set(err, ENOMEM, "chunks of %lld spans",
                        (long long)d->spans);
  for (int64_t k = 0; k < d->n_chunks; k++) {
    d->chunk_from[k] = k * batch;
    d->chunk_n[k] = d->spans - k * batch < batch ? d->spans - k * batch : batch;
  }
  return 0;
}

static int load_gen(dataset *d, int64_t spans, int64_t batch, oa_error *err) {
  oa_trace_gen g;
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  o.spans = spans;
  o.seed = 1;
  OA_RETURN_NOT_OK(oa_trace_gen_init(&g, &o, err));
  oa_bytes req;
  oa_bytes_init(&req);
  int rc = 0;
  for (;;) {
    int64_t n = 0;
    rc = oa_trace_gen_next_request(&g, batch, &req, &n, err);
    if (rc || n == 0) break;
    rc = oa_bench_records_add_otlp(&d->rec, req.data, req.size, err);
    if (rc) break;
  }
  d->traces = g.traces_done;
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  d->label = "gen";
  return rc ? rc : make_chunks(d, batch, err);
}

static int load_input(dataset *d, const char *path, int64_t batch,
                      oa_error *err) {
  oa_buffer m;
  OA_RETURN_NOT_OK(oa_file_map(path, &m, err));
  int rc = 0;
  const uint8_t *p = m.data;
  int64_t n = m.size;
  if (n >= 5 && p[0] == 0) { /* gRPC frames: 0, u32 big-endian length */
    int64_t pos = 0;
    while (!rc && pos < n) {
      if (n - pos < 5 || p[pos] != 0) {
        rc = oa_error_set(err, EINVAL, "%s: bad gRPC frame at byte %lld", path,
                          (long long)pos);
        break;
      }
      int64_t len = (int64_t)p[pos + 1] << 24 | (int64_t)p[pos + 2] << 16 |
                    (int64_t)p[pos + 3] << 8 | p[pos + 4];
      if (len > n - pos - 5) {
        rc = oa_error_set(err, EINVAL,
                          "%s: gRPC frame at byte %lld is cut short", path,
                          (long long)pos);
        break;
      }
      rc = oa_bench_records_add_otlp(&d->rec, p + pos + 5, len, err);
      pos += 5 + len;
    }
  } else {
    rc = oa_bench_records_add_otlp(&d->rec, p, n, err);
  }
  oa_region_release(m.region);
  const char *base = strrchr(path, '/');
  d->label = base ? base + 1 : path;
  return rc ? rc : make_chunks(d, batch, err);
}

/* ------------------------------------------------------- serialization */

/* Into out (d->pb: the request offsets are recorded). */
static int pb_serialize(dataset *d, oa_bench_arena *arena, oa_bytes *out,
                        oa_error *err) {
  out->size = 0;
  for (int64_t k = 0; k < d->n_chunks; k++) {
    if (out == &d->pb) d->pb_off[k] = out->size;
    oa_bench_arena_clear(arena); /* the tree of one request at a time */
    OA_RETURN_NOT_OK(oa_bench_pbc_pack(&d->rec, d->chunk_from[k], d->chunk_n[k],
                                       arena, out, err));
  }
  if (out == &d->pb) d->pb_off[d->n_chunks] = out->size;
  return 0;
}

/* The exporter's path: spans staged (oa_exporter_add), sealed into a
 * request, decoded into a batch; then the IPC stream writer. t_batch and
 * t_ipc split the CPU time. */
typedef struct arrow_ser {
  oa_exp_stage stage;
  oa_bytes req;
  oa_otlp_decoder *dec;
  oa_batch batch;
} arrow_ser;

static int arrow_ser_init(arrow_ser *a, oa_error *err) {
  memset(a, 0, sizeof *a);
  oa_exp_stage_init(&a->stage);
  oa_bytes_init(&a->req);
  oa_batch_init(&a->batch);
  return oa_otlp_decoder_new(&a->dec, NULL, err);
}

static void arrow_ser_free(arrow_ser *a) {
  oa_exp_stage_reset(&a->stage);
  oa_bytes_reset(&a->req);
  oa_batch_reset(&a->batch);
  oa_otlp_decoder_free(a->dec);
}

/* Records of chunk k -> a->batch. */
static int records_to_batch(arrow_ser *a, const dataset *d, int64_t k,
                            oa_error *err) {
  oa_exp_stage_clear(&a->stage);
  const oa_span *sp = d->rec.spans + d->chunk_from[k];
  for (int64_t i = 0; i < d->chunk_n[k]; i++) {
    OA_RETURN_NOT_OK(oa_exp_span_check(&sp[i], (size_t)i, err));
    OA_RETURN_NOT_OK(oa_exp_stage_add(&a->stage, &sp[i], err));
  }
  OA_RETURN_NOT_OK(oa_exp_stage_request(&a->stage, &a->req, err));
  oa_otlp_result res;
  OA_RETURN_NOT_OK(oa_otlp_decoder_decode(a->dec, a->req.data, a->req.size,
                                          &a->batch, &res, err));
  if (res.rejected_spans)
    return oa_error_set(err, EINVAL, "batch %lld: %lld spans rejected: %s",
                        (long long)k, (long long)res.rejected_spans,
                        res.error_message);
  return 0;
}

static int arrow_serialize(arrow_ser *a, dataset *d, oa_compression codec,
                           oa_bytes *out, double *t_batch, double *t_ipc,
                           oa_error *err) {
  out->size = 0;
  oa_ipc_writer *w = NULL;
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  wo.compression = codec;
  int rc = 0;
  double tb = 0, ti = 0;
  for (int64_t k = 0; k < d->n_chunks && !rc; k++) {
    double t0 = cpu_now();
    rc = records_to_batch(a, d, k, err);
    double t1 = cpu_now();
    tb += t1 - t0;
    if (rc) break;
    if (!w)
      rc = oa_ipc_writer_new(&w, OA_IPC_STREAM, a->batch.schema, &wo,
                             oa_sink_bytes(out), err);
    if (!rc) rc = oa_ipc_writer_write(w, &a->batch, err);
    ti += cpu_now() - t1;
  }
  double t2 = cpu_now();
  if (!rc && w) rc = oa_ipc_writer_finish(w, err);
  oa_ipc_writer_free(w);
  ti += cpu_now() - t2;
  if (t_batch) *t_batch = tb;
  if (t_ipc) *t_ipc = ti;
  return rc;
}

/* As arrow_serialize, with the dictionaries of every batch decoded first:
 * the IPC size of the same spans without dictionary encoding. */
static int arrow_serialize_plain(arrow_ser *a, dataset *d, oa_compression codec,
                                 oa_bytes *out, oa_error *err) {
  out->size = 0;
  oa_ipc_writer *w = NULL;
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  wo.compression = codec;
  oa_batch plain;
  oa_batch_init(&plain);
  int rc = 0;
  for (int64_t k = 0; k < d->n_chunks && !rc; k++) {
    rc = records_to_batch(a, d, k, err);
    if (!rc) rc = oa_batch_decode_dictionaries(&a->batch, &plain, err);
    if (!rc && !w)
      rc = oa_ipc_writer_new(&w, OA_IPC_STREAM, plain.schema, &wo,
                             oa_sink_bytes(out), err);
    if (!rc) rc = oa_ipc_writer_write(w, &plain, err);
    oa_batch_reset(&plain);
  }
  if (!rc && w) rc = oa_ipc_writer_finish(w, err);
  oa_ipc_writer_free(w);
  return rc;
}

/* ----------------------------------------------------- deserialization */

static int pb_unpack_all(const dataset *d, oa_error *err) {
  for (int64_t k = 0; k < d->n_chunks; k++)
    OA_RETURN_NOT_OK(oa_bench_pbc_unpack(d->pb.data + d->pb_off[k],
                                         d->pb_off[k + 1] - d->pb_off[k], NULL,
                                         NULL, NULL, err));
  return 0;
}

static int otlp_decode_all(oa_otlp_decoder *dec, const dataset *d,
                           oa_batch *keep, int64_t *bytes, oa_error *err) {
  oa_batch b;
  oa_batch_init(&b);
  int rc = 0;
  for (int64_t k = 0; k < d->n_chunks && !rc; k++) {
    oa_otlp_result res;
    rc = oa_otlp_decoder_decode(dec, d->pb.data + d->pb_off[k],
                                d->pb_off[k + 1] - d->pb_off[k], &b, &res, err);
    if (!rc && res.rejected_spans)
      rc = oa_error_set(err, EINVAL, "request %lld: %lld spans rejected: %s",
                        (long long)k, (long long)res.rejected_spans,
                        res.error_message);
    if (!rc && bytes) *bytes += oa_bench_batch_bytes(&b);
    if (!rc && keep) oa_batch_move(&keep[k], &b);
  }
  oa_batch_reset(&b);
  return rc;
}

static void nop_release(void *p) { (void)p; }

/* IPC stream bytes -> validated batches (full validation and UTF-8). */
static int ipc_read_all(const oa_bytes *ipc, oa_batch *keep, int64_t *rows,
                        oa_error *err) {
  oa_ipc_stream_reader *r = NULL;
  oa_ipc_read_options ro;
  oa_ipc_read_options_init(&ro);
  OA_RETURN_NOT_OK(oa_ipc_stream_reader_new(&r, &ro, err));
  oa_buffer buf = {ipc->data, ipc->size,
                   oa_region_wrap(ipc->data, ipc->size, nop_release, NULL)};
  int rc = buf.region ? 0 : oa_error_set(err, ENOMEM, "IPC region");
  if (!rc) rc = oa_ipc_stream_reader_push_buffer(r, &buf, err);
  oa_region_release(buf.region);
  oa_batch b;
  oa_batch_init(&b);
  int64_t n = 0, k = 0;
  while (!rc) {
    bool got = false;
    rc = oa_ipc_stream_reader_next(r, &b, &got, err);
    if (rc || !got) break;
    n += b.length;
    if (keep) oa_batch_move(&keep[k], &b);
    k++;
  }
  if (!rc) rc = oa_ipc_stream_reader_close(r, err);
  oa_batch_reset(&b);
  oa_ipc_stream_reader_free(r);
  if (rows) *rows = n;
  return rc;
}

/* ----------------------------------------------- peak RSS (forked child) */

typedef enum rss_step {
  RSS_PB_SER,
  RSS_AR_SER,
  RSS_PB_DESER,
  RSS_AR_DESER_OTLP,
  RSS_AR_DESER_IPC
} rss_step;

static int run_rss_step(rss_step step, dataset *d, oa_error *err) {
  switch (step) {
  case RSS_PB_SER: {
    oa_bench_arena a = {0};
    oa_bytes out; /* sized as the output: no reallocation peak */
    oa_bytes_init(&out);
    int rc = oa_bytes_reserve(&out, d->pb.size);
    if (!rc) rc = pb_serialize(d, &a, &out, err);
    oa_bench_arena_free(&a);
    oa_bytes_reset(&out);
    return rc;
  }
  case RSS_AR_SER: {
    arrow_ser s;
    int rc = arrow_ser_init(&s, err);
    oa_bytes out; /* sized as the output, as for protobuf-c */
    oa_bytes_init(&out);
    if (!rc) rc = oa_bytes_reserve(&out, d->ipc.size);
    if (!rc)
      rc = arrow_serialize(&s, d, OA_COMPRESSION_NONE, &out, NULL, NULL, err);
    arrow_ser_free(&s);
    oa_bytes_reset(&out);
    return rc;
  }
  case RSS_PB_DESER: { /* every request held as objects */
    void **msgs = calloc((size_t)d->n_chunks, sizeof *msgs);
    if (!msgs) return ENOMEM;
    int rc = 0;
    for (int64_t k = 0; k < d->n_chunks && !rc; k++)
      rc = oa_bench_pbc_unpack(d->pb.data + d->pb_off[k],
                               d->pb_off[k + 1] - d->pb_off[k], NULL, NULL,
                               &msgs[k], err);
    for (int64_t k = 0; k < d->n_chunks; k++)
      oa_bench_pbc_free(msgs[k]);
    free(msgs);
    return rc;
  }
  case RSS_AR_DESER_OTLP:
  case RSS_AR_DESER_IPC: { /* every batch held */
    oa_batch *keep = calloc((size_t)d->n_chunks, sizeof *keep);
    if (!keep) return ENOMEM;
    int rc = 0;
    if (step == RSS_AR_DESER_IPC) {
      rc = ipc_read_all(&d->ipc, keep, NULL, err);
    } else {
      oa_otlp_decoder *dec = NULL;
      rc = oa_otlp_decoder_new(&dec, NULL, err);
      if (!rc) rc = otlp_decode_all(dec, d, keep, NULL, err);
      oa_otlp_decoder_free(dec);
    }
    for (int64_t k = 0; k < d->n_chunks; k++)
      oa_batch_reset(&keep[k]);
    free(keep);
    return rc;
  }
  }
  return EINVAL;
}

/* Growth of the peak resident set while the step runs, in bytes: the step
 * runs in a forked child (VmHWM is per process; the child starts from the
 * parent's resident set). -1 when it cannot be measured. */
static double rss_delta(rss_step step, dataset *d) {
  int fd[2];
  if (pipe(fd) != 0) return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(fd[0]);
    close(fd[1]);
    return -1;
  }
  if (pid == 0) {
    close(fd[0]);
    /* Free heap pages inherited from the parent would be reused without
     * growing the resident set: give them back, then restart the peak. */
    malloc_trim(0);
    int cr = open("/proc/self/clear_refs", O_WRONLY);
    bool reset = cr >= 0 && write(cr, "5", 1) == 1;
    if (cr >= 0) close(cr);
    int64_t rss0 = oa_bench_vm_kb("VmRSS");
    if (!reset) rss0 = oa_bench_vm_kb("VmHWM"); /* growth past the peak */
    oa_error e;
    int rc = run_rss_step(step, d, &e);
    int64_t hwm = oa_bench_vm_kb("VmHWM");
    double v = rc || rss0 < 0 || hwm < 0 ? -1 : (double)(hwm - rss0) * 1024.0;
    if (write(fd[1], &v, sizeof v) != (ssize_t)sizeof v) _exit(1);
    _exit(0);
  }
  close(fd[1]);
  double v = -1;
  if (read(fd[0], &v, sizeof v) != (ssize_t)sizeof v) v = -1;
  close(fd[0]);
  int st;
  waitpid(pid, &st, 0);
  return v;
}

/* ------------------------------------------------------------ the sizes */

static int64_t zstd_size(const oa_bytes *b, int level) {
  size_t cap = ZSTD_compressBound((size_t)b->size);
  void *dst = malloc(cap);
  if (!dst) return -1;
  size_t n = ZSTD_compress(dst, cap, b->data, (size_t)b->size, level);
  free(dst);
  return ZSTD_isError(n) ? -1 : (int64_t)n;
}

static int64_t lz4_size(const oa_bytes *b) {
  if (b->size > LZ4_MAX_INPUT_SIZE) return -1;
  int cap = LZ4_compressBound((int)b->size);
  char *dst = malloc((size_t)cap);
  if (!dst) return -1;
  int n = LZ4_compress_default((const char *)b->data, dst, (int)b->size, cap);
  free(dst);
  return n > 0 ? n : -1;
}

/* ------------------------------------------------------------ one size */

static const char kPubSer[] = "5.2 s vs 340 ms (15.3x)";
static const char kPubDeser[] = "4.8 s vs 295 ms (16.3x)";
static const char kPubMem[] = "2.4 GB vs 610 MB (3.9x)";
static const char kPubZstd[] = "320 MB vs 47 MB (6.8x)";

static int bench_dataset(bench *b, dataset *d) {
  oa_error *err = &b->err;
  int64_t N = d->spans;
  char id[64], label[128];
  int reps = b->repeats;
  const char *L = d->label;
#define ID(s) (snprintf(id, sizeof id, "%s.%s.%lld", s, L, (long long)N), id)
#define LBL(...) (snprintf(label, sizeof label, __VA_ARGS__), label)

  /* warm-up: one untimed pass of each side builds every derived form */
  progress(b, "%s %lld spans: warm-up", L, (long long)N);
  oa_bench_arena arena = {0};
  arrow_ser as;
  int rc = arrow_ser_init(&as, err);
  if (!rc) rc = pb_serialize(d, &arena, &d->pb, err);
  if (!rc)
    rc = arrow_serialize(&as, d, OA_COMPRESSION_NONE, &d->ipc, NULL, NULL, err);
  if (rc) goto done;

  row *ser = add_row(
      b, ID("serialize"), N,
      LBL("serialize %lld spans: records -> bytes", (long long)N), "ms", false);
  row *ser_b =
      add_row(b, ID("serialize_batch"), N,
              LBL("serialize, Arrow step 1: records -> batch (exporter path)"),
              "ms", false);
  row *ser_i =
      add_row(b, ID("serialize_ipc"), N,
              LBL("serialize, Arrow step 2: batch -> IPC stream"), "ms", false);
  if (ser) snprintf(ser->published, sizeof ser->published, "%s", kPubSer);
  oa_bytes scratch; /* reserved: both sides write into warm buffers */
  oa_bytes_init(&scratch);
  rc = oa_bytes_reserve(&scratch, d->ipc.size);
  for (int r = 0; r < reps && !rc; r++) {
    progress(b, "%s %lld spans: serialize %d/%d", L, (long long)N, r + 1, reps);
    double w0 = oa_bench_now(), c0 = cpu_now();
    rc = pb_serialize(d, &arena, &d->pb, err);
    double c1 = cpu_now(), w1 = oa_bench_now();
    add_pb(ser, (c1 - c0) * 1e3, (w1 - w0) * 1e3);
    double tb = 0, ti = 0;
    if (!rc)
      rc =
          arrow_serialize(&as, d, OA_COMPRESSION_NONE, &scratch, &tb, &ti, err);
    double c2 = cpu_now(), w2 = oa_bench_now();
    add_ar(ser, (c2 - c1) * 1e3, (w2 - w1) * 1e3);
    add_ar(ser_b, tb * 1e3, tb * 1e3);
    add_ar(ser_i, ti * 1e3, ti * 1e3);
  }
  oa_bytes_reset(&scratch);
  if (rc) goto done;

  /* deserialize */
  row *de = add_row(b, ID("deserialize_otlp"), N,
                    LBL("deserialize %lld spans: OTLP bytes -> protobuf-c "
                        "objects / Arrow batch",
                        (long long)N),
                    "ms", false);
  row *di = add_row(b, ID("deserialize_ipc"), N,
                    LBL("deserialize %lld spans: protobuf-c objects / Arrow "
                        "IPC -> validated batch",
                        (long long)N),
                    "ms", false);
  if (de) snprintf(de->published, sizeof de->published, "%s", kPubDeser);
  if (di) snprintf(di->published, sizeof di->published, "%s", kPubDeser);
  for (int r = 0; r < reps && !rc; r++) {
    progress(b, "%s %lld spans: deserialize %d/%d", L, (long long)N, r + 1,
             reps);
    double w0 = oa_bench_now(), c0 = cpu_now();
    rc = pb_unpack_all(d, err);
    double c1 = cpu_now(), w1 = oa_bench_now();
    add_pb(de, (c1 - c0) * 1e3, (w1 - w0) * 1e3);
    add_pb(di, (c1 - c0) * 1e3, (w1 - w0) * 1e3);
    if (!rc) rc = otlp_decode_all(as.dec, d, NULL, NULL, err);
    double c2 = cpu_now(), w2 = oa_bench_now();
    add_ar(de, (c2 - c1) * 1e3, (w2 - w1) * 1e3);
    int64_t rows = 0;
    if (!rc) rc = ipc_read_all(&d->ipc, NULL, &rows, err);
    double c3 = cpu_now(), w3 = oa_bench_now();
    add_ar(di, (c3 - c2) * 1e3, (w3 - w2) * 1e3);
    if (!rc && rows != N)
      rc = oa_error_set(err, EIO, "IPC read back %lld rows of %lld",
                        (long long)rows, (long long)N);
  }
  if (rc) goto done;

  /* memory held per span */
  progress(b, "%s %lld spans: memory", L, (long long)N);
  int64_t pbc_bytes = 0, pbc_spans = 0;
  for (int64_t k = 0; k < d->n_chunks && !rc; k++) {
    int64_t s = 0, a = 0;
    rc =
        oa_bench_pbc_unpack(d->pb.data + d->pb_off[k],
                            d->pb_off[k + 1] - d->pb_off[k], &s, &a, NULL, err);
    pbc_bytes += a;
    pbc_spans += s;
  }
  d->arrow_bytes = 0;
  if (!rc) rc = otlp_decode_all(as.dec, d, NULL, &d->arrow_bytes, err);
  if (!rc && pbc_spans != N)
    rc = oa_error_set(err, EIO, "protobuf-c unpacked %lld spans of %lld",
                      (long long)pbc_spans, (long long)N);
  if (rc) goto done;
  row *mem =
      add_row(b, ID("memory"), N, LBL("memory held per span (objects / batch)"),
              "B/span", false);
  add_pb(mem, (double)pbc_bytes / (double)N, 0);
  add_ar(mem, (double)d->arrow_bytes / (double)N, 0);
  if (mem) {
    snprintf(mem->published, sizeof mem->published, "%s (1M spans)", kPubMem);
    snprintf(mem->note, sizeof mem->note,
             "application records: %.0f B/span (oa_span + data)",
             (double)oa_bench_records_bytes(&d->rec) / (double)N);
  }
  static const struct {
    rss_step pb, ar;
    const char *id, *label;
  } kRss[] = {
      {RSS_PB_SER, RSS_AR_SER, "rss_serialize", "peak RSS growth: serialize"},
      {RSS_PB_DESER, RSS_AR_DESER_OTLP, "rss_deserialize_otlp",
       "peak RSS growth: deserialize OTLP (all held)"},
      {RSS_PB_DESER, RSS_AR_DESER_IPC, "rss_deserialize_ipc",
       "peak RSS growth: protobuf-c objects / IPC -> batches (all "
       "held)"},
  };
  for (size_t i = 0; i < sizeof kRss / sizeof kRss[0]; i++) {
    progress(b, "%s %lld spans: %s", L, (long long)N, kRss[i].label);
    double p = rss_delta(kRss[i].pb, d), a = rss_delta(kRss[i].ar, d);
    if (p <= 0 || a <= 0) continue; /* not measurable here: no row */
    row *r = add_row(b, ID(kRss[i].id), N, kRss[i].label, "MB", false);
    add_pb(r, p / 1e6, 0);
    add_ar(r, a / 1e6, 0);
    if (r)
      snprintf(r->note, sizeof r->note, "forked child per step, VmHWM%s",
               kRss[i].ar == RSS_AR_DESER_IPC
                   ? "; IPC batches point into the received bytes (zero-copy)"
                   : "");
  }

  /* sizes */
  progress(b, "%s %lld spans: sizes", L, (long long)N);
  oa_bytes ipc_lz4, ipc_zstd, ipc_plain;
  oa_bytes_init(&ipc_lz4);
  oa_bytes_init(&ipc_zstd);
  oa_bytes_init(&ipc_plain);
  rc = arrow_serialize(&as, d, OA_COMPRESSION_LZ4_FRAME, &ipc_lz4, NULL, NULL,
                       err);
  if (!rc)
    rc = arrow_serialize(&as, d, OA_COMPRESSION_ZSTD, &ipc_zstd, NULL, NULL,
                         err);
  if (!rc)
    rc = arrow_serialize_plain(&as, d, OA_COMPRESSION_NONE, &ipc_plain, err);
  if (!rc) {
    struct {
      const char *id, *label;
      int64_t pb, ar;
      const char *pub;
    } sz[] = {
        {"size_raw", "size: raw", d->pb.size, d->ipc.size,
         "OTel JS SDK: 437 B/span"},
        {"size_zstd1", "size: zstd -1 of the bytes", zstd_size(&d->pb, 1),
         zstd_size(&d->ipc, 1), "OTel JS SDK: 67 B/span"},
        {"size_zstd3", "size: zstd -3 of the bytes", zstd_size(&d->pb, 3),
         zstd_size(&d->ipc, 3), ""},
        {"size_lz4", "size: lz4 of the bytes", lz4_size(&d->pb),
         lz4_size(&d->ipc), "OTel JS SDK: 89 B/span"},
        {"size_ipc_lz4", "size: lz4 of OTLP / IPC lz4 body compression",
         lz4_size(&d->pb), ipc_lz4.size, ""},
        {"size_ipc_zstd", "size: zstd -3 of OTLP / IPC zstd body compression",
         zstd_size(&d->pb, 3), ipc_zstd.size, ""},
        /* the same IPC with every dictionary column decoded to plain */
        {"size_nodict_raw", "size: raw, IPC without dictionaries", d->pb.size,
         ipc_plain.size, ""},
        {"size_nodict_zstd1", "size: zstd -1, IPC without dictionaries",
         zstd_size(&d->pb, 1), zstd_size(&ipc_plain, 1), ""},
        {"size_nodict_zstd3", "size: zstd -3, IPC without dictionaries",
         zstd_size(&d->pb, 3), zstd_size(&ipc_plain, 3), ""},
        {"size_nodict_lz4", "size: lz4, IPC without dictionaries",
         lz4_size(&d->pb), lz4_size(&ipc_plain), ""},
    };
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
      if (sz[i].pb <= 0 || sz[i].ar <= 0) continue;
      row *r = add_row(b, ID(sz[i].id), N, sz[i].label, "B/span", false);
      add_pb(r, (double)sz[i].pb / (double)N, 0);
      add_ar(r, (double)sz[i].ar / (double)N, 0);
      if (!r) continue;
      if (i == 2)
        snprintf(r->published, sizeof r->published,
                 "%s (1M spans); OTel JS SDK: 64 B/span", kPubZstd);
      else
        snprintf(r->published, sizeof r->published, "%s", sz[i].pub);
      snprintf(r->note, sizeof r->note, "totals: %lld / %lld bytes",
               (long long)sz[i].pb, (long long)sz[i].ar);
    }
  }
  oa_bytes_reset(&ipc_lz4);
  oa_bytes_reset(&ipc_zstd);
  oa_bytes_reset(&ipc_plain);

done:
  arrow_ser_free(&as);
  oa_bench_arena_free(&arena);
  return rc;
#undef ID
#undef LBL
}

/* ------------------------------------------------------------ transport */

static int bench_transport(bench *b) {
  oa_error *err = &b->err;
  oa_bench_server s;
  progress(b, "transport: starting otlparrow serve");
  OA_RETURN_NOT_OK(oa_bench_server_start(&s, b->exe, err));
  struct {
    const char *id, *label;
    int64_t spans;
    const char *pb_args, *ar_args;
    const char *pub;
  } sc[] = {
      {"put_10k", "Flight DoPut / OTLP/gRPC Export, 10K-span batches", 10000,
       "--spans-per-request 10000 --connections 1 --concurrency 1",
       "--mode put --batch-spans 10000 --connections 1",
       "Flight 1,850 requests/s of 10K-span batches (16 cores)"},
      {"put_100k", "Flight DoPut / OTLP/gRPC Export, 100K-span batches", 100000,
       "--spans-per-request 100000 --connections 1 --concurrency 1",
       "--mode put --batch-spans 100000 --connections 1", ""},
      {"get_10k", "Flight DoGet, 10K-span batches", 10000, NULL,
       "--mode get --batch-spans 10000 --connections 1", ""},
      {"get_100k", "Flight DoGet, 100K-span batches", 100000, NULL,
       "--mode get --batch-spans 100000 --connections 1", ""},
  };
  int reps = b->quick ? 1 : b->repeats;
  for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
    char id[64], label[160], args[512];
    snprintf(id, sizeof id, "%s.rps", sc[i].id);
    snprintf(label, sizeof label, "%s (requests/s)", sc[i].label);
    row *rr = add_row(b, id, sc[i].spans, label, "req/s", true);
    snprintf(id, sizeof id, "%s.gbps", sc[i].id);
    snprintf(label, sizeof label, "%s (GB/s)", sc[i].label);
    row *rg = add_row(b, id, sc[i].spans, label, "GB/s", true);
    if (rr) snprintf(rr->published, sizeof rr->published, "%s", sc[i].pub);
    for (int r = 0; r < reps; r++) {
      oa_bench_load ld;
      progress(b, "transport: %s %d/%d", sc[i].label, r + 1, reps);
      if (sc[i].pb_args) {
        snprintf(args, sizeof args, "--otlp-grpc 127.0.0.1:%d --duration %g %s",
                 s.otlp_port, b->seconds, sc[i].pb_args);
        oa_error e;
        if (oa_bench_loadgen(b->exe, &s, args, &ld, &e) == 0) {
          add_pb(rr, ld.requests_per_s, 0);
          add_pb(rg, ld.mb_per_s / 1e3, 0);
        } else if (rr && !rr->note[0]) {
          snprintf(rr->note, sizeof rr->note, "OTLP side failed: %.150s",
                   e.message);
        }
        oa_bench_server_drop(&s, "spans");
      }
      snprintf(args, sizeof args, "--flight 127.0.0.1:%d --duration %g %s",
               s.flight_port, b->seconds, sc[i].ar_args);
      oa_error e;
      if (oa_bench_loadgen(b->exe, &s, args, &ld, &e) == 0) {
        add_ar(rr, ld.requests_per_s, 0);
        add_ar(rg, ld.mb_per_s / 1e3, 0);
      } else if (rg && !rg->note[0]) {
        snprintf(rg->note, sizeof rg->note, "Flight side failed: %.150s",
                 e.message);
      }
    }
  }
  oa_bench_server_stop(&s);
  return 0;
}

/* ------------------------------------------------------------ analytics */

typedef struct memtable {
  oa_schema *schema;
  oa_batch *batches;
  int64_t n;
} memtable;

static void memtable_release(oa_query_table *t) { (void)t; }

static int memtable_resolve(void *ctx, const char *name,
                            const oa_query_scan_hint *hint, oa_query_table *out,
                            oa_error *err) {
  (void)hint;
  memtable *m = ctx;
  if (strcmp(name, "spans") != 0)
    return oa_error_set(err, ENOENT, "no table '%s'", name);
  memset(out, 0, sizeof *out);
  out->schema = m->schema;
  out->batches = m->batches;
  out->n_batches = m->n;
  out->release = memtable_release;
  return 0;
}

static int bench_analytics(bench *b, dataset *d) {
  oa_error *err = &b->err;
  memtable m = {0};
  m.batches = calloc((size_t)d->n_chunks, sizeof *m.batches);
  if (!m.batches) return oa_error_set(err, ENOMEM, "analytics batches");
  m.n = d->n_chunks;
  oa_otlp_decoder *dec = NULL;
  int rc = oa_otlp_decoder_new(&dec, NULL, err);
  if (!rc) rc = otlp_decode_all(dec, d, m.batches, NULL, err);
  oa_otlp_decoder_free(dec);
  if (!rc) m.schema = m.batches[0].schema;
  char hex[33];
  const uint8_t *tid = d->rec.spans[d->spans / 2].trace_id;
  for (int i = 0; i < 16; i++)
    snprintf(hex + 2 * i, 3, "%02x", tid[i]);
  char filter_sql[160];
  snprintf(filter_sql, sizeof filter_sql,
           "SELECT span_id, name, duration FROM spans WHERE trace_id = "
           "X'%s'",
           hex);
  struct {
    const char *id, *label, *sql, *pub;
  } q[] = {
      {"groupby", "GROUP BY trace_id, COUNT/AVG/MAX/MIN, top 100",
       "SELECT trace_id, count(*) AS n, avg(duration), max(duration), "
       "min(duration) FROM spans GROUP BY trace_id ORDER BY n DESC LIMIT 100",
       "45 ms (100K groups, 1M rows, 16 cores); DuckDB here: 30-40 ms"},
      {"sort", "ORDER BY trace_id, start_time, span_id",
       "SELECT trace_id, start_time, span_id FROM spans ORDER BY trace_id, "
       "start_time, span_id",
       "180 ms (1M rows, 16 cores); DuckDB here: ~100 ms"},
      {"filter", "trace-id filter (SIMD)", filter_sql,
       "12 ms (1M rows, 16 cores); DuckDB here: ~4 ms"},
  };
  for (size_t i = 0; i < sizeof q / sizeof q[0] && !rc; i++) {
    char id[64], label[192];
    snprintf(id, sizeof id, "%s.%lld", q[i].id, (long long)d->spans);
    snprintf(label, sizeof label, "%s (%lld rows)", q[i].label,
             (long long)d->spans);
    row *r = NULL;
    for (int k = 0; k < b->repeats; k++) {
      progress(b, "analytics: %s %d/%d", q[i].label, k + 1, b->repeats);
      oa_query_options o;
      oa_query_options_init(&o);
      o.resolve = memtable_resolve;
      o.resolve_ctx = &m;
      oa_query_result res;
      oa_query_result_init(&res);
      oa_error e;
      double w0 = oa_bench_now();
      int qrc = oa_query_run(q[i].sql, &o, &res, &e);
      double w1 = oa_bench_now();
      if (qrc) {
        json_object *fail = json_object_new_object();
        json_object_object_add(fail, "query", json_object_new_string(q[i].sql));
        json_object_object_add(fail, "error",
                               json_object_new_string(e.message));
        json_object_object_add(b->extra, id, fail);
        oa_query_result_reset(&res);
        break;
      }
      if (!r) {
        r = add_row(b, id, d->spans, label, "ms", false);
        if (!r) break;
        snprintf(r->published, sizeof r->published, "%s", q[i].pub);
        snprintf(r->note, sizeof r->note,
                 "%lld result rows; %lld traces; kernel: %s; wall time, %ld "
                 "threads",
                 (long long)res.n_rows, (long long)d->traces,
                 res.stats.filter_kernel && res.stats.filter_kernel[0]
                     ? res.stats.filter_kernel
                     : "-",
                 sysconf(_SC_NPROCESSORS_ONLN));
      }
      add_ar(r, (w1 - w0) * 1e3, (w1 - w0) * 1e3);
      oa_query_result_reset(&res);
    }
  }
  for (int64_t k = 0; k < m.n; k++)
    oa_batch_reset(&m.batches[k]);
  free(m.batches);
  return rc;
}

/* -------------------------------------------------------------- output */

static void fmt_stat(char *out, size_t cap, const double *v, int n,
                     const char *unit) {
  if (n == 0) {
    snprintf(out, cap, "-");
    return;
  }
  double m, lo, hi;
  oa_bench_stats(v, n, &m, &lo, &hi);
  int prec = m >= 100 ? 0 : m >= 10 ? 1 : m >= 1 ? 2 : 3;
  if (n > 1 && hi > lo)
    snprintf(out, cap, "%.*f %s (%.*f-%.*f)", prec, m, unit, prec, lo, prec,
             hi);
  else
    snprintf(out, cap, "%.*f %s", prec, m, unit);
}

static bool row_ratio(const row *r, double *ratio) {
  if (!r->n_pb || !r->n_ar) return false;
  double p = median_of(r->pb, r->n_pb), a = median_of(r->ar, r->n_ar);
  if (p <= 0 || a <= 0) return false;
  *ratio = p / a;
  return true;
}

static void write_markdown(const bench *b, FILE *f) {
  fprintf(f, "| scenario | Protobuf (protobuf-c) | Arrow (otlparrow) | ratio "
             "protobuf/arrow | published (field) | notes |\n");
  fprintf(f, "|---|---|---|---|---|---|\n");
  for (int i = 0; i < b->n_rows; i++) {
    const row *r = &b->rows[i];
    char p[96], a[96], ra[32] = "-";
    fmt_stat(p, sizeof p, r->pb, r->n_pb, r->unit);
    fmt_stat(a, sizeof a, r->ar, r->n_ar, r->unit);
    double x;
    if (row_ratio(r, &x)) snprintf(ra, sizeof ra, "%.2f", x);
    const char *cells[] = {
        r->scenario, p, a, ra, r->published[0] ? r->published : "-", r->note};
    for (size_t c = 0; c < sizeof cells / sizeof cells[0]; c++) {
      fputs(c ? " | " : "| ", f);
      for (const char *q = cells[c]; *q; q++) /* '|' would split the cell */
        fputc(*q == '|' ? '/' : *q == '\n' ? ' ' : *q, f);
    }
    fputs(" |\n", f);
  }
}

static json_object *jstats(const double *v, const double *wall, int n) {
  json_object *o = json_object_new_object();
  double m, lo, hi;
  oa_bench_stats(v, n, &m, &lo, &hi);
  json_object_object_add(o, "median", json_object_new_double(m));
  json_object_object_add(o, "min", json_object_new_double(lo));
  json_object_object_add(o, "max", json_object_new_double(hi));
  json_object *s = json_object_new_array();
  json_object *w = json_object_new_array();
  bool any_wall = false;
  for (int i = 0; i < n; i++) {
    json_object_array_add(s, json_object_new_double(v[i]));
    json_object_array_add(w, json_object_new_double(wall[i]));
    any_wall |= wall[i] > 0;
  }
  json_object_object_add(o, "samples", s);
  if (any_wall)
    json_object_object_add(o, "wall_samples_ms", w);
  else
    json_object_put(w);
  return o;
}

static void cpu_model(char *out, size_t cap) {
  snprintf(out, cap, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "model name", 10) == 0) {
      const char *p = strchr(line, ':');
      if (p) {
        p++;
        while (*p == ' ')
          p++;
        snprintf(out, cap, "%s", p);
        out[strcspn(out, "\n")] = 0;
      }
      break;
    }
  fclose(f);
}

static int write_json(const bench *b, const char *path, oa_error *err) {
  json_object *root = json_object_new_object();
  json_object *m = json_object_new_object();
  char cpu[256];
  cpu_model(cpu, sizeof cpu);
  json_object_object_add(m, "cpu_model", json_object_new_string(cpu));
  json_object_object_add(m, "cores",
                         json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));
  json_object_object_add(
      m, "simd", json_object_new_string(oa_simd_name(oa_simd_detect())));
  json_object_object_add(m, "compiler", json_object_new_string(__VERSION__));
  json_object_object_add(m, "otlparrow", json_object_new_string(oa_version()));
  json_object_object_add(m, "zstd",
                         json_object_new_string(ZSTD_versionString()));
  json_object_object_add(m, "lz4", json_object_new_string(LZ4_versionString()));
  json_object_object_add(m, "grpc",
                         json_object_new_string(grpc_version_string()));
  json_object_object_add(m, "protobuf_c",
                         json_object_new_string(oa_bench_pbc_version()));
  json_object_object_add(m, "json_c", json_object_new_string(json_c_version()));
  json_object_object_add(root, "machine", m);
  json_object *o = json_object_new_object();
  json_object *sizes = json_object_new_array();
  for (int i = 0; i < b->n_sizes; i++)
    json_object_array_add(sizes, json_object_new_int64(b->sizes[i]));
  json_object_object_add(o, "spans", sizes);
  json_object_object_add(o, "input",
                         b->input ? json_object_new_string(b->input) : NULL);
  json_object_object_add(o, "batch_spans",
                         json_object_new_int64(b->batch_spans));
  json_object_object_add(o, "repeats", json_object_new_int(b->repeats));
  json_object_object_add(o, "quick", json_object_new_boolean(b->quick));
  json_object_object_add(o, "time",
                         json_object_new_string("CPU ms of the measuring "
                                                "thread (analytics: wall ms)"));
  json_object_object_add(root, "options", o);
  json_object *rows = json_object_new_array();
  for (int i = 0; i < b->n_rows; i++) {
    const row *r = &b->rows[i];
    json_object *j = json_object_new_object();
    json_object_object_add(j, "id", json_object_new_string(r->id));
    json_object_object_add(j, "scenario", json_object_new_string(r->scenario));
    json_object_object_add(j, "unit", json_object_new_string(r->unit));
    json_object_object_add(j, "spans", json_object_new_int64(r->spans));
    json_object_object_add(j, "higher_is_better",
                           json_object_new_boolean(r->higher_better));
    json_object_object_add(j, "protobuf",
                           r->n_pb ? jstats(r->pb, r->pb_wall, r->n_pb) : NULL);
    json_object_object_add(j, "arrow",
                           r->n_ar ? jstats(r->ar, r->ar_wall, r->n_ar) : NULL);
    double x;
    json_object_object_add(j, "ratio",
                           row_ratio(r, &x) ? json_object_new_double(x) : NULL);
    json_object_object_add(j, "published",
                           json_object_new_string(r->published));
    json_object_object_add(j, "note", json_object_new_string(r->note));
    json_object_array_add(rows, j);
  }
  json_object_object_add(root, "rows", rows);
  json_object_object_add(root, "extra", json_object_get(b->extra));
  int rc = json_object_to_file_ext(
      path, root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
  json_object_put(root);
  if (rc != 0)
    return oa_error_set(err, EIO, "cannot write %s: %s", path, strerror(errno));
  return 0;
}

/* The row's label in the chart: the span count is added when the scenario
 * does not name it (rows of every size share their names). */
static void svg_label(const row *r, char *out, size_t cap) {
  char n[32];
  snprintf(n, sizeof n, "%lld", (long long)r->spans);
  if (r->spans <= 0 || strstr(r->scenario, n)) {
    snprintf(out, cap, "%s", r->scenario);
    return;
  }
  if (r->spans % 1000000 == 0)
    snprintf(n, sizeof n, "%lldM", (long long)(r->spans / 1000000));
  else if (r->spans % 1000 == 0)
    snprintf(n, sizeof n, "%lldK", (long long)(r->spans / 1000));
  snprintf(out, cap, "%s [%s]", r->scenario, n);
}

static void svg_text(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '<')
      fputs("&lt;", f);
    else if (*s == '>')
      fputs("&gt;", f);
    else if (*s == '&')
      fputs("&amp;", f);
    else if (*s == '"')
      fputs("&quot;", f);
    else
      fputc(*s, f);
  }
}

/* Horizontal bars of Arrow's advantage per row (protobuf/arrow for costs,
 * arrow/protobuf for throughputs) on a log axis; 1 is parity. */
static int write_svg(const bench *b, const char *path, oa_error *err) {
  FILE *f = fopen(path, "w");
  if (!f)
    return oa_error_set(err, errno, "cannot write %s: %s", path,
                        strerror(errno));
  int n = 0;
  size_t longest = 20;
  double lo = 0.1, hi = 10;
  for (int i = 0; i < b->n_rows; i++) {
    double x;
    if (!row_ratio(&b->rows[i], &x)) continue;
    char lbl[192];
    svg_label(&b->rows[i], lbl, sizeof lbl);
    if (strlen(lbl) > longest) longest = strlen(lbl);
    if (b->rows[i].higher_better) x = 1 / x;
    n++;
    while (x < lo)
      lo /= 10;
    while (x > hi)
      hi *= 10;
  }
  /* about 6.6 px per character of 12 px sans-serif */
  const int label_w = 20 + (int)((double)longest * 6.6), plot_w = 520;
  const int bar_h = 18, gap = 6, top = 60;
  int height = top + n * (bar_h + gap) + 50;
  int width = label_w + plot_w + 40;
  double l0 = log10(lo), l1 = log10(hi);
#define XPOS(v) (label_w + (log10(v) - l0) / (l1 - l0) * plot_w)
  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
          "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
          "font-size=\"12\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
          "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">"
          "otlparrow bench: Arrow advantage over OTLP protobuf (x, log "
          "scale)</text>\n"
          "<text x=\"10\" y=\"40\" fill=\"#555\">right of 1: Arrow is "
          "faster / smaller / more requests; left of 1: protobuf-c "
          "is</text>\n",
          width, height, width, height);
  for (double t = lo; t <= hi * 1.0001; t *= 10) {
    double x = XPOS(t);
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
            "stroke-width=\"%s\"/>\n"
            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
            "fill=\"#333\">%gx</text>\n",
            x, top - 6, x, top + n * (bar_h + gap), t == 1 ? "#000" : "#ccc",
            t == 1 ? "1.5" : "1", x, top + n * (bar_h + gap) + 16, t);
  }
  int k = 0;
  for (int i = 0; i < b->n_rows; i++) {
    const row *r = &b->rows[i];
    double x;
    if (!row_ratio(r, &x)) continue;
    double adv = r->higher_better ? 1 / x : x;
    int y = top + k * (bar_h + gap);
    double x1 = XPOS(1.0), x2 = XPOS(adv);
    double bx = x1 < x2 ? x1 : x2, bw = fabs(x2 - x1);
    if (bw < 1) bw = 1;
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 8,
            y + bar_h - 5);
    char lbl[192];
    svg_label(r, lbl, sizeof lbl);
    svg_text(f, lbl);
    fprintf(f,
            "</text>\n<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
            "fill=\"%s\"/>\n"
            "<text x=\"%.1f\" y=\"%d\" font-size=\"11\">%.2fx</text>\n",
            bx, y, bw, bar_h, adv >= 1 ? "#2b7bb9" : "#d9534f",
            (x1 > x2 ? x1 : x2) + 4, y + bar_h - 5, adv);
    k++;
  }
#undef XPOS
  fputs("</svg>\n", f);
  if (fclose(f) != 0) return oa_error_set(err, EIO, "cannot write %s", path);
  return 0;
}

/* ------------------------------------------------------------------ main */

static bool parse_sizes(bench *b, const char *s) {
  b->n_sizes = 0;
  while (*s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0 || b->n_sizes == MAX_SIZES) return false;
    if (*end == 'K' || *end == 'k') {
      v *= 1000;
      end++;
    } else if (*end == 'M' || *end == 'm') {
      v *= 1000000;
      end++;
    }
    if (v > 0) b->sizes[b->n_sizes++] = v;
    if (*end == ',')
      end++;
    else if (*end)
      return false;
    s = end;
  }
  return true;
}

int oa_cli_bench(int argc, char **argv) {
  bench *b = calloc(1, sizeof *b);
  if (!b) return oa_cli_fail("out of memory");
  b->cap_rows = MAX_ROWS;
  b->rows = calloc(MAX_ROWS, sizeof *b->rows);
  if (!b->rows) {
    free(b);
    return oa_cli_fail("out of memory");
  }
  b->sizes[0] = 10000;
  b->sizes[1] = 100000;
  b->sizes[2] = 1000000;
  b->n_sizes = 3;
  b->batch_spans = 10000;
  b->repeats = 3;
  b->seconds = 3;
  b->out_dir = "bench-out";
  bool sizes_given = false, repeats_given = false, seconds_given = false;
  int status = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int64_t n;
    if (oa_cli_is_help(a)) {
      fputs(kUsage, stdout);
      free(b->rows);
      free(b);
      return 0;
    } else if (strcmp(a, "--quick") == 0) {
      b->quick = true;
    } else if (strcmp(a, "--no-flight") == 0) {
      b->no_flight = true;
    } else if (strcmp(a, "--no-analytics") == 0) {
      b->no_analytics = true;
    } else if (!v && (strcmp(a, "--spans") == 0 || strcmp(a, "--input") == 0 ||
                      strcmp(a, "--out") == 0 || strcmp(a, "--repeats") == 0 ||
                      strcmp(a, "--batch-spans") == 0 ||
                      strcmp(a, "--seconds") == 0)) {
      status = oa_cli_fail("bench: %s needs a value", a);
      break;
    } else if (strcmp(a, "--spans") == 0) {
      if (!parse_sizes(b, v)) {
        status = oa_cli_fail("bench: --spans %s: expected N[,N...]", v);
        break;
      }
      sizes_given = true;
      i++;
    } else if (strcmp(a, "--input") == 0) {
      b->input = v;
      i++;
    } else if (strcmp(a, "--out") == 0) {
      b->out_dir = v;
      i++;
    } else if (strcmp(a, "--repeats") == 0) {
      if (!oa_cli_parse_i64(v, &n) || n < 1 || n > MAX_REP) {
        status = oa_cli_fail("bench: --repeats %s: expected 1..%d", v, MAX_REP);
        break;
      }
      b->repeats = (int)n;
      repeats_given = true;
      i++;
    } else if (strcmp(a, "--batch-spans") == 0) {
      if (!oa_cli_parse_i64(v, &n) || n < 1 || n > (1 << 24)) {
        status =
            oa_cli_fail("bench: --batch-spans %s: expected 1..16777216", v);
        break;
      }
      b->batch_spans = n;
      i++;
    } else if (strcmp(a, "--seconds") == 0) {
      char *end;
      double s = strtod(v, &end);
      if (*end || !(s > 0) || s > 600) {
        status = oa_cli_fail("bench: --seconds %s: expected 0 < S <= 600", v);
        break;
      }
      b->seconds = s;
      seconds_given = true;
      i++;
    } else {
      status = oa_cli_fail("bench: unknown argument '%s' (see --help)", a);
      break;
    }
  }
  if (status) {
    free(b->rows);
    free(b);
    return status;
  }
  if (b->n_sizes == 0 && !b->input) {
    free(b->rows);
    free(b);
    return oa_cli_fail("bench: nothing to measure (--spans 0 without "
                       "--input)");
  }
  if (b->quick) {
    if (!sizes_given) {
      b->sizes[0] = 10000;
      b->n_sizes = 1;
    }
    if (!repeats_given) b->repeats = 1;
    if (!seconds_given) b->seconds = 1;
  }
  if (!oa_bench_have_pbc()) {
    free(b->rows);
    free(b);
    return oa_cli_fail("bench: built without protobuf-c (the baseline); "
                       "install protoc-c and libprotobuf-c and rebuild");
  }
  b->progress = isatty(2);
  ssize_t en = readlink("/proc/self/exe", b->exe, sizeof b->exe - 1);
  if (en <= 0) snprintf(b->exe, sizeof b->exe, "%s", "otlparrow");
  b->extra = json_object_new_object();
  if (mkdir(b->out_dir, 0777) != 0 && errno != EEXIST) {
    status =
        oa_cli_fail("bench: cannot create %s: %s", b->out_dir, strerror(errno));
    goto out;
  }

  dataset largest = {0};
  int n_sets = b->n_sizes + (b->input ? 1 : 0);
  for (int s = 0; s < n_sets && !status; s++) {
    dataset d = {0};
    oa_bench_records_init(&d.rec);
    int rc;
    if (s < b->n_sizes) {
      progress(b, "generating %lld spans", (long long)b->sizes[s]);
      rc = load_gen(&d, b->sizes[s], b->batch_spans, &b->err);
    } else {
      progress(b, "reading %s", b->input);
      rc = load_input(&d, b->input, b->batch_spans, &b->err);
    }
    if (!rc) rc = bench_dataset(b, &d);
    if (rc) {
      status = oa_cli_fail("bench: %s: %s", d.label ? d.label : "spans",
                           b->err.message);
      dataset_free(&d);
      break;
    }
    /* the analytics rows use the largest generated set */
    if (s < b->n_sizes && d.spans > largest.spans) {
      dataset_free(&largest);
      largest = d;
    } else {
      dataset_free(&d);
    }
  }
  if (!status && !b->no_analytics && largest.spans) {
    if (bench_analytics(b, &largest) != 0)
      status = oa_cli_fail("bench: analytics: %s", b->err.message);
  }
  dataset_free(&largest);
  if (!status && !b->no_flight && bench_transport(b) != 0)
    status = oa_cli_fail("bench: transport: %s", b->err.message);
  if (b->progress) fputs("\r\033[K", stderr);
  if (!status) {
    char path[4096];
    write_markdown(b, stdout);
    snprintf(path, sizeof path, "%s/bench.md", b->out_dir);
    FILE *f = fopen(path, "w");
    if (f) {
      write_markdown(b, f);
      fclose(f);
    }
    snprintf(path, sizeof path, "%s/bench.json", b->out_dir);
    if (write_json(b, path, &b->err) != 0)
      status = oa_cli_fail("bench: %s", b->err.message);
    snprintf(path, sizeof path, "%s/bench.svg", b->out_dir);
    if (!status && write_svg(b, path, &b->err) != 0)
      status = oa_cli_fail("bench: %s", b->err.message);
  }
out:
  json_object_put(b->extra);
  free(b->rows);
  free(b);
  return status;
}
