/* Value formatting (text and JSON) and logical equality. */
#include <math.h>

#include "test_util.h"

static oa_error err_s;
static oa_error *err = &err_s;

static oa_array one_decimal(oa_field *f, int64_t unscaled, int bytes) {
  oa_builder b;
  oa_array a;
  uint8_t v[32];
  memset(v, unscaled < 0 ? 0xff : 0, sizeof v);
  memcpy(v, &unscaled, 8);
  oa_builder_init(&b, f, 0, NULL);
  oa_builder_append_bytes(&b, v, bytes);
  oa_builder_finish(&b, &a, NULL);
  oa_builder_reset(&b);
  return a;
}

OA_TEST(decimals) {
  static const struct {
    int64_t v;
    int scale;
    const char *json;
  } cases[] = {
      {-12345, 2, "\"-123.45\""}, {-12345, 0, "\"-12345\""},
      {5, 3, "\"0.005\""},        {-5, 3, "\"-0.005\""},
      {123, -2, "\"12300\""},     {0, 2, "\"0.00\""},
      {100, 2, "\"1.00\""},       {INT64_MIN, 0, "\"-9223372036854775808\""}};
  for (int w = 0; w < 2; w++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      oa_field f = tf("d", w ? OA_TYPE_DECIMAL256 : OA_TYPE_DECIMAL128);
      f.type.scale = cases[i].scale;
      oa_array a = one_decimal(&f, cases[i].v, w ? 32 : 16);
      CHECK_EQ_STR(JSON(&f, &a, 0), cases[i].json);
      oa_array_reset(&a);
      oa_field_reset(&f);
    }
  /* the largest decimal128 magnitude: 2^127 - 1 and -2^127 */
  oa_field f = tf("d", OA_TYPE_DECIMAL128);
  f.type.scale = 10;
  oa_builder b;
  oa_array a;
  uint8_t v[16];
  oa_builder_init(&b, &f, 0, NULL);
  memset(v, 0xff, 16);
  v[15] = 0x7f;
  oa_builder_append_bytes(&b, v, 16);
  memset(v, 0, 16);
  v[15] = 0x80;
  oa_builder_append_bytes(&b, v, 16);
  oa_builder_finish(&b, &a, NULL);
  CHECK_EQ_STR(JSON(&f, &a, 0), "\"17014118346046923173168730371.5884105727\"");
  CHECK_EQ_STR(TEXT(&f, &a, 1), "-17014118346046923173168730371.5884105728");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(floats_and_ints) {
  oa_field f = tf("g", OA_TYPE_DOUBLE);
  oa_builder b;
  oa_array a;
  oa_builder_init(&b, &f, 0, NULL);
  double v[] = {NAN, INFINITY, -INFINITY, 0.1, -0.0, 1e300};
  for (int i = 0; i < 6; i++)
    oa_builder_append_double(&b, v[i]);
  oa_builder_append_null(&b);
  oa_builder_finish(&b, &a, NULL);
  CHECK_EQ_STR(JSON(&f, &a, 0), "\"NaN\"");
  CHECK_EQ_STR(JSON(&f, &a, 1), "\"Infinity\"");
  CHECK_EQ_STR(JSON(&f, &a, 2), "\"-Infinity\"");
  CHECK_EQ_STR(TEXT(&f, &a, 0), "NaN");
  CHECK_EQ_STR(TEXT(&f, &a, 1), "inf");
  CHECK_EQ_STR(JSON(&f, &a, 3), "0.10000000000000001");
  CHECK_EQ_STR(JSON(&f, &a, 4), "-0");
  CHECK_EQ_STR(JSON(&f, &a, 5), "1.0000000000000001e+300");
  CHECK_EQ_STR(JSON(&f, &a, 6), "null");
  CHECK_EQ_STR(TEXT(&f, &a, 6), "null");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);

  f = tf("f", OA_TYPE_FLOAT);
  oa_builder_init(&b, &f, 0, NULL);
  oa_builder_append_double(&b, 0.1);
  oa_builder_finish(&b, &a, NULL);
  CHECK_EQ_STR(JSON(&f, &a, 0), "0.100000001");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);

  f = tf("l", OA_TYPE_INT64);
  oa_builder_init(&b, &f, 0, NULL);
  oa_builder_append_int(&b, INT64_MIN);
  oa_builder_finish(&b, &a, NULL);
  CHECK_EQ_STR(JSON(&f, &a, 0), "\"-9223372036854775808\"");
  CHECK_EQ_STR(TEXT(&f, &a, 0), "-9223372036854775808");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);

  f = tf("i", OA_TYPE_INT8);
  oa_builder_init(&b, &f, 0, NULL);
  oa_builder_append_int(&b, -128);
  oa_builder_finish(&b, &a, NULL);
  CHECK_EQ_STR(JSON(&f, &a, 0), "-128");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(string_escapes) {
  oa_field f = tf("s", OA_TYPE_STRING);
  oa_builder b;
  oa_array a;
  oa_builder_init(&b, &f, 0, NULL);
  oa_builder_append_cstr(&b, "a\"b\\c\nd\te\x01\x1f/");
  oa_builder_append_cstr(&b, "caf\xc3\xa9 \xf0\x9f\x98\x80");
  oa_builder_append_cstr(&b, "bad\xff\xc3(\xed\xa0\x80z");
  oa_builder_append_cstr(&b, "\r\b\f");
  oa_builder_finish(&b, &a, NULL);
  CHECK_EQ_STR(JSON(&f, &a, 0), "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f/\"");
  CHECK_EQ_STR(TEXT(&f, &a, 0), "a\"b\\c\\nd\\te\\u0001\\u001f/");
  CHECK_EQ_STR(JSON(&f, &a, 1), "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
  CHECK_EQ_STR(JSON(&f, &a, 2), "\"bad\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffdz\"");
  CHECK_EQ_STR(
      TEXT(&f, &a, 2),
      "bad\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");
  CHECK_EQ_STR(JSON(&f, &a, 3), "\"\\r\\b\\f\"");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

static oa_array ints_of(oa_field *f, const int64_t *v, int n) {
  oa_builder b;
  oa_array a;
  oa_builder_init(&b, f, 0, NULL);
  for (int i = 0; i < n; i++)
    oa_builder_append_int(&b, v[i]);
  oa_builder_finish(&b, &a, NULL);
  oa_builder_reset(&b);
  return a;
}

OA_TEST(temporal) {
  oa_field f = tf("t", OA_TYPE_TIMESTAMP);
  const int64_t ns[] = {0, -1, 1704164645123456789LL, 951782400000000000LL};
  static const char *const ns_text[] = {
      "1970-01-01T00:00:00.000000000Z", "1969-12-31T23:59:59.999999999Z",
      "2024-01-02T03:04:05.123456789Z", "2000-02-29T00:00:00.000000000Z"};
  oa_array a = ints_of(&f, ns, 4);
  for (int i = 0; i < 4; i++)
    CHECK_EQ_STR(TEXT(&f, &a, i), ns_text[i]);
  CHECK_EQ_STR(JSON(&f, &a, 1), "\"-1\"");
  oa_array_reset(&a);
  f.type.unit = OA_TIME_UNIT_SECOND;
  const int64_t s[] = {1704164645, -86401};
  a = ints_of(&f, s, 2);
  CHECK_EQ_STR(TEXT(&f, &a, 0), "2024-01-02T03:04:05Z");
  CHECK_EQ_STR(TEXT(&f, &a, 1), "1969-12-30T23:59:59Z");
  oa_array_reset(&a);
  f.type.unit = OA_TIME_UNIT_MILLI;
  const int64_t ms[] = {1704164645123};
  a = ints_of(&f, ms, 1);
  CHECK_EQ_STR(TEXT(&f, &a, 0), "2024-01-02T03:04:05.123Z");
  oa_array_reset(&a);
  f.type.unit = OA_TIME_UNIT_MICRO;
  const int64_t us[] = {-1};
  a = ints_of(&f, us, 1);
  CHECK_EQ_STR(TEXT(&f, &a, 0), "1969-12-31T23:59:59.999999Z");
  oa_array_reset(&a);
  oa_field_reset(&f);

  f = tf("d", OA_TYPE_DATE32);
  const int64_t d[] = {19724, -1};
  a = ints_of(&f, d, 2);
  CHECK_EQ_STR(TEXT(&f, &a, 0), "2024-01-02");
  CHECK_EQ_STR(TEXT(&f, &a, 1), "1969-12-31");
  CHECK_EQ_STR(JSON(&f, &a, 0), "19724");
  oa_array_reset(&a);
  oa_field_reset(&f);
  f = tf("d", OA_TYPE_DATE64);
  const int64_t d64[] = {1704153600000LL};
  a = ints_of(&f, d64, 1);
  CHECK_EQ_STR(TEXT(&f, &a, 0), "2024-01-02");
  CHECK_EQ_STR(JSON(&f, &a, 0), "\"1704153600000\"");
  oa_array_reset(&a);
  oa_field_reset(&f);
  f = tf("t", OA_TYPE_TIME64);
  a = ints_of(&f, d64, 1);
  CHECK_EQ_STR(JSON(&f, &a, 0), "\"1704153600000\"");
  CHECK_EQ_STR(TEXT(&f, &a, 0), "1704153600000");
  oa_array_reset(&a);
  oa_field_reset(&f);
  f = tf("t", OA_TYPE_TIME32);
  a = ints_of(&f, d, 1);
  CHECK_EQ_STR(JSON(&f, &a, 0), "19724");
  oa_array_reset(&a);
  oa_field_reset(&f);
  f = tf("du", OA_TYPE_DURATION);
  a = ints_of(&f, d, 2);
  CHECK_EQ_STR(JSON(&f, &a, 1), "\"-1\"");
  CHECK_EQ_STR(TEXT(&f, &a, 1), "-1");
  oa_array_reset(&a);
  oa_field_reset(&f);

  f = tf("iv", OA_TYPE_INTERVAL_MONTH_DAY_NANO);
  oa_builder b;
  oa_builder_init(&b, &f, 0, NULL);
  uint8_t v[16];
  int32_t md[2] = {-2, 3};
  int64_t nsv = 4000000000LL;
  memcpy(v, md, 8);
  memcpy(v + 8, &nsv, 8);
  oa_builder_append_bytes(&b, v, 16);
  oa_builder_finish(&b, &a, NULL);
  CHECK_EQ_STR(JSON(&f, &a, 0),
               "{\"months\":-2,\"days\":3,\"nanoseconds\":\"4000000000\"}");
  CHECK_EQ_STR(TEXT(&f, &a, 0),
               "{months: -2, days: 3, nanoseconds: 4000000000}");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
  f = tf("iv", OA_TYPE_INTERVAL_DAY_TIME);
  oa_builder_init(&b, &f, 0, NULL);
  oa_builder_append_bytes(&b, md, 8);
  oa_builder_finish(&b, &a, NULL);
  CHECK_EQ_STR(JSON(&f, &a, 0), "{\"days\":-2,\"milliseconds\":3}");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(nested_list_of_struct) {
  oa_field f = tf("l", OA_TYPE_LIST);
  oa_field st = tf("item", OA_TYPE_STRUCT);
  tchild(&st, tf("n", OA_TYPE_STRING));
  tchild(&st, tf("v", OA_TYPE_BOOL));
  tchild(&f, st);
  oa_builder b;
  oa_array a;
  oa_builder_init(&b, &f, 0, NULL);
  oa_builder *sb = &b.children[0];
  oa_builder_append_cstr(&sb->children[0], "x");
  oa_builder_append_bool(&sb->children[1], true);
  oa_builder_append_valid(sb);
  oa_builder_append_null(sb);
  oa_builder_append_null(&sb->children[0]);
  oa_builder_append_bool(&sb->children[1], false);
  oa_builder_append_valid(sb);
  oa_builder_append_valid(&b);
  oa_builder_finish(&b, &a, NULL);
  CHECK_EQ_STR(JSON(&f, &a, 0),
               "[{\"n\":\"x\",\"v\":true},null,{\"n\":null,\"v\":false}]");
  CHECK_EQ_STR(TEXT(&f, &a, 0), "[{n: x, v: true}, null, {n: null, v: false}]");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(field_json) {
  oa_field f = tf("m", OA_TYPE_LIST);
  oa_field item = tf("item", OA_TYPE_TIMESTAMP);
  oa_field_set_timezone(&item, "UTC", NULL);
  item.nullable = false;
  tchild(&f, item);
  oa_metadata_add(&f.metadata, "k\"", 2, "v", 1, NULL);
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(oa_format_field_json(&f, &out, err), err);
  oa_bytes_append(&out, "", 1);
  CHECK_EQ_STR((const char *)out.data,
               "{\"name\":\"m\",\"type\":\"list<item: timestamp[ns, tz=UTC]>\","
               "\"nullable\":true,\"children\":[{\"name\":\"item\",\"type\":"
               "\"timestamp[ns, tz=UTC]\",\"nullable\":false,\"children\":[],"
               "\"metadata\":{}}],\"metadata\":{\"k\\\"\":\"v\"}}");
  oa_bytes_reset(&out);
  oa_field_reset(&f);
}

OA_TEST(equality) {
  oa_field f = tf("x", OA_TYPE_INT32);
  const int64_t v1[] = {1, 2, 3, 5, 6}, v2[] = {0, 1, 2, 3, 6, 6};
  oa_array a = ints_of(&f, v1, 5), b = ints_of(&f, v2, 6), s;
  CHECK(!oa_array_equals(&f, &a, &b, err));
  CHECK(strstr(err->message, "length 5 != 6") != NULL);
  oa_array_slice(&s, &b, 1, 5, NULL);
  CHECK(!oa_array_equals(&f, &a, &s, err));
  CHECK_EQ_STR(err->message, "row 3: 5 != 6");
  oa_array_reset(&s);
  oa_array_slice(&s, &b, 1, 3, NULL);
  oa_array s2;
  oa_array_slice(&s2, &a, 0, 3, NULL);
  CHECK(oa_array_equals(&f, &s2, &s, err));
  oa_array_reset(&s);
  oa_array_reset(&s2);
  oa_array_reset(&a);
  oa_array_reset(&b);
  oa_field_reset(&f);

  /* NaN equals NaN; struct child mismatch names the child */
  f = tf("st", OA_TYPE_STRUCT);
  tchild(&f, tf("g", OA_TYPE_DOUBLE));
  oa_builder bb;
  oa_builder_init(&bb, &f, 0, NULL);
  double dv[] = {NAN, 1.5, NAN, 2.5};
  oa_array x, y;
  for (int r = 0; r < 2; r++) {
    for (int i = 0; i < 2; i++) {
      oa_builder_append_double(&bb.children[0], dv[r * 2 + i]);
      oa_builder_append_valid(&bb);
    }
    oa_builder_finish(&bb, r ? &y : &x, NULL);
  }
  CHECK(!oa_array_equals(&f, &x, &y, err));
  CHECK_EQ_STR(err->message, "row 1 child 'g': 1.5 != 2.5");
  oa_array xs, ys;
  oa_array_slice(&xs, &x, 0, 1, NULL);
  oa_array_slice(&ys, &y, 0, 1, NULL);
  CHECK(oa_array_equals(&f, &xs, &ys, err));
  oa_array_reset(&xs);
  oa_array_reset(&ys);
  oa_array_reset(&x);
  oa_array_reset(&y);
  oa_builder_reset(&bb);
  oa_field_reset(&f);
}

OA_TEST(dictionary_equality_looks_through) {
  oa_field f = tf("d", OA_TYPE_STRING);
  oa_field_set_dictionary(&f, OA_TYPE_INT8, 0, false);
  oa_builder b;
  oa_array x, y;
  oa_builder_init(&b, &f, 0, NULL);
  oa_builder_append_cstr(&b, "a");
  oa_builder_append_cstr(&b, "b");
  oa_builder_finish(&b, &x, NULL);
  /* same values, different dictionary order */
  oa_builder_append_cstr(&b, "z");
  oa_builder_finish(&b, &y, NULL);
  oa_array_reset(&y);
  oa_builder_reset(&b);
  oa_builder_init(&b, &f, 0, NULL);
  oa_builder_append_null(&b);
  oa_builder_finish(&b, &y, NULL); /* placeholder */
  oa_array_reset(&y);
  /* build y with a dictionary [b, a] and indices [1, 0] by hand */
  oa_builder_append_cstr(&b, "b");
  oa_builder_append_cstr(&b, "a");
  oa_builder_finish(&b, &y, NULL);
  uint8_t *idx = (uint8_t *)y.buffers[1].data;
  idx[0] = 1;
  idx[1] = 0;
  CHECK(y.dictionary->length == 2);
  CHECK(oa_array_equals(&f, &x, &y, err));
  idx[1] = 1;
  CHECK(!oa_array_equals(&f, &x, &y, err));
  CHECK_EQ_STR(err->message, "row 1: b != a");
  oa_array_reset(&x);
  oa_array_reset(&y);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(batch_equality) {
  oa_schema *s = tall_schema();
  oa_batch a, b, c;
  oa_batch_init(&a);
  oa_batch_init(&b);
  CHECK_OK(tbatch(s, 40, &a), err);
  CHECK_OK(tbatch(s, 40, &b), err);
  CHECK(oa_batch_equals(&a, &b, err));
  CHECK_OK(oa_batch_slice(&c, &a, 1, 39, err), err);
  oa_batch_reset(&b);
  oa_batch_init(&b);
  CHECK_OK(oa_batch_slice(&b, &a, 0, 39, err), err);
  CHECK(!oa_batch_equals(&b, &c, err));
  CHECK(strstr(err->message, "column 'c_bool': row 0") != NULL);
  oa_batch_reset(&a);
  oa_batch_reset(&b);
  oa_batch_reset(&c);
  oa_schema_release(s);
}

/* A hand-made array missing the buffer its layout keeps values or offsets
 * in is refused, not dereferenced. */
OA_TEST(missing_values_buffer) {
  static const uint8_t validity[1] = {0xFF};
  const oa_type_id types[] = {OA_TYPE_BOOL, OA_TYPE_INT32, OA_TYPE_DECIMAL128,
                              OA_TYPE_STRING, OA_TYPE_INTERVAL_DAY_TIME};
  for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
    oa_field f;
    oa_field_init(&f, "v", types[k], NULL);
    oa_array a;
    oa_array_init(&a);
    a.length = 1;
    a.n_buffers = types[k] == OA_TYPE_STRING ? 3 : 2;
    a.buffers[0].data = validity;
    a.buffers[0].size = 1;
    oa_bytes out;
    oa_bytes_init(&out);
    CHECK_FAILS(oa_format_value(&f, &a, 0, OA_FORMAT_JSON, &out, err), EINVAL,
                err, "field 'v': array has no values or offsets buffer");
    oa_bytes_reset(&out);
    oa_field_reset(&f);
  }
}

OA_TEST_MAIN(OA_T(decimals), OA_T(floats_and_ints), OA_T(string_escapes),
             OA_T(temporal), OA_T(nested_list_of_struct), OA_T(field_json),
             OA_T(equality), OA_T(dictionary_equality_looks_through),
             OA_T(batch_equality), OA_T(missing_values_buffer))
