/* Logical equality of arrays and batches. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arrow/internal.h"
#include "otlparrow/format.h"

/* The path of a mismatch ("row 3 child 'g'") is built while unwinding, so
 * that comparing equal arrays formats nothing. */
typedef struct ectx {
  oa_error *err;
} ectx;

static void describe(const oa_field *f, const oa_array *a, int64_t i, char *out,
                     size_t cap) {
  oa_bytes b;
  oa_bytes_init(&b);
  if (oa_format_value(f, a, i, OA_FORMAT_TEXT, &b, NULL) == 0 && b.data) {
    int n = (int)(b.size < (int64_t)cap - 1 ? b.size : (int64_t)cap - 1);
    memcpy(out, b.data, (size_t)n);
    out[n] = 0;
  } else {
    snprintf(out, cap, "?");
  }
  oa_bytes_reset(&b);
}

static bool mismatch(ectx *c, const oa_field *f, const oa_array *a, int64_t i,
                     const oa_array *b, int64_t j) {
  if (c->err) {
    char x[128], y[128];
    describe(f, a, i, x, sizeof x);
    describe(f, b, j, y, sizeof y);
    oa_error_set(c->err, EINVAL, ": %s != %s", x, y);
  }
  return false;
}

static bool float_eq(double x, double y, uint64_t bx, uint64_t by) {
  return bx == by || (isnan(x) && isnan(y));
}

static bool elem_eq(ectx *c, const oa_field *f, const oa_array *a, int64_t i,
                    const oa_array *b, int64_t j);

static bool child_eq(ectx *c, const oa_field *f, const oa_array *a, int64_t i,
                     const oa_array *b, int64_t j) {
  bool ok = elem_eq(c, f, a, i, b, j);
  if (!ok && c->err) oa_error_prefix(c->err, EINVAL, " child '%s'", f->name);
  return ok;
}

static bool range_eq(ectx *c, const oa_field *f, const oa_array *a, int64_t i0,
                     const oa_array *b, int64_t j0, int64_t n) {
  for (int64_t k = 0; k < n; k++)
    if (!child_eq(c, f, a, i0 + k, b, j0 + k)) return false;
  return true;
}

static bool elem_eq(ectx *c, const oa_field *f, const oa_array *a, int64_t i,
                    const oa_array *b, int64_t j) {
  bool na = oa_array_is_null(f, a, i), nb = oa_array_is_null(f, b, j);
  if (na != nb) return mismatch(c, f, a, i, b, j);
  if (na) return true;
  if (f->dict.encoded) {
    oa_field vf = oa_value_field_(f);
    int64_t x = oa_array_get_dict_index(f, a, i);
    int64_t y = oa_array_get_dict_index(f, b, j);
    if (!elem_eq(c, &vf, a->dictionary, x, b->dictionary, y)) {
      mismatch(c, f, a, i, b, j);
      return false;
    }
    return true;
  }
  const oa_datatype *t = &f->type;
  int64_t ia = a->offset + i, ib = b->offset + j;
  switch (t->id) {
  case OA_TYPE_NA:
    return true;
  case OA_TYPE_BOOL:
    if (oa_bit_get(a->buffers[1].data, ia) !=
        oa_bit_get(b->buffers[1].data, ib))
      return mismatch(c, f, a, i, b, j);
    return true;
  case OA_TYPE_HALF_FLOAT: {
    uint16_t x = oa_load16_(a->buffers[1].data, ia);
    uint16_t y = oa_load16_(b->buffers[1].data, ib);
    if (!float_eq(oa_half_to_float(x), oa_half_to_float(y), x, y))
      return mismatch(c, f, a, i, b, j);
    return true;
  }
  case OA_TYPE_FLOAT: {
    uint32_t x = oa_load32_(a->buffers[1].data, ia);
    uint32_t y = oa_load32_(b->buffers[1].data, ib);
    if (!float_eq(oa_bits_f32_(x), oa_bits_f32_(y), x, y))
      return mismatch(c, f, a, i, b, j);
    return true;
  }
  case OA_TYPE_DOUBLE: {
    uint64_t x = oa_load64_(a->buffers[1].data, ia);
    uint64_t y = oa_load64_(b->buffers[1].data, ib);
    if (!float_eq(oa_bits_f64_(x), oa_bits_f64_(y), x, y))
      return mismatch(c, f, a, i, b, j);
    return true;
  }
  case OA_TYPE_STRING:
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_LARGE_BINARY: {
    int64_t lx, ly;
    const uint8_t *x = oa_array_get_bytes(f, a, i, &lx);
    const uint8_t *y = oa_array_get_bytes(f, b, j, &ly);
    if (lx != ly || (lx && memcmp(x, y, (size_t)lx) != 0))
      return mismatch(c, f, a, i, b, j);
    return true;
  }
  case OA_TYPE_LIST:
  case OA_TYPE_LARGE_LIST:
  case OA_TYPE_MAP: {
    bool large = t->id == OA_TYPE_LARGE_LIST;
    int64_t sa = oa_offset_at_(a, large, ia),
            ea = oa_offset_at_(a, large, ia + 1);
    int64_t sb = oa_offset_at_(b, large, ib),
            eb = oa_offset_at_(b, large, ib + 1);
    if (ea - sa != eb - sb) return mismatch(c, f, a, i, b, j);
    return range_eq(c, &f->children[0], &a->children[0], sa, &b->children[0],
                    sb, ea - sa);
  }
  case OA_TYPE_FIXED_SIZE_LIST: {
    int64_t n = t->list_size;
    return range_eq(c, &f->children[0], &a->children[0], ia * n,
                    &b->children[0], ib * n, n);
  }
  case OA_TYPE_STRUCT:
    for (int64_t k = 0; k < f->n_children; k++)
      if (!child_eq(c, &f->children[k], &a->children[k], ia, &b->children[k],
                    ib))
        return false;
    return true;
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION: {
    int ka, kb;
    int64_t ra = oa_union_child_row_(f, a, i, &ka);
    int64_t rb = oa_union_child_row_(f, b, j, &kb);
    if (ka != kb || ka < 0) return mismatch(c, f, a, i, b, j);
    return child_eq(c, &f->children[ka], &a->children[ka], ra, &b->children[ka],
                    rb);
  }
  default: {
    int64_t w = oa_datatype_bit_width(t) / 8;
    if (w > 0 && memcmp(a->buffers[1].data + ia * w,
                        b->buffers[1].data + ib * w, (size_t)w) != 0)
      return mismatch(c, f, a, i, b, j);
    return true;
  }
  }
}

bool oa_array_equals(const oa_field *f, const oa_array *a, const oa_array *b,
                     oa_error *err) {
  if (a->length != b->length) {
    oa_error_set(err, EINVAL, "field '%s': length %lld != %lld", f->name,
                 (long long)a->length, (long long)b->length);
    return false;
  }
  ectx c;
  c.err = err;
  for (int64_t i = 0; i < a->length; i++) {
    if (!elem_eq(&c, f, a, i, b, i)) {
      if (err) oa_error_prefix(err, EINVAL, "row %lld", (long long)i);
      return false;
    }
  }
  return true;
}

bool oa_batch_equals(const oa_batch *a, const oa_batch *b, oa_error *err) {
  if (!a->schema || !b->schema) {
    oa_error_set(err, EINVAL, "batch without schema");
    return false;
  }
  if (a->schema != b->schema &&
      !oa_schema_equals(a->schema, b->schema, false, err))
    return false;
  if (a->length != b->length || a->n_columns != b->n_columns) {
    oa_error_set(err, EINVAL, "batch length %lld != %lld", (long long)a->length,
                 (long long)b->length);
    return false;
  }
  for (int64_t k = 0; k < a->n_columns; k++)
    if (!oa_array_equals(&a->schema->fields[k], &a->columns[k], &b->columns[k],
                         err)) {
      oa_error_prefix(err, EINVAL, "column '%s': ", a->schema->fields[k].name);
      return false;
    }
  return true;
}
