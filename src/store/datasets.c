/* otlparrow: named in-memory datasets (see otlparrow/dataset.h).
 *
 * Memory accounting: a batch costs the sizes of the distinct regions its
 * buffers reference (each region counted once per batch, at its full size,
 * since the whole region stays alive while any slice of it is held; buffers
 * without a region count their own size). Two batches that share a region
 * both count it, so the figure is an upper bound of what is really held. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "otlparrow/dataset.h"

typedef struct ds_entry {
  char name[256];
  oa_schema *schema;
  oa_batch *batches;
  int64_t *batch_bytes;
  int64_t n, cap;
  int64_t rows, bytes;
} ds_entry;

struct oa_datasets {
  pthread_mutex_t mu;
  ds_entry *items;
  int64_t n, cap;
  int64_t used, limit;
};

int oa_datasets_new(oa_datasets **out, int64_t max_memory, oa_error *err) {
  *out = NULL;
  if (max_memory < 0)
    return oa_error_set(err, EINVAL, "datasets: max_memory %lld < 0",
                        (long long)max_memory);
  oa_datasets *d = calloc(1, sizeof *d);
  if (!d) return oa_error_set(err, ENOMEM, "datasets: out of memory");
  pthread_mutex_init(&d->mu, NULL);
  d->limit = max_memory;
  *out = d;
  return 0;
}

static void entry_reset(ds_entry *e) {
  for (int64_t i = 0; i < e->n; i++)
    oa_batch_reset(&e->batches[i]);
  free(e->batches);
  free(e->batch_bytes);
  if (e->schema) oa_schema_release(e->schema);
  memset(e, 0, sizeof *e);
}

void oa_datasets_free(oa_datasets *d) {
  if (!d) return;
  for (int64_t i = 0; i < d->n; i++)
    entry_reset(&d->items[i]);
  free(d->items);
  pthread_mutex_destroy(&d->mu);
  free(d);
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

static ds_entry *find(oa_datasets *d, const char *name) {
  for (int64_t i = 0; i < d->n; i++)
    if (strcmp(d->items[i].name, name) == 0) return &d->items[i];
  return NULL;
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

/* Adds an empty entry (d->mu held). */
static int add_entry(oa_datasets *d, const char *name, oa_schema *schema,
                     ds_entry **out, oa_error *err) {
  if (d->n == d->cap) {
    int64_t cap = d->cap ? d->cap * 2 : 8;
    ds_entry *items = realloc(d->items, (size_t)cap * sizeof *items);
    if (!items) return oa_error_set(err, ENOMEM, "datasets: out of memory");
    d->items = items;
    d->cap = cap;
  }
  ds_entry *e = &d->items[d->n++];
  memset(e, 0, sizeof *e);
  strcpy(e->name, name);
  oa_schema_retain(schema);
  e->schema = schema;
  *out = e;
  return 0;
}

int oa_datasets_create(oa_datasets *d, const char *name, oa_schema *schema,
                       oa_error *err) {
  OA_RETURN_NOT_OK(check_name(name, err));
  if (!schema) return oa_error_set(err, EINVAL, "datasets: NULL schema");
  int rc = 0;
  pthread_mutex_lock(&d->mu);
  ds_entry *e = find(d, name);
  if (e) {
    if (!schemas_equal(e->schema, schema))
      rc = schema_mismatch(name, e->schema, schema, err);
  } else {
    rc = add_entry(d, name, schema, &e, err);
  }
  pthread_mutex_unlock(&d->mu);
  return rc;
}

int oa_datasets_append(oa_datasets *d, const char *name, const oa_batch *batch,
                       oa_error *err) {
  OA_RETURN_NOT_OK(check_name(name, err));
  if (!batch || !batch->schema)
    return oa_error_set(err, EINVAL, "dataset '%s': batch without a schema",
                        name);
  int64_t bytes = 0;
  OA_RETURN_NOT_OK(batch_bytes(batch, &bytes, err));
  if (d->limit > 0 && bytes > d->limit)
    return oa_error_set(err, E2BIG,
                        "dataset '%s': a batch of %lld bytes exceeds the "
                        "memory limit of %lld bytes",
                        name, (long long)bytes, (long long)d->limit);
  oa_batch copy;
  OA_RETURN_NOT_OK(oa_batch_copy(&copy, batch, err)); /* references only */
  int rc = 0;
  pthread_mutex_lock(&d->mu);
  ds_entry *e = find(d, name);
  if (e && !schemas_equal(e->schema, batch->schema)) {
    rc = schema_mismatch(name, e->schema, batch->schema, err);
    goto done;
  }
  if (d->limit > 0 && d->used + bytes > d->limit) {
    rc = oa_error_set(err, EAGAIN,
                      "dataset '%s': memory limit reached (%lld bytes held + "
                      "%lld > %lld)",
                      name, (long long)d->used, (long long)bytes,
                      (long long)d->limit);
    goto done;
  }
  if (!e) {
    rc = add_entry(d, name, batch->schema, &e, err);
    if (rc) goto done;
    if (!e) { /* unreachable: set whenever add_entry succeeds */
      rc = ENOMEM;
      goto done;
    }
  }
  if (e->n == e->cap) {
    int64_t cap = e->cap ? e->cap * 2 : 16;
    oa_batch *b = realloc(e->batches, (size_t)cap * sizeof *b);
    if (b) e->batches = b;
    int64_t *bb = b ? realloc(e->batch_bytes, (size_t)cap * sizeof *bb) : NULL;
    if (!b || !bb) {
      rc = oa_error_set(err, ENOMEM, "dataset '%s': out of memory", name);
      goto done;
    }
    e->batch_bytes = bb;
    e->cap = cap;
  }
  oa_batch_move(&e->batches[e->n], &copy);
  e->batch_bytes[e->n] = bytes;
  e->n++;
  e->rows += batch->length;
  e->bytes += bytes;
  d->used += bytes;
done:
  pthread_mutex_unlock(&d->mu);
  oa_batch_reset(&copy);
  return rc;
}

int oa_datasets_snapshot(oa_datasets *d, const char *name, oa_schema **schema,
                         oa_batch **batches, int64_t *n, oa_error *err) {
  *schema = NULL;
  *batches = NULL;
  *n = 0;
  OA_RETURN_NOT_OK(check_name(name, err));
  int rc = 0;
  pthread_mutex_lock(&d->mu);
  ds_entry *e = find(d, name);
  if (!e) {
    rc = oa_error_set(err, ENOENT, "dataset '%s' does not exist", name);
    goto done;
  }
  oa_batch *out = calloc((size_t)(e->n ? e->n : 1), sizeof *out);
  if (!out) {
    rc = oa_error_set(err, ENOMEM, "dataset '%s': out of memory", name);
    goto done;
  }
  for (int64_t i = 0; i < e->n; i++) {
    rc = oa_batch_copy(&out[i], &e->batches[i], err);
    if (rc) {
      for (int64_t j = 0; j < i; j++)
        oa_batch_reset(&out[j]);
      free(out);
      goto done;
    }
  }
  oa_schema_retain(e->schema);
  *schema = e->schema;
  *batches = out;
  *n = e->n;
done:
  pthread_mutex_unlock(&d->mu);
  return rc;
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
    rc = oa_error_set(err, ENOMEM, "datasets: out of memory");
  } else {
    for (int64_t i = 0; i < d->n; i++)
      fill_info(&d->items[i], &infos[i]);
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
  int rc = 0;
  ds_entry victim;
  bool found = false;
  pthread_mutex_lock(&d->mu);
  ds_entry *e = find(d, name);
  if (!e) {
    rc = oa_error_set(err, ENOENT, "dataset '%s' does not exist", name);
  } else {
    victim = *e;
    d->used -= e->bytes;
    int64_t at = e - d->items; /* keep the creation order of the list */
    memmove(e, e + 1, (size_t)(d->n - at - 1) * sizeof *e);
    d->n--;
    found = true;
  }
  pthread_mutex_unlock(&d->mu);
  if (found) entry_reset(&victim); /* release buffers outside the lock */
  return rc;
}

int64_t oa_datasets_memory_used(oa_datasets *d) {
  pthread_mutex_lock(&d->mu);
  int64_t u = d->used;
  pthread_mutex_unlock(&d->mu);
  return u;
}

int64_t oa_datasets_memory_limit(const oa_datasets *d) { return d->limit; }
