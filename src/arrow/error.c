#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlparrow/common.h"

int oa_error_set(oa_error *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return code;
}

int oa_error_prefix(oa_error *err, int code, const char *fmt, ...) {
  if (err) {
    char prefix[OA_ERROR_SIZE];
    char rest[OA_ERROR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(rest, err->message, sizeof rest);
    rest[sizeof rest - 1] = 0;
    size_t n = strlen(prefix);
    memcpy(err->message, prefix, n);
    size_t room = sizeof err->message - 1 - n;
    size_t m = strlen(rest);
    if (m > room) m = room;
    memcpy(err->message + n, rest, m);
    err->message[n + m] = 0;
  }
  return code;
}

void oa_error_clear(oa_error *err) {
  if (err) err->message[0] = 0;
}

void *oa_aligned_alloc(int64_t size) {
  if (size < 0) return NULL;
  size_t rounded = ((size_t)size + 63) & ~(size_t)63;
  if (rounded == 0) rounded = 64;
  void *p = NULL;
  if (posix_memalign(&p, 64, rounded) != 0) return NULL;
  /* zero the slack so that padding we later write is never uninitialized */
  memset((uint8_t *)p + size, 0, rounded - (size_t)size);
  return p;
}

void oa_aligned_free(void *ptr) { free(ptr); }

const char *oa_version(void) { return OA_VERSION_STRING; }
