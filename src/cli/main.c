#include <stdio.h>
#include "otlparrow/common.h"
int main(void) { printf("otlparrow %s\n", oa_version()); return 0; }
