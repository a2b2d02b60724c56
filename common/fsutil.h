/* Files and directories. */
#ifndef RUM_FSUTIL_H
#define RUM_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "errmsg.h"

/* mkdir -p: dir and its missing parents with mode; 0, or -1 with errno. */
int mkdir_p(const char *dir, mode_t mode);

/* Appends the whole of path (a regular file, or a FIFO such as <(...)) to
 * out, refusing one of more than max bytes. A NUL follows the data in
 * memory (not counted in out->len). 0, or -1 with err saying why: the
 * reason alone ("Is a directory", "not a regular file", "larger than 16 MiB", strerror), for
 * the caller to put after the option and the path. */
int read_file(const char *path, size_t max, struct buf *out, struct rum_error *err);

#endif
