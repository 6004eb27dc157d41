/* device: one configured tool's reader thread.
 *
 * The thread opens the port (or finds it, for `port = auto`), asks the device
 * for its HELLO, decodes frames and pushes them, in order, into the device's
 * SPSC ring for the pipeline thread. It never blocks on the ring: when the
 * ring is short of room it stops reading the port for at most
 * DEVICE_BACKPRESSURE_MS, leaving the bytes in the kernel's buffer, and then
 * reads on, dropping and counting the frames a full ring refuses. It detects a lost device (end
 * of file, EIO, ENXIO, or more than 2 s of silence), reports it through the
 * ring, and reopens the port with a short backoff so that a device that comes
 * back is streaming again within a second.
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
#include <stdint.h>

#define DEVICE_HELD_FRAMES 32
#define DEVICE_SILENCE_S 2.0      /* no byte for this long: the device is gone */
#define DEVICE_STATS_S 0.25       /* counters go to the pipeline at most this often, when changed */
#define DEVICE_BACKOFF_MIN_MS 50  /* first retry after a failed open */
#define DEVICE_BACKOFF_MAX_MS 400 /* retries never wait longer, so a replug is seen within 1 s */
#define DEVICE_RING_RESERVE 64    /* ring slots one read of the port may need */
#define DEVICE_BACKPRESSURE_MS 200 /* longest wait for the pipeline before frames are dropped */

/* What the reader thread counts; published by the pipeline in status.<device>. */
typedef struct {
    frame_counters_t frames;    /* the decoder's counters, over the whole run */
    uint64_t ring_dropped;      /* frames dropped because the pipeline's ring was full */
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

/* One item of a device's ring. */
typedef struct {
    uint8_t kind;    /* device_msg_kind_t */
    double t_host;   /* CLOCK_REALTIME seconds when the bytes were read */
    union {
        frame_t frame;
        device_stats_t stats;
        char text[256];
    } u;
} device_msg_t;

typedef struct device device_t;

/* The ports the daemon's devices have open, shared by their reader threads so
 * that `port = auto` never takes a port another device uses. */
typedef struct {
    pthread_mutex_t lock;
    char paths[CONFIG_MAX_DEVICES][4096]; /* resolved paths; "" = free entry */
    bool probing[CONFIG_MAX_DEVICES];     /* held only while a `port = auto` probe asks it */
} device_claims_t;

/* Prepares an empty claims table; returns 0 or a negative errno. */
int device_claims_init(device_claims_t *claims);
void device_claims_destroy(device_claims_t *claims);

typedef struct {
    config_device_t cfg;        /* the device's configuration (copied) */
    ring_t *ring;               /* elem size sizeof(device_msg_t); the caller keeps ownership */
    int wake_fd;                /* eventfd written after pushing */
    device_claims_t *claims;    /* shared by all devices of the daemon */
    char extra_ports[1024];     /* [auto] extra_ports */
    int probe_ms;               /* [auto] probe_ms */
    int batch_ms;               /* [publish] batch_ms: after a read, let bytes gather half this */
} device_setup_t;

/* Starts the reader thread of a device. The thread has started when this
 * returns. Returns NULL with *err set on failure. Called by the thread that
 * owns the device set. */
device_t *device_start(const device_setup_t *setup, int *err);

/* Changes how long the reader lets bytes gather after a read ([publish]
 * batch_ms; it waits half of it, the pipeline the other half). Takes effect
 * at the next read. Any thread. */
void device_set_batch_ms(device_t *dev, int batch_ms);

/* Asks the thread to stop, joins it and frees the device (the port is
 * closed). Accepts NULL and NULLs the caller's pointer. */
void device_stop(device_t **dev);

/* Validates a HELLO for a device configured as kind; returns NULL when it is
 * acceptable, otherwise a static string saying why not. */
const char *device_hello_problem(const frame_hello_t *hello, device_kind_t kind);

#endif
