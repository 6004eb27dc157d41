#include "xdf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const uint8_t xdf_boundary_uuid[16] = {0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5, 0x41, 0x0F,
                                       0xB3, 0x0E, 0xD5, 0x46, 0x73, 0x83, 0xCB, 0xE4};

void xdf_buf_init(xdf_buf_t *b, void *mem, size_t cap)
{
    b->data = mem;
    b->len = 0;
    b->cap = cap;
}

/* Little-endian stores, whatever the host's byte order. */
static uint8_t *put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *put_double(uint8_t *p, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return put_le(p, bits, 8);
}

const xdf_channel_info_t xdf_channels[XDF_CHANNELS] = {
    [XDF_CH_P] = {"p", "pascal", "newton", "Pressure", "Force"},
    [XDF_CH_ACC_X] = {"acc_x", "g", "g", "Accelerometer", "Accelerometer"},
    [XDF_CH_ACC_Y] = {"acc_y", "g", "g", "Accelerometer", "Accelerometer"},
    [XDF_CH_ACC_Z] = {"acc_z", "g", "g", "Accelerometer", "Accelerometer"},
    [XDF_CH_GYR_X] = {"gyr_x", "degrees/s", "degrees/s", "Gyroscope", "Gyroscope"},
    [XDF_CH_GYR_Y] = {"gyr_y", "degrees/s", "degrees/s", "Gyroscope", "Gyroscope"},
    [XDF_CH_GYR_Z] = {"gyr_z", "degrees/s", "degrees/s", "Gyroscope", "Gyroscope"},
    [XDF_CH_SAMPLE_INDEX] = {"sample_index", "count", "count", "Index", "Index"},
    [XDF_CH_T_DEV] = {"t_dev", "seconds", "seconds", "DeviceTime", "DeviceTime"},
    [XDF_CH_FRAME_SAMPLES] = {"frame_samples", "count", "count", "Frame", "Frame"},
};

size_t xdf_varlen_size(uint64_t n)
{
    return n <= 0xFF ? 2 : n <= 0xFFFFFFFFu ? 5 : 9;
}

static uint8_t *put_varlen(uint8_t *p, uint64_t n)
{
    int bytes = n <= 0xFF ? 1 : n <= 0xFFFFFFFFu ? 4 : 8;
    *p++ = (uint8_t)bytes;
    return put_le(p, n, bytes);
}

/* Reserves room for a chunk whose Tag + Content take body bytes and writes
 * its length and tag; returns where the content goes, or NULL. */
static uint8_t *chunk_begin(xdf_buf_t *b, uint16_t tag, size_t body)
{
    size_t total = xdf_varlen_size(body) + body;
    if (b->cap - b->len < total)
        return NULL;
    uint8_t *p = put_varlen(b->data + b->len, body);
    p = put_le(p, tag, 2);
    b->len += total;
    return p;
}

int xdf_put_magic(xdf_buf_t *b)
{
    if (b->cap - b->len < 4)
        return -ENOBUFS;
    memcpy(b->data + b->len, "XDF:", 4);
    b->len += 4;
    return 0;
}

int xdf_put_file_header(xdf_buf_t *b, const char *xml)
{
    size_t n = strlen(xml);
    uint8_t *p = chunk_begin(b, XDF_FILE_HEADER, 2 + n);
    if (!p)
        return -ENOBUFS;
    memcpy(p, xml, n);
    return 0;
}

static int put_id_xml(xdf_buf_t *b, uint16_t tag, uint32_t id, const char *xml, size_t n)
{
    uint8_t *p = chunk_begin(b, tag, 2 + 4 + n);
    if (!p)
        return -ENOBUFS;
    p = put_le(p, id, 4);
    memcpy(p, xml, n);
    return 0;
}

int xdf_put_stream_header(xdf_buf_t *b, uint32_t stream_id, const char *xml, size_t xml_len)
{
    return put_id_xml(b, XDF_STREAM_HEADER, stream_id, xml, xml_len);
}

int xdf_put_stream_footer(xdf_buf_t *b, uint32_t stream_id, const char *xml, size_t xml_len)
{
    return put_id_xml(b, XDF_STREAM_FOOTER, stream_id, xml, xml_len);
}

/* Tag and content of a Samples chunk of n time-stamped samples whose values
 * take value_bytes in all. */
static size_t samples_body(size_t n, size_t value_bytes)
{
    /* tag, stream id, sample count; each sample's TimeStampBytes and stamp */
    return 2 + 4 + xdf_varlen_size(n) + n * (1 + 8) + value_bytes;
}

static size_t string_bytes(size_t n, const size_t *lens)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += xdf_varlen_size(lens[i]) + lens[i];
    return bytes;
}

size_t xdf_samples_double_size(unsigned channels, size_t n)
{
    size_t body = samples_body(n, n * 8 * (size_t)channels);
    return xdf_varlen_size(body) + body;
}

size_t xdf_samples_string_size(size_t n, const size_t *lens)
{
    size_t body = samples_body(n, string_bytes(n, lens));
    return xdf_varlen_size(body) + body;
}

/* Starts a Samples chunk of n time-stamped samples whose values take
 * value_bytes in all: reserves it and writes everything before the first
 * sample. Returns where the samples go, or NULL. */
static uint8_t *samples_begin(xdf_buf_t *b, uint32_t stream_id, size_t n, size_t value_bytes)
{
    uint8_t *p = chunk_begin(b, XDF_SAMPLES, samples_body(n, value_bytes));
    if (!p)
        return NULL;
    p = put_le(p, stream_id, 4);
    return put_varlen(p, n);
}

static uint8_t *put_stamp(uint8_t *p, double stamp)
{
    *p++ = 8;
    return put_double(p, stamp);
}

int xdf_put_samples_double(xdf_buf_t *b, uint32_t stream_id, unsigned channels, size_t n,
                           const double *stamps, const double *values)
{
    uint8_t *p = samples_begin(b, stream_id, n, n * 8 * (size_t)channels);
    if (!p)
        return -ENOBUFS;
    for (size_t i = 0; i < n; i++) {
        p = put_stamp(p, stamps[i]);
        for (unsigned c = 0; c < channels; c++)
            p = put_double(p, values[i * channels + c]);
    }
    return 0;
}

int xdf_put_samples_string(xdf_buf_t *b, uint32_t stream_id, size_t n, const double *stamps,
                           const char *const *strings, const size_t *lens)
{
    uint8_t *p = samples_begin(b, stream_id, n, string_bytes(n, lens));
    if (!p)
        return -ENOBUFS;
    for (size_t i = 0; i < n; i++) {
        p = put_stamp(p, stamps[i]);
        p = put_varlen(p, lens[i]);
        memcpy(p, strings[i], lens[i]);
        p += lens[i];
    }
    return 0;
}

int xdf_put_clock_offset(xdf_buf_t *b, uint32_t stream_id, double collection_time,
                         double offset_value)
{
    uint8_t *p = chunk_begin(b, XDF_CLOCK_OFFSET, 2 + 4 + 16);
    if (!p)
        return -ENOBUFS;
    p = put_le(p, stream_id, 4);
    p = put_double(p, collection_time);
    put_double(p, offset_value);
    return 0;
}

int xdf_put_boundary(xdf_buf_t *b)
{
    uint8_t *p = chunk_begin(b, XDF_BOUNDARY, 2 + 16);
    if (!p)
        return -ENOBUFS;
    memcpy(p, xdf_boundary_uuid, 16);
    return 0;
}

int xdf_xml_escape(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            break;
        }
        size_t k = rep ? strlen(rep) : 1;
        if (n + k >= cap)
            return -ENOBUFS;
        if (rep)
            memcpy(out + n, rep, k);
        else
            out[n] = *s;
        n += k;
    }
    if (n >= cap)
        return -ENOBUFS;
    out[n] = '\0';
    return (int)n;
}

/* ------------------------------------------------------------- reading */

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static double get_double(const uint8_t *p)
{
    uint64_t bits = get_le(p, 8);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Reads a variable-length integer at *p (before end); returns 0 or -EINVAL. */
static int get_varlen(const uint8_t **p, const uint8_t *end, uint64_t *n)
{
    if (*p >= end)
        return -EINVAL;
    int bytes = **p;
    if (bytes != 1 && bytes != 4 && bytes != 8)
        return -EINVAL;
    if ((size_t)(end - *p) < (size_t)bytes + 1)
        return -EINVAL;
    *n = get_le(*p + 1, bytes);
    *p += 1 + bytes;
    return 0;
}

int xdf_reader_init(xdf_reader_t *r, const void *data, size_t size)
{
    memset(r, 0, sizeof *r);
    r->data = data;
    r->size = size;
    if (size < 4 || memcmp(data, "XDF:", 4) != 0)
        return -EINVAL;
    r->pos = 4;
    return 0;
}

/* Smallest Tag + Content of each tag, so that a chunk too short to hold its
 * fixed fields is damage. */
static size_t min_body(uint16_t tag)
{
    switch (tag) {
    case XDF_FILE_HEADER:
        return 2;
    case XDF_STREAM_HEADER:
    case XDF_STREAM_FOOTER:
        return 6;
    case XDF_SAMPLES:
        return 6 + 2;
    case XDF_CLOCK_OFFSET:
        return 6 + 16;
    case XDF_BOUNDARY:
        return 2 + 16;
    default:
        return SIZE_MAX;
    }
}

/* Skips to just after the next Boundary UUID; false when there is none. */
static bool resync(xdf_reader_t *r, size_t from)
{
    for (size_t i = from; i + 16 <= r->size; i++) {
        if (r->data[i] == 0x43 && memcmp(r->data + i, xdf_boundary_uuid, 16) == 0) {
            r->damaged_bytes += i + 16 - r->pos;
            r->pos = i + 16;
            return true;
        }
    }
    r->damaged_bytes += r->size - r->pos;
    r->pos = r->size;
    return false;
}

int xdf_reader_next(xdf_reader_t *r, xdf_chunk_t *c)
{
    while (r->pos < r->size) {
        const uint8_t *p = r->data + r->pos, *end = r->data + r->size;
        uint64_t body;
        bool ok = get_varlen(&p, end, &body) == 0;
        /* A chunk running past the end is a cut-off file when no boundary
         * follows, otherwise damage in the middle. */
        bool past_end = ok && body > (uint64_t)(end - p);
        if (past_end)
            ok = false;
        uint16_t tag = 0;
        if (ok) {
            tag = (uint16_t)get_le(p, body >= 2 ? 2 : 0);
            ok = body >= min_body(tag);
            if (ok && tag == XDF_BOUNDARY)
                ok = body == 18 && memcmp(p + 2, xdf_boundary_uuid, 16) == 0;
        }
        if (!ok) {
            r->damages++;
            size_t start = r->pos;
            if (!resync(r, start + 1)) {
                if (past_end)
                    r->truncated = true;
                return 0;
            }
            continue;
        }
        c->offset = r->pos;
        c->tag = tag;
        p += 2;
        size_t rest = (size_t)body - 2;
        if (tag == XDF_STREAM_HEADER || tag == XDF_SAMPLES || tag == XDF_CLOCK_OFFSET ||
            tag == XDF_STREAM_FOOTER) {
            c->stream_id = (uint32_t)get_le(p, 4);
            p += 4;
            rest -= 4;
        } else {
            c->stream_id = 0;
        }
        c->content = p;
        c->len = rest;
        r->pos = (size_t)(p + rest - r->data);
        return 1;
    }
    return 0;
}

int xdf_samples_begin(xdf_samples_t *s, const xdf_chunk_t *c)
{
    if (c->tag != XDF_SAMPLES)
        return -EINVAL;
    s->p = c->content;
    s->end = c->content + c->len;
    return get_varlen(&s->p, s->end, &s->left);
}

static int sample_stamp(xdf_samples_t *s, double *stamp)
{
    if (s->p >= s->end)
        return -EINVAL;
    int bytes = *s->p++;
    if (bytes == 0) {
        *stamp = NAN;
        return 0;
    }
    if (bytes != 8 || s->end - s->p < 8)
        return -EINVAL;
    *stamp = get_double(s->p);
    s->p += 8;
    return 0;
}

int xdf_samples_next_double(xdf_samples_t *s, unsigned channels, double *stamp, double *values)
{
    if (s->left == 0)
        return 0;
    if (sample_stamp(s, stamp) != 0 || (size_t)(s->end - s->p) < 8 * (size_t)channels)
        return -EINVAL;
    for (unsigned c = 0; c < channels; c++, s->p += 8)
        values[c] = get_double(s->p);
    s->left--;
    return 1;
}

int xdf_samples_next_string(xdf_samples_t *s, double *stamp, const char **str, size_t *len)
{
    if (s->left == 0)
        return 0;
    uint64_t n;
    if (sample_stamp(s, stamp) != 0 || get_varlen(&s->p, s->end, &n) != 0 ||
        n > (uint64_t)(s->end - s->p))
        return -EINVAL;
    *str = (const char *)s->p;
    *len = (size_t)n;
    s->p += n;
    s->left--;
    return 1;
}

static const char *find(const char *hay, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; p + n <= end; p++)
        if (memcmp(p, needle, n) == 0)
            return p;
    return NULL;
}

int xdf_xml_text(const char *xml, size_t xml_len, const char *within, const char *tag, char *out,
                 size_t cap)
{
    const char *begin = xml, *end = xml + xml_len;
    char open[64], close[64];
    if (within) {
        snprintf(open, sizeof open, "<%s>", within);
        snprintf(close, sizeof close, "</%s>", within);
        const char *a = find(begin, end, open);
        if (!a)
            return -ENOENT;
        const char *b = find(a, end, close);
        if (!b)
            return -ENOENT;
        begin = a + strlen(open);
        end = b;
    }
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = find(begin, end, open);
    if (!a)
        return -ENOENT;
    a += strlen(open);
    const char *b = find(a, end, close);
    if (!b)
        return -ENOENT;
    static const struct {
        const char *entity;
        char c;
    } entities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t n = 0;
    while (a < b) {
        char c = *a;
        size_t skip = 1;
        if (c == '&')
            for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++) {
                size_t k = strlen(entities[i].entity);
                if ((size_t)(b - a) >= k && memcmp(a, entities[i].entity, k) == 0) {
                    c = entities[i].c;
                    skip = k;
                    break;
                }
            }
        if (n + 1 >= cap)
            return -ENOBUFS;
        out[n++] = c;
        a += skip;
    }
    out[n] = '\0';
    return 0;
}
