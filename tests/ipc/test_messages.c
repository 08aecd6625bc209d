/* Encoded messages as values (src/ipc/messages.c): bounded encoding into
 * row slices, messages kept past the emit callback, and messages read back
 * out of framed bytes. Results are checked with the stream reader and the
 * decoder, independent paths. */
#include <stdlib.h>

#include "ipc/ipc_test_util.h"

/* schema + the batch's messages (bounded), kept */
static void encode_kept(oa_schema *s, const oa_batch *b, int64_t max_body,
                        const oa_ipc_write_options *w, tu_kept *k) {
  oa_error err_, *err = &err_;
  oa_ipc_encoder *enc;
  CHECK_OK(oa_ipc_encoder_new(&enc, s, w, err), err);
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  CHECK_OK(oa_ipc_encoder_schema(enc, &m, err), err);
  CHECK_OK(tu_keep(k, &m, err), err);
  oa_ipc_message_reset(&m);
  CHECK_OK(oa_ipc_encoder_batch_bounded(enc, b, max_body, tu_keep, k, err),
           err);
  /* the encoder (and its scratch) is gone: the kept messages must stand */
  oa_ipc_encoder_free(enc);
}

static void frame_all(const tu_kept *k, oa_bytes *out) {
  oa_error err_, *err = &err_;
  for (int64_t i = 0; i < k->n; i++)
    CHECK_OK(oa_ipc_message_frame(&k->v[i], out, err), err);
  uint8_t eos[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
  oa_bytes_append(out, eos, 8);
}

/* Rows of got[] concatenated equal want. */
static void check_concat(const oa_batch *got, int64_t n, const oa_batch *want) {
  oa_error err_, *err = &err_;
  int64_t off = 0;
  for (int64_t i = 0; i < n; i++) {
    oa_batch part;
    oa_batch_init(&part);
    CHECK(off + got[i].length <= want->length);
    if (off + got[i].length > want->length) return;
    CHECK_OK(oa_batch_slice(&part, want, off, got[i].length, err), err);
    CHECK(oa_batch_equals(&got[i], &part, err));
    oa_batch_reset(&part);
    off += got[i].length;
  }
  CHECK_EQ_INT(off, want->length);
}

/* Every record batch body is under the bound (or one row), there are
 * several, and the stream read back holds the batch's rows in order; with
 * compression too. No bound: one record batch. */
OA_TEST(test_bounded_split) {
  oa_error err_, *err = &err_;
  oa_schema *s = tu_all_types_schema();
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s, 3000, &b, err), err);
  for (int codec = 0; codec < 2; codec++) {
    oa_ipc_write_options w;
    oa_ipc_write_options_init(&w);
    w.compression = codec ? OA_COMPRESSION_ZSTD : OA_COMPRESSION_NONE;
    int64_t bounds[] = {0, 1 << 20, 60000, 20000};
    for (int bi = 0; bi < 4; bi++) {
      static tu_kept k;
      encode_kept(s, &b, bounds[bi], &w, &k);
      int64_t rbs = 0;
      for (int64_t i = 0; i < k.n; i++)
        if (k.v[i].type == OA_IPC_MSG_RECORD_BATCH) {
          rbs++;
          if (bounds[bi] > 0) CHECK(k.v[i].body_length <= bounds[bi]);
        }
      if (bounds[bi] == 0) CHECK_EQ_INT(rbs, 1);
      if (bounds[bi] == 20000) CHECK(rbs > 8);
      oa_bytes bytes;
      oa_bytes_init(&bytes);
      frame_all(&k, &bytes);
      oa_batch *got = NULL;
      int64_t n = 0;
      CHECK_OK(tu_read_stream(bytes.data, bytes.size, 0, NULL, &got, &n, err),
               err);
      CHECK_EQ_INT(n, rbs);
      check_concat(got, n, &b);
      for (int64_t i = 0; i < n; i++)
        oa_batch_reset(&got[i]);
      free(got);
      oa_bytes_reset(&bytes);
      tu_kept_reset(&k);
    }
  }
  oa_batch_reset(&b);
  oa_schema_release(s);
}

/* A borrowed segment (no region) is copied by share: changing the source
 * bytes afterwards does not change the kept message. Region segments are
 * shared, not copied. */
OA_TEST(test_share_copies_borrowed) {
  oa_error err_, *err = &err_;
  uint8_t loose[16];
  memset(loose, 'a', sizeof loose);
  oa_region *r = oa_region_alloc(8);
  CHECK(r != NULL);
  memset(r->data, 'r', 8);
  oa_buffer segs[2] = {{loose, 16, NULL}, {r->data, 8, r}};
  oa_ipc_message src;
  oa_ipc_message_init(&src);
  src.type = OA_IPC_MSG_RECORD_BATCH;
  oa_bytes_append(&src.metadata, "12345678", 8);
  src.segments = segs;
  src.n_segments = 2;
  src.body_length = 24;
  oa_ipc_message dst;
  oa_ipc_message_init(&dst);
  CHECK_OK(oa_ipc_message_share(&dst, &src, err), err);
  memset(loose, 'z', sizeof loose);
  CHECK_EQ_INT(dst.n_segments, 2);
  CHECK_EQ_INT(dst.body_length, 24);
  CHECK(dst.segments[0].data != loose && dst.segments[0].region != NULL);
  CHECK(memcmp(dst.segments[0].data, "aaaaaaaaaaaaaaaa", 16) == 0);
  CHECK(dst.segments[1].data == r->data && dst.segments[1].region == r);
  CHECK_EQ_INT(atomic_load(&r->refcount), 2);
  CHECK(memcmp(dst.metadata.data, "12345678", 8) == 0);
  oa_ipc_message_reset(&dst);
  CHECK_EQ_INT(atomic_load(&r->refcount), 1);
  oa_bytes_reset(&src.metadata);
  oa_region_release(r);
}

/* Framed bytes read back message by message equal what was framed, and
 * decode to the batch; the bodies point into the stream's region. */
OA_TEST(test_read_roundtrip) {
  oa_error err_, *err = &err_;
  oa_schema *s = tu_all_types_schema();
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s, 500, &b, err), err);
  static tu_kept k;
  oa_ipc_write_options w;
  oa_ipc_write_options_init(&w);
  w.compression = OA_COMPRESSION_LZ4_FRAME;
  encode_kept(s, &b, 0, &w, &k);
  oa_bytes bytes;
  oa_bytes_init(&bytes);
  frame_all(&k, &bytes);
  int64_t total = bytes.size;
  oa_buffer stream;
  CHECK_OK(oa_bytes_finish(&bytes, &stream), err);
  oa_ipc_decoder *dec;
  CHECK_OK(oa_ipc_decoder_new(&dec, NULL, err), err);
  int64_t pos = 0, i = 0;
  oa_batch got;
  oa_batch_init(&got);
  for (;; i++) {
    oa_ipc_message m;
    oa_ipc_message_init(&m);
    CHECK_OK(oa_ipc_message_read(&stream, &pos, 64, &m, err), err);
    if (m.type == OA_IPC_MSG_NONE) break;
    CHECK(i < k.n);
    if (i >= k.n) break;
    CHECK_EQ_INT(m.type, k.v[i].type);
    CHECK_EQ_INT(m.metadata.size, k.v[i].metadata.size);
    CHECK(memcmp(m.metadata.data, k.v[i].metadata.data,
                 (size_t)m.metadata.size) == 0);
    CHECK_EQ_INT(m.body_length, k.v[i].body_length);
    oa_buffer body = {0};
    if (m.n_segments) {
      body = m.segments[0];
      CHECK(body.region == stream.region);
      CHECK(body.data >= stream.data && body.data < stream.data + total);
    }
    oa_ipc_msg_type t;
    CHECK_OK(oa_ipc_decoder_decode(dec, m.metadata.data, m.metadata.size, &body,
                                   &t, &got, err),
             err);
    CHECK_EQ_INT(t, k.v[i].type);
    oa_ipc_message_reset(&m);
  }
  CHECK_EQ_INT(i, k.n);
  CHECK_EQ_INT(pos, total);
  CHECK(oa_batch_equals(&got, &b, err));
  /* at the end: still the end */
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  CHECK_OK(oa_ipc_message_read(&stream, &pos, 64, &m, err), err);
  CHECK_EQ_INT(m.type, OA_IPC_MSG_NONE);
  oa_batch_reset(&got);
  oa_ipc_decoder_free(dec);
  oa_region_release(stream.region);
  tu_kept_reset(&k);
  oa_batch_reset(&b);
  oa_schema_release(s);
}

/* Every truncation of a stream fails with EINVAL naming the offset, or
 * stops cleanly at a message boundary; damaged framing and flatbuffers
 * fail too, never past the bytes. */
OA_TEST(test_read_bad_input) {
  oa_error err_, *err = &err_;
  oa_schema *s = tu_all_types_schema();
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s, 50, &b, err), err);
  static tu_kept k;
  encode_kept(s, &b, 0, NULL, &k);
  oa_bytes bytes;
  oa_bytes_init(&bytes);
  frame_all(&k, &bytes);
  /* message boundaries */
  int64_t bounds[300], nb = 0, at = 0;
  for (int64_t i = 0; i < k.n; i++) {
    bounds[nb++] = at;
    at += 8 + k.v[i].metadata.size + k.v[i].body_length;
  }
  bounds[nb++] = at; /* the end-of-stream marker */
  for (int64_t cut = 0; cut < bytes.size; cut++) {
    uint8_t *copy = malloc((size_t)cut + 1); /* its own allocation: ASan */
    memcpy(copy, bytes.data, (size_t)cut);
    oa_buffer sb = {copy, cut, NULL};
    int64_t pos = 0;
    int rc = 0;
    oa_ipc_message m;
    oa_ipc_message_init(&m);
    for (;;) {
      rc = oa_ipc_message_read(&sb, &pos, 64, &m, err);
      if (rc || m.type == OA_IPC_MSG_NONE) break;
    }
    bool boundary = false;
    for (int64_t j = 0; j < nb; j++)
      boundary |= bounds[j] == cut;
    if (boundary) {
      CHECK_EQ_INT(rc, 0);
      CHECK_EQ_INT(pos, cut);
    } else {
      CHECK_EQ_INT(rc, EINVAL);
      CHECK(strstr(err->message, "ipc message at") != NULL);
    }
    oa_ipc_message_reset(&m);
    free(copy);
  }
  /* a negative metadata length; a damaged flatbuffer */
  oa_bytes bad;
  oa_bytes_init(&bad);
  oa_bytes_append(&bad, bytes.data, bytes.size);
  bad.data[4] = 0xF0, bad.data[7] = 0xFF;
  oa_buffer sb = {bad.data, bad.size, NULL};
  int64_t pos = 0;
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  CHECK_FAILS(oa_ipc_message_read(&sb, &pos, 64, &m, err), EINVAL, err,
              "negative");
  CHECK_EQ_INT(pos, 0);
  bad.size = 0;
  oa_bytes_append(&bad, bytes.data, bytes.size);
  memset(bad.data + 8, 0xAB, 8); /* the flatbuffer's root offset */
  CHECK(oa_ipc_message_read(&sb, &pos, 64, &m, err) != 0);
  CHECK(strstr(err->message, "ipc message at 0") != NULL);
  CHECK_EQ_INT(m.type, OA_IPC_MSG_NONE);
  oa_bytes_reset(&bad);
  oa_bytes_reset(&bytes);
  tu_kept_reset(&k);
  oa_batch_reset(&b);
  oa_schema_release(s);
}

OA_TEST_MAIN(OA_T(test_bounded_split), OA_T(test_share_copies_borrowed),
             OA_T(test_read_roundtrip), OA_T(test_read_bad_input))
