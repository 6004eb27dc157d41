/* test_stats: on-line statistics against brute-force computations on
 * seeded random data. */
#include "check.h"
#include "test_random.h"

#include "stats.h"

#include <errno.h>
#include <stdint.h>


static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_ema(uint64_t seed)
{
    rng_state = seed;
    stats_ema_settings_t set = {.tau_s = 0.05, .fs_hz = 1000.0};
    stats_ema_t e;
    CHECK_EQ_INT(stats_ema_init(&e, &set), 0);
    const double alpha = 1.0 - exp(-1.0 / 50.0);
    CHECK_NEAR(e.alpha, alpha, 1e-15);

    enum { N = 3000 };
    static double x[N];
    double worst_mean = 0.0, worst_var = 0.0;
    for (int n = 0; n < N; n++) {
        /* A level step and a variance change part-way, as a hold does. */
        x[n] = (n < 1500 ? 2.0 : 5.0) + (n < 2200 ? 0.5 : 2.0) * gaussian();
        stats_ema_push(&e, x[n]);
        if (n % 97 != 0 && n != N - 1)
            continue;
        /* Brute force: weights (1-a)^n for the first sample, a (1-a)^(n-i)
         * for the others; they sum to 1. */
        double w_sum = 0.0, mean = 0.0;
        for (int i = 0; i <= n; i++) {
            double w = (i == 0 ? 1.0 : alpha) * pow(1.0 - alpha, n - i);
            w_sum += w;
            mean += w * x[i];
        }
        double var = 0.0;
        for (int i = 0; i <= n; i++) {
            double w = (i == 0 ? 1.0 : alpha) * pow(1.0 - alpha, n - i);
            var += w * (x[i] - mean) * (x[i] - mean);
        }
        CHECK_NEAR(w_sum, 1.0, 1e-9);
        if (fabs(e.mean - mean) > worst_mean)
            worst_mean = fabs(e.mean - mean);
        if (fabs(e.var - var) > worst_var)
            worst_var = fabs(e.var - var);
    }
    fprintf(stderr, "ema: worst |mean error| %.2e, |var error| %.2e\n", worst_mean, worst_var);
    CHECK(worst_mean < 1e-9);
    CHECK(worst_var < 1e-9);
    /* After the last change the estimates sit near the truth. */
    CHECK_NEAR(e.mean, 5.0, 1.0);
    CHECK_NEAR(stats_ema_std(&e), 2.0, 0.6);

    stats_ema_settings_t bad = {.tau_s = 0.0, .fs_hz = 1000.0};
    CHECK_EQ_INT(stats_ema_init(&e, &bad), -EINVAL);
}

static void test_minmax(uint64_t seed)
{
    rng_state = seed ^ 0x9e3779b97f4a7c15ull;
    stats_minmax_settings_t set = {.window_s = 0.1, .fs_hz = 1000.0}; /* 100 samples */
    size_t need = stats_minmax_mem_size(&set);
    CHECK(need > 0);
    void *mem = malloc(need);
    stats_minmax_t m;
    CHECK_EQ_INT(stats_minmax_init(&m, &set, mem, need - 1), -ENOMEM);
    CHECK_EQ_INT(stats_minmax_init(&m, &set, mem, need), 0);
    CHECK_EQ_INT(m.window, 100);

    enum { N = 20000 };
    static float x[N];
    int errors = 0;
    for (int n = 0; n < N; n++) {
        /* Mixed: noise, long monotonic runs (worst case for the deques)
         * and repeated values. */
        if (n < 5000)
            x[n] = (float)gaussian();
        else if (n < 8000)
            x[n] = (float)(n % 1000) * 0.01f;
        else if (n < 11000)
            x[n] = (float)(1000 - n % 1000) * 0.01f;
        else
            x[n] = (float)floor(uniform() * 4.0);
        stats_minmax_push(&m, x[n]);
        int lo = n >= 99 ? n - 99 : 0;
        float mn = x[lo], mx = x[lo];
        for (int i = lo; i <= n; i++) {
            mn = x[i] < mn ? x[i] : mn;
            mx = x[i] > mx ? x[i] : mx;
        }
        if (m.min != mn || m.max != mx) {
            if (errors < 5)
                fprintf(stderr, "n %d: min %g vs %g, max %g vs %g\n", n, m.min, mn, m.max, mx);
            errors++;
        }
    }
    CHECK_EQ_INT(errors, 0);
    CHECK_EQ_INT(m.n, 100);

    /* Window of one sample: min = max = the sample. */
    stats_minmax_settings_t one = {.window_s = 0.001, .fs_hz = 1000.0};
    stats_minmax_t m1;
    CHECK_EQ_INT(stats_minmax_init(&m1, &one, mem, need), 0);
    for (int n = 0; n < 50; n++) {
        stats_minmax_push(&m1, x[n]);
        CHECK(m1.min == x[n] && m1.max == x[n]);
    }
    free(mem);
}

static void test_p2(uint64_t seed)
{
    const double quantiles[] = {0.5, 0.1, 0.9};
    enum { N = 20000 };
    static double x[N], sorted[N];
    for (int qi = 0; qi < 3; qi++) {
        rng_state = seed + 11u * (uint64_t)qi;
        stats_p2_settings_t set = {.quantile = quantiles[qi]};
        stats_p2_t q;
        CHECK_EQ_INT(stats_p2_init(&q, &set), 0);
        CHECK(isnan(stats_p2_value(&q)));
        for (int n = 0; n < N; n++) {
            /* Skewed data: exponential, where mean and median differ. */
            x[n] = -log(1.0 - uniform());
            stats_p2_push(&q, x[n]);
            if (n < 5) {
                /* Exact nearest rank while the markers are the samples. */
                memcpy(sorted, x, (size_t)(n + 1) * sizeof x[0]);
                qsort(sorted, (size_t)(n + 1), sizeof sorted[0], cmp_double);
                CHECK_NEAR(stats_p2_value(&q), sorted[(int)floor(set.quantile * n + 0.5)], 0.0);
            }
        }
        memcpy(sorted, x, sizeof x);
        qsort(sorted, N, sizeof sorted[0], cmp_double);
        double exact = sorted[(int)(set.quantile * (N - 1))];
        double est = stats_p2_value(&q);
        /* The true quantile of Exp(1) is -ln(1-p). */
        fprintf(stderr, "p2 q=%.1f: estimate %.4f, sample quantile %.4f, true %.4f\n", set.quantile,
                est, exact, -log(1.0 - set.quantile));
        /* Within 2 % of the distribution's rank: compare ranks. */
        int rank = 0;
        while (rank < N && sorted[rank] < est)
            rank++;
        CHECK_NEAR((double)rank / N, set.quantile, 0.02);
        CHECK_NEAR(est, exact, 0.05 * exact + 0.01);
    }
    stats_p2_t q;
    stats_p2_settings_t bad = {.quantile = 1.0};
    CHECK_EQ_INT(stats_p2_init(&q, &bad), -EINVAL);
}

static void test_schmitt(uint64_t seed)
{
    rng_state = seed * 3 + 1;
    stats_schmitt_t t;
    stats_schmitt_settings_t set = {.on_level = 1.0f, .off_level = 0.0f, .min_samples = 1};
    CHECK_EQ_INT(stats_schmitt_init(&t, &set), 0);
    /* Brute force model of a hysteresis comparator. */
    bool model = false;
    int mismatches = 0, toggles = 0, plain_toggles = 0;
    bool plain = false;
    for (int n = 0; n < 20000; n++) {
        /* A slow sine with noise that crosses each level many times. */
        float x = (float)(0.5 + 1.5 * sin(n * 0.002) + 0.1 * gaussian());
        bool before = model;
        if (!model && x > 1.0f)
            model = true;
        else if (model && x < 0.0f)
            model = false;
        int ev = stats_schmitt_step(&t, x);
        int model_ev = model == before ? 0 : model ? 1 : -1;
        mismatches += ev != model_ev || t.on != model;
        toggles += ev != 0;
        bool p = x > 0.5f;
        plain_toggles += p != plain;
        plain = p;
    }
    fprintf(stderr, "schmitt: %d toggles with hysteresis, %d without\n", toggles, plain_toggles);
    CHECK_EQ_INT(mismatches, 0);
    /* Hysteresis is the point: far fewer toggles than a plain comparator
     * at the middle level, and about two per sine period (6 periods). */
    CHECK(toggles < plain_toggles / 4);
    CHECK(toggles >= 10 && toggles <= 16);

    /* Debounce: needs 3 consecutive samples beyond the level. */
    set.min_samples = 3;
    CHECK_EQ_INT(stats_schmitt_init(&t, &set), 0);
    const float seq[] = {2, 2, 0.5f, 2, 2, 2, 0.5f, -1, -1, 0.5f, -1, -1, -1};
    const int expect[] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, -1};
    for (int i = 0; i < 13; i++)
        CHECK_EQ_INT(stats_schmitt_step(&t, seq[i]), expect[i]);

    set.off_level = 2.0f;
    CHECK_EQ_INT(stats_schmitt_init(&t, &set), -EINVAL);
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 20240611ull;
    if (seed == 0)
        seed = 1;
    fprintf(stderr, "seed %llu\n", (unsigned long long)seed);
    test_ema(seed);
    test_minmax(seed);
    test_p2(seed);
    test_schmitt(seed);
    return CHECK_DONE();
}
