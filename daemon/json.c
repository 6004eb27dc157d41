#include "json.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

void json_init(json_t *j, char *buf, size_t cap)
{
    memset(j, 0, sizeof *j);
    j->buf = buf;
    j->cap = cap;
    if (cap > 0)
        buf[0] = '\0';
    else
        j->overflow = true;
}

static void put(json_t *j, const char *s, size_t n)
{
    if (j->overflow)
        return;
    if (j->len + n + 1 > j->cap) {
        j->overflow = true;
        return;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

/* Numbers are formatted right-aligned at the end of a stack buffer and are
 * at most NUMBER_MAX bytes; the buffer keeps NUMBER_MAX readable bytes
 * after any number's start, so put_number copies a fixed NUMBER_MAX bytes
 * (a few vector moves, no library call for a size known only at run time)
 * and advances by the number's length. */
#define NUMBER_MAX 32
#define NUMBER_BUF (2 * NUMBER_MAX)

static void put_number(json_t *j, const char *s, size_t n)
{
    if (!j->overflow && j->len + NUMBER_MAX + 1 <= j->cap) {
        memcpy(j->buf + j->len, s, NUMBER_MAX);
        j->len += n;
        j->buf[j->len] = '\0';
        return;
    }
    put(j, s, n);
}

static void put_char(json_t *j, char c)
{
    put(j, &c, 1);
}

/* Called before every value or key: writes the separating comma. A value
 * that follows a key needs none, which json_key arranges. */
static void before_item(json_t *j)
{
    if (j->need_comma[j->depth])
        put_char(j, ',');
    j->need_comma[j->depth] = true;
}

static void open_container(json_t *j, char c)
{
    before_item(j);
    put_char(j, c);
    if (j->depth < JSON_MAX_DEPTH) {
        j->depth++;
        j->need_comma[j->depth] = false;
    } else {
        j->overflow = true;
    }
}

static void close_container(json_t *j, char c)
{
    if (j->depth > 0)
        j->depth--;
    put_char(j, c);
}

void json_object_begin(json_t *j)
{
    open_container(j, '{');
}

void json_object_end(json_t *j)
{
    close_container(j, '}');
}

void json_array_begin(json_t *j)
{
    open_container(j, '[');
}

void json_array_end(json_t *j)
{
    close_container(j, ']');
}

static void put_escaped(json_t *j, const char *s)
{
    put_char(j, '"');
    /* Runs of characters that need no escape (all of them, in the daemon's
     * keys and names) are copied in one piece. */
    const char *run = s;
    const unsigned char *p = (const unsigned char *)s;
    for (; *p; p++) {
        unsigned char c = *p;
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        put(j, run, (size_t)((const char *)p - run));
        run = (const char *)p + 1;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(j, esc, 2);
        } else {
            static const char hex[] = "0123456789abcdef";
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(j, esc, 6);
        }
    }
    put(j, run, (size_t)((const char *)p - run));
    put_char(j, '"');
}

/* Length of s if none of its characters needs an escape, else -1. */
static ptrdiff_t plain_length(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (; *p; p++)
        if (*p == '"' || *p == '\\' || *p < 0x20)
            return -1;
    return (const char *)p - s;
}

void json_key(json_t *j, const char *key)
{
    /* Every key the daemon writes is a plain name: the comma, the quoted
     * key and the colon in one bounds check and one copy (the general path
     * was a fifth of a raw message's formatting). */
    ptrdiff_t n = plain_length(key);
    if (n >= 0 && !j->overflow && j->len + (size_t)n + 5 <= j->cap) {
        char *out = j->buf + j->len;
        if (j->need_comma[j->depth])
            *out++ = ',';
        *out++ = '"';
        memcpy(out, key, (size_t)n);
        out += n;
        *out++ = '"';
        *out++ = ':';
        *out = '\0';
        j->len = (size_t)(out - j->buf);
    } else {
        before_item(j);
        put_escaped(j, key);
        put_char(j, ':');
    }
    j->need_comma[j->depth] = false; /* the value follows without a comma */
}

/* After a value inside an object the next key needs a comma. */
static void after_value(json_t *j)
{
    j->need_comma[j->depth] = true;
}

void json_string(json_t *j, const char *s)
{
    before_item(j);
    put_escaped(j, s);
    after_value(j);
}

/* Two decimal digits at a time: half the divisions of one at a time. */
static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/* Writes the decimal digits of v ending just before end; returns the first. */
static char *write_uint(char *end, uint64_t v)
{
    char *p = end;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, &digit_pairs[2 * r], 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, &digit_pairs[2 * v], 2);
    } else {
        *--p = (char)('0' + v);
    }
    return p;
}

void json_int(json_t *j, int64_t v)
{
    char text[NUMBER_BUF];
    char *end = text + NUMBER_MAX;
    /* The magnitude as unsigned, so that INT64_MIN needs no special case. */
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *p = write_uint(end, mag);
    if (v < 0)
        *--p = '-';
    before_item(j);
    put_number(j, p, (size_t)(end - p));
    after_value(j);
}

void json_uint(json_t *j, uint64_t v)
{
    char text[NUMBER_BUF];
    char *end = text + NUMBER_MAX;
    char *p = write_uint(end, v);
    before_item(j);
    put_number(j, p, (size_t)(end - p));
    after_value(j);
}

void json_bool(json_t *j, bool v)
{
    before_item(j);
    put(j, v ? "true" : "false", v ? 4 : 5);
    after_value(j);
}

void json_null(json_t *j)
{
    before_item(j);
    put(j, "null", 4);
    after_value(j);
}

void json_string_or_null(json_t *j, const char *s)
{
    if (s[0])
        json_string(j, s);
    else
        json_null(j);
}

static const uint64_t pow10_table[10] = {1,      10,      100,      1000,      10000,
                                         100000, 1000000, 10000000, 100000000, 1000000000};

void json_fixed(json_t *j, double v, int decimals)
{
    if (!isfinite(v) || fabs(v) >= 9e15) {
        if (isfinite(v))
            json_double(j, v);
        else
            json_null(j);
        return;
    }
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    /* Integer arithmetic is several times faster than printf's %f and
     * exact for the magnitudes sensors produce. */
    uint64_t scale = pow10_table[decimals];
    bool negative = v < 0;
    double scaled = fabs(v) * (double)scale + 0.5;
    if (scaled >= 1.8e19) {
        json_double(j, v);
        return;
    }
    uint64_t units = (uint64_t)scaled;
    /* Trailing zeros of the fraction are dropped from units before any digit
     * is written; the division by the constant 10 is a multiplication. */
    int digits = decimals;
    while (digits > 0 && units % 10 == 0) {
        units /= 10;
        digits--;
    }
    char text[NUMBER_BUF];
    char *end = text + NUMBER_MAX; /* at most 20 digits, '.', '-' */
    char *p = end;
    if (digits > 0) {
        /* The fraction's digits, zero-padded on the left, two at a time. */
        int d = digits;
        for (; d >= 2; d -= 2) {
            unsigned r = (unsigned)(units % 100);
            units /= 100;
            p -= 2;
            memcpy(p, &digit_pairs[2 * r], 2);
        }
        if (d) {
            *--p = (char)('0' + units % 10);
            units /= 10;
        }
        *--p = '.';
    }
    p = write_uint(p, units);
    /* Minus unless the text is a bare 0 (a negative value that rounds to 0). */
    if (negative && (p[0] != '0' || p + 1 != end))
        *--p = '-';
    before_item(j);
    put_number(j, p, (size_t)(end - p));
    after_value(j);
}

/* The common case of json_fixed: a scaled magnitude below 2^32, so 32-bit
 * arithmetic (cheaper multiplications for the divisions by constants) and a
 * text of at most 10 digits, '.', '-'. FIXED_SMALL_MAX bytes are stored at
 * dst (a fixed-size move); returns the text's length. */
#define FIXED_SMALL_MAX 16

static size_t fixed_small(char *dst, uint32_t units, int digits, bool negative)
{
    while (digits > 0 && units % 10 == 0) {
        units /= 10;
        digits--;
    }
    char text[2 * FIXED_SMALL_MAX];
    char *end = text + FIXED_SMALL_MAX;
    char *p = end;
    if (digits > 0) {
        int d = digits;
        for (; d >= 2; d -= 2) {
            unsigned r = units % 100;
            units /= 100;
            p -= 2;
            memcpy(p, &digit_pairs[2 * r], 2);
        }
        if (d) {
            *--p = (char)('0' + units % 10);
            units /= 10;
        }
        *--p = '.';
    }
    while (units >= 100) {
        unsigned r = units % 100;
        units /= 100;
        p -= 2;
        memcpy(p, &digit_pairs[2 * r], 2);
    }
    if (units >= 10) {
        p -= 2;
        memcpy(p, &digit_pairs[2 * units], 2);
    } else {
        *--p = (char)('0' + units);
    }
    if (negative && (p[0] != '0' || p + 1 != end))
        *--p = '-';
    memcpy(dst, p, FIXED_SMALL_MAX);
    return (size_t)(end - p);
}

void json_fixed_array(json_t *j, const double *v, size_t n, int decimals)
{
    json_array_begin(j);
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    double scale = (double)pow10_table[decimals];
    for (size_t i = 0; i < n; i++) {
        /* The same double arithmetic as json_fixed, so the same rounding;
         * NaN fails the comparison and takes the general path. */
        double scaled = fabs(v[i]) * scale + 0.5;
        /* Room for a comma, the longest short text and the terminator. */
        if (scaled < 4294967296.0 && !j->overflow && j->len + 1 + FIXED_SMALL_MAX + 1 <= j->cap) {
            char *out = j->buf + j->len;
            if (j->need_comma[j->depth])
                *out++ = ',';
            j->need_comma[j->depth] = true;
            out += fixed_small(out, (uint32_t)scaled, decimals, v[i] < 0);
            *out = '\0';
            j->len = (size_t)(out - j->buf);
        } else {
            json_fixed(j, v[i], decimals);
        }
    }
    json_array_end(j);
}

void json_double(json_t *j, double v)
{
    if (!isfinite(v)) {
        json_null(j);
        return;
    }
    char text[32];
    int n = snprintf(text, sizeof text, "%.9g", v);
    before_item(j);
    put(j, text, (size_t)n);
    after_value(j);
}

int json_finish(const json_t *j, size_t *len)
{
    if (j->overflow)
        return -ENOBUFS;
    if (j->depth != 0)
        return -EINVAL;
    *len = j->len;
    return 0;
}
