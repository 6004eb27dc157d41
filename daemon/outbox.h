/* outbox: a bounded FIFO of messages (a topic and a payload each) in one
 * byte buffer, for what must wait while a consumer is away (the MQTT
 * client's events while the broker is unreachable, daemon/mqtt.c).
 *
 * Records are packed one after the other and may wrap around the end of
 * the buffer, so the capacity is in bytes, not messages: small messages take
 * little room. When a new message does not fit, the oldest are dropped
 * until it does. Nothing is allocated after outbox_init.
 *
 * A plain struct owned by one thread; not thread-safe.
 */
#ifndef MASSAGED_OUTBOX_H
#define MASSAGED_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    unsigned char *buf;
    size_t cap;   /* bytes */
    size_t head;  /* offset of the oldest record */
    size_t used;  /* bytes held */
    size_t count; /* messages held */
} outbox_t;

/* Allocates cap bytes (each message takes 8 bytes plus its topic and
 * payload). Returns 0 or -ENOMEM. */
int outbox_init(outbox_t *o, size_t cap);

/* Frees the buffer; the outbox is empty and unusable until outbox_init. */
void outbox_free(outbox_t *o);

/* Appends topic (NUL-terminated) and payload[len], dropping the oldest
 * messages until it fits; returns how many were dropped. A message larger
 * than the whole outbox is not stored and counts as one dropped. */
unsigned outbox_push(outbox_t *o, const char *topic, const void *payload, size_t len);

/* Copies the oldest message out without removing it: its topic, NUL-
 * terminated, into topic[topic_cap] and its payload into
 * payload[payload_cap], its length into *len. Returns false when the
 * outbox is empty or a buffer is too small (nothing is copied then). */
bool outbox_peek(const outbox_t *o, char *topic, size_t topic_cap, void *payload,
                 size_t payload_cap, size_t *len);

/* Removes the oldest message; the outbox must not be empty. */
void outbox_pop(outbox_t *o);

#endif
