/* The durable store: log replay after a crash (the directory copied while
 * the writer runs stands for the disk after SIGKILL), torn log tails at
 * every byte, corrupt segments, batch-id dedup across restarts, bloom and
 * time pruning, compaction, retention, read-only snapshots, the lock, and
 * real span batches (per-batch dictionaries) through segments. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "otlparrow/dataset.h"
#include "otlparrow/otlp.h"
#include "store/store_internal.h"
#include "store_test_util.h"
#include "test.h"

static void tmpdir(char *out) {
  strcpy(out, "/tmp/oa_store_XXXXXX");
  if (!mkdtemp(out)) abort();
}

static void sh(const char *fmt, const char *a, const char *b) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, fmt, a, b);
  if (system(cmd) != 0) fprintf(stderr, "command failed: %s\n", cmd);
}

static void rmrf(const char *dir) { sh("rm -rf '%s'%s", dir, ""); }

/* The disk as a crash would leave it: the files as they are now. */
static void crash_copy(const char *from, const char *to) {
  sh("rm -rf '%s' && mkdir -p '%s'", to, to);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cp -a '%s'/. '%s'/", from, to);
  if (system(cmd) != 0) fprintf(stderr, "copy failed\n");
}

static void options(oa_store_options *o) {
  oa_store_options_init(o);
  o->background = false; /* flushes only when the test says so */
  o->compaction_min_segments = 0;
}

/* A store in a fresh directory with options(); copy (if not NULL) gets the
 * path its crash copies go to. */
static oa_datasets *open_fresh(char dir[64], char copy[80], oa_store_options *o,
                               oa_error *err) {
  tmpdir(dir);
  if (copy) snprintf(copy, 80, "%s.crash", dir);
  options(o);
  oa_datasets *d = NULL;
  CHECK_OK(oa_datasets_open(&d, dir, o, 0, err), err);
  return d;
}

/* Frees the store and removes its directory and crash copy. */
static void close_and_remove(oa_datasets *d, const char *dir,
                             const char *copy) {
  oa_datasets_free(d);
  rmrf(dir);
  if (copy) rmrf(copy);
}

static int append_k(oa_datasets *d, const char *name, int64_t rows, int64_t k,
                    const char *id, int *dup, oa_error *err) {
  oa_schema *s = st_k_schema();
  oa_batch b;
  st_k_batch(&b, s, rows, k);
  int rc = oa_datasets_append_id(d, name, &b, id, dup, err);
  oa_batch_reset(&b);
  oa_schema_release(s);
  return rc;
}

/* Rows and sum of column 0 over the snapshot. */
static void count(oa_datasets *d, const char *name, int64_t *rows,
                  int64_t *sum) {
  oa_schema *s;
  oa_batch *bs;
  int64_t n;
  oa_error err;
  *rows = *sum = -1;
  if (oa_datasets_snapshot(d, name, &s, &bs, &n, &err) != 0) {
    fprintf(stderr, "snapshot: %s\n", err.message);
    return;
  }
  *rows = *sum = 0;
  for (int64_t i = 0; i < n; i++) {
    *rows += bs[i].length;
    for (int64_t r = 0; r < bs[i].length; r++)
      *sum += oa_array_get_int(&s->fields[0], &bs[i].columns[0], r);
  }
  oa_datasets_snapshot_free(s, bs, n);
}

static int64_t sum_range(int64_t k, int64_t rows) {
  return rows * k + rows * (rows - 1) / 2;
}

static int count_files(const char *dir, const char *prefix,
                       const char *suffix) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '^%s.*%s$'", dir, prefix,
           suffix);
  FILE *p = popen(cmd, "r");
  int n = 0;
  if (p) {
    if (fscanf(p, "%d", &n) != 1) n = 0;
    pclose(p);
  }
  return n;
}

OA_TEST(test_wal_round_trip_after_crash) {
  oa_error err_, *err = &err_;
  char dir[64], copy[80];
  oa_store_options o;
  oa_datasets *d = open_fresh(dir, copy, &o, err);
  for (int i = 0; i < 5; i++)
    CHECK_OK(append_k(d, "t", 100, i * 1000, NULL, NULL, err), err);
  crash_copy(dir, copy); /* nothing flushed: all in the log */
  CHECK_EQ_INT(count_files(copy, "seg-", ".arrow"), 0);
  oa_datasets *r;
  CHECK_OK(oa_datasets_open(&r, copy, &o, 0, err), err);
  int64_t rows, sum;
  count(r, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 500);
  int64_t want = 0;
  for (int i = 0; i < 5; i++)
    want += sum_range(i * 1000, 100);
  CHECK_EQ_INT(sum, want);
  oa_store_stats st;
  oa_datasets_store_stats(r, &st);
  CHECK_EQ_INT(st.wal_records_replayed, 5);
  CHECK_EQ_INT(st.wal_torn, 0);
  oa_datasets_free(r);
  oa_datasets_free(d);
  /* a clean close flushed: the reopened store reads segments */
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  count(d, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 500);
  CHECK_EQ_INT(sum, want);
  oa_datasets_store_stats(d, &st);
  CHECK(st.segments >= 1);
  CHECK_EQ_INT(st.wal_records_replayed, 0);
  close_and_remove(d, dir, copy);
}

OA_TEST(test_torn_tail_every_offset) {
  oa_error err_, *err = &err_;
  char dir[64], copy[80];
  oa_store_options o;
  oa_datasets *d = open_fresh(dir, copy, &o, err);
  CHECK_OK(append_k(d, "t", 10, 0, "a", NULL, err), err);
  CHECK_OK(append_k(d, "t", 10, 100, "b", NULL, err), err);
  char src[96];
  snprintf(src, sizeof src, "%s.full", dir);
  crash_copy(dir, src);
  oa_datasets_free(d);
  /* find the log and the offset of its last record */
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ls %s | grep '^wal-'", src);
  FILE *p = popen(cmd, "r");
  char wal[128] = "";
  if (fscanf(p, "%127s", wal) != 1) wal[0] = 0;
  pclose(p);
  char wp[256];
  snprintf(wp, sizeof wp, "%s/%s", src, wal);
  oa_bytes b;
  oa_bytes_init(&b);
  FILE *f = fopen(wp, "rb");
  CHECK(f != NULL);
  if (!f) return;
  uint8_t buf[1 << 16];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0)
    oa_bytes_append(&b, buf, (int64_t)got);
  fclose(f);
  int64_t valid, torn;
  int64_t offs[8], n_off = 0;
  /* record starts, by scanning prefixes */
  CHECK_OK(oa_store_wal_scan_(b.data, b.size, NULL, NULL, &valid, &torn, err),
           err);
  CHECK_EQ_INT(valid, b.size);
  for (int64_t cut = 1; cut <= b.size && n_off < 8; cut++) {
    oa_store_wal_scan_(b.data, cut, NULL, NULL, &valid, &torn, err);
    if (valid == cut) offs[n_off++] = cut;
  }
  CHECK_EQ_INT(n_off, 2);
  int64_t last = offs[0];
  /* the log was all the directory held (no flush yet): a fresh directory
   * with the log cut at `cut` is the disk after a crash mid-write */
  sh("mkdir -p '%s'%s", copy, "");
  for (int64_t cut = last; cut < b.size; cut++) {
    char cdir[128], cp[300];
    snprintf(cdir, sizeof cdir, "%s/%lld", copy, (long long)cut);
    CHECK(mkdir(cdir, 0755) == 0);
    snprintf(cp, sizeof cp, "%s/%s", cdir, wal);
    FILE *wf = fopen(cp, "wb");
    CHECK(wf && fwrite(b.data, 1, (size_t)cut, wf) == (size_t)cut);
    if (wf) fclose(wf);
    oa_datasets *r;
    CHECK_OK(oa_datasets_open(&r, cdir, &o, 0, err), err);
    int64_t rows, sum;
    count(r, "t", &rows, &sum);
    if (rows != 10 || sum != sum_range(0, 10))
      fprintf(stderr, "cut at %lld of %lld\n", (long long)cut,
              (long long)b.size);
    CHECK_EQ_INT(rows, 10);
    oa_store_stats st;
    oa_datasets_store_stats(r, &st);
    CHECK_EQ_INT(st.wal_torn, cut > last ? 1 : 0);
    /* the torn batch's id is free again: a retry is stored */
    int dup = -1;
    CHECK_OK(append_k(r, "t", 10, 100, "b", &dup, err), err);
    CHECK_EQ_INT(dup, 0);
    CHECK_OK(append_k(r, "t", 10, 0, "a", &dup, err), err);
    CHECK_EQ_INT(dup, 1);
    oa_datasets_free(r);
  }
  /* a flipped byte inside the last record is caught by its checksum */
  crash_copy(src, copy);
  char cp[256];
  snprintf(cp, sizeof cp, "%s/%s", copy, wal);
  int fd = open(cp, O_WRONLY);
  uint8_t x = (uint8_t)(b.data[b.size - 3] ^ 0x40);
  CHECK(pwrite(fd, &x, 1, b.size - 3) == 1);
  close(fd);
  oa_datasets *r;
  CHECK_OK(oa_datasets_open(&r, copy, &o, 0, err), err);
  int64_t rows, sum;
  count(r, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 10);
  oa_datasets_free(r);
  oa_bytes_reset(&b);
  rmrf(dir);
  rmrf(copy);
  rmrf(src);
}

OA_TEST(test_corrupt_segment_skipped) {
  oa_error err_, *err = &err_;
  char dir[64];
  oa_store_options o;
  oa_datasets *d = open_fresh(dir, NULL, &o, err);
  CHECK_OK(append_k(d, "t", 100, 0, NULL, NULL, err), err);
  CHECK_OK(oa_datasets_flush(d, err), err);
  CHECK_OK(append_k(d, "t", 50, 7, NULL, NULL, err), err);
  CHECK_OK(oa_datasets_flush(d, err), err);
  oa_datasets_free(d);
  CHECK_EQ_INT(count_files(dir, "seg-", ".arrow"), 2);
  /* damage the first segment: keep its head, drop the footer */
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "f=$(ls %s/seg-*.arrow | head -1); truncate -s 100 \"$f\"", dir);
  CHECK(system(cmd) == 0);
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  int64_t rows, sum;
  count(d, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 50);
  CHECK_EQ_INT(sum, sum_range(7, 50));
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.segments_corrupt, 1);
  /* still usable */
  CHECK_OK(append_k(d, "t", 5, 0, NULL, NULL, err), err);
  count(d, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 55);
  close_and_remove(d, dir, NULL);
}

OA_TEST(test_recovery_segments_plus_log) {
  oa_error err_, *err = &err_;
  char dir[64], copy[80];
  oa_store_options o;
  oa_datasets *d = open_fresh(dir, copy, &o, err);
  CHECK_OK(append_k(d, "a", 100, 0, NULL, NULL, err), err);
  CHECK_OK(append_k(d, "b", 20, 5, NULL, NULL, err), err);
  CHECK_OK(oa_datasets_flush(d, err), err);
  CHECK_EQ_INT(oa_datasets_memory_used(d), 0);
  CHECK_OK(append_k(d, "a", 30, 1000, NULL, NULL, err), err);
  CHECK(oa_datasets_memory_used(d) > 0);
  crash_copy(dir, copy);
  oa_datasets *r;
  CHECK_OK(oa_datasets_open(&r, copy, &o, 0, err), err);
  int64_t rows, sum;
  count(r, "a", &rows, &sum);
  CHECK_EQ_INT(rows, 130);
  CHECK_EQ_INT(sum, sum_range(0, 100) + sum_range(1000, 30));
  count(r, "b", &rows, &sum);
  CHECK_EQ_INT(rows, 20);
  oa_dataset_info info;
  CHECK_OK(oa_datasets_info(r, "a", &info, err), err);
  CHECK_EQ_INT(info.n_rows, 130);
  oa_schema_release(info.schema);
  /* drop is durable too */
  CHECK_OK(oa_datasets_drop(r, "b", err), err);
  oa_datasets_free(r);
  CHECK_OK(oa_datasets_open(&r, copy, &o, 0, err), err);
  CHECK_FAILS(oa_datasets_info(r, "b", &info, err), ENOENT, err,
              "does not exist");
  count(r, "a", &rows, &sum);
  CHECK_EQ_INT(rows, 130);
  oa_datasets_free(r);
  close_and_remove(d, dir, copy);
}

OA_TEST(test_dedup_across_reopen) {
  oa_error err_, *err = &err_;
  char dir[64], copy[80];
  oa_store_options o;
  oa_datasets *d = open_fresh(dir, copy, &o, err);
  int dup = -1;
  CHECK_OK(append_k(d, "t", 10, 0, "batch-1", &dup, err), err);
  CHECK_EQ_INT(dup, 0);
  CHECK_OK(append_k(d, "t", 10, 0, "batch-1", &dup, err), err);
  CHECK_EQ_INT(dup, 1);
  CHECK_OK(oa_datasets_flush(d, err), err); /* batch-1 now in a segment */
  CHECK_OK(append_k(d, "t", 10, 0, "batch-2", &dup, err), err);
  CHECK_EQ_INT(dup, 0);
  /* the same id in another dataset is another batch */
  CHECK_OK(append_k(d, "u", 10, 0, "batch-1", &dup, err), err);
  CHECK_EQ_INT(dup, 0);
  CHECK_FAILS(append_k(d, "t", 1, 0, "", &dup, err), EINVAL, err, "batch id");
  crash_copy(dir, copy);
  oa_datasets *r;
  CHECK_OK(oa_datasets_open(&r, copy, &o, 0, err), err);
  CHECK_OK(append_k(r, "t", 10, 0, "batch-1", &dup, err), err);
  CHECK_EQ_INT(dup, 1);
  CHECK_OK(append_k(r, "t", 10, 0, "batch-2", &dup, err), err);
  CHECK_EQ_INT(dup, 1);
  CHECK_OK(append_k(r, "t", 10, 0, "batch-3", &dup, err), err);
  CHECK_EQ_INT(dup, 0);
  int64_t rows, sum;
  count(r, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 30);
  oa_store_stats st;
  oa_datasets_store_stats(r, &st);
  CHECK_EQ_INT(st.duplicates, 2);
  oa_datasets_free(r);
  /* and after a clean close (everything in segments) */
  CHECK_OK(oa_datasets_open(&r, copy, &o, 0, err), err);
  CHECK_OK(append_k(r, "t", 10, 0, "batch-3", &dup, err), err);
  CHECK_EQ_INT(dup, 1);
  count(r, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 30);
  oa_datasets_free(r);
  close_and_remove(d, dir, copy);
}

/* A batch of the span-like schema: trace ids {tid_byte, i}, start times
 * t0 + i. */
static oa_schema *tid_schema(void) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f;
  oa_field_init(&f, "trace_id", OA_TYPE_FIXED_SIZE_BINARY, NULL);
  f.type.byte_width = 16;
  oa_schema_add_field(s, &f, NULL);
  oa_field_init(&f, "start_time", OA_TYPE_TIMESTAMP, NULL);
  f.type.unit = OA_TIME_UNIT_NANO;
  oa_schema_add_field(s, &f, NULL);
  return s;
}

static void tid(uint8_t out[16], int64_t seg, int64_t i) {
  memset(out, 0, 16);
  memcpy(out, &seg, 8);
  memcpy(out + 8, &i, 8);
}

static void tid_batch(oa_batch *b, oa_schema *s, int64_t seg, int64_t rows,
                      int64_t t0) {
  oa_region *r1 = oa_region_alloc(rows * 16), *r2 = oa_region_alloc(rows * 8);
  for (int64_t i = 0; i < rows; i++) {
    tid(r1->data + i * 16, seg, i);
    ((int64_t *)r2->data)[i] = t0 + i;
  }
  oa_array c[2];
  oa_array_init(&c[0]);
  oa_array_init(&c[1]);
  c[0].length = c[1].length = rows;
  c[0].null_count = c[1].null_count = 0;
  c[0].n_buffers = c[1].n_buffers = 2;
  c[0].buffers[1] = (oa_buffer){r1->data, rows * 16, r1};
  c[1].buffers[1] = (oa_buffer){r2->data, rows * 8, r2};
  oa_batch_init(b);
  oa_batch_set(b, s, rows, c, NULL);
}

static int64_t rows_matching(oa_batch *bs, int64_t n, const uint8_t id[16]) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t r = 0; r < bs[i].length; r++)
      if (memcmp(bs[i].columns[0].buffers[1].data +
                     (bs[i].columns[0].offset + r) * 16,
                 id, 16) == 0)
        m++;
  return m;
}

OA_TEST(test_bloom_and_time_pruning) {
  oa_error err_, *err = &err_;
  char dir[64];
  oa_store_options o;
  oa_datasets *d = open_fresh(dir, NULL, &o, err);
  oa_schema *s = tid_schema();
  const int64_t hour = 3600LL * 1000000000LL;
  for (int64_t g = 0; g < 8; g++) {
    oa_batch b;
    tid_batch(&b, s, g, 1000, g * hour); /* one partition each */
    CHECK_OK(oa_datasets_append(d, "spans", &b, err), err);
    oa_batch_reset(&b);
    CHECK_OK(oa_datasets_flush(d, err), err);
  }
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.segments, 8);
  CHECK_EQ_INT(count_files(dir, "seg-", ".bloom"), 8);
  uint8_t want[16];
  tid(want, 5, 123);
  oa_schema *rs;
  oa_batch *bs;
  int64_t n;
  CHECK_OK(oa_datasets_snapshot_filtered(d, "spans", want, 1, INT64_MIN,
                                         INT64_MAX, &rs, &bs, &n, err),
           err);
  CHECK_EQ_INT(rows_matching(bs, n, want), 1);
  oa_datasets_store_stats(d, &st);
  /* 7 segments cannot hold it; a false positive is possible but rare */
  CHECK(st.segments_opened <= 2);
  CHECK_EQ_INT(st.segments_opened + st.segments_skipped, 8);
  oa_datasets_snapshot_free(rs, bs, n);
  /* an id nowhere: (almost) nothing opened */
  uint8_t none[16];
  tid(none, 99, 1);
  CHECK_OK(oa_datasets_snapshot_filtered(d, "spans", none, 1, INT64_MIN,
                                         INT64_MAX, &rs, &bs, &n, err),
           err);
  CHECK_EQ_INT(rows_matching(bs, n, none), 0);
  oa_datasets_snapshot_free(rs, bs, n);
  /* time range: hours 2 and 3 only */
  oa_store_stats before;
  oa_datasets_store_stats(d, &before);
  CHECK_OK(oa_datasets_snapshot_filtered(d, "spans", NULL, 0, 2 * hour + 500,
                                         3 * hour + 10, &rs, &bs, &n, err),
           err);
  int64_t rows = 0;
  for (int64_t i = 0; i < n; i++)
    rows += bs[i].length;
  CHECK_EQ_INT(rows, 2000);
  oa_datasets_snapshot_free(rs, bs, n);
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.segments_opened - before.segments_opened, 2);
  CHECK_EQ_INT(st.segments_skipped - before.segments_skipped, 6);
  oa_datasets_free(d);
  /* blooms survive a reopen */
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  CHECK_OK(oa_datasets_snapshot_filtered(d, "spans", want, 1, INT64_MIN,
                                         INT64_MAX, &rs, &bs, &n, err),
           err);
  CHECK_EQ_INT(rows_matching(bs, n, want), 1);
  oa_datasets_store_stats(d, &st);
  CHECK(st.segments_skipped >= 6);
  oa_datasets_snapshot_free(rs, bs, n);
  oa_datasets_free(d);
  oa_schema_release(s);
  rmrf(dir);
}

/* A segment of several record batches: a lookup decodes only the one whose
 * bloom filter holds the id. */
OA_TEST(test_lookup_reads_one_record_batch) {
  oa_error err_, *err = &err_;
  char dir[64];
  oa_store_options o;
  oa_datasets *d = open_fresh(dir, NULL, &o, err);
  oa_schema *s = tid_schema();
  for (int64_t g = 0; g < 3; g++) {
    oa_batch b;
    tid_batch(&b, s, 100 + g, 16384, 1000 + g);
    CHECK_OK(oa_datasets_append(d, "spans", &b, err), err);
    oa_batch_reset(&b);
  }
  CHECK_OK(oa_datasets_flush(d, err), err);
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.segments, 1);
  oa_dataset_info info;
  CHECK_OK(oa_datasets_info(d, "spans", &info, err), err);
  CHECK_EQ_INT(info.n_batches, 3);
  CHECK_EQ_INT(info.n_rows, 3 * 16384);
  oa_schema_release(info.schema);
  uint8_t want[16];
  tid(want, 101, 77);
  oa_schema *rs;
  oa_batch *bs;
  int64_t n;
  CHECK_OK(oa_datasets_snapshot_filtered(d, "spans", want, 1, INT64_MIN,
                                         INT64_MAX, &rs, &bs, &n, err),
           err);
  CHECK_EQ_INT(n, 1);
  CHECK_EQ_INT(n ? bs[0].length : 0, 16384);
  CHECK_EQ_INT(rows_matching(bs, n, want), 1);
  oa_datasets_snapshot_free(rs, bs, n);
  CHECK_OK(oa_datasets_snapshot(d, "spans", &rs, &bs, &n, err), err);
  CHECK_EQ_INT(n, 3);
  oa_datasets_snapshot_free(rs, bs, n);
  oa_datasets_free(d);
  oa_schema_release(s);
  rmrf(dir);
}

OA_TEST(test_compaction) {
  oa_error err_, *err = &err_;
  char dir[64];
  tmpdir(dir);
  oa_store_options o;
  options(&o);
  o.compaction_min_segments = 3;
  o.segment_rows = 1000;
  oa_datasets *d;
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  char id[16];
  for (int i = 0; i < 3; i++) {
    snprintf(id, sizeof id, "id-%d", i);
    CHECK_OK(append_k(d, "t", 100, i * 100, id, NULL, err), err);
    CHECK_OK(oa_datasets_flush(d, err), err);
  }
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.compactions, 1);
  CHECK_EQ_INT(st.segments, 1);
  CHECK_EQ_INT(st.segment_rows, 300);
  CHECK_EQ_INT(count_files(dir, "seg-", ".arrow"), 1);
  int64_t rows, sum;
  count(d, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 300);
  CHECK_EQ_INT(sum, sum_range(0, 300));
  oa_datasets_free(d);
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  int dup = 0;
  CHECK_OK(append_k(d, "t", 100, 0, "id-1", &dup, err), err);
  CHECK_EQ_INT(dup, 1); /* ids moved to the merged segment */
  count(d, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 300);
  close_and_remove(d, dir, NULL);
}

OA_TEST(test_retention) {
  oa_error err_, *err = &err_;
  char dir[64];
  tmpdir(dir);
  oa_store_options o;
  options(&o);
  oa_datasets *d;
  /* by size: keep the newest segments under the limit */
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  for (int i = 0; i < 4; i++) {
    char id[16];
    snprintf(id, sizeof id, "r%d", i);
    CHECK_OK(append_k(d, "t", 1000, i * 1000, id, NULL, err), err);
    CHECK_OK(oa_datasets_flush(d, err), err);
  }
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.segments, 4);
  int64_t one = st.segment_bytes / 4;
  oa_datasets_free(d);
  o.retention_bytes = one * 2 + one / 2;
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  CHECK_OK(oa_datasets_flush(d, err), err);
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.segments, 2);
  CHECK_EQ_INT(st.segments_expired, 2);
  int64_t rows, sum;
  count(d, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 2000);
  CHECK_EQ_INT(sum, sum_range(2000, 2000)); /* the oldest two went */
  int dup = 0;
  CHECK_OK(append_k(d, "t", 1, 0, "r0", &dup, err), err);
  CHECK_EQ_INT(dup, 0); /* its id went with it */
  oa_datasets_free(d);
  CHECK_EQ_INT(count_files(dir, "seg-", ".arrow"), 3);
  /* by age: span start times far in the past */
  o.retention_bytes = 0;
  o.retention_age_ns = 24 * 3600LL * 1000000000LL;
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  oa_schema *s = tid_schema();
  oa_batch b;
  tid_batch(&b, s, 1, 10, 1000); /* 1970 */
  CHECK_OK(oa_datasets_append(d, "spans", &b, err), err);
  oa_batch_reset(&b);
  CHECK_OK(oa_datasets_flush(d, err), err);
  oa_schema *rs;
  oa_batch *bs;
  int64_t n;
  CHECK_OK(oa_datasets_snapshot(d, "spans", &rs, &bs, &n, err), err);
  CHECK_EQ_INT(n, 0);
  oa_datasets_snapshot_free(rs, bs, n);
  count(d, "t", &rows, &sum); /* arrival time: now, kept */
  CHECK_EQ_INT(rows, 2001);
  oa_datasets_free(d);
  oa_schema_release(s);
  rmrf(dir);
}

OA_TEST(test_read_only_and_lock) {
  oa_error err_, *err = &err_;
  char dir[64];
  tmpdir(dir);
  oa_store_options o;
  options(&o);
  oa_datasets *w;
  CHECK_OK(oa_datasets_open(&w, dir, &o, 0, err), err);
  CHECK_OK(append_k(w, "t", 100, 0, NULL, NULL, err), err);
  CHECK_OK(oa_datasets_flush(w, err), err);
  CHECK_OK(append_k(w, "t", 10, 500, NULL, NULL, err), err);
  oa_datasets *w2;
  CHECK_FAILS(oa_datasets_open(&w2, dir, &o, 0, err), EBUSY, err,
              "in use by another process");
  oa_store_options ro = o;
  ro.read_only = true;
  oa_datasets *r;
  CHECK_OK(oa_datasets_open(&r, dir, &ro, 0, err), err);
  int64_t rows, sum;
  count(r, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 110);
  CHECK_EQ_INT(sum, sum_range(0, 100) + sum_range(500, 10));
  CHECK_FAILS(append_k(r, "t", 1, 0, NULL, NULL, err), EROFS, err, "read-only");
  /* the writer moves on (flush, compaction of files) : the snapshot holds */
  CHECK_OK(append_k(w, "t", 10, 0, NULL, NULL, err), err);
  CHECK_OK(oa_datasets_flush(w, err), err);
  count(r, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 110);
  oa_datasets_free(r);
  oa_datasets_free(w);
  /* the lock goes with the writer */
  CHECK_OK(oa_datasets_open(&w2, dir, &o, 0, err), err);
  count(w2, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 120);
  oa_datasets_free(w2);
  rmrf(dir);
  /* read-only of a missing directory */
  CHECK_FAILS(oa_datasets_open(&r, "/nonexistent/oa_store", &ro, 0, err),
              ENOENT, err, "no directory");
}

OA_TEST(test_memory_limit_counts_unflushed) {
  oa_error err_, *err = &err_;
  char dir[64];
  tmpdir(dir);
  oa_store_options o;
  options(&o);
  oa_datasets *d;
  CHECK_OK(oa_datasets_open(&d, dir, &o, 4096, err), err);
  CHECK_OK(append_k(d, "t", 256, 0, NULL, NULL, err), err); /* 2 KiB */
  CHECK_FAILS(append_k(d, "t", 300, 0, NULL, NULL, err), EAGAIN, err,
              "memory limit");
  CHECK_OK(oa_datasets_flush(d, err), err);
  CHECK_EQ_INT(oa_datasets_memory_used(d), 0);
  CHECK_OK(append_k(d, "t", 300, 0, NULL, NULL, err), err);
  close_and_remove(d, dir, NULL);
}

/* Real span batches: per-batch dictionaries merged into one segment. */
OA_TEST(test_span_batches_through_segments) {
  oa_error err_, *err = &err_;
  char dir[64];
  tmpdir(dir);
  oa_trace_gen_options go;
  oa_trace_gen_options_default(&go);
  go.spans = 3000;
  oa_trace_gen g;
  CHECK_OK(oa_trace_gen_init(&g, &go, err), err);
  oa_batch in[8];
  int n_in = 0;
  oa_bytes req;
  oa_bytes_init(&req);
  for (;;) {
    int64_t ns;
    CHECK_OK(oa_trace_gen_next_request(&g, 500, &req, &ns, err), err);
    if (ns == 0 || n_in == 8) break;
    oa_batch_init(&in[n_in]);
    CHECK_OK(
        oa_otlp_decode_traces(req.data, req.size, NULL, &in[n_in], NULL, err),
        err);
    n_in++;
  }
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  CHECK(n_in >= 4);
  oa_store_options o;
  options(&o);
  o.partition_ns = 1LL << 62; /* one partition: one segment */
  oa_datasets *d;
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  for (int i = 0; i < n_in; i++)
    CHECK_OK(oa_datasets_append(d, "spans", &in[i], err), err);
  CHECK_OK(oa_datasets_flush(d, err), err);
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  CHECK_EQ_INT(st.segments, 1);
  oa_datasets_free(d);
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  oa_schema *s;
  oa_batch *bs;
  int64_t n;
  CHECK_OK(oa_datasets_snapshot(d, "spans", &s, &bs, &n, err), err);
  /* the batches were merged into record batches of up to 16K rows: the
   * rows, in order, equal the input's (dictionaries looked through) */
  int64_t total = 0;
  for (int i = 0; i < n_in; i++)
    total += in[i].length;
  CHECK_EQ_INT(n, 1);
  CHECK_EQ_INT(n ? bs[0].length : 0, total);
  int64_t at = 0;
  for (int i = 0; n == 1 && i < n_in && at + in[i].length <= bs[0].length;
       i++) {
    oa_batch piece;
    CHECK_OK(oa_batch_slice(&piece, &bs[0], at, in[i].length, err), err);
    err->message[0] = 0;
    bool eq = oa_batch_equals(&in[i], &piece, err);
    if (!eq) fprintf(stderr, "batch %d: %s\n", i, err->message);
    CHECK(eq);
    CHECK_OK(oa_batch_validate(&piece, true, err), err);
    oa_batch_reset(&piece);
    at += in[i].length;
  }
  oa_datasets_snapshot_free(s, bs, n);
  /* lookup of a trace id of batch 2 */
  const uint8_t *id = in[2].columns[OA_SPAN_TRACE_ID].buffers[1].data +
                      in[2].columns[OA_SPAN_TRACE_ID].offset * 16;
  CHECK_OK(oa_datasets_snapshot_filtered(d, "spans", id, 1, INT64_MIN,
                                         INT64_MAX, &s, &bs, &n, err),
           err);
  CHECK(rows_matching(bs, n, id) >= 1);
  oa_datasets_snapshot_free(s, bs, n);
  oa_datasets_free(d);
  for (int i = 0; i < n_in; i++)
    oa_batch_reset(&in[i]);
  rmrf(dir);
}

OA_TEST(test_background_flush_and_interval) {
  oa_error err_, *err = &err_;
  char dir[64];
  tmpdir(dir);
  oa_store_options o;
  oa_store_options_init(&o);
  o.fsync = OA_FSYNC_INTERVAL;
  o.fsync_interval_ms = 10;
  o.flush_interval_ms = 50;
  oa_datasets *d;
  CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
  for (int i = 0; i < 20; i++)
    CHECK_OK(append_k(d, "t", 10, i * 10, NULL, NULL, err), err);
  oa_store_stats st;
  for (int i = 0; i < 200; i++) {
    usleep(10000);
    oa_datasets_store_stats(d, &st);
    if (st.segments > 0 && st.unflushed_bytes == 0) break;
  }
  CHECK(st.segments > 0);
  CHECK_EQ_INT(st.unflushed_bytes, 0);
  CHECK_EQ_INT(st.flush_errors, 0);
  int64_t rows, sum;
  count(d, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 200);
  CHECK_EQ_INT(sum, sum_range(0, 200));
  oa_datasets_free(d);
  CHECK_EQ_INT(count_files(dir, "wal-", ".log"), 1);
  rmrf(dir);
}

OA_TEST(test_in_memory_ids) {
  oa_error err_, *err = &err_;
  oa_datasets *d;
  CHECK_OK(oa_datasets_open(&d, NULL, NULL, 0, err), err);
  int dup = 0;
  CHECK_OK(append_k(d, "t", 10, 0, "x", &dup, err), err);
  CHECK_OK(append_k(d, "t", 10, 0, "x", &dup, err), err);
  CHECK_EQ_INT(dup, 1);
  CHECK_OK(oa_datasets_flush(d, err), err); /* no-op */
  int64_t rows, sum;
  count(d, "t", &rows, &sum);
  CHECK_EQ_INT(rows, 10);
  oa_datasets_free(d);
}

OA_TEST(test_empty_dataset_survives_restarts) {
  oa_error err_, *err = &err_;
  char dir[64];
  tmpdir(dir);
  oa_store_options o;
  options(&o);
  oa_schema *s = st_k_schema();
  for (int round = 0; round < 4; round++) {
    oa_datasets *d;
    CHECK_OK(oa_datasets_open(&d, dir, &o, 0, err), err);
    CHECK_OK(oa_datasets_create(d, "empty", s, err), err); /* idempotent */
    oa_dataset_info info;
    CHECK_OK(oa_datasets_info(d, "empty", &info, err), err);
    CHECK_EQ_INT(info.n_rows, 0);
    oa_schema_release(info.schema);
    oa_datasets_free(d);
    /* the create went into the manifest: logs do not pile up */
    CHECK(count_files(dir, "wal-", ".log") <= 1);
  }
  oa_schema_release(s);
  rmrf(dir);
}

OA_TEST_MAIN(OA_T(test_wal_round_trip_after_crash),
             OA_T(test_torn_tail_every_offset),
             OA_T(test_corrupt_segment_skipped),
             OA_T(test_recovery_segments_plus_log),
             OA_T(test_dedup_across_reopen), OA_T(test_bloom_and_time_pruning),
             OA_T(test_lookup_reads_one_record_batch), OA_T(test_compaction),
             OA_T(test_retention), OA_T(test_read_only_and_lock),
             OA_T(test_memory_limit_counts_unflushed),
             OA_T(test_span_batches_through_segments),
             OA_T(test_background_flush_and_interval), OA_T(test_in_memory_ids),
             OA_T(test_empty_dataset_survives_restarts))
