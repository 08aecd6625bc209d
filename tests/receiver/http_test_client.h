/* A small raw-socket HTTP/1.1 client over loopback for the receiver tests
 * and, through metrics_test_util.h, the metrics tests: one request per
 * connection (Connection: close), Content-Length or chunked bodies, a
 * parser of the first answer (shared with the HTTPS client of
 * test_otlp_http.c); test certificates come from test_pki.h. */
#ifndef OA_TEST_HTTP_CLIENT_H
#define OA_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "test_pki.h"

typedef struct ht_resp {
  int status;
  char head[8192]; /* status line and headers */
  char *body;      /* NUL-terminated */
  size_t body_len;
} ht_resp;

static inline void ht_resp_free(ht_resp *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

/* Header value (copied into buf) or NULL. */
static inline const char *ht_header(const ht_resp *r, const char *name,
                                    char *buf, size_t cap) {
  size_t nl = strlen(name);
  for (const char *p = strstr(r->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
    const char *line = p + 2;
    if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char *v = line + nl + 1;
      while (*v == ' ')
        v++;
      size_t n = strcspn(v, "\r\n");
      if (n >= cap) n = cap - 1;
      memcpy(buf, v, n);
      buf[n] = 0;
      return buf;
    }
  }
  return NULL;
}

/* A connected socket to 127.0.0.1:port with 20 s send and receive
 * timeouts (a hung server fails the test instead of stalling it), or -1. */
static inline int ht_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct timeval tv = {20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static inline bool ht_send_all(int fd, const void *data, size_t n) {
  const uint8_t *p = data;
  while (n) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    p += k;
    n -= (size_t)k;
  }
  return true;
}

/* Parses the first answer in buf[0..n) (the body cut at its
 * Content-Length) and frees buf. 0, or -1 when it is not an HTTP answer. */
static inline int ht_parse_response(char *buf, size_t n, ht_resp *out) {
  memset(out, 0, sizeof *out);
  char *end = n >= 4 ? memmem(buf, n, "\r\n\r\n", 4) : NULL;
  if (!end || n < 12 || memcmp(buf, "HTTP/1.", 7) != 0) {
    free(buf);
    return -1;
  }
  size_t hl = (size_t)(end - buf) + 2; /* keep the last header's \r\n */
  if (hl >= sizeof out->head) hl = sizeof out->head - 1;
  memcpy(out->head, buf, hl);
  out->head[hl] = 0;
  if (sscanf(out->head, "HTTP/1.%*d %d", &out->status) != 1) {
    free(buf);
    return -1;
  }
  size_t off = (size_t)(end - buf) + 4;
  out->body_len = n - off;
  char cl[32];
  if (ht_header(out, "Content-Length", cl, sizeof cl) &&
      (size_t)atoll(cl) < out->body_len)
    out->body_len = (size_t)atoll(cl);
  out->body = malloc(out->body_len + 1);
  memcpy(out->body, buf + off, out->body_len);
  out->body[out->body_len] = 0;
  free(buf);
  return 0;
}

/* Reads until the server closes (the request said Connection: close) and
 * parses the first answer. */
static inline int ht_read_response(int fd, ht_resp *out) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (n == cap) buf = realloc(buf, cap *= 2);
    ssize_t k = recv(fd, buf + n, cap - n, 0);
    if (k <= 0) break;
    n += (size_t)k;
  }
  return ht_parse_response(buf, n, out);
}

typedef struct ht_request {
  const char *method; /* default POST */
  const char *path;   /* default /v1/traces */
  const char *ctype;  /* Content-Type or NULL */
  const char *extra;  /* more header lines, each ending in \r\n */
  const void *body;
  size_t len;
  bool chunked;      /* Transfer-Encoding: chunked instead of a length */
  bool headers_only; /* announce len but send no body */
  bool no_length;    /* no length header: extra has it, or there is no body */
} ht_request;

/* The request line and headers of q. */
static inline int ht_request_head(const ht_request *q, bool keep_alive,
                                  char *head, size_t cap) {
  int hn =
      snprintf(head, cap,
               "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Connection: %s\r\n",
               q->method ? q->method : "POST", q->path ? q->path : "/v1/traces",
               keep_alive ? "keep-alive" : "close");
  if (q->ctype)
    hn +=
        snprintf(head + hn, cap - (size_t)hn, "Content-Type: %s\r\n", q->ctype);
  if (q->extra) hn += snprintf(head + hn, cap - (size_t)hn, "%s", q->extra);
  if (q->chunked)
    hn +=
        snprintf(head + hn, cap - (size_t)hn, "Transfer-Encoding: chunked\r\n");
  else if (!q->no_length)
    hn += snprintf(head + hn, cap - (size_t)hn, "Content-Length: %zu\r\n",
                   q->len);
  hn += snprintf(head + hn, cap - (size_t)hn, "\r\n");
  return hn;
}

/* Sends q on a fresh connection and reads the answer: 0, or -1 when the
 * connection or the answer failed. Failed sends are ignored: the server may
 * answer (413, 400) before it has read the whole body. */
static inline int ht_send(int port, const ht_request *q, ht_resp *out) {
  memset(out, 0, sizeof *out);
  int fd = ht_connect(port);
  if (fd < 0) return -1;
  char head[2048];
  int hn = ht_request_head(q, false, head, sizeof head);
  ht_send_all(fd, head, (size_t)hn);
  if (q->chunked) {
    const uint8_t *p = q->body;
    for (size_t off = 0; off < q->len;) {
      size_t k = q->len - off < 65536 ? q->len - off : 65536;
      char ch[32];
      int cn = snprintf(ch, sizeof ch, "%zx\r\n", k);
      if (!ht_send_all(fd, ch, (size_t)cn) || !ht_send_all(fd, p + off, k) ||
          !ht_send_all(fd, "\r\n", 2))
        break;
      off += k;
    }
    ht_send_all(fd, "0\r\n\r\n", 5);
  } else if (!q->headers_only && q->len) {
    ht_send_all(fd, q->body, q->len);
  }
  int rc = ht_read_response(fd, out);
  close(fd);
  return rc;
}

static inline void ht_rm_dir(const char *dir) { oa_test_rm_dir(dir); }

#endif
