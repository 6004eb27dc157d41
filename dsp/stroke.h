/* stroke: segments the scraping tool's stream into strokes and measures each
 * one (length, direction against gravity, force, speed).
 *
 * Per sample:
 *  - the orientation filter (orient.h) turns the IMU into linear
 *    acceleration in a world frame with z up;
 *  - the force is low-passed (Butterworth, order 2) and its zero, which
 *    wanders by up to +-0.5 N, is tracked while the blade is off the skin
 *    (an exponential mean of the filtered force, frozen during contact);
 *    the noise of the filtered force is tracked the same way;
 *  - contact is a Schmitt trigger on the zero-corrected filtered force
 *    (on above on_n, off below off_n, each level raised to a multiple of
 *    the noise when the sensor is noisier; off also below off_peak_ratio
 *    of the stroke's peak, so that a zero that moved during the contact
 *    does not hold it open; while it ends, a force back above
 *    repress_peak_ratio of the peak and the on level continues it, the
 *    hysteresis between the two shares; a contact that ends above the low
 *    level moves the zero to the force there, unless the force has risen
 *    again from its dip by split_rise_ratio of the dip's depth: then the
 *    blade presses again and the contact goes on; a force risen by the low
 *    level only extends the wait once, for as long as it stays above).
 *    The start is dated back to the last sample below the low level
 *    (low_n, or a multiple of the noise), the end forward to the first
 *    sample below it, both less the filter's delay;
 *  - two strokes without a lift are split where the force dips deep (to
 *    less than split_dip_ratio of the stroke's peak so far less noise_low
 *    noise sigmas, the peak being the noisy maximum, and further under it
 *    than noise_on sigmas, which a flat press's noise does not reach) and
 *    rises again
 *    (by split_rise_ratio of the dip's depth under that peak, so that a
 *    lighter second stroke still counts) while the motion confirms a stop:
 *    the tool decelerated to rest (velocity at the dip, along the fastest
 *    velocity of the first part's first split_peak_share, below
 *    split_rest_ratio of it) or reversed, by the velocity less the offset
 *    read at rest before the stroke, or by that velocity with the
 *    orientation's own tilt correction (orient kp) undone, or by the
 *    glide's vibration: any confirms. The boundary is the force minimum.
 *    A dip none confirms is judged again once the contact's next part
 *    ends at rest (a lift, or a confirmed split), by the velocity pinned
 *    to zero at both ends (below split_pinned_ratio of its peak): the
 *    first stroke is then published with the second.
 *
 * A stroke's motion is measured from the linear acceleration buffered over
 * its samples: integrated to velocity, corrected by the straight line that
 * makes the velocity zero at both ends (the blade rests on the skin when a
 * stroke starts and ends, and the line also absorbs a constant bias or tilt
 * error), and integrated again. length_m is the path length (the integral
 * of the corrected speed), the direction comes from the net displacement D
 * and its rise R, D's component along the stroke's mean specific force
 * (gravity as the tool felt it, which the orientation's tilt error does not
 * turn; rise_m): "level" if |R| < sin(level_deg) length, else "up" if R > 0,
 * else "down"; a stroke whose slope |R| / length is within pool_band_deg
 * of level_deg is decided instead by the median slope of its peers, the
 * area's recent strokes pointing its way (pool_direction in stroke.c;
 * stroke_new_area empties the pool). A stroke longer than the buffer (buffer_s) is measured from
 * running sums over all its samples instead: the force figures exactly,
 * the direction from the net displacement, and the length as the net
 * displacement (a lower bound of the path; over_buffer is set).
 *
 * The buffer is caller memory (stroke_mem_size); a stroke_t belongs to one
 * thread; stroke_push does no allocation and no division by a setting.
 */
#ifndef MASSAGED_STROKE_H
#define MASSAGED_STROKE_H

#include "biquad.h"
#include "orient.h"
#include "sample.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    double force_lp_hz;        /* corner of the force low-pass, hertz */
    double on_n;               /* contact begins above zero + this, newton */
    double off_n;              /* contact ends below zero + this, newton (< on_n) */
    double off_peak_ratio;     /* ... or below this share of the stroke's peak */
    double repress_peak_ratio; /* ending: the blade presses again (one contact) above this
                                  share of the stroke's peak and on_n (> off_peak_ratio) */
    double low_n;              /* start and end are dated where the force crosses this, newton */
    double noise_on;           /* on level at least this many noise sigmas; a no-lift dip
                                  lies at least as far under the peak */
    double noise_off;          /* off level at least this many noise sigmas */
    double noise_low;          /* low level at least this many noise sigmas; taken off the
                                  peak a no-lift dip is judged against */
    double debounce_s;         /* the off condition must hold this long, seconds */
    double zero_tau_s;         /* time constant of the zero and noise estimates, seconds */
    double min_duration_s;     /* shorter contacts are bumps, not strokes, seconds */
    double min_peak_n;         /* contacts whose peak force stays below are ignored, newton */
    double min_length_m;       /* contacts that glide less are presses, not strokes, metres */
    double end_wait_s;         /* after the off level, wait at most this for the low level, s */
    double back_s;             /* how far the start is searched back, seconds */
    double split_dip_ratio;    /* a dip below this share of the peak so far may split */
    double split_rise_ratio;   /* ... once the force rose again by this share of the dip's depth */
    double split_rest_ratio;   /* ... and the speed at the dip is below this share of the
                                  first part's peak speed, or the tool reversed */
    double split_peak_share;   /* ... that peak taken over this share of the first part */
    double split_pinned_ratio; /* a dip the motion did not confirm is judged again when the
                                  contact's next part ends at rest (a lift or a split), its
                                  velocity pinned to zero at both ends: a stop when the
                                  speed at the dip is below this share (0: never) */
    double level_deg;          /* "level" when the rise is under sin(level_deg) of the length */
    double up_tau_s;           /* strokes this long weigh their own "up" half, seconds */
    uint32_t pool_n;   /* the area's last strokes pooled for the direction (<= STROKE_POOL_MAX) */
    uint32_t pool_min; /* peers (the stroke included) needed to decide by the pool */
    double pool_deg;   /* peers: displacements within this angle, either way, degrees */
    double pool_margin_deg;   /* pooled slope this far above / below level_deg decides, degrees */
    double pool_band_deg;     /* ... for strokes whose own slope is this near level_deg, degrees */
    double buffer_s;          /* longest stroke measured from its samples, seconds */
    orient_settings_t orient; /* fs_hz is overridden by the rate */
} stroke_settings_t;

/* 30 Hz low-pass; on 1.5 N, off 0.8 N or 0.1 of the peak (pressed again
 * above 0.2 of it), low 0.3 N (at least 7, 4 and 2 sigma); debounce 6 ms;
 * zero time constant 0.5 s; at least 80 ms, 2 N and 5 mm; end wait 60 ms;
 * start searched 0.3 s back; split at a dip under 0.5 of the peak, rise
 * 0.25 of its depth, rest 0.7 of the first part's peak over its first 0.6;
 * level 10 degrees; up 0.1 s; buffer 5 s; direction pool of the area's last
 * 12 strokes, peers within 15 degrees, at least 3, median 1 degree from
 * level, for strokes within 4 degrees of it; orient defaults. */
/* The defaults as an initialiser, so that settings structs embedding a
 * stroke_settings_t (scraper_settings_t) start from the same values. */
#define STROKE_SETTINGS_DEFAULT                                                                    \
    {                                                                                              \
        .force_lp_hz = 30.0, .on_n = 1.5, .off_n = 0.8, .off_peak_ratio = 0.1, .low_n = 0.3,       \
        .repress_peak_ratio = 0.2, .noise_on = 7.0, .noise_off = 4.0, .noise_low = 2.0,            \
        .debounce_s = 0.006, .zero_tau_s = 0.5, .min_duration_s = 0.08, .min_peak_n = 2.0,         \
        .min_length_m = 0.005, .end_wait_s = 0.06, .back_s = 0.3, .split_dip_ratio = 0.5,          \
        .split_rise_ratio = 0.25, .split_rest_ratio = 0.7, .split_peak_share = 0.6,                \
        .split_pinned_ratio = 0.35, .level_deg = 10.0, .up_tau_s = 0.1, .buffer_s = 5.0,           \
        .pool_n = 12, .pool_min = 3, .pool_deg = 15.0, .pool_margin_deg = 1.0,                     \
        .pool_band_deg = 4.0,                                                                      \
        .orient = {                                                                                \
            .fs_hz = 1000.0,                                                                       \
            .kp = 0.5,                                                                             \
            .accel_reject_g = 0.1,                                                                 \
            .reject_angle_deg = 10.0,                                                              \
            .recovery_s = 3.0,                                                                     \
            .still_gyro_dps = 5.0,                                                                 \
            .steady_gyro_dps = 2.5,                                                                \
            .still_acc_g = 0.05,                                                                   \
            .still_time_s = 0.5,                                                                   \
            .still_smooth_s = 0.1,                                                                 \
            .still_break_s = 0.01,                                                                 \
            .bias_tau_s = 10.0,                                                                    \
            .bias_prior_s = 0.2,                                                                   \
            .initial_bias_dps = {0.0, 0.0, 0.0},                                                   \
            .acc_bias_rest_s = 0.1,                                                                \
            .acc_bias_solve_s = 2.0,                                                               \
            .acc_bias_prior_s = 0.2,                                                               \
            .acc_bias_max_g = 0.1,                                                                 \
        },                                                                                         \
    }

extern const stroke_settings_t stroke_default;

typedef enum { STROKE_LEVEL = 0, STROKE_UP = 1, STROKE_DOWN = 2 } stroke_direction_t;

/* Most strokes an area's direction pool holds. */
#define STROKE_POOL_MAX 32

/* One measured stroke. */
typedef struct {
    double t_start_dev;    /* seconds, device time of the first contact */
    double t_end_dev;      /* seconds, device time the force was back to zero (or the split) */
    double length_m;       /* path length along the skin, metres */
    double rise_m;         /* net displacement against gravity (the mean specific force), m */
    double disp_m[3];      /* net displacement, world frame, metres */
    double peak_force_n;   /* maximum of the zero-corrected low-passed force, newton */
    double mean_force_n;   /* mean of the zero-corrected force, newton */
    double mean_speed_mps; /* length_m / duration, metres per second */
    stroke_direction_t direction;
    bool split;       /* ended at a dip without a lift (the next stroke follows) */
    bool over_buffer; /* longer than the buffer: length is the net displacement */
} stroke_result_t;

/* One buffered sample. */
typedef struct {
    double t_dev;      /* seconds */
    float acc[3];      /* linear acceleration, world frame, m/s^2 */
    float force_n;     /* zero-corrected raw force, newton */
    float force_lp_n;  /* zero-corrected low-passed force, newton */
    float vib;         /* the accelerometer's change since the last sample, squared, g^2 */
    bool tilt_follows; /* the orientation corrected its tilt by the accelerometer here */
} stroke_sample_t;

typedef enum { STROKE_IDLE, STROKE_CONTACT, STROKE_ENDING } stroke_state_t;

typedef struct {
    /* Read-only for the caller. */
    orient_t orient;
    double zero_n;      /* force sensor zero, newton */
    double noise_var;   /* variance of the filtered force off the skin, newton^2 */
    double vib_axis[3]; /* mean accelerometer change squared per axis off the skin, g^2 */
    stroke_state_t state;
    uint64_t samples;
    uint64_t strokes; /* strokes reported */
    uint64_t bumps;   /* contacts too short, too light or too still to be strokes */

    /* Private, precomputed. */
    stroke_settings_t set;
    double dt; /* seconds per sample */
    double zero_alpha;
    double zero_w;        /* weight of the zero's next step: a growing mean's, then zero_alpha */
    double up_tau_sq;     /* up_tau_s squared */
    double lp_noise_gain; /* white-noise power gain of the force low-pass */
    float prev_p;         /* newton: the previous raw force */
    float prev_acc[3];    /* g: the previous raw accelerometer reading */
    float lp_delay_s;     /* group delay of the force low-pass at DC, seconds */
    float sin_level;
    float off_peak;                                /* off_peak_ratio */
    float repress_peak;                            /* repress_peak_ratio */
    float noise_on_sq, noise_off_sq, noise_low_sq; /* noise multiples squared */
    uint32_t debounce_n, min_samples, end_wait_n, back_n;
    uint32_t rest_n; /* samples before a stroke taken as its rest (0.1 s) */
    uint32_t stop_n; /* samples up to a dip where a stop stills the glide (60 ms) */
    biquad_t force_lp;

    /* Ring buffer of the newest samples; index i lives at ring[i & mask]. */
    stroke_sample_t *ring;
    uint32_t mask;
    uint64_t head; /* index of the next sample */

    /* Contact in progress. */
    float on_level, off_level, low_level; /* newton, frozen at contact start */
    uint64_t seg_start;                   /* index of the current stroke's first sample */
    bool seg_lifted;                      /* it began at a contact's start, not at a split */
    double seg_t_start;                   /* seconds, its start time */
    uint64_t off_index; /* ENDING: index of the first sample under the off level */
    uint32_t off_count;
    uint32_t ending_n;
    bool ending_extended;  /* the wait was extended once for a force rising from its dip */
    float ending_rising_n; /* newton: the force when it was; under it the extension ends */
    float peak_lp;         /* peak of the filtered force since seg_start */
    float dip_lp;          /* minimum since the peak */
    uint64_t dip_index;
    bool have_dip;
    double run_v[3], run_p[3]; /* running sums from seg_start: m/s, m */
    double run_f_sum;          /* newton */
    float run_f_peak;          /* newton */
    uint64_t run_n;
    uint64_t motion_checked; /* dip index whose motion was judged, + 1 (0: none) */
    bool motion_ok;
    uint64_t pend_dip; /* a dip that qualified but whose motion did not confirm the stop */
    bool have_pend;

    /* The area's last strokes: unit displacement and slope |rise| / length. */
    float pool_dir[STROKE_POOL_MAX][3];
    float pool_slope[STROKE_POOL_MAX];
    uint32_t pool_count, pool_next;
    float pool_cos, pool_sin_hi, pool_sin_lo; /* cos pool_deg, sin of the median's bounds */
    float pool_near_cos;                      /* cos of the nearer cone (see stroke_init) */
    float band_sin_lo, band_sin_hi;           /* sin of level_deg -+ pool_band_deg */
} stroke_t;

/* Bytes of caller memory for these settings at rate_hz, or 0 if invalid. */
size_t stroke_mem_size(const stroke_settings_t *set, float rate_hz);

/* Sets up d using mem (aligned for a double, at least stroke_mem_size
 * bytes, owned by d afterwards). Returns 0, -EINVAL (bad settings or
 * rate) or -ENOMEM (mem too small). */
int stroke_init(stroke_t *d, const stroke_settings_t *set, float rate_hz, void *mem, size_t len);

/* Processes one sample (device time order; p in newton). Returns the number
 * of strokes completed by this sample (0, 1 or 2) and writes them, oldest
 * first, into out[0..1]. */
int stroke_push(stroke_t *d, const sample_t *s, stroke_result_t out[2]);

/* Samples were lost before the next one: a stroke in progress is dropped
 * (its motion cannot be integrated across the hole) and the orientation
 * starts over from the next sample. */
void stroke_gap(stroke_t *d);

/* The stream ended: a stroke in progress ends at the last sample. Returns
 * 0 or 1 strokes written to *out. */
int stroke_finish(stroke_t *d, stroke_result_t *out);

/* A new area begins (the button was pressed): the direction pool empties. */
void stroke_new_area(stroke_t *d);

/* "up", "down" or "level" (static strings). */
const char *stroke_direction_name(stroke_direction_t dir);

#endif
