/* massaged-sub: prints what the daemon publishes (events.md), for people at a
 * terminal and for scripts.
 *
 *   massaged-sub [--endpoint tcp://127.0.0.1:5556] [--json] [--brief] [--topic PREFIX]...
 *                [--count N] [--timeout S]
 *
 * Readable form (default), one line per message, local time of receipt first:
 *   12:00:01.234 event.ball.flex start id=7 t_dev=12.345 pressure_rise_pa=812 ...
 *   12:00:01.240 raw.ball n=10 i0=1234 t_dev=1.234 p=[101325.0 ..]
 *   12:00:01.300 status.ball connected=true frames=1234 ...
 * With --json: {"topic":"...","payload":{...}} per line; the payload is
 * spliced in as received (it is already one JSON object), never re-encoded.
 *
 * Exit status: 0 after --count messages, on SIGINT/SIGTERM, or when --timeout
 * expires after at least one message; 1 when --timeout expires with no
 * message at all; 2 for a usage or ZeroMQ set-up error.
 */
#include "cli.h"
#include "json.h"
#include "json_read.h"
#include "now.h"
#include "stop_signal.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <zmq.h>

#define SUB_MAX_TOPICS 32
#define SUB_MAX_MESSAGE (1 << 20)

static volatile sig_atomic_t stop_requested;

static void usage(FILE *out)
{
    fputs("usage: massaged-sub [--endpoint ENDPOINT] [--json] [--topic PREFIX]...\n"
          "                    [--count N] [--timeout S]\n"
          "  --endpoint E   ZeroMQ endpoint to connect to (default tcp://127.0.0.1:5556)\n"
          "  --json         one {\"topic\":..,\"payload\":..} JSON line per message\n"
          "  --brief        status messages show only connection, battery and losses\n"
          "  --topic P      subscribe to topics starting with P (repeatable; default all)\n"
          "  --count N      exit after N messages\n"
          "  --timeout S    exit after S seconds without a message\n",
          out);
}

/* Writes s as a JSON string, escaped as the daemon escapes (daemon/json).
 * Topics are ASCII by contract, but a stray byte must not make the output
 * invalid JSON. */
static void put_json_string(const char *s, FILE *out)
{
    static char buf[6 * SUB_MAX_MESSAGE + 3]; /* every byte escaped, and quotes */
    json_t j;
    json_init(&j, buf, sizeof buf);
    json_string(&j, s);
    fputs(buf, out);
}

static bool key_is(const char *key, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(key, name, len) == 0;
}

/* Prints a value without the quotes of a string. */
static void put_bare(const char *value, size_t len, FILE *out)
{
    if (len >= 2 && value[0] == '"')
        fwrite(value + 1, 1, len - 2, out);
    else
        fwrite(value, 1, len, out);
}

/* Prints the first element of a JSON array and ".." if there are more:
 * raw batches carry hundreds of numbers, a glance needs one. */
static void put_array_head(const char *value, size_t len, FILE *out)
{
    const char *end = value + len;
    const char *p = json_read_skip_space(value + 1, end);
    if (len < 2 || value[0] != '[' || p >= end || *p == ']') {
        fwrite(value, 1, len, out);
        return;
    }
    const char *first_end = json_read_skip_value(p, end);
    fputc('[', out);
    fwrite(p, 1, (size_t)(first_end - p), out);
    const char *rest = json_read_skip_space(first_end, end);
    fputs(rest < end && *rest == ',' ? " ..]" : "]", out);
}

static void put_timestamp(FILE *out)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    fprintf(out, "%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec,
            (long)(tv.tv_usec / 1000));
}

static bool starts_with(const char *s, size_t n, const char *prefix)
{
    size_t len = strlen(prefix);
    return n >= len && memcmp(s, prefix, len) == 0;
}

/* Prints " key=value" for each of the keys the payload has. */
static void put_fields(const char *payload, size_t payload_len, const char *const *keys, size_t n,
                       FILE *out)
{
    const char *value;
    size_t value_len;
    for (size_t i = 0; i < n; i++)
        if (json_read_get(payload, payload_len, keys[i], &value, &value_len)) {
            fprintf(out, " %s=", keys[i]);
            put_bare(value, value_len, out);
        }
}

/* Prints " key=value" for every member the walk has left but the skipped ones. */
static void put_rest(json_read_t *js, const char *const *skip, size_t n_skip, FILE *out)
{
    const char *key, *value;
    size_t key_len, value_len;
    while (json_read_next(js, &key, &key_len, &value, &value_len)) {
        bool skipped = false;
        for (size_t i = 0; i < n_skip && !skipped; i++)
            skipped = key_is(key, key_len, skip[i]);
        if (skipped)
            continue;
        fputc(' ', out);
        fwrite(key, 1, key_len, out);
        fputc('=', out);
        put_bare(value, value_len, out);
    }
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void print_readable(const char *topic, size_t topic_len, const char *payload,
                           size_t payload_len, bool brief, FILE *out)
{
    const char *value;
    size_t value_len;
    json_read_t js;

    put_timestamp(out);
    fwrite(topic, 1, topic_len, out);
    if (!json_read_begin(&js, payload, payload_len)) {
        /* Not a JSON object: show it as it came, it is someone's bug to see. */
        fputc(' ', out);
        fwrite(payload, 1, payload_len, out);
        fputc('\n', out);
        return;
    }

    if (starts_with(topic, topic_len, "event.")) {
        /* The fixed fields first, in the order a reader scans for them. */
        if (json_read_get(payload, payload_len, "phase", &value, &value_len)) {
            fputc(' ', out);
            put_bare(value, value_len, out);
        }
        static const char *const lead[] = {"id", "t_dev"};
        static const char *const shown[] = {"v", "device", "kind", "type", "phase", "id", "t_dev"};
        put_fields(payload, payload_len, lead, COUNT(lead), out);
        put_rest(&js, shown, COUNT(shown), out);
    } else if (starts_with(topic, topic_len, "raw.")) {
        static const char *const lead[] = {"n", "i0", "t_dev"};
        put_fields(payload, payload_len, lead, COUNT(lead), out);
        static const char *const arrays[] = {"p", "acc", "gyr"};
        for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
            if (json_read_get(payload, payload_len, arrays[i], &value, &value_len)) {
                fprintf(out, " %s=", arrays[i]);
                put_array_head(value, value_len, out);
            }
    } else if (brief && starts_with(topic, topic_len, "status.")) {
        /* A glance at health: the fields a person watching a session needs. */
        static const char *const keys[] = {"connected",       "battery_mv",  "samples",
                                           "samples_lost",    "frames_lost", "crc_errors",
                                           "malformed",       "uptime_s",    "subscriptions",
                                           "publish_dropped", "recording"};
        put_fields(payload, payload_len, keys, COUNT(keys), out);
    } else {
        /* status.* and anything newer: every field but the schema's
         * bookkeeping, nested values as they are. */
        static const char *const bookkeeping[] = {"v"};
        put_rest(&js, bookkeeping, COUNT(bookkeeping), out);
    }
    fputc('\n', out);
}

static void print_json(const char *topic, size_t topic_len, const char *payload, size_t payload_len,
                       FILE *out)
{
    fputs("{\"topic\":", out);
    put_json_string(topic, out);
    fputs(",\"payload\":", out);
    /* A payload that is not JSON would make the line invalid; quote it then. */
    const char *p = json_read_skip_space(payload, payload + payload_len);
    if (p < payload + payload_len && *p == '{') {
        fwrite(payload, 1, payload_len, out);
    } else {
        put_json_string(payload, out);
    }
    fputs("}\n", out);
}

/* Receives one part into buf (NUL-terminated, truncated at cap - 1); returns
 * its length, or -1 with errno set. *more tells whether parts follow. */
static int recv_part(void *sock, char *buf, size_t cap, bool *more)
{
    int n = zmq_recv(sock, buf, cap - 1, 0);
    if (n < 0)
        return -1;
    if ((size_t)n > cap - 1)
        n = (int)(cap - 1);
    buf[n] = '\0';
    int rcvmore = 0;
    size_t optlen = sizeof rcvmore;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &rcvmore, &optlen);
    *more = rcvmore != 0;
    return n;
}

typedef struct {
    const char *endpoint;
    const char *topics[SUB_MAX_TOPICS];
    int n_topics;
    bool json, brief;
    long count;       /* stop after this many messages; -1: never */
    double timeout_s; /* stop after this long without a message; -1: never */
} options_t;

/* Returns -1 to go on, or the status to exit with. */
static int parse_options(int argc, char **argv, options_t *o)
{
    static const struct option options[] = {
        {"endpoint", required_argument, NULL, 'e'}, {"json", no_argument, NULL, 'j'},
        {"brief", no_argument, NULL, 'b'},          {"topic", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},    {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    *o = (options_t){.endpoint = "tcp://127.0.0.1:5556", .count = -1, .timeout_s = -1.0};
    int opt;
    while ((opt = getopt_long(argc, argv, "e:jbt:n:T:h", options, NULL)) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'e':
            o->endpoint = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'b':
            o->brief = true;
            break;
        case 't':
            if (o->n_topics == SUB_MAX_TOPICS) {
                fprintf(stderr, "massaged-sub: at most %d --topic options\n", SUB_MAX_TOPICS);
                return 2;
            }
            o->topics[o->n_topics++] = optarg;
            break;
        case 'n':
            o->count = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o->count < 1) {
                fprintf(stderr, "massaged-sub: --count wants a positive integer, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'T':
            o->timeout_s = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(o->timeout_s > 0.0)) {
                fprintf(stderr, "massaged-sub: --timeout wants a positive number, not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        default: /* --help, or a usage error */
            return cli_usage_status(opt, usage);
        }
    }
    if (optind != argc)
        return cli_usage_error(usage);
    return -1;
}

/* A SUB socket connected to the endpoint with the topics asked for, or NULL. */
static void *open_subscriber(void *ctx, const options_t *o)
{
    void *sock = zmq_socket(ctx, ZMQ_SUB);
    if (!sock) {
        fprintf(stderr, "massaged-sub: zmq: %s\n", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (o->n_topics == 0)
        zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0);
    for (int i = 0; i < o->n_topics; i++)
        zmq_setsockopt(sock, ZMQ_SUBSCRIBE, o->topics[i], strlen(o->topics[i]));
    if (zmq_connect(sock, o->endpoint) != 0) {
        fprintf(stderr, "massaged-sub: cannot connect to %s: %s\n", o->endpoint,
                zmq_strerror(zmq_errno()));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

/* Receives one message into topic (4096 bytes) and payload (SUB_MAX_MESSAGE
 * bytes), both NUL-terminated; returns false when nothing could be read. */
static bool receive(void *sock, char *topic, int *topic_len, char *payload, int *payload_len)
{
    bool more = false;
    *topic_len = recv_part(sock, topic, 4096, &more);
    if (*topic_len < 0)
        return false;
    *payload_len = 0;
    payload[0] = '\0';
    if (more) {
        *payload_len = recv_part(sock, payload, SUB_MAX_MESSAGE, &more);
        if (*payload_len < 0)
            *payload_len = 0;
        /* The contract is two parts; drain any extra rather than
         * misreading it as the next message's topic. */
        while (more) {
            char sink[256];
            if (recv_part(sock, sink, sizeof sink, &more) < 0)
                break;
        }
    }
    return true;
}

/* Prints messages until a signal, the count or the timeout; returns the
 * exit status (1: the timeout passed without any message). */
static int print_messages(void *sock, const options_t *o, char *topic, char *payload)
{
    long received = 0;
    long timeout_ms = o->timeout_s > 0.0 ? (long)(o->timeout_s * 1000.0 + 0.5) : -1;
    double last = now_mono();
    while (!stop_requested && (o->count < 0 || received < o->count)) {
        /* Short polls so that a signal or the timeout is noticed promptly
         * whatever the ZeroMQ version does with EINTR. */
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, 200);
        if (rc < 0) {
            if (zmq_errno() == EINTR)
                continue;
            fprintf(stderr, "massaged-sub: poll: %s\n", zmq_strerror(zmq_errno()));
            return 2;
        }
        if (rc == 0) {
            long idle_ms = (long)((now_mono() - last) * 1000.0);
            if (timeout_ms >= 0 && idle_ms >= timeout_ms)
                return received > 0 ? 0 : 1;
            continue;
        }
        int topic_len, payload_len;
        if (!receive(sock, topic, &topic_len, payload, &payload_len))
            continue;
        if (o->json)
            print_json(topic, (size_t)topic_len, payload, (size_t)payload_len, stdout);
        else
            print_readable(topic, (size_t)topic_len, payload, (size_t)payload_len, o->brief,
                           stdout);
        fflush(stdout);
        received++;
        last = now_mono();
    }
    return 0;
}

int main(int argc, char **argv)
{
    options_t o;
    int status = parse_options(argc, argv, &o);
    if (status >= 0)
        return status;
    stop_signal_catch(&stop_requested);

    status = 2;
    char *topic = malloc(4096);
    char *payload = malloc(SUB_MAX_MESSAGE);
    void *ctx = zmq_ctx_new();
    void *sock = open_subscriber(ctx, &o); /* a NULL ctx fails here, with a message */
    if (!topic || !payload)
        fprintf(stderr, "massaged-sub: out of memory\n");
    else if (sock)
        status = print_messages(sock, &o, topic, payload);
    free(topic);
    free(payload);
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx);
    return status;
}
