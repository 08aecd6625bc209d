/* A deterministic generator of realistic OTLP traces.
 *
 * The modelled system is a small online shop (the shape of the OpenTelemetry
 * demo): a frontend and up to 19 backend services in several languages,
 * talking HTTP and gRPC, with PostgreSQL/MySQL/MongoDB/Elasticsearch/Redis
 * clients and Kafka queues. Each trace is one request at the frontend (a
 * SERVER root) that fans out into CLIENT/SERVER pairs, database and cache
 * CLIENT spans, INTERNAL work and PRODUCER/CONSUMER pairs, 2 to 6 levels
 * deep. The world (services, instances, scopes, routes) is fixed; the seed
 * drives the traffic, ids and outcomes.
 *
 * Determinism: one splitmix64 stream per generator, integer arithmetic only
 * (doubles are integer ratios, exact in IEEE 754), snprintf with integer and
 * string conversions only (locale independent), bytes written explicitly
 * little-endian. No clock, no rand().
 *
 * Spans are encoded when they end (post-order, as an SDK exports them) into
 * the current trace's buffer; a request collects whole traces and groups
 * their spans into ResourceSpans per service instance and ScopeSpans per
 * instrumentation scope. */
#include <stdio.h>
#include <stdlib.h>

#include "otlp/otlp_internal.h"

/* ------------------------------------------------------------- world */

enum {
  LANG_GO,
  LANG_JAVA,
  LANG_NODE,
  LANG_PYTHON,
  LANG_DOTNET,
  LANG_RUBY,
  LANG_RUST,
  LANG_PHP,
  LANG_CPP
};
enum {
  SC_HTTP_SERVER,
  SC_HTTP_CLIENT,
  SC_RPC,
  SC_DB,
  SC_CACHE,
  SC_MSG,
  SC_APP
};
#define N_SCOPES 7
#define MAX_REPLICAS 3
#define N_RES (OA_TRACE_GEN_MAX_SERVICES * MAX_REPLICAS)
enum { ERR_TIMEOUT, ERR_UNAVAILABLE, ERR_INTERNAL, ERR_DB };

/* one name, too long for a line: a named constant so that no split literal
 * in the list below looks like a missing comma */
static const char kGoOtelGrpc[] = "go.opentelemetry.io/contrib/instrumentation/"
                                  "google.golang.org/grpc/otelgrpc";

typedef struct lang_info {
  const char *sdk_lang, *sdk_version, *runtime_name, *runtime_version;
  bool old_semconv;  /* http.method, net.peer.* instead of the new names */
  bool remote_flags; /* sets the OTLP has-is-remote / is-remote flag bits */
  bool thread_attrs; /* thread.id / thread.name on every span */
  bool msg_events;   /* gRPC "message" events */
  const char *scope[N_SCOPES - 1];
  const char *scope_version;
  const char *schema_url;
  const char *exc[4];
  const char *ext;
} lang_info;

static const lang_info kLangs[] = {
    [LANG_GO] =
        {"go",
         "1.28.0",
         "go",
         "go1.22.5",
         false,
         true,
         false,
         true,
         {"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
          "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
          kGoOtelGrpc, "github.com/XSAM/otelsql",
          "github.com/redis/go-redis/extra/redisotel",
          "github.com/IBM/sarama/otelsarama"},
         "0.53.0",
         "https://opentelemetry.io/schemas/1.26.0",
         {"*errors.errorString", "*net.OpError", "*errors.errorString",
          "*pgconn.PgError"},
         "go"},
    [LANG_JAVA] =
        {"java",
         "1.40.0",
         "OpenJDK Runtime Environment",
         "21.0.3+9-LTS",
         false,
         true,
         true,
         true,
         {"io.opentelemetry.tomcat-10.0", "io.opentelemetry.java-http-client",
          "io.opentelemetry.grpc-1.6", "io.opentelemetry.jdbc",
          "io.opentelemetry.lettuce-5.1", "io.opentelemetry.kafka-clients-2.6"},
         "2.6.0-alpha",
         "https://opentelemetry.io/schemas/1.24.0",
         {"java.net.SocketTimeoutException", "java.net.ConnectException",
          "java.lang.NullPointerException",
          "java.sql.SQLTransientConnectionException"},
         "java"},
    [LANG_NODE] = {"nodejs",
                   "1.25.1",
                   "nodejs",
                   "20.15.1",
                   false,
                   false,
                   false,
                   false,
                   {"@opentelemetry/instrumentation-http",
                    "@opentelemetry/instrumentation-http",
                    "@opentelemetry/instrumentation-grpc",
                    "@opentelemetry/instrumentation-pg",
                    "@opentelemetry/instrumentation-ioredis",
                    "@opentelemetry/instrumentation-kafkajs"},
                   "0.52.1",
                   "",
                   {"TimeoutError", "Error", "TypeError", "DatabaseError"},
                   "js"},
    [LANG_PYTHON] = {"python",
                     "1.26.0",
                     "cpython",
                     "3.12.4",
                     true,
                     false,
                     false,
                     false,
                     {"opentelemetry.instrumentation.flask",
                      "opentelemetry.instrumentation.requests",
                      "opentelemetry.instrumentation.grpc",
                      "opentelemetry.instrumentation.psycopg2",
                      "opentelemetry.instrumentation.redis",
                      "opentelemetry.instrumentation.kafka"},
                     "0.47b0",
                     "https://opentelemetry.io/schemas/1.11.0",
                     {"TimeoutError", "ConnectionRefusedError", "KeyError",
                      "psycopg2.errors.DeadlockDetected"},
                     "py"},
    [LANG_DOTNET] = {"dotnet",
                     "1.9.0",
                     ".NET",
                     "8.0.7",
                     false,
                     true,
                     false,
                     false,
                     {"Microsoft.AspNetCore", "System.Net.Http",
                      "OpenTelemetry.Instrumentation.GrpcNetClient",
                      "OpenTelemetry.Instrumentation.SqlClient",
                      "OpenTelemetry.Instrumentation.StackExchangeRedis",
                      "Confluent.Kafka.Extensions.OpenTelemetry"},
                     "1.9.0",
                     "",
                     {"System.TimeoutException",
                      "System.Net.Http.HttpRequestException",
                      "System.NullReferenceException",
                      "Npgsql.PostgresException"},
                     "cs"},
    [LANG_RUBY] = {"ruby",
                   "1.5.0",
                   "ruby",
                   "3.3.4",
                   true,
                   false,
                   false,
                   false,
                   {"OpenTelemetry::Instrumentation::Sinatra",
                    "OpenTelemetry::Instrumentation::Net::HTTP",
                    "OpenTelemetry::Instrumentation::Grpc",
                    "OpenTelemetry::Instrumentation::PG",
                    "OpenTelemetry::Instrumentation::Redis",
                    "OpenTelemetry::Instrumentation::RubyKafka"},
                   "0.24.0",
                   "",
                   {"Net::ReadTimeout", "Errno::ECONNREFUSED", "NoMethodError",
                    "PG::TRDeadlockDetected"},
                   "rb"},
    [LANG_RUST] = {"rust",
                   "0.24.0",
                   "rustc",
                   "1.79.0",
                   false,
                   false,
                   false,
                   false,
                   {"actix-web-opentelemetry", "reqwest-tracing",
                    "tonic-tracing-opentelemetry", "sqlx", "redis-rs",
                    "rdkafka"},
                   "0.18.0",
                   "",
                   {"tokio::time::error::Elapsed", "hyper::Error",
                    "anyhow::Error", "sqlx::Error"},
                   "rs"},
    [LANG_PHP] = {"php",
                  "1.0.8",
                  "php",
                  "8.3.9",
                  true,
                  false,
                  false,
                  false,
                  {"io.opentelemetry.contrib.php.slim",
                   "io.opentelemetry.contrib.php.psr18",
                   "io.opentelemetry.contrib.php.grpc",
                   "io.opentelemetry.contrib.php.pdo",
                   "io.opentelemetry.contrib.php.redis",
                   "io.opentelemetry.contrib.php.kafka"},
                  "1.0.0",
                  "https://opentelemetry.io/schemas/1.24.0",
                  {"GuzzleHttp\\Exception\\ConnectException",
                   "GuzzleHttp\\Exception\\ConnectException", "TypeError",
                   "PDOException"},
                  "php"},
    [LANG_CPP] = {"cpp",
                  "1.16.0",
                  "",
                  "",
                  false,
                  false,
                  false,
                  false,
                  {"currency", "currency", "currency", "currency", "currency",
                   "currency"},
                  "1.16.0",
                  "",
                  {"std::runtime_error", "std::runtime_error",
                   "std::runtime_error", "std::runtime_error"},
                  "cpp"},
};

enum { P_HTTP, P_GRPC, P_QUEUE };
enum { DB_NONE, DB_PG, DB_MYSQL, DB_MONGO, DB_ES };
static const char *const kDbSystem[] = {"", "postgresql", "mysql", "mongodb",
                                        "elasticsearch"};
static const int kDbPort[] = {0, 5432, 3306, 27017, 9200};

typedef struct svc_info {
  const char *name;
  int lang, proto, db;
  bool cache;
  int replicas;
  int produces, consumes; /* queue index or -1 */
  const char *nouns[7];   /* singular, NULL-terminated */
  int callees[11];        /* -1 terminated */
  int port;               /* here, not last: less padding */
  const char *grpc_service;
  const char *external; /* third-party host it calls, or NULL */
} svc_info;

static const char *const kQueues[] = {"orders", "notifications",
                                      "inventory-events"};

static const svc_info kSvcs[OA_TRACE_GEN_MAX_SERVICES] = {
    {"frontend",
     LANG_NODE,
     P_HTTP,
     DB_NONE,
     false,
     3,
     -1,
     -1,
     {"product", "cart", "checkout", "currency", "recommendation", "ad",
      "shipping"},
     {1, 2, 3, 7, 8, 9, 6, 14, 16, 18, -1},
     8080,
     NULL,
     NULL},
    {"product-catalog",
     LANG_GO,
     P_GRPC,
     DB_PG,
     false,
     2,
     -1,
     -1,
     {"product", "category", "price", "catalog", NULL},
     {13, -1},
     3550,
     "oteldemo.ProductCatalogService",
     NULL},
    {"cart",
     LANG_DOTNET,
     P_GRPC,
     DB_NONE,
     true,
     2,
     -1,
     -1,
     {"cart", "item", "coupon", NULL},
     {-1},
     7070,
     "oteldemo.CartService",
     NULL},
    {"checkout",
     LANG_GO,
     P_GRPC,
     DB_NONE,
     false,
     2,
     0,
     -1,
     {"order", "checkout", "invoice", NULL},
     {2, 1, 4, 6, 5, 7, 14, 19, -1},
     5050,
     "oteldemo.CheckoutService",
     NULL},
    {"currency",
     LANG_CPP,
     P_GRPC,
     DB_NONE,
     false,
     1,
     -1,
     -1,
     {"currency", "rate", NULL},
     {-1},
     7001,
     "oteldemo.CurrencyService",
     NULL},
    {"payment",
     LANG_NODE,
     P_GRPC,
     DB_NONE,
     false,
     2,
     -1,
     -1,
     {"payment", "charge", "refund", NULL},
     {15, -1},
     50051,
     "oteldemo.PaymentService",
     "api.stripe.com"},
    {"shipping",
     LANG_RUST,
     P_HTTP,
     DB_NONE,
     false,
     1,
     -1,
     -1,
     {"quote", "shipment", "tracking", NULL},
     {10, -1},
     50050,
     NULL,
     "onlinetools.ups.com"},
    {"email",
     LANG_RUBY,
     P_HTTP,
     DB_NONE,
     false,
     1,
     1,
     -1,
     {"confirmation", "newsletter", "receipt", NULL},
     {-1},
     6060,
     NULL,
     "api.sendgrid.com"},
    {"recommendation",
     LANG_PYTHON,
     P_GRPC,
     DB_NONE,
     true,
     2,
     -1,
     -1,
     {"recommendation", "similar_product", NULL},
     {1, -1},
     9001,
     "oteldemo.RecommendationService",
     NULL},
    {"ad",
     LANG_JAVA,
     P_GRPC,
     DB_NONE,
     false,
     1,
     -1,
     -1,
     {"ad", "campaign", "placement", NULL},
     {-1},
     9555,
     "oteldemo.AdService",
     NULL},
    {"quote",
     LANG_PHP,
     P_HTTP,
     DB_NONE,
     false,
     1,
     -1,
     -1,
     {"quote", "rate_card", NULL},
     {-1},
     8090,
     NULL,
     NULL},
    {"accounting",
     LANG_DOTNET,
     P_QUEUE,
     DB_PG,
     false,
     1,
     -1,
     0,
     {"ledger_entry", NULL},
     {-1},
     0,
     NULL,
     NULL},
    {"fraud-detection",
     LANG_JAVA,
     P_QUEUE,
     DB_NONE,
     false,
     1,
     -1,
     0,
     {"risk_score", NULL},
     {-1},
     0,
     NULL,
     NULL},
    {"inventory",
     LANG_GO,
     P_GRPC,
     DB_PG,
     false,
     2,
     2,
     -1,
     {"stock", "warehouse", "reservation", NULL},
     {-1},
     8081,
     "oteldemo.InventoryService",
     NULL},
    {"user",
     LANG_JAVA,
     P_HTTP,
     DB_MYSQL,
     false,
     2,
     -1,
     -1,
     {"user", "session", "profile", "address", "preference", NULL},
     {15, -1},
     8085,
     NULL,
     NULL},
    {"auth",
     LANG_GO,
     P_GRPC,
     DB_NONE,
     true,
     2,
     -1,
     -1,
     {"token", "permission", NULL},
     {-1},
     9090,
     "oteldemo.AuthService",
     NULL},
    {"search",
     LANG_JAVA,
     P_HTTP,
     DB_ES,
     false,
     2,
     -1,
     2,
     {"search", "suggestion", "facet", NULL},
     {1, -1},
     8088,
     NULL,
     NULL},
    {"notification",
     LANG_PYTHON,
     P_QUEUE,
     DB_NONE,
     false,
     1,
     -1,
     1,
     {"notification", NULL},
     {-1},
     0,
     NULL,
     "fcm.googleapis.com"},
    {"reviews",
     LANG_PYTHON,
     P_HTTP,
     DB_MONGO,
     false,
     1,
     -1,
     -1,
     {"review", "rating", "comment", NULL},
     {14, -1},
     8087,
     NULL,
     NULL},
    {"loyalty",
     LANG_NODE,
     P_GRPC,
     DB_PG,
     false,
     1,
     -1,
     -1,
     {"reward", "tier", "point", NULL},
     {14, -1},
     7171,
     "oteldemo.LoyaltyService",
     NULL},
};

/* Route / method templates: 0 list, 1 get, 2 create, 3 update, 4 delete. */
#define N_TEMPL 5
static const char *const kMethods[N_TEMPL] = {"GET", "GET", "POST", "PUT",
                                              "DELETE"};
static const char *const kVerbs[N_TEMPL] = {"List", "Get", "Create", "Update",
                                            "Delete"};
static const int kTemplWeight[N_TEMPL] = {35, 40, 12, 9, 4};

static const char *const kUserAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like "
    "Gecko) "
    "Chrome/126.0.6478.71 Mobile Safari/537.36",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "k6/0.52.0 (https://k6.io/)",
};

/* ------------------------------------------------------------- random */

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t r64(uint64_t *s) { return mix64(*s += 0x9E3779B97F4A7C15ull); }
static int64_t below(uint64_t *s, int64_t n) {
  return n <= 1 ? 0 : (int64_t)(r64(s) % (uint64_t)n);
}
static bool chance(uint64_t *s, int per_mille) {
  return below(s, 1000) < per_mille;
}
static int64_t range(uint64_t *s, int64_t lo, int64_t hi) {
  return lo + below(s, hi - lo + 1);
}

/* ------------------------------------------------------------- writer */

typedef struct pbw {
  oa_bytes *b;
  int rc;
} pbw;

static void w_raw(pbw *w, const void *d, int64_t n) {
  if (w->rc) return;
  w->rc = oa_bytes_append(w->b, d, n);
}

static void w_varint(pbw *w, uint64_t v) {
  uint8_t tmp[10];
  w_raw(w, tmp, oa_pb_put_varint(tmp, v) - tmp);
}

static void w_tag(pbw *w, uint32_t field, int wt) {
  w_varint(w, (uint64_t)field << 3 | (uint64_t)wt);
}

static void w_uint(pbw *w, uint32_t field, uint64_t v) {
  if (!v) return;
  w_tag(w, field, OA_PB_VARINT);
  w_varint(w, v);
}

static void w_fixed64(pbw *w, uint32_t field, uint64_t v) {
  uint8_t tmp[8];
  for (int i = 0; i < 8; i++)
    tmp[i] = (uint8_t)(v >> (8 * i));
  w_tag(w, field, OA_PB_I64);
  w_raw(w, tmp, 8);
}

static void w_fixed32(pbw *w, uint32_t field, uint32_t v) {
  uint8_t tmp[4];
  for (int i = 0; i < 4; i++)
    tmp[i] = (uint8_t)(v >> (8 * i));
  w_tag(w, field, OA_PB_I32);
  w_raw(w, tmp, 4);
}

static void w_bytes(pbw *w, uint32_t field, const void *d, int64_t n) {
  w_tag(w, field, OA_PB_LEN);
  w_varint(w, (uint64_t)n);
  w_raw(w, d, n);
}

/* A string field, left out when empty (proto3 implicit presence). */
static void w_str(pbw *w, uint32_t field, const char *s) {
  size_t n = strlen(s);
  if (n) w_bytes(w, field, s, (int64_t)n);
}

/* Opens a nested message: the length gets one byte, and end() moves the
 * content when it needs more. */
static int64_t w_begin(pbw *w, uint32_t field) {
  w_tag(w, field, OA_PB_LEN);
  w_raw(w, "", 1);
  return w->b->size;
}

static void w_end(pbw *w, int64_t start) {
  if (w->rc) return;
  uint64_t len = (uint64_t)(w->b->size - start);
  int n = oa_pb_varint_size(len);
  if (n > 1) {
    if ((w->rc = oa_bytes_reserve(w->b, n - 1))) return;
    memmove(w->b->data + start + n - 1, w->b->data + start, (size_t)len);
    w->b->size += n - 1;
  }
  oa_pb_put_varint(w->b->data + start - 1, len);
}

/* KeyValue helpers: field is the attributes field of the enclosing message. */
static int64_t kv_open(pbw *w, uint32_t field, const char *key,
                       int64_t *value) {
  int64_t kv = w_begin(w, field);
  w_str(w, 1, key);
  *value = w_begin(w, 2);
  return kv;
}

static void kv_close(pbw *w, int64_t kv, int64_t value) {
  w_end(w, value);
  w_end(w, kv);
}

static void kv_str(pbw *w, uint32_t field, const char *key, const char *v) {
  int64_t val, kv = kv_open(w, field, key, &val);
  w_bytes(w, 1, v, (int64_t)strlen(v)); /* "" is a value in AnyValue's oneof */
  kv_close(w, kv, val);
}

static void kv_int(pbw *w, uint32_t field, const char *key, int64_t v) {
  int64_t val, kv = kv_open(w, field, key, &val);
  w_tag(w, 3, OA_PB_VARINT);
  w_varint(w, (uint64_t)v);
  kv_close(w, kv, val);
}

static void kv_double(pbw *w, uint32_t field, const char *key, double v) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  int64_t val, kv = kv_open(w, field, key, &val);
  w_fixed64(w, 4, bits);
  kv_close(w, kv, val);
}

static void kv_bool(pbw *w, uint32_t field, const char *key, bool v) {
  int64_t val, kv = kv_open(w, field, key, &val);
  w_tag(w, 2, OA_PB_VARINT);
  w_varint(w, v ? 1 : 0);
  kv_close(w, kv, val);
}

static void kv_bytesv(pbw *w, uint32_t field, const char *key, const uint8_t *d,
                      int64_t n) {
  int64_t val, kv = kv_open(w, field, key, &val);
  w_bytes(w, 7, d, n);
  kv_close(w, kv, val);
}

static void kv_str_array(pbw *w, uint32_t field, const char *key,
                         const char *const *v, int n) {
  int64_t val, kv = kv_open(w, field, key, &val);
  int64_t arr = w_begin(w, 5);
  for (int i = 0; i < n; i++) {
    int64_t any = w_begin(w, 1);
    w_bytes(w, 1, v[i], (int64_t)strlen(v[i]));
    w_end(w, any);
  }
  w_end(w, arr);
  kv_close(w, kv, val);
}

/* ------------------------------------------------------------- state */

typedef struct span_rec {
  int32_t res, scope;
  int64_t off, len;
} span_rec;

typedef struct span_list {
  span_rec *v;
  int64_t n, cap;
} span_list;

typedef struct prod_ctx {
  uint8_t trace_id[16], span_id[8];
  uint64_t msg_id;
  bool has_state;
} prod_ctx;

struct oa_trace_gen_state {
  uint64_t rng;
  int64_t now; /* start of the next trace */
  int32_t n_svcs;
  /* the trace being handed out */
  oa_bytes tpb;
  span_list tspans;
  int64_t tpos;
  /* the request being assembled */
  oa_bytes rpb;
  span_list rspans;
  int64_t *order;
  int64_t cap_order;
  /* encoded Resource / InstrumentationScope messages */
  oa_bytes res_msg[N_RES];
  oa_bytes scope_msg[OA_TRACE_GEN_MAX_SERVICES * N_SCOPES];
  /* recent producer spans (consumers in batch mode link to them) */
  prod_ctx ring[8];
  int n_ring, ring_pos;
  char text[8192]; /* scratch for stack traces */
};

/* ------------------------------------------------------------- naming */

static void plural(const char *noun, char *out, size_t cap) {
  size_t n = strlen(noun);
  if (n > 1 && noun[n - 1] == 'y' && !strchr("aeiou", noun[n - 2]))
    snprintf(out, cap, "%.*sies", (int)(n - 1), noun);
  else if (n && (noun[n - 1] == 's' || noun[n - 1] == 'x' ||
                 (n > 1 && noun[n - 1] == 'h' &&
                  (noun[n - 2] == 'c' || noun[n - 2] == 's'))))
    snprintf(out, cap, "%ses", noun);
  else
    snprintf(out, cap, "%ss", noun);
}

/* "similar_product" -> "SimilarProduct" */
static void camel(const char *noun, char *out, size_t cap) {
  size_t j = 0;
  bool up = true;
  for (size_t i = 0; noun[i] && j + 1 < cap; i++) {
    if (noun[i] == '_') {
      up = true;
      continue;
    }
    char c = noun[i];
    out[j++] = up && c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
    up = false;
  }
  out[j] = 0;
}

static int n_nouns(const svc_info *s) {
  int n = 0;
  while (n < 7 && s->nouns[n])
    n++;
  return n;
}

/* The database name of a service: "product-catalog" -> "product_catalog". */
static void db_name(const svc_info *s, char *out, size_t cap) {
  snprintf(out, cap, "%s", s->name);
  for (char *p = out; *p; p++)
    if (*p == '-') *p = '_';
}

static void pod_name(int svc, int replica, char *out, size_t cap) {
  uint64_t h = mix64((uint64_t)svc * 7919 + 17);
  uint64_t r = mix64(h + (uint64_t)replica + 1);
  static const char kAlnum[] = "bcdfghjklmnpqrstvwxz2456789";
  char suffix[6];
  for (int i = 0; i < 5; i++)
    suffix[i] = kAlnum[(r >> (i * 6)) % 27];
  suffix[5] = 0;
  snprintf(out, cap, "%s-%08llx%02llx-%s", kSvcs[svc].name,
           (unsigned long long)(h >> 32), (unsigned long long)(h & 0xff),
           suffix);
}

static void pod_ip(int svc, int replica, char *out, size_t cap) {
  uint64_t h = mix64((uint64_t)svc * 104729 + (uint64_t)replica * 31 + 5);
  snprintf(out, cap, "10.42.%d.%d", (int)(h % 8), (int)((h >> 8) % 250) + 2);
}

static void hex(const uint8_t *d, int n, char *out) {
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < n; i++) {
    out[2 * i] = kHex[d[i] >> 4];
    out[2 * i + 1] = kHex[d[i] & 15];
  }
  out[2 * n] = 0;
}

/* ------------------------------------------------ resources and scopes */

static int build_world(oa_trace_gen_state *st, oa_error *err) {
  for (int s = 0; s < st->n_svcs; s++) {
    const svc_info *sv = &kSvcs[s];
    const lang_info *L = &kLangs[sv->lang];
    for (int r = 0; r < sv->replicas; r++) {
      pbw w = {&st->res_msg[s * MAX_REPLICAS + r], 0};
      char buf[160], pod[96], ip[32];
      uint64_t h = mix64((uint64_t)s * 31 + (uint64_t)r * 1000003 + 99);
      pod_name(s, r, pod, sizeof pod);
      pod_ip(s, r, ip, sizeof ip);
      kv_str(&w, 1, "service.name", sv->name);
      kv_str(&w, 1, "service.namespace", "opentelemetry-demo");
      uint64_t vh = mix64((uint64_t)s * 31 + 99); /* as the app scope */
      snprintf(buf, sizeof buf, "1.%d.%d", (int)(vh % 12),
               (int)((vh >> 8) % 30));
      kv_str(&w, 1, "service.version", buf);
      snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-%04llx-%012llx",
               (unsigned long long)(h >> 32),
               (unsigned long long)(h >> 16 & 0xffff),
               (unsigned long long)(h >> 4 & 0xfff),
               (unsigned long long)(0x8000 | (mix64(h) & 0x3fff)),
               (unsigned long long)(mix64(h + 1) & 0xffffffffffffull));
      kv_str(&w, 1, "service.instance.id", buf);
      kv_str(&w, 1, "host.name", pod);
      kv_str(&w, 1, "host.arch", "amd64");
      kv_str(&w, 1, "os.type", "linux");
      kv_str(&w, 1, "k8s.namespace.name", "shop");
      kv_str(&w, 1, "k8s.pod.name", pod);
      kv_str(&w, 1, "k8s.pod.ip", ip);
      kv_str(&w, 1, "k8s.deployment.name", sv->name);
      snprintf(buf, sizeof buf, "ip-10-0-%d-%d.eu-west-1.compute.internal",
               (int)((h >> 20) % 3) + 1, (int)((h >> 24) % 200) + 10);
      kv_str(&w, 1, "k8s.node.name", buf);
      kv_str(&w, 1, "cloud.provider", "aws");
      kv_str(&w, 1, "cloud.region", "eu-west-1");
      if (sv->lang != LANG_CPP) {
        kv_int(&w, 1, "process.pid", (int64_t)(h >> 40) % 30000 + 1);
        kv_str(&w, 1, "process.runtime.name", L->runtime_name);
        kv_str(&w, 1, "process.runtime.version", L->runtime_version);
      }
      if (sv->lang == LANG_JAVA || sv->lang == LANG_GO) {
        uint8_t cid[32];
        for (int i = 0; i < 32; i++)
          cid[i] = (uint8_t)(mix64(h + (uint64_t)i) >> 7);
        char cidhex[65];
        hex(cid, 32, cidhex);
        kv_str(&w, 1, "container.id", cidhex);
      }
      kv_str(&w, 1, "telemetry.sdk.name", "opentelemetry");
      kv_str(&w, 1, "telemetry.sdk.language", L->sdk_lang);
      kv_str(&w, 1, "telemetry.sdk.version", L->sdk_version);
      if (sv->lang == LANG_JAVA)
        kv_str(&w, 1, "telemetry.distro.version", "2.6.0");
      if (w.rc)
        return oa_error_set(err, ENOMEM, "trace generator: out of memory");
    }
    for (int sc = 0; sc < N_SCOPES; sc++) {
      pbw w = {&st->scope_msg[s * N_SCOPES + sc], 0};
      if (sc == SC_APP) {
        /* the service's own tracer, versioned like the service */
        char ver[32];
        uint64_t h = mix64((uint64_t)s * 31 + 99);
        snprintf(ver, sizeof ver, "1.%d.%d", (int)(h % 12),
                 (int)((h >> 8) % 30));
        w_str(&w, 1, sv->name);
        w_str(&w, 2, ver);
        if (sv->lang == LANG_DOTNET)
          kv_str(&w, 3, "otel.scope.kind", "ActivitySource");
      } else {
        w_str(&w, 1, L->scope[sc]);
        w_str(&w, 2, L->scope_version);
      }
      if (w.rc)
        return oa_error_set(err, ENOMEM, "trace generator: out of memory");
    }
  }
  return 0;
}

/* ------------------------------------------------------------- traces */

enum {
  CAT_HTTP_SERVER,
  CAT_HTTP_CLIENT,
  CAT_RPC_SERVER,
  CAT_RPC_CLIENT,
  CAT_DB,
  CAT_CACHE,
  CAT_PRODUCER,
  CAT_CONSUMER,
  CAT_INTERNAL,
  CAT_EXTERNAL
};

typedef struct ev_spec {
  int type; /* EV_* */
  int64_t time;
  int64_t a, b;
} ev_spec;
enum {
  EV_EXCEPTION,
  EV_LOG,
  EV_RETRY,
  EV_MSG_SENT,
  EV_MSG_RECV,
  EV_FLAG,
  EV_FALLBACK
};

typedef struct link_spec {
  uint8_t trace_id[16], span_id[8];
  uint64_t msg_id;
  bool batch, has_state;
} link_spec;

typedef struct outcome {
  int err; /* -1 none, else ERR_* */
  int http_status, grpc_code;
} outcome;

typedef struct trace_ctx {
  uint8_t trace_id[16];
  char trace_state[96];
  int max_depth;
  int64_t budget; /* spans left */
  int64_t user;   /* -1 anonymous */
  int64_t n_spans;
} trace_ctx;

typedef struct span_info {
  int cat, svc, replica, kind, depth;
  uint8_t span_id[8];
  const uint8_t *parent;
  bool remote;
  int64_t start, end;
  char name[160];
  int status;
  char status_msg[256];
  int templ, noun, op; /* operation of a server/consumer span */
  int peer;            /* callee service, -1 external */
  int peer_replica;
  int http_status, grpc_code, err;
  int db_op, retries;
  uint64_t item, msg_id;
  int64_t partition, offset;
  int n_ev;
  ev_spec ev[6];
  int n_links;
  link_spec links[4];
} span_info;

static void new_span_id(oa_trace_gen_state *st, uint8_t id[8]) {
  uint64_t v;
  do
    v = r64(&st->rng);
  while (v == 0);
  for (int i = 0; i < 8; i++)
    id[i] = (uint8_t)(v >> (8 * i));
}

static int scope_of(int cat) {
  switch (cat) {
  case CAT_HTTP_SERVER:
    return SC_HTTP_SERVER;
  case CAT_HTTP_CLIENT:
  case CAT_EXTERNAL:
    return SC_HTTP_CLIENT;
  case CAT_RPC_SERVER:
  case CAT_RPC_CLIENT:
    return SC_RPC;
  case CAT_DB:
    return SC_DB;
  case CAT_CACHE:
    return SC_CACHE;
  case CAT_PRODUCER:
  case CAT_CONSUMER:
    return SC_MSG;
  default:
    return SC_APP;
  }
}

/* The span's noun in its own service (client spans name the callee's). */
static int own_noun(const span_info *sp) {
  return sp->noun < n_nouns(&kSvcs[sp->svc]) ? sp->noun : 0;
}

static const char *err_message(int cls, int lang, const span_info *sp,
                               char *buf, size_t cap) {
  const svc_info *peer = sp->peer >= 0 ? &kSvcs[sp->peer] : NULL;
  const char *host = peer ? peer->name : "upstream";
  int port = peer ? peer->port : 443;
  switch (cls) {
  case ERR_TIMEOUT:
    if (lang == LANG_GO)
      snprintf(buf, cap, "context deadline exceeded");
    else if (lang == LANG_JAVA)
      snprintf(buf, cap, "Read timed out");
    else
      snprintf(buf, cap, "request to %s:%d timed out after %d ms", host, port,
               5000);
    break;
  case ERR_UNAVAILABLE:
    if (lang == LANG_GO)
      snprintf(buf, cap,
               "connection error: desc = \"transport: Error while dialing: "
               "dial tcp %s:%d: "
               "connect: connection refused\"",
               host, port);
    else
      snprintf(buf, cap, "connect ECONNREFUSED %s:%d", host, port);
    break;
  case ERR_DB:
    if (sp->db_op == 0 && kSvcs[sp->svc].db == DB_MYSQL)
      snprintf(buf, cap, "Too many connections");
    else if (kSvcs[sp->svc].db == DB_MONGO)
      snprintf(buf, cap, "connection pool for mongo:27017 was cleared");
    else
      snprintf(buf, cap, "ERROR: deadlock detected (SQLSTATE 40P01)");
    break;
  default:
    if (lang == LANG_JAVA)
      snprintf(buf, cap,
               "Cannot invoke \"String.length()\" because \"value\" is null");
    else if (lang == LANG_PYTHON)
      snprintf(buf, cap, "'product_id'");
    else if (lang == LANG_NODE || lang == LANG_PHP)
      snprintf(buf, cap,
               "Cannot read properties of undefined (reading 'price')");
    else
      snprintf(buf, cap, "unexpected nil value for item %llu",
               (unsigned long long)sp->item);
  }
  return buf;
}

/* A multi-line stack trace in the style of the service's language. */
static void stacktrace(oa_trace_gen_state *st, const span_info *sp,
                       const char *type, const char *msg, char *out,
                       size_t cap) {
  const svc_info *sv = &kSvcs[sp->svc];
  int lang = sv->lang;
  char fn[64], cls[64];
  int noun = own_noun(sp);
  camel(sv->nouns[noun], cls, sizeof cls);
  snprintf(fn, sizeof fn, "%s%s", kVerbs[sp->templ], cls);
  int l1 = (int)range(&st->rng, 20, 900), l2 = (int)range(&st->rng, 20, 400);
  switch (lang) {
  case LANG_JAVA:
    snprintf(
        out, cap,
        "%s: %s\n\tat com.example.%s.%sService.%c%s(%sService.java:%d)\n"
        "\tat com.example.%s.%sController.handle(%sController.java:%d)\n"
        "\tat "
        "org.springframework.web.servlet.FrameworkServlet.service("
        "FrameworkServlet.java:885)\n"
        "\tat jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)\n"
        "\tat "
        "org.apache.tomcat.util.threads.TaskThread$WrappingRunnable.run("
        "TaskThread.java:61)\n"
        "\tat java.base/java.lang.Thread.run(Thread.java:1583)\n",
        type, msg, sv->nouns[0], cls, fn[0] + 32, fn + 1, cls, l1, sv->nouns[0],
        cls, cls, l2);
    break;
  case LANG_PYTHON:
    snprintf(
        out, cap,
        "Traceback (most recent call last):\n"
        "  File \"/usr/local/lib/python3.12/site-packages/grpc/_server.py\", "
        "line 555, in "
        "_call_behavior\n    response_or_iterator = behavior(argument, "
        "context)\n"
        "  File \"/app/%s/server.py\", line %d, in %s\n    items = "
        "self.store.%s(request)\n"
        "  File \"/app/%s/store.py\", line %d, in %s\n    return "
        "self.cache[key]\n"
        "%s: %s\n",
        sv->name, l1, fn, sv->nouns[noun], sv->name, l2, sv->nouns[noun], type,
        msg);
    break;
  case LANG_GO:
    snprintf(
        out, cap,
        "goroutine %d [running]:\nmain.(*%sServer).%s(0xc000%06x, {0x1a2b3c0, "
        "0xc0003a1f80})\n"
        "\t/app/src/%s/main.go:%d +0x%x\n"
        "google.golang.org/grpc.(*Server).processUnaryRPC(0xc0001e4000)\n"
        "\t/go/pkg/mod/google.golang.org/grpc@v1.64.0/server.go:1379 +0xdf8\n",
        (int)range(&st->rng, 20, 4000), cls, fn,
        (unsigned)below(&st->rng, 0xffffff), sv->name, l1,
        (unsigned)range(&st->rng, 0x40, 0x4ff));
    break;
  case LANG_NODE:
    snprintf(out, cap,
             "%s: %s\n    at %s (/app/%s/index.js:%d:%d)\n"
             "    at Layer.handle [as handle_request] "
             "(/app/node_modules/express/lib/router/layer.js:95:5)\n"
             "    at process.processTicksAndRejections "
             "(node:internal/process/task_queues:95:5)\n",
             type, msg, fn, sv->name, l1, (int)range(&st->rng, 5, 60));
    break;
  case LANG_DOTNET:
    snprintf(out, cap,
             "%s: %s\n   at %sService.Services.%sService.%s() in "
             "/app/src/%sService.cs:line %d\n"
             "   at "
             "Grpc.AspNetCore.Server.Internal.CallHandlers."
             "UnaryServerCallHandler`3.HandleCallAsyncCore("
             "HttpContext httpContext, HttpContextServerCallContext "
             "serverCallContext)\n",
             type, msg, cls, cls, fn, cls, l1);
    break;
  case LANG_RUBY:
    snprintf(out, cap,
             "/app/%s/app.rb:%d:in `%s': %s (%s)\n"
             "\tfrom "
             "/usr/local/bundle/gems/sinatra-4.0.0/lib/sinatra/base.rb:1764:in "
             "`block in compile!'\n"
             "\tfrom "
             "/usr/local/bundle/gems/sinatra-4.0.0/lib/sinatra/base.rb:1086:in "
             "`route_eval'\n",
             sv->name, l1, sv->nouns[noun], msg, type);
    break;
  default:
    snprintf(
        out, cap,
        "%s: %s\n  at %s (%s/src/main.%s:%d)\n  at main (%s/src/main.%s:%d)\n",
        type, msg, fn, sv->name, kLangs[lang].ext, l1, sv->name,
        kLangs[lang].ext, l2);
  }
}

static void put_event(span_info *sp, int type, int64_t t, int64_t a,
                      int64_t b) {
  if (sp->n_ev >= 6) return;
  if (t < sp->start) t = sp->start;
  if (t > sp->end) t = sp->end;
  sp->ev[sp->n_ev++] = (ev_spec){type, t, a, b};
}

static void write_events(oa_trace_gen_state *st, pbw *w, const span_info *sp) {
  const svc_info *sv = &kSvcs[sp->svc];
  const lang_info *L = &kLangs[sv->lang];
  char buf[512];
  for (int i = 0; i < sp->n_ev; i++) {
    const ev_spec *e = &sp->ev[i];
    int64_t ev = w_begin(w, 11);
    w_fixed64(w, 1, (uint64_t)e->time);
    switch (e->type) {
    case EV_EXCEPTION: {
      const char *type = L->exc[e->a];
      err_message((int)e->a, sv->lang, sp, buf, sizeof buf);
      w_str(w, 2, "exception");
      kv_str(w, 3, "exception.type", type);
      kv_str(w, 3, "exception.message", buf);
      stacktrace(st, sp, type, buf, st->text, sizeof st->text);
      kv_str(w, 3, "exception.stacktrace", st->text);
      if (sv->lang == LANG_JAVA || sv->lang == LANG_PYTHON)
        kv_bool(w, 3, "exception.escaped", e->b != 0);
      break;
    }
    case EV_LOG: {
      static const char *const kLogs[] = {
          "cache miss",         "validated request", "loaded from store",
          "rate limit checked", "computed totals",   "feature flag evaluated"};
      w_str(w, 2, kLogs[e->a % 6]);
      kv_str(w, 3, "log.severity", e->b % 7 == 0 ? "WARN" : "INFO");
      if (e->a % 6 == 0) {
        snprintf(buf, sizeof buf, "%s:%llu", sv->nouns[own_noun(sp)],
                 (unsigned long long)sp->item);
        kv_str(w, 3, "cache.key", buf);
      } else if (e->a % 6 == 4) {
        kv_int(w, 3, "app.items.count", e->b % 12 + 1);
      }
      break;
    }
    case EV_RETRY:
      w_str(w, 2, "retry");
      kv_int(w, 3, "http.request.resend_count", e->a);
      kv_int(w, 3, "retry.delay_ms", e->b);
      break;
    case EV_MSG_SENT:
    case EV_MSG_RECV:
      w_str(w, 2, "message");
      kv_str(w, 3, "message.type",
             e->type == EV_MSG_SENT ? "SENT" : "RECEIVED");
      kv_int(w, 3, "message.id", 1);
      kv_int(w, 3, "message.uncompressed_size", e->a);
      break;
    case EV_FLAG: {
      static const char *const kFlags[] = {
          "new-checkout-flow", "recommendation-cache", "ad-service-failure",
          "product-page-v2"};
      w_str(w, 2, "feature_flag.evaluation");
      kv_str(w, 3, "feature_flag.key", kFlags[e->a % 4]);
      kv_str(w, 3, "feature_flag.provider_name", "flagd");
      kv_str(w, 3, "feature_flag.variant", e->b & 1 ? "on" : "off");
      /* the evaluation context as a key-value list */
      int64_t val, kv = kv_open(w, 3, "feature_flag.context", &val);
      int64_t list = w_begin(w, 6);
      int64_t v1, k1 = kv_open(w, 1, "targetingKey", &v1);
      snprintf(buf, sizeof buf, "u-%05lld", (long long)(e->b >> 1) % 20000);
      w_bytes(w, 1, buf, (int64_t)strlen(buf));
      kv_close(w, k1, v1);
      int64_t v2, k2 = kv_open(w, 1, "tier", &v2);
      w_bytes(w, 1, e->b & 2 ? "gold" : "standard", e->b & 2 ? 4 : 8);
      kv_close(w, k2, v2);
      int64_t v3, k3 = kv_open(w, 1, "beta", &v3);
      w_tag(w, 2, OA_PB_VARINT);
      w_varint(w, (uint64_t)(e->b >> 2 & 1));
      kv_close(w, k3, v3);
      w_end(w, list);
      kv_close(w, kv, val);
      break;
    }
    default:
      w_str(w, 2, "fallback used");
      kv_str(w, 3, "app.fallback.reason", "upstream error");
    }
    w_end(w, ev);
  }
}

static void write_links(pbw *w, const span_info *sp) {
  for (int i = 0; i < sp->n_links; i++) {
    const link_spec *l = &sp->links[i];
    int64_t lk = w_begin(w, 13);
    w_bytes(w, 1, l->trace_id, 16);
    w_bytes(w, 2, l->span_id, 8);
    if (l->has_state) w_str(w, 3, "ot=th:0;rv:8b3c1a2f9d4e07");
    if (l->batch) {
      char buf[48];
      snprintf(buf, sizeof buf, "%016llx", (unsigned long long)l->msg_id);
      kv_str(w, 4, "messaging.message.id", buf);
    }
    w_fixed32(w, 6, 0x301);
    w_end(w, lk);
  }
}

static void http_server_attrs(pbw *w, const span_info *sp, const char *route,
                              const char *path, const trace_ctx *t,
                              uint64_t *rng) {
  const svc_info *sv = &kSvcs[sp->svc];
  const lang_info *L = &kLangs[sv->lang];
  const char *method = kMethods[sp->templ];
  bool front = sp->svc == 0;
  char ip[32];
  if (front)
    snprintf(ip, sizeof ip, "%d.%d.%d.%d", (int)range(rng, 24, 220),
             (int)below(rng, 256), (int)below(rng, 256),
             (int)range(rng, 1, 254));
  else
    pod_ip(0, (int)below(rng, 3), ip, sizeof ip);
  if (L->old_semconv) {
    kv_str(w, 9, "http.method", method);
    kv_str(w, 9, "http.scheme", "http");
    kv_str(w, 9, "http.target", path);
    kv_str(w, 9, "http.route", route);
    kv_str(w, 9, "http.flavor", "1.1");
    kv_str(w, 9, "net.host.name", sv->name);
    kv_int(w, 9, "net.host.port", sv->port);
    kv_str(w, 9, "net.sock.peer.addr", ip);
    kv_int(w, 9, "http.status_code", sp->http_status);
  } else {
    kv_str(w, 9, "http.request.method", method);
    kv_str(w, 9, "url.scheme", front ? "https" : "http");
    kv_str(w, 9, "url.path", path);
    if (sp->templ == 0 && (sp->item & 3) == 0)
      kv_str(w, 9, "url.query", "page=2&limit=24");
    kv_str(w, 9, "http.route", route);
    kv_str(w, 9, "server.address", front ? "shop.example.com" : sv->name);
    kv_int(w, 9, "server.port", front ? 443 : sv->port);
    kv_str(w, 9, "network.protocol.version", front ? "2" : "1.1");
    kv_str(w, 9, "client.address", ip);
    kv_int(w, 9, "http.response.status_code", sp->http_status);
    if (sp->http_status >= 500)
      kv_str(w, 9, "error.type", sp->http_status == 504 ? "timeout" : "500");
  }
  if (front) {
    kv_str(w, 9, "user_agent.original", kUserAgents[sp->item % 8]);
    if (sp->item % 3 == 0) {
      static const char *const kJson[] = {"application/json"};
      static const char *const kHtml[] = {"text/html", "application/xhtml+xml",
                                          "application/xml;q=0.9", "*/*;q=0.8"};
      if (sp->item % 2)
        kv_str_array(w, 9, "http.request.header.accept", kJson, 1);
      else
        kv_str_array(w, 9, "http.request.header.accept", kHtml, 4);
    }
    if (t->user >= 0) {
      char u[32];
      snprintf(u, sizeof u, "u-%05lld", (long long)t->user);
      kv_str(w, 9, "enduser.id", u);
    }
    char sid[40];
    snprintf(
        sid, sizeof sid, "%016llx",
        (unsigned long long)mix64((uint64_t)t->user * 977 + t->trace_id[3]));
    kv_str(w, 9, "session.id", sid);
  }
  if (sp->templ >= 2)
    kv_int(w, 9, "http.request.body.size", (int64_t)(sp->item % 1800) + 40);
}

static void write_attrs(oa_trace_gen_state *st, pbw *w, const span_info *sp,
                        const trace_ctx *t) {
  const svc_info *sv = &kSvcs[sp->svc];
  const lang_info *L = &kLangs[sv->lang];
  uint64_t *rng = &st->rng;
  char buf[512], path[160], route[160], plur[64];
  switch (sp->cat) {
  case CAT_HTTP_SERVER: {
    plural(sv->nouns[sp->noun], plur, sizeof plur);
    const char *pre = sp->svc == 0 ? "/api" : "/v1";
    const char *id = sp->templ == 0 || sp->templ == 2 ? "" : "/{id}";
    snprintf(route, sizeof route, "%s/%s%s", pre, plur, id);
    if (*id)
      snprintf(path, sizeof path, "%s/%s/%llu", pre, plur,
               (unsigned long long)sp->item);
    else
      snprintf(path, sizeof path, "%s/%s", pre, plur);
    http_server_attrs(w, sp, route, path, t, rng);
    break;
  }
  case CAT_HTTP_CLIENT:
  case CAT_EXTERNAL: {
    const char *method = kMethods[sp->templ];
    if (sp->cat == CAT_EXTERNAL) {
      snprintf(buf, sizeof buf, "https://%s/v1/%s/%016llx", sv->external,
               sv->nouns[sp->noun], (unsigned long long)mix64(sp->item));
    } else {
      const svc_info *p = &kSvcs[sp->peer];
      plural(p->nouns[sp->noun], plur, sizeof plur);
      if (sp->templ == 0 || sp->templ == 2)
        snprintf(buf, sizeof buf, "http://%s:%d/v1/%s", p->name, p->port, plur);
      else
        snprintf(buf, sizeof buf, "http://%s:%d/v1/%s/%llu", p->name, p->port,
                 plur, (unsigned long long)sp->item);
    }
    const char *host =
        sp->cat == CAT_EXTERNAL ? sv->external : kSvcs[sp->peer].name;
    int port = sp->cat == CAT_EXTERNAL ? 443 : kSvcs[sp->peer].port;
    if (L->old_semconv) {
      kv_str(w, 9, "http.method", method);
      kv_str(w, 9, "http.url", buf);
      kv_str(w, 9, "net.peer.name", host);
      kv_int(w, 9, "net.peer.port", port);
      if (sp->http_status) kv_int(w, 9, "http.status_code", sp->http_status);
    } else {
      kv_str(w, 9, "http.request.method", method);
      kv_str(w, 9, "url.full", buf);
      kv_str(w, 9, "server.address", host);
      kv_int(w, 9, "server.port", port);
      if (sp->cat != CAT_EXTERNAL) {
        pod_ip(sp->peer, sp->peer_replica, buf, sizeof buf);
        kv_str(w, 9, "network.peer.address", buf);
      }
      if (sp->http_status)
        kv_int(w, 9, "http.response.status_code", sp->http_status);
      if (sp->retries) kv_int(w, 9, "http.request.resend_count", sp->retries);
      if (sp->err >= 0)
        kv_str(w, 9, "error.type",
               sp->http_status ? (sp->http_status >= 500 ? "500" : "400")
                               : "timeout");
    }
    break;
  }
  case CAT_RPC_SERVER:
  case CAT_RPC_CLIENT: {
    const svc_info *p = sp->cat == CAT_RPC_SERVER ? sv : &kSvcs[sp->peer];
    char cls[64];
    camel(p->nouns[sp->noun], cls, sizeof cls);
    snprintf(buf, sizeof buf, "%s%s%s", kVerbs[sp->templ], cls,
             sp->templ == 0 ? "s" : "");
    kv_str(w, 9, "rpc.system", "grpc");
    kv_str(w, 9, "rpc.service", p->grpc_service);
    kv_str(w, 9, "rpc.method", buf);
    kv_int(w, 9, "rpc.grpc.status_code", sp->grpc_code);
    if (sp->cat == CAT_RPC_CLIENT) {
      if (L->old_semconv) {
        kv_str(w, 9, "net.peer.name", p->name);
        kv_int(w, 9, "net.peer.port", p->port);
      } else {
        kv_str(w, 9, "server.address", p->name);
        kv_int(w, 9, "server.port", p->port);
      }
    } else {
      pod_ip((int)(sp->item % 3 == 0 ? 0 : 3), 0, buf, sizeof buf);
      kv_str(w, 9,
             L->old_semconv ? "net.sock.peer.addr" : "network.peer.address",
             buf);
      kv_int(w, 9, L->old_semconv ? "net.sock.peer.port" : "network.peer.port",
             (int64_t)(sp->item % 28000) + 32768);
    }
    break;
  }
  case CAT_DB: {
    char db[64];
    db_name(sv, db, sizeof db);
    plural(sv->nouns[sp->noun], plur, sizeof plur);
    static const char *const kOps[] = {"SELECT", "INSERT", "UPDATE", "DELETE"};
    kv_str(w, 9, "db.system", kDbSystem[sv->db]);
    kv_str(w, 9, "db.name", db);
    const char *ph1 = sv->db == DB_MYSQL ? "?" : "$1",
               *ph2 = sv->db == DB_MYSQL ? "?" : "$2";
    if (sv->db == DB_MONGO) {
      static const char *const kMongo[] = {"find", "insert", "update",
                                           "delete"};
      snprintf(buf, sizeof buf,
               "{\"%s\":\"%s\",\"filter\":{\"product_id\":\"?\"},\"limit\":%d}",
               kMongo[sp->db_op], plur, sp->db_op ? 1 : 20);
      kv_str(w, 9, "db.statement", buf);
      kv_str(w, 9, "db.operation", kMongo[sp->db_op]);
      kv_str(w, 9, "db.mongodb.collection", plur);
    } else if (sv->db == DB_ES) {
      snprintf(buf, sizeof buf,
               "{\"query\":{\"bool\":{\"must\":[{\"match\":{\"name\":\"?\"}}],"
               "\"filter\":[{\"term\":"
               "{\"in_stock\":true}}]}},\"size\":%d}",
               (int)(sp->item % 4 + 1) * 10);
      kv_str(w, 9, "db.statement", buf);
      kv_str(w, 9, "db.operation", sp->db_op ? "index" : "search");
      snprintf(buf, sizeof buf, "http://elasticsearch:9200/%s/_search", plur);
      kv_str(w, 9, "url.full", buf);
    } else {
      switch (sp->db_op) {
      case 0:
        if (sp->templ == 0)
          snprintf(buf, sizeof buf,
                   "SELECT id, name, description, price_cents, updated_at FROM "
                   "%s ORDER BY "
                   "updated_at DESC LIMIT %s OFFSET %s",
                   plur, ph1, ph2);
        else
          snprintf(buf, sizeof buf,
                   "SELECT id, name, description, price_cents, updated_at FROM "
                   "%s WHERE id = %s",
                   plur, ph1);
        break;
      case 1:
        snprintf(buf, sizeof buf,
                 "INSERT INTO %s (id, data, created_at) VALUES (%s, %s, now())",
                 plur, ph1, ph2);
        break;
      case 2:
        snprintf(buf, sizeof buf,
                 "UPDATE %s SET data = %s, updated_at = now() WHERE id = %s",
                 plur, ph2, ph1);
        break;
      default:
        snprintf(buf, sizeof buf, "DELETE FROM %s WHERE id = %s", plur, ph1);
      }
      kv_str(w, 9, "db.statement", buf);
      kv_str(w, 9, "db.operation", kOps[sp->db_op]);
      kv_str(w, 9, "db.sql.table", plur);
      if (sp->item % 10 < 3) kv_str(w, 9, "db.user", "app");
    }
    const char *host = kDbSystem[sv->db];
    if (L->old_semconv) {
      kv_str(w, 9, "net.peer.name", host);
      kv_int(w, 9, "net.peer.port", kDbPort[sv->db]);
    } else {
      kv_str(w, 9, "server.address", host);
      kv_int(w, 9, "server.port", kDbPort[sv->db]);
    }
    break;
  }
  case CAT_CACHE: {
    static const char *const kRedis[] = {"HGETALL", "HSET", "EXPIRE",
                                         "GET",     "SET",  "DEL"};
    const char *op = kRedis[sp->db_op];
    if (sp->db_op == 1)
      snprintf(buf, sizeof buf, "HSET %s:%llu data ? updated_at ?",
               sv->nouns[sp->noun], (unsigned long long)sp->item);
    else if (sp->db_op == 2)
      snprintf(buf, sizeof buf, "EXPIRE %s:%llu 3600", sv->nouns[sp->noun],
               (unsigned long long)sp->item);
    else
      snprintf(buf, sizeof buf, "%s %s:%llu", op, sv->nouns[sp->noun],
               (unsigned long long)sp->item);
    kv_str(w, 9, "db.system", "redis");
    kv_str(w, 9, "db.statement", buf);
    kv_str(w, 9, "db.operation", op);
    kv_int(w, 9, "db.redis.database_index", 0);
    kv_str(w, 9, L->old_semconv ? "net.peer.name" : "server.address", "redis");
    kv_int(w, 9, L->old_semconv ? "net.peer.port" : "server.port", 6379);
    break;
  }
  case CAT_PRODUCER:
  case CAT_CONSUMER: {
    const char *q =
        kQueues[sp->cat == CAT_PRODUCER ? sv->produces : sv->consumes];
    bool prod = sp->cat == CAT_PRODUCER;
    kv_str(w, 9, "messaging.system", "kafka");
    kv_str(w, 9, "messaging.destination.name", q);
    kv_str(w, 9, "messaging.operation", prod ? "publish" : "process");
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)sp->msg_id);
    kv_str(w, 9, "messaging.message.id", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)sp->item);
    kv_str(w, 9, "messaging.kafka.message.key", buf);
    kv_int(w, 9, "messaging.kafka.destination.partition", sp->partition);
    if (prod) {
      snprintf(buf, sizeof buf, "%s-%d", sv->name, (int)(sp->item % 4));
      kv_str(w, 9, "messaging.client_id", buf);
      kv_str(w, 9, L->old_semconv ? "net.peer.name" : "server.address",
             "kafka");
      kv_int(w, 9, L->old_semconv ? "net.peer.port" : "server.port", 9092);
    } else {
      kv_str(w, 9, "messaging.kafka.consumer.group", sv->name);
      kv_int(w, 9, "messaging.kafka.message.offset", sp->offset);
      kv_int(w, 9, "messaging.message.body.size",
             (int64_t)(sp->item % 2000) + 120);
    }
    break;
  }
  default: { /* INTERNAL: the application's own attributes */
    char cls[64];
    camel(sv->nouns[sp->noun], cls, sizeof cls);
    snprintf(buf, sizeof buf, "app.%s.id", sv->nouns[sp->noun]);
    char id[32];
    snprintf(id, sizeof id, "%llu", (unsigned long long)sp->item);
    kv_str(w, 9, buf, id);
    switch (sp->item % 5) {
    case 0:
      kv_int(w, 9, "app.items.count", (int64_t)(sp->item % 17) + 1);
      break;
    case 1:
      kv_double(w, 9, "app.amount", (double)(sp->item % 50000 + 99) / 100.0);
      kv_str(w, 9, "app.currency", sp->item & 8 ? "EUR" : "USD");
      break;
    case 2: {
      kv_bool(w, 9, "app.cache.hit", (sp->item & 16) != 0);
      break;
    }
    case 3: {
      char ids[4][16];
      const char *v[4];
      int n = (int)(sp->item % 4) + 1;
      for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "P%06llu",
                 (unsigned long long)(mix64(sp->item + (uint64_t)i) % 5000));
        v[i] = ids[i];
      }
      kv_str_array(w, 9, "app.product.ids", v, n);
      break;
    }
    default:
      if (sp->svc == 5 || sp->item % 3 == 0) {
        uint8_t digest[16];
        uint64_t h = mix64(sp->item);
        for (int i = 0; i < 16; i++)
          digest[i] = (uint8_t)(mix64(h + (uint64_t)i));
        kv_bytesv(w, 9,
                  sp->svc == 5 ? "app.payment.token_hash"
                               : "app.request.digest",
                  digest, 16);
      } else {
        kv_double(w, 9, "app.score", (double)(sp->item % 1000) / 1024.0);
      }
    }
    if (sv->lang == LANG_JAVA || sv->lang == LANG_PYTHON ||
        sv->lang == LANG_DOTNET) {
      snprintf(buf, sizeof buf, "%s%s", kVerbs[sp->templ], cls);
      kv_str(w, 9, "code.function", buf);
      snprintf(buf, sizeof buf, "com.example.%s.%sService", sv->nouns[0], cls);
      kv_str(w, 9, "code.namespace", buf);
      kv_int(w, 9, "code.lineno", (int64_t)(sp->item % 700) + 12);
    }
  }
  }
  if (L->thread_attrs) {
    int64_t tid = (int64_t)(sp->item % 48) + 30;
    kv_int(w, 9, "thread.id", tid);
    snprintf(buf, sizeof buf, "http-nio-%d-exec-%lld",
             sv->port ? sv->port : 8080, (long long)tid - 29);
    kv_str(w, 9, "thread.name", buf);
  }
}

/* Encodes a finished span into the trace buffer. */
static int emit_span(oa_trace_gen_state *st, trace_ctx *t, span_info *sp) {
  span_list *l = &st->tspans;
  if (l->n == l->cap) {
    int64_t cap = l->cap ? l->cap * 2 : 256;
    span_rec *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) return ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  const svc_info *sv = &kSvcs[sp->svc];
  const lang_info *L = &kLangs[sv->lang];
  pbw w = {&st->tpb, 0};
  int64_t off = st->tpb.size;
  w_bytes(&w, 1, t->trace_id, 16);
  w_bytes(&w, 2, sp->span_id, 8);
  w_str(&w, 3, t->trace_state);
  if (sp->parent) w_bytes(&w, 4, sp->parent, 8);
  w_str(&w, 5, sp->name);
  w_uint(&w, 6, (uint64_t)sp->kind);
  w_fixed64(&w, 7, (uint64_t)sp->start);
  w_fixed64(&w, 8, (uint64_t)sp->end);
  write_attrs(st, &w, sp, t);
  /* SDK attribute limits hit now and then */
  if (sp->item % 293 == 7) w_uint(&w, 10, 1 + sp->item % 4);
  write_events(st, &w, sp);
  if (sp->item % 997 == 3) w_uint(&w, 12, 2);
  write_links(&w, sp);
  if (sp->status || sp->status_msg[0]) {
    int64_t s = w_begin(&w, 15);
    w_str(&w, 2, sp->status_msg);
    w_uint(&w, 3, (uint64_t)sp->status);
    w_end(&w, s);
  }
  uint32_t flags = 0x01;
  if (L->remote_flags) flags |= 0x100 | (sp->remote ? 0x200 : 0);
  w_fixed32(&w, 16, flags);
  if (w.rc) return w.rc;
  l->v[l->n++] = (span_rec){sp->svc * MAX_REPLICAS + sp->replica,
                            scope_of(sp->cat), off, st->tpb.size - off};
  t->n_spans++;
  return 0;
}

static void init_span(oa_trace_gen_state *st, span_info *sp, int cat, int svc,
                      int replica, const uint8_t *parent, bool remote,
                      int64_t s, int64_t e, int depth) {
  memset(sp, 0, sizeof *sp);
  sp->cat = cat;
  sp->svc = svc;
  sp->replica = replica;
  sp->parent = parent;
  sp->remote = remote;
  sp->start = s;
  sp->end = e >= s ? e : s;
  sp->depth = depth;
  sp->peer = -1;
  sp->err = -1;
  sp->item = (uint64_t)below(&st->rng, 5000) + 1;
  new_span_id(st, sp->span_id);
}

static int pick_templ(oa_trace_gen_state *st) {
  int64_t r = below(&st->rng, 100);
  for (int i = 0; i < N_TEMPL; i++) {
    if (r < kTemplWeight[i]) return i;
    r -= kTemplWeight[i];
  }
  return 0;
}

/* A skewed pick: low indices are more popular (routes follow a power law). */
static int pick_skewed(oa_trace_gen_state *st, int n) {
  int64_t a = below(&st->rng, n), b = below(&st->rng, n);
  return (int)(a < b ? a : b);
}

static int pick_replica(oa_trace_gen_state *st, int svc) {
  return (int)below(&st->rng, kSvcs[svc].replicas);
}

typedef struct gen_ctx {
  oa_trace_gen_state *st;
  trace_ctx *t;
  int n_svcs;
} gen_ctx;

static int handle(gen_ctx *c, int cat, int svc, int replica, int templ,
                  int noun, const uint8_t *parent, bool remote, int64_t s,
                  int64_t e, int depth, const span_info *producer,
                  outcome *out);

/* Slot sizes: the children of a span share its window; each gets a weight. */
typedef struct action {
  int type; /* A_* */
  int svc;  /* callee */
  int n;    /* parallel copies */
  int weight;
} action;
enum { A_INTERNAL, A_DB, A_CACHE, A_CALL, A_EXTERNAL, A_PUBLISH };

static bool is_callable(int svc, int n_svcs) {
  return svc >= 0 && svc < n_svcs && kSvcs[svc].proto != P_QUEUE;
}

static int plan(gen_ctx *c, int svc, int templ, int noun, int depth,
                action *acts, int max) {
  oa_trace_gen_state *st = c->st;
  const svc_info *sv = &kSvcs[svc];
  uint64_t h =
      mix64((uint64_t)svc * 1000 + (uint64_t)templ * 10 + (uint64_t)noun);
  int n = 0;
  bool deep = depth + 1 <= c->t->max_depth,
       deeper = depth + 2 <= c->t->max_depth;
  if (!deep) return 0;
  if (sv->cache && n < max && (templ <= 1 || chance(&st->rng, 500)))
    acts[n++] = (action){A_CACHE, svc, 1, 1};
  int n_int = (int)(h % 3) + (chance(&st->rng, 300) ? 1 : 0) - 1;
  for (int i = 0; i < n_int && n < max; i++)
    acts[n++] = (action){A_INTERNAL, svc, 1, 3};
  if (sv->db != DB_NONE) {
    int n_db = (int)(h >> 8) % 3 + 1 +
               (chance(&st->rng, 150) ? (int)below(&st->rng, 4) : 0);
    for (int i = 0; i < n_db && n < max; i++)
      acts[n++] = (action){A_DB, svc, 1, 2};
  }
  if (deeper) {
    int k = 0;
    for (int i = 0; sv->callees[i] >= 0 && n < max; i++) {
      int cs = sv->callees[i];
      if (!is_callable(cs, c->n_svcs)) continue;
      /* the route decides which services it needs, traffic varies a bit */
      bool needed =
          (h >> (16 + i)) % 3 == 0 || (svc == 0 && (h >> (40 + i)) % 5 == 0);
      if (!needed && !chance(&st->rng, 40)) continue;
      int copies = 1;
      if (templ == 0 && k == 0 && (h >> 50) % 3 == 0)
        copies = (int)range(&st->rng, 2, 10);
      acts[n++] = (action){A_CALL, cs, copies, 6};
      k++;
    }
    if (svc == 0 && k == 0) {
      for (int i = 0; sv->callees[i] >= 0; i++) {
        int cs = sv->callees[(h + (uint64_t)i) % 10];
        if (cs >= 0 && is_callable(cs, c->n_svcs)) {
          acts[n++] = (action){A_CALL, cs, 1, 6};
          break;
        }
      }
    }
  }
  if (sv->external && n < max && (templ == 2 || chance(&st->rng, 100)))
    acts[n++] = (action){A_EXTERNAL, svc, 1, 5};
  if (sv->produces >= 0 && n < max &&
      (templ >= 2 || svc == 7 || chance(&st->rng, 50)))
    acts[n++] = (action){A_PUBLISH, svc, 1, 1};
  /* a little shuffling: cache and auth first, the rest in route order */
  return n;
}

static void set_error_status(span_info *sp, int cls) {
  sp->status = 2;
  sp->err = cls;
}

static int do_leaf(gen_ctx *c, int cat, int svc, int replica,
                   const uint8_t *parent, int64_t s, int64_t e, int depth,
                   int templ, int noun, int db_op, outcome *o) {
  oa_trace_gen_state *st = c->st;
  span_info sp;
  init_span(st, &sp, cat, svc, replica, parent, false, s, e, depth);
  sp.kind = cat == CAT_INTERNAL ? 1 : 3;
  sp.templ = templ;
  sp.noun = noun;
  sp.db_op = db_op;
  const svc_info *sv = &kSvcs[svc];
  char plur[64], db[64];
  plural(sv->nouns[noun], plur, sizeof plur);
  o->err = -1;
  if (cat == CAT_DB) {
    db_name(sv, db, sizeof db);
    static const char *const kOps[] = {"SELECT", "INSERT", "UPDATE", "DELETE"};
    static const char *const kMongo[] = {"find", "insert", "update", "delete"};
    if (sv->db == DB_MONGO)
      snprintf(sp.name, sizeof sp.name, "%s %s", kMongo[db_op], plur);
    else if (sv->db == DB_ES)
      snprintf(sp.name, sizeof sp.name, "%s %s", db_op ? "index" : "search",
               plur);
    else
      snprintf(sp.name, sizeof sp.name, "%s %s.%s", kOps[db_op], db, plur);
    if (chance(&st->rng, 6)) {
      set_error_status(&sp, ERR_DB);
      err_message(ERR_DB, sv->lang, &sp, sp.status_msg, sizeof sp.status_msg);
      if (chance(&st->rng, 600))
        put_event(&sp, EV_EXCEPTION, sp.end - 1000, ERR_DB, 1);
      o->err = ERR_DB;
    }
  } else if (cat == CAT_CACHE) {
    static const char *const kRedis[] = {"HGETALL", "HSET", "EXPIRE",
                                         "GET",     "SET",  "DEL"};
    snprintf(sp.name, sizeof sp.name, "%s", kRedis[db_op]);
    if (chance(&st->rng, 2)) {
      set_error_status(&sp, ERR_TIMEOUT);
      snprintf(sp.status_msg, sizeof sp.status_msg,
               "redis: connection pool timeout");
      o->err = ERR_TIMEOUT;
    }
  } else if (cat == CAT_EXTERNAL) {
    snprintf(sp.name, sizeof sp.name, "%s", kMethods[templ]);
    sp.http_status = templ == 2 ? 201 : 200;
    if (chance(&st->rng, 15)) {
      sp.retries = 1;
      put_event(&sp, EV_RETRY, s + (e - s) / 3, 1, 100);
    }
    if (chance(&st->rng, 10)) {
      sp.http_status = chance(&st->rng, 500) ? 503 : 429;
      set_error_status(&sp, ERR_UNAVAILABLE);
      o->err = ERR_UNAVAILABLE;
    }
  } else { /* INTERNAL */
    static const char *const kWork[] = {"validate", "load",      "compute",
                                        "render",   "authorize", "serialize"};
    snprintf(sp.name, sizeof sp.name, "%s %s",
             kWork[(templ * 3 + noun + db_op) % 6], sv->nouns[noun]);
    if (chance(&st->rng, 150))
      put_event(&sp, EV_LOG, s + (e - s) / 2, (int64_t)below(&st->rng, 6),
                (int64_t)below(&st->rng, 1000));
    if (chance(&st->rng, 4)) {
      set_error_status(&sp, ERR_INTERNAL);
      err_message(ERR_INTERNAL, sv->lang, &sp, sp.status_msg,
                  sizeof sp.status_msg);
      put_event(&sp, EV_EXCEPTION, sp.end - 500, ERR_INTERNAL, 1);
      o->err = ERR_INTERNAL;
    } else if ((sv->lang == LANG_JAVA || sv->lang == LANG_DOTNET) &&
               chance(&st->rng, 300)) {
      sp.status = 1;
    }
  }
  return emit_span(st, c->t, &sp);
}

/* A call from svc to callee: a CLIENT span here and a SERVER span there. */
static int do_call(gen_ctx *c, int svc, int replica, const uint8_t *parent,
                   int64_t s, int64_t e, int depth, int callee, outcome *o) {
  oa_trace_gen_state *st = c->st;
  const svc_info *cv = &kSvcs[callee];
  bool grpc = cv->proto == P_GRPC;
  span_info sp;
  init_span(st, &sp, grpc ? CAT_RPC_CLIENT : CAT_HTTP_CLIENT, svc, replica,
            parent, false, s, e, depth);
  sp.kind = 3;
  sp.peer = callee;
  sp.peer_replica = pick_replica(st, callee);
  sp.templ = pick_templ(st);
  sp.noun = pick_skewed(st, n_nouns(cv));
  char cls[64];
  camel(cv->nouns[sp.noun], cls, sizeof cls);
  if (grpc)
    snprintf(sp.name, sizeof sp.name, "%s/%s%s%s", cv->grpc_service,
             kVerbs[sp.templ], cls, sp.templ == 0 ? "s" : "");
  else
    snprintf(sp.name, sizeof sp.name, "%s", kMethods[sp.templ]);
  outcome so = {-1, 0, 0};
  c->t->budget--; /* the server span */
  int64_t dur = sp.end - sp.start;
  int64_t lat =
      dur / 20 < 400000 ? dur / 20 : (int64_t)range(&st->rng, 150000, 400000);
  bool refused = chance(&st->rng, 3);
  if (refused) {
    /* the callee never saw the request: no server span */
    c->t->budget++;
    if (sp.start + lat + 1000 < sp.end) sp.end = sp.start + lat + 1000;
    so.err = ERR_UNAVAILABLE;
    so.grpc_code = 14;
  } else {
    OA_RETURN_NOT_OK(handle(c, grpc ? CAT_RPC_SERVER : CAT_HTTP_SERVER, callee,
                            sp.peer_replica, sp.templ, sp.noun, sp.span_id,
                            true, sp.start + lat, sp.end - lat, depth + 1, NULL,
                            &so));
  }
  sp.http_status = so.http_status;
  sp.grpc_code = so.grpc_code;
  o->err = -1;
  if (grpc && so.grpc_code != 0) {
    set_error_status(&sp, so.err >= 0 ? so.err : ERR_INTERNAL);
    static const char *const kCode[] = {"OK",
                                        "Canceled",
                                        "Unknown",
                                        "InvalidArgument",
                                        "DeadlineExceeded",
                                        "NotFound",
                                        "AlreadyExists",
                                        "PermissionDenied",
                                        "ResourceExhausted",
                                        "FailedPrecondition",
                                        "Aborted",
                                        "OutOfRange",
                                        "Unimplemented",
                                        "Internal",
                                        "Unavailable",
                                        "DataLoss",
                                        "Unauthenticated"};
    char msg[200];
    if (so.grpc_code == 5)
      snprintf(msg, sizeof msg, "%s %llu not found", cv->nouns[sp.noun],
               (unsigned long long)sp.item);
    else
      err_message(sp.err, kSvcs[svc].lang, &sp, msg, sizeof msg);
    snprintf(sp.status_msg, sizeof sp.status_msg,
             "rpc error: code = %s desc = %s", kCode[so.grpc_code % 17], msg);
    o->err = so.grpc_code == 5 ? -1 : sp.err;
    o->grpc_code = so.grpc_code;
  } else if (!grpc && (so.http_status >= 400 || refused)) {
    set_error_status(&sp, so.err >= 0 ? so.err : ERR_INTERNAL);
    if (refused)
      err_message(ERR_UNAVAILABLE, kSvcs[svc].lang, &sp, sp.status_msg,
                  sizeof sp.status_msg);
    o->err = so.http_status >= 500 || refused ? sp.err : -1;
  }
  if (kLangs[kSvcs[svc].lang].msg_events && grpc && !refused) {
    put_event(&sp, EV_MSG_SENT, sp.start + lat / 2,
              (int64_t)(sp.item % 300) + 20, 0);
    put_event(&sp, EV_MSG_RECV, sp.end - lat / 2,
              (int64_t)(sp.item % 4000) + 50, 0);
  }
  if (refused && chance(&st->rng, 300))
    put_event(&sp, EV_EXCEPTION, sp.end, ERR_UNAVAILABLE, 0);
  return emit_span(st, c->t, &sp);
}

/* PRODUCER span here, and a CONSUMER span at each consumer of the queue. */
static int do_publish(gen_ctx *c, int svc, int replica, const uint8_t *parent,
                      int64_t s, int64_t e, int depth) {
  oa_trace_gen_state *st = c->st;
  const svc_info *sv = &kSvcs[svc];
  span_info sp;
  init_span(st, &sp, CAT_PRODUCER, svc, replica, parent, false, s, e, depth);
  sp.kind = 4;
  sp.msg_id = r64(&st->rng);
  sp.partition = below(&st->rng, 12);
  snprintf(sp.name, sizeof sp.name, "publish %s", kQueues[sv->produces]);
  prod_ctx pc;
  memcpy(pc.trace_id, c->t->trace_id, 16);
  memcpy(pc.span_id, sp.span_id, 8);
  pc.msg_id = sp.msg_id;
  pc.has_state = c->t->trace_state[0] != 0;
  if (depth + 1 <= c->t->max_depth) {
    for (int k = 0; k < c->n_svcs; k++) {
      if (kSvcs[k].consumes != sv->produces || c->t->budget < 1) continue;
      c->t->budget--;
      /* consumed asynchronously: it may start after the producer ended */
      int64_t cs = s + range(&st->rng, 200000, 30000000);
      int64_t ce = cs + range(&st->rng, 2000000, 40000000);
      outcome co;
      OA_RETURN_NOT_OK(handle(c, CAT_CONSUMER, k, pick_replica(st, k), 2, 0,
                              sp.span_id, true, cs, ce, depth + 1, &sp, &co));
    }
  }
  OA_RETURN_NOT_OK(emit_span(st, c->t, &sp));
  st->ring[st->ring_pos] = pc;
  st->ring_pos = (st->ring_pos + 1) % 8;
  if (st->n_ring < 8) st->n_ring++;
  return 0;
}

static int handle(gen_ctx *c, int cat, int svc, int replica, int templ,
                  int noun, const uint8_t *parent, bool remote, int64_t s,
                  int64_t e, int depth, const span_info *producer,
                  outcome *out) {
  oa_trace_gen_state *st = c->st;
  trace_ctx *t = c->t;
  const svc_info *sv = &kSvcs[svc];
  span_info sp;
  init_span(st, &sp, cat, svc, replica, parent, remote, s, e, depth);
  sp.templ = templ;
  sp.noun = noun;
  sp.kind = cat == CAT_CONSUMER ? 5 : 2;
  char cls[64], plur[64];
  camel(sv->nouns[noun], cls, sizeof cls);
  plural(sv->nouns[noun], plur, sizeof plur);
  if (cat == CAT_HTTP_SERVER)
    snprintf(sp.name, sizeof sp.name, "%s %s/%s%s", kMethods[templ],
             svc == 0 ? "/api" : "/v1", plur,
             templ == 0 || templ == 2 ? "" : "/{id}");
  else if (cat == CAT_RPC_SERVER)
    snprintf(sp.name, sizeof sp.name, "%s/%s%s%s", sv->grpc_service,
             kVerbs[templ], cls, templ == 0 ? "s" : "");
  else
    snprintf(sp.name, sizeof sp.name, "process %s", kQueues[sv->consumes]);
  if (producer) {
    sp.msg_id = producer->msg_id;
    sp.partition = producer->partition;
    sp.offset = (int64_t)(mix64(producer->msg_id) % 9000000) + 100000;
    link_spec *l = &sp.links[sp.n_links++];
    memcpy(l->trace_id, t->trace_id, 16);
    memcpy(l->span_id, producer->span_id, 8);
    l->has_state = t->trace_state[0] != 0;
    /* batch consumers also link to messages of earlier traces */
    if (st->n_ring > 0 && chance(&st->rng, 150)) {
      int n = (int)range(&st->rng, 1, st->n_ring < 3 ? st->n_ring : 3);
      for (int i = 0; i < n; i++) {
        const prod_ctx *p = &st->ring[(st->ring_pos + 7 - i) % 8];
        link_spec *b = &sp.links[sp.n_links++];
        memcpy(b->trace_id, p->trace_id, 16);
        memcpy(b->span_id, p->span_id, 8);
        b->msg_id = p->msg_id;
        b->batch = true;
        b->has_state = p->has_state;
      }
    }
  }

  action acts[24];
  int n = plan(c, svc, templ, noun, depth, acts, 24);
  int64_t W = sp.end - sp.start;
  int64_t pre = W * range(&st->rng, 2, 10) / 100,
          post = W * range(&st->rng, 1, 5) / 100;
  int64_t avail = W - pre - post, total_w = 0;
  for (int i = 0; i < n; i++)
    total_w += acts[i].weight;
  int64_t cursor = sp.start + pre;
  int child_err = -1, db_err = 0;
  for (int i = 0; i < n; i++) {
    action *a = &acts[i];
    int64_t slot = total_w ? avail * a->weight / total_w : 0;
    int64_t gap = slot / 20;
    int64_t cs = cursor + gap, ce = cursor + slot - gap;
    cursor += slot;
    if (ce <= cs) continue;
    for (int k = 0; k < a->n; k++) {
      if (t->budget < 1) break;
      int64_t ks = cs, ke = ce;
      if (a->n > 1) { /* parallel copies of one call */
        ks = cs + (ce - cs) * (int64_t)below(&st->rng, 10) / 100;
        ke = ks + (ce - ks) * range(&st->rng, 60, 100) / 100;
      }
      outcome o = {-1, 0, 0};
      t->budget--;
      switch (a->type) {
      case A_CACHE:
        OA_RETURN_NOT_OK(do_leaf(c, CAT_CACHE, svc, replica, sp.span_id, ks,
                                 ks + (ke - ks) / 4, depth + 1, templ, noun,
                                 templ <= 1 ? 0 : 1, &o));
        if (templ <= 1 && t->budget >= 1 && chance(&st->rng, 300)) {
          /* miss: fill the cache */
          t->budget--;
          put_event(&sp, EV_LOG, ks + (ke - ks) / 4, 0, 1);
          OA_RETURN_NOT_OK(do_leaf(c, CAT_CACHE, svc, replica, sp.span_id,
                                   ks + (ke - ks) / 2, ke, depth + 1, templ,
                                   noun, 1, &o));
        }
        break;
      case A_DB: {
        int op = templ <= 1 ? 0 : templ - 1;
        if (op && chance(&st->rng, 400)) op = 0;
        OA_RETURN_NOT_OK(do_leaf(c, CAT_DB, svc, replica, sp.span_id, ks, ke,
                                 depth + 1, templ, noun, op, &o));
        if (o.err >= 0) db_err = 1;
        break;
      }
      case A_INTERNAL:
        OA_RETURN_NOT_OK(do_leaf(
            c, CAT_INTERNAL, svc, replica, sp.span_id, ks, ke, depth + 1, templ,
            (int)below(&st->rng, n_nouns(sv)), (int)below(&st->rng, 4), &o));
        break;
      case A_EXTERNAL:
        OA_RETURN_NOT_OK(do_leaf(c, CAT_EXTERNAL, svc, replica, sp.span_id, ks,
                                 ke, depth + 1, templ, noun, 0, &o));
        break;
      case A_CALL:
        if (t->budget < 1) {
          t->budget++;
          continue;
        }
        OA_RETURN_NOT_OK(do_call(c, svc, replica, sp.span_id, ks, ke, depth + 1,
                                 a->svc, &o));
        break;
      default:
        OA_RETURN_NOT_OK(
            do_publish(c, svc, replica, sp.span_id, ks, ke, depth + 1));
      }
      if (o.err >= 0 && child_err < 0) child_err = o.err;
    }
  }

  /* outcome of this request */
  outcome res = {-1, 0, 0};
  if (child_err >= 0 && (db_err || chance(&st->rng, 700)))
    res.err = child_err;
  else if (child_err >= 0)
    put_event(&sp, EV_FALLBACK, sp.end - post, 0, 0);
  if (res.err < 0 && chance(&st->rng, 3)) res.err = ERR_INTERNAL;
  bool client_err = false;
  if (res.err < 0) {
    if (templ == 1 && chance(&st->rng, 25))
      client_err = true; /* not found */
    else if (templ >= 2 && chance(&st->rng, 20))
      client_err = true; /* bad request */
  }
  if (cat == CAT_HTTP_SERVER) {
    static const int kOk[N_TEMPL] = {200, 200, 201, 200, 204};
    res.http_status = kOk[templ];
    if (svc == 0 && templ <= 1 && chance(&st->rng, 20)) res.http_status = 304;
    if (client_err)
      res.http_status =
          templ == 1 ? 404 : (svc == 0 && chance(&st->rng, 300) ? 401 : 400);
    if (res.err >= 0) {
      res.http_status = res.err == ERR_TIMEOUT       ? 504
                        : res.err == ERR_UNAVAILABLE ? 503
                                                     : 500;
      set_error_status(&sp, res.err); /* HTTP servers set no description */
    }
    sp.http_status = res.http_status;
  } else if (cat == CAT_RPC_SERVER) {
    if (client_err) res.grpc_code = templ == 1 ? 5 : 3;
    if (res.err >= 0) {
      res.grpc_code = res.err == ERR_TIMEOUT       ? 4
                      : res.err == ERR_UNAVAILABLE ? 14
                                                   : 13;
      set_error_status(&sp, res.err);
      err_message(res.err, sv->lang, &sp, sp.status_msg, sizeof sp.status_msg);
    }
    sp.grpc_code = res.grpc_code;
  } else if (res.err >= 0) { /* consumer */
    set_error_status(&sp, res.err);
    err_message(res.err, sv->lang, &sp, sp.status_msg, sizeof sp.status_msg);
  }
  if (res.err >= 0 && chance(&st->rng, sv->lang == LANG_GO ? 300 : 800))
    put_event(&sp, EV_EXCEPTION, sp.end - post / 2, res.err, 1);
  if (kLangs[sv->lang].msg_events && cat == CAT_RPC_SERVER) {
    put_event(&sp, EV_MSG_RECV, sp.start + pre / 2,
              (int64_t)(sp.item % 300) + 20, 0);
    put_event(&sp, EV_MSG_SENT, sp.end - post / 2,
              (int64_t)(sp.item % 4000) + 50, 0);
  }
  if (svc == 0 && chance(&st->rng, 40))
    put_event(&sp, EV_FLAG, sp.start + pre, (int64_t)below(&st->rng, 4),
              (int64_t)below(&st->rng, 80000));
  if (cat != CAT_CONSUMER && chance(&st->rng, 30))
    put_event(&sp, EV_LOG, sp.start + pre, (int64_t)below(&st->rng, 6),
              (int64_t)below(&st->rng, 1000));
  OA_RETURN_NOT_OK(emit_span(st, t, &sp));
  *out = res;
  return 0;
}

static int gen_trace(oa_trace_gen *g, int64_t budget) {
  oa_trace_gen_state *st = g->state;
  st->tpb.size = 0;
  st->tspans.n = 0;
  st->tpos = 0;
  trace_ctx t;
  memset(&t, 0, sizeof t);
  for (int i = 0; i < 2; i++) {
    uint64_t v = r64(&st->rng);
    for (int k = 0; k < 8; k++)
      t.trace_id[8 * i + k] = (uint8_t)(v >> (8 * k));
  }
  if (chance(&st->rng, 100)) {
    uint64_t v = r64(&st->rng);
    if (v & 1)
      snprintf(t.trace_state, sizeof t.trace_state,
               "rojo=%016llx,congo=t61rcWkgMzE", (unsigned long long)(v >> 1));
    else
      snprintf(t.trace_state, sizeof t.trace_state, "ot=th:0;rv:%014llx",
               (unsigned long long)(v >> 8));
  }
  static const int kDepthWeight[] = {10, 25, 30, 22, 13}; /* depth 2..6 */
  int64_t r = below(&st->rng, 100);
  t.max_depth = 2;
  for (int i = 0; i < 5; i++) {
    if (r < kDepthWeight[i]) {
      t.max_depth = 2 + i;
      break;
    }
    r -= kDepthWeight[i];
  }
  t.budget = budget - 1; /* the root */
  t.user = chance(&st->rng, 650) ? below(&st->rng, 20000) : -1;
  int templ = pick_templ(st), noun = pick_skewed(st, n_nouns(&kSvcs[0]));
  /* mean root duration depends on the route, with a heavy tail */
  uint64_t h = mix64((uint64_t)templ * 10 + (uint64_t)noun + 77);
  int64_t base = 3000000 + (int64_t)(h % 180000000);
  int64_t dur = base * range(&st->rng, 500, 1500) / 1000;
  if (chance(&st->rng, 40)) dur *= range(&st->rng, 2, 12);
  int64_t start = st->now;
  st->now += range(&st->rng, 100000, 9000000); /* ~4.5 ms between requests */
  gen_ctx c = {st, &t, st->n_svcs};
  outcome o;
  int rc = handle(&c, CAT_HTTP_SERVER, 0, pick_replica(st, 0), templ, noun,
                  NULL, false, start, start + dur, 1, NULL, &o);
  g->traces_done++;
  return rc;
}

/* ------------------------------------------------------------- requests */

void oa_trace_gen_options_default(oa_trace_gen_options *o) {
  memset(o, 0, sizeof *o);
  o->spans = 1000;
  o->seed = 1;
  o->services = 10;
  o->start_time_unix_nano = 1735689600000000000LL;
  o->max_trace_spans = 400;
}

void oa_trace_gen_reset(oa_trace_gen *g) {
  if (!g) return;
  oa_trace_gen_state *st = g->state;
  if (st) {
    oa_bytes_reset(&st->tpb);
    oa_bytes_reset(&st->rpb);
    free(st->tspans.v);
    free(st->rspans.v);
    free(st->order);
    for (int i = 0; i < N_RES; i++)
      oa_bytes_reset(&st->res_msg[i]);
    for (int i = 0; i < OA_TRACE_GEN_MAX_SERVICES * N_SCOPES; i++)
      oa_bytes_reset(&st->scope_msg[i]);
    free(st);
  }
  memset(g, 0, sizeof *g);
}

int oa_trace_gen_init(oa_trace_gen *g, const oa_trace_gen_options *o,
                      oa_error *err) {
  memset(g, 0, sizeof *g);
  if (o)
    g->opts = *o;
  else
    oa_trace_gen_options_default(&g->opts);
  if (g->opts.spans < 0)
    return oa_error_set(err, EINVAL,
                        "trace generator: spans must be >= 0, not %lld",
                        (long long)g->opts.spans);
  if (g->opts.services < 1 || g->opts.services > OA_TRACE_GEN_MAX_SERVICES)
    return oa_error_set(err, EINVAL,
                        "trace generator: services must be 1 to %d, not %d",
                        OA_TRACE_GEN_MAX_SERVICES, (int)g->opts.services);
  if (g->opts.max_trace_spans < 1)
    return oa_error_set(err, EINVAL,
                        "trace generator: max_trace_spans must be >= 1, not %d",
                        (int)g->opts.max_trace_spans);
  oa_trace_gen_state *st = calloc(1, sizeof *st);
  if (!st) return oa_error_set(err, ENOMEM, "trace generator: out of memory");
  g->state = st;
  st->rng = mix64(g->opts.seed ^ 0x6f746c706172726full);
  st->now = g->opts.start_time_unix_nano;
  st->n_svcs = g->opts.services;
  int rc = build_world(st, err);
  if (rc) oa_trace_gen_reset(g);
  return rc;
}

static int take_spans(oa_trace_gen_state *st, int64_t n) {
  span_list *r = &st->rspans;
  if (r->n + n > r->cap) {
    int64_t cap = r->cap ? r->cap : 256;
    while (cap < r->n + n)
      cap *= 2;
    span_rec *v = realloc(r->v, (size_t)cap * sizeof *v);
    if (!v) return ENOMEM;
    r->v = v;
    r->cap = cap;
  }
  for (int64_t i = 0; i < n; i++) {
    span_rec s = st->tspans.v[st->tpos + i];
    OA_RETURN_NOT_OK(oa_bytes_append(&st->rpb, st->tpb.data + s.off, s.len));
    s.off = st->rpb.size - s.len;
    r->v[r->n++] = s;
  }
  st->tpos += n;
  return 0;
}

/* Writes the collected spans as one request: ResourceSpans in order of first
 * appearance, ScopeSpans likewise within them. */
static int assemble(oa_trace_gen *g, oa_bytes *out) {
  oa_trace_gen_state *st = g->state;
  span_list *r = &st->rspans;
  int res_rank[N_RES], n_res = 0;
  int sc_rank[N_RES][N_SCOPES], n_sc[N_RES];
  /* zeroed so the analyzers see them defined: only the first n_res /
   * n_sc[rs] entries are ever read */
  int rank_res[N_RES] = {0};
  int rank_sc[N_RES][N_SCOPES] = {{0}};
  for (int i = 0; i < N_RES; i++) {
    res_rank[i] = -1;
    n_sc[i] = 0;
    for (int k = 0; k < N_SCOPES; k++)
      sc_rank[i][k] = -1;
  }
  for (int64_t i = 0; i < r->n; i++) {
    int rs = r->v[i].res, sc = r->v[i].scope;
    if (res_rank[rs] < 0) {
      rank_res[n_res] = rs;
      res_rank[rs] = n_res++;
    }
    if (sc_rank[rs][sc] < 0) {
      rank_sc[rs][n_sc[rs]] = sc;
      sc_rank[rs][sc] = n_sc[rs]++;
    }
  }
  /* counting sort of the spans by (resource rank, scope rank), stable */
  int64_t count[N_RES * N_SCOPES + 1];
  memset(count, 0, sizeof count);
  for (int64_t i = 0; i < r->n; i++)
    count[res_rank[r->v[i].res] * N_SCOPES +
          sc_rank[r->v[i].res][r->v[i].scope] + 1]++;
  for (int k = 1; k <= N_RES * N_SCOPES; k++)
    count[k] += count[k - 1];
  if (st->cap_order < r->n) {
    int64_t *o = realloc(st->order, (size_t)r->n * sizeof *o);
    if (!o) return ENOMEM;
    st->order = o;
    st->cap_order = r->n;
  }
  for (int64_t i = 0; i < r->n; i++)
    st->order[count[res_rank[r->v[i].res] * N_SCOPES +
                    sc_rank[r->v[i].res][r->v[i].scope]]++] = i;
  out->size = 0;
  pbw w = {out, 0};
  int64_t pos = 0;
  for (int ri = 0; ri < n_res; ri++) {
    int rs = rank_res[ri];
    int svc = rs / MAX_REPLICAS;
    const lang_info *L = &kLangs[kSvcs[svc].lang];
    int64_t rsm = w_begin(&w, 1);
    const oa_bytes *rm = &st->res_msg[rs];
    w_bytes(&w, 1, rm->data, rm->size);
    for (int si = 0; si < n_sc[rs]; si++) {
      int sc = rank_sc[rs][si];
      int64_t ssm = w_begin(&w, 2);
      const oa_bytes *sm = &st->scope_msg[svc * N_SCOPES + sc];
      w_bytes(&w, 1, sm->data, sm->size);
      while (pos < r->n) {
        const span_rec *s = &r->v[st->order[pos]];
        if (s->res != rs || s->scope != sc) break;
        w_bytes(&w, 2, st->rpb.data + s->off, s->len);
        pos++;
      }
      if (sc != SC_APP) w_str(&w, 3, L->schema_url);
      w_end(&w, ssm);
    }
    w_str(&w, 3, L->schema_url);
    w_end(&w, rsm);
  }
  return w.rc;
}

int oa_trace_gen_next_request(oa_trace_gen *g, int64_t max_spans, oa_bytes *out,
                              int64_t *n_spans, oa_error *err) {
  *n_spans = 0;
  out->size = 0;
  oa_trace_gen_state *st = g->state;
  if (!st) return oa_error_set(err, EINVAL, "trace generator: not initialized");
  if (max_spans < 1)
    return oa_error_set(err, EINVAL,
                        "trace generator: max_spans must be >= 1, not %lld",
                        (long long)max_spans);
  st->rpb.size = 0;
  st->rspans.n = 0;
  int rc = 0;
  for (;;) {
    int64_t pending = st->tspans.n - st->tpos;
    if (pending == 0) {
      int64_t left = g->opts.spans - g->spans_done - st->rspans.n;
      if (left <= 0) break;
      int64_t budget =
          left < g->opts.max_trace_spans ? left : g->opts.max_trace_spans;
      if ((rc = gen_trace(g, budget))) break;
      continue;
    }
    int64_t room = max_spans - st->rspans.n;
    if (pending <= room) {
      if ((rc = take_spans(st, pending))) break;
    } else {
      if (st->rspans.n == 0)
        rc = take_spans(st, room); /* a trace larger than a request */
      break;
    }
  }
  if (rc == 0) rc = assemble(g, out);
  if (rc) {
    out->size = 0;
    return oa_error_set(err, rc, "trace generator: out of memory");
  }
  *n_spans = st->rspans.n;
  g->spans_done += st->rspans.n;
  return 0;
}
