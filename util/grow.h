/* grow: room for one more item at the end of an array on the heap, the
 * capacity doubling as it fills (amortised constant time per item).
 */
#ifndef MASSAGED_GROW_H
#define MASSAGED_GROW_H

#include <stddef.h>

/* items holds *cap items of item_size bytes, n of them used. Returns items
 * when n < *cap; else the array reallocated to twice *cap (first items when
 * empty) with *cap updated, or NULL when out of memory (items and *cap are
 * then unchanged, and items must still be freed). */
void *grow(void *items, size_t *cap, size_t n, size_t item_size, size_t first);

#endif
