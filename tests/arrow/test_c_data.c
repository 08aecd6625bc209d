/* The Arrow C Data Interface: format strings, round trips, ownership. */
#include "otlparrow/c_data.h"
#include "test_util.h"

static oa_error err_s;
static oa_error *err = &err_s;

static const char *exported_format(oa_field *f) {
  static char out[128];
  struct ArrowSchema s;
  if (oa_field_export(f, &s, err)) return "<error>";
  snprintf(out, sizeof out, "%s", s.format);
  s.release(&s);
  CHECK(s.release == NULL);
  oa_field_reset(f);
  return out;
}

OA_TEST(format_strings) {
  oa_field f = tf("t", OA_TYPE_TIMESTAMP);
  oa_field_set_timezone(&f, "UTC", NULL);
  CHECK_EQ_STR(exported_format(&f), "tsn:UTC");
  f = tf("t", OA_TYPE_TIMESTAMP);
  f.type.unit = OA_TIME_UNIT_MICRO;
  CHECK_EQ_STR(exported_format(&f), "tsu:");
  f = tf("fl", OA_TYPE_FIXED_SIZE_LIST);
  f.type.list_size = 3;
  tchild(&f, tf("item", OA_TYPE_INT8));
  CHECK_EQ_STR(exported_format(&f), "+w:3");
  f = tf("w", OA_TYPE_FIXED_SIZE_BINARY);
  f.type.byte_width = 16;
  CHECK_EQ_STR(exported_format(&f), "w:16");
  f = tf("d", OA_TYPE_DECIMAL128);
  f.type.precision = 10;
  f.type.scale = 2;
  CHECK_EQ_STR(exported_format(&f), "d:10,2");
  f = tf("d", OA_TYPE_DECIMAL256);
  f.type.precision = 40;
  f.type.scale = -3;
  CHECK_EQ_STR(exported_format(&f), "d:40,-3,256");
  f = tf("u", OA_TYPE_DENSE_UNION);
  tchild(&f, tf("a", OA_TYPE_INT32));
  tchild(&f, tf("b", OA_TYPE_STRING));
  CHECK_EQ_STR(exported_format(&f), "+ud:0,1");
  f = tf("u", OA_TYPE_SPARSE_UNION);
  tchild(&f, tf("a", OA_TYPE_INT32));
  tchild(&f, tf("b", OA_TYPE_STRING));
  f.type.type_codes[0] = 4;
  f.type.type_codes[1] = 127;
  CHECK_EQ_STR(exported_format(&f), "+us:4,127");
  static const struct {
    oa_type_id id;
    int unit;
    const char *fmt;
  } simple[] = {{OA_TYPE_NA, 0, "n"},
                {OA_TYPE_BOOL, 0, "b"},
                {OA_TYPE_INT8, 0, "c"},
                {OA_TYPE_UINT8, 0, "C"},
                {OA_TYPE_INT16, 0, "s"},
                {OA_TYPE_UINT16, 0, "S"},
                {OA_TYPE_INT32, 0, "i"},
                {OA_TYPE_UINT32, 0, "I"},
                {OA_TYPE_INT64, 0, "l"},
                {OA_TYPE_UINT64, 0, "L"},
                {OA_TYPE_HALF_FLOAT, 0, "e"},
                {OA_TYPE_FLOAT, 0, "f"},
                {OA_TYPE_DOUBLE, 0, "g"},
                {OA_TYPE_BINARY, 0, "z"},
                {OA_TYPE_LARGE_BINARY, 0, "Z"},
                {OA_TYPE_STRING, 0, "u"},
                {OA_TYPE_LARGE_STRING, 0, "U"},
                {OA_TYPE_DATE32, 0, "tdD"},
                {OA_TYPE_DATE64, 0, "tdm"},
                {OA_TYPE_TIME32, 0, "tts"},
                {OA_TYPE_TIME32, 1, "ttm"},
                {OA_TYPE_TIME64, 2, "ttu"},
                {OA_TYPE_TIME64, 3, "ttn"},
                {OA_TYPE_DURATION, 0, "tDs"},
                {OA_TYPE_DURATION, 1, "tDm"},
                {OA_TYPE_DURATION, 2, "tDu"},
                {OA_TYPE_DURATION, 3, "tDn"},
                {OA_TYPE_TIMESTAMP, 0, "tss:"},
                {OA_TYPE_TIMESTAMP, 1, "tsm:"},
                {OA_TYPE_INTERVAL_MONTHS, 0, "tiM"},
                {OA_TYPE_INTERVAL_DAY_TIME, 0, "tiD"},
                {OA_TYPE_INTERVAL_MONTH_DAY_NANO, 0, "tin"},
                {OA_TYPE_STRUCT, 0, "+s"}};
  for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
    f = tf("x", simple[i].id);
    f.type.unit = (oa_time_unit)simple[i].unit;
    CHECK_EQ_STR(exported_format(&f), simple[i].fmt);
  }
  f = tf("l", OA_TYPE_LIST);
  tchild(&f, tf("item", OA_TYPE_INT8));
  CHECK_EQ_STR(exported_format(&f), "+l");
  f = tf("l", OA_TYPE_LARGE_LIST);
  tchild(&f, tf("item", OA_TYPE_INT8));
  CHECK_EQ_STR(exported_format(&f), "+L");
}

OA_TEST(flags_metadata_dictionary) {
  oa_field f = tf("m", OA_TYPE_MAP);
  oa_field e = tf("entries", OA_TYPE_STRUCT);
  e.nullable = false;
  oa_field k = tf("key", OA_TYPE_STRING);
  k.nullable = false;
  oa_field_set_dictionary(&k, OA_TYPE_INT32, 0, true);
  tchild(&e, k);
  tchild(&e, tf("value", OA_TYPE_INT8));
  tchild(&f, e);
  f.type.keys_sorted = true;
  oa_metadata_add(&f.metadata, "ab", 2, "xyz", 3, NULL);
  struct ArrowSchema s;
  CHECK_OK(oa_field_export(&f, &s, err), err);
  CHECK_EQ_STR(s.format, "+m");
  CHECK_EQ_STR(s.name, "m");
  CHECK_EQ_INT(s.flags, ARROW_FLAG_NULLABLE | ARROW_FLAG_MAP_KEYS_SORTED);
  static const uint8_t md[] = {1,   0, 0, 0, 2, 0,   0,   0,  'a',
                               'b', 3, 0, 0, 0, 'x', 'y', 'z'};
  CHECK(s.metadata && memcmp(s.metadata, md, sizeof md) == 0);
  CHECK_EQ_INT(s.n_children, 1);
  struct ArrowSchema *ks = s.children[0]->children[0];
  CHECK_EQ_STR(ks->format, "i");
  CHECK_EQ_INT(ks->flags, ARROW_FLAG_DICTIONARY_ORDERED);
  CHECK(ks->dictionary && strcmp(ks->dictionary->format, "u") == 0);
  CHECK_EQ_INT(s.children[0]->flags, 0);
  oa_field g;
  CHECK_OK(oa_field_import(&s, &g, err), err);
  CHECK(s.release == NULL);
  CHECK(oa_field_equals(&f, &g, true, err));
  CHECK(g.children[0].children[0].dict.encoded);
  CHECK(g.children[0].children[0].dict.ordered);
  CHECK(g.type.keys_sorted);
  oa_field_reset(&g);
  oa_field_reset(&f);
}

static void noop_release(struct ArrowSchema *s) { s->release = NULL; }

/* Imports a childless schema with this format string. */
static int import_format(const char *fmt) {
  struct ArrowSchema s;
  memset(&s, 0, sizeof s);
  s.format = fmt;
  s.name = "x";
  s.release = noop_release;
  oa_field f;
  int rc = oa_field_import(&s, &f, err);
  CHECK(s.release == NULL);
  if (!rc) oa_field_reset(&f);
  return rc;
}

OA_TEST(bad_formats) {
  CHECK_FAILS(import_format("q"), EINVAL, err, "'q'");
  CHECK_FAILS(import_format("w:"), EINVAL, err, "'w:'");
  CHECK_FAILS(import_format("w:x"), EINVAL, err, "'w:x'");
  CHECK_FAILS(import_format("d:10"), EINVAL, err, "'d:10'");
  CHECK_FAILS(import_format("d:10,2,100"), EINVAL, err, "'d:10,2,100'");
  CHECK_FAILS(import_format("tsx:"), EINVAL, err, "'tsx:'");
  CHECK_FAILS(import_format("tsn"), EINVAL, err, "'tsn'");
  CHECK_FAILS(import_format("+ud:1,"), EINVAL, err, "'+ud:1,'");
  CHECK_FAILS(import_format("+ud:300"), EINVAL, err, "'+ud:300'");
  CHECK_FAILS(import_format("+l"), EINVAL, err, "needs 1 child");
  CHECK_FAILS(import_format("vu"), ENOTSUP, err, "'vu'");
  CHECK_OK(import_format("tsu:Europe/Paris"), err);
  CHECK_OK(import_format("d:38,10,256"), err);
  CHECK_OK(import_format("+us:"), err);
}

OA_TEST(schema_round_trip) {
  oa_schema *s = tall_schema();
  oa_metadata_add(&s->metadata, "schema", 6, "md", 2, NULL);
  struct ArrowSchema cs;
  CHECK_OK(oa_schema_export(s, &cs, err), err);
  CHECK_EQ_STR(cs.format, "+s");
  CHECK_EQ_INT(cs.n_children, s->n_fields);
  oa_schema *t;
  CHECK_OK(oa_schema_import(&cs, &t, err), err);
  CHECK(cs.release == NULL);
  CHECK(oa_schema_equals(s, t, true, err));
  oa_schema_release(t);
  oa_schema_release(s);
}

OA_TEST(batch_round_trip_every_type) {
  oa_schema *s = tall_schema();
  oa_batch b, sl, back;
  oa_batch_init(&b);
  CHECK_OK(tbatch(s, 64, &b), err);
  for (int pass = 0; pass < 2; pass++) {
    /* pass 1 exports a slice: offsets travel through the C structs */
    const oa_batch *src = &b;
    if (pass) {
      CHECK_OK(oa_batch_slice(&sl, &b, 5, 40, err), err);
      src = &sl;
    }
    struct ArrowArray ca;
    CHECK_OK(oa_batch_export(src, &ca, err), err);
    CHECK_EQ_INT(ca.n_children, s->n_fields);
    CHECK_EQ_INT(ca.length, src->length);
    CHECK_OK(oa_batch_import(&ca, s, &back, err), err);
    CHECK(ca.release == NULL);
    CHECK_OK(oa_batch_validate(&back, true, err), err);
    CHECK(oa_batch_equals(src, &back, err));
    oa_batch_reset(&back);
    if (pass) oa_batch_reset(&sl);
  }
  /* single array export keeps the offset */
  oa_batch_slice(&sl, &b, 3, 10, NULL);
  struct ArrowArray ca;
  int64_t col = oa_schema_find(s, "c_large_list");
  CHECK_OK(oa_array_export(&s->fields[col], &sl.columns[col], &ca, err), err);
  CHECK_EQ_INT(ca.offset, 3);
  CHECK_EQ_INT(ca.n_buffers, 2);
  oa_array back_a;
  CHECK_OK(oa_array_import(&ca, &s->fields[col], &back_a, err), err);
  CHECK(oa_array_equals(&s->fields[col], &sl.columns[col], &back_a, err));
  oa_array_reset(&back_a);
  oa_batch_reset(&sl);
  oa_batch_reset(&b);
  oa_schema_release(s);
}

/* A hand-made producer: int32 array [1, null, 3] with a counting release. */
typedef struct producer {
  int releases;
  int32_t values[3];
  uint8_t validity;
  const void *buffers[2];
} producer;

static void producer_release(struct ArrowArray *a) {
  producer *p = a->private_data;
  p->releases++;
  a->release = NULL;
}

static struct ArrowArray make_array(producer *p) {
  p->values[0] = 1;
  p->values[1] = 0;
  p->values[2] = 3;
  p->validity = 0x05;
  p->buffers[0] = &p->validity;
  p->buffers[1] = p->values;
  struct ArrowArray a = {.length = 3,
                         .null_count = 1,
                         .offset = 0,
                         .n_buffers = 2,
                         .n_children = 0,
                         .buffers = p->buffers,
                         .release = producer_release,
                         .private_data = p};
  return a;
}

OA_TEST(import_releases_once) {
  oa_field f = tf("x", OA_TYPE_INT32);
  producer p = {0};
  struct ArrowArray ca = make_array(&p);
  oa_array a, s;
  CHECK_OK(oa_array_import(&ca, &f, &a, err), err);
  CHECK(ca.release == NULL);
  CHECK_EQ_INT(p.releases, 0);
  CHECK_EQ_INT(a.buffers[1].size, 12);
  CHECK_EQ_STR(JSON(&f, &a, 2), "3");
  CHECK(oa_array_is_null(&f, &a, 1));
  CHECK_OK(oa_array_validate(&f, &a, true, err), err);
  oa_array_slice(&s, &a, 1, 2, NULL);
  oa_array_reset(&a);
  CHECK_EQ_INT(p.releases, 0); /* the slice still uses the memory */
  oa_array_reset(&s);
  CHECK_EQ_INT(p.releases, 1);

  /* a failed import also releases (once) */
  p.releases = 0;
  ca = make_array(&p);
  ca.n_buffers = 3;
  CHECK_FAILS(oa_array_import(&ca, &f, &a, err), EINVAL, err,
              "3 buffers, int32 needs 2");
  CHECK_EQ_INT(p.releases, 1);
  CHECK(ca.release == NULL);
  oa_field_reset(&f);

  /* export: the consumer's release drops our references */
  f = tf("x", OA_TYPE_STRING);
  oa_builder b;
  oa_builder_init(&b, &f, 0, NULL);
  oa_builder_append_cstr(&b, "hello");
  oa_array arr;
  oa_builder_finish(&b, &arr, NULL);
  oa_region *r = arr.buffers[2].region;
  CHECK_EQ_INT(atomic_load(&r->refcount), 1);
  CHECK_OK(oa_array_export(&f, &arr, &ca, err), err);
  CHECK_EQ_INT(atomic_load(&r->refcount), 2);
  CHECK(ca.buffers[0] == NULL);
  CHECK(ca.buffers[2] == arr.buffers[2].data);
  CHECK_EQ_INT(ca.null_count, 0);
  ca.release(&ca);
  CHECK_EQ_INT(atomic_load(&r->refcount), 1);
  oa_array_reset(&arr);
  oa_builder_reset(&b);
  oa_field_reset(&f);
}

OA_TEST(batch_import_struct_offset) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f = tf("x", OA_TYPE_INT32);
  oa_schema_add_field(s, &f, NULL);
  producer p = {0};
  struct ArrowArray child = make_array(&p);
  child.release = NULL; /* owned by the parent */
  struct ArrowArray *children[1] = {&child};
  const void *sbufs[1] = {NULL};
  struct ArrowArray st = {.length = 2,
                          .null_count = 0,
                          .offset = 1,
                          .n_buffers = 1,
                          .n_children = 1,
                          .buffers = sbufs,
                          .children = children,
                          .release = producer_release,
                          .private_data = &p};
  child.release = producer_release; /* a live child */
  oa_batch b;
  CHECK_OK(oa_batch_import(&st, s, &b, err), err);
  CHECK_EQ_INT(b.length, 2);
  CHECK_EQ_STR(JSON(&s->fields[0], &b.columns[0], 0), "null");
  CHECK_EQ_STR(JSON(&s->fields[0], &b.columns[0], 1), "3");
  CHECK_EQ_INT(p.releases, 0);
  oa_batch_reset(&b);
  CHECK_EQ_INT(p.releases,
               1); /* the parent's release; the child's is its job */
  oa_schema_release(s);
}

OA_TEST(streams) {
  oa_schema *s = tall_schema();
  oa_batch batches[2];
  oa_batch_init(&batches[0]);
  oa_batch_init(&batches[1]);
  CHECK_OK(tbatch(s, 10, &batches[0]), err);
  CHECK_OK(tbatch(s, 25, &batches[1]), err);
  struct ArrowArrayStream st;
  CHECK_OK(oa_batches_export_stream(s, batches, 2, &st, err), err);
  CHECK(st.get_last_error(&st) == NULL);
  oa_schema *t;
  CHECK_OK(oa_stream_import_schema(&st, &t, err), err);
  CHECK(oa_schema_equals(s, t, true, err));
  bool got;
  oa_batch out;
  for (int i = 0; i < 2; i++) {
    CHECK_OK(oa_stream_import_next(&st, t, &out, &got, err), err);
    CHECK(got);
    CHECK(oa_batch_equals(&batches[i], &out, err));
    oa_batch_reset(&out);
  }
  CHECK_OK(oa_stream_import_next(&st, t, &out, &got, err), err);
  CHECK(!got);
  /* the stream holds its own references */
  oa_batch_reset(&batches[0]);
  oa_batch_reset(&batches[1]);
  st.release(&st);
  CHECK(st.release == NULL);
  oa_schema_release(t);
  oa_schema_release(s);
}

static int failing_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
  (void)s;
  (void)out;
  return EIO;
}
static const char *failing_error(struct ArrowArrayStream *s) {
  (void)s;
  return "disk on fire";
}

static void noop_stream_release(struct ArrowArrayStream *s) {
  s->release = NULL;
}

OA_TEST(stream_errors) {
  struct ArrowArrayStream st;
  memset(&st, 0, sizeof st);
  st.get_next = failing_next;
  st.get_last_error = failing_error;
  st.release = noop_stream_release;
  oa_batch out;
  bool got;
  oa_schema *s;
  oa_schema_new(&s, NULL);
  CHECK_FAILS(oa_stream_import_next(&st, s, &out, &got, err), EIO, err,
              "disk on fire");
  oa_schema_release(s);
}

OA_TEST_MAIN(OA_T(format_strings), OA_T(flags_metadata_dictionary),
             OA_T(bad_formats), OA_T(schema_round_trip),
             OA_T(batch_round_trip_every_type), OA_T(import_releases_once),
             OA_T(batch_import_struct_offset), OA_T(streams),
             OA_T(stream_errors))
