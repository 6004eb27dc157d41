#include "stop_signal.h"

#include <string.h>

static volatile sig_atomic_t *stop_flag; /* set once, before the handler is installed */

static void on_stop_signal(int signo)
{
    (void)signo;
    *stop_flag = 1;
}

void signal_handle(int signo, void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(signo, &sa, NULL);
}

void stop_signal_catch(volatile sig_atomic_t *flag)
{
    stop_flag = flag;
    signal_handle(SIGINT, on_stop_signal);
    signal_handle(SIGTERM, on_stop_signal);
}
