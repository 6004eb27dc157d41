#include "sim_device.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void sim_device_init(sim_device_t *d, uint8_t kind, uint16_t rate_hz, const char *serial)
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->rate_hz = rate_hz;
    const device_kind_info_t *info = device_kind_info((device_kind_t)kind);
    d->p_scale = info->p_scale;
    d->acc_scale = info->acc_scale;
    d->gyr_scale = info->gyr_scale;
    snprintf(d->serial, sizeof d->serial, "%s", serial);
    d->inv_p = 1.0 / d->p_scale;
    d->inv_acc = 1.0 / d->acc_scale;
    d->inv_gyr = 1.0 / d->gyr_scale;
}

/* v in LSB (v * inv_scale), rounded to the nearest and held in [lo, hi], as
 * a sensor's converter saturates. */
static double quantize(double v, double inv_scale, double lo, double hi)
{
    double x = nearbyint(v * inv_scale);
    if (!(x > lo))
        return lo;
    return x > hi ? hi : x;
}

int16_t sim_device_quantize16(double v, double inv_scale)
{
    return (int16_t)quantize(v, inv_scale, INT16_MIN, INT16_MAX);
}

int32_t sim_device_quantize32(double v, double inv_scale)
{
    return (int32_t)quantize(v, inv_scale, INT32_MIN, INT32_MAX);
}

void sim_device_hello(const sim_device_t *d, uint32_t t_us, frame_t *f)
{
    memset(f, 0, sizeof *f);
    f->type = FRAME_HELLO;
    f->t_us = t_us;
    frame_hello_t *h = &f->u.hello;
    h->kind = d->kind;
    h->fw_major = SIM_DEVICE_FW_MAJOR;
    h->fw_minor = SIM_DEVICE_FW_MINOR;
    memcpy(h->serial, d->serial, sizeof h->serial);
    h->rate_hz = d->rate_hz;
    h->p_scale = d->p_scale;
    h->acc_scale = d->acc_scale;
    h->gyr_scale = d->gyr_scale;
}

void sim_device_samples(const sim_device_t *d, uint32_t t_us, const sample_t *s, unsigned n,
                        frame_t *f)
{
    f->type = FRAME_SAMPLES;
    f->t_us = t_us;
    f->u.samples.count = (uint8_t)n;
    for (unsigned i = 0; i < n; i++) {
        frame_sample_t *q = &f->u.samples.s[i];
        q->p = sim_device_quantize32(s[i].p, d->inv_p);
        for (int a = 0; a < 3; a++) {
            q->acc[a] = sim_device_quantize16(s[i].acc[a], d->inv_acc);
            q->gyr[a] = sim_device_quantize16(s[i].gyr[a], d->inv_gyr);
        }
    }
}

void sim_device_button(uint32_t t_us, int pressed, frame_t *f)
{
    memset(f, 0, sizeof *f);
    f->type = FRAME_BUTTON;
    f->t_us = t_us;
    f->u.button = pressed ? 1 : 0;
}
