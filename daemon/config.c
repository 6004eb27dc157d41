#include "config.h"

#include "log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- What a configuration may contain ----------------------------------- */

/* A section is either one of a kind ([publish]) or, when per_device is set,
 * a prefix followed by a name ([device.ball]) that may appear up to
 * CONFIG_MAX_DEVICES times, each filling one config_device_t. */
typedef struct {
    const char *name; /* "publish", or a prefix such as "device." */
    bool per_device;
} section_def_t;

static const section_def_t sections[] = {
    {"publish", false}, {"log", false},  {"record", false},  {"auto", false},    {"web", false},
    {"control", false}, {"mqtt", false}, {"session", false}, {"history", false}, {"device.", true},
};

typedef enum { KEY_INT, KEY_STRING, KEY_BOOL, KEY_ENUM } key_type_t;

typedef struct {
    const char *name;
    int value;
} key_choice_t;

/* An extra check run after a value has been parsed into its field. Returns
 * NULL when the value is fine, otherwise why not (a literal or text written
 * into why[why_size]). */
typedef const char *(*key_check_fn)(const void *field, char *why, size_t why_size);

#define KEY_REQUIRED 1

typedef struct {
    const char *section; /* a sections[].name */
    const char *name;
    key_type_t type;
    size_t offset;       /* into config_t, or into config_device_t for per-device sections */
    size_t size;         /* of the field: the buffer size for KEY_STRING */
    long min, max;       /* KEY_INT range, inclusive */
    long def;            /* default for KEY_INT, KEY_BOOL and KEY_ENUM */
    const char *def_str; /* default for KEY_STRING */
    const key_choice_t *choices; /* KEY_ENUM names, ended by a NULL name */
    int flags;                   /* KEY_REQUIRED: no default, must be given */
    key_check_fn check;          /* optional */
} key_def_t;

#define FIELD(base, field) offsetof(base, field), sizeof(((base *)0)->field)

/* One row per key; the row's macro names the value's type. */
#define INT_KEY(sec, key, base, field, lo, hi, dflt, chk)                                          \
    {                                                                                              \
        .section = sec, .name = key, .type = KEY_INT, FIELD(base, field), .min = lo, .max = hi,    \
        .def = dflt, .check = chk                                                                  \
    }
#define STR_KEY(sec, key, base, field, dflt, flg, chk)                                             \
    {                                                                                              \
        .section = sec, .name = key, .type = KEY_STRING, FIELD(base, field), .def_str = dflt,      \
        .flags = flg, .check = chk                                                                 \
    }
#define BOOL_KEY(sec, key, base, field, dflt)                                                      \
    {                                                                                              \
        .section = sec, .name = key, .type = KEY_BOOL, FIELD(base, field), .def = dflt             \
    }
#define ENUM_KEY(sec, key, base, field, names, dflt, flg)                                          \
    {                                                                                              \
        .section = sec, .name = key, .type = KEY_ENUM, FIELD(base, field), .choices = names,       \
        .def = dflt, .flags = flg                                                                  \
    }

static const key_choice_t level_choices[] = {
    {"error", LOG_LEVEL_ERROR},
    {"warn", LOG_LEVEL_WARN},
    {"info", LOG_LEVEL_INFO},
    {"debug", LOG_LEVEL_DEBUG},
    {NULL, 0},
};
static const key_choice_t syslog_choices[] = {{"false", 0}, {"true", 1}, {"auto", -1}, {NULL, 0}};
static const key_choice_t kind_choices[] = {
    {"ball", DEVICE_KIND_BALL}, {"scraper", DEVICE_KIND_SCRAPER}, {NULL, 0}};
static const key_choice_t driver_choices[] = {{"auto", CONFIG_DRIVER_AUTO},
                                              {"serialport", CONFIG_DRIVER_SERIALPORT},
                                              {"termios", CONFIG_DRIVER_TERMIOS},
                                              {NULL, 0}};

static const char *check_endpoint(const void *field, char *why, size_t why_size);
static const char *check_listen(const void *field, char *why, size_t why_size);
static const char *check_rcs(const void *field, char *why, size_t why_size);
static const char *check_port(const void *field, char *why, size_t why_size);
static const char *check_baud(const void *field, char *why, size_t why_size);
static const key_choice_t mqtt_protocol_choices[] = {{"5", 5}, {"3.1.1", 4}, {NULL, 0}};
static const char *check_broker(const void *field, char *why, size_t why_size);
static const char *check_topic_level(const void *field, char *why, size_t why_size);
static const char *check_label(const void *field, char *why, size_t why_size);

/* clang-format off */
static const key_def_t keys[] = {
    STR_KEY("publish", "endpoint", config_t, publish.endpoint, "tcp://127.0.0.1:5556", 0, check_endpoint),
    INT_KEY("publish", "hwm", config_t, publish.hwm, 1, 10000000, 10000, NULL),
    INT_KEY("publish", "status_interval_ms", config_t, publish.status_interval_ms, 100, 60000, 1000, NULL),
    INT_KEY("publish", "batch_ms", config_t, publish.batch_ms, 0, 100, 0, NULL),
    STR_KEY("publish", "curve_secret_key_file", config_t, publish.curve_secret_key_file, "", 0, NULL),
    STR_KEY("publish", "curve_clients_file", config_t, publish.curve_clients_file, "", 0, NULL),
    ENUM_KEY("log", "level", config_t, log.level, level_choices, LOG_LEVEL_INFO, 0),
    ENUM_KEY("log", "syslog", config_t, log.syslog, syslog_choices, -1, 0),
    STR_KEY("record", "dir", config_t, record.dir, "", 0, NULL),
    INT_KEY("record", "rotate_mb", config_t, record.rotate_mb, 1, 100000, 256, NULL),
    INT_KEY("record", "rotate_minutes", config_t, record.rotate_minutes, 1, 10080, 60, NULL),
    STR_KEY("auto", "extra_ports", config_t, autodetect.extra_ports, "", 0, NULL),
    INT_KEY("auto", "probe_ms", config_t, autodetect.probe_ms, 50, 5000, 300, NULL),
    BOOL_KEY("web", "enabled", config_t, web.enabled, true),
    STR_KEY("web", "listen", config_t, web.listen, "127.0.0.1:8080", 0, check_listen),
    INT_KEY("web", "trace_hz", config_t, web.trace_hz, 1, 200, 50, NULL),
    INT_KEY("web", "max_clients", config_t, web.max_clients, 1, 64, 8, NULL),
    INT_KEY("web", "queue_kib", config_t, web.queue_kib, 16, 65536, 512, NULL),
    STR_KEY("control", "rcs", config_t, control.rcs, "", 0, check_rcs),
    STR_KEY("mqtt", "broker", config_t, mqtt.broker, "", 0, check_broker),
    STR_KEY("mqtt", "site", config_t, mqtt.site, "", 0, check_topic_level),
    STR_KEY("mqtt", "client_id", config_t, mqtt.client_id, "", 0, NULL),
    STR_KEY("mqtt", "username", config_t, mqtt.username, "", 0, NULL),
    STR_KEY("mqtt", "password_file", config_t, mqtt.password_file, "", 0, NULL),
    STR_KEY("mqtt", "ca_file", config_t, mqtt.ca_file, "", 0, NULL),
    STR_KEY("mqtt", "cert_file", config_t, mqtt.cert_file, "", 0, NULL),
    STR_KEY("mqtt", "key_file", config_t, mqtt.key_file, "", 0, NULL),
    ENUM_KEY("mqtt", "protocol", config_t, mqtt.protocol, mqtt_protocol_choices, 5, 0),
    INT_KEY("mqtt", "keepalive_s", config_t, mqtt.keepalive_s, 5, 3600, 30, NULL),
    INT_KEY("mqtt", "queue_kib", config_t, mqtt.queue_kib, 16, 65536, 1024, NULL),
    INT_KEY("mqtt", "reconnect_max_s", config_t, mqtt.reconnect_max_s, 1, 3600, 30, NULL),
    INT_KEY("mqtt", "raw_every", config_t, mqtt.raw_every, 0, 100000, 0, NULL),
    BOOL_KEY("mqtt", "ha_discovery", config_t, mqtt.ha_discovery, false),
    INT_KEY("session", "idle_s", config_t, session.idle_s, 1, 86400, 120, NULL),
    STR_KEY("history", "db", config_t, history.db, "/var/lib/massaged/history.db", 0, NULL),
    STR_KEY("history", "participant", config_t, history.participant, "", 0, check_label),
    ENUM_KEY("device.", "kind", config_device_t, kind, kind_choices, 0, KEY_REQUIRED),
    STR_KEY("device.", "port", config_device_t, port, "", KEY_REQUIRED, check_port),
    INT_KEY("device.", "baud", config_device_t, baud, 9600, 4000000, 921600, check_baud),
    BOOL_KEY("device.", "enabled", config_device_t, enabled, true),
    ENUM_KEY("device.", "driver", config_device_t, driver, driver_choices, CONFIG_DRIVER_AUTO, 0),
};
/* clang-format on */

/* Enum fields are written through an int pointer. */
_Static_assert(sizeof(device_kind_t) == sizeof(int), "device_kind_t must be int-sized");

/* ---- Value checks -------------------------------------------------------- */

/* The termios rates from 9600 up that Linux (and so libserialport) knows. */
static const int standard_bauds[] = {9600,    19200,   38400,   57600,   115200,  230400,
                                     460800,  500000,  576000,  921600,  1000000, 1152000,
                                     1500000, 2000000, 2500000, 3000000, 3500000, 4000000};

static const char *check_baud(const void *field, char *why, size_t why_size)
{
    int baud = *(const int *)field;
    for (size_t i = 0; i < ARRAY_LEN(standard_bauds); i++) {
        if (standard_bauds[i] == baud)
            return NULL;
    }
    size_t used = (size_t)snprintf(why, why_size, "%d is not a standard rate (one of", baud);
    for (size_t i = 0; i < ARRAY_LEN(standard_bauds) && used < why_size; i++)
        used += (size_t)snprintf(why + used, why_size - used, " %d", standard_bauds[i]);
    if (used < why_size)
        snprintf(why + used, why_size - used, ")");
    return why;
}

/* A study label (BIDS: letters and digits only), as participant. */
static const char *check_label(const void *field, char *why, size_t why_size)
{
    const char *label = field;
    for (const char *c = label; *c; c++) {
        if (!isalnum((unsigned char)*c)) {
            snprintf(why, why_size, "'%s': only letters and digits (a BIDS label)", label);
            return why;
        }
    }
    return NULL;
}

static const char *check_port(const void *field, char *why, size_t why_size)
{
    const char *port = field;
    if (strcmp(port, "auto") == 0 || port[0] == '/')
        return NULL;
    if (port[0] == '\0')
        return "empty; expected an absolute path such as /dev/ttyACM0, or auto";
    snprintf(why, why_size, "'%s' is neither an absolute path (such as /dev/ttyACM0) nor auto",
             port);
    return why;
}

/* A DNS name or interface name: dot-separated labels of letters, digits and
 * '-', none empty, longer than 63 or starting or ending with '-'. */
static bool is_host_name(const char *host, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? host[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || host[i - 1] == '-' || host[i - label] == '-')
                return false;
            label = 0;
        } else if (isalnum((unsigned char)c) || c == '-') {
            label++;
        } else {
            return false;
        }
    }
    return true;
}

/* NULL if the len characters at host are an address of family (AF_INET or
 * AF_INET6), else why not (why, or a constant). */
static const char *check_ip(int family, const char *host, size_t len, char *why,
                            size_t why_size)
{
    const char *name = family == AF_INET ? "IPv4" : "IPv6";
    char addr[64];
    unsigned char binary[sizeof(struct in6_addr)];
    if (len >= (family == AF_INET ? 32 : sizeof addr)) {
        snprintf(why, why_size, "%s address too long", name);
        return why;
    }
    memcpy(addr, host, len);
    addr[len] = '\0';
    if (inet_pton(family, addr, binary) != 1) {
        snprintf(why, why_size, "'%s' is not a valid %s address", addr, name);
        return why;
    }
    return NULL;
}

static const char *check_tcp(const char *hostport, char *why, size_t why_size)
{
    const char *host = hostport, *host_end, *port;
    if (hostport[0] == '[') {
        /* ZeroMQ takes an IPv6 address in brackets, as URLs do. */
        host = hostport + 1;
        host_end = strchr(host, ']');
        if (!host_end)
            return "'[' of an IPv6 address is not closed by ']'";
        if (host_end[1] != ':')
            return "missing :PORT after the host";
        port = host_end + 2;
        const char *bad = check_ip(AF_INET6, host, (size_t)(host_end - host), why, why_size);
        if (bad)
            return bad;
    } else {
        host_end = strrchr(hostport, ':');
        if (!host_end)
            return "missing :PORT after the host";
        port = host_end + 1;
        size_t len = (size_t)(host_end - host);
        if (len == 0)
            return "missing host before :PORT (use * for every interface)";
        if (memchr(host, ':', len))
            return "an IPv6 address must be in brackets, as in tcp://[::1]:5556";
        if (len == 1 && host[0] == '*') {
            /* every interface */
        } else if (strspn(host, "0123456789.") >= len) {
            /* Only digits and dots: it means to be an IPv4 address, never a name. */
            const char *bad = check_ip(AF_INET, host, len, why, why_size);
            if (bad)
                return bad;
        } else if (!is_host_name(host, len)) {
            snprintf(why, why_size,
                     "host '%.*s' is not an IP address, *, localhost or a host or interface name",
                     (int)len, host);
            return why;
        }
    }
    size_t digits = strspn(port, "0123456789");
    if (port[0] == '\0')
        return "missing port number after ':'";
    long number = digits > 0 && digits <= 5 && port[digits] == '\0' ? strtol(port, NULL, 10) : 0;
    if (number < 1 || number > 65535) {
        snprintf(why, why_size, "port '%s' is not a number from 1 to 65535", port);
        return why;
    }
    return NULL;
}

/* [web] listen is HOST:PORT with the same rules as a tcp:// endpoint. */
static const char *check_listen(const void *field, char *why, size_t why_size)
{
    const char *listen = field;
    if (listen[0] == '\0')
        return "empty; expected HOST:PORT such as 127.0.0.1:8080 (or *:8080 for every interface)";
    return check_tcp(listen, why, why_size);
}

/* [control] rcs: empty (off) or HOST:PORT, as [web] listen. */
static const char *check_rcs(const void *field, char *why, size_t why_size)
{
    const char *rcs = field;
    return rcs[0] ? check_tcp(rcs, why, why_size) : NULL;
}

static const char *check_endpoint(const void *field, char *why, size_t why_size)
{
    const char *endpoint = field;
    if (endpoint[0] == '\0')
        return "empty; expected tcp://HOST:PORT or ipc://PATH";
    if (strncmp(endpoint, "tcp://", 6) == 0)
        return check_tcp(endpoint + 6, why, why_size);
    if (strncmp(endpoint, "ipc://", 6) == 0) {
        const char *ipc_path = endpoint + 6;
        /* The path ends up in a sockaddr_un, which bounds its length. */
        size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
        if (ipc_path[0] == '\0')
            return "missing path after ipc://";
        if (strlen(ipc_path) > max) {
            snprintf(why, why_size, "ipc path longer than %zu characters", max);
            return why;
        }
        return NULL;
    }
    const char *scheme_end = strstr(endpoint, "://");
    if (scheme_end) {
        snprintf(why, why_size, "transport '%.*s' is not supported (use tcp:// or ipc://)",
                 (int)(scheme_end - endpoint), endpoint);
        return why;
    }
    snprintf(why, why_size, "'%s' is not an endpoint (expected tcp://HOST:PORT or ipc://PATH)",
             endpoint);
    return why;
}

int config_mqtt_broker_parse(const char *broker, char *host, size_t host_size, int *port, bool *tls)
{
    bool secure = strncmp(broker, "mqtts://", 8) == 0;
    if (!secure && strncmp(broker, "mqtt://", 7) != 0)
        return -EINVAL;
    const char *start = broker + (secure ? 8 : 7);
    const char *colon = strrchr(start, ':');
    const char *bracket = strchr(start, ']');
    if (colon && bracket && colon < bracket)
        colon = NULL; /* the colons of an IPv6 address in brackets */
    size_t len = colon ? (size_t)(colon - start) : strlen(start);
    long number = secure ? 8883 : 1883;
    if (colon) {
        size_t digits = strspn(colon + 1, "0123456789");
        number = digits > 0 && digits <= 5 && colon[1 + digits] == '\0'
                     ? strtol(colon + 1, NULL, 10)
                     : 0;
        if (number < 1 || number > 65535)
            return -ERANGE;
    }
    if (len >= 2 && start[0] == '[' && start[len - 1] == ']') {
        start++; /* libmosquitto takes the bare IPv6 address */
        len -= 2;
    }
    if (len == 0 || len >= host_size)
        return -EINVAL;
    memcpy(host, start, len);
    host[len] = '\0';
    *port = (int)number;
    *tls = secure;
    return 0;
}

static const char *check_broker(const void *field, char *why, size_t why_size)
{
    const char *broker = field;
    char host[256];
    int port;
    bool tls;
    if (broker[0] == '\0')
        return NULL;
    int rc = config_mqtt_broker_parse(broker, host, sizeof host, &port, &tls);
    if (rc == -ERANGE) {
        snprintf(why, why_size, "'%s': the port is not a number from 1 to 65535", broker);
        return why;
    }
    struct in6_addr in6;
    if (rc != 0 || !(is_host_name(host, strlen(host)) || inet_pton(AF_INET6, host, &in6) == 1)) {
        snprintf(why, why_size,
                 "'%s' is not a broker address (expected mqtt://HOST[:PORT] or "
                 "mqtts://HOST[:PORT], e.g. mqtt://broker.local:1883)",
                 broker);
        return why;
    }
    return NULL;
}

/* A value used as one MQTT topic level: no '/', and none of the wildcards. */
static const char *check_topic_level(const void *field, char *why, size_t why_size)
{
    const char *level = field;
    size_t bad = strcspn(level, "/+# \t");
    if (level[bad] == '\0')
        return NULL;
    snprintf(why, why_size, "'%s' may not contain '%c' (it is one MQTT topic level)", level,
             level[bad]);
    return why;
}

/* ---- Parsing ------------------------------------------------------------- */

#define SECTION_NONE (-1)    /* before the first header */
#define SECTION_IGNORED (-2) /* a bad header, already reported: skip its keys */

typedef struct {
    FILE *file;      /* the source: a file, or else the buffer below */
    const char *buf; /* config_load_buffer's text, when file is NULL */
    size_t buf_len, buf_at;
    const char *path;
    config_t *cfg;
    config_error_fn on_error;
    void *error_ctx;
    int problems;
    int line;    /* the line being parsed, from 1 */
    int section; /* index into sections[], or SECTION_NONE / SECTION_IGNORED */
    int device;  /* index into cfg->devices when sections[section].per_device */
    char section_name[256];
    /* Line where each section was opened and each key set, 0 if not yet:
     * for duplicate checks and for naming the line of a missing key. */
    int section_line[ARRAY_LEN(sections)];
    int key_line[ARRAY_LEN(keys)];
    int device_key_line[CONFIG_MAX_DEVICES][ARRAY_LEN(keys)];
    char why[1024];
    char message[sizeof(((config_t *)0)->path) + 2048];
} parse_t;

/* Reports one problem as "FILE:LINE: [section] key: why"; line <= 0, a NULL
 * section or a NULL key leave that part out. */
__attribute__((format(printf, 5, 6))) static void problem(parse_t *p, int line, const char *section,
                                                          const char *key, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);

    char where[64] = "";
    if (line > 0)
        snprintf(where, sizeof where, ":%d", line);
    snprintf(p->message, sizeof p->message, "%s%s: %s%s%s%s%s%s%s", p->path, where,
             section ? "[" : "", section ? section : "", section ? "]" : "",
             section && key ? " " : "", key ? key : "", section || key ? ": " : "", why);
    p->problems++;
    if (p->on_error)
        p->on_error(p->message, p->error_ctx);
    else
        fprintf(stderr, "%s\n", p->message);
}

static bool key_is_per_device(const key_def_t *key)
{
    for (size_t i = 0; i < ARRAY_LEN(sections); i++) {
        if (strcmp(sections[i].name, key->section) == 0)
            return sections[i].per_device;
    }
    assert(!"key row names no section");
    return false;
}

static void *field_of(config_t *cfg, const key_def_t *key, int device)
{
    char *base = key_is_per_device(key) ? (char *)&cfg->devices[device] : (char *)cfg;
    return base + key->offset;
}

static void set_default(void *field, const key_def_t *key)
{
    switch (key->type) {
    case KEY_INT:
    case KEY_ENUM:
        assert(key->size == sizeof(int));
        *(int *)field = (int)key->def;
        break;
    case KEY_BOOL:
        assert(key->size == sizeof(bool));
        *(bool *)field = key->def != 0;
        break;
    case KEY_STRING:
        assert(strlen(key->def_str ? key->def_str : "") < key->size);
        snprintf(field, key->size, "%s", key->def_str ? key->def_str : "");
        break;
    }
}

static void set_defaults_of(config_t *cfg, bool per_device, int device)
{
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        if (key_is_per_device(&keys[i]) == per_device)
            set_default(field_of(cfg, &keys[i], device), &keys[i]);
    }
}

void config_set_defaults(config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    set_defaults_of(cfg, false, 0);
}

/* Lists choices[] as "a, b, c" into buf. */
static const char *choice_list(const key_choice_t *choices, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const key_choice_t *c = choices; c->name && used < size; c++)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%s", c == choices ? "" : ", ", c->name);
    return buf;
}

/* Parses value into the field described by key; returns NULL or why not. */
static const char *parse_value(parse_t *p, const key_def_t *key, void *field, const char *value)
{
    char *why = p->why;
    size_t why_size = sizeof p->why;
    switch (key->type) {
    case KEY_INT: {
        if (value[0] == '\0') {
            snprintf(why, why_size, "empty; expected a whole number from %ld to %ld", key->min,
                     key->max);
            return why;
        }
        char *end;
        errno = 0;
        long number = strtol(value, &end, 10);
        if (*end != '\0' || isspace((unsigned char)value[0])) {
            snprintf(why, why_size, "'%s' is not a whole number", value);
            return why;
        }
        if (errno == ERANGE || number < key->min || number > key->max) {
            snprintf(why, why_size, "%s is out of range %ld..%ld", value, key->min, key->max);
            return why;
        }
        *(int *)field = (int)number;
        break;
    }
    case KEY_STRING:
        if (strlen(value) >= key->size) {
            snprintf(why, why_size, "longer than %zu characters", key->size - 1);
            return why;
        }
        memcpy(field, value, strlen(value) + 1);
        break;
    case KEY_BOOL:
        if (strcmp(value, "true") == 0) {
            *(bool *)field = true;
        } else if (strcmp(value, "false") == 0) {
            *(bool *)field = false;
        } else {
            snprintf(why, why_size, "'%s' is not true or false", value);
            return why;
        }
        break;
    case KEY_ENUM: {
        for (const key_choice_t *c = key->choices; c->name; c++) {
            if (strcmp(value, c->name) == 0) {
                *(int *)field = c->value;
                return key->check ? key->check(field, why, why_size) : NULL;
            }
        }
        char list[256];
        snprintf(why, why_size, "'%s' is not one of: %s", value,
                 choice_list(key->choices, list, sizeof list));
        return why;
    }
    }
    return key->check ? key->check(field, why, why_size) : NULL;
}

/* inih's handler: called once per "key = value" line, right after the
 * reader has read that line, so p->line is the key's line. Always returns 1:
 * problems are reported here, so inih's own error return stays for syntax. */
static int on_key(void *user, const char *inih_section, const char *name, const char *value)
{
    parse_t *p = user;
    (void)inih_section; /* the reader tracks sections itself, with their lines */
    if (p->section == SECTION_IGNORED)
        return 1;
    if (p->section == SECTION_NONE) {
        problem(p, p->line, NULL, name, "outside any section");
        return 1;
    }
    const section_def_t *sec = &sections[p->section];
    const key_def_t *key = NULL;
    size_t k;
    for (k = 0; k < ARRAY_LEN(keys); k++) {
        if (strcmp(keys[k].section, sec->name) == 0 && strcmp(keys[k].name, name) == 0) {
            key = &keys[k];
            break;
        }
    }
    if (!key) {
        char list[256];
        size_t used = 0;
        list[0] = '\0';
        for (size_t i = 0; i < ARRAY_LEN(keys) && used < sizeof list; i++) {
            if (strcmp(keys[i].section, sec->name) == 0)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "",
                                         keys[i].name);
        }
        problem(p, p->line, p->section_name, name[0] ? name : "(empty)",
                "unknown key (expected one of: %s)", list);
        return 1;
    }
    int *seen = sec->per_device ? &p->device_key_line[p->device][k] : &p->key_line[k];
    if (*seen) {
        problem(p, p->line, p->section_name, name, "duplicate key (first set at line %d)", *seen);
        return 1;
    }
    *seen = p->line;
    const char *why = parse_value(p, key, field_of(p->cfg, key, p->device), value);
    if (why)
        problem(p, p->line, p->section_name, name, "%s", why);
    return 1;
}

static bool is_device_name(const char *name)
{
    size_t len = strlen(name);
    return len >= 1 && len < CONFIG_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == len;
}

/* Opens the section named on the current line: a known one-of-a-kind
 * section, or a new device. Bad headers are reported here and their keys
 * skipped, so one mistake gives one message. */
static void begin_section(parse_t *p, const char *name)
{
    snprintf(p->section_name, sizeof p->section_name, "%s", name);
    p->section = SECTION_IGNORED;
    for (size_t i = 0; i < ARRAY_LEN(sections); i++) {
        const section_def_t *sec = &sections[i];
        if (!sec->per_device) {
            if (strcmp(name, sec->name) != 0)
                continue;
            if (p->section_line[i]) {
                problem(p, p->line, name, NULL, "duplicate section (first at line %d)",
                        p->section_line[i]);
                return;
            }
            p->section_line[i] = p->line;
            p->section = (int)i;
            return;
        }
        size_t prefix = strlen(sec->name);
        if (strncmp(name, sec->name, prefix) != 0)
            continue;
        const char *device_name = name + prefix;
        if (!is_device_name(device_name)) {
            problem(p, p->line, name, NULL,
                    "bad device name '%s': use 1 to %d letters, digits, '_' or '-'", device_name,
                    CONFIG_NAME_MAX - 1);
            return;
        }
        config_t *cfg = p->cfg;
        for (int d = 0; d < cfg->n_devices; d++) {
            if (strcmp(cfg->devices[d].name, device_name) == 0) {
                problem(p, p->line, name, NULL, "duplicate device name '%s' (first at line %d)",
                        device_name, cfg->devices[d].line);
                return;
            }
        }
        if (cfg->n_devices == CONFIG_MAX_DEVICES) {
            problem(p, p->line, name, NULL, "too many devices (at most %d)", CONFIG_MAX_DEVICES);
            return;
        }
        config_device_t *dev = &cfg->devices[cfg->n_devices];
        set_defaults_of(cfg, true, cfg->n_devices);
        snprintf(dev->name, sizeof dev->name, "%s", device_name);
        dev->line = p->line;
        p->device = cfg->n_devices++;
        p->section = (int)i;
        return;
    }
    char list[256];
    size_t used = 0;
    for (size_t i = 0; i < ARRAY_LEN(sections) && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s[%s%s]",
                                 i == 0                         ? ""
                                 : i + 1 == ARRAY_LEN(sections) ? " or "
                                                                : ", ",
                                 sections[i].name, sections[i].per_device ? "NAME" : "");
    problem(p, p->line, name, NULL, "unknown section (expected %s)", list);
}

/* inih's own rule for where a value or section name ends: at one of chars,
 * or at an inline comment prefix that follows whitespace. */
static char *find_chars_or_comment(char *s, const char *chars)
{
    bool was_space = false;
    while (*s && !(chars && strchr(chars, *s)) &&
           !(ini_allow_inline_comments && was_space && strchr(ini_inline_comment_prefixes, *s))) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

/* inih's reader: hands inih one line at a time, which lets it count lines
 * (Debian's inih does not pass line numbers to the handler), see section
 * headers with their line (inih does not report them) and report every
 * malformed line (inih returns only the first). Lines it has reported are
 * passed on empty so that inih stays quiet about them. */
static int next_char(parse_t *p)
{
    if (p->file)
        return getc(p->file);
    return p->buf_at < p->buf_len ? (unsigned char)p->buf[p->buf_at++] : EOF;
}

static char *read_line(char *str, int num, void *stream)
{
    parse_t *p = stream;
    /* inih asks for at most num - 1 characters; keep one spare as fgets
     * would for the newline, so any version of inih sees a whole line. */
    size_t max = num > 2 ? (size_t)num - 2 : 0, len = 0, consumed = 0;
    bool too_long = false, nul = false;
    int c;
    while ((c = next_char(p)) != EOF && c != '\n') {
        consumed++;
        if (c == '\0')
            nul = true;
        else if (len < max)
            str[len++] = (char)c;
        else
            too_long = true;
    }
    if (c == EOF && consumed == 0)
        return NULL;
    str[len] = '\0';
    p->line++;
    if (too_long || nul) {
        problem(p, p->line, NULL, NULL,
                too_long ? "line longer than %zu characters" : "line contains a NUL byte", max);
        str[0] = '\0';
        return str;
    }
    if (len > 0 && str[len - 1] == '\r')
        str[--len] = '\0';
    if (p->line == 1 && strncmp(str, "\xEF\xBB\xBF", 3) == 0)
        memmove(str, str + 3, len - 3 + 1);
    /* Leading whitespace is dropped so that inih never takes an indented
     * line as the continuation of the previous value: each key is on its
     * own line, which keeps line numbers and duplicate checks exact. */
    size_t indent = strspn(str, " \t\f\v");
    memmove(str, str + indent, strlen(str + indent) + 1);

    if (str[0] == '\0' || strchr(ini_start_comment_prefixes, str[0]))
        return str;
    if (str[0] == '[') {
        char *end = find_chars_or_comment(str + 1, "]");
        if (*end != ']') {
            problem(p, p->line, NULL, NULL, "section header without a closing ']'");
            p->section = SECTION_IGNORED;
            str[0] = '\0';
            return str;
        }
        char *rest = end + 1 + strspn(end + 1, " \t\f\v");
        if (*rest && !strchr(ini_inline_comment_prefixes, *rest) &&
            !strchr(ini_start_comment_prefixes, *rest)) {
            problem(p, p->line, NULL, NULL, "unexpected text after the section header: '%s'", rest);
            p->section = SECTION_IGNORED;
            str[0] = '\0';
            return str;
        }
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(end - (str + 1)), str + 1);
        begin_section(p, name);
        return str;
    }
    char *end = find_chars_or_comment(str, "=:");
    if (*end != '=' && *end != ':') {
        problem(p, p->line, NULL, NULL,
                "expected 'key = value', a [section] header or a comment, not '%s'", str);
        str[0] = '\0';
        return str;
    }
    return str;
}

/* Checks that need the whole file: required keys, and ports that two
 * devices would both open. */
static void check_complete(parse_t *p)
{
    config_t *cfg = p->cfg;
    for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
        const key_def_t *key = &keys[k];
        if (!(key->flags & KEY_REQUIRED))
            continue;
        if (!key_is_per_device(key)) {
            if (!p->key_line[k])
                problem(p, 0, key->section, key->name, "missing (required)");
            continue;
        }
        for (int d = 0; d < cfg->n_devices; d++) {
            if (!p->device_key_line[d][k]) {
                char section[64];
                snprintf(section, sizeof section, "%s%s", key->section, cfg->devices[d].name);
                problem(p, cfg->devices[d].line, section, key->name,
                        "missing (required; the section starts at this line)");
            }
        }
    }
    size_t port_key = 0;
    while (strcmp(keys[port_key].name, "port") != 0 || !key_is_per_device(&keys[port_key]))
        port_key++;
    for (int d = 1; d < cfg->n_devices; d++) {
        const config_device_t *dev = &cfg->devices[d];
        /* "auto" finds each device by its kind; a disabled device never opens its port. */
        if (!dev->enabled || strcmp(dev->port, "auto") == 0 || dev->port[0] == '\0')
            continue;
        for (int e = 0; e < d; e++) {
            const config_device_t *other = &cfg->devices[e];
            if (other->enabled && strcmp(other->port, dev->port) == 0) {
                char section[64];
                snprintf(section, sizeof section, "%s%s", keys[port_key].section, dev->name);
                problem(p, p->device_key_line[d][port_key], section, "port",
                        "'%s' is already the port of [device.%s] (line %d)", dev->port, other->name,
                        other->line);
                break;
            }
        }
    }
}

/* ---- CURVE key files ----------------------------------------------------- */

static const char z85_digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 ".-:+=^!/*?&<>()[]{}@%$#";

/* True when s starts with a 40-character Z85 key (32 bytes) followed by the
 * end, or whitespace and a free label. Each group of 5 digits must fit 32
 * bits, as ZeroMQ's decoder requires. */
static bool is_z85_key_line(const char *s)
{
    for (int g = 0; g < CONFIG_CURVE_KEY_LEN / 5; g++) {
        uint64_t value = 0;
        for (int i = 0; i < 5; i++) {
            char c = s[g * 5 + i];
            const char *d = c ? strchr(z85_digits, c) : NULL;
            if (!d)
                return false;
            value = value * 85 + (uint64_t)(d - z85_digits);
        }
        if (value > UINT32_MAX)
            return false;
    }
    char end = s[CONFIG_CURVE_KEY_LEN];
    return end == '\0' || isspace((unsigned char)end);
}

/* Reads the key lines of a key file into keys[max][41]: blank lines and lines
 * starting with "# " (or a lone "#") are comments; a "#" followed by anything
 * else could be a key, as '#' is a Z85 digit. secret: the file must not be
 * readable or writable by group or others. Reports problems against
 * [publish] name at line; returns the number of keys, or -1 after a problem. */
static int read_key_file(parse_t *p, int line, const char *name, const char *path, bool secret,
                         char (*keys_out)[CONFIG_CURVE_KEY_LEN + 1], int max)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        problem(p, line, "publish", name, "cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        problem(p, line, "publish", name, "'%s' is not a regular file", path);
        fclose(f);
        return -1;
    }
    if (secret && (st.st_mode & 077)) {
        problem(p, line, "publish", name,
                "refused: group or others may access the secret key '%s' (mode %04o); run "
                "chmod 600 on it",
                path, (unsigned)(st.st_mode & 07777));
        fclose(f);
        return -1;
    }
    if (!secret && (st.st_mode & S_IWOTH)) {
        problem(p, line, "publish", name,
                "refused: anyone may write '%s' (mode %04o); run chmod o-w on it", path,
                (unsigned)(st.st_mode & 07777));
        fclose(f);
        return -1;
    }
    char text[256];
    int n = 0, file_line = 0;
    bool bad = false;
    while (fgets(text, sizeof text, f)) {
        file_line++;
        size_t len = strlen(text);
        if (len && text[len - 1] == '\n')
            text[--len] = '\0';
        if (len && text[len - 1] == '\r')
            text[--len] = '\0';
        if (len == 0 || strcmp(text, "#") == 0 || strncmp(text, "# ", 2) == 0)
            continue;
        if (!is_z85_key_line(text)) {
            problem(p, line, "publish", name, "%s:%d: not a 40-character Z85 CURVE key", path,
                    file_line);
            bad = true;
            continue;
        }
        if (n == max) {
            problem(p, line, "publish", name, "%s:%d: more than %d keys", path, file_line, max);
            bad = true;
            break;
        }
        memcpy(keys_out[n], text, CONFIG_CURVE_KEY_LEN);
        keys_out[n][CONFIG_CURVE_KEY_LEN] = '\0';
        n++;
    }
    fclose(f);
    if (bad)
        return -1;
    if (n == 0 || (secret && n != 1)) {
        problem(p, line, "publish", name, "'%s' must hold %s", path,
                secret ? "exactly one key" : "at least one key");
        return -1;
    }
    return n;
}

static int key_line_of(parse_t *p, const char *section, const char *name)
{
    for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
        if (strcmp(keys[k].section, section) == 0 && strcmp(keys[k].name, name) == 0)
            return p->key_line[k];
    }
    assert(!"no such key");
    return 0;
}

/* CURVE is on when both files are given; one without the other is an error,
 * since a server key without an allow-list would let any client in. */
static void check_curve(parse_t *p)
{
    config_t *cfg = p->cfg;
    const char *secret = cfg->publish.curve_secret_key_file;
    const char *clients = cfg->publish.curve_clients_file;
    int secret_line = key_line_of(p, "publish", "curve_secret_key_file");
    int clients_line = key_line_of(p, "publish", "curve_clients_file");
    if (!secret[0] && !clients[0])
        return;
    if (!secret[0] || !clients[0]) {
        problem(p, secret[0] ? secret_line : clients_line, "publish",
                secret[0] ? "curve_clients_file" : "curve_secret_key_file",
                "missing: CURVE needs both curve_secret_key_file and curve_clients_file");
        return;
    }
    char secret_key[1][CONFIG_CURVE_KEY_LEN + 1];
    if (read_key_file(p, secret_line, "curve_secret_key_file", secret, true, secret_key, 1) == 1)
        memcpy(cfg->publish.curve_secret_key, secret_key[0], sizeof secret_key[0]);
    int n = read_key_file(p, clients_line, "curve_clients_file", clients, false,
                          cfg->publish.curve_clients, CONFIG_CURVE_MAX_CLIENTS);
    cfg->publish.n_curve_clients = n > 0 ? n : 0;
}

/* A file the MQTT client will read at start-up must be readable now, so a
 * typo shows at --check-config and not as a broker error later. */
static void check_readable(parse_t *p, const char *name, const char *path)
{
    if (path[0] && access(path, R_OK) != 0)
        problem(p, key_line_of(p, "mqtt", name), "mqtt", name, "cannot read '%s': %s", path,
                strerror(errno));
}

/* [mqtt]: the password is read from its file (first line, which must be the
 * only one that is not empty) so the configuration struct is self-contained;
 * the file must be private, as a CURVE secret key. */
static void check_mqtt(parse_t *p)
{
    config_t *cfg = p->cfg;
    check_readable(p, "ca_file", cfg->mqtt.ca_file);
    check_readable(p, "cert_file", cfg->mqtt.cert_file);
    check_readable(p, "key_file", cfg->mqtt.key_file);
    if (!cfg->mqtt.cert_file[0] != !cfg->mqtt.key_file[0])
        problem(p, key_line_of(p, "mqtt", cfg->mqtt.cert_file[0] ? "cert_file" : "key_file"),
                "mqtt", cfg->mqtt.cert_file[0] ? "key_file" : "cert_file",
                "missing: a client certificate needs both cert_file and key_file");
    const char *path = cfg->mqtt.password_file;
    if (!path[0])
        return;
    int line = key_line_of(p, "mqtt", "password_file");
    FILE *f = fopen(path, "r");
    if (!f) {
        problem(p, line, "mqtt", "password_file", "cannot read '%s': %s", path, strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        problem(p, line, "mqtt", "password_file", "'%s' is not a regular file", path);
    } else if (st.st_mode & 077) {
        problem(p, line, "mqtt", "password_file",
                "refused: group or others may access the password file '%s' (mode %04o); run "
                "chmod 600 on it",
                path, (unsigned)(st.st_mode & 07777));
    } else {
        char text[sizeof cfg->mqtt.password + 1];
        text[0] = '\0';
        if (!fgets(text, sizeof text, f))
            text[0] = '\0';
        size_t len = strcspn(text, "\r\n");
        if (len >= sizeof cfg->mqtt.password)
            problem(p, line, "mqtt", "password_file", "'%s': the password is longer than %zu bytes",
                    path, sizeof cfg->mqtt.password - 1);
        else if (len == 0)
            problem(p, line, "mqtt", "password_file", "'%s': the first line is empty", path);
        else {
            memcpy(cfg->mqtt.password, text, len);
            cfg->mqtt.password[len] = '\0';
        }
    }
    fclose(f);
}

/* Runs the parser over p's source and the whole-file checks; returns the
 * number of problems, or a negative errno when the source could not be read. */
static int parse_all(parse_t *p)
{
    int first_error = ini_parse_stream(read_line, p, on_key, p);
    if (p->file) {
        bool read_failed = ferror(p->file);
        int read_errno = errno ? errno : EIO;
        fclose(p->file);
        p->file = NULL;
        if (read_failed) {
            problem(p, 0, NULL, NULL, "cannot read: %s", strerror(read_errno));
            return -read_errno;
        }
    }
    if (first_error > 0) {
        /* The reader reports malformed lines itself and hides them from
         * inih, so this only fires if inih's rules ever differ from ours. */
        problem(p, first_error, NULL, NULL, "syntax error");
    } else if (first_error < 0) {
        problem(p, 0, NULL, NULL, "cannot parse: out of memory");
        return -ENOMEM;
    }
    check_complete(p);
    check_curve(p);
    check_mqtt(p);
    return p->problems;
}

/* Records path in out->path; false (reported) when it does not fit. */
static bool set_path(parse_t *p, const char *path)
{
    if (strlen(path) >= sizeof p->cfg->path) {
        problem(p, 0, NULL, NULL, "cannot read: path longer than %zu characters",
                sizeof p->cfg->path - 1);
        return false;
    }
    memcpy(p->cfg->path, path, strlen(path) + 1);
    return true;
}

/* Sets out to the defaults and p up to parse into it what path (a file's
 * path, or a name for a buffer) holds; false, reported, if path is too long. */
static bool parse_begin(parse_t *p, const char *path, config_t *out, config_error_fn on_error,
                        void *ctx)
{
    config_set_defaults(out);
    *p = (parse_t){
        .path = path,
        .cfg = out,
        .on_error = on_error,
        .error_ctx = ctx,
        .section = SECTION_NONE,
    };
    return set_path(p, path);
}

int config_load(const char *path, config_t *out, config_error_fn on_error, void *ctx)
{
    /* About 8 KiB of parse state, on the stack: nothing to free. */
    parse_t p;
    if (!parse_begin(&p, path, out, on_error, ctx))
        return -ENAMETOOLONG;

    p.file = fopen(path, "r");
    if (!p.file) {
        int err = errno;
        problem(&p, 0, NULL, NULL, "cannot read: %s", strerror(err));
        return -err;
    }
    struct stat st;
    int err = fstat(fileno(p.file), &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (err) {
        problem(&p, 0, NULL, NULL, "cannot read: %s", strerror(err));
        fclose(p.file);
        return -err;
    }
    if (st.st_mode & S_IWOTH)
        problem(&p, 0, NULL, NULL,
                "refused: anyone may write this file (mode %04o); run chmod o-w on it",
                (unsigned)(st.st_mode & 07777));
    return parse_all(&p);
}

int config_load_buffer(const char *name, const char *text, size_t len, config_t *out,
                       config_error_fn on_error, void *ctx)
{
    parse_t p;
    if (!parse_begin(&p, name, out, on_error, ctx))
        return -ENAMETOOLONG;
    p.buf = text;
    p.buf_len = len;
    return parse_all(&p);
}

/* Writes the rows of one section (device < 0: a one-of-a-kind section). */
static void write_keys(const config_t *cfg, const char *section, int device, FILE *out)
{
    for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
        const key_def_t *key = &keys[k];
        if (strcmp(key->section, section) != 0)
            continue;
        const void *field = field_of((config_t *)cfg, key, device < 0 ? 0 : device);
        switch (key->type) {
        case KEY_INT:
            fprintf(out, "%s=%d\n", key->name, *(const int *)field);
            break;
        case KEY_STRING: {
            /* Written as key=value, the shortest line that holds the value:
             * any line the value was read from was at least this long, so
             * the written line never passes the reader's line limit (found
             * by fuzz_config with a port at the limit). No space before the
             * value also keeps a value beginning with ';' from being read
             * as a comment. */
            fprintf(out, "%s=%s\n", key->name, (const char *)field);
            break;
        }
        case KEY_BOOL:
            fprintf(out, "%s=%s\n", key->name, *(const bool *)field ? "true" : "false");
            break;
        case KEY_ENUM:
            for (const key_choice_t *c = key->choices; c->name; c++) {
                if (c->value == *(const int *)field) {
                    fprintf(out, "%s=%s\n", key->name, c->name);
                    break;
                }
            }
            break;
        }
    }
}

int config_write(const config_t *cfg, FILE *out)
{
    for (size_t i = 0; i < ARRAY_LEN(sections); i++) {
        if (sections[i].per_device) {
            for (int d = 0; d < cfg->n_devices; d++) {
                fprintf(out, "[%s%s]\n", sections[i].name, cfg->devices[d].name);
                write_keys(cfg, sections[i].name, d, out);
            }
        } else {
            fprintf(out, "[%s]\n", sections[i].name);
            write_keys(cfg, sections[i].name, -1, out);
        }
    }
    return ferror(out) ? -EIO : 0;
}
