/* test_stft: framing, scaling (Parseval) and frequency placement of the
 * short-time Fourier transform. */
#include "check.h"
#include "test_random.h"

#include "stft.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>


static int peak_bin(const stft_t *s)
{
    const float *p = stft_power(s);
    int best = 0;
    for (int k = 1; k < s->n_bins; k++)
        if (p[k] > p[best])
            best = k;
    return best;
}

static void test_framing(void)
{
    stft_settings_t set = stft_default;
    set.n_fft = 64;
    set.hop = 24;
    stft_t s;
    CHECK_EQ_INT(stft_alloc(&s, &set), 0);
    /* Frames after N samples: 0 before n_fft, then 1 + (N - n_fft) / hop. */
    int frames = 0;
    for (int n = 1; n <= 1000; n++) {
        bool ready = stft_push(&s, (float)n);
        frames += ready;
        int expected = n < 64 ? 0 : 1 + (n - 64) / 24;
        CHECK_EQ_INT(frames, expected);
        CHECK_EQ_INT(ready, n >= 64 && (n - 64) % 24 == 0);
        if (frames != expected)
            break;
    }
    CHECK_EQ_INT(s.frames, frames);
    CHECK_EQ_INT(s.samples, 1000);

    /* The block interface sees the same frames with the same spectra. */
    stft_t b;
    CHECK_EQ_INT(stft_alloc(&b, &set), 0);
    stft_reset(&s);
    float x[1000];
    test_random_seed(7);
    for (int i = 0; i < 1000; i++)
        x[i] = (float)gaussian();
    int sample_frames = 0, block_frames = 0, mismatches = 0;
    float last_sample_power[33];
    for (int i = 0; i < 1000; i++)
        if (stft_push(&s, x[i])) {
            sample_frames++;
            memcpy(last_sample_power, stft_power(&s), sizeof last_sample_power);
        }
    /* Odd chunk sizes so runs cross both frame and wrap boundaries. */
    size_t i = 0;
    int chunk = 1;
    while (i < 1000) {
        size_t want = (size_t)chunk < 1000 - i ? (size_t)chunk : 1000 - i;
        size_t done = 0;
        while (done < want) {
            bool ready;
            size_t used = stft_push_block(&b, x + i + done, want - done, &ready);
            CHECK(used > 0);
            done += used;
            block_frames += ready;
        }
        i += want;
        chunk = chunk * 3 % 97 + 1;
    }
    CHECK_EQ_INT(block_frames, sample_frames);
    CHECK_EQ_INT(b.samples, 1000);
    for (int k = 0; k < 33; k++)
        mismatches += stft_power(&b)[k] != last_sample_power[k];
    CHECK_EQ_INT(mismatches, 0);

    /* Frames announced by stft_push_due and computed only now and then
     * have the spectra stft_push gives; the skipped ones are not counted. */
    stft_reset(&b);
    int due = 0, computed = 0;
    mismatches = 0;
    for (int n = 0; n < 1000; n++) {
        if (!stft_push_due(&b, x[n]))
            continue;
        if (due++ % 3 == 1)
            continue;
        stft_compute(&b);
        computed++;
        stft_reset(&s);
        for (int m = 0; m <= n; m++)
            stft_push(&s, x[m]);
        for (int k = 0; k < 33; k++)
            mismatches += stft_power(&b)[k] != stft_power(&s)[k];
    }
    CHECK_EQ_INT(due, sample_frames);
    CHECK_EQ_INT(b.frames, computed);
    CHECK_EQ_INT(mismatches, 0);
    stft_free(&b);
    stft_free(&s);
}

static void test_sine_at_bin(void)
{
    /* Caller-provided memory, as the detectors use it. */
    stft_settings_t set = stft_default; /* 256 points at 1 kHz, Hann */
    size_t need = stft_mem_size(&set);
    CHECK(need > 0);
    unsigned char *mem = malloc(need);
    stft_t s;
    CHECK_EQ_INT(stft_init(&s, &set, mem, need - 1), -ENOMEM);
    CHECK_EQ_INT(stft_init(&s, &set, mem, need), 0);
    CHECK_EQ_INT(s.n_bins, 129);
    CHECK_NEAR(stft_bin_freq(&s, 10), 10.0 * 1000.0 / 256.0, 1e-12);

    /* Amplitude A at bin 10's centre: A^2/3 in that bin, A^2/12 beside it,
     * A^2/2 over the main lobe (Hann). */
    const double A = 2.0;
    const int k0 = 10;
    bool ready = false;
    for (int i = 0; i < 256; i++)
        ready = stft_push(&s, (float)(A * sin(2.0 * M_PI * k0 * i / 256.0 + 0.3)));
    CHECK(ready);
    const float *p = stft_power(&s);
    CHECK_EQ_INT(peak_bin(&s), k0);
    CHECK_NEAR(p[k0], A * A / 3.0, 1e-4);
    CHECK_NEAR(p[k0 - 1], A * A / 12.0, 1e-4);
    CHECK_NEAR(p[k0 + 1], A * A / 12.0, 1e-4);
    CHECK_NEAR(p[k0 - 1] + p[k0] + p[k0 + 1], A * A / 2.0, 1e-4);
    CHECK(p[k0 + 5] < 1e-6);
    free(mem);

    /* Rectangular window: all of A^2/2 in one bin; a constant shows at DC
     * with its square. */
    set.window = STFT_WINDOW_RECT;
    CHECK_EQ_INT(stft_alloc(&s, &set), 0);
    for (int i = 0; i < 256; i++)
        stft_push(&s, (float)(1.5 + A * cos(2.0 * M_PI * 32 * i / 256.0)));
    p = stft_power(&s);
    CHECK_NEAR(p[32], A * A / 2.0, 1e-4);
    CHECK_NEAR(p[0], 1.5 * 1.5, 1e-4);
    CHECK(p[31] < 1e-6 && p[33] < 1e-6);
    stft_free(&s);

    /* Nyquist bin counts once. */
    CHECK_EQ_INT(stft_alloc(&s, &set), 0);
    for (int i = 0; i < 256; i++)
        stft_push(&s, (i & 1) ? -1.0f : 1.0f);
    CHECK_NEAR(stft_power(&s)[128], 1.0, 1e-4);
    stft_free(&s);
}

static void test_parseval(uint64_t seed)
{
    const stft_window_t windows[] = {STFT_WINDOW_HANN, STFT_WINDOW_HAMMING, STFT_WINDOW_RECT};
    for (int w = 0; w < 3; w++) {
        stft_settings_t set = stft_default;
        set.window = windows[w];
        stft_t s;
        CHECK_EQ_INT(stft_alloc(&s, &set), 0);
        test_random_seed(seed + (uint64_t)w);
        const double sigma = 3.0;
        float history[256];
        double mean_total = 0.0, worst = 0.0;
        int frames = 0;
        for (int i = 0; i < 256 * 200; i++) {
            float x = (float)(sigma * gaussian());
            history[i & 255] = x;
            if (!stft_push(&s, x))
                continue;
            /* Exact per frame: sum P = sum (w x)^2 / sum w^2. */
            double num = 0.0, den = 0.0;
            for (int j = 0; j < 256; j++) {
                double wj = s.window[j];
                double xj = history[(i + 1 + j) & 255];
                num += wj * wj * xj * xj;
                den += wj * wj;
            }
            double total = 0.0;
            for (int k = 0; k < s.n_bins; k++)
                total += stft_power(&s)[k];
            double rel = fabs(total - num / den) / (num / den);
            if (rel > worst)
                worst = rel;
            mean_total += total;
            frames++;
        }
        mean_total /= frames;
        fprintf(stderr, "window %d: %d frames, mean sum P %.4f (variance %.4f), worst %.2e\n", w,
                frames, mean_total, sigma * sigma, worst);
        CHECK(worst < 1e-4);
        /* Expected value is the variance; 800 overlapping frames average
         * it to within a few percent. */
        CHECK_NEAR(mean_total, sigma * sigma, 0.05 * sigma * sigma);
        stft_free(&s);
    }
}

static void test_two_tones(void)
{
    /* 20 Hz and 30 Hz, 2.6 bins apart at 3.9 Hz, beyond the Hann main
     * lobe's half-width of 2 bins: two peaks with a dip between. */
    stft_settings_t set = stft_default;
    stft_t s;
    CHECK_EQ_INT(stft_alloc(&s, &set), 0);
    for (int i = 0; i < 1024; i++) {
        double t = i / 1000.0;
        stft_push(&s, (float)(sin(2.0 * M_PI * 20.0 * t) + 0.5 * sin(2.0 * M_PI * 30.0 * t)));
    }
    const float *p = stft_power(&s);
    /* Local maxima above a tenth of the strongest bin. */
    float top = p[peak_bin(&s)];
    int peaks[8], n_peaks = 0;
    for (int k = 1; k < s.n_bins - 1; k++)
        if (p[k] > p[k - 1] && p[k] >= p[k + 1] && p[k] > 0.1f * top && n_peaks < 8)
            peaks[n_peaks++] = k;
    CHECK_EQ_INT(n_peaks, 2);
    if (n_peaks == 2) {
        CHECK_NEAR(stft_bin_freq(&s, peaks[0]), 20.0, s.bin_hz);
        CHECK_NEAR(stft_bin_freq(&s, peaks[1]), 30.0, s.bin_hz);
        /* The weaker tone is about a quarter of the power. */
        CHECK(p[peaks[1]] < 0.5f * p[peaks[0]] && p[peaks[1]] > 0.1f * p[peaks[0]]);
    }
    stft_free(&s);
}

int main(int argc, char **argv)
{
    uint64_t seed = test_seed(argc, argv, 20240611);

    stft_settings_t bad = stft_default;
    bad.n_fft = 250;
    CHECK_EQ_INT(stft_mem_size(&bad), 0);
    stft_t s;
    CHECK_EQ_INT(stft_alloc(&s, &bad), -EINVAL);
    bad = stft_default;
    bad.hop = 0;
    CHECK_EQ_INT(stft_alloc(&s, &bad), -EINVAL);

    test_framing();
    test_sine_at_bin();
    test_parseval(seed);
    test_two_tones();
    return CHECK_DONE();
}
