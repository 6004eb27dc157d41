#include "median.h"

/* One definition for each type, so that the float version rounds as float
 * arithmetic does (its callers compare the result with float thresholds). */
#define MEDIAN_SORT(name, type)                                                                    \
    type name(type *v, unsigned n)                                                                 \
    {                                                                                              \
        for (unsigned i = 1; i < n; i++) {                                                         \
            type t = v[i];                                                                         \
            unsigned j = i;                                                                        \
            for (; j > 0 && v[j - 1] > t; j--)                                                     \
                v[j] = v[j - 1];                                                                   \
            v[j] = t;                                                                              \
        }                                                                                          \
        return n % 2 ? v[n / 2] : (type)0.5 * (v[n / 2 - 1] + v[n / 2]);                           \
    }

MEDIAN_SORT(median_sort, double)
MEDIAN_SORT(median_sortf, float)
