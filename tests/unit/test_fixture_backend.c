/* test_fixture_backend.c — baton test --browser real's backend without
 * Chromium: over an inner table that records what it is sent, a grant turns
 * on Fetch interception, paused requests are fulfilled or failed from the
 * fake's fixtures and never reach the page, other events and losses do, and
 * the run's calls are recorded and failed as the fake's own. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "browser/fixture_backend.h"
#include "test.h"

/* The inner backend: one lease, granted on the clock; every call kept. */
typedef struct inner {
    vclock_t *clock;
    vtimer_t grant;
    browser_acquire_cb cb;
    void *ud;
    browser_hooks_t hooks;
    int acquires, cancels, releases, discards, forgets;
    char sent[2048]; /* "method params\n" per call, oldest first */
    int nsent;
} inner_t;

static void on_grant(vtimer_t *t) {
    inner_t *in = t->data;
    in->cb(in->ud, (browser_lease_t *)in, ERR_NONE, NULL);
}

static browser_waiter_t *in_acquire(void *self, const browser_ask_t *ask, browser_acquire_cb cb,
                                    void *ud) {
    inner_t *in = self;
    in->acquires++;
    in->cb = cb;
    in->ud = ud;
    in->grant.data = in;
    vtimer_start(in->clock, &in->grant, vclock_now(in->clock), on_grant);
    return (browser_waiter_t *)in;
}

static void in_cancel(void *self, browser_waiter_t *w) {
    inner_t *in = self;
    in->cancels++;
    vtimer_stop(in->clock, &in->grant);
}

static void in_release(void *self, browser_lease_t *l, int discard) {
    inner_t *in = self;
    in->releases++;
    in->discards += discard != 0;
}

static int in_send(void *self, browser_lease_t *l, const char *method, cJSON *params,
                   double timeout, cdp_reply_cb cb, void *ud, uint64_t *id,
                   browser_refusal_t *why) {
    inner_t *in = self;
    char *text = params ? cJSON_PrintUnformatted(params) : NULL;
    size_t n = strlen(in->sent);
    snprintf(in->sent + n, sizeof in->sent - n, "%s %s\n", method, text ? text : "");
    free(text);
    cJSON_Delete(params);
    in->nsent++;
    if (id) *id = (uint64_t)in->nsent;
    return 0;
}

static void in_forget(void *self, browser_lease_t *l, uint64_t id) { ((inner_t *)self)->forgets++; }

static void in_set_hooks(void *self, browser_lease_t *l, const browser_hooks_t *hooks) {
    ((inner_t *)self)->hooks = *hooks;
}

static void in_describe(void *self, const browser_lease_t *l, browser_lease_info_t *out) {
    out->page_no = 5;
    out->browser_context = "INNER";
    out->uses = 2;
}

static const browser_backend_ops_t INNER_OPS = {
    in_acquire, in_cancel, in_release, in_send, in_forget, in_set_hooks, in_describe, NULL, NULL};

/* What the page hears. */
typedef struct heard {
    browser_lease_t *lease;
    err_kind_t kind;
    int granted, events, lost;
    char last_event[64];
} heard_t;

static void on_acquired(void *ud, browser_lease_t *lease, err_kind_t kind, const char *message) {
    heard_t *h = ud;
    h->granted++;
    h->lease = lease;
    h->kind = kind;
}

static void on_event(void *ud, const char *method, const cJSON *params) {
    heard_t *h = ud;
    h->events++;
    snprintf(h->last_event, sizeof h->last_event, "%s", method);
}

static void on_lost(void *ud, err_kind_t kind, const char *message) { ((heard_t *)ud)->lost++; }

typedef struct fx {
    vclock_t clock;
    fake_t *fake;
    inner_t in;
    fixture_backend_t fb;
    browser_backend_t b;
    heard_t h;
} fx_t;

static void fx_init(fx_t *x) {
    memset(x, 0, sizeof *x);
    vclock_init(&x->clock, NULL, 1, 1000);
    CHECK_INT(fake_new(&x->fake, &x->clock), 0);
    x->in.clock = &x->clock;
    browser_backend_t inner = {&INNER_OPS, &x->in};
    fixture_backend_init(&x->fb, &inner, x->fake, &x->b);
}

static void fx_lease(fx_t *x) {
    browser_ask_t ask = {.priority = 2, .job = "shop", .run_id = 9};
    CHECK(x->b.ops->acquire(x->b.self, &ask, on_acquired, &x->h) != NULL);
    CHECK_INT(x->h.granted, 0); /* never from inside acquire */
    vclock_advance(&x->clock, 1000);
    CHECK_INT(x->h.granted, 1);
    CHECK(x->h.lease != NULL);
    browser_hooks_t hooks = {on_event, on_lost, &x->h};
    x->b.ops->set_hooks(x->b.self, x->h.lease, &hooks);
}

static void fx_free(fx_t *x) {
    fake_free(x->fake);
    vclock_close(&x->clock);
}

static void serve(fx_t *x, const char *url, const char *json) {
    char err[256];
    cJSON *fixture = cJSON_Parse(json);
    CHECK_INT(fake_serve(x->fake, url, fixture, err, sizeof err), 0);
    cJSON_Delete(fixture);
}

/* The inner lease hears a paused request for url. */
static void paused(fx_t *x, const char *url) {
    char json[512];
    snprintf(json, sizeof json, "{\"requestId\":\"R1\",\"request\":{\"url\":\"%s\"}}", url);
    cJSON *p = cJSON_Parse(json);
    x->in.hooks.on_event(x->in.hooks.ud, "Fetch.requestPaused", p);
    cJSON_Delete(p);
}

TEST(fixture_backend_turns_on_interception_at_the_grant_and_describes_the_inner_page) {
    fx_t x;
    fx_init(&x);
    fx_lease(&x);
    CHECK_INT(x.in.acquires, 1);
    CHECK_HAS(x.in.sent, "Fetch.enable {\"patterns\":[{\"urlPattern\":\"*\"}]}");
    CHECK_INT(x.in.nsent, 1);
    browser_lease_info_t info;
    x.b.ops->describe(x.b.self, x.h.lease, &info);
    CHECK_INT(info.page_no, 5);
    CHECK_STR(info.browser_context, "INNER");
    CHECK_INT(info.uses, 2);
    x.b.ops->release(x.b.self, x.h.lease, 1);
    CHECK_INT(x.in.releases, 1);
    CHECK_INT(x.in.discards, 1);
    fx_free(&x);
}

TEST(fixture_backend_answers_paused_requests_from_the_fixtures_and_hides_them_from_the_page) {
    fx_t x;
    fx_init(&x);
    serve(&x, "http://shop/", "{\"status\":404,\"title\":\"Gone\",\"headers\":{\"X-A\":\"b\"}}");
    serve(&x, "http://down/", "{\"error\":\"net::ERR_CONNECTION_REFUSED\"}");
    fx_lease(&x);
    paused(&x, "http://shop/");
    CHECK_HAS(x.in.sent, "Fetch.fulfillRequest {\"requestId\":\"R1\",\"responseCode\":404");
    CHECK_HAS(x.in.sent, "{\"name\":\"X-A\",\"value\":\"b\"}");
    CHECK_HAS(x.in.sent, "{\"name\":\"Content-Type\",\"value\":\"text/html; charset=utf-8\"}");
    /* base64 of the page made from the title */
    CHECK_HAS(x.in.sent,
              "\"body\":\"PGh0bWw+PGhlYWQ+PHRpdGxlPkdvbmU8L3RpdGxlPjwvaGVhZD48Ym9keT48L2JvZHk+"
              "PC9odG1sPg==\"");
    paused(&x, "http://down/");
    CHECK_HAS(x.in.sent,
              "Fetch.failRequest {\"requestId\":\"R1\",\"errorReason\":\"ConnectionRefused\"}");
    paused(&x, "http://elsewhere/");
    CHECK_HAS(x.in.sent,
              "Fetch.failRequest {\"requestId\":\"R1\",\"errorReason\":\"BlockedByClient\"}");
    CHECK_INT(x.h.events, 0);
    /* Other events and a loss reach the page. */
    cJSON *p = cJSON_CreateObject();
    x.in.hooks.on_event(x.in.hooks.ud, "Page.loadEventFired", p);
    cJSON_Delete(p);
    CHECK_INT(x.h.events, 1);
    CHECK_STR(x.h.last_event, "Page.loadEventFired");
    x.in.hooks.on_lost(x.in.hooks.ud, ERR_BROWSER_CRASHED, "gone");
    CHECK_INT(x.h.lost, 1);
    x.b.ops->release(x.b.self, x.h.lease, 0);
    fx_free(&x);
}

TEST(fixture_backend_records_calls_and_refuses_the_one_a_test_fails) {
    fx_t x;
    fx_init(&x);
    fx_lease(&x);
    CHECK_INT(fake_fail(x.fake, "shop", ERR_NETWORK, "unplugged"), 0);
    browser_refusal_t why = {ERR_NONE, ""};
    uint64_t id = 0;
    int rc = x.b.ops->send(x.b.self, x.h.lease, "Page.navigate",
                           cJSON_Parse("{\"url\":\"http://shop/\"}"), 30, NULL, NULL, &id, &why);
    CHECK(rc < 0);
    CHECK_INT(why.kind, ERR_NETWORK);
    CHECK_STR(why.message, "unplugged");
    CHECK_INT(x.in.nsent, 1); /* only Fetch.enable reached the browser */
    why.kind = ERR_NONE;
    rc = x.b.ops->send(x.b.self, x.h.lease, "Runtime.evaluate",
                       cJSON_Parse("{\"expression\":\"1\"}"), 30, NULL, NULL, &id, &why);
    CHECK_INT(rc, 0);
    CHECK_INT(why.kind, ERR_NONE);
    CHECK_INT(x.in.nsent, 2);
    CHECK_HAS(x.in.sent, "Runtime.evaluate {\"expression\":\"1\"}");
    x.b.ops->forget(x.b.self, x.h.lease, id);
    CHECK_INT(x.in.forgets, 1);
    /* Both calls are in the record, under the run that made them. */
    cJSON *calls = fake_calls(x.fake, "shop");
    char *text = cJSON_PrintUnformatted(calls);
    CHECK_INT(cJSON_GetArraySize(calls), 2);
    CHECK_HAS(text, "\"run_id\":9,\"method\":\"Page.navigate\"");
    CHECK_HAS(text, "\"method\":\"Runtime.evaluate\"");
    free(text);
    cJSON_Delete(calls);
    x.b.ops->release(x.b.self, x.h.lease, 0);
    fx_free(&x);
}

TEST(fixture_backend_withdrawing_a_wait_withdraws_the_inner_one) {
    fx_t x;
    fx_init(&x);
    browser_ask_t ask = {.job = "shop", .run_id = 1};
    browser_waiter_t *w = x.b.ops->acquire(x.b.self, &ask, on_acquired, &x.h);
    CHECK(w != NULL);
    x.b.ops->cancel(x.b.self, w);
    CHECK_INT(x.in.cancels, 1);
    vclock_advance(&x.clock, 1000);
    CHECK_INT(x.h.granted, 0);
    CHECK_INT(x.in.nsent, 0);
    fx_free(&x);
}
