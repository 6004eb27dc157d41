#include "control.h"

#include "json.h"
#include "log.h"
#include "netaddr.h"
#include "recorder.h"
#include "study.h"
#include "worker.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* LabRecorder's BIDS template (mainwindow.cpp, buildBidsTemplate), used
 * until a `filename {template:..}` gives a legacy one; the _acq-%a part only
 * when an acquisition is set. */
#define BIDS_DIRS "sub-%p/ses-%s/%m/"
#define BIDS_NAME "sub-%p_ses-%s_task-%b"
#define BIDS_ACQ "_acq-%a"
#define BIDS_TAIL "_run-%r_%m.xdf"
/* The labels LabRecorder fills in when BIDS naming finds them empty, and
 * massaged's modality (LabRecorder's first is eeg; these tools record motion). */
#define DEFAULT_PARTICIPANT "P001"
#define DEFAULT_SESSION "S001"
#define DEFAULT_TASK "Default"
#define DEFAULT_MODALITY "motion"
#define MODALITY_MAX 32
#define RUN_MAX 999999

/* What `filename` sets and `start` uses: LabRecorder's window fields. */
typedef struct {
    char root[4096];
    char template_[1024]; /* "" : BIDS naming */
    char participant[STUDY_LABEL_MAX];
    char session[STUDY_LABEL_MAX];
    char task[STUDY_LABEL_MAX];
    char acquisition[STUDY_LABEL_MAX];
    char modality[MODALITY_MAX];
    int run;
} study_t;

typedef struct {
    int fd;             /* -1: a free entry */
    char in[CONTROL_LINE_MAX];
    size_t used;
    bool overlong;      /* discarding the rest of a line that did not fit */
} client_t;

struct control {
    int listen_fd;
    worker_t worker; /* woken only to stop */
    pipeline_t *pipeline;
    /* Control thread only from here on. */
    client_t clients[CONTROL_MAX_CLIENTS];
    study_t study;
    bool recording; /* a start was sent and no stop since */
    recorder_command_t command;
};

/* ---------------------------------------------------------- replies */

static void reply(client_t *c, const char *text)
{
    if (c->fd < 0)
        return;
    size_t len = strlen(text);
    ssize_t w = send(c->fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w != (ssize_t)len) {
        /* A client that leaves kilobytes of replies unread is not reading:
         * it is let go rather than waited for. */
        log_warn("control: a client does not read its replies; closing it");
        close(c->fd);
        c->fd = -1;
    }
}

static void reply_error(client_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_error(client_t *c, const char *fmt, ...)
{
    char text[600] = "ERROR: ";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + 7, sizeof text - 7, fmt, ap);
    va_end(ap);
    log_info("control: %s", text);
    reply(c, text);
}

/* ---------------------------------------------------------- commands */

/* A label goes into directory and file names: no separators, no control
 * characters, no "." or "..", and it must fit. */
static const char *check_label(const char *value, size_t cap)
{
    if (strlen(value) >= cap)
        return "too long";
    for (const char *s = value; *s; s++)
        if (*s == '/' || *s == '\\' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return "may not hold '/', '\\' or control characters";
    if (strcmp(value, ".") == 0 || strcmp(value, "..") == 0)
        return "may not be '.' or '..'";
    return NULL;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Windows paths from a study PC's script: LabRecorder takes either
 * separator there; the daemon's file system knows only '/'. */
static void slashes(char *s)
{
    for (; *s; s++)
        if (*s == '\\')
            *s = '/';
}

/* The labels of the study's names as they stand. */
static void labels_of(const study_t *st, study_labels_t *l)
{
    memset(l, 0, sizeof *l);
    snprintf(l->participant, sizeof l->participant, "%s", st->participant);
    snprintf(l->session, sizeof l->session, "%s", st->session);
    snprintf(l->task, sizeof l->task, "%s", st->task);
    snprintf(l->run, sizeof l->run, "%03d", st->run);
    snprintf(l->acquisition, sizeof l->acquisition, "%s", st->acquisition);
}

/* `filename {option:value} ...`: every option is checked before any is
 * applied, so a bad line changes nothing. */
static void cmd_filename(control_t *ctl, client_t *c, const char *args)
{
    study_t next = ctl->study;
    const char *s = args;
    int options = 0;
    for (;;) {
        while (isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        if (*s != '{') {
            reply_error(c, "filename: expected {option:value} at '%.40s'", s);
            return;
        }
        const char *key = ++s;
        while (isalnum((unsigned char)*s) || *s == '_')
            s++;
        size_t key_len = (size_t)(s - key);
        if (key_len == 0 || *s != ':') {
            reply_error(c, "filename: expected {option:value} at '{%.40s'", key);
            return;
        }
        const char *value = ++s;
        const char *close = strchr(value, '}');
        const char *open = strchr(value, '{');
        if (!close || (open && open < close)) {
            reply_error(c, "filename: {%.*s:...} has no closing '}'", (int)key_len, key);
            return;
        }
        char v[4096];
        size_t value_len = (size_t)(close - value);
        char name[16];
        snprintf(name, sizeof name, "%.*s", (int)(key_len < 15 ? key_len : 15), key);
        lower(name);
        if (value_len >= sizeof v) {
            reply_error(c, "filename: {%s:...} is too long", name);
            return;
        }
        memcpy(v, value, value_len);
        v[value_len] = '\0';
        s = close + 1;
        options++;
        const char *why = NULL;
        if (key_len >= sizeof name) {
            why = "unknown option";
        } else if (strcmp(name, "root") == 0) {
            slashes(v);
            if (value_len >= sizeof next.root)
                why = "too long";
            else
                memcpy(next.root, v, value_len + 1);
        } else if (strcmp(name, "template") == 0) {
            /* LabRecorder lowercases a template (value.toLower()). */
            lower(v);
            slashes(v);
            if (value_len >= sizeof next.template_)
                why = "too long";
            else
                memcpy(next.template_, v, value_len + 1);
        } else if (strcmp(name, "run") == 0) {
            char *end;
            long run = strtol(v, &end, 10);
            if (v[0] == '\0' || *end != '\0' || run < 0 || run > RUN_MAX)
                why = "not a whole number from 0 to 999999";
            else
                next.run = (int)run;
        } else {
            struct {
                const char *option;
                char *field;
                size_t cap;
            } labels[] = {
                {"participant", next.participant, sizeof next.participant},
                {"session", next.session, sizeof next.session},
                {"task", next.task, sizeof next.task},
                {"acquisition", next.acquisition, sizeof next.acquisition},
                {"modality", next.modality, sizeof next.modality},
            };
            why = "unknown option";
            for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
                if (strcmp(name, labels[i].option) != 0)
                    continue;
                if (strcmp(name, "modality") == 0)
                    lower(v); /* as LabRecorder */
                why = check_label(v, labels[i].cap);
                if (!why)
                    snprintf(labels[i].field, labels[i].cap, "%s", v);
                break;
            }
        }
        if (why) {
            reply_error(c, "filename: {%.*s:%.80s}: %s", (int)key_len, key, v, why);
            return;
        }
    }
    if (options == 0) {
        reply_error(c, "filename: no {option:value} given");
        return;
    }
    ctl->study = next;
    /* The history's rows carry the names from now on (treatment sessions
     * ending meanwhile belong to the study as named). */
    study_labels_t labels;
    labels_of(&ctl->study, &labels);
    pipeline_set_study(ctl->pipeline, &labels);
    reply(c, "OK");
}

/* Appends text[0..len) to out, keeping within cap; false when it did not fit. */
static bool append(char *out, size_t cap, size_t *used, const char *text, size_t len)
{
    if (*used + len >= cap)
        return false;
    memcpy(out + *used, text, len);
    *used += len;
    out[*used] = '\0';
    return true;
}

/* The file a start records to: root/template with LabRecorder's
 * placeholders replaced (%p participant, %s session, %b task, %a
 * acquisition, %m modality, and the run as three digits for %r in BIDS
 * naming, %n in a legacy template). Returns NULL or why not. */
static const char *study_path(control_t *ctl, char *out, size_t cap)
{
    study_t *st = &ctl->study;
    bool bids = st->template_[0] == '\0';
    if (bids) {
        /* LabRecorder fills the fields BIDS needs (buildBidsTemplate). */
        if (!st->participant[0])
            snprintf(st->participant, sizeof st->participant, DEFAULT_PARTICIPANT);
        if (!st->session[0])
            snprintf(st->session, sizeof st->session, DEFAULT_SESSION);
        if (!st->task[0])
            snprintf(st->task, sizeof st->task, DEFAULT_TASK);
        if (!st->modality[0])
            snprintf(st->modality, sizeof st->modality, DEFAULT_MODALITY);
    }
    if (!st->root[0])
        return "no study root: send filename {root:DIR} or set [record] dir";
    char tpl[1100];
    if (bids)
        snprintf(tpl, sizeof tpl, "%s%s%s%s", BIDS_DIRS, BIDS_NAME, st->acquisition[0] ? BIDS_ACQ : "",
                 BIDS_TAIL);
    else
        snprintf(tpl, sizeof tpl, "%s", st->template_);
    char run[16];
    snprintf(run, sizeof run, "%03d", st->run);
    size_t used = 0;
    out[0] = '\0';
    bool fits = append(out, cap, &used, st->root, strlen(st->root)) &&
                (st->root[strlen(st->root) - 1] == '/' || append(out, cap, &used, "/", 1));
    for (const char *t = tpl; fits && *t; t++) {
        const char *value = NULL;
        if (t[0] == '%' && t[1]) {
            switch (t[1]) {
            case 'p': value = st->participant; break;
            case 's': value = st->session; break;
            case 'b': value = st->task; break;
            case 'a': value = st->acquisition; break;
            case 'm': value = st->modality; break;
            case 'r': value = bids ? run : NULL; break;
            case 'n': value = bids ? NULL : run; break;
            default: break;
            }
        }
        if (value) {
            fits = append(out, cap, &used, value, strlen(value));
            t++;
        } else {
            fits = append(out, cap, &used, t, 1);
        }
    }
    if (!fits)
        return "the file name is too long";
    if (out[used - 1] == '/')
        return "the template names a directory, not a file";
    return NULL;
}

/* Hands the command to the pipeline; true when it was queued. */
static bool send_command(control_t *ctl, client_t *c)
{
    int rc = pipeline_record(ctl->pipeline, &ctl->command);
    if (rc == -EBUSY)
        reply_error(c, "the recorder is busy; try again");
    else if (rc != 0)
        reply_error(c, "cannot record: %s", strerror(-rc));
    else
        reply(c, "OK");
    return rc == 0;
}

static void cmd_start(control_t *ctl, client_t *c)
{
    if (ctl->recording) {
        /* A start whose file could not be made (or a recording a write error
         * stopped) leaves nothing to stop: the next start may go. */
        recorder_status_t rs;
        pipeline_recording_status(ctl->pipeline, &rs);
        ctl->recording = rs.active || !rs.error[0];
    }
    if (ctl->recording) {
        reply_error(c, "already recording; send stop first");
        return;
    }
    recorder_command_t *cmd = &ctl->command;
    memset(cmd, 0, sizeof *cmd);
    cmd->op = RECORDER_START;
    const char *why = study_path(ctl, cmd->path, sizeof cmd->path);
    if (why) {
        reply_error(c, "start: %s", why);
        return;
    }
    labels_of(&ctl->study, &cmd->labels); /* with the defaults BIDS naming filled in */
    pipeline_set_study(ctl->pipeline, &cmd->labels);
    if (send_command(ctl, c))
        ctl->recording = true;
}

static void cmd_stop(control_t *ctl, client_t *c)
{
    /* A study's stop ends every open treatment session first, so their end
     * events are in the recording and their rows carry the study's names.
     * This waits for the pipeline thread's next turn (at most a status
     * interval); the other clients wait that long at most. */
    if (ctl->recording)
        pipeline_end_sessions(ctl->pipeline);
    recorder_command_t *cmd = &ctl->command;
    memset(cmd, 0, sizeof *cmd);
    cmd->op = RECORDER_STOP;
    if (send_command(ctl, c))
        ctl->recording = false;
}

static void cmd_status(control_t *ctl, client_t *c)
{
    recorder_status_t rs;
    pipeline_recording_status(ctl->pipeline, &rs);
    const study_t *st = &ctl->study;
    char buf[12288];
    json_t j;
    json_init(&j, buf, sizeof buf);
    json_object_begin(&j);
    json_key(&j, "recording");
    json_bool(&j, rs.active);
    json_key(&j, "file");
    json_string_or_null(&j, rs.file);
    json_key(&j, "error");
    json_string_or_null(&j, rs.error);
    json_key(&j, "bytes");
    json_uint(&j, rs.bytes);
    json_key(&j, "samples");
    json_uint(&j, rs.samples);
    json_key(&j, "root");
    json_string(&j, st->root);
    json_key(&j, "template");
    json_string(&j, st->template_);
    json_key(&j, "participant");
    json_string(&j, st->participant);
    json_key(&j, "session");
    json_string(&j, st->session);
    json_key(&j, "task");
    json_string(&j, st->task);
    json_key(&j, "run");
    json_int(&j, st->run);
    json_key(&j, "acquisition");
    json_string(&j, st->acquisition);
    json_key(&j, "modality");
    json_string(&j, st->modality);
    json_object_end(&j);
    size_t len;
    if (json_finish(&j, &len) != 0) {
        reply_error(c, "status does not fit its buffer");
        return;
    }
    reply(c, buf);
}

/* One line, without its line end. Matches LabRecorder's handleLine: the
 * line is trimmed of white space; `select` takes `all` or `none`. */
static void handle_line(control_t *ctl, client_t *c, char *line)
{
    char *end = line + strlen(line);
    while (end > line && isspace((unsigned char)end[-1]))
        *--end = '\0';
    while (isspace((unsigned char)*line))
        line++;
    if (!*line)
        return; /* an empty line is no command */
    log_debug("control: %s", line);
    size_t word = strcspn(line, " \t{");
    const char *rest = line + word;
    while (isspace((unsigned char)*rest))
        rest++;
    if (word == 8 && strncmp(line, "filename", 8) == 0) {
        cmd_filename(ctl, c, rest);
    } else if (*rest == '\0' && strcmp(line, "start") == 0) {
        cmd_start(ctl, c);
    } else if (*rest == '\0' && strcmp(line, "stop") == 0) {
        cmd_stop(ctl, c);
    } else if (*rest == '\0' && strcmp(line, "update") == 0) {
        reply(c, "OK"); /* the devices are the configured ones: nothing to look up */
    } else if (word == 6 && strncmp(line, "select", 6) == 0 &&
               (strcmp(rest, "all") == 0 || strcmp(rest, "none") == 0)) {
        /* Every device is recorded: LabRecorder's start selects all too. */
        reply(c, "OK");
    } else if (*rest == '\0' && strcmp(line, "status") == 0) {
        cmd_status(ctl, c);
    } else {
        reply_error(c, "unknown command '%.80s' (start, stop, update, select all, select none, "
                       "filename {option:value}..., status)",
                    line);
    }
}

/* Reads what the client sent and handles every complete line. */
static void serve(control_t *ctl, client_t *c)
{
    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* Gone. A last line without its '\n' is not a command, as in
         * LabRecorder (Qt's canReadLine). */
        close(c->fd);
        c->fd = -1;
        return;
    }
    for (ssize_t i = 0; i < n && c->fd >= 0; i++) {
        char ch = buf[i];
        if (ch == '\n') {
            if (c->overlong) {
                c->overlong = false;
                reply_error(c, "line longer than %d bytes", CONTROL_LINE_MAX - 1);
            } else {
                c->in[c->used] = '\0';
                handle_line(ctl, c, c->in);
            }
            c->used = 0;
        } else if (c->overlong) {
            /* dropped up to the line's end */
        } else if (c->used + 1 >= sizeof c->in) {
            c->overlong = true;
        } else if (ch == '\0') {
            c->overlong = true; /* no command holds a NUL: the line is refused */
        } else {
            c->in[c->used++] = ch;
        }
    }
}

static void accept_client(control_t *ctl)
{
    int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        client_t *c = &ctl->clients[i];
        if (c->fd < 0) {
            c->fd = fd;
            c->used = 0;
            c->overlong = false;
            return;
        }
    }
    static const char full[] = "ERROR: too many clients";
    ssize_t w = send(fd, full, sizeof full - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    close(fd);
    log_warn("control: refused a client: %d are connected", CONTROL_MAX_CLIENTS);
}

static void *control_main(void *arg)
{
    control_t *ctl = arg;
    pthread_setname_np(pthread_self(), "control");
    struct pollfd pfd[CONTROL_MAX_CLIENTS + 2];
    while (!worker_stopping(&ctl->worker)) {
        pfd[0] = (struct pollfd){.fd = worker_fd(&ctl->worker), .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = ctl->listen_fd, .events = POLLIN};
        for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
            pfd[2 + i] = (struct pollfd){.fd = ctl->clients[i].fd, .events = POLLIN};
        if (poll(pfd, CONTROL_MAX_CLIENTS + 2, -1) < 0)
            continue;
        if (pfd[1].revents & POLLIN)
            accept_client(ctl);
        for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
            if (ctl->clients[i].fd >= 0 && pfd[2 + i].revents)
                serve(ctl, &ctl->clients[i]);
    }
    return NULL;
}

control_t *control_start(const char *rcs, const char *default_root, pipeline_t *pipeline,
                         int *err)
{
    int rc = -ENOMEM;
    control_t *ctl = calloc(1, sizeof *ctl);
    if (!ctl)
        goto fail;
    ctl->listen_fd = -1;
    rc = worker_open(&ctl->worker);
    if (rc != 0)
        goto fail;
    ctl->pipeline = pipeline;
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
        ctl->clients[i].fd = -1;
    snprintf(ctl->study.root, sizeof ctl->study.root, "%s", default_root);
    ctl->study.run = 1;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char why[512];
    rc = netaddr_resolve(rcs, &addr, &addr_len, why, sizeof why);
    if (rc != 0) {
        log_error("[control] rcs: %s", why);
        goto fail;
    }
    ctl->listen_fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (ctl->listen_fd < 0 ||
        setsockopt(ctl->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(ctl->listen_fd, (struct sockaddr *)&addr, addr_len) != 0 ||
        listen(ctl->listen_fd, 16) != 0) {
        rc = -errno;
        log_error("[control] rcs: cannot listen on %s: %s", rcs, strerror(errno));
        goto fail;
    }
    rc = worker_start(&ctl->worker, control_main, ctl);
    if (rc != 0)
        goto fail;
    log_info("remote control (LabRecorder's) on %s", rcs);
    return ctl;

fail:
    if (ctl) {
        if (ctl->listen_fd >= 0)
            close(ctl->listen_fd);
        worker_close(&ctl->worker);
        free(ctl);
    }
    if (err)
        *err = rc;
    return NULL;
}

void control_stop(control_t **pc)
{
    if (!pc || !*pc)
        return;
    control_t *ctl = *pc;
    worker_close(&ctl->worker);
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (ctl->clients[i].fd >= 0)
            close(ctl->clients[i].fd);
    close(ctl->listen_fd);
    free(ctl);
    *pc = NULL;
}
