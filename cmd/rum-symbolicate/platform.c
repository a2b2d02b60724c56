/* The table of platforms and what they share: the archive for a request,
 * the counters. */
#include "platform.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "archname.h"
#include "metrics.h"

extern const struct platform platform_web, platform_miniapp, platform_android, platform_ios;

/* New platforms go here (and in sym_miss_names if they need reasons). */
static const struct platform *const platforms[] = {&platform_web, &platform_miniapp,
						   &platform_android, &platform_ios, NULL};

const char *const sym_miss_names[MISS_N] = {
    [MISS_NONE] = "none",
    [MISS_NO_APP_ID] = "no_app_id",
    [MISS_BAD_NAME] = "bad_name",
    [MISS_NO_ARCHIVE] = "no_archive",
    [MISS_BAD_ARCHIVE] = "bad_archive",
    [MISS_NO_FRAMES] = "no_frames",
    [MISS_BAD_URL] = "bad_url",
    [MISS_NO_MAP] = "no_map",
    [MISS_BAD_MAP] = "bad_map",
    [MISS_UNMAPPED] = "unmapped",
    [MISS_UNSUPPORTED] = "unsupported",
    [MISS_MISMATCH] = "mismatch",
    [MISS_ENGINE] = "engine",
};

static int platform_index(const struct platform *pf)
{
	for (int i = 0; platforms[i]; i++)
		if (platforms[i] == pf)
			return i;
	return 0;
}

const struct platform *platform_by_name(const char *name)
{
	for (int i = 0; platforms[i]; i++)
		if (strcmp(platforms[i]->name, name) == 0)
			return platforms[i];
	return NULL;
}

const struct platform *platform_by_sdk(const char *sdk, size_t len)
{
	for (int i = 0; platforms[i]; i++)
		for (const char *const *s = platforms[i]->sdk_names; *s; s++)
			if (strlen(*s) == len && memcmp(*s, sdk, len) == 0)
				return platforms[i];
	return NULL;
}

const char *platform_names(void)
{
	static char names[128];
	if (!names[0]) {
		size_t n = 0;
		for (int i = 0; platforms[i] && n < sizeof names; i++)
			n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "",
					      platforms[i]->name);
	}
	return names;
}

void sym_ctx_init_metrics(struct sym_ctx *cx)
{
	char l[64];
	for (int i = 0; platforms[i] && i < SYM_MAX_PLATFORMS; i++) {
		snprintf(l, sizeof l, "platform=\"%s\"", platforms[i]->name);
		cx->m_stacks[i] = metric_get(
		    "rum_symbolicate_stacks_total", l, METRIC_COUNTER,
		    "Stacks to restore (error records with error_stack; stack mode: 1).");
		cx->m_stacks_restored[i] =
		    metric_get("rum_symbolicate_stacks_restored_total", l, METRIC_COUNTER,
			       "Stacks with at least one frame restored.");
		if (platforms[i]->init)
			platforms[i]->init();
	}
	cx->m_frames = metric_get("rum_symbolicate_frames_total", NULL, METRIC_COUNTER,
				  "Stack frames with a position, in the stacks to restore.");
	cx->m_frames_restored = metric_get("rum_symbolicate_frames_restored_total", NULL,
					   METRIC_COUNTER, "Stack frames restored.");
	for (int i = 1; i < MISS_N; i++) {
		snprintf(l, sizeof l, "reason=\"%s\"", sym_miss_names[i]);
		cx->m_stack_miss[i] =
		    metric_get("rum_symbolicate_misses_total", l, METRIC_COUNTER,
			       "Stacks passed on unchanged, by the first reason met.");
		cx->m_frame_miss[i] = metric_get("rum_symbolicate_frame_misses_total", l,
						 METRIC_COUNTER, "Frames not restored, by reason.");
	}
}

void sym_miss(struct sym_result *res, enum sym_miss why, const char *fmt, ...)
{
	if (res->miss != MISS_NONE)
		return;
	res->miss = why;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof res->why, fmt, ap);
	va_end(ap);
}

static struct archive *find_archive(struct sym_ctx *cx, const struct platform *pf,
				    const struct sym_request *rq, struct sym_result *res)
{
	char name[ARCHIVE_NAME_MAX];
	struct rum_error err, why;
	enum store_status st;
	struct archive *ar;
	if (cx->zip_path) {
		ar = store_get_path(cx->store, cx->zip_path, &st, &err);
		if (!ar)
			sym_miss(res, st == STORE_MISSING ? MISS_NO_ARCHIVE : MISS_BAD_ARCHIVE,
				 "%s", err.msg);
		return ar;
	}
	if (!rq->app_id) {
		sym_miss(res, MISS_BAD_NAME,
			 "app_id, env, version or error_type is no usable name");
		return NULL;
	}
	if (!*rq->app_id) {
		sym_miss(res, MISS_NO_APP_ID, "no app_id");
		return NULL;
	}
	/* The sourcemap API's rule: a name it refuses (a '..' segment, a
	 * backslash, a control character) is never looked up. */
	if (archive_name(rq->app_id, rq->env, rq->version, name, &why) < 0) {
		sym_miss(res, MISS_BAD_NAME, "%s", why.msg);
		return NULL;
	}
	ar = store_get(cx->store, pf->name, name, &st, &err);
	if (ar || st != STORE_MISSING || !pf->fallback) {
		if (!ar)
			sym_miss(res, st == STORE_MISSING ? MISS_NO_ARCHIVE : MISS_BAD_ARCHIVE,
				 "%s", err.msg);
		return ar;
	}
	struct rum_error err2;
	ar = store_get(cx->store, pf->fallback, name, &st, &err2);
	if (!ar) {
		if (st == STORE_MISSING)
			sym_miss(res, MISS_NO_ARCHIVE, "%s (nor in %s/)", err.msg, pf->fallback);
		else
			sym_miss(res, MISS_BAD_ARCHIVE, "%s", err2.msg);
	}
	return ar;
}

int sym_restore(struct sym_ctx *cx, const struct platform *pf, const struct sym_request *rq,
		struct buf *out, struct sym_result *res)
{
	memset(res, 0, sizeof *res);
	int pi = platform_index(pf);
	size_t mark = out->len;
	metric_inc(cx->m_stacks[pi]);
	if (pf->accepts && !pf->accepts(rq, res)) {
		metric_inc(cx->m_stack_miss[res->miss]);
		return 0;
	}
	struct archive *ar = find_archive(cx, pf, rq, res);
	if (ar && pf->restore(cx, ar, rq, out, res) < 0)
		return -1;
	if (ar && res->frames == 0)
		sym_miss(res, MISS_NO_FRAMES, "no stack frame with a position");
	metric_add(cx->m_frames, res->frames);
	metric_add(cx->m_frames_restored, res->restored);
	if (res->restored) {
		metric_inc(cx->m_stacks_restored[pi]);
		return 0;
	}
	out->len = mark;
	if (res->miss == MISS_NONE)
		sym_miss(res, MISS_UNMAPPED, "nothing restored");
	metric_inc(cx->m_stack_miss[res->miss]);
	return 0;
}
