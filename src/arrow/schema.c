/* Types, fields, schemas and key-value metadata. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlparrow/arrow.h"

static const char *const kTypeNames[OA_TYPE_COUNT] = {
    [OA_TYPE_NA] = "null",
    [OA_TYPE_BOOL] = "bool",
    [OA_TYPE_INT8] = "int8",
    [OA_TYPE_INT16] = "int16",
    [OA_TYPE_INT32] = "int32",
    [OA_TYPE_INT64] = "int64",
    [OA_TYPE_UINT8] = "uint8",
    [OA_TYPE_UINT16] = "uint16",
    [OA_TYPE_UINT32] = "uint32",
    [OA_TYPE_UINT64] = "uint64",
    [OA_TYPE_HALF_FLOAT] = "float16",
    [OA_TYPE_FLOAT] = "float32",
    [OA_TYPE_DOUBLE] = "float64",
    [OA_TYPE_STRING] = "utf8",
    [OA_TYPE_LARGE_STRING] = "large_utf8",
    [OA_TYPE_BINARY] = "binary",
    [OA_TYPE_LARGE_BINARY] = "large_binary",
    [OA_TYPE_FIXED_SIZE_BINARY] = "fixed_size_binary",
    [OA_TYPE_DATE32] = "date32",
    [OA_TYPE_DATE64] = "date64",
    [OA_TYPE_TIME32] = "time32",
    [OA_TYPE_TIME64] = "time64",
    [OA_TYPE_TIMESTAMP] = "timestamp",
    [OA_TYPE_DURATION] = "duration",
    [OA_TYPE_INTERVAL_MONTHS] = "interval_months",
    [OA_TYPE_INTERVAL_DAY_TIME] = "interval_day_time",
    [OA_TYPE_INTERVAL_MONTH_DAY_NANO] = "interval_month_day_nano",
    [OA_TYPE_DECIMAL128] = "decimal128",
    [OA_TYPE_DECIMAL256] = "decimal256",
    [OA_TYPE_LIST] = "list",
    [OA_TYPE_LARGE_LIST] = "large_list",
    [OA_TYPE_FIXED_SIZE_LIST] = "fixed_size_list",
    [OA_TYPE_STRUCT] = "struct",
    [OA_TYPE_MAP] = "map",
    [OA_TYPE_SPARSE_UNION] = "sparse_union",
    [OA_TYPE_DENSE_UNION] = "dense_union",
};

const char *oa_type_name(oa_type_id id) {
  if ((int)id < 0 || id >= OA_TYPE_COUNT) return "invalid";
  return kTypeNames[id];
}

bool oa_type_is_integer(oa_type_id id) {
  return id >= OA_TYPE_INT8 && id <= OA_TYPE_UINT64;
}

bool oa_type_is_signed_integer(oa_type_id id) {
  return id >= OA_TYPE_INT8 && id <= OA_TYPE_INT64;
}

int64_t oa_datatype_bit_width(const oa_datatype *t) {
  switch (t->id) {
  case OA_TYPE_BOOL:
    return 1;
  case OA_TYPE_INT8:
  case OA_TYPE_UINT8:
    return 8;
  case OA_TYPE_INT16:
  case OA_TYPE_UINT16:
  case OA_TYPE_HALF_FLOAT:
    return 16;
  case OA_TYPE_INT32:
  case OA_TYPE_UINT32:
  case OA_TYPE_FLOAT:
  case OA_TYPE_DATE32:
  case OA_TYPE_TIME32:
  case OA_TYPE_INTERVAL_MONTHS:
    return 32;
  case OA_TYPE_INT64:
  case OA_TYPE_UINT64:
  case OA_TYPE_DOUBLE:
  case OA_TYPE_DATE64:
  case OA_TYPE_TIME64:
  case OA_TYPE_TIMESTAMP:
  case OA_TYPE_DURATION:
  case OA_TYPE_INTERVAL_DAY_TIME:
    return 64;
  case OA_TYPE_INTERVAL_MONTH_DAY_NANO:
  case OA_TYPE_DECIMAL128:
    return 128;
  case OA_TYPE_DECIMAL256:
    return 256;
  case OA_TYPE_FIXED_SIZE_BINARY:
    return (int64_t)t->byte_width * 8;
  default:
    return 0;
  }
}

int oa_layout_n_buffers(oa_type_id id) {
  switch (id) {
  case OA_TYPE_NA:
    return 0;
  case OA_TYPE_STRUCT:
  case OA_TYPE_FIXED_SIZE_LIST:
  case OA_TYPE_SPARSE_UNION:
    return 1;
  case OA_TYPE_STRING:
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_BINARY:
    return 3;
  default:
    return 2;
  }
}

/* -------------------------------------------------------------- metadata */

void oa_metadata_init(oa_metadata *md) { memset(md, 0, sizeof *md); }

void oa_metadata_reset(oa_metadata *md) {
  for (int64_t i = 0; i < md->n; i++) {
    free(md->items[i].key);
    free(md->items[i].value);
  }
  free(md->items);
  md->items = NULL;
  md->n = 0;
}

static char *dup_bytes(const char *s, int64_t n) {
  char *p = malloc((size_t)n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, (size_t)n);
  p[n] = 0;
  return p;
}

int oa_metadata_add(oa_metadata *md, const char *key, int64_t key_len,
                    const char *value, int64_t value_len, oa_error *err) {
  if (key_len < 0 || value_len < 0)
    return oa_error_set(err, EINVAL, "metadata: negative key/value length");
  oa_kv *items = realloc(md->items, (size_t)(md->n + 1) * sizeof *items);
  if (!items) return oa_error_set(err, ENOMEM, "metadata: out of memory");
  md->items = items;
  oa_kv *kv = &items[md->n];
  kv->key = dup_bytes(key, key_len);
  kv->value = dup_bytes(value, value_len);
  if (!kv->key || !kv->value) {
    free(kv->key);
    free(kv->value);
    return oa_error_set(err, ENOMEM, "metadata: out of memory");
  }
  kv->key_len = key_len;
  kv->value_len = value_len;
  md->n++;
  return 0;
}

int oa_metadata_copy(oa_metadata *dst, const oa_metadata *src, oa_error *err) {
  oa_metadata_init(dst);
  for (int64_t i = 0; i < src->n; i++) {
    const oa_kv *kv = &src->items[i];
    int rc = oa_metadata_add(dst, kv->key, kv->key_len, kv->value,
                             kv->value_len, err);
    if (rc) {
      oa_metadata_reset(dst);
      return rc;
    }
  }
  return 0;
}

const oa_kv *oa_metadata_find(const oa_metadata *md, const char *key) {
  size_t n = strlen(key);
  for (int64_t i = 0; i < md->n; i++)
    if ((size_t)md->items[i].key_len == n &&
        memcmp(md->items[i].key, key, n) == 0)
      return &md->items[i];
  return NULL;
}

static bool metadata_equals(const oa_metadata *a, const oa_metadata *b) {
  if (a->n != b->n) return false;
  for (int64_t i = 0; i < a->n; i++) {
    const oa_kv *x = &a->items[i], *y = &b->items[i];
    if (x->key_len != y->key_len || x->value_len != y->value_len ||
        memcmp(x->key, y->key, (size_t)x->key_len) != 0 ||
        memcmp(x->value, y->value, (size_t)x->value_len) != 0)
      return false;
  }
  return true;
}

/* ---------------------------------------------------------------- fields */

int oa_field_init(oa_field *f, const char *name, oa_type_id id, oa_error *err) {
  memset(f, 0, sizeof *f);
  if ((int)id < 0 || id >= OA_TYPE_COUNT)
    return oa_error_set(err, EINVAL, "field '%s': invalid type id %d",
                        name ? name : "", (int)id);
  f->name = dup_bytes(name ? name : "", name ? (int64_t)strlen(name) : 0);
  if (!f->name) return oa_error_set(err, ENOMEM, "field: out of memory");
  f->type.id = id;
  f->nullable = true;
  if (id == OA_TYPE_TIME32) f->type.unit = OA_TIME_UNIT_MILLI;
  if (id == OA_TYPE_TIME64 || id == OA_TYPE_TIMESTAMP || id == OA_TYPE_DURATION)
    f->type.unit = OA_TIME_UNIT_NANO;
  if (id == OA_TYPE_DECIMAL128 || id == OA_TYPE_DECIMAL256)
    f->type.precision = 38;
  for (int i = 0; i < OA_MAX_UNION_CHILDREN; i++)
    f->type.type_codes[i] = (int8_t)i;
  return 0;
}

void oa_field_reset(oa_field *f) {
  if (!f) return;
  free(f->name);
  free(f->type.timezone);
  for (int64_t i = 0; i < f->n_children; i++)
    oa_field_reset(&f->children[i]);
  free(f->children);
  oa_metadata_reset(&f->metadata);
  memset(f, 0, sizeof *f);
}

int oa_field_copy(oa_field *dst, const oa_field *src, oa_error *err) {
  memset(dst, 0, sizeof *dst);
  dst->type = src->type;
  dst->type.timezone = NULL;
  dst->nullable = src->nullable;
  dst->dict = src->dict;
  dst->name = dup_bytes(src->name ? src->name : "",
                        src->name ? (int64_t)strlen(src->name) : 0);
  if (!dst->name) goto oom;
  if (src->type.timezone) {
    dst->type.timezone =
        dup_bytes(src->type.timezone, (int64_t)strlen(src->type.timezone));
    if (!dst->type.timezone) goto oom;
  }
  if (src->n_children > 0) {
    dst->children = calloc((size_t)src->n_children, sizeof *dst->children);
    if (!dst->children) goto oom;
    for (int64_t i = 0; i < src->n_children; i++) {
      int rc = oa_field_copy(&dst->children[i], &src->children[i], err);
      if (rc) {
        dst->n_children = i;
        oa_field_reset(dst);
        return rc;
      }
    }
    dst->n_children = src->n_children;
  }
  int rc = oa_metadata_copy(&dst->metadata, &src->metadata, err);
  if (rc) {
    oa_field_reset(dst);
    return rc;
  }
  return 0;
oom:
  oa_field_reset(dst);
  return oa_error_set(err, ENOMEM, "field copy: out of memory");
}

int oa_field_add_child(oa_field *f, oa_field *child, oa_error *err) {
  oa_field *c = realloc(f->children, (size_t)(f->n_children + 1) * sizeof *c);
  if (!c)
    return oa_error_set(err, ENOMEM, "field '%s': out of memory", f->name);
  f->children = c;
  c[f->n_children++] = *child;
  memset(child, 0, sizeof *child);
  return 0;
}

int oa_field_set_timezone(oa_field *f, const char *tz, oa_error *err) {
  free(f->type.timezone);
  f->type.timezone = NULL;
  if (tz) {
    f->type.timezone = dup_bytes(tz, (int64_t)strlen(tz));
    if (!f->type.timezone)
      return oa_error_set(err, ENOMEM, "timezone: out of memory");
  }
  return 0;
}

void oa_field_set_dictionary(oa_field *f, oa_type_id index_type, int64_t id,
                             bool ordered) {
  f->dict.encoded = true;
  f->dict.index_type = index_type;
  f->dict.id = id;
  f->dict.ordered = ordered;
}

static const char *unit_name(oa_time_unit u) {
  switch (u) {
  case OA_TIME_UNIT_SECOND:
    return "s";
  case OA_TIME_UNIT_MILLI:
    return "ms";
  case OA_TIME_UNIT_MICRO:
    return "us";
  default:
    return "ns";
  }
}

static bool type_params_equal(const oa_field *a, const oa_field *b) {
  const oa_datatype *x = &a->type, *y = &b->type;
  if (x->id != y->id) return false;
  switch (x->id) {
  case OA_TYPE_TIME32:
  case OA_TYPE_TIME64:
  case OA_TYPE_DURATION:
    return x->unit == y->unit;
  case OA_TYPE_TIMESTAMP:
    if (x->unit != y->unit) return false;
    if (!x->timezone || !y->timezone) return x->timezone == y->timezone;
    return strcmp(x->timezone, y->timezone) == 0;
  case OA_TYPE_FIXED_SIZE_BINARY:
    return x->byte_width == y->byte_width;
  case OA_TYPE_FIXED_SIZE_LIST:
    return x->list_size == y->list_size;
  case OA_TYPE_DECIMAL128:
  case OA_TYPE_DECIMAL256:
    return x->precision == y->precision && x->scale == y->scale;
  case OA_TYPE_MAP:
    return x->keys_sorted == y->keys_sorted;
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION:
    return a->n_children <= OA_MAX_UNION_CHILDREN &&
           memcmp(x->type_codes, y->type_codes, (size_t)a->n_children) == 0;
  default:
    return true;
  }
}

static bool field_equals(const oa_field *a, const oa_field *b, bool md,
                         char *path, size_t cap, oa_error *err) {
  size_t len = strlen(path);
  snprintf(path + len, cap - len, "%s%s", len ? "." : "",
           a->name ? a->name : "");
  bool ok = false;
  char ta[128], tb[128];
  if (strcmp(a->name ? a->name : "", b->name ? b->name : "") != 0) {
    oa_error_set(err, EINVAL, "field '%s': name differs ('%s' != '%s')", path,
                 a->name, b->name);
  } else if (!type_params_equal(a, b) || a->dict.encoded != b->dict.encoded ||
             (a->dict.encoded && (a->dict.index_type != b->dict.index_type ||
                                  a->dict.ordered != b->dict.ordered))) {
    oa_field_format_type(a, ta, sizeof ta);
    oa_field_format_type(b, tb, sizeof tb);
    oa_error_set(err, EINVAL, "field '%s': type %s != %s", path, ta, tb);
  } else if (a->nullable != b->nullable) {
    oa_error_set(err, EINVAL, "field '%s': nullable %s != %s", path,
                 a->nullable ? "true" : "false",
                 b->nullable ? "true" : "false");
  } else if (a->n_children != b->n_children) {
    oa_error_set(err, EINVAL, "field '%s': %lld children != %lld", path,
                 (long long)a->n_children, (long long)b->n_children);
  } else if (md && !metadata_equals(&a->metadata, &b->metadata)) {
    oa_error_set(err, EINVAL, "field '%s': metadata differs", path);
  } else {
    ok = true;
    for (int64_t i = 0; ok && i < a->n_children; i++)
      ok = field_equals(&a->children[i], &b->children[i], md, path, cap, err);
  }
  path[len] = 0;
  return ok;
}

bool oa_field_equals(const oa_field *a, const oa_field *b, bool check_metadata,
                     oa_error *err) {
  char path[256] = "";
  return field_equals(a, b, check_metadata, path, sizeof path, err);
}

int oa_field_format_type(const oa_field *f, char *out, size_t cap) {
  const oa_datatype *t = &f->type;
  char inner[256] = "";
  size_t used = 0;
  for (int64_t i = 0; i < f->n_children && used < sizeof inner; i++) {
    char child[192];
    oa_field_format_type(&f->children[i], child, sizeof child);
    int n = snprintf(inner + used, sizeof inner - used, "%s%s: %s",
                     i ? ", " : "", f->children[i].name, child);
    if (n < 0) break;
    used += (size_t)n;
  }
  char base[320];
  switch (t->id) {
  case OA_TYPE_TIME32:
  case OA_TYPE_TIME64:
  case OA_TYPE_DURATION:
    snprintf(base, sizeof base, "%s[%s]", oa_type_name(t->id),
             unit_name(t->unit));
    break;
  case OA_TYPE_TIMESTAMP:
    if (t->timezone)
      snprintf(base, sizeof base, "timestamp[%s, tz=%s]", unit_name(t->unit),
               t->timezone);
    else
      snprintf(base, sizeof base, "timestamp[%s]", unit_name(t->unit));
    break;
  case OA_TYPE_FIXED_SIZE_BINARY:
    snprintf(base, sizeof base, "fixed_size_binary[%d]", (int)t->byte_width);
    break;
  case OA_TYPE_DECIMAL128:
  case OA_TYPE_DECIMAL256:
    snprintf(base, sizeof base, "%s(%d, %d)", oa_type_name(t->id),
             (int)t->precision, (int)t->scale);
    break;
  case OA_TYPE_FIXED_SIZE_LIST:
    snprintf(base, sizeof base, "fixed_size_list<%s>[%d]", inner,
             (int)t->list_size);
    break;
  case OA_TYPE_LIST:
  case OA_TYPE_LARGE_LIST:
  case OA_TYPE_STRUCT:
  case OA_TYPE_MAP:
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION:
    snprintf(base, sizeof base, "%s<%s>", oa_type_name(t->id), inner);
    break;
  default:
    snprintf(base, sizeof base, "%s", oa_type_name(t->id));
    break;
  }
  if (f->dict.encoded)
    return snprintf(out, cap, "dictionary<values=%s, indices=%s%s>", base,
                    oa_type_name(f->dict.index_type),
                    f->dict.ordered ? ", ordered" : "");
  return snprintf(out, cap, "%s", base);
}

/* ---------------------------------------------------------------- schema */

int oa_schema_new(oa_schema **out, oa_error *err) {
  *out = NULL;
  oa_schema *s = calloc(1, sizeof *s);
  if (!s) {
    oa_error_set(err, ENOMEM, "schema: out of memory");
    return ENOMEM;
  }
  atomic_init(&s->refcount, 1);
  *out = s;
  return 0;
}

int oa_schema_add_field(oa_schema *s, oa_field *field, oa_error *err) {
  oa_field *f = realloc(s->fields, (size_t)(s->n_fields + 1) * sizeof *f);
  if (!f) return oa_error_set(err, ENOMEM, "schema: out of memory");
  s->fields = f;
  f[s->n_fields++] = *field;
  memset(field, 0, sizeof *field);
  return 0;
}

void oa_schema_retain(oa_schema *s) {
  if (s) atomic_fetch_add_explicit(&s->refcount, 1, memory_order_relaxed);
}

void oa_schema_release(oa_schema *s) {
  if (!s) return;
  if (atomic_fetch_sub_explicit(&s->refcount, 1, memory_order_acq_rel) != 1)
    return;
  for (int64_t i = 0; i < s->n_fields; i++)
    oa_field_reset(&s->fields[i]);
  free(s->fields);
  oa_metadata_reset(&s->metadata);
  free(s);
}

int oa_schema_copy(oa_schema **out, const oa_schema *src, oa_error *err) {
  oa_schema *s;
  OA_RETURN_NOT_OK(oa_schema_new(&s, err));
  int rc = 0;
  if (src->n_fields > 0) {
    /* copied in place: a failed oa_field_copy leaves its slot zeroed */
    s->fields = calloc((size_t)src->n_fields, sizeof *s->fields);
    if (!s->fields) {
      rc = oa_error_set(err, ENOMEM, "schema: out of memory");
      goto fail;
    }
    for (int64_t i = 0; i < src->n_fields; i++) {
      OA_GOTO_NOT_OK(rc, oa_field_copy(&s->fields[i], &src->fields[i], err),
                     fail);
      s->n_fields = i + 1;
    }
  }
  OA_GOTO_NOT_OK(rc, oa_metadata_copy(&s->metadata, &src->metadata, err), fail);
  *out = s;
  return 0;
fail:
  oa_schema_release(s);
  return rc;
}

bool oa_schema_equals(const oa_schema *a, const oa_schema *b,
                      bool check_metadata, oa_error *err) {
  if (a->n_fields != b->n_fields) {
    oa_error_set(err, EINVAL, "schema: %lld fields != %lld",
                 (long long)a->n_fields, (long long)b->n_fields);
    return false;
  }
  for (int64_t i = 0; i < a->n_fields; i++)
    if (!oa_field_equals(&a->fields[i], &b->fields[i], check_metadata, err))
      return false;
  if (check_metadata && !metadata_equals(&a->metadata, &b->metadata)) {
    oa_error_set(err, EINVAL, "schema: metadata differs");
    return false;
  }
  return true;
}

int64_t oa_schema_find(const oa_schema *s, const char *name) {
  for (int64_t i = 0; i < s->n_fields; i++)
    if (strcmp(s->fields[i].name, name) == 0) return i;
  return -1;
}
