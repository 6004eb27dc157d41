/* frame: the device wire protocol of ../shared/spec/protocol.md, version 1.
 *
 * Decoding is incremental: bytes may arrive in chunks of any size, garbage
 * between frames is counted and skipped, and reading resumes after the next
 * 0x00 delimiter. Encoding (used by the simulator and the HELLO REQUEST)
 * produces one COBS-encoded frame followed by its 0x00 delimiter.
 *
 * A decoder is plain state owned by one thread (the device's reader thread);
 * it never allocates.
 */
#ifndef MASSAGED_FRAME_H
#define MASSAGED_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_VERSION 1
#define FRAME_HEADER_LEN 8       /* type, version, seq, t_us */
#define FRAME_CRC_LEN 2
#define FRAME_MAX_DECODED 512    /* header + payload + CRC */
#define FRAME_MAX_ENCODED 520    /* COBS bytes before the delimiter */
#define FRAME_MAX_SAMPLES 30
#define FRAME_SAMPLE_LEN 16
#define FRAME_HELLO_LEN 34
#define FRAME_STATUS_LEN 6
#define FRAME_SERIAL_LEN 16

enum frame_type {
    FRAME_HELLO = 0x01,
    FRAME_SAMPLES = 0x02,
    FRAME_STATUS = 0x03,
    FRAME_BUTTON = 0x04,
    FRAME_HELLO_REQUEST = 0x81,
};

enum frame_device_kind { FRAME_KIND_BALL = 1, FRAME_KIND_SCRAPER = 2 };

/* One raw sample as the device sends it (LSB units; scales come from HELLO). */
typedef struct {
    int32_t p;
    int16_t acc[3];
    int16_t gyr[3];
} frame_sample_t;

typedef struct {
    uint8_t kind; /* enum frame_device_kind */
    uint8_t fw_major;
    uint8_t fw_minor;
    char serial[FRAME_SERIAL_LEN + 1]; /* NUL-terminated */
    uint16_t rate_hz;
    float p_scale;   /* pascal (ball) or newton (scraper) per LSB */
    float acc_scale; /* g per LSB */
    float gyr_scale; /* degrees per second per LSB */
} frame_hello_t;

typedef struct {
    uint16_t battery_mv;
    int16_t temperature_centi_c; /* 0.01 degC */
    uint16_t flags;              /* bit 0 charging, bit 1 sensor fault, bit 2 device overflow */
} frame_status_t;

/* A decoded, validated frame. */
typedef struct {
    uint8_t type; /* enum frame_type */
    uint16_t seq;
    uint32_t t_us; /* device clock, wraps every 2^32 us */
    union {
        frame_hello_t hello;
        struct {
            uint8_t count; /* 1 .. FRAME_MAX_SAMPLES */
            frame_sample_t s[FRAME_MAX_SAMPLES];
        } samples;
        frame_status_t status;
        uint8_t button; /* 1 pressed, 0 released */
    } u;
} frame_t;

#endif
