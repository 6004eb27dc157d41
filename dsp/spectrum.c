#include "spectrum.h"

#include <errno.h>
#include <math.h>

const spectrum_band_settings_t spectrum_band_default = {.f_lo_hz = 5.0, .f_hi_hz = 50.0};

/* Interval of bin k under the model in the header. */
static void bin_interval(int k, int n_bins, double bin_hz, double *lo, double *hi)
{
    *lo = k == 0 ? 0.0 : (k - 0.5) * bin_hz;
    *hi = k == n_bins - 1 ? k * bin_hz : (k + 0.5) * bin_hz;
}

int spectrum_band_init(spectrum_band_t *b, const spectrum_band_settings_t *set, int n_bins,
                       double bin_hz)
{
    if (n_bins < 2 || !(bin_hz > 0.0) || !(set->f_lo_hz >= 0.0))
        return -EINVAL;
    double nyquist = (n_bins - 1) * bin_hz;
    double lo = set->f_lo_hz, hi = set->f_hi_hz < nyquist ? set->f_hi_hz : nyquist;
    if (!(hi > lo))
        return -EINVAL;

    b->n_bins = n_bins;
    b->bin_hz = bin_hz;
    b->f_lo_hz = lo;
    b->f_hi_hz = hi;
    /* Bin k's interval ends at (k + 1/2) df, so lo falls in bin
     * round(lo / df); at an exact boundary the band starts in the upper
     * bin, and it ends in the lower one, so no bin is touched by zero
     * width. */
    int k_first = (int)floor(lo / bin_hz + 0.5);
    int k_last = (int)ceil(hi / bin_hz - 0.5);
    if (k_first > n_bins - 1)
        k_first = n_bins - 1;
    if (k_last > n_bins - 1)
        k_last = n_bins - 1;
    if (k_last < k_first)
        k_last = k_first;
    b->k_first = k_first;
    b->k_last = k_last;

    double blo, bhi;
    bin_interval(k_first, n_bins, bin_hz, &blo, &bhi);
    b->first_lo_hz = lo > blo ? lo : blo;
    b->first_hi_hz = hi < bhi ? hi : bhi;
    b->first_weight = (b->first_hi_hz - b->first_lo_hz) / (bhi - blo);
    bin_interval(k_last, n_bins, bin_hz, &blo, &bhi);
    b->last_lo_hz = lo > blo ? lo : blo;
    b->last_hi_hz = hi < bhi ? hi : bhi;
    b->last_weight = (b->last_hi_hz - b->last_lo_hz) / (bhi - blo);
    return 0;
}

/* The part of bin k inside the band: its power and frequency interval. */
static double band_part(const spectrum_band_t *b, const float *power, int k, double *lo, double *hi)
{
    if (k == b->k_first) {
        *lo = b->first_lo_hz;
        *hi = b->first_hi_hz;
        return b->first_weight * power[k];
    }
    if (k == b->k_last) {
        *lo = b->last_lo_hz;
        *hi = b->last_hi_hz;
        return b->last_weight * power[k];
    }
    *lo = (k - 0.5) * b->bin_hz;
    *hi = (k + 0.5) * b->bin_hz;
    return power[k];
}

double spectrum_band_power(const spectrum_band_t *b, const float *power)
{
    if (b->k_first == b->k_last)
        return b->first_weight * power[b->k_first];
    double sum = 0.0;
    for (int k = b->k_first + 1; k < b->k_last; k++)
        sum += power[k];
    return sum + b->first_weight * power[b->k_first] + b->last_weight * power[b->k_last];
}

int spectrum_median_hz(const spectrum_band_t *b, const float *power, double *median_hz)
{
    double total = spectrum_band_power(b, power);
    if (!(total > 0.0))
        return -ENODATA;
    double half = 0.5 * total, cum = 0.0;
    for (int k = b->k_first; k <= b->k_last; k++) {
        double lo, hi;
        double part = band_part(b, power, k, &lo, &hi);
        if (part > 0.0 && cum + part >= half) {
            *median_hz = lo + (half - cum) / part * (hi - lo);
            return 0;
        }
        cum += part;
    }
    /* Rounding left the half a hair above the sum: the band's top. */
    *median_hz = b->f_hi_hz;
    return 0;
}

int spectrum_centroid_hz(const spectrum_band_t *b, const float *power, double *centroid_hz)
{
    double total = 0.0, moment = 0.0;
    for (int k = b->k_first; k <= b->k_last; k++) {
        double lo, hi;
        double part = band_part(b, power, k, &lo, &hi);
        total += part;
        moment += part * 0.5 * (lo + hi);
    }
    if (!(total > 0.0))
        return -ENODATA;
    *centroid_hz = moment / total;
    return 0;
}

int spectrum_peak(const spectrum_band_t *b, const float *power, double *peak_hz, double *peak_power)
{
    /* Only bins whose centre is inside the band compete. */
    int k0 = (int)ceil(b->f_lo_hz / b->bin_hz);
    int k1 = (int)floor(b->f_hi_hz / b->bin_hz);
    if (k1 > b->n_bins - 1)
        k1 = b->n_bins - 1;
    if (k1 < k0)
        return -ENODATA;
    int best = k0;
    for (int k = k0 + 1; k <= k1; k++)
        if (power[k] > power[best])
            best = k;
    if (!(power[best] > 0.0f))
        return -ENODATA;

    double offset = 0.0;
    if (best > 0 && best < b->n_bins - 1) {
        double l = power[best - 1], c = power[best], r = power[best + 1];
        if (l > 0.0 && r > 0.0) {
            l = log(l);
            c = log(c);
            r = log(r);
        }
        double denom = l - 2.0 * c + r;
        if (denom < 0.0)
            offset = 0.5 * (l - r) / denom;
        if (offset > 0.5)
            offset = 0.5;
        else if (offset < -0.5)
            offset = -0.5;
    }
    *peak_hz = (best + offset) * b->bin_hz;
    if (peak_power)
        *peak_power = power[best];
    return 0;
}
