/* test_config: config_load on real files in a temporary directory. Every
 * kind of problem is checked by its exact message, which must name the
 * file, the line, the section and key, and why. */
#include "check.h"
#include "config.h"
#include "log.h"
#include "test_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_MESSAGES 32

typedef struct {
    int n;
    char text[MAX_MESSAGES][1024];
} messages_t;

static void collect(const char *message, void *ctx)
{
    messages_t *m = ctx;
    CHECK(strchr(message, '\n') == NULL);
    if (m->n < MAX_MESSAGES)
        snprintf(m->text[m->n], sizeof m->text[m->n], "%s", message);
    m->n++;
}

static char dir[64];
static char path[256]; /* the file the last write_config made */
static config_t cfg;   /* static: it is large */
static messages_t msgs;

static void write_config(const char *name, const char *text, mode_t mode)
{
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        exit(1);
    fputs(text, f);
    fclose(f);
    CHECK_EQ_INT(chmod(path, mode), 0);
}

/* Writes text to NAME.ini and loads it; returns config_load's result. */
static int load_text(const char *name, const char *text)
{
    char file[128];
    snprintf(file, sizeof file, "%s.ini", name);
    write_config(file, text, 0644);
    memset(&msgs, 0, sizeof msgs);
    return config_load(path, &cfg, collect, &msgs);
}

/* Checks that message i is exactly "PATH:" followed by rest. */
static void check_message(int i, const char *rest)
{
    char want[1024];
    snprintf(want, sizeof want, "%s:%s", path, rest);
    if (i >= msgs.n) {
        fprintf(stderr, "missing message %d: %s\n", i, want);
        check_failures++;
        return;
    }
    CHECK_STR(msgs.text[i], want);
}

/* A file with exactly one problem, reported as rest. */
static void check_one_problem(const char *name, const char *text, const char *rest)
{
    int rc = load_text(name, text);
    CHECK_EQ_INT(rc, 1);
    CHECK_EQ_INT(msgs.n, 1);
    check_message(0, rest);
}

static int line_of(const char *file, const char *needle)
{
    FILE *f = fopen(file, "r");
    char line[512];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        n++;
        if (strstr(line, needle)) {
            fclose(f);
            return n;
        }
    }
    if (f)
        fclose(f);
    return -1;
}

static void test_example_file(void)
{
    const char *example = MASSAGED_SOURCE_DIR "/config/massaged.example.ini";
    memset(&msgs, 0, sizeof msgs);
    int rc = config_load(example, &cfg, collect, &msgs);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(msgs.n, 0);
    for (int i = 0; i < msgs.n && i < MAX_MESSAGES; i++)
        fprintf(stderr, "  %s\n", msgs.text[i]);
    CHECK_STR(cfg.path, example);
    CHECK_STR(cfg.publish.endpoint, "tcp://127.0.0.1:5556");
    CHECK_EQ_INT(cfg.publish.hwm, 10000);
    CHECK_EQ_INT(cfg.publish.status_interval_ms, 1000);
    CHECK_EQ_INT(cfg.log.level, LOG_LEVEL_INFO);
    CHECK_EQ_INT(cfg.log.syslog, -1);
    CHECK_STR(cfg.record.dir, "");
    CHECK_EQ_INT(cfg.record.rotate_mb, 256);
    CHECK_EQ_INT(cfg.record.rotate_minutes, 60);
    CHECK_EQ_INT(cfg.n_devices, 2);
    CHECK_STR(cfg.devices[0].name, "ball");
    CHECK_EQ_INT(cfg.devices[0].kind, DEVICE_KIND_BALL);
    CHECK_STR(cfg.devices[0].port, "auto");
    CHECK_EQ_INT(cfg.devices[0].baud, 921600);
    CHECK(cfg.devices[0].enabled);
    CHECK_EQ_INT(cfg.devices[0].line, line_of(example, "[device.ball]"));
    CHECK_STR(cfg.devices[1].name, "scraper");
    CHECK_EQ_INT(cfg.devices[1].kind, DEVICE_KIND_SCRAPER);
    CHECK_STR(cfg.devices[1].port, "auto");
    CHECK_EQ_INT(cfg.devices[1].baud, 921600);
    CHECK(cfg.devices[1].enabled);
    CHECK_EQ_INT(cfg.devices[1].line, line_of(example, "[device.scraper]"));

    /* The example promises that the values it shows are the defaults. */
    static config_t defaults;
    config_set_defaults(&defaults);
    CHECK(memcmp(&defaults.publish, &cfg.publish, sizeof cfg.publish) == 0);
    CHECK(memcmp(&defaults.log, &cfg.log, sizeof cfg.log) == 0);
    CHECK(memcmp(&defaults.record, &cfg.record, sizeof cfg.record) == 0);
    CHECK_EQ_INT(defaults.n_devices, 0);
}

static void test_every_key_set(void)
{
    /* A BOM, CRLF line ends, indentation, ':' as separator, both comment
     * styles and inline comments: all of what inih accepts. */
    int rc = load_text("every_key", "\xEF\xBB\xBF; every key, none at its default\r\n"
                                    "# hash comment\r\n"
                                    "[publish]\r\n"
                                    "  endpoint = ipc:///run/massaged/pub.sock ; inline comment\r\n"
                                    "\thwm: 42\r\n"
                                    "status_interval_ms=250\r\n"
                                    "batch_ms = 40\r\n"
                                    "\r\n"
                                    "[log]\r\n"
                                    "level = debug\r\n"
                                    "syslog = false\r\n"
                                    "[record]    ; trailing comment\r\n"
                                    "dir = /var/lib/massaged/rec;ords\r\n"
                                    "rotate_mb = 100000\r\n"
                                    "rotate_minutes = 1\r\n"
                                    "[device.left-ball_2]\r\n"
                                    "kind = ball\r\n"
                                    "port = /dev/ttyACM0\r\n"
                                    "baud = 115200\r\n"
                                    "enabled = false\r\n"
                                    "[device.S]\r\n"
                                    "port = /dev/pts/7\r\n"
                                    "kind = scraper\r\n"
                                    "baud = 4000000");
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(msgs.n, 0);
    for (int i = 0; i < msgs.n && i < MAX_MESSAGES; i++)
        fprintf(stderr, "  %s\n", msgs.text[i]);
    CHECK_STR(cfg.publish.endpoint, "ipc:///run/massaged/pub.sock");
    CHECK_EQ_INT(cfg.publish.hwm, 42);
    CHECK_EQ_INT(cfg.publish.status_interval_ms, 250);
    CHECK_EQ_INT(cfg.publish.batch_ms, 40);
    CHECK_EQ_INT(cfg.log.level, LOG_LEVEL_DEBUG);
    CHECK_EQ_INT(cfg.log.syslog, 0);
    CHECK_STR(cfg.record.dir, "/var/lib/massaged/rec;ords");
    CHECK_EQ_INT(cfg.record.rotate_mb, 100000);
    CHECK_EQ_INT(cfg.record.rotate_minutes, 1);
    CHECK_EQ_INT(cfg.n_devices, 2);
    CHECK_STR(cfg.devices[0].name, "left-ball_2");
    CHECK_EQ_INT(cfg.devices[0].kind, DEVICE_KIND_BALL);
    CHECK_STR(cfg.devices[0].port, "/dev/ttyACM0");
    CHECK_EQ_INT(cfg.devices[0].baud, 115200);
    CHECK(!cfg.devices[0].enabled);
    CHECK_EQ_INT(cfg.devices[0].line, 16);
    CHECK_STR(cfg.devices[1].name, "S");
    CHECK_EQ_INT(cfg.devices[1].kind, DEVICE_KIND_SCRAPER);
    CHECK_STR(cfg.devices[1].port, "/dev/pts/7");
    CHECK_EQ_INT(cfg.devices[1].baud, 4000000);
    CHECK(cfg.devices[1].enabled);
    CHECK_EQ_INT(cfg.devices[1].line, 21);
}

static void test_defaults_and_empty(void)
{
    CHECK_EQ_INT(load_text("empty", ""), 0);
    CHECK_EQ_INT(msgs.n, 0);
    CHECK_EQ_INT(cfg.n_devices, 0); /* valid: the daemon still publishes its status */
    CHECK_STR(cfg.publish.endpoint, "tcp://127.0.0.1:5556");
    CHECK_EQ_INT(cfg.log.syslog, -1);

    CHECK_EQ_INT(load_text("minimal", "[device.x]\nkind=scraper\nport=auto\n"), 0);
    CHECK_EQ_INT(cfg.n_devices, 1);
    CHECK_EQ_INT(cfg.devices[0].baud, 921600);
    CHECK(cfg.devices[0].enabled);
    CHECK_EQ_INT(cfg.publish.hwm, 10000);
    CHECK_EQ_INT(cfg.record.rotate_mb, 256);

    CHECK_STR(device_kind_name(DEVICE_KIND_BALL), "ball");
    CHECK_STR(device_kind_name(DEVICE_KIND_SCRAPER), "scraper");
    CHECK_STR(device_kind_name((device_kind_t)7), "unknown");
}

/* The configuration's names of the kinds are proto/device_kind's: every
 * kind it knows loads by its name, and the names it takes are those. */
static void test_kind_names(void)
{
    for (int k = 0; k < 256; k++) {
        if (!device_kind_info((device_kind_t)k))
            continue;
        char text[128];
        snprintf(text, sizeof text, "[device.x]\nkind = %s\nport = auto\n",
                 device_kind_name((device_kind_t)k));
        CHECK_EQ_INT(load_text("kind", text), 0);
        CHECK_EQ_INT(cfg.devices[0].kind, k);
    }
    device_kind_t kind;
    CHECK_EQ_INT(device_kind_parse("ball", &kind), 0);
    CHECK_EQ_INT(kind, DEVICE_KIND_BALL);
    CHECK_EQ_INT(device_kind_parse("scraper", &kind), 0);
    CHECK_EQ_INT(kind, DEVICE_KIND_SCRAPER);
    CHECK_EQ_INT(device_kind_parse("mat", &kind), -EINVAL);
}

static void test_unknown_section(void)
{
    /* The keys of an unknown section are not reported one by one. */
    check_one_problem("unknown_section", "[publish]\n[pubish]\nendpoint = x\n",
                      "2: [pubish]: unknown section (expected [publish], [log], [record], [auto], "
                      "[web], [control], [mqtt], [session], [history] or [device.NAME])");
    check_one_problem("empty_section", "[]\n",
                      "1: []: unknown section (expected [publish], [log], [record], [auto], "
                      "[web], [control], [mqtt], [session], [history] or [device.NAME])");
}

static void test_unknown_key(void)
{
    check_one_problem("unknown_key", "[publish]\nendpiont = tcp://*:1\n",
                      "2: [publish] endpiont: unknown key (expected one of: endpoint, hwm, "
                      "status_interval_ms, batch_ms, curve_secret_key_file, curve_clients_file)");
    check_one_problem("unknown_device_key", "[device.a]\nkind=ball\nport=auto\nspeed = 9600\n",
                      "4: [device.a] speed: unknown key (expected one of: kind, port, baud, "
                      "enabled, driver)");
    check_one_problem("key_outside", "hwm = 5\n[publish]\n", "1: hwm: outside any section");
}

static void test_bad_number(void)
{
    check_one_problem("bad_number", "[publish]\nhwm = lots\n",
                      "2: [publish] hwm: 'lots' is not a whole number");
    check_one_problem("trailing_garbage", "[record]\n\nrotate_mb = 12MB\n",
                      "3: [record] rotate_mb: '12MB' is not a whole number");
    check_one_problem("hex_number", "[record]\nrotate_mb = 0x10\n",
                      "2: [record] rotate_mb: '0x10' is not a whole number");
    check_one_problem("fraction", "[publish]\nstatus_interval_ms = 1.5\n",
                      "2: [publish] status_interval_ms: '1.5' is not a whole number");
    check_one_problem("empty_number", "[publish]\nhwm =\n",
                      "2: [publish] hwm: empty; expected a whole number from 1 to 10000000");
    check_one_problem("overflow", "[publish]\nhwm = 99999999999999999999999\n",
                      "2: [publish] hwm: 99999999999999999999999 is out of range 1..10000000");
}

static void test_out_of_range(void)
{
    check_one_problem("below", "[publish]\nstatus_interval_ms = 99\n",
                      "2: [publish] status_interval_ms: 99 is out of range 100..60000");
    check_one_problem("above", "[record]\nrotate_minutes = 10081\n",
                      "2: [record] rotate_minutes: 10081 is out of range 1..10080");
    check_one_problem("negative", "[publish]\nhwm = -1\n",
                      "2: [publish] hwm: -1 is out of range 1..10000000");
    check_one_problem("baud_range", "[device.a]\nkind=ball\nport=auto\nbaud=4800\n",
                      "4: [device.a] baud: 4800 is out of range 9600..4000000");
    check_one_problem("baud_odd", "[device.a]\nkind=ball\nport=auto\nbaud=921601\n",
                      "4: [device.a] baud: 921601 is not a standard rate (one of 9600 19200 "
                      "38400 57600 115200 230400 460800 500000 576000 921600 1000000 1152000 "
                      "1500000 2000000 2500000 3000000 3500000 4000000)");
}

static void test_bad_enum(void)
{
    check_one_problem("bad_level", "[log]\nlevel = verbose\n",
                      "2: [log] level: 'verbose' is not one of: error, warn, info, debug");
    check_one_problem("bad_syslog", "[log]\nsyslog = yes\n",
                      "2: [log] syslog: 'yes' is not one of: false, true, auto");
    check_one_problem("bad_kind", "[device.a]\nkind = roller\nport = auto\n",
                      "2: [device.a] kind: 'roller' is not one of: ball, scraper");
    check_one_problem("bad_bool", "[device.a]\nkind = ball\nport = auto\nenabled = 1\n",
                      "4: [device.a] enabled: '1' is not true or false");
    /* [control] rcs: empty is off; otherwise HOST:PORT as [web] listen. */
    check_one_problem("bad_rcs", "[control]\nrcs = 22345\n",
                      "2: [control] rcs: missing :PORT after the host");
    check_one_problem("bad_rcs_port", "[control]\nrcs = 127.0.0.1:99999\n",
                      "2: [control] rcs: port '99999' is not a number from 1 to 65535");
    /* '#' starts a comment only at the start of a line. */
    check_one_problem("hash_inline", "[log]\nlevel = warn # quiet\n",
                      "2: [log] level: 'warn # quiet' is not one of: error, warn, info, debug");
}

static void test_bad_port(void)
{
    check_one_problem("relative_port", "[device.a]\nkind = ball\nport = ttyACM0\n",
                      "3: [device.a] port: 'ttyACM0' is neither an absolute path (such as "
                      "/dev/ttyACM0) nor auto");
    check_one_problem(
        "empty_port", "[device.a]\nkind = ball\nport =\n",
        "3: [device.a] port: empty; expected an absolute path such as /dev/ttyACM0, or auto");
}

static void test_missing_required(void)
{
    /* Named at the section's header line, one line per missing key. */
    int rc = load_text("missing", "[publish]\n\n[device.lonely]\nbaud = 9600\n[device.b]\n"
                                  "kind = ball\n");
    CHECK_EQ_INT(rc, 3);
    CHECK_EQ_INT(msgs.n, 3);
    check_message(0, "3: [device.lonely] kind: missing (required; the section starts at this "
                     "line)");
    check_message(1, "3: [device.lonely] port: missing (required; the section starts at this "
                     "line)");
    check_message(2, "5: [device.b] port: missing (required; the section starts at this line)");
}

static void test_duplicates(void)
{
    check_one_problem("dup_device",
                      "[device.ball]\nkind=ball\nport=auto\n\n[device.ball]\nkind=scraper\n",
                      "5: [device.ball]: duplicate device name 'ball' (first at line 1)");
    check_one_problem("dup_key", "[publish]\nhwm = 5\nendpoint = tcp://*:1\nhwm = 6\n",
                      "4: [publish] hwm: duplicate key (first set at line 2)");
    CHECK_EQ_INT(cfg.publish.hwm, 5);
    check_one_problem("dup_device_key", "[device.a]\nkind=ball\nport=auto\nkind=ball\n",
                      "4: [device.a] kind: duplicate key (first set at line 2)");
    check_one_problem("dup_section", "[log]\nlevel=warn\n[record]\n[log]\nlevel=debug\n",
                      "4: [log]: duplicate section (first at line 1)");
    check_one_problem("dup_port",
                      "[device.a]\nkind=ball\nport=/dev/ttyUSB0\n"
                      "[device.b]\nkind=scraper\nport=/dev/ttyUSB0\n",
                      "6: [device.b] port: '/dev/ttyUSB0' is already the port of [device.a] "
                      "(line 1)");
    /* "auto" ports and disabled devices never clash. */
    CHECK_EQ_INT(load_text("shared_ok", "[device.a]\nkind=ball\nport=auto\n"
                                        "[device.b]\nkind=scraper\nport=auto\n"
                                        "[device.c]\nkind=ball\nport=/dev/x\n"
                                        "[device.d]\nkind=ball\nport=/dev/x\nenabled=false\n"),
                 0);
    CHECK_EQ_INT(cfg.n_devices, 4);
}

static void test_bad_endpoint(void)
{
    static const struct {
        const char *endpoint, *why;
    } bad[] = {
        {"tcp://127.0.0.1", "missing :PORT after the host"},
        {"tcp://127.0.0.1:", "missing port number after ':'"},
        {"tcp://127.0.0.1:0", "port '0' is not a number from 1 to 65535"},
        {"tcp://127.0.0.1:65536", "port '65536' is not a number from 1 to 65535"},
        {"tcp://*:55x", "port '55x' is not a number from 1 to 65535"},
        {"tcp://*:*", "port '*' is not a number from 1 to 65535"},
        {"tcp://:5556", "missing host before :PORT (use * for every interface)"},
        {"tcp://300.1.2.3:5556", "'300.1.2.3' is not a valid IPv4 address"},
        {"tcp://1.2.3:5556", "'1.2.3' is not a valid IPv4 address"},
        {"tcp://::1:5556", "an IPv6 address must be in brackets, as in tcp://[::1]:5556"},
        {"tcp://[::1:5556", "'[' of an IPv6 address is not closed by ']'"},
        {"tcp://[::1]5556", "missing :PORT after the host"},
        {"tcp://[fe80::zz]:1", "'fe80::zz' is not a valid IPv6 address"},
        {"tcp://my_host:1",
         "host 'my_host' is not an IP address, *, localhost or a host or interface name"},
        {"tcp://-pi.local:1",
         "host '-pi.local' is not an IP address, *, localhost or a host or interface name"},
        {"tcp://pi..local:1",
         "host 'pi..local' is not an IP address, *, localhost or a host or interface name"},
        {"ipc://", "missing path after ipc://"},
        {"ipc:///tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock",
         "ipc path longer than 107 characters"},
        {"udp://127.0.0.1:5556", "transport 'udp' is not supported (use tcp:// or ipc://)"},
        {"inproc://events", "transport 'inproc' is not supported (use tcp:// or ipc://)"},
        {"127.0.0.1:5556",
         "'127.0.0.1:5556' is not an endpoint (expected tcp://HOST:PORT or ipc://PATH)"},
        {"", "empty; expected tcp://HOST:PORT or ipc://PATH"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512], rest[512];
        snprintf(text, sizeof text, "; endpoint %zu\n[publish]\nendpoint = %s\n", i,
                 bad[i].endpoint);
        snprintf(rest, sizeof rest, "3: [publish] endpoint: %s", bad[i].why);
        check_one_problem("bad_endpoint", text, rest);
    }
    static const char *const good[] = {
        "tcp://*:5556",        "tcp://localhost:1",   "tcp://[::1]:5556",
        "tcp://[::]:65535",    "tcp://eth0:5556",     "tcp://pi-4.local:5556",
        "tcp://10.0.0.7:5556", "ipc:///tmp/pub.sock", "ipc://@massaged",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "[publish]\nendpoint = %s\n", good[i]);
        CHECK_EQ_INT(load_text("good_endpoint", text), 0);
        CHECK_STR(cfg.publish.endpoint, good[i]);
    }
}

static void test_bad_device_name(void)
{
    static const struct {
        const char *header, *name;
    } bad[] = {
        {"[device.]", ""},
        {"[device.my ball]", "my ball"},
        {"[device.a.b]", "a.b"},
        {"[device.b*]", "b*"},
        {"[device.abcdefghijklmnopqrstuvwxyz012345]", "abcdefghijklmnopqrstuvwxyz012345"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256], rest[512];
        snprintf(text, sizeof text, "\n%s\nkind = ball\nport = auto\n", bad[i].header);
        snprintf(rest, sizeof rest,
                 "2: %s: bad device name '%s': use 1 to 31 letters, digits, '_' or '-'",
                 bad[i].header, bad[i].name);
        check_one_problem("bad_device_name", text, rest);
        CHECK_EQ_INT(cfg.n_devices, 0);
    }
    /* 31 characters is the longest name. */
    CHECK_EQ_INT(load_text("long_name", "[device.abcdefghijklmnopqrstuvwxyz01234]\nkind=ball\n"
                                        "port=auto\n"),
                 0);
    CHECK_STR(cfg.devices[0].name, "abcdefghijklmnopqrstuvwxyz01234");
}

static void test_too_many_devices(void)
{
    char text[4096] = "";
    size_t used = 0;
    for (int i = 0; i <= CONFIG_MAX_DEVICES; i++)
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "[device.d%d]\nkind=ball\nport=auto\n", i);
    char rest[128];
    snprintf(rest, sizeof rest, "%d: [device.d%d]: too many devices (at most %d)",
             3 * CONFIG_MAX_DEVICES + 1, CONFIG_MAX_DEVICES, CONFIG_MAX_DEVICES);
    check_one_problem("too_many", text, rest);
    CHECK_EQ_INT(cfg.n_devices, CONFIG_MAX_DEVICES);
}

static void test_syntax(void)
{
    check_one_problem("no_equals", "[publish]\nhwm 5\n",
                      "2: expected 'key = value', a [section] header or a comment, not 'hwm 5'");
    check_one_problem("unclosed", "[publish\nhwm = x\n", "1: section header without a closing ']'");
    check_one_problem("header_junk", "[log] level = debug\nlevel = x\n",
                      "1: unexpected text after the section header: 'level = debug'");
    char text[1024] = "[record]\ndir = /";
    memset(text + strlen(text), 'a', 400);
    strcat(text, "\nrotate_mb = 1\n");
    int rc = load_text("long_line", text);
    CHECK_EQ_INT(rc, 1);
    CHECK_EQ_INT(msgs.n, 1);
    CHECK(msgs.n == 1 && strstr(msgs.text[0], ":2: line longer than ") != NULL);
    CHECK_EQ_INT(cfg.record.rotate_mb, 1); /* the lines after it still count */
    write_config("nul.ini", "", 0644);
    FILE *f = fopen(path, "w");
    fwrite("[log]\nlevel = de\0bug\nsyslog = true\n", 1, 35, f);
    fclose(f);
    memset(&msgs, 0, sizeof msgs);
    CHECK_EQ_INT(config_load(path, &cfg, collect, &msgs), 1);
    check_message(0, "2: line contains a NUL byte");
    CHECK_EQ_INT(cfg.log.syslog, 1);
}

static void test_world_writable(void)
{
    write_config("world.ini", "[publish]\nhwm = 7\n", 0666);
    memset(&msgs, 0, sizeof msgs);
    CHECK_EQ_INT(config_load(path, &cfg, collect, &msgs), 1);
    CHECK_EQ_INT(msgs.n, 1);
    check_message(0, " refused: anyone may write this file (mode 0666); run chmod o-w on it");
    /* Group-writable is the administrator's choice. */
    write_config("group.ini", "[publish]\nhwm = 7\n", 0664);
    CHECK_EQ_INT(config_load(path, &cfg, collect, &msgs), 0);
    CHECK_EQ_INT(cfg.publish.hwm, 7);
}

static void test_unreadable(void)
{
    snprintf(path, sizeof path, "%s/does-not-exist.ini", dir);
    memset(&msgs, 0, sizeof msgs);
    CHECK_EQ_INT(config_load(path, &cfg, collect, &msgs), -ENOENT);
    CHECK_EQ_INT(msgs.n, 1);
    check_message(0, " cannot read: No such file or directory");

    snprintf(path, sizeof path, "%s", dir);
    memset(&msgs, 0, sizeof msgs);
    CHECK_EQ_INT(config_load(path, &cfg, collect, &msgs), -EISDIR);
    CHECK_EQ_INT(msgs.n, 1);
    check_message(0, " cannot read: Is a directory");

    write_config("secret.ini", "[publish]\n", 0000);
    memset(&msgs, 0, sizeof msgs);
    if (geteuid() == 0) {
        fprintf(stderr, "running as root: skipping the mode 0000 case\n");
    } else {
        CHECK_EQ_INT(config_load(path, &cfg, collect, &msgs), -EACCES);
        check_message(0, " cannot read: Permission denied");
    }
}

static void test_many_problems(void)
{
    int rc = load_text("many", "[publish]\n"                /* 1 */
                               "endpoint = tcp://*:99999\n" /* 2 */
                               "hwm = 0\n"                  /* 3 */
                               "colour = blue\n"            /* 4 */
                               "[log]\n"                    /* 5 */
                               "level = loud\n"             /* 6 */
                               "level = info\n"             /* 7 */
                               "[recording]\n"              /* 8 */
                               "dir = /tmp\n"               /* 9 */
                               "[device.ball]\n"            /* 10 */
                               "kind = ball\n"              /* 11 */
                               "baud = fast\n"              /* 12 */
                               "[device.ball]\n"            /* 13 */
                               "[device.bad name]\n"        /* 14 */
                               "port = /dev/ttyACM0\n"      /* 15 */
                               "oops\n");                   /* 16 */
    const char *expected[] = {
        "2: [publish] endpoint: port '99999' is not a number from 1 to 65535",
        "3: [publish] hwm: 0 is out of range 1..10000000",
        "4: [publish] colour: unknown key (expected one of: endpoint, hwm, status_interval_ms, "
        "batch_ms, curve_secret_key_file, curve_clients_file)",
        "6: [log] level: 'loud' is not one of: error, warn, info, debug",
        "7: [log] level: duplicate key (first set at line 6)",
        "8: [recording]: unknown section (expected [publish], [log], [record], [auto], "
        "[web], [control], [mqtt], [session], [history] or [device.NAME])",
        "12: [device.ball] baud: 'fast' is not a whole number",
        "13: [device.ball]: duplicate device name 'ball' (first at line 10)",
        "14: [device.bad name]: bad device name 'bad name': use 1 to 31 letters, digits, '_' "
        "or '-'",
        "16: expected 'key = value', a [section] header or a comment, not 'oops'",
        "10: [device.ball] port: missing (required; the section starts at this line)",
    };
    int n = (int)(sizeof expected / sizeof expected[0]);
    CHECK_EQ_INT(rc, n);
    CHECK_EQ_INT(msgs.n, n);
    for (int i = 0; i < n; i++)
        check_message(i, expected[i]);
}

static void test_stderr_when_no_callback(void)
{
    /* Without a callback the lines go to stderr; capture them in a file. */
    write_config("to_stderr.ini", "[log]\nlevel = x\n", 0644);
    char config_path[256], capture[256];
    snprintf(config_path, sizeof config_path, "%s", path);
    snprintf(capture, sizeof capture, "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, STDERR_FILENO);
    close(fd);
    int rc = config_load(config_path, &cfg, NULL, NULL);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    CHECK_EQ_INT(rc, 1);
    char got[1024] = "", want[1024];
    FILE *f = fopen(capture, "r");
    if (f) {
        size_t n = fread(got, 1, sizeof got - 1, f);
        got[n] = '\0';
        fclose(f);
    }
    snprintf(want, sizeof want, "%s:2: [log] level: 'x' is not one of: error, warn, info, debug\n",
             config_path);
    CHECK_STR(got, want);
}

/* config_write's text loads back to the same settings, also for a value
 * inih would take for a comment if written after a space, and for a value
 * as long as a line may hold (both found by fuzz_config). */
static void test_write_round_trip(void)
{
    CHECK_EQ_INT(load_text("semicolon", "[auto]\nextra_ports =;ev/rfc*\n"
                                        "[device.b]\nkind = ball\nport = auto\n"),
                 0);
    CHECK_STR(cfg.autodetect.extra_ports, ";ev/rfc*");
    char text[8192];
    FILE *f = fmemopen(text, sizeof text, "w");
    CHECK(f != NULL);
    CHECK_EQ_INT(config_write(&cfg, f), 0);
    long len = ftell(f);
    fclose(f);
    text[len] = '\0';
    CHECK(strstr(text, "extra_ports=;ev/rfc*\n") != NULL);
    static config_t again;
    CHECK_EQ_INT(config_load_buffer("written", text, (size_t)len, &again, collect, &msgs), 0);
    CHECK_STR(again.autodetect.extra_ports, ";ev/rfc*");
    CHECK_STR(again.devices[0].port, "auto");

    /* "port=" and the value fill the longest line the reader takes. */
    char input[512], port[256];
    int n = snprintf(port, sizeof port, "/dev/");
    while (n < 198 - (int)strlen("port="))
        port[n++] = 'p';
    port[n] = '\0';
    snprintf(input, sizeof input, "[device.b]\nkind = ball\nport=%s\n", port);
    CHECK_EQ_INT(load_text("longest", input), 0);
    f = fmemopen(text, sizeof text, "w");
    CHECK(f != NULL);
    CHECK_EQ_INT(config_write(&cfg, f), 0);
    len = ftell(f);
    fclose(f);
    CHECK_EQ_INT(config_load_buffer("written", text, (size_t)len, &again, collect, &msgs), 0);
    CHECK_STR(again.devices[0].port, port);
}

static void test_mqtt(void)
{
    char host[256];
    int port;
    bool tls;
    CHECK_EQ_INT(config_mqtt_broker_parse("mqtt://broker.local", host, sizeof host, &port, &tls),
                 0);
    CHECK_STR(host, "broker.local");
    CHECK_EQ_INT(port, 1883);
    CHECK(!tls);
    CHECK_EQ_INT(config_mqtt_broker_parse("mqtts://[::1]:9883", host, sizeof host, &port, &tls), 0);
    CHECK_STR(host, "::1");
    CHECK_EQ_INT(port, 9883);
    CHECK(tls);
    CHECK_EQ_INT(config_mqtt_broker_parse("mqtts://h", host, sizeof host, &port, &tls), 0);
    CHECK_EQ_INT(port, 8883);
    CHECK_EQ_INT(config_mqtt_broker_parse("mqtt://h:0", host, sizeof host, &port, &tls), -ERANGE);
    CHECK_EQ_INT(config_mqtt_broker_parse("tcp://h:1883", host, sizeof host, &port, &tls), -EINVAL);

    char pw[300];
    snprintf(pw, sizeof pw, "%s/mqtt.pw", dir);
    write_config("mqtt.pw", "s3cret\nignored\n", 0600);
    char text[1024];
    snprintf(text, sizeof text,
             "[mqtt]\nbroker = mqtt://10.0.0.2:1884\nsite = room-3\nusername = room-3\n"
             "password_file = %s\nqueue_kib = 64\nraw_every = 10\n",
             pw);
    CHECK_EQ_INT(load_text("mqtt_ok", text), 0);
    CHECK_STR(cfg.mqtt.broker, "mqtt://10.0.0.2:1884");
    CHECK_STR(cfg.mqtt.site, "room-3");
    CHECK_STR(cfg.mqtt.password, "s3cret");
    CHECK_EQ_INT(cfg.mqtt.queue_kib, 64);
    CHECK_EQ_INT(cfg.mqtt.raw_every, 10);
    CHECK_EQ_INT(cfg.mqtt.keepalive_s, 30);
    CHECK_EQ_INT(cfg.mqtt.protocol, 5);
    CHECK(!cfg.mqtt.ha_discovery);
    CHECK_EQ_INT(load_text("mqtt_311", "[mqtt]\nprotocol = 3.1.1\n"), 0);
    CHECK_EQ_INT(cfg.mqtt.protocol, 4);

    check_one_problem("mqtt_scheme", "[mqtt]\nbroker = http://x\n",
                      "2: [mqtt] broker: 'http://x' is not a broker address (expected "
                      "mqtt://HOST[:PORT] or mqtts://HOST[:PORT], e.g. mqtt://broker.local:1883)");
    check_one_problem("mqtt_port", "[mqtt]\nbroker = mqtt://x:99999\n",
                      "2: [mqtt] broker: 'mqtt://x:99999': the port is not a number from 1 to "
                      "65535");
    check_one_problem("mqtt_site", "[mqtt]\nsite = a/b\n",
                      "2: [mqtt] site: 'a/b' may not contain '/' (it is one MQTT topic level)");
    check_one_problem("mqtt_cert", "[mqtt]\ncert_file = /dev/null\n",
                      "2: [mqtt] key_file: missing: a client certificate needs both cert_file "
                      "and key_file");
    write_config("mqtt-open.pw", "s3cret\n", 0640);
    snprintf(text, sizeof text, "[log]\n[mqtt]\npassword_file = %s/mqtt-open.pw\n", dir);
    char want[600];
    snprintf(want, sizeof want,
             "3: [mqtt] password_file: refused: group or others may access the password file "
             "'%s/mqtt-open.pw' (mode 0640); run chmod 600 on it",
             dir);
    check_one_problem("mqtt_mode", text, want);
    snprintf(text, sizeof text, "[mqtt]\nca_file = %s/none.pem\n", dir);
    snprintf(want, sizeof want, "2: [mqtt] ca_file: cannot read '%s/none.pem': %s", dir,
             strerror(ENOENT));
    check_one_problem("mqtt_ca", text, want);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_config.XXXXXX");
    test_dir_make(dir);
    test_example_file();
    test_every_key_set();
    test_defaults_and_empty();
    test_kind_names();
    test_unknown_section();
    test_unknown_key();
    test_bad_number();
    test_out_of_range();
    test_bad_enum();
    test_bad_port();
    test_missing_required();
    test_duplicates();
    test_bad_endpoint();
    test_bad_device_name();
    test_too_many_devices();
    test_syntax();
    test_world_writable();
    test_unreadable();
    test_many_problems();
    test_stderr_when_no_callback();
    test_write_round_trip();
    test_mqtt();
    test_dir_remove(dir);
    return CHECK_DONE();
}
