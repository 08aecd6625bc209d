/* Concatenation of arrays of one field (dictionary deltas append to the
 * dictionary the reader holds). Copies every buffer. */
#include <stdlib.h>
#include <string.h>

#include "arrow/internal.h"
#include "ipc/ipc_internal.h"

static int oom(oa_error *err) {
  return oa_error_set(err, ENOMEM, "concatenate: out of memory");
}

static bool layout_has_validity(const oa_field *f) {
  if (f->dict.encoded) return true;
  oa_type_id t = f->type.id;
  return t != OA_TYPE_NA && t != OA_TYPE_SPARSE_UNION &&
         t != OA_TYPE_DENSE_UNION;
}

static oa_array view(const oa_array *child, int64_t off, int64_t len) {
  oa_array v = *child;
  v.null_count = -1;
  v.offset = child->offset + off;
  v.length = len;
  return v;
}

static int set_buffer(oa_array *out, int i, oa_region *r, int64_t size) {
  out->buffers[i].data = r->data;
  out->buffers[i].size = size;
  out->buffers[i].region = r;
  return 0;
}

static int concat_bits(const oa_array *arrs, int64_t n, int which,
                       int64_t total, oa_array *out, int64_t *unset,
                       oa_error *err) {
  oa_region *r = oa_region_alloc((total + 7) / 8);
  if (!r) return oom(err);
  memset(r->data, 0, (size_t)((total + 7) / 8));
  int64_t pos = 0, zeros = 0;
  for (int64_t k = 0; k < n; k++) {
    const oa_array *a = &arrs[k];
    const uint8_t *bits = a->buffers[which].data;
    for (int64_t i = 0; i < a->length; i++, pos++) {
      if (!bits || oa_bit_get(bits, a->offset + i))
        oa_bit_set(r->data, pos);
      else
        zeros++;
    }
  }
  set_buffer(out, which, r, (total + 7) / 8);
  if (unset) *unset = zeros;
  return 0;
}

static int concat_fixed(const oa_array *arrs, int64_t n, int which, int64_t w,
                        int64_t total, oa_array *out, oa_error *err) {
  oa_region *r = oa_region_alloc(total * w);
  if (!r) return oom(err);
  int64_t pos = 0;
  for (int64_t k = 0; k < n; k++) {
    const oa_array *a = &arrs[k];
    if (a->length)
      memcpy(r->data + pos, a->buffers[which].data + a->offset * w,
             (size_t)(a->length * w));
    pos += a->length * w;
  }
  return set_buffer(out, which, r, total * w);
}

static int64_t get_off(const oa_array *a, int64_t i, int w) {
  const uint8_t *p = a->buffers[1].data;
  if (!p) return 0;
  if (w == 4) {
    int32_t v;
    memcpy(&v, p + 4 * (a->offset + i), 4);
    return v;
  }
  int64_t v;
  memcpy(&v, p + 8 * (a->offset + i), 8);
  return v;
}

/* Rebased offsets into buffer 1; *ranges gets [first,last) of each input. */
static int concat_offsets(const oa_array *arrs, int64_t n, int w, int64_t total,
                          oa_array *out, int64_t *ranges, oa_error *err) {
  oa_region *r = oa_region_alloc((total + 1) * w);
  if (!r) return oom(err);
  int64_t pos = 0, base = 0;
  for (int64_t k = 0; k < n; k++) {
    const oa_array *a = &arrs[k];
    int64_t first = a->length ? get_off(a, 0, w) : 0;
    int64_t last = a->length ? get_off(a, a->length, w) : 0;
    ranges[2 * k] = first;
    ranges[2 * k + 1] = last;
    for (int64_t i = 0; i < a->length; i++, pos++) {
      int64_t v = get_off(a, i, w) - first + base;
      if (w == 4) {
        int32_t x = (int32_t)v;
        memcpy(r->data + 4 * pos, &x, 4);
      } else {
        memcpy(r->data + 8 * pos, &v, 8);
      }
    }
    base += last - first;
  }
  if (w == 4 && base > INT32_MAX) {
    oa_region_release(r);
    return oa_error_set(err, E2BIG, "concatenate: offsets overflow int32");
  }
  if (w == 4) {
    int32_t x = (int32_t)base;
    memcpy(r->data + 4 * pos, &x, 4);
  } else {
    memcpy(r->data + 8 * pos, &base, 8);
  }
  return set_buffer(out, 1, r, (total + 1) * w);
}

static int concat_child(const oa_field *cf, const oa_array *arrs, int64_t n,
                        int64_t child, const int64_t *ranges, oa_array *out,
                        oa_error *err) {
  oa_array *views = calloc((size_t)(n ? n : 1), sizeof *views);
  if (!views) return oom(err);
  for (int64_t k = 0; k < n; k++) {
    const oa_array *c = &arrs[k].children[child];
    views[k] =
        ranges ? view(c, ranges[2 * k], ranges[2 * k + 1] - ranges[2 * k]) : *c;
  }
  int rc = oa_ipc_concat(cf, views, n, out, err);
  free(views);
  return rc;
}

static int concat_body(const oa_field *f, const oa_array *arrs, int64_t n,
                       int64_t total, int64_t *ranges, oa_array *out,
                       oa_error *err) {
  oa_type_id t = f->type.id;
  if (f->dict.encoded) {
    out->n_buffers = 2;
    OA_RETURN_NOT_OK(concat_fixed(arrs, n, 1, oa_int_width_(f->dict.index_type),
                                  total, out, err));
    for (int64_t k = n - 1; k >= 0; k--)
      if (arrs[k].dictionary) {
        out->dictionary = calloc(1, sizeof *out->dictionary);
        if (!out->dictionary) return oom(err);
        return oa_array_copy(out->dictionary, arrs[k].dictionary, err);
      }
    return 0;
  }
  out->n_buffers = oa_layout_n_buffers(t);
  if (f->n_children > 0) {
    out->children = calloc((size_t)f->n_children, sizeof *out->children);
    if (!out->children) return oom(err);
  }
  switch (t) {
  case OA_TYPE_NA:
    return 0;
  case OA_TYPE_BOOL:
    return concat_bits(arrs, n, 1, total, out, NULL, err);
  case OA_TYPE_STRING:
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_LARGE_BINARY: {
    int w = (t == OA_TYPE_STRING || t == OA_TYPE_BINARY) ? 4 : 8;
    OA_RETURN_NOT_OK(concat_offsets(arrs, n, w, total, out, ranges, err));
    int64_t bytes = 0;
    for (int64_t k = 0; k < n; k++)
      bytes += ranges[2 * k + 1] - ranges[2 * k];
    oa_region *r = oa_region_alloc(bytes);
    if (!r) return oom(err);
    int64_t pos = 0;
    for (int64_t k = 0; k < n; k++) {
      int64_t len = ranges[2 * k + 1] - ranges[2 * k];
      if (len)
        memcpy(r->data + pos, arrs[k].buffers[2].data + ranges[2 * k],
               (size_t)len);
      pos += len;
    }
    return set_buffer(out, 2, r, bytes);
  }
  case OA_TYPE_LIST:
  case OA_TYPE_LARGE_LIST:
  case OA_TYPE_MAP: {
    int w = t == OA_TYPE_LARGE_LIST ? 8 : 4;
    OA_RETURN_NOT_OK(concat_offsets(arrs, n, w, total, out, ranges, err));
    out->n_children = 1;
    return concat_child(&f->children[0], arrs, n, 0, ranges, &out->children[0],
                        err);
  }
  case OA_TYPE_FIXED_SIZE_LIST: {
    int64_t ls = f->type.list_size;
    for (int64_t k = 0; k < n; k++) {
      ranges[2 * k] = arrs[k].offset * ls;
      ranges[2 * k + 1] = (arrs[k].offset + arrs[k].length) * ls;
    }
    out->n_children = 1;
    return concat_child(&f->children[0], arrs, n, 0, ranges, &out->children[0],
                        err);
  }
  case OA_TYPE_STRUCT:
  case OA_TYPE_SPARSE_UNION:
    if (t == OA_TYPE_SPARSE_UNION)
      OA_RETURN_NOT_OK(concat_fixed(arrs, n, 0, 1, total, out, err));
    for (int64_t k = 0; k < n; k++) {
      ranges[2 * k] = arrs[k].offset;
      ranges[2 * k + 1] = arrs[k].offset + arrs[k].length;
    }
    for (int64_t i = 0; i < f->n_children; i++) {
      OA_RETURN_NOT_OK(concat_child(&f->children[i], arrs, n, i, ranges,
                                    &out->children[i], err));
      out->n_children = i + 1;
    }
    return 0;
  case OA_TYPE_DENSE_UNION: {
    OA_RETURN_NOT_OK(concat_fixed(arrs, n, 0, 1, total, out, err));
    oa_region *r = oa_region_alloc(total * 4);
    if (!r) return oom(err);
    set_buffer(out, 1, r, total * 4);
    int64_t base[OA_MAX_UNION_CHILDREN] = {0};
    int64_t pos = 0;
    for (int64_t k = 0; k < n; k++) {
      const oa_array *a = &arrs[k];
      for (int64_t i = 0; i < a->length; i++, pos++) {
        int8_t code = (int8_t)a->buffers[0].data[a->offset + i];
        int32_t o;
        memcpy(&o, a->buffers[1].data + 4 * (a->offset + i), 4);
        int64_t c = 0;
        while (c < f->n_children && f->type.type_codes[c] != code)
          c++;
        int64_t v = c < f->n_children ? o + base[c] : o;
        if (v > INT32_MAX)
          return oa_error_set(err, E2BIG, "concatenate: union offset overflow");
        int32_t x = (int32_t)v;
        memcpy(r->data + 4 * pos, &x, 4);
      }
      for (int64_t c = 0; c < f->n_children && c < OA_MAX_UNION_CHILDREN; c++)
        base[c] += a->children[c].length;
    }
    for (int64_t i = 0; i < f->n_children; i++) {
      OA_RETURN_NOT_OK(concat_child(&f->children[i], arrs, n, i, NULL,
                                    &out->children[i], err));
      out->n_children = i + 1;
    }
    return 0;
  }
  default: {
    int64_t bits = oa_datatype_bit_width(&f->type);
    if (bits <= 0 || bits % 8)
      return oa_error_set(err, ENOTSUP, "concatenate: type %s",
                          oa_type_name(t));
    return concat_fixed(arrs, n, 1, bits / 8, total, out, err);
  }
  }
}

int oa_ipc_concat(const oa_field *f, const oa_array *arrs, int64_t n,
                  oa_array *out, oa_error *err) {
  oa_array_init(out);
  int64_t total = 0;
  bool nulls = false;
  for (int64_t k = 0; k < n; k++) {
    total += arrs[k].length;
    if (arrs[k].n_buffers > 0 && arrs[k].buffers[0].data) nulls = true;
  }
  out->length = total;
  out->null_count = 0;
  int64_t *ranges = calloc((size_t)(2 * n + 2), sizeof *ranges);
  if (!ranges) return oom(err);
  int rc = 0;
  if (layout_has_validity(f) && nulls) {
    int64_t unset = 0;
    rc = concat_bits(arrs, n, 0, total, out, &unset, err);
    out->null_count = unset;
  }
  if (!f->dict.encoded && f->type.id == OA_TYPE_NA) out->null_count = total;
  if (!rc) rc = concat_body(f, arrs, n, total, ranges, out, err);
  free(ranges);
  if (rc) oa_array_reset(out);
  return rc;
}
