/* json: the writer's output is exact JSON, it escapes, formats numbers
 * without printf where it promises to, and reports overflow instead of
 * writing past its buffer. */
#include "check.h"
#include "json.h"
#include "test_random.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_nesting_and_commas(void)
{
    char buf[256];
    json_t j;
    json_init(&j, buf, sizeof buf);
    json_object_begin(&j);
    json_key(&j, "a");
    json_int(&j, -3);
    json_key(&j, "b");
    json_array_begin(&j);
    json_uint(&j, 1);
    json_object_begin(&j);
    json_key(&j, "c");
    json_bool(&j, true);
    json_object_end(&j);
    json_null(&j);
    json_array_end(&j);
    json_key(&j, "d");
    json_string(&j, "x");
    json_key(&j, "e");
    json_string_or_null(&j, "");
    json_key(&j, "f");
    json_string_or_null(&j, "y");
    json_object_end(&j);
    size_t len = 0;
    CHECK_EQ_INT(json_finish(&j, &len), 0);
    CHECK_STR(buf, "{\"a\":-3,\"b\":[1,{\"c\":true},null],\"d\":\"x\",\"e\":null,\"f\":\"y\"}");
    CHECK_EQ_INT(len, strlen(buf));
}

static void test_escaping(void)
{
    char buf[128];
    json_t j;
    json_init(&j, buf, sizeof buf);
    json_string(&j, "q\"b\\n\n\x01");
    CHECK_STR(buf, "\"q\\\"b\\\\n\\u000a\\u0001\"");
}

static void check_fixed(double v, int decimals, const char *want)
{
    char buf[64];
    json_t j;
    json_init(&j, buf, sizeof buf);
    json_fixed(&j, v, decimals);
    CHECK_STR(buf, want);
}

static void test_fixed(void)
{
    check_fixed(101325.0, 2, "101325");
    check_fixed(101325.25, 2, "101325.25");
    check_fixed(-0.0004883, 6, "-0.000488");
    check_fixed(0.1, 6, "0.1");
    check_fixed(-0.0000001, 6, "0");
    check_fixed(1795505455.086836, 6, "1795505455.086836");
    check_fixed(2.5, 0, "3");
    check_fixed(1.0 / 0.0, 3, "null");
    check_fixed(0.0 / 0.0, 3, "null");
    check_fixed(1e17, 3, "1e+17");
    /* Against printf over a range of magnitudes and signs. */
    for (int i = -2000; i <= 2000; i++) {
        double v = i * 0.0123456789;
        char want[64];
        snprintf(want, sizeof want, "%.4f", v);
        /* printf keeps trailing zeros and "-0.0000"; the writer trims them. */
        char *end = want + strlen(want) - 1;
        while (*end == '0')
            *end-- = '\0';
        if (*end == '.')
            *end = '\0';
        if (strcmp(want, "-0") == 0)
            strcpy(want, "0");
        check_fixed(v, 4, want);
    }
}

static void test_overflow_is_reported(void)
{
    char buf[8];
    json_t j;
    json_init(&j, buf, sizeof buf);
    json_string(&j, "longer than eight");
    size_t len;
    CHECK_EQ_INT(json_finish(&j, &len), -ENOBUFS);
    CHECK(strlen(buf) < sizeof buf);
    json_init(&j, buf, sizeof buf);
    json_object_begin(&j);
    CHECK_EQ_INT(json_finish(&j, &len), -EINVAL);
}

/* A key is written the same at every capacity whether it needs escapes or
 * not: the whole of it with its comma and colon, or overflow and a
 * terminated prefix; the value after it gets no comma. */
static void test_keys_at_every_capacity(void)
{
    const char *keys[] = {"t_host", "q\"k", "tab\t", ""};
    const char *want[] = {"{\"a\":1,\"t_host\":2}", "{\"a\":1,\"q\\\"k\":2}",
                          "{\"a\":1,\"tab\\u0009\":2}", "{\"a\":1,\"\":2}"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        for (size_t cap = 1; cap <= strlen(want[k]) + 1; cap++) {
            char buf[64];
            memset(buf, 'x', sizeof buf);
            json_t j;
            json_init(&j, buf, cap);
            json_object_begin(&j);
            json_key(&j, "a");
            json_uint(&j, 1);
            json_key(&j, keys[k]);
            json_uint(&j, 2);
            json_object_end(&j);
            size_t len;
            int rc = json_finish(&j, &len);
            CHECK(strlen(buf) < cap);
            CHECK(buf[cap] == 'x'); /* nothing written past the buffer */
            if (cap > strlen(want[k])) {
                CHECK_EQ_INT(rc, 0);
                CHECK_STR(buf, want[k]);
            } else {
                CHECK_EQ_INT(rc, -ENOBUFS);
                CHECK(strncmp(buf, want[k], strlen(buf)) == 0);
            }
        }
    }
}

/* json_key_literal writes what json_key writes (first key or after a
 * value, any capacity: the same text, overflow and state), and a writer
 * started by json_init_object_after on a written head goes on as the
 * writer that wrote it would have. */
static void test_literal_keys_and_heads(void)
{
    const char *want = "{\"v\":1,\"t_host\":2,\"n\":3}";
    for (size_t cap = 1; cap <= strlen(want) + 1; cap++) {
        char a[64], b[64], c[64];
        memset(a, 'x', sizeof a);
        memset(b, 'x', sizeof b);
        memset(c, 'x', sizeof c);
        json_t ja, jb, jc;
        json_init(&ja, a, cap);
        json_init(&jb, b, cap);
        json_object_begin(&ja);
        json_object_begin(&jb);
        json_key(&ja, "v");
        json_key_literal(&jb, "v");
        json_uint(&ja, 1);
        json_uint(&jb, 1);
        /* the head "{"v":1" as written at a capacity that holds it */
        json_init_object_after(&jc, c, cap, "{\"v\":1", 6);
/* key and value to each writer: ja by json_key, jb and jc by json_key_literal */
#define EACH_KEY_UINT(key, value)                                                                  \
    do {                                                                                           \
        json_key(&ja, key);                                                                        \
        json_key_literal(&jb, key);                                                                \
        json_key_literal(&jc, key);                                                                \
        json_uint(&ja, value);                                                                     \
        json_uint(&jb, value);                                                                     \
        json_uint(&jc, value);                                                                     \
    } while (0)
        EACH_KEY_UINT("t_host", 2);
        EACH_KEY_UINT("n", 3);
#undef EACH_KEY_UINT
        json_object_end(&ja);
        json_object_end(&jb);
        json_object_end(&jc);
        size_t la = 0, lb = 0, lc = 0;
        int ra = json_finish(&ja, &la), rb = json_finish(&jb, &lb), rc = json_finish(&jc, &lc);
        CHECK_EQ_INT(ra, cap > strlen(want) ? 0 : -ENOBUFS);
        CHECK_EQ_INT(rb, ra);
        CHECK_EQ_INT(rc, ra);
        CHECK(memcmp(a, b, sizeof a) == 0); /* the same bytes, nothing past the buffer */
        if (ra == 0) {
            CHECK_STR(a, want);
            CHECK_STR(c, want);
            CHECK(la == lb && la == lc);
        } else {
            CHECK(strlen(c) < cap);
            CHECK(c[cap] == 'x');
        }
    }
}

/* json_fixed_array writes what array_begin, json_fixed per value and
 * array_end write: the same text, commas, overflow and state, at every
 * capacity, for sensor-like, huge, tiny, negative and non-finite values. */
static void test_fixed_array_matches_fixed(void)
{
    uint64_t seed = 0x5eed0f1aedull;
    const char *env = getenv("TEST_SEED");
    if (env)
        seed = strtoull(env, NULL, 0);
    printf("test_fixed_array_matches_fixed: seed %llu\n", (unsigned long long)seed);
    test_random_seed(seed);
    static const double special[] = {0.0,   -0.0,        -0.000001, 0.5,      -0.004, 1e300,
                                     -9e15, 4294.967295, NAN,       INFINITY, 1.8e19};
    double v[40];
    char a[700], b[700];
    int mismatches = 0;
    for (int it = 0; it < 20000; it++) {
        size_t n = (size_t)(uniform() * 40);
        for (size_t i = 0; i < n; i++) {
            double u = uniform();
            if (u < 0.1)
                v[i] = special[(int)(uniform() * 11)];
            else
                v[i] = (uniform() - 0.5) * pow(10.0, uniform() * 16 - 7);
        }
        int decimals = (int)(uniform() * 12) - 1; /* -1..10: clamped alike */
        size_t cap = it % 2 ? (size_t)(uniform() * sizeof a) : sizeof a;
        json_t x, y;
        json_init(&x, a, cap);
        json_init(&y, b, cap);
        json_object_begin(&x);
        json_key(&x, "k");
        json_fixed_array(&x, v, n, decimals);
        json_object_begin(&y);
        json_key(&y, "k");
        json_array_begin(&y);
        for (size_t i = 0; i < n; i++)
            json_fixed(&y, v[i], decimals);
        json_array_end(&y);
        json_key(&x, "z");
        json_key(&y, "z");
        json_int(&x, 1);
        json_int(&y, 1);
        bool same = x.len == y.len && x.overflow == y.overflow && x.depth == y.depth &&
                    (cap == 0 || memcmp(a, b, x.len + 1) == 0);
        if (!same)
            mismatches++;
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* The text json_fixed writes for x, made the slow obvious way, one digit
 * at a time by division: the magnitude scaled and rounded as json_fixed
 * does, the integer part, then '.' and the fraction zero-padded with its
 * trailing zeros cut; a minus unless the text is a bare 0. For finite x
 * under 9e15. */
static void reference_fixed(char *out, double x, int decimals)
{
    uint64_t p10 = 1;
    for (int d = 0; d < decimals; d++)
        p10 *= 10;
    uint64_t units = (uint64_t)(fabs(x) * (double)p10 + 0.5);
    char rev[48];
    size_t n = 0;
    uint64_t fraction = units % p10, integer = units / p10;
    bool any = false;
    for (int d = 0; d < decimals; d++, fraction /= 10) {
        if (fraction % 10 != 0 || any) {
            rev[n++] = (char)('0' + fraction % 10);
            any = true;
        }
    }
    if (any)
        rev[n++] = '.';
    do {
        rev[n++] = (char)('0' + integer % 10);
        integer /= 10;
    } while (integer > 0);
    if (x < 0 && units != 0)
        rev[n++] = '-';
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    out[n] = '\0';
}

/* Every text json_fixed and json_fixed_array write by their short path,
 * checked against reference_fixed and each other: for each number of
 * decimals, every scaled magnitude below 200 000 and the ones around each
 * power of ten up to 10^15 and 2^32, positive and negative, on the unit and
 * a fraction of a unit either side (so that every length of the integer
 * part and of the fraction, every count of trailing zeros and the rounding
 * to a bare 0 are met). */
static void test_fixed_array_every_short_text(void)
{
    int mismatches = 0;
    char a[64], b[64], want[64];
    for (int decimals = 0; decimals <= 9; decimals++) {
        double scale = pow(10.0, decimals);
        for (uint64_t k = 0; k < 200000 + 11 * 2000; k++) {
            uint64_t units = k;
            if (k >= 200000) { /* 2000 around 10^e for e = 6..15, and below 2^32 */
                uint64_t e = (k - 200000) / 2000, off = (k - 200000) % 2000;
                uint64_t centre = e < 10 ? (uint64_t)pow(10.0, (double)e + 6) : 4294967296ull;
                units = centre - 1000 + off;
            }
            for (int variant = 0; variant < 6; variant++) {
                double x = (double)units / scale;
                if (variant / 2 == 1)
                    x += 0.3 / scale;
                else if (variant / 2 == 2)
                    x -= 0.3 / scale;
                if (variant % 2)
                    x = -x;
                json_t y;
                json_init(&y, b, sizeof b);
                json_fixed(&y, x, decimals);
                json_t z;
                json_init(&z, a, sizeof a);
                json_fixed_array(&z, &x, 1, decimals);
                /* "[text]" against "text" */
                if (z.len != y.len + 2 || memcmp(a + 1, b, y.len) != 0) {
                    if (mismatches++ < 5)
                        fprintf(stderr, "decimals %d: %s != [%s]\n", decimals, a, b);
                }
                /* Room for the text but not for fixed_text's stores: the
                 * general path, the same text. */
                json_t w;
                char c[64];
                json_init(&w, c, y.len + 1);
                json_fixed(&w, x, decimals);
                if (w.overflow || strcmp(c, b) != 0) {
                    if (mismatches++ < 5)
                        fprintf(stderr, "decimals %d, no room: %s != %s\n", decimals, c, b);
                }
                reference_fixed(want, x, decimals);
                if (strcmp(b, want) != 0) {
                    if (mismatches++ < 5)
                        fprintf(stderr, "decimals %d: %s != %s\n", decimals, b, want);
                }
            }
        }
    }
    CHECK_EQ_INT(mismatches, 0);
}

int main(void)
{
    test_nesting_and_commas();
    test_escaping();
    test_fixed();
    test_overflow_is_reported();
    test_keys_at_every_capacity();
    test_literal_keys_and_heads();
    test_fixed_array_matches_fixed();
    test_fixed_array_every_short_text();
    return CHECK_DONE();
}
