/* Listener plumbing shared by the OTLP/HTTP receiver and the metrics
 * listener (see http_listen.h). */
#include "receiver/http_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* The state of one connection: its request deadline and, with a client CA,
 * the client certificate check, made at its first request and kept for the
 * requests that follow on it. */
typedef struct peer_check {
  bool done;
  int rc;          /* gnutls_certificate_verify_peers result */
  unsigned status; /* gnutls_certificate_status_t bits when rc == 0 */
  struct peer_check *prev, *next;
  int fd;
  int64_t deadline_ms; /* monotonic; 0 while the server is answering */
  bool cut;
} peer_check;

struct oa_http_listener {
  struct MHD_Daemon *daemon;
  int listen_fd;
  int port;
  char *what;
  char *token;
  size_t token_len;
  char *cert_pem;
  char *key_pem;
  char *ca_pem; /* client CA: mutual TLS when set */
  pthread_mutex_t log_mu;
  char log[OA_ERROR_SIZE]; /* last libmicrohttpd message (start errors) */
  /* Slow clients: libmicrohttpd's timeout only counts idle time, so a
   * client sending a byte now and then would hold its connection forever.
   * The reaper thread shuts down connections whose request did not arrive
   * whole within request_timeout_ms. */
  int64_t request_timeout_ms;
  pthread_mutex_t conn_mu; /* guards conns, stopping */
  pthread_cond_t conn_cv;
  peer_check *conns;
  bool stopping, reaper_started;
  pthread_t reaper;
  atomic_llong cut_connections;
};

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static peer_check *conn_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

void oa_http_listener_deadline(oa_http_listener *l, struct MHD_Connection *c,
                               bool start) {
  peer_check *pc = conn_of(c);
  if (!pc) return;
  pthread_mutex_lock(&l->conn_mu);
  pc->deadline_ms = start ? now_ms() + l->request_timeout_ms : 0;
  pthread_mutex_unlock(&l->conn_mu);
}

bool oa_http_listener_token_ok(const oa_http_listener *l,
                               struct MHD_Connection *c) {
  if (!l->token) return true;
  const char *auth =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) return false;
  auth += 7;
  while (*auth == ' ')
    auth++;
  size_t n = strlen(auth);
  while (n && auth[n - 1] == ' ')
    n--;
  /* constant time in the token's length */
  unsigned diff = n != l->token_len;
  for (size_t i = 0; i < l->token_len; i++)
    diff |= (unsigned char)l->token[i] ^ (unsigned char)(i < n ? auth[i] : 0);
  return diff == 0;
}

/* libmicrohttpd only asks for a client certificate during the handshake
 * (GNUTLS_CERT_REQUEST), so it is verified here against the client CA. */
unsigned oa_http_listener_check_peer(const oa_http_listener *l,
                                     struct MHD_Connection *c, char *msg,
                                     size_t cap) {
  if (!l->ca_pem) return 0;
  peer_check local;
  memset(&local, 0, sizeof local);
  peer_check *pc = conn_of(c);
  if (!pc) pc = &local;
  if (!pc->done) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t s = ci ? (gnutls_session_t)ci->tls_session : NULL;
    pc->status = 0;
    if (!s) {
      pc->rc = GNUTLS_E_NO_CERTIFICATE_FOUND;
    } else {
      /* the chain up to the client CA, validity dates, and an extended key
       * usage (when present) that allows TLS client authentication */
      gnutls_typed_vdata_st purpose;
      memset(&purpose, 0, sizeof purpose);
      purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
      purpose.data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT;
      pc->rc = gnutls_certificate_verify_peers(s, &purpose, 1, &pc->status);
    }
    pc->done = true;
  }
  if (pc->rc == GNUTLS_E_NO_CERTIFICATE_FOUND) {
    snprintf(msg, cap,
             "client certificate required: this server accepts only TLS "
             "clients that present a certificate signed by its client CA");
    return MHD_HTTP_UNAUTHORIZED;
  }
  if (pc->rc < 0) {
    snprintf(msg, cap, "client certificate could not be verified: %s",
             gnutls_strerror(pc->rc));
    return MHD_HTTP_FORBIDDEN;
  }
  if (pc->status == 0) return 0;
  gnutls_datum_t why = {NULL, 0};
  if (gnutls_certificate_verification_status_print(pc->status, GNUTLS_CRT_X509,
                                                   &why, 0) == 0 &&
      why.data) {
    size_t n = why.size;
    while (n && why.data[n - 1] == ' ')
      n--;
    snprintf(msg, cap, "client certificate rejected: %.*s", (int)n,
             (const char *)why.data);
  } else {
    snprintf(msg, cap, "client certificate rejected (verification status 0x%x)",
             pc->status);
  }
  gnutls_free(why.data);
  return MHD_HTTP_FORBIDDEN;
}

/* One peer_check per connection: its request deadline, and with a client
 * CA its certificate, verified once however many requests it sends.
 * libmicrohttpd notifies CLOSED before it closes the socket, so the reaper
 * only ever shuts down a descriptor that is still this connection's. */
static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  oa_http_listener *l = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    /* out of memory leaves NULL: then each request is checked, and only
     * the idle timeout applies */
    peer_check *pc = calloc(1, sizeof *pc);
    *socket_context = pc;
    if (!pc) return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    pc->fd = ci ? ci->connect_fd : -1;
    pthread_mutex_lock(&l->conn_mu);
    pc->deadline_ms = now_ms() + l->request_timeout_ms;
    pc->next = l->conns;
    if (l->conns) l->conns->prev = pc;
    l->conns = pc;
    pthread_mutex_unlock(&l->conn_mu);
  } else {
    peer_check *pc = *socket_context;
    if (pc) {
      pthread_mutex_lock(&l->conn_mu);
      if (pc->prev)
        pc->prev->next = pc->next;
      else
        l->conns = pc->next;
      if (pc->next) pc->next->prev = pc->prev;
      pthread_mutex_unlock(&l->conn_mu);
    }
    free(pc);
    *socket_context = NULL;
  }
}

/* Cuts the connections whose request is late: shutdown() makes
 * libmicrohttpd see the end of the connection and close it in its own
 * thread. */
static void *reaper_main(void *arg) {
  oa_http_listener *l = arg;
  pthread_mutex_lock(&l->conn_mu);
  while (!l->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 200 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&l->conn_cv, &l->conn_mu, &until);
    int64_t now = now_ms();
    for (peer_check *pc = l->conns; pc; pc = pc->next)
      if (!pc->cut && pc->fd >= 0 && pc->deadline_ms &&
          now >= pc->deadline_ms) {
        shutdown(pc->fd, SHUT_RDWR);
        pc->cut = true;
        atomic_fetch_add(&l->cut_connections, 1);
      }
  }
  pthread_mutex_unlock(&l->conn_mu);
  return NULL;
}

int64_t oa_http_listener_cut_connections(const oa_http_listener *l) {
  return l ? (int64_t)atomic_load(&l->cut_connections) : 0;
}

int oa_http_listener_port(const oa_http_listener *l) {
  return l ? l->port : -1;
}

bool oa_http_listener_tls(const oa_http_listener *l) {
  return l && l->cert_pem;
}

static void on_log(void *cls, const char *fmt, va_list ap) {
  oa_http_listener *l = cls;
  pthread_mutex_lock(&l->log_mu);
  vsnprintf(l->log, sizeof l->log, fmt, ap);
  size_t n = strlen(l->log);
  while (n && (l->log[n - 1] == '\n' || l->log[n - 1] == '\r'))
    l->log[--n] = 0;
  pthread_mutex_unlock(&l->log_mu);
}

static char *dup_str(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static int read_pem(const char *path, const char *what, char **out,
                    oa_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return oa_error_set(err, errno == ENOENT ? ENOENT : EIO, "%s '%s': %s",
                        what, path, strerror(errno));
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 8192;
      if (cap > (1u << 24)) {
        free(buf);
        fclose(f);
        return oa_error_set(err, E2BIG, "%s '%s': larger than 16 MiB", what,
                            path);
      }
      char *p = realloc(buf, cap);
      if (!p) {
        free(buf);
        fclose(f);
        return oa_error_set(err, ENOMEM, "%s '%s': out of memory", what, path);
      }
      buf = p;
    }
    size_t k = fread(buf + n, 1, cap - n - 1, f);
    n += k;
    if (k == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad || n == 0) {
    free(buf);
    return oa_error_set(err, EIO, "%s '%s': %s", what, path,
                        bad ? "read error" : "empty file");
  }
  buf[n] = 0;
  *out = buf;
  return 0;
}

/* Parses "host:port", "[v6]:port" or ":port" and binds a listening socket. */
static int open_listener(const char *addr, int *fd_out, int *port_out, bool *v6,
                         oa_error *err) {
  char host[256];
  const char *colon = strrchr(addr, ':');
  if (!colon || !colon[1])
    return oa_error_set(err, EINVAL, "listen address '%s': expected host:port",
                        addr);
  size_t hl = (size_t)(colon - addr);
  const char *hs = addr;
  if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
    hs++;
    hl -= 2;
  }
  if (hl >= sizeof host)
    return oa_error_set(err, EINVAL, "listen address '%s': host too long",
                        addr);
  memcpy(host, hs, hl);
  host[hl] = 0;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535)
    return oa_error_set(err, EINVAL, "listen address '%s': bad port '%s'", addr,
                        colon + 1);
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int gr = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &ai);
  if (gr != 0)
    return oa_error_set(err, EINVAL, "listen address '%s': %s", addr,
                        gai_strerror(gr));
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    freeaddrinfo(ai);
    return oa_error_set(err, EIO, "listen address '%s': socket: %s", addr,
                        strerror(e));
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  *v6 = ai->ai_family == AF_INET6;
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
    int e = errno;
    freeaddrinfo(ai);
    close(fd);
    return oa_error_set(err, e == EADDRINUSE ? EADDRINUSE : EIO,
                        "listen address '%s': %s", addr, strerror(e));
  }
  freeaddrinfo(ai);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss); /* the analyzer does not know getsockname */
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
    int e = errno;
    close(fd);
    return oa_error_set(err, EIO, "listen address '%s': getsockname: %s", addr,
                        strerror(e));
  }
  *port_out = ss.ss_family == AF_INET6
                  ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                  : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  *fd_out = fd;
  return 0;
}

/* The client CA file must hold at least one certificate GnuTLS can use:
 * an empty trust list would refuse every client with a puzzling reason. */
static int check_ca(const char *path, const char *pem, oa_error *err) {
  gnutls_certificate_credentials_t cred;
  if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS)
    return oa_error_set(err, ENOMEM, "TLS client CA file '%s': out of memory",
                        path);
  gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
  int n = gnutls_certificate_set_x509_trust_mem(cred, &d, GNUTLS_X509_FMT_PEM);
  gnutls_certificate_free_credentials(cred);
  if (n < 0)
    return oa_error_set(err, EINVAL, "TLS client CA file '%s': %s", path,
                        gnutls_strerror(n));
  if (n == 0)
    return oa_error_set(
        err, EINVAL, "TLS client CA file '%s' holds no PEM certificate", path);
  return 0;
}

static void free_listener(oa_http_listener *l) {
  free(l->what);
  free(l->token);
  free(l->cert_pem);
  free(l->key_pem);
  free(l->ca_pem);
  pthread_mutex_destroy(&l->log_mu);
  pthread_mutex_destroy(&l->conn_mu);
  pthread_cond_destroy(&l->conn_cv);
  free(l);
}

int oa_http_listener_start(oa_http_listener **out,
                           const oa_http_listener_options *o, oa_error *err) {
  *out = NULL;
  const char *what = o->what ? o->what : "HTTP";
  if (!o->listen || !o->listen[0] || !o->handler)
    return oa_error_set(err, EINVAL, "%s: no listen address or handler", what);
  bool has_cert = o->tls_cert_file && o->tls_cert_file[0];
  bool has_key = o->tls_key_file && o->tls_key_file[0];
  if (has_cert != has_key)
    return oa_error_set(err, EINVAL,
                        "%s: HTTPS needs both a TLS certificate and a key file",
                        what);
  bool has_ca = o->tls_client_ca && o->tls_client_ca[0];
  if (has_ca && !has_cert)
    return oa_error_set(err, EINVAL,
                        "%s: tls_client_ca '%s' needs HTTPS (a TLS "
                        "certificate and a key file)",
                        what, o->tls_client_ca);
  if (has_cert && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
    return oa_error_set(err, ENOTSUP, "%s: libmicrohttpd was built without TLS",
                        what);

  oa_http_listener *l = calloc(1, sizeof *l);
  if (!l) return oa_error_set(err, ENOMEM, "%s: out of memory", what);
  pthread_mutex_init(&l->log_mu, NULL);
  pthread_mutex_init(&l->conn_mu, NULL);
  pthread_cond_init(&l->conn_cv, NULL);
  atomic_init(&l->cut_connections, 0);
  l->listen_fd = -1;
  l->request_timeout_ms =
      (int64_t)(o->request_timeout_s ? o->request_timeout_s : 60) * 1000;
  l->what = dup_str(what);
  int rc = 0;
  if (o->auth_token && o->auth_token[0]) {
    l->token = dup_str(o->auth_token);
    if (l->token) l->token_len = strlen(l->token);
  }
  if (!l->what || (o->auth_token && o->auth_token[0] && !l->token)) {
    rc = oa_error_set(err, ENOMEM, "%s: out of memory", what);
    goto fail;
  }
  if (has_cert) {
    OA_GOTO_NOT_OK(
        rc,
        read_pem(o->tls_cert_file, "TLS certificate file", &l->cert_pem, err),
        fail);
    OA_GOTO_NOT_OK(
        rc, read_pem(o->tls_key_file, "TLS key file", &l->key_pem, err), fail);
  }
  if (has_ca) {
    OA_GOTO_NOT_OK(
        rc, read_pem(o->tls_client_ca, "TLS client CA file", &l->ca_pem, err),
        fail);
    OA_GOTO_NOT_OK(rc, check_ca(o->tls_client_ca, l->ca_pem, err), fail);
  }
  bool v6 = false;
  OA_GOTO_NOT_OK(
      rc, open_listener(o->listen, &l->listen_fd, &l->port, &v6, err), fail);

  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC |
                   MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
  unsigned threads = o->threads > 0 ? o->threads : 2;
  unsigned timeout = o->connection_timeout_s ? o->connection_timeout_s : 30;
  unsigned limit = o->connection_limit ? o->connection_limit : 1000;
  size_t mem = o->connection_memory_limit ? o->connection_memory_limit
                                          : (size_t)(128 * 1024);
  *out = l; /* before the first request can arrive */
  if (has_cert)
    l->daemon = MHD_start_daemon(
        flags | MHD_USE_TLS, 0, NULL, NULL, o->handler, o->cls,
        MHD_OPTION_HTTPS_MEM_KEY, l->key_pem, MHD_OPTION_HTTPS_MEM_CERT,
        l->cert_pem, MHD_OPTION_HTTPS_MEM_TRUST, l->ca_pem,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, l,
        MHD_OPTION_LISTEN_SOCKET, l->listen_fd, MHD_OPTION_EXTERNAL_LOGGER,
        on_log, l, MHD_OPTION_NOTIFY_COMPLETED, o->completed, o->cls,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_LIMIT,
        limit, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->per_ip_connection_limit,
        MHD_OPTION_END);
  else
    l->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, o->handler, o->cls, MHD_OPTION_LISTEN_SOCKET,
        l->listen_fd, MHD_OPTION_EXTERNAL_LOGGER, on_log, l,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, l,
        MHD_OPTION_NOTIFY_COMPLETED, o->completed, o->cls,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_LIMIT,
        limit, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->per_ip_connection_limit,
        MHD_OPTION_END);
  if (!l->daemon) {
    *out = NULL;
    pthread_mutex_lock(&l->log_mu);
    rc = oa_error_set(err, EIO, "%s: libmicrohttpd did not start on %s%s%s",
                      what, o->listen, l->log[0] ? ": " : "", l->log);
    pthread_mutex_unlock(&l->log_mu);
    goto fail;
  }
  if (pthread_create(&l->reaper, NULL, reaper_main, l) != 0) {
    MHD_stop_daemon(l->daemon);
    *out = NULL;
    rc = oa_error_set(err, EIO, "%s: cannot start the timeout thread", what);
    goto fail_started;
  }
  l->reaper_started = true;
  return 0;
fail:
  if (l->listen_fd >= 0) close(l->listen_fd);
fail_started:
  free_listener(l);
  return rc;
}

void oa_http_listener_quiesce(oa_http_listener *l) {
  if (!l || l->listen_fd < 0) return;
  MHD_socket fd = MHD_quiesce_daemon(l->daemon);
  if (fd != MHD_INVALID_SOCKET) close(fd);
  l->listen_fd = -1;
}

void oa_http_listener_stop(oa_http_listener *l) {
  if (!l) return;
  oa_http_listener_quiesce(l);
  pthread_mutex_lock(&l->conn_mu);
  l->stopping = true;
  pthread_cond_signal(&l->conn_cv);
  pthread_mutex_unlock(&l->conn_mu);
  if (l->reaper_started) pthread_join(l->reaper, NULL);
  MHD_stop_daemon(l->daemon);
  free_listener(l);
}
