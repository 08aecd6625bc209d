/* Helpers shared by the Arrow core unit tests. */
#ifndef OA_TEST_ARROW_UTIL_H
#define OA_TEST_ARROW_UTIL_H

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"
#include "otlparrow/format.h"
#include "test.h"
#include "test_arrow_util.h"

/* buffer k of a has exactly n bytes equal to exp */
static inline int tbuf_eq(const oa_array *a, int k, const void *exp, size_t n) {
  const oa_buffer *b = &a->buffers[k];
  if (n == 0) return b->size == 0;
  if (!b->data || b->size != (int64_t)n) {
    fprintf(stderr, "  buffer %d: size %lld, expected %zu\n", k,
            (long long)b->size, n);
    return 0;
  }
  if (memcmp(b->data, exp, n) != 0) {
    fprintf(stderr, "  buffer %d bytes:", k);
    for (size_t i = 0; i < n; i++)
      fprintf(stderr, " %02x", b->data[i]);
    fprintf(stderr, "\n");
    return 0;
  }
  return 1;
}
#define CHECK_BUF(a, k, ...)                                                   \
  do {                                                                         \
    static const uint8_t exp_[] = __VA_ARGS__;                                 \
    CHECK(tbuf_eq((a), (k), exp_, sizeof exp_));                               \
  } while (0)

/* Formats element i into a static buffer (one at a time). */
static inline const char *tfmt(const oa_field *f, const oa_array *a, int64_t i,
                               oa_format_style style) {
  static char out[1024];
  oa_bytes b;
  oa_bytes_init(&b);
  oa_error err;
  int rc = oa_format_value(f, a, i, style, &b, &err);
  if (rc) {
    snprintf(out, sizeof out, "<error %d: %s>", rc, err.message);
  } else {
    size_t n =
        (size_t)b.size < sizeof out - 1 ? (size_t)b.size : sizeof out - 1;
    if (n) memcpy(out, b.data, n);
    out[n] = 0;
  }
  oa_bytes_reset(&b);
  return out;
}
#define JSON(f, a, i) tfmt((f), (a), (i), OA_FORMAT_JSON)
#define TEXT(f, a, i) tfmt((f), (a), (i), OA_FORMAT_TEXT)

/* A schema with one field of nearly every type, and a batch of rows built
 * with the builders (deterministic values, some nulls). */
static inline oa_schema *tall_schema(void) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  static const oa_type_id flat[] = {OA_TYPE_NA,
                                    OA_TYPE_BOOL,
                                    OA_TYPE_INT8,
                                    OA_TYPE_INT16,
                                    OA_TYPE_INT32,
                                    OA_TYPE_INT64,
                                    OA_TYPE_UINT8,
                                    OA_TYPE_UINT16,
                                    OA_TYPE_UINT32,
                                    OA_TYPE_UINT64,
                                    OA_TYPE_HALF_FLOAT,
                                    OA_TYPE_FLOAT,
                                    OA_TYPE_DOUBLE,
                                    OA_TYPE_STRING,
                                    OA_TYPE_LARGE_STRING,
                                    OA_TYPE_BINARY,
                                    OA_TYPE_LARGE_BINARY,
                                    OA_TYPE_DATE32,
                                    OA_TYPE_DATE64,
                                    OA_TYPE_INTERVAL_MONTHS,
                                    OA_TYPE_INTERVAL_DAY_TIME,
                                    OA_TYPE_INTERVAL_MONTH_DAY_NANO};
  for (size_t i = 0; i < sizeof flat / sizeof flat[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "c_%s", oa_type_name(flat[i]));
    oa_field f = tf(name, flat[i]);
    oa_schema_add_field(s, &f, NULL);
  }
  oa_field f = tf("c_fsb", OA_TYPE_FIXED_SIZE_BINARY);
  f.type.byte_width = 3;
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_t32", OA_TYPE_TIME32);
  f.type.unit = OA_TIME_UNIT_SECOND;
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_t64", OA_TYPE_TIME64);
  f.type.unit = OA_TIME_UNIT_MICRO;
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_ts", OA_TYPE_TIMESTAMP);
  oa_field_set_timezone(&f, "UTC", NULL);
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_dur", OA_TYPE_DURATION);
  f.type.unit = OA_TIME_UNIT_MILLI;
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_dec", OA_TYPE_DECIMAL128);
  f.type.precision = 10;
  f.type.scale = 2;
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_dec256", OA_TYPE_DECIMAL256);
  f.type.precision = 40;
  f.type.scale = -2;
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_list", OA_TYPE_LIST);
  tchild(&f, tf("item", OA_TYPE_INT32));
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_large_list", OA_TYPE_LARGE_LIST);
  tchild(&f, tf("item", OA_TYPE_STRING));
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_fsl", OA_TYPE_FIXED_SIZE_LIST);
  f.type.list_size = 3;
  tchild(&f, tf("item", OA_TYPE_INT16));
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_struct", OA_TYPE_STRUCT);
  tchild(&f, tf("a", OA_TYPE_INT64));
  tchild(&f, tf("b", OA_TYPE_STRING));
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_map", OA_TYPE_MAP);
  {
    oa_field e = tf("entries", OA_TYPE_STRUCT);
    oa_field k = tf("key", OA_TYPE_STRING);
    k.nullable = false;
    tchild(&e, k);
    tchild(&e, tf("value", OA_TYPE_INT32));
    e.nullable = false;
    tchild(&f, e);
  }
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_sparse", OA_TYPE_SPARSE_UNION);
  tchild(&f, tf("i", OA_TYPE_INT32));
  tchild(&f, tf("s", OA_TYPE_STRING));
  f.type.type_codes[0] = 0;
  f.type.type_codes[1] = 1;
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_dense", OA_TYPE_DENSE_UNION);
  tchild(&f, tf("i", OA_TYPE_INT32));
  tchild(&f, tf("s", OA_TYPE_STRING));
  f.type.type_codes[0] = 3;
  f.type.type_codes[1] = 9;
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_dict", OA_TYPE_STRING);
  oa_field_set_dictionary(&f, OA_TYPE_INT16, 1, false);
  oa_schema_add_field(s, &f, NULL);
  f = tf("c_dict_i64", OA_TYPE_INT64);
  oa_field_set_dictionary(&f, OA_TYPE_UINT8, 2, true);
  oa_schema_add_field(s, &f, NULL);
  return s;
}

static inline int tappend(oa_builder *b, const oa_field *f, int64_t r);

/* Appends a deterministic value derived from r (null when r % 7 == 3 and
 * the type has nulls). */
static inline int tappend(oa_builder *b, const oa_field *f, int64_t r) {
  oa_type_id id = f->type.id;
  bool is_union = !f->dict.encoded &&
                  (id == OA_TYPE_SPARSE_UNION || id == OA_TYPE_DENSE_UNION);
  if (id == OA_TYPE_NA || (!is_union && f->nullable && r % 7 == 3))
    return oa_builder_append_null(b);
  if (f->dict.encoded) {
    if (id == OA_TYPE_STRING) {
      char v[8];
      snprintf(v, sizeof v, "d%d", (int)(r % 4));
      return oa_builder_append_cstr(b, v);
    }
    return oa_builder_append_int(b, (r % 3) * 100000);
  }
  switch (id) {
  case OA_TYPE_BOOL:
    return oa_builder_append_bool(b, r % 3 == 0);
  case OA_TYPE_UINT8:
  case OA_TYPE_UINT16:
  case OA_TYPE_UINT32:
  case OA_TYPE_UINT64:
    return oa_builder_append_uint(b, (uint64_t)(r * 3 % 250));
  case OA_TYPE_HALF_FLOAT:
  case OA_TYPE_FLOAT:
  case OA_TYPE_DOUBLE:
    return oa_builder_append_double(b, (double)r / 4 - 1);
  case OA_TYPE_STRING:
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_BINARY: {
    char v[16];
    int n = (int)(r % 5);
    for (int i = 0; i < n; i++)
      v[i] = (char)('a' + (r + i) % 26);
    return oa_builder_append_bytes(b, v, n);
  }
  case OA_TYPE_FIXED_SIZE_BINARY:
  case OA_TYPE_INTERVAL_DAY_TIME:
  case OA_TYPE_INTERVAL_MONTH_DAY_NANO:
  case OA_TYPE_DECIMAL128:
  case OA_TYPE_DECIMAL256: {
    uint8_t v[32];
    int64_t w = oa_datatype_bit_width(&f->type) / 8;
    for (int64_t i = 0; i < w; i++)
      v[i] = (uint8_t)(r * 31 + i);
    return oa_builder_append_bytes(b, v, w);
  }
  case OA_TYPE_LIST:
  case OA_TYPE_LARGE_LIST:
  case OA_TYPE_MAP:
    for (int64_t i = 0; i < r % 3; i++) {
      int rc = tappend(&b->children[0], &f->children[0], r + i);
      if (rc) return rc;
    }
    return oa_builder_append_valid(b);
  case OA_TYPE_FIXED_SIZE_LIST:
    for (int i = 0; i < f->type.list_size; i++) {
      int rc = tappend(&b->children[0], &f->children[0], r + i);
      if (rc) return rc;
    }
    return oa_builder_append_valid(b);
  case OA_TYPE_STRUCT:
    for (int64_t i = 0; i < f->n_children; i++) {
      const oa_field *c = &f->children[i];
      int rc = c->nullable ? tappend(&b->children[i], c, r + i)
                           : oa_builder_append_cstr(&b->children[i],
                                                    r % 2 ? "k1" : "k2");
      if (rc) return rc;
    }
    return oa_builder_append_valid(b);
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION: {
    int k = (int)(r % f->n_children);
    int rc = tappend(&b->children[k], &f->children[k], r);
    if (rc) return rc;
    return oa_builder_append_union(b, k);
  }
  default:
    return oa_builder_append_int(b, r % 100 - 50);
  }
}

static inline int tbatch(oa_schema *s, int64_t n, oa_batch *out) {
  oa_error err;
  int rc = tbuild_batch(s, n, tappend, out, &err);
  if (rc) fprintf(stderr, "tbatch: %s\n", err.message);
  return rc;
}

#endif
