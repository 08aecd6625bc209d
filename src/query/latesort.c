/* ORDER BY over plain columns with late materialization: the normalized
 * keys are built straight from the table's Arrow arrays (no engine
 * vectors), the (key, row) records are radix sorted, and each output
 * column is gathered once from the source arrays by row reference.
 *
 * Only the common shape takes this path: no aggregation, no WHERE, every
 * output and ORDER BY key a bare column of a fixed-width type (or a
 * string/binary output, plain or dictionary-encoded) without nulls. The
 * key layout and the tie-break on the input row are those of the general
 * path, so both give the same rows in the same order; anything else
 * returns "not handled" and the general path runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/qexec.h"

#define LS_BLOCK 65536

typedef struct ls_key {
  int64_t col;
  oa_type_id id;
  int64_t width; /* normalized bytes */
  bool desc;
  int64_t off; /* in the record */
} ls_key;

typedef struct ls_ctx {
  const oa_qplan *p;
  const oa_query_table *t;
  const int64_t *starts; /* first global row of each batch */
  ls_key keys[64];
  int32_t n_keys;
  int64_t klen; /* key bytes + 4-byte global row */
  int64_t rs;
  uint8_t *recs;
  int64_t n;
  /* gather */
  const uint8_t *sel; /* the chosen records, in output order */
  int64_t count, per_batch;
  oa_schema *s;
  int32_t n_out;
  oa_array *arrs;
} ls_ctx;

static bool has_nulls(const oa_array *a) {
  return a->null_count != 0 && a->n_buffers > 0 && a->buffers[0].data;
}

/* Fixed value width of a plain field the fast path reads, 0 if none. */
static int64_t fixed_width(const oa_field *f) {
  if (f->dict.encoded) return 0;
  switch (f->type.id) {
  case OA_TYPE_INT64:
  case OA_TYPE_DOUBLE:
    return 8;
  case OA_TYPE_TIMESTAMP:
  case OA_TYPE_DURATION:
    /* other units are scaled to ns by the engine: leave them to it */
    return f->type.unit == OA_TIME_UNIT_NANO ? 8 : 0;
  case OA_TYPE_FIXED_SIZE_BINARY:
    return f->type.byte_width > 0 && f->type.byte_width <= 64
               ? f->type.byte_width
               : 0;
  default:
    return 0;
  }
}

static bool plain_column(const oa_qplan *p, const oa_qnode *e) {
  return e->kind == OA_N_COL && e->column >= 0 &&
         e->column < p->schema->n_fields;
}

static inline void put_be64(uint8_t *q, uint64_t x) {
  x = __builtin_bswap64(x);
  memcpy(q, &x, 8);
}

static inline uint32_t get_be32(const uint8_t *q) {
  uint32_t x;
  memcpy(&x, q, 4);
  return __builtin_bswap32(x);
}

/* The records of batch `item`. */
static int ls_build(void *vctx, int64_t item) {
  ls_ctx *c = vctx;
  const oa_batch *b = &c->t->batches[item];
  int64_t lo = c->starts[item], n = b->length, rs = c->rs;
  uint8_t *base = c->recs + lo * rs;
  for (int32_t i = 0; i < c->n_keys; i++) {
    const ls_key *k = &c->keys[i];
    const oa_array *a = &b->columns[k->col];
    const uint8_t *d = a->buffers[1].data;
    uint8_t *r = base + k->off;
    if (k->id == OA_TYPE_FIXED_SIZE_BINARY) {
      int64_t w = k->width;
      const uint8_t *s = d + a->offset * w;
      if (w == 16)
        for (int64_t j = 0; j < n; j++)
          memcpy(r + j * rs, s + j * 16, 16);
      else if (w == 8)
        for (int64_t j = 0; j < n; j++)
          memcpy(r + j * rs, s + j * 8, 8);
      else
        for (int64_t j = 0; j < n; j++)
          memcpy(r + j * rs, s + j * w, (size_t)w);
    } else if (k->id == OA_TYPE_DOUBLE) {
      const double *s = (const double *)(const void *)d + a->offset;
      for (int64_t j = 0; j < n; j++) {
        double x = s[j];
        if (x == 0) x = 0; /* -0 sorts with 0 */
        if (isnan(x)) x = NAN;
        uint64_t u;
        memcpy(&u, &x, 8);
        u = (u & 0x8000000000000000ULL) ? ~u : u ^ 0x8000000000000000ULL;
        put_be64(r + j * rs, u);
      }
    } else {
      const int64_t *s = (const int64_t *)(const void *)d + a->offset;
      for (int64_t j = 0; j < n; j++)
        put_be64(r + j * rs, (uint64_t)s[j] ^ 0x8000000000000000ULL);
    }
    if (k->desc)
      for (int64_t j = 0; j < n; j++)
        for (int64_t x = 0; x < k->width; x++)
          r[j * rs + x] = (uint8_t)~r[j * rs + x];
  }
  /* global row (big-endian: ties keep input order), then the batch */
  uint32_t bi = (uint32_t)item;
  for (int64_t j = 0; j < n; j++) {
    uint32_t g = __builtin_bswap32((uint32_t)(lo + j));
    uint8_t *q = base + j * rs + c->klen - 4;
    memcpy(q, &g, 4);
    memcpy(q + 4, &bi, 4);
  }
  return 0;
}

static int ls_field(const oa_field *src, const char *name, oa_field *f,
                    oa_error *err) {
  /* the types the general path gives these columns */
  oa_type_id id = src->type.id;
  OA_RETURN_NOT_OK(oa_field_init(f, name, id, err));
  f->nullable = true;
  if (id == OA_TYPE_FIXED_SIZE_BINARY)
    f->type.byte_width = src->type.byte_width;
  if (id == OA_TYPE_TIMESTAMP || id == OA_TYPE_DURATION) {
    f->type.unit = OA_TIME_UNIT_NANO;
    if (id == OA_TYPE_TIMESTAMP) {
      int rc = oa_field_set_timezone(f, "UTC", err);
      if (rc) {
        oa_field_reset(f);
        return rc;
      }
    }
  }
  return 0;
}

/* Output column (item % n_out) of output batch (item / n_out). */
static int ls_gather(void *vctx, int64_t item) {
  ls_ctx *c = vctx;
  int64_t bo = item / c->n_out;
  int32_t col = (int32_t)(item % c->n_out);
  int64_t lo = bo * c->per_batch;
  int64_t hi = lo + c->per_batch < c->count ? lo + c->per_batch : c->count;
  int64_t src = c->p->out[col]->column;
  const oa_field *sf = &c->p->schema->fields[src];
  int64_t w = fixed_width(sf), rs = c->rs, ro = c->klen - 4;
  const oa_query_table *t = c->t;
  oa_builder b;
  int rc = oa_builder_init(&b, &c->s->fields[col], 0, NULL);
  if (rc) return rc;
  rc = oa_builder_reserve(&b, hi - lo);
  uintptr_t *vbase = NULL; /* integers: the bases may lie before the data */
  if (!rc && w) {
    /* per batch, where global row 0 would be: one add per value */
    vbase = malloc(sizeof(*vbase) * (size_t)t->n_batches);
    if (!vbase) rc = ENOMEM;
    for (int64_t bi = 0; !rc && bi < t->n_batches; bi++) {
      const oa_array *a = &t->batches[bi].columns[src];
      vbase[bi] = (uintptr_t)a->buffers[1].data +
                  (uintptr_t)((a->offset - c->starts[bi]) * w);
    }
  }
  if (!rc && w) {
    rc = oa_bytes_reserve(&b.values, (hi - lo) * w);
    if (!rc) {
      uint8_t *dst = b.values.data + b.values.size;
      for (int64_t k = lo; k < hi; k++) {
        const uint8_t *q = c->sel + k * rs + ro;
        uint32_t bi;
        memcpy(&bi, q + 4, 4);
        const uint8_t *v =
            (const uint8_t *)(vbase[bi] +
                              (uintptr_t)get_be32(q) * (uintptr_t)w);
        if (w == 8)
          memcpy(dst, v, 8);
        else if (w == 16)
          memcpy(dst, v, 16);
        else
          memcpy(dst, v, (size_t)w);
        dst += w;
      }
      b.values.size += (hi - lo) * w;
      b.length += hi - lo;
    }
  } else if (!rc) {
    oa_field vf = *sf; /* the dictionary's values */
    vf.dict.encoded = false;
    for (int64_t k = lo; k < hi && !rc; k++) {
      const uint8_t *q = c->sel + k * rs + ro;
      uint32_t bi;
      memcpy(&bi, q + 4, 4);
      int64_t row = (int64_t)get_be32(q) - c->starts[bi];
      const oa_array *a = &t->batches[bi].columns[src];
      int64_t i = a->offset + row;
      if (sf->dict.encoded) {
        /* as the general path reads it: a bad index or a null entry is
         * a null */
        int64_t di = oa_array_get_dict_index(sf, a, row);
        a = a->dictionary;
        if (di < 0 || di >= a->length || oa_array_is_null(&vf, a, di)) {
          rc = oa_builder_append_null(&b);
          continue;
        }
        i = a->offset + di;
      }
      const int32_t *offs = (const int32_t *)(const void *)a->buffers[1].data;
      rc = oa_builder_append_bytes(&b, a->buffers[2].data + offs[i],
                                   offs[i + 1] - offs[i]);
    }
  }
  free(vbase);
  if (!rc) rc = oa_builder_finish(&b, &c->arrs[item], NULL);
  oa_builder_reset(&b);
  return rc;
}

/* Whether every batch of the table can be read by this path. */
static bool ls_applicable(const oa_qplan *p, const oa_query_table *t,
                          int64_t *total) {
  if (p->aggregate || p->where || p->tid_col >= 0 || p->n_order == 0 ||
      p->n_order > 64 || p->n_out == 0 || !p->schema || p->st->distinct)
    return false;
  for (int32_t i = 0; i < p->n_order; i++) {
    if (!plain_column(p, p->order[i].expr)) return false;
    if (!fixed_width(&p->schema->fields[p->order[i].expr->column]))
      return false;
  }
  for (int32_t c = 0; c < p->n_out; c++) {
    if (!plain_column(p, p->out[c])) return false;
    const oa_field *f = &p->schema->fields[p->out[c]->column];
    if (!fixed_width(f) && f->type.id != OA_TYPE_STRING &&
        f->type.id != OA_TYPE_BINARY)
      return false;
  }
  int64_t n = 0;
  for (int64_t bi = 0; bi < t->n_batches; bi++) {
    const oa_batch *b = &t->batches[bi];
    if (b->n_columns != p->schema->n_fields) return false;
    for (int32_t i = 0; i < p->n_order; i++)
      if (has_nulls(&b->columns[p->order[i].expr->column])) return false;
    for (int32_t c = 0; c < p->n_out; c++) {
      const oa_array *a = &b->columns[p->out[c]->column];
      if (has_nulls(a)) return false;
      if (p->schema->fields[p->out[c]->column].dict.encoded &&
          (!a->dictionary || a->dictionary->n_buffers < 3))
        return false;
    }
    n += b->length;
  }
  /* rows are referenced by 32-bit numbers; tiny tables gain nothing */
  if (n < 2 || n > INT32_MAX || t->n_batches > UINT32_MAX) return false;
  *total = n;
  return true;
}

int oa_qlate_sort(const oa_qplan *p, const oa_query_table *t, int threads,
                  int64_t max_rows, oa_qmem *mem, oa_query_result *out,
                  bool *handled, oa_error *err) {
  *handled = false;
  int64_t n;
  if (!ls_applicable(p, t, &n)) return 0;
  *handled = true;
  ls_ctx c;
  memset(&c, 0, sizeof c);
  c.p = p;
  c.t = t;
  c.n = n;
  c.n_keys = p->n_order;
  int64_t off = 0;
  for (int32_t i = 0; i < p->n_order; i++) {
    ls_key *k = &c.keys[i];
    const oa_field *f = &p->schema->fields[p->order[i].expr->column];
    k->col = p->order[i].expr->column;
    k->id = f->type.id;
    k->width = fixed_width(f);
    k->desc = p->order[i].desc;
    k->off = off;
    off += k->width;
  }
  c.klen = off + 4;
  c.rs = (c.klen + 4 + 7) & ~(int64_t)7;
  oa_array *arrs = NULL;
  oa_schema *s = NULL;
  int64_t nb = 0;
  int64_t *starts = NULL;
  out->stats.rows_scanned += n;
  out->stats.batches_scanned += t->n_batches;
  /* the records and the radix sort's second buffer of the same size */
  int rc = oa_qmem_charge(mem, 2 * n * c.rs, "ORDER BY");
  if (rc) {
    rc = oa_error_set(err, E2BIG, "ORDER BY: over the memory limit");
    goto done;
  }
  starts = malloc(sizeof(int64_t) * (size_t)(t->n_batches + 1));
  c.recs = oa_qbig_get(oa_qmem_cache(mem), (size_t)(n * c.rs));
  if (!starts || !c.recs) {
    rc = oa_error_set(err, ENOMEM, "out of memory (sort keys)");
    goto done;
  }
  starts[0] = 0;
  for (int64_t bi = 0; bi < t->n_batches; bi++)
    starts[bi + 1] = starts[bi] + t->batches[bi].length;
  c.starts = starts;
  oa_qparallel_for(n >= 4 * LS_BLOCK ? threads : 1, t->n_batches, ls_build, &c);
  int64_t off_rows = p->st->offset, lim = p->st->limit;
  int64_t need = lim >= 0 ? off_rows + lim : n;
  if (need > n || need < 0) need = n;
  if (need < n && need * 16 < n)
    rc = oa_qtopk_records(c.recs, n, c.rs, c.klen, need);
  else
    rc = oa_qsort_records_cached(oa_qmem_cache(mem), c.recs, n, c.rs, c.klen,
                                 threads);
  if (rc) {
    rc = oa_error_set(err, rc, "out of memory (sort)");
    goto done;
  }
  int64_t first = off_rows < need ? off_rows : need;
  int64_t count = need - first;
  if (max_rows <= 0) max_rows = 100000000;
  if (count > max_rows) {
    rc = oa_error_set(err, E2BIG,
                      "the result has %lld rows, more than the limit of %lld",
                      (long long)count, (long long)max_rows);
    goto done;
  }
  /* what the result's buffers will take (strings: the columns' average) */
  int64_t bytes = 0;
  for (int32_t col = 0; col < p->n_out; col++) {
    const oa_field *f = &p->schema->fields[p->out[col]->column];
    int64_t w = fixed_width(f);
    bytes += count / 8 + 1;
    if (w) {
      bytes += w * count;
      continue;
    }
    int64_t data = 0;
    for (int64_t bi = 0; bi < t->n_batches; bi++) {
      const oa_array *a = &t->batches[bi].columns[p->out[col]->column];
      if (f->dict.encoded) a = a->dictionary;
      if (a->length <= 0) continue;
      const int32_t *offs = (const int32_t *)(const void *)a->buffers[1].data;
      int64_t d = offs[a->offset + a->length] - offs[a->offset];
      /* a dictionary's values are shared by the batch's rows */
      if (f->dict.encoded) d = d / a->length * t->batches[bi].length;
      data += d;
    }
    bytes += 4 * (count + 1) + (n ? data / n * count : 0);
  }
  if (oa_qmem_charge(mem, bytes, "the result")) {
    rc = oa_error_set(err, E2BIG, "the result is over the memory limit");
    goto done;
  }
  OA_GOTO_NOT_OK(rc, oa_schema_new(&s, err), done);
  for (int32_t col = 0; col < p->n_out; col++) {
    oa_field f;
    OA_GOTO_NOT_OK(rc,
                   ls_field(&p->schema->fields[p->out[col]->column],
                            p->out_names[col], &f, err),
                   done);
    rc = oa_schema_add_field(s, &f, err);
    if (rc) {
      oa_field_reset(&f);
      goto done;
    }
  }
  const int64_t per_batch = 1 << 20; /* as the general path */
  nb = count ? (count + per_batch - 1) / per_batch : 1;
  out->batches = calloc((size_t)nb, sizeof(oa_batch));
  arrs = calloc((size_t)(nb * p->n_out), sizeof(oa_array));
  if (!out->batches || !arrs) {
    rc = oa_error_set(err, ENOMEM, "out of memory");
    goto done;
  }
  out->schema = s;
  oa_schema_retain(s);
  c.sel = c.recs + first * c.rs;
  c.count = count;
  c.per_batch = per_batch;
  c.s = s;
  c.n_out = p->n_out;
  c.arrs = arrs;
  rc = oa_qparallel_for(count >= 65536 ? threads : 1, nb * p->n_out, ls_gather,
                        &c);
  if (rc) {
    oa_error_set(err, rc, "building the result columns failed");
    goto done;
  }
  for (int64_t bi = 0; bi < nb && !rc; bi++) {
    int64_t lo = bi * per_batch;
    int64_t hi = lo + per_batch < count ? lo + per_batch : count;
    oa_batch_init(&out->batches[bi]);
    rc = oa_batch_set(&out->batches[bi], s, hi - lo, arrs + bi * p->n_out, err);
    out->n_batches = bi + 1;
  }
  out->n_rows = count;
done:
  if (arrs) {
    for (int64_t i = 0; i < nb * p->n_out; i++)
      oa_array_reset(&arrs[i]);
    free(arrs);
  }
  if (s) oa_schema_release(s);
  free(starts);
  oa_qbig_put(oa_qmem_cache(mem), c.recs, n * c.rs);
  return rc;
}
