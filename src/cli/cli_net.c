/* Helpers shared by the commands that listen (serve, forward). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

bool oa_cli_addr_off(const char *a) {
  return !a || !*a || strcmp(a, "off") == 0 || strcmp(a, "none") == 0;
}

void oa_cli_bound_addr(char *out, size_t cap, const char *addr, int port) {
  const char *colon = strrchr(addr, ':');
  int hl = colon ? (int)(colon - addr) : (int)strlen(addr);
  snprintf(out, cap, "%.*s:%d", hl, addr, port);
}
