/* Reference ownership on the read paths: once every batch and reader is
 * freed, the region the input came in must be back to the caller's single
 * reference, whether the input was read or rejected. Replays the fuzzers'
 * reproducers in fuzz/corpus/regressions/ the way the fuzz targets do. */
#include <dirent.h>

#include "ipc/ipc_internal.h"
#include "ipc_test_util.h"

static long refs(oa_region *r) { return (long)atomic_load(&r->refcount); }

/* Schema message for one nullable int32 column "x". */
static void int_schema_message(oa_schema **s, oa_bytes *meta) {
  oa_schema_new(s, NULL);
  tu_add(*s, tf("x", OA_TYPE_INT32));
  oa_bytes_init(meta);
  CHECK_OK(oa_ipc_encode_schema_message(*s, meta, NULL), (oa_error *)NULL);
}

/* A ZSTD-compressed batch whose validity buffer is only the -1 "stored
 * uncompressed" prefix: an empty bitmap that still lies in the body. The
 * decoder used to take a reference for it and drop the buffer without
 * giving the reference back. */
OA_TEST(test_empty_compressed_validity_keeps_no_reference) {
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_bytes schema_meta;
  int_schema_message(&s, &schema_meta);

  oa_ipc_field_node node = {4, 0};
  oa_ipc_buffer_spec specs[2] = {{0, 8}, {8, 24}};
  oa_ipc_batch_meta bm = {4, 1, &node, 2, specs, OA_COMPRESSION_ZSTD};
  oa_bytes batch_meta;
  oa_bytes_init(&batch_meta);
  CHECK_OK(
      oa_ipc_encode_batch_message(&bm, 32, false, 0, false, &batch_meta, err),
      err);

  oa_region *body = oa_region_alloc(32);
  oa_ipc_store_i64(body->data, -1);
  oa_ipc_store_i64(body->data + 8, -1);
  for (int i = 0; i < 4; i++)
    oa_ipc_store_i32(body->data + 16 + 4 * i, 10 * (i + 1));
  oa_buffer bb = {body->data, 32, body};

  oa_ipc_decoder *dec;
  CHECK_OK(oa_ipc_decoder_new(&dec, NULL, err), err);
  oa_ipc_msg_type type;
  oa_batch out;
  oa_batch_init(&out);
  CHECK_OK(oa_ipc_decoder_decode(dec, schema_meta.data, schema_meta.size, NULL,
                                 &type, &out, err),
           err);
  CHECK_OK(oa_ipc_decoder_decode(dec, batch_meta.data, batch_meta.size, &bb,
                                 &type, &out, err),
           err);
  CHECK_EQ_INT(type, OA_IPC_MSG_RECORD_BATCH);
  CHECK_EQ_INT(out.length, 4);
  if (out.n_columns == 1) {
    oa_array *a = &out.columns[0];
    CHECK_EQ_INT(oa_array_null_count(&s->fields[0], a), 0);
    CHECK(a->buffers[0].data == NULL);
    CHECK(a->buffers[0].region == NULL);
    int32_t v[4];
    memcpy(v, a->buffers[1].data, sizeof v);
    CHECK_EQ_INT(v[0], 10);
    CHECK_EQ_INT(v[3], 40);
    /* the values are a zero-copy slice: one reference, ours is the other */
    CHECK(a->buffers[1].region == body);
    CHECK_EQ_INT(refs(body), 2);
  }
  oa_batch_reset(&out);
  oa_ipc_decoder_free(dec);
  CHECK_EQ_INT(refs(body), 1);
  oa_region_release(body);

  /* The same buffers with a null: the bitmap is required and the message
   * refused, still without keeping a reference. */
  node.null_count = 1;
  oa_bytes_reset(&batch_meta);
  CHECK_OK(
      oa_ipc_encode_batch_message(&bm, 32, false, 0, false, &batch_meta, err),
      err);
  body = oa_region_alloc(32);
  memset(body->data, 0xFF, 16);
  memset(body->data + 16, 0, 16);
  bb.data = body->data;
  bb.region = body;
  CHECK_OK(oa_ipc_decoder_new(&dec, NULL, err), err);
  CHECK_OK(oa_ipc_decoder_decode(dec, schema_meta.data, schema_meta.size, NULL,
                                 &type, &out, err),
           err);
  CHECK_FAILS(oa_ipc_decoder_decode(dec, batch_meta.data, batch_meta.size, &bb,
                                    &type, &out, err),
              EINVAL, err, "1 nulls but no validity bitmap");
  oa_batch_reset(&out);
  oa_ipc_decoder_free(dec);
  CHECK_EQ_INT(refs(body), 1);
  oa_region_release(body);

  oa_bytes_reset(&batch_meta);
  oa_bytes_reset(&schema_meta);
  oa_schema_release(s);
}

static void no_release(void *p) { (void)p; }

/* What fuzz/fuzz_ipc_file.c does, returning the references left over. */
static long file_leftover(const uint8_t *data, int64_t size) {
  oa_region *region = oa_region_wrap((void *)data, size, no_release, NULL);
  oa_buffer buf = {data, size, region};
  oa_ipc_file_reader *r = NULL;
  oa_error err;
  if (oa_ipc_file_reader_open_buffer(&r, &buf, NULL, &err) == 0) {
    for (int64_t i = 0; i < oa_ipc_file_reader_n_batches(r); i++) {
      oa_batch b;
      oa_batch_init(&b);
      (void)oa_ipc_file_reader_read(r, i, &b, &err);
      oa_batch_reset(&b);
    }
    oa_ipc_file_reader_free(r);
  }
  long left = refs(region);
  oa_region_release(region);
  return left;
}

/* What fuzz/fuzz_ipc_stream.c does with even-sized inputs (zero-copy
 * pieces), returning the references left over. */
static long stream_leftover(const uint8_t *data, int64_t size) {
  oa_region *region = oa_region_wrap((void *)data, size, no_release, NULL);
  oa_ipc_stream_reader *r = NULL;
  oa_error err_, *err = &err_;
  CHECK_OK(oa_ipc_stream_reader_new(&r, NULL, err), err);
  const int64_t cuts[4] = {0, size / 3, size - size / 4, size};
  int rc = 0;
  for (int p = 0; p < 3 && rc == 0; p++) {
    oa_buffer piece = {data + cuts[p], cuts[p + 1] - cuts[p], region};
    rc = oa_ipc_stream_reader_push_buffer(r, &piece, err);
    bool got = true;
    while (rc == 0 && got) {
      oa_batch b;
      oa_batch_init(&b);
      rc = oa_ipc_stream_reader_next(r, &b, &got, err);
      oa_batch_reset(&b);
    }
  }
  if (rc == 0) (void)oa_ipc_stream_reader_close(r, err);
  oa_ipc_stream_reader_free(r);
  long left = refs(region);
  oa_region_release(region);
  return left;
}

static void replay(const char *kind) {
  const char *src = getenv("OA_SOURCE_DIR");
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/fuzz/corpus/regressions/%s", src ? src : "..",
           kind);
  DIR *dp = opendir(dir);
  if (!dp) {
    CHECK(src == NULL); /* ctest sets OA_SOURCE_DIR: the folder must exist */
    printf("%s: not found, skipped\n", dir);
    return;
  }
  int files = 0;
  struct dirent *e;
  while ((e = readdir(dp)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    oa_buffer b;
    oa_error err;
    if (oa_file_map(path, &b, &err) != 0) continue;
    files++;
    /* both readers on every reproducer: each must give back what it took */
    long left_file = file_leftover(b.data, b.size);
    long left_stream = stream_leftover(b.data, b.size);
    if (left_file != 1 || left_stream != 1)
      fprintf(stderr, "%s/%s: %ld (file) / %ld (stream) references left\n",
              kind, e->d_name, left_file, left_stream);
    CHECK_EQ_INT(left_file, 1);
    CHECK_EQ_INT(left_stream, 1);
    oa_region_release(b.region);
  }
  closedir(dp);
  printf("regressions/%s: %d inputs\n", kind, files);
  CHECK(files > 0);
}

OA_TEST(test_regressions_file) { replay("file"); }
OA_TEST(test_regressions_stream) { replay("stream"); }

OA_TEST_MAIN(OA_T(test_empty_compressed_validity_keeps_no_reference),
             OA_T(test_regressions_file), OA_T(test_regressions_stream))
