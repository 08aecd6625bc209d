/* Arrow's integration gold files: the .stream and .arrow_file of each case
 * read to equal batches, in one push, byte by byte and in random pieces, and
 * survive a rewrite by our writer (stream and file x none/lz4/zstd). */
#include <dirent.h>

#include "ipc_test_util.h"

static const char *kDirs[] = {"arrow-testing/integration/0.14.1",
                              "arrow-testing/integration/1.0.0-littleendian",
                              "arrow-testing/integration/2.0.0-compression",
                              "arrow-testing/integration/4.0.0-shareddict"};

static int read_whole(const char *path, oa_buffer *out, oa_error *err) {
  return oa_file_map(path, out, err);
}

static bool batches_equal(const char *what, const oa_batch *a, int64_t na,
                          const oa_batch *b, int64_t nb) {
  oa_error err;
  if (na != nb) {
    fprintf(stderr, "%s: %lld batches != %lld\n", what, (long long)na,
            (long long)nb);
    return false;
  }
  for (int64_t i = 0; i < na; i++)
    if (!oa_batch_equals(&a[i], &b[i], &err)) {
      fprintf(stderr, "%s: batch %lld: %s\n", what, (long long)i, err.message);
      return false;
    }
  return true;
}

/* Column values only: a few gold streams and files spell the map entries
 * differently (the 1.0.0 stream writer canonicalized the names). */
static bool values_equal(const char *what, const oa_batch *a, int64_t na,
                         const oa_batch *b, int64_t nb) {
  oa_error err;
  if (na != nb) {
    fprintf(stderr, "%s: %lld batches != %lld\n", what, (long long)na,
            (long long)nb);
    return false;
  }
  for (int64_t i = 0; i < na; i++) {
    if (a[i].n_columns != b[i].n_columns || a[i].length != b[i].length) {
      fprintf(stderr, "%s: batch %lld: shape differs\n", what, (long long)i);
      return false;
    }
    for (int64_t c = 0; c < a[i].n_columns; c++)
      if (!oa_array_equals(&a[i].schema->fields[c], &a[i].columns[c],
                           &b[i].columns[c], &err)) {
        fprintf(stderr, "%s: batch %lld column %lld: %s\n", what, (long long)i,
                (long long)c, err.message);
        return false;
      }
  }
  return true;
}

static int n_cases;

static void check_case(const char *dir, const char *stem) {
  char path[1400], spath[1500], fpath[1500], what[4096];
  oa_error err_, *err = &err_;
  snprintf(path, sizeof path, "%s/%s", dir, stem);
  snprintf(spath, sizeof spath, "%s.stream", path);
  snprintf(fpath, sizeof fpath, "%s.arrow_file", path);
  oa_buffer sbuf;
  int rc = read_whole(spath, &sbuf, err);
  CHECK_OK(rc, err);
  if (rc) return;
  n_cases++;
  /* the stream, pushed whole */
  oa_batch *ref = NULL;
  int64_t n_ref = 0;
  rc = tu_read_stream(sbuf.data, sbuf.size, 0, NULL, &ref, &n_ref, err);
  if (rc) fprintf(stderr, "%s: %s\n", spath, err->message);
  CHECK_OK(rc, err);
  /* pushed one byte at a time and in random pieces */
  for (int mode = 0; mode < 2 && !rc; mode++) {
    oa_batch *got = NULL;
    int64_t n_got = 0;
    int rc2 = tu_read_stream(sbuf.data, sbuf.size, mode ? -1 : 1, NULL, &got,
                             &n_got, err);
    snprintf(what, sizeof what, "%s (pieces mode %d)", spath, mode);
    if (rc2) fprintf(stderr, "%s: %s\n", what, err->message);
    CHECK_OK(rc2, err);
    CHECK(batches_equal(what, ref, n_ref, got, n_got));
    tu_free_batches(got, n_got);
  }
  /* the file, mmap'ed */
  oa_ipc_file_reader *fr = NULL;
  int frc = oa_ipc_file_reader_open(&fr, fpath, NULL, err);
  if (frc) fprintf(stderr, "%s: %s\n", fpath, err->message);
  CHECK_OK(frc, err);
  if (!frc) {
    if (!rc)
      CHECK(!n_ref ||
            oa_schema_equals(oa_ipc_file_reader_schema(fr), ref[0].schema, true,
                             err) ||
            strstr(stem, "non_canonical"));
    int64_t n = oa_ipc_file_reader_n_batches(fr);
    oa_batch *fb = calloc((size_t)(n ? n : 1), sizeof *fb);
    int64_t n_fb = 0;
    for (int64_t i = 0; i < n; i++) {
      int r2 = oa_ipc_file_reader_read(fr, i, &fb[i], err);
      if (r2)
        fprintf(stderr, "%s batch %lld: %s\n", fpath, (long long)i,
                err->message);
      CHECK_OK(r2, err);
      if (r2) break;
      n_fb = i + 1;
    }
    snprintf(what, sizeof what, "%s vs %s", spath, fpath);
    if (!rc) CHECK(values_equal(what, ref, n_ref, fb, n_fb));
    /* rewrite with our writer */
    oa_schema *schema = oa_ipc_file_reader_schema(fr);
    static const oa_compression codecs[] = {
        OA_COMPRESSION_NONE, OA_COMPRESSION_LZ4_FRAME, OA_COMPRESSION_ZSTD};
    for (int k = 0; k < 3 && n_fb == n; k++)
      for (int fmt = 0; fmt < 2; fmt++) {
        oa_ipc_write_options wo;
        oa_ipc_write_options_init(&wo);
        wo.compression = codecs[k];
        oa_bytes out;
        oa_bytes_init(&out);
        snprintf(what, sizeof what, "%s rewritten as %s/%s", path,
                 fmt ? "file" : "stream", oa_compression_name(codecs[k]));
        int w = tu_write((oa_ipc_format)fmt, schema, &wo, fb, n_fb, &out, err);
        if (w) fprintf(stderr, "%s: %s\n", what, err->message);
        CHECK_OK(w, err);
        oa_batch *got = NULL;
        int64_t n_got = 0;
        if (!w) {
          w = fmt ? tu_read_file(out.data, out.size, NULL, &got, &n_got, err)
                  : tu_read_stream(out.data, out.size, 0, NULL, &got, &n_got,
                                   err);
          if (w) fprintf(stderr, "%s: read: %s\n", what, err->message);
          CHECK_OK(w, err);
          CHECK(batches_equal(what, fb, n_fb, got, n_got));
        }
        tu_free_batches(got, n_got);
        oa_bytes_reset(&out);
      }
    tu_free_batches(fb, n_fb);
    oa_ipc_file_reader_free(fr);
  }
  tu_free_batches(ref, n_ref);
  oa_region_release(sbuf.region);
}

OA_TEST(test_gold_files) {
  for (size_t d = 0; d < sizeof kDirs / sizeof kDirs[0]; d++) {
    char dir[1024];
    oa_test_shared_path(dir, sizeof dir, kDirs[d]);
    DIR *dp = opendir(dir);
    CHECK(dp != NULL);
    if (!dp) continue;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
      size_t len = strlen(e->d_name);
      if (len < 8 || strcmp(e->d_name + len - 7, ".stream") != 0) continue;
      char stem[256];
      snprintf(stem, sizeof stem, "%.*s", (int)(len - 7), e->d_name);
      check_case(dir, stem);
    }
    closedir(dp);
  }
  printf("%d gold cases\n", n_cases);
  CHECK(n_cases >= 36);
}

OA_TEST(test_gold_legacy_framing_detected) {
  /* 0.14.1 streams start with the metadata length, not 0xFFFFFFFF */
  char path[1024];
  oa_test_shared_path(path, sizeof path,
                      "arrow-testing/integration/0.14.1/"
                      "generated_primitive.stream");
  oa_buffer b;
  oa_error err_, *err = &err_;
  CHECK_OK(oa_file_map(path, &b, err), err);
  CHECK(b.size > 8 && b.data[0] != 0xFF);
  /* ends with the legacy end-of-stream: 4 zero bytes */
  CHECK(b.size > 8 && memcmp(b.data + b.size - 4, "\0\0\0\0", 4) == 0);
  oa_region_release(b.region);
}

OA_TEST_MAIN(OA_T(test_gold_files), OA_T(test_gold_legacy_framing_detected))
