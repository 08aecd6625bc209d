/* `otlparrow serve` safety switches, run as a process ($OA_BIN):
 * --require-tls (flag and config key) refuses any plaintext listener and
 * starts with TLS on every listener; a plaintext listener on every
 * interface is warned about; the configuration file refuses what it does
 * not understand (nested values, aliases, oversized files, bad booleans)
 * with the line and the reason. The limit flags (and the same config keys)
 * refuse bad values naming the flag; a Flight DoPut over
 * --max-flight-recv-size is refused with RESOURCE_EXHAUSTED naming the
 * flag while smaller puts keep being stored, and a gRPC listener refuses
 * connections beyond --max-grpc-connections; OTLP/HTTP closes a second
 * connection from one address under --max-http-connections-per-ip 1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
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

OA_TEST(test_limit_flags_validated) {
  struct {
    const char *args;
    const char *msg;
  } cases[] = {
      {"--max-grpc-connections -1",
       "serve: --max-grpc-connections must be a number from 0 to 1048576, "
       "not '-1'"},
      {"--max-grpc-memory 100M",
       "--max-grpc-memory 104857600 must be at least twice "
       "--max-flight-recv-size"},
      {"--flight off --max-grpc-memory 4M",
       "--max-grpc-memory 4194304 must be at least twice --max-recv-size"},
      {"--max-concurrent-streams 0",
       "--max-concurrent-streams must be a number from 1"},
      {"--grpc-write-timeout soon",
       "serve: --grpc-write-timeout must be a duration"},
      {"--grpc-write-timeout 2d", "--grpc-write-timeout must be a duration "
                                  "up to 1d"},
      {"--max-flight-recv-size 3G",
       "--max-flight-recv-size must be a number from 1 to 2147483647"},
      {"--max-flight-decompressed-size=lots",
       "--max-flight-decompressed-size must be a number"},
      {"--max-dictionary-size 0", "--max-dictionary-size must be a number"},
      {"--max-http-connections 0", "--max-http-connections must be a number"},
      {"--max-http-connections-per-ip x",
       "--max-http-connections-per-ip must be a number from 0"},
      {"--max-spans-per-request 0", "--max-spans-per-request must be"},
      {"--max-attributes 2G", "--max-attributes must be a number from 1 to "
                              "1073741824"},
      {"--max-events -3", "--max-events must be"},
      {"--max-links 1.5", "--max-links must be"},
      {"--max-attribute-depth 1000",
       "--max-attribute-depth must be a number from 1 to 256"},
      {"--threads 0", "serve: --threads must be 1..64"},
      {"--max-memory 1X", "serve: --max-memory must be a size in bytes"},
  };
  char out[8192];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = run_serve(cases[i].args, out, sizeof out);
    CHECK_EQ_INT(rc, 1);
    if (!strstr(out, cases[i].msg)) {
      fprintf(stderr, "'%s': '%s' lacks '%s'\n", cases[i].args, out,
              cases[i].msg);
      CHECK(0);
    }
  }
  /* the config keys are checked the same way and named as written */
  char cfg[128], args[512];
  snprintf(cfg, sizeof cfg, "%s/limits.yaml", dir);
  write_file(cfg, "max_flight_recv_size: 64M\nmax_http_connections_per_ip: "
                  "many\n");
  snprintf(args, sizeof args, "--config %s", cfg);
  CHECK_EQ_INT(run_serve(args, out, sizeof out), 1);
  CHECK(strstr(out, "line 2: max_http_connections_per_ip must be a number "
                    "from 0 to 1048576, not 'many'") != NULL);
  /* every limit at once, valid, from both places */
  write_file(cfg, "max_grpc_connections: 16\nmax_concurrent_streams: 8\n"
                  "max_grpc_memory: 512M\n"
                  "grpc_write_timeout: 2s\nmax_flight_recv_size: 64M\n"
                  "max_flight_decompressed_size: 128M\n"
                  "max_dictionary_size: 1M\nmax_http_connections: 100\n"
                  "max_http_connections_per_ip: 4\n"
                  "max_spans_per_request: 100000\nmax_attributes: 128\n"
                  "max_events: 64\nmax_links: 64\nmax_attribute_depth: 8\n");
  snprintf(args, sizeof args,
           "--config %s --otlp-grpc 127.0.0.1:0 --otlp-http 127.0.0.1:0 "
           "--flight 127.0.0.1:0 --grpc-write-timeout 500ms "
           "--max-grpc-connections 0",
           cfg);
  CHECK_EQ_INT(run_serve(args, out, sizeof out), 0);
  CHECK(strstr(out, "ready") != NULL);
}

/* Reads lines of serve's output until "ready"; the port after `what`. */
static int read_port(FILE *p, const char *what) {
  char line[1024];
  int port = 0;
  while (fgets(line, sizeof line, p)) {
    const char *at = strstr(line, what);
    if (at) {
      const char *colon = strrchr(at, ':');
      if (colon) port = atoi(colon + 1);
    }
    if (strstr(line, "ready")) break;
  }
  return port;
}

/* Runs cmd; its output in out, the exit status. */
static int run(const char *cmd, char *out, size_t cap) {
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

OA_TEST(test_flight_limits_end_to_end) {
  char cmd[1024], out[8192];
  /* serve's pid first, so that it can be stopped before its timeout */
  snprintf(cmd, sizeof cmd,
           "sh -c 'echo pid $$; exec timeout -s INT 30 %s serve --otlp-grpc "
           "off --otlp-http off --flight 127.0.0.1:0 --max-flight-recv-size "
           "1M --max-grpc-connections 3' 2>&1",
           bin());
  FILE *srv = popen(cmd, "r");
  CHECK(srv != NULL);
  if (!srv) return;
  long pid = 0;
  if (fscanf(srv, "pid %ld\n", &pid) != 1) pid = 0;
  int port = read_port(srv, "Arrow Flight on");
  CHECK(pid > 0);
  CHECK(port > 0);
  if (port > 0) {
    /* 10,000 spans are about 3 MB in one message: over 1 MiB */
    snprintf(cmd, sizeof cmd,
             "%s loadgen --flight 127.0.0.1:%d --mode put --batch-spans 10000 "
             "--connections 1 --concurrency 1 --requests 2 2>&1",
             bin(), port);
    run(cmd, out, sizeof out);
    if (!strstr(out, "RESOURCE_EXHAUSTED") ||
        !strstr(out, "--max-flight-recv-size") || !strstr(out, "1048576")) {
      fprintf(stderr, "loadgen: %s\n", out);
      CHECK(0);
    }
    /* smaller batches are stored by the same server */
    snprintf(cmd, sizeof cmd,
             "%s loadgen --flight 127.0.0.1:%d --mode put --batch-spans 500 "
             "--connections 2 --concurrency 1 --requests 4 2>&1",
             bin(), port);
    int rc = run(cmd, out, sizeof out);
    CHECK_EQ_INT(rc, 0);
    if (!strstr(out, "errors: 0")) {
      fprintf(stderr, "loadgen: %s\n", out);
      CHECK(0);
    }
    /* 4 connections at once against a bound of 3: some calls fail
     * UNAVAILABLE, the others are served */
    snprintf(cmd, sizeof cmd,
             "%s loadgen --flight 127.0.0.1:%d --mode put --batch-spans 500 "
             "--connections 4 --concurrency 1 --requests 40 2>&1",
             bin(), port);
    run(cmd, out, sizeof out);
    if (!strstr(out, "UNAVAILABLE")) {
      fprintf(stderr, "loadgen: %s\n", out);
      CHECK(0);
    }
  }
  if (pid > 0) kill((pid_t)pid, SIGINT);
  while (fgets(out, sizeof out, srv)) {
  }
  pclose(srv);
}

static int dial_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  struct timeval tv = {5, 0};
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/* Sends a bodyless POST on fd; the first bytes of the answer ("" when the
 * server closed the connection without one). */
static void http_ask(int fd, char *out, size_t cap) {
  static const char req[] = "POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
                            "Content-Type: application/x-protobuf\r\n"
                            "Content-Length: 0\r\nConnection: close\r\n\r\n";
  out[0] = 0;
  if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) return;
  ssize_t n = read(fd, out, cap - 1);
  out[n > 0 ? n : 0] = 0;
}

OA_TEST(test_http_connections_per_ip_end_to_end) {
  char cmd[1024], out[4096];
  snprintf(cmd, sizeof cmd,
           "sh -c 'echo pid $$; exec timeout -s INT 30 %s serve --otlp-grpc "
           "off --flight off --otlp-http 127.0.0.1:0 "
           "--max-http-connections-per-ip 1' 2>&1",
           bin());
  FILE *srv = popen(cmd, "r");
  CHECK(srv != NULL);
  if (!srv) return;
  long pid = 0;
  if (fscanf(srv, "pid %ld\n", &pid) != 1) pid = 0;
  int port = read_port(srv, "OTLP/HTTP on");
  CHECK(pid > 0);
  CHECK(port > 0);
  if (port > 0) {
    int a = dial_tcp(port); /* holds the address's only slot */
    CHECK(a >= 0);
    struct timespec t = {0, 200000000L};
    nanosleep(&t, NULL); /* let the server accept it first */
    int b = dial_tcp(port);
    if (b >= 0) {
      http_ask(b, out, sizeof out);
      CHECK(strncmp(out, "HTTP/1.1", 8) != 0); /* closed unanswered */
      close(b);
    }
    /* once the first one leaves, the address gets an answer again */
    http_ask(a, out, sizeof out);
    CHECK(strncmp(out, "HTTP/1.1", 8) == 0);
    close(a);
    int c = -1;
    for (int i = 0; i < 50; i++) { /* the server notices the close */
      c = dial_tcp(port);
      if (c < 0) break;
      http_ask(c, out, sizeof out);
      close(c);
      if (strncmp(out, "HTTP/1.1", 8) == 0) break;
      nanosleep(&t, NULL);
    }
    if (strncmp(out, "HTTP/1.1", 8) != 0) {
      fprintf(stderr, "third connection: '%s'\n", out);
      CHECK(0);
    }
  }
  if (pid > 0) kill((pid_t)pid, SIGINT);
  while (fgets(out, sizeof out, srv)) {
  }
  pclose(srv);
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
  test_limit_flags_validated();
  test_flight_limits_end_to_end();
  test_http_connections_per_ip_end_to_end();
  teardown();
}

OA_TEST_MAIN(OA_T(all))
