/* test_publisher: messages sent from the publisher's own payload buffers
 * (publisher_payload, publisher_send_payload: ZeroMQ takes them without a
 * copy) arrive as publisher_send's copies do, byte for byte and in order,
 * with a subscriber that reads at once and with one that lets many queue
 * (then every buffer is held and the spare one is sent with a copy); a
 * buffer comes back once its message has left. */
#include "check.h"
#include "publisher.h"
#include "test_dir.h"

#include <stdbool.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static char endpoint[256];

/* The payload of message i: its length and bytes depend on i. */
static size_t make_payload(char *buf, int i)
{
    size_t len = 20 + (size_t)(i * 37 % 1200);
    for (size_t k = 0; k < len; k++)
        buf[k] = (char)('a' + (i + (int)k) % 26);
    return len;
}

/* Receives one two-frame message and checks it is message i. */
static void expect(void *sub, int i)
{
    char topic[64], want[1300], got[1300];
    size_t len = make_payload(want, i);
    int n = zmq_recv(sub, topic, sizeof topic - 1, 0);
    CHECK_EQ_INT(n, 7);
    topic[n < 0 ? 0 : n] = '\0';
    CHECK_STR(topic, "raw.dev");
    int more = 0;
    size_t more_size = sizeof more;
    zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &more_size);
    CHECK(more);
    n = zmq_recv(sub, got, sizeof got, 0);
    CHECK_EQ_INT(n, (long long)len);
    CHECK(n == (int)len && memcmp(got, want, len) == 0);
}

/* Sends message i: from a buffer of the publisher's, or (copy) from the
 * caller's. */
static int send_message(publisher_t *pub, int i, bool copy)
{
    char mine[1300];
    char *buf = copy ? mine : publisher_payload(pub);
    size_t len = make_payload(buf, i);
    return copy ? publisher_send(pub, "raw.dev", buf, len)
                : publisher_send_payload(pub, "raw.dev", buf, len);
}

/* Waits up to a second for publisher_payload to give buffer `first` back. */
static bool comes_back(publisher_t *pub, const char *first)
{
    for (int t = 0; t < 1000; t++) {
        if (publisher_payload(pub) == first)
            return true;
        usleep(1000);
    }
    return false;
}

static void test_subscriber(void)
{
    int err = 0;
    publisher_t *pub = publisher_open(endpoint, 1000, &err);
    CHECK(pub != NULL);
    if (!pub)
        return;
    /* No subscriber: ZeroMQ drops the message at once and frees the buffer. */
    char *first = publisher_payload(pub);
    CHECK_EQ_INT(send_message(pub, 0, false), 0);
    CHECK(publisher_payload(pub) == first);

    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    /* A small queue and socket buffer on the subscriber's side, so that
     * messages it has not read stay queued at the publisher. */
    int hwm = 10, rcvbuf = 4096;
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
    CHECK_EQ_INT(zmq_connect(sub, endpoint), 0);
    CHECK_EQ_INT(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "raw.", 4), 0);
    /* Until the subscription has reached the publisher, messages are
     * dropped: send probes until one arrives. */
    int timeout_ms = 20;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    bool joined = false;
    for (int t = 0; t < 200 && !joined; t++) {
        send_message(pub, 1, true);
        char buf[1300];
        if (zmq_recv(sub, buf, sizeof buf, 0) >= 0) {
            joined = true;
            int more = 1;
            size_t more_size = sizeof more;
            while (zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &more_size) == 0 && more)
                zmq_recv(sub, buf, sizeof buf, 0);
        }
    }
    CHECK(joined);
    /* Drain what the probes left queued. */
    for (char buf[1300]; zmq_recv(sub, buf, sizeof buf, 0) >= 0;)
        ;
    timeout_ms = 2000;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);

    /* Read at once: each buffer comes back after its message arrived. */
    for (int i = 0; i < 50; i++) {
        CHECK_EQ_INT(send_message(pub, i, i % 5 == 4), 0);
        expect(sub, i);
        CHECK(comes_back(pub, first));
    }
    /* Many queued before the subscriber reads: the buffers are all held for
     * a while and the spare one carries copies; every message as sent. */
    for (int i = 0; i < 300; i++)
        CHECK_EQ_INT(send_message(pub, i, i % 7 == 6), 0);
    CHECK(publisher_payload(pub) != first);
    for (int i = 0; i < 300; i++)
        expect(sub, i);
    CHECK(comes_back(pub, first));
    publisher_stats_t st = publisher_stats(pub);
    CHECK(st.sent >= 351);
    CHECK_EQ_INT(st.dropped, 0);

    zmq_close(sub);
    zmq_ctx_term(ctx);
    publisher_close(&pub);
    CHECK(pub == NULL);
}

int main(void)
{
    char dir[] = "/tmp/test_publisher.XXXXXX";
    test_dir_make(dir);
    snprintf(endpoint, sizeof endpoint, "ipc://%s/pub", dir);
    test_subscriber();
    test_dir_remove(dir);
    return CHECK_DONE();
}
