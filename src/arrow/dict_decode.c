/* Dictionary decoding: a batch whose dictionary-encoded columns (at any
 * depth) are replaced by plain columns gathered from their dictionaries.
 * Columns without dictionaries share the input's buffers. */
#include <stdlib.h>
#include <string.h>

#include "arrow/internal.h"

#define PATH_CAP 256

/* Dotted field path for messages; long paths are cut, not rejected. */
static void path_join(char *dst, const char *parent, const char *name) {
  size_t n = strlen(parent), m = name ? strlen(name) : 0;
  if (n > PATH_CAP - 1) n = PATH_CAP - 1;
  memcpy(dst, parent, n);
  if (n > 0 && n < PATH_CAP - 1) dst[n++] = '.';
  if (m > PATH_CAP - 1 - n) m = PATH_CAP - 1 - n;
  if (m) memcpy(dst + n, name, m);
  dst[n + m] = 0;
}

static bool is_offsets_type(oa_type_id id) {
  return id == OA_TYPE_STRING || id == OA_TYPE_BINARY ||
         id == OA_TYPE_LARGE_STRING || id == OA_TYPE_LARGE_BINARY;
}

/* Types take() can gather (every layout with a sane width). */
static bool take_supported(const oa_field *f) {
  oa_type_id id = f->type.id;
  if ((id == OA_TYPE_SPARSE_UNION || id == OA_TYPE_DENSE_UNION) &&
      (f->n_children < 1 || f->n_children > OA_MAX_UNION_CHILDREN))
    return false;
  if (id == OA_TYPE_FIXED_SIZE_BINARY && f->type.byte_width <= 0) return false;
  if (id != OA_TYPE_NA && id != OA_TYPE_BOOL && !is_offsets_type(id) &&
      oa_layout_n_buffers(id) == 2 && id != OA_TYPE_LIST &&
      id != OA_TYPE_LARGE_LIST && id != OA_TYPE_MAP &&
      id != OA_TYPE_DENSE_UNION) {
    int64_t bits = oa_datatype_bit_width(&f->type);
    if (bits < 8 || bits % 8 != 0) return false;
  }
  for (int64_t i = 0; i < f->n_children; i++)
    if (!take_supported(&f->children[i])) return false;
  return true;
}

static bool has_dictionary(const oa_field *f) {
  if (f->dict.encoded) return true;
  for (int64_t i = 0; i < f->n_children; i++)
    if (has_dictionary(&f->children[i])) return true;
  return false;
}

/* Rejects unsupported dictionary value types before anything is built. */
static int check_field(const oa_field *f, const char *parent, oa_error *err) {
  char path[PATH_CAP];
  path_join(path, parent, f->name);
  if (f->dict.encoded && !take_supported(f))
    return oa_error_set(err, ENOTSUP,
                        "dictionary decode: field '%s': dictionary value type "
                        "%s (or a child of it) not supported",
                        path, oa_type_name(f->type.id));
  for (int64_t i = 0; i < f->n_children; i++)
    OA_RETURN_NOT_OK(check_field(&f->children[i], path, err));
  return 0;
}

static void strip_dictionary(oa_field *f) {
  memset(&f->dict, 0, sizeof f->dict);
  for (int64_t i = 0; i < f->n_children; i++)
    strip_dictionary(&f->children[i]);
}

static int oom(const char *path, oa_error *err) {
  return oa_error_set(err, ENOMEM,
                      "dictionary decode: field '%s': out of memory", path);
}

static int take(const oa_field *f, const oa_array *src, const int64_t *rows,
                int64_t n, oa_array *out, const char *path, oa_error *err);

/* Dictionary values selected by the indices at rows (nulls stay null). */
static int take_dictionary(const oa_field *f, const oa_array *src,
                           const int64_t *rows, int64_t n, oa_array *out,
                           const char *path, oa_error *err) {
  const oa_array *d = src->dictionary;
  if (!d)
    return oa_error_set(err, EINVAL,
                        "dictionary decode: field '%s': array has no "
                        "dictionary",
                        path);
  int64_t *keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
  if (!keys) return oom(path, err);
  for (int64_t i = 0; i < n; i++) {
    int64_t r = rows[i];
    if (r < 0 || oa_array_is_null(f, src, r)) {
      keys[i] = -1;
      continue;
    }
    int64_t k = oa_array_get_dict_index(f, src, r);
    if (k < 0 || k >= d->length) {
      free(keys);
      return oa_error_set(err, EINVAL,
                          "dictionary decode: field '%s': row %lld: index "
                          "%lld out of dictionary of length %lld",
                          path, (long long)r, (long long)k,
                          (long long)d->length);
    }
    keys[i] = k;
  }
  oa_field vf = oa_value_field_(f);
  int rc = take(&vf, d, keys, n, out, path, err);
  free(keys);
  return rc;
}

/* Children of a struct/list/map/fixed_size_list output. */
static int take_children(const oa_field *f, const oa_array *src,
                         const int64_t *rows, int64_t n, oa_array *out,
                         const char *path, oa_error *err) {
  if (src->n_children != f->n_children)
    return oa_error_set(err, EINVAL,
                        "dictionary decode: field '%s': %lld child arrays for "
                        "%lld child fields",
                        path, (long long)src->n_children,
                        (long long)f->n_children);
  if (f->n_children == 0) return 0;
  out->children = calloc((size_t)f->n_children, sizeof *out->children);
  if (!out->children) return oom(path, err);
  for (int64_t c = 0; c < f->n_children; c++) {
    char cpath[PATH_CAP];
    path_join(cpath, path, f->children[c].name);
    out->n_children = c + 1;
    OA_RETURN_NOT_OK(take(&f->children[c], &src->children[c], rows, n,
                          &out->children[c], cpath, err));
  }
  return 0;
}

/* Unions have no validity: a null row (-1) becomes a null of child 0. */
static int take_union(const oa_field *f, const oa_array *src,
                      const int64_t *rows, int64_t n, oa_array *out,
                      const char *path, oa_error *err) {
  bool dense = f->type.id == OA_TYPE_DENSE_UNION;
  int64_t nc = f->n_children;
  if (src->n_children != nc)
    return oa_error_set(err, EINVAL,
                        "dictionary decode: field '%s': %lld child arrays for "
                        "%lld child fields",
                        path, (long long)src->n_children, (long long)nc);
  oa_bytes ids, offsets;
  oa_bytes_init(&ids);
  oa_bytes_init(&offsets);
  int64_t *crow = malloc((size_t)(n ? n : 1) * sizeof *crow);
  int64_t *sel = malloc((size_t)(n ? n : 1) * sizeof *sel);
  int64_t count[OA_MAX_UNION_CHILDREN] = {0}, start[OA_MAX_UNION_CHILDREN];
  int8_t *which = malloc((size_t)(n ? n : 1));
  int rc = 0;
  if (!crow || !sel || !which || oa_bytes_reserve(&ids, n ? n : 1) ||
      (dense && oa_bytes_reserve(&offsets, n > 0 ? n * 4 : 4)))
    goto oom;
  ids.size = n;
  for (int64_t i = 0; i < n; i++) {
    int c = 0;
    int64_t row = -1;
    if (rows[i] >= 0) {
      row = oa_union_child_row_(f, src, rows[i], &c);
      if (c < 0) {
        rc = oa_error_set(
            err, EINVAL,
            "dictionary decode: field '%s': row %lld: unknown "
            "union type code %d",
            path, (long long)rows[i],
            (int)(int8_t)src->buffers[0].data[src->offset + rows[i]]);
        goto fail;
      }
    }
    which[i] = (int8_t)c;
    crow[i] = row;
    ids.data[i] = (uint8_t)f->type.type_codes[c];
    if (dense) {
      int32_t o = (int32_t)count[c];
      memcpy(offsets.data + i * 4, &o, 4);
    }
    count[c]++;
  }
  offsets.size = dense ? n * 4 : 0;
  out->length = n;
  out->null_count = 0;
  out->n_buffers = oa_layout_n_buffers(f->type.id);
  if (oa_bytes_finish(&ids, &out->buffers[0])) goto oom;
  if (dense && oa_bytes_finish(&offsets, &out->buffers[1])) goto oom;
  out->children = calloc((size_t)nc, sizeof *out->children);
  if (!out->children) goto oom;
  if (dense) { /* each child gets the rows that selected it, in order */
    int64_t acc = 0;
    for (int64_t c = 0; c < nc; c++) {
      start[c] = acc;
      acc += count[c];
      count[c] = 0;
    }
    for (int64_t i = 0; i < n; i++)
      sel[start[which[i]] + count[which[i]]++] = crow[i];
  }
  for (int64_t c = 0; c < nc; c++) {
    char cpath[PATH_CAP];
    path_join(cpath, path, f->children[c].name);
    out->n_children = c + 1;
    const int64_t *r = dense ? sel + start[c] : sel;
    int64_t m = dense ? count[c] : n;
    if (!dense) /* sparse: every child is aligned with the union's rows */
      for (int64_t i = 0; i < n; i++)
        sel[i] = rows[i] < 0 ? -1 : src->offset + rows[i];
    rc = take(&f->children[c], &src->children[c], r, m, &out->children[c],
              cpath, err);
    if (rc) goto fail;
  }
  free(crow);
  free(sel);
  free(which);
  oa_bytes_reset(&ids);
  oa_bytes_reset(&offsets);
  return 0;
oom:
  rc = oom(path, err);
fail:
  free(crow);
  free(sel);
  free(which);
  oa_bytes_reset(&ids);
  oa_bytes_reset(&offsets);
  oa_array_reset(out);
  return rc;
}

/* A plain array of n elements: element i is src's element rows[i] (relative
 * to src->offset), or null when rows[i] is -1. */
static int take(const oa_field *f, const oa_array *src, const int64_t *rows,
                int64_t n, oa_array *out, const char *path, oa_error *err) {
  oa_array_init(out);
  if (f->dict.encoded) return take_dictionary(f, src, rows, n, out, path, err);
  oa_type_id id = f->type.id;
  if (id == OA_TYPE_SPARSE_UNION || id == OA_TYPE_DENSE_UNION)
    return take_union(f, src, rows, n, out, path, err);
  out->length = n;
  out->n_buffers = oa_layout_n_buffers(id);
  if (id == OA_TYPE_NA) {
    out->null_count = n;
    return 0;
  }
  bool large = id == OA_TYPE_LARGE_STRING || id == OA_TYPE_LARGE_BINARY ||
               id == OA_TYPE_LARGE_LIST;
  bool listish =
      id == OA_TYPE_LIST || id == OA_TYPE_LARGE_LIST || id == OA_TYPE_MAP;
  int64_t width = 0;
  if (!is_offsets_type(id) && !listish && id != OA_TYPE_BOOL &&
      id != OA_TYPE_STRUCT && id != OA_TYPE_FIXED_SIZE_LIST)
    width = oa_datatype_bit_width(&f->type) / 8;

  oa_bytes validity, values, data;
  oa_bytes_init(&validity);
  oa_bytes_init(&values);
  oa_bytes_init(&data);
  int64_t *child_rows = NULL;
  int64_t n_child = 0, cap_child = 0;
  int rc = 0;
  int64_t nbytes = (n + 7) / 8, nulls = 0, total = 0;
  int64_t ow = large ? 8 : 4;
  if (oa_bytes_reserve(&validity, nbytes ? nbytes : 1)) goto oom;
  validity.size = nbytes;
  if (is_offsets_type(id) || listish) {
    if (oa_bytes_reserve(&values, (n + 1) * ow)) goto oom;
    values.size = ow; /* first offset: 0 (grown buffers are zeroed) */
  } else if (id == OA_TYPE_BOOL) {
    if (oa_bytes_reserve(&values, nbytes ? nbytes : 1)) goto oom;
    values.size = nbytes;
  } else if (width > 0) {
    if (oa_bytes_reserve(&values, n * width)) goto oom;
    values.size = n * width; /* null slots stay zero */
  }
  if (id == OA_TYPE_STRUCT) {
    cap_child = n;
  } else if (id == OA_TYPE_FIXED_SIZE_LIST) {
    cap_child = n * f->type.list_size;
  }
  if (cap_child > 0) {
    child_rows = malloc((size_t)cap_child * sizeof *child_rows);
    if (!child_rows) goto oom;
  }

  for (int64_t i = 0; i < n; i++) {
    int64_t r = rows[i], j = src->offset + r;
    bool valid = r >= 0 && !oa_array_is_null(f, src, r);
    if (valid)
      oa_bit_set(validity.data, i);
    else
      nulls++;
    if (is_offsets_type(id) || listish) {
      if (valid) {
        int64_t s = oa_offset_at_(src, large, j);
        int64_t e = oa_offset_at_(src, large, j + 1);
        if (is_offsets_type(id)) {
          if (oa_bytes_append(&data, src->buffers[2].data + s, e - s)) goto oom;
        } else {
          if (n_child + (e - s) > cap_child) {
            int64_t nc = cap_child * 2 > n_child + (e - s)
                             ? cap_child * 2
                             : n_child + (e - s) + 64;
            int64_t *p = realloc(child_rows, (size_t)nc * sizeof *p);
            if (!p) goto oom;
            child_rows = p;
            cap_child = nc;
          }
          for (int64_t k = s; k < e; k++)
            child_rows[n_child++] = k;
        }
        total += e - s;
      }
      if (!large && total > INT32_MAX) {
        rc = oa_error_set(err, E2BIG,
                          "dictionary decode: field '%s': decoded values "
                          "exceed 32-bit offsets",
                          path);
        goto fail;
      }
      if (large) {
        memcpy(values.data + values.size, &total, 8);
      } else {
        int32_t e32 = (int32_t)total;
        memcpy(values.data + values.size, &e32, 4);
      }
      values.size += ow;
    } else if (id == OA_TYPE_BOOL) {
      if (valid && oa_bit_get(src->buffers[1].data, j))
        oa_bit_set(values.data, i);
    } else if (id == OA_TYPE_STRUCT) {
      child_rows[n_child++] = valid ? j : -1;
    } else if (id == OA_TYPE_FIXED_SIZE_LIST) {
      for (int64_t k = 0; k < f->type.list_size; k++)
        child_rows[n_child++] = valid ? j * f->type.list_size + k : -1;
    } else if (valid) {
      memcpy(values.data + i * width, src->buffers[1].data + j * width,
             (size_t)width);
    }
  }

  out->null_count = nulls;
  if (nulls > 0 && oa_bytes_finish(&validity, &out->buffers[0])) goto oom;
  if (out->n_buffers >= 2 && oa_bytes_finish(&values, &out->buffers[1]))
    goto oom;
  if (out->n_buffers >= 3 && oa_bytes_finish(&data, &out->buffers[2])) goto oom;
  if (f->n_children > 0) {
    rc = take_children(f, src, child_rows, n_child, out, path, err);
    if (rc) goto fail;
  }
  free(child_rows);
  oa_bytes_reset(&validity);
  oa_bytes_reset(&values);
  oa_bytes_reset(&data);
  return 0;
oom:
  rc = oom(path, err);
fail:
  free(child_rows);
  oa_bytes_reset(&validity);
  oa_bytes_reset(&values);
  oa_bytes_reset(&data);
  oa_array_reset(out);
  return rc;
}

static int decode_array(const oa_field *f, const oa_array *a, oa_array *out,
                        const char *parent, oa_error *err) {
  char path[PATH_CAP];
  path_join(path, parent, f->name);
  if (f->dict.encoded) {
    int64_t *rows = malloc((size_t)(a->length ? a->length : 1) * sizeof *rows);
    if (!rows) return oom(path, err);
    for (int64_t i = 0; i < a->length; i++)
      rows[i] = i;
    int rc = take(f, a, rows, a->length, out, path, err);
    free(rows);
    return rc;
  }
  OA_RETURN_NOT_OK(oa_array_copy(out, a, err));
  if (!has_dictionary(f)) return 0;
  if (a->n_children != f->n_children) {
    oa_array_reset(out);
    return oa_error_set(err, EINVAL,
                        "dictionary decode: field '%s': %lld child arrays for "
                        "%lld child fields",
                        path, (long long)a->n_children,
                        (long long)f->n_children);
  }
  for (int64_t c = 0; c < f->n_children; c++) {
    if (!has_dictionary(&f->children[c])) continue;
    oa_array tmp;
    oa_array_init(&tmp);
    int rc = decode_array(&f->children[c], &a->children[c], &tmp, path, err);
    if (rc) {
      oa_array_reset(out);
      return rc;
    }
    oa_array_reset(&out->children[c]);
    oa_array_move(&out->children[c], &tmp);
  }
  return 0;
}

int oa_batch_decode_dictionaries(const oa_batch *in, oa_batch *out,
                                 oa_error *err) {
  oa_batch_init(out);
  if (!in || !in->schema || in->n_columns != in->schema->n_fields)
    return oa_error_set(err, EINVAL,
                        "dictionary decode: batch columns do not match its "
                        "schema");
  for (int64_t i = 0; i < in->schema->n_fields; i++)
    OA_RETURN_NOT_OK(check_field(&in->schema->fields[i], "", err));

  oa_schema *schema = NULL;
  OA_RETURN_NOT_OK(oa_schema_copy(&schema, in->schema, err));
  for (int64_t i = 0; i < schema->n_fields; i++)
    strip_dictionary(&schema->fields[i]);

  int rc = 0;
  oa_array *cols = NULL;
  int64_t done = 0;
  if (in->n_columns > 0) {
    cols = calloc((size_t)in->n_columns, sizeof *cols);
    if (!cols) {
      rc = oa_error_set(err, ENOMEM, "dictionary decode: out of memory");
      goto done;
    }
  }
  for (; done < in->n_columns; done++) {
    rc = decode_array(&in->schema->fields[done], &in->columns[done],
                      &cols[done], "", err);
    if (rc) goto done;
  }
  rc = oa_batch_set(out, schema, in->length, cols, err);
done:
  for (int64_t i = 0; i < done; i++)
    oa_array_reset(&cols[i]);
  free(cols);
  oa_schema_release(schema);
  return rc;
}
