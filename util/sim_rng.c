#include "sim_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void sim_rng_seed(sim_rng_t *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

uint64_t sim_rng_next(sim_rng_t *rng)
{
    uint64_t *s = rng->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sim_rng_uniform(sim_rng_t *rng)
{
    return (double)(sim_rng_next(rng) >> 11) * 0x1.0p-53;
}

double sim_rng_gauss(sim_rng_t *rng)
{
    /* The polar method needs no trigonometry; the rejection loop runs 1.27
     * times on average and is as deterministic as the generator. */
    for (;;) {
        double u = 2.0 * sim_rng_uniform(rng) - 1.0;
        double v = 2.0 * sim_rng_uniform(rng) - 1.0;
        double r2 = u * u + v * v;
        if (r2 > 0.0 && r2 < 1.0)
            return u * sqrt(-2.0 * log(r2) / r2);
    }
}
