/* ring: lock-free single-producer single-consumer queue of fixed-size items.
 *
 * Data crosses threads in massaged only through these rings. Items are
 * copied by value into slots of elem_size bytes, or written and read in
 * place through the zero-copy calls (ring_reserve/ring_commit and
 * ring_peek/ring_release), which suit large items such as whole messages.
 *
 * Threads. A ring has exactly one producer thread and one consumer thread
 * at a time:
 *   - producer only: ring_push, ring_push_batch, ring_reserve, ring_commit;
 *   - consumer only: ring_pop, ring_pop_batch, ring_peek, ring_release;
 *   - any thread:    ring_count, ring_capacity, ring_elem_size;
 *   - no other thread may be using the ring: ring_create, ring_destroy,
 *     ring_reset_at.
 * Handing the producer or consumer role to another thread needs a
 * happens-before edge (thread start or join, a mutex) between the two.
 *
 * The producer never blocks: when the ring is full a push fails (false, or
 * fewer items than asked for) and the caller counts the drop. Nothing here
 * allocates after ring_create or makes a system call.
 *
 * How it works. Two free-running counters, `produced` and `consumed`, count
 * the items ever committed and released; the slot of item i is
 * i & (capacity - 1), and produced - consumed is the fill level, correct
 * across the counters' wrap-around because the capacity is a power of two.
 * Each counter is written by one side only and lives on its own cache line
 * together with that side's cached copy of the other counter, so a side
 * reads the other's line only when its cached view says full (producer) or
 * empty (consumer). The release store of a counter publishes the slot
 * contents written (producer) or read (consumer) before it; the acquire load
 * that refreshes a cached copy pairs with it.
 *
 * The struct is visible only so that the per-item functions can be inlined
 * (docs/BENCHMARKS.md: out-of-line calls made single 64-byte items 30-40%
 * slower); its fields are private to this module.
 */
#ifndef MASSAGED_RING_H
#define MASSAGED_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define RING_CACHE_LINE 64

typedef struct ring {
    /* Producer's line: written only by the producer thread. */
    alignas(RING_CACHE_LINE) atomic_size_t produced; /* items ever committed */
    size_t consumed_seen;                            /* producer's last view of `consumed` */

    /* Read-only after ring_create, so both cores keep it cached. It also
     * keeps the producer's and consumer's lines out of one 128-byte pair
     * for CPUs that prefetch lines in pairs. */
    alignas(RING_CACHE_LINE) unsigned char *slots; /* capacity * elem_size bytes */
    size_t mask;                                   /* capacity - 1 */
    size_t capacity;                               /* items, a power of two */
    size_t elem_size;                              /* bytes per item */

    /* Consumer's line: written only by the consumer thread. */
    alignas(RING_CACHE_LINE) atomic_size_t consumed; /* items ever released */
    size_t produced_seen;                            /* consumer's last view of `produced` */

    /* Keeps the consumer's line clear of whatever follows in memory. */
    alignas(RING_CACHE_LINE) unsigned char pad_end[RING_CACHE_LINE];
} ring_t;

/* Creates an empty ring of `capacity` items of `elem_size` bytes each.
 * capacity must be a power of two (1, 2, 4, ...) and elem_size non-zero.
 * Returns the ring, or NULL with errno EINVAL (bad sizes or
 * capacity * elem_size overflows) or ENOMEM. The caller owns the ring and
 * frees it with ring_destroy. */
ring_t *ring_create(size_t elem_size, size_t capacity);

/* Frees the ring and sets *r to NULL. Accepts r == NULL and *r == NULL.
 * Both sides must have stopped using it. */
void ring_destroy(ring_t **r);

/* For tests: empties the ring and starts both counters at `start`, so that
 * tests can reach the counters' wrap-around. No other thread may be using
 * the ring. */
void ring_reset_at(ring_t *r, size_t start);

/* Copies up to `n` items (n * elem_size contiguous bytes at `items`) into
 * the ring, as many as fit, in order. Producer only. Returns the number of
 * items pushed (0..n); items beyond it were not queued. */
size_t ring_push_batch(ring_t *r, const void *items, size_t n);

/* Copies up to `max` of the oldest items, in order, to `items` (room for
 * max * elem_size bytes) and removes them. Consumer only. Returns the
 * number of items popped (0 when empty). */
size_t ring_pop_batch(ring_t *r, void *items, size_t max);

/* Number of items in the ring (0..capacity). Any thread; approximate when
 * the producer or consumer is running, exact otherwise. */
size_t ring_count(const ring_t *r);

/* Capacity in items and item size in bytes, as given to ring_create.
 * Any thread. */
size_t ring_capacity(const ring_t *r);
size_t ring_elem_size(const ring_t *r);

/* Copies one item of elem_size bytes. A constant-size memcpy compiles to a
 * few moves, where a runtime size calls the library; the branch on the
 * size is the same every time for a given ring, so it predicts perfectly.
 * In paired runs of bench_ring, single 64-byte items went 15-40% slower
 * through the library call. */
#if defined(__GNUC__) && !defined(__clang__)
/* Inlined into a caller with a small item, GCC warns about the cases for
 * larger sizes although they cannot run for that ring. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
static inline void ring_copy_item_(void *dst, const void *src, size_t size)
{
    switch (size) {
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    case 32:
        memcpy(dst, src, 32);
        break;
    case 64:
        memcpy(dst, src, 64);
        break;
    default:
        memcpy(dst, src, size);
        break;
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* Returns a pointer to the next free slot (elem_size bytes, writable until
 * ring_commit), or NULL when the ring is full. Producer only. Calling it
 * again before ring_commit returns the same slot. Slot i starts i * elem_size
 * bytes into a 64-byte aligned array, so a slot is aligned for an item type
 * whose sizeof is elem_size. */
static inline void *ring_reserve(ring_t *r)
{
    size_t produced = atomic_load_explicit(&r->produced, memory_order_relaxed);
    if (produced - r->consumed_seen == r->capacity) {
        r->consumed_seen = atomic_load_explicit(&r->consumed, memory_order_acquire);
        if (produced - r->consumed_seen == r->capacity)
            return NULL;
    }
    return r->slots + (produced & r->mask) * r->elem_size;
}

/* Publishes the slot returned by the last successful ring_reserve to the
 * consumer. Producer only; only after ring_reserve returned non-NULL. */
static inline void ring_commit(ring_t *r)
{
    size_t produced = atomic_load_explicit(&r->produced, memory_order_relaxed);
    atomic_store_explicit(&r->produced, produced + 1, memory_order_release);
}

/* Copies one item (elem_size bytes at `item`) into the ring. Producer only.
 * Returns true, or false when the ring is full (the item is dropped). */
static inline bool ring_push(ring_t *r, const void *item)
{
    void *slot = ring_reserve(r);
    if (!slot)
        return false;
    ring_copy_item_(slot, item, r->elem_size);
    ring_commit(r);
    return true;
}

/* Returns a pointer to the oldest item (elem_size bytes, readable until
 * ring_release), or NULL when the ring is empty. Consumer only. Calling it
 * again before ring_release returns the same item. */
static inline const void *ring_peek(ring_t *r)
{
    size_t consumed = atomic_load_explicit(&r->consumed, memory_order_relaxed);
    if (consumed == r->produced_seen) {
        r->produced_seen = atomic_load_explicit(&r->produced, memory_order_acquire);
        if (consumed == r->produced_seen)
            return NULL;
    }
    return r->slots + (consumed & r->mask) * r->elem_size;
}

/* Removes the item returned by the last successful ring_peek, giving its
 * slot back to the producer. Consumer only; only after ring_peek returned
 * non-NULL. */
static inline void ring_release(ring_t *r)
{
    size_t consumed = atomic_load_explicit(&r->consumed, memory_order_relaxed);
    atomic_store_explicit(&r->consumed, consumed + 1, memory_order_release);
}

/* Copies the oldest item to `item` (elem_size bytes) and removes it.
 * Consumer only. Returns true, or false when the ring is empty. */
static inline bool ring_pop(ring_t *r, void *item)
{
    const void *slot = ring_peek(r);
    if (!slot)
        return false;
    ring_copy_item_(item, slot, r->elem_size);
    ring_release(r);
    return true;
}

#endif
