/* otlparrow gen: realistic, deterministic trace data (oa_trace_gen) in any
 * output format. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char kGenHelp[] =
    "usage: otlparrow gen --spans N [options]\n"
    "\n"
    "Generates realistic traces of a microservice shop: one call tree per\n"
    "trace (a SERVER root at the frontend, CLIENT/SERVER pairs over HTTP and\n"
    "gRPC, database, cache and INTERNAL spans, Kafka PRODUCER/CONSUMER pairs\n"
    "with links, 2 to 6 levels deep) with semantic-convention attributes,\n"
    "resources per service instance, exceptions with stack traces and errors.\n"
    "The same options give the same bytes on every machine.\n"
    "\n"
    "options:\n"
    "  --spans N        spans to generate, exactly (default 1000)\n"
    "  --seed S         seed of the traffic, ids and outcomes (default 1)\n"
    "  --services K     services taking part, 1 to 20 (default 10)\n"
    "  --max-trace-spans N  cap of one trace's spans, 1 to 100000 (default\n"
    "                   400; 14 gives about 100K traces per 1M spans)\n"
    "  --batch N        spans per request / record batch, at most (default: "
    "all\n"
    "                   in one). Traces are kept whole unless larger than N.\n"
    "  -o, --output F   output file (default '-': standard output). The "
    "format\n"
    "                   follows the extension:\n"
    "                     .pb .binpb .otlp  OTLP protobuf "
    "ExportTraceServiceRequest\n"
    "                     .json .jsonl      OTLP/JSON\n"
    "                     .arrow            Arrow IPC file\n"
    "                     .arrows (other)   Arrow IPC stream\n"
    "  --format FMT     pb, json, arrow (file) or arrows (stream), overriding "
    "the\n"
    "                   extension; standard output defaults to pb (binary "
    "output\n"
    "                   is refused on a terminal)\n"
    "  --compression C  none, lz4 or zstd for Arrow IPC output (default none)\n"
    "  -q, --quiet      no summary or progress on standard error\n"
    "  -h, --help       show this help\n"
    "\n"
    "Several requests in one .pb file are framed as in gRPC: each request is\n"
    "preceded by a 0 byte (the compressed flag) and its length as a 4-byte\n"
    "big-endian unsigned integer. A file holding a single request has no "
    "frame,\n"
    "so it is a plain ExportTraceServiceRequest. In .json, each request is "
    "one\n"
    "line. An .arrow file holds one batch per request, sharing one set of\n"
    "dictionaries; an .arrows stream one batch per request.\n";

int oa_cli_gen(int argc, char **argv) {
  oa_trace_gen_options o;
  oa_trace_gen_options_default(&o);
  int64_t batch = 0;
  const char *out_path = "-", *format = NULL;
  bool quiet = false;
  oa_ipc_write_options wopt;
  oa_ipc_write_options_init(&wopt);
  oa_error err = {{0}};
  oa_cli_out_format fmt = OA_CLI_OUT_PB;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (oa_cli_is_help(a)) {
      fputs(kGenHelp, stdout);
      return 0;
    } else if (strcmp(a, "--spans") == 0 || strcmp(a, "--seed") == 0 ||
               strcmp(a, "--services") == 0 || strcmp(a, "--batch") == 0 ||
               strcmp(a, "--max-trace-spans") == 0) {
      int64_t v;
      if (i + 1 >= argc || !oa_cli_parse_i64(argv[i + 1], &v))
        return oa_cli_fail(
            "%s needs a non-negative number (see otlparrow gen --help)", a);
      i++;
      if (strcmp(a, "--spans") == 0) {
        o.spans = v;
      } else if (strcmp(a, "--seed") == 0) {
        o.seed = (uint64_t)v;
      } else if (strcmp(a, "--services") == 0) {
        if (v < 1 || v > OA_TRACE_GEN_MAX_SERVICES)
          return oa_cli_fail("--services must be 1 to %d, not %lld",
                             OA_TRACE_GEN_MAX_SERVICES, (long long)v);
        o.services = (int32_t)v;
      } else if (strcmp(a, "--max-trace-spans") == 0) {
        if (v < 1 || v > 100000)
          return oa_cli_fail("--max-trace-spans must be 1 to 100000, not %lld",
                             (long long)v);
        o.max_trace_spans = (int32_t)v;
      } else {
        if (v < 1) return oa_cli_fail("--batch must be at least 1");
        batch = v;
      }
    } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
      if (i + 1 >= argc) return oa_cli_fail("%s needs a file name", a);
      out_path = argv[++i];
    } else if (strcmp(a, "--format") == 0) {
      if (i + 1 >= argc)
        return oa_cli_fail("--format needs pb, json, arrow or arrows");
      format = argv[++i];
      if (!oa_cli_parse_out_format(format, &fmt))
        return oa_cli_fail(
            "--format must be pb, json, arrow or arrows, not '%s'", format);
    } else if (strcmp(a, "--compression") == 0) {
      if (i + 1 >= argc)
        return oa_cli_fail("--compression needs none, lz4 or zstd");
      if (oa_compression_parse(argv[++i], &wopt.compression, &err))
        return oa_cli_fail("%s", err.message);
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      quiet = true;
    } else {
      return oa_cli_fail("unknown argument %s (see otlparrow gen --help)", a);
    }
  }
  bool to_stdout = strcmp(out_path, "-") == 0;
  if (!format && !to_stdout) fmt = oa_cli_out_format_from_path(out_path);
  if (to_stdout && fmt != OA_CLI_OUT_JSON && isatty(STDOUT_FILENO))
    return oa_cli_fail("refusing to write binary %s to a terminal (use -o FILE "
                       "or --format json)",
                       oa_cli_out_format_name(fmt));
  if (batch == 0) batch = o.spans > 0 ? o.spans : 1;

  oa_trace_gen g;
  if (oa_trace_gen_init(&g, &o, &err)) return oa_cli_fail("%s", err.message);
  oa_cli_output out;
  memset(&out, 0, sizeof out);
  out.fd = -1;
  oa_bytes req;
  oa_bytes_init(&req);
  int rc = oa_cli_output_open(&out, out_path, fmt, NULL, &wopt, true, &err);
  bool progress = !quiet && o.spans >= 200000 && isatty(STDERR_FILENO);
  int64_t requests = 0, next_report = 0;
  while (rc == 0) {
    int64_t n = 0;
    rc = oa_trace_gen_next_request(&g, batch, &req, &n, &err);
    if (rc || n == 0) break;
    rc = oa_cli_output_request(&out, req.data, req.size, n, &err);
    requests++;
    if (progress && g.spans_done >= next_report) {
      fprintf(stderr, "\rgen: %lld / %lld spans (%d%%)",
              (long long)g.spans_done, (long long)o.spans,
              (int)(g.spans_done * 100 / o.spans));
      next_report = g.spans_done + o.spans / 100;
    }
  }
  if (progress) fputs("\r\033[K", stderr);
  if (rc == 0) rc = oa_cli_output_finish(&out, &err);
  if (rc == 0 && !quiet && !to_stdout)
    fprintf(stderr,
            "wrote %s: %s, %lld spans in %lld traces, %lld %s%s, %lld bytes\n",
            out_path, oa_cli_out_format_name(fmt), (long long)g.spans_done,
            (long long)g.traces_done, (long long)requests,
            fmt == OA_CLI_OUT_PB || fmt == OA_CLI_OUT_JSON ? "request"
                                                           : "batch",
            requests == 1
                ? ""
                : (fmt == OA_CLI_OUT_PB || fmt == OA_CLI_OUT_JSON ? "s" : "es"),
            (long long)out.bytes);
  oa_bytes_reset(&req);
  oa_cli_output_close(&out);
  oa_trace_gen_reset(&g);
  if (rc) return oa_cli_fail("%s", err.message);
  return 0;
}
