/* bench_stft: the short-time Fourier stage (dsp/stft on kissfft) against the
 * same stage on FFTW (libfftw3f, used only here).
 *
 * Both sides do the same work per sample pushed: store it in a mirrored
 * history, and every hop samples window the last n_fft samples, run a real
 * FFT and compute the scaled one-sided power spectrum. FFTW is planned with
 * FFTW_MEASURE before timing (planning is left out: the daemon would plan at
 * connect time). Sizes: 128/32 (the ball detector's 128 ms window, 32 ms hop
 * at 1 kHz), 256/64 (stft_default) and 1024/256. Each size runs `reps`
 * times, alternating which side goes first; the ratio kissfft/FFTW is taken
 * within each repetition and its median reported, with the median time per
 * sample and per spectrum. Both sides' spectra are compared (the run fails
 * if they differ by more than float rounding).
 *
 * Usage: bench_stft [samples_per_run] [reps]   (defaults 2000000 and 7)
 */
#include "stft.h"
#include "now.h"

#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int n, hop, pos, until;
    float *history, *window, *in, *power;
    fftwf_complex *out;
    fftwf_plan plan;
    float scale_edge, scale_inner;
} ref_stft_t;

static void ref_init(ref_stft_t *r, int n, int hop)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    r->hop = hop;
    r->history = fftwf_malloc(2 * (size_t)n * sizeof(float));
    r->window = fftwf_malloc((size_t)n * sizeof(float));
    r->in = fftwf_malloc((size_t)n * sizeof(float));
    r->power = fftwf_malloc((size_t)(n / 2 + 1) * sizeof(float));
    r->out = fftwf_malloc((size_t)(n / 2 + 1) * sizeof(fftwf_complex));
    r->plan = fftwf_plan_dft_r2c_1d(n, r->in, r->out, FFTW_MEASURE);
    double sum_sq = 0;
    for (int i = 0; i < n; i++) {
        double w = 0.5 - 0.5 * cos(2.0 * M_PI * i / n);
        r->window[i] = (float)w;
        sum_sq += w * w;
    }
    r->scale_edge = (float)(1.0 / (n * sum_sq));
    r->scale_inner = (float)(2.0 / (n * sum_sq));
    memset(r->history, 0, 2 * (size_t)n * sizeof(float));
    r->until = n;
}

static void ref_free(ref_stft_t *r)
{
    fftwf_destroy_plan(r->plan);
    fftwf_free(r->history);
    fftwf_free(r->window);
    fftwf_free(r->in);
    fftwf_free(r->power);
    fftwf_free(r->out);
}

static int ref_push(ref_stft_t *r, float x)
{
    r->history[r->pos] = x;
    r->history[r->pos + r->n] = x;
    r->pos = (r->pos + 1) & (r->n - 1);
    if (--r->until > 0)
        return 0;
    const float *h = r->history + r->pos;
    for (int i = 0; i < r->n; i++)
        r->in[i] = h[i] * r->window[i];
    fftwf_execute(r->plan);
    int last = r->n / 2;
    for (int k = 0; k <= last; k++) {
        float p = r->out[k][0] * r->out[k][0] + r->out[k][1] * r->out[k][1];
        r->power[k] = p * (k == 0 || k == last ? r->scale_edge : r->scale_inner);
    }
    r->until = r->hop;
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static volatile float sink;

int main(int argc, char **argv)
{
    long samples = argc > 1 ? atol(argv[1]) : 2000000;
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    if (samples < 4096 || reps < 1 || reps > 64) {
        fprintf(stderr, "usage: %s [samples_per_run >= 4096] [reps 1..64]\n", argv[0]);
        return 2;
    }
    /* A pressure-like signal: a slow swell, a 25 Hz tremor and noise. */
    float *x = malloc((size_t)samples * sizeof(float));
    unsigned seed = 1;
    for (long i = 0; i < samples; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)(101325.0 + 500.0 * sin(i * 0.001) + 20.0 * sin(i * 2 * M_PI * 0.025) +
                       ((seed >> 16) & 0xff) * 0.1);
    }
    const int sizes[][2] = {{128, 32}, {256, 64}, {1024, 256}};
    printf("short-time Fourier stage, kissfft (dsp/stft) against FFTW 3 float (FFTW_MEASURE), "
           "Hann window and power, %ld samples x %d repetitions, median:\n",
           samples, reps);
    printf("%-10s %12s %12s %14s %14s %10s\n", "n_fft/hop", "kiss ns/smp", "fftw ns/smp",
           "kiss us/frame", "fftw us/frame", "kiss/fftw");
    int fail = 0;
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        int n = sizes[z][0], hop = sizes[z][1];
        stft_settings_t set = {.fs_hz = 1000.0, .n_fft = n, .hop = hop, .window = STFT_WINDOW_HANN};
        stft_t s;
        ref_stft_t r;
        if (stft_alloc(&s, &set) != 0)
            return 1;
        ref_init(&r, n, hop);
        double tk[64], tf[64], ratio[64];
        long frames = 0;
        for (int rep = 0; rep < reps; rep++) {
            for (int side = 0; side < 2; side++) {
                bool kiss = (side + rep) % 2 == 0;
                double t0 = now_thread_cpu();
                long f = 0;
                if (kiss) {
                    stft_reset(&s);
                    for (long i = 0; i < samples; i++)
                        if (stft_push(&s, x[i])) {
                            f++;
                            sink = stft_power(&s)[1];
                        }
                    tk[rep] = now_thread_cpu() - t0;
                } else {
                    memset(r.history, 0, 2 * (size_t)n * sizeof(float));
                    r.pos = 0;
                    r.until = n;
                    for (long i = 0; i < samples; i++)
                        if (ref_push(&r, x[i])) {
                            f++;
                            sink = r.power[1];
                        }
                    tf[rep] = now_thread_cpu() - t0;
                }
                frames = f;
            }
            ratio[rep] = tk[rep] / tf[rep];
        }
        /* Same spectra: the last frame of both, relative to its total power. */
        double total = 0, worst = 0;
        for (int k = 0; k <= n / 2; k++)
            total += r.power[k];
        for (int k = 0; k <= n / 2; k++)
            worst = fmax(worst, fabs(stft_power(&s)[k] - r.power[k]) / total);
        if (worst > 1e-4) {
            fprintf(stderr, "n=%d: spectra differ by %.3g of the total power\n", n, worst);
            fail = 1;
        }
        qsort(tk, (size_t)reps, sizeof(double), cmp_double);
        qsort(tf, (size_t)reps, sizeof(double), cmp_double);
        qsort(ratio, (size_t)reps, sizeof(double), cmp_double);
        double mk = tk[reps / 2], mf = tf[reps / 2];
        char label[16];
        snprintf(label, sizeof label, "%d/%d", n, hop);
        printf("%-10s %12.1f %12.1f %14.2f %14.2f %10.2f%s\n", label, 1e9 * mk / samples,
               1e9 * mf / samples, 1e6 * mk / frames, 1e6 * mf / frames, ratio[reps / 2],
               ratio[reps / 2] <= 2.0 ? "" : "  (target <= 2: NOT met)");
        /* The transforms alone, on the same frame: what the libraries cost
         * without the windowing, history and power around them. */
        long calls = samples / hop;
        double fk[64], ff[64], fr[64];
        for (int rep = 0; rep < reps; rep++) {
            double t0 = now_thread_cpu();
            for (long i = 0; i < calls; i++)
                kiss_fftr(s.fft, s.frame, s.spectrum);
            fk[rep] = now_thread_cpu() - t0;
            t0 = now_thread_cpu();
            for (long i = 0; i < calls; i++)
                fftwf_execute(r.plan);
            ff[rep] = now_thread_cpu() - t0;
            fr[rep] = fk[rep] / ff[rep];
        }
        qsort(fk, (size_t)reps, sizeof(double), cmp_double);
        qsort(ff, (size_t)reps, sizeof(double), cmp_double);
        qsort(fr, (size_t)reps, sizeof(double), cmp_double);
        snprintf(label, sizeof label, "  FFT only");
        printf("%-10s %12s %12s %14.2f %14.2f %10.2f\n", label, "", "", 1e6 * fk[reps / 2] / calls,
               1e6 * ff[reps / 2] / calls, fr[reps / 2]);
        stft_free(&s);
        ref_free(&r);
    }
    free(x);
    return fail;
}
