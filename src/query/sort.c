/* Sorting fixed-size records by memcmp of a key prefix: MSD radix sort
 * with an insertion sort for small buckets, and a heap for top-k. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "query/qexec.h"

#define OA_QBIG_HUGE ((size_t)2 << 20)
/* From here on buffers are cacheable (malloc unmaps or trims what a query
 * frees, and the next query faults it in again); below 1 MB their lengths
 * are rounded to 16 KB, from 1 MB to 2 MB huge pages. */
#define OA_QBIG_MID ((size_t)16 << 10)
#define OA_QBIG_MID_STEP ((size_t)16 << 10)
/* Blocks a cache holds at most: a 2-thread 100K-group GROUP BY frees about
 * a hundred (its arrays double through the sizes on the way). */
#define OA_QCACHE_SLOTS 512

struct oa_query_cache {
  pthread_mutex_t mu;
  int64_t max, held, n;
  int64_t hits, misses;
  /* oldest first: a full cache drops its oldest block */
  struct {
    void *p;
    int64_t len; /* the block's real length (see big_len) */
  } b[OA_QCACHE_SLOTS];
};

int oa_query_cache_new(int64_t max_bytes, oa_query_cache **out, oa_error *err) {
  if (!out) return oa_error_set(err, EINVAL, "oa_query_cache_new: NULL out");
  *out = NULL;
  oa_query_cache *c = calloc(1, sizeof *c);
  if (!c) return oa_error_set(err, ENOMEM, "out of memory (query cache)");
  if (pthread_mutex_init(&c->mu, NULL)) {
    free(c);
    return oa_error_set(err, ENOMEM, "query cache: cannot create its mutex");
  }
  c->max = max_bytes > 0 ? max_bytes : (int64_t)256 << 20;
  *out = c;
  return 0;
}

void oa_query_cache_free(oa_query_cache *c) {
  if (!c) return;
  for (int64_t i = 0; i < c->n; i++)
    free(c->b[i].p);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

void oa_query_cache_get_stats(oa_query_cache *c, oa_query_cache_stats *out) {
  memset(out, 0, sizeof *out);
  if (!c) return;
  pthread_mutex_lock(&c->mu);
  out->bytes = c->held;
  out->blocks = c->n;
  out->hits = c->hits;
  out->misses = c->misses;
  pthread_mutex_unlock(&c->mu);
}

static size_t big_len(size_t size) {
  size_t step = size >= OA_QBIG_HUGE / 2 ? OA_QBIG_HUGE : OA_QBIG_MID_STEP;
  return (size + step - 1) & ~(step - 1);
}

void *oa_qbig_alloc(size_t size) { return oa_qbig_get(NULL, size); }

void *oa_qbig_get(oa_query_cache *c, size_t size) {
  /* Big buffers are fresh memory every query: with 4 KB pages the kernel
   * takes a fault per page (a third of a 100K-group GROUP BY went there),
   * with 2 MB pages one per 2 MB. */
  if (size < OA_QBIG_MID) return malloc(size ? size : 1);
  size_t len = big_len(size);
  if (c) {
    /* only a block of the same length: the put side knows no other, and
     * growth by doubling repeats the same lengths query after query */
    void *hit = NULL;
    pthread_mutex_lock(&c->mu);
    for (int64_t i = c->n - 1; i >= 0; i--)
      if (c->b[i].len == (int64_t)len) {
        hit = c->b[i].p;
        c->held -= c->b[i].len;
        memmove(&c->b[i], &c->b[i + 1],
                (size_t)(c->n - 1 - i) * sizeof c->b[0]);
        c->n--;
        break;
      }
    if (hit)
      c->hits++;
    else
      c->misses++;
    pthread_mutex_unlock(&c->mu);
#ifndef NDEBUG
    /* debug builds scribble on reused blocks: code that took fresh pages
     * for zeroed ones fails the tests instead of a later warm query */
    if (hit) memset(hit, 0xA5, len);
#endif
    if (hit) return hit;
  }
  /* the whole rounded length: the cache hands it out as that */
  if (size < OA_QBIG_HUGE / 2) return malloc(len);
  void *p = NULL;
  if (posix_memalign(&p, OA_QBIG_HUGE, len)) return NULL;
#ifdef MADV_HUGEPAGE
  madvise(p, len, MADV_HUGEPAGE);
#endif
  return p;
}

void oa_qbig_put(oa_query_cache *c, void *p, int64_t bytes) {
  if (!p) return;
  if (!c || bytes < (int64_t)OA_QBIG_MID) {
    free(p);
    return;
  }
  int64_t len = (int64_t)big_len((size_t)bytes);
  if (len > c->max) {
    free(p);
    return;
  }
  void *drop[OA_QCACHE_SLOTS];
  int64_t n_drop = 0;
  pthread_mutex_lock(&c->mu);
  /* make room by dropping the oldest blocks (freed outside the lock) */
  while (c->n > 0 && (c->n == OA_QCACHE_SLOTS || c->held + len > c->max)) {
    drop[n_drop++] = c->b[0].p;
    c->held -= c->b[0].len;
    memmove(&c->b[0], &c->b[1], (size_t)(c->n - 1) * sizeof c->b[0]);
    c->n--;
  }
  c->b[c->n].p = p;
  c->b[c->n].len = len;
  c->n++;
  c->held += len;
  pthread_mutex_unlock(&c->mu);
  for (int64_t i = 0; i < n_drop; i++)
    free(drop[i]);
}

void oa_qmem_init(oa_qmem *m, int64_t limit) {
  m->limit = limit > 0 ? limit : 0;
  atomic_init(&m->used, 0);
  atomic_init(&m->peak, 0);
  atomic_init(&m->over, 0);
  m->what = NULL;
  m->want = 0;
  m->cache = NULL;
}

int oa_qmem_charge(oa_qmem *m, int64_t bytes, const char *what) {
  if (!m || bytes <= 0) return 0;
  int64_t now = atomic_fetch_add(&m->used, bytes) + bytes;
  if (m->limit && now > m->limit) {
    atomic_fetch_sub(&m->used, bytes);
    int zero = 0;
    /* the first failure names the culprit; later ones are its echoes */
    if (atomic_compare_exchange_strong(&m->over, &zero, 1)) {
      m->what = what;
      m->want = bytes;
    }
    return E2BIG;
  }
  int64_t pk = atomic_load(&m->peak);
  while (now > pk && !atomic_compare_exchange_weak(&m->peak, &pk, now)) {
  }
  return 0;
}

void oa_qmem_release(oa_qmem *m, int64_t bytes) {
  if (m && bytes > 0) atomic_fetch_sub(&m->used, bytes);
}

int oa_qmem_resize(oa_qmem *m, const char *what, void **p, int64_t old_bytes,
                   int64_t new_bytes) {
  if (new_bytes <= old_bytes) return 0;
  int rc = oa_qmem_charge(m, new_bytes - old_bytes, what);
  if (rc) return rc;
  void *q;
  /* the same threshold as oa_qbig_get: whatever a put may cache came from
   * it, at its rounded length */
  if (new_bytes < (int64_t)OA_QBIG_MID) {
    q = realloc(*p, (size_t)new_bytes);
  } else {
    q = oa_qbig_get(oa_qmem_cache(m), (size_t)new_bytes);
    if (q && old_bytes > 0) memcpy(q, *p, (size_t)old_bytes);
    if (q) oa_qbig_put(oa_qmem_cache(m), *p, old_bytes);
  }
  if (!q) {
    oa_qmem_release(m, new_bytes - old_bytes);
    return ENOMEM;
  }
  *p = q;
  return 0;
}

/* Records are a multiple of 8 bytes: word copies beat memcpy calls of a
 * size the compiler does not know. */
static inline void copy_rec(uint8_t *d, const uint8_t *s, int64_t words) {
  /* constant sizes for the common records: a few vector moves instead of
   * a word loop (the loop was a third of the sort's instructions) */
  switch (words) {
  case 2:
    memcpy(d, s, 16);
    return;
  case 3:
    memcpy(d, s, 24);
    return;
  case 4:
    memcpy(d, s, 32);
    return;
  case 5:
    memcpy(d, s, 40);
    return;
  case 6:
    memcpy(d, s, 48);
    return;
  default:
    break;
  }
  uint64_t *dw = (uint64_t *)(void *)d;
  const uint64_t *sw = (const uint64_t *)(const void *)s;
  for (int64_t i = 0; i < words; i++)
    dw[i] = sw[i];
}

/* memcmp on 8-byte big-endian words: no library call for short keys. */
static inline int cmp_key(const uint8_t *a, const uint8_t *b, size_t len) {
  while (len >= 8) {
    uint64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    if (x != y) {
      x = __builtin_bswap64(x);
      y = __builtin_bswap64(y);
      return x < y ? -1 : 1;
    }
    a += 8;
    b += 8;
    len -= 8;
  }
  for (size_t i = 0; i < len; i++)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

static void insertion(uint8_t *r, int64_t n, int64_t rs, int64_t from,
                      int64_t klen, uint8_t *tmp) {
  int64_t words = rs / 8;
  /* Small buckets are often one trace: skip the bytes all records share,
   * so that most comparisons decide on their first word. */
  while (from + 8 <= klen) {
    uint64_t w0, wi;
    memcpy(&w0, r + from, 8);
    int64_t i = 1;
    for (; i < n; i++) {
      memcpy(&wi, r + i * rs + from, 8);
      if (wi != w0) break;
    }
    if (i < n) break;
    from += 8;
  }
  size_t cl = (size_t)(klen - from);
  for (int64_t i = 1; i < n; i++) {
    uint8_t *x = r + i * rs;
    if (cmp_key(x - rs + from, x + from, cl) <= 0) continue;
    copy_rec(tmp, x, words);
    int64_t j = i;
    while (j > 0 && cmp_key(r + (j - 1) * rs + from, tmp + from, cl) > 0) {
      copy_rec(r + j * rs, r + (j - 1) * rs, words);
      j--;
    }
    copy_rec(r + j * rs, tmp, words);
  }
}

/* Sorts the n records in a by bytes [byte, klen); the result lands in b
 * when to_b, else in a. Buckets ping-pong between the two buffers so that
 * no pass copies back. */
static void msd(uint8_t *a, uint8_t *b, int64_t n, int64_t rs, int64_t byte,
                int64_t klen, uint8_t *tmp, bool to_b) {
  int64_t words = rs / 8;
  while (n > 48 && byte < klen) {
    int64_t cnt[256];
    memset(cnt, 0, sizeof cnt);
    for (int64_t i = 0; i < n; i++)
      cnt[a[i * rs + byte]]++;
    int nonempty = 0;
    for (int v = 0; v < 256; v++)
      nonempty += cnt[v] != 0;
    if (nonempty == 1) {
      byte++; /* all records share this byte */
      continue;
    }
    int64_t pos[256], p = 0;
    for (int v = 0; v < 256; v++) {
      pos[v] = p;
      p += cnt[v];
    }
    for (int64_t i = 0; i < n; i++) {
      const uint8_t *x = a + i * rs;
      copy_rec(b + (pos[x[byte]]++) * rs, x, words);
    }
    int64_t start = 0;
    for (int v = 0; v < 256; v++) {
      if (cnt[v])
        msd(b + start * rs, a + start * rs, cnt[v], rs, byte + 1, klen, tmp,
            !to_b);
      start += cnt[v];
    }
    return;
  }
  if (n > 1 && byte < klen) insertion(a, n, rs, byte, klen, tmp);
  if (to_b) memcpy(b, a, (size_t)(n * rs));
}

static int sort_st(oa_query_cache *c, uint8_t *recs, int64_t n,
                   int64_t rec_size, int64_t key_size) {
  if (n < 2) return 0;
  uint8_t *aux = oa_qbig_get(c, (size_t)(n * rec_size));
  uint8_t *tmp = malloc((size_t)rec_size);
  if (!aux || !tmp) {
    oa_qbig_put(c, aux, n * rec_size);
    free(tmp);
    return ENOMEM;
  }
  msd(recs, aux, n, rec_size, 0, key_size, tmp, false);
  oa_qbig_put(c, aux, n * rec_size);
  free(tmp);
  return 0;
}

int oa_qsort_records(uint8_t *recs, int64_t n, int64_t rec_size,
                     int64_t key_size) {
  return sort_st(NULL, recs, n, rec_size, key_size);
}

static void sift_down(uint8_t *h, int64_t n, int64_t i, int64_t rs,
                      int64_t klen, uint8_t *tmp) {
  /* max-heap on the key */
  for (;;) {
    int64_t l = 2 * i + 1, m = i;
    if (l < n && memcmp(h + l * rs, h + m * rs, (size_t)klen) > 0) m = l;
    if (l + 1 < n && memcmp(h + (l + 1) * rs, h + m * rs, (size_t)klen) > 0)
      m = l + 1;
    if (m == i) return;
    copy_rec(tmp, h + i * rs, rs / 8);
    copy_rec(h + i * rs, h + m * rs, rs / 8);
    copy_rec(h + m * rs, tmp, rs / 8);
    i = m;
  }
}

typedef struct mt_part {
  uint8_t *a, *b;
  const int64_t *cnt;
  int v0, v1; /* buckets [v0, v1) */
  int64_t start, rs, byte, klen;
  int rc;
} mt_part;

static void *mt_worker(void *arg) {
  mt_part *p = arg;
  uint8_t *tmp = malloc((size_t)p->rs);
  if (!tmp) {
    p->rc = ENOMEM;
    return NULL;
  }
  int64_t start = p->start;
  for (int v = p->v0; v < p->v1; v++) {
    if (p->cnt[v])
      msd(p->b + start * p->rs, p->a + start * p->rs, p->cnt[v], p->rs,
          p->byte + 1, p->klen, tmp, true);
    start += p->cnt[v];
  }
  free(tmp);
  return NULL;
}

int oa_qsort_records_mt(uint8_t *recs, int64_t n, int64_t rs, int64_t klen,
                        int threads) {
  return oa_qsort_records_cached(NULL, recs, n, rs, klen, threads);
}

int oa_qsort_records_cached(oa_query_cache *c, uint8_t *recs, int64_t n,
                            int64_t rs, int64_t klen, int threads) {
  if (threads <= 1 || n < 262144) return sort_st(c, recs, n, rs, klen);
  if (threads > 16) threads = 16;
  uint8_t *aux = oa_qbig_get(c, (size_t)(n * rs));
  if (!aux) return ENOMEM;
  /* one radix pass here, then the buckets split over the threads */
  int64_t byte = 0, cnt[256];
  for (;;) {
    memset(cnt, 0, sizeof cnt);
    for (int64_t i = 0; i < n; i++)
      cnt[recs[i * rs + byte]]++;
    int nonempty = 0;
    for (int v = 0; v < 256; v++)
      nonempty += cnt[v] != 0;
    if (nonempty > 1 || byte + 1 >= klen) break;
    byte++;
  }
  int64_t pos[256], p = 0;
  for (int v = 0; v < 256; v++) {
    pos[v] = p;
    p += cnt[v];
  }
  for (int64_t i = 0; i < n; i++) {
    const uint8_t *x = recs + i * rs;
    copy_rec(aux + (pos[x[byte]]++) * rs, x, rs / 8);
  }
  mt_part parts[16];
  memset(parts, 0, sizeof parts);
  pthread_t tids[16];
  int64_t per = n / threads + 1, acc = 0, start = 0;
  int v = 0, np = 0;
  for (int t = 0; t < threads && v < 256; t++) {
    mt_part *q = &parts[np++];
    q->a = recs;
    q->b = aux;
    q->cnt = cnt;
    q->v0 = v;
    q->start = start;
    q->rs = rs;
    q->byte = byte;
    q->klen = klen;
    q->rc = 0;
    int64_t target = t == threads - 1 ? n : (int64_t)(t + 1) * per;
    while (v < 256 && (acc < target || t == threads - 1)) {
      acc += cnt[v];
      start += cnt[v];
      v++;
    }
    q->v1 = v;
  }
  int started = 0;
  for (int t = 1; t < np; t++) {
    if (pthread_create(&tids[t], NULL, mt_worker, &parts[t])) break;
    started = t;
  }
  /* the parts no thread took run here */
  mt_worker(&parts[0]);
  for (int t = started + 1; t < np; t++)
    mt_worker(&parts[t]);
  for (int t = 1; t <= started; t++)
    pthread_join(tids[t], NULL);
  oa_qbig_put(c, aux, n * rs);
  for (int t = 0; t < np; t++)
    if (parts[t].rc) return parts[t].rc;
  return 0;
}

int oa_qtopk_records(uint8_t *recs, int64_t n, int64_t rs, int64_t klen,
                     int64_t k) {
  if (k <= 0) return 0;
  if (k >= n) return oa_qsort_records(recs, n, rs, klen);
  uint8_t *tmp = malloc((size_t)rs);
  if (!tmp) return ENOMEM;
  /* the first k records form a max-heap of the best k seen so far */
  for (int64_t i = k / 2 - 1; i >= 0; i--)
    sift_down(recs, k, i, rs, klen, tmp);
  for (int64_t i = k; i < n; i++) {
    uint8_t *x = recs + i * rs;
    if (memcmp(x, recs, (size_t)klen) >= 0) continue;
    copy_rec(recs, x, rs / 8);
    sift_down(recs, k, 0, rs, klen, tmp);
  }
  free(tmp);
  return oa_qsort_records(recs, k, rs, klen);
}
