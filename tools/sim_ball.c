#include "sim_ball.h"
#include "flag_names.h"
#include "sim_quat.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* The physical model and the exact truth definitions are written up in
 * docs/SIMULATOR.md; comments here say why the code is shaped as it is. */

#define PI 3.14159265358979323846
#define G_MPS2 9.80665
#define NONE UINT64_MAX

#define BALL_RADIUS_M 0.05   /* a 10 cm massage ball */
#define TABLE_MAX_N 1200.0   /* loads above this are clamped in the table */
#define PA_PER_KELVIN 340.0  /* isochoric: 101.3 kPa / 298 K */
#define BASE_TAU_S 0.3       /* how fast the resting load settles */
#define HOLD_BUDGET_S 58.5   /* the development world's hold budget, seconds */
#define P_LAG_TAU_S 0.015    /* air and rubber response to a load change */
#define CREEP_TAU_S 10.0     /* rubber creep under a steady load */
#define CREEP_FRACTION 0.03f /* ... adds this share of the rise */
#define SLOW_DECIMATION 100  /* weather and bias walks update every 100 samples */

enum { PH_IDLE, PH_LOAD_ON, PH_STROKE, PH_PAUSE, PH_HOLD, PH_UNLOAD };
enum { ACT_REST, ACT_FLEX, ACT_ROCK, ACT_SHIFT };

/* The development world (sim_ball.h). */
#define SIM_BALL_WORLD_DEFAULT                                                                     \
    {                                                                                              \
        .load_n = {100.0, 400.0}, .shell_n_per_m = {6000.0, 9000.0}, .flex_rise = {0.15, 0.40},    \
        .flex_up_s = {0.1, 0.3}, .flex_plateau_s = {2.0, 8.0}, .mmg_centre_hz = {11.0, 22.0},      \
        .mmg_scale_pa = {40.0, 180.0}, .noise_p_pa = {5.0, 20.0}, .tremor_hz = {8.0, 12.0},        \
        .tremor_scale = {1.0, 1.0}, .breath_depth = {0.02, 0.05}, .sway_depth = {0.03, 0.08},      \
        .warm_k = {1.0, 2.0}, .settle_step = {0.0, 0.0}, .settle_tau_s = {1.0, 1.0},               \
        .hold_s = {58.5, 58.5},                                                                    \
    }

const sim_ball_settings_t sim_ball_default = {
    .rate_hz = 1000.0f,
    .duration_s = 0.0,
    .body_load_n = 0.0f,
    .noise = 1.0f,
    .hard_cases = 0,
    .ambient_pa = 101325.0f,
    .rock_probability = 0.35f,
    .mark_probability = 0.6f,
    .world = SIM_BALL_WORLD_DEFAULT,
};

const sim_ball_world_t sim_ball_world_default = SIM_BALL_WORLD_DEFAULT;

const sim_ball_world_t sim_ball_world_wide = {
    .load_n = {60.0, 600.0},
    .shell_n_per_m = {4000.0, 14000.0},
    .flex_rise = {0.08, 0.40},
    .flex_up_s = {0.08, 0.5},
    .flex_plateau_s = {1.0, 12.0},
    .mmg_centre_hz = {8.0, 30.0},
    .mmg_scale_pa = {20.0, 250.0},
    .noise_p_pa = {3.0, 40.0},
    .tremor_hz = {7.0, 13.0},
    .tremor_scale = {0.5, 3.0},
    .breath_depth = {0.01, 0.08},
    .sway_depth = {0.02, 0.12},
    .warm_k = {0.5, 6.0},
    .settle_step = {0.0, 0.15},
    .settle_tau_s = {0.5, 3.0},
    .hold_s = {15.0, 90.0},
};

const sim_ball_world_t sim_ball_world_stress = {
    .load_n = {40.0, 700.0},
    .shell_n_per_m = {2000.0, 20000.0},
    .flex_rise = {0.04, 0.50},
    .flex_up_s = {0.05, 0.8},
    .flex_plateau_s = {0.6, 15.0},
    .mmg_centre_hz = {6.0, 38.0},
    .mmg_scale_pa = {10.0, 300.0},
    .noise_p_pa = {20.0, 80.0},
    .tremor_hz = {7.0, 13.0},
    .tremor_scale = {2.0, 8.0},
    .breath_depth = {0.06, 0.15},
    .sway_depth = {0.08, 0.20},
    .warm_k = {4.0, 15.0},
    .settle_step = {0.10, 0.30},
    .settle_tau_s = {1.0, 4.0},
    .hold_s = {8.0, 120.0},
};

/* ---- small helpers ---- */

static double uni(sim_ball_t *s, double lo, double hi)
{
    return lo + (hi - lo) * sim_rng_uniform(&s->run.rng);
}

/* A draw from a range that has always been drawn (the random stream is the
 * same whatever the range). */
static double draw(sim_ball_t *s, sim_range_t r)
{
    return uni(s, r.lo, r.hi);
}

/* A draw from a range that is fixed in the development world: a fixed
 * range takes nothing from the random stream, so adding it changed no
 * session. */
static double draw_new(sim_ball_t *s, sim_range_t r)
{
    return r.lo == r.hi ? r.lo : uni(s, r.lo, r.hi);
}

static int chance(sim_ball_t *s, double p)
{
    return sim_rng_uniform(&s->run.rng) < p;
}

static double gauss(sim_ball_t *s)
{
    return sim_rng_gauss(&s->run.rng);
}

static uint64_t samples(const sim_ball_t *s, double seconds)
{
    double k = floor(seconds * s->set.rate_hz + 0.5);
    return k < 1.0 ? 1 : (uint64_t)k;
}

/* Raised-cosine ramp 0 -> 1 for u in [0, 1]: smooth at both ends like a
 * muscle or a hand, so no ramp puts energy into the MMG band. */
static double ramp(double u)
{
    if (u <= 0.0)
        return 0.0;
    if (u >= 1.0)
        return 1.0;
    return 0.5 - 0.5 * cos(PI * u);
}

/* A flex's ramp 0 -> 1 for u in [0, 1] in the world's shape (SIM_FLEX_*). */
static double flex_ramp(int shape, double u)
{
    if (u <= 0.0)
        return 0.0;
    if (u >= 1.0)
        return 1.0;
    switch (shape) {
    case SIM_FLEX_LINEAR:
        return u;
    case SIM_FLEX_FIRST_ORDER:
        return (1.0 - exp(-4.0 * u)) / (1.0 - exp(-4.0));
    case SIM_FLEX_SLOW_START:
        return u * u * u;
    default:
        return ramp(u);
    }
}

static double ramp_slope(double u) /* d ramp / du */
{
    if (u <= 0.0 || u >= 1.0)
        return 0.0;
    return 0.5 * PI * sin(PI * u);
}

/* 1 / rms of the cascade's response to unit white noise, from the energy of
 * its impulse response (on a copy): done once per flex, so exact beats
 * approximate. */
static float cascade_norm(const biquad_cascade_t *f, uint64_t n)
{
    biquad_cascade_t copy = *f;
    biquad_cascade_reset(&copy);
    double energy = 0.0;
    for (uint64_t i = 0; i < n; i++) {
        float y = biquad_cascade_step(&copy, i == 0 ? 1.0f : 0.0f);
        energy += (double)y * y;
    }
    return energy > 0.0 ? (float)(1.0 / sqrt(energy)) : 0.0f;
}

/* A band-pass (0 dB peak) at f0_hz with quality q, as a one-section cascade. */
static void band_pass(biquad_cascade_t *c, double f0_hz, double q, double fs)
{
    biquad_settings_t bs = {.type = BIQUAD_BANDPASS, .fs_hz = fs, .f0_hz = f0_hz, .q = q};
    biquad_cascade_init(c);
    biquad_cascade_add(c, &bs);
}

static void smooth_init(sim_ball_smooth_t *f, double fc, double fs)
{
    memset(f, 0, sizeof *f);
    f->a = (float)(1.0 - exp(-2.0 * PI * fc / fs));
    /* Gain from the impulse response's energy; 20 time constants of the
     * cascade hold all of it. */
    double z[3] = {0, 0, 0}, energy = 0.0, a = f->a;
    uint64_t n = (uint64_t)(20.0 * fs / fc);
    for (uint64_t i = 0; i < n; i++) {
        z[0] += a * ((i == 0 ? 1.0 : 0.0) - z[0]);
        z[1] += a * (z[0] - z[1]);
        z[2] += a * (z[1] - z[2]);
        energy += z[2] * z[2];
    }
    f->gain = (float)(1.0 / sqrt(energy));
}

static float smooth_run(sim_ball_smooth_t *f, float white)
{
    f->z[0] += f->a * (white - f->z[0]);
    f->z[1] += f->a * (f->z[0] - f->z[1]);
    f->z[2] += f->a * (f->z[1] - f->z[2]);
    return f->gain * f->z[2];
}

/* Median frequency of the cascade's power between lo and hi Hz (white
 * input): what a detector's median-frequency estimate converges to. */
static double cascade_median_hz(const biquad_cascade_t *f, double fs, double lo, double hi)
{
    enum { POINTS = 451 };
    double power[POINTS], total = 0.0;
    for (int i = 0; i < POINTS; i++) {
        double g = biquad_cascade_magnitude(f, lo + (hi - lo) * i / (POINTS - 1), fs);
        power[i] = g * g;
        total += power[i];
    }
    double acc = 0.0;
    for (int i = 0; i < POINTS; i++) {
        acc += power[i];
        if (acc >= total / 2)
            return lo + (hi - lo) * i / (POINTS - 1);
    }
    return hi;
}

/* ---- the sealed ball: load to pressure ---- */

/* A sphere of radius R pressed flat by d on the floor and under the body:
 * contact disc area A = 2 pi R d, cap volume lost dV = pi d^2 (3R - d) / 3
 * per side, isothermal gas p V = const, and the rubber shell carries k d.
 * Load F = dp A + k d. The table maps F to dp on an even grid so a sample
 * costs one interpolation. */
static void build_table(sim_ball_t *s, double p0, double shell_n_per_m)
{
    const double r = BALL_RADIUS_M, v0 = 4.0 / 3.0 * PI * r * r * r;
    const int steps = 20000;
    double f_prev = 0.0, dp_prev = 0.0;
    int entry = 1;
    s->dp_table[0] = 0.0f;
    s->table_step_n = (float)(TABLE_MAX_N / (SIM_BALL_TABLE - 1));
    for (int i = 1; i <= steps && entry < SIM_BALL_TABLE; i++) {
        double d = 0.8 * r * i / steps;
        double dv = 2.0 * PI * d * d * (3.0 * r - d) / 3.0;
        double dp = p0 * v0 / (v0 - dv) - p0;
        double f = dp * 2.0 * PI * r * d + shell_n_per_m * d;
        while (entry < SIM_BALL_TABLE && f >= entry * (double)s->table_step_n) {
            double want = entry * (double)s->table_step_n;
            s->dp_table[entry] = (float)(dp_prev + (dp - dp_prev) * (want - f_prev) / (f - f_prev));
            entry++;
        }
        f_prev = f;
        dp_prev = dp;
    }
    for (; entry < SIM_BALL_TABLE; entry++) /* not reached with these parameters */
        s->dp_table[entry] = (float)dp_prev;
}

static double pressure_rise(const sim_ball_t *s, double load_n)
{
    if (load_n <= 0.0)
        return 0.0;
    double x = load_n / s->table_step_n;
    if (x >= SIM_BALL_TABLE - 1)
        return s->dp_table[SIM_BALL_TABLE - 1];
    int i = (int)x;
    double f = x - i;
    return s->dp_table[i] + f * (s->dp_table[i + 1] - s->dp_table[i]);
}

/* ---- truth ---- */

static void emit(sim_ball_t *s, event_sink_fn truth, void *ctx, event_t *e)
{
    e->id = s->run.next_id++;
    if (truth)
        truth(e, ctx);
}

static void truth_begin(event_t *e, const char *type, event_phase_t phase, double t_start,
                        double t_end)
{
    memset(e, 0, sizeof *e);
    e->type = type;
    e->phase = phase;
    e->t_start_dev = t_start;
    e->t_dev = t_end;
}

static void close_flex(sim_ball_t *s, uint64_t end, event_sink_fn truth, void *ctx)
{
    if (s->flex_open == NONE)
        return;
    const sim_ball_activity_t *a = &s->plan[s->plan_i];
    event_t e;
    truth_begin(&e, "flex", EVENT_END, s->flex_open * s->run.dt, end * s->run.dt);
    event_add_field(&e, "pressure_rise_pa", s->flex_rise_pa);
    event_add_field(&e, "rise_fraction", a->rise);
    event_add_field(&e, "mmg_hz", a->mmg_hz);
    event_add_field(&e, "mmg_median_hz", a->mmg_median_hz);
    event_add_field(&e, "mmg_rms_pa", a->mmg_pa);
    event_add_field(&e, "mmg_rms_mg", a->mmg_pa * s->mmg_mg_per_pa);
    event_add_field(&e, "baseline_rise_pa", s->flex_rest_pa);
    event_add_field(&e, "load_n", s->flex_rest_n);
    event_add_field(&e, "index", s->hold_flexes);
    event_add_field(&e, "weak", a->weak);
    event_add_field(&e, "partial", a->partial);
    event_add_field(&e, "up_s", (double)a->up * s->run.dt);
    s->flex_open = NONE;
    emit(s, truth, ctx, &e);
}

static void close_rock(sim_ball_t *s, uint64_t end, event_sink_fn truth, void *ctx)
{
    if (s->rock_open == NONE)
        return;
    const sim_ball_activity_t *a = &s->plan[s->plan_i];
    double rest = s->base_target_n;
    event_t e;
    truth_begin(&e, "rock", EVENT_END, s->rock_open * s->run.dt, end * s->run.dt);
    event_add_field(&e, "freq_hz", a->freq_hz);
    event_add_field(&e, "amplitude_deg", a->amplitude_deg);
    event_add_field(&e, "cycles", (end - s->rock_open) * s->run.dt * a->freq_hz);
    event_add_field(&e, "load_mod", a->load_mod);
    event_add_field(&e, "pressure_mod_pa",
                    0.5 * (pressure_rise(s, rest * (1.0 + a->load_mod)) -
                           pressure_rise(s, rest * (1.0 - a->load_mod))));
    s->rock_open = NONE;
    emit(s, truth, ctx, &e);
}

static void close_roll(sim_ball_t *s, uint64_t end, event_sink_fn truth, void *ctx)
{
    if (s->roll_open == NONE)
        return;
    event_t e;
    truth_begin(&e, "roll", EVENT_END, s->roll_open * s->run.dt, end * s->run.dt);
    event_add_field(&e, "mean_rate_dps",
                    s->roll_rate_count ? s->roll_rate_sum / (double)s->roll_rate_count : 0.0);
    event_add_field(&e, "strokes", s->roll_strokes);
    event_add_field(&e, "load_n", s->roll_load_n);
    s->roll_open = NONE;
    emit(s, truth, ctx, &e);
}

static void close_hold(sim_ball_t *s, uint64_t end, event_sink_fn truth, void *ctx)
{
    if (s->hold_open == NONE)
        return;
    if (s->hold_open >= end) { /* the session ended before the hold began */
        s->hold_open = NONE;
        return;
    }
    event_t e;
    truth_begin(&e, "hold", EVENT_END, s->hold_open * s->run.dt, end * s->run.dt);
    event_add_field(&e, "load_n", s->hold_load_start_n);
    event_add_field(&e, "flexes", s->hold_flexes);
    event_add_field(&e, "rocks", s->hold_rocks);
    if (s->hold_flexes > 0) {
        event_add_field(&e, "rest_start_pa", s->hold_first_rest_pa);
        event_add_field(&e, "rest_end_pa", s->hold_last_rest_pa);
        event_add_field(&e, "release_pa", s->hold_first_rest_pa - s->hold_last_rest_pa);
        event_add_field(&e, "first_rise_pa", s->hold_first_rise_pa);
        event_add_field(&e, "last_rise_pa", s->hold_last_rise_pa);
        event_add_field(&e, "rise_ratio", s->hold_last_rise_pa / s->hold_first_rise_pa);
        event_add_field(&e, "release_rate", s->hold_release_rate);
    }
    s->hold_open = NONE;
    s->hold_close_at = NONE;
    emit(s, truth, ctx, &e);
}

/* ---- session script ---- */

static void set_segment(sim_ball_t *s, int phase, uint64_t len)
{
    s->phase = phase;
    s->seg_start = s->run.n;
    s->seg_len = len;
}

static void start_idle(sim_ball_t *s, double seconds)
{
    set_segment(s, PH_IDLE, samples(s, seconds));
    s->on_body = 0.0f;
    s->hand_start = s->hand_end = NONE;
    if ((s->set.hard_cases & SIM_BALL_HANDLING) && seconds > 3.0 && chance(s, 0.6)) {
        double len = uni(s, 1.0, fmin(3.0, seconds - 1.5));
        s->hand_start = s->run.n + samples(s, uni(s, 0.5, seconds - len - 0.5));
        s->hand_end = s->hand_start + samples(s, len);
        for (int i = 0; i < 3; i++) {
            s->hand_hz[i] = (float)uni(s, 0.4, 2.0);
            s->hand_dps[i] = (float)uni(s, 30.0, 150.0);
            s->hand_phase[i] = (float)uni(s, 0.0, 2.0 * PI);
        }
        s->hand_squeeze_n = (float)uni(s, 5.0, 40.0);
    }
    if (chance(s, 0.05) && s->press_at == NONE) { /* a stray press now and then */
        s->press_at = s->run.n + samples(s, uni(s, 0.0, seconds));
        s->release_at = s->press_at + samples(s, uni(s, 0.08, 0.3));
    }
}

static void start_ramp(sim_ball_t *s, int phase, float from, float to)
{
    set_segment(s, phase, samples(s, uni(s, 0.5, 1.5)));
    s->level_from = from;
    s->level_to = to;
}

/* Opens the hold's truth and schedules the button press that marks it. */
static void open_hold(sim_ball_t *s, uint64_t start)
{
    s->hold_open = start;
    s->hold_close_at = NONE;
    s->hold_flexes = s->hold_rocks = 0;
    s->hold_load_start_n = s->base_target_n;
    if (chance(s, s->set.mark_probability) && s->press_at == NONE) {
        s->press_at = start + samples(s, uni(s, 0.3, 2.5));
        s->release_at = s->press_at + samples(s, uni(s, 0.08, 0.3));
    }
}

static void add_activity(sim_ball_t *s, int kind, double seconds)
{
    if (s->plan_n >= SIM_BALL_MAX_PLAN)
        return;
    sim_ball_activity_t *a = &s->plan[s->plan_n++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->len = samples(s, seconds);
}

static double plan_seconds(const sim_ball_t *s)
{
    uint64_t total = 0;
    for (int i = 0; i < s->plan_n; i++)
        total += s->plan[i].len;
    return total * s->run.dt;
}

static void add_flex(sim_ball_t *s, int index, double release)
{
    int hard = s->set.hard_cases;
    int partial = (hard & SIM_BALL_PARTIAL_FLEX) && chance(s, 0.3);
    int weak = (hard & SIM_BALL_WEAK_FLEX) && chance(s, 0.35);
    const sim_ball_world_t *w = &s->set.world;
    double up = partial ? uni(s, 0.1, 0.2) : draw(s, w->flex_up_s);
    double down = partial ? uni(s, 0.1, 0.25) : uni(s, 0.15, 0.4);
    double plateau = partial ? fmax(0.1, uni(s, 0.5, 1.5) - up - down) : draw(s, w->flex_plateau_s);
    add_activity(s, ACT_FLEX, up + plateau + down);
    sim_ball_activity_t *a = &s->plan[s->plan_n - 1];
    a->up = samples(s, up);
    a->down = samples(s, down);
    /* The muscle releases: each flex rises less than the one before. */
    a->rise = (float)(weak ? uni(s, 0.03, 0.08)
                           : s->hold_first_rise * pow(1.0 - s->hold_rise_decay, index));
    a->release = (float)release;
    /* A flex's centre scatters about the person's, within 1 Hz below and
     * 3 Hz above the world's range (10-25 Hz in the development world). */
    a->mmg_hz =
        (float)fmin(fmax(25.0, w->mmg_centre_hz.hi + 3.0),
                    fmax(fmin(10.0, w->mmg_centre_hz.lo - 1.0), s->mmg_centre_hz + 2.5 * gauss(s)));
    a->mmg_pa = (float)(s->mmg_scale_pa * (weak ? uni(s, 0.1, 0.25) : uni(s, 0.6, 1.5)));
    a->weak = weak;
    a->partial = partial;
}

static void add_rock(sim_ball_t *s, double max_seconds)
{
    double f = exp(uni(s, log(0.3), log(3.0)));
    int cycles = 3 + (int)(sim_rng_next(&s->run.rng) % 23);
    while (cycles > 3 && cycles / f > fmin(30.0, max_seconds))
        cycles--;
    if (cycles / f > max_seconds)
        return;
    /* Cap the peak rate at 250 deg/s: faster rocking is not something a
     * body lying on a ball does. */
    double amp = fmax(5.0, fmin(uni(s, 5.0, 30.0), 250.0 / (2.0 * PI * f)));
    add_activity(s, ACT_ROCK, cycles / f);
    sim_ball_activity_t *a = &s->plan[s->plan_n - 1];
    a->freq_hz = (float)f;
    a->amplitude_deg = (float)amp;
    a->load_mod = (float)uni(s, 0.03, 0.10);
    a->up = a->down = samples(s, fmin(0.25 / f, 0.4));
}

/* Plans the activities of a hold: settle, flexes with rests, maybe a rock,
 * maybe a weight shift. The plan fits `budget` seconds (the hold lasts
 * 10-60 s including the halves of load ramps that belong to it). */
static void plan_hold(sim_ball_t *s, double budget)
{
    int hard = s->set.hard_cases;
    s->plan_n = 0;
    s->plan_i = 0;
    s->hold_release_rate = (float)(s->release_rate * uni(s, 0.5, 1.5));
    s->hold_rise_decay = (float)uni(s, 0.04, 0.15);
    s->hold_first_rise = (float)draw(s, s->set.world.flex_rise);
    s->rock_axis_deg = (float)uni(s, 0.0, 360.0);
    add_activity(s, ACT_REST, uni(s, 1.5, 4.0));
    if ((hard & SIM_BALL_ROCK_NO_FLEX) && chance(s, 0.4)) {
        add_rock(s, budget - plan_seconds(s) - 2.0);
        if (chance(s, 0.4) && budget - plan_seconds(s) > 8.0) {
            add_activity(s, ACT_REST, uni(s, 2.0, 5.0));
            add_rock(s, budget - plan_seconds(s) - 2.0);
        }
        add_activity(s, ACT_REST, uni(s, 1.5, 2.0));
    } else {
        int want = 2 + (int)(sim_rng_next(&s->run.rng) % 5);
        if (budget > HOLD_BUDGET_S) /* long holds: about a flex every 12 s more */
            want += (int)((budget - HOLD_BUDGET_S) / 12.0);
        int rock = chance(s, s->set.rock_probability);
        int shift = (hard & SIM_BALL_WEIGHT_SHIFT) && chance(s, 0.6);
        for (int i = 0; i < want; i++) {
            /* At least two flexes; more while they fit the budget. Two
             * always fit: 4 + 2 * (8.7 + 10) s < 45 s. */
            int mark = s->plan_n;
            add_flex(s, i, s->hold_release_rate * uni(s, 0.5, 1.5));
            add_activity(s, ACT_REST, uni(s, 2.0, 10.0));
            if (i >= 2 && plan_seconds(s) > budget) {
                s->plan_n = mark;
                break;
            }
        }
        if (shift && plan_seconds(s) + 4.0 < budget) {
            add_activity(s, ACT_SHIFT, uni(s, 0.3, 1.0));
            s->plan[s->plan_n - 1].release =
                (float)(uni(s, 0.05, 0.15) * (chance(s, 0.5) ? 1 : -1));
            add_activity(s, ACT_REST, uni(s, 2.0, 3.0));
        }
        if (rock) {
            add_rock(s, budget - plan_seconds(s) - 2.0);
            if (s->plan[s->plan_n - 1].kind == ACT_ROCK)
                add_activity(s, ACT_REST, uni(s, 1.5, 2.0));
        }
        /* Move the extras (shift, rock) from the end to a random gap after
         * a rest, so they sit between flexes; swapping whole blocks keeps
         * every flex followed by its rest. */
        int n_flex_part = 1;
        while (n_flex_part < s->plan_n && s->plan[n_flex_part].kind != ACT_SHIFT &&
               s->plan[n_flex_part].kind != ACT_ROCK)
            n_flex_part++;
        int extras = s->plan_n - n_flex_part;
        if (extras > 0) {
            int gaps = (n_flex_part - 1) / 2; /* positions after each rest */
            int at = 1 + 2 * (int)(sim_rng_next(&s->run.rng) % (uint64_t)(gaps + 1));
            sim_ball_activity_t tmp[SIM_BALL_MAX_PLAN];
            memcpy(tmp, &s->plan[n_flex_part], extras * sizeof tmp[0]);
            memmove(&s->plan[at + extras], &s->plan[at], (n_flex_part - at) * sizeof tmp[0]);
            memcpy(&s->plan[at], tmp, extras * sizeof tmp[0]);
        }
    }
    double total = plan_seconds(s);
    if (total < 10.0)
        s->plan[s->plan_n - 1].len += samples(s, 10.0 - total);
}

static void start_activity(sim_ball_t *s, event_sink_fn truth, void *ctx);

/* Plans the hold starting at sample n (its resting load already set) and
 * starts its first activity; schedules the tremor episode inside it. */
static void start_hold(sim_ball_t *s, double budget, event_sink_fn truth, void *ctx)
{
    /* Settling onto the knot: the load goes on rising for a while. */
    const sim_ball_world_t *w = &s->set.world;
    s->settle_target_n = (float)(draw_new(s, w->settle_step) * s->base_target_n);
    s->settle_a = (float)(s->run.dt / draw_new(s, w->settle_tau_s));
    plan_hold(s, budget);
    double planned = plan_seconds(s);
    if ((s->set.hard_cases & SIM_BALL_TREMOR) && chance(s, 0.7)) {
        double len = uni(s, 3.0, fmin(15.0, planned - 1.0));
        s->tremor_start = s->run.n + samples(s, uni(s, 0.0, planned - len));
        s->tremor_end = s->tremor_start + samples(s, len);
    }
    s->phase = PH_HOLD;
    start_activity(s, truth, ctx);
}

static void start_stroke(sim_ball_t *s)
{
    double len = uni(s, 0.6, 3.0);
    set_segment(s, PH_STROKE, samples(s, len));
    s->stroke_ramp = samples(s, fmin(uni(s, 0.1, 0.3), len / 3.0));
    double peak = fmin(220.0, fmax(30.0, s->roll_speed_dps * uni(s, 0.7, 1.3)));
    /* Back and forth along the calf mostly, sometimes on in one direction. */
    if (s->roll_strokes > 0 && chance(s, 0.75))
        s->stroke_sign = -s->stroke_sign;
    else if (s->roll_strokes == 0)
        s->stroke_sign = chance(s, 0.5) ? 1 : -1;
    s->stroke_peak_dps = (float)(peak * s->stroke_sign);
    s->stroke_axis_deg = (float)(s->roll_axis_deg + 8.0 * gauss(s));
    s->roll_strokes++;
}

static void start_roll(sim_ball_t *s)
{
    s->roll_open = s->run.n;
    s->roll_rate_sum = 0.0;
    s->roll_rate_count = 0;
    s->roll_strokes = 0;
    s->roll_target_end = s->run.n * s->run.dt + uni(s, 2.0, 15.0);
    s->roll_axis_deg = (float)uni(s, 0.0, 360.0);
    s->base_target_n = s->load_n * (float)uni(s, 0.7, 1.0);
    s->roll_load_n = s->base_target_n;
    start_stroke(s);
}

/* Starts plan[plan_i] at sample n (opening its truth). */
static void start_activity(sim_ball_t *s, event_sink_fn truth, void *ctx)
{
    sim_ball_activity_t *a = &s->plan[s->plan_i];
    set_segment(s, PH_HOLD, a->len);
    if (a->kind == ACT_FLEX) {
        double rest = s->base_target_n;
        s->flex_open = s->run.n;
        s->hold_flexes++;
        s->flex_rest_n = (float)rest;
        s->flex_rest_pa = (float)pressure_rise(s, rest);
        s->flex_rise_pa = (float)(pressure_rise(s, rest * (1.0 + a->rise)) - s->flex_rest_pa);
        if (s->hold_flexes == 1) {
            s->hold_first_rest_pa = s->flex_rest_pa;
            s->hold_first_rise_pa = s->flex_rise_pa;
        }
        s->hold_last_rise_pa = s->flex_rise_pa;
        double fs = s->set.rate_hz;
        /* Band-pass at the flex's centre, then a 4th-order Butterworth at
         * 45 Hz (two biquads, Q 0.541 and 1.307) so little is left above
         * 50 Hz. */
        double lp = fmin(45.0, 0.4 * fs);
        band_pass(&s->mmg, a->mmg_hz, 1.0, fs);
        biquad_cascade_butterworth(&s->mmg, BIQUAD_LOWPASS, fs, lp, 4);
        s->mmg_lateral_f = s->mmg;
        s->mmg_norm = cascade_norm(&s->mmg, samples(s, 1.0));
        a->mmg_median_hz = (float)cascade_median_hz(&s->mmg, fs, 5.0, 50.0);
    } else if (a->kind == ACT_ROCK) {
        s->rock_open = s->run.n;
        s->hold_rocks++;
    } else if (a->kind == ACT_SHIFT) {
        s->base_target_n *= 1.0f + a->release;
    }
    (void)truth;
    (void)ctx;
}

static void end_activity(sim_ball_t *s, event_sink_fn truth, void *ctx)
{
    sim_ball_activity_t *a = &s->plan[s->plan_i];
    if (a->kind == ACT_FLEX) {
        /* The relax ramp lands on the lower, released resting load. */
        s->base_target_n = s->flex_rest_n * (1.0f - a->release);
        s->base_n = s->base_target_n;
        s->flex_n = 0.0f;
        s->mmg_level = 0.0f;
        s->hold_last_rest_pa = (float)pressure_rise(s, s->base_target_n);
        close_flex(s, s->run.n, truth, ctx);
    } else if (a->kind == ACT_ROCK) {
        s->flex_n = 0.0f;
        close_rock(s, s->run.n, truth, ctx);
    }
}

/* The segment that ran until sample n - 1 is over: move the script on. */
static void advance(sim_ball_t *s, event_sink_fn truth, void *ctx)
{
    switch (s->phase) {
    case PH_IDLE: {
        int to_hold = chance(s, 0.2);
        s->base_target_n =
            s->load_n * (to_hold ? (float)uni(s, 0.85, 1.15) : (float)uni(s, 0.7, 1.0));
        s->base_n = s->base_target_n;
        start_ramp(s, PH_LOAD_ON, 0.0f, 1.0f);
        s->next_after_ramp = to_hold ? PH_HOLD : PH_STROKE;
        if (to_hold) /* a hold from unloaded starts when half the load is on */
            open_hold(s, s->run.n + s->seg_len / 2);
        break;
    }
    case PH_LOAD_ON:
        s->on_body = 1.0f;
        if (s->next_after_ramp == PH_HOLD) {
            double half = (s->run.n - s->hold_open) * s->run.dt;
            start_hold(s, s->hold_budget_s - half, truth, ctx);
        } else {
            start_roll(s);
        }
        break;
    case PH_STROKE:
        if (s->run.n * s->run.dt >= s->roll_target_end) {
            close_roll(s, s->run.n, truth, ctx);
            if (chance(s, 0.85)) {
                s->base_target_n = s->load_n * (float)uni(s, 0.85, 1.15);
                open_hold(s, s->run.n);
                start_hold(s, s->hold_budget_s, truth, ctx);
            } else {
                start_ramp(s, PH_UNLOAD, 1.0f, 0.0f);
            }
        } else {
            double pause = uni(s, -0.2, 0.4); /* no pause a third of the time */
            if (pause > 0.0)
                set_segment(s, PH_PAUSE, samples(s, pause));
            else
                start_stroke(s);
        }
        break;
    case PH_PAUSE:
        start_stroke(s);
        break;
    case PH_HOLD:
        end_activity(s, truth, ctx);
        if (++s->plan_i < s->plan_n) {
            start_activity(s, truth, ctx);
        } else if (chance(s, 0.75)) {
            close_hold(s, s->run.n, truth, ctx);
            start_roll(s);
        } else {
            start_ramp(s, PH_UNLOAD, 1.0f, 0.0f);
            s->hold_close_at = s->run.n + s->seg_len / 2; /* half the load is off */
        }
        break;
    case PH_UNLOAD:
        start_idle(s, uni(s, 2.0, 10.0));
        break;
    }
}

/* ---- public ---- */

static void random_unit(sim_ball_t *s, float v[3], int horizontal)
{
    double a = uni(s, 0.0, 2.0 * PI);
    double z = horizontal ? 0.0 : uni(s, -1.0, 1.0);
    double r = sqrt(1.0 - z * z);
    v[0] = (float)(r * cos(a));
    v[1] = (float)(r * sin(a));
    v[2] = (float)z;
}

int sim_ball_init(sim_ball_t *s, const sim_ball_settings_t *settings, uint64_t seed)
{
    const sim_ball_settings_t *c = settings;
    if (!(c->rate_hz >= 100.0f && c->rate_hz <= 10000.0f) || !(c->duration_s >= 0.0) ||
        !isfinite(c->duration_s) ||
        !(c->body_load_n == 0.0f || (c->body_load_n >= 20.0f && c->body_load_n <= 800.0f)) ||
        !(c->noise >= 0.0f && c->noise <= 100.0f) ||
        !(c->ambient_pa >= 50000.0f && c->ambient_pa <= 120000.0f) ||
        !(c->rock_probability >= 0.0f && c->rock_probability <= 1.0f) ||
        !(c->mark_probability >= 0.0f && c->mark_probability <= 1.0f) ||
        !(c->world.flex_shape >= SIM_FLEX_SMOOTH && c->world.flex_shape <= SIM_FLEX_SLOW_START) ||
        !(c->world.flex_wander >= 0.0f && c->world.flex_wander <= 1.0f) ||
        !(c->world.hold_fluct >= 0.0f && c->world.hold_fluct <= 0.5f))
        return -EINVAL;
    memset(s, 0, sizeof *s);
    s->set = *c;
    sim_run_start(&s->run, seed, c->rate_hz, c->duration_s > 0.0 ? samples(s, c->duration_s) : 0);
    double fs = c->rate_hz, nz = c->noise;

    /* The person. */
    const sim_ball_world_t *w = &c->world;
    s->load_n = c->body_load_n > 0.0f ? c->body_load_n : (float)draw(s, w->load_n);
    s->mmg_centre_hz = (float)draw(s, w->mmg_centre_hz);
    s->mmg_scale_pa = (float)draw(s, w->mmg_scale_pa);
    s->mmg_mg_per_pa = (float)uni(s, 0.06, 0.12);
    s->release_rate = (float)uni(s, 0.02, 0.06);
    s->roll_speed_dps = (float)uni(s, 50.0, 160.0);

    /* The ball. */
    s->p_inflation = (float)uni(s, 0.0, 800.0);
    build_table(s, c->ambient_pa + s->p_inflation, draw(s, w->shell_n_per_m));
    s->thermal_target_pa = (float)(PA_PER_KELVIN * draw(s, w->warm_k));
    s->thermal_a_on = (float)(s->run.dt / 300.0);
    s->thermal_a_off = (float)(s->run.dt / 900.0);
    s->p_lag_a = (float)(s->run.dt / P_LAG_TAU_S);
    s->creep_a = (float)(s->run.dt / CREEP_TAU_S);
    s->base_a = (float)(s->run.dt / BASE_TAU_S);

    /* The sensors: noise and bias scale together with `noise`. */
    s->sigma_p = (float)(draw(s, w->noise_p_pa) * nz);
    s->sigma_acc = (float)(uni(s, 0.002, 0.005) * nz);
    s->sigma_gyr = (float)(uni(s, 0.1, 0.3) * nz);
    for (int i = 0; i < 3; i++) {
        s->acc_bias[i] = (float)(0.01 * gauss(s) * nz);
        s->acc_gain[i] = (float)(1.0 + 0.005 * gauss(s) * nz);
        s->gyr_bias[i] = (float)(0.5 * gauss(s) * nz);
    }
    s->bias_walk_dps = (float)(0.002 * nz);
    s->weather_walk_pa = (float)(0.5 * nz);

    /* Slow processes: smooth noise of unit rms. */
    smooth_init(&s->fluct, 1.0, fs);
    for (int i = 0; i < 3; i++)
        smooth_init(&s->micro[i], 0.7, fs);
    smooth_init(&s->wander, 1.5, fs);
    sim_rng_seed(&s->wander_rng, seed ^ 0x3a7d5u);

    /* The hard cases' fixed parameters (drawn always, so the flags do not
     * change the rest of the session's random stream more than needed). */
    s->breath_hz = (float)uni(s, 0.2, 0.4);
    s->breath_depth = (float)draw(s, w->breath_depth);
    s->breath_phase = uni(s, 0.0, 2.0 * PI);
    s->sway_hz = (float)exp(uni(s, log(0.05), log(0.5)));
    s->sway_depth = (float)draw(s, w->sway_depth);
    s->sway_tilt_deg = (float)uni(s, 1.0, 4.0);
    s->sway_phase = uni(s, 0.0, 2.0 * PI);
    random_unit(s, s->sway_axis, 1);
    random_unit(s, s->tremor_dir, 0);
    random_unit(s, s->mmg_lateral, 1);
    double tremor_hz = draw(s, w->tremor_hz);
    band_pass(&s->tremor_bp, tremor_hz, 6.0, fs);
    s->tremor_norm = cascade_norm(&s->tremor_bp, samples(s, 3.0));
    s->tremor_g = (float)(uni(s, 0.002, 0.006));
    s->tremor_pa = (float)(uni(s, 2.0, 8.0));
    s->tremor_scale = (float)draw_new(s, w->tremor_scale);
    s->hold_budget_s = draw_new(s, w->hold_s);
    s->tremor_start = s->tremor_end = NONE;

    /* A uniformly random orientation (Shoemake): the IMU sits in the ball
     * at any angle. */
    double u1 = uni(s, 0, 1), u2 = uni(s, 0, 2 * PI), u3 = uni(s, 0, 2 * PI);
    s->q[0] = sqrt(1 - u1) * sin(u2);
    s->q[1] = sqrt(1 - u1) * cos(u2);
    s->q[2] = sqrt(u1) * sin(u3);
    s->q[3] = sqrt(u1) * cos(u3);

    s->press_at = s->release_at = NONE;
    s->roll_open = s->hold_open = s->flex_open = s->rock_open = NONE;
    s->hold_close_at = NONE;
    start_idle(s, uni(s, 1.0, 5.0));
    return 0;
}

void sim_ball_finish(sim_ball_t *s, event_sink_fn truth, void *truth_ctx)
{
    if (s->run.finished)
        return;
    uint64_t end = s->run.n;
    close_flex(s, end, truth, truth_ctx);
    close_rock(s, end, truth, truth_ctx);
    close_roll(s, end, truth, truth_ctx);
    close_hold(s, end, truth, truth_ctx);
    s->run.finished = 1;
}

/* World angular rate (deg/s) and the part of it that rolls the ball on the
 * floor (drives the centre's acceleration), for the current segment. */
static void motion(sim_ball_t *s, uint64_t k, float rate[3], float *rolling_dps, float *load_mod)
{
    rate[0] = rate[1] = rate[2] = 0.0f;
    *rolling_dps = 0.0f;
    *load_mod = 0.0f;
    if (s->phase == PH_STROKE) {
        double r = (double)s->stroke_ramp, len = (double)s->seg_len, kk = (double)k;
        double env = ramp(kk / r) * (1.0 - ramp((kk - (len - r)) / r));
        double w = s->stroke_peak_dps * env;
        double h = s->stroke_axis_deg * PI / 180.0;
        rate[0] = (float)(w * cos(h));
        rate[1] = (float)(w * sin(h));
        *rolling_dps = (float)fabs(w);
        /* Pushing the leg over the ball loads it a little more. */
        *load_mod = (float)(0.05 * env);
    } else if (s->phase == PH_HOLD && s->plan[s->plan_i].kind == ACT_ROCK) {
        const sim_ball_activity_t *a = &s->plan[s->plan_i];
        double r = (double)a->up, len = (double)s->seg_len, kk = (double)k;
        double env = ramp(kk / r) * (1.0 - ramp((kk - (len - r)) / r));
        double denv = (ramp_slope(kk / r) - ramp_slope((kk - (len - r)) / r)) * s->set.rate_hz / r;
        double w = 2.0 * PI * a->freq_hz, t = kk * s->run.dt;
        double dtheta = a->amplitude_deg * (denv * sin(w * t) + env * w * cos(w * t));
        double h = s->rock_axis_deg * PI / 180.0;
        rate[0] = (float)(dtheta * cos(h));
        rate[1] = (float)(dtheta * sin(h));
        *rolling_dps = (float)dtheta;
        /* Pure fundamental: a harmonic of fast rocking would reach the MMG
         * band, and rocking must not look like a flex. */
        *load_mod = (float)(a->load_mod * env * sin(w * t));
    }
}

/* The script: past the end, segment changes, truth of holds closing on
 * unloading, and the button. Returns the SIM_BALL_* flags of this sample. */
static int step_script(sim_ball_t *s, event_sink_fn truth, void *truth_ctx)
{
    int ret = 0;
    if (s->run.n_end && s->run.n >= s->run.n_end) {
        /* Past the end: an unloaded, still ball and no truth. */
        if (!s->run.finished)
            sim_ball_finish(s, truth, truth_ctx);
        if (s->phase != PH_IDLE || s->seg_len != NONE) {
            s->phase = PH_IDLE;
            s->seg_start = s->run.n;
            s->seg_len = NONE;
            s->on_body = 0.0f;
            s->hand_start = s->hand_end = s->press_at = s->release_at = NONE;
        }
        ret |= SIM_BALL_END;
    }
    event_sink_fn sink = s->run.finished ? NULL : truth;

    while (s->seg_len != NONE && s->run.n >= s->seg_start + s->seg_len)
        advance(s, sink, truth_ctx);
    if (s->hold_close_at != NONE && s->run.n >= s->hold_close_at)
        close_hold(s, s->hold_close_at, sink, truth_ctx);

    if (s->run.n == s->press_at) {
        event_t e;
        truth_begin(&e, "mark", EVENT_INSTANT, 0.0, s->run.n * s->run.dt);
        if (!s->run.finished)
            emit(s, sink, truth_ctx, &e);
        ret |= SIM_BALL_BUTTON_DOWN;
        s->press_at = NONE;
        s->click_env = 1.0f;
    }
    if (s->run.n == s->release_at) {
        ret |= SIM_BALL_BUTTON_UP;
        s->release_at = NONE;
        s->click_env = 0.6f;
    }

    return ret;
}

/* The load on the ball, newton: the body's weight share with its slow
 * fluctuation, breathing, sway, flexes and the hand. Fills the world angular
 * rate (deg/s), the part that rolls the ball and the sway's cosine. */
static double step_load(sim_ball_t *s, uint64_t k, double t, float rate[3], float *rolling_dps,
                        double *sway_c)
{
    const int hard = s->set.hard_cases;

    /* Load on the ball. */
    if (s->phase == PH_LOAD_ON || s->phase == PH_UNLOAD)
        s->on_body =
            (float)(s->level_from + (s->level_to - s->level_from) * ramp((double)k / s->seg_len));
    float load_mod;
    motion(s, k, rate, rolling_dps, &load_mod);
    s->base_n += (s->base_target_n - s->base_n) * s->base_a;
    double fluct = smooth_run(&s->fluct, (float)gauss(s));
    float held = s->set.world.hold_fluct > 0.0f ? s->set.world.hold_fluct : 0.01f;
    float fluct_gain = s->phase == PH_STROKE || s->phase == PH_PAUSE ? 0.08f : held;
    s->fluct_gain += (fluct_gain - s->fluct_gain) * s->base_a;
    double rel = s->fluct_gain * fluct + load_mod;
    if (hard & SIM_BALL_BREATHING) {
        s->breath_phase += 2.0 * PI * s->breath_hz * s->run.dt;
        rel += s->breath_depth * sin(s->breath_phase);
    }
    *sway_c = 0.0;
    if (hard & SIM_BALL_SWAY) {
        s->sway_phase += 2.0 * PI * s->sway_hz * s->run.dt;
        rel += s->sway_depth * sin(s->sway_phase);
        *sway_c = cos(s->sway_phase);
    }
    s->mmg_level = 0.0f;
    if (s->phase == PH_HOLD && s->plan[s->plan_i].kind == ACT_FLEX) {
        const sim_ball_activity_t *a = &s->plan[s->plan_i];
        double rest = s->flex_rest_n;
        uint64_t down_at = s->seg_len - a->down;
        if (k < a->up) {
            s->mmg_level = (float)flex_ramp(s->set.world.flex_shape, (double)k / a->up);
            s->flex_n = (float)(rest * a->rise * s->mmg_level);
        } else if (k < down_at) {
            s->mmg_level = 1.0f;
            s->flex_n = (float)(rest * a->rise);
        } else {
            double u = flex_ramp(s->set.world.flex_shape, (double)(k - down_at) / a->down);
            s->mmg_level = (float)(1.0 - u);
            s->flex_n = (float)(rest * ((a->rise + a->release) * (1.0 - u) - a->release));
        }
        if (s->set.world.flex_wander > 0.0f) {
            /* An effort is never quite steady: force and MMG level wander
             * together about the flex's course, never below nothing. */
            float w = smooth_run(&s->wander, (float)sim_rng_gauss(&s->wander_rng));
            float f = 1.0f + s->set.world.flex_wander * w;
            f = f > 0.0f ? f : 0.0f;
            s->flex_n *= f;
            s->mmg_level *= f;
        }
    }
    float settle_to = s->phase == PH_HOLD ? s->settle_target_n : 0.0f;
    s->settle_n += (settle_to - s->settle_n) * s->settle_a;
    double load = s->on_body * (s->base_n * (1.0 + rel) + s->flex_n + s->settle_n);
    if (s->hand_start != NONE && s->run.n >= s->hand_start && s->run.n < s->hand_end) {
        double u = (double)(s->run.n - s->hand_start) / (s->hand_end - s->hand_start);
        double env = ramp(u / 0.2) * (1.0 - ramp((u - 0.8) / 0.2));
        load += s->hand_squeeze_n * env;
        for (int i = 0; i < 3; i++)
            rate[i] += (float)(env * s->hand_dps[i] *
                               sin(2.0 * PI * s->hand_hz[i] * t + s->hand_phase[i]));
        s->hand_env = (float)env;
    } else {
        s->hand_env = 0.0f;
    }
    if (load < 0.0)
        load = 0.0;

    return load;
}

/* The pressure, pascal, for this load: the static rise through the fast
 * lag, creep, ambient, weather and heat. */
static double step_pressure(sim_ball_t *s, double load)
{
    /* Pressure: static rise through the fast lag, creep, ambient and heat. */
    double dp = pressure_rise(s, load);
    s->p_lag_pa += (float)((dp - s->p_lag_pa) * s->p_lag_a);
    s->creep_pa += (float)((CREEP_FRACTION * dp - s->creep_pa) * s->creep_a);
    s->thermal_pa += (s->on_body > 0.5f ? s->thermal_a_on * (s->thermal_target_pa - s->thermal_pa)
                                        : -s->thermal_a_off * s->thermal_pa);
    if (s->run.n % SLOW_DECIMATION == 0) {
        s->weather_pa += s->weather_walk_pa * gauss(s);
        for (int i = 0; i < 3; i++)
            s->gyr_bias[i] += (float)(s->bias_walk_dps * gauss(s));
    }
    double p = s->set.ambient_pa + s->p_inflation + s->weather_pa + s->thermal_pa + s->p_lag_pa +
               s->creep_pa;

    return p;
}

/* Vibration: MMG during flexes, tremor, button clicks: added to the
 * pressure *p (pascal) and written as world acceleration (g) into vib. */
static void step_vibration(sim_ball_t *s, double *p, double vib[3])
{
    vib[0] = vib[1] = vib[2] = 0.0;
    if (s->mmg_level > 0.0f) {
        double x = s->mmg_norm * biquad_cascade_step(&s->mmg, (float)gauss(s));
        double y = s->mmg_norm * biquad_cascade_step(&s->mmg_lateral_f, (float)gauss(s));
        double amp_pa = s->plan[s->plan_i].mmg_pa * s->mmg_level;
        double amp_g = amp_pa * s->mmg_mg_per_pa * 0.001;
        *p += amp_pa * x;
        /* The muscle vibrates mostly along the compression (vertical). */
        vib[2] += amp_g * x;
        for (int i = 0; i < 3; i++)
            vib[i] += 0.4 * amp_g * y * s->mmg_lateral[i];
    }
    if (s->tremor_start != NONE && s->run.n >= s->tremor_start) {
        if (s->run.n >= s->tremor_end) {
            s->tremor_start = s->tremor_end = NONE;
        } else {
            double u = (double)(s->run.n - s->tremor_start) / (s->tremor_end - s->tremor_start);
            double env = ramp(u / 0.1) * (1.0 - ramp((u - 0.9) / 0.1));
            double x = env * s->tremor_norm * biquad_cascade_step(&s->tremor_bp, (float)gauss(s));
            *p += s->tremor_scale * s->tremor_pa * x * s->on_body;
            for (int i = 0; i < 3; i++)
                vib[i] += s->tremor_scale * s->tremor_g * x * s->tremor_dir[i];
        }
    }
    if (s->click_env > 1e-3f) {
        s->click_phase += 2.0 * PI * 150.0 * s->run.dt;
        vib[2] += 0.005 * s->click_env * sin(s->click_phase);
        s->click_env *= (float)(1.0 - s->run.dt / 0.01);
    }
}

/* Motion: postural micro-rotation and sway added to the world rate (deg/s),
 * and the specific force in the world frame (g) of a ball rolling without
 * slipping, with the vibration and the hand's shaking. */
static void step_motion(sim_ball_t *s, double t, float rate[3], float rolling_dps, double sway_c,
                        const double vib[3], double acc_w[3])
{
    const int hard = s->set.hard_cases;

    for (int i = 0; i < 3; i++) {
        rate[i] += 0.4f * s->on_body * smooth_run(&s->micro[i], (float)gauss(s));
    }
    double rolling[3] = {rate[0], rate[1], rate[2]};
    if (hard & SIM_BALL_SWAY) {
        double w = s->on_body * s->sway_tilt_deg * 2.0 * PI * s->sway_hz * sway_c;
        for (int i = 0; i < 3; i++) {
            rate[i] += (float)(w * s->sway_axis[i]);
            rolling[i] += w * s->sway_axis[i];
        }
    }
    if (s->phase == PH_STROKE)
        s->roll_rate_sum += rolling_dps, s->roll_rate_count++;
    else if (s->phase == PH_PAUSE)
        s->roll_rate_count++;

    /* Rolling without slipping on the floor: v = w x (R z). The micro
     * rotation is left out (its white derivative would be fake noise) and
     * so is handling (the ball is in the hand). */
    double v[3] = {0.0, 0.0, 0.0};
    if (s->hand_env == 0.0f) {
        double k_r = BALL_RADIUS_M * PI / 180.0;
        v[0] = rolling[1] * k_r;
        v[1] = -rolling[0] * k_r;
    }
    for (int i = 0; i < 3; i++) {
        acc_w[i] = (v[i] - s->vel[i]) * s->set.rate_hz / G_MPS2 + vib[i];
        s->vel[i] = (float)v[i];
    }
    if (s->hand_env > 0.0f)
        for (int i = 0; i < 3; i++)
            acc_w[i] += 0.15 * s->hand_env * sin(2.0 * PI * 1.3 * s->hand_hz[i] * t + i);
    acc_w[2] += 1.0; /* specific force: the accelerometer reads +1 g up */
}

/* Turns the orientation by the world rate and writes what the sensors
 * read: pressure, acceleration and rate in device axes, with gain, bias and
 * noise. */
static void step_sensors(sim_ball_t *s, double t, double p, const float rate[3],
                         const double acc_w[3], sample_t *out)
{
    /* Orientation: q <- exp(w dt / 2) q, with w in the world frame. */
    double w[3] = {rate[0] * PI / 180.0, rate[1] * PI / 180.0, rate[2] * PI / 180.0};
    quat_turn_world(s->q, w, s->run.dt);
    /* Sensor readings of the world vectors. */
    double rate_w[3] = {rate[0], rate[1], rate[2]}, acc_b[3], rate_b[3];
    quat_rotate_inv(s->q, acc_w, acc_b);
    quat_rotate_inv(s->q, rate_w, rate_b);
    out->t_dev = t;
    out->p = (float)(p + s->sigma_p * gauss(s));
    for (int i = 0; i < 3; i++) {
        out->acc[i] = (float)(acc_b[i] * s->acc_gain[i] + s->acc_bias[i] + s->sigma_acc * gauss(s));
        out->gyr[i] = (float)(rate_b[i] + s->gyr_bias[i] + s->sigma_gyr * gauss(s));
    }
}

int sim_ball_step(sim_ball_t *s, sample_t *out, event_sink_fn truth, void *truth_ctx)
{
    int ret = step_script(s, truth, truth_ctx);
    const uint64_t k = s->run.n - s->seg_start;
    const double t = s->run.n * s->run.dt;

    float rate[3], rolling_dps;
    double sway_c;
    double load = step_load(s, k, t, rate, &rolling_dps, &sway_c);
    double p = step_pressure(s, load);
    double vib[3];
    step_vibration(s, &p, vib);
    double acc_w[3];
    step_motion(s, t, rate, rolling_dps, sway_c, vib, acc_w);
    step_sensors(s, t, p, rate, acc_w, out);

    s->run.n++;
    if (s->run.n_end && s->run.n == s->run.n_end) {
        sim_ball_finish(s, truth, truth_ctx);
        ret |= SIM_BALL_END;
    }
    return ret;
}

int sim_ball_hard_cases_parse(const char *text, int *flags)
{
    static const flag_name_t names[] = {
        {"breathing", SIM_BALL_BREATHING},
        {"sway", SIM_BALL_SWAY},
        {"tremor", SIM_BALL_TREMOR},
        {"weak_flex", SIM_BALL_WEAK_FLEX},
        {"partial_flex", SIM_BALL_PARTIAL_FLEX},
        {"rock_no_flex", SIM_BALL_ROCK_NO_FLEX},
        {"weight_shift", SIM_BALL_WEIGHT_SHIFT},
        {"handling", SIM_BALL_HANDLING},
        {"all", SIM_BALL_HARD_ALL},
        {"none", 0},
    };
    return flag_names_parse(text, names, sizeof names / sizeof names[0], flags);
}
