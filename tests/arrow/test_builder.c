/* Builders: every layout, checked against hand-computed buffers. */
#include "test_util.h"

static oa_error err_s;
static oa_error *err = &err_s;

OA_TEST(int32_with_nulls) {
  oa_field f = tf("x", OA_TYPE_INT32);
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_int(&b, 1), err);
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_OK(oa_builder_append_int(&b, -3), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.length, 3);
  CHECK_EQ_INT(a.null_count, 1);
  CHECK_EQ_INT(a.n_buffers, 2);
  CHECK_BUF(&a, 0, {0x05});
  CHECK_BUF(&a, 1, {1, 0, 0, 0, 0, 0, 0, 0, 0xfd, 0xff, 0xff, 0xff});
  CHECK_EQ_INT(oa_array_get_int(&f, &a, 2), -3);
  CHECK(oa_array_is_null(&f, &a, 1));
  CHECK(!oa_array_is_null(&f, &a, 0));
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  /* reuse: no nulls -> no validity buffer */
  CHECK_OK(oa_builder_append_int(&b, 7), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK(a.buffers[0].data == NULL);
  CHECK_EQ_INT(a.null_count, 0);
  CHECK_BUF(&a, 1, {7, 0, 0, 0});
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(type_checks) {
  oa_field f = tf("x", OA_TYPE_INT8);
  oa_builder b;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_EQ_INT(oa_builder_append_int(&b, 200), EINVAL);
  CHECK_EQ_INT(oa_builder_append_int(&b, -129), EINVAL);
  CHECK_EQ_INT(oa_builder_append_cstr(&b, "x"), EINVAL);
  CHECK_EQ_INT(oa_builder_append_bool(&b, true), EINVAL);
  CHECK_EQ_INT(oa_builder_append_double(&b, 1.0), EINVAL);
  CHECK_EQ_INT(oa_builder_append_valid(&b), EINVAL);
  CHECK_EQ_INT(oa_builder_append_int(&b, -128), 0);
  CHECK_EQ_INT(b.length, 1);
  oa_builder_reset(&b);
  oa_field_reset(&f);
  f = tf("u", OA_TYPE_UINT8);
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_EQ_INT(oa_builder_append_int(&b, -1), EINVAL);
  CHECK_EQ_INT(oa_builder_append_uint(&b, 256), EINVAL);
  CHECK_EQ_INT(oa_builder_append_uint(&b, 255), 0);
  oa_builder_reset(&b);
  oa_field_reset(&f);
  f = tf("l", OA_TYPE_LIST); /* a list without child is refused */
  CHECK_FAILS(oa_builder_init(&b, &f, 0, err), EINVAL, err,
              "needs exactly 1 child");
  oa_field_reset(&f);
}

OA_TEST(bool_bits) {
  oa_field f = tf("b", OA_TYPE_BOOL);
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  bool v[] = {true, false, true, true};
  for (int i = 0; i < 4; i++)
    CHECK_OK(oa_builder_append_bool(&b, v[i]), err);
  CHECK_OK(oa_builder_append_null(&b), err);
  for (int i = 0; i < 5; i++)
    CHECK_OK(oa_builder_append_bool(&b, true), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.length, 10);
  /* values 1,0,1,1,0,1,1,1 | 1,1 */
  CHECK_BUF(&a, 1, {0xed, 0x03});
  CHECK_BUF(&a, 0, {0xef, 0x03});
  CHECK_EQ_INT(oa_array_get_int(&f, &a, 1), 0);
  CHECK_EQ_INT(oa_array_get_int(&f, &a, 9), 1);
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(strings_and_binary) {
  oa_field f = tf("s", OA_TYPE_STRING);
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_cstr(&b, "ab"), err);
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_OK(oa_builder_append_cstr(&b, ""), err);
  CHECK_OK(oa_builder_append_str_fast(&b, "cde", 3), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.n_buffers, 3);
  CHECK_BUF(&a, 0, {0x0d});
  CHECK_BUF(&a, 1,
            {0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0});
  CHECK_BUF(&a, 2, {'a', 'b', 'c', 'd', 'e'});
  int64_t n;
  const uint8_t *p = oa_array_get_bytes(&f, &a, 3, &n);
  CHECK(n == 3 && memcmp(p, "cde", 3) == 0);
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  /* an empty finish still has the offsets [0] */
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.length, 0);
  CHECK_BUF(&a, 1, {0, 0, 0, 0});
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);

  f = tf("lb", OA_TYPE_LARGE_BINARY);
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_bytes(&b, "\x00\xff", 2), err);
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_OK(oa_builder_append_bytes(&b, "z", 1), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_BUF(&a, 1, {0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
                    2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0});
  CHECK_BUF(&a, 2, {0x00, 0xff, 'z'});
  CHECK_EQ_STR(JSON(&f, &a, 0), "\"00ff\"");
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(fixed_size_binary_and_decimal) {
  oa_field f = tf("w", OA_TYPE_FIXED_SIZE_BINARY);
  f.type.byte_width = 3;
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_bytes(&b, "abc", 3), err);
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_OK(oa_builder_append_fsb_fast(&b, "xyz"), err);
  CHECK_EQ_INT(oa_builder_append_bytes(&b, "ab", 2), EINVAL);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_BUF(&a, 1, {'a', 'b', 'c', 0, 0, 0, 'x', 'y', 'z'});
  CHECK_BUF(&a, 0, {0x05});
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);

  f = tf("d", OA_TYPE_DECIMAL128);
  f.type.scale = 2;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  uint8_t v[16];
  memset(v, 0xff, 16);
  v[0] = 0xc7; /* -12345 = ...ffffcfc7 */
  v[1] = 0xcf;
  CHECK_OK(oa_builder_append_bytes(&b, v, 16), err);
  CHECK_EQ_INT(oa_builder_append_bytes(&b, v, 8), EINVAL);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.buffers[1].size, 16);
  CHECK_EQ_STR(JSON(&f, &a, 0), "\"-123.45\"");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(lists) {
  oa_field f = tf("l", OA_TYPE_LIST);
  tchild(&f, tf("item", OA_TYPE_INT32));
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_int(&b.children[0], 1), err);
  CHECK_OK(oa_builder_append_int(&b.children[0], 2), err);
  CHECK_OK(oa_builder_append_valid(&b), err);
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_OK(oa_builder_append_valid(&b), err);
  CHECK_OK(oa_builder_append_i32_fast(&b.children[0], 3), err);
  CHECK_OK(oa_builder_append_valid(&b), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.n_buffers, 2);
  CHECK_EQ_INT(a.n_children, 1);
  CHECK_BUF(&a, 0, {0x0d});
  CHECK_BUF(&a, 1,
            {0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0});
  CHECK_EQ_INT(a.children[0].length, 3);
  CHECK_BUF(&a.children[0], 1, {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0});
  CHECK_EQ_STR(JSON(&f, &a, 0), "[1,2]");
  CHECK_EQ_STR(TEXT(&f, &a, 0), "[1, 2]");
  CHECK_EQ_STR(TEXT(&f, &a, 1), "null");
  CHECK_EQ_STR(TEXT(&f, &a, 2), "[]");
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);

  f = tf("L", OA_TYPE_LARGE_LIST);
  tchild(&f, tf("item", OA_TYPE_STRING));
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_cstr(&b.children[0], "x"), err);
  CHECK_OK(oa_builder_append_valid(&b), err);
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_BUF(&a, 1, {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
                    0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0});
  CHECK_EQ_STR(JSON(&f, &a, 0), "[\"x\"]");
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(fixed_size_list_nulls) {
  oa_field f = tf("fl", OA_TYPE_FIXED_SIZE_LIST);
  f.type.list_size = 2;
  tchild(&f, tf("item", OA_TYPE_INT8));
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_int(&b.children[0], 1), err);
  CHECK_EQ_INT(oa_builder_append_valid(&b), EINVAL); /* only 1 of 2 items */
  CHECK_OK(oa_builder_append_int(&b.children[0], 2), err);
  CHECK_OK(oa_builder_append_valid(&b), err);
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_OK(oa_builder_append_int(&b.children[0], 3), err);
  CHECK_OK(oa_builder_append_int(&b.children[0], 4), err);
  CHECK_OK(oa_builder_append_valid(&b), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.n_buffers, 1);
  CHECK_BUF(&a, 0, {0x05});
  CHECK_EQ_INT(a.children[0].length, 6);
  CHECK_EQ_INT(a.children[0].null_count, 2);
  CHECK_BUF(&a.children[0], 1, {1, 2, 0, 0, 3, 4});
  CHECK_BUF(&a.children[0], 0, {0x33});
  CHECK_EQ_STR(JSON(&f, &a, 2), "[3,4]");
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(struct_and_map) {
  oa_field f = tf("st", OA_TYPE_STRUCT);
  tchild(&f, tf("a", OA_TYPE_INT32));
  tchild(&f, tf("b", OA_TYPE_STRING));
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_int(&b.children[0], 1), err);
  CHECK_OK(oa_builder_append_cstr(&b.children[1], "x"), err);
  CHECK_OK(oa_builder_append_valid(&b), err);
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.n_buffers, 1);
  CHECK_BUF(&a, 0, {0x01});
  CHECK_EQ_INT(a.children[0].length, 2);
  CHECK_EQ_INT(a.children[0].null_count, 1);
  CHECK_EQ_INT(a.children[1].null_count, 1);
  CHECK_BUF(&a.children[1], 1, {0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0});
  CHECK_EQ_STR(JSON(&f, &a, 0), "{\"a\":1,\"b\":\"x\"}");
  CHECK_EQ_STR(TEXT(&f, &a, 0), "{a: 1, b: x}");
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);

  f = tf("m", OA_TYPE_MAP);
  oa_field e = tf("entries", OA_TYPE_STRUCT);
  tchild(&e, tf("key", OA_TYPE_STRING));
  tchild(&e, tf("value", OA_TYPE_INT32));
  tchild(&f, e);
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  oa_builder *eb = &b.children[0];
  CHECK_OK(oa_builder_append_cstr(&eb->children[0], "k"), err);
  CHECK_OK(oa_builder_append_int(&eb->children[1], 1), err);
  CHECK_OK(oa_builder_append_valid(eb), err);
  CHECK_OK(oa_builder_append_cstr(&eb->children[0], "j"), err);
  CHECK_OK(oa_builder_append_null(&eb->children[1]), err);
  CHECK_OK(oa_builder_append_valid(eb), err);
  CHECK_OK(oa_builder_append_valid(&b), err);
  CHECK_OK(oa_builder_append_valid(&b), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_BUF(&a, 1, {0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0});
  CHECK_EQ_STR(JSON(&f, &a, 0), "[[\"k\",1],[\"j\",null]]");
  CHECK_EQ_STR(TEXT(&f, &a, 0), "{k: 1, j: null}");
  CHECK_EQ_STR(JSON(&f, &a, 1), "[]");
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

static oa_field union_field(oa_type_id id) {
  oa_field f = tf("u", id);
  tchild(&f, tf("i", OA_TYPE_INT32));
  tchild(&f, tf("s", OA_TYPE_STRING));
  f.type.type_codes[0] = 5;
  f.type.type_codes[1] = 7;
  return f;
}

OA_TEST(unions) {
  oa_field f = union_field(OA_TYPE_SPARSE_UNION);
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_int(&b.children[0], 1), err);
  CHECK_OK(oa_builder_append_union(&b, 0), err);
  CHECK_OK(oa_builder_append_cstr(&b.children[1], "a"), err);
  CHECK_OK(oa_builder_append_union(&b, 1), err);
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_EQ_INT(oa_builder_append_union(&b, 2), EINVAL);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.n_buffers, 1);
  CHECK_EQ_INT(a.null_count, 0);
  CHECK_BUF(&a, 0, {5, 7, 5});
  CHECK_EQ_INT(a.children[0].length, 3);
  CHECK_EQ_INT(a.children[1].length, 3);
  CHECK_BUF(&a.children[0], 0, {0x01});
  CHECK_BUF(&a.children[1], 0, {0x02});
  CHECK_EQ_STR(JSON(&f, &a, 0), "1");
  CHECK_EQ_STR(JSON(&f, &a, 1), "\"a\"");
  CHECK_EQ_STR(JSON(&f, &a, 2), "null");
  CHECK(oa_array_is_null(&f, &a, 2));
  CHECK_EQ_INT(oa_array_null_count(&f, &a), 0);
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);

  f = union_field(OA_TYPE_DENSE_UNION);
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_int(&b.children[0], 1), err);
  CHECK_OK(oa_builder_append_union(&b, 0), err);
  CHECK_OK(oa_builder_append_cstr(&b.children[1], "a"), err);
  CHECK_OK(oa_builder_append_union(&b, 1), err);
  CHECK_OK(oa_builder_append_int(&b.children[0], 2), err);
  CHECK_OK(oa_builder_append_union(&b, 0), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.n_buffers, 2);
  CHECK_BUF(&a, 0, {5, 7, 5});
  CHECK_BUF(&a, 1, {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0});
  CHECK_EQ_INT(a.children[0].length, 2);
  CHECK_EQ_INT(a.children[1].length, 1);
  CHECK_EQ_STR(JSON(&f, &a, 2), "2");
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(null_type) {
  oa_field f = tf("n", OA_TYPE_NA);
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_nulls(&b, 3), err);
  CHECK_EQ_INT(oa_builder_append_int(&b, 1), EINVAL);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.length, 3);
  CHECK_EQ_INT(a.null_count, 3);
  CHECK_EQ_INT(a.n_buffers, 0);
  CHECK(oa_array_is_null(&f, &a, 0));
  a.null_count = -1;
  CHECK_EQ_INT(oa_array_null_count(&f, &a), 3);
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(fast_path_lazy_validity) {
  oa_field f = tf("x", OA_TYPE_INT64);
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  for (int i = 0; i < 20; i++)
    CHECK_OK(oa_builder_append_i64_fast(&b, i), err);
  CHECK(b.validity.data == NULL);
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_OK(oa_builder_append_i64_fast(&b, 21), err);
  /* grow the bitmap through the inline path */
  for (int i = 22; i < 1000; i++)
    CHECK_OK(oa_builder_append_i64_fast(&b, i), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.null_count, 1);
  CHECK_EQ_INT(a.buffers[0].size, 125);
  CHECK_EQ_INT(a.buffers[0].data[0], 0xff);
  CHECK_EQ_INT(a.buffers[0].data[1], 0xff);
  CHECK_EQ_INT(a.buffers[0].data[2], 0xef);
  CHECK_EQ_INT(a.buffers[0].data[124], 0xff);
  CHECK_EQ_INT(oa_bitmap_count_set(a.buffers[0].data, 0, 1000), 999);
  CHECK_EQ_INT(oa_array_get_int(&f, &a, 999), 999);
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  /* second batch with a null in the first byte: trailing bits stay zero */
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_OK(oa_builder_append_f64_fast(&b, 0), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_BUF(&a, 0, {0x02});
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(temporal_and_floats) {
  oa_field f = tf("h", OA_TYPE_HALF_FLOAT);
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_double(&b, 1.5), err);
  CHECK_OK(oa_builder_append_double(&b, -65504), err);
  CHECK_OK(oa_builder_append_double(&b, 5.960464477539063e-08), err);
  CHECK_OK(oa_builder_append_double(&b, 1e10), err); /* overflows to inf */
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_BUF(&a, 1, {0x00, 0x3e, 0xff, 0xfb, 0x01, 0x00, 0x00, 0x7c});
  CHECK(oa_array_get_double(&f, &a, 0) == 1.5);
  CHECK(oa_array_get_double(&f, &a, 1) == -65504.0);
  CHECK(oa_array_get_double(&f, &a, 2) == 5.960464477539063e-08);
  CHECK_EQ_STR(JSON(&f, &a, 3), "\"Infinity\"");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);

  f = tf("t", OA_TYPE_TIMESTAMP);
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_int(&b, 1704164645123456789LL), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_BUF(&a, 1, {0x15, 0xff, 0x5c, 0x37, 0xb7, 0x68, 0xa6, 0x17});
  CHECK_EQ_STR(TEXT(&f, &a, 0), "2024-01-02T03:04:05.123456789Z");
  CHECK_EQ_STR(JSON(&f, &a, 0), "\"1704164645123456789\"");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(dictionary_basic) {
  oa_field f = tf("d", OA_TYPE_STRING);
  oa_field_set_dictionary(&f, OA_TYPE_INT8, 0, false);
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_cstr(&b, "a"), err);
  CHECK_OK(oa_builder_append_cstr(&b, "b"), err);
  CHECK_OK(oa_builder_append_cstr(&b, "a"), err);
  CHECK_OK(oa_builder_append_null(&b), err);
  CHECK_OK(oa_builder_append_cstr(&b, "c"), err);
  CHECK_EQ_INT(oa_builder_append_valid(&b), EINVAL);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.n_buffers, 2);
  CHECK_BUF(&a, 1, {0, 1, 0, 0, 2});
  CHECK_BUF(&a, 0, {0x17});
  CHECK(a.dictionary != NULL);
  CHECK_EQ_INT(a.dictionary->length, 3);
  CHECK_BUF(a.dictionary, 1, {0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0});
  CHECK_BUF(a.dictionary, 2, {'a', 'b', 'c'});
  CHECK_EQ_INT(oa_array_get_dict_index(&f, &a, 4), 2);
  CHECK_EQ_STR(JSON(&f, &a, 4), "\"c\"");
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  /* without KEEP the next batch starts a new dictionary */
  CHECK_OK(oa_builder_append_cstr(&b, "c"), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_BUF(&a, 1, {0});
  CHECK_EQ_INT(a.dictionary->length, 1);
  CHECK_BUF(a.dictionary, 2, {'c'});
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(dictionary_keep_snapshots) {
  oa_field f = tf("d", OA_TYPE_STRING);
  oa_field_set_dictionary(&f, OA_TYPE_UINT16, 0, false);
  oa_builder b;
  oa_array a1, a2;
  CHECK_OK(oa_builder_init(&b, &f, OA_BUILDER_KEEP_DICTIONARY, err), err);
  CHECK_OK(oa_builder_append_cstr(&b, "a"), err);
  CHECK_OK(oa_builder_append_cstr(&b, "b"), err);
  CHECK_OK(oa_builder_finish(&b, &a1, err), err);
  CHECK_OK(oa_builder_append_cstr(&b, "b"), err);
  CHECK_OK(oa_builder_append_cstr(&b, "c"), err);
  CHECK_OK(oa_builder_finish(&b, &a2, err), err);
  CHECK_BUF(&a1, 1, {0, 0, 1, 0});
  CHECK_BUF(&a2, 1, {1, 0, 2, 0});
  CHECK_EQ_INT(a1.dictionary->length, 2);
  CHECK_EQ_INT(a2.dictionary->length, 3);
  CHECK_BUF(a1.dictionary, 2, {'a', 'b'});
  CHECK_BUF(a2.dictionary, 2, {'a', 'b', 'c'});
  CHECK(a1.dictionary->buffers[2].data != a2.dictionary->buffers[2].data);
  CHECK_EQ_STR(JSON(&f, &a2, 1), "\"c\"");
  CHECK_OK(oa_array_validate(&f, &a1, true, err), err);
  CHECK_OK(oa_array_validate(&f, &a2, true, err), err);
  oa_array_reset(&a1);
  oa_array_reset(&a2);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(dictionary_overflow) {
  oa_field f = tf("d", OA_TYPE_BINARY);
  oa_field_set_dictionary(&f, OA_TYPE_UINT8, 0, false);
  oa_builder b;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  for (int i = 0; i < 256; i++) {
    uint16_t v = (uint16_t)i;
    CHECK_OK(oa_builder_append_bytes(&b, &v, 2), err);
  }
  uint16_t v = 256;
  CHECK_EQ_INT(oa_builder_append_bytes(&b, &v, 2), E2BIG);
  v = 17; /* known values still work */
  CHECK_OK(oa_builder_append_bytes(&b, &v, 2), err);
  oa_array a;
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.length, 257);
  CHECK_EQ_INT(oa_array_get_dict_index(&f, &a, 256), 17);
  CHECK_EQ_INT(oa_array_get_dict_index(&f, &a, 255), 255);
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);

  f = tf("d", OA_TYPE_INT32);
  oa_field_set_dictionary(&f, OA_TYPE_INT8, 0, false);
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  for (int i = 0; i < 128; i++)
    CHECK_OK(oa_builder_append_int(&b, i * 1000), err);
  CHECK_EQ_INT(oa_builder_append_int(&b, -1), E2BIG);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(dictionary_fixed_width_values) {
  oa_field f = tf("d", OA_TYPE_INT64);
  oa_field_set_dictionary(&f, OA_TYPE_UINT16, 0, false);
  oa_builder b;
  oa_array a;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  CHECK_OK(oa_builder_append_int(&b, 1000), err);
  CHECK_OK(oa_builder_append_int(&b, 2000), err);
  CHECK_OK(oa_builder_append_int(&b, 1000), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_BUF(&a, 1, {0, 0, 1, 0, 0, 0});
  CHECK_BUF(a.dictionary, 1,
            {0xe8, 0x03, 0, 0, 0, 0, 0, 0, 0xd0, 0x07, 0, 0, 0, 0, 0, 0});
  CHECK_EQ_STR(JSON(&f, &a, 2), "\"1000\"");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
  /* many distinct values: the table rehashes, indices stay right */
  f = tf("d", OA_TYPE_STRING);
  oa_field_set_dictionary(&f, OA_TYPE_INT32, 0, false);
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  char s[16];
  for (int r = 0; r < 2; r++)
    for (int i = 0; i < 5000; i++) {
      snprintf(s, sizeof s, "v%d", i);
      CHECK_OK(oa_builder_append_cstr(&b, s), err);
    }
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_EQ_INT(a.dictionary->length, 5000);
  CHECK_EQ_INT(oa_array_get_dict_index(&f, &a, 9999), 4999);
  CHECK_EQ_STR(TEXT(&f, &a, 7777), "v2777");
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(every_type_builds_and_validates) {
  oa_schema *s = tall_schema();
  oa_batch batch;
  oa_batch_init(&batch);
  CHECK_OK(tbatch(s, 100, &batch), err);
  CHECK_OK(oa_batch_validate(&batch, true, err), err);
  oa_batch_reset(&batch);
  oa_schema_release(s);
}

OA_TEST_MAIN(OA_T(int32_with_nulls), OA_T(type_checks), OA_T(bool_bits),
             OA_T(strings_and_binary), OA_T(fixed_size_binary_and_decimal),
             OA_T(lists), OA_T(fixed_size_list_nulls), OA_T(struct_and_map),
             OA_T(unions), OA_T(null_type), OA_T(fast_path_lazy_validity),
             OA_T(temporal_and_floats), OA_T(dictionary_basic),
             OA_T(dictionary_keep_snapshots), OA_T(dictionary_overflow),
             OA_T(dictionary_fixed_width_values),
             OA_T(every_type_builds_and_validates))
