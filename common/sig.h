/* Signal flags shared by every program. Handlers are installed without
 * SA_RESTART so that a blocking read returns EINTR and the loop can look at
 * the flags. SIGPIPE is ignored: a closed pipe shows up as EPIPE. */
#ifndef RUM_SIG_H
#define RUM_SIG_H

#include <signal.h>

extern volatile sig_atomic_t sig_term; /* SIGTERM or SIGINT seen */
extern volatile sig_atomic_t sig_hup;  /* SIGHUP seen; clear it after reloading */

int sig_setup(void);

#endif
