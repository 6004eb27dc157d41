#include "stop_signal.h"

#include <string.h>

static volatile sig_atomic_t *stop_flag; /* set once, before the handler is installed */

static void on_stop_signal(int signo)
{
    (void)signo;
    *stop_flag = 1;
}

void stop_signal_catch(volatile sig_atomic_t *flag)
{
    stop_flag = flag;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
