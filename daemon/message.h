/* message: the JSON payloads of ../shared/spec/events.md, formatted into
 * caller buffers. Pure functions of their arguments; any thread. Every
 * function returns the payload length, or a negative errno (-ENOBUFS) when
 * the buffer is too small. */
#ifndef MASSAGED_MESSAGE_H
#define MASSAGED_MESSAGE_H

#include "config.h"
#include "event.h"
#include "json.h"
#include "sample.h"

#include <stddef.h>
#include <stdint.h>

#define MESSAGE_SCHEMA_VERSION 1
#define MESSAGE_MAX 8192 /* big enough for any payload the daemon sends */
#define MESSAGE_TOPIC_MAX 96

/* A block of consecutive samples of one device, in physical units. */
typedef struct {
    uint64_t i0;   /* device sample index of s[0], counted from the device's first sample */
    double t_dev;  /* seconds, device time of s[0] */
    double t_host; /* Unix seconds, t_dev mapped onto the host clock */
    unsigned n;
    sample_t s[30];
} message_block_t;

/* Start a payload in buf: they open its object and write the fields it
 * begins with, "v" (message_begin), then "device" and "kind" for a device's
 * message (message_begin_device). The caller writes its own fields, closes
 * the object and finishes j. */
void message_begin(json_t *j, char *buf, size_t cap);
void message_begin_device(json_t *j, char *buf, size_t cap, const char *device,
                          device_kind_t kind);

/* Writes "<prefix>.<device>[.<type>]" into topic (MESSAGE_TOPIC_MAX bytes). */
void message_topic(char *topic, const char *prefix, const char *device, const char *type);

/* raw.<device>: {"v","device","kind","rate_hz","i0","t_dev","t_host","n","p","acc","gyr"}. */
int message_raw(char *buf, size_t cap, const char *device, device_kind_t kind, unsigned rate_hz,
                const message_block_t *block);

/* The same raw messages with their first four fields ("v" to "rate_hz",
 * the same in every message of a stream) made once by message_raw_head
 * and copied by message_raw_after: the pipeline sends a hundred a second
 * per device. The head keeps device (not copied): it must outlive it. */
#define MESSAGE_RAW_HEAD_MAX 256
typedef struct {
    const char *device;
    device_kind_t kind;
    unsigned rate_hz;
    size_t len; /* of text; 0 when it did not fit: message_raw_after writes it each time */
    char text[MESSAGE_RAW_HEAD_MAX];
} message_raw_head_t;

void message_raw_head(message_raw_head_t *head, const char *device, device_kind_t kind,
                      unsigned rate_hz);
int message_raw_after(char *buf, size_t cap, const message_raw_head_t *head,
                      const message_block_t *block);

/* event.<device>.<type>: the fields every event carries, then the event's own. */
int message_event(char *buf, size_t cap, const char *device, device_kind_t kind,
                  const event_t *event, double t_host);

#endif
