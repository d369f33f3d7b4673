/* reload.c — loading script files and their job definitions into a set the
 * scheduler can take. Watching for changes and swapping sets build on this. */
#include "reload.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct pathlist {
    char **v;
    size_t n, cap;
} pathlist_t;

static int push_path(pathlist_t *l, const char *p) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    /* "./scripts/a.lua" reads better as "scripts/a.lua" in messages */
    while (p[0] == '.' && p[1] == '/') p += 2;
    if (!(l->v[l->n] = strdup(p))) return -ENOMEM;
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_script_name(const char *name) {
    size_t n = strlen(name);
    if (name[0] == '.' || n < 5 || strcmp(name + n - 4, ".lua") != 0) return 0;
    return !(n >= 9 && strcmp(name + n - 9, "_test.lua") == 0);
}

/* Adds the scripts of one directory, sorted by name (lib/ is for require only). */
static int add_dir(pathlist_t *l, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -errno;
    size_t first = l->n;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && rc == 0) {
        char path[4096];
        struct stat st;
        if (!is_script_name(e->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) rc = push_path(l, path);
    }
    closedir(d);
    qsort(l->v + first, l->n - first, sizeof *l->v, cmp_str);
    return rc;
}

static void add_job(reload_set_t *set, job_t *j, reload_report_fn report, void *ud) {
    for (size_t i = 0; i < set->njobs; i++) {
        job_t *k = set->jobs[i];
        if (strcmp(k->name, j->name) == 0) {
            char line[1024];
            snprintf(line, sizeof line, "%s:%d: job '%s' is already defined at %s:%d", j->file,
                     j->line, j->name, k->file, k->line);
            report(ud, line);
            set->errors++;
            job_unref(j);
            return;
        }
    }
    set->jobs[set->njobs++] = j;
}

int reload_load(const conf_t *conf, const script_host_t *host, char *const *paths, size_t npaths,
                reload_set_t *set, reload_report_fn report, void *ud) {
    pathlist_t files = {0};
    char line[2048];
    int rc = 0;
    *set = (reload_set_t){0};
    const char *defaults[1] = {conf->scripts};
    if (npaths == 0) {
        paths = (char *const *)defaults;
        npaths = 1;
    }
    for (size_t i = 0; i < npaths && rc == 0; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            if (npaths == 1 && paths == (char *const *)defaults)
                snprintf(line, sizeof line, "%s: cannot read the scripts directory: %s "
                         "(set `scripts` in engine.conf)", paths[i], strerror(errno));
            else
                snprintf(line, sizeof line, "%s: %s", paths[i], strerror(errno));
            report(ud, line);
            rc = -ENOENT;
        } else if (S_ISDIR(st.st_mode)) {
            if ((rc = add_dir(&files, paths[i])) < 0) {
                snprintf(line, sizeof line, "%s: %s", paths[i], strerror(-rc));
                report(ud, line);
            }
        } else {
            rc = push_path(&files, paths[i]);
        }
    }
    if (rc == 0) {
        set->scripts = calloc(files.n ? files.n : 1, sizeof *set->scripts);
        if (!set->scripts) rc = -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < files.n; i++) {
        script_t *s;
        job_t **jobs;
        size_t njobs;
        if (script_load(&s, files.v[i], host, line, sizeof line) < 0) {
            report(ud, line);
            set->errors++;
            continue;
        }
        if (job_read_all(s, conf, &jobs, &njobs, line, sizeof line) < 0) {
            report(ud, line);
            set->errors++;
            script_unref(s);
            continue;
        }
        job_t **more = realloc(set->jobs, (set->njobs + njobs + 1) * sizeof *more);
        if (!more) {
            job_free_all(jobs, njobs);
            script_unref(s);
            rc = -ENOMEM;
            break;
        }
        set->jobs = more;
        set->scripts[set->nscripts++] = s;
        for (size_t k = 0; k < njobs; k++) add_job(set, jobs[k], report, ud);
        free(jobs);
    }
    for (size_t i = 0; i < files.n; i++) free(files.v[i]);
    free(files.v);
    if (rc < 0) reload_free(set);
    return rc;
}

void reload_free(reload_set_t *set) {
    job_free_all(set->jobs, set->njobs);
    for (size_t i = 0; i < set->nscripts; i++) script_unref(set->scripts[i]);
    free(set->scripts);
    *set = (reload_set_t){0};
}
