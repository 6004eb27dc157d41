/* xdf: chunk encoding against hand-computed bytes, a round trip through the
 * reader, and the reader's handling of a cut-off file and of damage in the
 * middle (it must resume after the next Boundary chunk). */
#include "check.h"
#include "xdf.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static uint8_t mem[1 << 16];

static void test_varlen_and_boundary(void)
{
    CHECK_EQ_INT(xdf_varlen_size(0), 2);
    CHECK_EQ_INT(xdf_varlen_size(255), 2);
    CHECK_EQ_INT(xdf_varlen_size(256), 5);
    CHECK_EQ_INT(xdf_varlen_size(0xFFFFFFFFu), 5);
    CHECK_EQ_INT(xdf_varlen_size(0x100000000ull), 9);
    xdf_buf_t b;
    xdf_buf_init(&b, mem, sizeof mem);
    CHECK_EQ_INT(xdf_put_boundary(&b), 0);
    /* NumLengthBytes 1, Length 18 (tag + UUID), tag 5 LE, UUID */
    const uint8_t want[] = {1,    18,   5,    0,    0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5,
                            0x41, 0x0F, 0xB3, 0x0E, 0xD5, 0x46, 0x73, 0x83, 0xCB, 0xE4};
    CHECK_EQ_INT(b.len, sizeof want);
    CHECK(memcmp(mem, want, sizeof want) == 0);
    /* a clock offset: 1 + 1 + 2 + 4 + 16 bytes */
    xdf_buf_init(&b, mem, sizeof mem);
    CHECK_EQ_INT(xdf_put_clock_offset(&b, 7, 1.5, -0.25), 0);
    CHECK_EQ_INT(b.len, 24);
    CHECK_EQ_INT(mem[1], 22);
    CHECK_EQ_INT(mem[2], 4);
    CHECK_EQ_INT(mem[4], 7);
    /* a chunk that does not fit leaves the buffer as it was */
    xdf_buf_init(&b, mem, 10);
    CHECK_EQ_INT(xdf_put_boundary(&b), -ENOBUFS);
    CHECK_EQ_INT(b.len, 0);
}

/* Builds a small file: header, two streams, samples, offsets, footers. */
static size_t build(size_t *second_boundary_at)
{
    xdf_buf_t b;
    xdf_buf_init(&b, mem, sizeof mem);
    CHECK_EQ_INT(xdf_put_magic(&b), 0);
    CHECK_EQ_INT(
        xdf_put_file_header(&b, "<?xml version=\"1.0\"?><info><version>1.0</version></info>"), 0);
    const char *h1 = "<info><name>ball</name><channel_format>double64</channel_format>"
                     "<desc><device><serial>A&amp;B</serial></device></desc></info>";
    CHECK_EQ_INT(xdf_put_stream_header(&b, 2, h1, strlen(h1)), 0);
    const char *h2 = "<info><name>events</name><channel_format>string</channel_format></info>";
    CHECK_EQ_INT(xdf_put_stream_header(&b, 1, h2, strlen(h2)), 0);
    CHECK_EQ_INT(xdf_put_boundary(&b), 0);
    double stamps[300], values[300 * 3];
    for (int i = 0; i < 300; i++) {
        stamps[i] = 1e9 + i * 0.001;
        for (int c = 0; c < 3; c++)
            values[i * 3 + c] = i * 10 + c + 0.5;
    }
    /* 300 samples: NumSamples needs the 4-byte form; each chunk takes the
     * bytes its size function says */
    size_t before = b.len;
    CHECK_EQ_INT(xdf_put_samples_double(&b, 2, 3, 300, stamps, values), 0);
    CHECK_EQ_INT(b.len - before, xdf_samples_double_size(3, 300));
    const char *ev[2] = {"{\"a\":1}", "{\"b\":\"<x>\"}"};
    size_t lens[2] = {strlen(ev[0]), strlen(ev[1])};
    before = b.len;
    CHECK_EQ_INT(xdf_put_samples_string(&b, 1, 2, stamps, ev, lens), 0);
    CHECK_EQ_INT(b.len - before, xdf_samples_string_size(2, lens));
    *second_boundary_at = b.len;
    CHECK_EQ_INT(xdf_put_boundary(&b), 0);
    CHECK_EQ_INT(xdf_put_clock_offset(&b, 2, 5.0, 0.0), 0);
    CHECK_EQ_INT(xdf_put_samples_double(&b, 2, 3, 2, stamps + 300 - 2, values + 3 * 298), 0);
    CHECK_EQ_INT(xdf_put_stream_footer(&b, 2, "<info/>", 7), 0);
    return b.len;
}

static void test_round_trip(void)
{
    size_t at;
    size_t len = build(&at);
    xdf_reader_t r;
    CHECK_EQ_INT(xdf_reader_init(&r, mem, len), 0);
    xdf_chunk_t c;
    int tags[16], n = 0;
    unsigned samples = 0, strings = 0;
    while (xdf_reader_next(&r, &c) == 1 && n < 16) {
        tags[n++] = c.tag;
        if (c.tag == XDF_STREAM_HEADER && c.stream_id == 2) {
            char serial[16];
            CHECK_EQ_INT(xdf_xml_text((const char *)c.content, c.len, "device", "serial", serial,
                                      sizeof serial),
                         0);
            CHECK_STR(serial, "A&B");
        }
        if (c.tag == XDF_SAMPLES && c.stream_id == 2) {
            xdf_samples_t s;
            CHECK_EQ_INT(xdf_samples_begin(&s, &c), 0);
            double stamp, v[3];
            while (xdf_samples_next_double(&s, 3, &stamp, v) == 1) {
                unsigned i = samples < 300 ? samples : samples - 2;
                CHECK(stamp == 1e9 + i * 0.001);
                CHECK(v[2] == i * 10 + 2.5);
                samples++;
            }
        }
        if (c.tag == XDF_SAMPLES && c.stream_id == 1) {
            xdf_samples_t s;
            CHECK_EQ_INT(xdf_samples_begin(&s, &c), 0);
            double stamp;
            const char *str;
            size_t slen;
            while (xdf_samples_next_string(&s, &stamp, &str, &slen) == 1) {
                CHECK(slen == (strings == 0 ? 7u : 11u));
                strings++;
            }
        }
    }
    const int want[] = {1, 2, 2, 5, 3, 3, 5, 4, 3, 6};
    CHECK_EQ_INT(n, 10);
    for (int i = 0; i < n && i < 10; i++)
        CHECK_EQ_INT(tags[i], want[i]);
    CHECK_EQ_INT(samples, 302);
    CHECK_EQ_INT(strings, 2);
    CHECK_EQ_INT(r.damages, 0);
    CHECK(!r.truncated);
}

static void test_truncated_and_damaged(void)
{
    size_t at;
    size_t len = build(&at);
    /* every cut-off point: the reader never runs past the end, never reports
     * a chunk that is not whole, and sees the cut unless it falls between
     * chunks */
    for (size_t cut = 4; cut < len; cut++) {
        xdf_reader_t r;
        CHECK_EQ_INT(xdf_reader_init(&r, mem, cut), 0);
        xdf_chunk_t c;
        while (xdf_reader_next(&r, &c) == 1)
            CHECK(c.content + c.len <= mem + cut);
    }
    /* damage in the first samples chunk: resume after the second boundary */
    size_t first_samples = 0;
    xdf_reader_t r;
    CHECK_EQ_INT(xdf_reader_init(&r, mem, len), 0);
    xdf_chunk_t c;
    while (xdf_reader_next(&r, &c) == 1)
        if (c.tag == XDF_SAMPLES && !first_samples)
            first_samples = c.offset;
    /* now break the length byte of that samples chunk */
    mem[first_samples] = 3; /* NumLengthBytes 3 is invalid */
    CHECK_EQ_INT(xdf_reader_init(&r, mem, len), 0);
    int after = 0, before = 0;
    while (xdf_reader_next(&r, &c) == 1) {
        if (c.offset > at)
            after++;
        else
            before++;
    }
    CHECK_EQ_INT(r.damages, 1);
    CHECK_EQ_INT(before, 4); /* header, 2 stream headers, boundary */
    CHECK_EQ_INT(after, 3);  /* clock offset, samples, footer */
    CHECK(r.damaged_bytes > 0);
}

static void test_escape(void)
{
    char out[64];
    CHECK_EQ_INT(xdf_xml_escape(out, sizeof out, "a<b>&'\""), 27);
    CHECK_STR(out, "a&lt;b&gt;&amp;&apos;&quot;");
    CHECK_EQ_INT(xdf_xml_escape(out, 4, "&&"), -ENOBUFS);
    CHECK_EQ_INT(xdf_reader_init(&(xdf_reader_t){0}, "XDG:", 4), -EINVAL);
}

int main(void)
{
    test_varlen_and_boundary();
    test_round_trip();
    test_truncated_and_damaged();
    test_escape();
    return CHECK_DONE();
}
