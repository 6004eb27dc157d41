#include "treatment.h"

#include <math.h>
#include <string.h>

#define BALL TREATMENT_KIND_BALL
#define SCRAPER TREATMENT_KIND_SCRAPER

/* Indexed by treatment_figure_t; docs/EVENTS.md defines each one. */
const treatment_figure_def_t treatment_figures[TREATMENT_N_FIGURES] = {
    [TREATMENT_ACTIVE_S] = {"active_s", "s", BALL | SCRAPER, false},
    [TREATMENT_TIME_UNDER_LOAD_S] = {"time_under_load_s", "s", BALL, false},
    [TREATMENT_HOLDS] = {"holds", "", BALL, true},
    [TREATMENT_HOLD_TOTAL_S] = {"hold_total_s", "s", BALL, false},
    [TREATMENT_HOLD_MEAN_S] = {"hold_mean_s", "s", BALL, false},
    [TREATMENT_FLEXES] = {"flexes", "", BALL, true},
    [TREATMENT_FLEXES_PER_HOLD] = {"flexes_per_hold", "", BALL, false},
    [TREATMENT_ROCKS] = {"rocks", "", BALL, true},
    [TREATMENT_ROLLS] = {"rolls", "", BALL, true},
    [TREATMENT_RELEASE_TREND] = {"release_trend", "", BALL, false},
    [TREATMENT_RELEASE_HOLDS] = {"release_holds", "", BALL, true},
    [TREATMENT_STROKES] = {"strokes", "", SCRAPER, true},
    [TREATMENT_STROKES_UP] = {"strokes_up", "", SCRAPER, true},
    [TREATMENT_STROKES_DOWN] = {"strokes_down", "", SCRAPER, true},
    [TREATMENT_STROKES_LEVEL] = {"strokes_level", "", SCRAPER, true},
    [TREATMENT_STROKE_RATE_PER_MIN] = {"stroke_rate_per_min", "1/min", SCRAPER, false},
    [TREATMENT_DIRECTION_CONSISTENCY] = {"direction_consistency", "", SCRAPER, false},
    [TREATMENT_LENGTH_TOTAL_M] = {"length_total_m", "m", SCRAPER, false},
    [TREATMENT_MEAN_FORCE_N] = {"mean_force_n", "N", SCRAPER, false},
    [TREATMENT_PEAK_FORCE_N] = {"peak_force_n", "N", SCRAPER, false},
    [TREATMENT_AREAS] = {"areas", "", SCRAPER, true},
};

const treatment_settings_t treatment_default = {.idle_s = 120.0, .settle_s = 0.0};

static double settle_s(const treatment_t *t)
{
    if (t->settings.settle_s > 0)
        return t->settings.settle_s;
    return t->kind == DEVICE_KIND_BALL ? 2.0 : 3.0;
}

_Static_assert(TREATMENT_N_FIGURES <= 32, "figures are a 32-bit set in the history");

int treatment_figure_index(const char *name)
{
    for (int i = 0; i < TREATMENT_N_FIGURES; i++)
        if (strcmp(treatment_figures[i].name, name) == 0)
            return i;
    return -1;
}

void treatment_init(treatment_t *t, device_kind_t kind, const treatment_settings_t *settings)
{
    /* settings may point into *t (a new session keeps the tracker's). */
    treatment_settings_t keep = settings ? *settings : treatment_default;
    memset(t, 0, sizeof *t);
    t->settings = keep;
    t->kind = kind;
}

void treatment_set_idle(treatment_t *t, double idle_s)
{
    t->settings.idle_s = idle_s;
}

/* The `reason` of a session's end event, indexed by treatment_end_t. */
static const char *const reason_names[] = {
    [TREATMENT_END_IDLE] = "idle",
    [TREATMENT_END_DISCONNECTED] = "disconnected",
    [TREATMENT_END_STOPPED] = "stopped",
    [TREATMENT_END_STUDY] = "study",
};

static bool is(const event_t *e, const char *type, event_phase_t phase)
{
    return e->phase == phase && strcmp(e->type, type) == 0;
}

/* The instant an event shows the device in use, or a negative value when it
 * does not begin activity. */
static double activity_start(const event_t *e)
{
    if (is(e, "roll", EVENT_START) || is(e, "hold", EVENT_START))
        return e->t_dev;
    if (is(e, "stroke", EVENT_END))
        return e->t_start_dev;
    return -1.0;
}

static void begin(treatment_t *t, double t_start, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    treatment_init(t, t->kind, &t->settings);
    t->open = true;
    t->id = (*next_id)++;
    t->t_start = t->t_activity = t_start;
    event_t e;
    memset(&e, 0, sizeof e);
    e.type = "session";
    e.phase = EVENT_START;
    e.t_dev = t_start;
    e.id = t->id;
    sink(&e, ctx);
}

static void activity_until(treatment_t *t, double t_dev)
{
    if (t_dev > t->t_activity)
        t->t_activity = t_dev;
}

static void add_ball(treatment_t *t, const event_t *e)
{
    double duration = e->t_dev - e->t_start_dev;
    if (is(e, "roll", EVENT_START)) {
        t->roll_open = true;
    } else if (is(e, "hold", EVENT_START)) {
        t->hold_open = true;
    } else if (is(e, "roll", EVENT_END)) {
        t->roll_open = false;
        t->rolls++;
        t->active_s += duration;
        activity_until(t, e->t_dev);
    } else if (is(e, "hold", EVENT_END)) {
        t->hold_open = false;
        t->holds++;
        t->hold_s += duration;
        t->active_s += duration;
        t->under_load_s += event_get_field(e, "time_under_load_s");
        double release = event_get_field(e, "release_per_flex");
        if (!isnan(release)) {
            t->release_sum += release;
            t->release_holds++;
        }
        activity_until(t, e->t_dev);
    } else if (is(e, "flex", EVENT_END)) {
        t->flexes++;
    } else if (is(e, "rock", EVENT_END)) {
        t->rocks++;
    }
}

static void add_scraper(treatment_t *t, const event_t *e)
{
    if (is(e, "area", EVENT_END)) {
        t->area_changed = true;
        return;
    }
    if (!is(e, "stroke", EVENT_END))
        return;
    if (t->strokes == 0 || t->area_changed)
        t->areas++;
    t->area_changed = false;
    if (t->strokes == 0)
        t->first_stroke_start = e->t_start_dev;
    t->strokes++;
    t->last_stroke_end = e->t_dev;
    t->active_s += e->t_dev - e->t_start_dev;
    t->length_m += event_get_field(e, "length_m");
    t->force_sum += event_get_field(e, "mean_force_n");
    double peak = event_get_field(e, "peak_force_n");
    if (peak > t->peak_force_n)
        t->peak_force_n = peak;
    const char *direction = e->text_value ? e->text_value : "";
    if (strcmp(direction, "up") == 0)
        t->by_direction[0]++;
    else if (strcmp(direction, "down") == 0)
        t->by_direction[1]++;
    else
        t->by_direction[2]++;
    activity_until(t, e->t_dev);
}

void treatment_event(treatment_t *t, const event_t *event, uint32_t *next_id, event_sink_fn sink,
                     void *ctx)
{
    double start = activity_start(event);
    if (!t->open) {
        if (start < 0.0)
            return;
        begin(t, start, next_id, sink, ctx);
    }
    if (t->kind == DEVICE_KIND_BALL)
        add_ball(t, event);
    else
        add_scraper(t, event);
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0.0;
}

static void figure(event_t *e, treatment_figure_t f, double value)
{
    event_add_field(e, treatment_figures[f].name, value);
}

static void finish(treatment_t *t, double t_end, treatment_end_t reason, uint32_t *next_id,
                   event_sink_fn sink, void *ctx)
{
    (void)next_id; /* the end shares the start's id */
    event_t e;
    memset(&e, 0, sizeof e);
    e.type = "session";
    e.phase = EVENT_END;
    e.t_start_dev = t->t_start;
    e.t_dev = t_end > t->t_start ? t_end : t->t_start;
    e.id = t->id;
    figure(&e, TREATMENT_ACTIVE_S, t->active_s);
    if (t->kind == DEVICE_KIND_BALL) {
        figure(&e, TREATMENT_TIME_UNDER_LOAD_S, t->under_load_s);
        figure(&e, TREATMENT_HOLDS, t->holds);
        figure(&e, TREATMENT_HOLD_TOTAL_S, t->hold_s);
        figure(&e, TREATMENT_HOLD_MEAN_S, ratio(t->hold_s, t->holds));
        figure(&e, TREATMENT_FLEXES, t->flexes);
        figure(&e, TREATMENT_FLEXES_PER_HOLD, ratio(t->flexes, t->holds));
        figure(&e, TREATMENT_ROCKS, t->rocks);
        figure(&e, TREATMENT_ROLLS, t->rolls);
        figure(&e, TREATMENT_RELEASE_HOLDS, t->release_holds);
        /* Absent, not zero, when no hold had the two flexes a trend needs. */
        if (t->release_holds > 0)
            figure(&e, TREATMENT_RELEASE_TREND, t->release_sum / t->release_holds);
    } else {
        unsigned major = 0;
        for (unsigned k = 1; k < 3; k++)
            if (t->by_direction[k] > t->by_direction[major])
                major = k;
        double span = t->last_stroke_end - t->first_stroke_start;
        figure(&e, TREATMENT_STROKES, t->strokes);
        figure(&e, TREATMENT_STROKES_UP, t->by_direction[0]);
        figure(&e, TREATMENT_STROKES_DOWN, t->by_direction[1]);
        figure(&e, TREATMENT_STROKES_LEVEL, t->by_direction[2]);
        figure(&e, TREATMENT_STROKE_RATE_PER_MIN,
               t->strokes >= 2 && span > 0 ? 60.0 * t->strokes / span : 0.0);
        figure(&e, TREATMENT_DIRECTION_CONSISTENCY, ratio(t->by_direction[major], t->strokes));
        figure(&e, TREATMENT_LENGTH_TOTAL_M, t->length_m);
        figure(&e, TREATMENT_MEAN_FORCE_N, ratio(t->force_sum, t->strokes));
        figure(&e, TREATMENT_PEAK_FORCE_N, t->peak_force_n);
        figure(&e, TREATMENT_AREAS, t->areas);
    }
    e.text_name = "reason";
    e.text_value = reason_names[reason];
    t->open = false;
    t->roll_open = t->hold_open = false;
    sink(&e, ctx);
}

void treatment_tick(treatment_t *t, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx)
{
    if (t->open && !t->roll_open && !t->hold_open &&
        t_dev - t->t_activity >= t->settings.idle_s + settle_s(t))
        finish(t, t->t_activity, TREATMENT_END_IDLE, next_id, sink, ctx);
}

void treatment_end(treatment_t *t, double t_dev, treatment_end_t reason, uint32_t *next_id,
                   event_sink_fn sink, void *ctx)
{
    if (!t->open)
        return;
    double t_end = t->roll_open || t->hold_open ? t_dev : t->t_activity;
    finish(t, t_end, reason, next_id, sink, ctx);
}
