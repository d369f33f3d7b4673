/* fuzz_conf.c — engine.conf loading: any file either loads or is refused with
 * a message, and a refusal leaves the configuration as it was (the defaults
 * here). The file is Lua evaluated with no libraries, a capped allocator and
 * an instruction limit, so hostile input must end quickly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"

static char path[256];

static void setup(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/baton-fuzz-conf-%d.conf", tmp && tmp[0] ? tmp : "/tmp",
             (int)getpid());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) setup();
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    conf_t c, before;
    conf_defaults(&c);
    before = c;
    char err[512] = "";
    int rc = conf_load(&c, path, err, sizeof err);
    if (rc != 0) {
        if (!err[0]) abort();
        if (memcmp(&c, &before, sizeof c) != 0) abort(); /* left as it was */
    }
    conf_free(&c);
    unlink(path);
    return 0;
}
