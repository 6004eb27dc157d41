#include "chain.h"

#include <stdio.h>
#include <string.h>

void chain_init(chain_t *chain, const char *name, device_kind_t kind)
{
    memset(chain, 0, sizeof *chain);
    snprintf(chain->name, sizeof chain->name, "%s", name);
    chain->kind = kind;
    clock_unwrap_init(&chain->unwrap);
    clock_map_init(&chain->map, &clock_map_default);
    treatment_init(&chain->treatment, kind, NULL);
}

void chain_destroy(chain_t *chain)
{
    analysis_destroy(&chain->analysis);
}

/* Detectors report device times; subscribers also get the host time. */
typedef struct {
    chain_t *chain;
    const chain_sink_t *sink;
} detector_ctx_t;

static void to_sink(const event_t *event, void *ctx)
{
    detector_ctx_t *d = ctx;
    d->sink->event(d->sink->ctx, event, chain_to_host(d->chain, event->t_dev));
}

/* Every detection event passes the treatment tracker first, which may open
 * a session (its `start` goes out before the event that began it). */
static void on_detector_event(const event_t *event, void *ctx)
{
    detector_ctx_t *d = ctx;
    treatment_event(&d->chain->treatment, event, &d->chain->next_id, to_sink, d);
    to_sink(event, d);
}

void chain_port_opened(chain_t *chain)
{
    chain->streaming = false;
    chain->have_seq = false;
}

double chain_to_host(const chain_t *chain, double t_dev)
{
    return clock_map_to_host(&chain->map, t_dev);
}

__attribute__((cold))
static void emit_instant(chain_t *chain, const char *type, double t_dev, double t_host,
                         const chain_sink_t *sink)
{
    event_t e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.phase = EVENT_INSTANT;
    e.t_dev = t_dev;
    e.id = chain->next_id++;
    sink->event(sink->ctx, &e, t_host);
}

/* Unwraps a frame's clock; a device that rebooted (its clock jumped back)
 * starts a new epoch that continues after everything seen. */
__attribute__((hot)) static uint64_t frame_time_us(chain_t *chain, uint32_t t_us)
{
    uint64_t t = clock_unwrap(&chain->unwrap, t_us);
    chain->last_t_us = t_us;
    chain->have_time = true;
    double t_dev = (double)t * 1e-6;
    if (t_dev > chain->last_t_dev)
        chain->last_t_dev = t_dev;
    return t;
}

static double frame_time(chain_t *chain, uint32_t t_us)
{
    return (double)frame_time_us(chain, t_us) * 1e-6;
}

/* A HELLO whose clock is behind the newest time seen, by more than a wrap
 * within FRAME_WRAP_WINDOW_US explains, comes from a device that powered up
 * again (the decoder applies the same rule to `seq`). */
static bool is_reboot(const chain_t *chain, uint32_t t_us)
{
    return chain->have_time && t_us < chain->last_t_us &&
           (uint32_t)(t_us - chain->last_t_us) >= FRAME_WRAP_WINDOW_US;
}

/* The device restarted its clock: intervals end, device time continues after
 * everything seen, the sample index continues after the last sample, and the
 * clock mapping starts again. */
__attribute__((cold))
static void restart_clocks(chain_t *chain, const chain_sink_t *sink)
{
    detector_ctx_t dctx = {chain, sink};
    if (chain->analysis)
        analysis_finish(chain->analysis, &chain->next_id, on_detector_event, &dctx);
    chain->bridge_n = 0;
    chain->samples_follow = false;
    clock_unwrap_reset(&chain->unwrap);
    clock_index_init(&chain->index, chain->hello.rate_hz);
    chain->index_base = chain->next_index;
    clock_map_reset(&chain->map);
    chain->counters.reboots++;
}

__attribute__((cold))
static void on_hello(chain_t *chain, const frame_t *frame, double t_arrival,
                     const chain_sink_t *sink)
{
    if (chain->have_hello && is_reboot(chain, frame->t_us))
        restart_clocks(chain, sink);
    bool rate_changed = !chain->have_hello || chain->hello.rate_hz != frame->u.hello.rate_hz;
    chain->hello = frame->u.hello;
    chain->have_hello = true;
    if (rate_changed) {
        clock_index_init(&chain->index, frame->u.hello.rate_hz);
        analysis_destroy(&chain->analysis);
        chain->analysis = analysis_create(chain->kind, (float)frame->u.hello.rate_hz);
        chain->bridge_n = 0;
    }
    double t_dev = frame_time(chain, frame->t_us);
    clock_map_observe(&chain->map, t_dev, t_arrival);
    if (!chain->streaming) {
        chain->streaming = true;
        emit_instant(chain, "connected", t_dev, chain_to_host(chain, t_dev), sink);
    }
}

/* The mean of the first n (at most CHAIN_BRIDGE_ENDS) of the samples at s. */
static sample_t mean_of(const sample_t *s, unsigned n)
{
    sample_t m;
    memset(&m, 0, sizeof m);
    if (n > CHAIN_BRIDGE_ENDS)
        n = CHAIN_BRIDGE_ENDS;
    for (unsigned i = 0; i < n; i++) {
        m.p += s[i].p;
        for (int a = 0; a < 3; a++) {
            m.acc[a] += s[i].acc[a];
            m.gyr[a] += s[i].gyr[a];
        }
    }
    float w = 1.0f / (float)n;
    m.p *= w;
    for (int a = 0; a < 3; a++) {
        m.acc[a] *= w;
        m.gyr[a] *= w;
    }
    return m;
}

/* After a short loss (SAMPLE_BRIDGE_MAX_S, dsp/sample.h) the detectors are
 * given the `lost` samples before the block's first (taken at t0) drawn on
 * the straight line between the means of the last samples they had and of
 * the block's first ones, so that a hold, a flex or a stroke under way
 * carries on through a lost frame. The line joins means, not the two
 * samples at its ends: between two samples' noise it is a bump as loud as
 * the noise and all of it low, in the MMG's band, and the ball's detector
 * took it for a contraction (1 % of the frames lost: 20 more false flexes
 * in 200 widened development sessions; 6 with the means). The samples stay
 * missing everywhere else: the index jumps, samples_lost counts them, the
 * block and the recording hold only what arrived. */
static void bridge(chain_t *chain, double t0, uint64_t lost, const message_block_t *block,
                   detector_ctx_t *dctx)
{
    double period = 1.0 / chain->hello.rate_hz;
    if (chain->bridge_n == 0 || !sample_loss_bridged(lost, period))
        return;
    sample_t a = mean_of(chain->bridge_tail, chain->bridge_n), b = mean_of(block->s, block->n);
    for (uint64_t k = 1; k <= lost; k++) {
        float u = (float)((double)k / (double)(lost + 1));
        sample_t s;
        s.t_dev = t0 - (double)(lost + 1 - k) * period;
        s.p = a.p + u * (b.p - a.p);
        for (int i = 0; i < 3; i++) {
            s.acc[i] = a.acc[i] + u * (b.acc[i] - a.acc[i]);
            s.gyr[i] = a.gyr[i] + u * (b.gyr[i] - a.gyr[i]);
        }
        analysis_push(chain->analysis, &s, &chain->next_id, on_detector_event, dctx);
    }
}

/* The sample index of a block whose first sample was stamped t0_us, knowing
 * whether `seq` says no frame went missing since the last block (follows):
 * a block that continues the last one but is stamped over half a sample off
 * (a device that stamps frames late, with jitter) has *t0_us moved onto the
 * index's time instead of reading as lost samples and an overlap
 * (docs/CLOCK.md, "Stamps off"). */
static uint64_t index_block(chain_t *chain, bool follows, uint64_t *t0_us, unsigned count,
                            uint64_t *lost)
{
    uint64_t i0 = 0;
    int rc = clock_index_next(&chain->index, *t0_us, count, follows, &i0, lost);
    if (rc < 0)
        chain->counters.index_errors++;
    if (rc == 1) {
        chain->counters.stamps_off++;
        *t0_us = clock_index_time_us(&chain->index, i0);
    }
    return i0 + chain->index_base;
}

/* The part of a SAMPLES frame after its values are in physical units:
 * block->n and the samples' values are filled in; the clock, the index, the
 * times and the detectors are done here. */
__attribute__((hot)) static void on_block(chain_t *chain, uint32_t t_us, bool follows,
                                          message_block_t *block, double t_arrival,
                                          const chain_sink_t *sink)
{
    unsigned count = block->n;
    uint64_t t0_us = frame_time_us(chain, t_us), lost = 0;
    uint64_t i0 = index_block(chain, follows, &t0_us, count, &lost);
    double t0 = (double)t0_us * 1e-6;
    chain->next_index = i0 + count;
    chain->counters.samples_lost += lost;
    detector_ctx_t dctx = {chain, sink};
    if (lost > 0 && chain->analysis) {
        analysis_gap(chain->analysis, t0, lost, &chain->next_id, on_detector_event, &dctx);
        bridge(chain, t0, lost, block, &dctx);
    }
    double period = 1.0 / chain->hello.rate_hz;
    /* The newest sample of the frame was taken just before it was sent: its
     * arrival delay is the tightest bound on the clock offset. */
    double t_last = t0 + (count - 1) * period;
    clock_map_observe(&chain->map, t_last, t_arrival);
    if (t_last > chain->last_t_dev)
        chain->last_t_dev = t_last;

    block->i0 = i0;
    block->t_dev = t0;
    block->t_host = chain_to_host(chain, t0);
    for (unsigned i = 0; i < count; i++)
        block->s[i].t_dev = t0 + i * period;
    chain->counters.samples += count;
    sink->block(sink->ctx, block);
    if (chain->analysis) {
        for (unsigned i = 0; i < count; i++)
            analysis_push(chain->analysis, &block->s[i], &chain->next_id, on_detector_event, &dctx);
        /* Kept for a bridge; averaged only when one is needed. */
        unsigned k = count < CHAIN_BRIDGE_ENDS ? count : CHAIN_BRIDGE_ENDS;
        memcpy(chain->bridge_tail, &block->s[count - k], k * sizeof block->s[0]);
        chain->bridge_n = k;
    }
    treatment_tick(&chain->treatment, t_last, &chain->next_id, to_sink, &dctx);
}

__attribute__((hot)) static void on_samples(chain_t *chain, const frame_t *frame, double t_arrival,
                                            const chain_sink_t *sink)
{
    if (!chain->have_hello) {
        chain->counters.frames_before_hello++;
        return;
    }
    const frame_hello_t *h = &chain->hello;
    message_block_t block;
    block.n = frame->u.samples.count;
    for (unsigned i = 0; i < block.n; i++) {
        const frame_sample_t *raw = &frame->u.samples.s[i];
        sample_t *s = &block.s[i];
        s->p = (float)raw->p * h->p_scale;
        for (int a = 0; a < 3; a++) {
            s->acc[a] = (float)raw->acc[a] * h->acc_scale;
            s->gyr[a] = (float)raw->gyr[a] * h->gyr_scale;
        }
    }
    on_block(chain, frame->t_us, chain->samples_follow, &block, t_arrival, sink);
    chain->samples_follow = true;
}

void chain_block(chain_t *chain, uint32_t t_us, message_block_t *block, double t_arrival,
                 const chain_sink_t *sink)
{
    if (block->n == 0 || block->n > FRAME_MAX_SAMPLES)
        return;
    if (!chain->have_hello) {
        chain->counters.frames_before_hello++;
        return;
    }
    on_block(chain, t_us, false, block, t_arrival, sink);
}

__attribute__((hot)) void chain_frame(chain_t *chain, const frame_t *frame, double t_arrival,
                                      const chain_sink_t *sink)
{
    /* A frame missing from `seq` may have held samples: the next block is
     * then placed by its stamp alone. */
    if (!chain->have_seq || (uint16_t)(frame->seq - chain->last_seq) != 1)
        chain->samples_follow = false;
    chain->have_seq = true;
    chain->last_seq = frame->seq;
    switch (frame->type) {
    case FRAME_HELLO:
        on_hello(chain, frame, t_arrival, sink);
        break;
    case FRAME_SAMPLES:
        on_samples(chain, frame, t_arrival, sink);
        break;
    case FRAME_STATUS:
        chain->status = frame->u.status;
        chain->have_status = true;
        frame_time(chain, frame->t_us);
        break;
    case FRAME_BUTTON:
        if (frame->u.button == 1) {
            double t_dev = frame_time(chain, frame->t_us);
            emit_instant(chain, "mark", t_dev, chain_to_host(chain, t_dev), sink);
            detector_ctx_t dctx = {chain, sink};
            if (chain->analysis)
                analysis_mark(chain->analysis, t_dev, &chain->next_id, on_detector_event, &dctx);
        }
        break;
    default:
        break;
    }
}

void chain_disconnected(chain_t *chain, double t_host, const chain_sink_t *sink)
{
    if (!chain->streaming)
        return;
    chain->streaming = false;
    detector_ctx_t dctx = {chain, sink};
    if (chain->analysis)
        analysis_finish(chain->analysis, &chain->next_id, on_detector_event, &dctx);
    chain->bridge_n = 0;
    emit_instant(chain, "disconnected", chain->last_t_dev, t_host, sink);
}

void chain_end_session(chain_t *chain, treatment_end_t reason, const chain_sink_t *sink)
{
    detector_ctx_t dctx = {chain, sink};
    treatment_end(&chain->treatment, chain->last_t_dev, reason, &chain->next_id, to_sink, &dctx);
}
