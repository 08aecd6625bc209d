/* Regions, arrays and record batches: ownership and sharing. */
#include <stdlib.h>
#include <string.h>

#include "otlparrow/arrow.h"

/* ---------------------------------------------------------------- regions */

static void heap_region_release(oa_region *r) {
  oa_aligned_free(r->data);
  free(r);
}

oa_region *oa_region_adopt(void *aligned_data, int64_t size) {
  oa_region *r = malloc(sizeof *r);
  if (!r) return NULL;
  atomic_init(&r->refcount, 1);
  r->data = aligned_data;
  r->size = size;
  r->release = heap_region_release;
  r->private_data = NULL;
  return r;
}

oa_region *oa_region_alloc(int64_t size) {
  void *p = oa_aligned_alloc(size);
  if (!p) return NULL;
  oa_region *r = oa_region_adopt(p, size);
  if (!r) oa_aligned_free(p);
  return r;
}

typedef struct wrap_ctx {
  void (*fn)(void *);
  void *arg;
} wrap_ctx;

static void wrapped_region_release(oa_region *r) {
  wrap_ctx *w = r->private_data;
  if (w->fn) w->fn(w->arg);
  free(w);
  free(r);
}

oa_region *oa_region_wrap(void *data, int64_t size,
                          void (*release_fn)(void *private_data),
                          void *private_data) {
  oa_region *r = malloc(sizeof *r);
  wrap_ctx *w = malloc(sizeof *w);
  if (!r || !w) {
    free(r);
    free(w);
    return NULL;
  }
  w->fn = release_fn;
  w->arg = private_data;
  atomic_init(&r->refcount, 1);
  r->data = data;
  r->size = size;
  r->release = wrapped_region_release;
  r->private_data = w;
  return r;
}

void oa_region_retain(oa_region *r) {
  if (r) atomic_fetch_add_explicit(&r->refcount, 1, memory_order_relaxed);
}

void oa_region_release(oa_region *r) {
  if (!r) return;
  if (atomic_fetch_sub_explicit(&r->refcount, 1, memory_order_acq_rel) == 1)
    r->release(r);
}

/* ----------------------------------------------------------------- arrays */

void oa_array_init(oa_array *a) { memset(a, 0, sizeof *a); }

void oa_array_reset(oa_array *a) {
  if (!a) return;
  for (int i = 0; i < 3; i++)
    oa_region_release(a->buffers[i].region);
  for (int64_t i = 0; i < a->n_children; i++)
    oa_array_reset(&a->children[i]);
  free(a->children);
  if (a->dictionary) {
    oa_array_reset(a->dictionary);
    free(a->dictionary);
  }
  memset(a, 0, sizeof *a);
}

void oa_array_move(oa_array *dst, oa_array *src) {
  *dst = *src;
  memset(src, 0, sizeof *src);
}

int oa_array_copy(oa_array *dst, const oa_array *src, oa_error *err) {
  oa_array_init(dst);
  dst->length = src->length;
  dst->offset = src->offset;
  dst->null_count = src->null_count;
  dst->n_buffers = src->n_buffers;
  for (int i = 0; i < 3; i++) {
    dst->buffers[i] = src->buffers[i];
    oa_region_retain(src->buffers[i].region);
  }
  if (src->n_children > 0) {
    dst->children = calloc((size_t)src->n_children, sizeof *dst->children);
    if (!dst->children) goto oom;
    for (int64_t i = 0; i < src->n_children; i++) {
      int rc = oa_array_copy(&dst->children[i], &src->children[i], err);
      if (rc) {
        dst->n_children = i;
        oa_array_reset(dst);
        return rc;
      }
      dst->n_children = i + 1;
    }
  }
  if (src->dictionary) {
    dst->dictionary = calloc(1, sizeof *dst->dictionary);
    if (!dst->dictionary) goto oom;
    int rc = oa_array_copy(dst->dictionary, src->dictionary, err);
    if (rc) {
      free(dst->dictionary);
      dst->dictionary = NULL;
      oa_array_reset(dst);
      return rc;
    }
  }
  return 0;
oom:
  oa_array_reset(dst);
  return oa_error_set(err, ENOMEM, "array copy: out of memory");
}

int64_t oa_array_buffer_bytes(const oa_array *a) {
  int64_t n = 0;
  for (int i = 0; i < a->n_buffers; i++)
    n += a->buffers[i].size;
  for (int64_t i = 0; i < a->n_children; i++)
    n += oa_array_buffer_bytes(&a->children[i]);
  return n;
}

/* ---------------------------------------------------------- record batch */

typedef struct held_set {
  const void **p;
  size_t n, cap;
} held_set;

/* 1: added, 0: already there, -1: out of memory. Batches reference a few
 * hundred buffers at most, so a linear scan is cheaper than hashing. */
static int held_add(held_set *s, const void *p) {
  for (size_t i = 0; i < s->n; i++)
    if (s->p[i] == p) return 0;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 256;
    const void **np = realloc(s->p, cap * sizeof *np);
    if (!np) return -1;
    s->p = np;
    s->cap = cap;
  }
  s->p[s->n++] = p;
  return 1;
}

static int held_bytes(const oa_array *a, held_set *s, int64_t *total) {
  for (int i = 0; i < a->n_buffers; i++) {
    if (!a->buffers[i].data) continue;
    int r = held_add(s, a->buffers[i].data);
    if (r < 0) return ENOMEM;
    if (r) *total += a->buffers[i].size;
  }
  for (int64_t k = 0; k < a->n_children; k++)
    OA_RETURN_NOT_OK(held_bytes(&a->children[k], s, total));
  if (a->dictionary) {
    int r = held_add(s, a->dictionary);
    if (r < 0) return ENOMEM;
    if (r) OA_RETURN_NOT_OK(held_bytes(a->dictionary, s, total));
  }
  return 0;
}

int oa_batch_held_bytes(const oa_batch *b, int64_t *out, oa_error *err) {
  held_set s = {NULL, 0, 0};
  int64_t total = 0;
  int rc = 0;
  for (int64_t c = 0; c < b->n_columns && !rc; c++)
    rc = held_bytes(&b->columns[c], &s, &total);
  free(s.p);
  if (rc) return oa_error_set(err, rc, "batch size: out of memory");
  *out = total;
  return 0;
}

void oa_batch_init(oa_batch *b) { memset(b, 0, sizeof *b); }

void oa_batch_reset(oa_batch *b) {
  if (!b) return;
  for (int64_t i = 0; i < b->n_columns; i++)
    oa_array_reset(&b->columns[i]);
  free(b->columns);
  oa_schema_release(b->schema);
  memset(b, 0, sizeof *b);
}

void oa_batch_move(oa_batch *dst, oa_batch *src) {
  *dst = *src;
  memset(src, 0, sizeof *src);
}

int oa_batch_set(oa_batch *b, oa_schema *schema, int64_t length,
                 oa_array *columns, oa_error *err) {
  oa_batch_reset(b);
  oa_array *cols = NULL;
  if (schema->n_fields > 0) {
    cols = calloc((size_t)schema->n_fields, sizeof *cols);
    if (!cols) return oa_error_set(err, ENOMEM, "batch: out of memory");
    for (int64_t i = 0; i < schema->n_fields; i++)
      oa_array_move(&cols[i], &columns[i]);
  }
  oa_schema_retain(schema);
  b->schema = schema;
  b->length = length;
  b->n_columns = schema->n_fields;
  b->columns = cols;
  return 0;
}

int oa_batch_copy(oa_batch *dst, const oa_batch *src, oa_error *err) {
  oa_batch_init(dst);
  if (src->n_columns > 0) {
    dst->columns = calloc((size_t)src->n_columns, sizeof *dst->columns);
    if (!dst->columns) return oa_error_set(err, ENOMEM, "batch: out of memory");
  }
  for (int64_t i = 0; i < src->n_columns; i++) {
    int rc = oa_array_copy(&dst->columns[i], &src->columns[i], err);
    if (rc) {
      dst->n_columns = i;
      oa_batch_reset(dst);
      return rc;
    }
    dst->n_columns = i + 1;
  }
  oa_schema_retain(src->schema);
  dst->schema = src->schema;
  dst->length = src->length;
  dst->n_columns = src->n_columns;
  return 0;
}
