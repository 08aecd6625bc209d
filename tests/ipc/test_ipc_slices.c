/* Slices write only what their rows reference, dense unions included (alone,
 * inside lists, maps and lists of maps): the slice round-trips and its body
 * is about as small as the same rows built as their own batch. */
#include "ipc/ipc_internal.h"
#include "ipc_test_util.h"

#define N_ROWS 10000

/* The attribute value union: codes are not 0..n-1 to exercise the mapping. */
static oa_field value_union(const char *name) {
  static const struct {
    const char *name;
    oa_type_id t;
  } kids[] = {{"n", OA_TYPE_INT8},  {"s", OA_TYPE_STRING},
              {"i", OA_TYPE_INT64}, {"d", OA_TYPE_DOUBLE},
              {"b", OA_TYPE_BOOL},  {"x", OA_TYPE_BINARY}};
  static const int8_t codes[] = {1, 2, 3, 4, 5, 7};
  oa_field u = tf(name, OA_TYPE_DENSE_UNION);
  for (int k = 0; k < 6; k++) {
    tchild(&u, tf(kids[k].name, kids[k].t));
    u.type.type_codes[k] = codes[k];
  }
  return u;
}

static oa_field attr_map(const char *name) {
  oa_field m = tf(name, OA_TYPE_MAP);
  oa_field ent = tf("entries", OA_TYPE_STRUCT);
  ent.nullable = false;
  oa_field key = tf("key", OA_TYPE_STRING);
  key.nullable = false;
  tchild(&ent, key);
  tchild(&ent, value_union("value"));
  tchild(&m, ent);
  return m;
}

/* m: map<utf8, dense_union>, l: list<dense_union>, u: dense_union,
 * lm: list<map<utf8, dense_union>>, su: sparse_union (control). */
static oa_schema *slices_schema(void) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  tu_add(s, attr_map("m"));
  oa_field l = tf("l", OA_TYPE_LIST);
  tchild(&l, value_union("item"));
  tu_add(s, l);
  tu_add(s, value_union("u"));
  oa_field lm = tf("lm", OA_TYPE_LIST);
  tchild(&lm, attr_map("item"));
  tu_add(s, lm);
  oa_field su = tf("su", OA_TYPE_SPARSE_UNION);
  tchild(&su, tf("i", OA_TYPE_INT32));
  tchild(&su, tf("s", OA_TYPE_STRING));
  su.type.type_codes[0] = 3;
  su.type.type_codes[1] = 8;
  tu_add(s, su);
  return s;
}

/* Values depend only on the row number, so rows [a, b) built alone equal
 * the same rows of the big batch. */
static uint64_t next_rand(uint64_t *st) {
  uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int append_union(oa_builder *b, uint64_t *st) {
  uint64_t r = next_rand(st);
  int k = (int)(r % 6);
  oa_builder *c = &b->children[k];
  char buf[32];
  int rc = 0;
  switch (k) {
  case 0:
    rc = (r >> 8) % 4 == 0 ? oa_builder_append_null(c)
                           : oa_builder_append_int(c, (int64_t)(r >> 16) % 100);
    break;
  case 1:
  case 5: {
    int n = (int)((r >> 8) % 24);
    for (int i = 0; i < n; i++)
      buf[i] = (char)('a' + (r >> (12 + i)) % 26);
    rc = oa_builder_append_bytes(c, buf, n);
    break;
  }
  case 2:
    rc = oa_builder_append_int(c, (int64_t)(r >> 4));
    break;
  case 3:
    rc = oa_builder_append_double(c, (double)(r >> 40) / 8);
    break;
  default:
    rc = oa_builder_append_bool(c, (r >> 9) & 1);
  }
  return rc ? rc : oa_builder_append_union(b, k);
}

static int append_map(oa_builder *b, uint64_t *st) {
  uint64_t r = next_rand(st);
  if (r % 10 == 0) return oa_builder_append_null(b);
  int n = (int)((r >> 8) % 6);
  oa_builder *ent = &b->children[0];
  for (int i = 0; i < n; i++) {
    char key[16];
    snprintf(key, sizeof key, "k%d", (int)((r >> (16 + i)) % 40));
    int rc = oa_builder_append_cstr(&ent->children[0], key);
    if (!rc) rc = append_union(&ent->children[1], st);
    if (!rc) rc = oa_builder_append_valid(ent);
    if (rc) return rc;
  }
  return oa_builder_append_valid(b);
}

static int append_row(oa_builder *cols, uint64_t row) {
  uint64_t st = row * 7919 + 1;
  int rc = append_map(&cols[0], &st);
  uint64_t r = next_rand(&st);
  if (!rc && r % 10 == 0)
    rc = oa_builder_append_null(&cols[1]);
  else if (!rc) {
    for (int i = 0; i < (int)((r >> 8) % 5) && !rc; i++)
      rc = append_union(&cols[1].children[0], &st);
    if (!rc) rc = oa_builder_append_valid(&cols[1]);
  }
  if (!rc) rc = append_union(&cols[2], &st);
  r = next_rand(&st);
  for (int i = 0; i < (int)(r % 4) && !rc; i++)
    rc = append_map(&cols[3].children[0], &st);
  if (!rc) rc = oa_builder_append_valid(&cols[3]);
  r = next_rand(&st);
  if (!rc && r % 2)
    rc = oa_builder_append_int(&cols[4].children[0], (int64_t)(r >> 8) % 1000);
  else if (!rc)
    rc = oa_builder_append_cstr(&cols[4].children[1], "sparse");
  if (!rc) rc = oa_builder_append_union(&cols[4], (int)(r % 2) ? 0 : 1);
  return rc;
}

/* Rows [first, first + n) built from scratch. */
static int build_rows(oa_schema *s, int64_t first, int64_t n, oa_batch *out,
                      oa_error *err) {
  oa_builder b[5];
  oa_array cols[5];
  int rc = 0;
  for (int i = 0; i < 5; i++) {
    oa_array_init(&cols[i]);
    oa_builder_init(&b[i], &s->fields[i], 0, err);
  }
  for (int64_t r = first; r < first + n && !rc; r++)
    rc = append_row(b, (uint64_t)r);
  if (rc) oa_error_set(err, rc, "append of row failed");
  for (int i = 0; i < 5 && !rc; i++)
    rc = oa_builder_finish(&b[i], &cols[i], err);
  if (!rc) rc = oa_batch_set(out, s, n, cols, err);
  for (int i = 0; i < 5; i++) {
    oa_builder_reset(&b[i]);
    oa_array_reset(&cols[i]);
  }
  return rc;
}

static int body_emit(void *ctx, const oa_ipc_message *m, oa_error *err) {
  (void)err;
  if (m->type == OA_IPC_MSG_RECORD_BATCH) *(int64_t *)ctx = m->body_length;
  return 0;
}

/* Body length of the record batch message of b. */
static int64_t body_size(oa_schema *s, const oa_batch *b, oa_error *err) {
  oa_ipc_encoder *enc;
  int64_t len = -1;
  if (oa_ipc_encoder_new(&enc, s, NULL, err)) return -1;
  if (oa_ipc_encoder_batch(enc, b, body_emit, &len, err)) len = -1;
  oa_ipc_encoder_free(enc);
  return len;
}

/* Writes b, reads it back and compares with b; returns the stream size. */
static int64_t roundtrip(oa_ipc_format fmt, oa_compression codec, oa_schema *s,
                         const oa_batch *b, oa_batch *got_out) {
  oa_error err_, *err = &err_;
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  wo.compression = codec;
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(tu_write(fmt, s, &wo, b, 1, &out, err), err);
  oa_batch *got = NULL;
  int64_t n = 0;
  if (fmt == OA_IPC_STREAM)
    CHECK_OK(tu_read_stream(out.data, out.size, 0, NULL, &got, &n, err), err);
  else
    CHECK_OK(tu_read_file(out.data, out.size, NULL, &got, &n, err), err);
  CHECK_EQ_INT(n, 1);
  if (n == 1) {
    bool eq = oa_batch_equals(b, &got[0], err);
    if (!eq) fprintf(stderr, "fmt %d codec %d: %s\n", fmt, codec, err->message);
    CHECK(eq);
    if (got_out) oa_batch_move(got_out, &got[0]);
  }
  tu_free_batches(got, n);
  int64_t size = out.size;
  oa_bytes_reset(&out);
  return size;
}

/* Sum of the lengths of a dense union's children. */
static int64_t children_rows(const oa_array *u) {
  int64_t t = 0;
  for (int64_t k = 0; k < u->n_children; k++)
    t += u->children[k].length;
  return t;
}

OA_TEST(test_sliced_dense_unions_write_only_their_rows) {
  oa_error err_, *err = &err_;
  oa_schema *s = slices_schema();
  oa_batch big;
  oa_batch_init(&big);
  CHECK_OK(build_rows(s, 0, N_ROWS, &big, err), err);
  CHECK_OK(oa_batch_validate(&big, true, err), err);
  int64_t full_body = body_size(s, &big, err);
  static const int64_t starts[] = {0, 5000, 9900};
  for (int i = 0; i < 3; i++) {
    oa_batch slice, fresh, got;
    oa_batch_init(&slice);
    oa_batch_init(&fresh);
    oa_batch_init(&got);
    CHECK_OK(oa_batch_slice(&slice, &big, starts[i], 100, err), err);
    CHECK_OK(build_rows(s, starts[i], 100, &fresh, err), err);
    /* independent path: the rows built alone equal the slice */
    CHECK(oa_batch_equals(&slice, &fresh, err));
    roundtrip(OA_IPC_STREAM, OA_COMPRESSION_NONE, s, &slice, &got);
    roundtrip(OA_IPC_FILE, OA_COMPRESSION_NONE, s, &slice, NULL);
    roundtrip(OA_IPC_STREAM, OA_COMPRESSION_ZSTD, s, &slice, NULL);
    int64_t sb = body_size(s, &slice, err), fb = body_size(s, &fresh, err);
    printf("rows [%lld, +100): slice body %lld, built alone %lld, full %lld\n",
           (long long)starts[i], (long long)sb, (long long)fb,
           (long long)full_body);
    CHECK(sb > 0 && fb > 0);
    CHECK(sb < 2 * fb);
    CHECK(sb * 20 < full_body);
    if (got.n_columns == 5) {
      /* builder output is in order: each child holds exactly its rows */
      const oa_array *u = &got.columns[2];
      CHECK_EQ_INT(children_rows(u), 100);
      const oa_array *lu = &got.columns[1].children[0];
      CHECK_EQ_INT(children_rows(lu), lu->length);
      const oa_array *mu = &got.columns[0].children[0].children[1];
      CHECK_EQ_INT(children_rows(mu), mu->length);
      const oa_array *lmu = &got.columns[3].children[0].children[0].children[1];
      CHECK_EQ_INT(children_rows(lmu), lmu->length);
      /* sparse union children are sliced with the parent */
      CHECK_EQ_INT(got.columns[4].children[0].length, 100);
      CHECK_EQ_INT(got.columns[4].children[1].length, 100);
    }
    oa_batch_reset(&got);
    oa_batch_reset(&slice);
    oa_batch_reset(&fresh);
  }
  /* the full batch still round-trips */
  roundtrip(OA_IPC_STREAM, OA_COMPRESSION_NONE, s, &big, NULL);
  roundtrip(OA_IPC_FILE, OA_COMPRESSION_LZ4_FRAME, s, &big, NULL);
  oa_batch_reset(&big);
  oa_schema_release(s);
}

/* Flight DoGet splits a batch into row slices: together they must cost about
 * what the whole batch costs, not one whole union per slice. */
OA_TEST(test_split_into_slices_costs_about_the_whole) {
  oa_error err_, *err = &err_;
  oa_schema *s = slices_schema();
  oa_batch big;
  oa_batch_init(&big);
  CHECK_OK(build_rows(s, 0, N_ROWS, &big, err), err);
  oa_batch parts[8];
  int64_t cuts[9] = {0, 1, 999, 2500, 2501, 6000, 7777, 9999, N_ROWS};
  for (int i = 0; i < 8; i++) {
    oa_batch_init(&parts[i]);
    CHECK_OK(
        oa_batch_slice(&parts[i], &big, cuts[i], cuts[i + 1] - cuts[i], err),
        err);
  }
  oa_bytes whole, split;
  oa_bytes_init(&whole);
  oa_bytes_init(&split);
  CHECK_OK(tu_write(OA_IPC_STREAM, s, NULL, &big, 1, &whole, err), err);
  CHECK_OK(tu_write(OA_IPC_STREAM, s, NULL, parts, 8, &split, err), err);
  printf("whole stream %lld bytes, 8 slices %lld bytes\n",
         (long long)whole.size, (long long)split.size);
  CHECK(split.size < whole.size + whole.size / 10);
  oa_batch *got = NULL;
  int64_t n = 0;
  CHECK_OK(tu_read_stream(split.data, split.size, -1, NULL, &got, &n, err),
           err);
  CHECK_EQ_INT(n, 8);
  for (int64_t i = 0; i < n && i < 8; i++)
    CHECK(oa_batch_equals(&parts[i], &got[i], err));
  tu_free_batches(got, n);
  for (int i = 0; i < 8; i++)
    oa_batch_reset(&parts[i]);
  oa_bytes_reset(&whole);
  oa_bytes_reset(&split);
  oa_batch_reset(&big);
  oa_schema_release(s);
}

static oa_buffer mkbuf(const void *data, int64_t size) {
  oa_region *r = oa_region_alloc(size);
  memcpy(r->data, data, (size_t)size);
  oa_buffer b = {r->data, size, r};
  return b;
}

/* dense_union<a: int32 (code 4), b: utf8 (code 6)> over hand-made buffers. */
static void hand_union(oa_field *f, oa_array *a, const int8_t *codes,
                       const int32_t *offs, int64_t n) {
  oa_field_init(f, "hu", OA_TYPE_DENSE_UNION, NULL);
  oa_field ca = tf("a", OA_TYPE_INT32), cb = tf("b", OA_TYPE_STRING);
  oa_field_add_child(f, &ca, NULL);
  oa_field_add_child(f, &cb, NULL);
  f->type.type_codes[0] = 4;
  f->type.type_codes[1] = 6;
  oa_array_init(a);
  a->length = n;
  a->null_count = 0;
  a->n_buffers = 2;
  a->buffers[0] = mkbuf(codes, n);
  a->buffers[1] = mkbuf(offs, 4 * n);
  a->n_children = 2;
  a->children = calloc(2, sizeof *a->children);
  oa_builder b;
  oa_builder_init(&b, &f->children[0], 0, NULL);
  for (int i = 0; i < 10; i++)
    oa_builder_append_int(&b, 100 + i);
  oa_builder_finish(&b, &a->children[0], NULL);
  oa_builder_reset(&b);
  oa_builder_init(&b, &f->children[1], 0, NULL);
  for (int i = 0; i < 5; i++) {
    char v[4] = {'s', (char)('0' + i), 0};
    oa_builder_append_cstr(&b, v);
  }
  oa_builder_finish(&b, &a->children[1], NULL);
  oa_builder_reset(&b);
}

static int32_t union_offset(const oa_array *a, int64_t i) {
  int32_t o;
  memcpy(&o, a->buffers[1].data + 4 * (a->offset + i), 4);
  return o;
}

OA_TEST(test_non_monotonic_dense_union_slice) {
  oa_error err_, *err = &err_;
  /* child a offsets go 7, 3, 5, 9 and child b 2, 0, 4: not in order */
  static const int8_t codes[] = {4, 6, 4, 4, 6, 4, 6};
  static const int32_t offs[] = {7, 2, 3, 5, 0, 9, 4};
  oa_field f;
  oa_array a;
  hand_union(&f, &a, codes, offs, 7);
  oa_schema *s;
  oa_schema_new(&s, err);
  oa_field fc;
  oa_field_copy(&fc, &f, err);
  tu_add(s, fc);
  oa_batch full, slice, got;
  oa_batch_init(&full);
  oa_batch_init(&slice);
  oa_batch_init(&got);
  CHECK_OK(oa_batch_set(&full, s, 7, &a, err), err);
  CHECK_OK(oa_batch_validate(&full, true, err), err);
  roundtrip(OA_IPC_STREAM, OA_COMPRESSION_NONE, s, &full, NULL);
  /* rows 1..5: a references 3, 5, 9 -> [3, 10); b references 2, 0 -> [0, 3) */
  CHECK_OK(oa_batch_slice(&slice, &full, 1, 5, err), err);
  roundtrip(OA_IPC_STREAM, OA_COMPRESSION_NONE, s, &slice, &got);
  roundtrip(OA_IPC_FILE, OA_COMPRESSION_ZSTD, s, &slice, NULL);
  if (got.n_columns == 1) {
    const oa_array *u = &got.columns[0];
    CHECK_EQ_INT(u->children[0].length, 7);
    CHECK_EQ_INT(u->children[1].length, 3);
    static const int32_t want[] = {2, 0, 2, 0, 6};
    for (int i = 0; i < 5; i++)
      CHECK_EQ_INT(union_offset(u, i), want[i]);
    CHECK_EQ_INT(oa_array_get_int(&f.children[0], &u->children[0], 6), 109);
  }
  /* a slice referencing only child a: child b is written empty */
  oa_batch one;
  oa_batch_init(&one);
  oa_batch_reset(&got);
  CHECK_OK(oa_batch_slice(&one, &full, 2, 2, err), err);
  roundtrip(OA_IPC_STREAM, OA_COMPRESSION_NONE, s, &one, &got);
  if (got.n_columns == 1) {
    CHECK_EQ_INT(got.columns[0].children[0].length, 3);
    CHECK_EQ_INT(got.columns[0].children[1].length, 0);
  }
  /* an empty slice */
  oa_batch none;
  oa_batch_init(&none);
  CHECK_OK(oa_batch_slice(&none, &full, 3, 0, err), err);
  roundtrip(OA_IPC_STREAM, OA_COMPRESSION_NONE, s, &none, NULL);
  oa_batch_reset(&none);
  oa_batch_reset(&one);
  oa_batch_reset(&got);
  oa_batch_reset(&slice);
  oa_batch_reset(&full);
  oa_schema_release(s);
  oa_field_reset(&f);
}

static int ignore_emit(void *ctx, const oa_ipc_message *m, oa_error *err) {
  (void)ctx;
  (void)m;
  (void)err;
  return 0;
}

OA_TEST(test_bad_dense_union_is_refused) {
  oa_error err_, *err = &err_;
  static const int8_t codes[] = {4, 6, 5};
  static const int32_t offs[] = {0, 0, 0};
  static const int32_t far[] = {0, 5, 0};
  for (int t = 0; t < 2; t++) {
    oa_field f;
    oa_array a;
    hand_union(&f, &a, t ? (const int8_t[]){4, 6, 4} : codes, t ? far : offs,
               3);
    oa_schema *s;
    oa_schema_new(&s, err);
    tu_add(s, f);
    oa_batch b;
    oa_batch_init(&b);
    CHECK_OK(oa_batch_set(&b, s, 3, &a, err), err);
    oa_ipc_encoder *enc;
    CHECK_OK(oa_ipc_encoder_new(&enc, s, NULL, err), err);
    if (t == 0)
      CHECK_FAILS(oa_ipc_encoder_batch(enc, &b, ignore_emit, NULL, err), EINVAL,
                  err, "field 'hu' row 2: type code 5 is not a code");
    else
      CHECK_FAILS(oa_ipc_encoder_batch(enc, &b, ignore_emit, NULL, err), EINVAL,
                  err, "row 1: union offset 5 outside child 'b' of length 5");
    oa_ipc_encoder_free(enc);
    oa_batch_reset(&b);
    oa_schema_release(s);
  }
}

OA_TEST_MAIN(OA_T(test_sliced_dense_unions_write_only_their_rows),
             OA_T(test_split_into_slices_costs_about_the_whole),
             OA_T(test_non_monotonic_dense_union_slice),
             OA_T(test_bad_dense_union_is_refused))
