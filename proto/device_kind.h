/* device_kind: the kinds of device the wire protocol knows
 * (../shared/spec/protocol.md, HELLO), their names in configurations,
 * topics and payloads, and what a device of each kind sends by default.
 *
 * The one place these facts live: the daemon, the simulator, the benchmarks
 * and the tests take them from here.
 */
#ifndef MASSAGED_DEVICE_KIND_H
#define MASSAGED_DEVICE_KIND_H

/* The HELLO frame's kind byte. */
typedef enum { DEVICE_KIND_BALL = 1, DEVICE_KIND_SCRAPER = 2 } device_kind_t;

/* What a device of one kind sends unless told otherwise: the firmware's
 * sample rate and frame size, and the scales its HELLO announces. */
typedef struct {
    const char *name;           /* "ball", "scraper" */
    unsigned rate_hz;           /* samples per second */
    unsigned samples_per_frame; /* samples in one SAMPLES frame */
    float p_scale;              /* pascal (ball) or newton (scraper) per LSB */
    float acc_scale;            /* g per LSB (a +-16 g range on 16 bits) */
    float gyr_scale;            /* degrees per second per LSB (+-2000 dps on 16 bits) */
} device_kind_info_t;

/* The defaults of a kind, or NULL for a value that is not a kind. */
const device_kind_info_t *device_kind_info(device_kind_t kind);

/* "ball", "scraper", or "unknown" for a value that is not a kind. */
const char *device_kind_name(device_kind_t kind);

/* The kind named `name` ("ball", "scraper") into *kind: 0, or -EINVAL. */
int device_kind_parse(const char *name, device_kind_t *kind);

#endif
