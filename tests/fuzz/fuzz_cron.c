/* fuzz_cron.c — cron expressions: any bytes either parse or fail with a
 * message, and a parsed expression's next start is later than the time asked
 * about (or none), for a few times across years. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sched/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 512) return 0;
    char expr[513];
    memcpy(expr, data, size);
    expr[size] = '\0';
    cron_t c;
    char err[256] = "";
    if (cron_parse(&c, expr, err, sizeof err) != 0) {
        if (!err[0]) abort(); /* a refusal always says why */
        return 0;
    }
    static const double at[] = {0, 1704067200, 1711846799.5, 2000000000, 4102444800};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        double next = cron_next(&c, at[i]);
        if (next == next && next > 0 && next <= at[i]) abort();
    }
    return 0;
}
