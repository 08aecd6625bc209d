/* Full validation of arrays against their fields (Arrow Columnar.rst). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arrow/internal.h"

typedef struct vctx {
  char path[512];
  bool utf8;
  oa_error *err;
} vctx;

#define VFAIL(c, ...) vfail_((c), __VA_ARGS__)

static int vfail_(vctx *c, const char *fmt, ...) OA_PRINTF(2, 3);

static int vfail_(vctx *c, const char *fmt, ...) {
  if (c->err) {
    char msg[OA_ERROR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    oa_error_set(c->err, EINVAL, "field '%s': %s", c->path, msg);
  }
  return EINVAL;
}

static size_t path_push(vctx *c, const char *name) {
  size_t len = strlen(c->path);
  snprintf(c->path + len, sizeof c->path - len, "%s%s", len ? "." : "",
           name ? name : "");
  return len;
}

static int validate(vctx *c, const oa_field *f, const oa_array *a);

static int check_buffer(vctx *c, const oa_array *a, int k, const char *what,
                        int64_t need) {
  if (need <= 0) return 0;
  const oa_buffer *b = &a->buffers[k];
  if (!b->data || b->size < need)
    return VFAIL(c,
                 "%s buffer has %lld bytes, needs %lld for offset %lld + "
                 "length %lld",
                 what, (long long)(b->data ? b->size : 0), (long long)need,
                 (long long)a->offset, (long long)a->length);
  return 0;
}

/* Offsets of a variable-size layout: monotonic, first >= 0, last <= limit.
 * Returns the first and last offsets. */
static int check_offsets(vctx *c, const oa_array *a, bool large, int64_t limit,
                         const char *limit_what, int64_t *first,
                         int64_t *last) {
  *first = *last = 0;
  int w = large ? 8 : 4;
  if (a->length == 0 && (a->buffers[1].size == 0 || !a->buffers[1].data))
    return 0; /* empty offsets buffer is fine for an empty array */
  OA_RETURN_NOT_OK(
      check_buffer(c, a, 1, "offsets", (a->offset + a->length + 1) * w));
  int64_t prev = oa_offset_at_(a, large, a->offset);
  if (prev < 0)
    return VFAIL(c, "offset %lld (%lld) is negative", (long long)a->offset,
                 (long long)prev);
  *first = prev;
  for (int64_t i = 1; i <= a->length; i++) {
    int64_t j = a->offset + i;
    int64_t o = oa_offset_at_(a, large, j);
    if (o < prev)
      return VFAIL(c,
                   "offset %lld (%lld) is less than the previous (%lld) "
                   "at row %lld",
                   (long long)j, (long long)o, (long long)prev,
                   (long long)(i - 1));
    prev = o;
  }
  if (prev > limit)
    return VFAIL(c, "offset %lld (%lld) exceeds %s %lld",
                 (long long)(a->offset + a->length), (long long)prev,
                 limit_what, (long long)limit);
  *last = prev;
  return 0;
}

static bool valid_at(const oa_array *a, int64_t i) {
  return !a->buffers[0].data || oa_bit_get(a->buffers[0].data, a->offset + i);
}

static int child(vctx *c, const oa_field *f, const oa_array *a) {
  size_t len = path_push(c, f->name);
  int rc = validate(c, f, a);
  c->path[len] = 0;
  return rc;
}

static int validate_union(vctx *c, const oa_field *f, const oa_array *a) {
  OA_RETURN_NOT_OK(check_buffer(c, a, 0, "type ids", a->offset + a->length));
  bool dense = f->type.id == OA_TYPE_DENSE_UNION;
  if (dense)
    OA_RETURN_NOT_OK(
        check_buffer(c, a, 1, "union offsets", (a->offset + a->length) * 4));
  if (f->n_children > OA_MAX_UNION_CHILDREN)
    return VFAIL(c, "%lld union children exceed %d", (long long)f->n_children,
                 OA_MAX_UNION_CHILDREN);
  int8_t map[256];
  memset(map, -1, sizeof map);
  for (int64_t k = 0; k < f->n_children; k++) {
    int8_t code = f->type.type_codes[k];
    if (code < 0) return VFAIL(c, "negative union type code %d", (int)code);
    map[(uint8_t)code] = (int8_t)k;
  }
  if (!dense)
    for (int64_t k = 0; k < f->n_children; k++)
      if (a->children[k].length < a->offset + a->length)
        return VFAIL(c, "sparse union child '%s' has length %lld, needs %lld",
                     f->children[k].name, (long long)a->children[k].length,
                     (long long)(a->offset + a->length));
  for (int64_t i = 0; i < a->length; i++) {
    int8_t code = (int8_t)a->buffers[0].data[a->offset + i];
    int k = code < 0 ? -1 : map[(uint8_t)code];
    if (k < 0)
      return VFAIL(c, "row %lld: type code %d is not a code of this union",
                   (long long)i, (int)code);
    if (dense) {
      int32_t off;
      memcpy(&off, a->buffers[1].data + (a->offset + i) * 4, 4);
      if (off < 0 || off >= a->children[k].length)
        return VFAIL(c,
                     "row %lld: union offset %d out of bounds of child "
                     "'%s' (length %lld)",
                     (long long)i, (int)off, f->children[k].name,
                     (long long)a->children[k].length);
    }
  }
  return 0;
}

static int validate_dictionary(vctx *c, const oa_field *f, const oa_array *a) {
  if (!a->dictionary)
    return VFAIL(c, "dictionary-encoded array has no dictionary");
  oa_field vf = oa_value_field_(f);
  size_t len = strlen(c->path);
  snprintf(c->path + len, sizeof c->path - len, "<dictionary>");
  int rc = validate(c, &vf, a->dictionary);
  c->path[len] = 0;
  if (rc) return rc;
  int64_t n = a->dictionary->length;
  for (int64_t i = 0; i < a->length; i++) {
    if (!valid_at(a, i)) continue;
    int64_t k = oa_array_get_dict_index(f, a, i);
    if (k < 0 || k >= n ||
        (f->dict.index_type == OA_TYPE_UINT64 &&
         oa_array_get_uint(f, a, i) > (uint64_t)INT64_MAX))
      return VFAIL(c,
                   "row %lld: dictionary index %lld out of bounds of "
                   "dictionary length %lld",
                   (long long)i, (long long)k, (long long)n);
  }
  return 0;
}

static int validate_utf8(vctx *c, const oa_array *a, bool large) {
  for (int64_t i = 0; i < a->length; i++) {
    if (!valid_at(a, i)) continue;
    int64_t s = oa_offset_at_(a, large, a->offset + i);
    int64_t e = oa_offset_at_(a, large, a->offset + i + 1);
    int64_t bad;
    if (e > s && !oa_utf8_validate(a->buffers[2].data + s, e - s, &bad))
      return VFAIL(c, "row %lld: invalid UTF-8 at byte %lld of the value",
                   (long long)i, (long long)bad);
  }
  return 0;
}

static int validate(vctx *c, const oa_field *f, const oa_array *a) {
  oa_type_id id = f->type.id, pid = oa_physical_id_(f);
  if (a->length < 0 || a->offset < 0 || a->offset > INT64_MAX - a->length - 1)
    return VFAIL(c, "bad length %lld / offset %lld", (long long)a->length,
                 (long long)a->offset);
  if (f->dict.encoded && !oa_int_width_(f->dict.index_type))
    return VFAIL(c, "dictionary index type %s is not an integer",
                 oa_type_name(f->dict.index_type));
  int want = f->dict.encoded ? 2 : oa_layout_n_buffers(id);
  if (a->n_buffers != want)
    return VFAIL(c, "%s array has %d buffers, expected %d",
                 f->dict.encoded ? "dictionary" : oa_type_name(id),
                 (int)a->n_buffers, want);
  int64_t want_children =
      (!f->dict.encoded && id >= OA_TYPE_LIST) ? f->n_children : 0;
  if (a->n_children != want_children)
    return VFAIL(c, "array has %lld children, expected %lld",
                 (long long)a->n_children, (long long)want_children);
  if (!f->dict.encoded) {
    int64_t need = (id == OA_TYPE_LIST || id == OA_TYPE_LARGE_LIST ||
                    id == OA_TYPE_FIXED_SIZE_LIST || id == OA_TYPE_MAP)
                       ? 1
                       : -1;
    if (need >= 0 && f->n_children != need)
      return VFAIL(c, "%s field has %lld children, expected 1",
                   oa_type_name(id), (long long)f->n_children);
  }
  int64_t end = a->offset + a->length;
  /* keeps every size computation below (end * width) free of overflow */
  if (end > INT64_MAX / 64)
    return VFAIL(c, "offset %lld + length %lld is too large",
                 (long long)a->offset, (long long)a->length);

  /* validity and null_count */
  if (oa_has_validity_(pid)) {
    if (a->buffers[0].data)
      OA_RETURN_NOT_OK(check_buffer(c, a, 0, "validity", (end + 7) / 8));
    if (a->null_count >= 0) {
      int64_t nulls =
          a->buffers[0].data
              ? a->length - oa_bitmap_count_set(a->buffers[0].data, a->offset,
                                                a->length)
              : 0;
      if (nulls != a->null_count)
        return VFAIL(c,
                     "null_count %lld but the validity bitmap has %lld "
                     "nulls",
                     (long long)a->null_count, (long long)nulls);
    }
  } else if (pid == OA_TYPE_NA) {
    if (a->null_count >= 0 && a->null_count != a->length)
      return VFAIL(c, "null array has null_count %lld, expected %lld",
                   (long long)a->null_count, (long long)a->length);
  } else if (a->null_count > 0) {
    return VFAIL(c, "union array has null_count %lld, expected 0",
                 (long long)a->null_count);
  }

  if (f->dict.encoded) {
    OA_RETURN_NOT_OK(check_buffer(c, a, 1, "indices",
                                  end * oa_int_width_(f->dict.index_type)));
    return validate_dictionary(c, f, a);
  }

  int64_t first, last;
  switch (id) {
  case OA_TYPE_NA:
    return 0;
  case OA_TYPE_BOOL:
    return check_buffer(c, a, 1, "values", (end + 7) / 8);
  case OA_TYPE_STRING:
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_LARGE_BINARY: {
    bool large = id == OA_TYPE_LARGE_STRING || id == OA_TYPE_LARGE_BINARY;
    int64_t dlen = a->buffers[2].data ? a->buffers[2].size : 0;
    OA_RETURN_NOT_OK(
        check_offsets(c, a, large, dlen, "data length", &first, &last));
    if (c->utf8 && (id == OA_TYPE_STRING || id == OA_TYPE_LARGE_STRING) &&
        a->length > 0)
      return validate_utf8(c, a, large);
    return 0;
  }
  case OA_TYPE_FIXED_SIZE_BINARY:
    if (f->type.byte_width < 0)
      return VFAIL(c, "negative byte_width %d", (int)f->type.byte_width);
    if (__builtin_mul_overflow(end, (int64_t)f->type.byte_width, &first))
      return VFAIL(c, "length %lld * byte_width overflows", (long long)end);
    return check_buffer(c, a, 1, "values", first);
  case OA_TYPE_LIST:
  case OA_TYPE_LARGE_LIST:
  case OA_TYPE_MAP: {
    OA_RETURN_NOT_OK(check_offsets(c, a, id == OA_TYPE_LARGE_LIST,
                                   a->children[0].length, "child length",
                                   &first, &last));
    if (id == OA_TYPE_MAP) {
      const oa_field *entries = &f->children[0];
      if (entries->type.id != OA_TYPE_STRUCT || entries->dict.encoded ||
          entries->n_children != 2)
        return VFAIL(c, "map entries must be a struct of 2 fields");
      OA_RETURN_NOT_OK(child(c, entries, &a->children[0]));
      const oa_array *ea = &a->children[0];
      const oa_field *kf = &entries->children[0];
      const oa_array *ka = &ea->children[0];
      for (int64_t k = first; k < last; k++)
        if (oa_array_is_null(kf, ka, ea->offset + k))
          return VFAIL(c, "map entry %lld has a null key", (long long)k);
      return 0;
    }
    return child(c, &f->children[0], &a->children[0]);
  }
  case OA_TYPE_FIXED_SIZE_LIST: {
    if (f->type.list_size < 0)
      return VFAIL(c, "negative list_size %d", (int)f->type.list_size);
    int64_t need;
    if (__builtin_mul_overflow(end, (int64_t)f->type.list_size, &need))
      return VFAIL(c, "length %lld * list_size overflows", (long long)end);
    if (a->children[0].length < need)
      return VFAIL(c,
                   "child length %lld is less than %lld (offset + length) "
                   "* list_size %d",
                   (long long)a->children[0].length, (long long)need,
                   (int)f->type.list_size);
    return child(c, &f->children[0], &a->children[0]);
  }
  case OA_TYPE_STRUCT:
    for (int64_t k = 0; k < f->n_children; k++) {
      if (a->children[k].length < end)
        return VFAIL(c, "struct child '%s' has length %lld, needs %lld",
                     f->children[k].name, (long long)a->children[k].length,
                     (long long)end);
      OA_RETURN_NOT_OK(child(c, &f->children[k], &a->children[k]));
    }
    return 0;
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION:
    OA_RETURN_NOT_OK(validate_union(c, f, a));
    for (int64_t k = 0; k < f->n_children; k++)
      OA_RETURN_NOT_OK(child(c, &f->children[k], &a->children[k]));
    return 0;
  default: {
    int64_t w = oa_datatype_bit_width(&f->type) / 8;
    if (w <= 0) return VFAIL(c, "unsupported type %s", oa_type_name(id));
    return check_buffer(c, a, 1, "values", end * w);
  }
  }
}

int oa_array_validate(const oa_field *f, const oa_array *a, bool check_utf8,
                      oa_error *err) {
  vctx c;
  c.path[0] = 0;
  c.utf8 = check_utf8;
  c.err = err;
  path_push(&c, f->name);
  return validate(&c, f, a);
}

int oa_batch_validate(const oa_batch *b, bool check_utf8, oa_error *err) {
  if (!b->schema) return oa_error_set(err, EINVAL, "batch has no schema");
  if (b->n_columns != b->schema->n_fields)
    return oa_error_set(err, EINVAL, "batch has %lld columns, schema has %lld",
                        (long long)b->n_columns,
                        (long long)b->schema->n_fields);
  for (int64_t i = 0; i < b->n_columns; i++) {
    if (b->columns[i].length != b->length)
      return oa_error_set(err, EINVAL,
                          "field '%s': column length %lld != batch length "
                          "%lld",
                          b->schema->fields[i].name,
                          (long long)b->columns[i].length,
                          (long long)b->length);
    OA_RETURN_NOT_OK(oa_array_validate(&b->schema->fields[i], &b->columns[i],
                                       check_utf8, err));
  }
  return 0;
}
