#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int notify_send(const char *state)
{
    const char *address = getenv("NOTIFY_SOCKET");
    if (!address || address[0] == '\0')
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(address);
    if ((address[0] != '/' && address[0] != '@') || len > sizeof sa.sun_path)
        return -EINVAL;
    memcpy(sa.sun_path, address, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace: the name is not NUL-terminated */
    else if (len == sizeof sa.sun_path)
        return -EINVAL; /* a path needs room for its terminating NUL */
    socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = 1;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&sa, sa_len) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Parses a whole decimal unsigned number; false on anything else. */
static bool parse_u64(const char *text, uint64_t *out)
{
    if (!text || text[0] < '0' || text[0] > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (uint64_t)v;
    return true;
}

bool notify_watchdog_enabled(uint64_t *interval_us)
{
    *interval_us = 0;
    uint64_t usec = 0;
    if (!parse_u64(getenv("WATCHDOG_USEC"), &usec) || usec == 0)
        return false;
    const char *pid_text = getenv("WATCHDOG_PID");
    if (pid_text) {
        uint64_t pid = 0;
        if (!parse_u64(pid_text, &pid) || pid != (uint64_t)getpid())
            return false;
    }
    *interval_us = usec;
    return true;
}
