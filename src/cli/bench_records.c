/* `otlparrow bench`: the application's span records (the exporter's oa_span),
 * loaded from OTLP, and protobuf-c's way of turning them into OTLP protobuf
 * (message tree + pack: the
 * baseline) and of unpacking it again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench.h"
#include "otlparrow/otlp.h"

#ifdef OA_HAVE_PROTOBUF_C
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#endif

/* ---------------------------------------------------------------- arena */

struct oa_bench_chunk {
  struct oa_bench_chunk *next;
  size_t cap, used;
  max_align_t data[];
};

void *oa_bench_arena_alloc(oa_bench_arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  struct oa_bench_chunk *c = a->cur;
  while (c && c->used + n > c->cap)
    c = c->next; /* chunks after cur are empty after a clear */
  if (!c) {
    size_t cap = n > (1u << 20) ? n : (1u << 20);
    c = malloc(sizeof *c + cap);
    if (!c) return NULL;
    c->cap = cap;
    c->used = 0;
    c->next = NULL;
    if (a->cur) { /* append after the last chunk */
      struct oa_bench_chunk *t = a->cur;
      while (t->next)
        t = t->next;
      t->next = c;
    } else {
      a->head = c;
    }
  }
  a->cur = c;
  void *p = (char *)c->data + c->used;
  c->used += n;
  a->used += (int64_t)n;
  return p;
}

void oa_bench_arena_clear(oa_bench_arena *a) {
  for (struct oa_bench_chunk *c = a->head; c; c = c->next)
    c->used = 0;
  a->cur = a->head;
  a->used = 0;
}

void oa_bench_arena_free(oa_bench_arena *a) {
  struct oa_bench_chunk *c = a->head;
  while (c) {
    struct oa_bench_chunk *n = c->next;
    free(c);
    c = n;
  }
  memset(a, 0, sizeof *a);
}

void oa_bench_records_init(oa_bench_records *r) { memset(r, 0, sizeof *r); }

void oa_bench_records_free(oa_bench_records *r) {
  for (int64_t i = 0; i < r->n_res; i++)
    oa_resource_free(r->res[i]->exp);
  for (int64_t i = 0; i < r->n_scopes; i++)
    oa_scope_free(r->scopes[i]->exp);
  free(r->res);
  free(r->scopes);
  free(r->spans);
  oa_bench_arena_free(&r->arena);
  memset(r, 0, sizeof *r);
}

int64_t oa_bench_records_bytes(const oa_bench_records *r) {
  return r->n * (int64_t)sizeof(oa_span) + r->arena.used;
}

/* ---------------------------------------------------------- protobuf-c */

#ifdef OA_HAVE_PROTOBUF_C

/* End of the run of spans from i sharing spans[i]'s resource (scope too
 * when by_scope). */
static int64_t run_end(const oa_span *sp, int64_t i, int64_t end,
                       bool by_scope) {
  int64_t j = i + 1;
  while (j < end && sp[j].resource == sp[i].resource &&
         (!by_scope || sp[j].scope == sp[i].scope))
    j++;
  return j;
}

static int push_ptr(void ***arr, int64_t *n, int64_t *cap, void *p) {
  if (*n == *cap) {
    int64_t c = *cap ? *cap * 2 : 64;
    void **na = realloc(*arr, sizeof *na * (size_t)c);
    if (!na) return ENOMEM;
    *arr = na;
    *cap = c;
  }
  (*arr)[(*n)++] = p;
  return 0;
}

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ArrayValue;
typedef Opentelemetry__Proto__Common__V1__KeyValueList KeyValueList;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link Link;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    Request;
#define VC(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x
#define REQ_DESC                                                               \
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor

bool oa_bench_have_pbc(void) { return true; }
const char *oa_bench_pbc_version(void) { return protobuf_c_version(); }

/* ---- unpacked request -> records (copies, as an application owns its
 * data) */

typedef struct loader {
  oa_bench_records *r;
  int rc;
} loader;

static void *L(loader *l, size_t n) {
  void *p = oa_bench_arena_alloc(&l->r->arena, n ? n : 1);
  if (!p) l->rc = ENOMEM;
  return p;
}

/* NUL-terminated copies: protobuf-c and the exporter take C strings. */
static const char *Lstr(loader *l, const void *s, size_t n) {
  if (!s || !n) return "";
  char *p = L(l, n + 1);
  if (!p) return "";
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}
static const char *Lcstr(loader *l, const char *s) {
  return Lstr(l, s, s ? strlen(s) : 0);
}

static const oa_keyvalue *load_kvs(loader *l, KeyValue **kv, size_t n,
                                   int depth);

static void load_value(loader *l, const AnyValue *v, oa_anyvalue *out,
                       int depth) {
  memset(out, 0, sizeof *out);
  if (!v || depth > 30) return; /* the exporter's nesting limit is 32 */
  switch (v->value_case) {
  case VC(STRING_VALUE):
    out->type = OA_ANY_STRING;
    out->v.str.ptr = Lcstr(l, v->string_value);
    out->v.str.len = (int64_t)strlen(out->v.str.ptr);
    break;
  case VC(BOOL_VALUE):
    out->type = OA_ANY_BOOL;
    out->v.b = v->bool_value;
    break;
  case VC(INT_VALUE):
    out->type = OA_ANY_INT;
    out->v.i = v->int_value;
    break;
  case VC(DOUBLE_VALUE):
    out->type = OA_ANY_DOUBLE;
    out->v.d = v->double_value;
    break;
  case VC(BYTES_VALUE):
    out->type = OA_ANY_BYTES;
    out->v.bytes.ptr =
        (const uint8_t *)Lstr(l, v->bytes_value.data, v->bytes_value.len);
    out->v.bytes.len = (int64_t)v->bytes_value.len;
    break;
  case VC(ARRAY_VALUE): {
    out->type = OA_ANY_ARRAY;
    size_t n = v->array_value ? v->array_value->n_values : 0;
    oa_anyvalue *vals = L(l, sizeof *vals * n);
    if (!vals) return;
    for (size_t i = 0; i < n; i++)
      load_value(l, v->array_value->values[i], &vals[i], depth + 1);
    out->v.array.values = vals;
    out->v.array.n = n;
    break;
  }
  case VC(KVLIST_VALUE):
    out->type = OA_ANY_KVLIST;
    if (v->kvlist_value) {
      out->v.kvlist.kvs = load_kvs(l, v->kvlist_value->values,
                                   v->kvlist_value->n_values, depth + 1);
      out->v.kvlist.n = v->kvlist_value->n_values;
    }
    break;
  default:
    break;
  }
}

static const oa_keyvalue *load_kvs(loader *l, KeyValue **kv, size_t n,
                                   int depth) {
  oa_keyvalue *out = L(l, sizeof *out * n);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    out[i].key = Lcstr(l, kv[i]->key);
    load_value(l, kv[i]->value, &out[i].value, depth);
  }
  return out;
}

static void copy_id(uint8_t *dst, size_t size, ProtobufCBinaryData b) {
  memset(dst, 0, size);
  if (b.len == size) memcpy(dst, b.data, size);
}

int oa_bench_records_add_otlp(oa_bench_records *r, const uint8_t *data,
                              int64_t size, oa_error *err) {
  Request *req =
      (Request *)protobuf_c_message_unpack(&REQ_DESC, NULL, (size_t)size, data);
  if (!req)
    return oa_error_set(err, EINVAL,
                        "input: protobuf-c cannot unpack the OTLP request "
                        "(%lld bytes)",
                        (long long)size);
  loader l = {r, 0};
  int rc = 0;
  for (size_t i = 0; i < req->n_resource_spans && !l.rc && !rc; i++) {
    ResourceSpans *rs = req->resource_spans[i];
    oa_bench_resource *res = L(&l, sizeof *res);
    if (!res) break;
    memset(res, 0, sizeof *res);
    if (rs->resource) {
      res->attrs =
          load_kvs(&l, rs->resource->attributes, rs->resource->n_attributes, 0);
      res->n_attrs = rs->resource->n_attributes;
      res->dropped = rs->resource->dropped_attributes_count;
    }
    res->schema_url = Lcstr(&l, rs->schema_url);
    if (l.rc) break;
    rc = oa_resource_new(&res->exp, NULL, res->attrs, res->n_attrs,
                         res->schema_url[0] ? res->schema_url : NULL, err);
    if (rc) break;
    if ((rc = push_ptr((void ***)&r->res, &r->n_res, &r->cap_res, res))) {
      oa_resource_free(res->exp);
      break;
    }
    for (size_t j = 0; j < rs->n_scope_spans && !l.rc && !rc; j++) {
      ScopeSpans *ss = rs->scope_spans[j];
      oa_bench_scope *sc = L(&l, sizeof *sc);
      if (!sc) break;
      memset(sc, 0, sizeof *sc);
      sc->name = sc->version = "";
      if (ss->scope) {
        sc->name = Lcstr(&l, ss->scope->name);
        sc->version = Lcstr(&l, ss->scope->version);
        sc->attrs =
            load_kvs(&l, ss->scope->attributes, ss->scope->n_attributes, 0);
        sc->n_attrs = ss->scope->n_attributes;
        sc->dropped = ss->scope->dropped_attributes_count;
      }
      sc->schema_url = Lcstr(&l, ss->schema_url);
      if (l.rc) break;
      rc = oa_scope_new(&sc->exp, sc->name, sc->version, sc->attrs, sc->n_attrs,
                        sc->schema_url[0] ? sc->schema_url : NULL, err);
      if (rc) break;
      if ((rc = push_ptr((void ***)&r->scopes, &r->n_scopes, &r->cap_scopes,
                         sc))) {
        oa_scope_free(sc->exp);
        break;
      }
      if (r->n + (int64_t)ss->n_spans > r->cap) {
        int64_t cap = r->cap ? r->cap : 1024;
        while (cap < r->n + (int64_t)ss->n_spans)
          cap *= 2;
        oa_span *ns = realloc(r->spans, sizeof *ns * (size_t)cap);
        if (!ns) {
          l.rc = ENOMEM;
          break;
        }
        r->spans = ns;
        r->cap = cap;
      }
      for (size_t k = 0; k < ss->n_spans && !l.rc; k++) {
        const Span *s = ss->spans[k];
        oa_span *o = &r->spans[r->n];
        memset(o, 0, sizeof *o);
        o->resource = res->exp;
        o->scope = sc->exp;
        copy_id(o->trace_id, 16, s->trace_id);
        copy_id(o->span_id, 8, s->span_id);
        o->has_parent = s->parent_span_id.len == 8;
        copy_id(o->parent_span_id, 8, s->parent_span_id);
        o->trace_state = Lcstr(&l, s->trace_state);
        o->flags = s->flags;
        o->name = Lcstr(&l, s->name);
        o->kind = (oa_span_kind)s->kind;
        o->start_time_unix_nano = (int64_t)s->start_time_unix_nano;
        o->end_time_unix_nano = (int64_t)s->end_time_unix_nano;
        o->status_message = "";
        if (s->status) {
          o->status_code = (oa_status_code)s->status->code;
          o->status_message = Lcstr(&l, s->status->message);
        }
        o->attrs = load_kvs(&l, s->attributes, s->n_attributes, 0);
        o->n_attrs = s->n_attributes;
        o->dropped_attributes_count = s->dropped_attributes_count;
        oa_span_event *ev = L(&l, sizeof *ev * s->n_events);
        if (!ev) break;
        for (size_t e = 0; e < s->n_events; e++) {
          ev[e].time_unix_nano = (int64_t)s->events[e]->time_unix_nano;
          ev[e].name = Lcstr(&l, s->events[e]->name);
          ev[e].attrs = load_kvs(&l, s->events[e]->attributes,
                                 s->events[e]->n_attributes, 0);
          ev[e].n_attrs = s->events[e]->n_attributes;
          ev[e].dropped_attributes_count =
              s->events[e]->dropped_attributes_count;
        }
        o->events = ev;
        o->n_events = s->n_events;
        o->dropped_events_count = s->dropped_events_count;
        oa_span_link *lk = L(&l, sizeof *lk * s->n_links);
        if (!lk) break;
        for (size_t e = 0; e < s->n_links; e++) {
          const Link *sl = s->links[e];
          copy_id(lk[e].trace_id, 16, sl->trace_id);
          copy_id(lk[e].span_id, 8, sl->span_id);
          lk[e].trace_state = Lcstr(&l, sl->trace_state);
          lk[e].flags = sl->flags;
          lk[e].attrs = load_kvs(&l, sl->attributes, sl->n_attributes, 0);
          lk[e].n_attrs = sl->n_attributes;
          lk[e].dropped_attributes_count = sl->dropped_attributes_count;
        }
        o->links = lk;
        o->n_links = s->n_links;
        o->dropped_links_count = s->dropped_links_count;
        r->n++;
      }
    }
  }
  protobuf_c_message_free_unpacked(&req->base, NULL);
  if (rc) return rc;
  if (l.rc) return oa_error_set(err, l.rc, "span records: out of memory");
  return 0;
}

/* ---- records -> protobuf-c message tree -> pack */

typedef struct builder {
  oa_bench_arena *a;
  bool oom;
} builder;

static void *B(builder *b, size_t n) {
  void *p = oa_bench_arena_alloc(b->a, n ? n : 1);
  if (!p) b->oom = true;
  return p;
}

/* protobuf-c takes NUL-terminated strings; the records' strings are, and
 * are used in place as an application that keeps C strings would. */
static char *cs(const char *s) { return (char *)(s ? s : ""); }

static KeyValue **build_kvs(builder *b, const oa_keyvalue *kv, size_t n);

static AnyValue *build_value(builder *b, const oa_anyvalue *v) {
  AnyValue *a = B(b, sizeof *a);
  if (!a) return NULL;
  opentelemetry__proto__common__v1__any_value__init(a);
  switch (v->type) {
  case OA_ANY_STRING:
    a->value_case = VC(STRING_VALUE);
    a->string_value = cs(v->v.str.ptr);
    break;
  case OA_ANY_BOOL:
    a->value_case = VC(BOOL_VALUE);
    a->bool_value = v->v.b;
    break;
  case OA_ANY_INT:
    a->value_case = VC(INT_VALUE);
    a->int_value = v->v.i;
    break;
  case OA_ANY_DOUBLE:
    a->value_case = VC(DOUBLE_VALUE);
    a->double_value = v->v.d;
    break;
  case OA_ANY_BYTES:
    a->value_case = VC(BYTES_VALUE);
    a->bytes_value.len = (size_t)v->v.bytes.len;
    a->bytes_value.data = (uint8_t *)v->v.bytes.ptr;
    break;
  case OA_ANY_ARRAY: {
    ArrayValue *av = B(b, sizeof *av);
    AnyValue **vals = B(b, sizeof *vals * v->v.array.n);
    if (!av || !vals) return NULL;
    opentelemetry__proto__common__v1__array_value__init(av);
    for (size_t i = 0; i < v->v.array.n; i++)
      vals[i] = build_value(b, &v->v.array.values[i]);
    av->n_values = v->v.array.n;
    av->values = vals;
    a->value_case = VC(ARRAY_VALUE);
    a->array_value = av;
    break;
  }
  case OA_ANY_KVLIST: {
    KeyValueList *kl = B(b, sizeof *kl);
    if (!kl) return NULL;
    opentelemetry__proto__common__v1__key_value_list__init(kl);
    kl->n_values = v->v.kvlist.n;
    kl->values = build_kvs(b, v->v.kvlist.kvs, v->v.kvlist.n);
    a->value_case = VC(KVLIST_VALUE);
    a->kvlist_value = kl;
    break;
  }
  default:
    break;
  }
  return a;
}

static KeyValue **build_kvs(builder *b, const oa_keyvalue *kv, size_t n) {
  KeyValue **out = B(b, sizeof *out * n);
  KeyValue *k = B(b, sizeof *k * n);
  if (!out || !k) return NULL;
  for (size_t i = 0; i < n; i++) {
    opentelemetry__proto__common__v1__key_value__init(&k[i]);
    k[i].key = cs(kv[i].key);
    k[i].value = build_value(b, &kv[i].value);
    out[i] = &k[i];
  }
  return out;
}

static Span *build_span(builder *b, const oa_span *s) {
  Span *o = B(b, sizeof *o);
  if (!o) return NULL;
  opentelemetry__proto__trace__v1__span__init(o);
  o->trace_id = (ProtobufCBinaryData){16, (uint8_t *)s->trace_id};
  o->span_id = (ProtobufCBinaryData){8, (uint8_t *)s->span_id};
  if (s->has_parent)
    o->parent_span_id = (ProtobufCBinaryData){8, (uint8_t *)s->parent_span_id};
  o->trace_state = cs(s->trace_state);
  o->flags = s->flags;
  o->name = cs(s->name);
  o->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind;
  o->start_time_unix_nano = (uint64_t)s->start_time_unix_nano;
  o->end_time_unix_nano = (uint64_t)s->end_time_unix_nano;
  o->n_attributes = s->n_attrs;
  o->attributes = build_kvs(b, s->attrs, s->n_attrs);
  o->dropped_attributes_count = s->dropped_attributes_count;
  if (s->n_events) {
    o->events = B(b, sizeof *o->events * s->n_events);
    Event *ev = B(b, sizeof *ev * s->n_events);
    if (!o->events || !ev) return NULL;
    for (size_t i = 0; i < s->n_events; i++) {
      const oa_span_event *e = &s->events[i];
      opentelemetry__proto__trace__v1__span__event__init(&ev[i]);
      ev[i].time_unix_nano = (uint64_t)e->time_unix_nano;
      ev[i].name = cs(e->name);
      ev[i].n_attributes = e->n_attrs;
      ev[i].attributes = build_kvs(b, e->attrs, e->n_attrs);
      ev[i].dropped_attributes_count = e->dropped_attributes_count;
      o->events[i] = &ev[i];
    }
    o->n_events = s->n_events;
  }
  o->dropped_events_count = s->dropped_events_count;
  if (s->n_links) {
    o->links = B(b, sizeof *o->links * s->n_links);
    Link *lk = B(b, sizeof *lk * s->n_links);
    if (!o->links || !lk) return NULL;
    for (size_t i = 0; i < s->n_links; i++) {
      const oa_span_link *l = &s->links[i];
      opentelemetry__proto__trace__v1__span__link__init(&lk[i]);
      lk[i].trace_id = (ProtobufCBinaryData){16, (uint8_t *)l->trace_id};
      lk[i].span_id = (ProtobufCBinaryData){8, (uint8_t *)l->span_id};
      lk[i].trace_state = cs(l->trace_state);
      lk[i].flags = l->flags;
      lk[i].n_attributes = l->n_attrs;
      lk[i].attributes = build_kvs(b, l->attrs, l->n_attrs);
      lk[i].dropped_attributes_count = l->dropped_attributes_count;
      o->links[i] = &lk[i];
    }
    o->n_links = s->n_links;
  }
  o->dropped_links_count = s->dropped_links_count;
  if (s->status_code || (s->status_message && s->status_message[0])) {
    Status *st = B(b, sizeof *st);
    if (!st) return NULL;
    opentelemetry__proto__trace__v1__status__init(st);
    st->code =
        (Opentelemetry__Proto__Trace__V1__Status__StatusCode)s->status_code;
    st->message = cs(s->status_message);
    o->status = st;
  }
  return o;
}

/* The application's own description of a resource/scope object (the
 * exporter's are opaque). Runs are long, so the last hit is tried first. */
static const oa_bench_resource *find_res(const oa_bench_records *r,
                                         const oa_resource *p, int64_t *hint) {
  if (*hint < r->n_res && r->res[*hint]->exp == p) return r->res[*hint];
  for (int64_t i = 0; i < r->n_res; i++)
    if (r->res[i]->exp == p) {
      *hint = i;
      return r->res[i];
    }
  return NULL;
}
static const oa_bench_scope *find_scope(const oa_bench_records *r,
                                        const oa_scope *p, int64_t *hint) {
  for (int64_t i = *hint; i < r->n_scopes; i++) /* in record order */
    if (r->scopes[i]->exp == p) {
      *hint = i;
      return r->scopes[i];
    }
  for (int64_t i = 0; i < r->n_scopes; i++)
    if (r->scopes[i]->exp == p) {
      *hint = i;
      return r->scopes[i];
    }
  return NULL;
}

int oa_bench_pbc_pack(const oa_bench_records *r, int64_t from, int64_t n,
                      oa_bench_arena *arena, oa_bytes *out, oa_error *err) {
  if (from < 0 || n < 0 || from + n > r->n)
    return oa_error_set(err, EINVAL, "records [%lld, +%lld) out of range",
                        (long long)from, (long long)n);
  builder b = {arena, false};
  const oa_span *sp = r->spans;
  int64_t end = from + n, n_rs = 0, rh = 0, sh = 0;
  for (int64_t i = from; i < end; i = run_end(sp, i, end, false))
    n_rs++;
  Request *req = B(&b, sizeof *req);
  ResourceSpans **rss = B(&b, sizeof *rss * (size_t)n_rs);
  if (!req || !rss) return oa_error_set(err, ENOMEM, "protobuf-c request");
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(
      req);
  req->resource_spans = rss;
  for (int64_t i = from; i < end;) {
    int64_t j = run_end(sp, i, end, false), n_ss = 0;
    for (int64_t k = i; k < j; k = run_end(sp, k, j, true))
      n_ss++;
    const oa_bench_resource *br = find_res(r, sp[i].resource, &rh);
    if (!br)
      return oa_error_set(err, EINVAL, "span %lld: resource not in records",
                          (long long)i);
    ResourceSpans *rs = B(&b, sizeof *rs);
    Resource *res = B(&b, sizeof *res);
    ScopeSpans **sss = B(&b, sizeof *sss * (size_t)n_ss);
    if (!rs || !res || !sss) return oa_error_set(err, ENOMEM, "protobuf-c");
    opentelemetry__proto__trace__v1__resource_spans__init(rs);
    opentelemetry__proto__resource__v1__resource__init(res);
    res->n_attributes = br->n_attrs;
    res->attributes = build_kvs(&b, br->attrs, br->n_attrs);
    res->dropped_attributes_count = br->dropped;
    rs->resource = res;
    rs->schema_url = cs(br->schema_url);
    rs->scope_spans = sss;
    for (int64_t k = i; k < j;) {
      int64_t m = run_end(sp, k, j, true);
      const oa_bench_scope *sc = find_scope(r, sp[k].scope, &sh);
      if (!sc)
        return oa_error_set(err, EINVAL, "span %lld: scope not in records",
                            (long long)k);
      ScopeSpans *ss = B(&b, sizeof *ss);
      Scope *sco = B(&b, sizeof *sco);
      Span **spans = B(&b, sizeof *spans * (size_t)(m - k));
      if (!ss || !sco || !spans) return oa_error_set(err, ENOMEM, "protobuf-c");
      opentelemetry__proto__trace__v1__scope_spans__init(ss);
      opentelemetry__proto__common__v1__instrumentation_scope__init(sco);
      sco->name = cs(sc->name);
      sco->version = cs(sc->version);
      sco->n_attributes = sc->n_attrs;
      sco->attributes = build_kvs(&b, sc->attrs, sc->n_attrs);
      sco->dropped_attributes_count = sc->dropped;
      ss->scope = sco;
      ss->schema_url = cs(sc->schema_url);
      for (int64_t q = k; q < m; q++)
        spans[q - k] = build_span(&b, &sp[q]);
      ss->spans = spans;
      ss->n_spans = (size_t)(m - k);
      sss[rs->n_scope_spans++] = ss;
      k = m;
    }
    rss[req->n_resource_spans++] = rs;
    i = j;
  }
  if (b.oom) return oa_error_set(err, ENOMEM, "protobuf-c message tree");
  size_t size =
      opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
          req);
  int rc = oa_bytes_reserve(out, (int64_t)size);
  if (rc) return oa_error_set(err, rc, "protobuf-c output of %zu bytes", size);
  size_t w =
      opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
          req, out->data + out->size);
  if (w != size)
    return oa_error_set(err, EIO, "protobuf-c packed %zu bytes, sized %zu", w,
                        size);
  out->size += (int64_t)size;
  return 0;
}

/* ---- unpack, with an allocator that counts what protobuf-c holds */

typedef struct counting {
  int64_t bytes;
} counting;

static void *count_alloc(void *data, size_t size) {
  ((counting *)data)->bytes += (int64_t)size;
  return malloc(size);
}
static void count_free(void *data, void *p) {
  (void)data;
  free(p);
}

int oa_bench_pbc_unpack(const uint8_t *data, int64_t size, int64_t *spans,
                        int64_t *alloc_bytes, void **keep, oa_error *err) {
  counting c = {0};
  ProtobufCAllocator al = {count_alloc, count_free, &c};
  /* counting only when asked: the timed runs use protobuf-c's default */
  Request *req = (Request *)protobuf_c_message_unpack(
      &REQ_DESC, alloc_bytes ? &al : NULL, (size_t)size, data);
  if (!req)
    return oa_error_set(err, EINVAL, "protobuf-c cannot unpack %lld bytes",
                        (long long)size);
  if (spans) {
    int64_t n = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
      for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
        n += (int64_t)req->resource_spans[i]->scope_spans[j]->n_spans;
    *spans = n;
  }
  if (alloc_bytes) *alloc_bytes = c.bytes;
  if (keep && !alloc_bytes) {
    *keep = req;
    return 0;
  }
  protobuf_c_message_free_unpacked(&req->base, alloc_bytes ? &al : NULL);
  if (keep) *keep = NULL;
  return 0;
}

void oa_bench_pbc_free(void *msg) {
  if (msg) protobuf_c_message_free_unpacked((ProtobufCMessage *)msg, NULL);
}

#else /* no protobuf-c: the baseline is missing, bench refuses to run */

bool oa_bench_have_pbc(void) { return false; }
const char *oa_bench_pbc_version(void) { return "absent"; }

int oa_bench_records_add_otlp(oa_bench_records *r, const uint8_t *data,
                              int64_t size, oa_error *err) {
  return oa_error_set(err, ENOTSUP, "built without protobuf-c");
}
int oa_bench_pbc_pack(const oa_bench_records *r, int64_t from, int64_t n,
                      oa_bench_arena *arena, oa_bytes *out, oa_error *err) {
  return oa_error_set(err, ENOTSUP, "built without protobuf-c");
}
int oa_bench_pbc_unpack(const uint8_t *data, int64_t size, int64_t *spans,
                        int64_t *alloc_bytes, void **keep, oa_error *err) {
  return oa_error_set(err, ENOTSUP, "built without protobuf-c");
}
void oa_bench_pbc_free(void *msg) { (void)msg; }

#endif
