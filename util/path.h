/* path: file-system names, as the recorder and massaged-export build them.
 * Any thread. */
#ifndef MASSAGED_PATH_H
#define MASSAGED_PATH_H

#include <stddef.h>

/* Creates dir and every missing directory leading to it (mkdir -p, mode
 * 0755). Returns 0, or a negative errno (the directory that failed is not
 * reported: the caller names what it was making). */
int path_make_dirs(const char *dir);

/* Creates the directories leading to the file at path (its parent, mkdir -p). */
int path_make_parents(const char *path);

/* The length of path without its extension: up to the last '.' of its last
 * component, or all of it when that has none ("a/b.xdf" -> 3). */
size_t path_stem_len(const char *path);

#endif
