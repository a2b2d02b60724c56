#include "subproc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static int add_fd(posix_spawn_file_actions_t *fa, int fd, int target, int flags)
{
	if (fd < 0)
		return posix_spawn_file_actions_addopen(fa, target, "/dev/null", flags, 0);
	return posix_spawn_file_actions_adddup2(fa, fd, target);
}

pid_t spawn_fds(const char *prog, char *const argv[], char *const envp[], int in, int out,
		int errfd)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int rc = posix_spawn_file_actions_init(&fa);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	rc = posix_spawnattr_init(&at);
	if (rc != 0) {
		posix_spawn_file_actions_destroy(&fa);
		errno = rc;
		return -1;
	}
	rc = add_fd(&fa, in, 0, O_RDONLY);
	if (rc == 0)
		rc = add_fd(&fa, out, 1, O_WRONLY);
	if (rc == 0)
		rc = add_fd(&fa, errfd, 2, O_WRONLY);
	/* Whatever else is open here (spool files, sockets, other helpers'
	 * pipes) is not the child's business. */
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* Our threads may run with the stop signals blocked and SIGPIPE
	 * ignored; the child starts from the defaults. */
	sigset_t none, def;
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGHUP);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&at, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&at, &def);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid = -1;
	if (rc == 0)
		rc = (strchr(prog, '/') ? posix_spawn : posix_spawnp)(&pid, prog, &fa, &at, argv,
								      envp ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return pid;
}
