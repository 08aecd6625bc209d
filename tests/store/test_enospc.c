/* The durable store on a full disk: a 1 MiB tmpfs (mounted here; the test
 * exits 77, skipped, where mounting is not permitted) filled by the log.
 * An append that does not fit fails with EAGAIN (retryable) and a message
 * naming the full disk; nothing acknowledged before is lost, a flush that
 * cannot write its segment fails without losing data, and once space comes
 * back appends and flushes work again and a reopen finds every
 * acknowledged row exactly once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "otlparrow/dataset.h"
#include "store_test_util.h"
#include "test.h"

static char g_mnt[64];
static int g_mounted;

/* Rows and sum of column k. */
static void count(oa_datasets *d, int64_t *rows, int64_t *sum) {
  oa_schema *s;
  oa_batch *bs;
  int64_t n;
  oa_error err;
  *rows = *sum = -1;
  if (oa_datasets_snapshot(d, "t", &s, &bs, &n, &err) != 0) {
    fprintf(stderr, "snapshot: %s\n", err.message);
    return;
  }
  *rows = *sum = 0;
  for (int64_t i = 0; i < n; i++) {
    *rows += bs[i].length;
    for (int64_t j = 0; j < bs[i].length; j++)
      *sum += oa_array_get_int(&s->fields[0], &bs[i].columns[0], j);
  }
  oa_datasets_snapshot_free(s, bs, n);
}

static int64_t sum_range(int64_t k, int64_t rows) {
  return rows * k + rows * (rows - 1) / 2;
}

/* Writes zeros to path until the file system is full; returns bytes. */
static int64_t fill(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  static const char zeros[4096];
  int64_t n = 0;
  for (;;) {
    ssize_t w = write(fd, zeros, sizeof zeros);
    if (w <= 0) break;
    n += w;
  }
  close(fd);
  return n;
}

OA_TEST(test_full_disk_is_retryable_and_loses_nothing) {
  oa_error err_, *err = &err_;
  char data[96], filler[96];
  snprintf(data, sizeof data, "%s/data", g_mnt);
  snprintf(filler, sizeof filler, "%s/filler", g_mnt);
  oa_store_options o;
  oa_store_options_init(&o);
  o.background = false; /* flushes only when the test says so */
  o.compaction_min_segments = 0;
  oa_datasets *d;
  CHECK_OK(oa_datasets_open(&d, data, &o, 0, err), err);
  if (!d) return;
  /* half of the disk for a file that is deleted later, the rest for the
   * log (about 8 KiB per append) */
  CHECK(fill(filler) > 0);
  CHECK_EQ_INT(truncate(filler, 512 << 10), 0);
  int64_t acked_rows = 0, acked_sum = 0, k = 0;
  int rc = 0;
  for (int i = 0; i < 1000 && rc == 0; i++, k += 1000) {
    rc = st_append_k(d, "t", 1000, k, err);
    if (rc == 0) {
      acked_rows += 1000;
      acked_sum += sum_range(k, 1000);
    }
  }
  CHECK(acked_rows > 0);
  CHECK(acked_rows < 1000 * 1000); /* the disk did fill up */
  CHECK_EQ_INT(rc, EAGAIN);
  CHECK(strstr(err->message, "disk full") != NULL);
  CHECK(strstr(err->message, data) != NULL);
  CHECK(strstr(err->message, strerror(ENOSPC)) != NULL);
  /* still full: the same clear error, and nothing acknowledged is gone */
  CHECK_FAILS(st_append_k(d, "t", 1000, k, err), EAGAIN, err, "disk full");
  int64_t rows, sum;
  count(d, &rows, &sum);
  CHECK_EQ_INT(rows, acked_rows);
  CHECK_EQ_INT(sum, acked_sum);
  /* a segment cannot be written either: the flush fails, data stays */
  CHECK(fill(filler) >= 0); /* take what the failed appends left */
  CHECK(oa_datasets_flush(d, err) != 0);
  count(d, &rows, &sum);
  CHECK_EQ_INT(rows, acked_rows);
  CHECK_EQ_INT(sum, acked_sum);

  /* space comes back: appends and flushes work again */
  CHECK_EQ_INT(unlink(filler), 0);
  for (int i = 0; i < 5; i++, k += 1000) {
    CHECK_OK(st_append_k(d, "t", 1000, k, err), err);
    acked_rows += 1000;
    acked_sum += sum_range(k, 1000);
  }
  CHECK_OK(oa_datasets_flush(d, err), err);
  oa_store_stats st;
  oa_datasets_store_stats(d, &st);
  CHECK(st.segments > 0);
  CHECK_EQ_INT(st.segment_rows, acked_rows);
  CHECK_EQ_INT(st.unflushed_bytes, 0);
  oa_datasets_free(d);

  /* reopened: every acknowledged row once */
  CHECK_OK(oa_datasets_open(&d, data, &o, 0, err), err);
  if (!d) return;
  count(d, &rows, &sum);
  CHECK_EQ_INT(rows, acked_rows);
  CHECK_EQ_INT(sum, acked_sum);
  oa_datasets_free(d);
}

OA_TEST(test_reopen_on_a_full_disk) {
  /* the store is recovered (read) even when not a byte is free */
  oa_error err_, *err = &err_;
  char data[96], filler[96];
  snprintf(data, sizeof data, "%s/data2", g_mnt);
  snprintf(filler, sizeof filler, "%s/filler2", g_mnt);
  oa_store_options o;
  oa_store_options_init(&o);
  o.background = false;
  oa_datasets *d;
  CHECK_OK(oa_datasets_open(&d, data, &o, 0, err), err);
  if (!d) return;
  for (int i = 0; i < 10; i++)
    CHECK_OK(st_append_k(d, "t", 1000, i * 1000, err), err);
  oa_datasets_free(d);
  CHECK(fill(filler) >= 0);
  int rc = oa_datasets_open(&d, data, &o, 0, err);
  if (rc == 0) {
    int64_t rows, sum;
    count(d, &rows, &sum);
    CHECK_EQ_INT(rows, 10000);
    CHECK_EQ_INT(sum, sum_range(0, 10000));
    CHECK_FAILS(st_append_k(d, "t", 1000, 10000, err), EAGAIN, err,
                "disk full");
    oa_datasets_free(d);
  } else {
    /* refusing to open is acceptable only as a clear, retryable error */
    CHECK(rc == EAGAIN || rc == EIO);
    CHECK(strstr(err->message, strerror(ENOSPC)) != NULL);
  }
  CHECK_EQ_INT(unlink(filler), 0);
  CHECK_OK(oa_datasets_open(&d, data, &o, 0, err), err);
  if (!d) return;
  int64_t rows, sum;
  count(d, &rows, &sum);
  CHECK_EQ_INT(rows, 10000);
  oa_datasets_free(d);
}

static void unmount(void) {
  if (g_mounted) umount2(g_mnt, MNT_DETACH);
  rmdir(g_mnt);
}

int main(int argc, char **argv) {
  strcpy(g_mnt, "/tmp/oa_enospc_XXXXXX");
  if (!mkdtemp(g_mnt)) return 1;
  if (mount("tmpfs", g_mnt, "tmpfs", 0, "size=1m") != 0) {
    printf("skipped: cannot mount a tmpfs on %s: %s\n", g_mnt, strerror(errno));
    rmdir(g_mnt);
    return 77;
  }
  g_mounted = 1;
  atexit(unmount);
  static const oa_test_case_ cases[] = {
      OA_T(test_full_disk_is_retryable_and_loses_nothing),
      OA_T(test_reopen_on_a_full_disk)};
  return oa_test_run_(cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
}
