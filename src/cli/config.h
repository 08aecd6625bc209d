/* The configuration file of `otlparrow serve`: a flat YAML mapping of
 * scalars ("key: value" lines), parsed from memory so that the parser can be
 * fuzzed without files (fuzz/fuzz_config.c). */
#ifndef OA_CLI_CONFIG_H
#define OA_CLI_CONFIG_H

#include <stddef.h>

#include "otlparrow/common.h"

/* Largest configuration file read (bytes): the parser holds it whole. */
#define OA_CLI_CONFIG_MAX_SIZE (1 << 20)

/* Called for each key and value (NUL-terminated), line is 1-based. A
 * non-zero return stops parsing and is returned as is. */
typedef int (*oa_cli_config_fn)(void *ctx, const char *key, const char *value,
                                size_t line, oa_error *err);

/* Parses text[0, len) and calls fn for each "key: value". Nested mappings,
 * lists, aliases, more than one document and a text larger than
 * OA_CLI_CONFIG_MAX_SIZE are refused (EINVAL, E2BIG) with a message that
 * starts with name and gives the line. */
int oa_cli_config_parse(const char *text, size_t len, const char *name,
                        oa_cli_config_fn fn, void *ctx, oa_error *err);

/* Reads path (at most OA_CLI_CONFIG_MAX_SIZE bytes) and parses it; name
 * prefixes the messages. */
int oa_cli_config_load(const char *path, const char *name, oa_cli_config_fn fn,
                       void *ctx, oa_error *err);

/* "512M", "1G", "4096", "64KiB": binary multiples; false if invalid or
 * larger than INT64_MAX. */
bool oa_cli_parse_size(const char *s, int64_t *out);

#endif
