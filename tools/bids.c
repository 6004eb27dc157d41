#include "bids.h"

#include "json_read.h"
#include "path.h"
#include "recording.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BIDS_VERSION "1.9.0"
#define STANDARD_GRAVITY 9.80665 /* m/s^2 per g */
#define MAX_SCANS 4096
#define MAX_COLUMNS 64

/* A recording's BIDS names: labels reduced to what BIDS allows. */
typedef struct {
    char sub[STUDY_LABEL_MAX], ses[STUDY_LABEL_MAX], task[STUDY_LABEL_MAX];
    char acq[STUDY_LABEL_MAX], run[STUDY_LABEL_MAX];
    char dir[3000];    /* OUT/sub-P[/ses-S] */
    char prefix[400];  /* sub-P[_ses-S]_task-T */
    char entities[200]; /* [_acq-A][_run-R] */
} names_t;

typedef struct {
    char sub[STUDY_LABEL_MAX], ses[STUDY_LABEL_MAX];
    char file[900]; /* relative to the subject's (session's) directory */
    double t0;      /* Unix seconds of the first sample */
} scan_t;

typedef struct {
    scan_t scans[MAX_SCANS];
    int n_scans;
    char subjects[MAX_SCANS][STUDY_LABEL_MAX];
    int n_subjects;
} dataset_t;

static int fail(const char *path, int err)
{
    fprintf(stderr, "massaged-export: %s: %s\n", path, strerror(err));
    return -err;
}

static int mkdirs(const char *dir)
{
    int rc = path_make_dirs(dir);
    return rc ? fail(dir, -rc) : 0;
}

static FILE *create(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fail(path, errno);
    return f;
}

static int finish(FILE *f, const char *path)
{
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return fail(path, errno ? errno : EIO);
    return 0;
}

/* A BIDS label: letters and digits only (a run: digits only). What else
 * a study's label holds is left out; nothing left is an error. */
static int bids_label(char *out, const char *label, bool digits, const char *what,
                      const char *path)
{
    size_t n = 0;
    for (const char *s = label; *s && n + 1 < STUDY_LABEL_MAX; s++)
        if (digits ? isdigit((unsigned char)*s) : isalnum((unsigned char)*s))
            out[n++] = *s;
    out[n] = '\0';
    if (strcmp(out, label) != 0 && n > 0)
        fprintf(stderr, "massaged-export: %s: %s '%s' is '%s' in BIDS names\n", path, what, label,
                out);
    if (n == 0 && label[0]) {
        fprintf(stderr, "massaged-export: %s: %s '%s' has no letter or digit BIDS can use\n",
                path, what, label);
        return -EINVAL;
    }
    return 0;
}

static int names_of(names_t *nm, const char *out, const recording_t *rec, const char *path)
{
    const study_labels_t *l = &rec->labels;
    int rc = bids_label(nm->sub, l->participant, false, "participant", path);
    if (!rc)
        rc = bids_label(nm->ses, l->session, false, "session", path);
    if (!rc)
        rc = bids_label(nm->task, l->task, false, "task", path);
    if (!rc)
        rc = bids_label(nm->acq, l->acquisition, false, "acquisition", path);
    if (!rc)
        rc = bids_label(nm->run, l->run, true, "run", path);
    if (rc)
        return rc;
    if (!nm->sub[0] || !nm->task[0]) {
        fprintf(stderr, "massaged-export: %s: BIDS needs a participant and a task\n", path);
        return -EINVAL;
    }
    if (nm->ses[0]) {
        snprintf(nm->dir, sizeof nm->dir, "%s/sub-%s/ses-%s", out, nm->sub, nm->ses);
        snprintf(nm->prefix, sizeof nm->prefix, "sub-%s_ses-%s_task-%s", nm->sub, nm->ses,
                 nm->task);
    } else {
        snprintf(nm->dir, sizeof nm->dir, "%s/sub-%s", out, nm->sub);
        snprintf(nm->prefix, sizeof nm->prefix, "sub-%s_task-%s", nm->sub, nm->task);
    }
    snprintf(nm->entities, sizeof nm->entities, "%s%s%s%s", nm->acq[0] ? "_acq-" : "", nm->acq,
             nm->run[0] ? "_run-" : "", nm->run);
    return 0;
}

/* BIDS date-time with microseconds, UTC. */
static void bids_time(char *out, size_t cap, double t)
{
    time_t s = (time_t)floor(t);
    struct tm tm;
    gmtime_r(&s, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    long us = lround((t - (double)s) * 1e6);
    if (us > 999999)
        us = 999999;
    snprintf(out, cap, "%s.%06ld", day, us);
}

/* A JSON string value for a sidecar (our labels and serials need no more
 * escaping than quotes and backslashes; control characters are dropped). */
static void json_text(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('"', f);
}


/* The device's channels in the motion file, with the recorder channel each
 * comes from (named as in the XDF stream, xdf_channels), or -1 for the
 * latency, and the factor to BIDS's SI units. */
static const struct {
    const char *component, *type, *units_ball, *units_scraper;
    int channel;
    double scale;
} channels[] = {
    {"n/a", "MISC", "Pa", "N", XDF_CH_P, 1.0},
    {"x", "ACCEL", "m/s^2", "m/s^2", XDF_CH_ACC_X, STANDARD_GRAVITY},
    {"y", "ACCEL", "m/s^2", "m/s^2", XDF_CH_ACC_Y, STANDARD_GRAVITY},
    {"z", "ACCEL", "m/s^2", "m/s^2", XDF_CH_ACC_Z, STANDARD_GRAVITY},
    {"x", "GYRO", "rad/s", "rad/s", XDF_CH_GYR_X, M_PI / 180.0},
    {"y", "GYRO", "rad/s", "rad/s", XDF_CH_GYR_Y, M_PI / 180.0},
    {"z", "GYRO", "rad/s", "rad/s", XDF_CH_GYR_Z, M_PI / 180.0},
    {"n/a", "LATENCY", "s", "s", -1, 1.0},
};
#define N_CHANNELS ((int)(sizeof channels / sizeof channels[0]))

static int write_stream(const names_t *nm, const recording_stream_t *s, const char *tracksys,
                        dataset_t *ds)
{
    char base[800], path[4096];
    snprintf(base, sizeof base, "%s_tracksys-%s%s", nm->prefix, tracksys, nm->entities);
    bool ball = s->kind == DEVICE_KIND_BALL;
    int rc;

    snprintf(path, sizeof path, "%s/motion/%s_motion.tsv", nm->dir, base);
    FILE *f = create(path);
    if (!f)
        return -EIO;
    for (size_t i = 0; i < s->n; i++) {
        const double *v = s->values + i * XDF_CHANNELS;
        for (int c = 0; c < N_CHANNELS; c++) {
            /* Latency on the device's own clock: strictly increasing and
             * free of the host mapping's jitter (docs/CLOCK.md); the first
             * sample's host time is the scans.tsv acq_time. */
            if (channels[c].channel < 0)
                fprintf(f, "%.6f\n", v[XDF_CH_T_DEV] - s->values[XDF_CH_T_DEV]);
            else
                fprintf(f, "%.9g\t", v[channels[c].channel] * channels[c].scale);
        }
    }
    if ((rc = finish(f, path)) != 0)
        return rc;

    snprintf(path, sizeof path, "%s/motion/%s_channels.tsv", nm->dir, base);
    if (!(f = create(path)))
        return -EIO;
    fprintf(f, "name\tcomponent\ttype\ttracked_point\tunits\n");
    for (int c = 0; c < N_CHANNELS; c++)
        fprintf(f, "%s\t%s\t%s\t%s\t%s\n",
                channels[c].channel >= 0 ? xdf_channels[channels[c].channel].label : "latency",
                channels[c].component,
                channels[c].type, tracksys, ball ? channels[c].units_ball : channels[c].units_scraper);
    if ((rc = finish(f, path)) != 0)
        return rc;

    snprintf(path, sizeof path, "%s/motion/%s_motion.json", nm->dir, base);
    if (!(f = create(path)))
        return -EIO;
    double duration = s->n > 1 ? s->stamps[s->n - 1] - s->stamps[0] : 0.0;
    char firmware[32];
    snprintf(firmware, sizeof firmware, "firmware %u.%u", s->hello.fw_major, s->hello.fw_minor);
    fprintf(f, "{\n  \"TaskName\": ");
    json_text(f, nm->task);
    fprintf(f, ",\n  \"SamplingFrequency\": %u,\n", s->hello.rate_hz);
    if (duration > 0)
        fprintf(f, "  \"SamplingFrequencyEffective\": %.6f,\n", (double)(s->n - 1) / duration);
    fprintf(f, "  \"RecordingDuration\": %.6f,\n  \"TrackingSystemName\": ", duration);
    json_text(f, s->name);
    fprintf(f, ",\n  \"ManufacturersModelName\": \"%s\",\n  \"DeviceSerialNumber\": ",
            ball ? "massage ball" : "scraping tool");
    json_text(f, s->hello.serial[0] ? s->hello.serial : "n/a");
    fprintf(f, ",\n  \"SoftwareVersions\": \"%s\",\n", firmware);
    fprintf(f, "  \"TrackedPointsCount\": 1,\n  \"MotionChannelCount\": %d,\n"
               "  \"ACCELChannelCount\": 3,\n  \"GYROChannelCount\": 3,\n"
               "  \"MISCChannelCount\": 1,\n  \"LATENCYChannelCount\": 1\n}\n",
            N_CHANNELS);
    if ((rc = finish(f, path)) != 0)
        return rc;

    if (ds->n_scans == MAX_SCANS)
        return fail(path, ENOSPC);
    scan_t *sc = &ds->scans[ds->n_scans++];
    snprintf(sc->sub, sizeof sc->sub, "%s", nm->sub);
    snprintf(sc->ses, sizeof sc->ses, "%s", nm->ses);
    snprintf(sc->file, sizeof sc->file, "motion/%s_motion.tsv", base);
    sc->t0 = s->n ? s->stamps[0] : 0.0;
    printf("%s: %zu samples\n", path, s->n);
    return 0;
}

/* ---- events.tsv: onset, duration, trial_type, then every event field */

typedef struct {
    char names[MAX_COLUMNS][64];
    int n;
    /* a row being written: each column's value text */
    const char *value[MAX_COLUMNS];
    size_t value_len[MAX_COLUMNS];
} columns_t;

static int column(columns_t *cols, const char *key, size_t len)
{
    for (int i = 0; i < cols->n; i++)
        if (strlen(cols->names[i]) == len && memcmp(cols->names[i], key, len) == 0)
            return i;
    if (cols->n == MAX_COLUMNS || len >= sizeof cols->names[0])
        return -1;
    snprintf(cols->names[cols->n], sizeof cols->names[0], "%.*s", (int)len, key);
    return cols->n++;
}

/* Adds the event's fields to the columns; with fill, also sets the row's
 * values. False when the payload is not a JSON object. */
static bool members(columns_t *cols, const recording_event_t *e, bool fill)
{
    json_read_t r;
    if (!json_read_begin(&r, e->json, e->len))
        return false;
    const char *key, *value;
    size_t key_len, value_len;
    while (json_read_next(&r, &key, &key_len, &value, &value_len)) {
        int i = column(cols, key, key_len);
        if (fill && i >= 0) {
            cols->value[i] = value;
            cols->value_len[i] = value_len;
        }
    }
    return true;
}

/* A JSON value as a TSV cell: strings without their quotes, null as n/a. */
static void cell(FILE *f, const char *v, size_t len)
{
    if (!v || (len == 4 && memcmp(v, "null", 4) == 0)) {
        fputs("n/a", f);
        return;
    }
    if (len >= 2 && v[0] == '"') {
        v++;
        len -= 2;
    }
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '\\' && i + 1 < len && (v[i + 1] == '"' || v[i + 1] == '\\'))
            i++;
        fputc(v[i] == '\t' ? ' ' : v[i], f);
    }
}

/* The events.tsv's data dictionary: what each event field means. */
static int write_events_sidecar(const char *tsv, const columns_t *cols)
{
    static const struct {
        const char *name, *description;
    } known[] = {
        {"v", "massaged event schema version"},
        {"device", "device name ([device.NAME] of the daemon's configuration)"},
        {"kind", "ball or scraper"},
        {"type", "event type (docs/EVENTS.md); the same as trial_type"},
        {"phase", "start, end or instant; an end row spans its event (onset at its start)"},
        {"t_dev", "device time of the event (of the end, for an end), seconds"},
        {"t_host", "the same instant as Unix time, seconds"},
        {"id", "per-device counter; a start and its end share one id"},
        {"t_start_dev", "end only: device time of the start, seconds"},
        {"duration_s", "end only: t_dev - t_start_dev, seconds"},
    };
    char path[4200];
    snprintf(path, sizeof path, "%.*s.json", (int)(strlen(tsv) - 4), tsv);
    FILE *f = create(path);
    if (!f)
        return -EIO;
    fputs("{\n  \"trial_type\": {\"Description\": \"the event's type (docs/EVENTS.md)\"}", f);
    for (int c = 0; c < cols->n; c++) {
        const char *d = "a field of the event's payload (docs/EVENTS.md)";
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (strcmp(known[k].name, cols->names[c]) == 0)
                d = known[k].description;
        fprintf(f, ",\n  \"%s\": {\"Description\": \"%s\"}", cols->names[c], d);
    }
    fputs("\n}\n", f);
    return finish(f, path);
}

static int write_events(const names_t *nm, const recording_t *rec, double t0)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/motion/%s%s_events.tsv", nm->dir, nm->prefix, nm->entities);
    static columns_t cols;
    memset(&cols, 0, sizeof cols);
    for (size_t i = 0; i < rec->n_events; i++)
        members(&cols, &rec->events[i], false);
    FILE *f = create(path);
    if (!f)
        return -EIO;
    fputs("onset\tduration\ttrial_type", f);
    for (int c = 0; c < cols.n; c++)
        fprintf(f, "\t%s", cols.names[c]);
    fputc('\n', f);
    for (size_t i = 0; i < rec->n_events; i++) {
        const recording_event_t *e = &rec->events[i];
        memset(cols.value, 0, sizeof cols.value);
        if (!members(&cols, e, true))
            continue;
        char type[64] = "n/a", phase[16] = "";
        double duration = 0.0;
        json_read_string(e->json, e->len, "type", type, sizeof type);
        json_read_string(e->json, e->len, "phase", phase, sizeof phase);
        /* An `end` spans its whole event: it starts duration_s before it. */
        if (strcmp(phase, "end") != 0 ||
            !json_read_number(e->json, e->len, "duration_s", &duration))
            duration = 0.0;
        fprintf(f, "%.6f\t%.6f\t%s", e->stamp - duration - t0, duration, type);
        for (int c = 0; c < cols.n; c++) {
            fputc('\t', f);
            cell(f, cols.value[c], cols.value_len[c]);
        }
        fputc('\n', f);
    }
    int rc = finish(f, path);
    if (rc == 0)
        printf("%s: %zu events\n", path, rec->n_events);
    if (rc == 0)
        rc = write_events_sidecar(path, &cols);
    return rc;
}

/* ---- the source files, and the dataset's own files */

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return fail(from, errno);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return fail(to, errno);
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0 && rc == 0)
        for (ssize_t done = 0; done < n && rc == 0;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0)
                rc = fail(to, errno);
            else
                done += w;
        }
    if (n < 0 && rc == 0)
        rc = fail(from, errno);
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = fail(to, errno);
    return rc;
}

static int export_recording(const char *out, char *const *paths, int n, dataset_t *ds)
{
    recording_t rec;
    if (recording_load(&rec, paths, n) != 0)
        return -EIO;
    names_t nm;
    int rc = names_of(&nm, out, &rec, paths[0]);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/motion", nm.dir);
    if (rc == 0)
        rc = mkdirs(dir);
    double t0 = INFINITY;
    for (int k = 0; k < rec.n_streams; k++)
        if (rec.streams[k].n && rec.streams[k].stamps[0] < t0)
            t0 = rec.streams[k].stamps[0];
    if (!isfinite(t0))
        t0 = rec.n_events ? rec.events[0].stamp : 0.0;
    for (int k = 0; k < rec.n_streams && rc == 0; k++) {
        /* A device whose HELLO changed has one stream per HELLO: ball, ball2, ... */
        char tracksys[STUDY_LABEL_MAX + 12];
        int nth = 1;
        for (int j = 0; j < k; j++)
            nth += strcmp(rec.streams[j].name, rec.streams[k].name) == 0;
        char name[STUDY_LABEL_MAX];
        rc = bids_label(name, rec.streams[k].name, false, "device", paths[0]);
        if (rc == 0 && nth > 1)
            snprintf(tracksys, sizeof tracksys, "%s%d", name, nth);
        else
            snprintf(tracksys, sizeof tracksys, "%s", name);
        if (rc == 0)
            rc = write_stream(&nm, &rec.streams[k], tracksys, ds);
    }
    if (rc == 0)
        rc = write_events(&nm, &rec, t0);
    char src[4200];
    snprintf(src, sizeof src, "%s/sourcedata/%s/motion", out, nm.dir + strlen(out) + 1);
    if (rc == 0)
        rc = mkdirs(src);
    for (int i = 0; i < n && rc == 0; i++) {
        const char *slash = strrchr(paths[i], '/');
        char to[4600];
        snprintf(to, sizeof to, "%s/%s", src, slash ? slash + 1 : paths[i]);
        rc = copy_file(paths[i], to);
    }
    if (rc == 0) {
        bool known = false;
        for (int i = 0; i < ds->n_subjects && !known; i++)
            known = strcmp(ds->subjects[i], nm.sub) == 0;
        if (!known && ds->n_subjects < MAX_SCANS)
            snprintf(ds->subjects[ds->n_subjects++], STUDY_LABEL_MAX, "%s", nm.sub);
    }
    recording_free(&rec);
    return rc;
}

static int cmp_subjects(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int write_dataset(const char *out, dataset_t *ds)
{
    char path[4200];
    int rc;
    snprintf(path, sizeof path, "%s/dataset_description.json", out);
    FILE *f = create(path);
    if (!f)
        return -EIO;
    fprintf(f,
            "{\n  \"Name\": \"massaged recordings\",\n  \"BIDSVersion\": \"" BIDS_VERSION "\",\n"
            "  \"DatasetType\": \"raw\",\n  \"GeneratedBy\": [{\"Name\": \"massaged-export\", "
            "\"Version\": \"%s\"}]\n}\n",
            MASSAGED_VERSION);
    if ((rc = finish(f, path)) != 0)
        return rc;

    snprintf(path, sizeof path, "%s/README", out);
    if (access(path, F_OK) != 0) {
        if (!(f = create(path)))
            return -EIO;
        fputs("Recordings of a massage ball and a scraping tool made by massaged and exported\n"
              "with massaged-export --bids. The source XDF files are under sourcedata/.\n",
              f);
        if ((rc = finish(f, path)) != 0)
            return rc;
    }

    qsort(ds->subjects, (size_t)ds->n_subjects, sizeof ds->subjects[0], cmp_subjects);
    snprintf(path, sizeof path, "%s/participants.tsv", out);
    if (!(f = create(path)))
        return -EIO;
    fputs("participant_id\n", f);
    for (int i = 0; i < ds->n_subjects; i++)
        fprintf(f, "sub-%s\n", ds->subjects[i]);
    if ((rc = finish(f, path)) != 0)
        return rc;

    /* One scans.tsv per subject and session, listing its motion files. */
    bool *done = calloc((size_t)ds->n_scans + 1, 1);
    if (!done)
        return -ENOMEM;
    for (int i = 0; i < ds->n_scans && rc == 0; i++) {
        if (done[i])
            continue;
        const scan_t *a = &ds->scans[i];
        if (a->ses[0])
            snprintf(path, sizeof path, "%s/sub-%s/ses-%s/sub-%s_ses-%s_scans.tsv", out, a->sub,
                     a->ses, a->sub, a->ses);
        else
            snprintf(path, sizeof path, "%s/sub-%s/sub-%s_scans.tsv", out, a->sub, a->sub);
        if (!(f = create(path))) {
            rc = -EIO;
            break;
        }
        fputs("filename\tacq_time\n", f);
        for (int j = i; j < ds->n_scans; j++) {
            const scan_t *b = &ds->scans[j];
            if (done[j] || strcmp(a->sub, b->sub) != 0 || strcmp(a->ses, b->ses) != 0)
                continue;
            char when[64];
            bids_time(when, sizeof when, b->t0);
            fprintf(f, "%s\t%s\n", b->file, when);
            done[j] = true;
        }
        rc = finish(f, path);
    }
    free(done);
    return rc;
}

static bool same_labels(const study_labels_t *a, const study_labels_t *b)
{
    return strcmp(a->participant, b->participant) == 0 && strcmp(a->session, b->session) == 0 &&
           strcmp(a->task, b->task) == 0 && strcmp(a->run, b->run) == 0 &&
           strcmp(a->acquisition, b->acquisition) == 0;
}

int bids_export(const char *out, char *const *paths, int n_paths)
{
    int rc = mkdirs(out);
    if (rc != 0)
        return rc;
    study_labels_t *labels = calloc((size_t)n_paths, sizeof *labels);
    bool *taken = calloc((size_t)n_paths, sizeof *taken);
    char **group = calloc((size_t)n_paths, sizeof *group);
    dataset_t *ds = calloc(1, sizeof *ds);
    if (!labels || !taken || !group || !ds) {
        rc = -ENOMEM;
        goto out;
    }
    /* Each file's labels: files of one recording (rotation) share them. */
    for (int i = 0; i < n_paths && rc == 0; i++) {
        recording_t rec;
        if (recording_load(&rec, &paths[i], 1) != 0) {
            rc = -EIO;
            break;
        }
        if (!rec.has_labels) {
            fprintf(stderr,
                    "massaged-export: %s: no study labels (recorded without a study's "
                    "filename/start); BIDS needs a participant and a task\n",
                    paths[i]);
            rc = -EINVAL;
        }
        labels[i] = rec.labels;
        recording_free(&rec);
    }
    for (int i = 0; i < n_paths && rc == 0; i++) {
        if (taken[i])
            continue;
        int n = 0;
        for (int j = i; j < n_paths; j++)
            if (!taken[j] && same_labels(&labels[i], &labels[j])) {
                taken[j] = true;
                group[n++] = paths[j];
            }
        rc = export_recording(out, group, n, ds);
    }
    if (rc == 0)
        rc = write_dataset(out, ds);
out:
    free(labels);
    free(taken);
    free(group);
    free(ds);
    return rc;
}
