#include "json.h"

#include <errno.h>
#include <math.h>
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
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(j, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            int n = snprintf(esc, sizeof esc, "\\u%04x", c);
            put(j, esc, (size_t)n);
        } else {
            put_char(j, (char)c);
        }
    }
    put_char(j, '"');
}

void json_key(json_t *j, const char *key)
{
    before_item(j);
    put_escaped(j, key);
    put_char(j, ':');
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

void json_int(json_t *j, int64_t v)
{
    char text[24];
    int n = snprintf(text, sizeof text, "%lld", (long long)v);
    before_item(j);
    put(j, text, (size_t)n);
    after_value(j);
}

void json_uint(json_t *j, uint64_t v)
{
    char text[24];
    char *end = text + sizeof text;
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    before_item(j);
    put(j, p, (size_t)(end - p));
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
    uint64_t whole = units / scale;
    uint64_t frac = units % scale;
    char text[48];
    char *end = text + sizeof text;
    char *p = end;
    int digits = decimals;
    while (digits > 0 && frac % 10 == 0) { /* trim trailing zeros */
        frac /= 10;
        digits--;
    }
    if (digits > 0) {
        for (int i = 0; i < digits; i++) {
            *--p = (char)('0' + frac % 10);
            frac /= 10;
        }
        *--p = '.';
    }
    do {
        *--p = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    if (negative && (p[0] != '0' || p + 1 != end))
        *--p = '-';
    before_item(j);
    put(j, p, (size_t)(end - p));
    after_value(j);
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

void json_raw(json_t *j, const char *text, size_t len)
{
    before_item(j);
    put(j, text, len);
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
