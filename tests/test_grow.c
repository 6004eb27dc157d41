/* util/grow: GROW_APPEND keeps every item in order as the capacity doubles
 * from the first size, and leaves the array as it was when out of memory. */
#include "check.h"
#include "grow.h"

#include <stdint.h>

/* A sanitizer's allocator ends the program at an impossible request instead
 * of returning NULL, so the out-of-memory case is left to plain builds. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

typedef struct {
    double t;
    int k;
} item_t;

int main(void)
{
    item_t *items = NULL;
    size_t n = 0, cap = 0;
    for (int k = 0; k < 1000; k++) {
        CHECK_EQ_INT(GROW_APPEND(items, cap, n, 16, (item_t){k * 0.5, k}), 0);
        CHECK_EQ_INT(n, k + 1);
        /* 16, 32, 64, ...: the smallest such capacity holding k + 1 items */
        CHECK(cap >= n && (cap == 16 || cap / 2 < n));
    }
    CHECK_EQ_INT(cap, 1024);
    for (int k = 0; k < 1000; k++)
        CHECK(items[k].k == k && items[k].t == k * 0.5);

#ifndef SANITIZED
    /* A first size no allocator can give: nothing changes. */
    char *bytes = NULL;
    size_t n_bytes = 0, cap_bytes = 0;
    CHECK_EQ_INT(GROW_APPEND(bytes, cap_bytes, n_bytes, SIZE_MAX / 2, 'x'), -ENOMEM);
    CHECK(bytes == NULL && n_bytes == 0 && cap_bytes == 0);
    /* An array said to be full at a size that cannot double (half the
     * address space) keeps its items. */
    item_t *before = items;
    size_t full = SIZE_MAX / sizeof *items / 4, n_full = full;
    CHECK_EQ_INT(GROW_APPEND(items, full, n_full, 16, (item_t){0, 0}), -ENOMEM);
    CHECK(items == before && n_full == full && full == SIZE_MAX / sizeof *items / 4);
    CHECK(items[999].k == 999);
#endif
    free(items);
    return check_failures ? 1 : 0;
}
