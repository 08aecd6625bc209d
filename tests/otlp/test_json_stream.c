/* The streaming OTLP/JSON parser: strict RFC 8259 syntax with exact error
 * offsets, escapes and surrogate pairs, key order and formatting that do not
 * matter (checked against the protobuf path, with the JSON re-serialized
 * independently by json-c in another key order and layout), limits. */
#include <errno.h>
#include <json-c/json.h>

#include "otlparrow/otlp.h"
#include "test.h"

static oa_error err_s;
static oa_error *err = &err_s;

#define TID "0102030405060708090a0b0c0d0e0f10"
#define SID "15161718191a1b1c"
#define SPAN_IDS "\"traceId\":\"" TID "\",\"spanId\":\"" SID "\""

static int decode_n(const char *j, int64_t n, oa_batch *out,
                    oa_otlp_result *res) {
  return oa_otlp_decode_traces_json(j, n, NULL, out, res, err);
}

static int decode(const char *j, oa_batch *out, oa_otlp_result *res) {
  return decode_n(j, (int64_t)strlen(j), out, res);
}

/* The bytes of a (possibly dictionary-encoded) string column at row. */
static const uint8_t *str_at(const oa_batch *b, const char *name, int64_t row,
                             int64_t *n) {
  int64_t c = oa_schema_find(b->schema, name);
  if (c < 0) abort();
  const oa_field *f = &b->schema->fields[c];
  const oa_array *a = &b->columns[c];
  if (!f->dict.encoded) return oa_array_get_bytes(f, a, row, n);
  oa_field vf = *f;
  vf.dict.encoded = false;
  return oa_array_get_bytes(&vf, a->dictionary,
                            oa_array_get_dict_index(f, a, row), n);
}

static void expect_invalid(const char *json, int code, const char *msg) {
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_FAILS(decode(json, &b, &res), code, err, msg);
  CHECK_EQ_INT(b.length, 0);
  oa_batch_reset(&b);
}

OA_TEST(strict_syntax_with_offsets) {
  expect_invalid("{\"a\":01}", EINVAL,
                 "otlp json: offset 6: unexpected character '1'");
  expect_invalid("{\"a\":1.}", EINVAL, "offset 7: unexpected character '}'");
  expect_invalid("{\"a\":.5}", EINVAL, "offset 5: unexpected character '.'");
  expect_invalid("{\"a\":-}", EINVAL, "offset 6: unexpected character '}'");
  expect_invalid("{\"a\":+1}", EINVAL, "offset 5: unexpected character '+'");
  expect_invalid("{\"a\":1e}", EINVAL, "offset 7: unexpected character '}'");
  expect_invalid("{\"a\":1e+}", EINVAL, "offset 8:");
  expect_invalid("{\"a\":[1,]}", EINVAL, "offset 8: unexpected character ']'");
  expect_invalid("{'a':1}", EINVAL, "offset 1: unexpected character '''");
  expect_invalid("{\"a\":1,}", EINVAL, "offset 7: unexpected character '}'");
  expect_invalid("{\"a\":1 /*c*/}", EINVAL, "offset 7: unexpected character");
  expect_invalid("{\"a\" 1}", EINVAL, "offset 5: unexpected character '1'");
  expect_invalid("{\"a\":true false}", EINVAL, "offset 10:");
  expect_invalid("{\"a\":nul}", EINVAL, "offset 8: unexpected character '}'");
  expect_invalid("{\"a\":nul", EINVAL, "offset 8: unexpected end of input");
  expect_invalid("{\"a\":Infinity}", EINVAL, "offset 5:");
  expect_invalid("{\"a\":-Infinity}", EINVAL, "offset 6:");
  expect_invalid("{\"a\":1}}", EINVAL, "offset 7: data after the request");
  expect_invalid("  ", EINVAL, "offset 2: unexpected end of input");
  expect_invalid("\xef\xbb\xbf{}", EINVAL, "offset 0: unexpected character");
  /* strings */
  expect_invalid("{\"a\":\"x\ty\"}", EINVAL,
                 "offset 7: unescaped control character in a string");
  expect_invalid("{\"a\":\"\\u12g4\"}", EINVAL, "offset 6: invalid \\u escape");
  expect_invalid("{\"a\":\"\\u12\"}", EINVAL, "offset 6: invalid \\u escape");
  expect_invalid("{\"a\":\"\\q\"}", EINVAL, "offset 6: invalid escape '\\q'");
  expect_invalid("{\"a\":\"abc\\\"}", EINVAL, "unexpected end of input");
  expect_invalid("{\"a\xff\":1}", EINVAL, "offset 2: invalid UTF-8");
  expect_invalid("{\"a\":\"\xc0\xaf\"}", EINVAL, "offset 6: invalid UTF-8");
  expect_invalid("{\"a\":[\"ok\",\"\xed\xa0\x80\"]}", EINVAL,
                 "offset 12: invalid UTF-8");
  /* syntax errors name where in the request they are */
  expect_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":"
                 "\"x\" \"y\"}]}]}]}",
                 EINVAL,
                 "offset 55: unexpected character '\"' (in "
                 "resourceSpans[0].scopeSpans[0].spans[0])");
}

OA_TEST(lenient_json_accepted) {
  /* whitespace everywhere, unknown fields with any valid value (numbers of
   * any size, escapes, lone surrogates, deep but legal nesting), and the
   * empty request */
  const char *ok[] = {
      "{}",
      " \t\r\n{ \t\r\n} \t\r\n",
      "{\"resourceSpans\":[]}",
      "{\"resourceSpans\" : [ ] , \"x\" : { \"y\" : [ 1 , -0.5e-3 , 1E+400 , "
      "123456789012345678901234567890 , true , false , null , \"\\ud800\\/\" "
      "] } }",
      "{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]"
      "]]]]]]]]]]]]]]]}",
      "{\"resource_spans\":[{\"scope_spans\":[{\"spans\":[]}]}]}",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    oa_batch b;
    oa_batch_init(&b);
    oa_otlp_result res;
    CHECK_OK(decode(ok[i], &b, &res), err);
    CHECK_EQ_INT(b.length, 0);
    CHECK_EQ_INT(res.rejected_spans, 0);
    oa_batch_reset(&b);
  }
}

OA_TEST(escapes_to_utf8) {
  const char *j = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" SPAN_IDS
                  ",\"name\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u00E9\\u20ac"
                  "\\ud83d\\ude00\\uD83D\\uDE00\\u0000Z\xc3\xa9\"}]}]}]}";
  const uint8_t want[] = {'"',  '\\', '/',  '\b', '\f', '\n', '\r', '\t', 0xc3,
                          0xa9, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98,
                          0x80, 0xf0, 0x9f, 0x98, 0x80, 0,    'Z',  0xc3, 0xa9};
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(decode(j, &b, &res), err);
  CHECK_EQ_INT(b.length, 1);
  if (b.length == 1) {
    int64_t n;
    const uint8_t *d = str_at(&b, "name", 0, &n);
    CHECK_EQ_INT(n, (int64_t)sizeof want);
    CHECK(n == (int64_t)sizeof want && memcmp(d, want, sizeof want) == 0);
  }
  oa_batch_reset(&b);
  /* a high surrogate followed by something else than a low one: the span
   * is rejected (invalid UTF-8), the request kept */
  const char *lone =
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" SPAN_IDS
      ",\"name\":\"\\ud83d\\u0041\"},{" SPAN_IDS "}]}]}]}";
  CHECK_OK(decode(lone, &b, &res), err);
  CHECK_EQ_INT(b.length, 1);
  CHECK_EQ_INT(res.rejected_spans, 1);
  CHECK(strstr(res.error_message,
               "resourceSpans[0].scopeSpans[0].spans[0]: span name: invalid "
               "UTF-8") != NULL);
  oa_batch_reset(&b);
}

OA_TEST(key_order_and_names_do_not_matter) {
  /* canonical: .proto order, lowerCamelCase */
  const char *a =
      "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
      "\"service.name\",\"value\":{\"stringValue\":\"svc\"}}]},"
      "\"scopeSpans\":[{\"scope\":{\"name\":\"lib\",\"version\":\"1\"},"
      "\"spans\":[{" SPAN_IDS ",\"name\":\"op\",\"kind\":2,"
      "\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"25\","
      "\"attributes\":[{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":"
      "[{\"key\":\"x\",\"value\":{\"intValue\":\"7\"}},{\"key\":\"y\","
      "\"value\":{\"arrayValue\":{\"values\":[{\"boolValue\":true},"
      "{\"doubleValue\":1.5}]}}}]}}}],\"status\":{\"message\":\"m\","
      "\"code\":2}}],\"schemaUrl\":\"s\"}]}]}";
  /* reversed key order everywhere, snake_case names, other number forms */
  const char *b =
      "{\"resource_spans\":[{\"scope_spans\":[{\"schema_url\":\"s\","
      "\"spans\":[{\"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":"
      "\"m\"},\"attributes\":[{\"value\":{\"kvlist_value\":{\"values\":"
      "[{\"value\":{\"int_value\":7},\"key\":\"x\"},{\"value\":"
      "{\"array_value\":{\"values\":[{\"bool_value\":true},{\"double_value\":"
      "\"1.5\"}]}},\"key\":\"y\"}]}},\"key\":\"kv\"}],\"end_time_unix_nano\":"
      "25,\"start_time_unix_nano\":1e1,\"kind\":\"SPAN_KIND_SERVER\","
      "\"name\":\"op\",\"span_id\":\"15161718191A1B1C\",\"trace_id\":"
      "\"0102030405060708090A0B0C0D0E0F10\"}],\"scope\":{\"version\":\"1\","
      "\"name\":\"lib\"}}],\"resource\":{\"attributes\":[{\"value\":"
      "{\"string_value\":\"svc\"},\"key\":\"service.name\"}]}}]}";
  oa_batch ba, bb;
  oa_batch_init(&ba);
  oa_batch_init(&bb);
  CHECK_OK(decode(a, &ba, NULL), err);
  CHECK_OK(decode(b, &bb, NULL), err);
  CHECK_EQ_INT(ba.length, 1);
  CHECK(oa_batch_equals(&ba, &bb, err));
  int64_t n;
  const uint8_t *d = str_at(&bb, "scope_name", 0, &n);
  CHECK(n == 3 && memcmp(d, "lib", 3) == 0);
  d = str_at(&bb, "service_name", 0, &n);
  CHECK(n == 3 && memcmp(d, "svc", 3) == 0);
  oa_batch_reset(&ba);
  oa_batch_reset(&bb);
}

OA_TEST(rejected_span_path_after_reordering) {
  /* spans before scope, resource after scopeSpans: the rejected span is
   * still named by its JSON path */
  const char *j = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" SPAN_IDS
                  "},{\"spanId\":\"0102\",\"traceId\":\"" TID
                  "\"}],\"scope\":{\"name\":\"lib\"}}],\"resource\":{}},"
                  "{\"scopeSpans\":[{\"spans\":[{\"spanId\":\"xyz\","
                  "\"traceId\":\"" TID "\"}]}]}]}";
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(decode(j, &b, &res), err);
  CHECK_EQ_INT(b.length, 1);
  CHECK_EQ_INT(res.rejected_spans, 2);
  CHECK(strstr(res.error_message, "resourceSpans[0].scopeSpans[0].spans[1]") !=
        NULL);
  if (b.length == 1) {
    int64_t n;
    const uint8_t *d = str_at(&b, "scope_name", 0, &n);
    CHECK(n == 3 && memcmp(d, "lib", 3) == 0);
  }
  oa_batch_reset(&b);
  j = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"spanId\":\"xyz\","
      "\"traceId\":\"" TID "\"}]}]}]}";
  CHECK_OK(decode(j, &b, &res), err);
  CHECK(strstr(res.error_message,
               "resourceSpans[0].scopeSpans[0].spans[0].spanId: not a hex") !=
        NULL);
  oa_batch_reset(&b);
}

OA_TEST(errors_name_path_and_offset) {
  const char *j = "{\"resourceSpans\":[{\"scopeSpans\":[{},{\"spans\":[{},"
                  "{\"kind\":true}]}]}]}";
  int64_t at = (int64_t)(strstr(j, "true") - j);
  char want[256];
  snprintf(want, sizeof want,
           "otlp json: offset %lld: resourceSpans[0].scopeSpans[1].spans[1]."
           "kind: expected an integer (a number or a decimal string), got a "
           "boolean",
           (long long)at);
  expect_invalid(j, EINVAL, want);
  j = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"a\","
      "\"name\":\"b\"}]}]}]}";
  at = (int64_t)(strstr(j, "\"b\"") - j);
  snprintf(want, sizeof want,
           "otlp json: offset %lld: resourceSpans[0].scopeSpans[0].spans[0]."
           "name: given twice",
           (long long)at);
  expect_invalid(j, EINVAL, want);
  expect_invalid("{\"resourceSpans\":[],\"resource_spans\":[]}", EINVAL,
                 "offset 37: resourceSpans: given twice");
  expect_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                 "\"startTimeUnixNano\":-5}]}]}]}",
                 EINVAL,
                 "offset 64: resourceSpans[0].scopeSpans[0].spans[0]."
                 "startTimeUnixNano: -5 is out of range for fixed64");
  expect_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                 "\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":"
                 "1e400}}]}]}]}]}",
                 EINVAL, "intValue: inf is not an integer");
}

OA_TEST(limits) {
  /* nesting: unknown values count too; 4 * max_depth + 32 levels */
  static char deep[2000];
  int n = snprintf(deep, sizeof deep, "{\"x\":");
  for (int i = 0; i < 159; i++)
    deep[n++] = '[';
  for (int i = 0; i < 159; i++)
    deep[n++] = ']';
  deep[n++] = '}';
  deep[n] = 0;
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(decode(deep, &b, NULL), err);
  n = snprintf(deep, sizeof deep, "{\"x\":");
  for (int i = 0; i < 160; i++)
    deep[n++] = '[';
  deep[n] = 0;
  expect_invalid(deep, EINVAL, "offset 164: nesting too deep (more than 160");
  /* the size limit is checked before any byte is read */
  CHECK_FAILS(decode_n("{}", (int64_t)INT32_MAX + 1, &b, NULL), E2BIG, err,
              "otlp json: request of 2147483648 bytes is over");
  CHECK_FAILS(decode_n("{}", -1, &b, NULL), EINVAL, err, "invalid input");
  oa_batch_reset(&b);
}

OA_TEST(absent_and_empty_value_agree) {
  /* fuzz finding: a KeyValue without "value" is the empty value, also for
   * the derived service_name (the last service.name wins) */
  const char *fmt =
      "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
      "\"service.name\",\"value\":{\"stringValue\":\"a\"}},{\"key\":"
      "\"service.name\"%s}]},\"scopeSpans\":[{\"spans\":[{" SPAN_IDS "}]}]}]}";
  char a[512], b[512];
  snprintf(a, sizeof a, fmt, "");
  snprintf(b, sizeof b, fmt, ",\"value\":{}");
  oa_batch ba, bb;
  oa_batch_init(&ba);
  oa_batch_init(&bb);
  CHECK_OK(decode(a, &ba, NULL), err);
  CHECK_OK(decode(b, &bb, NULL), err);
  CHECK_EQ_INT(ba.length, 1);
  CHECK(oa_batch_equals(&ba, &bb, err));
  int64_t c = oa_schema_find(ba.schema, "service_name");
  CHECK(c >= 0 && ba.length == 1 &&
        oa_array_is_null(&ba.schema->fields[c], &ba.columns[c], 0));
  oa_batch_reset(&ba);
  oa_batch_reset(&bb);
}

/* json-c's copy of a tree with every object's keys in reverse order. */
static json_object *reversed(json_object *v) {
  if (json_object_is_type(v, json_type_array)) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(v); i++)
      json_object_array_add(a, reversed(json_object_array_get_idx(v, i)));
    return a;
  }
  if (!json_object_is_type(v, json_type_object)) return json_object_get(v);
  const char *keys[64];
  json_object *vals[64];
  int k = 0;
  json_object_object_foreach(v, key, val) {
    if (k < 64) {
      keys[k] = key;
      vals[k++] = val;
    }
  }
  json_object *o = json_object_new_object();
  while (k-- > 0)
    json_object_object_add(o, keys[k], reversed(vals[k]));
  return o;
}

OA_TEST(generator_json_equals_protobuf) {
  /* decode(pb) == decode(our JSON of it) == decode(json-c's re-serialization
   * of that JSON with keys reversed, pretty-printed, '/' escaped) */
  oa_trace_gen g;
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  o.spans = 2500;
  o.seed = 7;
  CHECK_OK(oa_trace_gen_init(&g, &o, err), err);
  oa_bytes pb, js;
  oa_bytes_init(&pb);
  oa_bytes_init(&js);
  oa_otlp_json_decoder *dec;
  CHECK_OK(oa_otlp_json_decoder_new(&dec, NULL, err), err);
  int64_t total = 0;
  for (int round = 0;; round++) {
    int64_t n = 0;
    CHECK_OK(oa_trace_gen_next_request(&g, 1000, &pb, &n, err), err);
    if (n == 0) break;
    total += n;
    oa_batch bp, bj, br;
    oa_batch_init(&bp);
    oa_batch_init(&bj);
    oa_batch_init(&br);
    oa_otlp_result rp, rj, rr;
    CHECK_OK(oa_otlp_decode_traces(pb.data, pb.size, NULL, &bp, &rp, err), err);
    js.size = 0;
    CHECK_OK(oa_otlp_traces_pb_to_json(pb.data, pb.size, &js, err), err);
    CHECK_OK(oa_otlp_json_decoder_decode(dec, (const char *)js.data, js.size,
                                         &bj, &rj, err),
             err);
    CHECK_EQ_INT(bj.length, n);
    CHECK_EQ_INT(rj.rejected_spans, 0);
    CHECK(oa_batch_equals(&bp, &bj, err));
    json_object *t = json_tokener_parse(
        (const char *)(oa_bytes_append(&js, "", 1) == 0 ? js.data : NULL));
    CHECK(t != NULL);
    json_object *r = reversed(t);
    size_t rn;
    const char *rs = json_object_to_json_string_length(
        r, round % 2 ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_SPACED, &rn);
    CHECK(strstr(rs, "\\/") != NULL); /* e.g. in http.route values */
    CHECK_OK(oa_otlp_json_decoder_decode(dec, rs, (int64_t)rn, &br, &rr, err),
             err);
    CHECK(oa_batch_equals(&bp, &br, err));
    json_object_put(t);
    json_object_put(r);
    oa_batch_reset(&bp);
    oa_batch_reset(&bj);
    oa_batch_reset(&br);
  }
  CHECK_EQ_INT(total, 2500);
  oa_otlp_json_decoder_free(dec);
  oa_bytes_reset(&pb);
  oa_bytes_reset(&js);
  oa_trace_gen_reset(&g);
}

OA_TEST_MAIN(OA_T(strict_syntax_with_offsets), OA_T(lenient_json_accepted),
             OA_T(escapes_to_utf8), OA_T(key_order_and_names_do_not_matter),
             OA_T(rejected_span_path_after_reordering),
             OA_T(errors_name_path_and_offset), OA_T(limits),
             OA_T(absent_and_empty_value_agree),
             OA_T(generator_json_equals_protobuf))
