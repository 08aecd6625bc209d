/* oa_batch_decode_dictionaries: dictionary columns become plain columns with
 * the same values, nulls and slices respected, other columns shared. */
#include "otlparrow/otlp.h"
#include "test_util.h"

static oa_error err_s;
static oa_error *err = &err_s;

static void attach_dict(oa_array *indices, oa_array *dict) {
  indices->dictionary = calloc(1, sizeof *indices->dictionary);
  oa_array_move(indices->dictionary, dict);
}

static bool any_dictionary(const oa_field *f) {
  if (f->dict.encoded) return true;
  for (int64_t i = 0; i < f->n_children; i++)
    if (any_dictionary(&f->children[i])) return true;
  return false;
}

static void check_str(const oa_field *f, const oa_array *a, int64_t i,
                      const char *exp, int line) {
  if (!exp) {
    if (!oa_array_is_null(f, a, i)) {
      fprintf(stderr, "line %d row %lld: expected null\n", line, (long long)i);
      oa_test_current_failed_ = 1;
    }
    return;
  }
  int64_t len = 0;
  const uint8_t *p = oa_array_get_bytes(f, a, i, &len);
  if (oa_array_is_null(f, a, i) || len != (int64_t)strlen(exp) ||
      memcmp(p, exp, (size_t)len) != 0) {
    fprintf(stderr, "line %d row %lld: got \"%.*s\" (null %d), expected %s\n",
            line, (long long)i, (int)len, p ? (const char *)p : "",
            oa_array_is_null(f, a, i), exp);
    oa_test_current_failed_ = 1;
  }
}
#define CHECK_STR_AT(f, a, i, exp) check_str((f), (a), (i), (exp), __LINE__)

/* Six rows: s = dict<int8> string, i = dict<uint16> int32 over a sliced
 * dictionary, b = dict<int32> fixed_size_binary(3), p = plain int64. */
static oa_schema *flat_schema(void) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f;
  oa_field_init(&f, "s", OA_TYPE_STRING, NULL);
  oa_field_set_dictionary(&f, OA_TYPE_INT8, 0, false);
  oa_schema_add_field(s, &f, NULL);
  oa_field_init(&f, "i", OA_TYPE_INT32, NULL);
  oa_field_set_dictionary(&f, OA_TYPE_UINT16, 1, false);
  oa_schema_add_field(s, &f, NULL);
  oa_field_init(&f, "b", OA_TYPE_FIXED_SIZE_BINARY, NULL);
  f.type.byte_width = 3;
  oa_field_set_dictionary(&f, OA_TYPE_INT32, 2, false);
  oa_schema_add_field(s, &f, NULL);
  oa_field_init(&f, "p", OA_TYPE_INT64, NULL);
  oa_schema_add_field(s, &f, NULL);
  return s;
}

static void build_flat(oa_batch *out) {
  oa_schema *s = flat_schema();
  oa_array cols[4];
  oa_builder b;
  oa_field vf;

  /* s: dictionary ["a", null, "ccc"], indices [2, 0, null, 1, 0, 2] */
  oa_field_init(&vf, "v", OA_TYPE_STRING, err);
  oa_builder_init(&b, &vf, 0, err);
  oa_builder_append_cstr(&b, "a");
  oa_builder_append_null(&b);
  oa_builder_append_cstr(&b, "ccc");
  oa_array dict;
  oa_builder_finish(&b, &dict, err);
  oa_builder_reset(&b);
  oa_field_reset(&vf);
  oa_field_init(&vf, "x", OA_TYPE_INT8, err);
  oa_builder_init(&b, &vf, 0, err);
  oa_builder_append_int(&b, 2);
  oa_builder_append_int(&b, 0);
  oa_builder_append_null(&b);
  oa_builder_append_int(&b, 1);
  oa_builder_append_int(&b, 0);
  oa_builder_append_int(&b, 2);
  oa_builder_finish(&b, &cols[0], err);
  oa_builder_reset(&b);
  oa_field_reset(&vf);
  attach_dict(&cols[0], &dict);

  /* i: dictionary [99, 10, 20, null, 30] sliced to [10, 20, null, 30],
   * indices [3, 0, 2, 1, null, 0] -> [30, 10, null, 20, null, 10] */
  oa_field_init(&vf, "v", OA_TYPE_INT32, err);
  oa_builder_init(&b, &vf, 0, err);
  oa_builder_append_int(&b, 99);
  oa_builder_append_int(&b, 10);
  oa_builder_append_int(&b, 20);
  oa_builder_append_null(&b);
  oa_builder_append_int(&b, 30);
  oa_array whole;
  oa_builder_finish(&b, &whole, err);
  oa_builder_reset(&b);
  oa_field_reset(&vf);
  CHECK_OK(oa_array_slice(&dict, &whole, 1, 4, err), err);
  oa_array_reset(&whole);
  oa_field_init(&vf, "x", OA_TYPE_UINT16, err);
  oa_builder_init(&b, &vf, 0, err);
  oa_builder_append_uint(&b, 3);
  oa_builder_append_uint(&b, 0);
  oa_builder_append_uint(&b, 2);
  oa_builder_append_uint(&b, 1);
  oa_builder_append_null(&b);
  oa_builder_append_uint(&b, 0);
  oa_builder_finish(&b, &cols[1], err);
  oa_builder_reset(&b);
  oa_field_reset(&vf);
  attach_dict(&cols[1], &dict);

  /* b: dictionary ["abc", "xyz"], indices [1, 0, null, 1, 1, 0] */
  oa_field_init(&vf, "v", OA_TYPE_FIXED_SIZE_BINARY, err);
  vf.type.byte_width = 3;
  oa_builder_init(&b, &vf, 0, err);
  oa_builder_append_bytes(&b, "abc", 3);
  oa_builder_append_bytes(&b, "xyz", 3);
  oa_builder_finish(&b, &dict, err);
  oa_builder_reset(&b);
  oa_field_reset(&vf);
  oa_field_init(&vf, "x", OA_TYPE_INT32, err);
  oa_builder_init(&b, &vf, 0, err);
  oa_builder_append_int(&b, 1);
  oa_builder_append_int(&b, 0);
  oa_builder_append_null(&b);
  oa_builder_append_int(&b, 1);
  oa_builder_append_int(&b, 1);
  oa_builder_append_int(&b, 0);
  oa_builder_finish(&b, &cols[2], err);
  oa_builder_reset(&b);
  oa_field_reset(&vf);
  attach_dict(&cols[2], &dict);

  /* p: plain [0, 1, ..., 5] */
  oa_builder_init(&b, &s->fields[3], 0, err);
  for (int k = 0; k < 6; k++)
    oa_builder_append_int(&b, k * 100);
  oa_builder_finish(&b, &cols[3], err);
  oa_builder_reset(&b);

  oa_batch_init(out);
  CHECK_OK(oa_batch_set(out, s, 6, cols, err), err);
  oa_schema_release(s);
  CHECK_OK(oa_batch_validate(out, true, err), err);
}

static const char *const kS[6] = {"ccc", "a", NULL, NULL, "a", "ccc"};
static const int64_t kI[6] = {30, 10, -1, 20, -1, 10}; /* -1: null */
static const char *const kB[6] = {"xyz", "abc", NULL, "xyz", "xyz", "abc"};

static void check_flat(const oa_batch *d, int64_t from, int64_t n) {
  CHECK_EQ_INT(d->length, n);
  CHECK_EQ_INT(d->n_columns, 4);
  const oa_field *fs = d->schema->fields;
  for (int c = 0; c < 4; c++) {
    CHECK(!fs[c].dict.encoded);
    CHECK(d->columns[c].dictionary == NULL);
  }
  CHECK_EQ_INT(fs[0].type.id, OA_TYPE_STRING);
  CHECK_EQ_INT(fs[1].type.id, OA_TYPE_INT32);
  CHECK_EQ_INT(fs[2].type.id, OA_TYPE_FIXED_SIZE_BINARY);
  CHECK_EQ_INT(fs[2].type.byte_width, 3);
  CHECK_EQ_STR(fs[1].name, "i");
  for (int64_t r = 0; r < n; r++) {
    CHECK_STR_AT(&fs[0], &d->columns[0], r, kS[from + r]);
    CHECK_STR_AT(&fs[2], &d->columns[2], r, kB[from + r]);
    if (kI[from + r] < 0) {
      CHECK(oa_array_is_null(&fs[1], &d->columns[1], r));
    } else {
      CHECK(!oa_array_is_null(&fs[1], &d->columns[1], r));
      CHECK_EQ_INT(oa_array_get_int(&fs[1], &d->columns[1], r), kI[from + r]);
    }
    CHECK_EQ_INT(oa_array_get_int(&fs[3], &d->columns[3], r), (from + r) * 100);
  }
  int64_t nulls0 = 0;
  for (int64_t r = 0; r < n; r++)
    nulls0 += kS[from + r] == NULL;
  CHECK_EQ_INT(oa_array_null_count(&fs[0], &d->columns[0]), nulls0);
  CHECK_OK(oa_batch_validate(d, true, err), err);
}

OA_TEST(flat_columns) {
  oa_batch in, out;
  build_flat(&in);
  CHECK_OK(oa_batch_decode_dictionaries(&in, &out, err), err);
  check_flat(&out, 0, 6);
  /* the plain column is shared, not copied */
  CHECK(out.columns[3].buffers[1].data == in.columns[3].buffers[1].data);
  CHECK(out.columns[3].buffers[1].region == in.columns[3].buffers[1].region);
  /* the input is untouched */
  CHECK(in.schema->fields[0].dict.encoded);
  CHECK(in.columns[0].dictionary != NULL);
  CHECK_EQ_INT(in.schema->refcount, 1);
  oa_batch_reset(&out);
  oa_batch_reset(&in);
}

OA_TEST(sliced_batch) {
  oa_batch in, sl, out;
  build_flat(&in);
  for (int64_t off = 0; off <= 6; off++) {
    for (int64_t n = 0; off + n <= 6; n++) {
      CHECK_OK(oa_batch_slice(&sl, &in, off, n, err), err);
      CHECK_OK(oa_batch_decode_dictionaries(&sl, &out, err), err);
      check_flat(&out, off, n);
      /* decoded columns start at offset 0 */
      CHECK_EQ_INT(out.columns[0].offset, 0);
      oa_batch_reset(&out);
      oa_batch_reset(&sl);
    }
  }
  oa_batch_reset(&in);
}

/* l: list<item: struct<name: dict<int16> string, n: int32>> */
OA_TEST(nested_list_struct) {
  oa_field name, n, item, l;
  oa_field_init(&name, "name", OA_TYPE_STRING, err);
  oa_field_set_dictionary(&name, OA_TYPE_INT16, 7, false);
  oa_field_init(&n, "n", OA_TYPE_INT32, err);
  oa_field_init(&item, "item", OA_TYPE_STRUCT, err);
  oa_field_add_child(&item, &name, err);
  oa_field_add_child(&item, &n, err);
  oa_field_init(&l, "l", OA_TYPE_LIST, err);
  oa_field_add_child(&l, &item, err);
  oa_schema *s;
  oa_schema_new(&s, err);
  oa_schema_add_field(s, &l, err);

  /* rows: [{x,1},{y,2}], null, [], [{x,3},{null,4}], [{z,5}] */
  oa_builder b;
  CHECK_OK(oa_builder_init(&b, &s->fields[0], 0, err), err);
  oa_builder *st = &b.children[0], *nm = &st->children[0],
             *ni = &st->children[1];
  static const char *const names[] = {"x", "y", "x", NULL, "z"};
  static const int per_row[] = {2, -1, 0, 2, 1};
  int k = 0;
  for (int r = 0; r < 5; r++) {
    if (per_row[r] < 0) {
      oa_builder_append_null(&b);
      continue;
    }
    for (int j = 0; j < per_row[r]; j++, k++) {
      if (names[k])
        oa_builder_append_cstr(nm, names[k]);
      else
        oa_builder_append_null(nm);
      oa_builder_append_int(ni, k + 1);
      oa_builder_append_valid(st);
    }
    oa_builder_append_valid(&b);
  }
  oa_array col;
  CHECK_OK(oa_builder_finish(&b, &col, err), err);
  oa_builder_reset(&b);
  oa_batch in, sl, out;
  oa_batch_init(&in);
  CHECK_OK(oa_batch_set(&in, s, 5, &col, err), err);
  oa_schema_release(s);
  CHECK_OK(oa_batch_validate(&in, true, err), err);

  CHECK_OK(oa_batch_decode_dictionaries(&in, &out, err), err);
  CHECK_OK(oa_batch_validate(&out, true, err), err);
  const oa_field *ol = &out.schema->fields[0];
  CHECK(!any_dictionary(ol));
  CHECK_EQ_INT(ol->type.id, OA_TYPE_LIST);
  CHECK_EQ_INT(ol->children[0].children[0].type.id, OA_TYPE_STRING);
  const oa_field *oname = &ol->children[0].children[0];
  const oa_array *aname = &out.columns[0].children[0].children[0];
  CHECK(aname->dictionary == NULL);
  CHECK_EQ_INT(aname->length, 5);
  for (int j = 0; j < 5; j++)
    CHECK_STR_AT(oname, aname, j, names[j]);
  /* the list offsets and the int32 child are shared with the input */
  CHECK(out.columns[0].buffers[1].region == in.columns[0].buffers[1].region);
  CHECK(out.columns[0].children[0].children[1].buffers[1].region ==
        in.columns[0].children[0].children[1].buffers[1].region);
  for (int r = 0; r < 5; r++) {
    char a[1024];
    snprintf(a, sizeof a, "%s", TEXT(&in.schema->fields[0], &in.columns[0], r));
    CHECK_EQ_STR(TEXT(ol, &out.columns[0], r), a);
  }
  CHECK(strstr(TEXT(ol, &out.columns[0], 3), "x") != NULL);
  oa_batch_reset(&out);

  /* a slice of the list: rows 3..4 */
  CHECK_OK(oa_batch_slice(&sl, &in, 3, 2, err), err);
  CHECK_OK(oa_batch_decode_dictionaries(&sl, &out, err), err);
  CHECK_OK(oa_batch_validate(&out, true, err), err);
  for (int r = 0; r < 2; r++) {
    char a[1024];
    snprintf(a, sizeof a, "%s", TEXT(&sl.schema->fields[0], &sl.columns[0], r));
    CHECK_EQ_STR(TEXT(&out.schema->fields[0], &out.columns[0], r), a);
  }
  oa_batch_reset(&out);
  oa_batch_reset(&sl);
  oa_batch_reset(&in);
}

OA_TEST(errors) {
  /* an index outside its dictionary */
  oa_batch in, out;
  build_flat(&in);
  int8_t *idx = (int8_t *)in.columns[0].buffers[1].data;
  idx[4] = 9;
  CHECK_FAILS(oa_batch_decode_dictionaries(&in, &out, err), EINVAL, err,
              "field 's': row 4: index 9");
  CHECK(out.schema == NULL && out.n_columns == 0);
  idx[4] = -1;
  CHECK_FAILS(oa_batch_decode_dictionaries(&in, &out, err), EINVAL, err,
              "index -1");
  idx[4] = 0;
  oa_array *d = in.columns[2].dictionary;
  in.columns[2].dictionary = NULL;
  CHECK_FAILS(oa_batch_decode_dictionaries(&in, &out, err), EINVAL, err,
              "field 'b': array has no dictionary");
  in.columns[2].dictionary = d;
  CHECK_OK(oa_batch_decode_dictionaries(&in, &out, err), err);
  oa_batch_reset(&out);
  oa_batch_reset(&in);

  /* a dictionary whose values are a union without children: unsupported */
  oa_schema *s;
  oa_schema_new(&s, err);
  oa_field st, u;
  oa_field_init(&st, "outer", OA_TYPE_STRUCT, err);
  oa_field_init(&u, "tags", OA_TYPE_SPARSE_UNION, err);
  oa_field_set_dictionary(&u, OA_TYPE_INT32, 3, false);
  oa_field_add_child(&st, &u, err);
  oa_schema_add_field(s, &st, err);
  oa_array col;
  oa_array_init(&col);
  oa_batch_init(&in);
  CHECK_OK(oa_batch_set(&in, s, 0, &col, err), err);
  oa_schema_release(s);
  CHECK_FAILS(oa_batch_decode_dictionaries(&in, &out, err), ENOTSUP, err,
              "field 'outer.tags'");
  CHECK(strstr(err->message, "sparse_union") != NULL);
  oa_batch_reset(&in);
}

/* A real span batch: every row of every column formats identically. */
OA_TEST(generated_spans) {
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  o.spans = 600;
  o.seed = 7;
  oa_trace_gen g;
  CHECK_OK(oa_trace_gen_init(&g, &o, err), err);
  oa_bytes req;
  oa_bytes_init(&req);
  int64_t n = 0, batches = 0;
  for (;;) {
    CHECK_OK(oa_trace_gen_next_request(&g, 250, &req, &n, err), err);
    if (n == 0) break;
    oa_batch in, sl, out;
    oa_batch_init(&in);
    oa_otlp_result res;
    CHECK_OK(oa_otlp_decode_traces(req.data, req.size, NULL, &in, &res, err),
             err);
    int64_t n_dict = 0;
    for (int64_t c = 0; c < in.n_columns; c++)
      n_dict += any_dictionary(&in.schema->fields[c]);
    CHECK(n_dict > 0);
    /* the whole batch and a slice that starts mid-batch */
    CHECK_OK(oa_batch_slice(&sl, &in, in.length / 3, in.length / 2, err), err);
    const oa_batch *src[2] = {&in, &sl};
    for (int v = 0; v < 2; v++) {
      CHECK_OK(oa_batch_decode_dictionaries(src[v], &out, err), err);
      CHECK_OK(oa_batch_validate(&out, true, err), err);
      CHECK_EQ_INT(out.length, src[v]->length);
      CHECK_EQ_INT(out.n_columns, src[v]->n_columns);
      for (int64_t c = 0; c < out.n_columns; c++) {
        const oa_field *fi = &src[v]->schema->fields[c];
        const oa_field *fo = &out.schema->fields[c];
        CHECK(!any_dictionary(fo));
        CHECK_EQ_STR(fo->name, fi->name);
        for (int64_t r = 0; r < out.length; r++) {
          char a[1024];
          snprintf(a, sizeof a, "%s", TEXT(fi, &src[v]->columns[c], r));
          const char *b = TEXT(fo, &out.columns[c], r);
          if (strcmp(a, b) != 0) {
            fprintf(stderr, "column %s row %lld: \"%s\" != \"%s\"\n", fi->name,
                    (long long)r, a, b);
            oa_test_current_failed_ = 1;
            break;
          }
        }
      }
      oa_batch_reset(&out);
    }
    oa_batch_reset(&sl);
    oa_batch_reset(&in);
    batches++;
  }
  CHECK(batches >= 3);
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
}

OA_TEST_MAIN(OA_T(flat_columns), OA_T(sliced_batch), OA_T(nested_list_struct),
             OA_T(errors), OA_T(generated_spans))
