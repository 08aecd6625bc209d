/* Helpers shared by the IPC tests: a schema with every type, random batches
 * built with the builders, and write/read round trips. */
#ifndef OA_IPC_TEST_UTIL_H
#define OA_IPC_TEST_UTIL_H

#include "otlparrow/builder.h"
#include "otlparrow/ipc.h"
#include "test.h"
#include "test_arrow_util.h"

static uint64_t tu_rng_ = 88172645463325252ull;
static inline uint64_t tu_rand(void) {
  tu_rng_ ^= tu_rng_ << 13;
  tu_rng_ ^= tu_rng_ >> 7;
  tu_rng_ ^= tu_rng_ << 17;
  return tu_rng_;
}

static inline void tu_add(oa_schema *s, oa_field f) {
  oa_schema_add_field(s, &f, NULL);
}

/* A schema with every type of arrow.h, nested types and dictionaries. */
static inline oa_schema *tu_all_types_schema(void) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  for (int t = OA_TYPE_NA; t <= OA_TYPE_DECIMAL256; t++) {
    char name[32];
    snprintf(name, sizeof name, "c_%s", oa_type_name((oa_type_id)t));
    oa_field f = tf(name, (oa_type_id)t);
    if (t == OA_TYPE_FIXED_SIZE_BINARY) f.type.byte_width = 5;
    if (t == OA_TYPE_TIMESTAMP) oa_field_set_timezone(&f, "UTC", NULL);
    if (t == OA_TYPE_DECIMAL128) f.type.scale = 2;
    tu_add(s, f);
  }
  oa_field l = tf("c_list", OA_TYPE_LIST);
  tchild(&l, tf("item", OA_TYPE_INT32));
  tu_add(s, l);
  oa_field ll = tf("c_large_list", OA_TYPE_LARGE_LIST);
  tchild(&ll, tf("item", OA_TYPE_STRING));
  tu_add(s, ll);
  oa_field fsl = tf("c_fsl", OA_TYPE_FIXED_SIZE_LIST);
  fsl.type.list_size = 3;
  tchild(&fsl, tf("item", OA_TYPE_BOOL));
  tu_add(s, fsl);
  oa_field st = tf("c_struct", OA_TYPE_STRUCT);
  tchild(&st, tf("a", OA_TYPE_INT64));
  oa_field inner = tf("b", OA_TYPE_LIST);
  tchild(&inner, tf("item", OA_TYPE_BINARY));
  tchild(&st, inner);
  tu_add(s, st);
  oa_field m = tf("c_map", OA_TYPE_MAP);
  oa_field ent = tf("entries", OA_TYPE_STRUCT);
  ent.nullable = false;
  oa_field key = tf("key", OA_TYPE_STRING);
  key.nullable = false;
  tchild(&ent, key);
  tchild(&ent, tf("value", OA_TYPE_DOUBLE));
  tchild(&m, ent);
  tu_add(s, m);
  for (int u = 0; u < 2; u++) {
    oa_field un = tf(u ? "c_dense" : "c_sparse",
                     u ? OA_TYPE_DENSE_UNION : OA_TYPE_SPARSE_UNION);
    tchild(&un, tf("i", OA_TYPE_INT16));
    tchild(&un, tf("s", OA_TYPE_STRING));
    un.type.type_codes[0] = 5;
    un.type.type_codes[1] = 9;
    tu_add(s, un);
  }
  oa_field d = tf("c_dict", OA_TYPE_STRING);
  oa_field_set_dictionary(&d, OA_TYPE_INT16, 7, false);
  tu_add(s, d);
  oa_field d2 = tf("c_dict_int", OA_TYPE_INT32);
  oa_field_set_dictionary(&d2, OA_TYPE_INT8, 9, false);
  tu_add(s, d2);
  oa_field ld = tf("c_list_dict", OA_TYPE_LIST);
  oa_field di = tf("item", OA_TYPE_INT64);
  oa_field_set_dictionary(&di, OA_TYPE_UINT8, 8, false);
  tchild(&ld, di);
  tu_add(s, ld);
  return s;
}

static inline int tu_append_random(oa_builder *b, const oa_field *f);

static inline int tu_append_value(oa_builder *b, const oa_field *f) {
  uint64_t r = tu_rand();
  if (f->dict.encoded) {
    if (f->type.id == OA_TYPE_STRING) {
      char v[8];
      snprintf(v, sizeof v, "v%d", (int)(r % 6));
      return oa_builder_append_cstr(b, v);
    }
    return oa_builder_append_int(b, (int64_t)(r % 5) * 1000);
  }
  switch (f->type.id) {
  case OA_TYPE_NA:
    return oa_builder_append_null(b);
  case OA_TYPE_BOOL:
    return oa_builder_append_bool(b, r & 1);
  case OA_TYPE_INT8:
  case OA_TYPE_INT16:
  case OA_TYPE_INT32:
  case OA_TYPE_INT64:
  case OA_TYPE_DATE32:
  case OA_TYPE_DATE64:
  case OA_TYPE_TIME32:
  case OA_TYPE_TIME64:
  case OA_TYPE_TIMESTAMP:
  case OA_TYPE_DURATION:
  case OA_TYPE_INTERVAL_MONTHS:
    return oa_builder_append_int(b, (int64_t)(r % 200) - 100);
  case OA_TYPE_UINT8:
  case OA_TYPE_UINT16:
  case OA_TYPE_UINT32:
  case OA_TYPE_UINT64:
    return oa_builder_append_uint(b, r % 250);
  case OA_TYPE_HALF_FLOAT:
  case OA_TYPE_FLOAT:
  case OA_TYPE_DOUBLE:
    return oa_builder_append_double(b, (double)(r % 64) / 4);
  case OA_TYPE_STRING:
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_BINARY: {
    char v[16];
    int n = (int)(r % 12);
    for (int i = 0; i < n; i++)
      v[i] = (char)('a' + (r >> (8 + i)) % 26);
    return oa_builder_append_bytes(b, v, n);
  }
  case OA_TYPE_FIXED_SIZE_BINARY:
  case OA_TYPE_INTERVAL_DAY_TIME:
  case OA_TYPE_INTERVAL_MONTH_DAY_NANO:
  case OA_TYPE_DECIMAL128:
  case OA_TYPE_DECIMAL256: {
    uint8_t v[32];
    int64_t w = oa_datatype_bit_width(&f->type) / 8;
    for (int64_t i = 0; i < w; i++)
      v[i] = (uint8_t)tu_rand();
    return oa_builder_append_bytes(b, v, w);
  }
  case OA_TYPE_LIST:
  case OA_TYPE_LARGE_LIST:
  case OA_TYPE_MAP: {
    int n = (int)(r % 4);
    for (int i = 0; i < n; i++) {
      int rc = tu_append_random(&b->children[0], &f->children[0]);
      if (rc) return rc;
    }
    return oa_builder_append_valid(b);
  }
  case OA_TYPE_FIXED_SIZE_LIST:
    for (int i = 0; i < f->type.list_size; i++) {
      int rc = tu_append_random(&b->children[0], &f->children[0]);
      if (rc) return rc;
    }
    return oa_builder_append_valid(b);
  case OA_TYPE_STRUCT:
    for (int64_t i = 0; i < f->n_children; i++) {
      int rc = tu_append_random(&b->children[i], &f->children[i]);
      if (rc) return rc;
    }
    return oa_builder_append_valid(b);
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION: {
    int k = (int)(r % (uint64_t)f->n_children);
    int rc = tu_append_random(&b->children[k], &f->children[k]);
    if (rc) return rc;
    return oa_builder_append_union(b, k);
  }
  default:
    return EINVAL;
  }
}

/* A value, or a null one time in five when the field is nullable. */
static inline int tu_append_random(oa_builder *b, const oa_field *f) {
  bool is_union = !f->dict.encoded && (f->type.id == OA_TYPE_SPARSE_UNION ||
                                       f->type.id == OA_TYPE_DENSE_UNION);
  if (f->nullable && !is_union && tu_rand() % 5 == 0)
    return oa_builder_append_null(b);
  return tu_append_value(b, f);
}

static inline int tu_append_random_row(oa_builder *b, const oa_field *f,
                                       int64_t r) {
  (void)r;
  return tu_append_random(b, f);
}

/* A batch of n random rows of schema s. */
static inline int tu_random_batch(oa_schema *s, int64_t n, oa_batch *out,
                                  oa_error *err) {
  return tbuild_batch(s, n, tu_append_random_row, out, err);
}

/* Messages kept past an encoder's emit callback (oa_ipc_message_share). */
typedef struct tu_kept {
  oa_ipc_message v[1024];
  int64_t n;
} tu_kept;

/* An oa_ipc_emit_fn: ctx is a tu_kept. */
static inline int tu_keep(void *ctx, const oa_ipc_message *m, oa_error *err) {
  tu_kept *k = ctx;
  if (k->n == 1024) return oa_error_set(err, E2BIG, "too many messages");
  oa_ipc_message_init(&k->v[k->n]);
  OA_RETURN_NOT_OK(oa_ipc_message_share(&k->v[k->n], m, err));
  k->n++;
  return 0;
}

static inline void tu_kept_reset(tu_kept *k) {
  for (int64_t i = 0; i < k->n; i++)
    oa_ipc_message_reset(&k->v[i]);
  k->n = 0;
}

/* Writes batches with the writer to bytes. */
static inline int tu_write(oa_ipc_format fmt, oa_schema *s,
                           const oa_ipc_write_options *opt,
                           const oa_batch *batches, int64_t n, oa_bytes *out,
                           oa_error *err) {
  oa_ipc_writer *w;
  int rc = oa_ipc_writer_new(&w, fmt, s, opt, oa_sink_bytes(out), err);
  if (rc) return rc;
  for (int64_t i = 0; i < n && !rc; i++)
    rc = oa_ipc_writer_write(w, &batches[i], err);
  if (!rc) rc = oa_ipc_writer_finish(w, err);
  if (!rc && oa_ipc_writer_bytes_written(w) != out->size)
    rc = oa_error_set(err, EIO, "bytes_written %lld != %lld",
                      (long long)oa_ipc_writer_bytes_written(w),
                      (long long)out->size);
  oa_ipc_writer_free(w);
  return rc;
}

/* Reads a stream from bytes pushed in pieces of `piece` bytes (0: one push;
 * -1: random sizes). Batches are appended to *out (realloc'ed). */
static inline int tu_read_stream(const uint8_t *data, int64_t len,
                                 int64_t piece, const oa_ipc_read_options *opt,
                                 oa_batch **out, int64_t *n_out,
                                 oa_error *err) {
  oa_ipc_stream_reader *r;
  int rc = oa_ipc_stream_reader_new(&r, opt, err);
  if (rc) return rc;
  int64_t pos = 0;
  *out = NULL;
  *n_out = 0;
  while (!rc) {
    bool got = false;
    oa_batch b;
    oa_batch_init(&b);
    rc = oa_ipc_stream_reader_next(r, &b, &got, err);
    if (rc) break;
    if (got) {
      *out = realloc(*out, (size_t)(*n_out + 1) * sizeof **out);
      oa_batch_move(&(*out)[(*n_out)++], &b);
      continue;
    }
    if (oa_ipc_stream_reader_done(r) || pos >= len) break;
    int64_t n = piece == 0  ? len - pos
                : piece > 0 ? piece
                            : 1 + (int64_t)(tu_rand() % 97);
    if (n > len - pos) n = len - pos;
    rc = oa_ipc_stream_reader_push(r, data + pos, n, err);
    pos += n;
  }
  if (!rc) rc = oa_ipc_stream_reader_close(r, err);
  oa_ipc_stream_reader_free(r);
  return rc;
}

static inline int tu_read_file(const uint8_t *data, int64_t len,
                               const oa_ipc_read_options *opt, oa_batch **out,
                               int64_t *n_out, oa_error *err) {
  oa_region *reg = oa_region_alloc(len);
  if (len) memcpy(reg->data, data, (size_t)len);
  oa_buffer buf = {reg->data, len, reg};
  oa_ipc_file_reader *r;
  *out = NULL;
  *n_out = 0;
  int rc = oa_ipc_file_reader_open_buffer(&r, &buf, opt, err);
  oa_region_release(reg);
  if (rc) return rc;
  int64_t n = oa_ipc_file_reader_n_batches(r);
  *out = calloc((size_t)(n ? n : 1), sizeof **out);
  for (int64_t i = 0; i < n && !rc; i++) {
    rc = oa_ipc_file_reader_read(r, i, &(*out)[i], err);
    if (!rc) *n_out = i + 1;
  }
  oa_ipc_file_reader_free(r);
  return rc;
}

static inline void tu_free_batches(oa_batch *b, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    oa_batch_reset(&b[i]);
  free(b);
}

#endif
