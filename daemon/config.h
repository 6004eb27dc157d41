/* config: the daemon's INI configuration, parsed and validated into one plain
 * struct of per-module settings.
 *
 * The file is read with libinih; config.c holds one table with a row per key
 * (section, name, type, field offset, range, default), so adding a key is one
 * row there plus its field here. docs/CONFIGURATION.md is the reference for
 * every section and key; config/massaged.example.ini shows them all.
 *
 * Loading is done once at start-up by the main thread; the resulting struct is
 * then read-only and may be shared by every thread without locking.
 */
#ifndef MASSAGED_CONFIG_H
#define MASSAGED_CONFIG_H

#include "device_kind.h"
#include "study.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_DEVICES 16
/* A device name is 1..31 characters of [A-Za-z0-9_-], so that it can be used
 * verbatim in ZeroMQ topics and file names; the buffer holds the NUL too. */
#define CONFIG_NAME_MAX 32
/* A CURVE key in Z85 text (ZeroMQ's encoding of its 32 bytes). */
#define CONFIG_CURVE_KEY_LEN 40
#define CONFIG_CURVE_MAX_CLIENTS 64

/* How a port is opened; the same values as port_driver_t in port.h (a
 * _Static_assert in device.c ties them). */
typedef enum {
    CONFIG_DRIVER_AUTO = 0,       /* pseudo-terminals with termios, all else with libserialport */
    CONFIG_DRIVER_SERIALPORT = 1, /* always libserialport */
    CONFIG_DRIVER_TERMIOS = 2,    /* always termios */
} config_driver_t;

/* One [device.NAME] section. */
typedef struct {
    char name[CONFIG_NAME_MAX]; /* the part after "device." */
    device_kind_t kind;
    char port[256]; /* an absolute serial port or pty path, or "auto" */
    int baud;       /* bits per second, one of the standard rates 9600..4000000 */
    bool enabled;   /* false: configured but never opened */
    int driver;     /* a config_driver_t */
    int line;       /* line of the section header, for messages at run time */
} config_device_t;

typedef struct {
    char path[4096]; /* the file it came from, as given to config_load */
    struct {
        char endpoint[256];     /* ZeroMQ PUB bind endpoint: tcp://HOST:PORT or ipc://PATH */
        int hwm;                /* send high-water mark, messages */
        int status_interval_ms; /* period of the status messages, milliseconds */
        int batch_ms;           /* 0: publish each frame at once; else gather frames this
                                   many milliseconds and publish them together */
        /* CURVE (docs/SECURITY.md): on when both files are given. The secret
         * key file (mode 0600 or stricter) holds the server's secret key; the
         * clients file the public keys allowed to subscribe. config_load
         * reads both into the fields below, so the struct is self-contained. */
        char curve_secret_key_file[1024];
        char curve_clients_file[1024];
        char curve_secret_key[CONFIG_CURVE_KEY_LEN + 1]; /* Z85; empty: CURVE off */
        char curve_clients[CONFIG_CURVE_MAX_CLIENTS][CONFIG_CURVE_KEY_LEN + 1]; /* Z85 */
        int n_curve_clients;
    } publish;
    struct {
        int level;  /* a log_level_t from log.h */
        int syslog; /* 0 no, 1 yes, -1 auto: syslog when stderr is not a terminal */
    } log;
    struct {
        char dir[4096];     /* recording directory; empty: no recording */
        int rotate_mb;      /* start a new file after this many mebibytes */
        int rotate_minutes; /* start a new file after this many minutes */
    } record;
    struct {
        char extra_ports[1024]; /* glob patterns separated by ':', probed besides the enumeration */
        int probe_ms;           /* how long to wait for a candidate's HELLO, milliseconds */
    } autodetect;               /* [auto]: how `port = auto` finds devices */
    struct {
        bool enabled;     /* false: massaged-web does not serve (exits 0 at once) */
        char listen[256]; /* HOST:PORT the dashboard's HTTP server binds (tcp:// rules) */
        int trace_hz;     /* trace messages per device per second sent to browsers */
        int max_clients;  /* browsers streaming /events at once */
        int queue_kib;    /* per-browser send queue, KiB; messages beyond it are dropped */
    } web;                /* [web]: the live dashboard, massaged-web (docs/DASHBOARD.md) */
    struct {
        char rcs[256]; /* HOST:PORT of the LabRecorder-compatible remote control (tcp://
                          rules); empty: off. Set, recording is study-driven ([record]
                          dir the default root) (docs/RECORDING.md) */
    } control;         /* [control]: study scripts drive recording */
    struct {
        char broker[256];    /* mqtt://HOST[:PORT] or mqtts://HOST[:PORT]; empty: MQTT off */
        char site[64];       /* topic level after massaged/; empty: the host name */
        char client_id[128]; /* empty: massaged-<site> */
        char username[128];  /* empty: no user name */
        char password_file[1024];
        char password[256];   /* read from password_file by config_load; empty: none */
        char ca_file[1024];   /* mqtts: the CA certificates; empty: the system's */
        char cert_file[1024]; /* mqtts: client certificate (with key_file); empty: none */
        char key_file[1024];
        int protocol;        /* MQTT version: 5, or 4 (3.1.1) */
        int keepalive_s;     /* MQTT keepalive, seconds */
        int queue_kib;       /* events held while the broker is unreachable, KiB */
        int reconnect_max_s; /* the reconnection backoff's ceiling, seconds */
        int raw_every;       /* 0: no raw samples; N: every Nth raw block of each device */
        bool ha_discovery;   /* publish Home Assistant MQTT discovery for each device */
    } mqtt;                  /* [mqtt]: events and status to an MQTT broker (docs/FLEET.md) */
    struct {
        int idle_s; /* a treatment session ends after this many seconds without activity */
    } session;      /* [session]: treatment sessions (docs/EVENTS.md) */
    struct {
        char db[4096];                     /* the SQLite history database; empty: no history */
        char participant[STUDY_LABEL_MAX]; /* the participant of sessions no study names */
    } history; /* [history]: the history of sessions (docs/HISTORY.md) */
    config_device_t devices[CONFIG_MAX_DEVICES]; /* in file order */
    int n_devices;                               /* 0 is valid: the daemon still publishes status */
} config_t;

/* Receives one complete problem line, without a trailing newline, in the form
 *   FILE:LINE: [section] key: why
 * (file-level problems such as an unreadable or world-writable file are
 * "FILE: why"). The message is only valid during the call. */
typedef void (*config_error_fn)(const char *message, void *ctx);

/* Fills *cfg with every default: the values a file with empty [publish],
 * [log] and [record] sections would give, no devices, and an empty path. */
void config_set_defaults(config_t *cfg);

/* Reads and validates the INI file at path into *out. Every problem found is
 * reported, one line each, through on_error(message, ctx), or written to
 * stderr when on_error is NULL; parsing goes on after a problem so that one
 * run reports all of them.
 *
 * Returns 0 when the file is valid; otherwise the (positive) number of
 * problems reported; or a negative errno (-ENOENT, -EACCES, -EISDIR,
 * -ENAMETOOLONG...) when the file can't be read at all, which is reported
 * through on_error too. A file that others (world) may write is a problem:
 * anyone could point the daemon at another device or endpoint.
 *
 * *out is always written: on success it holds the file's settings with
 * defaults for the keys not given; after a failure its contents are
 * unspecified (but initialised) and must not be used.
 *
 * Main thread, at start-up; it allocates nothing and keeps no state. */
int config_load(const char *path, config_t *out, config_error_fn on_error, void *ctx);

/* As config_load, on the text[len] of a file already in memory (no
 * permission check, as there is no file); name stands for its path in
 * messages and in out->path. Never returns a negative errno other than
 * -ENAMETOOLONG (name too long) or -ENOMEM. Main thread. */
int config_load_buffer(const char *name, const char *text, size_t len, config_t *out,
                       config_error_fn on_error, void *ctx);

/* Writes *cfg (a valid configuration) to out as INI, every key of every
 * section, such that loading the text gives back the same settings (device
 * lines and the path aside). Returns 0, or -EIO when out reported an error. */
int config_write(const config_t *cfg, FILE *out);

/* Splits an [mqtt] broker address, mqtt://HOST[:PORT] or mqtts://HOST[:PORT]
 * (an IPv6 HOST in brackets), into host (host_size bytes, brackets removed),
 * port (default 1883, or 8883 for mqtts) and tls. Returns 0, -ERANGE for a
 * bad port, or -EINVAL. Any thread. */
int config_mqtt_broker_parse(const char *broker, char *host, size_t host_size, int *port,
                             bool *tls);

#endif
