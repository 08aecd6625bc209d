/* OTLP protobuf decoder on hand-written wire bytes: malformed wire data
 * rejects the request with the field and offset named, unknown fields are
 * skipped, non-canonical but valid encodings decode; and the span schema has
 * the documented columns. */
#include "otlparrow/otlp.h"
#include "test.h"

static oa_error err_s;
static oa_error *err = &err_s;

#include "otlp/pb_writer.h"

static const uint8_t kTid[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t kSid[8] = {21, 22, 23, 24, 25, 26, 27, 28};

/* A minimal valid span with trace_id, span_id and name. */
static void valid_span(buf *s) {
  s->n = 0;
  b_len(s, 1, kTid, 16);
  b_len(s, 2, kSid, 8);
  b_len(s, 5, "op", 2);
}

/* request { resource_spans { scope_spans { spans: span } } } */
static void wrap(buf *req, const buf *span) {
  buf ss = {.n = 0}, rs = {.n = 0};
  b_msg(&ss, 2, span);
  b_msg(&rs, 2, &ss);
  req->n = 0;
  b_msg(req, 1, &rs);
}

static int decode(const buf *req, oa_batch *out, oa_otlp_result *res) {
  return oa_otlp_decode_traces(req->d, (int64_t)req->n, NULL, out, res, err);
}

OA_TEST(minimal_span) {
  buf s, req;
  valid_span(&s);
  b_fixed64(&s, 7, 1000);
  b_fixed64(&s, 8, 250);
  wrap(&req, &s);
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(decode(&req, &b, &res), err);
  CHECK_EQ_INT(b.length, 1);
  CHECK_EQ_INT(res.accepted_spans, 1);
  int64_t c = oa_schema_find(b.schema, "duration");
  CHECK_EQ_INT(oa_array_get_int(&b.schema->fields[c], &b.columns[c], 0), -750);
  c = oa_schema_find(b.schema, "parent_span_id");
  CHECK(oa_array_is_null(&b.schema->fields[c], &b.columns[c], 0));
  oa_batch_reset(&b);
}

OA_TEST(unknown_fields_skipped) {
  buf s, req;
  valid_span(&s);
  b_tag(&s, 100, 0); /* varint */
  b_varint(&s, 12345678901ull);
  b_tag(&s, 101, 5); /* fixed32 */
  b_raw(&s, "abcd", 4);
  b_fixed64(&s, 102, 7);
  b_len(&s, 103, "\xff\xff", 2); /* not inspected */
  wrap(&req, &s);
  b_tag(&req, 9, 0); /* unknown top-level field after the data */
  b_varint(&req, 1);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(decode(&req, &b, NULL), err);
  CHECK_EQ_INT(b.length, 1);
  oa_batch_reset(&b);
}

OA_TEST(noncanonical_but_valid) {
  /* a redundant varint continuation (0x85 0x00 == 5) and the last of two
   * scalar occurrences winning */
  buf s, req;
  valid_span(&s);
  b_tag(&s, 6, 0);
  b_raw(&s, "\x85\x00", 2);
  b_len(&s, 5, "second", 6);
  wrap(&req, &s);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(decode(&req, &b, NULL), err);
  int64_t c = oa_schema_find(b.schema, "kind");
  CHECK_EQ_INT(oa_array_get_int(&b.schema->fields[c], &b.columns[c], 0), 5);
  c = oa_schema_find(b.schema, "name");
  const oa_field *f = &b.schema->fields[c];
  oa_field vf = *f;
  vf.dict.encoded = false;
  int64_t n;
  const uint8_t *d =
      oa_array_get_bytes(&vf, b.columns[c].dictionary,
                         oa_array_get_dict_index(f, &b.columns[c], 0), &n);
  CHECK(n == 6 && memcmp(d, "second", 6) == 0);
  oa_batch_reset(&b);
}

OA_TEST(wrong_wire_type) {
  buf s, req;
  valid_span(&s);
  b_tag(&s, 5, 0); /* name as a varint */
  b_varint(&s, 3);
  wrap(&req, &s);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err, "field 'Span.name'");
  CHECK(strstr(err->message, "offset 38") !=
        NULL); /* 6 framing + 32 span bytes */
  CHECK_EQ_INT(b.length, 0);
  /* top level */
  req.n = 0;
  b_tag(&req, 1, 0);
  b_varint(&req, 1);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err,
              "ExportTraceServiceRequest.resource_spans");
  /* AnyValue.int_value as fixed64 */
  buf av = {.n = 0}, kv = {.n = 0};
  b_fixed64(&av, 3, 1);
  b_len(&kv, 1, "k", 1);
  b_msg(&kv, 2, &av);
  valid_span(&s);
  b_msg(&s, 9, &kv);
  wrap(&req, &s);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err, "AnyValue.int_value");
  oa_batch_reset(&b);
}

OA_TEST(bad_varints_and_lengths) {
  oa_batch b;
  oa_batch_init(&b);
  buf req = {.n = 0};
  /* 11-byte varint */
  b_tag(&req, 5, 0);
  b_raw(&req, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err, "overlong");
  /* 10th byte carrying bits past 64 */
  req.n = 0;
  b_tag(&req, 5, 0);
  b_raw(&req, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err, "overlong");
  /* truncated varint */
  req.n = 0;
  b_tag(&req, 5, 0);
  b_raw(&req, "\x80", 1);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err, "offset 1");
  /* length past the end */
  req.n = 0;
  b_tag(&req, 1, 2);
  b_varint(&req, 100);
  b_raw(&req, "abc", 3);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err, "past the end");
  /* a huge length */
  req.n = 0;
  b_tag(&req, 1, 2);
  b_varint(&req, UINT64_MAX);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err, "past the end");
  /* a nested length past the end of its parent (but inside the buffer) */
  buf s, rs = {.n = 0};
  valid_span(&s);
  buf ss = {.n = 0};
  b_msg(&ss, 2, &s);
  ss.d[1] += 5; /* span claims 5 more bytes than ScopeSpans has */
  b_msg(&rs, 2, &ss);
  req.n = 0;
  b_msg(&req, 1, &rs);
  b_raw(&req, "\0\0\0\0\0\0\0\0", 8);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err, "ScopeSpans.spans");
  /* field number 0, group wire types */
  req.n = 0;
  b_raw(&req, "\x00\x01", 2);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err, "invalid field number 0");
  req.n = 0;
  b_tag(&req, 7, 3);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err, "wire type 3");
  /* truncated fixed64 */
  valid_span(&s);
  b_tag(&s, 7, 1);
  b_raw(&s, "\1\2\3", 3);
  wrap(&req, &s);
  CHECK_FAILS(decode(&req, &b, NULL), EINVAL, err,
              "Span.start_time_unix_nano': truncated");
  CHECK_EQ_INT(b.length, 0);
  oa_batch_reset(&b);
}

/* A malformed span after good ones rejects the whole request: the good rows
 * already appended are thrown away and the decoder stays usable. */
OA_TEST(wire_error_after_good_spans) {
  buf s1, s2, ss = {.n = 0}, rs = {.n = 0}, req = {.n = 0};
  valid_span(&s1);
  valid_span(&s2);
  b_tag(&s2, 6, 2);
  b_varint(&s2, 0);
  b_msg(&ss, 2, &s1);
  b_msg(&ss, 2, &s2);
  b_msg(&rs, 2, &ss);
  b_msg(&req, 1, &rs);
  oa_otlp_decoder *dec;
  CHECK_OK(oa_otlp_decoder_new(&dec, NULL, err), err);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_FAILS(oa_otlp_decoder_decode(dec, req.d, (int64_t)req.n, &b, NULL, err),
              EINVAL, err, "Span.kind");
  wrap(&req, &s1);
  CHECK_OK(oa_otlp_decoder_decode(dec, req.d, (int64_t)req.n, &b, NULL, err),
           err);
  CHECK_EQ_INT(b.length, 1);
  CHECK_OK(oa_batch_validate(&b, true, err), err);
  oa_batch_reset(&b);
  oa_otlp_decoder_free(dec);
}

OA_TEST(anyvalue_oneof_last_wins) {
  buf av = {.n = 0}, kv = {.n = 0}, s, req;
  b_len(&av, 1, "str", 3);
  b_tag(&av, 3, 0);
  b_varint(&av, 42);
  b_len(&kv, 1, "k", 1);
  b_msg(&kv, 2, &av);
  valid_span(&s);
  b_msg(&s, 9, &kv);
  wrap(&req, &s);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(decode(&req, &b, NULL), err);
  int64_t c = oa_schema_find(b.schema, "attributes");
  const oa_field *vf = &b.schema->fields[c].children[0].children[1];
  const oa_array *va = &b.columns[c].children[0].children[1];
  /* dense union: type code OA_ATTR_INT, row 0 of the int child, which
   * alone holds a value */
  CHECK_EQ_INT(va->length, 1);
  CHECK_EQ_INT((int8_t)va->buffers[0].data[0], OA_ATTR_INT);
  CHECK_EQ_INT(((const int32_t *)va->buffers[1].data)[0], 0);
  CHECK_EQ_INT(oa_array_get_int(&vf->children[OA_ATTR_VALUE_INT],
                                &va->children[OA_ATTR_VALUE_INT], 0),
               42);
  for (int k = 0; k < OA_ATTR_VALUE_N; k++)
    CHECK_EQ_INT(va->children[k].length, k == OA_ATTR_VALUE_INT);
  oa_batch_reset(&b);
}

OA_TEST(span_schema_columns) {
  oa_schema *s;
  CHECK_OK(oa_span_schema(&s, err), err);
  static const struct {
    const char *name;
    const char *type;
  } kCols[] = {
      {"trace_id", "fixed_size_binary"},
      {"span_id", "fixed_size_binary"},
      {"parent_span_id", "fixed_size_binary"},
      {"name", "dictionary"},
      {"kind", "int32"},
      {"start_time", "timestamp"},
      {"end_time", "timestamp"},
      {"duration", "duration"},
      {"status_code", "int32"},
      {"service_name", "dictionary"},
      {"attributes", "map"},
      {"events", "list"},
      {"links", "list"},
      {"resource_attributes", "dictionary"},
      {"scope_name", "dictionary"},
      {"resource_id", "int32"},
      {"scope_id", "int32"},
      {"dropped_links_count", "uint32"},
  };
  for (size_t i = 0; i < sizeof kCols / sizeof kCols[0]; i++) {
    int64_t c = oa_schema_find(s, kCols[i].name);
    CHECK(c >= 0);
    if (c < 0) continue;
    char t[512];
    oa_field_format_type(&s->fields[c], t, sizeof t);
    if (!strstr(t, kCols[i].type)) {
      fprintf(stderr, "  %s: %s lacks %s\n", kCols[i].name, t, kCols[i].type);
      CHECK(0);
    }
  }
  CHECK_EQ_INT(s->n_fields, OA_SPAN_N_COLUMNS);
  CHECK(!s->fields[oa_schema_find(s, "trace_id")].nullable);
  CHECK(s->fields[oa_schema_find(s, "parent_span_id")].nullable);
  CHECK_EQ_STR(s->fields[oa_schema_find(s, "start_time")].type.timezone, "UTC");
  oa_schema *s2;
  CHECK_OK(oa_span_schema(&s2, err), err);
  CHECK(oa_schema_equals(s, s2, true, err));
  oa_schema_release(s2);
  oa_schema_release(s);
}

OA_TEST(encode_rejects_other_schemas) {
  oa_schema *s;
  CHECK_OK(oa_schema_new(&s, err), err);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(oa_batch_set(&b, s, 0, NULL, err), err);
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_FAILS(oa_otlp_encode_traces(&b, &out, err), EINVAL, err, "span schema");
  oa_batch_reset(&b);
  oa_schema_release(s);
  oa_bytes_reset(&out);
}

OA_TEST_MAIN(OA_T(minimal_span), OA_T(unknown_fields_skipped),
             OA_T(noncanonical_but_valid), OA_T(wrong_wire_type),
             OA_T(bad_varints_and_lengths), OA_T(wire_error_after_good_spans),
             OA_T(anyvalue_oneof_last_wins), OA_T(span_schema_columns),
             OA_T(encode_rejects_other_schemas))
