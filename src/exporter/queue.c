/* The exporter's persistent queue: one checksummed file per batch. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "exporter_internal.h"

/* "OAQ1": the payload is an OTLP ExportTraceServiceRequest; "OAQ2": an
 * Arrow IPC stream */
#define QMAGIC_OTLP "OAQ1"
#define QMAGIC_ARROW "OAQ2"
#define QHEADER 48

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define OA_CRC_HW 1
/* SSE4.2's crc32 instruction computes CRC-32C: 8 bytes per instruction, where
 * the table walks one (a batch file is megabytes; the table's 8 instructions
 * per byte were more than the rest of the queue write). */
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t n) {
  uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  uint32_t c32 = (uint32_t)c;
  for (; n; n--)
    c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}
#endif

void oa_crc32c_init(oa_crc32c_table *c) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t v = i;
    for (int k = 0; k < 8; k++)
      v = (v & 1) ? (v >> 1) ^ 0x82F63B78u : v >> 1;
    c->table[i] = v;
  }
  c->hw = false;
#ifdef OA_CRC_HW
  c->hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t oa_crc32c_extend(const oa_crc32c_table *c, uint32_t state,
                          const void *data, size_t n) {
  const uint8_t *p = data;
#ifdef OA_CRC_HW
  if (c->hw) return crc_hw(state, p, n);
#endif
  for (size_t i = 0; i < n; i++)
    state = c->table[(state ^ p[i]) & 0xff] ^ (state >> 8);
  return state;
}

uint32_t oa_crc32c(const oa_crc32c_table *c, uint32_t crc, const void *data,
                   size_t n) {
  return ~oa_crc32c_extend(c, ~crc, data, n);
}

static int write_all(int fd, const void *data, size_t n) {
  const uint8_t *p = data;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return errno;
  int rc = fsync(fd) ? errno : 0;
  close(fd);
  return rc;
}

/* Writes every byte of iov (partial writes, more than IOV_MAX parts). */
static int writev_all(int fd, const struct iovec *iov, int64_t n) {
  struct iovec cur[64];
  int64_t i = 0;
  size_t skip = 0; /* bytes of iov[i] already written */
  while (i < n) {
    int k = 0;
    for (int64_t j = i; j < n && k < 64; j++, k++) {
      cur[k] = iov[j];
      if (j == i) {
        cur[k].iov_base = (uint8_t *)cur[k].iov_base + skip;
        cur[k].iov_len -= skip;
      }
    }
    ssize_t w = writev(fd, cur, k);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    size_t left = (size_t)w;
    while (i < n && left >= iov[i].iov_len - skip) {
      left -= iov[i].iov_len - skip;
      skip = 0;
      i++;
    }
    skip += left;
  }
  return 0;
}

int oa_exp_queue_writev(const char *dir, const oa_crc32c_table *crc,
                        uint64_t seq, const uint8_t id[16], int64_t spans,
                        oa_exp_queue_format format, const struct iovec *iov,
                        int64_t n_iov, bool sync, char *name, oa_error *err) {
  int64_t len = 0;
  uint32_t pc = ~0u; /* running state: oa_crc32c(0, ...) over the parts */
  for (int64_t i = 0; i < n_iov; i++) {
    len += (int64_t)iov[i].iov_len;
    pc = oa_crc32c_extend(crc, pc, iov[i].iov_base, iov[i].iov_len);
  }
  pc = ~pc;
  uint8_t h[QHEADER];
  memcpy(h, format == OA_EXP_QUEUE_ARROW ? QMAGIC_ARROW : QMAGIC_OTLP, 4);
  uint32_t hs = QHEADER;
  memcpy(h + 4, &hs, 4);
  memcpy(h + 8, id, 16);
  memcpy(h + 24, &spans, 8);
  memcpy(h + 32, &len, 8);
  memcpy(h + 40, &pc, 4);
  uint32_t hc = oa_crc32c(crc, 0, h, 44);
  memcpy(h + 44, &hc, 4);
  snprintf(name, 64, "%016llx-", (unsigned long long)seq);
  for (int i = 0; i < 16; i++)
    snprintf(name + 17 + 2 * i, 3, "%02x", id[i]);
  strcat(name, ".oaq");
  char path[4096], tmp[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return oa_error_set(err, EIO, "queue: cannot create %s: %s", tmp,
                        strerror(errno));
  int rc = write_all(fd, h, QHEADER);
  if (!rc) rc = writev_all(fd, iov, n_iov);
  if (!rc && sync && fsync(fd)) rc = errno;
  if (close(fd) && !rc) rc = errno;
  if (!rc && rename(tmp, path)) rc = errno;
  if (!rc && sync) rc = sync_dir(dir);
  if (rc) {
    unlink(tmp);
    return oa_error_set(err, EIO, "queue: writing %s: %s", path, strerror(rc));
  }
  return 0;
}

int oa_exp_queue_write(const char *dir, const oa_crc32c_table *crc,
                       uint64_t seq, const uint8_t id[16], int64_t spans,
                       const uint8_t *payload, int64_t len, bool sync,
                       char *name, oa_error *err) {
  struct iovec iov = {(void *)payload, (size_t)len};
  return oa_exp_queue_writev(dir, crc, seq, id, spans, OA_EXP_QUEUE_OTLP, &iov,
                             len > 0, sync, name, err);
}

int oa_exp_queue_remove(const char *dir, const char *name, bool sync,
                        oa_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (unlink(path) && errno != ENOENT)
    return oa_error_set(err, EIO, "queue: removing %s: %s", path,
                        strerror(errno));
  if (sync) sync_dir(dir); /* best effort: a replayed duplicate is deduped */
  return 0;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const oa_exp_queue_entry *)a)->name,
                ((const oa_exp_queue_entry *)b)->name);
}

static bool ends_with(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  return n >= k && strcmp(s + n - k, suf) == 0;
}

int oa_exp_queue_list(const char *dir, oa_exp_queue_entry **out, int64_t *n,
                      oa_error *err) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d)
    return oa_error_set(err, EIO, "queue: cannot open directory %s: %s", dir,
                        strerror(errno));
  oa_exp_queue_entry *v = NULL;
  int64_t cnt = 0, cap = 0;
  struct dirent *de;
  int rc = 0;
  while ((de = readdir(d)) != NULL) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (ends_with(de->d_name, ".oaq.tmp")) {
      unlink(path); /* never renamed: the write did not complete */
      continue;
    }
    if (!ends_with(de->d_name, ".oaq") || strlen(de->d_name) >= 64) continue;
    struct stat st;
    if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 16;
      oa_exp_queue_entry *nv = realloc(v, (size_t)cap * sizeof *nv);
      if (!nv) {
        rc = oa_error_set(err, ENOMEM, "queue: out of memory");
        break;
      }
      v = nv;
    }
    memset(&v[cnt], 0, sizeof v[cnt]);
    memcpy(v[cnt].name, de->d_name, strlen(de->d_name) + 1); /* < 64 */
    v[cnt].file_bytes = st.st_size;
    cnt++;
  }
  closedir(d);
  if (rc) {
    free(v);
    return rc;
  }
  if (cnt) qsort(v, (size_t)cnt, sizeof *v, cmp_entry);
  *out = v;
  *n = cnt;
  return 0;
}

/* Checks a header h (QHEADER bytes) against the number of bytes that
 * follow it in the file; fills e's id, spans and format, *len and *pc. */
static int check_header(const oa_crc32c_table *crc, const char *what,
                        const uint8_t *h, int64_t after, oa_exp_queue_entry *e,
                        int64_t *len, uint32_t *pc, oa_error *err) {
  uint32_t hs, hc;
  int64_t spans;
  memcpy(&hs, h + 4, 4);
  memcpy(&spans, h + 24, 8);
  memcpy(len, h + 32, 8);
  memcpy(pc, h + 40, 4);
  memcpy(&hc, h + 44, 4);
  bool arrow = memcmp(h, QMAGIC_ARROW, 4) == 0;
  if ((!arrow && memcmp(h, QMAGIC_OTLP, 4)) || hs != QHEADER)
    return oa_error_set(err, EIO, "queue: %s: bad magic or header size", what);
  if (oa_crc32c(crc, 0, h, 44) != hc)
    return oa_error_set(err, EIO, "queue: %s: header checksum mismatch", what);
  if (*len < 0 || spans < 0 || *len != after)
    return oa_error_set(err, EIO,
                        "queue: %s: payload length %lld but %lld bytes on disk "
                        "(torn write)",
                        what, (long long)*len, (long long)after);
  memcpy(e->id, h + 8, 16);
  e->spans = spans;
  e->format = arrow ? OA_EXP_QUEUE_ARROW : OA_EXP_QUEUE_OTLP;
  return 0;
}

int oa_exp_queue_parse(const oa_crc32c_table *crc, const char *what,
                       const uint8_t *data, int64_t n, oa_exp_queue_entry *e,
                       oa_error *err) {
  if (n < QHEADER)
    return oa_error_set(err, EIO, "queue: %s: truncated header (%lld bytes)",
                        what, (long long)n);
  int64_t len;
  uint32_t pc;
  OA_RETURN_NOT_OK(
      check_header(crc, what, data, n - QHEADER, e, &len, &pc, err));
  if (oa_crc32c(crc, 0, data + QHEADER, (size_t)len) != pc)
    return oa_error_set(err, EIO, "queue: %s: payload checksum mismatch", what);
  return 0;
}

int oa_exp_queue_read(const char *dir, const oa_crc32c_table *crc,
                      oa_exp_queue_entry *e, oa_bytes *out, oa_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, e->name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return oa_error_set(err, EIO, "queue: cannot open %s: %s", path,
                        strerror(errno));
  uint8_t h[QHEADER];
  int64_t len = 0;
  uint32_t pc = 0;
  int rc = 0;
  if (fread(h, 1, QHEADER, f) != QHEADER) {
    rc = oa_error_set(err, EIO, "queue: %s: truncated header", path);
    goto done;
  }
  /* the header first: a torn file is not read whole */
  oa_exp_queue_entry got = *e;
  rc =
      check_header(crc, path, h, e->file_bytes - QHEADER, &got, &len, &pc, err);
  if (rc) goto done;
  out->size = 0;
  if ((rc = oa_bytes_reserve(out, len)) != 0) {
    rc = oa_error_set(err, ENOMEM, "queue: %s: out of memory", path);
    goto done;
  }
  if (len && fread(out->data, 1, (size_t)len, f) != (size_t)len) {
    rc = oa_error_set(err, EIO, "queue: %s: truncated payload", path);
    goto done;
  }
  out->size = len;
  if (oa_crc32c(crc, 0, out->data, (size_t)len) != pc) {
    rc = oa_error_set(err, EIO, "queue: %s: payload checksum mismatch", path);
    out->size = 0;
    goto done;
  }
  *e = got;
done:
  fclose(f);
  return rc;
}
