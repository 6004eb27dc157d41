#include "analysis.h"

#include "ball.h"
#include "scraper.h"

#include <stddef.h>
#include <stdlib.h>

/* One row of operations per device kind, as chrony's refclock drivers: a
 * third tool kind is one DETECTOR_OPS line and one more row in kinds[]. The
 * state is the kind's own detector object, placed at the start of the
 * analysis's one block and followed by the detector's caller memory. */
typedef struct {
    size_t state_size;                 /* bytes of the detector object */
    size_t (*mem_size)(float rate_hz); /* its caller memory; 0 for a bad rate */
    int (*init)(void *state, float rate_hz, void *mem, size_t len);
    void (*push)(void *state, const sample_t *s, uint32_t *next_id, event_sink_fn sink, void *ctx);
    void (*gap)(void *state, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
                event_sink_fn sink, void *ctx);
    void (*mark)(void *state, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx);
    void (*finish)(void *state, uint32_t *next_id, event_sink_fn sink, void *ctx);
} analysis_ops_t;

/* The row of a detector K of the shared shape (dsp/ball.h, dsp/scraper.h):
 * K_mem_size and K_init into caller memory with the settings K_default,
 * then K_push, K_gap, K_mark and K_finish on a K_t. Only the state's type
 * differs from kind to kind, so the adapters from the table's untyped state
 * are written here once. */
#define DETECTOR_OPS(K)                                                                            \
    static size_t K##_ops_mem_size(float rate_hz)                                                  \
    {                                                                                              \
        return K##_mem_size(&K##_default, rate_hz);                                                \
    }                                                                                              \
    static int K##_ops_init(void *state, float rate_hz, void *mem, size_t len)                     \
    {                                                                                              \
        return K##_init(state, &K##_default, rate_hz, mem, len);                                   \
    }                                                                                              \
    __attribute__((hot)) static void K##_ops_push(                                                 \
        void *state, const sample_t *s, uint32_t *next_id, event_sink_fn sink, void *ctx)          \
    {                                                                                              \
        K##_push(state, s, next_id, sink, ctx);                                                    \
    }                                                                                              \
    static void K##_ops_gap(void *state, double t_dev_resume, uint64_t samples_lost,               \
                            uint32_t *next_id, event_sink_fn sink, void *ctx)                      \
    {                                                                                              \
        K##_gap(state, t_dev_resume, samples_lost, next_id, sink, ctx);                            \
    }                                                                                              \
    static void K##_ops_mark(void *state, double t_dev, uint32_t *next_id, event_sink_fn sink,     \
                             void *ctx)                                                            \
    {                                                                                              \
        K##_mark(state, t_dev, next_id, sink, ctx);                                                \
    }                                                                                              \
    static void K##_ops_finish(void *state, uint32_t *next_id, event_sink_fn sink, void *ctx)      \
    {                                                                                              \
        K##_finish(state, next_id, sink, ctx);                                                     \
    }                                                                                              \
    static const analysis_ops_t K##_ops = {                                                        \
        .state_size = sizeof(K##_t),                                                               \
        .mem_size = K##_ops_mem_size,                                                              \
        .init = K##_ops_init,                                                                      \
        .push = K##_ops_push,                                                                      \
        .gap = K##_ops_gap,                                                                        \
        .mark = K##_ops_mark,                                                                      \
        .finish = K##_ops_finish,                                                                  \
    }

DETECTOR_OPS(ball);    /* massage ball */
DETECTOR_OPS(scraper); /* gua-sha scraper */

/* The kinds with detectors, indexed by device_kind_t. */
static const analysis_ops_t *const kinds[] = {
    [DEVICE_KIND_BALL] = &ball_ops,
    [DEVICE_KIND_SCRAPER] = &scraper_ops,
};

struct analysis {
    const analysis_ops_t *ops;
    max_align_t state[]; /* the detector object, then its caller memory */
};

static const analysis_ops_t *ops_of(device_kind_t kind)
{
    if ((unsigned)kind >= sizeof kinds / sizeof kinds[0])
        return NULL;
    return kinds[kind];
}

analysis_t *analysis_create(device_kind_t kind, float rate_hz)
{
    const analysis_ops_t *ops = ops_of(kind);
    if (!ops)
        return NULL;
    size_t len = ops->mem_size(rate_hz);
    if (len == 0)
        return NULL;
    /* The detector's memory starts at the first max_align_t after it. */
    size_t state_len =
        (ops->state_size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    analysis_t *a = malloc(sizeof *a + state_len + len);
    if (a) {
        a->ops = ops;
        if (ops->init(a->state, rate_hz, (unsigned char *)a->state + state_len, len) != 0) {
            free(a);
            a = NULL;
        }
    }
    return a;
}

void analysis_destroy(analysis_t **a)
{
    if (!a || !*a)
        return;
    free(*a);
    *a = NULL;
}

void analysis_push(analysis_t *a, const sample_t *s, uint32_t *next_id, event_sink_fn sink,
                   void *ctx)
{
    a->ops->push(a->state, s, next_id, sink, ctx);
}

void analysis_gap(analysis_t *a, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
                  event_sink_fn sink, void *ctx)
{
    a->ops->gap(a->state, t_dev_resume, samples_lost, next_id, sink, ctx);
}

void analysis_mark(analysis_t *a, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    a->ops->mark(a->state, t_dev, next_id, sink, ctx);
}

void analysis_finish(analysis_t *a, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    a->ops->finish(a->state, next_id, sink, ctx);
}
