#include "device.h"

#include "log.h"
#include "now.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Where a device is: waiting to (re)open its port, searching for it (`port =
 * auto`, on the search thread), or streaming from it. */
typedef enum { DEV_CLOSED, DEV_SEARCHING, DEV_STREAMING } device_state_t;

struct device {
    /* What every turn of the loop reads (device_due, stream_step), first and
     * together: a few cache lines instead of one per field across the
     * struct's 7 kB. */
    device_state_t state;
    bool seen_hello;
    int requests;    /* HELLO REQUESTs sent since the port opened */
    double retry_at; /* while closed: when to try again (monotonic seconds) */
    /* While streaming (monotonic seconds). */
    double last_rx, last_request;
    double t_read; /* arrival time of the chunk being decoded */
    port_t *port;
    device_msg_fn on_msg;
    void *ctx;
    atomic_bool search_done;
    int n_held;
    device_stats_t stats;
    device_stats_t stats_pushed; /* the last snapshot handed on */
    frame_decoder_t decoder;

    config_device_t cfg;
    port_driver_t driver;
    int wake_fd;
    device_claims_t *claims;
    char extra_ports[1024];
    int probe_ms;
    bool auto_port;
    char claimed[PATH_MAX]; /* the resolved path this device holds in claims, or "" */
    int stop_fd; /* eventfd: readable once a search must stop */

    /* While closed: how long to wait after the next retry. */
    int backoff_ms;
    int last_error;

    /* The `port = auto` search: its thread writes search_port and search_err,
     * then sets search_done; the owner reads them after joining it. */
    pthread_t search_thread;
    port_t *search_port;
    int search_err;

    char port_path[256];
    frame_hello_t hello;
    frame_t held[DEVICE_HELD_FRAMES];
    char last_problem[160];
};

/* The configuration names the drivers without depending on the port module
 * (config.c is fuzzed on its own); the two enums must stay equal. */
_Static_assert((int)CONFIG_DRIVER_AUTO == (int)PORT_DRIVER_AUTO &&
                   (int)CONFIG_DRIVER_SERIALPORT == (int)PORT_DRIVER_SERIALPORT &&
                   (int)CONFIG_DRIVER_TERMIOS == (int)PORT_DRIVER_TERMIOS,
               "config_driver_t and port_driver_t must have the same values");

const char *device_hello_problem(const frame_hello_t *hello, device_kind_t kind)
{
    if (!device_kind_info((device_kind_t)hello->kind))
        return "unknown device kind";
    if ((int)hello->kind != (int)kind)
        return hello->kind == DEVICE_KIND_BALL ? "the device is a massage ball, configured as scraper"
                                              : "the device is a scraper, configured as ball";
    if (hello->rate_hz < 1 || hello->rate_hz > 10000)
        return "sample rate outside 1..10000 Hz";
    if (!isfinite(hello->p_scale) || !(hello->p_scale > 0.0f) || hello->p_scale > 1e4f)
        return "pressure/force scale not a positive number up to 1e4 per LSB";
    if (!isfinite(hello->acc_scale) || !(hello->acc_scale > 0.0f) || hello->acc_scale > 0.01f)
        return "accelerometer scale not a positive number up to 0.01 g per LSB";
    if (!isfinite(hello->gyr_scale) || !(hello->gyr_scale > 0.0f) || hello->gyr_scale > 1.0f)
        return "gyroscope scale not a positive number up to 1 deg/s per LSB";
    return NULL;
}

__attribute__((hot)) static void push_frame(device_t *dev, const frame_t *frame)
{
    device_msg_t msg;
    msg.kind = DEVICE_MSG_FRAME;
    msg.t_host = dev->t_read;
    msg.u.frame = frame;
    dev->on_msg(dev->ctx, &msg);
}

static void push_text(device_t *dev, device_msg_kind_t kind, const char *text)
{
    device_msg_t msg;
    msg.kind = (uint8_t)kind;
    msg.t_host = now_real();
    snprintf(msg.u.text, sizeof msg.u.text, "%s", text);
    dev->on_msg(dev->ctx, &msg);
}

/* Hands on a snapshot of the counters when they changed since the last one
 * (an idle or silent device costs nothing), or always with force. */
static void push_stats(device_t *dev, bool force)
{
    dev->stats.frames = dev->decoder.counters;
    if (!force && memcmp(&dev->stats, &dev->stats_pushed, sizeof dev->stats) == 0)
        return;
    device_msg_t msg;
    msg.kind = DEVICE_MSG_STATS;
    msg.t_host = now_real();
    msg.u.stats = dev->stats;
    dev->on_msg(dev->ctx, &msg);
    dev->stats_pushed = dev->stats;
}

static void handle_hello(device_t *dev, const frame_t *frame)
{
    const char *problem = device_hello_problem(&frame->u.hello, dev->cfg.kind);
    if (problem) {
        dev->stats.hello_rejected++;
        if (strcmp(problem, dev->last_problem) != 0) {
            log_error("device %s (%s): HELLO refused: %s (rate %u Hz, scales %g, %g, %g); its "
                      "samples are ignored until a valid HELLO arrives",
                      dev->cfg.name, dev->port_path, problem, frame->u.hello.rate_hz,
                      (double)frame->u.hello.p_scale, (double)frame->u.hello.acc_scale,
                      (double)frame->u.hello.gyr_scale);
            snprintf(dev->last_problem, sizeof dev->last_problem, "%s", problem);
        }
        return;
    }
    dev->last_problem[0] = '\0';
    if (!dev->seen_hello)
        log_info("device %s: %s serial %s firmware %u.%u at %u Hz", dev->cfg.name,
                 device_kind_name(dev->cfg.kind), frame->u.hello.serial, frame->u.hello.fw_major,
                 frame->u.hello.fw_minor, frame->u.hello.rate_hz);
    dev->seen_hello = true;
    dev->hello = frame->u.hello;
    push_frame(dev, frame);
    for (int i = 0; i < dev->n_held; i++)
        push_frame(dev, &dev->held[i]);
    dev->n_held = 0;
}

__attribute__((hot)) static void on_frame(const frame_t *frame, void *ctx)
{
    device_t *dev = ctx;
    switch (frame->type) {
    case FRAME_HELLO:
        handle_hello(dev, frame);
        break;
    case FRAME_SAMPLES:
        if (dev->seen_hello) {
            push_frame(dev, frame);
        } else if (dev->n_held < DEVICE_HELD_FRAMES) {
            dev->held[dev->n_held++] = *frame;
        } else {
            dev->stats.held_dropped++;
        }
        break;
    case FRAME_STATUS:
    case FRAME_BUTTON:
        push_frame(dev, frame);
        break;
    default:
        break; /* host-to-device types are never sent by a device */
    }
}

/* Whether a search must stop. */
static bool stop_requested(const device_t *dev)
{
    /* Polled, not read: reading the eventfd would reset it. */
    struct pollfd pfd = {.fd = dev->stop_fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 1;
}

/* Waits up to ms milliseconds; returns true when a stop was requested. */
static bool sleep_or_stop(const device_t *dev, int ms)
{
    struct pollfd pfd = {.fd = dev->stop_fd, .events = POLLIN};
    return poll(&pfd, 1, ms) == 1;
}

/* Asks the device on port for its HELLO, waiting at most timeout_ms for
 * the line to take the few bytes. */
static int send_hello_request(port_t *port, int timeout_ms)
{
    frame_t request;
    memset(&request, 0, sizeof request);
    request.type = FRAME_HELLO_REQUEST;
    uint8_t out[32];
    size_t n = frame_encode(&request, out, sizeof out);
    if (n == 0)
        return -EINVAL;
    return port_write(port, out, n, timeout_ms);
}

static void release_claim(device_t *dev);

/* Ends the stream: the port is closed and released, the loss handed on,
 * and the port tried again after the shortest backoff. why is NULL for a
 * stop. */
static void end_stream(device_t *dev, const char *why)
{
    if (why)
        log_warn("device %s: lost %s: %s", dev->cfg.name, dev->port_path, why);
    port_close(&dev->port);
    release_claim(dev);
    push_stats(dev, true);
    push_text(dev, DEVICE_MSG_DISCONNECTED, why ? why : "stopped");
    dev->state = DEV_CLOSED;
    dev->retry_at = now_mono() + DEVICE_BACKOFF_MIN_MS / 1000.0;
}

/* Starts streaming from the port just opened. */
static void start_stream(device_t *dev, port_t *port)
{
    dev->port = port;
    dev->state = DEV_STREAMING;
    dev->last_error = 0;
    dev->backoff_ms = DEVICE_BACKOFF_MIN_MS;
    dev->seen_hello = false;
    dev->n_held = 0;
    frame_decoder_reset(&dev->decoder);
    dev->stats.connects++;
    push_text(dev, DEVICE_MSG_CONNECTED, dev->port_path);
    log_info("device %s: connected on %s (%s%s)", dev->cfg.name, dev->port_path,
             port_driver_name(dev->port), port_low_latency(dev->port) ? ", low latency" : "");
    dev->last_rx = now_mono();
    dev->last_request = -1e9;
    dev->requests = 0;
}

/* A failed open or search: counted, said once per kind of failure, and
 * tried again after the backoff (a search every second). */
static void open_failed(device_t *dev, int err)
{
    dev->stats.open_failures++;
    if (err != dev->last_error && dev->auto_port)
        log_warn("device %s: port = auto: no serial port answered as a %s; searching "
                 "again every second",
                 dev->cfg.name, device_kind_name(dev->cfg.kind));
    else if (err != dev->last_error)
        log_warn("device %s: cannot open %s: %s; retrying", dev->cfg.name, dev->port_path,
                 err == -EBUSY || err == -EAGAIN ? "another device has it open" : strerror(-err));
    dev->last_error = err;
    dev->state = DEV_CLOSED;
    dev->retry_at = now_mono() + (dev->auto_port ? 1000 : dev->backoff_ms) / 1000.0;
    dev->backoff_ms = dev->backoff_ms * 2 > DEVICE_BACKOFF_MAX_MS ? DEVICE_BACKOFF_MAX_MS
                                                                  : dev->backoff_ms * 2;
}

/* The HELLO is asked for at once, then every 100 ms for a second, then
 * every second. */
static double request_interval(const device_t *dev)
{
    return dev->requests < 10 ? 0.1 : 1.0;
}

/* One turn of the stream: the HELLO REQUEST when due, what the port has,
 * the silence limit. */
__attribute__((hot)) static void stream_step(device_t *dev, short revents, double now)
{
    char why[96];
    if (!dev->seen_hello && now - dev->last_request >= request_interval(dev)) {
        /* Never waits: a line that does not take the bytes at once must
         * not hold up the other devices; the request is sent again. */
        int rc = send_hello_request(dev->port, 0);
        if (rc != 0 && rc != -ETIMEDOUT) {
            snprintf(why, sizeof why, "write failed: %s", strerror(-rc));
            end_stream(dev, why);
            return;
        }
        dev->last_request = now;
        dev->requests++;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        uint8_t buf[4096];
        ssize_t n = port_read(dev->port, buf, sizeof buf);
        if (n < 0) {
            snprintf(why, sizeof why, "%s", n == -EPIPE ? "end of file" : strerror((int)-n));
            end_stream(dev, why);
            return;
        }
        if (n > 0) {
            dev->t_read = now_real();
            dev->last_rx = now;
            frame_decoder_feed(&dev->decoder, buf, (size_t)n, on_frame, dev);
        } else if (revents & (POLLHUP | POLLERR)) {
            end_stream(dev, "hang-up");
            return;
        }
    }
    if (now - dev->last_rx > DEVICE_SILENCE_S) {
        snprintf(why, sizeof why, "silent for more than %.0f s", DEVICE_SILENCE_S);
        end_stream(dev, why);
    }
}

int device_claims_init(device_claims_t *claims)
{
    memset(claims->paths, 0, sizeof claims->paths);
    return -pthread_mutex_init(&claims->lock, NULL);
}

void device_claims_destroy(device_claims_t *claims)
{
    pthread_mutex_destroy(&claims->lock);
}

/* Takes path for this device unless another device holds it: returns 0, or
 * -EAGAIN when another device is only probing it (it may be free again in a
 * moment), or -EBUSY when another device streams from it. */
static int claim(device_t *dev, const char *resolved, bool probing)
{
    device_claims_t *c = dev->claims;
    int rc = 0;
    int free_slot = -1;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++) {
        if (c->paths[i][0] == '\0') {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(c->paths[i], resolved) == 0) {
            rc = c->probing[i] ? -EAGAIN : -EBUSY;
        }
    }
    if (rc == 0 && free_slot >= 0) {
        snprintf(c->paths[free_slot], sizeof c->paths[free_slot], "%s", resolved);
        c->probing[free_slot] = probing;
    }
    pthread_mutex_unlock(&c->lock);
    if (rc == 0)
        snprintf(dev->claimed, sizeof dev->claimed, "%s", resolved);
    return rc;
}

/* Marks this device's claim as streaming: other probes skip it from now on. */
static void confirm_claim(device_t *dev)
{
    device_claims_t *c = dev->claims;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++)
        if (strcmp(c->paths[i], dev->claimed) == 0)
            c->probing[i] = false;
    pthread_mutex_unlock(&c->lock);
}

static void release_claim(device_t *dev)
{
    if (dev->claimed[0] == '\0')
        return;
    device_claims_t *c = dev->claims;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++)
        if (strcmp(c->paths[i], dev->claimed) == 0)
            c->paths[i][0] = '\0';
    pthread_mutex_unlock(&c->lock);
    dev->claimed[0] = '\0';
}

/* Opens path if no other device of the daemon has it open; probing says the
 * claim is held only for a `port = auto` probe. On failure *err is a negative
 * errno: -EAGAIN when another device's probe holds the port. */
static port_t *open_claimed(device_t *dev, const char *path, bool probing, int *err)
{
    char resolved[PATH_MAX];
    if (!realpath(path, resolved)) {
        *err = -errno;
        return NULL;
    }
    *err = claim(dev, resolved, probing);
    if (*err != 0)
        return NULL;
    port_t *port = port_open(path, dev->cfg.baud, dev->driver, err);
    if (!port)
        release_claim(dev);
    else
        snprintf(dev->port_path, sizeof dev->port_path, "%s", path);
    return port;
}

/* What a probe learnt from a candidate port for `port = auto`. */
typedef struct {
    device_t *dev;
    bool answered; /* a HELLO came, of any kind */
    bool found;    /* it was a valid HELLO of the configured kind */
} probe_t;

static void on_probe_frame(const frame_t *frame, void *ctx)
{
    probe_t *probe = ctx;
    if (frame->type != FRAME_HELLO)
        return;
    probe->answered = true;
    if (!device_hello_problem(&frame->u.hello, probe->dev->cfg.kind))
        probe->found = true;
}

/* Opens path and waits up to probe_ms for a HELLO; returns the open port when
 * it is a valid HELLO of the configured kind, else NULL with *err set:
 * -EAGAIN when another device's probe holds the port, -ENODEV otherwise. A
 * HELLO of another kind ends the wait at once, so two devices probing the same
 * ports do not hold each other's port longer than needed. */
static port_t *probe(device_t *dev, const char *path, int *err)
{
    port_t *port = open_claimed(dev, path, true, err);
    if (!port)
        return NULL;
    frame_decoder_t decoder;
    frame_decoder_init(&decoder);
    probe_t result = {dev, false, false};
    int rc = send_hello_request(port, 100);
    double deadline = now_mono() + dev->probe_ms / 1000.0;
    uint8_t buf[1024];
    while (rc == 0 && !result.answered && now_mono() < deadline) {
        struct pollfd pfd[2] = {{.fd = port_fd(port), .events = POLLIN},
                                {.fd = dev->stop_fd, .events = POLLIN}};
        int timeout = (int)((deadline - now_mono()) * 1000.0) + 1;
        if (poll(pfd, 2, timeout) <= 0 || (pfd[1].revents & POLLIN))
            break;
        ssize_t n = port_read(port, buf, sizeof buf);
        if (n < 0)
            break;
        frame_decoder_feed(&decoder, buf, (size_t)n, on_probe_frame, &result);
    }
    if (result.found) {
        confirm_claim(dev);
        log_info("device %s: port = auto found it on %s", dev->cfg.name, path);
        return port;
    }
    port_close(&port);
    release_claim(dev);
    *err = -ENODEV;
    return NULL;
}

/* Searches the system's serial ports and [auto] extra_ports for the device.
 * A port another device is probing at the same moment is asked again once
 * that probe is over (at most a few rounds), so devices searching together
 * never miss a port only because they met on it. */
static port_t *find_port(device_t *dev, int *err)
{
    enum { MAX_PORTS = 64, MAX_ROUNDS = 8 };
    char (*names)[256] = calloc(MAX_PORTS, sizeof *names);
    bool *pending = calloc(MAX_PORTS, sizeof *pending);
    if (!names || !pending) {
        free(names);
        free(pending);
        *err = -ENOMEM;
        return NULL;
    }
    int n = port_list(names, MAX_PORTS);
    if (n < 0)
        n = 0;
    char patterns[sizeof dev->extra_ports];
    snprintf(patterns, sizeof patterns, "%s", dev->extra_ports);
    char *save = NULL;
    for (char *pat = strtok_r(patterns, ":", &save); pat && n < MAX_PORTS;
         pat = strtok_r(NULL, ":", &save)) {
        glob_t g;
        if (glob(pat, 0, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc && n < MAX_PORTS; i++)
                snprintf(names[n++], sizeof names[0], "%s", g.gl_pathv[i]);
        }
        globfree(&g);
    }
    for (int i = 0; i < n; i++)
        pending[i] = true;
    port_t *port = NULL;
    for (int round = 0; round < MAX_ROUNDS && !port && !stop_requested(dev); round++) {
        bool retry = false;
        for (int i = 0; i < n && !port && !stop_requested(dev); i++) {
            if (!pending[i])
                continue;
            int probe_err = 0;
            port = probe(dev, names[i], &probe_err);
            pending[i] = probe_err == -EAGAIN;
            retry |= pending[i];
        }
        /* Wait for the other device's probe (a fraction of probe_ms). */
        if (!port && (!retry || sleep_or_stop(dev, dev->probe_ms / 4 + 1)))
            break;
    }
    free(names);
    free(pending);
    *err = port ? 0 : -ENODEV;
    return port;
}

/* The `port = auto` search thread: one search, handed over through
 * search_port/search_err and the owner's wake-up, then it ends. */
static void *search_main(void *arg)
{
    device_t *dev = arg;
    char name[16] = "auto:"; /* the kernel keeps 15 characters */
    memcpy(name + 5, dev->cfg.name, strnlen(dev->cfg.name, sizeof name - 6));
    pthread_setname_np(pthread_self(), name);
    int err = 0;
    dev->search_port = find_port(dev, &err);
    dev->search_err = err;
    atomic_store_explicit(&dev->search_done, true, memory_order_release);
    uint64_t one = 1;
    ssize_t w = write(dev->wake_fd, &one, sizeof one);
    (void)w; /* a full eventfd counter still wakes the owner */
    return NULL;
}

/* Waits for the search thread and returns the port it found (NULL, *err
 * set, when none). */
static port_t *end_search(device_t *dev, int *err)
{
    pthread_join(dev->search_thread, NULL);
    *err = dev->search_err;
    port_t *port = dev->search_port;
    dev->search_port = NULL;
    dev->state = DEV_CLOSED;
    return port;
}

void device_report_stats(device_t *dev)
{
    push_stats(dev, false);
}

int device_fd(const device_t *dev)
{
    return dev->state == DEV_STREAMING ? port_fd(dev->port) : -1;
}

__attribute__((hot)) double device_due(const device_t *dev)
{
    switch (dev->state) {
    case DEV_CLOSED:
        return dev->retry_at;
    case DEV_SEARCHING: /* its end writes wake_fd */
        return atomic_load_explicit(&dev->search_done, memory_order_acquire) ? 0 : INFINITY;
    case DEV_STREAMING:
    default: {
        /* The silence that means the device is gone and a HELLO REQUEST
         * again. The counters are not due: they are asked for when they
         * are reported (device_report_stats), so a streaming device wakes
         * the loop only by its bytes. */
        double due = dev->last_rx + DEVICE_SILENCE_S + 0.001;
        if (!dev->seen_hello && dev->last_request + request_interval(dev) < due)
            due = dev->last_request + request_interval(dev);
        return due;
    }
    }
}

__attribute__((hot)) void device_service(device_t *dev, short revents, double now)
{
    int err = 0;
    port_t *port = NULL;
    switch (dev->state) {
    case DEV_CLOSED:
        if (now < dev->retry_at)
            return;
        if (dev->auto_port) {
            atomic_store(&dev->search_done, false);
            err = pthread_create(&dev->search_thread, NULL, search_main, dev);
            if (err != 0)
                open_failed(dev, -err);
            else
                dev->state = DEV_SEARCHING;
            return;
        }
        port = open_claimed(dev, dev->cfg.port, false, &err);
        break;
    case DEV_SEARCHING:
        if (!atomic_load_explicit(&dev->search_done, memory_order_acquire))
            return;
        port = end_search(dev, &err);
        break;
    case DEV_STREAMING:
        stream_step(dev, revents, now);
        return;
    }
    if (!port) {
        open_failed(dev, err);
        return;
    }
    start_stream(dev, port);
    stream_step(dev, 0, now_mono()); /* the first HELLO REQUEST (opening took time) */
}

device_t *device_create(const device_setup_t *setup, int *err)
{
    device_t *dev = calloc(1, sizeof *dev);
    if (!dev) {
        *err = -ENOMEM;
        return NULL;
    }
    dev->cfg = setup->cfg;
    dev->driver = (port_driver_t)setup->cfg.driver;
    dev->on_msg = setup->on_msg;
    dev->ctx = setup->ctx;
    dev->wake_fd = setup->wake_fd;
    dev->claims = setup->claims;
    snprintf(dev->extra_ports, sizeof dev->extra_ports, "%s", setup->extra_ports);
    dev->probe_ms = setup->probe_ms;
    dev->auto_port = strcmp(setup->cfg.port, "auto") == 0;
    snprintf(dev->port_path, sizeof dev->port_path, "%s", setup->cfg.port);
    frame_decoder_init(&dev->decoder);
    dev->state = DEV_CLOSED;
    dev->retry_at = 0; /* at once */
    dev->backoff_ms = DEVICE_BACKOFF_MIN_MS;
    atomic_init(&dev->search_done, false);
    dev->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (dev->stop_fd < 0) {
        *err = -errno;
        free(dev);
        return NULL;
    }
    return dev;
}

void device_stop(device_t **pdev)
{
    if (!pdev || !*pdev)
        return;
    device_t *dev = *pdev;
    if (dev->state == DEV_SEARCHING) {
        uint64_t one = 1;
        ssize_t w = write(dev->stop_fd, &one, sizeof one);
        (void)w;
        int err;
        port_t *port = end_search(dev, &err);
        port_close(&port);
        release_claim(dev);
    }
    if (dev->state == DEV_STREAMING)
        end_stream(dev, NULL);
    else
        push_stats(dev, true);
    close(dev->stop_fd);
    free(dev);
    *pdev = NULL;
}
