/* history: rows through the ring into a real SQLite file, read back with
 * SQLite; a file of another program refused and left as it was; a stopped
 * history counting what it is given. */
#include "check.h"
#include "history.h"
#include "test_dir.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/test_history.XXXXXX";

static history_row_t make_row(const char *device, device_kind_t kind, uint32_t id, double t0)
{
    history_row_t row;
    memset(&row, 0, sizeof row);
    snprintf(row.device, sizeof row.device, "%s", device);
    row.kind = kind;
    snprintf(row.serial, sizeof row.serial, "SN-%u", id);
    snprintf(row.labels.participant, sizeof row.labels.participant, "P01");
    snprintf(row.labels.task, sizeof row.labels.task, "calf");
    event_t end;
    memset(&end, 0, sizeof end);
    end.type = "session";
    end.phase = EVENT_END;
    end.id = id;
    end.t_start_dev = 10.0;
    end.t_dev = 70.0;
    end.text_name = "reason";
    end.text_value = "idle";
    if (kind == DEVICE_KIND_BALL) {
        event_add_field(&end, "holds", 3);
        event_add_field(&end, "release_trend", 0.025);
    } else {
        event_add_field(&end, "strokes", 40);
    }
    event_add_field(&end, "active_s", 55.5);
    history_row_from_event(&row, &end, t0, t0 + 60.0);
    snprintf(row.files, sizeof row.files, "/rec/a-%u.xdf\n/rec/b-%u.xdf", id, id);
    return row;
}

static double query_double(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    double v = -1.0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -2.0 : sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_rows_are_written_and_read_back(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/h.db", dir);
    history_t *h = history_start(path);
    CHECK(h != NULL);
    history_status_t st;
    history_status(h, &st);
    CHECK(st.active);
    CHECK_STR(st.error, "");
    history_row_t a = make_row("ball", DEVICE_KIND_BALL, 7, 1.7e9);
    history_row_t b = make_row("scraper", DEVICE_KIND_SCRAPER, 9, 1.7e9 + 100);
    CHECK(history_push(h, &a));
    CHECK(history_push(h, &b));
    history_stop(&h); /* writes what the ring holds */
    CHECK(h == NULL);

    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_NEAR(query_double(db, "SELECT count(*) FROM sessions"), 2, 0);
    CHECK_NEAR(query_double(db, "PRAGMA user_version"), HISTORY_SCHEMA_VERSION, 0);
    CHECK_NEAR(query_double(db, "PRAGMA application_id"), HISTORY_APPLICATION_ID, 0);
    CHECK_NEAR(query_double(db, "SELECT holds FROM sessions WHERE device = 'ball'"), 3, 0);
    CHECK_NEAR(query_double(db, "SELECT release_trend FROM sessions WHERE device = 'ball'"), 0.025,
               1e-12);
    CHECK_NEAR(query_double(db, "SELECT duration_s FROM sessions WHERE device = 'ball'"), 60.0,
               1e-9);
    CHECK_NEAR(query_double(db, "SELECT t_end - t_start FROM sessions WHERE event_id = 9"), 60.0,
               1e-6);
    /* the other kind's figures and a figure not given are NULL */
    CHECK_NEAR(query_double(db, "SELECT strokes FROM sessions WHERE device = 'ball'"), -2.0, 0);
    CHECK_NEAR(query_double(db, "SELECT holds FROM sessions WHERE device = 'scraper'"), -2.0, 0);
    CHECK_NEAR(query_double(db, "SELECT count(*) FROM sessions WHERE participant = 'P01' AND "
                                "task = 'calf' AND end_reason = 'idle' AND serial LIKE 'SN-%'"),
               2, 0);
    CHECK_NEAR(query_double(db, "SELECT count(*) FROM recordings r JOIN sessions s ON "
                                "r.session_id = s.id WHERE s.event_id = 7 AND r.file LIKE "
                                "'/rec/%-7.xdf'"),
               2, 0);
    sqlite3_close(db);

    /* Opened again, the file takes more rows after the first ones. */
    h = history_start(path);
    history_row_t c = make_row("ball", DEVICE_KIND_BALL, 11, 1.7e9 + 200);
    CHECK(history_push(h, &c));
    history_stop(&h);
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_NEAR(query_double(db, "SELECT count(*) FROM sessions"), 3, 0);
    CHECK_NEAR(query_double(db, "SELECT max(id) FROM sessions WHERE event_id = 11"), 3, 0);
    sqlite3_close(db);
}

static void test_a_foreign_file_is_refused(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/other.db", dir);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ_INT(
        sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    struct stat before, after;
    CHECK_EQ_INT(stat(path, &before), 0);
    history_t *h = history_start(path);
    CHECK(h != NULL);
    history_status_t st;
    history_status(h, &st);
    CHECK(!st.active);
    CHECK(strstr(st.error, "another program's database") != NULL);
    /* a stopped history takes nothing and counts it */
    history_row_t a = make_row("ball", DEVICE_KIND_BALL, 1, 1.7e9);
    CHECK(!history_push(h, &a));
    history_status(h, &st);
    CHECK_EQ_INT((int)st.lost, 1);
    history_stop(&h);
    CHECK_EQ_INT(stat(path, &after), 0);
    CHECK_EQ_INT((int)after.st_size, (int)before.st_size);
    CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
          after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", path);
    CHECK(access(wal, F_OK) != 0);
}

static void test_no_history(void)
{
    /* NULL is history off: nothing taken, status empty */
    history_row_t a = make_row("ball", DEVICE_KIND_BALL, 1, 1.7e9);
    CHECK(!history_push(NULL, &a));
    history_status_t st;
    history_status(NULL, &st);
    CHECK(!st.active && st.sessions == 0);
    history_stop(NULL);
}

int main(void)
{
    test_dir_make(dir);
    test_rows_are_written_and_read_back();
    test_a_foreign_file_is_refused();
    test_no_history();
    test_dir_remove(dir);
    return CHECK_DONE();
}
