/* Timing and statistics helpers shared by the benchmarks (not installed). */
#ifndef OA_BENCH_UTIL_H
#define OA_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Exits on a failed library call, printing the status and err.message; the
 * including file defines BENCH_NAME and a file-level oa_error err. */
#define CHECK(expr)                                                            \
  do {                                                                         \
    int rc_ = (expr);                                                          \
    if (rc_ != 0) {                                                            \
      fprintf(stderr, BENCH_NAME ": %s failed (%d): %s\n", #expr, rc_,         \
              err.message);                                                    \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

static inline double bench_clock_s(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wall-clock seconds (monotonic). */
static inline double bench_wall_s(void) {
  return bench_clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds of this thread: figures per core, and time the machine gives
 * to other processes does not count. */
static inline double bench_cpu_s(void) {
  return bench_clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v in place). */
static inline double bench_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* xorshift64*: deterministic ids without libc rand's global state. */
static inline uint64_t bench_rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

#endif
