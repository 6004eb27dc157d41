#include "analysis.h"

#include "ball.h"
#include "scraper.h"

#include <stddef.h>
#include <stdlib.h>

/* One row of operations per device kind, as chrony's refclock drivers: a
 * third tool kind is one more table and one more row in kinds[]. The state
 * pointer is the kind's own detector object. */
typedef struct {
    void *(*create)(float rate_hz);
    void (*destroy)(void *state);
    void (*push)(void *state, const sample_t *s, uint32_t *next_id, event_sink_fn sink, void *ctx);
    void (*gap)(void *state, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
                event_sink_fn sink, void *ctx);
    void (*mark)(void *state, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx);
    void (*finish)(void *state, uint32_t *next_id, event_sink_fn sink, void *ctx);
} analysis_ops_t;

struct analysis {
    const analysis_ops_t *ops;
    void *state;
};

/* ---- massage ball ---- */

/* The detectors and their spectra's memory in one block. */
typedef struct {
    ball_t ball;
    max_align_t mem[];
} ball_block_t;

static void *ball_ops_create(float rate_hz)
{
    size_t len = ball_mem_size(&ball_default, rate_hz);
    if (len == 0)
        return NULL;
    ball_block_t *block = malloc(sizeof *block + len);
    if (block && ball_init(&block->ball, &ball_default, rate_hz, block->mem, len) != 0) {
        free(block);
        return NULL;
    }
    return block;
}

static void ball_ops_destroy(void *state)
{
    free(state);
}

static void ball_ops_push(void *state, const sample_t *s, uint32_t *next_id, event_sink_fn sink,
                          void *ctx)
{
    ball_push(state, s, next_id, sink, ctx);
}

static void ball_ops_gap(void *state, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
                         event_sink_fn sink, void *ctx)
{
    ball_gap(state, t_dev_resume, samples_lost, next_id, sink, ctx);
}

static void ball_ops_mark(void *state, double t_dev, uint32_t *next_id, event_sink_fn sink,
                          void *ctx)
{
    ball_mark(state, t_dev, next_id, sink, ctx);
}

static void ball_ops_finish(void *state, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    ball_finish(state, next_id, sink, ctx);
}

static const analysis_ops_t ball_ops = {
    .create = ball_ops_create,
    .destroy = ball_ops_destroy,
    .push = ball_ops_push,
    .gap = ball_ops_gap,
    .mark = ball_ops_mark,
    .finish = ball_ops_finish,
};

/* ---- gua-sha scraper ---- */

static void *scraper_ops_create(float rate_hz)
{
    return scraper_create(&scraper_default, rate_hz);
}

static void scraper_ops_destroy(void *state)
{
    scraper_t *sc = state;
    scraper_destroy(&sc);
}

static void scraper_ops_push(void *state, const sample_t *s, uint32_t *next_id, event_sink_fn sink,
                             void *ctx)
{
    scraper_push(state, s, next_id, sink, ctx);
}

static void scraper_ops_gap(void *state, double t_dev_resume, uint64_t samples_lost,
                            uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    scraper_gap(state, t_dev_resume, samples_lost, next_id, sink, ctx);
}

static void scraper_ops_mark(void *state, double t_dev, uint32_t *next_id, event_sink_fn sink,
                             void *ctx)
{
    scraper_mark(state, t_dev, next_id, sink, ctx);
}

static void scraper_ops_finish(void *state, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    scraper_finish(state, next_id, sink, ctx);
}

static const analysis_ops_t scraper_ops = {
    .create = scraper_ops_create,
    .destroy = scraper_ops_destroy,
    .push = scraper_ops_push,
    .gap = scraper_ops_gap,
    .mark = scraper_ops_mark,
    .finish = scraper_ops_finish,
};

/* ---- dispatch ---- */

/* The kinds with detectors, indexed by device_kind_t. */
static const analysis_ops_t *const kinds[] = {
    [DEVICE_KIND_BALL] = &ball_ops,
    [DEVICE_KIND_SCRAPER] = &scraper_ops,
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
    analysis_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->ops = ops;
    a->state = ops->create(rate_hz);
    if (!a->state) {
        free(a);
        return NULL;
    }
    return a;
}

void analysis_destroy(analysis_t **a)
{
    if (!a || !*a)
        return;
    (*a)->ops->destroy((*a)->state);
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
