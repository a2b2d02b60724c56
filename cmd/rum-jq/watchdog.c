/* The watchdog thread (see watchdog.h). */
#include "watchdog.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

uint64_t watchdog_run_seq;
jq_state *volatile watchdog_jq;
volatile sig_atomic_t watchdog_fired;

static uint64_t halt_seq; /* the run the thread asks the handler to stop */
static int dir_changed;
static pthread_t main_thread;
static clockid_t main_cpu; /* the CPU time of the main thread */
static unsigned budget_ms;
static int watch_fd = -1;

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	uint64_t run = __atomic_load_n(&watchdog_run_seq, __ATOMIC_ACQUIRE);
	jq_state *jq = watchdog_jq;
	/* The run asked about may have ended since: only that run is
	 * stopped, and only once (jq_halt asserts it was not halted). */
	if ((run & 1) && run == __atomic_load_n(&halt_seq, __ATOMIC_ACQUIRE) && jq &&
	    !jq_halted(jq)) {
		jq_halt(jq, jv_invalid(), jv_invalid());
		watchdog_fired = 1;
	}
	errno = saved;
}

int watchdog_dir_changed(void)
{
	if (!__atomic_load_n(&dir_changed, __ATOMIC_RELAXED))
		return 0;
	return __atomic_exchange_n(&dir_changed, 0, __ATOMIC_ACQ_REL);
}

/* Milliseconds of CPU the main thread has used: a run is charged for the
 * time it computes, not for the time a loaded machine keeps it waiting. */
static uint64_t main_cpu_ms(void)
{
	struct timespec ts;
	if (clock_gettime(main_cpu, &ts) < 0)
		return mono_ms();
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void drain_events(void)
{
	char buf[4096];
	while (read(watch_fd, buf, sizeof buf) > 0)
		;
	__atomic_store_n(&dir_changed, 1, __ATOMIC_RELEASE);
	pthread_kill(main_thread, SIGALRM);
}

static void *watch(void *arg)
{
	(void)arg;
	/* Looked at four times a budget: a run is stopped between --max-ms
	 * and 1.25 × --max-ms after it began. */
	int tick = budget_ms / 4 ? (int)(budget_ms / 4) : 1;
	if (tick > 250)
		tick = 250;
	uint64_t seen = 0, since = 0;
	for (;;) {
		struct pollfd pf = {.fd = watch_fd, .events = POLLIN};
		int n = poll(&pf, watch_fd >= 0 ? 1 : 0, tick);
		if (n > 0)
			drain_events();
		uint64_t run = __atomic_load_n(&watchdog_run_seq, __ATOMIC_ACQUIRE);
		if (!(run & 1)) {
			seen = 0;
			continue;
		}
		uint64_t now = main_cpu_ms();
		if (run != seen) {
			seen = run;
			since = now;
			continue;
		}
		if (now - since >= budget_ms) {
			__atomic_store_n(&halt_seq, run, __ATOMIC_RELEASE);
			pthread_kill(main_thread, SIGALRM);
			since = now; /* again a budget later if it is still going */
		}
	}
	return NULL;
}

int watchdog_start(unsigned max_ms, int inotify_fd, struct rum_error *err)
{
	budget_ms = max_ms;
	watch_fd = inotify_fd;
	main_thread = pthread_self();
	int crc = pthread_getcpuclockid(main_thread, &main_cpu);
	if (crc != 0)
		return err_set(err, "no CPU clock for the main thread: %s", strerror(crc));
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		return err_set(err, "cannot install the SIGALRM handler: %s", strerror(errno));
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	int rc = pthread_create(&t, NULL, watch, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return err_set(err, "cannot start the watchdog thread: %s", strerror(rc));
	pthread_detach(t);
	return 0;
}
