#include "json_read.h"

#include <stdlib.h>
#include <string.h>

const char *json_read_skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p is at the opening quote; returns one past the closing quote. */
static const char *skip_string(const char *p, const char *end)
{
    p++;
    while (p < end && *p != '"') {
        if (*p == '\\' && p + 1 < end)
            p++;
        p++;
    }
    return p < end ? p + 1 : end;
}

const char *json_read_skip_value(const char *p, const char *end)
{
    if (p >= end)
        return end;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '[' || *p == '{') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end);
                continue;
            }
            if (*p == '[' || *p == '{')
                depth++;
            else if (*p == ']' || *p == '}') {
                depth--;
                if (depth == 0)
                    return p + 1;
            }
            p++;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']')
        p++;
    return p;
}

bool json_read_begin(json_read_t *r, const char *text, size_t len)
{
    r->end = text + len;
    r->p = json_read_skip_space(text, r->end);
    if (r->p >= r->end || *r->p != '{')
        return false;
    r->p++;
    return true;
}

bool json_read_next(json_read_t *r, const char **key, size_t *key_len, const char **value,
                    size_t *value_len)
{
    const char *p = json_read_skip_space(r->p, r->end);
    if (p < r->end && *p == ',')
        p = json_read_skip_space(p + 1, r->end);
    if (p >= r->end || *p != '"')
        return false;
    const char *key_end = skip_string(p, r->end);
    *key = p + 1;
    *key_len = (size_t)(key_end - p) >= 2 ? (size_t)(key_end - p) - 2 : 0;
    p = json_read_skip_space(key_end, r->end);
    if (p >= r->end || *p != ':')
        return false;
    p = json_read_skip_space(p + 1, r->end);
    const char *value_end = json_read_skip_value(p, r->end);
    *value = p;
    *value_len = (size_t)(value_end - p);
    r->p = value_end;
    return true;
}

bool json_read_get(const char *text, size_t len, const char *key, const char **value,
                   size_t *value_len)
{
    json_read_t r;
    const char *k;
    size_t k_len, want = strlen(key);
    if (!json_read_begin(&r, text, len))
        return false;
    while (json_read_next(&r, &k, &k_len, value, value_len))
        if (k_len == want && memcmp(k, key, want) == 0)
            return true;
    return false;
}

/* A number's text (n bytes at p, not NUL-terminated) into *out. */
static bool parse_number(const char *p, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end;
    *out = strtod(buf, &end);
    return end != buf;
}

bool json_read_number(const char *text, size_t len, const char *key, double *out)
{
    const char *v;
    size_t n;
    return json_read_get(text, len, key, &v, &n) && parse_number(v, n, out);
}

bool json_read_string(const char *text, size_t len, const char *key, char *out, size_t cap)
{
    const char *v;
    size_t n;
    if (cap == 0)
        return false;
    out[0] = '\0';
    if (!json_read_get(text, len, key, &v, &n) || n < 2 || v[0] != '"' || v[n - 1] != '"')
        return false;
    size_t used = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        char c = v[i];
        if (c == '\\' && i + 2 < n && (v[i + 1] == '"' || v[i + 1] == '\\' || v[i + 1] == '/'))
            c = v[++i];
        if (used + 1 >= cap) {
            out[0] = '\0';
            return false;
        }
        out[used++] = c;
    }
    out[used] = '\0';
    return true;
}

int json_read_numbers(const char *text, size_t len, const char *key, double *out, int max)
{
    const char *v;
    size_t n;
    if (!json_read_get(text, len, key, &v, &n) || n < 2 || v[0] != '[')
        return 0;
    const char *p = v + 1, *end = v + n - 1;
    int count = 0;
    while (count < max) {
        p = json_read_skip_space(p, end);
        const char *value_end = json_read_skip_value(p, end);
        if (!parse_number(p, (size_t)(value_end - p), &out[count]))
            break;
        count++;
        p = json_read_skip_space(value_end, end);
        if (p >= end || *p != ',')
            break;
        p++;
    }
    return count;
}
