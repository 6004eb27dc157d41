#include "pipeline.h"

#include "chain.h"
#include "device.h"
#include "history.h"
#include "json.h"
#include "log.h"
#include "message.h"
#include "mqtt.h"
#include "notify.h"
#include "publisher.h"
#include "recorder.h"
#include "ring.h"
#include "now.h"
#include "study.h"
#include "treatment.h"
#include "worker.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define PIPELINE_COMMANDS 4 /* a study's starts and stops waiting for the pipeline thread */
/* How late the status tick may come while a port streams: it waits for the
 * wake-up of the next frame, within this, rather than waking the loop (and
 * ZeroMQ's I/O thread) between frames. Seconds. */
#define STATUS_SLACK_S 0.025

/* A slot's life: the main thread fills a FREE slot (its device created but
 * not yet opened) and makes it ACTIVE, and the pipeline thread services it
 * from then on; to remove it, the main thread marks it REMOVING, and the
 * pipeline thread stops the device, publishes the loss and hands the slot
 * back as FREE. The state is the only field both threads touch while the
 * slot is in use. */
enum { SLOT_FREE, SLOT_ACTIVE, SLOT_REMOVING };

typedef struct {
    /* What a frame of the device reads or writes first, then the chain
     * (its per-frame state first as well), then what only a connect, a
     * loss, a session's end or a status report reads. */
    _Atomic int state;
    pipeline_t *p;
    device_t *device;
    bool chain_ready;     /* chain_init done and chain_destroy due (main thread) */
    bool port_open;
    int polled_fd;        /* the port's descriptor in the pipeline's epoll set, or -1 */
    double connected_since;                /* Unix seconds, 0 when not streaming */
    double lost_at;                        /* Unix seconds the stream was lost, 0 while streaming */
    char raw_topic[MESSAGE_TOPIC_MAX]; /* raw.<name>, made once */
    message_raw_head_t raw_head;       /* made again when the rate changes */
    chain_t chain;
    config_device_t cfg;
    device_stats_t stats; /* the device's last snapshot */
    char port_path[256];
    char last_loss[256];
    char session_files[HISTORY_FILES_LEN]; /* recording files the open session touched */
} slot_t;

struct pipeline {
    /* What the pipeline thread reads at every turn of its loop comes first,
     * on a few lines of one page: at real time each turn finds them evicted
     * and, after its system calls, their pages out of the TLB (they were
     * spread over three pages, 90 kB apart, behind the configuration and
     * the port claims). */
    /* Pipeline thread: the slots it services (ACTIVE when last looked at),
     * looked for again only after the wake-up eventfd fired, since every
     * change of a slot's state comes with a wake-up. */
    slot_t *active[CONFIG_MAX_DEVICES];
    int n_active;
    int epfd;             /* epoll set: the wake-up eventfd and every streaming port */
    bool lost_pending;    /* pipeline thread: a slot may have a session to end by idle_s */
    bool commands_pending; /* pipeline thread: the command ring may hold commands */
    _Atomic int status_interval_ms;
    _Atomic int batch_ms; /* [publish] batch_ms: 0 = wake per frame */
    bool watchdog;        /* systemd's WatchdogSec is set: ping at every status tick */
    int test_hold_ms;     /* MASSAGED_TEST_HOLD_MS: hold the loop up once (tests only) */
    /* The message being written: a buffer of the publisher's
     * (publisher_payload), sent without a copy. */
    char *payload;
    publisher_t *pub;
    recorder_t *recorder; /* NULL when [record] dir and [control] rcs are empty */
    ring_t *commands;     /* recorder_command_t: control thread to pipeline thread */
    mqtt_t *mqtt;         /* NULL when [mqtt] broker is empty */
    history_t *history;   /* NULL when [history] db is empty */
    _Atomic int idle_s;                  /* [session] idle_s */
    int idle_applied;                    /* pipeline thread: the idle_s the chains have */
    atomic_uint end_requested, end_done; /* pipeline_end_sessions requests, served */
    worker_t worker; /* woken by commands, devices handed over, a search's end, the stop */
    double started_at;
    /* Each slot's per-frame part first (slot_t). */
    slot_t slots[CONFIG_MAX_DEVICES];

    config_t cfg;
    device_claims_t claims;
    bool claims_ready;
    /* Study labels for the history's rows: set from any thread, read by the
     * pipeline thread when a session ends. */
    pthread_mutex_t labels_lock;
    study_labels_t study;                /* guarded by labels_lock */
    char participant[STUDY_LABEL_MAX];   /* [history] participant; guarded by labels_lock */
    /* The topic of an event or status message, made when it is sent: an
     * event's topic names its type and status comes once a second, so one
     * buffer of the pipeline thread serves them all. A raw message's topic
     * is the same for every frame of a device, so each slot keeps its own,
     * made once (raw_topic): no formatting per frame. */
    char topic[MESSAGE_TOPIC_MAX];
    history_row_t row; /* pipeline thread: a finished session's row, built here */
};

__attribute__((hot)) static void publish(pipeline_t *p, const char *topic, int len)
{
    if (len < 0) {
        log_error("publish: a %s message did not fit its buffer", topic);
        return;
    }
    publisher_send_payload(p->pub, topic, p->payload, (size_t)len);
    if (p->mqtt)
        mqtt_offer(p->mqtt, topic, p->payload, (size_t)len);
}

/* The buffer the next message is written into (MESSAGE_MAX bytes). */
__attribute__((hot)) static char *payload(pipeline_t *p)
{
    p->payload = publisher_payload(p->pub);
    return p->payload;
}

_Static_assert(PUBLISHER_PAYLOAD_MAX >= MESSAGE_MAX,
               "a message does not fit the publisher's buffer");

/* Sinks need both the pipeline and the slot; a small context pairs them. */
typedef struct {
    pipeline_t *p;
    slot_t *slot;
} sink_ctx_t;

__attribute__((hot)) static void on_block(void *ctx, const message_block_t *block)
{
    sink_ctx_t *c = ctx;
    slot_t *slot = c->slot;
    if (slot->raw_head.rate_hz != slot->chain.hello.rate_hz)
        message_raw_head(&slot->raw_head, slot->cfg.name, slot->cfg.kind,
                         slot->chain.hello.rate_hz);
    publish(c->p, slot->raw_topic,
            message_raw_after(payload(c->p), MESSAGE_MAX, &slot->raw_head, block));
    recorder_block(c->p->recorder, (int)(c->slot - c->p->slots), block);
}

/* Adds the recorder's current file to the files of the slot's open
 * session, unless it is the last one noted. */
static void note_recording(pipeline_t *p, slot_t *slot)
{
    if (!p->recorder || !slot->chain.treatment.open)
        return;
    recorder_status_t st;
    recorder_status(p->recorder, &st);
    if (!st.active || !st.file[0])
        return;
    char *files = slot->session_files;
    size_t len = strlen(files), n = strlen(st.file);
    const char *last = len ? files + len - 1 : files;
    while (last > files && last[-1] != '\n')
        last--;
    if (len && strcmp(last, st.file) == 0)
        return;
    if (len + (len ? 1 : 0) + n + 1 > sizeof slot->session_files) {
        log_warn("device %s: the session touched more recording files than its row holds",
                 slot->cfg.name);
        return;
    }
    if (len)
        files[len++] = '\n';
    memcpy(files + len, st.file, n + 1);
}

/* A treatment session ended: its row goes to the history. */
static void session_ended(pipeline_t *p, slot_t *slot, const event_t *event, double t_host)
{
    note_recording(p, slot);
    if (!p->history)
        return;
    history_row_t *row = &p->row;
    memset(row, 0, sizeof *row);
    snprintf(row->device, sizeof row->device, "%s", slot->cfg.name);
    row->kind = slot->cfg.kind;
    if (slot->chain.have_hello)
        snprintf(row->serial, sizeof row->serial, "%s", slot->chain.hello.serial);
    pthread_mutex_lock(&p->labels_lock);
    row->labels = p->study;
    if (!row->labels.participant[0])
        snprintf(row->labels.participant, sizeof row->labels.participant, "%s", p->participant);
    pthread_mutex_unlock(&p->labels_lock);
    /* Both ends through the clock mapping of now: a start mapped when it was
     * published may lie after an end mapped later, once the mapping has
     * learnt the device's drift. */
    history_row_from_event(row, event, chain_to_host(&slot->chain, event->t_start_dev), t_host);
    snprintf(row->files, sizeof row->files, "%s", slot->session_files);
    history_push(p->history, row);
}

static void on_event(void *ctx, const event_t *event, double t_host)
{
    sink_ctx_t *c = ctx;
    message_topic(c->p->topic, "event", c->slot->cfg.name, event->type);
    int len = message_event(payload(c->p), MESSAGE_MAX, c->slot->cfg.name, c->slot->cfg.kind, event,
                            t_host);
    publish(c->p, c->p->topic, len);
    if (len > 0)
        recorder_event(c->p->recorder, t_host, c->p->payload, (size_t)len);
    if (strcmp(event->type, "session") == 0) {
        if (event->phase == EVENT_START) {
            c->slot->session_files[0] = '\0';
            note_recording(c->p, c->slot);
        } else if (event->phase == EVENT_END) {
            session_ended(c->p, c->slot, event, t_host);
        }
    }
}

static void counter(json_t *j, const char *key, uint64_t value)
{
    json_key(j, key);
    json_uint(j, value);
}

static void publish_device_status(pipeline_t *p, slot_t *slot, double now)
{
    const chain_t *c = &slot->chain;
    const device_stats_t *s = &slot->stats;
    json_t j;
    message_begin_device(&j, payload(p), MESSAGE_MAX, slot->cfg.name, slot->cfg.kind);
    json_key(&j, "t_host");
    json_fixed(&j, now, 6);
    json_key(&j, "connected");
    json_bool(&j, c->streaming);
    json_key(&j, "port");
    json_string(&j, slot->cfg.port);
    json_key(&j, "port_open");
    json_bool(&j, slot->port_open);
    if (!c->streaming && slot->last_loss[0]) {
        json_key(&j, "last_loss");
        json_string(&j, slot->last_loss);
    }
    if (c->have_hello) {
        json_key(&j, "serial");
        json_string(&j, c->hello.serial);
        char firmware[16];
        snprintf(firmware, sizeof firmware, "%u.%u", c->hello.fw_major, c->hello.fw_minor);
        json_key(&j, "firmware");
        json_string(&j, firmware);
        json_key(&j, "rate_hz");
        json_uint(&j, c->hello.rate_hz);
    }
    if (c->have_status) {
        json_key(&j, "battery_mv");
        json_uint(&j, c->status.battery_mv);
        json_key(&j, "temperature_c");
        json_fixed(&j, c->status.temperature_centi_c / 100.0, 2);
        json_key(&j, "charging");
        json_bool(&j, c->status.flags & 1);
        json_key(&j, "sensor_fault");
        json_bool(&j, c->status.flags & 2);
        json_key(&j, "device_overflow");
        json_bool(&j, c->status.flags & 4);
    }
    counter(&j, "bytes", s->frames.bytes);
    counter(&j, "frames", s->frames.frames_ok);
    counter(&j, "crc_errors", s->frames.crc_errors);
    counter(&j, "malformed", s->frames.malformed);
    counter(&j, "garbage_bytes", s->frames.garbage_bytes);
    counter(&j, "frames_lost", s->frames.frames_lost);
    counter(&j, "samples", c->counters.samples);
    counter(&j, "samples_lost", c->counters.samples_lost);
    counter(&j, "ring_dropped", s->ring_dropped);
    counter(&j, "ring_dropped_samples", s->ring_dropped_samples);
    counter(&j, "held_dropped", s->held_dropped);
    counter(&j, "hello_rejected", s->hello_rejected);
    counter(&j, "index_errors", c->counters.index_errors);
    counter(&j, "stamps_off", c->counters.stamps_off);
    counter(&j, "reboots", c->counters.reboots);
    counter(&j, "connects", s->connects);
    json_key(&j, "clock_offset_s");
    json_fixed(&j, clock_map_offset_s(&c->map), 6);
    json_key(&j, "clock_drift_ppm");
    json_fixed(&j, clock_map_drift_ppm(&c->map), 3);
    json_object_end(&j);
    size_t len;
    message_topic(p->topic, "status", slot->cfg.name, NULL);
    publish(p, p->topic, json_finish(&j, &len) == 0 ? (int)len : -ENOBUFS);
}

static void publish_daemon_status(pipeline_t *p, double now)
{
    publisher_stats_t ps = publisher_stats(p->pub);
    json_t j;
    message_begin(&j, payload(p), MESSAGE_MAX);
    json_key(&j, "version");
    json_string(&j, MASSAGED_VERSION);
    json_key(&j, "t_host");
    json_fixed(&j, now, 6);
    json_key(&j, "uptime_s");
    json_fixed(&j, now_mono() - p->started_at, 3);
    json_key(&j, "pid");
    json_int(&j, getpid());
    json_key(&j, "subscriptions");
    json_int(&j, ps.subscribers);
    counter(&j, "published", ps.sent);
    counter(&j, "publish_dropped", ps.dropped);
    recorder_status_json(p->recorder, &j);
    json_key(&j, "online"); /* as MQTT's Last Will says false */
    json_bool(&j, true);
    mqtt_status_json(p->mqtt, &j);
    history_status_json(p->history, &j);
    json_key(&j, "devices");
    json_array_begin(&j);
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++) {
        const slot_t *slot = &p->slots[i];
        if (atomic_load(&slot->state) == SLOT_FREE)
            continue;
        json_object_begin(&j);
        json_key(&j, "name");
        json_string(&j, slot->cfg.name);
        json_key(&j, "kind");
        json_string(&j, device_kind_name(slot->cfg.kind));
        json_key(&j, "connected");
        json_bool(&j, slot->chain.streaming);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_object_end(&j);
    size_t len;
    snprintf(p->topic, sizeof p->topic, "status.daemon");
    publish(p, p->topic, json_finish(&j, &len) == 0 ? (int)len : -ENOBUFS);
}

/* device_service takes poll(2)'s revents; epoll's bits are the same. */
_Static_assert(EPOLLIN == POLLIN && EPOLLHUP == POLLHUP && EPOLLERR == POLLERR,
               "epoll and poll event bits differ");

/* A port that opened joins the epoll set, with its slot as the event's
 * data; one that closed has left it (closing its only descriptor removed
 * it), and the removal here only makes sure. */
static void unwatch_port(pipeline_t *p, slot_t *slot)
{
    if (slot->polled_fd >= 0)
        (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, slot->polled_fd, NULL);
    slot->polled_fd = -1;
}

static void watch_port(pipeline_t *p, slot_t *slot)
{
    unwatch_port(p, slot);
    int fd = device_fd(slot->device);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = slot};
    if (fd < 0)
        return;
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        log_error("device %s: cannot watch its port: %s", slot->cfg.name, strerror(errno));
        return;
    }
    slot->polled_fd = fd;
}

/* What a device hands on, at once, on the pipeline thread. */
__attribute__((hot)) static void on_device_msg(void *arg, const device_msg_t *msg)
{
    slot_t *slot = arg;
    pipeline_t *p = slot->p;
    sink_ctx_t ctx = {p, slot};
    chain_sink_t sink = {on_block, on_event, &ctx};
    switch (msg->kind) {
    case DEVICE_MSG_FRAME: {
        bool was_streaming = slot->chain.streaming;
        chain_frame(&slot->chain, msg->u.frame, msg->t_host, &sink);
        if (slot->chain.streaming)
            slot->lost_at = 0.0;
        if (msg->u.frame->type == FRAME_HELLO && slot->chain.streaming)
            recorder_stream(p->recorder, (int)(slot - p->slots), slot->cfg.name, slot->cfg.kind,
                            &slot->chain.hello);
        if (!was_streaming && slot->chain.streaming)
            publish_device_status(p, slot, now_real());
        break;
    }
    case DEVICE_MSG_CONNECTED:
        watch_port(p, slot);
        slot->port_open = true;
        snprintf(slot->port_path, sizeof slot->port_path, "%s", msg->u.text);
        chain_port_opened(&slot->chain);
        break;
    case DEVICE_MSG_DISCONNECTED:
        unwatch_port(p, slot);
        slot->port_open = false;
        if (slot->chain.streaming) {
            slot->lost_at = msg->t_host;
            p->lost_pending = true;
        }
        snprintf(slot->last_loss, sizeof slot->last_loss, "%s", msg->u.text);
        if (slot->chain.streaming) {
            chain_disconnected(&slot->chain, msg->t_host, &sink);
            publish_device_status(p, slot, now_real());
        }
        break;
    case DEVICE_MSG_STATS:
        slot->stats = msg->u.stats;
        break;
    default:
        break;
    }
}

/* Stops the device of a slot the main thread is removing, publishes the
 * loss and frees the slot. */
static void retire(pipeline_t *p, slot_t *slot)
{
    device_stop(&slot->device);
    sink_ctx_t ctx = {p, slot};
    chain_sink_t sink = {on_block, on_event, &ctx};
    if (slot->chain.streaming)
        chain_disconnected(&slot->chain, now_real(), &sink);
    /* A removed device's session, or any at the daemon's stop, ends now. */
    chain_end_session(&slot->chain, TREATMENT_END_STOPPED, &sink);
    atomic_store_explicit(&slot->state, SLOT_FREE, memory_order_release);
}

/* Hands a study's starts and stops to the recorder, after the frames
 * drained before them: the recorder's ring orders them with the data. A
 * command the recorder's ring has no room for waits for the next turn. */
static void forward_commands(pipeline_t *p)
{
    const recorder_command_t *cmd;
    while ((cmd = ring_peek(p->commands)) != NULL && recorder_command(p->recorder, cmd))
        ring_release(p->commands);
    p->commands_pending = cmd != NULL;
}

/* Ends the sessions that only the wall clock can end (the device stayed
 * disconnected idle_s), those a study asked to end, and applies a new
 * idle_s. Pipeline thread. */
static void end_sessions(pipeline_t *p, double now, bool all, treatment_end_t reason)
{
    int idle_s = atomic_load(&p->idle_s);
    bool idle_changed = idle_s != p->idle_applied;
    p->idle_applied = idle_s;
    bool lost = false;
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++) {
        slot_t *slot = &p->slots[i];
        if (atomic_load_explicit(&slot->state, memory_order_acquire) != SLOT_ACTIVE)
            continue;
        if (idle_changed)
            treatment_set_idle(&slot->chain.treatment, idle_s);
        if (slot->lost_at > 0)
            lost = true;
        if (!slot->chain.treatment.open)
            continue;
        sink_ctx_t ctx = {p, slot};
        chain_sink_t sink = {on_block, on_event, &ctx};
        if (all)
            chain_end_session(&slot->chain, reason, &sink);
        else if (!slot->chain.streaming && slot->lost_at > 0 && now - slot->lost_at >= idle_s)
            chain_end_session(&slot->chain, TREATMENT_END_DISCONNECTED, &sink);
    }
    p->lost_pending = lost;
}

/* Nothing to do, the common case, costs a few loads: no study stop asked,
 * idle_s as applied and no device lost since the last look. */
static void check_sessions(pipeline_t *p)
{
    unsigned requested = atomic_load(&p->end_requested);
    bool study_stop = requested != atomic_load(&p->end_done);
    if (!study_stop && !p->lost_pending && atomic_load(&p->idle_s) == p->idle_applied)
        return;
    end_sessions(p, now_real(), study_stop, TREATMENT_END_STUDY);
    if (study_stop)
        atomic_store(&p->end_done, requested);
}

/* Sleeps ms milliseconds, or less if the status deadline (monotonic
 * seconds) comes first. */
static void sleep_ms(int ms, double deadline)
{
    double left = deadline - now_mono();
    double s = ms / 1000.0 < left ? ms / 1000.0 : left;
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A test's hold-up of the loop (tests/e2e/test_faults.py): with the
 * environment variable MASSAGED_TEST_HOLD_MS set, the loop stops that long,
 * once, as soon as a device has streamed a second of samples, the way a
 * descheduled thread or a slow step would hold it up; the bytes that come
 * meanwhile wait in the kernel's buffers. Never set outside tests. */
static void test_hold(pipeline_t *p)
{
    if (p->test_hold_ms <= 0)
        return;
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++) {
        const slot_t *slot = &p->slots[i];
        if (atomic_load(&slot->state) == SLOT_ACTIVE && slot->chain.counters.samples >= 1000) {
            log_warn("pipeline: held up for %d ms (MASSAGED_TEST_HOLD_MS)", p->test_hold_ms);
            struct timespec ts = {.tv_sec = p->test_hold_ms / 1000,
                                  .tv_nsec = (long)(p->test_hold_ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
            }
            p->test_hold_ms = 0;
            return;
        }
    }
}

/* Publishes the status messages and feeds systemd's watchdog. */
static void status_tick(pipeline_t *p)
{
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++)
        if (atomic_load(&p->slots[i].state) == SLOT_ACTIVE)
            note_recording(p, &p->slots[i]);
    /* The devices' counters as they are now (DEVICE_MSG_STATS into each
     * slot's stats): asked for here rather than handed on by a timer of
     * their own, which woke the loop between frames. */
    for (int k = 0; k < p->n_active; k++)
        device_report_stats(p->active[k]->device);
    publisher_service(p->pub);
    double t = now_real();
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++)
        if (atomic_load(&p->slots[i].state) == SLOT_ACTIVE)
            publish_device_status(p, &p->slots[i], t);
    publish_daemon_status(p, t);
    /* The watchdog is fed from the thread whose stall would matter: a
     * pipeline that stops turning stops the pings. */
    if (p->watchdog)
        notify_send("WATCHDOG=1");
}

/* The slots the main thread handed over or asked back: those being
 * removed (all of them when stopping) are retired, the active ones listed.
 * Returns false when the pipeline stops. */
static bool take_slots(pipeline_t *p)
{
    bool stopping = worker_stopping(&p->worker);
    p->n_active = 0;
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++) {
        slot_t *slot = &p->slots[i];
        int state = atomic_load_explicit(&slot->state, memory_order_acquire);
        if (state == SLOT_REMOVING || (state == SLOT_ACTIVE && stopping))
            retire(p, slot);
        else if (state == SLOT_ACTIVE)
            p->active[p->n_active++] = slot;
    }
    return !stopping;
}

/* The daemon's one loop: an epoll_wait(2) over the wake-up eventfd and
 * every streaming device's port, as gpsd's main loop polls its devices. A
 * frame is read, decoded, interpreted, published and handed to the
 * recorder's ring in the wake-up its bytes caused. A turn costs what its
 * wake-up brought: the set is kept across turns (a port joins it when it
 * opens), only ready descriptors are looked at, and the slots are looked
 * for again only after the eventfd fired. */
/* The functions a frame runs, from here to the detectors, the JSON and the
 * send, are marked hot: GCC places them together in .text.hot, so that a
 * frame's code lies on a few pages rather than across the program's text,
 * each a TLB miss after every system call here (docs/BENCHMARKS.md, "The
 * floor"). */
__attribute__((hot)) static void *pipeline_main(void *arg)
{
    pipeline_t *p = arg;
    pthread_setname_np(pthread_self(), "pipeline");
    double next_status = now_mono() + atomic_load(&p->status_interval_ms) / 1000.0;
    struct epoll_event ev[1 + CONFIG_MAX_DEVICES];
    bool woken = true; /* the slots handed over before the thread started */
    for (;;) {
        if (woken && !take_slots(p))
            break;
        woken = false;
        double due = INFINITY;
        bool streaming = false;
        for (int k = 0; k < p->n_active; k++) {
            double d = device_due(p->active[k]->device);
            if (d < due)
                due = d;
            streaming |= p->active[k]->polled_fd >= 0;
        }
        /* While a port streams, its next frame's wake-up serves the
         * status tick too (it runs in the first turn at or after
         * next_status), unless none comes within the slack. */
        double status_due = next_status + (streaming ? STATUS_SLACK_S : 0.0);
        if (status_due < due)
            due = status_due;
        /* Only our descriptors are waited on: a zmq_poll that includes the
         * socket costs libzmq's command processing (and a getpid) on every
         * wake-up, hundreds a second. Subscription messages are rare and
         * only feed a status counter, so they are read at each status
         * tick. */
        double wait_s = due - now_mono();
        int timeout_ms = wait_s <= 0 ? 0 : (int)(wait_s * 1000.0) + 1;
        int ready = epoll_wait(p->epfd, ev, 1 + CONFIG_MAX_DEVICES, timeout_ms);
        if (ready < 0) {
            if (errno != EINTR)
                log_error("pipeline: epoll_wait failed: %s", strerror(errno));
            ready = 0;
        }
        /* Coalescing: let the frames of the next batch_ms gather in the
         * kernel's buffers, then read and publish them in one go, so this
         * thread and ZeroMQ's I/O thread wake once per batch, not once per
         * frame. The set is level-triggered: the second look reports every
         * descriptor still ready, those of the first included. */
        int batch_ms = atomic_load(&p->batch_ms);
        if (batch_ms > 0 && ready > 0 && !worker_stopping(&p->worker)) {
            sleep_ms(batch_ms, next_status);
            int again = epoll_wait(p->epfd, ev, 1 + CONFIG_MAX_DEVICES, 0);
            if (again >= 0)
                ready = again;
        }
        double now = now_mono();
        for (int k = 0; k < ready; k++) {
            slot_t *slot = ev[k].data.ptr;
            if (!slot) {
                worker_drain(&p->worker);
                woken = true;
            } else if (slot->polled_fd >= 0) {
                device_service(slot->device, (short)ev[k].events, now);
            }
        }
        /* The devices whose time has come (a retry, a search that ended, a
         * HELLO REQUEST, the silence limit), including those just read. */
        for (int k = 0; k < p->n_active; k++) {
            device_t *dev = p->active[k]->device;
            if (device_due(dev) <= now)
                device_service(dev, 0, now);
        }
        if (woken || p->commands_pending)
            forward_commands(p);
        check_sessions(p);
        test_hold(p);
        if (now >= next_status) {
            status_tick(p);
            double interval = atomic_load(&p->status_interval_ms) / 1000.0;
            next_status += interval;
            if (next_status < now)
                next_status = now + interval;
        }
    }
    /* The devices have stopped (their losses published): the commands
     * that came meanwhile still go to the recorder. */
    forward_commands(p);
    /* retire() ended every open session: a study's stop that came
     * meanwhile is served. */
    atomic_store(&p->end_done, atomic_load(&p->end_requested));
    return NULL;
}

/* Prepares a device in a free slot and hands it to the pipeline thread,
 * which opens it at once. Main thread. */
static int add_device(pipeline_t *p, const config_device_t *dev)
{
    slot_t *slot = NULL;
    for (int i = 0; i < CONFIG_MAX_DEVICES && !slot; i++)
        if (atomic_load(&p->slots[i].state) == SLOT_FREE && !p->slots[i].chain_ready)
            slot = &p->slots[i];
    if (!slot)
        return -ENOSPC;
    slot->p = p;
    slot->cfg = *dev;
    chain_init(&slot->chain, dev->name, dev->kind);
    slot->chain_ready = true;
    treatment_set_idle(&slot->chain.treatment, atomic_load(&p->idle_s));
    slot->lost_at = 0.0;
    slot->session_files[0] = '\0';
    memset(&slot->stats, 0, sizeof slot->stats);
    slot->port_open = false;
    slot->polled_fd = -1;
    message_topic(slot->raw_topic, "raw", dev->name, NULL);
    message_raw_head(&slot->raw_head, slot->cfg.name, dev->kind, 0); /* rate from the HELLO */
    slot->port_path[0] = slot->last_loss[0] = '\0';

    device_setup_t setup = {.cfg = *dev,
                            .on_msg = on_device_msg,
                            .ctx = slot,
                            .wake_fd = worker_fd(&p->worker),
                            .claims = &p->claims,
                            .probe_ms = p->cfg.autodetect.probe_ms};
    snprintf(setup.extra_ports, sizeof setup.extra_ports, "%s", p->cfg.autodetect.extra_ports);
    int rc = 0;
    slot->device = device_create(&setup, &rc);
    if (!slot->device) {
        log_error("device %s: cannot prepare it: %s", dev->name, strerror(-rc));
        chain_destroy(&slot->chain);
        slot->chain_ready = false;
        return rc;
    }
    atomic_store_explicit(&slot->state, SLOT_ACTIVE, memory_order_release);
    worker_wake(&p->worker);
    return 0;
}

/* Has the pipeline thread stop a device and publish its loss, then frees
 * the slot. Main thread. */
static void remove_device(pipeline_t *p, slot_t *slot)
{
    atomic_store_explicit(&slot->state, SLOT_REMOVING, memory_order_release);
    worker_wake(&p->worker);
    while (atomic_load_explicit(&slot->state, memory_order_acquire) != SLOT_FREE)
        usleep(2000);
    chain_destroy(&slot->chain);
    slot->chain_ready = false;
}

static slot_t *find_slot(pipeline_t *p, const char *name)
{
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++)
        if (atomic_load(&p->slots[i].state) == SLOT_ACTIVE &&
            strcmp(p->slots[i].cfg.name, name) == 0)
            return &p->slots[i];
    return NULL;
}

static const config_device_t *find_device(const config_t *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_devices; i++)
        if (cfg->devices[i].enabled && strcmp(cfg->devices[i].name, name) == 0)
            return &cfg->devices[i];
    return NULL;
}

/* True when a running device must restart to take new settings. */
static bool device_changed(const config_device_t *a, const config_device_t *b)
{
    return a->kind != b->kind || strcmp(a->port, b->port) != 0 || a->baud != b->baud ||
           a->driver != b->driver;
}

pipeline_t *pipeline_start(const config_t *cfg, int *err)
{
    pipeline_t *p = calloc(1, sizeof *p);
    int rc = -ENOMEM;
    if (!p)
        goto fail;
    p->cfg = *cfg;
    pthread_mutex_init(&p->labels_lock, NULL);
    snprintf(p->participant, sizeof p->participant, "%s", cfg->history.participant);
    atomic_store(&p->idle_s, cfg->session.idle_s);
    p->idle_applied = cfg->session.idle_s;
    p->started_at = now_mono();
    p->epfd = -1;
    rc = worker_open(&p->worker);
    if (rc != 0)
        goto fail;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event wake = {.events = EPOLLIN, .data.ptr = NULL};
    if (p->epfd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, worker_fd(&p->worker), &wake) != 0) {
        rc = -errno;
        goto fail;
    }
    rc = device_claims_init(&p->claims);
    if (rc != 0)
        goto fail;
    p->claims_ready = true;
    publisher_curve_t curve = {cfg->publish.curve_secret_key, cfg->publish.curve_clients,
                               cfg->publish.n_curve_clients};
    p->pub = publisher_open_curve(cfg->publish.endpoint, cfg->publish.hwm,
                                  cfg->publish.curve_secret_key[0] ? &curve : NULL, &rc);
    if (!p->pub)
        goto fail;
    /* With a remote control the study decides when to record; [record] dir
     * is then only its default root. */
    if (cfg->record.dir[0] || cfg->control.rcs[0]) {
        p->recorder = recorder_start(cfg->control.rcs[0] ? NULL : cfg->record.dir,
                                     cfg->record.rotate_mb, cfg->record.rotate_minutes, &rc);
        if (!p->recorder)
            goto fail;
    }
    p->commands = ring_create(sizeof(recorder_command_t), PIPELINE_COMMANDS);
    if (!p->commands) {
        rc = -ENOMEM;
        goto fail;
    }
    if (cfg->mqtt.broker[0]) {
        rc = 0;
        p->mqtt = mqtt_start(cfg, &rc);
        if (!p->mqtt && rc != 0)
            goto fail;
    }
    if (cfg->history.db[0]) {
        p->history = history_start(cfg->history.db);
        if (!p->history) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    atomic_store(&p->status_interval_ms, cfg->publish.status_interval_ms);
    atomic_store(&p->batch_ms, cfg->publish.batch_ms);
    const char *hold = getenv("MASSAGED_TEST_HOLD_MS");
    p->test_hold_ms = hold ? atoi(hold) : 0;
    uint64_t watchdog_us = 0;
    p->watchdog = notify_watchdog_enabled(&watchdog_us);
    if (p->watchdog && (double)watchdog_us < 2e3 * cfg->publish.status_interval_ms)
        log_warn("systemd watchdog of %.1f s is shorter than twice the status interval (%d ms)",
                 watchdog_us / 1e6, cfg->publish.status_interval_ms);
    /* The publisher is handed to the pipeline thread here and used by no
     * other thread from now on. */
    rc = worker_start(&p->worker, pipeline_main, p);
    if (rc != 0)
        goto fail;
    for (int i = 0; i < cfg->n_devices; i++) {
        if (!cfg->devices[i].enabled)
            continue;
        rc = add_device(p, &cfg->devices[i]);
        if (rc != 0)
            goto fail;
    }
    return p;

fail:
    pipeline_stop(&p);
    if (err)
        *err = rc;
    return NULL;
}

int pipeline_reload(pipeline_t *p, const config_t *cfg)
{
    if (strcmp(cfg->publish.endpoint, p->cfg.publish.endpoint) != 0 ||
        cfg->publish.hwm != p->cfg.publish.hwm ||
        strcmp(cfg->publish.curve_secret_key, p->cfg.publish.curve_secret_key) != 0 ||
        cfg->publish.n_curve_clients != p->cfg.publish.n_curve_clients ||
        memcmp(cfg->publish.curve_clients, p->cfg.publish.curve_clients,
               sizeof cfg->publish.curve_clients) != 0)
        log_warn("reload: [publish] endpoint, hwm and CURVE keys take effect at the next start");
    if (strcmp(cfg->record.dir, p->cfg.record.dir) != 0 ||
        strcmp(cfg->control.rcs, p->cfg.control.rcs) != 0)
        log_warn("reload: [record] dir and [control] rcs take effect at the next start");
    if (memcmp(&cfg->mqtt, &p->cfg.mqtt, sizeof cfg->mqtt) != 0)
        log_warn("reload: [mqtt] takes effect at the next start");
    if (strcmp(cfg->history.db, p->cfg.history.db) != 0)
        log_warn("reload: [history] db takes effect at the next start");
    /* Sessions in progress go on; the new values apply to them from now on. */
    atomic_store(&p->idle_s, cfg->session.idle_s);
    p->cfg.session.idle_s = cfg->session.idle_s;
    pthread_mutex_lock(&p->labels_lock);
    snprintf(p->participant, sizeof p->participant, "%s", cfg->history.participant);
    pthread_mutex_unlock(&p->labels_lock);
    snprintf(p->cfg.history.participant, sizeof p->cfg.history.participant, "%s",
             cfg->history.participant);
    int stopped = 0, started = 0, restarted = 0, kept = 0, failed = 0;
    /* Stop what went away or changed, in reverse order of start... */
    for (int i = CONFIG_MAX_DEVICES - 1; i >= 0; i--) {
        slot_t *slot = &p->slots[i];
        if (atomic_load(&slot->state) != SLOT_ACTIVE)
            continue;
        const config_device_t *now = find_device(cfg, slot->cfg.name);
        if (!now) {
            log_info("reload: device %s removed", slot->cfg.name);
            remove_device(p, slot);
            stopped++;
        } else if (device_changed(&slot->cfg, now)) {
            log_info("reload: device %s changed, restarting it", slot->cfg.name);
            remove_device(p, slot);
            restarted++;
        } else {
            kept++;
        }
    }
    char extra_ports[sizeof p->cfg.autodetect.extra_ports];
    snprintf(extra_ports, sizeof extra_ports, "%s", cfg->autodetect.extra_ports);
    int probe_ms = cfg->autodetect.probe_ms;
    snprintf(p->cfg.autodetect.extra_ports, sizeof p->cfg.autodetect.extra_ports, "%s",
             extra_ports);
    p->cfg.autodetect.probe_ms = probe_ms;
    atomic_store(&p->status_interval_ms, cfg->publish.status_interval_ms);
    atomic_store(&p->batch_ms, cfg->publish.batch_ms);
    p->cfg.publish.batch_ms = cfg->publish.batch_ms;
    /* ... then start what is new or changed, in file order. */
    for (int i = 0; i < cfg->n_devices; i++) {
        const config_device_t *dev = &cfg->devices[i];
        if (!dev->enabled || find_slot(p, dev->name))
            continue;
        if (add_device(p, dev) != 0)
            failed++;
        else
            started++;
    }
    started -= restarted;
    log_info("reload: %d device%s kept streaming, %d started, %d restarted, %d stopped%s", kept,
             kept == 1 ? "" : "s", started, restarted, stopped, failed ? ", some failed" : "");
    return failed ? -EIO : 0;
}

void pipeline_stop(pipeline_t **pp)
{
    if (!pp || !*pp)
        return;
    pipeline_t *p = *pp;
    /* The pipeline thread stops the devices and publishes their losses. */
    worker_close(&p->worker);
    if (p->epfd >= 0)
        close(p->epfd);
    /* Their only producer, the pipeline thread, has stopped: drain and close. */
    recorder_stop(&p->recorder);
    ring_destroy(&p->commands);
    mqtt_stop(&p->mqtt);
    history_stop(&p->history);
    publisher_close(&p->pub);
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++)
        if (p->slots[i].chain_ready)
            chain_destroy(&p->slots[i].chain);
    if (p->claims_ready)
        device_claims_destroy(&p->claims);
    pthread_mutex_destroy(&p->labels_lock);
    free(p);
    *pp = NULL;
}

int pipeline_record(pipeline_t *p, const recorder_command_t *cmd)
{
    if (!p->recorder)
        return -ENODEV;
    recorder_command_t *slot = ring_reserve(p->commands);
    if (!slot)
        return -EBUSY;
    *slot = *cmd;
    ring_commit(p->commands);
    worker_wake(&p->worker);
    return 0;
}

void pipeline_recording_status(pipeline_t *p, recorder_status_t *out)
{
    recorder_status(p->recorder, out);
}

void pipeline_end_sessions(pipeline_t *p)
{
    unsigned request = atomic_fetch_add(&p->end_requested, 1) + 1;
    worker_wake(&p->worker);
    /* The pipeline thread turns at least every status interval; a stopping
     * pipeline serves the request on its way out. */
    for (int waited_ms = 0; waited_ms < 10000; waited_ms++) {
        if ((int)(atomic_load(&p->end_done) - request) >= 0 || !p->worker.started)
            return;
        usleep(1000);
    }
    log_warn("study stop: the pipeline did not end the sessions within 10 s");
}

void pipeline_set_study(pipeline_t *p, const study_labels_t *labels)
{
    pthread_mutex_lock(&p->labels_lock);
    p->study = *labels;
    pthread_mutex_unlock(&p->labels_lock);
}
