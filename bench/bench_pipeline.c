/* bench_pipeline: replay throughput of the whole pipeline on one core.
 *
 * A long massage-ball session (1 kHz, 10 samples a frame) and a long
 * scraping-tool session (500 Hz, 5 samples a frame) are simulated first and
 * kept in memory as the byte streams their firmware would send, so the
 * simulation costs nothing in the timings. Then the same bytes go, in
 * 4096-byte reads as the reader thread does them, through growing parts of
 * the daemon's processing:
 *
 *   memcpy    a copy of the bytes (the floor any processing of them pays)
 *   decode    the frame decoder (COBS, CRC, parsing), frames thrown away
 *   chain     decode + chain without detectors (scales, clocks, indices)
 *   detect    decode + chain + the kind's detectors
 *   full      decode + chain + detectors + the topics and JSON payloads of
 *             raw.* and event.* messages, exactly as the pipeline thread
 *             formats them (everything but the ZeroMQ send)
 *   publish   full + publisher_send to a subscriber over ipc (optional:
 *             --publish; the subscriber runs on the other core)
 *
 * Each stage runs `reps` times, alternating in order, and reports the
 * median samples per second (thread CPU time); the ratios are taken against
 * the decode stage and the memcpy of the same bytes in the same run.
 *
 * With --per-frame it measures instead what one frame costs at real time,
 * where each frame comes alone after the machine did other things: the two
 * streams' frames are fed one at a time, interleaved as they arrive, through
 * the stages decode to full, each frame timed alone (CLOCK_MONOTONIC), warm
 * (frame after frame) and cold (before each frame 32 MB are written, which
 * evicts the caches, and a system call is made, which on a kernel with page
 * table isolation and no PCID empties the TLB, as the wake-up's epoll_wait
 * and read do); the median and mean per frame of each, and cold less warm.
 *
 * With --footprint the same interleaved frames go once, warm, through the
 * full stage only, each between a store to `footprint_begin` and one to
 * `footprint_end`: bench/footprint.py runs this under valgrind's lackey and
 * counts, frame by frame, the instructions and the distinct cache lines of
 * code and data between the two.
 *
 * Usage: bench_pipeline [seconds_per_session] [reps] [--publish | --per-frame | --footprint]
 *        (defaults 300 s and 5)
 */
#include "chain.h"
#include "frame.h"
#include "message.h"
#include "publisher.h"
#include "session.h"
#include "now.h"

#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zmq.h>

#define READ_CHUNK 4096

typedef struct {
    const char *name;
    device_kind_t kind;
    uint8_t *bytes;
    size_t len, cap;
    uint64_t samples;
    uint16_t seq;
} stream_t;

static void put_frame(void *ctx, frame_t *f, double t_dev)
{
    (void)t_dev;
    stream_t *s = ctx;
    if (s->len + FRAME_MAX_ENCODED + 8 > s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1 << 20;
        s->bytes = realloc(s->bytes, s->cap);
        if (!s->bytes) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    if (f->type == FRAME_SAMPLES)
        s->samples += f->u.samples.count;
    f->seq = s->seq++;
    s->len += frame_encode(f, s->bytes + s->len, s->cap - s->len);
}

/* Simulates a session into s->bytes, as session_run does but keeping the bytes. */
static void generate(stream_t *s, device_kind_t kind, double seconds, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->name = kind == DEVICE_KIND_BALL ? "ball" : "scraper";
    session_settings_t set;
    session_settings_default(&set, kind, seed, seconds);
    set.samples_per_frame = kind == DEVICE_KIND_BALL ? 10 : 5;
    if (session_frames(&set, NULL, NULL, put_frame, s) != 0)
        exit(1);
}

enum { ST_MEMCPY, ST_DECODE, ST_CHAIN, ST_DETECT, ST_FULL, ST_PUBLISH, ST_COUNT };
static const char *stage_name[ST_COUNT] = {"memcpy", "decode", "chain",
                                           "detect", "full",   "publish"};

typedef struct {
    int stage;
    stream_t *stream;
    frame_decoder_t decoder;
    chain_t chain;
    publisher_t *pub;
    uint64_t samples, frames, messages, events, bytes_out;
    char topic[MESSAGE_TOPIC_MAX];
    char payload[MESSAGE_MAX];
    message_raw_head_t head; /* as the pipeline's slot keeps it */
} run_t;

__attribute__((hot)) static void on_block(void *ctx, const message_block_t *block)
{
    run_t *r = ctx;
    r->samples += block->n;
    if (r->stage < ST_FULL)
        return;
    message_topic(r->topic, "raw", r->chain.name, NULL);
    if (r->head.device != r->chain.name || r->head.kind != r->chain.kind ||
        r->head.rate_hz != r->chain.hello.rate_hz)
        message_raw_head(&r->head, r->chain.name, r->chain.kind, r->chain.hello.rate_hz);
    int len = message_raw_after(r->payload, sizeof r->payload, &r->head, block);
    r->messages++;
    if (len > 0) {
        r->bytes_out += (uint64_t)len;
        if (r->pub)
            publisher_send(r->pub, r->topic, r->payload, (size_t)len);
    }
}

static void on_event(void *ctx, const event_t *event, double t_host)
{
    run_t *r = ctx;
    r->events++;
    if (r->stage < ST_FULL)
        return;
    message_topic(r->topic, "event", r->chain.name, event->type);
    int len =
        message_event(r->payload, sizeof r->payload, r->chain.name, r->chain.kind, event, t_host);
    r->messages++;
    if (len > 0) {
        r->bytes_out += (uint64_t)len;
        if (r->pub)
            publisher_send(r->pub, r->topic, r->payload, (size_t)len);
    }
}

static void on_frame_count(const frame_t *frame, void *ctx)
{
    run_t *r = ctx;
    r->frames++;
    if (frame->type == FRAME_SAMPLES)
        r->samples += frame->u.samples.count;
}

__attribute__((hot)) static void on_frame_chain(const frame_t *frame, void *ctx)
{
    run_t *r = ctx;
    r->frames++;
    chain_sink_t sink = {on_block, on_event, r};
    /* Arrival 2 ms after the frame's device time, as the session runner does. */
    chain_frame(&r->chain, frame, (double)frame->t_us * 1e-6 + 0.002, &sink);
    if (r->stage == ST_CHAIN && r->chain.analysis)
        analysis_destroy(&r->chain.analysis); /* the chain alone, without detectors */
}

static uint8_t *copy_dst;

/* A run of one stage over one stream, from its start. */
static void start_run(run_t *r, int stage, stream_t *s)
{
    memset(r, 0, offsetof(run_t, topic));
    r->stage = stage;
    r->stream = s;
    frame_decoder_init(&r->decoder);
    chain_init(&r->chain, s->name, s->kind);
    chain_port_opened(&r->chain);
}

/* Runs one stage over one stream; returns thread CPU seconds. */
static double run_stage(run_t *r, int stage, stream_t *s, publisher_t *pub)
{
    start_run(r, stage, s);
    r->pub = stage == ST_PUBLISH ? pub : NULL;
    double t0 = now_thread_cpu();
    if (stage == ST_MEMCPY) {
        for (size_t off = 0; off < s->len; off += READ_CHUNK) {
            size_t n = s->len - off < READ_CHUNK ? s->len - off : READ_CHUNK;
            memcpy(copy_dst + off, s->bytes + off, n);
        }
        __asm__ volatile("" : : "r"(copy_dst) : "memory");
        r->samples = s->samples;
    } else {
        frame_handler_fn h = stage == ST_DECODE ? on_frame_count : on_frame_chain;
        for (size_t off = 0; off < s->len; off += READ_CHUNK) {
            size_t n = s->len - off < READ_CHUNK ? s->len - off : READ_CHUNK;
            frame_decoder_feed(&r->decoder, s->bytes + off, n, h, r);
        }
        if (stage != ST_DECODE) {
            chain_sink_t sink = {on_block, on_event, r};
            chain_disconnected(&r->chain, 0.0, &sink);
        }
    }
    double t = now_thread_cpu() - t0;
    chain_destroy(&r->chain);
    if (r->samples != s->samples) {
        fprintf(stderr, "%s/%s: %llu samples out of %llu\n", stage_name[stage], s->name,
                (unsigned long long)r->samples, (unsigned long long)s->samples);
        exit(1);
    }
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The subscriber of the publish stage: receives and counts until told to stop. */
static atomic_bool sub_stop;
static atomic_ullong sub_received;
static char sub_endpoint[256];

static void *subscriber(void *arg)
{
    void *ctx = arg;
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int hwm = 0; /* no limit: the bench must not drop */
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(sub, sub_endpoint);
    char buf[MESSAGE_MAX];
    while (!atomic_load(&sub_stop)) {
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 20) <= 0)
            continue;
        while (zmq_recv(sub, buf, sizeof buf, ZMQ_DONTWAIT) >= 0) {
            int more = 0;
            size_t ml = sizeof more;
            zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &ml);
            if (!more)
                atomic_fetch_add(&sub_received, 1);
        }
    }
    zmq_close(sub);
    return NULL;
}

/* The publish stage's publisher on a fresh ipc endpoint, its subscriber
 * thread started and subscribed; NULL when it cannot be opened. */
static publisher_t *start_publish(void **sub_ctx, pthread_t *sub_thread)
{
    char dir[] = "/tmp/massaged-benchpipe.XXXXXX";
    if (!mkdtemp(dir))
        return NULL;
    snprintf(sub_endpoint, sizeof sub_endpoint, "ipc://%s/pub.sock", dir);
    int err = 0;
    publisher_t *pub = publisher_open(sub_endpoint, 0, &err);
    if (!pub) {
        fprintf(stderr, "publisher_open: %d\n", err);
        return NULL;
    }
    *sub_ctx = zmq_ctx_new();
    pthread_create(sub_thread, NULL, subscriber, *sub_ctx);
    /* Wait until the subscription has reached the publisher. */
    for (int i = 0; i < 500 && publisher_stats(pub).subscribers == 0; i++) {
        publisher_service(pub);
        usleep(10000);
    }
    return pub;
}

/* What one kind's stream gave: the median samples per second of each stage,
 * and what the full stage formatted. */
typedef struct {
    double rate[ST_COUNT];
    uint64_t messages, events, bytes_out;
} kind_result_t;

/* Runs the stages `reps` times over one stream, alternating their order so
 * that drift in machine load hits all stages alike. */
static void measure(run_t *r, stream_t *s, int n_stages, int reps, publisher_t *pub,
                    kind_result_t *out)
{
    double t[ST_COUNT][64];
    int n = reps < 64 ? reps : 64;
    for (int rep = 0; rep < n; rep++) {
        for (int i = 0; i < n_stages; i++) {
            int st = rep % 2 ? n_stages - 1 - i : i;
            t[st][rep] = run_stage(r, st, s, pub);
            if (st == ST_FULL) {
                out->messages = r->messages;
                out->events = r->events;
                out->bytes_out = r->bytes_out;
            }
        }
    }
    for (int st = 0; st < n_stages; st++) {
        qsort(t[st], (size_t)n, sizeof(double), cmp_double);
        out->rate[st] = (double)s->samples / t[st][n / 2];
    }
}

static void report(const stream_t streams[2], const kind_result_t res[2], int n_stages)
{
    printf("%-8s %14s %14s %10s %10s   %s\n", "stage", "ball Msamp/s", "scraper Msamp/s",
           "x decode", "x memcpy",
           "(ratios: time of the stage / time of the reference, both kinds)");
    /* Both kinds together: total samples over total time. */
    double time_of[ST_COUNT];
    for (int st = 0; st < n_stages; st++)
        time_of[st] = streams[0].samples / res[0].rate[st] + streams[1].samples / res[1].rate[st];
    for (int st = 0; st < n_stages; st++)
        printf("%-8s %14.2f %14.2f %10.2f %10.1f\n", stage_name[st], res[0].rate[st] / 1e6,
               res[1].rate[st] / 1e6, time_of[st] / time_of[ST_DECODE],
               time_of[st] / time_of[ST_MEMCPY]);
    double total_samples = (double)(streams[0].samples + streams[1].samples);
    double full = total_samples / time_of[ST_FULL];
    printf("whole pipeline but the send (full), both kinds: %.2f M samples/s, %.0f ns/sample "
           "(target >= 5 M/s: %s)\n",
           full / 1e6, 1e9 / full, full >= 5e6 ? "met" : "NOT met");
    printf("messages formatted per run: ball %llu (%llu events, %.0f B avg), scraper %llu (%llu "
           "events, %.0f B avg)\n",
           (unsigned long long)res[0].messages, (unsigned long long)res[0].events,
           res[0].messages ? (double)res[0].bytes_out / (double)res[0].messages : 0.0,
           (unsigned long long)res[1].messages, (unsigned long long)res[1].events,
           res[1].messages ? (double)res[1].bytes_out / (double)res[1].messages : 0.0);
}

/* --per-frame: the streams' frames one at a time, interleaved, each timed
 * alone through each stage, warm and cold (see the top of this file). */
enum { SCRUB_BYTES = 32 << 20 };

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Stored to before and after each frame in --footprint (addresses printed). */
static volatile uint64_t footprint_begin, footprint_end;

/* --footprint: where each run's state lies, for footprint.py to name the
 * data lines a frame touches ("region NAME ADDRESS BYTES"). */
static void print_regions(const run_t runs[2], const stream_t streams[2])
{
    static const char *kind[2] = {"ball", "scraper"};
    for (int k = 0; k < 2; k++) {
        const run_t *r = &runs[k];
        const chain_t *c = &r->chain;
#define REGION(name, base, bytes)                                                                  \
    printf("region %s.%s %p %zu\n", kind[k], name, (const void *)(base), (size_t)(bytes))
        REGION("stream", streams[k].bytes, streams[k].len);
        REGION("decoder", &r->decoder, sizeof r->decoder);
        REGION("chain", c, offsetof(chain_t, map));
        REGION("chain.map", &c->map, sizeof c->map);
        REGION("chain.analysis_ptr", &c->analysis, sizeof c->analysis);
        REGION("chain.treatment", &c->treatment, sizeof c->treatment);
        REGION("run", r, offsetof(run_t, decoder));
        REGION("run.rest", &r->pub, offsetof(run_t, topic) - offsetof(run_t, pub));
        REGION("topic", r->topic, sizeof r->topic);
        REGION("payload", r->payload, sizeof r->payload);
        REGION("head", &r->head, sizeof r->head);
        if (c->analysis)
            REGION("detector", c->analysis, malloc_usable_size(c->analysis));
#undef REGION
    }
    fflush(stdout);
}

static void per_frame(stream_t streams[2], bool footprint)
{
    /* Each encoded frame ends with its 0 delimiter. */
    size_t *ends[2], n_frames[2];
    for (int k = 0; k < 2; k++) {
        ends[k] = malloc(sizeof(size_t) * streams[k].len);
        n_frames[k] = 0;
        for (size_t i = 0; i < streams[k].len; i++)
            if (streams[k].bytes[i] == 0)
                ends[k][n_frames[k]++] = i + 1;
    }
    /* The ball sends a frame every 10 ms and so does the scraper: pairs. */
    size_t pairs = n_frames[0] < n_frames[1] ? n_frames[0] : n_frames[1];
    double *t = malloc(sizeof(double) * 2 * pairs);
    volatile uint8_t *scrub = calloc(1, SCRUB_BYTES);
    run_t *runs = calloc(2, sizeof *runs);
    if (footprint)
        printf("footprint: %zu frames (ball and scraper interleaved), marks %p %p\n", 2 * pairs,
               (void *)&footprint_begin, (void *)&footprint_end);
    else
        printf("per frame at real time, %zu frames (ball and scraper interleaved), us: median / "
               "mean\n",
               2 * pairs);
    if (!footprint)
        printf("%-8s %18s %18s %18s\n", "stage", "warm", "cold", "cold - warm");
    fflush(stdout);
    for (int stage = footprint ? ST_FULL : ST_DECODE; stage <= ST_FULL; stage++) {
        double med[2], mean[2];
        for (int cold = 0; cold < (footprint ? 1 : 2); cold++) {
            size_t start[2] = {0, 0}, m = 0;
            for (int k = 0; k < 2; k++)
                start_run(&runs[k], stage, &streams[k]);
            frame_handler_fn h = stage == ST_DECODE ? on_frame_count : on_frame_chain;
            for (size_t f = 0; f < pairs; f++)
                for (int k = 0; k < 2; k++) {
                    if (cold) {
                        for (size_t i = 0; i < SCRUB_BYTES; i += 64)
                            scrub[i]++;
                        syscall(SYS_getppid);
                    }
                    double t0 = mono_s();
                    if (footprint)
                        footprint_begin = f;
                    frame_decoder_feed(&runs[k].decoder, streams[k].bytes + start[k],
                                       ends[k][f] - start[k], h, &runs[k]);
                    if (footprint)
                        footprint_end = f;
                    t[m++] = mono_s() - t0;
                    start[k] = ends[k][f];
                }
            if (footprint)
                print_regions(runs, streams);
            for (int k = 0; k < 2; k++)
                chain_destroy(&runs[k].chain);
            double sum = 0;
            for (size_t i = 0; i < m; i++)
                sum += t[i];
            qsort(t, m, sizeof(double), cmp_double);
            med[cold] = t[m / 2] * 1e6;
            mean[cold] = sum / (double)m * 1e6;
        }
        if (footprint)
            break;
        printf("%-8s %8.2f / %7.2f %8.2f / %7.2f %8.2f / %7.2f\n", stage_name[stage], med[0],
               mean[0], med[1], mean[1], med[1] - med[0], mean[1] - mean[0]);
    }
    free(runs);
    free((void *)scrub);
    free(t);
    free(ends[0]);
    free(ends[1]);
}

int main(int argc, char **argv)
{
    double seconds = 300.0;
    int reps = 5;
    bool publish = false, frames = false, footprint = false;
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--publish") == 0)
            publish = true;
        else if (strcmp(argv[i], "--per-frame") == 0)
            frames = true;
        else if (strcmp(argv[i], "--footprint") == 0)
            frames = footprint = true;
        else if (pos++ == 0)
            seconds = atof(argv[i]);
        else
            reps = atoi(argv[i]);
    }
    if (seconds <= 0 || reps < 1) {
        fprintf(stderr,
                "usage: %s [seconds_per_session] [reps] [--publish | --per-frame | --footprint]\n",
                argv[0]);
        return 2;
    }
    stream_t streams[2];
    generate(&streams[0], DEVICE_KIND_BALL, seconds, 11);
    generate(&streams[1], DEVICE_KIND_SCRAPER, seconds, 12);
    if (frames) {
        per_frame(streams, footprint);
        free(streams[0].bytes);
        free(streams[1].bytes);
        return 0;
    }
    size_t max_len = streams[0].len > streams[1].len ? streams[0].len : streams[1].len;
    copy_dst = malloc(max_len);
    run_t *r = calloc(1, sizeof *r);

    publisher_t *pub = NULL;
    void *sub_ctx = NULL;
    pthread_t sub_thread;
    int n_stages = publish ? ST_COUNT : ST_PUBLISH;
    if (publish && !(pub = start_publish(&sub_ctx, &sub_thread)))
        return 1;

    printf("pipeline replay on one core: %.0f s sessions, ball %llu samples (%zu bytes), "
           "scraper %llu samples (%zu bytes), %d repetitions, median\n",
           seconds, (unsigned long long)streams[0].samples, streams[0].len,
           (unsigned long long)streams[1].samples, streams[1].len, reps);
    kind_result_t res[2];
    memset(res, 0, sizeof res);
    for (int k = 0; k < 2; k++)
        measure(r, &streams[k], n_stages, reps, pub, &res[k]);
    report(streams, res, n_stages);
    if (publish) {
        usleep(300000);
        atomic_store(&sub_stop, true);
        pthread_join(sub_thread, NULL);
        publisher_stats_t ps = publisher_stats(pub);
        printf("publish stage: %llu messages sent, %llu dropped, %llu received\n",
               (unsigned long long)ps.sent, (unsigned long long)ps.dropped,
               (unsigned long long)atomic_load(&sub_received));
        publisher_close(&pub);
        zmq_ctx_term(sub_ctx);
    }
    free(r);
    free(copy_dst);
    free(streams[0].bytes);
    free(streams[1].bytes);
    return 0;
}
