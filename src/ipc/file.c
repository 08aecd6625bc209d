/* File reader: "ARROW1", padding, a stream, the Footer, its int32 length and
 * "ARROW1". Batches are read by index through the footer's blocks, sliced
 * from the (usually mmap'ed) file without copying. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/ipc_internal.h"

struct oa_ipc_file_reader {
  oa_ipc_read_options opt;
  oa_buffer data;
  int64_t footer_start;
  oa_ipc_footer footer;
  oa_ipc_decoder *dec;
};

static int oom(oa_error *err) {
  return oa_error_set(err, ENOMEM, "file reader: out of memory");
}

/* Reads the message of a block: its metadata decoded into m and its body. */
static int read_block(oa_ipc_file_reader *r, const char *what,
                      const oa_ipc_block *b, oa_ipc_message_meta *m,
                      oa_buffer *body, oa_error *err) {
  int64_t end = r->footer_start;
  if (b->offset < 8 || b->metadata_length < 8 || b->body_length < 0 ||
      b->offset > end || b->metadata_length > end - b->offset ||
      b->body_length > end - b->offset - b->metadata_length)
    return oa_error_set(err, EINVAL,
                        "%s: block (offset %lld, metadata %d, body %lld) "
                        "lies outside the file's %lld data bytes",
                        what, (long long)b->offset, (int)b->metadata_length,
                        (long long)b->body_length, (long long)end);
  const uint8_t *p = r->data.data + b->offset;
  int64_t prefix_len, meta_len;
  int rc =
      oa_ipc_parse_prefix(p, b->metadata_length, &prefix_len, &meta_len, err);
  if (rc == 1 ||
      (!rc && (meta_len == 0 || meta_len > b->metadata_length - prefix_len)))
    return oa_error_set(err, EINVAL,
                        "%s: message metadata of %lld bytes does not fit its "
                        "block of %d",
                        what, (long long)meta_len, (int)b->metadata_length);
  if (rc) return oa_error_prefix(err, rc, "%s: ", what);
  if (meta_len > r->opt.max_metadata_size)
    return oa_error_set(err, E2BIG, "%s: metadata of %lld bytes exceeds %lld",
                        what, (long long)meta_len,
                        (long long)r->opt.max_metadata_size);
  rc = oa_ipc_message_meta_decode(p + prefix_len, meta_len, r->opt.max_depth, m,
                                  err);
  if (rc) return oa_error_prefix(err, rc, "%s: ", what);
  if (m->body_length > b->body_length)
    return oa_error_set(err, EINVAL,
                        "%s: message body of %lld bytes exceeds its block's "
                        "%lld",
                        what, (long long)m->body_length,
                        (long long)b->body_length);
  body->data = p + b->metadata_length;
  body->size = b->body_length;
  body->region = r->data.region;
  return 0;
}

static int read_dictionaries(oa_ipc_file_reader *r, oa_error *err) {
  for (int64_t i = 0; i < r->footer.n_dictionaries; i++) {
    char what[64];
    snprintf(what, sizeof what, "dictionary block %lld", (long long)i);
    oa_ipc_message_meta m;
    oa_ipc_message_meta_init(&m);
    oa_buffer body;
    int rc = read_block(r, what, &r->footer.dictionaries[i], &m, &body, err);
    if (!rc && m.header_type != OA_IPC_HEADER_DICTIONARY_BATCH)
      rc = oa_error_set(err, EINVAL, "%s: not a dictionary batch", what);
    oa_ipc_msg_type type;
    if (!rc)
      rc = oa_ipc_decoder_decode_meta(r->dec, &m, &body, &type, NULL, err);
    oa_ipc_message_meta_reset(&m);
    if (rc) return rc;
  }
  return 0;
}

/* When the stream part starts with a schema message it must agree with the
 * footer's schema. Some writers (apache-arrow JS) leave it out and start
 * with the first dictionary or batch: the footer's schema is authoritative,
 * and a first message that does not decode is left to the block reads. */
static int check_stream_schema(oa_ipc_file_reader *r, oa_error *err) {
  const uint8_t *p = r->data.data + 8;
  int64_t avail = r->footer_start - 8, prefix_len, meta_len;
  if (oa_ipc_parse_prefix(p, avail, &prefix_len, &meta_len, NULL) != 0 ||
      meta_len == 0 || meta_len > avail - prefix_len ||
      meta_len > r->opt.max_metadata_size)
    return 0;
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  int rc = 0;
  if (oa_ipc_message_meta_decode(p + prefix_len, meta_len, r->opt.max_depth, &m,
                                 NULL) == 0 &&
      m.header_type == OA_IPC_HEADER_SCHEMA && m.schema &&
      !oa_schema_equals(m.schema, r->footer.schema, false, err))
    rc = oa_error_prefix(err, EINVAL,
                         "file: footer schema differs from the stream's: ");
  oa_ipc_message_meta_reset(&m);
  return rc;
}

int oa_ipc_file_reader_open_buffer(oa_ipc_file_reader **out,
                                   const oa_buffer *data,
                                   const oa_ipc_read_options *opt,
                                   oa_error *err) {
  *out = NULL;
  oa_ipc_file_reader *r = calloc(1, sizeof *r);
  if (!r) return oom(err);
  if (opt)
    r->opt = *opt;
  else
    oa_ipc_read_options_init(&r->opt);
  oa_ipc_footer_init(&r->footer);
  r->data = *data;
  oa_region_retain(data->region);
  int rc = 0;
  const uint8_t *p = data->data;
  int64_t n = data->size;
  if (n < 8 + 10 || memcmp(p, "ARROW1", 6) != 0 ||
      memcmp(p + n - 6, "ARROW1", 6) != 0) {
    rc = oa_error_set(err, EINVAL,
                      "not an Arrow IPC file (%lld bytes, magic missing)",
                      (long long)n);
    goto fail;
  }
  int64_t flen = oa_ipc_load_i32(p + n - 10);
  if (flen <= 0 || flen > n - 18) {
    rc = oa_error_set(err, EINVAL,
                      "file: footer length %lld invalid for a %lld-byte file",
                      (long long)flen, (long long)n);
    goto fail;
  }
  if (flen > r->opt.max_metadata_size) {
    rc = oa_error_set(err, E2BIG, "file: footer of %lld bytes exceeds %lld",
                      (long long)flen, (long long)r->opt.max_metadata_size);
    goto fail;
  }
  r->footer_start = n - 10 - flen;
  OA_GOTO_NOT_OK(rc,
                 oa_ipc_footer_decode(p + r->footer_start, flen,
                                      r->opt.max_depth, &r->footer, err),
                 fail);
  if (!r->footer.schema) {
    rc = oa_error_set(err, EINVAL, "file: footer without a schema");
    goto fail;
  }
  OA_GOTO_NOT_OK(rc, check_stream_schema(r, err), fail);
  OA_GOTO_NOT_OK(rc, oa_ipc_decoder_new(&r->dec, &r->opt, err), fail);
  oa_ipc_decoder_forbid_replacement(r->dec, true);
  OA_GOTO_NOT_OK(rc, oa_ipc_decoder_set_schema(r->dec, r->footer.schema, err),
                 fail);
  OA_GOTO_NOT_OK(rc, read_dictionaries(r, err), fail);
  *out = r;
  return 0;
fail:
  oa_ipc_file_reader_free(r);
  return rc;
}

int oa_ipc_file_reader_open(oa_ipc_file_reader **out, const char *path,
                            const oa_ipc_read_options *opt, oa_error *err) {
  *out = NULL;
  oa_buffer data;
  OA_RETURN_NOT_OK(oa_file_map(path, &data, err));
  int rc = oa_ipc_file_reader_open_buffer(out, &data, opt, err);
  oa_region_release(data.region);
  if (rc) oa_error_prefix(err, rc, "%s: ", path);
  return rc;
}

void oa_ipc_file_reader_free(oa_ipc_file_reader *r) {
  if (!r) return;
  oa_ipc_decoder_free(r->dec);
  oa_ipc_footer_reset(&r->footer);
  oa_region_release(r->data.region);
  free(r);
}

oa_schema *oa_ipc_file_reader_schema(const oa_ipc_file_reader *r) {
  return r->footer.schema;
}

int64_t oa_ipc_file_reader_n_batches(const oa_ipc_file_reader *r) {
  return r->footer.n_batches;
}

int oa_ipc_file_reader_read(oa_ipc_file_reader *r, int64_t i, oa_batch *out,
                            oa_error *err) {
  if (i < 0 || i >= r->footer.n_batches)
    return oa_error_set(err, EINVAL, "batch index %lld out of range [0, %lld)",
                        (long long)i, (long long)r->footer.n_batches);
  char what[64];
  snprintf(what, sizeof what, "record batch block %lld", (long long)i);
  oa_ipc_message_meta m;
  oa_ipc_message_meta_init(&m);
  oa_buffer body;
  int rc = read_block(r, what, &r->footer.batches[i], &m, &body, err);
  if (!rc && m.header_type != OA_IPC_HEADER_RECORD_BATCH)
    rc = oa_error_set(err, EINVAL, "%s: not a record batch", what);
  oa_ipc_msg_type type;
  oa_batch b;
  oa_batch_init(&b);
  if (!rc) rc = oa_ipc_decoder_decode_meta(r->dec, &m, &body, &type, &b, err);
  oa_ipc_message_meta_reset(&m);
  if (rc) {
    oa_batch_reset(&b);
    return rc;
  }
  oa_batch_reset(out);
  oa_batch_move(out, &b);
  return 0;
}
