/* Signal flags shared by every program. Handlers are installed without
 * SA_RESTART so that a blocking read returns EINTR and the loop can look at
 * the flags. SIGPIPE is ignored: a closed pipe shows up as EPIPE. */
#ifndef RUM_SIG_H
#define RUM_SIG_H

#include <signal.h>

extern volatile sig_atomic_t sig_term; /* SIGTERM or SIGINT seen */
extern volatile sig_atomic_t sig_hup;  /* SIGHUP seen; clear it after reloading */

/* Installs the handlers, then stop_with_supervisor(). 0 or -1 (errno). */
int sig_setup(void);
/* Under a supervisor that asked for it (RUMPIPE_SUPERVISOR_PID in the
 * environment): SIGTERM when that parent dies, so that a pipeline whose
 * supervisor was killed drains and ends instead of running unsupervised.
 * 0 or -1 (errno). */
int stop_with_supervisor(void);

#endif
