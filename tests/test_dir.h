/* test_dir: the temporary folder of a test program, made when it starts and
 * removed, with all it holds, when it ends. */
#ifndef MASSAGED_TEST_DIR_H
#define MASSAGED_TEST_DIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* Makes a new folder named by template, whose last six characters are
 * XXXXXX and are replaced in place; ends the program if it cannot. */
static inline void test_dir_make(char *template)
{
    if (!mkdtemp(template)) {
        perror("mkdtemp");
        exit(1);
    }
}

static inline int test_dir_remove_one(const char *path, const struct stat *st, int type,
                                      struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it (links are removed, not followed); a
 * failure is reported on stderr but does not fail the test. */
static inline void test_dir_remove(const char *dir)
{
    if (nftw(dir, test_dir_remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

#endif
