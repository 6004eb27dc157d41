#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int worker_open(worker_t *w)
{
    atomic_init(&w->stop, false);
    w->started = false;
    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return w->wake_fd < 0 ? -errno : 0;
}

int worker_start(worker_t *w, void *(*main)(void *), void *arg)
{
    int rc = pthread_create(&w->thread, NULL, main, arg);
    if (rc != 0)
        return -rc;
    w->started = true;
    return 0;
}

void worker_close(worker_t *w)
{
    if (w->started) {
        atomic_store(&w->stop, true);
        worker_wake(w);
        pthread_join(w->thread, NULL);
        w->started = false;
    }
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    w->wake_fd = -1;
}

void worker_wake(worker_t *w)
{
    (void)eventfd_write(w->wake_fd, 1);
}

bool worker_stopping(worker_t *w)
{
    return atomic_load(&w->stop);
}

bool worker_running(worker_t *w)
{
    return w->started && !atomic_load_explicit(&w->stop, memory_order_relaxed);
}

int worker_fd(const worker_t *w)
{
    return w->wake_fd;
}

void worker_drain(worker_t *w)
{
    eventfd_t value;
    (void)eventfd_read(w->wake_fd, &value);
}

void worker_wait(worker_t *w, int timeout_ms)
{
    struct pollfd pfd = {.fd = w->wake_fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) > 0 && (pfd.revents & POLLIN))
        worker_drain(w);
}
