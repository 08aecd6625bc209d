/* otlparrow: the command-line tool. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char kHelp[] =
    "usage: otlparrow COMMAND [options]\n"
    "\n"
    "OpenTelemetry traces on Apache Arrow.\n"
    "\n"
    "commands:\n"
    "  inspect FILE        print the schema and batches of an Arrow IPC stream "
    "or file\n"
    "                      (or of OTLP protobuf/JSON traces, as span batches)\n"
    "  convert IN OUT      re-encode Arrow IPC (stream <-> file, "
    "none/lz4/zstd), or\n"
    "                      traces between Arrow IPC and OTLP protobuf/JSON\n"
    "  gen                 generate realistic, deterministic traces "
    "(pb/json/arrow)\n"
    "  demo                generate traces, convert them to Arrow, write and "
    "read\n"
    "                      them back as Arrow IPC\n"
    "  serve               receive OTLP traces (gRPC, HTTP), serve Arrow "
    "Flight\n"
    "  loadgen             drive OTLP/gRPC or Arrow Flight with generated "
    "load\n"
    "  forward             OTLP in, Arrow Flight (or OTLP) out: the edge "
    "gateway\n"
    "  bench               OTLP protobuf vs Arrow: the field's table, "
    "measured here\n"
    "  query SQL           run SQL over spans (files, a data directory or "
    "Flight)\n"
    "  trace TRACE_ID      print one trace as an indented tree\n"
    "  version             print the version\n"
    "\n"
    "Run 'otlparrow COMMAND --help' for the options of a command.\n";

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
} command;

static int cmd_version(int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("otlparrow %s\n", oa_version());
  return 0;
}

static const command kCommands[] = {
    {"inspect", oa_cli_inspect}, {"convert", oa_cli_convert},
    {"gen", oa_cli_gen},         {"serve", oa_cli_serve},
    {"loadgen", oa_cli_loadgen}, {"demo", oa_cli_demo},
    {"bench", oa_cli_bench},
    {"version", cmd_version},
    {"query", oa_cli_query},
    {"trace", oa_cli_trace},
    {"forward", oa_cli_forward},
};

int main(int argc, char **argv) {
  if (argc < 2 || oa_cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
    fputs(kHelp, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--version") == 0) return cmd_version(0, NULL);
  for (size_t i = 0; i < sizeof kCommands / sizeof kCommands[0]; i++)
    if (strcmp(argv[1], kCommands[i].name) == 0)
      return kCommands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "otlparrow: error: unknown command '%s'\n\n%s", argv[1],
          kHelp);
  return 2;
}
