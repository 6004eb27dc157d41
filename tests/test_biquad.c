/* test_biquad: RBJ sections and Butterworth cascades measured by running
 * sines through them and compared with the analytic response. */
#include "check.h"
#include "test_random.h"

#include "biquad.h"

#include <errno.h>
#include <stdint.h>

static const double fs = 1000.0;

/* Gain of the cascade for a sine at f_hz, measured as the RMS ratio after
 * the transient has died out (settle seconds), over a whole number of
 * periods. */
static double measured_gain(biquad_cascade_t *c, double f_hz, double settle_s)
{
    biquad_cascade_reset(c);
    long settle = (long)(settle_s * fs);
    double period = fs / f_hz;
    long periods = (long)(2.0 * fs / period) + 1; /* about 2 s of signal */
    long n = (long)floor(periods * period + 0.5);
    double sum_in = 0.0, sum_out = 0.0;
    for (long i = 0; i < settle + n; i++) {
        double x = sin(2.0 * M_PI * f_hz * (double)i / fs);
        float y = biquad_cascade_step(c, (float)x);
        if (i >= settle) {
            sum_in += x * x;
            sum_out += (double)y * y;
        }
    }
    return sqrt(sum_out / sum_in);
}

static void check_response(biquad_cascade_t *c, const double *freqs, int n, double settle_s)
{
    for (int i = 0; i < n; i++) {
        double analytic = biquad_cascade_magnitude(c, freqs[i], fs);
        double measured = measured_gain(c, freqs[i], settle_s);
        /* 1 % of the value or 1e-4 absolute for deep stopbands. */
        double tol = 0.01 * analytic + 1e-4;
        if (fabs(measured - analytic) > tol)
            fprintf(stderr, "  f = %g Hz: measured %g, analytic %g\n", freqs[i], measured,
                    analytic);
        CHECK_NEAR(measured, analytic, tol);
    }
}

static void test_sections(void)
{
    biquad_settings_t set = biquad_default;
    biquad_cascade_t c;
    const double freqs[] = {0.5, 5.0, 20.0, 45.0, 50.0, 55.0, 100.0, 200.0, 400.0};

    /* Low-pass: unity at DC, -3 dB at f0 for Q = 1/sqrt2, then -40 dB/decade. */
    biquad_cascade_init(&c);
    CHECK_EQ_INT(biquad_cascade_add(&c, &set), 0);
    CHECK_NEAR(biquad_cascade_magnitude(&c, 0.0, fs), 1.0, 1e-12);
    CHECK_NEAR(biquad_cascade_magnitude(&c, 50.0, fs), M_SQRT1_2, 1e-9);
    CHECK(biquad_cascade_magnitude(&c, 400.0, fs) < 0.02);
    check_response(&c, freqs, (int)(sizeof freqs / sizeof freqs[0]), 0.5);

    /* DC gain measured with a step. */
    biquad_cascade_reset(&c);
    float y = 0.0f;
    for (int i = 0; i < 2000; i++)
        y = biquad_cascade_step(&c, 1.0f);
    CHECK_NEAR(y, 1.0, 1e-5);

    /* High-pass: zero at DC, -3 dB at f0. */
    set.type = BIQUAD_HIGHPASS;
    biquad_cascade_init(&c);
    CHECK_EQ_INT(biquad_cascade_add(&c, &set), 0);
    CHECK_NEAR(biquad_cascade_magnitude(&c, 0.0, fs), 0.0, 1e-12);
    CHECK_NEAR(biquad_cascade_magnitude(&c, 50.0, fs), M_SQRT1_2, 1e-9);
    CHECK_NEAR(biquad_cascade_magnitude(&c, 499.9, fs), 1.0, 1e-3);
    check_response(&c, freqs, (int)(sizeof freqs / sizeof freqs[0]), 0.5);
    biquad_cascade_reset(&c);
    for (int i = 0; i < 2000; i++)
        y = biquad_cascade_step(&c, 1.0f);
    CHECK_NEAR(y, 0.0, 1e-5);

    /* Band-pass: 0 dB peak at f0, -3 dB at the edges of bandwidth f0/Q. */
    set.type = BIQUAD_BANDPASS;
    set.f0_hz = 20.0;
    set.q = 2.0;
    biquad_cascade_init(&c);
    CHECK_EQ_INT(biquad_cascade_add(&c, &set), 0);
    CHECK_NEAR(biquad_cascade_magnitude(&c, 20.0, fs), 1.0, 1e-9);
    CHECK_NEAR(measured_gain(&c, 20.0, 1.0), 1.0, 0.01);
    check_response(&c, freqs, (int)(sizeof freqs / sizeof freqs[0]), 1.0);

    /* Notch: removes 50 Hz mains hum, leaves the rest. */
    set.type = BIQUAD_NOTCH;
    set.f0_hz = 50.0;
    set.q = 10.0;
    biquad_cascade_init(&c);
    CHECK_EQ_INT(biquad_cascade_add(&c, &set), 0);
    CHECK(measured_gain(&c, 50.0, 1.0) < 0.01);
    CHECK_NEAR(measured_gain(&c, 20.0, 1.0), 1.0, 0.01);
    CHECK_NEAR(measured_gain(&c, 100.0, 1.0), 1.0, 0.01);
    check_response(&c, freqs, (int)(sizeof freqs / sizeof freqs[0]), 1.0);
}

static void test_butterworth(void)
{
    biquad_cascade_t c;
    const double freqs[] = {1.0, 10.0, 30.0, 50.0, 70.0, 100.0, 150.0, 300.0};

    for (int order = 2; order <= 4; order += 2) {
        biquad_cascade_init(&c);
        CHECK_EQ_INT(biquad_cascade_butterworth(&c, BIQUAD_LOWPASS, fs, 50.0, order), 0);
        CHECK_EQ_INT(c.n_sections, order / 2);
        /* Maximally flat: |H|^2 = 1 / (1 + (f/fc)^(2n)) for the analog
         * prototype; the bilinear transform keeps -3 dB exactly at fc and
         * is close to the prototype well below fs/2. */
        CHECK_NEAR(biquad_cascade_magnitude(&c, 50.0, fs), M_SQRT1_2, 1e-9);
        CHECK_NEAR(biquad_cascade_magnitude(&c, 10.0, fs), 1.0 / sqrt(1.0 + pow(0.2, 2 * order)),
                   1e-3);
        CHECK_NEAR(measured_gain(&c, 50.0, 1.0), M_SQRT1_2, 0.01);
        /* One octave up: about -12 dB per order/2 sections. */
        double g100 = measured_gain(&c, 100.0, 1.0);
        CHECK(20.0 * log10(g100) < -6.0 * order + 1.0);
        check_response(&c, freqs, (int)(sizeof freqs / sizeof freqs[0]), 1.0);
    }

    /* Rocking band 0.3 .. 3 Hz: order-4 high-pass then order-4 low-pass.
     * The 0.3 Hz corner puts poles 0.002 from z = 1, the case double
     * coefficients are for. */
    biquad_cascade_init(&c);
    CHECK_EQ_INT(biquad_cascade_butterworth(&c, BIQUAD_HIGHPASS, fs, 0.3, 4), 0);
    CHECK_EQ_INT(biquad_cascade_butterworth(&c, BIQUAD_LOWPASS, fs, 3.0, 4), 0);
    CHECK_EQ_INT(c.n_sections, 4);
    double centre = measured_gain(&c, 1.0, 20.0);
    CHECK_NEAR(centre, biquad_cascade_magnitude(&c, 1.0, fs), 0.01);
    CHECK(centre > 0.95);
    CHECK(measured_gain(&c, 10.0, 20.0) < 0.01);
    CHECK(measured_gain(&c, 0.05, 60.0) < 0.01);
    /* DC is blocked. */
    biquad_cascade_reset(&c);
    float y = 1.0f;
    for (int i = 0; i < 120000; i++)
        y = biquad_cascade_step(&c, 1.0f);
    CHECK_NEAR(y, 0.0, 1e-4);

    CHECK_EQ_INT(biquad_cascade_butterworth(&c, BIQUAD_LOWPASS, fs, 50.0, 3), -EINVAL);
    CHECK_EQ_INT(biquad_cascade_butterworth(&c, BIQUAD_BANDPASS, fs, 50.0, 2), -EINVAL);
    biquad_cascade_t full = c;
    CHECK_EQ_INT(biquad_cascade_butterworth(&full, BIQUAD_LOWPASS, fs, 50.0, 8), 0);
    CHECK_EQ_INT(full.n_sections, BIQUAD_MAX_SECTIONS);
    CHECK_EQ_INT(biquad_cascade_butterworth(&full, BIQUAD_LOWPASS, fs, 50.0, 2), -ENOSPC);
    CHECK_EQ_INT(full.n_sections, BIQUAD_MAX_SECTIONS);
}


static void test_impulse_and_noise(uint64_t seed)
{
    biquad_cascade_t c;
    biquad_cascade_init(&c);
    CHECK_EQ_INT(biquad_cascade_butterworth(&c, BIQUAD_HIGHPASS, fs, 5.0, 4), 0);
    CHECK_EQ_INT(biquad_cascade_butterworth(&c, BIQUAD_LOWPASS, fs, 50.0, 4), 0);

    /* A stable filter's impulse response decays: the energy of the tail
     * after 5 s is negligible, and the total energy is finite. */
    double energy = 0.0, tail = 0.0;
    for (int i = 0; i < 10000; i++) {
        double y = biquad_cascade_step(&c, i == 0 ? 1.0f : 0.0f);
        CHECK(isfinite(y));
        energy += y * y;
        if (i >= 5000)
            tail += y * y;
    }
    CHECK(energy > 0.0);
    CHECK(tail < 1e-12 * energy);

    /* White noise through the band-pass keeps about the fraction of its
     * power given by the noise bandwidth sum |H|^2 / (fs/2). */
    test_random_seed(seed ? seed : 1);
    biquad_cascade_reset(&c);
    double in_power = 0.0, out_power = 0.0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = uniform() - 0.5;
        double y = biquad_cascade_step(&c, (float)x);
        if (i >= 2000) {
            in_power += x * x;
            out_power += y * y;
        }
    }
    double nb = 0.0;
    for (int k = 1; k < 5000; k++) {
        double m = biquad_cascade_magnitude(&c, k * 0.1, fs);
        nb += m * m * 0.1;
    }
    double expected = nb / (fs / 2.0);
    double ratio = out_power / in_power;
    fprintf(stderr, "noise power ratio %.5f, expected %.5f\n", ratio, expected);
    CHECK_NEAR(ratio, expected, 0.05 * expected);
}

/* The delay at DC from the coefficients is the lag a slow ramp shows. */
static void test_delay_dc(void)
{
    biquad_cascade_t c;
    biquad_cascade_init(&c);
    CHECK_EQ_INT(biquad_cascade_butterworth(&c, BIQUAD_LOWPASS, 1000.0, 8.0, 2), 0);
    double d = biquad_cascade_delay_dc(&c), y = 0.0;
    for (int n = 0; n < 5000; n++)
        y = biquad_cascade_step(&c, (float)(n * 1e-3));
    double lag = (4999 * 1e-3 - y) / 1e-3; /* samples */
    printf("delay at DC %.3f samples, ramp lag %.3f\n", d, lag);
    CHECK_NEAR(d, lag, 0.02);
    CHECK_NEAR(d * 1e-3, 1.41421356 / (2.0 * M_PI * 8.0), 0.001); /* analog prototype */
    biquad_cascade_init(&c);
    CHECK_EQ_INT(biquad_cascade_butterworth(&c, BIQUAD_HIGHPASS, 1000.0, 5.0, 4), 0);
    CHECK(isnan(biquad_cascade_delay_dc(&c)));
}

int main(int argc, char **argv)
{
    uint64_t seed = test_seed(argc, argv, 20240611);

    biquad_t bq;
    biquad_settings_t bad = biquad_default;
    bad.f0_hz = 600.0;
    CHECK_EQ_INT(biquad_init(&bq, &bad), -EINVAL);
    bad = biquad_default;
    bad.q = 0.0;
    CHECK_EQ_INT(biquad_init(&bq, &bad), -EINVAL);

    test_sections();
    test_butterworth();
    test_delay_dc();
    test_impulse_and_noise(seed);
    return CHECK_DONE();
}
