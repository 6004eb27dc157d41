#include "publisher.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define KEY_BYTES 32

/* The ZAP handler's state: written before its thread starts, then read-only
 * but for the counters. */
typedef struct {
    void *socket; /* REP on inproc://zeromq.zap.01, owned by the thread once started */
    uint8_t (*clients)[KEY_BYTES];
    int n_clients;
    atomic_uint_fast64_t allowed, refused;
} zap_t;

/* Payload buffers handed to ZeroMQ without a copy: busy from a message's
 * send until ZeroMQ calls payload_done for it (in its I/O thread once the
 * message is written out, or at once when the send fails or no subscriber
 * takes it). Usually the first one is free again by the next message. */
#define PAYLOAD_BUFFERS 4

typedef struct {
    _Alignas(64) char text[PUBLISHER_PAYLOAD_MAX];
} payload_buffer_t;

struct publisher {
    void *context;
    void *socket;
    publisher_stats_t stats;
    zap_t zap;
    pthread_t zap_thread;
    bool zap_running;
    payload_buffer_t *buffers; /* PAYLOAD_BUFFERS, then the spare one */
    atomic_bool busy[PAYLOAD_BUFFERS];
    int last; /* the buffer publisher_payload returned last, PAYLOAD_BUFFERS for the spare */
};

/* Receives one ZAP request frame into buf (cut to size); returns its
 * length, or -1 when the context is ending. *more says whether frames follow. */
static int zap_frame(void *socket, void *buf, size_t size, bool *more)
{
    int n = zmq_recv(socket, buf, size, 0);
    int m = 0;
    size_t m_size = sizeof m;
    if (n < 0 || zmq_getsockopt(socket, ZMQ_RCVMORE, &m, &m_size) != 0)
        return -1;
    *more = m != 0;
    return n;
}

/* RFC 27 (ZAP 1.0): version, request id, domain, address, identity,
 * mechanism, then the mechanism's credentials (CURVE: the client's 32-byte
 * public key). Replies version, request id, status code and text, user id
 * and metadata. Any malformed request is refused. */
static void *zap_main(void *arg)
{
    zap_t *zap = arg;
    pthread_setname_np(pthread_self(), "zap");
    for (;;) {
        char frames[7][64];
        int len[7] = {0};
        bool more = true;
        int n = 0;
        while (more) {
            char scratch[64];
            int got = zap_frame(zap->socket, n < 7 ? frames[n] : scratch, 64, &more);
            if (got < 0)
                goto done;
            if (n < 7)
                len[n] = got;
            n++;
        }
        bool ok = n == 7 && len[0] == 3 && memcmp(frames[0], "1.0", 3) == 0 && len[5] == 5 &&
                  memcmp(frames[5], "CURVE", 5) == 0 && len[6] == KEY_BYTES;
        bool allowed = false;
        for (int i = 0; ok && i < zap->n_clients && !allowed; i++)
            allowed = memcmp(zap->clients[i], frames[6], KEY_BYTES) == 0;
        if (allowed) {
            atomic_fetch_add(&zap->allowed, 1);
        } else {
            /* A stranger may knock often: count every refusal, log the first. */
            if (atomic_fetch_add(&zap->refused, 1) == 0)
                log_warn("publish: refused a CURVE client not on the allow-list (further "
                         "refusals are only counted)");
        }
        const char *code = allowed ? "200" : "400";
        const char *text = allowed ? "OK" : "not on the allow-list";
        int request_id_len = n >= 2 ? (len[1] < 64 ? len[1] : 64) : 0;
        if (zmq_send(zap->socket, "1.0", 3, ZMQ_SNDMORE) < 0 ||
            zmq_send(zap->socket, frames[1], (size_t)request_id_len, ZMQ_SNDMORE) < 0 ||
            zmq_send(zap->socket, code, 3, ZMQ_SNDMORE) < 0 ||
            zmq_send(zap->socket, text, strlen(text), ZMQ_SNDMORE) < 0 ||
            zmq_send(zap->socket, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(zap->socket, "", 0, 0) < 0)
            goto done;
    }
done:
    zmq_close(zap->socket);
    zap->socket = NULL;
    return NULL;
}

/* Binds the ZAP handler and makes the socket a CURVE server; before the bind,
 * so that no client is ever admitted unchecked. */
static int setup_curve(publisher_t *pub, const publisher_curve_t *curve)
{
    uint8_t secret[KEY_BYTES];
    char public_z85[PUBLISHER_KEY_Z85_LEN + 1];
    if (!curve->secret_key || strlen(curve->secret_key) != PUBLISHER_KEY_Z85_LEN ||
        !zmq_z85_decode(secret, curve->secret_key) || curve->n_clients < 1) {
        log_error("publish: the CURVE secret key is not 40 characters of Z85");
        return -EINVAL;
    }
    pub->zap.clients = calloc((size_t)curve->n_clients, KEY_BYTES);
    if (!pub->zap.clients)
        return -ENOMEM;
    for (int i = 0; i < curve->n_clients; i++) {
        if (strlen(curve->clients[i]) != PUBLISHER_KEY_Z85_LEN ||
            !zmq_z85_decode(pub->zap.clients[i], curve->clients[i])) {
            log_error("publish: CURVE client key %d is not 40 characters of Z85", i + 1);
            return -EINVAL;
        }
    }
    pub->zap.n_clients = curve->n_clients;
    pub->zap.socket = zmq_socket(pub->context, ZMQ_REP);
    if (!pub->zap.socket || zmq_bind(pub->zap.socket, "inproc://zeromq.zap.01") != 0)
        return -zmq_errno();
    int one = 1;
    if (zmq_setsockopt(pub->socket, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(pub->socket, ZMQ_CURVE_SECRETKEY, secret, KEY_BYTES) != 0 ||
        zmq_setsockopt(pub->socket, ZMQ_ZAP_DOMAIN, "massaged", 8) != 0)
        return -zmq_errno();
    int rc = pthread_create(&pub->zap_thread, NULL, zap_main, &pub->zap);
    if (rc != 0)
        return -rc;
    pub->zap_running = true;
    if (zmq_curve_public(public_z85, curve->secret_key) == 0)
        log_info("publish: CURVE on, server public key %s, %d client key%s allowed", public_z85,
                 curve->n_clients, curve->n_clients == 1 ? "" : "s");
    return 0;
}

/* Creates the context's first socket, which starts ZeroMQ's I/O thread, with
 * the calling thread in SCHED_BATCH for that moment: the I/O thread inherits
 * the policy, the caller gets its own back. A SCHED_BATCH thread does not
 * preempt the thread that wakes it. On a CPU it shares with the pipeline
 * thread, a message handed over then waits for the end of the pipeline's
 * turn (microseconds) instead of interrupting it, and the messages of one
 * turn leave in one wake-up of the I/O thread: one context switch of each
 * instead of up to three of the pipeline's and two of the I/O thread's
 * (docs/BENCHMARKS.md, "The floor"). Where the policy may not be changed (a
 * seccomp filter), the I/O thread runs as before. */
static void *socket_batch_io(void *context, int type)
{
    int policy;
    struct sched_param param, batch = {.sched_priority = 0};
    bool changed = pthread_getschedparam(pthread_self(), &policy, &param) == 0 &&
                   policy == SCHED_OTHER &&
                   pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch) == 0;
    void *socket = zmq_socket(context, type);
    if (changed)
        (void)pthread_setschedparam(pthread_self(), policy, &param);
    return socket;
}

publisher_t *publisher_open(const char *endpoint, int hwm, int *err)
{
    return publisher_open_curve(endpoint, hwm, NULL, err);
}

publisher_t *publisher_open_curve(const char *endpoint, int hwm, const publisher_curve_t *curve,
                                  int *err)
{
    publisher_t *pub = calloc(1, sizeof *pub);
    int rc = -ENOMEM;
    if (!pub)
        goto fail;
    pub->buffers =
        aligned_alloc(_Alignof(payload_buffer_t), (PAYLOAD_BUFFERS + 1) * sizeof *pub->buffers);
    if (!pub->buffers)
        goto fail;
    pub->last = PAYLOAD_BUFFERS;
    pub->context = zmq_ctx_new();
    if (!pub->context)
        goto fail_errno;
    pub->socket = socket_batch_io(pub->context, ZMQ_XPUB);
    if (!pub->socket)
        goto fail_errno;
    int one = 1, linger_ms = 100;
    if (zmq_setsockopt(pub->socket, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(pub->socket, ZMQ_XPUB_NODROP, &one, sizeof one) != 0 ||
        zmq_setsockopt(pub->socket, ZMQ_LINGER, &linger_ms, sizeof linger_ms) != 0)
        goto fail_errno;
    if (curve && (rc = setup_curve(pub, curve)) != 0) {
        log_error("publish: cannot set up CURVE: %s", zmq_strerror(-rc));
        goto fail;
    }
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
    if ((*pub)->zap_running) {
        /* Shutting the context down ends the handler's blocking receive. */
        zmq_ctx_shutdown((*pub)->context);
        pthread_join((*pub)->zap_thread, NULL);
    } else if ((*pub)->zap.socket) {
        zmq_close((*pub)->zap.socket);
    }
    /* After the context, which has released every message it held. */
    if ((*pub)->context)
        zmq_ctx_term((*pub)->context);
    free((*pub)->buffers);
    free((*pub)->zap.clients);
    free(*pub);
    *pub = NULL;
}

/* The topic frame of a message. With XPUB_NODROP a full subscriber makes
 * it fail with EAGAIN; once it is accepted the payload frame always is. */
__attribute__((hot)) static int send_topic(publisher_t *pub, const char *topic)
{
    if (zmq_send(pub->socket, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        if (e == EAGAIN)
            pub->stats.dropped++;
        return -e;
    }
    return 0;
}

/* Counts a payload frame's send from its result (zmq_send's or
 * zmq_msg_send's); returns 0 or the negative errno. */
__attribute__((hot)) static int count_payload(publisher_t *pub, int rc)
{
    if (rc < 0) {
        pub->stats.dropped++;
        return -zmq_errno();
    }
    pub->stats.sent++;
    return 0;
}

int publisher_send(publisher_t *pub, const char *topic, const char *payload, size_t len)
{
    int rc = send_topic(pub, topic);
    if (rc != 0)
        return rc;
    return count_payload(pub, zmq_send(pub->socket, payload, len, ZMQ_DONTWAIT));
}

__attribute__((hot)) char *publisher_payload(publisher_t *pub)
{
    for (int i = 0; i < PAYLOAD_BUFFERS; i++) {
        if (!atomic_load_explicit(&pub->busy[i], memory_order_acquire)) {
            pub->last = i;
            return pub->buffers[i].text;
        }
    }
    pub->last = PAYLOAD_BUFFERS;
    return pub->buffers[PAYLOAD_BUFFERS].text;
}

/* ZeroMQ's free function of a payload sent from a buffer: hint is the
 * buffer's busy flag. */
static void payload_done(void *data, void *hint)
{
    (void)data;
    atomic_store_explicit((atomic_bool *)hint, false, memory_order_release);
}

__attribute__((hot)) int publisher_send_payload(publisher_t *pub, const char *topic, char *payload,
                                                size_t len)
{
    int i = pub->last;
    if (i == PAYLOAD_BUFFERS || payload != pub->buffers[i].text)
        return publisher_send(pub, topic, payload, len);
    int rc = send_topic(pub, topic);
    if (rc != 0)
        return rc;
    atomic_store_explicit(&pub->busy[i], true, memory_order_relaxed);
    zmq_msg_t msg;
    if (zmq_msg_init_data(&msg, payload, len, payload_done, &pub->busy[i]) != 0) {
        /* No room for ZeroMQ's small record of it: the copy, as publisher_send. */
        atomic_store_explicit(&pub->busy[i], false, memory_order_relaxed);
        return count_payload(pub, zmq_send(pub->socket, payload, len, ZMQ_DONTWAIT));
    }
    rc = count_payload(pub, zmq_msg_send(&msg, pub->socket, ZMQ_DONTWAIT));
    if (rc != 0)
        zmq_msg_close(&msg); /* payload_done: the buffer is free again */
    return rc;
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

publisher_stats_t publisher_stats(const publisher_t *pub)
{
    publisher_stats_t stats = pub->stats;
    stats.auth_allowed = atomic_load(&pub->zap.allowed);
    stats.auth_refused = atomic_load(&pub->zap.refused);
    return stats;
}
