/* Bitmaps, element access and zero-copy slicing. */
#include <math.h>

#include "test_util.h"

static oa_error err_s;
static oa_error *err = &err_s;

OA_TEST(bitmap_count) {
  uint8_t bits[40];
  for (int i = 0; i < 40; i++)
    bits[i] = (uint8_t)(i * 37 + 11);
  for (int64_t off = 0; off < 20; off += 3)
    for (int64_t len = 0; len < 300; len += 7) {
      int64_t naive = 0;
      for (int64_t i = off; i < off + len; i++)
        naive += oa_bit_get(bits, i);
      CHECK_EQ_INT(oa_bitmap_count_set(bits, off, len), naive);
    }
  static const uint8_t ones[3] = {0xff, 0xff, 0xff};
  CHECK_EQ_INT(oa_bitmap_count_set(ones, 5, 13), 13);
  CHECK_EQ_INT(oa_bitmap_count_set(ones, 0, 0), 0);
}

static void build_ints(oa_field *f, oa_array *a, int n) {
  *f = tf("x", OA_TYPE_INT32);
  oa_builder b;
  oa_builder_init(&b, f, 0, NULL);
  for (int i = 0; i < n; i++) {
    if (i % 4 == 1)
      oa_builder_append_null(&b);
    else
      oa_builder_append_int(&b, i * 10);
  }
  oa_builder_finish(&b, a, NULL);
  oa_builder_reset(&b);
}

OA_TEST(slice_fixed_width) {
  oa_field f;
  oa_array a, s1, s2;
  build_ints(&f, &a, 20);
  CHECK_OK(oa_array_slice(&s1, &a, 3, 10, err), err);
  CHECK_EQ_INT(s1.offset, 3);
  CHECK_EQ_INT(s1.length, 10);
  CHECK(s1.buffers[1].data == a.buffers[1].data); /* zero-copy */
  CHECK_EQ_INT(oa_array_get_int(&f, &s1, 0), 30);
  CHECK(oa_array_is_null(&f, &s1, 2));           /* row 5 */
  CHECK_EQ_INT(oa_array_null_count(&f, &s1), 2); /* rows 5 and 9 */
  CHECK_OK(oa_array_slice(&s2, &s1, 4, 5, err), err);
  CHECK_EQ_INT(s2.offset, 7);
  CHECK_EQ_INT(oa_array_get_int(&f, &s2, 1), 80);
  CHECK(oa_array_is_null(&f, &s2, 2)); /* row 9 */
  CHECK_EQ_INT(oa_array_null_count(&f, &s2), 1);
  CHECK_OK(oa_array_validate(&f, &s2, true, err), err);
  CHECK_FAILS(oa_array_slice(&s2, &s1, 8, 3, err), EINVAL, err,
              "out of bounds");
  /* the slice keeps the memory alive after the parent is gone */
  oa_array_reset(&a);
  oa_array_reset(&s1);
  CHECK_EQ_INT(oa_array_get_int(&f, &s2, 4), 110);
  oa_array_reset(&s2);
  oa_field_reset(&f);
}

OA_TEST(slice_strings_lists_structs) {
  oa_field f = tf("st", OA_TYPE_STRUCT);
  tchild(&f, tf("s", OA_TYPE_STRING));
  oa_field lf = tf("l", OA_TYPE_LIST);
  tchild(&lf, tf("item", OA_TYPE_INT8));
  tchild(&f, lf);
  oa_builder b;
  oa_array a, s, ss;
  CHECK_OK(oa_builder_init(&b, &f, 0, err), err);
  for (int i = 0; i < 10; i++) {
    char v[8];
    snprintf(v, sizeof v, "s%d", i);
    CHECK_OK(oa_builder_append_cstr(&b.children[0], v), err);
    for (int k = 0; k < i % 3; k++)
      CHECK_OK(oa_builder_append_int(&b.children[1].children[0], i), err);
    CHECK_OK(oa_builder_append_valid(&b.children[1]), err);
    CHECK_OK(oa_builder_append_valid(&b), err);
  }
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK_OK(oa_array_slice(&s, &a, 2, 6, err), err);
  CHECK_OK(oa_array_validate(&f, &s, true, err), err);
  CHECK_EQ_STR(JSON(&f, &s, 0), "{\"s\":\"s2\",\"l\":[2,2]}");
  CHECK_EQ_STR(JSON(&f, &s, 1), "{\"s\":\"s3\",\"l\":[]}");
  CHECK_OK(oa_array_slice(&ss, &s, 3, 2, err), err);
  CHECK_EQ_STR(JSON(&f, &ss, 0), "{\"s\":\"s5\",\"l\":[5,5]}");
  CHECK_EQ_STR(TEXT(&f, &ss, 1), "{s: s6, l: []}");
  CHECK_OK(oa_array_validate(&f, &ss, true, err), err);
  /* slicing a child directly uses the child's own offsets */
  oa_array cs;
  CHECK_OK(oa_array_slice(&cs, &a.children[1], 4, 1, err), err);
  CHECK_EQ_STR(JSON(&f.children[1], &cs, 0), "[4]");
  oa_array_reset(&cs);
  oa_array_reset(&ss);
  oa_array_reset(&s);
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(slice_every_type_validates) {
  oa_schema *s = tall_schema();
  oa_batch batch, sl, sl2;
  oa_batch_init(&batch);
  CHECK_OK(tbatch(s, 50, &batch), err);
  CHECK_OK(oa_batch_slice(&sl, &batch, 7, 30, err), err);
  CHECK_EQ_INT(sl.length, 30);
  CHECK_OK(oa_batch_validate(&sl, true, err), err);
  CHECK_OK(oa_batch_slice(&sl2, &sl, 5, 20, err), err);
  CHECK_OK(oa_batch_validate(&sl2, true, err), err);
  /* row by row, the slice shows the same values as the original */
  for (int64_t c = 0; c < s->n_fields; c++)
    for (int64_t r = 0; r < 20; r++) {
      char x[1024];
      snprintf(x, sizeof x, "%s",
               JSON(&s->fields[c], &batch.columns[c], r + 12));
      CHECK_EQ_STR(JSON(&s->fields[c], &sl2.columns[c], r), x);
    }
  oa_batch_reset(&sl2);
  CHECK_FAILS(oa_batch_slice(&sl2, &sl, 25, 6, err), EINVAL, err,
              "out of bounds");
  oa_batch_reset(&sl);
  oa_batch_reset(&batch);
  oa_schema_release(s);
}

OA_TEST(typed_access) {
  oa_field f = tf("u", OA_TYPE_UINT64);
  oa_builder b;
  oa_array a;
  oa_builder_init(&b, &f, 0, NULL);
  CHECK_OK(oa_builder_append_uint(&b, UINT64_MAX), err);
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK(oa_array_get_uint(&f, &a, 0) == UINT64_MAX);
  CHECK_EQ_STR(JSON(&f, &a, 0), "\"18446744073709551615\"");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
  /* half floats: subnormal, inf, nan */
  f = tf("h", OA_TYPE_HALF_FLOAT);
  oa_builder_init(&b, &f, 0, NULL);
  uint16_t hv[] = {0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x3555};
  for (int i = 0; i < 7; i++)
    oa_builder_append_bytes(&b, &hv[i], 2);
  CHECK_EQ_INT(b.length, 0); /* raw bytes are refused for float16 */
  for (int i = 0; i < 7; i++)
    oa_bytes_append(&b.values, &hv[i], 2);
  b.length = 7;
  CHECK_OK(oa_builder_finish(&b, &a, err), err);
  CHECK(oa_array_get_double(&f, &a, 0) == 5.9604644775390625e-08);
  CHECK(oa_array_get_double(&f, &a, 1) == 6.097555160522461e-05);
  CHECK(oa_array_get_double(&f, &a, 2) == INFINITY);
  CHECK(oa_array_get_double(&f, &a, 3) == -INFINITY);
  CHECK(isnan(oa_array_get_double(&f, &a, 4)));
  CHECK(signbit(oa_array_get_double(&f, &a, 5)));
  CHECK(oa_array_get_double(&f, &a, 6) == 0.333251953125);
  CHECK_EQ_STR(JSON(&f, &a, 4), "\"NaN\"");
  CHECK_EQ_STR(TEXT(&f, &a, 3), "-inf");
  oa_array_reset(&a);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

/* Held bytes count each distinct buffer once: a slice holds what its parent
 * holds, a column repeated shares its buffers, dictionaries count. */
OA_TEST(batch_held_bytes) {
  oa_schema *s = tall_schema();
  oa_batch batch, sl;
  oa_batch_init(&batch);
  CHECK_OK(tbatch(s, 50, &batch), err);
  int64_t whole = 0, part = 0, plain = 0, dicts = 0;
  CHECK_OK(oa_batch_held_bytes(&batch, &whole, err), err);
  for (int64_t c = 0; c < batch.n_columns; c++) {
    plain += oa_array_buffer_bytes(&batch.columns[c]);
    if (batch.columns[c].dictionary)
      dicts += oa_array_buffer_bytes(batch.columns[c].dictionary);
  }
  CHECK(whole > 0);
  CHECK_EQ_INT(whole, plain + dicts);
  CHECK_OK(oa_batch_slice(&sl, &batch, 7, 30, err), err);
  CHECK_OK(oa_batch_held_bytes(&sl, &part, err), err);
  CHECK_EQ_INT(part, whole);
  /* the same column twice: its buffers once */
  int64_t col = 0;
  while (col < batch.n_columns &&
         oa_array_buffer_bytes(&batch.columns[col]) == 0)
    col++;
  CHECK(col < batch.n_columns);
  oa_array twice[2];
  CHECK_OK(oa_array_copy(&twice[0], &batch.columns[col], err), err);
  CHECK_OK(oa_array_copy(&twice[1], &batch.columns[col], err), err);
  oa_batch pair = {NULL, batch.length, 2, twice};
  int64_t one = 0, two = 0;
  oa_batch single = {NULL, batch.length, 1, twice};
  CHECK_OK(oa_batch_held_bytes(&single, &one, err), err);
  CHECK_OK(oa_batch_held_bytes(&pair, &two, err), err);
  CHECK_EQ_INT(two, one);
  CHECK(one > 0);
  oa_array_reset(&twice[0]);
  oa_array_reset(&twice[1]);
  oa_batch_reset(&sl);
  oa_batch_reset(&batch);
  oa_schema_release(s);
}

OA_TEST_MAIN(OA_T(bitmap_count), OA_T(slice_fixed_width),
             OA_T(slice_strings_lists_structs),
             OA_T(slice_every_type_validates), OA_T(typed_access),
             OA_T(batch_held_bytes))
