/* Stream and file writers over an oa_sink. */
#include <stdlib.h>
#include <string.h>

#include "ipc/ipc_internal.h"

struct oa_ipc_writer {
  oa_ipc_format format;
  oa_schema *schema;
  oa_ipc_encoder *enc;
  oa_sink sink;
  int64_t written;
  bool finished;
  int failed;
  int64_t n_dicts, cap_dicts, n_batches, cap_batches;
  oa_ipc_block *dicts, *batches;
};

static int oom(oa_error *err) {
  return oa_error_set(err, ENOMEM, "ipc writer: out of memory");
}

static int put(oa_ipc_writer *w, const void *data, int64_t len, oa_error *err) {
  if (len == 0) return 0;
  OA_RETURN_NOT_OK(w->sink.write(w->sink.ctx, data, len, err));
  w->written += len;
  return 0;
}

static int add_block(oa_ipc_block **blocks, int64_t *n, int64_t *cap,
                     oa_ipc_block b) {
  if (*n == *cap) {
    int64_t c = *cap ? *cap * 2 : 16;
    oa_ipc_block *p = realloc(*blocks, (size_t)c * sizeof *p);
    if (!p) return ENOMEM;
    *blocks = p;
    *cap = c;
  }
  (*blocks)[(*n)++] = b;
  return 0;
}

static int write_message(oa_ipc_writer *w, const oa_ipc_message *m,
                         oa_error *err) {
  if (m->metadata.size > INT32_MAX - 8)
    return oa_error_set(err, E2BIG, "message metadata too large");
  oa_ipc_block block = {w->written, (int32_t)(8 + m->metadata.size),
                        m->body_length};
  uint8_t prefix[8];
  oa_ipc_store_i32(prefix, -1);
  oa_ipc_store_i32(prefix + 4, (int32_t)m->metadata.size);
  OA_RETURN_NOT_OK(put(w, prefix, 8, err));
  OA_RETURN_NOT_OK(put(w, m->metadata.data, m->metadata.size, err));
  for (int64_t i = 0; i < m->n_segments; i++)
    OA_RETURN_NOT_OK(put(w, m->segments[i].data, m->segments[i].size, err));
  if (w->format == OA_IPC_FILE) {
    int rc = 0;
    if (m->type == OA_IPC_MSG_DICTIONARY)
      rc = add_block(&w->dicts, &w->n_dicts, &w->cap_dicts, block);
    else if (m->type == OA_IPC_MSG_RECORD_BATCH)
      rc = add_block(&w->batches, &w->n_batches, &w->cap_batches, block);
    if (rc) return oom(err);
  }
  return 0;
}

static int emit(void *ctx, const oa_ipc_message *m, oa_error *err) {
  return write_message(ctx, m, err);
}

int oa_ipc_writer_new(oa_ipc_writer **out, oa_ipc_format format,
                      oa_schema *schema, const oa_ipc_write_options *opt,
                      oa_sink sink, oa_error *err) {
  *out = NULL;
  if (!sink.write) return oa_error_set(err, EINVAL, "ipc writer: no sink");
  oa_ipc_writer *w = calloc(1, sizeof *w);
  if (!w) return oom(err);
  w->format = format;
  w->sink = sink;
  oa_schema_retain(schema);
  w->schema = schema;
  int rc = oa_ipc_encoder_new(&w->enc, schema, opt, err);
  if (!rc) {
    oa_ipc_encoder_forbid_replacement(w->enc, format == OA_IPC_FILE);
    if (format == OA_IPC_FILE) rc = put(w, "ARROW1\0\0", 8, err);
  }
  if (!rc) {
    oa_ipc_message m;
    oa_ipc_message_init(&m);
    rc = oa_ipc_encoder_schema(w->enc, &m, err);
    if (!rc) rc = write_message(w, &m, err);
    oa_ipc_message_reset(&m);
  }
  if (rc) {
    oa_ipc_writer_free(w);
    return rc;
  }
  *out = w;
  return 0;
}

int oa_ipc_writer_write(oa_ipc_writer *w, const oa_batch *batch,
                        oa_error *err) {
  if (w->finished) return oa_error_set(err, EINVAL, "ipc writer: finished");
  if (w->failed)
    return oa_error_set(err, w->failed, "ipc writer: failed earlier");
  int rc = oa_ipc_encoder_batch(w->enc, batch, emit, w, err);
  /* a sink failure leaves a partial message behind: refuse more */
  if (rc && rc != EINVAL && rc != ENOTSUP) w->failed = rc;
  return rc;
}

int oa_ipc_writer_finish(oa_ipc_writer *w, oa_error *err) {
  if (w->finished) return 0;
  if (w->failed)
    return oa_error_set(err, w->failed, "ipc writer: failed earlier");
  static const uint8_t eos[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
  OA_RETURN_NOT_OK(put(w, eos, 8, err));
  if (w->format == OA_IPC_FILE) {
    oa_ipc_footer f;
    oa_ipc_footer_init(&f);
    f.version = OA_IPC_METADATA_V5;
    f.schema = w->schema;
    f.n_dictionaries = w->n_dicts;
    f.dictionaries = w->dicts;
    f.n_batches = w->n_batches;
    f.batches = w->batches;
    oa_bytes fb;
    oa_bytes_init(&fb);
    int rc = oa_ipc_encode_footer(&f, &fb, err);
    if (!rc && fb.size > INT32_MAX)
      rc = oa_error_set(err, E2BIG, "footer too large");
    if (!rc) rc = put(w, fb.data, fb.size, err);
    if (!rc) {
      uint8_t tail[10];
      oa_ipc_store_i32(tail, (int32_t)fb.size);
      static const uint8_t magic[6] = {'A', 'R', 'R', 'O', 'W', '1'};
      memcpy(tail + 4, magic, sizeof magic);
      rc = put(w, tail, 10, err);
    }
    oa_bytes_reset(&fb);
    if (rc) {
      w->failed = rc;
      return rc;
    }
  }
  w->finished = true;
  return 0;
}

void oa_ipc_writer_free(oa_ipc_writer *w) {
  if (!w) return;
  oa_ipc_encoder_free(w->enc);
  oa_schema_release(w->schema);
  free(w->dicts);
  free(w->batches);
  free(w);
}

int64_t oa_ipc_writer_bytes_written(const oa_ipc_writer *w) {
  return w->written;
}
