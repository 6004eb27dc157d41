#include "recording.h"

#include "xdf.h"
#include "grow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return -ENOMEM;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    int err = ferror(f) ? -EIO : 0;
    fclose(f);
    if (err) {
        free(buf);
        return err;
    }
    *data = buf;
    *size = len;
    return 0;
}

static double num(const char *xml, size_t len, const char *within, const char *tag)
{
    char text[64];
    return xdf_xml_text(xml, len, within, tag, text, sizeof text) == 0 ? strtod(text, NULL) : 0;
}

/* Finds or adds the session stream a device StreamHeader describes. */
static int device_stream(recording_t *rec, const char *xml, size_t len)
{
    recording_stream_t s;
    memset(&s, 0, sizeof s);
    char text[64];
    if (xdf_xml_text(xml, len, NULL, "name", s.name, sizeof s.name) != 0)
        return -EINVAL;
    xdf_xml_text(xml, len, "device", "kind", text, sizeof text);
    s.kind = strcmp(text, "scraper") == 0 ? DEVICE_KIND_SCRAPER : DEVICE_KIND_BALL;
    s.hello.kind = (uint8_t)s.kind;
    xdf_xml_text(xml, len, "device", "serial", s.hello.serial, sizeof s.hello.serial);
    if (xdf_xml_text(xml, len, "device", "firmware", text, sizeof text) == 0) {
        unsigned major = 0, minor = 0;
        sscanf(text, "%u.%u", &major, &minor);
        s.hello.fw_major = (uint8_t)major;
        s.hello.fw_minor = (uint8_t)minor;
    }
    s.hello.rate_hz = (uint16_t)num(xml, len, "device", "rate_hz");
    s.hello.p_scale = (float)num(xml, len, "device", "p_scale");
    s.hello.acc_scale = (float)num(xml, len, "device", "acc_scale");
    s.hello.gyr_scale = (float)num(xml, len, "device", "gyr_scale");
    for (int i = 0; i < rec->n_streams; i++) {
        recording_stream_t *o = &rec->streams[i];
        if (strcmp(o->name, s.name) == 0 && o->kind == s.kind &&
            memcmp(&o->hello, &s.hello, sizeof s.hello) == 0)
            return i;
    }
    recording_stream_t *ns = realloc(rec->streams, (rec->n_streams + 1) * sizeof *ns);
    if (!ns)
        return -ENOMEM;
    rec->streams = ns;
    ns[rec->n_streams] = s;
    return rec->n_streams++;
}

static int add_sample(recording_stream_t *s, double stamp, const double *v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        double *st = realloc(s->stamps, cap * sizeof *st);
        if (!st)
            return -ENOMEM;
        s->stamps = st;
        double *va = realloc(s->values, cap * XDF_CHANNELS * sizeof *va);
        if (!va)
            return -ENOMEM;
        s->values = va;
        s->cap = cap;
    }
    s->stamps[s->n] = stamp;
    memcpy(s->values + s->n * XDF_CHANNELS, v, XDF_CHANNELS * sizeof *v);
    s->n++;
    return 0;
}

static int add_event(recording_t *rec, double stamp, const char *str, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, str, len);
    copy[len] = '\0';
    if (GROW_APPEND(rec->events, rec->cap_events, rec->n_events, 256,
                    (recording_event_t){stamp, copy, len}) != 0) {
        free(copy);
        return -ENOMEM;
    }
    return 0;
}

/* The <study> element the recorder writes into each stream header. */
static void study_labels(recording_t *rec, const char *xml, size_t len)
{
    study_labels_t *l = &rec->labels;
    if (xdf_xml_text(xml, len, "study", "participant", l->participant, sizeof l->participant) != 0)
        return;
    xdf_xml_text(xml, len, "study", "session", l->session, sizeof l->session);
    xdf_xml_text(xml, len, "study", "task", l->task, sizeof l->task);
    xdf_xml_text(xml, len, "study", "run", l->run, sizeof l->run);
    xdf_xml_text(xml, len, "study", "acquisition", l->acquisition, sizeof l->acquisition);
    rec->has_labels = true;
}

enum { MAP_NONE = -1, MAP_EVENTS = -2 };

static int load_one(recording_t *rec, const char *path)
{
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = read_file(path, &data, &size);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(-rc));
        return rc;
    }
    xdf_reader_t r;
    if (xdf_reader_init(&r, data, size) != 0) {
        fprintf(stderr, "%s: not an XDF file\n", path);
        free(data);
        return -EINVAL;
    }
    /* File stream id -> session stream (index, MAP_EVENTS or MAP_NONE). */
    int map[256];
    for (int i = 0; i < 256; i++)
        map[i] = MAP_NONE;
    xdf_chunk_t c;
    while (rc == 0 && xdf_reader_next(&r, &c) == 1) {
        if (c.stream_id >= 256)
            continue;
        if (c.tag == XDF_FILE_HEADER && !rec->datetime[0]) {
            xdf_xml_text((const char *)c.content, c.len, NULL, "datetime", rec->datetime,
                         sizeof rec->datetime);
        } else if (c.tag == XDF_STREAM_HEADER) {
            const char *xml = (const char *)c.content;
            char fmt[32];
            if (!rec->has_labels)
                study_labels(rec, xml, c.len);
            if (xdf_xml_text(xml, c.len, NULL, "channel_format", fmt, sizeof fmt) != 0)
                continue;
            if (strcmp(fmt, "string") == 0) {
                map[c.stream_id] = MAP_EVENTS;
            } else if (strcmp(fmt, "double64") == 0 &&
                       num(xml, c.len, NULL, "channel_count") == XDF_CHANNELS) {
                int k = device_stream(rec, xml, c.len);
                if (k == -ENOMEM)
                    rc = k;
                map[c.stream_id] = k >= 0 ? k : MAP_NONE;
            }
        } else if (c.tag == XDF_SAMPLES && map[c.stream_id] != MAP_NONE) {
            xdf_samples_t s;
            if (xdf_samples_begin(&s, &c) != 0)
                continue;
            double stamp, v[XDF_CHANNELS];
            const char *str;
            size_t len;
            if (map[c.stream_id] == MAP_EVENTS) {
                while (rc == 0 && xdf_samples_next_string(&s, &stamp, &str, &len) == 1)
                    rc = add_event(rec, stamp, str, len);
            } else {
                recording_stream_t *st = &rec->streams[map[c.stream_id]];
                while (rc == 0 && xdf_samples_next_double(&s, XDF_CHANNELS, &stamp, v) == 1)
                    rc = add_sample(st, stamp, v);
            }
        }
    }
    rec->damages += r.damages;
    rec->damaged_bytes += r.damaged_bytes;
    rec->truncated |= r.truncated;
    if (r.damages)
        fprintf(stderr, "%s: damaged in %u place%s (%llu bytes skipped)%s\n", path, r.damages,
                r.damages == 1 ? "" : "s", (unsigned long long)r.damaged_bytes,
                r.truncated ? ", cut off at the end" : "");
    free(data);
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", path, strerror(-rc));
    return rc;
}

int recording_load(recording_t *rec, char *const *paths, int n_paths)
{
    memset(rec, 0, sizeof *rec);
    for (int i = 0; i < n_paths; i++) {
        int rc = load_one(rec, paths[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void recording_free(recording_t *rec)
{
    for (int i = 0; i < rec->n_streams; i++) {
        free(rec->streams[i].stamps);
        free(rec->streams[i].values);
    }
    free(rec->streams);
    for (size_t i = 0; i < rec->n_events; i++)
        free(rec->events[i].json);
    free(rec->events);
    memset(rec, 0, sizeof *rec);
}
