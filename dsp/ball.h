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
 * The spectra live in caller memory (ball_mem_size, ball_init); pushing
 * never allocates and does no division by a setting.
 * Thresholds adapt on line to the person, ball and load (the unloaded
 * pressure, the hold's resting pressure, the hold's noise floor in the band
 * and its rotation floor); the settings are ratios and physical floors.
 * The same input always gives the same events. A ball_t belongs to one
 * thread (the one that owns the device's chain).
 */
#ifndef MASSAGED_BALL_H
#define MASSAGED_BALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "biquad.h"
#include "event.h"
#include "sample.h"
#include "spectrum.h"
#include "stft.h"

typedef struct {
    /* Load: pressure above the unloaded ball's pressure. */
    float load_on_pa;      /* loaded above this rise, pascal */
    float load_off_pa;     /* unloaded below this rise, pascal (< load_on_pa) */
    double load_off_share; /* ... or below this share of the load's pressure (0..1) */
    double load_tau_s;     /* the load's pressure follows the rise while loaded, seconds */
    float settle_s;        /* a load-on with no motion for this long becomes a hold */

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
    float detect_lo_hz;   /* a flex starts on the band power above this (and up to
                             band_hi_hz): the lowest bins carry the leakage of load
                             changes and the 8-12 Hz tremor */
    float power_ratio;    /* band power over the hold's baseline to start a flex */
    double breadth_ratio; /* ... and the geometric mean over the detection band's bins of
                             each bin's power over its own baseline above this: a
                             contraction's MMG is broadband, a tremor's peak narrow */
    float rise_fraction;  /* pressure rise over the hold's resting load pressure to start */
    double ramp_z;        /* ... or, with weaker vibration (sqrt(power_ratio), breadth over 1),
                             the smoothed pressure rising this many times faster than the
                             hold's resting slope rms (breathing, sway): a contraction's ramp;
                             a slow ramp, over 80 ms against that slope's own resting rms,
                             with the band leaning up over three frames instead */
    float end_fraction;   /* a flex ends when its rise falls below this share of its level
                             (the plateau, followed slowly; dsp/ball.c, flex_sample) */
    double relax_z;       /* ... after a fall steeper than this many times the hold's resting
                             slope rms since it was last near its level */
    float min_flex_s;     /* shorter flexes are dropped */

    /* Front end and adaptation: corners and time constants. */
    double pressure_lp_hz;   /* corner of the pressure smoothing (Butterworth, order 2), Hz */
    double rate_lp_hz;       /* corner of the rotation rate smoothing (order 2), Hz */
    double unloaded_tau_s;   /* the unloaded pressure follows the unloaded ball, seconds */
    double rest_tau_s;       /* the hold's resting pressure follows the hold, seconds */
    double gyro_bias_tau_s;  /* the gyroscope bias is learnt while still, seconds */
    double sway_tau_s;       /* the still rotation's mean square follows the hold, seconds */
    double sway_max_dps;     /* rotation faster than this is not postural sway, deg/s */
    double baseline_tau_s;   /* the band power baselines follow the hold, seconds */
    double baseline_ready_s; /* a hold's baseline decides once it has seen this long, s */
    double slope_tau_s;      /* the hold's resting slope rms follows the hold, seconds */

    /* Hold after a roll, and flex timing. */
    double hold_confirm_s;     /* a hold after a roll is published once loaded this long after */
    double hold_confirm_share; /* ... with the load at least this share of the roll's end load */
    double hold_confirm_max_s; /* ... or after this long whatever the load, seconds */
    double lookback_s;         /* a flex onset is searched this far back, seconds */
    double steep_s;            /* ... from the steepest slope of this last part, seconds */
    double vib_gone_s;         /* a flex whose vibration has been gone this long ends, s */
    double restart_s;          /* a flex quiet this long may be followed by a new one, s */
    double louder_after_s;     /* a flex open this long ... */
    double louder_ratio;       /* ... gives way to a new one on a frame whose band ratio is
                                  this many times its own mean (and over power_ratio^2) */
} ball_settings_t;

/* The values docs/DSP.md documents (2.0 kPa on / 1.2 kPa off, 10 and 3 deg/s,
 * 45 degrees, 128 ms frames every 32 ms, 5-50 Hz, 4x band power and 1.5 %
 * rise, a ramp 5x the resting slope; 8 Hz smoothing, and the time constants
 * listed there). */
extern const ball_settings_t ball_default;

#define BALL_AR_ORDER 4 /* order of the hold's slow pressure predictor */
#define BALL_FR_LEN 32  /* frames of smoothed pressure kept for it */

/* An interval event that has been started and not yet ended. */
typedef struct {
    int open;
    uint32_t id;
    double t_start; /* seconds, the start's t_dev */
} ball_interval_t;

/* A motion episode: rotation above the high level until it has been below
 * the low level for quiet_s. */
typedef struct {
    int active, kind;
    double t_onset, t_last_active; /* seconds */
    double theta[3];               /* rotation since the onset, degrees */
    float axis[3];                 /* unit rotation axis at the onset */
    double ang, ang_min, ang_max;  /* rotation about axis, degrees */
    int sign, crossings;
    double t_first_cross, t_last_cross; /* seconds */
} ball_episode_t;

/* Entries of the smoothed pressure's history (for looking back). */
#define BALL_HIST_LEN 1024
#define BALL_COARSE_LEN 1024 /* entries of the coarse history: 20 s at 20 ms */

typedef struct {
    /* Read-only for the caller. */
    ball_settings_t set;
    double fs, dt; /* hertz, seconds per sample */
    double t_last; /* time of the last sample, seconds */
    int have_sample;

    /* Front end. */
    biquad_cascade_t p_lp, p_hp, a_hp, rate_lp;
    double smooth_delay_s; /* group delay of the pressure smoothing at DC, seconds */
    double gyr_bias[3];    /* deg/s */
    double bias_a;         /* EMA weights per sample */
    double p0;             /* unloaded pressure, pascal */
    double p0_a;
    double p_lp_value; /* smoothed pressure, pascal */
    int loaded;
    double load_pa, load_a; /* the load's pressure (rise) while loaded, and its EMA weight */

    /* History of the smoothed pressure, for onset search (the entries are
     * at the end of the structure). */
    unsigned hist_pos, hist_n, hist_dec, hist_count;

    /* Rotation. */
    double rate;      /* smoothed rotation rate, deg/s */
    double rate_ms;   /* the hold's still rotation, mean square, (deg/s)^2 */
    double rate_ms_a; /* its EMA weight per sample */
    double t_below;   /* last time the rate was below the low level */
    double t_climb;   /* start of the rate's last climb, seconds ... */
    double climb_min, climb_peak; /* ... its least and highest rate since, deg/s */
    double rate_frame; /* the rate at the hold's previous spectrum frame, deg/s */
    double frame_pp, frame_pa; /* the last frame's band powers, pascal^2 and g^2 ... */
    double frame_ratio, frame_ratio_full; /* ... and band ratios (detection band, whole band) */
    ball_episode_t ep;

    /* State. */
    int state;
    int after_roll;       /* pending: a roll just ended */
    double roll_end_t;    /* ... at this time, seconds */
    double roll_end_rise; /* ... with this load pressure, pascal */
    double t_loaded;      /* when the load came on */
    double t_still;       /* since when nothing has moved */
    ball_interval_t roll, hold, flex, rock;

    /* Hold: resting pressure and analytics. */
    double hb, hb_a; /* resting pressure, pascal, and its EMA weight */
    double level;    /* hold's load pressure, pascal (hb - p0) */
    double level0;
    double t_half_down; /* last crossing below half the level */
    double under_load_s;
    int flex_count, rock_count, marks;
    double flex_total_s;
    double sx, sxx, sy_rest, sxy_rest, sy_rise, sxy_rise;
    double first_rise;
    double rate_sum;
    uint64_t rate_n;

    /* Flex. */
    stft_t sp, sa; /* spectra of the band-passed pressure and acceleration */
    spectrum_band_t band, detect;
    double base_p, base_a; /* band power baselines: pascal^2, g^2 */
    double base_d;         /* baseline of the detection band, pascal^2 */
    float *base_bins;      /* per-bin baselines of the pressure spectrum, pascal^2 (caller
                              memory, n_bins) */
    double bin_floor;      /* least per-bin baseline, pascal^2 */
    double breadth;        /* the last frame's geometric mean of per-bin ratios */
    int base_frames;
    int base_ready_samples; /* samples of baseline before it decides */
    double base_a_w;        /* baseline EMA weight per frame */
    double fall_min;        /* steepest fall of the smoothed pressure since the open flex was
                               last near its peak, pascal per second */
    double slope_ms;        /* the hold's resting slope of the smoothed pressure, mean square,
                               (pascal/s)^2 */
    double slope_w;         /* its EMA weight per frame */
    double jitter_ms;       /* the hold's resting mean square of the 20 ms slope less the
                               40 ms slope: the sensor noise's share of a slope, (pascal/s)^2 */
    double slow_ms;         /* the hold's resting mean square of the 80 ms slope (the slow
                               ramp's), learnt as slope_ms is, (pascal/s)^2 */
    double flex_rest;       /* resting pressure before the flex */
    double r_peak, t80, t50;
    double relax_t;         /* the open flex's relax (its foot), seen but not yet held for
                               RELAX_HOLD_S; 0: none */
    double relax_seen;      /* when it was seen, seconds */
    double r_lvl;           /* the open flex's rise followed slowly (PLATEAU_TAU_S): its
                               level, which an effort that wanders crosses less often
                               than its peak */
    double sum_p, sum_a, sum_ratio, sum_med; /* the open flex's frames (or, while no
                                                flex is open, a candidate's: cand_frame) */
    int n_frames, n_med;
    double prev_ratio; /* ... and in the frame before it (0 when none) */
    double ratio_s;    /* band ratio smoothed over a few frames, in a flex */
    double t_vib;      /* last frame of the flex with its vibration present (over
                          power_ratio^(1/4)) */
    double t_vib_lag;  /* t_vib one frame earlier (before a new burst) */
    int quiet_checked; /* the open flex's quiet spell was looked at for a relax */
    double loud_ratio, loud_breadth; /* band ratio and breadth, smoothed (flex_frame) */
    double loud_t;     /* the first frame of the run over the loud levels, no flex open */
    unsigned loud_n;   /* frames in that run (0: none) */
    double flex_t_end; /* end of the hold's last flex, seconds */
    /* A pressure pulse with no vibration, not yet a flex (cand_frame). */
    int cand;                     /* one is pending */
    double cand_t0, cand_rest;    /* its onset, seconds; the pressure before it, pascal */
    double cand_peak, cand_t80;   /* its highest rise, pascal; when last near it, seconds */
    double cand_fall;             /* steepest 40 ms fall since then, pascal per second */
    int falling;                  /* a steep fall is under way (box_frame) ... */
    double fall_t0;               /* ... since this time, seconds */
    double t_ready;               /* the hold's first frame that box_frame saw ready, seconds */

    /* The hold's slow pressure (breathing, sway) predicted at frame rate
     * (docs/DSP.md "Flex"): an AR model with an intercept, fitted by
     * recursive least squares on frames that are not a rise. */
    double ar[BALL_AR_ORDER + 1];                        /* coefficients, intercept last */
    double ar_p[BALL_AR_ORDER + 1][BALL_AR_ORDER + 1];   /* inverse correlation */
    double fr[BALL_FR_LEN]; /* smoothed pressure at the last frames over level0 */
    unsigned fr_pos, fr_n;
    double fr_t;       /* time of the newest frame, seconds */
    int pred_frames;   /* frames the predictor has learnt from (from the first hold that
                          learnt, the next holds start at PRED_LEARN_FRAMES) */
    double res_ms;     /* its residual's mean square at rest, pascal^2 */
    double res_z;      /* the newest frame's residual over its rest rms (0 until its frames fill) */
    double res_rel;    /* res_ms over the hold's first load squared (carried to the next hold) */
    double pred_slope; /* breathing's and sway's slope it predicts now, pascal/s */
    double fr_slope[BALL_FR_LEN]; /* pred_slope at each of those frames */

    /* Last, the smoothed pressure's history: a frame writes one entry of it
     * at most and reads it only when looking back, so the state every
     * sample touches above lies together rather than on both sides of its
     * 12 kB (fewer pages per frame). */
    float hist[BALL_HIST_LEN];    /* pascal */
    double hist_t[BALL_HIST_LEN]; /* seconds */
    /* The same, every fifth entry: a box's start is searched this far back. */
    unsigned coarse_pos, coarse_n, coarse_count;
    float coarse[BALL_COARSE_LEN];    /* pascal */
    double coarse_t[BALL_COARSE_LEN]; /* seconds */
} ball_t;

/* Bytes of caller memory for these settings at rate_hz, or 0 if invalid. */
size_t ball_mem_size(const ball_settings_t *s, float rate_hz);

/* Sets up b for a stream of rate_hz samples per second (100..10000) using
 * mem (aligned for a double, at least ball_mem_size bytes, owned by b
 * afterwards and not shared). Returns 0, -EINVAL (bad settings or rate) or -ENOMEM
 * (mem too small). */
int ball_init(ball_t *b, const ball_settings_t *s, float rate_hz, void *mem, size_t len);

/* One sample, in device time order. Events go to sink synchronously; a
 * start takes its id from (*next_id)++ and its end reuses it. */
void ball_push(ball_t *b, const sample_t *s, uint32_t *next_id, event_sink_fn sink, void *ctx);

/* Samples were lost before t_dev_resume. After a short loss
 * (SAMPLE_BRIDGE_MAX_S, dsp/sample.h), which the chain bridges with the lost
 * samples drawn on a line, everything under way carries on. After a longer
 * loss open intervals end at the last sample seen and the detectors start
 * afresh (their filters would otherwise bridge the hole). */
void ball_gap(ball_t *b, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
              event_sink_fn sink, void *ctx);

/* The button was pressed at t_dev. Counted into the open hold's "marks". */
void ball_mark(ball_t *b, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx);

/* The stream ended: open intervals end at the last sample's time. */
void ball_finish(ball_t *b, uint32_t *next_id, event_sink_fn sink, void *ctx);

#endif
