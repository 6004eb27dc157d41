/* fuzz_frame: libFuzzer target for the frame decoder (daemon/frame.c).
 *
 * Input layout: byte 0 is a header h.
 *  - h bit 0 clear, stream mode: the next (h >> 1) & 7 bytes are chunk sizes
 *    (cycled; 0 means the whole rest), the remainder is the byte stream.
 *  - h bit 0 set, body mode: the remainder is one decoded frame body; with
 *    h bit 1 set its correct CRC is appended. It is COBS-encoded and fed, so
 *    the fuzzer reaches the checks behind the CRC without solving it.
 * Every accepted frame must re-encode to a frame that decodes to itself, and
 * the counters must add up (see check_counters). */
#include "frame.h"
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    uint64_t calls;
    bool have_prev;
    uint16_t prev_seq;
    uint32_t prev_t_us;
    uint64_t lost; /* frames_lost recomputed from the accepted frames */
} model_t;

static void count_only(const frame_t *f, void *ctx)
{
    const frame_t **out = ctx;
    *out = f;
}

static void on_frame(const frame_t *f, void *ctx)
{
    model_t *m = ctx;
    m->calls++;

    REQUIRE(f->type == FRAME_HELLO || f->type == FRAME_SAMPLES || f->type == FRAME_STATUS ||
            f->type == FRAME_BUTTON || f->type == FRAME_HELLO_REQUEST);
    if (f->type == FRAME_SAMPLES) {
        REQUIRE(f->u.samples.count >= 1 && f->u.samples.count <= FRAME_MAX_SAMPLES);
    }
    if (f->type == FRAME_HELLO) {
        REQUIRE(memchr(f->u.hello.serial, 0, sizeof f->u.hello.serial) != NULL);
    }

    /* Re-encode, then decode with a fresh decoder: the same frame, alone. */
    static uint8_t enc[FRAME_ENCODE_MAX];
    size_t n = frame_encode(f, enc, sizeof enc);
    REQUIRE(n >= 12 && n <= FRAME_ENCODE_MAX);
    REQUIRE(memchr(enc, 0, n - 1) == NULL && enc[n - 1] == 0);
    static frame_decoder_t again;
    frame_decoder_init(&again);
    const frame_t *back = NULL;
    frame_decoder_feed(&again, enc, n, count_only, &back);
    REQUIRE(again.counters.frames_ok == 1 && again.counters.garbage_bytes == 0);
    REQUIRE(again.counters.crc_errors == 0 && again.counters.malformed == 0);
    REQUIRE(back != NULL && frame_equal(back, f));

    /* The seq rule of frame.h, recomputed from what was accepted. */
    if (f->type == FRAME_HELLO_REQUEST) {
        REQUIRE(f->seq == 0 && f->t_us == 0);
        return;
    }
    if (m->have_prev) {
        bool reboot = f->type == FRAME_HELLO && f->t_us < m->prev_t_us &&
                      (uint32_t)(f->t_us - m->prev_t_us) >= FRAME_WRAP_WINDOW_US;
        if (!reboot) {
            REQUIRE(f->seq != m->prev_seq); /* duplicates are never handed out */
            m->lost += (uint16_t)(f->seq - m->prev_seq - 1);
        }
    }
    m->have_prev = true;
    m->prev_seq = f->seq;
    m->prev_t_us = f->t_us;
}

static void check_counters(const frame_decoder_t *d, const frame_counters_t *before,
                           const model_t *m, uint64_t fed, uint64_t zeros, uint64_t resets)
{
    const frame_counters_t *c = &d->counters;
    size_t pending = frame_decoder_pending(d);
    REQUIRE(c->bytes == fed);
    REQUIRE(c->frames_ok == m->calls);
    REQUIRE(c->frames_lost == m->lost);
    REQUIRE(c->bytes >= before->bytes && c->frames_ok >= before->frames_ok &&
            c->crc_errors >= before->crc_errors && c->malformed >= before->malformed &&
            c->frames_lost >= before->frames_lost && c->garbage_bytes >= before->garbage_bytes);
    REQUIRE(pending <= FRAME_MAX_ENCODED);
    REQUIRE(c->garbage_bytes + pending <= c->bytes);
    /* What is neither garbage nor pending belongs to accepted frames, each
     * 12 (HELLO REQUEST) to 521 bytes with its delimiter. */
    uint64_t accepted = c->bytes - c->garbage_bytes - pending;
    REQUIRE(accepted >= 12 * c->frames_ok && accepted <= 521 * c->frames_ok);
    /* A candidate ends at a delimiter or a reset and gets at most one
     * verdict (an oversized one gets it when it passes 520 bytes). */
    REQUIRE(c->frames_ok + c->crc_errors + c->malformed <= zeros + resets + 1);
}

static void stream_mode(const uint8_t *data, size_t size, unsigned nsizes)
{
    static frame_decoder_t d;
    frame_decoder_init(&d);
    model_t m = {0};
    if (size < nsizes) {
        return;
    }
    const uint8_t *sizes = data;
    data += nsizes;
    size -= nsizes;

    uint64_t fed = 0, zeros = 0, resets = 0;
    size_t at = 0;
    unsigned k = 0;
    do {
        size_t chunk = size - at;
        if (nsizes > 0 && sizes[k % nsizes] != 0) {
            unsigned s = sizes[k % nsizes];
            /* 1..127 bytes, or 16..2048 in steps of 16: always progress. */
            size_t want = (s & 0x80) ? (size_t)((s & 0x7F) + 1) * 16 : s;
            chunk = want < chunk ? want : chunk;
        }
        k++;
        frame_counters_t before = d.counters;
        frame_decoder_feed(&d, data + at, chunk, on_frame, &m);
        for (size_t i = 0; i < chunk; i++) {
            zeros += data[at + i] == 0;
        }
        fed += chunk;
        at += chunk;
        check_counters(&d, &before, &m, fed, zeros, resets);
        if (k % 7 == 6 && nsizes > 1 && sizes[1] == 0xA5) {
            /* Sometimes a reconnect in the middle. */
            before = d.counters;
            frame_decoder_reset(&d);
            resets++;
            m.have_prev = false;
            check_counters(&d, &before, &m, fed, zeros, resets);
            REQUIRE(frame_decoder_pending(&d) == 0);
        }
    } while (at < size);
}

static void body_mode(const uint8_t *data, size_t size, bool add_crc)
{
    static uint8_t body[1200], enc[1300];
    static frame_decoder_t d;
    if (size + 2 > sizeof body) {
        return;
    }
    memcpy(body, data, size);
    if (add_crc) {
        uint16_t crc = frame_crc16(body, size);
        body[size++] = (uint8_t)crc;
        body[size++] = (uint8_t)(crc >> 8);
    }
    size_t n = frame_cobs_encode(body, size, enc, sizeof enc);
    REQUIRE(n >= size + 2 && n <= size + size / 254 + 2);
    REQUIRE(frame_cobs_encode(body, size, enc, n - 1) == 0);
    REQUIRE(frame_cobs_encode(body, size, enc, n) == n);

    frame_decoder_init(&d);
    model_t m = {0};
    frame_decoder_feed(&d, enc, n, on_frame, &m);
    const frame_counters_t *c = &d.counters;
    REQUIRE(c->frames_ok + c->crc_errors + c->malformed == 1);
    REQUIRE(c->garbage_bytes == (c->frames_ok ? 0 : n));
    REQUIRE(frame_decoder_pending(&d) == 0);
    REQUIRE(c->frames_lost == 0);
    bool fits = size >= FRAME_HEADER_LEN + FRAME_CRC_LEN && size <= FRAME_MAX_DECODED &&
                n - 1 <= FRAME_MAX_ENCODED;
    if (add_crc && fits) {
        REQUIRE(c->crc_errors == 0);
    }
    if (!fits) {
        REQUIRE(c->malformed == 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t h = data[0];
    if (h & 1) {
        body_mode(data + 1, size - 1, (h & 2) != 0);
    } else {
        stream_mode(data + 1, size - 1, (h >> 1) & 7);
    }
    return 0;
}

#ifdef FUZZ_FRAME_GEN_CORPUS
/* The seed corpus in fuzz/corpus/frame/ was written by this, built without
 * libFuzzer, from test_frame's fixture frames:
 *   cc -std=c11 -DFUZZ_FRAME_GEN_CORPUS -Iproto -Itests fuzz/fuzz_frame.c proto/frame.c -o gen
 *   ./gen fuzz/corpus/frame */
#include "frame_fixture.h"

static uint8_t seed_buf[8192];
static size_t seed_len;

static void seed_start(uint8_t header)
{
    seed_buf[0] = header;
    seed_len = 1;
}

static void seed_bytes(const void *p, size_t n)
{
    memcpy(seed_buf + seed_len, p, n);
    seed_len += n;
}

static void seed_frame(const frame_t *f)
{
    size_t n = frame_encode(f, seed_buf + seed_len, sizeof seed_buf - seed_len);
    REQUIRE(n > 0);
    seed_len += n;
}

/* The decoded body of f without its CRC, for body-mode seeds. */
static void seed_body(const frame_t *f)
{
    uint8_t enc[FRAME_ENCODE_MAX];
    static frame_decoder_t d;
    size_t n = frame_encode(f, enc, sizeof enc);
    frame_decoder_init(&d);
    frame_decoder_feed(&d, enc, n, NULL, NULL); /* buf keeps the body (white box) */
    seed_bytes(d.buf, d.len - FRAME_CRC_LEN);
}

static void seed_write(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp != NULL);
    REQUIRE(fwrite(seed_buf, 1, seed_len, fp) == seed_len);
    REQUIRE(fclose(fp) == 0);
}

/* The fixture frame of type (tests/frame_fixture.h), samples frames full. */
static frame_t seed_make(uint8_t type, uint16_t seq, uint32_t t_us)
{
    switch (type) {
    case FRAME_HELLO:
        return make_hello(seq, t_us);
    case FRAME_SAMPLES:
        return make_samples(seq, t_us, FRAME_MAX_SAMPLES);
    case FRAME_STATUS:
        return make_status(seq, t_us);
    case FRAME_BUTTON:
        return make_button(seq, t_us, 1);
    default:
        return frame_header(type, seq, t_us);
    }
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    const char *dir = argv[1];
    static const uint8_t types[] = {FRAME_HELLO, FRAME_SAMPLES, FRAME_STATUS, FRAME_BUTTON,
                                    FRAME_HELLO_REQUEST};
    static const char *names[] = {"hello", "samples", "status", "button", "request"};
    char name[64];

    for (int i = 0; i < 5; i++) {
        bool request = types[i] == FRAME_HELLO_REQUEST;
        frame_t f = seed_make(types[i], request ? 0 : 7, request ? 0 : 123456);
        seed_start(0x00); /* stream mode, one feed */
        seed_frame(&f);
        snprintf(name, sizeof name, "stream-%s", names[i]);
        seed_write(dir, name);
        seed_start(0x03); /* body mode, CRC appended */
        seed_body(&f);
        snprintf(name, sizeof name, "body-%s", names[i]);
        seed_write(dir, name);
    }

    /* A session: HELLO, samples, status, button, a seq gap, a wrap of t_us. */
    seed_start(0x00);
    frame_t f = seed_make(FRAME_HELLO, 65533, 0xFFFFF000u);
    seed_frame(&f);
    f = seed_make(FRAME_SAMPLES, 65534, 0xFFFFF100u);
    seed_frame(&f);
    f = seed_make(FRAME_STATUS, 65535, 0xFFFFFF00u);
    seed_frame(&f);
    f = seed_make(FRAME_SAMPLES, 2, 0x00001000u);
    f.u.samples.count = 3;
    seed_frame(&f);
    f = seed_make(FRAME_BUTTON, 3, 0x00001100u);
    seed_frame(&f);
    seed_write(dir, "stream-session");

    /* The same in chunks of 1, 16*5 and 7 bytes, with resets. */
    memmove(seed_buf + 4, seed_buf + 1, seed_len - 1);
    seed_buf[0] = 3 << 1;
    seed_buf[1] = 1;
    seed_buf[2] = 0xA5;
    seed_buf[3] = 7;
    seed_len += 3;
    seed_write(dir, "stream-session-chunked");

    /* A reboot: samples, then a HELLO with an earlier clock and seq 0. */
    seed_start(0x00);
    f = seed_make(FRAME_SAMPLES, 900, 3000000000u);
    seed_frame(&f);
    f = seed_make(FRAME_HELLO, 0, 15000);
    seed_frame(&f);
    f = seed_make(FRAME_SAMPLES, 1, 16000);
    seed_frame(&f);
    seed_write(dir, "stream-reboot");

    /* Garbage before, between (with zeros and lone delimiters), inside and
     * after frames; a truncated frame. */
    seed_start(0x00);
    seed_bytes("\x13\x37noise", 7);
    seed_bytes("\x00", 1);
    f = seed_make(FRAME_STATUS, 10, 1000);
    seed_frame(&f);
    seed_bytes("\x00\x00\x05\x01\x02\x00\xff\x00", 8);
    f = seed_make(FRAME_BUTTON, 11, 2000);
    size_t at = seed_len;
    seed_frame(&f);
    seed_len = at + 6; /* truncated */
    seed_bytes("\x00", 1);
    f = seed_make(FRAME_SAMPLES, 12, 3000);
    at = seed_len;
    seed_frame(&f);
    seed_buf[at + 40] ^= 0x10; /* bad CRC */
    f = seed_make(FRAME_SAMPLES, 13, 63000);
    seed_frame(&f);
    seed_bytes("tail", 4);
    seed_write(dir, "stream-garbage");

    /* An oversized candidate, then a frame. */
    seed_start(0x00);
    memset(seed_buf + seed_len, 0x41, 600);
    seed_len += 600;
    seed_bytes("\x00", 1);
    f = seed_make(FRAME_STATUS, 1, 1);
    seed_frame(&f);
    seed_write(dir, "stream-oversized");

    /* Bodies the checks behind the CRC reject. */
    seed_start(0x03);
    f = seed_make(FRAME_HELLO, 1, 1);
    seed_body(&f);
    seed_buf[2] = 2; /* version 2 */
    seed_write(dir, "body-bad-version");
    seed_start(0x03);
    f = seed_make(FRAME_SAMPLES, 1, 1);
    seed_body(&f);
    seed_buf[1 + FRAME_HEADER_LEN] = 31; /* count disagrees with length */
    seed_write(dir, "body-bad-count");
    return 0;
}
#endif
