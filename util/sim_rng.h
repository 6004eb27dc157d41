/* sim_rng: the one seeded pseudo-random generator of the simulators, the
 * scorers and the randomised tests
 * (xoshiro256** by Blackman and Vigna, seeded through splitmix64).
 *
 * The same seed gives the same sequence on every platform for
 * sim_rng_next() and sim_rng_uniform(); sim_rng_gauss() goes through libm
 * (log, sqrt), so it is bit-identical for one build and one libm.
 * The state is a plain struct the caller owns; one thread at a time.
 * Not for cryptography.
 */
#ifndef MASSAGED_SIM_RNG_H
#define MASSAGED_SIM_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} sim_rng_t;

/* Seeds the generator. Any seed is valid, 0 included: the state is expanded
 * with splitmix64, so it is never all zero. */
void sim_rng_seed(sim_rng_t *rng, uint64_t seed);

/* Next 64 uniformly distributed random bits. */
uint64_t sim_rng_next(sim_rng_t *rng);

/* Uniform double in [0, 1), with 53 random bits. */
double sim_rng_uniform(sim_rng_t *rng);

/* Standard normal draw, N(0, 1) (Marsaglia's polar method; one value per
 * call, so the state stays four words). */
double sim_rng_gauss(sim_rng_t *rng);

#endif
