#include "netaddr.h"

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int netaddr_resolve(const char *host_port, struct sockaddr_storage *addr, socklen_t *addr_len,
                    char *why, size_t why_size)
{
    char host[256];
    const char *port;
    if (host_port[0] == '[') {
        const char *close = strchr(host_port, ']');
        if (!close || close[1] != ':' || (size_t)(close - host_port - 1) >= sizeof host)
            goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(close - host_port - 1), host_port + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(host_port, ':');
        if (!colon || (size_t)(colon - host_port) >= sizeof host)
            goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(colon - host_port), host_port);
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    bool any = strcmp(host, "*") == 0;
    if (any)
        hints.ai_family = AF_INET;
    int rc = getaddrinfo(any ? NULL : host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(why, why_size, "cannot resolve '%s': %s", host_port, gai_strerror(rc));
        return -EINVAL;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
bad:
    snprintf(why, why_size, "'%s' is not HOST:PORT", host_port);
    return -EINVAL;
}
