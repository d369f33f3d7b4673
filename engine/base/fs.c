/* fs.c — see fs.h. */
#include "fs.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>

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
