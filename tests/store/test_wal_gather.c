/* Append records are written from pieces (writev of the batch's own
 * buffers): the bytes on disk must equal the record built the plain way
 * (oa_store_wal_begin_ + an IPC stream writer + oa_store_wal_end_), and a
 * crash copy must replay to the same batches, for real span batches
 * (dictionaries, unions, buffers large and small) and for sliced batches
 * (re-aligned bitmaps and rebased offsets are encoder scratch buffers). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlparrow/dataset.h"
#include "otlparrow/ipc.h"
#include "otlparrow/otlp.h"
#include "store/store_internal.h"
#include "test.h"

static void tmpdir(char *out) {
  strcpy(out, "/tmp/oa_store_gather_XXXXXX");
  if (!mkdtemp(out)) abort();
}

static void run(const char *fmt, const char *a, const char *b) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, fmt, a, b);
  if (system(cmd) != 0) fprintf(stderr, "command failed: %s\n", cmd);
}

/* Span batches of the trace generator: in[0..n) */
static int gen_spans(oa_batch *in, int max, oa_error *err) {
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = 2000;
  oa_trace_gen g;
  if (oa_trace_gen_init(&g, &go, err)) return -1;
  oa_bytes req;
  oa_bytes_init(&req);
  int n = 0;
  while (n < max) {
    int64_t ns;
    if (oa_trace_gen_next_request(&g, 400, &req, &ns, err) || ns == 0) break;
    oa_batch_init(&in[n]);
    if (oa_otlp_decode_traces(req.data, req.size, NULL, &in[n], NULL, err))
      break;
    n++;
  }
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  return n;
}

/* The whole of the one wal-*.log in dir. */
static void read_log(const char *dir, oa_bytes *out) {
  oa_bytes_init(out);
  DIR *dd = opendir(dir);
  if (!dd) return;
  struct dirent *de;
  while ((de = readdir(dd))) {
    if (strncmp(de->d_name, "wal-", 4) != 0) continue;
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    FILE *f = fopen(p, "rb");
    uint8_t buf[65536];
    size_t k;
    while (f && (k = fread(buf, 1, sizeof buf, f)) > 0)
      oa_bytes_append(out, buf, (int64_t)k);
    if (f) fclose(f);
  }
  closedir(dd);
}

typedef struct recs {
  int n;
  oa_bytes ipc[16];
  char ids[16][70];
} recs;

static int keep(void *ctx, const oa_store_wal_record *r, oa_error *err) {
  recs *s = ctx;
  if (r->type != OA_WAL_APPEND || s->n == 16) return 0;
  oa_bytes_init(&s->ipc[s->n]);
  oa_bytes_append(&s->ipc[s->n], r->ipc, r->ipc_len);
  snprintf(s->ids[s->n], 70, "%.*s", (int)r->id_len, r->id ? r->id : "");
  s->n++;
  return 0;
}

/* The IPC stream an APPEND record carries, built by the stream writer. */
static void reference_ipc(const oa_batch *b, oa_bytes *out, oa_error *err) {
  oa_bytes_init(out);
  oa_ipc_writer *w = NULL;
  if (oa_ipc_writer_new(&w, OA_IPC_STREAM, b->schema, NULL, oa_sink_bytes(out),
                        err) == 0) {
    if (oa_ipc_writer_write(w, b, err) == 0) oa_ipc_writer_finish(w, err);
  }
  oa_ipc_writer_free(w);
}

OA_TEST(test_gathered_records_equal_plain_encoding_and_replay) {
  oa_error err_, *err = &err_;
  enum { N = 6 };
  oa_batch base[N], in[N + 2];
  int n_base = gen_spans(base, N, err);
  CHECK(n_base >= 4);
  int n_in = 0;
  for (int i = 0; i < n_base; i++)
    CHECK_OK(oa_batch_copy(&in[n_in++], &base[i], err), err);
  /* slices at odd offsets: bitmaps re-aligned, offsets rebased */
  CHECK_OK(oa_batch_slice(&in[n_in++], &base[1], 3, base[1].length - 10, err),
           err);
  CHECK_OK(oa_batch_slice(&in[n_in++], &base[2], 77, 5, err), err);
  char dir[64], copy[80];
  tmpdir(dir);
  snprintf(copy, sizeof copy, "%s.crash", dir);
  oa_store_options o;
  oa_store_options_init(&o);
  o.background = false;
  oa_datasets *d;
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  for (int i = 0; i < n_in; i++) {
    char id[16];
    snprintf(id, sizeof id, "b%d", i);
    int dup = 0;
    CHECK_OK(
        oa_datasets_append_id(d, "spans", &in[i], i % 2 ? id : NULL, &dup, err),
        err);
  }
  /* the log as written, record by record, against the plain encoding */
  oa_bytes log;
  read_log(dir, &log);
  recs rs;
  memset(&rs, 0, sizeof rs);
  int64_t valid_end = 0, torn = -1;
  CHECK_OK(
      oa_store_wal_scan_(log.data, log.size, keep, &rs, &valid_end, &torn, err),
      err);
  CHECK_EQ_INT(torn, 0);
  CHECK_EQ_INT(valid_end, log.size);
  CHECK_EQ_INT(rs.n, n_in);
  for (int i = 0; i < rs.n && i < n_in; i++) {
    oa_bytes want;
    reference_ipc(&in[i], &want, err);
    CHECK_EQ_INT(rs.ipc[i].size, want.size);
    CHECK(rs.ipc[i].size == want.size &&
          memcmp(rs.ipc[i].data, want.data, (size_t)want.size) == 0);
    char id[16];
    snprintf(id, sizeof id, "b%d", i);
    CHECK_EQ_STR(rs.ids[i], i % 2 ? id : "");
    oa_bytes_reset(&want);
    oa_bytes_reset(&rs.ipc[i]);
  }
  oa_bytes_reset(&log);
  /* the disk as a crash leaves it: replayed from the log, equal batches */
  run("cp -a '%s' '%s'", dir, copy);
  oa_datasets *r;
  CHECK_OK(oa_datasets_open(&r, copy, &o, 0, err), err);
  oa_store_stats st;
  oa_datasets_store_stats(r, &st);
  CHECK_EQ_INT(st.wal_records_replayed, n_in);
  oa_schema *s;
  oa_batch *bs;
  int64_t n;
  CHECK_OK(oa_datasets_snapshot(r, "spans", &s, &bs, &n, err), err);
  CHECK_EQ_INT(n, n_in);
  for (int64_t i = 0; i < n && i < n_in; i++) {
    err->message[0] = 0;
    bool eq = oa_batch_equals(&in[i], &bs[i], err);
    if (!eq) fprintf(stderr, "batch %lld: %s\n", (long long)i, err->message);
    CHECK(eq);
  }
  oa_datasets_snapshot_free(s, bs, n);
  oa_datasets_free(r);
  oa_datasets_free(d);
  for (int i = 0; i < n_in; i++)
    oa_batch_reset(&in[i]);
  for (int i = 0; i < n_base; i++)
    oa_batch_reset(&base[i]);
  run("rm -rf '%s' '%s'", dir, copy);
}

OA_TEST_MAIN(OA_T(test_gathered_records_equal_plain_encoding_and_replay))
