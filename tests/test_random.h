/* test_random: a tiny seeded generator for the DSP tests (xorshift64*), so
 * that a failing randomised test can be re-run with the seed it printed.
 * Set rng_state to the seed (non-zero) before drawing. */
#ifndef MASSAGED_TEST_RANDOM_H
#define MASSAGED_TEST_RANDOM_H

#include <math.h>
#include <stdint.h>

static uint64_t rng_state;

/* Uniform in [0, 1). */
static inline double uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

/* Standard normal, by Box-Muller. */
static inline double gaussian(void)
{
    double u = uniform(), v = uniform();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(2.0 * M_PI * v);
}

#endif
