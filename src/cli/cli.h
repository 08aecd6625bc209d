/* Shared pieces of the otlparrow command-line tool. */
#ifndef OA_CLI_H
#define OA_CLI_H

#include <stdio.h>

#include "otlparrow/arrow.h"
#include "otlparrow/ipc.h"
#include "otlparrow/otlp.h"

/* Subcommands: argv[0] is the subcommand name. Return the exit status. */
int oa_cli_inspect(int argc, char **argv);
int oa_cli_convert(int argc, char **argv);
int oa_cli_demo(int argc, char **argv);
int oa_cli_gen(int argc, char **argv);
int oa_cli_serve(int argc, char **argv);
int oa_cli_loadgen(int argc, char **argv);
int oa_cli_query(int argc, char **argv);
int oa_cli_trace(int argc, char **argv);
/* The Flight service's SQL handler (oa_flight_query_fn, query.c): ctx is
 * an oa_cli_query_ctx; table names are dataset names. */
typedef struct oa_cli_query_ctx {
  void *datasets;     /* the server's oa_datasets */
  int64_t max_memory; /* bytes one query may hold (0: no limit) */
  const char *hint;   /* the option that sets it, named in the error */
  /* memory kept between queries (thread-safe; NULL: none); the server
   * creates it with oa_cli_query_cache_new and frees it after the Flight
   * service has stopped */
  struct oa_query_cache *cache;
} oa_cli_query_ctx;
/* The serve query cache: as big as one query may be, at most 256 MB. */
int oa_cli_query_cache_new(oa_cli_query_ctx *qc, oa_error *err);
void oa_cli_query_cache_free(oa_cli_query_ctx *qc);
int oa_cli_flight_query(void *ctx, const char *sql, oa_schema **schema,
                        oa_batch **batches, int64_t *n, oa_error *err);
/* The query memory limit of serve: --max-query-memory when given (-1: not
 * given), else a quarter of --max-memory, else 1 GiB. */
int64_t oa_cli_query_memory_default(int64_t max_query_memory,
                                    int64_t max_memory);
int oa_cli_bench(int argc, char **argv);
int oa_cli_forward(int argc, char **argv);

/* Prints "otlparrow: error: <msg>" to stderr and returns 1. */
int oa_cli_fail(const char *fmt, ...) OA_PRINTF(1, 2);
/* True when argv[i] is -h or --help. */
bool oa_cli_is_help(const char *arg);
/* Parses a non-negative integer option value; returns false if invalid. */
bool oa_cli_parse_i64(const char *s, int64_t *out);

/* Listener helpers (cli_net.c), shared by serve and forward. */
/* True for NULL, "", "off" or "none": the listener is disabled. */
bool oa_cli_addr_off(const char *a);
/* addr with its port replaced by the bound one. */
void oa_cli_bound_addr(char *out, size_t cap, const char *addr, int port);

/* What an input holds. OTLP inputs are decoded into span batches, one per
 * request. */
typedef enum oa_cli_source {
  OA_CLI_IPC_STREAM = 0,
  OA_CLI_IPC_FILE,
  OA_CLI_OTLP_PB,  /* one request, or gRPC-framed requests (see gen --help) */
  OA_CLI_OTLP_JSON /* one request, or several one after another (JSON lines) */
} oa_cli_source;

const char *oa_cli_source_name(oa_cli_source s);

/* An input from a path ("-" for stdin): Arrow IPC (stream or file) or OTLP
 * (protobuf or JSON). Detected from the content: "ARROW1" -> IPC file,
 * 0xFFFFFFFF -> IPC stream, '{' -> OTLP/JSON, a 0 byte (gRPC frame) or 0x0A
 * (field 1 of ExportTraceServiceRequest) -> OTLP protobuf; otherwise from
 * the extension (.pb .binpb .otlp, .json .jsonl), else an IPC stream. Files
 * are mapped; IPC streams are read without copying. */
typedef struct oa_cli_input {
  oa_ipc_format format;
  oa_buffer mapped;
  oa_ipc_file_reader *file;
  int64_t next_batch;
  oa_ipc_stream_reader *stream;
  FILE *in; /* stdin streams */
  bool closed;
  /* OTLP inputs */
  oa_cli_source source;
  oa_schema *span_schema;
  oa_otlp_decoder *pb;
  oa_otlp_json_decoder *json;
  int64_t pos; /* next unread byte of mapped */
  bool framed;
  int64_t requests, rejected; /* so far */
  /* a queue file (exporter_internal.h) unwrapped: its oa_exp_queue_format
   * (0: not one), span count and batch id */
  int queue_format;
  int64_t queue_spans;
  uint8_t queue_id[16];
} oa_cli_input;

int oa_cli_input_open(oa_cli_input *in, const char *path, oa_error *err);
/* Next batch; *got = false at the end. */
int oa_cli_input_next(oa_cli_input *in, oa_batch *out, bool *got,
                      oa_error *err);
/* Available once oa_cli_input_next was called (or for files, at once). */
oa_schema *oa_cli_input_schema(const oa_cli_input *in);
void oa_cli_input_close(oa_cli_input *in);

/* True for the span schema (metadata otlparrow.schema = spans/2, or the
 * same fields). */
bool oa_cli_is_span_schema(const oa_schema *s);

/* ------------------------------------------------------------- outputs */

typedef enum oa_cli_out_format {
  OA_CLI_OUT_STREAM = 0, /* Arrow IPC stream */
  OA_CLI_OUT_FILE,       /* Arrow IPC file */
  OA_CLI_OUT_PB,         /* OTLP protobuf */
  OA_CLI_OUT_JSON        /* OTLP/JSON */
} oa_cli_out_format;

/* Parses stream|arrows|file|arrow|pb|json; false if unknown. */
bool oa_cli_parse_out_format(const char *s, oa_cli_out_format *out);
/* From the extension: .pb .binpb .otlp -> pb, .json .jsonl -> json, .arrow
 * .arrow_file .feather .ipc -> file, anything else -> stream. */
oa_cli_out_format oa_cli_out_format_from_path(const char *path);
const char *oa_cli_out_format_name(oa_cli_out_format f);

/* A writer of batches or OTLP requests to a path ("-": stdout) in any
 * format. Files are written under a temporary name and renamed by finish,
 * so a failure leaves nothing behind.
 * - pb: one request as it is; two or more as gRPC frames (a 0 byte, the
 *   length as uint32 big-endian, the request).
 * - json: one request per line.
 * - IPC file with merge_spans: span batches are collected as OTLP and
 *   decoded at the end as one batch, written in slices of the original
 *   sizes, so every slice shares one set of dictionaries (the file format
 *   allows no dictionary replacement). */
typedef struct oa_cli_output {
  oa_cli_out_format fmt;
  const char *path;
  bool to_stdout;
  bool merge_spans;
  bool in_place; /* a device or FIFO (e.g. /dev/null): written directly */
  int fd;
  char tmp[4096];
  oa_ipc_write_options wopt;
  oa_schema *schema; /* retained: for IPC outputs */
  oa_ipc_writer *w;
  oa_otlp_decoder *dec;
  oa_bytes buf;  /* pb: the held first request; merge: all requests */
  int64_t *rows; /* merge: rows per input unit */
  int64_t n_units, cap_units;
  int64_t rows_total;
  int64_t bytes;   /* written */
  int64_t batches; /* written (requests, lines or record batches) */
} oa_cli_output;

int oa_cli_output_open(oa_cli_output *o, const char *path,
                       oa_cli_out_format fmt, oa_schema *schema,
                       const oa_ipc_write_options *wopt, bool merge_spans,
                       oa_error *err);
int oa_cli_output_batch(oa_cli_output *o, const oa_batch *b, oa_error *err);
/* An OTLP protobuf request with n_spans spans (gen's fast path). */
int oa_cli_output_request(oa_cli_output *o, const uint8_t *req, int64_t len,
                          int64_t n_spans, oa_error *err);
int oa_cli_output_finish(oa_cli_output *o, oa_error *err);
/* Releases everything; removes the temporary file if not finished. */
void oa_cli_output_close(oa_cli_output *o);

/* Readable span view used by inspect (rows of one span batch). */
int oa_cli_print_spans(const oa_batch *b, int64_t index, int64_t max_rows,
                       int64_t max_width, FILE *f, oa_error *err);

#endif
