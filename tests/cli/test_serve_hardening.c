/* `otlparrow serve` safety switches, run as a process ($OA_BIN):
 * --require-tls (flag and config key) refuses any plaintext listener and
 * starts with TLS on every listener; a plaintext listener on every
 * interface is warned about; the configuration file refuses what it does
 * not understand (nested values, aliases, oversized files, bad booleans)
 * with the line and the reason. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static const char *bin(void) {
  const char *b = getenv("OA_BIN");
  return b && *b ? b : "otlparrow";
}

/* Runs `otlparrow serve ARGS` with stdout and stderr in out; the exit
 * status, or -1. */
static int run_serve(const char *args, char *out, size_t cap) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "timeout --preserve-status -s INT 3 %s serve %s 2>&1", bin(), args);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static char dir[64];

OA_TEST(test_require_tls_refuses_plaintext) {
  char out[8192];
  int rc = run_serve("--require-tls --otlp-grpc 127.0.0.1:0 --otlp-http off "
                     "--flight off",
                     out, sizeof out);
  CHECK_EQ_INT(rc, 1);
  CHECK(strstr(out, "--require-tls: --otlp-grpc 127.0.0.1:0 would accept "
                    "plaintext") != NULL);
  CHECK(strstr(out, "ready") == NULL);
  /* every listener counts, not only the first */
  rc = run_serve("--require-tls --otlp-grpc off --otlp-http off --flight "
                 "127.0.0.1:0",
                 out, sizeof out);
  CHECK_EQ_INT(rc, 1);
  CHECK(strstr(out, "--flight 127.0.0.1:0 would accept plaintext") != NULL);
  /* the same from the configuration file */
  char cfg[128], args[512];
  snprintf(cfg, sizeof cfg, "%s/tls.yaml", dir);
  write_file(cfg, "require_tls: yes\notlp_http: 127.0.0.1:0\n");
  snprintf(args, sizeof args, "--config %s --otlp-grpc off --flight off", cfg);
  rc = run_serve(args, out, sizeof out);
  CHECK_EQ_INT(rc, 1);
  CHECK(strstr(out, "--require-tls: --otlp-http 127.0.0.1:0") != NULL);
  /* and a flag turns a config's require_tls back off */
  snprintf(args, sizeof args,
           "--config %s --require-tls=false --otlp-grpc off --flight off "
           "--otlp-http 127.0.0.1:0",
           cfg);
  rc = run_serve(args, out, sizeof out);
  CHECK_EQ_INT(rc, 0);
  CHECK(strstr(out, "ready") != NULL);
}

OA_TEST(test_plaintext_everywhere_is_warned) {
  char out[8192];
  int rc = run_serve("--otlp-grpc 0.0.0.0:0 --otlp-http 127.0.0.1:0 "
                     "--flight off --auth-token t0ken",
                     out, sizeof out);
  CHECK_EQ_INT(rc, 0);
  CHECK(strstr(out, "warning: --otlp-grpc 0.0.0.0:0 is reachable from other "
                    "machines without TLS (the bearer token travels in "
                    "clear)") != NULL);
  /* loopback is not warned about, and the token itself is never printed */
  CHECK(strstr(out, "--otlp-http 127.0.0.1:0 is reachable") == NULL);
  CHECK(strstr(out, "t0ken") == NULL);
}

OA_TEST(test_require_tls_with_certificates) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
           "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 "
           "-keyout key.pem -out cert.pem >/dev/null 2>&1",
           dir);
  if (system(cmd) != 0) {
    printf("openssl missing: skipped\n");
    return;
  }
  char out[8192], args[1024];
  snprintf(args, sizeof args,
           "--require-tls --tls-cert %s/cert.pem --tls-key %s/key.pem "
           "--otlp-grpc 127.0.0.1:0 --otlp-http 127.0.0.1:0 --flight "
           "127.0.0.1:0 --auth-token s3cr3t-value",
           dir, dir);
  int rc = run_serve(args, out, sizeof out);
  CHECK_EQ_INT(rc, 0);
  CHECK(strstr(out, "OTLP/gRPC on 127.0.0.1:") != NULL);
  CHECK(strstr(out, "(TLS)") != NULL);
  CHECK(strstr(out, "(HTTPS)") != NULL);
  CHECK(strstr(out, "ready") != NULL);
  CHECK(strstr(out, "s3cr3t-value") == NULL);
  CHECK(strstr(out, "PRIVATE") == NULL);
}

OA_TEST(test_config_file_refusals) {
  struct {
    const char *text;
    const char *msg;
  } cases[] = {
      {"otlp_grpc:\n  host: x\n", "line 2: expected 'key: value' lines"},
      {"- a\n- b\n", "line 1: expected 'key: value' lines"},
      {"otlp_grpc: &x off\nflight: *x\n", "aliases are not supported"},
      {"max_memory: 1\n---\nmax_memory: 2\n", "more than one YAML document"},
      {"require_tls: maybe\n", "line 1: require_tls must be true or false"},
      {"max_memory: lots\n", "line 1: max_memory must be a size"},
      {"no_such_option: 1\n", "unknown option 'no_such_option'"},
      {"otlp_grpc: b: c\n", "line 1: mapping values are not allowed"},
  };
  char cfg[128], args[256], out[8192];
  snprintf(cfg, sizeof cfg, "%s/bad.yaml", dir);
  snprintf(args, sizeof args, "--config %s", cfg);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_file(cfg, cases[i].text);
    int rc = run_serve(args, out, sizeof out);
    CHECK_EQ_INT(rc, 1);
    if (!strstr(out, cases[i].msg)) {
      fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, out, cases[i].msg);
      CHECK(0);
    }
  }
  /* larger than 1 MiB: refused before parsing */
  FILE *f = fopen(cfg, "w");
  CHECK(f != NULL);
  if (!f) return;
  for (int i = 0; i < 70000; i++)
    fputs("# padding comment\n", f);
  fclose(f);
  CHECK_EQ_INT(run_serve(args, out, sizeof out), 1);
  CHECK(strstr(out, "larger than the limit of 1048576") != NULL);
  /* a missing file */
  CHECK_EQ_INT(run_serve("--config /nonexistent/x.yaml", out, sizeof out), 1);
  CHECK(strstr(out, "cannot open '/nonexistent/x.yaml'") != NULL);
}

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/oa-serve-hardening-XXXXXX");
  if (!mkdtemp(dir)) abort();
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void all(void) {
  setup();
  test_require_tls_refuses_plaintext();
  test_plaintext_everywhere_is_warned();
  test_require_tls_with_certificates();
  test_config_file_refusals();
  teardown();
}

OA_TEST_MAIN(OA_T(all))
