#include "mqtt.h"

#include "log.h"
#include "message.h"
#include "now.h"
#include "outbox.h"
#include "device_kind.h"
#include "ring.h"
#include "worker.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MQTT_LOOP_MS 50         /* its sleep while messages come: how soon it sees them */
#define MQTT_IDLE_LOOP_MS 250   /* its sleep after a turn that found the ring empty */
#define MQTT_WAKE_ITEMS (MQTT_RING_CAPACITY / 4) /* a ring this full wakes the thread early */
#define MQTT_QOS0_PENDING 64    /* QoS 0 messages handed over and not yet written */
#define MQTT_STOP_DELIVER_S 2.0 /* how long mqtt_stop waits for the outbox to drain */
#define MQTT_OFFLINE "{\"v\":1,\"online\":false}"

/* libmosquitto, loaded by its soname (MQTT_LIBMOSQUITTO, from the build) the
 * first time a client starts: a daemon without [mqtt] broker never maps it
 * nor the libssl and libcrypto it needs (docs/ARCHITECTURE.md). Each
 * function's type is the header's. Written once under lib_once, read-only
 * after. */
#define LIB_FUNCTIONS(X)                                                                           \
    X(mosquitto_connack_string)                                                                    \
    X(mosquitto_connect_async)                                                                     \
    X(mosquitto_connect_v5_callback_set)                                                           \
    X(mosquitto_destroy)                                                                           \
    X(mosquitto_disconnect)                                                                        \
    X(mosquitto_disconnect_callback_set)                                                           \
    X(mosquitto_int_option)                                                                        \
    X(mosquitto_lib_init)                                                                          \
    X(mosquitto_log_callback_set)                                                                  \
    X(mosquitto_loop)                                                                              \
    X(mosquitto_max_inflight_messages_set)                                                         \
    X(mosquitto_new)                                                                               \
    X(mosquitto_publish)                                                                           \
    X(mosquitto_publish_v5_callback_set)                                                           \
    X(mosquitto_reason_string)                                                                     \
    X(mosquitto_reconnect_async)                                                                   \
    X(mosquitto_socket)                                                                            \
    X(mosquitto_strerror)                                                                          \
    X(mosquitto_tls_set)                                                                           \
    X(mosquitto_username_pw_set)                                                                   \
    X(mosquitto_want_write)                                                                        \
    X(mosquitto_will_set)

static struct {
#define X(name) __typeof__(name) *name;
    LIB_FUNCTIONS(X)
#undef X
} lib;
static char lib_load_error[256]; /* why the library could not be loaded, or "" */

/* What the pipeline hands over: a ZeroMQ topic and its payload. */
typedef struct {
    uint32_t len;
    char topic[MESSAGE_TOPIC_MAX];
    char payload[MESSAGE_MAX];
} mqtt_item_t;

typedef struct {
    bool connected;
    char error[512];
    uint64_t sent, queued, dropped, refused, connects;
} mqtt_numbers_t;

struct mqtt {
    /* Read-only after mqtt_start. */
    char host[256];
    int port;
    bool tls;
    int protocol; /* MQTT_PROTOCOL_V5 or MQTT_PROTOCOL_V311 */
    int keepalive_s;
    int reconnect_max_s;
    int raw_every;
    char prefix[sizeof "massaged//" + sizeof((config_t *)0)->mqtt.site]; /* "massaged/<site>/" */
    char daemon_topic[MESSAGE_TOPIC_MAX + 32];
    char site[sizeof((config_t *)0)->mqtt.site];
    bool ha_discovery;
    struct {
        char name[CONFIG_NAME_MAX];
        device_kind_t kind;
    } devices[CONFIG_MAX_DEVICES]; /* the enabled devices at start, for discovery */
    int n_devices;

    /* Between the threads. */
    ring_t *ring;
    worker_t worker; /* woken to stop, or by a ring filled past MQTT_WAKE_ITEMS */
    atomic_uint_fast64_t ring_dropped; /* written by the producer only */
    pthread_mutex_t lock; /* guards numbers */
    mqtt_numbers_t numbers;

    /* Producer only: raw blocks seen per device, for raw_every. */
    struct {
        char device[CONFIG_NAME_MAX];
        uint64_t blocks;
    } raw[CONFIG_MAX_DEVICES];

    /* The MQTT thread only. */
    struct mosquitto *mosq;
    outbox_t outbox;
    mqtt_item_t scratch;
    char topic[MESSAGE_TOPIC_MAX + 32];
    bool connected, connecting;
    bool announce;    /* connected since the discovery messages were last published */
    bool took;        /* the last take_ring found messages */
    int inflight;     /* QoS 1 handed over, not yet acknowledged */
    int qos0_pending; /* QoS 0 handed over, not yet written */
    uint8_t qos0_mid[65536 / 8];
    bool in_qos0_publish;    /* inside mosquitto_publish of a QoS 0 message */
    bool written_in_call;    /* ... which libmosquitto wrote before returning */
    double next_attempt;     /* monotonic seconds */
    double connect_deadline; /* monotonic seconds: give the attempt up then */
    int backoff_ms;
    char lib_error[256]; /* libmosquitto's last error-level log line */
    uint64_t sent, dropped, refused, connects;
    char error[512];
};

/* ---- Topics -------------------------------------------------------------- */

typedef enum { CLASS_NONE, CLASS_EVENT, CLASS_STATUS, CLASS_DAEMON, CLASS_RAW } topic_class_t;

static topic_class_t classify(const char *topic)
{
    if (strncmp(topic, "event.", 6) == 0)
        return CLASS_EVENT;
    if (strcmp(topic, "status.daemon") == 0)
        return CLASS_DAEMON;
    if (strncmp(topic, "status.", 7) == 0)
        return CLASS_STATUS;
    if (strncmp(topic, "raw.", 4) == 0)
        return CLASS_RAW;
    return CLASS_NONE;
}

/* Maps a ZeroMQ topic (message_topic's "<prefix>.<device>[.<type>]"; device
 * names hold no '.') onto massaged/<site>/<device>/<prefix>[/<type>]. */
static void mqtt_topic(const mqtt_t *m, const char *zmq_topic, char *out, size_t cap)
{
    const char *device = strchr(zmq_topic, '.');
    device = device ? device + 1 : "";
    const char *type = strchr(device, '.');
    int device_len = type ? (int)(type - device) : (int)strlen(device);
    int prefix_len = (int)strcspn(zmq_topic, ".");
    if (type)
        snprintf(out, cap, "%s%.*s/%.*s/%s", m->prefix, device_len, device, prefix_len, zmq_topic,
                 type + 1);
    else
        snprintf(out, cap, "%s%.*s/%.*s", m->prefix, device_len, device, prefix_len, zmq_topic);
}

/* ---- The producer side --------------------------------------------------- */

/* True for every raw_every-th block of the device in a raw.<device> topic. */
static bool raw_wanted(mqtt_t *m, const char *topic)
{
    if (m->raw_every == 0)
        return false;
    const char *device = topic + 4;
    for (int i = 0; i < CONFIG_MAX_DEVICES; i++) {
        if (m->raw[i].device[0] == '\0')
            snprintf(m->raw[i].device, sizeof m->raw[i].device, "%s", device);
        if (strcmp(m->raw[i].device, device) == 0)
            return m->raw[i].blocks++ % (uint64_t)m->raw_every == 0;
    }
    return false;
}

void mqtt_offer(mqtt_t *m, const char *topic, const char *payload, size_t len)
{
    if (!m)
        return;
    topic_class_t cls = classify(topic);
    if (cls == CLASS_NONE || (cls == CLASS_RAW && !raw_wanted(m, topic)))
        return;
    size_t topic_len = strlen(topic);
    mqtt_item_t *item = ring_reserve(m->ring);
    if (!item || len > sizeof item->payload || topic_len >= sizeof item->topic) {
        atomic_fetch_add_explicit(&m->ring_dropped, 1, memory_order_relaxed);
        return;
    }
    item->len = (uint32_t)len;
    memcpy(item->topic, topic, topic_len + 1);
    memcpy(item->payload, payload, len);
    ring_commit(m->ring);
    /* The thread sleeps up to MQTT_IDLE_LOOP_MS: a burst that takes the ring
     * past a quarter wakes it, once per crossing, so the burst reaches the
     * outbox instead of overflowing the ring. */
    if (ring_count(m->ring) == MQTT_WAKE_ITEMS)
        worker_wake(&m->worker);
}

/* ---- The MQTT thread ----------------------------------------------------- */

static void publish_numbers(mqtt_t *m)
{
    pthread_mutex_lock(&m->lock);
    m->numbers.connected = m->connected;
    snprintf(m->numbers.error, sizeof m->numbers.error, "%s", m->error);
    m->numbers.sent = m->sent;
    m->numbers.queued = m->outbox.count + (uint64_t)m->inflight;
    m->numbers.dropped = m->dropped;
    m->numbers.refused = m->refused;
    m->numbers.connects = m->connects;
    pthread_mutex_unlock(&m->lock);
}

/* Records why the broker cannot be used; logs it when the cause changed. */
static void set_error(mqtt_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(mqtt_t *m, const char *fmt, ...)
{
    char text[sizeof m->error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (strcmp(text, m->error) != 0)
        log_error("mqtt %s:%d: %s; streaming goes on, retrying", m->host, m->port, text);
    snprintf(m->error, sizeof m->error, "%s", text);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)flags;
    (void)props;
    mqtt_t *m = obj;
    m->connecting = false;
    if (rc != 0) {
        /* libmosquitto closes the connection itself; mosquitto_loop reports it. */
        set_error(m, "the broker refused the connection: %s",
                  m->protocol == MQTT_PROTOCOL_V5 ? lib.mosquitto_reason_string(rc)
                                                  : lib.mosquitto_connack_string(rc));
        return;
    }
    m->connected = true;
    m->announce = m->ha_discovery;
    m->connects++;
    m->backoff_ms = MQTT_BACKOFF_MIN_MS;
    /* Unwritten QoS 0 packets died with the old connection. */
    m->qos0_pending = 0;
    memset(m->qos0_mid, 0, sizeof m->qos0_mid);
    log_info("mqtt %s:%d: connected as %s (%zu event%s queued)", m->host, m->port, m->prefix,
             m->outbox.count, m->outbox.count == 1 ? "" : "s");
    m->error[0] = '\0';
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    mqtt_t *m = obj;
    if (m->connected && rc != 0)
        log_warn("mqtt %s:%d: connection lost (%s); events are queued until it is back", m->host,
                 m->port, lib.mosquitto_strerror(rc));
    m->connected = m->connecting = false;
}

/* reason_code is MQTT 5's: 0x80 and above mean the broker refused the
 * message (an ACL that forbids the topic, a quota); MQTT 3.1.1 brokers drop
 * such messages silently and acknowledge them with 0. */
static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason_code,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    mqtt_t *m = obj;
    uint16_t id = (uint16_t)mid;
    if (m->qos0_mid[id / 8] & (1u << (id % 8))) {
        m->qos0_mid[id / 8] &= (uint8_t) ~(1u << (id % 8));
        if (m->qos0_pending > 0)
            m->qos0_pending--;
    } else if (m->in_qos0_publish) {
        /* Outside its own callbacks libmosquitto writes at once, so a QoS 0
         * message may be reported written before mosquitto_publish returns
         * its mid. */
        m->written_in_call = true;
    } else if (m->inflight > 0) {
        m->inflight--;
        if (reason_code < 0x80) {
            m->sent++;
        } else {
            if (m->refused == 0)
                log_error("mqtt %s:%d: the broker refused an event under %s: %s (does its ACL "
                          "let this user write there? refusals are counted in mqtt_refused)",
                          m->host, m->port, m->prefix, lib.mosquitto_reason_string(reason_code));
            m->refused++;
        }
    }
}

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *text)
{
    (void)mosq;
    mqtt_t *m = obj;
    if (level & MOSQ_LOG_ERR)
        snprintf(m->lib_error, sizeof m->lib_error, "%s", text);
}

/* A failed connection attempt or a lost connection: why, and when to retry. */
static void connection_failed(mqtt_t *m, int rc)
{
    bool was_connected = m->connected;
    m->connected = m->connecting = false;
    if (rc == MOSQ_ERR_CONN_REFUSED || (rc == MOSQ_ERR_PROTOCOL && m->error[0])) {
        /* on_connect has said why. */
    } else if ((rc == MOSQ_ERR_TIMEOUT || rc == MOSQ_ERR_KEEPALIVE) && !was_connected) {
        set_error(m, "no answer to the connection within %d s (keepalive_s)", m->keepalive_s);
    } else if (rc == MOSQ_ERR_KEEPALIVE) {
        /* libmosquitto 2.0 has no text for this code. */
        set_error(m, "connection lost: the broker stopped answering within %d s (keepalive_s)",
                  m->keepalive_s);
    } else if (rc == MOSQ_ERR_ERRNO) {
        set_error(m, "%s", strerror(errno));
    } else if (rc == MOSQ_ERR_EAI) {
        set_error(m, "cannot resolve the host name (%s)", lib.mosquitto_strerror(rc));
    } else if (rc == MOSQ_ERR_TLS || (m->tls && !was_connected && m->lib_error[0])) {
        set_error(m, "TLS handshake failed: %s",
                  m->lib_error[0] ? m->lib_error : lib.mosquitto_strerror(rc));
    } else if (!was_connected) {
        set_error(m, "%s", lib.mosquitto_strerror(rc));
    } else {
        set_error(m, "connection lost: %s", lib.mosquitto_strerror(rc));
    }
    m->lib_error[0] = '\0';
    m->next_attempt = now_mono() + m->backoff_ms / 1000.0;
    m->backoff_ms *= 2;
    if (m->backoff_ms > m->reconnect_max_s * 1000)
        m->backoff_ms = m->reconnect_max_s * 1000;
}

static void try_connect(mqtt_t *m)
{
    m->lib_error[0] = '\0';
    int rc = m->connects == 0 && !m->error[0]
                 ? lib.mosquitto_connect_async(m->mosq, m->host, m->port, m->keepalive_s)
                 : lib.mosquitto_reconnect_async(m->mosq);
    if (rc == MOSQ_ERR_SUCCESS) {
        m->connecting = true;
        /* libmosquitto gives up after keepalive_s itself (MOSQ_ERR_KEEPALIVE);
         * this is the backstop should it wait on in some state. */
        m->connect_deadline = now_mono() + 2.0 * m->keepalive_s;
    } else {
        connection_failed(m, rc);
    }
}

/* Hands one message to libmosquitto; false when it refused (not connected). */
static bool send_message(mqtt_t *m, const mqtt_item_t *item, topic_class_t cls)
{
    mqtt_topic(m, item->topic, m->topic, sizeof m->topic);
    int qos = cls == CLASS_EVENT || cls == CLASS_DAEMON ? 1 : 0;
    bool retain = cls == CLASS_STATUS || cls == CLASS_DAEMON;
    int mid = 0;
    m->in_qos0_publish = qos == 0;
    m->written_in_call = false;
    int rc =
        lib.mosquitto_publish(m->mosq, &mid, m->topic, (int)item->len, item->payload, qos, retain);
    m->in_qos0_publish = false;
    if (rc != MOSQ_ERR_SUCCESS)
        return false;
    if (qos == 1) {
        m->inflight++;
    } else if (!m->written_in_call) {
        uint16_t id = (uint16_t)mid;
        m->qos0_mid[id / 8] |= (uint8_t)(1u << (id % 8));
        m->qos0_pending++;
    }
    return true;
}

/* Takes everything the pipeline has handed over: events into the outbox,
 * the rest straight to the broker when it can take them now. */
static void take_ring(mqtt_t *m)
{
    const mqtt_item_t *item;
    m->took = false;
    while ((item = ring_peek(m->ring)) != NULL) {
        m->took = true;
        topic_class_t cls = classify(item->topic);
        if (cls == CLASS_EVENT) {
            unsigned dropped = outbox_push(&m->outbox, item->topic, item->payload, item->len);
            if (dropped) {
                if (m->dropped == 0)
                    log_warn("mqtt: the queue of %zu KiB is full; dropping the oldest events "
                             "(counted in status.daemon mqtt_dropped)",
                             m->outbox.cap / 1024);
                m->dropped += dropped;
            }
        } else if (m->connected && (cls == CLASS_DAEMON ? m->inflight < MQTT_INFLIGHT
                                                        : m->qos0_pending < MQTT_QOS0_PENDING)) {
            send_message(m, item, cls);
        }
        ring_release(m->ring);
    }
}

/* Hands queued events over, in order, while the window has room. */
static void send_outbox(mqtt_t *m)
{
    mqtt_item_t *item = &m->scratch;
    size_t len;
    while (m->connected && m->inflight < MQTT_INFLIGHT &&
           outbox_peek(&m->outbox, item->topic, sizeof item->topic, item->payload,
                       sizeof item->payload, &len)) {
        item->len = (uint32_t)len;
        if (!send_message(m, item, CLASS_EVENT))
            break;
        outbox_pop(&m->outbox);
    }
}

/* Sleeps until the broker's socket (sock, or -1 for none) has something to
 * read, the pipeline wakes the thread (a stop, or a ring past
 * MQTT_WAKE_ITEMS), or timeout_ms passes. */
static void wait(mqtt_t *m, int sock, int timeout_ms)
{
    struct pollfd pfd[2] = {{.fd = worker_fd(&m->worker), .events = POLLIN},
                            {.fd = sock, .events = POLLIN}};
    if (poll(pfd, 2, timeout_ms) > 0 && (pfd[0].revents & POLLIN))
        worker_drain(&m->worker);
}

/* One turn: connect when due, wait, exchange with the broker. */
static void turn(mqtt_t *m)
{
    if (!m->connected && !m->connecting && now_mono() >= m->next_attempt)
        try_connect(m);
    bool online = m->connected || m->connecting;
    int rc;
    if (online && lib.mosquitto_want_write(m->mosq)) {
        /* Bytes to write (or a handshake under way): libmosquitto's own wait
         * watches the socket for room and drives TLS. */
        rc = lib.mosquitto_loop(m->mosq, MQTT_LOOP_MS, 1);
    } else {
        /* Short sleeps while messages flow, long ones when the ring was
         * empty: an idle daemon wakes 4 times a second for MQTT, and a
         * message after a quiet spell waits at most MQTT_IDLE_LOOP_MS. */
        wait(m, online ? lib.mosquitto_socket(m->mosq) : -1,
             m->took ? MQTT_LOOP_MS : MQTT_IDLE_LOOP_MS);
        if (!online)
            return;
        rc = lib.mosquitto_loop(m->mosq, 0, 1);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        connection_failed(m, rc);
    } else if (m->connecting && now_mono() > m->connect_deadline) {
        /* A host that drops the handshake, or a server that never answers
         * CONNECT. The next attempt (mosquitto_reconnect_async) closes this
         * socket first. */
        connection_failed(m, MOSQ_ERR_TIMEOUT);
    }
}

/* Home Assistant MQTT discovery (its "homeassistant/<component>/<node_id>/
 * <object_id>/config" topics, node_id the site): per device a battery sensor
 * and a connectivity binary sensor that read the device's retained status,
 * available while the daemon's status says online. */
static const struct {
    const char *component, *entity, *value_template, *unit, *device_class;
} ha_entities[] = {
    {"sensor", "battery", "{{ value_json.get('battery_mv') }}", "mV", "voltage"},
    {"binary_sensor", "connected", "{{ 'ON' if value_json.connected else 'OFF' }}", NULL,
     "connectivity"},
};

static void publish_discovery(mqtt_t *m)
{
    mqtt_item_t *item = &m->scratch;
    for (int d = 0; d < m->n_devices; d++) {
        const char *device = m->devices[d].name;
        for (size_t e = 0; e < sizeof ha_entities / sizeof ha_entities[0]; e++) {
            char id[256], text[256];
            snprintf(id, sizeof id, "massaged_%s_%s_%s", m->site, device, ha_entities[e].entity);
            json_t j;
            json_init(&j, item->payload, sizeof item->payload);
            json_object_begin(&j);
            json_key(&j, "name");
            snprintf(text, sizeof text, "%s %s", device, ha_entities[e].entity);
            json_string(&j, text);
            json_key(&j, "unique_id");
            json_string(&j, id);
            json_key(&j, "state_topic");
            snprintf(text, sizeof text, "%s%s/status", m->prefix, device);
            json_string(&j, text);
            json_key(&j, "value_template");
            json_string(&j, ha_entities[e].value_template);
            if (ha_entities[e].unit) {
                json_key(&j, "unit_of_measurement");
                json_string(&j, ha_entities[e].unit);
            }
            json_key(&j, "device_class");
            json_string(&j, ha_entities[e].device_class);
            json_key(&j, "availability_topic");
            json_string(&j, m->daemon_topic);
            json_key(&j, "availability_template");
            json_string(&j, "{{ 'online' if value_json.online else 'offline' }}");
            json_key(&j, "device");
            json_object_begin(&j);
            json_key(&j, "identifiers");
            json_array_begin(&j);
            snprintf(text, sizeof text, "massaged_%s_%s", m->site, device);
            json_string(&j, text);
            json_array_end(&j);
            json_key(&j, "name");
            snprintf(text, sizeof text, "%s %s", m->site, device);
            json_string(&j, text);
            json_key(&j, "manufacturer");
            json_string(&j, "massaged");
            json_key(&j, "model");
            json_string(&j, device_kind_name(m->devices[d].kind));
            json_object_end(&j);
            json_object_end(&j);
            size_t len;
            if (json_finish(&j, &len) != 0)
                continue;
            char topic[512];
            snprintf(topic, sizeof topic, "homeassistant/%s/%s/%s_%s/config",
                     ha_entities[e].component, m->site, device, ha_entities[e].entity);
            int mid;
            if (lib.mosquitto_publish(m->mosq, &mid, topic, (int)len, item->payload, 1, true) ==
                MOSQ_ERR_SUCCESS)
                m->inflight++;
        }
    }
    m->announce = false;
}

static void *mqtt_main(void *arg)
{
    mqtt_t *m = arg;
    pthread_setname_np(pthread_self(), "mqtt");
    while (!worker_stopping(&m->worker)) {
        take_ring(m);
        if (m->connected && m->announce)
            publish_discovery(m);
        send_outbox(m);
        turn(m);
        publish_numbers(m);
    }
    /* The producer has stopped: deliver what is left while the broker is there. */
    take_ring(m);
    double deadline = now_mono() + MQTT_STOP_DELIVER_S;
    while (m->connected && (m->outbox.count > 0 || m->inflight > 0) && now_mono() < deadline) {
        send_outbox(m);
        turn(m);
    }
    if (m->connected) {
        /* A clean disconnect does not fire the will: say offline ourselves. */
        int mid;
        lib.mosquitto_publish(m->mosq, &mid, m->daemon_topic, (int)strlen(MQTT_OFFLINE),
                              MQTT_OFFLINE, 1, true);
        m->inflight++;
        while (m->connected && m->inflight > 0 && now_mono() < deadline + 0.5)
            turn(m);
        lib.mosquitto_disconnect(m->mosq);
        lib.mosquitto_loop(m->mosq, 10, 1);
    }
    if (m->outbox.count > 0 || m->inflight > 0)
        log_warn("mqtt: stopping with %zu queued and %d unacknowledged event%s not delivered",
                 m->outbox.count, m->inflight,
                 m->outbox.count + (size_t)m->inflight == 1 ? "" : "s");
    publish_numbers(m);
    return NULL;
}

/* ---- Start and stop ------------------------------------------------------ */

static int setup_client(mqtt_t *m, const config_t *cfg, const char *site)
{
    char client_id[sizeof cfg->mqtt.client_id + 16];
    if (cfg->mqtt.client_id[0])
        snprintf(client_id, sizeof client_id, "%s", cfg->mqtt.client_id);
    else
        snprintf(client_id, sizeof client_id, "massaged-%s", site);
    m->mosq = lib.mosquitto_new(client_id, true, m);
    if (!m->mosq)
        return -errno;
    lib.mosquitto_connect_v5_callback_set(m->mosq, on_connect);
    lib.mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    lib.mosquitto_publish_v5_callback_set(m->mosq, on_publish);
    lib.mosquitto_log_callback_set(m->mosq, on_log);
    lib.mosquitto_max_inflight_messages_set(m->mosq, MQTT_INFLIGHT);
    int rc = lib.mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, m->protocol);
    if (rc == MOSQ_ERR_SUCCESS && cfg->mqtt.username[0])
        rc = lib.mosquitto_username_pw_set(m->mosq, cfg->mqtt.username,
                                           cfg->mqtt.password[0] ? cfg->mqtt.password : NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = lib.mosquitto_will_set(m->mosq, m->daemon_topic, (int)strlen(MQTT_OFFLINE),
                                    MQTT_OFFLINE, 1, true);
    if (rc == MOSQ_ERR_SUCCESS && m->tls) {
        const char *ca_file = cfg->mqtt.ca_file[0] ? cfg->mqtt.ca_file : NULL;
        rc = lib.mosquitto_tls_set(m->mosq, ca_file, ca_file ? NULL : "/etc/ssl/certs",
                                   cfg->mqtt.cert_file[0] ? cfg->mqtt.cert_file : NULL,
                                   cfg->mqtt.key_file[0] ? cfg->mqtt.key_file : NULL, NULL);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        log_error("mqtt: cannot set up the client: %s", lib.mosquitto_strerror(rc));
        return -EINVAL;
    }
    return 0;
}

static void lib_load(void)
{
    void *handle = dlopen(MQTT_LIBMOSQUITTO, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(lib_load_error, sizeof lib_load_error, "cannot load %s: %s", MQTT_LIBMOSQUITTO,
                 dlerror());
        return;
    }
#define X(name)                                                                                    \
    if (!lib_load_error[0]) {                                                                      \
        void *sym = dlsym(handle, #name);                                                          \
        if (sym)                                                                                   \
            memcpy(&lib.name, &sym, sizeof sym);                                                   \
        else                                                                                       \
            snprintf(lib_load_error, sizeof lib_load_error, "%s has no %s", MQTT_LIBMOSQUITTO,     \
                     #name);                                                                       \
    }
    LIB_FUNCTIONS(X)
#undef X
    if (lib_load_error[0]) {
        dlclose(handle);
        return;
    }
    lib.mosquitto_lib_init(); /* always succeeds on POSIX systems */
}

mqtt_t *mqtt_start(const config_t *cfg, int *err)
{
    static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
    pthread_once(&lib_once, lib_load);
    if (lib_load_error[0]) {
        log_error("mqtt: %s; MQTT is off (streaming goes on)", lib_load_error);
        if (err)
            *err = 0;
        return NULL;
    }
    int rc = -ENOMEM;
    mqtt_t *m = calloc(1, sizeof *m);
    if (!m)
        goto fail;
    pthread_mutex_init(&m->lock, NULL);
    int woken = worker_open(&m->worker);
    if (woken != 0) {
        rc = woken;
        goto fail;
    }
    if (config_mqtt_broker_parse(cfg->mqtt.broker, m->host, sizeof m->host, &m->port, &m->tls) !=
        0) {
        rc = -EINVAL;
        goto fail;
    }
    char site[sizeof cfg->mqtt.site];
    if (cfg->mqtt.site[0])
        snprintf(site, sizeof site, "%s", cfg->mqtt.site);
    else if (gethostname(site, sizeof site) != 0 || site[0] == '\0')
        snprintf(site, sizeof site, "massaged");
    site[sizeof site - 1] = '\0';
    snprintf(m->prefix, sizeof m->prefix, "massaged/%s/", site);
    snprintf(m->daemon_topic, sizeof m->daemon_topic, "%sdaemon/status", m->prefix);
    m->protocol = cfg->mqtt.protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311;
    m->keepalive_s = cfg->mqtt.keepalive_s;
    m->reconnect_max_s = cfg->mqtt.reconnect_max_s;
    m->raw_every = cfg->mqtt.raw_every;
    snprintf(m->site, sizeof m->site, "%s", site);
    m->ha_discovery = cfg->mqtt.ha_discovery;
    for (int i = 0; i < cfg->n_devices; i++) {
        if (!cfg->devices[i].enabled)
            continue;
        snprintf(m->devices[m->n_devices].name, sizeof m->devices[0].name, "%s",
                 cfg->devices[i].name);
        m->devices[m->n_devices++].kind = cfg->devices[i].kind;
    }
    m->backoff_ms = MQTT_BACKOFF_MIN_MS;
    m->ring = ring_create(sizeof(mqtt_item_t), MQTT_RING_CAPACITY);
    if (outbox_init(&m->outbox, (size_t)cfg->mqtt.queue_kib * 1024) != 0 || !m->ring)
        goto fail;
    rc = setup_client(m, cfg, site);
    if (rc != 0)
        goto fail;
    rc = worker_start(&m->worker, mqtt_main, m);
    if (rc != 0)
        goto fail;
    log_info("mqtt: publishing to %s under %s (queue %d KiB)", cfg->mqtt.broker, m->prefix,
             cfg->mqtt.queue_kib);
    return m;

fail:
    log_error("mqtt: cannot start the client for %s: %s", cfg->mqtt.broker, strerror(-rc));
    mqtt_stop(&m);
    if (err)
        *err = rc;
    return NULL;
}

void mqtt_stop(mqtt_t **mp)
{
    if (!mp || !*mp)
        return;
    mqtt_t *m = *mp;
    worker_close(&m->worker);
    if (m->mosq)
        lib.mosquitto_destroy(m->mosq);
    ring_destroy(&m->ring);
    outbox_free(&m->outbox);
    pthread_mutex_destroy(&m->lock);
    free(m);
    *mp = NULL;
}

void mqtt_status_json(mqtt_t *m, json_t *j)
{
    mqtt_numbers_t n = {0};
    uint64_t ring_dropped = 0;
    if (m) {
        pthread_mutex_lock(&m->lock);
        n = m->numbers;
        pthread_mutex_unlock(&m->lock);
        ring_dropped = atomic_load_explicit(&m->ring_dropped, memory_order_relaxed);
    }
    json_key(j, "mqtt_connected");
    json_bool(j, n.connected);
    json_key(j, "mqtt_error");
    json_string_or_null(j, n.error[0] ? n.error : lib_load_error);
    json_key(j, "mqtt_sent");
    json_uint(j, n.sent);
    json_key(j, "mqtt_queued");
    json_uint(j, n.queued);
    json_key(j, "mqtt_dropped");
    json_uint(j, n.dropped + ring_dropped);
    json_key(j, "mqtt_refused");
    json_uint(j, n.refused);
    json_key(j, "mqtt_connects");
    json_uint(j, n.connects);
}
