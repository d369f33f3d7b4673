/* test_fake.c — the dry run's fake browser on its own: fixtures (exact beats
 * prefix, longest prefix), answers on the virtual clock, a navigation's
 * events after its reply, eval answers in order, timeouts, injected
 * failures, forgetting a call, releasing with calls pending, the record,
 * clicks and Enter that a fixture says navigate, a document that redirects
 * under a waiting find, and the same through its operations table (backend.h). */
#include <stdlib.h>
#include <string.h>

#include "browser/fake.h"
#include "test.h"

typedef struct got {
    int replies, events, lost;
    err_kind_t kind;
    int code;           /* of a CDP error */
    char *result;       /* JSON of the last result */
    char methods[4096]; /* events and replies in arrival order (cut when full) */
} got_t;

/* Appends word and a space to g->methods, as much as fits. */
static void note(got_t *g, const char *word) {
    size_t n = strlen(g->methods);
    snprintf(g->methods + n, sizeof g->methods - n, "%s ", word);
}

static void on_reply(void *ud, const cJSON *result, const cdp_error_t *e) {
    got_t *g = ud;
    g->replies++;
    g->kind = e ? e->kind : ERR_NONE;
    g->code = e ? e->code : 0;
    free(g->result);
    g->result = result ? cJSON_PrintUnformatted(result) : NULL;
    note(g, "reply");
}

static void on_event(void *ud, const char *method, const cJSON *params) {
    got_t *g = ud;
    (void)params;
    g->events++;
    note(g, method);
}

static void on_lost(void *ud, err_kind_t kind, const char *msg) {
    got_t *g = ud;
    (void)kind;
    (void)msg;
    g->lost++;
}

static void on_ready(void *ud, fake_lease_t *l) { *(fake_lease_t **)ud = l; }

typedef struct fx {
    vclock_t clock;
    fake_t *f;
    fake_lease_t *l;
    got_t g;
} fx_t;

static void fx_init(fx_t *x) {
    memset(x, 0, sizeof *x);
    vclock_init(&x->clock, NULL, 1, 1000);
    CHECK_INT(fake_new(&x->f, &x->clock), 0);
    fake_lease_t *ready = NULL;
    x->l = fake_acquire(x->f, "job", 7, on_ready, &ready);
    CHECK(ready == NULL); /* never from inside fake_acquire */
    vclock_advance(&x->clock, 1000);
    CHECK(ready == x->l);
    browser_hooks_t hooks = {on_event, on_lost, &x->g};
    fake_set_hooks(x->l, &hooks);
}

static void fx_free(fx_t *x) {
    if (x->l) fake_release(x->l);
    fake_free(x->f);
    vclock_close(&x->clock);
    free(x->g.result);
}

static void serve(fx_t *x, const char *url, const char *json) {
    char err[256];
    cJSON *fx = cJSON_Parse(json);
    CHECK(fx != NULL);
    CHECK_INT(fake_serve(x->f, url, fx, err, sizeof err), 0);
    cJSON_Delete(fx);
}

static void call(fx_t *x, const char *method, const char *params, double timeout) {
    CHECK_INT(fake_send(x->l, method, params ? cJSON_Parse(params) : NULL, timeout, on_reply, &x->g,
                        NULL),
              0);
}

static void eval(fx_t *x, const char *expr) {
    char params[512];
    snprintf(params, sizeof params, "{\"expression\":\"%s\"}", expr);
    call(x, "Runtime.evaluate", params, 30);
    vclock_advance(&x->clock, vclock_now(&x->clock) + 1);
}

TEST(fake_navigation_answers_on_the_clock_then_fires_its_events) {
    fx_t x;
    fx_init(&x);
    serve(&x, "http://a/*", "{\"status\":404}");
    serve(&x, "http://a/page", "{\"title\":\"exact\"}");
    call(&x, "Page.navigate", "{\"url\":\"http://a/page\"}", 30);
    CHECK_INT(x.g.replies, 0);
    vclock_advance(&x.clock, 1000 + FAKE_LATENCY / 2);
    CHECK_INT(x.g.replies, 0);
    vclock_advance(&x.clock, 1000 + FAKE_LATENCY);
    CHECK_INT(x.g.replies, 1);
    CHECK_STR(x.g.methods,
              "Network.responseReceived reply Page.frameNavigated Page.domContentEventFired "
              "Page.loadEventFired Page.lifecycleEvent ");
    eval(&x, "document.title");
    CHECK_HAS(x.g.result, "\"value\":\"exact\""); /* the exact URL beats the prefix */
    fx_free(&x);
}

TEST(fake_longest_prefix_wins_and_a_network_error_fires_no_load) {
    fx_t x;
    fx_init(&x);
    serve(&x, "http://a/*", "{\"title\":\"short\"}");
    serve(&x, "http://a/b/*", "{\"error\":\"net::ERR_CONNECTION_REFUSED\"}");
    call(&x, "Page.navigate", "{\"url\":\"http://a/b/c\"}", 30);
    vclock_advance(&x.clock, 1010);
    CHECK_HAS(x.g.result, "\"errorText\":\"net::ERR_CONNECTION_REFUSED\"");
    CHECK_INT(x.g.events, 0);
    x.g.methods[0] = 0;
    call(&x, "Page.navigate", "{\"url\":\"http://a/x\"}", 30);
    vclock_advance(&x.clock, 1020);
    eval(&x, "document.title");
    CHECK_HAS(x.g.result, "\"value\":\"short\"");
    fx_free(&x);
}

TEST(fake_eval_answers_by_expression_then_in_order_the_last_repeating) {
    fx_t x;
    fx_init(&x);
    serve(&x, "http://a/", "{\"eval\":{\"n()\":5,\"1\":\"first\",\"2\":\"second\"}}");
    call(&x, "Page.navigate", "{\"url\":\"http://a/\"}", 30);
    vclock_advance(&x.clock, 1010);
    eval(&x, "n()");
    CHECK_HAS(x.g.result, "\"value\":5");
    eval(&x, "other()");
    CHECK_HAS(x.g.result, "\"value\":\"first\"");
    eval(&x, "other()");
    CHECK_HAS(x.g.result, "\"value\":\"second\"");
    eval(&x, "other()");
    CHECK_HAS(x.g.result, "\"value\":\"second\"");
    /* a new navigation starts the list again */
    call(&x, "Page.navigate", "{\"url\":\"http://a/\"}", 30);
    vclock_advance(&x.clock, vclock_now(&x.clock) + 1);
    eval(&x, "other()");
    CHECK_HAS(x.g.result, "\"value\":\"first\"");
    fx_free(&x);
}

TEST(fake_a_delay_past_the_timeout_is_a_timeout_at_the_timeout) {
    fx_t x;
    fx_init(&x);
    serve(&x, "http://slow/", "{\"delay\":60}");
    call(&x, "Page.navigate", "{\"url\":\"http://slow/\"}", 10);
    vclock_advance(&x.clock, 1009.9);
    CHECK_INT(x.g.replies, 0);
    vclock_advance(&x.clock, 1010);
    CHECK_INT(x.g.replies, 1);
    CHECK_INT(x.g.kind, ERR_TIMEOUT);
    vclock_advance(&x.clock, 1100);
    CHECK_INT(x.g.events, 0);
    fx_free(&x);
}

TEST(fake_injected_failures_go_first_in_first_out_per_job_and_a_crash_loses_the_page) {
    fx_t x;
    fx_init(&x);
    CHECK_INT(fake_fail(x.f, "other", ERR_NETWORK, NULL), 0);
    CHECK_INT(fake_fail(x.f, "job", ERR_RATE_LIMITED, "slow down"), 0);
    CHECK_INT(fake_fail(x.f, "job", ERR_BROWSER_CRASHED, NULL), 0);
    eval(&x, "1");
    CHECK_INT(x.g.kind, ERR_RATE_LIMITED);
    CHECK_INT(x.g.lost, 0);
    eval(&x, "1");
    CHECK_INT(x.g.kind, ERR_BROWSER_CRASHED);
    CHECK_INT(x.g.lost, 1);
    CHECK_INT(fake_send(x.l, "Runtime.evaluate", NULL, 30, on_reply, &x.g, NULL), -EPIPE);
    fx_free(&x);
}

TEST(fake_forget_and_release_drop_pending_calls) {
    fx_t x;
    uint64_t id = 0;
    fx_init(&x);
    CHECK_INT(fake_send(x.l, "Page.navigate", cJSON_Parse("{\"url\":\"http://a/\"}"), 30, on_reply,
                        &x.g, &id),
              0);
    fake_forget(x.l, id);
    vclock_advance(&x.clock, 1010);
    CHECK_INT(x.g.replies, 0);
    CHECK_INT(x.g.events, 5); /* the page still loads */
    call(&x, "Page.navigate", "{\"url\":\"http://a/\"}", 30);
    fake_release(x.l);
    x.l = NULL;
    vclock_advance(&x.clock, 1100);
    CHECK_INT(x.g.replies, 0);
    CHECK(vclock_next_due(&x.clock) < 0);
    fx_free(&x);
}

TEST(fake_records_calls_and_finds_by_what_they_look_for) {
    fx_t x;
    fx_init(&x);
    call(&x, "Page.navigate", "{\"url\":\"http://a/\"}", 30);
    /* a selector holding the separator the arguments are found by */
    call(&x, "Runtime.evaluate",
         "{\"objectGroup\":\"baton.find\",\"expression\":\"(async (sel) => {\\n})"
         "(\\\"a})(b\\\", 5000, false, \\\"text\\\", false)\"}",
         30);
    vclock_advance(&x.clock, 1010);
    CHECK_HAS(x.g.result, "\"ok\":true");
    cJSON *calls = fake_calls(x.f, "job");
    char *text = cJSON_PrintUnformatted(calls);
    CHECK_HAS(text, "\"method\":\"Page.navigate\"");
    CHECK_HAS(text, "\"url\":\"http://a/\"");
    CHECK_HAS(text, "\"selector\":\"a})(b\",\"action\":\"text\"");
    CHECK(strstr(text, "async") == NULL);
    free(text);
    cJSON_Delete(calls);
    calls = fake_calls(x.f, "nobody");
    CHECK_INT(cJSON_GetArraySize(calls), 0);
    cJSON_Delete(calls);
    CHECK_INT(fake_ncalls(x.f), 2);
    fx_free(&x);
}

/* A find of lua/page.lua: what the fake reads of it. */
static void find(fx_t *x, const char *sel, int timeout_ms, const char *action) {
    char params[512];
    snprintf(params, sizeof params,
             "{\"objectGroup\":\"baton.find\",\"expression\":\"(async (sel) => {\\n})"
             "(\\\"%s\\\", %d, false, \\\"%s\\\", false)\"}",
             sel, timeout_ms, action);
    call(x, "Runtime.evaluate", params, 30);
}

TEST(fake_a_click_the_fixture_maps_navigates_and_is_recorded) {
    fx_t x;
    fx_init(&x);
    serve(&x, "http://a/form", "{\"click\":{\"#publish\":\"/posted\"}}");
    serve(&x, "http://a/posted", "{\"title\":\"Posted\",\"status\":201}");
    call(&x, "Page.navigate", "{\"url\":\"http://a/form\"}", 30);
    vclock_advance(&x.clock, 1001);
    find(&x, "#publish", 5000, "click");
    vclock_advance(&x.clock, 1002);
    CHECK_HAS(x.g.result, "\"x\":100");
    x.g.methods[0] = 0;
    call(&x, "Input.dispatchMouseEvent", "{\"type\":\"mousePressed\"}", 30);
    vclock_advance(&x.clock, 1003);
    CHECK_STR(x.g.methods, "reply "); /* a press alone goes nowhere */
    x.g.methods[0] = 0;
    call(&x, "Input.dispatchMouseEvent", "{\"type\":\"mouseReleased\"}", 30);
    vclock_advance(&x.clock, 1003 + FAKE_LATENCY);
    CHECK_STR(x.g.methods, "Page.frameRequestedNavigation reply ");
    vclock_advance(&x.clock, 1004);
    CHECK_STR(x.g.methods, "Page.frameRequestedNavigation reply Network.responseReceived "
                           "Page.frameNavigated Page.domContentEventFired Page.loadEventFired "
                           "Page.lifecycleEvent ");
    eval(&x, "document.title");
    CHECK_HAS(x.g.result, "\"value\":\"Posted\"");
    eval(&x, "location.href");
    CHECK_HAS(x.g.result, "\"value\":\"http://a/posted\"");
    cJSON *calls = fake_calls(x.f, "job");
    char *text = cJSON_PrintUnformatted(calls);
    CHECK_HAS(text, "\"type\":\"mouseReleased\",\"navigates\":\"http://a/posted\"");
    CHECK(strstr(text, "\"type\":\"mousePressed\",\"navigates\"") == NULL);
    free(text);
    cJSON_Delete(calls);
    /* the new page has no click map: the same click stays */
    find(&x, "#publish", 5000, "click");
    vclock_advance(&x.clock, vclock_now(&x.clock) + 1);
    x.g.methods[0] = 0;
    call(&x, "Input.dispatchMouseEvent", "{\"type\":\"mouseReleased\"}", 30);
    vclock_advance(&x.clock, vclock_now(&x.clock) + 5);
    CHECK_STR(x.g.methods, "reply ");
    fx_free(&x);
}

TEST(fake_enter_in_a_focused_field_submits_and_a_js_click_navigates_at_once) {
    fx_t x;
    fx_init(&x);
    serve(&x, "http://a/s", "{\"submit\":{\"#q\":\"found\"},\"click\":{\"#go\":\"http://b/\"}}");
    call(&x, "Page.navigate", "{\"url\":\"http://a/s\"}", 30);
    vclock_advance(&x.clock, 1001);
    find(&x, "#q", 5000, "focus");
    call(&x, "Input.dispatchKeyEvent", "{\"type\":\"keyDown\",\"key\":\"Enter\"}", 30);
    vclock_advance(&x.clock, 1002);
    eval(&x, "location.href");
    CHECK_HAS(x.g.result, "\"value\":\"http://a/found\""); /* relative to the page */
    call(&x, "Page.navigate", "{\"url\":\"http://a/s\"}", 30);
    vclock_advance(&x.clock, 1004);
    find(&x, "#go", 5000, "jsclick");
    vclock_advance(&x.clock, 1005);
    eval(&x, "location.href");
    CHECK_HAS(x.g.result, "\"value\":\"http://b/\"");
    fx_free(&x);
}

TEST(fake_a_redirect_ends_a_waiting_find_with_the_documents_cdp_error) {
    fx_t x;
    fx_init(&x);
    serve(&x, "http://a/r", "{\"missing\":[\".x\"],\"redirect\":{\"url\":\"/l\",\"after\":1}}");
    serve(&x, "http://a/l", "{}");
    call(&x, "Page.navigate", "{\"url\":\"http://a/r\"}", 30);
    vclock_advance(&x.clock, 1000.1); /* loaded at 1000.05: the redirect is due at 1001.05 */
    find(&x, ".x", 100, "");          /* gives up before the redirect */
    vclock_advance(&x.clock, 1000.2);
    CHECK_HAS(x.g.result, "\"ok\":false");
    x.g.replies = 0;
    find(&x, ".x", 5000, "");
    vclock_advance(&x.clock, 1001.05);
    CHECK_INT(x.g.replies, 0); /* still waiting in the page */
    vclock_advance(&x.clock, 1001.2);
    CHECK_INT(x.g.replies, 1);
    CHECK_INT(x.g.kind, ERR_NONE);
    CHECK_INT(x.g.code, -32000);
    eval(&x, "location.href");
    CHECK_HAS(x.g.result, "\"value\":\"http://a/l\"");
    /* a page that navigated elsewhere first never redirects */
    call(&x, "Page.navigate", "{\"url\":\"http://a/r\"}", 30);
    vclock_advance(&x.clock, vclock_now(&x.clock) + 0.5);
    call(&x, "Page.navigate", "{\"url\":\"http://a/l\"}", 30);
    vclock_advance(&x.clock, vclock_now(&x.clock) + 0.1);
    serve(&x, "http://a/l", "{\"title\":\"stayed\"}");
    vclock_advance(&x.clock, vclock_now(&x.clock) + 3);
    eval(&x, "location.href");
    CHECK_HAS(x.g.result, "\"value\":\"http://a/l\"");
    fx_free(&x);
}

TEST(fake_serve_refuses_bad_fixtures) {
    fx_t x;
    char err[256];
    fx_init(&x);
    const char *bad[] = {"{\"status\":99}",
                         "{\"delay\":-1}",
                         "{\"title\":3}",
                         "[1]",
                         "{\"click\":{\"#a\":1}}",
                         "{\"covered\":[\"x\"]}",
                         "{\"redirect\":{\"after\":1}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *fx = cJSON_Parse(bad[i]);
        CHECK_INT(fake_serve(x.f, "http://a/", fx, err, sizeof err), -1);
        CHECK_HAS(err, "serve(http://a/)");
        cJSON_Delete(fx);
    }
    CHECK_INT(fake_serve(x.f, "", cJSON_GetArrayItem(NULL, 0), err, sizeof err), -1);
    fx_free(&x);
}

static void on_granted(void *ud, browser_lease_t *lease, err_kind_t kind, const char *msg) {
    *(browser_lease_t **)ud = lease;
}

TEST(fake_table_leases_on_the_clock_sends_and_withdraws_like_the_functions) {
    vclock_t clock;
    fake_t *f;
    browser_backend_t b;
    browser_lease_t *l = NULL, *never = NULL;
    got_t g = {0};
    vclock_init(&clock, NULL, 1, 1000);
    CHECK_INT(fake_new(&f, &clock), 0);
    fake_backend(f, &b);
    browser_ask_t ask = {.priority = 1, .job = "job", .run_id = 3};
    CHECK(b.ops->acquire(b.self, &ask, on_granted, &l) != NULL);
    browser_waiter_t *w = b.ops->acquire(b.self, &ask, on_granted, &never);
    CHECK(l == NULL); /* never from inside acquire */
    b.ops->cancel(b.self, w);
    vclock_advance(&clock, 1000);
    CHECK(l != NULL);
    CHECK(never == NULL); /* a withdrawn wait never fires */
    browser_lease_info_t info;
    b.ops->describe(b.self, l, &info);
    CHECK_INT(info.page_no, 1);
    CHECK_STR(info.browser_context, "fake");
    CHECK_INT(info.uses, 0);
    browser_hooks_t hooks = {on_event, on_lost, &g};
    b.ops->set_hooks(b.self, l, &hooks);
    browser_refusal_t why = {ERR_NONE, ""};
    uint64_t id = 0;
    CHECK_INT(b.ops->send(b.self, l, "Page.navigate", cJSON_Parse("{\"url\":\"http://a/\"}"), 30,
                          on_reply, &g, &id, &why),
              0);
    CHECK(id != 0);
    vclock_advance(&clock, 1001);
    CHECK_INT(g.replies, 1);
    CHECK_INT(g.events, 5); /* the response, DOMContentLoaded, load, network idle */
    CHECK_INT(b.ops->send(b.self, l, "Runtime.evaluate", NULL, 30, on_reply, &g, &id, &why), 0);
    b.ops->forget(b.self, l, id);
    vclock_advance(&clock, 1002);
    CHECK_INT(g.replies, 1);
    cJSON *calls = fake_calls(f, "job");
    CHECK_INT(cJSON_GetArraySize(calls), 2);
    cJSON_Delete(calls);
    b.ops->release(b.self, l, 1);
    fake_free(f);
    vclock_close(&clock);
    free(g.result);
}
