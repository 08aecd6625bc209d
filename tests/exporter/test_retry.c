/* The exporter's retry policy (pure functions) with a fake clock. */
#include "otlparrow/exporter.h"
#include "test.h"

static oa_retry_policy policy(void) {
  oa_retry_policy p = {.initial_ms = 100,
                       .max_ms = 1000,
                       .multiplier = 2.0,
                       .jitter = 0.2,
                       .max_elapsed_ms = 5000};
  return p;
}

OA_TEST(test_retryable_statuses) {
  CHECK(oa_exporter_status_retryable(14, false));  /* UNAVAILABLE */
  CHECK(oa_exporter_status_retryable(4, false));   /* DEADLINE_EXCEEDED */
  CHECK(oa_exporter_status_retryable(10, false));  /* ABORTED */
  CHECK(oa_exporter_status_retryable(1, false));   /* CANCELLED */
  CHECK(!oa_exporter_status_retryable(8, false));  /* RESOURCE_EXHAUSTED */
  CHECK(oa_exporter_status_retryable(8, true));    /* ... with RetryInfo */
  CHECK(!oa_exporter_status_retryable(16, false)); /* UNAUTHENTICATED */
  CHECK(!oa_exporter_status_retryable(7, true));   /* PERMISSION_DENIED */
  CHECK(!oa_exporter_status_retryable(3, false));  /* INVALID_ARGUMENT */
  CHECK(!oa_exporter_status_retryable(12, false)); /* UNIMPLEMENTED */
  CHECK(!oa_exporter_status_retryable(13, false)); /* INTERNAL */
  CHECK(!oa_exporter_status_retryable(0, false));
}

OA_TEST(test_exponential_capped) {
  oa_retry_policy p = policy();
  /* u = 0.5: no jitter */
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 1, 0.5, -1, 0, 0), 100);
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 2, 0.5, -1, 0, 0), 200);
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 3, 0.5, -1, 0, 0), 400);
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 4, 0.5, -1, 0, 0), 800);
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 5, 0.5, -1, 0, 0), 1000);
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 60, 0.5, -1, 0, 0), 1000);
  p.multiplier = 1.5;
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 3, 0.5, -1, 0, 0), 225);
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 0, 0.5, -1, 0, 0), -1);
}

OA_TEST(test_jitter_bounds) {
  oa_retry_policy p = policy();
  /* +-20% around 400 at the extremes of u */
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 3, 0.0, -1, 0, 0), 320);
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 3, 1.0, -1, 0, 0), 480);
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 3, 0.75, -1, 0, 0), 440);
  /* the jitter applies after the cap */
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 9, 1.0, -1, 0, 0), 1200);
  p.jitter = 0;
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 3, 0.0, -1, 0, 0), 400);
}

OA_TEST(test_server_delay_honoured) {
  oa_retry_policy p = policy();
  /* RetryInfo longer than the backoff wins, shorter does not */
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 1, 0.5, 3000, 0, 0), 3000);
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 3, 0.5, 50, 0, 0), 400);
  /* even past max_ms, but not past max_elapsed */
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 1, 0.5, 6000, 0, 0), -1);
}

/* a fake clock walks through a whole retry sequence */
OA_TEST(test_max_elapsed_with_fake_clock) {
  oa_retry_policy p = policy();
  int64_t first = 10000, now = first;
  int attempts = 0;
  int64_t delays[32];
  for (int a = 1; a < 32; a++) {
    now += 30; /* each attempt takes 30 ms */
    int64_t d = oa_exporter_retry_delay_ms(&p, a, 0.5, -1, first, now);
    if (d < 0) break;
    delays[attempts++] = d;
    now += d;
  }
  /* 100 200 400 800 1000 1000 (+30 each): 3680 ms; the next 1000 would end
   * at 4710 < 5000 so it is taken; one more would pass 5000 */
  CHECK_EQ_INT(attempts, 7);
  CHECK_EQ_INT(delays[0], 100);
  CHECK_EQ_INT(delays[4], 1000);
  CHECK(now - first <= p.max_elapsed_ms);
  /* no time at all: never retry */
  p.max_elapsed_ms = 0;
  CHECK_EQ_INT(oa_exporter_retry_delay_ms(&p, 1, 0.5, -1, 0, 0), -1);
}

OA_TEST_MAIN(OA_T(test_retryable_statuses), OA_T(test_exponential_capped),
             OA_T(test_jitter_bounds), OA_T(test_server_delay_honoured),
             OA_T(test_max_elapsed_with_fake_clock))
