#include "path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int path_make_dirs(const char *dir)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s/", dir) >= (int)sizeof p)
        return -ENAMETOOLONG;
    for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return -errno;
        *slash = '/';
    }
    return 0;
}

int path_make_parents(const char *path)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return -ENAMETOOLONG;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0; /* in the working directory, or in / */
    *slash = '\0';
    return path_make_dirs(dir);
}

size_t path_stem_len(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && !strchr(dot, '/') ? (size_t)(dot - path) : strlen(path);
}
