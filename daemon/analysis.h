/* analysis: the detectors of one device, chosen by its kind.
 *
 * The chain creates an analysis when a device's HELLO gives its sample rate
 * (the only allocation, at connect time), feeds it every sample in order, and
 * tells it about gaps, button presses and the end of the stream. The analysis
 * reports detection events through an event sink, assigning ids from the
 * device's counter so that a start and its end share one id.
 *
 * Plain computation, owned by the thread that owns the chain.
 */
#ifndef MASSAGED_ANALYSIS_H
#define MASSAGED_ANALYSIS_H

#include "config.h"
#include "event.h"
#include "sample.h"

#include <stdint.h>

typedef struct analysis analysis_t;

/* Creates the detectors for kind at rate_hz (from the HELLO). Returns NULL
 * when out of memory or when the kind has no detectors. */
analysis_t *analysis_create(device_kind_t kind, float rate_hz);

/* Frees it; accepts NULL and NULLs the caller's pointer. */
void analysis_destroy(analysis_t **a);

/* One sample, in device time order. */
void analysis_push(analysis_t *a, const sample_t *s, uint32_t *next_id, event_sink_fn sink,
                   void *ctx);

/* Samples are missing before the next one (frames lost in transit); the
 * detectors must not bridge the hole as if the signal were continuous. */
void analysis_gap(analysis_t *a, double t_dev_resume, uint64_t samples_lost, uint32_t *next_id,
                  event_sink_fn sink, void *ctx);

/* The device's button was pressed at t_dev (a `mark` has been published). */
void analysis_mark(analysis_t *a, double t_dev, uint32_t *next_id, event_sink_fn sink, void *ctx);

/* The stream ended (device lost or daemon stopping): intervals still open end
 * now, at the last sample's time. */
void analysis_finish(analysis_t *a, uint32_t *next_id, event_sink_fn sink, void *ctx);

#endif
