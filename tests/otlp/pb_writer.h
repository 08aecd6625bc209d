/* Writing protobuf wire bytes by hand in the OTLP tests: the requests are
 * spelled out field by field so that the tests do not depend on the
 * encoder they check. */
#ifndef OA_TEST_PB_WRITER_H
#define OA_TEST_PB_WRITER_H

#include <stdint.h>
#include <string.h>

typedef struct buf {
  uint8_t d[4096];
  size_t n;
} buf;

static inline void b_raw(buf *b, const void *d, size_t n) {
  memcpy(b->d + b->n, d, n);
  b->n += n;
}
static inline void b_varint(buf *b, uint64_t v) {
  while (v >= 0x80) {
    b->d[b->n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b->d[b->n++] = (uint8_t)v;
}
static inline void b_tag(buf *b, uint32_t field, int wt) {
  b_varint(b, (uint64_t)field << 3 | (uint64_t)wt);
}
static inline void b_len(buf *b, uint32_t field, const void *d, size_t n) {
  b_tag(b, field, 2);
  b_varint(b, n);
  b_raw(b, d, n);
}
static inline void b_msg(buf *b, uint32_t field, const buf *m) {
  b_len(b, field, m->d, m->n);
}
static inline void b_str(buf *b, uint32_t field, const char *s) {
  b_len(b, field, s, strlen(s));
}
static inline void b_vint(buf *b, uint32_t field, uint64_t v) {
  b_tag(b, field, 0);
  b_varint(b, v);
}
static inline void b_fixed64(buf *b, uint32_t field, uint64_t v) {
  b_tag(b, field, 1);
  b_raw(b, &v, 8);
}

#endif
