/* now: the clocks a program reads, in seconds as a double.
 *
 * A double holds Unix time to better than a microsecond until the year
 * 2106, and monotonic or CPU time far finer; every caller wants seconds.
 * Any thread may call these.
 */
#ifndef MASSAGED_NOW_H
#define MASSAGED_NOW_H

/* Seconds of CLOCK_MONOTONIC: for intervals and deadlines. */
double now_mono(void);

/* Seconds of CLOCK_REALTIME (Unix time): for time stamps others read. */
double now_real(void);

/* CPU seconds the calling thread has used (CLOCK_THREAD_CPUTIME_ID). */
double now_thread_cpu(void);

#endif
