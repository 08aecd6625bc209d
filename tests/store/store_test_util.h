/* Helpers the store tests share: scratch directories and batches of one
 * int64 column "k" holding a known sequence, so that a test can tell from
 * the values alone which rows came back and in what order. */
#ifndef OA_STORE_TEST_UTIL_H
#define OA_STORE_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "otlparrow/arrow.h"
#include "otlparrow/dataset.h"

static inline void st_rmrf(const char *dir) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

static inline oa_schema *st_k_schema(void) {
  oa_schema *s;
  oa_schema_new(&s, NULL);
  oa_field f;
  oa_field_init(&f, "k", OA_TYPE_INT64, NULL);
  oa_schema_add_field(s, &f, NULL);
  return s;
}

/* A batch of rows values k, k+1, ... */
static inline void st_k_batch(oa_batch *b, oa_schema *s, int64_t rows,
                              int64_t k) {
  oa_region *r = oa_region_alloc(rows * 8);
  for (int64_t i = 0; i < rows; i++)
    ((int64_t *)r->data)[i] = k + i;
  oa_array c;
  oa_array_init(&c);
  c.length = rows;
  c.null_count = 0;
  c.n_buffers = 2;
  c.buffers[1] = (oa_buffer){r->data, rows * 8, r};
  oa_batch_init(b);
  oa_batch_set(b, s, rows, &c, NULL);
}

/* Appends rows values k, k+1, ... to dataset name. */
static inline int st_append_k(oa_datasets *d, const char *name, int64_t rows,
                              int64_t k, oa_error *err) {
  oa_schema *s = st_k_schema();
  oa_batch b;
  st_k_batch(&b, s, rows, k);
  int rc = oa_datasets_append(d, name, &b, err);
  oa_batch_reset(&b);
  oa_schema_release(s);
  return rc;
}

#endif
