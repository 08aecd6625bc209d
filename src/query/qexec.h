/* Private to the query engine: result accumulators, the byte-key hash
 * table and the sort kernels used by exec.c. */
#ifndef OA_QUERY_QEXEC_H
#define OA_QUERY_QEXEC_H

#include "query/query_internal.h"

/* A growable column of engine values (malloc'ed, not arena). */
typedef struct oa_qacc {
  oa_qtype type;
  int32_t fsb_width;
  int64_t n, cap;
  bool any_null;
  oa_qmem *mem;     /* charged as it grows; NULL: not */
  const char *what; /* named when the budget runs out */
  uint8_t *null;
  int64_t *i;
  double *d;
  uint8_t *b;
  oa_qstr *s;
} oa_qacc;

void oa_qacc_init(oa_qacc *a, oa_qtype t, int32_t fsb_width);
void oa_qacc_reset(oa_qacc *a);
int oa_qacc_reserve(oa_qacc *a, int64_t extra);
int oa_qacc_append(oa_qacc *a, const oa_qvec *v, int64_t k, oa_qarena *keep);
void oa_qacc_view(const oa_qacc *a, oa_qvec *v);

/* Open-addressing hash table of byte keys, ids assigned 0, 1, 2, ... */
typedef struct oa_qhash {
  uint32_t *slots; /* id + 1; 0 empty */
  int64_t mask;
  uint64_t *hashes;
  int64_t *off;
  uint32_t *len;
  int64_t n, cap;
  uint8_t *keys;
  int64_t keys_size, keys_cap;
  oa_qmem *mem; /* charged as it grows; NULL: not */
  const char *what;
} oa_qhash;

void oa_qhash_init(oa_qhash *h);
void oa_qhash_reset(oa_qhash *h);
uint64_t oa_qhash_bytes(const uint8_t *p, int64_t n);
int oa_qhash_find_or_add(oa_qhash *h, const uint8_t *key, uint32_t len,
                         uint64_t hash, uint32_t *id, bool *is_new);

/* Three-way compare of a[k] and b[j] (same type, both non-null). */
int oa_qcmp_rows(const oa_qvec *a, int64_t k, const oa_qvec *b, int64_t j);

/* Calls fn(ctx, i) for i in [0, n_items) on up to `threads` threads (the
 * caller's included). Returns the first failure status. */
int oa_qparallel_for(int threads, int64_t n_items,
                     int (*fn)(void *ctx, int64_t item), void *ctx);

/* oa_qsort_records on up to `threads` threads (large inputs only). */
int oa_qsort_records_mt(uint8_t *recs, int64_t n, int64_t rs, int64_t klen,
                        int threads);
/* The same, with its second buffer from the query's cache (NULL: none). */
int oa_qsort_records_cached(oa_query_cache *c, uint8_t *recs, int64_t n,
                            int64_t rs, int64_t klen, int threads);

/* Moves the k smallest records (memcmp of key_size bytes) to the front, in
 * order. */
int oa_qtopk_records(uint8_t *recs, int64_t n, int64_t rec_size,
                     int64_t key_size, int64_t k);

/* ORDER BY over plain columns of the table with late materialization.
 * Sets *handled and fills out when the plan has the shape the path takes
 * (see latesort.c); otherwise leaves both alone for the general path. */
int oa_qlate_sort(const oa_qplan *p, const oa_query_table *t, int threads,
                  int64_t max_rows, oa_qmem *mem, oa_query_result *out,
                  bool *handled, oa_error *err);

#endif
