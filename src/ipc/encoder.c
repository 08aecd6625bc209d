/* Encoder: batches -> Message flatbuffer + body segments. Uncompressed bodies
 * reference the arrays' own buffers; only re-aligned bitmaps and rebased
 * offsets of sliced arrays are copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/internal.h"
#include "ipc/ipc_internal.h"

typedef struct enc_dict {
  int64_t id;
  oa_field value_field; /* the field with dict.encoded cleared */
  oa_array sent;        /* what the reader has now (shares regions) */
  bool have;
  int64_t seen_batch; /* last batch number that emitted/checked it */
} enc_dict;

struct oa_ipc_encoder {
  oa_schema *schema;
  oa_ipc_write_options opt;
  bool forbid_replacement;
  int64_t n_dicts;
  enc_dict *dicts;
  int64_t n_batches;
  oa_ipc_codec_ctx codec;
};

/* Body assembly for one message. */
typedef struct body_ctx {
  oa_ipc_message *msg;
  oa_ipc_batch_meta meta;
  int64_t cap_nodes, cap_buffers;
  const oa_ipc_write_options *opt;
  oa_ipc_codec_ctx *codec;
  oa_bytes cbody; /* compressed body */
} body_ctx;

static int oom(oa_error *err) {
  return oa_error_set(err, ENOMEM, "ipc encoder: out of memory");
}

static int add_segment(oa_ipc_message *m, const uint8_t *data, int64_t size,
                       oa_region *region) {
  if (m->n_segments == m->cap_segments) {
    int64_t cap = m->cap_segments ? m->cap_segments * 2 : 16;
    oa_buffer *s = realloc(m->segments, (size_t)cap * sizeof *s);
    if (!s) return ENOMEM;
    m->segments = s;
    m->cap_segments = cap;
  }
  oa_buffer *b = &m->segments[m->n_segments++];
  b->data = data;
  b->size = size;
  b->region = region;
  oa_region_retain(region);
  return 0;
}

static int add_node(body_ctx *c, int64_t length, int64_t null_count,
                    oa_error *err) {
  if (c->meta.n_nodes == c->cap_nodes) {
    int64_t cap = c->cap_nodes ? c->cap_nodes * 2 : 16;
    oa_ipc_field_node *n = realloc(c->meta.nodes, (size_t)cap * sizeof *n);
    if (!n) return oom(err);
    c->meta.nodes = n;
    c->cap_nodes = cap;
  }
  c->meta.nodes[c->meta.n_nodes].length = length;
  c->meta.nodes[c->meta.n_nodes].null_count = null_count;
  c->meta.n_nodes++;
  return 0;
}

/* Adds one body buffer: referenced (uncompressed) or compressed into cbody. */
static int add_buffer(body_ctx *c, const uint8_t *data, int64_t size,
                      oa_region *region, oa_error *err) {
  if (c->meta.n_buffers == c->cap_buffers) {
    int64_t cap = c->cap_buffers ? c->cap_buffers * 2 : 32;
    oa_ipc_buffer_spec *b = realloc(c->meta.buffers, (size_t)cap * sizeof *b);
    if (!b) return oom(err);
    c->meta.buffers = b;
    c->cap_buffers = cap;
  }
  oa_ipc_buffer_spec *spec = &c->meta.buffers[c->meta.n_buffers++];
  if (c->opt->compression == OA_COMPRESSION_NONE) {
    oa_ipc_message *m = c->msg;
    spec->offset = m->body_length;
    spec->length = size;
    if (size > 0) {
      if (add_segment(m, data, size, region)) return oom(err);
      int64_t pad = oa_ipc_pad8(size) - size;
      if (pad && add_segment(m, oa_ipc_zeros, pad, NULL)) return oom(err);
      m->body_length += size + pad;
    }
    return 0;
  }
  int64_t start = c->cbody.size;
  OA_RETURN_NOT_OK(oa_ipc_compress_buffer_ctx(
      c->codec, c->opt->compression, c->opt->compression_level,
      c->opt->skip_incompressible, data, size, &c->cbody, err));
  spec->offset = start;
  spec->length = c->cbody.size - start;
  int64_t pad = oa_ipc_pad8(spec->length) - spec->length;
  if (oa_bytes_append(&c->cbody, oa_ipc_zeros, pad)) return oom(err);
  return 0;
}

/* Adds a freshly allocated scratch region as a buffer and drops our ref. */
static int add_scratch(body_ctx *c, oa_region *r, int64_t size, oa_error *err) {
  int rc = add_buffer(c, r->data, size, r, err);
  oa_region_release(r);
  return rc;
}

static int64_t count_set_bits(const uint8_t *bits, int64_t off, int64_t n) {
  int64_t count = 0, i = 0;
  for (; i < n && ((off + i) & 7); i++)
    count += oa_bit_get(bits, off + i);
  for (; i + 64 <= n; i += 64) {
    uint64_t w;
    memcpy(&w, bits + ((off + i) >> 3), 8);
    count += __builtin_popcountll(w);
  }
  for (; i < n; i++)
    count += oa_bit_get(bits, off + i);
  return count;
}

static bool has_validity(const oa_field *f) {
  oa_type_id t = f->type.id;
  if (f->dict.encoded) return true;
  return t != OA_TYPE_NA && t != OA_TYPE_SPARSE_UNION &&
         t != OA_TYPE_DENSE_UNION;
}

static int64_t view_null_count(const oa_field *f, const oa_array *a) {
  if (!f->dict.encoded && f->type.id == OA_TYPE_NA) return a->length;
  if (!has_validity(f)) return 0;
  if (a->null_count >= 0) return a->null_count;
  if (a->n_buffers < 1 || !a->buffers[0].data) return 0;
  return a->length - count_set_bits(a->buffers[0].data, a->offset, a->length);
}

static int check_size(const char *name, int which, const oa_buffer *b,
                      int64_t need, oa_error *err) {
  if (b->size < need || (need > 0 && !b->data))
    return oa_error_set(err, EINVAL,
                        "field '%s' buffer %d: %lld bytes, needs %lld", name,
                        which, (long long)b->size, (long long)need);
  return 0;
}

/* A bitmap of n bits starting at bit off: sliced when byte aligned, else
 * shifted into a copy. */
static int add_bitmap(body_ctx *c, const oa_field *f, int which,
                      const oa_buffer *b, int64_t off, int64_t n,
                      oa_error *err) {
  if (n == 0) return add_buffer(c, NULL, 0, NULL, err);
  int64_t nbytes = (n + 7) / 8;
  OA_RETURN_NOT_OK(check_size(f->name, which, b, (off + n + 7) / 8, err));
  if ((off & 7) == 0)
    return add_buffer(c, b->data + off / 8, nbytes, b->region, err);
  oa_region *r = oa_region_alloc(nbytes);
  if (!r) return oom(err);
  const uint8_t *src = b->data;
  int64_t last = (off + n - 1) >> 3, shift = off & 7;
  for (int64_t i = 0; i < nbytes; i++) {
    int64_t byte = (off >> 3) + i;
    unsigned v = (unsigned)src[byte] >> shift;
    if (byte + 1 <= last) v |= (unsigned)src[byte + 1] << (8 - shift);
    r->data[i] = (uint8_t)v;
  }
  if (n & 7) r->data[nbytes - 1] &= (uint8_t)((1u << (n & 7)) - 1);
  return add_scratch(c, r, nbytes, err);
}

static int add_validity(body_ctx *c, const oa_field *f, const oa_array *a,
                        int64_t null_count, oa_error *err) {
  if (null_count == 0 || a->n_buffers < 1 || !a->buffers[0].data)
    return add_buffer(c, NULL, 0, NULL, err);
  return add_bitmap(c, f, 0, &a->buffers[0], a->offset, a->length, err);
}

static int add_fixed(body_ctx *c, const oa_field *f, int which,
                     const oa_buffer *b, int64_t width, int64_t off, int64_t n,
                     oa_error *err) {
  if (n == 0) return add_buffer(c, NULL, 0, NULL, err);
  OA_RETURN_NOT_OK(check_size(f->name, which, b, (off + n) * width, err));
  return add_buffer(c, b->data + off * width, n * width, b->region, err);
}

static int64_t load_offset(const uint8_t *p, int64_t i, int w) {
  if (w == 4) {
    int32_t v;
    memcpy(&v, p + 4 * i, 4);
    return v;
  }
  int64_t v;
  memcpy(&v, p + 8 * i, 8);
  return v;
}

/* Offsets [off, off+n] rebased to start at 0; returns the first and last. */
static int add_offsets(body_ctx *c, const oa_field *f, const oa_buffer *b,
                       int w, int64_t off, int64_t n, int64_t *first,
                       int64_t *last, oa_error *err) {
  *first = *last = 0;
  if (n == 0) {
    if (b->data && b->size >= (off + 1) * w)
      *first = *last = load_offset(b->data, off, w);
    return add_buffer(c, oa_ipc_zeros, w, NULL, err);
  }
  OA_RETURN_NOT_OK(check_size(f->name, 1, b, (off + n + 1) * w, err));
  *first = load_offset(b->data, off, w);
  *last = load_offset(b->data, off + n, w);
  if (*first < 0 || *last < *first)
    return oa_error_set(err, EINVAL,
                        "field '%s': offsets %lld..%lld are not increasing",
                        f->name, (long long)*first, (long long)*last);
  if (*first == 0)
    return add_buffer(c, b->data + off * w, (n + 1) * w, b->region, err);
  oa_region *r = oa_region_alloc((n + 1) * w);
  if (!r) return oom(err);
  if (w == 4) {
    const int32_t *src = (const int32_t *)(const void *)b->data + off;
    int32_t *dst = (int32_t *)(void *)r->data;
    int32_t base = (int32_t)*first;
    for (int64_t i = 0; i <= n; i++)
      dst[i] = src[i] - base;
  } else {
    const int64_t *src = (const int64_t *)(const void *)b->data + off;
    int64_t *dst = (int64_t *)(void *)r->data;
    for (int64_t i = 0; i <= n; i++)
      dst[i] = src[i] - *first;
  }
  return add_scratch(c, r, (n + 1) * w, err);
}

static oa_array child_view(const oa_array *child, int64_t off, int64_t len) {
  oa_array v = *child;
  if (off != 0 || len != child->length) v.null_count = -1;
  v.offset = child->offset + off;
  v.length = len;
  return v;
}

static int encode_array(body_ctx *c, const oa_field *f, const oa_array *a,
                        int depth, oa_error *err);

/* A dense union's slots may reference any rows of its children, so a slice
 * (or a list's child range) must not ship the children whole: each child is
 * written as the range [lo, hi) of rows the view's slots reference, and the
 * offsets are rebased per child (offset - lo). Subtracting a per-child
 * constant keeps the producer's order, so offsets that are not increasing
 * (the spec asks for increasing) still round-trip; their range may then
 * include unreferenced rows. Offsets are copied only when some lo > 0. */
static int encode_dense_union(body_ctx *c, const oa_field *f, const oa_array *a,
                              int depth, oa_error *err) {
  int64_t n = a->length, off = a->offset, nc = f->n_children;
  if (nc > OA_MAX_UNION_CHILDREN)
    return oa_error_set(err, EINVAL,
                        "field '%s': %lld union children exceed %d", f->name,
                        (long long)nc, OA_MAX_UNION_CHILDREN);
  if (n > 0) {
    OA_RETURN_NOT_OK(check_size(f->name, 0, &a->buffers[0], off + n, err));
    OA_RETURN_NOT_OK(
        check_size(f->name, 1, &a->buffers[1], (off + n) * 4, err));
  }
  int8_t map[256];
  memset(map, -1, sizeof map);
  for (int64_t k = nc - 1; k >= 0; k--)
    map[(uint8_t)f->type.type_codes[k]] = (int8_t)k;
  int64_t lo[OA_MAX_UNION_CHILDREN], hi[OA_MAX_UNION_CHILDREN];
  for (int64_t k = 0; k < nc; k++) {
    lo[k] = INT64_MAX;
    hi[k] = 0;
  }
  const uint8_t *codes = n > 0 ? a->buffers[0].data + off : NULL;
  const uint8_t *offs = n > 0 ? a->buffers[1].data + off * 4 : NULL;
  bool rebase = false;
  for (int64_t i = 0; i < n; i++) {
    int k = map[codes[i]];
    if (k < 0)
      return oa_error_set(err, EINVAL,
                          "field '%s' row %lld: type code %d is not a code of "
                          "this union",
                          f->name, (long long)i, (int)(int8_t)codes[i]);
    int32_t o;
    memcpy(&o, offs + 4 * i, 4);
    if (o < 0 || o >= a->children[k].length)
      return oa_error_set(err, EINVAL,
                          "field '%s' row %lld: union offset %d outside child "
                          "'%s' of length %lld",
                          f->name, (long long)i, (int)o, f->children[k].name,
                          (long long)a->children[k].length);
    if (o < lo[k]) lo[k] = o;
    if (o >= hi[k]) hi[k] = (int64_t)o + 1;
  }
  for (int64_t k = 0; k < nc; k++) {
    if (hi[k] == 0) lo[k] = 0; /* not referenced: written empty */
    if (lo[k] > 0) rebase = true;
  }
  OA_RETURN_NOT_OK(add_fixed(c, f, 0, &a->buffers[0], 1, off, n, err));
  if (!rebase) {
    OA_RETURN_NOT_OK(add_fixed(c, f, 1, &a->buffers[1], 4, off, n, err));
  } else {
    oa_region *r = oa_region_alloc(n * 4);
    if (!r) return oom(err);
    for (int64_t i = 0; i < n; i++) {
      int32_t o;
      memcpy(&o, offs + 4 * i, 4);
      o -= (int32_t)lo[map[codes[i]]];
      memcpy(r->data + 4 * i, &o, 4);
    }
    OA_RETURN_NOT_OK(add_scratch(c, r, n * 4, err));
  }
  for (int64_t k = 0; k < nc; k++) {
    oa_array v = child_view(&a->children[k], lo[k], hi[k] - lo[k]);
    OA_RETURN_NOT_OK(encode_array(c, &f->children[k], &v, depth + 1, err));
  }
  return 0;
}

static int encode_array(body_ctx *c, const oa_field *f, const oa_array *a,
                        int depth, oa_error *err) {
  if (depth > 256)
    return oa_error_set(err, EINVAL, "field '%s': nesting too deep", f->name);
  int64_t n = a->length, off = a->offset;
  if (n < 0 || off < 0)
    return oa_error_set(err, EINVAL, "field '%s': negative length or offset",
                        f->name);
  int64_t nulls = view_null_count(f, a);
  OA_RETURN_NOT_OK(add_node(c, n, nulls, err));
  if (f->dict.encoded) {
    int w = oa_int_width_(f->dict.index_type);
    if (!w)
      return oa_error_set(err, EINVAL, "field '%s': bad dictionary index type",
                          f->name);
    OA_RETURN_NOT_OK(add_validity(c, f, a, nulls, err));
    return add_fixed(c, f, 1, &a->buffers[1], w, off, n, err);
  }
  oa_type_id t = f->type.id;
  if (t != OA_TYPE_NA && a->n_buffers < oa_layout_n_buffers(t))
    return oa_error_set(err, EINVAL, "field '%s': %d buffers, %s needs %d",
                        f->name, a->n_buffers, oa_type_name(t),
                        oa_layout_n_buffers(t));
  if ((t == OA_TYPE_LIST || t == OA_TYPE_LARGE_LIST || t == OA_TYPE_MAP ||
       t == OA_TYPE_FIXED_SIZE_LIST || t == OA_TYPE_STRUCT ||
       t == OA_TYPE_SPARSE_UNION || t == OA_TYPE_DENSE_UNION) &&
      a->n_children < f->n_children)
    return oa_error_set(err, EINVAL, "field '%s': %lld children, needs %lld",
                        f->name, (long long)a->n_children,
                        (long long)f->n_children);
  switch (t) {
  case OA_TYPE_NA:
    return 0;
  case OA_TYPE_BOOL:
    OA_RETURN_NOT_OK(add_validity(c, f, a, nulls, err));
    return add_bitmap(c, f, 1, &a->buffers[1], off, n, err);
  case OA_TYPE_STRING:
  case OA_TYPE_BINARY:
  case OA_TYPE_LARGE_STRING:
  case OA_TYPE_LARGE_BINARY: {
    int w = (t == OA_TYPE_STRING || t == OA_TYPE_BINARY) ? 4 : 8;
    int64_t first, last;
    OA_RETURN_NOT_OK(add_validity(c, f, a, nulls, err));
    OA_RETURN_NOT_OK(
        add_offsets(c, f, &a->buffers[1], w, off, n, &first, &last, err));
    if (last == first) return add_buffer(c, NULL, 0, NULL, err);
    OA_RETURN_NOT_OK(check_size(f->name, 2, &a->buffers[2], last, err));
    return add_buffer(c, a->buffers[2].data + first, last - first,
                      a->buffers[2].region, err);
  }
  case OA_TYPE_LIST:
  case OA_TYPE_LARGE_LIST:
  case OA_TYPE_MAP: {
    int w = t == OA_TYPE_LARGE_LIST ? 8 : 4;
    int64_t first, last;
    OA_RETURN_NOT_OK(add_validity(c, f, a, nulls, err));
    OA_RETURN_NOT_OK(
        add_offsets(c, f, &a->buffers[1], w, off, n, &first, &last, err));
    if (f->n_children < 1)
      return oa_error_set(err, EINVAL, "field '%s': list without child",
                          f->name);
    if (last > a->children[0].length)
      return oa_error_set(
          err, EINVAL, "field '%s': offset %lld beyond child length %lld",
          f->name, (long long)last, (long long)a->children[0].length);
    oa_array v = child_view(&a->children[0], first, last - first);
    return encode_array(c, &f->children[0], &v, depth + 1, err);
  }
  case OA_TYPE_FIXED_SIZE_LIST: {
    int64_t ls = f->type.list_size;
    OA_RETURN_NOT_OK(add_validity(c, f, a, nulls, err));
    if (f->n_children < 1 || ls < 0 || (off + n) * ls > a->children[0].length)
      return oa_error_set(err, EINVAL,
                          "field '%s': child too short for list size %lld",
                          f->name, (long long)ls);
    oa_array v = child_view(&a->children[0], off * ls, n * ls);
    return encode_array(c, &f->children[0], &v, depth + 1, err);
  }
  case OA_TYPE_STRUCT:
  case OA_TYPE_SPARSE_UNION:
    if (t == OA_TYPE_STRUCT)
      OA_RETURN_NOT_OK(add_validity(c, f, a, nulls, err));
    else
      OA_RETURN_NOT_OK(add_fixed(c, f, 0, &a->buffers[0], 1, off, n, err));
    for (int64_t i = 0; i < f->n_children; i++) {
      if (off + n > a->children[i].length)
        return oa_error_set(err, EINVAL,
                            "field '%s': child %lld shorter than the parent",
                            f->name, (long long)i);
      oa_array v = child_view(&a->children[i], off, n);
      OA_RETURN_NOT_OK(encode_array(c, &f->children[i], &v, depth + 1, err));
    }
    return 0;
  case OA_TYPE_DENSE_UNION:
    return encode_dense_union(c, f, a, depth, err);
  default: {
    int64_t bits = oa_datatype_bit_width(&f->type);
    if (bits <= 0 || bits % 8)
      return oa_error_set(err, ENOTSUP, "field '%s': cannot encode type %s",
                          f->name, oa_type_name(t));
    OA_RETURN_NOT_OK(add_validity(c, f, a, nulls, err));
    return add_fixed(c, f, 1, &a->buffers[1], bits / 8, off, n, err);
  }
  }
}

static void body_init(body_ctx *c, oa_ipc_message *msg,
                      const oa_ipc_write_options *opt,
                      oa_ipc_codec_ctx *codec) {
  memset(c, 0, sizeof *c);
  c->msg = msg;
  c->opt = opt;
  c->codec = codec;
  c->meta.compression = opt->compression;
  oa_bytes_init(&c->cbody);
}

static void body_reset(body_ctx *c) {
  free(c->meta.nodes);
  free(c->meta.buffers);
  oa_bytes_reset(&c->cbody);
}

/* Encodes columns into msg (initialized, empty). */
static int encode_message(const oa_ipc_write_options *opt,
                          oa_ipc_codec_ctx *codec, int64_t length,
                          const oa_field *fields, const oa_array *cols,
                          int64_t n_cols, bool is_dict, int64_t dict_id,
                          bool is_delta, oa_ipc_message *msg, oa_error *err) {
  body_ctx c;
  body_init(&c, msg, opt, codec);
  int rc = 0;
  c.meta.length = length;
  for (int64_t i = 0; i < n_cols; i++) {
    if (cols[i].length != length) {
      rc = oa_error_set(
          err, EINVAL, "column '%s' has %lld rows, the batch has %lld",
          fields[i].name, (long long)cols[i].length, (long long)length);
      goto done;
    }
    OA_GOTO_NOT_OK(rc, encode_array(&c, &fields[i], &cols[i], 0, err), done);
  }
  if (opt->compression != OA_COMPRESSION_NONE && c.cbody.size > 0) {
    oa_buffer body;
    if (oa_bytes_finish(&c.cbody, &body)) {
      rc = oom(err);
      goto done;
    }
    if (add_segment(msg, body.data, body.size, body.region)) rc = oom(err);
    msg->body_length = body.size;
    oa_region_release(body.region);
    if (rc) goto done;
  }
  msg->type = is_dict ? OA_IPC_MSG_DICTIONARY : OA_IPC_MSG_RECORD_BATCH;
  rc = oa_ipc_encode_batch_message(&c.meta, msg->body_length, is_dict, dict_id,
                                   is_delta, &msg->metadata, err);
done:
  body_reset(&c);
  return rc;
}

/* ------------------------------------------------------------ dictionaries */

static int collect_dicts(oa_ipc_encoder *enc, const oa_field *f,
                         oa_error *err) {
  if (f->dict.encoded) {
    bool known = false;
    for (int64_t i = 0; i < enc->n_dicts; i++)
      if (enc->dicts[i].id == f->dict.id) known = true;
    if (!known) {
      enc_dict *d = realloc(enc->dicts, (size_t)(enc->n_dicts + 1) * sizeof *d);
      if (!d) return oom(err);
      enc->dicts = d;
      d = &enc->dicts[enc->n_dicts];
      memset(d, 0, sizeof *d);
      d->id = f->dict.id;
      d->seen_batch = -1;
      OA_RETURN_NOT_OK(oa_field_copy(&d->value_field, f, err));
      d->value_field.dict.encoded = false;
      enc->n_dicts++;
    }
  }
  for (int64_t i = 0; i < f->n_children; i++)
    OA_RETURN_NOT_OK(collect_dicts(enc, &f->children[i], err));
  return 0;
}

static bool same_buffers(const oa_array *a, const oa_array *b) {
  if (a->length != b->length || a->offset != b->offset ||
      a->n_buffers != b->n_buffers || a->n_children != b->n_children)
    return false;
  for (int i = 0; i < a->n_buffers; i++)
    if (a->buffers[i].data != b->buffers[i].data ||
        a->buffers[i].size != b->buffers[i].size)
      return false;
  for (int64_t i = 0; i < a->n_children; i++)
    if (!same_buffers(&a->children[i], &b->children[i])) return false;
  if (!a->dictionary != !b->dictionary) return false;
  return !a->dictionary || same_buffers(a->dictionary, b->dictionary);
}

static int emit_dict(oa_ipc_encoder *enc, enc_dict *d, const oa_array *values,
                     bool delta, oa_ipc_emit_fn emit, void *ctx,
                     oa_error *err) {
  oa_ipc_message msg;
  oa_ipc_message_init(&msg);
  int rc =
      encode_message(&enc->opt, &enc->codec, values->length, &d->value_field,
                     values, 1, true, d->id, delta, &msg, err);
  if (rc) oa_error_prefix(err, rc, "dictionary %lld: ", (long long)d->id);
  if (!rc) rc = emit(ctx, &msg, err);
  oa_ipc_message_reset(&msg);
  return rc;
}

static int update_dict(oa_ipc_encoder *enc, enc_dict *d, const oa_array *D,
                       oa_ipc_emit_fn emit, void *ctx, oa_error *err) {
  if (d->seen_batch == enc->n_batches) {
    /* another field with the same id: it must carry the same dictionary */
    if (same_buffers(&d->sent, D) ||
        (D->length == d->sent.length &&
         oa_array_equals(&d->value_field, &d->sent, D, NULL)))
      return 0;
    return oa_error_set(err, EINVAL,
                        "fields sharing dictionary id %lld carry different "
                        "dictionaries",
                        (long long)d->id);
  }
  d->seen_batch = enc->n_batches;
  if (d->have) {
    if (same_buffers(&d->sent, D)) return 0;
    if (D->length == d->sent.length &&
        oa_array_equals(&d->value_field, &d->sent, D, NULL))
      return 0;
    if (enc->opt.dictionary_deltas && D->length > d->sent.length) {
      oa_array prefix = *D;
      prefix.length = d->sent.length;
      prefix.null_count = -1;
      if (oa_array_equals(&d->value_field, &d->sent, &prefix, NULL)) {
        oa_array delta = *D;
        delta.offset += d->sent.length;
        delta.length = D->length - d->sent.length;
        delta.null_count = -1;
        OA_RETURN_NOT_OK(emit_dict(enc, d, &delta, true, emit, ctx, err));
        goto store;
      }
    }
    if (enc->forbid_replacement)
      return oa_error_set(err, EINVAL,
                          "dictionary %lld changed: dictionary replacement is "
                          "not allowed in the IPC file format",
                          (long long)d->id);
  }
  OA_RETURN_NOT_OK(emit_dict(enc, d, D, false, emit, ctx, err));
store:
  oa_array_reset(&d->sent);
  d->have = false;
  OA_RETURN_NOT_OK(oa_array_copy(&d->sent, D, err));
  d->have = true;
  return 0;
}

static enc_dict *find_dict(oa_ipc_encoder *enc, int64_t id) {
  for (int64_t i = 0; i < enc->n_dicts; i++)
    if (enc->dicts[i].id == id) return &enc->dicts[i];
  return NULL;
}

static int walk_dicts(oa_ipc_encoder *enc, const oa_field *f, const oa_array *a,
                      oa_ipc_emit_fn emit, void *ctx, int depth,
                      oa_error *err) {
  if (depth > 256)
    return oa_error_set(err, EINVAL, "field '%s': nesting too deep", f->name);
  const oa_array *src = a;
  if (f->dict.encoded) {
    if (!a->dictionary)
      return oa_error_set(err, EINVAL,
                          "field '%s' is dictionary-encoded but its array "
                          "has no dictionary",
                          f->name);
    src = a->dictionary;
  }
  if (f->n_children > 0 && src->n_children < f->n_children)
    return oa_error_set(err, EINVAL, "field '%s': %lld children, needs %lld",
                        f->name, (long long)src->n_children,
                        (long long)f->n_children);
  /* inner dictionaries first: the reader needs them to decode this one */
  for (int64_t i = 0; i < f->n_children; i++)
    OA_RETURN_NOT_OK(walk_dicts(enc, &f->children[i], &src->children[i], emit,
                                ctx, depth + 1, err));
  if (f->dict.encoded) {
    enc_dict *d = find_dict(enc, f->dict.id);
    if (!d)
      return oa_error_set(err, EINVAL, "field '%s': unknown dictionary id %lld",
                          f->name, (long long)f->dict.id);
    OA_RETURN_NOT_OK(update_dict(enc, d, a->dictionary, emit, ctx, err));
  }
  return 0;
}

/* ---------------------------------------------------------------- public */

int oa_ipc_encoder_new(oa_ipc_encoder **out, oa_schema *schema,
                       const oa_ipc_write_options *opt, oa_error *err) {
  *out = NULL;
  oa_ipc_encoder *enc = calloc(1, sizeof *enc);
  if (!enc) return oom(err);
  if (opt)
    enc->opt = *opt;
  else
    oa_ipc_write_options_init(&enc->opt);
  if (enc->opt.compression != OA_COMPRESSION_NONE &&
      enc->opt.compression != OA_COMPRESSION_LZ4_FRAME &&
      enc->opt.compression != OA_COMPRESSION_ZSTD) {
    int c = (int)enc->opt.compression;
    free(enc);
    return oa_error_set(err, EINVAL, "unknown compression %d", c);
  }
  oa_schema_retain(schema);
  enc->schema = schema;
  for (int64_t i = 0; i < schema->n_fields; i++) {
    int rc = collect_dicts(enc, &schema->fields[i], err);
    if (rc) {
      oa_ipc_encoder_free(enc);
      return rc;
    }
  }
  *out = enc;
  return 0;
}

void oa_ipc_encoder_free(oa_ipc_encoder *enc) {
  if (!enc) return;
  for (int64_t i = 0; i < enc->n_dicts; i++) {
    oa_field_reset(&enc->dicts[i].value_field);
    oa_array_reset(&enc->dicts[i].sent);
  }
  free(enc->dicts);
  oa_ipc_codec_ctx_reset(&enc->codec);
  oa_schema_release(enc->schema);
  free(enc);
}

void oa_ipc_encoder_forbid_replacement(oa_ipc_encoder *enc, bool forbid) {
  enc->forbid_replacement = forbid;
}

void oa_ipc_encoder_restart(oa_ipc_encoder *enc) {
  for (int64_t i = 0; i < enc->n_dicts; i++) {
    oa_array_reset(&enc->dicts[i].sent);
    enc->dicts[i].have = false;
    enc->dicts[i].seen_batch = -1;
  }
  enc->n_batches = 0;
}

const oa_schema *oa_ipc_encoder_schema_of(const oa_ipc_encoder *enc) {
  return enc->schema;
}

int oa_ipc_encoder_schema(oa_ipc_encoder *enc, oa_ipc_message *out,
                          oa_error *err) {
  out->type = OA_IPC_MSG_SCHEMA;
  return oa_ipc_encode_schema_message(enc->schema, &out->metadata, err);
}

int oa_ipc_encoder_batch(oa_ipc_encoder *enc, const oa_batch *batch,
                         oa_ipc_emit_fn emit, void *ctx, oa_error *err) {
  const oa_schema *s = enc->schema;
  if (batch->n_columns != s->n_fields)
    return oa_error_set(err, EINVAL, "batch has %lld columns, schema has %lld",
                        (long long)batch->n_columns, (long long)s->n_fields);
  if (batch->schema && batch->schema != s &&
      !oa_schema_equals(batch->schema, s, false, err))
    return oa_error_prefix(err, EINVAL,
                           "batch schema differs from the writer's: ");
  for (int64_t i = 0; i < s->n_fields; i++)
    OA_RETURN_NOT_OK(
        walk_dicts(enc, &s->fields[i], &batch->columns[i], emit, ctx, 0, err));
  oa_ipc_message msg;
  oa_ipc_message_init(&msg);
  int rc =
      encode_message(&enc->opt, &enc->codec, batch->length, s->fields,
                     batch->columns, s->n_fields, false, 0, false, &msg, err);
  if (!rc) rc = emit(ctx, &msg, err);
  oa_ipc_message_reset(&msg);
  enc->n_batches++;
  return rc;
}
