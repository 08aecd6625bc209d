/* OTLP protobuf codec against an independent implementation: requests are
 * built and packed with protobuf-c (generated at build time from proto/),
 * decoded by ours into a span batch, encoded back by ours, unpacked with
 * protobuf-c and compared field by field with what was sent. Also checks
 * decode(encode(decode(x))) == decode(x), partial success (bad spans are
 * rejected and counted, the rest kept) and that truncated, mutated and random
 * inputs never crash. */
#include <math.h>
#include <stdarg.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlparrow/otlp.h"
#include "test.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ArrayValue;
typedef Opentelemetry__Proto__Common__V1__KeyValueList KeyValueList;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Common__V1__EntityRef EntityRef;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link Link;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;

static oa_error err_s;
static oa_error *err = &err_s;

#define V(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

/* ------------------------------------------------------- arena builders */

static _Alignas(16) uint8_t g_arena[8 << 20];
static size_t g_used;

static void *A(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (g_used + n > sizeof g_arena) abort();
  void *p = g_arena + g_used;
  g_used += n;
  memset(p, 0, n);
  return p;
}

static AnyValue *av(void) {
  AnyValue *v = A(sizeof *v);
  opentelemetry__proto__common__v1__any_value__init(v);
  return v;
}
static AnyValue *av_str(const char *s) {
  AnyValue *v = av();
  v->value_case = V(STRING_VALUE);
  v->string_value = (char *)s;
  return v;
}
static AnyValue *av_int(int64_t i) {
  AnyValue *v = av();
  v->value_case = V(INT_VALUE);
  v->int_value = i;
  return v;
}
static AnyValue *av_double(double d) {
  AnyValue *v = av();
  v->value_case = V(DOUBLE_VALUE);
  v->double_value = d;
  return v;
}
static AnyValue *av_bool(bool b) {
  AnyValue *v = av();
  v->value_case = V(BOOL_VALUE);
  v->bool_value = b;
  return v;
}
static AnyValue *av_bytes(const void *d, size_t n) {
  AnyValue *v = av();
  v->value_case = V(BYTES_VALUE);
  v->bytes_value.data = (uint8_t *)d;
  v->bytes_value.len = n;
  return v;
}
static AnyValue *av_array(size_t n, AnyValue **items) {
  AnyValue *v = av();
  ArrayValue *a = A(sizeof *a);
  opentelemetry__proto__common__v1__array_value__init(a);
  a->n_values = n;
  a->values = A(sizeof *items * (n ? n : 1));
  if (n) memcpy(a->values, items, sizeof *items * n);
  v->value_case = V(ARRAY_VALUE);
  v->array_value = a;
  return v;
}
static AnyValue *av_kvlist(size_t n, KeyValue **items) {
  AnyValue *v = av();
  KeyValueList *l = A(sizeof *l);
  opentelemetry__proto__common__v1__key_value_list__init(l);
  l->n_values = n;
  l->values = A(sizeof *items * (n ? n : 1));
  if (n) memcpy(l->values, items, sizeof *items * n);
  v->value_case = V(KVLIST_VALUE);
  v->kvlist_value = l;
  return v;
}
static KeyValue *kv(const char *key, AnyValue *v) {
  KeyValue *k = A(sizeof *k);
  opentelemetry__proto__common__v1__key_value__init(k);
  k->key = (char *)key;
  k->value = v;
  return k;
}
static KeyValue **kvs(size_t n, ...) {
  KeyValue **out = A(sizeof *out * (n ? n : 1));
  va_list ap;
  va_start(ap, n);
  for (size_t i = 0; i < n; i++)
    out[i] = va_arg(ap, KeyValue *);
  va_end(ap);
  return out;
}

static uint8_t *id_bytes(size_t n, uint32_t seed) {
  uint8_t *p = A(n ? n : 1);
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(seed * 31 + i * 7 + 1);
  return p;
}

static Span *span(uint32_t seed) {
  Span *s = A(sizeof *s);
  opentelemetry__proto__trace__v1__span__init(s);
  s->trace_id.data = id_bytes(16, seed);
  s->trace_id.len = 16;
  s->span_id.data = id_bytes(8, seed + 100);
  s->span_id.len = 8;
  s->name = (char *)"op";
  s->start_time_unix_nano = 1700000000000000000ull + seed;
  s->end_time_unix_nano = 1700000000000000000ull + seed * 1000 + 5;
  return s;
}

static ScopeSpans *scope_spans(Scope *scope, const char *url, size_t n,
                               Span **spans) {
  ScopeSpans *ss = A(sizeof *ss);
  opentelemetry__proto__trace__v1__scope_spans__init(ss);
  ss->scope = scope;
  if (url) ss->schema_url = (char *)url;
  ss->n_spans = n;
  ss->spans = A(sizeof *spans * (n ? n : 1));
  if (n) memcpy(ss->spans, spans, sizeof *spans * n);
  return ss;
}

static ResourceSpans *resource_spans(Resource *r, const char *url, size_t n,
                                     ScopeSpans **ss) {
  ResourceSpans *rs = A(sizeof *rs);
  opentelemetry__proto__trace__v1__resource_spans__init(rs);
  rs->resource = r;
  if (url) rs->schema_url = (char *)url;
  rs->n_scope_spans = n;
  rs->scope_spans = A(sizeof *ss * (n ? n : 1));
  if (n) memcpy(rs->scope_spans, ss, sizeof *ss * n);
  return rs;
}

static Request *request(size_t n, ResourceSpans **rs) {
  Request *r = A(sizeof *r);
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(
      r);
  r->n_resource_spans = n;
  r->resource_spans = A(sizeof *rs * (n ? n : 1));
  if (n) memcpy(r->resource_spans, rs, sizeof *rs * n);
  return r;
}

static uint8_t *pack(const Request *r, size_t *len) {
  *len =
      opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
          r);
  uint8_t *buf = A(*len + 1);
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
      r, buf);
  return buf;
}

/* ------------------------------------------------ field-by-field compare */

static char g_path[512];

static bool fail_at(const char *what) {
  fprintf(stderr, "  mismatch at %s: %s\n", g_path, what);
  return false;
}

static bool str_eq(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}
static bool bin_eq(ProtobufCBinaryData a, ProtobufCBinaryData b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static bool kvs_eq(size_t na, KeyValue **a, size_t nb, KeyValue **b);

static bool any_eq(const AnyValue *a, const AnyValue *b) {
  int ca = a ? (int)a->value_case : 0, cb = b ? (int)b->value_case : 0;
  if (ca != cb) return fail_at("AnyValue case");
  switch (ca) {
  case V(STRING_VALUE):
    return str_eq(a->string_value, b->string_value) || fail_at("string_value");
  case V(BOOL_VALUE):
    return (!a->bool_value == !b->bool_value) || fail_at("bool_value");
  case V(INT_VALUE):
    return a->int_value == b->int_value || fail_at("int_value");
  case V(DOUBLE_VALUE):
    return memcmp(&a->double_value, &b->double_value, 8) == 0 ||
           fail_at("double_value bits");
  case V(BYTES_VALUE):
    return bin_eq(a->bytes_value, b->bytes_value) || fail_at("bytes_value");
  case V(ARRAY_VALUE):
    if (a->array_value->n_values != b->array_value->n_values)
      return fail_at("array length");
    for (size_t i = 0; i < a->array_value->n_values; i++)
      if (!any_eq(a->array_value->values[i], b->array_value->values[i]))
        return false;
    return true;
  case V(KVLIST_VALUE):
    return kvs_eq(a->kvlist_value->n_values, a->kvlist_value->values,
                  b->kvlist_value->n_values, b->kvlist_value->values);
  default:
    return true;
  }
}

static bool kvs_eq(size_t na, KeyValue **a, size_t nb, KeyValue **b) {
  if (na != nb) return fail_at("attribute count");
  for (size_t i = 0; i < na; i++) {
    if (!str_eq(a[i]->key, b[i]->key)) return fail_at("attribute key");
    if (!any_eq(a[i]->value, b[i]->value)) return false;
  }
  return true;
}

static bool resource_eq(const Resource *a, const Resource *b) {
  static const Resource empty =
      OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
  if (!a) a = &empty;
  if (!b) b = &empty;
  if (a->dropped_attributes_count != b->dropped_attributes_count)
    return fail_at("resource dropped_attributes_count");
  if (a->n_entity_refs != b->n_entity_refs) return fail_at("entity_refs count");
  for (size_t i = 0; i < a->n_entity_refs; i++) {
    const EntityRef *x = a->entity_refs[i], *y = b->entity_refs[i];
    if (!str_eq(x->schema_url, y->schema_url) || !str_eq(x->type, y->type) ||
        x->n_id_keys != y->n_id_keys ||
        x->n_description_keys != y->n_description_keys)
      return fail_at("entity_ref");
    for (size_t k = 0; k < x->n_id_keys; k++)
      if (!str_eq(x->id_keys[k], y->id_keys[k])) return fail_at("id_keys");
    for (size_t k = 0; k < x->n_description_keys; k++)
      if (!str_eq(x->description_keys[k], y->description_keys[k]))
        return fail_at("description_keys");
  }
  return kvs_eq(a->n_attributes, a->attributes, b->n_attributes, b->attributes);
}

static bool scope_eq(const Scope *a, const Scope *b) {
  static const Scope empty =
      OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
  if (!a) a = &empty;
  if (!b) b = &empty;
  if (!str_eq(a->name, b->name)) return fail_at("scope name");
  if (!str_eq(a->version, b->version)) return fail_at("scope version");
  if (a->dropped_attributes_count != b->dropped_attributes_count)
    return fail_at("scope dropped_attributes_count");
  return kvs_eq(a->n_attributes, a->attributes, b->n_attributes, b->attributes);
}

static bool span_eq(const Span *a, const Span *b) {
  if (!bin_eq(a->trace_id, b->trace_id)) return fail_at("trace_id");
  if (!bin_eq(a->span_id, b->span_id)) return fail_at("span_id");
  if (!bin_eq(a->parent_span_id, b->parent_span_id))
    return fail_at("parent_span_id");
  if (!str_eq(a->trace_state, b->trace_state)) return fail_at("trace_state");
  if (a->flags != b->flags) return fail_at("flags");
  if (!str_eq(a->name, b->name)) return fail_at("name");
  if (a->kind != b->kind) return fail_at("kind");
  if (a->start_time_unix_nano != b->start_time_unix_nano)
    return fail_at("start_time_unix_nano");
  if (a->end_time_unix_nano != b->end_time_unix_nano)
    return fail_at("end_time_unix_nano");
  if (a->dropped_attributes_count != b->dropped_attributes_count ||
      a->dropped_events_count != b->dropped_events_count ||
      a->dropped_links_count != b->dropped_links_count)
    return fail_at("dropped counts");
  int ca = a->status ? (int)a->status->code : 0;
  int cb = b->status ? (int)b->status->code : 0;
  if (ca != cb) return fail_at("status code");
  if (!str_eq(a->status ? a->status->message : "",
              b->status ? b->status->message : ""))
    return fail_at("status message");
  if (!kvs_eq(a->n_attributes, a->attributes, b->n_attributes, b->attributes))
    return false;
  if (a->n_events != b->n_events) return fail_at("event count");
  for (size_t i = 0; i < a->n_events; i++) {
    const Event *x = a->events[i], *y = b->events[i];
    if (x->time_unix_nano != y->time_unix_nano || !str_eq(x->name, y->name) ||
        x->dropped_attributes_count != y->dropped_attributes_count)
      return fail_at("event");
    if (!kvs_eq(x->n_attributes, x->attributes, y->n_attributes, y->attributes))
      return false;
  }
  if (a->n_links != b->n_links) return fail_at("link count");
  for (size_t i = 0; i < a->n_links; i++) {
    const Link *x = a->links[i], *y = b->links[i];
    if (!bin_eq(x->trace_id, y->trace_id) || !bin_eq(x->span_id, y->span_id) ||
        !str_eq(x->trace_state, y->trace_state) || x->flags != y->flags ||
        x->dropped_attributes_count != y->dropped_attributes_count)
      return fail_at("link");
    if (!kvs_eq(x->n_attributes, x->attributes, y->n_attributes, y->attributes))
      return false;
  }
  return true;
}

static bool request_eq(const Request *a, const Request *b) {
  if (a->n_resource_spans != b->n_resource_spans)
    return fail_at("resource_spans count");
  for (size_t r = 0; r < a->n_resource_spans; r++) {
    const ResourceSpans *x = a->resource_spans[r], *y = b->resource_spans[r];
    snprintf(g_path, sizeof g_path, "resource_spans[%zu]", r);
    if (!str_eq(x->schema_url, y->schema_url)) return fail_at("schema_url");
    if (!resource_eq(x->resource, y->resource)) return false;
    if (x->n_scope_spans != y->n_scope_spans)
      return fail_at("scope_spans count");
    for (size_t s = 0; s < x->n_scope_spans; s++) {
      const ScopeSpans *p = x->scope_spans[s], *q = y->scope_spans[s];
      snprintf(g_path, sizeof g_path, "resource_spans[%zu].scope_spans[%zu]", r,
               s);
      if (!str_eq(p->schema_url, q->schema_url)) return fail_at("schema_url");
      if (!scope_eq(p->scope, q->scope)) return false;
      if (p->n_spans != q->n_spans) return fail_at("span count");
      for (size_t i = 0; i < p->n_spans; i++) {
        snprintf(g_path, sizeof g_path,
                 "resource_spans[%zu].scope_spans[%zu].spans[%zu]", r, s, i);
        if (!span_eq(p->spans[i], q->spans[i])) return false;
      }
    }
  }
  return true;
}

/* --------------------------------------------------------- the requests */

static const uint8_t kBytes[5] = {0, 1, 0xff, 0x80, 0};

/* Every AnyValue type, nested values, extremes and empty values. */
static KeyValue **rich_attrs(size_t *n) {
  AnyValue *inner_arr[] = {av_int(1), av_str(""), av_array(0, NULL)};
  KeyValue *inner_kv[] = {kv("deep", av_array(3, inner_arr)),
                          kv("", av_bool(false)), kv("nothing", NULL)};
  AnyValue *arr[] = {av_str("a"),   av_int(-2),          av_double(2.5),
                     av_bool(true), av_bytes(kBytes, 5), av_kvlist(3, inner_kv),
                     av()};
  *n = 17;
  return kvs(
      17, kv("http.method", av_str("GET")),
      kv("unicode", av_str("h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c "
                           "\xf0\x9f\x8e\x89")),
      kv("empty.str", av_str("")), kv("int.min", av_int(INT64_MIN)),
      kv("int.max", av_int(INT64_MAX)), kv("int.zero", av_int(0)),
      kv("double.nan", av_double(NAN)), kv("double.negzero", av_double(-0.0)),
      kv("double.inf", av_double(-INFINITY)), kv("bool.true", av_bool(true)),
      kv("bool.false", av_bool(false)), kv("bytes", av_bytes(kBytes, 5)),
      kv("bytes.empty", av_bytes("", 0)), kv("array", av_array(7, arr)),
      kv("kvlist", av_kvlist(3, inner_kv)), kv("empty.value", av()),
      kv("", av_str("empty key")));
}

static Request *rich_request(void) {
  size_t nrich;
  KeyValue **rich = rich_attrs(&nrich);

  Span *s1 = span(1);
  s1->trace_state = (char *)"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
  s1->flags = 0x301;
  s1->name = (char *)"GET /api/\xe2\x9c\x93";
  s1->kind = 2;
  s1->n_attributes = nrich;
  s1->attributes = rich;
  s1->dropped_attributes_count = 3;
  s1->dropped_events_count = 4;
  s1->dropped_links_count = 5;
  Status *st = A(sizeof *st);
  opentelemetry__proto__trace__v1__status__init(st);
  st->code = 2;
  st->message = (char *)"boom \xc3\xa9";
  s1->status = st;
  Event *ev[2];
  for (int i = 0; i < 2; i++) {
    ev[i] = A(sizeof *ev[i]);
    opentelemetry__proto__trace__v1__span__event__init(ev[i]);
  }
  ev[0]->time_unix_nano = 1700000000000000123ull;
  ev[0]->name = (char *)"exception";
  ev[0]->attributes = kvs(2, kv("exception.type", av_str("IOError")),
                          kv("exception.stacktrace", av_str("at f()\nat g()")));
  ev[0]->n_attributes = 2;
  ev[0]->dropped_attributes_count = 1;
  /* ev[1]: all defaults (empty name, time 0) */
  s1->n_events = 2;
  s1->events = A(sizeof ev);
  memcpy(s1->events, ev, sizeof ev);
  Link *lk = A(sizeof *lk);
  opentelemetry__proto__trace__v1__span__link__init(lk);
  lk->trace_id.data = id_bytes(16, 77);
  lk->trace_id.len = 16;
  lk->span_id.data = id_bytes(8, 78);
  lk->span_id.len = 8;
  lk->trace_state = (char *)"k=v";
  lk->flags = 1;
  lk->attributes = kvs(1, kv("link.attr", av_double(1e300)));
  lk->n_attributes = 1;
  lk->dropped_attributes_count = 9;
  s1->n_links = 1;
  s1->links = A(sizeof lk);
  s1->links[0] = lk;

  Span *s2 = span(2);
  s2->parent_span_id.data = s1->span_id.data;
  s2->parent_span_id.len = 8;
  s2->name = (char *)""; /* empty name */
  s2->kind = 3;
  Status *ok = A(sizeof *ok);
  opentelemetry__proto__trace__v1__status__init(ok);
  ok->code = 1;
  s2->status = ok;

  Span *s3 = span(3);
  s3->kind = 5;
  s3->end_time_unix_nano =
      s3->start_time_unix_nano - 10; /* negative duration */
  Span *s4 = span(4);
  s4->name = (char *)"op";
  s4->kind = 7; /* unknown enum value: kept */
  Span *s5 = span(5);
  s5->start_time_unix_nano = UINT64_MAX;

  Resource *r1 = A(sizeof *r1);
  opentelemetry__proto__resource__v1__resource__init(r1);
  r1->attributes =
      kvs(3, kv("service.name", av_str("checkout")),
          kv("host.name", av_str("node-1")), kv("process.pid", av_int(4242)));
  r1->n_attributes = 3;
  r1->dropped_attributes_count = 2;
  EntityRef *er = A(sizeof *er);
  opentelemetry__proto__common__v1__entity_ref__init(er);
  er->type = (char *)"service";
  er->schema_url = (char *)"https://opentelemetry.io/schemas/1.26.0";
  er->id_keys = A(2 * sizeof(char *));
  er->id_keys[0] = (char *)"service.name";
  er->id_keys[1] = (char *)"service.namespace";
  er->n_id_keys = 2;
  r1->entity_refs = A(sizeof er);
  r1->entity_refs[0] = er;
  r1->n_entity_refs = 1;

  Scope *sc1 = A(sizeof *sc1);
  opentelemetry__proto__common__v1__instrumentation_scope__init(sc1);
  sc1->name = (char *)"io.opentelemetry.http";
  sc1->version = (char *)"1.2.3";
  sc1->attributes = kvs(1, kv("scope.attr", av_bool(true)));
  sc1->n_attributes = 1;
  sc1->dropped_attributes_count = 6;

  Span *rs1a[] = {s1, s2};
  Span *rs1b[] = {s3};
  ScopeSpans *ss1[] = {
      scope_spans(sc1, "https://opentelemetry.io/schemas/1.21.0", 2, rs1a),
      scope_spans(NULL, NULL, 1, rs1b)};

  /* second resource: no service.name, no resource message at all */
  Span *rs2a[] = {s4, s5};
  ScopeSpans *ss2[] = {scope_spans(sc1, NULL, 2, rs2a)};

  /* third resource: the same content as the first, kept separate */
  Resource *r3 = A(sizeof *r3);
  opentelemetry__proto__resource__v1__resource__init(r3);
  r3->attributes = kvs(1, kv("service.name", av_int(5))); /* not a string */
  r3->n_attributes = 1;
  Span *s6 = span(6);
  Span *rs3a[] = {s6};
  ScopeSpans *ss3[] = {scope_spans(NULL, "u", 1, rs3a)};

  ResourceSpans *rs[] = {
      resource_spans(r1, "https://opentelemetry.io/schemas/1.20.0", 2, ss1),
      resource_spans(NULL, NULL, 1, ss2), resource_spans(r3, NULL, 1, ss3)};
  return request(3, rs);
}

/* ------------------------------------------------------------ helpers */

static Request *unpack(const oa_bytes *b) {
  return opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
      NULL, (size_t)b->size, b->data);
}
static void unpack_free(Request *r) {
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
      r, NULL);
}

/* decode -> encode -> protobuf-c unpack == expected; and the
 * decode(encode(decode(x))) == decode(x) invariant. */
static void check_roundtrip(const uint8_t *buf, size_t len,
                            const Request *expected, int64_t want_rows) {
  oa_batch b1, b2;
  oa_batch_init(&b1);
  oa_batch_init(&b2);
  oa_otlp_result res;
  CHECK_OK(oa_otlp_decode_traces(buf, (int64_t)len, NULL, &b1, &res, err), err);
  CHECK_EQ_INT(b1.length, want_rows);
  CHECK_EQ_INT(res.accepted_spans, want_rows);
  CHECK_EQ_INT(res.rejected_spans, 0);
  CHECK_OK(oa_batch_validate(&b1, true, err), err);

  oa_bytes enc1, enc2;
  oa_bytes_init(&enc1);
  oa_bytes_init(&enc2);
  CHECK_OK(oa_otlp_encode_traces(&b1, &enc1, err), err);
  Request *back = unpack(&enc1);
  CHECK(back != NULL);
  if (back) {
    g_path[0] = 0;
    CHECK(request_eq(expected, back));
    unpack_free(back);
  }
  CHECK_OK(oa_otlp_decode_traces(enc1.data, enc1.size, NULL, &b2, &res, err),
           err);
  CHECK(oa_batch_equals(&b1, &b2, err));
  if (!oa_batch_equals(&b1, &b2, err)) fprintf(stderr, "  %s\n", err->message);
  /* the encoding is deterministic */
  CHECK_OK(oa_otlp_encode_traces(&b2, &enc2, err), err);
  CHECK(
      enc1.size == enc2.size &&
      (enc1.size == 0 || memcmp(enc1.data, enc2.data, (size_t)enc1.size) == 0));
  oa_bytes_reset(&enc1);
  oa_bytes_reset(&enc2);
  oa_batch_reset(&b1);
  oa_batch_reset(&b2);
}

/* ------------------------------------------------------------- tests */

OA_TEST(rich_request_roundtrip) {
  g_used = 0;
  Request *r = rich_request();
  size_t len;
  uint8_t *buf = pack(r, &len);
  check_roundtrip(buf, len, r, 6);
}

/* string value of row i, looking through a dictionary */
static const uint8_t *str_at(const oa_field *f, const oa_array *a, int64_t i,
                             int64_t *n) {
  if (!f->dict.encoded) return oa_array_get_bytes(f, a, i, n);
  oa_field vf = *f;
  vf.dict.encoded = false;
  return oa_array_get_bytes(&vf, a->dictionary,
                            oa_array_get_dict_index(f, a, i), n);
}

static int64_t col(const oa_batch *b, const char *name) {
  return oa_schema_find(b->schema, name);
}

OA_TEST(rich_request_values) {
  g_used = 0;
  Request *r = rich_request();
  size_t len;
  uint8_t *buf = pack(r, &len);
  oa_batch b;
  oa_batch_init(&b);
  CHECK_OK(oa_otlp_decode_traces(buf, (int64_t)len, NULL, &b, NULL, err), err);
  if (b.length != 6) {
    CHECK_EQ_INT(b.length, 6);
    oa_batch_reset(&b);
    return;
  }
  const oa_field *f = b.schema->fields;
  int64_t n;
  /* ids as sent */
  int64_t c = col(&b, "trace_id");
  const uint8_t *d = oa_array_get_bytes(&f[c], &b.columns[c], 0, &n);
  CHECK(n == 16 && memcmp(d, id_bytes(16, 1), 16) == 0);
  c = col(&b, "parent_span_id");
  CHECK(oa_array_is_null(&f[c], &b.columns[c], 0));
  CHECK(!oa_array_is_null(&f[c], &b.columns[c], 1));
  d = oa_array_get_bytes(&f[c], &b.columns[c], 1, &n);
  CHECK(n == 8 && memcmp(d, id_bytes(8, 101), 8) == 0);
  /* names through the dictionary */
  c = col(&b, "name");
  d = str_at(&f[c], &b.columns[c], 0, &n);
  CHECK(n == 12 && memcmp(d, "GET /api/\xe2\x9c\x93", 12) == 0);
  d = str_at(&f[c], &b.columns[c], 1, &n);
  CHECK_EQ_INT(n, 0);
  /* service.name only where it is a string */
  c = col(&b, "service_name");
  d = str_at(&f[c], &b.columns[c], 2, &n);
  CHECK(n == 8 && memcmp(d, "checkout", 8) == 0);
  CHECK(oa_array_is_null(&f[c], &b.columns[c], 3));
  CHECK(oa_array_is_null(&f[c], &b.columns[c], 5));
  /* kind, status, duration, flags */
  c = col(&b, "kind");
  CHECK_EQ_INT(oa_array_get_int(&f[c], &b.columns[c], 3), 7);
  c = col(&b, "status_code");
  CHECK_EQ_INT(oa_array_get_int(&f[c], &b.columns[c], 0), 2);
  c = col(&b, "duration");
  CHECK_EQ_INT(oa_array_get_int(&f[c], &b.columns[c], 2), -10);
  c = col(&b, "flags");
  CHECK_EQ_INT(oa_array_get_uint(&f[c], &b.columns[c], 0), 0x301);
  c = col(&b, "start_time");
  CHECK_EQ_INT(oa_array_get_int(&f[c], &b.columns[c], 4), -1);
  /* resource/scope grouping ids */
  int64_t rid = col(&b, "resource_id"), sid = col(&b, "scope_id");
  int want_r[6] = {0, 0, 0, 1, 1, 2}, want_s[6] = {0, 0, 1, 2, 2, 3};
  for (int i = 0; i < 6; i++) {
    CHECK_EQ_INT(oa_array_get_int(&f[rid], &b.columns[rid], i), want_r[i]);
    CHECK_EQ_INT(oa_array_get_int(&f[sid], &b.columns[sid], i), want_s[i]);
  }
  /* attribute value types of span 0 */
  c = col(&b, "attributes");
  const oa_array *m = &b.columns[c];
  const oa_array *vals = &m->children[0].children[1];
  const oa_field *vf = &f[c].children[0].children[1];
  static const int kTypes[17] = {1, 1, 1, 2, 2, 2, 3, 3, 3,
                                 4, 4, 7, 7, 6, 5, 0, 1};
  /* dense union: type code per entry, and the entry's row in that child */
  const int32_t *vrow = (const int32_t *)vals->buffers[1].data;
  for (int i = 0; i < 17; i++)
    CHECK_EQ_INT((int8_t)vals->buffers[0].data[i], kTypes[i]);
  static const int kRows[17] = {0, 1, 2, 0, 1, 2, 0, 1, 2,
                                0, 1, 0, 1, 0, 0, 0, 3};
  for (int i = 0; i < 17; i++)
    CHECK_EQ_INT(vrow[i], kRows[i]);
  CHECK_EQ_INT(oa_array_get_int(&vf->children[OA_ATTR_VALUE_INT],
                                &vals->children[OA_ATTR_VALUE_INT], vrow[3]),
               INT64_MIN);
  CHECK(isnan(oa_array_get_double(&vf->children[OA_ATTR_VALUE_DOUBLE],
                                  &vals->children[OA_ATTR_VALUE_DOUBLE],
                                  vrow[6])));
  CHECK(signbit(oa_array_get_double(&vf->children[OA_ATTR_VALUE_DOUBLE],
                                    &vals->children[OA_ATTR_VALUE_DOUBLE],
                                    vrow[7])));
  oa_batch_reset(&b);
}

OA_TEST(empty_and_spanless_groups) {
  g_used = 0;
  /* empty request */
  Request *r0 = request(0, NULL);
  size_t len;
  uint8_t *buf = pack(r0, &len);
  check_roundtrip(buf, len, r0, 0);
  /* ResourceSpans and ScopeSpans without spans carry nothing: dropped */
  Span *s = span(9);
  ScopeSpans *empty_ss[] = {scope_spans(NULL, "x", 0, NULL)};
  ScopeSpans *one[] = {scope_spans(NULL, NULL, 1, &s)};
  ResourceSpans *rs[] = {resource_spans(NULL, "a", 0, NULL),
                         resource_spans(NULL, "b", 1, empty_ss),
                         resource_spans(NULL, "c", 1, one)};
  Request *r = request(3, rs);
  buf = pack(r, &len);
  ResourceSpans *want_rs[] = {rs[2]};
  check_roundtrip(buf, len, request(1, want_rs), 1);
}

OA_TEST(many_resources_and_large_spans) {
  g_used = 0;
  enum { NR = 40, NS = 30 };
  ResourceSpans *rs[NR];
  char *names = A(NR * 16);
  for (int r = 0; r < NR; r++) {
    Span *spans[NS];
    for (int i = 0; i < NS; i++) {
      spans[i] = span((uint32_t)(r * NS + i));
      /* long strings force multi-byte lengths at every level */
      char *big = A(3000);
      memset(big, 'a' + i % 26, 2999);
      spans[i]->attributes = kvs(2, kv("big", av_str(big)), kv("i", av_int(i)));
      spans[i]->n_attributes = 2;
    }
    snprintf(names + r * 16, 16, "svc-%d", r % 7);
    Resource *res = A(sizeof *res);
    opentelemetry__proto__resource__v1__resource__init(res);
    res->attributes = kvs(1, kv("service.name", av_str(names + r * 16)));
    res->n_attributes = 1;
    ScopeSpans *ss[] = {scope_spans(NULL, NULL, NS / 2, spans),
                        scope_spans(NULL, NULL, NS - NS / 2, spans + NS / 2)};
    rs[r] = resource_spans(res, NULL, 2, ss);
  }
  Request *req = request(NR, rs);
  size_t len;
  uint8_t *buf = pack(req, &len);
  check_roundtrip(buf, len, req, NR * NS);
}

/* Bad spans are rejected and counted, the others kept as they were. */
OA_TEST(partial_success) {
  g_used = 0;
  Span *good1 = span(1), *good2 = span(2), *good3 = span(3);
  Span *bad_tid = span(4);
  bad_tid->trace_id.len = 15;
  Span *bad_sid = span(5);
  bad_sid->span_id.len = 0;
  Span *bad_parent = span(6);
  bad_parent->parent_span_id.data = id_bytes(3, 1);
  bad_parent->parent_span_id.len = 3;
  Span *bad_utf8 = span(7);
  bad_utf8->name = (char *)"bad \xc3\x28 name";
  Span *bad_key = span(8);
  bad_key->attributes = kvs(1, kv("k\xed\xa0\x80", av_int(1))); /* surrogate */
  bad_key->n_attributes = 1;
  Span *bad_link = span(9);
  Link *lk = A(sizeof *lk);
  opentelemetry__proto__trace__v1__span__link__init(lk);
  lk->trace_id.data = id_bytes(16, 1);
  lk->trace_id.len = 16;
  lk->span_id.data = id_bytes(7, 1);
  lk->span_id.len = 7;
  bad_link->links = A(sizeof lk);
  bad_link->links[0] = lk;
  bad_link->n_links = 1;
  Span *too_deep = span(10);
  AnyValue *v = av_int(1);
  for (int i = 0; i < 40; i++)
    v = av_array(1, &v);
  too_deep->attributes = kvs(1, kv("deep", v));
  too_deep->n_attributes = 1;
  Span *ok_deep = span(11);
  v = av_str("leaf");
  for (int i = 0; i < 32; i++)
    v = av_array(1, &v);
  ok_deep->attributes = kvs(1, kv("deep", v));
  ok_deep->n_attributes = 1;

  Span *all[] = {bad_tid, good1,    bad_sid,  bad_parent, good2, bad_utf8,
                 bad_key, bad_link, too_deep, ok_deep,    good3};
  ScopeSpans *ss[] = {scope_spans(NULL, NULL, 11, all)};
  ResourceSpans *rs[] = {resource_spans(NULL, NULL, 1, ss)};
  size_t len;
  uint8_t *buf = pack(request(1, rs), &len);

  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(oa_otlp_decode_traces(buf, (int64_t)len, NULL, &b, &res, err), err);
  CHECK_EQ_INT(res.accepted_spans, 4);
  CHECK_EQ_INT(res.rejected_spans, 7);
  CHECK(strstr(res.error_message, "trace_id is 15 bytes, expected 16") != NULL);
  CHECK_EQ_INT(b.length, 4);

  Span *kept[] = {good1, good2, ok_deep, good3};
  ScopeSpans *ss2[] = {scope_spans(NULL, NULL, 4, kept)};
  ResourceSpans *rs2[] = {resource_spans(NULL, NULL, 1, ss2)};
  Request *want = request(1, rs2);
  oa_bytes enc;
  oa_bytes_init(&enc);
  CHECK_OK(oa_otlp_encode_traces(&b, &enc, err), err);
  Request *back = unpack(&enc);
  CHECK(back && request_eq(want, back));
  if (back) unpack_free(back);
  oa_bytes_reset(&enc);
  oa_batch_reset(&b);

  /* each bad span alone names its problem */
  static const char *const kMsg[] = {"trace_id is 15 bytes",
                                     NULL,
                                     "span_id is 0 bytes",
                                     "parent_span_id is 3 bytes",
                                     NULL,
                                     "span name: invalid UTF-8",
                                     "span attributes: invalid UTF-8",
                                     "link span_id is 7 bytes",
                                     "nested deeper than 32"};
  for (int i = 0; i < 9; i++) {
    if (!kMsg[i]) continue;
    ScopeSpans *one[] = {scope_spans(NULL, NULL, 1, &all[i])};
    ResourceSpans *r1[] = {resource_spans(NULL, NULL, 1, one)};
    buf = pack(request(1, r1), &len);
    CHECK_OK(oa_otlp_decode_traces(buf, (int64_t)len, NULL, &b, &res, err),
             err);
    CHECK_EQ_INT(res.rejected_spans, 1);
    CHECK_EQ_INT(b.length, 0);
    if (!strstr(res.error_message, kMsg[i])) {
      fprintf(stderr, "  span %d: \"%s\" lacks \"%s\"\n", i, res.error_message,
              kMsg[i]);
      CHECK(0);
    }
    oa_batch_reset(&b);
  }
}

/* A bad resource rejects its spans only. */
OA_TEST(bad_resource_rejects_its_spans) {
  g_used = 0;
  Resource *bad = A(sizeof *bad);
  opentelemetry__proto__resource__v1__resource__init(bad);
  bad->attributes = kvs(1, kv("service.name", av_str("\xff\xfe")));
  bad->n_attributes = 1;
  Span *a[] = {span(1), span(2)};
  Span *g[] = {span(3)};
  ScopeSpans *ssa[] = {scope_spans(NULL, NULL, 2, a)};
  ScopeSpans *ssg[] = {scope_spans(NULL, NULL, 1, g)};
  ResourceSpans *rs[] = {resource_spans(bad, NULL, 1, ssa),
                         resource_spans(NULL, NULL, 1, ssg)};
  size_t len;
  uint8_t *buf = pack(request(2, rs), &len);
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(oa_otlp_decode_traces(buf, (int64_t)len, NULL, &b, &res, err), err);
  CHECK_EQ_INT(res.rejected_spans, 2);
  CHECK_EQ_INT(res.accepted_spans, 1);
  CHECK(strstr(res.error_message, "resource attributes: invalid UTF-8"));
  CHECK_EQ_INT(b.length, 1);
  oa_batch_reset(&b);
}

OA_TEST(limits) {
  g_used = 0;
  Span *s = span(1);
  s->attributes =
      kvs(3, kv("a", av_int(1)), kv("b", av_int(2)), kv("c", av_int(3)));
  s->n_attributes = 3;
  Span *sp[] = {s, span(2)};
  ScopeSpans *ss[] = {scope_spans(NULL, NULL, 2, sp)};
  ResourceSpans *rs[] = {resource_spans(NULL, NULL, 1, ss)};
  size_t len;
  uint8_t *buf = pack(request(1, rs), &len);
  oa_otlp_options o;
  oa_otlp_options_default(&o);
  o.max_attributes = 2;
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  CHECK_OK(oa_otlp_decode_traces(buf, (int64_t)len, &o, &b, &res, err), err);
  CHECK_EQ_INT(res.rejected_spans, 1);
  CHECK(strstr(res.error_message, "more than 2 attributes"));
  oa_otlp_options_default(&o);
  o.max_spans = 1;
  CHECK_FAILS(oa_otlp_decode_traces(buf, (int64_t)len, &o, &b, &res, err),
              E2BIG, err, "more than 1 spans");
  CHECK_EQ_INT(b.length, 0);
  oa_batch_reset(&b);
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}

/* Decodes untrusted bytes: only 0 or EINVAL, and a batch that validates and
 * encodes. */
static void decode_untrusted(oa_otlp_decoder *dec, const uint8_t *d, int64_t n,
                             int64_t *ok, int64_t *bad) {
  oa_batch b;
  oa_batch_init(&b);
  int rc = oa_otlp_decoder_decode(dec, d, n, &b, NULL, err);
  CHECK(rc == 0 || rc == EINVAL);
  if (rc == EINVAL) CHECK(strstr(err->message, "offset") != NULL);
  if (rc == 0) {
    ++*ok;
    CHECK_OK(oa_batch_validate(&b, true, err), err);
    oa_bytes enc;
    oa_bytes_init(&enc);
    CHECK_OK(oa_otlp_encode_traces(&b, &enc, err), err);
    oa_bytes_reset(&enc);
  } else {
    ++*bad;
  }
  oa_batch_reset(&b);
}

OA_TEST(truncated_mutated_random) {
  g_used = 0;
  Request *r = rich_request();
  size_t len;
  uint8_t *buf = pack(r, &len);
  oa_otlp_decoder *dec;
  CHECK_OK(oa_otlp_decoder_new(&dec, NULL, err), err);
  int64_t ok = 0, bad = 0;
  /* truncated at every byte, each in its own heap block so that ASan sees
   * any read past the end */
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *p = malloc(cut ? cut : 1);
    memcpy(p, buf, cut);
    decode_untrusted(dec, p, (int64_t)cut, &ok, &bad);
    free(p);
  }
  CHECK(bad > 0);
  CHECK(ok > 0); /* cuts at ResourceSpans boundaries decode */
  /* random mutations of a valid request */
  uint8_t *p = malloc(len);
  for (int iter = 0; iter < 3000; iter++) {
    memcpy(p, buf, len);
    int flips = 1 + (int)(rnd() % 4);
    for (int k = 0; k < flips; k++)
      p[rnd() % len] = (uint8_t)rnd();
    decode_untrusted(dec, p, (int64_t)len, &ok, &bad);
  }
  free(p);
  /* random bytes */
  for (int iter = 0; iter < 3000; iter++) {
    size_t n = rnd() % 300;
    uint8_t *q = malloc(n ? n : 1);
    for (size_t k = 0; k < n; k++)
      q[k] = (uint8_t)rnd();
    if (n && iter % 2) q[0] = 0x0a; /* a resource_spans tag */
    decode_untrusted(dec, q, (int64_t)n, &ok, &bad);
    free(q);
  }
  oa_otlp_decoder_free(dec);
}

OA_TEST(decoder_reuse) {
  g_used = 0;
  Request *r = rich_request();
  size_t len;
  uint8_t *buf = pack(r, &len);
  oa_otlp_decoder *dec;
  CHECK_OK(oa_otlp_decoder_new(&dec, NULL, err), err);
  oa_batch first, b;
  oa_batch_init(&first);
  oa_batch_init(&b);
  CHECK_OK(oa_otlp_decoder_decode(dec, buf, (int64_t)len, &first, NULL, err),
           err);
  /* a failed request in between leaves nothing behind */
  CHECK_FAILS(oa_otlp_decoder_decode(dec, buf, (int64_t)len - 3, &b, NULL, err),
              EINVAL, err, "offset");
  for (int i = 0; i < 3; i++) {
    CHECK_OK(oa_otlp_decoder_decode(dec, buf, (int64_t)len, &b, NULL, err),
             err);
    CHECK(oa_batch_equals(&first, &b, err));
  }
  oa_batch_reset(&first);
  oa_batch_reset(&b);
  oa_otlp_decoder_free(dec);
}

OA_TEST_MAIN(OA_T(rich_request_roundtrip), OA_T(rich_request_values),
             OA_T(empty_and_spanless_groups),
             OA_T(many_resources_and_large_spans), OA_T(partial_success),
             OA_T(bad_resource_rejects_its_spans), OA_T(limits),
             OA_T(truncated_mutated_random), OA_T(decoder_reuse))
