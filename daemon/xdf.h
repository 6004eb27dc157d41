/* xdf: the Extensible Data Format 1.0 (the file format of Lab Streaming
 * Layer's LabRecorder), chunk by chunk.
 *
 * A file is the magic "XDF:" followed by chunks. Every chunk is
 *   NumLengthBytes (1 byte: 1, 4 or 8), Length (that many bytes, little
 *   endian: the bytes of Tag and Content), Tag (uint16 LE), Content.
 * Tags: 1 FileHeader (XML), 2 StreamHeader (StreamId uint32 LE + XML),
 * 3 Samples (StreamId, NumSamples as a variable-length integer, then each
 * sample: TimeStampBytes (0 or 8), the optional double time stamp, the
 * values), 4 ClockOffset (StreamId, CollectionTime double, OffsetValue
 * double), 5 Boundary (a fixed 16-byte UUID, so that a reader can find its
 * way again after damage), 6 StreamFooter (StreamId + XML). A
 * variable-length integer is a NumLengthBytes byte and that many bytes.
 *
 * Writing: functions append one chunk to a caller-owned xdf_buf_t; each
 * either appends the whole chunk and returns 0, or appends nothing and
 * returns -ENOBUFS. They allocate nothing and keep no state: any thread.
 *
 * Reading: xdf_reader_t walks chunks of a file held in memory, checking every
 * chunk's length, tag and stream id; at damage (a length running past the
 * end, an unknown tag, a chunk too short for its tag) it counts the damage
 * and resynchronises after the next Boundary chunk, as the specification
 * intends. Sample values are then decoded with xdf_samples_t. Pure: any
 * thread, no allocation.
 */
#ifndef MASSAGED_XDF_H
#define MASSAGED_XDF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum xdf_tag {
    XDF_FILE_HEADER = 1,
    XDF_STREAM_HEADER = 2,
    XDF_SAMPLES = 3,
    XDF_CLOCK_OFFSET = 4,
    XDF_BOUNDARY = 5,
    XDF_STREAM_FOOTER = 6,
};

/* The channels of a device stream as this project records it
 * (docs/RECORDING.md): one double64 value each per sample, in this order.
 * The recorder, the readers (replay, export) and the tests index a recorded
 * sample by these names, never by position. */
typedef enum {
    XDF_CH_P,             /* pascal (ball) or newton (scraper) */
    XDF_CH_ACC_X,         /* g; then y and z */
    XDF_CH_ACC_Y,
    XDF_CH_ACC_Z,
    XDF_CH_GYR_X,         /* degrees per second; then y and z */
    XDF_CH_GYR_Y,
    XDF_CH_GYR_Z,
    XDF_CH_SAMPLE_INDEX,  /* the chain's running sample index */
    XDF_CH_T_DEV,         /* seconds, unwrapped device time */
    XDF_CH_FRAME_SAMPLES, /* at a frame's first sample its sample count, else 0 */
    XDF_CHANNELS
} xdf_channel_t;

/* How each channel is described in a stream header (LSL's names). */
typedef struct {
    const char *label;        /* "p", "acc_x", ... */
    const char *unit_ball;    /* "pascal", "g", ... */
    const char *unit_scraper; /* "newton", "g", ... */
    const char *type_ball;    /* "Pressure", "Accelerometer", ... */
    const char *type_scraper; /* "Force", "Accelerometer", ... */
} xdf_channel_info_t;

extern const xdf_channel_info_t xdf_channels[XDF_CHANNELS];

/* The Boundary chunk's content, fixed by the specification. */
extern const uint8_t xdf_boundary_uuid[16];

/* ------------------------------------------------------------- writing */

/* An append-only byte buffer in caller memory. */
typedef struct {
    uint8_t *data;
    size_t len; /* bytes used */
    size_t cap; /* bytes available at data */
} xdf_buf_t;

void xdf_buf_init(xdf_buf_t *b, void *mem, size_t cap);

/* Bytes the variable-length integer n takes (2, 5 or 9). */
size_t xdf_varlen_size(uint64_t n);

/* "XDF:" */
int xdf_put_magic(xdf_buf_t *b);
/* FileHeader with the given XML (NUL-terminated). */
int xdf_put_file_header(xdf_buf_t *b, const char *xml);
int xdf_put_stream_header(xdf_buf_t *b, uint32_t stream_id, const char *xml, size_t xml_len);
int xdf_put_stream_footer(xdf_buf_t *b, uint32_t stream_id, const char *xml, size_t xml_len);
/* Samples of a double64 stream: n samples of `channels` values each,
 * values[i * channels + c], with time stamps stamps[i] (Unix seconds here). */
int xdf_put_samples_double(xdf_buf_t *b, uint32_t stream_id, unsigned channels, size_t n,
                           const double *stamps, const double *values);
/* Samples of a one-channel string stream: n strings, strings[i] of lens[i]
 * bytes (UTF-8, no NUL needed), with time stamps stamps[i]. */
int xdf_put_samples_string(xdf_buf_t *b, uint32_t stream_id, size_t n, const double *stamps,
                           const char *const *strings, const size_t *lens);
/* The bytes the two calls above append for the same arguments (the whole
 * chunk), for a writer that makes room first. */
size_t xdf_samples_double_size(unsigned channels, size_t n);
size_t xdf_samples_string_size(size_t n, const size_t *lens);
int xdf_put_clock_offset(xdf_buf_t *b, uint32_t stream_id, double collection_time,
                         double offset_value);
int xdf_put_boundary(xdf_buf_t *b);

/* Copies s into out (cap bytes, NUL-terminated) with &, <, >, " and '
 * escaped for XML text; returns the length written, or -ENOBUFS. */
int xdf_xml_escape(char *out, size_t cap, const char *s);

/* ------------------------------------------------------------- reading */

typedef struct {
    uint16_t tag;           /* an enum xdf_tag */
    uint32_t stream_id;     /* tags 2, 3, 4, 6; 0 otherwise */
    const uint8_t *content; /* after the stream id, if any */
    size_t len;             /* bytes at content */
    size_t offset;          /* file offset of the chunk's first byte */
} xdf_chunk_t;

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
    uint64_t damaged_bytes; /* bytes skipped while resynchronising */
    unsigned damages;       /* places where damage was found */
    bool truncated;         /* the last chunk ran past the end of the data */
} xdf_reader_t;

/* Checks the magic; returns 0 or -EINVAL (not an XDF file). */
int xdf_reader_init(xdf_reader_t *r, const void *data, size_t size);

/* Reads the next sound chunk into *c: returns 1, or 0 at the end. Damage is
 * skipped up to the next Boundary chunk and counted. */
int xdf_reader_next(xdf_reader_t *r, xdf_chunk_t *c);

/* Decodes the samples of a Samples chunk one by one. */
typedef struct {
    const uint8_t *p, *end;
    uint64_t left; /* samples not yet decoded */
} xdf_samples_t;

/* Starts on chunk c (tag XDF_SAMPLES); returns 0 or -EINVAL. */
int xdf_samples_begin(xdf_samples_t *s, const xdf_chunk_t *c);
/* The next sample of a double64 stream of `channels` channels: returns 1 (its
 * values in values[0..channels-1], its time stamp in *stamp, or NAN when it
 * has none), 0 when there are no more, -EINVAL when the chunk is malformed. */
int xdf_samples_next_double(xdf_samples_t *s, unsigned channels, double *stamp, double *values);
/* The next sample of a one-channel string stream: *str points into the
 * chunk (not NUL-terminated), *len its bytes. Returns as above. */
int xdf_samples_next_string(xdf_samples_t *s, double *stamp, const char **str, size_t *len);

/* Finds <tag>text</tag> in xml (the first one, optionally inside the first
 * <within>...</within> when within is not NULL) and copies its text, XML
 * entities undone, into out (cap bytes). Returns 0, or -ENOENT, -ENOBUFS.
 * Good enough for the headers this project writes; not a general XML
 * parser. */
int xdf_xml_text(const char *xml, size_t xml_len, const char *within, const char *tag, char *out,
                 size_t cap);

#endif
