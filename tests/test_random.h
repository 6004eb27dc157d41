/* test_random: the seeded generator of the randomised DSP tests, util/sim_rng,
 * as one generator per test program, so that a failing test can be re-run
 * with the seed it printed. test_random_seed() before drawing. */
#ifndef MASSAGED_TEST_RANDOM_H
#define MASSAGED_TEST_RANDOM_H

#include "sim_rng.h"

#include <stdint.h>

static sim_rng_t test_rng;

static inline void test_random_seed(uint64_t seed)
{
    sim_rng_seed(&test_rng, seed);
}

/* Uniform in [0, 1). */
static inline double uniform(void)
{
    return sim_rng_uniform(&test_rng);
}

/* Standard normal. */
static inline double gaussian(void)
{
    return sim_rng_gauss(&test_rng);
}

#endif
