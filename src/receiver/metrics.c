/* Prometheus text exposition format 0.0.4 and its HTTP listener (see
 * metrics.h). */
#include "receiver/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "receiver/http_listen.h"

#define OA_METRICS_DEFAULT_LISTEN "127.0.0.1:9464"
#define OA_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ------------------------------------------------------------ writer */

static bool is_alpha_(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* Metric names may hold ':' (recording rules), label names may not. */
static bool valid_name(const char *s, bool colon) {
  if (!s || !(is_alpha_(*s) || (colon && *s == ':'))) return false;
  for (s++; *s; s++)
    if (!is_alpha_(*s) && !is_digit(*s) && !(colon && *s == ':')) return false;
  return true;
}

static int put(oa_metrics_writer *w, const char *s, size_t n, oa_error *err) {
  if (oa_bytes_append(w->out, s, (int64_t)n) != 0)
    return oa_error_set(err, ENOMEM, "metrics: out of memory writing '%s'",
                        w->family);
  return 0;
}

static int puts_(oa_metrics_writer *w, const char *s, oa_error *err) {
  return put(w, s, strlen(s), err);
}

/* Label values escape backslash, double quote and newline; HELP text
 * backslash and newline only. */
static int put_escaped(oa_metrics_writer *w, const char *s, bool quote,
                       oa_error *err) {
  const char *run = s;
  for (; *s; s++) {
    const char *esc = *s == '\\'           ? "\\\\"
                      : *s == '\n'         ? "\\n"
                      : quote && *s == '"' ? "\\\""
                                           : NULL;
    if (!esc) continue;
    OA_RETURN_NOT_OK(put(w, run, (size_t)(s - run), err));
    OA_RETURN_NOT_OK(puts_(w, esc, err));
    run = s + 1;
  }
  return put(w, run, (size_t)(s - run), err);
}

void oa_metrics_writer_init(oa_metrics_writer *w, oa_bytes *out) {
  memset(w, 0, sizeof *w);
  w->out = out;
}

/* Whether "# TYPE name " already starts a line of the page. */
static bool family_written(const oa_metrics_writer *w, const char *name) {
  size_t nl = strlen(name);
  const char *p = (const char *)w->out->data;
  const char *end = p + w->out->size;
  while (p && p < end) {
    size_t left = (size_t)(end - p);
    if (left > 7 + nl && memcmp(p, "# TYPE ", 7) == 0 &&
        memcmp(p + 7, name, nl) == 0 && p[7 + nl] == ' ')
      return true;
    const char *nlp = memchr(p, '\n', left);
    p = nlp ? nlp + 1 : NULL;
  }
  return false;
}

int oa_metrics_family(oa_metrics_writer *w, const char *name,
                      oa_metric_type type, const char *help, oa_error *err) {
  if (!valid_name(name, true))
    return oa_error_set(err, EINVAL,
                        "metrics: '%s' is not a metric name "
                        "([a-zA-Z_:][a-zA-Z0-9_:]*)",
                        name ? name : "(null)");
  size_t n = strlen(name);
  if (n >= sizeof w->family)
    return oa_error_set(err, EINVAL, "metrics: name '%.60s...' is too long",
                        name);
  if (type == OA_METRIC_COUNTER &&
      (n < 6 || strcmp(name + n - 6, "_total") != 0))
    return oa_error_set(err, EINVAL,
                        "metrics: counter '%s' must be named *_total", name);
  if (type != OA_METRIC_COUNTER && type != OA_METRIC_GAUGE)
    return oa_error_set(err, EINVAL, "metrics: '%s': unknown type %d", name,
                        (int)type);
  if (family_written(w, name))
    return oa_error_set(err, EINVAL,
                        "metrics: family '%s' is already on the page", name);
  memcpy(w->family, name, n + 1);
  w->type = type;
  OA_RETURN_NOT_OK(puts_(w, "# HELP ", err));
  OA_RETURN_NOT_OK(put(w, name, n, err));
  OA_RETURN_NOT_OK(puts_(w, " ", err));
  OA_RETURN_NOT_OK(put_escaped(w, help ? help : "", false, err));
  OA_RETURN_NOT_OK(puts_(w, "\n# TYPE ", err));
  OA_RETURN_NOT_OK(put(w, name, n, err));
  return puts_(w, type == OA_METRIC_COUNTER ? " counter\n" : " gauge\n", err);
}

/* name{labels} up to the space before the value */
static int sample_head(oa_metrics_writer *w, const oa_metric_label *labels,
                       size_t n_labels, oa_error *err) {
  if (!w->family[0])
    return oa_error_set(err, EINVAL,
                        "metrics: a sample before any family (call "
                        "oa_metrics_family first)");
  for (size_t i = 0; i < n_labels; i++) {
    const char *ln = labels[i].name;
    if (!valid_name(ln, false) || (ln[0] == '_' && ln[1] == '_'))
      return oa_error_set(err, EINVAL,
                          "metrics: '%s': label name '%s' is not allowed "
                          "([a-zA-Z_][a-zA-Z0-9_]*, not __*)",
                          w->family, ln ? ln : "(null)");
    if (!labels[i].value)
      return oa_error_set(err, EINVAL, "metrics: '%s': label '%s' has no value",
                          w->family, ln);
    for (size_t j = 0; j < i; j++)
      if (strcmp(labels[j].name, ln) == 0)
        return oa_error_set(err, EINVAL, "metrics: '%s': label '%s' repeated",
                            w->family, ln);
  }
  OA_RETURN_NOT_OK(puts_(w, w->family, err));
  if (n_labels) {
    for (size_t i = 0; i < n_labels; i++) {
      OA_RETURN_NOT_OK(puts_(w, i ? "," : "{", err));
      OA_RETURN_NOT_OK(puts_(w, labels[i].name, err));
      OA_RETURN_NOT_OK(puts_(w, "=\"", err));
      OA_RETURN_NOT_OK(put_escaped(w, labels[i].value, true, err));
      OA_RETURN_NOT_OK(puts_(w, "\"", err));
    }
    OA_RETURN_NOT_OK(puts_(w, "}", err));
  }
  return puts_(w, " ", err);
}

int oa_metrics_sample(oa_metrics_writer *w, const oa_metric_label *labels,
                      size_t n_labels, int64_t value, oa_error *err) {
  if (w->family[0] && w->type == OA_METRIC_COUNTER && value < 0)
    return oa_error_set(
        err, EINVAL, "metrics: counter '%s' cannot be negative (%" PRId64 ")",
        w->family, value);
  OA_RETURN_NOT_OK(sample_head(w, labels, n_labels, err));
  char num[32];
  int k = snprintf(num, sizeof num, "%" PRId64 "\n", value);
  return put(w, num, (size_t)k, err);
}

int oa_metrics_sample_double(oa_metrics_writer *w,
                             const oa_metric_label *labels, size_t n_labels,
                             double value, oa_error *err) {
  if (w->family[0] && w->type == OA_METRIC_COUNTER && !(value >= 0) &&
      !isnan(value))
    return oa_error_set(err, EINVAL, "metrics: counter '%s' cannot be negative",
                        w->family);
  OA_RETURN_NOT_OK(sample_head(w, labels, n_labels, err));
  char num[40];
  int k = isnan(value) ? snprintf(num, sizeof num, "NaN\n")
          : isinf(value)
              ? snprintf(num, sizeof num, "%sInf\n", value > 0 ? "+" : "-")
              : snprintf(num, sizeof num, "%.17g\n", value);
  return put(w, num, (size_t)k, err);
}

int oa_metrics_single(oa_metrics_writer *w, const char *name,
                      oa_metric_type type, const char *help,
                      const oa_metric_label *labels, size_t n_labels,
                      int64_t value, oa_error *err) {
  OA_RETURN_NOT_OK(oa_metrics_family(w, name, type, help, err));
  return oa_metrics_sample(w, labels, n_labels, value, err);
}

/* ---------------------------------------------------------- listener */

struct oa_metrics_http {
  oa_http_listener *l;
  oa_metrics_fill_fn fill;
  void *fill_ctx;
  atomic_llong scrapes;
};

/* Marks a request whose headers were seen (con_cls). The answer waits for
 * the next call: queued from the first one, libmicrohttpd would treat it as
 * an early answer and close the connection instead of keeping it alive. */
static const char started_mark;

void oa_metrics_http_options_init(oa_metrics_http_options *o) {
  memset(o, 0, sizeof *o);
  o->listen = OA_METRICS_DEFAULT_LISTEN;
  o->threads = 1;
  o->connection_limit = 64;
  o->connection_timeout_s = 10;
  o->request_timeout_s = 10;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status,
                                  const char *type, const void *body, size_t n,
                                  enum MHD_ResponseMemoryMode mode,
                                  const char *hname, const char *hvalue) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      n, (void *)(n ? body : ""), n ? mode : MHD_RESPMEM_PERSISTENT);
  if (!resp) {
    if (mode == MHD_RESPMEM_MUST_FREE) free((void *)body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (hname) MHD_add_response_header(resp, hname, hvalue);
  enum MHD_Result rc = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  return rc;
}

static enum MHD_Result reply_msg(struct MHD_Connection *c, unsigned status,
                                 const char *msg, const char *hname,
                                 const char *hvalue) {
  char line[OA_ERROR_SIZE + 2];
  int k = snprintf(line, sizeof line, "%s\n", msg);
  if (k < 0) k = 0;
  if ((size_t)k >= sizeof line) k = (int)sizeof line - 1;
  return reply_text(c, status, "text/plain; charset=utf-8", line, (size_t)k,
                    MHD_RESPMEM_MUST_COPY, hname, hvalue);
}

static enum MHD_Result scrape(oa_metrics_http *m, struct MHD_Connection *c) {
  oa_bytes page;
  oa_bytes_init(&page);
  oa_metrics_writer w;
  oa_metrics_writer_init(&w, &page);
  oa_error e;
  oa_error_clear(&e);
  int rc = m->fill(m->fill_ctx, &w, &e);
  if (rc) {
    oa_bytes_reset(&page);
    char msg[OA_ERROR_SIZE + 40];
    snprintf(msg, sizeof msg, "metrics could not be collected: %s",
             e.message[0] ? e.message : strerror(rc));
    return reply_msg(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg, NULL, NULL);
  }
  atomic_fetch_add(&m->scrapes, 1);
  /* oa_bytes memory is aligned and freed with oa_bytes_reset: copy */
  enum MHD_Result r =
      reply_text(c, MHD_HTTP_OK, OA_METRICS_CONTENT_TYPE, page.data,
                 (size_t)page.size, MHD_RESPMEM_MUST_COPY, NULL, NULL);
  oa_bytes_reset(&page);
  return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  oa_metrics_http *m = cls;
  if (!*con_cls) {
    *con_cls = (void *)&started_mark;
    return MHD_YES;
  }
  if (*upload_size) return MHD_NO; /* a body on GET: close */
  oa_http_listener_deadline(m->l, c, false);
  char msg[OA_ERROR_SIZE];
  unsigned st = oa_http_listener_check_peer(m->l, c, msg, sizeof msg);
  if (st) return reply_msg(c, st, msg, NULL, NULL);
  if (!oa_http_listener_token_ok(m->l, c))
    return reply_msg(c, MHD_HTTP_UNAUTHORIZED,
                     "missing or invalid bearer token (Authorization: Bearer "
                     "<token>)",
                     MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
  bool is_metrics = strcmp(url, "/metrics") == 0;
  bool is_health = strcmp(url, "/healthz") == 0;
  if (!is_metrics && !is_health) {
    snprintf(msg, sizeof msg,
             "no such path: this listener serves GET /metrics and GET "
             "/healthz");
    return reply_msg(c, MHD_HTTP_NOT_FOUND, msg, NULL, NULL);
  }
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
    snprintf(msg, sizeof msg, "method %.40s is not allowed: use GET", method);
    return reply_msg(c, MHD_HTTP_METHOD_NOT_ALLOWED, msg, MHD_HTTP_HEADER_ALLOW,
                     "GET, HEAD");
  }
  if (is_health) return reply_msg(c, MHD_HTTP_OK, "ok", NULL, NULL);
  return scrape(m, c);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  oa_metrics_http *m = cls;
  *con_cls = NULL;
  oa_http_listener_deadline(m->l, c, true); /* keep-alive: the next one */
}

int oa_metrics_http_start(oa_metrics_http **out,
                          const oa_metrics_http_options *o, oa_error *err) {
  *out = NULL;
  if (!o || !o->fill)
    return oa_error_set(err, EINVAL, "metrics: no fill callback");
  /* a bare port listens on loopback, like the other defaults */
  const char *listen =
      o->listen && o->listen[0] ? o->listen : OA_METRICS_DEFAULT_LISTEN;
  char addr[300];
  if (strspn(listen, "0123456789") == strlen(listen)) {
    snprintf(addr, sizeof addr, "127.0.0.1:%s", listen);
    listen = addr;
  }
  oa_metrics_http *m = calloc(1, sizeof *m);
  if (!m) return oa_error_set(err, ENOMEM, "metrics: out of memory");
  m->fill = o->fill;
  m->fill_ctx = o->fill_ctx;
  atomic_init(&m->scrapes, 0);
  oa_http_listener_options lo;
  memset(&lo, 0, sizeof lo);
  lo.what = "metrics";
  lo.listen = listen;
  lo.tls_cert_file = o->tls_cert_file;
  lo.tls_key_file = o->tls_key_file;
  lo.tls_client_ca = o->tls_client_ca;
  lo.auth_token = o->auth_token;
  lo.threads = o->threads ? o->threads : 1;
  lo.connection_limit = o->connection_limit ? o->connection_limit : 64;
  lo.connection_timeout_s =
      o->connection_timeout_s ? o->connection_timeout_s : 10;
  lo.request_timeout_s = o->request_timeout_s ? o->request_timeout_s : 10;
  lo.per_ip_connection_limit = o->per_ip_connection_limit;
  lo.connection_memory_limit = 32 * 1024; /* headers of a GET */
  lo.handler = on_request;
  lo.completed = on_completed;
  lo.cls = m;
  int rc = oa_http_listener_start(&m->l, &lo, err);
  if (rc) {
    free(m);
    return rc;
  }
  *out = m;
  return 0;
}

void oa_metrics_http_stop(oa_metrics_http *m) {
  if (!m) return;
  oa_http_listener_stop(m->l);
  free(m);
}

int oa_metrics_http_port(const oa_metrics_http *m) {
  return m ? oa_http_listener_port(m->l) : -1;
}

int64_t oa_metrics_http_scrapes(const oa_metrics_http *m) {
  return m ? (int64_t)atomic_load(&((oa_metrics_http *)m)->scrapes) : 0;
}
