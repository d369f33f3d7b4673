/* watch.c — see watch.h. One uv_fs_event for scripts/, a list of them for the
 * module tree (require "a.b" is lib/a/b.lua), and the settle timer. */
#include "watch.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"

/* One watched directory of the module tree. */
typedef struct watch_lib {
    uv_fs_event_t h; /* first: the close callback frees through it */
    list_t link;     /* on watch_t.libs */
    int seen;        /* found by the current scan */
    char path[];
} watch_lib_t;

enum { LIB_DEPTH = 8 };

static void on_settle(uv_timer_t *t) {
    watch_t *w = t->data;
    w->on_change(w->ud);
}

static void on_fs_event(uv_fs_event_t *h, const char *name, int events, int status) {
    watch_t *w = h->data;
    (void)name;
    (void)events;
    if (status < 0) {
        log_warn("watching %s: %s; use `baton reload` after changes", w->dir, uv_strerror(status));
        return;
    }
    if (!w->stopped) uv_timer_start(&w->settle, on_settle, WATCH_SETTLE_MS, 0);
}

static void free_lib(uv_handle_t *h) { free((watch_lib_t *)h); }

/* Drops the watches the last scan did not find (every one with all). */
static void unwatch_libs(watch_t *w, int all) {
    list_each_safe(it, tmp, &w->libs) {
        watch_lib_t *l = list_entry(it, watch_lib_t, link);
        if (!all && l->seen) continue;
        list_remove(&l->link);
        uv_close((uv_handle_t *)&l->h, free_lib);
    }
}

static watch_lib_t *find_lib(watch_t *w, const char *dir) {
    list_each(it, &w->libs) {
        watch_lib_t *l = list_entry(it, watch_lib_t, link);
        if (strcmp(l->path, dir) == 0) return l;
    }
    return NULL;
}

/* Marks dir and the directories below it as seen, watching the new ones.
 * Returns how many watches were added. */
static int watch_lib_tree(watch_t *w, const char *dir, int depth) {
    int added = 0;
    watch_lib_t *l = find_lib(w, dir);
    if (!l) {
        size_t n = strlen(dir) + 1;
        l = malloc(sizeof *l + n);
        if (!l) return 0;
        memcpy(l->path, dir, n);
        uv_fs_event_init(w->loop, &l->h);
        l->h.data = w;
        list_push_front(&w->libs, &l->link);
        if (uv_fs_event_start(&l->h, on_fs_event, dir, 0) < 0) log_debug("cannot watch %s", dir);
        added++;
    }
    l->seen = 1;
    DIR *d = depth < LIB_DEPTH ? opendir(dir) : NULL;
    for (struct dirent *de; d && (de = readdir(d));) {
        char sub[4096];
        struct stat st;
        if (de->d_name[0] == '.') continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) added += watch_lib_tree(w, sub, depth + 1);
    }
    if (d) closedir(d);
    return added;
}

void watch_init(watch_t *w, uv_loop_t *loop, const char *dir, watch_fn on_change, void *ud) {
    memset(w, 0, sizeof *w);
    w->loop = loop;
    w->dir = dir;
    w->on_change = on_change;
    w->ud = ud;
    list_init(&w->libs);
    uv_timer_init(loop, &w->settle);
    w->settle.data = w;
}

void watch_scan(watch_t *w) {
    char lib[4200];
    struct stat st;
    if (w->stopped) return;
    if (!w->watching_dir) {
        uv_fs_event_init(w->loop, &w->dir_event);
        w->dir_event.data = w;
        w->watching_dir = 1;
        int rc = uv_fs_event_start(&w->dir_event, on_fs_event, w->dir, 0);
        if (rc < 0)
            log_warn("cannot watch %s: %s; use `baton reload` after changes", w->dir,
                     uv_strerror(rc));
    }
    snprintf(lib, sizeof lib, "%s/lib", w->dir);
    list_each(it, &w->libs) list_entry(it, watch_lib_t, link)->seen = 0;
    int added = stat(lib, &st) == 0 && S_ISDIR(st.st_mode) ? watch_lib_tree(w, lib, 0) : 0;
    unwatch_libs(w, 0);
    if (added && w->scanned) uv_timer_start(&w->settle, on_settle, WATCH_SETTLE_MS, 0);
    w->scanned = 1;
}

void watch_stop(watch_t *w) { w->stopped = 1; }

void watch_close(watch_t *w) {
    w->stopped = 1;
    uv_close((uv_handle_t *)&w->settle, NULL);
    if (w->watching_dir) uv_close((uv_handle_t *)&w->dir_event, NULL);
    w->watching_dir = 0;
    unwatch_libs(w, 1);
}
