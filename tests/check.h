/* check: tiny assertion macros for the test executables. Each failed check
 * prints both sides with file and line and makes the test exit non-zero. */
#ifndef MASSAGED_CHECK_H
#define MASSAGED_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

/* The seed of a randomised test: argv[1] when given (as strtoull reads it,
 * in any base), else fallback; printed on stderr with the program's name, so
 * that a failure can be re-run with it. */
static inline uint64_t test_seed(int argc, char **argv, uint64_t fallback)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : fallback;
    fprintf(stderr, "%s seed %" PRIu64 "\n", argv[0], seed);
    return seed;
}

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);    \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                              \
    do {                                                                                \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                 \
        if (check_a_ != check_b_) {                                                     \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,         \
                    __LINE__, #a, #b, check_a_, check_b_);                              \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                           \
    do {                                                                                \
        double check_a_ = (double)(a), check_b_ = (double)(b);                          \
        if (!(fabs(check_a_ - check_b_) <= (double)(tol))) {                            \
            fprintf(stderr, "%s:%d: |%s - %s| <= %s failed: %.9g vs %.9g\n", __FILE__,  \
                    __LINE__, #a, #b, #tol, check_a_, check_b_);                        \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

#define CHECK_STR(a, b)                                                                 \
    do {                                                                                \
        const char *check_a_ = (a), *check_b_ = (b);                                    \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__,     \
                    __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                   \
                    check_b_ ? check_b_ : "(null)");                                    \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

/* Ends main(): prints a summary line and returns the exit status. */
#define CHECK_DONE()                                                                    \
    (fprintf(stderr, "%s: %s (%d failed checks)\n", __FILE__,                           \
             check_failures ? "FAILED" : "ok", check_failures),                         \
     check_failures ? 1 : 0)

#endif
