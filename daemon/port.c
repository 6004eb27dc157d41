#include "port.h"

#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <limits.h>
#include <linux/serial.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

struct port {
    int fd;
    struct sp_port *sp; /* NULL when opened with termios */
    bool low_latency;   /* the driver accepted ASYNC_LOW_LATENCY */
    bool restore;       /* it was off before: put it back at close */
};

bool port_is_pty(const char *path)
{
    char resolved[PATH_MAX];
    if (!realpath(path, resolved))
        return false;
    return strncmp(resolved, "/dev/pts/", 9) == 0;
}

static speed_t termios_speed(int baud)
{
    switch (baud) {
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    case 460800: return B460800;
    case 500000: return B500000;
    case 576000: return B576000;
    case 921600: return B921600;
    case 1000000: return B1000000;
    case 1152000: return B1152000;
    case 1500000: return B1500000;
    case 2000000: return B2000000;
    case 2500000: return B2500000;
    case 3000000: return B3000000;
    case 3500000: return B3500000;
    case 4000000: return B4000000;
    default: return B921600;
    }
}

static int open_termios(port_t *port, const char *path, int baud)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct termios tio;
    if (tcgetattr(fd, &tio) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cflag &= ~(CSTOPB | PARENB | CRTSCTS);
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    cfsetispeed(&tio, termios_speed(baud));
    cfsetospeed(&tio, termios_speed(baud));
    if (tcsetattr(fd, TCSANOW, &tio) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    port->fd = fd;
    return 0;
}

/* Maps a libserialport failure to an errno value. */
static int sp_errno(enum sp_return r)
{
    if (r == SP_ERR_FAIL) {
        int e = sp_last_error_code();
        return e > 0 ? -e : -EIO;
    }
    if (r == SP_ERR_ARG)
        return -EINVAL;
    if (r == SP_ERR_MEM)
        return -ENOMEM;
    if (r == SP_ERR_SUPP)
        return -ENOTSUP;
    return -EIO;
}

static int open_serialport(port_t *port, const char *path, int baud)
{
    char resolved[PATH_MAX];
    if (!realpath(path, resolved))
        return -errno;
    enum sp_return r = sp_get_port_by_name(resolved, &port->sp);
    if (r != SP_OK) {
        port->sp = NULL;
        return r == SP_ERR_ARG ? -ENOENT : sp_errno(r);
    }
    r = sp_open(port->sp, SP_MODE_READ_WRITE);
    if (r != SP_OK)
        goto fail;
    if ((r = sp_set_baudrate(port->sp, baud)) != SP_OK ||
        (r = sp_set_bits(port->sp, 8)) != SP_OK ||
        (r = sp_set_parity(port->sp, SP_PARITY_NONE)) != SP_OK ||
        (r = sp_set_stopbits(port->sp, 1)) != SP_OK ||
        (r = sp_set_flowcontrol(port->sp, SP_FLOWCONTROL_NONE)) != SP_OK)
        goto fail_close;
    if ((r = sp_get_port_handle(port->sp, &port->fd)) != SP_OK)
        goto fail_close;
    return 0;

fail_close:;
    int e = sp_errno(r);
    sp_close(port->sp);
    sp_free_port(port->sp);
    port->sp = NULL;
    return e;
fail:
    e = sp_errno(r);
    sp_free_port(port->sp);
    port->sp = NULL;
    return e;
}

/* Asks the driver to pass received bytes on at once. A USB serial adapter
 * otherwise may hold a partly filled packet: an FTDI chip waits for its
 * latency timer, 16 ms by default, which ftdi_sio sets to 1 ms for a port
 * with ASYNC_LOW_LATENCY. The request changes only that flag of what the
 * driver reported, which needs no privilege. Drivers without serial settings
 * (a pty, Bluetooth RFCOMM) refuse it and the port works as before. The flag
 * outlives the open file in the driver, so port_close puts it back: a port
 * probed for a device and let go (port = auto) is left as it was found. */
static void set_low_latency(port_t *port, bool on)
{
    struct serial_struct ss;
    memset(&ss, 0, sizeof ss);
    if (ioctl(port->fd, TIOCGSERIAL, &ss) != 0)
        return;
    if (((ss.flags & ASYNC_LOW_LATENCY) != 0) == on) {
        port->low_latency = on;
        return;
    }
    if (on)
        ss.flags |= ASYNC_LOW_LATENCY;
    else
        ss.flags &= ~ASYNC_LOW_LATENCY;
    if (ioctl(port->fd, TIOCSSERIAL, &ss) == 0) {
        port->low_latency = on;
        port->restore = on;
    }
}

port_t *port_open(const char *path, int baud, port_driver_t driver, int *err)
{
    port_t *port = calloc(1, sizeof *port);
    if (!port) {
        *err = -ENOMEM;
        return NULL;
    }
    port->fd = -1;
    bool use_termios = driver == PORT_DRIVER_TERMIOS ||
                       (driver == PORT_DRIVER_AUTO && port_is_pty(path));
    int rc = use_termios ? open_termios(port, path, baud) : open_serialport(port, path, baud);
    if (rc != 0) {
        free(port);
        *err = rc;
        return NULL;
    }
    set_low_latency(port, true);
    return port;
}

void port_close(port_t **port)
{
    if (!port || !*port)
        return;
    if ((*port)->restore)
        set_low_latency(*port, false); /* fails harmlessly on an unplugged device */
    if ((*port)->sp) {
        sp_close((*port)->sp);
        sp_free_port((*port)->sp);
    } else if ((*port)->fd >= 0) {
        close((*port)->fd);
    }
    free(*port);
    *port = NULL;
}

int port_fd(const port_t *port)
{
    return port->fd;
}

const char *port_driver_name(const port_t *port)
{
    return port->sp ? "serialport" : "termios";
}

bool port_low_latency(const port_t *port)
{
    return port->low_latency;
}

__attribute__((hot)) ssize_t port_read(port_t *port, void *buf, size_t cap)
{
    if (port->sp) {
        int n = sp_nonblocking_read(port->sp, buf, cap);
        if (n > 0)
            return n;
        if (n == 0) {
            /* libserialport hides end of file as "nothing read": check the
             * descriptor's state the same way as for termios ports. */
            struct pollfd pfd = {.fd = port->fd, .events = POLLIN};
            if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)))
                return -EIO;
            return 0;
        }
        return sp_errno((enum sp_return)n);
    }
    ssize_t n = read(port->fd, buf, cap);
    if (n > 0)
        return n;
    if (n == 0)
        return -EPIPE;
    if (errno == EAGAIN || errno == EINTR)
        return 0;
    return -errno;
}

int port_write(port_t *port, const void *buf, size_t n, int timeout_ms)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = write(port->fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        struct pollfd pfd = {.fd = port->fd, .events = POLLOUT};
        int r = poll(&pfd, 1, timeout_ms);
        if (r == 0)
            return -ETIMEDOUT;
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
            return -EIO;
    }
    return 0;
}

int port_list(char (*names)[256], int max)
{
    struct sp_port **list = NULL;
    enum sp_return r = sp_list_ports(&list);
    if (r != SP_OK)
        return sp_errno(r);
    int count = 0;
    for (int i = 0; list[i] && count < max; i++) {
        const char *name = sp_get_port_name(list[i]);
        enum sp_transport transport = sp_get_port_transport(list[i]);
        if (!name || (transport != SP_TRANSPORT_USB && transport != SP_TRANSPORT_BLUETOOTH))
            continue;
        strncpy(names[count], name, 255);
        names[count][255] = '\0';
        count++;
    }
    sp_free_port_list(list);
    return count;
}
