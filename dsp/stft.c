#include "stft.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const stft_settings_t stft_default = {
    .fs_hz = 1000.0,
    .n_fft = 256,
    .hop = 64,
    .window = STFT_WINDOW_HANN,
};

/* Every piece of the block is aligned for any scalar or pointer type. */
#define STFT_ALIGN 16

static size_t align_up(size_t n)
{
    return (n + STFT_ALIGN - 1) & ~(size_t)(STFT_ALIGN - 1);
}

static bool settings_valid(const stft_settings_t *set)
{
    int n = set->n_fft;
    return set->fs_hz > 0.0 && n >= 16 && n <= 65536 && (n & (n - 1)) == 0 && set->hop >= 1 &&
           set->hop <= n &&
           (set->window == STFT_WINDOW_HANN || set->window == STFT_WINDOW_HAMMING ||
            set->window == STFT_WINDOW_RECT);
}

static size_t fft_mem_size(int n_fft)
{
    size_t len = 0;
    kiss_fftr_alloc(n_fft, 0, NULL, &len);
    return len;
}

size_t stft_mem_size(const stft_settings_t *set)
{
    if (!settings_valid(set))
        return 0;
    size_t n = (size_t)set->n_fft, bins = n / 2 + 1;
    return STFT_ALIGN /* slack to align the start */ + align_up(2 * n * sizeof(float)) +
           2 * align_up(n * sizeof(float)) + align_up(bins * sizeof(kiss_fft_cpx)) +
           align_up(bins * sizeof(float)) + align_up(fft_mem_size(set->n_fft));
}

static void *carve(unsigned char **cursor, size_t bytes)
{
    void *p = *cursor;
    *cursor += align_up(bytes);
    return p;
}

int stft_init(stft_t *s, const stft_settings_t *set, void *mem, size_t mem_len)
{
    size_t need = stft_mem_size(set);
    if (need == 0)
        return -EINVAL;
    if (!mem || mem_len < need)
        return -ENOMEM;

    size_t n = (size_t)set->n_fft, bins = n / 2 + 1;
    unsigned char *cursor =
        (unsigned char *)(((uintptr_t)mem + STFT_ALIGN - 1) & ~(uintptr_t)(STFT_ALIGN - 1));
    memset(s, 0, sizeof *s);
    s->n_fft = set->n_fft;
    s->n_bins = (int)bins;
    s->hop = set->hop;
    s->fs_hz = set->fs_hz;
    s->bin_hz = set->fs_hz / set->n_fft;
    s->history = carve(&cursor, 2 * n * sizeof(float));
    s->window = carve(&cursor, n * sizeof(float));
    s->frame = carve(&cursor, n * sizeof(float));
    s->spectrum = carve(&cursor, bins * sizeof(kiss_fft_cpx));
    s->power = carve(&cursor, bins * sizeof(float));
    size_t fft_len = fft_mem_size(set->n_fft);
    s->fft = kiss_fftr_alloc(set->n_fft, 0, carve(&cursor, fft_len), &fft_len);
    if (!s->fft)
        return -ENOMEM;

    /* Periodic windows (denominator N, not N-1) so overlapped frames at
     * hop N/2 or N/4 sum to a constant, as spectral averaging assumes. */
    double sum_sq = 0.0;
    for (size_t i = 0; i < n; i++) {
        double c = cos(2.0 * M_PI * (double)i / (double)n);
        double w = set->window == STFT_WINDOW_HANN      ? 0.5 - 0.5 * c
                   : set->window == STFT_WINDOW_HAMMING ? 0.54 - 0.46 * c
                                                        : 1.0;
        s->window[i] = (float)w;
        sum_sq += w * w;
    }
    s->scale_edge = (float)(1.0 / ((double)n * sum_sq));
    s->scale_inner = (float)(2.0 / ((double)n * sum_sq));
    stft_reset(s);
    return 0;
}

int stft_alloc(stft_t *s, const stft_settings_t *set)
{
    size_t need = stft_mem_size(set);
    if (need == 0)
        return -EINVAL;
    void *mem = malloc(need);
    if (!mem)
        return -ENOMEM;
    int rc = stft_init(s, set, mem, need);
    if (rc < 0) {
        free(mem);
        return rc;
    }
    s->owned = mem;
    return 0;
}

void stft_free(stft_t *s)
{
    free(s->owned);
    memset(s, 0, sizeof *s);
}

void stft_reset(stft_t *s)
{
    memset(s->history, 0, 2 * (size_t)s->n_fft * sizeof(float));
    memset(s->power, 0, (size_t)s->n_bins * sizeof(float));
    s->pos = 0;
    s->until_frame = s->n_fft;
    s->samples = 0;
    s->frames = 0;
}

void stft_compute(stft_t *s)
{
    /* history[pos .. pos + n) is the last n samples in order, thanks to the
     * mirrored copy: no wrap-around in this loop. */
    const float *h = s->history + s->pos;
    int n = s->n_fft;
    for (int i = 0; i < n; i++)
        s->frame[i] = h[i] * s->window[i];
    kiss_fftr(s->fft, s->frame, s->spectrum);
    const kiss_fft_cpx *X = s->spectrum;
    int last = s->n_bins - 1;
    s->power[0] = (X[0].r * X[0].r + X[0].i * X[0].i) * s->scale_edge;
    for (int k = 1; k < last; k++)
        s->power[k] = (X[k].r * X[k].r + X[k].i * X[k].i) * s->scale_inner;
    s->power[last] = (X[last].r * X[last].r + X[last].i * X[last].i) * s->scale_edge;
    s->frames++;
}

__attribute__((hot)) bool stft_push_due(stft_t *s, float x)
{
    s->history[s->pos] = x;
    s->history[s->pos + s->n_fft] = x;
    s->pos = (s->pos + 1) & (s->n_fft - 1);
    s->samples++;
    if (--s->until_frame > 0)
        return false;
    s->until_frame = s->hop;
    return true;
}

bool stft_push(stft_t *s, float x)
{
    if (!stft_push_due(s, x))
        return false;
    stft_compute(s);
    return true;
}

size_t stft_push_block(stft_t *s, const float *x, size_t n, bool *frame_ready)
{
    size_t used = 0;
    *frame_ready = false;
    while (used < n) {
        /* Copy the longest run that neither wraps the history nor passes
         * the next frame. */
        size_t run = n - used;
        if (run > (size_t)s->until_frame)
            run = (size_t)s->until_frame;
        if (run > (size_t)(s->n_fft - s->pos))
            run = (size_t)(s->n_fft - s->pos);
        memcpy(s->history + s->pos, x + used, run * sizeof(float));
        memcpy(s->history + s->pos + s->n_fft, x + used, run * sizeof(float));
        s->pos = (s->pos + (int)run) & (s->n_fft - 1);
        s->samples += run;
        s->until_frame -= (int)run;
        used += run;
        if (s->until_frame == 0) {
            s->until_frame = s->hop;
            stft_compute(s);
            *frame_ready = true;
            break;
        }
    }
    return used;
}
