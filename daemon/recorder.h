/* recorder: every session written to XDF 1.0 files (docs/RECORDING.md).
 *
 * The recorder owns a thread, the current file and an SPSC ring. The
 * pipeline thread is the ring's only producer: it hands over stream starts,
 * sample blocks and published events without ever blocking (a full ring
 * drops the item and counts it) and without allocating. The recorder thread
 * batches them into XDF chunks: one stream per device (double64 channels p,
 * acc_x..z, gyr_x..z, sample_index, t_dev, frame_samples; time stamps are
 * host Unix seconds from the device-to-host clock mapping) and one string
 * stream ("events") holding each published event's JSON payload.
 *
 * Durability: a Samples chunk per stream at least every
 * RECORDER_BATCH_MS, written at once; fdatasync every RECORDER_SYNC_MS; a
 * Boundary chunk every RECORDER_BOUNDARY_MS. Data older than about
 * RECORDER_BATCH_MS + RECORDER_SYNC_MS is on disk; a crash of the process
 * (SIGKILL) loses at most the last batch, because what was written is in
 * the kernel's page cache.
 *
 * Continuous recording (a directory given to recorder_start) writes
 * DIR/massaged-YYYYMMDD-HHMMSS-NNN.xdf from start-up: the session's start
 * (UTC) and the file's number within the session, 000 first; a new file
 * starts after rotate_mb MiB or rotate_minutes minutes. Study-driven
 * recording (no directory) is idle until a RECORDER_START command names the
 * file and the study's labels, and writes until RECORDER_STOP; commands
 * travel the same ring as the data, so the boundary between two recordings
 * is exact: what the pipeline handed over before the command belongs to
 * the previous file (or to none), what follows to the next. A write error (disk full,
 * quota, I/O error) stops recording with a logged message and an error in
 * the status; the daemon goes on streaming and publishing.
 */
#ifndef MASSAGED_RECORDER_H
#define MASSAGED_RECORDER_H

#include "config.h"
#include "frame.h"
#include "json.h"
#include "message.h"
#include "study.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The periods; tests/CMakeLists.txt builds test_recorder with them
 * lengthened, so that only the ring's early wake can wake the thread. */
#ifndef RECORDER_BATCH_MS
#define RECORDER_BATCH_MS 200
#define RECORDER_SYNC_MS 1000
#define RECORDER_BOUNDARY_MS 2000
#endif

#define RECORDER_RING_ITEMS 4096 /* 1.8 MiB; at 100 frames/s a device, 20 s of two devices */
#define RECORDER_ITEM_SAMPLES 10 /* samples per ring item: a frame of more takes several */

typedef struct recorder recorder_t;

typedef enum { RECORDER_START = 1, RECORDER_STOP = 2 } recorder_op_t;

/* A study's command, carried by value through the ring. */
typedef struct {
    int op;                /* a recorder_op_t */
    char path[4096];       /* RECORDER_START: the first file; its directories are created, a
                              file of that name is moved aside to STEM_oldN.xdf; after a
                              rotation the next files are STEM-001.xdf, ... */
    study_labels_t labels; /* RECORDER_START: go into every stream header's desc */
} recorder_command_t;

typedef struct {
    bool active;           /* a file is open and being written */
    char file[4096];       /* the current (or last) file, "" before the first */
    char error[512];       /* why recording stopped, "" when it did not */
    unsigned files;        /* files started in this session */
    uint64_t bytes;        /* bytes written in this session */
    uint64_t samples;      /* samples written */
    uint64_t events;       /* events written */
    uint64_t dropped;      /* blocks and events dropped because the ring was full */
    uint64_t not_recorded; /* samples received after recording stopped */
    uint64_t syncs;        /* fdatasync calls */
    study_labels_t labels; /* of the current (or last) study's recording */
} recorder_status_t;

/* With a directory (continuous recording): creates it if it is missing (one
 * level), opens the session's first file and starts the thread. With dir
 * NULL or "" (study-driven): starts the thread, idle until a
 * RECORDER_START. Returns NULL with *err set (negative errno) after logging
 * why. Main thread. */
recorder_t *recorder_start(const char *dir, int rotate_mb, int rotate_minutes, int *err);

/* Drains the ring, writes the stream footers, fsyncs and closes the file,
 * joins the thread. Call it after the producer has stopped for good.
 * Accepts NULL and NULLs the caller's pointer. */
void recorder_stop(recorder_t **rec);

/* Producer side: the pipeline thread only. Each accepts rec == NULL (no
 * recording) and never blocks. */

/* Device `slot` (0..CONFIG_MAX_DEVICES-1) started streaming (or sent a new
 * HELLO): its later blocks belong to the stream of (name, kind, hello). */
void recorder_stream(recorder_t *rec, int slot, const char *name, device_kind_t kind,
                     const frame_hello_t *hello);
/* A block of samples of the device in `slot`. */
void recorder_block(recorder_t *rec, int slot, const message_block_t *block);
/* A published event: its JSON payload (len bytes) and host time. */
void recorder_event(recorder_t *rec, double t_host, const char *json, size_t len);

/* A study's start or stop, in order with the data. Returns false, having
 * pushed nothing and counted nothing, when the ring has no room: the caller
 * keeps the command and tries again after the recorder has caught up.
 * rec == NULL: true, nothing done. */
bool recorder_command(recorder_t *rec, const recorder_command_t *cmd);

/* A snapshot of the counters and state. Any thread (a mutex guards it). */
void recorder_status(recorder_t *rec, recorder_status_t *out);

/* Appends the keys "recording", "recording_file", "recording_error",
 * "recording_dropped" and "recording_bytes" to an open JSON object, for
 * status.daemon. rec may be NULL: recording false, file and error null. */
void recorder_status_json(recorder_t *rec, json_t *j);

#endif
