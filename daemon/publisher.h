/* publisher: the daemon's one ZeroMQ publishing socket (../shared/spec/events.md).
 *
 * Messages have two frames: the topic and a JSON payload. The socket is an
 * XPUB with ZMQ_XPUB_NODROP and an explicit send high-water mark, and every
 * send is non-blocking: when a subscriber's queue is full the message is
 * dropped and counted instead of stalling the pipeline. XPUB also lets the
 * daemon count its subscribers.
 *
 * A publisher is owned by one thread (the pipeline thread), as ZeroMQ
 * sockets are not thread-safe.
 */
#ifndef MASSAGED_PUBLISHER_H
#define MASSAGED_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

typedef struct publisher publisher_t;

typedef struct {
    uint64_t sent;        /* messages handed to ZeroMQ */
    uint64_t dropped;     /* messages dropped because a subscriber was full */
    int subscribers;      /* subscriptions currently open (one per topic prefix per peer) */
} publisher_stats_t;

/* Creates the context and socket and binds to endpoint (e.g.
 * "tcp://127.0.0.1:5556") with the given send high-water mark in messages.
 * Returns NULL with *err set to a negative errno on failure; the reason is
 * logged, naming the endpoint. */
publisher_t *publisher_open(const char *endpoint, int hwm, int *err);

/* Closes the socket and context (lingering at most 100 ms), accepts NULL and
 * NULLs the caller's pointer. */
void publisher_close(publisher_t **pub);

/* Publishes one message. Returns 0, or -EAGAIN when it was dropped (counted),
 * or another negative errno. Never blocks. */
int publisher_send(publisher_t *pub, const char *topic, const char *payload, size_t len);

/* Reads pending subscription messages (keeping the subscriber count) without
 * blocking. Call regularly, e.g. when the socket's file descriptor polls
 * readable. */
void publisher_service(publisher_t *pub);

/* The socket, for zmq_poll (ZMQ_POLLIN means subscription messages wait). */
void *publisher_socket(publisher_t *pub);

publisher_stats_t publisher_stats(const publisher_t *pub);

#endif
