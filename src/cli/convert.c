/* otlparrow convert: re-encodes Arrow IPC between the stream and file
 * formats and between body compressions. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char kConvertHelp[] =
    "usage: otlparrow convert IN OUT [options]\n"
    "\n"
    "Reads an Arrow IPC stream or file and writes it again with otlparrow's\n"
    "writer. IN or OUT '-' means standard input/output (streams).\n"
    "\n"
    "options:\n"
    "  --format stream|file          output format (default: from OUT's extension:\n"
    "                                .arrow .arrow_file .feather .ipc -> file,\n"
    "                                anything else -> stream)\n"
    "  --compression none|lz4|zstd   body compression (default none)\n"
    "  --level N                     compression level (default: the codec's)\n"
    "  --no-deltas                   send dictionary replacements, not deltas\n"
    "  -h, --help                    show this help\n";

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static oa_ipc_format format_from_path(const char *path) {
  static const char *const kFileExt[] = {".arrow", ".arrow_file", ".feather", ".ipc"};
  for (size_t i = 0; i < sizeof kFileExt / sizeof kFileExt[0]; i++)
    if (ends_with(path, kFileExt[i])) return OA_IPC_FILE;
  return OA_IPC_STREAM;
}

int oa_cli_convert(int argc, char **argv) {
  const char *in_path = NULL, *out_path = NULL, *format = NULL;
  oa_ipc_write_options wopt;
  oa_ipc_write_options_init(&wopt);
  oa_error err = {{0}};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (oa_cli_is_help(a)) {
      fputs(kConvertHelp, stdout);
      return 0;
    } else if (strcmp(a, "--format") == 0) {
      if (i + 1 >= argc) return oa_cli_fail("--format needs stream or file");
      format = argv[++i];
      if (strcmp(format, "stream") != 0 && strcmp(format, "file") != 0)
        return oa_cli_fail("--format must be stream or file, not '%s'", format);
    } else if (strcmp(a, "--compression") == 0) {
      if (i + 1 >= argc) return oa_cli_fail("--compression needs none, lz4 or zstd");
      if (oa_compression_parse(argv[++i], &wopt.compression, &err))
        return oa_cli_fail("%s", err.message);
    } else if (strcmp(a, "--level") == 0) {
      int64_t v;
      if (i + 1 >= argc || !oa_cli_parse_i64(argv[i + 1], &v) || v > 22)
        return oa_cli_fail("--level needs a number from 0 to 22");
      wopt.compression_level = (int)v;
      i++;
    } else if (strcmp(a, "--no-deltas") == 0) {
      wopt.dictionary_deltas = false;
    } else if (a[0] == '-' && a[1] != 0) {
      return oa_cli_fail("unknown option %s (see otlparrow convert --help)", a);
    } else if (!in_path) {
      in_path = a;
    } else if (!out_path) {
      out_path = a;
    } else {
      return oa_cli_fail("convert takes IN and OUT, got an extra '%s'", a);
    }
  }
  if (!in_path || !out_path)
    return oa_cli_fail("convert needs IN and OUT (see otlparrow convert --help)");
  oa_ipc_format ofmt = format ? (strcmp(format, "file") == 0 ? OA_IPC_FILE : OA_IPC_STREAM)
                              : format_from_path(out_path);
  bool to_stdout = strcmp(out_path, "-") == 0;
  if (to_stdout && ofmt == OA_IPC_FILE && format)
    return oa_cli_fail("the file format needs a seekable OUT, not stdout");

  oa_cli_input in;
  if (oa_cli_input_open(&in, in_path, &err)) return oa_cli_fail("%s", err.message);
  /* write to a temporary name and rename, so a failure leaves no half file */
  char tmp[4096] = "";
  int fd = STDOUT_FILENO;
  int rc = 0;
  oa_ipc_writer *w = NULL;
  oa_batch b;
  oa_batch_init(&b);
  bool got = false;
  int64_t batches = 0;
  OA_GOTO_NOT_OK(rc, oa_cli_input_next(&in, &b, &got, &err), done);
  oa_schema *schema = oa_cli_input_schema(&in);
  if (!schema) {
    rc = oa_error_set(&err, EINVAL, "%s: no schema found", in_path);
    goto done;
  }
  if (!to_stdout) {
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out_path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      rc = oa_error_set(&err, EIO, "cannot create %s: %s", tmp, strerror(errno));
      tmp[0] = 0;
      goto done;
    }
  }
  OA_GOTO_NOT_OK(rc, oa_ipc_writer_new(&w, ofmt, schema, &wopt, oa_sink_fd(&fd), &err), done);
  while (got) {
    OA_GOTO_NOT_OK(rc, oa_ipc_writer_write(w, &b, &err), done);
    batches++;
    oa_batch_reset(&b);
    OA_GOTO_NOT_OK(rc, oa_cli_input_next(&in, &b, &got, &err), done);
  }
  OA_GOTO_NOT_OK(rc, oa_ipc_writer_finish(w, &err), done);
  if (!to_stdout) {
    if (fsync(fd) != 0 || close(fd) != 0) {
      fd = -1;
      rc = oa_error_set(&err, EIO, "writing %s failed: %s", tmp, strerror(errno));
      goto done;
    }
    fd = -1;
    if (rename(tmp, out_path) != 0) {
      rc = oa_error_set(&err, EIO, "cannot rename %s to %s: %s", tmp, out_path, strerror(errno));
      goto done;
    }
    tmp[0] = 0;
    fprintf(stderr, "wrote %s: Arrow IPC %s, %lld batch%s, %lld bytes, compression %s\n",
            out_path, ofmt == OA_IPC_FILE ? "file" : "stream", (long long)batches,
            batches == 1 ? "" : "es", (long long)oa_ipc_writer_bytes_written(w),
            oa_compression_name(wopt.compression));
  }
done:
  oa_ipc_writer_free(w);
  oa_batch_reset(&b);
  oa_cli_input_close(&in);
  if (!to_stdout && fd >= 0) close(fd);
  if (tmp[0]) unlink(tmp);
  if (rc) return oa_cli_fail("%s", err.message);
  return 0;
}
