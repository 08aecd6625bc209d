/* The Arrow C Data Interface and C Stream Interface. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/internal.h"
#include "otlparrow/c_data.h"

static char *dup_str(const char *s) {
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

/* --------------------------------------------------------- format strings */

static const char *int_format(oa_type_id id) {
  switch (id) {
  case OA_TYPE_INT8:
    return "c";
  case OA_TYPE_UINT8:
    return "C";
  case OA_TYPE_INT16:
    return "s";
  case OA_TYPE_UINT16:
    return "S";
  case OA_TYPE_INT32:
    return "i";
  case OA_TYPE_UINT32:
    return "I";
  case OA_TYPE_INT64:
    return "l";
  case OA_TYPE_UINT64:
    return "L";
  default:
    return NULL;
  }
}

static const char kUnitChar[] = "smun";

/* malloc'ed format string of a (not dictionary-encoded) field's type */
static char *type_format(const oa_field *f) {
  const oa_datatype *t = &f->type;
  size_t cap = 64 + (t->timezone ? strlen(t->timezone) : 0) +
               (size_t)(f->n_children > 0 ? f->n_children : 0) * 5;
  char *s = malloc(cap);
  if (!s) return NULL;
  const char *simple = int_format(t->id);
  unsigned u = (unsigned)t->unit & 3;
  switch (t->id) {
  case OA_TYPE_NA:
    simple = "n";
    break;
  case OA_TYPE_BOOL:
    simple = "b";
    break;
  case OA_TYPE_HALF_FLOAT:
    simple = "e";
    break;
  case OA_TYPE_FLOAT:
    simple = "f";
    break;
  case OA_TYPE_DOUBLE:
    simple = "g";
    break;
  case OA_TYPE_BINARY:
    simple = "z";
    break;
  case OA_TYPE_LARGE_BINARY:
    simple = "Z";
    break;
  case OA_TYPE_STRING:
    simple = "u";
    break;
  case OA_TYPE_LARGE_STRING:
    simple = "U";
    break;
  case OA_TYPE_DATE32:
    simple = "tdD";
    break;
  case OA_TYPE_DATE64:
    simple = "tdm";
    break;
  case OA_TYPE_INTERVAL_MONTHS:
    simple = "tiM";
    break;
  case OA_TYPE_INTERVAL_DAY_TIME:
    simple = "tiD";
    break;
  case OA_TYPE_INTERVAL_MONTH_DAY_NANO:
    simple = "tin";
    break;
  case OA_TYPE_LIST:
    simple = "+l";
    break;
  case OA_TYPE_LARGE_LIST:
    simple = "+L";
    break;
  case OA_TYPE_STRUCT:
    simple = "+s";
    break;
  case OA_TYPE_MAP:
    simple = "+m";
    break;
  case OA_TYPE_FIXED_SIZE_BINARY:
    snprintf(s, cap, "w:%d", (int)t->byte_width);
    return s;
  case OA_TYPE_FIXED_SIZE_LIST:
    snprintf(s, cap, "+w:%d", (int)t->list_size);
    return s;
  case OA_TYPE_DECIMAL128:
    snprintf(s, cap, "d:%d,%d", (int)t->precision, (int)t->scale);
    return s;
  case OA_TYPE_DECIMAL256:
    snprintf(s, cap, "d:%d,%d,256", (int)t->precision, (int)t->scale);
    return s;
  case OA_TYPE_TIME32:
  case OA_TYPE_TIME64:
    snprintf(s, cap, "tt%c", kUnitChar[u]);
    return s;
  case OA_TYPE_DURATION:
    snprintf(s, cap, "tD%c", kUnitChar[u]);
    return s;
  case OA_TYPE_TIMESTAMP:
    snprintf(s, cap, "ts%c:%s", kUnitChar[u], t->timezone ? t->timezone : "");
    return s;
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION: {
    size_t n = (size_t)snprintf(
        s, cap, "+u%c:", t->id == OA_TYPE_DENSE_UNION ? 'd' : 's');
    for (int64_t k = 0; k < f->n_children && k < OA_MAX_UNION_CHILDREN; k++)
      n += (size_t)snprintf(s + n, cap - n, "%s%d", k ? "," : "",
                            (int)t->type_codes[k]);
    return s;
  }
  default:
    break;
  }
  if (!simple) {
    free(s);
    return NULL;
  }
  snprintf(s, cap, "%s", simple);
  return s;
}

/* -------------------------------------------------------------- metadata */

static char *encode_metadata(const oa_metadata *md, bool *oom) {
  *oom = false;
  if (md->n == 0) return NULL;
  size_t size = 4;
  for (int64_t k = 0; k < md->n; k++)
    size += 8 + (size_t)md->items[k].key_len + (size_t)md->items[k].value_len;
  char *p = malloc(size), *q = p;
  if (!p) {
    *oom = true;
    return NULL;
  }
  int32_t n = (int32_t)md->n;
  memcpy(q, &n, 4);
  q += 4;
  for (int64_t k = 0; k < md->n; k++) {
    const oa_kv *kv = &md->items[k];
    int32_t kl = (int32_t)kv->key_len, vl = (int32_t)kv->value_len;
    memcpy(q, &kl, 4);
    memcpy(q + 4, kv->key, (size_t)kl);
    q += 4 + kl;
    memcpy(q, &vl, 4);
    memcpy(q + 4, kv->value, (size_t)vl);
    q += 4 + vl;
  }
  return p;
}

static int decode_metadata(const char *p, oa_metadata *md, const char *name,
                           oa_error *err) {
  if (!p) return 0;
  int32_t n;
  memcpy(&n, p, 4);
  p += 4;
  if (n < 0)
    return oa_error_set(err, EINVAL, "field '%s': negative metadata count %d",
                        name, (int)n);
  for (int32_t k = 0; k < n; k++) {
    int32_t kl, vl;
    memcpy(&kl, p, 4);
    const char *key = p + 4;
    if (kl < 0) goto bad;
    p += 4 + kl;
    memcpy(&vl, p, 4);
    if (vl < 0) goto bad;
    const char *val = p + 4;
    p += 4 + vl;
    OA_RETURN_NOT_OK(oa_metadata_add(md, key, kl, val, vl, err));
  }
  return 0;
bad:
  return oa_error_set(err, EINVAL, "field '%s': negative metadata length",
                      name);
}

/* --------------------------------------------------------- schema export */

typedef struct schema_priv {
  char *format;
  char *name;
  char *metadata;
  struct ArrowSchema **child_ptrs;
  struct ArrowSchema *children;
  struct ArrowSchema *dictionary;
} schema_priv;

static void schema_release(struct ArrowSchema *s) {
  schema_priv *p = s->private_data;
  if (p) {
    /* children is NULL when the export failed before allocating it */
    for (int64_t k = 0; p->children && k < s->n_children; k++)
      if (p->children[k].release) p->children[k].release(&p->children[k]);
    if (p->dictionary && p->dictionary->release)
      p->dictionary->release(p->dictionary);
    free(p->format);
    free(p->name);
    free(p->metadata);
    free(p->child_ptrs);
    free(p->children);
    free(p->dictionary);
    free(p);
  }
  s->private_data = NULL;
  s->release = NULL;
}

static int export_schema_node(const oa_field *f, const char *format_override,
                              struct ArrowSchema *out, oa_error *err) {
  memset(out, 0, sizeof *out);
  schema_priv *p = calloc(1, sizeof *p);
  if (!p) return oa_error_set(err, ENOMEM, "schema export: out of memory");
  out->private_data = p;
  out->release = schema_release;
  int rc = 0;
  bool oom = false;
  const char *name = f->name ? f->name : "";
  if (f->dict.encoded) {
    const char *ix = int_format(f->dict.index_type);
    if (!ix) {
      rc = oa_error_set(err, EINVAL,
                        "field '%s': dictionary index type %s is not an "
                        "integer",
                        name, oa_type_name(f->dict.index_type));
      goto fail;
    }
    p->format = dup_str(ix);
    p->dictionary = calloc(1, sizeof *p->dictionary);
    if (!p->dictionary) goto oom;
    oa_field vf = oa_value_field_(f);
    vf.name = "";
    vf.nullable = true;
    oa_metadata_init(&vf.metadata);
    rc = export_schema_node(&vf, NULL, p->dictionary, err);
    if (rc) goto fail;
    if (f->dict.ordered) out->flags |= ARROW_FLAG_DICTIONARY_ORDERED;
  } else {
    p->format = format_override ? dup_str(format_override) : type_format(f);
    if (!p->format && (format_override ||
                       ((int)f->type.id >= 0 && f->type.id < OA_TYPE_COUNT)))
      goto oom;
    if (!p->format) {
      rc = oa_error_set(err, EINVAL, "field '%s': cannot export type id %d",
                        name, (int)f->type.id);
      goto fail;
    }
    if (f->type.id == OA_TYPE_MAP && f->type.keys_sorted)
      out->flags |= ARROW_FLAG_MAP_KEYS_SORTED;
    if (f->n_children > 0) {
      p->children = calloc((size_t)f->n_children, sizeof *p->children);
      /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
      p->child_ptrs = calloc((size_t)f->n_children, sizeof *p->child_ptrs);
      if (!p->children || !p->child_ptrs) goto oom;
      for (int64_t k = 0; k < f->n_children; k++) {
        p->child_ptrs[k] = &p->children[k];
        out->n_children = k + 1;
        rc = export_schema_node(&f->children[k], NULL, &p->children[k], err);
        if (rc) goto fail;
      }
    }
  }
  p->name = dup_str(name);
  p->metadata = encode_metadata(&f->metadata, &oom);
  if (!p->format || !p->name || oom) goto oom;
  if (f->nullable) out->flags |= ARROW_FLAG_NULLABLE;
  out->format = p->format;
  out->name = p->name;
  out->metadata = p->metadata;
  out->children = p->child_ptrs;
  out->dictionary = p->dictionary;
  return 0;
oom:
  rc = oa_error_set(err, ENOMEM, "schema export: out of memory");
fail:
  schema_release(out);
  return rc;
}

int oa_field_export(const oa_field *f, struct ArrowSchema *out, oa_error *err) {
  return export_schema_node(f, NULL, out, err);
}

/* A struct field viewing the schema's fields (shallow; never reset). */
static oa_field schema_view(const oa_schema *s) {
  oa_field sf;
  memset(&sf, 0, sizeof sf);
  sf.name = "";
  sf.type.id = OA_TYPE_STRUCT;
  sf.n_children = s->n_fields;
  sf.children = s->fields;
  sf.metadata = s->metadata;
  return sf;
}

int oa_schema_export(const oa_schema *s, struct ArrowSchema *out,
                     oa_error *err) {
  oa_field sf = schema_view(s);
  return export_schema_node(&sf, "+s", out, err);
}

/* --------------------------------------------------------- schema import */

static int parse_int(const char *s, const char *full, int64_t *out,
                     const char **end, oa_error *err) {
  char *e;
  if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
    return oa_error_set(err, EINVAL, "invalid format string '%s'", full);
  errno = 0;
  long long v = strtoll(s, &e, 10);
  if (e == s || errno)
    return oa_error_set(err, EINVAL, "invalid format string '%s'", full);
  *out = v;
  *end = e;
  return 0;
}

static int bad_format(const char *fmt, oa_error *err) {
  return oa_error_set(err, EINVAL, "invalid or unknown format string '%s'",
                      fmt);
}

/* Fills f->type from a format string (children are added separately). */
static int parse_format(const char *fmt, oa_field *f, oa_error *err) {
  oa_datatype *t = &f->type;
  static const struct {
    const char *s;
    oa_type_id id;
  } simple[] = {{"n", OA_TYPE_NA},
                {"b", OA_TYPE_BOOL},
                {"c", OA_TYPE_INT8},
                {"C", OA_TYPE_UINT8},
                {"s", OA_TYPE_INT16},
                {"S", OA_TYPE_UINT16},
                {"i", OA_TYPE_INT32},
                {"I", OA_TYPE_UINT32},
                {"l", OA_TYPE_INT64},
                {"L", OA_TYPE_UINT64},
                {"e", OA_TYPE_HALF_FLOAT},
                {"f", OA_TYPE_FLOAT},
                {"g", OA_TYPE_DOUBLE},
                {"z", OA_TYPE_BINARY},
                {"Z", OA_TYPE_LARGE_BINARY},
                {"u", OA_TYPE_STRING},
                {"U", OA_TYPE_LARGE_STRING},
                {"tdD", OA_TYPE_DATE32},
                {"tdm", OA_TYPE_DATE64},
                {"tiM", OA_TYPE_INTERVAL_MONTHS},
                {"tiD", OA_TYPE_INTERVAL_DAY_TIME},
                {"tin", OA_TYPE_INTERVAL_MONTH_DAY_NANO},
                {"+l", OA_TYPE_LIST},
                {"+L", OA_TYPE_LARGE_LIST},
                {"+s", OA_TYPE_STRUCT},
                {"+m", OA_TYPE_MAP}};
  for (size_t k = 0; k < sizeof simple / sizeof simple[0]; k++)
    if (strcmp(fmt, simple[k].s) == 0) {
      t->id = simple[k].id;
      return 0;
    }
  static const char *const unsupported[] = {"vu", "vz", "+vl", "+vL", "+r"};
  for (size_t k = 0; k < sizeof unsupported / sizeof unsupported[0]; k++)
    if (strcmp(fmt, unsupported[k]) == 0)
      return oa_error_set(err, ENOTSUP, "unsupported format string '%s'", fmt);
  int64_t v = 0;
  const char *e = fmt;
  if (strncmp(fmt, "w:", 2) == 0 || strncmp(fmt, "+w:", 3) == 0) {
    bool list = fmt[0] == '+';
    OA_RETURN_NOT_OK(parse_int(fmt + (list ? 3 : 2), fmt, &v, &e, err));
    if (*e || v < 0 || v > INT32_MAX) return bad_format(fmt, err);
    t->id = list ? OA_TYPE_FIXED_SIZE_LIST : OA_TYPE_FIXED_SIZE_BINARY;
    if (list)
      t->list_size = (int32_t)v;
    else
      t->byte_width = (int32_t)v;
    return 0;
  }
  if (strncmp(fmt, "d:", 2) == 0) {
    int64_t prec = 0, scale = 0, bw = 128;
    OA_RETURN_NOT_OK(parse_int(fmt + 2, fmt, &prec, &e, err));
    if (*e != ',') return bad_format(fmt, err);
    OA_RETURN_NOT_OK(parse_int(e + 1, fmt, &scale, &e, err));
    if (*e == ',') OA_RETURN_NOT_OK(parse_int(e + 1, fmt, &bw, &e, err));
    if (*e || prec <= 0 || prec > 76 || scale < -1000 || scale > 1000)
      return bad_format(fmt, err);
    if (bw == 32 || bw == 64)
      return oa_error_set(err, ENOTSUP, "unsupported format string '%s'", fmt);
    if (bw != 128 && bw != 256) return bad_format(fmt, err);
    t->id = bw == 128 ? OA_TYPE_DECIMAL128 : OA_TYPE_DECIMAL256;
    t->precision = (int32_t)prec;
    t->scale = (int32_t)scale;
    return 0;
  }
  if (fmt[0] == 't' && fmt[1] && fmt[2]) {
    const char *uc = strchr(kUnitChar, fmt[2]);
    int unit = uc && *uc ? (int)(uc - kUnitChar) : -1;
    if (unit >= 0 && fmt[1] == 't' && !fmt[3]) {
      t->id = unit <= 1 ? OA_TYPE_TIME32 : OA_TYPE_TIME64;
      t->unit = (oa_time_unit)unit;
      return 0;
    }
    if (unit >= 0 && fmt[1] == 'D' && !fmt[3]) {
      t->id = OA_TYPE_DURATION;
      t->unit = (oa_time_unit)unit;
      return 0;
    }
    if (unit >= 0 && fmt[1] == 's' && fmt[3] == ':') {
      t->id = OA_TYPE_TIMESTAMP;
      t->unit = (oa_time_unit)unit;
      if (fmt[4]) return oa_field_set_timezone(f, fmt + 4, err);
      return 0;
    }
    return bad_format(fmt, err);
  }
  if (strncmp(fmt, "+ud:", 4) == 0 || strncmp(fmt, "+us:", 4) == 0) {
    t->id = fmt[2] == 'd' ? OA_TYPE_DENSE_UNION : OA_TYPE_SPARSE_UNION;
    const char *p = fmt + 4;
    int n = 0;
    while (*p) {
      if (n >= OA_MAX_UNION_CHILDREN) return bad_format(fmt, err);
      OA_RETURN_NOT_OK(parse_int(p, fmt, &v, &e, err));
      if (v < 0 || v > 127 || (*e && *e != ',') || (*e == ',' && !e[1]))
        return bad_format(fmt, err);
      t->type_codes[n++] = (int8_t)v;
      p = *e ? e + 1 : e;
    }
    /* remember how many codes were given, checked against the children */
    t->list_size = n;
    return 0;
  }
  return bad_format(fmt, err);
}

static int import_field_rec(struct ArrowSchema *s, oa_field *out,
                            int64_t *next_id, int depth, oa_error *err);

static int import_type(struct ArrowSchema *s, oa_field *out, int64_t *next_id,
                       int depth, oa_error *err) {
  const char *name = out->name;
  OA_RETURN_NOT_OK(parse_format(s->format, out, err));
  oa_type_id id = out->type.id;
  bool is_union = id == OA_TYPE_SPARSE_UNION || id == OA_TYPE_DENSE_UNION;
  if (s->n_children < 0 || (s->n_children > 0 && !s->children))
    return oa_error_set(err, EINVAL, "field '%s': bad children", name);
  if (id < OA_TYPE_LIST && s->n_children != 0)
    return oa_error_set(err, EINVAL, "field '%s': type '%s' has %lld children",
                        name, s->format, (long long)s->n_children);
  for (int64_t k = 0; k < s->n_children; k++) {
    if (!s->children[k])
      return oa_error_set(err, EINVAL, "field '%s': child %lld is NULL", name,
                          (long long)k);
    oa_field c;
    OA_RETURN_NOT_OK(
        import_field_rec(s->children[k], &c, next_id, depth + 1, err));
    int rc = oa_field_add_child(out, &c, err);
    if (rc) {
      oa_field_reset(&c);
      return rc;
    }
  }
  if ((id == OA_TYPE_LIST || id == OA_TYPE_LARGE_LIST ||
       id == OA_TYPE_FIXED_SIZE_LIST || id == OA_TYPE_MAP) &&
      out->n_children != 1)
    return oa_error_set(err, EINVAL, "field '%s': '%s' needs 1 child, has %lld",
                        name, s->format, (long long)out->n_children);
  if (id == OA_TYPE_MAP) {
    if (out->children[0].type.id != OA_TYPE_STRUCT ||
        out->children[0].n_children != 2 || out->children[0].dict.encoded)
      return oa_error_set(err, EINVAL,
                          "field '%s': map child must be a struct of 2", name);
    out->type.keys_sorted = (s->flags & ARROW_FLAG_MAP_KEYS_SORTED) != 0;
  }
  if (is_union) {
    if (out->type.list_size != out->n_children)
      return oa_error_set(err, EINVAL,
                          "field '%s': format '%s' has %d type codes for %lld "
                          "children",
                          name, s->format, (int)out->type.list_size,
                          (long long)out->n_children);
    out->type.list_size = 0;
  }
  return 0;
}

static int import_field_rec(struct ArrowSchema *s, oa_field *out,
                            int64_t *next_id, int depth, oa_error *err) {
  memset(out, 0, sizeof *out);
  if (depth > 64)
    return oa_error_set(err, EINVAL, "schema nesting deeper than 64");
  if (!s || !s->format)
    return oa_error_set(err, EINVAL, "schema without a format string");
  OA_RETURN_NOT_OK(oa_field_init(out, s->name ? s->name : "", OA_TYPE_NA, err));
  int rc;
  out->nullable = (s->flags & ARROW_FLAG_NULLABLE) != 0;
  if (s->dictionary) {
    oa_field ix;
    memset(&ix, 0, sizeof ix);
    rc = parse_format(s->format, &ix, err);
    oa_type_id index = ix.type.id;
    oa_field_reset(&ix);
    if (rc) goto fail;
    if (!oa_type_is_integer(index)) {
      rc = oa_error_set(err, EINVAL,
                        "field '%s': dictionary index format '%s' is not an "
                        "integer",
                        out->name, s->format);
      goto fail;
    }
    if (s->n_children != 0) {
      rc = oa_error_set(err, EINVAL,
                        "field '%s': dictionary-encoded schema has children",
                        out->name);
      goto fail;
    }
    if (s->dictionary->dictionary) {
      rc = oa_error_set(err, ENOTSUP,
                        "field '%s': nested dictionaries are not supported",
                        out->name);
      goto fail;
    }
    /* the values type (and its children) come from the dictionary schema */
    rc = import_type(s->dictionary, out, next_id, depth + 1, err);
    if (rc) goto fail;
    oa_field_set_dictionary(out, index, (*next_id)++,
                            (s->flags & ARROW_FLAG_DICTIONARY_ORDERED) != 0);
  } else {
    rc = import_type(s, out, next_id, depth, err);
    if (rc) goto fail;
  }
  rc = decode_metadata(s->metadata, &out->metadata, out->name, err);
  if (rc) goto fail;
  return 0;
fail:
  oa_field_reset(out);
  return rc;
}

int oa_field_import(struct ArrowSchema *in, oa_field *out, oa_error *err) {
  int64_t next_id = 0;
  int rc = import_field_rec(in, out, &next_id, 0, err);
  if (in && in->release) in->release(in);
  return rc;
}

int oa_schema_import(struct ArrowSchema *in, oa_schema **out, oa_error *err) {
  *out = NULL;
  int rc = 0;
  oa_schema *s = NULL;
  int64_t next_id = 0;
  if (!in || !in->release)
    return oa_error_set(err, EINVAL, "schema import: released schema");
  if (!in->format || strcmp(in->format, "+s") != 0) {
    rc = oa_error_set(err, EINVAL,
                      "schema import: format '%s' is not a struct ('+s')",
                      in->format ? in->format : "(null)");
    goto done;
  }
  OA_GOTO_NOT_OK(rc, oa_schema_new(&s, err), done);
  for (int64_t k = 0; k < in->n_children; k++) {
    oa_field f;
    OA_GOTO_NOT_OK(rc, import_field_rec(in->children[k], &f, &next_id, 1, err),
                   done);
    rc = oa_schema_add_field(s, &f, err);
    if (rc) {
      oa_field_reset(&f);
      goto done;
    }
  }
  OA_GOTO_NOT_OK(rc, decode_metadata(in->metadata, &s->metadata, "", err),
                 done);
  *out = s;
  s = NULL;
done:
  oa_schema_release(s);
  in->release(in);
  return rc;
}

/* ---------------------------------------------------------- array export */

typedef struct array_priv {
  const void *buffers[3];
  oa_region *regions[3];
  struct ArrowArray **child_ptrs;
  struct ArrowArray *children;
  struct ArrowArray *dictionary;
} array_priv;

/* Non-NULL stand-in for empty buffers: consumers may read offset 0. */
static const int64_t kEmptyBuffer[2];

static void array_release(struct ArrowArray *a) {
  array_priv *p = a->private_data;
  if (p) {
    /* children is NULL when the export failed before allocating it */
    for (int64_t k = 0; p->children && k < a->n_children; k++)
      if (p->children[k].release) p->children[k].release(&p->children[k]);
    if (p->dictionary && p->dictionary->release)
      p->dictionary->release(p->dictionary);
    for (int k = 0; k < 3; k++)
      oa_region_release(p->regions[k]);
    free(p->child_ptrs);
    free(p->children);
    free(p->dictionary);
    free(p);
  }
  a->private_data = NULL;
  a->release = NULL;
}

static int export_array(const oa_field *f, const oa_array *a,
                        struct ArrowArray *out, oa_error *err) {
  memset(out, 0, sizeof *out);
  const char *name = f->name ? f->name : "";
  oa_type_id pid = oa_physical_id_(f);
  int want = f->dict.encoded ? 2 : oa_layout_n_buffers(f->type.id);
  if (a->n_buffers != want || a->n_buffers > 3)
    return oa_error_set(err, EINVAL,
                        "field '%s': array has %d buffers, %s needs %d", name,
                        (int)a->n_buffers, oa_type_name(f->type.id), want);
  bool nested = !f->dict.encoded && f->type.id >= OA_TYPE_LIST;
  if (a->n_children != (nested ? f->n_children : 0))
    return oa_error_set(
        err, EINVAL, "field '%s': array has %lld children, field has %lld",
        name, (long long)a->n_children, (long long)f->n_children);
  if (f->dict.encoded && !a->dictionary)
    return oa_error_set(err, EINVAL, "field '%s': no dictionary", name);
  array_priv *p = calloc(1, sizeof *p);
  if (!p) return oa_error_set(err, ENOMEM, "array export: out of memory");
  out->private_data = p;
  out->release = array_release;
  int rc = 0;
  out->length = a->length;
  out->offset = a->offset;
  out->n_buffers = a->n_buffers;
  out->buffers = p->buffers;
  bool has_validity = oa_has_validity_(pid);
  for (int k = 0; k < a->n_buffers; k++) {
    const oa_buffer *b = &a->buffers[k];
    if (b->data) {
      p->buffers[k] = b->data;
      p->regions[k] = b->region;
      oa_region_retain(b->region);
    } else {
      p->buffers[k] = (k == 0 && has_validity) ? NULL : kEmptyBuffer;
    }
  }
  if (pid == OA_TYPE_NA && !f->dict.encoded)
    out->null_count = a->length;
  else if (!has_validity || !a->buffers[0].data)
    out->null_count = 0;
  else
    out->null_count = a->null_count;
  if (a->n_children > 0) {
    p->children = calloc((size_t)a->n_children, sizeof *p->children);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    p->child_ptrs = calloc((size_t)a->n_children, sizeof *p->child_ptrs);
    if (!p->children || !p->child_ptrs) goto oom;
    for (int64_t k = 0; k < a->n_children; k++) {
      p->child_ptrs[k] = &p->children[k];
      out->n_children = k + 1;
      OA_GOTO_NOT_OK(
          rc,
          export_array(&f->children[k], &a->children[k], &p->children[k], err),
          fail);
    }
  }
  out->children = p->child_ptrs;
  if (f->dict.encoded) {
    p->dictionary = calloc(1, sizeof *p->dictionary);
    if (!p->dictionary) goto oom;
    oa_field vf = oa_value_field_(f);
    OA_GOTO_NOT_OK(rc, export_array(&vf, a->dictionary, p->dictionary, err),
                   fail);
    out->dictionary = p->dictionary;
  }
  return 0;
oom:
  rc = oa_error_set(err, ENOMEM, "array export: out of memory");
fail:
  array_release(out);
  return rc;
}

int oa_array_export(const oa_field *f, const oa_array *a,
                    struct ArrowArray *out, oa_error *err) {
  return export_array(f, a, out, err);
}

static oa_array batch_view(const oa_batch *b) {
  oa_array st;
  oa_array_init(&st);
  st.length = b->length;
  st.null_count = 0;
  st.n_buffers = 1;
  st.n_children = b->n_columns;
  st.children = b->columns;
  return st;
}

int oa_batch_export(const oa_batch *b, struct ArrowArray *out, oa_error *err) {
  if (!b->schema) return oa_error_set(err, EINVAL, "batch export: no schema");
  oa_field sf = schema_view(b->schema);
  oa_array st = batch_view(b);
  return export_array(&sf, &st, out, err);
}

/* ---------------------------------------------------------- array import */

static void imported_release(void *ptr) {
  struct ArrowArray *a = ptr;
  if (a->release) a->release(a);
  free(a);
}

static int import_array(struct ArrowArray *c, const oa_field *f,
                        oa_region *root, oa_array *out, int depth,
                        oa_error *err) {
  const char *name = f->name ? f->name : "";
  if (!c || !c->release)
    return oa_error_set(err, EINVAL, "field '%s': array is NULL or released",
                        name);
  if (depth > 64)
    return oa_error_set(err, EINVAL, "field '%s': nesting deeper than 64",
                        name);
  if (c->length < 0 || c->offset < 0 || c->length > INT64_MAX / 64 ||
      c->offset > INT64_MAX / 64 - c->length)
    return oa_error_set(err, EINVAL,
                        "field '%s': bad length %lld / offset %lld", name,
                        (long long)c->length, (long long)c->offset);
  oa_type_id id = f->type.id, pid = oa_physical_id_(f);
  int want = f->dict.encoded ? 2 : oa_layout_n_buffers(id);
  if (want < 0 || want > 3 || c->n_buffers != want)
    return oa_error_set(err, EINVAL, "field '%s': %lld buffers, %s needs %d",
                        name, (long long)c->n_buffers,
                        f->dict.encoded ? "dictionary" : oa_type_name(id),
                        want);
  if (want > 0 && !c->buffers)
    return oa_error_set(err, EINVAL, "field '%s': buffers is NULL", name);
  bool nested = !f->dict.encoded && id >= OA_TYPE_LIST;
  int64_t want_children = nested ? f->n_children : 0;
  if (c->n_children != want_children || (want_children && !c->children))
    return oa_error_set(err, EINVAL, "field '%s': %lld children, expected %lld",
                        name, (long long)c->n_children,
                        (long long)want_children);
  int64_t end = c->offset + c->length;
  int64_t size[3] = {0, 0, 0};
  bool has_validity = oa_has_validity_(pid);
  if (has_validity) size[0] = (end + 7) / 8;
  if (f->dict.encoded) {
    size[1] = end * oa_int_width_(f->dict.index_type);
  } else {
    switch (id) {
    case OA_TYPE_NA:
    case OA_TYPE_STRUCT:
    case OA_TYPE_FIXED_SIZE_LIST:
      break;
    case OA_TYPE_BOOL:
      size[1] = (end + 7) / 8;
      break;
    case OA_TYPE_STRING:
    case OA_TYPE_BINARY:
    case OA_TYPE_LARGE_STRING:
    case OA_TYPE_LARGE_BINARY:
    case OA_TYPE_LIST:
    case OA_TYPE_LARGE_LIST:
    case OA_TYPE_MAP: {
      bool large = id == OA_TYPE_LARGE_STRING || id == OA_TYPE_LARGE_BINARY ||
                   id == OA_TYPE_LARGE_LIST;
      const uint8_t *offs = c->buffers[1];
      if (offs)
        size[1] = (end + 1) * (large ? 8 : 4);
      else if (c->length > 0)
        return oa_error_set(err, EINVAL, "field '%s': offsets buffer is NULL",
                            name);
      if (want == 3 && offs) {
        int64_t last;
        if (large) {
          memcpy(&last, offs + end * 8, 8);
        } else {
          int32_t l32;
          memcpy(&l32, offs + end * 4, 4);
          last = l32;
        }
        if (last < 0)
          return oa_error_set(err, EINVAL,
                              "field '%s': offset %lld (%lld) is negative",
                              name, (long long)end, (long long)last);
        size[2] = last;
      }
      break;
    }
    case OA_TYPE_SPARSE_UNION:
      size[0] = end;
      break;
    case OA_TYPE_DENSE_UNION:
      size[0] = end;
      size[1] = end * 4;
      break;
    default:
      if (__builtin_mul_overflow(end, oa_datatype_bit_width(&f->type) / 8,
                                 &size[1]))
        return oa_error_set(err, EINVAL, "field '%s': length overflows", name);
      break;
    }
  }
  out->length = c->length;
  out->offset = c->offset;
  out->n_buffers = (int32_t)want;
  for (int k = 0; k < want; k++) {
    const void *ptr = c->buffers[k];
    if (!ptr) {
      if (size[k] > 0 && !(k == 0 && has_validity))
        return oa_error_set(err, EINVAL, "field '%s': buffer %d is NULL", name,
                            k);
      continue;
    }
    out->buffers[k].data = ptr;
    out->buffers[k].size = size[k];
    out->buffers[k].region = root;
    oa_region_retain(root);
  }
  if (pid == OA_TYPE_NA && !f->dict.encoded)
    out->null_count = c->length;
  else if (!has_validity)
    out->null_count = 0;
  else if (!out->buffers[0].data) {
    if (c->null_count > 0)
      return oa_error_set(err, EINVAL,
                          "field '%s': null_count %lld without a validity "
                          "buffer",
                          name, (long long)c->null_count);
    out->null_count = 0;
  } else {
    out->null_count = c->null_count < 0 ? -1 : c->null_count;
  }
  if (want_children > 0) {
    out->children = calloc((size_t)want_children, sizeof *out->children);
    if (!out->children)
      return oa_error_set(err, ENOMEM, "array import: out of memory");
    for (int64_t k = 0; k < want_children; k++) {
      out->n_children = k + 1;
      OA_RETURN_NOT_OK(import_array(c->children[k], &f->children[k], root,
                                    &out->children[k], depth + 1, err));
    }
  }
  if (f->dict.encoded) {
    if (!c->dictionary)
      return oa_error_set(err, EINVAL,
                          "field '%s': dictionary-encoded array has no "
                          "dictionary",
                          name);
    out->dictionary = calloc(1, sizeof *out->dictionary);
    if (!out->dictionary)
      return oa_error_set(err, ENOMEM, "array import: out of memory");
    oa_field vf = oa_value_field_(f);
    OA_RETURN_NOT_OK(import_array(c->dictionary, &vf, root, out->dictionary,
                                  depth + 1, err));
  }
  return 0;
}

int oa_array_import(struct ArrowArray *in, const oa_field *f, oa_array *out,
                    oa_error *err) {
  oa_array_init(out);
  if (!in || !in->release)
    return oa_error_set(err, EINVAL, "array import: NULL or released array");
  struct ArrowArray *moved = malloc(sizeof *moved);
  if (!moved) {
    in->release(in);
    return oa_error_set(err, ENOMEM, "array import: out of memory");
  }
  *moved = *in;
  in->release = NULL;
  oa_region *root = oa_region_wrap(NULL, 0, imported_release, moved);
  if (!root) {
    imported_release(moved);
    return oa_error_set(err, ENOMEM, "array import: out of memory");
  }
  int rc = import_array(moved, f, root, out, 0, err);
  if (rc) oa_array_reset(out);
  /* the buffers now hold the references; the producer's release runs when
   * the last of them goes */
  oa_region_release(root);
  return rc;
}

int oa_batch_import(struct ArrowArray *in, oa_schema *schema, oa_batch *out,
                    oa_error *err) {
  oa_batch_init(out);
  oa_field sf = schema_view(schema);
  oa_array st;
  OA_RETURN_NOT_OK(oa_array_import(in, &sf, &st, err));
  int rc = 0;
  oa_array *cols = NULL;
  if (oa_array_null_count(&sf, &st) > 0) {
    rc = oa_error_set(err, EINVAL, "batch import: struct array has %lld nulls",
                      (long long)st.null_count);
    goto done;
  }
  if (schema->n_fields > 0) {
    cols = calloc((size_t)schema->n_fields, sizeof *cols);
    if (!cols) {
      rc = oa_error_set(err, ENOMEM, "batch import: out of memory");
      goto done;
    }
  }
  for (int64_t k = 0; k < schema->n_fields; k++) {
    oa_array *child = &st.children[k];
    if (st.offset == 0 && child->length == st.length) {
      oa_array_move(&cols[k], child);
    } else {
      /* import_array bounded offset + length well below INT64_MAX */
      const int64_t end = st.offset + st.length;
      if (child->length < end) {
        rc = oa_error_set(err, EINVAL, "field '%s': column length %lld < %lld",
                          schema->fields[k].name, (long long)child->length,
                          (long long)end);
        goto done;
      }
      OA_GOTO_NOT_OK(
          rc, oa_array_slice(&cols[k], child, st.offset, st.length, err), done);
    }
  }
  rc = oa_batch_set(out, schema, st.length, cols, err);
done:
  if (cols)
    for (int64_t k = 0; k < schema->n_fields; k++)
      oa_array_reset(&cols[k]);
  free(cols);
  oa_array_reset(&st);
  return rc;
}

/* --------------------------------------------------------------- streams */

typedef struct stream_priv {
  oa_schema *schema;
  oa_batch *batches;
  int64_t n, next;
  char error[OA_ERROR_SIZE];
} stream_priv;

static int stream_get_schema(struct ArrowArrayStream *s,
                             struct ArrowSchema *out) {
  stream_priv *p = s->private_data;
  oa_error e;
  e.message[0] = 0;
  int rc = oa_schema_export(p->schema, out, &e);
  if (rc) memcpy(p->error, e.message, sizeof p->error);
  return rc;
}

static int stream_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
  stream_priv *p = s->private_data;
  if (p->next >= p->n) {
    memset(out, 0, sizeof *out);
    return 0;
  }
  oa_error e;
  e.message[0] = 0;
  int rc = oa_batch_export(&p->batches[p->next], out, &e);
  if (rc) {
    memcpy(p->error, e.message, sizeof p->error);
    return rc;
  }
  p->next++;
  return 0;
}

static const char *stream_last_error(struct ArrowArrayStream *s) {
  stream_priv *p = s->private_data;
  return p && p->error[0] ? p->error : NULL;
}

static void stream_release(struct ArrowArrayStream *s) {
  stream_priv *p = s->private_data;
  if (p) {
    for (int64_t k = 0; k < p->n; k++)
      oa_batch_reset(&p->batches[k]);
    free(p->batches);
    oa_schema_release(p->schema);
    free(p);
  }
  s->private_data = NULL;
  s->release = NULL;
}

int oa_batches_export_stream(oa_schema *schema, const oa_batch *batches,
                             int64_t n, struct ArrowArrayStream *out,
                             oa_error *err) {
  memset(out, 0, sizeof *out);
  if (n < 0) return oa_error_set(err, EINVAL, "stream export: negative count");
  stream_priv *p = calloc(1, sizeof *p);
  if (!p) return oa_error_set(err, ENOMEM, "stream export: out of memory");
  if (n > 0) {
    p->batches = calloc((size_t)n, sizeof *p->batches);
    if (!p->batches) {
      free(p);
      return oa_error_set(err, ENOMEM, "stream export: out of memory");
    }
  }
  oa_schema_retain(schema);
  p->schema = schema;
  out->private_data = p;
  out->get_schema = stream_get_schema;
  out->get_next = stream_get_next;
  out->get_last_error = stream_last_error;
  out->release = stream_release;
  for (int64_t k = 0; k < n; k++) {
    int rc = oa_batch_copy(&p->batches[k], &batches[k], err);
    if (rc) {
      stream_release(out);
      return rc;
    }
    p->n = k + 1;
  }
  return 0;
}

static int stream_error(struct ArrowArrayStream *s, int rc, const char *what,
                        oa_error *err) {
  const char *msg = s->get_last_error ? s->get_last_error(s) : NULL;
  return oa_error_set(err, rc, "stream %s failed (%d): %s", what, rc,
                      msg ? msg : "no message");
}

int oa_stream_import_schema(struct ArrowArrayStream *stream, oa_schema **out,
                            oa_error *err) {
  *out = NULL;
  if (!stream || !stream->release)
    return oa_error_set(err, EINVAL, "stream is NULL or released");
  struct ArrowSchema s;
  memset(&s, 0, sizeof s);
  int rc = stream->get_schema(stream, &s);
  if (rc) return stream_error(stream, rc, "get_schema", err);
  return oa_schema_import(&s, out, err);
}

int oa_stream_import_next(struct ArrowArrayStream *stream,
                          const oa_schema *schema, oa_batch *out, bool *got,
                          oa_error *err) {
  *got = false;
  oa_batch_init(out);
  if (!stream || !stream->release)
    return oa_error_set(err, EINVAL, "stream is NULL or released");
  struct ArrowArray a;
  memset(&a, 0, sizeof a);
  int rc = stream->get_next(stream, &a);
  if (rc) return stream_error(stream, rc, "get_next", err);
  if (!a.release) return 0;
  /* the batch takes a reference; the schema itself is not modified */
  OA_RETURN_NOT_OK(oa_batch_import(&a, (oa_schema *)schema, out, err));
  *got = true;
  return 0;
}
