/* sim_run: where a physics simulator is in its session, the part of the
 * state that both simulators (sim_ball, sim_scraper) hold alike: the seeded
 * random generator, the sample period, the next sample, the session's end
 * and the truth's state. Plain data, embedded in the simulator's own state.
 */
#ifndef MASSAGED_SIM_RUN_H
#define MASSAGED_SIM_RUN_H

#include <stdint.h>

#include "sim_rng.h"

typedef struct {
    sim_rng_t rng;
    double dt;        /* seconds per sample */
    uint64_t n;       /* index of the next sample */
    uint64_t n_end;   /* samples in the session; 0 = endless */
    int finished;     /* truth closed; no more truth is emitted */
    uint32_t next_id; /* id of the next truth event */
} sim_run_t;

/* A run at sample 0 of n_end (0: endless) at rate_hz, its generator seeded
 * with seed and no truth emitted yet. */
static inline void sim_run_start(sim_run_t *r, uint64_t seed, double rate_hz, uint64_t n_end)
{
    *r = (sim_run_t){.dt = 1.0 / rate_hz, .n_end = n_end};
    sim_rng_seed(&r->rng, seed);
}

#endif
