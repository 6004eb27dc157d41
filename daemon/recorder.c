#include "recorder.h"

#include "log.h"
#include "path.h"
#include "ring.h"
#include "worker.h"
#include "xdf.h"
#include "now.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAKE_ITEMS (RECORDER_RING_ITEMS / 4) /* a ring this full wakes the recorder early */
#define MAX_STREAMS                                                                                \
    64                       /* device streams of one session (a device whose HELLO changes        \
                                gets a new one) */
#define PENDING_SAMPLES 1024 /* per stream, then a Samples chunk is written early */
#define PENDING_EVENTS 512
#define EVENT_BYTES (256 * 1024)
#define OUT_BYTES (1024 * 1024)
#define MARKER_STREAM_ID 1

enum { ITEM_STREAM, ITEM_BLOCK, ITEM_EVENT, ITEM_COMMAND };

/* Up to RECORDER_ITEM_SAMPLES samples of a block (one device frame): a block
 * of more goes in several items, so that an item, and with it the ring, which over
 * time is all resident, is sized for the usual frame and not the largest
 * (FRAME_MAX_SAMPLES: 4096 items took 6.6 MiB, now 1.8). */
typedef struct {
    uint64_t i0;   /* the block's first sample index */
    double t_dev;  /* the block's s[0] device time */
    double t_host; /* the block's mapped host time */
    uint8_t first; /* position in the block of s[0] of this item */
    uint8_t total; /* samples in the block */
    uint8_t n;     /* samples in this item */
    sample_t s[RECORDER_ITEM_SAMPLES];
} chunk_t;

/* One ring item. Events longer than text[] are split over several items
 * (`more` set on all but the last), so no event is ever cut; a command
 * (recorder_command_t) travels the same way, in pieces of its bytes. */
typedef struct {
    uint8_t kind;
    uint8_t slot;
    uint8_t more;
    uint16_t len;
    double t_host;
    union {
        struct {
            char name[CONFIG_NAME_MAX];
            device_kind_t kind;
            frame_hello_t hello;
        } stream;
        chunk_t block;
        char text[sizeof(chunk_t)];
    } u;
} item_t;

/* What the current file holds of one stream (a device's or the markers),
 * for its footer and its ClockOffset chunks. */
typedef struct {
    double first, last; /* time stamps, host clock seconds */
    uint64_t count;
    bool offset_due; /* samples arrived since the last ClockOffset chunk */
} written_t;

typedef struct {
    char name[CONFIG_NAME_MAX];
    device_kind_t kind;
    frame_hello_t hello;
    uint32_t id;
    char *header; /* the StreamHeader XML */
    size_t header_len;
    double *stamps;
    double *values;
    size_t n; /* pending samples */
    written_t written;
} stream_t;

struct recorder {
    ring_t *ring;
    worker_t worker; /* woken to stop, or by a ring filled past WAKE_ITEMS */
    atomic_uint_fast64_t dropped; /* producer-side count */

    /* Recorder thread only from here on. */
    char dir[4096];
    char session[64]; /* massaged-YYYYMMDD-HHMMSS */
    uint64_t rotate_bytes;
    double rotate_s;
    int fd;
    bool failed;
    char path[4096];
    unsigned file_number;
    uint64_t file_bytes;
    double file_started; /* monotonic seconds */
    bool unsynced;
    stream_t streams[MAX_STREAMS];
    int n_streams;
    int slot_stream[CONFIG_MAX_DEVICES]; /* index into streams, -1 none */
    char hostname[256];
    /* Study-driven recording (recorder_command): between a start and a stop
     * the files are named from `base` and carry `labels`; without one (idle)
     * items are taken off the ring and let go, streams still tracked so
     * that the next start knows every connected device. */
    bool continuous;     /* started with a directory: records from start-up */
    char base[4096];     /* the study's first file name, "" in continuous recording */
    study_labels_t labels;
    recorder_command_t command; /* being assembled from ITEM_COMMAND pieces */
    size_t command_used;
    /* pending events (marker stream) */
    char *event_text;
    size_t event_used;
    const char *event_ptr[PENDING_EVENTS];
    size_t event_len[PENDING_EVENTS];
    double event_stamp[PENDING_EVENTS];
    size_t n_events;
    bool assembling; /* the last event item had `more` set */
    written_t markers;
    uint8_t *out_mem;
    xdf_buf_t out;
    char xml[8192];
    char study_xml[2200]; /* the <study> element of the labels, "" without any */
    uint64_t samples_written, events_written, not_recorded, syncs, bytes_total;

    pthread_mutex_t status_lock; /* guards status: read once a second by the pipeline */
    recorder_status_t status;
};

/* ---------------------------------------------------------- producer side */

/* True, with a drop counted when not, if the ring has room for n items: the
 * pieces of one block or event all go in, or none. */
static bool room_for(recorder_t *rec, size_t n)
{
    if (ring_capacity(rec->ring) - ring_count(rec->ring) >= n)
        return true;
    atomic_fetch_add_explicit(&rec->dropped, 1, memory_order_relaxed);
    return false;
}

/* The recorder sleeps up to a batch period; a producer much faster than real
 * time (a fast simulated session) wakes it when the n items just committed
 * took the ring past a quarter, once per crossing, so a burst cannot fill the
 * ring while it sleeps. (A recorder emptying the ring meanwhile is awake.) */
static void committed(recorder_t *rec, size_t n)
{
    size_t count = ring_count(rec->ring);
    if (count >= WAKE_ITEMS && count - n < WAKE_ITEMS)
        worker_wake(&rec->worker);
}

void recorder_stream(recorder_t *rec, int slot, const char *name, device_kind_t kind,
                     const frame_hello_t *hello)
{
    if (!rec)
        return;
    if (!room_for(rec, 1))
        return;
    item_t *it = ring_reserve(rec->ring); /* room was counted */
    it->kind = ITEM_STREAM;
    it->slot = (uint8_t)slot;
    snprintf(it->u.stream.name, sizeof it->u.stream.name, "%s", name);
    it->u.stream.kind = kind;
    it->u.stream.hello = *hello;
    ring_commit(rec->ring);
    committed(rec, 1);
}

void recorder_block(recorder_t *rec, int slot, const message_block_t *block)
{
    if (!rec)
        return;
    unsigned pieces =
        block->n == 0 ? 1 : (block->n + RECORDER_ITEM_SAMPLES - 1) / RECORDER_ITEM_SAMPLES;
    if (!room_for(rec, pieces))
        return;
    for (unsigned k = 0; k < pieces; k++) {
        item_t *it = ring_reserve(rec->ring); /* room was counted */
        unsigned first = k * RECORDER_ITEM_SAMPLES;
        unsigned n =
            block->n - first < RECORDER_ITEM_SAMPLES ? block->n - first : RECORDER_ITEM_SAMPLES;
        it->kind = ITEM_BLOCK;
        it->slot = (uint8_t)slot;
        it->u.block.i0 = block->i0;
        it->u.block.t_dev = block->t_dev;
        it->u.block.t_host = block->t_host;
        it->u.block.first = (uint8_t)first;
        it->u.block.total = (uint8_t)block->n;
        it->u.block.n = (uint8_t)n;
        memcpy(it->u.block.s, block->s + first, n * sizeof block->s[0]);
        ring_commit(rec->ring);
    }
    committed(rec, pieces);
}

/* Pushes len bytes as `pieces` items of the given kind (room was counted). */
static void push_pieces(recorder_t *rec, uint8_t kind, double t_host, const void *bytes,
                        size_t len, size_t pieces)
{
    size_t piece = sizeof((item_t *)0)->u.text;
    for (size_t k = 0; k < pieces; k++) {
        item_t *it = ring_reserve(rec->ring);
        size_t n = len - k * piece < piece ? len - k * piece : piece;
        it->kind = kind;
        it->more = k + 1 < pieces;
        it->len = (uint16_t)n;
        it->t_host = t_host;
        memcpy(it->u.text, (const char *)bytes + k * piece, n);
        ring_commit(rec->ring);
    }
    committed(rec, pieces);
}

static size_t pieces_of(size_t len)
{
    size_t piece = sizeof((item_t *)0)->u.text;
    return len == 0 ? 1 : (len + piece - 1) / piece;
}

void recorder_event(recorder_t *rec, double t_host, const char *json, size_t len)
{
    if (!rec)
        return;
    /* All pieces of an event go in, or none: a torn event would corrupt the
     * next one's text. */
    size_t pieces = pieces_of(len);
    if (room_for(rec, pieces))
        push_pieces(rec, ITEM_EVENT, t_host, json, len, pieces);
}

bool recorder_command(recorder_t *rec, const recorder_command_t *cmd)
{
    if (!rec)
        return true;
    size_t pieces = pieces_of(sizeof *cmd);
    /* Not counted as a drop: the caller keeps the command and tries again. */
    if (ring_capacity(rec->ring) - ring_count(rec->ring) < pieces)
        return false;
    push_pieces(rec, ITEM_COMMAND, 0.0, cmd, sizeof *cmd, pieces);
    worker_wake(&rec->worker); /* a start or stop takes effect now, not at the next batch */
    return true;
}

/* ---------------------------------------------------------- recorder thread */

static void set_error(recorder_t *rec, const char *op, int err)
{
    rec->failed = true;
    pthread_mutex_lock(&rec->status_lock);
    if (snprintf(rec->status.error, sizeof rec->status.error, "%s: %s: %s", rec->path, op,
                 strerror(err)) < 0)
        rec->status.error[0] = '\0';
    rec->status.active = false;
    pthread_mutex_unlock(&rec->status_lock);
    log_error("recording stopped: %s: %s: %s; streaming and publishing go on", rec->path, op,
              strerror(err));
    if (rec->fd >= 0) {
        close(rec->fd);
        rec->fd = -1;
    }
    rec->out.len = 0;
}

/* Writes the output buffer to the file. */
static void write_out(recorder_t *rec)
{
    if (rec->failed || rec->fd < 0) {
        rec->out.len = 0;
        return;
    }
    size_t done = 0;
    while (done < rec->out.len) {
        ssize_t w = write(rec->fd, rec->out.data + done, rec->out.len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            set_error(rec, "write", errno);
            return;
        }
        done += (size_t)w;
    }
    rec->file_bytes += done;
    rec->bytes_total += done;
    rec->out.len = 0;
    rec->unsynced = true;
}

/* Makes room for `need` bytes in the output buffer. */
static void room(recorder_t *rec, size_t need)
{
    if (rec->out.cap - rec->out.len < need)
        write_out(rec);
}

static void sync_file(recorder_t *rec, bool full)
{
    if (rec->failed || rec->fd < 0 || !rec->unsynced)
        return;
    if ((full ? fsync(rec->fd) : fdatasync(rec->fd)) != 0) {
        set_error(rec, full ? "fsync" : "fdatasync", errno);
        return;
    }
    rec->unsynced = false;
    rec->syncs++;
}

static void fmt_float(char *buf, size_t cap, double v)
{
    snprintf(buf, cap, "%.9g", v);
}

/* The StreamHeader XML of a device stream (LSL's names and layout). */
static int build_device_header(recorder_t *rec, stream_t *s)
{
    char name[CONFIG_NAME_MAX * 6], serial[FRAME_SERIAL_LEN * 6 + 1], host[1600];
    xdf_xml_escape(name, sizeof name, s->name);
    xdf_xml_escape(serial, sizeof serial, s->hello.serial);
    xdf_xml_escape(host, sizeof host, rec->hostname);
    bool ball = s->kind == DEVICE_KIND_BALL;
    char ps[32], as[32], gs[32];
    fmt_float(ps, sizeof ps, s->hello.p_scale);
    fmt_float(as, sizeof as, s->hello.acc_scale);
    fmt_float(gs, sizeof gs, s->hello.gyr_scale);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char *x = rec->xml;
    size_t cap = sizeof rec->xml;
    int n =
        snprintf(x, cap,
                 "<?xml version=\"1.0\"?>\n<info>\n"
                 "<name>%s</name>\n<type>%s</type>\n<channel_count>%d</channel_count>\n"
                 "<nominal_srate>%u</nominal_srate>\n<channel_format>double64</channel_format>\n"
                 "<source_id>massaged:%s:%s:%s</source_id>\n<version>1.1000000000000001</version>\n"
                 "<created_at>%.6f</created_at>\n<hostname>%s</hostname>\n"
                 "<desc>\n<acquisition><manufacturer>massaged</manufacturer>"
                 "<software>massaged %s</software></acquisition>\n"
                 "<device><name>%s</name><kind>%s</kind><serial>%s</serial>"
                 "<firmware>%u.%u</firmware><rate_hz>%u</rate_hz><p_scale>%s</p_scale>"
                 "<acc_scale>%s</acc_scale><gyr_scale>%s</gyr_scale></device>\n"
                 "<clock><timestamps>host CLOCK_REALTIME seconds, device time mapped by "
                 "massaged</timestamps><device_time_channel>t_dev</device_time_channel></clock>\n"
                 "%s<channels>\n",
                 name, ball ? "MassageBall" : "ScrapingTool", XDF_CHANNELS, s->hello.rate_hz,
                 device_kind_name(s->kind), serial, name, (double)now.tv_sec + now.tv_nsec * 1e-9,
                 host, MASSAGED_VERSION, name, device_kind_name(s->kind), serial, s->hello.fw_major,
                 s->hello.fw_minor, s->hello.rate_hz, ps, as, gs, rec->study_xml);
    for (int c = 0; c < XDF_CHANNELS && n > 0 && (size_t)n < cap; c++) {
        const xdf_channel_info_t *ch = &xdf_channels[c];
        n += snprintf(x + n, cap - (size_t)n,
                      "<channel><label>%s</label><unit>%s</unit><type>%s</type></channel>\n",
                      ch->label, ball ? ch->unit_ball : ch->unit_scraper,
                      ball ? ch->type_ball : ch->type_scraper);
    }
    if (n > 0 && (size_t)n < cap)
        n += snprintf(x + n, cap - (size_t)n, "</channels>\n</desc>\n</info>\n");
    if (n < 0 || (size_t)n >= cap)
        return -ENOBUFS;
    s->header = malloc((size_t)n);
    if (!s->header)
        return -ENOMEM;
    memcpy(s->header, x, (size_t)n);
    s->header_len = (size_t)n;
    return 0;
}

static int marker_header(recorder_t *rec)
{
    char host[1600];
    xdf_xml_escape(host, sizeof host, rec->hostname);
    return snprintf(
        rec->xml, sizeof rec->xml,
        "<?xml version=\"1.0\"?>\n<info>\n<name>events</name>\n<type>Markers</type>\n"
        "<channel_count>1</channel_count>\n<nominal_srate>0</nominal_srate>\n"
        "<channel_format>string</channel_format>\n"
        "<source_id>massaged:events:%s</source_id>\n"
        "<version>1.1000000000000001</version>\n<hostname>%s</hostname>\n"
        "<desc><acquisition><manufacturer>massaged</manufacturer>"
        "<software>massaged %s</software></acquisition>"
        "<content>the JSON payload of every published event.&lt;device&gt;.&lt;type&gt; "
        "message (docs/EVENTS.md), time stamped with its t_host</content>%s"
        "<channels><channel><label>event</label><type>JSON</type></channel>"
        "</channels></desc>\n</info>\n",
        host, host, MASSAGED_VERSION, rec->study_xml);
}

static void put_stream_header(recorder_t *rec, stream_t *s)
{
    room(rec, s->header_len + 16);
    xdf_put_stream_header(&rec->out, s->id, s->header, s->header_len);
}

static void footer(recorder_t *rec, uint32_t id, const written_t *w)
{
    int n = snprintf(rec->xml, sizeof rec->xml,
                     "<?xml version=\"1.0\"?>\n<info>\n<first_timestamp>%.17g</first_timestamp>\n"
                     "<last_timestamp>%.17g</last_timestamp>\n<sample_count>%llu</sample_count>\n"
                     "</info>\n",
                     w->count ? w->first : 0.0, w->count ? w->last : 0.0,
                     (unsigned long long)w->count);
    room(rec, (size_t)n + 16);
    xdf_put_stream_footer(&rec->out, id, rec->xml, (size_t)n);
}

/* Counts n samples with these time stamps as written to the file. */
static void written_add(written_t *w, const double *stamps, size_t n)
{
    if (w->count == 0)
        w->first = stamps[0];
    w->last = stamps[n - 1];
    w->count += n;
    w->offset_due = true;
}

static void flush_stream(recorder_t *rec, stream_t *s)
{
    if (s->n == 0)
        return;
    if (rec->fd >= 0) {
        room(rec, xdf_samples_double_size(XDF_CHANNELS, s->n));
        xdf_put_samples_double(&rec->out, s->id, XDF_CHANNELS, s->n, s->stamps, s->values);
        written_add(&s->written, s->stamps, s->n);
        rec->samples_written += s->n;
    } else if (rec->failed) {
        rec->not_recorded += s->n;
    } /* else idle: between recordings */
    s->n = 0;
}

static void flush_events(recorder_t *rec)
{
    if (rec->n_events == 0)
        return;
    if (rec->fd >= 0) {
        room(rec, xdf_samples_string_size(rec->n_events, rec->event_len));
        xdf_put_samples_string(&rec->out, MARKER_STREAM_ID, rec->n_events, rec->event_stamp,
                               rec->event_ptr, rec->event_len);
        written_add(&rec->markers, rec->event_stamp, rec->n_events);
        rec->events_written += rec->n_events;
    }
    rec->n_events = 0;
    rec->event_used = 0;
}

static void flush_all(recorder_t *rec)
{
    for (int i = 0; i < rec->n_streams; i++)
        flush_stream(rec, &rec->streams[i]);
    flush_events(rec);
}

/* A ClockOffset chunk for stream id, if samples came since its last one. */
static void clock_offset(recorder_t *rec, uint32_t id, written_t *w)
{
    if (!w->offset_due)
        return;
    room(rec, 32);
    xdf_put_clock_offset(&rec->out, id, w->last, 0.0);
    w->offset_due = false;
}

/* The daemon has already mapped device time onto the host clock, so each
 * stream's time stamps are in the recording host's clock and the offset is
 * zero by construction; readers that apply ClockOffset chunks (pyxdf,
 * load_xdf) leave the time stamps as they are. The mapping itself is kept per
 * sample: the t_dev channel next to each time stamp. */
static void clock_offsets(recorder_t *rec)
{
    if (rec->fd < 0) /* failed, or between a study's recordings */
        return;
    clock_offset(rec, MARKER_STREAM_ID, &rec->markers);
    for (int i = 0; i < rec->n_streams; i++)
        clock_offset(rec, rec->streams[i].id, &rec->streams[i].written);
}

static void boundary(recorder_t *rec)
{
    if (rec->fd < 0)
        return;
    room(rec, 32);
    xdf_put_boundary(&rec->out);
}

/* The session's name: massaged-YYYYMMDD-HHMMSS of now (UTC). */
static void session_name(recorder_t *rec)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(rec->session, sizeof rec->session, "massaged-%Y%m%d-%H%M%S", &tm);
}

static void publish_status(recorder_t *rec)
{
    pthread_mutex_lock(&rec->status_lock);
    rec->status.labels = rec->labels;
    rec->status.active = !rec->failed && rec->fd >= 0;
    snprintf(rec->status.file, sizeof rec->status.file, "%s", rec->path);
    rec->status.files = rec->file_number;
    rec->status.bytes = rec->bytes_total;
    rec->status.samples = rec->samples_written;
    rec->status.events = rec->events_written;
    rec->status.not_recorded = rec->not_recorded;
    rec->status.syncs = rec->syncs;
    pthread_mutex_unlock(&rec->status_lock);
}

/* Names the session's next file: DIR/SESSION-NNN.xdf in continuous
 * recording; in a study's recording the name asked for first, then
 * STEM-NNN.xdf (NNN from 001) after a rotation. */
static int next_path(recorder_t *rec)
{
    int n;
    if (!rec->base[0]) {
        n = snprintf(rec->path, sizeof rec->path, "%s/%s-%03u.xdf", rec->dir, rec->session,
                     rec->file_number);
    } else if (rec->file_number == 0) {
        n = snprintf(rec->path, sizeof rec->path, "%s", rec->base);
    } else {
        int stem = (int)path_stem_len(rec->base);
        n = snprintf(rec->path, sizeof rec->path, "%.*s-%03u%s", stem, rec->base,
                     rec->file_number, rec->base + stem);
    }
    rec->file_number++;
    return n < 0 || (size_t)n >= sizeof rec->path ? -ENAMETOOLONG : 0;
}

/* A study's file name that exists already is moved aside to STEM_oldN.xdf,
 * N the first free number, as LabRecorder does, so a repeated run loses
 * nothing. */
static int move_aside(const char *path)
{
    if (access(path, F_OK) != 0)
        return 0;
    int stem = (int)path_stem_len(path);
    char aside[4200];
    for (unsigned i = 1; i < 100000; i++) {
        snprintf(aside, sizeof aside, "%.*s_old%u%s", stem, path, i, path + stem);
        if (access(aside, F_OK) != 0) {
            if (rename(path, aside) != 0)
                return -errno;
            log_info("recording: moved the existing %s to %s", path, aside);
            return 0;
        }
    }
    return -EEXIST;
}

/* Opens the session's next file and writes its headers. */
static int open_file(recorder_t *rec)
{
    int fd = -1;
    errno = 0;
    if (rec->base[0] && rec->file_number == 0) {
        int rc = path_make_parents(rec->base);
        if (rc == 0)
            rc = move_aside(rec->base);
        if (rc != 0) {
            snprintf(rec->path, sizeof rec->path, "%s", rec->base);
            set_error(rec, rc == -EEXIST ? "rename" : "mkdir", -rc);
            return rc;
        }
    }
    for (int tries = 0; tries < 1000 && fd < 0; tries++) {
        if (next_path(rec) != 0) {
            errno = ENAMETOOLONG;
            break;
        }
        fd = open(rec->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int err = errno;
        set_error(rec, "open", err);
        return -err;
    }
    rec->fd = fd;
    rec->file_bytes = 0;
    rec->file_started = now_mono();
    /* The new name must survive a power cut too. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", rec->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int dfd = open(slash ? (dir[0] ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(rec->xml, sizeof rec->xml,
             "<?xml version=\"1.0\"?>\n<info>\n<version>1.0</version>\n<datetime>%s</datetime>\n"
             "<software>massaged %s</software>\n<session>%s</session>\n"
             "<file_number>%u</file_number>\n</info>\n",
             when, MASSAGED_VERSION, rec->session, rec->file_number - 1);
    /* The file starts here: nothing written for no file may precede it. */
    rec->out.len = 0;
    room(rec, 4 + strlen(rec->xml) + 16);
    xdf_put_magic(&rec->out);
    xdf_put_file_header(&rec->out, rec->xml);
    int n = marker_header(rec);
    room(rec, (size_t)n + 16);
    xdf_put_stream_header(&rec->out, MARKER_STREAM_ID, rec->xml, (size_t)n);
    rec->markers.count = 0;
    for (int i = 0; i < rec->n_streams; i++) {
        rec->streams[i].written.count = 0;
        put_stream_header(rec, &rec->streams[i]);
    }
    boundary(rec);
    write_out(rec);
    log_info("recording to %s", rec->path);
    publish_status(rec);
    return rec->failed ? -EIO : 0;
}

/* Writes what is pending, the footers, and makes the file durable. */
static void close_file(recorder_t *rec)
{
    flush_all(rec);
    if (!rec->failed && rec->fd >= 0) {
        clock_offsets(rec);
        footer(rec, MARKER_STREAM_ID, &rec->markers);
        for (int i = 0; i < rec->n_streams; i++)
            footer(rec, rec->streams[i].id, &rec->streams[i].written);
        boundary(rec);
        write_out(rec);
        sync_file(rec, true);
    }
    if (rec->fd >= 0) {
        if (close(rec->fd) != 0 && !rec->failed)
            set_error(rec, "close", errno);
        rec->fd = -1;
    }
}

static bool same_stream(const stream_t *s, const item_t *it)
{
    const frame_hello_t *a = &s->hello, *b = &it->u.stream.hello;
    return strcmp(s->name, it->u.stream.name) == 0 && s->kind == it->u.stream.kind &&
           strcmp(a->serial, b->serial) == 0 && a->rate_hz == b->rate_hz &&
           a->p_scale == b->p_scale && a->acc_scale == b->acc_scale &&
           a->gyr_scale == b->gyr_scale && a->fw_major == b->fw_major && a->fw_minor == b->fw_minor;
}

static void on_stream(recorder_t *rec, const item_t *it)
{
    if (it->slot >= CONFIG_MAX_DEVICES)
        return;
    for (int i = 0; i < rec->n_streams; i++)
        if (same_stream(&rec->streams[i], it)) {
            rec->slot_stream[it->slot] = i;
            return;
        }
    rec->slot_stream[it->slot] = -1;
    if (rec->n_streams == MAX_STREAMS) {
        log_warn("recording: more than %d device streams in one session; %s is not recorded",
                 MAX_STREAMS, it->u.stream.name);
        return;
    }
    stream_t *s = &rec->streams[rec->n_streams];
    memset(s, 0, sizeof *s);
    memcpy(s->name, it->u.stream.name, sizeof s->name);
    s->name[sizeof s->name - 1] = '\0';
    s->kind = it->u.stream.kind;
    s->hello = it->u.stream.hello;
    s->id = MARKER_STREAM_ID + 1 + (uint32_t)rec->n_streams;
    s->stamps = malloc(PENDING_SAMPLES * sizeof *s->stamps);
    s->values = malloc(PENDING_SAMPLES * XDF_CHANNELS * sizeof *s->values);
    if (!s->stamps || !s->values || build_device_header(rec, s) != 0) {
        free(s->stamps);
        free(s->values);
        free(s->header);
        log_error("recording: out of memory for the stream of %s", s->name);
        return;
    }
    rec->slot_stream[it->slot] = rec->n_streams++;
    if (rec->fd >= 0) /* else the next file's opening writes it */
        put_stream_header(rec, s);
}

static void on_block(recorder_t *rec, const item_t *it)
{
    const chunk_t *b = &it->u.block;
    int k = it->slot < CONFIG_MAX_DEVICES ? rec->slot_stream[it->slot] : -1;
    if (k < 0) {
        rec->not_recorded += b->n;
        return;
    }
    stream_t *s = &rec->streams[k];
    for (unsigned i = 0; i < b->n; i++) {
        if (s->n == PENDING_SAMPLES)
            flush_stream(rec, s);
        const sample_t *x = &b->s[i];
        double *v = s->values + s->n * XDF_CHANNELS;
        /* Host time of each sample: the block's mapped time plus its device
         * offset within the block (the mapping's drift over one block is far
         * below a microsecond). */
        s->stamps[s->n] = b->t_host + (x->t_dev - b->t_dev);
        v[XDF_CH_P] = x->p;
        for (int a = 0; a < 3; a++) {
            v[XDF_CH_ACC_X + a] = x->acc[a];
            v[XDF_CH_GYR_X + a] = x->gyr[a];
        }
        v[XDF_CH_SAMPLE_INDEX] = (double)(b->i0 + b->first + i);
        v[XDF_CH_T_DEV] = x->t_dev;
        v[XDF_CH_FRAME_SAMPLES] = b->first + i == 0 ? (double)b->total : 0.0;
        s->n++;
    }
}

static void on_event_piece(recorder_t *rec, const item_t *it)
{
    if (!rec->assembling) {
        if (rec->n_events == PENDING_EVENTS || EVENT_BYTES - rec->event_used < 64 * 1024)
            flush_events(rec);
        rec->event_ptr[rec->n_events] = rec->event_text + rec->event_used;
        rec->event_len[rec->n_events] = 0;
        rec->event_stamp[rec->n_events] = it->t_host;
    }
    size_t n = it->len;
    if (EVENT_BYTES - rec->event_used < n)
        n = EVENT_BYTES - rec->event_used; /* an event over 64 KiB: never sent */
    memcpy(rec->event_text + rec->event_used, it->u.text, n);
    rec->event_used += n;
    rec->event_len[rec->n_events] += n;
    rec->assembling = it->more;
    if (!it->more)
        rec->n_events++;
}

/* The <study> element of the stream headers' desc, "" without labels. */
static void build_study_xml(recorder_t *rec)
{
    const study_labels_t *l = &rec->labels;
    rec->study_xml[0] = '\0';
    if (!l->participant[0] && !l->session[0] && !l->task[0] && !l->run[0] && !l->acquisition[0])
        return;
    char e[5][STUDY_LABEL_MAX * 6];
    xdf_xml_escape(e[0], sizeof e[0], l->participant);
    xdf_xml_escape(e[1], sizeof e[1], l->session);
    xdf_xml_escape(e[2], sizeof e[2], l->task);
    xdf_xml_escape(e[3], sizeof e[3], l->run);
    xdf_xml_escape(e[4], sizeof e[4], l->acquisition);
    snprintf(rec->study_xml, sizeof rec->study_xml,
             "<study><participant>%s</participant><session>%s</session><task>%s</task>"
             "<run>%s</run><acquisition>%s</acquisition></study>\n",
             e[0], e[1], e[2], e[3], e[4]);
}

/* A new recording holds the streams of the devices connected now (a
 * device's later HELLO adds its stream as usual), with headers that carry
 * the new labels. */
static void restart_streams(recorder_t *rec)
{
    int map[MAX_STREAMS];
    int kept = 0;
    for (int i = 0; i < rec->n_streams; i++) {
        stream_t *s = &rec->streams[i];
        bool used = false;
        for (int d = 0; d < CONFIG_MAX_DEVICES; d++)
            used = used || rec->slot_stream[d] == i;
        free(s->header);
        s->header = NULL;
        if (!used || build_device_header(rec, s) != 0) {
            free(s->stamps);
            free(s->values);
            map[i] = -1;
            continue;
        }
        s->id = MARKER_STREAM_ID + 1 + (uint32_t)kept;
        s->written.count = 0;
        s->n = 0;
        s->written.offset_due = false;
        map[i] = kept;
        if (kept != i)
            rec->streams[kept] = *s;
        kept++;
    }
    for (int d = 0; d < CONFIG_MAX_DEVICES; d++)
        if (rec->slot_stream[d] >= 0)
            rec->slot_stream[d] = map[rec->slot_stream[d]];
    rec->n_streams = kept;
}

static void apply_command(recorder_t *rec, const recorder_command_t *c)
{
    if (rec->fd >= 0) {
        close_file(rec);
        if (!rec->failed)
            log_info("recording closed: %s", rec->path);
    }
    flush_all(rec); /* what waited between recordings is let go */
    if (c->op != RECORDER_START) {
        rec->base[0] = '\0';
        publish_status(rec);
        return;
    }
    rec->failed = false;
    pthread_mutex_lock(&rec->status_lock);
    rec->status.error[0] = '\0';
    pthread_mutex_unlock(&rec->status_lock);
    snprintf(rec->base, sizeof rec->base, "%s", c->path);
    rec->labels = c->labels;
    rec->labels.participant[STUDY_LABEL_MAX - 1] = '\0';
    rec->labels.session[STUDY_LABEL_MAX - 1] = '\0';
    rec->labels.task[STUDY_LABEL_MAX - 1] = '\0';
    rec->labels.run[STUDY_LABEL_MAX - 1] = '\0';
    rec->labels.acquisition[STUDY_LABEL_MAX - 1] = '\0';
    build_study_xml(rec);
    session_name(rec);
    rec->file_number = 0;
    restart_streams(rec);
    open_file(rec);
}

static void on_command_piece(recorder_t *rec, const item_t *it)
{
    size_t n = it->len;
    if (n > sizeof rec->command - rec->command_used)
        n = sizeof rec->command - rec->command_used;
    memcpy((char *)&rec->command + rec->command_used, it->u.text, n);
    rec->command_used += n;
    if (it->more)
        return;
    rec->command_used = 0;
    apply_command(rec, &rec->command);
}

/* The file has reached its rotation size with what is written or waiting in
 * the output buffer. */
static bool file_full(const recorder_t *rec)
{
    return rec->fd >= 0 && rec->file_bytes + rec->out.len >= rec->rotate_bytes;
}

/* Takes items off the ring until it is empty or the file is full: a ring
 * filled faster than real time holds megabytes, and the file rotates
 * between passes (rotate_due), so a file overshoots its size by at most
 * what the streams hold pending. */
static void consume(recorder_t *rec)
{
    static void (*const on_item[])(recorder_t *, const item_t *) = {
        [ITEM_STREAM] = on_stream,
        [ITEM_BLOCK] = on_block,
        [ITEM_EVENT] = on_event_piece,
        [ITEM_COMMAND] = on_command_piece,
    };
    const item_t *it;
    while (!file_full(rec) && (it = ring_peek(rec->ring)) != NULL) {
        if (it->kind < sizeof on_item / sizeof on_item[0])
            on_item[it->kind](rec, it);
        ring_release(rec->ring);
    }
}

/* Starts the next file once this one has reached its size or its age. */
static void rotate_due(recorder_t *rec, double now)
{
    if (rec->fd >= 0 &&
        (rec->file_bytes >= rec->rotate_bytes || now - rec->file_started >= rec->rotate_s)) {
        close_file(rec);
        if (!rec->failed)
            open_file(rec);
    }
}

static void *recorder_main(void *arg)
{
    recorder_t *rec = arg;
    pthread_setname_np(pthread_self(), "recorder");
    double now = now_mono();
    double next_batch = now + RECORDER_BATCH_MS / 1000.0;
    double next_sync = now + RECORDER_SYNC_MS / 1000.0;
    double next_boundary = now + RECORDER_BOUNDARY_MS / 1000.0;
    while (!worker_stopping(&rec->worker)) {
        consume(rec);
        bool stopped_full = file_full(rec);
        now = now_mono();
        if (now >= next_batch) {
            flush_all(rec);
            next_batch = now + RECORDER_BATCH_MS / 1000.0;
        }
        if (now >= next_boundary) {
            clock_offsets(rec);
            boundary(rec);
            next_boundary = now + RECORDER_BOUNDARY_MS / 1000.0;
        }
        if (rec->out.len > 0)
            write_out(rec);
        if (now >= next_sync) {
            sync_file(rec, false);
            next_sync = now + RECORDER_SYNC_MS / 1000.0;
        }
        rotate_due(rec, now);
        publish_status(rec);
        if (stopped_full)
            continue; /* the ring still holds items for the new file */
        /* Sleep until the next batch, sync or boundary is due (about 5 times
         * a second): the ring holds 20 s of real-time devices, and what waits
         * in it is no less safe than what waits in the pending batch, so
         * looking more often would only cost wake-ups. A stop, or a ring a
         * quarter full, wakes the thread at once. */
        double next = next_batch < next_sync ? next_batch : next_sync;
        if (next_boundary < next)
            next = next_boundary;
        int timeout_ms = (int)((next - now_mono()) * 1000.0) + 1;
        if (timeout_ms > 0)
            worker_wait(&rec->worker, timeout_ms); /* a stop ends the loop above */
    }
    /* The producer has stopped: everything it handed over is in the ring. */
    consume(rec);
    while (ring_count(rec->ring) > 0) { /* it stopped at a full file */
        if (rec->out.len > 0)
            write_out(rec);
        rotate_due(rec, now_mono());
        consume(rec); /* a failed recorder drains the ring, counting */
    }
    bool was_open = rec->fd >= 0;
    close_file(rec);
    publish_status(rec);
    if (was_open && !rec->failed)
        log_info("recording closed: %s (%llu samples, %llu events in this session)", rec->path,
                 (unsigned long long)rec->samples_written, (unsigned long long)rec->events_written);
    return NULL;
}

recorder_t *recorder_start(const char *dir, int rotate_mb, int rotate_minutes, int *err)
{
    int rc = -ENOMEM;
    recorder_t *rec = calloc(1, sizeof *rec);
    if (!rec)
        goto fail;
    rec->fd = -1;
    pthread_mutex_init(&rec->status_lock, NULL);
    rc = worker_open(&rec->worker);
    if (rc != 0)
        goto fail;
    rc = -ENOMEM;
    snprintf(rec->dir, sizeof rec->dir, "%s", dir ? dir : "");
    rec->rotate_bytes = (uint64_t)rotate_mb * 1024 * 1024;
    rec->rotate_s = rotate_minutes * 60.0;
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++)
        rec->slot_stream[i] = -1;
    if (gethostname(rec->hostname, sizeof rec->hostname - 1) != 0)
        snprintf(rec->hostname, sizeof rec->hostname, "unknown");
    rec->ring = ring_create(sizeof(item_t), RECORDER_RING_ITEMS);
    rec->event_text = malloc(EVENT_BYTES);
    rec->out_mem = malloc(OUT_BYTES);
    if (!rec->ring || !rec->event_text || !rec->out_mem)
        goto fail;
    xdf_buf_init(&rec->out, rec->out_mem, OUT_BYTES);
    rec->continuous = dir && dir[0];
    if (rec->continuous && mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = -errno;
        log_error("recording: cannot create directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    session_name(rec);
    rc = rec->continuous ? open_file(rec) : 0;
    if (rc != 0) {
        log_error("recording: cannot start in %s: %s", dir, rec->status.error);
        goto fail;
    }
    rc = worker_start(&rec->worker, recorder_main, rec);
    if (rc != 0)
        goto fail;
    return rec;

fail:
    if (rec) {
        if (rec->fd >= 0)
            close(rec->fd);
        worker_close(&rec->worker);
        ring_destroy(&rec->ring);
        free(rec->event_text);
        free(rec->out_mem);
        pthread_mutex_destroy(&rec->status_lock);
        free(rec);
    }
    if (err)
        *err = rc;
    return NULL;
}

void recorder_stop(recorder_t **pr)
{
    if (!pr || !*pr)
        return;
    recorder_t *rec = *pr;
    worker_close(&rec->worker);
    for (int i = 0; i < rec->n_streams; i++) {
        free(rec->streams[i].stamps);
        free(rec->streams[i].values);
        free(rec->streams[i].header);
    }
    ring_destroy(&rec->ring);
    free(rec->event_text);
    free(rec->out_mem);
    pthread_mutex_destroy(&rec->status_lock);
    free(rec);
    *pr = NULL;
}

void recorder_status(recorder_t *rec, recorder_status_t *out)
{
    memset(out, 0, sizeof *out);
    if (!rec)
        return;
    pthread_mutex_lock(&rec->status_lock);
    *out = rec->status;
    pthread_mutex_unlock(&rec->status_lock);
    out->dropped = atomic_load_explicit(&rec->dropped, memory_order_relaxed);
}

void recorder_status_json(recorder_t *rec, json_t *j)
{
    recorder_status_t st;
    recorder_status(rec, &st);
    json_key(j, "recording");
    json_bool(j, st.active);
    json_key(j, "recording_file");
    json_string_or_null(j, st.file);
    json_key(j, "recording_error");
    json_string_or_null(j, st.error);
    json_key(j, "recording_dropped");
    json_uint(j, st.dropped);
    json_key(j, "recording_bytes");
    json_uint(j, st.bytes);
}
