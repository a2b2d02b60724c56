/* Starting helper programs (llvm-symbolizer, rum-symbolicate). */
#ifndef RUM_SUBPROC_H
#define RUM_SUBPROC_H

#include <sys/types.h>

/* Runs prog (looked up in PATH when it has no '/') with argv and envp
 * (NULL: this process's environment). The child's standard input, output
 * and error are the descriptors in, out and errfd, /dev/null where one is
 * -1; every other descriptor is closed in it, and it starts with no signal
 * blocked and SIGPIPE, SIGTERM, SIGINT and SIGHUP at their defaults,
 * whatever this process set. Returns the pid, or -1 with errno set. */
pid_t spawn_fds(const char *prog, char *const argv[], char *const envp[], int in, int out,
		int errfd);

#endif
