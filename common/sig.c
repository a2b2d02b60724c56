#include "sig.h"

#include <string.h>

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
	return 0;
}
