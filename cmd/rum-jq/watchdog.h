/* The time budget of a program run, and the eye on --dir.
 *
 * jq 1.6 offers no interrupt callback; what it has is jq_halt, and its
 * interpreter looks at the halted flag before every instruction. So a
 * thread watches the runs: the main thread numbers each run (odd while one
 * is in progress, two atomic increments, no system call), and when the same
 * run has used --max-ms of the main thread's CPU time (not wall time: a
 * loaded machine that keeps the stage waiting does not stop a program that
 * is fine) the thread sends SIGALRM to the main
 * thread, whose handler calls jq_halt on the running program. Run on the
 * main thread itself, the handler touches the jq state from the thread that
 * owns it, between two of its instructions; jq_halt stores three words and
 * allocates nothing. A budget is checked between jq's instructions: a single
 * builtin that runs long (one huge string repeat) ends before it is seen.
 *
 * The same thread waits on the inotify descriptor of --dir: on an event it
 * drains it, raises a flag for the main thread and wakes it with the same
 * signal (its wait for input is a poll, which a signal ends). */
#ifndef RUM_JQ_WATCHDOG_H
#define RUM_JQ_WATCHDOG_H

#include <jq.h>
#include <signal.h>
#include <stdint.h>

#include "errmsg.h"

extern uint64_t watchdog_run_seq;      /* odd while a run is in progress */
extern jq_state *volatile watchdog_jq; /* the program running */
extern volatile sig_atomic_t watchdog_fired;

/* max_ms: the budget of one run; inotify_fd: -1 for none. Starts the
 * thread with every signal blocked in it. 0, or -1 with err. */
int watchdog_start(unsigned max_ms, int inotify_fd, struct rum_error *err);

static inline void watchdog_enter(jq_state *jq)
{
	watchdog_jq = jq;
	watchdog_fired = 0;
	__atomic_fetch_add(&watchdog_run_seq, 1, __ATOMIC_RELEASE);
}

/* 1 when the run was stopped. */
static inline int watchdog_leave(void)
{
	__atomic_fetch_add(&watchdog_run_seq, 1, __ATOMIC_RELEASE);
	watchdog_jq = NULL;
	return watchdog_fired;
}

/* Whether --dir changed since the last call. */
int watchdog_dir_changed(void);

#endif
