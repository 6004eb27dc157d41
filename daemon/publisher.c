#include "publisher.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct publisher {
    void *context;
    void *socket;
    publisher_stats_t stats;
};

publisher_t *publisher_open(const char *endpoint, int hwm, int *err)
{
    publisher_t *pub = calloc(1, sizeof *pub);
    int rc = -ENOMEM;
    if (!pub)
        goto fail;
    pub->context = zmq_ctx_new();
    if (!pub->context)
        goto fail_errno;
    pub->socket = zmq_socket(pub->context, ZMQ_XPUB);
    if (!pub->socket)
        goto fail_errno;
    int one = 1, linger_ms = 100;
    if (zmq_setsockopt(pub->socket, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(pub->socket, ZMQ_XPUB_NODROP, &one, sizeof one) != 0 ||
        zmq_setsockopt(pub->socket, ZMQ_LINGER, &linger_ms, sizeof linger_ms) != 0)
        goto fail_errno;
    if (zmq_bind(pub->socket, endpoint) != 0) {
        rc = -zmq_errno();
        log_error("publish: cannot bind %s: %s", endpoint, zmq_strerror(-rc));
        goto fail;
    }
    log_info("publish: bound %s (send high-water mark %d messages)", endpoint, hwm);
    return pub;

fail_errno:
    rc = -zmq_errno();
    log_error("publish: cannot set up a ZeroMQ socket: %s", zmq_strerror(-rc));
fail:
    publisher_close(&pub);
    if (err)
        *err = rc;
    return NULL;
}

void publisher_close(publisher_t **pub)
{
    if (!pub || !*pub)
        return;
    if ((*pub)->socket)
        zmq_close((*pub)->socket);
    if ((*pub)->context)
        zmq_ctx_term((*pub)->context);
    free(*pub);
    *pub = NULL;
}

int publisher_send(publisher_t *pub, const char *topic, const char *payload, size_t len)
{
    size_t topic_len = strlen(topic);
    /* With XPUB_NODROP a full subscriber makes the first frame fail with
     * EAGAIN; once the first frame is accepted the second always is. */
    if (zmq_send(pub->socket, topic, topic_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        if (e == EAGAIN) {
            pub->stats.dropped++;
            return -EAGAIN;
        }
        return -e;
    }
    if (zmq_send(pub->socket, payload, len, ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        pub->stats.dropped++;
        return -e;
    }
    pub->stats.sent++;
    return 0;
}

void publisher_service(publisher_t *pub)
{
    unsigned char buf[256];
    for (;;) {
        int n = zmq_recv(pub->socket, buf, sizeof buf, ZMQ_DONTWAIT);
        if (n < 0)
            return;
        /* An XPUB receives 0x01+prefix on subscribe and 0x00+prefix on
         * unsubscribe (also when a subscriber disconnects). */
        if (n >= 1 && buf[0] == 1)
            pub->stats.subscribers++;
        else if (n >= 1 && buf[0] == 0 && pub->stats.subscribers > 0)
            pub->stats.subscribers--;
    }
}

void *publisher_socket(publisher_t *pub)
{
    return pub->socket;
}

publisher_stats_t publisher_stats(const publisher_t *pub)
{
    return pub->stats;
}
