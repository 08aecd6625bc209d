/* How a flush splits logged batches into segments: about equal segments of
 * at most segment_rows rows, never a small remainder that compaction would
 * have to rewrite, two or more past 1.125 segment_rows
 * (written by two threads at once), and span batches with per-batch
 * dictionaries read back whole and findable by trace id from every
 * segment. Segment sizes are read from the MANIFEST itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otlparrow/dataset.h"
#include "otlparrow/otlp.h"
#include "store/store_internal.h"
#include "store_test_util.h"
#include "test.h"

static void tmpdir(char *out) {
  strcpy(out, "/tmp/oa_split_XXXXXX");
  if (!mkdtemp(out)) abort();
}

/* Rows per segment as listed in DIR/MANIFEST (sorted ascending). */
static int64_t manifest_rows(const char *dir, int64_t *rows, int64_t cap) {
  char path[256];
  snprintf(path, sizeof path, "%s/MANIFEST", dir);
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  oa_store_manifest m;
  oa_store_manifest_init_(&m);
  oa_error err;
  if (oa_store_manifest_decode_(buf, (int64_t)n, &m, &err) != 0) {
    fprintf(stderr, "manifest: %s\n", err.message);
    return -1;
  }
  int64_t k = 0;
  for (int64_t i = 0; i < m.n_segs && k < cap; i++)
    rows[k++] = m.segs[i].rows;
  oa_store_manifest_reset_(&m);
  for (int64_t i = 1; i < k; i++)
    for (int64_t j = i; j > 0 && rows[j - 1] > rows[j]; j--) {
      int64_t t = rows[j];
      rows[j] = rows[j - 1];
      rows[j - 1] = t;
    }
  return k;
}

static void sum_rows(oa_datasets *d, int64_t *rows, int64_t *sum) {
  oa_schema *s;
  oa_batch *bs;
  int64_t n;
  oa_error err;
  *rows = *sum = -1;
  if (oa_datasets_snapshot(d, "t", &s, &bs, &n, &err) != 0) return;
  *rows = *sum = 0;
  for (int64_t i = 0; i < n; i++) {
    *rows += bs[i].length;
    for (int64_t r = 0; r < bs[i].length; r++)
      *sum += oa_array_get_int(&s->fields[0], &bs[i].columns[0], r);
  }
  oa_datasets_snapshot_free(s, bs, n);
}

/* Appends `batches` batches of 100 rows (values 0..rows-1), flushes once
 * and returns the segments' row counts. */
static int64_t split_of(int batches, int64_t *seg_rows, int64_t cap,
                        int64_t *compactions) {
  oa_error err_, *err = &err_;
  char dir[64];
  tmpdir(dir);
  oa_store_options o;
  oa_store_options_init(&o);
  o.background = false;
  o.segment_rows = 1000;
  o.partition_ns = 1LL << 62; /* one partition */
  o.compaction_min_segments = 2;
  oa_datasets *d;
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  for (int i = 0; i < batches; i++)
    CHECK_OK(st_append_k(d, "t", 100, i * 100LL, err), err);
  CHECK_OK(oa_datasets_flush(d, err), err);
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  *compactions = st.compactions;
  int64_t n = manifest_rows(dir, seg_rows, cap);
  CHECK_EQ_INT(n, st.segments);
  oa_datasets_free(d);
  /* everything back after a reopen, each row once */
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  int64_t rows, sum, total = batches * 100LL;
  sum_rows(d, &rows, &sum);
  CHECK_EQ_INT(rows, total);
  CHECK_EQ_INT(sum, total * (total - 1) / 2);
  oa_datasets_free(d);
  st_rmrf(dir);
  return n;
}

OA_TEST(test_split_sizes) {
  int64_t r[16], comp;
  /* 900 rows: under a segment, one segment */
  CHECK_EQ_INT(split_of(9, r, 16, &comp), 1);
  CHECK_EQ_INT(r[0], 900);
  /* 1100 rows: within 1/8 over the target, one segment (two halves would
   * sit at the compaction threshold) */
  CHECK_EQ_INT(split_of(11, r, 16, &comp), 1);
  CHECK_EQ_INT(r[0], 1100);
  /* 1200 rows: two of 600 */
  CHECK_EQ_INT(split_of(12, r, 16, &comp), 2);
  CHECK_EQ_INT(r[0], 600);
  CHECK_EQ_INT(r[1], 600);
  /* 1300 rows: 700 (the batch that brings it to 650 or past goes in when
   * that is nearer) and 600, both over half a segment, so that the
   * compaction (min 2 segments under 500 rows) leaves them alone */
  CHECK_EQ_INT(split_of(13, r, 16, &comp), 2);
  CHECK_EQ_INT(r[0], 600);
  CHECK_EQ_INT(r[1], 700);
  CHECK_EQ_INT(comp, 0);
  /* 2600 rows: three of 900, 900 and 800 (batches taken while nearer 867,
   * the last takes the rest), not 1000 + 1000 + 600 and not a fourth sliver */
  CHECK_EQ_INT(split_of(26, r, 16, &comp), 3);
  CHECK_EQ_INT(r[0], 800);
  CHECK_EQ_INT(r[1], 900);
  CHECK_EQ_INT(r[2], 900);
  CHECK_EQ_INT(comp, 0);
  /* 10000 rows: ten segments of exactly 1000 */
  CHECK_EQ_INT(split_of(100, r, 16, &comp), 10);
  CHECK_EQ_INT(r[0], 1000);
  CHECK_EQ_INT(r[9], 1000);
}

static int cmp16(const void *a, const void *b) { return memcmp(a, b, 16); }

/* Span ids (8 bytes) and trace ids (16) of rows, as 16-byte keys: span id
 * then the first 8 bytes of the trace id. */
static int64_t keys_of(const oa_batch *bs, int64_t n, uint8_t *out) {
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++) {
    const oa_array *sid = &bs[i].columns[OA_SPAN_SPAN_ID];
    const oa_array *tid = &bs[i].columns[OA_SPAN_TRACE_ID];
    for (int64_t r = 0; r < bs[i].length; r++, k++) {
      memcpy(out + k * 16, sid->buffers[1].data + (sid->offset + r) * 8, 8);
      memcpy(out + k * 16 + 8, tid->buffers[1].data + (tid->offset + r) * 16,
             8);
    }
  }
  return k;
}

OA_TEST(test_span_batches_split_in_parallel) {
  oa_error err_, *err = &err_;
  char dir[64];
  tmpdir(dir);
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = 6000;
  oa_trace_gen g;
  CHECK_OK(oa_trace_gen_init(&g, &go, err), err);
  oa_batch in[16];
  int n_in = 0;
  int64_t total = 0;
  oa_bytes req;
  oa_bytes_init(&req);
  while (n_in < 16) {
    int64_t ns;
    CHECK_OK(oa_trace_gen_next_request(&g, 400, &req, &ns, err), err);
    if (ns == 0) break;
    oa_batch_init(&in[n_in]);
    CHECK_OK(
        oa_otlp_decode_traces(req.data, req.size, NULL, &in[n_in], NULL, err),
        err);
    total += in[n_in].length;
    n_in++;
  }
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  CHECK(n_in >= 8);
  oa_store_options o;
  oa_store_options_init(&o);
  o.background = false;
  o.segment_rows = 1500;
  o.partition_ns = 1LL << 62;
  o.compaction_min_segments = 0;
  oa_datasets *d;
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  for (int i = 0; i < n_in; i++)
    CHECK_OK(oa_datasets_append(d, "spans", &in[i], err), err);
  CHECK_OK(oa_datasets_flush(d, err), err);
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  CHECK(st.segments >= 2);
  CHECK_EQ_INT(st.segment_rows, total);
  oa_datasets_free(d);

  o.read_only = true;
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  oa_schema *s;
  oa_batch *bs;
  int64_t n;
  CHECK_OK(oa_datasets_snapshot(d, "spans", &s, &bs, &n, err), err);
  /* the same rows (order across segments aside), each valid: dictionary
   * indices shifted right in every segment */
  uint8_t *want = malloc((size_t)total * 16), *got = malloc((size_t)total * 16);
  int64_t rows = 0;
  for (int64_t i = 0; i < n; i++) {
    rows += bs[i].length;
    CHECK_OK(oa_batch_validate(&bs[i], true, err), err);
  }
  CHECK_EQ_INT(rows, total);
  if (rows == total) {
    CHECK_EQ_INT(keys_of(in, n_in, want), total);
    CHECK_EQ_INT(keys_of(bs, n, got), total);
    qsort(want, (size_t)total, 16, cmp16);
    qsort(got, (size_t)total, 16, cmp16);
    CHECK(memcmp(want, got, (size_t)total * 16) == 0);
  }
  oa_datasets_snapshot_free(s, bs, n);
  free(want);
  free(got);
  /* a trace id of every input batch is found, whatever segment holds it */
  for (int i = 0; i < n_in; i++) {
    const oa_array *t = &in[i].columns[OA_SPAN_TRACE_ID];
    const uint8_t *id = t->buffers[1].data + (t->offset + 7) * 16;
    CHECK_OK(oa_datasets_snapshot_filtered(d, "spans", id, 1, INT64_MIN,
                                           INT64_MAX, &s, &bs, &n, err),
             err);
    int64_t m = 0;
    for (int64_t b = 0; b < n; b++) {
      const oa_array *a = &bs[b].columns[OA_SPAN_TRACE_ID];
      for (int64_t r = 0; r < bs[b].length; r++)
        m += memcmp(a->buffers[1].data + (a->offset + r) * 16, id, 16) == 0;
    }
    CHECK(m >= 1);
    oa_datasets_snapshot_free(s, bs, n);
  }
  oa_datasets_store_stats(d, &st);
  CHECK(st.segments_skipped > 0); /* the others were pruned */
  oa_datasets_free(d);
  for (int i = 0; i < n_in; i++)
    oa_batch_reset(&in[i]);
  st_rmrf(dir);
}

OA_TEST_MAIN(OA_T(test_split_sizes), OA_T(test_span_batches_split_in_parallel))
