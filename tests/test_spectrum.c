/* test_spectrum: band measures on synthetic spectra with known answers,
 * then on band-limited noise through the STFT. */
#include "check.h"
#include "test_random.h"

#include "biquad.h"
#include "spectrum.h"
#include "stft.h"

#include <errno.h>
#include <stdint.h>


static spectrum_band_t make_band(double lo, double hi, int n_bins, double bin_hz)
{
    spectrum_band_t b;
    spectrum_band_settings_t set = {.f_lo_hz = lo, .f_hi_hz = hi};
    int rc = spectrum_band_init(&b, &set, n_bins, bin_hz);
    CHECK_EQ_INT(rc, 0);
    return b;
}

static void test_synthetic(void)
{
    enum { N = 17 }; /* a 32-point transform */
    const double df = 1.0;
    float flat[N];
    for (int k = 0; k < N; k++)
        flat[k] = 1.0f;
    /* Bin 0 and bin 16 span half a bin each: a flat PSD has half power
     * there. */
    flat[0] = flat[N - 1] = 0.5f;

    /* The whole range holds all power; a flat density gives width * 1. */
    spectrum_band_t all = make_band(0.0, 16.0, N, df);
    CHECK_NEAR(spectrum_band_power(&all, flat), 16.0, 1e-9);
    /* Bands of the flat density: their bins, power, median and centroid
     * (NAN: not checked). */
    static const struct {
        double lo_hz, hi_hz;
        int k_first, k_last;
        double power, median_hz, centroid_hz;
    } cases[] = {
        {2.25, 7.75, 2, 8, 5.5, 5.0, 5.0},
        {4.6, 4.9, 5, 5, 0.3, 4.75, NAN}, /* inside one bin */
        {2.5, 5.5, 3, 5, 3.0, NAN, NAN},  /* edges on bin boundaries touch no extra bin */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spectrum_band_t b = make_band(cases[i].lo_hz, cases[i].hi_hz, N, df);
        CHECK_EQ_INT(b.k_first, cases[i].k_first);
        CHECK_EQ_INT(b.k_last, cases[i].k_last);
        CHECK_NEAR(spectrum_band_power(&b, flat), cases[i].power, 1e-9);
        double f;
        if (!isnan(cases[i].median_hz)) {
            CHECK_EQ_INT(spectrum_median_hz(&b, flat, &f), 0);
            CHECK_NEAR(f, cases[i].median_hz, 1e-9);
        }
        if (!isnan(cases[i].centroid_hz)) {
            CHECK_EQ_INT(spectrum_centroid_hz(&b, flat, &f), 0);
            CHECK_NEAR(f, cases[i].centroid_hz, 1e-9);
        }
    }

    /* Band powers add up over adjacent bands with fractional edges. */
    float ramp[N];
    for (int k = 0; k < N; k++)
        ramp[k] = (float)(k * k % 7 + 1);
    double parts = 0.0;
    const double edges[] = {0.0, 1.3, 3.7, 3.9, 8.5, 12.01, 16.0};
    for (int i = 0; i < 6; i++) {
        spectrum_band_t p = make_band(edges[i], edges[i + 1], N, df);
        parts += spectrum_band_power(&p, ramp);
    }
    CHECK_NEAR(parts, spectrum_band_power(&all, ramp), 1e-6);

    /* Median: all power in bins 3 and 9, equal: the half is reached at the
     * top of bin 3. Unequal: interpolated inside the bin. */
    float two[N] = {0};
    two[3] = 1.0f;
    two[9] = 1.0f;
    spectrum_band_t b = make_band(0.0, 16.0, N, df);
    double f;
    CHECK_EQ_INT(spectrum_median_hz(&b, two, &f), 0);
    CHECK_NEAR(f, 3.5, 1e-9);
    CHECK_EQ_INT(spectrum_centroid_hz(&b, two, &f), 0);
    CHECK_NEAR(f, 6.0, 1e-9);
    two[9] = 3.0f; /* half = 2: 1 from bin 3, then a third of bin 9 */
    CHECK_EQ_INT(spectrum_median_hz(&b, two, &f), 0);
    CHECK_NEAR(f, 8.5 + 1.0 / 3.0, 1e-9);
    CHECK_EQ_INT(spectrum_centroid_hz(&b, two, &f), 0);
    CHECK_NEAR(f, (3.0 + 27.0) / 4.0, 1e-9);

    /* Empty band power. */
    float zero[N] = {0};
    CHECK_EQ_INT(spectrum_median_hz(&b, zero, &f), -ENODATA);
    CHECK_EQ_INT(spectrum_centroid_hz(&b, zero, &f), -ENODATA);
    CHECK_EQ_INT(spectrum_peak(&b, zero, &f, NULL), -ENODATA);

    /* Peak of a sampled Gaussian: log-parabolic interpolation is exact. */
    float gauss[N];
    const double centre = 6.3, width = 1.2;
    for (int k = 0; k < N; k++)
        gauss[k] = (float)exp(-0.5 * (k - centre) * (k - centre) / (width * width));
    double pk_power;
    CHECK_EQ_INT(spectrum_peak(&b, gauss, &f, &pk_power), 0);
    CHECK_NEAR(f, centre, 1e-4);
    CHECK_NEAR(pk_power, gauss[6], 1e-9);
    /* A band that excludes the global peak finds the local one. */
    spectrum_band_t hi_band = make_band(9.5, 16.0, N, df);
    CHECK_EQ_INT(spectrum_peak(&hi_band, gauss, &f, NULL), 0);
    CHECK_NEAR(f, 10.0, 0.51);

    spectrum_band_settings_t bad = {.f_lo_hz = 20.0, .f_hi_hz = 10.0};
    CHECK_EQ_INT(spectrum_band_init(&b, &bad, N, df), -EINVAL);
    bad.f_lo_hz = 16.5;
    bad.f_hi_hz = 20.0; /* entirely above Nyquist */
    CHECK_EQ_INT(spectrum_band_init(&b, &bad, N, df), -EINVAL);
}

static void test_sine_peak(void)
{
    /* Off-bin sines through the Hann STFT: peak within 0.05 bin. */
    stft_t s;
    CHECK_EQ_INT(stft_alloc(&s, &stft_default), 0);
    spectrum_band_t b = make_band(5.0, 50.0, s.n_bins, s.bin_hz);
    const double freqs[] = {7.3, 12.0, 18.81, 25.4, 33.33, 47.0};
    for (int i = 0; i < 6; i++) {
        stft_reset(&s);
        for (int n = 0; n < 256; n++)
            stft_push(&s, (float)sin(2.0 * M_PI * freqs[i] * n / 1000.0 + 0.7));
        double f;
        CHECK_EQ_INT(spectrum_peak(&b, stft_power(&s), &f, NULL), 0);
        CHECK_NEAR(f, freqs[i], 0.05 * s.bin_hz);
    }
    stft_free(&s);
}

static void test_band_noise(uint64_t seed)
{
    /* White noise band-limited to 15..35 Hz by Butterworth filters of
     * order 8: the band's median and centroid sit at the centre, 25 Hz,
     * and the 5..50 Hz band holds the filtered signal's power. */
    test_random_seed(seed);
    biquad_cascade_t bp;
    biquad_cascade_init(&bp);
    CHECK_EQ_INT(biquad_cascade_butterworth(&bp, BIQUAD_HIGHPASS, 1000.0, 15.0, 8), 0);
    CHECK_EQ_INT(biquad_cascade_butterworth(&bp, BIQUAD_LOWPASS, 1000.0, 35.0, 8), 0);
    stft_settings_t set = stft_default;
    set.n_fft = 512;
    set.hop = 256;
    stft_t s;
    CHECK_EQ_INT(stft_alloc(&s, &set), 0);
    spectrum_band_t mmg = make_band(5.0, 50.0, s.n_bins, s.bin_hz);
    spectrum_band_t all = make_band(0.0, 500.0, s.n_bins, s.bin_hz);

    double avg[257] = {0};
    double signal_power = 0.0;
    int frames = 0;
    const int n = 120000;
    for (int i = 0; i < n; i++) {
        float y = biquad_cascade_step(&bp, (float)gaussian());
        if (i < 2000)
            continue; /* filter start-up */
        signal_power += (double)y * y;
        if (stft_push(&s, y)) {
            for (int k = 0; k < s.n_bins; k++)
                avg[k] += stft_power(&s)[k];
            frames++;
        }
    }
    signal_power /= n - 2000;
    float spectrum[257];
    for (int k = 0; k < s.n_bins; k++)
        spectrum[k] = (float)(avg[k] / frames);
    double median, centroid, band = spectrum_band_power(&mmg, spectrum);
    CHECK_EQ_INT(spectrum_median_hz(&mmg, spectrum, &median), 0);
    CHECK_EQ_INT(spectrum_centroid_hz(&mmg, spectrum, &centroid), 0);
    fprintf(stderr,
            "band-limited noise: %d frames, median %.2f Hz, centroid %.2f Hz, "
            "band power %.5f of total %.5f (time domain %.5f)\n",
            frames, median, centroid, band, spectrum_band_power(&all, spectrum), signal_power);
    CHECK_NEAR(median, 25.0, 1.0);
    CHECK_NEAR(centroid, 25.0, 1.0);
    CHECK_NEAR(band, signal_power, 0.05 * signal_power);
    CHECK(band > 0.99 * spectrum_band_power(&all, spectrum));
    stft_free(&s);
}

int main(int argc, char **argv)
{
    uint64_t seed = test_seed(argc, argv, 20240611);
    test_synthetic();
    test_sine_peak();
    test_band_noise(seed ? seed : 1);
    return CHECK_DONE();
}
