/* libFuzzer target: the OTLP/HTTP request path (receiver/otlp_http.c) from
 * headers and body bytes to a span batch or an error answer, without the
 * network: content type, content encoding (gzip, zstd and lz4 bombs,
 * truncated streams, concatenated members and frames), size limits and both
 * decoders.
 *
 * Input: byte 0 picks the headers, byte 1 the size of the pieces the body
 * arrives in, the rest is the body as sent on the wire:
 *   bits 0-1  Content-Type: protobuf, JSON, none, text/plain
 *   bits 2-5  Content-Encoding: none, identity, gzip, zstd, x-gzip, br,
 *             "gzip, zstd", " GZIP ", lz4, LZ4, "lz4, gzip", " lz4 ",
 *             lz4, zstd, gzip, none
 * The body limit is 256 KiB so that a decompression bomb reaches it fast;
 * going past it must give 413, never more memory. */
#include <stdlib.h>
#include <string.h>

#include "otlparrow/otlp.h"
#include "receiver/otlp_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_BODY (256 * 1024)

static const char *const kTypes[] = {"application/x-protobuf",
                                     "application/json; charset=utf-8", NULL,
                                     "text/plain"};
static const char *const kEncodings[] = {
    NULL,         "identity", "gzip", "zstd", "x-gzip",    "br",
    "gzip, zstd", " GZIP ",   "lz4",  "LZ4",  "lz4, gzip", " lz4 ",
    "lz4",        "zstd",     "gzip", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  const char *ct = kTypes[data[0] & 3];
  const char *ce = kEncodings[(data[0] >> 2) & 15];
  size_t chunk = data[1] ? data[1] : 0; /* 0: the whole body at once */
  size_t n = size - 2;
  /* copied so that ASan sees any read past its end */
  uint8_t *body = malloc(n ? n : 1);
  if (!body) return 0;
  if (n) memcpy(body, data + 2, n);

  oa_otlp_options opts;
  oa_otlp_options_default(&opts);
  opts.max_depth = 16;
  opts.max_attributes = 256;
  opts.max_events = 64;
  opts.max_links = 64;
  opts.max_spans = 4096;
  oa_error err;
  oa_otlp_decoder *pb = NULL;
  oa_otlp_json_decoder *js = NULL;
  if (oa_otlp_decoder_new(&pb, &opts, &err) != 0 ||
      oa_otlp_json_decoder_new(&js, &opts, &err) != 0)
    abort();
  oa_batch b;
  oa_batch_init(&b);
  oa_otlp_result res;
  oa_otlp_http_outcome out;
  if (oa_otlp_http_decode_request(ct, ce, body, n, chunk, FUZZ_MAX_BODY, pb, js,
                                  &b, &res, &out) != 0)
    abort();
  switch (out.status) {
  case 200:
    if (res.accepted_spans != b.length) abort();
    if (oa_batch_validate(&b, true, &err) != 0) abort();
    break;
  case 400:
  case 413:
  case 415:
    if (b.length != 0 || out.rpc_code == 0 || !out.message[0]) abort();
    break;
  default:
    abort(); /* 500 is out of memory, which this small limit never is */
  }
  /* the message goes into protobuf strings and JSON: printable ASCII */
  for (const char *p = out.message; *p; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) abort();
  oa_batch_reset(&b);
  oa_otlp_json_decoder_free(js);
  oa_otlp_decoder_free(pb);
  free(body);
  return 0;
}
