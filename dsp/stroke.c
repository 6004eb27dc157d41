#include "stroke.h"
#include "median.h"

#include <errno.h>
#include <math.h>
#include <string.h>

const stroke_settings_t stroke_default = STROKE_SETTINGS_DEFAULT;

const char *stroke_direction_name(stroke_direction_t dir)
{
    switch (dir) {
    case STROKE_UP:
        return "up";
    case STROKE_DOWN:
        return "down";
    default:
        return "level";
    }
}

static uint32_t ring_capacity(const stroke_settings_t *set, float rate_hz)
{
    double n = set->buffer_s * rate_hz + set->back_s * rate_hz + 16.0;
    uint32_t cap = 1;
    while (cap < n && cap < (1u << 30))
        cap <<= 1;
    return cap;
}

static bool settings_valid(const stroke_settings_t *set, float rate_hz)
{
    return rate_hz > 0.0f && isfinite(rate_hz) && set->force_lp_hz > 0.0 &&
           set->force_lp_hz < 0.5 * rate_hz && set->off_n > 0.0 && set->off_n <= set->on_n &&
           set->low_n > 0.0 && set->low_n <= set->off_n && set->off_peak_ratio >= 0.0 &&
           set->off_peak_ratio < 0.5 && set->repress_peak_ratio > set->off_peak_ratio &&
           set->repress_peak_ratio < 1.0 && set->noise_on >= 0.0 && set->noise_off >= 0.0 &&
           set->noise_low >= 0.0 && set->debounce_s >= 0.0 && set->zero_tau_s > 0.0 &&
           set->min_duration_s >= 0.0 && set->min_length_m >= 0.0 && set->end_wait_s >= 0.0 &&
           set->back_s >= 0.0 && set->split_dip_ratio > 0.0 && set->split_dip_ratio < 1.0 &&
           set->split_rise_ratio > 0.0 && set->split_rest_ratio > 0.0 &&
           set->split_peak_share > 0.0 && set->split_peak_share <= 1.0 &&
           set->split_pinned_ratio >= 0.0 && set->split_pinned_ratio < 1.0 &&
           set->level_deg >= 0.0 && set->level_deg < 90.0 && set->up_tau_s >= 0.0 &&
           set->pool_n <= STROKE_POOL_MAX && set->pool_deg >= 0.0 && set->pool_deg <= 90.0 &&
           set->pool_margin_deg >= 0.0 && set->pool_band_deg >= 0.0 &&
           set->level_deg + set->pool_margin_deg < 90.0 && set->buffer_s > 0.0 &&
           set->buffer_s * rate_hz < 1e8;
}

size_t stroke_mem_size(const stroke_settings_t *set, float rate_hz)
{
    if (!settings_valid(set, rate_hz))
        return 0;
    return (size_t)ring_capacity(set, rate_hz) * sizeof(stroke_sample_t);
}

int stroke_init(stroke_t *d, const stroke_settings_t *set, float rate_hz, void *mem, size_t len)
{
    size_t need = stroke_mem_size(set, rate_hz);
    if (need == 0)
        return -EINVAL;
    if (!mem || len < need)
        return -ENOMEM;
    orient_settings_t os = set->orient;
    os.fs_hz = rate_hz;
    orient_t o;
    if (orient_init(&o, &os) != 0)
        return -EINVAL;
    biquad_t lp;
    biquad_settings_t bs = {BIQUAD_LOWPASS, rate_hz, set->force_lp_hz, 0.70710678118654752};
    if (biquad_init(&lp, &bs) != 0)
        return -EINVAL;

    memset(d, 0, sizeof *d);
    d->orient = o;
    d->force_lp = lp;
    d->set = *set;
    d->dt = 1.0 / rate_hz;
    d->zero_alpha = 1.0 - exp(-1.0 / (set->zero_tau_s * rate_hz));
    /* How far the low-pass delays slow edges. */
    d->lp_delay_s = (float)(biquad_delay_dc(&lp) * d->dt);
    /* Power gain of the low-pass for white noise: the sum of its squared
     * impulse response. With no input the next output follows from the last
     * two alone, so once two in a row are below 1e-30 the rest adds nothing a
     * double can hold next to the sum (0.04 to 0.3 in use); stopping there
     * (254 samples at 30 Hz and 500 Hz) gives the same value as summing all
     * 100000, which took half a millisecond at every connect. */
    biquad_t probe = lp;
    double gain = 0.0, prev = 1.0;
    for (int i = 0; i < 100000; i++) {
        double h = biquad_step(&probe, i == 0 ? 1.0f : 0.0f);
        gain += h * h;
        if (fabs(h) < 1e-30 && fabs(prev) < 1e-30)
            break;
        prev = h;
    }
    d->lp_noise_gain = gain;
    d->sin_level = (float)sin(set->level_deg * M_PI / 180.0);
    d->up_tau_sq = set->up_tau_s * set->up_tau_s;
    d->off_peak = (float)set->off_peak_ratio;
    d->repress_peak = (float)set->repress_peak_ratio;
    d->pool_cos = (float)cos(set->pool_deg * M_PI / 180.0);
    /* The nearer cone: level_deg and the median's margin, within pool_deg. */
    d->pool_near_cos =
        (float)cos(fmin(set->pool_deg, set->level_deg + set->pool_margin_deg) * M_PI / 180.0);
    d->pool_sin_hi = (float)sin((set->level_deg + set->pool_margin_deg) * M_PI / 180.0);
    d->pool_sin_lo = (float)sin(fmax(set->level_deg - set->pool_margin_deg, 0.0) * M_PI / 180.0);
    d->band_sin_lo = (float)sin(fmax(set->level_deg - set->pool_band_deg, 0.0) * M_PI / 180.0);
    d->band_sin_hi = (float)sin(fmin(set->level_deg + set->pool_band_deg, 90.0) * M_PI / 180.0);
    d->noise_on_sq = (float)(set->noise_on * set->noise_on);
    d->noise_off_sq = (float)(set->noise_off * set->noise_off);
    d->noise_low_sq = (float)(set->noise_low * set->noise_low);
    d->debounce_n = (uint32_t)lround(set->debounce_s * rate_hz);
    if (d->debounce_n < 1)
        d->debounce_n = 1;
    d->min_samples = (uint32_t)lround(set->min_duration_s * rate_hz);
    d->end_wait_n = (uint32_t)lround(set->end_wait_s * rate_hz);
    d->back_n = (uint32_t)lround(set->back_s * rate_hz);
    d->rest_n = (uint32_t)lround(0.1 * rate_hz);
    d->stop_n = (uint32_t)lround(0.06 * rate_hz);
    if (d->stop_n < 2)
        d->stop_n = 2;
    d->ring = mem;
    d->mask = ring_capacity(set, rate_hz) - 1;
    d->state = STROKE_IDLE;
    return 0;
}

static inline stroke_sample_t *at(stroke_t *d, uint64_t i)
{
    return &d->ring[i & d->mask];
}

/* Oldest index still in the ring. */
static inline uint64_t oldest(const stroke_t *d)
{
    uint64_t cap = (uint64_t)d->mask + 1;
    return d->head > cap ? d->head - cap : 0;
}

/* The rise of displacement disp, along the stroke's own "up". The tool
 * rests when a stroke starts and ends, so its true acceleration averages to
 * zero over the stroke and the mean specific force is gravity alone: the
 * velocity the world-frame acceleration gained over the stroke (v_end over
 * duration_s seconds), plus g up, points up. The orientation's tilt error
 * (the gyroscope's bias and noise integrated while the accelerometer is
 * rejected) turns world z away from it and leaks the stroke's travel into
 * its rise; measured along the mean specific force it does not. The ends
 * are dated from the force, so the tool may still move a little there, and
 * over a short stroke that velocity is a large mean acceleration: the
 * stroke's own mean counts with weight T^2 / (T^2 + up_tau_s^2), nothing
 * for a stroke much shorter than up_tau_s, all of it for a long one. */
static double rise_along_up(const stroke_t *d, const double disp[3], const double v_end[3],
                            double duration_s)
{
    if (duration_s <= 0.0)
        return disp[2];
    double t2 = duration_s * duration_s;
    double w = t2 / (t2 + d->up_tau_sq) / duration_s;
    double up[3];
    for (int k = 0; k < 3; k++)
        up[k] = v_end[k] * w;
    up[2] += ORIENT_G_MPS2;
    double norm = sqrt(up[0] * up[0] + up[1] * up[1] + up[2] * up[2]);
    if (!(norm > 0.5 * ORIENT_G_MPS2))
        return disp[2];
    return (disp[0] * up[0] + disp[1] * up[1] + disp[2] * up[2]) / norm;
}

static stroke_direction_t direction_of(const stroke_t *d, double rise_m, double length_m)
{
    if (fabs(rise_m) < d->sin_level * length_m)
        return STROKE_LEVEL;
    return rise_m > 0.0 ? STROKE_UP : STROKE_DOWN;
}

/* Measures the stroke of samples [from, to) from the buffer. The velocity
 * is the running sum of a dt, less the line from 0 to its final value, so
 * it is zero at both ends; the displacement and path are sums of it. */
__attribute__((cold))
static void measure(stroke_t *d, uint64_t from, uint64_t to, stroke_result_t *r)
{
    memset(r, 0, sizeof *r);
    uint64_t first = oldest(d);
    if (from < first) {
        /* Longer than the buffer: the caller replaces the figures with
         * those of the running sums. */
        r->over_buffer = true;
        from = first;
    }
    uint64_t n = to > from ? to - from : 0;
    if (n == 0)
        return;
    double dt = d->dt;
    double v_end[3] = {0, 0, 0};
    double f_sum = 0.0;
    float f_peak = 0.0f;
    for (uint64_t i = from; i < to; i++) {
        const stroke_sample_t *s = at(d, i);
        for (int k = 0; k < 3; k++)
            v_end[k] += s->acc[k] * dt;
        f_sum += s->force_n;
        if (s->force_n > f_peak)
            f_peak = s->force_n;
    }
    double inv_n = 1.0 / (double)n;
    double v[3] = {0, 0, 0}, disp[3] = {0, 0, 0}, path = 0.0;
    for (uint64_t i = from; i < to; i++) {
        const stroke_sample_t *s = at(d, i);
        double frac = (double)(i - from + 1) * inv_n;
        double vc[3];
        for (int k = 0; k < 3; k++) {
            v[k] += s->acc[k] * dt;
            vc[k] = v[k] - v_end[k] * frac;
            disp[k] += vc[k] * dt;
        }
        path += sqrt(vc[0] * vc[0] + vc[1] * vc[1] + vc[2] * vc[2]) * dt;
    }
    r->length_m = path;
    r->rise_m = rise_along_up(d, disp, v_end, (double)n * dt);
    memcpy(r->disp_m, disp, sizeof disp);
    r->peak_force_n = f_peak;
    r->mean_force_n = f_sum * inv_n;
    r->direction = direction_of(d, r->rise_m, path);
}

/* The direction of stroke r decided with its peers in the area's pool: the
 * pooled strokes whose displacement lies within pool_deg of r's, either
 * way (strokes along one limb axis, up or down; level strokes across it
 * are peers of each other), or only those within level_deg +
 * pool_margin_deg when there are pool_min of them, r included (along a
 * nearly level limb, level strokes along its side and sloped ones along
 * its axis lie about 13 degrees apart: inside pool_deg, outside the
 * nearer cone; its margin keeps an 8 degree stroke's 16 degree peers
 * inside when its own slope reads 6.7). The limb's inclination does not change from
 * stroke to stroke, while each stroke's own slope |rise| / length carries
 * a few degrees of error (the orientation's tilt, noise): with pool_min
 * peers or more, r included, their median slope decides for an r whose
 * own slope is within pool_band_deg of level_deg: a median at least
 * pool_margin_deg above level_deg makes r up or down by the sign of its
 * own rise, as far below makes it level. A stroke clearly sloped or
 * clearly level on its own keeps its own call (peers by direction alone
 * may mix strokes of different slopes: along a nearly level limb,
 * strokes along its axis and level ones along its side point the same
 * way), and so do strokes with fewer peers or a median near level_deg.
 * r then joins the pool, which keeps the area's last pool_n strokes. */
__attribute__((cold))
static void pool_direction(stroke_t *d, stroke_result_t *r)
{
    uint32_t cap = d->set.pool_n;
    if (cap == 0)
        return;
    double norm = sqrt(r->disp_m[0] * r->disp_m[0] + r->disp_m[1] * r->disp_m[1] +
                       r->disp_m[2] * r->disp_m[2]);
    if (!(norm > 0.0) || !(r->length_m > 0.0))
        return;
    float dir[3], slope = (float)(fabs(r->rise_m) / r->length_m);
    for (int k = 0; k < 3; k++)
        dir[k] = (float)(r->disp_m[k] / norm);
    float peers[STROKE_POOL_MAX + 1], near[STROKE_POOL_MAX + 1];
    uint32_t n = 0, n_near = 0;
    peers[n++] = slope;
    near[n_near++] = slope;
    for (uint32_t i = 0; i < d->pool_count; i++) {
        const float *p = d->pool_dir[i];
        float c = fabsf(p[0] * dir[0] + p[1] * dir[1] + p[2] * dir[2]);
        if (c >= d->pool_cos)
            peers[n++] = d->pool_slope[i];
        if (c >= d->pool_near_cos)
            near[n_near++] = d->pool_slope[i];
    }
    float *vote = peers;
    if (n_near >= d->set.pool_min)
        vote = near, n = n_near;
    if (n >= d->set.pool_min) {
        float median = median_sortf(vote, n); /* at most 33 values */
        if (median >= d->pool_sin_hi && r->rise_m != 0.0 && slope >= d->band_sin_lo)
            r->direction = r->rise_m > 0.0 ? STROKE_UP : STROKE_DOWN;
        else if (median <= d->pool_sin_lo && slope <= d->band_sin_hi)
            r->direction = STROKE_LEVEL;
    }
    memcpy(d->pool_dir[d->pool_next], dir, sizeof dir);
    d->pool_slope[d->pool_next] = slope;
    d->pool_next = (d->pool_next + 1) % cap;
    if (d->pool_count < cap)
        d->pool_count++;
}

void stroke_new_area(stroke_t *d)
{
    d->pool_count = 0;
    d->pool_next = 0;
}

/* How much longer the contact of the stroke [seg_start, to) ending at
 * t_end was than its dated edges: they are dated where the force crosses
 * the low level, which a light stroke's ramp takes a share of its rise to
 * reach (at 3 N over the 0.6 N low level of a noisy sensor, 2 sigma, a
 * fifth of the peak: about 10 ms into a 30 ms ramp at each end, so a
 * 0.1 s stroke read 76 ms and was a bump). Each edge from the air (not a
 * split) is taken to zero force along a raised cosine (the ramp of a
 * press, and the simulator's) through the low level's and half the
 * peak's crossings; a heavy stroke's low level is at its foot and adds
 * little. A straight line through them reached only half-way to the
 * foot, the more short the longer the ramp (without noise, a 0.1 s
 * stroke with 30 ms ramps read 95 ms, one of 0.2 s with 80 ms ramps 177
 * ms; the raised cosine 106 and 200: the filter's smoothing of the foot
 * is what it adds over a short ramp). */
static double edge_extension(stroke_t *d, uint64_t to, double t_start, double t_end, bool split)
{
    float half = 0.5f * d->peak_lp;
    if (!(half > d->low_level) || d->seg_start < oldest(d))
        return 0.0;
    /* A raised cosine from zero to the peak P crosses a level L at the
     * phase theta = acos(1 - 2 L / P) / pi of its ramp and half the peak
     * at 0.5: the foot lies theta / (0.5 - theta) of the time from the low
     * level to half before the low level's crossing. The noisy peak moves
     * both crossings' phases alike and changes little. */
    double theta = acos(1.0 - 2.0 * d->low_level / d->peak_lp) / M_PI;
    double k = theta / (0.5 - theta), ext = 0.0;
    if (d->seg_lifted)
        for (uint64_t i = d->seg_start; i < to; i++)
            if (at(d, i)->force_lp_n >= half) {
                ext += (at(d, i)->t_dev - d->lp_delay_s - t_start) * k;
                break;
            }
    if (!split)
        for (uint64_t i = to; i-- > d->seg_start;)
            if (at(d, i)->force_lp_n >= half) {
                ext += (t_end - (at(d, i)->t_dev - d->lp_delay_s)) * k;
                break;
            }
    return fmax(ext, 0.0);
}

/* Finishes the stroke [seg_start, to) ending at t_end; returns 1 if it
 * is a stroke, 0 for a bump. */
__attribute__((cold))
static int finalize(stroke_t *d, uint64_t to, double t_end, bool split, stroke_result_t *out)
{
    double t_start = at(d, d->seg_start)->t_dev - d->lp_delay_s;
    if (d->seg_start < oldest(d))
        t_start = d->seg_t_start;
    measure(d, d->seg_start, to, out);
    out->t_start_dev = t_start;
    out->t_end_dev = t_end;
    out->split = split;
    double duration = t_end - t_start;
    if (out->over_buffer && d->run_n > 0) {
        /* Longer than the buffer: the running sums over the whole stroke
         * give the force figures and the net displacement (velocity less
         * its line to the final value, summed), which stands for the path. */
        double n = (double)d->run_n;
        double disp[3];
        for (int k = 0; k < 3; k++)
            disp[k] = d->run_p[k] - d->run_v[k] * d->dt * (n + 1.0) * 0.5;
        out->length_m = sqrt(disp[0] * disp[0] + disp[1] * disp[1] + disp[2] * disp[2]);
        out->rise_m = rise_along_up(d, disp, d->run_v, n * d->dt);
        memcpy(out->disp_m, disp, sizeof disp);
        out->mean_force_n = d->run_f_sum / n;
        out->peak_force_n = d->run_f_peak;
        out->direction = direction_of(d, out->rise_m, out->length_m);
    }
    double contact = duration; /* for the bump test: the edges taken to zero force */
    if (contact < d->set.min_duration_s)
        contact += edge_extension(d, to, t_start, t_end, split);
    if (contact < d->set.min_duration_s || out->peak_force_n < d->set.min_peak_n ||
        out->length_m < d->set.min_length_m) {
        d->bumps++;
        return 0;
    }
    out->mean_speed_mps = out->length_m / duration;
    pool_direction(d, out);
    d->strokes++;
    return 1;
}

/* Adds a sample to the running sums of the stroke in progress. */
static inline void run_add(stroke_t *d, const stroke_sample_t *e)
{
    for (int k = 0; k < 3; k++) {
        d->run_v[k] += e->acc[k] * d->dt;
        d->run_p[k] += d->run_v[k] * d->dt;
    }
    d->run_f_sum += e->force_n;
    if (e->force_n > d->run_f_peak)
        d->run_f_peak = e->force_n;
    d->run_n++;
}

/* Takes sample i into the stroke: its motion and force (run_add), and the
 * peak of the smoothed force with the deepest dip after it (in contact and
 * while ending: a no-lift dip of a light stroke may reach under the off
 * level). */
static inline void follow(stroke_t *d, uint64_t i)
{
    const stroke_sample_t *e = at(d, i);
    run_add(d, e);
    float f = e->force_lp_n;
    if (f > d->peak_lp) {
        d->peak_lp = f;
        d->have_dip = false;
    } else if (!d->have_dip || f < d->dip_lp) {
        d->dip_lp = f;
        d->dip_index = i;
        d->have_dip = true;
    }
}

/* Starts a stroke at index start; the peak and dip follow the samples
 * from there up to the newest. */
__attribute__((cold))
static void begin(stroke_t *d, uint64_t start)
{
    d->seg_start = start;
    d->seg_t_start = at(d, start)->t_dev - d->lp_delay_s;
    d->peak_lp = 0.0f;
    d->have_dip = false;
    memset(d->run_v, 0, sizeof d->run_v);
    memset(d->run_p, 0, sizeof d->run_p);
    d->run_f_sum = 0.0;
    d->run_f_peak = 0.0f;
    d->run_n = 0;
    for (uint64_t i = start; i < d->head; i++)
        follow(d, i);
    d->off_count = 0;
    d->have_pend = false;
    d->seg_lifted = false;
    d->state = STROKE_CONTACT;
}

/* Mean vibration and force of samples [from, to). */
static void vib_mean(stroke_t *d, uint64_t from, uint64_t to, double *vib, double *force)
{
    double v = 0.0, f = 0.0;
    for (uint64_t i = from; i < to; i++) {
        v += at(d, i)->vib;
        f += at(d, i)->force_lp_n;
    }
    double n = to > from ? (double)(to - from) : 1.0;
    *vib = v / n;
    *force = f / n;
}

/* Did the glide stop at the dip? A blade sliding on skin vibrates (stick
 * and slip), the more the faster it slides and the harder it presses; at
 * a stop it does not slide. The accelerometer's sample-to-sample change
 * (blind to the stroke's own slow motion, the hand's wobble and the
 * tilt) carries that vibration over the sensor's noise, which is learnt
 * per axis off the skin (vib_axis, as the force's noise is). Over the
 * glide (the middle half of the part) and over the stop_n samples up to
 * the dip (the first stroke coming to rest: after the dip a fast second
 * stroke is already gliding, and its onset's jerk changes the
 * acceleration from sample to sample too; the dip of the low-passed force
 * is dated back by the filter's delay), the vibration over the noise per
 * newton of force is compared: a glide that goes on through a lighter
 * press keeps it, a stop loses it. Its power goes with the speed squared,
 * so the speed's share split_rest_ratio is its square here. The
 * comparison is evidence only where it can tell: the vibration a glide
 * going on would show there must stand VIB_SIGMAS standard errors of the
 * window's mean over the noise, the error from the noise's spread (a
 * white noise's change squared on one axis has a variance twice its mean
 * squared; neighbouring changes share a reading, which makes the variance
 * of their mean 1.5 times that of independent ones). Both are learnt over
 * every reading off the skin: from the 0.1 s of rest before the stroke
 * alone (50 changes at 500 Hz) the floor read 44 % high on one test seed
 * of 400, and the spread, taken from so few squares, was noisier still.
 * Nothing integrates: no tilt error leaks in. */
#define VIB_SIGMAS 4.0
static bool glide_stopped(stroke_t *d)
{
    double floor_v = 0.0, var = 0.0, glide_v, glide_f, dip_v, dip_f;
    for (int k = 0; k < 3; k++) {
        floor_v += d->vib_axis[k];
        var += 2.0 * d->vib_axis[k] * d->vib_axis[k];
    }
    uint64_t len = d->dip_index - d->seg_start;
    vib_mean(d, d->seg_start + len / 4, d->seg_start + 3 * len / 4, &glide_v, &glide_f);
    /* The stop is where the raw force dipped: the low-pass's delay earlier.
     * The window ends before that sample: its reading is the change from
     * the one before, and at a turn the next stroke's onset (its jerk
     * steps the acceleration by several times the noise) is already in it. */
    uint64_t delay = (uint64_t)lround(d->lp_delay_s / d->dt);
    uint64_t to = d->dip_index > d->seg_start + delay ? d->dip_index - delay : d->seg_start;
    uint64_t from = to > d->seg_start + d->stop_n ? to - d->stop_n : d->seg_start;
    if (to <= from)
        return false;
    vib_mean(d, from, to, &dip_v, &dip_f);
    if (!(glide_v > floor_v) || !(glide_f > 0.0))
        return false;
    double expect = (glide_v - floor_v) * fmax(dip_f, 0.0) / glide_f; /* a glide's, at the dip */
    if (!(expect * expect * (double)(to - from) > VIB_SIGMAS * VIB_SIGMAS * 1.5 * var))
        return false;
    double r = d->set.split_rest_ratio;
    return dip_v - floor_v < r * r * expect;
}

/* Does the motion agree that the tool stopped at the dip? The velocity
 * from the segment start (at rest) to the dip, with the linear drift left
 * in, is compared with the velocity the tool reached: a tool that
 * decelerated to rest or turned back ends near zero or reversed along it.
 * The velocity reached is the fastest of the part's first split_peak_share:
 * a stroke between two rests reaches its top speed near its middle, while
 * the gravity leak of a tilt error grows with time (the error grows as the
 * gyroscope's bias turns the estimate), so over a long slow stroke its
 * ramp, across the motion as often as along it, overtakes the stroke's own
 * velocity near the end; taken there, the "peak" would be the leak itself
 * and the velocity at the dip would always match it.
 *
 * The offset read at rest is not constant either: while the orientation
 * corrects its tilt by the accelerometer (gain kp), a tilt error decays
 * and the tilt follows the tool's own horizontal acceleration, so the
 * horizontal world acceleration the stroke reads is the true one less its
 * own low-pass: a_read' + kp a_read = a_true'. From rest, the true
 * velocity is then the velocity less the offset at rest plus kp times the
 * displacement integrated from what was read while the tilt followed.
 * The stop is judged both ways, and either confirms it: with the offset
 * at rest alone (right when the accelerometer was rejected for much of the
 * stroke, or the gyroscope's bias rather than the filter moved the tilt)
 * and with the filter's own correction undone (right over a slow stroke
 * of 1.5-2 s, where an offset of 0.05 g at the start has decayed by half
 * at the dip and its constant subtraction leaves 0.3-0.6 m/s). */
static bool stopped_along(const double v[3], const double vmax[3], double peak_sq, double ratio)
{
    return v[0] * vmax[0] + v[1] * vmax[1] + v[2] * vmax[2] < ratio * peak_sq;
}

/* The offset the stop tests take out of the velocity from seg_start: a
 * constant acceleration bias (the offset read at rest), and a line from 0
 * at seg_start reaching v_end (u_end with the tilt correction undone) n
 * samples on, 1/n being inv_n (the velocity pinned at both ends). */
typedef struct {
    double bias[3];  /* m/s^2 */
    double v_end[3]; /* m/s */
    double u_end[3]; /* m/s */
    double inv_n;    /* 1/samples */
} stop_offset_t;

/* Walks the velocity from seg_start to the dip with the offset taken out,
 * both as it reads (v) and with the orientation's own tilt correction
 * undone (u: horizontal axes, the tilt does not turn vertical
 * acceleration; w and x: velocity and displacement from what was read
 * while the tilt followed the accelerometer), and compares each at the
 * dip with the fastest of the part's first split_peak_share; either
 * confirms the stop. */
static bool walk_stopped(stroke_t *d, uint64_t dip, const stop_offset_t *off, double ratio)
{
    uint64_t peak_end =
        d->seg_start + (uint64_t)((double)(dip - d->seg_start) * d->set.split_peak_share);
    double v[3] = {0, 0, 0}, vc[3] = {0, 0, 0}, uc[3] = {0, 0, 0}, w[2] = {0, 0}, x[2] = {0, 0};
    double vmax[3] = {0, 0, 0}, umax[3] = {0, 0, 0}, v_peak_sq = 0.0, u_peak_sq = 0.0;
    double kp = d->set.orient.kp, dt = d->dt;
    for (uint64_t i = d->seg_start; i <= dip; i++) {
        const stroke_sample_t *s = at(d, i);
        double frac = (double)(i - d->seg_start + 1) * off->inv_n;
        for (int k = 0; k < 3; k++) {
            v[k] += (s->acc[k] - off->bias[k]) * dt;
            vc[k] = v[k] - off->v_end[k] * frac;
        }
        for (int k = 0; k < 2; k++) {
            if (s->tilt_follows)
                w[k] += s->acc[k] * dt;
            x[k] += w[k] * dt;
            uc[k] = v[k] + kp * x[k] - off->u_end[k] * frac;
        }
        uc[2] = vc[2];
        if (i > peak_end)
            continue;
        double sq = vc[0] * vc[0] + vc[1] * vc[1] + vc[2] * vc[2];
        if (sq > v_peak_sq) {
            v_peak_sq = sq;
            memcpy(vmax, vc, sizeof vc);
        }
        sq = uc[0] * uc[0] + uc[1] * uc[1] + uc[2] * uc[2];
        if (sq > u_peak_sq) {
            u_peak_sq = sq;
            memcpy(umax, uc, sizeof uc);
        }
    }
    return stopped_along(vc, vmax, v_peak_sq, ratio) || stopped_along(uc, umax, u_peak_sq, ratio);
}

static bool motion_stopped(stroke_t *d)
{
    /* The tool rested just before the stroke: the acceleration it read
     * then is the offset (bias, tilt error) to take out. */
    stop_offset_t off = {0};
    uint64_t first = oldest(d);
    uint64_t from = d->seg_start > d->rest_n ? d->seg_start - d->rest_n : 0;
    if (from < first)
        from = first;
    if (from < d->seg_start) {
        for (uint64_t i = from; i < d->seg_start; i++)
            for (int k = 0; k < 3; k++)
                off.bias[k] += at(d, i)->acc[k];
        for (int k = 0; k < 3; k++)
            off.bias[k] /= (double)(d->seg_start - from);
    }
    return walk_stopped(d, d->dip_index, &off, d->set.split_rest_ratio) || glide_stopped(d);
}

/* The motion check costs a pass over the stroke: once per dip. */
static bool dip_motion_stopped(stroke_t *d)
{
    if (d->motion_checked != d->dip_index + 1) {
        d->motion_checked = d->dip_index + 1;
        d->motion_ok = motion_stopped(d);
    }
    return d->motion_ok;
}

/* Did the tool stop at the pending dip? Judged once the contact's next
 * part ended at rest (a lift, or a split the motion confirmed) at index
 * to: the velocity is pinned to zero at both ends of [seg_start, to), as
 * a stroke's measure pins it (the line from 0 to the final velocity
 * taken out), instead of at the start alone. A constant offset leaks
 * nothing then, and a tilt error's leak that grows with time leaves at
 * the dip a few tenths of what it adds up to from the start (a leak
 * growing as t^2 over [0, T] leaves t (T - t) against t^2), so a slow
 * first stroke whose velocity from the start alone was all leak shows its
 * stop. The velocity at the dip is compared with the fastest of the first
 * part's first split_peak_share, as motion_stopped does, and so is the
 * velocity with the orientation's own tilt correction undone (a tilt
 * error at the contact that the correction takes out over the stroke
 * leaks neither a constant nor a t^2); either confirms. */
static bool pinned_stopped(stroke_t *d, uint64_t dip, uint64_t to)
{
    /* The stop is where the raw force dipped: the low-pass's delay earlier. */
    uint64_t delay = (uint64_t)lround(d->lp_delay_s / d->dt);
    dip = dip > d->seg_start + delay ? dip - delay : d->seg_start;
    if (d->seg_start < oldest(d) || dip <= d->seg_start || dip >= to)
        return false;
    /* The velocity at the end, as it reads and with the tilt correction
     * undone, as walk_stopped has them. */
    double dt = d->dt, kp = d->set.orient.kp, w[2] = {0, 0}, x[2] = {0, 0};
    stop_offset_t off = {0};
    for (uint64_t i = d->seg_start; i < to; i++) {
        const stroke_sample_t *s = at(d, i);
        for (int k = 0; k < 3; k++)
            off.v_end[k] += s->acc[k] * dt;
        for (int k = 0; k < 2; k++) {
            if (s->tilt_follows)
                w[k] += s->acc[k] * dt;
            x[k] += w[k] * dt;
        }
    }
    for (int k = 0; k < 3; k++)
        off.u_end[k] = off.v_end[k] + (k < 2 ? kp * x[k] : 0.0);
    off.inv_n = 1.0 / (double)(to - d->seg_start);
    return walk_stopped(d, dip, &off, d->set.split_pinned_ratio);
}

/* The contact's current part ends at rest at index to: a pending dip in
 * it whose stop the pinned velocity shows ends a stroke there, written to
 * *out, and the part goes on from the dip. Returns the strokes written. */
__attribute__((cold))
static int settle_pending(stroke_t *d, uint64_t to, stroke_result_t *out)
{
    if (!d->have_pend)
        return 0;
    d->have_pend = false;
    uint64_t dip = d->pend_dip;
    if (dip - d->seg_start < d->min_samples || !pinned_stopped(d, dip, to))
        return 0;
    int n = finalize(d, dip, at(d, dip)->t_dev - d->lp_delay_s, true, out);
    stroke_state_t state = d->state;
    begin(d, dip);
    d->state = state;
    return n;
}

int stroke_push(stroke_t *d, const sample_t *s, stroke_result_t out[2])
{
    int n_out = 0;
    orient_step(&d->orient, s->gyr, s->acc);
    if (d->samples++ == 0) {
        /* Start the zero and the filter at the first reading, so the filter
         * does not ring up from 0 N. */
        d->zero_n = s->p;
        d->zero_w = 1.0;
        d->prev_p = s->p;
        memcpy(d->prev_acc, s->acc, sizeof d->prev_acc);
        for (int i = 0; i < 200; i++)
            biquad_step(&d->force_lp, s->p);
    }
    float f_lp_abs = biquad_step(&d->force_lp, s->p);
    float prev_p = d->prev_p;
    d->prev_p = s->p;
    float zero = (float)d->zero_n;
    float flp = f_lp_abs - zero;
    uint64_t idx = d->head++;
    stroke_sample_t *e = at(d, idx);
    e->t_dev = s->t_dev;
    memcpy(e->acc, d->orient.lin_acc_world, sizeof e->acc);
    e->force_n = s->p - zero;
    e->force_lp_n = flp;
    e->tilt_follows = !d->orient.accel_rejected;
    float dax = s->acc[0] - d->prev_acc[0], day = s->acc[1] - d->prev_acc[1],
          daz = s->acc[2] - d->prev_acc[2];
    e->vib = dax * dax + day * day + daz * daz;
    memcpy(d->prev_acc, s->acc, sizeof d->prev_acc);

    if (d->state == STROKE_IDLE) {
        /* No contact begins before the zero and the noise rest on the
         * onset search's span of readings (back_s): over the first few, a
         * growing mean's noise is as likely half the true one as not, and
         * the zero still holds much of the first reading. */
        float var = (float)d->noise_var;
        if (d->samples > d->back_n && flp > d->set.on_n && flp * flp > d->noise_on_sq * var) {
            float off = sqrtf(d->noise_off_sq * var), low = sqrtf(d->noise_low_sq * var);
            d->on_level = fmaxf((float)d->set.on_n, sqrtf(d->noise_on_sq * var));
            d->off_level = fmaxf((float)d->set.off_n, off);
            d->low_level = fmaxf((float)d->set.low_n, low);
            if (d->low_level > d->off_level)
                d->low_level = d->off_level;
            uint64_t first = oldest(d);
            uint64_t limit = idx > d->back_n ? idx - d->back_n : 0;
            if (limit < first)
                limit = first;
            /* The contact began where the force left its floor just
             * before, not the zero: a zero that wandered in the last
             * contact (frozen there, slow to follow off the skin) leaves
             * the air's force over the low level, and the start was dated
             * at the search's limit, in the approach. */
            float floor_n = at(d, limit)->force_lp_n;
            for (uint64_t i = limit + 1; i < idx; i++)
                floor_n = fminf(floor_n, at(d, i)->force_lp_n);
            floor_n = fmaxf(floor_n, 0.0f);
            uint64_t start = idx;
            while (start > limit && at(d, start - 1)->force_lp_n >= floor_n + d->low_level)
                start--;
            begin(d, start);
            d->seg_lifted = true;
        } else {
            /* A step is clamped to the off level, so a light touch that
             * stays under the on level barely moves the zero, yet a zero
             * that fell behind still catches up. */
            double clamp = fmaxf((float)d->set.off_n, sqrtf(d->noise_off_sq * var));
            double step = flp;
            if (step > clamp)
                step = clamp;
            else if (step < -clamp)
                step = -clamp;
            /* From the first reading the zero and the noise are growing
             * means, until their weight is the EMA's: one reading alone
             * (noise, a sensor settling) is no zero to judge a contact by. */
            double w = d->zero_alpha;
            if (d->zero_w > w) {
                w = d->zero_w;
                d->zero_w = w / (1.0 + w);
            }
            d->zero_n += w * step;
            /* The noise from sample-to-sample differences of the raw force
             * (twice its variance), blind to the zero and its errors,
             * scaled by the low-pass's white-noise power gain. */
            double diff = (double)s->p - prev_p;
            d->noise_var += w * (0.5 * diff * diff * d->lp_noise_gain - d->noise_var);
            /* The vibration's floor, the accelerometer's own noise: its
             * change squared per axis, learnt as the force's noise is. */
            d->vib_axis[0] += w * (dax * dax - d->vib_axis[0]);
            d->vib_axis[1] += w * (day * day - d->vib_axis[1]);
            d->vib_axis[2] += w * (daz * daz - d->vib_axis[2]);
        }
        return 0;
    }
    follow(d, idx);
    if (d->state == STROKE_CONTACT) {
        /* A dip must lie deeper under the peak than the noise reaches: as
         * far as a contact must rise over the zero to begin (noise_on
         * sigmas). Over a light press under a noisy sensor, the filtered
         * force's highest and lowest readings lie 5-6 sigmas apart, and a
         * low reading in the stroke's deceleration split it. And the peak
         * is that noisy maximum, 2-3 sigmas over the press's level: the dip
         * is judged against the peak less the low level's noise_low
         * sigmas, or a hesitant stroke's shallow dip (the glide near a
         * stop, the force 5-20 % lower), read at its noisy minimum, passed
         * for a no-lift pair's (the force down to 10-35 %). */
        float depth = d->peak_lp - d->dip_lp, lo = sqrtf(d->noise_low_sq * (float)d->noise_var);
        if (d->have_dip && d->dip_lp < d->set.split_dip_ratio * (d->peak_lp - lo) &&
            depth * depth > d->noise_on_sq * (float)d->noise_var &&
            flp - d->dip_lp > d->set.split_rise_ratio * depth &&
            d->dip_index - d->seg_start >= d->min_samples) {
            uint64_t dip = d->dip_index;
            if (dip_motion_stopped(d)) {
                if (d->have_pend && d->pend_dip < dip)
                    n_out += settle_pending(d, dip, &out[n_out]);
                n_out += finalize(d, dip, at(d, dip)->t_dev - d->lp_delay_s, true, &out[n_out]);
                begin(d, dip);
                return n_out;
            }
            if (d->set.split_pinned_ratio > 0.0) {
                d->pend_dip = dip;
                d->have_pend = true;
            }
        }
        if (flp >= fmaxf(d->off_level, d->off_peak * d->peak_lp)) {
            d->off_count = 0;
            return n_out;
        }
        if (++d->off_count < d->debounce_n)
            return n_out;
        d->state = STROKE_ENDING;
        d->off_index = idx + 1 - d->debounce_n;
        d->ending_n = 0;
        d->ending_extended = false;
        /* The first ending sample may already be below the low level. */
    }
    if (flp > fmaxf(d->on_level, d->repress_peak * d->peak_lp)) {
        /* The blade pressed again before it left: one contact. */
        d->state = STROKE_CONTACT;
        d->off_count = 0;
        return n_out;
    }
    bool fell_back = d->ending_extended && flp < d->ending_rising_n;
    if (flp < d->low_level || fell_back || d->ending_n++ >= d->end_wait_n) {
        if (flp >= d->low_level && d->have_dip &&
            flp - d->dip_lp > d->set.split_rise_ratio * (d->peak_lp - d->dip_lp)) {
            /* The wait ran out with the force rising again from its dip
             * by as much as a no-lift split asks: a light stroke's dip
             * went under the off level and the blade presses again (a
             * zero that moved stays flat). One contact still; the split
             * test judges the dip. */
            d->state = STROKE_CONTACT;
            d->off_count = 0;
            return n_out;
        }
        if (flp >= d->low_level && !fell_back && !d->ending_extended && d->have_dip &&
            flp - d->dip_lp > d->low_level) {
            /* Rising from the dip, not yet by that much: a light stroke
             * pressing again slowly, or the noise of a zero that moved.
             * The wait is extended once, while the force stays above
             * where it is now (the noise falls back within a few ms). */
            d->ending_extended = true;
            d->ending_rising_n = flp;
            d->ending_n = 0;
            return n_out;
        }
        /* The blade left but the force did not come back to the zero: the
         * zero moved during the contact (it is frozen there); the force
         * now is the new zero, and the contact ended where the force went
         * under the off level (the wait, extended or not, only told a lift
         * from a press). */
        bool zero_moved = flp >= d->low_level;
        double t_end = zero_moved ? at(d, d->off_index)->t_dev : s->t_dev;
        n_out += settle_pending(d, idx, &out[n_out]);
        n_out += finalize(d, idx, t_end - d->lp_delay_s, false, &out[n_out]);
        d->state = STROKE_IDLE;
        if (zero_moved)
            d->zero_n += flp;
    }
    return n_out;
}

void stroke_gap(stroke_t *d)
{
    if (d->state != STROKE_IDLE)
        d->bumps++;
    d->state = STROKE_IDLE;
    orient_reset(&d->orient);
    /* The heading starts over with the orientation: the pooled
     * displacements no longer compare. */
    stroke_new_area(d);
}

int stroke_finish(stroke_t *d, stroke_result_t *out)
{
    if (d->state == STROKE_IDLE || d->head == 0)
        return 0;
    d->state = STROKE_IDLE;
    return finalize(d, d->head, at(d, d->head - 1)->t_dev, false, out);
}
