#include "history.h"

#include "code_pages.h"
#include "log.h"
#include "ring.h"
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RING_ROWS 64         /* sessions finish minutes apart: a ring this size never fills */
#define BUSY_TIMEOUT_MS 5000 /* a reader's write lock (sqlite3's own writes) is waited for */

struct history {
    sqlite3 *db;
    ring_t *ring;
    worker_t worker; /* woken by each row and by the stop */
    sqlite3_stmt *insert_session, *insert_file;
    pthread_mutex_t lock; /* guards status */
    history_status_t status;
};

/* ---- Status ------------------------------------------------------------ */

static void fail(history_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Stops history for good with a logged reason. */
static void fail(history_t *h, const char *fmt, ...)
{
    char why[sizeof h->status.error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    log_error("history: %s; history stopped (streaming and recording go on)", why);
    pthread_mutex_lock(&h->lock);
    h->status.active = false;
    snprintf(h->status.error, sizeof h->status.error, "%s", why);
    pthread_mutex_unlock(&h->lock);
}

void history_status(history_t *h, history_status_t *out)
{
    if (!h) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&h->lock);
    *out = h->status;
    pthread_mutex_unlock(&h->lock);
}

void history_status_json(history_t *h, json_t *j)
{
    history_status_t st;
    history_status(h, &st);
    json_key(j, "history");
    json_bool(j, st.active);
    json_key(j, "history_db");
    json_string_or_null(j, st.db);
    json_key(j, "history_error");
    json_string_or_null(j, st.error);
    json_key(j, "history_sessions");
    json_uint(j, st.sessions);
    json_key(j, "history_lost");
    json_uint(j, st.lost);
}

/* ---- Rows ---------------------------------------------------------------- */

void history_row_from_event(history_row_t *row, const event_t *end, double t_start, double t_end)
{
    row->t_start = t_start;
    row->t_end = t_end;
    row->duration_s = end->t_dev - end->t_start_dev;
    row->event_id = end->id;
    snprintf(row->reason, sizeof row->reason, "%s",
             end->text_name && end->text_value ? end->text_value : "");
    row->figures_set = 0;
    for (int i = 0; i < end->n_fields; i++) {
        int f = treatment_figure_index(end->fields[i].name);
        if (f >= 0) {
            row->figure[f] = end->fields[i].value;
            row->figures_set |= 1u << f;
        }
    }
}

bool history_push(history_t *h, const history_row_t *row)
{
    if (!h)
        return false;
    /* A stopped history still counts what it was given. */
    if (worker_running(&h->worker) && ring_push(h->ring, row)) {
        worker_wake(&h->worker);
        return true;
    }
    pthread_mutex_lock(&h->lock);
    h->status.lost++;
    pthread_mutex_unlock(&h->lock);
    return false;
}

/* ---- Schema ------------------------------------------------------------- */

/* Schema version 1. The figure columns are not listed: every figure of
 * treatment_figures[] gets its REAL column when the file is opened (a
 * figure added later is a column added to older files). */
static const char schema_v1[] = "CREATE TABLE sessions ("
                                " id INTEGER PRIMARY KEY,"
                                " device TEXT NOT NULL,"
                                " kind TEXT NOT NULL,"
                                " serial TEXT NOT NULL DEFAULT '',"
                                " participant TEXT NOT NULL DEFAULT '',"
                                " study_session TEXT NOT NULL DEFAULT '',"
                                " task TEXT NOT NULL DEFAULT '',"
                                " run TEXT NOT NULL DEFAULT '',"
                                " acquisition TEXT NOT NULL DEFAULT '',"
                                " event_id INTEGER NOT NULL,"
                                " t_start REAL NOT NULL,"
                                " t_end REAL NOT NULL,"
                                " duration_s REAL NOT NULL,"
                                " end_reason TEXT NOT NULL);"
                                "CREATE INDEX sessions_by_start ON sessions(t_start);"
                                "CREATE TABLE recordings ("
                                " session_id INTEGER NOT NULL REFERENCES sessions(id),"
                                " file TEXT NOT NULL);"
                                "CREATE INDEX recordings_by_session ON recordings(session_id);";

/* migrations[v] brings a file of schema version v to v + 1. */
static const char *const migrations[HISTORY_SCHEMA_VERSION] = {schema_v1};

static int exec(history_t *h, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(h->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        fail(h, "%s: %s", h->status.db, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

/* The integer a one-value query gives; -1 when it fails. */
static long long query_int(history_t *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long value = -1;
    if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return value;
}

static bool has_column(history_t *h, const char *name)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(h->db, "SELECT 1 FROM pragma_table_info('sessions') WHERE name = ?", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

/* Checks that the file is an intact database of ours (or empty), and
 * brings its schema to HISTORY_SCHEMA_VERSION. Nothing is written to a file
 * that is refused. */
static int check_and_migrate(history_t *h)
{
    const char *path = h->status.db;
    /* The first read of the header: a file that is not SQLite fails here. */
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h->db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        fail(h, "%s is not a usable SQLite database (%s); it was left as it is", path,
             sqlite3_errmsg(h->db));
        sqlite3_finalize(st);
        return -EINVAL;
    }
    const char *verdict = (const char *)sqlite3_column_text(st, 0);
    if (!verdict || strcmp(verdict, "ok") != 0) {
        fail(h, "%s is corrupt (quick_check: %s); it was left as it is", path,
             verdict ? verdict : "?");
        sqlite3_finalize(st);
        return -EINVAL;
    }
    sqlite3_finalize(st);
    long long app = query_int(h, "PRAGMA application_id");
    long long version = query_int(h, "PRAGMA user_version");
    long long objects = query_int(h, "SELECT count(*) FROM sqlite_master");
    if (app != HISTORY_APPLICATION_ID && (app != 0 || objects != 0 || version != 0)) {
        fail(h,
             "%s is another program's database (application_id %lld, %lld schema objects); "
             "it was left as it is",
             path, app, objects);
        return -EINVAL;
    }
    if (version > HISTORY_SCHEMA_VERSION) {
        fail(h, "%s has schema version %lld, newer than this massaged's %d; it was left as it is",
             path, version, HISTORY_SCHEMA_VERSION);
        return -EINVAL;
    }
    /* WAL first (it may not be changed inside a transaction); an empty file
     * that turns out unwritable fails here, before anything is created. */
    if (exec(h, "PRAGMA journal_mode = WAL") != SQLITE_OK)
        return -EIO;
    if (query_int(h, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") != 1) {
        fail(h, "%s: cannot switch to WAL mode", path);
        return -EIO;
    }
    /* A row every few minutes needs no page cache to speak of: 64 KiB
     * instead of SQLite's 2 MiB keeps the daemon's memory budget. */
    if (exec(h, "PRAGMA synchronous = FULL; PRAGMA cache_size = -64; BEGIN IMMEDIATE") != SQLITE_OK)
        return -EIO;
    char sql[256];
    for (long long v = version; v < HISTORY_SCHEMA_VERSION; v++) {
        if (exec(h, migrations[v]) != SQLITE_OK)
            goto rollback;
        if (v > 0 || version > 0)
            log_info("history: %s migrated from schema version %lld to %lld", path, v, v + 1);
    }
    for (int f = 0; f < TREATMENT_N_FIGURES; f++) {
        if (has_column(h, treatment_figures[f].name))
            continue;
        snprintf(sql, sizeof sql, "ALTER TABLE sessions ADD COLUMN %s REAL",
                 treatment_figures[f].name);
        if (exec(h, sql) != SQLITE_OK)
            goto rollback;
    }
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d; COMMIT",
             HISTORY_APPLICATION_ID, HISTORY_SCHEMA_VERSION);
    if (exec(h, sql) != SQLITE_OK)
        goto rollback;
    return 0;

rollback:
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return -EIO;
}

static int prepare(history_t *h)
{
    char sql[2048] = "INSERT INTO sessions (device, kind, serial, participant, study_session, "
                     "task, run, acquisition, event_id, t_start, t_end, duration_s, end_reason";
    size_t used = strlen(sql);
    for (int f = 0; f < TREATMENT_N_FIGURES; f++)
        used += (size_t)snprintf(sql + used, sizeof sql - used, ", %s", treatment_figures[f].name);
    used += (size_t)snprintf(sql + used, sizeof sql - used, ") VALUES (?");
    for (int i = 1; i < 13 + TREATMENT_N_FIGURES; i++)
        used += (size_t)snprintf(sql + used, sizeof sql - used, ", ?");
    snprintf(sql + used, sizeof sql - used, ")");
    if (sqlite3_prepare_v2(h->db, sql, -1, &h->insert_session, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h->db, "INSERT INTO recordings (session_id, file) VALUES (?, ?)", -1,
                           &h->insert_file, NULL) != SQLITE_OK) {
        fail(h, "%s: %s", h->status.db, sqlite3_errmsg(h->db));
        return -EIO;
    }
    return 0;
}

/* ---- Writing ------------------------------------------------------------- */

static int step(history_t *h, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int insert_files(history_t *h, sqlite3_int64 session, const char *files)
{
    const char *p = files;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            sqlite3_bind_int64(h->insert_file, 1, session);
            sqlite3_bind_text(h->insert_file, 2, p, (int)len, SQLITE_TRANSIENT);
            int rc = step(h, h->insert_file);
            if (rc != SQLITE_OK)
                return rc;
        }
        p += len + (nl ? 1 : 0);
    }
    return SQLITE_OK;
}

/* One session, one transaction. */
static int write_row(history_t *h, const history_row_t *row)
{
    sqlite3_stmt *st = h->insert_session;
    const char *text[] = {row->device,         device_kind_name(row->kind),
                          row->serial,         row->labels.participant,
                          row->labels.session, row->labels.task,
                          row->labels.run,     row->labels.acquisition};
    int col = 1;
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        sqlite3_bind_text(st, col++, text[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, col++, row->event_id);
    sqlite3_bind_double(st, col++, row->t_start);
    sqlite3_bind_double(st, col++, row->t_end);
    sqlite3_bind_double(st, col++, row->duration_s);
    sqlite3_bind_text(st, col++, row->reason, -1, SQLITE_STATIC);
    for (int f = 0; f < TREATMENT_N_FIGURES; f++, col++) {
        if (row->figures_set & (1u << f))
            sqlite3_bind_double(st, col, row->figure[f]);
        else
            sqlite3_bind_null(st, col);
    }
    int rc = sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = step(h, st);
    if (rc == SQLITE_OK)
        rc = insert_files(h, sqlite3_last_insert_rowid(h->db), row->files);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(h->db));
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
        fail(h, "cannot write session %s/%u to %s: %s", row->device, (unsigned)row->event_id,
             h->status.db, why);
        return -EIO;
    }
    pthread_mutex_lock(&h->lock);
    h->status.sessions++;
    pthread_mutex_unlock(&h->lock);
    return 0;
}

/* Writes every row in the ring; after a failure, counts them as lost. */
static void drain(history_t *h)
{
    const history_row_t *row;
    while ((row = ring_peek(h->ring)) != NULL) {
        bool active;
        pthread_mutex_lock(&h->lock);
        active = h->status.active;
        pthread_mutex_unlock(&h->lock);
        if (!active || write_row(h, row) != 0) {
            pthread_mutex_lock(&h->lock);
            h->status.lost++;
            pthread_mutex_unlock(&h->lock);
        }
        ring_release(h->ring);
    }
}

/* SQLite's code is resident only while it works: between sessions,
 * minutes apart, its read-only pages are given back (about 1.1 MB after the
 * start-up check; docs/BENCHMARKS.md "Resident memory"). The next write maps
 * back the pages it touches from the page cache. */
static void release_code(void)
{
    code_pages_release((void (*)(void))sqlite3_step);
}

static void *history_main(void *arg)
{
    history_t *h = arg;
    pthread_setname_np(pthread_self(), "history");
    while (!worker_stopping(&h->worker)) {
        /* Rows and the stop both wake the thread: no timeout, so an idle
         * history never wakes. */
        worker_wait(&h->worker, -1);
        drain(h);
        release_code();
    }
    drain(h);
    return NULL;
}

/* ---- Life ---------------------------------------------------------------- */

history_t *history_start(const char *path)
{
    history_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    int woken = worker_open(&h->worker);
    pthread_mutex_init(&h->lock, NULL);
    snprintf(h->status.db, sizeof h->status.db, "%s", path);
    h->ring = ring_create(sizeof(history_row_t), RING_ROWS);
    if (!h->ring || woken != 0) {
        fail(h, "out of resources: %s", strerror(h->ring ? -woken : ENOMEM));
        return h;
    }
    /* No CREATE of the directory: it is the service's state directory,
     * made by systemd (StateDirectory=) or the package. */
    int rc = sqlite3_open_v2(
        path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        /* SQLite's last errno is that of its read-only retry; the
         * directory says why the file could not be made. */
        int err = sqlite3_system_errno(h->db);
        char dir[sizeof h->status.db];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *(slash == dir ? slash + 1 : slash) = '\0';
        else
            snprintf(dir, sizeof dir, ".");
        if (access(dir, W_OK | X_OK) != 0)
            err = errno;
        fail(h, "cannot open %s: %s%s%s", path, h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc),
             err ? ": " : "", err ? strerror(err) : "");
        return h;
    }
    /* No lookaside (SQLite's per-connection 120 KB of small-allocation
     * slots, for speed): one row every few minutes does not need it, and
     * the daemon's memory budget does (docs/BENCHMARKS.md "Resident
     * memory"). Allowed only before the connection's first use. */
    sqlite3_db_config(h->db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 0, 0);
    sqlite3_extended_result_codes(h->db, 1);
    sqlite3_busy_timeout(h->db, BUSY_TIMEOUT_MS);
    bool ready = check_and_migrate(h) == 0 && prepare(h) == 0;
    /* Given back whether or not the file was taken: a refused file leaves
     * the daemon streaming without history, and SQLite's code unused. */
    release_code();
    if (!ready)
        return h;
    /* The check and the migration read the whole file through the page
     * cache; the writer needs only the pages its inserts touch. */
    sqlite3_db_release_memory(h->db);
    h->status.active = true;
    if (worker_start(&h->worker, history_main, h) != 0) {
        fail(h, "cannot start its thread");
        return h;
    }
    log_info("history: sessions are written to %s", path);
    return h;
}

void history_stop(history_t **hp)
{
    if (!hp || !*hp)
        return;
    history_t *h = *hp;
    worker_close(&h->worker);
    sqlite3_finalize(h->insert_session);
    sqlite3_finalize(h->insert_file);
    if (h->db)
        sqlite3_close(h->db);
    ring_destroy(&h->ring);
    pthread_mutex_destroy(&h->lock);
    free(h);
    *hp = NULL;
}
