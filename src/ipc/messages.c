/* Encoded messages as values: batches encoded with a bound on the record
 * batch body (row slices), messages kept past the emit callback, and
 * messages read back out of a framed stream held in memory. Lets a caller
 * encode a batch once and use the result twice (a queue file and the wire). */
#include <stdlib.h>
#include <string.h>

#include "ipc/ipc_internal.h"

/* ------------------------------------------------------ bounded encoding */

typedef struct split_ctx {
  oa_ipc_emit_fn emit;
  void *ctx;
  int64_t max_body;
  bool may_split; /* the piece has more than one row */
  bool too_big;   /* its record batch was over max_body: not emitted */
} split_ctx;

static int split_emit(void *ctx, const oa_ipc_message *m, oa_error *err) {
  split_ctx *s = ctx;
  if (m->type == OA_IPC_MSG_RECORD_BATCH && s->may_split &&
      m->body_length > s->max_body) {
    s->too_big = true;
    return 0;
  }
  return s->emit(s->ctx, m, err);
}

/* Rows [off, off+len) of b; a record batch over the bound is encoded again
 * as two halves (its dictionaries were emitted already and do not change
 * with a slice, so the halves emit none). */
static int encode_rows(oa_ipc_encoder *enc, const oa_batch *b, int64_t off,
                       int64_t len, split_ctx *s, oa_error *err) {
  oa_batch piece;
  oa_batch_init(&piece);
  const oa_batch *src = b;
  if (off != 0 || len != b->length) {
    OA_RETURN_NOT_OK(oa_batch_slice(&piece, b, off, len, err));
    src = &piece;
  }
  s->may_split = len > 1;
  s->too_big = false;
  int rc = oa_ipc_encoder_batch(enc, src, split_emit, s, err);
  oa_batch_reset(&piece);
  if (rc || !s->too_big) return rc;
  int64_t half = len / 2;
  OA_RETURN_NOT_OK(encode_rows(enc, b, off, half, s, err));
  return encode_rows(enc, b, off + half, len - half, s, err);
}

int oa_ipc_encoder_batch_bounded(oa_ipc_encoder *enc, const oa_batch *batch,
                                 int64_t max_body, oa_ipc_emit_fn emit,
                                 void *ctx, oa_error *err) {
  if (max_body <= 0 || batch->length <= 1)
    return oa_ipc_encoder_batch(enc, batch, emit, ctx, err);
  split_ctx s = {emit, ctx, max_body, false, false};
  /* first guess from the uncompressed size, so that a batch many times the
   * bound is not encoded whole first */
  int64_t bytes = 0;
  for (int64_t i = 0; i < batch->n_columns; i++)
    bytes += oa_array_buffer_bytes(&batch->columns[i]);
  int64_t pieces = (bytes + max_body - 1) / max_body;
  if (pieces < 1) pieces = 1;
  if (pieces > batch->length) pieces = batch->length;
  int64_t rows = (batch->length + pieces - 1) / pieces;
  for (int64_t off = 0; off < batch->length; off += rows) {
    int64_t n = batch->length - off < rows ? batch->length - off : rows;
    OA_RETURN_NOT_OK(encode_rows(enc, batch, off, n, &s, err));
  }
  return 0;
}

/* -------------------------------------------------------- keeping messages */

static int msg_oom(oa_error *err) {
  return oa_error_set(err, ENOMEM, "ipc message: out of memory");
}

int oa_ipc_message_share(oa_ipc_message *dst, const oa_ipc_message *src,
                         oa_error *err) {
  oa_ipc_message_reset(dst);
  dst->type = src->type;
  dst->body_length = src->body_length;
  if (oa_bytes_append(&dst->metadata, src->metadata.data, src->metadata.size))
    return msg_oom(err);
  /* unowned segments (borrowed bytes) are gathered into one new region */
  int64_t loose = 0;
  for (int64_t i = 0; i < src->n_segments; i++)
    if (!src->segments[i].region) loose += src->segments[i].size;
  int64_t n = src->n_segments + (loose > 0);
  if (n && !(dst->segments = malloc((size_t)n * sizeof *dst->segments))) {
    oa_ipc_message_reset(dst);
    return msg_oom(err);
  }
  dst->cap_segments = n;
  oa_region *copy = NULL;
  if (loose > 0 && !(copy = oa_region_alloc(loose))) {
    oa_ipc_message_reset(dst);
    return msg_oom(err);
  }
  uint8_t *w = copy ? copy->data : NULL;
  for (int64_t i = 0; i < src->n_segments; i++) {
    oa_buffer sg = src->segments[i];
    if (!sg.region) {
      if (sg.size) memcpy(w, sg.data, (size_t)sg.size);
      sg.data = w;
      sg.region = copy;
      w += src->segments[i].size;
    }
    oa_region_retain(sg.region);
    dst->segments[dst->n_segments++] = sg;
  }
  oa_region_release(copy); /* the segments hold it now */
  return 0;
}

/* ------------------------------------------------ reading framed messages */

int oa_ipc_message_read(const oa_buffer *stream, int64_t *pos,
                        int32_t max_depth, oa_ipc_message *out, oa_error *err) {
  oa_ipc_message_reset(out);
  int64_t at = *pos, avail = stream->size - at;
  if (at < 0 || avail < 0)
    return oa_error_set(err, EINVAL,
                        "ipc message at %lld: outside the %lld "
                        "bytes",
                        (long long)at, (long long)stream->size);
  if (avail == 0) return 0; /* end without an end-of-stream marker */
  int64_t prefix = 0, meta_len = 0;
  int rc =
      oa_ipc_parse_prefix(stream->data + at, avail, &prefix, &meta_len, err);
  if (rc == 1)
    return oa_error_set(err, EINVAL,
                        "ipc message at %lld: truncated prefix (%lld bytes)",
                        (long long)at, (long long)avail);
  if (rc)
    return oa_error_prefix(err, rc, "ipc message at %lld: ", (long long)at);
  if (meta_len == 0) { /* end-of-stream marker */
    *pos = at + prefix;
    return 0;
  }
  if (meta_len > avail - prefix)
    return oa_error_set(err, EINVAL,
                        "ipc message at %lld: metadata of %lld bytes, %lld "
                        "left",
                        (long long)at, (long long)meta_len,
                        (long long)(avail - prefix));
  const uint8_t *meta = stream->data + at + prefix;
  oa_ipc_message_meta mm;
  oa_ipc_message_meta_init(&mm);
  rc = oa_ipc_message_meta_decode(meta, meta_len, max_depth, &mm, err);
  if (rc)
    return oa_error_prefix(err, rc, "ipc message at %lld: ", (long long)at);
  int64_t body = mm.body_length;
  int type = mm.header_type;
  oa_ipc_message_meta_reset(&mm);
  int64_t left = avail - prefix - meta_len;
  if (body < 0 || body > left)
    return oa_error_set(err, EINVAL,
                        "ipc message at %lld: body of %lld bytes, %lld left",
                        (long long)at, (long long)body, (long long)left);
  if (type != OA_IPC_HEADER_SCHEMA && type != OA_IPC_HEADER_DICTIONARY_BATCH &&
      type != OA_IPC_HEADER_RECORD_BATCH)
    return oa_error_set(err, ENOTSUP,
                        "ipc message at %lld: header type %d is not a schema, "
                        "dictionary or record batch",
                        (long long)at, type);
  out->type = type == OA_IPC_HEADER_SCHEMA         ? OA_IPC_MSG_SCHEMA
              : type == OA_IPC_HEADER_RECORD_BATCH ? OA_IPC_MSG_RECORD_BATCH
                                                   : OA_IPC_MSG_DICTIONARY;
  if (oa_bytes_append(&out->metadata, meta, meta_len)) return msg_oom(err);
  if (body > 0) {
    if (!(out->segments = malloc(sizeof *out->segments))) {
      oa_ipc_message_reset(out);
      return msg_oom(err);
    }
    out->cap_segments = out->n_segments = 1;
    out->segments[0].data = meta + meta_len;
    out->segments[0].size = body;
    out->segments[0].region = stream->region;
    oa_region_retain(stream->region);
  }
  out->body_length = body;
  *pos = at + prefix + meta_len + body;
  return 0;
}
