/* A write request's body → validated JSON record lines. All or nothing: the
 * first bad point fails the request and the caller emits none of it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "grow.h"
#include "jsonbody.h"
#include "listen.h"
#include "log.h"
#include "perthread.h"

/* Parser state kept per thread so that its arrays are reused. */
struct intake_tls {
	struct lp_point pt;
	struct record rec;
	struct buf scratch;
	struct buf scratch2;
	char orig_time[24]; /* the digits of a corrected point's __orig_time */
};

static void tls_destroy(void *p)
{
	struct intake_tls *t = p;
	lp_point_free(&t->pt);
	rec_free(&t->rec);
	buf_free(&t->scratch);
	buf_free(&t->scratch2);
	free(t);
}

static struct perthread tls_slot = PERTHREAD_INIT(struct intake_tls, tls_destroy);

int intake_fail(struct intake_err *err, unsigned status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	err->status = status;
	err->code = code;
	return -1;
}

/* The checks every point goes through, on decoded names. */
static int check_point(const char *meas, size_t meas_len, const char *app, size_t app_len,
		       int has_app, size_t index, size_t line, long *meas_idx,
		       struct intake_err *err)
{
	char ex[80];
	*meas_idx = strlist_find(&cfg.measurements, meas, meas_len);
	if (*meas_idx < 0) {
		excerpt(ex, sizeof ex, meas, meas_len);
		return intake_fail(err, 400, "rum.badMeasurement",
				   "point %zu (line %zu): measurement '%s' is not accepted", index,
				   line, ex);
	}
	if (!has_app)
		return intake_fail(err, 400, "rum.missingAppId",
				   "point %zu (line %zu): no app_id tag", index, line);
	if (app_len == 0)
		return intake_fail(err, 400, "rum.missingAppId",
				   "point %zu (line %zu): empty app_id tag", index, line);
	if (cfg.app_allow.n && !strlist_has(&cfg.app_allow, app, app_len)) {
		excerpt(ex, sizeof ex, app, app_len);
		return intake_fail(err, 400, "rum.appIdNotAllowed",
				   "point %zu (line %zu): app_id '%s' is not allowed", index, line,
				   ex);
	}
	return 0;
}

/* Decoded view of a raw line-protocol name: the bytes themselves when they
 * hold no escape, else unescaped into scratch. */
static int lp_name(const char *raw, size_t n, struct buf *scratch, const char **s, size_t *len)
{
	if (!memchr(raw, '\\', n)) {
		*s = raw;
		*len = n;
		return 0;
	}
	buf_reset(scratch);
	if (lp_unescape(scratch, raw, n, 0) < 0)
		return -1;
	*s = scratch->p ? scratch->p : "";
	*len = scratch->len;
	return 0;
}

/* Has the point the key, as a tag or a field? */
static int lp_has_key(const struct lp_point *pt, const char *key)
{
	for (size_t i = 0; i < pt->ntags; i++)
		if (lp_key_eq(pt->tags[i].key, pt->tags[i].key_len, key))
			return 1;
	for (size_t i = 0; i < pt->nfields; i++)
		if (lp_key_eq(pt->fields[i].key, pt->fields[i].key_len, key))
			return 1;
	return 0;
}

/* The global tags the point lacks, appended to its tags (plain text: no
 * LPF_*_ESC, so the writer escapes them for JSON only). 0; -1 when out of
 * memory or the point has the most tags the parser takes (its arrays never
 * grow past the parser's bounds, which it checks by their capacity). */
static int lp_add_global_tags(struct lp_point *pt)
{
	for (size_t i = 0; i < cfg.nglobal_tags; i++) {
		const struct added_tag *a = &cfg.global_tags[i];
		if (lp_has_key(pt, a->key))
			continue;
		/* One place stays for the tag ip. */
		if (pt->ntags + 2 > LP_MAX_TAGS ||
		    ARRAY_RESERVE(pt->tags, pt->tags_cap, pt->ntags + 1, LP_MAX_TAGS) < 0)
			return -1;
		pt->tags[pt->ntags++] = (struct lp_kv){
		    .key = a->key,
		    .key_len = strlen(a->key),
		    .val = a->val,
		    .val_len = a->val_len,
		    .type = LPV_STRING,
		    .flags = a->lp_flags,
		};
	}
	return 0;
}

/* DataKit's auto_timestamp_correction: a point further than the bias from
 * now takes now, its time kept in __orig_time (unless it has that key).
 * 0; -1 when out of memory or the point has the most fields the parser
 * takes. */
static int lp_correct_time(struct lp_point *pt, int64_t now, char digits[24])
{
	int64_t bias = cfg.time_correction_ns;
	if (pt->time_ns <= now + bias && pt->time_ns >= now - bias)
		return 0;
	if (!lp_has_key(pt, ORIG_TIME_FIELD)) {
		if (ARRAY_RESERVE(pt->fields, pt->fields_cap, pt->nfields + 1, LP_MAX_FIELDS) < 0)
			return -1;
		int n = snprintf(digits, 24, "%lld", (long long)pt->time_ns);
		pt->fields[pt->nfields++] = (struct lp_kv){
		    .key = ORIG_TIME_FIELD,
		    .key_len = sizeof ORIG_TIME_FIELD - 1,
		    .val = digits,
		    .val_len = (size_t)n,
		    .type = LPV_INT,
		    .flags = LPF_NUM_JSON | LPF_KEY_SAFE,
		};
	}
	pt->time_ns = now;
	return 0;
}

/* What DataKit's feed does to a point; 0, or -1 with err. */
static int lp_feed(struct lp_point *pt, int64_t now, char digits[24], size_t n,
		   struct intake_err *err)
{
	if (cfg.nglobal_tags && lp_add_global_tags(pt) < 0) {
		if (pt->ntags + 2 <= LP_MAX_TAGS)
			return intake_fail(err, 500, "rum.internal", "out of memory");
		return intake_fail(err, 400, "rum.badLine",
				   "point %zu (line %zu): no room for the --global-tags (%d tags "
				   "at most with them and ip)",
				   n, pt->line, LP_MAX_TAGS);
	}
	if (cfg.time_correction_ns && lp_correct_time(pt, now, digits) < 0) {
		if (pt->nfields < LP_MAX_FIELDS)
			return intake_fail(err, 500, "rum.internal", "out of memory");
		return intake_fail(err, 400, "rum.badLine",
				   "point %zu (line %zu): no room for " ORIG_TIME_FIELD
				   " (%d fields at most)",
				   n, pt->line, LP_MAX_FIELDS);
	}
	return 0;
}

static int intake_lp(const struct intake_in *in, struct intake_tls *t, struct buf *out,
		     uint64_t *per_meas, size_t *npoints, struct intake_err *err)
{
	struct lp_parser ps;
	lp_parser_init(&ps, in->body, in->len, in->precision, in->now_ns);
	struct lp_tag_set ip = {"ip", in->ip, in->ip_len};
	size_t n = 0;
	for (;;) {
		struct rum_error le;
		int rc = lp_next(&ps, &t->pt, &le);
		if (rc == 0)
			break;
		if (rc < 0)
			return intake_fail(err, 400, "rum.badLine", "line %zu, column %zu: %s",
					   le.line, le.column, le.msg);
		n++;
		const char *meas, *app = NULL;
		size_t meas_len, app_len = 0;
		int has_app = 0;
		if (lp_name(t->pt.meas, t->pt.meas_len, &t->scratch, &meas, &meas_len) < 0)
			return intake_fail(err, 500, "rum.internal", "out of memory");
		for (size_t i = 0; i < t->pt.ntags; i++) {
			const struct lp_kv *kv = &t->pt.tags[i];
			if (lp_key_eq(kv->key, kv->key_len, "app_id")) {
				if (lp_name(kv->val, kv->val_len, &t->scratch2, &app, &app_len) < 0)
					return intake_fail(err, 500, "rum.internal",
							   "out of memory");
				has_app = 1;
				break;
			}
		}
		long mi;
		if (check_point(meas, meas_len, app, app_len, has_app, n, t->pt.line, &mi, err) < 0)
			return -1;
		if ((cfg.nglobal_tags || cfg.time_correction_ns) &&
		    lp_feed(&t->pt, in->now_ns, t->orig_time, n, err) < 0)
			return -1;
		if (lp_point_to_json(&t->pt, &ip, 1, out) < 0 || buf_addc(out, '\n') < 0)
			return intake_fail(err, 500, "rum.internal", "out of memory");
		per_meas[mi]++;
	}
	*npoints = n;
	return 0;
}

static int intake_json(const struct intake_in *in, struct intake_tls *t, struct buf *out,
		       uint64_t *per_meas, size_t *npoints, struct intake_err *err)
{
	struct jsonbody jb;
	jsonbody_init(&jb, in->body, in->len);
	struct lp_tag_set ip = {"ip", in->ip, in->ip_len};
	struct record *r = &t->rec;
	size_t n = 0;
	for (;;) {
		struct rum_error je;
		int rc = jsonbody_next(&jb, r, &je);
		if (rc == 0)
			break;
		if (rc < 0) {
			if (jb.index == 0 && strcmp(je.msg, "empty body") == 0)
				break;
			return intake_fail(
			    err, 400, "rum.badJSON", "point %zu (line %zu, byte %zu): %s",
			    jb.index ? jb.index : 1, jsonbody_line(in->body, je.offset),
			    je.offset + 1, je.msg);
		}
		n++;
		size_t line = jsonbody_line(in->body, (size_t)(r->src - in->body));
		const char *meas, *app = NULL;
		size_t meas_len, app_len = 0;
		if (rec_str(r->meas, r->meas_len, &t->scratch, &meas, &meas_len) < 0)
			return intake_fail(err, 400, "rum.badJSON",
					   "point %zu (line %zu): bad measurement", n, line);
		const struct rec_kv *a = rec_tag(r, "app_id");
		if (a && rec_str(a->val, a->val_len, &t->scratch2, &app, &app_len) < 0)
			return intake_fail(err, 400, "rum.badJSON",
					   "point %zu (line %zu): bad app_id", n, line);
		long mi;
		if (check_point(meas, meas_len, app, app_len, a != NULL, n, line, &mi, err) < 0)
			return -1;
		if (r->nfields == 0)
			return intake_fail(err, 400, "rum.noFields",
					   "point %zu (line %zu): no fields", n, line);
		int64_t ns = in->now_ns;
		if (r->has_time && lp_time_to_ns(r->time, in->precision, &ns) < 0)
			return intake_fail(err, 400, "rum.badTime",
					   "point %zu (line %zu): time out of range", n, line);
		struct point_extra x = {cfg.global_tags, cfg.nglobal_tags, 0, 0};
		int64_t bias = cfg.time_correction_ns;
		if (bias && (ns > in->now_ns + bias || ns < in->now_ns - bias)) {
			x.orig_time_set = 1;
			x.orig_time_ns = ns;
			ns = in->now_ns;
		}
		int wr = jsonbody_write(r, &ip, 1, &x, ns, out, &t->scratch);
		if (wr == -2)
			return intake_fail(
			    err, 400, "rum.badJSON",
			    "point %zu (line %zu): more than %d tags or %d fields with "
			    "ip, --global-tags and " ORIG_TIME_FIELD,
			    n, line, REC_MAX_TAGS, REC_MAX_FIELDS);
		if (wr < 0 || buf_addc(out, '\n') < 0)
			return intake_fail(err, 500, "rum.internal", "out of memory");
		per_meas[mi]++;
	}
	*npoints = n;
	return 0;
}

int intake_parse(const struct intake_in *in, struct buf *out, uint64_t *per_meas, size_t *npoints,
		 struct intake_err *err)
{
	struct intake_tls *t = perthread_get(&tls_slot);
	if (!t)
		return intake_fail(err, 500, "rum.internal", "out of memory");
	*npoints = 0;
	int rc = in->json ? intake_json(in, t, out, per_meas, npoints, err)
			  : intake_lp(in, t, out, per_meas, npoints, err);
	if (rc == 0 && *npoints == 0)
		return intake_fail(err, 400, "rum.emptyBody", "no points in the body");
	/* One huge request must not pin its memory in every thread. */
	if (t->scratch.cap > ((size_t)1 << 20))
		buf_free(&t->scratch);
	if (t->scratch2.cap > ((size_t)1 << 20))
		buf_free(&t->scratch2);
	return rc;
}
