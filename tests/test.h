/* A tiny test harness: OA_TEST(name) { ... } functions registered with
 * OA_TEST_MAIN(tests...), CHECK* macros that report file:line and keep going
 * within the test, and a non-zero exit status if anything failed. */
#ifndef OA_TEST_H
#define OA_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlparrow/common.h"

static int oa_test_failures_;
static int oa_test_current_failed_;

#define OA_TEST(name) static void name(void)

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      oa_test_current_failed_ = 1;                                             \
    }                                                                          \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                     \
  do {                                                                         \
    long long oa_a_ = (long long)(a), oa_b_ = (long long)(b);                  \
    if (oa_a_ != oa_b_) {                                                      \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,      \
              __LINE__, #a, #b, oa_a_, oa_b_);                                 \
      oa_test_current_failed_ = 1;                                             \
    }                                                                          \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                     \
  do {                                                                         \
    const char *oa_a_ = (a), *oa_b_ = (b);                                     \
    if (!oa_a_ || !oa_b_ || strcmp(oa_a_, oa_b_) != 0) {                       \
      fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__,  \
              __LINE__, #a, #b, oa_a_ ? oa_a_ : "(null)",                      \
              oa_b_ ? oa_b_ : "(null)");                                       \
      oa_test_current_failed_ = 1;                                             \
    }                                                                          \
  } while (0)

/* expr returns an int status that must be 0; prints err.message otherwise */
#define CHECK_OK(expr, errp)                                                   \
  do {                                                                         \
    int oa_rc_ = (expr);                                                       \
    if (oa_rc_ != 0) {                                                         \
      fprintf(stderr, "%s:%d: %s returned %d: %s\n", __FILE__, __LINE__,       \
              #expr, oa_rc_, (errp) ? (errp)->message : "");                   \
      oa_test_current_failed_ = 1;                                             \
    }                                                                          \
  } while (0)

/* expr must fail with status code; the message must contain substr */
#define CHECK_FAILS(expr, code, errp, substr)                                  \
  do {                                                                         \
    (errp)->message[0] = 0;                                                    \
    int oa_rc_ = (expr);                                                       \
    if (oa_rc_ != (code)) {                                                    \
      fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s)\n", __FILE__,   \
              __LINE__, #expr, oa_rc_, (int)(code), (errp)->message);          \
      oa_test_current_failed_ = 1;                                             \
    } else if ((substr) && !strstr((errp)->message, (substr))) {               \
      fprintf(stderr, "%s:%d: %s message \"%s\" lacks \"%s\"\n", __FILE__,     \
              __LINE__, #expr, (errp)->message, (const char *)(substr));       \
      oa_test_current_failed_ = 1;                                             \
    }                                                                          \
  } while (0)

typedef struct oa_test_case_ {
  const char *name;
  void (*fn)(void);
} oa_test_case_;

static inline int oa_test_run_(const oa_test_case_ *cases, int n, int argc,
                               char **argv) {
  int ran = 0;
  for (int i = 0; i < n; i++) {
    if (argc > 1 && !strstr(cases[i].name, argv[1])) continue;
    oa_test_current_failed_ = 0;
    cases[i].fn();
    ran++;
    printf("%s %s\n", oa_test_current_failed_ ? "FAIL" : "ok  ", cases[i].name);
    if (oa_test_current_failed_) oa_test_failures_++;
  }
  printf("%d passed, %d failed\n", ran - oa_test_failures_, oa_test_failures_);
  return oa_test_failures_ ? 1 : 0;
}

#define OA_T(fn)                                                               \
  { #fn, fn }
#define OA_TEST_MAIN(...)                                                      \
  int main(int argc, char **argv) {                                            \
    static const oa_test_case_ cases[] = {__VA_ARGS__};                        \
    return oa_test_run_(cases, (int)(sizeof cases / sizeof cases[0]), argc,    \
                        argv);                                                 \
  }

/* Path under ../shared (OA_SHARED_DIR), written to buf. */
static inline const char *oa_test_shared_path(char *buf, size_t cap,
                                              const char *rel) {
  const char *dir = getenv("OA_SHARED_DIR");
  snprintf(buf, cap, "%s/%s", dir ? dir : "../shared", rel);
  return buf;
}

#endif
