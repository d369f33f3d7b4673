/* fs.c — see fs.h. */
#include "fs.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* nftw passes no user pointer: the first error is kept here for the one walk
 * in progress (the engine is one thread). */
static int walk_err;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && walk_err == 0) walk_err = -errno;
    return 0;
}

int fs_remove_tree(const char *dir) {
    if (!dir || !dir[0]) return 0;
    walk_err = 0;
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && walk_err == 0) walk_err = -errno;
    return walk_err;
}

int fs_file_within(const char *path, const char *dir, long long max_bytes, char *why, size_t len) {
    char real[PATH_MAX], root[PATH_MAX];
    struct stat st;
    if (!realpath(path, real) || stat(real, &st) != 0) {
        snprintf(why, len, "%s: cannot be read: %s", path, strerror(errno));
        return -1;
    }
    if (!realpath(dir, root)) {
        snprintf(why, len, "%s: cannot be read: %s: %s", path, dir, strerror(errno));
        return -1;
    }
    size_t n = strlen(root);
    if (strncmp(real, root, n) != 0 || (real[n] != '/' && !(n == 1 && root[0] == '/'))) {
        snprintf(why, len, "%s: refused: it leads out of %s (to %s)", path, dir, real);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, len, "%s: refused: not a regular file", path);
        return -1;
    }
    if ((long long)st.st_size > max_bytes) {
        snprintf(why, len, "%s: refused: %lld bytes, more than the %lld a script may have", path,
                 (long long)st.st_size, max_bytes);
        return -1;
    }
    return 0;
}
