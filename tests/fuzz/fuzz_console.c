/* fuzz_console.c — the console's request parser: one JSON object a line with a
 * string "chunk"; anything else is refused with a message and allocates
 * nothing the caller must free. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *chunk = (char *)1;
    size_t len = 0;
    char err[256] = "";
    int rc = console_request_parse((const char *)data, size, &chunk, &len, err, sizeof err);
    if (rc == 0) {
        if (!chunk || strlen(chunk) != len) abort();
        free(chunk);
    } else if (chunk != NULL || !err[0]) {
        abort();
    }
    return 0;
}
