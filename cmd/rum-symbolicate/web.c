/* Web and mini-program stacks: each frame's URL path P is looked up as
 * the zip entry P.map, a source map (sourcemap.h) parsed into the cache
 * straight out of the zip, and the frame's position mapped through it. */
#include <stdio.h>
#include <string.h>

#include "jsframe.h"
#include "log.h"
#include "metrics.h"
#include "platform.h"
#include "sourcemap.h"

#define ENTRY_CAP 4200

struct map_load {
	struct archive *ar;
	uint64_t idx;
	uint64_t max_size;
};

static void *load_map(void *ctx, size_t mem_limit, size_t *mem, int *why, struct rum_error *err)
{
	struct map_load *ml = ctx;
	struct archive_reader rd;
	const char *name = archive_entry_name(ml->ar, ml->idx);
	struct rum_error e;
	*why = MISS_BAD_MAP;
	if (archive_reader_open(ml->ar, ml->idx, ml->max_size, &rd, &e) < 0) {
		err_set(err, "%s in %s: %s", name, ml->ar->path, e.msg);
		log_warn("%s", err->msg);
		return NULL;
	}
	/* Inflated whole: parsed where it lies, not copied out in chunks. */
	struct sourcemap *m = rd.mem ? sm_parse_mem(rd.mem, rd.size, mem_limit, &e)
				     : sm_parse(archive_read, &rd, mem_limit, &e);
	if (!m)
		err_set(err, "%s in %s: %s", name, ml->ar->path, rd.failed ? rd.err : e.msg);
	archive_reader_close(&rd);
	if (!m) {
		log_warn("%s", err->msg);
		return NULL;
	}
	*mem = sm_memory(m);
	log_debug("%s in %s: parsed, %zu bytes", name, ml->ar->path, *mem);
	return m;
}

static void free_map(void *m)
{
	sm_free(m);
}

static const struct objcache_kind sourcemap_kind = {"source map", load_map, free_map};

/* Frames of one stack mostly share a file: the last one's map (or why it
 * had none) is reused without a lookup in the zip or the cache. The map
 * stays valid until the next objcache_get, which only a new file makes. */
struct resolver {
	struct sym_ctx *cx;
	struct archive *ar;
	struct sym_result *res;
	unsigned frame; /* frames asked for so far */
	char last[ENTRY_CAP];
	size_t last_len;
	const struct sourcemap *last_map;
	int last_why;
};

static int frame_miss(struct resolver *r, int why)
{
	metric_inc(r->cx->m_frame_miss[why]);
	return why;
}

static const struct sourcemap *map_for(struct resolver *r, const char *path, size_t plen, int *why)
{
	char name[ENTRY_CAP];
	struct rum_error err;
	if (plen == r->last_len && memcmp(path, r->last, plen) == 0) {
		*why = r->last_why;
		return r->last_map;
	}
	r->last_map = NULL;
	r->last_len = 0;
	*why = 0;
	if (plen + 5 > sizeof name) {
		*why = MISS_BAD_URL;
		sym_miss(r->res, MISS_BAD_URL, "a URL path of %zu bytes", plen);
		return NULL;
	}
	memcpy(name, path, plen);
	memcpy(name + plen, ".map", 5);
	int64_t idx = archive_locate(r->ar, name);
	const struct sourcemap *m = NULL;
	if (idx < 0) {
		*why = MISS_NO_MAP;
		sym_miss(r->res, MISS_NO_MAP, "no %s in %s", name, r->ar->path);
	} else {
		struct map_load ml = {r->ar, (uint64_t)idx, r->cx->max_map_size};
		m = objcache_get(r->cx->cache, r->ar->id, (uint64_t)idx, &sourcemap_kind, &ml, why,
				 &err);
		if (!m)
			sym_miss(r->res, (enum sym_miss) * why, "%s", err.msg);
	}
	memcpy(r->last, path, plen);
	r->last_len = plen;
	r->last_map = m;
	r->last_why = *why;
	return m;
}

static int map_position(void *ctx, const char *path, uint32_t line, uint32_t col,
			struct js_original *o)
{
	struct resolver *r = ctx;
	int why;
	r->frame++;
	const struct sourcemap *m = map_for(r, path, strlen(path), &why);
	if (!m)
		return frame_miss(r, why);
	struct sm_original so;
	if (sm_lookup(m, line, col, &so) < 0) {
		sym_miss(r->res, MISS_UNMAPPED, "%s.map: nothing at line %u, column %u", path,
			 line + 1, col + 1);
		return frame_miss(r, MISS_UNMAPPED);
	}
	o->source = so.source;
	o->name = so.name;
	o->line = so.line;
	o->column = so.column;
	return 0;
}

static int web_restore(struct sym_ctx *cx, struct archive *ar, const struct sym_request *rq,
		       struct buf *out, struct sym_result *res)
{
	struct resolver r = {.cx = cx, .ar = ar, .res = res};
	struct js_stats st;
	if (js_stack_rewrite(rq->stack, rq->stack_len, cx->names, map_position, &r, out, &st) < 0)
		return -1;
	res->frames = st.frames;
	res->restored = st.restored;
	/* Frames refused before a resolver saw them */
	unsigned early = st.frames - st.restored - (r.frame - st.restored);
	if (early)
		metric_add(cx->m_frame_miss[MISS_BAD_URL], early);
	if (st.first_miss < 0) {
		/* The first frame missed had no usable URL: it comes first. */
		res->miss = MISS_NONE;
		sym_miss(res, MISS_BAD_URL, "line %u: %s", st.first_miss_line,
			 st.first_miss == JS_MISS_BAD_POS ? "line 0 is no position"
							  : "the URL has no path");
	}
	return 0;
}

static const char *const web_sdks[] = {"df_web_rum_sdk", NULL};
static const char *const miniapp_sdks[] = {"df_miniapp_rum_sdk", "df_uniapp_rum_sdk", NULL};

const struct platform platform_web = {"web", web_sdks, NULL, web_restore, NULL, NULL};
const struct platform platform_miniapp = {"miniapp", miniapp_sdks, "web", web_restore, NULL, NULL};
