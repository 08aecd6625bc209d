/* Incremental stream reader: Peek (prefix, metadata length) -> Verify and
 * decode the metadata (body length) -> Decode once the body is complete.
 *
 * Bytes live either in one external buffer (push_buffer: zero-copy) or in an
 * accumulator (push: copied). When a message completes inside the
 * accumulator, the accumulator becomes a region and later messages are
 * sliced out of it, so every byte is copied at most once. */
#include <stdlib.h>
#include <string.h>

#include "ipc/ipc_internal.h"

struct oa_ipc_stream_reader {
  oa_ipc_read_options opt;
  oa_ipc_decoder *dec;
  oa_buffer ext; /* unread bytes are ext[ext_pos..] */
  int64_t ext_pos;
  oa_bytes acc; /* unread bytes are acc[acc_pos..] */
  int64_t acc_pos;
  /* pending message: metadata decoded, waiting for the body */
  bool have_meta;
  oa_ipc_message_meta meta;
  int64_t prefix_len, meta_len;
  bool seen_schema;
  bool done;
  int failed;
  int64_t n_messages;
};

static int oom(oa_error *err) {
  return oa_error_set(err, ENOMEM, "stream reader: out of memory");
}

int oa_ipc_stream_reader_new(oa_ipc_stream_reader **out,
                             const oa_ipc_read_options *opt, oa_error *err) {
  oa_ipc_stream_reader *r = calloc(1, sizeof *r);
  if (!r) return oom(err);
  if (opt)
    r->opt = *opt;
  else
    oa_ipc_read_options_init(&r->opt);
  oa_bytes_init(&r->acc);
  oa_ipc_message_meta_init(&r->meta);
  int rc = oa_ipc_decoder_new(&r->dec, &r->opt, err);
  if (rc) {
    free(r);
    return rc;
  }
  *out = r;
  return 0;
}

void oa_ipc_stream_reader_free(oa_ipc_stream_reader *r) {
  if (!r) return;
  oa_ipc_decoder_free(r->dec);
  oa_region_release(r->ext.region);
  oa_bytes_reset(&r->acc);
  oa_ipc_message_meta_reset(&r->meta);
  free(r);
}

static int64_t ext_avail(const oa_ipc_stream_reader *r) {
  return r->ext.size - r->ext_pos;
}
static int64_t acc_avail(const oa_ipc_stream_reader *r) {
  return r->acc.size - r->acc_pos;
}

static void drop_ext(oa_ipc_stream_reader *r) {
  oa_region_release(r->ext.region);
  memset(&r->ext, 0, sizeof r->ext);
  r->ext_pos = 0;
}

static int acc_append(oa_ipc_stream_reader *r, const void *data, int64_t len,
                      oa_error *err) {
  if (r->acc_pos > 0 && r->acc_pos >= r->acc.size / 2) {
    int64_t keep = acc_avail(r);
    memmove(r->acc.data, r->acc.data + r->acc_pos, (size_t)keep);
    r->acc.size = keep;
    r->acc_pos = 0;
  }
  if (oa_bytes_append(&r->acc, data, len)) return oom(err);
  return 0;
}

/* Moves unread external bytes into the accumulator. */
static int spill_ext(oa_ipc_stream_reader *r, oa_error *err) {
  if (ext_avail(r) > 0)
    OA_RETURN_NOT_OK(
        acc_append(r, r->ext.data + r->ext_pos, ext_avail(r), err));
  drop_ext(r);
  return 0;
}

int oa_ipc_stream_reader_push(oa_ipc_stream_reader *r, const void *data,
                              int64_t len, oa_error *err) {
  if (len < 0) return oa_error_set(err, EINVAL, "negative length");
  if (len == 0) return 0;
  OA_RETURN_NOT_OK(spill_ext(r, err));
  return acc_append(r, data, len, err);
}

int oa_ipc_stream_reader_push_buffer(oa_ipc_stream_reader *r,
                                     const oa_buffer *buf, oa_error *err) {
  if (buf->size <= 0) return 0;
  if (acc_avail(r) == 0 && ext_avail(r) == 0) {
    drop_ext(r);
    r->acc.size = r->acc_pos = 0;
    r->ext = *buf;
    oa_region_retain(buf->region);
    return 0;
  }
  return oa_ipc_stream_reader_push(r, buf->data, buf->size, err);
}

/* Unread bytes as one window. */
static const uint8_t *window(oa_ipc_stream_reader *r, int64_t *avail) {
  if (ext_avail(r) > 0) {
    *avail = ext_avail(r);
    return r->ext.data + r->ext_pos;
  }
  *avail = acc_avail(r);
  return r->acc.data ? r->acc.data + r->acc_pos : NULL;
}

static void consume(oa_ipc_stream_reader *r, int64_t n) {
  if (ext_avail(r) > 0)
    r->ext_pos += n;
  else
    r->acc_pos += n;
}

/* Turns the accumulator into the external buffer so that the message can be
 * sliced from it. */
static int acc_to_ext(oa_ipc_stream_reader *r, oa_error *err) {
  int64_t pos = r->acc_pos;
  drop_ext(r);
  oa_buffer b;
  if (oa_bytes_finish(&r->acc, &b)) return oom(err);
  oa_bytes_init(&r->acc);
  r->acc_pos = 0;
  r->ext = b;
  r->ext_pos = pos;
  return 0;
}

static int fail(oa_ipc_stream_reader *r, int rc) {
  r->failed = rc;
  return rc;
}

/* One step: 1 = need more input, 0 = a message was handled (type set). */
static int step(oa_ipc_stream_reader *r, oa_ipc_msg_type *type, oa_batch *out,
                oa_error *err) {
  int64_t avail;
  const uint8_t *p = window(r, &avail);
  if (!r->have_meta) {
    int64_t prefix_len, meta_len;
    int rc = oa_ipc_parse_prefix(p, avail, &prefix_len, &meta_len, err);
    if (rc == 1) return 1;
    if (rc) return rc;
    if (meta_len == 0) {
      consume(r, prefix_len);
      r->done = true;
      return 0;
    }
    if (meta_len > r->opt.max_metadata_size)
      return oa_error_set(err, E2BIG,
                          "message %lld: metadata of %lld bytes exceeds the "
                          "limit %lld",
                          (long long)r->n_messages, (long long)meta_len,
                          (long long)r->opt.max_metadata_size);
    if (avail < prefix_len + meta_len) return 1;
    oa_ipc_message_meta_reset(&r->meta);
    oa_ipc_message_meta_init(&r->meta);
    rc = oa_ipc_message_meta_decode(p + prefix_len, meta_len, r->opt.max_depth,
                                    &r->meta, err);
    if (rc)
      return oa_error_prefix(err, rc,
                             "message %lld: ", (long long)r->n_messages);
    if (r->meta.body_length < 0 || r->meta.body_length > r->opt.max_body_size)
      return oa_error_set(err, r->meta.body_length < 0 ? EINVAL : E2BIG,
                          "message %lld: body length %lld (limit %lld)",
                          (long long)r->n_messages,
                          (long long)r->meta.body_length,
                          (long long)r->opt.max_body_size);
    r->have_meta = true;
    r->prefix_len = prefix_len;
    r->meta_len = meta_len;
  }
  int64_t total = r->prefix_len + r->meta_len + r->meta.body_length;
  if (avail < total) return 1;
  if (ext_avail(r) == 0) {
    OA_RETURN_NOT_OK(acc_to_ext(r, err));
    p = window(r, &avail);
  }
  oa_buffer body = {p + r->prefix_len + r->meta_len, r->meta.body_length,
                    r->ext.region};
  bool is_schema = r->meta.header_type == OA_IPC_HEADER_SCHEMA;
  if (is_schema && r->seen_schema)
    return oa_error_set(err, EINVAL,
                        "message %lld: a second schema message in the stream",
                        (long long)r->n_messages);
  if (!is_schema && !r->seen_schema)
    return oa_error_set(err, EINVAL,
                        "message %lld: the stream does not start with a "
                        "schema message",
                        (long long)r->n_messages);
  int rc = oa_ipc_decoder_decode_meta(r->dec, &r->meta, &body, type, out, err);
  r->have_meta = false;
  oa_ipc_message_meta_reset(&r->meta);
  oa_ipc_message_meta_init(&r->meta);
  r->n_messages++;
  consume(r, total);
  if (rc) return rc;
  if (is_schema) r->seen_schema = true;
  return 0;
}

int oa_ipc_stream_reader_next(oa_ipc_stream_reader *r, oa_batch *out, bool *got,
                              oa_error *err) {
  *got = false;
  if (r->failed)
    return oa_error_set(err, r->failed, "stream reader failed earlier");
  while (!r->done) {
    oa_ipc_msg_type type = OA_IPC_MSG_NONE;
    oa_batch b;
    oa_batch_init(&b);
    int rc = step(r, &type, &b, err);
    if (rc == 1) return 0;
    if (rc) {
      oa_batch_reset(&b);
      return fail(r, rc);
    }
    if (type == OA_IPC_MSG_RECORD_BATCH) {
      oa_batch_reset(out);
      oa_batch_move(out, &b);
      *got = true;
      return 0;
    }
  }
  return 0;
}

bool oa_ipc_stream_reader_done(const oa_ipc_stream_reader *r) {
  return r->done;
}

int oa_ipc_stream_reader_close(oa_ipc_stream_reader *r, oa_error *err) {
  if (r->failed)
    return oa_error_set(err, r->failed, "stream reader failed earlier");
  const int64_t pending = ext_avail(r) + acc_avail(r);
  if (!r->done && (r->have_meta || pending > 0))
    return oa_error_set(err, EINVAL,
                        "stream ended inside message %lld (%lld bytes "
                        "pending)",
                        (long long)r->n_messages, (long long)pending);
  if (!r->seen_schema)
    return oa_error_set(err, EINVAL, "stream ended before the schema message");
  return 0;
}

oa_schema *oa_ipc_stream_reader_schema(const oa_ipc_stream_reader *r) {
  return oa_ipc_decoder_schema(r->dec);
}
