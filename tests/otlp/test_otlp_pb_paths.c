/* The protobuf decoder's fast paths give the same batch as the general one:
 * ScopeSpans decoded in one pass (schema_url after the spans, a scope message
 * after spans, a schema_url repeated), the bulk attribute append (empty
 * strings and bytes, mixed value types), the recognised KeyValue layout
 * against unusual encodings, and dictionary caches across batches of a
 * reused decoder. Expected values are written out by hand. */
#include "otlparrow/format.h"
#include "otlparrow/otlp.h"
#include "test.h"

static oa_error err_s;
static oa_error *err = &err_s;

#include "otlp/pb_writer.h"

static void b_kv(buf *b, uint32_t f, const char *key, const buf *any) {
  buf kv = {.n = 0};
  b_str(&kv, 1, key);
  b_msg(&kv, 2, any);
  b_msg(b, f, &kv);
}
static void kv_str(buf *b, uint32_t f, const char *key, const char *v) {
  buf any = {.n = 0};
  b_str(&any, 1, v);
  b_kv(b, f, key, &any);
}
static void kv_int(buf *b, uint32_t f, const char *key, uint64_t v) {
  buf any = {.n = 0};
  b_vint(&any, 3, v);
  b_kv(b, f, key, &any);
}
static void kv_bool(buf *b, uint32_t f, const char *key, bool v) {
  buf any = {.n = 0};
  b_vint(&any, 2, v);
  b_kv(b, f, key, &any);
}
static void kv_bytes(buf *b, uint32_t f, const char *key, const void *d,
                     size_t n) {
  buf any = {.n = 0};
  b_len(&any, 7, d, n);
  b_kv(b, f, key, &any);
}

/* a valid span: id byte k, name */
static void span(buf *s, uint8_t k, const char *name) {
  uint8_t tid[16], sid[8];
  memset(tid, k, sizeof tid);
  memset(sid, k, sizeof sid);
  s->n = 0;
  b_len(s, 1, tid, 16);
  b_len(s, 2, sid, 8);
  b_str(s, 5, name);
}

static void scope(buf *s, const char *name) {
  s->n = 0;
  b_str(s, 1, name);
}

/* request { resource_spans { scope_spans: ss } } */
static void wrap(buf *req, const buf *ss) {
  buf rs = {.n = 0};
  b_msg(&rs, 2, ss);
  req->n = 0;
  b_msg(req, 1, &rs);
}

static int col_index(const oa_batch *b, const char *name) {
  for (int64_t c = 0; c < b->n_columns; c++)
    if (strcmp(b->schema->fields[c].name, name) == 0) return (int)c;
  return -1;
}

/* JSON of column `name` at row i (oa_format_value) */
static const char *val(const oa_batch *b, const char *name, int64_t i) {
  static char out[1024];
  int c = col_index(b, name);
  if (c < 0) return "(no column)";
  oa_bytes o;
  oa_bytes_init(&o);
  if (oa_format_value(&b->schema->fields[c], &b->columns[c], i, OA_FORMAT_JSON,
                      &o, err) != 0) {
    oa_bytes_reset(&o);
    return "(format error)";
  }
  snprintf(out, sizeof out, "%.*s", (int)o.size, (const char *)o.data);
  oa_bytes_reset(&o);
  return out;
}

/* Attribute map element i of column name as [["key",type code,value],...]:
 * the type code read from the value union, the value as the JSON formatter
 * prints the selected child. */
static const char *tval(const oa_batch *b, const char *name, int64_t i) {
  static char out[1024];
  int c = col_index(b, name);
  if (c < 0) return "(no column)";
  const oa_field *ef = &b->schema->fields[c].children[0];
  const oa_array *m = &b->columns[c], *ea = &m->children[0];
  const int32_t *lo = (const int32_t *)m->buffers[1].data;
  const oa_array *u = &ea->children[1];
  oa_bytes o;
  oa_bytes_init(&o);
  CHECK_OK(oa_bytes_append(&o, "[", 1), err);
  for (int32_t k = lo[m->offset + i]; k < lo[m->offset + i + 1]; k++) {
    if (k > lo[m->offset + i]) CHECK_OK(oa_bytes_append(&o, ",", 1), err);
    CHECK_OK(oa_bytes_append(&o, "[", 1), err);
    if (oa_format_value(&ef->children[0], &ea->children[0], k, OA_FORMAT_JSON,
                        &o, err) != 0)
      return "(format error)";
    char code[16];
    snprintf(code, sizeof code, ",%d,",
             (int8_t)u->buffers[0].data[u->offset + k]);
    CHECK_OK(oa_bytes_append(&o, code, (int64_t)strlen(code)), err);
    if (oa_format_value(&ef->children[1], u, k, OA_FORMAT_JSON, &o, err) != 0)
      return "(format error)";
    CHECK_OK(oa_bytes_append(&o, "]", 1), err);
  }
  snprintf(out, sizeof out, "%.*s]", (int)o.size, (const char *)o.data);
  oa_bytes_reset(&o);
  return out;
}

static int decode(const buf *req, oa_batch *out, oa_otlp_result *res) {
  return oa_otlp_decode_traces(req->d, (int64_t)req->n, NULL, out, res, err);
}

OA_TEST(schema_url_after_the_spans) {
  buf ss = {.n = 0}, sc, s1, s2, req;
  scope(&sc, "lib");
  span(&s1, 1, "a");
  span(&s2, 2, "b");
  b_msg(&ss, 1, &sc);
  b_msg(&ss, 2, &s1);
  b_msg(&ss, 2, &s2);
  b_str(&ss, 3, "https://schema/1");
  wrap(&req, &ss);
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(decode(&req, &b, &res), err);
  CHECK_EQ_INT(res.accepted_spans, 2);
  CHECK_EQ_INT(b.length, 2);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ_STR(val(&b, "scope_schema_url", i), "\"https://schema/1\"");
    CHECK_EQ_STR(val(&b, "scope_name", i), "\"lib\"");
    CHECK_EQ_STR(val(&b, "scope_id", i), "0");
  }
  CHECK_EQ_STR(val(&b, "name", 1), "\"b\"");
  oa_batch_reset(&b);
}

OA_TEST(invalid_schema_url_after_the_spans_rejects_them) {
  /* the first ScopeSpans' spans are rejected by its late, invalid url; the
   * second ScopeSpans is unaffected */
  buf ss = {.n = 0}, ss2 = {.n = 0}, s1, s2, s3, rs = {.n = 0}, req = {.n = 0};
  span(&s1, 1, "a");
  span(&s2, 2, "b");
  span(&s3, 3, "c");
  b_msg(&ss, 2, &s1);
  b_msg(&ss, 2, &s2);
  b_len(&ss, 3, "\xff\xfe", 2);
  b_msg(&ss2, 2, &s3);
  b_msg(&rs, 2, &ss);
  b_msg(&rs, 2, &ss2);
  b_msg(&req, 1, &rs);
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(decode(&req, &b, &res), err);
  CHECK_EQ_INT(res.accepted_spans, 1);
  CHECK_EQ_INT(res.rejected_spans, 2);
  CHECK(strstr(res.error_message, "scope schema_url: invalid UTF-8") != NULL);
  CHECK_EQ_INT(b.length, 1);
  CHECK_EQ_STR(val(&b, "name", 0), "\"c\"");
  CHECK_EQ_STR(val(&b, "scope_id", 0), "0");
  CHECK_EQ_STR(val(&b, "scope_schema_url", 0), "\"\"");
  oa_batch_reset(&b);
}

OA_TEST(scope_and_url_repeated_around_spans) {
  /* protobuf: the last occurrence of a non-repeated field wins, wherever
   * it is; spans before it still get it */
  buf ss = {.n = 0}, sc1, sc2, s1, s2, req;
  scope(&sc1, "first");
  scope(&sc2, "last");
  span(&s1, 1, "a");
  span(&s2, 2, "b");
  b_len(&ss, 3, "\xff", 1); /* invalid, but replaced below */
  b_msg(&ss, 1, &sc1);
  b_msg(&ss, 2, &s1);
  b_msg(&ss, 1, &sc2);
  b_msg(&ss, 2, &s2);
  b_str(&ss, 3, "ok");
  wrap(&req, &ss);
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(decode(&req, &b, &res), err);
  CHECK_EQ_INT(res.accepted_spans, 2);
  CHECK_EQ_INT(res.rejected_spans, 0);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ_STR(val(&b, "scope_name", i), "\"last\"");
    CHECK_EQ_STR(val(&b, "scope_schema_url", i), "\"ok\"");
  }
  oa_batch_reset(&b);
}

OA_TEST(bulk_attributes_empty_and_mixed_values) {
  /* every span takes the bulk path; empty strings and bytes come first in
   * the second, so their union children have no data buffer yet */
  buf ss = {.n = 0}, s1, s2, s3, req;
  span(&s1, 1, "a");
  kv_int(&s1, 9, "n", 7);
  kv_bool(&s1, 9, "f", true);
  kv_str(&s1, 9, "s", "x");
  span(&s2, 2, "b");
  kv_str(&s2, 9, "empty", "");
  kv_bytes(&s2, 9, "nobytes", "", 0);
  kv_bytes(&s2, 9, "bytes", "\x00\xff", 2);
  kv_bool(&s2, 9, "f", false);
  kv_str(&s2, 9, "long", "a string longer than sixteen bytes");
  span(&s3, 3, "c");
  kv_int(&s3, 9, "n", (uint64_t)-1);
  kv_str(&s3, 9, "mid", "twelve bytes");
  b_msg(&ss, 2, &s1);
  b_msg(&ss, 2, &s2);
  b_msg(&ss, 2, &s3);
  wrap(&req, &ss);
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(decode(&req, &b, &res), err);
  CHECK_EQ_INT(b.length, 3);
  CHECK_EQ_STR(tval(&b, "attributes", 0),
               "[[\"n\",2,\"7\"],[\"f\",4,true],[\"s\",1,\"x\"]]");
  CHECK_EQ_STR(tval(&b, "attributes", 1),
               "[[\"empty\",1,\"\"],[\"nobytes\",7,\"\"],"
               "[\"bytes\",7,\"00ff\"],[\"f\",4,false],"
               "[\"long\",1,\"a string longer than sixteen bytes\"]]");
  CHECK_EQ_STR(tval(&b, "attributes", 2),
               "[[\"n\",2,\"-1\"],[\"mid\",1,\"twelve bytes\"]]");
  /* rows in the children: each child holds only its own values, in order */
  const oa_array *u =
      &b.columns[col_index(&b, "attributes")].children[0].children[1];
  CHECK_EQ_INT(u->length, 10);
  CHECK_EQ_INT(u->children[OA_ATTR_VALUE_STR].length, 4);
  CHECK_EQ_INT(u->children[OA_ATTR_VALUE_INT].length, 2);
  CHECK_EQ_INT(u->children[OA_ATTR_VALUE_BOOL].length, 2);
  CHECK_EQ_INT(u->children[OA_ATTR_VALUE_BYTES].length, 2);
  CHECK_EQ_INT(u->children[OA_ATTR_VALUE_EMPTY].length, 0);
  const int32_t *offs = (const int32_t *)u->buffers[1].data;
  const int32_t want_offs[10] = {0, 0, 0, 1, 0, 1, 1, 2, 1, 3};
  for (int k = 0; k < 10; k++)
    CHECK_EQ_INT(offs[k], want_offs[k]);
  CHECK(oa_batch_validate(&b, true, err) == 0);
  oa_batch_reset(&b);
}

OA_TEST(unusual_keyvalue_encodings) {
  /* a 200-byte key (2-byte length), a value with two members (the last
   * wins), the key after the value, and an empty KeyValue */
  char key[201];
  memset(key, 'k', 200);
  key[200] = 0;
  buf s, ss = {.n = 0}, req, any = {.n = 0}, kv = {.n = 0};
  span(&s, 1, "a");
  kv_str(&s, 9, key, "v");
  b_str(&any, 1, "str first");
  b_vint(&any, 3, 42);
  b_kv(&s, 9, "two members", &any);
  any.n = 0;
  b_vint(&any, 2, 1);
  b_msg(&kv, 2, &any);
  b_str(&kv, 1, "key last");
  b_msg(&s, 9, &kv);
  b_len(&s, 9, "", 0);
  b_msg(&ss, 2, &s);
  wrap(&req, &ss);
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(decode(&req, &b, &res), err);
  CHECK_EQ_INT(b.length, 1);
  const char *a = tval(&b, "attributes", 0);
  CHECK(strstr(a, "[\"two members\",2,\"42\"]") != NULL);
  CHECK(strstr(a, "[\"key last\",4,true]") != NULL);
  CHECK(strstr(a, "[\"\",0,null]") != NULL);
  CHECK(strstr(a, "kkkkkkkk\",1,\"v\"]") != NULL);
  oa_batch_reset(&b);
}

OA_TEST(reused_decoder_dictionaries_start_over) {
  /* the decoder's dictionary caches must not leak indices from one batch
   * into the next (each batch has its own dictionaries) */
  oa_otlp_decoder *dec;
  CHECK_OK(oa_otlp_decoder_new(&dec, NULL, err), err);
  const char *names[3][2] = {{"x", "y"}, {"y", "z"}, {"z", "x"}};
  for (int round = 0; round < 6; round++) {
    const char **nm = names[round % 3];
    buf ss = {.n = 0}, s1, s2, req;
    span(&s1, 1, nm[0]);
    kv_str(&s1, 9, nm[1], nm[0]);
    span(&s2, 2, nm[1]);
    kv_str(&s2, 9, nm[0], nm[1]);
    b_msg(&ss, 2, &s1);
    b_msg(&ss, 2, &s2);
    wrap(&req, &ss);
    oa_batch b;
    oa_batch_init(&b);
    CHECK_OK(oa_otlp_decoder_decode(dec, req.d, (int64_t)req.n, &b, NULL, err),
             err);
    CHECK_EQ_INT(b.length, 2);
    char want[64];
    snprintf(want, sizeof want, "\"%s\"", nm[0]);
    CHECK_EQ_STR(val(&b, "name", 0), want);
    snprintf(want, sizeof want, "\"%s\"", nm[1]);
    CHECK_EQ_STR(val(&b, "name", 1), want);
    snprintf(want, sizeof want, "[[\"%s\",1,\"%s\"]]", nm[1], nm[0]);
    CHECK_EQ_STR(tval(&b, "attributes", 0), want);
    /* two distinct names: the dictionary holds exactly those */
    const oa_array *names_col = &b.columns[col_index(&b, "name")];
    CHECK_EQ_INT(names_col->dictionary->length, 2);
    CHECK(oa_batch_validate(&b, true, err) == 0);
    oa_batch_reset(&b);
  }
  oa_otlp_decoder_free(dec);
}

OA_TEST_MAIN(OA_T(schema_url_after_the_spans),
             OA_T(invalid_schema_url_after_the_spans_rejects_them),
             OA_T(scope_and_url_repeated_around_spans),
             OA_T(bulk_attributes_empty_and_mixed_values),
             OA_T(unusual_keyvalue_encodings),
             OA_T(reused_decoder_dictionaries_start_over))
