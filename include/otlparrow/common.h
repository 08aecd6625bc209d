/* otlparrow: shared status handling, errors and small helpers.
 *
 * Every function that can fail returns an int status: 0 on success or an
 * errno-style code (EINVAL bad input/arguments, ENOMEM, EIO, ENOTSUP,
 * E2BIG a configured limit was exceeded, ENOENT) and, when the caller passes
 * a non-NULL oa_error, a message that names what was wrong. */
#ifndef OTLPARROW_COMMON_H
#define OTLPARROW_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OA_VERSION_MAJOR 0
#define OA_VERSION_MINOR 1
#define OA_VERSION_PATCH 0
#define OA_VERSION_STRING "0.1.0"

#define OA_ERROR_SIZE 512

typedef struct oa_error {
  char message[OA_ERROR_SIZE];
} oa_error;

#if defined(__GNUC__)
#define OA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define OA_LIKELY(x) __builtin_expect(!!(x), 1)
#define OA_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define OA_PRINTF(f, a)
#define OA_LIKELY(x) (x)
#define OA_UNLIKELY(x) (x)
#endif

/* Fills err (if not NULL) with a formatted message and returns code, so that
 * `return oa_error_set(err, EINVAL, "...")` reads naturally. */
int oa_error_set(oa_error *err, int code, const char *fmt, ...) OA_PRINTF(3, 4);

/* Prefixes the message already in err with a context string ("field 'x': "),
 * keeping the original message. Returns code. */
int oa_error_prefix(oa_error *err, int code, const char *fmt, ...)
    OA_PRINTF(3, 4);

/* Clears err (if not NULL). */
void oa_error_clear(oa_error *err);

/* Propagates a failure status to the caller. */
#define OA_RETURN_NOT_OK(expr)                                                 \
  do {                                                                         \
    int oa_rc_ = (expr);                                                       \
    if (OA_UNLIKELY(oa_rc_ != 0)) return oa_rc_;                               \
  } while (0)

/* Evaluates expr; on failure stores the status in rc and jumps to label. */
#define OA_GOTO_NOT_OK(rc, expr, label)                                        \
  do {                                                                         \
    (rc) = (expr);                                                             \
    if (OA_UNLIKELY((rc) != 0)) goto label;                                    \
  } while (0)

/* 64-byte aligned allocation (Arrow recommends 64-byte alignment). The size is
 * rounded up to a multiple of 64 and the slack is zeroed, so that padding
 * written to IPC is never uninitialized memory. Free with oa_aligned_free. */
void *oa_aligned_alloc(int64_t size);
void oa_aligned_free(void *ptr);

/* Library version string, e.g. "0.1.0". */
const char *oa_version(void);

#ifdef __cplusplus
}
#endif

#endif
