/* bench_ring: two-thread throughput of the SPSC ring against Concurrency
 * Kit's SPSC ring (ck_ring), in items per second.
 *
 * Usage: bench_ring [items_per_run] [repetitions] [capacity]
 *        (defaults 10000000, 7, 1024)
 *
 * Like is compared with like: our single-item ring_push/ring_pop against
 * ck's single-item enqueue/dequeue, for 8-byte items (ck's pointer ring,
 * ck_ring_enqueue_spsc) and 64-byte items (ck's typed ring from
 * CK_RING_PROTOTYPE). Our batch calls are measured too, as a figure of
 * their own. The variants run interleaved, repetition by repetition, so a
 * noisy neighbour hurts them alike; medians are reported. The
 * producer and the consumer are pinned to different CPUs when there are
 * two. Both rings have the same number of slots (ck keeps one empty). */
#include "ring.h"

#include <ck_ring.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

typedef struct item64 {
    uint64_t words[8];
} item64_t;

CK_RING_PROTOTYPE(item64, item64)

/* What a waiting side does between attempts: the same for both rings. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

typedef enum { OURS_8, CK_8, OURS_64, CK_64, OURS_8_BATCH, OURS_64_BATCH, VARIANT_COUNT } variant_t;

static const char *const variant_names[VARIANT_COUNT] = {
    "ours 8 B single",  "ck   8 B single",  "ours 64 B single",
    "ck   64 B single", "ours 8 B batch32", "ours 64 B batch32",
};

typedef struct {
    variant_t variant;
    uint64_t items;
    size_t capacity;
    ring_t *ring;
    ck_ring_t ck;
    ck_ring_buffer_t *ck_pointers; /* CK_8 */
    item64_t *ck_items;            /* CK_64 */
    atomic_int started;            /* threads pinned and ready */
    atomic_bool go;
    struct timespec begin, end;
    uint64_t sum; /* consumer's sum of item numbers, checked */
} run_t;

static void pin_to_cpu(int cpu)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % cpus, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void wait_for_go(run_t *run)
{
    atomic_fetch_add(&run->started, 1);
    while (!atomic_load_explicit(&run->go, memory_order_acquire))
        cpu_relax();
}

static void *produce(void *arg)
{
    run_t *run = arg;
    pin_to_cpu(0);
    wait_for_go(run);
    clock_gettime(CLOCK_MONOTONIC, &run->begin);
    const uint64_t n = run->items;
    switch (run->variant) {
    case OURS_8:
        for (uint64_t i = 0; i < n; i++)
            while (!ring_push(run->ring, &i))
                cpu_relax();
        break;
    case CK_8:
        for (uint64_t i = 0; i < n; i++)
            while (!ck_ring_enqueue_spsc(&run->ck, run->ck_pointers, (void *)(uintptr_t)i))
                cpu_relax();
        break;
    case OURS_64:
        for (uint64_t i = 0; i < n; i++) {
            item64_t item = {{i}};
            while (!ring_push(run->ring, &item))
                cpu_relax();
        }
        break;
    case CK_64:
        for (uint64_t i = 0; i < n; i++) {
            item64_t item = {{i}};
            while (!ck_ring_enqueue_spsc_item64(&run->ck, run->ck_items, &item))
                cpu_relax();
        }
        break;
    case OURS_8_BATCH: {
        uint64_t batch[BATCH];
        for (uint64_t i = 0; i < n;) {
            size_t want = n - i < BATCH ? (size_t)(n - i) : BATCH;
            for (size_t k = 0; k < want; k++)
                batch[k] = i + k;
            size_t done = 0;
            while ((done += ring_push_batch(run->ring, batch + done, want - done)) < want)
                cpu_relax();
            i += want;
        }
        break;
    }
    case OURS_64_BATCH: {
        item64_t batch[BATCH] = {0};
        for (uint64_t i = 0; i < n;) {
            size_t want = n - i < BATCH ? (size_t)(n - i) : BATCH;
            for (size_t k = 0; k < want; k++)
                batch[k].words[0] = i + k;
            size_t done = 0;
            while ((done += ring_push_batch(run->ring, batch + done, want - done)) < want)
                cpu_relax();
            i += want;
        }
        break;
    }
    default:
        break;
    }
    return NULL;
}

static void *consume(void *arg)
{
    run_t *run = arg;
    pin_to_cpu(1);
    wait_for_go(run);
    const uint64_t n = run->items;
    uint64_t sum = 0;
    switch (run->variant) {
    case OURS_8:
        for (uint64_t got = 0; got < n;) {
            uint64_t item;
            if (ring_pop(run->ring, &item)) {
                sum += item;
                got++;
            } else {
                cpu_relax();
            }
        }
        break;
    case CK_8:
        for (uint64_t got = 0; got < n;) {
            void *item;
            if (ck_ring_dequeue_spsc(&run->ck, run->ck_pointers, &item)) {
                sum += (uintptr_t)item;
                got++;
            } else {
                cpu_relax();
            }
        }
        break;
    case OURS_64:
        for (uint64_t got = 0; got < n;) {
            item64_t item;
            if (ring_pop(run->ring, &item)) {
                sum += item.words[0];
                got++;
            } else {
                cpu_relax();
            }
        }
        break;
    case CK_64:
        for (uint64_t got = 0; got < n;) {
            item64_t item;
            if (ck_ring_dequeue_spsc_item64(&run->ck, run->ck_items, &item)) {
                sum += item.words[0];
                got++;
            } else {
                cpu_relax();
            }
        }
        break;
    case OURS_8_BATCH:
        for (uint64_t got = 0; got < n;) {
            uint64_t batch[BATCH];
            size_t k = ring_pop_batch(run->ring, batch, BATCH);
            if (k == 0)
                cpu_relax();
            for (size_t j = 0; j < k; j++)
                sum += batch[j];
            got += k;
        }
        break;
    case OURS_64_BATCH:
        for (uint64_t got = 0; got < n;) {
            item64_t batch[BATCH];
            size_t k = ring_pop_batch(run->ring, batch, BATCH);
            if (k == 0)
                cpu_relax();
            for (size_t j = 0; j < k; j++)
                sum += batch[j].words[0];
            got += k;
        }
        break;
    default:
        break;
    }
    clock_gettime(CLOCK_MONOTONIC, &run->end);
    run->sum = sum;
    return NULL;
}

/* Runs one variant once; returns items per second, or 0 on failure. */
static double run_once(variant_t variant, uint64_t items, size_t capacity)
{
    static run_t run; /* static: too big for some stacks with its padding */
    memset(&run, 0, sizeof(run));
    run.variant = variant;
    run.items = items;
    run.capacity = capacity;

    bool ours = variant == OURS_8 || variant == OURS_64 || variant == OURS_8_BATCH ||
                variant == OURS_64_BATCH;
    bool wide = variant == OURS_64 || variant == CK_64 || variant == OURS_64_BATCH;
    if (ours) {
        run.ring = ring_create(wide ? sizeof(item64_t) : sizeof(uint64_t), capacity);
        if (!run.ring)
            return 0;
    } else {
        ck_ring_init(&run.ck, (unsigned int)capacity);
        if (wide)
            run.ck_items = aligned_alloc(64, capacity * sizeof(item64_t));
        else
            run.ck_pointers = aligned_alloc(64, capacity * sizeof(ck_ring_buffer_t));
        if (!run.ck_items && !run.ck_pointers)
            return 0;
    }

    pthread_t producer, consumer;
    pthread_create(&consumer, NULL, consume, &run);
    pthread_create(&producer, NULL, produce, &run);
    while (atomic_load(&run.started) < 2)
        sched_yield();
    atomic_store_explicit(&run.go, true, memory_order_release);
    pthread_join(producer, NULL);
    pthread_join(consumer, NULL);

    ring_destroy(&run.ring);
    free(run.ck_items);
    free(run.ck_pointers);

    if (run.sum != items * (items - 1) / 2) {
        fprintf(stderr, "bench_ring: %s lost or corrupted items\n", variant_names[variant]);
        return 0;
    }
    double seconds = (double)(run.end.tv_sec - run.begin.tv_sec) +
                     (double)(run.end.tv_nsec - run.begin.tv_nsec) * 1e-9;
    return (double)items / seconds;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof(values[0]), compare_double);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

#define MAX_REPS 99

int main(int argc, char **argv)
{
    uint64_t items = argc > 1 ? strtoull(argv[1], NULL, 0) : 10000000;
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    size_t capacity = argc > 3 ? strtoull(argv[3], NULL, 0) : 1024;
    if (items < 2 || reps < 1 || reps > MAX_REPS || capacity < 2 ||
        (capacity & (capacity - 1)) != 0 || capacity > UINT32_MAX) {
        fprintf(stderr,
                "usage: bench_ring [items_per_run>1] [repetitions 1..%d] "
                "[capacity, power of two]\n",
                MAX_REPS);
        return 2;
    }
    printf("bench_ring: %llu items per run, %d repetitions, capacity %zu, %ld CPUs\n",
           (unsigned long long)items, reps, capacity, sysconf(_SC_NPROCESSORS_ONLN));

    /* Each repetition runs every variant once; ours and ck alternate which
     * goes first. On a shared or virtual machine the speed of a core-to-core
     * cache-line transfer changes over seconds, so the ratio is taken within
     * each repetition, between runs a moment apart, and its median is
     * reported, next to the medians of the rates themselves. */
    static const variant_t order[2][VARIANT_COUNT] = {
        {OURS_8, CK_8, OURS_64, CK_64, OURS_8_BATCH, OURS_64_BATCH},
        {CK_8, OURS_8, CK_64, OURS_64, OURS_8_BATCH, OURS_64_BATCH},
    };
    static double rates[VARIANT_COUNT][MAX_REPS];
    double ratio8[MAX_REPS], ratio64[MAX_REPS], ratio8_batch[MAX_REPS], ratio64_batch[MAX_REPS];
    for (int rep = 0; rep < reps; rep++) {
        for (int k = 0; k < VARIANT_COUNT; k++) {
            variant_t v = order[rep % 2][k];
            rates[v][rep] = run_once(v, items, capacity);
            if (rates[v][rep] == 0)
                return 1;
        }
        ratio8[rep] = rates[OURS_8][rep] / rates[CK_8][rep];
        ratio64[rep] = rates[OURS_64][rep] / rates[CK_64][rep];
        ratio8_batch[rep] = rates[OURS_8_BATCH][rep] / rates[CK_8][rep];
        ratio64_batch[rep] = rates[OURS_64_BATCH][rep] / rates[CK_64][rep];
        printf("rep %d: ours/ck 8 B %.2f, 64 B %.2f\n", rep + 1, ratio8[rep], ratio64[rep]);
    }

    for (int v = 0; v < VARIANT_COUNT; v++) {
        double med = median(rates[v], reps); /* sorts: min and max are the ends */
        printf("%-18s %7.1f M items/s median (min %.1f, max %.1f)\n", variant_names[v], med / 1e6,
               rates[v][0] / 1e6, rates[v][reps - 1] / 1e6);
    }
    printf("ratio ours/ck  8 B single: %.2f (median of %d paired ratios)\n", median(ratio8, reps),
           reps);
    printf("ratio ours/ck 64 B single: %.2f (median of %d paired ratios)\n", median(ratio64, reps),
           reps);
    printf("ratio ours batch32/ck single: 8 B %.2f, 64 B %.2f\n", median(ratio8_batch, reps),
           median(ratio64_batch, reps));
    return 0;
}
