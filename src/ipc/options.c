/* Options, messages, framing helpers, sinks and file mapping. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/ipc_internal.h"

void oa_ipc_write_options_init(oa_ipc_write_options *opt) {
  memset(opt, 0, sizeof *opt);
  opt->compression = OA_COMPRESSION_NONE;
  opt->compression_level = 0;
  opt->dictionary_deltas = true;
  opt->skip_incompressible = true;
}

void oa_ipc_read_options_init(oa_ipc_read_options *opt) {
  memset(opt, 0, sizeof *opt);
  opt->max_metadata_size = (int64_t)64 << 20;
  opt->max_body_size = (int64_t)4 << 30;
  opt->max_decompressed_size = (int64_t)4 << 30;
  opt->max_depth = 64;
  opt->max_dictionary_size = (int64_t)1 << 31;
  opt->validate = true;
  opt->check_utf8 = true;
}

int oa_compression_parse(const char *s, oa_compression *out, oa_error *err) {
  if (s && (strcasecmp(s, "none") == 0 || strcasecmp(s, "uncompressed") == 0)) {
    *out = OA_COMPRESSION_NONE;
  } else if (s &&
             (strcasecmp(s, "lz4") == 0 || strcasecmp(s, "lz4_frame") == 0)) {
    *out = OA_COMPRESSION_LZ4_FRAME;
  } else if (s && strcasecmp(s, "zstd") == 0) {
    *out = OA_COMPRESSION_ZSTD;
  } else {
    return oa_error_set(err, EINVAL,
                        "unknown compression '%s' (none, lz4, zstd)",
                        s ? s : "(null)");
  }
  return 0;
}

const char *oa_compression_name(oa_compression c) {
  switch (c) {
  case OA_COMPRESSION_NONE:
    return "none";
  case OA_COMPRESSION_LZ4_FRAME:
    return "lz4";
  case OA_COMPRESSION_ZSTD:
    return "zstd";
  }
  return "invalid";
}

/* ------------------------------------------------------------- messages */

void oa_ipc_message_init(oa_ipc_message *m) {
  memset(m, 0, sizeof *m);
  oa_bytes_init(&m->metadata);
}

void oa_ipc_message_reset(oa_ipc_message *m) {
  oa_bytes_reset(&m->metadata);
  for (int64_t i = 0; i < m->n_segments; i++)
    oa_region_release(m->segments[i].region);
  free(m->segments);
  memset(m, 0, sizeof *m);
}

int oa_ipc_message_frame(const oa_ipc_message *m, oa_bytes *out,
                         oa_error *err) {
  if (m->metadata.size > INT32_MAX)
    return oa_error_set(err, E2BIG, "message metadata too large");
  uint8_t prefix[8];
  oa_ipc_store_i32(prefix, -1);
  oa_ipc_store_i32(prefix + 4, (int32_t)m->metadata.size);
  if (oa_bytes_reserve(out, 8 + m->metadata.size + m->body_length))
    return oa_error_set(err, ENOMEM, "frame: out of memory");
  oa_bytes_append(out, prefix, 8);
  oa_bytes_append(out, m->metadata.data, m->metadata.size);
  for (int64_t i = 0; i < m->n_segments; i++)
    oa_bytes_append(out, m->segments[i].data, m->segments[i].size);
  return 0;
}

int oa_ipc_parse_prefix(const uint8_t *p, int64_t avail, int64_t *prefix_len,
                        int64_t *meta_len, oa_error *err) {
  if (avail < 4) return 1;
  int32_t first = oa_ipc_load_i32(p);
  int64_t len;
  if ((uint32_t)first == OA_IPC_CONTINUATION) {
    if (avail < 8) return 1;
    len = oa_ipc_load_i32(p + 4);
    *prefix_len = 8;
  } else {
    len = first; /* pre-0.15 framing: no continuation marker */
    *prefix_len = 4;
  }
  if (len < 0)
    return oa_error_set(err, EINVAL, "negative message metadata length %lld",
                        (long long)len);
  *meta_len = len;
  return 0;
}

/* ---------------------------------------------------------------- sinks */

static int fd_write(void *ctx, const void *data, int64_t len, oa_error *err) {
  int fd = *(int *)ctx;
  const uint8_t *p = data;
  while (len > 0) {
    size_t chunk = len > (1 << 30) ? (size_t)1 << 30 : (size_t)len;
    ssize_t n = write(fd, p, chunk);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return oa_error_set(err, EIO, "write to fd %d failed: %s", fd,
                          strerror(errno));
    }
    p += n;
    len -= n;
  }
  return 0;
}

static int bytes_write(void *ctx, const void *data, int64_t len,
                       oa_error *err) {
  if (oa_bytes_append((oa_bytes *)ctx, data, len))
    return oa_error_set(err, ENOMEM, "sink: out of memory");
  return 0;
}

oa_sink oa_sink_fd(int *fd) {
  oa_sink s = {fd_write, fd};
  return s;
}

oa_sink oa_sink_bytes(oa_bytes *out) {
  oa_sink s = {bytes_write, out};
  return s;
}

/* -------------------------------------------------------------- helpers */

oa_ipc_format oa_ipc_detect_format(const uint8_t *data, int64_t len) {
  if (len >= 6 && memcmp(data, "ARROW1", 6) == 0) return OA_IPC_FILE;
  return OA_IPC_STREAM;
}

typedef struct mapping {
  void *addr;
  size_t len;
} mapping;

static void unmap(void *p) {
  mapping *m = p;
  munmap(m->addr, m->len);
  free(m);
}

int oa_file_map(const char *path, oa_buffer *out, oa_error *err) {
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return oa_error_set(err, errno == ENOENT ? ENOENT : EIO,
                        "cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return oa_error_set(err, EIO, "cannot stat '%s': %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    /* pipes and devices: read everything */
    oa_bytes b;
    oa_bytes_init(&b);
    for (;;) {
      if (oa_bytes_reserve(&b, 1 << 16)) {
        oa_bytes_reset(&b);
        close(fd);
        return oa_error_set(err, ENOMEM, "reading '%s': out of memory", path);
      }
      ssize_t n = read(fd, b.data + b.size, (size_t)(b.capacity - b.size));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int e = errno;
        oa_bytes_reset(&b);
        close(fd);
        return oa_error_set(err, EIO, "reading '%s': %s", path, strerror(e));
      }
      if (n == 0) break;
      b.size += n;
    }
    close(fd);
    int rc = oa_bytes_finish(&b, out);
    if (rc) return oa_error_set(err, rc, "reading '%s': out of memory", path);
    return 0;
  }
  if (st.st_size == 0) {
    close(fd);
    return 0;
  }
  void *addr = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (addr == MAP_FAILED)
    return oa_error_set(err, EIO, "cannot map '%s': %s", path, strerror(e));
  mapping *m = malloc(sizeof *m);
  oa_region *r = m ? oa_region_wrap(addr, st.st_size, unmap, m) : NULL;
  if (!r) {
    free(m);
    munmap(addr, (size_t)st.st_size);
    return oa_error_set(err, ENOMEM, "mapping '%s': out of memory", path);
  }
  m->addr = addr;
  m->len = (size_t)st.st_size;
  out->data = addr;
  out->size = st.st_size;
  out->region = r;
  return 0;
}
