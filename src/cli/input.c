/* Reading any Arrow IPC input (stream or file, path or stdin). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int oa_cli_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("otlparrow: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

bool oa_cli_is_help(const char *arg) {
  return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

bool oa_cli_parse_i64(const char *s, int64_t *out) {
  if (!s || !*s) return false;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < 0) return false;
  *out = v;
  return true;
}

int oa_cli_input_open(oa_cli_input *in, const char *path, oa_error *err) {
  memset(in, 0, sizeof *in);
  if (strcmp(path, "-") == 0) {
    in->format = OA_IPC_STREAM;
    in->in = stdin;
    return oa_ipc_stream_reader_new(&in->stream, NULL, err);
  }
  OA_RETURN_NOT_OK(oa_file_map(path, &in->mapped, err));
  in->format = oa_ipc_detect_format(in->mapped.data, in->mapped.size);
  int rc;
  if (in->format == OA_IPC_FILE) {
    rc = oa_ipc_file_reader_open_buffer(&in->file, &in->mapped, NULL, err);
  } else {
    rc = oa_ipc_stream_reader_new(&in->stream, NULL, err);
    if (rc == 0) rc = oa_ipc_stream_reader_push_buffer(in->stream, &in->mapped, err);
  }
  if (rc) {
    oa_cli_input_close(in);
    return oa_error_prefix(err, rc, "%s: ", path);
  }
  return 0;
}

int oa_cli_input_next(oa_cli_input *in, oa_batch *out, bool *got, oa_error *err) {
  *got = false;
  if (in->file) {
    if (in->next_batch >= oa_ipc_file_reader_n_batches(in->file)) return 0;
    OA_RETURN_NOT_OK(oa_ipc_file_reader_read(in->file, in->next_batch, out, err));
    in->next_batch++;
    *got = true;
    return 0;
  }
  for (;;) {
    OA_RETURN_NOT_OK(oa_ipc_stream_reader_next(in->stream, out, got, err));
    if (*got || oa_ipc_stream_reader_done(in->stream)) return 0;
    if (in->closed) return 0;
    if (!in->in) {
      in->closed = true;
      return oa_ipc_stream_reader_close(in->stream, err);
    }
    uint8_t chunk[1 << 16];
    size_t n = fread(chunk, 1, sizeof chunk, in->in);
    if (n == 0) {
      if (ferror(in->in)) return oa_error_set(err, EIO, "reading stdin failed");
      in->closed = true;
      return oa_ipc_stream_reader_close(in->stream, err);
    }
    OA_RETURN_NOT_OK(oa_ipc_stream_reader_push(in->stream, chunk, (int64_t)n, err));
  }
}

oa_schema *oa_cli_input_schema(const oa_cli_input *in) {
  if (in->file) return oa_ipc_file_reader_schema(in->file);
  return in->stream ? oa_ipc_stream_reader_schema(in->stream) : NULL;
}

void oa_cli_input_close(oa_cli_input *in) {
  oa_ipc_file_reader_free(in->file);
  oa_ipc_stream_reader_free(in->stream);
  oa_region_release(in->mapped.region);
  memset(in, 0, sizeof *in);
}
