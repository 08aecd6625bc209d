/* otlparrow: named datasets, in memory or durable (see otlparrow/dataset.h).
 *
 * Memory accounting: a batch costs the sizes of the distinct regions its
 * buffers reference (each region counted once per batch, at its full size,
 * since the whole region stays alive while any slice of it is held; buffers
 * without a region count their own size). Two batches that share a region
 * both count it, so the figure is an upper bound of what is really held.
 * With a directory only batches not yet written to segments count.
 *
 * Locks: d->mu guards the registry, the memtable and the log's file offset;
 * d->sync_mu the log's fsync (appenders wait for their bytes to be synced
 * without holding mu, so that one fsync covers every record written before
 * it); d->flush_mu serializes flushes, compactions, drops and manifest
 * writes. Order: flush_mu, then mu, then sync_mu. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "arrow/internal.h"
#include "ipc/ipc_internal.h"
#include "otlparrow/dataset.h"
#include "otlparrow/ipc.h"
#include "store/store_internal.h"

/* ------------------------------------------------------------ types */

typedef struct mem_batch {
  oa_batch batch;
  int64_t bytes;
  int64_t min_time, max_time;
  char *id; /* NULL: none */
} mem_batch;

/* A segment file. Snapshots hold references so that a segment replaced by
 * compaction or expired stays readable until they are done; the files are
 * unlinked with the last reference. */
typedef struct seg {
  atomic_long refs;
  oa_store_seg_meta meta;
  oa_store_bloom *blooms; /* one per record batch (span datasets) */
  int64_t n_blooms;
  bool doomed; /* unlink the files with the last reference */
  bool corrupt;
  pthread_mutex_t mu; /* reader */
  oa_ipc_file_reader *reader;
  char path[PATH_MAX];
  char bloom_path[PATH_MAX];
} seg;

/* Batch ids of a dataset: open addressing over owned strings. */
typedef struct idset {
  char **slots;
  int64_t cap, n;
} idset;

typedef struct ds_entry {
  char name[256];
  oa_schema *schema;
  uint64_t incarnation;
  mem_batch *mem; /* not yet in segments */
  int64_t n, cap;
  int64_t rows, bytes; /* of mem */
  int64_t flushing;    /* mem[0..flushing) are being written */
  seg **segs;
  int64_t n_segs, cap_segs;
  bool span; /* trace_id + start_time columns */
  int tid_col, time_col;
  idset ids;
} ds_entry;

struct oa_datasets {
  pthread_mutex_t mu;
  ds_entry **items;
  int64_t n, cap;
  int64_t used, limit;
  uint64_t incarnations;
  /* store (dir != NULL) */
  char *dir;
  bool read_only;
  oa_store_options opt;
  int lock_fd;
  pthread_mutex_t sync_mu, flush_mu;
  int wal_fd;
  uint64_t wal_seq;
  _Atomic int64_t wal_size;
  uint64_t synced_seq;
  int64_t synced_size;
  uint64_t wal_flushed, next_segment, generation;
  pthread_t thread;
  bool thread_started, stop, flush_wanted;
  pthread_cond_t cond;
  int64_t last_flush_ns, last_sync_ns;
  oa_store_stats st; /* counters (mu) */
};

static int oom(oa_error *err) {
  return oa_error_set(err, ENOMEM, "datasets: out of memory");
}

static int64_t now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------------ batch ids */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ULL;
  return h;
}

static bool idset_has(const idset *s, const char *id) {
  if (!s->cap) return false;
  for (uint64_t i = hash_str(id) & (uint64_t)(s->cap - 1);;
       i = (i + 1) & (uint64_t)(s->cap - 1)) {
    if (!s->slots[i]) return false;
    if (strcmp(s->slots[i], id) == 0) return true;
  }
}

static void idset_put(idset *s, char *owned) {
  uint64_t i = hash_str(owned) & (uint64_t)(s->cap - 1);
  while (s->slots[i])
    i = (i + 1) & (uint64_t)(s->cap - 1);
  s->slots[i] = owned;
  s->n++;
}

static int idset_add(idset *s, const char *id) {
  if (idset_has(s, id)) return 0;
  if ((s->n + 1) * 2 > s->cap) {
    idset g = {0};
    g.cap = s->cap ? s->cap * 2 : 64;
    g.slots = calloc((size_t)g.cap, sizeof *g.slots);
    if (!g.slots) return ENOMEM;
    for (int64_t i = 0; i < s->cap; i++)
      if (s->slots[i]) idset_put(&g, s->slots[i]);
    free(s->slots);
    *s = g;
  }
  char *c = strdup(id);
  if (!c) return ENOMEM;
  idset_put(s, c);
  return 0;
}

static void idset_clear(idset *s) {
  for (int64_t i = 0; i < s->cap; i++)
    free(s->slots[i]);
  free(s->slots);
  memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------ span columns */

static void detect_span(ds_entry *e) {
  e->span = false;
  e->tid_col = e->time_col = -1;
  int64_t t = oa_schema_find(e->schema, "trace_id");
  int64_t s = oa_schema_find(e->schema, "start_time");
  if (t < 0 || s < 0) return;
  const oa_field *ft = &e->schema->fields[t], *fs = &e->schema->fields[s];
  if (ft->dict.encoded || ft->type.id != OA_TYPE_FIXED_SIZE_BINARY ||
      ft->type.byte_width != 16)
    return;
  if (fs->dict.encoded ||
      (fs->type.id != OA_TYPE_TIMESTAMP && fs->type.id != OA_TYPE_INT64))
    return;
  e->span = true;
  e->tid_col = (int)t;
  e->time_col = (int)s;
}

/* Range of start_time over the batch (arrival time when it has none). */
static void batch_times(const ds_entry *e, const oa_batch *b, int64_t arrival,
                        int64_t *min, int64_t *max) {
  *min = *max = arrival;
  if (!e->span || b->length == 0) return;
  const oa_field *f = &e->schema->fields[e->time_col];
  const oa_array *a = &b->columns[e->time_col];
  bool any = false;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (int64_t i = 0; i < a->length; i++) {
    if (oa_array_is_null(f, a, i)) continue;
    int64_t v = oa_array_get_int(f, a, i);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    any = true;
  }
  if (any) {
    *min = lo;
    *max = hi;
  }
}

/* ------------------------------------------------------------ files */

static int fsync_dir(const char *dir, oa_error *err) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return oa_error_set(err, EIO, "store: cannot open directory '%s': %s", dir,
                        strerror(errno));
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0)
    return oa_error_set(err, EIO, "store: fsync of directory '%s': %s", dir,
                        strerror(e));
  return 0;
}

static int write_all(int fd, const uint8_t *p, int64_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, (size_t)n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return errno ? errno : EIO;
    p += w;
    n -= w;
  }
  return 0;
}

/* Writes bytes to path atomically: path.tmp, fsync, rename, dir fsync. */
static int write_file_atomic(const char *dir, const char *path,
                             const uint8_t *p, int64_t n, bool sync_dir,
                             oa_error *err) {
  char tmp[PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return oa_error_set(err, EIO, "store: cannot create '%s': %s", tmp,
                        strerror(errno));
  int e = write_all(fd, p, n);
  if (!e && fsync(fd) != 0) e = errno;
  close(fd);
  if (!e && rename(tmp, path) != 0) e = errno;
  if (e) {
    unlink(tmp);
    return oa_error_set(err, EIO, "store: writing '%s': %s", path, strerror(e));
  }
  return sync_dir ? fsync_dir(dir, err) : 0;
}

static int read_file(const char *path, oa_bytes *out, oa_error *err) {
  oa_bytes_init(out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return oa_error_set(err, errno == ENOENT ? ENOENT : EIO,
                        "store: cannot open '%s': %s", path, strerror(errno));
  for (;;) {
    if (oa_bytes_reserve(out, 1 << 16)) {
      close(fd);
      oa_bytes_reset(out);
      return oom(err);
    }
    ssize_t r =
        read(fd, out->data + out->size, (size_t)(out->capacity - out->size));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      oa_bytes_reset(out);
      return oa_error_set(err, EIO, "store: reading '%s': %s", path,
                          strerror(e));
    }
    if (r == 0) break;
    out->size += r;
  }
  close(fd);
  return 0;
}

static void seg_paths(const char *dir, uint64_t id, char *p, char *b) {
  snprintf(p, PATH_MAX, "%s/seg-%016llx.arrow", dir, (unsigned long long)id);
  snprintf(b, PATH_MAX, "%s/seg-%016llx.bloom", dir, (unsigned long long)id);
}

static void wal_path(const oa_datasets *d, uint64_t seq, char *out) {
  snprintf(out, PATH_MAX, "%s/wal-%016llx.log", d->dir,
           (unsigned long long)seq);
}

/* ------------------------------------------------------------ segments */

static seg *seg_new(const char *dir, oa_store_seg_meta *meta) {
  seg *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  atomic_init(&s->refs, 1);
  s->meta = *meta;
  memset(meta, 0, sizeof *meta);
  pthread_mutex_init(&s->mu, NULL);
  seg_paths(dir, s->meta.id, s->path, s->bloom_path);
  return s;
}

static void seg_release(seg *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  if (s->reader) oa_ipc_file_reader_free(s->reader);
  if (s->doomed) {
    unlink(s->path);
    unlink(s->bloom_path);
  }
  oa_store_blooms_free_(s->blooms, s->n_blooms);
  oa_store_seg_meta_reset_(&s->meta);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static void seg_load_bloom(seg *s) {
  if (!(s->meta.flags & OA_SEG_BLOOM)) return;
  oa_bytes b;
  if (read_file(s->bloom_path, &b, NULL) != 0) return; /* then: always open */
  if (oa_store_blooms_decode_(b.data, b.size, &s->blooms, &s->n_blooms, NULL))
    s->n_blooms = 0;
  if (s->n_blooms != s->meta.n_batches) {
    oa_store_blooms_free_(s->blooms, s->n_blooms);
    s->blooms = NULL;
    s->n_blooms = 0;
  }
  oa_bytes_reset(&b);
}

static int seg_open_reader(seg *s, oa_error *err) {
  int rc = 0;
  pthread_mutex_lock(&s->mu);
  if (s->corrupt) {
    rc = oa_error_set(err, EIO, "segment %s is unreadable", s->path);
  } else if (!s->reader) {
    oa_ipc_read_options ro;
    oa_ipc_read_options_init(&ro);
    ro.check_utf8 = false; /* written by us from validated batches */
    rc = oa_ipc_file_reader_open(&s->reader, s->path, &ro, err);
    if (rc) s->corrupt = true;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* Appends every batch of the segment to out[*n...]. */
static bool chunk_may_match(const seg *s, int64_t i, const uint8_t *ids,
                            int64_t n_ids) {
  if (!ids || s->n_blooms == 0) return true;
  for (int64_t k = 0; k < n_ids; k++)
    if (oa_store_bloom_test_(&s->blooms[i], ids + k * 16)) return true;
  return false;
}

/* Appends the segment's batches (those whose bloom filter may hold one of
 * ids, when ids) to out[*n...]. */
static int seg_read(seg *s, const uint8_t *ids, int64_t n_ids, oa_batch **out,
                    int64_t *n, int64_t *cap, oa_error *err) {
  OA_RETURN_NOT_OK(seg_open_reader(s, err));
  int64_t nb = oa_ipc_file_reader_n_batches(s->reader);
  int64_t start = *n;
  int rc = 0;
  if (s->n_blooms && s->n_blooms != nb) ids = NULL; /* not ours: read all */
  for (int64_t i = 0; i < nb; i++) {
    if (!chunk_may_match(s, i, ids, n_ids)) continue;
    if (*n == *cap) {
      int64_t c = *cap ? *cap * 2 : 16;
      oa_batch *g = realloc(*out, (size_t)c * sizeof *g);
      if (!g) {
        rc = oom(err);
        break;
      }
      *out = g;
      *cap = c;
    }
    oa_batch_init(&(*out)[*n]);
    pthread_mutex_lock(&s->mu);
    rc = oa_ipc_file_reader_read(s->reader, i, &(*out)[*n], err);
    pthread_mutex_unlock(&s->mu);
    if (rc) break;
    (*n)++;
  }
  if (rc) {
    for (int64_t i = start; i < *n; i++)
      oa_batch_reset(&(*out)[i]);
    *n = start;
    if (rc != ENOMEM) {
      pthread_mutex_lock(&s->mu);
      s->corrupt = true;
      pthread_mutex_unlock(&s->mu);
      oa_error_prefix(err, EIO, "segment %s: ", s->path);
      rc = EIO;
    }
  }
  return rc;
}

/* ------------------------------------------------------------ entries */

static void mem_reset(mem_batch *m) {
  oa_batch_reset(&m->batch);
  free(m->id);
  memset(m, 0, sizeof *m);
}

static void entry_free(ds_entry *e, bool doom) {
  if (!e) return;
  for (int64_t i = 0; i < e->n; i++)
    mem_reset(&e->mem[i]);
  free(e->mem);
  for (int64_t i = 0; i < e->n_segs; i++) {
    if (doom) e->segs[i]->doomed = true;
    seg_release(e->segs[i]);
  }
  free(e->segs);
  idset_clear(&e->ids);
  if (e->schema) oa_schema_release(e->schema);
  free(e);
}

/* ------------------------------------------------------------ accounting */

typedef struct region_set {
  oa_region **r;
  int64_t n, cap;
  int64_t loose; /* bytes of buffers without a region */
  int rc;
} region_set;

static void collect(region_set *s, const oa_array *a) {
  for (int32_t i = 0; i < a->n_buffers; i++) {
    const oa_buffer *b = &a->buffers[i];
    if (!b->region) {
      s->loose += b->size;
      continue;
    }
    if (s->n == s->cap) {
      int64_t cap = s->cap ? s->cap * 2 : 64;
      /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
      oa_region **r = realloc(s->r, (size_t)cap * sizeof *r);
      if (!r) {
        s->rc = ENOMEM;
        return;
      }
      s->r = r;
      s->cap = cap;
    }
    s->r[s->n++] = b->region;
  }
  for (int64_t i = 0; i < a->n_children; i++)
    collect(s, &a->children[i]);
  if (a->dictionary) collect(s, a->dictionary);
}

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (oa_region *const *)a;
  uintptr_t y = (uintptr_t) * (oa_region *const *)b;
  return x < y ? -1 : x > y;
}

static int batch_bytes(const oa_batch *b, int64_t *out, oa_error *err) {
  region_set s = {0};
  for (int64_t i = 0; i < b->n_columns; i++)
    collect(&s, &b->columns[i]);
  if (s.rc) {
    free(s.r);
    return oa_error_set(err, ENOMEM, "datasets: out of memory");
  }
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
  if (s.n > 1) qsort(s.r, (size_t)s.n, sizeof *s.r, cmp_ptr);
  int64_t total = s.loose;
  for (int64_t i = 0; i < s.n; i++)
    if (i == 0 || s.r[i] != s.r[i - 1]) total += s.r[i]->size;
  free(s.r);
  *out = total;
  return 0;
}

/* ------------------------------------------------------------ lookup */

static int check_name(const char *name, oa_error *err) {
  if (!name || !*name)
    return oa_error_set(err, EINVAL, "datasets: empty dataset name");
  if (strlen(name) >= sizeof(((ds_entry *)0)->name))
    return oa_error_set(err, EINVAL, "datasets: name longer than 255 bytes");
  return 0;
}

/* Names the first column where got differs from want. */
static int schema_mismatch(const char *name, const oa_schema *want,
                           const oa_schema *got, oa_error *err) {
  int64_t n = want->n_fields < got->n_fields ? want->n_fields : got->n_fields;
  for (int64_t i = 0; i < n; i++) {
    oa_error e;
    e.message[0] = 0;
    if (!oa_field_equals(&want->fields[i], &got->fields[i], false, &e))
      return oa_error_set(
          err, EINVAL, "dataset '%s': schema differs at column %lld '%s': %s",
          name, (long long)i, want->fields[i].name, e.message);
  }
  if (want->n_fields > got->n_fields)
    return oa_error_set(err, EINVAL,
                        "dataset '%s': schema differs: column %lld '%s' is "
                        "missing (%lld columns, expected %lld)",
                        name, (long long)n, want->fields[n].name,
                        (long long)got->n_fields, (long long)want->n_fields);
  return oa_error_set(err, EINVAL,
                      "dataset '%s': schema differs: unexpected column %lld "
                      "'%s' (%lld columns, expected %lld)",
                      name, (long long)n, got->fields[n].name,
                      (long long)got->n_fields, (long long)want->n_fields);
}

static bool schemas_equal(const oa_schema *a, const oa_schema *b) {
  return a == b || oa_schema_equals(a, b, false, NULL);
}

static ds_entry *find(oa_datasets *d, const char *name) {
  for (int64_t i = 0; i < d->n; i++)
    if (strcmp(d->items[i]->name, name) == 0) return d->items[i];
  return NULL;
}

/* Adds an empty entry (d->mu held). */
static int add_entry(oa_datasets *d, const char *name, oa_schema *schema,
                     ds_entry **out, oa_error *err) {
  if (d->n == d->cap) {
    int64_t cap = d->cap ? d->cap * 2 : 8;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    ds_entry **items = realloc(d->items, (size_t)cap * sizeof *items);
    if (!items) return oom(err);
    d->items = items;
    d->cap = cap;
  }
  ds_entry *e = calloc(1, sizeof *e);
  if (!e) return oom(err);
  strcpy(e->name, name);
  oa_schema_retain(schema);
  e->schema = schema;
  e->incarnation = ++d->incarnations;
  detect_span(e);
  d->items[d->n++] = e;
  *out = e;
  return 0;
}

static void remove_entry(oa_datasets *d, ds_entry *e) {
  for (int64_t i = 0; i < d->n; i++)
    if (d->items[i] == e) {
      memmove(&d->items[i], &d->items[i + 1],
              (size_t)(d->n - i - 1) * sizeof *d->items);
      d->n--;
      return;
    }
}

static int add_mem(ds_entry *e, oa_batch *moved, int64_t bytes, int64_t lo,
                   int64_t hi, const char *id, oa_error *err) {
  if (e->n == e->cap) {
    int64_t cap = e->cap ? e->cap * 2 : 16;
    mem_batch *g = realloc(e->mem, (size_t)cap * sizeof *g);
    if (!g) return oom(err);
    e->mem = g;
    e->cap = cap;
  }
  char *idc = NULL;
  if (id && !(idc = strdup(id))) return oom(err);
  if (id && idset_add(&e->ids, id)) {
    free(idc);
    return oom(err);
  }
  mem_batch *m = &e->mem[e->n++];
  memset(m, 0, sizeof *m);
  oa_batch_move(&m->batch, moved);
  m->bytes = bytes;
  m->min_time = lo;
  m->max_time = hi;
  m->id = idc;
  e->rows += m->batch.length;
  e->bytes += bytes;
  return 0;
}

/* ------------------------------------------------------------ IPC bytes */

/* Appends an IPC stream of the schema and (if batch) one batch to out. */
static int encode_stream(oa_schema *schema, const oa_batch *batch,
                         oa_bytes *out, oa_error *err) {
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  oa_ipc_writer *w = NULL;
  OA_RETURN_NOT_OK(oa_ipc_writer_new(&w, OA_IPC_STREAM, schema, &wo,
                                     oa_sink_bytes(out), err));
  int rc = batch ? oa_ipc_writer_write(w, batch, err) : 0;
  if (!rc) rc = oa_ipc_writer_finish(w, err);
  oa_ipc_writer_free(w);
  return rc;
}

/* Decodes a stream written by encode_stream from a private copy of the
 * bytes (so that the batch keeps only its own record alive). */
static int decode_stream(const uint8_t *p, int64_t n, oa_schema **schema,
                         oa_batch *batch, bool *got, oa_error *err) {
  *schema = NULL;
  *got = false;
  oa_region *r = oa_region_alloc(n ? n : 1);
  if (!r) return oom(err);
  if (n) memcpy(r->data, p, (size_t)n);
  oa_buffer buf = {r->data, n, r};
  oa_ipc_read_options ro;
  oa_ipc_read_options_init(&ro);
  oa_ipc_stream_reader *sr = NULL;
  int rc = oa_ipc_stream_reader_new(&sr, &ro, err);
  if (!rc) rc = oa_ipc_stream_reader_push_buffer(sr, &buf, err);
  oa_batch tmp;
  oa_batch_init(&tmp);
  /* the schema message is parsed by the first next() */
  if (!rc) rc = oa_ipc_stream_reader_next(sr, batch ? batch : &tmp, got, err);
  oa_batch_reset(&tmp);
  if (!rc && !oa_ipc_stream_reader_schema(sr))
    rc = oa_error_set(err, EINVAL, "no schema in the IPC stream");
  if (!rc) {
    *schema = oa_ipc_stream_reader_schema(sr);
    oa_schema_retain(*schema);
  }
  oa_ipc_stream_reader_free(sr);
  oa_region_release(r);
  return rc;
}

/* ------------------------------------------------------------ the log */

/* An append's log record, gathered rather than copied: the header, payload
 * prefix, message framing and metadata and small buffers go to own; the
 * batch's body buffers are written from where they are (writev). Copying a
 * batch's IPC stream into one buffer was most of an append's CPU. */
enum { GATHER_INLINE_MAX = 512 };

typedef struct wal_piece {
  const uint8_t *data; /* NULL: own.data + off */
  int64_t off, len;
} wal_piece;

typedef struct wal_gather {
  oa_bytes own;
  wal_piece *p;
  int64_t n, cap;
  oa_region **held; /* scratch buffers of the encoder, retained */
  int64_t n_held, cap_held;
  int64_t size;
} wal_gather;

static void gather_init(wal_gather *g) {
  memset(g, 0, sizeof *g);
  oa_bytes_init(&g->own);
}

static void gather_reset(wal_gather *g) {
  oa_bytes_reset(&g->own);
  free(g->p);
  for (int64_t i = 0; i < g->n_held; i++)
    oa_region_release(g->held[i]);
  free(g->held);
  memset(g, 0, sizeof *g);
}

static int gather_piece(wal_gather *g, const uint8_t *data, int64_t off,
                        int64_t len) {
  if (len == 0) return 0;
  wal_piece *last = g->n ? &g->p[g->n - 1] : NULL;
  if (!data && last && !last->data && last->off + last->len == off) {
    last->len += len; /* consecutive inline bytes: one piece */
  } else {
    if (g->n == g->cap || !g->p) {
      int64_t cap = g->cap ? g->cap * 2 : 32;
      wal_piece *np = realloc(g->p, (size_t)cap * sizeof *np);
      if (!np) return ENOMEM;
      g->p = np;
      g->cap = cap;
    }
    g->p[g->n++] = (wal_piece){data, off, len};
  }
  g->size += len;
  return 0;
}

static int gather_copy(wal_gather *g, const void *data, int64_t len) {
  int64_t off = g->own.size;
  if (len == 0) return 0;
  if (oa_bytes_append(&g->own, data, len)) return ENOMEM;
  return gather_piece(g, NULL, off, len);
}

/* References b (the batch outlives the write; scratch regions are held). */
static int gather_ref(wal_gather *g, const oa_buffer *b) {
  if (b->size <= GATHER_INLINE_MAX) return gather_copy(g, b->data, b->size);
  if (b->region) {
    if (g->n_held == g->cap_held) {
      int64_t cap = g->cap_held ? g->cap_held * 2 : 16;
      /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
      oa_region **nh = realloc(g->held, (size_t)cap * sizeof *nh);
      if (!nh) return ENOMEM;
      g->held = nh;
      g->cap_held = cap;
    }
    oa_region_retain(b->region);
    g->held[g->n_held++] = b->region;
  }
  return gather_piece(g, b->data, 0, b->size);
}

static const uint8_t *piece_data(const wal_gather *g, const wal_piece *p) {
  return p->data ? p->data : g->own.data + p->off;
}

/* oa_ipc_emit_fn: one framed message (as the stream writer frames it). */
static int gather_message(void *ctx, const oa_ipc_message *m, oa_error *err) {
  wal_gather *g = ctx;
  if (m->metadata.size > INT32_MAX - 8)
    return oa_error_set(err, E2BIG, "store: message metadata too large");
  uint8_t prefix[8];
  oa_ipc_store_i32(prefix, -1);
  oa_ipc_store_i32(prefix + 4, (int32_t)m->metadata.size);
  int rc = gather_copy(g, prefix, 8);
  if (!rc) rc = gather_copy(g, m->metadata.data, m->metadata.size);
  for (int64_t i = 0; !rc && i < m->n_segments; i++)
    rc = gather_ref(g, &m->segments[i]);
  return rc ? oom(err) : 0;
}

/* The APPEND record of batch: the same bytes as oa_store_wal_begin_ +
 * encode_stream + oa_store_wal_end_, as pieces. */
static int gather_append(wal_gather *g, const char *name, const char *id,
                         int64_t time, const oa_batch *batch, oa_error *err) {
  int64_t start = 0;
  OA_RETURN_NOT_OK(
      oa_store_wal_begin_(&g->own, OA_WAL_APPEND, name, id, time, &start, err));
  if (gather_piece(g, NULL, 0, g->own.size)) return oom(err);
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  oa_ipc_encoder *enc = NULL;
  OA_RETURN_NOT_OK(oa_ipc_encoder_new(&enc, batch->schema, &wo, err));
  oa_ipc_message m;
  oa_ipc_message_init(&m);
  int rc = oa_ipc_encoder_schema(enc, &m, err);
  if (!rc) rc = gather_message(g, &m, err);
  oa_ipc_message_reset(&m);
  if (!rc) rc = oa_ipc_encoder_batch(enc, batch, gather_message, g, err);
  oa_ipc_encoder_free(enc);
  static const uint8_t eos[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
  if (!rc && gather_copy(g, eos, 8)) rc = oom(err);
  if (rc) return rc;
  /* the payload's checksum, piece by piece (the header is piece 0's start) */
  uint32_t crc = 0;
  for (int64_t i = 0; i < g->n; i++) {
    const uint8_t *p = piece_data(g, &g->p[i]);
    int64_t len = g->p[i].len, skip = i == 0 ? OA_WAL_HEADER : 0;
    crc = oa_store_crc32c_(crc, p + skip, (size_t)(len - skip), true);
  }
  return oa_store_wal_header_(g->own.data, g->size - OA_WAL_HEADER, crc, err);
}

/* writev of every piece, resumed after short writes. */
static int writev_all(int fd, const wal_gather *g) {
  enum { IOV = 64 };
  struct iovec iov[IOV];
  int64_t i = 0, skip = 0;
  while (i < g->n) {
    int k = 0;
    for (int64_t j = i; j < g->n && k < IOV; j++, k++) {
      int64_t s = j == i ? skip : 0;
      iov[k].iov_base = (void *)(piece_data(g, &g->p[j]) + s);
      iov[k].iov_len = (size_t)(g->p[j].len - s);
    }
    errno = 0;
    ssize_t w = writev(fd, iov, k);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return errno ? errno : EIO;
    while (w > 0 && i < g->n) {
      int64_t rest = g->p[i].len - skip;
      if (w >= rest) {
        w -= rest;
        i++;
        skip = 0;
      } else {
        skip += w;
        w = 0;
      }
    }
  }
  return 0;
}

/* A full disk is retryable (EAGAIN: the receivers answer UNAVAILABLE / 503
 * with a retry delay): space may come back, and the client sends again. */
static int log_errno(int e) {
  return e == ENOSPC || e == EDQUOT ? EAGAIN : EIO;
}

/* Writes a record at the end of the current log (d->mu held). A failed
 * write is cut off again so that the log never holds a partial record in
 * front of later ones. */
static int wal_write(oa_datasets *d, const wal_gather *rec, uint64_t *seq,
                     int64_t *end, oa_error *err) {
  int64_t at = atomic_load(&d->wal_size);
  int e = writev_all(d->wal_fd, rec);
  if (e) {
    if (ftruncate(d->wal_fd, at) == 0) lseek(d->wal_fd, at, SEEK_SET);
    return oa_error_set(err, log_errno(e),
                        "store: %swriting the log %s/wal-%016llx.log: %s",
                        log_errno(e) == EAGAIN ? "disk full: " : "", d->dir,
                        (unsigned long long)d->wal_seq, strerror(e));
  }
  atomic_store(&d->wal_size, at + rec->size);
  *seq = d->wal_seq;
  *end = at + rec->size;
  return 0;
}

/* Makes the log durable up to (seq, end); one fsync covers every record
 * written before it started. */
static int wal_sync(oa_datasets *d, uint64_t seq, int64_t end, oa_error *err) {
  int rc = 0;
  pthread_mutex_lock(&d->sync_mu);
  if (d->synced_seq > seq || (d->synced_seq == seq && d->synced_size >= end))
    goto done;
  int64_t target = atomic_load(&d->wal_size);
  if (fdatasync(d->wal_fd) != 0) {
    int e = errno;
    rc = oa_error_set(err, log_errno(e), "store: %sfsync of the log in %s: %s",
                      log_errno(e) == EAGAIN ? "disk full: " : "", d->dir,
                      strerror(e));
    goto done;
  }
  d->synced_seq = d->wal_seq;
  d->synced_size = target;
done:
  pthread_mutex_unlock(&d->sync_mu);
  return rc;
}

/* Opens log seq as the current one (d->mu and d->sync_mu held, or before
 * any thread runs). */
static int wal_open(oa_datasets *d, uint64_t seq, oa_error *err) {
  char p[PATH_MAX];
  wal_path(d, seq, p);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return oa_error_set(err, EIO, "store: cannot create the log '%s': %s", p,
                        strerror(errno));
  int rc = fsync_dir(d->dir, err); /* the file itself must survive a crash */
  if (rc) {
    close(fd);
    return rc;
  }
  if (d->wal_fd >= 0) close(d->wal_fd);
  d->wal_fd = fd;
  d->wal_seq = seq;
  atomic_store(&d->wal_size, 0);
  d->synced_seq = seq;
  d->synced_size = 0;
  return 0;
}

/* Closes the current log durably and starts the next (d->mu held). */
static int wal_rotate(oa_datasets *d, uint64_t *old, oa_error *err) {
  int rc = 0;
  pthread_mutex_lock(&d->sync_mu);
  if (fdatasync(d->wal_fd) != 0)
    rc = oa_error_set(err, EIO, "store: fsync of the log: %s", strerror(errno));
  if (!rc) {
    *old = d->wal_seq;
    rc = wal_open(d, d->wal_seq + 1, err);
  }
  pthread_mutex_unlock(&d->sync_mu);
  return rc;
}

/* Writes a record now and syncs it whatever the policy (create, drop). */
static int wal_log_sync(oa_datasets *d, const oa_bytes *rec, oa_error *err) {
  uint64_t seq;
  int64_t end;
  wal_gather g;
  gather_init(&g);
  g.own = *rec; /* borrowed: not reset here */
  int rc = gather_piece(&g, NULL, 0, rec->size) ? oom(err) : 0;
  if (!rc) rc = wal_write(d, &g, &seq, &end, err);
  free(g.p);
  OA_RETURN_NOT_OK(rc);
  return d->opt.fsync == OA_FSYNC_NEVER ? 0 : wal_sync(d, seq, end, err);
}

/* ------------------------------------------------------------ manifest */

/* Encodes the manifest of the current state (d->mu held). */
static int manifest_bytes(oa_datasets *d, oa_bytes *out, oa_error *err) {
  oa_store_manifest m;
  oa_store_manifest_init_(&m);
  m.generation = ++d->generation;
  m.wal_flushed = d->wal_flushed;
  m.next_segment = d->next_segment;
  int64_t total = 0;
  for (int64_t i = 0; i < d->n; i++)
    total += d->items[i]->n_segs;
  int rc = 0;
  m.segs = calloc((size_t)(total ? total : 1), sizeof *m.segs);
  if (!m.segs) rc = oom(err);
  oa_bytes sch;
  oa_bytes_init(&sch);
  for (int64_t i = 0; !rc && i < d->n; i++) {
    ds_entry *e = d->items[i];
    sch.size = 0;
    rc = encode_stream(e->schema, NULL, &sch, err);
    if (!rc)
      rc = oa_store_manifest_set_ds_(&m, e->name, sch.data, sch.size, err);
    for (int64_t j = 0; !rc && j < e->n_segs; j++)
      m.segs[m.n_segs++] = e->segs[j]->meta; /* shallow */
  }
  oa_bytes_reset(&sch);
  if (!rc) rc = oa_store_manifest_encode_(&m, out, err);
  free(m.segs); /* shallow copies: the entries own the ids */
  m.segs = NULL;
  m.n_segs = 0;
  oa_store_manifest_reset_(&m);
  return rc;
}

static int manifest_write(oa_datasets *d, const oa_bytes *b, oa_error *err) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/MANIFEST", d->dir);
  return write_file_atomic(d->dir, p, b->data, b->size, true, err);
}

/* Deletes logs up to seq (they are in segments now). */
static void wal_delete_upto(oa_datasets *d, uint64_t seq) {
  DIR *dir = opendir(d->dir);
  if (!dir) return;
  struct dirent *de;
  char p[PATH_MAX];
  while ((de = readdir(dir)) != NULL) {
    unsigned long long s;
    char tail[8];
    if (sscanf(de->d_name, "wal-%16llx.%4s", &s, tail) == 2 &&
        strcmp(tail, "log") == 0 && s <= seq) {
      wal_path(d, s, p);
      unlink(p);
    }
  }
  closedir(dir);
}

/* ------------------------------------------------------------ public API */

int oa_datasets_new(oa_datasets **out, int64_t max_memory, oa_error *err) {
  return oa_datasets_open(out, NULL, NULL, max_memory, err);
}

int oa_datasets_create(oa_datasets *d, const char *name, oa_schema *schema,
                       oa_error *err) {
  OA_RETURN_NOT_OK(check_name(name, err));
  if (!schema) return oa_error_set(err, EINVAL, "datasets: NULL schema");
  oa_bytes rec;
  oa_bytes_init(&rec);
  int rc = 0;
  pthread_mutex_lock(&d->mu);
  ds_entry *e = find(d, name);
  if (e) {
    if (!schemas_equal(e->schema, schema))
      rc = schema_mismatch(name, e->schema, schema, err);
    goto done;
  }
  if (d->dir && !d->read_only) {
    int64_t start;
    rc = oa_store_wal_begin_(&rec, OA_WAL_CREATE, name, NULL,
                             now_ns(CLOCK_REALTIME), &start, err);
    if (!rc) rc = encode_stream(schema, NULL, &rec, err);
    if (!rc) rc = oa_store_wal_end_(&rec, start, err);
    if (!rc) rc = wal_log_sync(d, &rec, err);
  }
  if (!rc) rc = add_entry(d, name, schema, &e, err);
done:
  pthread_mutex_unlock(&d->mu);
  oa_bytes_reset(&rec);
  return rc;
}

int oa_datasets_append(oa_datasets *d, const char *name, const oa_batch *batch,
                       oa_error *err) {
  int dup = 0;
  return oa_datasets_append_id(d, name, batch, NULL, &dup, err);
}

int oa_datasets_append_id(oa_datasets *d, const char *name,
                          const oa_batch *batch, const char *batch_id,
                          int *duplicate, oa_error *err) {
  int dup_local = 0;
  if (!duplicate) duplicate = &dup_local;
  *duplicate = 0;
  OA_RETURN_NOT_OK(check_name(name, err));
  if (!batch || !batch->schema)
    return oa_error_set(err, EINVAL, "dataset '%s': batch without a schema",
                        name);
  if (batch_id) {
    size_t il = strlen(batch_id);
    if (il == 0 || il > OA_STORE_MAX_ID)
      return oa_error_set(err, EINVAL,
                          "dataset '%s': batch id of %zu bytes (1..%d)", name,
                          il, OA_STORE_MAX_ID);
  }
  if (d->read_only)
    return oa_error_set(err, EROFS, "dataset '%s': the store %s is read-only",
                        name, d->dir);
  int64_t bytes = 0;
  OA_RETURN_NOT_OK(batch_bytes(batch, &bytes, err));
  if (d->limit > 0 && bytes > d->limit)
    return oa_error_set(err, E2BIG,
                        "dataset '%s': a batch of %lld bytes exceeds the "
                        "memory limit of %lld bytes",
                        name, (long long)bytes, (long long)d->limit);
  int64_t arrival = now_ns(CLOCK_REALTIME);
  wal_gather rec;
  gather_init(&rec);
  if (d->dir) {
    /* encoded outside the lock: the costly part of an append */
    int rc = gather_append(&rec, name, batch_id, arrival, batch, err);
    if (rc) {
      gather_reset(&rec);
      return rc;
    }
  }
  oa_batch copy;
  int rc = oa_batch_copy(&copy, batch, err); /* references only */
  if (rc) {
    gather_reset(&rec);
    return rc;
  }
  uint64_t seq = 0;
  int64_t end = 0;
  bool logged = false;
  pthread_mutex_lock(&d->mu);
  ds_entry *e = find(d, name);
  if (e && !schemas_equal(e->schema, batch->schema)) {
    rc = schema_mismatch(name, e->schema, batch->schema, err);
    goto done;
  }
  if (e && batch_id && idset_has(&e->ids, batch_id)) {
    *duplicate = 1;
    d->st.duplicates++;
    goto done;
  }
  if (d->limit > 0 && d->used + bytes > d->limit) {
    if (d->dir) {
      d->flush_wanted = true;
      pthread_cond_signal(&d->cond);
    }
    rc = oa_error_set(err, EAGAIN,
                      "dataset '%s': memory limit reached (%lld bytes held + "
                      "%lld > %lld)",
                      name, (long long)d->used, (long long)bytes,
                      (long long)d->limit);
    goto done;
  }
  bool created = false;
  if (!e) {
    rc = add_entry(d, name, batch->schema, &e, err);
    if (rc) goto done;
    created = true;
  }
  if (d->dir) {
    rc = wal_write(d, &rec, &seq, &end, err);
    if (rc) {
      if (created) {
        remove_entry(d, e);
        entry_free(e, false);
      }
      goto done;
    }
    logged = true;
  }
  int64_t lo, hi;
  batch_times(e, &copy, arrival, &lo, &hi);
  rc = add_mem(e, &copy, bytes, lo, hi, batch_id, err);
  if (rc) goto done;
  d->used += bytes;
  if (d->dir) {
    int64_t lim = d->opt.segment_bytes;
    if (d->limit > 0 && d->limit / 2 < lim) lim = d->limit / 2;
    if (d->used >= lim || e->rows >= d->opt.segment_rows) {
      d->flush_wanted = true;
      pthread_cond_signal(&d->cond);
    }
  }
done:
  pthread_mutex_unlock(&d->mu);
  oa_batch_reset(&copy);
  gather_reset(&rec);
  if (!rc && logged && d->opt.fsync == OA_FSYNC_BATCH)
    rc = wal_sync(d, seq, end, err);
  return rc;
}

static bool seg_may_match(const ds_entry *e, const seg *s, const uint8_t *ids,
                          int64_t n_ids, int64_t lo, int64_t hi) {
  if (!e->span) return true;
  if (s->meta.max_time < lo || s->meta.min_time > hi) return false;
  if (!ids || !s->n_blooms) return true;
  for (int64_t b = 0; b < s->n_blooms; b++)
    for (int64_t i = 0; i < n_ids; i++)
      if (oa_store_bloom_test_(&s->blooms[b], ids + i * 16)) return true;
  return false;
}

static int snapshot(oa_datasets *d, const char *name, bool filter,
                    const uint8_t *ids, int64_t n_ids, int64_t lo, int64_t hi,
                    oa_schema **schema, oa_batch **batches, int64_t *n,
                    oa_error *err) {
  *schema = NULL;
  *batches = NULL;
  *n = 0;
  OA_RETURN_NOT_OK(check_name(name, err));
  int rc = 0;
  seg **segs = NULL;
  int64_t n_segs = 0, skipped = 0;
  oa_batch *out = NULL;
  int64_t n_out = 0, cap = 0;
  oa_schema *s = NULL;
  pthread_mutex_lock(&d->mu);
  ds_entry *e = find(d, name);
  if (!e) {
    rc = oa_error_set(err, ENOENT, "dataset '%s' does not exist", name);
    pthread_mutex_unlock(&d->mu);
    return rc;
  }
  if (e->n_segs) {
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    segs = calloc((size_t)e->n_segs, sizeof *segs);
    if (!segs) rc = oom(err);
  }
  for (int64_t i = 0; !rc && i < e->n_segs; i++) {
    seg *g = e->segs[i];
    if (filter && !seg_may_match(e, g, ids, n_ids, lo, hi)) {
      skipped++;
      continue;
    }
    atomic_fetch_add(&g->refs, 1);
    segs[n_segs++] = g;
  }
  /* The unflushed batches are newer than the segments: copied now (under
   * the lock, for a consistent cut) and put after the segments' batches, so
   * that a snapshot has the append order whether or not a flush ran in
   * between. */
  oa_batch *tail = NULL;
  int64_t n_tail = 0;
  if (!rc && e->n && !(tail = calloc((size_t)e->n, sizeof *tail)))
    rc = oom(err);
  for (int64_t i = 0; !rc && i < e->n; i++) {
    rc = oa_batch_copy(&tail[n_tail], &e->mem[i].batch, err);
    if (!rc) n_tail++;
  }
  if (!rc) {
    s = e->schema;
    oa_schema_retain(s);
  }
  d->st.segments_skipped += skipped;
  d->st.segments_opened += n_segs;
  pthread_mutex_unlock(&d->mu);
  cap = n_tail + 16;
  if (!rc && !(out = calloc((size_t)cap, sizeof *out))) rc = oom(err);
  /* segments are decoded outside the lock: appends go on meanwhile */
  int64_t corrupt = 0;
  for (int64_t i = 0; !rc && i < n_segs; i++) {
    oa_error e2;
    int r2 =
        seg_read(segs[i], filter ? ids : NULL, n_ids, &out, &n_out, &cap, &e2);
    if (r2 == ENOMEM)
      rc = oa_error_set(err, ENOMEM, "%s", e2.message);
    else if (r2)
      corrupt++; /* reported through the stats, then skipped */
  }
  for (int64_t i = 0; i < n_segs; i++)
    seg_release(segs[i]);
  free(segs);
  if (!rc && n_out + n_tail > cap) {
    oa_batch *g = realloc(out, (size_t)(n_out + n_tail) * sizeof *g);
    if (!g)
      rc = oom(err);
    else
      out = g;
  }
  for (int64_t i = 0; i < n_tail; i++) {
    if (!rc)
      oa_batch_move(&out[n_out++], &tail[i]);
    else
      oa_batch_reset(&tail[i]);
  }
  free(tail);
  if (corrupt) {
    pthread_mutex_lock(&d->mu);
    d->st.segments_corrupt += corrupt;
    pthread_mutex_unlock(&d->mu);
  }
  if (rc) {
    oa_datasets_snapshot_free(s, out, n_out);
    return rc;
  }
  *schema = s;
  *batches = out;
  *n = n_out;
  return 0;
}

int oa_datasets_snapshot(oa_datasets *d, const char *name, oa_schema **schema,
                         oa_batch **batches, int64_t *n, oa_error *err) {
  return snapshot(d, name, false, NULL, 0, INT64_MIN, INT64_MAX, schema,
                  batches, n, err);
}

int oa_datasets_snapshot_filtered(oa_datasets *d, const char *name,
                                  const uint8_t *trace_ids, int64_t n_ids,
                                  int64_t min_time, int64_t max_time,
                                  oa_schema **schema, oa_batch **batches,
                                  int64_t *n, oa_error *err) {
  if (n_ids < 0 || (n_ids > 0 && !trace_ids))
    return oa_error_set(err, EINVAL, "dataset '%s': %lld trace ids at %p",
                        name ? name : "", (long long)n_ids,
                        (const void *)trace_ids);
  return snapshot(d, name, true, n_ids ? trace_ids : NULL, n_ids, min_time,
                  max_time, schema, batches, n, err);
}

void oa_datasets_snapshot_free(oa_schema *schema, oa_batch *batches,
                               int64_t n) {
  for (int64_t i = 0; i < n; i++)
    oa_batch_reset(&batches[i]);
  free(batches);
  if (schema) oa_schema_release(schema);
}

static void fill_info(const ds_entry *e, oa_dataset_info *out) {
  memset(out, 0, sizeof *out);
  strcpy(out->name, e->name);
  oa_schema_retain(e->schema);
  out->schema = e->schema;
  out->n_batches = e->n;
  out->n_rows = e->rows;
  out->n_bytes = e->bytes;
  for (int64_t i = 0; i < e->n_segs; i++) {
    const oa_store_seg_meta *m = &e->segs[i]->meta;
    out->n_batches += m->n_batches;
    out->n_rows += m->rows;
    out->n_bytes += m->bytes;
  }
}

int oa_datasets_info(oa_datasets *d, const char *name, oa_dataset_info *out,
                     oa_error *err) {
  memset(out, 0, sizeof *out);
  OA_RETURN_NOT_OK(check_name(name, err));
  int rc = 0;
  pthread_mutex_lock(&d->mu);
  ds_entry *e = find(d, name);
  if (e)
    fill_info(e, out);
  else
    rc = oa_error_set(err, ENOENT, "dataset '%s' does not exist", name);
  pthread_mutex_unlock(&d->mu);
  return rc;
}

int oa_datasets_list(oa_datasets *d, oa_dataset_info **out, int64_t *n,
                     oa_error *err) {
  *out = NULL;
  *n = 0;
  int rc = 0;
  pthread_mutex_lock(&d->mu);
  oa_dataset_info *infos = calloc((size_t)(d->n ? d->n : 1), sizeof *infos);
  if (!infos) {
    rc = oom(err);
  } else {
    for (int64_t i = 0; i < d->n; i++)
      fill_info(d->items[i], &infos[i]);
    *out = infos;
    *n = d->n;
  }
  pthread_mutex_unlock(&d->mu);
  return rc;
}

void oa_dataset_info_free(oa_dataset_info *infos, int64_t n) {
  if (!infos) return;
  for (int64_t i = 0; i < n; i++)
    if (infos[i].schema) oa_schema_release(infos[i].schema);
  free(infos);
}

int oa_datasets_drop(oa_datasets *d, const char *name, oa_error *err) {
  OA_RETURN_NOT_OK(check_name(name, err));
  if (d->read_only)
    return oa_error_set(err, EROFS, "dataset '%s': the store %s is read-only",
                        name, d->dir);
  int rc = 0;
  ds_entry *victim = NULL;
  oa_bytes rec, man;
  oa_bytes_init(&rec);
  oa_bytes_init(&man);
  if (d->dir) pthread_mutex_lock(&d->flush_mu);
  pthread_mutex_lock(&d->mu);
  ds_entry *e = find(d, name);
  if (!e) {
    rc = oa_error_set(err, ENOENT, "dataset '%s' does not exist", name);
  } else {
    if (d->dir) {
      /* logged first: a replay must not bring the dataset back */
      int64_t start;
      rc = oa_store_wal_begin_(&rec, OA_WAL_DROP, name, NULL,
                               now_ns(CLOCK_REALTIME), &start, err);
      if (!rc) rc = oa_store_wal_end_(&rec, start, err);
      if (!rc) rc = wal_log_sync(d, &rec, err);
    }
    if (!rc) {
      victim = e;
      d->used -= e->bytes;
      remove_entry(d, e);
      if (d->dir) rc = manifest_bytes(d, &man, err);
    }
  }
  pthread_mutex_unlock(&d->mu);
  if (!rc && d->dir) rc = manifest_write(d, &man, err);
  if (d->dir) pthread_mutex_unlock(&d->flush_mu);
  /* release buffers outside the lock; segment files go with the last
   * snapshot that holds them */
  if (victim) entry_free(victim, d->dir != NULL);
  oa_bytes_reset(&rec);
  oa_bytes_reset(&man);
  return rc;
}

int64_t oa_datasets_memory_used(oa_datasets *d) {
  pthread_mutex_lock(&d->mu);
  int64_t u = d->used;
  pthread_mutex_unlock(&d->mu);
  return u;
}

int64_t oa_datasets_memory_limit(const oa_datasets *d) { return d->limit; }

void oa_datasets_store_stats(oa_datasets *d, oa_store_stats *out) {
  pthread_mutex_lock(&d->mu);
  *out = d->st;
  out->segments = out->segment_bytes = out->segment_rows = 0;
  for (int64_t i = 0; i < d->n; i++) {
    ds_entry *e = d->items[i];
    out->segments += e->n_segs;
    for (int64_t j = 0; j < e->n_segs; j++) {
      out->segment_bytes += e->segs[j]->meta.bytes;
      out->segment_rows += e->segs[j]->meta.rows;
    }
  }
  out->unflushed_bytes = d->used;
  pthread_mutex_unlock(&d->mu);
}

/* ------------------------------------------------------------ dictionaries
 * The IPC file format lets a dictionary grow (delta) but not be replaced,
 * while each received batch carries its own dictionaries. A segment
 * therefore gets one dictionary per id: the concatenation (built once) of
 * the distinct dictionaries of its batches, each batch's indices shifted by
 * where its own one starts. Batches read back from one segment share their
 * dictionary, which is recognised by identity and taken once. */

typedef struct dict_src {
  const oa_array *arr;
  int64_t off;
} dict_src;

typedef struct dict_acc {
  int64_t id;
  const oa_field *field;
  dict_src *src;
  int64_t n_src, cap_src, len;
  oa_array acc;
} dict_acc;

typedef struct unifier {
  dict_acc *d;
  int64_t n, cap;
} unifier;

static void unifier_reset(unifier *u) {
  for (int64_t i = 0; i < u->n; i++) {
    oa_array_reset(&u->d[i].acc);
    free(u->d[i].src);
  }
  free(u->d);
  memset(u, 0, sizeof *u);
}

static bool field_has_dict(const oa_field *f) {
  if (f->dict.encoded) return true;
  for (int64_t i = 0; i < f->n_children; i++)
    if (field_has_dict(&f->children[i])) return true;
  return false;
}

static bool schema_has_dict(const oa_schema *s) {
  for (int64_t i = 0; i < s->n_fields; i++)
    if (field_has_dict(&s->fields[i])) return true;
  return false;
}

/* The same dictionary: the same buffers, offset and length. */
static bool same_array(const oa_array *a, const oa_array *b) {
  if (a->offset != b->offset || a->length != b->length ||
      a->n_buffers != b->n_buffers || a->n_children != b->n_children)
    return false;
  for (int i = 0; i < a->n_buffers; i++)
    if (a->buffers[i].data != b->buffers[i].data ||
        a->buffers[i].size != b->buffers[i].size)
      return false;
  for (int64_t i = 0; i < a->n_children; i++)
    if (!same_array(&a->children[i], &b->children[i])) return false;
  return true;
}

static int64_t index_max(oa_type_id t) {
  switch (t) {
  case OA_TYPE_INT8:
    return INT8_MAX;
  case OA_TYPE_UINT8:
    return UINT8_MAX;
  case OA_TYPE_INT16:
    return INT16_MAX;
  case OA_TYPE_UINT16:
    return UINT16_MAX;
  case OA_TYPE_INT32:
  case OA_TYPE_UINT32:
    return INT32_MAX;
  case OA_TYPE_INT64:
  case OA_TYPE_UINT64:
    return INT64_MAX;
  default:
    return 0;
  }
}

static dict_acc *acc_find(unifier *u, int64_t id) {
  for (int64_t i = 0; i < u->n; i++)
    if (u->d[i].id == id) return &u->d[i];
  return NULL;
}

static const dict_src *acc_src(const dict_acc *acc, const oa_array *dict) {
  for (int64_t i = 0; i < acc->n_src; i++)
    if (same_array(acc->src[i].arr, dict)) return &acc->src[i];
  return NULL;
}

/* Pass 1: notes each distinct dictionary of the array's dictionary fields. */
static int unify_collect(unifier *u, const oa_field *f, const oa_array *a,
                         int depth, oa_error *err) {
  if (depth > 64) return oa_error_set(err, ENOTSUP, "nesting too deep");
  if (!f->dict.encoded) {
    for (int64_t i = 0; i < f->n_children && i < a->n_children; i++)
      OA_RETURN_NOT_OK(
          unify_collect(u, &f->children[i], &a->children[i], depth + 1, err));
    return 0;
  }
  bool nested = false;
  for (int64_t i = 0; i < f->n_children; i++)
    nested |= field_has_dict(&f->children[i]);
  if (nested || !a->dictionary || !index_max(f->dict.index_type))
    return oa_error_set(err, ENOTSUP,
                        "field '%s': dictionary layout not merged across "
                        "batches",
                        f->name);
  dict_acc *acc = acc_find(u, f->dict.id);
  if (!acc) {
    if (u->n == u->cap) {
      int64_t cap = u->cap ? u->cap * 2 : 8;
      dict_acc *g = realloc(u->d, (size_t)cap * sizeof *g);
      if (!g) return oom(err);
      u->d = g;
      u->cap = cap;
    }
    acc = &u->d[u->n++];
    memset(acc, 0, sizeof *acc);
    oa_array_init(&acc->acc);
    acc->id = f->dict.id;
    acc->field = f;
  }
  if (acc_src(acc, a->dictionary)) return 0;
  if (acc->n_src == acc->cap_src) {
    int64_t cap = acc->cap_src ? acc->cap_src * 2 : 16;
    dict_src *g = realloc(acc->src, (size_t)cap * sizeof *g);
    if (!g) return oom(err);
    acc->src = g;
    acc->cap_src = cap;
  }
  acc->src[acc->n_src++] = (dict_src){a->dictionary, acc->len};
  acc->len += a->dictionary->length;
  if (acc->len - 1 > index_max(f->dict.index_type))
    return oa_error_set(err, ENOTSUP, "field '%s': merged dictionary too large",
                        f->name);
  return 0;
}

/* Builds each merged dictionary with one concatenation. */
static int unify_build(unifier *u, oa_error *err) {
  for (int64_t i = 0; i < u->n; i++) {
    dict_acc *acc = &u->d[i];
    if (acc->n_src == 1) {
      OA_RETURN_NOT_OK(oa_array_copy(&acc->acc, acc->src[0].arr, err));
      continue;
    }
    oa_array *parts = calloc((size_t)acc->n_src, sizeof *parts);
    if (!parts) return oom(err);
    for (int64_t k = 0; k < acc->n_src; k++)
      parts[k] = *acc->src[k].arr;
    oa_field vf = *acc->field;
    vf.dict.encoded = false;
    int rc = oa_ipc_concat(&vf, parts, acc->n_src, &acc->acc, err);
    free(parts);
    OA_RETURN_NOT_OK(rc);
  }
  return 0;
}

/* out[i] = in[i] + off for i in [lo, hi), indices of w bytes; unsigned
 * arithmetic, the result fits (checked when collected). One loop per width
 * so that the compiler vectorizes it: this runs over every row. */
#define OA_SHIFT_LOOP(T)                                                       \
  for (int64_t i = lo; i < hi; i++) {                                          \
    T v;                                                                       \
    memcpy(&v, in + i * (int64_t)sizeof(T), sizeof(T));                        \
    v = (T)(v + (T)off);                                                       \
    memcpy(out + i * (int64_t)sizeof(T), &v, sizeof(T));                       \
  }
static void shift_indices(const uint8_t *in, uint8_t *out, int64_t lo,
                          int64_t hi, int w, int64_t off) {
  switch (w) {
  case 1:
    OA_SHIFT_LOOP(uint8_t)
    break;
  case 2:
    OA_SHIFT_LOOP(uint16_t)
    break;
  case 4:
    OA_SHIFT_LOOP(uint32_t)
    break;
  default:
    OA_SHIFT_LOOP(uint64_t)
    break;
  }
}
#undef OA_SHIFT_LOOP

/* Pass 2: shifts a (copy's) indices and points it at the merged
 * dictionary. */
static int unify_apply(unifier *u, const oa_field *f, oa_array *a, int depth,
                       oa_error *err) {
  if (!f->dict.encoded) {
    for (int64_t i = 0; i < f->n_children && i < a->n_children; i++)
      OA_RETURN_NOT_OK(
          unify_apply(u, &f->children[i], &a->children[i], depth + 1, err));
    return 0;
  }
  dict_acc *acc = acc_find(u, f->dict.id);
  const dict_src *src = acc ? acc_src(acc, a->dictionary) : NULL;
  if (!src)
    return oa_error_set(err, EINVAL, "field '%s': dictionary not collected",
                        f->name);
  int64_t off = src->off;
  if (off && a->length) {
    int w = oa_int_width_(f->dict.index_type);
    int64_t n = a->offset + a->length;
    if (a->buffers[1].size < n * w)
      return oa_error_set(err, EINVAL, "field '%s': index buffer too small",
                          f->name);
    oa_region *r = oa_region_alloc(n * w);
    if (!r) return oom(err);
    shift_indices(a->buffers[1].data, r->data, a->offset, n, w, off);
    if (a->buffers[1].region) oa_region_release(a->buffers[1].region);
    a->buffers[1] = (oa_buffer){r->data, n * w, r};
  }
  oa_array_reset(a->dictionary);
  return oa_array_copy(a->dictionary, &acc->acc, err);
}

/* ------------------------------------------------------------ segments out */

typedef struct span_info {
  bool span;
  int tid_col, time_col;
} span_info;

/* Record batches of a segment hold about this many rows, so that a lookup
 * decodes only the few whose bloom filter matches. */
#define CHUNK_ROWS 16384

/* Concatenates batches [0, n) (same schema, shared dictionaries) into out. */
static int concat_batches(oa_schema *schema, oa_batch *b, int64_t n,
                          oa_batch *out, oa_error *err) {
  oa_batch_init(out);
  if (n == 1) return oa_batch_copy(out, &b[0], err);
  oa_array *parts = calloc((size_t)n, sizeof *parts);
  oa_array *cols =
      calloc((size_t)(schema->n_fields ? schema->n_fields : 1), sizeof *cols);
  int rc = parts && cols ? 0 : oom(err);
  int64_t rows = 0;
  for (int64_t i = 0; i < n; i++)
    rows += b[i].length;
  int64_t c = 0;
  for (; !rc && c < schema->n_fields; c++) {
    for (int64_t i = 0; i < n; i++)
      parts[i] = b[i].columns[c];
    oa_array_init(&cols[c]);
    rc = oa_ipc_concat(&schema->fields[c], parts, n, &cols[c], err);
  }
  if (!rc) rc = oa_batch_set(out, schema, rows, cols, err);
  if (rc && cols)
    for (int64_t k = 0; k < c; k++)
      oa_array_reset(&cols[k]);
  free(parts);
  free(cols);
  return rc;
}

static int bloom_of(const oa_batch *b, span_info si, oa_store_bloom *bl,
                    oa_error *err) {
  OA_RETURN_NOT_OK(oa_store_bloom_init_(bl, b->length, err));
  const oa_field *f = &b->schema->fields[si.tid_col];
  const oa_array *a = &b->columns[si.tid_col];
  if (!f->dict.encoded && f->type.id == OA_TYPE_FIXED_SIZE_BINARY &&
      f->type.byte_width == 16 && a->null_count == 0 &&
      a->buffers[1].size >= (a->offset + a->length) * 16) {
    /* spans of a trace mostly sit together: hash each run once */
    const uint8_t *p = a->buffers[1].data + a->offset * 16;
    for (int64_t r = 0; r < a->length; r++)
      if (r == 0 || memcmp(p + r * 16, p + (r - 1) * 16, 16) != 0)
        oa_store_bloom_add_(bl, p + r * 16);
    return 0;
  }
  for (int64_t r = 0; r < a->length; r++) {
    if (oa_array_is_null(f, a, r)) continue;
    int64_t len;
    const uint8_t *p = oa_array_get_bytes(f, a, r, &len);
    if (len == 16) oa_store_bloom_add_(bl, p);
  }
  return 0;
}

/* Writes batches [0, n) as one segment file (record batches of about
 * CHUNK_ROWS rows) plus one bloom filter per record batch; extra_ids are
 * batch ids carried over by a compaction. ENOTSUP when the dictionaries
 * cannot be merged (the caller writes batches one by one then). */
static int write_segment(oa_datasets *d, const char *name, oa_schema *schema,
                         span_info si, mem_batch *b, int64_t n,
                         char *const *extra_ids, int64_t n_extra, seg **out,
                         oa_error *err) {
  *out = NULL;
  unifier u = {0};
  bool dicts = schema_has_dict(schema);
  int rc = 0;
  for (int64_t i = 0; !rc && dicts && i < n; i++)
    for (int64_t c = 0; !rc && c < b[i].batch.n_columns; c++)
      rc =
          unify_collect(&u, &schema->fields[c], &b[i].batch.columns[c], 0, err);
  if (!rc && dicts) rc = unify_build(&u, err);
  if (rc == ENOTSUP && n == 1) {
    /* one batch needs no merge: its dictionaries are written as they are
     * (a nested dictionary would otherwise block every flush forever) */
    unifier_reset(&u);
    dicts = false;
    rc = 0;
  }
  if (rc) {
    unifier_reset(&u);
    return rc;
  }
  pthread_mutex_lock(&d->mu);
  uint64_t id = d->next_segment++;
  pthread_mutex_unlock(&d->mu);
  char path[PATH_MAX], bpath[PATH_MAX], tmp[PATH_MAX + 8];
  seg_paths(d->dir, id, path, bpath);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    unifier_reset(&u);
    return oa_error_set(err, EIO, "store: cannot create '%s': %s", tmp,
                        strerror(errno));
  }
  oa_ipc_write_options wo;
  oa_ipc_write_options_init(&wo);
  wo.compression = OA_COMPRESSION_ZSTD;
  wo.compression_level = d->opt.compression_level;
  oa_ipc_writer *w = NULL;
  oa_store_bloom *blooms = NULL;
  int64_t n_blooms = 0;
  oa_store_seg_meta meta;
  memset(&meta, 0, sizeof meta);
  meta.min_time = INT64_MAX;
  meta.max_time = INT64_MIN;
  int64_t rows = 0, chunks = 0;
  rc = oa_ipc_writer_new(&w, OA_IPC_FILE, schema, &wo, oa_sink_fd(&fd), err);
  if (!rc && si.span && !(blooms = calloc((size_t)(n + 1), sizeof *blooms)))
    rc = oom(err);
  oa_batch *group = calloc((size_t)(n ? n : 1), sizeof *group);
  if (!rc && !group) rc = oom(err);
  for (int64_t i = 0; !rc && i < n;) {
    /* span datasets: one record batch from consecutive batches up to
     * CHUNK_ROWS rows (they are read as rows, and a bloom filter per chunk
     * pays off). Other datasets keep the batches as appended: DoGet returns
     * the same batches whether they were flushed or not. */
    int64_t j = i, g_rows = 0;
    while (j < n &&
           (j == i || (si.span && g_rows + b[j].batch.length <= CHUNK_ROWS)))
      g_rows += b[j++].batch.length;
    int64_t k = 0;
    for (; !rc && k < j - i; k++) {
      oa_batch_init(&group[k]);
      rc = oa_batch_copy(&group[k], &b[i + k].batch, err);
      for (int64_t c = 0; !rc && dicts && c < group[k].n_columns; c++)
        rc = unify_apply(&u, &schema->fields[c], &group[k].columns[c], 0, err);
    }
    oa_batch chunk;
    oa_batch_init(&chunk);
    if (!rc) rc = concat_batches(schema, group, j - i, &chunk, err);
    for (int64_t q = 0; q < k; q++)
      oa_batch_reset(&group[q]);
    if (!rc) rc = oa_ipc_writer_write(w, &chunk, err);
    if (!rc && si.span) {
      rc = bloom_of(&chunk, si, &blooms[n_blooms], err);
      if (!rc) n_blooms++;
    }
    oa_batch_reset(&chunk);
    for (int64_t q = i; q < j; q++) {
      if (b[q].min_time < meta.min_time) meta.min_time = b[q].min_time;
      if (b[q].max_time > meta.max_time) meta.max_time = b[q].max_time;
      if (b[q].id) meta.n_ids++;
    }
    rows += g_rows;
    chunks++;
    i = j;
  }
  free(group);
  unifier_reset(&u);
  if (!rc) rc = oa_ipc_writer_finish(w, err);
  if (!rc) meta.bytes = oa_ipc_writer_bytes_written(w);
  oa_ipc_writer_free(w);
  if (!rc && fsync(fd) != 0)
    rc = oa_error_set(err, EIO, "store: fsync of '%s': %s", tmp,
                      strerror(errno));
  close(fd);
  if (!rc && rename(tmp, path) != 0)
    rc = oa_error_set(err, EIO, "store: rename '%s': %s", tmp, strerror(errno));
  if (rc) unlink(tmp);
  if (!rc && si.span) {
    oa_bytes bb;
    oa_bytes_init(&bb);
    rc = oa_store_blooms_encode_(blooms, n_blooms, &bb, err);
    if (!rc)
      rc = write_file_atomic(d->dir, bpath, bb.data, bb.size, false, err);
    oa_bytes_reset(&bb);
    if (!rc) meta.flags |= OA_SEG_BLOOM;
  }
  if (!rc) rc = fsync_dir(d->dir, err);
  meta.n_ids += n_extra;
  if (!rc && meta.n_ids) {
    meta.ids = calloc((size_t)meta.n_ids, sizeof *meta.ids);
    if (!meta.ids) rc = oom(err);
    int64_t k = 0;
    for (int64_t i = 0; meta.ids && i < n; i++)
      if (b[i].id) meta.ids[k++] = strdup(b[i].id);
    for (int64_t i = 0; meta.ids && i < n_extra; i++)
      meta.ids[k++] = strdup(extra_ids[i]);
    for (int64_t i = 0; meta.ids && i < k; i++)
      if (!meta.ids[i]) rc = oom(err);
  }
  if (!meta.ids) meta.n_ids = 0;
  if (!rc) {
    meta.id = id;
    snprintf(meta.dataset, sizeof meta.dataset, "%s", name);
    meta.rows = rows;
    meta.n_batches = chunks;
    int64_t pw = d->opt.partition_ns > 0 ? d->opt.partition_ns : 1;
    meta.part = meta.min_time >= 0 ? meta.min_time / pw
                                   : -((-meta.min_time - 1) / pw) - 1;
    seg *s = seg_new(d->dir, &meta);
    if (!s) {
      rc = oom(err);
    } else {
      s->blooms = blooms;
      s->n_blooms = n_blooms;
      blooms = NULL;
      n_blooms = 0;
      *out = s;
    }
  }
  if (rc) {
    unlink(path);
    unlink(bpath);
  }
  oa_store_seg_meta_reset_(&meta);
  oa_store_blooms_free_(blooms, n_blooms);
  return rc;
}

static int64_t part_of(const oa_datasets *d, int64_t t) {
  int64_t pw = d->opt.partition_ns > 0 ? d->opt.partition_ns : 1;
  return t >= 0 ? t / pw : -((-t - 1) / pw) - 1;
}

typedef struct seg_list {
  seg **s;
  int64_t n, cap;
} seg_list;

static int seg_list_add(seg_list *l, seg *s, oa_error *err) {
  if (l->n == l->cap) {
    int64_t cap = l->cap ? l->cap * 2 : 8;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    seg **g = realloc(l->s, (size_t)cap * sizeof *g);
    if (!g) return oom(err);
    l->s = g;
    l->cap = cap;
  }
  l->s[l->n++] = s;
  return 0;
}

static void seg_list_release(seg_list *l, bool doom) {
  for (int64_t i = 0; i < l->n; i++) {
    if (!l->s[i]) continue;
    if (doom) l->s[i]->doomed = true;
    seg_release(l->s[i]);
  }
  free(l->s);
  memset(l, 0, sizeof *l);
}

static int cmp_part(const void *x, const void *y, void *ctx) {
  const oa_datasets *d = ctx;
  int64_t a = part_of(d, ((const mem_batch *)x)->min_time);
  int64_t b = part_of(d, ((const mem_batch *)y)->min_time);
  return a < b ? -1 : a > b;
}

/* One segment to write: batches [lo, hi) of the sorted list. */
typedef struct seg_task {
  int64_t lo, hi;
  seg_list out; /* one segment, or one per batch (ENOTSUP fallback) */
  int rc;
  oa_error err;
} seg_task;

typedef struct seg_pool {
  oa_datasets *d;
  const char *name;
  oa_schema *schema;
  span_info si;
  mem_batch *b;
  seg_task *t;
  int64_t n;
  atomic_long next;
} seg_pool;

static int run_task(seg_pool *p, seg_task *t) {
  seg *s = NULL;
  oa_datasets *d = p->d;
  int rc = write_segment(d, p->name, p->schema, p->si, p->b + t->lo,
                         t->hi - t->lo, NULL, 0, &s, &t->err);
  if (rc == ENOTSUP) {
    rc = 0;
    for (int64_t k = t->lo; !rc && k < t->hi; k++) {
      rc = write_segment(d, p->name, p->schema, p->si, p->b + k, 1, NULL, 0, &s,
                         &t->err);
      if (!rc) rc = seg_list_add(&t->out, s, &t->err);
      if (rc && s) {
        s->doomed = true;
        seg_release(s);
      }
    }
  } else if (!rc) {
    rc = seg_list_add(&t->out, s, &t->err);
    if (rc) {
      s->doomed = true;
      seg_release(s);
    }
  }
  return rc;
}

/* Takes tasks until none is left or one failed. */
static void *pool_main(void *arg) {
  seg_pool *p = arg;
  for (;;) {
    long i = atomic_fetch_add(&p->next, 1);
    if (i >= p->n) break;
    p->t[i].rc = run_task(p, &p->t[i]);
    if (p->t[i].rc) atomic_store(&p->next, (long)p->n); /* stop the others */
  }
  return NULL;
}

/* Writes batches as segments: grouped by time partition, each partition
 * split into about equal segments of at most segment_rows rows (whole
 * batches; equal so that no small remainder segment is left for compaction
 * to rewrite). A partition of more than 1.125 segment_rows gets two
 * segments or more, which two threads encode and compress at once: the
 * flush is CPU-bound (zstd, dictionary merge, concatenation), and a flush
 * that lags behind the appends finds enough rows to split. A schema whose
 * dictionaries cannot be merged gets one segment per batch. Sorts b. */
static int write_segments(oa_datasets *d, const char *name, oa_schema *schema,
                          span_info si, mem_batch *b, int64_t n, seg_list *out,
                          oa_error *err) {
  qsort_r(b, (size_t)n, sizeof *b, cmp_part, d);
  int64_t max_rows = d->opt.segment_rows > 0 ? d->opt.segment_rows : 1;
  seg_task *t = NULL;
  int64_t n_t = 0, cap_t = 0;
  int rc = 0;
  for (int64_t i = 0; !rc && i < n;) {
    int64_t part = part_of(d, b[i].min_time), j = i, rows = 0;
    while (j < n && part_of(d, b[j].min_time) == part)
      rows += b[j++].batch.length;
    /* up to 1/8 over the target stays one segment: split, both halves
     * would be near the compaction threshold (half the target) */
    int64_t k =
        rows < max_rows + max_rows / 8 ? 1 : (rows + max_rows - 1) / max_rows;
    int64_t target = (rows + k - 1) / k;
    for (int64_t q = i, gi = 0; !rc && q < j; gi++) {
      int64_t r = q, g = 0;
      /* batches go where the total gets nearest the target; the last
       * group takes the rest: no sliver left by batch granularity */
      while (r < j &&
             (r == q || gi == k - 1 || g + b[r].batch.length / 2 <= target))
        g += b[r++].batch.length;
      if (n_t == cap_t) {
        int64_t c = cap_t ? cap_t * 2 : 8;
        seg_task *nt = realloc(t, (size_t)c * sizeof *nt);
        if (!nt) {
          rc = oom(err);
          break;
        }
        t = nt;
        cap_t = c;
      }
      memset(&t[n_t], 0, sizeof t[n_t]);
      t[n_t].lo = q;
      t[n_t].hi = r;
      n_t++;
      q = r;
    }
    i = j;
  }
  if (rc) {
    free(t);
    return rc;
  }
  seg_pool p = {d, name, schema, si, b, t, n_t, 0};
  pthread_t helper;
  bool two = n_t > 1 && pthread_create(&helper, NULL, pool_main, &p) == 0;
  (void)pool_main(&p);
  if (two) pthread_join(helper, NULL);
  for (int64_t i = 0; i < n_t; i++) {
    if (!rc && t[i].rc) {
      rc = t[i].rc;
      if (err) *err = t[i].err;
    }
    for (int64_t k = 0; !rc && k < t[i].out.n; k++) {
      rc = seg_list_add(out, t[i].out.s[k], err);
      if (!rc) t[i].out.s[k] = NULL;
    }
    seg_list_release(&t[i].out, true); /* what did not move to out */
  }
  free(t);
  return rc;
}

/* ------------------------------------------------------------ flush */

typedef struct job {
  char name[256];
  uint64_t inc;
  oa_schema *schema;
  span_info si;
  mem_batch *b;
  int64_t n;
  seg_list out;
} job;

static void job_reset(job *j, bool doom) {
  for (int64_t i = 0; i < j->n; i++)
    mem_reset(&j->b[i]);
  free(j->b);
  if (j->schema) oa_schema_release(j->schema);
  seg_list_release(&j->out, doom);
}

/* Puts s at position at of the dataset's segments (their order is the
 * order in which snapshots return the batches). */
static int entry_insert_seg(ds_entry *e, seg *s, int64_t at, oa_error *err) {
  if (e->n_segs == e->cap_segs) {
    int64_t cap = e->cap_segs ? e->cap_segs * 2 : 8;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    seg **g = realloc(e->segs, (size_t)cap * sizeof *g);
    if (!g) return oom(err);
    e->segs = g;
    e->cap_segs = cap;
  }
  memmove(&e->segs[at + 1], &e->segs[at],
          (size_t)(e->n_segs - at) * sizeof *e->segs);
  e->segs[at] = s;
  e->n_segs++;
  for (int64_t i = 0; i < s->meta.n_ids; i++)
    if (idset_add(&e->ids, s->meta.ids[i])) return oom(err);
  return 0;
}

static int entry_add_seg(ds_entry *e, seg *s, oa_error *err) {
  return entry_insert_seg(e, s, e->n_segs, err);
}

/* Something is only in the logs (d->mu held): batches, or records such as
 * a create or a drop that the manifest does not reflect yet. */
static bool needs_flush(oa_datasets *d) {
  for (int64_t i = 0; i < d->n; i++)
    if (d->items[i]->n) return true;
  return atomic_load(&d->wal_size) > 0 || d->wal_seq != d->wal_flushed + 1;
}

/* d->flush_mu held. */
static int do_flush(oa_datasets *d, oa_error *err) {
  int rc = 0;
  job *jobs = NULL;
  int64_t n_jobs = 0;
  uint64_t old = 0;
  oa_bytes man;
  oa_bytes_init(&man);
  pthread_mutex_lock(&d->mu);
  for (int64_t i = 0; i < d->n; i++)
    if (d->items[i]->n) n_jobs++;
  if (!needs_flush(d)) {
    pthread_mutex_unlock(&d->mu);
    return 0;
  }
  rc = wal_rotate(d, &old, err);
  if (!rc && n_jobs && !(jobs = calloc((size_t)n_jobs, sizeof *jobs)))
    rc = oom(err);
  n_jobs = 0;
  for (int64_t i = 0; !rc && i < d->n; i++) {
    ds_entry *e = d->items[i];
    if (!e->n) continue;
    job *j = &jobs[n_jobs++];
    strcpy(j->name, e->name);
    j->inc = e->incarnation;
    j->schema = e->schema;
    oa_schema_retain(e->schema);
    j->si = (span_info){e->span, e->tid_col, e->time_col};
    if (!(j->b = calloc((size_t)e->n, sizeof *j->b))) rc = oom(err);
    for (int64_t k = 0; !rc && k < e->n; k++) {
      mem_batch *m = &j->b[k];
      *m = e->mem[k];
      oa_batch_init(&m->batch);
      m->id = NULL;
      rc = oa_batch_copy(&m->batch, &e->mem[k].batch, err);
      if (!rc && e->mem[k].id && !(m->id = strdup(e->mem[k].id))) rc = oom(err);
      j->n = k + 1;
    }
    e->flushing = e->n;
  }
  pthread_mutex_unlock(&d->mu);
  /* the slow part, while appends go on into the next log */
  for (int64_t i = 0; !rc && i < n_jobs; i++)
    rc = write_segments(d, jobs[i].name, jobs[i].schema, jobs[i].si, jobs[i].b,
                        jobs[i].n, &jobs[i].out, err);
  pthread_mutex_lock(&d->mu);
  for (int64_t i = 0; i < n_jobs; i++) {
    job *j = &jobs[i];
    ds_entry *e = find(d, j->name);
    if (!e || e->incarnation != j->inc) {
      seg_list_release(&j->out, true);
      continue;
    }
    if (!rc) {
      /* all or nothing: a partly flushed log would be replayed twice */
      for (int64_t k = 0; k < j->out.n; k++) {
        rc = entry_add_seg(e, j->out.s[k], err);
        if (rc) break;
        j->out.s[k] = NULL;
      }
      int64_t m = e->flushing;
      for (int64_t k = 0; k < m; k++) {
        e->rows -= e->mem[k].batch.length;
        e->bytes -= e->mem[k].bytes;
        d->used -= e->mem[k].bytes;
        mem_reset(&e->mem[k]);
      }
      memmove(e->mem, e->mem + m, (size_t)(e->n - m) * sizeof *e->mem);
      e->n -= m;
      if (!rc) j->out.n = 0;
    }
    e->flushing = 0;
  }
  if (!rc) {
    d->wal_flushed = old;
    d->st.flushes++;
    rc = manifest_bytes(d, &man, err);
  }
  pthread_mutex_unlock(&d->mu);
  if (!rc) rc = manifest_write(d, &man, err);
  if (!rc) wal_delete_upto(d, old);
  for (int64_t i = 0; i < n_jobs; i++)
    job_reset(&jobs[i], true); /* leftovers only after a failure */
  free(jobs);
  oa_bytes_reset(&man);
  return rc;
}

/* ------------------------------------------------------------ maintenance */

static void rebuild_ids(ds_entry *e) {
  idset_clear(&e->ids);
  for (int64_t i = 0; i < e->n_segs; i++)
    for (int64_t k = 0; k < e->segs[i]->meta.n_ids; k++)
      (void)idset_add(&e->ids, e->segs[i]->meta.ids[k]);
  for (int64_t i = 0; i < e->n; i++)
    if (e->mem[i].id) (void)idset_add(&e->ids, e->mem[i].id);
}

static void entry_remove_seg(ds_entry *e, int64_t i, seg_list *doomed) {
  seg *s = e->segs[i];
  s->doomed = true;
  memmove(&e->segs[i], &e->segs[i + 1],
          (size_t)(e->n_segs - i - 1) * sizeof *e->segs);
  e->n_segs--;
  if (seg_list_add(doomed, s, NULL)) seg_release(s);
}

/* Merges the small segments of one partition of one dataset (flush_mu
 * held). *did is set when something was merged. */
static int compact_one(oa_datasets *d, const char *name, bool *did,
                       oa_error *err) {
  *did = false;
  int64_t small = d->opt.segment_rows / 2;
  seg_list pick = {0}, doomed = {0};
  oa_schema *schema = NULL;
  span_info si;
  uint64_t inc = 0;
  int rc = 0;
  pthread_mutex_lock(&d->mu);
  ds_entry *e = find(d, name);
  for (int64_t i = 0; e && !pick.n && i < e->n_segs; i++) {
    const seg *a = e->segs[i];
    if (a->corrupt || a->meta.rows >= small) continue;
    int64_t count = 0;
    for (int64_t k = 0; k < e->n_segs; k++)
      if (!e->segs[k]->corrupt && e->segs[k]->meta.rows < small &&
          e->segs[k]->meta.part == a->meta.part)
        count++;
    if (count < d->opt.compaction_min_segments) continue;
    for (int64_t k = 0; !rc && k < e->n_segs; k++) {
      seg *b = e->segs[k];
      if (!b->corrupt && b->meta.rows < small && b->meta.part == a->meta.part) {
        atomic_fetch_add(&b->refs, 1);
        rc = seg_list_add(&pick, b, err);
        if (rc) seg_release(b);
      }
    }
  }
  if (pick.n) {
    schema = e->schema;
    oa_schema_retain(schema);
    si = (span_info){e->span, e->tid_col, e->time_col};
    inc = e->incarnation;
  }
  pthread_mutex_unlock(&d->mu);
  if (rc || !pick.n) {
    seg_list_release(&pick, false);
    return rc;
  }
  /* read every batch back; the ids move to the merged segment */
  mem_batch *mb = NULL;
  int64_t n = 0;
  oa_batch *bs = NULL;
  int64_t nb = 0, capb = 0;
  char **ids = NULL;
  int64_t n_ids = 0, total_ids = 0;
  for (int64_t i = 0; i < pick.n; i++)
    total_ids += pick.s[i]->meta.n_ids;
  if (total_ids && !(ids = calloc((size_t)total_ids, sizeof *ids)))
    rc = oom(err);
  for (int64_t i = 0; !rc && i < pick.n; i++) {
    seg *s = pick.s[i];
    int64_t before = nb;
    rc = seg_read(s, NULL, 0, &bs, &nb, &capb, err);
    for (int64_t k = 0; !rc && k < s->meta.n_ids; k++)
      ids[n_ids++] = s->meta.ids[k]; /* borrowed: pick holds the segments */
    for (int64_t k = before; !rc && k < nb; k++) {
      /* per-batch times are not kept in segments: the segment's range */
      (void)k;
    }
    if (!rc && nb > before) {
      mem_batch *g = realloc(mb, (size_t)nb * sizeof *g);
      if (!g) {
        rc = oom(err);
        break;
      }
      mb = g;
      for (int64_t k = before; k < nb; k++) {
        mem_batch *m = &mb[n++];
        memset(m, 0, sizeof *m);
        oa_batch_move(&m->batch, &bs[k]);
        m->min_time = s->meta.min_time;
        m->max_time = s->meta.max_time;
      }
    }
  }
  for (int64_t k = n; k < nb; k++)
    oa_batch_reset(&bs[k]);
  free(bs);
  if (!rc) {
    /* one segment: at most (compaction_min_segments... ) small ones */
    seg *out = NULL;
    rc = write_segment(d, name, schema, si, mb, n, ids, n_ids, &out, err);
    if (!rc) {
      pthread_mutex_lock(&d->mu);
      ds_entry *e2 = find(d, name);
      bool still = e2 && e2->incarnation == inc;
      for (int64_t i = 0; still && i < pick.n; i++) {
        bool found = false;
        for (int64_t k = 0; k < e2->n_segs; k++)
          found |= e2->segs[k] == pick.s[i];
        still = found;
      }
      oa_bytes man;
      oa_bytes_init(&man);
      if (still) {
        /* the merged segment takes the place of the first one it replaces,
         * so that the dataset keeps its order */
        int64_t at = 0;
        while (at < e2->n_segs && e2->segs[at] != pick.s[0])
          at++;
        for (int64_t i = 0; i < pick.n; i++)
          for (int64_t k = 0; k < e2->n_segs; k++)
            if (e2->segs[k] == pick.s[i]) {
              entry_remove_seg(e2, k, &doomed);
              break;
            }
        if (at > e2->n_segs) at = e2->n_segs;
        rc = entry_insert_seg(e2, out, at, err);
        if (!rc) {
          out = NULL;
          d->st.compactions++;
          rc = manifest_bytes(d, &man, err);
        }
      }
      pthread_mutex_unlock(&d->mu);
      if (!rc && still) rc = manifest_write(d, &man, err);
      oa_bytes_reset(&man);
      if (out) {
        out->doomed = true;
        seg_release(out);
      }
      *did = still && !rc;
    }
  }
  for (int64_t i = 0; i < n; i++)
    mem_reset(&mb[i]);
  free(mb);
  free(ids);
  oa_schema_release(schema);
  seg_list_release(&pick, false);
  seg_list_release(&doomed, false); /* already marked: files go now */
  return rc;
}

/* Drops segments past the age or size limits, oldest first (flush_mu
 * held). */
static int retain(oa_datasets *d, oa_error *err) {
  if (d->opt.retention_age_ns <= 0 && d->opt.retention_bytes <= 0) return 0;
  seg_list doomed = {0};
  oa_bytes man;
  oa_bytes_init(&man);
  int rc = 0;
  int64_t now = now_ns(CLOCK_REALTIME);
  pthread_mutex_lock(&d->mu);
  if (d->opt.retention_age_ns > 0)
    for (int64_t i = 0; i < d->n; i++) {
      ds_entry *e = d->items[i];
      for (int64_t k = e->n_segs - 1; k >= 0; k--)
        if (now - e->segs[k]->meta.max_time > d->opt.retention_age_ns)
          entry_remove_seg(e, k, &doomed);
    }
  if (d->opt.retention_bytes > 0) {
    int64_t total = 0;
    for (int64_t i = 0; i < d->n; i++)
      for (int64_t k = 0; k < d->items[i]->n_segs; k++)
        total += d->items[i]->segs[k]->meta.bytes;
    while (total > d->opt.retention_bytes) {
      ds_entry *be = NULL;
      int64_t bk = -1;
      for (int64_t i = 0; i < d->n; i++)
        for (int64_t k = 0; k < d->items[i]->n_segs; k++) {
          const oa_store_seg_meta *m = &d->items[i]->segs[k]->meta;
          if (!be || m->max_time < be->segs[bk]->meta.max_time ||
              (m->max_time == be->segs[bk]->meta.max_time &&
               m->id < be->segs[bk]->meta.id)) {
            be = d->items[i];
            bk = k;
          }
        }
      if (!be) break;
      total -= be->segs[bk]->meta.bytes;
      entry_remove_seg(be, bk, &doomed);
    }
  }
  if (doomed.n) {
    for (int64_t i = 0; i < d->n; i++)
      rebuild_ids(d->items[i]);
    d->st.segments_expired += doomed.n;
    rc = manifest_bytes(d, &man, err);
  }
  pthread_mutex_unlock(&d->mu);
  if (!rc && doomed.n) rc = manifest_write(d, &man, err);
  oa_bytes_reset(&man);
  seg_list_release(&doomed, false);
  return rc;
}

static int maintain(oa_datasets *d, oa_error *err) {
  int rc = 0;
  if (d->opt.compaction_min_segments > 0) {
    char(*names)[256] = NULL;
    int64_t n = 0;
    pthread_mutex_lock(&d->mu);
    if (d->n && (names = calloc((size_t)d->n, sizeof *names)) != NULL)
      for (n = 0; n < d->n; n++)
        strcpy(names[n], d->items[n]->name);
    pthread_mutex_unlock(&d->mu);
    for (int64_t i = 0; !rc && i < n; i++) {
      bool did = true;
      for (int guard = 0; !rc && did && guard < 64; guard++)
        rc = compact_one(d, names[i], &did, err);
    }
    free(names);
  }
  if (!rc) rc = retain(d, err);
  return rc;
}

int oa_datasets_flush(oa_datasets *d, oa_error *err) {
  if (!d->dir || d->read_only) return 0;
  pthread_mutex_lock(&d->flush_mu);
  int rc = do_flush(d, err);
  if (!rc) rc = maintain(d, err);
  pthread_mutex_unlock(&d->flush_mu);
  return rc;
}

/* ------------------------------------------------------------ background */

static void *bg_main(void *arg) {
  oa_datasets *d = arg;
  int64_t tick = 50;
  if (d->opt.fsync == OA_FSYNC_INTERVAL && d->opt.fsync_interval_ms < tick)
    tick = d->opt.fsync_interval_ms > 0 ? d->opt.fsync_interval_ms : 1;
  pthread_mutex_lock(&d->mu);
  while (!d->stop) {
    if (!d->flush_wanted) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      int64_t ns = ts.tv_nsec + tick * 1000000LL;
      ts.tv_sec += ns / 1000000000LL;
      ts.tv_nsec = ns % 1000000000LL;
      pthread_cond_timedwait(&d->cond, &d->mu, &ts);
    }
    if (d->stop) break;
    int64_t t = now_ns(CLOCK_MONOTONIC);
    bool sync_due = d->opt.fsync == OA_FSYNC_INTERVAL &&
                    t - d->last_sync_ns >= d->opt.fsync_interval_ms * 1000000;
    bool pending = needs_flush(d);
    bool flush_due =
        d->flush_wanted ||
        t - d->last_flush_ns >= d->opt.flush_interval_ms * 1000000LL;
    d->flush_wanted = false;
    uint64_t seq = d->wal_seq;
    int64_t size = atomic_load(&d->wal_size);
    pthread_mutex_unlock(&d->mu);
    if (sync_due) {
      (void)wal_sync(d, seq, size, NULL);
      d->last_sync_ns = t;
    }
    int rc = 0;
    if (flush_due) {
      oa_error e;
      pthread_mutex_lock(&d->flush_mu);
      if (pending) rc = do_flush(d, &e);
      if (!rc) rc = maintain(d, &e);
      pthread_mutex_unlock(&d->flush_mu);
      d->last_flush_ns = t;
    }
    pthread_mutex_lock(&d->mu);
    if (rc) d->st.flush_errors++;
  }
  pthread_mutex_unlock(&d->mu);
  return NULL;
}

/* ------------------------------------------------------------ recovery */

static void clear_state(oa_datasets *d) {
  for (int64_t i = 0; i < d->n; i++)
    entry_free(d->items[i], false);
  d->n = 0;
  d->used = 0;
  memset(&d->st, 0, sizeof d->st);
}

typedef struct replay_ctx {
  oa_datasets *d;
} replay_ctx;

static int replay(void *ctx, const oa_store_wal_record *r, oa_error *err) {
  oa_datasets *d = ((replay_ctx *)ctx)->d;
  char name[256], id[OA_STORE_MAX_ID + 1];
  memcpy(name, r->name, r->name_len);
  name[r->name_len] = 0;
  if (r->id_len) memcpy(id, r->id, r->id_len);
  id[r->id_len] = 0;
  if (strlen(name) != r->name_len || strlen(id) != r->id_len) return 0;
  ds_entry *e = find(d, name);
  if (r->type == OA_WAL_DROP) {
    if (e) {
      remove_entry(d, e);
      d->used -= e->bytes;
      entry_free(e, !d->read_only);
    }
    d->st.wal_records_replayed++;
    return 0;
  }
  oa_schema *schema = NULL;
  oa_batch b;
  oa_batch_init(&b);
  bool got = false;
  oa_error e2;
  if (decode_stream(r->ipc, r->ipc_len, &schema,
                    r->type == OA_WAL_APPEND ? &b : NULL, &got, &e2) != 0) {
    d->st.wal_torn++; /* checksummed yet undecodable: skipped */
    return 0;
  }
  int rc = 0;
  if (!e) rc = add_entry(d, name, schema, &e, err);
  if (!rc && !schemas_equal(e->schema, schema)) got = false;
  if (!rc && r->type == OA_WAL_APPEND && got &&
      !(r->id_len && idset_has(&e->ids, id))) {
    int64_t bytes = 0, lo, hi;
    rc = batch_bytes(&b, &bytes, err);
    batch_times(e, &b, r->time, &lo, &hi);
    if (!rc) rc = add_mem(e, &b, bytes, lo, hi, r->id_len ? id : NULL, err);
    if (!rc) d->used += bytes;
  }
  if (!rc) d->st.wal_records_replayed++;
  oa_batch_reset(&b);
  oa_schema_release(schema);
  return rc;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Logs in the directory with a sequence number above after, sorted. */
static int list_wals(oa_datasets *d, uint64_t after, uint64_t **out, int64_t *n,
                     uint64_t *max_seq, oa_error *err) {
  *out = NULL;
  *n = 0;
  *max_seq = 0;
  DIR *dir = opendir(d->dir);
  if (!dir)
    return oa_error_set(err, EIO, "store: cannot list '%s': %s", d->dir,
                        strerror(errno));
  struct dirent *de;
  int64_t cap = 0;
  int rc = 0;
  while (!rc && (de = readdir(dir)) != NULL) {
    unsigned long long s;
    char tail[8];
    if (sscanf(de->d_name, "wal-%16llx.%4s", &s, tail) != 2 ||
        strcmp(tail, "log") != 0)
      continue;
    if (s > *max_seq) *max_seq = s;
    if (s <= after) continue;
    if (*n == cap) {
      cap = cap ? cap * 2 : 8;
      uint64_t *g = realloc(*out, (size_t)cap * sizeof *g);
      if (!g) {
        rc = oom(err);
        break;
      }
      *out = g;
    }
    (*out)[(*n)++] = s;
  }
  closedir(dir);
  if (*n > 1) qsort(*out, (size_t)*n, sizeof **out, cmp_u64);
  return rc;
}

/* Removes what a crash may leave behind: temp files, segments the manifest
 * does not list, logs already in segments. */
static void cleanup_dir(oa_datasets *d, const oa_store_manifest *m) {
  DIR *dir = opendir(d->dir);
  if (!dir) return;
  struct dirent *de;
  char p[PATH_MAX];
  while ((de = readdir(dir)) != NULL) {
    const char *nm = de->d_name;
    size_t l = strlen(nm);
    unsigned long long s;
    char tail[8];
    bool del = false;
    if (l > 4 && strcmp(nm + l - 4, ".tmp") == 0) {
      del = true;
    } else if (sscanf(nm, "seg-%16llx.%5s", &s, tail) == 2) {
      del = true;
      for (int64_t i = 0; i < m->n_segs; i++)
        if (m->segs[i].id == s) del = false;
    } else if (sscanf(nm, "wal-%16llx.%4s", &s, tail) == 2) {
      del = s <= m->wal_flushed;
    }
    if (del) {
      snprintf(p, sizeof p, "%s/%s", d->dir, nm);
      unlink(p);
    }
  }
  closedir(dir);
}

static int read_manifest(oa_datasets *d, oa_store_manifest *m, oa_error *err) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/MANIFEST", d->dir);
  oa_bytes b;
  int rc = read_file(p, &b, err);
  if (rc == ENOENT) {
    oa_store_manifest_reset_(m);
    m->next_segment = 1;
    return 0;
  }
  if (rc) return rc;
  rc = oa_store_manifest_decode_(b.data, b.size, m, err);
  oa_bytes_reset(&b);
  if (rc) return oa_error_prefix(err, EIO, "%s: ", p);
  return 0;
}

/* Builds entries and segments from a manifest. eager: map every segment
 * now (read-only snapshots: a writer may delete them later). */
static int load_manifest(oa_datasets *d, oa_store_manifest *m, bool eager,
                         oa_error *err) {
  d->generation = m->generation;
  d->wal_flushed = m->wal_flushed;
  d->next_segment = m->next_segment ? m->next_segment : 1;
  for (int64_t i = 0; i < m->n_ds; i++) {
    oa_schema *s = NULL;
    bool got;
    oa_error e2;
    if (decode_stream(m->ds[i].schema_ipc, m->ds[i].schema_len, &s, NULL, &got,
                      &e2) != 0)
      return oa_error_set(err, EIO, "store %s: manifest schema of '%s': %s",
                          d->dir, m->ds[i].name, e2.message);
    ds_entry *e;
    int rc = add_entry(d, m->ds[i].name, s, &e, err);
    oa_schema_release(s);
    OA_RETURN_NOT_OK(rc);
  }
  for (int64_t i = 0; i < m->n_segs; i++) {
    ds_entry *e = find(d, m->segs[i].dataset);
    if (!e) continue; /* not written by us: ignored */
    if (m->segs[i].id >= d->next_segment) d->next_segment = m->segs[i].id + 1;
    seg *s = seg_new(d->dir, &m->segs[i]);
    if (!s) return oom(err);
    seg_load_bloom(s);
    if (eager) {
      oa_error e2;
      int rc = seg_open_reader(s, &e2);
      if (rc == ENOENT) {
        seg_release(s);
        return oa_error_set(err, EAGAIN, "segment vanished");
      }
      if (rc) d->st.segments_corrupt++;
    }
    OA_RETURN_NOT_OK(entry_add_seg(e, s, err));
  }
  return 0;
}

static int replay_wals(oa_datasets *d, uint64_t *max_seq, oa_error *err) {
  uint64_t *seqs = NULL;
  int64_t n = 0;
  OA_RETURN_NOT_OK(list_wals(d, d->wal_flushed, &seqs, &n, max_seq, err));
  int rc = 0;
  replay_ctx ctx = {d};
  for (int64_t i = 0; !rc && i < n; i++) {
    char p[PATH_MAX];
    wal_path(d, seqs[i], p);
    oa_bytes b;
    rc = read_file(p, &b, err);
    if (rc == ENOENT) {
      rc = oa_error_set(err, EAGAIN, "log vanished");
      break;
    }
    if (rc) break;
    int64_t valid, torn;
    rc = oa_store_wal_scan_(b.data, b.size, replay, &ctx, &valid, &torn, err);
    if (!rc && torn) d->st.wal_torn++;
    oa_bytes_reset(&b);
  }
  free(seqs);
  return rc;
}

static int open_writable(oa_datasets *d, oa_error *err) {
  if (mkdir(d->dir, 0755) != 0 && errno != EEXIST)
    return oa_error_set(err, EIO, "store: cannot create '%s': %s", d->dir,
                        strerror(errno));
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/LOCK", d->dir);
  d->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (d->lock_fd < 0)
    return oa_error_set(err, EIO, "store: cannot open '%s': %s", p,
                        strerror(errno));
  if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0)
    return oa_error_set(err, errno == EWOULDBLOCK ? EBUSY : EIO,
                        "store: '%s' is in use by another process (%s is "
                        "locked): %s",
                        d->dir, p, strerror(errno));
  oa_store_manifest m;
  oa_store_manifest_init_(&m);
  int rc = read_manifest(d, &m, err);
  if (!rc) cleanup_dir(d, &m);
  if (!rc) rc = load_manifest(d, &m, false, err);
  oa_store_manifest_reset_(&m);
  uint64_t max_seq = 0;
  if (!rc) rc = replay_wals(d, &max_seq, err);
  if (rc) return rc;
  uint64_t next = (max_seq > d->wal_flushed ? max_seq : d->wal_flushed) + 1;
  return wal_open(d, next, err);
}

static int open_read_only(oa_datasets *d, oa_error *err) {
  struct stat st;
  if (stat(d->dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return oa_error_set(err, ENOENT, "store: no directory '%s'", d->dir);
  int rc = 0;
  for (int attempt = 0; attempt < 20; attempt++) {
    clear_state(d);
    oa_store_manifest m;
    oa_store_manifest_init_(&m);
    rc = read_manifest(d, &m, err);
    if (!rc) rc = load_manifest(d, &m, true, err);
    oa_store_manifest_reset_(&m);
    uint64_t max_seq, gen = d->generation;
    if (!rc) rc = replay_wals(d, &max_seq, err);
    if (!rc) {
      /* a flush that finished meanwhile may have moved logged data into
       * segments we did not see: start again */
      oa_store_manifest_init_(&m);
      rc = read_manifest(d, &m, err);
      uint64_t now = m.generation;
      oa_store_manifest_reset_(&m);
      if (!rc && now == gen) return 0;
      if (!rc) rc = EAGAIN;
    }
    if (rc != EAGAIN) return rc;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  return oa_error_set(err, EAGAIN,
                      "store %s: no consistent snapshot after 20 attempts "
                      "(the writer keeps changing it)",
                      d->dir);
}

void oa_store_options_init(oa_store_options *o) {
  memset(o, 0, sizeof *o);
  o->fsync = OA_FSYNC_BATCH;
  o->fsync_interval_ms = 100;
  o->segment_rows = 262144;
  o->segment_bytes = 64LL << 20;
  o->flush_interval_ms = 2000;
  o->partition_ns = 3600LL * 1000000000LL;
  o->compaction_min_segments = 4;
  o->compression_level = 1;
  o->background = true;
}

int oa_datasets_open(oa_datasets **out, const char *dir,
                     const oa_store_options *o, int64_t max_memory,
                     oa_error *err) {
  *out = NULL;
  if (max_memory < 0)
    return oa_error_set(err, EINVAL, "datasets: max_memory %lld < 0",
                        (long long)max_memory);
  oa_datasets *d = calloc(1, sizeof *d);
  if (!d) return oom(err);
  pthread_mutex_init(&d->mu, NULL);
  pthread_mutex_init(&d->sync_mu, NULL);
  pthread_mutex_init(&d->flush_mu, NULL);
  pthread_cond_init(&d->cond, NULL);
  d->limit = max_memory;
  d->wal_fd = d->lock_fd = -1;
  if (o)
    d->opt = *o;
  else
    oa_store_options_init(&d->opt);
  if (!dir) {
    *out = d;
    return 0;
  }
  if (d->opt.fsync < OA_FSYNC_BATCH || d->opt.fsync > OA_FSYNC_NEVER ||
      d->opt.segment_rows <= 0 || d->opt.partition_ns <= 0) {
    oa_datasets_free(d);
    return oa_error_set(err, EINVAL,
                        "store options: fsync %d, segment_rows %lld, "
                        "partition_ns %lld",
                        (int)d->opt.fsync, (long long)d->opt.segment_rows,
                        (long long)d->opt.partition_ns);
  }
  if (d->opt.segment_bytes <= 0) d->opt.segment_bytes = 64LL << 20;
  if (d->opt.flush_interval_ms <= 0) d->opt.flush_interval_ms = 2000;
  d->dir = strdup(dir);
  if (!d->dir) {
    oa_datasets_free(d);
    return oom(err);
  }
  d->read_only = d->opt.read_only;
  int rc = d->read_only ? open_read_only(d, err) : open_writable(d, err);
  if (!rc && !d->read_only && d->opt.background) {
    d->last_flush_ns = d->last_sync_ns = now_ns(CLOCK_MONOTONIC);
    if (pthread_create(&d->thread, NULL, bg_main, d) != 0)
      rc = oa_error_set(err, EAGAIN, "store: cannot start the flush thread");
    else
      d->thread_started = true;
  }
  if (rc) {
    d->read_only = true; /* no final flush of a half-open store */
    oa_datasets_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

void oa_datasets_free(oa_datasets *d) {
  if (!d) return;
  if (d->thread_started) {
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
  }
  if (d->dir && !d->read_only && d->wal_fd >= 0) {
    oa_error e;
    pthread_mutex_lock(&d->flush_mu);
    (void)do_flush(d, &e); /* best effort: the log still has it all */
    pthread_mutex_unlock(&d->flush_mu);
    (void)fdatasync(d->wal_fd);
  }
  if (d->wal_fd >= 0) close(d->wal_fd);
  clear_state(d);
  free(d->items);
  if (d->lock_fd >= 0) close(d->lock_fd); /* releases the flock */
  free(d->dir);
  pthread_cond_destroy(&d->cond);
  pthread_mutex_destroy(&d->flush_mu);
  pthread_mutex_destroy(&d->sync_mu);
  pthread_mutex_destroy(&d->mu);
  free(d);
}
