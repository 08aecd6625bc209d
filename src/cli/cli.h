/* Shared pieces of the otlparrow command-line tool. */
#ifndef OA_CLI_H
#define OA_CLI_H

#include <stdio.h>

#include "otlparrow/arrow.h"
#include "otlparrow/ipc.h"

/* Subcommands: argv[0] is the subcommand name. Return the exit status. */
int oa_cli_inspect(int argc, char **argv);
int oa_cli_convert(int argc, char **argv);
int oa_cli_demo(int argc, char **argv);

/* Prints "otlparrow: error: <msg>" to stderr and returns 1. */
int oa_cli_fail(const char *fmt, ...) OA_PRINTF(1, 2);
/* True when argv[i] is -h or --help. */
bool oa_cli_is_help(const char *arg);
/* Parses a non-negative integer option value; returns false if invalid. */
bool oa_cli_parse_i64(const char *s, int64_t *out);

/* An Arrow IPC input, stream or file, from a path ("-" for stdin). Files
 * are mapped; streams from a path are mapped and read without copying. */
typedef struct oa_cli_input {
  oa_ipc_format format;
  oa_buffer mapped;
  oa_ipc_file_reader *file;
  int64_t next_batch;
  oa_ipc_stream_reader *stream;
  FILE *in; /* stdin streams */
  bool closed;
} oa_cli_input;

int oa_cli_input_open(oa_cli_input *in, const char *path, oa_error *err);
/* Next batch; *got = false at the end. */
int oa_cli_input_next(oa_cli_input *in, oa_batch *out, bool *got,
                      oa_error *err);
/* Available once oa_cli_input_next was called (or for files, at once). */
oa_schema *oa_cli_input_schema(const oa_cli_input *in);
void oa_cli_input_close(oa_cli_input *in);

#endif
