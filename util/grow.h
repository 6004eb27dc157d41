/* grow: room for one more item at the end of an array on the heap, the
 * capacity doubling as it fills (amortised constant time per item), and
 * GROW_APPEND, which appends one item with it.
 */
#ifndef MASSAGED_GROW_H
#define MASSAGED_GROW_H

#include <errno.h>
#include <stddef.h>

/* items holds *cap items of item_size bytes, n of them used. Returns items
 * when n < *cap; else the array reallocated to twice *cap (first items when
 * empty) with *cap updated. When out of memory it returns items itself with
 * *cap unchanged, so that n == *cap tells the caller there is no room (and
 * items, still valid, must still be freed). */
void *grow(void *items, size_t *cap, size_t n, size_t item_size, size_t first);

/* Appends the value given after first (of the array's item type) to the
 * array items holding n of cap items (size_t), growing it by grow. items,
 * cap and n are lvalues and are evaluated more than once. Evaluates to 0
 * with n one more, or -ENOMEM with items, cap and n unchanged. */
#define GROW_APPEND(items, cap, n, first, ...)                                                     \
    ((items) = grow((items), &(cap), (n), sizeof *(items), (first)),                               \
     (n) < (cap) ? ((items)[(n)++] = (__VA_ARGS__), 0) : -ENOMEM)

#endif
