/* The exporter's retry policy as pure functions (unit-tested with a fake
 * clock in tests/exporter/test_retry.c). */
#include <math.h>

#include "otlparrow/exporter.h"

/* gRPC status codes (grpc/status.h), repeated to keep this file free of
 * gRPC headers. */
enum {
  ST_CANCELLED = 1,
  ST_DEADLINE_EXCEEDED = 4,
  ST_RESOURCE_EXHAUSTED = 8,
  ST_ABORTED = 10,
  ST_UNAVAILABLE = 14
};

bool oa_exporter_status_retryable(int code, bool has_retry_info) {
  switch (code) {
  case ST_UNAVAILABLE:
  case ST_DEADLINE_EXCEEDED:
  case ST_ABORTED:
  case ST_CANCELLED:
    return true;
  case ST_RESOURCE_EXHAUSTED:
    /* without RetryInfo it is a hard limit (e.g. message too large) */
    return has_retry_info;
  default:
    return false;
  }
}

int64_t oa_exporter_retry_delay_ms(const oa_retry_policy *p, int attempt,
                                   double u, int64_t server_delay_ms,
                                   int64_t first_attempt_ms, int64_t now_ms) {
  if (attempt < 1 || p->max_elapsed_ms <= 0) return -1;
  double d = (double)(p->initial_ms > 0 ? p->initial_ms : 1);
  double mult = p->multiplier >= 1.0 ? p->multiplier : 1.0;
  double cap = (double)(p->max_ms > 0 ? p->max_ms : d);
  for (int i = 1; i < attempt && d < cap; i++)
    d *= mult;
  if (d > cap) d = cap;
  double j = p->jitter < 0 ? 0 : (p->jitter > 1 ? 1 : p->jitter);
  if (u < 0) u = 0;
  if (u > 1) u = 1;
  d *= 1.0 + j * (2.0 * u - 1.0);
  int64_t delay = (int64_t)llround(d);
  if (delay < 0) delay = 0;
  if (server_delay_ms >= 0 && delay < server_delay_ms) delay = server_delay_ms;
  if (now_ms + delay > first_attempt_ms + p->max_elapsed_ms) return -1;
  return delay;
}
