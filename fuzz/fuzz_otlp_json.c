/* libFuzzer target: the OTLP/JSON decoder, and the encoder on what it
 * accepted. Every accepted request must survive json -> batch -> json ->
 * batch unchanged (abort otherwise). The same bytes are also handed to the
 * protobuf -> JSON printer as if they were wire data. Differential check
 * of the streaming parser's syntax: whatever it accepts, json-c's strict
 * parser must accept as well. */
#include <json-c/json.h>
#include <stdlib.h>

#include "otlparrow/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const oa_batch *b) {
  volatile int64_t sink = 0;
  for (int64_t c = 0; c < b->n_columns; c++) {
    const oa_field *f = &b->schema->fields[c];
    const oa_array *a = &b->columns[c];
    for (int64_t i = 0; i < a->length; i++)
      sink += oa_array_is_null(f, a, i);
  }
  (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  oa_otlp_options opts;
  oa_otlp_options_default(&opts);
  opts.max_depth = 8;
  opts.max_attributes = 256;
  opts.max_events = 64;
  opts.max_links = 64;
  opts.max_spans = 4096;
  oa_error err;
  oa_batch b1, b2;
  oa_batch_init(&b1);
  oa_batch_init(&b2);
  oa_bytes json, wire;
  oa_bytes_init(&json);
  oa_bytes_init(&wire);
  oa_otlp_result res;
  if (oa_otlp_decode_traces_json((const char *)data, (int64_t)size, &opts, &b1,
                                 &res, &err) == 0) {
    walk(&b1);
    json_tokener *tok = json_tokener_new_ex(1024);
    if (!tok) abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
    if (!o || json_tokener_get_error(tok) != json_tokener_success) abort();
    json_object_put(o);
    json_tokener_free(tok);
    if (oa_otlp_encode_traces_json(&b1, &json, &err) != 0) abort();
    if (oa_otlp_decode_traces_json((const char *)json.data, json.size, &opts,
                                   &b2, &res, &err) != 0)
      abort();
    if (res.rejected_spans != 0 || !oa_batch_equals(&b1, &b2, &err)) abort();
  }
  (void)oa_otlp_traces_pb_to_json(data, (int64_t)size, &wire, &err);
  oa_bytes_reset(&json);
  oa_bytes_reset(&wire);
  oa_batch_reset(&b1);
  oa_batch_reset(&b2);
  return 0;
}
