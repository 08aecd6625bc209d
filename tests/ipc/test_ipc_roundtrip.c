/* Round trips of every type through the stream and file formats, each
 * compression, sliced inputs, zero-copy paths and the compression codec. */
#include <time.h>
#include <unistd.h>

#include "ipc/ipc_internal.h"
#include "ipc_test_util.h"

static const oa_compression kCodecs[] = {
    OA_COMPRESSION_NONE, OA_COMPRESSION_LZ4_FRAME, OA_COMPRESSION_ZSTD};

OA_TEST(test_options_and_names) {
  oa_ipc_read_options r;
  oa_ipc_read_options_init(&r);
  CHECK_EQ_INT(r.max_metadata_size, 64ll << 20);
  CHECK_EQ_INT(r.max_body_size, 4ll << 30);
  CHECK_EQ_INT(r.max_decompressed_size, 4ll << 30);
  CHECK_EQ_INT(r.max_depth, 64);
  CHECK_EQ_INT(r.max_dictionary_size, 1ll << 31);
  CHECK(r.validate && r.check_utf8);
  oa_ipc_write_options w;
  oa_ipc_write_options_init(&w);
  CHECK_EQ_INT(w.compression, OA_COMPRESSION_NONE);
  oa_compression c;
  oa_error err_, *err = &err_;
  CHECK_OK(oa_compression_parse("zstd", &c, err), err);
  CHECK_EQ_INT(c, OA_COMPRESSION_ZSTD);
  CHECK_OK(oa_compression_parse("lz4_frame", &c, err), err);
  CHECK_EQ_INT(c, OA_COMPRESSION_LZ4_FRAME);
  CHECK_OK(oa_compression_parse("lz4", &c, err), err);
  CHECK_EQ_INT(c, OA_COMPRESSION_LZ4_FRAME);
  CHECK_OK(oa_compression_parse("none", &c, err), err);
  CHECK_EQ_INT(c, OA_COMPRESSION_NONE);
  CHECK_FAILS(oa_compression_parse("gzip", &c, err), EINVAL, err, "gzip");
  CHECK_EQ_STR(oa_compression_name(OA_COMPRESSION_ZSTD), "zstd");
  CHECK_EQ_STR(oa_compression_name(OA_COMPRESSION_LZ4_FRAME), "lz4");
  CHECK_EQ_STR(oa_compression_name(OA_COMPRESSION_NONE), "none");
  CHECK_EQ_INT(oa_ipc_detect_format((const uint8_t *)"ARROW1\0\0", 8),
               OA_IPC_FILE);
  CHECK_EQ_INT(oa_ipc_detect_format((const uint8_t *)"\xff\xff\xff\xff", 4),
               OA_IPC_STREAM);
}

OA_TEST(test_compress_buffer) {
  oa_error err_, *err = &err_;
  uint8_t data[4096];
  for (int i = 0; i < 4096; i++)
    data[i] = (uint8_t)(i % 7);
  for (int k = 1; k < 3; k++) {
    oa_bytes out;
    oa_bytes_init(&out);
    CHECK_OK(oa_ipc_compress_buffer(kCodecs[k], 0, true, data, 4096, &out, err),
             err);
    CHECK(out.size > 8 && out.size < 4096);
    CHECK_EQ_INT(oa_ipc_load_i64(out.data), 4096);
    oa_buffer src = {out.data, out.size, NULL}, dst;
    int64_t budget = 1 << 20;
    CHECK_OK(
        oa_ipc_decompress_buffer(kCodecs[k], &src, &budget, 1 << 20, &dst, err),
        err);
    CHECK_EQ_INT(dst.size, 4096);
    CHECK(dst.size == 4096 && memcmp(dst.data, data, 4096) == 0);
    CHECK_EQ_INT(budget, (1 << 20) - 4096);
    oa_region_release(dst.region);
    /* budget smaller than the prefix: E2BIG before any allocation */
    budget = 100;
    CHECK_FAILS(
        oa_ipc_decompress_buffer(kCodecs[k], &src, &budget, 100, &dst, err),
        E2BIG, err, "decompressed size 4096 exceeds the limit 100");
    /* prefix too small for the data */
    oa_ipc_store_i64(out.data, 4000);
    budget = 1 << 20;
    CHECK_FAILS(
        oa_ipc_decompress_buffer(kCodecs[k], &src, &budget, 1 << 20, &dst, err),
        EINVAL, err, "");
    /* prefix too large for the data */
    oa_ipc_store_i64(out.data, 5000);
    CHECK_FAILS(
        oa_ipc_decompress_buffer(kCodecs[k], &src, &budget, 1 << 20, &dst, err),
        EINVAL, err, "");
    /* shorter than the prefix */
    src.size = 5;
    CHECK_FAILS(
        oa_ipc_decompress_buffer(kCodecs[k], &src, &budget, 1 << 20, &dst, err),
        EINVAL, err, "shorter than its 8-byte length prefix");
    oa_bytes_reset(&out);
    /* incompressible: -1 and the raw bytes, read back as a slice */
    uint8_t noise[64];
    for (int i = 0; i < 64; i++)
      noise[i] = (uint8_t)tu_rand();
    CHECK_OK(oa_ipc_compress_buffer(kCodecs[k], 0, true, noise, 64, &out, err),
             err);
    CHECK_EQ_INT(out.size, 72);
    CHECK_EQ_INT(oa_ipc_load_i64(out.data), -1);
    oa_buffer raw = {out.data, out.size, NULL};
    CHECK_OK(
        oa_ipc_decompress_buffer(kCodecs[k], &raw, &budget, 1 << 20, &dst, err),
        err);
    CHECK(dst.data == out.data + 8 && dst.size == 64);
    /* empty buffers: nothing written; read as empty, as is a 0 prefix */
    int64_t before = out.size;
    CHECK_OK(oa_ipc_compress_buffer(kCodecs[k], 0, true, noise, 0, &out, err),
             err);
    CHECK_EQ_INT(out.size, before);
    uint8_t zero[8] = {0};
    oa_buffer z = {zero, 8, NULL}, e = {NULL, 0, NULL};
    CHECK_OK(
        oa_ipc_decompress_buffer(kCodecs[k], &z, &budget, 1 << 20, &dst, err),
        err);
    CHECK_EQ_INT(dst.size, 0);
    CHECK_OK(
        oa_ipc_decompress_buffer(kCodecs[k], &e, &budget, 1 << 20, &dst, err),
        err);
    CHECK_EQ_INT(dst.size, 0);
    oa_bytes_reset(&out);
  }
}

OA_TEST(test_lz4_multiple_frames) {
  /* one buffer holding two LZ4 frames decodes to their concatenation */
  oa_error err_, *err = &err_;
  uint8_t a[300], b[200];
  memset(a, 'a', sizeof a);
  memset(b, 'b', sizeof b);
  oa_bytes f1, f2;
  oa_bytes_init(&f1);
  oa_bytes_init(&f2);
  CHECK_OK(oa_ipc_compress_buffer(OA_COMPRESSION_LZ4_FRAME, 0, false, a, 300,
                                  &f1, err),
           err);
  CHECK_OK(oa_ipc_compress_buffer(OA_COMPRESSION_LZ4_FRAME, 0, false, b, 200,
                                  &f2, err),
           err);
  oa_ipc_store_i64(f1.data, 500);
  oa_bytes_append(&f1, f2.data + 8, f2.size - 8);
  oa_buffer src = {f1.data, f1.size, NULL}, dst;
  int64_t budget = 1000;
  CHECK_OK(oa_ipc_decompress_buffer(OA_COMPRESSION_LZ4_FRAME, &src, &budget,
                                    1000, &dst, err),
           err);
  CHECK(dst.size == 500 && memcmp(dst.data, a, 300) == 0 &&
        memcmp(dst.data + 300, b, 200) == 0);
  oa_region_release(dst.region);
  oa_bytes_reset(&f1);
  oa_bytes_reset(&f2);
}

/* Writes the slices of `big` given by cuts, reads back with every reader
 * path, compares with the slices. */
static void roundtrip_slices(oa_schema *s, const oa_batch *big,
                             const int64_t *cuts, int n_cuts) {
  oa_error err_, *err = &err_;
  int64_t nb = n_cuts - 1;
  oa_batch *slices = calloc((size_t)nb, sizeof *slices);
  for (int64_t i = 0; i < nb; i++)
    CHECK_OK(
        oa_batch_slice(&slices[i], big, cuts[i], cuts[i + 1] - cuts[i], err),
        err);
  for (int k = 0; k < 3; k++) {
    for (int fmt = 0; fmt < 2; fmt++) {
      oa_ipc_write_options wo;
      oa_ipc_write_options_init(&wo);
      wo.compression = kCodecs[k];
      oa_bytes out;
      oa_bytes_init(&out);
      int rc = tu_write((oa_ipc_format)fmt, s, &wo, slices, nb, &out, err);
      CHECK_OK(rc, err);
      if (rc) continue;
      for (int piece = 0; piece < (fmt ? 1 : 3); piece++) {
        oa_batch *got = NULL;
        int64_t n_got = 0;
        if (fmt == OA_IPC_FILE)
          rc = tu_read_file(out.data, out.size, NULL, &got, &n_got, err);
        else
          rc = tu_read_stream(out.data, out.size,
                              piece == 0   ? 0
                              : piece == 1 ? 1
                                           : -1,
                              NULL, &got, &n_got, err);
        if (rc)
          fprintf(stderr, "codec %s fmt %d piece %d: %s\n",
                  oa_compression_name(kCodecs[k]), fmt, piece, err->message);
        CHECK_OK(rc, err);
        CHECK_EQ_INT(n_got, nb);
        for (int64_t i = 0; i < n_got && i < nb; i++) {
          bool eq = oa_batch_equals(&slices[i], &got[i], err);
          if (!eq)
            fprintf(stderr, "codec %s fmt %d batch %lld: %s\n",
                    oa_compression_name(kCodecs[k]), fmt, (long long)i,
                    err->message);
          CHECK(eq);
          CHECK_OK(oa_batch_validate(&got[i], true, err), err);
        }
        tu_free_batches(got, n_got);
      }
      oa_bytes_reset(&out);
    }
  }
  tu_free_batches(slices, nb);
}

OA_TEST(test_all_types_roundtrip) {
  oa_error err_, *err = &err_;
  oa_schema *s = tu_all_types_schema();
  oa_batch big;
  oa_batch_init(&big);
  int rc = tu_random_batch(s, 300, &big, err);
  CHECK_OK(rc, err);
  if (!rc) {
    /* whole batch, an empty one, one row, odd offsets (bitmaps re-aligned,
     * offsets rebased, children truncated) */
    int64_t cuts[] = {0, 300, 300, 301 - 1, 3, 4, 17, 150, 299};
    int64_t c2[] = {0, 0, 1, 3, 11, 150, 299, 300};
    roundtrip_slices(s, &big, cuts + 0, 2);
    roundtrip_slices(s, &big, c2, 8);
  }
  oa_batch_reset(&big);
  oa_schema_release(s);
}

OA_TEST(test_slice_writes_only_the_slice) {
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_schema_new(&s, err);
  tu_add(s, tf("s", OA_TYPE_STRING));
  oa_field l = tf("l", OA_TYPE_LIST);
  tchild(&l, tf("item", OA_TYPE_INT64));
  tu_add(s, l);
  oa_batch big, small;
  oa_batch_init(&big);
  oa_batch_init(&small);
  CHECK_OK(tu_random_batch(s, 10000, &big, err), err);
  CHECK_OK(oa_batch_slice(&small, &big, 5003, 10, err), err);
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(tu_write(OA_IPC_STREAM, s, NULL, &small, 1, &out, err), err);
  /* 10 short strings and at most 30 list items */
  CHECK(out.size < 1200);
  oa_batch *got = NULL;
  int64_t n = 0;
  CHECK_OK(tu_read_stream(out.data, out.size, 0, NULL, &got, &n, err), err);
  CHECK_EQ_INT(n, 1);
  if (n == 1) CHECK(oa_batch_equals(&small, &got[0], err));
  tu_free_batches(got, n);
  oa_bytes_reset(&out);
  oa_batch_reset(&big);
  oa_batch_reset(&small);
  oa_schema_release(s);
}

typedef struct collect {
  oa_ipc_message msgs[8];
  int n;
} collect;

static int collect_emit(void *ctx, const oa_ipc_message *m, oa_error *err) {
  collect *c = ctx;
  oa_ipc_message *d = &c->msgs[c->n++];
  oa_ipc_message_init(d);
  d->type = m->type;
  oa_bytes_append(&d->metadata, m->metadata.data, m->metadata.size);
  d->body_length = m->body_length;
  d->n_segments = d->cap_segments = m->n_segments;
  d->segments = calloc((size_t)m->n_segments + 1, sizeof *d->segments);
  for (int64_t i = 0; i < m->n_segments; i++) {
    d->segments[i] = m->segments[i];
    oa_region_retain(m->segments[i].region);
  }
  return 0;
}

OA_TEST(test_encoder_zero_copy_segments) {
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_schema_new(&s, err);
  oa_field f = tf("x", OA_TYPE_INT64);
  f.nullable = false;
  tu_add(s, f);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s, 1001, &b, err), err);
  oa_ipc_encoder *enc;
  CHECK_OK(oa_ipc_encoder_new(&enc, s, NULL, err), err);
  collect c = {.n = 0};
  CHECK_OK(oa_ipc_encoder_batch(enc, &b, collect_emit, &c, err), err);
  CHECK_EQ_INT(c.n, 1);
  oa_ipc_message *m = &c.msgs[0];
  CHECK_EQ_INT(m->type, OA_IPC_MSG_RECORD_BATCH);
  CHECK_EQ_INT(m->metadata.size % 8, 0);
  CHECK_EQ_INT(m->body_length, 8008);
  /* values by reference, then 0 bytes of padding (8008 is a multiple of 8) */
  CHECK(m->n_segments >= 1 &&
        m->segments[0].data == b.columns[0].buffers[1].data);
  /* framed, then decoded by the decoder */
  oa_bytes framed;
  oa_bytes_init(&framed);
  oa_ipc_message sm;
  oa_ipc_message_init(&sm);
  CHECK_OK(oa_ipc_encoder_schema(enc, &sm, err), err);
  oa_ipc_decoder *dec;
  CHECK_OK(oa_ipc_decoder_new(&dec, NULL, err), err);
  oa_ipc_msg_type type;
  oa_batch got;
  oa_batch_init(&got);
  CHECK_OK(oa_ipc_decoder_decode(dec, sm.metadata.data, sm.metadata.size, NULL,
                                 &type, &got, err),
           err);
  CHECK_EQ_INT(type, OA_IPC_MSG_SCHEMA);
  CHECK_OK(oa_ipc_message_frame(m, &framed, err), err);
  CHECK_EQ_INT(framed.size, 8 + m->metadata.size + 8008);
  CHECK_EQ_INT(oa_ipc_load_i32(framed.data), -1);
  CHECK_EQ_INT(oa_ipc_load_i32(framed.data + 4), m->metadata.size);
  oa_buffer body = {framed.data + 8 + m->metadata.size, 8008, NULL};
  CHECK_OK(oa_ipc_decoder_decode(dec, framed.data + 8, m->metadata.size, &body,
                                 &type, &got, err),
           err);
  CHECK_EQ_INT(type, OA_IPC_MSG_RECORD_BATCH);
  CHECK(oa_batch_equals(&b, &got, err));
  /* zero-copy decode: the column points into the body */
  CHECK(got.n_columns == 1 && got.columns[0].buffers[1].data == body.data);
  oa_batch_reset(&got);
  oa_ipc_decoder_free(dec);
  oa_bytes_reset(&framed);
  oa_ipc_message_reset(&sm);
  oa_ipc_message_reset(m);
  oa_ipc_encoder_free(enc);
  oa_batch_reset(&b);
  oa_schema_release(s);
}

OA_TEST(test_push_buffer_and_mmap_zero_copy) {
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_schema_new(&s, err);
  tu_add(s, tf("x", OA_TYPE_INT32));
  tu_add(s, tf("s", OA_TYPE_STRING));
  oa_batch b[2];
  oa_batch_init(&b[0]);
  oa_batch_init(&b[1]);
  CHECK_OK(tu_random_batch(s, 500, &b[0], err), err);
  CHECK_OK(tu_random_batch(s, 77, &b[1], err), err);
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(tu_write(OA_IPC_STREAM, s, NULL, b, 2, &out, err), err);
  oa_buffer whole;
  CHECK_OK(oa_bytes_finish(&out, &whole), err);
  oa_ipc_stream_reader *r;
  CHECK_OK(oa_ipc_stream_reader_new(&r, NULL, err), err);
  CHECK_OK(oa_ipc_stream_reader_push_buffer(r, &whole, err), err);
  for (int i = 0; i < 2; i++) {
    oa_batch got;
    oa_batch_init(&got);
    bool ok = false;
    CHECK_OK(oa_ipc_stream_reader_next(r, &got, &ok, err), err);
    CHECK(ok);
    if (!ok) break;
    CHECK(oa_batch_equals(&b[i], &got, err));
    const uint8_t *p = got.columns[1].buffers[2].data;
    CHECK(p >= whole.data && p < whole.data + whole.size);
    oa_batch_reset(&got);
  }
  bool ok = true;
  oa_batch none;
  oa_batch_init(&none);
  CHECK_OK(oa_ipc_stream_reader_next(r, &none, &ok, err), err);
  CHECK(!ok && oa_ipc_stream_reader_done(r));
  CHECK_OK(oa_ipc_stream_reader_close(r, err), err);
  CHECK(oa_ipc_stream_reader_schema(r) != NULL);
  oa_ipc_stream_reader_free(r);
  oa_region_release(whole.region);

  /* file through a real fd sink, read back mmap'ed */
  char path[] = "/tmp/oa_ipc_test_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  oa_ipc_writer *w;
  CHECK_OK(oa_ipc_writer_new(&w, OA_IPC_FILE, s, NULL, oa_sink_fd(&fd), err),
           err);
  CHECK_OK(oa_ipc_writer_write(w, &b[0], err), err);
  CHECK_OK(oa_ipc_writer_write(w, &b[1], err), err);
  CHECK_OK(oa_ipc_writer_finish(w, err), err);
  int64_t written = oa_ipc_writer_bytes_written(w);
  oa_ipc_writer_free(w);
  close(fd);
  oa_buffer mapped;
  CHECK_OK(oa_file_map(path, &mapped, err), err);
  CHECK_EQ_INT(mapped.size, written);
  oa_region_release(mapped.region);
  oa_ipc_file_reader *fr = NULL;
  CHECK_OK(oa_ipc_file_reader_open(&fr, path, NULL, err), err);
  if (fr) {
    CHECK_EQ_INT(oa_ipc_file_reader_n_batches(fr), 2);
    CHECK(oa_schema_equals(oa_ipc_file_reader_schema(fr), s, true, err));
    for (int64_t i = 1; i >= 0; i--) { /* random access */
      oa_batch got;
      oa_batch_init(&got);
      CHECK_OK(oa_ipc_file_reader_read(fr, i, &got, err), err);
      CHECK(oa_batch_equals(&b[i], &got, err));
      oa_batch_reset(&got);
    }
    oa_batch got;
    oa_batch_init(&got);
    CHECK_FAILS(oa_ipc_file_reader_read(fr, 2, &got, err), EINVAL, err,
                "out of range");
    oa_ipc_file_reader_free(fr);
  }
  unlink(path);
  oa_batch_reset(&b[0]);
  oa_batch_reset(&b[1]);
  oa_schema_release(s);
}

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int null_sink(void *ctx, const void *data, int64_t len, oa_error *err) {
  (void)data;
  (void)err;
  *(int64_t *)ctx += len;
  return 0;
}

OA_TEST(test_large_batch_write_speed) {
  /* 1M rows uncompressed: encoding references the buffers, so writing to a
   * sink costs about what copying the bytes costs */
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_schema_new(&s, err);
  tu_add(s, tf("a", OA_TYPE_INT64));
  tu_add(s, tf("b", OA_TYPE_DOUBLE));
  oa_builder ba, bb;
  oa_builder_init(&ba, &s->fields[0], 0, err);
  oa_builder_init(&bb, &s->fields[1], 0, err);
  for (int64_t i = 0; i < 1000000; i++) {
    oa_builder_append_i64_fast(&ba, i);
    oa_builder_append_f64_fast(&bb, (double)i);
  }
  oa_array cols[2];
  oa_builder_finish(&ba, &cols[0], err);
  oa_builder_finish(&bb, &cols[1], err);
  oa_batch b;
  oa_batch_init(&b);
  oa_batch_set(&b, s, 1000000, cols, err);
  int64_t total = 0;
  oa_sink sink = {null_sink, &total};
  oa_ipc_writer *w;
  CHECK_OK(oa_ipc_writer_new(&w, OA_IPC_STREAM, s, NULL, sink, err), err);
  double t0 = now_sec();
  CHECK_OK(oa_ipc_writer_write(w, &b, err), err);
  double t_write = now_sec() - t0;
  oa_ipc_writer_free(w);
  uint8_t *copy = malloc(16000000);
  t0 = now_sec();
  memcpy(copy, b.columns[0].buffers[1].data, 8000000);
  memcpy(copy + 8000000, b.columns[1].buffers[1].data, 8000000);
  double t_copy = now_sec() - t0;
  CHECK(total > 16000000 && total < 16001000);
  /* the null sink copies nothing: writing must not cost more than a copy */
  CHECK(t_write < t_copy * 2 + 0.002);
  printf("write 1M rows: %.3f ms (memcpy %.3f ms)\n", t_write * 1e3,
         t_copy * 1e3);
  free(copy);
  oa_batch_reset(&b);
  oa_builder_reset(&ba);
  oa_builder_reset(&bb);
  oa_schema_release(s);
}

OA_TEST(test_file_read_cost_independent_of_body) {
  /* a mapped file: reading a batch slices the mapping, so without
   * validation a 1M-row batch costs what a 10-row one does */
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_schema_new(&s, err);
  tu_add(s, tf("a", OA_TYPE_INT64));
  oa_builder ba;
  oa_builder_init(&ba, &s->fields[0], 0, err);
  oa_batch b[2];
  for (int k = 0; k < 2; k++) {
    int64_t n = k ? 1000000 : 10;
    for (int64_t i = 0; i < n; i++)
      oa_builder_append_i64_fast(&ba, i);
    oa_array col;
    oa_builder_finish(&ba, &col, err);
    oa_batch_init(&b[k]);
    oa_batch_set(&b[k], s, n, &col, err);
  }
  oa_builder_reset(&ba);
  char path[] = "/tmp/oa_ipc_cost_XXXXXX";
  int fd = mkstemp(path);
  oa_ipc_writer *w;
  CHECK_OK(oa_ipc_writer_new(&w, OA_IPC_FILE, s, NULL, oa_sink_fd(&fd), err),
           err);
  CHECK_OK(oa_ipc_writer_write(w, &b[0], err), err);
  CHECK_OK(oa_ipc_writer_write(w, &b[1], err), err);
  CHECK_OK(oa_ipc_writer_finish(w, err), err);
  oa_ipc_writer_free(w);
  close(fd);
  oa_ipc_read_options ro;
  oa_ipc_read_options_init(&ro);
  ro.validate = false;
  ro.check_utf8 = false;
  oa_ipc_file_reader *r = NULL;
  CHECK_OK(oa_ipc_file_reader_open(&r, path, &ro, err), err);
  double t[2] = {0, 0};
  for (int k = 0; r && k < 2; k++) {
    oa_batch got;
    oa_batch_init(&got);
    double t0 = now_sec();
    for (int rep = 0; rep < 100; rep++)
      CHECK_OK(oa_ipc_file_reader_read(r, k, &got, err), err);
    t[k] = now_sec() - t0;
    CHECK(oa_batch_equals(&b[k], &got, err));
    oa_batch_reset(&got);
  }
  printf("100 reads: 10 rows %.3f ms, 1M rows %.3f ms\n", t[0] * 1e3,
         t[1] * 1e3);
  CHECK(t[1] < t[0] * 5 + 0.005);
  oa_ipc_file_reader_free(r);
  unlink(path);
  oa_batch_reset(&b[0]);
  oa_batch_reset(&b[1]);
  oa_schema_release(s);
}

OA_TEST(test_misaligned_input_is_realigned) {
  /* a stream living at an odd address: buffers are copied to realign them */
  oa_error err_, *err = &err_;
  oa_schema *s = tu_all_types_schema();
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s, 40, &b, err), err);
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(tu_write(OA_IPC_STREAM, s, NULL, &b, 1, &out, err), err);
  oa_region *r = oa_region_alloc(out.size + 3);
  memcpy(r->data + 3, out.data, (size_t)out.size);
  oa_buffer odd = {r->data + 3, out.size, r};
  oa_ipc_stream_reader *sr;
  CHECK_OK(oa_ipc_stream_reader_new(&sr, NULL, err), err);
  CHECK_OK(oa_ipc_stream_reader_push_buffer(sr, &odd, err), err);
  oa_batch got;
  oa_batch_init(&got);
  bool ok = false;
  CHECK_OK(oa_ipc_stream_reader_next(sr, &got, &ok, err), err);
  CHECK(ok);
  if (ok) {
    CHECK(oa_batch_equals(&b, &got, err));
    for (int64_t c = 0; c < got.n_columns; c++)
      for (int i = 0; i < got.columns[c].n_buffers; i++)
        CHECK(((uintptr_t)got.columns[c].buffers[i].data & 7) == 0);
  }
  oa_batch_reset(&got);
  oa_ipc_stream_reader_free(sr);
  oa_region_release(r);
  oa_bytes_reset(&out);
  oa_batch_reset(&b);
  oa_schema_release(s);
}

typedef struct file_parts {
  oa_bytes bytes;
  oa_ipc_block blocks[4];
  int n;
} file_parts;

static int file_emit(void *ctx, const oa_ipc_message *m, oa_error *err) {
  file_parts *fp = ctx;
  fp->blocks[fp->n].offset = fp->bytes.size;
  fp->blocks[fp->n].metadata_length = (int32_t)(8 + m->metadata.size);
  fp->blocks[fp->n].body_length = m->body_length;
  fp->n++;
  return oa_ipc_message_frame(m, &fp->bytes, err);
}

OA_TEST(test_file_without_schema_message) {
  /* apache-arrow JS writes files whose stream part starts with the first
   * batch: the footer's schema is enough */
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_schema_new(&s, err);
  tu_add(s, tf("x", OA_TYPE_INT32));
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s, 9, &b, err), err);
  file_parts fp = {.n = 0};
  oa_bytes_init(&fp.bytes);
  oa_bytes_append(&fp.bytes, "ARROW1\0\0", 8);
  oa_ipc_encoder *enc;
  CHECK_OK(oa_ipc_encoder_new(&enc, s, NULL, err), err);
  CHECK_OK(oa_ipc_encoder_batch(enc, &b, file_emit, &fp, err), err);
  oa_ipc_encoder_free(enc);
  static const uint8_t eos[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
  oa_bytes_append(&fp.bytes, eos, 8);
  oa_ipc_footer f;
  oa_ipc_footer_init(&f);
  f.version = OA_IPC_METADATA_V5;
  f.schema = s;
  f.n_batches = 1;
  f.batches = fp.blocks;
  int64_t start = fp.bytes.size;
  CHECK_OK(oa_ipc_encode_footer(&f, &fp.bytes, err), err);
  uint8_t tail[10];
  oa_ipc_store_i32(tail, (int32_t)(fp.bytes.size - start));
  memcpy(tail + 4, "ARROW1", 6);
  oa_bytes_append(&fp.bytes, tail, 10);
  oa_batch *got = NULL;
  int64_t n = 0;
  CHECK_OK(tu_read_file(fp.bytes.data, fp.bytes.size, NULL, &got, &n, err),
           err);
  CHECK_EQ_INT(n, 1);
  if (n == 1) CHECK(oa_batch_equals(&b, &got[0], err));
  tu_free_batches(got, n);
  oa_bytes_reset(&fp.bytes);
  oa_batch_reset(&b);
  oa_schema_release(s);
}

OA_TEST(test_writer_rejects_mismatched_batch) {
  oa_error err_, *err = &err_;
  oa_schema *s, *s2;
  oa_schema_new(&s, err);
  tu_add(s, tf("x", OA_TYPE_INT32));
  oa_schema_new(&s2, err);
  tu_add(s2, tf("y", OA_TYPE_INT64));
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s2, 3, &b, err), err);
  oa_bytes out;
  oa_bytes_init(&out);
  oa_ipc_writer *w;
  CHECK_OK(
      oa_ipc_writer_new(&w, OA_IPC_STREAM, s, NULL, oa_sink_bytes(&out), err),
      err);
  CHECK_FAILS(oa_ipc_writer_write(w, &b, err), EINVAL, err, "schema");
  oa_ipc_writer_free(w);
  oa_bytes_reset(&out);
  oa_batch_reset(&b);
  oa_schema_release(s);
  oa_schema_release(s2);
}

OA_TEST_MAIN(OA_T(test_options_and_names), OA_T(test_compress_buffer),
             OA_T(test_lz4_multiple_frames), OA_T(test_all_types_roundtrip),
             OA_T(test_slice_writes_only_the_slice),
             OA_T(test_encoder_zero_copy_segments),
             OA_T(test_push_buffer_and_mmap_zero_copy),
             OA_T(test_large_batch_write_speed),
             OA_T(test_file_read_cost_independent_of_body),
             OA_T(test_misaligned_input_is_realigned),
             OA_T(test_file_without_schema_message),
             OA_T(test_writer_rejects_mismatched_batch))
