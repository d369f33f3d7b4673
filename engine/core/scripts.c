/* scripts.c — loading script files and their job definitions into a set the
 * scheduler can take, and the next set on a reload: files are told apart by
 * a hash of their bytes, so an unchanged file keeps its state (and whatever
 * its top level computed) and only what changed is loaded again. */
#include "scripts.h"

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

/* FNV-1a, 64 bits: telling changed files apart, not security. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static const uint64_t FNV_SEED = 0xcbf29ce484222325ULL;

static int hash_file(const char *path, uint64_t *out) {
    char buf[16384];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (!f) return -errno;
    uint64_t h = FNV_SEED;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = fnv(h, buf, n);
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    *out = h;
    return rc;
}

/* Every file under dir (depth-limited), names and bytes, in any order. */
static uint64_t hash_tree(const char *dir, int depth) {
    uint64_t sum = 0;
    DIR *d = depth < 8 ? opendir(dir) : NULL;
    struct dirent *e;
    if (!d) return 0;
    while ((e = readdir(d))) {
        char path[4096];
        struct stat st;
        uint64_t h;
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            sum += fnv(hash_tree(path, depth + 1), path, strlen(path));
        } else if (S_ISREG(st.st_mode) && hash_file(path, &h) == 0) {
            sum += fnv(h, path, strlen(path)); /* a sum: readdir order does not matter */
        }
    }
    closedir(d);
    return sum;
}

static uint64_t hash_lib(const conf_t *conf) {
    char lib[4200];
    snprintf(lib, sizeof lib, "%s/lib", conf->scripts);
    return hash_tree(lib, 0);
}

static int grow_scripts(scripts_set_t *set, size_t n) {
    set->scripts = calloc(n ? n : 1, sizeof *set->scripts);
    set->hashes = calloc(n ? n : 1, sizeof *set->hashes);
    set->how = calloc(n ? n : 1, 1);
    return set->scripts && set->hashes && set->how ? 0 : -ENOMEM;
}

/* Loads one file into the set; 0, 1 when it failed (reported), < 0 on ENOMEM. */
static int load_file(scripts_set_t *set, const char *path, const conf_t *conf,
                     const script_host_t *host, int drop_dups, scripts_report_fn report, void *ud);

static void add_job(scripts_set_t *set, job_t *j, scripts_report_fn report, void *ud) {
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

int scripts_load(const conf_t *conf, const script_host_t *host, char *const *paths, size_t npaths,
                 scripts_set_t *set, scripts_report_fn report, void *ud) {
    pathlist_t files = {0};
    char line[2048];
    int rc = 0;
    *set = (scripts_set_t){0};
    const char *defaults[1] = {conf->scripts};
    if (npaths == 0) {
        paths = (char *const *)defaults;
        npaths = 1;
    }
    for (size_t i = 0; i < npaths && rc == 0; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            if (npaths == 1 && paths == (char *const *)defaults)
                snprintf(line, sizeof line,
                         "%s: cannot read the scripts directory: %s "
                         "(set `scripts` in engine.conf)",
                         paths[i], strerror(errno));
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
    if (rc == 0) rc = grow_scripts(set, files.n);
    for (size_t i = 0; rc == 0 && i < files.n; i++) {
        int r = load_file(set, files.v[i], conf, host, 1, report, ud);
        if (r < 0) rc = r;
    }
    set->lib_hash = hash_lib(conf);
    for (size_t i = 0; i < files.n; i++) free(files.v[i]);
    free(files.v);
    if (rc < 0) scripts_free(set);
    return rc;
}

static int load_file(scripts_set_t *set, const char *path, const conf_t *conf,
                     const script_host_t *host, int drop_dups, scripts_report_fn report, void *ud) {
    char line[2048];
    script_t *s;
    job_t **jobs;
    size_t njobs;
    uint64_t hash;
    int rc = hash_file(path, &hash);
    if (rc < 0) {
        snprintf(line, sizeof line, "%s: %s", path, strerror(-rc));
        report(ud, line);
        set->errors++;
        return 1;
    }
    if (script_load(&s, path, host, line, sizeof line) < 0) {
        report(ud, line);
        set->errors++;
        return 1;
    }
    if (job_read_all(s, conf, &jobs, &njobs, line, sizeof line) < 0) {
        report(ud, line);
        set->errors++;
        script_unref(s);
        return 1;
    }
    job_t **more = realloc(set->jobs, (set->njobs + njobs + 1) * sizeof *more);
    if (!more) {
        job_free_all(jobs, njobs);
        script_unref(s);
        return -ENOMEM;
    }
    set->jobs = more;
    set->hashes[set->nscripts] = hash;
    set->how[set->nscripts] = SCRIPTS_LOADED;
    set->scripts[set->nscripts++] = s;
    for (size_t k = 0; k < njobs; k++) {
        if (drop_dups)
            add_job(set, jobs[k], report, ud);
        else
            set->jobs[set->njobs++] = jobs[k];
    }
    free(jobs);
    return 0;
}

/* Takes old's i-th script and its jobs into set as they are. */
static int keep_file(scripts_set_t *set, const scripts_set_t *old, size_t i, int how) {
    script_t *s = old->scripts[i];
    size_t n = 0;
    for (size_t k = 0; k < old->njobs; k++) n += old->jobs[k]->script == s;
    job_t **more = realloc(set->jobs, (set->njobs + n + 1) * sizeof *more);
    if (!more) return -ENOMEM;
    set->jobs = more;
    for (size_t k = 0; k < old->njobs; k++)
        if (old->jobs[k]->script == s) set->jobs[set->njobs++] = job_ref(old->jobs[k]);
    script_ref(s);
    set->hashes[set->nscripts] = old->hashes[i];
    set->how[set->nscripts] = (unsigned char)how;
    set->scripts[set->nscripts++] = s;
    return 0;
}

static long old_index(const scripts_set_t *old, const char *path) {
    for (size_t i = 0; i < old->nscripts; i++)
        if (strcmp(script_path(old->scripts[i]), path) == 0) return (long)i;
    return -1;
}

int scripts_update(const conf_t *conf, const script_host_t *host, const scripts_set_t *old,
                   scripts_set_t *set, scripts_changes_t *ch, scripts_report_fn report, void *ud) {
    pathlist_t files = {0};
    char line[4200];
    int rc;
    *set = (scripts_set_t){0};
    *ch = (scripts_changes_t){0};
    if ((rc = add_dir(&files, conf->scripts)) < 0) {
        snprintf(line, sizeof line, "%s: cannot read the scripts directory: %s", conf->scripts,
                 strerror(-rc));
        report(ud, line);
        goto out;
    }
    set->lib_hash = hash_lib(conf);
    if ((rc = grow_scripts(set, files.n)) < 0) goto out;
    for (size_t i = 0; rc == 0 && i < files.n; i++) {
        long o = old_index(old, files.v[i]);
        uint64_t h;
        if (o >= 0 && set->lib_hash == old->lib_hash && hash_file(files.v[i], &h) == 0 &&
            h == old->hashes[o]) {
            rc = keep_file(set, old, (size_t)o, SCRIPTS_KEPT);
            ch->unchanged++;
            continue;
        }
        rc = load_file(set, files.v[i], conf, host, 0, report, ud);
        if (rc == 1) {
            ch->failed++;
            rc = o >= 0 ? keep_file(set, old, (size_t)o, SCRIPTS_KEPT_FAILED) : 0;
        } else if (rc == 0) {
            ch->loaded++;
        }
    }
    for (size_t i = 0; i < old->nscripts; i++) {
        int found = 0;
        for (size_t k = 0; k < files.n && !found; k++)
            found = strcmp(files.v[k], script_path(old->scripts[i])) == 0;
        ch->removed += !found;
    }
out:
    for (size_t i = 0; i < files.n; i++) free(files.v[i]);
    free(files.v);
    if (rc < 0) scripts_free(set);
    return rc < 0 ? rc : 0;
}

void scripts_free(scripts_set_t *set) {
    job_free_all(set->jobs, set->njobs);
    for (size_t i = 0; i < set->nscripts; i++) script_unref(set->scripts[i]);
    free(set->scripts);
    free(set->hashes);
    free(set->how);
    *set = (scripts_set_t){0};
}
