/* stft: short-time Fourier transform of a sample stream on kissfft's real
 * FFT, producing one-sided power spectra at a fixed hop.
 *
 * Scaling. For a frame x[0..N-1], window w and X = FFT(w x), the power of
 * bin k is
 *     P[k] = c_k |X[k]|^2 / (N * sum w^2),   c_0 = c_{N/2} = 1, else c_k = 2,
 * so that sum_k P[k] = sum (w x)^2 / sum w^2: the window-weighted mean
 * square of the frame (Parseval). P is in the input's units squared
 * (pascal^2 for pressure); white noise of variance s^2 gives E[sum P] = s^2,
 * a sine of amplitude A gives A^2/2 summed over its main lobe (A^2/3 in its
 * centre bin and A^2/12 in each neighbour with the Hann window), and
 * P[k] / bin_hz is a one-sided power spectral density.
 *
 * Memory. Everything is placed in one block given at start-up (stft_init)
 * or allocated once (stft_alloc); pushing samples never allocates. A
 * stft_t belongs to one thread.
 */
#ifndef MASSAGED_STFT_H
#define MASSAGED_STFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kiss_fftr.h>

typedef enum {
    STFT_WINDOW_HANN,    /* periodic Hann: 0.5 - 0.5 cos(2 pi n / N) */
    STFT_WINDOW_HAMMING, /* periodic Hamming: 0.54 - 0.46 cos(2 pi n / N) */
    STFT_WINDOW_RECT,    /* no window (for tests and exact-bin signals) */
} stft_window_t;

typedef struct {
    double fs_hz;         /* sampling rate, hertz, > 0 */
    int n_fft;            /* frame length, a power of two, 16..65536 */
    int hop;              /* samples between frames, 1..n_fft */
    stft_window_t window; /* taper applied to each frame */
} stft_settings_t;

/* 1 kHz, 256-point frames (3.9 Hz bins, 256 ms), hop 64 (75 % overlap), Hann. */
extern const stft_settings_t stft_default;

typedef struct {
    /* Read-only for the caller. */
    int n_fft;
    int n_bins; /* n_fft / 2 + 1 */
    int hop;
    double fs_hz;
    double bin_hz;    /* fs_hz / n_fft */
    uint64_t samples; /* samples pushed since init or reset */
    uint64_t frames;  /* spectra computed since init or reset */

    /* Private. */
    int pos;                /* next write index in history, 0..n_fft-1 */
    int until_frame;        /* samples still needed before the next frame */
    float *history;         /* 2 n_fft: each sample is stored at pos and pos + n_fft */
    float *window;          /* n_fft */
    float *frame;           /* n_fft, windowed copy handed to the FFT */
    kiss_fft_cpx *spectrum; /* n_bins */
    float *power;           /* n_bins, the latest spectrum */
    kiss_fftr_cfg fft;
    float scale_edge;  /* 1 / (N sum w^2): DC and Nyquist */
    float scale_inner; /* 2 / (N sum w^2) */
    void *owned;       /* memory from stft_alloc, else NULL */
} stft_t;

/* Bytes stft_init needs for these settings, or 0 if the settings are
 * invalid. */
size_t stft_mem_size(const stft_settings_t *set);

/* Sets up s in the caller's block mem of mem_len bytes (any alignment; the
 * block must outlive s and not be shared). Precomputes the window, scaling
 * and FFT twiddles. Returns 0, -EINVAL for bad settings, or -ENOMEM if
 * mem_len < stft_mem_size(set). */
int stft_init(stft_t *s, const stft_settings_t *set, void *mem, size_t mem_len);

/* Like stft_init with memory allocated here, once; release with stft_free.
 * Returns 0, -EINVAL or -ENOMEM. */
int stft_alloc(stft_t *s, const stft_settings_t *set);

/* Releases memory from stft_alloc (no-op for stft_init memory); s must be
 * set up again before further use. */
void stft_free(stft_t *s);

/* Forgets all pushed samples; the next frame comes after n_fft samples. */
void stft_reset(stft_t *s);

/* Pushes one sample. Returns true when it completed a frame, whose power
 * spectrum stft_power now returns: the first after n_fft samples, then
 * every hop samples. */
bool stft_push(stft_t *s, float x);

/* Pushes one sample like stft_push, but only says that a frame is due: the
 * caller then either calls stft_compute before the next push, or skips the
 * frame when it will not read its power (the FFT is most of the cost of a
 * frame). A skipped frame leaves stft_power as it was and is not counted in
 * frames. */
bool stft_push_due(stft_t *s, float x);

/* Computes the power spectrum of the last n_fft samples pushed (the frame
 * stft_push_due just announced). */
void stft_compute(stft_t *s);

/* Pushes up to n samples from x, stopping right after the sample that
 * completes a frame. Returns how many were consumed and sets *frame_ready.
 * Loop until all are consumed to see every frame:
 *     for (size_t i = 0; i < n;) { bool r; i += stft_push_block(s, x + i, n - i, &r); ... } */
size_t stft_push_block(stft_t *s, const float *x, size_t n, bool *frame_ready);

/* The latest power spectrum, n_bins values (see the scaling above); all
 * zero before the first frame. Valid until the next frame is computed. */
static inline const float *stft_power(const stft_t *s)
{
    return s->power;
}

/* Centre frequency of bin k in hertz. */
static inline double stft_bin_freq(const stft_t *s, int k)
{
    return k * s->bin_hz;
}

#endif
