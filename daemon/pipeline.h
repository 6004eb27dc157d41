/* pipeline: the daemon's running core.
 *
 * Owns the devices and the pipeline thread, the daemon's one loop: it polls
 * every device's port (daemon/device) and, in the wake-up the bytes cause,
 * decodes the frames, interprets them (chain), publishes raw samples and
 * events on the ZeroMQ publisher (its only user) and hands them to the
 * recorder's ring; it publishes status at every status interval. Only slow
 * consumers (the recorder) and the `port = auto` search have threads of
 * their own.
 *
 * Start-up order: publisher (bound before pipeline_start returns, so a bad
 * endpoint fails start-up), pipeline thread, then the devices; stop runs in
 * reverse and publishes the final `disconnected` events.
 */
#ifndef MASSAGED_PIPELINE_H
#define MASSAGED_PIPELINE_H

#include "config.h"
#include "recorder.h"
#include "study.h"

typedef struct pipeline pipeline_t;

/* Starts everything cfg describes (the configuration is copied). Returns NULL
 * with *err set to a negative errno on failure, after logging why. Called from
 * the main thread. */
pipeline_t *pipeline_start(const config_t *cfg, int *err);

/* Applies a new, already validated configuration without a restart: devices
 * that were removed or disabled stop (publishing `disconnected`), new ones
 * start, changed ones (kind, port, baud, driver) restart, and untouched ones
 * keep streaming without a gap. [publish] endpoint/hwm and [record] dir take
 * effect at the next start (a warning says so). Returns 0, or a negative
 * errno when a device could not be started (the others are applied). Main
 * thread. */
int pipeline_reload(pipeline_t *pipeline, const config_t *cfg);

/* A study's start or stop (daemon/control.c). The pipeline thread hands it
 * to the recorder after the frames it has already taken in, so it cuts the
 * data exactly where it arrives, and never waits for it. Returns 0 when
 * queued, -ENODEV without a recorder, -EBUSY when PIPELINE_COMMANDS wait
 * already. One calling thread at a time (the control thread). */
int pipeline_record(pipeline_t *pipeline, const recorder_command_t *cmd);

/* The recorder's state (recorder_status); any thread. */
void pipeline_recording_status(pipeline_t *pipeline, recorder_status_t *out);

/* Ends every open treatment session now, as a study's stop does: the
 * pipeline thread publishes their `end` events (reason "study") and hands
 * their rows to the history; returns once it has (at most the status
 * interval later). Any thread but the pipeline thread. */
void pipeline_end_sessions(pipeline_t *pipeline);

/* Sets the study labels written into the history's session rows (a copy is
 * taken). They apply to every session that ends from now on, including
 * those in progress: a row carries the labels in force when its session
 * ended, so a study that sets its labels and then starts (or stops, with
 * pipeline_end_sessions) gets exactly its sessions. An empty participant
 * falls back to [history] participant. Any thread. */
void pipeline_set_study(pipeline_t *pipeline, const study_labels_t *labels);

/* Stops devices, then the pipeline thread and the publisher; accepts NULL and
 * NULLs the caller's pointer. Called from the main thread. */
void pipeline_stop(pipeline_t **pipeline);

#endif
