/* Query execution: scan + filter, projection or hash aggregation, sort /
 * top-k, LIMIT/OFFSET and the Arrow result. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "query/qexec.h"
#include "query/qfunc.h"
#include "query/query_internal.h"

#define CHUNK_ROWS 65536

void oa_query_options_init(oa_query_options *o) {
  memset(o, 0, sizeof *o);
  o->max_result_rows = 100000000;
  o->simd = OA_SIMD_AUTO;
}

void oa_query_result_init(oa_query_result *r) {
  memset(r, 0, sizeof *r);
  r->stats.filter_kernel = "";
}

void oa_query_result_reset(oa_query_result *r) {
  for (int64_t i = 0; i < r->n_batches; i++)
    oa_batch_reset(&r->batches[i]);
  free(r->batches);
  if (r->schema) oa_schema_release(r->schema);
  oa_query_result_init(r);
}

int oa_query_check_syntax(const char *sql, size_t len, oa_error *err) {
  oa_qarena arena;
  oa_qarena_init(&arena);
  oa_qstmt st;
  int rc = oa_qparse(sql, len, &arena, &st, err);
  oa_qarena_reset(&arena);
  return rc;
}

static int64_t now_real_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------- accumulators */

void oa_qacc_init(oa_qacc *a, oa_qtype t, int32_t fsb_width) {
  memset(a, 0, sizeof *a);
  a->type = t;
  a->fsb_width = fsb_width;
}

void oa_qacc_reset(oa_qacc *a) {
  /* the sizes reserve gave them: big blocks go back to the cache */
  oa_query_cache *c = oa_qmem_cache(a->mem);
  oa_qbig_put(c, a->null, a->cap);
  oa_qbig_put(c, a->i, a->cap * 8);
  oa_qbig_put(c, a->d, a->cap * 8);
  oa_qbig_put(c, a->b, a->cap);
  oa_qbig_put(c, a->s, a->cap * (int64_t)sizeof(oa_qstr));
  memset(a, 0, sizeof *a);
}

/* Grows *p from old_cap to cap elements, charged to m. */
static int grow(oa_qmem *m, const char *what, void **p, int64_t old_cap,
                int64_t cap, size_t elem) {
  if (!*p) old_cap = 0;
  return oa_qmem_resize(m, what, p, old_cap * (int64_t)elem,
                        cap * (int64_t)elem);
}

int oa_qacc_reserve(oa_qacc *a, int64_t extra) {
  if (a->n + extra <= a->cap) return 0;
  int64_t cap = a->cap ? a->cap : 1024;
  while (cap < a->n + extra)
    cap *= 2;
  oa_qmem *m = a->mem;
  const char *w = a->what;
  if (grow(m, w, (void **)&a->null, a->cap, cap, 1)) return ENOMEM;
  memset(a->null + a->cap, 0, (size_t)(cap - a->cap));
  switch (a->type) {
  case OA_Q_INT:
  case OA_Q_TS:
  case OA_Q_DUR:
    if (grow(m, w, (void **)&a->i, a->cap, cap, 8)) return ENOMEM;
    break;
  case OA_Q_DOUBLE:
    if (grow(m, w, (void **)&a->d, a->cap, cap, 8)) return ENOMEM;
    break;
  case OA_Q_BOOL:
    if (grow(m, w, (void **)&a->b, a->cap, cap, 1)) return ENOMEM;
    break;
  case OA_Q_STR:
  case OA_Q_BIN:
    if (grow(m, w, (void **)&a->s, a->cap, cap, sizeof(oa_qstr))) return ENOMEM;
    break;
  default:
    break;
  }
  a->cap = cap;
  return 0;
}

/* Appends v[k]; strings are copied into keep when keep is not NULL. */
int oa_qacc_append(oa_qacc *a, const oa_qvec *v, int64_t k, oa_qarena *keep) {
  if (a->n >= a->cap && oa_qacc_reserve(a, 1)) return ENOMEM;
  int64_t j = a->n++;
  if (v->type == OA_Q_NULL || (v->null && v->null[k])) {
    a->null[j] = 1;
    a->any_null = true;
    return 0;
  }
  a->null[j] = 0;
  switch (a->type) {
  case OA_Q_INT:
  case OA_Q_TS:
  case OA_Q_DUR:
    a->i[j] = v->i[k];
    break;
  case OA_Q_DOUBLE:
    a->d[j] = v->d[k];
    break;
  case OA_Q_BOOL:
    a->b[j] = v->b[k];
    break;
  case OA_Q_STR:
  case OA_Q_BIN:
    if (keep && v->s[k].len) {
      uint8_t *p = oa_qarena_alloc(keep, v->s[k].len);
      if (!p) return ENOMEM;
      memcpy(p, v->s[k].p, (size_t)v->s[k].len);
      a->s[j].p = p;
    } else {
      a->s[j].p = v->s[k].p;
    }
    a->s[j].len = v->s[k].len;
    break;
  default:
    a->null[j] = 1;
    a->any_null = true;
  }
  return 0;
}

/* Appends all n rows of v (bulk copy for fixed-width types). */
static int acc_append_all(oa_qacc *a, const oa_qvec *v, oa_qarena *keep) {
  int64_t n = v->n;
  if (oa_qacc_reserve(a, n)) return ENOMEM;
  if (v->type == OA_Q_NULL) {
    memset(a->null + a->n, 1, (size_t)n);
    a->any_null = a->any_null || n > 0;
    a->n += n;
    return 0;
  }
  if (v->null) {
    memcpy(a->null + a->n, v->null, (size_t)n);
    for (int64_t k = 0; k < n && !a->any_null; k++)
      if (v->null[k]) a->any_null = true;
  } else {
    memset(a->null + a->n, 0, (size_t)n);
  }
  switch (a->type) {
  case OA_Q_INT:
  case OA_Q_TS:
  case OA_Q_DUR:
    memcpy(a->i + a->n, v->i, (size_t)n * 8);
    break;
  case OA_Q_DOUBLE:
    memcpy(a->d + a->n, v->d, (size_t)n * 8);
    break;
  case OA_Q_BOOL:
    memcpy(a->b + a->n, v->b, (size_t)n);
    break;
  default:
    for (int64_t k = 0; k < n; k++) {
      oa_qstr s = v->s[k];
      if (v->null && v->null[k]) s.len = 0, s.p = NULL;
      if (keep && s.len) {
        uint8_t *p = oa_qarena_alloc(keep, s.len);
        if (!p) return ENOMEM;
        memcpy(p, s.p, (size_t)s.len);
        s.p = p;
      }
      a->s[a->n + k] = s;
    }
  }
  a->n += n;
  return 0;
}

void oa_qacc_view(const oa_qacc *a, oa_qvec *v) {
  memset(v, 0, sizeof *v);
  v->type = a->type;
  v->n = a->n;
  v->null = a->any_null ? a->null : NULL;
  v->i = a->i;
  v->d = a->d;
  v->b = a->b;
  v->s = a->s;
}

/* ------------------------------------------------------- hash table */

static inline uint64_t mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t oa_qhash_bytes(const uint8_t *p, int64_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h = (h << 29) | (h >> 35);
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  if (n) memcpy(&w, p, (size_t)n);
  h = (h ^ w) * 0x100000001b3ULL;
  return mix64(h);
}

void oa_qhash_init(oa_qhash *h) { memset(h, 0, sizeof *h); }

void oa_qhash_reset(oa_qhash *h) {
  oa_query_cache *c = oa_qmem_cache(h->mem);
  free(h->slots);
  oa_qbig_put(c, h->hashes, h->cap * 8);
  oa_qbig_put(c, h->off, h->cap * 8);
  oa_qbig_put(c, h->len, h->cap * 4);
  oa_qbig_put(c, h->keys, h->keys_cap);
  memset(h, 0, sizeof *h);
}

static int qhash_rehash(oa_qhash *h, int64_t cap) {
  int64_t old = h->slots ? (h->mask + 1) * (int64_t)sizeof *h->slots : 0;
  int64_t bytes = cap * (int64_t)sizeof *h->slots;
  if (oa_qmem_charge(h->mem, bytes, h->what)) return E2BIG;
  uint32_t *slots = calloc((size_t)cap, sizeof *slots);
  if (!slots) {
    oa_qmem_release(h->mem, bytes);
    return ENOMEM;
  }
  oa_qmem_release(h->mem, old);
  int64_t mask = cap - 1;
  for (int64_t id = 0; id < h->n; id++) {
    int64_t i = (int64_t)(h->hashes[id] & (uint64_t)mask);
    while (slots[i])
      i = (i + 1) & mask;
    slots[i] = (uint32_t)(id + 1);
  }
  free(h->slots);
  h->slots = slots;
  h->mask = mask;
  return 0;
}

int oa_qhash_find_or_add(oa_qhash *h, const uint8_t *key, uint32_t len,
                         uint64_t hash, uint32_t *id, bool *is_new) {
  if (!h->slots || (h->n + 1) * 2 > h->mask + 1) {
    if (h->n >= (int64_t)UINT32_MAX - 1) return E2BIG;
    if (qhash_rehash(h, h->slots ? (h->mask + 1) * 2 : 1024)) return ENOMEM;
  }
  int64_t i = (int64_t)(hash & (uint64_t)h->mask);
  for (;;) {
    uint32_t s = h->slots[i];
    if (!s) break;
    uint32_t g = s - 1;
    if (h->hashes[g] == hash && h->len[g] == len &&
        memcmp(h->keys + h->off[g], key, len) == 0) {
      *id = g;
      *is_new = false;
      return 0;
    }
    i = (i + 1) & h->mask;
  }
  if (h->n >= h->cap) {
    int64_t cap = h->cap ? h->cap * 2 : 1024;
    if (grow(h->mem, h->what, (void **)&h->hashes, h->cap, cap, 8) ||
        grow(h->mem, h->what, (void **)&h->off, h->cap, cap, 8) ||
        grow(h->mem, h->what, (void **)&h->len, h->cap, cap, 4))
      return ENOMEM;
    h->cap = cap;
  }
  if (h->keys_size + len > h->keys_cap) {
    int64_t cap = h->keys_cap ? h->keys_cap * 2 : 65536;
    while (cap < h->keys_size + len)
      cap *= 2;
    if (grow(h->mem, h->what, (void **)&h->keys, h->keys_cap, cap, 1))
      return ENOMEM;
    h->keys_cap = cap;
  }
  memcpy(h->keys + h->keys_size, key, len);
  uint32_t g = (uint32_t)h->n++;
  h->hashes[g] = hash;
  h->off[g] = h->keys_size;
  h->len[g] = len;
  h->keys_size += len;
  h->slots[i] = g + 1;
  *id = g;
  *is_new = true;
  return 0;
}

/* Appends the memcmp-neutral encoding of v[k] (null flag + value). */
static int64_t encode_value(const oa_qvec *v, int64_t k, uint8_t *out) {
  if (v->type == OA_Q_NULL || (v->null && v->null[k])) {
    out[0] = 1;
    return 1;
  }
  out[0] = 0;
  switch (v->type) {
  case OA_Q_INT:
  case OA_Q_TS:
  case OA_Q_DUR:
    memcpy(out + 1, &v->i[k], 8);
    return 9;
  case OA_Q_DOUBLE: {
    double x = v->d[k];
    if (x == 0) x = 0; /* -0.0 groups with 0.0 */
    if (isnan(x)) x = NAN;
    memcpy(out + 1, &x, 8);
    return 9;
  }
  case OA_Q_BOOL:
    out[1] = v->b[k];
    return 2;
  default: {
    uint32_t l = (uint32_t)v->s[k].len;
    memcpy(out + 1, &l, 4);
    if (l) memcpy(out + 5, v->s[k].p, l);
    return 5 + l;
  }
  }
}

static int64_t encoded_size(const oa_qvec *v, int64_t k) {
  if (v->type == OA_Q_STR || v->type == OA_Q_BIN)
    return 5 + ((v->null && v->null[k]) ? 0 : v->s[k].len);
  return 9;
}

/* ------------------------------------------------------- aggregation */

typedef struct qagg {
  const oa_qnode *node;
  int64_t *cnt;
  __int128 *isum;
  double *dsum;
  oa_qacc ext; /* min/max values per group */
  oa_qhash distinct;
  struct qv {
    uint32_t g;
    int64_t i;
    double d;
  } * qv;
  int64_t qn, qcap;
} qagg;

struct qslot {
  uint64_t a, b;
  uint32_t id1; /* group id + 1; 0 empty */
  uint32_t pad;
};

typedef struct qgroups {
  oa_qhash h;
  int64_t n_groups;
  /* fast path for one fixed-width key (16-byte ids, 8-byte ints): keys
   * inline in the table, no encoding */
  int fast;             /* 0 generic, 16 or 8: key bytes */
  struct qslot *fslots; /* key and id together: one cache miss a probe */
  int64_t fmask, fcount;
  int64_t rows_hint; /* rows it will see, to size it once (0: unknown) */
  int64_t null_gid;  /* -1: no NULL key yet */
  int64_t cap;
  oa_qacc *keys; /* n_group accumulators: the key values of each group */
  qagg *aggs;
  int32_t n_keys, n_aggs;
  oa_qmem *mem;
} qgroups;

/* What the memory budget names when a structure outgrows it. */
static const char kGroupBy[] = "GROUP BY";
static const char kDistinct[] = "COUNT(DISTINCT)";
static const char kQuantile[] = "quantile";
static const char kOrderBy[] = "ORDER BY";
static const char kResult[] = "the result";

static int groups_reserve(qgroups *G, int64_t n) {
  if (n <= G->cap) return 0;
  int64_t cap = G->cap ? G->cap : 1024;
  while (cap < n)
    cap *= 2;
  for (int32_t a = 0; a < G->n_aggs; a++) {
    qagg *A = &G->aggs[a];
    int f = A->node->fn;
    if (grow(G->mem, kGroupBy, (void **)&A->cnt, G->cap, cap, 8)) return ENOMEM;
    memset(A->cnt + G->cap, 0, (size_t)(cap - G->cap) * 8);
    /* only sums need the sum arrays: at 100K+ groups the others would
     * cost megabytes of page faults per query */
    if (f == OA_AGG_SUM || f == OA_AGG_AVG) {
      if (grow(G->mem, kGroupBy, (void **)&A->isum, G->cap, cap, 16) ||
          grow(G->mem, kGroupBy, (void **)&A->dsum, G->cap, cap, 8))
        return ENOMEM;
      memset(A->isum + G->cap, 0, (size_t)(cap - G->cap) * 16);
      memset(A->dsum + G->cap, 0, (size_t)(cap - G->cap) * 8);
    }
    if (f == OA_AGG_MIN || f == OA_AGG_MAX) {
      if (oa_qacc_reserve(&A->ext, cap - A->ext.n)) return ENOMEM;
    }
  }
  G->cap = cap;
  return 0;
}

static void groups_free(qgroups *G) {
  oa_query_cache *c = oa_qmem_cache(G->mem);
  oa_qhash_reset(&G->h);
  if (G->fslots)
    oa_qbig_put(c, G->fslots, (G->fmask + 1) * (int64_t)sizeof(struct qslot));
  for (int32_t i = 0; i < G->n_keys; i++)
    oa_qacc_reset(&G->keys[i]);
  for (int32_t a = 0; a < G->n_aggs; a++) {
    qagg *A = &G->aggs[a];
    oa_qbig_put(c, A->cnt, G->cap * 8);
    oa_qbig_put(c, A->isum, G->cap * 16);
    oa_qbig_put(c, A->dsum, G->cap * 8);
    oa_qacc_reset(&A->ext);
    oa_qhash_reset(&A->distinct);
    oa_qbig_put(c, A->qv, A->qcap * (int64_t)sizeof *A->qv);
  }
  free(G->keys);
  free(G->aggs);
  memset(G, 0, sizeof *G);
}

typedef struct qrun {
  const oa_qplan *p;
  const oa_query_options *o;
  oa_error *err;
  oa_qarena keep; /* strings that outlive a chunk */
  oa_qarena tmp;
  oa_query_stats *stats;
  oa_simd_level simd;
  int threads;
  oa_qmem *mem; /* the query's memory budget, shared by its threads */
  /* projection */
  oa_qacc *cols; /* n_out + extra order columns */
  int32_t n_cols;
  int32_t *order_col; /* which column each ORDER BY key reads */
  /* aggregation */
  qgroups G;
  uint32_t *gid;
  int64_t gid_cap;
  uint8_t *keybuf;
  int64_t keybuf_cap;
  int64_t rows_out;
} qrun;

/* Where the bytes of e's values must be copied to outlive the chunk: a
 * string or binary column's bytes live as long as the query (NULL: no copy);
 * computed values and nested columns (formatted as JSON text into the
 * per-chunk scratch arena) are copied into R->keep. */
static oa_qarena *keep_arena(qrun *R, const oa_qnode *e) {
  if (e->kind != OA_N_COL) return &R->keep;
  switch (R->p->schema->fields[e->column].type.id) {
  case OA_TYPE_STRING:
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_BINARY:
  case OA_TYPE_FIXED_SIZE_BINARY:
    return NULL;
  default:
    return e->type == OA_Q_STR || e->type == OA_Q_BIN ? &R->keep : NULL;
  }
}

static int update_aggs(qrun *R, oa_qeval *ev, const uint32_t *gid) {
  qgroups *G = &R->G;
  int64_t n = ev->n;
  for (int32_t a = 0; a < G->n_aggs; a++) {
    qagg *A = &G->aggs[a];
    const oa_qnode *node = A->node;
    if (node->fn == OA_AGG_COUNT_STAR) {
      for (int64_t k = 0; k < n; k++)
        A->cnt[gid[k]]++;
      continue;
    }
    oa_qvec v;
    OA_RETURN_NOT_OK(oa_qeval_expr(ev, node->args[0], &v));
    if (v.type == OA_Q_NULL) continue;
    const uint8_t *nl = v.null;
    switch (node->fn) {
    case OA_AGG_COUNT:
      for (int64_t k = 0; k < n; k++)
        if (!nl || !nl[k]) A->cnt[gid[k]]++;
      break;
    case OA_AGG_SUM:
    case OA_AGG_AVG:
      if (v.type == OA_Q_DOUBLE) {
        for (int64_t k = 0; k < n; k++)
          if (!nl || !nl[k]) {
            A->cnt[gid[k]]++;
            A->dsum[gid[k]] += v.d[k];
          }
      } else {
        for (int64_t k = 0; k < n; k++)
          if (!nl || !nl[k]) {
            A->cnt[gid[k]]++;
            A->isum[gid[k]] += v.i[k];
          }
      }
      break;
    case OA_AGG_MIN:
    case OA_AGG_MAX: {
      bool mx = node->fn == OA_AGG_MAX;
      if (v.type == OA_Q_INT || v.type == OA_Q_TS || v.type == OA_Q_DUR) {
        int64_t *ext = A->ext.i;
        for (int64_t k = 0; k < n; k++) {
          if (nl && nl[k]) continue;
          uint32_t g = gid[k];
          int64_t x = v.i[k];
          if (A->cnt[g]++ == 0 || (mx ? x > ext[g] : x < ext[g])) ext[g] = x;
        }
        break;
      }
      oa_qvec cur;
      oa_qacc_view(&A->ext, &cur);
      for (int64_t k = 0; k < n; k++) {
        if (nl && nl[k]) continue;
        uint32_t g = gid[k];
        bool take = A->cnt[g] == 0;
        if (!take) {
          int c = oa_qcmp_rows(&v, k, &cur, g);
          take = mx ? c > 0 : c < 0;
        }
        A->cnt[g]++;
        if (!take) continue;
        switch (v.type) {
        case OA_Q_INT:
        case OA_Q_TS:
        case OA_Q_DUR:
          A->ext.i[g] = v.i[k];
          break;
        case OA_Q_DOUBLE:
          A->ext.d[g] = v.d[k];
          break;
        case OA_Q_BOOL:
          A->ext.b[g] = v.b[k];
          break;
        default: {
          uint8_t *p = oa_qarena_alloc(&R->keep, v.s[k].len ? v.s[k].len : 1);
          if (!p) return oa_error_set(R->err, ENOMEM, "out of memory");
          if (v.s[k].len) memcpy(p, v.s[k].p, (size_t)v.s[k].len);
          A->ext.s[g].p = p;
          A->ext.s[g].len = v.s[k].len;
        }
        }
      }
      break;
    }
    case OA_AGG_COUNT_DISTINCT: {
      uint8_t buf[64];
      for (int64_t k = 0; k < n; k++) {
        if (nl && nl[k]) continue;
        int64_t sz = 4 + encoded_size(&v, k);
        uint8_t *kb = buf;
        if (sz > (int64_t)sizeof buf) {
          kb = oa_qarena_alloc(ev->tmp, sz);
          if (!kb) return oa_error_set(R->err, ENOMEM, "out of memory");
        }
        memcpy(kb, &gid[k], 4);
        int64_t l = 4 + encode_value(&v, k, kb + 4);
        uint32_t id;
        bool is_new;
        int rc = oa_qhash_find_or_add(&A->distinct, kb, (uint32_t)l,
                                      oa_qhash_bytes(kb, l), &id, &is_new);
        if (rc) return oa_error_set(R->err, rc, "COUNT(DISTINCT) table full");
        if (is_new) A->cnt[gid[k]]++;
      }
      break;
    }
    case OA_AGG_QUANTILE_DISC:
    case OA_AGG_QUANTILE_CONT:
      for (int64_t k = 0; k < n; k++) {
        if (nl && nl[k]) continue;
        if (A->qn >= A->qcap) {
          int64_t cap = A->qcap ? A->qcap * 2 : 4096;
          if (grow(R->mem, kQuantile, (void **)&A->qv, A->qcap, cap,
                   sizeof(struct qv)))
            return oa_error_set(R->err, ENOMEM, "out of memory");
          A->qcap = cap;
        }
        struct qv *q = &A->qv[A->qn++];
        q->g = gid[k];
        if (v.type == OA_Q_DOUBLE) {
          q->d = v.d[k];
          q->i = 0;
        } else {
          q->i = v.i[k];
          q->d = (double)v.i[k];
        }
        A->cnt[gid[k]]++;
      }
      break;
    default:
      break;
    }
  }
  return 0;
}

static int cmp_qv_int(const void *x, const void *y) {
  const struct qv *a = x, *b = y;
  if (a->g != b->g) return a->g < b->g ? -1 : 1;
  return (a->i > b->i) - (a->i < b->i);
}
static int cmp_qv_dbl(const void *x, const void *y) {
  const struct qv *a = x, *b = y;
  if (a->g != b->g) return a->g < b->g ? -1 : 1;
  if (isnan(a->d) || isnan(b->d)) return isnan(a->d) - isnan(b->d);
  return (a->d > b->d) - (a->d < b->d);
}

/* The result of aggregate A for every group, as a vector. */
static int finish_agg(qrun *R, qagg *A, int64_t n_groups, oa_qvec *out) {
  const oa_qnode *node = A->node;
  oa_qarena *ar = &R->keep;
  if (oa_qvec_alloc(ar, node->type, n_groups, out))
    return oa_error_set(R->err, ENOMEM, "out of memory");
  out->null = oa_qarena_calloc(ar, n_groups ? n_groups : 1);
  if (!out->null) return oa_error_set(R->err, ENOMEM, "out of memory");
  oa_qtype in = node->n_args ? node->args[0]->type : OA_Q_INT;
  switch (node->fn) {
  case OA_AGG_COUNT_STAR:
  case OA_AGG_COUNT:
  case OA_AGG_COUNT_DISTINCT:
    for (int64_t g = 0; g < n_groups; g++)
      out->i[g] = A->cnt[g];
    break;
  case OA_AGG_SUM:
    for (int64_t g = 0; g < n_groups; g++) {
      out->null[g] = A->cnt[g] == 0;
      if (node->type == OA_Q_DOUBLE)
        out->d[g] = A->dsum[g];
      else
        out->i[g] = (int64_t)A->isum[g];
    }
    break;
  case OA_AGG_AVG:
    for (int64_t g = 0; g < n_groups; g++) {
      out->null[g] = A->cnt[g] == 0;
      if (!A->cnt[g]) continue;
      if (in == OA_Q_DOUBLE)
        out->d[g] = A->dsum[g] / (double)A->cnt[g];
      else
        out->d[g] = (double)A->isum[g] / (double)A->cnt[g];
    }
    break;
  case OA_AGG_MIN:
  case OA_AGG_MAX: {
    oa_qvec e;
    oa_qacc_view(&A->ext, &e);
    for (int64_t g = 0; g < n_groups; g++) {
      out->null[g] = A->cnt[g] == 0;
      if (!A->cnt[g]) continue;
      switch (node->type) {
      case OA_Q_INT:
      case OA_Q_TS:
      case OA_Q_DUR:
        out->i[g] = e.i[g];
        break;
      case OA_Q_DOUBLE:
        out->d[g] = e.d[g];
        break;
      case OA_Q_BOOL:
        out->b[g] = e.b[g];
        break;
      default:
        out->s[g] = e.s[g];
      }
    }
    break;
  }
  case OA_AGG_QUANTILE_DISC:
  case OA_AGG_QUANTILE_CONT: {
    bool dbl = in == OA_Q_DOUBLE;
    if (A->qn > 1)
      qsort(A->qv, (size_t)A->qn, sizeof *A->qv, dbl ? cmp_qv_dbl : cmp_qv_int);
    for (int64_t g = 0; g < n_groups; g++)
      out->null[g] = 1;
    int64_t lo = 0;
    double q = node->quantile;
    while (lo < A->qn) {
      int64_t hi = lo;
      uint32_t g = A->qv[lo].g;
      while (hi < A->qn && A->qv[hi].g == g)
        hi++;
      int64_t cnt = hi - lo;
      out->null[g] = 0;
      if (node->fn == OA_AGG_QUANTILE_DISC) {
        /* the smallest value whose cumulative share reaches q */
        int64_t idx = (int64_t)ceil(q * (double)cnt) - 1;
        if (idx < 0) idx = 0;
        if (idx >= cnt) idx = cnt - 1;
        const struct qv *x = &A->qv[lo + idx];
        if (node->type == OA_Q_DOUBLE)
          out->d[g] = x->d;
        else
          out->i[g] = x->i;
      } else {
        double pos = q * (double)(cnt - 1);
        int64_t f = (int64_t)floor(pos), c = (int64_t)ceil(pos);
        double vf = A->qv[lo + f].d, vc = A->qv[lo + c].d;
        double r = f == c ? vf : vf + (pos - (double)f) * (vc - vf);
        if (node->type == OA_Q_DOUBLE)
          out->d[g] = r;
        else
          out->i[g] = (int64_t)llround(r);
      }
      lo = hi;
    }
    break;
  }
  default:
    break;
  }
  return 0;
}

/* A new group from row k of the key vectors. */
static int new_group(qrun *R, oa_qvec *keys, int32_t n_keys, int64_t k,
                     uint32_t *id) {
  qgroups *G = &R->G;
  if (G->n_groups >= (int64_t)UINT32_MAX - 1)
    return oa_error_set(R->err, E2BIG, "GROUP BY: too many groups");
  *id = (uint32_t)G->n_groups++;
  OA_RETURN_NOT_OK(groups_reserve(G, G->n_groups));
  for (int32_t j = 0; j < n_keys; j++) {
    oa_qarena *keep = keep_arena(R, R->p->group[j]);
    if (oa_qacc_append(&G->keys[j], &keys[j], k, keep))
      return oa_error_set(R->err, ENOMEM, "out of memory");
  }
  for (int32_t a = 0; a < G->n_aggs; a++) {
    qagg *A = &G->aggs[a];
    if (A->node->fn == OA_AGG_MIN || A->node->fn == OA_AGG_MAX) {
      while (A->ext.n <= (int64_t)*id) {
        oa_qvec z;
        memset(&z, 0, sizeof z);
        z.type = OA_Q_NULL;
        if (oa_qacc_append(&A->ext, &z, 0, NULL))
          return oa_error_set(R->err, ENOMEM, "out of memory");
      }
    }
  }
  return 0;
}

static int fast_rehash(qgroups *G, int64_t cap) {
  int64_t bytes = cap * (int64_t)sizeof(struct qslot);
  if (oa_qmem_charge(G->mem, bytes, kGroupBy)) return E2BIG;
  struct qslot *fs = oa_qbig_get(oa_qmem_cache(G->mem), (size_t)bytes);
  if (!fs) {
    oa_qmem_release(G->mem, bytes);
    return ENOMEM;
  }
  memset(fs, 0, (size_t)bytes);
  if (G->fslots)
    oa_qmem_release(G->mem, (G->fmask + 1) * (int64_t)sizeof(struct qslot));
  int64_t mask = cap - 1;
  for (int64_t i = 0; G->fslots && i <= G->fmask; i++) {
    const struct qslot *o = &G->fslots[i];
    if (!o->id1) continue;
    int64_t j = (int64_t)(mix64(o->a ^ (o->b * 0x9E3779B97F4A7C15ULL)) &
                          (uint64_t)mask);
    while (fs[j].id1)
      j = (j + 1) & mask;
    fs[j] = *o;
  }
  if (G->fslots)
    oa_qbig_put(oa_qmem_cache(G->mem), G->fslots,
                (G->fmask + 1) * (int64_t)sizeof(struct qslot));
  G->fslots = fs;
  G->fmask = mask;
  return 0;
}

static inline void fast_key(const oa_qvec *key, bool wide, int64_t k,
                            uint64_t *a, uint64_t *b) {
  if (wide) {
    memcpy(a, key->s[k].p, 8);
    memcpy(b, key->s[k].p + 8, 8);
  } else {
    *a = (uint64_t)key->i[k];
    *b = 0;
  }
}

static inline uint64_t fast_hash(uint64_t a, uint64_t b) {
  return mix64(a ^ (b * 0x9E3779B97F4A7C15ULL));
}

#define PROBE_BLOCK 256

/* raw: the 16-byte keys of a fixed_size_binary column without nulls, read
 * in place at raw + 16 * sel[k] (no key vector: at 100K groups over 1M rows
 * building one cost as much as the probes); else the keys are key's. */
static int assign_fast(qrun *R, oa_qvec *key, const uint8_t *raw,
                       const int32_t *sel, int64_t n, uint32_t *gid) {
  qgroups *G = &R->G;
  bool wide = G->fast == 16;
  oa_qstr one;
  oa_qvec rawkey; /* the key of a new group read in place */
  if (raw) {
    memset(&rawkey, 0, sizeof rawkey);
    rawkey.type = OA_Q_BIN;
    rawkey.n = 1;
    rawkey.s = &one;
    one.len = 16;
  } else if (wide) {
    for (int64_t k = 0; k < n; k++)
      if (!(key->null && key->null[k]) && key->s[k].len != 16) return -1;
  }
  uint64_t hs[PROBE_BLOCK];
  for (int64_t b0 = 0; b0 < n; b0 += PROBE_BLOCK) {
    int64_t b1 = b0 + PROBE_BLOCK < n ? b0 + PROBE_BLOCK : n;
    /* room for the whole block first, so slots stay put while probing */
    while (!G->fslots || (G->fcount + (b1 - b0)) * 2 > G->fmask + 1) {
      int64_t cap = 4096;
      /* a small budget starts small (a table never gets fuller than half) */
      while (G->mem && G->mem->limit && cap > 64 &&
             cap * (int64_t)sizeof(struct qslot) > G->mem->limit / 8)
        cap /= 2;
      if (G->fslots)
        cap = (G->fmask + 1) * 2;
      else
        /* room for a group every 8 rows without rehashing (a rehash of
         * 100K groups costs more than the probes it replaces) */
        while (cap < G->rows_hint / 4 && cap < ((int64_t)1 << 22) &&
               (!G->mem || !G->mem->limit ||
                cap * 2 * (int64_t)sizeof(struct qslot) < G->mem->limit / 8))
          cap *= 2;
      if (fast_rehash(G, cap))
        return oa_error_set(R->err, ENOMEM, "out of memory");
    }
    /* hash the block and prefetch its slots: the probes below then mostly
     * hit cache instead of waiting on one miss after another */
    for (int64_t k = b0; k < b1; k++) {
      uint64_t a, b;
      if (raw) {
        memcpy(&a, raw + 16 * (int64_t)sel[k], 8);
        memcpy(&b, raw + 16 * (int64_t)sel[k] + 8, 8);
      } else if (key->null && key->null[k]) {
        hs[k - b0] = 0;
        continue;
      } else {
        fast_key(key, wide, k, &a, &b);
      }
      uint64_t h = fast_hash(a, b);
      hs[k - b0] = h;
      int64_t j = (int64_t)(h & (uint64_t)G->fmask);
      __builtin_prefetch(&G->fslots[j]);
    }
    for (int64_t k = b0; k < b1; k++) {
      if (!raw && key->null && key->null[k]) {
        if (G->null_gid < 0) {
          uint32_t id;
          OA_RETURN_NOT_OK(new_group(R, key, 1, k, &id));
          G->null_gid = id;
        }
        gid[k] = (uint32_t)G->null_gid;
        continue;
      }
      uint64_t a, b;
      if (raw) {
        memcpy(&a, raw + 16 * (int64_t)sel[k], 8);
        memcpy(&b, raw + 16 * (int64_t)sel[k] + 8, 8);
      } else {
        fast_key(key, wide, k, &a, &b);
      }
      int64_t j = (int64_t)(hs[k - b0] & (uint64_t)G->fmask);
      for (;;) {
        struct qslot *sl = &G->fslots[j];
        uint32_t s = sl->id1;
        if (!s) {
          uint32_t id;
          if (raw) {
            one.p = raw + 16 * (int64_t)sel[k];
            OA_RETURN_NOT_OK(new_group(R, &rawkey, 1, 0, &id));
          } else {
            OA_RETURN_NOT_OK(new_group(R, key, 1, k, &id));
          }
          sl->id1 = id + 1;
          sl->a = a;
          sl->b = b;
          G->fcount++;
          gid[k] = id;
          break;
        }
        if (sl->a == a && sl->b == b) {
          gid[k] = s - 1;
          break;
        }
        j = (j + 1) & G->fmask;
      }
    }
  }
  return 0;
}

/* Room for n groups in all of R's group structures. */
static int groups_presize(qrun *R, int64_t n) {
  qgroups *G = &R->G;
  if (groups_reserve(G, n))
    return oa_error_set(R->err, ENOMEM, "out of memory");
  for (int32_t j = 0; j < G->n_keys; j++)
    if (oa_qacc_reserve(&G->keys[j], n - G->keys[j].n))
      return oa_error_set(R->err, ENOMEM, "out of memory");
  if (G->fast && G->fslots) {
    int64_t cap = G->fmask + 1;
    while ((n + PROBE_BLOCK) * 2 > cap)
      cap *= 2;
    if (cap > G->fmask + 1 && fast_rehash(G, cap))
      return oa_error_set(R->err, ENOMEM, "out of memory");
  }
  return 0;
}

/* Group ids for the n rows of the key vectors. */
static int assign_groups(qrun *R, oa_qvec *keys, int32_t n_keys, int64_t n,
                         uint32_t *gid) {
  qgroups *G = &R->G;
  if (n_keys == 0) {
    if (G->n_groups == 0) {
      uint32_t id;
      OA_RETURN_NOT_OK(new_group(R, keys, 0, 0, &id));
    }
    memset(gid, 0, (size_t)n * 4);
    return 0;
  }
  if (G->fast) {
    int rc = assign_fast(R, &keys[0], NULL, NULL, n, gid);
    if (rc == -1)
      return oa_error_set(R->err, EINVAL,
                          "GROUP BY: a 16-byte key changed width");
    return rc;
  }
  for (int64_t k = 0; k < n; k++) {
    int64_t sz = 0;
    for (int32_t j = 0; j < n_keys; j++)
      sz += encoded_size(&keys[j], k);
    if (sz > R->keybuf_cap) {
      free(R->keybuf);
      R->keybuf_cap = sz * 2 + 64;
      R->keybuf = malloc((size_t)R->keybuf_cap);
      if (!R->keybuf) return oa_error_set(R->err, ENOMEM, "out of memory");
    }
    int64_t l = 0;
    for (int32_t j = 0; j < n_keys; j++)
      l += encode_value(&keys[j], k, R->keybuf + l);
    uint32_t id;
    bool is_new;
    int rc = oa_qhash_find_or_add(&G->h, R->keybuf, (uint32_t)l,
                                  oa_qhash_bytes(R->keybuf, l), &id, &is_new);
    if (rc) return oa_error_set(R->err, rc, "GROUP BY: too many groups");
    if (is_new) {
      uint32_t gid2;
      OA_RETURN_NOT_OK(new_group(R, keys, n_keys, k, &gid2));
    }
    gid[k] = id;
  }
  return 0;
}

/* ------------------------------------------------------- the scan */

/* Rows of [start, start+n) of batch b that pass the filter, into sel. */
static int filter_chunk(qrun *R, const oa_batch *b, int64_t start, int64_t n,
                        int32_t *sel, int64_t *n_sel) {
  const oa_qplan *p = R->p;
  int64_t m = 0;
  if (p->tid_col >= 0) {
    const oa_array *a = &b->columns[p->tid_col];
    const uint8_t *data = a->buffers[1].data + (a->offset + start) * 16;
    m = oa_qkernel_fsb16_in(R->simd, data, n, p->tid_keys, p->n_tid_keys, start,
                            sel);
    /* a null trace id never equals anything */
    if (m && a->null_count != 0 && a->buffers[0].data) {
      int64_t w = 0;
      for (int64_t k = 0; k < m; k++)
        if (oa_bit_get(a->buffers[0].data, a->offset + sel[k]))
          sel[w++] = sel[k];
      m = w;
    }
  } else {
    for (int64_t k = 0; k < n; k++)
      sel[k] = (int32_t)(start + k);
    m = n;
  }
  if (p->where && m) {
    oa_qeval ev = {&R->tmp, p->schema, b, NULL, sel, m, 0, R->err, NULL, NULL};
    oa_qvec c;
    OA_RETURN_NOT_OK(oa_qeval_expr(&ev, p->where, &c));
    int64_t w = 0;
    if (c.type != OA_Q_NULL)
      for (int64_t k = 0; k < m; k++)
        if (c.b[k] && !(c.null && c.null[k])) sel[w++] = sel[k];
    m = w;
  }
  *n_sel = m;
  return 0;
}

/* The 16-byte keys of batch b when the one GROUP BY key is a plain
 * fixed_size_binary(16) column without nulls there; else NULL. */
static const uint8_t *raw_key16(const qrun *R, const oa_batch *b) {
  const oa_qplan *p = R->p;
  if (R->G.fast != 16 || p->n_group != 1 || p->group[0]->kind != OA_N_COL)
    return NULL;
  int64_t c = p->group[0]->column;
  const oa_field *f = &p->schema->fields[c];
  if (f->dict.encoded || f->type.id != OA_TYPE_FIXED_SIZE_BINARY ||
      f->type.byte_width != 16 || c >= b->n_columns)
    return NULL;
  const oa_array *a = &b->columns[c];
  if ((a->null_count != 0 && a->n_buffers > 0 && a->buffers[0].data) ||
      a->n_buffers < 2 || !a->buffers[1].data)
    return NULL;
  return a->buffers[1].data + a->offset * 16;
}

/* Scans the chunks whose first row (counted over all batches) is in
 * [row_lo, row_hi). */
static int scan(qrun *R, const oa_query_table *t, const oa_batch *one,
                int64_t row_lo, int64_t row_hi) {
  const oa_qplan *p = R->p;
  int64_t nb = one ? 1 : t->n_batches;
  int64_t base = 0;
  int32_t *sel = malloc(sizeof(int32_t) * CHUNK_ROWS);
  if (!sel) return oa_error_set(R->err, ENOMEM, "out of memory");
  int rc = 0;
  int64_t limit_rows = -1;
  if (!p->aggregate && p->n_order == 0 && p->st->limit >= 0)
    limit_rows = p->st->limit + p->st->offset;
  for (int64_t bi = 0; bi < nb && !rc; bi++) {
    const oa_batch *b = one ? one : &t->batches[bi];
    if (b->length > INT32_MAX) {
      rc = oa_error_set(R->err, E2BIG, "batch %lld has more than 2^31 rows",
                        (long long)bi);
      break;
    }
    int64_t bbase = base;
    base += b->length;
    if (bbase >= row_lo && bbase < row_hi) R->stats->batches_scanned++;
    for (int64_t start = 0; start < b->length; start += CHUNK_ROWS) {
      if (bbase + start < row_lo || bbase + start >= row_hi) continue;
      int64_t n =
          b->length - start < CHUNK_ROWS ? b->length - start : CHUNK_ROWS;
      R->stats->rows_scanned += n;
      oa_qarena_clear(&R->tmp);
      int64_t m;
      OA_GOTO_NOT_OK(rc, filter_chunk(R, b, start, n, sel, &m), done);
      if (!m) continue;
      oa_qeval ev = {&R->tmp, p->schema, b,      NULL, sel,
                     m,       0,         R->err, NULL, NULL};
      if (p->schema && p->schema->n_fields) {
        ev.cache = oa_qarena_alloc(&R->tmp, (int64_t)sizeof(oa_qvec) *
                                                p->schema->n_fields);
        ev.cached = oa_qarena_calloc(&R->tmp, p->schema->n_fields);
        if (!ev.cache || !ev.cached) {
          rc = oa_error_set(R->err, ENOMEM, "out of memory");
          goto done;
        }
      }
      if (p->aggregate) {
        if (m > R->gid_cap) {
          free(R->gid);
          R->gid = malloc(sizeof(uint32_t) * CHUNK_ROWS);
          if (!R->gid) {
            rc = oa_error_set(R->err, ENOMEM, "out of memory");
            goto done;
          }
          R->gid_cap = CHUNK_ROWS;
        }
        oa_qvec keys[64];
        if (p->n_group > 64) {
          rc = oa_error_set(R->err, E2BIG, "more than 64 GROUP BY keys");
          goto done;
        }
        const uint8_t *raw = raw_key16(R, b);
        if (raw) {
          OA_GOTO_NOT_OK(rc, assign_fast(R, NULL, raw, sel, m, R->gid), done);
        } else {
          for (int32_t g = 0; g < p->n_group; g++)
            OA_GOTO_NOT_OK(rc, oa_qeval_expr(&ev, p->group[g], &keys[g]), done);
          OA_GOTO_NOT_OK(rc, assign_groups(R, keys, p->n_group, m, R->gid),
                         done);
        }
        OA_GOTO_NOT_OK(rc, update_aggs(R, &ev, R->gid), done);
      } else {
        for (int32_t c = 0; c < R->n_cols; c++) {
          const oa_qnode *e =
              c < p->n_out ? p->out[c] : p->order[R->order_col[c]].expr;
          oa_qvec v;
          OA_GOTO_NOT_OK(rc, oa_qeval_expr(&ev, e, &v), done);
          if (acc_append_all(&R->cols[c], &v, keep_arena(R, e))) {
            rc = oa_error_set(R->err, ENOMEM, "out of memory");
            goto done;
          }
        }
        R->rows_out += m;
        if (limit_rows >= 0 && R->rows_out >= limit_rows) goto done;
      }
    }
  }
done:
  free(sel);
  return rc;
}

/* ------------------------------------------------- parallel aggregation */

static int groups_setup(qrun *R) {
  const oa_qplan *p = R->p;
  qgroups *G = &R->G;
  G->n_keys = p->n_group;
  G->n_aggs = p->n_aggs;
  G->mem = R->mem;
  G->h.mem = R->mem;
  G->h.what = kGroupBy;
  R->keep.mem = R->mem;
  R->keep.what = kGroupBy;
  G->keys = calloc((size_t)p->n_group + 1, sizeof *G->keys);
  G->aggs = calloc((size_t)p->n_aggs + 1, sizeof *G->aggs);
  if (!G->keys || !G->aggs)
    return oa_error_set(R->err, ENOMEM, "out of memory");
  for (int32_t g = 0; g < p->n_group; g++) {
    oa_qacc_init(&G->keys[g], p->group[g]->type, p->group[g]->fsb_width);
    G->keys[g].mem = R->mem;
    G->keys[g].what = kGroupBy;
  }
  G->null_gid = -1;
  if (p->n_group == 1) {
    const oa_qnode *k0 = p->group[0];
    if (k0->type == OA_Q_BIN && k0->fsb_width == 16 && k0->kind == OA_N_COL)
      G->fast = 16;
    else if (k0->type == OA_Q_INT || k0->type == OA_Q_TS ||
             k0->type == OA_Q_DUR)
      G->fast = 8;
  }
  for (int32_t a = 0; a < p->n_aggs; a++) {
    G->aggs[a].node = p->aggs[a];
    oa_qacc_init(&G->aggs[a].ext, p->aggs[a]->type, 0);
    G->aggs[a].ext.mem = R->mem;
    G->aggs[a].ext.what = kGroupBy;
    G->aggs[a].distinct.mem = R->mem;
    G->aggs[a].distinct.what = kDistinct;
  }
  return 0;
}

static void run_free(qrun *R) {
  if (R->cols) {
    for (int32_t c = 0; c < R->n_cols; c++)
      oa_qacc_reset(&R->cols[c]);
    free(R->cols);
    R->cols = NULL;
  }
  groups_free(&R->G);
  free(R->gid);
  free(R->keybuf);
  oa_qarena_reset(&R->keep);
  oa_qarena_reset(&R->tmp);
}

/* Folds the groups of S into R (S's groups in their first-seen order, so
 * the result is the order a single scan would give). */
static int merge_groups(qrun *R, qrun *S) {
  qgroups *G = &R->G, *H = &S->G;
  int64_t n = H->n_groups;
  if (n == 0) return 0;
  uint32_t *map = malloc(sizeof(uint32_t) * (size_t)n);
  oa_qvec *keys = calloc((size_t)H->n_keys + 1, sizeof *keys);
  if (!map || !keys) {
    free(map);
    free(keys);
    return oa_error_set(R->err, ENOMEM, "out of memory");
  }
  for (int32_t j = 0; j < H->n_keys; j++)
    oa_qacc_view(&H->keys[j], &keys[j]);
  int rc = assign_groups(R, keys, H->n_keys, n, map);
  for (int32_t a = 0; a < G->n_aggs && !rc; a++) {
    qagg *A = &G->aggs[a], *B = &H->aggs[a];
    int f = A->node->fn;
    if (f == OA_AGG_MIN || f == OA_AGG_MAX) {
      oa_qvec av, bv;
      oa_qacc_view(&A->ext, &av);
      oa_qacc_view(&B->ext, &bv);
      for (int64_t g = 0; g < n; g++) {
        if (!B->cnt[g]) continue;
        uint32_t m = map[g];
        bool take = A->cnt[m] == 0;
        if (!take) {
          int c = oa_qcmp_rows(&bv, g, &av, m);
          take = f == OA_AGG_MAX ? c > 0 : c < 0;
        }
        A->cnt[m] += B->cnt[g];
        if (!take) continue;
        switch (A->ext.type) {
        case OA_Q_INT:
        case OA_Q_TS:
        case OA_Q_DUR:
          A->ext.i[m] = B->ext.i[g];
          break;
        case OA_Q_DOUBLE:
          A->ext.d[m] = B->ext.d[g];
          break;
        case OA_Q_BOOL:
          A->ext.b[m] = B->ext.b[g];
          break;
        default:
          A->ext.s[m] = B->ext.s[g]; /* S's arena lives until the end */
        }
      }
      continue;
    }
    if (f == OA_AGG_COUNT_DISTINCT) {
      uint8_t buf[64];
      for (int64_t id = 0; id < B->distinct.n && !rc; id++) {
        uint32_t len = B->distinct.len[id];
        const uint8_t *kb = B->distinct.keys + B->distinct.off[id];
        uint8_t *nk = len <= sizeof buf ? buf : malloc(len);
        if (!nk) {
          rc = oa_error_set(R->err, ENOMEM, "out of memory");
          break;
        }
        uint32_t g;
        memcpy(&g, kb, 4);
        memcpy(nk, &map[g], 4);
        memcpy(nk + 4, kb + 4, len - 4);
        uint32_t nid;
        bool is_new;
        rc = oa_qhash_find_or_add(&A->distinct, nk, len,
                                  oa_qhash_bytes(nk, len), &nid, &is_new);
        if (!rc && is_new) A->cnt[map[g]]++;
        if (nk != buf) free(nk);
        if (rc) oa_error_set(R->err, rc, "COUNT(DISTINCT) table full");
      }
      continue;
    }
    for (int64_t g = 0; g < n; g++) {
      uint32_t m = map[g];
      A->cnt[m] += B->cnt[g];
      if (A->isum) {
        A->isum[m] += B->isum[g];
        A->dsum[m] += B->dsum[g];
      }
    }
    if (f == OA_AGG_QUANTILE_DISC || f == OA_AGG_QUANTILE_CONT) {
      for (int64_t i = 0; i < B->qn && !rc; i++) {
        if (A->qn >= A->qcap) {
          int64_t cap = A->qcap ? A->qcap * 2 : 4096;
          if (grow(R->mem, kQuantile, (void **)&A->qv, A->qcap, cap,
                   sizeof(struct qv))) {
            rc = oa_error_set(R->err, ENOMEM, "out of memory");
            break;
          }
          A->qcap = cap;
        }
        A->qv[A->qn] = B->qv[i];
        A->qv[A->qn++].g = map[B->qv[i].g];
      }
    }
  }
  free(map);
  free(keys);
  return rc;
}

typedef struct agg_task {
  qrun *R;
  const oa_query_table *t;
  int64_t lo, hi;
  int rc;
} agg_task;

static void *agg_worker(void *arg) {
  agg_task *k = arg;
  k->rc = scan(k->R, k->t, NULL, k->lo, k->hi);
  return NULL;
}

/* Runs scan ranges of `per` rows on T runs (R and ex[1..T-1]), each range
 * on its own thread (on this one when a thread cannot start), and returns
 * the first failure with its message copied to R->err. */
static int run_ranges(qrun *R, qrun *ex, const oa_error *errs, int T,
                      const oa_query_table *t, int64_t per) {
  agg_task tasks[16];
  pthread_t tids[16];
  bool started[16] = {false};
  for (int i = 0; i < T; i++) {
    tasks[i].R = i ? &ex[i] : R;
    tasks[i].t = t;
    tasks[i].lo = i ? (int64_t)i * per : 0;
    tasks[i].hi = i == T - 1 ? INT64_MAX : (int64_t)(i + 1) * per;
    tasks[i].rc = 0;
  }
  for (int i = 1; i < T; i++)
    started[i] = pthread_create(&tids[i], NULL, agg_worker, &tasks[i]) == 0;
  agg_worker(&tasks[0]);
  for (int i = 1; i < T; i++) {
    if (started[i])
      pthread_join(tids[i], NULL);
    else
      agg_worker(&tasks[i]); /* no thread: run it here */
  }
  if (tasks[0].rc) return tasks[0].rc;
  for (int i = 1; i < T; i++)
    if (tasks[i].rc) {
      if (R->err) *R->err = errs[i];
      return tasks[i].rc;
    }
  return 0;
}

/* A thread's own run of the query: the plan, options and memory budget of
 * R, its own arenas, error and stats. */
static void extra_run_init(const qrun *R, qrun *x, oa_error *e,
                           oa_query_stats *st) {
  x->p = R->p;
  x->o = R->o;
  x->err = e;
  x->stats = st;
  x->simd = R->simd;
  x->threads = 1;
  x->order_col = R->order_col;
  x->mem = R->mem;
  oa_qarena_init(&x->keep);
  oa_qarena_init(&x->tmp);
  x->keep.cache = x->tmp.cache = oa_qmem_cache(R->mem);
  x->keep.mem = R->mem;
  x->keep.what = R->keep.what;
}

/* Each thread aggregates a contiguous range of rows into its own groups;
 * the partial results are merged in range order. */
static int parallel_aggregate(qrun *R, const oa_query_table *t, int64_t total,
                              qrun **extra_out, int *n_extra) {
  int T = R->threads > 16 ? 16 : R->threads;
  qrun *ex = calloc((size_t)T, sizeof *ex);
  oa_query_stats *st = calloc((size_t)T, sizeof *st);
  oa_error *errs = calloc((size_t)T, sizeof *errs);
  if (!ex || !st || !errs) {
    free(ex);
    free(st);
    free(errs);
    return oa_error_set(R->err, ENOMEM, "out of memory");
  }
  *extra_out = ex;
  int rc = 0;
  for (int i = 1; i < T && !rc; i++) {
    extra_run_init(R, &ex[i], &errs[i], &st[i]);
    *n_extra = i + 1;
    rc = groups_setup(&ex[i]);
  }
  /* chunk-aligned ranges: a chunk belongs to the range of its first row */
  int64_t per = (total + T - 1) / T;
  for (int i = 0; i < T && !rc; i++)
    (i ? &ex[i] : R)->G.rows_hint = per;
  if (!rc) rc = run_ranges(R, ex, errs, T, t, per);
  /* room for every group up front: growing while merging would copy the
   * arrays and rehash the table a few times */
  int64_t all = R->G.n_groups;
  for (int i = 1; i < T; i++)
    all += ex[i].G.n_groups;
  if (!rc) rc = groups_presize(R, all);
  for (int i = 1; i < T && !rc; i++)
    rc = merge_groups(R, &ex[i]);
  for (int i = 1; i < T; i++) {
    R->stats->rows_scanned += st[i].rows_scanned;
    R->stats->batches_scanned += st[i].batches_scanned;
  }
  free(st);
  free(errs);
  for (int i = 1; i < T; i++)
    ex[i].err = R->err, ex[i].stats = NULL;
  return rc;
}

/* Appends column src to dst (strings stay where they are: input buffers or
 * the other run's arena, both alive until the query ends). */
static int acc_concat(oa_qacc *dst, const oa_qacc *src) {
  if (!src->n) return 0;
  if (oa_qacc_reserve(dst, src->n)) return ENOMEM;
  memcpy(dst->null + dst->n, src->null, (size_t)src->n);
  switch (dst->type) {
  case OA_Q_INT:
  case OA_Q_TS:
  case OA_Q_DUR:
    memcpy(dst->i + dst->n, src->i, (size_t)src->n * 8);
    break;
  case OA_Q_DOUBLE:
    memcpy(dst->d + dst->n, src->d, (size_t)src->n * 8);
    break;
  case OA_Q_BOOL:
    memcpy(dst->b + dst->n, src->b, (size_t)src->n);
    break;
  case OA_Q_STR:
  case OA_Q_BIN:
    memcpy(dst->s + dst->n, src->s, (size_t)src->n * sizeof(oa_qstr));
    break;
  default:
    break;
  }
  dst->n += src->n;
  dst->any_null = dst->any_null || src->any_null;
  return 0;
}

/* A projection over many rows: each thread evaluates a contiguous range of
 * rows into its own columns; the columns are then joined in range order, so
 * rows come out in scan order. */
static int parallel_project(qrun *R, const oa_query_table *t, int64_t total,
                            qrun **extra_out, int *n_extra) {
  int T = R->threads > 16 ? 16 : R->threads;
  qrun *ex = calloc((size_t)T, sizeof *ex);
  oa_query_stats *st = calloc((size_t)T, sizeof *st);
  oa_error *errs = calloc((size_t)T, sizeof *errs);
  if (!ex || !st || !errs) {
    free(ex);
    free(st);
    free(errs);
    return oa_error_set(R->err, ENOMEM, "out of memory");
  }
  *extra_out = ex;
  int rc = 0;
  int64_t per = (total + T - 1) / T;
  for (int i = 1; i < T && !rc; i++) {
    extra_run_init(R, &ex[i], &errs[i], &st[i]);
    *n_extra = i + 1;
    ex[i].cols = calloc((size_t)R->n_cols + 1, sizeof *ex[i].cols);
    if (!ex[i].cols) {
      rc = oa_error_set(R->err, ENOMEM, "out of memory");
      break;
    }
    ex[i].n_cols = R->n_cols;
    for (int32_t c = 0; c < R->n_cols && !rc; c++) {
      oa_qacc_init(&ex[i].cols[c], R->cols[c].type, R->cols[c].fsb_width);
      ex[i].cols[c].mem = R->mem;
      ex[i].cols[c].what = R->cols[c].what;
      /* without a filter the range's rows all come out: size them once */
      if (!R->p->where && R->p->tid_col < 0 &&
          oa_qacc_reserve(&ex[i].cols[c], per + CHUNK_ROWS))
        rc = oa_error_set(R->err, ENOMEM, "out of memory");
    }
  }
  if (!rc) rc = run_ranges(R, ex, errs, T, t, per);
  for (int i = 1; i < T && !rc; i++) {
    for (int32_t c = 0; c < R->n_cols && !rc; c++)
      if (acc_concat(&R->cols[c], &ex[i].cols[c]))
        rc = oa_error_set(R->err, ENOMEM, "out of memory");
    R->rows_out += ex[i].rows_out;
  }
  for (int i = 1; i < T; i++) {
    R->stats->rows_scanned += st[i].rows_scanned;
    R->stats->batches_scanned += st[i].batches_scanned;
    ex[i].err = R->err;
    ex[i].stats = NULL;
  }
  free(st);
  free(errs);
  return rc;
}

/* ------------------------------------------------------- sort */

static bool fixed_key(const oa_qvec *v, int64_t *width) {
  switch (v->type) {
  case OA_Q_INT:
  case OA_Q_TS:
  case OA_Q_DUR:
  case OA_Q_DOUBLE:
    *width = 8;
    return true;
  case OA_Q_BOOL:
  case OA_Q_NULL:
    *width = 1;
    return true;
  case OA_Q_BIN: {
    if (v->n == 0) {
      *width = 0;
      return true;
    }
    int64_t w = -1;
    for (int64_t k = 0; k < v->n; k++) {
      if (v->null && v->null[k]) continue;
      if (w < 0) w = v->s[k].len;
      if (v->s[k].len != w) return false;
    }
    *width = w < 0 ? 0 : w;
    return w <= 64;
  }
  default:
    return false;
  }
}

static void put_be64(uint8_t *p, uint64_t x) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)x;
    x >>= 8;
  }
}

typedef struct sort_ctx {
  const oa_qvec *keys;
  const oa_qorder *order;
  int32_t n;
} sort_ctx;

static int cmp_rows_r(const void *x, const void *y, void *arg) {
  const sort_ctx *c = arg;
  int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
  for (int32_t i = 0; i < c->n; i++) {
    const oa_qvec *v = &c->keys[i];
    bool an = v->type == OA_Q_NULL || (v->null && v->null[a]);
    bool bn = v->type == OA_Q_NULL || (v->null && v->null[b]);
    bool nf = c->order[i].nulls_first == 1;
    if (an || bn) {
      if (an && bn) continue;
      return an ? (nf ? -1 : 1) : (nf ? 1 : -1);
    }
    int r = oa_qcmp_rows(v, a, v, b);
    if (r) return c->order[i].desc ? -r : r;
  }
  return (a > b) - (a < b);
}

/* Row order of n rows by the keys; only the first `need` positions must be
 * right (top-k when need < n). */
typedef struct keys_ctx {
  const oa_qvec *keys;
  const oa_qorder *order;
  int32_t n_keys;
  const int64_t *widths;
  const bool *nullable; /* key has a null byte */
  uint8_t *recs;
  int64_t rs, n, idx_off;
} keys_ctx;

#define KEY_BLOCK 65536

/* Normalized keys of rows [block * KEY_BLOCK, ...). */
static int build_keys(void *vctx, int64_t block) {
  const keys_ctx *c = vctx;
  int64_t lo = block * KEY_BLOCK;
  int64_t hi = lo + KEY_BLOCK < c->n ? lo + KEY_BLOCK : c->n;
  int64_t rs = c->rs;
  memset(c->recs + lo * rs, 0, (size_t)((hi - lo) * rs));
  int64_t off = 0;
  for (int32_t i = 0; i < c->n_keys; i++) {
    const oa_qvec *v = &c->keys[i];
    bool nf = c->order[i].nulls_first == 1, desc = c->order[i].desc;
    int64_t w = c->widths[i];
    int64_t nb = c->nullable[i] ? 1 : 0;
    for (int64_t k = lo; k < hi; k++) {
      uint8_t *r = c->recs + k * rs + off;
      if (nb) {
        bool isn = v->type == OA_Q_NULL || (v->null && v->null[k]);
        r[0] = isn ? (nf ? 0 : 2) : 1;
        if (isn) continue;
      }
      uint8_t *q = r + nb;
      switch (v->type) {
      case OA_Q_INT:
      case OA_Q_TS:
      case OA_Q_DUR:
        put_be64(q, (uint64_t)v->i[k] ^ 0x8000000000000000ULL);
        break;
      case OA_Q_DOUBLE: {
        double d = v->d[k];
        if (d == 0) d = 0;
        if (isnan(d)) d = NAN;
        uint64_t u;
        memcpy(&u, &d, 8);
        u = (u & 0x8000000000000000ULL) ? ~u : u ^ 0x8000000000000000ULL;
        put_be64(q, u);
        break;
      }
      case OA_Q_BOOL:
        q[0] = v->b[k];
        break;
      case OA_Q_BIN:
        if (w == 16)
          memcpy(q, v->s[k].p, 16);
        else if (w == 8)
          memcpy(q, v->s[k].p, 8);
        else if (w)
          memcpy(q, v->s[k].p, (size_t)w);
        break;
      default:
        break;
      }
      if (desc)
        for (int64_t j = 0; j < w; j++)
          q[j] = (uint8_t)~q[j];
    }
    off += nb + w;
  }
  for (int64_t k = lo; k < hi; k++) {
    uint8_t *q = c->recs + k * rs + c->idx_off;
    q[0] = (uint8_t)(k >> 24);
    q[1] = (uint8_t)(k >> 16);
    q[2] = (uint8_t)(k >> 8);
    q[3] = (uint8_t)k;
  }
  return 0;
}

/* Row order of n rows by the keys; only the first `need` positions must be
 * right (top-k when need < n). */
static int sort_rows(qrun *R, const oa_qvec *keys, int64_t n, int64_t need,
                     int32_t *perm) {
  const oa_qplan *p = R->p;
  int64_t widths[64], rec = 0;
  bool nullable[64];
  bool fixed = p->n_order <= 64;
  for (int32_t i = 0; fixed && i < p->n_order; i++) {
    if (!fixed_key(&keys[i], &widths[i])) fixed = false;
    /* a key without nulls needs no null byte */
    nullable[i] = keys[i].type == OA_Q_NULL || keys[i].null != NULL;
    rec += (nullable[i] ? 1 : 0) + widths[i];
  }
  if (!fixed) {
    for (int64_t k = 0; k < n; k++)
      perm[k] = (int32_t)k;
    sort_ctx c = {keys, p->order, p->n_order};
    qsort_r(perm, (size_t)n, sizeof *perm, cmp_rows_r, &c);
    return 0;
  }
  int64_t off = rec;
  rec += 4; /* row index, big-endian: ties keep input order */
  int64_t rs = (rec + 7) & ~(int64_t)7;
  /* the records and the radix sort's second buffer of the same size */
  int64_t bytes = (n ? n : 1) * rs * 2;
  if (oa_qmem_charge(R->mem, bytes, kOrderBy))
    return oa_error_set(R->err, E2BIG, "ORDER BY: over the memory limit");
  int64_t rbytes = (n ? n : 1) * rs;
  uint8_t *recs = oa_qbig_get(oa_qmem_cache(R->mem), (size_t)rbytes);
  if (!recs) {
    oa_qmem_release(R->mem, bytes);
    return oa_error_set(R->err, ENOMEM, "out of memory (sort keys)");
  }
  keys_ctx kc = {keys, p->order, p->n_order, widths, nullable,
                 recs, rs,       n,          off};
  int64_t blocks = (n + KEY_BLOCK - 1) / KEY_BLOCK;
  oa_qparallel_for(n >= 4 * KEY_BLOCK ? R->threads : 1, blocks, build_keys,
                   &kc);
  int64_t klen = off + 4;
  int rc = 0;
  if (need < n && need * 16 < n) {
    rc = oa_qtopk_records(recs, n, rs, klen, need);
    n = need;
  } else {
    rc = oa_qsort_records_cached(oa_qmem_cache(R->mem), recs, n, rs, klen,
                                 R->threads);
  }
  if (rc) {
    oa_qbig_put(oa_qmem_cache(R->mem), recs, rbytes);
    oa_qmem_release(R->mem, bytes);
    return oa_error_set(R->err, rc, "out of memory (sort)");
  }
  for (int64_t k = 0; k < n; k++) {
    const uint8_t *q = recs + k * rs + off;
    perm[k] = (int32_t)((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
                        (uint32_t)q[2] << 8 | q[3]);
  }
  oa_qbig_put(oa_qmem_cache(R->mem), recs, rbytes);
  oa_qmem_release(R->mem, bytes);
  return 0;
}

/* ------------------------------------------------------- output */

static int out_field(const char *name, const oa_qvec *v, int32_t fsb_width,
                     oa_field *f, oa_error *err) {
  static const oa_type_id ids[] = {
      OA_TYPE_NA,     OA_TYPE_BOOL,   OA_TYPE_INT64,     OA_TYPE_DOUBLE,
      OA_TYPE_STRING, OA_TYPE_BINARY, OA_TYPE_TIMESTAMP, OA_TYPE_DURATION};
  oa_type_id id = ids[v->type];
  if (v->type == OA_Q_BIN && fsb_width > 0) id = OA_TYPE_FIXED_SIZE_BINARY;
  OA_RETURN_NOT_OK(oa_field_init(f, name, id, err));
  f->nullable = true;
  if (id == OA_TYPE_FIXED_SIZE_BINARY) f->type.byte_width = fsb_width;
  if (id == OA_TYPE_TIMESTAMP || id == OA_TYPE_DURATION) {
    f->type.unit = OA_TIME_UNIT_NANO;
    if (id == OA_TYPE_TIMESTAMP)
      OA_RETURN_NOT_OK(oa_field_set_timezone(f, "UTC", err));
  }
  return 0;
}

static int append_value(oa_builder *b, const oa_qvec *v, int64_t k) {
  if (v->type == OA_Q_NULL || (v->null && v->null[k]))
    return oa_builder_append_null(b);
  switch (v->type) {
  case OA_Q_BOOL:
    return oa_builder_append_bool(b, v->b[k]);
  case OA_Q_INT:
  case OA_Q_TS:
  case OA_Q_DUR:
    return oa_builder_append_int(b, v->i[k]);
  case OA_Q_DOUBLE:
    return oa_builder_append_double(b, v->d[k]);
  default:
    return oa_builder_append_bytes(b, v->s[k].p, v->s[k].len);
  }
}

typedef struct build_ctx {
  const oa_qvec *cols;
  const int32_t *perm;
  oa_schema *s;
  int32_t n_out;
  int64_t n, per_batch;
  oa_array *arrs; /* batch-major: arrs[batch * n_out + column] */
} build_ctx;

static int build_item(void *vctx, int64_t item) {
  build_ctx *bc = vctx;
  int64_t bi = item / bc->n_out;
  int32_t c = (int32_t)(item % bc->n_out);
  int64_t lo = bi * bc->per_batch;
  int64_t hi = lo + bc->per_batch < bc->n ? lo + bc->per_batch : bc->n;
  const oa_field *f = &bc->s->fields[c];
  const oa_qvec *v = &bc->cols[c];
  const int32_t *perm = bc->perm;
  oa_builder b;
  int rc = oa_builder_init(&b, f, 0, NULL);
  if (rc) return rc;
  rc = oa_builder_reserve(&b, hi - lo);
  int64_t from = lo;
  int64_t w = f->type.id == OA_TYPE_FIXED_SIZE_BINARY ? f->type.byte_width
              : (v->type == OA_Q_INT || v->type == OA_Q_TS ||
                 v->type == OA_Q_DUR || v->type == OA_Q_DOUBLE)
                  ? 8
                  : 0;
  if (!rc && w && hi > lo && !v->null && v->type != OA_Q_NULL) {
    /* fixed width without nulls: gather straight into the values */
    rc = oa_bytes_reserve(&b.values, (hi - lo) * w);
    if (!rc) {
      uint8_t *dst = b.values.data + b.values.size;
      if (v->type != OA_Q_BIN) {
        const uint64_t *s64 =
            v->type == OA_Q_DOUBLE ? (const void *)v->d : (const void *)v->i;
        for (int64_t k = lo; k < hi; k++)
          memcpy(dst + (k - lo) * 8, &s64[perm[k]], 8);
      } else if (w == 16) { /* constant sizes: inline copies */
        for (int64_t k = lo; k < hi; k++)
          memcpy(dst + (k - lo) * 16, v->s[perm[k]].p, 16);
      } else if (w == 8) {
        for (int64_t k = lo; k < hi; k++)
          memcpy(dst + (k - lo) * 8, v->s[perm[k]].p, 8);
      } else {
        for (int64_t k = lo; k < hi; k++)
          memcpy(dst + (k - lo) * w, v->s[perm[k]].p, (size_t)w);
      }
      b.values.size += (hi - lo) * w;
      b.length += hi - lo;
    }
    from = hi;
  }
  for (int64_t k = from; k < hi && !rc; k++)
    rc = append_value(&b, v, perm[k]);
  if (!rc) rc = oa_builder_finish(&b, &bc->arrs[item], NULL);
  oa_builder_reset(&b);
  return rc;
}

static int build_result(qrun *R, const oa_qvec *cols, const int32_t *fsbw,
                        const int32_t *perm, int64_t n, oa_query_result *out) {
  const oa_qplan *p = R->p;
  oa_error *err = R->err;
  int rc = 0;
  oa_schema *s = NULL;
  OA_RETURN_NOT_OK(oa_schema_new(&s, err));
  for (int32_t c = 0; c < p->n_out; c++) {
    oa_field f;
    int32_t w = fsbw[c];
    /* fixed width only if every value has it */
    if (cols[c].type == OA_Q_BIN && w > 0)
      for (int64_t k = 0; k < cols[c].n; k++)
        if (!(cols[c].null && cols[c].null[k]) && cols[c].s[k].len != w) {
          w = 0;
          break;
        }
    OA_GOTO_NOT_OK(rc, out_field(p->out_names[c], &cols[c], w, &f, err), fail);
    rc = oa_schema_add_field(s, &f, err);
    if (rc) {
      oa_field_reset(&f);
      goto fail;
    }
  }
  /* what the result's buffers will take, before building them */
  int64_t bytes = 0;
  for (int32_t c = 0; c < p->n_out; c++) {
    const oa_qvec *v = &cols[c];
    bytes += n / 8 + 1;
    if (v->type == OA_Q_STR || v->type == OA_Q_BIN) {
      bytes += fsbw[c] > 0 ? 0 : 4 * (n + 1);
      for (int64_t k = 0; k < n; k++) /* a null's slot is not set */
        if (!v->null || !v->null[perm[k]]) bytes += v->s[perm[k]].len;
    } else {
      bytes += v->type == OA_Q_BOOL ? n / 8 + 1 : 8 * n;
    }
  }
  if (oa_qmem_charge(R->mem, bytes, kResult)) {
    rc = oa_error_set(err, E2BIG, "the result is over the memory limit");
    goto fail;
  }
  const int64_t per_batch = 1 << 20;
  int64_t nb = n ? (n + per_batch - 1) / per_batch : 1;
  out->batches = calloc((size_t)nb, sizeof(oa_batch));
  if (!out->batches) {
    rc = oa_error_set(err, ENOMEM, "out of memory");
    goto fail;
  }
  out->schema = s;
  oa_schema_retain(s);
  oa_array *arrs =
      calloc((size_t)(nb * (p->n_out ? p->n_out : 1)), sizeof(oa_array));
  if (!arrs) {
    rc = oa_error_set(err, ENOMEM, "out of memory");
    goto fail;
  }
  /* every (batch, column) is built on its own, in parallel when large */
  build_ctx bc = {cols, perm, s, p->n_out, n, per_batch, arrs};
  int threads = n >= 65536 ? R->threads : 1;
  rc = oa_qparallel_for(threads, nb * p->n_out, build_item, &bc);
  if (rc) oa_error_set(err, rc, "building the result columns failed");
  for (int64_t bi = 0; bi < nb && !rc; bi++) {
    int64_t lo = bi * per_batch, hi = lo + per_batch < n ? lo + per_batch : n;
    oa_batch_init(&out->batches[bi]);
    rc = oa_batch_set(&out->batches[bi], s, hi - lo, arrs + bi * p->n_out, err);
    out->n_batches = bi + 1;
  }
  for (int64_t i = 0; i < nb * p->n_out; i++)
    oa_array_reset(&arrs[i]);
  free(arrs);
  out->n_rows = n;
  oa_schema_release(s);
  return rc;
fail:
  oa_schema_release(s);
  return rc;
}

/* ------------------------------------------------------- plan helpers */

static bool is_tid_conj(const oa_qnode *n, int64_t *col, int64_t *n_keys) {
  if (n->kind == OA_N_BINARY && !strcmp(n->op, "=")) {
    const oa_qnode *a = n->args[0], *b = n->args[1];
    if (a->kind == OA_N_LIT) {
      const oa_qnode *t = a;
      a = b;
      b = t;
    }
    if (a->kind == OA_N_COL && a->type == OA_Q_BIN && a->fsb_width == 16 &&
        b->kind == OA_N_LIT && b->type == OA_Q_BIN) {
      *col = a->column;
      *n_keys = 1;
      return true;
    }
  }
  if (n->kind == OA_N_IN && !n->negated && n->args[0]->kind == OA_N_COL &&
      n->args[0]->type == OA_Q_BIN && n->args[0]->fsb_width == 16) {
    for (int32_t i = 1; i < n->n_args; i++)
      if (n->args[i]->kind != OA_N_LIT || n->args[i]->type != OA_Q_BIN)
        return false;
    *col = n->args[0]->column;
    *n_keys = n->n_args - 1;
    return true;
  }
  return false;
}

/* Takes the first trace-id conjunct of WHERE out into the SIMD filter. */
static int plan_tid_filter(oa_qplan *p, oa_qarena *arena) {
  if (!p->where) return 0;
  oa_qnode **slot = &p->where;
  oa_qnode **stack[64];
  int sp = 0;
  stack[sp++] = slot;
  while (sp) {
    oa_qnode **np = stack[--sp];
    oa_qnode *n = *np;
    if (n->kind == OA_N_BINARY && !strcmp(n->op, "AND")) {
      if (sp + 2 <= 64) {
        stack[sp++] = &n->args[1];
        stack[sp++] = &n->args[0];
      }
      continue;
    }
    int64_t col, nk;
    if (!is_tid_conj(n, &col, &nk)) continue;
    uint8_t *keys = oa_qarena_alloc(arena, nk * 16);
    if (!keys) return ENOMEM;
    int64_t w = 0;
    for (int64_t i = 0; i < nk; i++) {
      const oa_qnode *l = n->kind == OA_N_IN             ? n->args[i + 1]
                          : n->args[0]->kind == OA_N_LIT ? n->args[0]
                                                         : n->args[1];
      if (l->lit_s.len != 16) continue; /* can never match */
      memcpy(keys + w * 16, l->lit_s.p, 16);
      w++;
    }
    p->tid_col = col;
    p->tid_keys = keys;
    p->n_tid_keys = w;
    /* replace the conjunct by TRUE */
    oa_qnode *t = oa_qarena_calloc(arena, sizeof *t);
    if (!t) return ENOMEM;
    t->kind = OA_N_LIT;
    t->lit_type = t->type = OA_Q_BOOL;
    t->lit_i = 1;
    *np = t;
    if (np == &p->where) p->where = NULL;
    return 0;
  }
  return 0;
}

/* Scan hint from the unbound WHERE: trace_id = / IN literals and
 * start_time bounds. */
static void hint_conj(const oa_qnode *n, oa_qplan *p, oa_qarena *arena) {
  if (n->kind == OA_N_BINARY && !strcmp(n->op, "AND")) {
    hint_conj(n->args[0], p, arena);
    hint_conj(n->args[1], p, arena);
    return;
  }
  const oa_qnode *c = NULL;
  const oa_qnode *lits[64];
  int nl = 0;
  const char *op = NULL;
  bool flipped = false;
  if (n->kind == OA_N_BINARY && n->n_args == 2) {
    if (n->args[0]->kind == OA_N_COL) {
      c = n->args[0];
      lits[nl++] = n->args[1];
    } else if (n->args[1]->kind == OA_N_COL) {
      c = n->args[1];
      lits[nl++] = n->args[0];
      flipped = true;
    }
    op = n->op;
  } else if (n->kind == OA_N_IN && !n->negated &&
             n->args[0]->kind == OA_N_COL && n->n_args - 1 <= 64) {
    c = n->args[0];
    for (int32_t i = 1; i < n->n_args; i++)
      lits[nl++] = n->args[i];
    op = "IN";
  } else if (n->kind == OA_N_BETWEEN && !n->negated &&
             n->args[0]->kind == OA_N_COL) {
    c = n->args[0];
    lits[nl++] = n->args[1];
    lits[nl++] = n->args[2];
    op = "BETWEEN";
  }
  if (!c || !op) return;
  if ((size_t)c->name_len == 8 && !strncasecmp(c->name, "trace_id", 8) &&
      (!strcmp(op, "=") || !strcmp(op, "IN")) && !p->hint.trace_ids) {
    uint8_t *ids = oa_qarena_alloc(arena, 16 * nl);
    if (!ids) return;
    for (int i = 0; i < nl; i++) {
      const oa_qnode *l = lits[i];
      if (l->kind != OA_N_LIT) return;
      if (l->lit_type == OA_Q_BIN && l->lit_s.len == 16) {
        memcpy(ids + 16 * i, l->lit_s.p, 16);
      } else if (l->lit_type == OA_Q_STR) {
        uint8_t tmp[64];
        int64_t len;
        if (l->lit_s.len > 100 ||
            oa_qunhex(l->lit_s.p, l->lit_s.len, tmp, &len) || len != 16)
          return;
        memcpy(ids + 16 * i, tmp, 16);
      } else {
        return;
      }
    }
    p->hint.trace_ids = ids;
    p->hint.n_trace_ids = nl;
    return;
  }
  if ((size_t)c->name_len == 10 && !strncasecmp(c->name, "start_time", 10)) {
    int64_t v[2];
    for (int i = 0; i < nl; i++) {
      const oa_qnode *l = lits[i];
      if (l->kind == OA_N_CAST && l->n_args == 1 &&
          l->args[0]->kind == OA_N_LIT && l->args[0]->lit_type == OA_Q_STR &&
          l->name && !strncasecmp(l->name, "timestamp", 9))
        l = l->args[0];
      if (l->kind != OA_N_LIT) return;
      if (l->lit_type == OA_Q_STR) {
        if (oa_qparse_timestamp((const char *)l->lit_s.p, l->lit_s.len, &v[i]))
          return;
      } else if (l->lit_type == OA_Q_INT) {
        v[i] = l->lit_i;
      } else {
        return;
      }
    }
    if (!strcmp(op, "BETWEEN")) {
      if (v[0] > p->hint.min_start_time) p->hint.min_start_time = v[0];
      if (v[1] < p->hint.max_start_time) p->hint.max_start_time = v[1];
      return;
    }
    const char *o = op;
    if (flipped) {
      if (!strcmp(o, "<"))
        o = ">";
      else if (!strcmp(o, ">"))
        o = "<";
      else if (!strcmp(o, "<="))
        o = ">=";
      else if (!strcmp(o, ">="))
        o = "<=";
    }
    if (!strcmp(o, "=")) {
      if (v[0] > p->hint.min_start_time) p->hint.min_start_time = v[0];
      if (v[0] < p->hint.max_start_time) p->hint.max_start_time = v[0];
    } else if (!strcmp(o, ">=") || !strcmp(o, ">")) {
      if (v[0] > p->hint.min_start_time) p->hint.min_start_time = v[0];
    } else if (!strcmp(o, "<=") || !strcmp(o, "<")) {
      if (v[0] < p->hint.max_start_time) p->hint.max_start_time = v[0];
    }
  }
}

/* ------------------------------------------------------- run */

static void noop_release(oa_query_table *t) { (void)t; }

static void fmt_bytes(char *buf, size_t cap, int64_t b) {
  if (b >= ((int64_t)1 << 30) && b % ((int64_t)1 << 30) == 0)
    snprintf(buf, cap, "%lld GiB", (long long)(b >> 30));
  else if (b >= ((int64_t)1 << 30))
    snprintf(buf, cap, "%.1f GiB", (double)b / (double)(1 << 30));
  else if (b >= (1 << 20))
    snprintf(buf, cap, "%.0f MiB", (double)b / (double)(1 << 20));
  else if (b >= (1 << 10))
    snprintf(buf, cap, "%.0f KiB", (double)b / (double)(1 << 10));
  else
    snprintf(buf, cap, "%lld bytes", (long long)b);
}

static void fmt_count(char *buf, size_t cap, int64_t n) {
  if (n >= 1000000)
    snprintf(buf, cap, "%.1fM", (double)n / 1e6);
  else if (n >= 10000)
    snprintf(buf, cap, "%.0fK", (double)n / 1e3);
  else
    snprintf(buf, cap, "%lld", (long long)n);
}

static bool tag_is(const char *what, const char *tag) {
  return what && strcmp(what, tag) == 0;
}

/* How far the query got when the budget ran out: groups, distinct values,
 * quantile values or rows, for the message. */
static int64_t mem_progress(const oa_qmem *m, const qrun *R, const qrun *ex,
                            int n_ex, int64_t rows) {
  int64_t v = 0;
  for (int i = -1; i < n_ex; i++) {
    const qrun *r = i < 0 ? R : &ex[i]; /* ex[0] is an unused, zeroed run */
    if (tag_is(m->what, kGroupBy)) v += r->G.n_groups;
    for (int32_t a = 0; a < r->G.n_aggs && r->G.aggs; a++)
      v += tag_is(m->what, kDistinct)   ? r->G.aggs[a].distinct.n
           : tag_is(m->what, kQuantile) ? r->G.aggs[a].qn
                                        : 0;
    if (tag_is(m->what, kOrderBy) || tag_is(m->what, kResult)) v += r->rows_out;
  }
  if ((tag_is(m->what, kOrderBy) || tag_is(m->what, kResult)) && rows > v)
    v = rows;
  return v;
}

/* E2BIG naming what outgrew the query memory limit and what to do. */
static int memory_error(const oa_qmem *m, const oa_query_options *o,
                        int64_t count, oa_error *err) {
  char lim[32], cnt[32], detail[64] = "";
  fmt_bytes(lim, sizeof lim, m->limit);
  const char *what = m->what ? m->what : kResult;
  const char *hint = o->memory_limit_hint ? o->memory_limit_hint : "max_memory";
  const char *todo = "add a WHERE or a LIMIT";
  const char *unit = tag_is(what, kGroupBy)    ? "group"
                     : tag_is(what, kDistinct) ? "distinct value"
                     : tag_is(what, kQuantile) ? "value"
                                               : "row";
  if (tag_is(what, kGroupBy) || tag_is(what, kDistinct) ||
      tag_is(what, kQuantile))
    todo = "add a WHERE that keeps fewer rows or group by fewer keys";
  fmt_count(cnt, sizeof cnt, count);
  if (count > 0)
    snprintf(detail, sizeof detail, " for %s %s%s%s", cnt, unit,
             count == 1 ? "" : "s",
             tag_is(what, kOrderBy) || tag_is(what, kResult) ? "" : " so far");
  return oa_error_set(err, E2BIG,
                      "%s needs more than %s%s (query memory limit, %s); %s, "
                      "or raise the limit",
                      what, lim, detail, hint, todo);
}

int oa_query_run(const char *sql, const oa_query_options *o,
                 oa_query_result *out, oa_error *err) {
  int64_t t0 = mono_ns();
  oa_query_options defaults;
  if (!o) {
    oa_query_options_init(&defaults);
    o = &defaults;
  }
  if (!sql || !out)
    return oa_error_set(err, EINVAL, "oa_query_run: NULL argument");
  oa_query_result_init(out);
  oa_simd_level simd = o->simd == OA_SIMD_AUTO ? oa_simd_detect() : o->simd;
  if (simd > oa_simd_detect())
    return oa_error_set(err, ENOTSUP,
                        "SIMD level %s is not supported by this CPU",
                        oa_simd_name(o->simd));
  qrun R;
  memset(&R, 0, sizeof R);
  oa_qmem mem;
  oa_qmem_init(&mem, o->max_memory);
  mem.cache = o->cache;
  R.mem = &mem;
  int64_t mem_rows = -1; /* rows being sorted or output, for the message */
  R.o = o;
  R.err = err;
  R.stats = &out->stats;
  R.simd = simd;
  R.threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (R.threads < 1) R.threads = 1;
  oa_qarena_init(&R.keep);
  oa_qarena_init(&R.tmp);
  R.keep.cache = R.tmp.cache = o->cache;
  R.keep.mem = &mem;
  R.keep.what = kResult;
  oa_qarena ast;
  oa_qarena_init(&ast);
  ast.cache = o->cache;
  oa_qstmt st;
  oa_qplan plan;
  oa_query_table table;
  memset(&table, 0, sizeof table);
  bool have_table = false;
  int32_t *perm = NULL;
  oa_qvec *vcols = NULL;
  int32_t *fsbw = NULL;
  oa_batch one;
  oa_batch_init(&one);
  qrun *extra = NULL; /* per-thread partial aggregations */
  int n_extra_runs = 0;
  int rc = oa_qparse(sql, strlen(sql), &ast, &st, err);
  if (rc) goto done;
  oa_qplan hint_plan;
  memset(&hint_plan, 0, sizeof hint_plan);
  hint_plan.hint.min_start_time = INT64_MIN;
  hint_plan.hint.max_start_time = INT64_MAX;
  if (st.where) hint_conj(st.where, &hint_plan, &ast);
  if (st.table) {
    char name[256];
    if (st.table_len >= (int32_t)sizeof name) {
      rc = oa_qerr(err, st.table_line, st.table_col, "table name too long");
      goto done;
    }
    memcpy(name, st.table, (size_t)st.table_len);
    name[st.table_len] = 0;
    if (!o->resolve) {
      rc = oa_error_set(err, ENOENT, "no table '%s'", name);
      goto done;
    }
    if (err) err->message[0] = 0;
    rc = o->resolve(o->resolve_ctx, name, &hint_plan.hint, &table, err);
    if (rc) {
      if (err && !err->message[0]) oa_error_set(err, rc, "no table '%s'", name);
      goto done;
    }
    have_table = true;
    if (!table.release) table.release = noop_release;
    if (!table.schema) {
      rc = oa_error_set(err, EINVAL, "table '%s' has no schema", name);
      goto done;
    }
  }
  int64_t now = o->now_ns ? o->now_ns : now_real_ns();
  rc = oa_qbind(&st, have_table ? table.schema : NULL, &ast, now, &plan, err);
  if (rc) goto done;
  plan.hint = hint_plan.hint;
  rc = plan_tid_filter(&plan, &ast);
  if (rc) {
    oa_error_set(err, rc, "out of memory");
    goto done;
  }
  if (plan.tid_col >= 0) out->stats.filter_kernel = oa_simd_name(simd);
  R.p = &plan;
  if (have_table) {
    bool handled = false;
    rc = oa_qlate_sort(&plan, &table, R.threads, o->max_result_rows, &mem, out,
                       &handled, err);
    if (rc || handled) goto done;
  }
  /* columns collected by the scan (projection) */
  int32_t n_extra = 0;
  int32_t *order_src = NULL; /* per ORDER BY key: column index */
  order_src =
      oa_qarena_alloc(&ast, (int64_t)sizeof(int32_t) * (plan.n_order + 1));
  R.order_col = oa_qarena_alloc(&ast, (int64_t)sizeof(int32_t) *
                                          (plan.n_out + plan.n_order + 1));
  if (!order_src || !R.order_col) {
    rc = oa_error_set(err, ENOMEM, "out of memory");
    goto done;
  }
  for (int32_t i = 0; i < plan.n_order; i++) {
    order_src[i] = -1;
    for (int32_t c = 0; c < plan.n_out; c++)
      if (plan.order[i].expr == plan.out[c]) order_src[i] = c;
    if (order_src[i] < 0) {
      R.order_col[plan.n_out + n_extra] = i;
      order_src[i] = plan.n_out + n_extra++;
    }
  }
  int32_t n_cols = plan.n_out + n_extra;
  int64_t n_rows = 0;
  vcols = calloc((size_t)n_cols + 1, sizeof *vcols);
  fsbw = calloc((size_t)n_cols + 1, sizeof *fsbw);
  if (!vcols || !fsbw) {
    rc = oa_error_set(err, ENOMEM, "out of memory");
    goto done;
  }
  for (int32_t c = 0; c < n_cols; c++) {
    const oa_qnode *e =
        c < plan.n_out ? plan.out[c] : plan.order[R.order_col[c]].expr;
    fsbw[c] = e->fsb_width;
  }
  if (!have_table) {
    /* SELECT without FROM: one row, no columns */
    oa_schema *es;
    rc = oa_schema_new(&es, err);
    if (rc) goto done;
    one.schema = es;
    one.length = 1;
  }
  if (!plan.aggregate) {
    R.keep.what = plan.n_order ? kOrderBy : kResult;
    R.cols = calloc((size_t)n_cols + 1, sizeof *R.cols);
    if (!R.cols) {
      rc = oa_error_set(err, ENOMEM, "out of memory");
      goto done;
    }
    R.n_cols = n_cols;
    /* without a filter every row comes out: size the columns once */
    int64_t expect = 0;
    if (!plan.where && plan.tid_col < 0 && have_table)
      for (int64_t bi = 0; bi < table.n_batches; bi++)
        expect += table.batches[bi].length;
    if (st.limit >= 0 && plan.n_order == 0 && expect > st.limit + st.offset)
      expect = st.limit + st.offset;
    for (int32_t c = 0; c < n_cols; c++) {
      const oa_qnode *e =
          c < plan.n_out ? plan.out[c] : plan.order[R.order_col[c]].expr;
      oa_qacc_init(&R.cols[c], e->type, e->fsb_width);
      R.cols[c].mem = &mem;
      R.cols[c].what = plan.n_order ? kOrderBy : kResult;
      if (expect > 0 && oa_qacc_reserve(&R.cols[c], expect)) {
        mem_rows = expect;
        rc = oa_error_set(err, ENOMEM, "out of memory");
        goto done;
      }
    }
    int64_t total = 0;
    for (int64_t bi = 0; have_table && bi < table.n_batches; bi++)
      total += table.batches[bi].length;
    bool early_stop = st.limit >= 0 && plan.n_order == 0;
    if (have_table && R.threads > 1 && total >= 262144 && !early_stop)
      rc = parallel_project(&R, &table, total, &extra, &n_extra_runs);
    else
      rc = scan(&R, &table, have_table ? NULL : &one, 0, INT64_MAX);
    if (rc) goto done;
    n_rows = R.n_cols ? R.cols[0].n : R.rows_out;
    for (int32_t c = 0; c < n_cols; c++)
      oa_qacc_view(&R.cols[c], &vcols[c]);
  } else {
    qgroups *G = &R.G;
    rc = groups_setup(&R);
    if (rc) goto done;
    int64_t total = 0;
    for (int64_t bi = 0; have_table && bi < table.n_batches; bi++)
      total += table.batches[bi].length;
    G->rows_hint = total;
    if (have_table && R.threads > 1 && total >= 262144) {
      rc = parallel_aggregate(&R, &table, total, &extra, &n_extra_runs);
      if (rc) goto done;
    } else {
      rc = scan(&R, &table, have_table ? NULL : &one, 0, INT64_MAX);
      if (rc) goto done;
    }
    if (plan.n_group == 0 && G->n_groups == 0) {
      /* aggregates over no rows: one group */
      uint32_t gid0;
      rc = assign_groups(&R, NULL, 0, 0, &gid0);
      if (rc) goto done;
      for (int32_t a = 0; a < plan.n_aggs; a++)
        if (plan.aggs[a]->fn == OA_AGG_MIN || plan.aggs[a]->fn == OA_AGG_MAX) {
          oa_qvec z;
          memset(&z, 0, sizeof z);
          if (oa_qacc_append(&G->aggs[a].ext, &z, 0, NULL)) {
            rc = oa_error_set(err, ENOMEM, "out of memory");
            goto done;
          }
        }
    }
    int64_t ng = G->n_groups;
    oa_qvec *slots = oa_qarena_alloc(
        &R.keep, (int64_t)sizeof(oa_qvec) * (plan.n_group + plan.n_aggs + 1));
    if (!slots) {
      rc = oa_error_set(err, ENOMEM, "out of memory");
      goto done;
    }
    for (int32_t g = 0; g < plan.n_group; g++)
      oa_qacc_view(&G->keys[g], &slots[g]);
    for (int32_t a = 0; a < plan.n_aggs; a++) {
      rc = finish_agg(&R, &G->aggs[a], ng, &slots[plan.n_group + a]);
      if (rc) goto done;
    }
    /* HAVING, then the outputs over the surviving groups */
    int32_t *gsel = malloc(sizeof(int32_t) * (size_t)(ng ? ng : 1));
    if (!gsel) {
      rc = oa_error_set(err, ENOMEM, "out of memory");
      goto done;
    }
    int64_t m = ng;
    for (int64_t g = 0; g < ng; g++)
      gsel[g] = (int32_t)g;
    oa_qeval ev = {&R.keep, plan.schema, NULL, slots, gsel,
                   ng,      now,         err,  NULL,  NULL};
    if (plan.having) {
      oa_qvec h;
      rc = oa_qeval_expr(&ev, plan.having, &h);
      if (rc) {
        free(gsel);
        goto done;
      }
      int64_t w = 0;
      if (h.type != OA_Q_NULL)
        for (int64_t k = 0; k < ng; k++)
          if (h.b[k] && !(h.null && h.null[k])) gsel[w++] = gsel[k];
      m = w;
    }
    ev.n = m;
    for (int32_t c = 0; c < n_cols && !rc; c++) {
      const oa_qnode *e =
          c < plan.n_out ? plan.out[c] : plan.order[R.order_col[c]].expr;
      rc = oa_qeval_expr(&ev, e, &vcols[c]);
    }
    free(gsel);
    if (rc) goto done;
    n_rows = m;
  }
  /* ORDER BY, OFFSET, LIMIT */
  mem_rows = n_rows;
  {
    int64_t off = st.offset, lim = st.limit;
    int64_t need = lim >= 0 ? off + lim : n_rows;
    if (need > n_rows || need < 0) need = n_rows;
    if (oa_qmem_charge(&mem, 4 * n_rows, plan.n_order ? kOrderBy : kResult)) {
      rc = E2BIG;
      goto done;
    }
    perm = malloc(sizeof(int32_t) * (size_t)(n_rows ? n_rows : 1));
    if (!perm) {
      rc = oa_error_set(err, ENOMEM, "out of memory");
      goto done;
    }
    if (n_rows > INT32_MAX) {
      rc = oa_error_set(err, E2BIG, "more than 2^31 result rows before LIMIT");
      goto done;
    }
    if (plan.n_order) {
      oa_qvec *keys =
          oa_qarena_alloc(&R.keep, (int64_t)sizeof(oa_qvec) * plan.n_order);
      if (!keys) {
        rc = oa_error_set(err, ENOMEM, "out of memory");
        goto done;
      }
      for (int32_t i = 0; i < plan.n_order; i++)
        keys[i] = vcols[order_src[i]];
      rc = sort_rows(&R, keys, n_rows, need, perm);
      if (rc) goto done;
    } else {
      for (int64_t k = 0; k < n_rows; k++)
        perm[k] = (int32_t)k;
    }
    int64_t start = off < need ? off : need;
    int64_t count = need - start;
    int64_t max_rows = o->max_result_rows > 0 ? o->max_result_rows : 100000000;
    if (count > max_rows) {
      rc = oa_error_set(err, E2BIG,
                        "the result has %lld rows, more than the limit of %lld",
                        (long long)count, (long long)max_rows);
      goto done;
    }
    rc = build_result(&R, vcols, fsbw, perm + start, count, out);
  }
done:
  if (rc && atomic_load(&mem.over)) {
    if (mem_rows < 0) mem_rows = out->stats.rows_scanned;
    rc = memory_error(
        &mem, o, mem_progress(&mem, &R, extra, n_extra_runs, mem_rows), err);
  }
  free(perm);
  free(vcols);
  free(fsbw);
  if (R.cols) {
    for (int32_t c = 0; c < R.n_cols; c++)
      oa_qacc_reset(&R.cols[c]);
    free(R.cols);
  }
  groups_free(&R.G);
  free(R.gid);
  free(R.keybuf);
  for (int i = 0; i < n_extra_runs; i++)
    run_free(&extra[i]);
  free(extra);
  oa_batch_reset(&one);
  if (have_table) table.release(&table);
  oa_qarena_reset(&R.keep);
  oa_qarena_reset(&R.tmp);
  oa_qarena_reset(&ast);
  out->stats.elapsed_ns = mono_ns() - t0;
  out->stats.peak_memory = atomic_load(&mem.peak);
  if (rc) {
    oa_query_stats keep = out->stats;
    oa_query_result_reset(out);
    out->stats = keep;
  }
  return rc;
}
