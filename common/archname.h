/* The file name of a source map archive: what the sourcemap API of
 * rum-listen stores an upload as, and what rum-symbolicate looks for. One
 * rule for both, so that what one writes the other finds, and neither
 * touches a path outside <data-dir>/rum/<platform>/.
 *
 * The name is <app_id>-<env>-<version>.zip (DataKit's), an empty env or
 * version written "none", and every '/' turned into "__", so that no
 * separator survives. What would still be a trick, or an unusable name, is
 * refused: "." and ".." segments, control characters, backslashes, names
 * longer than 250 bytes before ".zip". */
#ifndef RUM_ARCHNAME_H
#define RUM_ARCHNAME_H

#include <stddef.h>

#include "errmsg.h"

/* Room for any name archive_name() makes, with its NUL. */
#define ARCHIVE_NAME_MAX 256

/* Writes the archive's file name into out (ARCHIVE_NAME_MAX bytes). env and
 * version may be NULL or "" ("none"); app_id may not. 0, or -1 with err
 * saying which value is refused and why. */
int archive_name(const char *app_id, const char *env, const char *version,
		 char out[ARCHIVE_NAME_MAX], struct rum_error *err);

#endif
