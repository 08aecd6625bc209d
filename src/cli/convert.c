/* otlparrow convert: re-encodes Arrow IPC between the stream and file
 * formats and between body compressions, and span data between Arrow IPC
 * and OTLP (protobuf, JSON). Also the writer of every output format (used by
 * gen and demo). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

static const char kConvertHelp[] =
    "usage: otlparrow convert IN OUT [options]\n"
    "\n"
    "Reads an Arrow IPC stream or file and writes it again with otlparrow's\n"
    "writer. IN or OUT '-' means standard input/output (streams).\n"
    "\n"
    "Span data converts between every format: Arrow IPC (stream, file) and\n"
    "OTLP (protobuf, JSON). IN's format is detected from its content (ARROW1\n"
    "magic, IPC continuation marker, '{' for JSON, a 0 byte or 0x0A for\n"
    "protobuf), else from its extension. OTLP inputs are decoded to span\n"
    "batches, one per request. Writing OTLP needs span batches (schema\n"
    "metadata otlparrow.schema = spans/2). An IPC file written from span\n"
    "batches that do not come from an IPC file holds them with one shared set\n"
    "of dictionaries (the file format allows no dictionary replacement).\n"
    "\n"
    "options:\n"
    "  --format FMT                  output format: stream (arrows), file\n"
    "                                (arrow), pb or json (default: from OUT's\n"
    "                                extension: .arrow .arrow_file .feather "
    ".ipc\n"
    "                                -> file, .pb .binpb .otlp -> pb, .json\n"
    "                                .jsonl -> json, anything else -> stream)\n"
    "  --compression none|lz4|zstd   body compression (default none)\n"
    "  --level N                     compression level (default: the codec's)\n"
    "  --no-deltas                   send dictionary replacements, not deltas\n"
    "  -h, --help                    show this help\n"
    "\n"
    "OTLP protobuf files with several requests frame each one as gRPC does: a\n"
    "0 byte, the length as uint32 big-endian, the request. OTLP/JSON files\n"
    "hold one request per line.\n";

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool oa_cli_parse_out_format(const char *s, oa_cli_out_format *out) {
  static const struct {
    const char *name;
    oa_cli_out_format f;
  } kNames[] = {{"stream", OA_CLI_OUT_STREAM}, {"arrows", OA_CLI_OUT_STREAM},
                {"file", OA_CLI_OUT_FILE},     {"arrow", OA_CLI_OUT_FILE},
                {"pb", OA_CLI_OUT_PB},         {"protobuf", OA_CLI_OUT_PB},
                {"json", OA_CLI_OUT_JSON}};
  for (size_t i = 0; i < sizeof kNames / sizeof kNames[0]; i++) {
    if (strcmp(s, kNames[i].name) == 0) {
      *out = kNames[i].f;
      return true;
    }
  }
  return false;
}

oa_cli_out_format oa_cli_out_format_from_path(const char *path) {
  static const char *const kFileExt[] = {".arrow", ".arrow_file", ".feather",
                                         ".ipc"};
  for (size_t i = 0; i < sizeof kFileExt / sizeof kFileExt[0]; i++)
    if (ends_with(path, kFileExt[i])) return OA_CLI_OUT_FILE;
  if (ends_with(path, ".pb") || ends_with(path, ".binpb") ||
      ends_with(path, ".otlp"))
    return OA_CLI_OUT_PB;
  if (ends_with(path, ".json") || ends_with(path, ".jsonl"))
    return OA_CLI_OUT_JSON;
  return OA_CLI_OUT_STREAM;
}

const char *oa_cli_out_format_name(oa_cli_out_format f) {
  static const char *const kNames[] = {"Arrow IPC stream", "Arrow IPC file",
                                       "OTLP protobuf", "OTLP/JSON"};
  return kNames[f];
}

/* ------------------------------------------------------------- output */

static int out_write(oa_cli_output *o, const void *d, int64_t n,
                     oa_error *err) {
  oa_sink sink = oa_sink_fd(&o->fd);
  OA_RETURN_NOT_OK(sink.write(sink.ctx, d, n, err));
  o->bytes += n;
  return 0;
}

int oa_cli_output_open(oa_cli_output *o, const char *path,
                       oa_cli_out_format fmt, oa_schema *schema,
                       const oa_ipc_write_options *wopt, bool merge_spans,
                       oa_error *err) {
  memset(o, 0, sizeof *o);
  o->fd = -1;
  o->fmt = fmt;
  o->path = path;
  o->to_stdout = strcmp(path, "-") == 0;
  o->merge_spans = merge_spans && fmt == OA_CLI_OUT_FILE;
  if (wopt)
    o->wopt = *wopt;
  else
    oa_ipc_write_options_init(&o->wopt);
  oa_bytes_init(&o->buf);
  if (schema) {
    oa_schema_retain(schema);
  } else {
    OA_RETURN_NOT_OK(oa_span_schema(&schema, err));
  }
  o->schema = schema;
  if ((fmt == OA_CLI_OUT_PB || fmt == OA_CLI_OUT_JSON || o->merge_spans) &&
      !oa_cli_is_span_schema(schema))
    return oa_error_set(
        err, EINVAL,
        "%s needs span batches (schema metadata otlparrow.schema = spans/2); "
        "this input has other columns",
        o->merge_spans ? "merging span batches" : oa_cli_out_format_name(fmt));
  if (o->to_stdout) {
    o->fd = STDOUT_FILENO;
    return 0;
  }
  /* Regular files are written to a temporary name and renamed into place,
   * so a failed run leaves no half file. Anything else (/dev/null, a FIFO)
   * must be written as is: renaming over it would replace the device. */
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    o->in_place = true;
    o->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (o->fd < 0)
      return oa_error_set(err, EIO, "cannot open %s: %s", path,
                          strerror(errno));
    return 0;
  }
  snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid());
  o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (o->fd < 0) {
    int e = errno;
    o->tmp[0] = 0;
    return oa_error_set(err, EIO, "cannot create %s.tmp.*: %s", path,
                        strerror(e));
  }
  return 0;
}

static int out_ipc_writer(oa_cli_output *o, oa_error *err) {
  if (o->w) return 0;
  oa_ipc_format f = o->fmt == OA_CLI_OUT_FILE ? OA_IPC_FILE : OA_IPC_STREAM;
  return oa_ipc_writer_new(&o->w, f, o->schema, &o->wopt, oa_sink_fd(&o->fd),
                           err);
}

/* pb: the first request waits until a second one shows whether frames are
 * needed. */
static int out_pb(oa_cli_output *o, const uint8_t *req, int64_t len,
                  oa_error *err) {
  if (o->batches == 0) {
    o->buf.size = 0;
    o->batches++;
    return oa_bytes_append(&o->buf, req, len)
               ? oa_error_set(err, ENOMEM, "out of memory")
               : 0;
  }
  if (len > UINT32_MAX)
    return oa_error_set(err, E2BIG,
                        "an OTLP request of %lld bytes does not fit a frame",
                        (long long)len);
  if (o->batches == 1) {
    const oa_bytes *h = &o->buf;
    if (h->size > UINT32_MAX)
      return oa_error_set(err, E2BIG,
                          "an OTLP request of %lld bytes does not fit a frame",
                          (long long)h->size);
    uint8_t fh[5] = {0, (uint8_t)(h->size >> 24), (uint8_t)(h->size >> 16),
                     (uint8_t)(h->size >> 8), (uint8_t)h->size};
    OA_RETURN_NOT_OK(out_write(o, fh, 5, err));
    OA_RETURN_NOT_OK(out_write(o, h->data, h->size, err));
    o->buf.size = 0;
  }
  uint8_t fh[5] = {0, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                   (uint8_t)(len >> 8), (uint8_t)len};
  OA_RETURN_NOT_OK(out_write(o, fh, 5, err));
  OA_RETURN_NOT_OK(out_write(o, req, len, err));
  o->batches++;
  return 0;
}

static int out_merge(oa_cli_output *o, const uint8_t *req, int64_t len,
                     int64_t rows, oa_error *err) {
  if (o->n_units == o->cap_units) {
    int64_t cap = o->cap_units ? o->cap_units * 2 : 64;
    int64_t *r = realloc(o->rows, (size_t)cap * sizeof *r);
    if (!r) return oa_error_set(err, ENOMEM, "out of memory");
    o->rows = r;
    o->cap_units = cap;
  }
  if (oa_bytes_append(&o->buf, req, len))
    return oa_error_set(err, ENOMEM, "out of memory");
  o->rows[o->n_units++] = rows;
  o->rows_total += rows;
  return 0;
}

int oa_cli_output_request(oa_cli_output *o, const uint8_t *req, int64_t len,
                          int64_t n_spans, oa_error *err) {
  switch (o->fmt) {
  case OA_CLI_OUT_PB:
    return out_pb(o, req, len, err);
  case OA_CLI_OUT_JSON: {
    oa_bytes j;
    oa_bytes_init(&j);
    int rc = oa_otlp_traces_pb_to_json(req, len, &j, err);
    if (rc == 0) rc = oa_bytes_append(&j, "\n", 1);
    if (rc == 0) rc = out_write(o, j.data, j.size, err);
    oa_bytes_reset(&j);
    if (rc == 0) o->batches++;
    return rc;
  }
  default:
    if (o->merge_spans) return out_merge(o, req, len, n_spans, err);
    if (!o->dec) OA_RETURN_NOT_OK(oa_otlp_decoder_new(&o->dec, NULL, err));
    oa_batch b;
    oa_batch_init(&b);
    int rc = oa_otlp_decoder_decode(o->dec, req, len, &b, NULL, err);
    if (rc == 0) rc = oa_cli_output_batch(o, &b, err);
    oa_batch_reset(&b);
    return rc;
  }
}

int oa_cli_output_batch(oa_cli_output *o, const oa_batch *b, oa_error *err) {
  if (o->fmt == OA_CLI_OUT_STREAM ||
      (o->fmt == OA_CLI_OUT_FILE && !o->merge_spans)) {
    OA_RETURN_NOT_OK(out_ipc_writer(o, err));
    OA_RETURN_NOT_OK(oa_ipc_writer_write(o->w, b, err));
    o->batches++;
    return 0;
  }
  if (!oa_cli_is_span_schema(b->schema))
    return oa_error_set(
        err, EINVAL,
        "%s needs span batches (schema otlparrow.schema = spans/2)",
        oa_cli_out_format_name(o->fmt));
  if (o->fmt == OA_CLI_OUT_JSON) {
    oa_bytes j;
    oa_bytes_init(&j);
    int rc = oa_otlp_encode_traces_json(b, &j, err);
    if (rc == 0) rc = oa_bytes_append(&j, "\n", 1);
    if (rc == 0) rc = out_write(o, j.data, j.size, err);
    oa_bytes_reset(&j);
    if (rc == 0) o->batches++;
    return rc;
  }
  oa_bytes pb;
  oa_bytes_init(&pb);
  int rc = oa_otlp_encode_traces(b, &pb, err);
  if (rc == 0)
    rc = o->fmt == OA_CLI_OUT_PB
             ? out_pb(o, pb.data, pb.size, err)
             : out_merge(o, pb.data, pb.size, b->length, err);
  oa_bytes_reset(&pb);
  return rc;
}

/* Decodes everything collected as one request and writes it in slices. */
static int finish_merge(oa_cli_output *o, oa_error *err) {
  OA_RETURN_NOT_OK(out_ipc_writer(o, err));
  if (o->n_units == 0) return 0;
  oa_otlp_options opt;
  oa_otlp_options_default(&opt);
  opt.max_spans = INT64_MAX;
  oa_batch all, part;
  oa_batch_init(&all);
  oa_batch_init(&part);
  oa_otlp_result res;
  int rc =
      oa_otlp_decode_traces(o->buf.data, o->buf.size, &opt, &all, &res, err);
  if (rc == 0 && all.length != o->rows_total)
    rc = oa_error_set(
        err, EINVAL,
        "merging span batches: %lld rows decoded, %lld expected (%s)",
        (long long)all.length, (long long)o->rows_total, res.error_message);
  oa_bytes_reset(&o->buf);
  int64_t off = 0;
  for (int64_t i = 0; rc == 0 && i < o->n_units; i++) {
    if (o->rows[i] == 0 && o->n_units > 1) continue;
    rc = oa_batch_slice(&part, &all, off, o->rows[i], err);
    if (rc == 0) rc = oa_ipc_writer_write(o->w, &part, err);
    oa_batch_reset(&part);
    off += o->rows[i];
    o->batches++;
  }
  oa_batch_reset(&all);
  return rc;
}

int oa_cli_output_finish(oa_cli_output *o, oa_error *err) {
  if (o->fmt == OA_CLI_OUT_PB) {
    if (o->batches == 1)
      OA_RETURN_NOT_OK(out_write(o, o->buf.data, o->buf.size, err));
  } else if (o->fmt != OA_CLI_OUT_JSON) {
    if (o->merge_spans) OA_RETURN_NOT_OK(finish_merge(o, err));
    OA_RETURN_NOT_OK(out_ipc_writer(o, err));
    OA_RETURN_NOT_OK(oa_ipc_writer_finish(o->w, err));
    o->bytes = oa_ipc_writer_bytes_written(o->w);
  }
  if (o->to_stdout) return 0;
  if (o->in_place) {
    int rc = close(o->fd);
    o->fd = -1;
    if (rc != 0)
      return oa_error_set(err, EIO, "writing %s failed: %s", o->path,
                          strerror(errno));
    return 0;
  }
  if (fsync(o->fd) != 0 || close(o->fd) != 0) {
    int e = errno;
    o->fd = -1;
    return oa_error_set(err, EIO, "writing %s failed: %s", o->tmp, strerror(e));
  }
  o->fd = -1;
  if (rename(o->tmp, o->path) != 0)
    return oa_error_set(err, EIO, "cannot rename %s to %s: %s", o->tmp, o->path,
                        strerror(errno));
  o->tmp[0] = 0;
  return 0;
}

void oa_cli_output_close(oa_cli_output *o) {
  oa_ipc_writer_free(o->w);
  oa_otlp_decoder_free(o->dec);
  oa_bytes_reset(&o->buf);
  free(o->rows);
  if (o->schema) oa_schema_release(o->schema);
  if (!o->to_stdout && o->fd >= 0) close(o->fd);
  if (o->tmp[0]) unlink(o->tmp);
  memset(o, 0, sizeof *o);
  o->fd = -1;
}

/* ------------------------------------------------------------- convert */

int oa_cli_convert(int argc, char **argv) {
  const char *in_path = NULL, *out_path = NULL, *format = NULL;
  oa_ipc_write_options wopt;
  oa_ipc_write_options_init(&wopt);
  oa_error err = {{0}};
  oa_cli_out_format ofmt = OA_CLI_OUT_STREAM;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (oa_cli_is_help(a)) {
      fputs(kConvertHelp, stdout);
      return 0;
    } else if (strcmp(a, "--format") == 0) {
      if (i + 1 >= argc)
        return oa_cli_fail("--format needs stream, file, pb or json");
      format = argv[++i];
      if (!oa_cli_parse_out_format(format, &ofmt))
        return oa_cli_fail(
            "--format must be stream, file, pb or json, not '%s'", format);
    } else if (strcmp(a, "--compression") == 0) {
      if (i + 1 >= argc)
        return oa_cli_fail("--compression needs none, lz4 or zstd");
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
    return oa_cli_fail(
        "convert needs IN and OUT (see otlparrow convert --help)");
  bool to_stdout = strcmp(out_path, "-") == 0;
  if (!format)
    ofmt =
        to_stdout ? OA_CLI_OUT_STREAM : oa_cli_out_format_from_path(out_path);
  if (to_stdout && ofmt == OA_CLI_OUT_FILE)
    return oa_cli_fail("the file format needs a seekable OUT, not stdout");

  oa_cli_input in;
  if (oa_cli_input_open(&in, in_path, &err))
    return oa_cli_fail("%s", err.message);
  oa_cli_output out;
  memset(&out, 0, sizeof out);
  out.fd = -1;
  int rc = 0;
  oa_batch b;
  oa_batch_init(&b);
  bool got = false;
  OA_GOTO_NOT_OK(rc, oa_cli_input_next(&in, &b, &got, &err), done);
  oa_schema *schema = oa_cli_input_schema(&in);
  if (!schema) {
    rc = oa_error_set(&err, EINVAL, "%s: no schema found", in_path);
    goto done;
  }
  /* IPC files already share dictionaries across batches; anything else
   * with span batches is merged so that the file needs no replacement */
  bool merge = in.source != OA_CLI_IPC_FILE && oa_cli_is_span_schema(schema);
  OA_GOTO_NOT_OK(
      rc, oa_cli_output_open(&out, out_path, ofmt, schema, &wopt, merge, &err),
      done);
  while (got) {
    OA_GOTO_NOT_OK(rc, oa_cli_output_batch(&out, &b, &err), done);
    oa_batch_reset(&b);
    OA_GOTO_NOT_OK(rc, oa_cli_input_next(&in, &b, &got, &err), done);
  }
  OA_GOTO_NOT_OK(rc, oa_cli_output_finish(&out, &err), done);
  if (!to_stdout) {
    const char *unit =
        ofmt == OA_CLI_OUT_PB || ofmt == OA_CLI_OUT_JSON ? "request" : "batch";
    if (ofmt == OA_CLI_OUT_STREAM || ofmt == OA_CLI_OUT_FILE)
      fprintf(
          stderr,
          "wrote %s: Arrow IPC %s, %lld batch%s, %lld bytes, compression %s\n",
          out_path, ofmt == OA_CLI_OUT_FILE ? "file" : "stream",
          (long long)out.batches, out.batches == 1 ? "" : "es",
          (long long)out.bytes, oa_compression_name(wopt.compression));
    else
      fprintf(stderr, "wrote %s: %s, %lld %s%s, %lld bytes\n", out_path,
              oa_cli_out_format_name(ofmt), (long long)out.batches, unit,
              out.batches == 1 ? "" : "s", (long long)out.bytes);
  }
done:
  oa_cli_output_close(&out);
  oa_batch_reset(&b);
  oa_cli_input_close(&in);
  if (rc) return oa_cli_fail("%s", err.message);
  return 0;
}
