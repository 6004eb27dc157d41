#include "scraper.h"

#include <string.h>

const scraper_settings_t scraper_default = {
    .stroke = STROKE_SETTINGS_DEFAULT,
};

size_t scraper_mem_size(const scraper_settings_t *s, float rate_hz)
{
    return stroke_mem_size(&s->stroke, rate_hz);
}

int scraper_init(scraper_t *sc, const scraper_settings_t *s, float rate_hz, void *mem, size_t len)
{
    memset(sc, 0, sizeof *sc);
    return stroke_init(&sc->stroke, &s->stroke, rate_hz, mem, len);
}

__attribute__((cold))
static void publish_stroke(scraper_t *sc, const stroke_result_t *r, uint32_t *next_id,
                           event_sink_fn sink, void *ctx)
{
    event_t e;
    memset(&e, 0, sizeof e);
    e.type = "stroke";
    e.phase = EVENT_END;
    e.t_dev = r->t_end_dev;
    e.t_start_dev = r->t_start_dev;
    e.id = (*next_id)++;
    event_add_field(&e, "length_m", r->length_m);
    event_add_field(&e, "peak_force_n", r->peak_force_n);
    event_add_field(&e, "mean_force_n", r->mean_force_n);
    event_add_field(&e, "mean_speed_mps", r->mean_speed_mps);
    e.text_name = "direction";
    e.text_value = stroke_direction_name(r->direction);
    sink(&e, ctx);

    scraper_area_t *a = &sc->area;
    if (a->strokes == 0)
        a->first_start = r->t_start_dev;
    a->strokes++;
    a->by_dir[r->direction]++;
    a->last_end = r->t_end_dev;
    a->force_sum += r->mean_force_n;
    a->length_sum += r->length_m;
}

__attribute__((cold))
static void publish_area(scraper_t *sc, double t_end, uint32_t *next_id, event_sink_fn sink,
                         void *ctx)
{
    scraper_area_t *a = &sc->area;
    event_t e;
    memset(&e, 0, sizeof e);
    e.type = "area";
    e.phase = EVENT_END;
    e.t_dev = t_end;
    e.t_start_dev = a->have_start ? a->t_start : t_end;
    e.id = (*next_id)++;
    int major = STROKE_UP;
    for (int k = 0; k < 3; k++)
        if (a->by_dir[k] > a->by_dir[major])
            major = k;
    double span = a->last_end - a->first_start;
    double n = a->strokes;
    event_add_field(&e, "strokes", n);
    event_add_field(&e, "stroke_rate_per_min", a->strokes >= 2 && span > 0 ? 60.0 * n / span : 0);
    event_add_field(&e, "direction_consistency", n > 0 ? a->by_dir[major] / n : 0.0);
    event_add_field(&e, "mean_force_n", n > 0 ? a->force_sum / n : 0.0);
    event_add_field(&e, "mean_length_m", n > 0 ? a->length_sum / n : 0.0);
    event_add_field(&e, "strokes_up", a->by_dir[STROKE_UP]);
    event_add_field(&e, "strokes_down", a->by_dir[STROKE_DOWN]);
    event_add_field(&e, "strokes_level", a->by_dir[STROKE_LEVEL]);
    e.text_name = "direction";
    e.text_value = n > 0 ? stroke_direction_name((stroke_direction_t)major) : "none";
    sink(&e, ctx);
    memset(a, 0, sizeof *a);
    a->t_start = t_end;
    a->have_start = true;
}

void scraper_push(scraper_t *sc, const sample_t *s, uint32_t *next_id, event_sink_fn sink,
                  void *ctx)
{
    if (!sc->area.have_start) {
        sc->area.t_start = s->t_dev;
        sc->area.have_start = true;
    }
    sc->last_t = s->t_dev;
    stroke_result_t r[2];
    int n = stroke_push(&sc->stroke, s, r);
    for (int i = 0; i < n; i++)
        publish_stroke(sc, &r[i], next_id, sink, ctx);
}

void scraper_gap(scraper_t *sc, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
                 event_sink_fn sink, void *ctx)
{
    /* A short loss is bridged (SAMPLE_BRIDGE_MAX_S): the stroke under way
     * carries on. After a longer one nothing is published: the open stroke
     * is dropped. */
    (void)t_dev_resume, (void)next_id, (void)sink, (void)ctx;
    if (!sample_loss_bridged(samples_lost, sc->stroke.dt))
        stroke_gap(&sc->stroke);
}

void scraper_mark(scraper_t *sc, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    publish_area(sc, t_dev, next_id, sink, ctx);
    stroke_new_area(&sc->stroke);
}

void scraper_finish(scraper_t *sc, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    stroke_result_t r;
    if (stroke_finish(&sc->stroke, &r) == 1)
        publish_stroke(sc, &r, next_id, sink, ctx);
    if (sc->area.strokes > 0)
        publish_area(sc, sc->last_t, next_id, sink, ctx);
}
