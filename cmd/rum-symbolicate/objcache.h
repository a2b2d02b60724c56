/* Objects parsed out of archive entries (source maps now; mapping files,
 * debug info later), kept under a memory budget, least recently used
 * dropped first. A failed load is remembered too (with its reason), so a
 * broken 100 MB map is not parsed again for every record: until its archive
 * changes, which drops everything loaded from it. */
#ifndef RUM_SYMBOLICATE_OBJCACHE_H
#define RUM_SYMBOLICATE_OBJCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"

struct objcache;

/* Builds the object; *mem gets the bytes it holds. On failure returns
 * NULL, fills err and writes a caller-defined code (> 0) into *why.
 * mem_limit: the most the object may take (the whole budget). */
typedef void *(*obj_load_fn)(void *ctx, size_t mem_limit, size_t *mem, int *why,
			     struct rum_error *err);

struct objcache_kind {
	const char *name; /* for the log */
	obj_load_fn load;
	void (*free)(void *obj);
};

struct objcache *objcache_new(size_t budget);
void objcache_free(struct objcache *c);

/* The object for (archive, entry, kind), loaded on a miss. NULL when it
 * cannot be had, with *why and err from this or the remembered failure.
 * The object stays valid until the next objcache_get or drop. */
void *objcache_get(struct objcache *c, uint64_t archive_id, uint64_t entry,
		   const struct objcache_kind *kind, void *load_ctx, int *why,
		   struct rum_error *err);

/* Forget everything loaded from an archive (it changed or went away). */
void objcache_drop_archive(struct objcache *c, uint64_t archive_id);

size_t objcache_bytes(const struct objcache *c);
size_t objcache_count(const struct objcache *c);

#endif
