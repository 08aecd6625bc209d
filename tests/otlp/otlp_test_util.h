/* Helpers the OTLP decoder tests share. */
#ifndef OA_OTLP_TEST_UTIL_H
#define OA_OTLP_TEST_UTIL_H

#include "otlparrow/otlp.h"

/* One OTLP request of exactly `spans` generated spans (seeded). */
static inline int ot_gen_request(int64_t spans, uint64_t seed, oa_bytes *out,
                                 oa_error *err) {
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  o.spans = spans;
  o.seed = seed;
  oa_trace_gen g;
  OA_RETURN_NOT_OK(oa_trace_gen_init(&g, &o, err));
  int64_t n = 0;
  int rc = oa_trace_gen_next_request(&g, spans, out, &n, err);
  oa_trace_gen_reset(&g);
  if (rc == 0 && n != spans)
    rc = oa_error_set(err, EINVAL, "generator made %lld spans, wanted %lld",
                      (long long)n, (long long)spans);
  return rc;
}

#endif
