/* massaged-replay: runs a recorded session through the daemon's chain and
 * detectors again and publishes what the live daemon would have published
 * (docs/RECORDING.md, "Replay").
 *
 * Each device's recorded frames (the frame_samples channel marks where the
 * device's SAMPLES frames began) are turned back into frames of raw device
 * units with the recorded HELLO's scales, and fed to a fresh chain together
 * with the recorded connects (a HELLO), button presses (a BUTTON frame) and
 * losses. Arrival times are the recorded host times, so the clock mapping
 * and every t_host come out close to the live ones; types, phases, ids,
 * t_dev and fields come out the same.
 */
#include "chain.h"
#include "cli.h"
#include "config.h"
#include "json_read.h"
#include "log.h"
#include "message.h"
#include "publisher.h"
#include "recording.h"
#include "now.h"
#include "grow.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { ACT_CONNECT, ACT_FRAME, ACT_MARK, ACT_LOSS };

typedef struct {
    int type;
    double t_host; /* Unix seconds, for ordering across devices and pacing */
    double t_dev;  /* connect, mark, loss */
    int stream;    /* frame: recording stream; connect: the stream whose HELLO applies */
    size_t first;  /* frame: first sample */
    unsigned count;
} action_t;

typedef struct {
    char name[CONFIG_NAME_MAX];
    device_kind_t kind;
    chain_t chain;
    action_t *acts;
    size_t n, cap, next;
} device_t;

typedef struct {
    publisher_t *pub;
    bool print;
    const char *device;
    device_kind_t kind;
    unsigned rate_hz;
    char topic[MESSAGE_TOPIC_MAX];
    char payload[MESSAGE_MAX];
    message_raw_head_t head; /* of the current stream's raw messages */
    uint64_t events, blocks, samples;
} out_t;

static out_t out;

static void on_block(void *ctx, const message_block_t *block)
{
    (void)ctx;
    out.blocks++;
    if (!out.pub)
        return;
    message_topic(out.topic, "raw", out.device, NULL);
    if (out.head.device != out.device || out.head.kind != out.kind ||
        out.head.rate_hz != out.rate_hz)
        message_raw_head(&out.head, out.device, out.kind, out.rate_hz);
    char *buf = publisher_payload(out.pub);
    int len = message_raw_after(buf, MESSAGE_MAX, &out.head, block);
    if (len > 0)
        publisher_send_payload(out.pub, out.topic, buf, (size_t)len);
}

static void on_event(void *ctx, const event_t *event, double t_host)
{
    (void)ctx;
    out.events++;
    message_topic(out.topic, "event", out.device, event->type);
    char *buf = out.pub ? publisher_payload(out.pub) : out.payload;
    int len = message_event(buf, MESSAGE_MAX, out.device, out.kind, event, t_host);
    if (len < 0)
        return;
    if (out.pub)
        publisher_send_payload(out.pub, out.topic, buf, (size_t)len);
    if (out.print)
        printf("{\"topic\":\"%s\",\"payload\":%.*s}\n", out.topic, len, buf);
}

static int push(device_t *d, action_t a)
{
    return GROW_APPEND(d->acts, d->cap, d->n, 1024, a);
}

static int cmp_frame(const void *a, const void *b)
{
    const action_t *x = a, *y = b;
    return (x->t_dev > y->t_dev) - (x->t_dev < y->t_dev);
}

static uint32_t device_us(double t_dev)
{
    return (uint32_t)(uint64_t)llround(t_dev * 1e6);
}

/* Builds one device's actions in the order the live chain saw them. */
static int build_device(device_t *d, const recording_t *rec)
{
    /* frames of every stream of this device, in device time */
    size_t n_frames = 0;
    for (int k = 0; k < rec->n_streams; k++) {
        const recording_stream_t *s = &rec->streams[k];
        if (strcmp(s->name, d->name) != 0)
            continue;
        for (size_t i = 0; i < s->n;) {
            const double *v = s->values + i * XDF_CHANNELS;
            unsigned count = v[XDF_CH_FRAME_SAMPLES] > 0 ? (unsigned)v[XDF_CH_FRAME_SAMPLES] : 1;
            if (count > FRAME_MAX_SAMPLES || i + count > s->n)
                count = (unsigned)(s->n - i < FRAME_MAX_SAMPLES ? s->n - i : FRAME_MAX_SAMPLES);
            action_t a = {ACT_FRAME, s->stamps[i], v[XDF_CH_T_DEV], k, i, count};
            if (push(d, a) != 0)
                return -ENOMEM;
            n_frames++;
            i += count;
        }
    }
    qsort(d->acts, n_frames, sizeof *d->acts, cmp_frame);
    /* connects, marks and losses from the events, merged in by device time:
     * a HELLO comes before the frames from its time on, a press or a loss
     * after the frames that began by its time */
    action_t *frames = d->acts;
    d->acts = NULL;
    d->n = d->cap = 0;
    size_t f = 0;
    for (size_t e = 0; e <= rec->n_events; e++) {
        action_t c = {0};
        if (e < rec->n_events) {
            const char *json = rec->events[e].json;
            char dev[CONFIG_NAME_MAX], type[32];
            size_t len = strlen(json);
            if (!json_read_string(json, len, "device", dev, sizeof dev) ||
                strcmp(dev, d->name) != 0 ||
                !json_read_string(json, len, "type", type, sizeof type) ||
                !json_read_number(json, len, "t_dev", &c.t_dev))
                continue;
            if (strcmp(type, "connected") == 0)
                c.type = ACT_CONNECT;
            else if (strcmp(type, "mark") == 0)
                c.type = ACT_MARK;
            else if (strcmp(type, "disconnected") == 0)
                c.type = ACT_LOSS;
            else
                continue;
            c.t_host = rec->events[e].stamp;
        }
        while (f < n_frames &&
               (e == rec->n_events ||
                (c.type == ACT_CONNECT ? frames[f].t_dev < c.t_dev : frames[f].t_dev <= c.t_dev))) {
            if (push(d, frames[f++]) != 0)
                return -ENOMEM;
        }
        if (e < rec->n_events) {
            c.stream = f < n_frames ? frames[f].stream : -1;
            if (c.type == ACT_CONNECT && c.stream < 0)
                continue;
            if (push(d, c) != 0)
                return -ENOMEM;
        }
    }
    free(frames);
    return 0;
}

static void run_action(device_t *d, const recording_t *rec, const action_t *a)
{
    chain_sink_t sink = {on_block, on_event, NULL};
    out.device = d->name;
    out.kind = d->kind;
    out.rate_hz = d->chain.hello.rate_hz;
    frame_t f; /* a HELLO or a press: cleared where used, not for every block */
    switch (a->type) {
    case ACT_CONNECT:
        chain_port_opened(&d->chain);
        memset(&f, 0, sizeof f);
        f.type = FRAME_HELLO;
        f.t_us = device_us(a->t_dev);
        f.u.hello = rec->streams[a->stream].hello;
        chain_frame(&d->chain, &f, a->t_host, &sink);
        break;
    case ACT_FRAME: {
        /* the recorded values are the live chain's floats, stored exactly
         * as double64: they enter after the scales, bit for bit */
        const recording_stream_t *s = &rec->streams[a->stream];
        message_block_t block;
        block.n = a->count;
        out.samples += a->count;
        for (unsigned i = 0; i < a->count; i++) {
            const double *v = s->values + (a->first + i) * XDF_CHANNELS;
            sample_t *x = &block.s[i];
            x->p = (float)v[XDF_CH_P];
            for (int k = 0; k < 3; k++) {
                x->acc[k] = (float)v[XDF_CH_ACC_X + k];
                x->gyr[k] = (float)v[XDF_CH_GYR_X + k];
            }
        }
        /* the live arrival time is not recorded; the newest sample's mapped
         * time stands in for it */
        chain_block(&d->chain, device_us(a->t_dev), &block, s->stamps[a->first + a->count - 1],
                    &sink);
        break;
    }
    case ACT_MARK:
        memset(&f, 0, sizeof f);
        f.type = FRAME_BUTTON;
        f.t_us = device_us(a->t_dev);
        f.u.button = 1;
        chain_frame(&d->chain, &f, a->t_host, &sink);
        break;
    case ACT_LOSS:
        chain_disconnected(&d->chain, a->t_host, &sink);
        break;
    default:
        break;
    }
}

static void usage(FILE *f)
{
    fprintf(
        f, "Usage: massaged-replay FILE... [--realtime] [--speed X] [--config FILE]\n"
           "                       [--endpoint EP] [--wait-subscribers N] [--print]\n"
           "\n"
           "Runs recorded XDF files of one session (in order) through the daemon's chain\n"
           "and detectors and publishes raw.<device> and event.<device>.<type> as live.\n"
           "  --realtime            pace the messages as recorded (default: as fast as possible)\n"
           "  --speed X             with --realtime, X times faster\n"
           "  --config FILE         take [publish] endpoint, hwm and [session] idle_s from a\n"
           "                        daemon configuration\n"
           "  --endpoint EP         publish here (default tcp://127.0.0.1:5556)\n"
           "  --wait-subscribers N  wait up to 10 s for N subscriptions before starting\n"
           "  --no-publish          do not open a publisher\n"
           "  --print               print each event as {\"topic\":..,\"payload\":..} on stdout\n");
}

typedef struct {
    bool realtime; /* pace the actions as recorded */
    bool publish;  /* open a publisher */
    double speed;  /* with realtime, this many times faster */
    int wait_subs; /* subscriptions to wait for before starting */
    int hwm;       /* the publisher's send high-water mark, messages */
    double idle_s; /* [session] idle_s: treatment sessions end after this long idle */
    char endpoint[256];
} options_t;

/* Returns -1 to go on, or the status to exit with. */
static int parse_options(int argc, char **argv, options_t *o)
{
    static const struct option options[] = {
        {"realtime", no_argument, NULL, 'r'},
        {"speed", required_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'},
        {"endpoint", required_argument, NULL, 'e'},
        {"wait-subscribers", required_argument, NULL, 'w'},
        {"no-publish", no_argument, NULL, 'n'},
        {"print", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (options_t){
        .publish = true, .speed = 1.0, .hwm = 100000, .idle_s = treatment_default.idle_s};
    snprintf(o->endpoint, sizeof o->endpoint, "%s", "tcp://127.0.0.1:5556");
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'r':
            o->realtime = true;
            break;
        case 's':
            o->speed = atof(optarg);
            break;
        case 'e':
            snprintf(o->endpoint, sizeof o->endpoint, "%s", optarg);
            break;
        case 'w':
            o->wait_subs = atoi(optarg);
            break;
        case 'n':
            o->publish = false;
            break;
        case 'p':
            out.print = true;
            break;
        case 'c': {
            config_t *cfg = malloc(sizeof *cfg);
            if (!cfg || config_load(optarg, cfg, NULL, NULL) != 0) {
                fprintf(stderr, "massaged-replay: %s: not a valid configuration\n", optarg);
                return 2;
            }
            snprintf(o->endpoint, sizeof o->endpoint, "%s", cfg->publish.endpoint);
            o->hwm = cfg->publish.hwm;
            o->idle_s = cfg->session.idle_s;
            free(cfg);
            break;
        }
        default: /* --help, or a usage error */
            return cli_usage_status(opt, usage);
        }
    }
    if (optind >= argc || o->speed <= 0)
        return cli_usage_error(usage);
    return -1;
}

/* One device_t per device name of the recording (a device whose HELLO
 * changed has several streams), its actions built; NULL when out of memory. */
static device_t *build_devices(const recording_t *rec, double idle_s, int *n_dev)
{
    *n_dev = 0;
    device_t *devs = calloc((size_t)rec->n_streams + 1, sizeof *devs);
    if (!devs)
        return NULL;
    for (int k = 0; k < rec->n_streams; k++) {
        bool seen = false;
        for (int i = 0; i < *n_dev; i++)
            seen |= strcmp(devs[i].name, rec->streams[k].name) == 0;
        if (seen)
            continue;
        device_t *d = &devs[(*n_dev)++];
        snprintf(d->name, sizeof d->name, "%s", rec->streams[k].name);
        d->kind = rec->streams[k].kind;
        chain_init(&d->chain, d->name, d->kind);
        treatment_set_idle(&d->chain.treatment, idle_s);
        if (build_device(d, rec) != 0)
            return NULL;
    }
    return devs;
}

/* Opens the publisher and waits (up to 10 s) for the subscriptions asked for. */
static int open_publisher(const options_t *o)
{
    int err = 0;
    out.pub = publisher_open(o->endpoint, o->hwm, &err);
    if (!out.pub)
        return err;
    double until = now_mono() + 10.0;
    while (publisher_stats(out.pub).subscribers < o->wait_subs && now_mono() < until) {
        publisher_service(out.pub);
        usleep(10000);
    }
    return 0;
}

/* Runs every device's actions in the order of their host times, as the
 * live chains saw them, paced as recorded when asked. */
static void run_actions(device_t *devs, int n_dev, const recording_t *rec, const options_t *o)
{
    unsigned actions = 0;
    double t0_host = INFINITY, t0_wall = now_mono();
    for (int i = 0; i < n_dev; i++)
        if (devs[i].n && devs[i].acts[0].t_host < t0_host)
            t0_host = devs[i].acts[0].t_host;
    for (;;) {
        device_t *next = NULL;
        for (int i = 0; i < n_dev; i++)
            if (devs[i].next < devs[i].n &&
                (!next || devs[i].acts[devs[i].next].t_host < next->acts[next->next].t_host))
                next = &devs[i];
        if (!next)
            break;
        const action_t *a = &next->acts[next->next++];
        if (o->realtime) {
            double wait = t0_wall + (a->t_host - t0_host) / o->speed - now_mono();
            if (wait > 0)
                usleep((useconds_t)(wait * 1e6));
        }
        /* Subscriptions only feed a counter here; reading them costs
         * libzmq's command processing (a poll), so not at every frame. */
        if (out.pub && (++actions & 255) == 0)
            publisher_service(out.pub);
        run_action(next, rec, a);
    }
}

/* A recording cut off while streaming ends like a live stop. */
static void finish_devices(device_t *devs, int n_dev)
{
    for (int i = 0; i < n_dev; i++) {
        chain_sink_t sink = {on_block, on_event, NULL};
        out.device = devs[i].name;
        out.kind = devs[i].kind;
        chain_disconnected(&devs[i].chain, chain_to_host(&devs[i].chain, devs[i].chain.last_t_dev),
                           &sink);
        chain_end_session(&devs[i].chain, TREATMENT_END_STOPPED, &sink);
        chain_destroy(&devs[i].chain);
        free(devs[i].acts);
    }
}

int main(int argc, char **argv)
{
    options_t o;
    int status = parse_options(argc, argv, &o);
    if (status >= 0)
        return status;
    log_setup(true, false);
    recording_t rec;
    double cpu_start = now_thread_cpu();
    if (recording_load(&rec, argv + optind, argc - optind) != 0)
        return 1;
    int n_dev = 0;
    device_t *devs = build_devices(&rec, o.idle_s, &n_dev);
    if (!devs) {
        fprintf(stderr, "massaged-replay: out of memory\n");
        return 1;
    }
    if (o.publish && open_publisher(&o) != 0)
        return 1;
    double cpu_loaded = now_thread_cpu();
    run_actions(devs, n_dev, &rec, &o);
    finish_devices(devs, n_dev);
    double cpu_run = now_thread_cpu() - cpu_loaded;
    fflush(stdout);
    if (out.pub) {
        usleep(200000); /* let ZeroMQ hand the last messages over */
        publisher_close(&out.pub);
    }
    fprintf(stderr,
            "massaged-replay: %d device%s, %llu samples, %llu blocks, %llu events; CPU: "
            "loading %.3f s, running %.3f s (%.2f M samples/s)\n",
            n_dev, n_dev == 1 ? "" : "s", (unsigned long long)out.samples,
            (unsigned long long)out.blocks, (unsigned long long)out.events,
            cpu_loaded - cpu_start, cpu_run, cpu_run > 0 ? (double)out.samples / cpu_run / 1e6 : 0.0);
    free(devs);
    recording_free(&rec);
    return 0;
}
