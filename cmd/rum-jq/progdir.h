/* The programs of --dir, named like DataKit's Pipeline scripts for RUM:
 * <app_id>_<measurement>.jq, <measurement>.jq, default.jq. Read at start
 * (a program that does not compile is then an error), read again on
 * SIGHUP and when inotify reports a change: a file whose size, time or
 * inode changed is compiled again, and when it does not compile the
 * version in use stays (logged and counted); a file removed is no longer
 * used. Files whose names start with '.' are skipped (editors' copies). */
#ifndef RUM_JQ_PROGDIR_H
#define RUM_JQ_PROGDIR_H

#include <stddef.h>

#include "errmsg.h"
#include "program.h"

#define PROGDIR_FILE_MAX ((size_t)1 << 20) /* bytes of one program */

struct progdir {
	const char *dir;
	struct program **v; /* sorted by name */
	size_t n;
	/* By name without ".jq": open addressing, mask + 1 slots. */
	struct program **table;
	size_t mask;
	struct program *def; /* default.jq */
};

/* Reads dir. at_start: a file that cannot be read or compiled is an error
 * (-2 with err); later it is logged and the version in use kept. -1 with
 * err: the directory cannot be read (the set in use stays); -2: out of
 * memory, and the set is empty. */
int progdir_scan(struct progdir *d, int at_start, struct rum_error *err);
void progdir_free(struct progdir *d);

/* How many programs are in use (compiled). */
size_t progdir_count(const struct progdir *d);

/* The program for a record of app_id (NULL or decoded, alen bytes) and
 * measurement (decoded): the most specific, or NULL. */
struct program *progdir_find(const struct progdir *d, const char *app, size_t alen,
			     const char *meas, size_t mlen);

#endif
