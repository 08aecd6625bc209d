/* Validation catches each kind of corruption, with the expected message. */
#include "test_util.h"

static oa_error err_s;
static oa_error *err = &err_s;

/* An array over static buffers (no regions). */
static oa_array view(int64_t length, int n_buffers, const void *b0, int64_t s0,
                     const void *b1, int64_t s1, const void *b2, int64_t s2) {
  oa_array a;
  oa_array_init(&a);
  a.length = length;
  a.null_count = -1;
  a.n_buffers = n_buffers;
  a.buffers[0] = (oa_buffer){b0, s0, NULL};
  a.buffers[1] = (oa_buffer){b1, s1, NULL};
  a.buffers[2] = (oa_buffer){b2, s2, NULL};
  return a;
}

OA_TEST(strings) {
  oa_field f = tf("s", OA_TYPE_STRING);
  int32_t offs[] = {0, 2, 5, 5};
  const char *data = "abcde";
  oa_array a = view(3, 3, NULL, 0, offs, 16, data, 5);
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  int32_t bad1[] = {0, 3, 2, 5};
  a.buffers[1].data = (const uint8_t *)bad1;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "field 's': offset 2 (2) is less than the previous (3) at row 1");
  int32_t bad2[] = {0, 2, 5, 17};
  a.buffers[1].data = (const uint8_t *)bad2;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "field 's': offset 3 (17) exceeds data length 5");
  int32_t bad3[] = {-1, 2, 5, 5};
  a.buffers[1].data = (const uint8_t *)bad3;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err, "is negative");
  a.buffers[1].data = (const uint8_t *)offs;
  a.buffers[1].size = 12; /* short offsets */
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "offsets buffer has 12 bytes, needs 16");
  a.buffers[1].size = 16;
  a.n_buffers = 2;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "utf8 array has 2 buffers, expected 3");
  a.n_buffers = 3;
  /* with an offset the needed size grows */
  a.offset = 1;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "offsets buffer has 16 bytes, needs 20");
  a.length = 2;
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  /* empty array with an empty offsets buffer is fine */
  oa_array e = view(0, 3, NULL, 0, NULL, 0, NULL, 0);
  CHECK_OK(oa_array_validate(&f, &e, true, err), err);
  oa_field_reset(&f);
}

OA_TEST(utf8) {
  oa_field f = tf("s", OA_TYPE_STRING);
  static const struct {
    const char *bytes;
    bool ok;
  } cases[] = {
      {"plain ascii longer than eight bytes", true},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", true},
      {"\xc0\x80", false},         /* overlong NUL */
      {"\xe0\x80\xaf", false},     /* overlong 3-byte */
      {"\xf0\x80\x80\xaf", false}, /* overlong 4-byte */
      {"\xed\xa0\x80", false},     /* surrogate U+D800 */
      {"\xf4\x90\x80\x80", false}, /* > U+10FFFF */
      {"abcdefgh\xe2\x82", false}, /* truncated after the fast path */
      {"\x80", false},             /* stray continuation */
      {"\xff", false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int32_t offs[] = {0, 1, 1 + (int32_t)strlen(cases[i].bytes)};
    char data[64];
    data[0] = 'x';
    memcpy(data + 1, cases[i].bytes, strlen(cases[i].bytes));
    oa_array a = view(2, 3, NULL, 0, offs, 12, data, offs[2]);
    if (cases[i].ok) {
      CHECK_OK(oa_array_validate(&f, &a, true, err), err);
    } else {
      CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
                  "row 1: invalid UTF-8");
      CHECK_OK(oa_array_validate(&f, &a, false, err), err);
      /* a null row is not checked */
      uint8_t valid = 0x01;
      a.buffers[0] = (oa_buffer){&valid, 1, NULL};
      CHECK_OK(oa_array_validate(&f, &a, true, err), err);
    }
  }
  /* binary is never UTF-8 checked */
  oa_field bf = tf("b", OA_TYPE_BINARY);
  int32_t offs[] = {0, 1};
  oa_array a = view(1, 3, NULL, 0, offs, 8, "\xff", 1);
  CHECK_OK(oa_array_validate(&bf, &a, true, err), err);
  oa_field_reset(&bf);
  oa_field_reset(&f);
}

OA_TEST(buffers_and_null_count) {
  oa_field f = tf("x", OA_TYPE_INT64);
  int64_t vals[4] = {1, 2, 3, 4};
  uint8_t valid = 0x0b;
  oa_array a = view(4, 2, &valid, 1, vals, 32, NULL, 0);
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  a.null_count = 1;
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  a.null_count = 2;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "null_count 2 but the validity bitmap has 1 nulls");
  a.null_count = -1;
  a.buffers[1].size = 24;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "values buffer has 24 bytes, needs 32");
  a.buffers[1].size = 32;
  a.length = 9;
  a.buffers[1].size = 72;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "validity buffer has 1 bytes, needs 2");
  oa_field_reset(&f);
  oa_field b = tf("b", OA_TYPE_BOOL);
  oa_array ba = view(9, 2, NULL, 0, &valid, 1, NULL, 0);
  CHECK_FAILS(oa_array_validate(&b, &ba, true, err), EINVAL, err,
              "values buffer has 1 bytes, needs 2");
  oa_field_reset(&b);
}

OA_TEST(nested) {
  /* struct a { b: list<int32> } with a bad list offset deep inside */
  oa_field f = tf("a", OA_TYPE_STRUCT);
  oa_field lf = tf("b", OA_TYPE_LIST);
  tchild(&lf, tf("item", OA_TYPE_INT32));
  tchild(&f, lf);
  int32_t items[3] = {1, 2, 3};
  int32_t offs[] = {0, 2, 4};
  oa_array a = view(2, 1, NULL, 0, NULL, 0, NULL, 0);
  oa_array children[1], grand[1];
  children[0] = view(2, 2, NULL, 0, offs, 12, NULL, 0);
  grand[0] = view(3, 2, NULL, 0, items, 12, NULL, 0);
  children[0].n_children = 1;
  children[0].children = grand;
  a.n_children = 1;
  a.children = children;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "field 'a.b': offset 2 (4) exceeds child length 3");
  offs[2] = 3;
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  /* struct child shorter than offset + length */
  a.offset = 1;
  a.length = 2;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "struct child 'b' has length 2, needs 3");
  a.offset = 0;
  a.n_children = 0;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "array has 0 children, expected 1");
  oa_field_reset(&f);

  oa_field fl = tf("fl", OA_TYPE_FIXED_SIZE_LIST);
  fl.type.list_size = 2;
  tchild(&fl, tf("item", OA_TYPE_INT32));
  oa_array fa = view(2, 1, NULL, 0, NULL, 0, NULL, 0);
  fa.n_children = 1;
  fa.children = grand;
  CHECK_FAILS(oa_array_validate(&fl, &fa, true, err), EINVAL, err,
              "child length 3 is less than 4");
  fa.length = 1;
  CHECK_OK(oa_array_validate(&fl, &fa, true, err), err);
  oa_field_reset(&fl);
}

OA_TEST(map_keys) {
  oa_field f = tf("m", OA_TYPE_MAP);
  oa_field e = tf("entries", OA_TYPE_STRUCT);
  tchild(&e, tf("key", OA_TYPE_INT32));
  tchild(&e, tf("value", OA_TYPE_INT32));
  tchild(&f, e);
  int32_t offs[] = {0, 2};
  int32_t keys[] = {1, 2};
  uint8_t kvalid = 0x01;
  oa_array kv[2];
  kv[0] = view(2, 2, &kvalid, 1, keys, 8, NULL, 0);
  kv[1] = view(2, 2, NULL, 0, keys, 8, NULL, 0);
  oa_array entries = view(2, 1, NULL, 0, NULL, 0, NULL, 0);
  entries.n_children = 2;
  entries.children = kv;
  oa_array a = view(1, 2, NULL, 0, offs, 8, NULL, 0);
  a.n_children = 1;
  a.children = &entries;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "map entry 1 has a null key");
  kvalid = 0x03;
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_field_reset(&f);
}

OA_TEST(unions) {
  oa_field f = tf("u", OA_TYPE_DENSE_UNION);
  tchild(&f, tf("i", OA_TYPE_INT32));
  tchild(&f, tf("s", OA_TYPE_INT64));
  f.type.type_codes[0] = 2;
  f.type.type_codes[1] = 4;
  int8_t ids[] = {2, 4, 2};
  int32_t offs[] = {0, 0, 1};
  int32_t iv[] = {7, 8};
  int64_t lv[] = {9};
  oa_array ch[2];
  ch[0] = view(2, 2, NULL, 0, iv, 8, NULL, 0);
  ch[1] = view(1, 2, NULL, 0, lv, 8, NULL, 0);
  oa_array a = view(3, 2, ids, 3, offs, 12, NULL, 0);
  a.n_children = 2;
  a.children = ch;
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  CHECK_EQ_STR(JSON(&f, &a, 1), "\"9\"");
  ids[1] = 3;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "row 1: type code 3 is not a code of this union");
  ids[1] = 4;
  offs[2] = 2;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "row 2: union offset 2 out of bounds of child 'i' (length 2)");
  offs[2] = 1;
  a.null_count = 1;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "union array has null_count 1");
  oa_field_reset(&f);

  oa_field s = tf("u", OA_TYPE_SPARSE_UNION);
  tchild(&s, tf("i", OA_TYPE_INT32));
  oa_array sa = view(3, 1, ids, 3, NULL, 0, NULL, 0);
  sa.n_children = 1;
  sa.children = ch;
  s.type.type_codes[0] = 2;
  ids[1] = 2;
  CHECK_FAILS(oa_array_validate(&s, &sa, true, err), EINVAL, err,
              "sparse union child 'i' has length 2, needs 3");
  oa_field_reset(&s);
}

OA_TEST(dictionaries) {
  oa_field f = tf("d", OA_TYPE_STRING);
  oa_field_set_dictionary(&f, OA_TYPE_INT16, 0, false);
  int16_t idx[] = {0, 1, 5};
  uint8_t valid = 0x03;
  int32_t offs[] = {0, 1, 2};
  oa_array dict = view(2, 3, NULL, 0, offs, 12, "ab", 2);
  oa_array a = view(3, 2, NULL, 0, idx, 6, NULL, 0);
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "dictionary-encoded array has no dictionary");
  a.dictionary = &dict;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "row 2: dictionary index 5 out of bounds of dictionary length 2");
  a.buffers[0] = (oa_buffer){&valid, 1, NULL}; /* the bad index is null */
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  idx[0] = -1;
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "row 0: dictionary index -1");
  idx[0] = 0;
  offs[2] = 3; /* the dictionary itself is checked too */
  CHECK_FAILS(oa_array_validate(&f, &a, true, err), EINVAL, err,
              "field 'd<dictionary>': offset 2 (3) exceeds data length 2");
  oa_field_reset(&f);
}

OA_TEST(batch) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f = tf("x", OA_TYPE_INT32);
  oa_schema_add_field(s, &f, NULL);
  int32_t v[] = {1, 2};
  oa_array col = view(2, 2, NULL, 0, v, 8, NULL, 0);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(oa_batch_set(&b, s, 3, &col, err), err);
  CHECK_FAILS(oa_batch_validate(&b, true, err), EINVAL, err,
              "field 'x': column length 2 != batch length 3");
  b.length = 2;
  CHECK_OK(oa_batch_validate(&b, true, err), err);
  /* the view has no regions, so reset only frees the columns array */
  oa_batch_reset(&b);
  oa_schema_release(s);
}

OA_TEST_MAIN(OA_T(strings), OA_T(utf8), OA_T(buffers_and_null_count),
             OA_T(nested), OA_T(map_keys), OA_T(unions), OA_T(dictionaries),
             OA_T(batch))
