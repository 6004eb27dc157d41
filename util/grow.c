#include "grow.h"

#include <stdlib.h>

void *grow(void *items, size_t *cap, size_t n, size_t item_size, size_t first)
{
    if (n < *cap)
        return items;
    size_t want = *cap ? *cap * 2 : first;
    void *bigger = realloc(items, want * item_size);
    if (!bigger)
        return items;
    *cap = want;
    return bigger;
}
