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
#include "frame.h"
#include "sim_ball.h"
#include "sim_scraper.h"

#include <stdint.h>

typedef struct {
    device_kind_t kind;
    uint64_t seed;
    unsigned samples_per_frame;     /* 1..30 */
    float p_scale_factor;           /* the HELLO's pressure/force scale, times the
                                       simulated tool's (1 Pa or 1 mN per LSB); 1 = as is */
    double frame_loss;              /* share of SAMPLES frames lost in transit, 0..1: their
                                       seq is used, their bytes never arrive; 0 = none */
    double stamp_jitter_us;         /* a SAMPLES frame's t_us off its first sample's time by
                                       up to this either way (uniform), 0..100000 */
    sim_ball_settings_t ball;       /* used when kind is ball */
    sim_scraper_settings_t scraper; /* used when kind is scraper (duration_s must be > 0) */
} session_settings_t;

/* 0 when a frame_loss and a stamp_jitter_us are within their bounds
 * (session_settings_t), else -EINVAL. */
int session_link_check(double frame_loss, double stamp_jitter_us);

/* Defaults: the simulators' defaults, 10 samples a frame, the tools' scales. */
void session_settings_default(session_settings_t *s, device_kind_t kind, uint64_t seed,
                              double duration_s);

/* Sets the hard-case flags of the kind's simulator (SIM_BALL_* for a ball,
 * SIM_SCRAPER_* for a scraper); session_settings_hard reads them. */
void session_settings_hard_cases(session_settings_t *s, int flags);
int session_settings_hard(const session_settings_t *s);

typedef struct {
    event_sink_fn truth; /* every true interval or instant, from the physics */
    void *truth_ctx;
    /* every event the pipeline published, with its host time */
    void (*event)(void *ctx, const event_t *event, double t_host);
    void *event_ctx;
} session_output_t;

typedef struct {
    uint64_t samples;     /* samples simulated */
    uint64_t samples_out; /* samples the chain passed on */
    uint64_t frames;
    uint64_t frames_lost; /* SAMPLES frames dropped (frame_loss) */
    uint64_t bytes;
} session_stats_t;

/* Receives one frame (seq left for the receiver to set; valid during the
 * call only) and the device time of the newest sample it follows (0 for the
 * HELLO). */
typedef void (*session_frame_fn)(void *ctx, frame_t *frame, double t_dev);

/* Produces the frames the simulated tool sends, in order: the HELLO at device
 * time 0, SAMPLES frames of samples_per_frame samples (the session's last may
 * be shorter) and a BUTTON frame at each press and release, the samples
 * quantised by the simulated firmware (sim_device). The physics' truth goes to
 * truth (may be NULL). One allocation for the simulator's state, none per
 * sample. Returns 0, -EINVAL for settings out of range, or -ENOMEM. */
int session_frames(const session_settings_t *settings, event_sink_fn truth, void *truth_ctx,
                   session_frame_fn frame, void *ctx);

/* Runs the whole session (session_frames, encoded, through the decoder and a
 * chain); returns 0 or a negative errno. */
int session_run(const session_settings_t *settings, const session_output_t *out,
                session_stats_t *stats);

#endif
