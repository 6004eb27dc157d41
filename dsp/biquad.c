#include "biquad.h"

#include <complex.h>
#include <errno.h>
#include <math.h>

const biquad_settings_t biquad_default = {
    .type = BIQUAD_LOWPASS,
    .fs_hz = 1000.0,
    .f0_hz = 50.0,
    .q = 0.70710678118654752,
};

int biquad_init(biquad_t *bq, const biquad_settings_t *set)
{
    if (!(set->fs_hz > 0.0) || !(set->f0_hz > 0.0) || !(set->f0_hz < 0.5 * set->fs_hz) ||
        !(set->q > 0.0))
        return -EINVAL;

    /* Robert Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter
     * coefficients", with the band-pass of constant 0 dB peak gain. */
    double w0 = 2.0 * M_PI * set->f0_hz / set->fs_hz;
    double cw = cos(w0);
    double alpha = sin(w0) / (2.0 * set->q);
    double b0, b1, b2;
    double a0 = 1.0 + alpha, a1 = -2.0 * cw, a2 = 1.0 - alpha;
    switch (set->type) {
    case BIQUAD_LOWPASS:
        b0 = (1.0 - cw) / 2.0;
        b1 = 1.0 - cw;
        b2 = b0;
        break;
    case BIQUAD_HIGHPASS:
        b0 = (1.0 + cw) / 2.0;
        b1 = -(1.0 + cw);
        b2 = b0;
        break;
    case BIQUAD_BANDPASS:
        b0 = alpha;
        b1 = 0.0;
        b2 = -alpha;
        break;
    case BIQUAD_NOTCH:
        b0 = 1.0;
        b1 = -2.0 * cw;
        b2 = 1.0;
        break;
    default:
        return -EINVAL;
    }
    bq->b0 = b0 / a0;
    bq->b1 = b1 / a0;
    bq->b2 = b2 / a0;
    bq->a1 = a1 / a0;
    bq->a2 = a2 / a0;
    biquad_reset(bq);
    return 0;
}

void biquad_reset(biquad_t *bq)
{
    bq->s1 = 0.0;
    bq->s2 = 0.0;
}

double biquad_magnitude(const biquad_t *bq, double f_hz, double fs_hz)
{
    double complex z1 = cexp(-I * 2.0 * M_PI * f_hz / fs_hz); /* z^-1 */
    double complex z2 = z1 * z1;
    double complex num = bq->b0 + bq->b1 * z1 + bq->b2 * z2;
    double complex den = 1.0 + bq->a1 * z1 + bq->a2 * z2;
    return cabs(num / den);
}

void biquad_cascade_init(biquad_cascade_t *c)
{
    c->n_sections = 0;
}

int biquad_cascade_add(biquad_cascade_t *c, const biquad_settings_t *set)
{
    if (c->n_sections >= BIQUAD_MAX_SECTIONS)
        return -ENOSPC;
    int rc = biquad_init(&c->section[c->n_sections], set);
    if (rc < 0)
        return rc;
    c->n_sections++;
    return 0;
}

int biquad_cascade_butterworth(biquad_cascade_t *c, biquad_type_t type, double fs_hz, double fc_hz,
                               int order)
{
    if ((type != BIQUAD_LOWPASS && type != BIQUAD_HIGHPASS) || order < 2 || order > 8 ||
        order % 2 != 0)
        return -EINVAL;
    if (c->n_sections + order / 2 > BIQUAD_MAX_SECTIONS)
        return -ENOSPC;
    int first = c->n_sections;
    for (int k = 1; k <= order / 2; k++) {
        /* The k-th conjugate pole pair of an analog Butterworth filter sits
         * at angle (2k-1) pi / (2 order) from the imaginary axis; the
         * bilinear transform in the cookbook pre-warps f0, so the corner
         * stays exactly at fc. */
        biquad_settings_t set = {
            .type = type,
            .fs_hz = fs_hz,
            .f0_hz = fc_hz,
            .q = 1.0 / (2.0 * sin((2.0 * k - 1.0) * M_PI / (2.0 * order))),
        };
        int rc = biquad_cascade_add(c, &set);
        if (rc < 0) {
            c->n_sections = first;
            return rc;
        }
    }
    return 0;
}

void biquad_cascade_reset(biquad_cascade_t *c)
{
    for (int i = 0; i < c->n_sections; i++)
        biquad_reset(&c->section[i]);
}

double biquad_delay_dc(const biquad_t *bq)
{
    double b_sum = bq->b0 + bq->b1 + bq->b2, a_sum = 1.0 + bq->a1 + bq->a2;
    if (b_sum == 0.0 || a_sum == 0.0)
        return NAN;
    return (bq->b1 + 2.0 * bq->b2) / b_sum - (bq->a1 + 2.0 * bq->a2) / a_sum;
}

double biquad_cascade_delay_dc(const biquad_cascade_t *c)
{
    double d = 0.0;
    for (int i = 0; i < c->n_sections; i++)
        d += biquad_delay_dc(&c->section[i]);
    return d;
}

double biquad_cascade_magnitude(const biquad_cascade_t *c, double f_hz, double fs_hz)
{
    double m = 1.0;
    for (int i = 0; i < c->n_sections; i++)
        m *= biquad_magnitude(&c->section[i], f_hz, fs_hz);
    return m;
}
