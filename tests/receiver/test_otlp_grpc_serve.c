/* `otlparrow serve` as a process: YAML config, flags over config, the
 * memory limit answered UNAVAILABLE, SIGINT draining to exit 0, and clear
 * errors for bad options, TLS files and busy ports. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../grpc/grpc_client.h"
#include "otlparrow/otlp.h"
#include "test.h"

extern char **environ;

#define EXPORT "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

typedef struct proc {
  pid_t pid;
  int out, err;
  char out_text[8192], err_text[8192];
  size_t out_len, err_len;
} proc;

static const char *bin(void) {
  const char *b = getenv("OA_BIN");
  return b ? b : "./otlparrow";
}

static void spawn_serve(proc *p, const char *const *args) {
  memset(p, 0, sizeof *p);
  int o[2], e[2];
  if (pipe(o) || pipe(e)) abort();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, o[1], 1);
  posix_spawn_file_actions_adddup2(&fa, e[1], 2);
  posix_spawn_file_actions_addclose(&fa, o[0]);
  posix_spawn_file_actions_addclose(&fa, e[0]);
  char *argv[32];
  int n = 0;
  argv[n++] = (char *)bin();
  argv[n++] = (char *)"serve";
  for (int i = 0; args[i] && n < 31; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  if (posix_spawn(&p->pid, bin(), &fa, NULL, argv, environ) != 0) abort();
  posix_spawn_file_actions_destroy(&fa);
  close(o[1]);
  close(e[1]);
  p->out = o[0];
  p->err = e[0];
  fcntl(p->out, F_SETFL, O_NONBLOCK);
  fcntl(p->err, F_SETFL, O_NONBLOCK);
}

static void drain(proc *p) {
  ssize_t k;
  while (p->out_len < sizeof p->out_text - 1 &&
         (k = read(p->out, p->out_text + p->out_len,
                   sizeof p->out_text - 1 - p->out_len)) > 0)
    p->out_len += (size_t)k;
  while (p->err_len < sizeof p->err_text - 1 &&
         (k = read(p->err, p->err_text + p->err_len,
                   sizeof p->err_text - 1 - p->err_len)) > 0)
    p->err_len += (size_t)k;
  p->out_text[p->out_len] = 0;
  p->err_text[p->err_len] = 0;
}

/* Waits (up to ms) for the process to exit; returns its exit status, or -1
 * (killed) on timeout. */
static int wait_exit(proc *p, int ms) {
  int st = 0;
  for (int waited = 0; waited < ms; waited += 10) {
    drain(p);
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
      drain(p);
      close(p->out);
      close(p->err);
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    struct timespec ts = {0, 10000000L};
    nanosleep(&ts, NULL);
  }
  kill(p->pid, SIGKILL);
  waitpid(p->pid, &st, 0);
  close(p->out);
  close(p->err);
  return -1;
}

/* Waits for "ready" and returns the OTLP/gRPC port (0 if none). */
static int wait_ready(proc *p, int ms) {
  for (int waited = 0; waited < ms; waited += 10) {
    drain(p);
    if (strstr(p->out_text, "ready")) {
      const char *g = strstr(p->out_text, "OTLP/gRPC on 127.0.0.1:");
      return g ? atoi(g + strlen("OTLP/gRPC on 127.0.0.1:")) : 0;
    }
    if (waitpid(p->pid, NULL, WNOHANG) == p->pid) return -1;
    struct timespec ts = {0, 10000000L};
    nanosleep(&ts, NULL);
  }
  return -1;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

OA_TEST(test_config_memory_limit_sigint) {
  char dir[] = "/tmp/oa-serve-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char cfg[128], dump[128];
  snprintf(cfg, sizeof cfg, "%s/serve.yaml", dir);
  snprintf(dump, sizeof dump, "%s/spans.arrow", dir);
  /* the config says 4317 for gRPC: the flag overrides it with port 0 */
  write_file(cfg, "# test config\n"
                  "otlp_grpc: 127.0.0.1:4317\n"
                  "otlp_http: \"off\"\n"
                  "flight: off\n"
                  "max_memory: 200K\n"
                  "max_recv_size: 1M\n");
  const char *args[] = {"--config",       cfg,  "--otlp-grpc", "127.0.0.1:0",
                        "--dump-on-exit", dump, NULL};
  proc p;
  spawn_serve(&p, args);
  int port = wait_ready(&p, 10000);
  CHECK(port > 0 && port != 4317);
  CHECK(strstr(p.out_text, "max memory 204800 bytes") != NULL);
  if (port <= 0) {
    fprintf(stderr, "serve: %s\n%s\n", p.out_text, p.err_text);
    kill(p.pid, SIGKILL);
    wait_exit(&p, 1000);
    return;
  }
  grpc_init();
  grpc_channel *ch = tc_channel(port, NULL);
  oa_trace_gen g;
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  o.spans = 100000;
  oa_trace_gen_init(&g, &o, NULL);
  oa_bytes req;
  oa_bytes_init(&req);
  int ok = 0, unavailable = 0, other = 0;
  for (int i = 0; i < 100 && !unavailable; i++) {
    int64_t n;
    oa_trace_gen_next_request(&g, 100, &req, &n, NULL);
    tc_result r;
    tc_unary(ch, EXPORT, req.data, (size_t)req.size, 10000, NULL, &r);
    if (r.code == GRPC_STATUS_OK)
      ok++;
    else if (r.code == GRPC_STATUS_UNAVAILABLE)
      unavailable++;
    else
      other++;
    if (r.code == GRPC_STATUS_UNAVAILABLE) CHECK(r.details_len > 0);
    tc_result_free(&r);
  }
  /* the 1M receive limit from the config */
  uint8_t *big = calloc(1, (2u << 20));
  tc_result r;
  tc_unary(ch, EXPORT, big, 2u << 20, 10000, NULL, &r);
  CHECK_EQ_INT(r.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  tc_result_free(&r);
  free(big);
  CHECK(ok > 0);
  CHECK_EQ_INT(unavailable, 1);
  CHECK_EQ_INT(other, 0);
  grpc_channel_destroy(ch);
  grpc_shutdown();
  oa_bytes_reset(&req);
  oa_trace_gen_reset(&g);
  kill(p.pid, SIGINT);
  CHECK_EQ_INT(wait_exit(&p, 15000), 0);
  CHECK(strstr(p.err_text, "SIGINT, draining") != NULL);
  char want[64];
  snprintf(want, sizeof want, "in %d batches", ok);
  CHECK(strstr(p.err_text, want) != NULL);
  CHECK(access(dump, R_OK) == 0);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
}

static void expect_failure(const char *const *args, const char *substr) {
  proc p;
  spawn_serve(&p, args);
  int rc = wait_exit(&p, 15000);
  CHECK_EQ_INT(rc, 1);
  if (!strstr(p.err_text, substr)) {
    fprintf(stderr, "stderr lacks \"%s\": %s\n", substr, p.err_text);
    CHECK(0);
  }
}

OA_TEST(test_errors) {
  char dir[] = "/tmp/oa-serve-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char cfg[128], cert[128];
  snprintf(cfg, sizeof cfg, "%s/bad.yaml", dir);
  snprintf(cert, sizeof cert, "%s/cert.pem", dir);
  write_file(cfg, "otlp_grpc: 127.0.0.1:0\nmax_mem: 1G\n");
  const char *a1[] = {"--config", cfg, NULL};
  expect_failure(a1, "line 2: unknown option 'max_mem'");
  write_file(cfg, "otlp_grpc: [1, 2]\n");
  expect_failure(a1, "expected 'key: value' lines");
  const char *a2[] = {"--max-memory", "12Q", NULL};
  expect_failure(a2, "max-memory must be a size");
  const char *a3[] = {"--tls-cert", "/nonexistent/cert.pem", "--tls-key",
                      "/nonexistent/key.pem", NULL};
  expect_failure(a3, "cannot read '/nonexistent/cert.pem'");
  const char *a4[] = {"--tls-cert", cert, NULL};
  expect_failure(a4, "--tls-cert and --tls-key go together");
  write_file(cert, "not a certificate\n");
  const char *a5[] = {"--tls-cert", cert, "--tls-key", cert, NULL};
  expect_failure(a5, "not a PEM file");
  const char *a6[] = {"--otlp-grpc", NULL};
  expect_failure(a6, "needs a value");
  /* a busy port */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(fd, 1) == 0);
  socklen_t sl = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &sl);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
  const char *a7[] = {"--otlp-grpc", addr,  "--otlp-http", "off",
                      "--flight",    "off", NULL};
  expect_failure(a7, "cannot listen on '127.0.0.1:");
  close(fd);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
}

OA_TEST_MAIN(OA_T(test_config_memory_limit_sigint), OA_T(test_errors))
