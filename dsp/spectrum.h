/* spectrum: measures on a one-sided power spectrum (as stft_power gives):
 * band power, median frequency, peak frequency and spectral centroid.
 *
 * Model. Bin k holds the power of the interval [(k - 1/2) df, (k + 1/2) df]
 * clipped to [0, fs/2] (so bin 0 covers [0, df/2] and the last bin
 * [fs/2 - df/2, fs/2]), spread uniformly over it. A band [f_lo, f_hi] takes
 * from each bin the fraction of that interval it overlaps. Every measure
 * below uses this one model, so they agree with each other: the band power
 * of [0, fs/2] is the total power, the median splits the band power exactly
 * in half (interpolated linearly inside the bin where it falls) and the
 * centroid is the mean frequency of the piecewise-uniform density.
 *
 * A spectrum_band_t precomputes which bins a band touches and their
 * weights once, so the per-frame measures do no division by a setting.
 * All functions are pure; a band may be shared read-only between threads.
 */
#ifndef MASSAGED_SPECTRUM_H
#define MASSAGED_SPECTRUM_H

#include <stddef.h>

typedef struct {
    double f_lo_hz; /* lower edge, hertz, >= 0 */
    double f_hi_hz; /* upper edge, hertz, > f_lo_hz (clipped to fs/2) */
} spectrum_band_settings_t;

/* The mechanomyographic band of a muscle under the ball: 5..50 Hz. */
extern const spectrum_band_settings_t spectrum_band_default;

typedef struct {
    /* Read-only for the caller. */
    int n_bins;     /* bins of the spectra this band applies to */
    double bin_hz;  /* their spacing, hertz */
    double f_lo_hz; /* band edges after clipping to [0, fs/2] */
    double f_hi_hz;
    int k_first; /* first and last bin the band overlaps */
    int k_last;
    /* Overlap of the band with bin k's interval, for the first and last
     * bins (those in between are whole): [lo, hi] in hertz and the fraction
     * of the bin's power it carries. */
    double first_lo_hz, first_hi_hz, first_weight;
    double last_lo_hz, last_hi_hz, last_weight;
} spectrum_band_t;

/* Prepares a band for spectra of n_bins bins spaced bin_hz apart (an
 * n_fft-point transform has n_bins = n_fft/2 + 1, bin_hz = fs/n_fft).
 * Returns 0, or -EINVAL if n_bins < 2, bin_hz <= 0, f_lo < 0 or the band
 * is empty after clipping to [0, (n_bins-1) bin_hz]. */
int spectrum_band_init(spectrum_band_t *b, const spectrum_band_settings_t *set, int n_bins,
                       double bin_hz);

/* Power within the band, in the spectrum's units (input units squared). */
double spectrum_band_power(const spectrum_band_t *b, const float *power);

/* Frequency in hertz that splits the band's power in half. Returns 0 and
 * sets *median_hz, or -ENODATA if the band holds no power. */
int spectrum_median_hz(const spectrum_band_t *b, const float *power, double *median_hz);

/* Power-weighted mean frequency of the band in hertz. Returns 0, or
 * -ENODATA if the band holds no power. */
int spectrum_centroid_hz(const spectrum_band_t *b, const float *power, double *centroid_hz);

/* Strongest bin whose centre lies in the band, refined by fitting a
 * parabola to the logarithm of its power and its two neighbours' (exact
 * for a Gaussian peak, and within about 0.02 bin for a Hann-windowed sine;
 * plain power is used where a neighbour is zero). Sets *peak_hz and, if
 * peak_power is not NULL, *peak_power to the largest bin's power. Returns
 * 0, or -ENODATA if no bin centre lies in the band or all are zero. */
int spectrum_peak(const spectrum_band_t *b, const float *power, double *peak_hz,
                  double *peak_power);

#endif
