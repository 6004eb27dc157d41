/* log: levels filter, lines have the documented form, and a message is one
 * line even when long. stderr is redirected into a real pipe. */
#include "check.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
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

    capture(emit_long); /* truncated, but still one whole line */
    CHECK(strncmp(captured, "massaged: error: xxx", 20) == 0);
    CHECK_EQ_INT(strchr(captured, '\n') - captured, strlen(captured) - 1);
    return CHECK_DONE();
}
