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

void json_init_object_after(json_t *j, char *buf, size_t cap, const char *text, size_t n)
{
    json_init(j, buf, cap);
    if (j->overflow || n + 1 > cap) {
        j->overflow = true;
        return;
    }
    memcpy(buf, text, n);
    buf[n] = '\0';
    j->len = n;
    j->depth = 1;
    j->need_comma[0] = j->need_comma[1] = true;
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
 * arithmetic and a text of at most 10 digits, '.', '-' (12 bytes), written
 * at dst (which has FIXED_SMALL_MAX bytes of room); returns its length.
 * The text is the same as json_fixed's: the integer part, then '.' and the
 * fraction's digits without the trailing zeros, none of them if all are
 * zero; a minus unless the text is a bare 0.
 *
 * Inlined with `decimals` a constant (json_fixed_array's switch), every
 * division is by a constant (a multiplication) and the loops over the
 * fraction are unrolled. The fraction's digits are gathered in a register
 * (its first character in the low byte), where the trailing zeros are
 * counted without reading the text back, and every byte is stored once,
 * in place: a load of bytes just stored in pieces stalls the processor. */
#define FIXED_SMALL_MAX 16
#define ASCII_ZEROS 0x3030303030303030ull /* "00000000" as a little-endian word */

static inline __attribute__((always_inline)) size_t fixed_small(char *dst, uint32_t units,
                                                                int decimals, bool negative)
{
    uint32_t scale = (uint32_t)pow10_table[decimals];
    uint32_t integer = units / scale, fraction = units % scale;
    /* The fraction: a ninth digit on its own, the first eight in a word. */
    char ninth = '0';
    int d = decimals;
    if (d > 8) {
        ninth = (char)('0' + fraction % 10);
        fraction /= 10;
        d = 8;
    }
    uint64_t word = 0;
    if (d & 1) {
        word = (uint64_t)('0' + fraction % 10) << (8 * (d - 1));
        fraction /= 10;
        d--;
    }
#pragma GCC unroll 4
    while (d > 0) {
        d -= 2;
        uint16_t pair;
        memcpy(&pair, &digit_pairs[2 * (fraction % 100)], 2);
        word |= (uint64_t)pair << (8 * d);
        fraction /= 100;
    }
    /* The digits kept: up to the last that is not '0', the highest byte of
     * the word that differs from '0'. */
    size_t kept = 0;
    if (decimals > 8 && ninth != '0') {
        kept = 9;
    } else if (decimals > 0) {
        uint64_t differs = word ^ ASCII_ZEROS;
        if (decimals < 8)
            differs &= (1ull << (8 * decimals)) - 1;
        if (differs)
            kept = 8 - (size_t)__builtin_clzll(differs) / 8;
    }
    /* The integer part's length from its bit length (1233 / 4096 is just
     * over log10(2)), then its digits from the right. integer | 1 has the
     * same number of digits, and 0 has one. */
    uint32_t odd = integer | 1;
    unsigned guess = ((32u - (unsigned)__builtin_clz(odd)) * 1233u) >> 12;
    size_t digits = guess + 1 - (odd < pow10_table[guess]);
    char *out = dst;
    if (negative && units != 0) /* the text is a bare 0 only when units is 0 */
        *out++ = '-';
    char *dot = out + digits;
    char *p = dot;
    while (integer >= 100) {
        p -= 2;
        memcpy(p, &digit_pairs[2 * (integer % 100)], 2);
        integer /= 100;
    }
    if (integer >= 10)
        memcpy(p - 2, &digit_pairs[2 * integer], 2);
    else
        p[-1] = (char)('0' + integer);
    if (decimals > 0) {
        *dot = '.';
        memcpy(dot + 1, &word, decimals < 8 ? (size_t)decimals : 8);
        if (decimals > 8)
            dot[9] = ninth;
    }
    return (size_t)(dot - dst) + (kept > 0 ? kept + 1 : 0);
}

/* json_fixed_array's loop for one number of decimals (a constant once
 * inlined). The writer's length and comma state are kept in registers
 * through the short texts and stored back around the general path. */
static inline __attribute__((always_inline)) void fixed_values(json_t *j, const double *v, size_t n,
                                                               int decimals)
{
    double scale = (double)pow10_table[decimals];
    size_t len = j->len;
    size_t cap = j->overflow ? 0 : j->cap;
    bool comma = j->need_comma[j->depth];
    for (size_t i = 0; i < n; i++) {
        /* The same double arithmetic as json_fixed, so the same rounding;
         * NaN fails the comparison and takes the general path. */
        double scaled = fabs(v[i]) * scale + 0.5;
        /* Room for a comma, the longest short text and the terminator. */
        if (scaled < 4294967296.0 && len + 1 + FIXED_SMALL_MAX + 1 <= cap) {
            char *out = j->buf + len;
            *out = ',';
            out += comma;
            comma = true;
            out += fixed_small(out, (uint32_t)scaled, decimals, v[i] < 0);
            len = (size_t)(out - j->buf);
        } else {
            if (!j->overflow)
                j->buf[len] = '\0';
            j->len = len;
            j->need_comma[j->depth] = comma;
            json_fixed(j, v[i], decimals);
            len = j->len;
            cap = j->overflow ? 0 : j->cap;
            comma = true;
        }
    }
    if (!j->overflow)
        j->buf[len] = '\0';
    j->len = len;
    j->need_comma[j->depth] = comma;
}

/* Each number of decimals json_fixed_array accepts, with fixed_values
 * specialised once for each (its decimals a constant) and looked up by
 * decimals in a table. */
#define FIXED_DECIMALS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)
#define FIXED_VALUES_FOR(D)                                                                        \
    static void fixed_values_##D(json_t *j, const double *v, size_t n)                             \
    {                                                                                              \
        fixed_values(j, v, n, D);                                                                  \
    }
#define FIXED_VALUES_ROW(D) fixed_values_##D,
typedef void fixed_values_fn(json_t *j, const double *v, size_t n);
FIXED_DECIMALS(FIXED_VALUES_FOR)
static fixed_values_fn *const fixed_values_by_decimals[] = {FIXED_DECIMALS(FIXED_VALUES_ROW)};

void json_fixed_array(json_t *j, const double *v, size_t n, int decimals)
{
    json_array_begin(j);
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    fixed_values_by_decimals[decimals](j, v, n);
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
