#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

static _Atomic int log_level = LOG_LEVEL_INFO;
static bool log_to_stderr = true;
static bool log_to_syslog;
static bool log_journal_prefix;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int syslog_priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

void log_setup(bool use_stderr, bool use_syslog)
{
    log_to_stderr = use_stderr;
    log_to_syslog = use_syslog;
    if (use_syslog)
        openlog("massaged", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

bool log_stderr_is_journal(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    unsigned long long dev = 0, ino = 0;
    struct stat st;
    if (!stream || sscanf(stream, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_journal_prefix(bool journal)
{
    log_journal_prefix = journal;
}

void log_set_level(log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

int log_level_parse(const char *name, log_level_t *out)
{
    for (int i = 0; i <= LOG_LEVEL_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level))
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (log_to_syslog)
        syslog(syslog_priorities[level], "%s", text);
    if (log_to_stderr) {
        char line[1100];
        int n = log_journal_prefix
                    ? snprintf(line, sizeof line, "<%d>%s\n", syslog_priorities[level], text)
                    : snprintf(line, sizeof line, "massaged: %s: %s\n", level_names[level], text);
        if (n > (int)sizeof line - 1)
            n = (int)sizeof line - 1;
        ssize_t written = write(STDERR_FILENO, line, (size_t)n);
        (void)written; /* nothing sensible to do when stderr is gone */
    }
}
