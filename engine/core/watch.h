/* watch.h — the file watcher of `baton run`: scripts/ and every directory
 * below scripts/lib/ (inotify is not recursive, so one uv_fs_event each,
 * added as directories appear and dropped as they go); after a change the
 * directory must be quiet for a moment before the owner is told. */
#ifndef BATON_WATCH_H
#define BATON_WATCH_H

#include <uv.h>

#include "base/list.h"

/* Told once a change has settled (the owner reloads, then calls watch_scan). */
typedef void (*watch_fn)(void *ud);

/* Fields are the watcher's own; the struct is public so it can be embedded. */
typedef struct watch {
    uv_loop_t *loop;
    const char *dir; /* scripts/ */
    watch_fn on_change;
    void *ud;
    uv_timer_t settle;
    uv_fs_event_t dir_event;
    int watching_dir;
    list_t libs; /* scripts/lib/ and the directories below it */
    int scanned; /* the first scan is done */
    int stopped;
} watch_t;

/* Editors save in steps (write a temp file, rename, touch): tell the owner
 * once the directory has been quiet this long. */
enum { WATCH_SETTLE_MS = 300 };

/* Initialises w on loop for dir (kept, not copied); nothing is watched
 * before watch_scan. */
void watch_init(watch_t *w, uv_loop_t *loop, const char *dir, watch_fn on_change, void *ud);

/* Watches dir and the tree below dir/lib as it is now: new directories get
 * a watch, gone ones lose theirs. A directory that appeared after the first
 * scan also starts a settle (a file written into it before its watch existed
 * is caught so; the reload after it changes nothing otherwise). */
void watch_scan(watch_t *w);

/* Ignores every change from now on (the engine drains); scans do nothing. */
void watch_stop(watch_t *w);

/* Closes every handle; lib watches are freed in their close callbacks, so the
 * loop must run before w's memory goes. */
void watch_close(watch_t *w);

#endif
