/* stop_signal: how a program learns that it was asked to stop (Ctrl-C, or
 * SIGTERM from a service manager or a test).
 */
#ifndef MASSAGED_STOP_SIGNAL_H
#define MASSAGED_STOP_SIGNAL_H

#include <signal.h>

/* Has handler run on signo, with no other signal blocked meanwhile and
 * without SA_RESTART. */
void signal_handle(int signo, void (*handler)(int));

/* Makes SIGINT and SIGTERM set *flag to 1 and do nothing else. Without
 * SA_RESTART, so that a blocking call returns EINTR and its caller looks at
 * the flag. Called once, from main, before any other thread starts; *flag
 * must live as long as the program. */
void stop_signal_catch(volatile sig_atomic_t *flag);

#endif
