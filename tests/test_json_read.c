/* test_json_read: the tools' reader of the daemon's JSON messages, on
 * messages written by the daemon's own writer (daemon/message) and on
 * damaged text, which must be refused without reading past its end. */
#include "check.h"
#include "json_read.h"
#include "message.h"

#include <stdlib.h>
#include <string.h>

/* A block of n samples whose values all differ and need several decimals. */
static message_block_t test_block(unsigned n, uint64_t i0, double t_dev)
{
    message_block_t b;
    memset(&b, 0, sizeof b);
    b.n = n;
    b.i0 = i0;
    b.t_dev = t_dev;
    for (unsigned i = 0; i < b.n; i++) {
        b.s[i].p = 101325.0f + 3.25f * (float)i;
        for (int a = 0; a < 3; a++) {
            b.s[i].acc[a] = 0.001f * (float)(i * 3 + (unsigned)a) - 0.01f;
            b.s[i].gyr[a] = -12.5f * (float)a + (float)i;
        }
    }
    return b;
}

static void test_raw_message(void)
{
    message_block_t b = test_block(3, 1234, 12.5);
    char buf[MESSAGE_MAX];
    int len = message_raw(buf, sizeof buf, "left \"ball\"", DEVICE_KIND_BALL, 1000, &b);
    CHECK(len > 0);
    char device[64], kind[16];
    double rate = 0, i0 = 0, p[8], acc[24];
    CHECK(json_read_string(buf, (size_t)len, "device", device, sizeof device));
    CHECK_STR(device, "left \"ball\"");
    CHECK(json_read_string(buf, (size_t)len, "kind", kind, sizeof kind));
    CHECK_STR(kind, "ball");
    CHECK(json_read_number(buf, (size_t)len, "rate_hz", &rate));
    CHECK_NEAR(rate, 1000.0, 0.0);
    CHECK(json_read_number(buf, (size_t)len, "i0", &i0));
    CHECK_NEAR(i0, 1234.0, 0.0);
    CHECK_EQ_INT(json_read_numbers(buf, (size_t)len, "p", p, 8), 3);
    CHECK_NEAR(p[2], 101331.5, 1e-9);
    CHECK_EQ_INT(json_read_numbers(buf, (size_t)len, "acc", acc, 24), 9);
    CHECK_NEAR(acc[8], -0.002, 1e-6);
    CHECK_EQ_INT(json_read_numbers(buf, (size_t)len, "acc", acc, 4), 4); /* at most max */
    /* too small for the name: refused, and the output left empty */
    char tiny[4] = "xyz";
    CHECK(!json_read_string(buf, (size_t)len, "device", tiny, sizeof tiny));
    CHECK_STR(tiny, "");
    CHECK(!json_read_number(buf, (size_t)len, "absent", &rate));
    CHECK(!json_read_number(buf, (size_t)len, "device", &rate)); /* a string */
}

/* A raw message from a head made once is message_raw's, byte for byte,
 * and a buffer too small is refused alike at every capacity: for both kinds, a name with escapes,
 * and a name too long for the head (written each time). */
static void test_raw_head(void)
{
    message_block_t b = test_block(10, 987654321, 1234.5678905);
    b.t_host = 1764950000.123456;
    char long_name[400];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const char *names[] = {"ball", "left \"ball\"\t", long_name};
    const device_kind_t kinds[] = {DEVICE_KIND_BALL, DEVICE_KIND_SCRAPER};
    static char want[MESSAGE_MAX], got[MESSAGE_MAX];
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        for (size_t k = 0; k < 2; k++) {
            message_raw_head_t head;
            message_raw_head(&head, names[n], kinds[k], 1000);
            CHECK(n < 2 ? head.len > 0 : head.len == 0);
            int full = message_raw(want, sizeof want, names[n], kinds[k], 1000, &b);
            CHECK(full > 0);
            for (size_t cap = 0; cap <= (size_t)full + 1; cap++) {
                memset(want, 'x', sizeof want);
                memset(got, 'x', sizeof got);
                int a = message_raw(want, cap, names[n], kinds[k], 1000, &b);
                int g = message_raw_after(got, cap, &head, &b);
                CHECK_EQ_INT(g, a);
                if (a > 0)
                    CHECK(memcmp(want, got, (size_t)a + 1) == 0);
                CHECK(got[cap] == 'x'); /* nothing written past the buffer */
            }
        }
    }
}

static void test_walk_and_nesting(void)
{
    const char *text = " { \"a\" : 1 , \"b\":{\"a\":2,\"c\":[1,{\"d\":\"}\"}]}, \"s\":\"x,y\"}";
    size_t len = strlen(text);
    json_read_t r;
    const char *key, *value;
    size_t key_len, value_len;
    CHECK(json_read_begin(&r, text, len));
    int n = 0;
    while (json_read_next(&r, &key, &key_len, &value, &value_len))
        n++;
    CHECK_EQ_INT(n, 3);
    /* only top-level members: "a" is 1, not the nested 2 */
    double a = 0;
    CHECK(json_read_number(text, len, "a", &a));
    CHECK_NEAR(a, 1.0, 0.0);
    CHECK(json_read_get(text, len, "b", &value, &value_len));
    CHECK_EQ_INT(value_len, strlen("{\"a\":2,\"c\":[1,{\"d\":\"}\"}]}"));
    char s[8];
    CHECK(json_read_string(text, len, "s", s, sizeof s));
    CHECK_STR(s, "x,y");
    CHECK(!json_read_begin(&r, "[1,2]", 5));
    CHECK(!json_read_begin(&r, "", 0));
}

/* Every prefix of a message, in a buffer of exactly that size (so that
 * AddressSanitizer sees any read past it), is read or refused, never
 * overrun. */
static void test_cut_messages(void)
{
    const char *text = "{\"v\":1,\"device\":\"ball\",\"p\":[1.5,2.5],\"x\":{\"y\":\"\\\"\"}}";
    size_t full = strlen(text);
    for (size_t len = 0; len <= full; len++) {
        char *cut = malloc(len ? len : 1);
        memcpy(cut, text, len);
        double p[4], v;
        char device[16];
        int n = json_read_numbers(cut, len, "p", p, 4);
        CHECK(n >= 0 && n <= 2);
        json_read_number(cut, len, "v", &v);
        json_read_string(cut, len, "device", device, sizeof device);
        json_read_string(cut, len, "x", device, sizeof device);
        free(cut);
    }
}

int main(void)
{
    test_raw_message();
    test_raw_head();
    test_walk_and_nesting();
    test_cut_messages();
    return CHECK_DONE();
}
