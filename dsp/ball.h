/* ball: the massage ball's detectors. Turns the ball's pressure and IMU
 * stream into the events of a trigger-point session: roll (rolled along the
 * body under load, searching), hold (stopped on one spot under load), flex
 * (during a hold the muscle contracts: the load rises and mechanomyographic
 * vibration appears in the 5-50 Hz band) and rock (during a hold, rhythmic
 * side-to-side rotation at 0.3-3 Hz). docs/DSP.md ("Ball detectors") gives
 * the method, every threshold and every field.
 *
 * Causal: every decision uses only samples already pushed. A start event's
 * t_dev is the estimated onset, which may lie before the sample at which it
 * is published; the start carries "t_decided_dev", the device time of that
 * sample. An end event carries t_start_dev (its start's t_dev) and, when
 * published, t_dev = the estimated end, which may also lie in the past.
 *
 * All memory is allocated once in ball_create(); pushing never allocates.
 * Thresholds adapt on line to the person, ball and load (the unloaded
 * pressure, the hold's resting pressure, the hold's noise floor in the band
 * and its rotation floor); the settings are ratios and physical floors.
 * The same input always gives the same events. A ball_t belongs to one
 * thread (the one that owns the device's chain).
 */
#ifndef MASSAGED_BALL_H
#define MASSAGED_BALL_H

#include <stdint.h>

#include "event.h"
#include "sample.h"

typedef struct {
    /* Load: pressure above the unloaded ball's pressure. */
    float load_on_pa;  /* loaded above this rise, pascal */
    float load_off_pa; /* unloaded below this rise, pascal (< load_on_pa) */
    float settle_s;    /* a load-on with no motion for this long becomes a hold */

    /* Rotation (roll and rock). */
    float rate_low_dps;   /* floor of the "still" rotation level, deg/s */
    float rate_high_dps;  /* floor of the "moving" rotation level, deg/s */
    float rate_floor_k;   /* the low level is at least this many times the still rotation's
                             rms (the high level 1.5625 times that) */
    float quiet_s;        /* a motion episode ends after this long still */
    float roll_angle_deg; /* an episode turning the ball this far from its start is a roll */
    int rock_crossings;   /* an episode reversing this often (and not a roll) is a rock */

    /* Flex. */
    float window_s;   /* STFT frame length, seconds (rounded to a power of two) */
    float hop_s;      /* STFT hop, seconds */
    float band_lo_hz; /* mechanomyographic band, hertz */
    float band_hi_hz;
    float detect_lo_hz;  /* a flex starts on the band power above this (and up to
                            band_hi_hz): the lowest bins carry the leakage of load
                            changes and the 8-12 Hz tremor */
    float power_ratio;   /* band power over the hold's baseline to start a flex */
    float rise_fraction; /* pressure rise over the hold's resting load pressure to start */
    float end_fraction;  /* a flex ends when its rise falls below this share of its peak */
    float min_flex_s;    /* shorter flexes are dropped */
} ball_settings_t;

/* The values docs/DSP.md documents (2.5 kPa on / 1.5 kPa off, 10 and 3 deg/s,
 * 45 degrees, 128 ms frames every 32 ms, 5-50 Hz, 4x band power and 1.5 %
 * rise). */
extern const ball_settings_t ball_default;

typedef struct ball ball_t;

/* Creates the detectors for a stream of rate_hz samples per second
 * (100..10000). Allocates everything here, once. Returns NULL for bad
 * settings or when out of memory. */
ball_t *ball_create(const ball_settings_t *s, float rate_hz);

/* Frees it; accepts NULL and NULLs the caller's pointer. */
void ball_destroy(ball_t **b);

/* One sample, in device time order. Events go to sink synchronously; a
 * start takes its id from (*next_id)++ and its end reuses it. */
void ball_push(ball_t *b, const sample_t *s, uint32_t *next_id, event_sink_fn sink, void *ctx);

/* Samples were lost before t_dev_resume: open intervals end at the last
 * sample seen and the detectors start afresh (their filters would
 * otherwise bridge the hole). */
void ball_gap(ball_t *b, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
              event_sink_fn sink, void *ctx);

/* The button was pressed at t_dev. Counted into the open hold's "marks". */
void ball_mark(ball_t *b, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx);

/* The stream ended: open intervals end at the last sample's time. */
void ball_finish(ball_t *b, uint32_t *next_id, event_sink_fn sink, void *ctx);

#endif
