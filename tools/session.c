#include "session.h"

#include "chain.h"
#include "frame.h"
#include "sim_device.h"

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
    s->ball = sim_ball_default;
    s->ball.duration_s = duration_s;
    s->scraper = sim_scraper_default;
    s->scraper.duration_s = duration_s;
}

typedef struct {
    const session_settings_t *settings;
    const session_output_t *out;
    session_stats_t *stats;
    sim_device_t device;
    frame_decoder_t decoder;
    chain_t chain;
    uint16_t seq;
    double t_arrival; /* host time the bytes "arrive": device time plus a fixed delay */
    union {
        sim_ball_t ball;
        sim_scraper_t scraper;
    } sim;
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
static void transmit(runner_t *r, frame_t *f)
{
    uint8_t bytes[FRAME_MAX_ENCODED + 8];
    f->seq = r->seq++;
    size_t n = frame_encode(f, bytes, sizeof bytes);
    r->stats->frames++;
    r->stats->bytes += n;
    r->t_arrival = (double)f->t_us * 1e-6 + 0.002;
    frame_decoder_feed(&r->decoder, bytes, n, on_frame, r);
}

static void truth_sink(const event_t *e, void *ctx)
{
    runner_t *r = ctx;
    if (r->out->truth)
        r->out->truth(e, r->out->truth_ctx);
}

static int physics_step(runner_t *r, sample_t *s)
{
    if (r->settings->kind == DEVICE_KIND_BALL)
        return sim_ball_step(&r->sim.ball, s, truth_sink, r);
    return sim_scraper_step(&r->sim.scraper, s, truth_sink, r);
}

static uint32_t device_us(double t_dev)
{
    return (uint32_t)(uint64_t)llround(t_dev * 1e6);
}

int session_run(const session_settings_t *settings, const session_output_t *out,
                session_stats_t *stats)
{
    unsigned per_frame = settings->samples_per_frame;
    if (per_frame < 1 || per_frame > FRAME_MAX_SAMPLES)
        return -EINVAL;
    runner_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    memset(stats, 0, sizeof *stats);
    r->settings = settings;
    r->out = out;
    r->stats = stats;
    int rc;
    float rate;
    if (settings->kind == DEVICE_KIND_BALL) {
        rc = sim_ball_init(&r->sim.ball, &settings->ball, settings->seed);
        rate = settings->ball.rate_hz;
    } else {
        rc = sim_scraper_init(&r->sim.scraper, &settings->scraper, settings->seed);
        rate = settings->scraper.rate_hz;
    }
    if (rc != 0) {
        free(r);
        return rc;
    }
    sim_device_init(&r->device, (uint8_t)settings->kind, (uint16_t)rate, "SIM-SESSION");
    frame_decoder_init(&r->decoder);
    chain_init(&r->chain, "sim", settings->kind);
    chain_port_opened(&r->chain);

    frame_t f;
    sim_device_hello(&r->device, 0, &f);
    transmit(r, &f);
    sample_t block[FRAME_MAX_SAMPLES];
    unsigned n = 0;
    for (;;) {
        int flags = physics_step(r, &block[n]);
        bool end = flags & SIM_BALL_END; /* the same bits for both kinds; the END
                                            sample is the session's last one */
        double t_sample = block[n].t_dev;
        stats->samples++;
        n++;
        if (n == per_frame || end) {
            sim_device_samples(&r->device, device_us(block[0].t_dev), block, n, &f);
            transmit(r, &f);
            n = 0;
        }
        if (flags & (SIM_BALL_BUTTON_DOWN | SIM_BALL_BUTTON_UP)) {
            sim_device_button(device_us(t_sample),
                              (flags & SIM_BALL_BUTTON_DOWN) != 0, &f);
            transmit(r, &f);
        }
        if (end)
            break;
    }
    if (settings->kind == DEVICE_KIND_BALL)
        sim_ball_finish(&r->sim.ball, truth_sink, r);
    else
        sim_scraper_finish(&r->sim.scraper, truth_sink, r);
    chain_sink_t sink = {on_block, on_event, r};
    chain_disconnected(&r->chain, r->t_arrival, &sink);
    chain_destroy(&r->chain);
    free(r);
    return 0;
}
