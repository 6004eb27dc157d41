#include "ring.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* The capacity must stay at most half the counters' range so that
 * produced - consumed can never be mistaken for a wrapped value. */
#define RING_MAX_CAPACITY (SIZE_MAX / 2 + 1)

ring_t *ring_create(size_t elem_size, size_t capacity)
{
    if (elem_size == 0 || capacity == 0 || (capacity & (capacity - 1)) != 0 ||
        capacity > RING_MAX_CAPACITY || capacity > SIZE_MAX / elem_size) {
        errno = EINVAL;
        return NULL;
    }
    size_t bytes = capacity * elem_size;
    /* aligned_alloc wants a multiple of the alignment; whole cache lines also
     * keep the last slot's line from being shared with another allocation. */
    if (bytes > SIZE_MAX - (RING_CACHE_LINE - 1)) {
        errno = EINVAL;
        return NULL;
    }
    size_t bytes_rounded = (bytes + RING_CACHE_LINE - 1) & ~(size_t)(RING_CACHE_LINE - 1);

    ring_t *r = aligned_alloc(alignof(ring_t), sizeof(ring_t));
    if (!r)
        goto fail;
    memset(r, 0, sizeof(*r));
    r->slots = aligned_alloc(RING_CACHE_LINE, bytes_rounded);
    if (!r->slots)
        goto fail_ring;
    r->mask = capacity - 1;
    r->capacity = capacity;
    r->elem_size = elem_size;
    ring_reset_at(r, 0);
    return r;

fail_ring:
    free(r);
fail:
    errno = ENOMEM;
    return NULL;
}

void ring_destroy(ring_t **r)
{
    if (!r || !*r)
        return;
    free((*r)->slots);
    free(*r);
    *r = NULL;
}

void ring_reset_at(ring_t *r, size_t start)
{
    atomic_store_explicit(&r->produced, start, memory_order_relaxed);
    atomic_store_explicit(&r->consumed, start, memory_order_relaxed);
    r->consumed_seen = start;
    r->produced_seen = start;
}

/* Copies `count` items between the ring's slots, starting at counter value
 * `index`, and a flat array, in at most two memcpy calls: up to the end of
 * the slot array, then from its start. */
static void copy_in(ring_t *r, size_t index, const unsigned char *items, size_t count)
{
    size_t first = index & r->mask;
    size_t until_end = r->capacity - first;
    size_t head = count < until_end ? count : until_end;
    memcpy(r->slots + first * r->elem_size, items, head * r->elem_size);
    if (count > head)
        memcpy(r->slots, items + head * r->elem_size, (count - head) * r->elem_size);
}

static void copy_out(const ring_t *r, size_t index, unsigned char *items, size_t count)
{
    size_t first = index & r->mask;
    size_t until_end = r->capacity - first;
    size_t head = count < until_end ? count : until_end;
    memcpy(items, r->slots + first * r->elem_size, head * r->elem_size);
    if (count > head)
        memcpy(items + head * r->elem_size, r->slots, (count - head) * r->elem_size);
}

size_t ring_push_batch(ring_t *r, const void *items, size_t n)
{
    size_t produced = atomic_load_explicit(&r->produced, memory_order_relaxed);
    size_t space = r->capacity - (produced - r->consumed_seen);
    if (space < n) {
        /* Only look at the consumer's line when the cached view is short. */
        r->consumed_seen = atomic_load_explicit(&r->consumed, memory_order_acquire);
        space = r->capacity - (produced - r->consumed_seen);
    }
    size_t count = n < space ? n : space;
    if (count == 0)
        return 0;
    copy_in(r, produced, items, count);
    atomic_store_explicit(&r->produced, produced + count, memory_order_release);
    return count;
}

size_t ring_pop_batch(ring_t *r, void *items, size_t max)
{
    size_t consumed = atomic_load_explicit(&r->consumed, memory_order_relaxed);
    size_t available = r->produced_seen - consumed;
    if (available < max) {
        r->produced_seen = atomic_load_explicit(&r->produced, memory_order_acquire);
        available = r->produced_seen - consumed;
    }
    size_t count = max < available ? max : available;
    if (count == 0)
        return 0;
    copy_out(r, consumed, items, count);
    atomic_store_explicit(&r->consumed, consumed + count, memory_order_release);
    return count;
}

size_t ring_count(const ring_t *r)
{
    /* Reading `consumed` first means `produced` can only have grown since,
     * so the difference is never negative; it can exceed the capacity if the
     * consumer released and the producer refilled in between. */
    size_t consumed = atomic_load_explicit(&r->consumed, memory_order_acquire);
    size_t produced = atomic_load_explicit(&r->produced, memory_order_acquire);
    size_t count = produced - consumed;
    return count < r->capacity ? count : r->capacity;
}

size_t ring_capacity(const ring_t *r)
{
    return r->capacity;
}

size_t ring_elem_size(const ring_t *r)
{
    return r->elem_size;
}
