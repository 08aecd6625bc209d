/* Generated OTLP/protobuf requests for the tests that post them to a
 * receiver (tests/receiver, tests/cli). */
#ifndef OA_OTLP_GEN_TEST_UTIL_H
#define OA_OTLP_GEN_TEST_UTIL_H

#include <stdint.h>

#include "otlparrow/otlp.h"
#include "test.h"

/* An ExportTraceServiceRequest of exactly n spans from the generator seeded
 * with seed, in out (initialised here; the caller resets it). */
static inline void oa_test_gen_request(int64_t n, uint64_t seed,
                                       oa_bytes *out) {
  oa_error e_ = {{0}}, *ep = &e_;
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  o.spans = n;
  o.seed = seed;
  oa_trace_gen g;
  oa_bytes_init(out);
  CHECK_OK(oa_trace_gen_init(&g, &o, ep), ep);
  int64_t got = 0;
  CHECK_OK(oa_trace_gen_next_request(&g, n, out, &got, ep), ep);
  CHECK_EQ_INT(got, n);
  oa_trace_gen_reset(&g);
}

#endif
