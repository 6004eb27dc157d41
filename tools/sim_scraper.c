#include "sim_scraper.h"
#include "flag_names.h"
#include "sim_quat.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define PI 3.14159265358979323846
#define DEG (PI / 180.0)
#define STANDARD_G 9.80665
/* Orientation tracking gain, 1/s: the hand follows its intended pose with a
 * lag of about 1/KP; the feed-forward rate does the rest. */
#define KP 20.0
/* Stick-slip reference: vibration amplitudes are given at this speed and force. */
#define VIB_SPEED_REF 0.25
#define VIB_FORCE_REF 20.0
/* Share of the plateau force that the stick-slip vibration modulates, per unit rms. */
#define VIB_FORCE_SHARE 0.04
/* Up and down strokes rise at least this steeply, so that the truth rule
 * (level below 10 degrees) never reads them as level. */
#define MIN_SLOPE_DEG 13.0

enum {
    PH_INTRO,
    PH_TRANSIT,
    PH_PAUSE,
    PH_CONTACT,
    PH_RETURN,
    PH_LIFT,
    PH_BUTTON,
    PH_FINAL_LIFT,
    PH_FINAL,
};

enum { AREA_CALF_BACK, AREA_CALF_SIDE, AREA_ACHILLES, AREA_SHIN, AREA_SOLE, AREA_COUNT };

static const char *const area_names[AREA_COUNT] = {"calf_back", "calf_side", "achilles", "shin",
                                                   "sole"};

const sim_scraper_settings_t sim_scraper_default = {
    .rate_hz = 500.0f,
    .duration_s = 0.0,
    .noise = 1.0f,
    .tilt_deg_max = 25.0f,
    .limb_incline_deg_min = 15.0f,
    .limb_incline_deg_max = 60.0f,
    .speed_min_mps = 0.1f,
    .speed_max_mps = 0.4f,
    .force_min_n = 5.0f,
    .force_max_n = 40.0f,
    .stroke_len_min_m = 0.05f,
    .stroke_len_max_m = 0.30f,
    .down_fraction = 0.15f,
    .level_fraction = 0.10f,
    .hard_cases = 0,
    .strokes_per_area_min = 10,
    .strokes_per_area_max = 40,
    .pause_min_s = 0.1f,
    .pause_max_s = 1.0f,
    .hard_case_share = 0.25f,
    .zero_drift = 1.0f,
    .force_gain = 1.0f,
};

/* ---- profiles ---- */

/* Minimum-jerk position profile and its derivatives on [0, 1]. */
static double mj(double u)
{
    return u * u * u * (10.0 + u * (-15.0 + 6.0 * u));
}

static double mj1(double u)
{
    return 30.0 * u * u * (1.0 - u) * (1.0 - u);
}

static double mj2(double u)
{
    return 60.0 * u * (1.0 - u) * (1.0 - 2.0 * u);
}

/* Lift bump 64 u^3 (1-u)^3: zero value, slope and curvature at both ends,
 * peak 1 at u = 0.5. */
static double bump(double u)
{
    double v = u * (1.0 - u);
    return 64.0 * v * v * v;
}

static double bump1(double u)
{
    double v = u * (1.0 - u);
    return 192.0 * v * v * (1.0 - 2.0 * u);
}

static double bump2(double u)
{
    double v = u * (1.0 - u), w = 1.0 - 2.0 * u;
    return 384.0 * v * (w * w - v);
}

/* Raised-cosine ramp 0 -> 1 on [0, 1]. */
static double ramp(double u)
{
    return 0.5 - 0.5 * cos(PI * u);
}

static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static double uniform(sim_scraper_t *s, double lo, double hi)
{
    return lo + (hi - lo) * sim_rng_uniform(&s->run.rng);
}

static double gauss(sim_scraper_t *s)
{
    return sim_rng_gauss(&s->run.rng);
}

/* Glide progress S(tau) of a stroke and its derivatives in tau. A hesitant
 * stroke subtracts a narrower minimum-jerk velocity bump from the ordinary
 * one, so the speed sinks to a set fraction at the centre, and rescales so
 * the glide still ends at S = 1; without hesitation it is plain minimum
 * jerk. */
static void glide_profile(const sim_scraper_stroke_t *st, double tau, double *p, double *p1,
                          double *p2)
{
    double a = mj(tau), a1 = mj1(tau), a2 = mj2(tau);
    if (st->hes_k > 0.0) {
        double w = st->hes_width, k = st->hes_k;
        double u = (tau - st->hes_centre) / w + 0.5;
        double b = 0.0, b1 = 0.0, b2 = 0.0;
        if (u >= 1.0) {
            b = 1.0;
        } else if (u > 0.0) {
            b = mj(u);
            b1 = mj1(u) / w;
            b2 = mj2(u) / (w * w);
        }
        double inv = 1.0 / (1.0 - k);
        a = (a - k * b) * inv;
        a1 = (a1 - k * b1) * inv;
        a2 = (a2 - k * b2) * inv;
    }
    *p = a;
    *p1 = a1;
    *p2 = a2;
}

/* True normal force of the stroke at progress tau, without the vibration. */
static double stroke_force(const sim_scraper_stroke_t *st, double tau)
{
    double t = tau * st->duration_s;
    double base =
        st->force_n *
        (1.0 + st->force_mod * sin(2.0 * PI * st->force_mod_cycles * tau + st->force_mod_phase));
    if (st->hes_k > 0.0) {
        double u = (tau - st->hes_centre) / st->hes_width + 0.5;
        if (u > 0.0 && u < 1.0)
            base *= 1.0 - st->hes_force_dip * mj1(u) / 1.875;
    }
    if (t < st->t_on_s)
        return st->force_begin_n + (base - st->force_begin_n) * ramp(t / st->t_on_s);
    double left = st->duration_s - t;
    if (left < st->t_off_s)
        return st->force_end_n + (base - st->force_end_n) * ramp(left / st->t_off_s);
    return base;
}

/* Contact point kinematics of the stroke at progress tau. */
static void stroke_motion(const sim_scraper_stroke_t *st, double tau, double pos[3], double vel[3],
                          double acc[3], double *speed)
{
    double g, g1, g2;
    glide_profile(st, tau, &g, &g1, &g2);
    double inv = st->inv_duration, L = st->length_nominal_m, e = st->lateral_amp_m;
    double sn = sin(PI * g), cs = cos(PI * g);
    double along = L * g, across = e * sn;
    double v_along = L * g1 * inv, v_across = e * PI * cs * g1 * inv;
    double a_along = L * g2 * inv * inv;
    double a_across = e * (-PI * PI * sn * g1 * g1 + PI * cs * g2) * inv * inv;
    for (int i = 0; i < 3; i++) {
        pos[i] = st->start[i] + st->dir[i] * along + st->lateral[i] * across;
        vel[i] = st->dir[i] * v_along + st->lateral[i] * v_across;
        acc[i] = st->dir[i] * a_along + st->lateral[i] * a_across;
    }
    *speed = sqrt(v_along * v_along + v_across * v_across);
}

/* Path length along the skin: Simpson's rule on |dP/dtau|. */
static double stroke_path_length(const sim_scraper_stroke_t *st)
{
    const int n = 256;
    double sum = 0.0;
    for (int i = 0; i <= n; i++) {
        double tau = (double)i / n, g, g1, g2;
        glide_profile(st, tau, &g, &g1, &g2);
        double c = st->lateral_amp_m * PI * cos(PI * g);
        double f = g1 * sqrt(st->length_nominal_m * st->length_nominal_m + c * c);
        sum += f * (i == 0 || i == n ? 1.0 : (i % 2 ? 4.0 : 2.0));
    }
    return sum / (3.0 * n);
}

static const char *stroke_direction(const sim_scraper_stroke_t *st)
{
    /* The lateral arc returns to the line, so the displacement is dir * L. */
    double rise = st->dir[2] * st->length_nominal_m;
    if (fabs(rise) < sin(10.0 * DEG) * st->length_m)
        return "level";
    return rise > 0.0 ? "up" : "down";
}

/* ---- planning ---- */

static void new_area(sim_scraper_t *s, const double near[3])
{
    const sim_scraper_settings_t *set = &s->set;
    s->area = s->area_count % AREA_COUNT;
    double lo = set->limb_incline_deg_min, hi = set->limb_incline_deg_max;
    if (s->area == AREA_SOLE)
        hi = 90.0; /* the foot's sole can face any way */
    if (hi < lo)
        hi = lo;
    double alpha = uniform(s, lo, hi) * DEG, psi = uniform(s, 0.0, 2.0 * PI);
    s->incline_rad = alpha;
    s->heading_rad = psi;
    vec3_set(s->limb_axis, cos(alpha) * cos(psi), cos(alpha) * sin(psi), sin(alpha));
    vec3_set(s->limb_side, -sin(psi), cos(psi), 0.0);
    vec3_cross(s->limb_axis, s->limb_side, s->limb_up);
    /* Which way the skin faces, as a roll about the limb axis away from
     * "up": the back of the calf faces down, the shin up, the side sideways. */
    static const double roll_deg[AREA_COUNT] = {180.0, 90.0, 180.0, 0.0, 90.0};
    static const double roll_jitter_deg[AREA_COUNT] = {25.0, 20.0, 20.0, 25.0, 30.0};
    double roll = roll_deg[s->area] + uniform(s, -1.0, 1.0) * roll_jitter_deg[s->area];
    if (sim_rng_uniform(&s->run.rng) < 0.5)
        roll = -roll;
    for (int i = 0; i < 3; i++)
        s->skin_normal[i] = cos(roll * DEG) * s->limb_up[i] + sin(roll * DEG) * s->limb_side[i];
    vec3_normalize(s->skin_normal);
    for (int i = 0; i < 3; i++)
        s->anchor[i] = near[i] + uniform(s, -0.25, 0.25);
    s->area_force_n = uniform(s, set->force_min_n, set->force_max_n);
    s->tilt_a_deg = uniform(s, -1.0, 1.0) * set->tilt_deg_max;
    s->tilt_b_deg = uniform(s, -1.0, 1.0) * set->tilt_deg_max;
    s->yaw_deg = uniform(s, -15.0, 15.0);
    s->hold_flip = sim_rng_uniform(&s->run.rng) < 0.3;
    int smin = set->strokes_per_area_min, smax = set->strokes_per_area_max;
    s->strokes_left = smin + (int)(sim_rng_uniform(&s->run.rng) * (smax - smin + 1));
}

/* Stick-slip resonator: a band-pass biquad (constant 0 dB peak gain) at a
 * per-stroke frequency, scaled to unit rms for unit white input. */
static void plan_vibration(sim_scraper_t *s, sim_scraper_stroke_t *st)
{
    double f0 = uniform(s, 60.0, 180.0), q = uniform(s, 1.5, 4.0);
    if (f0 > 0.4 * s->set.rate_hz)
        f0 = 0.4 * s->set.rate_hz;
    double w0 = 2.0 * PI * f0 * s->run.dt, alpha = sin(w0) / (2.0 * q);
    st->vib_b0 = alpha / (1.0 + alpha);
    st->vib_a1 = -2.0 * cos(w0) / (1.0 + alpha);
    st->vib_a2 = (1.0 - alpha) / (1.0 + alpha);
    /* Output variance for unit white input: sum of the squared impulse response. */
    double x1 = 0.0, x2 = 0.0, y1 = 0.0, y2 = 0.0, var = 0.0;
    for (int i = 0; i < 2000; i++) {
        double x = i == 0 ? 1.0 : 0.0;
        double y = st->vib_b0 * (x - x2) - st->vib_a1 * y1 - st->vib_a2 * y2;
        x2 = x1;
        x1 = x;
        y2 = y1;
        y1 = y;
        var += y * y;
    }
    st->vib_norm = 1.0 / sqrt(var);
    st->vib_g = uniform(s, 0.05, 0.25);
}

/* Tool orientation for a stroke: z into the skin, the edge (x) across the
 * glide, tilted and turned by the hand's current pose. */
static void plan_orientation(sim_scraper_t *s, sim_scraper_stroke_t *st)
{
    double x[3], y[3], z[3];
    for (int i = 0; i < 3; i++) {
        z[i] = -st->normal[i];
        y[i] = s->hold_flip ? st->dir[i] : -st->dir[i];
    }
    vec3_cross(y, z, x);
    double qn[4], qr[4];
    quat_from_axes(x, y, z, qn);
    static const double ex[3] = {1, 0, 0}, ey[3] = {0, 1, 0}, ez[3] = {0, 0, 1};
    quat_axis_angle(ez, s->yaw_deg * DEG, qr);
    quat_mul(qn, qr, qn);
    quat_axis_angle(ex, s->tilt_a_deg * DEG, qr);
    quat_mul(qn, qr, qn);
    quat_axis_angle(ey, s->tilt_b_deg * DEG, qr);
    quat_mul(qn, qr, qn);
    quat_normalize(qn);
    memcpy(st->q, qn, sizeof qn);
}

/* Duration, force, ramps and the rest of a stroke whose geometry, length and
 * speed are set. */
static void plan_dynamics(sim_scraper_t *s, sim_scraper_stroke_t *st, double speed, double t_min)
{
    const sim_scraper_settings_t *set = &s->set;
    double T = st->length_nominal_m / speed;
    if (st->hard_kind == SIM_SCRAPER_HESITANT)
        T *= 1.4; /* slowing down costs time */
    T = clampd(T, t_min, 2.0);
    st->duration_s = T;
    st->inv_duration = 1.0 / T;
    st->lateral_amp_m = clampd(gauss(s) * 0.004 * st->length_nominal_m / 0.15, -0.015, 0.015);
    st->force_n =
        clampd(s->area_force_n * (1.0 + 0.12 * gauss(s)), set->force_min_n, set->force_max_n);
    st->force_mod = uniform(s, 0.0, 0.12);
    st->force_mod_cycles = uniform(s, 0.5, 1.5);
    st->force_mod_phase = uniform(s, 0.0, 2.0 * PI);
    st->t_on_s = fmin(uniform(s, 0.03, 0.10), 0.3 * T);
    st->t_off_s = fmin(uniform(s, 0.03, 0.08), 0.3 * T);
    st->hes_k = 0.0;
    st->hes_force_dip = 0.0;
    if (st->hard_kind == SIM_SCRAPER_HESITANT) {
        st->hes_centre = uniform(s, 0.35, 0.65);
        st->hes_width = uniform(s, 0.25, 0.40);
        /* The deepest bump that keeps the speed >= 0 everywhere in its window
         * (off centre the ordinary profile falls off faster than the bump),
         * less the share of speed that remains at the slowest point. */
        double floor_share = uniform(s, 0.02, 0.10), ratio = HUGE_VAL;
        for (int i = 1; i < 64; i++) {
            double u = i / 64.0, tau = st->hes_centre + (u - 0.5) * st->hes_width;
            ratio = fmin(ratio, mj1(tau) / mj1(u));
        }
        st->hes_k = (1.0 - floor_share) * st->hes_width * ratio;
        st->hes_force_dip = uniform(s, 0.05, 0.20);
    }
    st->pause_s = uniform(s, set->pause_min_s, set->pause_max_s);
    plan_vibration(s, st);
    st->length_m = stroke_path_length(st);
    st->speed_mps = st->length_m / T;
}

static int draw_hard_kind(sim_scraper_t *s)
{
    static const int kinds[] = {SIM_SCRAPER_HESITANT, SIM_SCRAPER_NO_LIFT, SIM_SCRAPER_SHORT,
                                SIM_SCRAPER_FAST};
    int enabled[4], n = 0;
    for (int i = 0; i < 4; i++)
        if (s->set.hard_cases & kinds[i])
            enabled[n++] = kinds[i];
    if (n == 0 || sim_rng_uniform(&s->run.rng) >= s->set.hard_case_share)
        return 0;
    int kind = enabled[(int)(sim_rng_uniform(&s->run.rng) * n)];
    if (kind == SIM_SCRAPER_NO_LIFT && s->strokes_left < 2)
        return 0;
    return kind;
}

/* Plans an ordinary (or hard-case) stroke of the current area into st. */
static void plan_stroke(sim_scraper_t *s, sim_scraper_stroke_t *st)
{
    const sim_scraper_settings_t *set = &s->set;
    memset(st, 0, sizeof *st);
    st->hard_kind = draw_hard_kind(s);
    s->tilt_a_deg = clampd(s->tilt_a_deg + 0.25 * set->tilt_deg_max * gauss(s), -set->tilt_deg_max,
                           set->tilt_deg_max);
    s->tilt_b_deg = clampd(s->tilt_b_deg + 0.25 * set->tilt_deg_max * gauss(s), -set->tilt_deg_max,
                           set->tilt_deg_max);
    s->yaw_deg = clampd(s->yaw_deg + 4.0 * gauss(s), -20.0, 20.0);

    double u = sim_rng_uniform(&s->run.rng);
    const double *n0 = s->skin_normal;
    if (u < set->down_fraction + set->level_fraction && u >= set->down_fraction) {
        /* Level: horizontal and in the skin plane, turned a little about the
         * normal (which tilts it by at most 5 degrees). */
        static const double up[3] = {0, 0, 1};
        double d[3];
        vec3_cross(n0, up, d);
        if (vec3_norm(d) < 0.2)
            memcpy(d, s->limb_side, sizeof d);
        vec3_normalize(d);
        if (sim_rng_uniform(&s->run.rng) < 0.5)
            vec3_set(d, -d[0], -d[1], -d[2]);
        double j = uniform(s, -5.0, 5.0) * DEG, nd[3];
        vec3_cross(n0, d, nd);
        for (int i = 0; i < 3; i++)
            st->dir[i] = cos(j) * d[i] + sin(j) * nd[i];
    } else {
        /* Along the limb, up (or down), a little off the axis, never
         * shallower than MIN_SLOPE_DEG. */
        double elev = fmax(s->incline_rad + 2.0 * DEG * gauss(s), MIN_SLOPE_DEG * DEG);
        elev = fmin(elev, 89.0 * DEG);
        double head = s->heading_rad + uniform(s, -8.0, 8.0) * DEG;
        vec3_set(st->dir, cos(elev) * cos(head), cos(elev) * sin(head), sin(elev));
        if (u < set->down_fraction)
            vec3_set(st->dir, -st->dir[0], -st->dir[1], -st->dir[2]);
    }
    vec3_normalize(st->dir);
    double dn = vec3_dot(n0, st->dir);
    for (int i = 0; i < 3; i++)
        st->normal[i] = n0[i] - dn * st->dir[i];
    vec3_normalize(st->normal);
    vec3_cross(st->normal, st->dir, st->lateral);

    double len, speed, t_min = 0.3;
    if (st->hard_kind == SIM_SCRAPER_SHORT) {
        len = uniform(s, 0.02, 0.04);
        t_min = 0.1;
    } else {
        len = uniform(s, set->stroke_len_min_m, set->stroke_len_max_m);
    }
    if (st->hard_kind == SIM_SCRAPER_FAST) {
        speed = uniform(s, 0.6, 1.0);
        t_min = 0.1;
    } else {
        speed = uniform(s, set->speed_min_mps, set->speed_max_mps);
    }
    st->length_nominal_m = len;
    double along = uniform(s, -0.04, 0.04), across = uniform(s, -0.03, 0.03);
    for (int i = 0; i < 3; i++)
        st->start[i] = s->anchor[i] + st->dir[i] * (along - 0.5 * len) + st->lateral[i] * across;
    plan_orientation(s, st);
    plan_dynamics(s, st, speed, t_min);
    if (st->hard_kind == SIM_SCRAPER_NO_LIFT) {
        st->pair_next = 1;
        st->force_end_n = st->force_n * uniform(s, 0.10, 0.35);
        /* The dip takes its time: the ramp down to it is as slow as a lift. */
        st->t_off_s = fmin(uniform(s, 0.05, 0.12), 0.3 * st->duration_s);
    }
}

/* The second stroke of a no-lift pair: it begins where and at the force at
 * which the first one ended, reversing or restarting in the same direction. */
static void plan_pair_second(sim_scraper_t *s, const sim_scraper_stroke_t *a,
                             sim_scraper_stroke_t *st)
{
    const sim_scraper_settings_t *set = &s->set;
    memset(st, 0, sizeof *st);
    st->hard_kind = SIM_SCRAPER_NO_LIFT;
    int reverse = sim_rng_uniform(&s->run.rng) < 0.5;
    for (int i = 0; i < 3; i++) {
        st->dir[i] = reverse ? -a->dir[i] : a->dir[i];
        st->normal[i] = a->normal[i];
        st->start[i] = a->start[i] + a->dir[i] * a->length_nominal_m;
    }
    vec3_cross(st->normal, st->dir, st->lateral);
    memcpy(st->q, a->q, sizeof st->q);
    double len = reverse ? a->length_nominal_m * uniform(s, 0.5, 1.0)
                         : 0.7 * uniform(s, set->stroke_len_min_m, set->stroke_len_max_m);
    st->length_nominal_m = fmax(len, 0.03);
    double speed = uniform(s, set->speed_min_mps, set->speed_max_mps);
    plan_dynamics(s, st, speed, 0.3);
    st->pause_s = 0.0;
    st->force_begin_n = a->force_end_n;
    st->t_on_s = fmin(uniform(s, 0.05, 0.12), 0.3 * st->duration_s);
}

/* ---- segments ---- */

static void set_wobble(sim_scraper_t *s, double dps)
{
    s->seg_wobble = dps * DEG * s->wobble_g;
}

static void seg_rest(sim_scraper_t *s, double t0, double dur, const double p[3], const double q[4])
{
    s->seg_kind = SIM_SCRAPER_SEG_REST;
    s->seg_t0 = t0;
    s->seg_t1 = t0 + dur;
    s->seg_inv_t = 0.0;
    memcpy(s->seg_p0, p, sizeof s->seg_p0);
    memcpy(s->seg_p1, p, sizeof s->seg_p1);
    memcpy(s->seg_q0, q, sizeof s->seg_q0);
    s->seg_angle = 0.0;
    s->seg_wrist = 0.0;
    s->seg_lift_h = 0.0;
    vec3_set(s->seg_axis, 1, 0, 0);
    set_wobble(s, 2.0);
}

/* A lifted move from p0 to p1 along a minimum-jerk path raised by h along
 * lift at its middle, turning from q0 to q1 with an extra wrist roll about
 * the tool's x axis that peaks mid-way. */
static void seg_air(sim_scraper_t *s, double t0, double dur, const double p0[3], const double p1[3],
                    const double lift[3], double h, const double q0[4], const double q1[4],
                    double wrist_rad)
{
    s->seg_kind = SIM_SCRAPER_SEG_AIR;
    s->seg_t0 = t0;
    s->seg_t1 = t0 + dur;
    s->seg_inv_t = 1.0 / dur;
    memcpy(s->seg_p0, p0, sizeof s->seg_p0);
    memcpy(s->seg_p1, p1, sizeof s->seg_p1);
    memcpy(s->seg_lift, lift, sizeof s->seg_lift);
    s->seg_lift_h = h;
    memcpy(s->seg_q0, q0, sizeof s->seg_q0);
    double qc[4], rel[4], rv[3];
    quat_conj(q0, qc);
    quat_mul(qc, q1, rel);
    quat_log(rel, rv);
    s->seg_angle = vec3_norm(rv);
    if (s->seg_angle > 1e-12)
        vec3_set(s->seg_axis, rv[0] / s->seg_angle, rv[1] / s->seg_angle, rv[2] / s->seg_angle);
    else
        vec3_set(s->seg_axis, 1, 0, 0);
    s->seg_wrist = wrist_rad;
    set_wobble(s, 8.0);
}

static void seg_contact(sim_scraper_t *s, double t0)
{
    s->seg_kind = SIM_SCRAPER_SEG_CONTACT;
    s->seg_t0 = t0;
    s->seg_t1 = t0 + s->cur.duration_s;
    s->seg_inv_t = s->cur.inv_duration;
    memcpy(s->seg_q0, s->cur.q, sizeof s->seg_q0);
    s->force_sum = 0.0;
    s->force_peak = 0.0;
    s->force_count = 0;
    s->contact_seq++;
    set_wobble(s, 4.0);
}

static void stroke_end_point(const sim_scraper_stroke_t *st, double p[3])
{
    for (int i = 0; i < 3; i++)
        p[i] = st->start[i] + st->dir[i] * st->length_nominal_m;
}

/* The session is ending: lift the tool from p (orientation q) and hold it
 * there for good. */
static void seg_final(sim_scraper_t *s, double t, const double p[3], const double q[4])
{
    static const double up[3] = {0, 0, 1};
    double p1[3] = {p[0], p[1], p[2] + 0.10};
    seg_air(s, t, 1.0, p, p1, up, 0.0, q, q, 0.0);
    s->phase = PH_FINAL_LIFT;
}

/* Whether a stroke planned now, reached after `lead` seconds and its pause,
 * would end before the session does. */
static int stroke_fits(const sim_scraper_t *s, double t, double lead,
                       const sim_scraper_stroke_t *st)
{
    if (s->run.n_end == 0)
        return 1;
    double end = t + lead + st->pause_s + st->duration_s + (st->pair_next ? 2.0 : 0.0);
    return end < (double)(s->run.n_end - 1) * s->run.dt - 0.05;
}

/* From the hold point p (tool orientation q), lift and carry the tool to the
 * first stroke of s->next, which is planned. */
static void begin_transit(sim_scraper_t *s, double t, const double p[3], const double q[4])
{
    static const double up[3] = {0, 0, 1};
    double dur = uniform(s, 1.5, 3.0);
    double wrist = uniform(s, -60.0, 60.0) * DEG;
    seg_air(s, t, dur, p, s->next.start, up, uniform(s, 0.10, 0.20), q, s->next.q, wrist);
    s->phase = PH_TRANSIT;
}

/* Called when the current segment ends at time t: reports a finished stroke
 * and sets up the next segment. */
static void end_segment(sim_scraper_t *s, event_sink_fn truth, void *truth_ctx);

static void emit_stroke(sim_scraper_t *s, double t_end, int truncated, event_sink_fn truth,
                        void *truth_ctx)
{
    if (s->run.finished || !truth)
        return;
    const sim_scraper_stroke_t *st = &s->cur;
    event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = "stroke";
    ev.phase = EVENT_END;
    ev.t_start_dev = s->seg_t0;
    ev.t_dev = t_end;
    ev.id = s->run.next_id++;
    double dur = t_end - s->seg_t0;
    double length = st->length_m;
    if (truncated) {
        double g, g1, g2, tau = clampd(dur * st->inv_duration, 0.0, 1.0);
        glide_profile(st, tau, &g, &g1, &g2);
        length *= g; /* near enough for a stroke nobody could have finished */
    }
    event_add_field(&ev, "length_m", length);
    event_add_field(&ev, "peak_force_n", s->force_peak);
    event_add_field(&ev, "mean_force_n",
                    s->force_count ? s->force_sum / (double)s->force_count : 0.0);
    event_add_field(&ev, "mean_speed_mps", dur > 0.0 ? length / dur : 0.0);
    event_add_field(&ev, "duration_s", dur);
    event_add_field(&ev, "hard_case", st->hard_kind);
    if (truncated)
        event_add_field(&ev, "truncated", 1.0);
    ev.text_name = "direction";
    ev.text_value = stroke_direction(st);
    truth(&ev, truth_ctx);
}

/* After a stroke with more to come: the next one is planned and the tool
 * flies back through the air to its start, turning the wrist. */
static void begin_return(sim_scraper_t *s, double t, const double end[3], const double q[4])
{
    plan_stroke(s, &s->next);
    double lift[3], dist = 0.0;
    for (int i = 0; i < 3; i++) {
        lift[i] = s->cur.normal[i] + s->next.normal[i];
        dist += (s->next.start[i] - end[i]) * (s->next.start[i] - end[i]);
    }
    vec3_normalize(lift);
    dist = sqrt(dist);
    double speed = s->cur.speed_mps * uniform(s, 1.0, 1.6);
    double dur = fmax(0.25, dist / speed + 0.1);
    double h = uniform(s, 0.01, 0.05);
    double wrist = uniform(s, 10.0, 35.0) * DEG * (sim_rng_uniform(&s->run.rng) < 0.5 ? -1 : 1);
    if (!stroke_fits(s, t, dur, &s->next)) {
        seg_final(s, t, end, q);
        return;
    }
    seg_air(s, t, dur, end, s->next.start, lift, h, q, s->next.q, wrist);
    s->phase = PH_RETURN;
}

/* The area is done: the tool is lifted off and turned to press the button. */
static void begin_lift_off(sim_scraper_t *s, double t, const double end[3], const double q[4])
{
    double dur = uniform(s, 0.6, 1.2), p1[3], qr[4], q1[4];
    static const double ex[3] = {1, 0, 0};
    for (int i = 0; i < 3; i++)
        p1[i] = end[i] + s->cur.normal[i] * uniform(s, 0.08, 0.15);
    quat_axis_angle(ex, uniform(s, -30.0, 30.0) * DEG, qr);
    quat_mul(q, qr, q1);
    seg_air(s, t, dur, end, p1, s->cur.normal, 0.0, q, q1, 0.0);
    s->phase = PH_LIFT;
}

/* A stroke's contact ended: its truth, then the second of a no-lift pair,
 * the flight to the next stroke or the lift off after the area's last. */
static void end_contact(sim_scraper_t *s, double t, event_sink_fn truth, void *truth_ctx)
{
    emit_stroke(s, t, 0, truth, truth_ctx);
    double end[3], q[4];
    stroke_end_point(&s->cur, end);
    memcpy(q, s->cur.q, sizeof q);
    if (s->cur.pair_next) {
        sim_scraper_stroke_t first = s->cur;
        plan_pair_second(s, &first, &s->cur);
        s->strokes_left--;
        seg_contact(s, t);
        return;
    }
    if (s->strokes_left > 0)
        begin_return(s, t, end, q);
    else
        begin_lift_off(s, t, end, q);
}

/* The tool is up after an area: it rests, then the button is pressed,
 * unless the session ends first. */
static void end_lift(sim_scraper_t *s, double t)
{
    double dur = uniform(s, 1.0, 2.5), p[3], q[4];
    memcpy(p, s->seg_p1, sizeof p);
    /* The lift ended at q0 turned by the whole relative turn (no wrist roll). */
    double ax[4];
    quat_axis_angle(s->seg_axis, s->seg_angle, ax);
    quat_mul(s->seg_q0, ax, q);
    double t_press = t + uniform(s, 0.3, 0.6);
    double t_release = t_press + uniform(s, 0.10, 0.30);
    if (s->run.n_end != 0 && t + dur + 3.0 >= (double)(s->run.n_end - 1) * s->run.dt) {
        seg_rest(s, t, HUGE_VAL, p, q);
        s->phase = PH_FINAL;
        return;
    }
    seg_rest(s, t, dur, p, q);
    s->press_at = (uint64_t)ceil(t_press / s->run.dt);
    s->release_at = (uint64_t)ceil(t_release / s->run.dt);
    s->press_area = s->area;
    s->phase = PH_BUTTON;
}

/* The button was pressed: a new area begins with a flight to its first
 * stroke, unless no stroke fits before the end. */
static void end_button(sim_scraper_t *s, double t)
{
    double p[3], q[4];
    memcpy(p, s->seg_p0, sizeof p);
    memcpy(q, s->seg_q0, sizeof q);
    s->area_count++;
    new_area(s, p);
    plan_stroke(s, &s->next);
    if (!stroke_fits(s, t, 3.0, &s->next)) {
        seg_rest(s, t, HUGE_VAL, p, q);
        s->phase = PH_FINAL;
        return;
    }
    begin_transit(s, t, p, q);
}

static void end_segment(sim_scraper_t *s, event_sink_fn truth, void *truth_ctx)
{
    double t = s->seg_t1;
    switch (s->phase) {
    case PH_INTRO:
        if (!stroke_fits(s, t, 3.0, &s->next)) {
            seg_rest(s, t, HUGE_VAL, s->seg_p0, s->seg_q0);
            s->phase = PH_FINAL;
            break;
        }
        begin_transit(s, t, s->seg_p0, s->seg_q0);
        break;
    case PH_TRANSIT:
    case PH_RETURN:
        seg_rest(s, t, s->next.pause_s, s->next.start, s->next.q);
        s->phase = PH_PAUSE;
        break;
    case PH_PAUSE:
        s->cur = s->next;
        s->strokes_left--;
        seg_contact(s, t);
        s->phase = PH_CONTACT;
        break;
    case PH_CONTACT:
        end_contact(s, t, truth, truth_ctx);
        break;
    case PH_LIFT:
        end_lift(s, t);
        break;
    case PH_BUTTON:
        end_button(s, t);
        break;
    case PH_FINAL_LIFT: {
        double p[3];
        memcpy(p, s->seg_p1, sizeof p);
        seg_rest(s, t, HUGE_VAL, p, s->seg_q0);
        s->phase = PH_FINAL;
        break;
    }
    default:
        seg_rest(s, t, HUGE_VAL, s->seg_p1, s->seg_q0);
        s->phase = PH_FINAL;
        break;
    }
}

/* ---- public ---- */

static int settings_valid(const sim_scraper_settings_t *c)
{
    if (!(c->rate_hz >= 50.0f && c->rate_hz <= 5000.0f))
        return 0;
    if (!(c->duration_s >= 0.0) || !(c->noise >= 0.0f))
        return 0;
    if (!(c->tilt_deg_max >= 0.0f && c->tilt_deg_max <= 60.0f))
        return 0;
    if (!(c->limb_incline_deg_min >= 0.0f && c->limb_incline_deg_min <= c->limb_incline_deg_max &&
          c->limb_incline_deg_max <= 90.0f))
        return 0;
    if (!(c->speed_min_mps > 0.0f && c->speed_min_mps <= c->speed_max_mps))
        return 0;
    if (!(c->force_min_n > 0.0f && c->force_min_n <= c->force_max_n))
        return 0;
    if (!(c->stroke_len_min_m > 0.0f && c->stroke_len_min_m <= c->stroke_len_max_m))
        return 0;
    if (!(c->down_fraction >= 0.0f && c->level_fraction >= 0.0f &&
          c->down_fraction + c->level_fraction <= 1.0f))
        return 0;
    if (!(c->strokes_per_area_min >= 1 && c->strokes_per_area_min <= c->strokes_per_area_max))
        return 0;
    if (!(c->pause_min_s >= 0.0f && c->pause_min_s <= c->pause_max_s))
        return 0;
    if (!(c->hard_case_share >= 0.0f && c->hard_case_share <= 1.0f))
        return 0;
    if (c->hard_cases & ~SIM_SCRAPER_HARD_ALL)
        return 0;
    if (!(c->zero_drift >= 0.0f && c->zero_drift <= 100.0f) ||
        !(c->force_gain > 0.1f && c->force_gain < 10.0f) ||
        !(c->acc_bias_mg >= 0.0f && c->acc_bias_mg <= 500.0f))
        return 0;
    return 1;
}

int sim_scraper_init(sim_scraper_t *s, const sim_scraper_settings_t *settings, uint64_t seed)
{
    if (!settings_valid(settings))
        return -EINVAL;
    memset(s, 0, sizeof *s);
    s->set = *settings;
    uint64_t n_end =
        settings->duration_s > 0.0 ? (uint64_t)ceil(settings->duration_s * settings->rate_hz) : 0;
    if (n_end == 1)
        n_end = 2; /* keeps the "last sample" arithmetic simple */
    sim_run_start(&s->run, seed, settings->rate_hz, n_end);
    s->press_at = UINT64_MAX;
    s->release_at = UINT64_MAX;

    double noise = settings->noise;
    if (settings->hard_cases & SIM_SCRAPER_NOISY)
        noise *= 3.0;
    s->sigma_acc_g = uniform(s, 0.003, 0.008) * noise;
    s->sigma_gyr_dps = 0.2 * noise;
    s->sigma_force_n = uniform(s, 0.05, 0.20) * noise;
    double acc_bias_g = settings->acc_bias_mg > 0.0f ? settings->acc_bias_mg * 1e-3 : 0.005;
    for (int i = 0; i < 3; i++) {
        s->acc_bias_g[i] = acc_bias_g * gauss(s) * settings->noise;
        s->gyr_bias_dps[i] = 0.3 * gauss(s) * settings->noise;
    }
    /* Force zero: an Ornstein-Uhlenbeck wander, 0.25 N rms, 20 s
     * correlation time, bounded to +-0.5 N (all times noise and zero_drift). */
    double tau = 20.0, sd = 0.25 * settings->noise * settings->zero_drift;
    s->offset_a = s->run.dt / tau;
    s->offset_g = sd * sqrt(2.0 * s->offset_a);
    s->offset_max_n = 0.5 * settings->noise * settings->zero_drift;
    s->offset_n = clampd(sd * gauss(s), -s->offset_max_n, s->offset_max_n);
    /* Hand wobble: white noise through two one-pole low-passes at 3 Hz;
     * wobble_g scales the input so the output has unit rms. */
    double a = 1.0 - exp(-2.0 * PI * 3.0 * s->run.dt), r2 = (1.0 - a) * (1.0 - a);
    s->wobble_a = a;
    s->wobble_g = 1.0 / sqrt(a * a * a * a * (1.0 + r2) / ((1.0 - r2) * (1.0 - r2) * (1.0 - r2)));

    static const double start[3] = {0.0, 0.0, 0.5};
    s->area_count = 0;
    new_area(s, start);
    plan_stroke(s, &s->next);
    double p[3], q[4], qr[4];
    static const double ex[3] = {1, 0, 0};
    for (int i = 0; i < 3; i++)
        p[i] = s->next.start[i] + 0.15 * (i == 2);
    quat_axis_angle(ex, 40.0 * DEG, qr);
    quat_mul(s->next.q, qr, q);
    seg_rest(s, 0.0, uniform(s, 0.5, 1.5), p, q);
    s->phase = PH_INTRO;
    memcpy(s->q, q, sizeof q);
    return 0;
}

/* Target orientation of the current segment at time t, and the body rate
 * (rad/s) that follows it. */
static void target_pose(const sim_scraper_t *s, double t, double qt[4], double w_ff[3])
{
    if (s->seg_kind != SIM_SCRAPER_SEG_AIR) {
        memcpy(qt, s->seg_q0, 4 * sizeof(double));
        vec3_set(w_ff, 0, 0, 0);
        return;
    }
    double tau = clampd((t - s->seg_t0) * s->seg_inv_t, 0.0, 1.0);
    double turn = s->seg_angle * mj(tau), turn_rate = s->seg_angle * mj1(tau) * s->seg_inv_t;
    double wrist = s->seg_wrist * bump(tau), wrist_rate = s->seg_wrist * bump1(tau) * s->seg_inv_t;
    static const double ex[3] = {1, 0, 0};
    double qa[4], qb[4];
    quat_axis_angle(s->seg_axis, turn, qa);
    quat_axis_angle(ex, wrist, qb);
    quat_mul(s->seg_q0, qa, qt);
    quat_mul(qt, qb, qt);
    /* q = q0 A(t) B(t): the body rate is B^-1 (axis * turn rate) + x * wrist rate. */
    double v[3] = {s->seg_axis[0] * turn_rate, s->seg_axis[1] * turn_rate,
                   s->seg_axis[2] * turn_rate};
    double c = cos(wrist), sn = sin(wrist);
    vec3_set(w_ff, v[0] + wrist_rate, c * v[1] + sn * v[2], -sn * v[1] + c * v[2]);
}

static void segment_motion(const sim_scraper_t *s, double t, double pos[3], double vel[3],
                           double acc[3], double *speed, double *force)
{
    *speed = 0.0;
    *force = 0.0;
    if (s->seg_kind == SIM_SCRAPER_SEG_REST) {
        memcpy(pos, s->seg_p0, 3 * sizeof(double));
        vec3_set(vel, 0, 0, 0);
        vec3_set(acc, 0, 0, 0);
        return;
    }
    double tau = clampd((t - s->seg_t0) * s->seg_inv_t, 0.0, 1.0);
    if (s->seg_kind == SIM_SCRAPER_SEG_CONTACT) {
        stroke_motion(&s->cur, tau, pos, vel, acc, speed);
        *force = stroke_force(&s->cur, tau);
        return;
    }
    double inv = s->seg_inv_t, h = s->seg_lift_h;
    double m = mj(tau), m1 = mj1(tau) * inv, m2 = mj2(tau) * inv * inv;
    double b = bump(tau) * h, b1 = bump1(tau) * h * inv, b2 = bump2(tau) * h * inv * inv;
    for (int i = 0; i < 3; i++) {
        double d = s->seg_p1[i] - s->seg_p0[i];
        pos[i] = s->seg_p0[i] + d * m + s->seg_lift[i] * b;
        vel[i] = d * m1 + s->seg_lift[i] * b1;
        acc[i] = d * m2 + s->seg_lift[i] * b2;
    }
}

/* The body rate w (rad/s) of a hand tracking its intended pose qt with a
 * feed-forward rate w_ff and a wobble of its own. */
static void hand_rate(sim_scraper_t *s, const double qt[4], const double w_ff[3], double w[3])
{
    double qc[4], qe[4], err[3];
    quat_conj(s->q, qc);
    quat_mul(qc, qt, qe);
    quat_log(qe, err);
    for (int i = 0; i < 3; i++) {
        double *f = s->wobble[i];
        f[0] += s->wobble_a * (s->seg_wobble * gauss(s) - f[0]);
        f[1] += s->wobble_a * (f[0] - f[1]);
        w[i] = w_ff[i] + KP * err[i] + f[1];
    }
}

/* Stick-slip vibration while gliding, strongest along the glide (the tool's
 * y), then along the normal, weakest along the edge: written into vib (g)
 * and modulating *force (newton). */
static void stick_slip(sim_scraper_t *s, double speed, double *force, double vib[3])
{
    static const double axis_gain[3] = {0.3, 1.0, 0.7};
    double amp = 0.0;
    if (s->seg_kind == SIM_SCRAPER_SEG_CONTACT) {
        amp = fmin(speed / VIB_SPEED_REF, 1.5) * sqrt(fmax(*force, 0.0) / VIB_FORCE_REF);
    }
    const sim_scraper_stroke_t *st = &s->cur;
    for (int i = 0; i < 3; i++) {
        double x = amp > 0.0 ? gauss(s) * st->vib_norm * amp : 0.0;
        double *xs = s->vib_x[i], *ys = s->vib_y[i];
        double y = st->vib_b0 * (x - xs[1]) - st->vib_a1 * ys[0] - st->vib_a2 * ys[1];
        xs[1] = xs[0];
        xs[0] = x;
        ys[1] = ys[0];
        ys[0] = y;
        vib[i] = y * st->vib_g * axis_gain[i];
    }
    if (s->seg_kind == SIM_SCRAPER_SEG_CONTACT)
        *force *= 1.0 + VIB_FORCE_SHARE * clampd(s->vib_y[1][0], -4.5, 4.5);
}

/* What the sensors read: the force with its wandering zero, the specific
 * force fb (m/s^2, sensor frame) plus vibration, and the rate w (rad/s),
 * each with bias and noise. */
static void sensors(sim_scraper_t *s, double t, double force, const double fb[3],
                    const double vib[3], const double w[3], sample_t *out)
{
    /* Force sensor zero: a bounded random wander. */
    s->offset_n += -s->offset_a * s->offset_n + s->offset_g * gauss(s);
    s->offset_n = clampd(s->offset_n, -s->offset_max_n, s->offset_max_n);

    out->t_dev = t;
    out->p = (float)(force * s->set.force_gain + s->offset_n + s->sigma_force_n * gauss(s));
    for (int i = 0; i < 3; i++) {
        out->acc[i] =
            (float)(fb[i] / STANDARD_G + vib[i] + s->acc_bias_g[i] + s->sigma_acc_g * gauss(s));
        out->gyr[i] = (float)(w[i] / DEG + s->gyr_bias_dps[i] + s->sigma_gyr_dps * gauss(s));
    }
}

/* Keeps the rigid-body truth of this sample (sim_scraper_world_state) and
 * the contact's force statistics. */
static void record_world(sim_scraper_t *s, const double pos[3], const double vel[3],
                         const double acc[3], const double w[3], double force)
{
    memcpy(s->w_pos, pos, 3 * sizeof pos[0]);
    memcpy(s->w_vel, vel, 3 * sizeof vel[0]);
    memcpy(s->w_acc, acc, 3 * sizeof acc[0]);
    memcpy(s->w_q, s->q, sizeof s->w_q);
    for (int i = 0; i < 3; i++)
        s->w_gyr[i] = w[i] / DEG;
    s->w_force = force;
    s->w_offset = s->offset_n;

    if (s->seg_kind == SIM_SCRAPER_SEG_CONTACT) {
        s->force_sum += force;
        s->force_count++;
        if (force > s->force_peak)
            s->force_peak = force;
    }
}

/* Turns the orientation over this sample's interval with the exact rotation
 * of the constant body rate w (rad/s). */
static void turn(sim_scraper_t *s, const double w[3])
{
    double wn = vec3_norm(w);
    if (wn > 0.0) {
        double axis[3] = {w[0] / wn, w[1] / wn, w[2] / wn}, dq[4];
        quat_axis_angle(axis, wn * s->run.dt, dq);
        quat_mul(s->q, dq, s->q);
        quat_normalize(s->q);
    }
}

/* The button's press (with its truth) and release at this sample; returns
 * the SIM_SCRAPER_BUTTON_* flags. */
static int button(sim_scraper_t *s, double t, event_sink_fn truth, void *truth_ctx)
{
    int bits = 0;
    if (s->run.n == s->press_at) {
        s->press_at = UINT64_MAX;
        if (!s->run.finished) {
            bits |= SIM_SCRAPER_BUTTON_DOWN;
            if (truth) {
                event_t ev;
                memset(&ev, 0, sizeof ev);
                ev.type = "mark";
                ev.phase = EVENT_INSTANT;
                ev.t_dev = t;
                ev.id = s->run.next_id++;
                event_add_field(&ev, "area_index", s->press_area);
                ev.text_name = "area";
                ev.text_value = sim_scraper_area_name(s->press_area);
                truth(&ev, truth_ctx);
            }
        }
    }
    if (s->run.n == s->release_at) {
        s->release_at = UINT64_MAX;
        bits |= SIM_SCRAPER_BUTTON_UP;
    }
    return bits;
}

int sim_scraper_step(sim_scraper_t *s, sample_t *out, event_sink_fn truth, void *truth_ctx)
{
    double t = (double)s->run.n * s->run.dt;
    int bits = 0;
    while (t >= s->seg_t1)
        end_segment(s, truth, truth_ctx);

    double pos[3], vel[3], acc[3], speed, force, qt[4], w_ff[3];
    segment_motion(s, t, pos, vel, acc, &speed, &force);
    target_pose(s, t, qt, w_ff);

    double w[3];
    hand_rate(s, qt, w_ff, w);

    /* Specific force in the sensor frame: R^T (a - g), g = (0, 0, -G). */
    double fw[3] = {acc[0], acc[1], acc[2] + STANDARD_G}, fb[3];
    quat_rotate_inv(s->q, fw, fb);

    double vib[3];
    stick_slip(s, speed, &force, vib);

    sensors(s, t, force, fb, vib, w, out);
    record_world(s, pos, vel, acc, w, force);
    turn(s, w);
    bits |= button(s, t, truth, truth_ctx);
    if (s->run.n_end != 0 && s->run.n + 1 >= s->run.n_end) {
        bits |= SIM_SCRAPER_END;
        s->run.finished = 1;
    }
    s->run.n++;
    return bits;
}

void sim_scraper_finish(sim_scraper_t *s, event_sink_fn truth, void *truth_ctx)
{
    if (!s->run.finished && s->seg_kind == SIM_SCRAPER_SEG_CONTACT && s->force_count > 0)
        emit_stroke(s, (double)s->run.n * s->run.dt, 1, truth, truth_ctx);
    s->run.finished = 1;
}

void sim_scraper_world_state(const sim_scraper_t *s, sim_scraper_world_t *out)
{
    memset(out, 0, sizeof *out);
    if (s->run.n == 0)
        return;
    memcpy(out->pos_m, s->w_pos, sizeof out->pos_m);
    memcpy(out->vel_mps, s->w_vel, sizeof out->vel_mps);
    memcpy(out->acc_mps2, s->w_acc, sizeof out->acc_mps2);
    memcpy(out->q, s->w_q, sizeof out->q);
    memcpy(out->gyr_dps, s->w_gyr, sizeof out->gyr_dps);
    out->force_n = s->w_force;
    out->offset_n = s->w_offset;
    out->segment = s->seg_kind;
    out->area = s->area;
    out->contact = s->contact_seq;
}

const char *sim_scraper_area_name(int area)
{
    return area >= 0 && area < AREA_COUNT ? area_names[area] : "?";
}

int sim_scraper_hard_cases_parse(const char *text, int *flags)
{
    static const flag_name_t names[] = {
        {"hesitant", SIM_SCRAPER_HESITANT},
        {"no_lift", SIM_SCRAPER_NO_LIFT},
        {"short", SIM_SCRAPER_SHORT},
        {"noisy", SIM_SCRAPER_NOISY},
        {"fast", SIM_SCRAPER_FAST},
        {"all", SIM_SCRAPER_HARD_ALL},
        {"none", 0},
    };
    return flag_names_parse(text, names, sizeof names / sizeof names[0], flags);
}
