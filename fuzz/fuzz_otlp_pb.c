/* libFuzzer target: the OTLP protobuf decoder. A decoded batch must
 * validate, and encoding it again and decoding that must give an equal
 * batch (decode(encode(decode(x))) == decode(x)) with every span accepted.
 * Tight limits keep hostile inputs from allocating much. */
#include <stdlib.h>
#include <string.h>

#include "otlparrow/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  oa_otlp_options opts;
  oa_otlp_options_default(&opts);
  opts.max_depth = 16;
  opts.max_attributes = 256;
  opts.max_events = 64;
  opts.max_links = 64;
  opts.max_spans = 4096;
  /* the input is copied so that ASan sees any read past its end */
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) return 0;
  if (size) memcpy(copy, data, size);
  oa_batch b, again;
  oa_batch_init(&b);
  oa_batch_init(&again);
  oa_error err;
  oa_otlp_result res;
  if (oa_otlp_decode_traces(copy, (int64_t)size, &opts, &b, &res, &err) == 0) {
    if (res.accepted_spans != b.length) abort();
    if (oa_batch_validate(&b, true, &err) != 0) abort();
    oa_bytes enc;
    oa_bytes_init(&enc);
    if (oa_otlp_encode_traces(&b, &enc, &err) != 0) abort();
    oa_otlp_result res2;
    if (oa_otlp_decode_traces(enc.data, enc.size, &opts, &again, &res2, &err) !=
        0)
      abort();
    if (res2.rejected_spans != 0 || !oa_batch_equals(&b, &again, &err)) abort();
    oa_bytes_reset(&enc);
  }
  oa_batch_reset(&again);
  oa_batch_reset(&b);
  free(copy);
  return 0;
}
