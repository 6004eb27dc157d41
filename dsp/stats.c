#include "stats.h"

#include <errno.h>
#include <math.h>

const stats_ema_settings_t stats_ema_default = {.tau_s = 1.0, .fs_hz = 1000.0};
const stats_minmax_settings_t stats_minmax_default = {.window_s = 2.0, .fs_hz = 1000.0};
const stats_p2_settings_t stats_p2_default = {.quantile = 0.5};
const stats_schmitt_settings_t stats_schmitt_default = {
    .on_level = 1.0f, .off_level = 0.5f, .min_samples = 1};

int stats_ema_init(stats_ema_t *e, const stats_ema_settings_t *set)
{
    if (!(set->tau_s > 0.0) || !(set->fs_hz > 0.0))
        return -EINVAL;
    /* Exact discretisation of a first-order lag, so tau means the same at
     * any rate (1/(tau fs) would be off by half a sample). */
    e->alpha = -expm1(-1.0 / (set->tau_s * set->fs_hz));
    stats_ema_reset(e);
    return 0;
}

void stats_ema_reset(stats_ema_t *e)
{
    e->mean = 0.0;
    e->var = 0.0;
    e->n = 0;
}

double stats_ema_std(const stats_ema_t *e)
{
    return sqrt(e->var);
}

static uint32_t window_samples(const stats_minmax_settings_t *set)
{
    double w = floor(set->window_s * set->fs_hz + 0.5);
    return w < 1.0 ? 1u : (uint32_t)w;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t c = 1;
    while (c < n)
        c <<= 1;
    return c;
}

size_t stats_minmax_mem_size(const stats_minmax_settings_t *set)
{
    if (!(set->window_s > 0.0) || !(set->fs_hz > 0.0) || set->window_s * set->fs_hz > 1e8)
        return 0;
    /* A deque never holds more than the window, and a power-of-two ring
     * turns the wrap into a mask. */
    return 2 * (size_t)pow2_at_least(window_samples(set)) * sizeof(stats_minmax_entry_t);
}

int stats_minmax_init(stats_minmax_t *m, const stats_minmax_settings_t *set, void *mem,
                      size_t mem_len)
{
    size_t need = stats_minmax_mem_size(set);
    if (need == 0)
        return -EINVAL;
    if (!mem || mem_len < need)
        return -ENOMEM;
    uint32_t cap = pow2_at_least(window_samples(set));
    m->window = window_samples(set);
    m->mask = cap - 1;
    m->min_q = mem;
    m->max_q = m->min_q + cap;
    stats_minmax_reset(m);
    return 0;
}

void stats_minmax_reset(stats_minmax_t *m)
{
    m->n = 0;
    m->min = NAN;
    m->max = NAN;
    m->min_head = m->min_tail = m->max_head = m->max_tail = 0;
    m->index = 0;
}

void stats_minmax_push(stats_minmax_t *m, float x)
{
    uint32_t now = m->index++;
    if (m->n < m->window)
        m->n++;

    /* Minimum: keep values strictly increasing from head to tail; a value
     * not below the newcomer can never be the minimum again. */
    while (m->min_tail != m->min_head && !(m->min_q[(m->min_tail - 1) & m->mask].value < x))
        m->min_tail--;
    m->min_q[m->min_tail & m->mask] = (stats_minmax_entry_t){x, now};
    m->min_tail++;
    if (now - m->min_q[m->min_head & m->mask].index >= m->window)
        m->min_head++;

    while (m->max_tail != m->max_head && !(m->max_q[(m->max_tail - 1) & m->mask].value > x))
        m->max_tail--;
    m->max_q[m->max_tail & m->mask] = (stats_minmax_entry_t){x, now};
    m->max_tail++;
    if (now - m->max_q[m->max_head & m->mask].index >= m->window)
        m->max_head++;

    m->min = m->min_q[m->min_head & m->mask].value;
    m->max = m->max_q[m->max_head & m->mask].value;
}

int stats_p2_init(stats_p2_t *q, const stats_p2_settings_t *set)
{
    double p = set->quantile;
    if (!(p > 0.0 && p < 1.0))
        return -EINVAL;
    q->p = p;
    q->n = 0;
    const double desired[5] = {1.0, 1.0 + 2.0 * p, 1.0 + 4.0 * p, 3.0 + 2.0 * p, 5.0};
    const double increment[5] = {0.0, p / 2.0, p, (1.0 + p) / 2.0, 1.0};
    for (int i = 0; i < 5; i++) {
        q->height[i] = 0.0;
        q->pos[i] = i + 1.0;
        q->desired[i] = desired[i];
        q->increment[i] = increment[i];
    }
    return 0;
}

static double p2_parabolic(const stats_p2_t *q, int i, double d)
{
    const double *n = q->pos, *h = q->height;
    return h[i] + d / (n[i + 1] - n[i - 1]) *
                      ((n[i] - n[i - 1] + d) * (h[i + 1] - h[i]) / (n[i + 1] - n[i]) +
                       (n[i + 1] - n[i] - d) * (h[i] - h[i - 1]) / (n[i] - n[i - 1]));
}

void stats_p2_push(stats_p2_t *q, double x)
{
    if (q->n < 5) {
        /* Insertion sort of the first five samples into the markers. */
        int i = (int)q->n++;
        while (i > 0 && q->height[i - 1] > x) {
            q->height[i] = q->height[i - 1];
            i--;
        }
        q->height[i] = x;
        return;
    }
    q->n++;

    int k;
    if (x < q->height[0]) {
        q->height[0] = x;
        k = 0;
    } else if (x >= q->height[4]) {
        q->height[4] = x;
        k = 3;
    } else {
        k = 0;
        while (k < 3 && x >= q->height[k + 1])
            k++;
    }
    for (int i = k + 1; i < 5; i++)
        q->pos[i] += 1.0;
    for (int i = 0; i < 5; i++)
        q->desired[i] += q->increment[i];

    for (int i = 1; i <= 3; i++) {
        double d = q->desired[i] - q->pos[i];
        if ((d >= 1.0 && q->pos[i + 1] - q->pos[i] > 1.0) ||
            (d <= -1.0 && q->pos[i - 1] - q->pos[i] < -1.0)) {
            double step = d >= 0.0 ? 1.0 : -1.0;
            double h = p2_parabolic(q, i, step);
            if (!(q->height[i - 1] < h && h < q->height[i + 1])) {
                /* The parabola overshot a neighbour: fall back to linear. */
                int j = i + (int)step;
                h = q->height[i] + step * (q->height[j] - q->height[i]) / (q->pos[j] - q->pos[i]);
            }
            q->height[i] = h;
            q->pos[i] += step;
        }
    }
}

double stats_p2_value(const stats_p2_t *q)
{
    if (q->n == 0)
        return NAN;
    if (q->n <= 5) {
        /* Nearest rank among the sorted first samples (the markers only
         * start to move with the sixth). */
        int idx = (int)floor(q->p * (double)(q->n - 1) + 0.5);
        return q->height[idx];
    }
    return q->height[2];
}

int stats_schmitt_init(stats_schmitt_t *t, const stats_schmitt_settings_t *set)
{
    if (!(set->off_level <= set->on_level) || set->min_samples == 0)
        return -EINVAL;
    t->on_level = set->on_level;
    t->off_level = set->off_level;
    t->min_samples = set->min_samples;
    t->on = false;
    t->pending = 0;
    return 0;
}
