/* chain: the interpretation of one device's frames, the same live and in
 * replay.
 *
 * A chain takes decoded frames in order and turns them into what subscribers
 * see: the HELLO's scales applied (physical units), the device clock unwrapped
 * and mapped onto the host's, device sample indices with losses counted,
 * detection events with per-device ids, and marks from the button. It knows
 * nothing of threads, rings or ZeroMQ: its output goes to a sink.
 *
 * A chain is plain state owned by one thread (the pipeline thread, or a
 * replay or scoring tool).
 */
#ifndef MASSAGED_CHAIN_H
#define MASSAGED_CHAIN_H

#include "analysis.h"
#include "clock.h"
#include "config.h"
#include "event.h"
#include "frame.h"
#include "message.h"
#include "treatment.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    /* A block of samples in physical units (one SAMPLES frame). */
    void (*block)(void *ctx, const message_block_t *block);
    /* A detection or lifecycle event, with its instant on the host clock. */
    void (*event)(void *ctx, const event_t *event, double t_host);
    void *ctx;
} chain_sink_t;

typedef struct {
    uint64_t samples;        /* samples passed on */
    uint64_t samples_lost;   /* samples missing from the device index (lost frames) */
    uint64_t index_errors;   /* frames whose time went backwards or overlapped */
    uint64_t stamps_off;     /* frames placed by seq where their t_us alone would not */
    uint64_t frames_before_hello; /* sample frames without scales (never passed on) */
    uint64_t reboots;        /* times the device's clock restarted (a power-up HELLO) */
} chain_counters_t;

/* Samples averaged at each end of a loss bridged for the detectors
 * (chain.c, bridge). */
#define CHAIN_BRIDGE_ENDS 8

typedef struct {
    char name[CONFIG_NAME_MAX];
    device_kind_t kind;
    bool streaming;          /* a valid HELLO has arrived since the last connect */
    bool have_hello;
    frame_hello_t hello;
    bool have_status;
    frame_status_t status;   /* the device's last STATUS frame */
    double last_t_dev;       /* seconds, the newest device time seen */
    bool have_time;
    uint32_t last_t_us;
    uint32_t next_id;
    bool have_seq;           /* last_seq holds the last device frame's seq */
    uint16_t last_seq;
    bool samples_follow;     /* no frame went missing since the last SAMPLES frame */
    uint64_t index_base;     /* added to the clock index: keeps i0 increasing across reboots */
    uint64_t next_index;     /* the index after the last sample passed on */
    chain_counters_t counters;
    clock_unwrap_t unwrap;
    clock_index_t index;
    clock_map_t map;
    analysis_t *analysis;    /* the kind's detectors, created at the first HELLO */
    /* The detectors' last samples, the newest last (0: none, nothing to
     * bridge from): a short loss is bridged from their mean (chain.c). */
    unsigned bridge_n;
    sample_t bridge_tail[CHAIN_BRIDGE_ENDS];
    treatment_t treatment;   /* the device's treatment sessions, made from its events */
} chain_t;

/* Sets up the chain of device name (copied) of the configured kind, with
 * treatment sessions ending after treatment_default.idle_s without activity
 * (chain->treatment.settings may be changed with treatment_set_idle). */
void chain_init(chain_t *chain, const char *name, device_kind_t kind);

/* Frees what the chain allocated (its detectors). */
void chain_destroy(chain_t *chain);

/* The port was opened: the stream starts again with the next HELLO. */
void chain_port_opened(chain_t *chain);

/* Interprets one frame that arrived at t_arrival (Unix seconds), emitting
 * blocks and events to sink. */
void chain_frame(chain_t *chain, const frame_t *frame, double t_arrival, const chain_sink_t *sink);

/* Interprets a block of samples already in physical units, as a SAMPLES
 * frame with its first sample at device clock t_us does once the HELLO's
 * scales are applied (a replay of recorded values enters here, so that the
 * values go on bit for bit). On entry block->n (1..FRAME_MAX_SAMPLES) and
 * each sample's p, acc and gyr are set; the chain sets i0, t_dev, t_host and
 * every sample's t_dev, then hands the block to sink and the detectors.
 * Before a HELLO the block is counted in frames_before_hello and dropped;
 * an n out of range is ignored. */
void chain_block(chain_t *chain, uint32_t t_us, message_block_t *block, double t_arrival,
                 const chain_sink_t *sink);

/* The device was lost or the daemon is stopping: open detection intervals
 * end, then `disconnected` is emitted, once, if the stream had started. */
void chain_disconnected(chain_t *chain, double t_host, const chain_sink_t *sink);

/* Ends the open treatment session, if any, for reason (its `end` event, at
 * the last activity). The chain ends a session itself after idle_s of
 * device time without activity; its owner ends it for what only the wall
 * clock knows: the device stayed disconnected idle_s, the daemon or a
 * replay stops, a study stops its recording. */
void chain_end_session(chain_t *chain, treatment_end_t reason, const chain_sink_t *sink);

/* Device seconds to Unix seconds with the current clock model. */
double chain_to_host(const chain_t *chain, double t_dev);

#endif
