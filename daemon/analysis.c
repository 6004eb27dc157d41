#include "analysis.h"

#include "ball.h"
#include "scraper.h"

#include <stdlib.h>

/* Each kind's detectors plug in here: one create/destroy/push/gap/mark/finish
 * set per kind. */
struct analysis {
    device_kind_t kind;
    void *state;
};

analysis_t *analysis_create(device_kind_t kind, float rate_hz)
{
    (void)rate_hz;
    switch (kind) {
    case DEVICE_KIND_BALL: {
        analysis_t *a = calloc(1, sizeof *a);
        ball_t *ball = ball_create(&ball_default, rate_hz);
        if (!a || !ball) {
            free(a);
            ball_destroy(&ball);
            return NULL;
        }
        a->kind = kind;
        a->state = ball;
        return a;
    }
    case DEVICE_KIND_SCRAPER: {
        analysis_t *a = calloc(1, sizeof *a);
        scraper_t *sc = scraper_create(&scraper_default, rate_hz);
        if (!a || !sc) {
            free(a);
            scraper_destroy(&sc);
            return NULL;
        }
        a->kind = kind;
        a->state = sc;
        return a;
    }
    default:
        return NULL;
    }
}

void analysis_destroy(analysis_t **a)
{
    if (!a || !*a)
        return;
    switch ((*a)->kind) {
    case DEVICE_KIND_BALL: {
        ball_t *ball = (*a)->state;
        ball_destroy(&ball);
        break;
    }
    case DEVICE_KIND_SCRAPER: {
        scraper_t *sc = (*a)->state;
        scraper_destroy(&sc);
        break;
    }
    default:
        break;
    }
    free(*a);
    *a = NULL;
}

void analysis_push(analysis_t *a, const sample_t *s, uint32_t *next_id, event_sink_fn sink,
                   void *ctx)
{
    switch (a->kind) {
    case DEVICE_KIND_BALL:
        ball_push(a->state, s, next_id, sink, ctx);
        break;
    case DEVICE_KIND_SCRAPER:
        scraper_push(a->state, s, next_id, sink, ctx);
        break;
    default:
        (void)s, (void)next_id, (void)sink, (void)ctx;
        break;
    }
}

void analysis_gap(analysis_t *a, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
                  event_sink_fn sink, void *ctx)
{
    switch (a->kind) {
    case DEVICE_KIND_BALL:
        ball_gap(a->state, t_dev_resume, samples_lost, next_id, sink, ctx);
        break;
    case DEVICE_KIND_SCRAPER:
        scraper_gap(a->state, t_dev_resume, samples_lost, next_id, sink, ctx);
        break;
    default:
        (void)t_dev_resume, (void)samples_lost, (void)next_id, (void)sink, (void)ctx;
        break;
    }
}

void analysis_mark(analysis_t *a, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    switch (a->kind) {
    case DEVICE_KIND_BALL:
        ball_mark(a->state, t_dev, next_id, sink, ctx);
        break;
    case DEVICE_KIND_SCRAPER:
        scraper_mark(a->state, t_dev, next_id, sink, ctx);
        break;
    default:
        (void)t_dev, (void)next_id, (void)sink, (void)ctx;
        break;
    }
}

void analysis_finish(analysis_t *a, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    switch (a->kind) {
    case DEVICE_KIND_BALL:
        ball_finish(a->state, next_id, sink, ctx);
        break;
    case DEVICE_KIND_SCRAPER:
        scraper_finish(a->state, next_id, sink, ctx);
        break;
    default:
        (void)next_id, (void)sink, (void)ctx;
        break;
    }
}
