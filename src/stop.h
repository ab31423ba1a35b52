/* SIGINT and SIGTERM during training: the handler only records the signal; the driver looks
 * after every step, finishes cleanly and saves. Implementation: src/stop.c. */
#ifndef DD_STOP_H
#define DD_STOP_H

/* Installs the handlers (remembering the previous ones) and clears any recorded signal. A signal
 * ignored on entry (a shell's background job and SIGINT) is left ignored. */
void dd_stop_install(void);
/* Puts the previous handlers back; the signal received, if any, stays readable. */
void dd_stop_restore(void);
/* The signal received since dd_stop_install, or 0. */
int dd_stop_signal(void);
/* "SIGINT" or "SIGTERM": the name messages give SIGNAL, one of the two. */
const char *dd_stop_signal_name(int signal);
/* After a run that finished: a signal that came too late to stop it (in the last epoch's last
 * step or evaluation) is still the user's wish to stop, for a script's loop too. Returns it,
 * saying so in ERR, or 0. */
int dd_stop_late(char *err);

#endif
