/* Array builders for every layout. */
#include <stdlib.h>
#include <string.h>

#include "arrow/internal.h"

static int offsets_width(oa_type_id id) {
  switch (id) {
  case OA_TYPE_STRING:
  case OA_TYPE_BINARY:
  case OA_TYPE_LIST:
  case OA_TYPE_MAP:
    return 4;
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_LARGE_BINARY:
  case OA_TYPE_LARGE_LIST:
    return 8;
  default:
    return 0;
  }
}

static bool is_nested(oa_type_id id) {
  return id >= OA_TYPE_LIST && id <= OA_TYPE_DENSE_UNION;
}

static bool is_union(oa_type_id id) {
  return id == OA_TYPE_SPARSE_UNION || id == OA_TYPE_DENSE_UNION;
}

/* bytes per value of this builder's values buffer for fixed-width layouts
 * (0 for bool and non-fixed layouts) */
static int64_t value_width(const oa_builder *b) {
  if (b->dict.encoded) return oa_int_width_(b->dict.index_type);
  if (b->type.id == OA_TYPE_BOOL) return 0;
  return oa_datatype_bit_width(&b->type) / 8;
}

static int write_initial_offset(oa_builder *b) {
  if (b->dict.encoded) return 0;
  int w = offsets_width(b->type.id);
  if (!w) return 0;
  static const uint8_t zero[8];
  return oa_bytes_append(&b->values, zero, w);
}

int oa_builder_init(oa_builder *b, const oa_field *field, uint32_t flags,
                    oa_error *err) {
  memset(b, 0, sizeof *b);
  b->type = field->type;
  b->type.timezone = NULL; /* not needed to build, and not owned */
  b->dict = field->dict;
  b->nullable = field->nullable;
  b->flags = flags;
  const char *name = field->name ? field->name : "";
  oa_type_id id = field->type.id;
  int rc = 0;
  if ((int)id < 0 || id >= OA_TYPE_COUNT)
    return oa_error_set(err, EINVAL, "field '%s': invalid type id %d", name,
                        (int)id);
  if (field->dict.encoded) {
    if (!oa_int_width_(field->dict.index_type))
      return oa_error_set(err, EINVAL,
                          "field '%s': dictionary index type %s is not an "
                          "integer",
                          name, oa_type_name(field->dict.index_type));
    bool ok = offsets_width(id) && !is_nested(id);
    ok = ok || id == OA_TYPE_FIXED_SIZE_BINARY ||
         (id != OA_TYPE_BOOL && !is_nested(id) && id != OA_TYPE_NA &&
          oa_datatype_bit_width(&field->type) >= 8);
    if (!ok)
      return oa_error_set(err, ENOTSUP,
                          "field '%s': dictionary values of type %s are not "
                          "supported by the builder",
                          name, oa_type_name(id));
    oa_field vf = oa_value_field_(field);
    vf.n_children = 0;
    b->dict_values = calloc(1, sizeof *b->dict_values);
    if (!b->dict_values) goto oom;
    OA_GOTO_NOT_OK(rc, oa_builder_init(b->dict_values, &vf, 0, err), fail);
    if (oa_dict_table_new_(&b->dict_table)) goto oom;
    return 0;
  }
  switch (id) {
  case OA_TYPE_LIST:
  case OA_TYPE_LARGE_LIST:
  case OA_TYPE_FIXED_SIZE_LIST:
  case OA_TYPE_MAP:
    if (field->n_children != 1)
      return oa_error_set(err, EINVAL,
                          "field '%s': %s needs exactly 1 child, has %lld",
                          name, oa_type_name(id), (long long)field->n_children);
    if (id == OA_TYPE_MAP && (field->children[0].type.id != OA_TYPE_STRUCT ||
                              field->children[0].n_children != 2))
      return oa_error_set(err, EINVAL,
                          "field '%s': map child must be a struct of 2 "
                          "fields",
                          name);
    if (id == OA_TYPE_FIXED_SIZE_LIST && field->type.list_size < 0)
      return oa_error_set(err, EINVAL, "field '%s': negative list_size %d",
                          name, (int)field->type.list_size);
    break;
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION:
    if (field->n_children > OA_MAX_UNION_CHILDREN)
      return oa_error_set(err, EINVAL, "field '%s': %lld union children > %d",
                          name, (long long)field->n_children,
                          OA_MAX_UNION_CHILDREN);
    break;
  case OA_TYPE_FIXED_SIZE_BINARY:
    if (field->type.byte_width < 0)
      return oa_error_set(err, EINVAL, "field '%s': negative byte_width %d",
                          name, (int)field->type.byte_width);
    break;
  default:
    break;
  }
  if (is_nested(id) && field->n_children > 0) {
    b->children = calloc((size_t)field->n_children, sizeof *b->children);
    if (!b->children) goto oom;
    for (int64_t i = 0; i < field->n_children; i++) {
      OA_GOTO_NOT_OK(
          rc, oa_builder_init(&b->children[i], &field->children[i], flags, err),
          fail);
      b->n_children = i + 1;
    }
  }
  if (write_initial_offset(b)) goto oom;
  return 0;
oom:
  rc = oa_error_set(err, ENOMEM, "field '%s': builder out of memory", name);
fail:
  oa_builder_reset(b);
  return rc;
}

void oa_builder_reset(oa_builder *b) {
  if (!b) return;
  oa_bytes_reset(&b->validity);
  oa_bytes_reset(&b->values);
  oa_bytes_reset(&b->data);
  for (int64_t i = 0; i < b->n_children; i++)
    oa_builder_reset(&b->children[i]);
  free(b->children);
  if (b->dict_values) {
    oa_builder_reset(b->dict_values);
    free(b->dict_values);
  }
  oa_dict_table_free_(b->dict_table);
  memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------ validity */

/* Invariant once allocated: every byte in [0, capacity) is either written
 * bits or zero, and validity.size == validity.capacity. */
int oa_builder_grow_validity_(oa_builder *b) {
  int64_t need = (b->length >> 3) + 1;
  b->validity.size = b->validity.capacity;
  if (need > b->validity.capacity) {
    int rc = oa_bytes_grow(&b->validity, need - b->validity.size);
    if (rc) return rc;
  }
  b->validity.size = b->validity.capacity;
  return 0;
}

static int ensure_validity_bits(oa_builder *b, int64_t nbits) {
  int64_t need = (nbits >> 3) + 1;
  if (b->validity.data && need <= b->validity.capacity) return 0;
  bool fresh = b->validity.data == NULL;
  b->validity.size = b->validity.capacity;
  int rc = oa_bytes_grow(&b->validity, need - b->validity.size);
  if (rc) return rc;
  b->validity.size = b->validity.capacity;
  if (fresh) { /* every element so far was valid */
    memset(b->validity.data, 0xff, (size_t)(b->length >> 3));
    for (int64_t i = b->length & ~(int64_t)7; i < b->length; i++)
      oa_bit_set(b->validity.data, i);
  }
  return 0;
}

static int mark_null(oa_builder *b) {
  int rc = ensure_validity_bits(b, b->length);
  if (rc) return rc;
  oa_bit_clear(b->validity.data, b->length);
  b->null_count++;
  return 0;
}

/* ---------------------------------------------------------- encoding */

int oa_encode_double_(oa_type_id id, double v, uint8_t out[8], int *w) {
  switch (id) {
  case OA_TYPE_HALF_FLOAT: {
    uint16_t h = oa_float_to_half((float)v);
    memcpy(out, &h, 2);
    *w = 2;
    return 0;
  }
  case OA_TYPE_FLOAT: {
    float f = (float)v;
    memcpy(out, &f, 4);
    *w = 4;
    return 0;
  }
  case OA_TYPE_DOUBLE:
    memcpy(out, &v, 8);
    *w = 8;
    return 0;
  default:
    return EINVAL;
  }
}

int oa_encode_int_(oa_type_id id, int64_t v, uint8_t out[8], int *w) {
  int64_t lo, hi;
  int width;
  switch (id) {
  case OA_TYPE_INT8:
    lo = INT8_MIN, hi = INT8_MAX, width = 1;
    break;
  case OA_TYPE_INT16:
    lo = INT16_MIN, hi = INT16_MAX, width = 2;
    break;
  case OA_TYPE_INT32:
  case OA_TYPE_DATE32:
  case OA_TYPE_TIME32:
  case OA_TYPE_INTERVAL_MONTHS:
    lo = INT32_MIN, hi = INT32_MAX, width = 4;
    break;
  case OA_TYPE_INT64:
  case OA_TYPE_DATE64:
  case OA_TYPE_TIME64:
  case OA_TYPE_TIMESTAMP:
  case OA_TYPE_DURATION:
    lo = INT64_MIN, hi = INT64_MAX, width = 8;
    break;
  case OA_TYPE_UINT8:
    lo = 0, hi = UINT8_MAX, width = 1;
    break;
  case OA_TYPE_UINT16:
    lo = 0, hi = UINT16_MAX, width = 2;
    break;
  case OA_TYPE_UINT32:
    lo = 0, hi = UINT32_MAX, width = 4;
    break;
  case OA_TYPE_UINT64:
    lo = 0, hi = INT64_MAX, width = 8;
    break;
  case OA_TYPE_HALF_FLOAT:
  case OA_TYPE_FLOAT:
  case OA_TYPE_DOUBLE:
    return oa_encode_double_(id, (double)v, out, w);
  default:
    return EINVAL;
  }
  if (v < lo || v > hi) return EINVAL;
  /* little-endian host: the low bytes of the int64 are the value */
  memcpy(out, &v, (size_t)width);
  *w = width;
  return 0;
}

int oa_encode_uint_(oa_type_id id, uint64_t v, uint8_t out[8], int *w) {
  if (id == OA_TYPE_UINT64) {
    memcpy(out, &v, 8);
    *w = 8;
    return 0;
  }
  if (id == OA_TYPE_HALF_FLOAT || id == OA_TYPE_FLOAT || id == OA_TYPE_DOUBLE)
    return oa_encode_double_(id, (double)v, out, w);
  if (v > (uint64_t)INT64_MAX) return EINVAL;
  return oa_encode_int_(id, (int64_t)v, out, w);
}

/* ------------------------------------------------------------- appends */

static int append_fixed(oa_builder *b, const void *v, int64_t w) {
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  rc = oa_bytes_append(&b->values, v, w);
  if (rc) return rc;
  b->length++;
  return 0;
}

static int push_bit(oa_bytes *bits, int64_t i, bool v) {
  if ((i & 7) == 0) {
    int rc = oa_bytes_reserve(bits, 1);
    if (rc) return rc;
    bits->data[bits->size++] = 0;
  }
  if (v) oa_bit_set(bits->data, i);
  return 0;
}

static int append_offset(oa_bytes *values, int w, int64_t end) {
  if (w == 4) {
    if (end > INT32_MAX) return E2BIG;
    int32_t e = (int32_t)end;
    return oa_bytes_append(values, &e, 4);
  }
  return oa_bytes_append(values, &end, 8);
}

static int64_t last_offset(const oa_bytes *values, int w) {
  if (values->size < w) return 0;
  if (w == 4) {
    int32_t v;
    memcpy(&v, values->data + values->size - 4, 4);
    return v;
  }
  int64_t v;
  memcpy(&v, values->data + values->size - 8, 8);
  return v;
}

static int append_zeros(oa_bytes *bytes, int64_t n) {
  int rc = oa_bytes_reserve(bytes, n);
  if (rc) return rc;
  memset(bytes->data + bytes->size, 0, (size_t)n);
  bytes->size += n;
  return 0;
}

static int union_append_null(oa_builder *b) {
  if (b->n_children == 0) return EINVAL;
  int rc;
  if (b->type.id == OA_TYPE_SPARSE_UNION) {
    for (int64_t k = 0; k < b->n_children; k++)
      if ((rc = oa_builder_append_null(&b->children[k]))) return rc;
  } else {
    if ((rc = oa_builder_append_null(&b->children[0]))) return rc;
    int64_t off = b->children[0].length - 1;
    if (off > INT32_MAX) return E2BIG;
    int32_t o = (int32_t)off;
    if ((rc = oa_bytes_append(&b->data, &o, 4))) return rc;
  }
  int8_t code = b->type.type_codes[0];
  if ((rc = oa_bytes_append(&b->values, &code, 1))) return rc;
  b->length++;
  return 0;
}

int oa_builder_append_null(oa_builder *b) {
  int rc;
  oa_type_id id = b->type.id;
  if (!b->dict.encoded) {
    if (id == OA_TYPE_NA) {
      b->length++;
      b->null_count++;
      return 0;
    }
    if (is_union(id)) return union_append_null(b);
  }
  if ((rc = mark_null(b))) return rc;
  int64_t w = value_width(b);
  if (b->dict.encoded || (w > 0 && !offsets_width(id))) {
    rc = append_zeros(&b->values, w);
  } else if (id == OA_TYPE_BOOL) {
    rc = push_bit(&b->values, b->length, false);
  } else if (offsets_width(id)) {
    int ow = offsets_width(id);
    rc = append_offset(&b->values, ow, last_offset(&b->values, ow));
  } else if (id == OA_TYPE_FIXED_SIZE_LIST) {
    rc = oa_builder_append_nulls(&b->children[0], b->type.list_size);
  } else if (id == OA_TYPE_STRUCT) {
    for (int64_t k = 0; k < b->n_children && !rc; k++)
      rc = oa_builder_append_null(&b->children[k]);
  } else if (id == OA_TYPE_FIXED_SIZE_BINARY) {
    rc = append_zeros(&b->values, b->type.byte_width);
  }
  if (rc) {
    b->null_count--; /* keep the builder consistent on ENOMEM */
    return rc;
  }
  b->length++;
  return 0;
}

int oa_builder_append_nulls(oa_builder *b, int64_t n) {
  if (n < 0) return EINVAL;
  for (int64_t i = 0; i < n; i++) {
    int rc = oa_builder_append_null(b);
    if (rc) return rc;
  }
  return 0;
}

/* Appends a value already encoded in the physical representation: to the
 * dictionary when the builder is dictionary-encoded. */
static int append_encoded(oa_builder *b, const uint8_t *buf, int w) {
  if (b->dict.encoded) return oa_dict_append_(b, buf, w);
  return append_fixed(b, buf, w);
}

int oa_builder_append_int(oa_builder *b, int64_t v) {
  uint8_t buf[8];
  int w;
  OA_RETURN_NOT_OK(oa_encode_int_(b->type.id, v, buf, &w));
  return append_encoded(b, buf, w);
}

int oa_builder_append_uint(oa_builder *b, uint64_t v) {
  uint8_t buf[8];
  int w;
  OA_RETURN_NOT_OK(oa_encode_uint_(b->type.id, v, buf, &w));
  return append_encoded(b, buf, w);
}

int oa_builder_append_double(oa_builder *b, double v) {
  uint8_t buf[8];
  int w;
  OA_RETURN_NOT_OK(oa_encode_double_(b->type.id, v, buf, &w));
  return append_encoded(b, buf, w);
}

int oa_builder_append_bool(oa_builder *b, bool v) {
  if (b->dict.encoded || b->type.id != OA_TYPE_BOOL) return EINVAL;
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  if ((rc = push_bit(&b->values, b->length, v))) return rc;
  b->length++;
  return 0;
}

int oa_builder_append_bytes(oa_builder *b, const void *data, int64_t len) {
  if (len < 0 || (len > 0 && !data)) return EINVAL;
  if (b->dict.encoded) {
    oa_type_id id = b->type.id;
    bool raw = id == OA_TYPE_FIXED_SIZE_BINARY || id == OA_TYPE_DECIMAL128 ||
               id == OA_TYPE_DECIMAL256 || id == OA_TYPE_INTERVAL_DAY_TIME ||
               id == OA_TYPE_INTERVAL_MONTH_DAY_NANO;
    if (!offsets_width(id) && !(raw && len == value_width(b->dict_values)))
      return EINVAL;
    return oa_dict_append_(b, data, len);
  }
  switch (b->type.id) {
  case OA_TYPE_STRING:
  case OA_TYPE_BINARY:
    if (b->data.size + len > INT32_MAX) return E2BIG;
    return oa_builder_append_str_fast(b, data, len);
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_LARGE_BINARY: {
    int rc = oa_builder_mark_valid_(b);
    if (rc) return rc;
    if ((rc = oa_bytes_append(&b->data, data, len))) return rc;
    if ((rc = append_offset(&b->values, 8, b->data.size))) return rc;
    b->length++;
    return 0;
  }
  case OA_TYPE_FIXED_SIZE_BINARY:
  case OA_TYPE_DECIMAL128:
  case OA_TYPE_DECIMAL256:
  case OA_TYPE_INTERVAL_DAY_TIME:
  case OA_TYPE_INTERVAL_MONTH_DAY_NANO:
    /* these take their raw little-endian bytes */
    if (len != value_width(b)) return EINVAL;
    return append_fixed(b, data, len);
  default:
    return EINVAL;
  }
}

int oa_builder_append_raw_(oa_builder *b, const void *data, int64_t len) {
  if (b->dict.encoded || b->type.id == OA_TYPE_BOOL || is_nested(b->type.id) ||
      len != value_width(b))
    return EINVAL;
  return append_fixed(b, data, len);
}

int oa_builder_append_valid(oa_builder *b) {
  if (b->dict.encoded) return EINVAL;
  int rc;
  switch (b->type.id) {
  case OA_TYPE_STRUCT:
    for (int64_t k = 0; k < b->n_children; k++)
      if (b->children[k].length != b->length + 1) return EINVAL;
    break;
  case OA_TYPE_LIST:
  case OA_TYPE_MAP:
  case OA_TYPE_LARGE_LIST:
    if (b->children[0].length <
        last_offset(&b->values, offsets_width(b->type.id)))
      return EINVAL;
    break;
  case OA_TYPE_FIXED_SIZE_LIST:
    if (b->children[0].length != (b->length + 1) * b->type.list_size)
      return EINVAL;
    break;
  default:
    return EINVAL;
  }
  if ((rc = oa_builder_mark_valid_(b))) return rc;
  int ow = offsets_width(b->type.id);
  if (ow && (rc = append_offset(&b->values, ow, b->children[0].length)))
    return rc;
  b->length++;
  return 0;
}

int oa_builder_append_union(oa_builder *b, int child_index) {
  if (b->dict.encoded || !is_union(b->type.id) || child_index < 0 ||
      child_index >= b->n_children)
    return EINVAL;
  int rc;
  oa_builder *c = &b->children[child_index];
  if (b->type.id == OA_TYPE_SPARSE_UNION) {
    if (c->length != b->length + 1) return EINVAL;
    for (int64_t k = 0; k < b->n_children; k++) {
      oa_builder *o = &b->children[k];
      if (o->length > b->length + 1) return EINVAL;
      while (o->length < b->length + 1)
        if ((rc = oa_builder_append_null(o))) return rc;
    }
  } else {
    if (c->length < 1) return EINVAL;
    if (c->length - 1 > INT32_MAX) return E2BIG;
    int32_t off = (int32_t)(c->length - 1);
    if ((rc = oa_bytes_append(&b->data, &off, 4))) return rc;
  }
  int8_t code = b->type.type_codes[child_index];
  if ((rc = oa_bytes_append(&b->values, &code, 1))) return rc;
  b->length++;
  return 0;
}

int oa_builder_reserve(oa_builder *b, int64_t n) {
  if (n <= 0) return 0;
  int rc;
  if (b->validity.data && (rc = ensure_validity_bits(b, b->length + n)))
    return rc;
  oa_type_id id = b->type.id;
  if (b->dict.encoded || (value_width(b) > 0 && !is_nested(id)))
    return oa_bytes_reserve(&b->values, n * value_width(b));
  if (id == OA_TYPE_BOOL)
    return oa_bytes_reserve(&b->values,
                            (b->length + n + 7) / 8 - b->values.size);
  if (offsets_width(id))
    return oa_bytes_reserve(&b->values, n * offsets_width(id));
  if (is_union(id)) {
    if ((rc = oa_bytes_reserve(&b->values, n))) return rc;
    if (id == OA_TYPE_DENSE_UNION) return oa_bytes_reserve(&b->data, n * 4);
  }
  return 0;
}

/* ------------------------------------------------------------- finish */

/* Moves bytes into out, or (copy) copies its first size bytes into a new
 * region leaving the builder untouched. */
static int take(oa_bytes *bytes, int64_t size, bool copy, oa_buffer *out) {
  memset(out, 0, sizeof *out);
  if (copy) {
    if (size == 0) return 0;
    oa_region *r = oa_region_alloc(size);
    if (!r) return ENOMEM;
    memcpy(r->data, bytes->data, (size_t)size);
    out->data = r->data;
    out->size = size;
    out->region = r;
    return 0;
  }
  bytes->size = size;
  return oa_bytes_finish(bytes, out);
}

static int finish_into(oa_builder *b, oa_array *out, bool copy, oa_error *err);

static int finish_dictionary(oa_builder *b, oa_array *out, oa_error *err) {
  out->dictionary = calloc(1, sizeof *out->dictionary);
  if (!out->dictionary) return ENOMEM;
  /* a kept dictionary keeps growing, so each array gets its own snapshot */
  bool keep = (b->flags & OA_BUILDER_KEEP_DICTIONARY) != 0;
  int rc = finish_into(b->dict_values, out->dictionary, keep, err);
  if (rc) return rc;
  if (!keep) oa_dict_table_clear_(b->dict_table);
  return 0;
}

static int finish_into(oa_builder *b, oa_array *out, bool copy, oa_error *err) {
  int rc = 0;
  oa_type_id id = b->type.id;
  out->length = b->length;
  out->offset = 0;
  if (!b->dict.encoded && id == OA_TYPE_NA) {
    out->null_count = b->length;
    out->n_buffers = 0;
  } else if (!b->dict.encoded && is_union(id)) {
    out->null_count = 0;
    out->n_buffers = oa_layout_n_buffers(id);
    OA_RETURN_NOT_OK(take(&b->values, b->values.size, copy, &out->buffers[0]));
    if (id == OA_TYPE_DENSE_UNION)
      OA_RETURN_NOT_OK(take(&b->data, b->data.size, copy, &out->buffers[1]));
  } else {
    out->null_count = b->null_count;
    out->n_buffers = b->dict.encoded ? 2 : oa_layout_n_buffers(id);
    if (b->null_count > 0) {
      OA_RETURN_NOT_OK(
          take(&b->validity, (b->length + 7) / 8, copy, &out->buffers[0]));
    } else if (!copy) {
      oa_bytes_reset(&b->validity);
    }
    if (out->n_buffers >= 2) {
      int64_t size = b->values.size;
      OA_RETURN_NOT_OK(take(&b->values, size, copy, &out->buffers[1]));
    }
    if (out->n_buffers >= 3)
      OA_RETURN_NOT_OK(take(&b->data, b->data.size, copy, &out->buffers[2]));
  }
  if (!b->dict.encoded && b->n_children > 0) {
    out->children = calloc((size_t)b->n_children, sizeof *out->children);
    if (!out->children) return ENOMEM;
    for (int64_t k = 0; k < b->n_children; k++) {
      out->n_children = k + 1;
      OA_RETURN_NOT_OK(
          finish_into(&b->children[k], &out->children[k], copy, err));
    }
  }
  if (b->dict.encoded) OA_RETURN_NOT_OK(finish_dictionary(b, out, err));
  if (!copy) {
    b->length = 0;
    b->null_count = 0;
    if (write_initial_offset(b)) rc = ENOMEM;
  }
  return rc;
}

int oa_builder_finish(oa_builder *b, oa_array *out, oa_error *err) {
  oa_array_init(out);
  int rc = finish_into(b, out, false, err);
  if (rc) {
    oa_array_reset(out);
    if (rc == ENOMEM)
      return oa_error_set(err, rc, "builder finish: out of memory");
    return rc;
  }
  return 0;
}
