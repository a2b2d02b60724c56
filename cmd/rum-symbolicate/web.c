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

static void *load_map(void *ctx, size_t mem_limit, size_t *mem, int *why, char *err, size_t errlen)
{
	struct map_load *ml = ctx;
	struct archive_reader rd;
	const char *name = archive_entry_name(ml->ar, ml->idx);
	char e[512];
	*why = MISS_BAD_MAP;
	if (archive_reader_open(ml->ar, ml->idx, ml->max_size, &rd, e, sizeof e) < 0) {
		snprintf(err, errlen, "%s in %s: %s", name, ml->ar->path, e);
		log_warn("%s", err);
		return NULL;
	}
	struct sourcemap *m = sm_parse(archive_read, &rd, mem_limit, e, sizeof e);
	if (!m)
		snprintf(err, errlen, "%s in %s: %s", name, ml->ar->path, rd.failed ? rd.err : e);
	archive_reader_close(&rd);
	if (!m) {
		log_warn("%s", err);
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

struct resolver {
	struct sym_ctx *cx;
	struct archive *ar;
	struct sym_result *res;
	unsigned frame; /* frames asked for so far */
};

static int resolve(void *ctx, const char *path, uint32_t line, uint32_t col, struct js_original *o)
{
	struct resolver *r = ctx;
	char name[ENTRY_CAP], err[768];
	int why;
	r->frame++;
	if ((size_t)snprintf(name, sizeof name, "%s.map", path) >= sizeof name)
		why = MISS_BAD_URL;
	else
		why = 0;
	int64_t idx = why ? -1 : archive_locate(r->ar, name);
	if (idx < 0) {
		if (!why)
			why = MISS_NO_MAP;
		metric_inc(r->cx->m_frame_miss[why]);
		sym_miss(r->res, why, "no %s in %s", name, r->ar->path);
		return why;
	}
	struct map_load ml = {r->ar, (uint64_t)idx, r->cx->max_map_size};
	const struct sourcemap *m = objcache_get(r->cx->cache, r->ar->id, (uint64_t)idx,
						 &sourcemap_kind, &ml, &why, err, sizeof err);
	if (!m) {
		metric_inc(r->cx->m_frame_miss[why]);
		sym_miss(r->res, (enum sym_miss)why, "%s", err);
		return why;
	}
	struct sm_original so;
	if (sm_lookup(m, line, col, &so) < 0) {
		metric_inc(r->cx->m_frame_miss[MISS_UNMAPPED]);
		sym_miss(r->res, MISS_UNMAPPED, "%s: nothing at line %u, column %u", name, line + 1,
			 col + 1);
		return MISS_UNMAPPED;
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
	struct resolver r = {cx, ar, res, 0};
	struct js_stats st;
	if (js_stack_rewrite(rq->stack, rq->stack_len, cx->names, resolve, &r, out, &st) < 0)
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

const struct platform platform_web = {"web", web_sdks, NULL, web_restore};
const struct platform platform_miniapp = {"miniapp", miniapp_sdks, "web", web_restore};
