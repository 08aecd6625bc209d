/* The query kernels on their own: the fsb16 IN filter on every SIMD path
 * against a plain loop (odd lengths, many keys, matches at the edges), and
 * the record sort (single- and multi-threaded) and top-k against qsort. */
#include "qtest.h"
#include "query/qexec.h"

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_u64(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

OA_TEST(fsb16_filter_every_path) {
  const int64_t n = 10007;
  uint8_t *data = malloc((size_t)n * 16);
  for (int64_t i = 0; i < n * 2; i++) {
    uint64_t x = next_u64();
    memcpy(data + 8 * i, &x, 8);
  }
  uint8_t keys[12 * 16];
  for (int k = 0; k < 12; k++) {
    int64_t row = k == 0   ? 0
                  : k == 1 ? n - 1
                           : (int64_t)(next_u64() % (uint64_t)n);
    memcpy(keys + 16 * k, data + 16 * row, 16);
  }
  /* a key that shares its first 8 bytes with row 5 but not the rest */
  memcpy(keys + 16 * 11, data + 16 * 5, 16);
  keys[16 * 11 + 15] ^= 1;
  /* duplicates of row 3 elsewhere */
  memcpy(data + 16 * 100, data + 16 * 3, 16);
  memcpy(keys + 16 * 2, data + 16 * 3, 16);
  int32_t *want = malloc(sizeof(int32_t) * (size_t)n);
  int32_t *got = malloc(sizeof(int32_t) * (size_t)n);
  int key_counts[] = {1, 2, 3, 8, 12};
  for (int kc = 0; kc < 5; kc++) {
    int nk = key_counts[kc];
    int64_t w = 0;
    for (int64_t i = 0; i < n; i++)
      for (int k = 0; k < nk; k++)
        if (!memcmp(data + 16 * i, keys + 16 * k, 16)) {
          want[w++] = (int32_t)(1000 + i);
          break;
        }
    for (int lv = OA_SIMD_SCALAR; lv <= (int)oa_simd_detect(); lv++) {
      /* odd lengths exercise the tails after the 8-wide steps */
      int64_t lens[] = {n, n - 3, 7, 1};
      for (int li = 0; li < 4; li++) {
        int64_t m = lens[li];
        int64_t g = oa_qkernel_fsb16_in((oa_simd_level)lv, data, m, keys, nk,
                                        1000, got);
        int64_t ww = 0;
        while (ww < w && want[ww] < 1000 + m)
          ww++;
        CHECK_EQ_INT(g, ww);
        CHECK(g != ww || !memcmp(got, want, sizeof(int32_t) * (size_t)g));
      }
    }
  }
  free(data);
  free(want);
  free(got);
}

static int64_t g_klen;
static int cmp_rec(const void *a, const void *b) {
  return memcmp(a, b, (size_t)g_klen);
}

OA_TEST(record_sort_and_topk) {
  /* 300K records of 24 bytes: 20 key bytes with few distinct leading bytes
   * (deep buckets, common prefixes) and a unique tail */
  const int64_t n = 300000, rs = 24, klen = 24;
  uint8_t *r = malloc((size_t)(n * rs));
  for (int64_t i = 0; i < n; i++) {
    uint8_t *x = r + i * rs;
    for (int j = 0; j < 20; j++)
      x[j] = (uint8_t)(next_u64() % (j < 3 ? 3 : 256));
    if (i % 7 == 0) memset(x, 0x42, 12); /* a big shared prefix */
    x[20] = (uint8_t)(i >> 24);
    x[21] = (uint8_t)(i >> 16);
    x[22] = (uint8_t)(i >> 8);
    x[23] = (uint8_t)i;
  }
  uint8_t *ref = malloc((size_t)(n * rs));
  memcpy(ref, r, (size_t)(n * rs));
  g_klen = klen;
  qsort(ref, (size_t)n, (size_t)rs, cmp_rec);
  int threads[] = {1, 2, 3};
  for (int t = 0; t < 3; t++) {
    uint8_t *c = malloc((size_t)(n * rs));
    memcpy(c, r, (size_t)(n * rs));
    CHECK_EQ_INT(oa_qsort_records_mt(c, n, rs, klen, threads[t]), 0);
    CHECK(!memcmp(c, ref, (size_t)(n * rs)));
    free(c);
  }
  int64_t ks[] = {1, 10, 1000};
  for (int t = 0; t < 3; t++) {
    uint8_t *c = malloc((size_t)(n * rs));
    memcpy(c, r, (size_t)(n * rs));
    CHECK_EQ_INT(oa_qtopk_records(c, n, rs, klen, ks[t]), 0);
    CHECK(!memcmp(c, ref, (size_t)(ks[t] * rs)));
    free(c);
  }
  free(r);
  free(ref);
}

OA_TEST(simd_names) {
  CHECK_EQ_STR(oa_simd_name(OA_SIMD_SCALAR), "scalar");
  CHECK_EQ_STR(oa_simd_name(OA_SIMD_AVX2), "avx2");
  CHECK_EQ_STR(oa_simd_name(OA_SIMD_AVX512), "avx512");
  CHECK(oa_simd_detect() >= OA_SIMD_SCALAR);
}

OA_TEST_MAIN(OA_T(fsb16_filter_every_path), OA_T(record_sort_and_topk),
             OA_T(simd_names))
