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

__attribute__((hot)) static void put_number(json_t *j, const char *s, size_t n)
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
__attribute__((hot)) static char *write_uint(char *end, uint64_t v)
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

__attribute__((hot)) void json_uint(json_t *j, uint64_t v)
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

/* The text of a fixed-decimal number from its scaled magnitude `units`
 * (below FIXED_TEXT_MAX) and `decimals` (0..8), written at dst, which has
 * FIXED_ROOM bytes of room (the stores run past the text); returns its
 * length. The text: a minus unless it is a bare 0, the integer part, then
 * '.' and the fraction's digits without the trailing zeros, none of them if
 * all are zero. json_fixed and json_fixed_array write it (fixed_values).
 *
 * Method: no division and no digit table. units is cut into two 8-digit
 * halves (a division by the constant 10^8 is a multiplication, and the
 * usual magnitude needs none); each half's digits come out at once, one per
 * byte, most significant in the low byte, from three multiplications by
 * fixed-point reciprocals on packed lanes (digits8). The leading zeros of
 * the integer part and the trailing zeros of the fraction are then counted
 * on those bytes (ctz, clz), and every byte is stored once, from registers,
 * in whole words: a load of bytes just stored in pieces stalls the
 * processor. Inlined with `decimals` a constant (json_fixed_array's
 * switch), every shift and mask is a constant. */
#define FIXED_ROOM 32
/* fixed_text's bound on units: under 10^16 (two halves of 8 digits) and
 * under fixed_general's 9e15, over which it writes %.9g. */
#define FIXED_TEXT_MAX 9e15
#define ASCII_ZEROS 0x3030303030303030ull /* "00000000" as a little-endian word */

/* The 8 decimal digits of n < 10^8, zero-padded, one per byte (values
 * 0..9, the first digit in the low byte). n is split into 4-digit halves
 * in two 32-bit lanes, each lane into 2-digit quarters in 16-bit lanes
 * (x / 100 as x * 10486 >> 20, exact below 10^4), each quarter into its
 * two digits in bytes (x / 10 as x * 103 >> 10, exact below 100); the masks
 * drop what a shift brought over from the lane above. */
static inline uint64_t digits8(uint32_t n)
{
    uint64_t halves = (uint64_t)(n / 10000) | ((uint64_t)(n % 10000) << 32);
    uint64_t hundreds = ((halves * 10486) >> 20) & 0x0000007F0000007Full;
    uint64_t quarters = ((halves - 100 * hundreds) << 16) + hundreds;
    uint64_t tens = ((quarters * 103) >> 10) & 0x000F000F000F000Full;
    return tens + ((quarters - 10 * tens) << 8);
}

static inline __attribute__((always_inline)) size_t fixed_text(char *dst, uint64_t units,
                                                               int decimals, bool negative)
{
    /* A minus unless the text is a bare 0, which it is only when units is 0. */
    *dst = '-';
    char *out = dst + (negative && units != 0);
    uint64_t high = 0, low;
    if (units < 100000000) {
        low = digits8((uint32_t)units);
    } else {
        uint64_t h = units / 100000000;
        high = digits8((uint32_t)h);
        low = digits8((uint32_t)(units - h * 100000000));
    }
    /* The integer part: the low half's first 8 - decimals digits after the
     * high half's, from the first digit that is not 0, or the last one. */
    if (high == 0 && decimals < 8) {
        /* The bit at the integer part's last digit stops the count there. */
        unsigned zeros = (unsigned)__builtin_ctzll(low | 1ull << (8 * (7 - decimals))) / 8;
        uint64_t text = (low + ASCII_ZEROS) >> (8 * zeros);
        memcpy(out, &text, 8);
        out += 8 - (unsigned)decimals - zeros;
    } else if (high == 0) {
        *out++ = '0';
    } else {
        unsigned zeros = (unsigned)__builtin_ctzll(high) / 8;
        uint64_t text = (high + ASCII_ZEROS) >> (8 * zeros);
        memcpy(out, &text, 8);
        out += 8 - zeros;
        text = low + ASCII_ZEROS;
        memcpy(out, &text, 8);
        out += 8 - decimals;
    }
    /* The fraction: the low half's last `decimals` digits, moved to the low
     * bytes; kept up to the highest byte that is not 0. */
    if (decimals > 0) {
        uint64_t fraction = low >> (8 * (8 - decimals));
        if (fraction != 0) {
            uint64_t text = (low + ASCII_ZEROS) >> (8 * (8 - decimals));
            out[0] = '.';
            memcpy(out + 1, &text, 8);
            out += 1 + (71 - (unsigned)__builtin_clzll(fraction)) / 8; /* 1 + bytes */
        }
    }
    return (size_t)(out - dst);
}

/* json_fixed the general way, for any value (decimals 0..9) and room: what
 * fixed_values does not write by fixed_text (9 decimals, a scaled magnitude
 * of 9e15 or more, non-finite values, too little room left for fixed_text's
 * stores).
 * Its text is the same as fixed_text's where both write one. */
static void fixed_general(json_t *j, double v, int decimals)
{
    if (!isfinite(v) || fabs(v) >= 9e15) {
        if (isfinite(v))
            json_double(j, v);
        else
            json_null(j);
        return;
    }
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

/* json_fixed_array's loop for one number of decimals (a constant once
 * inlined). The writer's length and comma state are kept in registers
 * through the short texts and stored back around the general path. */
static inline __attribute__((always_inline)) void fixed_values(json_t *j, const double *v, size_t n,
                                                               int decimals)
{
    double scale = (double)pow10_table[decimals];
    char *buf = j->buf; /* a local, so the stores through it need no reload */
    size_t len = j->len;
    size_t cap = j->overflow ? 0 : j->cap;
    bool comma = j->need_comma[j->depth];
    for (size_t i = 0; i < n; i++) {
        /* The same double arithmetic as json_fixed, so the same rounding;
         * NaN fails the comparison and takes the general path. */
        double scaled = fabs(v[i]) * scale + 0.5;
        /* Room for a comma, fixed_text's stores and the terminator. */
        if (decimals <= 8 && scaled < FIXED_TEXT_MAX && len + 1 + FIXED_ROOM + 1 <= cap) {
            char *out = buf + len;
            *out = ',';
            out += comma;
            comma = true;
            /* Below 2^63, so the signed conversion (one instruction) serves;
             * the sign bit is v < 0 wherever units is not 0. */
            out += fixed_text(out, (uint64_t)(int64_t)scaled, decimals, signbit(v[i]));
            len = (size_t)(out - buf);
        } else {
            if (!j->overflow)
                j->buf[len] = '\0';
            j->len = len;
            j->need_comma[j->depth] = comma;
            fixed_general(j, v[i], decimals);
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
/* The raw message's decimals (message.c: 2, 4 and 6) run every frame: their
 * specialisations lie with the rest of the per-frame code (.text.hot). */
#define FIXED_HOT_0
#define FIXED_HOT_1
#define FIXED_HOT_2 __attribute__((hot))
#define FIXED_HOT_3
#define FIXED_HOT_4 __attribute__((hot))
#define FIXED_HOT_5
#define FIXED_HOT_6 __attribute__((hot))
#define FIXED_HOT_7
#define FIXED_HOT_8
#define FIXED_HOT_9
#define FIXED_VALUES_FOR(D)                                                                        \
    FIXED_HOT_##D static void fixed_values_##D(json_t *j, const double *v, size_t n)               \
    {                                                                                              \
        fixed_values(j, v, n, D);                                                                  \
    }
#define FIXED_VALUES_ROW(D) fixed_values_##D,
typedef void fixed_values_fn(json_t *j, const double *v, size_t n);
FIXED_DECIMALS(FIXED_VALUES_FOR)
static fixed_values_fn *const fixed_values_by_decimals[] = {FIXED_DECIMALS(FIXED_VALUES_ROW)};

/* One value is an array of one without the brackets. */
void json_fixed(json_t *j, double v, int decimals)
{
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    fixed_values_by_decimals[decimals](j, &v, 1);
}

__attribute__((hot)) void json_fixed_array(json_t *j, const double *v, size_t n, int decimals)
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
