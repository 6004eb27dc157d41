/* A test-only LD_PRELOAD shim that lets real libserialport 0.1.1 open a
 * pseudo-terminal, so the end-to-end tests can exercise the daemon's
 * libserialport code path against a pty.
 *
 * libserialport refuses ptys in two places: sp_get_port_by_name() looks the
 * port up with __lxstat() and readlink() under /sys/class/tty/<name>, which
 * has no entry for /dev/pts/N, and sp_open() reads and sets the modem lines
 * with TIOCMGET, TIOCMBIS and TIOCMBIC, which a pty answers with ENOTTY. The
 * shim answers exactly those calls, for ptys only, as a native (non-USB)
 * serial port with DSR and CTS asserted, and counts what it answered in the
 * environment-named file so the test can prove libserialport was really used.
 * It also answers the serial settings (TIOCGSERIAL, TIOCSSERIAL) the way a
 * USB serial driver with a latency timer does (ftdi_sio: ASYNC_LOW_LATENCY
 * sets the timer to 1 ms), noting the timer each TIOCSSERIAL leaves, so the
 * test sees the daemon's low-latency request reach the driver.
 * Everything else goes to the real C library. Never installed or linked into
 * the daemon.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/serial.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define SYS_PTS "/sys/class/tty/pts/"

static const char fake_link[] = "../../devices/virtual/tty/pts";

static void note(const char *what)
{
    const char *path = getenv("SERIALPORT_SHIM_LOG");
    if (!path)
        return;
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", what);
        fclose(f);
    }
}

static int is_sys_pts(const char *path)
{
    return path && strncmp(path, SYS_PTS, sizeof SYS_PTS - 1) == 0;
}

int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat(int ver, const char *path, struct stat *st)
{
    static int (*real)(int, const char *, struct stat *);
    if (is_sys_pts(path)) {
        memset(st, 0, sizeof *st);
        st->st_mode = S_IFLNK | 0777;
        note("lstat");
        return 0;
    }
    if (!real)
        real = (int (*)(int, const char *, struct stat *))dlsym(RTLD_NEXT, "__lxstat");
    if (real)
        return real(ver, path, st);
    return lstat(path, st);
}

ssize_t readlink(const char *path, char *buf, size_t size)
{
    static ssize_t (*real)(const char *, char *, size_t);
    if (is_sys_pts(path)) {
        size_t n = strlen(fake_link);
        if (n > size)
            n = size;
        memcpy(buf, fake_link, n);
        note("readlink");
        return (ssize_t)n;
    }
    if (!real)
        real = (ssize_t (*)(const char *, char *, size_t))dlsym(RTLD_NEXT, "readlink");
    return real(path, buf, size);
}

static int fd_is_pty(int fd)
{
    char name[64];
    return ttyname_r(fd, name, sizeof name) == 0 && strncmp(name, "/dev/pts/", 9) == 0;
}

int ioctl(int fd, unsigned long request, ...)
{
    static int (*real)(int, unsigned long, ...);
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if ((request == TIOCMGET || request == TIOCMBIS || request == TIOCMBIC) && fd_is_pty(fd)) {
        if (request == TIOCMGET)
            *(int *)arg = TIOCM_DSR | TIOCM_CTS | TIOCM_DTR | TIOCM_RTS;
        note(request == TIOCMGET ? "TIOCMGET" : "TIOCMBIS/BIC");
        return 0;
    }
    static int serial_flags;
    if ((request == TIOCGSERIAL || request == TIOCSSERIAL) && fd_is_pty(fd)) {
        struct serial_struct *ss = arg;
        if (request == TIOCGSERIAL) {
            memset(ss, 0, sizeof *ss);
            ss->type = PORT_UNKNOWN;
            ss->flags = serial_flags;
            note("TIOCGSERIAL");
        } else {
            serial_flags = ss->flags;
            note(serial_flags & ASYNC_LOW_LATENCY ? "TIOCSSERIAL:latency_timer=1"
                                                  : "TIOCSSERIAL:latency_timer=16");
        }
        return 0;
    }
    if (!real)
        real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
    return real(fd, request, arg);
}
