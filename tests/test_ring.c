/* Tests for the SPSC ring: single-thread semantics against a model at every
 * wrap point of the slot array and of the free-running counters, then a
 * two-thread stress that checks strict order, no loss and no duplication.
 *
 * Usage: test_ring [seed]. The seed (default: from the clock) is printed so
 * that a failure can be re-run. MASSAGED_RING_STRESS_ITEMS sets the number
 * of items in the stress (default 100 million; the TSan build uses fewer). */
#include "check.h"
#include "ring.h"
#include "sim_rng.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* A number below n from the thread's own generator. */
static size_t rng_below(sim_rng_t *rng, size_t n)
{
    return (size_t)(sim_rng_next(rng) % n);
}

/* Item number `seq` of `size` bytes: every byte depends on seq and its
 * position, so a misplaced, stale or torn copy shows. */
static void make_item(unsigned char *item, size_t size, uint64_t seq)
{
    uint64_t word = 0;
    for (size_t j = 0; j < size; j++) {
        if (j % 8 == 0)
            word = splitmix64(seq * 131 + j / 8);
        item[j] = (unsigned char)(word >> (8 * (j % 8)));
    }
}

static bool item_is(const unsigned char *item, size_t size, uint64_t seq)
{
    unsigned char expected[1024];
    make_item(expected, size, seq);
    return memcmp(item, expected, size) == 0;
}

static void test_create_arguments(void)
{
    static const size_t bad_capacities[] = {0, 3, 6, 12, 1000, SIZE_MAX};
    for (size_t i = 0; i < sizeof(bad_capacities) / sizeof(bad_capacities[0]); i++) {
        errno = 0;
        CHECK(ring_create(8, bad_capacities[i]) == NULL);
        CHECK_EQ_INT(errno, EINVAL);
    }
    errno = 0;
    CHECK(ring_create(0, 8) == NULL);
    CHECK_EQ_INT(errno, EINVAL);
    /* capacity * elem_size overflows size_t. */
    errno = 0;
    CHECK(ring_create(SIZE_MAX / 4, 8) == NULL);
    CHECK_EQ_INT(errno, EINVAL);

    static const size_t good_capacities[] = {1, 2, 8, 1024};
    for (size_t i = 0; i < sizeof(good_capacities) / sizeof(good_capacities[0]); i++) {
        ring_t *r = ring_create(550, good_capacities[i]);
        CHECK(r != NULL);
        if (!r)
            continue;
        CHECK_EQ_INT(ring_capacity(r), good_capacities[i]);
        CHECK_EQ_INT(ring_elem_size(r), 550);
        CHECK_EQ_INT(ring_count(r), 0);
        CHECK_EQ_INT((uintptr_t)r % RING_CACHE_LINE, 0);
        CHECK_EQ_INT((uintptr_t)&r->consumed - (uintptr_t)&r->produced >= 2 * RING_CACHE_LINE, 1);
        ring_destroy(&r);
        CHECK(r == NULL);
    }

    ring_destroy(NULL);
    ring_t *none = NULL;
    ring_destroy(&none);
    CHECK(none == NULL);
}

/* Fills the ring item by item, checks full behaviour on every producer
 * call, drains it and checks empty behaviour on every consumer call. */
static void check_full_and_empty(ring_t *r, uint64_t *seq_in, uint64_t *seq_out)
{
    size_t cap = ring_capacity(r), size = ring_elem_size(r);
    unsigned char item[1024], batch[4 * 1024];

    for (size_t i = 0; i < cap; i++) {
        CHECK_EQ_INT(ring_count(r), i);
        make_item(item, size, (*seq_in)++);
        CHECK(ring_push(r, item));
    }
    CHECK_EQ_INT(ring_count(r), cap);
    make_item(item, size, *seq_in);
    CHECK(!ring_push(r, item));
    CHECK(ring_reserve(r) == NULL);
    CHECK_EQ_INT(ring_push_batch(r, item, 1), 0);
    CHECK_EQ_INT(ring_push_batch(r, item, 0), 0);
    CHECK_EQ_INT(ring_count(r), cap);

    for (size_t i = 0; i < cap; i++) {
        CHECK(ring_pop(r, item));
        CHECK(item_is(item, size, (*seq_out)++));
    }
    CHECK_EQ_INT(ring_count(r), 0);
    CHECK(!ring_pop(r, item));
    CHECK(ring_peek(r) == NULL);
    CHECK_EQ_INT(ring_pop_batch(r, batch, 4), 0);

    /* The same through the batch calls, asking for more than fits. */
    size_t made = cap + 3 < sizeof(batch) / size ? cap + 3 : sizeof(batch) / size;
    for (size_t i = 0; i < made; i++)
        make_item(batch + i * size, size, *seq_in + i);
    size_t pushed = ring_push_batch(r, batch, made);
    CHECK_EQ_INT(pushed, made < cap ? made : cap);
    *seq_in += pushed;
    CHECK_EQ_INT(ring_count(r), pushed);
    size_t popped = ring_pop_batch(r, batch, made);
    CHECK_EQ_INT(popped, pushed);
    for (size_t i = 0; i < popped; i++)
        CHECK(item_is(batch + i * size, size, (*seq_out)++));
    CHECK_EQ_INT(ring_count(r), 0);
}

/* Runs `ops` random operations from every producer and consumer call and
 * compares each result with a model: item numbers in and out and the fill
 * level between them. */
static void check_against_model(ring_t *r, uint64_t seed, size_t ops, uint64_t *seq_in,
                                uint64_t *seq_out)
{
    size_t cap = ring_capacity(r), size = ring_elem_size(r);
    unsigned char item[1024], batch[64 * 64];
    size_t batch_max = sizeof(batch) / size;
    sim_rng_t state;
    sim_rng_seed(&state, seed);

    for (size_t op = 0; op < ops; op++) {
        size_t fill = (size_t)(*seq_in - *seq_out);
        switch (rng_below(&state, 7)) {
        case 0: {
            make_item(item, size, *seq_in);
            bool ok = ring_push(r, item);
            CHECK_EQ_INT(ok, fill < cap);
            *seq_in += ok;
            break;
        }
        case 1: {
            size_t n = rng_below(&state, (cap + 3 < batch_max ? cap + 3 : batch_max) + 1);
            for (size_t i = 0; i < n; i++)
                make_item(batch + i * size, size, *seq_in + i);
            size_t pushed = ring_push_batch(r, batch, n);
            CHECK_EQ_INT(pushed, n < cap - fill ? n : cap - fill);
            *seq_in += pushed;
            break;
        }
        case 2: {
            unsigned char *slot = ring_reserve(r);
            CHECK_EQ_INT(slot != NULL, fill < cap);
            if (!slot)
                break;
            CHECK(ring_reserve(r) == slot);
            make_item(slot, size, (*seq_in)++);
            ring_commit(r);
            break;
        }
        case 3: {
            bool ok = ring_pop(r, item);
            CHECK_EQ_INT(ok, fill > 0);
            if (ok)
                CHECK(item_is(item, size, (*seq_out)++));
            break;
        }
        case 4: {
            size_t max = rng_below(&state, (cap + 3 < batch_max ? cap + 3 : batch_max) + 1);
            size_t popped = ring_pop_batch(r, batch, max);
            CHECK_EQ_INT(popped, max < fill ? max : fill);
            for (size_t i = 0; i < popped; i++)
                CHECK(item_is(batch + i * size, size, (*seq_out)++));
            break;
        }
        case 5: {
            const unsigned char *slot = ring_peek(r);
            CHECK_EQ_INT(slot != NULL, fill > 0);
            if (!slot)
                break;
            CHECK(ring_peek(r) == slot);
            CHECK(item_is(slot, size, (*seq_out)++));
            ring_release(r);
            break;
        }
        default:
            break;
        }
        CHECK_EQ_INT(ring_count(r), *seq_in - *seq_out);
    }
}

/* Runs both single-thread checks with the counters started at `start`. */
static void check_at(ring_t *r, size_t start, uint64_t seed)
{
    uint64_t seq_in = 0, seq_out = 0;
    ring_reset_at(r, start);
    CHECK_EQ_INT(ring_count(r), 0);
    check_full_and_empty(r, &seq_in, &seq_out);
    check_against_model(r, seed ^ splitmix64(start), 8 * ring_capacity(r) + 32, &seq_in, &seq_out);
    /* Drain and check that nothing is left over or missing. */
    unsigned char item[1024];
    while (ring_pop(r, item))
        CHECK(item_is(item, ring_elem_size(r), seq_out++));
    CHECK_EQ_INT(seq_in, seq_out);
}

/* Starts the counters at every offset around the slot array's start and
 * around the wrap-around of 32-bit and size_t counters. */
static void test_wrap_points(uint64_t seed)
{
    static const size_t capacities[] = {1, 2, 8, 16};
    static const size_t sizes[] = {8, 12, 64, 550};
    for (size_t c = 0; c < sizeof(capacities) / sizeof(capacities[0]); c++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            size_t cap = capacities[c];
            ring_t *r = ring_create(sizes[s], cap);
            CHECK(r != NULL);
            if (!r)
                continue;
            size_t span = 2 * cap + 1;
            for (size_t k = 0; k <= 2 * span; k++) {
                check_at(r, k, seed);
                check_at(r, SIZE_MAX - span + k, seed);
                check_at(r, (size_t)UINT32_MAX - span + k, seed);
            }
            ring_destroy(&r);
        }
    }
}

static void test_partial_batches(void)
{
    ring_t *r = ring_create(sizeof(uint64_t), 8);
    CHECK(r != NULL);
    if (!r)
        return;
    uint64_t in[16], out[16];
    for (uint64_t i = 0; i < 16; i++)
        in[i] = 100 + i;

    CHECK_EQ_INT(ring_push_batch(r, in, 5), 5);
    CHECK_EQ_INT(ring_push_batch(r, in + 5, 5), 3); /* only 3 places left */
    CHECK_EQ_INT(ring_count(r), 8);
    CHECK_EQ_INT(ring_pop_batch(r, out, 2), 2);
    CHECK_EQ_INT(out[0], 100);
    CHECK_EQ_INT(out[1], 101);
    CHECK_EQ_INT(ring_push_batch(r, in + 8, 5), 2); /* wraps the slot array */
    CHECK_EQ_INT(ring_pop_batch(r, out, 16), 8);
    for (int i = 0; i < 8; i++)
        CHECK_EQ_INT(out[i], 102 + i);
    CHECK_EQ_INT(ring_pop_batch(r, out, 16), 0);
    ring_destroy(&r);
}

static void test_zero_copy(void)
{
    ring_t *r = ring_create(550, 4);
    CHECK(r != NULL);
    if (!r)
        return;
    /* Reserved but uncommitted items are invisible to the consumer. */
    unsigned char *slot = ring_reserve(r);
    CHECK(slot != NULL);
    make_item(slot, 550, 7);
    CHECK(ring_peek(r) == NULL);
    CHECK_EQ_INT(ring_count(r), 0);
    ring_commit(r);
    CHECK_EQ_INT(ring_count(r), 1);

    /* Slots are consecutive elem_size pieces of one array. */
    unsigned char *next = ring_reserve(r);
    CHECK(next == slot + 550);
    make_item(next, 550, 8);
    ring_commit(r);

    const unsigned char *oldest = ring_peek(r);
    CHECK(oldest == slot);
    CHECK(item_is(oldest, 550, 7));
    ring_release(r);
    unsigned char item[550];
    CHECK(ring_pop(r, item));
    CHECK(item_is(item, 550, 8));
    CHECK(ring_peek(r) == NULL);
    ring_destroy(&r);
}

/* ---- two-thread stress ---- */

typedef struct {
    uint64_t seq;
    uint64_t check; /* splitmix64(seq ^ salt): catches stale or torn items */
} stress_item_t;

typedef struct {
    ring_t *ring;
    uint64_t items;
    uint64_t seed;
    uint64_t salt;
    /* Results, read after join. */
    uint64_t checksum;
    uint64_t done;
    uint64_t errors;
    uint64_t waits;
} stress_side_t;

/* Waits politely: the machine's cores are shared, and the other side needs
 * one to make progress. */
static void stress_wait(stress_side_t *side)
{
    side->waits++;
    sched_yield();
}

static void *stress_produce(void *arg)
{
    stress_side_t *p = arg;
    sim_rng_t state;
    sim_rng_seed(&state, p->seed);
    stress_item_t batch[200];
    uint64_t seq = 0;
    while (seq < p->items) {
        uint64_t left = p->items - seq;
        switch (rng_below(&state, 3)) {
        case 0: {
            stress_item_t item = {seq, splitmix64(seq ^ p->salt)};
            if (ring_push(p->ring, &item)) {
                p->checksum += item.check;
                seq++;
            } else {
                stress_wait(p);
            }
            break;
        }
        case 1: {
            size_t n = 1 + rng_below(&state, sizeof(batch) / sizeof(batch[0]));
            if (n > left)
                n = (size_t)left;
            for (size_t i = 0; i < n; i++)
                batch[i] = (stress_item_t){seq + i, splitmix64((seq + i) ^ p->salt)};
            size_t pushed = ring_push_batch(p->ring, batch, n);
            for (size_t i = 0; i < pushed; i++)
                p->checksum += batch[i].check;
            seq += pushed;
            if (pushed < n)
                stress_wait(p);
            break;
        }
        default: {
            stress_item_t *slot = ring_reserve(p->ring);
            if (!slot) {
                stress_wait(p);
                break;
            }
            *slot = (stress_item_t){seq, splitmix64(seq ^ p->salt)};
            p->checksum += slot->check;
            ring_commit(p->ring);
            seq++;
            break;
        }
        }
    }
    p->done = seq;
    return NULL;
}

static void stress_accept(stress_side_t *c, const stress_item_t *item)
{
    if (item->seq != c->done || item->check != splitmix64(item->seq ^ c->salt)) {
        if (c->errors++ < 5)
            fprintf(stderr, "stress: item %llu arrived as seq %llu check %016llx\n",
                    (unsigned long long)c->done, (unsigned long long)item->seq,
                    (unsigned long long)item->check);
    }
    c->checksum += item->check;
    c->done++;
}

static void *stress_consume(void *arg)
{
    stress_side_t *c = arg;
    sim_rng_t state;
    sim_rng_seed(&state, c->seed);
    stress_item_t batch[200];
    while (c->done < c->items) {
        switch (rng_below(&state, 3)) {
        case 0: {
            stress_item_t item;
            if (ring_pop(c->ring, &item))
                stress_accept(c, &item);
            else
                stress_wait(c);
            break;
        }
        case 1: {
            size_t max = 1 + rng_below(&state, sizeof(batch) / sizeof(batch[0]));
            size_t popped = ring_pop_batch(c->ring, batch, max);
            for (size_t i = 0; i < popped; i++)
                stress_accept(c, &batch[i]);
            if (popped == 0)
                stress_wait(c);
            break;
        }
        default: {
            const stress_item_t *slot = ring_peek(c->ring);
            if (!slot) {
                stress_wait(c);
                break;
            }
            stress_accept(c, slot);
            ring_release(c->ring);
            break;
        }
        }
    }
    return NULL;
}

static void test_stress(uint64_t seed, uint64_t items, size_t capacity)
{
    ring_t *r = ring_create(sizeof(stress_item_t), capacity);
    CHECK(r != NULL);
    if (!r)
        return;
    /* Start near the counters' wrap-around so the stress crosses it. */
    ring_reset_at(r, SIZE_MAX - items / 2);
    uint64_t salt = splitmix64(seed);
    stress_side_t producer = {
        .ring = r, .items = items, .seed = splitmix64(seed + 1), .salt = salt};
    stress_side_t consumer = {
        .ring = r, .items = items, .seed = splitmix64(seed + 2), .salt = salt};
    pthread_t producer_thread, consumer_thread;
    CHECK_EQ_INT(pthread_create(&consumer_thread, NULL, stress_consume, &consumer), 0);
    CHECK_EQ_INT(pthread_create(&producer_thread, NULL, stress_produce, &producer), 0);
    pthread_join(producer_thread, NULL);
    pthread_join(consumer_thread, NULL);

    fprintf(stderr, "stress: capacity %zu, %llu items, producer waited %llu times, consumer %llu\n",
            capacity, (unsigned long long)items, (unsigned long long)producer.waits,
            (unsigned long long)consumer.waits);
    CHECK_EQ_INT(producer.done, items);
    CHECK_EQ_INT(consumer.done, items);
    CHECK_EQ_INT(consumer.errors, 0);
    CHECK(producer.checksum == consumer.checksum);
    CHECK_EQ_INT(ring_count(r), 0);
    ring_destroy(&r);
}

/* Large items through the zero-copy calls, checked byte by byte, so that a
 * consumer reading a slot the producer is still writing would show. */
#define BIG_ITEM 550

typedef struct {
    ring_t *ring;
    uint64_t items;
    uint64_t errors;
} big_side_t;

static void *big_produce(void *arg)
{
    big_side_t *p = arg;
    for (uint64_t seq = 0; seq < p->items;) {
        unsigned char *slot = ring_reserve(p->ring);
        if (!slot) {
            sched_yield();
            continue;
        }
        memset(slot, (int)(seq & 0xff), BIG_ITEM);
        memcpy(slot, &seq, sizeof(seq));
        ring_commit(p->ring);
        seq++;
    }
    return NULL;
}

static void *big_consume(void *arg)
{
    big_side_t *c = arg;
    unsigned char item[BIG_ITEM];
    for (uint64_t seq = 0; seq < c->items;) {
        /* Alternate the zero-copy and the copying call. */
        const unsigned char *data = item;
        if (seq & 1) {
            data = ring_peek(c->ring);
        } else if (!ring_pop(c->ring, item)) {
            data = NULL;
        }
        if (!data) {
            sched_yield();
            continue;
        }
        uint64_t got;
        memcpy(&got, data, sizeof(got));
        bool ok = got == seq;
        for (size_t j = sizeof(got); j < BIG_ITEM; j++)
            ok = ok && data[j] == (unsigned char)(seq & 0xff);
        if (!ok && c->errors++ < 5)
            fprintf(stderr, "big stress: item %llu wrong (seq %llu)\n", (unsigned long long)seq,
                    (unsigned long long)got);
        if (seq & 1)
            ring_release(c->ring);
        seq++;
    }
    return NULL;
}

static void test_stress_big(uint64_t items)
{
    ring_t *r = ring_create(BIG_ITEM, 16);
    CHECK(r != NULL);
    if (!r)
        return;
    big_side_t producer = {.ring = r, .items = items};
    big_side_t consumer = {.ring = r, .items = items};
    pthread_t producer_thread, consumer_thread;
    CHECK_EQ_INT(pthread_create(&consumer_thread, NULL, big_consume, &consumer), 0);
    CHECK_EQ_INT(pthread_create(&producer_thread, NULL, big_produce, &producer), 0);
    pthread_join(producer_thread, NULL);
    pthread_join(consumer_thread, NULL);
    CHECK_EQ_INT(consumer.errors, 0);
    CHECK_EQ_INT(ring_count(r), 0);
    ring_destroy(&r);
}

int main(int argc, char **argv)
{
    uint64_t seed = test_seed(argc, argv, (uint64_t)time(NULL));
    uint64_t items = 100000000;
    const char *env = getenv("MASSAGED_RING_STRESS_ITEMS");
    if (env && *env)
        items = strtoull(env, NULL, 0);
    fprintf(stderr, "test_ring: seed %llu (re-run with: test_ring %llu), stress items %llu\n",
            (unsigned long long)seed, (unsigned long long)seed, (unsigned long long)items);

    test_create_arguments();
    test_partial_batches();
    test_zero_copy();
    test_wrap_points(seed);
    test_stress(seed, items, 128);
    test_stress_big(items / 50);
    return CHECK_DONE();
}
