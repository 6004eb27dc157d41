/* clock: unwrapping, sample indexing and host mapping of a device clock.
 * See clock.h for the contracts and docs/CLOCK.md for the model. */
#include "clock.h"
#include "median.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#define US_PER_S 1000000u

/* ---------------------------------------------------------------- unwrap */

void clock_unwrap_init(clock_unwrap_t *u)
{
    memset(u, 0, sizeof *u);
}

uint64_t clock_unwrap(clock_unwrap_t *u, uint32_t t_us)
{
    if (!u->started) {
        /* The first value ever keeps the device's own number; a later epoch
         * starts just after everything returned before it. */
        u->ref_us = u->any ? u->max_us + 1 : t_us;
        u->floor_us = u->any ? u->ref_us : 0;
        u->ref_raw = t_us;
        u->started = true;
        u->any = true;
        u->max_us = u->ref_us;
        return u->ref_us;
    }
    uint32_t step = t_us - u->ref_raw; /* modulo 2^32 */
    if (step < 0x80000000u) {
        if (t_us < u->ref_raw)
            u->wraps++;
        u->ref_raw = t_us;
        u->ref_us += step;
        if (u->ref_us > u->max_us)
            u->max_us = u->ref_us;
        return u->ref_us;
    }
    /* Backward: report the earlier time honestly, keep the reference. */
    uint64_t back = (uint64_t)(0x100000000ull - step);
    u->backward_steps++;
    if (u->ref_us - u->floor_us < back)
        return u->floor_us;
    return u->ref_us - back;
}

void clock_unwrap_reset(clock_unwrap_t *u)
{
    u->started = false;
    u->epochs++;
}

/* ----------------------------------------------------------------- index */

void clock_index_init(clock_index_t *x, uint32_t rate_hz)
{
    assert(rate_hz > 0 && rate_hz <= 65535);
    memset(x, 0, sizeof *x);
    x->rate_hz = rate_hz;
}

/* round(dt_us * rate / 1e6) without overflow for any dt_us: whole seconds
 * and the remainder are scaled separately (remainder * rate < 2^36). */
static uint64_t index_of(uint64_t dt_us, uint32_t rate_hz)
{
    uint64_t sec = dt_us / US_PER_S, rem = dt_us % US_PER_S;
    return sec * rate_hz + (rem * rate_hz + US_PER_S / 2) / US_PER_S;
}

/* round(index * 1e6 / rate) in microseconds, likewise split. */
static uint64_t offset_of(uint64_t index, uint32_t rate_hz)
{
    uint64_t sec = index / rate_hz, rem = index % rate_hz;
    return sec * US_PER_S + (rem * US_PER_S + rate_hz / 2) / rate_hz;
}

int clock_index_frame(clock_index_t *x, uint64_t t_dev_us, unsigned count, uint64_t *i0,
                      uint64_t *lost)
{
    uint64_t index = 0, missing = 0;
    int rc = 0;

    if (count == 0)
        return -EINVAL;
    if (!x->started) {
        x->started = true;
        x->origin_us = t_dev_us;
    }
    if (t_dev_us >= x->origin_us) {
        uint64_t dt = t_dev_us - x->origin_us;
        index = index_of(dt, x->rate_hz);
        uint64_t on_grid = offset_of(index, x->rate_hz);
        uint64_t jitter = dt > on_grid ? dt - on_grid : on_grid - dt;
        if (jitter > x->max_jitter_us)
            x->max_jitter_us = jitter > UINT32_MAX ? UINT32_MAX : (uint32_t)jitter;
    }
    x->frames++;
    if (x->frames == 1 || index == x->next_index) {
        /* in order */
    } else if (t_dev_us >= x->origin_us && index > x->next_index) {
        missing = index - x->next_index;
        x->samples_lost += missing;
        x->gaps++;
    } else {
        uint64_t end = index + count;
        x->overlap_frames++;
        x->overlap_samples += (end < x->next_index ? end : x->next_index) - index;
        rc = -ERANGE;
    }
    if (index + count > x->next_index)
        x->next_index = index + count;
    if (i0)
        *i0 = index;
    if (lost)
        *lost = missing;
    return rc;
}

int clock_index_next(clock_index_t *x, uint64_t t_dev_us, unsigned count, bool follows,
                     uint64_t *i0, uint64_t *lost)
{
    if (count == 0 || !x->started || t_dev_us < x->origin_us)
        return clock_index_frame(x, t_dev_us, count, i0, lost);
    uint64_t expected = x->origin_us + offset_of(x->next_index, x->rate_hz);
    uint64_t off = t_dev_us > expected ? t_dev_us - expected : expected - t_dev_us;
    uint64_t half = US_PER_S / 2 / x->rate_hz;
    if ((off > CLOCK_INDEX_SLACK_US && off > half) || (!follows && t_dev_us > expected))
        return clock_index_frame(x, t_dev_us, count, i0, lost);
    x->frames++;
    bool placed = index_of(t_dev_us - x->origin_us, x->rate_hz) != x->next_index;
    x->stamps_off += placed;
    if (off > x->max_jitter_us)
        x->max_jitter_us = (uint32_t)off;
    if (i0)
        *i0 = x->next_index;
    if (lost)
        *lost = 0;
    x->next_index += count;
    return placed;
}

uint64_t clock_index_time_us(const clock_index_t *x, uint64_t index)
{
    return x->origin_us + offset_of(index, x->rate_hz);
}

double clock_index_time_s(const clock_index_t *x, uint64_t index)
{
    uint64_t sec = index / x->rate_hz, rem = index % x->rate_hz;
    return (double)x->origin_us / US_PER_S + (double)sec + (double)rem / x->rate_hz;
}

/* ------------------------------------------------------------ host map */

const clock_map_settings_t clock_map_default = {
    .window_s = 1.0,
    .windows = 30,
    .step_threshold_s = 0.1,
    .step_confirm_s = 1.0,
    .max_drift_ppm = 500.0,
    .latency_s = 0.0,
};

/* Windows whose minimum lies this close to the line are never trimmed, even
 * when the others agree to the microsecond. */
#define TRIM_FLOOR_S 50e-6
/* Trimming at this many robust standard deviations. */
#define TRIM_SIGMAS 4.0
/* Trim and fit again at most this often: a high window drags the first
 * least-squares line towards it and hides the next one behind it. */
#define TRIM_PASSES 4
/* Uncertainty of a slope kept from before a reset or restart. */
#define KEPT_SLOPE_PPM 5.0

void clock_map_init(clock_map_t *m, const clock_map_settings_t *s)
{
    memset(m, 0, sizeof *m);
    m->s = s ? *s : clock_map_default;
    if (!(m->s.window_s > 0.001))
        m->s.window_s = 0.001;
    if (m->s.windows < 2)
        m->s.windows = 2;
    if (m->s.windows > CLOCK_MAP_MAX_WINDOWS)
        m->s.windows = CLOCK_MAP_MAX_WINDOWS;
    if (!(m->s.step_threshold_s > 0))
        m->s.step_threshold_s = clock_map_default.step_threshold_s;
    if (!(m->s.step_confirm_s >= 0))
        m->s.step_confirm_s = clock_map_default.step_confirm_s;
    if (!(m->s.max_drift_ppm > 0))
        m->s.max_drift_ppm = clock_map_default.max_drift_ppm;
    if (!isfinite(m->s.latency_s))
        m->s.latency_s = 0;
}

/* Forgets every point; keeps settings, counters and a fitted slope. */
static void map_forget(clock_map_t *m)
{
    m->have_ref = false;
    m->fitted = false;
    m->alpha = 0;
    if (m->have_slope) {
        m->have_prior = true;
        m->prior_beta = m->beta;
    } else {
        m->beta = 0;
    }
    m->warm.n = 0;
    m->warm.sum_v = 0;
    m->win.has_point = false;
    m->ring_head = m->ring_count = 0;
    m->fit_n = 0;
    m->fit_sigma = 0;
    m->run_sign = 0;
}

void clock_map_reset(clock_map_t *m)
{
    map_forget(m);
}

/* Sets the reference pair; the first point is (0, 0). */
static void map_start(clock_map_t *m, double dev_s, double host_s)
{
    m->have_ref = true;
    m->ref_dev_s = dev_s;
    m->ref_host_s = host_s;
    m->last_x = 0;
    m->alpha = 0;
    m->warm = (clock_map_warm_t){.alpha_x = 0, .sum_v = 0, .n = 1};
    m->win = (clock_map_window_t){.index = 0, .has_point = true, .min = {0, 0, 0}, .n = 1};
}

/* Least squares over the points with keep[i]; returns false if they span no
 * device time. Sums are centred for precision. */
static bool fit_line(clock_map_t *m, const clock_map_point_t *p, const bool *keep, unsigned n)
{
    unsigned k = 0;
    double sx = 0, sy = 0;
    for (unsigned i = 0; i < n; i++) {
        if (keep[i]) {
            sx += p[i].x;
            sy += p[i].y;
            k++;
        }
    }
    if (k < 2)
        return false;
    double xbar = sx / k, ybar = sy / k, sxx = 0, sxy = 0;
    for (unsigned i = 0; i < n; i++) {
        if (keep[i]) {
            sxx += (p[i].x - xbar) * (p[i].x - xbar);
            sxy += (p[i].x - xbar) * (p[i].y - ybar);
        }
    }
    if (!(sxx > 1e-12))
        return false;
    /* A slope kept from before a reset or restart is worth more than a fit
     * through the first few windows, whose minima differ by their jitter
     * over a second or two: it enters as a prior (ridge regression) with
     * the weight of its uncertainty against the minima's spread, and fades
     * as the windows span more time. */
    double prior_weight = 0;
    if (m->have_prior) {
        double e = 0;
        for (unsigned i = 0; i < n; i++)
            e += p[i].e;
        e = fmax(e / n, 1e-6);
        prior_weight = (e / (KEPT_SLOPE_PPM * 1e-6)) * (e / (KEPT_SLOPE_PPM * 1e-6));
    }
    double beta = (sxy + prior_weight * m->prior_beta) / (sxx + prior_weight);
    double limit = m->s.max_drift_ppm * 1e-6;
    /* A slope beyond any real pair of crystals means bad points; the level
     * is still good, so only the slope is bounded. */
    if (beta > limit)
        beta = limit;
    if (beta < -limit)
        beta = -limit;
    double ss = 0;
    for (unsigned i = 0; i < n; i++) {
        if (keep[i]) {
            double r = p[i].y - (ybar + beta * (p[i].x - xbar));
            ss += r * r;
        }
    }
    m->beta = beta;
    m->alpha = ybar - beta * xbar;
    m->fit_n = k;
    m->fit_xbar = xbar;
    m->fit_sxx = sxx;
    m->fit_sigma = k > 2 ? sqrt(ss / (k - 2)) : 0;
    return true;
}

/* Least squares puts the line through the middle of the window minima,
 * which lie above the envelope by their own jitter (mean jitter / frames per
 * window). The envelope is their lower edge: the line is lowered to the
 * second lowest kept minimum, so that no single window decides alone. */
static void map_lower(clock_map_t *m, const clock_map_point_t *p, const bool *keep, unsigned n)
{
    double lo1 = INFINITY, lo2 = INFINITY;
    unsigned kept = 0;
    for (unsigned i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        kept++;
        double r = p[i].y - (m->alpha + m->beta * p[i].x);
        if (r < lo1) {
            lo2 = lo1;
            lo1 = r;
        } else if (r < lo2) {
            lo2 = r;
        }
    }
    /* Until trimming can judge windows (four of them), the lowest one is
     * the best there is: the jitter of one window's minimum (up to ~5 x
     * mean jitter / frames per window) outweighs the risk. */
    if (kept < 5)
        m->alpha += lo1;
    else if (isfinite(lo2))
        m->alpha += lo2;
}

/* Siegel's repeated median: for each point the median of its slopes to the
 * others, then the median of those. Half the points may be wild. row and
 * meds hold n values each. */
static double repeated_median_slope(const clock_map_point_t *p, unsigned n, double *row,
                                    double *meds)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned j = 0;
        for (unsigned o = 0; o < n; o++) {
            double dx = p[o].x - p[i].x;
            if (o != i && dx != 0)
                row[j++] = (p[o].y - p[i].y) / dx;
        }
        if (j > 0)
            meds[k++] = median_sort(row, j);
    }
    return k > 0 ? median_sort(meds, k) : 0;
}

/* Fits the line through the completed windows' minima: least squares, then
 * once more without minima beyond TRIM_SIGMAS robust deviations (a window
 * spent entirely in a USB stall, a corrupt time stamp). */
static void map_fit(clock_map_t *m)
{
    /* Zeroed so the compiler need not prove n <= CLOCK_MAP_MAX_WINDOWS;
     * once a second this costs nothing. */
    clock_map_point_t p[CLOCK_MAP_MAX_WINDOWS] = {{0}};
    bool keep[CLOCK_MAP_MAX_WINDOWS] = {0};
    double r[CLOCK_MAP_MAX_WINDOWS], a[CLOCK_MAP_MAX_WINDOWS];
    unsigned n = m->ring_count;

    for (unsigned i = 0; i < n; i++) {
        p[i] = m->ring[(m->ring_head + i) % CLOCK_MAP_MAX_WINDOWS];
        keep[i] = true;
    }
    if (!fit_line(m, p, keep, n))
        return;
    m->fitted = true;
    m->have_slope = true;
    if (n < 4) {
        map_lower(m, p, keep, n);
        return;
    }
    /* The residuals are first taken about a repeated-median line: a high
     * window tilts a least-squares line towards itself and, through the
     * spread it causes, hides itself and the next one from the trim. A kept
     * slope already holds the fit's slope, and a few windows' median would
     * not. */
    double line_b = m->have_prior ? m->beta : repeated_median_slope(p, n, r, a);
    for (unsigned i = 0; i < n; i++)
        a[i] = p[i].y - line_b * p[i].x;
    double line_a = median_sort(a, n);
    unsigned dropped = 0;
    for (unsigned pass = 0; pass < TRIM_PASSES; pass++) {
        unsigned k = 0;
        for (unsigned i = 0; i < n; i++) {
            r[i] = p[i].y - (line_a + line_b * p[i].x);
            if (keep[i])
                a[k++] = r[i];
        }
        double med = median_sort(a, k);
        k = 0;
        for (unsigned i = 0; i < n; i++)
            if (keep[i])
                a[k++] = fabs(r[i] - med);
        double limit = TRIM_SIGMAS * 1.4826 * median_sort(a, k);
        if (limit < TRIM_FLOOR_S)
            limit = TRIM_FLOOR_S;
        bool next[CLOCK_MAP_MAX_WINDOWS];
        unsigned out = 0, changed = 0;
        for (unsigned i = 0; i < n; i++) {
            next[i] = fabs(r[i] - med) <= limit;
            out += !next[i];
            changed += next[i] != keep[i];
        }
        if (changed == 0 || n - out < 2)
            break;
        /* fit_line changes nothing when it fails, so the last fit stands. */
        if (!fit_line(m, p, next, n))
            break;
        memcpy(keep, next, n * sizeof keep[0]);
        dropped = out;
        line_a = m->alpha;
        line_b = m->beta;
    }
    m->windows_trimmed += dropped;
    map_lower(m, p, keep, n);
}

/* Closes the current window and opens window idx. */
static void map_next_window(clock_map_t *m, int64_t idx)
{
    if (m->win.has_point) {
        /* With exponential jitter the fastest of n deliveries lies above the
         * envelope by the mean jitter / n on average. */
        double v_min = m->win.min.y - m->beta * m->win.min.x;
        m->win.min.e = (m->win.sum_v / m->win.n - v_min) / m->win.n;
        unsigned cap = m->s.windows;
        if (m->ring_count == cap) {
            m->ring_head = (m->ring_head + 1) % CLOCK_MAP_MAX_WINDOWS;
            m->ring_count--;
        }
        m->ring[(m->ring_head + m->ring_count) % CLOCK_MAP_MAX_WINDOWS] = m->win.min;
        m->ring_count++;
        if (m->ring_count >= 2)
            map_fit(m);
    }
    m->win = (clock_map_window_t){.index = idx, .has_point = false};
}

/* Adds a frame that is not part of a step run to the envelope. */
static void map_feed(clock_map_t *m, double x, double y)
{
    int64_t idx = (int64_t)floor(x / m->s.window_s);
    if (idx > m->win.index)
        map_next_window(m, idx);
    double v = y - m->beta * x;
    if (!m->win.has_point || v < m->win.min.y - m->beta * m->win.min.x) {
        m->win.min = (clock_map_point_t){x, y, 0};
        m->win.has_point = true;
    }
    m->win.n++;
    m->win.sum_v += v;
    if (!m->fitted) {
        /* Before two windows exist, the fastest delivery so far is the best
         * estimate of the offset. */
        if (m->warm.n == 0 || v < m->alpha) {
            m->alpha = v;
            m->warm.alpha_x = x;
        }
        m->warm.sum_v += v;
        m->warm.n++;
    }
}

void clock_map_observe(clock_map_t *m, double t_dev_s, double t_host_arrival_s)
{
    if (!isfinite(t_dev_s) || !isfinite(t_host_arrival_s)) {
        m->frames_ignored++;
        return;
    }
    m->frames++;
    if (!m->have_ref) {
        map_start(m, t_dev_s, t_host_arrival_s);
        return;
    }
    double x = t_dev_s - m->ref_dev_s;
    double y = (t_host_arrival_s - m->ref_host_s) - x;
    double v = y - m->beta * x;
    double resid = v - m->alpha;
    if (x > m->last_x)
        m->last_x = x;

    /* Early frames before the first fit only lower the estimate. */
    bool beyond = resid > m->s.step_threshold_s || (m->fitted && resid < -m->s.step_threshold_s);
    if (beyond) {
        int sign = resid > 0 ? 1 : -1;
        if (m->run_sign != sign) {
            m->run_sign = sign;
            m->run_host0_s = t_host_arrival_s;
            m->run_dev0_s = t_dev_s;
            m->run_min_v = INFINITY;
        }
        if (v < m->run_min_v) {
            m->run_min_v = v;
            m->run_min_dev_s = t_dev_s;
            m->run_min_host_s = t_host_arrival_s;
        }
        /* A stall followed by a burst spans device time but hardly any host
         * time, and its residuals fall back as the queue drains: only a
         * shift that lasts in both clocks is a step. */
        if (t_host_arrival_s - m->run_host0_s >= m->s.step_confirm_s &&
            t_dev_s - m->run_dev0_s >= m->s.step_confirm_s) {
            double dev0 = m->run_min_dev_s, host0 = m->run_min_host_s;
            m->restarts++;
            map_forget(m);
            map_start(m, dev0, host0);
            x = t_dev_s - m->ref_dev_s;
            m->last_x = x;
            map_feed(m, x, (t_host_arrival_s - m->ref_host_s) - x);
        }
        return;
    }
    m->run_sign = 0;
    map_feed(m, x, y);
}

double clock_map_to_host(const clock_map_t *m, double t_dev_s)
{
    if (!m->have_ref)
        return NAN;
    double x = t_dev_s - m->ref_dev_s;
    return m->ref_host_s + ((x + m->alpha + m->beta * x) - m->s.latency_s);
}

double clock_map_offset_s(const clock_map_t *m)
{
    if (!m->have_ref)
        return NAN;
    return (m->ref_host_s - m->ref_dev_s) + (m->alpha + m->beta * m->last_x - m->s.latency_s);
}

double clock_map_drift_ppm(const clock_map_t *m)
{
    return m->beta * 1e6;
}

double clock_map_uncertainty_s(const clock_map_t *m)
{
    if (!m->have_ref)
        return INFINITY;
    if (!m->fitted) {
        /* The fastest of n deliveries with exponential jitter lies above the
         * envelope by about the mean jitter / n; the unknown slope adds up
         * with the distance from that delivery. */
        double jitter = (m->warm.sum_v / m->warm.n - m->alpha) / m->warm.n;
        double ppm = m->have_slope ? KEPT_SLOPE_PPM : m->s.max_drift_ppm;
        return jitter + ppm * 1e-6 * fabs(m->last_x - m->warm.alpha_x);
    }
    /* The spread of the minima about the line, pooled with the windows' own
     * estimate of their height (worth two degrees of freedom) so that a fit
     * through two or three windows does not claim to be exact. */
    double e = 0;
    for (unsigned i = 0; i < m->ring_count; i++)
        e += m->ring[(m->ring_head + i) % CLOCK_MAP_MAX_WINDOWS].e;
    e /= m->ring_count;
    double dof = m->fit_n > 2 ? m->fit_n - 2 : 0;
    double sigma = sqrt((dof * m->fit_sigma * m->fit_sigma + 2 * e * e) / (dof + 2));
    double dx = m->last_x - m->fit_xbar;
    return sigma * sqrt(1.0 + 1.0 / m->fit_n + dx * dx / m->fit_sxx);
}

bool clock_map_ready(const clock_map_t *m)
{
    return m->fitted;
}
