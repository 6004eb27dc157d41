#include "session.h"

#include "chain.h"
#include "frame.h"
#include "sim_device.h"
#include "sim_rng.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void session_settings_default(session_settings_t *s, device_kind_t kind, uint64_t seed,
                              double duration_s)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->seed = seed;
    s->samples_per_frame = 10;
    s->p_scale_factor = 1.0f;
    s->ball = sim_ball_default;
    s->ball.duration_s = duration_s;
    s->scraper = sim_scraper_default;
    s->scraper.duration_s = duration_s;
}

int session_link_check(double frame_loss, double stamp_jitter_us)
{
    if (!(frame_loss >= 0.0 && frame_loss < 1.0) ||
        !(stamp_jitter_us >= 0.0 && stamp_jitter_us <= 100000.0))
        return -EINVAL;
    return 0;
}

int session_settings_hard(const session_settings_t *s)
{
    return s->kind == DEVICE_KIND_BALL ? s->ball.hard_cases : s->scraper.hard_cases;
}

void session_settings_hard_cases(session_settings_t *s, int flags)
{
    if (s->kind == DEVICE_KIND_BALL)
        s->ball.hard_cases = flags;
    else
        s->scraper.hard_cases = flags;
}

typedef struct {
    const session_output_t *out;
    session_stats_t *stats;
    frame_decoder_t decoder;
    chain_t chain;
    uint16_t seq;
    double t_arrival; /* host time the bytes "arrive": device time plus a fixed delay */
    double frame_loss, stamp_jitter_us;
    sim_rng_t loss;   /* which frames are lost: independent of the physics */
    sim_rng_t jitter; /* how far each frame's stamp is off */
} runner_t;

static void on_block(void *ctx, const message_block_t *block)
{
    runner_t *r = ctx;
    r->stats->samples_out += block->n;
}

static void on_event(void *ctx, const event_t *event, double t_host)
{
    runner_t *r = ctx;
    if (r->out->event)
        r->out->event(r->out->event_ctx, event, t_host);
}

static void on_frame(const frame_t *frame, void *ctx)
{
    runner_t *r = ctx;
    chain_sink_t sink = {on_block, on_event, r};
    chain_frame(&r->chain, frame, r->t_arrival, &sink);
}

/* Encodes a frame and feeds its bytes through the daemon's decoder. */
static void transmit(void *ctx, frame_t *f, double t_dev)
{
    (void)t_dev;
    runner_t *r = ctx;
    uint8_t bytes[FRAME_MAX_ENCODED + 8];
    f->seq = r->seq++;
    if (f->type == FRAME_SAMPLES && r->frame_loss > 0.0 &&
        sim_rng_uniform(&r->loss) < r->frame_loss) {
        r->stats->frames_lost++;
        return;
    }
    if (f->type == FRAME_SAMPLES && r->stamp_jitter_us > 0.0)
        f->t_us += (uint32_t)(int32_t)lround((2.0 * sim_rng_uniform(&r->jitter) - 1.0) *
                                             r->stamp_jitter_us);
    size_t n = frame_encode(f, bytes, sizeof bytes);
    r->stats->frames++;
    r->stats->bytes += n;
    if (f->type == FRAME_SAMPLES)
        r->stats->samples += f->u.samples.count;
    r->t_arrival = (double)f->t_us * 1e-6 + 0.002;
    frame_decoder_feed(&r->decoder, bytes, n, on_frame, r);
}

static uint32_t device_us(double t_dev)
{
    return (uint32_t)(uint64_t)llround(t_dev * 1e6);
}

typedef struct {
    union {
        sim_ball_t ball;
        sim_scraper_t scraper;
    } sim;
    sim_device_t device;
} generator_t;

int session_frames(const session_settings_t *settings, event_sink_fn truth, void *truth_ctx,
                   session_frame_fn frame, void *ctx)
{
    unsigned per_frame = settings->samples_per_frame;
    if (per_frame < 1 || per_frame > FRAME_MAX_SAMPLES)
        return -EINVAL;
    generator_t *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    bool ball = settings->kind == DEVICE_KIND_BALL;
    int rc = ball ? sim_ball_init(&g->sim.ball, &settings->ball, settings->seed)
                  : sim_scraper_init(&g->sim.scraper, &settings->scraper, settings->seed);
    if (rc != 0) {
        free(g);
        return rc;
    }
    float rate = ball ? settings->ball.rate_hz : settings->scraper.rate_hz;
    sim_device_init(&g->device, (uint8_t)settings->kind, (uint16_t)rate, "SIM-SESSION");
    if (settings->p_scale_factor != 1.0f) {
        if (!(settings->p_scale_factor > 0.0f)) {
            free(g);
            return -EINVAL;
        }
        g->device.p_scale *= settings->p_scale_factor;
        g->device.inv_p = 1.0 / g->device.p_scale;
    }

    frame_t f;
    sim_device_hello(&g->device, 0, &f);
    frame(ctx, &f, 0.0);
    sample_t block[FRAME_MAX_SAMPLES];
    unsigned n = 0;
    for (;;) {
        int flags = ball ? sim_ball_step(&g->sim.ball, &block[n], truth, truth_ctx)
                         : sim_scraper_step(&g->sim.scraper, &block[n], truth, truth_ctx);
        bool end = flags & SIM_BALL_END; /* the same bits for both kinds; the END
                                            sample is the session's last one */
        double t_sample = block[n].t_dev;
        n++;
        if (n == per_frame || end) {
            sim_device_samples(&g->device, device_us(block[0].t_dev), block, n, &f);
            frame(ctx, &f, t_sample);
            n = 0;
        }
        if (flags & (SIM_BALL_BUTTON_DOWN | SIM_BALL_BUTTON_UP)) {
            sim_device_button(device_us(t_sample), (flags & SIM_BALL_BUTTON_DOWN) != 0, &f);
            frame(ctx, &f, t_sample);
        }
        if (end)
            break;
    }
    if (ball)
        sim_ball_finish(&g->sim.ball, truth, truth_ctx);
    else
        sim_scraper_finish(&g->sim.scraper, truth, truth_ctx);
    free(g);
    return 0;
}

int session_run(const session_settings_t *settings, const session_output_t *out,
                session_stats_t *stats)
{
    if (session_link_check(settings->frame_loss, settings->stamp_jitter_us) != 0)
        return -EINVAL;
    runner_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    memset(stats, 0, sizeof *stats);
    r->out = out;
    r->stats = stats;
    r->frame_loss = settings->frame_loss;
    r->stamp_jitter_us = settings->stamp_jitter_us;
    sim_rng_seed(&r->loss, settings->seed ^ 0x10557u);
    sim_rng_seed(&r->jitter, settings->seed ^ 0x5a3b1u);
    frame_decoder_init(&r->decoder);
    chain_init(&r->chain, "sim", settings->kind);
    chain_port_opened(&r->chain);
    int rc = session_frames(settings, out->truth, out->truth_ctx, transmit, r);
    if (rc == 0) {
        chain_sink_t sink = {on_block, on_event, r};
        chain_disconnected(&r->chain, r->t_arrival, &sink);
        chain_end_session(&r->chain, TREATMENT_END_STOPPED, &sink);
    }
    chain_destroy(&r->chain);
    free(r);
    return rc;
}
