/* A small parallel-for over pthreads: items are handed out through an
 * atomic counter, so uneven items balance themselves. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "query/qexec.h"

typedef struct pfor {
  atomic_llong next;
  int64_t n;
  int (*fn)(void *ctx, int64_t item);
  void *ctx;
  atomic_int rc;
} pfor;

static void *pfor_worker(void *arg) {
  pfor *p = arg;
  for (;;) {
    int64_t i = atomic_fetch_add(&p->next, 1);
    if (i >= p->n || atomic_load(&p->rc)) break;
    int rc = p->fn(p->ctx, i);
    if (rc) {
      int zero = 0;
      atomic_compare_exchange_strong(&p->rc, &zero, rc);
    }
  }
  return NULL;
}

int oa_qparallel_for(int threads, int64_t n_items,
                     int (*fn)(void *ctx, int64_t item), void *ctx) {
  pfor p;
  atomic_init(&p.next, 0);
  atomic_init(&p.rc, 0);
  p.n = n_items;
  p.fn = fn;
  p.ctx = ctx;
  if (threads > n_items) threads = (int)n_items;
  if (threads > 16) threads = 16;
  pthread_t tids[16];
  int started = 0;
  for (int t = 1; t < threads; t++) {
    if (pthread_create(&tids[started], NULL, pfor_worker, &p)) break;
    started++;
  }
  pfor_worker(&p); /* the caller works too (and alone if no thread started) */
  for (int t = 0; t < started; t++)
    pthread_join(tids[t], NULL);
  return atomic_load(&p.rc);
}
