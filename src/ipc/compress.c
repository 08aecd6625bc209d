/* Body buffer compression (Arrow IPC BodyCompression, method BUFFER): each
 * buffer is an int64 LE uncompressed length followed by an LZ4 frame or a
 * ZSTD frame; -1 means the bytes follow uncompressed. */
#define LZ4F_STATIC_LINKING_ONLY /* LZ4F_compressFrame_usingCDict */
#include <lz4frame.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "ipc/ipc_internal.h"

const uint8_t oa_ipc_zeros[64];

static int append_raw(const uint8_t *data, int64_t len, oa_bytes *out,
                      oa_error *err) {
  uint8_t prefix[8];
  oa_ipc_store_i64(prefix, -1);
  if (oa_bytes_append(out, prefix, 8) || oa_bytes_append(out, data, len))
    return oa_error_set(err, ENOMEM, "compression: out of memory");
  return 0;
}

void oa_ipc_codec_ctx_init(oa_ipc_codec_ctx *ctx) {
  memset(ctx, 0, sizeof *ctx);
}

void oa_ipc_codec_ctx_reset(oa_ipc_codec_ctx *ctx) {
  ZSTD_freeCCtx(ctx->zstd_c);
  ZSTD_freeDCtx(ctx->zstd_d);
  if (ctx->lz4_c) LZ4F_freeCompressionContext(ctx->lz4_c);
  if (ctx->lz4_d) LZ4F_freeDecompressionContext(ctx->lz4_d);
  memset(ctx, 0, sizeof *ctx);
}

static int ctx_oom(const char *what, oa_error *err) {
  return oa_error_set(err, ENOMEM, "%s: cannot create a context", what);
}

int oa_ipc_compress_buffer_ctx(oa_ipc_codec_ctx *ctx, oa_compression codec,
                               int level, bool skip_incompressible,
                               const uint8_t *data, int64_t len, oa_bytes *out,
                               oa_error *err) {
  if (len == 0) return 0;
  size_t bound;
  LZ4F_preferences_t prefs;
  if (codec == OA_COMPRESSION_ZSTD) {
    bound = ZSTD_compressBound((size_t)len);
  } else if (codec == OA_COMPRESSION_LZ4_FRAME) {
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.contentSize = (unsigned long long)len;
    prefs.compressionLevel = level;
    bound = LZ4F_compressFrameBound((size_t)len, &prefs);
  } else {
    return oa_error_set(err, EINVAL, "compression: unknown codec %d",
                        (int)codec);
  }
  if (oa_bytes_reserve(out, 8 + (int64_t)bound))
    return oa_error_set(err, ENOMEM, "compression: out of memory");
  uint8_t *dst = out->data + out->size + 8;
  size_t n;
  if (codec == OA_COMPRESSION_ZSTD) {
    int lvl = level ? level : ZSTD_CLEVEL_DEFAULT;
    if (ctx && !ctx->zstd_c && !(ctx->zstd_c = ZSTD_createCCtx()))
      return ctx_oom("zstd", err);
    /* same frame as ZSTD_compress, minus a context allocation per buffer */
    n = ctx ? ZSTD_compressCCtx(ctx->zstd_c, dst, bound, data, (size_t)len, lvl)
            : ZSTD_compress(dst, bound, data, (size_t)len, lvl);
    if (ZSTD_isError(n))
      return oa_error_set(err, EIO, "zstd compression failed: %s",
                          ZSTD_getErrorName(n));
  } else {
    if (ctx && !ctx->lz4_c) {
      LZ4F_cctx *c = NULL;
      if (LZ4F_isError(LZ4F_createCompressionContext(&c, LZ4F_VERSION)))
        return ctx_oom("lz4", err);
      ctx->lz4_c = c;
    }
    n = ctx ? LZ4F_compressFrame_usingCDict(ctx->lz4_c, dst, bound, data,
                                            (size_t)len, NULL, &prefs)
            : LZ4F_compressFrame(dst, bound, data, (size_t)len, &prefs);
    if (LZ4F_isError(n))
      return oa_error_set(err, EIO, "lz4 compression failed: %s",
                          LZ4F_getErrorName(n));
  }
  /* keep a frame only when it saves at least a tenth: below that the bytes
   * saved do not pay for decompressing on every read (a raw buffer is read
   * in place) */
  if (skip_incompressible && (int64_t)n > len - len / 10)
    return append_raw(data, len, out, err);
  oa_ipc_store_i64(out->data + out->size, len);
  out->size += 8 + (int64_t)n;
  return 0;
}

int oa_ipc_compress_buffer(oa_compression codec, int level,
                           bool skip_incompressible, const uint8_t *data,
                           int64_t len, oa_bytes *out, oa_error *err) {
  return oa_ipc_compress_buffer_ctx(NULL, codec, level, skip_incompressible,
                                    data, len, out, err);
}

static int lz4_decompress(LZ4F_dctx *ctx, const uint8_t *src, size_t n,
                          uint8_t *dst, size_t cap, size_t *produced,
                          oa_error *err) {
  /* a reused context may hold the state of a failed frame */
  LZ4F_resetDecompressionContext(ctx);
  size_t spos = 0, dpos = 0, ret = 1;
  int rc = 0;
  /* A buffer may hold several frames: the context restarts after each. */
  while (spos < n) {
    size_t dsz = cap - dpos, ssz = n - spos;
    ret = LZ4F_decompress(ctx, dst + dpos, &dsz, src + spos, &ssz, NULL);
    if (LZ4F_isError(ret)) {
      rc = oa_error_set(err, EINVAL, "lz4 decompression failed: %s",
                        LZ4F_getErrorName(ret));
      break;
    }
    spos += ssz;
    dpos += dsz;
    if (ssz == 0 && dsz == 0) {
      rc = oa_error_set(err, EINVAL,
                        "lz4 data decompresses to more than the %zu bytes "
                        "its length prefix declares",
                        cap);
      break;
    }
  }
  if (!rc && ret != 0) rc = oa_error_set(err, EINVAL, "lz4 frame is truncated");
  *produced = dpos;
  return rc;
}

int oa_ipc_decompress_buffer(oa_compression codec, const oa_buffer *src,
                             int64_t *budget, int64_t limit, oa_buffer *out,
                             oa_error *err) {
  oa_ipc_codec_ctx tmp;
  oa_ipc_codec_ctx_init(&tmp);
  int rc =
      oa_ipc_decompress_buffer_ctx(&tmp, codec, src, budget, limit, out, err);
  oa_ipc_codec_ctx_reset(&tmp);
  return rc;
}

int oa_ipc_decompress_buffer_ctx(oa_ipc_codec_ctx *ctx, oa_compression codec,
                                 const oa_buffer *src, int64_t *budget,
                                 int64_t limit, oa_buffer *out, oa_error *err) {
  if (!ctx)
    return oa_ipc_decompress_buffer(codec, src, budget, limit, out, err);
  memset(out, 0, sizeof *out);
  if (src->size == 0) return 0;
  if (src->size < 8)
    return oa_error_set(err, EINVAL,
                        "compressed buffer of %lld bytes is shorter than its "
                        "8-byte length prefix",
                        (long long)src->size);
  int64_t want = oa_ipc_load_i64(src->data);
  if (want == -1) {
    out->data = src->data + 8;
    out->size = src->size - 8;
    out->region = src->region;
    oa_region_retain(src->region);
    return 0;
  }
  if (want < 0)
    return oa_error_set(err, EINVAL, "invalid uncompressed length %lld",
                        (long long)want);
  if (want == 0) return 0;
  if (want > *budget) {
    /* saturate: a hostile prefix can be close to INT64_MAX */
    int64_t used = limit - *budget;
    int64_t total = want > INT64_MAX - used ? INT64_MAX : used + want;
    return oa_error_set(err, E2BIG,
                        "decompressed size %lld exceeds the limit %lld",
                        (long long)total, (long long)limit);
  }
  oa_region *r = oa_region_alloc(want);
  if (!r) return oa_error_set(err, ENOMEM, "decompression: out of memory");
  const uint8_t *in = src->data + 8;
  size_t n = (size_t)(src->size - 8), got = 0;
  int rc = 0;
  if (codec == OA_COMPRESSION_ZSTD) {
    if (!ctx->zstd_d && !(ctx->zstd_d = ZSTD_createDCtx())) {
      rc = ctx_oom("zstd", err);
    } else {
      got = ZSTD_decompressDCtx(ctx->zstd_d, r->data, (size_t)want, in, n);
      if (ZSTD_isError(got))
        rc = oa_error_set(err, EINVAL, "zstd decompression failed: %s",
                          ZSTD_getErrorName(got));
    }
  } else if (codec == OA_COMPRESSION_LZ4_FRAME) {
    LZ4F_dctx *d = ctx->lz4_d;
    if (!d && LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
      rc = ctx_oom("lz4", err);
    else {
      ctx->lz4_d = d;
      rc = lz4_decompress(d, in, n, r->data, (size_t)want, &got, err);
    }
  } else {
    rc = oa_error_set(err, EINVAL, "unknown compression codec %d", (int)codec);
  }
  if (!rc && (int64_t)got != want)
    rc = oa_error_set(err, EINVAL,
                      "decompressed %lld bytes but the length prefix says %lld",
                      (long long)got, (long long)want);
  if (rc) {
    oa_region_release(r);
    return rc;
  }
  *budget -= want;
  out->data = r->data;
  out->size = want;
  out->region = r;
  return 0;
}
