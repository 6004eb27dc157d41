/* notify: systemd's service notification protocol, for Type=notify.
 *
 * A service started by systemd with Type=notify finds the path of a datagram
 * socket in NOTIFY_SOCKET and sends it newline-separated assignments:
 * READY=1, RELOADING=1, STOPPING=1, WATCHDOG=1, STATUS=... (sd_notify(3)).
 * systemd declares this protocol a stable interface that services may speak
 * without libsystemd; the daemon does so because linking libsystemd maps it
 * and six more libraries (libgcrypt, liblzma, libzstd, liblz4, libcap,
 * libgpg-error), about 1 MB of resident pages, into a process that only
 * ever sends these few datagrams (docs/BENCHMARKS.md, memory).
 *
 * Any thread may call these functions: they read the environment (the
 * daemon never changes it) and use a socket of their own for each message.
 */
#ifndef MASSAGED_NOTIFY_H
#define MASSAGED_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Sends state (for example "READY=1\nSTATUS=running") to the socket named by
 * NOTIFY_SOCKET: a filesystem path starting with '/', or an abstract socket
 * name starting with '@'. Returns 1 when sent, 0 when NOTIFY_SOCKET is unset
 * (not started by systemd: nothing to do), or a negative errno: -EINVAL for
 * an address of another form or too long, else the socket call's error. */
int notify_send(const char *state);

/* True when systemd asks this process for watchdog pings: WATCHDOG_USEC is a
 * positive number of microseconds, and WATCHDOG_PID, when set, is this
 * process's pid. *interval_us gets the interval (0 when false). */
bool notify_watchdog_enabled(uint64_t *interval_us);

#endif
