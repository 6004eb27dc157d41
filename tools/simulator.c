/* massaged-sim: a massage ball or scraping tool on a serial line.
 *
 * Streams what the real device streams (../shared/spec/protocol.md) from the
 * physics of sim_ball / sim_scraper, in real time on a pseudo-terminal (or an
 * existing serial port), with seeded fault injection, and writes the ground
 * truth and an exact account of what it sent, so that tests can hold the
 * daemon's detections and counters against it. docs/SIMULATOR.md
 * ("Command line") is the user's reference; this comment covers the design.
 *
 * One thread. Time: sample k of the session is taken at device time
 * k * 1e6 / rate_hz microseconds after the first sample; the device clock
 * t_us is t0_us plus that, truncated to 32 bits. A frame is written when its
 * last sample's time has come on CLOCK_MONOTONIC (absolute deadlines, so no
 * drift accumulates), scaled by --clock-ppm and --speed. Between deadlines the tool
 * reads what the host writes and answers HELLO REQUESTs at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "json.h"
#include "sample.h"
#include "sim_ball.h"
#include "sim_device.h"
#include "sim_rng.h"
#include "sim_scraper.h"
#include "stop_signal.h"

#define SIM_HELLO_PERIOD_US 5000000u
#define SIM_STATUS_PERIOD_US 1000000u
#define SIM_MAX_PENDING 16           /* control frames waiting for the next write */
#define SIM_GARBAGE_MAX 40           /* bytes in one burst of line noise */
#define SIM_DRAIN_TIMEOUT_S 2.0 /* at exit, how long the reader gets to empty the pty */
#define SIM_UNPLUG_DRAIN_S 0.2  /* the same before an unplug */
#define SIM_FAST_DRAIN_S 10.0   /* either, in --fast mode (see unplug) */

/* Physics-neutral button bits (the two physics modules have their own). */
#define PHYS_BUTTON_DOWN 0x1
#define PHYS_BUTTON_UP 0x2

static volatile sig_atomic_t stop_requested;

typedef struct {
    int kind; /* a device_kind_t */
    uint64_t seed;
    bool seed_given;
    unsigned rate_hz;
    unsigned samples_per_frame;
    double duration_s; /* 0: until a signal */
    const char *link_path;
    const char *port_path;
    const char *truth_path;
    char serial[FRAME_SERIAL_LEN + 1];
    double garbage_rate, drop_rate, corrupt_rate; /* per frame, 0..1 */
    double stamp_jitter_us; /* samples frames stamped up to this far off their first sample */
    double pause_at_s, pause_for_s, pause_every_s;
    bool wait_request;
    bool fast;
    const char *hard_cases;
    double noise; /* < 0: the physics' default */
    bool quiet;
    uint32_t t0_us;
    bool t0_given;
    uint16_t seq0;
    double clock_ppm;
    double speed; /* real-time pacing this many times faster; 1: real time */
    double linger_s;
    double write_timeout_s; /* < 0: the default for the mode */
} sim_options_t;

/* What the tool did, for the truth file's summary line. */
typedef struct {
    uint64_t frames_sent; /* frames written intact, any type */
    uint64_t samples_sent;
    uint64_t hello_sent, status_sent, button_sent;
    uint64_t frames_dropped, samples_dropped;       /* --drop-rate: lost in transit */
    uint64_t corrupted_frames, samples_corrupted;   /* --corrupt-rate: written with a bit flipped */
    uint64_t frames_overflowed, samples_overflowed; /* the device buffer was full: not written */
    uint64_t garbage_bytes,
        garbage_runs;                   /* line noise written; runs = non-empty 0x00-ended chunks */
    uint64_t hello_requests;            /* HELLO REQUESTs received */
    uint64_t pauses, samples_unplugged; /* samples taken while unplugged, never framed */
    uint64_t samples_total;             /* samples the physics produced */
} sim_counters_t;

typedef struct {
    int kind;
    union {
        sim_ball_t ball;
        sim_scraper_t scraper;
    } u;
} physics_t;

typedef struct {
    sim_options_t opt;
    physics_t *phys;
    sim_rng_t fault_rng;  /* garbage, drops, corruption: independent of the physics */
    sim_rng_t status_rng; /* battery and temperature jitter */
    sim_rng_t stamp_rng;  /* --stamp-jitter: how far each samples frame's t_us is off */

    /* The line. */
    int fd;       /* pty master or serial port; -1 while unplugged */
    int slave_fd; /* held open so the line discipline keeps raw mode and
                     reading the master never fails with EIO; -1 for a port */
    char slave_path[PATH_MAX];
    bool overflowing;    /* the device buffer is full: frames are discarded */
    bool need_delimiter; /* a frame was cut short: end it before the next */
    bool overflow_flag;  /* report bit 2 in the next STATUS */
    frame_decoder_t decoder;
    uint64_t requests_unanswered;

    /* The device. */
    sim_device_t dev;       /* scales, serial, quantisation: shared with the offline runner */
    uint16_t seq;           /* of the next frame */
    uint64_t k;             /* index of the next sample */
    uint64_t total_samples; /* 0: endless */
    uint64_t next_hello_us, next_status_us; /* device us since the first sample */
    uint64_t last_dev_us;                   /* device time of the last frame sent */
    bool streaming;
    frame_t pending[SIM_MAX_PENDING];
    int n_pending;
    uint64_t next_pause_us; /* UINT64_MAX: none */

    /* Host clock. */
    struct timespec start; /* CLOCK_MONOTONIC at device time 0 */
    double host_ns_per_dev_us;

    FILE *truth;
    sim_counters_t c;
} sim_t;

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

static void say(const sim_t *sim, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const sim_t *sim, const char *fmt, ...)
{
    if (sim && sim->opt.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("massaged-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t timespec_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return timespec_ns(&ts);
}

static struct timespec ns_timespec(int64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)};
    return ts;
}

/* Sleeps until an absolute CLOCK_MONOTONIC time, or a signal. */
static void sleep_until_ns(int64_t deadline)
{
    struct timespec ts = ns_timespec(deadline);
    while (!stop_requested && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* Device microseconds since the first sample at which sample k is taken. */
static uint64_t dev_us_of(const sim_t *sim, uint64_t k)
{
    return k * 1000000u / sim->opt.rate_hz;
}

static uint32_t t_us_of(const sim_t *sim, uint64_t dev_us)
{
    return (uint32_t)(sim->opt.t0_us + dev_us);
}

/* The device time as unwrapped seconds: t0 plus time since the first sample. */
static double t_dev_of_us(const sim_t *sim, uint64_t dev_us)
{
    return ((double)sim->opt.t0_us + (double)dev_us) * 1e-6;
}

static int64_t host_deadline_ns(const sim_t *sim, uint64_t dev_us)
{
    return timespec_ns(&sim->start) + (int64_t)llround((double)dev_us * sim->host_ns_per_dev_us);
}

/* ------------------------------------------------------------------ */
/* Physics                                                              */

static void truth_sink(const event_t *e, void *ctx);

static int physics_step(sim_t *sim, sample_t *out)
{
    int bits = 0;
    if (sim->phys->kind == DEVICE_KIND_BALL) {
        int r = sim_ball_step(&sim->phys->u.ball, out, truth_sink, sim);
        if (r & SIM_BALL_BUTTON_DOWN)
            bits |= PHYS_BUTTON_DOWN;
        if (r & SIM_BALL_BUTTON_UP)
            bits |= PHYS_BUTTON_UP;
    } else {
        int r = sim_scraper_step(&sim->phys->u.scraper, out, truth_sink, sim);
        if (r & SIM_SCRAPER_BUTTON_DOWN)
            bits |= PHYS_BUTTON_DOWN;
        if (r & SIM_SCRAPER_BUTTON_UP)
            bits |= PHYS_BUTTON_UP;
    }
    sim->c.samples_total++;
    return bits;
}

static void physics_finish(sim_t *sim)
{
    if (sim->phys->kind == DEVICE_KIND_BALL)
        sim_ball_finish(&sim->phys->u.ball, truth_sink, sim);
    else
        sim_scraper_finish(&sim->phys->u.scraper, truth_sink, sim);
}

static int physics_init(sim_t *sim)
{
    const sim_options_t *o = &sim->opt;
    int rc;
    sim->phys->kind = o->kind;
    if (o->kind == DEVICE_KIND_BALL) {
        sim_ball_settings_t s = sim_ball_default;
        s.rate_hz = (float)o->rate_hz;
        s.duration_s = o->duration_s;
        if (o->noise >= 0.0)
            s.noise = (float)o->noise;
        if (o->hard_cases && (rc = sim_ball_hard_cases_parse(o->hard_cases, &s.hard_cases)) < 0) {
            say(NULL, "unknown hard case in '%s'", o->hard_cases);
            return rc;
        }
        rc = sim_ball_init(&sim->phys->u.ball, &s, o->seed);
    } else {
        sim_scraper_settings_t s = sim_scraper_default;
        s.rate_hz = (float)o->rate_hz;
        s.duration_s = o->duration_s;
        if (o->noise >= 0.0)
            s.noise = (float)o->noise;
        if (o->hard_cases &&
            (rc = sim_scraper_hard_cases_parse(o->hard_cases, &s.hard_cases)) < 0) {
            say(NULL, "unknown hard case in '%s'", o->hard_cases);
            return rc;
        }
        rc = sim_scraper_init(&sim->phys->u.scraper, &s, o->seed);
    }
    if (rc < 0)
        say(NULL, "the physics refused the settings (rate %u Hz, noise %g): %s", o->rate_hz,
            o->noise, strerror(-rc));
    return rc;
}

/* ------------------------------------------------------------------ */
/* Truth file                                                           */

static void put_json_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.9g", v);
    else
        fputs("null", f);
}

/* Names from the physics are C identifiers and fixed words; escaping (the
 * daemon's, daemon/json) only guards the file against a surprise. */
static void put_json_string(FILE *f, const char *s)
{
    char buf[4096];
    json_t j;
    json_init(&j, buf, sizeof buf);
    json_string(&j, s);
    fputs(j.overflow ? "\"\"" : buf, f);
}

static void truth_sink(const event_t *e, void *ctx)
{
    sim_t *sim = ctx;
    if (!sim->truth || e->phase == EVENT_START)
        return; /* an END carries the whole interval */
    double t0 = (double)sim->opt.t0_us * 1e-6;
    FILE *f = sim->truth;
    fputs("{\"type\":", f);
    put_json_string(f, e->type);
    if (e->phase == EVENT_END)
        fprintf(f, ",\"t_start_dev\":%.6f,\"t_end_dev\":%.6f", t0 + e->t_start_dev, t0 + e->t_dev);
    else
        fprintf(f, ",\"t_dev\":%.6f", t0 + e->t_dev);
    fprintf(f, ",\"id\":%u,\"fields\":{", e->id);
    for (int i = 0; i < e->n_fields; i++) {
        if (i)
            fputc(',', f);
        put_json_string(f, e->fields[i].name);
        fputc(':', f);
        put_json_number(f, e->fields[i].value);
    }
    fputc('}', f);
    if (e->text_name && e->text_value) {
        fputc(',', f);
        put_json_string(f, e->text_name);
        fputc(':', f);
        put_json_string(f, e->text_value);
    }
    fputs("}\n", f);
}

static void truth_config(sim_t *sim)
{
    if (!sim->truth)
        return;
    const sim_options_t *o = &sim->opt;
    fprintf(sim->truth,
            "{\"type\":\"config\",\"kind\":\"%s\",\"seed\":%llu,\"rate_hz\":%u,"
            "\"samples_per_frame\":%u,\"t0_us\":%u,\"seq0\":%u,\"serial\":",
            device_kind_name((device_kind_t)o->kind), (unsigned long long)o->seed,
            o->rate_hz, o->samples_per_frame, o->t0_us, o->seq0);
    put_json_string(sim->truth, o->serial);
    fprintf(sim->truth,
            ",\"p_scale\":%.9g,\"acc_scale\":%.9g,\"gyr_scale\":%.9g,\"duration_s\":%.6f,"
            "\"fast\":%s,\"hard_cases\":",
            sim->dev.p_scale, sim->dev.acc_scale, sim->dev.gyr_scale, o->duration_s,
            o->fast ? "true" : "false");
    put_json_string(sim->truth, o->hard_cases ? o->hard_cases : "none");
    fputs("}\n", sim->truth);
}

static void truth_mark(sim_t *sim, const char *type, uint64_t dev_us, const char *extra)
{
    if (!sim->truth)
        return;
    fprintf(sim->truth, "{\"type\":\"%s\",\"t_dev\":%.6f%s}\n", type, t_dev_of_us(sim, dev_us),
            extra ? extra : "");
}

static void truth_summary(sim_t *sim)
{
    if (!sim->truth)
        return;
    const sim_counters_t *c = &sim->c;
    fprintf(sim->truth,
            "{\"type\":\"summary\",\"frames_sent\":%llu,\"samples_sent\":%llu,"
            "\"frames_dropped\":%llu,\"samples_dropped\":%llu,\"garbage_bytes\":%llu,"
            "\"garbage_runs\":%llu,\"corrupted_frames\":%llu,\"samples_corrupted\":%llu,"
            "\"frames_overflowed\":%llu,\"samples_overflowed\":%llu,\"hello_sent\":%llu,"
            "\"status_sent\":%llu,\"button_sent\":%llu,\"hello_requests\":%llu,"
            "\"pauses\":%llu,\"samples_unplugged\":%llu,\"samples_total\":%llu,"
            "\"first_t_us\":%u,\"next_seq\":%u,\"t_end_dev\":%.6f}\n",
            (unsigned long long)c->frames_sent, (unsigned long long)c->samples_sent,
            (unsigned long long)c->frames_dropped, (unsigned long long)c->samples_dropped,
            (unsigned long long)c->garbage_bytes, (unsigned long long)c->garbage_runs,
            (unsigned long long)c->corrupted_frames, (unsigned long long)c->samples_corrupted,
            (unsigned long long)c->frames_overflowed, (unsigned long long)c->samples_overflowed,
            (unsigned long long)c->hello_sent, (unsigned long long)c->status_sent,
            (unsigned long long)c->button_sent, (unsigned long long)c->hello_requests,
            (unsigned long long)c->pauses, (unsigned long long)c->samples_unplugged,
            (unsigned long long)c->samples_total, sim->opt.t0_us, sim->seq,
            t_dev_of_us(sim, dev_us_of(sim, sim->k)));
    fflush(sim->truth);
}

/* ------------------------------------------------------------------ */
/* The line: pty or serial port                                         */

static int set_raw(int fd, bool set_speed)
{
    struct termios tio;
    if (tcgetattr(fd, &tio) != 0)
        return -errno;
    /* Raw: no echo, no CR/LF translation, no XON/XOFF (0x11/0x13 are data),
     * no signals from 0x03; 8 bits, no parity. */
    cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cflag &= ~(tcflag_t)(CSTOPB | PARENB | CRTSCTS);
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    if (set_speed && (cfsetispeed(&tio, B921600) != 0 || cfsetospeed(&tio, B921600) != 0))
        return -errno;
    if (tcsetattr(fd, TCSANOW, &tio) != 0)
        return -errno;
    return 0;
}

/* Points the --link symlink at the current slave; rename() makes the switch
 * atomic, so a reader never finds the path missing or half-made. */
static int update_link(sim_t *sim)
{
    if (!sim->opt.link_path)
        return 0;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", sim->opt.link_path, (long)getpid()) >=
        (int)sizeof tmp)
        return -ENAMETOOLONG;
    unlink(tmp);
    if (symlink(sim->slave_path, tmp) != 0 || rename(tmp, sim->opt.link_path) != 0) {
        int rc = -errno;
        unlink(tmp);
        say(sim, "cannot link %s -> %s: %s", sim->opt.link_path, sim->slave_path, strerror(-rc));
        return rc;
    }
    return 0;
}

static int open_pty(sim_t *sim)
{
    int rc;
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (master < 0) {
        rc = -errno;
        say(sim, "posix_openpt: %s", strerror(errno));
        return rc;
    }
    const char *name = NULL;
    if (grantpt(master) != 0 || unlockpt(master) != 0 || !(name = ptsname(master))) {
        rc = -errno;
        say(sim, "cannot set up the pseudo-terminal: %s", strerror(errno));
        goto fail_master;
    }
    snprintf(sim->slave_path, sizeof sim->slave_path, "%s", name);
    int slave = open(sim->slave_path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (slave < 0) {
        rc = -errno;
        say(sim, "cannot open %s: %s", sim->slave_path, strerror(errno));
        goto fail_master;
    }
    if ((rc = set_raw(slave, false)) < 0) {
        say(sim, "cannot make %s raw: %s", sim->slave_path, strerror(-rc));
        close(slave);
        goto fail_master;
    }
    sim->fd = master;
    sim->slave_fd = slave;
    /* The first line of stdout (and one more per replug) is the path; the
     * link is in place before it, so a reader of the line can use either. */
    update_link(sim);
    printf("%s\n", sim->slave_path);
    fflush(stdout);
    return 0;

fail_master:
    close(master);
    return rc;
}

static int open_port(sim_t *sim)
{
    int fd = open(sim->opt.port_path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        say(sim, "cannot open %s: %s", sim->opt.port_path, strerror(errno));
        return rc;
    }
    int rc = set_raw(fd, true);
    if (rc < 0) {
        say(sim, "cannot set %s to raw 921600 8N1: %s", sim->opt.port_path, strerror(-rc));
        close(fd);
        return rc;
    }
    snprintf(sim->slave_path, sizeof sim->slave_path, "%s", sim->opt.port_path);
    sim->fd = fd;
    sim->slave_fd = -1;
    return 0;
}

static int line_open(sim_t *sim)
{
    sim->overflowing = false;
    sim->need_delimiter = false;
    sim->requests_unanswered = 0; /* a request on the old line was for the old host */
    frame_decoder_reset(&sim->decoder);
    return sim->opt.port_path ? open_port(sim) : open_pty(sim);
}

static void line_close(sim_t *sim, bool remove_link)
{
    /* The link goes first: whoever sees the line close must not find the
     * link still pointing at the dead pty. */
    if (remove_link && sim->opt.link_path)
        unlink(sim->opt.link_path);
    if (sim->fd >= 0)
        close(sim->fd);
    if (sim->slave_fd >= 0)
        close(sim->slave_fd);
    sim->fd = -1;
    sim->slave_fd = -1;
}

static void on_host_frame(const frame_t *f, void *ctx)
{
    sim_t *sim = ctx;
    if (f->type == FRAME_HELLO_REQUEST) {
        sim->c.hello_requests++;
        sim->requests_unanswered++;
    }
}

/* Reads whatever the host wrote, without blocking. */
static void line_read(sim_t *sim)
{
    uint8_t buf[512];
    while (sim->fd >= 0) {
        ssize_t n = read(sim->fd, buf, sizeof buf);
        if (n > 0) {
            frame_decoder_feed(&sim->decoder, buf, (size_t)n, on_host_frame, sim);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break; /* EAGAIN, or EIO from a port that went away: nothing to read */
    }
}

static double write_timeout_s(const sim_t *sim)
{
    if (sim->opt.write_timeout_s >= 0.0)
        return sim->opt.write_timeout_s;
    /* Replay at full speed is flow-controlled by the reader, so it may wait
     * long; in real time a stalled reader is a full device buffer. */
    return sim->opt.fast ? 5.0 : 0.2;
}

/* Writes n bytes as one unit. Returns 0 when all were written; -EAGAIN when
 * the device buffer is full (the reader has not read for write_timeout_s),
 * in which case nothing or a cut-off prefix was written (the cut-off frame is
 * ended with a delimiter before the next write, so only it is lost); or
 * another negative errno if the line failed. While the buffer stays full,
 * later writes fail at once instead of each waiting again. */
static int line_write(sim_t *sim, const uint8_t *buf, size_t n)
{
    if (sim->fd < 0)
        return -EAGAIN;
    if (sim->overflowing) {
        struct pollfd pfd = {.fd = sim->fd, .events = POLLOUT};
        if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLOUT))
            return -EAGAIN;
    }
    if (sim->need_delimiter) {
        static const uint8_t zero = 0;
        if (write(sim->fd, &zero, 1) != 1)
            return -EAGAIN;
        sim->need_delimiter = false;
    }
    int64_t deadline = now_ns() + (int64_t)(write_timeout_s(sim) * 1e9);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(sim->fd, buf + off, n - off);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN)
            return -errno;
        int64_t left = deadline - now_ns();
        if (left <= 0) {
            sim->overflowing = true;
            if (off > 0)
                sim->need_delimiter = true;
            return -EAGAIN;
        }
        struct pollfd pfd = {.fd = sim->fd, .events = POLLOUT};
        int ms = (int)(left / 1000000) + 1;
        poll(&pfd, 1, ms > 100 ? 100 : ms);
    }
    sim->overflowing = false;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Frames                                                               */

/* Flips one bit of a data byte (never a COBS code byte, and never into a
 * 0x00) of an encoded frame: the frame keeps its length and framing and
 * fails its CRC, so exactly one frame is lost to the host. */
static void corrupt_frame(sim_t *sim, uint8_t *enc, size_t len)
{
    size_t data_bytes[FRAME_ENCODE_MAX];
    size_t n = 0;
    size_t code_at = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (i == code_at)
            code_at = i + enc[i];
        else
            data_bytes[n++] = i;
    }
    if (n == 0)
        return;
    size_t at = data_bytes[sim_rng_next(&sim->fault_rng) % n];
    unsigned bit = (unsigned)(sim_rng_next(&sim->fault_rng) % 8);
    uint8_t flipped = (uint8_t)(enc[at] ^ (1u << bit));
    if (flipped == 0)
        flipped = (uint8_t)(enc[at] ^ (1u << ((bit + 1) % 8)));
    enc[at] = flipped;
}

static void send_garbage(sim_t *sim)
{
    uint8_t g[SIM_GARBAGE_MAX];
    size_t n = 1 + (size_t)(sim_rng_next(&sim->fault_rng) % SIM_GARBAGE_MAX);
    uint64_t runs = 0;
    bool in_run = false;
    for (size_t i = 0; i < n; i++) {
        /* Zeros a little more often than chance, so runs of every length
         * occur; the burst always ends in a delimiter so that it never eats
         * the next frame (losing frames is --corrupt-rate's job). */
        uint64_t r = sim_rng_next(&sim->fault_rng);
        g[i] = (i == n - 1 || (r & 0xf00) == 0) ? 0 : (uint8_t)r;
        if (g[i] != 0)
            in_run = true;
        else if (in_run) {
            runs++;
            in_run = false;
        }
    }
    if (line_write(sim, g, n) == 0) {
        sim->c.garbage_bytes += n;
        sim->c.garbage_runs += runs;
    }
}

/* Sends one frame with the next seq, applying the fault injection. */
static void send_frame(sim_t *sim, frame_t *f)
{
    f->seq = sim->seq++;
    unsigned samples = f->type == FRAME_SAMPLES ? f->u.samples.count : 0;
    if (samples && sim->opt.stamp_jitter_us > 0.0)
        f->t_us += (uint32_t)(int32_t)lround((2.0 * sim_rng_uniform(&sim->stamp_rng) - 1.0) *
                                             sim->opt.stamp_jitter_us);
    if (f->type == FRAME_STATUS && sim->overflow_flag)
        f->u.status.flags |= 0x4;
    uint8_t enc[FRAME_ENCODE_MAX];
    size_t len = frame_encode(f, enc, sizeof enc);
    if (len == 0) {
        say(sim, "internal error: frame type %u did not encode", f->type);
        return;
    }
    /* Draw every decision each frame, so that one option's rate does not
     * shift another's random sequence. */
    double u_garbage = sim_rng_uniform(&sim->fault_rng);
    double u_drop = sim_rng_uniform(&sim->fault_rng);
    double u_corrupt = sim_rng_uniform(&sim->fault_rng);
    if (u_garbage < sim->opt.garbage_rate)
        send_garbage(sim);
    if (u_drop < sim->opt.drop_rate) {
        if (f->type == FRAME_STATUS)
            sim->overflow_flag = false; /* it left the device; the line lost it */
        sim->c.frames_dropped++;
        sim->c.samples_dropped += samples;
        return;
    }
    bool corrupt = u_corrupt < sim->opt.corrupt_rate;
    if (corrupt)
        corrupt_frame(sim, enc, len);
    int rc = line_write(sim, enc, len);
    if (rc == -EAGAIN) {
        sim->overflow_flag = true;
        sim->c.frames_overflowed++;
        sim->c.samples_overflowed += samples;
        return;
    }
    if (rc < 0) {
        say(sim, "write to %s failed: %s", sim->slave_path, strerror(-rc));
        stop_requested = 1;
        return;
    }
    /* The flag has left the device, whatever befalls the frame on the line. */
    if (f->type == FRAME_STATUS)
        sim->overflow_flag = false;
    if (corrupt) {
        sim->c.corrupted_frames++;
        sim->c.samples_corrupted += samples;
        return;
    }
    sim->c.frames_sent++;
    sim->c.samples_sent += samples;
    if (f->type == FRAME_HELLO)
        sim->c.hello_sent++;
    else if (f->type == FRAME_STATUS)
        sim->c.status_sent++;
    else if (f->type == FRAME_BUTTON)
        sim->c.button_sent++;
}

static void make_hello(const sim_t *sim, frame_t *f, uint64_t dev_us)
{
    sim_device_hello(&sim->dev, t_us_of(sim, dev_us), f);
}

static void make_status(sim_t *sim, frame_t *f, uint64_t dev_us)
{
    memset(f, 0, sizeof *f);
    f->type = FRAME_STATUS;
    f->t_us = t_us_of(sim, dev_us);
    double t = (double)dev_us * 1e-6;
    /* A lithium cell a little below full, losing about 70 mV an hour, and a
     * sensor warming from the room towards the hand. */
    double mv = 4100.0 - 0.02 * t + 2.0 * sim_rng_gauss(&sim->status_rng);
    double centi_c =
        2400.0 + 800.0 * (1.0 - exp(-t / 600.0)) + 5.0 * sim_rng_gauss(&sim->status_rng);
    f->u.status.battery_mv = (uint16_t)lround(mv < 3000.0 ? 3000.0 : mv);
    f->u.status.temperature_centi_c = (int16_t)lround(centi_c);
    f->u.status.flags = 0; /* bit 2 is added when the frame leaves, see send_frame */
}

static void queue_frame(sim_t *sim, const frame_t *f)
{
    if (sim->n_pending == SIM_MAX_PENDING) {
        /* Cannot happen at the periods used (at most a HELLO, a STATUS and
         * two BUTTONs per frame); drop rather than overrun. */
        return;
    }
    sim->pending[sim->n_pending++] = *f;
}

static void send_pending(sim_t *sim)
{
    for (int i = 0; i < sim->n_pending; i++)
        send_frame(sim, &sim->pending[i]);
    sim->n_pending = 0;
}

/* The device's clock now, as microseconds since the first sample: from the
 * host clock in real time, else the last sample taken; never before the
 * last frame sent, so that a HELLO is never mistaken for a reboot. */
static uint64_t device_now_us(const sim_t *sim)
{
    uint64_t latest = sim->k > 0 ? dev_us_of(sim, sim->k - 1) : 0;
    uint64_t now = latest;
    if (!sim->opt.fast) {
        double elapsed_ns = (double)(now_ns() - timespec_ns(&sim->start));
        double dev = elapsed_ns / sim->host_ns_per_dev_us;
        now = dev <= 0.0 ? 0 : (uint64_t)dev;
        if (now > latest)
            now = latest;
    }
    return now < sim->last_dev_us ? sim->last_dev_us : now;
}

static void answer_requests(sim_t *sim)
{
    if (sim->requests_unanswered == 0 || !sim->streaming || sim->fd < 0)
        return;
    sim->requests_unanswered = 0;
    frame_t f;
    make_hello(sim, &f, device_now_us(sim));
    send_frame(sim, &f);
}

/* Waits until the host clock reaches the time of device microsecond dev_us,
 * answering HELLO REQUESTs meanwhile. */
static void wait_for_device_time(sim_t *sim, uint64_t dev_us)
{
    int64_t deadline = host_deadline_ns(sim, dev_us);
    for (;;) {
        line_read(sim);
        answer_requests(sim);
        if (stop_requested)
            return;
        int64_t left = deadline - now_ns();
        if (left <= 0)
            return;
        if (left > 2000000 && sim->fd >= 0) {
            /* poll's millisecond timeout wakes us early enough; the last
             * stretch is an absolute sleep for precision. */
            struct pollfd pfd = {.fd = sim->fd, .events = POLLIN};
            int ms = (int)((left - 1000000) / 1000000);
            poll(&pfd, 1, ms > 50 ? 50 : ms);
        } else {
            sleep_until_ns(deadline);
        }
    }
}

/* Starts the device's stream: the clock's origin is now. */
static void power_on(sim_t *sim)
{
    clock_gettime(CLOCK_MONOTONIC, &sim->start);
    sim->streaming = true;
    sim->requests_unanswered = 0;
    frame_t f;
    make_hello(sim, &f, 0);
    send_frame(sim, &f);
    sim->next_hello_us = SIM_HELLO_PERIOD_US;
    sim->next_status_us = 0;
}

/* Gives the reader up to timeout_s to take what is still in the pty, since
 * closing the master discards it: at the end, and before an unplug (bytes
 * already on their way count as delivered, which keeps the summary exact
 * when a reader keeps up). */
static void drain(sim_t *sim, double timeout_s)
{
    if (sim->slave_fd < 0)
        return;
    /* FIONREAD counts what the line discipline holds, not bytes the kernel
     * has yet to move there from the pty's flip buffer, so one empty reading
     * is not enough: the queue must stay empty for a few readings. */
    int64_t deadline = now_ns() + (int64_t)(timeout_s * 1e9);
    int empty_readings = 0;
    while (!stop_requested && now_ns() < deadline && empty_readings < 4) {
        int queued = 0;
        if (ioctl(sim->slave_fd, FIONREAD, &queued) != 0)
            break;
        empty_readings = queued == 0 ? empty_readings + 1 : 0;
        line_read(sim);
        sleep_until_ns(now_ns() + 5000000);
    }
}

/* "Unplugs" for pause_for_s: the line goes away (the host's reads fail),
 * the device goes on living (clock, physics, truth) without framing, then
 * a new line appears and the device greets it with a HELLO. */
static void unplug(sim_t *sim)
{
    uint64_t from_us = dev_us_of(sim, sim->k);
    uint64_t until_us = from_us + (uint64_t)llround(sim->opt.pause_for_s * 1e6);
    sim->c.pauses++;
    truth_mark(sim, "unplug", from_us, NULL);
    say(sim, "unplugged at device time %.3f s", (double)from_us * 1e-6);
    if (!sim->opt.port_path) {
        /* In --fast mode nothing waits on the real clock, so give a slow
         * reader (a test on a loaded machine) time to take every byte the
         * summary will count as sent before the line goes. A whole segment
         * lies queued at once, and such a reader may not even have opened
         * the line yet: a 2 s wait once lost a segment. The wait ends as
         * soon as the queue is empty. */
        drain(sim, sim->opt.fast ? SIM_FAST_DRAIN_S : SIM_UNPLUG_DRAIN_S);
        line_close(sim, true);
    }
    sim->n_pending = 0;

    sample_t s;
    while (!stop_requested && dev_us_of(sim, sim->k) < until_us &&
           !(sim->total_samples && sim->k >= sim->total_samples)) {
        int bits = physics_step(sim, &s);
        if (bits & PHYS_BUTTON_DOWN)
            truth_mark(sim, "button", dev_us_of(sim, sim->k), ",\"pressed\":1,\"delivered\":false");
        sim->k++;
        sim->c.samples_unplugged++;
    }
    if (sim->opt.fast)
        sleep_until_ns(now_ns() + (int64_t)(sim->opt.pause_for_s * 1e9));
    else
        sleep_until_ns(host_deadline_ns(sim, dev_us_of(sim, sim->k)));

    sim->next_pause_us = sim->opt.pause_every_s > 0.0
                             ? from_us + (uint64_t)llround(sim->opt.pause_every_s * 1e6)
                             : UINT64_MAX;
    if (stop_requested || (sim->total_samples && sim->k >= sim->total_samples))
        return;
    if (!sim->opt.port_path && line_open(sim) < 0) {
        stop_requested = 1;
        return;
    }
    uint64_t now_us = dev_us_of(sim, sim->k);
    truth_mark(sim, "replug", now_us, NULL);
    say(sim, "replugged as %s at device time %.3f s", sim->slave_path, (double)now_us * 1e-6);
    frame_t f;
    make_hello(sim, &f, now_us);
    send_frame(sim, &f);
    sim->last_dev_us = now_us;
    sim->next_hello_us = now_us + SIM_HELLO_PERIOD_US;
    if (sim->next_status_us < now_us)
        sim->next_status_us = now_us;
}

/* Builds, times and sends one SAMPLES frame with the control frames due in
 * it (STATUS, HELLO, BUTTON, in that order, before the samples). */
static void stream_one_frame(sim_t *sim)
{
    frame_t sf;
    sample_t batch[FRAME_MAX_SAMPLES];
    uint64_t first_k = sim->k;
    unsigned count = 0;
    while (count < sim->opt.samples_per_frame &&
           !(sim->total_samples && sim->k >= sim->total_samples)) {
        uint64_t d = dev_us_of(sim, sim->k);
        frame_t cf;
        if (d >= sim->next_status_us) {
            make_status(sim, &cf, d);
            queue_frame(sim, &cf);
            sim->next_status_us += SIM_STATUS_PERIOD_US;
        }
        if (d >= sim->next_hello_us) {
            make_hello(sim, &cf, d);
            queue_frame(sim, &cf);
            sim->next_hello_us += SIM_HELLO_PERIOD_US;
        }
        int bits = physics_step(sim, &batch[count]);
        for (int b = PHYS_BUTTON_DOWN; b <= PHYS_BUTTON_UP; b <<= 1) {
            if (!(bits & b))
                continue;
            sim_device_button(t_us_of(sim, d), b == PHYS_BUTTON_DOWN, &cf);
            queue_frame(sim, &cf);
        }
        count++;
        sim->k++;
    }
    if (count == 0)
        return;
    sim_device_samples(&sim->dev, t_us_of(sim, dev_us_of(sim, first_k)), batch, count, &sf);
    uint64_t last_us = dev_us_of(sim, sim->k - 1);
    if (sim->opt.fast) {
        line_read(sim);
        answer_requests(sim);
    } else {
        wait_for_device_time(sim, last_us);
    }
    send_pending(sim);
    send_frame(sim, &sf);
    sim->last_dev_us = last_us;
    /* Once a second is often enough for a reader following the file live. */
    if (sim->truth && sim->k / sim->opt.rate_hz != first_k / sim->opt.rate_hz)
        fflush(sim->truth);
}

/* ------------------------------------------------------------------ */
/* Command line                                                         */

static void usage(FILE *out)
{
    fputs("usage: massaged-sim --kind ball|scraper [options]\n"
          "  --seed N               physics and fault seed (default: from the clock, printed)\n"
          "  --rate HZ              sample rate (ball 1000, scraper 500)\n"
          "  --samples-per-frame N  1..30 (ball 10, scraper 5: 100 frames/s)\n"
          "  --duration S           device seconds to stream, then exit (default: until signal)\n"
          "  --link PATH            keep a symlink PATH -> the current pty slave\n"
          "  --port PATH            write to this serial port (raw 921600 8N1), not a new pty\n"
          "  --truth FILE           ground truth and a summary, one JSON object per line\n"
          "  --serial STR           serial number in HELLO (at most 16 characters)\n"
          "  --garbage-rate R       chance per frame of 1-40 bytes of line noise before it\n"
          "  --drop-rate R          chance per frame that it is lost in transit\n"
          "  --corrupt-rate R       chance per frame that one of its bits flips\n"
          "  --stamp-jitter US      stamp each samples frame up to US microseconds off\n"
          "                         its first sample's time (a device that stamps late)\n"
          "  --pause-at S           unplug at device second S ...\n"
          "  --pause-for S          ... for S seconds (default 2)\n"
          "  --pause-every S        ... and again every S seconds\n"
          "  --wait-request         stay silent until the first HELLO REQUEST\n"
          "  --fast                 no real-time pacing: write as fast as the reader takes it\n"
          "  --hard-cases LIST      physics hard cases, comma-separated (see SIMULATOR.md)\n"
          "  --noise X              sensor noise multiplier (1 typical, 0 ideal)\n"
          "  --t0-us N              device clock at the first sample (default: random)\n"
          "  --seq0 N               seq of the first frame (default 0)\n"
          "  --clock-ppm X          device clock runs X ppm fast against the host\n"
          "  --speed X              real-time pacing X times faster (default 1)\n"
          "  --linger S             keep the line open S seconds after the end\n"
          "  --write-timeout S      how long a full pty may block a write (fast 5, else 0.2)\n"
          "  --quiet                no messages on stderr\n",
          out);
}

static int parse_double(const char *name, const char *text, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (*text == '\0' || *end != '\0' || errno || !(v >= lo && v <= hi)) {
        fprintf(stderr, "massaged-sim: --%s wants a number in %g..%g, not '%s'\n", name, lo, hi,
                text);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_u64(const char *name, const char *text, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (*text == '\0' || *text == '-' || *end != '\0' || errno || v < lo || v > hi) {
        fprintf(stderr, "massaged-sim: --%s wants an integer in %llu..%llu, not '%s'\n", name,
                (unsigned long long)lo, (unsigned long long)hi, text);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

enum {
    OPT_KIND = 256,
    OPT_SEED,
    OPT_RATE,
    OPT_SPF,
    OPT_DURATION,
    OPT_LINK,
    OPT_PORT,
    OPT_TRUTH,
    OPT_SERIAL,
    OPT_GARBAGE,
    OPT_DROP,
    OPT_CORRUPT,
    OPT_STAMP_JITTER,
    OPT_PAUSE_AT,
    OPT_PAUSE_FOR,
    OPT_PAUSE_EVERY,
    OPT_WAIT_REQUEST,
    OPT_FAST,
    OPT_HARD,
    OPT_NOISE,
    OPT_QUIET,
    OPT_T0,
    OPT_SEQ0,
    OPT_PPM,
    OPT_SPEED,
    OPT_LINGER,
    OPT_WRITE_TIMEOUT,
    OPT_HELP,
};

/* The options that take a number in a range into a double of sim_options_t. */
static const struct {
    int id;
    const char *name;
    double lo, hi;
    size_t offset; /* of the double in sim_options_t */
} number_options[] = {
    {OPT_DURATION, "duration", 0.0, 1e7, offsetof(sim_options_t, duration_s)},
    {OPT_GARBAGE, "garbage-rate", 0.0, 1.0, offsetof(sim_options_t, garbage_rate)},
    {OPT_DROP, "drop-rate", 0.0, 1.0, offsetof(sim_options_t, drop_rate)},
    {OPT_CORRUPT, "corrupt-rate", 0.0, 1.0, offsetof(sim_options_t, corrupt_rate)},
    {OPT_STAMP_JITTER, "stamp-jitter", 0.0, 100000.0, offsetof(sim_options_t, stamp_jitter_us)},
    {OPT_PAUSE_AT, "pause-at", 0.0, 1e7, offsetof(sim_options_t, pause_at_s)},
    {OPT_PAUSE_FOR, "pause-for", 0.0, 1e5, offsetof(sim_options_t, pause_for_s)},
    {OPT_PAUSE_EVERY, "pause-every", 0.001, 1e7, offsetof(sim_options_t, pause_every_s)},
    {OPT_NOISE, "noise", 0.0, 1000.0, offsetof(sim_options_t, noise)},
    {OPT_PPM, "clock-ppm", -100000.0, 100000.0, offsetof(sim_options_t, clock_ppm)},
    {OPT_SPEED, "speed", 1.0, 10000.0, offsetof(sim_options_t, speed)},
    {OPT_LINGER, "linger", 0.0, 1e6, offsetof(sim_options_t, linger_s)},
    {OPT_WRITE_TIMEOUT, "write-timeout", 0.0, 3600.0, offsetof(sim_options_t, write_timeout_s)},
};

/* One option (getopt's opt and optarg) into *o; returns 0 or -EINVAL (said why). */
static int parse_option(sim_options_t *o, int opt, const char *arg, const char **serial)
{
    for (size_t i = 0; i < sizeof number_options / sizeof number_options[0]; i++)
        if (number_options[i].id == opt)
            return parse_double(number_options[i].name, arg, number_options[i].lo,
                                number_options[i].hi,
                                (double *)((char *)o + number_options[i].offset));
    uint64_t u = 0; /* 0 when parse_u64 refuses the text */
    int rc = 0;
    switch (opt) {
    case OPT_KIND: {
        device_kind_t kind;
        if (device_kind_parse(arg, &kind) != 0) {
            fprintf(stderr, "massaged-sim: --kind is ball or scraper, not '%s'\n", arg);
            return -EINVAL;
        }
        o->kind = kind;
        return 0;
    }
    case OPT_SEED:
        o->seed_given = true;
        return parse_u64("seed", arg, 0, UINT64_MAX, &o->seed);
    case OPT_RATE:
        rc = parse_u64("rate", arg, 1, 65535, &u);
        o->rate_hz = (unsigned)u;
        return rc;
    case OPT_SPF:
        rc = parse_u64("samples-per-frame", arg, 1, FRAME_MAX_SAMPLES, &u);
        o->samples_per_frame = (unsigned)u;
        return rc;
    case OPT_T0:
        rc = parse_u64("t0-us", arg, 0, UINT32_MAX, &u);
        o->t0_us = (uint32_t)u;
        o->t0_given = true;
        return rc;
    case OPT_SEQ0:
        rc = parse_u64("seq0", arg, 0, UINT16_MAX, &u);
        o->seq0 = (uint16_t)u;
        return rc;
    case OPT_SERIAL:
        if (strlen(arg) > FRAME_SERIAL_LEN) {
            fprintf(stderr, "massaged-sim: --serial has at most %d characters\n",
                    FRAME_SERIAL_LEN);
            return -EINVAL;
        }
        *serial = arg;
        return 0;
    case OPT_LINK:
        o->link_path = arg;
        return 0;
    case OPT_PORT:
        o->port_path = arg;
        return 0;
    case OPT_TRUTH:
        o->truth_path = arg;
        return 0;
    case OPT_HARD:
        o->hard_cases = arg;
        return 0;
    case OPT_WAIT_REQUEST:
        o->wait_request = true;
        return 0;
    case OPT_FAST:
        o->fast = true;
        return 0;
    case OPT_QUIET:
        o->quiet = true;
        return 0;
    case OPT_HELP:
        usage(stdout);
        exit(0);
    default:
        return -EINVAL;
    }
}

/* The options together: what each alone cannot say. Returns 0 or -EINVAL. */
static int check_options(const sim_options_t *o, int argc)
{
    if (optind != argc || o->kind == 0) {
        if (o->kind == 0)
            fprintf(stderr, "massaged-sim: --kind ball|scraper is required\n");
        usage(stderr);
        return -EINVAL;
    }
    if (o->link_path && o->port_path) {
        fprintf(stderr, "massaged-sim: --link names a pty; it makes no sense with --port\n");
        return -EINVAL;
    }
    if (o->fast && o->speed != 1.0) {
        fprintf(stderr, "massaged-sim: --speed sets the pacing; --fast has none\n");
        return -EINVAL;
    }
    if (o->pause_every_s > 0.0 && o->pause_every_s <= o->pause_for_s) {
        fprintf(stderr, "massaged-sim: --pause-every must be longer than --pause-for\n");
        return -EINVAL;
    }
    return 0;
}

/* What was not given: the kind's rate and frame size, a seed from the
 * clock, the device clock's start and the serial from the seed. */
static void complete_options(sim_options_t *o, const char *serial)
{
    if (o->pause_every_s > 0.0 && o->pause_at_s < 0.0)
        o->pause_at_s = o->pause_every_s;
    const device_kind_info_t *info = device_kind_info((device_kind_t)o->kind);
    bool ball = o->kind == DEVICE_KIND_BALL;
    if (o->rate_hz == 0)
        o->rate_hz = info->rate_hz;
    if (o->samples_per_frame == 0)
        o->samples_per_frame = info->samples_per_frame;
    if (!o->seed_given) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        o->seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
    }
    if (!o->t0_given) {
        /* Anywhere on the 71-minute dial, from the seed, so that runs are
         * reproducible and sometimes cross the wrap. */
        sim_rng_t r;
        sim_rng_seed(&r, o->seed ^ 0x7430u);
        o->t0_us = (uint32_t)(sim_rng_next(&r) >> 32);
    }
    if (serial)
        snprintf(o->serial, sizeof o->serial, "%s", serial);
    else
        snprintf(o->serial, sizeof o->serial, "%s%08X", ball ? "SIMBALL-" : "SIMSCRP-",
                 (unsigned)(o->seed & 0xffffffffu));
}

static int parse_options(int argc, char **argv, sim_options_t *o)
{
    static const struct option options[] = {
        {"kind", required_argument, NULL, OPT_KIND},
        {"seed", required_argument, NULL, OPT_SEED},
        {"rate", required_argument, NULL, OPT_RATE},
        {"samples-per-frame", required_argument, NULL, OPT_SPF},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"link", required_argument, NULL, OPT_LINK},
        {"port", required_argument, NULL, OPT_PORT},
        {"truth", required_argument, NULL, OPT_TRUTH},
        {"serial", required_argument, NULL, OPT_SERIAL},
        {"garbage-rate", required_argument, NULL, OPT_GARBAGE},
        {"drop-rate", required_argument, NULL, OPT_DROP},
        {"corrupt-rate", required_argument, NULL, OPT_CORRUPT},
        {"stamp-jitter", required_argument, NULL, OPT_STAMP_JITTER},
        {"pause-at", required_argument, NULL, OPT_PAUSE_AT},
        {"pause-for", required_argument, NULL, OPT_PAUSE_FOR},
        {"pause-every", required_argument, NULL, OPT_PAUSE_EVERY},
        {"wait-request", no_argument, NULL, OPT_WAIT_REQUEST},
        {"fast", no_argument, NULL, OPT_FAST},
        {"hard-cases", required_argument, NULL, OPT_HARD},
        {"noise", required_argument, NULL, OPT_NOISE},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"t0-us", required_argument, NULL, OPT_T0},
        {"seq0", required_argument, NULL, OPT_SEQ0},
        {"clock-ppm", required_argument, NULL, OPT_PPM},
        {"speed", required_argument, NULL, OPT_SPEED},
        {"linger", required_argument, NULL, OPT_LINGER},
        {"write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->noise = -1.0;
    o->pause_at_s = -1.0;
    o->pause_for_s = 2.0;
    o->speed = 1.0;
    o->write_timeout_s = -1.0;
    const char *serial = NULL;
    int opt, rc = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, "", options, NULL)) != -1)
        rc = parse_option(o, opt, optarg, &serial);
    if (rc == 0)
        rc = check_options(o, argc);
    if (rc < 0)
        return rc;
    complete_options(o, serial);
    return 0;
}

int main(int argc, char **argv)
{
    static sim_t sim_storage; /* large (decoder, pending frames): not on the stack */
    sim_t *sim = &sim_storage;
    if (parse_options(argc, argv, &sim->opt) < 0)
        return 2;
    const sim_options_t *o = &sim->opt;
    sim->fd = -1;
    sim->slave_fd = -1;
    sim->seq = o->seq0;
    sim->next_pause_us = o->pause_at_s >= 0.0 ? (uint64_t)llround(o->pause_at_s * 1e6) : UINT64_MAX;
    sim->host_ns_per_dev_us = 1000.0 / ((1.0 + o->clock_ppm * 1e-6) * o->speed);
    sim->total_samples = o->duration_s > 0.0 ? (uint64_t)llround(o->duration_s * o->rate_hz) : 0;
    sim_rng_seed(&sim->fault_rng, o->seed ^ 0xfa017u);
    sim_rng_seed(&sim->stamp_rng, o->seed ^ 0x5a3b1u);
    sim_rng_seed(&sim->status_rng, o->seed ^ 0x57a7u);
    frame_decoder_init(&sim->decoder);

    bool ball = o->kind == DEVICE_KIND_BALL;
    sim_device_init(&sim->dev, (uint8_t)o->kind, (uint16_t)o->rate_hz, o->serial);

    int status = 1;
    sim->phys = calloc(1, sizeof *sim->phys);
    if (!sim->phys) {
        say(sim, "out of memory");
        return 1;
    }
    if (physics_init(sim) < 0)
        goto out;

    if (o->truth_path) {
        sim->truth = fopen(o->truth_path, "w");
        if (!sim->truth) {
            say(sim, "cannot write %s: %s", o->truth_path, strerror(errno));
            goto out;
        }
    }

    stop_signal_catch(&stop_requested);
    signal(SIGPIPE, SIG_IGN);

    if (line_open(sim) < 0)
        goto out;
    say(sim, "%s on %s, seed %llu, t0_us %u, %u Hz, %u samples per frame%s",
        ball ? "ball" : "scraper", sim->slave_path, (unsigned long long)o->seed, o->t0_us,
        o->rate_hz, o->samples_per_frame, o->fast ? ", fast" : "");
    truth_config(sim);

    if (o->wait_request) {
        while (!stop_requested && sim->c.hello_requests == 0) {
            struct pollfd pfd = {.fd = sim->fd, .events = POLLIN};
            poll(&pfd, 1, 100);
            line_read(sim);
        }
    }
    if (!stop_requested)
        power_on(sim);

    while (!stop_requested && !(sim->total_samples && sim->k >= sim->total_samples)) {
        if (dev_us_of(sim, sim->k) >= sim->next_pause_us) {
            unplug(sim);
            continue;
        }
        stream_one_frame(sim);
    }
    physics_finish(sim);
    if (!stop_requested)
        drain(sim, o->fast ? SIM_FAST_DRAIN_S : SIM_DRAIN_TIMEOUT_S);
    if (o->linger_s > 0.0)
        sleep_until_ns(now_ns() + (int64_t)(o->linger_s * 1e9));
    status = 0;

out:
    if (sim->truth) {
        truth_summary(sim);
        fclose(sim->truth);
    }
    line_close(sim, true);
    say(sim, "sent %llu frames (%llu samples); dropped %llu, corrupted %llu, overflowed %llu",
        (unsigned long long)sim->c.frames_sent, (unsigned long long)sim->c.samples_sent,
        (unsigned long long)sim->c.frames_dropped, (unsigned long long)sim->c.corrupted_frames,
        (unsigned long long)sim->c.frames_overflowed);
    free(sim->phys);
    return status;
}
