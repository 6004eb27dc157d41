#include "now.h"

#include <time.h>

static double seconds_of(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((hot)) double now_mono(void)
{
    return seconds_of(CLOCK_MONOTONIC);
}

__attribute__((hot)) double now_real(void)
{
    return seconds_of(CLOCK_REALTIME);
}

double now_thread_cpu(void)
{
    return seconds_of(CLOCK_THREAD_CPUTIME_ID);
}
