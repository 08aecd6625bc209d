/* Decoder: one message (verified flatbuffer + body) -> schema, dictionary or
 * record batch. Every node and buffer is checked against the schema's layout
 * and the body before use; arrays point into the body (zero-copy) unless a
 * buffer was compressed or misaligned. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/internal.h"
#include "ipc/ipc_internal.h"

typedef struct dec_dict {
  int64_t id;
  oa_field value_field;
  oa_array values;
  bool have;
} dec_dict;

struct oa_ipc_decoder {
  oa_ipc_read_options opt;
  oa_schema *schema;
  int64_t n_dicts;
  dec_dict *dicts;
  int64_t n_batches;
  int64_t n_dict_batches;
  bool forbid_replacement;
  oa_ipc_codec_ctx codec;
};

typedef struct load_ctx {
  oa_ipc_codec_ctx *codec;
  const oa_ipc_batch_meta *meta;
  const oa_buffer *body;
  int64_t body_len;
  int64_t node_i, buf_i;
  int64_t budget, limit;
  int16_t version;
  char what[64];
} load_ctx;

static int oom(oa_error *err) {
  return oa_error_set(err, ENOMEM, "ipc decoder: out of memory");
}

static void free_dicts(oa_ipc_decoder *dec) {
  for (int64_t i = 0; i < dec->n_dicts; i++) {
    oa_field_reset(&dec->dicts[i].value_field);
    oa_array_reset(&dec->dicts[i].values);
  }
  free(dec->dicts);
  dec->dicts = NULL;
  dec->n_dicts = 0;
}

static dec_dict *find_dict(oa_ipc_decoder *dec, int64_t id) {
  for (int64_t i = 0; i < dec->n_dicts; i++)
    if (dec->dicts[i].id == id) return &dec->dicts[i];
  return NULL;
}

static int collect_dicts(oa_ipc_decoder *dec, const oa_field *f, int depth,
                         oa_error *err) {
  if (depth > dec->opt.max_depth)
    return oa_error_set(err, E2BIG, "schema nesting deeper than %d",
                        (int)dec->opt.max_depth);
  if (f->dict.encoded) {
    if (!oa_type_is_integer(f->dict.index_type))
      return oa_error_set(err, EINVAL,
                          "field '%s': dictionary index type %s is not an "
                          "integer",
                          f->name, oa_type_name(f->dict.index_type));
    dec_dict *d = find_dict(dec, f->dict.id);
    oa_field tmp;
    OA_RETURN_NOT_OK(oa_field_copy(&tmp, f, err));
    tmp.dict.encoded = false;
    if (d) {
      /* fields sharing an id must share the value type */
      char *name = tmp.name;
      tmp.name = d->value_field.name;
      tmp.nullable = d->value_field.nullable;
      bool eq = oa_field_equals(&tmp, &d->value_field, false, err);
      tmp.name = name;
      oa_field_reset(&tmp);
      if (!eq)
        return oa_error_prefix(
            err, EINVAL,
            "fields sharing dictionary %lld differ: ", (long long)f->dict.id);
    } else {
      d = realloc(dec->dicts, (size_t)(dec->n_dicts + 1) * sizeof *d);
      if (!d) {
        oa_field_reset(&tmp);
        return oom(err);
      }
      dec->dicts = d;
      d = &dec->dicts[dec->n_dicts++];
      memset(d, 0, sizeof *d);
      d->id = f->dict.id;
      d->value_field = tmp;
    }
  }
  for (int64_t i = 0; i < f->n_children; i++)
    OA_RETURN_NOT_OK(collect_dicts(dec, &f->children[i], depth + 1, err));
  return 0;
}

int oa_ipc_decoder_new(oa_ipc_decoder **out, const oa_ipc_read_options *opt,
                       oa_error *err) {
  oa_ipc_decoder *dec = calloc(1, sizeof *dec);
  if (!dec) return oom(err);
  if (opt)
    dec->opt = *opt;
  else
    oa_ipc_read_options_init(&dec->opt);
  *out = dec;
  return 0;
}

void oa_ipc_decoder_free(oa_ipc_decoder *dec) {
  if (!dec) return;
  free_dicts(dec);
  oa_ipc_codec_ctx_reset(&dec->codec);
  oa_schema_release(dec->schema);
  free(dec);
}

void oa_ipc_decoder_forbid_replacement(oa_ipc_decoder *dec, bool forbid) {
  dec->forbid_replacement = forbid;
}

oa_schema *oa_ipc_decoder_schema(const oa_ipc_decoder *dec) {
  return dec->schema;
}

int oa_ipc_decoder_set_schema(oa_ipc_decoder *dec, oa_schema *schema,
                              oa_error *err) {
  free_dicts(dec);
  oa_schema_release(dec->schema);
  dec->schema = NULL;
  for (int64_t i = 0; i < schema->n_fields; i++) {
    int rc = collect_dicts(dec, &schema->fields[i], 0, err);
    if (rc) {
      free_dicts(dec);
      return rc;
    }
  }
  oa_schema_retain(schema);
  dec->schema = schema;
  return 0;
}

/* ------------------------------------------------------------ loading */

static bool has_validity(const oa_field *f, int16_t version) {
  if (f->dict.encoded) return true;
  oa_type_id t = f->type.id;
  if (t == OA_TYPE_NA) return false;
  /* unions had a validity bitmap before metadata V5 */
  if (t == OA_TYPE_SPARSE_UNION || t == OA_TYPE_DENSE_UNION)
    return version < OA_IPC_METADATA_V5;
  return true;
}

static int next_node(load_ctx *c, const oa_field *f, oa_ipc_field_node *node,
                     oa_error *err) {
  if (c->node_i >= c->meta->n_nodes)
    return oa_error_set(err, EINVAL,
                        "%s, field '%s': the message has only %lld field "
                        "nodes",
                        c->what, f->name, (long long)c->meta->n_nodes);
  *node = c->meta->nodes[c->node_i++];
  /* no real array comes near 2^56 rows; the bound keeps size math exact */
  if (node->length < 0 || node->length > ((int64_t)1 << 56) ||
      node->null_count < 0 || node->null_count > node->length)
    return oa_error_set(err, EINVAL,
                        "%s, field '%s': invalid node (length %lld, null "
                        "count %lld)",
                        c->what, f->name, (long long)node->length,
                        (long long)node->null_count);
  return 0;
}

static int next_buffer(load_ctx *c, const oa_field *f, int which,
                       oa_buffer *out, oa_error *err) {
  memset(out, 0, sizeof *out);
  if (c->buf_i >= c->meta->n_buffers)
    return oa_error_set(err, EINVAL,
                        "%s, field '%s': the message has only %lld buffers",
                        c->what, f->name, (long long)c->meta->n_buffers);
  oa_ipc_buffer_spec spec = c->meta->buffers[c->buf_i++];
  if (spec.offset < 0 || spec.length < 0 || spec.offset > c->body_len ||
      spec.length > c->body_len - spec.offset)
    return oa_error_set(err, EINVAL,
                        "%s, field '%s' buffer %d: offset %lld + length %lld "
                        "exceeds body length %lld",
                        c->what, f->name, which, (long long)spec.offset,
                        (long long)spec.length, (long long)c->body_len);
  if (spec.length == 0) return 0;
  oa_buffer raw = {c->body->data + spec.offset, spec.length, c->body->region};
  if (c->meta->compression != OA_COMPRESSION_NONE) {
    int rc = oa_ipc_decompress_buffer_ctx(c->codec, c->meta->compression, &raw,
                                          &c->budget, c->limit, out, err);
    if (rc)
      return oa_error_prefix(err, rc, "%s, field '%s' buffer %d: ", c->what,
                             f->name, which);
  } else {
    *out = raw;
    oa_region_retain(raw.region);
  }
  if (out->size > 0 && ((uintptr_t)out->data & 7) != 0) {
    oa_region *r = oa_region_alloc(out->size);
    if (!r) {
      oa_region_release(out->region);
      memset(out, 0, sizeof *out);
      return oom(err);
    }
    memcpy(r->data, out->data, (size_t)out->size);
    oa_region_release(out->region);
    out->data = r->data;
    out->region = r;
  }
  return 0;
}

static int need(load_ctx *c, const oa_field *f, int which, const oa_buffer *b,
                int64_t bytes, oa_error *err) {
  if (b->size < bytes)
    return oa_error_set(
        err, EINVAL, "%s, field '%s' buffer %d: %lld bytes, %lld needed",
        c->what, f->name, which, (long long)b->size, (long long)bytes);
  return 0;
}

static int64_t read_offset(const oa_buffer *b, int64_t i, int w) {
  if (w == 4) {
    int32_t v;
    memcpy(&v, b->data + 4 * i, 4);
    return v;
  }
  int64_t v;
  memcpy(&v, b->data + 8 * i, 8);
  return v;
}

/* Offsets buffer for n elements; an empty one is accepted for n == 0. */
static int load_offsets(load_ctx *c, const oa_field *f, oa_array *a, int w,
                        int64_t *last, oa_error *err) {
  OA_RETURN_NOT_OK(next_buffer(c, f, 1, &a->buffers[1], err));
  if (a->buffers[1].size == 0 && a->length == 0) {
    a->buffers[1].data = oa_ipc_zeros;
    a->buffers[1].size = w;
  }
  OA_RETURN_NOT_OK(need(c, f, 1, &a->buffers[1], (a->length + 1) * w, err));
  int64_t first = read_offset(&a->buffers[1], 0, w);
  *last = read_offset(&a->buffers[1], a->length, w);
  if (first < 0 || *last < first)
    return oa_error_set(err, EINVAL,
                        "%s, field '%s': offsets run from %lld to %lld",
                        c->what, f->name, (long long)first, (long long)*last);
  return 0;
}

static int load_array(load_ctx *c, const oa_field *f, oa_array *a, int depth,
                      oa_error *err);

static int load_children(load_ctx *c, const oa_field *f, oa_array *a, int depth,
                         int64_t min_len, oa_error *err) {
  if (f->n_children == 0) return 0;
  a->children = calloc((size_t)f->n_children, sizeof *a->children);
  if (!a->children) return oom(err);
  for (int64_t i = 0; i < f->n_children; i++) {
    a->n_children = i + 1;
    OA_RETURN_NOT_OK(
        load_array(c, &f->children[i], &a->children[i], depth + 1, err));
    if (a->children[i].length < min_len)
      return oa_error_set(err, EINVAL,
                          "%s, field '%s': child '%s' has %lld values, %lld "
                          "needed",
                          c->what, f->name, f->children[i].name,
                          (long long)a->children[i].length, (long long)min_len);
  }
  return 0;
}

static int load_array(load_ctx *c, const oa_field *f, oa_array *a, int depth,
                      oa_error *err) {
  if (depth > 512)
    return oa_error_set(err, E2BIG, "%s: nesting too deep", c->what);
  oa_ipc_field_node node = {0, 0};
  OA_RETURN_NOT_OK(next_node(c, f, &node, err));
  int64_t n = node.length;
  a->length = n;
  a->offset = 0;
  a->null_count = node.null_count;
  oa_type_id t = oa_physical_id_(f);
  a->n_buffers = f->dict.encoded ? 2 : oa_layout_n_buffers(t);
  if (has_validity(f, c->version)) {
    oa_buffer v;
    OA_RETURN_NOT_OK(next_buffer(c, f, 0, &v, err));
    bool is_union = t == OA_TYPE_SPARSE_UNION || t == OA_TYPE_DENSE_UNION;
    if (is_union || v.size == 0) {
      /* No bitmap is kept, but v may still hold a reference: an empty
       * buffer can be a compressed one with only its -1 prefix. */
      oa_region_release(v.region);
      v.region = NULL;
    }
    if (is_union) {
      if (v.size > 0 && node.null_count > 0)
        return oa_error_set(err, ENOTSUP,
                            "%s, field '%s': pre-1.0 union with top-level "
                            "nulls",
                            c->what, f->name);
      a->null_count = 0;
    } else if (v.size == 0) {
      if (node.null_count > 0)
        return oa_error_set(err, EINVAL,
                            "%s, field '%s': %lld nulls but no validity "
                            "bitmap",
                            c->what, f->name, (long long)node.null_count);
    } else {
      a->buffers[0] = v;
      OA_RETURN_NOT_OK(need(c, f, 0, &v, (n + 7) / 8, err));
    }
  }
  if (f->dict.encoded) {
    OA_RETURN_NOT_OK(next_buffer(c, f, 1, &a->buffers[1], err));
    int w = oa_int_width_(t);
    if (!w)
      return oa_error_set(err, EINVAL,
                          "%s, field '%s': bad dictionary index type", c->what,
                          f->name);
    return need(c, f, 1, &a->buffers[1], n * w, err);
  }
  switch (t) {
  case OA_TYPE_NA:
    a->null_count = n;
    return 0;
  case OA_TYPE_BOOL:
    OA_RETURN_NOT_OK(next_buffer(c, f, 1, &a->buffers[1], err));
    return need(c, f, 1, &a->buffers[1], (n + 7) / 8, err);
  case OA_TYPE_STRING:
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_LARGE_BINARY: {
    int w = (t == OA_TYPE_STRING || t == OA_TYPE_BINARY) ? 4 : 8;
    int64_t last;
    OA_RETURN_NOT_OK(load_offsets(c, f, a, w, &last, err));
    OA_RETURN_NOT_OK(next_buffer(c, f, 2, &a->buffers[2], err));
    return need(c, f, 2, &a->buffers[2], last, err);
  }
  case OA_TYPE_LIST:
  case OA_TYPE_LARGE_LIST:
  case OA_TYPE_MAP: {
    int64_t last;
    OA_RETURN_NOT_OK(
        load_offsets(c, f, a, t == OA_TYPE_LARGE_LIST ? 8 : 4, &last, err));
    if (f->n_children != 1)
      return oa_error_set(err, EINVAL, "%s, field '%s': list needs one child",
                          c->what, f->name);
    return load_children(c, f, a, depth, last, err);
  }
  case OA_TYPE_FIXED_SIZE_LIST: {
    int64_t ls = f->type.list_size;
    if (f->n_children != 1 || ls < 0 || (ls > 0 && n > INT64_MAX / ls))
      return oa_error_set(err, EINVAL, "%s, field '%s': bad fixed_size_list",
                          c->what, f->name);
    return load_children(c, f, a, depth, n * ls, err);
  }
  case OA_TYPE_STRUCT:
    return load_children(c, f, a, depth, n, err);
  case OA_TYPE_SPARSE_UNION:
  case OA_TYPE_DENSE_UNION:
    OA_RETURN_NOT_OK(next_buffer(c, f, 1, &a->buffers[0], err));
    OA_RETURN_NOT_OK(need(c, f, 1, &a->buffers[0], n, err));
    if (t == OA_TYPE_DENSE_UNION) {
      OA_RETURN_NOT_OK(next_buffer(c, f, 2, &a->buffers[1], err));
      OA_RETURN_NOT_OK(need(c, f, 2, &a->buffers[1], n * 4, err));
    }
    return load_children(c, f, a, depth, t == OA_TYPE_SPARSE_UNION ? n : 0,
                         err);
  default: {
    int64_t bits = oa_datatype_bit_width(&f->type);
    if (bits <= 0 || bits % 8)
      return oa_error_set(err, ENOTSUP, "%s, field '%s': unsupported type %s",
                          c->what, f->name, oa_type_name(t));
    if (n > INT64_MAX / 64)
      return oa_error_set(err, EINVAL, "%s, field '%s': length %lld too large",
                          c->what, f->name, (long long)n);
    OA_RETURN_NOT_OK(next_buffer(c, f, 1, &a->buffers[1], err));
    return need(c, f, 1, &a->buffers[1], n * (bits / 8), err);
  }
  }
}

/* Gives every dictionary-encoded array in the tree its current dictionary. */
static int attach_dicts(oa_ipc_decoder *dec, const char *what,
                        const oa_field *f, oa_array *a, oa_error *err) {
  if (f->dict.encoded) {
    dec_dict *d = find_dict(dec, f->dict.id);
    if (!d || !d->have)
      return oa_error_set(err, EINVAL,
                          "%s, field '%s': dictionary id %lld has not been "
                          "sent",
                          what, f->name, (long long)f->dict.id);
    a->dictionary = calloc(1, sizeof *a->dictionary);
    if (!a->dictionary) return oom(err);
    return oa_array_copy(a->dictionary, &d->values, err);
  }
  for (int64_t i = 0; i < f->n_children && i < a->n_children; i++)
    OA_RETURN_NOT_OK(
        attach_dicts(dec, what, &f->children[i], &a->children[i], err));
  return 0;
}

/* Loads n_fields columns from the message into cols (zeroed). */
static int load_columns(oa_ipc_decoder *dec, load_ctx *c,
                        const oa_field *fields, int64_t n_fields,
                        oa_array *cols, oa_error *err) {
  const oa_ipc_batch_meta *m = c->meta;
  if (m->length < 0)
    return oa_error_set(err, EINVAL, "%s: negative length %lld", c->what,
                        (long long)m->length);
  for (int64_t i = 0; i < n_fields; i++) {
    OA_RETURN_NOT_OK(load_array(c, &fields[i], &cols[i], 0, err));
    if (cols[i].length != m->length)
      return oa_error_set(
          err, EINVAL, "%s, field '%s': %lld rows, the batch has %lld", c->what,
          fields[i].name, (long long)cols[i].length, (long long)m->length);
  }
  if (c->node_i != m->n_nodes || c->buf_i != m->n_buffers)
    return oa_error_set(err, EINVAL,
                        "%s: %lld field nodes and %lld buffers, the schema "
                        "uses %lld and %lld",
                        c->what, (long long)m->n_nodes, (long long)m->n_buffers,
                        (long long)c->node_i, (long long)c->buf_i);
  for (int64_t i = 0; i < n_fields; i++) {
    OA_RETURN_NOT_OK(attach_dicts(dec, c->what, &fields[i], &cols[i], err));
    if (dec->opt.validate) {
      int rc =
          oa_array_validate(&fields[i], &cols[i], dec->opt.check_utf8, err);
      if (rc)
        return oa_error_prefix(err, rc, "%s, field '%s': ", c->what,
                               fields[i].name);
    }
  }
  return 0;
}

static void ctx_init(load_ctx *c, oa_ipc_decoder *dec,
                     const oa_ipc_message_meta *m, const oa_buffer *body) {
  memset(c, 0, sizeof *c);
  c->codec = &dec->codec;
  c->meta = &m->batch;
  c->body = body;
  c->body_len = m->body_length;
  c->limit = dec->opt.max_decompressed_size;
  c->budget = c->limit;
  c->version = m->version;
}

static int decode_dictionary(oa_ipc_decoder *dec, oa_ipc_message_meta *m,
                             const oa_buffer *body, oa_error *err) {
  load_ctx c;
  ctx_init(&c, dec, m, body);
  snprintf(c.what, sizeof c.what, "dictionary batch %lld (id %lld)",
           (long long)dec->n_dict_batches, (long long)m->dict_id);
  dec->n_dict_batches++;
  dec_dict *d = find_dict(dec, m->dict_id);
  if (!d)
    return oa_error_set(err, EINVAL, "%s: no field uses this dictionary id",
                        c.what);
  if (!m->is_delta && d->have && dec->forbid_replacement)
    return oa_error_set(err, EINVAL,
                        "%s: dictionary replacement is not allowed in the "
                        "IPC file format",
                        c.what);
  oa_array values;
  oa_array_init(&values);
  int rc = load_columns(dec, &c, &d->value_field, 1, &values, err);
  if (!rc && m->is_delta && d->have) {
    oa_array both[2] = {d->values, values}, joined;
    /* node lengths are below 2^56 (next_node): the sum cannot overflow */
    const int64_t total = d->values.length + values.length;
    if (total > dec->opt.max_dictionary_size) {
      rc = oa_error_set(
          err, E2BIG, "%s: dictionary of %lld values exceeds the limit %lld",
          c.what, (long long)total, (long long)dec->opt.max_dictionary_size);
    } else {
      rc = oa_ipc_concat(&d->value_field, both, 2, &joined, err);
      if (!rc) {
        oa_array_reset(&values);
        oa_array_move(&values, &joined);
      }
    }
  }
  if (!rc && values.length > dec->opt.max_dictionary_size)
    rc = oa_error_set(err, E2BIG,
                      "%s: dictionary of %lld values exceeds the limit %lld",
                      c.what, (long long)values.length,
                      (long long)dec->opt.max_dictionary_size);
  if (rc) {
    oa_array_reset(&values);
    return rc;
  }
  oa_array_reset(&d->values);
  oa_array_move(&d->values, &values);
  d->have = true;
  return 0;
}

static int decode_batch(oa_ipc_decoder *dec, oa_ipc_message_meta *m,
                        const oa_buffer *body, oa_batch *out, oa_error *err) {
  load_ctx c;
  ctx_init(&c, dec, m, body);
  snprintf(c.what, sizeof c.what, "record batch %lld",
           (long long)dec->n_batches);
  dec->n_batches++;
  oa_schema *s = dec->schema;
  oa_array *cols =
      calloc((size_t)(s->n_fields ? s->n_fields : 1), sizeof *cols);
  if (!cols) return oom(err);
  int rc = load_columns(dec, &c, s->fields, s->n_fields, cols, err);
  if (!rc) rc = oa_batch_set(out, s, m->batch.length, cols, err);
  for (int64_t i = 0; i < s->n_fields; i++)
    oa_array_reset(&cols[i]);
  free(cols);
  return rc;
}

int oa_ipc_decoder_decode_meta(oa_ipc_decoder *dec, oa_ipc_message_meta *m,
                               const oa_buffer *body, oa_ipc_msg_type *type,
                               oa_batch *out, oa_error *err) {
  static const oa_buffer empty = {NULL, 0, NULL};
  if (!body) body = &empty;
  *type = OA_IPC_MSG_NONE;
  if (m->version < OA_IPC_METADATA_V4)
    return oa_error_set(err, ENOTSUP,
                        "metadata version V%d is not supported (V4 or V5)",
                        m->version + 1);
  if (m->body_length < 0 || m->body_length > body->size)
    return oa_error_set(err, EINVAL,
                        "message declares a body of %lld bytes, %lld present",
                        (long long)m->body_length, (long long)body->size);
  if (m->body_length > dec->opt.max_body_size)
    return oa_error_set(err, E2BIG, "body of %lld bytes exceeds the limit %lld",
                        (long long)m->body_length,
                        (long long)dec->opt.max_body_size);
  switch (m->header_type) {
  case OA_IPC_HEADER_SCHEMA:
    if (!m->schema) return oa_error_set(err, EINVAL, "schema message: empty");
    OA_RETURN_NOT_OK(oa_ipc_decoder_set_schema(dec, m->schema, err));
    *type = OA_IPC_MSG_SCHEMA;
    return 0;
  case OA_IPC_HEADER_DICTIONARY_BATCH:
    if (!dec->schema)
      return oa_error_set(err, EINVAL,
                          "dictionary batch before the schema message");
    OA_RETURN_NOT_OK(decode_dictionary(dec, m, body, err));
    *type = OA_IPC_MSG_DICTIONARY;
    return 0;
  case OA_IPC_HEADER_RECORD_BATCH:
    if (!dec->schema)
      return oa_error_set(err, EINVAL,
                          "record batch before the schema message");
    OA_RETURN_NOT_OK(decode_batch(dec, m, body, out, err));
    *type = OA_IPC_MSG_RECORD_BATCH;
    return 0;
  default:
    return oa_error_set(err, ENOTSUP, "message header type %d not supported",
                        m->header_type);
  }
}

int oa_ipc_decoder_decode(oa_ipc_decoder *dec, const uint8_t *meta,
                          int64_t meta_len, const oa_buffer *body,
                          oa_ipc_msg_type *type, oa_batch *out, oa_error *err) {
  *type = OA_IPC_MSG_NONE;
  if (meta_len > dec->opt.max_metadata_size)
    return oa_error_set(
        err, E2BIG, "metadata of %lld bytes exceeds the limit %lld",
        (long long)meta_len, (long long)dec->opt.max_metadata_size);
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  int rc =
      oa_ipc_message_meta_decode(meta, meta_len, dec->opt.max_depth, &m, err);
  if (!rc) rc = oa_ipc_decoder_decode_meta(dec, &m, body, type, out, err);
  oa_ipc_message_meta_reset(&m);
  return rc;
}
