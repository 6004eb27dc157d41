/* treatment: a device's treatment sessions, made from the events it
 * publishes (docs/EVENTS.md, "Treatment sessions").
 *
 * A treatment session begins with the device's first activity (a roll or a
 * hold starting, a stroke) and ends when no activity has been seen for
 * idle_s seconds of device time (the tracker's own ending, so that it is
 * the same live, in massaged-replay and in the scorers), or when its owner
 * ends it (treatment_end: the device stayed disconnected that long, the
 * daemon stops, a study stops its recording). Its `end` event carries the
 * session's summary, every figure added up from the events published while
 * the session was open.
 *
 * Not to be confused with tools/session (session_*), the offline runner
 * that plays a simulated tool through a chain: that is a test and scoring
 * harness, this is what the user did with the tool.
 *
 * Plain state, owned by the thread that owns the device's chain. Events go
 * out through an event_sink_fn, with ids from the device's counter.
 */
#ifndef MASSAGED_TREATMENT_H
#define MASSAGED_TREATMENT_H

#include "config.h"
#include "event.h"

#include <stdbool.h>
#include <stdint.h>

/* The summary's figures. Their names, units and kinds are in
 * treatment_figures[]; a session of one kind carries that kind's figures. */
typedef enum {
    TREATMENT_ACTIVE_S,
    TREATMENT_TIME_UNDER_LOAD_S,
    TREATMENT_HOLDS,
    TREATMENT_HOLD_TOTAL_S,
    TREATMENT_HOLD_MEAN_S,
    TREATMENT_FLEXES,
    TREATMENT_FLEXES_PER_HOLD,
    TREATMENT_ROCKS,
    TREATMENT_ROLLS,
    TREATMENT_RELEASE_TREND,
    TREATMENT_RELEASE_HOLDS,
    TREATMENT_STROKES,
    TREATMENT_STROKES_UP,
    TREATMENT_STROKES_DOWN,
    TREATMENT_STROKES_LEVEL,
    TREATMENT_STROKE_RATE_PER_MIN,
    TREATMENT_DIRECTION_CONSISTENCY,
    TREATMENT_LENGTH_TOTAL_M,
    TREATMENT_MEAN_FORCE_N,
    TREATMENT_PEAK_FORCE_N,
    TREATMENT_AREAS,
    TREATMENT_N_FIGURES
} treatment_figure_t;

#define TREATMENT_KIND_BALL (1u << DEVICE_KIND_BALL)
#define TREATMENT_KIND_SCRAPER (1u << DEVICE_KIND_SCRAPER)

typedef struct {
    const char *name; /* the field of the `session` end event and the history column */
    const char *unit; /* "s", "N", "m", "1/min", "" for counts and ratios */
    unsigned kinds;   /* TREATMENT_KIND_* bits: the kinds whose sessions carry it */
    bool integer;     /* a count */
} treatment_figure_def_t;

extern const treatment_figure_def_t treatment_figures[TREATMENT_N_FIGURES];

/* The figure called name, or -1. */
int treatment_figure_index(const char *name);

/* How a session ended: the `reason` field of the `end` event. */
typedef enum {
    TREATMENT_END_IDLE,         /* idle_s of device time without activity */
    TREATMENT_END_DISCONNECTED, /* the device stayed disconnected idle_s seconds */
    TREATMENT_END_STOPPED,      /* the daemon (or a replay) stopped, or the device was removed */
    TREATMENT_END_STUDY,        /* a study stopped its recording */
} treatment_end_t;

typedef struct {
    double idle_s;   /* a session ends after this long without activity, seconds */
    double settle_s; /* how much later than idle_s the tracker decides, seconds, because
                        detectors publish an activity after it began; 0: the kind's
                        (ball 2 s: a hold is dated back at most 1.5 s; scraper 3 s: a
                        stroke is published at its end, and strokes last 0.3-2 s) */
} treatment_settings_t;

/* idle_s 120, settle_s 0 (the kind's). */
extern const treatment_settings_t treatment_default;

typedef struct {
    treatment_settings_t settings;
    device_kind_t kind;
    bool open;         /* a session is in progress */
    uint32_t id;       /* the open session's event id */
    double t_start;    /* device seconds, the open session's start */
    double t_activity; /* device seconds, the end of its latest activity */
    bool roll_open, hold_open;
    bool area_changed; /* an `area` ended since the session's last stroke */
    /* Sums over the open session's events. */
    double active_s, under_load_s, hold_s, release_sum;
    unsigned holds, flexes, rocks, rolls, release_holds, areas;
    unsigned strokes, by_direction[3]; /* up, down, level */
    double length_m, force_sum, peak_force_n, first_stroke_start, last_stroke_end;
} treatment_t;

/* Sets up the tracker of a device of kind; settings NULL: the defaults. */
void treatment_init(treatment_t *t, device_kind_t kind, const treatment_settings_t *settings);

/* Changes idle_s; an open session keeps going under the new value. */
void treatment_set_idle(treatment_t *t, double idle_s);

/* An event the device is about to publish, in publication order. When it
 * begins a session, the session's `start` is sent to sink first (dated at
 * the activity's start); then the event is added to the open session. */
void treatment_event(treatment_t *t, const event_t *event, uint32_t *next_id, event_sink_fn sink,
                     void *ctx);

/* Device time has reached t_dev (seconds): ends the open session when it
 * had no activity for idle_s, once settle_s more has passed without an
 * activity that began in the idle time. The session ends at its last
 * activity's end. */
void treatment_tick(treatment_t *t, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx);

/* Ends the open session now, if there is one. t_dev (seconds) is the
 * newest device time seen; the session ends at its last activity's end,
 * or at t_dev when a roll or hold is still open. */
void treatment_end(treatment_t *t, double t_dev, treatment_end_t reason, uint32_t *next_id,
                   event_sink_fn sink, void *ctx);

#endif
