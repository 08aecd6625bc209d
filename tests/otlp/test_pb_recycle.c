/* oa_otlp_decoder_recycle: a batch handed back to the decoder lends its
 * buffers to the next decode. The next batches must equal a fresh decoder's,
 * buffers still referenced elsewhere must be left alone, and a small batch
 * after a large one must not keep the large one's memory. */
#include "otlp_test_util.h"
#include "otlparrow/otlp.h"
#include "recycle_test_util.h"
#include "test.h"

static ptrs g_a, g_b; /* (large: not on the stack) */

static void check_fresh(const oa_bytes *in, const oa_batch *got,
                        int64_t spans) {
  oa_error e_, *err = &e_;
  oa_batch want;
  oa_batch_init(&want);
  CHECK_OK(oa_otlp_decode_traces(in->data, in->size, NULL, &want, NULL, err),
           err);
  CHECK_EQ_INT(got->length, spans);
  CHECK(oa_batch_equals(got, &want, err));
  CHECK_OK(oa_batch_validate(got, true, err), err);
  /* the same bytes on the wire again (dictionaries included) */
  oa_bytes x, y;
  oa_bytes_init(&x);
  oa_bytes_init(&y);
  CHECK_OK(oa_otlp_encode_traces(got, &x, err), err);
  CHECK_OK(oa_otlp_encode_traces(&want, &y, err), err);
  CHECK(x.size == y.size && memcmp(x.data, y.data, (size_t)x.size) == 0);
  oa_bytes_reset(&x);
  oa_bytes_reset(&y);
  oa_batch_reset(&want);
}

/* decode A, recycle, decode B: B is a fresh decoder's B, whatever the
 * order of sizes; the same request twice reuses the recycled memory. */
OA_TEST(recycled_batches_equal_fresh_decodes) {
  oa_error e_, *err = &e_;
  oa_bytes big, small, mid, mid2;
  oa_bytes_init(&big);
  oa_bytes_init(&small);
  oa_bytes_init(&mid);
  oa_bytes_init(&mid2);
  CHECK_OK(ot_gen_request(4000, 3, &big, err), err);
  CHECK_OK(ot_gen_request(12, 4, &small, err), err);
  CHECK_OK(ot_gen_request(700, 5, &mid, err), err);
  CHECK_OK(ot_gen_request(650, 6, &mid2, err), err);
  const oa_bytes *order[] = {&big, &small, &big, &mid, &mid2, &mid,
                             &mid, &small, &big, &big, &mid2};
  const int64_t spans[] = {4000, 12, 4000, 700,  650, 700,
                           700,  12, 4000, 4000, 650};
  oa_otlp_decoder *dec;
  CHECK_OK(oa_otlp_decoder_new(&dec, NULL, err), err);
  oa_batch b;
  oa_batch_init(&b);
  int64_t big_held = 0;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    const oa_bytes *in = order[i];
    oa_otlp_result res;
    CHECK_OK(oa_otlp_decoder_decode(dec, in->data, in->size, &b, &res, err),
             err);
    CHECK_EQ_INT(res.rejected_spans, 0);
    check_fresh(in, &b, spans[i]);
    int64_t h = batch_ptrs(&b, &g_b);
    if (in == &big && h > big_held) big_held = h;
    if (in == &small) {
      /* recycled buffers of the 4,000-span batch are not kept for it: a
       * few KB per span at most */
      CHECK(h < 256 * 1024);
      CHECK(h * 8 < big_held);
    }
    if (i > 0 && order[i - 1] == in) {
      /* the same request after a recycle: most of the memory is the
       * previous batch's (value buffers; bitmaps and offsets that
       * finish rewrites are new) */
      int reused = 0;
      for (int k = 0; k < g_b.n; k++)
        reused += seen(&g_a, g_b.p[k]);
      CHECK(reused * 2 > g_b.n);
    }
    batch_ptrs(&b, &g_a);
    oa_otlp_decoder_recycle(dec, &b);
    CHECK_EQ_INT(b.n_columns, 0);
    CHECK_EQ_INT(b.length, 0);
  }
  CHECK(big_held > 1024 * 1024);
  oa_otlp_decoder_free(dec);
  oa_bytes_reset(&big);
  oa_bytes_reset(&small);
  oa_bytes_reset(&mid);
  oa_bytes_reset(&mid2);
}

/* A batch whose buffers are also referenced elsewhere (a copy, a slice)
 * can be recycled: those buffers stay with their other owners untouched. */
OA_TEST(recycling_shared_batch_leaves_other_references_intact) {
  oa_error e_, *err = &e_;
  oa_bytes a_in, b_in;
  oa_bytes_init(&a_in);
  oa_bytes_init(&b_in);
  CHECK_OK(ot_gen_request(900, 11, &a_in, err), err);
  CHECK_OK(ot_gen_request(900, 12, &b_in, err), err);
  oa_otlp_decoder *dec;
  CHECK_OK(oa_otlp_decoder_new(&dec, NULL, err), err);
  oa_batch a, copy, slice, b;
  oa_batch_init(&a);
  oa_batch_init(&copy);
  oa_batch_init(&slice);
  oa_batch_init(&b);
  for (int round = 0; round < 3; round++) {
    CHECK_OK(oa_otlp_decoder_decode(dec, a_in.data, a_in.size, &a, NULL, err),
             err);
    CHECK_OK(oa_batch_copy(&copy, &a, err), err);
    CHECK_OK(oa_batch_slice(&slice, &a, 100, 50, err), err);
    batch_ptrs(&a, &g_a);
    oa_otlp_decoder_recycle(dec, &a);
    /* decoding other data (twice, recycling in between) must not write
     * into the buffers copy and slice still hold */
    CHECK_OK(oa_otlp_decoder_decode(dec, b_in.data, b_in.size, &b, NULL, err),
             err);
    batch_ptrs(&b, &g_b);
    for (int k = 0; k < g_b.n; k++)
      CHECK(!seen(&g_a, g_b.p[k]));
    CHECK_OK(oa_otlp_decoder_decode(dec, b_in.data, b_in.size, &b, NULL, err),
             err);
    check_fresh(&b_in, &b, 900);
    check_fresh(&a_in, &copy, 900);
    oa_batch want, want_slice;
    oa_batch_init(&want);
    oa_batch_init(&want_slice);
    CHECK_OK(
        oa_otlp_decode_traces(a_in.data, a_in.size, NULL, &want, NULL, err),
        err);
    CHECK_OK(oa_batch_slice(&want_slice, &want, 100, 50, err), err);
    CHECK(oa_batch_equals(&slice, &want_slice, err));
    oa_batch_reset(&want);
    oa_batch_reset(&want_slice);
    /* the copy's buffers become recyclable once the copy is the only
     * owner: hand it back too (another decoder's batch is fine) */
    oa_batch_reset(&slice);
    oa_otlp_decoder_recycle(dec, &copy);
    oa_otlp_decoder_recycle(dec, &b);
  }
  oa_otlp_decoder_free(dec);
  oa_bytes_reset(&a_in);
  oa_bytes_reset(&b_in);
}

/* Any batch may be handed back: empty, of another schema, NULL; a
 * decoder freed with spare buffers pending releases them (ASan checks the
 * leaks). */
OA_TEST(recycle_accepts_any_batch) {
  oa_error e_, *err = &e_;
  oa_otlp_decoder *dec;
  CHECK_OK(oa_otlp_decoder_new(&dec, NULL, err), err);
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_decoder_recycle(dec, &b);
  oa_otlp_decoder_recycle(dec, NULL);
  CHECK_EQ_INT(b.n_columns, 0);

  int64_batch(&b, 100); /* another schema */
  oa_otlp_decoder_recycle(dec, &b);
  CHECK_EQ_INT(b.n_columns, 0);

  /* a span batch recycled into a decoder that then decodes nothing (an
   * invalid request) and is freed with the spare buffers */
  oa_bytes in;
  oa_bytes_init(&in);
  CHECK_OK(ot_gen_request(300, 21, &in, err), err);
  oa_otlp_decoder *other;
  CHECK_OK(oa_otlp_decoder_new(&other, NULL, err), err);
  CHECK_OK(oa_otlp_decoder_decode(other, in.data, in.size, &b, NULL, err), err);
  oa_otlp_decoder_free(other);
  /* decoding into a batch recycles what it held */
  CHECK_OK(oa_otlp_decoder_decode(dec, in.data, in.size, &b, NULL, err), err);
  check_fresh(&in, &b, 300);
  oa_otlp_decoder_recycle(dec, &b);
  CHECK_FAILS(oa_otlp_decoder_decode(dec, in.data, in.size - 3, &b, NULL, err),
              EINVAL, err, "past the end");
  CHECK_EQ_INT(b.n_columns, 0);
  CHECK_OK(oa_otlp_decoder_decode(dec, in.data, in.size, &b, NULL, err), err);
  check_fresh(&in, &b, 300);
  oa_otlp_decoder_recycle(dec, &b);
  oa_otlp_decoder_free(dec);
  oa_bytes_reset(&in);
}

/* protobuf writing by hand (independent of the encoder) */
static void o_varint(oa_bytes *o, uint64_t v) {
  uint8_t t[10];
  int n = 0;
  while (v >= 0x80) {
    t[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  t[n++] = (uint8_t)v;
  oa_bytes_append(o, t, n);
}

static void o_len(oa_bytes *o, uint32_t field, const void *d, size_t n) {
  o_varint(o, (uint64_t)field << 3 | 2);
  o_varint(o, n);
  oa_bytes_append(o, d, (int64_t)n);
}

static void o_str(oa_bytes *o, uint32_t field, const char *s) {
  o_len(o, field, s, strlen(s));
}

/* A request of n spans named by i % DISTINCT, with attribute key i %
 * DISTINCT: the dictionaries outgrow their first hash table, and values
 * come back after more than the lookup cache holds. */
#define DISTINCT 1500
static void distinct_request(int n, oa_bytes *req) {
  oa_bytes ss, rs;
  oa_bytes_init(&ss);
  oa_bytes_init(&rs);
  oa_bytes sp, kv, any;
  oa_bytes_init(&sp);
  oa_bytes_init(&kv);
  oa_bytes_init(&any);
  for (int i = 0; i < n; i++) {
    sp.size = kv.size = any.size = 0;
    uint8_t tid[16] = {1}, sid[8] = {2};
    memcpy(tid + 8, &i, sizeof i);
    memcpy(sid + 4, &i, sizeof i);
    char name[48], key[48];
    snprintf(name, sizeof name, "GET /api/v1/resource%d", i % DISTINCT);
    snprintf(key, sizeof key, "app.key.%d", i % DISTINCT);
    o_len(&sp, 1, tid, 16);
    o_len(&sp, 2, sid, 8);
    o_str(&sp, 5, name);
    o_str(&any, 1, "v");
    o_str(&kv, 1, key);
    o_len(&kv, 2, any.data, (size_t)any.size);
    o_len(&sp, 9, kv.data, (size_t)kv.size);
    o_len(&ss, 2, sp.data, (size_t)sp.size);
  }
  oa_bytes_reset(&sp);
  oa_bytes_reset(&kv);
  oa_bytes_reset(&any);
  o_len(&rs, 2, ss.data, (size_t)ss.size);
  req->size = 0;
  o_len(req, 1, rs.data, (size_t)rs.size);
  oa_bytes_reset(&ss);
  oa_bytes_reset(&rs);
}

/* Over a thousand distinct names and keys per batch, each twice, decoded
 * repeatedly with recycling: every value is in its dictionary once, every
 * row points at its own value. */
OA_TEST(many_distinct_dictionary_values) {
  oa_error e_, *err = &e_;
  oa_bytes req;
  oa_bytes_init(&req);
  oa_otlp_decoder *dec;
  CHECK_OK(oa_otlp_decoder_new(&dec, NULL, err), err);
  oa_batch b;
  oa_batch_init(&b);
  const int sizes[] = {3000, 700, 3000};
  for (int round = 0; round < 3; round++) {
    int n = sizes[round];
    distinct_request(n, &req);
    oa_otlp_result res;
    CHECK_OK(oa_otlp_decoder_decode(dec, req.data, req.size, &b, &res, err),
             err);
    CHECK_EQ_INT(res.rejected_spans, 0);
    CHECK_EQ_INT(b.length, n);
    const oa_field *nf = &b.schema->fields[OA_SPAN_NAME];
    const oa_array *na = &b.columns[OA_SPAN_NAME];
    int64_t distinct = n < DISTINCT ? n : DISTINCT;
    CHECK(na->dictionary && na->dictionary->length == distinct);
    const oa_field *af = &b.schema->fields[OA_SPAN_ATTRIBUTES];
    const oa_array *keys =
        &b.columns[OA_SPAN_ATTRIBUTES].children[0].children[0];
    CHECK(keys->dictionary && keys->dictionary->length == distinct);
    oa_field vf = *nf;
    vf.dict.encoded = false;
    const oa_field *kf = &af->children[0].children[0];
    oa_field kvf = *kf;
    kvf.dict.encoded = false;
    for (int i = 0; i < n; i++) {
      char name[48], key[48];
      snprintf(name, sizeof name, "GET /api/v1/resource%d", i % DISTINCT);
      snprintf(key, sizeof key, "app.key.%d", i % DISTINCT);
      int64_t len = 0;
      const uint8_t *v = oa_array_get_bytes(
          &vf, na->dictionary, oa_array_get_dict_index(nf, na, i), &len);
      CHECK(len == (int64_t)strlen(name) && memcmp(v, name, (size_t)len) == 0);
      v = oa_array_get_bytes(&kvf, keys->dictionary,
                             oa_array_get_dict_index(kf, keys, i), &len);
      CHECK(len == (int64_t)strlen(key) && memcmp(v, key, (size_t)len) == 0);
    }
    check_fresh(&req, &b, n);
    oa_otlp_decoder_recycle(dec, &b);
  }
  oa_otlp_decoder_free(dec);
  oa_bytes_reset(&req);
}

OA_TEST_MAIN(OA_T(recycled_batches_equal_fresh_decodes),
             OA_T(recycling_shared_batch_leaves_other_references_intact),
             OA_T(recycle_accepts_any_batch),
             OA_T(many_distinct_dictionary_values))
