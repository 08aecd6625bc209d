/* Reading any Arrow IPC input (stream or file, path or stdin). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "exporter/exporter_internal.h"

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

const char *oa_cli_source_name(oa_cli_source s) {
  switch (s) {
  case OA_CLI_IPC_FILE:
    return "Arrow IPC file";
  case OA_CLI_OTLP_PB:
    return "OTLP protobuf";
  case OA_CLI_OTLP_JSON:
    return "OTLP/JSON";
  default:
    return "Arrow IPC stream";
  }
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static oa_cli_source detect(const uint8_t *d, int64_t n, const char *path) {
  if (n >= 6 && memcmp(d, "ARROW1", 6) == 0) return OA_CLI_IPC_FILE;
  if (n >= 4 && memcmp(d, "\xff\xff\xff\xff", 4) == 0) return OA_CLI_IPC_STREAM;
  int64_t i = 0;
  if (n >= 3 && memcmp(d, "\xef\xbb\xbf", 3) == 0) i = 3; /* UTF-8 BOM */
  while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
    i++;
  if (i < n && d[i] == '{') return OA_CLI_OTLP_JSON;
  /* a gRPC frame starts with its compressed flag; no protobuf message can
   * start with a 0 byte (field number 0 is invalid) */
  if (n >= 1 && (d[0] == 0x00 || d[0] == 0x0a)) return OA_CLI_OTLP_PB;
  if (ends_with(path, ".pb") || ends_with(path, ".binpb") ||
      ends_with(path, ".otlp"))
    return OA_CLI_OTLP_PB;
  if (ends_with(path, ".json") || ends_with(path, ".jsonl"))
    return OA_CLI_OTLP_JSON;
  return OA_CLI_IPC_STREAM;
}

static int open_otlp(oa_cli_input *in, oa_error *err) {
  in->format = OA_IPC_STREAM;
  OA_RETURN_NOT_OK(oa_span_schema(&in->span_schema, err));
  oa_otlp_options opt;
  oa_otlp_options_default(&opt);
  if (in->source == OA_CLI_OTLP_PB)
    return oa_otlp_decoder_new(&in->pb, &opt, err);
  return oa_otlp_json_decoder_new(&in->json, &opt, err);
}

/* Reads the rest of f into a region. */
static int slurp(FILE *f, const void *head, int64_t n_head, oa_buffer *out,
                 oa_error *err) {
  oa_bytes b;
  oa_bytes_init(&b);
  int rc = oa_bytes_append(&b, head, n_head);
  while (rc == 0) {
    if ((rc = oa_bytes_reserve(&b, 1 << 16))) break;
    size_t n = fread(b.data + b.size, 1, (size_t)(b.capacity - b.size), f);
    b.size += (int64_t)n;
    if (n == 0) {
      if (ferror(f)) rc = oa_error_set(err, EIO, "reading stdin failed");
      break;
    }
  }
  if (rc == ENOMEM) oa_error_set(err, ENOMEM, "out of memory reading stdin");
  if (rc == 0) rc = oa_bytes_finish(&b, out);
  oa_bytes_reset(&b);
  return rc;
}

/* An exporter / forward queue file (exporter_internal.h): its checksums
 * verified, its payload (an Arrow IPC stream or an OTLP request) becomes
 * the input, in place. */
static int unwrap_queue_file(oa_cli_input *in, const char *path,
                             oa_error *err) {
  oa_exp_queue_entry e;
  memset(&e, 0, sizeof e);
  oa_crc32c_table crc;
  oa_crc32c_init(&crc);
  OA_RETURN_NOT_OK(oa_exp_queue_parse(&crc, path, in->mapped.data,
                                      in->mapped.size, &e, err));
  in->mapped.data += 48;
  in->mapped.size -= 48;
  in->queue_format = (int)e.format;
  in->queue_spans = e.spans;
  memcpy(in->queue_id, e.id, 16);
  in->source =
      e.format == OA_EXP_QUEUE_ARROW ? OA_CLI_IPC_STREAM : OA_CLI_OTLP_PB;
  return 0;
}

int oa_cli_input_open(oa_cli_input *in, const char *path, oa_error *err) {
  memset(in, 0, sizeof *in);
  int rc;
  if (strcmp(path, "-") == 0) {
    /* peek at the first bytes: IPC streams are read as they arrive, the
     * rest is read whole */
    uint8_t head[8];
    size_t n = fread(head, 1, sizeof head, stdin);
    if (n < sizeof head && ferror(stdin))
      return oa_error_set(err, EIO, "reading stdin failed");
    in->source = detect(head, (int64_t)n, "-");
    if (in->source == OA_CLI_IPC_STREAM) {
      in->format = OA_IPC_STREAM;
      in->in = stdin;
      OA_RETURN_NOT_OK(oa_ipc_stream_reader_new(&in->stream, NULL, err));
      rc = n ? oa_ipc_stream_reader_push(in->stream, head, (int64_t)n, err) : 0;
      if (rc) oa_cli_input_close(in);
      return rc;
    }
    rc = slurp(stdin, head, (int64_t)n, &in->mapped, err);
  } else {
    rc = oa_file_map(path, &in->mapped, err);
    if (rc == 0) in->source = detect(in->mapped.data, in->mapped.size, path);
    if (rc == 0 && in->mapped.size >= 4 &&
        (memcmp(in->mapped.data, "OAQ1", 4) == 0 ||
         memcmp(in->mapped.data, "OAQ2", 4) == 0))
      rc = unwrap_queue_file(in, path, err);
  }
  if (rc) {
    oa_cli_input_close(in);
    return rc;
  }
  if (in->source == OA_CLI_IPC_FILE) {
    in->format = OA_IPC_FILE;
    rc = oa_ipc_file_reader_open_buffer(&in->file, &in->mapped, NULL, err);
  } else if (in->source == OA_CLI_IPC_STREAM) {
    in->format = OA_IPC_STREAM;
    rc = oa_ipc_stream_reader_new(&in->stream, NULL, err);
    if (rc == 0)
      rc = oa_ipc_stream_reader_push_buffer(in->stream, &in->mapped, err);
  } else {
    rc = open_otlp(in, err);
    in->framed = in->source == OA_CLI_OTLP_PB && in->mapped.size > 0 &&
                 in->mapped.data[0] == 0;
  }
  if (rc) {
    oa_cli_input_close(in);
    return oa_error_prefix(err, rc, "%s: ", path);
  }
  return 0;
}

/* The end of the JSON value starting at p (objects/arrays with strings). */
static int64_t json_value_end(const uint8_t *d, int64_t p, int64_t n) {
  int depth = 0;
  bool in_str = false;
  for (int64_t i = p; i < n; i++) {
    uint8_t c = d[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return n; /* unterminated: the decoder reports it */
}

static int next_otlp(oa_cli_input *in, oa_batch *out, bool *got,
                     oa_error *err) {
  const uint8_t *d = in->mapped.data;
  int64_t n = in->mapped.size, p = in->pos;
  oa_otlp_result res;
  int rc;
  if (in->source == OA_CLI_OTLP_PB) {
    const uint8_t *req;
    int64_t len;
    if (!in->framed) {
      if (in->requests > 0) return 0;
      req = d;
      len = n;
      in->pos = n;
    } else {
      if (p >= n) return 0;
      if (n - p < 5)
        return oa_error_set(
            err, EINVAL,
            "OTLP frame at offset %lld: truncated header (%lld bytes)",
            (long long)p, (long long)(n - p));
      if (d[p] != 0)
        return oa_error_set(err, EINVAL,
                            "OTLP frame at offset %lld: compressed flag %d "
                            "(compressed frames are "
                            "not supported)",
                            (long long)p, d[p]);
      len = (int64_t)((uint32_t)d[p + 1] << 24 | (uint32_t)d[p + 2] << 16 |
                      (uint32_t)d[p + 3] << 8 | d[p + 4]);
      if (len > n - p - 5)
        return oa_error_set(err, EINVAL,
                            "OTLP frame at offset %lld: length %lld runs past "
                            "the end (%lld bytes "
                            "left)",
                            (long long)p, (long long)len,
                            (long long)(n - p - 5));
      req = d + p + 5;
      in->pos = p + 5 + len;
    }
    rc = oa_otlp_decoder_decode(in->pb, req, len, out, &res, err);
  } else {
    while (p < n &&
           (d[p] == ' ' || d[p] == '\t' || d[p] == '\r' || d[p] == '\n'))
      p++;
    if (p == 0 && n >= 3 && memcmp(d, "\xef\xbb\xbf", 3) == 0) {
      p = 3;
      while (p < n &&
             (d[p] == ' ' || d[p] == '\t' || d[p] == '\r' || d[p] == '\n'))
        p++;
    }
    if (p >= n) {
      in->pos = n;
      if (in->requests > 0) return 0;
      return oa_error_set(err, EINVAL, "OTLP/JSON input is empty");
    }
    int64_t e = json_value_end(d, p, n);
    in->pos = e;
    rc = oa_otlp_json_decoder_decode(in->json, (const char *)d + p, e - p, out,
                                     &res, err);
  }
  if (rc)
    return oa_error_prefix(err, rc, "request %lld: ", (long long)in->requests);
  if (res.rejected_spans) {
    fprintf(stderr,
            "otlparrow: warning: request %lld: %lld span%s rejected: %s\n",
            (long long)in->requests, (long long)res.rejected_spans,
            res.rejected_spans == 1 ? "" : "s", res.error_message);
    in->rejected += res.rejected_spans;
  }
  in->requests++;
  *got = true;
  return 0;
}

int oa_cli_input_next(oa_cli_input *in, oa_batch *out, bool *got,
                      oa_error *err) {
  *got = false;
  if (in->pb || in->json) return next_otlp(in, out, got, err);
  if (in->file) {
    if (in->next_batch >= oa_ipc_file_reader_n_batches(in->file)) return 0;
    OA_RETURN_NOT_OK(
        oa_ipc_file_reader_read(in->file, in->next_batch, out, err));
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
    OA_RETURN_NOT_OK(
        oa_ipc_stream_reader_push(in->stream, chunk, (int64_t)n, err));
  }
}

oa_schema *oa_cli_input_schema(const oa_cli_input *in) {
  if (in->span_schema) return in->span_schema;
  if (in->file) return oa_ipc_file_reader_schema(in->file);
  return in->stream ? oa_ipc_stream_reader_schema(in->stream) : NULL;
}

void oa_cli_input_close(oa_cli_input *in) {
  oa_ipc_file_reader_free(in->file);
  oa_ipc_stream_reader_free(in->stream);
  oa_region_release(in->mapped.region);
  oa_otlp_decoder_free(in->pb);
  oa_otlp_json_decoder_free(in->json);
  if (in->span_schema) oa_schema_release(in->span_schema);
  memset(in, 0, sizeof *in);
}

bool oa_cli_is_span_schema(const oa_schema *s) {
  if (!s) return false;
  const oa_kv *kv = oa_metadata_find(&s->metadata, OA_SPAN_SCHEMA_KEY);
  if (kv && kv->value_len == (int64_t)strlen(OA_SPAN_SCHEMA_VERSION) &&
      memcmp(kv->value, OA_SPAN_SCHEMA_VERSION, (size_t)kv->value_len) == 0)
    return true;
  oa_schema *ref = NULL;
  if (oa_span_schema(&ref, NULL)) return false;
  bool eq = oa_schema_equals(ref, s, false, NULL);
  oa_schema_release(ref);
  return eq;
}
