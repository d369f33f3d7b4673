/* page.c — the C primitives under lua/page.lua: lease a page from the
 * browser backend for the running co (page_open), send raw CDP on it
 * (page_send), and the page's recent events (page_mark, page_wait,
 * page_events), each wait yielding the run's coroutine; the files a script may
 * write (page_save) or upload (page_file); the page's downloads, followed
 * from its events, held to the job's limits and moved into files/JOB/
 * (page_download_next, page_downloads). The lease goes back when the co
 * ends. Only the backend's operations table is known here. */
#include "page.h"
#include "page_policy.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
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

/* A download of the page, from Page.downloadWillBegin on. */
typedef struct download {
    char guid[64];
    char *url; /* malloc'd */
    char suggested[256];
    enum { DL_RUNNING, DL_DONE, DL_FAILED } state;
    err_kind_t fail_kind;
    char fail_msg[400];
    int64_t bytes;
    char name[PAGE_POLICY_NAME_MAX + 16]; /* its name in files/JOB/ once done */
    int taken;                            /* handed out by page_download_next */
} download_t;

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
    /* downloads: allowed when dl_max_bytes > 0 (the job's downloads), saved
     * by the browser into download_dir ("" when it saves none) */
    size_t dl_max_bytes;
    int dl_max_files;
    char download_dir[4200];
    char job[128];
    download_t *dl;
    int ndl, dl_cap;
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
    for (int i = 0; i < pg->ndl; i++) free(pg->dl[i].url);
    free(pg->dl);
    free(pg);
}

/* ---- downloads ---- */

static void dl_cancel(page_t *pg, const char *guid) {
    const browser_backend_t *b = &pg->env->browser;
    if (pg->lease && b->ops->cancel_download) b->ops->cancel_download(b->self, pg->lease, guid);
}

/* Deletes what the browser left of a download in its folder. */
static void dl_unlink(page_t *pg, const download_t *d) {
    char path[4400];
    if (!pg->download_dir[0]) return;
    snprintf(path, sizeof path, "%s/%s", pg->download_dir, d->guid);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s.crdownload", pg->download_dir, d->guid);
    unlink(path);
}

static void dl_fail(page_t *pg, download_t *d, err_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void dl_fail(page_t *pg, download_t *d, err_kind_t kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->fail_msg, sizeof d->fail_msg, fmt, ap);
    va_end(ap);
    if (d->state == DL_RUNNING) dl_cancel(pg, d->guid);
    d->state = DL_FAILED;
    d->name[0] = 0;
    d->fail_kind = kind;
    dl_unlink(pg, d);
}

static download_t *dl_find(page_t *pg, const char *guid) {
    for (int i = 0; i < pg->ndl; i++)
        if (strcmp(pg->dl[i].guid, guid) == 0) return &pg->dl[i];
    return NULL;
}

/* Copies src (a regular file, not followed if a link) to dst, which must not
 * exist; at most max + 1 bytes. 0 or -errno (dst removed on failure). */
static int dl_copy(const char *src, const char *dst, size_t max) {
    int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0) return -errno;
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return -EINVAL;
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0) {
        int rc = -errno;
        close(in);
        return rc;
    }
    char buf[65536];
    size_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) rc = -errno;
        if (n <= 0) break;
        total += (size_t)n;
        if (total > max + 1) {
            rc = -EFBIG;
            break;
        }
        for (ssize_t off = 0; off < n && rc == 0;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0)
                rc = -errno;
            else
                off += w;
        }
        if (rc < 0) break;
    }
    close(in);
    if (close(out) != 0 && rc == 0) rc = -errno;
    if (rc < 0) unlink(dst);
    return rc;
}

/* Moves src to dst, which must not exist: a rename that replaces nothing,
 * else a link and unlink, else (another file system) a copy and unlink.
 * 0, -EEXIST when dst exists, or another -errno. */
static int dl_move(const char *src, const char *dst, size_t max) {
    if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0) return 0;
    if (errno == EEXIST) return -EEXIST;
    if (errno == EINVAL || errno == ENOSYS) { /* no RENAME_NOREPLACE here */
        if (link(src, dst) == 0) return unlink(src), 0;
        if (errno == EEXIST) return -EEXIST;
    }
    if (errno != EXDEV) return -errno;
    int rc = dl_copy(src, dst, max);
    if (rc == 0) unlink(src);
    return rc;
}

/* A finished download: moved from the browser's folder into files/JOB/
 * under a safe name of its own. */
static void dl_complete(page_t *pg, download_t *d) {
    char src[4400], dir[8400], dst[8700], name[sizeof d->name], base[sizeof d->name];
    const char *files = pg->env->files_dir;
    const char *job = pg->job;
    struct stat st;
    snprintf(src, sizeof src, "%s/%s", pg->download_dir, d->guid);
    if (lstat(src, &st) != 0 || !S_ISREG(st.st_mode)) {
        dl_fail(pg, d, ERR_NETWORK, "download of %.200s: the browser saved no file", d->url);
        return;
    }
    if ((size_t)st.st_size > pg->dl_max_bytes) {
        dl_fail(pg, d, ERR_LIMIT, "download of %.200s: %lld bytes, over the job's max_bytes (%zu)",
                d->url, (long long)st.st_size, pg->dl_max_bytes);
        return;
    }
    if (!files[0] || !job[0] || strchr(job, '/') || strcmp(job, ".") == 0 ||
        strcmp(job, "..") == 0) {
        dl_fail(pg, d, ERR_SCRIPT, "download of %.200s: this run has no folder in files/", d->url);
        return;
    }
    snprintf(dir, sizeof dir, "%s/%s", files, job);
    mkdir(files, 0755);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        dl_fail(pg, d, ERR_SCRIPT, "download of %.200s: %s: %s", d->url, dir, strerror(errno));
        return;
    }
    page_policy_download_name(d->suggested, base, sizeof base);
    int rc = -EEXIST;
    for (int n = 0; n < 1000 && rc == -EEXIST; n++) {
        if (n == 0)
            snprintf(name, sizeof name, "%s", base);
        else
            page_policy_download_variant(base, n, name, sizeof name);
        snprintf(dst, sizeof dst, "%s/%s", dir, name);
        rc = dl_move(src, dst, pg->dl_max_bytes);
    }
    if (rc < 0) {
        dl_fail(pg, d, rc == -EFBIG ? ERR_LIMIT : ERR_SCRIPT, "download of %.200s: into %s: %s",
                d->url, dir, rc == -EEXIST ? "every name is taken" : strerror(-rc));
        return;
    }
    /* What arrived must still be a plain file of at most the limit (the
     * browser's folder is the browser's: it could have been swapped). */
    if (lstat(dst, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > pg->dl_max_bytes) {
        unlink(dst);
        dl_fail(pg, d, ERR_LIMIT, "download of %.200s: not a file within max_bytes", d->url);
        return;
    }
    if (lchown(dst, geteuid(), getegid()) != 0) /* the engine's file, not the browser user's */
        log_debug("%s: left to its owner: %s", dst, strerror(errno));
    d->state = DL_DONE;
    d->bytes = (int64_t)st.st_size;
    snprintf(d->name, sizeof d->name, "%s", name);
}

/* A guid names a file of the browser's folder: letters, digits and '-' only
 * (the browser is not trusted to keep its words inside that folder). */
static int guid_ok(const char *guid) {
    size_t n = strspn(guid, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-");
    return n > 0 && guid[n] == 0 && n < sizeof((download_t *)0)->guid;
}

static double num_field(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Page.downloadWillBegin and Page.downloadProgress of the page's session:
 * each download is the page's own (its frames'). One the job may not make
 * is cancelled; one past the job's limits fails with limit. */
static void dl_event(page_t *pg, const char *method, const cJSON *params) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(params, "guid");
    const char *guid = cJSON_IsString(g) ? g->valuestring : NULL;
    if (!guid || !guid_ok(guid)) return;
    if (strcmp(method, "Page.downloadWillBegin") == 0) {
        if (dl_find(pg, guid)) return;
        if (pg->dl_max_bytes == 0 || !pg->download_dir[0]) {
            dl_cancel(pg, guid); /* denied already; said twice in case */
            return;
        }
        if (pg->ndl >= pg->dl_max_files + 16) { /* past the limit and then some: not kept */
            dl_cancel(pg, guid);
            return;
        }
        if (pg->ndl == pg->dl_cap) {
            int cap = pg->dl_cap ? pg->dl_cap * 2 : 4;
            download_t *grown = realloc(pg->dl, (size_t)cap * sizeof *grown);
            if (!grown) {
                dl_cancel(pg, guid);
                return;
            }
            pg->dl = grown;
            pg->dl_cap = cap;
        }
        download_t *d = &pg->dl[pg->ndl];
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(params, "url");
        const cJSON *sug = cJSON_GetObjectItemCaseSensitive(params, "suggestedFilename");
        memset(d, 0, sizeof *d);
        snprintf(d->guid, sizeof d->guid, "%s", guid);
        d->url = strdup(cJSON_IsString(url) ? url->valuestring : "");
        if (!d->url) {
            dl_cancel(pg, guid);
            return;
        }
        snprintf(d->suggested, sizeof d->suggested, "%s",
                 cJSON_IsString(sug) ? sug->valuestring : "");
        d->state = DL_RUNNING;
        pg->ndl++;
        if (pg->ndl > pg->dl_max_files)
            dl_fail(pg, d, ERR_LIMIT, "download of %.200s: over the job's max_files (%d)", d->url,
                    pg->dl_max_files);
        return;
    }
    download_t *d = dl_find(pg, guid);
    if (!d || d->state != DL_RUNNING) return;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(params, "state");
    const char *state = cJSON_IsString(st) ? st->valuestring : "";
    double got = num_field(params, "receivedBytes"), total = num_field(params, "totalBytes");
    d->bytes = (int64_t)got;
    if (got > (double)pg->dl_max_bytes || total > (double)pg->dl_max_bytes) {
        dl_fail(pg, d, ERR_LIMIT, "download of %.200s: %.0f bytes, over the job's max_bytes (%zu)",
                d->url, got > total ? got : total, pg->dl_max_bytes);
    } else if (strcmp(state, "completed") == 0) {
        d->state = DL_DONE; /* the browser is done with it: nothing to cancel */
        dl_complete(pg, d);
    } else if (strcmp(state, "canceled") == 0) {
        dl_fail(pg, d, ERR_NETWORK, "download of %.200s: cancelled or failed in the browser",
                d->url);
    }
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
    if (strncmp(method, "Page.download", 13) == 0) dl_event(pg, method, params);
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
        for (int i = 0; i < pg->ndl; i++)
            if (pg->dl[i].state == DL_RUNNING)
                dl_fail(pg, &pg->dl[i], ERR_CANCELLED, "the run ended before the download did");
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
    browser_lease_info_t info = {0};
    pg->lease = lease;
    b->ops->describe(b->self, lease, &info);
    snprintf(pg->download_dir, sizeof pg->download_dir, "%s",
             info.download_dir ? info.download_dir : "");
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
    pg->dl_max_bytes = 0;
    if (!script_co_downloads(co, &pg->dl_max_bytes, &pg->dl_max_files)) pg->dl_max_bytes = 0;
    snprintf(pg->job, sizeof pg->job, "%s", script_co_job(co));
    browser_ask_t ask = {.priority = script_co_priority(co),
                         .session = script_co_session(co),
                         .downloads = pg->dl_max_bytes > 0,
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

/* ---- downloads, for page:wait_download and page:downloads ---- */

static void push_download(lua_State *L, const page_t *pg, const download_t *d) {
    static const char *const states[] = {"in_progress", "completed", "failed"};
    lua_createtable(L, 0, 8);
    lua_pushstring(L, d->url);
    lua_setfield(L, -2, "url");
    lua_pushstring(L, d->suggested);
    lua_setfield(L, -2, "suggested");
    lua_pushstring(L, states[d->state]);
    lua_setfield(L, -2, "state");
    lua_pushinteger(L, (lua_Integer)d->bytes);
    lua_setfield(L, -2, "bytes");
    if (d->state == DL_DONE) {
        lua_pushstring(L, d->name);
        lua_setfield(L, -2, "name");
        lua_pushfstring(L, "%s/%s", pg->job, d->name);
        lua_setfield(L, -2, "path");
    } else if (d->state == DL_FAILED) {
        lua_pushstring(L, err_kind_name(d->fail_kind));
        lua_setfield(L, -2, "error_kind");
        lua_pushstring(L, d->fail_msg);
        lua_setfield(L, -2, "error");
    }
}

/* page_download_allowed(page) → true, or nil and why. */
static int l_page_download_allowed(lua_State *L) {
    page_t *pg = check_page(L, 1);
    if (pg->dl_max_bytes == 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "job '%s' may not download (give it downloads = true)", pg->job);
        return 2;
    }
    if (!pg->download_dir[0]) {
        lua_pushnil(L);
        lua_pushliteral(L, "this browser saves no downloads (only a browser the engine launches "
                           "does: not the dry run's fake, not browser.endpoints)");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* page_download_next(page) → the oldest download ended and not yet handed
 * out ({name, path, bytes, url, suggested, state}); nil and its error when it
 * failed; nil when none has ended. */
static int l_page_download_next(lua_State *L) {
    page_t *pg = check_page(L, 1);
    for (int i = 0; i < pg->ndl; i++) {
        download_t *d = &pg->dl[i];
        if (d->taken || d->state == DL_RUNNING) continue;
        d->taken = 1;
        if (d->state == DL_DONE) {
            push_download(L, pg, d);
            return 1;
        }
        lua_pushnil(L);
        err_push(L, d->fail_kind, d->fail_msg);
        lua_pushstring(L, d->url);
        lua_setfield(L, -2, "url");
        return 2;
    }
    return 0;
}

/* page_downloads(page) → every download of the run so far, oldest first. */
static int l_page_downloads(lua_State *L) {
    page_t *pg = check_page(L, 1);
    lua_createtable(L, pg->ndl, 0);
    for (int i = 0; i < pg->ndl; i++) {
        push_download(L, pg, &pg->dl[i]);
        lua_rawseti(L, -2, i + 1);
    }
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
        {"page_download_allowed", l_page_download_allowed},
        {"page_download_next", l_page_download_next},
        {"page_downloads", l_page_downloads},
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
