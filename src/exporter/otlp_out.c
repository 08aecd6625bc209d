/* otlparrow: OTLP exporters out (see exporter/otlp_out.h). */
#include "exporter/otlp_out.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "grpc/oa_grpc.h"
#include "otlparrow/otlp.h"

#define TRACE_EXPORT_PATH                                                      \
  "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

struct oa_otlp_out {
  oa_otlp_out_options o;
  char *endpoint, *host, *port, *path, *auth, *extra_headers;
  oa_grpc_channel *ch;
  int fd; /* HTTP keep-alive connection, -1 when closed */
  oa_bytes req, zbuf, resp;
  uint64_t rng;
  atomic_llong requests, retries, exported, rejected, failed, bytes;
};

void oa_otlp_out_options_init(oa_otlp_out_options *o) {
  memset(o, 0, sizeof *o);
  o->timeout_ms = 10000;
  o->retry_initial_ms = 500;
  o->retry_max_ms = 5000;
  o->retry_multiplier = 1.5;
  o->retry_max_elapsed_ms = 60000;
}

void oa_otlp_out_get_stats(oa_otlp_out *o, oa_otlp_out_stats *st) {
  st->requests = atomic_load(&o->requests);
  st->retries = atomic_load(&o->retries);
  st->exported_spans = atomic_load(&o->exported);
  st->rejected_spans = atomic_load(&o->rejected);
  st->failed_spans = atomic_load(&o->failed);
  st->bytes_sent = atomic_load(&o->bytes);
}

/* ------------------------------------------------------------ protobuf */

/* A minimal reader for the few messages we look into (responses, Status). */
typedef struct pb_rd {
  const uint8_t *p, *end;
} pb_rd;

static bool pb_varint(pb_rd *r, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
    uint8_t b = *r->p++;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

/* Next field: number, wire type, and for wire 2 its bytes, for 0 its value.
 * False at the end or on malformed input. */
static bool pb_field(pb_rd *r, uint32_t *num, uint32_t *wire, uint64_t *val,
                     pb_rd *sub) {
  uint64_t key;
  if (r->p >= r->end || !pb_varint(r, &key)) return false;
  *num = (uint32_t)(key >> 3);
  *wire = (uint32_t)(key & 7);
  switch (*wire) {
  case 0:
    return pb_varint(r, val);
  case 1:
    if (r->end - r->p < 8) return false;
    r->p += 8;
    return true;
  case 5:
    if (r->end - r->p < 4) return false;
    r->p += 4;
    return true;
  case 2:
    if (!pb_varint(r, val) || *val > (uint64_t)(r->end - r->p)) return false;
    sub->p = r->p;
    sub->end = r->p + *val;
    r->p += *val;
    return true;
  default:
    return false;
  }
}

/* google.rpc.Status.details[] -> RetryInfo.retry_delay in ms, or -1. */
static int64_t status_retry_delay(const uint8_t *data, size_t len) {
  pb_rd r = {data, data + len}, any, f2;
  uint32_t num, wire;
  uint64_t v;
  while (pb_field(&r, &num, &wire, &v, &any)) {
    if (num != 3 || wire != 2) continue;
    pb_rd type = {NULL, NULL}, value = {NULL, NULL};
    while (pb_field(&any, &num, &wire, &v, &f2)) {
      if (num == 1 && wire == 2) type = f2;
      if (num == 2 && wire == 2) value = f2;
    }
    static const char want[] = "google.rpc.RetryInfo";
    size_t wl = sizeof want - 1;
    if (!type.p || (size_t)(type.end - type.p) < wl ||
        memcmp(type.end - wl, want, wl) != 0)
      continue;
    pb_rd ri = value, dur, x;
    while (pb_field(&ri, &num, &wire, &v, &dur)) {
      if (num != 1 || wire != 2) continue;
      int64_t secs = 0, nanos = 0;
      while (pb_field(&dur, &num, &wire, &v, &x)) {
        if (num == 1 && wire == 0) secs = (int64_t)v;
        if (num == 2 && wire == 0) nanos = (int64_t)(int32_t)v;
      }
      return secs * 1000 + nanos / 1000000;
    }
  }
  return -1;
}

/* ExportTraceServiceResponse.partial_success.rejected_spans (0 if none),
 * its error_message copied to msg. */
static int64_t response_rejected(const uint8_t *data, size_t len, char *msg,
                                 size_t cap) {
  pb_rd r = {data, data + len}, ps = {NULL, NULL}, s2 = {NULL, NULL};
  uint32_t num, wire;
  uint64_t v;
  int64_t rejected = 0;
  msg[0] = 0;
  while (pb_field(&r, &num, &wire, &v, &ps)) {
    if (num != 1 || wire != 2) continue;
    while (pb_field(&ps, &num, &wire, &v, &s2)) {
      if (num == 1 && wire == 0) rejected = (int64_t)v;
      if (num == 2 && wire == 2)
        snprintf(msg, cap, "%.*s", (int)(s2.end - s2.p), (const char *)s2.p);
    }
  }
  return rejected;
}

/* google.rpc.Status.message of an HTTP error body (protobuf). */
static void status_message(const uint8_t *data, size_t len, char *msg,
                           size_t cap) {
  pb_rd r = {data, data + len}, s;
  uint32_t num, wire;
  uint64_t v;
  msg[0] = 0;
  while (pb_field(&r, &num, &wire, &v, &s))
    if (num == 2 && wire == 2) {
      size_t n = (size_t)(s.end - s.p);
      bool printable = true;
      for (size_t i = 0; i < n; i++)
        if (s.p[i] < 0x20 && s.p[i] != '\t') printable = false;
      if (printable) snprintf(msg, cap, "%.*s", (int)n, (const char *)s.p);
    }
}

/* ------------------------------------------------------------ headers */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static void trim(char *s) {
  size_t n = strlen(s), i = 0;
  while (n && isspace((unsigned char)s[n - 1]))
    s[--n] = 0;
  while (isspace((unsigned char)s[i]))
    i++;
  memmove(s, s + i, n - i + 1);
}

int oa_otlp_out_parse_headers(const char *s,
                              int (*fn)(void *ctx, const char *key,
                                        const char *value, oa_error *err),
                              void *ctx, oa_error *err) {
  if (!s) return 0;
  char *copy = strdup(s);
  if (!copy) return oa_error_set(err, ENOMEM, "headers: out of memory");
  int rc = 0;
  char *save = NULL;
  for (char *pair = strtok_r(copy, ",", &save); pair && !rc;
       pair = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(pair, '=');
    trim(pair);
    if (!*pair) continue;
    eq = strchr(pair, '=');
    if (!eq) {
      rc = oa_error_set(err, EINVAL, "headers: '%s' is not key=value", pair);
      break;
    }
    *eq = 0;
    char *key = pair, *val = eq + 1;
    trim(key);
    trim(val);
    /* percent-decode in place (W3C baggage octets) */
    char *w = val;
    for (char *p = val; *p; p++) {
      if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
        *w++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
        p += 2;
      } else {
        *w++ = *p;
      }
    }
    *w = 0;
    if (!*key) {
      rc = oa_error_set(err, EINVAL, "headers: empty key in '%s'", s);
      break;
    }
    for (char *p = key; *p; p++)
      if (*p == '\r' || *p == '\n' || *p == ':') {
        rc = oa_error_set(err, EINVAL, "headers: bad character in key '%s'",
                          key);
        break;
      }
    for (char *p = val; !rc && *p; p++)
      if (*p == '\r' || *p == '\n')
        rc = oa_error_set(err, EINVAL, "headers: line break in value of '%s'",
                          key);
    if (!rc) rc = fn(ctx, key, val, err);
  }
  free(copy);
  return rc;
}

typedef struct hdr_ctx {
  oa_otlp_out *o;
  oa_bytes text; /* HTTP: "Key: value\r\n" lines */
} hdr_ctx;

static int collect_header(void *ctx, const char *key, const char *value,
                          oa_error *err) {
  hdr_ctx *h = ctx;
  if (strcasecmp(key, "authorization") == 0) {
    free(h->o->auth);
    h->o->auth = strdup(value);
    if (!h->o->auth) return oa_error_set(err, ENOMEM, "headers: no memory");
    return 0;
  }
  if (h->o->o.protocol != OA_OTLP_OUT_HTTP) return 0;
  size_t kl = strlen(key), vl = strlen(value);
  if (oa_bytes_append(&h->text, key, (int64_t)kl) ||
      oa_bytes_append(&h->text, ": ", 2) ||
      oa_bytes_append(&h->text, value, (int64_t)vl) ||
      oa_bytes_append(&h->text, "\r\n", 2))
    return oa_error_set(err, ENOMEM, "headers: out of memory");
  return 0;
}

/* ------------------------------------------------------------ lifecycle */

void oa_otlp_out_free(oa_otlp_out *o) {
  if (!o) return;
  if (o->ch) oa_grpc_channel_release(o->ch);
  if (o->fd >= 0) close(o->fd);
  oa_bytes_reset(&o->req);
  oa_bytes_reset(&o->zbuf);
  oa_bytes_reset(&o->resp);
  free(o->endpoint);
  free(o->host);
  free(o->port);
  free(o->path);
  free(o->auth);
  free(o->extra_headers);
  free(o);
}

/* Splits "http://host:port/path", "[v6]:port/path" or "host:port". */
static int split_endpoint(oa_otlp_out *o, oa_error *err) {
  const char *s = o->endpoint;
  if (strncasecmp(s, "https://", 8) == 0)
    return oa_error_set(err, ENOTSUP,
                        "OTLP/HTTP endpoint '%s': HTTPS is not supported", s);
  if (strncasecmp(s, "http://", 7) == 0) s += 7;
  const char *slash = strchr(s, '/');
  size_t hp_len = slash ? (size_t)(slash - s) : strlen(s);
  const char *colon = NULL;
  const char *hs = s;
  size_t hl;
  if (*s == '[') {
    const char *close_b = memchr(s, ']', hp_len);
    if (!close_b) goto bad;
    hs = s + 1;
    hl = (size_t)(close_b - hs);
    if (close_b + 1 < s + hp_len && close_b[1] == ':') colon = close_b + 1;
  } else {
    colon = memchr(s, ':', hp_len);
    hl = colon ? (size_t)(colon - s) : hp_len;
  }
  if (!colon || hl == 0) goto bad;
  size_t pl = (size_t)(s + hp_len - colon - 1);
  if (pl == 0 || pl > 5) goto bad;
  for (size_t i = 0; i < pl; i++)
    if (!isdigit((unsigned char)colon[1 + i])) goto bad;
  o->host = strndup(hs, hl);
  o->port = strndup(colon + 1, pl);
  o->path = strdup(slash && slash[1] ? slash : "/v1/traces");
  if (!o->host || !o->port || !o->path)
    return oa_error_set(err, ENOMEM, "otlp out: out of memory");
  return 0;
bad:
  return oa_error_set(err, EINVAL,
                      "endpoint '%s': expected HOST:PORT (optionally "
                      "followed by a /path for OTLP/HTTP)",
                      o->endpoint);
}

int oa_otlp_out_new(oa_otlp_out **out, const oa_otlp_out_options *opts,
                    oa_error *err) {
  *out = NULL;
  if (!opts || !opts->endpoint || !*opts->endpoint)
    return oa_error_set(err, EINVAL, "otlp out: no endpoint");
  if (opts->protocol == OA_OTLP_OUT_HTTP &&
      (opts->tls || opts->tls_ca_file || opts->tls_cert_file))
    return oa_error_set(err, ENOTSUP,
                        "OTLP/HTTP out: TLS is not supported (use otlp:// "
                        "with TLS, or a plain http endpoint)");
  oa_otlp_out *o = calloc(1, sizeof *o);
  if (!o) return oa_error_set(err, ENOMEM, "otlp out: out of memory");
  o->o = *opts;
  o->fd = -1;
  oa_bytes_init(&o->req);
  oa_bytes_init(&o->zbuf);
  oa_bytes_init(&o->resp);
  o->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)o;
  if (o->o.timeout_ms <= 0) o->o.timeout_ms = 10000;
  if (o->o.retry_initial_ms <= 0) o->o.retry_initial_ms = 500;
  if (o->o.retry_max_ms < o->o.retry_initial_ms)
    o->o.retry_max_ms = o->o.retry_initial_ms;
  if (o->o.retry_multiplier < 1.0) o->o.retry_multiplier = 1.5;
  int rc = 0;
  o->endpoint = strdup(opts->endpoint);
  if (!o->endpoint) {
    rc = oa_error_set(err, ENOMEM, "otlp out: out of memory");
    goto fail;
  }
  o->o.endpoint = o->endpoint;
  hdr_ctx hc = {o, {0}};
  oa_bytes_init(&hc.text);
  if (opts->token && *opts->token) {
    size_t n = strlen(opts->token) + 8;
    o->auth = malloc(n);
    if (o->auth) snprintf(o->auth, n, "Bearer %s", opts->token);
  }
  rc = oa_otlp_out_parse_headers(opts->headers, collect_header, &hc, err);
  if (!rc && hc.text.size) {
    o->extra_headers =
        strndup((const char *)hc.text.data, (size_t)hc.text.size);
    if (!o->extra_headers)
      rc = oa_error_set(err, ENOMEM, "otlp out: out of memory");
  }
  oa_bytes_reset(&hc.text);
  o->o.headers = NULL;
  o->o.token = NULL;
  o->o.tls_ca_file = o->o.tls_cert_file = o->o.tls_key_file = NULL;
  if (rc) goto fail;
  if (opts->protocol == OA_OTLP_OUT_HTTP) {
    OA_GOTO_NOT_OK(rc, split_endpoint(o, err), fail);
  } else {
    oa_grpc_channel_options co;
    oa_grpc_channel_options_init(&co);
    char *ca = NULL, *cert = NULL, *key = NULL;
    co.tls = opts->tls;
    co.gzip = opts->gzip;
    co.max_send_message_size = -1;
    if ((opts->tls_ca_file && oa_grpc_read_pem(opts->tls_ca_file, &ca, err)) ||
        (opts->tls_cert_file &&
         oa_grpc_read_pem(opts->tls_cert_file, &cert, err)) ||
        (opts->tls_key_file && oa_grpc_read_pem(opts->tls_key_file, &key, err)))
      rc = EINVAL;
    co.ca_pem = ca;
    co.cert_pem = cert;
    co.key_pem = key;
    if (!rc) rc = oa_grpc_channel_new(&o->ch, o->endpoint, &co, err);
    free(ca);
    free(cert);
    free(key);
    if (rc) goto fail;
  }
  *out = o;
  return 0;
fail:
  oa_otlp_out_free(o);
  return rc;
}

/* ------------------------------------------------------------ gRPC */

static bool grpc_retryable(grpc_status_code c, bool has_retry_info) {
  switch (c) {
  case GRPC_STATUS_CANCELLED:
  case GRPC_STATUS_DEADLINE_EXCEEDED:
  case GRPC_STATUS_ABORTED:
  case GRPC_STATUS_OUT_OF_RANGE:
  case GRPC_STATUS_UNAVAILABLE:
  case GRPC_STATUS_DATA_LOSS:
    return true;
  case GRPC_STATUS_RESOURCE_EXHAUSTED:
    return has_retry_info;
  default:
    return false;
  }
}

static int send_grpc(oa_otlp_out *o, const uint8_t *req, int64_t len,
                     oa_otlp_out_attempt *a, oa_error *err) {
  grpc_slice sl = grpc_slice_from_copied_buffer((const char *)req, (size_t)len);
  oa_grpc_call_options co = {o->o.timeout_ms, o->auth};
  oa_grpc_result res;
  oa_grpc_result_init(&res);
  o->resp.size = 0;
  int rc =
      oa_grpc_unary(o->ch, TRACE_EXPORT_PATH, &sl, 1, &co, &o->resp, &res, err);
  if (rc) {
    oa_grpc_result_reset(&res);
    a->retryable = true;
    return EAGAIN;
  }
  a->status = (int)res.code;
  if (res.code == GRPC_STATUS_OK) {
    char msg[256];
    a->rejected_spans =
        response_rejected(o->resp.data, (size_t)o->resp.size, msg, sizeof msg);
    oa_grpc_result_reset(&res);
    return 0;
  }
  a->retry_after_ms =
      status_retry_delay(res.details.data, (size_t)res.details.size);
  a->retryable = grpc_retryable(res.code, a->retry_after_ms >= 0);
  rc = oa_error_set(err, a->retryable ? EAGAIN : oa_grpc_status_errno(res.code),
                    "OTLP/gRPC export to %s: %s: %s", o->endpoint,
                    oa_grpc_status_name(res.code), res.message);
  oa_grpc_result_reset(&res);
  return rc;
}

/* ------------------------------------------------------------ HTTP */

static void http_close(oa_otlp_out *o) {
  if (o->fd >= 0) close(o->fd);
  o->fd = -1;
}

static int http_connect(oa_otlp_out *o, oa_error *err) {
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int g = getaddrinfo(o->host, o->port, &hints, &ai);
  if (g != 0)
    return oa_error_set(err, EAGAIN, "OTLP/HTTP: cannot resolve '%s': %s",
                        o->host, gai_strerror(g));
  int last = 0;
  for (struct addrinfo *p = ai; p; p = p->ai_next) {
    int fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = errno;
      continue;
    }
    /* Linux applies SO_SNDTIMEO to connect() too */
    struct timeval tv = {(time_t)(o->o.timeout_ms / 1000),
                         (suseconds_t)(o->o.timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, p->ai_addr, p->ai_addrlen) == 0) {
      freeaddrinfo(ai);
      o->fd = fd;
      return 0;
    }
    last = errno;
    close(fd);
  }
  freeaddrinfo(ai);
  return oa_error_set(err, EAGAIN, "OTLP/HTTP: cannot connect to %s:%s: %s",
                      o->host, o->port, strerror(last));
}

static int write_all(int fd, const void *data, size_t n) {
  const uint8_t *p = data;
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? errno : EPIPE;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads more bytes into o->resp; 0 on EOF (returns -1 on error). */
static ssize_t read_more(oa_otlp_out *o) {
  if (oa_bytes_reserve(&o->resp, 16384)) return -1;
  for (;;) {
    ssize_t r = recv(o->fd, o->resp.data + o->resp.size, 16384, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r > 0) o->resp.size += r;
    return r;
  }
}

static int gzip_body(oa_otlp_out *o, const uint8_t *in, int64_t len,
                     oa_error *err) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    return oa_error_set(err, ENOMEM, "OTLP/HTTP: gzip init failed");
  uLong bound = deflateBound(&z, (uLong)len);
  o->zbuf.size = 0;
  if (oa_bytes_reserve(&o->zbuf, (int64_t)bound)) {
    deflateEnd(&z);
    return oa_error_set(err, ENOMEM, "OTLP/HTTP: out of memory for gzip");
  }
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)len;
  z.next_out = o->zbuf.data;
  z.avail_out = (uInt)bound;
  int zr = deflate(&z, Z_FINISH);
  o->zbuf.size = (int64_t)z.total_out;
  deflateEnd(&z);
  if (zr != Z_STREAM_END)
    return oa_error_set(err, EIO, "OTLP/HTTP: gzip failed (%d)", zr);
  return 0;
}

/* Finds a header's value in the response head (case-insensitive). */
static const char *find_header(const char *head, size_t head_len,
                               const char *name, size_t *vlen) {
  size_t nl = strlen(name);
  const char *p = memchr(head, '\n', head_len);
  const char *end = head + head_len;
  while (p && p + 1 < end) {
    const char *line = p + 1;
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol) eol = end;
    if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 &&
        line[nl] == ':') {
      const char *v = line + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
        ve--;
      *vlen = (size_t)(ve - v);
      return v;
    }
    p = eol < end ? eol : NULL;
  }
  return NULL;
}

/* Reads one response: status, head and body (Content-Length, chunked, or
 * to the end of the connection). */
static int http_read_response(oa_otlp_out *o, int *status, size_t *head_len,
                              size_t *body_off, size_t *body_len,
                              bool *keep_alive, oa_error *err) {
  o->resp.size = 0;
  const char *hend = NULL;
  while (!hend) {
    ssize_t r = read_more(o);
    if (r <= 0)
      return oa_error_set(
          err, EAGAIN, "OTLP/HTTP %s:%s: %s before a complete response",
          o->host, o->port,
          r == 0                                    ? "connection closed"
          : errno == EAGAIN || errno == EWOULDBLOCK ? "timed out"
                                                    : strerror(errno));
    hend = memmem(o->resp.data, (size_t)o->resp.size, "\r\n\r\n", 4);
    if (!hend && o->resp.size > (1 << 16))
      return oa_error_set(err, EIO, "OTLP/HTTP: response head over 64 KiB");
  }
  const char *head = (const char *)o->resp.data;
  *head_len = (size_t)(hend - head) + 2;
  int maj, min, st;
  if (sscanf(head, "HTTP/%d.%d %d", &maj, &min, &st) != 3)
    return oa_error_set(err, EIO, "OTLP/HTTP: malformed status line");
  *status = st;
  size_t off = (size_t)(hend - head) + 4;
  *body_off = off;
  size_t vl;
  const char *conn = find_header(head, *head_len, "connection", &vl);
  *keep_alive = !(conn && vl == 5 && strncasecmp(conn, "close", 5) == 0) &&
                !(maj == 1 && min == 0);
  const char *cl = find_header(head, *head_len, "content-length", &vl);
  const char *te = find_header(head, *head_len, "transfer-encoding", &vl);
  if (cl) {
    size_t want = (size_t)strtoull(cl, NULL, 10);
    if (want > (64u << 20))
      return oa_error_set(err, EIO, "OTLP/HTTP: response body too large");
    while ((size_t)o->resp.size < off + want) {
      ssize_t r = read_more(o);
      if (r <= 0)
        return oa_error_set(err, EAGAIN, "OTLP/HTTP: response body cut short");
    }
    *body_len = want;
    return 0;
  }
  if (te && vl >= 7 && strncasecmp(te + vl - 7, "chunked", 7) == 0) {
    /* decode chunks in place after the head */
    size_t rd = off, wr = off;
    for (;;) {
      char *eol;
      while (!(eol = memmem(o->resp.data + rd, (size_t)o->resp.size - rd,
                            "\r\n", 2)))
        if (read_more(o) <= 0)
          return oa_error_set(err, EAGAIN, "OTLP/HTTP: chunked body cut");
      size_t n = (size_t)strtoull((const char *)o->resp.data + rd, NULL, 16);
      rd = (size_t)((uint8_t *)eol - o->resp.data) + 2;
      if (n > (64u << 20))
        return oa_error_set(err, EIO, "OTLP/HTTP: chunk too large");
      while ((size_t)o->resp.size < rd + n + 2)
        if (read_more(o) <= 0)
          return oa_error_set(err, EAGAIN, "OTLP/HTTP: chunked body cut");
      if (n == 0) break; /* trailers are not expected from OTLP servers */
      memmove(o->resp.data + wr, o->resp.data + rd, n);
      wr += n;
      rd += n + 2;
    }
    *body_len = wr - off;
    return 0;
  }
  if (st == 204 || st == 304 || (st >= 100 && st < 200)) {
    *body_len = 0;
    return 0;
  }
  while (read_more(o) > 0) {
  }
  *body_len = (size_t)o->resp.size - off;
  *keep_alive = false;
  return 0;
}

static int send_http(oa_otlp_out *o, const uint8_t *req, int64_t len,
                     oa_otlp_out_attempt *a, oa_error *err) {
  const uint8_t *body = req;
  int64_t blen = len;
  if (o->o.gzip) {
    OA_RETURN_NOT_OK(gzip_body(o, req, len, err));
    body = o->zbuf.data;
    blen = o->zbuf.size;
  }
  char head[4096];
  int hn =
      snprintf(head, sizeof head,
               "POST %s HTTP/1.1\r\nHost: %s:%s\r\n"
               "User-Agent: otlparrow-forward\r\n"
               "Content-Type: application/x-protobuf\r\n"
               "Content-Length: %lld\r\n%s%s%s%s%s\r\n",
               o->path, o->host, o->port, (long long)blen,
               o->o.gzip ? "Content-Encoding: gzip\r\n" : "",
               o->auth ? "Authorization: " : "", o->auth ? o->auth : "",
               o->auth ? "\r\n" : "", o->extra_headers ? o->extra_headers : "");
  if (hn < 0 || hn >= (int)sizeof head)
    return oa_error_set(err, EINVAL, "OTLP/HTTP: request headers too long");
  /* a kept-alive connection may have been closed by the server meanwhile:
   * one fresh retry when the reused one fails before an answer */
  for (int attempt = 0; attempt < 2; attempt++) {
    bool reused = o->fd >= 0;
    if (!reused) {
      int crc = http_connect(o, err);
      if (crc) {
        a->retryable = crc == EAGAIN;
        return crc;
      }
    }
    int wr = write_all(o->fd, head, (size_t)hn);
    if (!wr) wr = write_all(o->fd, body, (size_t)blen);
    int status = 0;
    size_t hl = 0, boff = 0, bl = 0;
    bool keep = false;
    int rc = wr ? oa_error_set(err, EAGAIN, "OTLP/HTTP %s:%s: send: %s",
                               o->host, o->port, strerror(wr))
                : http_read_response(o, &status, &hl, &boff, &bl, &keep, err);
    if (rc) {
      http_close(o);
      if (reused && rc == EAGAIN) continue;
      a->retryable = rc == EAGAIN;
      return rc;
    }
    atomic_fetch_add(&o->bytes, blen);
    if (!keep) http_close(o);
    a->status = status;
    const uint8_t *rb = o->resp.data + boff;
    if (status >= 200 && status < 300) {
      char msg[256];
      a->rejected_spans = response_rejected(rb, bl, msg, sizeof msg);
      return 0;
    }
    size_t vl;
    const char *ra =
        find_header((const char *)o->resp.data, hl, "retry-after", &vl);
    if (ra && isdigit((unsigned char)*ra))
      a->retry_after_ms = (int64_t)strtoll(ra, NULL, 10) * 1000;
    char msg[300];
    status_message(rb, bl, msg, sizeof msg);
    a->retryable =
        status == 429 || status == 502 || status == 503 || status == 504;
    int code = a->retryable                     ? EAGAIN
               : status == 401 || status == 403 ? EACCES
               : status == 413                  ? E2BIG
               : status == 400 || status == 415 ? EINVAL
                                                : EIO;
    return oa_error_set(err, code, "OTLP/HTTP export to %s:%s%s: HTTP %d%s%s",
                        o->host, o->port, o->path, status, msg[0] ? ": " : "",
                        msg);
  }
  return oa_error_set(err, EAGAIN, "OTLP/HTTP: connection lost");
}

int oa_otlp_out_send_once(oa_otlp_out *o, const uint8_t *req, int64_t len,
                          oa_otlp_out_attempt *a, oa_error *err) {
  a->status = -1;
  a->retryable = false;
  a->retry_after_ms = -1;
  a->rejected_spans = 0;
  atomic_fetch_add(&o->requests, 1);
  if (o->o.protocol == OA_OTLP_OUT_HTTP) return send_http(o, req, len, a, err);
  int rc = send_grpc(o, req, len, a, err);
  if (rc == 0 || a->status >= 0) atomic_fetch_add(&o->bytes, len);
  return rc;
}

/* ------------------------------------------------------------ retries */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps up to ms, in steps, returning early when *stop is set. */
static void nap(int64_t ms, const atomic_bool *stop) {
  while (ms > 0 && !(stop && atomic_load(stop))) {
    int64_t step = ms < 50 ? ms : 50;
    struct timespec ts = {0, (long)step * 1000000L};
    nanosleep(&ts, NULL);
    ms -= step;
  }
}

int oa_otlp_out_export_request(oa_otlp_out *o, const uint8_t *req, int64_t len,
                               int64_t n_spans, const atomic_bool *stop,
                               oa_error *err) {
  int64_t start = now_ms();
  double backoff = (double)o->o.retry_initial_ms;
  int rc = 0;
  for (int attempt = 0;; attempt++) {
    if (attempt) atomic_fetch_add(&o->retries, 1);
    oa_otlp_out_attempt a;
    rc = oa_otlp_out_send_once(o, req, len, &a, err);
    if (rc == 0) {
      int64_t rej = a.rejected_spans > n_spans ? n_spans : a.rejected_spans;
      atomic_fetch_add(&o->rejected, rej);
      atomic_fetch_add(&o->exported, n_spans - rej);
      return 0;
    }
    if (!a.retryable) break;
    /* jitter over [backoff/2, backoff]; the server's delay wins */
    o->rng = o->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    double frac = 0.5 + (double)(o->rng >> 11) / (double)(1ULL << 53) * 0.5;
    int64_t wait = (int64_t)(backoff * frac);
    if (a.retry_after_ms >= 0) wait = a.retry_after_ms;
    int64_t elapsed = now_ms() - start;
    if (elapsed + wait > o->o.retry_max_elapsed_ms) break;
    nap(wait, stop); /* returns at once when stop is already set */
    if (stop && atomic_load(stop)) {
      char last[OA_ERROR_SIZE];
      snprintf(last, sizeof last, "%s", err ? err->message : "");
      return oa_error_set(err, ECANCELED,
                          "OTLP export to %s: stopped while retrying (%s)",
                          o->endpoint, last);
    }
    backoff *= o->o.retry_multiplier;
    if (backoff > (double)o->o.retry_max_ms)
      backoff = (double)o->o.retry_max_ms;
  }
  atomic_fetch_add(&o->failed, n_spans);
  return rc ? rc : EIO;
}

int oa_otlp_out_export(oa_otlp_out *o, const oa_batch *spans,
                       const atomic_bool *stop, oa_error *err) {
  if (!spans || spans->length == 0) return 0;
  o->req.size = 0;
  int rc = oa_otlp_encode_traces(spans, &o->req, err);
  if (rc) {
    atomic_fetch_add(&o->failed, spans->length);
    return rc;
  }
  rc = oa_otlp_out_export_request(o, o->req.data, o->req.size, spans->length,
                                  stop, err);
  if (rc == ECANCELED) atomic_fetch_add(&o->failed, spans->length);
  return rc;
}
