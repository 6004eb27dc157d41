/* sim_device: the firmware side of a simulated tool: turns physical samples
 * into protocol frames with the device's scales, as ../shared/spec/protocol.md
 * says. Shared by the simulator and the offline session runner so that both
 * quantise and frame exactly alike. Plain state, one owner thread.
 */
#ifndef MASSAGED_SIM_DEVICE_H
#define MASSAGED_SIM_DEVICE_H

#include "frame.h"
#include "sample.h"

#include <stdint.h>

#define SIM_DEVICE_FW_MAJOR 1
#define SIM_DEVICE_FW_MINOR 0

typedef struct {
    uint8_t kind;        /* a device_kind_t */
    uint16_t rate_hz;
    float p_scale;       /* pascal (ball) or newton (scraper) per LSB */
    float acc_scale;     /* g per LSB */
    float gyr_scale;     /* deg/s per LSB */
    char serial[FRAME_SERIAL_LEN + 1];
    double inv_p, inv_acc, inv_gyr; /* 1 / scale, precomputed */
} sim_device_t;

/* The simulated tool announces its kind's default scales (device_kind.h).
 * kind is a device_kind_t. */
void sim_device_init(sim_device_t *d, uint8_t kind, uint16_t rate_hz, const char *serial);

/* Rounds v/scale to the nearest integer, saturating at the type's range (as
 * a sensor at its rail); NaN saturates low. */
int16_t sim_device_quantize16(double v, double inv_scale);
int32_t sim_device_quantize32(double v, double inv_scale);

/* Fill *f (seq left 0 for the caller to set) with the frame at device clock t_us. */
void sim_device_hello(const sim_device_t *d, uint32_t t_us, frame_t *f);
void sim_device_samples(const sim_device_t *d, uint32_t t_us, const sample_t *s, unsigned n,
                        frame_t *f);
void sim_device_button(uint32_t t_us, int pressed, frame_t *f);

#endif
