#include "analysis.h"

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
    default:
        return NULL;
    }
}

void analysis_destroy(analysis_t **a)
{
    if (!a || !*a)
        return;
    switch ((*a)->kind) {
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
    default:
        (void)s, (void)next_id, (void)sink, (void)ctx;
        break;
    }
}

void analysis_gap(analysis_t *a, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
                  event_sink_fn sink, void *ctx)
{
    switch (a->kind) {
    default:
        (void)t_dev_resume, (void)samples_lost, (void)next_id, (void)sink, (void)ctx;
        break;
    }
}

void analysis_mark(analysis_t *a, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    switch (a->kind) {
    default:
        (void)t_dev, (void)next_id, (void)sink, (void)ctx;
        break;
    }
}

void analysis_finish(analysis_t *a, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    switch (a->kind) {
    default:
        (void)next_id, (void)sink, (void)ctx;
        break;
    }
}
