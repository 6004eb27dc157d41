/* massaged: live data from smart bodywork tools.
 *
 * The main thread parses the command line and the configuration, starts the
 * modules in dependency order (publisher, pipeline thread, device readers),
 * then sleeps in sigsuspend until a signal handler has set a flag. SIGINT and
 * SIGTERM stop everything in reverse order and exit 0.
 */
#include "cli.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "notify.h"
#include "pipeline.h"
#include "stop_signal.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t reload_requested;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static void on_reload_signal(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: massaged --config FILE [--log-level LEVEL]\n"
            "       massaged --check-config FILE\n"
            "       massaged --help | --version\n"
            "\n"
            "Reads massage-ball and scraping-tool sensor streams from serial ports,\n"
            "detects holds, flexes, rocking, rolling and strokes, and publishes\n"
            "events on ZeroMQ (see docs/EVENTS.md).\n"
            "\n"
            "  -c, --config FILE        run with this configuration, in the foreground,\n"
            "                           until SIGINT or SIGTERM\n"
            "  -k, --check-config FILE  validate the configuration and exit: 0 if valid,\n"
            "                           else 1 with one line per problem\n"
            "  -l, --log-level LEVEL    error, warn, info or debug (overrides [log] level)\n"
            "  -h, --help               show this help\n"
            "  -V, --version            show the version\n");
}

static void print_config_error(const char *message, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "%s\n", message);
}

static int check_config(const char *path)
{
    config_t *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return 1;
    int rc = config_load(path, cfg, print_config_error, NULL);
    if (rc < 0) {
        free(cfg);
        return 1;
    }
    if (rc == 0)
        printf("%s: valid (%d device%s)\n", path, cfg->n_devices, cfg->n_devices == 1 ? "" : "s");
    free(cfg);
    return rc == 0 ? 0 : 1;
}

static void install_handlers(sigset_t *waitmask)
{
    signal_handle(SIGINT, on_stop_signal);
    signal_handle(SIGTERM, on_stop_signal);
    signal_handle(SIGHUP, on_reload_signal);
    signal(SIGPIPE, SIG_IGN);

    /* Block the signals everywhere but in sigsuspend, so that none is lost
     * between checking the flag and sleeping; threads started later inherit
     * the mask and never run the handlers. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, waitmask);
    sigdelset(waitmask, SIGINT);
    sigdelset(waitmask, SIGTERM);
    sigdelset(waitmask, SIGHUP);
}

/* Tells systemd (Type=notify) about the daemon's state; a no-op when not
 * started by systemd. */
static void notify(const char *state)
{
    int rc = notify_send(state);
    if (rc < 0)
        log_warn("cannot notify systemd (NOTIFY_SOCKET): %s", strerror(-rc));
}

static void log_config_error(const char *message, void *ctx)
{
    (void)ctx;
    log_error("reload: %s", message);
}

/* SIGHUP: re-reads the configuration; a bad one is refused, its problems
 * logged, and the running configuration kept. */
static void reload(pipeline_t *pipeline, const char *path)
{
    notify("RELOADING=1");
    log_info("SIGHUP: reloading %s", path);
    config_t *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        log_error("reload: out of memory; keeping the running configuration");
        notify("READY=1");
        return;
    }
    int rc = config_load(path, cfg, log_config_error, NULL);
    if (rc != 0) {
        log_error("reload: %s refused (%s); keeping the running configuration", path,
                  rc > 0 ? "problems above" : strerror(-rc));
    } else {
        log_set_level((log_level_t)cfg->log.level);
        pipeline_reload(pipeline, cfg);
    }
    free(cfg);
    notify("READY=1");
}

static int run(const char *path, const char *level_override)
{
    config_t *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        fprintf(stderr, "massaged: out of memory\n");
        return 1;
    }
    int rc = config_load(path, cfg, print_config_error, NULL);
    if (rc != 0) {
        if (rc > 0)
            fprintf(stderr, "massaged: %s: %d problem%s, not starting\n", path, rc,
                    rc == 1 ? "" : "s");
        free(cfg);
        return 1;
    }
    /* Under systemd stderr already is the journal: syslog too would log
     * every line twice, so "auto" then writes stderr with priority prefixes. */
    bool journal = log_stderr_is_journal();
    bool use_syslog = cfg->log.syslog == 1 ||
                      (cfg->log.syslog == -1 && !journal && !isatty(STDERR_FILENO));
    log_setup(true, use_syslog);
    log_set_journal_prefix(journal);
    log_set_level((log_level_t)cfg->log.level);
    if (level_override) {
        log_level_t level;
        if (log_level_parse(level_override, &level) != 0) {
            fprintf(stderr, "massaged: --log-level: unknown level '%s'\n", level_override);
            free(cfg);
            return 2;
        }
        log_set_level(level);
    }

    sigset_t waitmask;
    install_handlers(&waitmask);

    log_info("massaged %s starting with %s (%d device%s)", MASSAGED_VERSION, path,
             cfg->n_devices, cfg->n_devices == 1 ? "" : "s");
    int err = 0;
    pipeline_t *pipeline = pipeline_start(cfg, &err);
    if (!pipeline) {
        log_error("start-up failed: %s", strerror(-err));
        free(cfg);
        return 1;
    }
    control_t *control = NULL;
    if (cfg->control.rcs[0]) {
        control = control_start(cfg->control.rcs, cfg->record.dir, pipeline, &err);
        if (!control) {
            log_error("start-up failed: %s", strerror(-err));
            pipeline_stop(&pipeline);
            free(cfg);
            return 1;
        }
    }
    /* Start-up's transient memory (the configuration's parsing, the check
     * of the history database) goes back to the system: what stays
     * resident is the steady state's (docs/BENCHMARKS.md "Resident
     * memory"). */
    malloc_trim(0);
    notify("READY=1\nSTATUS=running");
    while (!stop_signal) {
        sigsuspend(&waitmask);
        if (reload_requested && !stop_signal) {
            reload_requested = 0;
            reload(pipeline, path);
        }
    }
    notify("STOPPING=1");
    log_info("%s received, stopping", strsignal(stop_signal));
    control_stop(&control);
    pipeline_stop(&pipeline);
    log_info("stopped");
    free(cfg);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'k'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *check_path = NULL, *level = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:k:l:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'k': check_path = optarg; break;
        case 'l': level = optarg; break;
        case 'V': printf("massaged %s\n", MASSAGED_VERSION); return 0;
        default: return cli_usage_status(opt, usage); /* --help, or a usage error */
        }
    }
    if (optind < argc) {
        fprintf(stderr, "massaged: unexpected argument '%s'\n", argv[optind]);
        return cli_usage_error(usage);
    }
    if (check_path)
        return check_config(check_path);
    if (!config_path)
        return cli_usage_error(usage);
    return run(config_path, level);
}
