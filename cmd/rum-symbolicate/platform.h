/* What every platform's restorer shares, and the table of platforms.
 *
 * A platform (web.c: web and miniapp; android.c; ios to come) names its
 * directory under <data-dir>/rum/, the sdk_name values whose records it
 * takes, and a restore function that rewrites a whole stack from one
 * archive. Finding the archive (naming rules, fallback directory, change
 * detection), the cache of parsed objects, the metrics and both modes of
 * the program (records, `stack`) are the same for all of them; adding a
 * platform is a file beside web.c and a line in platform.c's table. */
#ifndef RUM_SYMBOLICATE_PLATFORM_H
#define RUM_SYMBOLICATE_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "archive.h"
#include "buf.h"
#include "objcache.h"
#include "store.h"

/* Why a stack (or a frame) was not restored. */
enum sym_miss {
	MISS_NONE = 0,
	MISS_NO_APP_ID,	  /* the record has no app_id */
	MISS_BAD_NAME,	  /* app_id, env or version cannot name a file */
	MISS_NO_ARCHIVE,  /* no zip for this app, env and version */
	MISS_BAD_ARCHIVE, /* a zip libzip cannot open */
	MISS_NO_FRAMES,	  /* nothing in the stack looks like a frame */
	MISS_BAD_URL,	  /* a frame whose URL has no path */
	MISS_NO_MAP,	  /* no map for the frame's file in the zip */
	MISS_BAD_MAP,	  /* the map is invalid, too large, or unreadable */
	MISS_UNMAPPED,	  /* the map has nothing at the frame's position */
	MISS_UNSUPPORTED, /* a platform or error type not restored (yet) */
	MISS_MISMATCH,	  /* a debug file for another build (UUID) or architecture */
	MISS_ENGINE,	  /* the external symbolizer could not be run or failed */
	MISS_N
};

extern const char *const sym_miss_names[MISS_N];

#define SYM_MAX_PLATFORMS 8

struct sym_ctx {
	struct store *store;
	struct objcache *cache;
	const char *zip_path;	/* --zip: this archive for every request */
	int names;		/* --names */
	uint64_t max_map_size;	/* --max-map-mb, in bytes */
	const char *atos;	/* --atos, or NULL */
	const char *symbolizer; /* --llvm-symbolizer, or NULL */
	/* counters, by platform where it says so */
	uint64_t *m_stacks[SYM_MAX_PLATFORMS], *m_stacks_restored[SYM_MAX_PLATFORMS];
	uint64_t *m_frames, *m_frames_restored;
	uint64_t *m_frame_miss[MISS_N];
	uint64_t *m_stack_miss[MISS_N];
};

struct sym_request {
	const char *app_id, *env, *version; /* "" when absent; app_id NULL: unusable */
	const char *error_type;		    /* "" when absent */
	const char *stack;
	size_t stack_len;
};

struct sym_result {
	unsigned frames, restored;
	enum sym_miss miss; /* the first reason a frame (or the stack) was not restored */
	char why[768];	    /* what it was, for people */
};

struct platform {
	const char *name;	      /* --platform; the directory under <data-dir>/rum/ */
	const char *const *sdk_names; /* sdk_name values it takes (NULL-terminated) */
	const char *fallback;	      /* directory tried when name's has no archive; or NULL */
	/* Appends the whole stack, rewritten, to out; fills res (frames,
	 * restored, the first miss). -1 only when out cannot grow. */
	int (*restore)(struct sym_ctx *cx, struct archive *ar, const struct sym_request *rq,
		       struct buf *out, struct sym_result *res);
	/* Optional: 0 (with the miss in res) for a request the platform has
	 * no restorer for, such as an error_type it does not know; asked
	 * before any archive is looked for. */
	int (*accepts)(const struct sym_request *rq, struct sym_result *res);
	/* Optional: the platform's own metrics, once at start-up. */
	void (*init)(void);
};

const struct platform *platform_by_name(const char *name);
const struct platform *platform_by_sdk(const char *sdk, size_t len);
/* "web, miniapp" for messages */
const char *platform_names(void);

/* Metrics, once at start-up. */
void sym_ctx_init_metrics(struct sym_ctx *cx);

/* Restores one stack: finds the archive (or takes --zip), calls the
 * platform, counts. res->restored > 0 when out holds a rewritten stack;
 * otherwise out is left as it was. -1 when out cannot grow. */
int sym_restore(struct sym_ctx *cx, const struct platform *pf, const struct sym_request *rq,
		struct buf *out, struct sym_result *res);

/* Records a miss in res if it is the first. */
void sym_miss(struct sym_result *res, enum sym_miss why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
