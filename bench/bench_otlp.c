/* OTLP protobuf decode/encode benchmark (see docs/benchmarks.md).
 *
 * For requests of 1,000, 5,000 and 10,000 spans (realistic spans made with
 * protobuf-c: about 10 semantic-convention attributes per span, exception
 * events, some links, span names drawn from a few hundred, one resource per
 * service), and for every OTLP .pb file given on the command line (e.g. one
 * written by the OpenTelemetry JS SDK), measures in the same run:
 * - decode: oa_otlp_decoder_decode of the bytes into a finished span batch,
 *   then oa_otlp_decoder_recycle of the batch once it is done with (decoder
 *   reused and batch handed back, as a receiver would do after exporting
 *   it);
 * - the baseline: protobuf-c's generic protobuf_c_message_unpack of the same
 *   bytes (plus free_unpacked), and the decode speed-up over it;
 * - encode: oa_otlp_encode_traces of the batch back to OTLP protobuf;
 * - memory: bytes per span held by the finished batch (every distinct buffer
 *   counted once, dictionaries included) against OTLP bytes per span.
 * Each figure is the median of R repeats; a repeat runs the operation enough
 * times to take about 50 ms of this thread's CPU time (so MB/s are per core).
 *
 * Usage: bench_otlp [REPEATS] [FILE.pb ...] */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlparrow/otlp.h"

#define BENCH_NAME "bench_otlp"
#include "bench_util.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
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
#define V(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

static oa_error err;

/* --------------------------------------------------- request generation */

/* Everything of one generated request lives in this arena (freed at once). */
typedef struct arena {
  char **blocks;
  size_t n, cap;
} arena;

static void *A(arena *a, size_t n) {
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 1024;
    a->blocks = realloc(a->blocks, a->cap * sizeof *a->blocks);
    if (!a->blocks) abort();
  }
  char *p = calloc(1, n ? n : 1);
  if (!p) abort();
  a->blocks[a->n++] = p;
  return p;
}

static void arena_free(arena *a) {
  for (size_t i = 0; i < a->n; i++)
    free(a->blocks[i]);
  free(a->blocks);
  memset(a, 0, sizeof *a);
}

static char *S(arena *a, const char *fmt, ...) OA_PRINTF(2, 3);
static char *S(arena *a, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char *s = A(a, strlen(buf) + 1);
  strcpy(s, buf);
  return s;
}

static KeyValue *kv(arena *a, const char *key, AnyValue *v) {
  KeyValue *k = A(a, sizeof *k);
  opentelemetry__proto__common__v1__key_value__init(k);
  k->key = (char *)key;
  k->value = v;
  return k;
}
static AnyValue *v_str(arena *a, const char *s) {
  AnyValue *v = A(a, sizeof *v);
  opentelemetry__proto__common__v1__any_value__init(v);
  v->value_case = V(STRING_VALUE);
  v->string_value = (char *)s;
  return v;
}
static AnyValue *v_int(arena *a, int64_t i) {
  AnyValue *v = A(a, sizeof *v);
  opentelemetry__proto__common__v1__any_value__init(v);
  v->value_case = V(INT_VALUE);
  v->int_value = i;
  return v;
}
static AnyValue *v_dbl(arena *a, double d) {
  AnyValue *v = A(a, sizeof *v);
  opentelemetry__proto__common__v1__any_value__init(v);
  v->value_case = V(DOUBLE_VALUE);
  v->double_value = d;
  return v;
}
static AnyValue *v_bool(arena *a, bool b) {
  AnyValue *v = A(a, sizeof *v);
  opentelemetry__proto__common__v1__any_value__init(v);
  v->value_case = V(BOOL_VALUE);
  v->bool_value = b;
  return v;
}

static const char *kMethods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
static const char *kDb[] = {"postgresql", "redis", "mysql", "mongodb"};
static const char *kExc[] = {"java.lang.NullPointerException", "TimeoutError",
                             "ConnectionResetError", "IllegalStateException"};

/* A request of n spans over `services` resources, deterministic for a seed. */
static Request *make_request(arena *a, int n, int services, uint64_t seed) {
  uint64_t rs = seed * 0x9E3779B97F4A7C15ull + 1;
  Request *req = A(a, sizeof *req);
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(
      req);
  if (services > n) services = n;
  req->n_resource_spans = (size_t)services;
  req->resource_spans = A(a, sizeof(ResourceSpans *) * (size_t)services);
  int per = n / services, left = n;
  uint8_t trace[16] = {0};
  for (int r = 0; r < services; r++) {
    ResourceSpans *rsp = A(a, sizeof *rsp);
    opentelemetry__proto__trace__v1__resource_spans__init(rsp);
    req->resource_spans[r] = rsp;
    Resource *res = A(a, sizeof *res);
    opentelemetry__proto__resource__v1__resource__init(res);
    rsp->resource = res;
    rsp->schema_url = "https://opentelemetry.io/schemas/1.24.0";
    res->n_attributes = 6;
    res->attributes = A(a, sizeof(KeyValue *) * 6);
    res->attributes[0] =
        kv(a, "service.name", v_str(a, S(a, "service-%02d", r)));
    res->attributes[1] = kv(a, "service.version", v_str(a, "1.4.2"));
    res->attributes[2] = kv(a, "telemetry.sdk.language", v_str(a, "nodejs"));
    res->attributes[3] = kv(a, "telemetry.sdk.name", v_str(a, "opentelemetry"));
    res->attributes[4] =
        kv(a, "host.name", v_str(a, S(a, "ip-10-0-%d-%d", r, r * 7 % 255)));
    res->attributes[5] = kv(a, "process.pid", v_int(a, 1000 + r));
    ScopeSpans *ss = A(a, sizeof *ss);
    opentelemetry__proto__trace__v1__scope_spans__init(ss);
    rsp->n_scope_spans = 1;
    rsp->scope_spans = A(a, sizeof(ScopeSpans *));
    rsp->scope_spans[0] = ss;
    Scope *sc = A(a, sizeof *sc);
    opentelemetry__proto__common__v1__instrumentation_scope__init(sc);
    sc->name = r % 2 ? "@opentelemetry/instrumentation-http"
                     : "@opentelemetry/instrumentation-pg";
    sc->version = "0.52.0";
    ss->scope = sc;
    int count = r == services - 1 ? left : per;
    left -= count;
    ss->n_spans = (size_t)count;
    ss->spans = A(a, sizeof(Span *) * (size_t)count);
    for (int i = 0; i < count; i++) {
      Span *s = A(a, sizeof *s);
      opentelemetry__proto__trace__v1__span__init(s);
      ss->spans[i] = s;
      uint64_t x = bench_rng_next(&rs);
      if (i % 8 == 0) { /* a new trace every 8 spans */
        uint64_t t1 = bench_rng_next(&rs), t2 = bench_rng_next(&rs);
        memcpy(trace, &t1, 8);
        memcpy(trace + 8, &t2, 8);
      }
      uint8_t *tid = A(a, 16), *sid = A(a, 8), *pid = A(a, 8);
      memcpy(tid, trace, 16);
      uint64_t sv = bench_rng_next(&rs), pv = bench_rng_next(&rs);
      memcpy(sid, &sv, 8);
      memcpy(pid, &pv, 8);
      s->trace_id = (ProtobufCBinaryData){16, tid};
      s->span_id = (ProtobufCBinaryData){8, sid};
      if (i % 8) s->parent_span_id = (ProtobufCBinaryData){8, pid};
      int route = (int)(x % 300);
      const char *method = kMethods[x % 5];
      s->name = S(a, "%s /api/v%d/resource%d", method, route % 3 + 1, route);
      s->kind = (int)(x % 5) + 1;
      s->flags = 0x101;
      uint64_t start = 1700000000000000000ull + (uint64_t)i * 1000003ull +
                       (uint64_t)r * 7777777ull;
      s->start_time_unix_nano = start;
      s->end_time_unix_nano = start + 1000 + x % 50000000;
      bool db = (x >> 8) % 4 == 0;
      size_t na = db ? 10 : 11, k = 0;
      s->attributes = A(a, sizeof(KeyValue *) * na);
      s->attributes[k++] = kv(a, "http.request.method", v_str(a, method));
      s->attributes[k++] =
          kv(a, "http.route", v_str(a, S(a, "/api/v1/resource%d/:id", route)));
      s->attributes[k++] = kv(a, "url.path",
                              v_str(a, S(a, "/api/v1/resource%d/%llu", route,
                                         (unsigned long long)(x % 100000))));
      s->attributes[k++] = kv(a, "http.response.status_code",
                              v_int(a, (x >> 20) % 10 ? 200 : 503));
      s->attributes[k++] =
          kv(a, "server.address", v_str(a, S(a, "svc-%d.internal", r)));
      s->attributes[k++] = kv(a, "server.port", v_int(a, 8080));
      s->attributes[k++] = kv(a, "network.protocol.version", v_str(a, "1.1"));
      s->attributes[k++] =
          kv(a, "user_agent.original",
             v_str(a, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"));
      s->attributes[k++] =
          kv(a, "http.server.duration_ms", v_dbl(a, (double)(x % 9999) / 7.0));
      s->attributes[k++] = kv(a, "http.cached", v_bool(a, (x >> 30) & 1));
      if (db) {
        s->attributes[k - 1] = kv(a, "db.system", v_str(a, kDb[x % 4]));
      } else {
        s->attributes[k++] =
            kv(a, "client.address",
               v_str(a, S(a, "10.1.%d.%d", (int)(x >> 40) % 255,
                          (int)(x >> 48) % 255)));
      }
      s->n_attributes = k;
      bool error = (x >> 20) % 10 == 0;
      Status *st = A(a, sizeof *st);
      opentelemetry__proto__trace__v1__status__init(st);
      s->status = st;
      if (error) {
        st->code = 2;
        st->message = "upstream unavailable";
        Event *e = A(a, sizeof *e);
        opentelemetry__proto__trace__v1__span__event__init(e);
        e->name = "exception";
        e->time_unix_nano = start + 500;
        e->n_attributes = 3;
        e->attributes = A(a, sizeof(KeyValue *) * 3);
        e->attributes[0] = kv(a, "exception.type", v_str(a, kExc[x % 4]));
        e->attributes[1] = kv(a, "exception.message",
                              v_str(a, "connection refused by upstream"));
        e->attributes[2] =
            kv(a, "exception.stacktrace",
               v_str(a, S(a,
                          "%s: connection refused\n    at connect "
                          "(net.js:%d:10)\n    at Client.query "
                          "(client.js:%d:5)\n    at handler (app.js:%d:3)",
                          kExc[x % 4], route, route * 3 % 500, route % 97)));
        s->n_events = 1;
        s->events = A(a, sizeof(Event *));
        s->events[0] = e;
      } else if (x % 3 == 0) {
        Event *e = A(a, sizeof *e);
        opentelemetry__proto__trace__v1__span__event__init(e);
        e->name = "cache.miss";
        e->time_unix_nano = start + 200;
        e->n_attributes = 1;
        e->attributes = A(a, sizeof(KeyValue *));
        e->attributes[0] = kv(a, "cache.key", v_str(a, S(a, "k%d", route)));
        s->n_events = 1;
        s->events = A(a, sizeof(Event *));
        s->events[0] = e;
      }
      if (x % 20 == 0) {
        Link *l = A(a, sizeof *l);
        opentelemetry__proto__trace__v1__span__link__init(l);
        uint8_t *lt = A(a, 16), *ls = A(a, 8);
        uint64_t l1 = bench_rng_next(&rs), l2 = bench_rng_next(&rs);
        memcpy(lt, &l1, 8);
        memcpy(lt + 8, &l2, 8);
        memcpy(ls, &l1, 8);
        l->trace_id = (ProtobufCBinaryData){16, lt};
        l->span_id = (ProtobufCBinaryData){8, ls};
        l->n_attributes = 1;
        l->attributes = A(a, sizeof(KeyValue *));
        l->attributes[0] = kv(a, "messaging.operation", v_str(a, "process"));
        s->n_links = 1;
        s->links = A(a, sizeof(Link *));
        s->links[0] = l;
      }
    }
  }
  return req;
}

/* ---------------------------------------------------------- measurement */

/* Bytes held by an array tree; every buffer counted once (by address). */
static int64_t batch_bytes(const oa_batch *b) {
  int64_t total = 0;
  if (oa_batch_held_bytes(b, &total, NULL)) abort();
  return total;
}

/* Runs op until ~50 ms passed; returns seconds per call. */
#define TIME_PER_CALL(out, op)                                                 \
  do {                                                                         \
    int64_t iters_ = 0;                                                        \
    double t0_ = bench_cpu_s(), t_;                                            \
    do {                                                                       \
      op;                                                                      \
      iters_++;                                                                \
      t_ = bench_cpu_s() - t0_;                                                \
    } while (t_ < 0.05);                                                       \
    (out) = t_ / (double)iters_;                                               \
  } while (0)

static void run(const char *label, const uint8_t *pb, size_t size,
                int repeats) {
  /* OA_BENCH_FILTER=text runs only the inputs whose label contains it */
  const char *filter = getenv("OA_BENCH_FILTER");
  if (filter && !strstr(label, filter)) return;
  oa_otlp_decoder *dec;
  CHECK(oa_otlp_decoder_new(&dec, NULL, &err));
  oa_batch batch;
  oa_batch_init(&batch);
  oa_otlp_result res;
  CHECK(oa_otlp_decoder_decode(dec, pb, (int64_t)size, &batch, &res, &err));
  int64_t spans = batch.length;
  if (res.rejected_spans) {
    fprintf(stderr, "bench_otlp: %s: %lld spans rejected: %s\n", label,
            (long long)res.rejected_spans, res.error_message);
    exit(1);
  }
  /* protobuf-c must agree on the span count, or the comparison is moot */
  Request *check = (Request *)protobuf_c_message_unpack(
      &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
      NULL, size, pb);
  if (!check) {
    fprintf(stderr, "bench_otlp: %s: protobuf-c cannot unpack\n", label);
    exit(1);
  }
  int64_t pbc_spans = 0;
  for (size_t r = 0; r < check->n_resource_spans; r++)
    for (size_t s = 0; s < check->resource_spans[r]->n_scope_spans; s++)
      pbc_spans += (int64_t)check->resource_spans[r]->scope_spans[s]->n_spans;
  protobuf_c_message_free_unpacked(&check->base, NULL);
  if (pbc_spans != spans) {
    fprintf(stderr, "bench_otlp: %s: %lld spans decoded, protobuf-c %lld\n",
            label, (long long)spans, (long long)pbc_spans);
    exit(1);
  }
  int64_t held = batch_bytes(&batch);
  if (getenv("OA_BENCH_COLUMNS")) { /* where the held bytes are */
    for (int64_t c = 0; c < batch.n_columns; c++) {
      oa_batch one = {NULL, batch.length, 1, &batch.columns[c]};
      printf("  %-36s %8.1f B/span\n", batch.schema->fields[c].name,
             (double)batch_bytes(&one) / (double)spans);
    }
  }
  oa_bytes enc;
  oa_bytes_init(&enc);
  CHECK(oa_otlp_encode_traces(&batch, &enc, &err));
  int64_t enc_size = enc.size;

  double *td = calloc((size_t)repeats, sizeof *td);
  double *tp = calloc((size_t)repeats, sizeof *tp);
  double *te = calloc((size_t)repeats, sizeof *te);
  const char *only = getenv("OA_BENCH_ONLY"); /* for profiling: decode|encode */
  if (only) {
    double t0 = bench_cpu_s();
    while (bench_cpu_s() - t0 < 3) {
      if (strcmp(only, "encode") == 0) {
        enc.size = 0;
        CHECK(oa_otlp_encode_traces(&batch, &enc, &err));
      } else {
        CHECK(
            oa_otlp_decoder_decode(dec, pb, (int64_t)size, &batch, &res, &err));
        oa_otlp_decoder_recycle(dec, &batch);
      }
    }
  }
  for (int r = 0; r < repeats && !only; r++) {
    TIME_PER_CALL(td[r], {
      CHECK(oa_otlp_decoder_decode(dec, pb, (int64_t)size, &batch, &res, &err));
      oa_otlp_decoder_recycle(dec, &batch);
    });
    /* the encoder's input */
    CHECK(oa_otlp_decoder_decode(dec, pb, (int64_t)size, &batch, &res, &err));
    TIME_PER_CALL(tp[r], {
      ProtobufCMessage *m = protobuf_c_message_unpack(
          &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
          NULL, size, pb);
      if (!m) abort();
      protobuf_c_message_free_unpacked(m, NULL);
    });
    TIME_PER_CALL(te[r], {
      enc.size = 0;
      CHECK(oa_otlp_encode_traces(&batch, &enc, &err));
    });
  }
  if (only) repeats = 1;
  double d = bench_median(td, repeats), p = bench_median(tp, repeats),
         e = bench_median(te, repeats);
  double mb = (double)size / 1e6;
  printf("%-18s %7lld %9.1f | %8.0f %7.2f | %8.0f %7.2f | %6.2fx | %8.0f "
         "%7.2f | %7.1f %7.1f\n",
         label, (long long)spans, (double)size / (double)spans, mb / d,
         (double)spans / d / 1e6, mb / p, (double)spans / p / 1e6, p / d,
         (double)enc_size / 1e6 / e, (double)spans / e / 1e6,
         (double)held / (double)spans, (double)size / (double)spans);
  free(td);
  free(tp);
  free(te);
  oa_bytes_reset(&enc);
  oa_batch_reset(&batch);
  oa_otlp_decoder_free(dec);
}

/* OTLP/JSON of the same request (oa_otlp_traces_pb_to_json): our decoder
 * into a finished batch, against json-c's parse alone (json_tokener_parse_ex
 * + json_object_put, no OTLP work at all) of the same bytes as the
 * baseline. */
static void run_json(const char *label, const uint8_t *pb, size_t size,
                     int repeats) {
  const char *filter = getenv("OA_BENCH_FILTER");
  if (filter && !strstr(label, filter)) return;
  oa_bytes js;
  oa_bytes_init(&js);
  CHECK(oa_otlp_traces_pb_to_json(pb, (int64_t)size, &js, &err));
  oa_otlp_json_decoder *dec;
  CHECK(oa_otlp_json_decoder_new(&dec, NULL, &err));
  oa_batch batch;
  oa_batch_init(&batch);
  oa_otlp_result res;
  CHECK(oa_otlp_json_decoder_decode(dec, (const char *)js.data, js.size, &batch,
                                    &res, &err));
  const int64_t spans = batch.length;
  json_tokener *tok = json_tokener_new();
  double *td = calloc((size_t)repeats, sizeof *td);
  double *tj = calloc((size_t)repeats, sizeof *tj);
  if (!tok || !td || !tj) abort();
  for (int r = 0; r < repeats; r++) {
    TIME_PER_CALL(td[r], {
      CHECK(oa_otlp_json_decoder_decode(dec, (const char *)js.data, js.size,
                                        &batch, &res, &err));
    });
    TIME_PER_CALL(tj[r], {
      json_tokener_reset(tok);
      json_object *o =
          json_tokener_parse_ex(tok, (const char *)js.data, (int)js.size);
      if (!o) abort();
      json_object_put(o);
    });
#if defined(__GLIBC__)
    /* json-c leaves the heap full of small free chunks: without this, every
     * large free in the next decode loop makes glibc consolidate them */
    malloc_trim(0);
#endif
  }
  double d = bench_median(td, repeats), j = bench_median(tj, repeats);
  double mb = (double)js.size / 1e6;
  printf("%-18s %7lld %9.1f | %8.0f %7.3f | %8.0f %7.3f | %6.2fx\n", label,
         (long long)spans, (double)js.size / (double)spans, mb / d,
         (double)spans / d / 1e6, mb / j, (double)spans / j / 1e6, j / d);
  free(td);
  free(tj);
  json_tokener_free(tok);
  oa_batch_reset(&batch);
  oa_otlp_json_decoder_free(dec);
  oa_bytes_reset(&js);
}

/* The inputs, kept for the OTLP/JSON table that follows the protobuf one. */
typedef struct input {
  char label[64];
  uint8_t *pb;
  size_t size;
} input;
static input g_inputs[64];
static int g_n_inputs;

static void keep(const char *label, const uint8_t *pb, size_t size) {
  if (g_n_inputs == (int)(sizeof g_inputs / sizeof g_inputs[0])) return;
  input *in = &g_inputs[g_n_inputs++];
  snprintf(in->label, sizeof in->label, "%s", label);
  in->pb = malloc(size ? size : 1);
  if (!in->pb) abort();
  memcpy(in->pb, pb, size);
  in->size = size;
}

/* OA_BENCH_DUMP=DIR writes every generated request to DIR/<label>.pb */
static void dump(const char *label, const uint8_t *pb, size_t size) {
  const char *dir = getenv("OA_BENCH_DUMP");
  if (!dir) return;
  char path[512];
  snprintf(path, sizeof path, "%s/%s.pb", dir, label);
  for (char *q = path + strlen(dir) + 1; *q; q++)
    if (*q == ' ') *q = '_';
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(pb, 1, size, f) != size) {
    fprintf(stderr, "bench_otlp: cannot write %s\n", path);
    exit(1);
  }
  fclose(f);
}

static uint8_t *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *d = malloc((size_t)n + 1);
  if (!d || fread(d, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "bench_otlp: cannot read %s\n", path);
    exit(1);
  }
  fclose(f);
  *size = (size_t)n;
  return d;
}

int main(int argc, char **argv) {
  int repeats = argc > 1 ? atoi(argv[1]) : 7;
  if (getenv("OA_BENCH_DUMP")) repeats = 1;
  if (repeats < 1) repeats = 1;
  printf("OTLP protobuf ExportTraceServiceRequest -> span batch; median of %d\n"
         "decode = oa_otlp_decoder_decode into a finished batch + "
         "oa_otlp_decoder_recycle of it (what a receiver does per request);\n"
         "protobuf-c = "
         "protobuf_c_message_unpack + free_unpacked of the same bytes;\n"
         "encode = oa_otlp_encode_traces (MB/s of OTLP written); held = bytes "
         "of the finished batch per span (buffers counted once)\n\n",
         repeats);
  printf("%-18s %7s %9s | %8s %7s | %8s %7s | %7s | %8s %7s | %7s %7s\n",
         "input", "spans", "B/span", "dec MB/s", "Mspan/s", "pbc MB/s",
         "Mspan/s", "speedup", "enc MB/s", "Mspan/s", "held/sp", "pb/sp");
  static const int kSizes[] = {1000, 5000, 10000};
  for (size_t i = 0; i < sizeof kSizes / sizeof kSizes[0]; i++) {
    arena a = {0};
    Request *req = make_request(&a, kSizes[i], kSizes[i] / 500 + 2, 42 + i);
    size_t size =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            req);
    uint8_t *pb = malloc(size);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
        req, pb);
    arena_free(&a);
    char label[64];
    snprintf(label, sizeof label, "protobuf-c %d", kSizes[i]);
    dump(label, pb, size);
    run(label, pb, size, repeats);
    keep(label, pb, size);
    free(pb);
  }
  /* the project's trace generator (otlparrow gen): call trees, exceptions,
   * links, a spread of cardinalities */
  for (size_t i = 0; i < sizeof kSizes / sizeof kSizes[0]; i++) {
    oa_trace_gen g;
    oa_trace_gen_options o;
    oa_trace_gen_options_default(&o);
    o.spans = kSizes[i];
    o.seed = 7 + i;
    CHECK(oa_trace_gen_init(&g, &o, &err));
    oa_bytes req;
    oa_bytes_init(&req);
    int64_t n = 0;
    CHECK(oa_trace_gen_next_request(&g, kSizes[i], &req, &n, &err));
    char label[64];
    snprintf(label, sizeof label, "gen %d", kSizes[i]);
    dump(label, req.data, (size_t)req.size);
    run(label, req.data, (size_t)req.size, repeats);
    keep(label, req.data, (size_t)req.size);
    oa_bytes_reset(&req);
    oa_trace_gen_reset(&g);
  }
  for (int i = 2; i < argc; i++) {
    size_t size;
    uint8_t *pb = read_file(argv[i], &size);
    const char *base = strrchr(argv[i], '/');
    run(base ? base + 1 : argv[i], pb, size, repeats);
    keep(base ? base + 1 : argv[i], pb, size);
    free(pb);
  }
  if (getenv("OA_BENCH_ONLY") || getenv("OA_BENCH_DUMP")) return 0;
  printf("\nOTLP/JSON of the same requests -> span batch; median of %d\n"
         "decode = oa_otlp_json_decoder_decode into a finished batch; json-c "
         "= json_tokener_parse_ex + json_object_put of the same bytes "
         "(parse only)\n\n",
         repeats);
  printf("%-18s %7s %9s | %8s %7s | %8s %7s | %7s\n", "input", "spans",
         "B/span", "dec MB/s", "Mspan/s", "jsonc MB/s", "Mspan/s", "speedup");
  for (int i = 0; i < g_n_inputs; i++) {
    run_json(g_inputs[i].label, g_inputs[i].pb, g_inputs[i].size, repeats);
    free(g_inputs[i].pb);
  }
  return 0;
}
