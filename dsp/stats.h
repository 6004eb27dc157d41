/* stats: on-line statistics for adaptive thresholds.
 *
 *  - stats_ema_t: exponentially weighted mean and variance with a time
 *    constant (West's recursion; exact weighted moments, not approximate).
 *  - stats_minmax_t: minimum and maximum over a sliding window of the last
 *    W samples, O(1) amortised per sample with monotonic deques of fixed
 *    capacity in caller memory. A sliding minimum is a robust baseline for
 *    a pressure that only rises when pressed.
 *  - stats_p2_t: one quantile of the whole stream in O(1) memory (Jain and
 *    Chlamtac's P-square algorithm), e.g. the median noise floor.
 *  - stats_schmitt_t: a comparator with hysteresis.
 *
 * Each object belongs to one thread; none allocates.
 */
#ifndef MASSAGED_STATS_H
#define MASSAGED_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- exponential moving average and variance ---- */

typedef struct {
    double tau_s; /* time constant, seconds, > 0 */
    double fs_hz; /* sampling rate, hertz, > 0 */
} stats_ema_settings_t;

/* 1 s at 1 kHz. */
extern const stats_ema_settings_t stats_ema_default;

typedef struct {
    double alpha; /* weight of the newest sample: 1 - exp(-1 / (tau fs)) */
    double mean;  /* input units */
    double var;   /* input units squared */
    uint64_t n;   /* samples seen */
} stats_ema_t;

/* Precomputes alpha. Returns 0 or -EINVAL. */
int stats_ema_init(stats_ema_t *e, const stats_ema_settings_t *set);

/* Forgets the history (the next sample becomes the mean, variance 0). */
void stats_ema_reset(stats_ema_t *e);

/* Adds a sample. The first one initialises the mean, so there is no
 * start-up ramp from zero; after that sample i of n has weight
 * alpha (1 - alpha)^(n - i) and the mean and variance are the exact
 * moments under those weights. */
static inline void stats_ema_push(stats_ema_t *e, double x)
{
    if (e->n++ == 0) {
        e->mean = x;
        e->var = 0.0;
        return;
    }
    double diff = x - e->mean;
    double incr = e->alpha * diff;
    e->mean += incr;
    e->var = (1.0 - e->alpha) * (e->var + diff * incr);
}

/* Standard deviation in input units. */
double stats_ema_std(const stats_ema_t *e);

/* ---- sliding-window minimum and maximum ---- */

typedef struct {
    double window_s; /* window length, seconds, > 0 */
    double fs_hz;    /* sampling rate, hertz, > 0 */
} stats_minmax_settings_t;

/* 2 s at 1 kHz. */
extern const stats_minmax_settings_t stats_minmax_default;

typedef struct {
    float value;
    uint32_t index; /* sample number modulo 2^32 (differences stay right) */
} stats_minmax_entry_t;

typedef struct {
    /* Read-only for the caller. */
    uint32_t window; /* samples, round(window_s fs), at least 1 */
    uint32_t n;      /* samples pushed (saturates at the window) */
    float min, max;  /* over the last min(n, window) samples; NAN before the first */

    /* Private: two ring deques sharing one mask, head..tail-1 live. */
    stats_minmax_entry_t *min_q, *max_q;
    uint32_t mask;
    uint32_t min_head, min_tail, max_head, max_tail;
    uint32_t index;
} stats_minmax_t;

/* Bytes of caller memory for these settings, or 0 if invalid. */
size_t stats_minmax_mem_size(const stats_minmax_settings_t *set);

/* Sets up m using mem (aligned for a uint32_t, at least
 * stats_minmax_mem_size bytes, owned by m afterwards). Returns 0, -EINVAL
 * or -ENOMEM. */
int stats_minmax_init(stats_minmax_t *m, const stats_minmax_settings_t *set, void *mem,
                      size_t mem_len);

/* Forgets the history. */
void stats_minmax_reset(stats_minmax_t *m);

/* Adds a sample and updates m->min and m->max. */
void stats_minmax_push(stats_minmax_t *m, float x);

/* ---- P-square streaming quantile ---- */

typedef struct {
    double quantile; /* in (0, 1); 0.5 is the median */
} stats_p2_settings_t;

/* The median. */
extern const stats_p2_settings_t stats_p2_default;

typedef struct {
    double p;
    double height[5];  /* marker heights, input units */
    double pos[5];     /* marker positions, 1-based */
    double desired[5]; /* desired positions */
    double increment[5];
    uint64_t n;
} stats_p2_t;

/* Returns 0 or -EINVAL. */
int stats_p2_init(stats_p2_t *q, const stats_p2_settings_t *set);

/* Adds a sample. */
void stats_p2_push(stats_p2_t *q, double x);

/* The current estimate (exact for the first five samples; NAN before
 * any). */
double stats_p2_value(const stats_p2_t *q);

/* ---- Schmitt trigger ---- */

typedef struct {
    float on_level;       /* turns on when the input rises above this */
    float off_level;      /* turns off when the input falls below this, <= on_level */
    uint32_t min_samples; /* the condition must hold this many consecutive samples (>= 1) */
} stats_schmitt_settings_t;

/* On above 1, off below 0.5, no debounce. */
extern const stats_schmitt_settings_t stats_schmitt_default;

typedef struct {
    /* The caller may change the levels at any time (adaptive thresholds),
     * keeping off_level <= on_level. */
    float on_level, off_level;
    uint32_t min_samples;
    bool on;          /* current output */
    uint32_t pending; /* consecutive samples satisfying the switch condition */
} stats_schmitt_t;

/* Starts off. Returns 0, or -EINVAL if off_level > on_level or
 * min_samples is 0. */
int stats_schmitt_init(stats_schmitt_t *t, const stats_schmitt_settings_t *set);

/* Feeds a sample. Returns +1 when the output turned on, -1 when it turned
 * off, 0 otherwise. */
static inline int stats_schmitt_step(stats_schmitt_t *t, float x)
{
    bool want = t->on ? !(x < t->off_level) : x > t->on_level;
    if (want == t->on) {
        t->pending = 0;
        return 0;
    }
    if (++t->pending < t->min_samples)
        return 0;
    t->pending = 0;
    t->on = want;
    return want ? 1 : -1;
}

#endif
