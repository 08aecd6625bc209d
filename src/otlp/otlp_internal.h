/* Internal helpers of the OTLP codec: protobuf wire format primitives, UTF-8
 * validation and the attribute map field (not installed). */
#ifndef OA_OTLP_INTERNAL_H
#define OA_OTLP_INTERNAL_H

#include <string.h>

#include "otlparrow/otlp.h"

/* protobuf wire types */
enum {
  OA_PB_VARINT = 0,
  OA_PB_I64 = 1,
  OA_PB_LEN = 2,
  OA_PB_SGROUP = 3,
  OA_PB_EGROUP = 4,
  OA_PB_I32 = 5
};

/* Builds the attribute map field (see docs/schema.md); key_dict_id < 0 makes
 * plain (not dictionary-encoded) keys. */
int oa_otlp_attributes_field(oa_field *f, const char *name, int64_t key_dict_id,
                             oa_error *err);

/* Reads a varint at *pp (bounded by end). Returns false when it is truncated
 * or longer than 10 bytes / 64 bits; *pp is advanced on success only. */
static inline bool oa_pb_varint(const uint8_t **pp, const uint8_t *end,
                                uint64_t *out) {
  const uint8_t *p = *pp;
  *out = 0;
  if (OA_LIKELY(p < end && *p < 0x80)) {
    *out = *p;
    *pp = p + 1;
    return true;
  }
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (OA_UNLIKELY(p >= end)) return false;
    uint64_t b = *p++;
    if (shift == 63 && b > 1) return false; /* bits past 64 */
    v |= (b & 0x7f) << shift;
    if (b < 0x80) {
      *out = v;
      *pp = p;
      return true;
    }
  }
  return false;
}

static inline uint32_t oa_pb_load32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v; /* little-endian hosts only (as the Arrow buffers) */
}
static inline uint64_t oa_pb_load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static inline int oa_pb_varint_size(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static inline uint8_t *oa_pb_put_varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

/* True when s[0..n) is valid UTF-8 (no overlongs, surrogates or code points
 * past U+10FFFF). ASCII runs are checked 8 bytes at a time. */
static inline bool oa_otlp_utf8_valid(const uint8_t *s, int64_t n) {
  int64_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    int len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; k++) {
      uint8_t cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
      return false;
    if (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) return false;
    i += len;
  }
  return true;
}

#endif
