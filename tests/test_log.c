/* log: levels filter, lines have the documented form, and a message is one
 * line even when long. stderr is redirected into a real pipe. */
#include "check.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char captured[8192];

static void capture(void (*fn)(void))
{
    int fds[2];
    CHECK_EQ_INT(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = read(fds[0], captured, sizeof captured - 1);
    captured[n > 0 ? n : 0] = '\0';
    close(fds[0]);
}

static void emit_all(void)
{
    log_error("e %d", 1);
    log_warn("w %d", 2);
    log_info("i %d", 3);
    log_debug("d %d", 4);
}

static void emit_long(void)
{
    char text[3000];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    log_error("%s", text);
}

int main(void)
{
    log_setup(true, false);
    log_level_t level;
    CHECK_EQ_INT(log_level_parse("debug", &level), 0);
    CHECK_EQ_INT(level, LOG_LEVEL_DEBUG);
    CHECK_EQ_INT(log_level_parse("verbose", &level), -EINVAL);

    log_set_level(LOG_LEVEL_INFO);
    capture(emit_all);
    CHECK_STR(captured, "massaged: error: e 1\nmassaged: warn: w 2\nmassaged: info: i 3\n");

    log_set_level(LOG_LEVEL_ERROR);
    capture(emit_all);
    CHECK_STR(captured, "massaged: error: e 1\n");

    log_set_level(LOG_LEVEL_DEBUG);
    capture(emit_all);
    CHECK(strstr(captured, "massaged: debug: d 4\n") != NULL);

    /* Under systemd (JOURNAL_STREAM names stderr) lines carry priorities. */
    CHECK(!log_stderr_is_journal());
    log_set_journal_prefix(true);
    log_set_level(LOG_LEVEL_INFO);
    capture(emit_all);
    CHECK_STR(captured, "<3>e 1\n<4>w 2\n<6>i 3\n");
    log_set_journal_prefix(false);
    struct stat st;
    CHECK_EQ_INT(fstat(STDERR_FILENO, &st), 0);
    char stream[64];
    snprintf(stream, sizeof stream, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", stream, 1);
    CHECK(log_stderr_is_journal());
    unsetenv("JOURNAL_STREAM");

    log_set_level(LOG_LEVEL_DEBUG);
    capture(emit_long); /* truncated, but still one whole line */
    CHECK(strncmp(captured, "massaged: error: xxx", 20) == 0);
    CHECK_EQ_INT(strchr(captured, '\n') - captured, strlen(captured) - 1);
    return CHECK_DONE();
}
