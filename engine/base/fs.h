/* fs.h — the file-system steps several subsystems share. */
#ifndef BATON_FS_H
#define BATON_FS_H

/* Removes dir and everything below it, depth first, without following
 * symbolic links (a link is removed, never what it points to). An empty dir
 * string is a no-op. Returns 0, or -errno of the first entry that could not
 * be removed (the walk goes on past it). */
int fs_remove_tree(const char *dir);

#include <stddef.h>

/* Checks that path is a regular file of at most max_bytes whose real path
 * (symbolic links followed) lies inside the real path of dir. Returns 0, or
 * -1 with why, one line naming path (never its contents), in why. */
int fs_file_within(const char *path, const char *dir, long long max_bytes, char *why, size_t len);

#endif
