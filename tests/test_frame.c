/* test_frame: the device wire protocol codec (daemon/frame.c) against
 * ../shared/spec/protocol.md: CRC, COBS, every frame type, chunking, garbage,
 * rejection counters and seq continuity.
 *
 * Usage: test_frame [seed]   (the seed of the random chunking; printed) */
#include "check.h"
#include "frame.h"
#include "frame_fixture.h"
#include "sim_rng.h"

#include <time.h>

/* ---- helpers ------------------------------------------------------------ */

#define MAX_GOT 256

typedef struct {
    frame_t got[MAX_GOT];
    size_t n;
} collector_t;

static collector_t col;

static void collect(const frame_t *f, void *ctx)
{
    collector_t *c = ctx;
    if (c->n < MAX_GOT) {
        c->got[c->n] = *f;
    }
    c->n++;
}

static sim_rng_t test_rng;

/* 32 random bits: chunk sizes and test data. */
static uint32_t rng(void)
{
    return (uint32_t)(sim_rng_next(&test_rng) >> 32);
}

/* Bitwise CRC-16/CCITT-FALSE, the definition the tables must reproduce. */
static uint16_t crc_bitwise(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

/* Appends the encoding of f to buf at *len. */
static size_t put(uint8_t *buf, size_t *len, const frame_t *f)
{
    size_t n = frame_encode(f, buf + *len, FRAME_ENCODE_MAX);
    CHECK(n > 0);
    *len += n;
    return n;
}

/* Appends a raw decoded body, COBS-encoded with delimiter. */
static size_t put_raw(uint8_t *buf, size_t *len, const uint8_t *raw, size_t n)
{
    size_t m = frame_cobs_encode(raw, n, buf + *len, n + n / 254 + 2);
    CHECK(m > 0);
    *len += m;
    return m;
}

/* Writes a raw body for header fields and payload, with a correct CRC;
 * returns its length. */
static size_t raw_body(uint8_t *raw, uint8_t type, uint8_t version, uint16_t seq, uint32_t t_us,
                       const uint8_t *payload, size_t n)
{
    raw[0] = type;
    raw[1] = version;
    raw[2] = (uint8_t)seq;
    raw[3] = (uint8_t)(seq >> 8);
    raw[4] = (uint8_t)t_us;
    raw[5] = (uint8_t)(t_us >> 8);
    raw[6] = (uint8_t)(t_us >> 16);
    raw[7] = (uint8_t)(t_us >> 24);
    if (n) {
        memcpy(raw + 8, payload, n);
    }
    uint16_t crc = crc_bitwise(raw, 8 + n);
    raw[8 + n] = (uint8_t)crc;
    raw[9 + n] = (uint8_t)(crc >> 8);
    return 10 + n;
}

static void feed_all(frame_decoder_t *d, const uint8_t *p, size_t n)
{
    frame_decoder_feed(d, p, n, collect, &col);
}

static void start(frame_decoder_t *d)
{
    frame_decoder_init(d);
    col.n = 0;
}

#define CHECK_COUNTERS(d, ok, crc, mal, lost, garbage)                                             \
    do {                                                                                           \
        CHECK_EQ_INT((d)->counters.frames_ok, ok);                                                 \
        CHECK_EQ_INT((d)->counters.crc_errors, crc);                                               \
        CHECK_EQ_INT((d)->counters.malformed, mal);                                                \
        CHECK_EQ_INT((d)->counters.frames_lost, lost);                                             \
        CHECK_EQ_INT((d)->counters.garbage_bytes, garbage);                                        \
        CHECK_EQ_INT(col.n, ok);                                                                   \
    } while (0)

/* ---- CRC ---------------------------------------------------------------- */

static void test_crc(void)
{
    CHECK_EQ_INT(frame_crc16((const uint8_t *)"123456789", 9), 0x29B1);
    CHECK_EQ_INT(crc_bitwise((const uint8_t *)"123456789", 9), 0x29B1);
    CHECK_EQ_INT(frame_crc16(NULL, 0), 0xFFFF);
    /* Every length across the slice-by-8 boundary, at odd offsets. */
    uint8_t data[600];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)rng();
    }
    for (size_t off = 0; off < 8; off++) {
        for (size_t n = 0; n + off <= sizeof data; n += (n < 40 ? 1 : 37)) {
            CHECK_EQ_INT(frame_crc16(data + off, n), crc_bitwise(data + off, n));
        }
    }
}

/* ---- COBS --------------------------------------------------------------- */

/* Writes the n byte values first, first + 1, ... at dst. */
static void count_up(uint8_t *dst, int first, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = (uint8_t)(first + i);
}

/* Encodes in and compares with the expected encoding (which includes the
 * delimiter), then feeds the encoding to a decoder and checks that its buffer
 * holds in again (white box: buf and len keep the last candidate). */
static void cobs_vector(const uint8_t *in, size_t n, const uint8_t *expect, size_t expect_n)
{
    uint8_t out[600];
    size_t m = frame_cobs_encode(in, n, out, sizeof out);
    CHECK_EQ_INT(m, expect_n);
    CHECK(m == expect_n && memcmp(out, expect, m) == 0);
    CHECK_EQ_INT(frame_cobs_encode(in, n, out, expect_n - 1), 0);
    CHECK_EQ_INT(frame_cobs_encode(in, n, out, expect_n), expect_n);
    CHECK(expect_n <= n + n / 254 + 2);

    static frame_decoder_t d;
    frame_decoder_init(&d);
    frame_decoder_feed(&d, expect, expect_n - 1, NULL, NULL);
    CHECK_EQ_INT(frame_decoder_pending(&d), expect_n - 1);
    frame_decoder_feed(&d, expect + expect_n - 1, 1, NULL, NULL);
    CHECK_EQ_INT(frame_decoder_pending(&d), 0);
    CHECK_EQ_INT(d.len, n);
    CHECK(d.len == n && memcmp(d.buf, in, n) == 0);
    CHECK_EQ_INT(d.counters.frames_ok + d.counters.crc_errors + d.counters.malformed, 1);
}

/* COBS undone the plain way, block by block from the definition: the n
 * bytes before the delimiter into out; false if a block runs past the end. */
static bool reference_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t *out_n)
{
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned code = in[i++];
        for (unsigned k = 1; k < code; k++) {
            if (i >= n)
                return false;
            out[o++] = in[i++];
        }
        if (i < n && code != 0xFF)
            out[o++] = 0;
    }
    *out_n = o;
    return true;
}

static void test_cobs(void)
{
    /* The examples of the COBS article on Wikipedia (after Cheshire & Baker). */
    static const uint8_t i1[] = {0x00}, e1[] = {0x01, 0x01, 0x00};
    static const uint8_t i2[] = {0x00, 0x00}, e2[] = {0x01, 0x01, 0x01, 0x00};
    static const uint8_t i3[] = {0x00, 0x11, 0x00}, e3[] = {0x01, 0x02, 0x11, 0x01, 0x00};
    static const uint8_t i4[] = {0x11, 0x22, 0x00, 0x33},
                         e4[] = {0x03, 0x11, 0x22, 0x02, 0x33, 0x00};
    static const uint8_t i5[] = {0x11, 0x22, 0x33, 0x44},
                         e5[] = {0x05, 0x11, 0x22, 0x33, 0x44, 0x00};
    static const uint8_t i6[] = {0x11, 0x00, 0x00, 0x00},
                         e6[] = {0x02, 0x11, 0x01, 0x01, 0x01, 0x00};
    static const uint8_t e0[] = {0x01, 0x00};
    cobs_vector(i1, 0, e0, sizeof e0);
    cobs_vector(i1, sizeof i1, e1, sizeof e1);
    cobs_vector(i2, sizeof i2, e2, sizeof e2);
    cobs_vector(i3, sizeof i3, e3, sizeof e3);
    cobs_vector(i4, sizeof i4, e4, sizeof e4);
    cobs_vector(i5, sizeof i5, e5, sizeof e5);
    cobs_vector(i6, sizeof i6, e6, sizeof e6);

    uint8_t in[300], ex[300];
    /* 01 02 .. FE (254 bytes) -> FF 01 .. FE 00 */
    count_up(in, 0x01, 254);
    ex[0] = 0xFF;
    count_up(ex + 1, 0x01, 254);
    ex[255] = 0x00;
    cobs_vector(in, 254, ex, 256);
    /* 00 01 .. FE (255 bytes) -> 01 FF 01 .. FE 00 */
    count_up(in, 0x00, 255);
    ex[0] = 0x01;
    ex[1] = 0xFF;
    count_up(ex + 2, 0x01, 254);
    ex[256] = 0x00;
    cobs_vector(in, 255, ex, 257);
    /* 01 02 .. FF (255 bytes) -> FF 01 .. FE 02 FF 00 */
    count_up(in, 0x01, 255);
    ex[0] = 0xFF;
    count_up(ex + 1, 0x01, 254);
    memcpy(ex + 255, (const uint8_t[]){0x02, 0xFF, 0x00}, 3);
    cobs_vector(in, 255, ex, 258);
    /* 02 03 .. FF 00 (255 bytes) -> FF 02 .. FF 01 01 00 */
    count_up(in, 0x02, 254);
    in[254] = 0x00;
    ex[0] = 0xFF;
    count_up(ex + 1, 0x02, 254);
    memcpy(ex + 255, (const uint8_t[]){0x01, 0x01, 0x00}, 3);
    cobs_vector(in, 255, ex, 258);
    /* 03 04 .. FF 00 01 (255 bytes) -> FE 03 .. FF 02 01 00 */
    count_up(in, 0x03, 253);
    memcpy(in + 253, (const uint8_t[]){0x00, 0x01}, 2);
    ex[0] = 0xFE;
    count_up(ex + 1, 0x03, 253);
    memcpy(ex + 254, (const uint8_t[]){0x02, 0x01, 0x00}, 3);
    cobs_vector(in, 255, ex, 257);

    /* Random bodies: encode has no zero before the delimiter and decodes back. */
    for (int t = 0; t < 2000; t++) {
        uint8_t body[519], enc[530];
        size_t n = rng() % sizeof body;
        unsigned zeros = rng() % 4; /* from none to many zero bytes */
        for (size_t i = 0; i < n; i++) {
            body[i] = (zeros == 0 || rng() % (zeros * 40) != 0) ? (uint8_t)(1 + rng() % 255) : 0;
        }
        size_t m = frame_cobs_encode(body, n, enc, sizeof enc);
        CHECK(m >= n + 2 && m <= n + n / 254 + 2);
        CHECK(memchr(enc, 0, m - 1) == NULL && enc[m - 1] == 0);
        if (t < 50) {
            /* Every capacity that is too small is refused without writing
             * past it. */
            for (size_t cap = 0; cap < m; cap++) {
                uint8_t small[530];
                memset(small, 0xA5, sizeof small);
                CHECK_EQ_INT(frame_cobs_encode(body, n, small, cap), 0);
                CHECK_EQ_INT(small[cap], 0xA5);
            }
        }
        if (m - 1 <= FRAME_MAX_ENCODED) {
            static frame_decoder_t d;
            frame_decoder_init(&d);
            frame_decoder_feed(&d, enc, m, NULL, NULL);
            CHECK(d.len == n && memcmp(d.buf, body, n) == 0);
            /* One byte changed (a code byte or a data byte, never to 0):
             * decoded as reference_cobs_decode does, or malformed where a
             * block runs past the end. */
            size_t at = rng() % (m - 1);
            enc[at] = (uint8_t)(1 + rng() % 255);
            uint8_t want[530];
            size_t want_n;
            bool valid = reference_cobs_decode(enc, m - 1, want, &want_n);
            frame_decoder_init(&d);
            frame_decoder_feed(&d, enc, m, NULL, NULL);
            if (valid) {
                CHECK(d.len == want_n && memcmp(d.buf, want, want_n) == 0);
            } else {
                CHECK_EQ_INT(d.counters.malformed, 1);
            }
        }
    }
}

/* ---- every frame type --------------------------------------------------- */

static void roundtrip(const frame_t *f)
{
    static frame_decoder_t d;
    uint8_t buf[FRAME_ENCODE_MAX];
    size_t n = frame_encode(f, buf, sizeof buf);
    CHECK(n > 0 && n <= FRAME_ENCODE_MAX);
    CHECK(memchr(buf, 0, n - 1) == NULL && buf[n - 1] == 0);
    CHECK_EQ_INT(frame_encode(f, buf, n - 1), 0);
    start(&d);
    feed_all(&d, buf, n);
    CHECK_COUNTERS(&d, 1, 0, 0, 0, 0);
    CHECK_EQ_INT(d.counters.bytes, n);
    CHECK(col.n == 1 && frame_equal(&col.got[0], f));
}

static void test_types(void)
{
    frame_t f = make_hello(7, 123456);
    roundtrip(&f);
    strcpy(f.u.hello.serial, "0123456789ABCDEF"); /* all 16 bytes, no padding */
    f.u.hello.kind = DEVICE_KIND_SCRAPER;
    f.u.hello.rate_hz = 500;
    f.u.hello.p_scale = -0.0f;
    f.u.hello.acc_scale = 3.4e38f;
    f.u.hello.gyr_scale = 1e-40f; /* subnormal */
    roundtrip(&f);
    strcpy(f.u.hello.serial, "");
    roundtrip(&f);
    strcpy(f.u.hello.serial, "\x01\x7f\xff tab\t"); /* non-printable bytes pass through */
    roundtrip(&f);

    for (unsigned c = 1; c <= FRAME_MAX_SAMPLES; c++) {
        f = make_samples((uint16_t)(c * 1000), 0xFFFFFFFFu - c, c);
        roundtrip(&f);
    }
    f = make_status(65535, 0);
    roundtrip(&f);
    f = make_button(0, 42, 1);
    roundtrip(&f);
    f = make_button(1, 43, 0);
    roundtrip(&f);
    f = frame_header(FRAME_HELLO_REQUEST, 0, 0);
    roundtrip(&f);
    uint8_t req[16];
    CHECK_EQ_INT(frame_encode(&f, req, sizeof req), 12);

    /* What the encoder refuses. */
    uint8_t buf[FRAME_ENCODE_MAX];
    f = make_samples(1, 1, 1);
    f.u.samples.count = 0;
    CHECK_EQ_INT(frame_encode(&f, buf, sizeof buf), 0);
    f.u.samples.count = FRAME_MAX_SAMPLES + 1;
    CHECK_EQ_INT(frame_encode(&f, buf, sizeof buf), 0);
    f.type = 0x05;
    CHECK_EQ_INT(frame_encode(&f, buf, sizeof buf), 0);
    f = frame_header(FRAME_HELLO_REQUEST, 1, 0);
    CHECK_EQ_INT(frame_encode(&f, buf, sizeof buf), 0);

    /* The longest frame is exactly FRAME_ENCODE_MAX when no byte is zero. */
    f = make_samples(0x0101, 0x01010101, FRAME_MAX_SAMPLES);
    for (unsigned i = 0; i < FRAME_MAX_SAMPLES; i++) {
        f.u.samples.s[i].p = 0x11223344;
        for (int a = 0; a < 3; a++) {
            f.u.samples.s[i].acc[a] = 0x0101;
            f.u.samples.s[i].gyr[a] = -1;
        }
    }
    size_t n = frame_encode(&f, buf, sizeof buf);
    uint16_t crc;
    {
        /* The CRC of this body, to know whether it adds zero bytes. */
        uint8_t body[FRAME_SAMPLES_MAX_DECODED];
        body[0] = 2;
        body[1] = 1;
        memset(body + 2, 1, 6);
        body[8] = FRAME_MAX_SAMPLES;
        for (unsigned i = 0; i < FRAME_MAX_SAMPLES; i++) {
            uint8_t *s = body + 9 + 16 * i;
            s[0] = 0x44, s[1] = 0x33, s[2] = 0x22, s[3] = 0x11;
            memset(s + 4, 0x01, 6);
            memset(s + 10, 0xFF, 6);
        }
        crc = frame_crc16(body, 489);
        body[489] = (uint8_t)crc;
        body[490] = (uint8_t)(crc >> 8);
        uint8_t enc[FRAME_ENCODE_MAX + 8];
        size_t m = frame_cobs_encode(body, sizeof body, enc, sizeof enc);
        CHECK(m == n && memcmp(enc, buf, n) == 0); /* encoder's byte layout, by hand */
        if ((crc & 0xFF) && (crc >> 8)) {
            CHECK_EQ_INT(n, FRAME_ENCODE_MAX);
        }
    }
    roundtrip(&f); /* with 254-byte COBS blocks */
}

/* Frames written byte by byte from the spec, so the decoder's byte order is
 * checked independently of the encoder's. */
static void test_wire_layout(void)
{
    static frame_decoder_t d;
    uint8_t raw[64], buf[512];
    static uint8_t misaligned[513];
    size_t len = 0;

    static const uint8_t button[] = {0x01};
    put_raw(buf, &len, raw, raw_body(raw, 0x04, 1, 0x1234, 0x89ABCDEF, button, 1));
    static const uint8_t status[] = {0x34, 0x12, 0xFE, 0xFF, 0x07, 0x00};
    put_raw(buf, &len, raw, raw_body(raw, 0x03, 1, 0x1235, 0x01020304, status, 6));
    uint8_t hello[34] = {2, 1, 9, 0, 'S', 'C', '-', '7', 0, 'x', 0};
    hello[20] = 0xF4; /* 500 */
    hello[21] = 0x01;
    hello[22] = 0x00; /* 1.0f */
    hello[23] = 0x00;
    hello[24] = 0x80;
    hello[25] = 0x3F;
    hello[26] = 0x00; /* -2.5f = 0xC0200000 */
    hello[27] = 0x00;
    hello[28] = 0x20;
    hello[29] = 0xC0;
    hello[30] = 0x00; /* 0.0f */
    put_raw(buf, &len, raw, raw_body(raw, 0x01, 1, 0x1236, 5, hello, 34));
    uint8_t samples[1 + 32] = {2};
    static const uint8_t s0[16] = {0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x80, 0xFF, 0x7F,
                                   2,    0,    0xFE, 0xFF, 0x00, 0x01, 0x10, 0x00};
    memcpy(samples + 1, s0, 16);
    static const uint8_t s1[16] = {0x78, 0x56, 0x34, 0x12};
    memcpy(samples + 17, s1, 16);
    put_raw(buf, &len, raw, raw_body(raw, 0x02, 1, 0x1237, 0xFFFFFFFF, samples, 33));
    put_raw(buf, &len, raw, raw_body(raw, 0x81, 1, 0, 0, NULL, 0));

    memcpy(misaligned + 1, buf, len); /* the decoder must not care */
    start(&d);
    feed_all(&d, misaligned + 1, len);
    CHECK_COUNTERS(&d, 5, 0, 0, 0, 0);
    if (col.n != 5) {
        return;
    }
    const frame_t *f = &col.got[0];
    CHECK_EQ_INT(f->type, FRAME_BUTTON);
    CHECK_EQ_INT(f->seq, 0x1234);
    CHECK_EQ_INT(f->t_us, 0x89ABCDEF);
    CHECK_EQ_INT(f->u.button, 1);
    f = &col.got[1];
    CHECK_EQ_INT(f->type, FRAME_STATUS);
    CHECK_EQ_INT(f->u.status.battery_mv, 0x1234);
    CHECK_EQ_INT(f->u.status.temperature_centi_c, -2);
    CHECK_EQ_INT(f->u.status.flags, 7);
    f = &col.got[2];
    CHECK_EQ_INT(f->type, FRAME_HELLO);
    CHECK_EQ_INT(f->u.hello.kind, DEVICE_KIND_SCRAPER);
    CHECK_EQ_INT(f->u.hello.fw_major, 1);
    CHECK_EQ_INT(f->u.hello.fw_minor, 9);
    CHECK_STR(f->u.hello.serial, "SC-7"); /* bytes after the first NUL are ignored */
    CHECK_EQ_INT(f->u.hello.rate_hz, 500);
    CHECK(f->u.hello.p_scale == 1.0f);
    CHECK(f->u.hello.acc_scale == -2.5f);
    CHECK(f->u.hello.gyr_scale == 0.0f);
    f = &col.got[3];
    CHECK_EQ_INT(f->type, FRAME_SAMPLES);
    CHECK_EQ_INT(f->t_us, 0xFFFFFFFFu);
    CHECK_EQ_INT(f->u.samples.count, 2);
    CHECK_EQ_INT(f->u.samples.s[0].p, -1);
    CHECK_EQ_INT(f->u.samples.s[0].acc[0], -32767);
    CHECK_EQ_INT(f->u.samples.s[0].acc[1], 32767);
    CHECK_EQ_INT(f->u.samples.s[0].acc[2], 2);
    CHECK_EQ_INT(f->u.samples.s[0].gyr[0], -2);
    CHECK_EQ_INT(f->u.samples.s[0].gyr[1], 256);
    CHECK_EQ_INT(f->u.samples.s[0].gyr[2], 16);
    CHECK_EQ_INT(f->u.samples.s[1].p, 0x12345678);
    CHECK_EQ_INT(f->u.samples.s[1].gyr[2], 0);
    CHECK_EQ_INT(col.got[4].type, FRAME_HELLO_REQUEST);

    /* A 16-byte serial without NUL fills the field. */
    memcpy(hello + 4, "ABCDEFGHIJKLMNOP", 16);
    len = 0;
    put_raw(buf, &len, raw, raw_body(raw, 0x01, 1, 1, 5, hello, 34));
    start(&d);
    feed_all(&d, buf, len);
    CHECK(col.n == 1 && strcmp(col.got[0].u.hello.serial, "ABCDEFGHIJKLMNOP") == 0);
}

/* ---- streams and chunking ----------------------------------------------- */

static uint8_t stream[8192];
static size_t stream_len;
static frame_t stream_frames[16];
static size_t stream_nframes;

static void build_stream(void)
{
    stream_len = 0;
    stream_nframes = 0;
    stream_frames[stream_nframes++] = make_hello(100, 1000);
    stream_frames[stream_nframes++] = make_samples(101, 2000, 30);
    stream_frames[stream_nframes++] = make_samples(102, 32000, 30);
    stream_frames[stream_nframes++] = make_status(103, 40000);
    stream_frames[stream_nframes++] = make_samples(104, 62000, 7);
    stream_frames[stream_nframes++] = make_button(105, 63000, 1);
    stream_frames[stream_nframes++] = make_samples(106, 69000, 1);
    for (size_t i = 0; i < stream_nframes; i++) {
        put(stream, &stream_len, &stream_frames[i]);
    }
}

static void check_stream_result(const frame_decoder_t *d)
{
    CHECK_COUNTERS(d, stream_nframes, 0, 0, 0, 0);
    CHECK_EQ_INT(d->counters.bytes, stream_len);
    CHECK_EQ_INT(frame_decoder_pending(d), 0);
    for (size_t i = 0; i < stream_nframes && i < col.n; i++) {
        CHECK(frame_equal(&col.got[i], &stream_frames[i]));
    }
}

static void test_chunking(unsigned seed)
{
    static frame_decoder_t d;
    build_stream();
    for (size_t k = 0; k <= stream_len; k++) {
        start(&d);
        feed_all(&d, stream, k);
        feed_all(&d, stream + k, stream_len - k);
        check_stream_result(&d);
    }
    start(&d);
    for (size_t k = 0; k < stream_len; k++) {
        feed_all(&d, stream + k, 1);
    }
    check_stream_result(&d);

    sim_rng_seed(&test_rng, seed);
    for (int t = 0; t < 500; t++) {
        start(&d);
        size_t at = 0;
        unsigned max_chunk = 1 + rng() % 700;
        while (at < stream_len) {
            size_t c = rng() % (max_chunk + 1); /* includes empty feeds */
            if (c > stream_len - at) {
                c = stream_len - at;
            }
            feed_all(&d, stream + at, c);
            at += c;
        }
        check_stream_result(&d);
    }
}

/* ---- garbage ------------------------------------------------------------ */

static void test_garbage(void)
{
    static frame_decoder_t d;
    uint8_t buf[4096];
    size_t len = 0;
    frame_t a = make_status(1, 10), b = make_button(2, 20, 1), c = make_samples(3, 30, 3);

    /* Before: noise ending in a zero (a device rebooting mid-frame). */
    static const uint8_t noise[] = {'X', 'Y', 'Z', 0x00};
    memcpy(buf + len, noise, sizeof noise);
    len += sizeof noise;
    put(buf, &len, &a);
    put(buf, &len, &b);
    /* Between: noise with zeros in it, and two lone delimiters. */
    static const uint8_t between[] = {0x00, 0x05, 0x01, 0x02, 0x00, 0x00, 0xFF, 0x00};
    memcpy(buf + len, between, sizeof between);
    len += sizeof between;
    put(buf, &len, &c);
    /* After: noise without a delimiter stays pending. */
    static const uint8_t tail[] = {'J', 'U', 'N', 'K'};
    memcpy(buf + len, tail, sizeof tail);
    len += sizeof tail;

    start(&d);
    feed_all(&d, buf, len);
    /* "XYZ": code 'X' promises 87 bytes, the zero cuts it short: malformed.
     * 00: lone. 05 01 02 00: cut short: malformed. 00: lone. FF 00: cut
     * short: malformed. Nothing is lost: seq 1, 2, 3 all arrived. */
    CHECK_COUNTERS(&d, 3, 0, 3, 0, 4 + 8);
    CHECK_EQ_INT(frame_decoder_pending(&d), 4);
    CHECK_EQ_INT(d.counters.bytes, len);
    CHECK(col.n == 3 && frame_equal(&col.got[2], &c));

    /* Noise without a zero just before a frame is taken as the frame's start
     * and costs that frame: it is rejected and its seq counted as lost. */
    len = 0;
    put(buf, &len, &a);
    buf[len++] = 0x03; /* a well-formed COBS block: 03 aa bb, then the frame */
    buf[len++] = 0xAA;
    buf[len++] = 0xBB;
    size_t nb = put(buf, &len, &b);
    put(buf, &len, &c);
    start(&d);
    feed_all(&d, buf, len);
    CHECK_COUNTERS(&d, 2, 1, 0, 1, 3 + nb);

    /* Inside: bytes inserted into a frame (COBS stays valid, the CRC fails). */
    len = 0;
    put(buf, &len, &a);
    size_t at = len;
    nb = put(buf, &len, &b);
    put(buf, &len, &c);
    /* b is 04 01 02 00 14 00 00 00 01 crc crc. Its first COBS block is
     * 04 04 01 02; widen it to 06 04 01 02 EE EE. */
    CHECK_EQ_INT(buf[at], 0x04);
    memmove(buf + at + 6, buf + at + 4, len - (at + 4));
    buf[at] = 0x06;
    buf[at + 4] = 0xEE;
    buf[at + 5] = 0xEE;
    len += 2;
    start(&d);
    feed_all(&d, buf, len);
    CHECK_COUNTERS(&d, 2, 1, 0, 1, nb + 2);

    /* Inside: a zero inserted into a frame splits it into two rejects. */
    for (size_t k = 1; k + 1 < nb; k++) {
        len = 0;
        put(buf, &len, &a);
        at = len;
        put(buf, &len, &b);
        put(buf, &len, &c);
        memmove(buf + at + k + 1, buf + at + k, len - (at + k));
        buf[at + k] = 0x00;
        len++;
        start(&d);
        feed_all(&d, buf, len);
        CHECK_EQ_INT(d.counters.frames_ok, 2);
        CHECK_EQ_INT(d.counters.crc_errors + d.counters.malformed, 2);
        CHECK_EQ_INT(d.counters.frames_lost, 1);
        CHECK_EQ_INT(d.counters.garbage_bytes, nb + 1);
    }
}

static void test_truncated(void)
{
    static frame_decoder_t d;
    uint8_t buf[4096];
    frame_t a = make_samples(1, 10, 5), b = make_hello(2, 20), c = make_status(3, 30);
    uint8_t enc_b[FRAME_ENCODE_MAX];
    size_t nb = frame_encode(&b, enc_b, sizeof enc_b);

    for (size_t k = 1; k < nb - 1; k++) {
        /* b cut after k bytes and followed by a delimiter (the link dropped
         * the rest): one reject, b is lost. */
        size_t len = 0;
        put(buf, &len, &a);
        memcpy(buf + len, enc_b, k);
        len += k;
        buf[len++] = 0x00;
        put(buf, &len, &c);
        start(&d);
        feed_all(&d, buf, len);
        CHECK_EQ_INT(d.counters.frames_ok, 2);
        CHECK_EQ_INT(d.counters.crc_errors + d.counters.malformed, 1);
        CHECK_EQ_INT(d.counters.frames_lost, 1);
        CHECK_EQ_INT(d.counters.garbage_bytes, k + 1);

        /* b cut after k bytes with no delimiter: it swallows c, which is lost
         * too; the next frame resynchronises. */
        len = 0;
        put(buf, &len, &a);
        memcpy(buf + len, enc_b, k);
        len += k;
        size_t nc = put(buf, &len, &c);
        frame_t e = make_button(4, 40, 0);
        put(buf, &len, &e);
        start(&d);
        feed_all(&d, buf, len);
        CHECK_EQ_INT(d.counters.frames_ok, 2);
        CHECK_EQ_INT(d.counters.crc_errors + d.counters.malformed, 1);
        CHECK_EQ_INT(d.counters.frames_lost, 2);
        CHECK_EQ_INT(d.counters.garbage_bytes, k + nc);

        /* At the end of the stream it just waits. */
        start(&d);
        feed_all(&d, enc_b, k);
        CHECK_COUNTERS(&d, 0, 0, 0, 0, 0);
        CHECK_EQ_INT(frame_decoder_pending(&d), k);
    }
    /* A body cut at a COBS block boundary decodes but is too short. */
    static const uint8_t short_body[] = {0x04, 0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x08, 0x09};
    size_t len = 0;
    put_raw(buf, &len, short_body, sizeof short_body);
    put_raw(buf, &len, NULL, 0); /* 01 00: empty but not a lone delimiter */
    start(&d);
    feed_all(&d, buf, len);
    CHECK_COUNTERS(&d, 0, 0, 2, 0, len);
}

static void test_oversized(void)
{
    static frame_decoder_t d;
    static uint8_t buf[8192];
    frame_t a = make_status(1, 10), b = make_button(2, 20, 1);

    static uint8_t body[3000];
    memset(body, 0x77, sizeof body);
    for (size_t m = FRAME_MAX_DECODED + 1; m <= sizeof body; m += (m < 530 ? 1 : 611)) {
        /* Valid COBS of m non-zero bytes: 513..517 bytes decode from at
         * most 520 encoded ones but are too long; from 518 on the encoding
         * is over 520 bytes and is never decoded. */
        size_t len = 0;
        put(buf, &len, &a);
        size_t junk = put_raw(buf, &len, body, m) - 1;
        put(buf, &len, &b);
        for (int chunked = 0; chunked < 2; chunked++) {
            start(&d);
            if (chunked) {
                for (size_t i = 0; i < len; i++) {
                    feed_all(&d, buf + i, 1);
                }
            } else {
                feed_all(&d, buf, len);
            }
            CHECK_COUNTERS(&d, 2, 0, 1, 0, junk + 1);
            CHECK_EQ_INT(frame_decoder_pending(&d), 0);
        }
    }

    /* Without a delimiter, the garbage shows as it comes, not at the end. */
    start(&d);
    memset(buf, 0x41, 3000);
    feed_all(&d, buf, 3000);
    CHECK_COUNTERS(&d, 0, 0, 1, 0, 3000);
    CHECK_EQ_INT(frame_decoder_pending(&d), 0);
    feed_all(&d, buf, 1000);
    CHECK_COUNTERS(&d, 0, 0, 1, 0, 4000);
    uint8_t enc[64];
    size_t n = frame_encode(&a, enc, sizeof enc);
    feed_all(&d, enc, n); /* still inside the oversized candidate */
    CHECK_COUNTERS(&d, 0, 0, 1, 0, 4000 + n);
    feed_all(&d, enc, n);
    CHECK_COUNTERS(&d, 1, 0, 1, 0, 4000 + n);

    /* Decoded 513 bytes with a correct CRC: too long. 512 of an unknown
     * layout: wrong length for its type. */
    static uint8_t raw[600], payload[520];
    memset(payload, 0x5A, sizeof payload);
    payload[0] = 30;
    size_t len = 0;
    put_raw(buf, &len, raw, raw_body(raw, 0x02, 1, 5, 5, payload, 503));
    put_raw(buf, &len, raw, raw_body(raw, 0x02, 1, 6, 6, payload, 502));
    start(&d);
    feed_all(&d, buf, len);
    CHECK_COUNTERS(&d, 0, 0, 2, 0, len);
}

static void test_rejects(void)
{
    static frame_decoder_t d;
    static uint8_t buf[1 << 18];
    uint8_t raw[600], payload[600];
    memset(payload, 0x11, sizeof payload);
    struct {
        uint8_t type, version;
        uint16_t seq;
        uint32_t t_us;
        size_t n;
        uint8_t first;
    } bad[] = {
        {0x01, 2, 1, 1, 34, 1},    /* wrong version */
        {0x01, 0, 1, 1, 34, 1},    /* wrong version */
        {0x00, 1, 1, 1, 1, 1},     /* unknown type */
        {0x05, 1, 1, 1, 1, 1},     /* unknown type */
        {0x82, 1, 1, 1, 0, 1},     /* unknown type */
        {0x01, 1, 1, 1, 33, 1},    /* HELLO too short */
        {0x01, 1, 1, 1, 35, 1},    /* HELLO too long */
        {0x03, 1, 1, 1, 5, 1},     /* STATUS */
        {0x03, 1, 1, 1, 7, 1},     /* STATUS */
        {0x04, 1, 1, 1, 0, 1},     /* BUTTON */
        {0x04, 1, 1, 1, 2, 1},     /* BUTTON */
        {0x81, 1, 0, 0, 1, 1},     /* HELLO REQUEST with payload */
        {0x81, 1, 1, 0, 0, 1},     /* HELLO REQUEST with seq */
        {0x81, 1, 0, 1, 0, 1},     /* HELLO REQUEST with t_us */
        {0x02, 1, 1, 1, 0, 0},     /* SAMPLES without count */
        {0x02, 1, 1, 1, 1, 0},     /* count 0 */
        {0x02, 1, 1, 1, 17, 0},    /* count 0 with a sample */
        {0x02, 1, 1, 1, 17, 2},    /* count 2, one sample */
        {0x02, 1, 1, 1, 33, 1},    /* count 1, two samples */
        {0x02, 1, 1, 1, 16, 1},    /* count 1, sample cut short */
        {0x02, 1, 1, 1, 497, 31},  /* count 31 */
        {0x02, 1, 1, 1, 497, 255}, /* count 255 */
    };
    size_t nbad = sizeof bad / sizeof bad[0];
    size_t len = 0;
    for (size_t i = 0; i < nbad; i++) {
        payload[0] = bad[i].first;
        put_raw(
            buf, &len, raw,
            raw_body(raw, bad[i].type, bad[i].version, bad[i].seq, bad[i].t_us, payload, bad[i].n));
    }
    start(&d);
    feed_all(&d, buf, len);
    CHECK_COUNTERS(&d, 0, 0, nbad, 0, len);

    /* Each alone, followed by a good frame, so a miscount is pinned down. */
    for (size_t i = 0; i < nbad; i++) {
        payload[0] = bad[i].first;
        len = 0;
        size_t n = put_raw(
            buf, &len, raw,
            raw_body(raw, bad[i].type, bad[i].version, bad[i].seq, bad[i].t_us, payload, bad[i].n));
        frame_t ok = make_button(9, 9, 1);
        put(buf, &len, &ok);
        start(&d);
        feed_all(&d, buf, len);
        if (d.counters.malformed != 1) {
            fprintf(stderr, "reject case %zu\n", i);
        }
        CHECK_COUNTERS(&d, 1, 0, 1, 0, n);
    }

    /* Bad CRC: corrupt one bit of the body (CRC bytes included) before COBS,
     * so the framing stays valid: exactly one CRC error each. */
    frame_t frames[4] = {make_hello(1, 1), make_samples(2, 2, 30), make_status(3, 3),
                         make_button(4, 4, 1)};
    size_t nframes = 0, expected_garbage = 0;
    len = 0;
    for (int f = 0; f < 4; f++) {
        uint8_t enc[FRAME_ENCODE_MAX];
        size_t n = frame_encode(&frames[f], enc, sizeof enc);
        static frame_decoder_t tmp;
        frame_decoder_init(&tmp);
        frame_decoder_feed(&tmp, enc, n, NULL, NULL); /* white box: the body */
        size_t body_n = tmp.len;
        memcpy(raw, tmp.buf, body_n);
        for (size_t bit = 0; bit < body_n * 8; bit += 13) {
            raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            expected_garbage += put_raw(buf, &len, raw, body_n);
            raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            nframes++;
        }
    }
    start(&d);
    feed_all(&d, buf, len);
    CHECK_COUNTERS(&d, 0, nframes, 0, 0, expected_garbage);
    CHECK(nframes > 300);
}

/* ---- seq and t_us -------------------------------------------------------- */

static void feed_frame(frame_decoder_t *d, const frame_t *f)
{
    uint8_t enc[FRAME_ENCODE_MAX];
    size_t n = frame_encode(f, enc, sizeof enc);
    CHECK(n > 0);
    feed_all(d, enc, n);
}

static void test_seq(void)
{
    static frame_decoder_t d;
    start(&d);
    static const struct {
        uint16_t seq;
        uint64_t lost; /* total after this frame */
    } steps[] = {
        {10, 0},
        {11, 0},
        {15, 3},
        {16, 3},
        {65534, 3 + 65517},
        {65535, 65520},
        {0, 65520},
        {2, 65521},
        {65535, 65521 + 65532},
        {1, 131053 + 1},
    };
    uint32_t t = 100;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        frame_t f = make_samples(steps[i].seq, t += 1000, 1);
        feed_frame(&d, &f);
        CHECK_EQ_INT(d.counters.frames_lost, steps[i].lost);
    }
    CHECK_COUNTERS(&d, 10, 0, 0, 131054, 0);

    /* A duplicate is dropped and counted as malformed; continuity stays. */
    start(&d);
    frame_t f = make_status(7, 1000);
    feed_frame(&d, &f);
    f = make_button(7, 2000, 1);
    feed_frame(&d, &f);
    f = make_button(8, 3000, 0);
    feed_frame(&d, &f);
    CHECK_EQ_INT(d.counters.malformed, 1);
    CHECK_EQ_INT(d.counters.frames_lost, 0);
    CHECK_EQ_INT(d.counters.frames_ok, 2);
    CHECK(col.n == 2 && col.got[1].type == FRAME_BUTTON && col.got[1].u.button == 0);

    /* Garbage with zeros between frames does not look like lost frames. */
    start(&d);
    f = make_status(20, 1000);
    feed_frame(&d, &f);
    static const uint8_t noise[] = {0x00, 0x00, 0x02, 0x33, 0x00, 0x00};
    feed_all(&d, noise, sizeof noise);
    f = make_status(21, 2000);
    feed_frame(&d, &f);
    CHECK_COUNTERS(&d, 2, 0, 1, 0, 6);

    /* Reboot: a HELLO whose clock went back; nothing counted as lost. */
    start(&d);
    f = make_samples(500, 3000000000u, 30);
    feed_frame(&d, &f);
    f = make_hello(0, 20000);
    feed_frame(&d, &f);
    CHECK_EQ_INT(d.counters.frames_lost, 0);
    f = make_samples(3, 21000, 1); /* 1 and 2 lost after the reboot */
    feed_frame(&d, &f);
    CHECK_EQ_INT(d.counters.frames_lost, 2);
    /* A reboot HELLO that repeats the last seq is still a reboot. */
    f = make_hello(3, 100);
    feed_frame(&d, &f);
    CHECK_COUNTERS(&d, 4, 0, 0, 2, 0);

    /* A clock wrap right before a periodic HELLO is not a reboot. */
    start(&d);
    f = make_samples(1000, 0xFFFFFF00u, 30);
    feed_frame(&d, &f);
    f = make_hello(1006, 5000); /* 5256 us later, 5 frames lost */
    feed_frame(&d, &f);
    CHECK_EQ_INT(d.counters.frames_lost, 5);
    /* At the edge of the window, backwards is a reboot. */
    f = make_samples(1007, FRAME_WRAP_WINDOW_US - 1, 30);
    feed_frame(&d, &f);
    f = make_hello(1010, 0xFFFFFFFFu); /* later, not earlier: no question */
    feed_frame(&d, &f);
    CHECK_EQ_INT(d.counters.frames_lost, 5 + 2);
    f = make_samples(1011, 0xFFFFFFFFu, 1);
    feed_frame(&d, &f);
    f = make_hello(2000, FRAME_WRAP_WINDOW_US - 2); /* forward 10 s - 1 us: a wrap */
    feed_frame(&d, &f);
    CHECK_EQ_INT(d.counters.frames_lost, 7 + 988);
    f = make_hello(3000, FRAME_WRAP_WINDOW_US - 3); /* 1 us back: a reboot */
    feed_frame(&d, &f);
    CHECK_EQ_INT(d.counters.frames_lost, 995);
    f = make_samples(3001, 0xFFFFFFFFu, 1);
    feed_frame(&d, &f);
    f = make_hello(3100, FRAME_WRAP_WINDOW_US - 1); /* forward exactly 10 s: a reboot */
    feed_frame(&d, &f);
    CHECK_EQ_INT(d.counters.frames_lost, 995);
    /* Only a HELLO can say the device rebooted. */
    f = make_samples(3105, 1000, 1);
    feed_frame(&d, &f);
    CHECK_EQ_INT(d.counters.frames_lost, 999);

    /* HELLO REQUESTs (seq 0) do not break continuity. */
    start(&d);
    f = make_status(40, 1);
    feed_frame(&d, &f);
    f = frame_header(FRAME_HELLO_REQUEST, 0, 0);
    feed_frame(&d, &f);
    f = make_status(41, 2);
    feed_frame(&d, &f);
    CHECK_COUNTERS(&d, 3, 0, 0, 0, 0);

    /* Reset: forgets continuity and the partial frame, keeps counters. */
    start(&d);
    f = make_status(50, 1);
    feed_frame(&d, &f);
    f = make_status(60, 2);
    feed_frame(&d, &f);
    uint8_t enc[FRAME_ENCODE_MAX];
    size_t n = frame_encode(&f, enc, sizeof enc);
    feed_all(&d, enc, 5);
    CHECK_EQ_INT(frame_decoder_pending(&d), 5);
    frame_decoder_reset(&d);
    CHECK_EQ_INT(frame_decoder_pending(&d), 0);
    CHECK_COUNTERS(&d, 2, 0, 0, 9, 5);
    f = make_status(7000, 3);
    feed_frame(&d, &f);
    CHECK_COUNTERS(&d, 3, 0, 0, 9, 5);
    CHECK_EQ_INT(d.counters.bytes, 3 * n + 5);
    /* Reset while skipping an oversized candidate. */
    static uint8_t junk[700];
    memset(junk, 0x22, sizeof junk);
    feed_all(&d, junk, sizeof junk);
    frame_decoder_reset(&d);
    f = make_status(7001, 4);
    feed_frame(&d, &f);
    CHECK_COUNTERS(&d, 4, 0, 1, 9, 5 + sizeof junk);
}

static void test_t_us_wrap(void)
{
    static frame_decoder_t d;
    start(&d);
    static const uint32_t t[] = {0xFFFFFFF0u, 0xFFFFFFFFu, 0x00000000u, 0x10u};
    for (int i = 0; i < 4; i++) {
        frame_t f = make_samples((uint16_t)(i + 1), t[i], 2);
        feed_frame(&d, &f);
    }
    CHECK_COUNTERS(&d, 4, 0, 0, 0, 0);
    for (int i = 0; i < 4 && i < (int)col.n; i++) {
        CHECK_EQ_INT(col.got[i].t_us, t[i]);
    }
}

static void test_empty(void)
{
    static frame_decoder_t d;
    start(&d);
    static const uint8_t zeros[] = {0, 0, 0};
    feed_all(&d, zeros, 3);
    CHECK_COUNTERS(&d, 0, 0, 0, 0, 3);
    frame_t a = make_button(1, 1, 1), b = make_button(2, 2, 0);
    feed_frame(&d, &a);
    feed_all(&d, zeros, 2);
    feed_frame(&d, &b);
    CHECK_COUNTERS(&d, 2, 0, 0, 0, 5);
    feed_all(&d, NULL, 0);
    CHECK_COUNTERS(&d, 2, 0, 0, 0, 5);
}

int main(int argc, char **argv)
{
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : (unsigned)time(NULL);
    fprintf(stderr, "test_frame: seed %u\n", seed);
    sim_rng_seed(&test_rng, seed);
    test_crc();
    test_cobs();
    test_types();
    test_wire_layout();
    test_chunking(seed);
    test_garbage();
    test_truncated();
    test_oversized();
    test_rejects();
    test_seq();
    test_t_us_wrap();
    test_empty();
    return CHECK_DONE();
}
