/* bench_latency: end-to-end latency of the real daemon, from a frame written
 * into a pty to its raw message at a ZeroMQ subscriber, with a massage ball
 * at 1 kHz (10 samples a frame) and a scraper at 500 Hz (5 samples a frame)
 * streaming in real time. Also reports the daemon's CPU share and resident
 * memory at that load, from /proc.
 *
 * Usage: bench_latency DAEMON [seconds]   (default 20 s)
 *
 * This process plays both devices on ptys it creates, answers the daemon's
 * HELLO REQUESTs, and subscribes; write and receive times are taken from the
 * same CLOCK_MONOTONIC, so no clock mapping enters the figures.
 */
#include "frame.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_FRAMES 200000

typedef struct {
    const char *name;
    int kind;
    int rate_hz;
    int per_frame;
    int master;
    char slave[64];
    uint16_t seq;
    atomic_bool hello_requested;
    double *written; /* CLOCK_MONOTONIC seconds, by frame number */
    long frames;
} fake_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int make_pty(fake_t *f)
{
    f->master = posix_openpt(O_RDWR | O_NOCTTY);
    if (f->master < 0 || grantpt(f->master) || unlockpt(f->master))
        return -1;
    snprintf(f->slave, sizeof f->slave, "%s", ptsname(f->master));
    int s = open(f->slave, O_RDWR | O_NOCTTY);
    struct termios t;
    tcgetattr(s, &t);
    cfmakeraw(&t);
    tcsetattr(s, TCSANOW, &t);
    close(s);
    return 0;
}

static void send_frame(fake_t *f, frame_t *fr)
{
    uint8_t buf[FRAME_MAX_ENCODED + 4];
    fr->seq = f->seq++;
    size_t n = frame_encode(fr, buf, sizeof buf);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(f->master, buf + off, n - off);
        if (w > 0)
            off += (size_t)w;
        else if (errno != EAGAIN && errno != EINTR)
            return;
    }
}

static void send_hello(fake_t *f)
{
    frame_t fr;
    memset(&fr, 0, sizeof fr);
    fr.type = FRAME_HELLO;
    fr.u.hello.kind = (uint8_t)f->kind;
    fr.u.hello.fw_major = 1;
    snprintf(fr.u.hello.serial, sizeof fr.u.hello.serial, "BENCH-%s", f->name);
    fr.u.hello.rate_hz = (uint16_t)f->rate_hz;
    fr.u.hello.p_scale = f->kind == FRAME_KIND_BALL ? 1.0f : 0.001f;
    fr.u.hello.acc_scale = 16.0f / 32768.0f;
    fr.u.hello.gyr_scale = 2000.0f / 32768.0f;
    send_frame(f, &fr);
}

static atomic_bool running = true;

/* Answers HELLO REQUESTs on both ptys. */
static void *listener(void *arg)
{
    fake_t *fakes = arg;
    frame_decoder_t dec[2];
    frame_decoder_init(&dec[0]);
    frame_decoder_init(&dec[1]);
    while (atomic_load(&running)) {
        struct pollfd pfd[2] = {{fakes[0].master, POLLIN, 0}, {fakes[1].master, POLLIN, 0}};
        if (poll(pfd, 2, 50) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            uint8_t buf[256];
            ssize_t n = read(fakes[i].master, buf, sizeof buf);
            for (ssize_t k = 0; k < n; k++)
                if (buf[k] == 0)
                    atomic_store(&fakes[i].hello_requested, true);
        }
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void proc_usage(pid_t pid, double *cpu_s, long *rss_kb)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    *cpu_s = 0;
    *rss_kb = 0;
    if (f) {
        if (fgets(buf, sizeof buf, f)) {
            char *p = strrchr(buf, ')');
            unsigned long ut = 0, st = 0;
            if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                            &st) == 2)
                *cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        }
        fclose(f);
    }
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f) {
        while (fgets(buf, sizeof buf, f))
            if (sscanf(buf, "VmRSS: %ld kB", rss_kb) == 1)
                break;
        fclose(f);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DAEMON [seconds]\n", argv[0]);
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 20.0;
    fake_t fakes[2] = {{.name = "ball", .kind = FRAME_KIND_BALL, .rate_hz = 1000, .per_frame = 10},
                       {.name = "scraper", .kind = FRAME_KIND_SCRAPER, .rate_hz = 500,
                        .per_frame = 5}};
    for (int i = 0; i < 2; i++) {
        if (make_pty(&fakes[i]) != 0) {
            perror("pty");
            return 1;
        }
        fakes[i].written = calloc(MAX_FRAMES, sizeof(double));
    }
    char dir[] = "/tmp/massaged-bench.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char cfg_path[256], endpoint[256];
    snprintf(cfg_path, sizeof cfg_path, "%s/bench.ini", dir);
    snprintf(endpoint, sizeof endpoint, "ipc://%s/pub.sock", dir);
    FILE *cfg = fopen(cfg_path, "w");
    fprintf(cfg,
            "[publish]\nendpoint = %s\n[log]\nlevel = warn\n"
            "[device.ball]\nkind = ball\nport = %s\n"
            "[device.scraper]\nkind = scraper\nport = %s\n",
            endpoint, fakes[0].slave, fakes[1].slave);
    fclose(cfg);
    chmod(cfg_path, 0644);

    pid_t pid = fork();
    if (pid == 0) {
        execl(argv[1], argv[1], "--config", cfg_path, (char *)NULL);
        _exit(127);
    }
    pthread_t lt;
    pthread_create(&lt, NULL, listener, fakes);

    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int hwm = 1000000;
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "raw.", 4);
    zmq_connect(sub, endpoint);

    /* Wait for both HELLO REQUESTs and a live subscription (a status.daemon
     * would need another subscription; a short settle time is enough here). */
    double t_wait = now_s();
    while (!(atomic_load(&fakes[0].hello_requested) && atomic_load(&fakes[1].hello_requested))) {
        if (now_s() - t_wait > 10) {
            fprintf(stderr, "the daemon never asked for a HELLO\n");
            kill(pid, SIGKILL);
            return 1;
        }
        usleep(10000);
    }
    for (int i = 0; i < 2; i++)
        send_hello(&fakes[i]);
    usleep(500000);

    double *lat = calloc(2 * MAX_FRAMES, sizeof(double));
    long n_lat = 0, received[2] = {0, 0};
    double cpu0;
    long rss0;
    proc_usage(pid, &cpu0, &rss0);
    double start = now_s();
    double next = start;
    long frame_no = 0;
    while (now_s() - start < seconds && frame_no < MAX_FRAMES) {
        /* Both devices send a frame every 10 ms (100 frames/s each). */
        double t = now_s();
        if (t >= next) {
            for (int i = 0; i < 2; i++) {
                fake_t *f = &fakes[i];
                frame_t fr;
                memset(&fr, 0, sizeof fr);
                fr.type = FRAME_SAMPLES;
                uint64_t first = (uint64_t)frame_no * (uint64_t)f->per_frame;
                fr.t_us = (uint32_t)(first * 1000000u / (uint64_t)f->rate_hz);
                fr.u.samples.count = (uint8_t)f->per_frame;
                for (int k = 0; k < f->per_frame; k++)
                    fr.u.samples.s[k].p = 101325 + k;
                f->written[frame_no] = now_s();
                send_frame(f, &fr);
                f->frames = frame_no + 1;
            }
            frame_no++;
            next += 0.010;
        }
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        double wait_ms = (next - now_s()) * 1000.0;
        zmq_poll(&item, 1, wait_ms > 0 ? (long)wait_ms : 0);
        while (zmq_poll(&item, 1, 0) > 0 && (item.revents & ZMQ_POLLIN)) {
            char topic[64], payload[8192];
            int tn = zmq_recv(sub, topic, sizeof topic - 1, 0);
            int pn = zmq_recv(sub, payload, sizeof payload - 1, 0);
            double t_rx = now_s();
            if (tn < 0 || pn < 0)
                break;
            topic[tn] = '\0';
            payload[pn] = '\0';
            int dev = strcmp(topic, "raw.ball") == 0 ? 0 : 1;
            const char *i0 = strstr(payload, "\"i0\":");
            if (!i0)
                continue;
            long index = atol(i0 + 5);
            long fno = index / fakes[dev].per_frame;
            if (fno >= 0 && fno < fakes[dev].frames && n_lat < 2 * MAX_FRAMES)
                lat[n_lat++] = t_rx - fakes[dev].written[fno];
            received[dev]++;
        }
    }
    double elapsed = now_s() - start;
    double cpu1;
    long rss1;
    proc_usage(pid, &cpu1, &rss1);
    atomic_store(&running, false);
    pthread_join(lt, NULL);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    zmq_close(sub);
    zmq_ctx_term(ctx);

    qsort(lat, (size_t)n_lat, sizeof(double), cmp_double);
    if (n_lat == 0) {
        fprintf(stderr, "no raw message received\n");
        return 1;
    }
    double p50 = lat[n_lat / 2] * 1e3, p99 = lat[(long)(n_lat * 0.99)] * 1e3,
           max = lat[n_lat - 1] * 1e3;
    printf("latency pty write -> raw message at a subscriber, ball 1 kHz + scraper 500 Hz, "
           "%.0f s:\n",
           elapsed);
    printf("  frames sent %ld + %ld, raw messages received %ld + %ld\n", fakes[0].frames,
           fakes[1].frames, received[0], received[1]);
    printf("  p50 %.3f ms   p99 %.3f ms   max %.3f ms   (target p99 <= 1 ms: %s)\n", p50, p99,
           max, p99 <= 1.0 ? "met" : "NOT met");
    printf("daemon at this load: CPU %.2f %% of one core, resident memory %ld kB (%.1f MB)\n",
           100.0 * (cpu1 - cpu0) / elapsed, rss1, rss1 / 1024.0);
    printf("daemon exit status after SIGTERM: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
