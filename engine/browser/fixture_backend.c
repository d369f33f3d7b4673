/* fixture_backend.c — see fixture_backend.h. Each lease wraps the inner
 * backend's: at the grant it turns on Fetch interception, then every paused
 * request is fulfilled from the fixture of its URL (or failed, or blocked
 * when none serves it) before the page hears of it; every call the run
 * makes is recorded, and fails at once when the test asked for a failure. */
#include "fixture_backend.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A lease of the inner backend, or the wait for one. */
typedef struct fx_lease {
    fixture_backend_t *fb;
    browser_waiter_t *waiter; /* while acquiring */
    browser_lease_t *lease;   /* once granted */
    browser_acquire_cb cb;
    void *ud;
    browser_hooks_t hooks; /* the page's */
    char *job;
    int64_t run_id;
} fx_lease_t;

static void fx_free(fx_lease_t *x) {
    free(x->job);
    free(x);
}

/* A call of our own on the page; its reply is not wanted. */
static void inner_send(fx_lease_t *x, const char *method, cJSON *params) {
    const browser_backend_t *in = &x->fb->inner;
    browser_refusal_t why = {ERR_NONE, ""};
    in->ops->send(in->self, x->lease, method, params, 10, NULL, NULL, NULL, &why);
}

/* ---- requests answered from the fixtures ---- */

/* net::ERR_* of a fixture's error as Fetch.failRequest's reason. */
static const char *fail_reason(const char *error) {
    static const char *const map[][2] = {
        {"CONNECTION_REFUSED", "ConnectionRefused"},
        {"NAME_NOT_RESOLVED", "NameNotResolved"},
        {"TIMED_OUT", "TimedOut"},
        {"CONNECTION_RESET", "ConnectionReset"},
        {"CONNECTION_CLOSED", "ConnectionClosed"},
        {"ADDRESS_UNREACHABLE", "AddressUnreachable"},
        {"INTERNET_DISCONNECTED", "InternetDisconnected"},
        {"ACCESS_DENIED", "AccessDenied"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strstr(error, map[i][0])) return map[i][1];
    return "Failed";
}

/* Answers a paused request; 1 when the event was one (consumed). */
static int answer(fx_lease_t *x, const char *method, const cJSON *params) {
    if (strcmp(method, "Fetch.requestPaused") != 0) return 0;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(params, "requestId");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(params, "request");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(req, "url");
    if (!cJSON_IsString(id) || !cJSON_IsString(url)) return 1;
    const cJSON *fx = fake_fixture(x->fb->fake, url->valuestring);
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(fx, "error");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "requestId", id->valuestring);
    if (!fx || cJSON_IsString(error)) {
        /* Nothing real is reached: a URL no fixture serves is blocked. */
        cJSON_AddStringToObject(p, "errorReason",
                                fx ? fail_reason(error->valuestring) : "BlockedByClient");
        inner_send(x, "Fetch.failRequest", p);
        return 1;
    }
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(fx, "status");
    const cJSON *html = cJSON_GetObjectItemCaseSensitive(fx, "html");
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(fx, "title");
    char page[1024];
    const char *body = cJSON_IsString(html) ? html->valuestring : page;
    if (!cJSON_IsString(html))
        snprintf(page, sizeof page, "<html><head><title>%.900s</title></head><body></body></html>",
                 cJSON_IsString(title) ? title->valuestring : "");
    size_t n = strlen(body), cap = n / 3 * 4 + 8;
    char *b64 = malloc(cap);
    if (!b64 || lws_b64_encode_string(body, (int)n, b64, (int)cap) < 0) {
        free(b64);
        cJSON_Delete(p);
        return 1;
    }
    cJSON_AddNumberToObject(p, "responseCode", cJSON_IsNumber(status) ? status->valuedouble : 200);
    cJSON *headers = cJSON_AddArrayToObject(p, "responseHeaders");
    const cJSON *h, *given = cJSON_GetObjectItemCaseSensitive(fx, "headers");
    int typed = 0;
    cJSON_ArrayForEach(h, given) {
        if (!cJSON_IsString(h)) continue;
        cJSON *pair = cJSON_CreateObject();
        cJSON_AddStringToObject(pair, "name", h->string);
        cJSON_AddStringToObject(pair, "value", h->valuestring);
        cJSON_AddItemToArray(headers, pair);
        typed |= strcasecmp(h->string, "content-type") == 0;
    }
    if (!typed) {
        cJSON *pair = cJSON_CreateObject();
        cJSON_AddStringToObject(pair, "name", "Content-Type");
        cJSON_AddStringToObject(pair, "value", "text/html; charset=utf-8");
        cJSON_AddItemToArray(headers, pair);
    }
    cJSON_AddStringToObject(p, "body", b64);
    free(b64);
    inner_send(x, "Fetch.fulfillRequest", p);
    return 1;
}

/* The inner lease's events: paused requests are ours, the rest the page's. */
static void on_event(void *ud, const char *method, const cJSON *params) {
    fx_lease_t *x = ud;
    if (answer(x, method, params)) return;
    if (x->hooks.on_event) x->hooks.on_event(x->hooks.ud, method, params);
}

static void on_lost(void *ud, err_kind_t kind, const char *message) {
    fx_lease_t *x = ud;
    if (x->hooks.on_lost) x->hooks.on_lost(x->hooks.ud, kind, message);
}

/* ---- the operations table ---- */

static void on_granted(void *ud, browser_lease_t *lease, err_kind_t kind, const char *message) {
    fx_lease_t *x = ud;
    browser_acquire_cb cb = x->cb;
    void *cb_ud = x->ud;
    x->waiter = NULL;
    if (!lease) {
        fx_free(x);
        cb(cb_ud, NULL, kind, message);
        return;
    }
    const browser_backend_t *in = &x->fb->inner;
    x->lease = lease;
    browser_hooks_t hooks = {on_event, on_lost, x};
    in->ops->set_hooks(in->self, lease, &hooks);
    inner_send(x, "Fetch.enable", cJSON_Parse("{\"patterns\":[{\"urlPattern\":\"*\"}]}"));
    cb(cb_ud, (browser_lease_t *)x, ERR_NONE, NULL);
}

static browser_waiter_t *fx_acquire(void *self, const browser_ask_t *ask, browser_acquire_cb cb,
                                    void *ud) {
    fixture_backend_t *fb = self;
    fx_lease_t *x = calloc(1, sizeof *x);
    if (!x || !(x->job = strdup(ask->job ? ask->job : ""))) {
        free(x);
        return NULL;
    }
    x->fb = fb;
    x->cb = cb;
    x->ud = ud;
    x->run_id = ask->run_id;
    x->waiter = fb->inner.ops->acquire(fb->inner.self, ask, on_granted, x);
    if (!x->waiter) {
        fx_free(x);
        return NULL;
    }
    return (browser_waiter_t *)x;
}

static void fx_cancel(void *self, browser_waiter_t *w) {
    fixture_backend_t *fb = self;
    fx_lease_t *x = (fx_lease_t *)w;
    fb->inner.ops->cancel(fb->inner.self, x->waiter);
    fx_free(x);
}

static void fx_release(void *self, browser_lease_t *l, int discard) {
    fixture_backend_t *fb = self;
    fx_lease_t *x = (fx_lease_t *)l;
    fb->inner.ops->release(fb->inner.self, x->lease, discard);
    fx_free(x);
}

/* Records the call as the fake would; fails it at once when the test asked. */
static int fx_send(void *self, browser_lease_t *l, const char *method, cJSON *params,
                   double timeout, cdp_reply_cb cb, void *ud, uint64_t *id,
                   browser_refusal_t *why) {
    fixture_backend_t *fb = self;
    fx_lease_t *x = (fx_lease_t *)l;
    fake_record(fb->fake, x->job, x->run_id, method, params);
    if (fake_take_failure(fb->fake, x->job, &why->kind, why->message, sizeof why->message)) {
        cJSON_Delete(params);
        return -ECANCELED;
    }
    return fb->inner.ops->send(fb->inner.self, x->lease, method, params, timeout, cb, ud, id, why);
}

static void fx_forget(void *self, browser_lease_t *l, uint64_t id) {
    fixture_backend_t *fb = self;
    fb->inner.ops->forget(fb->inner.self, ((fx_lease_t *)l)->lease, id);
}

static void fx_set_hooks(void *self, browser_lease_t *l, const browser_hooks_t *hooks) {
    (void)self;
    ((fx_lease_t *)l)->hooks = *hooks;
}

static void fx_describe(void *self, const browser_lease_t *l, browser_lease_info_t *out) {
    fixture_backend_t *fb = self;
    fb->inner.ops->describe(fb->inner.self, ((const fx_lease_t *)l)->lease, out);
}

static void fx_cancel_download(void *self, browser_lease_t *l, const char *guid) {
    fixture_backend_t *fb = self;
    if (fb->inner.ops->cancel_download)
        fb->inner.ops->cancel_download(fb->inner.self, ((fx_lease_t *)l)->lease, guid);
}

/* The real browser reads an upload: the inner backend stages it for its user. */
static int fx_stage_file(void *self, browser_lease_t *l, const char *path, char *out, size_t len,
                         char *why, size_t whylen) {
    fixture_backend_t *fb = self;
    if (!fb->inner.ops->stage_file) {
        snprintf(out, len, "%s", path);
        return 0;
    }
    return fb->inner.ops->stage_file(fb->inner.self, ((fx_lease_t *)l)->lease, path, out, len, why,
                                     whylen);
}

static const browser_backend_ops_t FIXTURE_OPS = {
    .acquire = fx_acquire,
    .cancel = fx_cancel,
    .release = fx_release,
    .send = fx_send,
    .forget = fx_forget,
    .set_hooks = fx_set_hooks,
    .describe = fx_describe,
    .cancel_download = fx_cancel_download,
    .stage_file = fx_stage_file,
};

void fixture_backend_init(fixture_backend_t *fb, const browser_backend_t *inner, fake_t *fake,
                          browser_backend_t *out) {
    fb->inner = *inner;
    fb->fake = fake;
    out->ops = &FIXTURE_OPS;
    out->self = fb;
}
