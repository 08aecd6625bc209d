/* oa_bytes: a growable 64-byte aligned byte buffer. */
#include <stdlib.h>
#include <string.h>

#include "otlparrow/builder.h"

void oa_bytes_init(oa_bytes *b) { memset(b, 0, sizeof *b); }

void oa_bytes_reset(oa_bytes *b) {
  oa_aligned_free(b->data);
  memset(b, 0, sizeof *b);
}

int oa_bytes_grow(oa_bytes *b, int64_t extra) {
  if (extra < 0 || b->size > INT64_MAX - 64 - extra) return ENOMEM;
  int64_t need = b->size + extra;
  if (need <= b->capacity) return 0;
  int64_t cap = b->capacity < 64 ? 64 : b->capacity;
  while (cap < need)
    cap = cap > INT64_MAX / 2 ? need : cap * 2;
  cap = (cap + 63) & ~(int64_t)63;
  uint8_t *p = oa_aligned_alloc(cap);
  if (!p) return ENOMEM;
  if (b->size) memcpy(p, b->data, (size_t)b->size);
  /* zeroed growth keeps bitmaps and padding deterministic */
  memset(p + b->size, 0, (size_t)(cap - b->size));
  oa_aligned_free(b->data);
  b->data = p;
  b->capacity = cap;
  return 0;
}

int oa_bytes_finish(oa_bytes *b, oa_buffer *out) {
  memset(out, 0, sizeof *out);
  if (!b->data) {
    oa_bytes_init(b);
    return 0;
  }
  oa_region *r = oa_region_adopt(b->data, b->size);
  if (!r) return ENOMEM;
  out->data = b->data;
  out->size = b->size;
  out->region = r;
  oa_bytes_init(b);
  return 0;
}
