/* worker: the life of a thread that sleeps in poll(2) on an eventfd until
 * it has work or must stop. The daemon's pipeline, recorder, history, MQTT
 * and remote-control threads all live this way; here is the one copy of the
 * stop flag, the wake-up eventfd, the start and the join.
 *
 * The owner (the thread that opens the worker, usually the main thread)
 * starts and closes it; any thread may wake it. The worker's own loop polls
 * worker_fd() beside its other descriptors (or calls worker_wait), calls
 * worker_drain() when that descriptor was readable, and ends once
 * worker_stopping() is true.
 */
#ifndef MASSAGED_WORKER_H
#define MASSAGED_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct {
    int wake_fd; /* eventfd, non-blocking; -1 when none */
    atomic_bool stop;
    pthread_t thread;
    bool started; /* the thread runs and must be joined; owner only */
} worker_t;

/* Creates the wake-up eventfd; no thread yet. Call it before anything in
 * the owner's constructor can fail, so that worker_close is always right.
 * Returns 0 or -errno (then worker_close still accepts w). Owner. */
int worker_open(worker_t *w);

/* Starts main(arg) on a new thread. Returns 0 or -errno. Owner. */
int worker_start(worker_t *w, void *(*main)(void *), void *arg);

/* Stops the thread if it was started (sets the flag, wakes it, joins it)
 * and closes the eventfd. Owner; once per worker_open. */
void worker_close(worker_t *w);

/* Wakes the thread out of its poll. A full eventfd counter still wakes it,
 * so the write's result does not matter. Any thread. */
void worker_wake(worker_t *w);

/* Whether the owner asked the thread to stop. The worker thread. */
bool worker_stopping(worker_t *w);

/* Whether the thread runs and no stop has been asked (a relaxed look, for
 * a producer deciding whether to hand over work). Any thread. */
bool worker_running(worker_t *w);

/* The descriptor the worker's poll watches (POLLIN) to be woken. */
int worker_fd(const worker_t *w);

/* Resets the eventfd after the poll found it readable, so that the next
 * poll sleeps. The worker thread. */
void worker_drain(worker_t *w);

/* Sleeps until woken or timeout_ms (-1: no timeout) passes, then drains.
 * For a worker with no other descriptor to watch. The worker thread. */
void worker_wait(worker_t *w, int timeout_ms);

#endif
