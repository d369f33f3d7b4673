/* page.c — the C primitives under lua/page.lua: lease a page from the
 * browser backend for the running co (page_open), send raw CDP on it
 * (page_send), and the page's recent events (page_mark, page_wait,
 * page_events), each wait yielding the run's coroutine; the files a script may
 * write (page_save) or upload (page_file). The lease goes back when the co ends. Only the backend's
 * operations table is known here. */
#include "page.h"
#include "page_policy.h"

#include <errno.h>
#include <limits.h>
#include <lauxlib.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include "script/json.h"
#include "base/log.h"
#include "script/script.h"

enum { RING = 512 };

#define PAGE_MT "baton.page"

typedef struct event {
    uint64_t seq;
    char method[64];
    char *params; /* JSON text, malloc'd */
} event_t;

typedef struct page {
    page_env_t *env;
    browser_lease_t *lease;   /* NULL until leased, and after release */
    browser_waiter_t *waiter; /* while acquiring */
    script_co_t *co;          /* the co waiting on this page, if any */
    int ud_alive, released;   /* freed when both the userdata and the lease are done */
    int lost;
    err_kind_t lost_kind;
    char lost_msg[256];
    /* what the waiting co waits for */
    enum { W_NONE, W_ACQUIRE, W_CALL, W_EVENT } waiting;
    uint64_t call_id;
    char wait_method[256]; /* one method, or several separated by spaces */
    uint64_t wait_after;
    vtimer_t timer;
    /* recent events */
    event_t ring[RING];
    uint64_t seq; /* seq of the newest event; ring holds the last RING */
    int page_no;
    char browser_context[64]; /* the CDP browserContextId of the page */
    double asked_at;          /* when page_open began waiting */
} page_t;

typedef struct page_ref {
    page_t *pg;
} page_ref_t;

/* What the page's co waits for; env->busy counts the pages waiting. */
static void set_waiting(page_t *pg, int w) {
    pg->env->busy += (w != W_NONE) - (pg->waiting != W_NONE);
    pg->waiting = w;
}

static void page_maybe_free(page_t *pg) {
    if (pg->ud_alive || !pg->released) return;
    for (int i = 0; i < RING; i++) free(pg->ring[i].params);
    free(pg);
}

/* ---- events ---- */

/* Whether method is one of the space-separated names of list. */
static int method_listed(const char *list, const char *method) {
    size_t n = strlen(method);
    for (const char *s = list; (s = strstr(s, method)); s += n)
        if ((s == list || s[-1] == ' ') && (s[n] == ' ' || s[n] == 0)) return 1;
    return 0;
}

static void on_event(void *ud, const char *method, const cJSON *params) {
    page_t *pg = ud;
    event_t *e = &pg->ring[++pg->seq % RING];
    free(e->params);
    e->seq = pg->seq;
    snprintf(e->method, sizeof e->method, "%s", method);
    e->params = cJSON_PrintUnformatted(params);
    if (pg->waiting == W_EVENT && e->params && method_listed(pg->wait_method, method) &&
        e->seq > pg->wait_after) {
        script_co_t *co = pg->co;
        lua_State *T = script_co_thread(co);
        char err[128];
        set_waiting(pg, W_NONE);
        vtimer_stop(pg->env->clock, &pg->timer);
        if (json_decode(T, e->params, err, sizeof err) < 0) lua_pushnil(T);
        lua_pushinteger(T, (lua_Integer)e->seq);
        lua_pushstring(T, e->method);
        script_co_wake(co, 3);
    }
}

static void fail_waiter(page_t *pg, err_kind_t kind, const char *msg) {
    script_co_t *co = pg->co;
    lua_State *T = script_co_thread(co);
    set_waiting(pg, W_NONE);
    vtimer_stop(pg->env->clock, &pg->timer);
    lua_pushnil(T);
    err_push(T, kind, msg);
    script_co_wake(co, 2);
}

static void on_lost(void *ud, err_kind_t kind, const char *msg) {
    page_t *pg = ud;
    pg->lost = 1;
    pg->lost_kind = kind;
    snprintf(pg->lost_msg, sizeof pg->lost_msg, "%s", msg);
    /* A co waiting on a call hears it through the failed call; one waiting
     * for an event hears it here. */
    if (pg->waiting == W_EVENT) fail_waiter(pg, kind, msg);
}

/* ---- the lease follows the co ---- */

static int lease_discard(const script_outcome_t *out) {
    if (out->ok) return 0;
    return out->kind == ERR_TIMEOUT || out->kind == ERR_BROWSER_CRASHED ||
           out->kind == ERR_CANCELLED || out->kind == ERR_LIMIT;
}

static void on_co_end(void *ud, const script_outcome_t *out) {
    page_t *pg = ud;
    const browser_backend_t *b = &pg->env->browser;
    vtimer_stop(pg->env->clock, &pg->timer);
    if (pg->waiter) {
        b->ops->cancel(b->self, pg->waiter);
        pg->waiter = NULL;
    }
    if (pg->lease) {
        if (pg->waiting == W_CALL) b->ops->forget(b->self, pg->lease, pg->call_id);
        b->ops->release(b->self, pg->lease, lease_discard(out));
        pg->lease = NULL;
    }
    set_waiting(pg, W_NONE);
    pg->co = NULL;
    pg->released = 1;
    page_maybe_free(pg);
}

static page_t *check_page(lua_State *L, int idx) {
    page_ref_t *ref = luaL_checkudata(L, idx, PAGE_MT);
    page_t *pg = ref->pg;
    if (!pg || pg->released || !pg->lease)
        err_raise(L, ERR_SCRIPT, "this page belongs to a run that has ended");
    if (pg->lost) err_raise(L, pg->lost_kind, "%s", pg->lost_msg);
    return pg;
}

static script_co_t *running_co(lua_State *L, const char *what) {
    script_co_t *co = script_co_running(L);
    if (!co) err_raise(L, ERR_SCRIPT, "%s: only inside a run", what);
    if (!lua_isyieldable(L))
        err_raise(L, ERR_SCRIPT, "%s: cannot wait here (inside a metamethod or iterator?)", what);
    return co;
}

static int l_gc(lua_State *L) {
    page_ref_t *ref = luaL_checkudata(L, 1, PAGE_MT);
    if (ref->pg) {
        ref->pg->ud_alive = 0;
        page_maybe_free(ref->pg);
        ref->pg = NULL;
    }
    return 0;
}

/* ---- page_open(): waits for a lease ---- */

static void on_acquired(void *ud, browser_lease_t *lease, err_kind_t kind, const char *msg) {
    page_t *pg = ud;
    const browser_backend_t *b = &pg->env->browser;
    script_co_t *co = pg->co;
    lua_State *T = script_co_thread(co);
    pg->waiter = NULL;
    set_waiting(pg, W_NONE);
    if (!lease) {
        lua_pushnil(T);
        err_push(T, kind, msg);
        script_co_wake(co, 2);
        return;
    }
    browser_lease_info_t info;
    pg->lease = lease;
    b->ops->describe(b->self, lease, &info);
    pg->page_no = info.page_no;
    snprintf(pg->browser_context, sizeof pg->browser_context, "%s", info.browser_context);
    script_co_set_page(co, pg->page_no);
    browser_hooks_t hooks = {on_event, on_lost, pg};
    b->ops->set_hooks(b->self, lease, &hooks);
    if (info.uses > 0)
        log_emit(LOG_DEBUG, script_co_job(co), script_co_run_id(co),
                 "using pooled page #%d (use %d) after %.2f ms", pg->page_no, info.uses,
                 (vclock_now(pg->env->clock) - pg->asked_at) * 1000);
    lua_pushboolean(T, 1);
    script_co_wake(co, 1);
}

static void cancel_wait(void *op) {
    page_t *pg = op;
    const browser_backend_t *b = &pg->env->browser;
    /* The co is going away: on_co_end releases everything just after. */
    if (pg->waiting == W_CALL && pg->lease) b->ops->forget(b->self, pg->lease, pg->call_id);
    if (pg->waiter) {
        b->ops->cancel(b->self, pg->waiter);
        pg->waiter = NULL;
    }
    vtimer_stop(pg->env->clock, &pg->timer);
    set_waiting(pg, W_NONE);
}

/* page_new() → a page handle for the running co, not yet leased. */
static int l_page_new(lua_State *L) {
    page_env_t *env = lua_touserdata(L, lua_upvalueindex(1));
    script_co_t *co = running_co(L, "ctx:page()");
    page_ref_t *ref = lua_newuserdatauv(L, sizeof *ref, 0);
    ref->pg = NULL;
    luaL_setmetatable(L, PAGE_MT);
    page_t *pg = calloc(1, sizeof *pg);
    if (!pg) return err_raise(L, ERR_LIMIT, "out of memory");
    pg->env = env;
    pg->timer.data = pg;
    if (script_co_defer(co, on_co_end, pg) < 0) {
        free(pg);
        return err_raise(L, ERR_SCRIPT, "ctx:page(): too many pages in one run");
    }
    pg->ud_alive = 1;
    ref->pg = pg;
    return 1;
}

/* page_open(page) → true, or nil and an error (pool_timeout …): waits for a lease. */
static int l_page_open(lua_State *L) {
    page_ref_t *ref = luaL_checkudata(L, 1, PAGE_MT);
    page_t *pg = ref->pg;
    script_co_t *co = running_co(L, "ctx:page()");
    if (!pg || pg->released || pg->lease || pg->waiter)
        return err_raise(L, ERR_SCRIPT, "ctx:page(): this page is already open or gone");
    const browser_backend_t *b = &pg->env->browser;
    browser_ask_t ask = {.priority = script_co_priority(co),
                         .session = script_co_session(co),
                         .job = script_co_job(co),
                         .run_id = script_co_run_id(co)};
    pg->co = co;
    set_waiting(pg, W_ACQUIRE);
    pg->asked_at = vclock_now(pg->env->clock);
    pg->waiter = b->ops->acquire(b->self, &ask, on_acquired, pg);
    if (!pg->waiter) return err_raise(L, ERR_LIMIT, "out of memory");
    return script_co_wait(L, co, cancel_wait, pg);
}

/* ---- page_send(page, method, params, timeout) ---- */

static void on_reply(void *ud, const cJSON *result, const cdp_error_t *e) {
    page_t *pg = ud;
    script_co_t *co = pg->co;
    if (pg->waiting != W_CALL || !co) return;
    lua_State *T = script_co_thread(co);
    set_waiting(pg, W_NONE);
    if (e) {
        char msg[600];
        lua_pushnil(T);
        if (e->kind != ERR_NONE) {
            err_push(T, e->kind, e->message);
        } else {
            snprintf(msg, sizeof msg, "%s (CDP error %d)", e->message, e->code);
            err_push(T, ERR_SCRIPT, msg);
            lua_pushinteger(T, e->code);
            lua_setfield(T, -2, "code");
        }
        script_co_wake(co, 2);
        return;
    }
    char *text = cJSON_PrintUnformatted(result);
    char err[128];
    if (!text || json_decode(T, text, err, sizeof err) < 0) {
        lua_pushnil(T);
        err_push(T, ERR_LIMIT, "out of memory reading a browser reply");
        free(text);
        script_co_wake(co, 2);
        return;
    }
    free(text);
    script_co_wake(co, 1);
}

static int l_page_send(lua_State *L) {
    page_t *pg = check_page(L, 1);
    const char *method = luaL_checkstring(L, 2);
    double timeout = luaL_optnumber(L, 4, 30);
    script_co_t *co = running_co(L, "page:send()");
    cJSON *params = NULL;
    if (!lua_isnoneornil(L, 3)) {
        char err[256];
        char *text = json_encode(L, 3, err, sizeof err);
        if (!text) return err_raise(L, ERR_SCRIPT, "page:send(%s): params: %s", method, err);
        params = cJSON_Parse(text);
        free(text);
        if (!params) return err_raise(L, ERR_LIMIT, "out of memory");
    }
    /* The page API's own calls and a script's raw ones (raw: page:send) alike
     * load only the schemes allowed; raw ones reach only the page itself. */
    char refused[512];
    int raw = lua_toboolean(L, 5);
    if (raw && !pg->env->raw_any && !page_policy_method(method, refused, sizeof refused)) {
        cJSON_Delete(params);
        return err_raise(L, ERR_SCRIPT, "page:send: %s", refused);
    }
    if (strcmp(method, "Page.navigate") == 0) {
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(params, "url");
        if (!page_policy_url(cJSON_IsString(url) ? url->valuestring : "", pg->env->schemes,
                             pg->env->nschemes, refused, sizeof refused)) {
            cJSON_Delete(params);
            return err_raise(L, ERR_SCRIPT, "page:goto: %s", refused);
        }
    }
    const browser_backend_t *b = &pg->env->browser;
    browser_refusal_t why = {ERR_NONE, ""};
    int rc =
        b->ops->send(b->self, pg->lease, method, params, timeout, on_reply, pg, &pg->call_id, &why);
    if (rc < 0 && why.kind != ERR_NONE)
        return err_raise(L, why.kind, "%s: %s", method, why.message);
    if (rc == -EPIPE) return err_raise(L, ERR_BROWSER_CRASHED, "the browser of this page is gone");
    if (rc < 0) return err_raise(L, ERR_LIMIT, "cannot send %s: %s", method, uv_strerror(rc));
    pg->co = co;
    set_waiting(pg, W_CALL);
    return script_co_wait(L, co, cancel_wait, pg);
}

/* ---- events ---- */

/* page_allowed(method) → true, or nil and why: what raw page:send may call. */
static int l_page_allowed(lua_State *L) {
    page_env_t *env = lua_touserdata(L, lua_upvalueindex(1));
    char why[512];
    if (env->raw_any || page_policy_method(luaL_checkstring(L, 1), why, sizeof why)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}

/* page_url_allowed(url) → true, or nil and why: browser.schemes. */
static int l_page_url_allowed(lua_State *L) {
    page_env_t *env = lua_touserdata(L, lua_upvalueindex(1));
    char why[512];
    if (page_policy_url(luaL_checkstring(L, 1), env->schemes, env->nschemes, why, sizeof why)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}

static int l_page_mark(lua_State *L) {
    page_t *pg = check_page(L, 1);
    lua_pushinteger(L, (lua_Integer)pg->seq);
    return 1;
}

static const event_t *find_event(page_t *pg, const char *method, uint64_t after) {
    uint64_t first = pg->seq >= RING ? pg->seq - RING + 1 : 1;
    if (after + 1 > first) first = after + 1;
    for (uint64_t s = first; s <= pg->seq; s++) {
        const event_t *e = &pg->ring[s % RING];
        if (e->seq == s && e->params && method_listed(method, e->method)) return e;
    }
    return NULL;
}

static void on_wait_timeout(vtimer_t *t) {
    page_t *pg = t->data;
    script_co_t *co = pg->co;
    if (pg->waiting != W_EVENT || !co) return;
    set_waiting(pg, W_NONE);
    lua_pushnil(script_co_thread(co));
    lua_pushnil(script_co_thread(co));
    script_co_wake(co, 2);
}

/* page_wait(page, methods, after_seq, timeout) → params, seq, method of the first
 * event after after_seq whose method is one of methods (names separated by
 * spaces); nil on timeout; nil and an error when the page is lost. */
static int l_page_wait(lua_State *L) {
    page_t *pg = check_page(L, 1);
    const char *method = luaL_checkstring(L, 2);
    uint64_t after = (uint64_t)luaL_optinteger(L, 3, 0);
    double timeout = luaL_optnumber(L, 4, 30);
    const event_t *e = find_event(pg, method, after);
    if (e) {
        char err[128];
        if (json_decode(L, e->params, err, sizeof err) < 0) lua_pushnil(L);
        lua_pushinteger(L, (lua_Integer)e->seq);
        lua_pushstring(L, e->method);
        return 3;
    }
    script_co_t *co = running_co(L, "page: waiting for an event");
    pg->co = co;
    set_waiting(pg, W_EVENT);
    snprintf(pg->wait_method, sizeof pg->wait_method, "%s", method);
    pg->wait_after = after;
    vtimer_start(pg->env->clock, &pg->timer, vclock_now(pg->env->clock) + timeout, on_wait_timeout);
    return script_co_wait(L, co, cancel_wait, pg);
}

/* page_events(page, after_seq [, method]) → { {method=, params=, seq=}… }, newest seq. */
static int l_page_events(lua_State *L) {
    page_t *pg = check_page(L, 1);
    uint64_t after = (uint64_t)luaL_optinteger(L, 2, 0);
    const char *only = luaL_optstring(L, 3, NULL);
    uint64_t first = pg->seq >= RING ? pg->seq - RING + 1 : 1;
    if (after + 1 > first) first = after + 1;
    lua_newtable(L);
    int n = 0;
    for (uint64_t s = first; s <= pg->seq; s++) {
        const event_t *e = &pg->ring[s % RING];
        char err[128];
        if (e->seq != s || !e->params || (only && strcmp(e->method, only) != 0)) continue;
        lua_createtable(L, 0, 3);
        lua_pushstring(L, e->method);
        lua_setfield(L, -2, "method");
        if (json_decode(L, e->params, err, sizeof err) < 0) lua_pushnil(L);
        lua_setfield(L, -2, "params");
        lua_pushinteger(L, (lua_Integer)s);
        lua_setfield(L, -2, "seq");
        lua_rawseti(L, -2, ++n);
    }
    lua_pushinteger(L, (lua_Integer)pg->seq);
    return 2;
}

/* page_context(page) → the pooled page's number, its browserContextId. */
static int l_page_number(lua_State *L) {
    page_t *pg = check_page(L, 1);
    lua_pushinteger(L, pg->page_no);
    lua_pushstring(L, pg->browser_context);
    return 2;
}

/* ---- files: screenshots go under the engine's files directory ---- */

/* page_save(relative_path, base64) → bytes written. Paths are relative to
 * the files directory; absolute paths and ".." are refused. */
static int l_page_save(lua_State *L) {
    page_env_t *env = lua_touserdata(L, lua_upvalueindex(1));
    const char *rel = luaL_checkstring(L, 1);
    size_t b64len;
    const char *b64 = luaL_checklstring(L, 2, &b64len);
    if (!rel[0] || rel[0] == '/' || strstr(rel, "..") || !env->files_dir[0])
        return err_raise(L, ERR_SCRIPT, "screenshot: '%s': give a relative path without '..'", rel);
    char path[8200];
    snprintf(path, sizeof path, "%s/%s", env->files_dir, rel);
    /* Make the directories on the way. */
    mkdir(env->files_dir, 0755);
    for (char *s = path + strlen(env->files_dir) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(path, 0755);
        *s = '/';
    }
    size_t cap = b64len / 4 * 3 + 4;
    char *bytes = malloc(cap);
    if (!bytes) return err_raise(L, ERR_LIMIT, "out of memory");
    int n = lws_b64_decode_string_len(b64, (int)b64len, bytes, (int)cap);
    if (n < 0) {
        free(bytes);
        return err_raise(L, ERR_SCRIPT, "screenshot: the browser sent bad base64");
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ssize_t w = fd >= 0 ? write(fd, bytes, (size_t)n) : -1;
    int saved = errno;
    if (fd >= 0) close(fd);
    free(bytes);
    if (w != n) return err_raise(L, ERR_SCRIPT, "screenshot: %s: %s", path, strerror(saved));
    lua_pushinteger(L, n);
    lua_pushstring(L, path);
    return 2;
}

/* page_file(page, path) → the absolute path by which page's browser reads a
 * file under the running job's own folder of the files directory
 * (files/JOB/path), for page:upload. The path must resolve (symlinks
 * followed) to an existing file inside that folder; anything else is a
 * script error naming it. A browser that runs as another user than the
 * engine gets a copy it can read (backend stage_file), which lasts until
 * the page goes back. */
static int l_page_file(lua_State *L) {
    page_env_t *env = lua_touserdata(L, lua_upvalueindex(1));
    page_t *pg = check_page(L, 1);
    const char *rel = luaL_checkstring(L, 2);
    script_co_t *co = script_co_running(L);
    const char *job = co ? script_co_job(co) : NULL;
    const char *files = env->upload_dir[0] ? env->upload_dir : env->files_dir;
    if (!job || !job[0] || strchr(job, '/') || strcmp(job, ".") == 0 || strcmp(job, "..") == 0 ||
        !files[0])
        return err_raise(L, ERR_SCRIPT, "page:upload: '%s': this run has no folder in files/", rel);
    char dir[PATH_MAX + 1], want[PATH_MAX * 2 + 2], root[PATH_MAX], real[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", files, job);
    if (rel[0] == '/')
        snprintf(want, sizeof want, "%s", rel);
    else
        snprintf(want, sizeof want, "%s/%s", dir, rel);
    if (!realpath(dir, root))
        return err_raise(L, ERR_SCRIPT, "page:upload: '%s': there is no folder files/%s/", rel,
                         job);
    if (!realpath(want, real))
        return err_raise(L, ERR_SCRIPT, "page:upload: '%s': %s", rel, strerror(errno));
    size_t n = strlen(root);
    struct stat st;
    if (strncmp(real, root, n) != 0 || real[n] != '/' || stat(real, &st) < 0 ||
        !S_ISREG(st.st_mode))
        return err_raise(L, ERR_SCRIPT, "page:upload: '%s' is not a file under files/%s/", rel,
                         job);
    const browser_backend_t *b = &env->browser;
    if (b->ops->stage_file) {
        char staged[PATH_MAX], why[300] = "";
        int rc =
            b->ops->stage_file(b->self, pg->lease, real, staged, sizeof staged, why, sizeof why);
        if (rc == -EPIPE) return err_raise(L, ERR_BROWSER_CRASHED, "page:upload: %s", why);
        if (rc < 0) return err_raise(L, ERR_SCRIPT, "page:upload: '%s': %s", rel, why);
        lua_pushstring(L, staged);
        return 1;
    }
    lua_pushstring(L, real);
    return 1;
}

void page_open_prims(lua_State *L, void *ud) {
    page_env_t *env = ud;
    static const luaL_Reg fns[] = {
        {"page_new", l_page_new},
        {"page_open", l_page_open},
        {"page_send", l_page_send},
        {"page_mark", l_page_mark},
        {"page_wait", l_page_wait},
        {"page_events", l_page_events},
        {"page_number", l_page_number},
        {"page_save", l_page_save},
        {"page_file", l_page_file},
        {"page_allowed", l_page_allowed},
        {"page_url_allowed", l_page_url_allowed},
        {NULL, NULL},
    };
    if (luaL_newmetatable(L, PAGE_MT)) {
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, "page");
        lua_setfield(L, -2, "__name");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
    if (!env || !env->browser.ops) return; /* check/plan: ctx:page() says so */
    lua_pushlightuserdata(L, env);
    luaL_setfuncs(L, fns, 1);
}
