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

#include "device_kind.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_VERSION 1
#define FRAME_HEADER_LEN 8 /* type, version, seq, t_us */
#define FRAME_CRC_LEN 2
#define FRAME_MAX_DECODED 512 /* header + payload + CRC */
#define FRAME_MAX_ENCODED 520 /* COBS bytes before the delimiter */
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


/* One raw sample as the device sends it (LSB units; scales come from HELLO). */
typedef struct {
    int32_t p;
    int16_t acc[3];
    int16_t gyr[3];
} frame_sample_t;

typedef struct {
    uint8_t kind; /* a device_kind_t */
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

/* Between the previous accepted frame and a HELLO whose t_us is behind it, a
 * forward distance (mod 2^32) below this is read as the clock wrapping, not as
 * the device rebooting (see frame_decoder_feed). */
#define FRAME_WRAP_WINDOW_US 10000000u

/* What a decoder has seen since frame_decoder_init. Every counter only grows.
 * At any time: bytes == garbage_bytes + (encoded bytes and delimiters of the
 * accepted frames) + frame_decoder_pending(). */
typedef struct {
    uint64_t bytes;         /* bytes fed */
    uint64_t frames_ok;     /* frames accepted (handed to the handler) */
    uint64_t crc_errors;    /* frames whose CRC failed */
    uint64_t malformed;     /* bad COBS, too short, too long (>520 encoded), wrong version,
                               unknown type, wrong payload length for its type, sample count
                               0 or >30, HELLO REQUEST with non-zero seq or t_us, and a valid
                               frame repeating the previous frame's seq (duplicate) */
    uint64_t frames_lost;   /* frames the device sent that never arrived: seq gaps (mod 65536)
                               between consecutive accepted frames */
    uint64_t garbage_bytes; /* bytes that were not part of an accepted frame (incl. lone
                               delimiters and the delimiters of rejected frames) */
} frame_counters_t;

/* Slack after the decoder's buffers: COBS blocks are copied in fixed 16-byte
 * moves, which may read and write up to this far past the block. */
#define FRAME_COPY_SLACK 16

/* Decoder state: a plain struct the reader thread owns; no allocation. Fields
 * other than counters are private. */
typedef struct frame_decoder {
    uint8_t enc[FRAME_MAX_ENCODED + FRAME_COPY_SLACK]; /* encoded bytes of the candidate */
    uint8_t buf[FRAME_MAX_ENCODED + FRAME_COPY_SLACK]; /* last candidate, COBS-decoded */
    uint16_t encoded;   /* encoded bytes of the candidate seen so far (0..520) */
    uint16_t len;       /* decoded bytes in buf */
    bool discarding;    /* candidate exceeded 520 bytes: skip to the next 0x00 */
    bool have_prev;     /* prev_seq/prev_t_us are valid */
    uint16_t prev_seq;  /* seq of the last accepted device frame */
    uint32_t prev_t_us; /* t_us of the last accepted device frame */
    frame_t frame;      /* the frame being handed to the handler */
    frame_counters_t counters;
} frame_decoder_t;

/* Sets d up for a new stream with zero counters. */
void frame_decoder_init(frame_decoder_t *d);

/* Forgets a partial frame and seq continuity (after a reconnect); keeps
 * counters. The partial frame's bytes are counted as garbage_bytes, and the
 * next accepted frame adds nothing to frames_lost. */
void frame_decoder_reset(frame_decoder_t *d);

/* Called for each accepted frame. frame points into the decoder and is valid
 * only during the call; for SAMPLES only s[0 .. count-1] are meaningful. The
 * handler must not feed or reset the decoder that calls it. */
typedef void (*frame_handler_fn)(const frame_t *frame, void *ctx);

/* Feeds n bytes (any chunking; a frame may span calls); calls handler (may be
 * NULL) for each accepted frame, in order, on the caller's thread. Rejected
 * frames and garbage are counted in d->counters and never stop decoding.
 *
 * seq continuity: after an accepted frame with seq s, the next accepted frame
 * with seq s' adds (uint16_t)(s' - s - 1) to frames_lost, except
 *  - a HELLO whose t_us is behind the previous frame's (t' < t) by more than
 *    a clock wrap explains ((uint32_t)(t' - t) >= FRAME_WRAP_WINDOW_US): the
 *    device rebooted and restarted its counter, so nothing is added;
 *  - s' == s (and not a reboot): a duplicate; it is dropped, counted as
 *    malformed, and continuity stays with the first copy;
 *  - HELLO REQUEST frames (host to device) carry no device seq and are left
 *    out of continuity.
 * t_us is passed through as sent (wrapping is unwrapped downstream). */
void frame_decoder_feed(frame_decoder_t *d, const uint8_t *data, size_t n, frame_handler_fn handler,
                        void *ctx);

/* Bytes of a frame still waiting for its delimiter (not yet counted as
 * accepted or garbage). */
size_t frame_decoder_pending(const frame_decoder_t *d);

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, xorout 0) of
 * n bytes. Pure; any thread. */
uint16_t frame_crc16(const uint8_t *data, size_t n);

/* Encodes f (header, payload for its type, CRC, COBS, trailing 0x00) into
 * out; returns bytes written, or 0 if cap is too small or f is invalid
 * (unknown type, sample count 0 or > 30, HELLO REQUEST with non-zero seq or
 * t_us). The HELLO serial is written up to its first NUL (at most 16 bytes)
 * and NUL-padded; the reserved byte is 0. At most FRAME_ENCODE_MAX bytes.
 * Pure; any thread. */
size_t frame_encode(const frame_t *f, uint8_t *out, size_t cap);

/* COBS-encodes n raw bytes (a decoded frame: header + payload + CRC, or
 * anything else, for tests and fuzzing) and appends the 0x00 delimiter;
 * returns bytes written, or 0 if cap is too small. Needs at most
 * n + n / 254 + 2 bytes. Pure; any thread. */
size_t frame_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* Longest output of frame_encode: a SAMPLES frame of 30 samples (491 bytes
 * decoded) with COBS overhead and delimiter, 494 bytes. */
#define FRAME_SAMPLES_MAX_DECODED                                                                  \
    (FRAME_HEADER_LEN + 1 + FRAME_MAX_SAMPLES * FRAME_SAMPLE_LEN + FRAME_CRC_LEN)
#define FRAME_ENCODE_MAX (FRAME_SAMPLES_MAX_DECODED + FRAME_SAMPLES_MAX_DECODED / 254 + 2)

/* True when two decoded frames carry the same header and the same payload
 * fields for their type (floats compared bit for bit). For tests and fuzzing:
 * what an encode-decode round trip must preserve. */
bool frame_equal(const frame_t *a, const frame_t *b);

#endif
