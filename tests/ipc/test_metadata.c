/* Arrow IPC metadata: every message of the arrow-testing integration files,
 * schema/batch/footer round trips, hand-checked schemas and bad inputs. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/flatbuf.h"
#include "ipc/metadata.h"
#include "test.h"

/* ---------------------------------------------------------------- helpers */

static uint8_t *read_all(const char *path, int64_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *len = n;
  return buf;
}

static int32_t rd32(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* One framed message: where its flatbuffer is, and where the next starts.
 * Returns 1 for a message, 0 at end of stream, -1 on bad framing. */
static int frame_at(const uint8_t *buf, int64_t len, int64_t pos, int64_t *meta,
                    int32_t *meta_len, int64_t *prefix) {
  if (pos + 4 > len) return -1;
  int32_t v = rd32(buf + pos);
  *prefix = 4;
  if (v == -1) { /* continuation marker */
    if (pos + 8 > len) return -1;
    v = rd32(buf + pos + 4);
    *prefix = 8;
  }
  if (v == 0) return 0;
  if (v < 0 || pos + *prefix + v > len) return -1;
  *meta = pos + *prefix;
  *meta_len = v;
  return 1;
}

typedef struct file_stats {
  int n_schema, n_dict, n_batch;
  int n_lz4, n_zstd;
  oa_schema *schema; /* first schema seen (retained) */
} file_stats;

/* Decodes msg, checks that re-encoding its header gives an equal decode. */
static void check_message(const char *what, const uint8_t *buf, int64_t len,
                          oa_ipc_message_meta *m, file_stats *st) {
  oa_error err_s, *err = &err_s;
  int rc = oa_ipc_message_meta_decode(buf, len, 64, m, err);
  if (rc) {
    fprintf(stderr, "%s: decode failed: %s\n", what, err->message);
    CHECK_EQ_INT(rc, 0);
    return;
  }
  CHECK(m->version == OA_IPC_METADATA_V4 || m->version == OA_IPC_METADATA_V5);
  CHECK(m->body_length >= 0 && m->body_length % 8 == 0);
  oa_bytes out;
  oa_bytes_init(&out);
  oa_ipc_message_meta back;
  oa_ipc_message_meta_init(&back);
  if (m->header_type == OA_IPC_HEADER_SCHEMA) {
    st->n_schema++;
    CHECK(m->schema != NULL);
    CHECK_EQ_INT(m->body_length, 0);
    if (!st->schema && m->schema) {
      oa_schema_retain(m->schema);
      st->schema = m->schema;
    }
    CHECK_OK(oa_ipc_encode_schema_message(m->schema, &out, err), err);
    CHECK_EQ_INT(out.size % 8, 0);
    CHECK_OK(oa_ipc_message_meta_decode(out.data, out.size, 64, &back, err),
             err);
    CHECK_EQ_INT(back.header_type, OA_IPC_HEADER_SCHEMA);
    CHECK_EQ_INT(back.version, OA_IPC_METADATA_V5);
    if (back.schema && !oa_schema_equals(m->schema, back.schema, true, err)) {
      fprintf(stderr, "%s: schema round trip: %s\n", what, err->message);
      CHECK(0);
    }
  } else {
    bool dict = m->header_type == OA_IPC_HEADER_DICTIONARY_BATCH;
    CHECK(dict || m->header_type == OA_IPC_HEADER_RECORD_BATCH);
    if (dict)
      st->n_dict++;
    else
      st->n_batch++;
    if (m->batch.compression == OA_COMPRESSION_LZ4_FRAME) st->n_lz4++;
    if (m->batch.compression == OA_COMPRESSION_ZSTD) st->n_zstd++;
    /* buffers lie in the body (the decoder checked it; check again) */
    for (int64_t i = 0; i < m->batch.n_buffers; i++)
      CHECK(m->batch.buffers[i].offset + m->batch.buffers[i].length <=
            m->body_length);
    CHECK_OK(oa_ipc_encode_batch_message(&m->batch, m->body_length, dict,
                                         m->dict_id, m->is_delta, &out, err),
             err);
    CHECK_EQ_INT(out.size % 8, 0);
    CHECK_OK(oa_ipc_message_meta_decode(out.data, out.size, 64, &back, err),
             err);
    CHECK_EQ_INT(back.header_type, m->header_type);
    CHECK_EQ_INT(back.body_length, m->body_length);
    CHECK_EQ_INT(back.dict_id, m->dict_id);
    CHECK_EQ_INT(back.is_delta, m->is_delta);
    CHECK_EQ_INT(back.batch.length, m->batch.length);
    CHECK_EQ_INT(back.batch.compression, m->batch.compression);
    CHECK_EQ_INT(back.batch.n_nodes, m->batch.n_nodes);
    CHECK_EQ_INT(back.batch.n_buffers, m->batch.n_buffers);
    if (back.batch.n_nodes == m->batch.n_nodes && m->batch.n_nodes)
      CHECK(memcmp(back.batch.nodes, m->batch.nodes,
                   (size_t)m->batch.n_nodes * sizeof *m->batch.nodes) == 0);
    if (back.batch.n_buffers == m->batch.n_buffers && m->batch.n_buffers)
      CHECK(memcmp(back.batch.buffers, m->batch.buffers,
                   (size_t)m->batch.n_buffers * sizeof *m->batch.buffers) == 0);
  }
  oa_ipc_message_meta_reset(&back);
  oa_bytes_reset(&out);
}

/* Walks a stream starting at pos; returns the number of messages. */
static int walk_stream(const char *path, const uint8_t *buf, int64_t len,
                       int64_t pos, file_stats *st) {
  int n = 0;
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  for (;;) {
    int64_t meta, prefix;
    int32_t meta_len;
    int fr = frame_at(buf, len, pos, &meta, &meta_len, &prefix);
    if (fr <= 0) {
      if (fr < 0)
        fprintf(stderr, "%s: bad framing at %lld\n", path, (long long)pos);
      CHECK_EQ_INT(fr, 0);
      break;
    }
    char what[600];
    snprintf(what, sizeof what, "%s message %d", path, n);
    check_message(what, buf + meta, meta_len, &m, st);
    n++;
    if (m.header_type == 0) break; /* failed: framing unknown from here */
    pos = meta + meta_len + m.body_length;
  }
  oa_ipc_message_meta_reset(&m);
  return n;
}

static void check_file(const char *path, const uint8_t *buf, int64_t len,
                       file_stats *st) {
  oa_error err_s, *err = &err_s;
  CHECK(len > 18 && memcmp(buf, "ARROW1", 6) == 0 &&
        memcmp(buf + len - 6, "ARROW1", 6) == 0);
  if (len <= 18) return;
  walk_stream(path, buf, len, 8, st);
  int32_t flen = rd32(buf + len - 10);
  CHECK(flen > 0 && flen <= len - 18);
  if (flen <= 0 || flen > len - 18) return;
  oa_ipc_footer f;
  oa_ipc_footer_init(&f);
  int rc = oa_ipc_footer_decode(buf + len - 10 - flen, flen, 64, &f, err);
  if (rc) fprintf(stderr, "%s: footer: %s\n", path, err->message);
  CHECK_EQ_INT(rc, 0);
  if (rc) return;
  CHECK_EQ_INT(f.n_batches, st->n_batch);
  CHECK_EQ_INT(f.n_dictionaries, st->n_dict);
  if (st->schema && !oa_schema_equals(st->schema, f.schema, true, err)) {
    fprintf(stderr, "%s: footer schema != stream schema: %s\n", path,
            err->message);
    CHECK(0);
  }
  /* blocks point at messages of the right kind and size */
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  for (int64_t i = 0; i < f.n_dictionaries + f.n_batches; i++) {
    bool is_dict = i < f.n_dictionaries;
    const oa_ipc_block *b =
        is_dict ? &f.dictionaries[i] : &f.batches[i - f.n_dictionaries];
    int64_t meta, prefix;
    int32_t meta_len;
    int fr = frame_at(buf, len, b->offset, &meta, &meta_len, &prefix);
    CHECK_EQ_INT(fr, 1);
    if (fr != 1) continue;
    CHECK_EQ_INT(b->metadata_length, prefix + meta_len);
    CHECK_OK(oa_ipc_message_meta_decode(buf + meta, meta_len, 64, &m, err),
             err);
    CHECK_EQ_INT(m.header_type, is_dict ? OA_IPC_HEADER_DICTIONARY_BATCH
                                        : OA_IPC_HEADER_RECORD_BATCH);
    CHECK_EQ_INT(m.body_length, b->body_length);
  }
  oa_ipc_message_meta_reset(&m);
  /* footer round trip */
  oa_bytes out;
  oa_bytes_init(&out);
  oa_ipc_footer back;
  oa_ipc_footer_init(&back);
  CHECK_OK(oa_ipc_encode_footer(&f, &out, err), err);
  CHECK_OK(oa_ipc_footer_decode(out.data, out.size, 64, &back, err), err);
  CHECK_EQ_INT(back.n_batches, f.n_batches);
  CHECK_EQ_INT(back.n_dictionaries, f.n_dictionaries);
  for (int64_t i = 0; i < f.n_batches && back.n_batches == f.n_batches; i++) {
    CHECK_EQ_INT(back.batches[i].offset, f.batches[i].offset);
    CHECK_EQ_INT(back.batches[i].metadata_length, f.batches[i].metadata_length);
    CHECK_EQ_INT(back.batches[i].body_length, f.batches[i].body_length);
  }
  if (back.schema) CHECK(oa_schema_equals(f.schema, back.schema, true, err));
  oa_ipc_footer_reset(&back);
  oa_bytes_reset(&out);
  oa_ipc_footer_reset(&f);
}

static void stats_reset(file_stats *st) {
  oa_schema_release(st->schema);
  memset(st, 0, sizeof *st);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ------------------------------------------------------------ integration */

OA_TEST(all_integration_files) {
  static const char *const versions[] = {
      "0.14.1", "1.0.0-littleendian", "2.0.0-compression", "4.0.0-shareddict"};
  int n_files = 0;
  for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++) {
    char dir[512], rel[256];
    snprintf(rel, sizeof rel, "arrow-testing/integration/%s", versions[v]);
    oa_test_shared_path(dir, sizeof dir, rel);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d) {
      fprintf(stderr, "cannot open %s\n", dir);
      continue;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      bool stream = ends_with(e->d_name, ".stream");
      bool file = ends_with(e->d_name, ".arrow_file");
      if (!stream && !file) continue;
      char path[1024];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      int64_t len;
      uint8_t *buf = read_all(path, &len);
      CHECK(buf != NULL);
      if (!buf) continue;
      file_stats st;
      memset(&st, 0, sizeof st);
      if (stream) {
        int n = walk_stream(path, buf, len, 0, &st);
        CHECK(n >= 1);
      } else {
        check_file(path, buf, len, &st);
      }
      CHECK_EQ_INT(st.n_schema, 1);
      if (strstr(e->d_name, "compression") || strstr(dir, "compression")) {
        bool lz4 = strstr(e->d_name, "lz4") != NULL;
        CHECK_EQ_INT(lz4 ? st.n_lz4 : st.n_zstd, st.n_batch);
      } else {
        CHECK_EQ_INT(st.n_lz4 + st.n_zstd, 0);
      }
      stats_reset(&st);
      free(buf);
      n_files++;
    }
    closedir(d);
  }
  CHECK(n_files >= 72); /* 4 versions, 36 cases, 2 formats */
}

/* Schema of one integration stream (first message). */
static oa_schema *load_schema(const char *rel) {
  char path[1024];
  oa_error err_s, *err = &err_s;
  oa_test_shared_path(path, sizeof path, rel);
  int64_t len, meta, prefix;
  int32_t meta_len;
  uint8_t *buf = read_all(path, &len);
  if (!buf) {
    fprintf(stderr, "cannot read %s\n", path);
    return NULL;
  }
  oa_schema *s = NULL;
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  if (frame_at(buf, len, 0, &meta, &meta_len, &prefix) == 1 &&
      oa_ipc_message_meta_decode(buf + meta, meta_len, 64, &m, err) == 0 &&
      m.schema) {
    s = m.schema;
    oa_schema_retain(s);
  }
  oa_ipc_message_meta_reset(&m);
  free(buf);
  return s;
}

static const char *type_str(const oa_field *f, char *buf, size_t cap) {
  oa_field_format_type(f, buf, cap);
  return buf;
}

#define V1 "arrow-testing/integration/1.0.0-littleendian/"

OA_TEST(primitive_schema) {
  char t[512];
  oa_schema *s = load_schema(V1 "generated_primitive.stream");
  CHECK(s != NULL);
  if (!s) return;
  CHECK_EQ_INT(s->n_fields, 30);
  static const struct {
    const char *name, *type;
  } want[] = {{"bool_nullable", "bool"},
              {"bool_nonnullable", "bool"},
              {"int8_nullable", "int8"},
              {"int16_nonnullable", "int16"},
              {"int32_nullable", "int32"},
              {"int64_nonnullable", "int64"},
              {"uint8_nullable", "uint8"},
              {"uint16_nullable", "uint16"},
              {"uint32_nonnullable", "uint32"},
              {"uint64_nullable", "uint64"},
              {"float32_nullable", "float32"},
              {"float64_nonnullable", "float64"},
              {"binary_nullable", "binary"},
              {"utf8_nonnullable", "utf8"},
              {"fixedsizebinary_19_nullable", "fixed_size_binary[19]"},
              {"fixedsizebinary_120_nonnullable", "fixed_size_binary[120]"}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    int64_t k = oa_schema_find(s, want[i].name);
    CHECK(k >= 0);
    if (k < 0) continue;
    const oa_field *f = &s->fields[k];
    CHECK_EQ_STR(type_str(f, t, sizeof t), want[i].type);
    CHECK_EQ_INT(f->nullable, strstr(want[i].name, "_nullable") != NULL);
    CHECK_EQ_INT(f->n_children, 0);
    CHECK(!f->dict.encoded);
  }
  CHECK_EQ_STR(s->fields[0].name, "bool_nullable");
  CHECK_EQ_INT(s->metadata.n, 0);
  oa_schema_release(s);
}

OA_TEST(datetime_schema) {
  char t[512];
  oa_schema *s = load_schema(V1 "generated_datetime.stream");
  CHECK(s != NULL);
  if (!s) return;
  static const char *const want[] = {"date32",
                                     "date64",
                                     "time32[s]",
                                     "time32[ms]",
                                     "time64[us]",
                                     "time64[ns]",
                                     "timestamp[s]",
                                     "timestamp[ms]",
                                     "timestamp[us]",
                                     "timestamp[ns]",
                                     "timestamp[ms]",
                                     "timestamp[s, tz=UTC]",
                                     "timestamp[ms, tz=US/Eastern]",
                                     "timestamp[us, tz=Europe/Paris]",
                                     "timestamp[ns, tz=US/Pacific]"};
  CHECK_EQ_INT(s->n_fields, 15);
  for (int64_t i = 0; i < s->n_fields && i < 15; i++) {
    char name[8];
    snprintf(name, sizeof name, "f%d", (int)i);
    CHECK_EQ_STR(s->fields[i].name, name);
    CHECK_EQ_STR(type_str(&s->fields[i], t, sizeof t), want[i]);
    CHECK(s->fields[i].nullable);
  }
  oa_schema_release(s);
}

OA_TEST(dictionary_schema) {
  char t[512];
  oa_schema *s = load_schema(V1 "generated_dictionary.stream");
  CHECK(s != NULL);
  if (!s) return;
  CHECK_EQ_INT(s->n_fields, 3);
  if (s->n_fields == 3) {
    CHECK_EQ_STR(s->fields[0].name, "dict0");
    CHECK_EQ_STR(type_str(&s->fields[0], t, sizeof t),
                 "dictionary<values=utf8, indices=int8>");
    CHECK_EQ_INT(s->fields[0].dict.id, 0);
    CHECK_EQ_STR(type_str(&s->fields[1], t, sizeof t),
                 "dictionary<values=utf8, indices=int32>");
    CHECK_EQ_INT(s->fields[1].dict.id, 1);
    CHECK_EQ_STR(type_str(&s->fields[2], t, sizeof t),
                 "dictionary<values=int64, indices=int16>");
    CHECK_EQ_INT(s->fields[2].dict.id, 2);
    for (int i = 0; i < 3; i++) {
      CHECK(s->fields[i].dict.encoded && !s->fields[i].dict.ordered);
      CHECK(s->fields[i].nullable);
    }
  }
  oa_schema_release(s);
}

OA_TEST(union_schema) {
  char t[512];
  oa_schema *s = load_schema(V1 "generated_union.stream");
  CHECK(s != NULL);
  if (!s) return;
  CHECK_EQ_INT(s->n_fields, 4);
  if (s->n_fields == 4) {
    const oa_field *f = s->fields;
    CHECK_EQ_STR(type_str(&f[0], t, sizeof t),
                 "sparse_union<f1: int32, f2: utf8>");
    CHECK_EQ_INT(f[0].type.type_codes[0], 5);
    CHECK_EQ_INT(f[0].type.type_codes[1], 7);
    CHECK_EQ_STR(type_str(&f[1], t, sizeof t),
                 "dense_union<f1: int16, f2: binary>");
    CHECK_EQ_INT(f[1].type.type_codes[0], 10);
    CHECK_EQ_INT(f[1].type.type_codes[1], 20);
    CHECK_EQ_STR(type_str(&f[2], t, sizeof t),
                 "sparse_union<f1: float32, f2: bool>");
    CHECK(!f[2].nullable && !f[2].children[0].nullable &&
          f[2].children[1].nullable);
    CHECK_EQ_STR(type_str(&f[3], t, sizeof t),
                 "dense_union<f1: uint8, f2: uint16, f3: null>");
    CHECK_EQ_INT(f[3].type.type_codes[0], 42);
    CHECK_EQ_INT(f[3].type.type_codes[2], 44);
  }
  oa_schema_release(s);
}

OA_TEST(map_schema) {
  char t[512];
  oa_schema *s = load_schema(V1 "generated_map.stream");
  CHECK(s != NULL);
  if (!s) return;
  CHECK_EQ_INT(s->n_fields, 1);
  const oa_field *f = &s->fields[0];
  CHECK_EQ_STR(f->name, "map_nullable");
  CHECK_EQ_STR(type_str(f, t, sizeof t),
               "map<entries: struct<key: utf8, value: int32>>");
  CHECK(f->nullable && !f->type.keys_sorted);
  if (f->n_children == 1 && f->children[0].n_children == 2) {
    CHECK(!f->children[0].nullable);
    CHECK(!f->children[0].children[0].nullable);
    CHECK(f->children[0].children[1].nullable);
  }
  oa_schema_release(s);
}

OA_TEST(decimal256_schema) {
  char t[512];
  oa_schema *s = load_schema(V1 "generated_decimal256.stream");
  CHECK(s != NULL);
  if (!s) return;
  CHECK(s->n_fields > 2);
  CHECK_EQ_STR(type_str(&s->fields[0], t, sizeof t), "decimal256(37, 5)");
  CHECK_EQ_STR(type_str(&s->fields[1], t, sizeof t), "decimal256(38, 5)");
  CHECK_EQ_INT(s->fields[0].type.id, OA_TYPE_DECIMAL256);
  oa_schema_release(s);
  s = load_schema(V1 "generated_decimal.stream");
  CHECK(s != NULL);
  if (s) CHECK_EQ_INT(s->fields[0].type.id, OA_TYPE_DECIMAL128);
  oa_schema_release(s);
}

OA_TEST(custom_metadata_schema) {
  char t[512];
  oa_schema *s = load_schema(V1 "generated_custom_metadata.stream");
  CHECK(s != NULL);
  if (!s) return;
  CHECK_EQ_INT(s->n_fields, 4);
  CHECK_EQ_INT(s->metadata.n, 2);
  const oa_kv *kv = oa_metadata_find(&s->metadata, "schema_custom_1");
  CHECK(kv && strcmp(kv->value, "{}") == 0);
  if (s->n_fields == 4) {
    const oa_field *f = s->fields;
    CHECK_EQ_STR(f[0].name, "sort_of_pandas");
    CHECK_EQ_INT(f[0].metadata.n, 1);
    kv = oa_metadata_find(&f[0].metadata, "pandas");
    CHECK(kv && kv->value_len == 2 && strcmp(kv->value, "{}") == 0);
    CHECK_EQ_INT(f[1].metadata.n, 9);
    CHECK(oa_metadata_find(&f[1].metadata, "..") != NULL);
    kv = oa_metadata_find(&f[2].metadata, "ARROW:extension:name");
    CHECK(kv && strcmp(kv->value, "!nonexistent") == 0);
    kv = oa_metadata_find(&f[2].metadata, "ARROW:extension:metadata");
    CHECK(kv && kv->value_len == 0);
    CHECK_EQ_STR(type_str(&f[3], t, sizeof t), "list<item: int32>");
    if (f[3].n_children == 1)
      CHECK(oa_metadata_find(&f[3].children[0].metadata, "odd_values"));
  }
  oa_schema_release(s);
}

OA_TEST(shared_dictionary_schema) {
  oa_schema *s = load_schema("arrow-testing/integration/4.0.0-shareddict/"
                             "generated_shared_dict.stream");
  CHECK(s != NULL);
  if (!s) return;
  /* several fields use the one dictionary of id 0 */
  int n0 = 0;
  for (int64_t i = 0; i < s->n_fields; i++) {
    const oa_field *f = &s->fields[i];
    if (f->dict.encoded && f->dict.id == 0) n0++;
    for (int64_t j = 0; j < f->n_children; j++)
      if (f->children[j].dict.encoded && f->children[j].dict.id == 0) n0++;
  }
  CHECK(n0 >= 2);
  oa_schema_release(s);
}

/* Record batches of generated_primitive: lengths 17 and 20 from the JSON, 30
 * fields with 2 or 3 buffers each. */
OA_TEST(primitive_batches) {
  char path[1024];
  oa_error err_s, *err = &err_s;
  oa_test_shared_path(path, sizeof path, V1 "generated_primitive.stream");
  int64_t len, pos = 0;
  uint8_t *buf = read_all(path, &len);
  CHECK(buf != NULL);
  if (!buf) return;
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  int64_t lengths[4];
  int n = 0;
  for (;;) {
    int64_t meta, prefix;
    int32_t meta_len;
    if (frame_at(buf, len, pos, &meta, &meta_len, &prefix) != 1) break;
    CHECK_OK(oa_ipc_message_meta_decode(buf + meta, meta_len, 64, &m, err),
             err);
    if (m.header_type == OA_IPC_HEADER_RECORD_BATCH && n < 4) {
      lengths[n++] = m.batch.length;
      CHECK_EQ_INT(m.batch.n_nodes, 30);
      /* 8 bool/int + ... : 22 fixed-width x 2 + 4 var-width x 3 + 4 fsb x 2 */
      CHECK_EQ_INT(m.batch.n_buffers, 22 * 2 + 4 * 3 + 4 * 2);
      CHECK_EQ_INT(m.batch.nodes[1].null_count, 0); /* bool_nonnullable */
      CHECK_EQ_INT(m.batch.nodes[0].length, m.batch.length);
    }
    if (m.header_type == 0) break;
    pos = meta + meta_len + m.body_length;
  }
  CHECK_EQ_INT(n, 2);
  if (n == 2) {
    CHECK_EQ_INT(lengths[0], 17);
    CHECK_EQ_INT(lengths[1], 20);
  }
  oa_ipc_message_meta_reset(&m);
  free(buf);
}

/* -------------------------------------------------------- encode / decode */

static void add_simple(oa_field *parent, oa_schema *s, const char *name,
                       oa_type_id id) {
  oa_field f;
  oa_field_init(&f, name, id, NULL);
  if (parent)
    oa_field_add_child(parent, &f, NULL);
  else
    oa_schema_add_field(s, &f, NULL);
}

/* A schema with every supported type, built by hand. */
static oa_schema *every_type_schema(void) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  for (int id = OA_TYPE_NA; id < OA_TYPE_COUNT; id++) {
    oa_field f;
    char name[64];
    snprintf(name, sizeof name, "c_%s", oa_type_name((oa_type_id)id));
    oa_field_init(&f, name, (oa_type_id)id, NULL);
    f.nullable = id % 3 != 0;
    switch (id) {
    case OA_TYPE_TIME32:
      f.type.unit = OA_TIME_UNIT_SECOND;
      break;
    case OA_TYPE_TIME64:
      f.type.unit = OA_TIME_UNIT_MICRO;
      break;
    case OA_TYPE_TIMESTAMP:
      f.type.unit = OA_TIME_UNIT_MILLI;
      oa_field_set_timezone(&f, "+07:30", NULL);
      break;
    case OA_TYPE_DURATION:
      f.type.unit = OA_TIME_UNIT_SECOND;
      break;
    case OA_TYPE_FIXED_SIZE_BINARY:
      f.type.byte_width = 16;
      break;
    case OA_TYPE_DECIMAL128:
      f.type.precision = 20;
      f.type.scale = -3;
      break;
    case OA_TYPE_DECIMAL256:
      f.type.precision = 60;
      f.type.scale = 10;
      break;
    case OA_TYPE_LIST:
    case OA_TYPE_LARGE_LIST:
      add_simple(&f, NULL, "item", OA_TYPE_STRING);
      break;
    case OA_TYPE_FIXED_SIZE_LIST:
      f.type.list_size = 3;
      add_simple(&f, NULL, "item", OA_TYPE_FLOAT);
      break;
    case OA_TYPE_STRUCT:
      add_simple(&f, NULL, "a", OA_TYPE_INT8);
      add_simple(&f, NULL, "", OA_TYPE_BOOL);
      break;
    case OA_TYPE_MAP: {
      oa_field e;
      oa_field_init(&e, "entries", OA_TYPE_STRUCT, NULL);
      e.nullable = false;
      add_simple(&e, NULL, "key", OA_TYPE_STRING);
      e.children[0].nullable = false;
      add_simple(&e, NULL, "value", OA_TYPE_INT64);
      oa_field_add_child(&f, &e, NULL);
      f.type.keys_sorted = true;
      break;
    }
    case OA_TYPE_SPARSE_UNION:
    case OA_TYPE_DENSE_UNION:
      add_simple(&f, NULL, "x", OA_TYPE_INT32);
      add_simple(&f, NULL, "y", OA_TYPE_STRING);
      add_simple(&f, NULL, "z", OA_TYPE_NA);
      f.type.type_codes[0] = 127;
      f.type.type_codes[1] = 0;
      f.type.type_codes[2] = 9;
      break;
    default:
      break;
    }
    oa_metadata_add(&f.metadata, "k", 1, name, (int64_t)strlen(name), NULL);
    oa_schema_add_field(s, &f, NULL);
  }
  /* dictionary-encoded fields */
  oa_field d;
  oa_field_init(&d, "dict_u16_ordered", OA_TYPE_STRING, NULL);
  oa_field_set_dictionary(&d, OA_TYPE_UINT16, 7, true);
  oa_schema_add_field(s, &d, NULL);
  oa_field_init(&d, "dict_list", OA_TYPE_LIST, NULL);
  add_simple(&d, NULL, "item", OA_TYPE_INT64);
  oa_field_set_dictionary(&d, OA_TYPE_INT64, -3, false);
  oa_schema_add_field(s, &d, NULL);
  oa_metadata_add(&s->metadata, "schema", 6, "v\0alue", 6, NULL);
  oa_metadata_add(&s->metadata, "", 0, "", 0, NULL);
  return s;
}

OA_TEST(schema_roundtrip_every_type) {
  oa_error err_s, *err = &err_s;
  oa_schema *s = every_type_schema();
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(oa_ipc_encode_schema_message(s, &out, err), err);
  CHECK_EQ_INT(out.size % 8, 0);
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  CHECK_OK(oa_ipc_message_meta_decode(out.data, out.size, 64, &m, err), err);
  CHECK_EQ_INT(m.header_type, OA_IPC_HEADER_SCHEMA);
  CHECK_EQ_INT(m.body_length, 0);
  CHECK(m.schema != NULL);
  if (m.schema) {
    if (!oa_schema_equals(s, m.schema, true, err)) {
      fprintf(stderr, "round trip: %s\n", err->message);
      CHECK(0);
    }
    char t[512];
    int64_t k = oa_schema_find(m.schema, "c_dense_union");
    CHECK(k >= 0);
    if (k >= 0) {
      CHECK_EQ_STR(type_str(&m.schema->fields[k], t, sizeof t),
                   "dense_union<x: int32, y: utf8, z: null>");
      CHECK_EQ_INT(m.schema->fields[k].type.type_codes[0], 127);
    }
    k = oa_schema_find(m.schema, "dict_list");
    CHECK(k >= 0);
    if (k >= 0) {
      CHECK_EQ_STR(type_str(&m.schema->fields[k], t, sizeof t),
                   "dictionary<values=list<item: int64>, indices=int64>");
      CHECK_EQ_INT(m.schema->fields[k].dict.id, -3);
    }
    const oa_kv *kv = oa_metadata_find(&m.schema->metadata, "schema");
    CHECK(kv && kv->value_len == 6 && memcmp(kv->value, "v\0alue", 6) == 0);
  }
  /* the empty schema too */
  oa_schema *e;
  oa_schema_new(&e, NULL);
  oa_bytes_reset(&out);
  oa_bytes_init(&out);
  CHECK_OK(oa_ipc_encode_schema_message(e, &out, err), err);
  CHECK_OK(oa_ipc_message_meta_decode(out.data, out.size, 64, &m, err), err);
  CHECK(m.schema && m.schema->n_fields == 0);
  oa_schema_release(e);
  oa_ipc_message_meta_reset(&m);
  oa_bytes_reset(&out);
  oa_schema_release(s);
}

OA_TEST(batch_roundtrip) {
  oa_error err_s, *err = &err_s;
  oa_ipc_field_node nodes[3] = {{100, 3}, {0, 0}, {INT64_MAX, INT64_MAX}};
  oa_ipc_buffer_spec bufs[4] = {{0, 16}, {16, 0}, {16, 800}, {816, 8}};
  oa_ipc_batch_meta b = {.length = 100,
                         .n_nodes = 3,
                         .nodes = nodes,
                         .n_buffers = 4,
                         .buffers = bufs,
                         .compression = OA_COMPRESSION_NONE};
  for (int c = 0; c < 3; c++) {
    for (int dict = 0; dict < 2; dict++) {
      oa_bytes out;
      oa_bytes_init(&out);
      b.compression = (oa_compression)c;
      CHECK_OK(oa_ipc_encode_batch_message(&b, 824, dict, 42 + c, dict && c,
                                           &out, err),
               err);
      CHECK_EQ_INT(out.size % 8, 0);
      oa_ipc_message_meta m;
      oa_ipc_message_meta_init(&m);
      CHECK_OK(oa_ipc_message_meta_decode(out.data, out.size, 64, &m, err),
               err);
      CHECK_EQ_INT(m.header_type, dict ? OA_IPC_HEADER_DICTIONARY_BATCH
                                       : OA_IPC_HEADER_RECORD_BATCH);
      CHECK_EQ_INT(m.version, OA_IPC_METADATA_V5);
      CHECK_EQ_INT(m.body_length, 824);
      CHECK_EQ_INT(m.batch.length, 100);
      CHECK_EQ_INT(m.batch.compression, c);
      CHECK_EQ_INT(m.batch.n_nodes, 3);
      CHECK_EQ_INT(m.batch.n_buffers, 4);
      if (m.batch.n_nodes == 3) {
        CHECK_EQ_INT(m.batch.nodes[0].null_count, 3);
        CHECK_EQ_INT(m.batch.nodes[2].length, INT64_MAX);
      }
      if (m.batch.n_buffers == 4) {
        CHECK_EQ_INT(m.batch.buffers[2].length, 800);
        CHECK_EQ_INT(m.batch.buffers[3].offset, 816);
      }
      if (dict) {
        CHECK_EQ_INT(m.dict_id, 42 + c);
        CHECK_EQ_INT(m.is_delta, c != 0);
      }
      /* the body must hold every buffer */
      oa_bytes_reset(&out);
      oa_bytes_init(&out);
      CHECK_OK(oa_ipc_encode_batch_message(&b, 816, dict, 0, false, &out, err),
               err);
      CHECK_FAILS(oa_ipc_message_meta_decode(out.data, out.size, 64, &m, err),
                  EINVAL, err, "buffer 3 (offset 816, length 8) outside");
      oa_ipc_message_meta_reset(&m);
      oa_bytes_reset(&out);
    }
  }
  /* an empty batch */
  oa_ipc_batch_meta empty = {0};
  oa_bytes out;
  oa_bytes_init(&out);
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  CHECK_OK(oa_ipc_encode_batch_message(&empty, 0, false, 0, false, &out, err),
           err);
  CHECK_OK(oa_ipc_message_meta_decode(out.data, out.size, 64, &m, err), err);
  CHECK_EQ_INT(m.batch.n_nodes, 0);
  CHECK_EQ_INT(m.batch.length, 0);
  CHECK(m.batch.nodes == NULL && m.batch.buffers == NULL);
  oa_ipc_message_meta_reset(&m);
  oa_bytes_reset(&out);
}

OA_TEST(footer_roundtrip) {
  oa_error err_s, *err = &err_s;
  oa_ipc_footer f, g;
  oa_ipc_footer_init(&f);
  oa_ipc_footer_init(&g);
  f.schema = every_type_schema();
  oa_ipc_block d[1] = {{8, 200, 64}};
  oa_ipc_block r[2] = {{272, 136, 1024}, {1432, 0x7FFFFFF8, INT64_MAX}};
  f.dictionaries = d;
  f.n_dictionaries = 1;
  f.batches = r;
  f.n_batches = 2;
  oa_metadata_add(&f.custom_metadata, "writer", 6, "otlparrow", 9, NULL);
  oa_bytes out;
  oa_bytes_init(&out);
  CHECK_OK(oa_ipc_encode_footer(&f, &out, err), err);
  CHECK_OK(oa_ipc_footer_decode(out.data, out.size, 64, &g, err), err);
  CHECK_EQ_INT(g.version, OA_IPC_METADATA_V5);
  CHECK_EQ_INT(g.n_dictionaries, 1);
  CHECK_EQ_INT(g.n_batches, 2);
  if (g.n_dictionaries == 1) {
    CHECK_EQ_INT(g.dictionaries[0].offset, 8);
    CHECK_EQ_INT(g.dictionaries[0].metadata_length, 200);
    CHECK_EQ_INT(g.dictionaries[0].body_length, 64);
  }
  if (g.n_batches == 2) {
    CHECK_EQ_INT(g.batches[1].offset, 1432);
    CHECK_EQ_INT(g.batches[1].metadata_length, 0x7FFFFFF8);
    CHECK_EQ_INT(g.batches[1].body_length, INT64_MAX);
  }
  CHECK(g.schema && oa_schema_equals(f.schema, g.schema, true, err));
  const oa_kv *kv = oa_metadata_find(&g.custom_metadata, "writer");
  CHECK(kv && strcmp(kv->value, "otlparrow") == 0);
  /* every truncation fails cleanly */
  for (int64_t n = 0; n < out.size; n++) {
    uint8_t *copy = malloc((size_t)(n ? n : 1));
    memcpy(copy, out.data, (size_t)n);
    int rc = oa_ipc_footer_decode(copy, n, 64, &g, err);
    CHECK(rc == EINVAL);
    free(copy);
  }
  f.dictionaries = NULL;
  f.batches = NULL;
  f.n_dictionaries = f.n_batches = 0;
  oa_ipc_footer_reset(&f);
  oa_ipc_footer_reset(&g);
  oa_bytes_reset(&out);
}

/* ------------------------------------------------------------- bad inputs */

/* A Message { version V5, header Schema { endianness, fields: [field] } }
 * where the one field is made by make_field (may be NULL: no fields). */
typedef oa_fb_ref (*field_maker)(oa_fb_builder *b);

static void build_schema_message(oa_bytes *out, int16_t endianness,
                                 field_maker make_field, int16_t version) {
  oa_fb_builder b;
  oa_fb_builder_init(&b);
  oa_fb_ref field = make_field ? make_field(&b) : 0;
  oa_fb_ref fields = oa_fb_create_vector_refs(&b, &field, field ? 1 : 0);
  oa_fb_start_table(&b);
  oa_fb_add_i16(&b, 0, endianness, 0);
  oa_fb_add_ref(&b, 1, fields);
  oa_fb_ref schema = oa_fb_end_table(&b);
  oa_fb_start_table(&b);
  oa_fb_add_i16(&b, 0, version, 0);
  oa_fb_add_u8(&b, 1, OA_IPC_HEADER_SCHEMA, 0);
  oa_fb_add_ref(&b, 2, schema);
  oa_fb_ref msg = oa_fb_end_table(&b);
  oa_fb_builder_finish(&b, msg, out, NULL);
  oa_fb_builder_reset(&b);
}

/* Field "f" of type tag with the given type table and children. */
static oa_fb_ref make_field(oa_fb_builder *b, uint8_t tag, oa_fb_ref type,
                            const oa_fb_ref *kids, int64_t n_kids,
                            oa_fb_ref dict) {
  oa_fb_ref name = oa_fb_create_string(b, "f", 1);
  oa_fb_ref children = oa_fb_create_vector_refs(b, kids, n_kids);
  oa_fb_start_table(b);
  oa_fb_add_ref(b, 0, name);
  oa_fb_add_u8(b, 2, tag, 0);
  oa_fb_add_ref(b, 3, type);
  oa_fb_add_ref(b, 4, dict);
  oa_fb_add_ref(b, 5, children);
  return oa_fb_end_table(b);
}

static oa_fb_ref empty_table(oa_fb_builder *b) {
  oa_fb_start_table(b);
  return oa_fb_end_table(b);
}

static oa_fb_ref int_table(oa_fb_builder *b, int32_t bw, bool is_signed) {
  oa_fb_start_table(b);
  oa_fb_add_i32(b, 0, bw, 0);
  oa_fb_add_bool(b, 1, is_signed, false);
  return oa_fb_end_table(b);
}

static oa_fb_ref f_utf8(oa_fb_builder *b) {
  return make_field(b, 5, empty_table(b), NULL, 0, 0);
}
static oa_fb_ref f_utf8_view(oa_fb_builder *b) {
  return make_field(b, 24, empty_table(b), NULL, 0, 0);
}
static oa_fb_ref f_ree(oa_fb_builder *b) {
  return make_field(b, 22, empty_table(b), NULL, 0, 0);
}
static oa_fb_ref f_int7(oa_fb_builder *b) {
  return make_field(b, 2, int_table(b, 7, true), NULL, 0, 0);
}
static oa_fb_ref f_no_type(oa_fb_builder *b) {
  return make_field(b, 0, 0, NULL, 0, 0);
}
static oa_fb_ref f_tag_99(oa_fb_builder *b) {
  return make_field(b, 99, empty_table(b), NULL, 0, 0);
}
static oa_fb_ref f_list_two_kids(oa_fb_builder *b) {
  oa_fb_ref kids[2] = {f_utf8(b), f_utf8(b)};
  return make_field(b, 12, empty_table(b), kids, 2, 0);
}
static oa_fb_ref f_list_no_kids(oa_fb_builder *b) {
  return make_field(b, 12, empty_table(b), NULL, 0, 0);
}
static oa_fb_ref f_int_with_kid(oa_fb_builder *b) {
  oa_fb_ref kid = f_utf8(b);
  return make_field(b, 2, int_table(b, 8, true), &kid, 1, 0);
}
static oa_fb_ref f_map_of_utf8(oa_fb_builder *b) {
  oa_fb_ref kid = f_utf8(b);
  return make_field(b, 17, empty_table(b), &kid, 1, 0);
}
static oa_fb_ref f_decimal64(oa_fb_builder *b) {
  oa_fb_start_table(b);
  oa_fb_add_i32(b, 0, 10, 0);
  oa_fb_add_i32(b, 2, 64, 128);
  return make_field(b, 7, oa_fb_end_table(b), NULL, 0, 0);
}
static oa_fb_ref f_fsb_negative(oa_fb_builder *b) {
  oa_fb_start_table(b);
  oa_fb_add_i32(b, 0, -1, 0);
  return make_field(b, 15, oa_fb_end_table(b), NULL, 0, 0);
}
static oa_fb_ref f_fsl_negative(oa_fb_builder *b) {
  oa_fb_ref kid = f_utf8(b);
  oa_fb_start_table(b);
  oa_fb_add_i32(b, 0, -4, 0);
  return make_field(b, 16, oa_fb_end_table(b), &kid, 1, 0);
}
static oa_fb_ref union_with_ids(oa_fb_builder *b, const int32_t *ids,
                                int64_t n_ids, int64_t n_kids) {
  oa_fb_ref kids[130];
  for (int64_t i = 0; i < n_kids; i++)
    kids[i] = f_utf8(b);
  oa_fb_ref idv = ids ? oa_fb_create_vector(b, ids, n_ids, 4, 4) : 0;
  oa_fb_start_table(b);
  oa_fb_add_i16(b, 0, 1, 0);
  oa_fb_add_ref(b, 1, idv);
  return make_field(b, 14, oa_fb_end_table(b), kids, n_kids, 0);
}
static oa_fb_ref f_union_code_200(oa_fb_builder *b) {
  int32_t ids[2] = {1, 200};
  return union_with_ids(b, ids, 2, 2);
}
static oa_fb_ref f_union_dup(oa_fb_builder *b) {
  int32_t ids[2] = {3, 3};
  return union_with_ids(b, ids, 2, 2);
}
static oa_fb_ref f_union_129(oa_fb_builder *b) {
  return union_with_ids(b, NULL, 0, 129);
}
static oa_fb_ref f_union_default_ids(oa_fb_builder *b) {
  return union_with_ids(b, NULL, 0, 3);
}
static oa_fb_ref f_dict_float_index(oa_fb_builder *b) {
  oa_fb_ref it = int_table(b, 12, true);
  oa_fb_start_table(b);
  oa_fb_add_i64(b, 0, 5, 0);
  oa_fb_add_ref(b, 1, it);
  oa_fb_ref de = oa_fb_end_table(b);
  return make_field(b, 5, empty_table(b), NULL, 0, de);
}
static oa_fb_ref f_dict_no_index(oa_fb_builder *b) {
  oa_fb_start_table(b);
  oa_fb_add_i64(b, 0, 9, 0);
  oa_fb_ref de = oa_fb_end_table(b);
  return make_field(b, 5, empty_table(b), NULL, 0, de);
}
static oa_fb_ref f_time_bad_width(oa_fb_builder *b) {
  oa_fb_start_table(b);
  oa_fb_add_i16(b, 0, 3, 1); /* NANOSECOND with the default 32 bits */
  return make_field(b, 9, oa_fb_end_table(b), NULL, 0, 0);
}
static oa_fb_ref f_nested10(oa_fb_builder *b) {
  oa_fb_ref cur = f_utf8(b);
  for (int i = 0; i < 9; i++)
    cur = make_field(b, 12, empty_table(b), &cur, 1, 0);
  return cur; /* depth 10 */
}

static int decode_built(field_maker mk, int16_t endianness, int16_t version,
                        int32_t max_depth, oa_ipc_message_meta *m,
                        oa_error *err) {
  oa_bytes out;
  oa_bytes_init(&out);
  build_schema_message(&out, endianness, mk, version);
  int rc = oa_ipc_message_meta_decode(out.data, out.size, max_depth, m, err);
  oa_bytes_reset(&out);
  return rc;
}

OA_TEST(rejects_bad_schemas) {
  oa_error err_s, *err = &err_s;
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  /* the builder helpers make a valid message */
  CHECK_OK(decode_built(f_utf8, 0, 4, 64, &m, err), err);
  CHECK(m.schema && m.schema->n_fields == 1 &&
        m.schema->fields[0].type.id == OA_TYPE_STRING);
  CHECK_OK(decode_built(f_union_default_ids, 0, 4, 64, &m, err), err);
  if (m.schema) {
    CHECK_EQ_INT(m.schema->fields[0].type.id, OA_TYPE_DENSE_UNION);
    CHECK_EQ_INT(m.schema->fields[0].type.type_codes[2], 2);
  }
  CHECK_OK(decode_built(f_dict_no_index, 0, 4, 64, &m, err), err);
  if (m.schema) {
    CHECK(m.schema->fields[0].dict.encoded);
    CHECK_EQ_INT(m.schema->fields[0].dict.index_type, OA_TYPE_INT32);
    CHECK_EQ_INT(m.schema->fields[0].dict.id, 9);
  }
  CHECK_OK(decode_built(f_nested10, 0, 4, 10, &m, err), err);

  CHECK_FAILS(decode_built(f_utf8, 1, 4, 64, &m, err), ENOTSUP, err,
              "big-endian data is not supported");
  CHECK(m.schema == NULL);
  CHECK_FAILS(decode_built(f_utf8, 0, 2, 64, &m, err), ENOTSUP, err,
              "metadata version V3");
  CHECK_FAILS(decode_built(f_utf8_view, 0, 4, 64, &m, err), ENOTSUP, err,
              "Utf8View");
  CHECK_FAILS(decode_built(f_ree, 0, 4, 64, &m, err), ENOTSUP, err,
              "RunEndEncoded");
  CHECK_FAILS(decode_built(f_int7, 0, 4, 64, &m, err), EINVAL, err,
              "field 'f': Int bitWidth 7");
  CHECK_FAILS(decode_built(f_no_type, 0, 4, 64, &m, err), EINVAL, err,
              "has no type");
  CHECK_FAILS(decode_built(f_tag_99, 0, 4, 64, &m, err), EINVAL, err,
              "unknown type tag 99");
  CHECK_FAILS(decode_built(f_list_two_kids, 0, 4, 64, &m, err), EINVAL, err,
              "List must have 1 child");
  CHECK_FAILS(decode_built(f_list_no_kids, 0, 4, 64, &m, err), EINVAL, err,
              "List must have 1 child");
  CHECK_FAILS(decode_built(f_int_with_kid, 0, 4, 64, &m, err), EINVAL, err,
              "cannot have children");
  CHECK_FAILS(decode_built(f_map_of_utf8, 0, 4, 64, &m, err), EINVAL, err,
              "Map child must be a struct");
  CHECK_FAILS(decode_built(f_decimal64, 0, 4, 64, &m, err), EINVAL, err,
              "Decimal bitWidth 64");
  CHECK_FAILS(decode_built(f_fsb_negative, 0, 4, 64, &m, err), EINVAL, err,
              "byteWidth -1");
  CHECK_FAILS(decode_built(f_fsl_negative, 0, 4, 64, &m, err), EINVAL, err,
              "listSize -4");
  CHECK_FAILS(decode_built(f_union_code_200, 0, 4, 64, &m, err), EINVAL, err,
              "type id 200 outside 0..127");
  CHECK_FAILS(decode_built(f_union_dup, 0, 4, 64, &m, err), EINVAL, err,
              "used twice");
  CHECK_FAILS(decode_built(f_union_129, 0, 4, 64, &m, err), EINVAL, err,
              "129 children");
  CHECK_FAILS(decode_built(f_dict_float_index, 0, 4, 64, &m, err), EINVAL, err,
              "dictionary indexType bitWidth 12");
  CHECK_FAILS(decode_built(f_time_bad_width, 0, 4, 64, &m, err), EINVAL, err,
              "Time bitWidth 32");
  CHECK_FAILS(decode_built(f_nested10, 0, 4, 9, &m, err), E2BIG, err,
              "f.f.f.f.f.f.f.f.f");
  oa_ipc_message_meta_reset(&m);
}

/* A message with any header and extra RecordBatch fields. */
static void build_batch_message(oa_bytes *out, uint8_t header_type,
                                int64_t length, int64_t node_len,
                                int64_t buf_off, int64_t n_variadic,
                                int8_t codec) {
  oa_fb_builder b;
  oa_fb_builder_init(&b);
  int64_t node[2] = {node_len, 0}, buf[2] = {buf_off, 8};
  int64_t var[2] = {1, 2};
  oa_fb_ref nodes = oa_fb_create_vector(&b, node, 1, 16, 8);
  oa_fb_ref bufs = oa_fb_create_vector(&b, buf, 1, 16, 8);
  oa_fb_ref vv =
      n_variadic ? oa_fb_create_vector(&b, var, n_variadic, 8, 8) : 0;
  oa_fb_ref comp = 0;
  if (codec >= 0) {
    oa_fb_start_table(&b);
    oa_fb_add_i8(&b, 0, codec, 0);
    comp = oa_fb_end_table(&b);
  }
  oa_fb_start_table(&b);
  oa_fb_add_i64(&b, 0, length, 0);
  oa_fb_add_ref(&b, 1, nodes);
  oa_fb_add_ref(&b, 2, bufs);
  oa_fb_add_ref(&b, 3, comp);
  oa_fb_add_ref(&b, 4, vv);
  oa_fb_ref rb = oa_fb_end_table(&b);
  oa_fb_start_table(&b);
  oa_fb_add_i16(&b, 0, 4, 0);
  oa_fb_add_u8(&b, 1, header_type, 0);
  oa_fb_add_ref(&b, 2, rb);
  oa_fb_add_i64(&b, 3, 64, 0);
  oa_fb_ref msg = oa_fb_end_table(&b);
  oa_fb_builder_finish(&b, msg, out, NULL);
  oa_fb_builder_reset(&b);
}

static int decode_batch_built(uint8_t header_type, int64_t length,
                              int64_t node_len, int64_t buf_off,
                              int64_t n_variadic, int8_t codec,
                              oa_ipc_message_meta *m, oa_error *err) {
  oa_bytes out;
  oa_bytes_init(&out);
  build_batch_message(&out, header_type, length, node_len, buf_off, n_variadic,
                      codec);
  int rc = oa_ipc_message_meta_decode(out.data, out.size, 64, m, err);
  oa_bytes_reset(&out);
  return rc;
}

OA_TEST(rejects_bad_batches) {
  oa_error err_s, *err = &err_s;
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  CHECK_OK(decode_batch_built(3, 5, 5, 0, 0, -1, &m, err), err);
  CHECK_EQ_INT(m.batch.compression, OA_COMPRESSION_NONE);
  /* codec absent from BodyCompression means its default, LZ4_FRAME */
  CHECK_OK(decode_batch_built(3, 5, 5, 0, 0, 0, &m, err), err);
  CHECK_EQ_INT(m.batch.compression, OA_COMPRESSION_LZ4_FRAME);
  CHECK_OK(decode_batch_built(3, 5, 5, 0, 0, 1, &m, err), err);
  CHECK_EQ_INT(m.batch.compression, OA_COMPRESSION_ZSTD);
  CHECK_FAILS(decode_batch_built(3, 5, 5, 0, 0, 2, &m, err), EINVAL, err,
              "unknown compression codec 2");
  CHECK_FAILS(decode_batch_built(3, -1, 5, 0, 0, -1, &m, err), EINVAL, err,
              "negative length -1");
  CHECK_FAILS(decode_batch_built(3, 5, -5, 0, 0, -1, &m, err), EINVAL, err,
              "node 0 has length -5");
  CHECK_FAILS(decode_batch_built(3, 5, 5, -8, 0, -1, &m, err), EINVAL, err,
              "buffer 0 (offset -8");
  CHECK_FAILS(decode_batch_built(3, 5, 5, INT64_MAX, 0, -1, &m, err), EINVAL,
              err, "outside the body");
  CHECK_FAILS(decode_batch_built(3, 5, 5, 0, 2, -1, &m, err), ENOTSUP, err,
              "variadicBufferCounts");
  CHECK_OK(decode_batch_built(3, 5, 5, 0, 0, -1, &m, err), err);
  CHECK_FAILS(decode_batch_built(4, 5, 5, 0, 0, -1, &m, err), ENOTSUP, err,
              "Tensor");
  CHECK_FAILS(decode_batch_built(5, 5, 5, 0, 0, -1, &m, err), ENOTSUP, err,
              "SparseTensor");
  CHECK_FAILS(decode_batch_built(0, 5, 5, 0, 0, -1, &m, err), EINVAL, err,
              "no header");
  CHECK_FAILS(decode_batch_built(9, 5, 5, 0, 0, -1, &m, err), EINVAL, err,
              "unknown header type 9");
  /* a RecordBatch read as a DictionaryBatch: its nodes vector as data */
  CHECK_FAILS(decode_batch_built(2, 5, 5, 0, 0, -1, &m, err), EINVAL, err,
              "flatbuffer: vtable of 'data'");
  CHECK_EQ_INT(m.header_type, 0); /* reset after a failure */
  /* a DictionaryBatch without data */
  oa_fb_builder b;
  oa_bytes out;
  oa_fb_builder_init(&b);
  oa_bytes_init(&out);
  oa_fb_start_table(&b);
  oa_fb_add_i64(&b, 0, 5, 0);
  oa_fb_ref db = oa_fb_end_table(&b);
  oa_fb_start_table(&b);
  oa_fb_add_i16(&b, 0, 4, 0);
  oa_fb_add_u8(&b, 1, OA_IPC_HEADER_DICTIONARY_BATCH, 0);
  oa_fb_add_ref(&b, 2, db);
  oa_fb_ref msg = oa_fb_end_table(&b);
  CHECK_OK(oa_fb_builder_finish(&b, msg, &out, err), err);
  CHECK_FAILS(oa_ipc_message_meta_decode(out.data, out.size, 64, &m, err),
              EINVAL, err, "dictionary batch 5: data is missing");
  oa_fb_builder_reset(&b);
  oa_bytes_reset(&out);
  oa_ipc_message_meta_reset(&m);
}

/* Every truncation of a real schema message fails cleanly, and flipped bytes
 * never crash (under ASan: never read out of bounds). */
static void mangle_message(const char *rel, int which) {
  char path[1024];
  oa_error err_s, *err = &err_s;
  oa_test_shared_path(path, sizeof path, rel);
  int64_t len, pos = 0, meta = 0, prefix;
  int32_t meta_len = 0;
  uint8_t *buf = read_all(path, &len);
  CHECK(buf != NULL);
  if (!buf) return;
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  for (int i = 0; i <= which; i++) {
    CHECK_EQ_INT(frame_at(buf, len, pos, &meta, &meta_len, &prefix), 1);
    CHECK_OK(oa_ipc_message_meta_decode(buf + meta, meta_len, 64, &m, err),
             err);
    pos = meta + meta_len + m.body_length;
  }
  /* the flatbuffer proper ends before the 8-byte padding; strip trailing
   * zeros so that truncations bite */
  int64_t fb_len = meta_len;
  for (int64_t n = 0; n < fb_len; n++) {
    uint8_t *copy = malloc((size_t)(n ? n : 1));
    memcpy(copy, buf + meta, (size_t)n);
    int rc = oa_ipc_message_meta_decode(copy, n, 64, &m, err);
    if (rc == 0) {
      /* only trailing padding may go */
      CHECK(n >= fb_len - 8);
    } else {
      CHECK(rc == EINVAL);
      CHECK(m.header_type == 0 && m.schema == NULL);
    }
    free(copy);
  }
  int ok = 0;
  for (int64_t i = 0; i < fb_len; i++) {
    static const uint8_t masks[] = {0x01, 0x80, 0xFF, 0x10};
    for (size_t k = 0; k < sizeof masks; k++) {
      uint8_t *copy = malloc((size_t)fb_len);
      memcpy(copy, buf + meta, (size_t)fb_len);
      copy[i] ^= masks[k];
      int rc = oa_ipc_message_meta_decode(copy, fb_len, 64, &m, err);
      if (rc == 0) {
        ok++;
        /* whatever decoded must re-encode */
        oa_bytes out;
        oa_bytes_init(&out);
        if (m.header_type == OA_IPC_HEADER_SCHEMA)
          CHECK_OK(oa_ipc_encode_schema_message(m.schema, &out, err), err);
        oa_bytes_reset(&out);
      } else {
        CHECK(rc == EINVAL || rc == ENOTSUP || rc == E2BIG);
      }
      free(copy);
    }
  }
  CHECK(ok > 0);
  oa_ipc_message_meta_reset(&m);
  free(buf);
}

OA_TEST(truncated_and_flipped_messages) {
  mangle_message(V1 "generated_custom_metadata.stream", 0);
  mangle_message(V1 "generated_union.stream", 0);
  mangle_message(V1 "generated_dictionary.stream", 0);
  mangle_message(V1 "generated_dictionary.stream", 1); /* dictionary batch */
  mangle_message(V1 "generated_nested.stream", 1);     /* record batch */
  mangle_message(
      "arrow-testing/integration/2.0.0-compression/generated_zstd.stream", 1);
}

/* The fuzz regression inputs: whatever the framing finds must decode or
 * fail cleanly. */
OA_TEST(fuzz_regression_inputs) {
  static const char *const dirs[] = {"arrow-testing/fuzz-regression/ipc-stream",
                                     "arrow-testing/fuzz-regression/ipc-file"};
  oa_error err_s, *err = &err_s;
  int n_msgs = 0;
  for (int d = 0; d < 2; d++) {
    char dir[512];
    oa_test_shared_path(dir, sizeof dir, dirs[d]);
    DIR *dp = opendir(dir);
    CHECK(dp != NULL);
    if (!dp) continue;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
      if (e->d_name[0] == '.' || ends_with(e->d_name, ".md")) continue;
      char path[1024];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      int64_t len;
      uint8_t *buf = read_all(path, &len);
      if (!buf) continue;
      oa_ipc_message_meta m;
      oa_ipc_message_meta_init(&m);
      bool is_file = len >= 8 && memcmp(buf, "ARROW1", 6) == 0;
      int64_t pos = is_file ? 8 : 0;
      for (int i = 0; i < 64; i++) {
        int64_t meta, prefix;
        int32_t meta_len;
        if (frame_at(buf, len, pos, &meta, &meta_len, &prefix) != 1) break;
        /* exact-size copy so that ASan catches overreads */
        uint8_t *copy = malloc((size_t)meta_len);
        memcpy(copy, buf + meta, (size_t)meta_len);
        int rc = oa_ipc_message_meta_decode(copy, meta_len, 64, &m, err);
        free(copy);
        n_msgs++;
        if (rc) {
          CHECK(rc == EINVAL || rc == ENOTSUP || rc == E2BIG);
          break;
        }
        if (m.body_length > len) break;
        pos = meta + meta_len + m.body_length;
      }
      if (is_file && len > 18) { /* try the footer too */
        int32_t flen = rd32(buf + len - 10);
        if (flen > 0 && flen <= len - 10) {
          oa_ipc_footer f;
          oa_ipc_footer_init(&f);
          int rc =
              oa_ipc_footer_decode(buf + len - 10 - flen, flen, 64, &f, err);
          CHECK(rc == 0 || rc == EINVAL || rc == ENOTSUP || rc == E2BIG);
          oa_ipc_footer_reset(&f);
        }
      }
      oa_ipc_message_meta_reset(&m);
      free(buf);
    }
    closedir(dp);
  }
  CHECK(n_msgs > 50);
}

OA_TEST_MAIN(OA_T(all_integration_files), OA_T(primitive_schema),
             OA_T(datetime_schema), OA_T(dictionary_schema), OA_T(union_schema),
             OA_T(map_schema), OA_T(decimal256_schema),
             OA_T(custom_metadata_schema), OA_T(shared_dictionary_schema),
             OA_T(primitive_batches), OA_T(schema_roundtrip_every_type),
             OA_T(batch_roundtrip), OA_T(footer_roundtrip),
             OA_T(rejects_bad_schemas), OA_T(rejects_bad_batches),
             OA_T(truncated_and_flipped_messages), OA_T(fuzz_regression_inputs))
