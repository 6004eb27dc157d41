/* orient: attitude of a 6-axis IMU (gyroscope + accelerometer) by a
 * Mahony-style complementary filter on a unit quaternion, with the
 * gyroscope bias learnt while the device lies still and the accelerometer
 * correction suspended during linear acceleration.
 *
 * Frames and conventions:
 *  - Gyroscope in degrees per second, accelerometer in g, both in the
 *    sensor axes. The accelerometer measures specific force: at rest it
 *    reads +1 g along the axis pointing up.
 *  - The world frame has z up; its heading (yaw) is arbitrary, set by the
 *    first sample, and drifts slowly because nothing observes it.
 *  - q = (w, x, y, z) rotates sensor coordinates into world coordinates:
 *    v_world = q v_sensor q*.
 *
 * Each step: the accelerometer direction is compared with the predicted
 * up direction; their cross product (the small rotation between them)
 * times kp is added to the bias-corrected gyro rate, unless the
 * acceleration is rejected; then q integrates the rate. The correction is
 * rejected when | |a| - 1 g | exceeds accel_reject_g, or when the
 * accelerometer and the estimate disagree by more than reject_angle_deg
 * (a stroke's acceleration along the skin barely changes |a|); if the
 * rejection lasts longer than recovery_s the correction is applied anyway
 * so a wrong estimate cannot lock itself out.
 *
 * The device counts as still while |gyro| < still_gyro_dps and
 * | |a| - 1 g | < still_acc_g for still_time_s, both tested on the readings
 * smoothed by a one-pole low-pass of time constant still_smooth_s (0: raw),
 * so that sensor noise alone (a noisy accelerometer's |a| leaves the 0.05 g
 * band on one sample in ten) does not break a rest, and a reading beyond
 * three times either bound (motion, which the smoothing would let through
 * for a while) breaks it at once: the raw gyro, and the accelerometer
 * smoothed by a one-pole of still_break_s (0: raw; at 0.09 g per axis a
 * raw |a| leaves the 0.15 g bound on one sample in eleven, and no rest
 * would last). A gyroscope whose bias is over
 * still_gyro_dps would never be still, and its bias never learnt: the gyro
 * test also holds while the smoothed gyro lies within steady_gyro_dps of
 * its own mean over still_time_s (a steady reading, whatever its value).
 * While still,
 * the bias estimate follows the raw gyro (this also learns the yaw-axis
 * bias, which the accelerometer cannot) as a growing mean: initial_bias_dps
 * weighs as much as bias_prior_s of rest, and each still sample is averaged
 * in until the weight falls to an EMA's of time constant bias_tau_s (a held
 * tool's wobble averages out; bias_prior_s = bias_tau_s is the plain EMA).
 *
 * The accelerometer's bias b is learnt from rests as well and subtracted
 * from every reading: at rest |a - b| = 1 g, to first order u . b = |a| - 1
 * (u = a / |a|), and rests in different tilts see different components of
 * b: a running least squares over the smoothed readings with a zero prior
 * (acc_bias_prior_s seconds of rest), its length capped at acc_bias_max_g.
 * Its own rest test takes the gyro less its learnt bias and widens the
 * accelerometer bands by the cap, for acc_bias_rest_s. The sums are solved
 * at a rest's end, and every acc_bias_solve_s within a long rest.
 *
 * An orient_t belongs to one thread; the step does no allocation and no
 * division by a setting.
 */
#ifndef MASSAGED_ORIENT_H
#define MASSAGED_ORIENT_H

#include <stdbool.h>
#include <stdint.h>

#define ORIENT_G_MPS2 9.80665 /* standard gravity, m/s^2 per g */

typedef struct {
    double fs_hz;               /* sampling rate, hertz */
    double kp;                  /* accelerometer correction gain, 1/s (1/kp ~ tilt time constant) */
    double accel_reject_g;      /* reject when | |a| - 1 | exceeds this, g */
    double reject_angle_deg;    /* reject when a and the estimate differ by more, degrees */
    double recovery_s;          /* accept again after this long rejected, seconds */
    double still_gyro_dps;      /* still: raw |gyro| below this, deg/s */
    double steady_gyro_dps;     /* still, or: gyro within this of its mean over still_time_s, deg/s
                                   (0: off) */
    double still_acc_g;         /* still: | |a| - 1 | below this, g */
    double still_time_s;        /* still: for at least this long, seconds */
    double still_smooth_s;      /* still: readings smoothed with this time constant, s */
    double still_break_s;       /* still: the accelerometer that ends it at once, smoothed so,
                                   s (0: raw) */
    double bias_tau_s;          /* time constant of the bias estimate while still, seconds */
    double bias_prior_s;        /* the initial bias weighs as much as this much rest, seconds */
    double initial_bias_dps[3]; /* bias to start from (e.g. a stored calibration), deg/s */
    double acc_bias_rest_s;     /* accelerometer bias: rest needed, seconds */
    double acc_bias_solve_s;    /* accelerometer bias: solved at least this often in a rest, s */
    double acc_bias_prior_s;    /* accelerometer bias: weight of the zero prior, seconds of rest
                                   (0: no accelerometer bias estimate) */
    double acc_bias_max_g;      /* accelerometer bias: length cap, g */
} orient_settings_t;

/* 1 kHz, kp 2 /s, reject beyond 0.1 g or 10 degrees, recover after 3 s;
 * still below 5 deg/s and 0.05 g for 0.5 s (smoothed over 0.1 s; ended at
 * once beyond three times either, the accelerometer smoothed over 10 ms),
 * bias
 * time constant 1 s. */
extern const orient_settings_t orient_default;

typedef struct {
    /* Outputs, read-only for the caller, valid after the first step. */
    float q[4];             /* w, x, y, z: sensor to world */
    float up_sensor[3];     /* unit vector pointing up, in sensor axes (gravity is
                               -up_sensor; equals the accelerometer at rest, in g) */
    float lin_acc_world[3]; /* acceleration in the world frame, z up, gravity
                               removed, m/s^2 */
    float bias_dps[3];      /* gyroscope bias estimate, deg/s */
    float acc_bias_g[3];    /* accelerometer bias estimate, g (subtracted from every reading) */
    bool still;             /* the still condition currently holds */
    bool accel_rejected;    /* the last step ignored the accelerometer */
    uint64_t samples;

    /* Private, precomputed from the settings. */
    float half_dt; /* 0.5 / fs, seconds */
    float kp;
    float deg_to_rad;
    float reject_lo_sq, reject_hi_sq; /* (1 -+ accel_reject_g)^2, g^2 */
    float still_gyro_sq;              /* dps^2 */
    float still_lo_sq, still_hi_sq;   /* (1 -+ still_acc_g)^2, g^2 */
    float reject_sin;                 /* sin(reject_angle), or 2 to disable */
    float bias_alpha;
    float bias_prior_n; /* bias_prior_s in samples */
    float bias_n;       /* still samples averaged into the bias since the reset */
    uint32_t still_needed;    /* samples */
    uint32_t recovery_needed; /* samples */
    uint32_t still_count;
    float still_alpha;                /* one-pole coefficient of the still test */
    float moving_gyro_sq;             /* (3 still_gyro_dps)^2, dps^2 */
    float moving_lo_sq, moving_hi_sq; /* (1 -+ 3 still_acc_g)^2, g^2 */
    float still_acc[3], still_gyr[3]; /* the smoothed readings, g and deg/s */
    float break_alpha;                /* one-pole coefficient of the accelerometer ending it */
    float break_acc[3];               /* the accelerometer so smoothed, g */
    float steady_gyr[3];              /* the raw gyro over still_time_s, deg/s */
    float steady_alpha;
    float steady_gyro_sq;             /* dps^2 */
    uint32_t rejected_count;
    float initial_bias_dps[3];
    bool acc_bias_on;
    double acc_prior; /* samples */
    float acc_max_g;
    double acc_ata[6]; /* rests: sums of u u^T (xx, xy, xz, yy, yz, zz) */
    double acc_aty[3]; /* rests: sums of u (|a| - 1) */
    uint32_t acc_since_solve;
    uint32_t acc_rest_count;
    uint32_t acc_rest_needed; /* samples */
    uint32_t acc_solve_every; /* samples */
    float acc_rest_lo_sq, acc_rest_hi_sq; /* smoothed: (1 -+ (still_acc_g + cap))^2, g^2 */
    float acc_raw_lo_sq, acc_raw_hi_sq;   /* raw: (1 -+ (3 still_acc_g + cap))^2, g^2 */
} orient_t;

/* Precomputes the constants; the first step sets the tilt from that
 * sample's accelerometer. Returns 0, or -EINVAL for a non-positive rate,
 * gain or time, or negative thresholds. */
int orient_init(orient_t *o, const orient_settings_t *set);

/* Back to the state right after init (bias back to the initial bias). */
void orient_reset(orient_t *o);

/* Processes one sample: gyro in deg/s, acc in g, sensor axes. */
void orient_step(orient_t *o, const float gyr_dps[3], const float acc_g[3]);

#endif
