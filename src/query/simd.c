/* The trace-id filter: rows of a fixed_size_binary(16) column equal to one
 * of a few keys, written as a selection vector. One function per SIMD
 * level, chosen at run time (x86 builds; elsewhere only scalar). */
#include <string.h>

#include "query/query_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#define OA_X86 1
#include <immintrin.h>
#endif

oa_simd_level oa_simd_detect(void) {
#if OA_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return OA_SIMD_AVX512;
  if (__builtin_cpu_supports("avx2")) return OA_SIMD_AVX2;
  if (__builtin_cpu_supports("sse2")) return OA_SIMD_SSE2;
#endif
  return OA_SIMD_SCALAR;
}

const char *oa_simd_name(oa_simd_level level) {
  switch (level) {
  case OA_SIMD_AUTO:
    return "auto";
  case OA_SIMD_SCALAR:
    return "scalar";
  case OA_SIMD_SSE2:
    return "sse2";
  case OA_SIMD_AVX2:
    return "avx2";
  case OA_SIMD_AVX512:
    return "avx512";
  }
  return "?";
}

static int64_t in_scalar(const uint8_t *data, int64_t n, const uint8_t *keys,
                         int64_t n_keys, int64_t base, int32_t *sel) {
  int64_t w = 0;
  for (int64_t i = 0; i < n; i++) {
    uint64_t a, b;
    memcpy(&a, data + i * 16, 8);
    memcpy(&b, data + i * 16 + 8, 8);
    for (int64_t k = 0; k < n_keys; k++) {
      uint64_t x, y;
      memcpy(&x, keys + k * 16, 8);
      memcpy(&y, keys + k * 16 + 8, 8);
      if (a == x && b == y) {
        sel[w++] = (int32_t)(base + i);
        break;
      }
    }
  }
  return w;
}

#if OA_X86
static int64_t in_sse2(const uint8_t *data, int64_t n, const uint8_t *keys,
                       int64_t n_keys, int64_t base, int32_t *sel) {
  int64_t w = 0;
  __m128i kv[8];
  int64_t nk = n_keys < 8 ? n_keys : 8;
  if (n_keys > 8) return in_scalar(data, n, keys, n_keys, base, sel);
  for (int64_t k = 0; k < nk; k++)
    kv[k] = _mm_loadu_si128((const __m128i *)(keys + 16 * k));
  for (int64_t i = 0; i < n; i++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(data + 16 * i));
    int hit = 0;
    for (int64_t k = 0; k < nk; k++)
      hit |= _mm_movemask_epi8(_mm_cmpeq_epi8(v, kv[k])) == 0xFFFF;
    if (hit) sel[w++] = (int32_t)(base + i);
  }
  return w;
}

__attribute__((target("avx2"))) static int64_t
in_avx2(const uint8_t *data, int64_t n, const uint8_t *keys, int64_t n_keys,
        int64_t base, int32_t *sel) {
  if (n_keys > 8) return in_scalar(data, n, keys, n_keys, base, sel);
  int64_t w = 0;
  __m256i kv[8];
  for (int64_t k = 0; k < n_keys; k++)
    kv[k] = _mm256_broadcastsi128_si256(
        _mm_loadu_si128((const __m128i *)(keys + 16 * k)));
  int64_t i = 0;
  /* 8 ids (128 bytes) per step; a match needs both 64-bit halves equal */
  for (; i + 8 <= n; i += 8) {
    const uint8_t *p = data + 16 * i;
    __m256i v0 = _mm256_loadu_si256((const __m256i *)p);
    __m256i v1 = _mm256_loadu_si256((const __m256i *)(p + 32));
    __m256i v2 = _mm256_loadu_si256((const __m256i *)(p + 64));
    __m256i v3 = _mm256_loadu_si256((const __m256i *)(p + 96));
    uint32_t m = 0;
    for (int64_t k = 0; k < n_keys; k++) {
      uint32_t m0 = (uint32_t)_mm256_movemask_pd(
          _mm256_castsi256_pd(_mm256_cmpeq_epi64(v0, kv[k])));
      uint32_t m1 = (uint32_t)_mm256_movemask_pd(
          _mm256_castsi256_pd(_mm256_cmpeq_epi64(v1, kv[k])));
      uint32_t m2 = (uint32_t)_mm256_movemask_pd(
          _mm256_castsi256_pd(_mm256_cmpeq_epi64(v2, kv[k])));
      uint32_t m3 = (uint32_t)_mm256_movemask_pd(
          _mm256_castsi256_pd(_mm256_cmpeq_epi64(v3, kv[k])));
      uint32_t mm = m0 | m1 << 4 | m2 << 8 | m3 << 12;
      m |= mm & (mm >> 1) & 0x5555u;
    }
    while (m) {
      int b = __builtin_ctz(m);
      sel[w++] = (int32_t)(base + i + b / 2);
      m &= m - 1;
    }
  }
  return w + in_scalar(data + 16 * i, n - i, keys, n_keys, base + i, sel + w);
}

__attribute__((target("avx512f"))) static int64_t
in_avx512(const uint8_t *data, int64_t n, const uint8_t *keys, int64_t n_keys,
          int64_t base, int32_t *sel) {
  if (n_keys > 8) return in_scalar(data, n, keys, n_keys, base, sel);
  int64_t w = 0;
  __m512i kv[8];
  for (int64_t k = 0; k < n_keys; k++)
    kv[k] = _mm512_broadcast_i32x4(
        _mm_loadu_si128((const __m128i *)(keys + 16 * k)));
  int64_t i = 0;
  /* 8 ids (two 64-byte vectors) per step */
  for (; i + 8 <= n; i += 8) {
    const uint8_t *p = data + 16 * i;
    __m512i v0 = _mm512_loadu_si512((const void *)p);
    __m512i v1 = _mm512_loadu_si512((const void *)(p + 64));
    uint32_t m = 0;
    for (int64_t k = 0; k < n_keys; k++) {
      uint32_t mm = (uint32_t)_mm512_cmpeq_epi64_mask(v0, kv[k]) |
                    (uint32_t)_mm512_cmpeq_epi64_mask(v1, kv[k]) << 8;
      m |= mm & (mm >> 1) & 0x5555u;
    }
    while (m) {
      int b = __builtin_ctz(m);
      sel[w++] = (int32_t)(base + i + b / 2);
      m &= m - 1;
    }
  }
  return w + in_scalar(data + 16 * i, n - i, keys, n_keys, base + i, sel + w);
}
#endif

int64_t oa_qkernel_fsb16_in(oa_simd_level level, const uint8_t *data, int64_t n,
                            const uint8_t *keys, int64_t n_keys, int64_t base,
                            int32_t *sel) {
  if (n_keys <= 0 || n <= 0) return 0;
#if OA_X86
  switch (level) {
  case OA_SIMD_AVX512:
    return in_avx512(data, n, keys, n_keys, base, sel);
  case OA_SIMD_AVX2:
    return in_avx2(data, n, keys, n_keys, base, sel);
  case OA_SIMD_SSE2:
    return in_sse2(data, n, keys, n_keys, base, sel);
  default:
    break;
  }
#endif
  return in_scalar(data, n, keys, n_keys, base, sel);
}
