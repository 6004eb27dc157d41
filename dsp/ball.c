#include "ball.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* docs/DSP.md ("Ball detectors") explains the method; comments here say why
 * the code is shaped as it is. */

/* Structure of the method rather than tuning (the tuned values are the
 * settings). */
#define HIST_RATE 250.0     /* history entries per second (4 ms apart): 4 s of history */
#define SMOOTH_ORDER 2      /* Butterworth order of the pressure and rate smoothing */
#define BAND_HP_ORDER 4     /* Butterworth order of the band signals' high-pass */
#define WARMUP_SAMPLES 2000 /* the smoothing is run this long on the first sample */
#define SLOPE_SPAN 5        /* history entries over which a slope is taken (20 ms) */
/* A flex's onset is searched on slopes over twice SLOPE_SPAN (40 ms) when
 * the 20 ms slope's noise (the hold's jitter_ms, rms) is over this share
 * of the flex's steepest 20 ms slope. */
#define ONSET_JITTER_SHARE 0.05
/* An open flex's fall since it was last near its peak is read on slopes
 * over this many entries (40 ms): a 20 ms slope's noise under a noisy
 * sensor passed for a relax ramp's fall and ended flexes on their
 * plateau. */
#define FALL_SPAN (2 * SLOPE_SPAN)
/* The widest slope the onset is searched on in a noisy hold (80 ms). */
#define ONSET_WIDEST_SPAN (4 * SLOPE_SPAN)
/* A slow ramp (ramp_rise) is judged on the slope over this many entries
 * (80 ms): under a noisy sensor the 20 ms slope's noise sets the hold's
 * resting slope rms, and a 0.3-0.8 s ramp never stood 5 times over it. */
#define SLOW_SPAN (4 * SLOPE_SPAN)
#define COARSE_DEC 5 /* history entries per coarse history entry (20 ms) */
/* A ramp's foot: where the slope falls under this share of its steepest. */
#define RAMP_FOOT 0.25
#define RAMP_HALF 0.5 /* ... and the second point on the slope's rise */
#define HIGH_OVER_LOW 1.5625   /* the high rotation level over the low one */
#define REVERSAL_SHARE 0.5     /* a reversal turns past this share of the low level */
/* A climb of the rotation rate restarts where it dipped this share of the
 * low level under its highest. */
#define CLIMB_DIP_SHARE 0.1
#define HALF_LOAD 0.5          /* holds begin and end where half their load is on */
#define ONSET_SEARCH_S 4.0     /* how far back a settled hold's start is searched, seconds */
#define SETTLE_STILL_SHARE 0.5 /* a settling load must have been still this share of settle_s */
#define POWER_FLOOR_PA2 1e-2   /* band power baselines are at least this, pascal^2 */
#define POWER_FLOOR_G2 1e-12   /* ... and this, g^2 */
#define BASE_FAST_FRAMES 8     /* the first frames of a hold learn the resting slope even on a ramp */
#define BASE_LOUD_SLOWDOWN 0.1 /* a loud band is learnt this much slower */
#define STRONG_AT_ONCE 0.5     /* one frame decides above power_ratio^2 times this */
#define RAMP_BREADTH 1.0 /* a ramp's start needs the band to have risen on the whole */
/* ... and the ball stiller than this share of the low rotation level: the
 * ramp decides before the MMG has grown, when a roll stroke's push would
 * look the same. */
#define RAMP_STILL_SHARE 0.5
/* A roll stroke starting: the rotation rate, still under the low level,
 * grew over the last spectrum frame (32 ms) by this factor ... */
#define TURN_GROWTH 1.5
/* ... and by this share of the low level. */
#define TURN_SHARE 0.1
/* A frame whose band rose broadly above power_ratio^2 times this takes the
 * flex's rise from the least smoothed pressure of the lookback window. */
#define STRONG_RISE 1.0
/* A vibration under MARGINAL_VIB times power_ratio starts a flex only on a
 * rise the hold's predictor did not expect: a residual over MARGINAL_Z
 * times its rest rms (flex_frame). */
#define MARGINAL_VIB 2.0
#define MARGINAL_Z 1.0
/* A flex started while its vibration had been loud and broad (the band
 * ratio and breadth, smoothed as an open flex's ratio is, over the square
 * roots of power_ratio and breadth_ratio) for at least LOUD_FRAMES frames
 * is dated from the first of them, less LOUD_BACK of a window, when that
 * is earlier than its pressure onset. */
#define LOUD_FRAMES 4
#define LOUD_BACK 0.75
#define LOG_FLOOR 1e-3         /* a bin's power is at least this share of the bin floor */
#define RATIO_SMOOTH 0.3       /* weight per frame of the smoothed band ratio in a flex */
#define PEAK_NEAR 0.8          /* "near the peak": above this share of the flex's rise */
/* The time constant of the open flex's level (r_lvl), seconds: longer than
 * a relax (0.15-0.4 s), so that a relax falls through it, and than the
 * wander of an effort's force (under 2 Hz), so that the wander does not. */
#define PLATEAU_TAU_S 1.0
/* A flex's relax is taken once the load has stayed under half the flex's
 * level this long after it was seen, seconds: the wander of an effort's
 * force dips that far for a few tenths of a second and comes back. Longer
 * holds kept more wandering flexes whole but let breathing of 15 % of the
 * load lift a relaxed load back over half a weak flex's level first. */
#define RELAX_HOLD_S 0.3
/* The relax ramp is searched from this long before the last time near the
 * peak, seconds. */
#define RELAX_BACK_S 0.1
/* Without a relax ramp in the history, a raised-cosine relaxation ends this
 * many (80 % -> 50 %) intervals after its 50 % crossing, less a guard. */
#define RELAX_INTERVALS 2.0
#define RELAX_GUARD_S 0.01 /* seconds */
/* The hold's slow pressure predictor: an AR(BALL_AR_ORDER) model of the
 * frames PRED_STRIDE apart, predicting PRED_AHEAD frames ahead, forgetting
 * PRED_FORGET per frame, with its inverse correlation started at PRED_P0
 * (the pressure over the load, so about 1). It never learns from a frame
 * whose residual is over PRED_FREEZE_Z times its rest level's rms. In the
 * session's first hold that level starts at a prior, PRED_PRIOR_REL of the
 * load in rms (about the 90th percentile of the levels later holds learn:
 * 1.8 % in the widened world, 2.6 % in the stress world), and learns from
 * the second half of the first PRED_LEARN_FRAMES frames, counting the
 * prior as the first half. */
#define PRED_STRIDE 2
#define PRED_AHEAD 10
#define PRED_FORGET 0.998
#define PRED_P0 100.0
#define PRED_LEARN_FRAMES 60
#define PRED_FREEZE_Z 3.0
#define PRED_PRIOR_REL 0.02
#define AGREE_Z 4.0 /* the residual's z for a start by agreement (flex_frame) */
/* A frame's residual counts into its rest level at most this many times
 * that level's rms (a winsorised mean square): the weak flexes, weight
 * shifts and sway steps the detector missed no longer inflate it. */
#define RES_CLIP_Z (2.0 * PRED_FREEZE_Z)
/* A start on the pressure alone: the residual over PRESS_Z times its rest
 * rms and the rise from the lookback's least pressure over PRESS_RISE
 * times the rise fraction (flex_frame). */
#define PRESS_Z 6.0
#define PRESS_RISE 8.0

const ball_settings_t ball_default = {
    .load_on_pa = 1000.0f,
    .load_off_pa = 600.0f,
    .load_off_share = 0.4,
    .load_tau_s = 2.0,
    .settle_s = 1.5f,
    .rate_low_dps = 3.0f,
    .rate_high_dps = 6.0f,
    .rate_floor_k = 1.6f,
    .quiet_s = 1.0f,
    .roll_angle_deg = 45.0f,
    .rock_crossings = 3,
    .window_s = 0.128f,
    .hop_s = 0.032f,
    .band_lo_hz = 5.0f,
    .band_hi_hz = 50.0f,
    .detect_lo_hz = 12.0f,
    .power_ratio = 4.0f,
    .breadth_ratio = 2.0,
    .rise_fraction = 0.015f,
    .ramp_z = 5.0,
    .end_fraction = 0.5f,
    .relax_z = 3.0,
    .min_flex_s = 0.25f,
    .pressure_lp_hz = 8.0,
    .rate_lp_hz = 8.0,
    .unloaded_tau_s = 5.0,
    .rest_tau_s = 1.0,
    .gyro_bias_tau_s = 10.0,
    .sway_tau_s = 2.0,
    .sway_max_dps = 20.0,
    .baseline_tau_s = 1.0,
    .baseline_ready_s = 0.25,
    .slope_tau_s = 4.0,
    .hold_confirm_s = 0.6,
    .hold_confirm_share = 0.6,
    .hold_confirm_max_s = 3.0,
    .lookback_s = 0.6,
    .steep_s = 0.4,
    .vib_gone_s = 0.8,
    .restart_s = 0.25,
    .louder_after_s = 1.0,
    .louder_ratio = 12.0,
};

enum { ST_UNLOADED, ST_PENDING, ST_ROLL, ST_HOLD };
enum { EP_NONE, EP_ROLL, EP_ROCK };

/* ---- helpers ---- */

static double weight(double tau_s, double fs)
{
    return 1.0 - exp(-1.0 / (tau_s * fs));
}

/* The weight of frame n (0 = first) of an estimate that is a growing mean
 * (1 / (n + 1)) until that falls to the EMA's weight w: the mean of what
 * there is, then the EMA. Set from a few frames at a fixed 0.3 instead, the
 * early baselines scattered over a few effective frames, and a hold's first
 * seconds had a flex start on noise alone. */
static double growing(int n, double w)
{
    double g = 1.0 / (n + 1.0);
    return g > w ? g : w;
}

static void climb_restart(ball_t *b)
{
    b->climb_min = b->climb_peak = b->rate;
    b->t_climb = b->t_last;
}

static void begin(event_t *e, const char *type, event_phase_t phase, double t)
{
    memset(e, 0, sizeof *e);
    e->type = type;
    e->phase = phase;
    e->t_dev = t;
}

__attribute__((cold))
static void open_interval(ball_t *b, ball_interval_t *iv, const char *type, double t,
                          uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    event_t e;
    begin(&e, type, EVENT_START, t);
    e.id = (*next_id)++;
    event_add_field(&e, "t_decided_dev", b->t_last);
    iv->open = 1;
    iv->id = e.id;
    iv->t_start = t;
    if (sink)
        sink(&e, ctx);
}

/* Ends never precede their start. */
static void end_event(ball_interval_t *iv, event_t *e, const char *type, double t)
{
    begin(e, type, EVENT_END, t < iv->t_start ? iv->t_start : t);
    e->t_start_dev = iv->t_start;
    e->id = iv->id;
    iv->open = 0;
}

static void emit(event_t *e, event_sink_fn sink, void *ctx)
{
    if (sink)
        sink(e, ctx);
}

/* Puts (t, v) into a ring of len entries at *pos, *n of them filled. */
static void ring_put(float *val, double *val_t, unsigned len, unsigned *pos, unsigned *n, double t,
                     double v)
{
    val[*pos] = (float)v;
    val_t[*pos] = t;
    *pos = (*pos + 1) % len;
    if (*n < len)
        (*n)++;
}

static void hist_push(ball_t *b, double t, double v)
{
    if (++b->hist_count < b->hist_dec)
        return;
    b->hist_count = 0;
    ring_put(b->hist, b->hist_t, BALL_HIST_LEN, &b->hist_pos, &b->hist_n, t, v);
    if (++b->coarse_count < COARSE_DEC)
        return;
    b->coarse_count = 0;
    ring_put(b->coarse, b->coarse_t, BALL_COARSE_LEN, &b->coarse_pos, &b->coarse_n, t, v);
}

/* Entry i back from the newest (0 = newest). */
static unsigned hist_index(const ball_t *b, unsigned i)
{
    return (b->hist_pos + BALL_HIST_LEN - 1 - i) % BALL_HIST_LEN;
}

/* Last time, looking back from now over at most `span` seconds, at which the
 * smoothed pressure was at or below `level`; `fallback` if never. */
static double hist_last_below(const ball_t *b, double level, double span, double fallback)
{
    for (unsigned i = 0; i < b->hist_n; i++) {
        unsigned k = hist_index(b, i);
        if (b->t_last - b->hist_t[k] > span)
            break;
        if (b->hist[k] <= level)
            return b->hist_t[k];
    }
    return fallback;
}

/* The smoothed pressure at (or just before) time t, within the history. */
static double hist_at(const ball_t *b, double t)
{
    for (unsigned i = 0; i < b->hist_n; i++) {
        unsigned k = hist_index(b, i);
        if (b->hist_t[k] <= t)
            return b->hist[k];
    }
    return b->hist_n ? b->hist[hist_index(b, b->hist_n - 1)] : b->p_lp_value;
}

static double hist_min(const ball_t *b, double span)
{
    double m = INFINITY;
    for (unsigned i = 0; i < b->hist_n; i++) {
        unsigned k = hist_index(b, i);
        if (b->t_last - b->hist_t[k] > span)
            break;
        if (b->hist[k] < m)
            m = b->hist[k];
    }
    return m;
}

/* Slope of the smoothed pressure, pascal per second, over `span` entries
 * ending at entry i back from the newest. */
static double hist_slope_over(const ball_t *b, unsigned span, unsigned i)
{
    unsigned k0 = hist_index(b, i), k1 = hist_index(b, i + span);
    double dt = b->hist_t[k0] - b->hist_t[k1];
    return dt > 0 ? (b->hist[k0] - b->hist[k1]) / dt : 0.0;
}

/* ... over SLOPE_SPAN entries (20 ms). */
static double hist_slope(const ball_t *b, unsigned i)
{
    return hist_slope_over(b, SLOPE_SPAN, i);
}

/* The predictor's trend (pred_frame) at the frame nearest t, from the
 * frames before it: the newest when t is not within the frames kept. A
 * flex decided late, on its plateau, had the trend read now, when the
 * predictor's frames 0.32 s back were already on the ramp: the trend took
 * the ramp's slope, the foot's level rose with it and the walk back stopped
 * partway up (the stress world's noisiest holds). */
static double pred_slope_at(const ball_t *b, double t)
{
    double frame_s = b->sp.hop * b->dt;
    double back = (b->fr_t - t) / frame_s + 0.5;
    if (!(back >= 0.0) || back >= (double)b->fr_n)
        return b->pred_slope;
    unsigned i = (unsigned)back;
    return b->fr_slope[(b->fr_pos + BALL_FR_LEN - 1 - i) % BALL_FR_LEN];
}

/* Walking back from entry i_max (at most to `last`), the time at which the
 * slope fell below `level`: the middle of the last span still at or above
 * it, moved towards the first one under it in proportion (both middles, as
 * the walk goes, are `span`-entry spans one entry apart). */
static double slope_crossing(const ball_t *b, unsigned span, unsigned i_max, unsigned last,
                             double level)
{
    unsigned i = i_max;
    while (i < last && hist_slope_over(b, span, i) >= level)
        i++;
    unsigned k0 = hist_index(b, i), k1 = hist_index(b, i + span);
    double t_below = 0.5 * (b->hist_t[k0] + b->hist_t[k1]);
    if (i == i_max)
        return t_below;
    unsigned a0 = hist_index(b, i - 1), a1 = hist_index(b, i - 1 + span);
    double t_above = 0.5 * (b->hist_t[a0] + b->hist_t[a1]);
    double s_below = hist_slope_over(b, span, i), s_above = hist_slope_over(b, span, i - 1);
    if (s_above <= s_below)
        return t_below;
    return t_below + (t_above - t_below) * (level - s_below) / (s_above - s_below);
}

/* The time a rise that is under way began (see flex_frame). A flex
 * decided early in its ramp (a loud MMG at once) has not reached its
 * steepest yet, and a breath or sway rising before it, within the whole
 * lookback, was steeper and drew the onset 0.3-0.8 s back: while the
 * newest slope shows the ramp still under way, only the last steep_s is
 * searched. */
static double onset_on(const ball_t *b, unsigned span, double *steepest)
{
    if (b->hist_n <= span + 1)
        return b->t_last;
    unsigned last = b->hist_n - span - 1, i_max = 0;
    double s_max = 0.0;
    /* Still on the ramp (the newest slope over a quarter of the steepest
     * of the last steep_s): the ramp is within that; otherwise (decided
     * late, on the plateau) the whole lookback is searched. */
    /* The slopes are read newest first; the wider search goes on from
     * where the first stopped. */
    double window = b->set.steep_s;
    unsigned i = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (; i <= last; i++) {
            if (b->t_last - b->hist_t[hist_index(b, i + span)] > window)
                break;
            double sl = hist_slope_over(b, span, i);
            if (sl > s_max)
                s_max = sl, i_max = i;
        }
        if (hist_slope_over(b, span, 0) > RAMP_FOOT * s_max)
            break;
        window = b->set.lookback_s;
    }
    /* The load's trend before the flex (breathing, sway): what the hold's
     * predictor said at the steepest slope (from the frames before it; the
     * mean slope over the lookback window before the one searched while it
     * has not learnt). The ramp's foot is where the slope comes down to
     * that trend plus a quarter of the way to the steepest, so a rising
     * breath does not carry the onset back. */
    double t_now = b->t_last, lb = b->set.lookback_s;
    unsigned m0 = hist_index(b, i_max), m1 = hist_index(b, i_max + span);
    double t_steep = 0.5 * (b->hist_t[m0] + b->hist_t[m1]);
    double trend = b->pred_frames >= PRED_LEARN_FRAMES
                       ? pred_slope_at(b, t_steep)
                       : (hist_at(b, t_now - lb) - hist_at(b, t_now - 2.0 * lb)) / lb;
    double base = trend > 0.0 && trend < s_max ? trend : 0.0;
    double foot = base + RAMP_FOOT * (s_max - base);
    double half = base + RAMP_HALF * (s_max - base);
    double t_half = slope_crossing(b, span, i_max, last, half);
    double t_foot = slope_crossing(b, span, i_max, last, foot);
    /* The slope of a smooth onset grows from the trend's: the foot where
     * it reaches a quarter of the way lies after the onset by as much as
     * the slope took to get there. The line through the quarter and half
     * crossings, extended back to the trend, finds where the slope left it
     * (a raised cosine's or a linear onset's start within a few
     * milliseconds). It is taken only when the slope climbed from a
     * quarter to half no slower than from half to the steepest (sway under
     * the foot stretches the first part: that foot is not an onset's), and
     * it is at most what a slope rising linearly all the way to the
     * steepest would give. */
    double back = 0.0;
    if (t_half > t_foot && t_half - t_foot <= t_steep - t_half)
        back = (RAMP_FOOT / (RAMP_HALF - RAMP_FOOT)) * (t_half - t_foot);
    double most = (RAMP_FOOT / (1.0 - RAMP_FOOT)) * (t_steep - t_foot);
    if (back > most)
        back = most > 0.0 ? most : 0.0;
    if (steepest)
        *steepest = s_max;
    return t_foot - back - b->smooth_delay_s;
}

/* The onset, on 20 ms slopes; when the sensor's noise is a plain share of
 * the flex's steepest slope, on 40 ms slopes, or on 80 ms ones where they
 * date it earlier. A 20 ms slope's noise under a noisy sensor (20-80 Pa)
 * dipped under the foot's level on the ramp and stopped the walk back
 * there, dating a slow or weak flex 0.2-0.5 s late; under the noisiest
 * (100-200 Pa) a 40 ms slope's did too. A clean hold keeps the 20 ms
 * slope, which dates a fast (50 ms) ramp better. A wider onset is taken at
 * most steep_s before the 20 ms one: further back, a small flex's foot had
 * walked into the breath before it. */
__attribute__((cold))
static double onset_search(const ball_t *b)
{
    double s_max = 0.0;
    double t20 = onset_on(b, SLOPE_SPAN, &s_max), t0 = t20;
    if (sqrt(b->jitter_ms) > ONSET_JITTER_SHARE * s_max) {
        for (unsigned span = 2 * SLOPE_SPAN; span <= ONSET_WIDEST_SPAN; span *= 2) {
            double t = onset_on(b, span, NULL);
            if (t20 - t <= b->set.steep_s && (span == 2 * SLOPE_SPAN || t < t0))
                t0 = t;
        }
    }
    return t0;
}

/* The end of the relax ramp of a flex whose rise was last near its peak at
 * t_from: the steepest fall of the smoothed pressure since then, walked
 * forward to where the fall slows under a quarter of that, less the
 * smoothing's delay; `fallback` when the history holds no fall. The relax
 * ramp (0.15-0.4 s) is faster than breathing and sway, so the steepest fall
 * is on it, and its foot is where the load is back at rest; extrapolating
 * from the 80 % and 50 % crossings instead dated ends late when sway had
 * made the plateau sag (t80 then lies long before the relax). */
__attribute__((cold))
static double relax_search(const ball_t *b, double t_from, double fallback)
{
    if (b->hist_n <= SLOPE_SPAN + 1)
        return fallback;
    unsigned last = b->hist_n - SLOPE_SPAN - 1, i_min = 0;
    double s_min = 0.0;
    for (unsigned i = 0; i <= last; i++) {
        if (b->hist_t[hist_index(b, i + SLOPE_SPAN)] < t_from)
            break;
        double sl = hist_slope(b, i);
        if (sl < s_min)
            s_min = sl, i_min = i;
    }
    if (s_min >= 0.0)
        return fallback;
    unsigned i = i_min;
    while (i > 0 && hist_slope(b, i - 1) <= RAMP_FOOT * s_min)
        i--;
    unsigned k0 = hist_index(b, i), k1 = hist_index(b, i + SLOPE_SPAN);
    return 0.5 * (b->hist_t[k0] + b->hist_t[k1]) - b->smooth_delay_s;
}

/* ---- closing intervals ---- */

__attribute__((cold))
static void close_flex(ball_t *b, double t, event_sink_fn sink, void *ctx)
{
    if (!b->flex.open)
        return;
    /* A relax seen before this end is where the flex ended. */
    if (b->relax_t > 0.0 && b->relax_t < t)
        t = b->relax_t;
    b->relax_t = 0.0;
    event_t e;
    end_event(&b->flex, &e, "flex", t);
    b->flex_t_end = e.t_dev;
    double len = e.t_dev - e.t_start_dev;
    event_add_field(&e, "pressure_rise_pa", b->r_peak);
    event_add_field(&e, "rise_fraction", b->level > 0 ? b->r_peak / b->level : 0.0);
    event_add_field(&e, "band_power", b->n_frames ? b->sum_p / b->n_frames : 0.0);
    event_add_field(&e, "band_ratio", b->n_frames ? b->sum_ratio / b->n_frames : 0.0);
    event_add_field(&e, "acc_band_power", b->n_frames ? b->sum_a / b->n_frames : 0.0);
    if (b->n_med)
        event_add_field(&e, "median_freq_hz", b->sum_med / b->n_med);
    emit(&e, sink, ctx);
    /* Analytics of the hold: per flex, the resting pressure before it (a
     * fraction of the hold's first level) and its rise (a fraction of the
     * first flex's rise), for least-squares trends over the flex index. */
    double x = b->flex_count;
    double rest = b->level0 > 0 ? (b->flex_rest - b->p0) / b->level0 : 0.0;
    if (b->flex_count == 0)
        b->first_rise = b->r_peak > 0 ? b->r_peak : 1.0;
    double rise = b->r_peak / b->first_rise;
    b->sx += x, b->sxx += x * x;
    b->sy_rest += rest, b->sxy_rest += x * rest;
    b->sy_rise += rise, b->sxy_rise += x * rise;
    b->flex_count++;
    b->flex_total_s += len;
}

__attribute__((cold))
static void close_rock(ball_t *b, double t, event_sink_fn sink, void *ctx)
{
    if (!b->rock.open)
        return;
    const ball_episode_t *ep = &b->ep;
    event_t e;
    end_event(&b->rock, &e, "rock", t);
    double freq = 0.0;
    if (ep->crossings >= 2 && ep->t_last_cross > ep->t_first_cross)
        freq = (ep->crossings - 1) / (2.0 * (ep->t_last_cross - ep->t_first_cross));
    event_add_field(&e, "freq_hz", freq);
    event_add_field(&e, "amplitude_deg", 0.5 * (ep->ang_max - ep->ang_min));
    event_add_field(&e, "cycles", 0.5 * ep->crossings);
    emit(&e, sink, ctx);
    b->rock_count++;
}

__attribute__((cold))
static void close_roll(ball_t *b, double t, event_sink_fn sink, void *ctx)
{
    if (!b->roll.open)
        return;
    event_t e;
    end_event(&b->roll, &e, "roll", t);
    event_add_field(&e, "mean_rate_dps", b->rate_n ? b->rate_sum / (double)b->rate_n : 0.0);
    emit(&e, sink, ctx);
}

static double slope(double n, double sx, double sxx, double sy, double sxy)
{
    double d = n * sxx - sx * sx;
    return d > 0 ? (n * sxy - sx * sy) / d : 0.0;
}

__attribute__((cold))
static void close_hold(ball_t *b, double t, event_sink_fn sink, void *ctx)
{
    if (!b->hold.open)
        return;
    close_flex(b, t, sink, ctx);
    close_rock(b, t, sink, ctx);
    event_t e;
    end_event(&b->hold, &e, "hold", t);
    event_add_field(&e, "flex_count", b->flex_count);
    event_add_field(&e, "mean_flex_s", b->flex_count ? b->flex_total_s / b->flex_count : 0.0);
    /* The hold may end in the past (unloading is recognised late). */
    double late = b->t_last - e.t_dev;
    event_add_field(&e, "time_under_load_s", b->under_load_s - (late > 0 ? late : 0.0));
    event_add_field(&e, "load_pa", b->level0);
    event_add_field(&e, "rock_count", b->rock_count);
    event_add_field(&e, "marks", b->marks);
    if (b->flex_count >= 2) {
        double n = b->flex_count;
        event_add_field(&e, "release_per_flex", -slope(n, b->sx, b->sxx, b->sy_rest, b->sxy_rest));
        event_add_field(&e, "rise_trend", slope(n, b->sx, b->sxx, b->sy_rise, b->sxy_rise));
    }
    emit(&e, sink, ctx);
}

/* ---- the hold's slow pressure predictor ---- */

/* The frame i back from the newest (0 = newest). */
static double fr_at(const ball_t *b, unsigned i)
{
    return b->fr[(b->fr_pos + BALL_FR_LEN - 1 - i) % BALL_FR_LEN];
}

/* A new hold. Once a hold of the session has learnt the model, the next
 * starts from it: the frames are over each hold's first load, so the
 * person's breathing and sway carry over, and the residual's rest level,
 * kept as a share of the load squared, is rescaled to the new load. A new
 * hold only waits for its frames to fill (about 0.7 s) instead of 2.6 s;
 * flexes in a hold's first seconds, under its settling step, were seen by
 * neither the start by agreement nor the start on the pressure. The
 * session's first hold starts flat, with the prior rest level, and waits
 * as long: it had no rest level for 2.6 s and learnt from every frame,
 * its first flex's ramp included, which then never stood out. */
static void pred_reset(ball_t *b)
{
    b->fr_n = 0;
    b->res_z = 0.0;
    b->pred_slope = 0.0;
    if (b->pred_frames >= PRED_LEARN_FRAMES) {
        b->res_ms = b->res_rel * b->level0 * b->level0;
        b->pred_frames = PRED_LEARN_FRAMES;
        return;
    }
    memset(b->ar, 0, sizeof b->ar);
    memset(b->ar_p, 0, sizeof b->ar_p);
    b->ar[0] = 1.0; /* flat until learnt */
    for (int i = 0; i <= BALL_AR_ORDER; i++)
        b->ar_p[i][i] = PRED_P0;
    b->res_ms = PRED_PRIOR_REL * PRED_PRIOR_REL * b->level0 * b->level0;
    b->pred_frames = 0;
}

/* The newest frame predicted from the frames up to PRED_AHEAD back. */
static double pred_ahead(const ball_t *b)
{
    unsigned steps = (PRED_AHEAD + PRED_STRIDE - 1) / PRED_STRIDE;
    double x[BALL_AR_ORDER];
    for (unsigned j = 0; j < BALL_AR_ORDER; j++)
        x[j] = fr_at(b, (steps + j) * PRED_STRIDE);
    double xn = x[0];
    for (unsigned k = 0; k < steps; k++) {
        xn = b->ar[BALL_AR_ORDER];
        for (int j = 0; j < BALL_AR_ORDER; j++)
            xn += b->ar[j] * x[j];
        for (int j = BALL_AR_ORDER - 1; j > 0; j--)
            x[j] = x[j - 1];
        x[0] = xn;
    }
    return xn;
}

/* One recursive least squares step: the newest frame from the ones before. */
static void pred_learn(ball_t *b)
{
    enum { N = BALL_AR_ORDER + 1 };
    double phi[N], pphi[N];
    for (unsigned j = 0; j < BALL_AR_ORDER; j++)
        phi[j] = fr_at(b, PRED_STRIDE * (1u + j));
    phi[BALL_AR_ORDER] = 1.0;
    double den = PRED_FORGET, err = fr_at(b, 0);
    for (int i = 0; i < N; i++) {
        pphi[i] = 0.0;
        for (int j = 0; j < N; j++)
            pphi[i] += b->ar_p[i][j] * phi[j];
        den += phi[i] * pphi[i];
        err -= b->ar[i] * phi[i];
    }
    for (int i = 0; i < N; i++)
        b->ar[i] += pphi[i] / den * err;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            b->ar_p[i][j] = (b->ar_p[i][j] - pphi[i] * pphi[j] / den) / PRED_FORGET;
}

/* One spectrum frame of the hold: the smoothed pressure joins the frames
 * (restarted after skipped ones, a motion episode), the slope the model
 * predicts from PRED_AHEAD frames back to now is what breathing and sway
 * would have done, and the model and its residual's rest level learn from
 * frames outside flexes that are not a rise (the residual's rest level
 * slowly even then, BASE_LOUD_SLOWDOWN, so a lasting change is learnt). */
static void pred_frame(ball_t *b, int resumed)
{
    if (resumed)
        b->fr_n = 0;
    b->fr_t = b->t_last;
    b->fr[b->fr_pos] = b->level0 > 0.0 ? (b->p_lp_value - b->p0) / b->level0 : 0.0;
    b->fr_slope[b->fr_pos] = b->pred_slope;
    b->fr_pos = (b->fr_pos + 1) % BALL_FR_LEN;
    if (b->fr_n < BALL_FR_LEN)
        b->fr_n++;
    if (b->fr_n < PRED_AHEAD + (BALL_AR_ORDER + 1) * PRED_STRIDE + 1)
        return;
    double xh = pred_ahead(b);
    double res = (fr_at(b, 0) - xh) * b->level0;
    b->pred_slope = (xh - fr_at(b, PRED_AHEAD)) * b->level0 / (PRED_AHEAD * b->sp.hop * b->dt);
    b->fr_slope[(b->fr_pos + BALL_FR_LEN - 1) % BALL_FR_LEN] = b->pred_slope;
    b->res_z = b->res_ms > 0.0 ? res / sqrt(b->res_ms) : 0.0;
    if (b->flex.open)
        return;
    int quiet = fabs(res) <= PRED_FREEZE_Z * sqrt(b->res_ms);
    if (quiet)
        pred_learn(b);
    /* The rest level: the prior (pred_reset) while the model settles, then
     * a running mean that counts the prior as half the learning frames,
     * then a mean forgetting like the hold's other baselines. */
    int half = PRED_LEARN_FRAMES / 2;
    double w = b->pred_frames < half               ? 0.0
               : b->pred_frames < PRED_LEARN_FRAMES ? 1.0 / (b->pred_frames + 1)
                                                    : b->slope_w;
    double e2 = res * res, clip = RES_CLIP_Z * RES_CLIP_Z * b->res_ms;
    if (!quiet) {
        w *= BASE_LOUD_SLOWDOWN;
        if (e2 > clip)
            e2 = clip;
    }
    b->res_ms += w * (e2 - b->res_ms);
    if (b->level0 > 0.0)
        b->res_rel = b->res_ms / (b->level0 * b->level0);
    b->pred_frames++;
}

/* ---- state changes ---- */

static void reset_episode(ball_t *b)
{
    memset(&b->ep, 0, sizeof b->ep);
}

__attribute__((cold))
static void start_hold(ball_t *b, double t, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    b->state = ST_HOLD;
    b->after_roll = 0;
    b->hb = b->p_lp_value;
    b->level = b->level0 = b->hb - b->p0;
    b->under_load_s = b->t_last - t; /* the hold may be dated back */
    b->flex_count = b->rock_count = b->marks = 0;
    b->flex_total_s = 0.0;
    b->sx = b->sxx = b->sy_rest = b->sxy_rest = b->sy_rise = b->sxy_rise = 0.0;
    b->base_frames = 0;
    b->prev_ratio = 0.0;
    b->flex_t_end = t;
    b->t_half_down = t;
    b->cand = 0;
    b->falling = 0;
    pred_reset(b);
    open_interval(b, &b->hold, "hold", t, next_id, sink, ctx);
}

__attribute__((cold))
static void start_roll(ball_t *b, double t, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    b->state = ST_ROLL;
    b->rate_sum = 0.0;
    b->rate_n = 0;
    open_interval(b, &b->roll, "roll", t, next_id, sink, ctx);
}

__attribute__((cold))
static void end_all(ball_t *b, double t, event_sink_fn sink, void *ctx)
{
    close_hold(b, t, sink, ctx);
    close_roll(b, t, sink, ctx);
    reset_episode(b);
}

/* ---- public ---- */

static int settings_valid(const ball_settings_t *s, float rate_hz)
{
    return s && rate_hz >= 100.0f && rate_hz <= 10000.0f && s->load_off_pa < s->load_on_pa &&
           s->load_off_share >= 0.0 && s->load_off_share < 1.0 && s->load_tau_s > 0.0 &&
           s->band_lo_hz > 0.0f && s->band_hi_hz > s->band_lo_hz &&
           s->detect_lo_hz >= s->band_lo_hz && s->detect_lo_hz < s->band_hi_hz &&
           s->band_hi_hz < 0.5f * rate_hz && s->window_s > 0.0f && s->hop_s > 0.0f &&
           s->hop_s <= s->window_s && s->pressure_lp_hz > 0.0 &&
           s->pressure_lp_hz < 0.5 * rate_hz && s->rate_lp_hz > 0.0 &&
           s->rate_lp_hz < 0.5 * rate_hz && s->unloaded_tau_s > 0.0 && s->rest_tau_s > 0.0 &&
           s->gyro_bias_tau_s > 0.0 && s->sway_tau_s > 0.0 && s->baseline_tau_s > 0.0 &&
           s->slope_tau_s > 0.0 && s->ramp_z > 0.0 && s->relax_z >= 0.0 &&
           s->steep_s > 0.0 && s->steep_s <= s->lookback_s &&
           s->breadth_ratio >= 0.0 && s->louder_after_s >= 0.0 && s->louder_ratio > 1.0;
}

/* The spectra's frames: the window rounded up to a power of two, and the
 * hop in samples. */
static stft_settings_t spectra_settings(const ball_settings_t *s, float rate_hz)
{
    int n_fft = 16;
    while (n_fft < 65536 && n_fft < s->window_s * rate_hz * 0.999)
        n_fft *= 2;
    int hop = (int)lround(s->hop_s * rate_hz);
    if (hop < 1)
        hop = 1;
    if (hop > n_fft)
        hop = n_fft;
    return (stft_settings_t){
        .fs_hz = rate_hz, .n_fft = n_fft, .hop = hop, .window = STFT_WINDOW_HANN};
}

/* Caller memory: the per-bin baselines (n_bins floats, rounded up to keep
 * the alignment), then the two spectra. */
static size_t bins_bytes(const stft_settings_t *ss)
{
    size_t b = (size_t)(ss->n_fft / 2 + 1) * sizeof(float);
    return (b + sizeof(double) - 1) / sizeof(double) * sizeof(double);
}

size_t ball_mem_size(const ball_settings_t *s, float rate_hz)
{
    if (!settings_valid(s, rate_hz))
        return 0;
    stft_settings_t ss = spectra_settings(s, rate_hz);
    return bins_bytes(&ss) + 2 * stft_mem_size(&ss);
}

int ball_init(ball_t *b, const ball_settings_t *s, float rate_hz, void *mem, size_t len)
{
    if (!settings_valid(s, rate_hz))
        return -EINVAL;
    stft_settings_t ss = spectra_settings(s, rate_hz);
    size_t one = stft_mem_size(&ss), bins = bins_bytes(&ss);
    if (!mem || len < bins + 2 * one)
        return -ENOMEM;
    memset(b, 0, sizeof *b);
    b->set = *s;
    b->fs = rate_hz;
    b->dt = 1.0 / rate_hz;
    spectrum_band_settings_t bs = {.f_lo_hz = s->band_lo_hz, .f_hi_hz = s->band_hi_hz};
    spectrum_band_settings_t ds = {.f_lo_hz = s->detect_lo_hz, .f_hi_hz = s->band_hi_hz};
    b->base_bins = mem;
    unsigned char *spectra = (unsigned char *)mem + bins;
    if (stft_init(&b->sp, &ss, spectra, one) != 0 ||
        stft_init(&b->sa, &ss, spectra + one, one) != 0 ||
        spectrum_band_init(&b->band, &bs, b->sp.n_bins, b->sp.bin_hz) != 0 ||
        spectrum_band_init(&b->detect, &ds, b->sp.n_bins, b->sp.bin_hz) != 0)
        return -EINVAL;
    /* The smoothed pressure keeps the load ramps and drops the MMG; the
     * band signals drop the load (a kilopascal ramp would leak into every
     * bin of a 128 ms frame) and keep the MMG. */
    biquad_cascade_init(&b->p_lp);
    biquad_cascade_butterworth(&b->p_lp, BIQUAD_LOWPASS, rate_hz, s->pressure_lp_hz, SMOOTH_ORDER);
    biquad_cascade_init(&b->p_hp);
    biquad_cascade_butterworth(&b->p_hp, BIQUAD_HIGHPASS, rate_hz, s->band_lo_hz, BAND_HP_ORDER);
    biquad_cascade_init(&b->a_hp);
    biquad_cascade_butterworth(&b->a_hp, BIQUAD_HIGHPASS, rate_hz, s->band_lo_hz, BAND_HP_ORDER);
    biquad_cascade_init(&b->rate_lp);
    biquad_cascade_butterworth(&b->rate_lp, BIQUAD_LOWPASS, rate_hz, s->rate_lp_hz, SMOOTH_ORDER);
    b->smooth_delay_s = biquad_cascade_delay_dc(&b->p_lp) * b->dt;
    b->bias_a = weight(s->gyro_bias_tau_s, rate_hz);
    b->p0_a = weight(s->unloaded_tau_s, rate_hz);
    b->load_a = weight(s->load_tau_s, rate_hz);
    b->hb_a = weight(s->rest_tau_s, rate_hz);
    b->rate_ms_a = weight(s->sway_tau_s, rate_hz);
    b->base_a_w = weight(s->baseline_tau_s, rate_hz / ss.hop);
    b->slope_w = weight(s->slope_tau_s, rate_hz / ss.hop);
    b->base_ready_samples = (int)(s->baseline_ready_s * b->fs);
    b->bin_floor = POWER_FLOOR_PA2 / (b->detect.k_last - b->detect.k_first + 1);
    b->hist_dec = (unsigned)lround(rate_hz / HIST_RATE);
    if (b->hist_dec < 1)
        b->hist_dec = 1;
    b->p0 = NAN;
    return 0;
}

/* Rotation levels: physical floors, raised in a hold whose still rotation
 * (postural sway) is larger. */
static double rate_low(const ball_t *b)
{
    double k = b->set.rate_floor_k * sqrt(b->rate_ms);
    return k > b->set.rate_low_dps ? k : b->set.rate_low_dps;
}

static double rate_high(const ball_t *b)
{
    double k = HIGH_OVER_LOW * b->set.rate_floor_k * sqrt(b->rate_ms);
    return k > b->set.rate_high_dps ? k : b->set.rate_high_dps;
}

/* The start of the rotation rate's last climb: its latest least value,
 * restarted when the rate dips CLIMB_DIP_SHARE of the low level under the
 * highest since. */
static void track_climb(ball_t *b, double lo)
{
    if (b->rate <= b->climb_min || b->rate < b->climb_peak - CLIMB_DIP_SHARE * lo)
        climb_restart(b);
    else if (b->rate > b->climb_peak)
        b->climb_peak = b->rate;
}

/* Motion episodes: onset when the rate passes the high level (dated back
 * to when it left the low level), end after quiet_s below the low level. */
static void track_rotation(ball_t *b, const double w[3], uint32_t *next_id, event_sink_fn sink,
                           void *ctx)
{
    ball_episode_t *ep = &b->ep;
    double t = b->t_last, lo = rate_low(b), hi = rate_high(b);
    if (!ep->active) {
        if (b->rate < lo)
            b->t_below = t;
        track_climb(b, lo);
        if (b->rate > hi && (b->state == ST_PENDING || b->state == ST_HOLD)) {
            reset_episode(b);
            ep->active = 1;
            /* Dated back to where the rate left the low level or, when it
             * never came back under it since its last climb began
             * (postural sway or a tilt while loading kept it up), to that
             * climb's start. */
            ep->t_onset = b->t_below;
            if (b->climb_min > lo && b->t_climb > ep->t_onset)
                ep->t_onset = b->t_climb;
            ep->t_last_active = t;
            double n = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
            for (int i = 0; i < 3; i++)
                ep->axis[i] = (float)(n > 0 ? w[i] / n : 0.0);
            ep->sign = 1;
        }
        if (!ep->active)
            return;
    }
    for (int i = 0; i < 3; i++)
        ep->theta[i] += w[i] * b->dt;
    double along = w[0] * ep->axis[0] + w[1] * ep->axis[1] + w[2] * ep->axis[2];
    ep->ang += along * b->dt;
    if (ep->ang > ep->ang_max)
        ep->ang_max = ep->ang;
    if (ep->ang < ep->ang_min)
        ep->ang_min = ep->ang;
    if ((ep->sign > 0 && along < -REVERSAL_SHARE * lo) ||
        (ep->sign < 0 && along > REVERSAL_SHARE * lo)) {
        ep->sign = -ep->sign;
        if (ep->crossings++ == 0)
            ep->t_first_cross = t;
        ep->t_last_cross = t;
    }
    if (b->rate >= lo)
        ep->t_last_active = t;
    double turned = sqrt(ep->theta[0] * ep->theta[0] + ep->theta[1] * ep->theta[1] +
                         ep->theta[2] * ep->theta[2]);

    if (ep->kind == EP_NONE && b->state != ST_ROLL) {
        if (turned > b->set.roll_angle_deg) {
            ep->kind = EP_ROLL;
            if (b->state == ST_HOLD)
                close_hold(b, ep->t_onset, sink, ctx);
            start_roll(b, ep->t_onset, next_id, sink, ctx);
        } else if (b->state == ST_HOLD && ep->crossings >= b->set.rock_crossings) {
            ep->kind = EP_ROCK;
            close_flex(b, ep->t_onset, sink, ctx);
            open_interval(b, &b->rock, "rock", ep->t_onset, next_id, sink, ctx);
        }
    }
    if (b->state == ST_ROLL) {
        b->rate_sum += b->rate;
        b->rate_n++;
    }
    if (t - ep->t_last_active >= b->set.quiet_s) {
        double t_end = ep->t_last_active;
        if (ep->kind == EP_ROCK)
            close_rock(b, t_end, sink, ctx);
        if (b->state == ST_ROLL) {
            /* The roll ends here; whether a hold follows (dated from here)
             * is known once the load stays on (see ball_push): the user
             * may be getting off the ball. */
            close_roll(b, t_end, sink, ctx);
            b->state = ST_PENDING;
            b->after_roll = 1;
            b->roll_end_t = t_end;
            b->roll_end_rise = hist_at(b, t_end) - b->p0;
        }
        reset_episode(b);
        b->t_below = t;
        climb_restart(b);
        b->t_still = t_end;
    }
}

/* How far the smoothed pressure rose from its least over the lookback
 * window: a contraction's rise measured from the foot of its own ramp. */
static double rise_from_least(const ball_t *b)
{
    return b->p_lp_value - hist_min(b, b->set.lookback_s);
}

/* The onset of the rise under way: the foot of the rise. The steepest
 * 20 ms found by onset_search is on the flex's ramp; walking back from it
 * to where the slope falls below a quarter of that finds the ramp's foot,
 * while a slower breathing or sway slope before it stops the walk. Never
 * before the hold or the previous flex's end. */
__attribute__((cold))
static double flex_onset(const ball_t *b)
{
    double t0 = onset_search(b);
    /* A breath's or sway's fall hides a contraction's rise, and no start
     * path sees it until the load turns up, up to 1.5 s later, while its
     * MMG has been there all along: the onset the pressure gives is then
     * the turn's, and the vibration's start dates the flex. */
    if (b->loud_n >= LOUD_FRAMES) {
        double t_loud = b->loud_t - LOUD_BACK * b->set.window_s;
        if (t_loud < t0)
            t0 = t_loud;
    }
    if (t0 < b->hold.t_start)
        t0 = b->hold.t_start;
    if (t0 < b->flex_t_end)
        t0 = b->flex_t_end;
    return t0;
}

__attribute__((cold))
static void flex_open_at(ball_t *b, double t0, double pp, double pa, double ratio,
                         double ratio_full, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    double m = hist_min(b, b->set.lookback_s);
    double now = b->p_lp_value;
    b->cand = 0;
    b->falling = 0;
    b->flex_rest = m;
    b->r_peak = b->r_lvl = now - m;
    b->relax_t = 0.0;
    b->t80 = b->t50 = b->t_last;
    b->fall_min = 0.0;
    b->sum_p = pp, b->sum_a = pa, b->sum_ratio = ratio_full, b->sum_med = 0.0;
    b->n_frames = 1, b->n_med = 0;
    b->ratio_s = ratio;
    b->t_vib = b->t_vib_lag = b->t_last;
    b->quiet_checked = 0;
    open_interval(b, &b->flex, "flex", t0, next_id, sink, ctx);
}

__attribute__((cold))
static void flex_open(ball_t *b, double pp, double pa, double ratio, double ratio_full,
                      uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    flex_open_at(b, flex_onset(b), pp, pa, ratio, ratio_full, next_id, sink, ctx);
}

/* How broadly the detection band rose: the geometric mean over its bins of
 * each bin's power over that bin's baseline. A contraction's MMG is
 * broadband and raises every bin; a tremor's narrow peak (8-12 Hz, leaking
 * into the lowest bins) raises one or two, which a ratio of sums cannot
 * tell from a weak contraction. (The median of the same ratios, tried as
 * well, scattered more from frame to frame and separated less.) */
static double breadth(const ball_t *b, const float *power)
{
    double log_sum = 0.0;
    int n = 0;
    for (int k = b->detect.k_first; k <= b->detect.k_last; k++, n++) {
        double base = b->base_bins[k] > b->bin_floor ? b->base_bins[k] : b->bin_floor;
        double p = power[k] > b->bin_floor * LOG_FLOOR ? power[k] : b->bin_floor * LOG_FLOOR;
        log_sum += log(p / base);
    }
    return n ? exp(log_sum / n) : 0.0;
}

/* An open flex's muscle is still vibrating: the smoothed band ratio is up.
 * (Requiring its breadth too ended tremor-merged flexes sooner but split
 * weak ones: worse on the development seeds.) */
static int vibrating(const ball_t *b)
{
    return b->ratio_s > sqrt(b->set.power_ratio);
}

/* An open flex's vibration is still there at all: the smoothed band ratio
 * is over power_ratio^(1/4) (half the vibrating level, in log terms). A
 * weak flex's MMG under the noise keeps its smoothed ratio between that
 * and the vibrating level; ended as a weight shift once it had stayed under
 * the vibrating level for vib_gone_s, it was cut short and often split. */
static int vibration_present(const ball_t *b)
{
    return b->ratio_s > sqrt(sqrt(b->set.power_ratio));
}

/* The hold's band baselines have learnt enough frames to decide on. */
static int baseline_ready(const ball_t *b)
{
    return b->base_frames * b->sp.hop >= b->base_ready_samples;
}

/* The ball starts to turn: the rate jumped since the hold's last spectrum
 * frame. A roll stroke's push changes the load at once, and that step
 * leaks into the detection band's lowest bins as a broad, loud frame (and
 * is a ramp) while the rate is still under the low level; a contraction
 * does not turn the ball. */
static int turning_since_frame(const ball_t *b)
{
    return b->rate > TURN_GROWTH * b->rate_frame &&
           b->rate - b->rate_frame > TURN_SHARE * rate_low(b);
}

/* The slow ramp (ramp_rise): the 80 ms slope over ramp_z times its resting
 * rms. */
static int slow_ramp_now(const ball_t *b, double slow)
{
    return slow > b->set.ramp_z * sqrt(b->slow_ms);
}

/* A contraction's ramp under weaker vibration (called once per frame while
 * no flex is open): the smoothed pressure's slope over the last 20 ms
 * against the hold's resting slope rms, which breathing and sway set and
 * which is learnt from the frames that are not ramps. The MMG grows with
 * the force, so a slow rise's vibration is not yet loud when the ramp is
 * already plain; a weight shift's ramp has no vibration, breathing's and
 * sway's are slower. A slow ramp is read on a longer slope (SLOW_SPAN),
 * on the pressure alone: its MMG, still weak on the ramp, had been asked to
 * lean the band up over three frames, which delayed slow ramps by 15 ms in
 * the median and kept out two false flexes in 200 sessions. Returns the
 * rise to test (from the lookback's least pressure) or 0 when this is not
 * a ramp. */
static double ramp_rise(ball_t *b, double ratio, int ready)
{
    const ball_settings_t *s = &b->set;
    double sl = b->hist_n > SLOPE_SPAN ? hist_slope(b, 0) : 0.0;
    /* The 20 ms slope less the 40 ms one: breathing and sway are the same
     * in both, the sensor's noise is not. */
    double jit = b->hist_n > 2 * SLOPE_SPAN ? sl - hist_slope_over(b, 2 * SLOPE_SPAN, 0) : 0.0;
    if (b->base_frames == 0)
        b->slope_ms = sl * sl, b->jitter_ms = jit * jit;
    double rms = sqrt(b->slope_ms);
    int ramp = sl > s->ramp_z * rms;
    double w = growing(b->base_frames, b->slope_w);
    if (!ramp || b->base_frames < BASE_FAST_FRAMES) {
        b->slope_ms += w * (sl * sl - b->slope_ms);
        b->jitter_ms += w * (jit * jit - b->jitter_ms);
    }
    /* The slow ramp: the 80 ms slope against its own resting rms, which
     * breathing and sway set as they set the 20 ms one, the noise far
     * less. */
    double slow = b->hist_n > SLOW_SPAN ? hist_slope_over(b, SLOW_SPAN, 0) : 0.0;
    if (b->base_frames == 0)
        b->slow_ms = slow * slow;
    int slow_ramp = slow_ramp_now(b, slow);
    if (!slow_ramp || b->base_frames < BASE_FAST_FRAMES)
        b->slow_ms += w * (slow * slow - b->slow_ms);
    if (!ready || b->rate >= RAMP_STILL_SHARE * rate_low(b))
        return 0.0;
    if (ramp && ratio > sqrt(s->power_ratio) && b->breadth > RAMP_BREADTH)
        return rise_from_least(b);
    if (slow_ramp)
        return rise_from_least(b);
    return 0.0;
}

/* A band ratio louder_ratio times the open flex's own mean (any, before
 * its first frame). */
static int over_own_mean(const ball_t *b, double ratio_full)
{
    return b->n_frames == 0 || ratio_full > b->set.louder_ratio * b->sum_ratio / b->n_frames;
}

/* An open flex, open for louder_after_s at least, meets an unmistakable
 * (broad, over power_ratio^2) vibration louder_ratio times its own mean
 * band ratio. A contraction's MMG grows through its ramp, within the first
 * second; it does not jump tenfold on its plateau. */
static int louder(const ball_t *b, double ratio, double ratio_full)
{
    const ball_settings_t *s = &b->set;
    return b->n_frames > 0 && b->t_last - b->flex.t_start > s->louder_after_s &&
           ratio > s->power_ratio * s->power_ratio * STRONG_RISE && b->breadth > s->breadth_ratio &&
           over_own_mean(b, ratio_full);
}

/* A weak contraction seen by two weak evidences agreeing rather than by
 * either passing its own level: the pressure over what the breathing and
 * sway model predicted (residual over AGREE_Z times its resting rms) and the
 * detection band over sqrt(power_ratio) in this frame and the one before,
 * broadly risen, with the rise from the lookback's least pressure over the
 * rise fraction. Breathing is predicted, an MMG-less weight shift has no band,
 * a lone noisy frame does not last two. */
static int agree(const ball_t *b, double ratio, double prev)
{
    const ball_settings_t *s = &b->set;
    double half = sqrt(s->power_ratio);
    return b->res_z > AGREE_Z && ratio > half && prev > half && b->breadth > RAMP_BREADTH &&
           rise_from_least(b) > s->rise_fraction * b->level;
}

/* A contraction seen in the pressure alone: a rise far over what the
 * breathing and sway model predicted (residual over PRESS_Z times its
 * resting rms) and over PRESS_RISE rise fractions from the lookback's least
 * pressure, with the ball still (a roll stroke's push would look the
 * same). Under the noisiest sensors a person's MMG of 10-30 Pa never lifts
 * the band, and flexes rising 10-45 % of the load were missed. */
static int pressed(const ball_t *b)
{
    const ball_settings_t *s = &b->set;
    return b->res_z > PRESS_Z && b->rate < RAMP_STILL_SHARE * rate_low(b) &&
           rise_from_least(b) > PRESS_RISE * s->rise_fraction * b->level;
}

/* A pulse (cand_frame): the pressure over the predictor's expectation by
 * as much as the predictor will not learn from, rising over twice the rise
 * fraction; it lasts at most RETRO_MAX_S (the stress world's longest
 * plateau) and at least RETRO_MIN_S, comes back under RETRO_BACK of its
 * peak rise on a fall steeper than relax_z times the resting slope rms, and
 * lands no lower than RETRO_BELOW peak rises under its start (a load going
 * off the ball is not a relax). */
#define RETRO_Z PRED_FREEZE_Z
#define RETRO_RISE 2.0
#define RETRO_MAX_S 15.0
#define RETRO_MIN_S 0.5
#define RETRO_BACK 0.3
#define RETRO_BELOW 2.0
/* A weak contraction whose MMG is under the sensor's noise shows only as a
 * pressure pulse, and so does a weight shift; what tells them apart is
 * how the pulse ends. A pulse that the hold's predictor did not expect
 * (its residual, not breathing or sway) is kept as a candidate, unpublished;
 * once it has come back down on a fall as steep as a relaxing muscle's, it
 * is a flex, published then, its start and end together (`t_decided_dev`
 * is that moment). A weight shift stays, sway and breathing come back as
 * slowly as they set the resting slope, and the load leaving the ball falls
 * far under the pulse's start: none of those is published. Called once per
 * spectrum frame of a hold while no flex is open; any flex the vibration
 * starts replaces the candidate (flex_open_at). */
static void cand_frame(ball_t *b, int ready, int still, double pp, double pa, double ratio,
                       double ratio_full, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    const ball_settings_t *s = &b->set;
    if (!b->cand) {
        if (ready && still && b->res_z > RETRO_Z &&
            rise_from_least(b) > RETRO_RISE * s->rise_fraction * b->level) {
            b->cand = 1;
            b->cand_t0 = flex_onset(b);
            b->cand_rest = hist_min(b, s->lookback_s);
            b->cand_peak = b->p_lp_value - b->cand_rest;
            b->cand_t80 = b->t_last;
            b->cand_fall = 0.0;
            b->sum_p = b->sum_a = b->sum_ratio = 0.0; /* no flex is open: its sums are free */
            b->n_frames = 0;
        }
        return;
    }
    if (!still || b->t_last - b->cand_t0 > RETRO_MAX_S) {
        b->cand = 0;
        return;
    }
    b->sum_p += pp, b->sum_a += pa, b->sum_ratio += ratio_full;
    b->n_frames++;
    double r = b->p_lp_value - b->cand_rest;
    if (r > PEAK_NEAR * b->cand_peak) {
        if (r > b->cand_peak)
            b->cand_peak = r;
        b->cand_t80 = b->t_last;
        b->cand_fall = 0.0;
        return;
    }
    double sl = hist_slope_over(b, FALL_SPAN, 0);
    if (sl < b->cand_fall)
        b->cand_fall = sl;
    if (r > RETRO_BACK * b->cand_peak)
        return;
    double steep = s->relax_z * sqrt(b->slope_ms);
    if (r < -RETRO_BELOW * b->cand_peak || !(b->cand_fall < -steep)) {
        b->cand = 0;
        return;
    }
    if (sl < -steep)
        return; /* still relaxing: its foot is not in the history yet */
    double t_end = relax_search(b, b->cand_t80 - RELAX_BACK_S, b->t_last);
    b->cand = 0;
    if (t_end - b->cand_t0 < RETRO_MIN_S)
        return;
    double rest = b->cand_rest, peak = b->cand_peak;
    double sum_p = b->sum_p, sum_a = b->sum_a, sum_ratio = b->sum_ratio;
    int n = b->n_frames;
    flex_open_at(b, b->cand_t0, pp, pa, ratio, ratio_full, next_id, sink, ctx);
    b->flex_rest = rest;
    b->r_peak = peak;
    b->sum_p = sum_p, b->sum_a = sum_a, b->sum_ratio = sum_ratio;
    b->n_frames = n;
    close_flex(b, t_end, sink, ctx);
    b->hb = b->p_lp_value; /* the resting level after a flex is the new baseline */
}

/* A box (box_frame): a step up of the load and, seconds later, a relax
 * that no flex explains, paired once the relax is over. A weak contraction
 * whose MMG is under the sensor's noise and whose rise is slow or small
 * enough for the predictor to learn it as it comes (a residual of 2-3 x)
 * still ends on a relax that lands on the released load, a residual often
 * under -5 x, down to -16 x. The step is the change point of the coarse
 * history between the hold's first ready frame (not the load coming on)
 * or the last flex's end and the fall: the split into a lower level
 * before and a higher one after that explains most of its variance. It
 * must rise over BOX_SPREAD times the pressure's rms about the two levels
 * (breathing and sway under a weaker step move it anywhere), the relax
 * must land under the lower level plus BOX_BACK of the step, and no
 * further than BOX_LEAVE of the load under it (the load leaving the
 * ball). The flex is published then, start and end together, from the
 * foot of the step's steepest 100 ms to the relax's foot. */
#define BOX_FALL_Z (2.0 * PRED_FREEZE_Z) /* the relax's residual, below minus this */
#define BOX_SPREAD 2.5
#define BOX_BACK 0.5
#define BOX_LEAVE 0.2
#define BOX_SIDE 25      /* coarse entries (0.5 s) on each side of the change point, at least */
#define BOX_GUARD_S 0.15 /* the plateau ends this long before the fall is seen */
#define BOX_SLOPE 5      /* coarse entries over which the step's slope is taken (100 ms) */
#define BOX_FOOT 0.4     /* the step's foot: its slope under this share of its steepest */
#define BOX_BEFORE_S 1.0 /* the steepest slope is searched this long before the change */
#define BOX_AFTER_S 0.5  /* ... and this long after it */

/* Entry i back from the newest (0 = newest) of the coarse history. */
static unsigned coarse_index(const ball_t *b, unsigned i)
{
    return (b->coarse_pos + BALL_COARSE_LEN - 1 - i) % BALL_COARSE_LEN;
}

/* The coarse history's 100 ms slope ending at entry i back, pascal per second. */
static double coarse_slope(const ball_t *b, unsigned i)
{
    unsigned q0 = coarse_index(b, i), q1 = coarse_index(b, i + BOX_SLOPE);
    return (b->coarse[q0] - b->coarse[q1]) / (b->coarse_t[q0] - b->coarse_t[q1]);
}

typedef struct {
    unsigned i;    /* the first entry of the higher level, back from the newest */
    double rise;   /* the higher level less the lower, pascal */
    double before; /* the lower level, pascal */
    double spread; /* the rms about the two levels, pascal */
} box_step_t;

/* The best split of entries i_lo (oldest) .. i_hi (back from the newest)
 * into a lower level and a higher one after it, the one with the largest
 * between-levels sum of squares; 0 if there is none. */
__attribute__((cold))
static int box_step(const ball_t *b, unsigned i_hi, unsigned i_lo, box_step_t *st)
{
    unsigned n = i_lo - i_hi + 1;
    double sum = 0.0, sq = 0.0;
    for (unsigned i = i_hi; i <= i_lo; i++) {
        double v = b->coarse[coarse_index(b, i)];
        sum += v, sq += v * v;
    }
    double left = 0.0, left_sq = 0.0, best = 0.0;
    unsigned k = 0;
    for (unsigned i = i_lo; i > i_hi; i--) {
        double v = b->coarse[coarse_index(b, i)];
        left += v, left_sq += v * v, k++;
        if (k < BOX_SIDE || n - k < BOX_SIDE)
            continue;
        double ml = left / k, mr = (sum - left) / (n - k);
        double between = (mr - ml) * (mr - ml) * k * (double)(n - k) / n;
        if (mr > ml && between > best) {
            double within = (left_sq - k * ml * ml) + (sq - left_sq - (n - k) * mr * mr);
            best = between;
            st->i = i - 1;
            st->rise = mr - ml;
            st->before = ml;
            st->spread = within > 0.0 ? sqrt(within / n) : 0.0;
        }
    }
    return best > 0.0;
}

/* The step's onset: the foot of its steepest 100 ms near the change point,
 * walking back while the slope stays over BOX_FOOT of it. */
__attribute__((cold))
static double box_onset(const ball_t *b, const box_step_t *st, unsigned i_hi, unsigned i_lo)
{
    double t_change = b->coarse_t[coarse_index(b, st->i)], s_max = 0.0;
    unsigned j_max = st->i;
    for (unsigned j = i_hi; j + BOX_SLOPE <= i_lo; j++) {
        double t = b->coarse_t[coarse_index(b, j)];
        if (t < t_change - BOX_BEFORE_S)
            break;
        double sl = coarse_slope(b, j);
        if (t <= t_change + BOX_AFTER_S && sl > s_max)
            s_max = sl, j_max = j;
    }
    if (s_max <= 0.0)
        return t_change - b->smooth_delay_s;
    unsigned j = j_max;
    while (j + 1 + BOX_SLOPE <= i_lo && coarse_slope(b, j + 1) > BOX_FOOT * s_max)
        j++;
    return 0.5 * (b->coarse_t[coarse_index(b, j)] + b->coarse_t[coarse_index(b, j + BOX_SLOPE)]) -
           b->smooth_delay_s;
}

/* Called once per spectrum frame of a hold while no flex is open. */
static void box_frame(ball_t *b, int ready, int still, double pp, double pa, double ratio,
                      double ratio_full, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    const ball_settings_t *s = &b->set;
    if (!ready || !still) {
        b->falling = 0;
        return;
    }
    if (b->t_ready <= b->hold.t_start)
        b->t_ready = b->t_last; /* this hold's first ready frame with no flex open */
    double steep = s->relax_z * sqrt(b->slope_ms);
    double sl = hist_slope_over(b, FALL_SPAN, 0);
    if (!b->falling) {
        if (b->res_z < -BOX_FALL_Z && sl < -steep) {
            b->falling = 1;
            b->fall_t0 = b->t_last;
        }
        return;
    }
    if (sl < -steep)
        return; /* still relaxing: its foot is not in the history yet */
    b->falling = 0;
    double lo = b->fall_t0 - RETRO_MAX_S - BOX_BEFORE_S, hi = b->fall_t0 - BOX_GUARD_S;
    if (lo < b->t_ready)
        lo = b->t_ready; /* not the load coming on */
    if (lo < b->flex_t_end)
        lo = b->flex_t_end;
    unsigned i_hi = 0;
    while (i_hi < b->coarse_n && b->coarse_t[coarse_index(b, i_hi)] > hi)
        i_hi++;
    unsigned i_lo = i_hi;
    while (i_lo + 1 < b->coarse_n && b->coarse_t[coarse_index(b, i_lo + 1)] >= lo)
        i_lo++;
    box_step_t st;
    if (i_lo < i_hi + 2 * BOX_SIDE || !box_step(b, i_hi, i_lo, &st))
        return;
    double land = b->p_lp_value;
    if (!(st.rise > s->rise_fraction * b->level) || !(st.rise > BOX_SPREAD * st.spread) ||
        !(land < st.before + BOX_BACK * st.rise) || !(land > st.before - BOX_LEAVE * b->level))
        return;
    double t0 = box_onset(b, &st, i_hi, i_lo);
    double t_end = relax_search(b, b->fall_t0 - RELAX_BACK_S, b->t_last);
    if (t_end - t0 < RETRO_MIN_S)
        return;
    flex_open_at(b, t0, pp, pa, ratio, ratio_full, next_id, sink, ctx);
    b->flex_rest = st.before;
    b->r_peak = st.rise;
    close_flex(b, t_end, sink, ctx);
    b->hb = b->p_lp_value; /* the resting level after a flex is the new baseline */
}

/* One spectrum frame of a hold with no endpoint being looked for. */
static void flex_frame(ball_t *b, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    double pp = spectrum_band_power(&b->band, stft_power(&b->sp));
    double pd = spectrum_band_power(&b->detect, stft_power(&b->sp));
    double pa = spectrum_band_power(&b->band, stft_power(&b->sa));
    const ball_settings_t *s = &b->set;
    const float *power = stft_power(&b->sp);
    if (b->base_frames == 0) {
        b->base_d = pd;
        b->base_p = pp;
        b->base_a = pa;
        for (int k = b->detect.k_first; k <= b->detect.k_last; k++)
            b->base_bins[k] = power[k];
    }
    b->breadth = breadth(b, power);
    /* The frames were skipped (a motion episode, another hold) since the
     * last one, whose time the predictor keeps. */
    int resumed = b->t_last - b->fr_t > 1.5 * b->sp.hop * b->dt;
    pred_frame(b, resumed);
    if (b->base_frames == 0)
        b->rate_frame = b->rate;
    int turning = turning_since_frame(b);
    b->rate_frame = b->rate;
    double floor_p = POWER_FLOOR_PA2, floor_a = POWER_FLOOR_G2;
    /* The ratio that decides is the detection band's; the fields report
     * the whole band's. */
    double ratio = pd / (b->base_d > floor_p ? b->base_d : floor_p);
    double ratio_full = pp / (b->base_p > floor_p ? b->base_p : floor_p);
    b->frame_pp = pp, b->frame_pa = pa, b->frame_ratio = ratio, b->frame_ratio_full = ratio_full;
    double r = b->p_lp_value - b->hb;
    /* The baseline needs a few frames of the hold before it means much. */
    int ready = baseline_ready(b);
    /* Vibration must last two frames, unless it is strong at once: a single
     * loud frame with breathing or sway lifting the load is not a flex. */
    double prev = b->prev_ratio;
    b->prev_ratio = ratio;
    /* The run of loud, broad frames before a flex (flex_onset). A gap in
     * the frames starts the smoothing afresh. */
    if (resumed) {
        b->loud_ratio = ratio;
        b->loud_breadth = b->breadth;
    }
    b->loud_ratio += RATIO_SMOOTH * (ratio - b->loud_ratio);
    b->loud_breadth += RATIO_SMOOTH * (b->breadth - b->loud_breadth);
    if (!b->flex.open && b->loud_ratio > sqrt(s->power_ratio) &&
        b->loud_breadth > sqrt(s->breadth_ratio)) {
        if (b->loud_n++ == 0)
            b->loud_t = b->t_last;
    } else {
        b->loud_n = 0;
    }
    int vib = ratio > s->power_ratio &&
              (prev > s->power_ratio || ratio > s->power_ratio * s->power_ratio * STRONG_AT_ONCE) &&
              b->breadth > s->breadth_ratio;
    /* A stroke starting (a roll about to be recognised) pushes the load and
     * shakes the ball: no flex while the ball turns. */
    int still = b->rate < rate_low(b) && !turning;
    if (b->flex.open && vib && still && b->t_last - b->t_vib_lag > s->restart_s &&
        rise_from_least(b) > s->rise_fraction * b->level &&
        over_own_mean(b, ratio_full)) {
        /* The open flex had gone quiet (a weight shift or sway taken for
         * one) and a contraction begins: the quiet one ends where its
         * vibration went, the new one starts. The new vibration must be
         * louder_ratio times the open flex's mean band ratio: a real flex's
         * MMG under a noisy sensor dips for half a second on its plateau
         * and comes back no louder than it was. */
        close_flex(b, b->t_vib_lag, sink, ctx);
        flex_open(b, pp, pa, ratio, ratio_full, next_id, sink, ctx);
        return;
    }
    if (b->flex.open && still && louder(b, ratio, ratio_full) &&
        rise_from_least(b) > s->rise_fraction * b->level) {
        /* A contraction far louder than the open flex, which began long
         * before it: the open one (a weight shift, a turn of the ball or a
         * weaker burst taken for a flex, whose vibration never went) ends
         * where the new one's ramp begins. Before, the new contraction was
         * merged into it and dated seconds early. */
        double t0 = onset_search(b);
        close_flex(b, t0 > b->flex.t_start ? t0 : b->t_last, sink, ctx);
        flex_open(b, pp, pa, ratio, ratio_full, next_id, sink, ctx);
        return;
    }
    if (b->flex.open) {
        b->t_vib_lag = b->t_vib;
        b->ratio_s += RATIO_SMOOTH * (ratio - b->ratio_s);
        if (vibration_present(b)) {
            b->t_vib = b->t_last;
            b->quiet_checked = 0;
        }
        b->sum_p += pp;
        b->sum_a += pa;
        b->sum_ratio += ratio_full;
        double med;
        if (spectrum_median_hz(&b->band, stft_power(&b->sp), &med) == 0)
            b->sum_med += med, b->n_med++;
        b->n_frames++;
        return;
    }
    if (ratio > s->power_ratio * s->power_ratio * STRONG_RISE && b->breadth > s->breadth_ratio) {
        /* Unmistakable vibration: the rise is the contraction's own ramp,
         * measured from the least pressure before it. The hold's resting
         * pressure (a 1 s average) trails a falling load (a release after
         * the previous flex, breathing or sway going down) and hid small
         * rises under a strong MMG for a second or more. */
        double ramp = rise_from_least(b);
        if (ramp > r)
            r = ramp;
    }
    /* Two overlapping frames just over power_ratio happen by chance, and
     * a breath or sway lifts the load past the rise fraction as often: of
     * the flexes the vibration started on the widened development set, the
     * false ones had a median frame ratio of 6 (true ones 16) and a
     * residual of 0.3 rms (true ones 2.0). A marginal vibration on a rise
     * the breathing predictor expected starts nothing. */
    if (vib && ratio <= MARGINAL_VIB * s->power_ratio && !(b->res_z > MARGINAL_Z))
        vib = 0;
    double ramp = ramp_rise(b, ratio, ready);
    if (ramp > s->rise_fraction * b->level) {
        vib = 1;
        if (ramp > r)
            r = ramp;
    }
    if (ready && still &&
        ((vib && r > s->rise_fraction * b->level) || agree(b, ratio, prev) || pressed(b))) {
        flex_open(b, pp, pa, ratio, ratio_full, next_id, sink, ctx);
        return;
    }
    cand_frame(b, ready, still, pp, pa, ratio, ratio_full, next_id, sink, ctx);
    if (!b->flex.open)
        box_frame(b, ready, still, pp, pa, ratio, ratio_full, next_id, sink, ctx);
    /* Baselines follow the hold, slowly when the band is loud so that a
     * persistent disturbance (tremor) is learnt but a flex is not. */
    double w = growing(b->base_frames, b->base_a_w);
    if (ratio > s->power_ratio)
        w *= BASE_LOUD_SLOWDOWN;
    b->base_p += w * (pp - b->base_p);
    b->base_d += w * (pd - b->base_d);
    for (int k = b->detect.k_first; k <= b->detect.k_last; k++)
        b->base_bins[k] += (float)(w * (power[k] - b->base_bins[k]));
    b->base_a += w * ((pa > floor_a ? pa : floor_a) - b->base_a);
    b->base_frames++;
}

/* The slow ramp between spectrum frames (ball_push, at each new history
 * entry of a hold with no flex open and no motion episode): it is judged on
 * the pressure alone, so it need not wait up to a frame (32 ms) for the
 * next test. The levels it is judged against (the resting rms of the 80 ms
 * slope, the baselines' readiness, the rate at the last frame) and the
 * band figures the flex starts with are the last frame's. */
static void ramp_between(ball_t *b, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    const ball_settings_t *s = &b->set;
    if (b->base_frames == 0 || !baseline_ready(b) || b->hist_n <= SLOW_SPAN ||
        !(b->rate < RAMP_STILL_SHARE * rate_low(b)) || turning_since_frame(b) ||
        !slow_ramp_now(b, hist_slope_over(b, SLOW_SPAN, 0)) ||
        !(rise_from_least(b) > s->rise_fraction * b->level))
        return;
    flex_open(b, b->frame_pp, b->frame_pa, b->frame_ratio, b->frame_ratio_full, next_id, sink,
              ctx);
}

/* The steepest 100 ms fall of the coarse history since t_from, if it is
 * steeper than relax_z times the resting slope rms (a relax): 1, with the
 * time of its foot (where the fall slows under a quarter of that, less the
 * smoothing's delay) in *t_foot and how far it fell from its top to its
 * foot in *drop, pascal; else 0. */
__attribute__((cold))
static int coarse_fall(const ball_t *b, double t_from, double *t_foot, double *drop)
{
    double s_min = 0.0;
    unsigned j_min = 0;
    for (unsigned j = 0; j + BOX_SLOPE < b->coarse_n; j++) {
        if (b->coarse_t[coarse_index(b, j + BOX_SLOPE)] < t_from)
            break;
        double sl = coarse_slope(b, j);
        if (sl < s_min)
            s_min = sl, j_min = j;
    }
    if (!(s_min < -b->set.relax_z * sqrt(b->slope_ms)))
        return 0;
    unsigned foot = j_min, top = j_min;
    while (foot > 0 && coarse_slope(b, foot - 1) <= RAMP_FOOT * s_min)
        foot--;
    while (top + 1 + BOX_SLOPE < b->coarse_n && coarse_slope(b, top + 1) <= RAMP_FOOT * s_min)
        top++;
    *t_foot = 0.5 * (b->coarse_t[coarse_index(b, foot)] +
                     b->coarse_t[coarse_index(b, foot + BOX_SLOPE)]) -
              b->smooth_delay_s;
    *drop = b->coarse[coarse_index(b, top + BOX_SLOPE)] - b->coarse[coarse_index(b, foot)];
    return 1;
}

static void flex_sample(ball_t *b, event_sink_fn sink, void *ctx)
{
    double v = b->p_lp_value;
    double r = v - b->flex_rest;
    if (r > b->r_peak) {
        b->r_peak = r;
        b->t80 = b->t50 = b->t_last;
    }
    /* The flex's level, not its peak, is what its relax falls from: the
     * force of an effort held for seconds wanders by a fifth or more, and
     * its peak is the top of that wander. */
    if (r > PEAK_NEAR * b->r_lvl)
        b->r_lvl += b->dt / PLATEAU_TAU_S * (r - b->r_lvl);
    double lvl = b->r_lvl;
    if (b->relax_t > 0.0) {
        /* A relax stays relaxed; the force of an effort that wanders below
         * half its level comes back within a few tenths of a second. */
        if (r > b->set.end_fraction * lvl) {
            b->relax_t = 0.0;
        } else {
            if (b->t_last - b->relax_seen >= RELAX_HOLD_S) {
                close_flex(b, b->relax_t, sink, ctx);
                b->hb = v;
            }
            return;
        }
    }
    if (r > PEAK_NEAR * lvl) {
        b->t80 = b->t_last;
        b->fall_min = 0.0;
    } else if (b->hist_n > FALL_SPAN) {
        double sl = hist_slope_over(b, FALL_SPAN, 0);
        if (sl < b->fall_min)
            b->fall_min = sl;
    }
    int down = !(r > b->set.end_fraction * lvl);
    if (b->t_last - b->t_vib > b->set.vib_gone_s && (down || !b->quiet_checked)) {
        /* The muscle is quiet. If the load has come down from the flex's
         * plateau, this was a weight shift (or sway) that coincided with a
         * burst of vibration, not a held contraction, or a flex whose
         * vibration tremor kept up past its relax: it ends at the relax if
         * the load fell steeply since the flex began, else where the
         * vibration went. If the load stays over half the peak rise, it is
         * looked at once per quiet spell: a steep fall since the flex began,
         * by at least a flex's least rise, was its relax, and breathing,
         * sway or a shift of weight has lifted the load since (a flex's
         * peak rise counts them too); without one the flex stays open:
         * under the noisiest sensors a person's MMG (10-30 Pa) is not seen
         * at all, and such flexes, started on the ramp, were ended 0.5-1 s
         * into their plateau. The new load is the resting load. */
        b->quiet_checked = 1;
        double t_end, drop;
        int fell = coarse_fall(b, b->flex.t_start, &t_end, &drop);
        if (down || (fell && drop > b->set.rise_fraction * b->level && t_end > b->flex.t_start)) {
            close_flex(b, fell ? t_end : b->t_vib, sink, ctx);
            b->hb = v;
            return;
        }
    }
    if (r > b->set.end_fraction * lvl) {
        b->t50 = b->t_last;
        return;
    }
    /* Breathing and sway can pull a small flex's plateau below half its
     * peak; the vibration tells whether the muscle is still contracted. The
     * smoothed ratio decides: one frame's band power scatters (a few
     * degrees of freedom), and a single quiet frame ended flexes early. */
    if (vibrating(b))
        return;
    /* A contraction relaxes in 0.15-0.4 s; breathing and sway pull the
     * plateau down as slowly as they set the hold's resting slope rms. No
     * fall steeper than relax_z times that since the flex was last near its
     * peak: the muscle has not let go yet. */
    if (!(b->fall_min < -b->set.relax_z * sqrt(b->slope_ms)))
        return;
    /* Falling past half the peak: the end is the foot of the relax ramp
     * (relax_search); failing that, a raised-cosine relaxation ends about
     * two (80 % -> 50 %) intervals after the 50 % crossing. */
    double t_end = b->t50 + RELAX_INTERVALS * (b->t50 - b->t80) - RELAX_GUARD_S;
    t_end = relax_search(b, b->t80 - RELAX_BACK_S, t_end);
    if (t_end > b->t_last)
        t_end = b->t_last;
    double t_start = b->flex.t_start;
    if (t_end - t_start < b->set.min_flex_s) {
        /* Too short for a flex: still reported (a start was published), so
         * subscribers see the pair close. */
    }
    b->relax_t = t_end;
    b->relax_seen = b->t_last;
}

void ball_push(ball_t *b, const sample_t *s, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    const ball_settings_t *set = &b->set;
    double t = s->t_dev;
    b->t_last = t;

    /* Pressure. */
    double plp = biquad_cascade_step(&b->p_lp, s->p);
    if (!b->have_sample) {
        /* Start the smoothing at the first value rather than from zero. */
        for (int i = 0; i < WARMUP_SAMPLES; i++)
            plp = biquad_cascade_step(&b->p_lp, s->p);
        b->p0 = plp;
        b->have_sample = 1;
    }
    b->p_lp_value = plp;
    if (plp < b->p0)
        b->p0 = plp;
    else if (!b->loaded)
        b->p0 += b->p0_a * (plp - b->p0);
    double rise = plp - b->p0;
    hist_push(b, t, plp);

    /* Rotation: bias-corrected, learnt while still and unloaded or held. */
    double w[3], rate2 = 0.0;
    for (int i = 0; i < 3; i++) {
        w[i] = s->gyr[i] - b->gyr_bias[i];
        rate2 += w[i] * w[i];
    }
    b->rate = biquad_cascade_step(&b->rate_lp, (float)sqrt(rate2));
    if (!b->ep.active && b->rate < rate_low(b))
        for (int i = 0; i < 3; i++)
            b->gyr_bias[i] += b->bias_a * (s->gyr[i] - b->gyr_bias[i]);

    /* Vertical acceleration: the magnitude's change along gravity. */
    double an = 0.0;
    for (int i = 0; i < 3; i++)
        an += s->acc[i] * s->acc[i];
    float av = biquad_cascade_step(&b->a_hp, (float)sqrt(an));
    float php = biquad_cascade_step(&b->p_hp, s->p);

    /* Load. */
    if (!b->loaded && rise > set->load_on_pa) {
        b->loaded = 1;
        b->load_pa = rise;
        b->t_loaded = t;
        b->t_still = t;
        b->state = ST_PENDING;
        b->after_roll = 0;
        reset_episode(b);
        b->t_below = t;
        climb_restart(b);
    } else if (b->loaded &&
               (rise < set->load_off_pa || rise < set->load_off_share * b->load_pa)) {
        /* Off the ball: under the fixed level, or under a share of the
         * load's pressure (a ball warmed under the load stays over the
         * fixed level once unloaded; its pressure now is its unloaded
         * pressure). */
        b->loaded = 0;
        if (rise >= set->load_off_pa)
            b->p0 = plp;
        if (b->hold.open) {
            close_hold(b, b->t_half_down, sink, ctx);
        } else if (b->roll.open) {
            close_roll(b, b->ep.active ? b->ep.t_last_active : t, sink, ctx);
        }
        reset_episode(b);
        b->state = ST_UNLOADED;
        b->after_roll = 0;
    }

    if (b->loaded) {
        b->load_pa += b->load_a * (rise - b->load_pa);
        /* The still rotation floor (postural sway) is learnt from the slow
         * part of the rotation only: strokes and rocking are faster. */
        if (b->rate < set->sway_max_dps)
            b->rate_ms += b->rate_ms_a * (b->rate * b->rate - b->rate_ms);
        track_rotation(b, w, next_id, sink, ctx);
        if (b->state == ST_PENDING && b->after_roll) {
            /* After a roll, a hold once the load has stayed on (not fallen
             * towards unloading) for a while; it began where the roll
             * ended. */
            double since = t - b->roll_end_t;
            if (!b->ep.active && since >= set->hold_confirm_s &&
                (rise > set->hold_confirm_share * b->roll_end_rise ||
                 since >= set->hold_confirm_max_s))
                start_hold(b, b->roll_end_t, next_id, sink, ctx);
        } else if (b->state == ST_PENDING && !b->ep.active && t - b->t_loaded >= set->settle_s &&
                   t - b->t_still >= set->settle_s * SETTLE_STILL_SHARE) {
            /* A load-on that settled without moving: the hold began when
             * half the load was on. */
            double half = b->p0 + HALF_LOAD * (plp - b->p0);
            double t0 = hist_last_below(b, half, ONSET_SEARCH_S, b->t_loaded);
            start_hold(b, t0, next_id, sink, ctx);
        }
    }
    if (b->state == ST_HOLD) {
        b->under_load_s += b->dt;
        if (!b->ep.active) {
            if (!b->flex.open)
                b->hb += b->hb_a * (plp - b->hb);
        }
        if (plp > b->p0 + HALF_LOAD * b->level)
            b->t_half_down = t;
        if (!b->flex.open && !b->ep.active)
            b->level = b->hb - b->p0;
        if (b->flex.open)
            flex_sample(b, sink, ctx);
        else if (!b->ep.active && b->hist_count == 0)
            ramp_between(b, next_id, sink, ctx);
    }

    /* Spectra: a frame every hop, its FFTs only when flex_frame reads them
     * (in a hold with no endpoint being looked for). */
    bool frame = stft_push_due(&b->sp, php);
    stft_push_due(&b->sa, av);
    if (frame && b->state == ST_HOLD && !b->ep.active) {
        stft_compute(&b->sp);
        stft_compute(&b->sa);
        flex_frame(b, next_id, sink, ctx);
    }
}

void ball_gap(ball_t *b, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
              event_sink_fn sink, void *ctx)
{
    (void)t_dev_resume, (void)next_id;
    if (sample_loss_bridged(samples_lost, b->dt))
        return;
    end_all(b, b->t_last, sink, ctx);
    stft_reset(&b->sp);
    stft_reset(&b->sa);
    b->state = b->loaded ? ST_PENDING : ST_UNLOADED;
    b->t_loaded = b->t_still = t_dev_resume;
}

void ball_mark(ball_t *b, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    (void)t_dev, (void)next_id, (void)sink, (void)ctx;
    if (b->hold.open)
        b->marks++;
}

void ball_finish(ball_t *b, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    (void)next_id;
    end_all(b, b->t_last, sink, ctx);
    b->state = ST_UNLOADED;
    b->loaded = 0;
}
