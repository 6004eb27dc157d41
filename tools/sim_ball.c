#include "sim_ball.h"

#include <errno.h>
#include <string.h>

/* Placeholder so the library links while the physics is written. */
const sim_ball_settings_t sim_ball_default = {
    .rate_hz = 1000.0f,
    .duration_s = 0.0,
    .body_load_n = 0.0f,
    .noise = 1.0f,
    .hard_cases = 0,
    .ambient_pa = 101325.0f,
    .rock_probability = 0.35f,
    .mark_probability = 0.6f,
};

int sim_ball_init(sim_ball_t *s, const sim_ball_settings_t *settings, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->set = *settings;
    sim_rng_seed(&s->rng, seed);
    return -ENOSYS;
}

int sim_ball_step(sim_ball_t *s, sample_t *out, event_sink_fn truth, void *truth_ctx)
{
    memset(out, 0, sizeof *out);
    return SIM_BALL_END;
}

void sim_ball_finish(sim_ball_t *s, event_sink_fn truth, void *truth_ctx) {}

int sim_ball_hard_cases_parse(const char *text, int *flags)
{
    *flags = 0;
    return -EINVAL;
}
