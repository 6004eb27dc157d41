/* bench_relay: the floor, the simplest daemon that does the daemon's job on
 * the same streams. One thread polls every configured port and hands each
 * decoded samples frame to ZeroMQ at once: no ring, no second thread of its
 * own, no chain, no JSON beyond a sample index. It is what the real-time cost
 * of massaged is measured against (bench_latency, bench/floor.sh,
 * docs/BENCHMARKS.md "The floor").
 *
 * Usage: bench_relay --config FILE
 *
 * It reads the daemon's own configuration (daemon/config), so bench_latency
 * starts it exactly as it starts the daemon: [publish] endpoint, and every
 * enabled [device.NAME] whose port is a path (opened raw with termios, as the
 * daemon opens a pty). It asks each device for its HELLO, takes the sample
 * rate from it, and publishes on "raw.NAME" the payload {"i0":N}, the index
 * of the frame's first sample, which is what bench_latency matches a message
 * to the frame it wrote by. It ends on SIGTERM or SIGINT, or when its parent
 * is gone.
 */
#include "config.h"
#include "frame.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <zmq.h>

typedef struct {
    const char *name;
    int fd;
    int rate_hz; /* from the HELLO; 0 until it came */
    frame_decoder_t decoder;
} relay_port_t;

static void *publisher;
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void on_frame(const frame_t *frame, void *ctx)
{
    relay_port_t *p = ctx;
    if (frame->type == FRAME_HELLO) {
        p->rate_hz = frame->u.hello.rate_hz;
        return;
    }
    if (frame->type != FRAME_SAMPLES || p->rate_hz == 0)
        return;
    char topic[4 + CONFIG_NAME_MAX], payload[48];
    int tn = snprintf(topic, sizeof topic, "raw.%s", p->name);
    uint64_t i0 = (uint64_t)frame->t_us * (uint64_t)p->rate_hz / 1000000u;
    int pn = snprintf(payload, sizeof payload, "{\"i0\":%llu}", (unsigned long long)i0);
    zmq_send(publisher, topic, (size_t)tn, ZMQ_SNDMORE);
    zmq_send(publisher, payload, (size_t)pn, 0);
}

static int open_port(relay_port_t *p, const char *path)
{
    p->fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (p->fd < 0)
        return -errno;
    struct termios t;
    if (tcgetattr(p->fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(p->fd, TCSANOW, &t);
    }
    frame_decoder_init(&p->decoder);
    frame_t request;
    memset(&request, 0, sizeof request);
    request.type = FRAME_HELLO_REQUEST;
    uint8_t out[32];
    size_t n = frame_encode(&request, out, sizeof out);
    if (write(p->fd, out, n) != (ssize_t)n)
        return -EIO;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "--config") != 0) {
        fprintf(stderr, "usage: %s --config FILE\n", argv[0]);
        return 2;
    }
    static config_t cfg;
    if (config_load(argv[2], &cfg, NULL, NULL) != 0)
        return 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    relay_port_t ports[CONFIG_MAX_DEVICES];
    struct pollfd pfd[CONFIG_MAX_DEVICES];
    int n_ports = 0;
    for (int i = 0; i < cfg.n_devices; i++) {
        const config_device_t *d = &cfg.devices[i];
        if (!d->enabled || d->port[0] != '/')
            continue;
        relay_port_t *p = &ports[n_ports];
        *p = (relay_port_t){.name = d->name};
        int rc = open_port(p, d->port);
        if (rc != 0) {
            fprintf(stderr, "bench_relay: %s: %s\n", d->port, strerror(-rc));
            return 1;
        }
        pfd[n_ports++] = (struct pollfd){.fd = p->fd, .events = POLLIN};
    }
    void *ctx = zmq_ctx_new();
    publisher = zmq_socket(ctx, ZMQ_PUB);
    if (zmq_bind(publisher, cfg.publish.endpoint) != 0) {
        fprintf(stderr, "bench_relay: %s: %s\n", cfg.publish.endpoint, zmq_strerror(zmq_errno()));
        return 1;
    }
    pid_t parent = getppid();
    uint8_t buf[4096];
    while (!stopping && getppid() == parent) {
        int r = poll(pfd, (nfds_t)n_ports, 1000);
        if (r < 0 && errno != EINTR)
            break;
        for (int i = 0; r > 0 && i < n_ports; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(pfd[i].fd, buf, sizeof buf);
            if (n > 0)
                frame_decoder_feed(&ports[i].decoder, buf, (size_t)n, on_frame, &ports[i]);
            else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                pfd[i].fd = -1; /* gone: poll ignores it from now on */
        }
    }
    for (int i = 0; i < n_ports; i++)
        close(ports[i].fd);
    int linger = 0;
    zmq_setsockopt(publisher, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(publisher);
    zmq_ctx_term(ctx);
    return 0;
}
