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

/* Per-row checks run over blocks of OA_VBLOCK rows in branch-free loops of
 * a constant trip count (vectorizable at -O2); only a block that fails is
 * walked again row by row to skip nulls and name the offending row. */
#define OA_VBLOCK 256

/* Whether any of offsets [base, base + m] decreases. */
static inline bool offsets_unsorted32(const uint8_t *p, int64_t base,
                                      int64_t m) {
  const uint8_t *q = p + base * 4;
  uint32_t acc = 0;
  if (m == OA_VBLOCK) {
    for (int64_t j = 0; j < OA_VBLOCK; j++)
      acc |= (int32_t)oa_load32_(q, j + 1) < (int32_t)oa_load32_(q, j);
  } else {
    for (int64_t j = 0; j < m; j++)
      acc |= (int32_t)oa_load32_(q, j + 1) < (int32_t)oa_load32_(q, j);
  }
  return acc != 0;
}

static inline bool offsets_unsorted64(const uint8_t *p, int64_t base,
                                      int64_t m) {
  const uint8_t *q = p + base * 8;
  uint64_t acc = 0;
  if (m == OA_VBLOCK) {
    for (int64_t j = 0; j < OA_VBLOCK; j++)
      acc |= (int64_t)oa_load64_(q, j + 1) < (int64_t)oa_load64_(q, j);
  } else {
    for (int64_t j = 0; j < m; j++)
      acc |= (int64_t)oa_load64_(q, j + 1) < (int64_t)oa_load64_(q, j);
  }
  return acc != 0;
}

/* Whether any of m unsigned w-byte values at p is >= lim. Signed indices
 * are passed as unsigned: a negative one is >= 2^(8w-1) >= lim. */
#define OA_ANY_GE(NAME, UT, LOAD)                                              \
  static inline bool NAME(const uint8_t *p, int64_t m, UT lim) {               \
    UT acc = 0;                                                                \
    if (m == OA_VBLOCK) {                                                      \
      for (int64_t j = 0; j < OA_VBLOCK; j++)                                  \
        acc |= (UT)(LOAD(p, j) >= lim);                                        \
    } else {                                                                   \
      for (int64_t j = 0; j < m; j++)                                          \
        acc |= (UT)(LOAD(p, j) >= lim);                                        \
    }                                                                          \
    return acc != 0;                                                           \
  }
#define OA_LOAD8_(p, j) ((p)[j])
OA_ANY_GE(any_ge8, uint8_t, OA_LOAD8_)
OA_ANY_GE(any_ge16, uint16_t, oa_load16_)
OA_ANY_GE(any_ge32, uint32_t, oa_load32_)
OA_ANY_GE(any_ge64, uint64_t, oa_load64_)

/* Whether n bytes are all ASCII (then also valid UTF-8). */
static bool all_ascii(const uint8_t *s, int64_t n) {
  uint64_t acc = 0;
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    uint64_t w[4];
    memcpy(w, s + k, 32);
    acc |= w[0] | w[1] | w[2] | w[3];
  }
  for (; k + 8 <= n; k += 8) {
    uint64_t w;
    memcpy(&w, s + k, 8);
    acc |= w;
  }
  uint8_t tail = 0;
  for (; k < n; k++)
    tail |= s[k];
  return ((acc & 0x8080808080808080ull) | (tail & 0x80)) == 0;
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
  const uint8_t *ob = a->buffers[1].data;
  for (int64_t i0 = 0; i0 < a->length; i0 += OA_VBLOCK) {
    int64_t m = a->length - i0 < OA_VBLOCK ? a->length - i0 : OA_VBLOCK;
    int64_t base = a->offset + i0;
    bool bad = large ? offsets_unsorted64(ob, base, m)
                     : offsets_unsorted32(ob, base, m);
    if (!bad) continue;
    /* locate the first decrease in this block for the message */
    prev = oa_offset_at_(a, large, base);
    for (int64_t i = i0 + 1; i <= i0 + m; i++) {
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
  }
  prev = oa_offset_at_(a, large, a->offset + a->length);
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
  oa_type_id it = f->dict.index_type;
  int w = oa_int_width_(it);
  bool is_signed = it == OA_TYPE_INT8 || it == OA_TYPE_INT16 ||
                   it == OA_TYPE_INT32 || it == OA_TYPE_INT64;
  /* Compared as unsigned w-byte values, an index is out of range iff it is
   * >= lim: negative ones read as >= 2^(8w-1), and uint64 ones above
   * INT64_MAX are >= n. */
  int bits = 8 * w - (is_signed ? 1 : 0);
  uint64_t lim = (uint64_t)n;
  if (bits < 63 && n >= ((int64_t)1 << bits)) {
    if (!is_signed) return 0; /* every value of the type is in range */
    lim = (uint64_t)1 << bits;
  }
  const uint8_t *p = a->buffers[1].data;
  for (int64_t i0 = 0; i0 < a->length; i0 += OA_VBLOCK) {
    int64_t m = a->length - i0 < OA_VBLOCK ? a->length - i0 : OA_VBLOCK;
    const uint8_t *q = p + (a->offset + i0) * w;
    bool bad;
    switch (w) {
    case 1:
      bad = any_ge8(q, m, (uint8_t)lim);
      break;
    case 2:
      bad = any_ge16(q, m, (uint16_t)lim);
      break;
    case 4:
      bad = any_ge32(q, m, (uint32_t)lim);
      break;
    default:
      bad = any_ge64(q, m, lim);
      break;
    }
    if (!bad) continue;
    /* null slots may hold anything: find the first bad non-null row */
    for (int64_t i = i0; i < i0 + m; i++) {
      if (!valid_at(a, i)) continue;
      int64_t k = oa_array_get_dict_index(f, a, i);
      if (k < 0 || k >= n ||
          (it == OA_TYPE_UINT64 &&
           oa_array_get_uint(f, a, i) > (uint64_t)INT64_MAX))
        return VFAIL(c,
                     "row %lld: dictionary index %lld out of bounds of "
                     "dictionary length %lld",
                     (long long)i, (long long)k, (long long)n);
    }
  }
  return 0;
}

/* Offsets were checked (monotonic, within the data): an all-ASCII byte range
 * of a block of rows is valid whatever the nulls, so only blocks with other
 * bytes are decoded value by value. */
static int validate_utf8(vctx *c, const oa_array *a, bool large) {
  const uint8_t *data = a->buffers[2].data;
  for (int64_t i0 = 0; i0 < a->length; i0 += OA_VBLOCK) {
    int64_t i1 = a->length - i0 < OA_VBLOCK ? a->length : i0 + OA_VBLOCK;
    int64_t bs = oa_offset_at_(a, large, a->offset + i0);
    int64_t be = oa_offset_at_(a, large, a->offset + i1);
    if (be <= bs || all_ascii(data + bs, be - bs)) continue;
    for (int64_t i = i0; i < i1; i++) {
      if (!valid_at(a, i)) continue;
      int64_t s = oa_offset_at_(a, large, a->offset + i);
      int64_t e = oa_offset_at_(a, large, a->offset + i + 1);
      int64_t bad;
      if (e > s && !oa_utf8_validate(data + s, e - s, &bad))
        return VFAIL(c, "row %lld: invalid UTF-8 at byte %lld of the value",
                     (long long)i, (long long)bad);
    }
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
      if (last > first && (kf->dict.encoded || oa_has_validity_(kf->type.id))) {
        /* keys were validated: their bitmap covers the entries in use */
        if (ka->null_count == 0 || ka->n_buffers < 1 || !ka->buffers[0].data)
          return 0;
        if (oa_bitmap_count_set(ka->buffers[0].data,
                                ka->offset + ea->offset + first,
                                last - first) == last - first)
          return 0;
      }
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
