/* OTLP/JSON decoder and encoder: hand-written JSON requests give the same
 * batch as the equivalent hand-built protobuf request, round trips
 * (json -> batch -> json -> batch, pb -> batch -> json -> batch), exact
 * encoder output, span-level rejections with their JSON path, and malformed
 * JSON rejecting the request. */
#include <math.h>

#include "otlparrow/otlp.h"
#include "test.h"

static oa_error err_s;
static oa_error *err = &err_s;

/* ------------------------------------------- protobuf built by hand */

typedef struct buf {
  uint8_t d[16384];
  size_t n;
} buf;

static buf g_pool[1024];
static int g_pool_n;

static buf *nb(void) {
  if (g_pool_n == (int)(sizeof g_pool / sizeof g_pool[0])) abort();
  buf *b = &g_pool[g_pool_n++];
  b->n = 0;
  return b;
}

static void b_raw(buf *b, const void *d, size_t n) {
  if (b->n > sizeof b->d || n > sizeof b->d - b->n) abort();
  memcpy(&b->d[b->n], d, n);
  b->n += n;
}
static void b_varint(buf *b, uint64_t v) {
  uint8_t t[10];
  size_t n = 0;
  while (v >= 0x80) {
    t[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  t[n++] = (uint8_t)v;
  b_raw(b, t, n);
}
static void b_tag(buf *b, uint32_t field, int wt) {
  b_varint(b, (uint64_t)field << 3 | (uint64_t)wt);
}
static void b_len(buf *b, uint32_t field, const void *d, size_t n) {
  b_tag(b, field, 2);
  b_varint(b, n);
  b_raw(b, d, n);
}
static void b_str(buf *b, uint32_t field, const char *s) {
  b_len(b, field, s, strlen(s));
}
static void b_msg(buf *b, uint32_t field, const buf *m) {
  b_len(b, field, m->d, m->n);
}
static void b_fixed64(buf *b, uint32_t field, uint64_t v) {
  b_tag(b, field, 1);
  b_raw(b, &v, 8);
}
static void b_fixed32(buf *b, uint32_t field, uint32_t v) {
  b_tag(b, field, 5);
  b_raw(b, &v, 4);
}
static void b_uvarint(buf *b, uint32_t field, uint64_t v) {
  b_tag(b, field, 0);
  b_varint(b, v);
}

/* AnyValue / KeyValue builders */
static buf *av_str(const char *s) {
  buf *b = nb();
  b_str(b, 1, s);
  return b;
}
static buf *av_bool(bool v) {
  buf *b = nb();
  b_uvarint(b, 2, v);
  return b;
}
static buf *av_int(int64_t v) {
  buf *b = nb();
  b_uvarint(b, 3, (uint64_t)v);
  return b;
}
static buf *av_dbl(double v) {
  buf *b = nb();
  uint64_t bits;
  memcpy(&bits, &v, 8);
  b_fixed64(b, 4, bits);
  return b;
}
static buf *av_bytes(const void *d, size_t n) {
  buf *b = nb();
  b_len(b, 7, d, n);
  return b;
}
static buf *av_empty(void) { return nb(); }
/* array (field 5) or kvlist (field 6) of n items */
static buf *av_list(uint32_t field, int n, buf **items) {
  buf *inner = nb(), *b = nb();
  for (int i = 0; i < n; i++)
    b_msg(inner, 1, items[i]);
  b_msg(b, field, inner);
  return b;
}
static buf *kv(const char *key, const buf *val) {
  buf *b = nb();
  if (key[0]) b_str(b, 1, key);
  if (val) b_msg(b, 2, val);
  return b;
}

static const uint8_t kTid[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t kSid[8] = {0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c};
static const uint8_t kPid[8] = {0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18};
static const uint8_t kLTid[16] = {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa,
                                  0x99, 0x88, 0x77, 0x66, 0x55, 0x44,
                                  0x33, 0x22, 0x11, 0x00};

#define TID_HEX "0102030405060708090A0B0C0D0E0F10"
#define SID_HEX "15161718191A1B1C"
#define PID_HEX "a1b2c3d4e5f60718"
#define LTID_HEX "ffeeddccbbaa99887766554433221100"

/* ------------------------------------------------- the rich request */

static const char kRichJson[] =
    "{\"resourceSpans\":[\n"
    " {\"resource\":{\"attributes\":["
    "   {\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"
    "   {\"key\":\"host.id\",\"value\":{\"intValue\":\"42\"}}],"
    "  \"droppedAttributesCount\":3},"
    "  \"schemaUrl\":\"https://opentelemetry.io/schemas/1.21.0\","
    "  \"scopeSpans\":[{"
    "   \"scope\":{\"name\":\"io.opentelemetry.http\",\"version\":\"1.2.3\","
    "     \"attributes\":[{\"key\":\"s\",\"value\":{\"boolValue\":true}}],"
    "     \"droppedAttributesCount\":1},"
    "   \"schemaUrl\":\"https://scope\","
    "   \"spans\":[{"
    "     \"unknownField\":{\"x\":[1,2,{\"y\":null}],\"traceId\":7},"
    "     \"traceId\":\"" TID_HEX "\",\"spanId\":\"" SID_HEX "\","
    "     \"parentSpanId\":\"\",\"traceState\":\"k=v\","
    "     \"name\":\"GET /caf\\u00e9 \\ud83d\\ude00\",\"kind\":2,"
    "     \"startTimeUnixNano\":\"1700000000000000000\","
    "     \"endTimeUnixNano\":1700000000000001000,"
    "     \"attributes\":["
    "       {\"value\":{\"stringValue\":\"\"},\"key\":\"str\"},"
    "       {\"key\":\"bool\",\"value\":{\"boolValue\":false}},"
    "       "
    "{\"key\":\"int_s\",\"value\":{\"intValue\":\"-9223372036854775808\"}},"
    "       {\"key\":\"int_n\",\"value\":{\"intValue\":9223372036854775807}},"
    "       {\"key\":\"int_neg\",\"value\":{\"intValue\":-5}},"
    "       {\"key\":\"dbl\",\"value\":{\"doubleValue\":1.5}},"
    "       {\"key\":\"dbl_int\",\"value\":{\"doubleValue\":3}},"
    "       {\"key\":\"nan\",\"value\":{\"doubleValue\":\"NaN\"}},"
    "       {\"key\":\"ninf\",\"value\":{\"doubleValue\":\"-Infinity\"}},"
    "       {\"key\":\"inf\",\"value\":{\"doubleValue\":\"Infinity\"}},"
    "       {\"key\":\"bytes\",\"value\":{\"bytesValue\":\"AAECAw==\"}},"
    "       {\"key\":\"bytes_url\",\"value\":{\"bytesValue\":\"-_8\"}},"
    "       {\"key\":\"bytes_empty\",\"value\":{\"bytesValue\":\"\"}},"
    "       {\"key\":\"arr\",\"value\":{\"arrayValue\":{\"values\":["
    "         "
    "{\"stringValue\":\"a\"},{\"intValue\":1},{},{\"arrayValue\":{}}]}}},"
    "       {\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":["
    "         {\"key\":\"inner\",\"value\":{\"kvlistValue\":{\"values\":["
    "           {\"key\":\"x\",\"value\":{\"doubleValue\":2.25}}]}}},"
    "         {\"key\":\"e\"}]}}},"
    "       {\"key\":\"empty\",\"value\":{}},"
    "       {\"key\":\"novalue\",\"value\":null},"
    "       {\"key\":\"\",\"value\":{\"stringValue\":\"nokey\"}}],"
    "     \"droppedAttributesCount\":5,"
    "     \"events\":[{\"timeUnixNano\":\"1700000000000000500\","
    "       \"name\":\"exception\",\"attributes\":[{\"key\":"
    "       \"exception.message\",\"value\":{\"stringValue\":\"boom\"}}],"
    "       \"droppedAttributesCount\":2},{\"name\":\"e2\"}],"
    "     \"droppedEventsCount\":6,"
    "     \"links\":[{\"traceId\":\"" LTID_HEX "\",\"spanId\":\"" PID_HEX "\","
    "       \"traceState\":\"a=b\",\"attributes\":[{\"key\":\"l\","
    "       \"value\":{\"intValue\":\"7\"}}],\"droppedAttributesCount\":1,"
    "       \"flags\":256}],"
    "     \"droppedLinksCount\":7,"
    "     \"status\":{\"message\":\"bad\",\"code\":\"STATUS_CODE_ERROR\"},"
    "     \"flags\":257"
    "   },{"
    "     \"trace_id\":\"" TID_HEX "\",\"span_id\":\"" PID_HEX "\","
    "     \"parent_span_id\":\"" SID_HEX "\",\"name\":\"child\","
    "     \"kind\":\"SPAN_KIND_CLIENT\",\"start_time_unix_nano\":5,"
    "     \"end_time_unix_nano\":\"18446744073709551615\","
    "     \"dropped_attributes_count\":\"9\",\"status\":{\"code\":1},"
    "     \"attributes\":[{\"key\":\"k\",\"value\":{\"string_value\":\"v\"}}]"
    "   }]}]},\n"
    " {\"resource\":{},\"scope_spans\":[{\"scope\":null,\"spans\":[{"
    "   \"traceId\":\"" LTID_HEX "\",\"spanId\":\"" SID_HEX "\","
    "   \"name\":\"\",\"kind\":0,\"status\":{}}]},{\"spans\":[]}]},\n"
    " {\"scopeSpans\":[]}\n"
    "]}\n";

static void rich_pb(buf *req) {
  g_pool_n = 0;
  /* resource 1 */
  buf *res = nb();
  b_msg(res, 1, kv("service.name", av_str("checkout")));
  b_msg(res, 1, kv("host.id", av_int(42)));
  b_uvarint(res, 2, 3);
  buf *scope = nb();
  b_str(scope, 1, "io.opentelemetry.http");
  b_str(scope, 2, "1.2.3");
  b_msg(scope, 3, kv("s", av_bool(true)));
  b_uvarint(scope, 4, 1);
  /* span 1 */
  buf *s1 = nb();
  b_len(s1, 1, kTid, 16);
  b_len(s1, 2, kSid, 8);
  b_str(s1, 3, "k=v");
  b_str(s1, 5, "GET /caf\xc3\xa9 \xf0\x9f\x98\x80");
  b_uvarint(s1, 6, 2);
  b_fixed64(s1, 7, 1700000000000000000ull);
  b_fixed64(s1, 8, 1700000000000001000ull);
  b_msg(s1, 9, kv("str", av_str("")));
  b_msg(s1, 9, kv("bool", av_bool(false)));
  b_msg(s1, 9, kv("int_s", av_int(INT64_MIN)));
  b_msg(s1, 9, kv("int_n", av_int(INT64_MAX)));
  b_msg(s1, 9, kv("int_neg", av_int(-5)));
  b_msg(s1, 9, kv("dbl", av_dbl(1.5)));
  b_msg(s1, 9, kv("dbl_int", av_dbl(3)));
  b_msg(s1, 9, kv("nan", av_dbl(NAN)));
  b_msg(s1, 9, kv("ninf", av_dbl(-INFINITY)));
  b_msg(s1, 9, kv("inf", av_dbl(INFINITY)));
  b_msg(s1, 9, kv("bytes", av_bytes("\x00\x01\x02\x03", 4)));
  b_msg(s1, 9, kv("bytes_url", av_bytes("\xfb\xff", 2)));
  b_msg(s1, 9, kv("bytes_empty", av_bytes("", 0)));
  buf *arr_items[] = {av_str("a"), av_int(1), av_empty(), av_list(5, 0, NULL)};
  b_msg(s1, 9, kv("arr", av_list(5, 4, arr_items)));
  buf *inner_items[] = {kv("x", av_dbl(2.25))};
  buf *kv_items[] = {kv("inner", av_list(6, 1, inner_items)), kv("e", NULL)};
  b_msg(s1, 9, kv("kv", av_list(6, 2, kv_items)));
  b_msg(s1, 9, kv("empty", av_empty()));
  b_msg(s1, 9, kv("novalue", NULL));
  b_msg(s1, 9, kv("", av_str("nokey")));
  b_uvarint(s1, 10, 5);
  buf *ev1 = nb();
  b_fixed64(ev1, 1, 1700000000000000500ull);
  b_str(ev1, 2, "exception");
  b_msg(ev1, 3, kv("exception.message", av_str("boom")));
  b_uvarint(ev1, 4, 2);
  b_msg(s1, 11, ev1);
  buf *ev2 = nb();
  b_str(ev2, 2, "e2");
  b_msg(s1, 11, ev2);
  b_uvarint(s1, 12, 6);
  buf *l1 = nb();
  b_len(l1, 1, kLTid, 16);
  b_len(l1, 2, kPid, 8);
  b_str(l1, 3, "a=b");
  b_msg(l1, 4, kv("l", av_int(7)));
  b_uvarint(l1, 5, 1);
  b_fixed32(l1, 6, 256);
  b_msg(s1, 13, l1);
  b_uvarint(s1, 14, 7);
  buf *st = nb();
  b_str(st, 2, "bad");
  b_uvarint(st, 3, 2);
  b_msg(s1, 15, st);
  b_fixed32(s1, 16, 257);
  /* span 2 */
  buf *s2 = nb();
  b_len(s2, 1, kTid, 16);
  b_len(s2, 2, kPid, 8);
  b_len(s2, 4, kSid, 8);
  b_str(s2, 5, "child");
  b_uvarint(s2, 6, 3);
  b_fixed64(s2, 7, 5);
  b_fixed64(s2, 8, UINT64_MAX);
  b_msg(s2, 9, kv("k", av_str("v")));
  b_uvarint(s2, 10, 9);
  buf *st2 = nb();
  b_uvarint(st2, 3, 1);
  b_msg(s2, 15, st2);
  buf *ss = nb();
  b_msg(ss, 1, scope);
  b_msg(ss, 2, s1);
  b_msg(ss, 2, s2);
  b_str(ss, 3, "https://scope");
  buf *rs = nb();
  b_msg(rs, 1, res);
  b_msg(rs, 2, ss);
  b_str(rs, 3, "https://opentelemetry.io/schemas/1.21.0");
  /* resource 2: one span */
  buf *s3 = nb();
  b_len(s3, 1, kLTid, 16);
  b_len(s3, 2, kSid, 8);
  buf *ss2 = nb();
  b_msg(ss2, 2, s3);
  buf *rs2 = nb();
  b_msg(rs2, 2, ss2);
  req->n = 0;
  b_msg(req, 1, rs);
  b_msg(req, 1, rs2);
}

/* ------------------------------------------------------------ helpers */

static int64_t col(const oa_batch *b, const char *name) {
  int64_t c = oa_schema_find(b->schema, name);
  if (c < 0) abort();
  return c;
}

/* string value of a (possibly dictionary-encoded) utf8 column */
static bool str_is(const oa_batch *b, const char *name, int64_t row,
                   const char *want) {
  int64_t c = col(b, name);
  const oa_field *f = &b->schema->fields[c];
  const oa_array *a = &b->columns[c];
  int64_t n;
  const uint8_t *d;
  if (f->dict.encoded) {
    oa_field vf = *f;
    vf.dict.encoded = false;
    d = oa_array_get_bytes(&vf, a->dictionary,
                           oa_array_get_dict_index(f, a, row), &n);
  } else {
    d = oa_array_get_bytes(f, a, row, &n);
  }
  return n == (int64_t)strlen(want) && memcmp(d, want, (size_t)n) == 0;
}

static int64_t int_at(const oa_batch *b, const char *name, int64_t row) {
  int64_t c = col(b, name);
  return oa_array_get_int(&b->schema->fields[c], &b->columns[c], row);
}

static uint64_t uint_at(const oa_batch *b, const char *name, int64_t row) {
  int64_t c = col(b, name);
  return oa_array_get_uint(&b->schema->fields[c], &b->columns[c], row);
}

static int decode_json(const char *j, oa_batch *out, oa_otlp_result *res) {
  return oa_otlp_decode_traces_json(j, (int64_t)strlen(j), NULL, out, res, err);
}

/* The attribute map entries of span `row`: the entries struct, its fields
 * and the entry range. */
typedef struct attrs {
  const oa_field *vf; /* value dense union */
  const oa_array *va;
  const oa_field *kf;
  const oa_array *ka;
  int64_t start, end;
} attrs;

static attrs span_attrs(const oa_batch *b, int64_t row) {
  int64_t c = col(b, "attributes");
  const oa_field *mf = &b->schema->fields[c];
  const oa_array *ma = &b->columns[c];
  const int32_t *offs = (const int32_t *)ma->buffers[1].data;
  const oa_field *ef = &mf->children[0];
  const oa_array *ea = &ma->children[0];
  attrs a = {&ef->children[1],       &ea->children[1],
             &ef->children[0],       &ea->children[0],
             offs[ma->offset + row], offs[ma->offset + row + 1]};
  return a;
}

/* entry index of key in span row's attributes, -1 when missing */
static int64_t attr_find(const oa_batch *b, int64_t row, const char *key) {
  attrs a = span_attrs(b, row);
  for (int64_t i = a.start; i < a.end; i++) {
    int64_t n;
    const uint8_t *d;
    if (a.kf->dict.encoded) {
      oa_field vf = *a.kf;
      vf.dict.encoded = false;
      d = oa_array_get_bytes(&vf, a.ka->dictionary,
                             oa_array_get_dict_index(a.kf, a.ka, i), &n);
    } else {
      d = oa_array_get_bytes(a.kf, a.ka, i, &n);
    }
    if (n == (int64_t)strlen(key) && memcmp(d, key, (size_t)n) == 0) return i;
  }
  return -1;
}

static const oa_array *vchild(const attrs *a, int k, const oa_field **f) {
  *f = &a->vf->children[k];
  return &a->va->children[k];
}

/* type code of entry i's value (the union child it is in) */
static int vcode(const attrs *a, int64_t i) {
  return (int8_t)a->va->buffers[0].data[a->va->offset + i];
}

/* row of span 0's attribute key in its union child, which must be the one
 * of type code want (-1 when not) */
static int64_t vrow(const oa_batch *b, const attrs *a, const char *key,
                    int want) {
  int64_t i = attr_find(b, 0, key);
  if (i < 0 || vcode(a, i) != want) {
    fprintf(stderr, "attribute %s: missing or type code %d, want %d\n", key,
            i < 0 ? -1 : vcode(a, i), want);
    CHECK(false);
    return -1;
  }
  int32_t off;
  memcpy(&off, a->va->buffers[1].data + (a->va->offset + i) * 4, 4);
  return off;
}

/* ---------------------------------------------------------------- tests */

OA_TEST(rich_request_equals_protobuf) {
  buf req;
  rich_pb(&req);
  oa_batch bj, bp;
  oa_batch_init(&bj);
  oa_batch_init(&bp);
  oa_otlp_result rj, rp;
  CHECK_OK(decode_json(kRichJson, &bj, &rj), err);
  CHECK_OK(oa_otlp_decode_traces(req.d, (int64_t)req.n, NULL, &bp, &rp, err),
           err);
  CHECK_EQ_INT(rj.accepted_spans, 3);
  CHECK_EQ_INT(rj.rejected_spans, 0);
  CHECK_EQ_INT(rp.accepted_spans, 3);
  CHECK_EQ_INT(bj.length, 3);
  CHECK(oa_batch_equals(&bj, &bp, err));
  if (!oa_batch_equals(&bj, &bp, err)) fprintf(stderr, "%s\n", err->message);

  /* values read back independently */
  CHECK(str_is(&bj, "name", 0, "GET /caf\xc3\xa9 \xf0\x9f\x98\x80"));
  CHECK(str_is(&bj, "name", 1, "child"));
  CHECK(str_is(&bj, "service_name", 0, "checkout"));
  CHECK(str_is(&bj, "trace_state", 0, "k=v"));
  CHECK(str_is(&bj, "status_message", 0, "bad"));
  CHECK(str_is(&bj, "resource_schema_url", 0,
               "https://opentelemetry.io/schemas/1.21.0"));
  CHECK(str_is(&bj, "scope_name", 0, "io.opentelemetry.http"));
  CHECK(str_is(&bj, "scope_version", 1, "1.2.3"));
  CHECK_EQ_INT(int_at(&bj, "kind", 0), 2);
  CHECK_EQ_INT(int_at(&bj, "kind", 1), 3);
  CHECK_EQ_INT(int_at(&bj, "status_code", 0), 2);
  CHECK_EQ_INT(int_at(&bj, "status_code", 1), 1);
  CHECK_EQ_INT(uint_at(&bj, "flags", 0), 257);
  CHECK_EQ_INT(int_at(&bj, "start_time", 0), 1700000000000000000ll);
  CHECK_EQ_INT(int_at(&bj, "duration", 0), 1000);
  CHECK_EQ_INT(int_at(&bj, "start_time", 1), 5);
  CHECK_EQ_INT(int_at(&bj, "end_time", 1), -1); /* UINT64_MAX kept */
  CHECK_EQ_INT(uint_at(&bj, "dropped_attributes_count", 0), 5);
  CHECK_EQ_INT(uint_at(&bj, "dropped_attributes_count", 1), 9);
  CHECK_EQ_INT(uint_at(&bj, "dropped_events_count", 0), 6);
  CHECK_EQ_INT(uint_at(&bj, "dropped_links_count", 0), 7);
  CHECK_EQ_INT(uint_at(&bj, "resource_dropped_attributes_count", 0), 3);
  CHECK_EQ_INT(uint_at(&bj, "scope_dropped_attributes_count", 0), 1);
  CHECK_EQ_INT(int_at(&bj, "resource_id", 2), 1);
  int64_t c = col(&bj, "trace_id");
  int64_t n;
  const uint8_t *d =
      oa_array_get_bytes(&bj.schema->fields[c], &bj.columns[c], 0, &n);
  CHECK(n == 16 && memcmp(d, kTid, 16) == 0);
  c = col(&bj, "parent_span_id");
  CHECK(oa_array_is_null(&bj.schema->fields[c], &bj.columns[c], 0));
  d = oa_array_get_bytes(&bj.schema->fields[c], &bj.columns[c], 1, &n);
  CHECK(n == 8 && memcmp(d, kSid, 8) == 0);

  attrs a = span_attrs(&bj, 0);
  CHECK_EQ_INT(a.end - a.start, 18);
  const oa_field *f;
  const oa_array *ar;
  ar = vchild(&a, OA_ATTR_VALUE_INT, &f);
  CHECK_EQ_INT(oa_array_get_int(f, ar, vrow(&bj, &a, "int_s", OA_ATTR_INT)),
               INT64_MIN);
  CHECK_EQ_INT(oa_array_get_int(f, ar, vrow(&bj, &a, "int_n", OA_ATTR_INT)),
               INT64_MAX);
  ar = vchild(&a, OA_ATTR_VALUE_DOUBLE, &f);
  CHECK(
      isnan(oa_array_get_double(f, ar, vrow(&bj, &a, "nan", OA_ATTR_DOUBLE))));
  CHECK(oa_array_get_double(f, ar, vrow(&bj, &a, "ninf", OA_ATTR_DOUBLE)) ==
        -INFINITY);
  CHECK(oa_array_get_double(f, ar, vrow(&bj, &a, "dbl", OA_ATTR_DOUBLE)) ==
        1.5);
  ar = vchild(&a, OA_ATTR_VALUE_BYTES, &f);
  d = oa_array_get_bytes(f, ar, vrow(&bj, &a, "bytes_url", OA_ATTR_BYTES), &n);
  CHECK(n == 2 && d[0] == 0xfb && d[1] == 0xff);
  d = oa_array_get_bytes(f, ar, vrow(&bj, &a, "bytes", OA_ATTR_BYTES), &n);
  CHECK(n == 4 && memcmp(d, "\x00\x01\x02\x03", 4) == 0);
  CHECK(vrow(&bj, &a, "empty", OA_ATTR_EMPTY) >= 0);
  CHECK(vrow(&bj, &a, "novalue", OA_ATTR_EMPTY) >= 0);
  CHECK(vrow(&bj, &a, "arr", OA_ATTR_ARRAY) >= 0);
  CHECK(vrow(&bj, &a, "kv", OA_ATTR_KVLIST) >= 0);
  CHECK(vrow(&bj, &a, "str", OA_ATTR_STR) >= 0);
  oa_batch_reset(&bj);
  oa_batch_reset(&bp);
}

static void check_json_roundtrip(const char *json) {
  oa_batch b1, b2;
  oa_batch_init(&b1);
  oa_batch_init(&b2);
  oa_bytes j;
  oa_bytes_init(&j);
  CHECK_OK(decode_json(json, &b1, NULL), err);
  CHECK_OK(oa_otlp_encode_traces_json(&b1, &j, err), err);
  CHECK_OK(oa_otlp_decode_traces_json((const char *)j.data, j.size, NULL, &b2,
                                      NULL, err),
           err);
  bool eq = oa_batch_equals(&b1, &b2, err);
  CHECK(eq);
  if (!eq)
    fprintf(stderr, "%s\n%.*s\n", err->message, (int)j.size,
            (const char *)j.data);
  oa_bytes_reset(&j);
  oa_batch_reset(&b1);
  oa_batch_reset(&b2);
}

static void check_pb_roundtrip(const uint8_t *pb, size_t n) {
  oa_batch b1, b2;
  oa_batch_init(&b1);
  oa_batch_init(&b2);
  oa_bytes j;
  oa_bytes_init(&j);
  CHECK_OK(oa_otlp_decode_traces(pb, (int64_t)n, NULL, &b1, NULL, err), err);
  CHECK(b1.length > 0);
  CHECK_OK(oa_otlp_encode_traces_json(&b1, &j, err), err);
  CHECK_OK(oa_otlp_decode_traces_json((const char *)j.data, j.size, NULL, &b2,
                                      NULL, err),
           err);
  bool eq = oa_batch_equals(&b1, &b2, err);
  CHECK(eq);
  if (!eq) fprintf(stderr, "%s\n", err->message);
  oa_bytes_reset(&j);
  oa_batch_reset(&b1);
  oa_batch_reset(&b2);
}

OA_TEST(roundtrips) {
  check_json_roundtrip(kRichJson);
  check_json_roundtrip("{}");
  buf req;
  rich_pb(&req);
  check_pb_roundtrip(req.d, req.n);
}

/* Random requests over every value type, nested values, ids, counts. */
static uint64_t g_rnd = 88172645463325252ull;
static uint64_t rnd(void) {
  g_rnd ^= g_rnd << 13;
  g_rnd ^= g_rnd >> 7;
  g_rnd ^= g_rnd << 17;
  return g_rnd;
}

static const char *const kWords[] = {"",
                                     "a",
                                     "http.method",
                                     "caf\xc3\xa9",
                                     "q\"uo\\te\n\x01",
                                     "\xf0\x9f\x98\x80"};

static buf *rnd_value(int depth) {
  switch (rnd() % (depth < 3 ? 9 : 7)) {
  case 0:
    return av_str(kWords[rnd() % 6]);
  case 1:
    return av_bool(rnd() & 1);
  case 2:
    return av_int((int64_t)rnd() >> (rnd() % 64));
  case 3: {
    double d;
    uint64_t bits = rnd();
    memcpy(&d, &bits, 8);
    if (isnan(d)) d = NAN; /* only the canonical NaN survives JSON */
    return av_dbl(rnd() & 1 ? d : (double)(int64_t)(rnd() % 1000) / 8);
  }
  case 4: {
    uint8_t bytes[7];
    uint64_t r = rnd();
    memcpy(bytes, &r, 7);
    return av_bytes(bytes, rnd() % 8);
  }
  case 5:
    return av_empty();
  case 6:
    return av_str("x");
  case 7: {
    buf *items[3];
    int n = (int)(rnd() % 4);
    for (int i = 0; i < n; i++)
      items[i] = rnd_value(depth + 1);
    return av_list(5, n, items);
  }
  default: {
    buf *items[3];
    int n = (int)(rnd() % 4);
    for (int i = 0; i < n; i++)
      items[i] = kv(kWords[rnd() % 6], rnd_value(depth + 1));
    return av_list(6, n, items);
  }
  }
}

static void rnd_request(buf *req) {
  g_pool_n = 0;
  req->n = 0;
  int n_rs = 1 + (int)(rnd() % 2);
  for (int r = 0; r < n_rs; r++) {
    buf *rs = nb(), *res = nb();
    b_msg(res, 1, kv("service.name", av_str(kWords[rnd() % 6])));
    if (rnd() & 1) b_uvarint(res, 2, rnd() % 5);
    if (rnd() & 1) b_msg(rs, 1, res);
    int n_ss = 1 + (int)(rnd() % 2);
    for (int s = 0; s < n_ss; s++) {
      buf *ss = nb(), *scope = nb();
      b_str(scope, 1, kWords[1 + rnd() % 5]);
      b_msg(ss, 1, scope);
      int n_sp = 1 + (int)(rnd() % 3);
      for (int k = 0; k < n_sp; k++) {
        buf *sp = nb();
        uint8_t id[16];
        for (int i = 0; i < 16; i++)
          id[i] = (uint8_t)rnd();
        b_len(sp, 1, id, 16);
        b_len(sp, 2, id + 4, 8);
        if (rnd() & 1) b_len(sp, 4, id + 8, 8);
        b_str(sp, 5, kWords[rnd() % 6]);
        if (rnd() & 1) b_uvarint(sp, 6, rnd() % 6);
        b_fixed64(sp, 7, rnd());
        b_fixed64(sp, 8, rnd());
        int n_at = (int)(rnd() % 5);
        for (int i = 0; i < n_at; i++)
          b_msg(sp, 9, kv(kWords[rnd() % 6], rnd_value(0)));
        if (rnd() & 1) b_uvarint(sp, 10, (uint32_t)rnd());
        if (rnd() & 1) {
          buf *ev = nb();
          b_fixed64(ev, 1, rnd());
          b_str(ev, 2, kWords[rnd() % 6]);
          b_msg(ev, 3, kv("e", rnd_value(0)));
          b_msg(sp, 11, ev);
        }
        if (rnd() & 1) {
          buf *ln = nb();
          b_len(ln, 1, id, 16);
          b_len(ln, 2, id + 8, 8);
          b_fixed32(ln, 6, (uint32_t)rnd());
          b_msg(ln, 4, kv("l", rnd_value(0)));
          b_msg(sp, 13, ln);
        }
        if (rnd() & 1) {
          buf *st = nb();
          b_str(st, 2, kWords[rnd() % 6]);
          b_uvarint(st, 3, rnd() % 3);
          b_msg(sp, 15, st);
        }
        if (rnd() & 1) b_fixed32(sp, 16, (uint32_t)rnd());
        b_msg(ss, 2, sp);
      }
      if (rnd() & 1) b_str(ss, 3, "https://s");
      b_msg(rs, 2, ss);
    }
    b_msg(req, 1, rs);
  }
}

OA_TEST(random_roundtrips) {
  static buf req;
  for (int i = 0; i < 200; i++) {
    rnd_request(&req);
    check_pb_roundtrip(req.d, req.n);
  }
}

OA_TEST(generator_roundtrips) {
  /* realistic spans (semantic-convention attributes, events with stack
   * traces, links, errors), several requests */
  oa_trace_gen g;
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  o.spans = 3000;
  o.seed = 42;
  CHECK_OK(oa_trace_gen_init(&g, &o, err), err);
  oa_bytes pb;
  oa_bytes_init(&pb);
  int64_t total = 0;
  for (;;) {
    int64_t n = 0;
    CHECK_OK(oa_trace_gen_next_request(&g, 1000, &pb, &n, err), err);
    if (n == 0) break;
    total += n;
    check_pb_roundtrip(pb.data, (size_t)pb.size);
  }
  CHECK_EQ_INT(total, 3000);
  oa_bytes_reset(&pb);
  oa_trace_gen_reset(&g);
}

OA_TEST(exact_encoder_output) {
  const char *in =
      "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service."
      "name\",\"value\":{\"stringValue\":\"svc\"}}]},\"scopeSpans\":[{"
      "\"scope\":{\"name\":\"lib\"},\"spans\":[{\"traceId\":"
      "\"" TID_HEX "\",\"spanId\":\"" SID_HEX "\",\"name\":\"op\\t\\\"x\\\"\","
      "\"kind\":1,\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"20\","
      "\"attributes\":[{\"key\":\"i\",\"value\":{\"intValue\":-3}},{\"key\":"
      "\"d\",\"value\":{\"doubleValue\":0.1}},{\"key\":\"z\",\"value\":{"
      "\"doubleValue\":-0.0}},{\"key\":\"b\",\"value\":{\"bytesValue\":"
      "\"/w\"}},{\"key\":\"f\",\"value\":{\"boolValue\":false}}],"
      "\"status\":{}}]}]}]}";
  const char *want =
      "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service."
      "name\",\"value\":{\"stringValue\":\"svc\"}}]},\"scopeSpans\":[{"
      "\"scope\":{\"name\":\"lib\"},\"spans\":[{\"traceId\":"
      "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"15161718191a1b1c\","
      "\"name\":\"op\\t\\\"x\\\"\",\"kind\":1,\"startTimeUnixNano\":\"10\","
      "\"endTimeUnixNano\":\"20\",\"attributes\":[{\"key\":\"i\",\"value\":{"
      "\"intValue\":\"-3\"}},{\"key\":\"d\",\"value\":{\"doubleValue\":0.1}},"
      "{\"key\":\"z\",\"value\":{\"doubleValue\":-0.0}},{\"key\":\"b\","
      "\"value\":{\"bytesValue\":\"/w==\"}},{\"key\":\"f\",\"value\":{"
      "\"boolValue\":false}}]}]}]}]}";
  oa_batch b;
  oa_batch_init(&b);
  oa_bytes j;
  oa_bytes_init(&j);
  CHECK_OK(decode_json(in, &b, NULL), err);
  CHECK_OK(oa_otlp_encode_traces_json(&b, &j, err), err);
  CHECK(j.size == (int64_t)strlen(want) &&
        memcmp(j.data, want, strlen(want)) == 0);
  if (j.size != (int64_t)strlen(want) || memcmp(j.data, want, strlen(want)))
    fprintf(stderr, "got  %.*s\nwant %s\n", (int)j.size, (const char *)j.data,
            want);
  oa_bytes_reset(&j);
  oa_batch_reset(&b);
}

/* one span with `body` inside the standard envelope, plus a good span */
static void span_req(char *out, size_t cap, const char *body) {
  snprintf(out, cap,
           "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
           "\"" TID_HEX "\",\"spanId\":\"" SID_HEX "\",\"name\":\"ok\"},"
           "{%s}]}]}]}",
           body);
}

static void expect_rejected(const char *body, const char *msg) {
  char req[8192];
  span_req(req, sizeof req, body);
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(decode_json(req, &b, &res), err);
  CHECK_EQ_INT(res.accepted_spans, 1);
  CHECK_EQ_INT(res.rejected_spans, 1);
  CHECK_EQ_INT(b.length, 1);
  if (!strstr(res.error_message, msg)) {
    fprintf(stderr, "span {%s}: message \"%s\" lacks \"%s\"\n", body,
            res.error_message, msg);
    CHECK(false);
  }
  oa_batch_reset(&b);
}

#define IDS "\"traceId\":\"" TID_HEX "\",\"spanId\":\"" SID_HEX "\""

OA_TEST(bad_spans_rejected_and_counted) {
  expect_rejected("\"traceId\":\"zz02030405060708090a0b0c0d0e0f10\","
                  "\"spanId\":\"" SID_HEX "\"",
                  "resourceSpans[0].scopeSpans[0].spans[1].traceId: not a hex");
  expect_rejected("\"traceId\":\"0102030405060708090a0b0c0d0e0f1\","
                  "\"spanId\":\"" SID_HEX "\"",
                  "spans[1].traceId: not a hex");
  expect_rejected("\"traceId\":\"0102030405060708090a0b0c0d0e0f\","
                  "\"spanId\":\"" SID_HEX "\"",
                  "spans[1]: span trace_id is 15 bytes");
  expect_rejected("\"traceId\":\"\",\"spanId\":\"" SID_HEX "\"",
                  "spans[1]: span trace_id is 0 bytes");
  expect_rejected(IDS ",\"parentSpanId\":\"0102\"",
                  "span parent_span_id is 2 bytes");
  expect_rejected(IDS ",\"links\":[{\"traceId\":\"" TID_HEX "\",\"spanId\":"
                      "\"" SID_HEX "\"},{\"traceId\":\"" TID_HEX
                      "\",\"spanId\":\"x\"}]",
                  "spans[1].links[1].spanId: not a hex");
  expect_rejected(IDS ",\"name\":\"bad \xff utf8\"",
                  "span name: invalid UTF-8");
  /* lone surrogates: the span is rejected (invalid UTF-8), not the request */
  expect_rejected(IDS ",\"name\":\"x\\ud83dy\"", "span name: invalid UTF-8");
  expect_rejected(IDS ",\"attributes\":[{\"key\":\"k\",\"value\":{"
                      "\"stringValue\":\"\\udc00\"}}]",
                  "span attributes: invalid UTF-8");
  /* values nested past max_depth (32) */
  char body[4096];
  int n = snprintf(body, sizeof body,
                   IDS ",\"attributes\":[{\"key\":\"deep\",\"value\":");
  for (int i = 0; i < 34; i++)
    n += snprintf(body + n, sizeof body - (size_t)n,
                  "{\"arrayValue\":{\"values\":[");
  n += snprintf(body + n, sizeof body - (size_t)n, "{}");
  for (int i = 0; i < 34; i++)
    n += snprintf(body + n, sizeof body - (size_t)n, "]}}");
  snprintf(body + n, sizeof body - (size_t)n, "}]");
  expect_rejected(body, "nested deeper than 32");
}

OA_TEST(bad_resource_rejects_its_spans) {
  const char *req =
      "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"a\\ud800"
      "\"}]},\"scopeSpans\":[{\"spans\":[{" IDS "},{" IDS "}]}]},"
      "{\"scopeSpans\":[{\"spans\":[{" IDS "}]}]}]}";
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(decode_json(req, &b, &res), err);
  CHECK_EQ_INT(res.rejected_spans, 2);
  CHECK_EQ_INT(res.accepted_spans, 1);
  CHECK(strstr(res.error_message,
               "resourceSpans[0]: resource attributes: invalid UTF-8"));
  if (!strstr(res.error_message, "resourceSpans[0]: resource"))
    fprintf(stderr, "%s\n", res.error_message);
  oa_batch_reset(&b);
}

OA_TEST(lenient_forms_accepted) {
  /* null = absent, unknown fields anywhere, case-insensitive hex, numbers
   * as strings and strings as numbers, enum names, exponent integers */
  const char *a =
      "{\"resourceSpans\":[{\"resource\":null,\"extra\":[1,{\"a\":true}],"
      "\"scopeSpans\":[{\"spans\":[{\"traceId\":\"" TID_HEX
      "\",\"spanId\":\"15161718191a1B1c\",\"parentSpanId\":null,"
      "\"kind\":\"SPAN_KIND_PRODUCER\",\"flags\":\"3\","
      "\"droppedEventsCount\":1e1,\"startTimeUnixNano\":1.7e18,"
      "\"status\":{\"code\":\"2\"},\"name\":null,\"events\":null,"
      "\"attributes\":[{\"key\":\"d\",\"value\":{\"doubleValue\":\"2.5e0\"}},"
      "{\"key\":\"i\",\"value\":{\"intValue\":-0}}]}]}]}],\"x\":null}";
  const char *b =
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
      "\"" TID_HEX "\",\"spanId\":\"15161718191a1b1c\",\"kind\":4,"
      "\"flags\":3,\"droppedEventsCount\":\"10\","
      "\"startTimeUnixNano\":\"1700000000000000000\",\"status\":{\"code\":2},"
      "\"attributes\":[{\"key\":\"d\",\"value\":{\"doubleValue\":2.5}},"
      "{\"key\":\"i\",\"value\":{\"intValue\":\"0\"}}]}]}]}]}";
  oa_batch ba, bb;
  oa_batch_init(&ba);
  oa_batch_init(&bb);
  CHECK_OK(decode_json(a, &ba, NULL), err);
  CHECK_OK(decode_json(b, &bb, NULL), err);
  CHECK_EQ_INT(ba.length, 1);
  CHECK(oa_batch_equals(&ba, &bb, err));
  CHECK_EQ_INT(int_at(&ba, "kind", 0), 4);
  CHECK_EQ_INT(uint_at(&ba, "dropped_events_count", 0), 10);
  oa_batch_reset(&ba);
  oa_batch_reset(&bb);
}

OA_TEST(extreme_numbers_as_json_numbers) {
  /* the 64-bit limits written as JSON numbers are exact, not clamped */
  const char *j =
      "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
      "\"" TID_HEX "\",\"spanId\":\"" SID_HEX "\","
      "\"endTimeUnixNano\":18446744073709551615,\"attributes\":[{\"key\":"
      "\"min\",\"value\":{\"intValue\":-9223372036854775808}},{\"key\":"
      "\"max\",\"value\":{\"intValue\":9223372036854775807}}]}]}]}]}";
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(decode_json(j, &b, NULL), err);
  CHECK_EQ_INT(b.length, 1);
  if (b.length == 1) {
    CHECK_EQ_INT(int_at(&b, "end_time", 0), -1);
    attrs a = span_attrs(&b, 0);
    const oa_field *f;
    const oa_array *ar = vchild(&a, OA_ATTR_VALUE_INT, &f);
    CHECK_EQ_INT(oa_array_get_int(f, ar, vrow(&b, &a, "min", OA_ATTR_INT)),
                 INT64_MIN);
    CHECK_EQ_INT(oa_array_get_int(f, ar, vrow(&b, &a, "max", OA_ATTR_INT)),
                 INT64_MAX);
  }
  oa_batch_reset(&b);
}

static void expect_invalid(const char *json, const char *msg) {
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  err->message[0] = 0;
  int rc = decode_json(json, &b, &res);
  if (rc != EINVAL || !strstr(err->message, msg)) {
    fprintf(stderr, "%s\n -> rc %d \"%s\", expected EINVAL \"%s\"\n", json, rc,
            err->message, msg);
    CHECK(false);
  }
  CHECK_EQ_INT(b.length, 0);
  oa_batch_reset(&b);
}

static void expect_invalid_span(const char *body, const char *msg) {
  char req[4096];
  span_req(req, sizeof req, body);
  expect_invalid(req, msg);
}

#define SP "resourceSpans[0].scopeSpans[0].spans[1]."

OA_TEST(wrong_types_reject_request) {
  expect_invalid_span("\"traceId\":5",
                      SP "traceId: expected a hex string, got a number");
  expect_invalid_span("\"name\":[]",
                      SP "name: expected a string, got an array");
  expect_invalid_span("\"kind\":\"SPAN_KIND_BOGUS\"", SP "kind: unknown enum");
  expect_invalid_span("\"kind\":2147483648", "out of range for an enum");
  expect_invalid_span("\"kind\":-2147483649", "out of range for an enum");
  expect_invalid_span("\"droppedAttributesCount\":-1",
                      "out of range for uint32");
  expect_invalid_span("\"droppedAttributesCount\":4294967296", "out of range");
  expect_invalid_span("\"flags\":1.5", SP "flags: 1.5 is not an integer");
  expect_invalid_span("\"startTimeUnixNano\":\"-1\"",
                      "out of range for fixed64");
  expect_invalid_span("\"startTimeUnixNano\":\"18446744073709551616\"",
                      "out of range");
  expect_invalid_span("\"startTimeUnixNano\":\"12a\"", "is not an integer");
  expect_invalid_span("\"startTimeUnixNano\":\"\"", "is not an integer");
  expect_invalid_span("\"startTimeUnixNano\":true", "expected an integer");
  expect_invalid_span("\"attributes\":[{\"key\":\"i\",\"value\":{\"intValue\":"
                      "\"9223372036854775808\"}}]",
                      SP "attributes[0].value.intValue: 9223372036854775808 is "
                         "out of range for int64");
  expect_invalid_span("\"attributes\":[{\"key\":\"i\",\"value\":{\"intValue\":"
                      "\"-9223372036854775809\"}}]",
                      "out of range");
  expect_invalid_span("\"attributes\":[{\"key\":\"i\",\"value\":{\"intValue\":"
                      "18446744073709551615}}]",
                      "out of range for int64");
  expect_invalid_span("\"attributes\":[{\"key\":\"d\",\"value\":{"
                      "\"doubleValue\":\"abc\"}}]",
                      "is not a double");
  expect_invalid_span("\"attributes\":[{\"key\":\"d\",\"value\":{"
                      "\"doubleValue\":\"inf\"}}]",
                      "is not a double");
  expect_invalid_span("\"attributes\":[{\"key\":\"d\",\"value\":{"
                      "\"doubleValue\":1e999}}]",
                      "");
  expect_invalid_span("\"attributes\":[{\"key\":\"b\",\"value\":{"
                      "\"bytesValue\":\"@@@@\"}}]",
                      "invalid base64 character");
  expect_invalid_span("\"attributes\":[{\"key\":\"b\",\"value\":{"
                      "\"bytesValue\":\"QUJDR\"}}]",
                      "invalid base64 (length 5)");
  expect_invalid_span("\"attributes\":[{\"key\":\"b\",\"value\":{"
                      "\"bytesValue\":\"QQ=\"}}]",
                      "invalid base64");
  expect_invalid_span("\"attributes\":[{\"key\":\"b\",\"value\":{"
                      "\"boolValue\":\"true\"}}]",
                      "expected true or false, got a string");
  expect_invalid_span("\"attributes\":[{\"key\":\"b\",\"value\":{"
                      "\"boolValue\":true,\"intValue\":1}}]",
                      "AnyValue has more than one value");
  expect_invalid_span("\"attributes\":[null]", SP "attributes[0]: null is not");
  expect_invalid_span("\"attributes\":{}", SP "attributes: expected an array");
  expect_invalid_span("\"attributes\":[5]", "expected an object, got a number");
  expect_invalid_span("\"traceId\":\"" TID_HEX "\",\"trace_id\":\"" TID_HEX
                      "\"",
                      SP "traceId: given twice");
  expect_invalid_span("\"status\":\"error\"", SP "status: expected an object");
  expect_invalid("{\"resourceSpans\":{}}",
                 "resourceSpans: expected an array, got an object");
  expect_invalid("[]", "the request must be an object, got an array");
  expect_invalid("\"x\"", "must be an object");
}

OA_TEST(malformed_json_rejects_request) {
  expect_invalid("", "otlp json: offset 0: unexpected end of input");
  expect_invalid("{\"resourceSpans\":[]", "unexpected end of input");
  expect_invalid("{\"resourceSpans\":[],}", "otlp json: offset 20:");
  expect_invalid("{\"resourceSpans\":[]} {}", "offset 21");
  expect_invalid("{\"a\":1} x", "offset 8");
  expect_invalid("{\"a\":tru}", "otlp json: offset");
  expect_invalid("{\"a\":[1,,2]}", "otlp json: offset 8: unexpected character");
  expect_invalid("{\"a\":01}", "otlp json: offset");
  /* integers past 64 bits in known fields (unknown fields may hold any) */
  expect_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                 "\"startTimeUnixNano\":99999999999999999999}]}]}]}",
                 "otlp json: offset 64: integer out of the 64-bit range");
  expect_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                 "\"name\":\"-99999999999999999999\",\"attributes\":[{"
                 "\"key\":\"i\",\"value\":{\"intValue\":"
                 "-9223372036854775809}}]}]}]}]}",
                 "integer out of the 64-bit range");
  /* NaN / Infinity literals are not JSON (RFC 8259): a syntax error */
  expect_invalid("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                 "\"attributes\":[{\"key\":\"d\",\"value\":{"
                 "\"doubleValue\":NaN}}]}]}]}]}",
                 "otlp json: offset 92: unexpected character 'N' (in "
                 "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value."
                 "doubleValue)");
  expect_invalid("{\"a\":\"\\x\"}", "otlp json: offset");
  /* offsets count in the caller's text even after a lone surrogate */
  expect_invalid("{\"a\":\"\\ud800\",}", "otlp json: offset 14");
  /* JSON nesting past the parser's depth limit (4 * max_depth + 32) */
  static char deep[4096];
  int n = 0;
  for (int i = 0; i < 200; i++)
    deep[n++] = '[';
  for (int i = 0; i < 200; i++)
    deep[n++] = ']';
  deep[n] = 0;
  char req[4200];
  snprintf(req, sizeof req, "{\"x\":%s}", deep);
  expect_invalid(req, "nesting too deep");
}

OA_TEST(truncated_at_every_byte) {
  const size_t len = strlen(kRichJson) - 1; /* without the final newline */
  char *copy = malloc(len);
  for (size_t cut = 0; cut < len; cut++) {
    /* an exact-size heap copy, so that ASan sees any read past the end */
    memcpy(copy, kRichJson, cut);
    oa_batch b;
    oa_batch_init(&b);
    oa_otlp_result res;
    int rc = oa_otlp_decode_traces_json(cut ? copy : NULL, (int64_t)cut, NULL,
                                        &b, &res, err);
    if (rc != EINVAL) {
      fprintf(stderr, "cut at %zu: rc %d\n", cut, rc);
      CHECK(false);
      break;
    }
    CHECK_EQ_INT(b.length, 0);
    oa_batch_reset(&b);
  }
  free(copy);
}

OA_TEST(reusable_decoder) {
  oa_otlp_json_decoder *dec;
  CHECK_OK(oa_otlp_json_decoder_new(&dec, NULL, err), err);
  oa_batch b1, b2;
  oa_batch_init(&b1);
  oa_batch_init(&b2);
  oa_otlp_result res;
  CHECK_OK(oa_otlp_json_decoder_decode(
               dec, kRichJson, (int64_t)strlen(kRichJson), &b1, &res, err),
           err);
  /* a failing request in between leaves nothing behind */
  CHECK_FAILS(oa_otlp_json_decoder_decode(dec, "{\"resourceSpans\":5}", 19, &b2,
                                          &res, err),
              EINVAL, err, "resourceSpans");
  CHECK_OK(oa_otlp_json_decoder_decode(
               dec, kRichJson, (int64_t)strlen(kRichJson), &b2, &res, err),
           err);
  CHECK(oa_batch_equals(&b1, &b2, err));
  CHECK_EQ_INT(res.accepted_spans, 3);
  oa_batch_reset(&b1);
  oa_batch_reset(&b2);
  oa_otlp_json_decoder_free(dec);
}

OA_TEST(pb_to_json_rejects_bad_wire) {
  oa_bytes j;
  oa_bytes_init(&j);
  CHECK_OK(oa_bytes_append(&j, "keep", 4), err);
  /* resource_spans with a length past the end */
  CHECK_FAILS(
      oa_otlp_traces_pb_to_json((const uint8_t *)"\x0a\x05\x01", 3, &j, err),
      EINVAL, err, "bad length");
  /* span name with invalid UTF-8 */
  buf req, s;
  s.n = 0;
  b_str(&s, 5, "\xc3");
  buf ss = {.n = 0}, rs = {.n = 0};
  b_msg(&ss, 2, &s);
  b_msg(&rs, 2, &ss);
  req.n = 0;
  b_msg(&req, 1, &rs);
  CHECK_FAILS(oa_otlp_traces_pb_to_json(req.d, (int64_t)req.n, &j, err), EINVAL,
              err, "Span.name: invalid UTF-8");
  CHECK_EQ_INT(j.size, 4); /* left as it was */
  oa_bytes_reset(&j);
}

OA_TEST_MAIN(OA_T(rich_request_equals_protobuf), OA_T(roundtrips),
             OA_T(random_roundtrips), OA_T(generator_roundtrips),
             OA_T(exact_encoder_output), OA_T(bad_spans_rejected_and_counted),
             OA_T(bad_resource_rejects_its_spans), OA_T(lenient_forms_accepted),
             OA_T(extreme_numbers_as_json_numbers),
             OA_T(wrong_types_reject_request),
             OA_T(malformed_json_rejects_request),
             OA_T(truncated_at_every_byte), OA_T(reusable_decoder),
             OA_T(pb_to_json_rejects_bad_wire))
