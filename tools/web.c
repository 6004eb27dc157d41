/* massaged-web: the live dashboard. Subscribes to the daemon like any other
 * client and serves the page (web/, built into the binary) and a Server-Sent
 * Events stream of what the daemon publishes to browsers (docs/DASHBOARD.md).
 *
 *   massaged-web [--config FILE] [--listen HOST:PORT] [--endpoint ENDPOINT]
 *                [--root DIR]
 *
 * GET /events streams one "data: {...}" line per message, each followed by an
 * empty line:
 *   {"topic":"event.ball.hold","payload":{...as published...}}
 *   {"topic":"trace.ball","payload":{...}}   decimated raw, see below
 *   {"topic":"web.bridge","payload":{...}}   the bridge's own counters, 1/s
 * Replayed messages (sent at connect so a new page starts with the session's
 * recent events and every device's last status) carry "replay":true.
 *
 * GET /history answers the history view's JSON: what `massaged-history
 * overview --json` prints for [history] db (progress by day and by week, the
 * latest sessions; docs/HISTORY.md), so the trends are computed in one
 * place. The page asks again when a session ends.
 *
 * Raw messages (100 a second per device, ~1 KB each) are not forwarded: each
 * device's samples are summarised into trace_hz messages a second (minimum,
 * maximum and mean of the pressure or force, the extremes of |acc| and |gyr|),
 * which keeps the peaks a plot needs at a fiftieth of the bytes.
 *
 * Threads: the main thread owns the ZeroMQ socket and never waits on a
 * browser; it appends each formatted message to every browser's bounded
 * queue, or drops it for that browser and counts it when the queue is full.
 * libmicrohttpd runs one thread per connection; an /events thread sleeps on
 * its queue's condition variable. Queues and the replay history are
 * allocated once at start-up; nothing grows with time or with slow browsers.
 *
 * Exit status: 0 on SIGINT/SIGTERM or when [web] enabled = false; 1 when the
 * configuration is invalid or the server or subscriber cannot start; 2 for a
 * usage error.
 */
#include "cli.h"
#include "config.h"
#include "json_read.h"
#include "netaddr.h"
#include "now.h"
#include "stop_signal.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <spawn.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define WEB_MAX_MESSAGE (1 << 20)
#define WEB_MAX_TOPIC 256
#define WEB_MAX_DEVICES CONFIG_MAX_DEVICES
/* Replay at connect: the last WEB_HISTORY events and the last status of each
 * status topic; slots are fixed-size, a longer message is not kept. */
#define WEB_HISTORY 256
#define WEB_HISTORY_SLOT 2048
#define WEB_STATUS_SLOTS (WEB_MAX_DEVICES + 2)
#define WEB_STATUS_SLOT 4096
/* A waiting /events thread sends a comment line this often, so a browser that
 * went away is noticed (the write fails) even when nothing is published. */
#define WEB_KEEPALIVE_MS 1000
/* Kernel send buffer of an /events connection (Linux doubles it): a few
 * seconds of the stream, whatever the system's TCP autotuning would allow. */
#define WEB_SOCKET_SNDBUF (64 * 1024)

/* Files served, built in from web/ by tools/web_embed.cmake. */
typedef struct {
    const char *path; /* "/index.html" */
    const char *content_type;
    const unsigned char *data;
    size_t size;
} web_file_t;
extern const web_file_t web_files[];
extern const size_t web_files_count;

typedef struct {
    bool in_use;
    pthread_cond_t ready; /* signalled when bytes are appended or on stop */
    char *buf;            /* ring of SSE bytes, queue_bytes long */
    size_t head, len;     /* oldest byte, bytes queued */
    uint64_t dropped;     /* messages that did not fit */
    uint64_t sent;        /* messages queued */
} web_client_t;

typedef struct {
    char name[CONFIG_NAME_MAX];
    bool used;
    double rate_hz;
    long long next_i0; /* expected i0 of the next raw message, -1 unknown */
    bool gap;
    double t_first; /* device time of the bucket's first sample */
    int n;          /* samples in the bucket */
    double p_min, p_max, p_sum;
    double acc_min, acc_max, gyr_max, gyr_sum;
    unsigned long long samples; /* samples seen since start */
    char kind[16];
} web_trace_t;

typedef struct {
    char topic[WEB_MAX_TOPIC];
    char *payload; /* WEB_STATUS_SLOT or WEB_HISTORY_SLOT bytes */
    size_t len;
    bool used;
} web_slot_t;

/* Shared between the main thread and the connection threads, under lock. */
static struct {
    pthread_mutex_t lock;
    web_client_t *clients;
    int max_clients;
    size_t queue_bytes;
    bool stopping;
    web_slot_t status[WEB_STATUS_SLOTS];
    web_slot_t history[WEB_HISTORY];
    size_t history_next; /* slot the next event goes to */
    uint64_t dropped;    /* over all clients */
    int trace_hz;
} shared = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *web_root;    /* --root: serve files from disk instead */
static char history_db[4096];   /* [history] db; "" when history is off */
static char history_tool[4096]; /* massaged-history next to this program, or its name */
static volatile sig_atomic_t stop_requested;

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("massaged-web: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- Per-client queues -------------------------------------------------- */

/* Appends one whole message or nothing: a browser must never see half a
 * line. Caller holds shared.lock. */
static void client_push(web_client_t *c, const char *data, size_t n)
{
    if (n > shared.queue_bytes - c->len) {
        c->dropped++;
        shared.dropped++;
        return;
    }
    size_t tail = (c->head + c->len) % shared.queue_bytes;
    size_t first = shared.queue_bytes - tail < n ? shared.queue_bytes - tail : n;
    memcpy(c->buf + tail, data, first);
    memcpy(c->buf, data + first, n - first);
    c->len += n;
    c->sent++;
    pthread_cond_signal(&c->ready);
}

/* Formats "data: {"topic":..,"payload":..}\n\n" into out; returns its length,
 * or 0 when it does not fit. Line breaks in a payload would end the SSE line
 * early; JSON allows none inside strings, so outside them they become spaces. */
static size_t format_sse(char *out, size_t cap, const char *topic, const char *payload,
                         size_t payload_len, bool replay)
{
    int head =
        snprintf(out, cap,
                 "data: {%s\"topic\":\"%s\",\"payload\":", replay ? "\"replay\":true," : "", topic);
    if (head < 0 || (size_t)head + payload_len + 4 > cap)
        return 0;
    char *p = out + head;
    for (size_t i = 0; i < payload_len; i++)
        *p++ = payload[i] == '\n' || payload[i] == '\r' ? ' ' : payload[i];
    memcpy(p, "}\n\n", 3);
    return (size_t)head + payload_len + 3;
}

static char *broadcast_buf; /* main thread: one formatted message */

/* Main thread: sends one message to every browser. */
static void broadcast(const char *topic, const char *payload, size_t payload_len)
{
    size_t n = format_sse(broadcast_buf, WEB_MAX_MESSAGE + WEB_MAX_TOPIC + 64, topic, payload,
                          payload_len, false);
    if (n == 0)
        return;
    pthread_mutex_lock(&shared.lock);
    for (int i = 0; i < shared.max_clients; i++)
        if (shared.clients[i].in_use)
            client_push(&shared.clients[i], broadcast_buf, n);
    pthread_mutex_unlock(&shared.lock);
}

/* Main thread: keeps what a page opened later needs to start from. */
static void remember(const char *topic, const char *payload, size_t len)
{
    web_slot_t *slot = NULL;
    pthread_mutex_lock(&shared.lock);
    if (strncmp(topic, "status.", 7) == 0) {
        for (int i = 0; i < WEB_STATUS_SLOTS && !slot; i++)
            if (shared.status[i].used && strcmp(shared.status[i].topic, topic) == 0)
                slot = &shared.status[i];
        for (int i = 0; i < WEB_STATUS_SLOTS && !slot; i++)
            if (!shared.status[i].used)
                slot = &shared.status[i];
        if (slot && len >= WEB_STATUS_SLOT)
            slot = NULL;
    } else if (strncmp(topic, "event.", 6) == 0 && len < WEB_HISTORY_SLOT) {
        slot = &shared.history[shared.history_next];
        shared.history_next = (shared.history_next + 1) % WEB_HISTORY;
    }
    if (slot && strlen(topic) < sizeof slot->topic) {
        snprintf(slot->topic, sizeof slot->topic, "%s", topic);
        memcpy(slot->payload, payload, len);
        slot->len = len;
        slot->used = true;
    }
    pthread_mutex_unlock(&shared.lock);
}

/* Caller holds shared.lock: queues the replay for a new browser. */
static void replay_to(web_client_t *c)
{
    char line[WEB_STATUS_SLOT + WEB_MAX_TOPIC + 64];
    char hello[256];
    int len = snprintf(hello, sizeof hello,
                       "{\"v\":1,\"version\":\"%s\",\"trace_hz\":%d,\"queue_kib\":%zu}",
                       MASSAGED_VERSION, shared.trace_hz, shared.queue_bytes / 1024);
    size_t n = format_sse(line, sizeof line, "web.hello", hello, (size_t)len, false);
    client_push(c, line, n);
    for (size_t k = 0; k < WEB_HISTORY; k++) {
        const web_slot_t *s = &shared.history[(shared.history_next + k) % WEB_HISTORY];
        if (s->used && (n = format_sse(line, sizeof line, s->topic, s->payload, s->len, true)))
            client_push(c, line, n);
    }
    for (int i = 0; i < WEB_STATUS_SLOTS; i++) {
        const web_slot_t *s = &shared.status[i];
        if (s->used && (n = format_sse(line, sizeof line, s->topic, s->payload, s->len, true)))
            client_push(c, line, n);
    }
}

/* ---- Raw to trace ------------------------------------------------------- */

static web_trace_t traces[WEB_MAX_DEVICES];
static unsigned long long traces_sent; /* trace messages made, main thread */

static web_trace_t *trace_of(const char *device)
{
    for (int i = 0; i < WEB_MAX_DEVICES; i++)
        if (traces[i].used && strcmp(traces[i].name, device) == 0)
            return &traces[i];
    for (int i = 0; i < WEB_MAX_DEVICES; i++)
        if (!traces[i].used) {
            memset(&traces[i], 0, sizeof traces[i]);
            traces[i].used = true;
            traces[i].next_i0 = -1;
            snprintf(traces[i].name, sizeof traces[i].name, "%s", device);
            return &traces[i];
        }
    return NULL;
}

static void trace_flush(web_trace_t *t)
{
    char payload[512];
    char topic[WEB_MAX_TOPIC];
    if (t->n == 0)
        return;
    int len = snprintf(payload, sizeof payload,
                       "{\"device\":\"%s\",\"kind\":\"%s\",\"t_dev\":%.6f,\"dt\":%.6f,\"n\":%d,"
                       "\"samples\":%llu,\"gap\":%s,\"p_min\":%.4f,\"p_max\":%.4f,\"p_mean\":%.4f,"
                       "\"acc_min\":%.5f,\"acc_max\":%.5f,\"gyr_max\":%.3f,\"gyr_mean\":%.3f}",
                       t->name, t->kind, t->t_first, t->n / t->rate_hz, t->n, t->samples,
                       t->gap ? "true" : "false", t->p_min, t->p_max, t->p_sum / t->n, t->acc_min,
                       t->acc_max, t->gyr_max, t->gyr_sum / t->n);
    snprintf(topic, sizeof topic, "trace.%s", t->name);
    broadcast(topic, payload, (size_t)len);
    traces_sent++;
    t->n = 0;
    t->gap = false;
}

/* Scratch for one raw message's arrays: at most this many samples are
 * summarised per message (a SAMPLES frame holds far fewer). */
#define WEB_MAX_BATCH 1024
static double raw_p[WEB_MAX_BATCH], raw_acc[3 * WEB_MAX_BATCH], raw_gyr[3 * WEB_MAX_BATCH];

static void on_raw(const char *payload, size_t len)
{
    char device[CONFIG_NAME_MAX];
    double rate, i0, t_dev;
    if (!json_read_string(payload, len, "device", device, sizeof device) ||
        !json_read_number(payload, len, "rate_hz", &rate) || !(rate > 0) ||
        !json_read_number(payload, len, "i0", &i0) ||
        !json_read_number(payload, len, "t_dev", &t_dev))
        return;
    web_trace_t *t = trace_of(device);
    if (!t)
        return;
    int n = json_read_numbers(payload, len, "p", raw_p, WEB_MAX_BATCH);
    int na = json_read_numbers(payload, len, "acc", raw_acc, 3 * WEB_MAX_BATCH) / 3;
    int ng = json_read_numbers(payload, len, "gyr", raw_gyr, 3 * WEB_MAX_BATCH) / 3;
    if (na < n)
        n = na;
    if (ng < n)
        n = ng;
    if (n == 0)
        return;
    json_read_string(payload, len, "kind", t->kind, sizeof t->kind);
    /* A jump in the sample index is lost data: end the bucket there so the
     * page can break its line instead of drawing across the hole. */
    if (t->next_i0 >= 0 && (long long)i0 != t->next_i0) {
        trace_flush(t);
        t->gap = true;
    }
    t->rate_hz = rate;
    t->next_i0 = (long long)i0 + n;
    int bucket = (int)(rate / shared.trace_hz + 0.5);
    if (bucket < 1)
        bucket = 1;
    for (int k = 0; k < n; k++) {
        double p = raw_p[k];
        double a = sqrt(raw_acc[3 * k] * raw_acc[3 * k] + raw_acc[3 * k + 1] * raw_acc[3 * k + 1] +
                        raw_acc[3 * k + 2] * raw_acc[3 * k + 2]);
        double g = sqrt(raw_gyr[3 * k] * raw_gyr[3 * k] + raw_gyr[3 * k + 1] * raw_gyr[3 * k + 1] +
                        raw_gyr[3 * k + 2] * raw_gyr[3 * k + 2]);
        if (t->n == 0) {
            t->t_first = t_dev + k / rate;
            t->p_min = t->p_max = p;
            t->acc_min = t->acc_max = a;
            t->gyr_max = g;
            t->p_sum = t->gyr_sum = 0;
        }
        t->p_min = p < t->p_min ? p : t->p_min;
        t->p_max = p > t->p_max ? p : t->p_max;
        t->acc_min = a < t->acc_min ? a : t->acc_min;
        t->acc_max = a > t->acc_max ? a : t->acc_max;
        t->gyr_max = g > t->gyr_max ? g : t->gyr_max;
        t->p_sum += p;
        t->gyr_sum += g;
        t->n++;
        t->samples++;
        if (t->n >= bucket)
            trace_flush(t);
    }
}

/* ---- HTTP --------------------------------------------------------------- */

static ssize_t events_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    web_client_t *c = cls;
    (void)pos;
    pthread_mutex_lock(&shared.lock);
    if (c->len == 0 && !shared.stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (WEB_KEEPALIVE_MS % 1000) * 1000000L;
        until.tv_sec += WEB_KEEPALIVE_MS / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (c->len == 0 && !shared.stopping)
            if (pthread_cond_timedwait(&c->ready, &shared.lock, &until) == ETIMEDOUT)
                break;
    }
    if (shared.stopping) {
        pthread_mutex_unlock(&shared.lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = c->len < max ? c->len : max;
    if (n == 0) {
        pthread_mutex_unlock(&shared.lock);
        static const char keepalive[] = ":\n\n";
        if (max < sizeof keepalive - 1)
            return 0;
        memcpy(buf, keepalive, sizeof keepalive - 1);
        return (ssize_t)(sizeof keepalive - 1);
    }
    size_t first = shared.queue_bytes - c->head < n ? shared.queue_bytes - c->head : n;
    memcpy(buf, c->buf + c->head, first);
    memcpy(buf + first, c->buf, n - first);
    c->head = (c->head + n) % shared.queue_bytes;
    c->len -= n;
    pthread_mutex_unlock(&shared.lock);
    return (ssize_t)n;
}

static void events_done(void *cls)
{
    web_client_t *c = cls;
    pthread_mutex_lock(&shared.lock);
    c->in_use = false;
    c->len = 0;
    pthread_mutex_unlock(&shared.lock);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result serve_events(struct MHD_Connection *conn)
{
    web_client_t *c = NULL;
    pthread_mutex_lock(&shared.lock);
    for (int i = 0; i < shared.max_clients && !c; i++)
        if (!shared.clients[i].in_use)
            c = &shared.clients[i];
    if (c) {
        c->in_use = true;
        c->head = c->len = 0;
        c->dropped = c->sent = 0;
        replay_to(c);
    }
    pthread_mutex_unlock(&shared.lock);
    if (!c)
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "too many dashboards open ([web] max_clients)\n");
    /* Bytes a stalled browser holds in the kernel are bounded too, so the
     * queue (and its drop counter) is where a slow browser shows. */
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int sndbuf = WEB_SOCKET_SNDBUF;
    if (info)
        setsockopt(info->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, events_read, c, events_done);
    if (!r) {
        events_done(c);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result serve_file(struct MHD_Connection *conn, const web_file_t *f)
{
    struct MHD_Response *r = NULL;
    if (web_root) {
        /* Only the built-in names are looked up, so no path from a request
         * ever reaches the file system. */
        char path[4096];
        snprintf(path, sizeof path, "%s%s", web_root, f->path);
        FILE *file = fopen(path, "rb");
        char *data = NULL;
        long size = -1;
        if (file && fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 &&
            fseek(file, 0, SEEK_SET) == 0 && (data = malloc((size_t)size + 1)) &&
            fread(data, 1, (size_t)size, file) == (size_t)size)
            r = MHD_create_response_from_buffer((size_t)size, data, MHD_RESPMEM_MUST_FREE);
        else
            free(data);
        if (file)
            fclose(file);
        if (!r)
            return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found under --root\n");
    } else {
        r = MHD_create_response_from_buffer(f->size, (void *)f->data, MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", f->content_type);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- The history view ------------------------------------------------------ */

#define HISTORY_MAX_BYTES (4 << 20)
#define HISTORY_TIMEOUT_MS 15000

extern char **environ;

/* Runs `massaged-history --db DB overview --json` and returns its output
 * (malloc'd, *len bytes) or NULL with why[] set. A connection thread of its
 * own runs it, so a slow answer holds up no other browser. */
static char *run_history(size_t *len, char *why, size_t why_size)
{
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        snprintf(why, why_size, "pipe: %s", strerror(errno));
        return NULL;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    char *argv[] = {history_tool, "--db", history_db, "overview", "--json", NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, history_tool, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        snprintf(why, why_size, "cannot run %.200s: %s", history_tool, strerror(rc));
        return NULL;
    }
    char *buf = malloc(HISTORY_MAX_BYTES);
    size_t used = 0;
    bool timed_out = false;
    while (buf && used < HISTORY_MAX_BYTES) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        if (poll(&p, 1, HISTORY_TIMEOUT_MS) <= 0) {
            timed_out = true;
            break;
        }
        ssize_t n = read(out[0], buf + used, HISTORY_MAX_BYTES - used);
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    close(out[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!buf || timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(buf);
        snprintf(why, why_size, "%.200s %s", history_tool,
                 timed_out ? "did not answer in time" : "failed (see massaged-web's log)");
        return NULL;
    }
    *len = used;
    return buf;
}

static enum MHD_Result serve_history(struct MHD_Connection *conn)
{
    char why[512];
    size_t len = 0;
    char *json = NULL;
    if (!history_db[0])
        snprintf(why, sizeof why, "history is off ([history] db is empty)");
    else
        json = run_history(&len, why, sizeof why);
    struct MHD_Response *r;
    if (json) {
        r = MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
    } else {
        char body[700];
        int n = snprintf(body, sizeof body, "{\"error\":\"");
        for (const char *c = why; *c && n < (int)sizeof body - 4; c++)
            if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20)
                body[n++] = *c;
        n += snprintf(body + n, sizeof body - (size_t)n, "\"}");
        r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    }
    if (!r) {
        free(json);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result ret =
        MHD_queue_response(conn, json ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, r);
    MHD_destroy_response(r);
    return ret;
}

/* massaged-history is installed next to massaged-web (and built next to it). */
static void find_history_tool(void)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(history_tool, sizeof history_tool, "%.4000s/massaged-history", self);
            if (access(history_tool, X_OK) == 0)
                return;
        }
    }
    snprintf(history_tool, sizeof history_tool, "massaged-history");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)req_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
    if (strcmp(url, "/events") == 0)
        return serve_events(conn);
    if (strcmp(url, "/history") == 0)
        return serve_history(conn);
    if (strcmp(url, "/") == 0)
        url = "/index.html";
    for (size_t i = 0; i < web_files_count; i++)
        if (strcmp(url, web_files[i].path) == 0)
            return serve_file(conn, &web_files[i]);
    return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* ---- Start-up ----------------------------------------------------------- */

static void usage(FILE *out)
{
    fputs("usage: massaged-web [--config FILE] [--listen HOST:PORT] [--endpoint ENDPOINT]\n"
          "                    [--root DIR]\n"
          "  --config FILE      the daemon's configuration: [web] and [publish] endpoint\n"
          "  --listen HOST:PORT where the dashboard is served (default [web] listen,\n"
          "                     127.0.0.1:8080; *:8080 opens it to the network)\n"
          "  --endpoint E       the daemon's ZeroMQ endpoint (default [publish] endpoint)\n"
          "  --root DIR         serve the page's files from DIR (web/) instead of the\n"
          "                     copies built in, to edit them without rebuilding\n",
          out);
}

static void report_config_error(const char *message, void *ctx)
{
    (void)ctx;
    say("%s", message);
}

static void send_bridge_status(double uptime_s, unsigned long long received)
{
    char payload[512];
    char line[768];
    pthread_mutex_lock(&shared.lock);
    int clients = 0;
    for (int i = 0; i < shared.max_clients; i++)
        clients += shared.clients[i].in_use;
    for (int i = 0; i < shared.max_clients; i++) {
        web_client_t *c = &shared.clients[i];
        if (!c->in_use)
            continue;
        int len = snprintf(payload, sizeof payload,
                           "{\"v\":1,\"uptime_s\":%.3f,\"clients\":%d,\"received\":%llu,"
                           "\"traces\":%llu,\"dropped\":%llu,\"client_sent\":%llu,"
                           "\"client_dropped\":%llu,\"client_queued\":%zu,\"queue_kib\":%zu}",
                           uptime_s, clients, received, traces_sent,
                           (unsigned long long)shared.dropped, (unsigned long long)c->sent,
                           (unsigned long long)c->dropped, c->len, shared.queue_bytes / 1024);
        size_t n = format_sse(line, sizeof line, "web.bridge", payload, (size_t)len, false);
        if (n)
            client_push(c, line, n);
    }
    pthread_mutex_unlock(&shared.lock);
}

typedef struct {
    const char *config_path; /* --config, or NULL */
    const char *listen;      /* --listen, or NULL: the configuration's */
    const char *endpoint;    /* --endpoint, or NULL: the configuration's */
} options_t;

/* Returns -1 to go on, or the status to exit with. */
static int parse_options(int argc, char **argv, options_t *o)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},   {"listen", required_argument, NULL, 'l'},
        {"endpoint", required_argument, NULL, 'e'}, {"root", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    *o = (options_t){NULL, NULL, NULL};
    int opt;
    while ((opt = getopt_long(argc, argv, "c:l:e:r:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            o->config_path = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'e':
            o->endpoint = optarg;
            break;
        case 'r':
            web_root = optarg;
            break;
        default: /* --help, or a usage error */
            return cli_usage_status(opt, usage);
        }
    }
    if (optind != argc)
        return cli_usage_error(usage);
    return -1;
}

/* Claims every queue and slot now, so that serving never allocates more. */
static int allocate(const config_t *cfg)
{
    broadcast_buf = malloc(WEB_MAX_MESSAGE + WEB_MAX_TOPIC + 64);
    shared.max_clients = cfg->web.max_clients;
    shared.queue_bytes = (size_t)cfg->web.queue_kib * 1024;
    shared.trace_hz = cfg->web.trace_hz;
    shared.clients = calloc((size_t)shared.max_clients, sizeof *shared.clients);
    if (!broadcast_buf || !shared.clients)
        return -ENOMEM;
    for (int i = 0; i < shared.max_clients; i++) {
        pthread_cond_init(&shared.clients[i].ready, NULL);
        if (!(shared.clients[i].buf = malloc(shared.queue_bytes)))
            return -ENOMEM;
    }
    for (int i = 0; i < WEB_STATUS_SLOTS; i++)
        if (!(shared.status[i].payload = malloc(WEB_STATUS_SLOT)))
            return -ENOMEM;
    for (int i = 0; i < WEB_HISTORY; i++)
        if (!(shared.history[i].payload = malloc(WEB_HISTORY_SLOT)))
            return -ENOMEM;
    return 0;
}

/* Wakes every client's thread so that its stream ends (before the server stops). */
static void release(void)
{
    pthread_mutex_lock(&shared.lock);
    shared.stopping = true;
    for (int i = 0; i < shared.max_clients && shared.clients; i++)
        pthread_cond_broadcast(&shared.clients[i].ready);
    pthread_mutex_unlock(&shared.lock);
}

/* Frees what allocate() took, once no client thread runs. */
static void free_shared(void)
{
    for (int i = 0; i < shared.max_clients && shared.clients; i++)
        free(shared.clients[i].buf);
    free(shared.clients);
    for (int i = 0; i < WEB_STATUS_SLOTS; i++)
        free(shared.status[i].payload);
    for (int i = 0; i < WEB_HISTORY; i++)
        free(shared.history[i].payload);
    free(broadcast_buf);
}

/* A SUB socket on every topic of endpoint, or NULL (said why). */
static void *open_subscriber(void *ctx, const char *endpoint)
{
    void *sock = zmq_socket(ctx, ZMQ_SUB);
    if (!sock) {
        say("zmq: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int linger = 0, rcvhwm = 10000;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(sock, endpoint) != 0) {
        say("cannot connect to %s: %s", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

/* The HTTP server on listen (HOST:PORT), or NULL (said why). */
static struct MHD_Daemon *start_http(const char *listen)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char why[512];
    if (netaddr_resolve(listen, &addr, &addr_len, why, sizeof why) != 0) {
        say("listen address: %s", why);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    /* Page loads need a few connections besides the streams. */
    unsigned limit = (unsigned)shared.max_clients + 8;
    struct MHD_Daemon *http = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
                                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                               MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_END);
    if (!http)
        say("cannot serve on %s (in use, or not an address of this machine?)", listen);
    return http;
}

/* Takes one message off the socket and hands it on (raw batches become
 * traces, everything else goes to the browsers as it is). Returns false
 * when there was none; *received counts the whole JSON ones. */
static bool bridge_one(void *sock, char *topic, char *payload, unsigned long long *received)
{
    int topic_len = zmq_recv(sock, topic, WEB_MAX_TOPIC - 1, ZMQ_DONTWAIT);
    if (topic_len < 0)
        return false;
    topic[topic_len < WEB_MAX_TOPIC - 1 ? topic_len : WEB_MAX_TOPIC - 1] = '\0';
    int more = 0;
    size_t optlen = sizeof more;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &optlen);
    int payload_len = 0;
    if (more)
        payload_len = zmq_recv(sock, payload, WEB_MAX_MESSAGE, 0);
    bool whole = payload_len >= 0 && payload_len <= WEB_MAX_MESSAGE;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &optlen);
    while (more) {
        char sink[64];
        zmq_recv(sock, sink, sizeof sink, 0);
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &optlen);
    }
    if (!whole || payload_len == 0 || payload[0] != '{')
        return true;
    payload[payload_len] = '\0';
    (*received)++;
    if (strncmp(topic, "raw.", 4) == 0) {
        on_raw(payload, (size_t)payload_len);
    } else {
        remember(topic, payload, (size_t)payload_len);
        broadcast(topic, payload, (size_t)payload_len);
    }
    return true;
}

/* Bridges until a signal; the bridge's own status goes out once a second.
 * Returns the exit status. */
static int bridge(void *sock, char *topic, char *payload)
{
    unsigned long long received = 0;
    double start = now_mono(), next_status = start + 1.0;
    while (!stop_requested) {
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, 200);
        if (rc < 0 && zmq_errno() != EINTR) {
            say("poll: %s", zmq_strerror(zmq_errno()));
            return 1;
        }
        /* Drain what is there before looking at the clock again. */
        while (rc > 0 && bridge_one(sock, topic, payload, &received))
            ;
        double t = now_mono();
        if (t >= next_status) {
            send_bridge_status(t - start, received);
            next_status += 1.0;
            if (next_status < t)
                next_status = t + 1.0;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    options_t o;
    int status = parse_options(argc, argv, &o);
    if (status >= 0)
        return status;
    static config_t cfg;
    config_set_defaults(&cfg);
    if (o.config_path) {
        if (config_load(o.config_path, &cfg, report_config_error, NULL) != 0)
            return 1;
        if (!cfg.web.enabled) {
            say("[web] enabled = false in %s: not serving", o.config_path);
            return 0;
        }
    }
    const char *listen = o.listen ? o.listen : cfg.web.listen;
    snprintf(history_db, sizeof history_db, "%s", cfg.history.db);
    find_history_tool();
    const char *endpoint = o.endpoint ? o.endpoint : cfg.publish.endpoint;

    stop_signal_catch(&stop_requested);
    /* A browser that closes mid-write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);

    status = 1;
    void *ctx = NULL, *sock = NULL;
    struct MHD_Daemon *http = NULL;
    char *topic = malloc(WEB_MAX_TOPIC);
    char *payload = malloc(WEB_MAX_MESSAGE + 1);
    if (!topic || !payload || allocate(&cfg) != 0) {
        say("out of memory");
        goto out;
    }
    ctx = zmq_ctx_new();
    sock = open_subscriber(ctx, endpoint); /* a NULL ctx fails here, with a message */
    if (!sock || !(http = start_http(listen)))
        goto out;
    say("dashboard at http://%s/ (subscribed to %s)", listen, endpoint);
    status = bridge(sock, topic, payload);

out:
    release();
    if (http)
        MHD_stop_daemon(http);
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx);
    free_shared();
    free(topic);
    free(payload);
    return status;
}
