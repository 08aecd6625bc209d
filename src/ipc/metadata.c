/* Arrow IPC metadata: Message.fbs, Schema.fbs and File.fbs decoded into and
 * encoded from the plain structs of metadata.h, using ipc/flatbuf. Field and
 * enum numbering below is taken from the .fbs files in apache/arrow/format. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/flatbuf.h"
#include "ipc/metadata.h"

/* vtable slots (field ids in declaration order; a union takes two: its
 * _type byte, then the offset) */
enum { MSG_VERSION, MSG_HEADER_TYPE, MSG_HEADER, MSG_BODY_LENGTH, MSG_META };
enum { SCH_ENDIANNESS, SCH_FIELDS, SCH_META, SCH_FEATURES };
enum {
  FLD_NAME,
  FLD_NULLABLE,
  FLD_TYPE_TYPE,
  FLD_TYPE,
  FLD_DICTIONARY,
  FLD_CHILDREN,
  FLD_META
};
enum { DE_ID, DE_INDEX_TYPE, DE_ORDERED, DE_KIND };
enum { RB_LENGTH, RB_NODES, RB_BUFFERS, RB_COMPRESSION, RB_VARIADIC };
enum { BC_CODEC, BC_METHOD };
enum { DB_ID, DB_DATA, DB_IS_DELTA };
enum { FT_VERSION, FT_SCHEMA, FT_DICTIONARIES, FT_BATCHES, FT_META };
enum { KV_KEY, KV_VALUE };

/* Type union tags */
enum {
  T_NONE,
  T_NULL,
  T_INT,
  T_FLOAT,
  T_BINARY,
  T_UTF8,
  T_BOOL,
  T_DECIMAL,
  T_DATE,
  T_TIME,
  T_TIMESTAMP,
  T_INTERVAL,
  T_LIST,
  T_STRUCT,
  T_UNION,
  T_FIXED_SIZE_BINARY,
  T_FIXED_SIZE_LIST,
  T_MAP,
  T_DURATION,
  T_LARGE_BINARY,
  T_LARGE_UTF8,
  T_LARGE_LIST,
  T_RUN_END_ENCODED,
  T_BINARY_VIEW,
  T_UTF8_VIEW,
  T_LIST_VIEW,
  T_LARGE_LIST_VIEW,
  T_COUNT
};

static const char *const kFbTypeNames[T_COUNT] = {
    "NONE",          "Null",      "Int",           "FloatingPoint",
    "Binary",        "Utf8",      "Bool",          "Decimal",
    "Date",          "Time",      "Timestamp",     "Interval",
    "List",          "Struct_",   "Union",         "FixedSizeBinary",
    "FixedSizeList", "Map",       "Duration",      "LargeBinary",
    "LargeUtf8",     "LargeList", "RunEndEncoded", "BinaryView",
    "Utf8View",      "ListView",  "LargeListView"};

#define FIELD_STRUCT_SIZE 16 /* FieldNode, Buffer */
#define BLOCK_STRUCT_SIZE 24

/* ------------------------------------------------------------ init/reset */

void oa_ipc_message_meta_init(oa_ipc_message_meta *m) {
  memset(m, 0, sizeof *m);
  m->batch.compression = OA_COMPRESSION_NONE;
  oa_metadata_init(&m->custom_metadata);
}

static void batch_meta_reset(oa_ipc_batch_meta *b) {
  free(b->nodes);
  free(b->buffers);
  memset(b, 0, sizeof *b);
}

void oa_ipc_message_meta_reset(oa_ipc_message_meta *m) {
  oa_schema_release(m->schema);
  batch_meta_reset(&m->batch);
  oa_metadata_reset(&m->custom_metadata);
  oa_ipc_message_meta_init(m);
}

void oa_ipc_footer_init(oa_ipc_footer *f) {
  memset(f, 0, sizeof *f);
  f->version = OA_IPC_METADATA_V5;
  oa_metadata_init(&f->custom_metadata);
}

void oa_ipc_footer_reset(oa_ipc_footer *f) {
  oa_schema_release(f->schema);
  free(f->dictionaries);
  free(f->batches);
  oa_metadata_reset(&f->custom_metadata);
  oa_ipc_footer_init(f);
}

/* --------------------------------------------------------------- decoding */

typedef struct dctx {
  oa_fb_reader r;
  int32_t max_depth;
  oa_error *err;
  char path[256]; /* dotted path of the field being decoded */
} dctx;

static int check_version(int16_t v, oa_error *err, const char *what) {
  if (v < OA_IPC_METADATA_V4 || v > OA_IPC_METADATA_V5)
    return oa_error_set(err, ENOTSUP,
                        "%s: metadata version V%d is not supported (V4 and V5 "
                        "are)",
                        what, (int)v + 1);
  return 0;
}

static int decode_kv(dctx *c, const oa_fb_table *t, int slot,
                     oa_metadata *out) {
  oa_fb_vector v;
  bool present;
  OA_RETURN_NOT_OK(
      oa_fb_get_vector(t, slot, "custom_metadata", 4, &v, &present));
  for (int64_t i = 0; i < v.n; i++) {
    oa_fb_table kv;
    const char *k, *val;
    int64_t klen, vlen;
    OA_RETURN_NOT_OK(oa_fb_vector_table(&v, i, &kv));
    OA_RETURN_NOT_OK(oa_fb_get_string(&kv, KV_KEY, "key", &k, &klen));
    OA_RETURN_NOT_OK(oa_fb_get_string(&kv, KV_VALUE, "value", &val, &vlen));
    OA_RETURN_NOT_OK(
        oa_metadata_add(out, k ? k : "", klen, val ? val : "", vlen, c->err));
  }
  return 0;
}

static int decode_int(dctx *c, const oa_fb_table *t, const char *what,
                      oa_type_id *out) {
  int32_t bw;
  bool is_signed;
  OA_RETURN_NOT_OK(oa_fb_get_i32(t, 0, "bitWidth", 0, &bw));
  OA_RETURN_NOT_OK(oa_fb_get_bool(t, 1, "is_signed", false, &is_signed));
  switch (bw) {
  case 8:
    *out = is_signed ? OA_TYPE_INT8 : OA_TYPE_UINT8;
    return 0;
  case 16:
    *out = is_signed ? OA_TYPE_INT16 : OA_TYPE_UINT16;
    return 0;
  case 32:
    *out = is_signed ? OA_TYPE_INT32 : OA_TYPE_UINT32;
    return 0;
  case 64:
    *out = is_signed ? OA_TYPE_INT64 : OA_TYPE_UINT64;
    return 0;
  default:
    return oa_error_set(c->err, EINVAL,
                        "field '%s': %s bitWidth %d is not 8, 16, 32 or 64",
                        c->path, what, (int)bw);
  }
}

static int decode_unit(dctx *c, const oa_fb_table *t, int16_t def,
                       const char *type, oa_time_unit *out) {
  int16_t u;
  OA_RETURN_NOT_OK(oa_fb_get_i16(t, 0, "unit", def, &u));
  if (u < 0 || u > 3)
    return oa_error_set(c->err, EINVAL, "field '%s': %s has bad unit %d",
                        c->path, type, (int)u);
  *out = (oa_time_unit)u;
  return 0;
}

static int want_children(dctx *c, const oa_field *f, const char *type,
                         int64_t n) {
  if (f->n_children != n)
    return oa_error_set(c->err, EINVAL,
                        "field '%s': %s must have %" PRId64
                        " child(ren), has %" PRId64,
                        c->path, type, n, f->n_children);
  return 0;
}

/* Fills f->type from the Type union member (tag, t); children are decoded. */
static int decode_type(dctx *c, int tag, const oa_fb_table *t, oa_field *f) {
  oa_datatype *ty = &f->type;
  const char *tn = kFbTypeNames[tag];
  int64_t leaf = 0; /* expected number of children for leaf types */
  switch (tag) {
  case T_NULL:
    ty->id = OA_TYPE_NA;
    break;
  case T_INT:
    OA_RETURN_NOT_OK(decode_int(c, t, "Int", &ty->id));
    break;
  case T_FLOAT: {
    int16_t p;
    OA_RETURN_NOT_OK(oa_fb_get_i16(t, 0, "precision", 0, &p));
    if (p < 0 || p > 2)
      return oa_error_set(c->err, EINVAL,
                          "field '%s': FloatingPoint has bad precision %d",
                          c->path, (int)p);
    ty->id =
        p == 0 ? OA_TYPE_HALF_FLOAT : (p == 1 ? OA_TYPE_FLOAT : OA_TYPE_DOUBLE);
    break;
  }
  case T_BINARY:
    ty->id = OA_TYPE_BINARY;
    break;
  case T_UTF8:
    ty->id = OA_TYPE_STRING;
    break;
  case T_BOOL:
    ty->id = OA_TYPE_BOOL;
    break;
  case T_LARGE_BINARY:
    ty->id = OA_TYPE_LARGE_BINARY;
    break;
  case T_LARGE_UTF8:
    ty->id = OA_TYPE_LARGE_STRING;
    break;
  case T_DECIMAL: {
    int32_t prec, scale, bw;
    OA_RETURN_NOT_OK(oa_fb_get_i32(t, 0, "precision", 0, &prec));
    OA_RETURN_NOT_OK(oa_fb_get_i32(t, 1, "scale", 0, &scale));
    OA_RETURN_NOT_OK(oa_fb_get_i32(t, 2, "bitWidth", 128, &bw));
    if (bw != 128 && bw != 256)
      return oa_error_set(c->err, EINVAL,
                          "field '%s': Decimal bitWidth %d is not 128 or 256",
                          c->path, (int)bw);
    int32_t max_prec = bw == 128 ? 38 : 76;
    if (prec < 1 || prec > max_prec)
      return oa_error_set(c->err, EINVAL,
                          "field '%s': Decimal%d precision %d outside 1..%d",
                          c->path, (int)bw, (int)prec, (int)max_prec);
    ty->id = bw == 128 ? OA_TYPE_DECIMAL128 : OA_TYPE_DECIMAL256;
    ty->precision = prec;
    ty->scale = scale;
    break;
  }
  case T_DATE: {
    int16_t u;
    OA_RETURN_NOT_OK(oa_fb_get_i16(t, 0, "unit", 1, &u));
    if (u != 0 && u != 1)
      return oa_error_set(c->err, EINVAL, "field '%s': Date has bad unit %d",
                          c->path, (int)u);
    ty->id = u == 0 ? OA_TYPE_DATE32 : OA_TYPE_DATE64;
    break;
  }
  case T_TIME: {
    int32_t bw;
    OA_RETURN_NOT_OK(decode_unit(c, t, 1, tn, &ty->unit));
    OA_RETURN_NOT_OK(oa_fb_get_i32(t, 1, "bitWidth", 32, &bw));
    int32_t want = ty->unit <= OA_TIME_UNIT_MILLI ? 32 : 64;
    if (bw != want)
      return oa_error_set(c->err, EINVAL,
                          "field '%s': Time bitWidth %d does not match its "
                          "unit (want %d)",
                          c->path, (int)bw, (int)want);
    ty->id = bw == 32 ? OA_TYPE_TIME32 : OA_TYPE_TIME64;
    break;
  }
  case T_TIMESTAMP: {
    const char *tz;
    int64_t tzlen;
    OA_RETURN_NOT_OK(decode_unit(c, t, 0, tn, &ty->unit));
    OA_RETURN_NOT_OK(oa_fb_get_string(t, 1, "timezone", &tz, &tzlen));
    ty->id = OA_TYPE_TIMESTAMP;
    /* an empty timezone means "naive", same as absent */
    if (tz && tzlen > 0) {
      ty->timezone = malloc((size_t)tzlen + 1);
      if (!ty->timezone)
        return oa_error_set(c->err, ENOMEM, "field '%s': out of memory",
                            c->path);
      memcpy(ty->timezone, tz, (size_t)tzlen + 1);
    }
    break;
  }
  case T_DURATION:
    OA_RETURN_NOT_OK(decode_unit(c, t, 1, tn, &ty->unit));
    ty->id = OA_TYPE_DURATION;
    break;
  case T_INTERVAL: {
    int16_t u;
    OA_RETURN_NOT_OK(oa_fb_get_i16(t, 0, "unit", 0, &u));
    if (u < 0 || u > 2)
      return oa_error_set(c->err, EINVAL,
                          "field '%s': Interval has bad unit %d", c->path,
                          (int)u);
    ty->id = u == 0 ? OA_TYPE_INTERVAL_MONTHS
                    : (u == 1 ? OA_TYPE_INTERVAL_DAY_TIME
                              : OA_TYPE_INTERVAL_MONTH_DAY_NANO);
    break;
  }
  case T_FIXED_SIZE_BINARY: {
    int32_t w;
    OA_RETURN_NOT_OK(oa_fb_get_i32(t, 0, "byteWidth", 0, &w));
    /* bound it so that the bit width still fits an int32 */
    if (w < 0 || w > INT32_MAX / 8)
      return oa_error_set(c->err, EINVAL,
                          "field '%s': FixedSizeBinary byteWidth %d out of "
                          "range",
                          c->path, (int)w);
    ty->id = OA_TYPE_FIXED_SIZE_BINARY;
    ty->byte_width = w;
    break;
  }
  case T_LIST:
    ty->id = OA_TYPE_LIST;
    leaf = -1;
    OA_RETURN_NOT_OK(want_children(c, f, tn, 1));
    break;
  case T_LARGE_LIST:
    ty->id = OA_TYPE_LARGE_LIST;
    leaf = -1;
    OA_RETURN_NOT_OK(want_children(c, f, tn, 1));
    break;
  case T_FIXED_SIZE_LIST: {
    int32_t n;
    OA_RETURN_NOT_OK(oa_fb_get_i32(t, 0, "listSize", 0, &n));
    if (n < 0)
      return oa_error_set(c->err, EINVAL,
                          "field '%s': FixedSizeList listSize %d is negative",
                          c->path, (int)n);
    ty->id = OA_TYPE_FIXED_SIZE_LIST;
    ty->list_size = n;
    leaf = -1;
    OA_RETURN_NOT_OK(want_children(c, f, tn, 1));
    break;
  }
  case T_STRUCT:
    ty->id = OA_TYPE_STRUCT;
    leaf = -1;
    break;
  case T_MAP: {
    OA_RETURN_NOT_OK(
        oa_fb_get_bool(t, 0, "keysSorted", false, &ty->keys_sorted));
    ty->id = OA_TYPE_MAP;
    leaf = -1;
    OA_RETURN_NOT_OK(want_children(c, f, tn, 1));
    const oa_field *e = &f->children[0];
    if (e->type.id != OA_TYPE_STRUCT || e->dict.encoded || e->n_children != 2)
      return oa_error_set(c->err, EINVAL,
                          "field '%s': Map child must be a struct of 2 fields "
                          "(key, value)",
                          c->path);
    break;
  }
  case T_UNION: {
    int16_t mode;
    oa_fb_vector ids;
    bool present;
    OA_RETURN_NOT_OK(oa_fb_get_i16(t, 0, "mode", 0, &mode));
    if (mode != 0 && mode != 1)
      return oa_error_set(c->err, EINVAL, "field '%s': Union has bad mode %d",
                          c->path, (int)mode);
    if (f->n_children > OA_MAX_UNION_CHILDREN)
      return oa_error_set(c->err, EINVAL,
                          "field '%s': Union has %" PRId64
                          " children (at most %d)",
                          c->path, f->n_children, OA_MAX_UNION_CHILDREN);
    OA_RETURN_NOT_OK(oa_fb_get_vector(t, 1, "typeIds", 4, &ids, &present));
    if (present && ids.n != f->n_children)
      return oa_error_set(c->err, EINVAL,
                          "field '%s': Union has %" PRId64
                          " typeIds for %" PRId64 " children",
                          c->path, ids.n, f->n_children);
    bool seen[OA_MAX_UNION_CHILDREN] = {false};
    for (int64_t i = 0; i < f->n_children; i++) {
      int32_t code =
          present ? oa_fb_load_i32(oa_fb_vector_elem(&ids, i)) : (int32_t)i;
      if (code < 0 || code >= OA_MAX_UNION_CHILDREN)
        return oa_error_set(c->err, EINVAL,
                            "field '%s': Union type id %d outside 0..127",
                            c->path, (int)code);
      if (seen[code])
        return oa_error_set(c->err, EINVAL,
                            "field '%s': Union type id %d is used twice",
                            c->path, (int)code);
      seen[code] = true;
      ty->type_codes[i] = (int8_t)code;
    }
    ty->id = mode == 0 ? OA_TYPE_SPARSE_UNION : OA_TYPE_DENSE_UNION;
    leaf = -1;
    break;
  }
  case T_RUN_END_ENCODED:
  case T_BINARY_VIEW:
  case T_UTF8_VIEW:
  case T_LIST_VIEW:
  case T_LARGE_LIST_VIEW:
    return oa_error_set(c->err, ENOTSUP, "field '%s': type %s is not supported",
                        c->path, tn);
  default:
    return oa_error_set(c->err, EINVAL, "field '%s': unknown type tag %d",
                        c->path, tag);
  }
  if (leaf == 0 && f->n_children != 0)
    return oa_error_set(c->err, EINVAL,
                        "field '%s': type %s cannot have children (has %" PRId64
                        ")",
                        c->path, tn, f->n_children);
  return 0;
}

static int decode_field(dctx *c, const oa_fb_table *t, int32_t depth,
                        oa_field *f);

static int decode_field_body(dctx *c, const oa_fb_table *t, int32_t depth,
                             oa_field *f) {
  const char *name;
  int64_t name_len;
  OA_RETURN_NOT_OK(oa_fb_get_string(t, FLD_NAME, "name", &name, &name_len));
  OA_RETURN_NOT_OK(oa_field_init(f, name ? name : "", OA_TYPE_NA, c->err));
  /* the path names the field in every message below */
  size_t plen = strlen(c->path);
  snprintf(c->path + plen, sizeof c->path - plen, "%s%s", plen ? "." : "",
           f->name);
  if (depth > c->max_depth)
    return oa_error_set(c->err, E2BIG,
                        "field '%s': nested deeper than %d levels", c->path,
                        (int)c->max_depth);
  OA_RETURN_NOT_OK(
      oa_fb_get_bool(t, FLD_NULLABLE, "nullable", false, &f->nullable));

  /* children first: nested type checks look at them */
  oa_fb_vector kids;
  bool present;
  OA_RETURN_NOT_OK(
      oa_fb_get_vector(t, FLD_CHILDREN, "children", 4, &kids, &present));
  if (kids.n > c->r.tables_left)
    return oa_error_set(c->err, EINVAL,
                        "field '%s': %" PRId64
                        " children exceed the table budget",
                        c->path, kids.n);
  if (kids.n > 0) {
    f->children = calloc((size_t)kids.n, sizeof *f->children);
    if (!f->children)
      return oa_error_set(c->err, ENOMEM, "field '%s': out of memory", c->path);
    for (int64_t i = 0; i < kids.n; i++) {
      oa_fb_table ct;
      OA_RETURN_NOT_OK(oa_fb_vector_table(&kids, i, &ct));
      f->n_children = i + 1; /* so that reset frees a partial child */
      OA_RETURN_NOT_OK(decode_field(c, &ct, depth + 1, &f->children[i]));
    }
  }

  uint8_t tag;
  oa_fb_table tt;
  OA_RETURN_NOT_OK(oa_fb_get_u8(t, FLD_TYPE_TYPE, "type_type", 0, &tag));
  if (tag == T_NONE)
    return oa_error_set(c->err, EINVAL, "field '%s': has no type", c->path);
  if (tag >= T_COUNT)
    return oa_error_set(c->err, EINVAL, "field '%s': unknown type tag %d",
                        c->path, (int)tag);
  OA_RETURN_NOT_OK(
      oa_fb_get_table(t, FLD_TYPE, kFbTypeNames[tag], &tt, &present));
  if (!present)
    return oa_error_set(c->err, EINVAL, "field '%s': type %s has no table",
                        c->path, kFbTypeNames[tag]);
  OA_RETURN_NOT_OK(decode_type(c, tag, &tt, f));

  oa_fb_table de;
  OA_RETURN_NOT_OK(
      oa_fb_get_table(t, FLD_DICTIONARY, "dictionary", &de, &present));
  if (present) {
    oa_fb_table it;
    bool has_index;
    int16_t kind;
    f->dict.encoded = true;
    OA_RETURN_NOT_OK(oa_fb_get_i64(&de, DE_ID, "id", 0, &f->dict.id));
    OA_RETURN_NOT_OK(
        oa_fb_get_bool(&de, DE_ORDERED, "isOrdered", false, &f->dict.ordered));
    OA_RETURN_NOT_OK(oa_fb_get_i16(&de, DE_KIND, "dictionaryKind", 0, &kind));
    if (kind != 0)
      return oa_error_set(c->err, EINVAL,
                          "field '%s': unknown dictionaryKind %d", c->path,
                          (int)kind);
    OA_RETURN_NOT_OK(
        oa_fb_get_table(&de, DE_INDEX_TYPE, "indexType", &it, &has_index));
    f->dict.index_type = OA_TYPE_INT32;
    if (has_index)
      OA_RETURN_NOT_OK(
          decode_int(c, &it, "dictionary indexType", &f->dict.index_type));
  }
  return decode_kv(c, t, FLD_META, &f->metadata);
}

static int decode_field(dctx *c, const oa_fb_table *t, int32_t depth,
                        oa_field *f) {
  size_t plen = strlen(c->path);
  memset(f, 0, sizeof *f);
  int rc = decode_field_body(c, t, depth, f);
  c->path[plen] = 0;
  return rc;
}

static int decode_schema(dctx *c, const oa_fb_table *t, oa_schema **out) {
  int16_t endianness;
  OA_RETURN_NOT_OK(
      oa_fb_get_i16(t, SCH_ENDIANNESS, "endianness", 0, &endianness));
  if (endianness == 1)
    return oa_error_set(c->err, ENOTSUP, "big-endian data is not supported");
  if (endianness != 0)
    return oa_error_set(c->err, EINVAL, "schema: bad endianness %d",
                        (int)endianness);
  oa_fb_vector fields, features;
  bool present;
  OA_RETURN_NOT_OK(
      oa_fb_get_vector(t, SCH_FIELDS, "fields", 4, &fields, &present));
  /* features are informational (dictionary replacement, compression); the
   * vector is still bounds-checked */
  OA_RETURN_NOT_OK(
      oa_fb_get_vector(t, SCH_FEATURES, "features", 8, &features, &present));
  if (fields.n > c->r.tables_left)
    return oa_error_set(c->err, EINVAL,
                        "schema: %" PRId64 " fields exceed the table budget",
                        fields.n);
  oa_schema *s;
  OA_RETURN_NOT_OK(oa_schema_new(&s, c->err));
  int rc = 0;
  if (fields.n > 0) {
    s->fields = calloc((size_t)fields.n, sizeof *s->fields);
    if (!s->fields) {
      rc = oa_error_set(c->err, ENOMEM, "schema: out of memory");
      goto fail;
    }
  }
  for (int64_t i = 0; i < fields.n; i++) {
    oa_fb_table ft;
    OA_GOTO_NOT_OK(rc, oa_fb_vector_table(&fields, i, &ft), fail);
    s->n_fields = i + 1;
    c->path[0] = 0;
    OA_GOTO_NOT_OK(rc, decode_field(c, &ft, 1, &s->fields[i]), fail);
  }
  OA_GOTO_NOT_OK(rc, decode_kv(c, t, SCH_META, &s->metadata), fail);
  *out = s;
  return 0;
fail:
  oa_schema_release(s);
  return rc;
}

static int decode_batch(dctx *c, const oa_fb_table *t, int64_t body_length,
                        oa_ipc_batch_meta *out) {
  oa_fb_vector nodes, bufs, variadic;
  oa_fb_table comp;
  bool present;
  OA_RETURN_NOT_OK(oa_fb_get_i64(t, RB_LENGTH, "length", 0, &out->length));
  if (out->length < 0)
    return oa_error_set(c->err, EINVAL,
                        "record batch: negative length %" PRId64, out->length);
  OA_RETURN_NOT_OK(oa_fb_get_vector(t, RB_VARIADIC, "variadicBufferCounts", 8,
                                    &variadic, &present));
  if (variadic.n > 0)
    return oa_error_set(c->err, ENOTSUP,
                        "record batch: variadicBufferCounts (view types) are "
                        "not supported");
  OA_RETURN_NOT_OK(oa_fb_get_vector(t, RB_NODES, "nodes", FIELD_STRUCT_SIZE,
                                    &nodes, &present));
  OA_RETURN_NOT_OK(oa_fb_get_vector(t, RB_BUFFERS, "buffers", FIELD_STRUCT_SIZE,
                                    &bufs, &present));
  if (nodes.n > 0) {
    out->nodes = malloc((size_t)nodes.n * sizeof *out->nodes);
    if (!out->nodes)
      return oa_error_set(c->err, ENOMEM, "record batch: out of memory");
  }
  out->n_nodes = nodes.n;
  for (int64_t i = 0; i < nodes.n; i++) {
    const uint8_t *p = oa_fb_vector_elem(&nodes, i);
    oa_ipc_field_node *n = &out->nodes[i];
    n->length = oa_fb_load_i64(p);
    n->null_count = oa_fb_load_i64(p + 8);
    if (n->length < 0 || n->null_count < 0 || n->null_count > n->length)
      return oa_error_set(c->err, EINVAL,
                          "record batch: node %" PRId64 " has length %" PRId64
                          " and null_count %" PRId64,
                          i, n->length, n->null_count);
  }
  if (bufs.n > 0) {
    out->buffers = malloc((size_t)bufs.n * sizeof *out->buffers);
    if (!out->buffers)
      return oa_error_set(c->err, ENOMEM, "record batch: out of memory");
  }
  out->n_buffers = bufs.n;
  for (int64_t i = 0; i < bufs.n; i++) {
    const uint8_t *p = oa_fb_vector_elem(&bufs, i);
    oa_ipc_buffer_spec *b = &out->buffers[i];
    b->offset = oa_fb_load_i64(p);
    b->length = oa_fb_load_i64(p + 8);
    if (b->offset < 0 || b->length < 0 || b->offset > body_length ||
        b->length > body_length - b->offset)
      return oa_error_set(c->err, EINVAL,
                          "record batch: buffer %" PRId64 " (offset %" PRId64
                          ", length %" PRId64 ") outside the body (%" PRId64
                          " bytes)",
                          i, b->offset, b->length, body_length);
  }
  OA_RETURN_NOT_OK(
      oa_fb_get_table(t, RB_COMPRESSION, "compression", &comp, &present));
  out->compression = OA_COMPRESSION_NONE;
  if (present) {
    int8_t codec, method;
    OA_RETURN_NOT_OK(oa_fb_get_i8(&comp, BC_CODEC, "codec", 0, &codec));
    OA_RETURN_NOT_OK(oa_fb_get_i8(&comp, BC_METHOD, "method", 0, &method));
    if (method != 0)
      return oa_error_set(c->err, ENOTSUP,
                          "record batch: compression method %d is not "
                          "supported (only BUFFER)",
                          (int)method);
    if (codec == 0)
      out->compression = OA_COMPRESSION_LZ4_FRAME;
    else if (codec == 1)
      out->compression = OA_COMPRESSION_ZSTD;
    else
      return oa_error_set(c->err, EINVAL,
                          "record batch: unknown compression codec %d",
                          (int)codec);
  }
  return 0;
}

static int decode_message(dctx *c, oa_ipc_message_meta *out) {
  oa_fb_table msg, hdr;
  bool present;
  uint8_t tag;
  OA_RETURN_NOT_OK(oa_fb_root(&c->r, "Message", &msg));
  OA_RETURN_NOT_OK(
      oa_fb_get_i16(&msg, MSG_VERSION, "version", 0, &out->version));
  OA_RETURN_NOT_OK(check_version(out->version, c->err, "message"));
  OA_RETURN_NOT_OK(
      oa_fb_get_i64(&msg, MSG_BODY_LENGTH, "bodyLength", 0, &out->body_length));
  if (out->body_length < 0)
    return oa_error_set(c->err, EINVAL, "message: negative bodyLength %" PRId64,
                        out->body_length);
  OA_RETURN_NOT_OK(oa_fb_get_u8(&msg, MSG_HEADER_TYPE, "header_type", 0, &tag));
  out->header_type = tag;
  switch (tag) {
  case OA_IPC_HEADER_SCHEMA:
  case OA_IPC_HEADER_DICTIONARY_BATCH:
  case OA_IPC_HEADER_RECORD_BATCH:
    break;
  case OA_IPC_HEADER_TENSOR:
    return oa_error_set(c->err, ENOTSUP,
                        "message: Tensor messages are not supported");
  case OA_IPC_HEADER_SPARSE_TENSOR:
    return oa_error_set(c->err, ENOTSUP,
                        "message: SparseTensor messages are not supported");
  case 0:
    return oa_error_set(c->err, EINVAL, "message: has no header");
  default:
    return oa_error_set(c->err, EINVAL, "message: unknown header type %d",
                        (int)tag);
  }
  OA_RETURN_NOT_OK(oa_fb_get_table(&msg, MSG_HEADER, "header", &hdr, &present));
  if (!present)
    return oa_error_set(c->err, EINVAL, "message: header table is missing");
  OA_RETURN_NOT_OK(decode_kv(c, &msg, MSG_META, &out->custom_metadata));
  if (tag == OA_IPC_HEADER_SCHEMA) return decode_schema(c, &hdr, &out->schema);
  if (tag == OA_IPC_HEADER_RECORD_BATCH)
    return decode_batch(c, &hdr, out->body_length, &out->batch);
  oa_fb_table data;
  OA_RETURN_NOT_OK(oa_fb_get_i64(&hdr, DB_ID, "id", 0, &out->dict_id));
  OA_RETURN_NOT_OK(
      oa_fb_get_bool(&hdr, DB_IS_DELTA, "isDelta", false, &out->is_delta));
  OA_RETURN_NOT_OK(oa_fb_get_table(&hdr, DB_DATA, "data", &data, &present));
  if (!present)
    return oa_error_set(c->err, EINVAL,
                        "dictionary batch %" PRId64 ": data is missing",
                        out->dict_id);
  return decode_batch(c, &data, out->body_length, &out->batch);
}

static void dctx_init(dctx *c, const uint8_t *buf, int64_t len,
                      int32_t max_depth, oa_error *err) {
  if (max_depth <= 0) max_depth = 64;
  /* Message > Schema > Field... plus the type and dictionary tables */
  int32_t fb_depth = max_depth > INT32_MAX - 8 ? INT32_MAX : max_depth + 8;
  oa_fb_reader_init(&c->r, buf, len, 0, fb_depth, err);
  c->max_depth = max_depth;
  c->err = err;
  c->path[0] = 0;
}

int oa_ipc_message_meta_decode(const uint8_t *buf, int64_t len,
                               int32_t max_depth, oa_ipc_message_meta *out,
                               oa_error *err) {
  dctx c;
  oa_ipc_message_meta_reset(out);
  dctx_init(&c, buf, len, max_depth, err);
  int rc = decode_message(&c, out);
  if (rc) oa_ipc_message_meta_reset(out);
  return rc;
}

static int decode_blocks(dctx *c, const oa_fb_table *t, int slot,
                         const char *name, oa_ipc_block **out, int64_t *n) {
  oa_fb_vector v;
  bool present;
  OA_RETURN_NOT_OK(
      oa_fb_get_vector(t, slot, name, BLOCK_STRUCT_SIZE, &v, &present));
  if (v.n > 0) {
    *out = malloc((size_t)v.n * sizeof **out);
    if (!*out) return oa_error_set(c->err, ENOMEM, "footer: out of memory");
  }
  *n = v.n;
  for (int64_t i = 0; i < v.n; i++) {
    const uint8_t *p = oa_fb_vector_elem(&v, i);
    oa_ipc_block *b = &(*out)[i];
    b->offset = oa_fb_load_i64(p);
    b->metadata_length = oa_fb_load_i32(p + 8);
    b->body_length = oa_fb_load_i64(p + 16);
    if (b->offset < 0 || b->metadata_length < 0 || b->body_length < 0)
      return oa_error_set(c->err, EINVAL,
                          "footer: %s block %" PRId64 " has offset %" PRId64
                          ", metaDataLength %d, bodyLength %" PRId64,
                          name, i, b->offset, (int)b->metadata_length,
                          b->body_length);
  }
  return 0;
}

static int decode_footer(dctx *c, oa_ipc_footer *out) {
  oa_fb_table ft, st;
  bool present;
  OA_RETURN_NOT_OK(oa_fb_root(&c->r, "Footer", &ft));
  OA_RETURN_NOT_OK(oa_fb_get_i16(&ft, FT_VERSION, "version", 0, &out->version));
  /* pre-1.0 writers left the footer's version unset (V1): only the
   * messages' versions matter */
  if (out->version < 0 || out->version > OA_IPC_METADATA_V5)
    return oa_error_set(c->err, ENOTSUP, "footer: unknown metadata version %d",
                        (int)out->version);
  OA_RETURN_NOT_OK(oa_fb_get_table(&ft, FT_SCHEMA, "schema", &st, &present));
  if (!present) return oa_error_set(c->err, EINVAL, "footer: has no schema");
  OA_RETURN_NOT_OK(decode_schema(c, &st, &out->schema));
  OA_RETURN_NOT_OK(decode_blocks(c, &ft, FT_DICTIONARIES, "dictionaries",
                                 &out->dictionaries, &out->n_dictionaries));
  OA_RETURN_NOT_OK(decode_blocks(c, &ft, FT_BATCHES, "recordBatches",
                                 &out->batches, &out->n_batches));
  return decode_kv(c, &ft, FT_META, &out->custom_metadata);
}

int oa_ipc_footer_decode(const uint8_t *buf, int64_t len, int32_t max_depth,
                         oa_ipc_footer *out, oa_error *err) {
  dctx c;
  oa_ipc_footer_reset(out);
  dctx_init(&c, buf, len, max_depth, err);
  int rc = decode_footer(&c, out);
  if (rc) oa_ipc_footer_reset(out);
  return rc;
}

/* --------------------------------------------------------------- encoding */

typedef struct ectx {
  oa_fb_builder b;
  int rc; /* first failure found by this file (the builder has its own) */
  oa_error *err;
} ectx;

static void efail(ectx *c, int rc) {
  if (!c->rc) c->rc = rc;
}

static oa_fb_ref encode_kv(ectx *c, const oa_metadata *md) {
  if (md->n == 0 || c->rc) return 0;
  oa_fb_ref *refs = malloc((size_t)md->n * sizeof *refs);
  if (!refs) {
    efail(c, oa_error_set(c->err, ENOMEM, "metadata: out of memory"));
    return 0;
  }
  for (int64_t i = 0; i < md->n; i++) {
    const oa_kv *kv = &md->items[i];
    oa_fb_ref k = oa_fb_create_string(&c->b, kv->key, kv->key_len);
    oa_fb_ref v = oa_fb_create_string(&c->b, kv->value, kv->value_len);
    oa_fb_start_table(&c->b);
    oa_fb_add_ref(&c->b, KV_KEY, k);
    oa_fb_add_ref(&c->b, KV_VALUE, v);
    refs[i] = oa_fb_end_table(&c->b);
  }
  oa_fb_ref vec = oa_fb_create_vector_refs(&c->b, refs, md->n);
  free(refs);
  return vec;
}

static oa_fb_ref encode_int(ectx *c, oa_type_id id) {
  static const int32_t widths[] = {8, 16, 32, 64};
  int k = oa_type_is_signed_integer(id) ? (int)(id - OA_TYPE_INT8)
                                        : (int)(id - OA_TYPE_UINT8);
  oa_fb_start_table(&c->b);
  oa_fb_add_i32(&c->b, 0, widths[k], 0);
  oa_fb_add_bool(&c->b, 1, oa_type_is_signed_integer(id), false);
  return oa_fb_end_table(&c->b);
}

/* Type table of f; *tag receives the union tag. */
static oa_fb_ref encode_type(ectx *c, const oa_field *f, uint8_t *tag) {
  const oa_datatype *ty = &f->type;
  oa_fb_builder *b = &c->b;
  oa_fb_ref tz = 0, ids = 0;
  if (oa_type_is_integer(ty->id)) {
    *tag = T_INT;
    return encode_int(c, ty->id);
  }
  if (ty->id == OA_TYPE_TIMESTAMP && ty->timezone)
    tz = oa_fb_create_string(b, ty->timezone, (int64_t)strlen(ty->timezone));
  if (ty->id == OA_TYPE_SPARSE_UNION || ty->id == OA_TYPE_DENSE_UNION) {
    int32_t codes[OA_MAX_UNION_CHILDREN];
    if (f->n_children > OA_MAX_UNION_CHILDREN) {
      efail(c, oa_error_set(c->err, EINVAL,
                            "field '%s': union has %" PRId64
                            " children (at most %d)",
                            f->name, f->n_children, OA_MAX_UNION_CHILDREN));
      return 0;
    }
    for (int64_t i = 0; i < f->n_children; i++)
      codes[i] = ty->type_codes[i];
    ids = oa_fb_create_vector(b, codes, f->n_children, 4, 4);
  }
  oa_fb_start_table(b);
  switch (ty->id) {
  case OA_TYPE_NA:
    *tag = T_NULL;
    break;
  case OA_TYPE_BOOL:
    *tag = T_BOOL;
    break;
  case OA_TYPE_HALF_FLOAT:
  case OA_TYPE_FLOAT:
  case OA_TYPE_DOUBLE:
    *tag = T_FLOAT;
    oa_fb_add_i16(b, 0, (int16_t)(ty->id - OA_TYPE_HALF_FLOAT), 0);
    break;
  case OA_TYPE_STRING:
    *tag = T_UTF8;
    break;
  case OA_TYPE_LARGE_STRING:
    *tag = T_LARGE_UTF8;
    break;
  case OA_TYPE_BINARY:
    *tag = T_BINARY;
    break;
  case OA_TYPE_LARGE_BINARY:
    *tag = T_LARGE_BINARY;
    break;
  case OA_TYPE_FIXED_SIZE_BINARY:
    *tag = T_FIXED_SIZE_BINARY;
    oa_fb_add_i32(b, 0, ty->byte_width, 0);
    break;
  case OA_TYPE_DATE32:
  case OA_TYPE_DATE64:
    *tag = T_DATE;
    oa_fb_add_i16(b, 0, ty->id == OA_TYPE_DATE32 ? 0 : 1, 1);
    break;
  case OA_TYPE_TIME32:
  case OA_TYPE_TIME64:
    *tag = T_TIME;
    oa_fb_add_i16(b, 0, (int16_t)ty->unit, 1);
    oa_fb_add_i32(b, 1, ty->id == OA_TYPE_TIME32 ? 32 : 64, 32);
    break;
  case OA_TYPE_TIMESTAMP:
    *tag = T_TIMESTAMP;
    oa_fb_add_i16(b, 0, (int16_t)ty->unit, 0);
    oa_fb_add_ref(b, 1, tz);
    break;
  case OA_TYPE_DURATION:
    *tag = T_DURATION;
    oa_fb_add_i16(b, 0, (int16_t)ty->unit, 1);
    break;
  case OA_TYPE_INTERVAL_MONTHS:
  case OA_TYPE_INTERVAL_DAY_TIME:
  case OA_TYPE_INTERVAL_MONTH_DAY_NANO:
    *tag = T_INTERVAL;
    oa_fb_add_i16(b, 0, (int16_t)(ty->id - OA_TYPE_INTERVAL_MONTHS), 0);
    break;
  case OA_TYPE_DECIMAL128:
  case OA_TYPE_DECIMAL256:
    *tag = T_DECIMAL;
    oa_fb_add_i32(b, 0, ty->precision, 0);
    oa_fb_add_i32(b, 1, ty->scale, 0);
    oa_fb_add_i32(b, 2, ty->id == OA_TYPE_DECIMAL128 ? 128 : 256, 128);
    break;
  case OA_TYPE_LIST:
    *tag = T_LIST;
    break;
  case OA_TYPE_LARGE_LIST:
    *tag = T_LARGE_LIST;
    break;
  case OA_TYPE_FIXED_SIZE_LIST:
    *tag = T_FIXED_SIZE_LIST;
    oa_fb_add_i32(b, 0, ty->list_size, 0);
    break;
  case OA_TYPE_STRUCT:
    *tag = T_STRUCT;
    break;
  case OA_TYPE_MAP:
    *tag = T_MAP;
    oa_fb_add_bool(b, 0, ty->keys_sorted, false);
    break;
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION:
    *tag = T_UNION;
    oa_fb_add_i16(b, 0, ty->id == OA_TYPE_SPARSE_UNION ? 0 : 1, 0);
    oa_fb_add_ref(b, 1, ids);
    break;
  default:
    oa_fb_end_table(b);
    efail(c, oa_error_set(c->err, EINVAL, "field '%s': invalid type id %d",
                          f->name, (int)ty->id));
    return 0;
  }
  return oa_fb_end_table(b);
}

static oa_fb_ref encode_field(ectx *c, const oa_field *f, int depth) {
  oa_fb_builder *b = &c->b;
  oa_fb_ref children = 0;
  if (c->rc) return 0;
  /* guards the C stack against absurdly deep (or corrupted) schemas */
  if (depth > 4096) {
    efail(c, oa_error_set(c->err, E2BIG, "field '%s': nested too deeply",
                          f->name ? f->name : ""));
    return 0;
  }
  if (f->n_children > 0) {
    oa_fb_ref *refs = malloc((size_t)f->n_children * sizeof *refs);
    if (!refs) {
      efail(c, oa_error_set(c->err, ENOMEM, "schema: out of memory"));
      return 0;
    }
    for (int64_t i = 0; i < f->n_children; i++)
      refs[i] = encode_field(c, &f->children[i], depth + 1);
    if (!c->rc) children = oa_fb_create_vector_refs(b, refs, f->n_children);
    free(refs);
  } else {
    children = oa_fb_create_vector_refs(b, NULL, 0);
  }
  if (c->rc) return 0;
  const char *name = f->name ? f->name : "";
  oa_fb_ref nref = oa_fb_create_string(b, name, (int64_t)strlen(name));
  uint8_t tag = 0;
  oa_fb_ref type = encode_type(c, f, &tag);
  oa_fb_ref dict = 0;
  if (f->dict.encoded) {
    if (!oa_type_is_integer(f->dict.index_type)) {
      efail(c, oa_error_set(c->err, EINVAL,
                            "field '%s': dictionary index type %s is not an "
                            "integer type",
                            name, oa_type_name(f->dict.index_type)));
      return 0;
    }
    oa_fb_ref it = encode_int(c, f->dict.index_type);
    oa_fb_start_table(b);
    oa_fb_add_i64(b, DE_ID, f->dict.id, 0);
    oa_fb_add_ref(b, DE_INDEX_TYPE, it);
    oa_fb_add_bool(b, DE_ORDERED, f->dict.ordered, false);
    dict = oa_fb_end_table(b);
  }
  oa_fb_ref md = encode_kv(c, &f->metadata);
  if (c->rc) return 0;
  oa_fb_start_table(b);
  oa_fb_add_ref(b, FLD_NAME, nref);
  oa_fb_add_bool(b, FLD_NULLABLE, f->nullable, false);
  oa_fb_add_u8(b, FLD_TYPE_TYPE, tag, 0);
  oa_fb_add_ref(b, FLD_TYPE, type);
  oa_fb_add_ref(b, FLD_DICTIONARY, dict);
  oa_fb_add_ref(b, FLD_CHILDREN, children);
  oa_fb_add_ref(b, FLD_META, md);
  return oa_fb_end_table(b);
}

static oa_fb_ref encode_schema(ectx *c, const oa_schema *s) {
  oa_fb_ref fields = 0;
  if (s->n_fields > 0) {
    oa_fb_ref *refs = malloc((size_t)s->n_fields * sizeof *refs);
    if (!refs) {
      efail(c, oa_error_set(c->err, ENOMEM, "schema: out of memory"));
      return 0;
    }
    for (int64_t i = 0; i < s->n_fields; i++)
      refs[i] = encode_field(c, &s->fields[i], 1);
    if (!c->rc) fields = oa_fb_create_vector_refs(&c->b, refs, s->n_fields);
    free(refs);
  } else {
    fields = oa_fb_create_vector_refs(&c->b, NULL, 0);
  }
  oa_fb_ref md = encode_kv(c, &s->metadata);
  if (c->rc) return 0;
  oa_fb_start_table(&c->b);
  oa_fb_add_ref(&c->b, SCH_FIELDS, fields);
  oa_fb_add_ref(&c->b, SCH_META, md);
  return oa_fb_end_table(&c->b);
}

static int ectx_finish(ectx *c, oa_fb_ref root, oa_bytes *out, bool pad) {
  int rc = c->rc;
  int64_t start = out->size;
  if (!rc) rc = oa_fb_builder_finish(&c->b, root, out, c->err);
  oa_fb_builder_reset(&c->b);
  if (rc) return rc;
  if (pad) {
    static const uint8_t zeros[8] = {0};
    int64_t n = (8 - ((out->size - start) & 7)) & 7;
    if (oa_bytes_append(out, zeros, n) != 0)
      return oa_error_set(c->err, ENOMEM, "message: out of memory");
  }
  return 0;
}

static oa_fb_ref encode_message(ectx *c, uint8_t tag, oa_fb_ref header,
                                int64_t body_length) {
  oa_fb_start_table(&c->b);
  oa_fb_add_i16(&c->b, MSG_VERSION, OA_IPC_METADATA_V5, 0);
  oa_fb_add_u8(&c->b, MSG_HEADER_TYPE, tag, 0);
  oa_fb_add_ref(&c->b, MSG_HEADER, header);
  oa_fb_add_i64(&c->b, MSG_BODY_LENGTH, body_length, 0);
  return oa_fb_end_table(&c->b);
}

int oa_ipc_encode_schema_message(const oa_schema *schema, oa_bytes *out,
                                 oa_error *err) {
  ectx c = {.rc = 0, .err = err};
  if (!schema) return oa_error_set(err, EINVAL, "schema message: no schema");
  oa_fb_builder_init(&c.b);
  oa_fb_ref s = encode_schema(&c, schema);
  oa_fb_ref m = c.rc ? 0 : encode_message(&c, OA_IPC_HEADER_SCHEMA, s, 0);
  return ectx_finish(&c, m, out, true);
}

static oa_fb_ref encode_batch(ectx *c, const oa_ipc_batch_meta *batch) {
  oa_fb_builder *b = &c->b;
  /* FieldNode and Buffer are both two int64s: the C structs match their
   * 16-byte layout exactly, but copy field by field to not depend on it */
  if (batch->n_nodes < 0 || batch->n_buffers < 0 ||
      (batch->n_nodes > 0 && !batch->nodes) ||
      (batch->n_buffers > 0 && !batch->buffers)) {
    efail(c, oa_error_set(c->err, EINVAL, "batch message: bad nodes/buffers"));
    return 0;
  }
  int64_t n =
      batch->n_nodes > batch->n_buffers ? batch->n_nodes : batch->n_buffers;
  int64_t *tmp = malloc((size_t)(n > 0 ? n : 1) * 16);
  if (!tmp) {
    efail(c, oa_error_set(c->err, ENOMEM, "batch message: out of memory"));
    return 0;
  }
  for (int64_t i = 0; i < batch->n_nodes; i++) {
    tmp[2 * i] = batch->nodes[i].length;
    tmp[2 * i + 1] = batch->nodes[i].null_count;
  }
  oa_fb_ref nodes = oa_fb_create_vector(b, tmp, batch->n_nodes, 16, 8);
  for (int64_t i = 0; i < batch->n_buffers; i++) {
    tmp[2 * i] = batch->buffers[i].offset;
    tmp[2 * i + 1] = batch->buffers[i].length;
  }
  oa_fb_ref bufs = oa_fb_create_vector(b, tmp, batch->n_buffers, 16, 8);
  free(tmp);
  oa_fb_ref comp = 0;
  if (batch->compression != OA_COMPRESSION_NONE) {
    int8_t codec;
    if (batch->compression == OA_COMPRESSION_LZ4_FRAME)
      codec = 0;
    else if (batch->compression == OA_COMPRESSION_ZSTD)
      codec = 1;
    else {
      efail(c, oa_error_set(c->err, EINVAL,
                            "batch message: unknown compression %d",
                            (int)batch->compression));
      return 0;
    }
    oa_fb_start_table(b);
    /* written even though LZ4_FRAME is the default: explicit for readers */
    oa_fb_add_i8(b, BC_CODEC, codec, -1);
    oa_fb_add_i8(b, BC_METHOD, 0, -1);
    comp = oa_fb_end_table(b);
  }
  oa_fb_start_table(b);
  oa_fb_add_i64(b, RB_LENGTH, batch->length, 0);
  oa_fb_add_ref(b, RB_NODES, nodes);
  oa_fb_add_ref(b, RB_BUFFERS, bufs);
  oa_fb_add_ref(b, RB_COMPRESSION, comp);
  return oa_fb_end_table(b);
}

int oa_ipc_encode_batch_message(const oa_ipc_batch_meta *batch,
                                int64_t body_length, bool is_dictionary,
                                int64_t dict_id, bool is_delta, oa_bytes *out,
                                oa_error *err) {
  ectx c = {.rc = 0, .err = err};
  if (!batch) return oa_error_set(err, EINVAL, "batch message: no batch");
  if (body_length < 0 || batch->length < 0)
    return oa_error_set(err, EINVAL, "batch message: negative length");
  oa_fb_builder_init(&c.b);
  oa_fb_ref rb = encode_batch(&c, batch);
  oa_fb_ref hdr = rb;
  uint8_t tag = OA_IPC_HEADER_RECORD_BATCH;
  if (is_dictionary && !c.rc) {
    oa_fb_start_table(&c.b);
    oa_fb_add_i64(&c.b, DB_ID, dict_id, 0);
    oa_fb_add_ref(&c.b, DB_DATA, rb);
    oa_fb_add_bool(&c.b, DB_IS_DELTA, is_delta, false);
    hdr = oa_fb_end_table(&c.b);
    tag = OA_IPC_HEADER_DICTIONARY_BATCH;
  }
  oa_fb_ref m = c.rc ? 0 : encode_message(&c, tag, hdr, body_length);
  return ectx_finish(&c, m, out, true);
}

static oa_fb_ref encode_blocks(ectx *c, const oa_ipc_block *blocks, int64_t n) {
  uint8_t *tmp = calloc((size_t)(n > 0 ? n : 1), BLOCK_STRUCT_SIZE);
  if (!tmp) {
    efail(c, oa_error_set(c->err, ENOMEM, "footer: out of memory"));
    return 0;
  }
  for (int64_t i = 0; i < n; i++) {
    uint8_t *p = tmp + i * BLOCK_STRUCT_SIZE;
    memcpy(p, &blocks[i].offset, 8);
    memcpy(p + 8, &blocks[i].metadata_length, 4);
    memcpy(p + 16, &blocks[i].body_length, 8); /* 4 bytes padding before */
  }
  oa_fb_ref v = oa_fb_create_vector(&c->b, tmp, n, BLOCK_STRUCT_SIZE, 8);
  free(tmp);
  return v;
}

int oa_ipc_encode_footer(const oa_ipc_footer *footer, oa_bytes *out,
                         oa_error *err) {
  ectx c = {.rc = 0, .err = err};
  if (!footer || !footer->schema)
    return oa_error_set(err, EINVAL, "footer: no schema");
  if (footer->n_dictionaries < 0 || footer->n_batches < 0 ||
      (footer->n_dictionaries > 0 && !footer->dictionaries) ||
      (footer->n_batches > 0 && !footer->batches))
    return oa_error_set(err, EINVAL, "footer: bad block lists");
  oa_fb_builder_init(&c.b);
  oa_fb_ref s = encode_schema(&c, footer->schema);
  oa_fb_ref d =
      c.rc ? 0
           : encode_blocks(&c, footer->dictionaries, footer->n_dictionaries);
  oa_fb_ref r =
      c.rc ? 0 : encode_blocks(&c, footer->batches, footer->n_batches);
  oa_fb_ref md = encode_kv(&c, &footer->custom_metadata);
  oa_fb_ref root = 0;
  if (!c.rc) {
    int16_t version = footer->version >= OA_IPC_METADATA_V4
                          ? footer->version
                          : OA_IPC_METADATA_V5;
    oa_fb_start_table(&c.b);
    oa_fb_add_i16(&c.b, FT_VERSION, version, 0);
    oa_fb_add_ref(&c.b, FT_SCHEMA, s);
    oa_fb_add_ref(&c.b, FT_DICTIONARIES, d);
    oa_fb_add_ref(&c.b, FT_BATCHES, r);
    oa_fb_add_ref(&c.b, FT_META, md);
    root = oa_fb_end_table(&c.b);
  }
  return ectx_finish(&c, root, out, false);
}
