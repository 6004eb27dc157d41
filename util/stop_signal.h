/* stop_signal: how a tool learns that it was asked to stop (Ctrl-C, or
 * SIGTERM from a service manager or a test).
 */
#ifndef MASSAGED_STOP_SIGNAL_H
#define MASSAGED_STOP_SIGNAL_H

#include <signal.h>

/* Makes SIGINT and SIGTERM set *flag to 1 and do nothing else. Without
 * SA_RESTART, so that a blocking call returns EINTR and its caller looks at
 * the flag. Called once, from main, before any other thread starts; *flag
 * must live as long as the program. */
void stop_signal_catch(volatile sig_atomic_t *flag);

#endif
