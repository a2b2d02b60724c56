/* The archives of a data directory, <data-dir>/rum/<platform>/<name>.zip,
 * opened when first needed and kept open (up to a bound on descriptors).
 *
 * A zip added, replaced or removed takes effect at the next record that
 * needs it, without a restart and without a rescan per record: inotify on
 * the data directory says that something changed there (one read(2) that
 * finds nothing, per call, when nothing did), and then each archive is
 * looked at again (stat(2)) at its next use. Every check_ms an archive is
 * also looked at without a notification, for file systems inotify does not
 * see. An archive's identity is its device, inode, size and modification
 * time; when it changes, the zip is reopened and everything parsed out of
 * the old one is dropped from the cache. */
#ifndef RUM_SYMBOLICATE_STORE_H
#define RUM_SYMBOLICATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "archive.h"
#include "objcache.h"

#define STORE_NEVER_RECHECK UINT32_MAX

struct store;

enum store_status { STORE_OK, STORE_MISSING, STORE_BAD };

/* data_dir NULL: only store_get_path is used (--zip). watch: use inotify. */
struct store *store_new(const char *data_dir, uint32_t check_ms, int watch, struct objcache *cache);
void store_free(struct store *s);

/* The archive <data-dir>/rum/<dir>/<name>; NULL when it is missing or
 * cannot be opened (*st says which, err why). Valid until the next call. */
struct archive *store_get(struct store *s, const char *dir, const char *name, enum store_status *st,
			  struct rum_error *err);
/* The same for a path of its own. */
struct archive *store_get_path(struct store *s, const char *path, enum store_status *st,
			       struct rum_error *err);

/* SIGHUP: look at every archive again at its next use. */
void store_recheck_all(struct store *s);

#endif
