/* test_page.c — page.c's primitives (under lua/page.lua) against a browser
 * backend of the test's own: an operations table that counts its calls and
 * answers on the virtual clock. It proves the page layer needs nothing but
 * the table: one acquire and one release per lease, cancel for a withdrawn
 * wait, calls, refusals, events and losses all through the table; the
 * files a run may upload; and downloads followed from the page's events. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "browser/page.h"
#include "scriptkit.h"
#include "test.h"

typedef struct tb_lease tb_lease_t;

/* The test backend: counters, what it was last asked, and how it answers. */
typedef struct tb {
    vclock_t *clock;
    int acquires, cancels, releases, discards, sends, forgets, set_hooks, describes;
    int hold_acquire;  /* never grant: the wait can only be withdrawn */
    int fail_acquire;  /* the wait ends without a page: ERR_POOL_TIMEOUT */
    int hold_replies;  /* never answer a call */
    int refuse;        /* refuse calls with ERR_NETWORK "refused by the test" */
    int gone;          /* calls fail with -EPIPE */
    int event_first;   /* an event "Test.ev" {v = 7} arrives before each reply */
    int crash_on_send; /* the page is lost, then the call fails */
    int ask_priority;
    char ask_session[64], ask_job[64];
    int64_t ask_run_id;
    char last_method[64];
    char last_params[4096];
    tb_lease_t *live;       /* the lease out, if any */
    int ask_downloads;      /* what the last acquire asked */
    char download_dir[512]; /* what describe reports */
    char cancelled[512];    /* the guids cancel_download was given, each followed by ' ' */
} tb_t;

struct tb_lease {
    tb_t *t;
    vtimer_t grant, reply;
    browser_acquire_cb cb;
    void *ud;
    browser_hooks_t hooks;
    cdp_reply_cb reply_cb;
    void *reply_ud;
    uint64_t next_id, pending;
};

static void tb_on_grant(vtimer_t *timer) {
    tb_lease_t *l = timer->data;
    if (l->t->fail_acquire) {
        browser_acquire_cb cb = l->cb;
        void *ud = l->ud;
        free(l);
        cb(ud, NULL, ERR_POOL_TIMEOUT, "no page within 0.5s");
        return;
    }
    l->t->live = l;
    l->cb(l->ud, (browser_lease_t *)l, ERR_NONE, NULL);
}

static browser_waiter_t *tb_acquire(void *self, const browser_ask_t *ask, browser_acquire_cb cb,
                                    void *ud) {
    tb_t *t = self;
    tb_lease_t *l = calloc(1, sizeof *l);
    t->acquires++;
    t->ask_priority = ask->priority;
    snprintf(t->ask_session, sizeof t->ask_session, "%s", ask->session ? ask->session : "");
    snprintf(t->ask_job, sizeof t->ask_job, "%s", ask->job);
    t->ask_run_id = ask->run_id;
    t->ask_downloads = ask->downloads;
    l->t = t;
    l->cb = cb;
    l->ud = ud;
    l->grant.data = l->reply.data = l;
    if (!t->hold_acquire)
        vtimer_start(t->clock, &l->grant, vclock_now(t->clock) + 0.5, tb_on_grant);
    return (browser_waiter_t *)l;
}

static void tb_cancel(void *self, browser_waiter_t *w) {
    tb_t *t = self;
    tb_lease_t *l = (tb_lease_t *)w;
    t->cancels++;
    vtimer_stop(t->clock, &l->grant);
    free(l);
}

static void tb_release(void *self, browser_lease_t *bl, int discard) {
    tb_t *t = self;
    tb_lease_t *l = (tb_lease_t *)bl;
    t->releases++;
    t->discards += discard != 0;
    vtimer_stop(t->clock, &l->reply);
    if (t->live == l) t->live = NULL;
    free(l);
}

static void tb_on_reply(vtimer_t *timer) {
    tb_lease_t *l = timer->data;
    tb_t *t = l->t;
    cdp_reply_cb cb = l->reply_cb;
    l->reply_cb = NULL;
    if (t->event_first && l->hooks.on_event) {
        cJSON *ev = cJSON_Parse("{\"v\":7}");
        l->hooks.on_event(l->hooks.ud, "Test.ev", ev);
        cJSON_Delete(ev);
    }
    if (strcmp(t->last_method, "Runtime.test_events") == 0 && l->hooks.on_event) {
        /* params { events = { { m = method, p = params }… } }: heard before the reply */
        cJSON *all = cJSON_Parse(t->last_params), *ev;
        cJSON_ArrayForEach(ev, cJSON_GetObjectItem(all, "events")) {
            l->hooks.on_event(l->hooks.ud, cJSON_GetObjectItem(ev, "m")->valuestring,
                              cJSON_GetObjectItem(ev, "p"));
        }
        cJSON_Delete(all);
    }
    if (t->crash_on_send) {
        cdp_error_t e = {.kind = ERR_BROWSER_CRASHED, .message = "the test crashed the page"};
        if (l->hooks.on_lost) l->hooks.on_lost(l->hooks.ud, e.kind, e.message);
        cb(l->reply_ud, NULL, &e);
        return;
    }
    cJSON *result = cJSON_CreateObject();
    cJSON_AddStringToObject(result, "echo", t->last_method);
    cb(l->reply_ud, result, NULL);
    cJSON_Delete(result);
}

static int tb_send(void *self, browser_lease_t *bl, const char *method, cJSON *params,
                   double timeout, cdp_reply_cb cb, void *ud, uint64_t *id,
                   browser_refusal_t *why) {
    tb_t *t = self;
    tb_lease_t *l = (tb_lease_t *)bl;
    t->sends++;
    snprintf(t->last_method, sizeof t->last_method, "%s", method);
    char *text = params ? cJSON_PrintUnformatted(params) : NULL;
    snprintf(t->last_params, sizeof t->last_params, "%s", text ? text : "");
    free(text);
    cJSON_Delete(params);
    if (t->gone) return -EPIPE;
    if (t->refuse) {
        why->kind = ERR_NETWORK;
        snprintf(why->message, sizeof why->message, "refused by the test");
        return -ECANCELED;
    }
    l->reply_cb = cb;
    l->reply_ud = ud;
    *id = l->pending = ++l->next_id;
    if (!t->hold_replies)
        vtimer_start(t->clock, &l->reply, vclock_now(t->clock) + 0.25, tb_on_reply);
    return 0;
}

static void tb_forget(void *self, browser_lease_t *bl, uint64_t id) {
    tb_t *t = self;
    tb_lease_t *l = (tb_lease_t *)bl;
    t->forgets++;
    CHECK_INT(id, l->pending);
    l->reply_cb = NULL;
    vtimer_stop(t->clock, &l->reply);
}

static void tb_set_hooks(void *self, browser_lease_t *bl, const browser_hooks_t *hooks) {
    tb_t *t = self;
    t->set_hooks++;
    ((tb_lease_t *)bl)->hooks = *hooks;
}

static void tb_describe(void *self, const browser_lease_t *bl, browser_lease_info_t *out) {
    tb_t *t = self;
    t->describes++;
    out->page_no = 3;
    out->browser_context = "TB-CONTEXT";
    out->uses = 1;
    out->download_dir = t->download_dir;
}

static void tb_cancel_download(void *self, browser_lease_t *bl, const char *guid) {
    tb_t *t = self;
    (void)bl;
    size_t n = strlen(t->cancelled);
    snprintf(t->cancelled + n, sizeof t->cancelled - n, "%s ", guid);
}

static const browser_backend_ops_t TB_OPS = {
    .acquire = tb_acquire,
    .cancel = tb_cancel,
    .release = tb_release,
    .send = tb_send,
    .forget = tb_forget,
    .set_hooks = tb_set_hooks,
    .describe = tb_describe,
    .cancel_download = tb_cancel_download,
};

/* A kit whose scripts get page.c's primitives over the test backend. */
typedef struct pfx {
    kit_t k;
    tb_t tb;
    page_env_t env;
    job_t **jobs;
    size_t njobs;
    size_t dl_max_bytes; /* the job's downloads (0: none) */
    int dl_max_files;
} pfx_t;

/* with_browser 0: the env has no backend (check, plan). */
static void pfx_init(pfx_t *x, const char *run_body, int with_browser) {
    char err[1024], text[4096];
    memset(x, 0, sizeof *x);
    kit_init(&x->k);
    x->tb.clock = &x->k.clock;
    if (with_browser) x->env.browser = (browser_backend_t){&TB_OPS, &x->tb};
    x->env.clock = &x->k.clock;
    snprintf(x->env.files_dir, sizeof x->env.files_dir, "%s/files", x->k.dir);
    x->k.host.open_prims = page_open_prims;
    x->k.host.prims_ud = &x->env;
    snprintf(text, sizeof text, "job 'j' { run = function(ctx)\n%s\nend }\n", run_body);
    x->jobs = kit_jobs(&x->k, "p.lua", text, &x->njobs, err, sizeof err);
    if (!x->jobs) test_fail(__FILE__, __LINE__, "load failed: %s", err);
}

static void on_done(script_co_t *co, script_outcome_t *out, void *ud) {
    kit_t *k = ud;
    (void)co;
    k->done = 1;
    k->co = NULL;
    k->out = *out;
    k->out.result_json = NULL;
    snprintf(k->result, sizeof k->result, "%s", out->result_json ? out->result_json : "");
}

/* Starts the run as the runner would (priority, session), and waits up to
 * `seconds` of virtual time for it to end. Returns 1 when it ended. */
static int pfx_run(pfx_t *x, double seconds) {
    if (!x->jobs) return 0;
    job_t *j = x->jobs[0];
    script_run_info_t info = {.job = j->name,
                              .run_id = 42,
                              .attempt = 1,
                              .scheduled_at = vclock_now(&x->k.clock),
                              .priority = 1,
                              .session = "shop",
                              .download_max_bytes = x->dl_max_bytes,
                              .download_max_files = x->dl_max_files};
    x->k.done = 0;
    x->k.co = script_co_start(j->script, j->run_ref, &info, on_done, &x->k);
    return kit_wait(&x->k, seconds);
}

static void pfx_free(pfx_t *x) {
    if (x->jobs) job_free_all(x->jobs, x->njobs);
    kit_free(&x->k);
}

TEST(page_leases_once_per_run_through_the_table_and_sends_go_to_it) {
    pfx_t x;
    pfx_init(&x,
             "  local p = ctx:page()\n"
             "  local same = ctx:page() == p\n"
             "  local r = p:send('Runtime.test_echo', { a = 1 })\n"
             "  local n, bc = p:number()\n"
             "  local n2 = p:context() -- its old name\n"
             "  return { echo = r.echo, n = n, bc = bc, same = same, old = n2 == n }",
             1);
    CHECK(pfx_run(&x, 10));
    CHECK(x.k.out.ok);
    CHECK_HAS(x.k.result, "\"echo\":\"Runtime.test_echo\"");
    CHECK_HAS(x.k.result, "\"n\":3");
    CHECK_HAS(x.k.result, "\"bc\":\"TB-CONTEXT\"");
    CHECK_HAS(x.k.result, "\"same\":true");
    CHECK_HAS(x.k.result, "\"old\":true");
    CHECK_INT(x.k.out.page_no, 3); /* the run's outcome names the backend's page */
    CHECK_INT(x.tb.acquires, 1);
    CHECK_INT(x.tb.releases, 1);
    CHECK_INT(x.tb.discards, 0); /* a run that ended well gives its page back for reuse */
    CHECK_INT(x.tb.cancels, 0);
    CHECK_INT(x.tb.forgets, 0);
    CHECK_INT(x.tb.set_hooks, 1);
    CHECK_INT(x.tb.describes, 1);
    CHECK_INT(x.tb.sends, 1);
    CHECK_STR(x.tb.last_method, "Runtime.test_echo");
    CHECK_STR(x.tb.last_params, "{\"a\":1}");
    /* The ask carries the run's priority, session and names. */
    CHECK_INT(x.tb.ask_priority, 1);
    CHECK_STR(x.tb.ask_session, "shop");
    CHECK_STR(x.tb.ask_job, "j");
    CHECK_INT(x.tb.ask_run_id, 42);
    CHECK(x.tb.live == NULL);
    CHECK_INT(x.env.busy, 0);
    pfx_free(&x);
}

TEST(page_a_run_cancelled_while_acquiring_calls_cancel_and_never_release) {
    pfx_t x;
    pfx_init(&x, "  ctx:page()\n  return 1", 1);
    x.tb.hold_acquire = 1;
    CHECK(!pfx_run(&x, 5));
    CHECK_INT(x.tb.acquires, 1);
    CHECK_INT(x.env.busy, 1); /* the run waits on the browser */
    CHECK(x.k.co != NULL);
    if (x.k.co) script_co_cancel(x.k.co, ERR_CANCELLED, "the test cancels");
    CHECK(x.k.done);
    CHECK_INT(x.k.out.kind, ERR_CANCELLED);
    CHECK_INT(x.tb.cancels, 1);
    CHECK_INT(x.tb.releases, 0);
    CHECK_INT(x.env.busy, 0);
    pfx_free(&x);
}

TEST(page_a_run_cancelled_during_a_call_forgets_it_then_discards_the_page) {
    pfx_t x;
    pfx_init(&x, "  local p = ctx:page()\n  p:send('Runtime.test_hang')\n  return 1", 1);
    x.tb.hold_replies = 1;
    CHECK(!pfx_run(&x, 5));
    CHECK_INT(x.tb.sends, 1);
    CHECK_INT(x.env.busy, 1);
    if (x.k.co) script_co_cancel(x.k.co, ERR_CANCELLED, "the test cancels");
    CHECK(x.k.done);
    CHECK_INT(x.tb.forgets, 1);
    CHECK_INT(x.tb.releases, 1);
    CHECK_INT(x.tb.discards, 1); /* a cancelled run's page is not reused */
    CHECK_INT(x.tb.cancels, 0);
    CHECK_INT(x.env.busy, 0);
    pfx_free(&x);
}

TEST(page_a_refusal_of_the_table_fails_the_call_with_its_kind_and_message) {
    pfx_t x;
    pfx_init(&x,
             "  local p = ctx:page()\n"
             "  local ok, e = pcall(p.send, p, 'Runtime.test_no')\n"
             "  return { ok = ok, kind = e.kind, msg = e.message }",
             1);
    x.tb.refuse = 1;
    CHECK(pfx_run(&x, 10));
    CHECK(x.k.out.ok);
    CHECK_HAS(x.k.result, "\"ok\":false");
    CHECK_HAS(x.k.result, "\"kind\":\"network\"");
    CHECK_HAS(x.k.result, "Runtime.test_no: refused by the test");
    CHECK_INT(x.tb.releases, 1);
    pfx_free(&x);
}

TEST(page_raw_send_reaches_only_the_page_and_loads_only_allowed_schemes) {
    pfx_t x;
    pfx_init(&x,
             "  local p = ctx:page()\n"
             "  local r = {}\n"
             "  for _, m in ipairs({ 'Browser.setDownloadBehavior', 'Target.getTargets',\n"
             "      'Target.attachToTarget', 'Target.sendMessageToTarget', 'Storage.getCookies',\n"
             "      'DOM.setFileInputFiles' }) do\n"
             "    local ok, e = pcall(function() p:send(m, {}) end)\n"
             "    r[#r + 1] = tostring(ok) .. ' ' .. tostring(e)\n"
             "  end\n"
             "  local ok1, e1 = pcall(function() p:navigate('file:///etc/passwd') end)\n"
             "  local ok2, e2 = pcall(p.send, p, 'Page.navigate', { url = 'chrome://settings' })\n"
             "  return { r = table.concat(r, '|'), nav = tostring(e1), raw = e2.kind .. ' ' ..\n"
             "    e2.message }",
             1);
    CHECK(pfx_run(&x, 10));
    CHECK(x.k.out.ok);
    CHECK_HAS(x.k.result, "p.lua:7: page:send: Browser.setDownloadBehavior is not allowed");
    CHECK_HAS(x.k.result, "Target.getTargets is not allowed");
    CHECK_HAS(x.k.result, "Target.sendMessageToTarget is not allowed");
    CHECK_HAS(x.k.result, "Storage.getCookies is not allowed");
    CHECK_HAS(x.k.result, "DOM.setFileInputFiles is not allowed: use page:upload");
    CHECK_HAS(x.k.result, "p.lua:10: page:goto: file: URLs are not allowed");
    CHECK_HAS(x.k.result, "script page:goto: chrome: URLs are not allowed");
    CHECK_INT(x.tb.sends, 0); /* nothing reached the browser */
    pfx_free(&x);
}

TEST(page_a_gone_browser_fails_the_call_as_browser_crashed_and_discards_the_page) {
    pfx_t x;
    pfx_init(&x, "  local p = ctx:page()\n  p:send('Runtime.test_x')\n  return 1", 1);
    x.tb.gone = 1;
    CHECK(pfx_run(&x, 10));
    CHECK(!x.k.out.ok);
    CHECK_INT(x.k.out.kind, ERR_BROWSER_CRASHED);
    CHECK_HAS(x.k.out.message, "the browser of this page is gone");
    CHECK_INT(x.tb.releases, 1);
    CHECK_INT(x.tb.discards, 1);
    pfx_free(&x);
}

TEST(page_events_and_losses_come_through_the_hooks_the_page_sets) {
    pfx_t x;
    pfx_init(&x,
             "  local p = ctx:page()\n"
             "  local got\n"
             "  p:on('Test.ev', function(e) got = e.v end)\n"
             "  p:send('Runtime.test_one')\n"
             "  return { got = got }",
             1);
    x.tb.event_first = 1;
    CHECK(pfx_run(&x, 10));
    CHECK(x.k.out.ok);
    CHECK_HAS(x.k.result, "\"got\":7");
    pfx_free(&x);

    /* The page lost: the call fails, and the page stays lost. */
    pfx_init(&x,
             "  local p = ctx:page()\n"
             "  local ok, e = pcall(p.send, p, 'Runtime.test_crash')\n"
             "  local ok2, e2 = pcall(p.send, p, 'Runtime.test_after')\n"
             "  return { k = e.kind, k2 = e2.kind }",
             1);
    x.tb.crash_on_send = 1;
    CHECK(pfx_run(&x, 10));
    CHECK(x.k.out.ok);
    CHECK_HAS(x.k.result, "\"k\":\"browser_crashed\"");
    CHECK_HAS(x.k.result, "\"k2\":\"browser_crashed\"");
    CHECK_INT(x.tb.sends, 1); /* the lost page is not asked again */
    pfx_free(&x);
}

TEST(page_without_a_backend_has_no_primitives) {
    pfx_t x;
    pfx_init(&x, "  local ok, e = pcall(ctx.page, ctx)\n  return { ok = ok, msg = e.message }", 0);
    CHECK(pfx_run(&x, 1));
    CHECK_HAS(x.k.result, "\"ok\":false");
    CHECK_HAS(x.k.result, "there is no browser here");
    CHECK_INT(x.tb.acquires, 0);
    pfx_free(&x);
}

TEST(page_an_acquire_that_fails_fails_the_run_and_releases_nothing) {
    pfx_t x;
    pfx_init(&x, "  ctx:page()\n  return 1", 1);
    x.tb.fail_acquire = 1;
    CHECK(pfx_run(&x, 10));
    CHECK(!x.k.out.ok);
    CHECK_INT(x.k.out.kind, ERR_POOL_TIMEOUT);
    CHECK_HAS(x.k.out.message, "no page within 0.5s");
    CHECK_INT(x.tb.acquires, 1);
    CHECK_INT(x.tb.releases, 0);
    CHECK_INT(x.tb.cancels, 0);
    CHECK_INT(x.env.busy, 0);
    pfx_free(&x);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

TEST(page_upload_takes_only_files_under_the_jobs_folder) {
    pfx_t x;
    char path[8300], target[8300];
    pfx_init(&x,
             "  local p = ctx:page()\n"
             "  local said = {}\n"
             "  for _, f in ipairs({ '../other.txt', 'out.txt', 'nope.txt', '/etc/hostname',\n"
             "      'sub' }) do\n"
             "    local ok, e = pcall(function() p:upload('#f', f) end)\n"
             "    said[#said + 1] = ok and 'no error' or tostring(e)\n"
             "  end\n"
             "  local ok, e = pcall(function() p:upload('#f', 'a.txt', 'sub/../a.txt') end)\n"
             "  return { said = said, valid = e.kind }",
             1);
    snprintf(path, sizeof path, "%s/files", x.k.dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/files/j", x.k.dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/files/j/sub", x.k.dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/files/j/a.txt", x.k.dir);
    write_file(path, "a");
    snprintf(path, sizeof path, "%s/files/other.txt", x.k.dir);
    write_file(path, "other");
    snprintf(target, sizeof target, "%s/secret.txt", x.k.dir);
    write_file(target, "secret");
    snprintf(path, sizeof path, "%s/files/j/out.txt", x.k.dir);
    CHECK_INT(symlink(target, path), 0);
    CHECK(pfx_run(&x, 10));
    CHECK(x.k.out.ok);
    CHECK_HAS(x.k.result, "p.lua:6: page:upload: '../other.txt' is not a file under files/j/");
    CHECK_HAS(x.k.result, "p.lua:6: page:upload: 'out.txt' is not a file under files/j/");
    CHECK_HAS(x.k.result, "p.lua:6: page:upload: 'nope.txt': No such file or directory");
    CHECK_HAS(x.k.result, "p.lua:6: page:upload: '/etc/hostname' is not a file under files/j/");
    CHECK_HAS(x.k.result, "p.lua:6: page:upload: 'sub' is not a file under files/j/");
    CHECK(strstr(x.k.result, "no error") == NULL);
    /* the good paths pass, and only then does the page look for the input */
    CHECK_INT(x.tb.sends, 1);
    CHECK_STR(x.tb.last_method, "Runtime.evaluate");
    CHECK_HAS(x.k.result, "\"valid\":\"not_found\"");
    pfx_free(&x);
}

/* Issue 11: the downloads of a job that asks for them, from the page's own
 * events: each finished one moved into files/JOB/ under a safe, unique name;
 * one past max_bytes or max_files cancelled and failed with limit; a link in
 * the browser's folder never followed. */
TEST(page_downloads_land_in_the_jobs_folder_within_its_limits) {
    pfx_t x;
    char path[8300], target[8300];
    pfx_init(
        &x,
        "  local p = ctx:page()\n"
        "  local function ev(list) p:send('Runtime.test_events', { events = list }) end\n"
        "  local function begin(g, name) return { m = 'Page.downloadWillBegin',\n"
        "    p = { guid = g, url = 'http://x/' .. g, suggestedFilename = name } } end\n"
        "  local function prog(g, got, total, state) return { m = 'Page.downloadProgress',\n"
        "    p = { guid = g, receivedBytes = got, totalBytes = total, state = state } } end\n"
        "  local r = { said = {} }\n"
        "  local function try() local ok, e = pcall(p.wait_download, p, { timeout = 1 })\n"
        "    r.said[#r.said + 1] = ok and (e.path .. ' ' .. e.bytes) or (e.kind .. ': ' .. "
        "e.message)\n"
        "  end\n"
        "  ev({ begin('g1', '../../etc/passwd'), prog('g1', 5, 5, 'completed') })\n"
        "  try()\n"
        "  ev({ begin('../secret.txt', 'x'), prog('../secret.txt', 6, 6, 'completed') })\n"
        "  ev({ begin('g2', 'big.bin'), prog('g2', 10, 100, 'inProgress') })\n"
        "  try()\n"
        "  ev({ begin('g3', '.bashrc'), begin('g4', 'passwd'), prog('g3', 3, 3, 'completed'),\n"
        "    prog('g4', 2, 2, 'completed') })\n"
        "  try() try()\n"
        "  ev({ begin('g5', 'link'), prog('g5', 6, 6, 'completed') })\n"
        "  try()\n"
        "  ev({ begin('g6', 'more'), prog('g6', 1, 1, 'inProgress') })\n"
        "  try() try()\n"
        "  r.list = #p:downloads()\n"
        "  return r",
        1);
    x.dl_max_bytes = 50;
    x.dl_max_files = 5;
    snprintf(x.tb.download_dir, sizeof x.tb.download_dir, "%s/staging", x.k.dir);
    mkdir(x.tb.download_dir, 0700);
    snprintf(path, sizeof path, "%s/g1", x.tb.download_dir);
    write_file(path, "hello");
    snprintf(path, sizeof path, "%s/g2.crdownload", x.tb.download_dir);
    write_file(path, "0123456789");
    snprintf(path, sizeof path, "%s/g3", x.tb.download_dir);
    write_file(path, "dot");
    snprintf(path, sizeof path, "%s/g4", x.tb.download_dir);
    write_file(path, "p2");
    snprintf(target, sizeof target, "%s/secret.txt", x.k.dir);
    write_file(target, "secret");
    snprintf(path, sizeof path, "%s/g5", x.tb.download_dir);
    CHECK_INT(symlink(target, path), 0);
    CHECK(pfx_run(&x, 30));
    CHECK(x.k.out.ok);
    if (!x.k.out.ok) fprintf(stderr, "%s\n", x.k.out.message);
    CHECK_INT(x.tb.ask_downloads, 1);
    CHECK_HAS(x.k.result, "\"j/passwd 5\"");
    CHECK_HAS(x.k.result,
              "limit: download of http://x/g2: 100 bytes, over the job's max_bytes (50)");
    CHECK_HAS(x.k.result, "\"j/bashrc 3\"");
    CHECK_HAS(x.k.result, "\"j/passwd (1) 2\"");
    CHECK_HAS(x.k.result, "network: download of http://x/g5: the browser saved no file");
    CHECK_HAS(x.k.result, "limit: download of http://x/g6: over the job's max_files (5)");
    CHECK_HAS(x.k.result, "timeout: page:wait_download: no download within 1s");
    CHECK_HAS(x.k.result, "\"list\":6");
    CHECK_STR(x.tb.cancelled, "g2 g6 ");
    snprintf(path, sizeof path, "%s/files/j/passwd", x.k.dir);
    CHECK(access(path, F_OK) == 0);
    snprintf(path, sizeof path, "%s/files/j/bashrc", x.k.dir);
    CHECK(access(path, F_OK) == 0);
    snprintf(path, sizeof path, "%s/files/j/passwd (1)", x.k.dir);
    CHECK(access(path, F_OK) == 0);
    snprintf(path, sizeof path, "%s/g2.crdownload", x.tb.download_dir); /* what was left: gone */
    CHECK(access(path, F_OK) != 0);
    snprintf(path, sizeof path, "%s/files/j/link", x.k.dir);
    CHECK(access(path, F_OK) != 0);
    snprintf(path, sizeof path, "%s/files/j/x", x.k.dir); /* a guid that leads out: ignored */
    CHECK(access(path, F_OK) != 0);
    CHECK(access(target, F_OK) == 0);
    pfx_free(&x);
}

/* A job without downloads: its page's downloads are cancelled, and asking
 * for one is a script error at the caller's line; a backend that saves none
 * (the dry run's fake) says so. */
TEST(page_downloads_are_refused_unless_the_job_and_the_browser_allow_them) {
    pfx_t x;
    pfx_init(&x,
             "  local p = ctx:page()\n"
             "  p:send('Runtime.test_events', { events = { { m = 'Page.downloadWillBegin',\n"
             "    p = { guid = 'g1', url = 'http://x/', suggestedFilename = 'a' } } } })\n"
             "  local ok, e = pcall(function() local d = p:wait_download(); return d end)\n"
             "  local ok2, e2 = pcall(function() local d = p:downloads(); return d end)\n"
             "  return { e = tostring(e), e2 = tostring(e2) }",
             1);
    snprintf(x.tb.download_dir, sizeof x.tb.download_dir, "%s", x.k.dir);
    CHECK(pfx_run(&x, 10));
    CHECK(x.k.out.ok);
    CHECK_INT(x.tb.ask_downloads, 0);
    CHECK_STR(x.tb.cancelled, "g1 ");
    CHECK_HAS(x.k.result, "p.lua:5: page:wait_download: job 'j' may not download");
    CHECK_HAS(x.k.result, "p.lua:6: page:downloads: job 'j' may not download");
    pfx_free(&x);

    pfx_init(&x,
             "  local p = ctx:page()\n"
             "  local ok, e = pcall(function() local d = p:wait_download(); return d end)\n"
             "  return { e = tostring(e) }",
             1);
    x.dl_max_bytes = 1000;
    x.dl_max_files = 1;
    CHECK(pfx_run(&x, 10));
    CHECK(x.k.out.ok);
    CHECK_INT(x.tb.ask_downloads, 1);
    CHECK_HAS(x.k.result, "p.lua:3: page:wait_download: this browser saves no downloads");
    pfx_free(&x);
}
