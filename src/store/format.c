/* On-disk formats of the store: log records, the manifest, bloom files. */
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static int oom(oa_error *err) {
  return oa_error_set(err, ENOMEM, "store: out of memory");
}

/* ------------------------------------------------------------ log records */

int oa_store_wal_begin_(oa_bytes *out, int type, const char *name,
                        const char *id, int64_t time, int64_t *start,
                        oa_error *err) {
  size_t nl = strlen(name), il = id ? strlen(id) : 0;
  if (nl == 0 || nl > 255)
    return oa_error_set(err, EINVAL, "log record: dataset name of %zu bytes",
                        nl);
  if (il > OA_STORE_MAX_ID)
    return oa_error_set(err, EINVAL,
                        "log record: batch id of %zu bytes (at most %d)", il,
                        OA_STORE_MAX_ID);
  int64_t need = OA_WAL_HEADER + 3 + (int64_t)nl + (int64_t)il + 8;
  if (oa_bytes_reserve(out, need)) return oom(err);
  *start = out->size;
  uint8_t *p = out->data + out->size;
  memset(p, 0, OA_WAL_HEADER);
  p += OA_WAL_HEADER;
  *p++ = (uint8_t)type;
  *p++ = (uint8_t)nl;
  memcpy(p, name, nl);
  p += nl;
  *p++ = (uint8_t)il;
  if (il) memcpy(p, id, il);
  p += il;
  put64(p, (uint64_t)time);
  out->size += need;
  return 0;
}

int oa_store_wal_header_(uint8_t *h, int64_t len, uint32_t crc, oa_error *err) {
  if (len < 0 || len >= OA_WAL_MAX_RECORD)
    return oa_error_set(err, E2BIG, "log record of %lld bytes is too large",
                        (long long)len);
  put32(h, OA_WAL_MAGIC);
  put32(h + 4, (uint32_t)len);
  put32(h + 8, crc);
  put32(h + 12, oa_store_crc32c_(0, h, 12, true));
  return 0;
}

int oa_store_wal_end_(oa_bytes *out, int64_t start, oa_error *err) {
  int64_t len = out->size - start - OA_WAL_HEADER;
  if (len < 0 || len >= OA_WAL_MAX_RECORD)
    return oa_error_set(err, E2BIG, "log record of %lld bytes is too large",
                        (long long)len);
  uint8_t *h = out->data + start;
  return oa_store_wal_header_(
      h, len, oa_store_crc32c_(0, h + OA_WAL_HEADER, (size_t)len, true), err);
}

/* Splits a payload whose checksum matched; false if its fields overflow. */
static bool parse_payload(const uint8_t *p, int64_t n, oa_store_wal_record *r) {
  if (n < 3 + 8) return false;
  r->type = p[0];
  if (r->type < OA_WAL_CREATE || r->type > OA_WAL_DROP) return false;
  int64_t at = 1;
  r->name_len = p[at++];
  if (r->name_len == 0 || at + (int64_t)r->name_len + 1 + 8 > n) return false;
  r->name = (const char *)p + at;
  at += (int64_t)r->name_len;
  r->id_len = p[at++];
  if (r->id_len > OA_STORE_MAX_ID || at + (int64_t)r->id_len + 8 > n)
    return false;
  r->id = r->id_len ? (const char *)p + at : NULL;
  at += (int64_t)r->id_len;
  r->time = (int64_t)get64(p + at);
  at += 8;
  r->ipc = p + at;
  r->ipc_len = n - at;
  return true;
}

int oa_store_wal_scan_(const uint8_t *data, int64_t len, oa_store_wal_fn fn,
                       void *ctx, int64_t *valid_end, int64_t *torn,
                       oa_error *err) {
  int64_t at = 0;
  int rc = 0;
  while (len - at >= OA_WAL_HEADER) {
    const uint8_t *h = data + at;
    if (get32(h) != OA_WAL_MAGIC) break;
    if (get32(h + 12) != oa_store_crc32c_(0, h, 12, true)) break;
    int64_t n = get32(h + 4);
    if (n > len - at - OA_WAL_HEADER) break;
    const uint8_t *p = h + OA_WAL_HEADER;
    if (get32(h + 8) != oa_store_crc32c_(0, p, (size_t)n, true)) break;
    oa_store_wal_record r;
    memset(&r, 0, sizeof r);
    if (!parse_payload(p, n, &r)) break;
    r.offset = at;
    if (fn && (rc = fn(ctx, &r, err)) != 0) break;
    at += OA_WAL_HEADER + n;
  }
  if (valid_end) *valid_end = at;
  if (torn) *torn = len - at;
  return rc;
}

/* ------------------------------------------------------------ manifest */

#define MANIFEST_MAGIC "OAMANIF1"

void oa_store_manifest_init_(oa_store_manifest *m) { memset(m, 0, sizeof *m); }

void oa_store_seg_meta_reset_(oa_store_seg_meta *s) {
  for (int64_t i = 0; i < s->n_ids; i++)
    free(s->ids[i]);
  free(s->ids);
  memset(s, 0, sizeof *s);
}

void oa_store_manifest_reset_(oa_store_manifest *m) {
  for (int64_t i = 0; i < m->n_ds; i++)
    free(m->ds[i].schema_ipc);
  free(m->ds);
  for (int64_t i = 0; i < m->n_segs; i++)
    oa_store_seg_meta_reset_(&m->segs[i]);
  free(m->segs);
  memset(m, 0, sizeof *m);
}

int oa_store_seg_meta_copy_(oa_store_seg_meta *dst,
                            const oa_store_seg_meta *src, oa_error *err) {
  *dst = *src;
  dst->ids = NULL;
  dst->n_ids = 0;
  if (src->n_ids == 0) return 0;
  dst->ids = calloc((size_t)src->n_ids, sizeof *dst->ids);
  if (!dst->ids) return oom(err);
  for (int64_t i = 0; i < src->n_ids; i++) {
    dst->ids[i] = strdup(src->ids[i]);
    if (!dst->ids[i]) {
      oa_store_seg_meta_reset_(dst);
      return oom(err);
    }
    dst->n_ids = i + 1;
  }
  return 0;
}

int oa_store_manifest_add_seg_(oa_store_manifest *m, oa_store_seg_meta *s,
                               oa_error *err) {
  if (m->n_segs == m->cap_segs) {
    int64_t cap = m->cap_segs ? m->cap_segs * 2 : 16;
    oa_store_seg_meta *g = realloc(m->segs, (size_t)cap * sizeof *g);
    if (!g) return oom(err);
    m->segs = g;
    m->cap_segs = cap;
  }
  m->segs[m->n_segs++] = *s;
  memset(s, 0, sizeof *s);
  return 0;
}

void oa_store_manifest_remove_seg_(oa_store_manifest *m, int64_t i) {
  oa_store_seg_meta_reset_(&m->segs[i]);
  memmove(&m->segs[i], &m->segs[i + 1],
          (size_t)(m->n_segs - i - 1) * sizeof *m->segs);
  m->n_segs--;
}

int oa_store_manifest_set_ds_(oa_store_manifest *m, const char *name,
                              const uint8_t *schema_ipc, int64_t len,
                              oa_error *err) {
  if (strlen(name) > 255)
    return oa_error_set(err, EINVAL, "manifest: dataset name too long");
  uint8_t *copy = malloc(len ? (size_t)len : 1);
  if (!copy) return oom(err);
  if (len) memcpy(copy, schema_ipc, (size_t)len);
  for (int64_t i = 0; i < m->n_ds; i++)
    if (strcmp(m->ds[i].name, name) == 0) {
      free(m->ds[i].schema_ipc);
      m->ds[i].schema_ipc = copy;
      m->ds[i].schema_len = len;
      return 0;
    }
  if (m->n_ds == m->cap_ds) {
    int64_t cap = m->cap_ds ? m->cap_ds * 2 : 8;
    oa_store_ds_meta *g = realloc(m->ds, (size_t)cap * sizeof *g);
    if (!g) {
      free(copy);
      return oom(err);
    }
    m->ds = g;
    m->cap_ds = cap;
  }
  oa_store_ds_meta *e = &m->ds[m->n_ds++];
  memset(e, 0, sizeof *e);
  strcpy(e->name, name);
  e->schema_ipc = copy;
  e->schema_len = len;
  return 0;
}

void oa_store_manifest_remove_ds_(oa_store_manifest *m, const char *name) {
  for (int64_t i = 0; i < m->n_ds; i++)
    if (strcmp(m->ds[i].name, name) == 0) {
      free(m->ds[i].schema_ipc);
      memmove(&m->ds[i], &m->ds[i + 1],
              (size_t)(m->n_ds - i - 1) * sizeof *m->ds);
      m->n_ds--;
      return;
    }
}

static int app(oa_bytes *o, const void *p, int64_t n, oa_error *err) {
  return oa_bytes_append(o, p, n) ? oom(err) : 0;
}
static int app32(oa_bytes *o, uint32_t v, oa_error *err) {
  uint8_t b[4];
  put32(b, v);
  return app(o, b, 4, err);
}
static int app64(oa_bytes *o, uint64_t v, oa_error *err) {
  uint8_t b[8];
  put64(b, v);
  return app(o, b, 8, err);
}
static int app_str(oa_bytes *o, const char *s, oa_error *err) {
  size_t n = strlen(s);
  uint8_t l = (uint8_t)n;
  OA_RETURN_NOT_OK(app(o, &l, 1, err));
  return app(o, s, (int64_t)n, err);
}

/* Layout: magic, u64 generation, wal_flushed, next_segment; u32 n_ds, each
 * (str name, u32 len, schema bytes); u32 n_segs, each (u64 id, str
 * dataset, i64 min_time, max_time, rows, bytes, n_batches, part, u32 flags,
 * u32 n_ids, each str); u32 CRC32C of all that precedes. str: u8 length +
 * bytes. */
int oa_store_manifest_encode_(const oa_store_manifest *m, oa_bytes *o,
                              oa_error *err) {
  o->size = 0;
  OA_RETURN_NOT_OK(app(o, MANIFEST_MAGIC, 8, err));
  OA_RETURN_NOT_OK(app64(o, m->generation, err));
  OA_RETURN_NOT_OK(app64(o, m->wal_flushed, err));
  OA_RETURN_NOT_OK(app64(o, m->next_segment, err));
  OA_RETURN_NOT_OK(app32(o, (uint32_t)m->n_ds, err));
  for (int64_t i = 0; i < m->n_ds; i++) {
    OA_RETURN_NOT_OK(app_str(o, m->ds[i].name, err));
    OA_RETURN_NOT_OK(app32(o, (uint32_t)m->ds[i].schema_len, err));
    OA_RETURN_NOT_OK(app(o, m->ds[i].schema_ipc, m->ds[i].schema_len, err));
  }
  OA_RETURN_NOT_OK(app32(o, (uint32_t)m->n_segs, err));
  for (int64_t i = 0; i < m->n_segs; i++) {
    const oa_store_seg_meta *s = &m->segs[i];
    OA_RETURN_NOT_OK(app64(o, s->id, err));
    OA_RETURN_NOT_OK(app_str(o, s->dataset, err));
    int64_t v[6] = {s->min_time, s->max_time,  s->rows,
                    s->bytes,    s->n_batches, s->part};
    for (int j = 0; j < 6; j++)
      OA_RETURN_NOT_OK(app64(o, (uint64_t)v[j], err));
    OA_RETURN_NOT_OK(app32(o, s->flags, err));
    OA_RETURN_NOT_OK(app32(o, (uint32_t)s->n_ids, err));
    for (int64_t j = 0; j < s->n_ids; j++)
      OA_RETURN_NOT_OK(app_str(o, s->ids[j], err));
  }
  return app32(o, oa_store_crc32c_(0, o->data, (size_t)o->size, true), err);
}

typedef struct reader {
  const uint8_t *p;
  int64_t n, at;
  oa_error *err;
} reader;

static int short_read(reader *r, const char *what) {
  return oa_error_set(r->err, EINVAL,
                      "manifest: %s at offset %lld runs past the end (%lld "
                      "bytes)",
                      what, (long long)r->at, (long long)r->n);
}
static int rd64(reader *r, uint64_t *v, const char *what) {
  if (r->n - r->at < 8) return short_read(r, what);
  *v = get64(r->p + r->at);
  r->at += 8;
  return 0;
}
static int rd32(reader *r, uint32_t *v, const char *what) {
  if (r->n - r->at < 4) return short_read(r, what);
  *v = get32(r->p + r->at);
  r->at += 4;
  return 0;
}
static int rd_str(reader *r, char *out, size_t cap, const char *what) {
  if (r->n - r->at < 1) return short_read(r, what);
  size_t l = r->p[r->at++];
  if ((int64_t)l > r->n - r->at) return short_read(r, what);
  if (l + 1 > cap)
    return oa_error_set(r->err, EINVAL, "manifest: %s of %zu bytes at %lld",
                        what, l, (long long)r->at);
  memcpy(out, r->p + r->at, l);
  out[l] = 0;
  if (strlen(out) != l)
    return oa_error_set(r->err, EINVAL, "manifest: %s at %lld has a NUL byte",
                        what, (long long)r->at);
  r->at += (int64_t)l;
  return 0;
}

static int decode(reader *r, oa_store_manifest *m) {
  uint32_t n_ds = 0, n_segs = 0;
  OA_RETURN_NOT_OK(rd64(r, &m->generation, "generation"));
  OA_RETURN_NOT_OK(rd64(r, &m->wal_flushed, "wal_flushed"));
  OA_RETURN_NOT_OK(rd64(r, &m->next_segment, "next_segment"));
  OA_RETURN_NOT_OK(rd32(r, &n_ds, "dataset count"));
  for (uint32_t i = 0; i < n_ds; i++) {
    char name[256];
    uint32_t len = 0;
    OA_RETURN_NOT_OK(rd_str(r, name, sizeof name, "dataset name"));
    if (!name[0])
      return oa_error_set(r->err, EINVAL, "manifest: empty dataset name");
    OA_RETURN_NOT_OK(rd32(r, &len, "schema length"));
    if ((int64_t)len > r->n - r->at) return short_read(r, "schema");
    OA_RETURN_NOT_OK(
        oa_store_manifest_set_ds_(m, name, r->p + r->at, len, r->err));
    r->at += len;
  }
  OA_RETURN_NOT_OK(rd32(r, &n_segs, "segment count"));
  for (uint32_t i = 0; i < n_segs; i++) {
    oa_store_seg_meta s;
    memset(&s, 0, sizeof s);
    uint32_t n_ids = 0;
    uint64_t v[6];
    int rc = rd64(r, &s.id, "segment id");
    if (!rc) rc = rd_str(r, s.dataset, sizeof s.dataset, "segment dataset");
    for (int j = 0; !rc && j < 6; j++)
      rc = rd64(r, &v[j], "segment field");
    if (!rc) rc = rd32(r, &s.flags, "segment flags");
    if (!rc) rc = rd32(r, &n_ids, "batch id count");
    if (rc) return rc;
    s.min_time = (int64_t)v[0];
    s.max_time = (int64_t)v[1];
    s.rows = (int64_t)v[2];
    s.bytes = (int64_t)v[3];
    s.n_batches = (int64_t)v[4];
    s.part = (int64_t)v[5];
    if (s.rows < 0 || s.bytes < 0 || s.n_batches < 0)
      return oa_error_set(r->err, EINVAL,
                          "manifest: segment %llu has a negative count",
                          (unsigned long long)s.id);
    /* each id takes at least 2 bytes: bound the allocation by the input */
    if ((int64_t)n_ids > (r->n - r->at) / 2) return short_read(r, "batch ids");
    if (n_ids) {
      s.ids = calloc(n_ids, sizeof *s.ids);
      if (!s.ids) return oom(r->err);
    }
    for (uint32_t j = 0; j < n_ids; j++) {
      char id[OA_STORE_MAX_ID + 1];
      rc = rd_str(r, id, sizeof id, "batch id");
      if (!rc && !(s.ids[j] = strdup(id))) rc = oom(r->err);
      if (rc) break;
      s.n_ids = j + 1;
    }
    if (!rc) rc = oa_store_manifest_add_seg_(m, &s, r->err);
    if (rc) {
      oa_store_seg_meta_reset_(&s);
      return rc;
    }
  }
  if (r->at != r->n)
    return oa_error_set(r->err, EINVAL,
                        "manifest: %lld unexpected bytes after the segments",
                        (long long)(r->n - r->at));
  return 0;
}

int oa_store_manifest_decode_(const uint8_t *p, int64_t n, oa_store_manifest *m,
                              oa_error *err) {
  oa_store_manifest_reset_(m);
  if (n < 8 + 24 + 8 + 4 || memcmp(p, MANIFEST_MAGIC, 8) != 0)
    return oa_error_set(err, EINVAL,
                        "manifest: not a manifest (%lld bytes, bad magic)",
                        (long long)n);
  uint32_t want = get32(p + n - 4);
  uint32_t got = oa_store_crc32c_(0, p, (size_t)(n - 4), true);
  if (want != got)
    return oa_error_set(err, EINVAL,
                        "manifest: checksum mismatch (stored %08x, computed "
                        "%08x)",
                        want, got);
  reader r = {p, n - 4, 8, err};
  int rc = decode(&r, m);
  if (rc) oa_store_manifest_reset_(m);
  return rc;
}

/* ------------------------------------------------------------ bloom */

#define BLOOM_MAGIC "OABLOOM2"

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

int oa_store_bloom_init_(oa_store_bloom *b, int64_t n_items, oa_error *err) {
  memset(b, 0, sizeof *b);
  uint64_t want = (uint64_t)(n_items > 0 ? n_items : 1) * 10;
  uint64_t nbits = 512;
  while (nbits < want && nbits < (1ULL << 36))
    nbits <<= 1;
  b->bits = calloc(nbits / 64, 8);
  if (!b->bits) return oom(err);
  b->nbits = nbits;
  b->k = 7;
  return 0;
}

void oa_store_bloom_reset_(oa_store_bloom *b) {
  free(b->bits);
  memset(b, 0, sizeof *b);
}

static void probes(const uint8_t id[16], uint64_t *h1, uint64_t *h2) {
  uint64_t a, c;
  memcpy(&a, id, 8);
  memcpy(&c, id + 8, 8);
  *h1 = mix64(a ^ mix64(c));
  *h2 = mix64(c + 0x9e3779b97f4a7c15ULL) | 1;
}

void oa_store_bloom_add_(oa_store_bloom *b, const uint8_t id[16]) {
  uint64_t h1, h2, mask = b->nbits - 1;
  probes(id, &h1, &h2);
  for (uint32_t i = 0; i < b->k; i++) {
    uint64_t bit = (h1 + i * h2) & mask;
    b->bits[bit >> 6] |= 1ULL << (bit & 63);
  }
}

bool oa_store_bloom_test_(const oa_store_bloom *b, const uint8_t id[16]) {
  uint64_t h1, h2, mask = b->nbits - 1;
  probes(id, &h1, &h2);
  for (uint32_t i = 0; i < b->k; i++) {
    uint64_t bit = (h1 + i * h2) & mask;
    if (!(b->bits[bit >> 6] & (1ULL << (bit & 63)))) return false;
  }
  return true;
}

int oa_store_blooms_encode_(const oa_store_bloom *b, int64_t n, oa_bytes *out,
                            oa_error *err) {
  out->size = 0;
  OA_RETURN_NOT_OK(app(out, BLOOM_MAGIC, 8, err));
  OA_RETURN_NOT_OK(app32(out, (uint32_t)n, err));
  for (int64_t f = 0; f < n; f++) {
    OA_RETURN_NOT_OK(app32(out, b[f].k, err));
    OA_RETURN_NOT_OK(app32(out, 0, err));
    OA_RETURN_NOT_OK(app64(out, b[f].nbits, err));
    for (uint64_t i = 0; i < b[f].nbits / 64; i++)
      OA_RETURN_NOT_OK(app64(out, b[f].bits[i], err));
  }
  return app32(out, oa_store_crc32c_(0, out->data, (size_t)out->size, true),
               err);
}

void oa_store_blooms_free_(oa_store_bloom *b, int64_t n) {
  for (int64_t i = 0; b && i < n; i++)
    oa_store_bloom_reset_(&b[i]);
  free(b);
}

int oa_store_blooms_decode_(const uint8_t *p, int64_t len, oa_store_bloom **out,
                            int64_t *n, oa_error *err) {
  *out = NULL;
  *n = 0;
  if (len < 16 || memcmp(p, BLOOM_MAGIC, 8) != 0)
    return oa_error_set(err, EINVAL, "bloom filter: bad magic or size %lld",
                        (long long)len);
  if (get32(p + len - 4) != oa_store_crc32c_(0, p, (size_t)(len - 4), true))
    return oa_error_set(err, EINVAL, "bloom filter: checksum mismatch");
  uint32_t count = get32(p + 8);
  int64_t at = 12, end = len - 4;
  /* each filter takes at least 16 + 8 bytes: bound the allocation */
  if ((int64_t)count > (end - at) / 24)
    return oa_error_set(err, EINVAL, "bloom filter: %u filters in %lld bytes",
                        count, (long long)len);
  oa_store_bloom *b = calloc(count ? count : 1, sizeof *b);
  if (!b) return oom(err);
  int rc = 0;
  for (uint32_t f = 0; f < count && !rc; f++) {
    if (end - at < 16) {
      rc = oa_error_set(err, EINVAL, "bloom filter %u: cut short", f);
      break;
    }
    uint32_t k = get32(p + at);
    uint64_t nbits = get64(p + at + 8);
    at += 16;
    if (k < 1 || k > 32 || nbits < 64 || (nbits & (nbits - 1)) != 0 ||
        nbits / 8 > (uint64_t)(end - at)) {
      rc = oa_error_set(err, EINVAL,
                        "bloom filter %u: bad parameters (k %u, %llu bits)", f,
                        k, (unsigned long long)nbits);
      break;
    }
    b[f].bits = malloc(nbits / 8);
    if (!b[f].bits) {
      rc = oom(err);
      break;
    }
    for (uint64_t i = 0; i < nbits / 64; i++)
      b[f].bits[i] = get64(p + at + (int64_t)i * 8);
    at += (int64_t)(nbits / 8);
    b[f].nbits = nbits;
    b[f].k = k;
  }
  if (!rc && at != end)
    rc = oa_error_set(err, EINVAL, "bloom filter: %lld trailing bytes",
                      (long long)(end - at));
  if (rc) {
    oa_store_blooms_free_(b, count);
    return rc;
  }
  *out = b;
  *n = count;
  return 0;
}
