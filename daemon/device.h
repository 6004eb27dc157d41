/* device: one configured tool's port, serviced by the pipeline thread.
 *
 * A device has no thread of its own while it streams: the pipeline thread
 * polls its port together with every other device's (device_fd, device_due)
 * and calls device_service when bytes came or something is due; the device
 * reads them, decodes frames and hands each one at once, in order, to the
 * setup's on_msg, on that same thread. So a frame costs one wake-up of the
 * daemon's threads, the one the port causes. It asks the device for its
 * HELLO, detects a lost device (end of file, EIO, ENXIO, or more than 2 s of
 * silence), reports it, and reopens the port with a short backoff so that a
 * device that comes back is streaming again within a second. Only `port =
 * auto` has a thread, and only while it searches: probing a candidate waits
 * up to [auto] probe_ms for an answer, which must never hold up the other
 * devices; the search thread hands the port it found over and ends.
 *
 * While the pipeline thread is held up, the bytes wait in the kernel's
 * buffers for the port (docs/ARCHITECTURE.md "When the loop is held up").
 *
 * Samples are never passed on before the device's HELLO has given its scales:
 * up to DEVICE_HELD_FRAMES sample frames are held while the HELLO is requested
 * (the device answers within 100 ms) and then passed on in order.
 */
#ifndef MASSAGED_DEVICE_H
#define MASSAGED_DEVICE_H

#include "config.h"
#include "frame.h"
#include "port.h"
#include "ring.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define DEVICE_HELD_FRAMES 32
#define DEVICE_SILENCE_S 2.0      /* no byte for this long: the device is gone */
#define DEVICE_BACKOFF_MIN_MS 50  /* first retry after a failed open */
#define DEVICE_BACKOFF_MAX_MS 400 /* retries never wait longer, so a replug is seen within 1 s */

/* What a device counts; published by the pipeline in status.<device>. */
typedef struct {
    frame_counters_t frames;    /* the decoder's counters, over the whole run */
    uint64_t ring_dropped;      /* always 0: frames are handed on inline, never queued (kept for
                                   status.<device>, events.md) */
    uint64_t ring_dropped_samples;
    uint64_t held_dropped;      /* sample frames dropped while waiting for HELLO */
    uint64_t hello_rejected;    /* HELLOs refused (absurd scales or rate, wrong kind) */
    uint64_t connects;          /* times the port was opened and the stream started */
    uint64_t open_failures;
} device_stats_t;

typedef enum {
    DEVICE_MSG_FRAME,        /* frame: a decoded frame (HELLO, SAMPLES, STATUS, BUTTON) */
    DEVICE_MSG_CONNECTED,    /* text: the port path; the stream starts */
    DEVICE_MSG_DISCONNECTED, /* text: why */
    DEVICE_MSG_STATS,        /* stats: a snapshot of the counters */
} device_msg_kind_t;

/* What a device hands on, one at a time. */
typedef struct {
    uint8_t kind;    /* device_msg_kind_t */
    double t_host;   /* CLOCK_REALTIME seconds when the bytes were read */
    union {
        const frame_t *frame; /* the decoder's own: not copied */
        device_stats_t stats;
        char text[256];
    } u;
} device_msg_t;

typedef struct device device_t;

/* The ports the daemon's devices have open, shared by the pipeline thread and
 * the `port = auto` search threads so that a search never takes a port
 * another device uses. */
typedef struct {
    pthread_mutex_t lock;
    char paths[CONFIG_MAX_DEVICES][4096]; /* resolved paths; "" = free entry */
    bool probing[CONFIG_MAX_DEVICES];     /* held only while a `port = auto` probe asks it */
} device_claims_t;

/* Prepares an empty claims table; returns 0 or a negative errno. */
int device_claims_init(device_claims_t *claims);
void device_claims_destroy(device_claims_t *claims);

/* Receives what a device hands on (the message is valid during the call
 * only). Called on the thread that services the device. */
typedef void (*device_msg_fn)(void *ctx, const device_msg_t *msg);

typedef struct {
    config_device_t cfg;        /* the device's configuration (copied) */
    device_msg_fn on_msg;       /* frames, connects, losses and counter snapshots */
    void *ctx;                  /* for on_msg */
    int wake_fd;                /* eventfd a `port = auto` search writes when it ends */
    device_claims_t *claims;    /* shared by all devices of the daemon */
    char extra_ports[1024];     /* [auto] extra_ports */
    int probe_ms;               /* [auto] probe_ms */
} device_setup_t;

/* Prepares a device; nothing is opened and no thread started until the first
 * device_service (due at once). Returns NULL with *err set on failure. Any
 * thread; from then on the device belongs to the thread that services it. */
device_t *device_create(const device_setup_t *setup, int *err);

/* The descriptor to poll for POLLIN while the device streams, else -1. It
 * is open from DEVICE_MSG_CONNECTED until just before DEVICE_MSG_DISCONNECTED. */
int device_fd(const device_t *dev);

/* When device_service must be called even if the port stays silent:
 * CLOCK_MONOTONIC seconds (a retry, a HELLO REQUEST, the silence limit);
 * INFINITY while a `port = auto` search runs, 0 once it has ended (it writes
 * wake_fd then). A streaming device is never due while its bytes come: the
 * counters are asked for (device_report_stats), not handed on by a timer. */
double device_due(const device_t *dev);

/* Does what is due: opens the port or takes the one a search found, reads
 * and decodes what came (revents: the poll result for device_fd, 0 when not
 * polled), requests the HELLO, detects a loss, reports counters. now is the
 * caller's CLOCK_MONOTONIC reading, taken after its poll returned: one
 * reading serves a whole turn. Hands every result to on_msg before it
 * returns. The owning thread. */
void device_service(device_t *dev, short revents, double now);

/* Hands on a snapshot of the counters (DEVICE_MSG_STATS) if they changed
 * since the last one. The owner calls it before it reports them (the status
 * tick), so that they count every byte read so far without a wake-up of
 * their own. The owning thread. */
void device_report_stats(device_t *dev);

/* Stops a search, closes the port, hands on the final counters (and
 * DISCONNECTED "stopped" when it streamed) and frees the device. Accepts
 * NULL and NULLs the caller's pointer. The owning thread. */
void device_stop(device_t **dev);

/* Validates a HELLO for a device configured as kind; returns NULL when it is
 * acceptable, otherwise a static string saying why not. */
const char *device_hello_problem(const frame_hello_t *hello, device_kind_t kind);

#endif
