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
 *
 * Optionally the socket is a CURVE server (docs/SECURITY.md): traffic is
 * encrypted and only clients whose public key is on an allow-list may
 * subscribe. The allow-list is enforced by a ZAP handler (ZeroMQ's
 * authentication protocol, on inproc://zeromq.zap.01) that runs in a thread
 * of its own, started by publisher_open_curve and joined by publisher_close;
 * it shares nothing with the owning thread but two atomic counters.
 */
#ifndef MASSAGED_PUBLISHER_H
#define MASSAGED_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

typedef struct publisher publisher_t;

typedef struct {
    uint64_t sent;         /* messages handed to ZeroMQ */
    uint64_t dropped;      /* messages dropped because a subscriber was full */
    int subscribers;       /* subscriptions currently open (one per topic prefix per peer) */
    uint64_t auth_allowed; /* CURVE handshakes the allow-list accepted */
    uint64_t auth_refused; /* CURVE handshakes refused (key not on the allow-list) */
} publisher_stats_t;

/* A CURVE key in Z85 text, as zmq_curve_keypair writes it. */
#define PUBLISHER_KEY_Z85_LEN 40

typedef struct {
    const char *secret_key;                           /* the server's secret key, Z85 */
    const char (*clients)[PUBLISHER_KEY_Z85_LEN + 1]; /* public keys allowed, Z85 */
    int n_clients;                                    /* >= 1 */
} publisher_curve_t;

/* Creates the context and socket and binds to endpoint (e.g.
 * "tcp://127.0.0.1:5556") with the given send high-water mark in messages.
 * Returns NULL with *err set to a negative errno on failure; the reason is
 * logged, naming the endpoint. */
publisher_t *publisher_open(const char *endpoint, int hwm, int *err);

/* Closes the socket and context (lingering at most 100 ms), accepts NULL and
 * NULLs the caller's pointer. */
void publisher_close(publisher_t **pub);

/* As publisher_open; with curve non-NULL the socket is a CURVE server that
 * admits only curve->clients (the keys are copied). Returns NULL with *err
 * -EINVAL when a key is not valid Z85, or another negative errno. */
publisher_t *publisher_open_curve(const char *endpoint, int hwm, const publisher_curve_t *curve,
                                  int *err);

/* Publishes one message. Returns 0, or -EAGAIN when it was dropped (counted),
 * or another negative errno. Never blocks. */
int publisher_send(publisher_t *pub, const char *topic, const char *payload, size_t len);

/* The bytes of every buffer publisher_payload hands out. */
#define PUBLISHER_PAYLOAD_MAX 8192

/* A buffer of PUBLISHER_PAYLOAD_MAX bytes for the next message's payload,
 * to be sent by publisher_send_payload: ZeroMQ then takes the payload
 * without copying it (zmq_msg_init_data) and says when it is done with it,
 * so a buffer comes back only once its message has left. While every
 * buffer of the publisher's few is still queued (a slow subscriber) it is
 * a spare one, sent with a copy. Never NULL, no allocation. The payload
 * stays readable after its send until the next call. */
char *publisher_payload(publisher_t *pub);

/* publisher_send for a payload written into the buffer publisher_payload
 * returned last; the same wire bytes and results. Any other payload is
 * sent as publisher_send sends it. */
int publisher_send_payload(publisher_t *pub, const char *topic, char *payload, size_t len);

/* Reads pending subscription messages (keeping the subscriber count) without
 * blocking. Call regularly (the pipeline does at every status tick); until
 * then subscriptions simply wait in the socket. */
void publisher_service(publisher_t *pub);

publisher_stats_t publisher_stats(const publisher_t *pub);

#endif
