/* recording: a session's XDF files (docs/RECORDING.md) loaded into memory,
 * for massaged-replay and massaged-export.
 *
 * Files of one session (rotation) are given in order; device streams with the
 * same name and HELLO are joined across files, as are the events. Damage is
 * skipped up to the next Boundary chunk and counted. Plain data owned by the
 * caller; one thread.
 */
#ifndef MASSAGED_RECORDING_H
#define MASSAGED_RECORDING_H

#include "config.h"
#include "frame.h"
#include "recorder.h"
#include "study.h"
#include "xdf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char name[CONFIG_NAME_MAX];
    device_kind_t kind;
    frame_hello_t hello;
    size_t n, cap;
    double *stamps; /* Unix seconds, n */
    double *values; /* n * XDF_CHANNELS, in the recorder's channel order */
} recording_stream_t;

typedef struct {
    double stamp; /* Unix seconds (the event's t_host) */
    char *json;   /* NUL-terminated payload */
    size_t len;
} recording_event_t;

typedef struct {
    recording_stream_t *streams;
    int n_streams;
    recording_event_t *events;
    size_t n_events, cap_events;
    unsigned damages; /* places where damage was skipped */
    uint64_t damaged_bytes;
    bool truncated; /* a file ended in the middle of a chunk */
    study_labels_t labels; /* a study's labels (the first stream header's <study>) */
    bool has_labels;       /* the files carry a <study> element */
    char datetime[64];     /* the first file's FileHeader datetime, "" if none */
} recording_t;

/* Loads the files in order. Returns 0, or a negative errno after printing the
 * file and why to stderr (unreadable, not XDF, out of memory). */
int recording_load(recording_t *rec, char *const *paths, int n_paths);

void recording_free(recording_t *rec);


#endif
