/* Tests of the recorder (daemon/recorder) through real files: blocks of every
 * size a frame may have (1 to FRAME_MAX_SAMPLES samples; the ring carries
 * them in pieces of ten) and events of every length around the ring's piece
 * size go through the recorder thread into an XDF file, which is read back
 * with tools/recording.c. Every sample must come back once, in order, with
 * its values, index, device time, frame mark and host stamp; every event
 * byte for byte. A study's starts and stops cut the data exactly where they
 * were handed over, whatever the recorder thread was doing meanwhile. */
#include "check.h"
#include "recorder.h"
#include "recording.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOCKS 1500
#define BURSTS 30
/* Items a burst: more than a quarter of the ring, so each wakes the recorder. */
#define BURST (RECORDER_RING_ITEMS / 4 + RECORDER_RING_ITEMS / 16)
/* A burst may start when the samples handed over and not yet written are at
 * most this many: then at most half the ring holds burst items. */
#define BURST_ROOM_SAMPLES (RECORDER_RING_ITEMS / 2 * RECORDER_ITEM_SAMPLES)
#define ROOM_WAIT_S 60.0 /* far longer than a loaded machine needs */
#define T_HOST0 1.8e9

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until fewer than BURST_ROOM_SAMPLES of the `handed` samples are still
 * unwritten; false after ROOM_WAIT_S. */
static bool wait_for_room(recorder_t *rec, uint64_t handed)
{
    for (double waited = 0; waited < ROOM_WAIT_S; waited += 0.001) {
        recorder_status_t st;
        recorder_status(rec, &st);
        if (handed - st.samples <= BURST_ROOM_SAMPLES)
            return true;
        pause_ms(1);
    }
    return false;
}

/* Sample number k of the session: every field different and exact in float. */
static sample_t sample_at(uint64_t k)
{
    sample_t s;
    s.t_dev = 100.0 + (double)k / 1000.0;
    s.p = (float)(90000 + k % 50000);
    for (int a = 0; a < 3; a++) {
        s.acc[a] = (float)((int)(k % 4096) - 2048 + a) / 2048.0f;
        s.gyr[a] = (float)((int)(k % 1000) - 500 - a) * 0.5f;
    }
    return s;
}

static size_t event_text(char *buf, size_t cap, int i)
{
    /* lengths around the ring's piece size and well beyond it, and empty */
    static const size_t lengths[] = {0, 1, 60, 423, 424, 425, 847, 848, 849, 1000, 5000};
    size_t len = lengths[i % (sizeof lengths / sizeof lengths[0])];
    if (len >= cap)
        len = cap - 1;
    for (size_t k = 0; k < len; k++)
        buf[k] = (char)('a' + (k * 7 + (size_t)i) % 26);
    if (len >= 2) {
        buf[0] = '{';
        buf[len - 1] = '}';
    }
    buf[len] = '\0';
    return len;
}

static char *only_file(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *path = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        n++;
        free(path);
        path = malloc(strlen(dir) + strlen(e->d_name) + 2);
        sprintf(path, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    CHECK_EQ_INT(n, 1);
    return path;
}

/* Ten-sample blocks [first, last) of the session, handed over at once. */
static void blocks_of(recorder_t *rec, uint64_t first, uint64_t last)
{
    for (uint64_t k = first; k < last; k += 10) {
        message_block_t blk;
        blk.n = 10;
        blk.i0 = k;
        for (unsigned i = 0; i < blk.n; i++)
            blk.s[i] = sample_at(k + i);
        blk.t_dev = blk.s[0].t_dev;
        blk.t_host = T_HOST0 + blk.t_dev;
        recorder_block(rec, 0, &blk);
    }
}

static void command(recorder_t *rec, int op, const char *path, const char *participant)
{
    recorder_command_t cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.op = op;
    snprintf(cmd.path, sizeof cmd.path, "%s", path);
    snprintf(cmd.labels.participant, sizeof cmd.labels.participant, "%s", participant);
    snprintf(cmd.labels.task, sizeof cmd.labels.task, "calf");
    snprintf(cmd.labels.run, sizeof cmd.labels.run, "001");
    CHECK(recorder_command(rec, &cmd));
}

/* The samples of a file are exactly [first, last), with the participant. */
static void check_study_file(const char *path, uint64_t first, uint64_t last,
                             const char *participant)
{
    recording_t r;
    char *paths[] = {(char *)path};
    CHECK(recording_load(&r, paths, 1) == 0);
    CHECK_EQ_INT(r.n_streams, 1);
    CHECK(r.has_labels);
    CHECK_STR(r.labels.participant, participant);
    CHECK_STR(r.labels.task, "calf");
    if (r.n_streams == 1) {
        const recording_stream_t *s = &r.streams[0];
        CHECK_EQ_INT(s->n, last - first);
        int bad = 0;
        for (size_t row = 0; row < s->n; row++)
            bad += s->values[row * XDF_CHANNELS + XDF_CH_SAMPLE_INDEX] != (double)(first + row);
        CHECK_EQ_INT(bad, 0);
    }
    recording_free(&r);
}

/* Study-driven: idle until a start; each start and stop takes effect exactly
 * between the blocks handed over before and after it, although all of them
 * reach the recorder thread in one burst. */
static void test_study_commands(void)
{
    char dir[] = "/tmp/massaged-test-study.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        CHECK(false);
        return;
    }
    int err = 0;
    recorder_t *rec = recorder_start("", 256, 60, &err);
    CHECK(rec != NULL);
    if (!rec)
        return;
    frame_hello_t hello = {.kind = 1, .fw_major = 1, .fw_minor = 2, .serial = "REC0002",
                           .rate_hz = 1000, .p_scale = 1.0f, .acc_scale = 1.0f / 2048.0f,
                           .gyr_scale = 0.5f};
    char first[4200], second[4200], aside[4200];
    snprintf(first, sizeof first, "%s/sub-01/ses-1/motion/a.xdf", dir);
    snprintf(second, sizeof second, "%s/sub-02/b.xdf", dir);
    snprintf(aside, sizeof aside, "%s/sub-02/b_old1.xdf", dir);
    char sub02[4200];
    snprintf(sub02, sizeof sub02, "%s/sub-02", dir);
    mkdir(sub02, 0755);
    FILE *f = fopen(second, "w"); /* a file already there is moved aside */
    CHECK(f != NULL);
    if (f) {
        fputs("earlier", f);
        fclose(f);
    }
    recorder_stream(rec, 0, "ball", DEVICE_KIND_BALL, &hello);
    blocks_of(rec, 0, 1000);
    command(rec, RECORDER_START, first, "01");
    blocks_of(rec, 1000, 3000);
    command(rec, RECORDER_STOP, "", "");
    blocks_of(rec, 3000, 4000);
    command(rec, RECORDER_START, second, "02");
    blocks_of(rec, 4000, 4500);
    recorder_status_t st;
    recorder_status(rec, &st);
    CHECK_EQ_INT(st.dropped, 0);
    recorder_stop(&rec); /* as SIGTERM: the second recording is closed whole */
    check_study_file(first, 1000, 3000, "01");
    check_study_file(second, 4000, 4500, "02");
    f = fopen(aside, "r");
    char text[16] = "";
    CHECK(f && fgets(text, sizeof text, f));
    CHECK_STR(text, "earlier");
    if (f)
        fclose(f);
    unlink(first);
    unlink(second);
    unlink(aside);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/sub-01/ses-1/motion", dir);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/sub-01/ses-1", dir);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/sub-01", dir);
    rmdir(sub);
    rmdir(sub02);
    rmdir(dir);
}

int main(void)
{
    test_study_commands();

    char dir[] = "/tmp/massaged-test-recorder.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int err = 0;
    recorder_t *rec = recorder_start(dir, 256, 60, &err);
    CHECK(rec != NULL);
    if (!rec)
        return CHECK_DONE();
    frame_hello_t hello = {.kind = 1, .fw_major = 1, .fw_minor = 2, .serial = "REC0001",
                           .rate_hz = 1000, .p_scale = 1.0f, .acc_scale = 1.0f / 2048.0f,
                           .gyr_scale = 0.5f};
    recorder_stream(rec, 0, "ball", DEVICE_KIND_BALL, &hello);

    /* Block sizes 1..30 in turn; the host time of a block is its device time
     * moved by a constant and a per-block jitter, as the clock mapping
     * gives. */
    static message_block_t blocks[BLOCKS];
    uint64_t k = 0;
    char text[6000];
    int events = 0;
    for (int b = 0; b < BLOCKS; b++) {
        message_block_t *blk = &blocks[b];
        blk->n = 1 + (unsigned)b % FRAME_MAX_SAMPLES;
        blk->i0 = k;
        for (unsigned i = 0; i < blk->n; i++)
            blk->s[i] = sample_at(k++);
        blk->t_dev = blk->s[0].t_dev;
        blk->t_host = T_HOST0 + blk->t_dev + 1e-4 * (b % 7);
        recorder_block(rec, 0, blk);
        if (b % 50 == 0) {
            size_t len = event_text(text, sizeof text, events++);
            recorder_event(rec, blk->t_host, text, len);
        }
        if (b % 100 == 99)
            pause_ms(30); /* real-time-like pacing: the ring never fills */
    }
    /* Then much faster than real time (as a fast simulated session): bursts
     * of BURST one-item blocks, each burst as fast as the producer goes. This
     * test is built with the recorder's periods lengthened to an hour
     * (tests/CMakeLists.txt), so only the early wake at a quarter-full ring
     * lets the recorder take them. Each burst waits for room for itself, as
     * the written samples show (the ring holds burst items of
     * RECORDER_ITEM_SAMPLES samples each, the earlier blocks' items when none
     * of the bursts' is taken yet): that paces the bursts on the ring, not on
     * how fast a loaded machine runs the recorder, so nothing may drop; and
     * without the early wake the second burst waits in vain. */
    uint64_t burst_start = k;
    for (int r = 0; r < BURSTS; r++) {
        if (!wait_for_room(rec, k)) {
            fprintf(stderr, "burst %d: the recorder did not make room (not woken early?)\n", r);
            CHECK(false);
            break;
        }
        for (int b = 0; b < BURST; b++) {
            message_block_t blk;
            blk.n = RECORDER_ITEM_SAMPLES;
            blk.i0 = k;
            for (unsigned i = 0; i < blk.n; i++)
                blk.s[i] = sample_at(k++);
            blk.t_dev = blk.s[0].t_dev;
            blk.t_host = T_HOST0 + blk.t_dev;
            recorder_block(rec, 0, &blk);
        }
    }
    recorder_status_t st;
    recorder_status(rec, &st);
    CHECK_EQ_INT(st.dropped, 0);
    recorder_stop(&rec);

    char *path = only_file(dir);
    recording_t r;
    memset(&r, 0, sizeof r);
    CHECK(path && recording_load(&r, &path, 1) == 0);
    CHECK_EQ_INT(r.n_streams, 1);
    CHECK_EQ_INT(r.damages, 0);
    CHECK(!r.truncated);
    if (r.n_streams == 1) {
        const recording_stream_t *s = &r.streams[0];
        CHECK_STR(s->name, "ball");
        CHECK_EQ_INT(s->n, k);
        int bad = 0;
        size_t row = 0;
        for (int b = 0; b < BLOCKS && row < s->n; b++) {
            const message_block_t *blk = &blocks[b];
            for (unsigned i = 0; i < blk->n && row < s->n; i++, row++) {
                const double *v = s->values + row * XDF_CHANNELS;
                const sample_t *x = &blk->s[i];
                bool ok = v[XDF_CH_P] == x->p && v[XDF_CH_SAMPLE_INDEX] == (double)(blk->i0 + i) &&
                          v[XDF_CH_T_DEV] == x->t_dev &&
                          v[XDF_CH_FRAME_SAMPLES] == (i == 0 ? (double)blk->n : 0.0) &&
                          s->stamps[row] == blk->t_host + (x->t_dev - blk->t_dev);
                for (int a = 0; a < 3; a++)
                    ok = ok && v[XDF_CH_ACC_X + a] == x->acc[a] && v[XDF_CH_GYR_X + a] == x->gyr[a];
                if (!ok && bad++ < 5)
                    fprintf(stderr, "block %d (of %u) sample %u differs\n", b, blk->n, i);
            }
        }
        for (; row < s->n; row++) {
            const double *v = s->values + row * XDF_CHANNELS;
            sample_t x = sample_at(row);
            uint64_t in_block = (row - burst_start) % RECORDER_ITEM_SAMPLES;
            double block_t_dev = sample_at(row - in_block).t_dev;
            bool ok = v[XDF_CH_P] == x.p && v[XDF_CH_SAMPLE_INDEX] == (double)row &&
                      v[XDF_CH_T_DEV] == x.t_dev &&
                      v[XDF_CH_FRAME_SAMPLES] == (in_block == 0 ? RECORDER_ITEM_SAMPLES : 0.0) &&
                      s->stamps[row] == (T_HOST0 + block_t_dev) + (x.t_dev - block_t_dev);
            if (!ok && bad++ < 5)
                fprintf(stderr, "burst sample %llu differs\n", (unsigned long long)row);
        }
        CHECK_EQ_INT(bad, 0);
        CHECK_EQ_INT(row, k);
    }
    CHECK_EQ_INT(r.n_events, events);
    for (int e = 0; e < events && (size_t)e < r.n_events; e++) {
        size_t len = event_text(text, sizeof text, e);
        CHECK_EQ_INT(r.events[e].len, len);
        CHECK(r.events[e].len == len && memcmp(r.events[e].json, text, len) == 0);
    }
    recording_free(&r);
    if (path)
        unlink(path);
    free(path);
    rmdir(dir);
    return CHECK_DONE();
}
