/* A reused protobuf decoder reserves each batch's buffers from the previous
 * batch's sizes scaled by the input sizes: the batches are the same as a
 * fresh decoder's, and a small request after a large one does not hold the
 * large one's memory. */
#include <malloc.h>

#include "otlp_test_util.h"
#include "otlparrow/otlp.h"
#include "test.h"

typedef struct seen {
  const void *p[4096];
  int n;
} seen;

/* Bytes allocated for the distinct buffers of a (capacity, not size). */
static int64_t held(const oa_array *a, seen *s) {
  int64_t total = 0;
  for (int i = 0; i < a->n_buffers; i++) {
    const void *d = a->buffers[i].data;
    bool dup = d == NULL;
    for (int k = 0; k < s->n && !dup; k++)
      dup = s->p[k] == d;
    if (dup || s->n == 4096) continue;
    s->p[s->n++] = d;
    total += (int64_t)malloc_usable_size((void *)d);
  }
  for (int64_t k = 0; k < a->n_children; k++)
    total += held(&a->children[k], s);
  if (a->dictionary) total += held(a->dictionary, s);
  return total;
}

static int64_t batch_held(const oa_batch *b) {
  static seen s; /* (large: not on the stack) */
  s.n = 0;
  int64_t total = 0;
  for (int64_t c = 0; c < b->n_columns; c++)
    total += held(&b->columns[c], &s);
  return total;
}

OA_TEST(reused_decoder_matches_fresh_and_scales_reservations) {
  oa_error e_, *err = &e_;
  oa_bytes big, small, mid;
  oa_bytes_init(&big);
  oa_bytes_init(&small);
  oa_bytes_init(&mid);
  CHECK_OK(ot_gen_request(4000, 3, &big, err), err);
  CHECK_OK(ot_gen_request(12, 4, &small, err), err);
  CHECK_OK(ot_gen_request(700, 5, &mid, err), err);
  const oa_bytes *order[] = {&big, &small, &big, &mid, &small, &big};
  oa_otlp_decoder *dec;
  CHECK_OK(oa_otlp_decoder_new(&dec, NULL, err), err);
  int64_t big_held = 0;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    const oa_bytes *in = order[i];
    oa_batch got, want;
    oa_batch_init(&got);
    oa_batch_init(&want);
    oa_otlp_result res;
    CHECK_OK(oa_otlp_decoder_decode(dec, in->data, in->size, &got, &res, err),
             err);
    CHECK_EQ_INT(res.rejected_spans, 0);
    CHECK_OK(oa_otlp_decode_traces(in->data, in->size, NULL, &want, NULL, err),
             err);
    CHECK(oa_batch_equals(&got, &want, err));
    int64_t h = batch_held(&got);
    if (in == &big) {
      CHECK_EQ_INT(got.length, 4000);
      if (h > big_held) big_held = h;
    } else if (in == &small) {
      CHECK_EQ_INT(got.length, 12);
      /* before: the small batch kept the buffers reserved for the large one
       * (over 1 MB); now a few KB per span at most */
      CHECK(h < 256 * 1024);
      CHECK(h * 8 < big_held);
    }
    oa_batch_reset(&got);
    oa_batch_reset(&want);
  }
  CHECK(big_held > 1024 * 1024);
  oa_otlp_decoder_free(dec);
  oa_bytes_reset(&big);
  oa_bytes_reset(&small);
  oa_bytes_reset(&mid);
}

/* A rejected request keeps the reservation for the next one and leaves
 * nothing behind. */
OA_TEST(failed_request_between_good_ones) {
  oa_error e_, *err = &e_;
  oa_bytes req;
  oa_bytes_init(&req);
  CHECK_OK(ot_gen_request(300, 9, &req, err), err);
  oa_otlp_decoder *dec;
  CHECK_OK(oa_otlp_decoder_new(&dec, NULL, err), err);
  oa_batch a, b;
  oa_batch_init(&a);
  oa_batch_init(&b);
  CHECK_OK(oa_otlp_decoder_decode(dec, req.data, req.size, &a, NULL, err), err);
  /* cut inside the last span: malformed wire data rejects the request */
  CHECK_FAILS(
      oa_otlp_decoder_decode(dec, req.data, req.size - 3, &b, NULL, err),
      EINVAL, err, "past the end");
  CHECK_OK(oa_otlp_decoder_decode(dec, req.data, req.size, &b, NULL, err), err);
  CHECK(oa_batch_equals(&a, &b, err));
  CHECK_EQ_INT(b.length, 300);
  oa_batch_reset(&a);
  oa_batch_reset(&b);
  oa_otlp_decoder_free(dec);
  oa_bytes_reset(&req);
}

OA_TEST_MAIN(OA_T(reused_decoder_matches_fresh_and_scales_reservations),
             OA_T(failed_request_between_good_ones))
