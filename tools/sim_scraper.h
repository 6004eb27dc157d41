/* sim_scraper: physics simulation of the gua-sha scraping tool.
 *
 * Produces the tool's sensor samples in physical units (sample_t: normal
 * force on the blade in newton, specific force in g, rotation rate in deg/s,
 * device axes: +x along the blade from handle to tip, +z out of the
 * scraping edge into the skin) for a randomised but seeded session: the user
 * works through areas of the leg (calf back, calf side, achilles, shin, sole),
 * scraping repeated strokes on each and pressing the button when an area is
 * done. Each stroke is a contact and glide with a smooth force and
 * minimum-jerk velocity profile, stick-slip vibration, then a lift and an air
 * return. The motion is rigid-body kinematics in a world frame with gravity;
 * the orientation is integrated as a quaternion from the body rate that the
 * gyroscope reports, so accelerometer, gyroscope and motion agree.
 *
 * The ground truth is reported as event_t values; docs/SIMULATOR.md
 * ("Scraping tool") defines every truth field precisely, since the stroke
 * detector is scored against it.
 *
 * The state is a plain struct the caller owns (no heap, no pointers), set up
 * by sim_scraper_init() from a settings struct; the same settings and seed
 * give bit-identical samples and truth (for one build and one libm). One
 * thread at a time per sim_scraper_t.
 */
#ifndef MASSAGED_SIM_SCRAPER_H
#define MASSAGED_SIM_SCRAPER_H

#include <stdint.h>

#include "event.h"
#include "sample.h"
#include "sim_run.h"

/* Hard cases, off by default; see docs/SIMULATOR.md. A share
 * (hard_case_share) of the strokes is drawn as one of the enabled kinds. */
#define SIM_SCRAPER_HESITANT 0x01 /* the glide slows almost to a stop mid-stroke (one stroke) */
#define SIM_SCRAPER_NO_LIFT                                                                        \
    0x02                       /* two strokes without a lift: the force dips but stays > 0         \
                                  while the tool stops and reverses or restarts */
#define SIM_SCRAPER_SHORT 0x04 /* very short strokes, 2-4 cm */
#define SIM_SCRAPER_NOISY 0x08 /* the whole session with 3x sensor noise */
#define SIM_SCRAPER_FAST 0x10  /* fast strokes, 0.6-1.0 m/s mean speed */
#define SIM_SCRAPER_HARD_ALL 0x1f

/* Bits returned by sim_scraper_step(). */
#define SIM_SCRAPER_BUTTON_DOWN 0x1 /* the button was pressed at this sample */
#define SIM_SCRAPER_BUTTON_UP 0x2   /* the button was released at this sample */
#define SIM_SCRAPER_END 0x4         /* this was (or is after) the last sample of the session */

typedef struct {
    float rate_hz;      /* samples per second, 50..5000; device: 500 */
    double duration_s;  /* session length, seconds; 0 = endless */
    float noise;        /* multiplier of sensor noise, bias and force
                           zero drift; 1 = typical, 0 = ideal */
    float tilt_deg_max; /* tool tilt about its x and y axes, 0..60 deg */
    float limb_incline_deg_min, limb_incline_deg_max; /* limb axis above horizontal, 0..90 deg */
    float speed_min_mps, speed_max_mps;               /* mean glide speed of a stroke, m/s */
    float force_min_n, force_max_n;                   /* plateau normal force of a stroke, N */
    float stroke_len_min_m, stroke_len_max_m;         /* glide length of a stroke, m */
    float down_fraction;                              /* share of strokes scraped downward, 0..1 */
    float level_fraction;                             /* share of level (sideways) strokes, 0..1 */
    int hard_cases;                                   /* SIM_SCRAPER_* hard-case flags */
    int strokes_per_area_min, strokes_per_area_max;   /* strokes before the button, >= 1 */
    float pause_min_s, pause_max_s;                   /* rest after an air return, seconds */
    float hard_case_share;                            /* share of strokes drawn as a hard case */
    float zero_drift; /* force sensor zero wander, times the typical 0.25 N rms (bounded at
                         +-0.5 N); 1 = typical */
    float force_gain; /* force sensor scale: reading over true force; 1 = calibrated */
    float acc_bias_mg; /* accelerometer zero offset, rms per axis, mg (times noise); 0 = the
                          default 5 mg of a calibrated part (a raw MEMS part: 20-60 mg) */
} sim_scraper_settings_t;

/* 500 Hz, endless, noise 1, tilt 25 deg, limb 15-60 deg, 0.1-0.4 m/s,
 * 5-40 N, 5-30 cm, 15 % down, 10 % level, no hard cases, 10-40 strokes per
 * area, pauses 0.1-1 s, hard-case share 0.25, typical zero drift, calibrated
 * force scale. */
extern const sim_scraper_settings_t sim_scraper_default;

/* One planned stroke (one truth stroke). Internal; plain data. */
typedef struct {
    double start[3];         /* contact point where the glide starts, world, m */
    double dir[3];           /* unit glide direction, world */
    double normal[3];        /* unit outward skin normal, world */
    double lateral[3];       /* unit vector in the skin plane across the glide */
    double q[4];             /* target tool orientation, body to world (w, x, y, z) */
    double length_nominal_m; /* straight-line displacement */
    double lateral_amp_m;    /* sideways arc of the path */
    double length_m;         /* path length along the skin (truth) */
    double duration_s;       /* contact time */
    double inv_duration;     /* 1 / duration_s */
    double force_n;          /* plateau force */
    double force_mod, force_mod_cycles, force_mod_phase; /* slow force modulation */
    double force_begin_n, force_end_n; /* force at the ends: 0, or the dip of a no-lift pair */
    double t_on_s, t_off_s;            /* force ramps */
    double hes_centre, hes_width, hes_k, hes_force_dip; /* hesitation; hes_k = 0: none */
    double pause_s;   /* rest before this stroke's contact (after the return) */
    double speed_mps; /* mean glide speed, for the return speed */
    double vib_b0, vib_a1, vib_a2, vib_norm; /* stick-slip resonator and unit-rms scale */
    double vib_g;                            /* acceleration vibration rms at full amplitude, g */
    int pair_next;                           /* a no-lift partner stroke follows this one */
    int hard_kind;                           /* SIM_SCRAPER_* kind of this stroke, 0 = ordinary */
} sim_scraper_stroke_t;

/* The whole state. Plain data, owned by the caller; treat as opaque. */
typedef struct sim_scraper {
    sim_scraper_settings_t set;
    sim_run_t run; /* rng, dt, next sample n, n_end, truth's finished and next_id */

    /* Sensor imperfections, drawn per session. */
    double sigma_acc_g, sigma_gyr_dps, sigma_force_n;
    double acc_bias_g[3], gyr_bias_dps[3];
    double offset_n, offset_a, offset_g, offset_max_n; /* force zero drift (OU process) */
    double wobble[3][2], wobble_a, wobble_g;           /* hand wobble, 2-pole low-pass */
    double vib_x[3][2], vib_y[3][2];                   /* stick-slip resonators, body x y z */

    /* Area being worked. */
    int area, area_count, strokes_left;
    double incline_rad, heading_rad;
    double limb_axis[3], limb_up[3], limb_side[3], skin_normal[3], anchor[3];
    double area_force_n, tilt_a_deg, tilt_b_deg, yaw_deg;
    int hold_flip; /* the tool is pushed (1) rather than pulled (0) along its -y */

    /* Script. */
    int phase;    /* internal script phase */
    int seg_kind; /* SIM_SCRAPER_SEG_* */
    double seg_t0, seg_t1, seg_inv_t;
    double seg_p0[3], seg_p1[3], seg_lift[3], seg_lift_h; /* air / rest path */
    double seg_q0[4], seg_axis[3], seg_angle, seg_wrist;  /* air orientation path */
    double seg_wobble;                                    /* hand wobble input scale */
    sim_scraper_stroke_t cur, next;

    /* Motion state. */
    double q[4];      /* tool orientation, body to world */
    double w_body[3]; /* true body rate, rad/s, of the last sample */

    /* Open truth of the current contact. */
    uint32_t contact_seq; /* strokes begun */
    double force_sum, force_peak;
    uint64_t force_count;

    /* Buttons. */
    uint64_t press_at, release_at; /* samples; UINT64_MAX = none pending */
    int press_area;                /* area the pending press finishes */

    /* World truth of the last produced sample, see sim_scraper_world_state(). */
    double w_pos[3], w_vel[3], w_acc[3], w_q[4], w_gyr[3], w_force, w_offset;
} sim_scraper_t;

/* Segment kinds, as reported by sim_scraper_world_state(). */
#define SIM_SCRAPER_SEG_REST 0    /* held still in the air or resting on the skin, no force */
#define SIM_SCRAPER_SEG_CONTACT 1 /* blade on the skin: a stroke */
#define SIM_SCRAPER_SEG_AIR 2     /* lifted: air return or moving to another area */

/* The rigid-body truth behind one sample, for tests and research. The world
 * frame has +z up and gravity -9.80665 m/s^2 along z. */
typedef struct {
    double pos_m[3];    /* blade contact point (where the IMU is taken to be), world */
    double vel_mps[3];  /* its velocity, world */
    double acc_mps2[3]; /* its acceleration, world (without the um-scale vibration) */
    double q[4];        /* orientation, sensor frame to world, (w, x, y, z) */
    double gyr_dps[3];  /* true body rate, sensor axes, before bias and noise */
    double force_n;     /* true normal force, before zero offset and noise */
    double offset_n;    /* the force sensor's zero offset at this sample */
    int segment;        /* SIM_SCRAPER_SEG_* */
    int area;           /* index of the area being worked, see sim_scraper_area_name() */
    uint32_t contact;   /* number of the latest stroke begun, from 1 (0: none yet); a
                           no-lift pair's second stroke has its own number */
} sim_scraper_world_t;

/* Sets up a session: copies the settings, draws the sensor, the first area
 * and the script from seed. No allocation. Returns 0, or -EINVAL for
 * settings out of range (rate, negative duration or noise, ranges with
 * min > max, fractions outside 0..1 or summing above 1). */
int sim_scraper_init(sim_scraper_t *s, const sim_scraper_settings_t *settings, uint64_t seed);

/* Produces the next sample into *out: t_dev = index / rate_hz seconds of true
 * device time from 0, p in newton, acc in g, gyr in deg/s (device axes).
 * Truth goes to truth (may be NULL), valid during the call only:
 *  - a completed stroke, at the first sample at or after its end, as type
 *    "stroke", EVENT_END, t_start_dev (first instant of contact), t_dev (the
 *    force is back to 0, or the boundary of a no-lift pair), fields
 *    "length_m", "peak_force_n", "mean_force_n", "mean_speed_mps",
 *    "duration_s", "hard_case" (the SIM_SCRAPER_* kind, 0 = ordinary), and
 *    text "direction" = "up" | "down" | "level";
 *  - a button press, at its sample, as type "mark", EVENT_INSTANT, with text
 *    "area" = the name of the area just finished and field "area_index".
 * Returns a set of SIM_SCRAPER_BUTTON_DOWN / SIM_SCRAPER_BUTTON_UP and
 * SIM_SCRAPER_END (the last sample of a session with a duration: no stroke
 * is open then, since strokes that would not finish are not begun). Called
 * after the end, it goes on producing samples of the tool held still, with
 * no truth, and returns SIM_SCRAPER_END. Never allocates. */
int sim_scraper_step(sim_scraper_t *s, sample_t *out, event_sink_fn truth, void *truth_ctx);

/* Ends the truth: a stroke still in contact at the time of the next sample
 * is reported, ending there, with the field "truncated" = 1 (a detector
 * cannot have seen its end; scorers may skip it). Afterwards no more truth
 * is emitted. For endless sessions stopped by the caller; harmless after
 * SIM_SCRAPER_END and when called twice. */
void sim_scraper_finish(sim_scraper_t *s, event_sink_fn truth, void *truth_ctx);

/* The rigid-body truth of the sample last produced by sim_scraper_step()
 * (all zero before the first). */
void sim_scraper_world_state(const sim_scraper_t *s, sim_scraper_world_t *out);

/* Name of area index i ("calf_back", "calf_side", "achilles", "shin",
 * "sole"), a static string; "?" out of range. */
const char *sim_scraper_area_name(int area);

/* Parses a comma-separated list of hard-case names ("hesitant", "no_lift",
 * "short", "noisy", "fast", "all", "none") into SIM_SCRAPER_* flags
 * (util/flag_names). Returns 0, or -EINVAL (unknown name; *flags untouched). */
int sim_scraper_hard_cases_parse(const char *text, int *flags);

#endif
