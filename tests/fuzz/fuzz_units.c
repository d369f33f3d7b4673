/* fuzz_units.c — the units people write: durations, sizes and points in time.
 * Any bytes parse or are refused; what parses is finite and not negative, and
 * a duration formats back without overflowing its buffer. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 256) return 0;
    char text[257];
    memcpy(text, data, size);
    text[size] = '\0';
    double d;
    if (units_duration(text, &d) == 0) {
        if (!isfinite(d) || d < 0) abort();
        char buf[64];
        units_format_duration(d, buf, sizeof buf);
        if (strlen(buf) >= sizeof buf) abort();
    }
    size_t bytes;
    (void)units_size(text, &bytes);
    double t;
    if (units_time(text, &t) == 0) {
        if (!isfinite(t)) abort();
        char buf[64];
        units_format_time(t, buf, sizeof buf);
    }
    return 0;
}
