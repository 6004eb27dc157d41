/* session: runs one simulated session through the daemon's real processing,
 * offline and as fast as the CPU allows.
 *
 * The physics model of a tool produces samples and its ground truth; the
 * simulated firmware (sim_device) frames them; the frames are COBS-encoded
 * and fed byte by byte through the daemon's decoder, then through the same
 * chain (scales, clocks, indices, detectors) the pipeline thread runs. Only
 * the threads, rings and ZeroMQ are left out. Used by the accuracy scorers
 * and the benchmarks.
 */
#ifndef MASSAGED_SESSION_H
#define MASSAGED_SESSION_H

#include "config.h"
#include "event.h"
#include "sim_ball.h"
#include "sim_scraper.h"

#include <stdint.h>

typedef struct {
    device_kind_t kind;
    uint64_t seed;
    unsigned samples_per_frame;     /* 1..30 */
    sim_ball_settings_t ball;       /* used when kind is ball */
    sim_scraper_settings_t scraper; /* used when kind is scraper (duration_s must be > 0) */
} session_settings_t;

/* Defaults: the simulators' defaults, 10 samples a frame. */
void session_settings_default(session_settings_t *s, device_kind_t kind, uint64_t seed,
                              double duration_s);

typedef struct {
    event_sink_fn truth;   /* every true interval or instant, from the physics */
    void *truth_ctx;
    /* every event the pipeline published, with its host time */
    void (*event)(void *ctx, const event_t *event, double t_host);
    void *event_ctx;
} session_output_t;

typedef struct {
    uint64_t samples;       /* samples simulated */
    uint64_t samples_out;   /* samples the chain passed on */
    uint64_t frames;
    uint64_t bytes;
} session_stats_t;

/* Runs the whole session; returns 0 or a negative errno. */
int session_run(const session_settings_t *settings, const session_output_t *out,
                session_stats_t *stats);

#endif
