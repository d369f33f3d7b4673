/* fuzz_cdp.c — CDP message handling: the input is a stream of messages
 * separated by NUL bytes, as the pipe delivers them, answered to a connection
 * with calls pending. Replies to unknown ids, malformed errors, events with
 * odd sessions and garbage must neither crash nor leak; every pending call is
 * answered exactly once (by a reply or by the close). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "browser/cdp_int.h"

static int tp_write(cdp_t *c, const char *msg, size_t len) {
    (void)c;
    (void)msg;
    (void)len;
    return 0;
}

static void tp_close(cdp_t *c) { cdp_transport_gone(c); }

static const cdp_transport_t fuzz_transport = {.write = tp_write, .close = tp_close};

static int answered[8];

static void on_reply(void *ud, const cJSON *result, const cdp_error_t *err) {
    int i = (int)(intptr_t)ud;
    if (answered[i]++) abort(); /* twice */
    if (!result && !err) abort();
}

static void on_event(void *ud, const char *session, const char *method, const cJSON *params) {
    (void)ud;
    (void)session;
    if (!method || !params) abort();
}

static void on_close(void *ud, const char *why) {
    (void)ud;
    if (!why) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int quiet;
    if (!quiet) {
        log_setup(LOG_OFF, 0);
        quiet = 1;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    vclock_t clock;
    vclock_init(&clock, NULL, 1, 1704067200);
    cdp_hooks_t hooks = {.on_event = on_event, .on_close = on_close};
    cdp_t *c = cdp_alloc(&loop, &clock, &hooks, &fuzz_transport, NULL);
    if (!c) return 0;
    memset(answered, 0, sizeof answered);
    for (int i = 0; i < 8; i++)
        cdp_send(c, i % 2 ? "S1" : NULL, "Runtime.evaluate", NULL, 30, on_reply,
                 (void *)(intptr_t)i, NULL);
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\0') {
            if (i > start) cdp_transport_message(c, (const char *)data + start, i - start);
            start = i + 1;
        }
    }
    cdp_close(c);
    for (int i = 0; i < 8; i++)
        if (answered[i] != 1) abort();
    vclock_close(&clock);
    uv_loop_close(&loop);
    return 0;
}
