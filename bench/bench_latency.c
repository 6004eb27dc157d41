/* bench_latency: end-to-end latency of the real daemon, from a frame written
 * into a pty to its raw message at a ZeroMQ subscriber, with a massage ball
 * at 1 kHz (10 samples a frame) and a scraper at 500 Hz (5 samples a frame)
 * streaming in real time. Also reports the daemon's CPU share and resident
 * memory at that load, from /proc.
 *
 * Usage: bench_latency DAEMON [seconds] [balls]   (default 20 s)
 *
 * With `balls` (1..8) the devices are that many massage balls at 1 kHz
 * instead, for the scaling figure. The status messages are watched too: the
 * run reports each device's samples_lost, ring_dropped and ring_dropped_samples
 * and the daemon's publish_dropped from the last status seen, all of which
 * must stay 0. A line starting "RESULT" repeats the figures for scripts.
 * BENCH_DAEMON_PRELOAD, when set, becomes the daemon's LD_PRELOAD (for
 * bench/malloc_count.so); BENCH_BATCH_MS sets the daemon's [publish]
 * batch_ms (default 0); BENCH_RECORD=1 has the daemon record everything
 * ([record] dir in the run's temporary directory) and reports the bytes
 * written per second, then removes the files.
 *
 * CPU is also put per frame delivered, next to the same figure for the
 * relay reference. The host clock mapping is checked too: the t_host of
 * each frame's last sample against the CLOCK_REALTIME at which the frame
 * was written (the device's clock is exact here), after 3 s of fitting.
 *
 * This process plays both devices on ptys it creates, answers the daemon's
 * HELLO REQUESTs, and subscribes; write and receive times are taken from the
 * same CLOCK_MONOTONIC, so no clock mapping enters the latency figures.
 */
#include "frame.h"
#include "json_read.h"
#include "now.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_FRAMES 200000
#define MAX_DEVICES 8

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
    double *written_real; /* CLOCK_REALTIME seconds of the same writes */
    long frames;
    long lost, ring_dropped; /* from the device's last status message */
} fake_t;

static int n_fakes = 2;
/* The streams written: the devices, and the reference relay's unless
 * BENCH_REF=0. */
static int n_streams = 3;

/* A fake device of one kind, with the kind's default rate and frame size. */
static fake_t fake_of(const char *name, device_kind_t kind)
{
    const device_kind_info_t *info = device_kind_info(kind);
    return (fake_t){.name = name,
                    .kind = kind,
                    .rate_hz = (int)info->rate_hz,
                    .per_frame = (int)info->samples_per_frame};
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
    const device_kind_info_t *info = device_kind_info((device_kind_t)f->kind);
    fr.u.hello.p_scale = info->p_scale;
    fr.u.hello.acc_scale = info->acc_scale;
    fr.u.hello.gyr_scale = info->gyr_scale;
    send_frame(f, &fr);
}

static atomic_bool running = true;

/* Answers HELLO REQUESTs on both ptys. */
static void *listener(void *arg)
{
    fake_t *fakes = arg;
    while (atomic_load(&running)) {
        struct pollfd pfd[MAX_DEVICES + 1];
        for (int i = 0; i < n_streams; i++)
            pfd[i] = (struct pollfd){fakes[i].master, POLLIN, 0};
        if (poll(pfd, (nfds_t)n_streams, 50) <= 0)
            continue;
        for (int i = 0; i < n_streams; i++) {
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

static long rss_anon_kb; /* the daemon's own (anonymous) resident memory, last read */

/* The resident memory of pid, all of it and (rss_anon_kb) its own. */
static void proc_rss(pid_t pid, long *rss_kb)
{
    char path[64], buf[1024];
    *rss_kb = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        while (fgets(buf, sizeof buf, f))
            if (sscanf(buf, "VmRSS: %ld kB", rss_kb) == 1)
                continue;
            else if (sscanf(buf, "RssAnon: %ld kB", &rss_anon_kb) == 1)
                break;
        fclose(f);
    }
}

/* One thread's scheduler counts: CPU time, from the scheduler's nanosecond
 * accounting (/proc/PID/task/N/schedstat, finer than the 10 ms ticks of
 * /proc/PID/stat), and context switches (voluntary and involuntary, from its
 * status), each switch being one wake-up of the thread. A voluntary switch
 * is the thread going to sleep (a wait that blocked); an involuntary one is
 * the thread preempted while it could run (on a busy CPU). */
typedef struct {
    int tid;
    char comm[20];
    double run_s;
    long switches; /* voluntary + involuntary */
    long involuntary;
} thread_snap_t;

#define MAX_THREADS 64

/* Reads every thread of pid into snap (at most MAX_THREADS); returns how many. */
static int thread_snapshot(pid_t pid, thread_snap_t *snap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_THREADS) {
        if (e->d_name[0] == '.')
            continue;
        thread_snap_t *t = &snap[n];
        *t = (thread_snap_t){.tid = atoi(e->d_name)};
        char file[600], line[256];
        snprintf(file, sizeof file, "%s/%s/comm", path, e->d_name);
        FILE *f = fopen(file, "r");
        if (f) {
            if (fgets(t->comm, sizeof t->comm, f))
                t->comm[strcspn(t->comm, "\n")] = '\0';
            fclose(f);
        }
        snprintf(file, sizeof file, "%s/%s/schedstat", path, e->d_name);
        f = fopen(file, "r");
        if (f) {
            unsigned long long run_ns = 0;
            if (fscanf(f, "%llu", &run_ns) == 1)
                t->run_s = (double)run_ns * 1e-9;
            fclose(f);
        }
        snprintf(file, sizeof file, "%s/%s/status", path, e->d_name);
        f = fopen(file, "r");
        if (f) {
            long v;
            while (fgets(line, sizeof line, f))
                if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1) {
                    t->switches += v;
                } else if (sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1) {
                    t->involuntary = v;
                    t->switches += v;
                }
            fclose(f);
        }
        n++;
    }
    closedir(d);
    return n;
}

/* Prints each thread's wake-ups per second (of which involuntary) and CPU
 * share between two snapshots (threads matched by id; one started in
 * between counts from 0), after label; returns the total wake-ups per
 * second and sets *cpu_pct. */
static double print_threads(const char *label, const thread_snap_t *before, int n_before,
                            const thread_snap_t *after, int n_after, double seconds,
                            double *cpu_pct)
{
    double total = 0, cpu = 0;
    printf("  %s threads, wake-ups/s (context switches, of which involuntary) and CPU %% of one "
           "core:",
           label);
    for (int i = 0; i < n_after; i++) {
        thread_snap_t start = {0};
        for (int k = 0; k < n_before; k++)
            if (before[k].tid == after[i].tid)
                start = before[k];
        double w = (double)(after[i].switches - start.switches) / seconds;
        double inv = (double)(after[i].involuntary - start.involuntary) / seconds;
        double c = 100.0 * (after[i].run_s - start.run_s) / seconds;
        printf(" %s %.0f (inv %.0f; %.2f %%);", after[i].comm, w, inv, c);
        total += w;
        cpu += c;
    }
    printf(" all %.0f (%.2f %%)\n", total, cpu);
    *cpu_pct = cpu;
    return total;
}

/* The relay (bench_relay) beside this program, or BENCH_RELAY. */
static void relay_path(char *out, size_t cap)
{
    const char *env = getenv("BENCH_RELAY");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, cap, "%s/bench_relay", self);
}

/* A counter of a status message; 0 when it has none. */
static long counter(const char *payload, size_t len, const char *key)
{
    double v = 0;
    return json_read_number(payload, len, key, &v) ? (long)v : 0;
}

/* Sums and removes the files of a recording directory, then the directory;
 * returns how many files there were. */
static int remove_recording(const char *path, long long *bytes)
{
    DIR *d = opendir(path);
    int files = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char file[600];
        struct stat st;
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
            *bytes += st.st_size;
            files++;
            unlink(file);
        }
    }
    closedir(d);
    rmdir(path);
    return files;
}

/* One run: the streams, the processes and what was measured. */
typedef struct {
    fake_t fakes[MAX_DEVICES + 1]; /* the devices, then the reference relay's stream */
    char names[MAX_DEVICES][16];
    int balls;   /* 0: a ball and a scraper */
    bool ref;    /* the reference relay runs beside the daemon */
    bool record; /* the daemon records to XDF */
    char dir[64], cfg_path[256], endpoint[256], rec_dir[300];
    char relay_endpoint[256], relay_cfg_path[256];
    pid_t pid, relay_pid;
    void *ctx, *sub;
    double *lat, *lat_ref, *map_err; /* seconds */
    long n_lat, n_ref, n_map;
    long received[MAX_DEVICES], publish_dropped;
    double elapsed; /* seconds of streaming */
    long rss_kb;
    thread_snap_t threads[2][MAX_THREADS], relay_threads[2][MAX_THREADS];
    int n_threads[2], n_relay_threads[2];
    int daemon_status; /* after SIGTERM */
} run_t;

/* The fake devices (and the relay's stream) on their ptys. */
static int setup_streams(run_t *r)
{
    r->fakes[0] = fake_of("ball", DEVICE_KIND_BALL);
    r->fakes[1] = fake_of("scraper", DEVICE_KIND_SCRAPER);
    if (r->balls) {
        n_fakes = r->balls;
        for (int i = 0; i < r->balls; i++) {
            snprintf(r->names[i], sizeof r->names[i], "ball%d", i);
            r->fakes[i] = fake_of(r->names[i], DEVICE_KIND_BALL);
        }
    }
    r->fakes[n_fakes] = fake_of("relay", DEVICE_KIND_BALL);
    n_streams = n_fakes + (r->ref ? 1 : 0);
    for (int i = 0; i < n_streams; i++) {
        if (make_pty(&r->fakes[i]) != 0) {
            perror("pty");
            return -1;
        }
        r->fakes[i].written = calloc(MAX_FRAMES, sizeof(double));
        r->fakes[i].written_real = calloc(MAX_FRAMES, sizeof(double));
    }
    r->lat = calloc(MAX_DEVICES * MAX_FRAMES, sizeof(double));
    r->lat_ref = calloc(MAX_FRAMES, sizeof(double));
    r->map_err = calloc(MAX_DEVICES * MAX_FRAMES, sizeof(double));
    return 0;
}

/* The daemon's configuration and the relay's, in a temporary directory. */
static int write_configs(run_t *r)
{
    snprintf(r->dir, sizeof r->dir, "/tmp/massaged-bench.XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    snprintf(r->cfg_path, sizeof r->cfg_path, "%s/bench.ini", r->dir);
    snprintf(r->endpoint, sizeof r->endpoint, "ipc://%s/pub.sock", r->dir);
    snprintf(r->rec_dir, sizeof r->rec_dir, "%s/rec", r->dir);
    FILE *cfg = fopen(r->cfg_path, "w");
    if (!cfg)
        return -1;
    /* BENCH_BATCH_MS sets [publish] batch_ms: the CPU against latency trade. */
    const char *batch = getenv("BENCH_BATCH_MS");
    fprintf(cfg, "[publish]\nendpoint = %s\nbatch_ms = %d\n[log]\nlevel = warn\n", r->endpoint,
            batch ? atoi(batch) : 0);
    /* BENCH_HISTORY=1 writes the history into the run's directory; else off. */
    const char *history_env = getenv("BENCH_HISTORY");
    if (history_env && atoi(history_env) != 0)
        fprintf(cfg, "[history]\ndb = %s/history.db\n", r->dir);
    else
        fprintf(cfg, "[history]\ndb =\n");
    if (r->record)
        fprintf(cfg, "[record]\ndir = %s\n", r->rec_dir);
    for (int i = 0; i < n_fakes; i++)
        fprintf(cfg, "[device.%s]\nkind = %s\nport = %s\n", r->fakes[i].name,
                device_kind_name((device_kind_t)r->fakes[i].kind), r->fakes[i].slave);
    fclose(cfg);
    chmod(r->cfg_path, 0644);

    /* The reference: bench_relay on a stream of its own, with a configuration
     * of the same form. */
    snprintf(r->relay_endpoint, sizeof r->relay_endpoint, "ipc://%s/relay.sock", r->dir);
    snprintf(r->relay_cfg_path, sizeof r->relay_cfg_path, "%s/relay.ini", r->dir);
    if (!r->ref)
        return 0;
    cfg = fopen(r->relay_cfg_path, "w");
    if (!cfg)
        return -1;
    fprintf(cfg, "[publish]\nendpoint = %s\n[device.%s]\nkind = ball\nport = %s\n",
            r->relay_endpoint, r->fakes[n_fakes].name, r->fakes[n_fakes].slave);
    fclose(cfg);
    chmod(r->relay_cfg_path, 0644);
    return 0;
}

/* Forks and runs the relay (when asked) and the daemon, then subscribes to
 * both. */
static void start_processes(run_t *r, const char *daemon)
{
    r->relay_pid = -1;
    if (r->ref) {
        char relay_prog[600];
        relay_path(relay_prog, sizeof relay_prog);
        r->relay_pid = fork();
        if (r->relay_pid == 0) {
            execl(relay_prog, relay_prog, "--config", r->relay_cfg_path, (char *)NULL);
            _exit(127);
        }
    }
    r->pid = fork();
    if (r->pid == 0) {
        const char *preload = getenv("BENCH_DAEMON_PRELOAD");
        if (preload && *preload)
            setenv("LD_PRELOAD", preload, 1);
        execl(daemon, daemon, "--config", r->cfg_path, (char *)NULL);
        _exit(127);
    }
    r->ctx = zmq_ctx_new();
    r->sub = zmq_socket(r->ctx, ZMQ_SUB);
    int hwm = 1000000;
    zmq_setsockopt(r->sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(r->sub, ZMQ_SUBSCRIBE, "raw.", 4);
    zmq_setsockopt(r->sub, ZMQ_SUBSCRIBE, "status.", 7);
    zmq_connect(r->sub, r->endpoint);
    if (r->ref)
        zmq_connect(r->sub, r->relay_endpoint);
}

/* Waits for every stream's HELLO REQUEST and answers it, then lets the
 * subscription settle (a status.daemon would need another subscription; a
 * short settle time is enough here). */
static int greet(run_t *r)
{
    double t_wait = now_mono();
    for (;;) {
        bool all = true;
        for (int i = 0; i < n_streams; i++)
            all = all && atomic_load(&r->fakes[i].hello_requested);
        if (all)
            break;
        if (now_mono() - t_wait > 10) {
            fprintf(stderr, "the daemon or the relay never asked for a HELLO\n");
            return -1;
        }
        usleep(10000);
    }
    for (int i = 0; i < n_streams; i++)
        send_hello(&r->fakes[i]);
    usleep(500000);
    return 0;
}

/* Every stream's frame number frame_no, written now. */
static void send_samples(run_t *r, long frame_no)
{
    for (int i = 0; i < n_streams; i++) {
        fake_t *f = &r->fakes[i];
        frame_t fr;
        memset(&fr, 0, sizeof fr);
        fr.type = FRAME_SAMPLES;
        uint64_t first = (uint64_t)frame_no * (uint64_t)f->per_frame;
        fr.t_us = (uint32_t)(first * 1000000u / (uint64_t)f->rate_hz);
        fr.u.samples.count = (uint8_t)f->per_frame;
        for (int k = 0; k < f->per_frame; k++)
            fr.u.samples.s[k].p = 101325 + k;
        f->written[frame_no] = now_mono();
        f->written_real[frame_no] = now_real();
        send_frame(f, &fr);
        f->frames = frame_no + 1;
    }
}

/* The losses a status message reports. */
static void on_status(run_t *r, const char *topic, const char *payload, size_t len)
{
    if (strcmp(topic, "status.daemon") == 0) {
        r->publish_dropped = counter(payload, len, "publish_dropped");
        return;
    }
    for (int i = 0; i < n_fakes; i++)
        if (strcmp(topic + 7, r->fakes[i].name) == 0) {
            r->fakes[i].lost = counter(payload, len, "samples_lost");
            r->fakes[i].ring_dropped = counter(payload, len, "ring_dropped") +
                                       counter(payload, len, "ring_dropped_samples");
        }
}

/* A raw message received at t_rx: its latency, and its host clock mapping. */
static void on_raw(run_t *r, const char *topic, const char *payload, size_t len, double t_rx)
{
    int dev = -1;
    for (int i = 0; i <= n_fakes; i++)
        if (strcmp(topic + 4, r->fakes[i].name) == 0)
            dev = i;
    double i0, t_host;
    if (dev < 0 || !json_read_number(payload, len, "i0", &i0))
        return;
    const fake_t *f = &r->fakes[dev];
    long fno = (long)i0 / f->per_frame;
    if (fno < 0 || fno >= f->frames)
        return;
    if (dev == n_fakes) {
        if (r->n_ref < MAX_FRAMES)
            r->lat_ref[r->n_ref++] = t_rx - f->written[fno];
        return;
    }
    if (r->n_lat < MAX_DEVICES * MAX_FRAMES)
        r->lat[r->n_lat++] = t_rx - f->written[fno];
    /* The host clock mapping: the frame's last sample, mapped, against the
     * moment the frame was written (the device's "now"), once the model has
     * had three seconds to fit. */
    if (fno * 0.010 >= 3.0 && r->n_map < MAX_DEVICES * MAX_FRAMES &&
        json_read_number(payload, len, "t_host", &t_host)) {
        double last = t_host + (f->per_frame - 1) / (double)f->rate_hz;
        r->map_err[r->n_map++] = last - f->written_real[fno];
    }
    r->received[dev]++;
}

/* Takes in every message that arrives within wait_ms. */
static void take_messages(run_t *r, double wait_ms)
{
    zmq_pollitem_t item = {r->sub, 0, ZMQ_POLLIN, 0};
    zmq_poll(&item, 1, wait_ms > 0 ? (long)wait_ms : 0);
    while (zmq_poll(&item, 1, 0) > 0 && (item.revents & ZMQ_POLLIN)) {
        char topic[64], payload[8192];
        int tn = zmq_recv(r->sub, topic, sizeof topic - 1, 0);
        int pn = zmq_recv(r->sub, payload, sizeof payload - 1, 0);
        double t_rx = now_mono();
        if (tn < 0 || pn < 0)
            break;
        topic[tn] = '\0';
        payload[pn] = '\0';
        if (strncmp(topic, "status.", 7) == 0)
            on_status(r, topic, payload, (size_t)pn);
        else
            on_raw(r, topic, payload, (size_t)pn, t_rx);
    }
}

/* True once a raw message has come for every frame written. */
static bool all_received(const run_t *r)
{
    for (int i = 0; i < n_fakes; i++)
        if (r->received[i] < r->fakes[i].frames)
            return false;
    return !r->ref || r->n_ref >= r->fakes[n_fakes].frames;
}

/* How long the frames written last may take to come out after the run. */
#define DRAIN_S 2.0

/* Streams for `seconds`, every device a frame every 10 ms (100 frames/s
 * each), and takes in every message meanwhile; the figures of the run end
 * with the last frame, and the messages still on their way are waited for
 * after it (on a loaded machine the last one or two are). */
static void stream(run_t *r, double seconds)
{
    r->n_threads[0] = thread_snapshot(r->pid, r->threads[0]);
    r->n_relay_threads[0] = r->ref ? thread_snapshot(r->relay_pid, r->relay_threads[0]) : 0;
    double start = now_mono();
    double next = start;
    long frame_no = 0;
    while (now_mono() - start < seconds && frame_no < MAX_FRAMES) {
        if (now_mono() >= next) {
            send_samples(r, frame_no++);
            next += 0.010;
        }
        take_messages(r, (next - now_mono()) * 1000.0);
    }
    r->elapsed = now_mono() - start;
    proc_rss(r->pid, &r->rss_kb);
    r->n_threads[1] = thread_snapshot(r->pid, r->threads[1]);
    r->n_relay_threads[1] = r->ref ? thread_snapshot(r->relay_pid, r->relay_threads[1]) : 0;
    double until = now_mono() + DRAIN_S;
    while (!all_received(r) && now_mono() < until)
        take_messages(r, 10);
}

static void stop_processes(run_t *r)
{
    if (r->ref) {
        kill(r->relay_pid, SIGKILL);
        waitpid(r->relay_pid, NULL, 0);
    }
    kill(r->pid, SIGTERM);
    waitpid(r->pid, &r->daemon_status, 0);
    zmq_close(r->sub);
    zmq_ctx_term(r->ctx);
}

/* Prints the figures; returns the exit status. */
static int report(run_t *r, const char *daemon)
{
    qsort(r->lat, (size_t)r->n_lat, sizeof(double), cmp_double);
    qsort(r->lat_ref, (size_t)r->n_ref, sizeof(double), cmp_double);
    if (r->n_lat == 0) {
        fprintf(stderr, "no raw message received\n");
        return 1;
    }
    double *lat = r->lat, *lat_ref = r->lat_ref, elapsed = r->elapsed;
    long n_lat = r->n_lat, n_ref = r->n_ref, n_map = r->n_map;
    double p50 = lat[n_lat / 2] * 1e3, p99 = lat[(long)(n_lat * 0.99)] * 1e3,
           max = lat[n_lat - 1] * 1e3;
    long sent = 0, got = 0, lost = 0, dropped = 0;
    for (int i = 0; i < n_fakes; i++) {
        sent += r->fakes[i].frames;
        got += r->received[i];
        lost += r->fakes[i].lost;
        dropped += r->fakes[i].ring_dropped;
    }
    if (r->balls)
        printf("latency pty write -> raw message at a subscriber, %d ball%s at 1 kHz, %.0f s:\n",
               r->balls, r->balls == 1 ? "" : "s", elapsed);
    else
        printf("latency pty write -> raw message at a subscriber, ball 1 kHz + scraper 500 Hz, "
               "%.0f s:\n",
               elapsed);
    printf("  frames sent %ld, raw messages received %ld; status: samples_lost %ld, "
           "ring_dropped %ld, publish_dropped %ld\n",
           sent, got, lost, dropped, r->publish_dropped);
    printf("  p50 %.3f ms   p99 %.3f ms   max %.3f ms   (target p99 <= 1 ms: %s)\n", p50, p99, max,
           p99 <= 1.0 ? "met" : "NOT met");
    double r50 = n_ref ? lat_ref[n_ref / 2] * 1e3 : NAN,
           r99 = n_ref ? lat_ref[(long)(n_ref * 0.99)] * 1e3 : NAN,
           rmax = n_ref ? lat_ref[n_ref - 1] * 1e3 : NAN;
    printf("  reference (one-thread relay: pty -> decoder -> ZeroMQ ipc, same run, %ld frames): "
           "p50 %.3f ms   p99 %.3f ms   max %.3f ms\n",
           n_ref, r50, r99, rmax);
    printf("  daemon / reference: p50 %.2f   p99 %.2f\n", p50 / r50, p99 / r99);
    const char *subject = strrchr(daemon, '/') ? strrchr(daemon, '/') + 1 : daemon;
    double cpu, relay_cpu = NAN, relay_wakeups = NAN;
    double wakeups = print_threads(subject, r->threads[0], r->n_threads[0], r->threads[1],
                                   r->n_threads[1], elapsed, &cpu);
    if (r->ref)
        relay_wakeups = print_threads("reference relay's", r->relay_threads[0],
                                      r->n_relay_threads[0], r->relay_threads[1],
                                      r->n_relay_threads[1], elapsed, &relay_cpu);
    printf("daemon at this load: CPU %.2f %% of one core, resident memory %ld kB (%.1f MB), of "
           "which its own (anonymous) %ld kB and shared libraries' pages the rest\n",
           cpu, r->rss_kb, r->rss_kb / 1024.0, rss_anon_kb);
    double us_per_frame = got ? 1e4 * cpu * elapsed / (double)got : NAN;
    double ref_us_per_frame = n_ref ? 1e4 * relay_cpu * elapsed / (double)n_ref : NAN;
    qsort(r->map_err, (size_t)n_map, sizeof(double), cmp_double);
    if (n_map > 0)
        printf("  host clock mapping, t_host of a frame's last sample - the time it was written "
               "(%ld frames after 3 s): p1 %+.3f ms   p50 %+.3f ms   p99 %+.3f ms\n",
               n_map, r->map_err[n_map / 100] * 1e3, r->map_err[n_map / 2] * 1e3,
               r->map_err[(long)(n_map * 0.99)] * 1e3);
    printf("  CPU per frame delivered: daemon %.1f us (%ld frames), reference relay %.1f us "
           "(%ld frames): daemon / reference %.2f\n",
           us_per_frame, got, ref_us_per_frame, n_ref, us_per_frame / ref_us_per_frame);
    if (r->record) {
        long long bytes = 0;
        int files = remove_recording(r->rec_dir, &bytes);
        printf("recording: %d file(s), %lld kB over the run, %.1f kB/s\n", files, bytes / 1024,
               bytes / 1024.0 / elapsed);
    }
    printf("RESULT devices %d samples_per_s %ld p50_ms %.3f p99_ms %.3f max_ms %.3f cpu_pct %.3f "
           "rss_kb %ld sent %ld received %ld samples_lost %ld ring_dropped %ld "
           "publish_dropped %ld ref_p50_ms %.3f ref_p99_ms %.3f rss_anon_kb %ld cpu_us_per_frame %.2f "
           "ref_cpu_us_per_frame %.2f wakeups_per_s %.1f ref_wakeups_per_s %.1f\n",
           n_fakes, r->balls ? 1000L * r->balls : 1500L, p50, p99, max, cpu, r->rss_kb, sent, got,
           lost, dropped, r->publish_dropped, r50, r99, rss_anon_kb, us_per_frame,
           ref_us_per_frame, wakeups, relay_wakeups);
    printf("daemon exit status after SIGTERM: %d\n",
           WIFEXITED(r->daemon_status) ? WEXITSTATUS(r->daemon_status) : -1);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DAEMON [seconds]\n", argv[0]);
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 20.0;
    static run_t run; /* large: not on the stack */
    run_t *r = &run;
    r->balls = argc > 3 ? atoi(argv[3]) : 0;
    if (argc > 3 && (r->balls < 1 || r->balls > MAX_DEVICES)) {
        fprintf(stderr, "balls: 1..%d\n", MAX_DEVICES);
        return 2;
    }
    const char *ref_env = getenv("BENCH_REF");
    r->ref = !(ref_env && atoi(ref_env) == 0);
    const char *record_env = getenv("BENCH_RECORD");
    r->record = record_env && atoi(record_env) != 0;
    if (setup_streams(r) != 0 || write_configs(r) != 0)
        return 1;
    start_processes(r, argv[1]);
    pthread_t lt;
    pthread_create(&lt, NULL, listener, r->fakes);
    if (greet(r) != 0) {
        kill(r->pid, SIGKILL);
        if (r->ref)
            kill(r->relay_pid, SIGKILL);
        return 1;
    }
    stream(r, seconds);
    atomic_store(&running, false);
    pthread_join(lt, NULL);
    stop_processes(r);
    return report(r, argv[1]);
}
