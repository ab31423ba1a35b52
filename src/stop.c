/* Recording SIGINT/SIGTERM for a clean stop; see stop.h. */
#include "stop.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "deepdigits/idx.h" /* DD_ERR_LEN */

static volatile sig_atomic_t received;
static struct sigaction previous_int, previous_term;

static void on_signal(int sig) {
    received = sig;
}

void dd_stop_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    received = 0;
    /* A signal ignored on entry stays ignored: a shell starts background jobs with SIGINT
     * ignored, and a Ctrl-C meant for the shell must not stop them half way. */
    sigaction(SIGINT, NULL, &previous_int);
    sigaction(SIGTERM, NULL, &previous_term);
    if (previous_int.sa_handler != SIG_IGN) sigaction(SIGINT, &sa, NULL);
    if (previous_term.sa_handler != SIG_IGN) sigaction(SIGTERM, &sa, NULL);
}

void dd_stop_restore(void) {
    sigaction(SIGINT, &previous_int, NULL);
    sigaction(SIGTERM, &previous_term, NULL);
}

int dd_stop_signal(void) {
    return received;
}

const char *dd_stop_signal_name(int signal) {
    return signal == SIGINT ? "SIGINT" : "SIGTERM";
}

int dd_stop_late(char *err) {
    if (!received) return 0;
    snprintf(err, DD_ERR_LEN, "%s came as the run ended: it finished as usual",
             dd_stop_signal_name(received));
    return received;
}
