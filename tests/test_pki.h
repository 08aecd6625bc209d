/* Test certificates made by the openssl command-line tool at test time, in
 * a new temporary directory, for the TLS and mutual-TLS tests of every
 * module (one maker, so that all tests trust the same kinds of
 * certificates). */
#ifndef OA_TEST_PKI_H
#define OA_TEST_PKI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What oa_test_pki_make makes (an OR of these); the files in the
 * directory: */
enum {
  /* cert.pem, key.pem: self-signed for localhost and 127.0.0.1, trusted as
   * its own CA (server, client and root at once) */
  OA_TEST_PKI_SELF_SIGNED = 1,
  /* ca.pem, ca.key: a CA; server.pem, server.key: signed by it, for
   * localhost and 127.0.0.1, TLS servers only */
  OA_TEST_PKI_CA = 2,
  /* (with OA_TEST_PKI_CA) client.pem, client.key: signed by the CA, TLS
   * clients only; rogue.pem, rogue.key: self-signed with the client's
   * subject, to be refused */
  OA_TEST_PKI_CLIENT = 4,
};

#define OA_TEST_PKI_SAN_ "subjectAltName=IP:127.0.0.1,DNS:localhost"

/* Appends to cmd; false when it would not fit. */
static inline bool oa_test_pki_cat_(char *cmd, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline bool oa_test_pki_cat_(char *cmd, size_t cap, const char *fmt,
                                    ...) {
  size_t n = strlen(cmd);
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(cmd + n, cap - n, fmt, ap);
  va_end(ap);
  return k >= 0 && (size_t)k < cap - n;
}

/* A self-signed certificate: subject CN=cn, extra -addext arguments. */
static inline bool oa_test_pki_self_(char *cmd, size_t cap, const char *cn,
                                     const char *addext, const char *key,
                                     const char *pem) {
  return oa_test_pki_cat_(cmd, cap,
                          "openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
                          "-subj /CN=%s %s -keyout %s -out %s && ",
                          cn, addext, key, pem);
}

/* A certificate named name (.pem, .key) signed by the CA, with the
 * extensions in name.ext. */
static inline bool oa_test_pki_signed_(char *cmd, size_t cap, const char *cn,
                                       const char *name, const char *ext) {
  return oa_test_pki_cat_(
      cmd, cap,
      "printf '%s' > %s.ext && "
      "openssl req -newkey rsa:2048 -nodes -subj /CN=%s "
      "-keyout %s.key -out %s.csr && "
      "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key "
      "-CAcreateserial -days 1 -extfile %s.ext -out %s.pem && ",
      ext, name, cn, name, name, name, name, name);
}

/* Removes a test's temporary directory and what is in it; false (said on
 * stdout) when that failed. */
static inline bool oa_test_rm_dir(const char *dir) {
  if (!dir || !*dir) return true;
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) == 0) return true;
  printf("could not remove %s\n", dir);
  return false;
}

/* Makes what (OA_TEST_PKI_*) in a new directory under /tmp, its name in
 * dir. False, the directory removed, when openssl is missing or failed: the
 * caller skips its test. */
static inline bool oa_test_pki_make(char *dir, size_t cap, unsigned what) {
  snprintf(dir, cap, "/tmp/oa-test-pki-XXXXXX");
  if (!mkdtemp(dir)) {
    dir[0] = '\0';
    return false;
  }
  char cmd[4096] = "";
  /* a client certificate needs the CA that signs it */
  bool ok = (what & OA_TEST_PKI_CLIENT) == 0 || (what & OA_TEST_PKI_CA) != 0;
  ok = ok && oa_test_pki_cat_(cmd, sizeof cmd, "(cd '%s' && ", dir);
  if (ok && (what & OA_TEST_PKI_SELF_SIGNED))
    ok = oa_test_pki_self_(cmd, sizeof cmd, "localhost",
                           "-addext " OA_TEST_PKI_SAN_, "key.pem", "cert.pem");
  if (ok && (what & OA_TEST_PKI_CA))
    ok = oa_test_pki_self_(cmd, sizeof cmd, "oa-test-ca",
                           "-addext basicConstraints=critical,CA:TRUE "
                           "-addext keyUsage=critical,keyCertSign,cRLSign",
                           "ca.key", "ca.pem") &&
         oa_test_pki_signed_(cmd, sizeof cmd, "localhost", "server",
                             OA_TEST_PKI_SAN_
                             "\\nextendedKeyUsage=serverAuth\\n");
  if (ok && (what & OA_TEST_PKI_CLIENT))
    ok = oa_test_pki_signed_(cmd, sizeof cmd, "oa-test-client", "client",
                             "extendedKeyUsage=clientAuth\\n") &&
         oa_test_pki_self_(cmd, sizeof cmd, "oa-test-client", "", "rogue.key",
                           "rogue.pem");
  ok = ok && oa_test_pki_cat_(cmd, sizeof cmd, "true) >/dev/null 2>&1") &&
       system(cmd) == 0;
  if (!ok) {
    oa_test_rm_dir(dir);
    dir[0] = '\0';
  }
  return ok;
}

#endif
