/* Tests of the chain's two ways in (daemon/chain): a session of simulated
 * device frames goes through chain_frame, the way live frames do; then the
 * same session goes through a second chain the way a replay feeds it, the
 * HELLO and button frames as frames and every block through chain_block with
 * the values the first chain passed on (what a recording holds). Both chains
 * must hand on the same messages: every raw and event message is formatted
 * with the daemon's own formatter and compared byte for byte, and the
 * counters must agree. The session has lost frames (every 97th frame is left
 * out, so the index and the detectors' gap handling are part of it) and the
 * device's clock drifts 80 ppm against the host's. */
#include "chain.h"
#include "check.h"
#include "grow.h"
#include "message.h"
#include "session.h"
#include "sim_device.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SECONDS 90.0
#define PER_FRAME 10
#define SKIP_EVERY 97
#define T_HOST0 1.8e9

typedef struct {
    frame_t frame;
    double t_arrival;
} input_t;

typedef struct {
    char **msgs;
    size_t n, cap;
    size_t events;
    device_kind_t kind;
    unsigned rate_hz;
    message_block_t *blocks; /* the first run's blocks, the second run's input */
    size_t n_blocks, cap_blocks;
} output_t;

/* Appends an item to one of the test's arrays (util/grow); the test ends
 * when out of memory. */
#define APPEND(items, cap, n, ...)                                                                 \
    do {                                                                                           \
        if (GROW_APPEND(items, cap, n, 4096, __VA_ARGS__) != 0)                                    \
            abort();                                                                               \
    } while (0)

static void keep(output_t *o, const char *text, int len)
{
    CHECK(len > 0);
    if (len <= 0)
        return;
    APPEND(o->msgs, o->cap, o->n, strndup(text, (size_t)len));
}

static void on_block(void *ctx, const message_block_t *block)
{
    output_t *o = ctx;
    static char buf[MESSAGE_MAX];
    keep(o, buf, message_raw(buf, sizeof buf, "dev", o->kind, o->rate_hz, block));
    APPEND(o->blocks, o->cap_blocks, o->n_blocks, *block);
}

static void on_event(void *ctx, const event_t *event, double t_host)
{
    output_t *o = ctx;
    static char buf[MESSAGE_MAX];
    o->events++;
    keep(o, buf, message_event(buf, sizeof buf, "dev", o->kind, event, t_host));
}

typedef struct {
    input_t *in;
    size_t n, cap, sample_frames;
    unsigned skip_every; /* 0: none */
    int jitter_us;       /* samples frames stamped up to this far off (0: exactly) */
    uint16_t seq;        /* of the next frame the device sends */
    uint32_t rng;
} inputs_t;

/* Keeps a frame with the host time it arrives at (device clock 80 ppm fast,
 * 2 ms on the way), numbered in `seq` as the device sends it, leaving out
 * every skip_every-th samples frame and stamping samples frames off by up to
 * jitter_us either way. */
static void keep_frame(void *ctx, frame_t *f, double t_dev)
{
    inputs_t *x = ctx;
    f->seq = x->seq++;
    if (f->type == FRAME_SAMPLES && x->skip_every && ++x->sample_frames % x->skip_every == 0)
        return;
    if (f->type == FRAME_SAMPLES && x->jitter_us > 0) {
        x->rng = x->rng * 1664525u + 1013904223u;
        f->t_us += (uint32_t)((int)(x->rng >> 8) % (2 * x->jitter_us + 1) - x->jitter_us);
    }
    APPEND(x->in, x->cap, x->n, (input_t){*f, T_HOST0 + t_dev * (1.0 - 80e-6) + 0.002});
}

/* The frames a simulated tool of this kind sends in SECONDS, each with the
 * host time it arrives at, every skip_every-th samples frame left out (0:
 * none), stamped up to jitter_us off. Returns the number of frames. */
static size_t simulate(device_kind_t kind, unsigned skip_every, int jitter_us, input_t **out)
{
    session_settings_t set;
    session_settings_default(&set, kind, 11, SECONDS);
    set.samples_per_frame = PER_FRAME;
    inputs_t x = {.skip_every = skip_every, .jitter_us = jitter_us, .rng = 7};
    CHECK_EQ_INT(session_frames(&set, NULL, NULL, keep_frame, &x), 0);
    *out = x.in;
    return x.n;
}

static void free_output(output_t *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->msgs[i]);
    free(o->msgs);
    free(o->blocks);
}

static void same_through_both_ways(device_kind_t kind, int jitter_us)
{
    input_t *in = NULL;
    size_t n = simulate(kind, SKIP_EVERY, jitter_us, &in);
    unsigned rate = in[0].frame.u.hello.rate_hz;

    output_t live = {.kind = kind, .rate_hz = rate};
    chain_sink_t live_sink = {on_block, on_event, &live};
    chain_t a;
    chain_init(&a, "dev", kind);
    chain_port_opened(&a);
    for (size_t i = 0; i < n; i++)
        chain_frame(&a, &in[i].frame, in[i].t_arrival, &live_sink);
    chain_disconnected(&a, in[n - 1].t_arrival + 0.1, &live_sink);

    output_t replay = {.kind = kind, .rate_hz = rate};
    chain_sink_t replay_sink = {on_block, on_event, &replay};
    chain_t b;
    chain_init(&b, "dev", kind);
    chain_port_opened(&b);
    size_t next_block = 0;
    for (size_t i = 0; i < n; i++) {
        const frame_t *f = &in[i].frame;
        if (f->type != FRAME_SAMPLES) {
            chain_frame(&b, f, in[i].t_arrival, &replay_sink);
            continue;
        }
        CHECK(next_block < live.n_blocks);
        if (next_block >= live.n_blocks)
            break;
        /* a recording holds the block's time, not the frame's t_us */
        const message_block_t *recorded = &live.blocks[next_block++];
        uint32_t t_us = (uint32_t)(uint64_t)llround(recorded->t_dev * 1e6);
        message_block_t block;
        block.n = f->u.samples.count;
        memcpy(block.s, recorded->s, sizeof block.s);
        for (unsigned s = 0; s < block.n; s++)
            block.s[s].t_dev = -1.0; /* the chain must set it */
        block.i0 = 0;
        block.t_dev = block.t_host = 0.0;
        chain_block(&b, t_us, &block, in[i].t_arrival, &replay_sink);
    }
    chain_disconnected(&b, in[n - 1].t_arrival + 0.1, &replay_sink);

    fprintf(stderr,
            "%s, stamps up to %d us off: %zu frames, %zu blocks, %zu messages of which %zu "
            "events, %llu lost, %llu stamps off\n",
            kind == DEVICE_KIND_BALL ? "ball" : "scraper", jitter_us, n, live.n_blocks, live.n,
            live.events, (unsigned long long)a.counters.samples_lost,
            (unsigned long long)a.counters.stamps_off);
    CHECK(live.events >= 10); /* detections, connected, marks, disconnected */
    /* Only the lost frames' samples are lost (a stamp after a loss may be
     * off by the jitter's samples); frames that follow are placed by seq,
     * never overlap, and their samples' times keep increasing. */
    uint64_t skipped = (live.n_blocks + live.n_blocks / (SKIP_EVERY - 1)) / SKIP_EVERY;
    uint64_t slack = skipped * (uint64_t)(2 * jitter_us * rate / 1000000 + 1);
    CHECK(a.counters.samples_lost + slack >= skipped * PER_FRAME);
    CHECK(a.counters.samples_lost <= skipped * PER_FRAME + slack);
    CHECK_EQ_INT(a.counters.index_errors, 0);
    if (jitter_us * (int)rate > 500000)
        CHECK(a.counters.stamps_off > live.n_blocks / 4);
    else
        CHECK_EQ_INT(a.counters.stamps_off, 0);
    size_t backwards = 0;
    for (size_t i = 1; i < live.n_blocks; i++)
        backwards += live.blocks[i].s[0].t_dev <= live.blocks[i - 1].s[PER_FRAME - 1].t_dev;
    CHECK_EQ_INT(backwards, 0);
    CHECK_EQ_INT(replay.n, live.n);
    CHECK_EQ_INT(replay.events, live.events);
    size_t differ = 0;
    for (size_t i = 0; i < live.n && i < replay.n; i++)
        if (strcmp(live.msgs[i], replay.msgs[i]) != 0 && differ++ < 3)
            CHECK_STR(replay.msgs[i], live.msgs[i]);
    CHECK_EQ_INT(differ, 0);
    CHECK_EQ_INT(b.counters.samples, a.counters.samples);
    CHECK_EQ_INT(b.counters.samples_lost, a.counters.samples_lost);
    CHECK_EQ_INT(b.counters.index_errors, a.counters.index_errors);
    CHECK_EQ_INT(b.next_id, a.next_id);
    chain_destroy(&a);
    chain_destroy(&b);
    free_output(&live);
    free_output(&replay);
    free(in);
}

/* A block before any HELLO has no scales and no rate: counted, not passed
 * on; a block of no samples or more than a frame holds is ignored. */
static void block_refused(void)
{
    output_t o = {.kind = DEVICE_KIND_BALL, .rate_hz = 1000};
    chain_sink_t sink = {on_block, on_event, &o};
    chain_t c;
    chain_init(&c, "dev", DEVICE_KIND_BALL);
    chain_port_opened(&c);
    message_block_t block;
    memset(&block, 0, sizeof block);
    block.n = 5;
    chain_block(&c, 1000, &block, T_HOST0, &sink);
    CHECK_EQ_INT(c.counters.frames_before_hello, 1);
    CHECK_EQ_INT(o.n, 0);

    sim_device_t dev;
    sim_device_init(&dev, DEVICE_KIND_BALL, 1000, "SIM-CHAIN");
    frame_t hello;
    sim_device_hello(&dev, 0, &hello);
    chain_frame(&c, &hello, T_HOST0, &sink);
    CHECK_EQ_INT(o.n, 1); /* connected */
    block.n = 0;
    chain_block(&c, 1000, &block, T_HOST0, &sink);
    block.n = FRAME_MAX_SAMPLES + 1;
    chain_block(&c, 1000, &block, T_HOST0, &sink);
    CHECK_EQ_INT(o.n, 1);
    CHECK_EQ_INT(c.counters.samples, 0);
    block.n = FRAME_MAX_SAMPLES;
    chain_block(&c, 1000, &block, T_HOST0 + 0.03, &sink);
    CHECK_EQ_INT(o.n, 2);
    CHECK_EQ_INT(c.counters.samples, FRAME_MAX_SAMPLES);
    CHECK_EQ_INT(o.blocks[0].i0, 0);
    CHECK_NEAR(o.blocks[0].s[FRAME_MAX_SAMPLES - 1].t_dev, 0.001 + 0.029, 1e-12);
    chain_destroy(&c);
    free_output(&o);
}

/* The detections of a run: each one's type and start time. */
typedef struct {
    const char *type[256];
    double t[256];
    size_t n;
} starts_t;

static void no_block(void *ctx, const message_block_t *block)
{
    (void)ctx, (void)block;
}

static void keep_start(void *ctx, const event_t *e, double t_host)
{
    (void)t_host;
    starts_t *s = ctx;
    static const char *const detections[] = {"hold", "flex", "roll", "rock", "stroke"};
    for (size_t k = 0; k < sizeof detections / sizeof detections[0]; k++)
        if (strcmp(e->type, detections[k]) == 0 && s->n < 256 &&
            (e->phase == EVENT_START || strcmp(e->type, "stroke") == 0)) {
            s->type[s->n] = e->type; /* a stroke is published at its end only */
            s->t[s->n++] = e->phase == EVENT_END ? e->t_start_dev : e->t_dev;
        }
}

/* The frames through a fresh chain, leaving out the samples frames from
 * number drop_from (counted from 0) to before drop_to. */
static void run_starts(device_kind_t kind, const input_t *in, size_t n, size_t drop_from,
                       size_t drop_to, starts_t *out, uint64_t *lost)
{
    memset(out, 0, sizeof *out);
    chain_sink_t sink = {no_block, keep_start, out};
    chain_t c;
    chain_init(&c, "dev", kind);
    chain_port_opened(&c);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].frame.type == FRAME_SAMPLES && k++ >= drop_from && k <= drop_to)
            continue;
        chain_frame(&c, &in[i].frame, in[i].t_arrival, &sink);
    }
    chain_disconnected(&c, in[n - 1].t_arrival + 0.1, &sink);
    *lost = c.counters.samples_lost;
    chain_destroy(&c);
}

/* Lost frames and the detectors (dsp/sample.h, SAMPLE_BRIDGE_MAX_S): with a
 * frame in every SKIP_EVERY lost, the detections start as they do with
 * every frame (same types in the same order, within 40 ms); before the
 * bridge each lost frame ended the ball's hold and flex and dropped the
 * scraper's stroke. A loss longer than the bridge inside the ball's first
 * hold ends that hold, and a new one starts after it. */
static void lost_frames_bridged(device_kind_t kind)
{
    input_t *whole = NULL, *lossy = NULL;
    size_t n_whole = simulate(kind, 0, 0, &whole), n_lossy = simulate(kind, SKIP_EVERY, 0, &lossy);
    starts_t *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    uint64_t lost_a = 0, lost_b = 0;
    run_starts(kind, whole, n_whole, SIZE_MAX, SIZE_MAX, a, &lost_a);
    run_starts(kind, lossy, n_lossy, SIZE_MAX, SIZE_MAX, b, &lost_b);
    fprintf(stderr, "%s: %zu detections with every frame, %zu with %llu samples lost\n",
            kind == DEVICE_KIND_BALL ? "ball" : "scraper", a->n, b->n,
            (unsigned long long)lost_b);
    CHECK_EQ_INT(lost_a, 0);
    CHECK(lost_b >= 40 * PER_FRAME);
    CHECK(a->n >= 10);
    CHECK_EQ_INT(b->n, a->n);
    for (size_t i = 0; i < a->n && i < b->n; i++) {
        CHECK_STR(b->type[i], a->type[i]);
        CHECK_NEAR(b->t[i], a->t[i], 0.04);
    }
    if (kind == DEVICE_KIND_BALL) {
        /* 40 frames (0.4 s) lost from 2 s into the first hold. */
        size_t first_hold = 0, holds = 0;
        while (first_hold < a->n && strcmp(a->type[first_hold], "hold") != 0)
            first_hold++;
        for (size_t i = 0; i < a->n; i++)
            holds += strcmp(a->type[i], "hold") == 0;
        CHECK(first_hold < a->n);
        unsigned rate = whole[0].frame.u.hello.rate_hz;
        size_t from = (size_t)((a->t[first_hold] + 2.0) * rate / PER_FRAME);
        run_starts(kind, whole, n_whole, from, from + 40, b, &lost_b);
        size_t holds_b = 0;
        for (size_t i = 0; i < b->n; i++)
            holds_b += strcmp(b->type[i], "hold") == 0;
        CHECK_EQ_INT(lost_b, 40 * PER_FRAME);
        CHECK_EQ_INT(holds_b, holds + 1);
    }
    free(a);
    free(b);
    free(whole);
    free(lossy);
}

int main(void)
{
    same_through_both_ways(DEVICE_KIND_BALL, 0);
    same_through_both_ways(DEVICE_KIND_SCRAPER, 0);
    same_through_both_ways(DEVICE_KIND_BALL, 2000);
    same_through_both_ways(DEVICE_KIND_SCRAPER, 2000);
    block_refused();
    lost_frames_bridged(DEVICE_KIND_BALL);
    lost_frames_bridged(DEVICE_KIND_SCRAPER);
    return CHECK_DONE();
}
