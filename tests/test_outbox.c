/* test_outbox: the bounded message FIFO of daemon/outbox, against a plain
 * model (an array of every message ever pushed and the index of the oldest
 * one kept) over random pushes and pops that wrap the buffer many times. */
#include "check.h"
#include "outbox.h"
#include "test_random.h"

#include <stdint.h>
#include <time.h>

#define MODEL_MAX 20000

static struct {
    char topic[40];
    char payload[300];
    size_t len;
} model[MODEL_MAX];

static void make_message(int i)
{
    snprintf(model[i].topic, sizeof model[i].topic, "event.dev%d.t%d", i % 7, i);
    model[i].len = (size_t)(uniform() * sizeof model[i].payload);
    for (size_t k = 0; k < model[i].len; k++)
        model[i].payload[k] = (char)(i * 31 + (int)k);
}

static void test_order_and_wrap(void)
{
    outbox_t o;
    CHECK_EQ_INT(outbox_init(&o, 100), 0);
    char topic[64], payload[64];
    size_t len;
    CHECK(!outbox_peek(&o, topic, sizeof topic, payload, sizeof payload, &len));
    /* 8 + 3 + 20 = 31 bytes a record: three fit in 100. */
    CHECK_EQ_INT(outbox_push(&o, "t.a", "aaaaaaaaaaaaaaaaaaaa", 20), 0);
    CHECK_EQ_INT(outbox_push(&o, "t.b", "bbbbbbbbbbbbbbbbbbbb", 20), 0);
    CHECK_EQ_INT(outbox_push(&o, "t.c", "cccccccccccccccccccc", 20), 0);
    CHECK_EQ_INT(o.count, 3);
    /* The fourth drops the oldest and wraps around the end. */
    CHECK_EQ_INT(outbox_push(&o, "t.d", "dddddddddddddddddddd", 20), 1);
    CHECK_EQ_INT(o.count, 3);
    const char *want[] = {"t.b", "t.c", "t.d"};
    for (int i = 0; i < 3; i++) {
        CHECK(outbox_peek(&o, topic, sizeof topic, payload, sizeof payload, &len));
        CHECK_STR(topic, want[i]);
        CHECK_EQ_INT(len, 20);
        CHECK(payload[0] == want[i][2] && payload[19] == want[i][2]);
        outbox_pop(&o);
    }
    CHECK_EQ_INT(o.count, 0);
    CHECK_EQ_INT(o.used, 0);
    /* Larger than the whole outbox: refused, counted as one dropped. */
    char big[200] = {0};
    CHECK_EQ_INT(outbox_push(&o, "t.big", big, sizeof big), 1);
    CHECK_EQ_INT(o.count, 0);
    /* A buffer too small to peek into copies nothing. */
    CHECK_EQ_INT(outbox_push(&o, "t.e", "eeee", 4), 0);
    CHECK(!outbox_peek(&o, topic, 3, payload, sizeof payload, &len));
    CHECK(!outbox_peek(&o, topic, sizeof topic, payload, 3, &len));
    CHECK(outbox_peek(&o, topic, sizeof topic, payload, 4, &len));
    outbox_free(&o);
}

static void test_against_model(uint64_t seed)
{
    test_random_seed(seed);
    outbox_t o;
    CHECK_EQ_INT(outbox_init(&o, 4096), 0);
    int pushed = 0, oldest = 0; /* the model: messages oldest..pushed-1 are held */
    unsigned dropped_total = 0;
    char topic[64], payload[400];
    size_t len;
    while (pushed < MODEL_MAX) {
        if (uniform() < 0.6) {
            make_message(pushed);
            unsigned dropped =
                outbox_push(&o, model[pushed].topic, model[pushed].payload, model[pushed].len);
            oldest += (int)dropped;
            dropped_total += dropped;
            pushed++;
        } else if (oldest < pushed) {
            if (!outbox_peek(&o, topic, sizeof topic, payload, sizeof payload, &len)) {
                CHECK(!"peek failed with messages held");
                break;
            }
            CHECK_STR(topic, model[oldest].topic);
            CHECK_EQ_INT(len, model[oldest].len);
            CHECK(memcmp(payload, model[oldest].payload, len) == 0);
            outbox_pop(&o);
            oldest++;
        }
        CHECK_EQ_INT(o.count, (size_t)(pushed - oldest));
        CHECK(o.used <= o.cap);
        if (check_failures)
            break;
    }
    /* The buffer wrapped many times and overflowed some: both were exercised. */
    CHECK(dropped_total > 0);
    printf("seed %llu: %d pushed, %u dropped when full, %d held at the end\n",
           (unsigned long long)seed, pushed, dropped_total, pushed - oldest);
    outbox_free(&o);
}

int main(int argc, char **argv)
{
    uint64_t seed = test_seed(argc, argv, (uint64_t)time(NULL) | 1);
    test_order_and_wrap();
    test_against_model(seed);
    return CHECK_DONE();
}
