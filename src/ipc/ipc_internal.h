/* Internal: pieces shared by the IPC encoder, decoder, readers and writers. */
#ifndef OA_IPC_INTERNAL_H
#define OA_IPC_INTERNAL_H

#include "ipc/metadata.h"
#include "otlparrow/ipc.h"

#define OA_IPC_CONTINUATION 0xFFFFFFFFu

/* 8 zero bytes: padding segments and the empty offsets buffer [0]. */
extern const uint8_t oa_ipc_zeros[64];

static inline int64_t oa_ipc_pad8(int64_t n) { return (n + 7) & ~(int64_t)7; }

static inline int32_t oa_ipc_load_i32(const uint8_t *p) {
  uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
               (uint32_t)p[3] << 24;
  return (int32_t)v;
}
static inline int64_t oa_ipc_load_i64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return (int64_t)v;
}
static inline void oa_ipc_store_i32(uint8_t *p, int32_t x) {
  uint32_t v = (uint32_t)x;
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static inline void oa_ipc_store_i64(uint8_t *p, int64_t x) {
  uint64_t v = (uint64_t)x;
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Codec contexts (zstd and LZ4 frame, created on first use) kept by one
 * encoder or decoder so that each buffer does not pay for context setup.
 * Not shared between threads: one per object. */
typedef struct oa_ipc_codec_ctx {
  void *zstd_c, *zstd_d; /* ZSTD_CCtx, ZSTD_DCtx */
  void *lz4_c, *lz4_d;   /* LZ4F_cctx, LZ4F_dctx */
} oa_ipc_codec_ctx;

void oa_ipc_codec_ctx_init(oa_ipc_codec_ctx *ctx);
void oa_ipc_codec_ctx_reset(oa_ipc_codec_ctx *ctx);

/* As oa_ipc_compress_buffer / oa_ipc_decompress_buffer, reusing the contexts
 * in ctx (NULL: temporary contexts for this call). */
int oa_ipc_compress_buffer_ctx(oa_ipc_codec_ctx *ctx, oa_compression codec,
                               int level, bool skip_incompressible,
                               const uint8_t *data, int64_t len, oa_bytes *out,
                               oa_error *err);
int oa_ipc_decompress_buffer_ctx(oa_ipc_codec_ctx *ctx, oa_compression codec,
                                 const oa_buffer *src, int64_t *budget,
                                 int64_t limit, oa_buffer *out, oa_error *err);

/* Appends one compressed buffer (int64 LE uncompressed length + codec frame,
 * or -1 + raw bytes when skip_incompressible and it saves less than a
 * tenth) to out.
 * An empty input appends nothing. */
int oa_ipc_compress_buffer(oa_compression codec, int level,
                           bool skip_incompressible, const uint8_t *data,
                           int64_t len, oa_bytes *out, oa_error *err);

/* Decompresses one body buffer (prefix included). *budget is what remains of
 * the per-message decompressed-size limit (limit is the whole limit, for the
 * message). The result is a slice of src (-1 prefix), empty, or a new
 * region. */
int oa_ipc_decompress_buffer(oa_compression codec, const oa_buffer *src,
                             int64_t *budget, int64_t limit, oa_buffer *out,
                             oa_error *err);

/* Decodes a message whose metadata was already decoded (stream and file
 * readers parse it once to learn the body length). Takes nothing from meta
 * except borrowing; the schema is retained when it is a schema message. */
int oa_ipc_decoder_decode_meta(oa_ipc_decoder *dec, oa_ipc_message_meta *meta,
                               const oa_buffer *body, oa_ipc_msg_type *type,
                               oa_batch *out, oa_error *err);

/* Dictionary replacement is refused (file format). */
void oa_ipc_decoder_forbid_replacement(oa_ipc_decoder *dec, bool forbid);

/* Concatenates arrays of one field into a new array (copies). */
int oa_ipc_concat(const oa_field *f, const oa_array *arrays, int64_t n,
                  oa_array *out, oa_error *err);

/* Parses a framed message prefix at p (avail bytes): sets *prefix_len (8 or
 * 4 for the legacy framing) and *meta_len; returns 1 when more bytes are
 * needed, 0 when parsed, or an error. meta_len 0 means end of stream. */
int oa_ipc_parse_prefix(const uint8_t *p, int64_t avail, int64_t *prefix_len,
                        int64_t *meta_len, oa_error *err);

#endif
