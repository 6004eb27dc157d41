/* history: finished treatment sessions kept in an SQLite database
 * ([history] db; the schema is documented in docs/HISTORY.md).
 *
 * The history owns a thread, the database connection and an SPSC ring. The
 * pipeline thread is the ring's only producer: it hands over one row per
 * finished session without ever blocking (a full ring or a stopped history
 * counts the row as lost) and without allocating. The history thread writes
 * each row in one transaction (the session and the recording files that
 * cover it), so a crash loses at most the sessions not yet finished.
 *
 * The file is in WAL mode, so readers (massaged-history, the dashboard,
 * sqlite3) never block the writer nor it them. The file's schema version is
 * PRAGMA user_version and its owner PRAGMA application_id; a file that is
 * not an SQLite database, is another program's database, is corrupt or was
 * written by a newer schema is refused (history stops with a message, the
 * file is never written). An older schema is migrated when opened. A failed
 * write (disk full, read-only, I/O error) stops history with a message;
 * streaming and recording go on.
 */
#ifndef MASSAGED_HISTORY_H
#define MASSAGED_HISTORY_H

#include "config.h"
#include "event.h"
#include "frame.h"
#include "json.h"
#include "study.h"
#include "treatment.h"

#include <stdbool.h>
#include <stdint.h>

#define HISTORY_SCHEMA_VERSION 1
#define HISTORY_APPLICATION_ID 0x4d534744 /* "MSGD": the file is massaged's history */
#define HISTORY_FILES_LEN 2048            /* the recording files of a session, '\n'-separated */

typedef struct history history_t;

/* One finished session: what the `session` end event says, and what the
 * pipeline knows about it. */
typedef struct {
    char device[CONFIG_NAME_MAX];
    device_kind_t kind;
    char serial[FRAME_SERIAL_LEN + 1]; /* from the HELLO, "" when none came */
    study_labels_t labels;             /* participant already defaulted */
    uint32_t event_id;                 /* the session events' id */
    double t_start, t_end;             /* Unix seconds */
    double duration_s;                 /* the end event's: device seconds */
    char reason[16];                   /* the end event's reason */
    uint32_t figures_set;              /* bit f: figure[f] is present */
    double figure[TREATMENT_N_FIGURES];
    char files[HISTORY_FILES_LEN]; /* recording files that cover it, '\n'-separated */
} history_row_t;

typedef struct {
    bool active;       /* rows are being written */
    char db[4096];     /* the database file */
    char error[512];   /* why history stopped, "" when it did not */
    uint64_t sessions; /* rows written since start */
    uint64_t lost;     /* rows not written (ring full or history stopped) */
} history_status_t;

/* Fills the row's times, reason and figures from a `session` end event whose
 * start was at t_start (Unix seconds), ending at t_end. */
void history_row_from_event(history_row_t *row, const event_t *end, double t_start, double t_end);

/* Opens (creating it if missing) and checks the database at path, migrates
 * it, and starts the writing thread. A file that cannot be used gives a
 * history that is stopped with its error set (logged once); NULL only when
 * out of memory. Main thread. */
history_t *history_start(const char *path);

/* Writes what the ring holds, closes the database, joins the thread. Call it
 * after the producer has stopped for good. Accepts NULL and NULLs the
 * caller's pointer. */
void history_stop(history_t **h);

/* Producer side: the pipeline thread only. Accepts h == NULL (no history);
 * never blocks. Returns false when the row was not taken. */
bool history_push(history_t *h, const history_row_t *row);

/* A snapshot of the counters and state. Any thread (a mutex guards it). */
void history_status(history_t *h, history_status_t *out);

/* Appends "history", "history_db", "history_error", "history_sessions" and
 * "history_lost" to an open JSON object, for status.daemon. h may be NULL
 * (history off). */
void history_status_json(history_t *h, json_t *j);

#endif
