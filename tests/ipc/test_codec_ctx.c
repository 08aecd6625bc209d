/* Reused codec contexts: the same frames as one-shot compression, many
 * buffers through one context, recovery after a corrupt frame, and writer /
 * reader round trips of several compressed batches (one context each). */
#include "ipc/ipc_internal.h"
#include "ipc_test_util.h"

static const oa_compression kCodecs[] = {OA_COMPRESSION_LZ4_FRAME,
                                         OA_COMPRESSION_ZSTD};

/* Buffer k of a test series: repetitive text, a counter, or noise, of sizes
 * from 1 byte to 200 KB (a context sized for a big buffer then serves small
 * ones, and the reverse). */
static int64_t make_buffer(int k, uint8_t *out) {
  static const int64_t sizes[] = {1, 7, 64, 4096, 200000, 33, 100000, 8};
  int64_t n = sizes[k % 8];
  for (int64_t i = 0; i < n; i++) {
    switch (k % 3) {
    case 0:
      out[i] = (uint8_t) "span.name=GET /api/v1/items "[i % 28];
      break;
    case 1:
      out[i] = (uint8_t)(i / 16 + k);
      break;
    default:
      out[i] = (uint8_t)(tu_rand() >> 24);
      break;
    }
  }
  return n;
}

OA_TEST(same_frames_and_round_trip) {
  oa_error err_, *err = &err_;
  uint8_t *data = malloc(200000);
  CHECK(data != NULL);
  for (size_t c = 0; c < sizeof kCodecs / sizeof kCodecs[0]; c++) {
    oa_ipc_codec_ctx enc, dec;
    oa_ipc_codec_ctx_init(&enc);
    oa_ipc_codec_ctx_init(&dec);
    for (int level = 0; level <= 3; level += 3) {
      for (int k = 0; k < 24; k++) {
        int64_t n = make_buffer(k, data);
        oa_bytes with, without;
        oa_bytes_init(&with);
        oa_bytes_init(&without);
        CHECK_OK(oa_ipc_compress_buffer_ctx(&enc, kCodecs[c], level, true, data,
                                            n, &with, err),
                 err);
        CHECK_OK(oa_ipc_compress_buffer(kCodecs[c], level, true, data, n,
                                        &without, err),
                 err);
        /* a reused context writes exactly the one-shot frame */
        CHECK_EQ_INT(with.size, without.size);
        CHECK(with.size == without.size &&
              memcmp(with.data, without.data, (size_t)with.size) == 0);
        oa_buffer src = {with.data, with.size, NULL}, dst;
        int64_t budget = 1 << 20;
        CHECK_OK(oa_ipc_decompress_buffer_ctx(&dec, kCodecs[c], &src, &budget,
                                              1 << 20, &dst, err),
                 err);
        CHECK_EQ_INT(dst.size, n);
        CHECK(dst.size == n && memcmp(dst.data, data, (size_t)n) == 0);
        oa_region_release(dst.region);
        oa_bytes_reset(&with);
        oa_bytes_reset(&without);
      }
    }
    oa_ipc_codec_ctx_reset(&enc);
    oa_ipc_codec_ctx_reset(&dec);
    /* reset leaves an empty context that can be reset again */
    CHECK(!enc.zstd_c && !enc.lz4_c && !dec.zstd_d && !dec.lz4_d);
    oa_ipc_codec_ctx_reset(&dec);
  }
  free(data);
}

OA_TEST(context_recovers_after_bad_frames) {
  oa_error err_, *err = &err_;
  uint8_t data[4096];
  for (int i = 0; i < 4096; i++)
    data[i] = (uint8_t)(i % 13);
  for (size_t c = 0; c < sizeof kCodecs / sizeof kCodecs[0]; c++) {
    oa_ipc_codec_ctx ctx;
    oa_ipc_codec_ctx_init(&ctx);
    oa_bytes good;
    oa_bytes_init(&good);
    CHECK_OK(oa_ipc_compress_buffer_ctx(&ctx, kCodecs[c], 0, false, data, 4096,
                                        &good, err),
             err);
    int64_t budget = 1 << 20;
    oa_buffer dst;
    /* truncated: the decoder stops mid-frame */
    oa_buffer cut = {good.data, good.size - 3, NULL};
    CHECK_FAILS(oa_ipc_decompress_buffer_ctx(&ctx, kCodecs[c], &cut, &budget,
                                             1 << 20, &dst, err),
                EINVAL, err,
                kCodecs[c] == OA_COMPRESSION_ZSTD ? "zstd decompression failed"
                                                  : "lz4 frame is truncated");
    /* corrupt frame magic */
    uint8_t *bad = malloc((size_t)good.size);
    memcpy(bad, good.data, (size_t)good.size);
    bad[8] ^= 0xff;
    oa_buffer corrupt = {bad, good.size, NULL};
    CHECK_FAILS(oa_ipc_decompress_buffer_ctx(&ctx, kCodecs[c], &corrupt,
                                             &budget, 1 << 20, &dst, err),
                EINVAL, err, "decompression failed");
    /* the same context then decodes a good frame */
    oa_buffer src = {good.data, good.size, NULL};
    CHECK_OK(oa_ipc_decompress_buffer_ctx(&ctx, kCodecs[c], &src, &budget,
                                          1 << 20, &dst, err),
             err);
    CHECK(dst.size == 4096 && memcmp(dst.data, data, 4096) == 0);
    CHECK_EQ_INT(budget, (1 << 20) - 4096);
    oa_region_release(dst.region);
    /* and without a context (temporary one) */
    CHECK_OK(oa_ipc_decompress_buffer_ctx(NULL, kCodecs[c], &src, &budget,
                                          1 << 20, &dst, err),
             err);
    CHECK(dst.size == 4096 && memcmp(dst.data, data, 4096) == 0);
    oa_region_release(dst.region);
    free(bad);
    oa_bytes_reset(&good);
    oa_ipc_codec_ctx_reset(&ctx);
  }
}

OA_TEST(writer_reader_many_batches) {
  oa_error err_, *err = &err_;
  oa_schema *s = tu_all_types_schema();
  enum { NB = 6 };
  oa_batch in[NB];
  for (int i = 0; i < NB; i++) {
    oa_batch_init(&in[i]);
    CHECK_OK(tu_random_batch(s, 50 + 40 * i, &in[i], err), err);
  }
  for (size_t c = 0; c < sizeof kCodecs / sizeof kCodecs[0]; c++) {
    /* stream format: the random batches replace dictionaries, which the
     * file format refuses; pieces of one push or random sizes */
    for (int piece = 0; piece >= -1; piece--) {
      oa_ipc_write_options wo;
      oa_ipc_write_options_init(&wo);
      wo.compression = kCodecs[c];
      oa_bytes bytes;
      oa_bytes_init(&bytes);
      CHECK_OK(tu_write(OA_IPC_STREAM, s, &wo, in, NB, &bytes, err), err);
      oa_batch *out = NULL;
      int64_t n = 0;
      CHECK_OK(
          tu_read_stream(bytes.data, bytes.size, piece, NULL, &out, &n, err),
          err);
      CHECK_EQ_INT(n, NB);
      for (int64_t i = 0; i < n && i < NB; i++)
        CHECK(oa_batch_equals(&in[i], &out[i], err));
      tu_free_batches(out, n);
      oa_bytes_reset(&bytes);
    }
  }
  for (int i = 0; i < NB; i++)
    oa_batch_reset(&in[i]);
  oa_schema_release(s);
}

OA_TEST_MAIN(OA_T(same_frames_and_round_trip),
             OA_T(context_recovers_after_bad_frames),
             OA_T(writer_reader_many_batches))
