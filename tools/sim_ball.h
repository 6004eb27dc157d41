/* sim_ball: physics simulation of the trigger-point massage ball.
 *
 * Produces the ball's sensor samples in physical units (sample_t: absolute
 * pressure in pascal, acceleration in g, rotation in deg/s, device axes) for
 * a randomised but seeded treatment session: idle moments, rolling along the
 * calf, holds on knots with flex cycles and rocking, button presses; and
 * reports the ground truth (what a careful labeller would mark) as event_t
 * values. docs/SIMULATOR.md ("Massage ball") defines each truth interval
 * precisely, since detectors are scored against them.
 *
 * The state is a plain struct the caller owns (no heap, no pointers), set up
 * by sim_ball_init() from a settings struct; the same settings and seed give
 * bit-identical samples and truth. One thread at a time per sim_ball_t.
 */
#ifndef MASSAGED_SIM_BALL_H
#define MASSAGED_SIM_BALL_H

#include <stdint.h>

#include "biquad.h"
#include "event.h"
#include "sample.h"
#include "sim_run.h"

/* Hard cases: phenomena that look a little like an event but are not one
 * (or are a weak form of one). Off by default; see docs/SIMULATOR.md. */
#define SIM_BALL_BREATHING 0x01    /* 0.2-0.4 Hz load modulation of a few % */
#define SIM_BALL_SWAY 0x02         /* slow 0.05-0.5 Hz load and tilt changes */
#define SIM_BALL_TREMOR 0x04       /* 8-12 Hz acceleration tremor, no load rise */
#define SIM_BALL_WEAK_FLEX 0x08    /* some flexes rise only 3-8 %, weak MMG */
#define SIM_BALL_PARTIAL_FLEX 0x10 /* some flexes last only 0.5-1.5 s */
#define SIM_BALL_ROCK_NO_FLEX 0x20 /* some holds rock and never flex */
#define SIM_BALL_WEIGHT_SHIFT 0x40 /* load steps of 5-15 % in holds, no MMG */
#define SIM_BALL_HANDLING 0x80     /* unloaded ball picked up and turned in the hand */
#define SIM_BALL_HARD_ALL 0xff

/* Bits returned by sim_ball_step(). */
#define SIM_BALL_BUTTON_DOWN 0x1 /* the button was pressed at this sample */
#define SIM_BALL_BUTTON_UP 0x2   /* the button was released at this sample */
#define SIM_BALL_END 0x4         /* this was the last sample of the session */

/* A physical quantity drawn uniformly from [lo, hi] (lo == hi: fixed). */
typedef struct {
    double lo, hi;
} sim_range_t;

/* The world the simulator draws its people, balls and sessions from: one
 * range per physical condition (docs/SIMULATOR.md, "The world"). The
 * defaults are the development world; the scorers' robustness maps fix one
 * condition at a time, and their stress sets draw beyond these ranges. */
typedef struct {
    sim_range_t load_n;         /* the user's typical load, newton (body_load_n = 0) */
    sim_range_t shell_n_per_m;  /* the ball's rubber stiffness, newton per metre */
    sim_range_t flex_rise;      /* a hold's first flex: load rise over the resting load */
    sim_range_t flex_up_s;      /* a flex's rise time, seconds */
    sim_range_t flex_plateau_s; /* a flex's held plateau, seconds */
    sim_range_t mmg_centre_hz;  /* the person's MMG centre frequency, hertz */
    sim_range_t mmg_scale_pa;   /* MMG amplitude at the pressure sensor, pascal rms */
    sim_range_t noise_p_pa;     /* pressure sensor noise (times `noise`), pascal rms */
    sim_range_t tremor_hz;      /* physiological tremor's centre, hertz */
    sim_range_t tremor_scale;   /* tremor strength, times the typical 2-8 Pa, 2-6 mg */
    sim_range_t breath_depth;   /* breathing's load modulation, share of the load */
    sim_range_t sway_depth;     /* sway's load modulation, share of the load */
    sim_range_t warm_k;         /* the ball's warming on the body, kelvin */
    sim_range_t settle_step;    /* load added as the user settles into a hold, share */
    sim_range_t settle_tau_s;   /* ... reached with this time constant, seconds */
    sim_range_t hold_s;         /* the time budget of a hold, seconds */
    int flex_shape;             /* a flex's rise and relax: SIM_FLEX_* (not drawn) */
    float flex_wander;          /* a flex's force and MMG level wandering about their
                                   course, rms share of it, under 2 Hz (not drawn; 0) */
    float hold_fluct;           /* the load's slow fluctuation while held, rms share of
                                   the load, under 1 Hz (not drawn; 0: 0.01) */
} sim_ball_world_t;

/* The shape of a flex's force (and MMG) rise and relax over its ramp time:
 * smooth at both ends (the worlds' own), straight, first-order (steepest at
 * once, easing into the plateau), or a slow build steepening to the end. */
enum { SIM_FLEX_SMOOTH, SIM_FLEX_LINEAR, SIM_FLEX_FIRST_ORDER, SIM_FLEX_SLOW_START };

/* The development world: 100-400 N, 6-9 kN/m, flexes 15-40 % rising in
 * 0.1-0.3 s held 2-8 s, MMG 11-22 Hz at 40-180 Pa, noise 5-20 Pa, tremor
 * 8-12 Hz x1, breathing 2-5 %, sway 3-8 %, warming 1-2 K, no settling step,
 * holds of 58.5 s. */
extern const sim_ball_world_t sim_ball_world_default;

/* The widened world the scorers' development and held-out sets are drawn
 * from (docs/SIMULATOR.md, "The world"): 60-600 N, 4-14 kN/m, flexes 8-40 %
 * rising in 0.08-0.5 s held 1-12 s, MMG 8-30 Hz at 20-250 Pa, noise 3-40
 * Pa, tremor 7-13 Hz x0.5-3, breathing 1-8 %, sway 2-12 %, warming 0.5-6 K,
 * settling steps of 0-15 % in 0.5-3 s, holds of 15-90 s. */
extern const sim_ball_world_t sim_ball_world_wide;

/* The stress world, beyond the widened one on the side where detectors
 * suffer (never tuned on): 40-700 N, 2-20 kN/m, flexes 4-50 % rising in
 * 0.05-0.8 s held 0.6-15 s, MMG 6-38 Hz at 10-300 Pa, noise 20-80 Pa, tremor
 * x2-8, breathing 6-15 %, sway 8-20 %, warming 4-15 K, settling steps of
 * 10-30 % in 1-4 s, holds of 8-120 s. */
extern const sim_ball_world_t sim_ball_world_stress;

typedef struct {
    float rate_hz;          /* samples per second, 100..10000; the device uses 1000 */
    double duration_s;      /* session length in seconds; 0 = endless */
    float body_load_n;      /* typical load the user puts on the ball, newton;
                               0 = drawn per seed from 100..400 */
    float noise;            /* multiplier of sensor noise and bias; 1 = typical, 0 = ideal */
    int hard_cases;         /* SIM_BALL_* hard-case flags */
    float ambient_pa;       /* ambient air pressure, pascal */
    float rock_probability; /* chance, 0..1, that a hold contains a rocking episode */
    float mark_probability; /* chance, 0..1, that the user marks a hold with the button */
    sim_ball_world_t world; /* ranges of the physical conditions */
} sim_ball_settings_t;

/* rate 1000 Hz, endless, random load, noise 1, no hard cases, 101325 Pa,
 * rocking in 35 % of holds, marks at 60 % of holds. */
extern const sim_ball_settings_t sim_ball_default;

/* Most activities a hold is planned as (rests, flexes, rocks, shifts). */
#define SIM_BALL_MAX_PLAN 32
/* Entries of the load to pressure table. */
#define SIM_BALL_TABLE 257

/* Smooth noise: unit-rms white noise through three one-pole low-passes, so
 * its spectrum falls 60 dB a decade and leaves the MMG band clean. */
typedef struct {
    float a, gain; /* pole constant; gain for unit rms output */
    float z[3];
} sim_ball_smooth_t;

/* One activity of a hold's plan. */
typedef struct {
    int kind;            /* internal activity kind */
    uint64_t len;        /* samples */
    uint64_t up, down;   /* flex ramps, samples */
    float rise;          /* flex: load rise as a fraction of the resting load */
    float release;       /* flex: fraction the resting load drops at its end; shift: step */
    float mmg_hz;        /* flex: centre (peak) of the MMG band */
    float mmg_median_hz; /* flex: median frequency of the MMG power in 5-50 Hz */
    float mmg_pa;        /* flex: plateau MMG rms in pascal */
    float freq_hz;       /* rock: rocking frequency */
    float amplitude_deg; /* rock: zero-to-peak rotation */
    float load_mod;      /* rock: load modulation, fraction */
    int weak, partial;   /* flex: hard-case kind, for the truth fields */
} sim_ball_activity_t;

/* The whole state. Plain data, owned by the caller; treat as opaque. Sample
 * indices are uint64_t; UINT64_MAX means "none". */
typedef struct sim_ball {
    sim_ball_settings_t set;
    sim_run_t run; /* rng, dt, next sample n, n_end, truth's finished and next_id */

    /* Person, ball and sensors, drawn per session. */
    float load_n;                         /* typical body load, newton */
    float table_step_n;                   /* load per table entry, newton */
    float dp_table[SIM_BALL_TABLE];       /* static pressure rise, pascal, at load i * step */
    float p_inflation;                    /* unloaded overpressure of the sealed ball, pascal */
    float mmg_centre_hz;                  /* this person's typical MMG band centre */
    float mmg_scale_pa;                   /* this person's typical MMG rms, pascal */
    float mmg_mg_per_pa;                  /* acceleration MMG per pressure MMG, mg/Pa */
    float release_rate;                   /* typical per-flex release fraction */
    float roll_speed_dps;                 /* this person's typical rolling rate */
    float sigma_p, sigma_acc, sigma_gyr;  /* sensor noise rms: Pa, g, deg/s */
    float acc_bias[3], acc_gain[3];       /* g, ratio */
    float gyr_bias[3];                    /* deg/s, random walk */
    float bias_walk_dps, weather_walk_pa; /* random-walk steps per 100 samples */
    float tremor_dir[3], mmg_lateral[3], sway_axis[3]; /* world unit vectors */
    float breath_hz, breath_depth, sway_hz, sway_depth, sway_tilt_deg;
    float tremor_g, tremor_pa; /* tremor rms: g, pascal */
    float thermal_target_pa;   /* warming against the body, pascal */
    float thermal_a_on, thermal_a_off, p_lag_a, creep_a, base_a; /* 1st-order constants */

    /* Script. */
    int phase;                   /* internal session phase */
    uint64_t seg_start, seg_len; /* current segment, samples */
    int plan_n, plan_i;          /* the hold's plan and the running activity */
    sim_ball_activity_t plan[SIM_BALL_MAX_PLAN];
    float hold_release_rate, hold_rise_decay, hold_first_rise;
    double roll_target_end;                 /* seconds; the roll stops after the stroke past it */
    float roll_axis_deg, rock_axis_deg;     /* world headings of rotation axes */
    float stroke_peak_dps, stroke_axis_deg; /* current stroke */
    int stroke_sign;
    uint64_t stroke_ramp;       /* samples */
    float level_from, level_to; /* load-on / unload ramp of on_body */
    int next_after_ramp;
    uint64_t hand_start, hand_end; /* handling episode, samples */
    float hand_hz[3], hand_dps[3], hand_phase[3], hand_squeeze_n, hand_env;

    /* Continuous processes. */
    float on_body;                                /* 0 unloaded .. 1 user on the ball */
    float base_n, base_target_n;                  /* resting load, newton: smoothed and target */
    float flex_n;                                 /* load added by the current flex, newton */
    float mmg_level;                              /* 0..1 envelope of the MMG */
    sim_ball_smooth_t fluct;                      /* slow load fluctuation, unit rms */
    float fluct_gain;                             /* its depth, fraction of the load */
    sim_ball_smooth_t micro[3];                   /* postural micro-rotation, unit rms */
    sim_ball_smooth_t wander;                     /* a flex's wander (flex_wander), unit rms */
    sim_rng_t wander_rng;                         /* its own, so the rest stays the same */
    double breath_phase, sway_phase, click_phase; /* radians */
    float p_lag_pa, creep_pa;                     /* pascal */
    double thermal_pa, weather_pa;
    double q[4];  /* orientation, sensor frame to world: w, x, y, z */
    float vel[3]; /* ball centre velocity, m/s, world */
    /* MMG: band-pass then 4th-order Butterworth low-pass; normal and lateral. */
    biquad_cascade_t mmg, mmg_lateral_f; /* the flex's MMG shape (dsp/biquad) */
    float mmg_norm;                      /* scales unit white noise to unit-rms MMG */
    biquad_cascade_t tremor_bp;
    float tremor_norm;
    float tremor_scale;
    float settle_n, settle_target_n;   /* load of the settling step, newton */
    float settle_a;                    /* its weight per sample */
    double hold_budget_s;              /* time budget of each hold, seconds */
    uint64_t tremor_start, tremor_end; /* samples */
    float click_env;                   /* button click transient */

    /* Button, samples. */
    uint64_t press_at, release_at;

    /* Open truth intervals: start sample. */
    uint64_t roll_open, hold_open, flex_open, rock_open;
    uint64_t hold_close_at; /* a hold ending by unloading closes here */
    double roll_rate_sum;   /* for the roll's mean rotation rate */
    uint64_t roll_rate_count;
    int roll_strokes;
    float roll_load_n;
    int hold_flexes, hold_rocks;
    float hold_load_start_n;
    float hold_first_rest_pa, hold_last_rest_pa; /* static resting rise, pascal */
    float hold_first_rise_pa, hold_last_rise_pa;
    float flex_rest_n, flex_rest_pa, flex_rise_pa;
} sim_ball_t;

/* Sets up a session: copies the settings, draws the person, ball, sensor and
 * script from seed. No allocation. Returns 0, or -EINVAL for settings out of
 * range (rate, negative duration/load/noise, probabilities outside 0..1). */
int sim_ball_init(sim_ball_t *s, const sim_ball_settings_t *settings, uint64_t seed);

/* Produces the next sample into *out: t_dev = index / rate_hz seconds of true
 * device time from 0, p in pascal, acc in g, gyr in deg/s (device axes).
 * Every truth interval that ends at or before this sample's time (end times
 * are the time of the first sample no longer inside, see SIMULATOR.md) is
 * passed to truth (may be NULL) as phase EVENT_END with t_start_dev and t_dev
 * and type "roll", "hold", "flex" or "rock" plus fields; a button press is
 * passed as type "mark", EVENT_INSTANT, at its sample's time. Inner intervals
 * are reported before the hold that contains them. The event is valid during
 * the call only. Returns a set of SIM_BALL_BUTTON_DOWN / SIM_BALL_BUTTON_UP
 * (the button changed at this sample) and SIM_BALL_END (the last sample of
 * a session with a duration: truth still open was closed at duration_s).
 * Called after the end, it goes on producing unloaded samples, with no
 * truth, and returns SIM_BALL_END. Never allocates. */
int sim_ball_step(sim_ball_t *s, sample_t *out, event_sink_fn truth, void *truth_ctx);

/* Closes the truth intervals still open at the time of the next sample (the
 * end of what was produced) and reports them; afterwards no more truth is
 * emitted. For endless sessions stopped by the caller; harmless after
 * SIM_BALL_END and when called twice. */
void sim_ball_finish(sim_ball_t *s, event_sink_fn truth, void *truth_ctx);

/* Parses a comma-separated list of hard-case names ("breathing", "sway",
 * "tremor", "weak_flex", "partial_flex", "rock_no_flex", "weight_shift",
 * "handling", "all", "none") into SIM_BALL_* flags (util/flag_names).
 * Returns 0, or -EINVAL (unknown name; *flags untouched). */
int sim_ball_hard_cases_parse(const char *text, int *flags);

#endif
