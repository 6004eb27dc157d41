/* scraper: the scraping tool's analysis for one device: strokes (stroke.h)
 * turned into `stroke` end events, and per-area analytics between button
 * presses as `area` end events.
 *
 * Events (docs/DSP.md, "Stroke detection"):
 *  - "stroke", EVENT_END, as soon as a stroke ends (within the end wait
 *    plus the filter delay, about 20-70 ms): t_start_dev, t_dev = its end,
 *    fields length_m, peak_force_n, mean_force_n, mean_speed_mps, text
 *    direction = "up" | "down" | "level";
 *  - "area", EVENT_END, at a button press (t_dev = the press) and at the
 *    end of the stream if strokes were counted since the last press:
 *    t_start_dev = the previous press (or the first sample), fields
 *    strokes, stroke_rate_per_min (strokes over the time from the area's
 *    first stroke start to its last stroke end, per minute; 0 below two
 *    strokes), direction_consistency (share of the strokes in the majority
 *    direction, 0 without strokes), mean_force_n (mean of the strokes'
 *    mean forces), mean_length_m, strokes_up, strokes_down, strokes_level,
 *    and text direction = the majority direction ("none" without strokes).
 *
 * Ids come from the device's counter: e.id = (*next_id)++. One thread owns
 * a scraper_t; everything is allocated by scraper_create.
 */
#ifndef MASSAGED_SCRAPER_H
#define MASSAGED_SCRAPER_H

#include "event.h"
#include "sample.h"
#include "stroke.h"

#include <stdint.h>

typedef struct {
    stroke_settings_t stroke;
} scraper_settings_t;

/* stroke_default. */
extern const scraper_settings_t scraper_default;

typedef struct scraper scraper_t;

/* Creates the analysis for a tool sampling at rate_hz; all its memory is
 * allocated here. Returns NULL for bad settings or when out of memory. */
scraper_t *scraper_create(const scraper_settings_t *s, float rate_hz);

/* Frees it; accepts NULL and NULLs the caller's pointer. */
void scraper_destroy(scraper_t **sc);

/* One sample in device time order; completed strokes go to sink. */
void scraper_push(scraper_t *sc, const sample_t *s, uint32_t *next_id, event_sink_fn sink,
                  void *ctx);

/* samples_lost samples are missing before t_dev_resume: a stroke in
 * progress is dropped (not reported). */
void scraper_gap(scraper_t *sc, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
                 event_sink_fn sink, void *ctx);

/* The button was pressed at t_dev: the area is done; its analytics are
 * published and a new area begins. */
void scraper_mark(scraper_t *sc, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx);

/* The stream ended: a stroke in progress ends at the last sample, and the
 * open area is published if it counted strokes. */
void scraper_finish(scraper_t *sc, uint32_t *next_id, event_sink_fn sink, void *ctx);

#endif
