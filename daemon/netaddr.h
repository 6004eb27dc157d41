/* netaddr: a HOST:PORT listening address ([web] listen, [control] rcs)
 * resolved for bind(2), one reading of the syntax config.c validates. */
#ifndef MASSAGED_NETADDR_H
#define MASSAGED_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Resolves HOST:PORT, [V6]:PORT, or *:PORT (every IPv4 interface) into
 * *addr. Returns 0, or -EINVAL with why[why_size] filled in. Any thread. */
int netaddr_resolve(const char *host_port, struct sockaddr_storage *addr, socklen_t *addr_len,
                    char *why, size_t why_size);

#endif
