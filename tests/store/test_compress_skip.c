/* Segment buffers are kept compressed only when that saves at least a
 * tenth (skip_incompressible): a buffer that zstd shrinks by less is
 * written raw with the -1 prefix, which readers take in place; one that
 * shrinks more keeps its frame. Both read back to the input. */
#include <stdlib.h>
#include <string.h>

#include "ipc/ipc_internal.h"
#include "test.h"

enum { LEN = 65536 };

/* Deterministic bytes: zeros first, then each uniform in [0, range). */
static void fill(uint8_t *p, int64_t n, int64_t zeros, uint32_t range) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  memset(p, 0, (size_t)zeros);
  for (int64_t i = zeros; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (uint8_t)((x >> 32) % range);
  }
}

/* Compresses data into a fresh buffer: its prefix and total size. */
static int64_t compress(const uint8_t *data, bool skip, oa_bytes *out,
                        oa_error *err) {
  oa_bytes_init(out);
  CHECK_OK(
      oa_ipc_compress_buffer(OA_COMPRESSION_ZSTD, 1, skip, data, LEN, out, err),
      err);
  return out->size >= 8 ? oa_ipc_load_i64(out->data) : -2;
}

static void check_reads_back(const oa_bytes *c, const uint8_t *want,
                             oa_error *err) {
  oa_buffer src = {c->data, c->size, NULL}, dst;
  int64_t budget = 1 << 20;
  CHECK_OK(oa_ipc_decompress_buffer(OA_COMPRESSION_ZSTD, &src, &budget, 1 << 20,
                                    &dst, err),
           err);
  CHECK_EQ_INT(dst.size, LEN);
  CHECK(dst.size == LEN && memcmp(dst.data, want, LEN) == 0);
  if (dst.region) oa_region_release(dst.region);
}

OA_TEST(test_small_saving_is_written_raw) {
  oa_error err_, *err = &err_;
  uint8_t *data = malloc(LEN);
  /* 5% zeros, then random bytes: zstd saves about 5% */
  fill(data, LEN, LEN / 20, 256);
  oa_bytes framed, kept;
  /* precondition: the frame alone is smaller, but by less than a tenth */
  CHECK_EQ_INT(compress(data, false, &framed, err), LEN);
  CHECK(framed.size - 8 < LEN && framed.size - 8 > LEN - LEN / 10);
  CHECK_EQ_INT(compress(data, true, &kept, err), -1);
  CHECK_EQ_INT(kept.size, 8 + LEN);
  CHECK(kept.size == 8 + LEN && memcmp(kept.data + 8, data, LEN) == 0);
  check_reads_back(&framed, data, err);
  check_reads_back(&kept, data, err);
  /* a raw buffer is read in place: a slice of the input, no copy */
  oa_buffer src = {kept.data, kept.size, NULL}, dst;
  int64_t budget = 1 << 20;
  CHECK_OK(oa_ipc_decompress_buffer(OA_COMPRESSION_ZSTD, &src, &budget, 1 << 20,
                                    &dst, err),
           err);
  CHECK(dst.data == kept.data + 8);
  CHECK_EQ_INT(budget, 1 << 20); /* nothing decompressed */
  oa_bytes_reset(&framed);
  oa_bytes_reset(&kept);
  free(data);
}

OA_TEST(test_large_saving_keeps_the_frame) {
  oa_error err_, *err = &err_;
  uint8_t *data = malloc(LEN);
  fill(data, LEN, 0, 16); /* 4 bits a byte: about half */
  oa_bytes c;
  CHECK_EQ_INT(compress(data, true, &c, err), LEN);
  CHECK(c.size - 8 < LEN - LEN / 10);
  check_reads_back(&c, data, err);
  oa_bytes_reset(&c);
  free(data);
}

OA_TEST_MAIN(OA_T(test_small_saving_is_written_raw),
             OA_T(test_large_saving_keeps_the_frame))
