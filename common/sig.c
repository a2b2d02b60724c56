#include "sig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

volatile sig_atomic_t sig_term;
volatile sig_atomic_t sig_hup;

static void on_term(int signo)
{
	(void)signo;
	sig_term = 1;
}

static void on_hup(int signo)
{
	(void)signo;
	sig_hup = 1;
}

int sig_setup(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = on_hup;
	if (sigaction(SIGHUP, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -1;
	return stop_with_supervisor();
}

/* RUMPIPE_SUPERVISOR_PID names the parent whose death is SIGTERM to us (set
 * by rum-collector for the head of its pipeline). Not passed on to our own
 * children. A parent gone already (it died before prctl) is the same
 * SIGTERM at once. */
int stop_with_supervisor(void)
{
	const char *v = getenv("RUMPIPE_SUPERVISOR_PID");
	if (!v)
		return 0;
	char *end;
	errno = 0;
	long pid = strtol(v, &end, 10);
	int valid = errno == 0 && end != v && *end == 0 && pid > 1;
	unsetenv("RUMPIPE_SUPERVISOR_PID");
	if (!valid)
		return 0;
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		return -1;
	if (getppid() != (pid_t)pid)
		raise(SIGTERM);
	return 0;
}
