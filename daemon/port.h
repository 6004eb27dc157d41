/* port: one open serial byte stream to a device.
 *
 * Real serial ports (USB CDC-ACM, Bluetooth RFCOMM, UARTs) are opened with
 * libserialport at the configured baud rate, 8N1, no flow control.
 * libserialport 0.1.1 refuses pseudo-terminals (it looks the port up in
 * /sys/class/tty and fails on the modem-line ioctls), so ptys, as made by the
 * simulator or socat, are opened with plain termios in raw mode instead. The
 * caller sees one interface either way: a pollable file descriptor, a
 * non-blocking read and a bounded write.
 *
 * A port is owned by one thread (its device's reader thread).
 */
#ifndef MASSAGED_PORT_H
#define MASSAGED_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct port port_t;

typedef enum {
    PORT_DRIVER_AUTO,        /* ptys through termios, everything else through libserialport */
    PORT_DRIVER_SERIALPORT,  /* always libserialport */
    PORT_DRIVER_TERMIOS,     /* always termios */
} port_driver_t;

/* Opens path (symlinks are followed) at baud, 8N1, no flow control, raw,
 * and asks the driver for low latency (ASYNC_LOW_LATENCY: an FTDI adapter's
 * latency timer 16 -> 1 ms), which drivers without it refuse harmlessly;
 * port_close clears the flag again if it was off before.
 * Returns NULL with *err set to a negative errno; the reason is not logged
 * (reconnect loops call this often), use port_strerror-style messages from
 * strerror(-*err). */
port_t *port_open(const char *path, int baud, port_driver_t driver, int *err);

/* Closes the port, its driver's low-latency flag as it was found; accepts
 * NULL and NULLs the caller's pointer. */
void port_close(port_t **port);

/* The file descriptor to poll for input. */
int port_fd(const port_t *port);

/* Reads what is available without blocking. Returns the byte count (>0),
 * 0 when nothing is waiting, or a negative errno when the device is gone
 * (-EIO, -ENXIO, -ENODEV, or -EPIPE for end of file). */
ssize_t port_read(port_t *port, void *buf, size_t cap);

/* Writes all n bytes, waiting at most timeout_ms for the line to accept them.
 * Returns 0 or a negative errno (-ETIMEDOUT when the line stayed full). */
int port_write(port_t *port, const void *buf, size_t n, int timeout_ms);

/* True when path resolves to a pseudo-terminal slave (/dev/pts/N). */
bool port_is_pty(const char *path);

/* Which driver an open port uses: "serialport" or "termios". */
const char *port_driver_name(const port_t *port);

/* True when the port's driver accepted the low-latency request at open. */
bool port_low_latency(const port_t *port);

/* Lists the system's USB and Bluetooth serial ports (libserialport's
 * enumeration and its transport) into names, at most max entries of 256
 * bytes each. On-board UARTs are left out: on a Raspberry Pi they carry the
 * Bluetooth controller and the serial console, which a probe at the tools'
 * baud rate would disturb. Returns the count or a negative errno. */
int port_list(char (*names)[256], int max);

#endif
