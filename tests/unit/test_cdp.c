/* test_cdp.c — CDP connections against real Chromium and real sockets: the
 * pipe to a browser we launch, the WebSocket to one we attach to (direct and
 * through /json/version), refusals, crashes, and endpoints that send garbage. */
#include <uv.h> /* before libwebsockets.h */

#include <libwebsockets.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "browser/cdp.h"
#include "browser/chrome.h"
#include "base/fs.h"
#include "base/log.h"
#include "test.h"

/* ---- a loop, a real clock, and waiting with a deadline ---- */

typedef struct fixture {
    uv_loop_t loop;
    vclock_t clock;
    uv_timer_t tick; /* wakes uv_run(ONCE) so WAIT can check its deadline */
} fixture_t;

static double now_s(void) { return (double)uv_hrtime() / 1e9; }

static void on_tick(uv_timer_t *t) { (void)t; }

static void fx_init(fixture_t *f) {
    log_setup(LOG_ERROR, 0); /* the garbage tests warn on purpose */
    CHECK_INT(uv_loop_init(&f->loop), 0);
    CHECK_INT(vclock_init(&f->clock, &f->loop, 0, 0), 0);
    uv_timer_init(&f->loop, &f->tick);
}

#define WAIT(f, cond, secs)                                                                        \
    do {                                                                                           \
        double deadline_ = now_s() + (secs);                                                       \
        uv_timer_start(&(f)->tick, on_tick, 10, 10);                                               \
        while (!(cond) && now_s() < deadline_) uv_run(&(f)->loop, UV_RUN_ONCE);                    \
        uv_timer_stop(&(f)->tick);                                                                 \
    } while (0)

static void (*extra_shutdown)(void);

static void on_shutdown(uv_timer_t *t) {
    cdp_ws_shutdown(); /* first phase, from a loop callback */
    if (extra_shutdown) extra_shutdown();
    uv_close((uv_handle_t *)t, NULL);
}

/* Ends a test: both phases of the lws shutdown, every handle closed. */
static void fx_finish(fixture_t *f) {
    vclock_close(&f->clock);
    uv_timer_start(&f->tick, on_shutdown, 0, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cdp_ws_free();
    CHECK_INT(uv_loop_close(&f->loop), 0);
}

static int figures(void) { return getenv("CDP_FIGURES") != NULL; }

/* ---- replies, events and closes ---- */

typedef struct reply {
    int done;
    err_kind_t kind;
    int code;
    char message[256];
    cJSON *result;
} reply_t;

static void on_reply(void *ud, const cJSON *result, const cdp_error_t *err) {
    reply_t *r = ud;
    r->done++;
    if (err) {
        r->kind = err->kind;
        r->code = err->code;
        snprintf(r->message, sizeof r->message, "%s", err->message ? err->message : "");
    } else {
        r->kind = ERR_NONE;
        cJSON_Delete(r->result);
        r->result = cJSON_Duplicate(result, 1);
    }
}

static void reply_clear(reply_t *r) {
    cJSON_Delete(r->result);
    memset(r, 0, sizeof *r);
}

typedef struct conn {
    int closes;
    char why[512];
    int loads;
    char load_session[128];
    int timeouts;
    char timeout_session[128];
} conn_t;

static void on_event(void *ud, const char *session, const char *method, const cJSON *params) {
    conn_t *cn = ud;
    (void)params;
    if (!strcmp(method, "Page.loadEventFired")) {
        cn->loads++;
        snprintf(cn->load_session, sizeof cn->load_session, "%s", session ? session : "");
    }
}

static void on_close(void *ud, const char *why) {
    conn_t *cn = ud;
    cn->closes++;
    snprintf(cn->why, sizeof cn->why, "%s", why);
}

static void on_timeout(void *ud, const char *session) {
    conn_t *cn = ud;
    cn->timeouts++;
    snprintf(cn->timeout_session, sizeof cn->timeout_session, "%s", session ? session : "");
}

static const char *str_at(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Sends and waits for the reply (the caller clears r). */
static void call(fixture_t *f, cdp_t *c, const char *session, const char *method,
                 const char *params, reply_t *r) {
    memset(r, 0, sizeof *r);
    CHECK_INT(
        cdp_send(c, session, method, params ? cJSON_Parse(params) : NULL, 10, on_reply, r, NULL),
        0);
    WAIT(f, r->done, 10);
    CHECK_INT(r->done, 1);
}

/* Browser.getVersion answers with a product; returns the round trip in ms. */
static double check_version(fixture_t *f, cdp_t *c) {
    reply_t r;
    double t0 = now_s();
    call(f, c, NULL, "Browser.getVersion", NULL, &r);
    double ms = (now_s() - t0) * 1e3;
    CHECK_INT(r.kind, ERR_NONE);
    CHECK_HAS(str_at(r.result, "product"), "Chrome");
    reply_clear(&r);
    return ms;
}

static double median_version_ms(fixture_t *f, cdp_t *c) {
    double v[9];
    for (int i = 0; i < 9; i++) {
        v[i] = check_version(f, c);
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    }
    return v[4];
}

/* A new context, a page attached in flatten mode, a navigation whose load
 * event carries the session id, a 4 MB evaluate result, a browser error.
 * Leaves the session id in session. */
static void check_session_flow(fixture_t *f, cdp_t *c, conn_t *cn, char *session, size_t len) {
    reply_t r;
    char params[512];
    session[0] = 0;

    call(f, c, NULL, "Target.createBrowserContext", "{}", &r);
    const char *bc = str_at(r.result, "browserContextId");
    CHECK(bc != NULL);
    snprintf(params, sizeof params, "{\"url\":\"about:blank\",\"browserContextId\":\"%s\"}",
             bc ? bc : "");
    reply_clear(&r);
    call(f, c, NULL, "Target.createTarget", params, &r);
    const char *target = str_at(r.result, "targetId");
    CHECK(target != NULL);
    snprintf(params, sizeof params, "{\"targetId\":\"%s\",\"flatten\":true}", target ? target : "");
    reply_clear(&r);
    call(f, c, NULL, "Target.attachToTarget", params, &r);
    const char *sid = str_at(r.result, "sessionId");
    CHECK(sid != NULL);
    snprintf(session, len, "%s", sid ? sid : "");
    reply_clear(&r);

    call(f, c, session, "Page.enable", NULL, &r);
    CHECK_INT(r.kind, ERR_NONE);
    reply_clear(&r);
    cn->loads = 0;
    /* The load event may come before or after the navigate reply: wait for both. */
    memset(&r, 0, sizeof r);
    CHECK_INT(cdp_send(c, session, "Page.navigate",
                       cJSON_Parse("{\"url\":\"data:text/html,<title>t</title>hello\"}"), 10,
                       on_reply, &r, NULL),
              0);
    WAIT(f, r.done && cn->loads, 10);
    CHECK_INT(r.done, 1);
    CHECK_INT(r.kind, ERR_NONE);
    CHECK(str_at(r.result, "frameId") != NULL);
    CHECK_INT(cn->loads, 1);
    CHECK_STR(cn->load_session, session);
    reply_clear(&r);

    double t0 = now_s();
    call(f, c, session, "Runtime.evaluate",
         "{\"expression\":\"'x'.repeat(4<<20)\",\"returnByValue\":true}", &r);
    double ms = (now_s() - t0) * 1e3;
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(r.result, "result");
    const char *value = str_at(res, "value");
    CHECK(value != NULL);
    if (value) {
        CHECK_INT(strlen(value), 4 << 20);
        CHECK(strspn(value, "x") == (size_t)(4 << 20));
    }
    reply_clear(&r);
    if (figures()) fprintf(stderr, "    evaluate of a 4 MiB string: %.1f ms\n", ms);

    call(f, c, session, "Nope.notAMethod", NULL, &r);
    CHECK_INT(r.kind, ERR_NONE);
    CHECK(r.result == NULL);
    CHECK(r.code != 0);
    CHECK(r.message[0] != 0);
    reply_clear(&r);
}

/* ---- processes and files ---- */

/* Zombie children of this process (renderers a dead browser left here).
   With show, each is printed with its thread count: a zombie leader cannot
   be reaped until its last thread has exited. */
/* Children of this process: zombies and live helpers alike, since a helper
 * outliving its browser can keep another one unreapable. With show, names
 * each. */
static int leftover_children(int show) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int me = getpid(), n = 0;
    while (d && (e = readdir(d))) {
        char path[64], buf[512], line[256], state;
        int pid = atoi(e->d_name), ppid;
        if (pid <= 0) continue;
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *fp = fopen(path, "r");
        if (!fp) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[len] = 0;
        char *rp = strrchr(buf, ')');
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2 || ppid != me) continue;
        n++;
        if (!show) continue;
        *rp = 0;
        fprintf(stderr, "    child %d %s) state %c left", pid, strchr(buf, '('), state);
        snprintf(path, sizeof path, "/proc/%d/status", pid);
        fp = fopen(path, "r");
        while (fp && fgets(line, sizeof line, fp))
            if (!strncmp(line, "TracerPid:", 10) || !strncmp(line, "Threads:", 8))
                fprintf(stderr, ", %.*s", (int)strcspn(line, "\n"), line);
        if (fp) fclose(fp);
        if (state == 'Z') {
            int w = waitpid(pid, NULL, WNOHANG);
            fprintf(stderr, ", waitpid %d%s%s", w, w < 0 ? " " : "", w < 0 ? strerror(errno) : "");
        }
        fputc('\n', stderr);
    }
    if (d) closedir(d);
    return n;
}

/* Reaps until no child is left or secs have passed; returns how many are
 * left (and names them). */
static int reap_for(fixture_t *f, double secs) {
    double deadline = now_s() + secs;
    chrome_reap();
    while (leftover_children(0) > 0 && now_s() < deadline) {
        WAIT(f, 0, 0.05);
        chrome_reap();
    }
    return leftover_children(1);
}

/* The --user-data-dir of a running process, from its command line. */
static void user_data_dir(int pid, char *out, size_t len) {
    char path[64], buf[8192];
    out[0] = 0;
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        if (!strncmp(buf + i, "--user-data-dir=", 16)) snprintf(out, len, "%s", buf + i + 16);
}

static void rm_tree(const char *dir) { fs_remove_tree(dir); }

static void make_tmp(char *dir, size_t len) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, len, "%s/baton-cdp-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
}

/* ---- the pipe transport, with chrome.c ---- */

typedef struct exit_state {
    int exited;
    int64_t status;
    int term_signal;
} exit_state_t;

static void on_chrome_exit(void *ud, chrome_t *ch, int64_t status, int term_signal,
                           const char *tail) {
    exit_state_t *x = ud;
    (void)ch;
    (void)tail;
    x->exited++;
    x->status = status;
    x->term_signal = term_signal;
}

typedef struct piped {
    cdp_t *c;
    chrome_t *ch;
    conn_t cn;
    exit_state_t x;
    char profile[512];
} piped_t;

static int launch_piped(fixture_t *f, piped_t *p, const char *executable) {
    uv_stdio_container_t stdio[2];
    cdp_hooks_t hooks = {on_event, on_close, &p->cn, on_timeout};
    chrome_opts_t opts = {.executable = executable};
    char err[512];
    memset(p, 0, sizeof *p);
    CHECK_INT(cdp_pipe_new(&p->c, &f->loop, &f->clock, &hooks, stdio), 0);
    int rc = chrome_launch(&p->ch, &f->loop, &opts, stdio, on_chrome_exit, &p->x, err, sizeof err);
    if (rc < 0) {
        test_fail(__FILE__, __LINE__, "chrome_launch: %s", err);
        cdp_close(p->c);
        p->c = NULL;
        return rc;
    }
    CHECK_INT(cdp_start(p->c), 0);
    /* The browser was told to use the profile chrome_launch made. Its command
       line reads empty while setpriv execs it: read until it shows. */
    snprintf(p->profile, sizeof p->profile, "%s", chrome_dir(p->ch));
    char seen[512] = "";
    WAIT(f, (user_data_dir(chrome_pid(p->ch), seen, sizeof seen), seen[0]), 5);
    CHECK_STR(seen, p->profile);
    return 0;
}

/* Closes the connection and the browser; the profile directory must go. */
static void close_piped(fixture_t *f, piped_t *p) {
    cdp_close(p->c);
    chrome_free(p->ch);
    WAIT(f, access(p->profile, F_OK) != 0, 5);
    CHECK(access(p->profile, F_OK) != 0);
}

TEST(cdp_pipe_versions_sessions_events_big_results_and_errors) {
    fixture_t f;
    piped_t p;
    char session[128];
    chrome_subreaper();
    fx_init(&f);
    if (launch_piped(&f, &p, NULL) == 0) {
        double t0 = now_s();
        check_version(&f, p.c);
        double first = (now_s() - t0) * 1e3;
        double median = median_version_ms(&f, p.c);
        if (figures())
            fprintf(stderr,
                    "    pipe: launch to first Browser.getVersion %.0f ms, "
                    "round trip %.2f ms\n",
                    first, median);
        check_session_flow(&f, p.c, &p.cn, session, sizeof session);

        /* A forgotten call never calls back, even when its answer arrives. */
        reply_t forgotten = {0}, after;
        uint64_t id = 0;
        CHECK_INT(cdp_send(p.c, session, "Runtime.evaluate",
                           cJSON_Parse("{\"expression\":\"1+1\"}"), 10, on_reply, &forgotten, &id),
                  0);
        CHECK(id > 0);
        cdp_forget(p.c, id);
        CHECK_INT(cdp_pending(p.c), 0);
        call(&f, p.c, session, "Runtime.evaluate", "{\"expression\":\"2+2\"}", &after);
        reply_clear(&after);
        WAIT(&f, 0, 0.1);
        CHECK_INT(forgotten.done, 0);

        /* A call past its timeout fails with timeout, not later with its answer,
         * and the connection's owner hears which session's call it was. */
        CHECK_INT(p.cn.timeouts, 0);
        reply_t slow = {0};
        double t1 = now_s();
        CHECK_INT(cdp_send(p.c, session, "Runtime.evaluate",
                           cJSON_Parse("{\"expression\":\"new Promise(r => setTimeout(r, 2000))\","
                                       "\"awaitPromise\":true}"),
                           0.2, on_reply, &slow, NULL),
                  0);
        WAIT(&f, slow.done, 5);
        double waited = now_s() - t1;
        CHECK_INT(slow.done, 1);
        CHECK_INT(slow.kind, ERR_TIMEOUT);
        CHECK(waited >= 0.19 && waited < 1.5);
        CHECK_INT(p.cn.timeouts, 1);
        CHECK_STR(p.cn.timeout_session, session);
        reply_clear(&slow);

        /* Failing a session fails each of its pending calls at once and
         * leaves the browser's own calls pending. */
        reply_t s1 = {0}, s2 = {0}, browser = {0};
        const char *wait2s = "{\"expression\":\"new Promise(r => setTimeout(r, 2000))\","
                             "\"awaitPromise\":true}";
        CHECK_INT(cdp_send(p.c, session, "Runtime.evaluate", cJSON_Parse(wait2s), 10, on_reply, &s1,
                           NULL),
                  0);
        CHECK_INT(cdp_send(p.c, NULL, "Browser.getVersion", NULL, 10, on_reply, &browser, NULL), 0);
        CHECK_INT(cdp_send(p.c, session, "Runtime.evaluate", cJSON_Parse(wait2s), 10, on_reply, &s2,
                           NULL),
                  0);
        CHECK_INT(cdp_pending(p.c), 3);
        cdp_fail_session(p.c, session, ERR_NOT_FOUND, "the page went away");
        CHECK_INT(s1.done, 1);
        CHECK_INT(s1.kind, ERR_NOT_FOUND);
        CHECK_STR(s1.message, "the page went away");
        CHECK_INT(s2.done, 1);
        CHECK_INT(s2.kind, ERR_NOT_FOUND);
        CHECK_INT(browser.done, 0);
        CHECK_INT(cdp_pending(p.c), 1);
        WAIT(&f, browser.done, 5);
        CHECK_INT(browser.done, 1);
        CHECK_INT(browser.kind, ERR_NONE);
        reply_clear(&s1);
        reply_clear(&s2);
        reply_clear(&browser);
        close_piped(&f, &p);
        CHECK_INT(p.cn.closes, 0); /* cdp_close never fires on_close */
    }
    reap_for(&f, 3);
    fx_finish(&f);
}

TEST(cdp_pipe_kill9_fails_every_pending_call_fires_on_close_once_and_leaves_no_zombie) {
    fixture_t f;
    piped_t p;
    chrome_subreaper();
    fx_init(&f);
    if (launch_piped(&f, &p, NULL) == 0) {
        check_version(&f, p.c);
        reply_t r[3] = {{0}};
        for (int i = 0; i < 3; i++)
            CHECK_INT(cdp_send(p.c, NULL, "Target.setDiscoverTargets",
                               cJSON_Parse("{\"discover\":true}"), 0, on_reply, &r[i], NULL),
                      0);
        /* Sent with the replies not yet read: kill before the loop runs again. */
        chrome_kill(p.ch, SIGKILL);
        WAIT(&f, p.cn.closes && p.x.exited, 5);
        int crashed = 0, answered = 0;
        for (int i = 0; i < 3; i++) {
            CHECK_INT(r[i].done, 1);
            if (r[i].kind == ERR_BROWSER_CRASHED) crashed++;
            if (r[i].done && r[i].kind == ERR_NONE) answered++;
            reply_clear(&r[i]);
        }
        CHECK_INT(crashed + answered, 3);
        CHECK_INT(cdp_pending(p.c), 0);
        CHECK_INT(p.cn.closes, 1);
        CHECK_HAS(p.cn.why, "pipe");
        CHECK_INT(p.x.exited, 1);
        CHECK_INT(p.x.term_signal, SIGKILL);

        /* Pending calls at the moment of the crash must all fail. */
        reply_t late = {0};
        CHECK_INT(cdp_send(p.c, NULL, "Browser.getVersion", NULL, 0, on_reply, &late, NULL),
                  -EPIPE);
        WAIT(&f, 0, 0.2);
        CHECK_INT(p.cn.closes, 1);
        CHECK_INT(reap_for(&f, 30), 0);
        close_piped(&f, &p);
    }
    fx_finish(&f);
}

TEST(cdp_pipe_kill9_with_calls_in_flight_fails_them_browser_crashed) {
    fixture_t f;
    piped_t p;
    char session[128];
    chrome_subreaper();
    fx_init(&f);
    if (launch_piped(&f, &p, NULL) == 0) {
        check_session_flow(&f, p.c, &p.cn, session, sizeof session);
        /* The crash handlers of a browser that runs (re-parented here, they
         * name its profile) are left alone by chrome_reap. */
        int children = leftover_children(0);
        CHECK(children >= 2); /* the browser and its crash handlers */
        CHECK_INT(chrome_reap(), 0);
        CHECK_INT(leftover_children(0), children);
        reply_t r[2] = {{0}};
        for (int i = 0; i < 2; i++)
            CHECK_INT(cdp_send(p.c, session, "Runtime.evaluate",
                               cJSON_Parse("{\"expression\":\"new Promise(r => setTimeout(r, "
                                           "5000))\",\"awaitPromise\":true}"),
                               0, on_reply, &r[i], NULL),
                      0);
        WAIT(&f, 0, 0.2); /* the calls are written and the browser is working on them */
        CHECK_INT(cdp_pending(p.c), 2);
        chrome_kill(p.ch, SIGKILL);
        WAIT(&f, p.cn.closes && p.x.exited, 5);
        for (int i = 0; i < 2; i++) {
            CHECK_INT(r[i].done, 1);
            CHECK_INT(r[i].kind, ERR_BROWSER_CRASHED);
            reply_clear(&r[i]);
        }
        CHECK_INT(p.cn.closes, 1);
        CHECK_INT(reap_for(&f, 30), 0);
        close_piped(&f, &p);
    }
    fx_finish(&f);
}

/* Writes body as an executable fake browser in a fresh directory. */
static void write_fake(char *dir, size_t dlen, char *script, size_t slen, const char *body) {
    make_tmp(dir, dlen);
    snprintf(script, slen, "%s/fake-browser", dir);
    FILE *fp = fopen(script, "w");
    CHECK(fp != NULL);
    if (fp) {
        fputs(body, fp);
        fclose(fp);
    }
    chmod(script, 0755);
}

/* A fake browser: once the request is written, garbage (among it replies
 * whose ids no call could have), then the answer to call 1, then NUL bytes,
 * then exit. */
TEST(cdp_pipe_survives_garbage_and_reports_the_exit) {
    fixture_t f;
    piped_t p;
    char dir[256], script[300];
    static const char body[] =
        "#!/bin/sh\n"
        "dd bs=1 count=1 <&3 >/dev/null 2>&1\n" /* the request has been written */
        "printf 'not json\\0[1,2,3]\\0{\"foo\":1}\\0\"str\\0{\"id\":777,\"result\":{}}\\0"
        /* ids we never sent and cannot hold (UBSan stops on converting these) */
        "{\"id\":1e28,\"result\":{}}\\0{\"id\":-1,\"result\":{}}\\0{\"id\":1.5}\\0"
        "{\"id\":1,\"result\":{}}\\0\\0\\0' >&4\n"
        "exit 0\n";
    write_fake(dir, sizeof dir, script, sizeof script, body);
    fx_init(&f);
    if (launch_piped(&f, &p, script) == 0) {
        reply_t r = {0};
        uint64_t id = 0;
        CHECK_INT(cdp_send(p.c, NULL, "Browser.getVersion", NULL, 5, on_reply, &r, &id), 0);
        CHECK_INT(id, 1);
        WAIT(&f, r.done && p.cn.closes && p.x.exited, 5);
        CHECK_INT(r.done, 1);
        CHECK_INT(r.kind, ERR_NONE);
        CHECK(cJSON_IsObject(r.result));
        reply_clear(&r);
        CHECK_INT(p.cn.closes, 1);
        CHECK_HAS(p.cn.why, "closed its pipe");
        CHECK_INT(p.x.exited, 1);
        CHECK_INT(p.x.status, 0);
        close_piped(&f, &p);
    }
    rm_tree(dir);
    fx_finish(&f);
}

/* A fake browser that leaves a helper behind (double-forked, so it is
 * re-parented here, as Chromium's crash handlers are) and exits: the helper
 * names the profile in its environment, so chrome_reap kills it. */
TEST(cdp_reap_kills_a_helper_that_outlives_its_browser) {
    fixture_t f;
    piped_t p;
    char dir[256], script[300];
    static const char body[] = "#!/bin/sh\n"
                               "dd bs=1 count=1 <&3 >/dev/null 2>&1\n" /* the test's call */
                               "(sleep 300 </dev/null >/dev/null 2>&1 3<&- 4<&- &)\n"
                               "exit 0\n";
    chrome_subreaper();
    write_fake(dir, sizeof dir, script, sizeof script, body);
    fx_init(&f);
    if (launch_piped(&f, &p, script) == 0) {
        reply_t r = {0};
        CHECK_INT(cdp_send(p.c, NULL, "Browser.getVersion", NULL, 60, on_reply, &r, NULL), 0);
        WAIT(&f, r.done && p.x.exited, 60);
        CHECK_INT(p.x.exited, 1);
        reply_clear(&r);
        WAIT(&f, leftover_children(0) > 0, 0.5); /* the sleep, re-parented here */
        CHECK_INT(leftover_children(0), 1);
        CHECK_INT(reap_for(&f, 10), 0);
        close_piped(&f, &p);
    }
    rm_tree(dir);
    fx_finish(&f);
}

/* Spawns `sleep` with an environment naming a profile of this process. */
static int spawn_marked(const char *profile, int trace) {
    int pid = fork();
    if (pid != 0) return pid;
    char env[300];
    snprintf(env, sizeof env, "TMPDIR=%s", profile);
    char *envp[] = {env, NULL};
    char *argv[] = {"sleep", "300", NULL};
    if (trace > 0 && ptrace(PTRACE_SEIZE, trace, NULL, NULL) != 0) _exit(3);
    execve("/bin/sleep", argv, envp);
    _exit(127);
}

/* A dead helper traced by a live one (a crash handler dumping another) stays
 * a zombie nobody can reap until its tracer goes: chrome_reap kills the
 * tracer, then reaps both. */
TEST(cdp_reap_frees_a_zombie_held_by_a_living_tracer) {
    fixture_t f;
    char profile[256];
    chrome_subreaper();
    fx_init(&f);
    make_tmp(profile, sizeof profile); /* a directory valgrind's children can use as TMPDIR */
    size_t len = strlen(profile);
    snprintf(profile + len, sizeof profile - len, "/baton-chrome-%d-gone", (int)getpid());
    CHECK_INT(mkdir(profile, 0700), 0);
    int held = spawn_marked(profile, 0);
    CHECK(held > 0);
    int tracer = spawn_marked(profile, held);
    CHECK(tracer > 0);
    char path[64], line[256];
    int traced = 0;
    snprintf(path, sizeof path, "/proc/%d/status", held);
    for (int i = 0; i < 100 && !traced; i++) {
        FILE *fp = fopen(path, "r");
        while (fp && fgets(line, sizeof line, fp))
            if (!strncmp(line, "TracerPid:", 10)) traced = atoi(line + 10) == tracer;
        if (fp) fclose(fp);
        if (!traced) WAIT(&f, 0, 0.02);
    }
    CHECK_INT(traced, 1);
    kill(held, SIGKILL);
    WAIT(&f, 0, 0.2);
    CHECK_INT(waitpid(held, NULL, WNOHANG), 0); /* held by its tracer */
    CHECK_INT(reap_for(&f, 10), 0);
    CHECK_INT(kill(tracer, 0) == -1 && errno == ESRCH, 1);
    rm_tree(dirname(profile));
    fx_finish(&f);
}

/* ---- the WebSocket transport against a Chromium started here ---- */

typedef struct browser {
    uv_process_t proc;
    int spawned, exited, closed;
    char dir[256];
    int port;
    char path[256];
} browser_t;

static void on_browser_exit(uv_process_t *proc, int64_t status, int sig) {
    browser_t *b = proc->data;
    (void)status;
    (void)sig;
    b->exited = 1;
}

static void on_browser_closed(uv_handle_t *h) { ((browser_t *)h->data)->closed = 1; }

/* Reads the port and path Chromium writes once it listens. */
static int read_active_port(browser_t *b) {
    char path[300], buf[512];
    snprintf(path, sizeof path, "%s/DevToolsActivePort", b->dir);
    FILE *fp = fopen(path, "r");
    if (!fp) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    /* "port\npath", written atomically (to a temporary file, then renamed). */
    char *nl = strchr(buf, '\n');
    if (!nl || nl[1] != '/') return 0;
    nl[1 + strcspn(nl + 1, "\r\n")] = 0;
    b->port = atoi(buf);
    snprintf(b->path, sizeof b->path, "%s", nl + 1);
    return b->port > 0;
}

static int browser_start(fixture_t *f, browser_t *b) {
    char dirflag[300];
    const char *argv[24];
    int argc = 0;
    memset(b, 0, sizeof *b);
    make_tmp(b->dir, sizeof b->dir);
    snprintf(dirflag, sizeof dirflag, "--user-data-dir=%s", b->dir);
    /* Killed by the kernel if this test process dies first. */
    if (access("/usr/bin/setpriv", X_OK) == 0) {
        argv[argc++] = "/usr/bin/setpriv";
        argv[argc++] = "--pdeathsig";
        argv[argc++] = "KILL";
        argv[argc++] = "--";
    }
    argv[argc++] = chrome_executable(NULL);
    argv[argc++] = "--headless=new";
    if (geteuid() == 0) argv[argc++] = "--no-sandbox";
    argv[argc++] = "--disable-gpu";
    argv[argc++] = "--no-first-run";
    argv[argc++] = "--disable-background-networking";
    argv[argc++] = "--disable-component-update";
    argv[argc++] = "--disable-sync";
    argv[argc++] = "--disable-dev-shm-usage";
    argv[argc++] = "--log-level=3";
    argv[argc++] = "--remote-debugging-port=0";
    argv[argc++] = dirflag;
    argv[argc++] = "about:blank";
    argv[argc] = NULL;
    uv_process_options_t po = {
        .exit_cb = on_browser_exit, .file = argv[0], .args = (char **)argv, .stdio_count = 0};
    b->proc.data = b;
    int rc = uv_spawn(&f->loop, &b->proc, &po);
    b->spawned = 1;
    if (rc < 0) {
        test_fail(__FILE__, __LINE__, "spawn %s: %s", argv[0], uv_strerror(rc));
        b->exited = 1;
        return rc;
    }
    WAIT(f, read_active_port(b) || b->exited, 10);
    if (!b->port) {
        test_fail(__FILE__, __LINE__, "Chromium did not write DevToolsActivePort");
        return -1;
    }
    return 0;
}

/* Kills the browser on every path and waits for it and its children. */
static void browser_stop(fixture_t *f, browser_t *b) {
    if (!b->spawned) return;
    if (!b->exited) uv_process_kill(&b->proc, SIGKILL);
    WAIT(f, b->exited, 5);
    CHECK(b->exited);
    uv_close((uv_handle_t *)&b->proc, on_browser_closed);
    WAIT(f, b->closed, 2);
    CHECK_INT(reap_for(f, 30), 0);
    rm_tree(b->dir);
}

static cdp_t *ws_connect(fixture_t *f, conn_t *cn, const char *url) {
    cdp_hooks_t hooks = {on_event, on_close, cn, on_timeout};
    cdp_t *c = NULL;
    memset(cn, 0, sizeof *cn);
    CHECK_INT(cdp_ws_new(&c, &f->loop, &f->clock, &hooks, url), 0);
    CHECK(c != NULL);
    return c;
}

TEST(cdp_ws_direct_url_versions_sessions_events_and_big_results) {
    fixture_t f;
    browser_t b;
    conn_t cn;
    char url[512], session[128];
    chrome_subreaper();
    fx_init(&f);
    if (browser_start(&f, &b) == 0) {
        snprintf(url, sizeof url, "ws://127.0.0.1:%d%s", b.port, b.path);
        cdp_t *c = ws_connect(&f, &cn, url);
        if (c) {
            double t0 = now_s();
            check_version(&f, c); /* sent before the connection is up: queued */
            double first = (now_s() - t0) * 1e3;
            double median = median_version_ms(&f, c);
            if (figures())
                fprintf(stderr,
                        "    ws: connect + first Browser.getVersion %.1f ms, round "
                        "trip %.2f ms\n",
                        first, median);
            check_session_flow(&f, c, &cn, session, sizeof session);
            CHECK_INT(cn.closes, 0);
            cdp_close(c);
        }
    }
    browser_stop(&f, &b);
    fx_finish(&f);
}

TEST(cdp_ws_http_discovery_finds_the_browser_and_a_kill_fails_pending_calls) {
    fixture_t f;
    browser_t b;
    conn_t cn;
    char url[512];
    chrome_subreaper();
    fx_init(&f);
    if (browser_start(&f, &b) == 0) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d", b.port);
        cdp_t *c = ws_connect(&f, &cn, url);
        if (c) {
            double t0 = now_s();
            check_version(&f, c);
            if (cn.closes) fprintf(stderr, "    closed: %s\n", cn.why);
            if (figures())
                fprintf(stderr, "    ws via /json/version: first Browser.getVersion %.1f ms\n",
                        (now_s() - t0) * 1e3);
            reply_t r = {0};
            CHECK_INT(cdp_send(c, NULL, "Target.setDiscoverTargets",
                               cJSON_Parse("{\"discover\":true}"), 0, on_reply, &r, NULL),
                      0);
            uv_process_kill(&b.proc, SIGKILL);
            WAIT(&f, cn.closes && b.exited, 5);
            CHECK_INT(r.done, 1);
            CHECK(r.kind == ERR_BROWSER_CRASHED || r.kind == ERR_NONE);
            reply_clear(&r);
            CHECK_INT(cn.closes, 1);
            CHECK_HAS(cn.why, "closed");
            CHECK_INT(cdp_send(c, NULL, "Browser.getVersion", NULL, 0, on_reply, &r, NULL), -EPIPE);
            cdp_close(c);
        }
    }
    browser_stop(&f, &b);
    fx_finish(&f);
}

/* A port nobody listens on: bound, then closed. */
static int dead_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

TEST(cdp_ws_refused_endpoint_fails_queued_calls_and_says_which) {
    fixture_t f;
    fx_init(&f);
    const char *forms[] = {"ws://127.0.0.1:%d/devtools/browser/x", "http://127.0.0.1:%d"};
    for (int i = 0; i < 2; i++) {
        char url[128], port[16];
        conn_t cn;
        int p = dead_port();
        snprintf(url, sizeof url, forms[i], p);
        snprintf(port, sizeof port, ":%d", p);
        cdp_t *c = ws_connect(&f, &cn, url);
        if (!c) continue;
        reply_t r = {0};
        CHECK_INT(cdp_send(c, NULL, "Browser.getVersion", NULL, 0, on_reply, &r, NULL), 0);
        CHECK_INT(cn.closes, 0); /* never from inside cdp_ws_new or cdp_send */
        WAIT(&f, cn.closes, 5);
        CHECK_INT(r.done, 1);
        CHECK_INT(r.kind, ERR_BROWSER_CRASHED);
        CHECK_HAS(r.message, url);
        reply_clear(&r);
        CHECK_INT(cn.closes, 1);
        CHECK_HAS(cn.why, url);
        CHECK_HAS(cn.why, "refused");
        cdp_close(c);
    }
    /* Not a URL at all: refused at once, nothing to close. */
    cdp_t *c = (cdp_t *)1;
    cdp_hooks_t hooks = {0};
    CHECK_INT(cdp_ws_new(&c, &f.loop, &f.clock, &hooks, "ftp://127.0.0.1:1/"), -EINVAL);
    CHECK(c == NULL);
    fx_finish(&f);
}

TEST(cdp_ws_close_while_connecting_frees_everything) {
    fixture_t f;
    conn_t cn;
    fx_init(&f);
    /* 192.0.2.0/24 is reserved for documentation: the connect hangs. */
    cdp_t *c = ws_connect(&f, &cn, "ws://192.0.2.1:9222/devtools/browser/x");
    reply_t r = {0};
    if (c) {
        CHECK_INT(cdp_send(c, NULL, "Browser.getVersion", NULL, 0, on_reply, &r, NULL), 0);
        WAIT(&f, 0, 0.05);
        cdp_close(c);
        CHECK_INT(r.done, 1);
        CHECK_INT(r.kind, ERR_BROWSER_CRASHED);
        reply_clear(&r);
    }
    fx_finish(&f);
}

/* ---- a fake endpoint: an lws server on the same loop ---- */

typedef struct fake {
    struct lws_context *ctx;
    int port;
    int step; /* next message to send after the request arrived */
    int request_id;
    int sent_all;
    int http_status; /* what /json/version answers */
} fake_t;

static fake_t *the_fake;

static int fake_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len) {
    fake_t *fk = the_fake;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        unsigned char buf[LWS_PRE + 256], *start = buf + LWS_PRE, *p = start,
                                          *end = buf + sizeof buf;
        if (lws_add_http_common_headers(wsi, (unsigned)fk->http_status, "text/plain", 0, &p, end) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return 1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE: {
        cJSON *j = cJSON_ParseWithLength(in, len);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        fk->request_id = cJSON_IsNumber(id) ? id->valueint : -1;
        cJSON_Delete(j);
        fk->step = 0;
        lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        static const char *garbage[] = {
            "not json at all", "[1,2,3]", "{\"foo\":1}", "\"str\"", "{\"id\":987654,\"result\":{}}",
            "{\"id\":\"1\"}"};
        enum { NGARBAGE = sizeof garbage / sizeof garbage[0] };
        unsigned char buf[LWS_PRE + 256];
        char *msg = (char *)buf + LWS_PRE;
        if (fk->step < NGARBAGE) {
            size_t n = strlen(garbage[fk->step]);
            memcpy(msg, garbage[fk->step], n);
            if (lws_write(wsi, (unsigned char *)msg, n, LWS_WRITE_TEXT) < (int)n) return -1;
        } else if (fk->step < NGARBAGE + 3) {
            /* The valid reply, in three fragments, to exercise reassembly. */
            char whole[128];
            int n = snprintf(whole, sizeof whole, "{\"id\":%d,\"result\":{\"ok\":true}}",
                             fk->request_id);
            int k = fk->step - NGARBAGE, from = n * k / 3, to = n * (k + 1) / 3;
            int flags =
                (k == 0 ? LWS_WRITE_TEXT : LWS_WRITE_CONTINUATION) | (k < 2 ? LWS_WRITE_NO_FIN : 0);
            memcpy(msg, whole + from, (size_t)(to - from));
            if (lws_write(wsi, (unsigned char *)msg, (size_t)(to - from),
                          (enum lws_write_protocol)flags) < to - from)
                return -1;
        } else {
            fk->sent_all = 1;
            return -1; /* then hang up */
        }
        fk->step++;
        lws_callback_on_writable(wsi);
        return 0;
    }
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols fake_protocols[] = {
    {"fake-cdp", fake_cb, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void fake_shutdown(void) {
    if (the_fake && the_fake->ctx) lws_context_destroy(the_fake->ctx);
}

static int fake_start(fixture_t *f, fake_t *fk) {
    static void *loops[1];
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    memset(fk, 0, sizeof *fk);
    fk->http_status = 404;
    the_fake = fk;
    loops[0] = &f->loop;
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.port = 0;
    info.iface = "127.0.0.1";
    info.protocols = fake_protocols;
    info.foreign_loops = loops;
    info.pcontext = &fk->ctx;
    fk->ctx = lws_create_context(&info);
    if (!fk->ctx) {
        test_fail(__FILE__, __LINE__, "cannot create the fake endpoint");
        return -1;
    }
    fk->port = lws_get_vhost_listen_port(lws_get_vhost_by_name(fk->ctx, "default"));
    CHECK(fk->port > 0);
    extra_shutdown = fake_shutdown;
    return fk->port > 0 ? 0 : -1;
}

static void fake_finish(fixture_t *f, fake_t *fk) {
    fx_finish(f); /* destroys the fake's context in the same loop callback */
    if (fk->ctx) lws_context_destroy(fk->ctx);
    CHECK(fk->ctx == NULL);
}

TEST(cdp_ws_survives_garbage_and_reassembles_fragments) {
    fixture_t f;
    fake_t fk;
    conn_t cn;
    char url[128];
    fx_init(&f);
    if (fake_start(&f, &fk) == 0) {
        snprintf(url, sizeof url, "ws://127.0.0.1:%d/devtools/browser/fake", fk.port);
        cdp_t *c = ws_connect(&f, &cn, url);
        reply_t r = {0};
        CHECK_INT(cdp_send(c, NULL, "Browser.getVersion", NULL, 5, on_reply, &r, NULL), 0);
        WAIT(&f, r.done && cn.closes, 5);
        CHECK_INT(r.done, 1);
        CHECK_INT(r.kind, ERR_NONE);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.result, "ok")));
        reply_clear(&r);
        CHECK_INT(fk.sent_all, 1);
        CHECK_INT(cn.closes, 1); /* the fake hung up after the reply */
        CHECK_HAS(cn.why, "closed");
        cdp_close(c);
    }
    fake_finish(&f, &fk);
}

TEST(cdp_ws_discovery_error_status_fails_calls_with_a_reason) {
    fixture_t f;
    fake_t fk;
    conn_t cn;
    char url[128];
    fx_init(&f);
    if (fake_start(&f, &fk) == 0) {
        snprintf(url, sizeof url, "http://127.0.0.1:%d", fk.port);
        cdp_t *c = ws_connect(&f, &cn, url);
        reply_t r = {0};
        CHECK_INT(cdp_send(c, NULL, "Browser.getVersion", NULL, 5, on_reply, &r, NULL), 0);
        WAIT(&f, r.done && cn.closes, 5);
        CHECK_INT(r.done, 1);
        CHECK_INT(r.kind, ERR_BROWSER_CRASHED);
        reply_clear(&r);
        CHECK_INT(cn.closes, 1);
        CHECK_HAS(cn.why, "/json/version");
        CHECK_HAS(cn.why, "404");
        cdp_close(c);
    }
    fake_finish(&f, &fk);
}
