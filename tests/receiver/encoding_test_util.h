/* Compressed request bodies for the OTLP/HTTP receiver tests: a gzip
 * member and a zstd frame of the given bytes, at a given level (the bomb
 * tests want the smallest bodies, the others fast ones). */
#ifndef OA_TEST_ENCODING_UTIL_H
#define OA_TEST_ENCODING_UTIL_H

#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "otlparrow/builder.h"
#include "test.h"

static inline void enc_gzip(const void *in, size_t n, int level,
                            oa_bytes *out) {
  z_stream z;
  memset(&z, 0, sizeof z);
  CHECK(deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 9,
                     Z_DEFAULT_STRATEGY) == Z_OK);
  oa_bytes_init(out);
  oa_bytes_reserve(out, (int64_t)deflateBound(&z, (uLong)n));
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  z.next_out = out->data;
  z.avail_out = (uInt)out->capacity;
  CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out->size = (int64_t)z.total_out;
  deflateEnd(&z);
}

static inline void enc_zstd(const void *in, size_t n, int level,
                            oa_bytes *out) {
  oa_bytes_init(out);
  oa_bytes_reserve(out, (int64_t)ZSTD_compressBound(n));
  size_t k = ZSTD_compress(out->data, (size_t)out->capacity, in, n, level);
  CHECK(!ZSTD_isError(k));
  out->size = (int64_t)k;
}

#endif
