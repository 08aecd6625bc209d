/* Shared by the metrics tests (tests/receiver/test_metrics.c and
 * tests/cli/test_metrics_serve.c): a strict checker of the Prometheus text
 * exposition format 0.0.4, a lookup of one series' value, plain HTTP
 * requests over loopback and HTTPS scrapes through the curl tool (the
 * client and the certificates of http_test_client.h). */
#ifndef OA_TEST_METRICS_UTIL_H
#define OA_TEST_METRICS_UTIL_H

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "receiver/http_test_client.h"

/* ------------------------------------------------- Prometheus checker */

static inline bool pc_name(const char **p, bool colon) {
  const char *s = *p;
  if (!(isalpha((unsigned char)*s) || *s == '_' || (colon && *s == ':')))
    return false;
  while (isalnum((unsigned char)*s) || *s == '_' || (colon && *s == ':'))
    s++;
  *p = s;
  return true;
}

static inline bool pc_value(const char *s, const char *end) {
  size_t n = (size_t)(end - s);
  if ((n == 3 && !memcmp(s, "NaN", 3)) || (n == 4 && !memcmp(s, "+Inf", 4)) ||
      (n == 4 && !memcmp(s, "-Inf", 4)))
    return true;
  char buf[64];
  if (n == 0 || n >= sizeof buf) return false;
  memcpy(buf, s, n);
  buf[n] = 0;
  char *e;
  strtod(buf, &e);
  return *e == 0 && !isspace((unsigned char)buf[0]);
}

typedef struct pc_state {
  char families[256][128]; /* TYPE'd families, in order */
  char types[256][16];
  int n_families;
  char **series; /* canonical "name{sorted labels}" */
  int n_series, cap_series;
} pc_state;

static inline int pc_find(const pc_state *st, const char *name, size_t n) {
  for (int i = 0; i < st->n_families; i++)
    if (strlen(st->families[i]) == n && !memcmp(st->families[i], name, n))
      return i;
  return -1;
}

static inline int pc_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks a whole page; false with why (and the line number) when it breaks
 * a rule: every line is "# HELP name text", "# TYPE name counter|gauge|
 * untyped|summary|histogram" or a sample "name{l="v",...} value"; HELP and
 * TYPE come before the family's samples, at most once each; a family's
 * samples are together and under its TYPE; label values use only \\, \"
 * and \n escapes; no series appears twice; the page ends with a newline. */
static inline bool prom_check(const char *page, size_t len, char *why,
                              size_t cap) {
  pc_state *st = calloc(1, sizeof *st);
  bool ok = false;
  int line_no = 0;
  int current = -1; /* family of the samples being read */
  bool help_seen[256] = {0};
  bool sampled[256] = {0};
  const char *p = page, *end = page + len;
  if (len == 0 || page[len - 1] != '\n') {
    snprintf(why, cap, "page does not end with a newline");
    goto out;
  }
  while (p < end) {
    line_no++;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (memchr(p, 0, (size_t)(eol - p))) {
      snprintf(why, cap, "line %d: NUL byte", line_no);
      goto out;
    }
    if (eol == p) {
      snprintf(why, cap, "line %d: empty line", line_no);
      goto out;
    }
    if (*p == '#') {
      bool help = eol - p > 7 && !memcmp(p, "# HELP ", 7);
      bool type = eol - p > 7 && !memcmp(p, "# TYPE ", 7);
      if (!help && !type) {
        snprintf(why, cap, "line %d: comment other than HELP or TYPE", line_no);
        goto out;
      }
      const char *n0 = p + 7, *q = n0;
      if (!pc_name(&q, true) || (q < eol && *q != ' ')) {
        snprintf(why, cap, "line %d: bad metric name", line_no);
        goto out;
      }
      size_t nl = (size_t)(q - n0);
      int f = pc_find(st, n0, nl);
      if (f >= 0 && (sampled[f] || current != f)) {
        snprintf(why, cap,
                 "line %d: %s for '%.*s' after its samples or "
                 "another family",
                 line_no, help ? "HELP" : "TYPE", (int)nl, n0);
        goto out;
      }
      if (f < 0) {
        if (st->n_families == 256 || nl >= 128) {
          snprintf(why, cap, "line %d: too many families", line_no);
          goto out;
        }
        f = st->n_families++;
        memcpy(st->families[f], n0, nl);
        st->families[f][nl] = 0;
      }
      current = f;
      if (help) {
        if (help_seen[f]) {
          snprintf(why, cap, "line %d: second HELP for '%s'", line_no,
                   st->families[f]);
          goto out;
        }
        help_seen[f] = true;
        for (const char *h = q; h < eol; h++)
          if (*h == '\\' && (h + 1 >= eol || (h[1] != '\\' && h[1] != 'n'))) {
            snprintf(why, cap, "line %d: bad escape in HELP", line_no);
            goto out;
          } else if (*h == '\\') {
            h++;
          }
      } else {
        if (st->types[f][0]) {
          snprintf(why, cap, "line %d: second TYPE for '%s'", line_no,
                   st->families[f]);
          goto out;
        }
        size_t tl = (size_t)(eol - q - 1);
        const char *t = q + 1;
        if (q >= eol || !((tl == 7 && !memcmp(t, "counter", 7)) ||
                          (tl == 5 && !memcmp(t, "gauge", 5)) ||
                          (tl == 7 && !memcmp(t, "untyped", 7)) ||
                          (tl == 7 && !memcmp(t, "summary", 7)) ||
                          (tl == 9 && !memcmp(t, "histogram", 9)))) {
          snprintf(why, cap, "line %d: bad TYPE", line_no);
          goto out;
        }
        memcpy(st->types[f], t, tl);
      }
      p = eol + 1;
      continue;
    }
    /* a sample */
    const char *n0 = p, *q = p;
    if (!pc_name(&q, true)) {
      snprintf(why, cap, "line %d: sample without a metric name", line_no);
      goto out;
    }
    size_t nl = (size_t)(q - n0);
    int f = pc_find(st, n0, nl);
    if (f < 0 || f != current || !st->types[f][0]) {
      snprintf(why, cap,
               "line %d: sample of '%.*s' not under its own # TYPE line",
               line_no, (int)nl, n0);
      goto out;
    }
    sampled[f] = true;
    char *labels[32];
    int nlab = 0;
    char canon[1024];
    size_t ck = 0;
    if (q < eol && *q == '{') {
      q++;
      while (q < eol && *q != '}') {
        const char *l0 = q;
        if (!pc_name(&q, false) || q >= eol || *q != '=' || q[1] != '"') {
          snprintf(why, cap, "line %d: bad label", line_no);
          goto free_labels;
        }
        size_t ll = (size_t)(q - l0);
        q += 2;
        const char *v0 = q;
        while (q < eol && *q != '"') {
          if (*q == '\\') {
            if (q + 1 >= eol || (q[1] != '\\' && q[1] != '"' && q[1] != 'n')) {
              snprintf(why, cap, "line %d: bad escape in a label value",
                       line_no);
              goto free_labels;
            }
            q++;
          }
          q++;
        }
        if (q >= eol) {
          snprintf(why, cap, "line %d: unterminated label value", line_no);
          goto free_labels;
        }
        size_t vl = (size_t)(q - v0);
        q++;
        if (nlab == 32) {
          snprintf(why, cap, "line %d: too many labels", line_no);
          goto free_labels;
        }
        labels[nlab] = malloc(ll + vl + 4);
        snprintf(labels[nlab], ll + vl + 4, "%.*s=\"%.*s\"", (int)ll, l0,
                 (int)vl, v0);
        for (int i = 0; i < nlab; i++) {
          size_t a = strcspn(labels[i], "=");
          if (a == ll && !memcmp(labels[i], l0, ll)) {
            nlab++;
            snprintf(why, cap, "line %d: label '%.*s' repeated", line_no,
                     (int)ll, l0);
            goto free_labels;
          }
        }
        nlab++;
        if (q < eol && *q == ',')
          q++;
        else if (q < eol && *q != '}') {
          snprintf(why, cap, "line %d: expected ',' or '}'", line_no);
          goto free_labels;
        }
      }
      if (q >= eol) {
        snprintf(why, cap, "line %d: unterminated label set", line_no);
        goto free_labels;
      }
      q++;
    }
    if (q >= eol || *q != ' ') {
      snprintf(why, cap, "line %d: no space before the value", line_no);
      goto free_labels;
    }
    q++;
    const char *v_end = memchr(q, ' ', (size_t)(eol - q));
    if (!v_end) v_end = eol;
    if (!pc_value(q, v_end)) {
      snprintf(why, cap, "line %d: bad value '%.*s'", line_no, (int)(v_end - q),
               q);
      goto free_labels;
    }
    if (v_end < eol) { /* a timestamp: an integer */
      const char *t = v_end + 1;
      if (*t == '-') t++;
      if (t >= eol) {
        snprintf(why, cap, "line %d: bad timestamp", line_no);
        goto free_labels;
      }
      for (; t < eol; t++)
        if (!isdigit((unsigned char)*t)) {
          snprintf(why, cap, "line %d: bad timestamp", line_no);
          goto free_labels;
        }
    }
    qsort(labels, (size_t)nlab, sizeof labels[0], pc_cmp);
    ck = (size_t)snprintf(canon, sizeof canon, "%.*s{", (int)nl, n0);
    for (int i = 0; i < nlab && ck < sizeof canon; i++)
      ck += (size_t)snprintf(canon + ck, sizeof canon - ck, "%s%s",
                             i ? "," : "", labels[i]);
    for (int i = 0; i < st->n_series; i++)
      if (!strcmp(st->series[i], canon)) {
        snprintf(why, cap, "line %d: series %.150s} repeated", line_no, canon);
        goto free_labels;
      }
    if (st->n_series == st->cap_series) {
      st->cap_series = st->cap_series ? st->cap_series * 2 : 64;
      st->series = realloc(st->series, sizeof(char *) * (size_t)st->cap_series);
    }
    st->series[st->n_series++] = strdup(canon);
    for (int i = 0; i < nlab; i++)
      free(labels[i]);
    p = eol + 1;
    continue;
  free_labels:
    for (int i = 0; i < nlab; i++)
      free(labels[i]);
    goto out;
  }
  ok = true;
out:
  for (int i = 0; i < st->n_series; i++)
    free(st->series[i]);
  free(st->series);
  free(st);
  return ok;
}

/* The value of the series written exactly as key ("name" or
 * "name{a=\"b\"}") at the start of a line; NAN when absent. */
static inline double prom_value(const char *page, const char *key) {
  size_t kl = strlen(key);
  for (const char *p = page; p && *p;) {
    if (!strncmp(p, key, kl) && p[kl] == ' ') return strtod(p + kl + 1, NULL);
    p = strchr(p, '\n');
    if (p) p++;
  }
  return NAN;
}

/* ------------------------------------------------------ HTTP over TCP */

/* The names the metrics tests use for the shared client. */
typedef ht_resp mt_resp;

static inline void mt_resp_free(mt_resp *r) { ht_resp_free(r); }

static inline const char *mt_header(const mt_resp *r, const char *name,
                                    char *buf, size_t cap) {
  return ht_header(r, name, buf, cap);
}

/* One request on a fresh connection (Connection: close); extra holds more
 * header lines (with Content-Length when there is a body). 0, or -1 when
 * the connection or the answer failed. */
static inline int mt_request_body(int port, const char *method,
                                  const char *path, const char *extra,
                                  const void *body, size_t blen, mt_resp *out) {
  return ht_send(port,
                 &(ht_request){.method = method,
                               .path = path,
                               .extra = extra,
                               .body = body,
                               .len = blen,
                               .no_length = true},
                 out);
}

static inline int mt_request(int port, const char *method, const char *path,
                             const char *extra, mt_resp *out) {
  return mt_request_body(port, method, path, extra, NULL, 0, out);
}

/* ----------------------------------------------- TLS through the tools */

/* The certificates of test_pki.h's CA and client (ca, server, client and
 * rogue .pem/.key) in a new directory; false when openssl is missing or
 * failed. */
static inline bool mt_make_pki(char *dir, size_t cap) {
  return oa_test_pki_make(dir, cap, OA_TEST_PKI_CA | OA_TEST_PKI_CLIENT);
}

static inline void mt_rm_dir(const char *dir) { ht_rm_dir(dir); }

static inline bool mt_have_curl(void) {
  return system("curl --version >/dev/null 2>&1") == 0;
}

/* GET url with curl: client is NULL (no certificate), "client" or "rogue"
 * (files in dir), token NULL or the bearer token. Returns the HTTP status
 * (0: no HTTP answer, e.g. a failed handshake); the body in body. */
static inline int mt_curl(const char *dir, const char *url, const char *client,
                          const char *token, char *body, size_t cap) {
  char cmd[2048], out[600];
  snprintf(out, sizeof out, "%s/curl.out", dir);
  int k = snprintf(cmd, sizeof cmd,
                   "curl -s -m 20 -o '%s' -w '%%{http_code}' --cacert "
                   "'%s/ca.pem'",
                   out, dir);
  if (client)
    k += snprintf(cmd + k, sizeof cmd - (size_t)k,
                  " --cert '%s/%s.pem' --key '%s/%s.key'", dir, client, dir,
                  client);
  if (token)
    k += snprintf(cmd + k, sizeof cmd - (size_t)k,
                  " -H 'Authorization: Bearer %s'", token);
  snprintf(cmd + k, sizeof cmd - (size_t)k, " '%s' 2>/dev/null", url);
  body[0] = 0;
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  char code[16] = {0};
  size_t n = fread(code, 1, sizeof code - 1, p);
  code[n] = 0;
  pclose(p);
  FILE *f = fopen(out, "rb");
  if (f) {
    size_t m = fread(body, 1, cap - 1, f);
    body[m] = 0;
    fclose(f);
    remove(out);
  }
  return atoi(code);
}

#endif
