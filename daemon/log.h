/* log: levelled messages to stderr and/or syslog (journald).
 *
 * The level is the program's only mutable global. Any thread may log; each
 * message is written with a single write(2) to stderr, so lines from
 * different threads never interleave.
 */
#ifndef MASSAGED_LOG_H
#define MASSAGED_LOG_H

#include <stdbool.h>

typedef enum { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG } log_level_t;

/* Chooses where messages go. use_syslog opens syslog with ident "massaged";
 * use_stderr writes "massaged: level: message" lines to stderr. Call once at
 * start-up before other threads exist. */
void log_setup(bool use_stderr, bool use_syslog);

/* True when stderr is connected to the systemd journal (systemd sets
 * JOURNAL_STREAM to the device and inode of that stream). */
bool log_stderr_is_journal(void);

/* With journal set, stderr lines carry the "<N>" priority prefix journald
 * understands instead of "massaged: level: ", so levels survive. */
void log_set_journal_prefix(bool journal);

/* Sets the threshold: messages above it are dropped. */
void log_set_level(log_level_t level);

/* Parses "error", "warn", "info" or "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *name, log_level_t *out);

void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
