/* Internals of the exporter (not installed): span staging, the direct
 * span batch builder, OTLP protobuf of staged spans (the persistent queue's
 * payload), the persistent queue and CRC-32C. */
#ifndef OA_EXPORTER_INTERNAL_H
#define OA_EXPORTER_INTERNAL_H

#include <stdatomic.h>

#include "otlparrow/exporter.h"

/* ---- a bump allocator over retained chunks: pointers stay valid until
 * clear, and a cleared arena reuses its chunks (no allocation in steady
 * state). */
typedef struct oa_exp_chunk {
  uint8_t *data;
  int64_t cap;
  bool mapped; /* mmap'ed by oa_exp_stage_warm, else malloc'ed */
} oa_exp_chunk;

typedef struct oa_exp_arena {
  oa_exp_chunk *chunks;
  int n_chunks, cap_chunks, cur;
  int64_t used;  /* in chunks[cur] */
  int64_t bytes; /* handed out since clear */
} oa_exp_arena;

void *oa_exp_arena_alloc_slow(oa_exp_arena *a, int64_t n);
/* Forgets every allocation, keeps the chunks. */
void oa_exp_arena_clear(oa_exp_arena *a);
void oa_exp_arena_reset(oa_exp_arena *a);
/* n bytes at an address aligned to mask + 1 */
static inline void *oa_exp_arena_alloc_at(oa_exp_arena *a, int64_t n,
                                          int64_t mask) {
  if (OA_LIKELY(a->cur < a->n_chunks)) {
    int64_t u = (a->used + mask) & ~mask;
    if (OA_LIKELY(u + n <= a->chunks[a->cur].cap)) {
      a->bytes += u + n - a->used;
      a->used = u + n;
      return a->chunks[a->cur].data + u;
    }
  }
  return oa_exp_arena_alloc_slow(a, n);
}
/* for records (8-byte aligned) */
static inline void *oa_exp_arena_alloc(oa_exp_arena *a, int64_t n) {
  return oa_exp_arena_alloc_at(a, n, 7);
}
/* for string bytes (unaligned: no padding between strings) */
static inline void *oa_exp_arena_bytes(oa_exp_arena *a, int64_t n) {
  return oa_exp_arena_alloc_at(a, n, 0);
}

/* ---- a staged attribute: 16 bytes. key is a staged string (below) with
 * the value's oa_anyvalue_type in the byte before its length; v holds the
 * int, double or bool (0/1), the staged string or bytes, or a deep copy of
 * an array or kvlist value. Staged spans, events, links, resources and
 * scopes hold their attributes as arrays of these, in the oa_keyvalue
 * pointer fields (oa_exp_kvs converts). */
typedef struct oa_exp_kv {
  const char *key;
  union {
    int64_t i;
    double d;
    const char *s;
    const oa_anyvalue *nested;
  } v;
} oa_exp_kv;

static inline const oa_exp_kv *oa_exp_kvs(const oa_keyvalue *p) {
  return (const oa_exp_kv *)(const void *)p;
}
static inline int oa_exp_kv_type(const oa_exp_kv *kv) {
  return (uint8_t)kv->key[-5];
}

/* ---- resource and scope: immutable after creation and reference counted,
 * so a staged batch holds them without a copy and an address cannot be
 * reused while a batch refers to it (oa_*_free drops the caller's
 * reference). */
struct oa_resource {
  atomic_int refs;
  oa_bytes msg;           /* Resource message body: content identity, queue */
  char *schema_url;       /* NULL: none */
  const oa_exp_kv *attrs; /* staged copy (service.name first when given) */
  size_t n_attrs;
  oa_exp_arena mem; /* the deep copy's strings and nested values */
};

struct oa_scope {
  atomic_int refs;
  oa_bytes msg; /* InstrumentationScope message body */
  char *schema_url;
  char *name, *version; /* never NULL */
  const oa_exp_kv *attrs;
  size_t n_attrs;
  oa_exp_arena mem;
};

void oa_exp_resource_retain(const oa_resource *r);
void oa_exp_scope_retain(const oa_scope *s);
/* Same content (message and schema_url; NULL is the empty resource). */
bool oa_exp_same_resource(const oa_resource *a, const oa_resource *b);

/* A run of consecutive staged spans with the same resource and scope
 * objects (a reference to each is held). */
typedef struct oa_exp_group {
  const oa_resource *res;
  const oa_scope *scope;
  int64_t first, end; /* span indices */
} oa_exp_group;

/* Attribute keys staged once per stage: a table from the caller's key
 * pointer and value type to the staged copy (whose type byte is that
 * type). Keys are nearly always the same few literals on every span, so
 * later attributes point at that copy instead of copying the key again
 * (fewer bytes, fewer fresh pages for the adding thread). A hit still
 * compares the bytes: the caller may reuse a buffer for another key.
 * Linear probing, at most half full (then a key takes its home slot);
 * emptied with the arena. */
#define OA_EXP_KEYS_BITS 8
#define OA_EXP_KEYS (1 << OA_EXP_KEYS_BITS)
typedef struct oa_exp_key_ent {
  uint64_t id;     /* caller's pointer ^ type << 61; 0: empty */
  const char *key; /* the staged copy (type at key[-5]) */
} oa_exp_key_ent;

typedef struct oa_exp_keys {
  int64_t n; /* entries in use */
  oa_exp_key_ent e[OA_EXP_KEYS];
} oa_exp_keys;

/* Spans added since the last seal: each oa_span record copied with
 * everything it points to into the arena, so the calling thread only
 * copies; the columns are built from these records on a sender thread
 * (oa_exp_rows_build). Every copied string (keys, values, names; the
 * attributes of resources and scopes too) is NUL-terminated and has its
 * length as a uint32 in the 4 bytes before it (oa_exp_staged_len); string
 * and bytes values also have it in oa_anyvalue's len; NULL span, event
 * and link strings stay NULL. Span, event and link attribute keys are
 * shared through `keys`: never write a staged key. */
typedef struct oa_exp_stage {
  oa_span *spans;
  int64_t n_spans, cap_spans;
  bool spans_mapped; /* mmap'ed by oa_exp_stage_warm, else malloc'ed */
  oa_exp_arena arena;
  oa_exp_group *groups;
  int64_t n_groups, cap_groups;
  int64_t first_ms; /* clock when the first span was staged */
  oa_exp_keys keys;
} oa_exp_stage;

static inline int64_t oa_exp_staged_len(const char *s) {
  uint32_t n;
  memcpy(&n, s - 4, 4);
  return n;
}

void oa_exp_stage_init(oa_exp_stage *s);
void oa_exp_stage_reset(oa_exp_stage *s);
/* Empties s (releasing its resources and scopes) but keeps its memory. */
void oa_exp_stage_clear(oa_exp_stage *s);
/* Makes an empty stage ready for n_spans spans of `bytes` arena bytes in
 * all, with its memory touched (page faults taken by the caller). New
 * memory is mapped in 2 MiB blocks advised for transparent huge pages, so
 * call it from a background thread only: a huge page fault may wait for
 * the kernel's compaction. */
int oa_exp_stage_warm(oa_exp_stage *s, int64_t n_spans, int64_t bytes);
/* Bytes the stage holds for its spans (buffer accounting). */
static inline int64_t oa_exp_stage_bytes(const oa_exp_stage *s) {
  return s->n_spans * (int64_t)sizeof(oa_span) + s->arena.bytes;
}
/* Bytes of memory the stage keeps allocated (pool accounting). */
static inline int64_t oa_exp_stage_capacity(const oa_exp_stage *s) {
  int64_t n = s->cap_spans * (int64_t)sizeof(oa_span);
  for (int i = 0; i < s->arena.n_chunks; i++)
    n += s->arena.chunks[i].cap;
  return n;
}

/* Checks a span (ids, nesting depth); err names span index i. */
int oa_exp_span_check(const oa_span *sp, size_t i, oa_error *err);
/* Appends a copy of one span to the stage. */
int oa_exp_stage_add(oa_exp_stage *s, const oa_span *sp, oa_error *err);
/* Writes the ExportTraceServiceRequest of the stage to out (replacing):
 * consecutive groups with equal resources share a ResourceSpans, each group
 * is one ScopeSpans. */
int oa_exp_stage_request(const oa_exp_stage *s, oa_bytes *out, oa_error *err);
/* Appends the AnyValue message body of v (nested values are stored as
 * these bytes in the batch, as the OTLP decoder does). */
int oa_exp_anyvalue_pb(oa_bytes *b, const oa_anyvalue *v);

/* ---- the span batch straight from staged records: the schema and values
 * that decoding oa_exp_stage_request's output with the OTLP decoder (default
 * options) gives, without the protobuf round trip. One per thread. */
typedef struct oa_exp_rows oa_exp_rows;
int oa_exp_rows_new(oa_exp_rows **out, oa_error *err);
void oa_exp_rows_free(oa_exp_rows *r);
/* Builds out (initialized; replaced) from the stage. Spans the decoder
 * would reject (invalid UTF-8, over its limits) are left out and counted in
 * *rejected, the first one's reason in msg. */
int oa_exp_rows_build(oa_exp_rows *r, const oa_exp_stage *s, oa_batch *out,
                      int64_t *rejected, char msg[OA_ERROR_SIZE],
                      oa_error *err);
/* Takes back a built batch (left reset; a build does it to what out held):
 * the next build reuses the heap buffers only it held that fit (at most 1.5x
 * the need); buffers shared with a copy or slice are left alone. */
void oa_exp_rows_recycle(oa_exp_rows *r, oa_batch *batch);

/* ---- CRC-32C (Castagnoli) */
typedef struct oa_crc32c {
  uint32_t table[256];
  bool hw; /* the CPU has the crc32 instruction (x86-64 SSE4.2) */
} oa_crc32c_table;
void oa_crc32c_init(oa_crc32c_table *c);
uint32_t oa_crc32c(const oa_crc32c_table *c, uint32_t crc, const void *data,
                   size_t n);
/* The running (not inverted) state over more parts: start from ~0u, extend
 * with each part, invert at the end (= oa_crc32c(c, 0, all parts)). */
uint32_t oa_crc32c_extend(const oa_crc32c_table *c, uint32_t state,
                          const void *data, size_t n);

/* ---- persistent queue: one file per batch in a directory.
 * File layout (little-endian): a 4-byte magic, u32 header size (48), id[16],
 * i64 spans, i64 payload length, u32 CRC-32C of the payload, u32 CRC-32C
 * of the preceding 44 header bytes; then the payload. Magic "OAQ2": the
 * payload is the batch as an Arrow IPC stream (schema, dictionaries, record
 * batches, end-of-stream marker), exactly the messages the exporter sends;
 * "OAQ1": an OTLP ExportTraceServiceRequest (forward's OTLP output, and the
 * exporter before the Arrow payload). Written as NAME.tmp, fsync'ed,
 * renamed to NAME.oaq and the directory fsync'ed, so a crash leaves either
 * no entry or a whole one; the checksums catch the rest (disk or copy
 * damage). */
typedef enum oa_exp_queue_format {
  OA_EXP_QUEUE_OTLP = 1,
  OA_EXP_QUEUE_ARROW = 2
} oa_exp_queue_format;

typedef struct oa_exp_queue_entry {
  char name[64]; /* file name inside the directory */
  uint8_t id[16];
  int64_t spans;
  int64_t file_bytes;
  oa_exp_queue_format format; /* set by oa_exp_queue_read */
} oa_exp_queue_entry;

struct iovec;
/* Writes an entry whose payload is the concatenation of iov (written with
 * writev, no copy); name (>= 64 bytes) gets its file name. seq orders
 * entries (replay sorts by name). */
int oa_exp_queue_writev(const char *dir, const oa_crc32c_table *crc,
                        uint64_t seq, const uint8_t id[16], int64_t spans,
                        oa_exp_queue_format format, const struct iovec *iov,
                        int64_t n_iov, bool sync, char *name, oa_error *err);
/* Writes an OTLP entry from one payload buffer. */
int oa_exp_queue_write(const char *dir, const oa_crc32c_table *crc,
                       uint64_t seq, const uint8_t id[16], int64_t spans,
                       const uint8_t *payload, int64_t len, bool sync,
                       char *name, oa_error *err);
int oa_exp_queue_remove(const char *dir, const char *name, bool sync,
                        oa_error *err);
/* Lists the *.oaq entries sorted by name (malloc'ed array, free()); stale
 * *.tmp files are removed. */
int oa_exp_queue_list(const char *dir, oa_exp_queue_entry **out, int64_t *n,
                      oa_error *err);
/* Verifies a whole entry held in memory (n bytes at data; what names it in
 * errors): e gets its id, spans and format (name and file_bytes are left
 * alone); the payload is data + 48, n - 48 bytes. EIO as below. */
int oa_exp_queue_parse(const oa_crc32c_table *crc, const char *what,
                       const uint8_t *data, int64_t n, oa_exp_queue_entry *e,
                       oa_error *err);
/* Reads and verifies an entry: payload replaced in out; EIO with a message
 * naming the file and what is wrong when torn or corrupt. */
int oa_exp_queue_read(const char *dir, const oa_crc32c_table *crc,
                      oa_exp_queue_entry *e, oa_bytes *out, oa_error *err);

#endif
