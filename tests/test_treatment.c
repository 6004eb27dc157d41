/* treatment: sessions made from hand-written event sequences. Each case
 * says what the tracker must publish: the `start` before the activity that
 * began it, the summary figures, the idle ending on device time (after the
 * settle time), and the endings its owner asks for. */
#include "check.h"
#include "treatment.h"

#include <math.h>
#include <string.h>

typedef struct {
    int n;
    event_t events[16];
} captured_t;

static void capture(const event_t *e, void *ctx)
{
    captured_t *c = ctx;
    if (c->n < 16)
        c->events[c->n++] = *e;
}

static event_t interval(const char *type, event_phase_t phase, double t_start, double t_end)
{
    event_t e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.phase = phase;
    e.t_dev = phase == EVENT_START ? t_start : t_end;
    e.t_start_dev = t_start;
    return e;
}

static double figure(const event_t *e, treatment_figure_t f)
{
    return event_get_field(e, treatment_figures[f].name);
}

static void feed(treatment_t *t, const event_t *e, uint32_t *id, captured_t *out)
{
    treatment_event(t, e, id, capture, out);
    capture(e, out); /* what the chain publishes after the tracker saw it */
}

static void test_ball_session(void)
{
    treatment_t t;
    treatment_init(&t, DEVICE_KIND_BALL, &(treatment_settings_t){.idle_s = 10.0});
    captured_t out = {0};
    uint32_t id = 100;
    /* a mark before any activity begins nothing */
    event_t mark = interval("mark", EVENT_INSTANT, 0.5, 0.5);
    feed(&t, &mark, &id, &out);
    CHECK(!t.open);
    event_t roll = interval("roll", EVENT_START, 1.0, 0.0);
    feed(&t, &roll, &id, &out);
    CHECK_EQ_INT(out.n, 3);
    CHECK_STR(out.events[1].type, "session");
    CHECK_EQ_INT(out.events[1].phase, EVENT_START);
    CHECK_NEAR(out.events[1].t_dev, 1.0, 1e-12);
    uint32_t session_id = out.events[1].id;
    roll = interval("roll", EVENT_END, 1.0, 4.0);
    feed(&t, &roll, &id, &out);
    event_t hold = interval("hold", EVENT_START, 4.5, 0.0);
    feed(&t, &hold, &id, &out);
    /* an idle gap while a hold is open ends nothing */
    treatment_tick(&t, 40.0, &id, capture, &out);
    CHECK(t.open);
    event_t flex = interval("flex", EVENT_END, 10.0, 12.0);
    feed(&t, &flex, &id, &out);
    feed(&t, &flex, &id, &out);
    event_t rock = interval("rock", EVENT_END, 14.0, 16.0);
    feed(&t, &rock, &id, &out);
    hold = interval("hold", EVENT_END, 4.5, 44.5);
    event_add_field(&hold, "time_under_load_s", 39.0);
    event_add_field(&hold, "release_per_flex", 0.04);
    feed(&t, &hold, &id, &out);
    hold = interval("hold", EVENT_START, 50.0, 0.0);
    feed(&t, &hold, &id, &out);
    hold = interval("hold", EVENT_END, 50.0, 60.0);
    event_add_field(&hold, "time_under_load_s", 9.0);
    feed(&t, &hold, &id, &out);
    int before = out.n;
    /* idle_s after the last activity is not enough: the settle time (2 s
     * for a ball) must pass too */
    treatment_tick(&t, 71.0, &id, capture, &out);
    CHECK_EQ_INT(out.n, before);
    treatment_tick(&t, 72.0, &id, capture, &out);
    CHECK_EQ_INT(out.n, before + 1);
    const event_t *end = &out.events[out.n - 1];
    CHECK_STR(end->type, "session");
    CHECK_EQ_INT(end->phase, EVENT_END);
    CHECK_EQ_INT(end->id, session_id);
    CHECK_NEAR(end->t_start_dev, 1.0, 1e-12);
    CHECK_NEAR(end->t_dev, 60.0, 1e-12); /* the last activity's end */
    CHECK_STR(end->text_value, "idle");
    CHECK_NEAR(figure(end, TREATMENT_ACTIVE_S), 3.0 + 40.0 + 10.0, 1e-9);
    CHECK_NEAR(figure(end, TREATMENT_TIME_UNDER_LOAD_S), 48.0, 1e-9);
    CHECK_NEAR(figure(end, TREATMENT_HOLDS), 2, 0);
    CHECK_NEAR(figure(end, TREATMENT_HOLD_TOTAL_S), 50.0, 1e-9);
    CHECK_NEAR(figure(end, TREATMENT_HOLD_MEAN_S), 25.0, 1e-9);
    CHECK_NEAR(figure(end, TREATMENT_FLEXES), 2, 0);
    CHECK_NEAR(figure(end, TREATMENT_FLEXES_PER_HOLD), 1.0, 1e-12);
    CHECK_NEAR(figure(end, TREATMENT_ROCKS), 1, 0);
    CHECK_NEAR(figure(end, TREATMENT_ROLLS), 1, 0);
    CHECK_NEAR(figure(end, TREATMENT_RELEASE_TREND), 0.04, 1e-12);
    CHECK_NEAR(figure(end, TREATMENT_RELEASE_HOLDS), 1, 0);
    CHECK(isnan(figure(end, TREATMENT_STROKES)));
    CHECK(!t.open);
    /* the next activity begins a new session with a new id */
    hold = interval("hold", EVENT_START, 100.0, 0.0);
    feed(&t, &hold, &id, &out);
    CHECK(t.open);
    CHECK(t.id != session_id);
    /* ended by its owner with the hold open: it ends at the newest time */
    before = out.n;
    treatment_end(&t, 130.0, TREATMENT_END_STUDY, &id, capture, &out);
    CHECK_EQ_INT(out.n, before + 1);
    end = &out.events[out.n - 1];
    CHECK_NEAR(end->t_dev, 130.0, 1e-12);
    CHECK_STR(end->text_value, "study");
    CHECK_NEAR(figure(end, TREATMENT_HOLDS), 0, 0);
    CHECK(isnan(figure(end, TREATMENT_RELEASE_TREND))); /* no hold gave a trend */
    /* ending again is nothing */
    treatment_end(&t, 131.0, TREATMENT_END_STOPPED, &id, capture, &out);
    CHECK_EQ_INT(out.n, before + 1);
}

static event_t stroke(double t0, double t1, const char *direction, double force, double peak,
                      double length)
{
    event_t e = interval("stroke", EVENT_END, t0, t1);
    event_add_field(&e, "length_m", length);
    event_add_field(&e, "peak_force_n", peak);
    event_add_field(&e, "mean_force_n", force);
    e.text_name = "direction";
    e.text_value = direction;
    return e;
}

static void test_scraper_session(void)
{
    treatment_t t;
    treatment_init(&t, DEVICE_KIND_SCRAPER, &(treatment_settings_t){.idle_s = 5.0});
    captured_t out = {0};
    uint32_t id = 1;
    event_t s1 = stroke(2.0, 3.0, "up", 10.0, 14.0, 0.20);
    feed(&t, &s1, &id, &out);
    /* the session starts at the stroke's start, before the stroke */
    CHECK_EQ_INT(out.n, 2);
    CHECK_NEAR(out.events[0].t_dev, 2.0, 1e-12);
    event_t s2 = stroke(4.0, 5.0, "up", 20.0, 30.0, 0.25);
    feed(&t, &s2, &id, &out);
    event_t area = interval("area", EVENT_END, 0.0, 5.5);
    feed(&t, &area, &id, &out);
    event_t s3 = stroke(6.0, 8.0, "down", 30.0, 25.0, 0.30);
    feed(&t, &s3, &id, &out);
    /* a stroke published late, begun within the idle time, keeps the
     * session: the settle time (3 s) covers it */
    treatment_tick(&t, 13.5, &id, capture, &out);
    CHECK(t.open);
    event_t s4 = stroke(12.0, 14.0, "up", 40.0, 50.0, 0.25);
    feed(&t, &s4, &id, &out);
    treatment_tick(&t, 22.0, &id, capture, &out);
    const event_t *end = &out.events[out.n - 1];
    CHECK_STR(end->type, "session");
    CHECK_EQ_INT(end->phase, EVENT_END);
    CHECK_NEAR(end->t_dev, 14.0, 1e-12);
    CHECK_NEAR(figure(end, TREATMENT_STROKES), 4, 0);
    CHECK_NEAR(figure(end, TREATMENT_STROKES_UP), 3, 0);
    CHECK_NEAR(figure(end, TREATMENT_STROKES_DOWN), 1, 0);
    CHECK_NEAR(figure(end, TREATMENT_STROKES_LEVEL), 0, 0);
    CHECK_NEAR(figure(end, TREATMENT_ACTIVE_S), 6.0, 1e-12);
    CHECK_NEAR(figure(end, TREATMENT_STROKE_RATE_PER_MIN), 60.0 * 4 / 12.0, 1e-9);
    CHECK_NEAR(figure(end, TREATMENT_DIRECTION_CONSISTENCY), 0.75, 1e-12);
    CHECK_NEAR(figure(end, TREATMENT_LENGTH_TOTAL_M), 1.0, 1e-12);
    CHECK_NEAR(figure(end, TREATMENT_MEAN_FORCE_N), 25.0, 1e-12);
    CHECK_NEAR(figure(end, TREATMENT_PEAK_FORCE_N), 50.0, 1e-12);
    CHECK_NEAR(figure(end, TREATMENT_AREAS), 2, 0);
    CHECK(isnan(figure(end, TREATMENT_HOLDS)));
}

static void test_figure_table(void)
{
    /* every figure has a unique name, found by name, and a kind */
    for (int i = 0; i < TREATMENT_N_FIGURES; i++) {
        CHECK(treatment_figures[i].name != NULL);
        CHECK_EQ_INT(treatment_figure_index(treatment_figures[i].name), i);
        CHECK(treatment_figures[i].kinds != 0);
    }
    CHECK_EQ_INT(treatment_figure_index("no_such_figure"), -1);
}

int main(void)
{
    test_figure_table();
    test_ball_session();
    test_scraper_session();
    return CHECK_DONE();
}
