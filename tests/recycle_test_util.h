/* Helpers of the batch recycling tests (the OTLP decoder's and the
 * exporter's builder): which buffers a batch holds, how much memory they
 * take, and whether the next batch got them back. */
#ifndef OA_RECYCLE_TEST_UTIL_H
#define OA_RECYCLE_TEST_UTIL_H

#include <malloc.h>
#include <stdlib.h>

#include "otlparrow/arrow.h"
#include "otlparrow/builder.h"
#include "test.h"

#define MAX_PTRS 4096
typedef struct ptrs {
  const void *p[MAX_PTRS];
  int64_t used[MAX_PTRS]; /* the buffer's bytes */
  int64_t cap[MAX_PTRS];  /* bytes allocated for it */
  int n;
} ptrs;

static inline bool seen(const ptrs *s, const void *p) {
  for (int k = 0; k < s->n; k++)
    if (s->p[k] == p) return true;
  return false;
}

/* How many of b's buffers are in s. */
static inline int n_seen(const ptrs *s, const ptrs *b) {
  int n = 0;
  for (int k = 0; k < b->n; k++)
    n += seen(s, b->p[k]);
  return n;
}

/* Adds the distinct buffer addresses of an array (children, dictionaries)
 * to s; returns the bytes allocated for them (capacity, not size). */
static inline int64_t collect(const oa_array *a, ptrs *s) {
  int64_t total = 0;
  for (int i = 0; i < a->n_buffers; i++) {
    const void *d = a->buffers[i].data;
    if (!d || seen(s, d) || s->n == MAX_PTRS) continue;
    s->used[s->n] = a->buffers[i].size;
    s->cap[s->n] = (int64_t)malloc_usable_size((void *)d);
    total += s->cap[s->n];
    s->p[s->n++] = d;
  }
  for (int64_t k = 0; k < a->n_children; k++)
    total += collect(&a->children[k], s);
  if (a->dictionary) total += collect(a->dictionary, s);
  return total;
}

static inline int64_t batch_ptrs(const oa_batch *b, ptrs *s) {
  s->n = 0;
  int64_t total = 0;
  for (int64_t c = 0; c < b->n_columns; c++)
    total += collect(&b->columns[c], s);
  return total;
}

/* Allocates (soak) and frees (unsoak) blocks of the sizes of s's buffers.
 * Soaked after a recycle, memory the recycle freed instead of keeping goes
 * to these (malloc hands back what was freed last), so the next batch can
 * only show s's addresses again if they were kept for it. */
static inline void soak(const ptrs *s, void **held) {
  for (int k = 0; k < s->n; k++)
    held[k] = malloc((size_t)s->cap[k]);
}

static inline void unsoak(const ptrs *s, void **held) {
  for (int k = 0; k < s->n; k++)
    free(held[k]);
}

/* A batch of another schema than spans: one int64 column 0..n-1. */
static inline void int64_batch(oa_batch *b, int n) {
  oa_error e_, *err = &e_;
  oa_schema *s;
  CHECK_OK(oa_schema_new(&s, err), err);
  oa_field f;
  CHECK_OK(oa_field_init(&f, "x", OA_TYPE_INT64, err), err);
  CHECK_OK(oa_schema_add_field(s, &f, err), err);
  oa_builder ib;
  CHECK_OK(oa_builder_init(&ib, &s->fields[0], 0, err), err);
  for (int i = 0; i < n; i++)
    CHECK_OK(oa_builder_append_int(&ib, i), err);
  oa_array col;
  CHECK_OK(oa_builder_finish(&ib, &col, err), err);
  CHECK_OK(oa_batch_set(b, s, n, &col, err), err);
  oa_schema_release(s);
  oa_builder_reset(&ib);
}

#endif
