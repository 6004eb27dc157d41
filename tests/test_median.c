/* dsp/median: median_sort and median_sortf sort in place and return the
 * middle value (the mean of the middle two for an even count), checked
 * against qsort on random arrays with ties, of every length up to 40. */
#include "check.h"
#include "test_random.h"

#include "median.h"

#include <stdint.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    test_random_seed(test_seed(argc, argv, 20261205));
    for (int round = 0; round < 200; round++) {
        unsigned n = 1 + (unsigned)(uniform() * 40);
        double v[40], want[40];
        float f[40];
        for (unsigned i = 0; i < n; i++) {
            /* whole numbers in part, so that ties occur */
            want[i] = v[i] = uniform() < 0.3 ? (double)(int)(gaussian() * 3) : gaussian();
            f[i] = (float)v[i];
        }
        qsort(want, n, sizeof want[0], cmp_double);
        double median = n % 2 ? want[n / 2] : 0.5 * (want[n / 2 - 1] + want[n / 2]);
        CHECK(median_sort(v, n) == median);
        float median_f =
            n % 2 ? (float)want[n / 2] : 0.5f * ((float)want[n / 2 - 1] + (float)want[n / 2]);
        CHECK(median_sortf(f, n) == median_f);
        for (unsigned i = 0; i < n; i++)
            CHECK(v[i] == want[i] && f[i] == (float)want[i]);
    }
    double one = 4.0;
    CHECK(median_sort(&one, 1) == 4.0);
    return CHECK_DONE();
}
