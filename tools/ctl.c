/* massaged-ctl: a study's recording commands from a shell (docs/RECORDING.md,
 * "massaged-ctl").
 *
 *   massaged-ctl [--config FILE | --rcs HOST:PORT] record start [--participant P]
 *       [--session S] [--task T] [--run N] [--acquisition A] [--modality M]
 *       [--root DIR] [--template T]
 *   massaged-ctl ... record stop
 *   massaged-ctl ... record status
 *
 * It speaks the daemon's LabRecorder-compatible remote control ([control]
 * rcs) as a study script does: `filename {...}` with the options given,
 * then `start`; or `stop`; or massaged's `status` (a JSON object, printed
 * with a line end). Replies carry no line end, so the tool sends its lines,
 * half-closes the connection and reads until the daemon closes its side.
 */
#include "cli.h"
#include "config.h"
#include "netaddr.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_RCS "127.0.0.1:22345" /* LabRecorder's port */

static void usage(FILE *f)
{
    fputs("Usage: massaged-ctl [--config FILE | --rcs HOST:PORT] record start [OPTIONS]\n"
          "       massaged-ctl [--config FILE | --rcs HOST:PORT] record stop\n"
          "       massaged-ctl [--config FILE | --rcs HOST:PORT] record status\n"
          "Drives the daemon's recording through its remote control ([control] rcs of\n"
          "--config, or --rcs, or " DEFAULT_RCS ").\n"
          "start options (LabRecorder's filename options; unset ones keep their value):\n"
          "  --participant P  --session S  --task T  --run N  --acquisition A\n"
          "  --modality M     --root DIR   --template T (LabRecorder's %p %s %b %a %m %n)\n",
          f);
}

/* Appends " {name:value}" to line; a value holding braces or a line end
 * cannot travel in LabRecorder's grammar. */
static int option(char *line, size_t cap, const char *name, const char *value)
{
    if (strpbrk(value, "{}\r\n")) {
        fprintf(stderr, "massaged-ctl: --%s: '{', '}' and line ends cannot be sent\n", name);
        return -EINVAL;
    }
    size_t used = strlen(line);
    int n = snprintf(line + used, cap - used, " {%s:%s}", name, value);
    if (n < 0 || (size_t)n >= cap - used) {
        fprintf(stderr, "massaged-ctl: --%s: too long\n", name);
        return -ENAMETOOLONG;
    }
    return 0;
}

/* Sends the lines, half-closes, reads the replies until the daemon closes. */
static int converse(const char *rcs, const char *lines, char *reply, size_t cap)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char why[512];
    if (netaddr_resolve(rcs, &addr, &addr_len, why, sizeof why) != 0) {
        fprintf(stderr, "massaged-ctl: %s\n", why);
        return -EINVAL;
    }
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, addr_len) != 0) {
        fprintf(stderr, "massaged-ctl: cannot connect to %s: %s (is [control] rcs set?)\n", rcs,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -ECONNREFUSED;
    }
    size_t len = strlen(lines), done = 0;
    while (done < len) {
        ssize_t w = send(fd, lines + done, len - done, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            fprintf(stderr, "massaged-ctl: send: %s\n", strerror(errno));
            close(fd);
            return -EIO;
        }
        done += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t used = 0;
    for (;;) {
        ssize_t r = recv(fd, reply + used, cap - 1 - used, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        used += (size_t)r;
        if (used == cap - 1)
            break;
    }
    reply[used] = '\0';
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    enum { O_CONFIG = 1, O_RCS, O_LABEL };
    static const char *const labels[] = {"participant", "session",  "task", "run",
                                         "acquisition", "modality", "root", "template"};
    static const struct option global[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"rcs", required_argument, NULL, O_RCS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *rcs = NULL;
    int opt;
    /* "+": options stop at the first word, so the start options follow it. */
    while ((opt = getopt_long(argc, argv, "+h", global, NULL)) != -1) {
        switch (opt) {
        case O_CONFIG: config_path = optarg; break;
        case O_RCS: rcs = optarg; break;
        default: return cli_usage_status(opt, usage); /* --help, or a usage error */
        }
    }
    if (argc - optind < 2 || strcmp(argv[optind], "record") != 0)
        return cli_usage_error(usage);
    const char *verb = argv[optind + 1];
    static config_t cfg;
    if (!rcs && config_path) {
        if (config_load(config_path, &cfg, NULL, NULL) != 0)
            return 1;
        if (!cfg.control.rcs[0]) {
            fprintf(stderr, "massaged-ctl: %s: [control] rcs is not set\n", config_path);
            return 1;
        }
        rcs = cfg.control.rcs;
    }
    if (!rcs)
        rcs = DEFAULT_RCS;

    char filename[16000] = "filename";
    int given = 0;
    const char *line;
    if (strcmp(verb, "start") == 0) {
        struct option start_opts[sizeof labels / sizeof labels[0] + 1];
        for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
            start_opts[i] = (struct option){labels[i], required_argument, NULL, O_LABEL + (int)i};
        start_opts[sizeof labels / sizeof labels[0]] = (struct option){NULL, 0, NULL, 0};
        optind += 2;
        while ((opt = getopt_long(argc, argv, "", start_opts, NULL)) != -1) {
            /* getopt's '?' for an unknown option is no label either */
            if (opt < O_LABEL || opt >= O_LABEL + (int)(sizeof labels / sizeof labels[0]))
                return cli_usage_error(usage);
            if (option(filename, sizeof filename, labels[opt - O_LABEL], optarg) != 0)
                return 2;
            given++;
        }
        line = "start\n";
    } else if (strcmp(verb, "stop") == 0 || strcmp(verb, "status") == 0) {
        optind += 2;
        line = strcmp(verb, "stop") == 0 ? "stop\n" : "status\n";
    } else {
        return cli_usage_error(usage);
    }
    if (optind < argc) {
        fprintf(stderr, "massaged-ctl: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    /* The names first, on their own: a start after a refused filename would
     * record under the previous names. */
    char reply[65536];
    if (given) {
        strcat(filename, "\n");
        if (converse(rcs, filename, reply, sizeof reply) != 0)
            return 1;
        if (strcmp(reply, "OK") != 0) {
            fprintf(stderr, "massaged-ctl: %s\n", reply[0] ? reply : "no reply");
            return 1;
        }
    }
    if (converse(rcs, line, reply, sizeof reply) != 0)
        return 1;
    bool status = strcmp(verb, "status") == 0;
    if (status ? reply[0] != '{' : strcmp(reply, "OK") != 0) {
        fprintf(stderr, "massaged-ctl: %s\n", reply[0] ? reply : "no reply");
        return 1;
    }
    if (status)
        printf("%s\n", reply);
    return 0;
}
