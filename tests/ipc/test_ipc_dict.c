/* Dictionary batches: first sight, deltas with only the new values,
 * unchanged dictionaries, replacements in streams, refusal in files, shared
 * ids, and the decoder's bookkeeping. */
#include "ipc/ipc_internal.h"
#include "ipc_test_util.h"

typedef struct msg_log {
  int n;
  oa_ipc_msg_type type[32];
  bool delta[32];
  int64_t length[32];
  int64_t dict_id[32];
  oa_bytes framed; /* the messages as a stream */
} msg_log;

static int log_emit(void *ctx, const oa_ipc_message *m, oa_error *err) {
  msg_log *l = ctx;
  oa_ipc_message_meta meta;
  oa_ipc_message_meta_init(&meta);
  int rc = oa_ipc_message_meta_decode(m->metadata.data, m->metadata.size, 64,
                                      &meta, err);
  if (rc) return rc;
  if (l->n < 32) {
    l->type[l->n] = m->type;
    l->delta[l->n] = meta.is_delta;
    l->length[l->n] = meta.batch.length;
    l->dict_id[l->n] = meta.dict_id;
    l->n++;
  }
  oa_ipc_message_meta_reset(&meta);
  return oa_ipc_message_frame(m, &l->framed, err);
}

static oa_schema *dict_schema(void) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f = tf("s", OA_TYPE_STRING);
  oa_field_set_dictionary(&f, OA_TYPE_INT32, 42, false);
  tu_add(s, f);
  return s;
}

/* Finishes one batch of the given values from a (kept) builder. */
static void make_batch(oa_schema *s, oa_builder *b, const char *const *vals,
                       int n, oa_batch *out) {
  for (int i = 0; i < n; i++) {
    if (vals[i])
      oa_builder_append_cstr(b, vals[i]);
    else
      oa_builder_append_null(b);
  }
  oa_array col;
  oa_array_init(&col);
  oa_builder_finish(b, &col, NULL);
  oa_batch_init(out);
  oa_batch_set(out, s, n, &col, NULL);
}

static void read_all_equal(const uint8_t *data, int64_t len,
                           const oa_batch *want, int n, bool file) {
  oa_error err_, *err = &err_;
  oa_batch *got = NULL;
  int64_t n_got = 0;
  int rc = file ? tu_read_file(data, len, NULL, &got, &n_got, err)
                : tu_read_stream(data, len, 1, NULL, &got, &n_got, err);
  CHECK_OK(rc, err);
  CHECK_EQ_INT(n_got, n);
  for (int64_t i = 0; i < n_got && i < n; i++) {
    bool eq = oa_batch_equals(&want[i], &got[i], err);
    if (!eq) fprintf(stderr, "batch %lld: %s\n", (long long)i, err->message);
    CHECK(eq);
  }
  tu_free_batches(got, n_got);
}

OA_TEST(test_deltas) {
  oa_error err_, *err = &err_;
  oa_schema *s = dict_schema();
  oa_builder b;
  CHECK_OK(oa_builder_init(&b, &s->fields[0], OA_BUILDER_KEEP_DICTIONARY, err),
           err);
  static const char *v1[] = {"a", "b", "a", NULL};
  static const char *v2[] = {"a", "c"};
  static const char *v3[] = {"b", "a"};
  static const char *v4[] = {"d", "e", "c"};
  oa_batch batches[4];
  make_batch(s, &b, v1, 4, &batches[0]);
  make_batch(s, &b, v2, 2, &batches[1]);
  make_batch(s, &b, v3, 2, &batches[2]);
  make_batch(s, &b, v4, 3, &batches[3]);
  oa_builder_reset(&b);

  oa_ipc_encoder *enc;
  CHECK_OK(oa_ipc_encoder_new(&enc, s, NULL, err), err);
  msg_log log = {0};
  oa_bytes_init(&log.framed);
  oa_ipc_message sm;
  oa_ipc_message_init(&sm);
  CHECK_OK(oa_ipc_encoder_schema(enc, &sm, err), err);
  CHECK_OK(oa_ipc_message_frame(&sm, &log.framed, err), err);
  oa_ipc_message_reset(&sm);
  for (int i = 0; i < 4; i++)
    CHECK_OK(oa_ipc_encoder_batch(enc, &batches[i], log_emit, &log, err), err);
  oa_ipc_encoder_free(enc);
  static const uint8_t eos[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
  oa_bytes_append(&log.framed, eos, 8);
  /* dict(a,b) rb | delta(c) rb | rb | delta(d,e) rb */
  static const oa_ipc_msg_type want_type[] = {
      OA_IPC_MSG_DICTIONARY,   OA_IPC_MSG_RECORD_BATCH, OA_IPC_MSG_DICTIONARY,
      OA_IPC_MSG_RECORD_BATCH, OA_IPC_MSG_RECORD_BATCH, OA_IPC_MSG_DICTIONARY,
      OA_IPC_MSG_RECORD_BATCH};
  static const bool want_delta[] = {false, false, true, false,
                                    false, true,  false};
  static const int64_t want_len[] = {2, 4, 1, 2, 2, 2, 3};
  CHECK_EQ_INT(log.n, 7);
  for (int i = 0; i < log.n && i < 7; i++) {
    CHECK_EQ_INT(log.type[i], want_type[i]);
    CHECK_EQ_INT(log.delta[i], want_delta[i]);
    CHECK_EQ_INT(log.length[i], want_len[i]);
    if (log.type[i] == OA_IPC_MSG_DICTIONARY) CHECK_EQ_INT(log.dict_id[i], 42);
  }
  /* reading the stream reproduces every batch */
  read_all_equal(log.framed.data, log.framed.size, batches, 4, false);
  /* and the reader's dictionary grew by concatenation */
  {
    oa_batch *got = NULL;
    int64_t n = 0;
    CHECK_OK(tu_read_stream(log.framed.data, log.framed.size, 0, NULL, &got, &n,
                            err),
             err);
    if (n == 4) {
      CHECK_EQ_INT(got[0].columns[0].dictionary->length, 2);
      CHECK_EQ_INT(got[1].columns[0].dictionary->length, 3);
      CHECK_EQ_INT(got[3].columns[0].dictionary->length, 5);
      int64_t len;
      oa_field vf = s->fields[0];
      vf.dict.encoded = false;
      const uint8_t *p =
          oa_array_get_bytes(&vf, got[3].columns[0].dictionary, 4, &len);
      CHECK(len == 1 && p[0] == 'e');
    }
    tu_free_batches(got, n);
  }
  oa_bytes_reset(&log.framed);

  /* the file format accepts deltas (applied in footer order) */
  for (int k = 0; k < 2; k++) {
    oa_ipc_write_options wo;
    oa_ipc_write_options_init(&wo);
    wo.compression = k ? OA_COMPRESSION_ZSTD : OA_COMPRESSION_NONE;
    oa_bytes out;
    oa_bytes_init(&out);
    CHECK_OK(tu_write(OA_IPC_FILE, s, &wo, batches, 4, &out, err), err);
    read_all_equal(out.data, out.size, batches, 4, true);
    oa_bytes_reset(&out);
  }
  /* without deltas: replacements in a stream, refused in a file */
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  wo.dictionary_deltas = false;
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(tu_write(OA_IPC_STREAM, s, &wo, batches, 4, &out, err), err);
  read_all_equal(out.data, out.size, batches, 4, false);
  oa_bytes_reset(&out);
  CHECK_FAILS(tu_write(OA_IPC_FILE, s, &wo, batches, 4, &out, err), EINVAL, err,
              "dictionary replacement is not allowed in the IPC file "
              "format");
  oa_bytes_reset(&out);
  for (int i = 0; i < 4; i++)
    oa_batch_reset(&batches[i]);
  oa_schema_release(s);
}

OA_TEST(test_replacement) {
  oa_error err_, *err = &err_;
  oa_schema *s = dict_schema();
  static const char *v1[] = {"x", "y"};
  static const char *v2[] = {"z", "z", "x"};
  oa_batch batches[2];
  for (int i = 0; i < 2; i++) {
    oa_builder b;
    oa_builder_init(&b, &s->fields[0], 0, err);
    make_batch(s, &b, i ? v2 : v1, i ? 3 : 2, &batches[i]);
    oa_builder_reset(&b);
  }
  oa_ipc_encoder *enc;
  CHECK_OK(oa_ipc_encoder_new(&enc, s, NULL, err), err);
  msg_log log = {0};
  oa_bytes_init(&log.framed);
  for (int i = 0; i < 2; i++)
    CHECK_OK(oa_ipc_encoder_batch(enc, &batches[i], log_emit, &log, err), err);
  oa_ipc_encoder_free(enc);
  CHECK_EQ_INT(log.n, 4);
  CHECK(log.type[2] == OA_IPC_MSG_DICTIONARY && !log.delta[2] &&
        log.length[2] == 2);
  oa_bytes_reset(&log.framed);
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(tu_write(OA_IPC_STREAM, s, NULL, batches, 2, &out, err), err);
  read_all_equal(out.data, out.size, batches, 2, false);
  oa_bytes_reset(&out);
  CHECK_FAILS(tu_write(OA_IPC_FILE, s, NULL, batches, 2, &out, err), EINVAL,
              err,
              "dictionary replacement is not allowed in the IPC file "
              "format");
  oa_bytes_reset(&out);
  /* an unchanged dictionary rebuilt elsewhere (bytewise equal) is not
   * resent */
  oa_batch again;
  {
    oa_builder b;
    oa_builder_init(&b, &s->fields[0], 0, err);
    make_batch(s, &b, v1, 2, &again);
    oa_builder_reset(&b);
  }
  CHECK_OK(oa_ipc_encoder_new(&enc, s, NULL, err), err);
  memset(&log, 0, sizeof log);
  oa_bytes_init(&log.framed);
  CHECK_OK(oa_ipc_encoder_batch(enc, &batches[0], log_emit, &log, err), err);
  CHECK_OK(oa_ipc_encoder_batch(enc, &again, log_emit, &log, err), err);
  CHECK_EQ_INT(log.n, 3);
  oa_ipc_encoder_free(enc);
  oa_bytes_reset(&log.framed);
  oa_batch_reset(&again);
  for (int i = 0; i < 2; i++)
    oa_batch_reset(&batches[i]);
  oa_schema_release(s);
}

OA_TEST(test_shared_id) {
  oa_error err_, *err = &err_;
  oa_schema *s;
  oa_schema_new(&s, err);
  for (int i = 0; i < 2; i++) {
    oa_field f = tf(i ? "b" : "a", OA_TYPE_STRING);
    oa_field_set_dictionary(&f, OA_TYPE_INT8, 3, false);
    tu_add(s, f);
  }
  oa_builder b;
  oa_builder_init(&b, &s->fields[0], 0, err);
  oa_builder_append_cstr(&b, "p");
  oa_builder_append_cstr(&b, "q");
  oa_array cols[2];
  oa_builder_finish(&b, &cols[0], err);
  oa_array_copy(&cols[1], &cols[0], err);
  oa_batch batch;
  oa_batch_init(&batch);
  oa_batch_set(&batch, s, 2, cols, err);
  oa_ipc_encoder *enc;
  CHECK_OK(oa_ipc_encoder_new(&enc, s, NULL, err), err);
  msg_log log = {0};
  oa_bytes_init(&log.framed);
  CHECK_OK(oa_ipc_encoder_batch(enc, &batch, log_emit, &log, err), err);
  CHECK_EQ_INT(log.n, 2); /* one dictionary for both fields */
  oa_ipc_encoder_free(enc);
  oa_bytes_reset(&log.framed);
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(tu_write(OA_IPC_STREAM, s, NULL, &batch, 1, &out, err), err);
  read_all_equal(out.data, out.size, &batch, 1, false);
  oa_bytes_reset(&out);
  /* different dictionaries under one id are refused */
  oa_builder_append_cstr(&b, "r");
  oa_array other;
  oa_builder_finish(&b, &other, err);
  oa_array_reset(&batch.columns[1]);
  oa_array_move(&batch.columns[1], &other);
  batch.columns[1].length = 1;
  batch.length = 1;
  oa_array_reset(&batch.columns[0]);
  oa_builder_append_cstr(&b, "s");
  oa_builder_finish(&b, &batch.columns[0], err);
  CHECK_FAILS(tu_write(OA_IPC_STREAM, s, NULL, &batch, 1, &out, err), EINVAL,
              err, "different dictionaries");
  oa_bytes_reset(&out);
  oa_builder_reset(&b);
  oa_batch_reset(&batch);
  oa_schema_release(s);
}

OA_TEST(test_unknown_dictionary_id) {
  oa_error err_, *err = &err_;
  oa_schema *s = dict_schema();
  static const char *v[] = {"x"};
  oa_builder b;
  oa_builder_init(&b, &s->fields[0], 0, err);
  oa_batch batch;
  make_batch(s, &b, v, 1, &batch);
  oa_builder_reset(&b);
  oa_ipc_encoder *enc;
  CHECK_OK(oa_ipc_encoder_new(&enc, s, NULL, err), err);
  msg_log log = {0};
  oa_bytes_init(&log.framed);
  oa_ipc_message sm;
  oa_ipc_message_init(&sm);
  CHECK_OK(oa_ipc_encoder_schema(enc, &sm, err), err);
  CHECK_OK(oa_ipc_encoder_batch(enc, &batch, log_emit, &log, err), err);
  CHECK_EQ_INT(log.n, 2);
  /* skip the dictionary message: the record batch must be refused */
  oa_ipc_decoder *dec;
  CHECK_OK(oa_ipc_decoder_new(&dec, NULL, err), err);
  oa_ipc_msg_type type;
  oa_batch got;
  oa_batch_init(&got);
  CHECK_OK(oa_ipc_decoder_decode(dec, sm.metadata.data, sm.metadata.size, NULL,
                                 &type, &got, err),
           err);
  const uint8_t *p = log.framed.data;
  int64_t dict_len = 8 + oa_ipc_load_i32(p + 4);
  oa_ipc_message_meta mm;
  oa_ipc_message_meta_init(&mm);
  CHECK_OK(oa_ipc_message_meta_decode(p + 8, dict_len - 8, 64, &mm, err), err);
  int64_t skip = dict_len + mm.body_length;
  oa_ipc_message_meta_reset(&mm);
  p += skip;
  int64_t meta_len = oa_ipc_load_i32(p + 4);
  oa_ipc_message_meta_init(&mm);
  CHECK_OK(oa_ipc_message_meta_decode(p + 8, meta_len, 64, &mm, err), err);
  oa_buffer body = {p + 8 + meta_len, mm.body_length, NULL};
  oa_ipc_message_meta_reset(&mm);
  CHECK_FAILS(
      oa_ipc_decoder_decode(dec, p + 8, meta_len, &body, &type, &got, err),
      EINVAL, err, "dictionary id 42 has not been sent");
  /* a dictionary batch for an id no field uses */
  const uint8_t *d = log.framed.data;
  oa_ipc_message_meta_init(&mm);
  CHECK_OK(oa_ipc_message_meta_decode(d + 8, dict_len - 8, 64, &mm, err), err);
  oa_buffer dbody = {d + dict_len, mm.body_length, NULL};
  mm.dict_id = 7;
  CHECK_FAILS(oa_ipc_decoder_decode_meta(dec, &mm, &dbody, &type, NULL, err),
              EINVAL, err, "no field uses this dictionary id");
  mm.dict_id = 42;
  CHECK_OK(oa_ipc_decoder_decode_meta(dec, &mm, &dbody, &type, NULL, err), err);
  CHECK_EQ_INT(type, OA_IPC_MSG_DICTIONARY);
  oa_ipc_message_meta_reset(&mm);
  CHECK_OK(oa_ipc_decoder_decode(dec, p + 8, meta_len, &body, &type, &got, err),
           err);
  CHECK(oa_batch_equals(&batch, &got, err));
  oa_batch_reset(&got);
  oa_ipc_decoder_free(dec);
  oa_ipc_message_reset(&sm);
  oa_ipc_encoder_free(enc);
  oa_bytes_reset(&log.framed);
  oa_batch_reset(&batch);
  oa_schema_release(s);
}

OA_TEST(test_concat) {
  /* the delta path's concatenation, for nested and union types */
  oa_error err_, *err = &err_;
  oa_schema *s = tu_all_types_schema();
  oa_batch big;
  oa_batch_init(&big);
  CHECK_OK(tu_random_batch(s, 50, &big, err), err);
  for (int64_t c = 0; c < s->n_fields; c++) {
    const oa_field *f = &s->fields[c];
    if (f->dict.encoded) continue;
    oa_array parts[3], joined;
    oa_array_slice(&parts[0], &big.columns[c], 0, 7, err);
    oa_array_slice(&parts[1], &big.columns[c], 7, 0, err);
    oa_array_slice(&parts[2], &big.columns[c], 7, 43, err);
    int rc = oa_ipc_concat(f, parts, 3, &joined, err);
    CHECK_OK(rc, err);
    if (!rc) {
      bool eq = oa_array_equals(f, &big.columns[c], &joined, err);
      if (!eq) fprintf(stderr, "concat %s: %s\n", f->name, err->message);
      CHECK(eq);
      CHECK_OK(oa_array_validate(f, &joined, true, err), err);
      oa_array_reset(&joined);
    }
    for (int i = 0; i < 3; i++)
      oa_array_reset(&parts[i]);
  }
  oa_batch_reset(&big);
  oa_schema_release(s);
}

OA_TEST_MAIN(OA_T(test_deltas), OA_T(test_replacement), OA_T(test_shared_id),
             OA_T(test_unknown_dictionary_id), OA_T(test_concat))
