/* A snapshot of a durable dataset returns the batches as they were
 * appended, whatever part of them a flush (or a compaction, or a restart)
 * moved into segments meanwhile: same order, same batch boundaries. A DoGet
 * that ran while the background flush took the first batches of a DoPut
 * used to get the unflushed batches first and the flushed ones merged into
 * one record batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlparrow/dataset.h"
#include "otlparrow/ipc.h"
#include "store_test_util.h"
#include "test.h"

/* Appends a batch of rows values continuing the sequence at *next. */
static void append_next(oa_datasets *d, int64_t rows, int64_t *next,
                        oa_error *err) {
  oa_schema *s = st_k_schema();
  oa_batch b;
  st_k_batch(&b, s, rows, *next);
  CHECK_OK(oa_datasets_append(d, "gold", &b, err), err);
  oa_batch_reset(&b);
  oa_schema_release(s);
  *next += rows;
}

/* The snapshot holds n_want batches of the lengths want[], and column k
 * counts 0, 1, 2, ... across them. */
static void check_snapshot(oa_datasets *d, const int64_t *want,
                           int64_t n_want) {
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_batch *bs;
  int64_t n;
  CHECK_OK(oa_datasets_snapshot(d, "gold", &s, &bs, &n, err), err);
  CHECK_EQ_INT(n, n_want);
  int64_t k = 0, bad_row = -1;
  for (int64_t i = 0; i < n && i < n_want; i++) {
    CHECK_EQ_INT(bs[i].length, want[i]);
    const oa_array *c = &bs[i].columns[0];
    const int64_t *v = (const int64_t *)c->buffers[1].data + c->offset;
    for (int64_t r = 0; r < bs[i].length; r++, k++)
      if (v[r] != k && bad_row < 0) bad_row = k;
  }
  CHECK_EQ_INT(bad_row, -1);
  oa_datasets_snapshot_free(s, bs, n);
}

static oa_datasets *open_store(const char *dir, int32_t compaction,
                               oa_error *err) {
  oa_store_options o;
  oa_store_options_init(&o);
  o.background = false; /* flushes only when the test says so */
  o.compaction_min_segments = compaction;
  oa_datasets *d = NULL;
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  return d;
}

/* 33 small batches like Arrow's gold decimal256 stream: a flush takes the
 * first three, the rest stays in memory; then everything, then a restart
 * (segments plus a replayed log). */
OA_TEST(test_flush_midway_keeps_order_and_batches) {
  oa_error err_, *err = &err_;
  char dir[64] = "/tmp/oa_snaporder_XXXXXX";
  if (!mkdtemp(dir)) abort();
  oa_datasets *d = open_store(dir, 0, err);
  int64_t want[33], next = 0;
  for (int i = 0; i < 33; i++)
    want[i] = 7 + (i * 5) % 11;
  for (int i = 0; i < 3; i++)
    append_next(d, want[i], &next, err);
  CHECK_OK(oa_datasets_flush(d, err), err);
  for (int i = 3; i < 33; i++)
    append_next(d, want[i], &next, err);
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.segments, 1);
  check_snapshot(d, want, 33); /* 3 in a segment, 30 in memory */
  oa_dataset_info info;
  CHECK_OK(oa_datasets_info(d, "gold", &info, err), err);
  CHECK_EQ_INT(info.n_batches, 33);
  oa_schema_release(info.schema);

  CHECK_OK(oa_datasets_flush(d, err), err);
  check_snapshot(d, want, 33); /* all in segments */
  int64_t more[35];
  memcpy(more, want, sizeof want);
  more[33] = 4;
  more[34] = 9;
  append_next(d, more[33], &next, err);
  append_next(d, more[34], &next, err);
  oa_datasets_free(d);
  d = open_store(dir, 0, err); /* two segments and a log to replay */
  check_snapshot(d, more, 35);
  oa_datasets_free(d);
  st_rmrf(dir);
}

/* A compaction merges the small segments into one that keeps their
 * batches, in place of the first: newer unflushed batches still follow. */
OA_TEST(test_compaction_keeps_order_and_batches) {
  oa_error err_, *err = &err_;
  char dir[64] = "/tmp/oa_snaporder_XXXXXX";
  if (!mkdtemp(dir)) abort();
  oa_datasets *d = open_store(dir, 3, err);
  int64_t want[12], next = 0;
  for (int i = 0; i < 12; i++)
    want[i] = 3 + i;
  int w = 0;
  for (int f = 0; f < 3; f++) { /* three small segments of three batches */
    for (int i = 0; i < 3; i++)
      append_next(d, want[w++], &next, err);
    CHECK_OK(oa_datasets_flush(d, err), err);
  }
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.compactions, 1);
  CHECK_EQ_INT(st.segments, 1);
  for (int i = 0; i < 3; i++)
    append_next(d, want[w++], &next, err);
  check_snapshot(d, want, 12);
  oa_datasets_free(d);
  d = open_store(dir, 3, err);
  check_snapshot(d, want, 12);
  oa_datasets_free(d);
  st_rmrf(dir);
}

/* Reads the batches of an Arrow gold stream (OA_SHARED_DIR); 0 when the
 * file is not there. */
static int64_t read_gold(const char *file, oa_batch *out, int64_t max) {
  const char *shared = getenv("OA_SHARED_DIR");
  char path[1024];
  snprintf(path, sizeof path,
           "%s/arrow-testing/integration/1.0.0-littleendian/%s",
           shared ? shared : "../shared", file);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "skipped: no %s\n", path);
    return 0;
  }
  static char buf[1 << 20];
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  oa_error err_, *err = &err_;
  oa_ipc_stream_reader *r = NULL;
  CHECK_OK(oa_ipc_stream_reader_new(&r, NULL, err), err);
  CHECK_OK(oa_ipc_stream_reader_push(r, buf, (int64_t)len, err), err);
  int64_t n = 0;
  for (bool got = true; got && n < max;) {
    oa_batch_init(&out[n]);
    CHECK_OK(oa_ipc_stream_reader_next(r, &out[n], &got, err), err);
    if (got) n++;
  }
  oa_ipc_stream_reader_free(r);
  return n;
}

/* Each gold stream as a dataset, flushed into segments and read back after
 * a restart: the same batches. A nested dictionary, whose dictionaries the
 * store cannot merge across batches, used to fail every flush of the whole
 * store (all or nothing), for good. */
OA_TEST(test_gold_streams_through_segments) {
  static const char *const files[] = {
      "generated_nested_dictionary.stream", "generated_decimal256.stream",
      "generated_dictionary.stream", "generated_union.stream"};
  oa_error err_, *err = &err_;
  char dir[64] = "/tmp/oa_snaporder_XXXXXX";
  if (!mkdtemp(dir)) abort();
  oa_datasets *d = open_store(dir, 0, err);
  enum { NF = sizeof files / sizeof files[0], MAXB = 64 };
  static oa_batch want[NF][MAXB];
  int64_t nw[NF];
  for (int f = 0; f < NF; f++) {
    nw[f] = read_gold(files[f], want[f], MAXB);
    for (int64_t i = 0; i < nw[f]; i++)
      CHECK_OK(oa_datasets_append(d, files[f], &want[f][i], err), err);
  }
  CHECK_OK(oa_datasets_flush(d, err), err);
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.unflushed_bytes, 0);
  oa_datasets_free(d);
  d = open_store(dir, 0, err);
  for (int f = 0; f < NF; f++) {
    if (!nw[f]) continue;
    oa_schema *s;
    oa_batch *bs;
    int64_t n;
    CHECK_OK(oa_datasets_snapshot(d, files[f], &s, &bs, &n, err), err);
    CHECK_EQ_INT(n, nw[f]);
    for (int64_t i = 0; i < n && i < nw[f]; i++) {
      bool eq = oa_batch_equals(&bs[i], &want[f][i], err);
      if (!eq)
        fprintf(stderr, "%s batch %lld: %s\n", files[f], (long long)i,
                err->message);
      CHECK(eq);
    }
    oa_datasets_snapshot_free(s, bs, n);
    for (int64_t i = 0; i < nw[f]; i++)
      oa_batch_reset(&want[f][i]);
  }
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.wal_records_replayed, 0); /* all of it from segments */
  oa_datasets_free(d);
  st_rmrf(dir);
}

OA_TEST_MAIN(OA_T(test_flush_midway_keeps_order_and_batches),
             OA_T(test_compaction_keeps_order_and_batches),
             OA_T(test_gold_streams_through_segments))
