/* Hostile input: Arrow's fuzz regression corpus, truncations at every byte,
 * corrupted buffer offsets, decompression bombs and bad length prefixes.
 * Every case must be read completely or rejected with a code and a message;
 * never a crash (this test also runs under ASan+UBSan). */
#include <dirent.h>

#include "ipc/ipc_internal.h"
#include "ipc_test_util.h"

/* Reads a whole stream; returns the status, batches counted in *n. */
static int read_stream_all(const uint8_t *data, int64_t len, int64_t piece,
                           int64_t *n, oa_error *err) {
  oa_batch *got = NULL;
  *n = 0;
  int rc = tu_read_stream(data, len, piece, NULL, &got, n, err);
  tu_free_batches(got, *n);
  return rc;
}

static int read_file_all(const uint8_t *data, int64_t len, oa_error *err) {
  oa_batch *got = NULL;
  int64_t n = 0;
  int rc = tu_read_file(data, len, NULL, &got, &n, err);
  tu_free_batches(got, n);
  return rc;
}

static void run_corpus(const char *rel, bool file) {
  char dir[1024];
  oa_test_shared_path(dir, sizeof dir, rel);
  DIR *dp = opendir(dir);
  CHECK(dp != NULL);
  if (!dp) return;
  struct dirent *e;
  int files = 0, rejected = 0;
  while ((e = readdir(dp)) != NULL) {
    if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0) continue;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    oa_buffer b;
    oa_error err_, *err = &err_;
    if (oa_file_map(path, &b, err) != 0) continue;
    files++;
    err->message[0] = 0;
    int64_t n;
    int rc = file ? read_file_all(b.data, b.size, err)
                  : read_stream_all(b.data, b.size, 0, &n, err);
    if (rc) {
      rejected++;
      if (err->message[0] == 0)
        fprintf(stderr, "%s: code %d without a message\n", e->d_name, rc);
      CHECK(err->message[0] != 0);
    }
    /* the other reader on the same bytes must be just as safe */
    err->message[0] = 0;
    rc = file ? read_stream_all(b.data, b.size, 0, &n, err)
              : read_file_all(b.data, b.size, err);
    if (rc) CHECK(err->message[0] != 0);
    oa_region_release(b.region);
  }
  closedir(dp);
  printf("%s: %d files, %d rejected\n", rel, files, rejected);
  CHECK(files > 10);
}

OA_TEST(test_corpus_stream) {
  run_corpus("arrow-testing/fuzz-regression/ipc-stream", false);
}

OA_TEST(test_corpus_file) {
  run_corpus("arrow-testing/fuzz-regression/ipc-file", true);
}

static oa_schema *small_schema(void) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  tu_add(s, tf("i", OA_TYPE_INT32));
  tu_add(s, tf("s", OA_TYPE_STRING));
  oa_field l = tf("l", OA_TYPE_LIST);
  tchild(&l, tf("item", OA_TYPE_INT16));
  tu_add(s, l);
  oa_field d = tf("d", OA_TYPE_STRING);
  oa_field_set_dictionary(&d, OA_TYPE_INT8, 1, false);
  tu_add(s, d);
  return s;
}

OA_TEST(test_truncations) {
  oa_error err_, *err = &err_;
  oa_schema *s = small_schema();
  oa_batch b[2];
  oa_batch_init(&b[0]);
  oa_batch_init(&b[1]);
  CHECK_OK(tu_random_batch(s, 20, &b[0], err), err);
  CHECK_OK(oa_batch_slice(&b[1], &b[0], 5, 9, err), err);
  for (int fmt = 0; fmt < 2; fmt++) {
    oa_bytes out;
    oa_bytes_init(&out);
    CHECK_OK(tu_write((oa_ipc_format)fmt, s, NULL, b, 2, &out, err), err);
    int ok = 0, bad = 0;
    for (int64_t k = 0; k < out.size; k++) {
      uint8_t *copy = malloc((size_t)(k ? k : 1));
      memcpy(copy, out.data, (size_t)k);
      err->message[0] = 0;
      int64_t n = 0;
      int rc = fmt ? read_file_all(copy, k, err)
                   : read_stream_all(copy, k, 0, &n, err);
      if (rc == 0) {
        ok++;
        CHECK(fmt == 0); /* a cut file never reads */
      } else {
        bad++;
        CHECK(rc == EINVAL);
        CHECK(err->message[0] != 0);
      }
      free(copy);
    }
    /* a stream cut at a message boundary before the end-of-stream marker
     * is accepted; everything else is refused */
    CHECK(bad > out.size - 10);
    printf("%s: %lld cuts, %d read, %d rejected\n", fmt ? "file" : "stream",
           (long long)out.size, ok, bad);
    oa_bytes_reset(&out);
  }
  oa_batch_reset(&b[0]);
  oa_batch_reset(&b[1]);
  oa_schema_release(s);
}

/* A stream split into messages. */
typedef struct split {
  int n;
  const uint8_t *meta[8];
  int64_t meta_len[8];
  const uint8_t *body[8];
  int64_t body_len[8];
} split;

static void split_stream(const oa_bytes *b, split *sp) {
  int64_t pos = 0;
  sp->n = 0;
  while (pos + 8 <= b->size && sp->n < 8) {
    int64_t ml = oa_ipc_load_i32(b->data + pos + 4);
    if (ml == 0) break;
    oa_ipc_message_meta m;
    oa_ipc_message_meta_init(&m);
    if (oa_ipc_message_meta_decode(b->data + pos + 8, ml, 64, &m, NULL)) break;
    sp->meta[sp->n] = b->data + pos + 8;
    sp->meta_len[sp->n] = ml;
    sp->body[sp->n] = b->data + pos + 8 + ml;
    sp->body_len[sp->n] = m.body_length;
    sp->n++;
    pos += 8 + ml + m.body_length;
    oa_ipc_message_meta_reset(&m);
  }
}

/* Decodes schema message 0 then message i (with a replaced metadata and
 * body when given). */
static int decode_with(const split *sp, int i, const uint8_t *meta,
                       int64_t meta_len, const uint8_t *body, int64_t body_len,
                       const oa_ipc_read_options *opt, oa_error *err) {
  oa_ipc_decoder *dec;
  int rc = oa_ipc_decoder_new(&dec, opt, err);
  if (rc) return rc;
  oa_ipc_msg_type type;
  oa_batch out;
  oa_batch_init(&out);
  rc = oa_ipc_decoder_decode(dec, sp->meta[0], sp->meta_len[0], NULL, &type,
                             &out, err);
  for (int j = 1; j < i && !rc; j++) {
    oa_buffer bj = {sp->body[j], sp->body_len[j], NULL};
    rc = oa_ipc_decoder_decode(dec, sp->meta[j], sp->meta_len[j], &bj, &type,
                               &out, err);
    oa_batch_reset(&out);
  }
  if (!rc) {
    oa_buffer bb = {body ? body : sp->body[i],
                    body ? body_len : sp->body_len[i], NULL};
    rc = oa_ipc_decoder_decode(dec, meta ? meta : sp->meta[i],
                               meta ? meta_len : sp->meta_len[i], &bb, &type,
                               &out, err);
  }
  oa_batch_reset(&out);
  oa_ipc_decoder_free(dec);
  return rc;
}

/* Re-encodes message i's metadata after edit(meta) changed it. */
static int reencode(const split *sp, int i,
                    void (*edit)(oa_ipc_batch_meta *, void *), void *arg,
                    oa_bytes *out) {
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  int rc =
      oa_ipc_message_meta_decode(sp->meta[i], sp->meta_len[i], 64, &m, NULL);
  if (rc) return rc;
  edit(&m.batch, arg);
  rc = oa_ipc_encode_batch_message(
      &m.batch, m.body_length, m.header_type == OA_IPC_HEADER_DICTIONARY_BATCH,
      m.dict_id, m.is_delta, out, NULL);
  oa_ipc_message_meta_reset(&m);
  return rc;
}

typedef struct buf_edit {
  int64_t which, offset, length;
} buf_edit;

static void set_buffer(oa_ipc_batch_meta *b, void *arg) {
  buf_edit *e = arg;
  if (e->which < b->n_buffers) {
    if (e->offset != -2) b->buffers[e->which].offset = e->offset;
    if (e->length != -2) b->buffers[e->which].length = e->length;
  }
}

static void drop_node(oa_ipc_batch_meta *b, void *arg) {
  (void)arg;
  if (b->n_nodes > 0) b->n_nodes--;
}

OA_TEST(test_corrupted_offsets) {
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_schema_new(&s, err);
  tu_add(s, tf("x", OA_TYPE_INT64));
  tu_add(s, tf("s", OA_TYPE_STRING));
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s, 16, &b, err), err);
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(tu_write(OA_IPC_STREAM, s, NULL, &b, 1, &out, err), err);
  split sp;
  split_stream(&out, &sp);
  CHECK_EQ_INT(sp.n, 2);
  if (sp.n == 2) {
    CHECK_OK(decode_with(&sp, 1, NULL, 0, NULL, 0, NULL, err), err);
    static const buf_edit edits[] = {
        {1, 1 << 20, -2},       /* offset past the body */
        {1, -2, 1 << 20},       /* length past the body */
        {1, INT64_MAX - 4, 64}, /* offset + length overflows */
        {1, -8, -2},            /* negative offset */
        {3, -2, -5},            /* negative length */
        {1, -2, 8},             /* values shorter than 16 rows */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
      oa_bytes meta;
      oa_bytes_init(&meta);
      buf_edit e = edits[i];
      CHECK_OK(reencode(&sp, 1, set_buffer, &e, &meta), err);
      int rc = decode_with(&sp, 1, meta.data, meta.size, NULL, 0, NULL, err);
      CHECK_EQ_INT(rc, EINVAL);
      /* the metadata decoder or ours names the buffer and the body */
      if (i < 2)
        CHECK(strstr(err->message, "buffer 1") != NULL &&
              (strstr(err->message, "exceeds body length") != NULL ||
               strstr(err->message, "outside the body") != NULL));
      CHECK(err->message[0] != 0);
      oa_bytes_reset(&meta);
    }
    /* a node missing: the layout does not match the schema */
    oa_bytes meta;
    oa_bytes_init(&meta);
    CHECK_OK(reencode(&sp, 1, drop_node, NULL, &meta), err);
    CHECK_FAILS(decode_with(&sp, 1, meta.data, meta.size, NULL, 0, NULL, err),
                EINVAL, err, "field nodes");
    oa_bytes_reset(&meta);
    /* a string offset pointing outside the data: validation catches it */
    uint8_t *body = malloc((size_t)sp.body_len[1]);
    memcpy(body, sp.body[1], (size_t)sp.body_len[1]);
    oa_ipc_message_meta m;
    oa_ipc_message_meta_init(&m);
    oa_ipc_message_meta_decode(sp.meta[1], sp.meta_len[1], 64, &m, NULL);
    int32_t big = 1 << 30;
    if (m.batch.n_buffers == 5 && m.batch.buffers[3].length >= 8)
      memcpy(body + m.batch.buffers[3].offset + 4, &big, 4);
    CHECK_EQ_INT(decode_with(&sp, 1, NULL, 0, body, sp.body_len[1], NULL, err),
                 EINVAL);
    CHECK(err->message[0] != 0);
    /* a body shorter than declared */
    CHECK_FAILS(
        decode_with(&sp, 1, NULL, 0, body, sp.body_len[1] - 8, NULL, err),
        EINVAL, err, "declares a body");
    oa_ipc_message_meta_reset(&m);
    free(body);
  }
  oa_bytes_reset(&out);
  oa_batch_reset(&b);
  oa_schema_release(s);
}

OA_TEST(test_compression_attacks) {
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_schema_new(&s, err);
  oa_field f = tf("z", OA_TYPE_INT64);
  f.nullable = false;
  tu_add(s, f);
  /* 2M zeros: 16 MB that zstd squeezes into a few hundred bytes */
  oa_builder bld;
  oa_builder_init(&bld, &s->fields[0], 0, err);
  for (int i = 0; i < 2000000; i++)
    oa_builder_append_i64_fast(&bld, 0);
  oa_array col;
  oa_builder_finish(&bld, &col, err);
  oa_builder_reset(&bld);
  oa_batch b;
  oa_batch_init(&b);
  oa_batch_set(&b, s, 2000000, &col, err);
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  wo.compression = OA_COMPRESSION_ZSTD;
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(tu_write(OA_IPC_STREAM, s, &wo, &b, 1, &out, err), err);
  CHECK(out.size < 10000);
  oa_ipc_read_options ro;
  oa_ipc_read_options_init(&ro);
  ro.max_decompressed_size = 1 << 20;
  oa_batch *got = NULL;
  int64_t n = 0;
  CHECK_FAILS(tu_read_stream(out.data, out.size, 0, &ro, &got, &n, err), E2BIG,
              err, "decompressed size 16000000 exceeds the limit 1048576");
  tu_free_batches(got, n);
  /* the same with the default limit reads */
  CHECK_OK(tu_read_stream(out.data, out.size, 0, NULL, &got, &n, err), err);
  CHECK_EQ_INT(n, 1);
  if (n == 1) CHECK(oa_batch_equals(&b, &got[0], err));
  tu_free_batches(got, n);

  split sp;
  split_stream(&out, &sp);
  CHECK_EQ_INT(sp.n, 2);
  if (sp.n == 2) {
    oa_ipc_message_meta m;
    oa_ipc_message_meta_init(&m);
    oa_ipc_message_meta_decode(sp.meta[1], sp.meta_len[1], 64, &m, NULL);
    CHECK_EQ_INT(m.batch.compression, OA_COMPRESSION_ZSTD);
    CHECK_EQ_INT(m.batch.n_buffers, 2);
    int64_t off = m.batch.buffers[1].offset;
    uint8_t *body = malloc((size_t)sp.body_len[1]);
    /* a prefix claiming 1 TB: refused before any allocation */
    memcpy(body, sp.body[1], (size_t)sp.body_len[1]);
    oa_ipc_store_i64(body + off, (int64_t)1 << 40);
    CHECK_FAILS(decode_with(&sp, 1, NULL, 0, body, sp.body_len[1], NULL, err),
                E2BIG, err, "exceeds the limit");
    /* a prefix that does not match what the data decompresses to */
    oa_ipc_store_i64(body + off, 16000000 - 8);
    CHECK_FAILS(decode_with(&sp, 1, NULL, 0, body, sp.body_len[1], NULL, err),
                EINVAL, err, "");
    oa_ipc_store_i64(body + off, 16000000 + 8);
    CHECK_FAILS(decode_with(&sp, 1, NULL, 0, body, sp.body_len[1], NULL, err),
                EINVAL, err, "");
    free(body);
    /* a compressed buffer shorter than its prefix */
    oa_bytes meta;
    oa_bytes_init(&meta);
    buf_edit e = {1, -2, 5};
    CHECK_OK(reencode(&sp, 1, set_buffer, &e, &meta), err);
    CHECK_FAILS(decode_with(&sp, 1, meta.data, meta.size, NULL, 0, NULL, err),
                EINVAL, err, "shorter than its 8-byte length prefix");
    oa_bytes_reset(&meta);
    oa_ipc_message_meta_reset(&m);
  }
  oa_bytes_reset(&out);
  oa_batch_reset(&b);
  oa_schema_release(s);
}

OA_TEST(test_limits) {
  oa_error err_, *err = &err_;
  oa_schema *s = small_schema();
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(tu_random_batch(s, 50, &b, err), err);
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(tu_write(OA_IPC_STREAM, s, NULL, &b, 1, &out, err), err);
  oa_ipc_read_options ro;
  oa_batch *got = NULL;
  int64_t n = 0;
  oa_ipc_read_options_init(&ro);
  ro.max_metadata_size = 64;
  CHECK_FAILS(tu_read_stream(out.data, out.size, 0, &ro, &got, &n, err), E2BIG,
              err, "exceeds the limit");
  tu_free_batches(got, n);
  oa_ipc_read_options_init(&ro);
  ro.max_body_size = 64;
  CHECK_FAILS(tu_read_stream(out.data, out.size, 0, &ro, &got, &n, err), E2BIG,
              err, "body length");
  tu_free_batches(got, n);
  oa_ipc_read_options_init(&ro);
  ro.max_dictionary_size = 2;
  CHECK_FAILS(tu_read_stream(out.data, out.size, 0, &ro, &got, &n, err), E2BIG,
              err, "exceeds the limit 2");
  tu_free_batches(got, n);
  oa_ipc_read_options_init(&ro);
  ro.max_depth = 1;
  CHECK_FAILS(tu_read_stream(out.data, out.size, 0, &ro, &got, &n, err), E2BIG,
              err, "");
  tu_free_batches(got, n);
  /* garbage and an empty input */
  static const uint8_t junk[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  CHECK_EQ_INT(tu_read_stream(junk, 16, 0, NULL, &got, &n, err) != 0, 1);
  tu_free_batches(got, n);
  CHECK_FAILS(tu_read_stream(junk, 0, 0, NULL, &got, &n, err), EINVAL, err,
              "before the schema");
  tu_free_batches(got, n);
  CHECK_FAILS(read_file_all(junk, 16, err), EINVAL, err, "not an Arrow IPC");
  oa_bytes_reset(&out);
  oa_batch_reset(&b);
  oa_schema_release(s);
}

OA_TEST_MAIN(OA_T(test_corpus_stream), OA_T(test_corpus_file),
             OA_T(test_truncations), OA_T(test_corrupted_offsets),
             OA_T(test_compression_attacks), OA_T(test_limits))
