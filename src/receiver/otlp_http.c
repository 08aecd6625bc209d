/* OTLP/HTTP receiver over libmicrohttpd. See otlp_http.h for the answers it
 * gives.
 *
 * Bodies are decompressed while they arrive into one per-request buffer that
 * never grows past max_body_size + 1 bytes, so neither a large body nor a
 * decompression bomb can make it allocate more than the limit. Decoders are
 * reused through a small mutex-guarded pool: at most one per worker thread is
 * ever in use, and each keeps its builders warm between requests. */
#include "receiver/otlp_http.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <lz4frame.h>
#include <microhttpd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "otlparrow/common.h"
#include "receiver/http_listen.h"

#define OA_HTTP_DEFAULT_LISTEN "127.0.0.1:4318"
#define OA_HTTP_DEFAULT_MAX_BODY (20 * 1024 * 1024)
#define OA_HTTP_FIRST_CHUNK (64 * 1024)

/* google.rpc.Code values used in Status bodies */
enum {
  RPC_INVALID_ARGUMENT = 3,
  RPC_NOT_FOUND = 5,
  RPC_PERMISSION_DENIED = 7,
  RPC_RESOURCE_EXHAUSTED = 8,
  RPC_UNIMPLEMENTED = 12,
  RPC_INTERNAL = 13,
  RPC_UNAVAILABLE = 14,
  RPC_UNAUTHENTICATED = 16
};

typedef struct dec_slot {
  struct dec_slot *next;
  oa_otlp_decoder *pb;
  oa_otlp_json_decoder *js;
} dec_slot;

struct oa_otlp_http {
  oa_http_listener *l; /* binding, TLS, token, request deadlines */
  oa_datasets *ds;
  int (*sink)(void *ctx, const oa_batch *spans, oa_error *err);
  void *sink_ctx;
  int64_t max_body;
  char *dataset;
  unsigned retry_after_s;
  unsigned drain_timeout_ms;
  oa_otlp_options dopts;
  pthread_mutex_t mu; /* guards pool */
  dec_slot *pool;
  atomic_int in_flight;
  atomic_llong requests, accepted_spans, rejected_spans, failed;
  atomic_llong received_bytes, decoded_bytes;
};

typedef enum body_enc { ENC_IDENTITY, ENC_GZIP, ENC_ZSTD, ENC_LZ4 } body_enc;

typedef struct req {
  bool json;
  bool answered;  /* a response was queued before the body */
  bool succeeded; /* answered 200 */
  body_enc enc;
  unsigned status; /* 0 while all is well, else the HTTP status to answer */
  int rpc_code;
  char msg[OA_ERROR_SIZE];
  uint8_t *body;
  size_t len, cap;
  uint64_t raw_len;
  uint64_t discarded;
  z_stream z;
  bool z_init, z_end;
  ZSTD_DCtx *zd;
  size_t zret; /* last ZSTD_decompressStream result: 0 at a frame end */
  LZ4F_dctx *lz;
  size_t lret; /* last LZ4F_decompress result: 0 at a frame end */
} req;

void oa_otlp_http_options_init(oa_otlp_http_options *o) {
  memset(o, 0, sizeof *o);
  o->listen = OA_HTTP_DEFAULT_LISTEN;
  o->max_body_size = OA_HTTP_DEFAULT_MAX_BODY;
  o->threads = 2;
  o->connection_timeout_s = 30;
  o->connection_limit = 1000;
  o->request_timeout_s = 60;
  o->retry_after_s = 1;
  o->drain_timeout_ms = 5000;
  o->dataset = "spans";
  oa_otlp_options_default(&o->decode);
}

/* ------------------------------------------------------------ responses */

/* Messages go into protobuf strings and JSON: keep them printable ASCII so
 * that they are valid UTF-8 whatever bytes a client sent. */
static void sanitize(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  for (; src[i] && i + 1 < cap; i++) {
    unsigned char ch = (unsigned char)src[i];
    dst[i] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
  }
  dst[i] = 0;
}

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* tag + length + bytes; the caller sized p */
static size_t put_lenfield(uint8_t *p, unsigned field, const void *data,
                           size_t n) {
  size_t k = put_varint(p, (uint64_t)field << 3 | 2);
  k += put_varint(p + k, n);
  memcpy(p + k, data, n);
  return k + n;
}

static size_t json_escape(char *dst, size_t cap, const char *src) {
  size_t k = 0;
  for (; *src && k + 3 < cap; src++) {
    if (*src == '"' || *src == '\\') dst[k++] = '\\';
    dst[k++] = *src;
  }
  dst[k] = 0;
  return k;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             bool json, const void *body, size_t n,
                             const char *hname, const char *hvalue) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      n, (void *)(n ? body : ""), MHD_RESPMEM_MUST_COPY);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                          json ? "application/json" : "application/x-protobuf");
  if (hname) MHD_add_response_header(resp, hname, hvalue);
  enum MHD_Result rc = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  return rc;
}

/* A google.rpc.Status body; retry_s > 0 adds a google.rpc.RetryInfo detail
 * and the Retry-After header. */
static enum MHD_Result reply_status(struct MHD_Connection *c, unsigned status,
                                    bool json, int code, const char *message,
                                    const char *hname, const char *hvalue,
                                    unsigned retry_s) {
  char msg[OA_ERROR_SIZE];
  sanitize(msg, sizeof msg, message);
  char retry[24];
  if (retry_s) {
    snprintf(retry, sizeof retry, "%u", retry_s);
    hname = MHD_HTTP_HEADER_RETRY_AFTER;
    hvalue = retry;
  }
  static const char retry_type[] = "type.googleapis.com/google.rpc.RetryInfo";
  if (json) {
    char esc[2 * OA_ERROR_SIZE];
    json_escape(esc, sizeof esc, msg);
    char out[3 * OA_ERROR_SIZE];
    int n;
    if (retry_s)
      n = snprintf(out, sizeof out,
                   "{\"code\":%d,\"message\":\"%s\",\"details\":[{\"@type\":"
                   "\"%s\",\"retryDelay\":\"%us\"}]}",
                   code, esc, retry_type, retry_s);
    else
      n = snprintf(out, sizeof out, "{\"code\":%d,\"message\":\"%s\"}", code,
                   esc);
    return reply(c, status, true, out, (size_t)n, hname, hvalue);
  }
  uint8_t out[2 * OA_ERROR_SIZE];
  size_t k = 0;
  out[k++] = 0x08; /* code = 1 */
  k += put_varint(out + k, (uint64_t)(int64_t)code);
  if (msg[0]) k += put_lenfield(out + k, 2, msg, strlen(msg));
  if (retry_s) {
    /* Any { type_url = 1; value = 2: RetryInfo { retry_delay = 1:
     * Duration { seconds = 1 } } } */
    uint8_t dur[16], info[24], any[96];
    size_t nd = 0, ni, na;
    dur[nd++] = 0x08;
    nd += put_varint(dur + nd, retry_s);
    ni = put_lenfield(info, 1, dur, nd);
    na = put_lenfield(any, 1, retry_type, sizeof retry_type - 1);
    na += put_lenfield(any + na, 2, info, ni);
    k += put_lenfield(out + k, 3, any, na);
  }
  return reply(c, status, false, out, k, hname, hvalue);
}

static enum MHD_Result reply_success(struct MHD_Connection *c, bool json,
                                     const oa_otlp_result *res) {
  if (res->rejected_spans <= 0)
    return json ? reply(c, MHD_HTTP_OK, true, "{}", 2, NULL, NULL)
                : reply(c, MHD_HTTP_OK, false, NULL, 0, NULL, NULL);
  char msg[OA_ERROR_SIZE];
  sanitize(msg, sizeof msg, res->error_message);
  if (json) {
    char esc[2 * OA_ERROR_SIZE], out[3 * OA_ERROR_SIZE];
    json_escape(esc, sizeof esc, msg);
    /* int64 is a string in the protobuf JSON mapping */
    int n = snprintf(out, sizeof out,
                     "{\"partialSuccess\":{\"rejectedSpans\":\"%lld\","
                     "\"errorMessage\":\"%s\"}}",
                     (long long)res->rejected_spans, esc);
    return reply(c, MHD_HTTP_OK, true, out, (size_t)n, NULL, NULL);
  }
  /* ExportTraceServiceResponse { partial_success = 1:
   * ExportTracePartialSuccess { rejected_spans = 1; error_message = 2 } } */
  uint8_t ps[OA_ERROR_SIZE + 32], out[OA_ERROR_SIZE + 48];
  size_t k = 0;
  ps[k++] = 0x08;
  k += put_varint(ps + k, (uint64_t)res->rejected_spans);
  if (msg[0]) k += put_lenfield(ps + k, 2, msg, strlen(msg));
  size_t n = put_lenfield(out, 1, ps, k);
  return reply(c, MHD_HTTP_OK, false, out, n, NULL, NULL);
}

/* ------------------------------------------------------- request state */

static void fail(req *r, unsigned status, int code, const char *fmt, ...)
    OA_PRINTF(4, 5);
static void fail(req *r, unsigned status, int code, const char *fmt, ...) {
  if (r->status) return; /* keep the first reason */
  r->status = status;
  r->rpc_code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->msg, sizeof r->msg, fmt, ap);
  va_end(ap);
  /* the body will not be used: give its memory back now */
  free(r->body);
  r->body = NULL;
  r->len = r->cap = 0;
}

static void req_free(req *r) {
  if (r->z_init) inflateEnd(&r->z);
  ZSTD_freeDCtx(r->zd);
  if (r->lz) LZ4F_freeDecompressionContext(r->lz);
  free(r->body);
  free(r);
}

/* Grows the body buffer towards limit (max_body + 1: one byte more than
 * allowed tells "over the limit" apart from "exactly at it"). */
static int body_grow(req *r, size_t want, size_t limit) {
  if (r->cap >= limit) return E2BIG;
  size_t nc = r->cap ? r->cap * 2 : OA_HTTP_FIRST_CHUNK;
  if (nc < want) nc = want;
  if (nc > limit) nc = limit;
  uint8_t *p = realloc(r->body, nc);
  if (!p) return ENOMEM;
  r->body = p;
  r->cap = nc;
  return 0;
}

static void fail_too_large(int64_t max_body, req *r) {
  fail(r, MHD_HTTP_CONTENT_TOO_LARGE, RPC_RESOURCE_EXHAUSTED,
       "request body exceeds the limit of %lld bytes%s", (long long)max_body,
       r->enc == ENC_IDENTITY ? "" : " after decompression");
}

static bool make_room(int64_t max_body, req *r) {
  if (r->len < r->cap) return true;
  int rc = body_grow(r, 0, (size_t)max_body + 1);
  if (rc == E2BIG)
    fail_too_large(max_body, r);
  else if (rc)
    fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, RPC_INTERNAL,
         "out of memory buffering the request body");
  return rc == 0;
}

static void feed_gzip(int64_t max_body, req *r, const uint8_t *in, size_t n) {
  z_stream *z = &r->z;
  z->next_in = (Bytef *)in;
  z->avail_in = (uInt)n;
  for (;;) {
    if (r->z_end) {
      if (z->avail_in == 0) return;
      inflateReset(z); /* another gzip member follows */
      r->z_end = false;
    }
    if (!make_room(max_body, r)) return;
    z->next_out = r->body + r->len;
    z->avail_out = (uInt)(r->cap - r->len);
    int zr = inflate(z, Z_NO_FLUSH);
    r->len = r->cap - z->avail_out;
    if (r->len > (size_t)max_body) {
      fail_too_large(max_body, r);
      return;
    }
    if (zr == Z_STREAM_END) {
      r->z_end = true;
      continue;
    }
    if (zr == Z_BUF_ERROR && z->avail_out > 0) return; /* wants input */
    if (zr != Z_OK && zr != Z_BUF_ERROR) {
      fail(r, MHD_HTTP_BAD_REQUEST, RPC_INVALID_ARGUMENT,
           "gzip body: %s at compressed byte %llu",
           z->msg ? z->msg : "corrupt data",
           (unsigned long long)(r->raw_len - z->avail_in));
      return;
    }
    if (z->avail_in == 0 && z->avail_out > 0) return;
  }
}

static void feed_zstd(int64_t max_body, req *r, const uint8_t *in, size_t n) {
  ZSTD_inBuffer ib = {in, n, 0};
  for (;;) {
    if (!make_room(max_body, r)) return;
    ZSTD_outBuffer ob = {r->body, r->cap, r->len};
    size_t ret = ZSTD_decompressStream(r->zd, &ob, &ib);
    r->len = ob.pos;
    if (ZSTD_isError(ret)) {
      if (ZSTD_getErrorCode(ret) == ZSTD_error_frameParameter_windowTooLarge)
        fail(r, MHD_HTTP_CONTENT_TOO_LARGE, RPC_RESOURCE_EXHAUSTED,
             "zstd body: the frame's window is larger than the limit of "
             "%lld bytes",
             (long long)max_body);
      else
        fail(r, MHD_HTTP_BAD_REQUEST, RPC_INVALID_ARGUMENT, "zstd body: %s",
             ZSTD_getErrorName(ret));
      return;
    }
    r->zret = ret;
    if (r->len > (size_t)max_body) {
      fail_too_large(max_body, r);
      return;
    }
    if (ib.pos == ib.size && ob.pos < ob.size) return;
  }
}

/* The LZ4 frame format (what OpenTelemetry's confighttp means by "lz4"):
 * frames one after another, each ended by its end mark. Besides the body
 * buffer the decoder holds at most two blocks (4 MiB each at most). */
static void feed_lz4(int64_t max_body, req *r, const uint8_t *in, size_t n) {
  size_t off = 0;
  for (;;) {
    if (!make_room(max_body, r)) return;
    size_t dst = r->cap - r->len, src = n - off;
    size_t ret =
        LZ4F_decompress(r->lz, r->body + r->len, &dst, in + off, &src, NULL);
    off += src;
    r->len += dst;
    if (LZ4F_isError(ret)) {
      fail(r, MHD_HTTP_BAD_REQUEST, RPC_INVALID_ARGUMENT,
           "lz4 body: %s near compressed byte %llu", LZ4F_getErrorName(ret),
           (unsigned long long)(r->raw_len - (n - off)));
      return;
    }
    r->lret = ret;
    if (r->len > (size_t)max_body) {
      fail_too_large(max_body, r);
      return;
    }
    /* a full buffer may hide output the decoder still holds */
    if (off == n && r->len < r->cap) return;
  }
}

static void consume(int64_t max_body, req *r, const uint8_t *data, size_t n) {
  if (r->status) {
    r->discarded += n;
    return;
  }
  r->raw_len += n;
  if (r->raw_len > (uint64_t)max_body) {
    fail(r, MHD_HTTP_CONTENT_TOO_LARGE, RPC_RESOURCE_EXHAUSTED,
         "request body exceeds the limit of %lld bytes", (long long)max_body);
    return;
  }
  switch (r->enc) {
  case ENC_IDENTITY:
    if (r->len + n > r->cap) {
      int rc = body_grow(r, r->len + n, (size_t)max_body);
      if (rc) {
        fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, RPC_INTERNAL,
             "out of memory buffering the request body");
        return;
      }
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    break;
  case ENC_GZIP:
    feed_gzip(max_body, r, data, n);
    break;
  case ENC_ZSTD:
    feed_zstd(max_body, r, data, n);
    break;
  case ENC_LZ4:
    feed_lz4(max_body, r, data, n);
    break;
  }
}

/* ------------------------------------------------------------- routing */

typedef enum media { MEDIA_NONE, MEDIA_PROTOBUF, MEDIA_JSON } media;

/* Compares the token [s, s+n) (case-insensitive) with word. */
static bool token_is(const char *s, size_t n, const char *word) {
  return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* The media type of a header value without parameters and spaces. */
static void media_span(const char *v, const char **s, size_t *n) {
  while (*v == ' ' || *v == '\t')
    v++;
  const char *e = v;
  while (*e && *e != ';' && *e != ',')
    e++;
  while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  *s = v;
  *n = (size_t)(e - v);
}

static media media_of(const char *ct) {
  if (!ct) return MEDIA_NONE;
  const char *s;
  size_t n;
  media_span(ct, &s, &n);
  if (token_is(s, n, "application/x-protobuf")) return MEDIA_PROTOBUF;
  if (token_is(s, n, "application/json")) return MEDIA_JSON;
  return MEDIA_NONE;
}

static enum MHD_Result answer_now(struct MHD_Connection *c, req *r,
                                  unsigned status, int code, const char *msg,
                                  const char *hname, const char *hvalue) {
  r->answered = true;
  return reply_status(c, status, r->json, code, msg, hname, hvalue, 0);
}

/* Content type, encoding and announced length of a request: sets up its
 * decompression, or fails r (415, 413, 500). */
static bool req_prepare(req *r, const char *ct, const char *ce,
                        unsigned long long clen, int64_t max_body) {
  media m = media_of(ct);
  r->json = m == MEDIA_JSON;
  if (m == MEDIA_NONE) {
    fail(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, RPC_INVALID_ARGUMENT,
         "unsupported Content-Type '%.100s': use application/x-protobuf "
         "or application/json",
         ct ? ct : "");
    return false;
  }
  if (ce) {
    const char *s;
    size_t n;
    media_span(ce, &s, &n);
    if (s[n] == ',') n = (size_t)-1; /* stacked codings: not supported */
    if (n == 0 || token_is(s, n, "identity"))
      r->enc = ENC_IDENTITY;
    else if (token_is(s, n, "gzip") || token_is(s, n, "x-gzip"))
      r->enc = ENC_GZIP;
    else if (token_is(s, n, "zstd"))
      r->enc = ENC_ZSTD;
    else if (token_is(s, n, "lz4"))
      r->enc = ENC_LZ4;
    else {
      fail(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, RPC_INVALID_ARGUMENT,
           "unsupported Content-Encoding '%.100s': use gzip, zstd, lz4 "
           "or identity",
           ce);
      return false;
    }
  }
  if (clen > (unsigned long long)max_body) {
    fail(r, MHD_HTTP_CONTENT_TOO_LARGE, RPC_RESOURCE_EXHAUSTED,
         "request body of %llu bytes exceeds the limit of %lld bytes", clen,
         (long long)max_body);
    return false;
  }
  bool ok = true;
  if (r->enc == ENC_GZIP) {
    ok = inflateInit2(&r->z, 16 + MAX_WBITS) == Z_OK;
    r->z_init = ok;
  } else if (r->enc == ENC_ZSTD) {
    r->zd = ZSTD_createDCtx();
    ok = r->zd != NULL;
    /* the window a frame may ask for: enough for the body limit, and at
     * least 8 MiB (what zstd's streaming levels up to 19 declare) */
    int wlog = 23;
    while (wlog < 27 && ((int64_t)1 << wlog) < max_body)
      wlog++;
    if (ok) ZSTD_DCtx_setParameter(r->zd, ZSTD_d_windowLogMax, wlog);
    r->zret = 1;
  } else if (r->enc == ENC_LZ4) {
    ok = !LZ4F_isError(LZ4F_createDecompressionContext(&r->lz, LZ4F_VERSION));
    r->lret = 1;
  } else if (clen > 0) {
    ok = body_grow(r, clen, clen) == 0;
  }
  if (!ok)
    fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, RPC_INTERNAL,
         "out of memory setting up the request body");
  return ok;
}

/* First call for a request (headers read, no body yet): checks everything
 * that can be checked before the body and sets up decompression. */
static enum MHD_Result begin(oa_otlp_http *h, req *r, struct MHD_Connection *c,
                             const char *url, const char *method) {
  const char *ct =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  media m = media_of(ct);
  r->json = m == MEDIA_JSON;
  char msg[OA_ERROR_SIZE];

  unsigned st = oa_http_listener_check_peer(h->l, c, msg, sizeof msg);
  if (st)
    return answer_now(c, r, st,
                      st == MHD_HTTP_UNAUTHORIZED ? RPC_UNAUTHENTICATED
                                                  : RPC_PERMISSION_DENIED,
                      msg, NULL, NULL);
  if (strcmp(url, "/v1/traces") != 0) {
    if (strcmp(url, "/v1/logs") == 0 || strcmp(url, "/v1/metrics") == 0) {
      snprintf(msg, sizeof msg,
               "%s are not supported yet: this server accepts traces only "
               "(POST /v1/traces)",
               url[4] == 'l' ? "logs" : "metrics");
      return answer_now(c, r, MHD_HTTP_NOT_FOUND, RPC_UNIMPLEMENTED, msg, NULL,
                        NULL);
    }
    snprintf(msg, sizeof msg,
             "no such path '%.200s': OTLP traces go to POST "
             "/v1/traces",
             url);
    return answer_now(c, r, MHD_HTTP_NOT_FOUND, RPC_NOT_FOUND, msg, NULL, NULL);
  }
  if (!oa_http_listener_token_ok(h->l, c))
    return answer_now(c, r, MHD_HTTP_UNAUTHORIZED, RPC_UNAUTHENTICATED,
                      "missing or invalid bearer token (Authorization: "
                      "Bearer <token>)",
                      MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
  if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
    snprintf(msg, sizeof msg,
             "method %.40s is not allowed on /v1/traces: use "
             "POST",
             method);
    return answer_now(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, RPC_UNIMPLEMENTED, msg,
                      MHD_HTTP_HEADER_ALLOW, "POST");
  }
  const char *ce =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
  const char *cl =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  unsigned long long clen = 0;
  if (cl) {
    char *end;
    errno = 0;
    clen = strtoull(cl, &end, 10);
    if (errno || end == cl) clen = 0; /* MHD already rejects bad lengths */
  }
  if (!req_prepare(r, ct, ce, clen, h->max_body)) {
    r->answered = true;
    return reply_status(c, r->status, r->json, r->rpc_code, r->msg, NULL, NULL,
                        0);
  }
  return MHD_YES;
}

/* ---------------------------------------------------------- decoding */

static dec_slot *pool_get(oa_otlp_http *h, oa_error *err) {
  pthread_mutex_lock(&h->mu);
  dec_slot *s = h->pool;
  if (s) h->pool = s->next;
  pthread_mutex_unlock(&h->mu);
  if (s) return s;
  s = calloc(1, sizeof *s);
  if (!s) {
    oa_error_set(err, ENOMEM, "out of memory for a decoder");
    return NULL;
  }
  if (oa_otlp_decoder_new(&s->pb, &h->dopts, err) != 0 ||
      oa_otlp_json_decoder_new(&s->js, &h->dopts, err) != 0) {
    oa_otlp_decoder_free(s->pb);
    free(s);
    return NULL;
  }
  return s;
}

static void pool_put(oa_otlp_http *h, dec_slot *s) {
  pthread_mutex_lock(&h->mu);
  s->next = h->pool;
  h->pool = s;
  pthread_mutex_unlock(&h->mu);
}

/* Last call for a request: the whole body is in. */
/* The whole body is in: a compressed body must have ended. */
static void req_check_end(req *r) {
  if (!r->status && r->enc == ENC_GZIP && !r->z_end)
    fail(r, MHD_HTTP_BAD_REQUEST, RPC_INVALID_ARGUMENT,
         "gzip body is truncated (%llu compressed bytes, no end of stream)",
         (unsigned long long)r->raw_len);
  if (!r->status && r->enc == ENC_ZSTD && r->zret != 0)
    fail(r, MHD_HTTP_BAD_REQUEST, RPC_INVALID_ARGUMENT,
         "zstd body is truncated (%llu compressed bytes, no complete frame)",
         (unsigned long long)r->raw_len);
  if (!r->status && r->enc == ENC_LZ4 && r->lret != 0)
    fail(r, MHD_HTTP_BAD_REQUEST, RPC_INVALID_ARGUMENT,
         "lz4 body is truncated (%llu compressed bytes, no complete frame)",
         (unsigned long long)r->raw_len);
}

/* Decodes the complete body into b and frees it; false with r failed (400,
 * 413, 500) when the decoder refused it. */
static bool req_decode(req *r, oa_otlp_decoder *pb, oa_otlp_json_decoder *js,
                       oa_batch *b, oa_otlp_result *res) {
  oa_error e;
  oa_error_clear(&e);
  memset(res, 0, sizeof *res);
  const uint8_t *data = r->body ? r->body : (const uint8_t *)"";
  int rc = r->json
               ? oa_otlp_json_decoder_decode(js, (const char *)data,
                                             (int64_t)r->len, b, res, &e)
               : oa_otlp_decoder_decode(pb, data, (int64_t)r->len, b, res, &e);
  free(r->body);
  r->body = NULL;
  r->len = r->cap = 0;
  if (rc == 0) return true;
  oa_batch_reset(b);
  if (rc == EINVAL)
    fail(r, MHD_HTTP_BAD_REQUEST, RPC_INVALID_ARGUMENT, "%s", e.message);
  else if (rc == E2BIG)
    fail(r, MHD_HTTP_CONTENT_TOO_LARGE, RPC_RESOURCE_EXHAUSTED, "%s",
         e.message);
  else
    fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, RPC_INTERNAL, "%s", e.message);
  return false;
}

static enum MHD_Result finish(oa_otlp_http *h, req *r,
                              struct MHD_Connection *c) {
  req_check_end(r);
  if (r->status)
    return reply_status(c, r->status, r->json, r->rpc_code, r->msg, NULL, NULL,
                        0);

  oa_error e;
  oa_error_clear(&e);
  dec_slot *s = pool_get(h, &e);
  if (!s)
    return reply_status(c, MHD_HTTP_INTERNAL_SERVER_ERROR, r->json,
                        RPC_INTERNAL, e.message, NULL, NULL, 0);
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  atomic_fetch_add(&h->decoded_bytes, (long long)r->len);
  bool ok = req_decode(r, s->pb, s->js, &b, &res);
  pool_put(h, s);
  if (!ok)
    return reply_status(c, r->status, r->json, r->rpc_code, r->msg, NULL, NULL,
                        0);
  int rc = 0;
  if (b.length > 0)
    rc = h->sink ? h->sink(h->sink_ctx, &b, &e)
                 : oa_datasets_append(h->ds, h->dataset, &b, &e);
  oa_batch_reset(&b);
  if (rc == EAGAIN)
    return reply_status(c, MHD_HTTP_SERVICE_UNAVAILABLE, r->json,
                        RPC_UNAVAILABLE, e.message, NULL, NULL,
                        h->retry_after_s);
  if (rc != 0)
    return reply_status(c, MHD_HTTP_INTERNAL_SERVER_ERROR, r->json,
                        RPC_INTERNAL, e.message, NULL, NULL, 0);
  r->succeeded = true;
  atomic_fetch_add(&h->accepted_spans, (long long)res.accepted_spans);
  atomic_fetch_add(&h->rejected_spans, (long long)res.rejected_spans);
  return reply_success(c, r->json, &res);
}

int oa_otlp_http_decode_request(const char *content_type,
                                const char *content_encoding,
                                const uint8_t *body, size_t len, size_t chunk,
                                int64_t max_body, oa_otlp_decoder *pb,
                                oa_otlp_json_decoder *js, oa_batch *out,
                                oa_otlp_result *res,
                                oa_otlp_http_outcome *outcome) {
  memset(outcome, 0, sizeof *outcome);
  memset(res, 0, sizeof *res);
  req *r = calloc(1, sizeof *r);
  if (!r) return ENOMEM;
  if (chunk == 0) chunk = len ? len : 1;
  if (req_prepare(r, content_type, content_encoding, len, max_body)) {
    /* libmicrohttpd hands the body over in pieces of any size */
    for (size_t off = 0; off < len && !r->status; off += chunk)
      consume(max_body, r, body + off, len - off < chunk ? len - off : chunk);
    req_check_end(r);
    if (!r->status) req_decode(r, pb, js, out, res);
  }
  outcome->status = r->status ? r->status : MHD_HTTP_OK;
  outcome->rpc_code = r->rpc_code;
  outcome->json = r->json;
  sanitize(outcome->message, sizeof outcome->message, r->msg);
  req_free(r);
  return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  oa_otlp_http *h = cls;
  req *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    *con_cls = r;
    atomic_fetch_add(&h->in_flight, 1);
    atomic_fetch_add(&h->requests, 1);
    enum MHD_Result mr = begin(h, r, c, url, method);
    if (r->answered) oa_http_listener_deadline(h->l, c, false);
    return mr;
  }
  if (r->answered) {
    *upload_size = 0;
    return MHD_YES;
  }
  if (*upload_size) {
    consume(h->max_body, r, (const uint8_t *)upload, *upload_size);
    *upload_size = 0;
    /* libmicrohttpd can only answer once the body is read: read and drop
     * what follows a failure, but not without end */
    if (r->status && r->discarded > (uint64_t)h->max_body) return MHD_NO;
    return MHD_YES;
  }
  oa_http_listener_deadline(h->l, c, false);
  return finish(h, r, c);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  oa_otlp_http *h = cls;
  req *r = *con_cls;
  if (!r) return;
  if (!r->succeeded) atomic_fetch_add(&h->failed, 1);
  atomic_fetch_add(&h->received_bytes, (long long)(r->raw_len + r->discarded));
  req_free(r);
  *con_cls = NULL;
  atomic_fetch_sub(&h->in_flight, 1);
  /* keep-alive: the next request's clock */
  oa_http_listener_deadline(h->l, c, true);
}

/* ------------------------------------------------------- start / stop */

int64_t oa_otlp_http_cut_connections(const oa_otlp_http *h) {
  return h ? oa_http_listener_cut_connections(h->l) : 0;
}

int oa_otlp_http_port(const oa_otlp_http *h) {
  return h ? oa_http_listener_port(h->l) : -1;
}

void oa_otlp_http_get_stats(const oa_otlp_http *h, oa_otlp_http_stats *st) {
  memset(st, 0, sizeof *st);
  if (!h) return;
  oa_otlp_http *m = (oa_otlp_http *)h; /* atomics are read, not changed */
  st->requests = atomic_load(&m->requests);
  st->accepted_spans = atomic_load(&m->accepted_spans);
  st->rejected_spans = atomic_load(&m->rejected_spans);
  st->failed = atomic_load(&m->failed);
  st->received_bytes = atomic_load(&m->received_bytes);
  st->decoded_bytes = atomic_load(&m->decoded_bytes);
  st->cut_connections = oa_http_listener_cut_connections(h->l);
}

static void free_handle(oa_otlp_http *h) {
  while (h->pool) {
    dec_slot *s = h->pool;
    h->pool = s->next;
    oa_otlp_decoder_free(s->pb);
    oa_otlp_json_decoder_free(s->js);
    free(s);
  }
  free(h->dataset);
  pthread_mutex_destroy(&h->mu);
  free(h);
}

int oa_otlp_http_start(oa_otlp_http **out, const oa_otlp_http_options *o,
                       oa_datasets *d, oa_error *err) {
  *out = NULL;
  oa_otlp_http_options def;
  if (!o) {
    oa_otlp_http_options_init(&def);
    o = &def;
  }
  if (!d && !o->sink)
    return oa_error_set(err, EINVAL, "OTLP/HTTP: datasets is NULL");
  if (o->max_body_size <= 0 || o->max_body_size > ((int64_t)1 << 40))
    return oa_error_set(err, EINVAL,
                        "OTLP/HTTP: max_body_size %lld out of "
                        "range",
                        (long long)o->max_body_size);
  if (o->threads < 0 || o->threads > 256)
    return oa_error_set(err, EINVAL, "OTLP/HTTP: threads %d out of range",
                        o->threads);

  oa_otlp_http *h = calloc(1, sizeof *h);
  if (!h) return oa_error_set(err, ENOMEM, "OTLP/HTTP: out of memory");
  pthread_mutex_init(&h->mu, NULL);
  atomic_init(&h->in_flight, 0);
  atomic_init(&h->requests, 0);
  atomic_init(&h->accepted_spans, 0);
  atomic_init(&h->rejected_spans, 0);
  atomic_init(&h->failed, 0);
  atomic_init(&h->received_bytes, 0);
  atomic_init(&h->decoded_bytes, 0);
  h->ds = d;
  h->sink = o->sink;
  h->sink_ctx = o->sink_ctx;
  h->max_body = o->max_body_size;
  h->retry_after_s = o->retry_after_s ? o->retry_after_s : 1;
  h->drain_timeout_ms = o->drain_timeout_ms;
  h->dopts = o->decode;
  const char *ds = o->dataset && o->dataset[0] ? o->dataset : "spans";
  h->dataset = malloc(strlen(ds) + 1);
  if (!h->dataset) {
    free_handle(h);
    return oa_error_set(err, ENOMEM, "OTLP/HTTP: out of memory");
  }
  strcpy(h->dataset, ds);

  oa_http_listener_options lo;
  memset(&lo, 0, sizeof lo);
  lo.what = "OTLP/HTTP";
  lo.listen = o->listen && o->listen[0] ? o->listen : OA_HTTP_DEFAULT_LISTEN;
  lo.tls_cert_file = o->tls_cert_file;
  lo.tls_key_file = o->tls_key_file;
  lo.tls_client_ca = o->tls_client_ca;
  lo.auth_token = o->auth_token;
  lo.threads = o->threads > 0 ? (unsigned)o->threads : 2;
  lo.connection_timeout_s = o->connection_timeout_s;
  lo.connection_limit = o->connection_limit;
  lo.request_timeout_s = o->request_timeout_s;
  lo.per_ip_connection_limit = o->per_ip_connection_limit;
  lo.handler = on_request;
  lo.completed = on_completed;
  lo.cls = h;
  int rc = oa_http_listener_start(&h->l, &lo, err);
  if (rc) {
    free_handle(h);
    return rc;
  }
  *out = h;
  return 0;
}

void oa_otlp_http_stop(oa_otlp_http *h) {
  if (!h) return;
  /* stop accepting, let requests already being read finish, then close */
  oa_http_listener_quiesce(h->l);
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (atomic_load(&h->in_flight) > 0) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms =
        (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
    if (ms >= (int64_t)h->drain_timeout_ms) break;
    struct timespec nap = {0, 2 * 1000 * 1000};
    nanosleep(&nap, NULL);
  }
  oa_http_listener_stop(h->l);
  free_handle(h);
}
