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
 * a scraper_t. The stroke buffer lives in caller memory (scraper_mem_size,
 * scraper_init), as the ball detector's spectra do: pushing samples never
 * allocates.
 */
#ifndef MASSAGED_SCRAPER_H
#define MASSAGED_SCRAPER_H

#include "event.h"
#include "sample.h"
#include "stroke.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    stroke_settings_t stroke;
} scraper_settings_t;

/* stroke_default. */
extern const scraper_settings_t scraper_default;

/* What an area has counted since the last press. */
typedef struct {
    double t_start; /* seconds: the previous press or the first sample */
    bool have_start;
    uint32_t strokes;
    uint32_t by_dir[3];           /* indexed by stroke_direction_t */
    double first_start, last_end; /* seconds: the first stroke's start, the last one's end */
    double force_sum, length_sum; /* newton, metre: sums of the strokes' means and lengths */
} scraper_area_t;

/* Plain state, owned by the caller; treat as opaque. */
typedef struct {
    stroke_t stroke;
    scraper_area_t area;
    double last_t; /* seconds: the last sample's device time */
} scraper_t;

/* Bytes of caller memory for these settings at rate_hz, or 0 if invalid. */
size_t scraper_mem_size(const scraper_settings_t *s, float rate_hz);

/* Sets up sc for a tool sampling at rate_hz using mem (aligned for a
 * double, at least scraper_mem_size bytes, owned by sc afterwards and not
 * shared). Returns 0, -EINVAL (bad settings or rate) or -ENOMEM (mem too
 * small). */
int scraper_init(scraper_t *sc, const scraper_settings_t *s, float rate_hz, void *mem, size_t len);

/* One sample in device time order; completed strokes go to sink. */
void scraper_push(scraper_t *sc, const sample_t *s, uint32_t *next_id, event_sink_fn sink,
                  void *ctx);

/* samples_lost samples are missing before t_dev_resume: after a short loss
 * (SAMPLE_BRIDGE_MAX_S, dsp/sample.h; the chain then gives the lost samples
 * drawn on a line) the stroke in progress carries on; after a longer one it
 * is dropped (not reported) and the orientation starts over. */
void scraper_gap(scraper_t *sc, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
                 event_sink_fn sink, void *ctx);

/* The button was pressed at t_dev: the area is done; its analytics are
 * published and a new area begins. */
void scraper_mark(scraper_t *sc, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx);

/* The stream ended: a stroke in progress ends at the last sample, and the
 * open area is published if it counted strokes. */
void scraper_finish(scraper_t *sc, uint32_t *next_id, event_sink_fn sink, void *ctx);

#endif
