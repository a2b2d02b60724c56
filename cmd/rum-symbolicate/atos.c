/* Choosing between --atos, --atos-if-present and llvm-symbolizer. */
#include "atos.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

static int executable_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EACCES;
		return -1;
	}
	return access(path, X_OK);
}

int prog_runnable(const char *prog)
{
	if (!*prog) {
		errno = ENOENT;
		return -1;
	}
	if (strchr(prog, '/'))
		return executable_file(prog);
	/* A bare name: the directories of $PATH in order, as posix_spawnp
	 * searches them; an empty entry is the current directory. */
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	size_t plen = strlen(prog);
	int why = ENOENT;
	for (const char *p = path;; p++) {
		const char *end = strchr(p, ':');
		size_t dlen = end ? (size_t)(end - p) : strlen(p);
		char full[4096];
		if (dlen + 1 + plen < sizeof full) {
			if (dlen)
				memcpy(full, p, dlen);
			else
				full[dlen++] = '.';
			full[dlen] = '/';
			memcpy(full + dlen + 1, prog, plen + 1);
			if (executable_file(full) == 0)
				return 0;
			if (errno == EACCES)
				why = EACCES;
		}
		if (!end)
			break;
		p = end;
	}
	errno = why;
	return -1;
}

const char *atos_choose(const char *explicit_atos, const char *if_present)
{
	uint64_t *fallbacks = metric_get(
	    "rum_symbolicate_ios_atos_fallbacks_total", NULL, METRIC_COUNTER,
	    "times --atos-if-present could not be run and llvm-symbolizer took its place");
	if (explicit_atos && *explicit_atos)
		return explicit_atos;
	if (!if_present || !*if_present)
		return NULL;
	if (prog_runnable(if_present) == 0)
		return if_present;
	log_warn("--atos-if-present %s: %s; iOS stacks go to llvm-symbolizer instead", if_present,
		 strerror(errno));
	metric_inc(fallbacks);
	return NULL;
}
