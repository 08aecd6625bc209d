/* Column-append helpers shared by the two span-batch builders: the OTLP
 * protobuf decoder (pb_decode.c) and the exporter's builder from staged
 * span records (src/exporter/span_rows.c). Both append into the same
 * builders, so one definition keeps their batches identical. */
#ifndef OA_OTLP_BUILD_H
#define OA_OTLP_BUILD_H

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "arrow/internal.h"
#include "otlp/otlp_internal.h"

/* The span columns that hold per-resource / per-scope values: both builders
 * keep these as dictionaries with one entry per resource or scope. */
#define OA_OTLP_N_VALUE_COLS 7
static const int oa_otlp_value_cols[OA_OTLP_N_VALUE_COLS] = {
    OA_SPAN_RESOURCE_ATTRIBUTES,  OA_SPAN_RESOURCE_SCHEMA_URL,
    OA_SPAN_RESOURCE_ENTITY_REFS, OA_SPAN_SCOPE_NAME,
    OA_SPAN_SCOPE_VERSION,        OA_SPAN_SCOPE_ATTRIBUTES,
    OA_SPAN_SCOPE_SCHEMA_URL};

/* Whether column c is built row by row (else it is one of
 * oa_otlp_value_cols, a dictionary over resource_id / scope_id). */
static inline bool oa_otlp_is_direct(int c) {
  for (int i = 0; i < OA_OTLP_N_VALUE_COLS; i++)
    if (oa_otlp_value_cols[i] == c) return false;
  return true;
}

/* Finishes a span batch's columns: the row builders b[c] (direct[c]) into
 * cols[c], then each of oa_otlp_value_cols as a dictionary of vb[i]'s values
 * over the indices of its id column (resource_id / scope_id, shared, not
 * copied). cols NULL: every builder is finished and the result dropped
 * (the builders start over). The first failure is returned; every builder
 * is finished regardless. what names the builder in errors. */
static inline int oa_otlp_finish_columns(oa_builder *b, const bool *direct,
                                         oa_builder *const *vb, oa_array *cols,
                                         const char *what, oa_error *err) {
  int rc = 0;
  oa_array tmp;
  for (int c = 0; c < OA_SPAN_N_COLUMNS; c++) {
    if (!direct[c]) continue;
    oa_array *dst = cols ? &cols[c] : &tmp;
    oa_array_init(dst);
    int x = oa_builder_finish(&b[c], dst, err);
    if (x && !rc) rc = x;
    if (!cols) oa_array_reset(&tmp);
  }
  for (int i = 0; i < OA_OTLP_N_VALUE_COLS; i++) {
    int col = oa_otlp_value_cols[i];
    int id_col =
        col < OA_SPAN_SCOPE_ID ? OA_SPAN_RESOURCE_ID : OA_SPAN_SCOPE_ID;
    oa_array *values = calloc(1, sizeof *values);
    if (!values) {
      if (!rc) rc = oa_error_set(err, ENOMEM, "%s: out of memory", what);
      oa_array_init(&tmp);
      oa_builder_finish(vb[i], &tmp, NULL);
      oa_array_reset(&tmp);
      if (cols) oa_array_init(&cols[col]);
      continue;
    }
    oa_array_init(values);
    int x = oa_builder_finish(vb[i], values, err);
    if (x && !rc) rc = x;
    if (!cols || x) {
      oa_array_reset(values);
      free(values);
      if (cols) oa_array_init(&cols[col]);
      continue;
    }
    oa_array *dst = &cols[col];
    oa_array_init(dst);
    x = oa_array_copy(dst, &cols[id_col], err);
    if (x && !rc) rc = x;
    dst->dictionary = values;
  }
  return rc;
}

/* Byte equality without a call for short strings. */
static inline bool oa_otlp_eq_bytes(const uint8_t *a, const uint8_t *b,
                                    int64_t n) {
  if (n >= 8) {
    if (n > 32) return memcmp(a, b, (size_t)n) == 0;
    uint64_t x = oa_pb_load64(a) ^ oa_pb_load64(b);
    x |= oa_pb_load64(a + n - 8) ^ oa_pb_load64(b + n - 8);
    if (n > 16) {
      x |= oa_pb_load64(a + 8) ^ oa_pb_load64(b + 8);
      x |= oa_pb_load64(a + n - 16) ^ oa_pb_load64(b + n - 16);
    }
    return x == 0;
  }
  if (n >= 4)
    return ((oa_pb_load32(a) ^ oa_pb_load32(b)) |
            (oa_pb_load32(a + n - 4) ^ oa_pb_load32(b + n - 4))) == 0;
  for (int64_t i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}

static inline bool oa_otlp_ascii_only(const uint8_t *s, int64_t n) {
  uint64_t acc = 0;
#if defined(__SSE2__)
  if (n >= 16) { /* 16 bytes at a time (SSE2 is in the x86-64 baseline) */
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
    for (int64_t i = 0; i + 16 < n; i += 16)
      v = _mm_or_si128(v,
                       _mm_loadu_si128((const __m128i *)(const void *)(s + i)));
    return _mm_movemask_epi8(v) == 0;
  }
#endif
  if (n >= 8) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      acc |= oa_pb_load64(s + i);
    acc |= oa_pb_load64(s + n - 8);
  } else if (n >= 4) {
    acc = oa_pb_load32(s) | oa_pb_load32(s + n - 4);
  } else {
    for (int64_t i = 0; i < n; i++)
      acc |= s[i];
  }
  return (acc & 0x8080808080808080ull) == 0;
}

/* Appends a dictionary index (int32) to a dictionary-encoded builder. */
static inline int oa_otlp_dict_index(oa_builder *b, int32_t idx) {
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  rc = oa_bytes_append(&b->values, &idx, 4);
  if (rc) return rc;
  b->length++;
  return 0;
}

/* Appends a bool; bitmap bytes are added zeroed as the length crosses 8. */
static inline int oa_otlp_bool_append(oa_builder *b, bool v) {
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  if ((b->length & 7) == 0) {
    rc = oa_bytes_reserve(&b->values, 1);
    if (rc) return rc;
    b->values.data[b->values.size++] = 0;
  }
  if (v) oa_bit_set(b->values.data, b->length);
  b->length++;
  return 0;
}

/* Closes a list entry whose elements were appended to children[0]. */
static inline int oa_otlp_list_valid(oa_builder *b) {
  int rc = oa_builder_mark_valid_(b);
  if (rc) return rc;
  if (OA_UNLIKELY(b->children[0].length > INT32_MAX)) return E2BIG;
  int32_t end = (int32_t)b->children[0].length;
  rc = oa_bytes_append(&b->values, &end, 4);
  if (rc) return rc;
  b->length++;
  return 0;
}

/* Grows b to cap without zero-filling (the builders' own growth zeroes the
 * new space, which costs a second pass over memory about to be written). A
 * failed allocation only costs speed: appends grow as usual. */
static inline void oa_otlp_reserve_raw(oa_bytes *b, int64_t cap) {
  if (cap <= b->capacity) return;
  cap = (cap + 63) & ~(int64_t)63;
  uint8_t *p = oa_aligned_alloc(cap);
  if (!p) return;
  if (b->size) memcpy(p, b->data, (size_t)b->size);
  oa_aligned_free(b->data);
  b->data = p;
  b->capacity = cap;
}

/* Zeroes the bytes between size and the next 64-byte boundary, which Arrow
 * buffers are padded to and reserve_raw left unset. */
static inline void oa_otlp_zero_tail(oa_bytes *b) {
  if (!b->data) return;
  int64_t pad = ((b->size + 63) & ~(int64_t)63) - b->size;
  if (pad > b->capacity - b->size) pad = b->capacity - b->size;
  if (pad > 0) memset(b->data + b->size, 0, (size_t)pad);
}

/* ---- batch recycling: a finished batch's uniquely owned heap buffers are
 * taken back and handed to the builders of the next batch, which then skips
 * the allocation and the page faults of fresh memory. Buffers are numbered
 * by hint slot: a pre-order walk of the builders that gives each builder two
 * slots (values, data), then walks its children and its dictionary values;
 * both builders number their hints this way. */
typedef struct oa_otlp_spares {
  oa_bytes *buf;   /* one per slot (size 0, capacity known) */
  int64_t n_slots; /* of buf */
  int64_t n_held;  /* slots holding a buffer */
  /* release function of oa_region_alloc's regions: only their memory came
   * from oa_aligned_alloc and may be taken over */
  oa_region_release_fn heap_release;
} oa_otlp_spares;

/* Frees the buffers no builder took. */
static inline void oa_otlp_spares_drop(oa_otlp_spares *s) {
  for (int64_t k = 0; k < s->n_slots && s->n_held > 0; k++) {
    if (!s->buf[k].data) continue;
    oa_bytes_reset(&s->buf[k]);
    s->n_held--;
  }
  s->n_held = 0;
}

static inline void oa_otlp_spares_free(oa_otlp_spares *s) {
  if (s->buf) oa_otlp_spares_drop(s);
  free(s->buf);
  s->buf = NULL;
  s->n_slots = 0;
}

/* n_slots: the builders' hint count. 0 or ENOMEM. */
static inline int oa_otlp_spares_init(oa_otlp_spares *s, int64_t n_slots) {
  memset(s, 0, sizeof *s);
  s->buf = calloc((size_t)n_slots, sizeof *s->buf);
  if (!s->buf) return ENOMEM;
  s->n_slots = n_slots;
  /* the release function of heap regions (static in the Arrow core): what
   * oa_otlp_spare_take recognizes them by */
  oa_region *probe = oa_region_alloc(1);
  if (!probe) {
    oa_otlp_spares_free(s);
    return ENOMEM;
  }
  s->heap_release = probe->release;
  oa_region_release(probe);
  return 0;
}

/* Reserves cap bytes in b (cap includes 64 bytes of slack) from the spare
 * buffer of slot k when that fits: big enough for the expected bytes, and
 * at most 1.5x the reservation, so a small batch never keeps a large one's
 * memory. A spare that does not fit is freed. A failed allocation only
 * costs speed: appends grow as usual. */
static inline void oa_otlp_spare_reserve(oa_otlp_spares *s, int64_t k,
                                         oa_bytes *b, int64_t cap) {
  oa_bytes *sp = &s->buf[k];
  if (sp->data) {
    if (cap > b->capacity && sp->capacity + 64 >= cap &&
        sp->capacity <= cap + cap / 2 && sp->capacity >= b->size) {
      /* (b holds at most the initial offset written by finish) */
      if (b->size) memcpy(sp->data, b->data, (size_t)b->size);
      sp->size = b->size;
      oa_aligned_free(b->data);
      *b = *sp;
      oa_bytes_init(sp);
      s->n_held--;
      return; /* (without the slack: appends grow it if need be) */
    }
    oa_bytes_reset(sp);
    s->n_held--;
  }
  oa_otlp_reserve_raw(b, cap);
}

/* Reserves a builder's values and data (slots k, k + 1) for hv and hd
 * bytes. Bool bitmaps are set bit by bit and keep the zero-filling growth. */
static inline void oa_otlp_spare_reserve_builder(oa_otlp_spares *s, int64_t k,
                                                 oa_builder *b, int64_t hv,
                                                 int64_t hd) {
  if (b->type.id == OA_TYPE_BOOL && !b->dict.encoded) {
    (void)oa_bytes_reserve(&b->values, hv - b->values.size);
    (void)oa_bytes_reserve(&b->data, hd - b->data.size);
  } else {
    oa_otlp_spare_reserve(s, k, &b->values, hv);
    oa_otlp_spare_reserve(s, k + 1, &b->data, hd);
  }
}

/* Takes the memory of buf into slot k when buf is the only reference to a
 * heap region's memory (region from oa_region_alloc/oa_bytes_finish,
 * refcount 1, the buffer starting at the region's data): memory a copy or
 * slice still sees is never written. Such memory came from
 * oa_aligned_alloc, which rounds sizes up to 64 bytes: that much is known
 * to be usable. */
static inline void oa_otlp_spare_take(oa_otlp_spares *s, int64_t k,
                                      oa_buffer *buf) {
  oa_region *r = buf->region;
  if (!r || k >= s->n_slots || s->buf[k].data || !r->data ||
      r->release != s->heap_release || r->data != buf->data || r->size <= 0 ||
      atomic_load(&r->refcount) != 1)
    return;
  oa_bytes *sp = &s->buf[k];
  sp->data = r->data;
  sp->size = 0;
  sp->capacity = (r->size + 63) & ~(int64_t)63;
  /* the region no longer owns the memory; releasing it frees the region
   * alone (its release frees a NULL data pointer, a no-op) */
  r->data = NULL;
  buf->data = NULL;
  s->n_held++;
}

/* Walks array a along builder b (the structure finish gives) and takes the
 * buffers appends write completely: values and data, not validity bitmaps
 * or bool values (set bit by bit on zeroed memory). A structure that does
 * not match is skipped. Returns the next slot. */
static inline int64_t oa_otlp_recycle_walk(oa_otlp_spares *s, oa_builder *b,
                                           oa_array *a, int64_t k) {
  oa_type_id id = b->type.id;
  if (a && b->dict.encoded) {
    if (a->n_buffers == 2) oa_otlp_spare_take(s, k, &a->buffers[1]);
  } else if (a && (id == OA_TYPE_SPARSE_UNION || id == OA_TYPE_DENSE_UNION)) {
    if (a->n_buffers == oa_layout_n_buffers(id)) {
      oa_otlp_spare_take(s, k, &a->buffers[0]);
      if (id == OA_TYPE_DENSE_UNION)
        oa_otlp_spare_take(s, k + 1, &a->buffers[1]);
    }
  } else if (a && id != OA_TYPE_BOOL &&
             a->n_buffers == oa_layout_n_buffers(id)) {
    if (a->n_buffers >= 2) oa_otlp_spare_take(s, k, &a->buffers[1]);
    if (a->n_buffers >= 3) oa_otlp_spare_take(s, k + 1, &a->buffers[2]);
  }
  k += 2;
  bool kids = a && !b->dict.encoded && a->n_children == b->n_children;
  for (int64_t i = 0; i < b->n_children; i++)
    k = oa_otlp_recycle_walk(s, &b->children[i], kids ? &a->children[i] : NULL,
                             k);
  if (b->dict_values)
    k = oa_otlp_recycle_walk(s, b->dict_values, a ? a->dictionary : NULL, k);
  return k;
}

/* Takes back a span batch (left reset): b are the builders of the columns
 * (direct: built by b, else a per-resource / per-scope column), values
 * those of the per-resource / per-scope dictionaries (oa_otlp_value_cols
 * order), slot the first slot of every column. Any batch is accepted: what
 * does not match the builders is freed. */
static inline void oa_otlp_recycle_batch(oa_otlp_spares *s, oa_builder *b,
                                         const bool *direct,
                                         oa_builder *const *values,
                                         const int64_t *slot, oa_batch *batch) {
  if (!batch) return;
  if (batch->n_columns == OA_SPAN_N_COLUMNS && batch->columns) {
    /* the per-resource/per-scope columns share the resource_id/scope_id
     * buffers: their dictionaries first, then drop those references so
     * that the id buffers are left with one */
    for (int i = 0; i < OA_OTLP_N_VALUE_COLS; i++) {
      oa_array *a = &batch->columns[oa_otlp_value_cols[i]];
      oa_otlp_recycle_walk(s, values[i], a->dictionary,
                           slot[oa_otlp_value_cols[i]]);
      oa_array_reset(a);
    }
    for (int c = 0; c < OA_SPAN_N_COLUMNS; c++)
      if (direct[c])
        oa_otlp_recycle_walk(s, &b[c], &batch->columns[c], slot[c]);
  }
  oa_batch_reset(batch);
}

#endif
