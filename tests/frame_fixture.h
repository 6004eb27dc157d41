/* frame_fixture: one frame of each wire type (../shared/spec/protocol.md),
 * with values that exercise the codec (extremes of the sample fields, a
 * negative scale and temperature), for test_frame's checks and for the frame
 * fuzzer's seed corpus (fuzz/fuzz_frame.c), so that both start from the same
 * frames. Header-only: each includer gets its own static copies. */
#ifndef MASSAGED_FRAME_FIXTURE_H
#define MASSAGED_FRAME_FIXTURE_H

#include "frame.h"

#include <stdint.h>
#include <string.h>

/* A frame of type with its header set and every other field zero. */
static inline frame_t frame_header(uint8_t type, uint16_t seq, uint32_t t_us)
{
    frame_t f;
    memset(&f, 0, sizeof f);
    f.type = type;
    f.seq = seq;
    f.t_us = t_us;
    return f;
}

static inline frame_t make_hello(uint16_t seq, uint32_t t_us)
{
    frame_t f = frame_header(FRAME_HELLO, seq, t_us);
    f.u.hello.kind = DEVICE_KIND_BALL;
    f.u.hello.fw_major = 2;
    f.u.hello.fw_minor = 7;
    strcpy(f.u.hello.serial, "MB-000123");
    f.u.hello.rate_hz = 1000;
    f.u.hello.p_scale = 0.25f;
    f.u.hello.acc_scale = 1.0f / 4096.0f;
    f.u.hello.gyr_scale = -0.061f;
    return f;
}

/* count samples (at most FRAME_MAX_SAMPLES); the first carries the
 * extremes of its fields. */
static inline frame_t make_samples(uint16_t seq, uint32_t t_us, unsigned count)
{
    frame_t f = frame_header(FRAME_SAMPLES, seq, t_us);
    f.u.samples.count = (uint8_t)count;
    for (unsigned i = 0; i < count; i++) {
        frame_sample_t *s = &f.u.samples.s[i];
        s->p = 101325 * 4 + (int32_t)(i * 37) - (int32_t)seq;
        for (int a = 0; a < 3; a++) {
            s->acc[a] = (int16_t)((int)(i * 1000) - 16000 + a * 7 - seq);
            s->gyr[a] = (int16_t)(-(int)(i * 3) + a * 1000);
        }
    }
    f.u.samples.s[0].p = INT32_MIN;
    f.u.samples.s[0].acc[0] = INT16_MIN;
    f.u.samples.s[0].gyr[2] = INT16_MAX;
    return f;
}

static inline frame_t make_status(uint16_t seq, uint32_t t_us)
{
    frame_t f = frame_header(FRAME_STATUS, seq, t_us);
    f.u.status.battery_mv = 3987;
    f.u.status.temperature_centi_c = -1234;
    f.u.status.flags = 0x5;
    return f;
}

static inline frame_t make_button(uint16_t seq, uint32_t t_us, uint8_t pressed)
{
    frame_t f = frame_header(FRAME_BUTTON, seq, t_us);
    f.u.button = pressed;
    return f;
}

#endif
