/* event: what a detector reports. The pipeline turns an event_t into the
 * JSON payload of `event.<device>.<type>` (../shared/spec/events.md); the
 * detectors know nothing of JSON or ZeroMQ.
 */
#ifndef MASSAGED_EVENT_H
#define MASSAGED_EVENT_H

#include <stdint.h>

typedef enum { EVENT_START, EVENT_END, EVENT_INSTANT } event_phase_t;

#define EVENT_MAX_FIELDS 16

/* An extra numeric field of an event, e.g. {"pressure_rise_pa", 812.0}. The
 * name is a string with static storage duration. */
typedef struct {
    const char *name;
    double value;
} event_field_t;

typedef struct {
    const char *type; /* "roll", "hold", "flex", "rock", "stroke", "mark", ... (static) */
    event_phase_t phase;
    double t_dev;       /* seconds, unwrapped device time of the event */
    double t_start_dev; /* seconds, start of the interval (EVENT_END only) */
    uint32_t id;        /* per-device id; a start and its end share one id */
    int n_fields;
    event_field_t fields[EVENT_MAX_FIELDS];
    const char *text_name;  /* optional string field, e.g. "direction" (static), or NULL */
    const char *text_value; /* its value, e.g. "up" (static) */
} event_t;

/* Receives events; called on the analysing thread, synchronously. The event
 * is only valid during the call. */
typedef void (*event_sink_fn)(const event_t *event, void *ctx);

/* Appends a numeric field; silently ignores fields beyond EVENT_MAX_FIELDS
 * (a programmer error caught by assert in debug builds). */
void event_add_field(event_t *event, const char *name, double value);

/* The value of the numeric field `name`, or NAN when the event has none. */
double event_get_field(const event_t *event, const char *name);

#endif
