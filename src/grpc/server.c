/* otlparrow: the gRPC core event-loop layer (see oa_grpc.h for the model). */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <grpc/grpc_security.h>
#include <grpc/support/sync.h>
#include <grpc/support/time.h>

#include "grpc/oa_grpc.h"

/* Calls requested per method per completion queue: a small backlog so a
 * burst of new calls does not wait for a re-request. */
#define OA_GRPC_BACKLOG 4
#define OA_GRPC_MAX_OUT_MD 8

typedef enum tag_kind {
  TAG_REQUEST = 1,
  TAG_CLOSE,
  TAG_RECV,
  TAG_SEND,
  TAG_STATUS,
  TAG_SHUTDOWN
} tag_kind;

typedef struct oa_grpc_tag {
  tag_kind kind;
  oa_grpc_call *call;
} oa_grpc_tag;

typedef struct oa_grpc_method {
  char *path;
  void *handle; /* grpc_server_register_method's */
  bool unary;
  oa_grpc_stream_kind kind;
  oa_grpc_unary_fn unary_fn;
  oa_grpc_stream_handler h;
  void *ctx;
  int64_t max_recv; /* layer-enforced; -1: none */
  bool skip_auth;
  oa_grpc_align_fn align;
  char *limit_hint; /* named in the too-large message; NULL: none */
} oa_grpc_method;

struct oa_grpc_call {
  oa_grpc_server *srv;
  oa_grpc_method *method; /* NULL: an unregistered method */
  int worker;
  grpc_call *call;
  grpc_call_details details; /* unregistered calls only */
  gpr_timespec deadline;
  grpc_metadata_array md;
  grpc_byte_buffer *payload; /* unary request */
  pthread_mutex_t mu;        /* recursive */
  void *user;
  oa_grpc_tag t_request, t_close, t_recv, t_send, t_status;
  int pending; /* batches in flight */
  bool started, initial_md_sent, finished, read_pending, write_pending;
  bool half_closed, closed, cancelled, done, awaiting_reply;
  int close_cancelled;
  grpc_byte_buffer *recv_bb;
  grpc_byte_buffer *send_bb;
  /* the list of calls with a write in flight (write_timeout_ms) */
  oa_grpc_call *w_prev, *w_next;
  int64_t write_start_ms;
  bool in_writers, write_cut;
  /* a finish that waits for the pending write */
  bool finish_queued;
  grpc_status_code q_code;
  char *q_message;
  uint8_t *q_details;
  size_t q_details_len;
  /* what the status batch references until it completes */
  grpc_slice status_slice;
  bool has_status_slice;
  grpc_metadata trailing[1];
  size_t n_trailing;
  grpc_metadata out_md[OA_GRPC_MAX_OUT_MD];
  size_t n_out_md;
  char path_buf[256];
};

/* A multi-slice message larger than this is not kept in the per-thread
 * buffer (so one huge message does not pin that much memory for good). */
#define OA_GRPC_SCRATCH_MAX ((size_t)16 << 20)

/* Per event-loop thread: where multi-slice messages are gathered. Reused by
 * every call of the thread, so a typical request (a few hundred KB that
 * gRPC hands as several slices) costs no allocation and no page faults. */
typedef struct oa_grpc_scratch {
  uint8_t *data;
  size_t cap;
} oa_grpc_scratch;

struct oa_grpc_server {
  oa_grpc_server_options opts;
  oa_grpc_scratch *scratch; /* one per thread */
  char *auth_token;
  grpc_server *server;
  int n_threads; /* completion queues (one per thread) */
  int n_running; /* threads started */
  grpc_completion_queue **cqs;
  pthread_t *threads;
  oa_grpc_method *methods;
  int n_methods, cap_methods;
  int64_t core_limit;
  bool started, stopped;
  atomic_bool shutting_down;
  oa_grpc_tag t_shutdown;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool shutdown_notified;
  atomic_llong calls_started, calls_finished, calls_active;
  /* Stalled writes: the watchdog cancels a call whose write has been in
   * flight for longer than opts.write_timeout_ms. */
  pthread_mutex_t wmu; /* guards writers, watchdog_stop; after a call's mu */
  pthread_cond_t wcv;
  oa_grpc_call *writers;
  bool watchdog_started, watchdog_stop;
  pthread_t watchdog;
  atomic_llong writes_timed_out;
  struct conn_limit *conns; /* NULL: connections not bounded */
};

/* ------------------------------------------------------------ connections
 *
 * gRPC core (1.51) has no server-side bound on connections, but every
 * socket it accepts goes through the socket mutator given as a channel arg
 * before the handshake: that is where they are counted. One over the bound
 * is shut down at once, so the handshake fails, gRPC closes it and the
 * client's calls end with UNAVAILABLE. The mutator interface is gRPC's
 * internal one (socket_mutator.h: a vtable and a refcount; mutate_fd_2 gets
 * the descriptor and its usage); test_grpc_conn_limit fails if a gRPC
 * upgrade stops calling it. gRPC does not say when a connection closes: a
 * recorded one is gone when its descriptor no longer is the same socket
 * (device and inode), checked when the table is full. */

enum { FD_USAGE_SERVER_CONNECTION = 2 }; /* grpc_fd_usage */

typedef struct mutate_info {
  int fd;
  int usage;
} mutate_info;

typedef struct mutator_vtable {
  bool (*mutate_fd)(int fd, grpc_socket_mutator *m);
  int (*compare)(grpc_socket_mutator *a, grpc_socket_mutator *b);
  void (*destroy)(grpc_socket_mutator *m);
  bool (*mutate_fd_2)(const mutate_info *info, grpc_socket_mutator *m);
} mutator_vtable;

typedef struct conn_entry {
  int fd;
  dev_t dev;
  ino_t ino;
} conn_entry;

typedef struct conn_limit {
  /* gRPC's struct grpc_socket_mutator: these two first, in this order */
  const mutator_vtable *vtable;
  gpr_refcount refs;
  pthread_mutex_t mu;
  int max, n;
  conn_entry *live;  /* max entries */
  int64_t pruned_ms; /* when the table was last checked while full */
  atomic_llong accepted, refused;
} conn_limit;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool conn_alive(const conn_entry *e) {
  struct stat st;
  return fstat(e->fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
         st.st_ino == e->ino && st.st_dev == e->dev;
}

/* Drops the connections that are gone; cl->mu held. */
static void conn_prune(conn_limit *cl) {
  int k = 0;
  for (int i = 0; i < cl->n; i++)
    if (conn_alive(&cl->live[i])) cl->live[k++] = cl->live[i];
  cl->n = k;
}

static bool conn_mutate_fd(int fd, grpc_socket_mutator *m) {
  (void)fd;
  (void)m;
  return true;
}

static bool conn_mutate(const mutate_info *info, grpc_socket_mutator *m) {
  conn_limit *cl = (conn_limit *)(void *)m;
  struct stat st;
  if (info->usage != FD_USAGE_SERVER_CONNECTION || fstat(info->fd, &st) != 0)
    return true;
  pthread_mutex_lock(&cl->mu);
  int slot = -1;
  for (int i = 0; i < cl->n && slot < 0; i++)
    if (cl->live[i].fd == info->fd) slot = i; /* its old socket is closed */
  /* a flood of connections at the bound checks the table at most every
   * 10 ms (a check is one fstat per connection) */
  if (slot < 0 && cl->n == cl->max && mono_ms() - cl->pruned_ms >= 10) {
    conn_prune(cl);
    cl->pruned_ms = mono_ms();
  }
  if (slot < 0 && cl->n < cl->max) slot = cl->n++;
  if (slot >= 0) {
    cl->live[slot].fd = info->fd;
    cl->live[slot].dev = st.st_dev;
    cl->live[slot].ino = st.st_ino;
  }
  pthread_mutex_unlock(&cl->mu);
  if (slot >= 0) {
    atomic_fetch_add(&cl->accepted, 1);
  } else {
    atomic_fetch_add(&cl->refused, 1);
    shutdown(info->fd, SHUT_RDWR);
  }
  /* false would make gRPC stop accepting on the listener altogether */
  return true;
}

static int conn_compare(grpc_socket_mutator *a, grpc_socket_mutator *b) {
  return (uintptr_t)a < (uintptr_t)b ? -1 : (uintptr_t)a > (uintptr_t)b;
}

static void conn_destroy(grpc_socket_mutator *m) {
  conn_limit *cl = (conn_limit *)(void *)m;
  pthread_mutex_destroy(&cl->mu);
  free(cl->live);
  free(cl);
}

static const mutator_vtable kConnVtable = {conn_mutate_fd, conn_compare,
                                           conn_destroy, conn_mutate};

static void conn_unref(conn_limit *cl) {
  if (cl && gpr_unref(&cl->refs)) conn_destroy((grpc_socket_mutator *)cl);
}

static void *conn_arg_copy(void *p) {
  gpr_ref(&((conn_limit *)p)->refs);
  return p;
}

static void conn_arg_destroy(void *p) { conn_unref(p); }

static int conn_arg_cmp(void *a, void *b) {
  return conn_compare((grpc_socket_mutator *)a, (grpc_socket_mutator *)b);
}

static const grpc_arg_pointer_vtable kConnArgVtable = {
    conn_arg_copy, conn_arg_destroy, conn_arg_cmp};

static conn_limit *conn_limit_new(int max) {
  conn_limit *cl = calloc(1, sizeof *cl);
  if (!cl) return NULL;
  cl->live = calloc((size_t)max, sizeof *cl->live);
  if (!cl->live) {
    free(cl);
    return NULL;
  }
  cl->vtable = &kConnVtable;
  gpr_ref_init(&cl->refs, 1);
  pthread_mutex_init(&cl->mu, NULL);
  cl->max = max;
  return cl;
}

static int64_t effective_limit(int64_t v) { return v < 0 ? -1 : v; }

void oa_grpc_server_options_default(oa_grpc_server_options *o) {
  memset(o, 0, sizeof *o);
  o->threads = 2;
  o->max_recv_message_size = 4 << 20;
  o->max_send_message_size = -1;
  o->shutdown_grace_ms = 5000;
  o->max_concurrent_streams = 100;
  o->write_timeout_ms = 60000;
  o->max_connections = 1024;
}

int oa_grpc_server_new(oa_grpc_server **out, const oa_grpc_server_options *o,
                       oa_error *err) {
  *out = NULL;
  oa_grpc_server *s = calloc(1, sizeof *s);
  if (!s) return oa_error_set(err, ENOMEM, "grpc server: out of memory");
  if (o)
    s->opts = *o;
  else
    oa_grpc_server_options_default(&s->opts);
  if (s->opts.threads <= 0) s->opts.threads = 2;
  if (s->opts.threads > 64) {
    int t = s->opts.threads;
    free(s);
    return oa_error_set(err, EINVAL, "grpc server: threads %d > 64", t);
  }
  if (s->opts.max_recv_message_size == 0)
    s->opts.max_recv_message_size = 4 << 20;
  if (s->opts.max_send_message_size == 0) s->opts.max_send_message_size = -1;
  if (s->opts.max_concurrent_streams == 0) s->opts.max_concurrent_streams = 100;
  if (s->opts.write_timeout_ms == 0) s->opts.write_timeout_ms = 60000;
  if (s->opts.max_connections == 0) s->opts.max_connections = 1024;
  if (s->opts.max_connections > (1 << 20)) {
    int m = s->opts.max_connections;
    free(s);
    return oa_error_set(err, EINVAL,
                        "grpc server: max_connections %d > 1048576", m);
  }
  if (s->opts.auth_token) {
    s->auth_token = strdup(s->opts.auth_token);
    if (!s->auth_token) {
      free(s);
      return oa_error_set(err, ENOMEM, "grpc server: out of memory");
    }
  }
  s->opts.auth_token = s->auth_token;
  s->n_threads = s->opts.threads;
  s->core_limit = effective_limit(s->opts.max_recv_message_size);
  s->t_shutdown.kind = TAG_SHUTDOWN;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cond, NULL);
  pthread_mutex_init(&s->wmu, NULL);
  pthread_cond_init(&s->wcv, NULL);
  grpc_init();
  *out = s;
  return 0;
}

int oa_grpc_server_threads(const oa_grpc_server *srv) { return srv->n_threads; }

void oa_grpc_server_get_stats(oa_grpc_server *srv, oa_grpc_server_stats *st) {
  st->calls_started = atomic_load(&srv->calls_started);
  st->calls_finished = atomic_load(&srv->calls_finished);
  st->calls_active = atomic_load(&srv->calls_active);
  st->writes_timed_out = atomic_load(&srv->writes_timed_out);
  st->connections_active = st->connections_refused = 0;
  conn_limit *cl = srv->conns;
  if (cl) {
    pthread_mutex_lock(&cl->mu);
    conn_prune(cl);
    st->connections_active = cl->n;
    pthread_mutex_unlock(&cl->mu);
    st->connections_refused = atomic_load(&cl->refused);
  }
}

static int add_method(oa_grpc_server *srv, const char *path,
                      const oa_grpc_method_options *mo, oa_grpc_method **out,
                      oa_error *err) {
  if (srv->started || srv->stopped)
    return oa_error_set(err, EINVAL, "grpc: register '%s' before start",
                        path ? path : "(null)");
  if (!path || path[0] != '/' || strlen(path) >= 256)
    return oa_error_set(err, EINVAL,
                        "grpc: method path '%s' must look like /pkg.Svc/Method",
                        path ? path : "(null)");
  for (int i = 0; i < srv->n_methods; i++)
    if (strcmp(srv->methods[i].path, path) == 0)
      return oa_error_set(err, EINVAL, "grpc: method '%s' registered twice",
                          path);
  int64_t limit = srv->opts.max_recv_message_size;
  if (mo && mo->max_recv_message_size != 0) limit = mo->max_recv_message_size;
  limit = effective_limit(limit);
  if (srv->server) {
    /* the core limit is fixed: a method can only lower it */
    if (srv->core_limit >= 0 && (limit < 0 || limit > srv->core_limit))
      return oa_error_set(err, EINVAL,
                          "grpc: method '%s' raises the receive limit after "
                          "a listener was added; register methods first",
                          path);
  }
  if (srv->n_methods == srv->cap_methods) {
    int cap = srv->cap_methods ? srv->cap_methods * 2 : 8;
    oa_grpc_method *m = realloc(srv->methods, (size_t)cap * sizeof *m);
    if (!m) return oa_error_set(err, ENOMEM, "grpc: out of memory");
    srv->methods = m;
    srv->cap_methods = cap;
  }
  oa_grpc_method *m = &srv->methods[srv->n_methods];
  memset(m, 0, sizeof *m);
  m->path = strdup(path);
  if (!m->path) return oa_error_set(err, ENOMEM, "grpc: out of memory");
  m->max_recv = limit;
  m->skip_auth = mo && mo->skip_auth;
  if (!srv->server) {
    if (srv->core_limit >= 0 && (limit < 0 || limit > srv->core_limit))
      srv->core_limit = limit;
  }
  srv->n_methods++;
  *out = m;
  return 0;
}

int oa_grpc_server_register_unary(oa_grpc_server *srv, const char *path,
                                  oa_grpc_unary_fn fn, void *ctx,
                                  const oa_grpc_method_options *mo,
                                  oa_error *err) {
  if (!fn)
    return oa_error_set(err, EINVAL, "grpc: NULL handler for '%s'",
                        path ? path : "(null)");
  oa_grpc_method *m = NULL;
  OA_RETURN_NOT_OK(add_method(srv, path, mo, &m, err));
  if (!m) return EINVAL; /* unreachable: set whenever add_method succeeds */
  m->unary = true;
  m->unary_fn = fn;
  m->ctx = ctx;
  return 0;
}

int oa_grpc_server_register_stream(oa_grpc_server *srv, const char *path,
                                   oa_grpc_stream_kind kind,
                                   const oa_grpc_stream_handler *h, void *ctx,
                                   const oa_grpc_method_options *mo,
                                   oa_error *err) {
  if (!h || !h->on_start || !h->on_message)
    return oa_error_set(err, EINVAL,
                        "grpc: stream '%s' needs on_start and on_message",
                        path ? path : "(null)");
  if (kind < OA_GRPC_CLIENT_STREAMING || kind > OA_GRPC_BIDI_STREAMING)
    return oa_error_set(err, EINVAL, "grpc: stream '%s': bad kind %d",
                        path ? path : "(null)", (int)kind);
  oa_grpc_method *m = NULL;
  OA_RETURN_NOT_OK(add_method(srv, path, mo, &m, err));
  if (!m) return EINVAL; /* unreachable: set whenever add_method succeeds */
  m->kind = kind;
  m->h = *h;
  m->ctx = ctx;
  return 0;
}

int oa_grpc_server_set_align(oa_grpc_server *srv, const char *path,
                             oa_grpc_align_fn align, oa_error *err) {
  if (srv->started || srv->stopped)
    return oa_error_set(err, EINVAL, "grpc: set align of '%s' before start",
                        path ? path : "(null)");
  for (int i = 0; path && i < srv->n_methods; i++)
    if (strcmp(srv->methods[i].path, path) == 0) {
      srv->methods[i].align = align;
      return 0;
    }
  return oa_error_set(err, ENOENT,
                      "grpc: set align: method '%s' is not "
                      "registered",
                      path ? path : "(null)");
}

/* Creates the core server on first need; the channel args are fixed then. */
static int ensure_server(oa_grpc_server *srv, oa_error *err) {
  if (srv->server) return 0;
  grpc_arg args[6];
  int64_t lim = srv->core_limit;
  /* a method that names its limit is checked by the layer (gRPC core's own
   * message cannot say which setting to change; both check the whole
   * received message) */
  for (int i = 0; i < srv->n_methods; i++)
    if (srv->methods[i].limit_hint) lim = -1;
  int64_t slim = effective_limit(srv->opts.max_send_message_size);
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = (lim < 0 || lim > INT_MAX) ? -1 : (int)lim;
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  args[1].value.integer = (slim < 0 || slim > INT_MAX) ? -1 : (int)slim;
  /* without this a second server could bind the same port silently */
  args[2].type = GRPC_ARG_INTEGER;
  args[2].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
  args[2].value.integer = 0;
  size_t n_args = 3;
  if (srv->opts.max_concurrent_streams > 0) {
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = (char *)GRPC_ARG_MAX_CONCURRENT_STREAMS;
    args[3].value.integer = srv->opts.max_concurrent_streams;
    n_args = 4;
  }
  if (srv->opts.max_connections > 0) {
    srv->conns = conn_limit_new(srv->opts.max_connections);
    if (!srv->conns) return oa_error_set(err, ENOMEM, "grpc: out of memory");
    args[n_args].type = GRPC_ARG_POINTER;
    args[n_args].key = (char *)GRPC_ARG_SOCKET_MUTATOR;
    args[n_args].value.pointer.p = srv->conns;
    args[n_args].value.pointer.vtable = &kConnArgVtable;
    n_args++;
  }
  /* gRPC core reads a whole message before any size check (up to the 4 GiB
   * its length prefix allows); its memory quota is what stops that: over
   * it, streams are cancelled (RST_STREAM, RESOURCE_EXHAUSTED) */
  grpc_resource_quota *quota = NULL;
  if (srv->opts.memory_quota > 0) {
    quota = grpc_resource_quota_create("otlparrow");
    if (!quota) return oa_error_set(err, ENOMEM, "grpc: out of memory");
    grpc_resource_quota_resize(quota, (size_t)srv->opts.memory_quota);
    args[n_args].type = GRPC_ARG_POINTER;
    args[n_args].key = (char *)GRPC_ARG_RESOURCE_QUOTA;
    args[n_args].value.pointer.p = quota;
    args[n_args].value.pointer.vtable = grpc_resource_quota_arg_vtable();
    n_args++;
  }
  grpc_channel_args ca = {n_args, args};
  srv->server = grpc_server_create(&ca, NULL);
  if (quota) grpc_resource_quota_unref(quota); /* the server holds it */
  if (!srv->server)
    return oa_error_set(err, ENOMEM, "grpc_server_create failed");
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
  srv->cqs = calloc((size_t)srv->n_threads, sizeof *srv->cqs);
  srv->threads = calloc((size_t)srv->n_threads, sizeof *srv->threads);
  srv->scratch = calloc((size_t)srv->n_threads, sizeof *srv->scratch);
  if (!srv->cqs || !srv->threads || !srv->scratch)
    return oa_error_set(err, ENOMEM, "grpc: out of memory");
  for (int i = 0; i < srv->n_threads; i++) {
    srv->cqs[i] = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->cqs[i], NULL);
  }
  for (int i = 0; i < srv->n_methods; i++) {
    oa_grpc_method *m = &srv->methods[i];
    m->handle = grpc_server_register_method(
        srv->server, m->path, NULL,
        m->unary ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER
                 : GRPC_SRM_PAYLOAD_NONE,
        0);
    if (!m->handle)
      return oa_error_set(err, EINVAL, "grpc: cannot register method '%s'",
                          m->path);
  }
  return 0;
}

int oa_grpc_server_set_limit_hint(oa_grpc_server *srv, const char *path,
                                  const char *hint, oa_error *err) {
  if (srv->server || srv->started || srv->stopped)
    return oa_error_set(err, EINVAL,
                        "grpc: set the limit hint of '%s' before adding a "
                        "listener",
                        path ? path : "(null)");
  for (int i = 0; path && i < srv->n_methods; i++)
    if (strcmp(srv->methods[i].path, path) == 0) {
      char *h = hint && *hint ? strdup(hint) : NULL;
      if (hint && *hint && !h)
        return oa_error_set(err, ENOMEM, "grpc: out of memory");
      free(srv->methods[i].limit_hint);
      srv->methods[i].limit_hint = h;
      return 0;
    }
  return oa_error_set(err, ENOENT,
                      "grpc: set limit hint: method '%s' is not registered",
                      path ? path : "(null)");
}

int oa_grpc_read_pem(const char *path, char **out, oa_error *err) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f)
    return oa_error_set(err, EIO, "cannot read '%s': %s", path,
                        strerror(errno));
  oa_bytes b;
  oa_bytes_init(&b);
  char buf[4096];
  size_t n;
  int rc = 0;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    if (b.size + (int64_t)n > (1 << 20)) {
      rc = oa_error_set(err, E2BIG, "'%s' is larger than 1 MiB: not a PEM file",
                        path);
      break;
    }
    if (oa_bytes_append(&b, buf, (int64_t)n)) {
      rc = oa_error_set(err, ENOMEM, "out of memory reading '%s'", path);
      break;
    }
  }
  if (!rc && ferror(f)) rc = oa_error_set(err, EIO, "error reading '%s'", path);
  fclose(f);
  if (!rc && oa_bytes_append(&b, "", 1))
    rc = oa_error_set(err, ENOMEM, "out of memory reading '%s'", path);
  if (!rc && !strstr((const char *)b.data, "-----BEGIN "))
    rc = oa_error_set(err, EINVAL,
                      "'%s' is not a PEM file (no -----BEGIN line)", path);
  if (rc) {
    oa_bytes_reset(&b);
    return rc;
  }
  *out = (char *)b.data; /* ownership moves to the caller */
  return 0;
}

int oa_grpc_server_add_listener(oa_grpc_server *srv, const char *addr,
                                const oa_grpc_tls *tls, int *port,
                                oa_error *err) {
  if (port) *port = 0;
  if (srv->started || srv->stopped)
    return oa_error_set(err, EINVAL, "grpc: add listener '%s' before start",
                        addr);
  if (!addr || !*addr)
    return oa_error_set(err, EINVAL, "grpc: empty listen address");
  OA_RETURN_NOT_OK(ensure_server(srv, err));
  grpc_server_credentials *creds;
  if (tls) {
    if (!tls->cert_chain_pem || !tls->private_key_pem)
      return oa_error_set(
          err, EINVAL, "grpc: TLS listener '%s' needs a certificate and a key",
          addr);
    grpc_ssl_pem_key_cert_pair pair = {tls->private_key_pem,
                                       tls->cert_chain_pem};
    bool mtls = tls->client_ca_pem && tls->client_ca_pem[0];
    creds = grpc_ssl_server_credentials_create_ex(
        mtls ? tls->client_ca_pem : NULL, &pair, 1,
        mtls ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
             : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
  } else {
    creds = grpc_insecure_server_credentials_create();
  }
  if (!creds)
    return oa_error_set(err, EINVAL, "grpc: cannot make credentials for '%s'",
                        addr);
  int p = grpc_server_add_http2_port(srv->server, addr, creds);
  grpc_server_credentials_release(creds);
  if (p <= 0)
    return oa_error_set(err, EADDRINUSE,
                        "cannot listen on '%s' (address in use, not local or "
                        "malformed; expected host:port)",
                        addr);
  if (port) *port = p;
  return 0;
}

/* ------------------------------------------------------------ calls */

static void call_free(oa_grpc_call *c) {
  if (c->call) grpc_call_unref(c->call);
  grpc_metadata_array_destroy(&c->md);
  if (!c->method) grpc_call_details_destroy(&c->details);
  if (c->payload) grpc_byte_buffer_destroy(c->payload);
  if (c->recv_bb) grpc_byte_buffer_destroy(c->recv_bb);
  if (c->send_bb) grpc_byte_buffer_destroy(c->send_bb);
  if (c->has_status_slice) grpc_slice_unref(c->status_slice);
  for (size_t i = 0; i < c->n_trailing; i++) {
    grpc_slice_unref(c->trailing[i].key);
    grpc_slice_unref(c->trailing[i].value);
  }
  for (size_t i = 0; i < c->n_out_md; i++) {
    grpc_slice_unref(c->out_md[i].key);
    grpc_slice_unref(c->out_md[i].value);
  }
  free(c->q_message);
  free(c->q_details);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static oa_grpc_call *call_alloc(oa_grpc_server *srv, oa_grpc_method *m,
                                int worker) {
  oa_grpc_call *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->srv = srv;
  c->method = m;
  c->worker = worker;
  grpc_metadata_array_init(&c->md);
  if (!m) grpc_call_details_init(&c->details);
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&c->mu, &a);
  pthread_mutexattr_destroy(&a);
  c->t_request.kind = TAG_REQUEST;
  c->t_close.kind = TAG_CLOSE;
  c->t_recv.kind = TAG_RECV;
  c->t_send.kind = TAG_SEND;
  c->t_status.kind = TAG_STATUS;
  c->t_request.call = c->t_close.call = c->t_recv.call = c->t_send.call =
      c->t_status.call = c;
  return c;
}

/* Asks gRPC for the next call of method m (NULL: unregistered) on a queue. */
static void request_call(oa_grpc_server *srv, oa_grpc_method *m, int worker) {
  if (atomic_load(&srv->shutting_down)) return;
  oa_grpc_call *c = call_alloc(srv, m, worker);
  if (!c) return; /* fewer calls requested; the others keep serving */
  grpc_completion_queue *cq = srv->cqs[worker];
  grpc_call_error e;
  if (m)
    e = grpc_server_request_registered_call(
        srv->server, m->handle, &c->call, &c->deadline, &c->md,
        m->unary ? &c->payload : NULL, cq, cq, &c->t_request);
  else
    e = grpc_server_request_call(srv->server, &c->call, &c->details, &c->md, cq,
                                 cq, &c->t_request);
  if (e != GRPC_CALL_OK) call_free(c);
}

int oa_grpc_call_worker(const oa_grpc_call *call) { return call->worker; }
oa_grpc_server *oa_grpc_call_server(const oa_grpc_call *call) {
  return call->srv;
}
const char *oa_grpc_call_method(const oa_grpc_call *call) {
  return call->method ? call->method->path : call->path_buf;
}
gpr_timespec oa_grpc_call_deadline(const oa_grpc_call *call) {
  return call->deadline;
}
void oa_grpc_call_set_user(oa_grpc_call *call, void *user) {
  call->user = user;
}
void *oa_grpc_call_user(const oa_grpc_call *call) { return call->user; }

const char *oa_grpc_call_metadata(const oa_grpc_call *call, const char *key,
                                  size_t *len) {
  size_t kl = strlen(key);
  for (size_t i = 0; i < call->md.count; i++) {
    const grpc_metadata *e = &call->md.metadata[i];
    if (GRPC_SLICE_LENGTH(e->key) == kl &&
        memcmp(GRPC_SLICE_START_PTR(e->key), key, kl) == 0) {
      if (len) *len = GRPC_SLICE_LENGTH(e->value);
      return (const char *)GRPC_SLICE_START_PTR(e->value);
    }
  }
  if (len) *len = 0;
  return NULL;
}

int oa_grpc_call_add_initial_metadata(oa_grpc_call *call, const char *key,
                                      const char *value, size_t value_len,
                                      oa_error *err) {
  int rc = 0;
  pthread_mutex_lock(&call->mu);
  if (call->initial_md_sent || call->finished)
    rc = oa_error_set(err, EINVAL, "grpc: initial metadata already sent");
  else if (call->n_out_md == OA_GRPC_MAX_OUT_MD)
    rc = oa_error_set(err, E2BIG, "grpc: more than %d initial metadata entries",
                      OA_GRPC_MAX_OUT_MD);
  else {
    grpc_metadata *e = &call->out_md[call->n_out_md++];
    memset(e, 0, sizeof *e);
    e->key = grpc_slice_from_copied_string(key);
    e->value = grpc_slice_from_copied_buffer(value, value_len);
  }
  pthread_mutex_unlock(&call->mu);
  return rc;
}

static void add_initial_md_op(oa_grpc_call *c, grpc_op *ops, size_t *n) {
  if (c->initial_md_sent) return;
  grpc_op *op = &ops[(*n)++];
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_INITIAL_METADATA;
  op->data.send_initial_metadata.count = c->n_out_md;
  op->data.send_initial_metadata.metadata = c->n_out_md ? c->out_md : NULL;
  c->initial_md_sent = true;
}

/* Fills the status op; the slices live in c until the call is freed. */
static void add_status_op(oa_grpc_call *c, grpc_op *ops, size_t *n,
                          grpc_status_code code, const char *message,
                          const uint8_t *details, size_t details_len) {
  grpc_op *op = &ops[(*n)++];
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  op->data.send_status_from_server.status = code;
  c->status_slice = grpc_slice_from_copied_string(message ? message : "");
  c->has_status_slice = true;
  op->data.send_status_from_server.status_details = &c->status_slice;
  if (details && details_len) {
    c->trailing[0].key =
        grpc_slice_from_static_string("grpc-status-details-bin");
    c->trailing[0].value =
        grpc_slice_from_copied_buffer((const char *)details, details_len);
    c->n_trailing = 1;
    op->data.send_status_from_server.trailing_metadata_count = 1;
    op->data.send_status_from_server.trailing_metadata = c->trailing;
  }
}

static int start_batch(oa_grpc_call *c, grpc_op *ops, size_t n,
                       oa_grpc_tag *tag, oa_error *err) {
  grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
  if (e != GRPC_CALL_OK)
    return oa_error_set(err, EIO, "grpc_call_start_batch failed (%d) on '%s'",
                        (int)e, oa_grpc_call_method(c));
  c->pending++;
  return 0;
}

static int send_status_now(oa_grpc_call *c, grpc_status_code code,
                           const char *message, const uint8_t *details,
                           size_t details_len, oa_error *err) {
  grpc_op ops[2];
  size_t n = 0;
  add_initial_md_op(c, ops, &n);
  add_status_op(c, ops, &n, code, message, details, details_len);
  return start_batch(c, ops, n, &c->t_status, err);
}

int oa_grpc_call_finish(oa_grpc_call *call, const oa_grpc_status *st,
                        oa_error *err) {
  int rc = 0;
  pthread_mutex_lock(&call->mu);
  call->awaiting_reply = false;
  if (call->finished) {
    rc = oa_error_set(err, EPIPE, "grpc: call '%s' already finished",
                      oa_grpc_call_method(call));
  } else if (call->write_pending) {
    call->finished = true;
    call->finish_queued = true;
    call->q_code = st->code;
    call->q_message = strdup(st->message ? st->message : "");
    if (st->details && st->details_len) {
      call->q_details = malloc(st->details_len);
      if (call->q_details) {
        memcpy(call->q_details, st->details, st->details_len);
        call->q_details_len = st->details_len;
      }
    }
  } else {
    call->finished = true;
    rc = send_status_now(call, st->code, st->message, st->details,
                         st->details_len, err);
  }
  pthread_mutex_unlock(&call->mu);
  return rc;
}

int oa_grpc_call_finish_code(oa_grpc_call *call, grpc_status_code code,
                             const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  oa_grpc_status st = {code, msg, NULL, 0};
  return oa_grpc_call_finish(call, &st, NULL);
}

/* With the call's mu held. A call stays alive while it is in the list: it
 * is freed only after its send completed, which removes it first. */
static void writers_add(oa_grpc_call *c) {
  oa_grpc_server *srv = c->srv;
  if (srv->opts.write_timeout_ms < 0) return;
  pthread_mutex_lock(&srv->wmu);
  c->write_start_ms = mono_ms();
  c->w_prev = NULL;
  c->w_next = srv->writers;
  if (srv->writers) srv->writers->w_prev = c;
  srv->writers = c;
  c->in_writers = true;
  pthread_mutex_unlock(&srv->wmu);
}

static void writers_remove(oa_grpc_call *c) {
  if (!c->in_writers) return;
  oa_grpc_server *srv = c->srv;
  pthread_mutex_lock(&srv->wmu);
  if (c->w_prev)
    c->w_prev->w_next = c->w_next;
  else
    srv->writers = c->w_next;
  if (c->w_next) c->w_next->w_prev = c->w_prev;
  c->w_prev = c->w_next = NULL;
  c->in_writers = false;
  pthread_mutex_unlock(&srv->wmu);
}

/* Cancels the calls whose write has waited for the client too long; the
 * send then completes (not ok) on the call's own thread, which goes on as
 * for any broken call. Nothing here takes a call's lock. */
static void *watchdog_main(void *arg) {
  oa_grpc_server *srv = arg;
  int64_t limit = srv->opts.write_timeout_ms;
  int64_t step = limit / 4 < 250 ? (limit / 4 > 10 ? limit / 4 : 10) : 250;
  pthread_mutex_lock(&srv->wmu);
  while (!srv->watchdog_stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)(step * 1000000);
    while (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&srv->wcv, &srv->wmu, &until);
    int64_t now = mono_ms();
    for (oa_grpc_call *c = srv->writers; c; c = c->w_next)
      if (!c->write_cut && now - c->write_start_ms >= limit) {
        c->write_cut = true;
        atomic_fetch_add(&srv->writes_timed_out, 1);
        grpc_call_cancel_with_status(
            c->call, GRPC_STATUS_DEADLINE_EXCEEDED,
            "the client did not read a message within the server's write "
            "timeout",
            NULL);
      }
  }
  pthread_mutex_unlock(&srv->wmu);
  return NULL;
}

static void unref_slices(grpc_slice *slices, size_t n) {
  for (size_t i = 0; i < n; i++)
    grpc_slice_unref(slices[i]);
}

int oa_grpc_call_write(oa_grpc_call *call, grpc_slice *slices, size_t n,
                       oa_error *err) {
  int rc = 0;
  pthread_mutex_lock(&call->mu);
  if (call->finished || call->closed) {
    rc = oa_error_set(err, EPIPE, "grpc: write on finished call '%s'",
                      oa_grpc_call_method(call));
  } else if (call->write_pending) {
    rc = oa_error_set(err, EBUSY, "grpc: a write is already pending on '%s'",
                      oa_grpc_call_method(call));
  } else {
    call->send_bb = grpc_raw_byte_buffer_create(slices, n);
    grpc_op ops[2];
    size_t k = 0;
    add_initial_md_op(call, ops, &k);
    memset(&ops[k], 0, sizeof ops[k]);
    ops[k].op = GRPC_OP_SEND_MESSAGE;
    ops[k].data.send_message.send_message = call->send_bb;
    k++;
    rc = start_batch(call, ops, k, &call->t_send, err);
    if (rc == 0) {
      call->write_pending = true;
      writers_add(call);
    } else {
      grpc_byte_buffer_destroy(call->send_bb);
      call->send_bb = NULL;
    }
  }
  unref_slices(slices, n); /* the byte buffer holds its own references */
  pthread_mutex_unlock(&call->mu);
  return rc;
}

int oa_grpc_call_reply(oa_grpc_call *call, grpc_slice *slices, size_t n,
                       oa_error *err) {
  int rc = 0;
  pthread_mutex_lock(&call->mu);
  call->awaiting_reply = false;
  if (call->finished) {
    rc = oa_error_set(err, EPIPE, "grpc: call '%s' already finished",
                      oa_grpc_call_method(call));
  } else if (call->write_pending) {
    rc = oa_error_set(err, EBUSY, "grpc: a write is already pending on '%s'",
                      oa_grpc_call_method(call));
  } else {
    call->finished = true;
    call->send_bb = grpc_raw_byte_buffer_create(slices, n);
    grpc_op ops[3];
    size_t k = 0;
    add_initial_md_op(call, ops, &k);
    memset(&ops[k], 0, sizeof ops[k]);
    ops[k].op = GRPC_OP_SEND_MESSAGE;
    ops[k].data.send_message.send_message = call->send_bb;
    k++;
    add_status_op(call, ops, &k, GRPC_STATUS_OK, "", NULL, 0);
    rc = start_batch(call, ops, k, &call->t_status, err);
  }
  unref_slices(slices, n);
  pthread_mutex_unlock(&call->mu);
  return rc;
}

int oa_grpc_call_reply_bytes(oa_grpc_call *call, const void *data, size_t len,
                             oa_error *err) {
  grpc_slice s = grpc_slice_from_copied_buffer((const char *)data, len);
  return oa_grpc_call_reply(call, &s, 1, err);
}

int oa_grpc_call_read(oa_grpc_call *call, oa_error *err) {
  int rc = 0;
  pthread_mutex_lock(&call->mu);
  if (call->half_closed || call->closed || !call->method ||
      call->method->unary) {
    rc = oa_error_set(err, EPIPE, "grpc: no more messages on '%s'",
                      oa_grpc_call_method(call));
  } else if (call->read_pending) {
    rc = oa_error_set(err, EBUSY, "grpc: a read is already pending on '%s'",
                      oa_grpc_call_method(call));
  } else {
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &call->recv_bb;
    rc = start_batch(call, &op, 1, &call->t_recv, err);
    if (rc == 0) call->read_pending = true;
  }
  pthread_mutex_unlock(&call->mu);
  return rc;
}

/* ------------------------------------------------------------ messages */

typedef struct slice_holder {
  grpc_slice s;
} slice_holder;

static void slice_holder_release(void *p) {
  slice_holder *h = p;
  grpc_slice_unref(h->s);
  free(h);
}

/* Gathers the slices of sb into a region where the byte at align's offset
 * lands on a 64-byte boundary. False on allocation failure. */
static bool msg_gather_aligned(oa_grpc_message *m, const grpc_slice_buffer *sb,
                               size_t total, oa_grpc_align_fn align) {
  int64_t at = align(GRPC_SLICE_START_PTR(sb->slices[0]),
                     (int64_t)GRPC_SLICE_LENGTH(sb->slices[0]));
  size_t pad = at >= 0 ? (size_t)((64 - (at & 63)) & 63) : 0;
  oa_region *r = oa_region_alloc((int64_t)(total + pad));
  if (!r) return false;
  uint8_t *p = r->data + pad;
  for (size_t i = 0; i < sb->count; i++) {
    size_t len = GRPC_SLICE_LENGTH(sb->slices[i]);
    memcpy(p, GRPC_SLICE_START_PTR(sb->slices[i]), len);
    p += len;
  }
  m->region = r; /* the message's reference; msg_cleanup drops it */
  m->data = r->data + pad;
  m->size = (int64_t)total;
  return true;
}

/* Gathers the slices of sb into the thread's reusable buffer. */
static bool msg_gather_scratch(oa_grpc_message *m, const grpc_slice_buffer *sb,
                               size_t total, oa_grpc_scratch *sc) {
  if (total > OA_GRPC_SCRATCH_MAX) return false;
  if (sc->cap < total) {
    size_t cap = sc->cap ? sc->cap : 64 << 10;
    while (cap < total)
      cap *= 2;
    uint8_t *p = malloc(cap);
    if (!p) return false;
    free(sc->data); /* nothing of the previous call refers to it any more */
    sc->data = p;
    sc->cap = cap;
  }
  uint8_t *p = sc->data;
  for (size_t i = 0; i < sb->count; i++) {
    size_t len = GRPC_SLICE_LENGTH(sb->slices[i]);
    memcpy(p, GRPC_SLICE_START_PTR(sb->slices[i]), len);
    p += len;
  }
  m->data = sc->data;
  m->size = (int64_t)total;
  return true;
}

/* The received message as one flat view: the only slice in place, or one
 * copy (aligned region or per-thread buffer; readall for compressed
 * messages and as a fallback). m->slice then stays empty, and
 * oa_grpc_message_region knows the bytes are not in it. */
static void msg_init(oa_grpc_call *c, oa_grpc_message *m,
                     grpc_byte_buffer *bb) {
  memset(m, 0, sizeof *m);
  m->bb = bb;
  m->slice = grpc_empty_slice();
  if (bb->type == GRPC_BB_RAW &&
      bb->data.raw.compression == GRPC_COMPRESS_NONE) {
    const grpc_slice_buffer *sb = &bb->data.raw.slice_buffer;
    if (sb->count == 1) {
      m->slice = sb->slices[0];
      m->zero_copy = true;
      m->data = GRPC_SLICE_START_PTR(m->slice);
      m->size = (int64_t)GRPC_SLICE_LENGTH(m->slice);
      return;
    }
    if (sb->count == 0) {
      m->data = GRPC_SLICE_START_PTR(m->slice);
      return;
    }
    size_t total = sb->length;
    oa_grpc_align_fn align = c->method ? c->method->align : NULL;
    if (align ? msg_gather_aligned(m, sb, total, align)
              : msg_gather_scratch(m, sb, total, &c->srv->scratch[c->worker]))
      return;
  }
  grpc_byte_buffer_reader r;
  if (grpc_byte_buffer_reader_init(&r, bb)) {
    m->slice = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
  }
  m->data = GRPC_SLICE_START_PTR(m->slice);
  m->size = (int64_t)GRPC_SLICE_LENGTH(m->slice);
}

static void msg_cleanup(oa_grpc_message *m) {
  if (m->region) oa_region_release(m->region);
  if (!m->zero_copy) grpc_slice_unref(m->slice);
  m->region = NULL;
}

oa_region *oa_grpc_message_region(oa_grpc_message *msg) {
  if (!msg->region && msg->size > 0 &&
      GRPC_SLICE_LENGTH(msg->slice) != (size_t)msg->size) {
    /* the bytes are in the thread's reusable buffer: keep a copy */
    oa_region *r = oa_region_alloc(msg->size);
    if (!r) return NULL;
    memcpy(r->data, msg->data, (size_t)msg->size);
    msg->data = r->data;
    msg->region = r;
  }
  if (!msg->region) {
    slice_holder *h = malloc(sizeof *h);
    if (!h) return NULL;
    h->s = grpc_slice_ref(msg->slice);
    msg->region =
        oa_region_wrap((void *)msg->data, msg->size, slice_holder_release, h);
    if (!msg->region) {
      slice_holder_release(h);
      return NULL;
    }
  }
  oa_region_retain(msg->region);
  return msg->region;
}

static void region_unref(void *p) { oa_region_release((oa_region *)p); }

grpc_slice oa_grpc_slice_from_region(oa_region *region, const void *data,
                                     size_t len) {
  if (len == 0 || !region) {
    if (len == 0) return grpc_empty_slice();
    return grpc_slice_from_copied_buffer((const char *)data, len);
  }
  oa_region_retain(region);
  return grpc_slice_new_with_user_data((void *)data, len, region_unref, region);
}

grpc_slice oa_grpc_slice_take(void *data, size_t len) {
  return grpc_slice_new(data, len, free);
}

/* ------------------------------------------------------------ dispatch */

static bool msg_too_large(const oa_grpc_call *c, int64_t size) {
  return c->method && c->method->max_recv >= 0 && size > c->method->max_recv;
}

static void finish_too_large(oa_grpc_call *c, int64_t size) {
  const char *hint = c->method->limit_hint;
  oa_grpc_call_finish_code(
      c, GRPC_STATUS_RESOURCE_EXHAUSTED,
      "received message larger than max (%lld vs. %lld)%s%s%s", (long long)size,
      (long long)c->method->max_recv, hint ? "; the limit (bytes) is " : "",
      hint ? hint : "", hint ? ", raise it to accept such messages" : "");
}

static bool auth_ok(oa_grpc_call *c) {
  const char *tok = c->srv->auth_token;
  if (!tok || (c->method && c->method->skip_auth)) return true;
  size_t len;
  const char *v = oa_grpc_call_metadata(c, "authorization", &len);
  size_t tl = strlen(tok);
  if (!v || len != 7 + tl || strncasecmp(v, "Bearer ", 7) != 0) return false;
  /* constant time: how much of the token matched must not show in the
   * answer's timing (the length is not secret) */
  unsigned char diff = 0;
  for (size_t i = 0; i < tl; i++)
    diff |= (unsigned char)(v[7 + i] ^ tok[i]);
  return diff == 0;
}

/* Frees the call once it is over, nothing is pending, and (unary) the
 * handler answered. Called with c->mu held once; returns true if freed. */
static bool maybe_done(oa_grpc_call *c) {
  if (c->done || !c->closed || c->pending > 0 || c->awaiting_reply)
    return false;
  c->done = true;
  if (c->method && !c->method->unary && c->method->h.on_done)
    c->method->h.on_done(c->method->ctx, c, c->cancelled);
  oa_grpc_server *srv = c->srv;
  pthread_mutex_unlock(&c->mu);
  call_free(c);
  atomic_fetch_add(&srv->calls_finished, 1);
  atomic_fetch_sub(&srv->calls_active, 1);
  return true;
}

static void on_new_call(oa_grpc_call *c, bool ok) {
  oa_grpc_server *srv = c->srv;
  if (!ok) { /* shutdown: the request was cancelled */
    call_free(c);
    return;
  }
  request_call(srv, c->method, c->worker);
  atomic_fetch_add(&srv->calls_started, 1);
  atomic_fetch_add(&srv->calls_active, 1);
  pthread_mutex_lock(&c->mu);
  c->started = true;
  if (!c->method) {
    size_t len = GRPC_SLICE_LENGTH(c->details.method);
    if (len >= sizeof c->path_buf) len = sizeof c->path_buf - 1;
    memcpy(c->path_buf, GRPC_SLICE_START_PTR(c->details.method), len);
    c->path_buf[len] = 0;
    c->deadline = c->details.deadline;
  }
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->close_cancelled;
  if (start_batch(c, &op, 1, &c->t_close, NULL) != 0) {
    /* cannot track the call's end: cancel it and let it go */
    grpc_call_cancel(c->call, NULL);
    c->closed = true;
    c->cancelled = true;
  }
  oa_grpc_method *m = c->method;
  if (!m) {
    oa_grpc_call_finish_code(c, GRPC_STATUS_UNIMPLEMENTED,
                             "method '%s' is not implemented by this server",
                             c->path_buf);
  } else if (!auth_ok(c)) {
    oa_grpc_call_finish_code(c, GRPC_STATUS_UNAUTHENTICATED,
                             "missing or wrong bearer token (metadata "
                             "'authorization: Bearer <token>')");
  } else if (m->unary) {
    if (!c->payload) {
      oa_grpc_call_finish_code(c, GRPC_STATUS_INVALID_ARGUMENT,
                               "unary call '%s' without a request message",
                               m->path);
    } else {
      oa_grpc_message msg;
      msg_init(c, &msg, c->payload);
      if (msg_too_large(c, msg.size)) {
        finish_too_large(c, msg.size);
      } else {
        c->awaiting_reply = true;
        m->unary_fn(m->ctx, c, &msg);
      }
      msg_cleanup(&msg);
      grpc_byte_buffer_destroy(c->payload);
      c->payload = NULL;
    }
  } else {
    m->h.on_start(m->ctx, c);
  }
  if (!maybe_done(c)) pthread_mutex_unlock(&c->mu);
}

static void on_recv(oa_grpc_call *c, bool ok) {
  pthread_mutex_lock(&c->mu);
  c->pending--;
  c->read_pending = false;
  grpc_byte_buffer *bb = c->recv_bb;
  c->recv_bb = NULL;
  oa_grpc_method *m = c->method;
  if (!ok || !bb) {
    c->half_closed = true;
    m->h.on_message(m->ctx, c, NULL);
  } else {
    oa_grpc_message msg;
    msg_init(c, &msg, bb);
    if (msg_too_large(c, msg.size)) {
      c->half_closed = true; /* stop reading what follows */
      if (!c->finished) finish_too_large(c, msg.size);
      m->h.on_message(m->ctx, c, NULL);
    } else {
      m->h.on_message(m->ctx, c, &msg);
    }
    msg_cleanup(&msg);
  }
  if (bb) grpc_byte_buffer_destroy(bb);
  if (!maybe_done(c)) pthread_mutex_unlock(&c->mu);
}

static void on_send(oa_grpc_call *c, bool ok) {
  pthread_mutex_lock(&c->mu);
  writers_remove(c);
  c->pending--;
  c->write_pending = false;
  if (c->send_bb) {
    grpc_byte_buffer_destroy(c->send_bb);
    c->send_bb = NULL;
  }
  if (c->finish_queued) {
    c->finish_queued = false;
    send_status_now(c, c->q_code, c->q_message, c->q_details, c->q_details_len,
                    NULL);
  }
  if (c->method && !c->method->unary && c->method->h.on_sent)
    c->method->h.on_sent(c->method->ctx, c, ok);
  if (!maybe_done(c)) pthread_mutex_unlock(&c->mu);
}

static void on_status(oa_grpc_call *c, bool ok) {
  pthread_mutex_lock(&c->mu);
  c->pending--;
  if (c->send_bb) { /* a unary reply */
    grpc_byte_buffer_destroy(c->send_bb);
    c->send_bb = NULL;
  }
  if (!maybe_done(c)) pthread_mutex_unlock(&c->mu);
}

static void on_close(oa_grpc_call *c) {
  pthread_mutex_lock(&c->mu);
  c->pending--;
  c->closed = true;
  c->cancelled = c->close_cancelled != 0;
  /* a pending read may never complete on its own once the call is over */
  if (!maybe_done(c)) pthread_mutex_unlock(&c->mu);
}

static void *loop_main(void *arg) {
  oa_grpc_server *srv = ((void **)arg)[0];
  int worker = (int)(intptr_t)((void **)arg)[1];
  free(arg);
  grpc_completion_queue *cq = srv->cqs[worker];
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type != GRPC_OP_COMPLETE) continue;
    oa_grpc_tag *t = ev.tag;
    switch (t->kind) {
    case TAG_REQUEST:
      on_new_call(t->call, ev.success != 0);
      break;
    case TAG_CLOSE:
      on_close(t->call);
      break;
    case TAG_RECV:
      on_recv(t->call, ev.success != 0);
      break;
    case TAG_SEND:
      on_send(t->call, ev.success != 0);
      break;
    case TAG_STATUS:
      on_status(t->call, ev.success != 0);
      break;
    case TAG_SHUTDOWN:
      pthread_mutex_lock(&srv->mu);
      srv->shutdown_notified = true;
      pthread_cond_broadcast(&srv->cond);
      pthread_mutex_unlock(&srv->mu);
      break;
    }
  }
  return NULL;
}

int oa_grpc_server_start(oa_grpc_server *srv, oa_error *err) {
  if (srv->started || srv->stopped)
    return oa_error_set(err, EINVAL, "grpc server already started");
  OA_RETURN_NOT_OK(ensure_server(srv, err));
  grpc_server_start(srv->server);
  srv->started = true;
  for (int w = 0; w < srv->n_threads; w++) {
    for (int i = 0; i < srv->n_methods; i++)
      for (int k = 0; k < OA_GRPC_BACKLOG; k++)
        request_call(srv, &srv->methods[i], w);
    request_call(srv, NULL, w);
  }
  for (int w = 0; w < srv->n_threads; w++) {
    void **arg = malloc(2 * sizeof(void *));
    if (!arg) return oa_error_set(err, ENOMEM, "grpc: out of memory");
    arg[0] = srv;
    arg[1] = (void *)(intptr_t)w;
    if (pthread_create(&srv->threads[w], NULL, loop_main, arg) != 0) {
      free(arg);
      /* shutdown stops the running threads and drains the other queues */
      return oa_error_set(err, EAGAIN, "grpc: cannot start thread %d", w);
    }
    srv->n_running = w + 1;
  }
  if (srv->opts.write_timeout_ms > 0) {
    if (pthread_create(&srv->watchdog, NULL, watchdog_main, srv) != 0)
      return oa_error_set(err, EAGAIN, "grpc: cannot start the watchdog");
    srv->watchdog_started = true;
  }
  return 0;
}

static bool wait_notified(oa_grpc_server *srv, int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)((ms % 1000) * 1000000);
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&srv->mu);
  while (!srv->shutdown_notified)
    if (pthread_cond_timedwait(&srv->cond, &srv->mu, &ts) != 0) break;
  bool n = srv->shutdown_notified;
  pthread_mutex_unlock(&srv->mu);
  return n;
}

static void sleep_ms(int ms) {
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

void oa_grpc_server_shutdown(oa_grpc_server *srv, int64_t grace_ms) {
  if (srv->stopped) return;
  srv->stopped = true;
  atomic_store(&srv->shutting_down, true);
  if (!srv->server) return;
  if (grace_ms < 0) grace_ms = srv->opts.shutdown_grace_ms;
  if (!srv->started) {
    /* no threads: pump the queue ourselves */
    grpc_server_shutdown_and_notify(srv->server, srv->cqs[0], &srv->t_shutdown);
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(
          srv->cqs[0], gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type == GRPC_OP_COMPLETE && ev.tag == &srv->t_shutdown) break;
      if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    }
  } else {
    grpc_server_shutdown_and_notify(srv->server, srv->cqs[0], &srv->t_shutdown);
    if (!wait_notified(srv, grace_ms)) {
      grpc_server_cancel_all_calls(srv->server);
      wait_notified(srv, 60000);
    }
    /* in-flight calls end on their own threads; give them the rest of the
     * grace period, then cancel */
    for (int64_t waited = 0; atomic_load(&srv->calls_active) > 0; waited += 5) {
      if (waited == grace_ms) grpc_server_cancel_all_calls(srv->server);
      if (waited > grace_ms + 10000) break;
      sleep_ms(5);
    }
  }
  for (int i = 0; i < srv->n_threads; i++)
    grpc_completion_queue_shutdown(srv->cqs[i]);
  for (int i = 0; i < srv->n_running; i++)
    pthread_join(srv->threads[i], NULL);
  if (srv->watchdog_started) {
    pthread_mutex_lock(&srv->wmu);
    srv->watchdog_stop = true;
    pthread_cond_signal(&srv->wcv);
    pthread_mutex_unlock(&srv->wmu);
    pthread_join(srv->watchdog, NULL);
    srv->watchdog_started = false;
  }
  for (int i = srv->n_running; i < srv->n_threads; i++) {
    for (;;) { /* queues without a thread: drain them here */
      grpc_event ev = grpc_completion_queue_next(
          srv->cqs[i], gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
      if (ev.type == GRPC_OP_COMPLETE &&
          ((oa_grpc_tag *)ev.tag)->kind == TAG_REQUEST)
        call_free(((oa_grpc_tag *)ev.tag)->call);
    }
  }
}

void oa_grpc_server_free(oa_grpc_server *srv) {
  if (!srv) return;
  oa_grpc_server_shutdown(srv, -1);
  if (srv->server) grpc_server_destroy(srv->server);
  if (srv->cqs) {
    for (int i = 0; i < srv->n_threads; i++)
      if (srv->cqs[i]) grpc_completion_queue_destroy(srv->cqs[i]);
  }
  free(srv->cqs);
  free(srv->threads);
  if (srv->scratch)
    for (int i = 0; i < srv->n_threads; i++)
      free(srv->scratch[i].data);
  free(srv->scratch);
  for (int i = 0; i < srv->n_methods; i++) {
    free(srv->methods[i].path);
    free(srv->methods[i].limit_hint);
  }
  free(srv->methods);
  conn_unref(srv->conns);
  free(srv->auth_token);
  pthread_mutex_destroy(&srv->mu);
  pthread_cond_destroy(&srv->cond);
  pthread_mutex_destroy(&srv->wmu);
  pthread_cond_destroy(&srv->wcv);
  free(srv);
  grpc_shutdown();
}

/* ------------------------------------------------------------ status */

static int put_varint(oa_bytes *b, uint64_t v) {
  uint8_t tmp[10];
  int n = 0;
  do {
    tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return oa_bytes_append(b, tmp, n);
}

static int put_len_field(oa_bytes *b, int field, const void *data, size_t len) {
  OA_RETURN_NOT_OK(put_varint(b, ((uint64_t)field << 3) | 2));
  OA_RETURN_NOT_OK(put_varint(b, len));
  return oa_bytes_append(b, data, (int64_t)len);
}

int oa_grpc_status_details_retry(oa_bytes *out, grpc_status_code code,
                                 const char *message, int64_t retry_delay_ms,
                                 oa_error *err) {
  /* google.rpc.Status{code=1, message=2, details=3: Any{type_url=1,
   * value=2: RetryInfo{retry_delay=1: Duration{seconds=1, nanos=2}}}} */
  oa_bytes dur, ri, any;
  oa_bytes_init(&dur);
  oa_bytes_init(&ri);
  oa_bytes_init(&any);
  int rc = 0;
  if (code != 0) {
    OA_GOTO_NOT_OK(rc, put_varint(out, 1 << 3), fail);
    OA_GOTO_NOT_OK(rc, put_varint(out, (uint64_t)(int64_t)code), fail);
  }
  if (message && *message)
    OA_GOTO_NOT_OK(rc, put_len_field(out, 2, message, strlen(message)), fail);
  if (retry_delay_ms >= 0) {
    int64_t secs = retry_delay_ms / 1000,
            nanos = (retry_delay_ms % 1000) * 1000000;
    if (secs) {
      OA_GOTO_NOT_OK(rc, put_varint(&dur, 1 << 3), fail);
      OA_GOTO_NOT_OK(rc, put_varint(&dur, (uint64_t)secs), fail);
    }
    if (nanos) {
      OA_GOTO_NOT_OK(rc, put_varint(&dur, 2 << 3), fail);
      OA_GOTO_NOT_OK(rc, put_varint(&dur, (uint64_t)nanos), fail);
    }
    OA_GOTO_NOT_OK(rc, put_len_field(&ri, 1, dur.data, (size_t)dur.size), fail);
    static const char kType[] = "type.googleapis.com/google.rpc.RetryInfo";
    OA_GOTO_NOT_OK(rc, put_len_field(&any, 1, kType, sizeof kType - 1), fail);
    OA_GOTO_NOT_OK(rc, put_len_field(&any, 2, ri.data, (size_t)ri.size), fail);
    OA_GOTO_NOT_OK(rc, put_len_field(out, 3, any.data, (size_t)any.size), fail);
  }
fail:
  oa_bytes_reset(&dur);
  oa_bytes_reset(&ri);
  oa_bytes_reset(&any);
  if (rc) return oa_error_set(err, rc, "google.rpc.Status: out of memory");
  return 0;
}
