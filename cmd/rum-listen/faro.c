/* Faro's payload → records. The payload is read once into paths (meta is
 * what every record shares); each item of its arrays is read again on its
 * own, as an event of the Datadog mapper is. */

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errmsg.h"
#include "faro.h"
#include "jsonbody.h"
#include "perthread.h"

struct faro_tls {
	struct jflat body, item, frame;
	struct recw w;
	struct buf s1, s2, stack;
};

static void tls_destroy(void *p)
{
	struct faro_tls *t = p;
	jflat_free(&t->body);
	jflat_free(&t->item);
	jflat_free(&t->frame);
	recw_free(&t->w);
	buf_free(&t->s1);
	buf_free(&t->s2);
	buf_free(&t->stack);
	free(t);
}

static struct perthread tls_slot = PERTHREAD_INIT(struct faro_tls, tls_destroy);

static const char *str_in(struct jflat *f, const char *path, size_t *n, struct buf *scratch)
{
	const char *s;
	if (jent_str(jflat_get(f, path), scratch, &s, n) < 0 || !*n)
		return NULL;
	return s;
}

/* The item's timestamp (ISO 8601: 2024-05-01T10:00:00.123Z or with an
 * offset) in ns; -1 when absent or not one. */
static int64_t iso_ns(const char *s, size_t n)
{
	char b[64];
	if (!s || n >= sizeof b)
		return -1;
	memcpy(b, s, n);
	b[n] = '\0';
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	int used = 0;
	if (sscanf(b, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
	    used != 19)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	const char *p = b + used;
	int64_t frac = 0, scale = 1000000000;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale > 1)
				scale /= 10, frac += (*p - '0') * scale;
	long off = 0;
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		      ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '-')
			off = -off;
	} else if (strcmp(p, "Z") != 0) {
		return -1;
	}
	time_t secs = timegm(&tm);
	if (secs < 0 || secs > 9000000000)
		return -1;
	return ((int64_t)secs - off) * 1000000000 + frac;
}

/* A UUID-shaped view id from SHA-1 of the session id and the page URL, so
 * that every record of one page has the same. */
static void view_uuid(const char *a, size_t an, const char *b, size_t bn, char out[37])
{
	unsigned char d[20];
	gnutls_hash_hd_t h;
	memset(d, 0, sizeof d);
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA1) == 0) {
		gnutls_hash(h, a, an);
		gnutls_hash(h, "\n", 1);
		gnutls_hash(h, b, bn);
		gnutls_hash_deinit(h, d);
	}
	d[6] = (unsigned char)((d[6] & 0x0f) | 0x50); /* version 5: name-based, SHA-1 */
	d[8] = (unsigned char)((d[8] & 0x3f) | 0x80);
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hx[d[i] >> 4];
		out[o++] = hx[d[i] & 15];
	}
	out[o] = '\0';
}

/* The tags from meta every record of the payload has. */
static void map_meta(struct faro_tls *t, const struct sdk_in *in, const char *app, size_t appn)
{
	struct recw *w = &t->w;
	struct jflat *b = &t->body;
	size_t n;
	const char *v;
	recw_tag(w, "sdk_name", "df_web_rum_sdk", 14);
	recw_tag_ent(w, "sdk_version", jflat_get(b, "meta.sdk.version"));
	recw_tag(w, "app_id", app, appn);
	recw_tag_ent(w, "service", jflat_get(b, "meta.session.overrides.serviceName"));
	recw_tag_ent(w, "service", jflat_get(b, "meta.app.name"));
	recw_tag_ent(w, "version", jflat_get(b, "meta.app.version"));
	recw_tag_ent(w, "version", jflat_get(b, "meta.app.release"));
	recw_tag_ent(w, "env", jflat_get(b, "meta.app.environment"));
	recw_tag(w, "source", "browser", 7);
	recw_tag_ent(w, "session_id", jflat_get(b, "meta.session.id"));
	const struct jent *uid = jflat_get(b, "meta.user.id");
	recw_tag_ent(w, "userid", uid);
	recw_tag(w, "is_signin", uid ? "T" : "F", 1);
	recw_tag_ent(w, "user_email", jflat_get(b, "meta.user.email"));
	recw_tag_ent(w, "user_name", jflat_get(b, "meta.user.username"));
	/* The browser's own User-Agent, else the request's. */
	const char *ua = str_in(b, "meta.browser.userAgent", &n, &t->s1);
	char uabuf[1024];
	if (ua && n < sizeof uabuf) {
		memcpy(uabuf, ua, n);
		uabuf[n] = '\0';
		web_user_agent(w, uabuf);
	} else {
		web_user_agent(w, in->ua);
	}
	char path[2048];
	path[0] = '\0';
	const char *url = str_in(b, "meta.page.url", &n, &t->s1);
	size_t urln = n;
	if (url)
		web_view_url(w, url, urln, path, sizeof path);
	const char *name = str_in(b, "meta.view.name", &n, &t->s2);
	if (name && !(n == 7 && memcmp(name, "default", 7) == 0))
		recw_tag(w, "view_name", name, n);
	else if (path[0])
		recw_tag(w, "view_name", path, strlen(path));
	if ((v = str_in(b, "meta.page.id", &n, &t->s2))) {
		recw_tag(w, "view_id", v, n);
	} else {
		size_t sn = 0;
		const char *sid = str_in(b, "meta.session.id", &sn, &t->s2);
		char id[37];
		url = str_in(b, "meta.page.url", &urln, &t->s1);
		if (sid || url) {
			view_uuid(sid ? sid : "", sid ? sn : 0, url ? url : "", url ? urln : 0, id);
			recw_tag(w, "view_id", id, 36);
		}
	}
	recw_field_str(w, "sdk_origin", "faro", 4);
}

/* The depth-1 members under prefix as custom fields (a name already taken
 * is left out), their names added to keys. */
static int custom_under(struct faro_tls *t, const char *prefix, struct buf *keys, size_t *count)
{
	struct jflat *f = &t->item;
	size_t pl = strlen(prefix);
	int rc = 0;
	for (size_t i = 0; i < f->n; i++) {
		const struct jent *e = &f->e[i];
		const char *path = jent_path(f, e);
		if (e->depth != 1 || e->path_len <= pl || memcmp(path, prefix, pl) != 0 ||
		    path[pl] != '.')
			continue;
		const char *key = path + pl + 1;
		size_t kl = e->path_len - pl - 1;
		if (kl == 0 || recw_has(&t->w, key, kl))
			continue;
		recw_field_ent(&t->w, key, kl, e);
		rc |= (*count)++ ? buf_addc(keys, ',') : 0;
		rc |= json_add_str(keys, key, kl);
	}
	return rc;
}

/* Per item: trace ids, custom attributes (context, and an event's
 * attributes when `attributes`), custom_keys. */
static void map_item_common(struct faro_tls *t, int attributes)
{
	struct jflat *f = &t->item;
	recw_tag_ent(&t->w, "trace_id", jflat_get(f, "trace.trace_id"));
	recw_tag_ent(&t->w, "span_id", jflat_get(f, "trace.span_id"));
	size_t count = 0;
	struct buf *keys = &t->s2;
	buf_reset(keys);
	int rc = buf_addc(keys, '[');
	rc |= custom_under(t, "context", keys, &count);
	if (attributes)
		rc |= custom_under(t, "attributes", keys, &count);
	rc |= buf_addc(keys, ']');
	if (count && rc == 0)
		recw_field_str(&t->w, "custom_keys", keys->p, keys->len);
	else if (rc)
		t->w.failed = 1;
}

/* A number Faro gives as a string of milliseconds (or a number); 0 with
 * *v, -1 when absent, "unknown" or not a number. */
static int ms_of(struct faro_tls *t, const char *path, double *v)
{
	const struct jent *e = jflat_get(&t->item, path);
	if (jent_num(e, v) == 0)
		return 0;
	size_t n;
	const char *s = str_in(&t->item, path, &n, &t->s1);
	char b[48];
	if (!s || n >= sizeof b)
		return -1;
	memcpy(b, s, n);
	b[n] = '\0';
	char *end;
	*v = strtod(b, &end);
	return end == b || *end || *v != *v ? -1 : 0;
}

/* Field key = the milliseconds at path, in ns. */
static void ms_field(struct faro_tls *t, const char *key, const char *path)
{
	double v;
	if (ms_of(t, path, &v) == 0)
		recw_field_num(&t->w, key, v * 1e6);
}

/* error_stack as the Guance SDK writes it: "Type: value" then a line a
 * frame. */
static void map_exception(struct faro_tls *t)
{
	struct recw *w = &t->w;
	size_t tn = 0, vn = 0;
	const char *type = str_in(&t->item, "type", &tn, &t->s1);
	char tb[128];
	tn = type ? (tn < sizeof tb ? tn : sizeof tb - 1) : 0;
	memcpy(tb, type ? type : "", tn);
	recw_tag(w, "error_type", tb, tn);
	const char *value = str_in(&t->item, "value", &vn, &t->s2);
	if (value && vn >= 15 && memcmp(value, "console.error: ", 15) == 0)
		recw_tag(w, "error_source", "console", 7);
	struct buf *st = &t->stack;
	buf_reset(st);
	int rc = buf_add(st, tb, tn) | buf_adds(st, ": ");
	if (value) {
		rc |= buf_add(st, value, vn);
		recw_field_str(w, "error_message", value, vn);
	}
	const struct jent *fr = jflat_get(&t->item, "stacktrace.frames");
	if (fr && fr->kind == JK_ARRAY) {
		const char *q = fr->val + 1, *end = fr->val + fr->vlen - 1, *why, *at;
		struct json_fail jf;
		while ((q = json_skip_ws(q, end)) < end) {
			const char *s = q;
			if (!(q = json_skip_value(q, end, 0, 64, JSON_UTF8, &jf)))
				break;
			if (*s == '{' && jflat_parse(&t->frame, s, q, &why, &at) == 0) {
				size_t fn = 0, un = 0;
				const char *fun = str_in(&t->frame, "function", &fn, &t->s1);
				if (!fun || (fn == 1 && fun[0] == '?'))
					fun = "<anonymous>", fn = 11;
				rc |= buf_adds(st, "\n  at ") | buf_add(st, fun, fn) |
				      buf_adds(st, " @ ");
				const char *file = str_in(&t->frame, "filename", &un, &t->s1);
				rc |= buf_add(st, file ? file : "", file ? un : 0);
				double l = 0, c = 0;
				jent_num(jflat_get(&t->frame, "lineno"), &l);
				jent_num(jflat_get(&t->frame, "colno"), &c);
				rc |= buf_printf(st, ":%.0f:%.0f", l, c);
			}
			q = json_skip_ws(q, end);
			if (q < end && *q == ',')
				q++;
		}
	}
	if (rc)
		w->failed = 1;
	else
		recw_field_str(w, "error_stack", st->p, st->len);
}

static void map_perf_resource(struct faro_tls *t, int navigation)
{
	struct recw *w = &t->w;
	size_t n;
	const char *v;
	int https = 0;
	if ((v = str_in(&t->item, "attributes.name", &n, &t->s2))) {
		https = n >= 8 && memcmp(v, "https://", 8) == 0;
		web_resource_url(w, v, n);
	}
	double st;
	if (ms_of(t, "attributes.responseStatus", &st) == 0)
		web_status(w, st);
	recw_tag(w, "resource_method", "GET", 3);
	if (navigation) {
		recw_field_str(w, "resource_type", "document", 8);
	} else if ((v = str_in(&t->item, "attributes.initiatorType", &n, &t->s1))) {
		if (n == 14 && memcmp(v, "xmlhttprequest", 14) == 0)
			v = "xhr", n = 3;
		recw_field_str(w, "resource_type", v, n);
	}
	ms_field(t, "duration", "attributes.duration");
	ms_field(t, "resource_dns", "attributes.dnsLookupTime");
	ms_field(t, "resource_tcp", "attributes.tcpHandshakeTime");
	if (https)
		ms_field(t, "resource_ssl", "attributes.tlsNegotiationTime");
	ms_field(t, "resource_ttfb", "attributes.ttfb");
	ms_field(t, "resource_trans", "attributes.responseTime");
	ms_field(t, "resource_redirect", "attributes.redirectTime");
	static const char *const sizes[][2] = {
	    {"resource_encode_size", "attributes.encodedBodySize"},
	    {"resource_decode_size", "attributes.decodedBodySize"},
	    {"resource_transfer_size", "attributes.transferSize"},
	};
	double sz;
	for (size_t i = 0; i < 3; i++)
		if (ms_of(t, sizes[i][1], &sz) == 0)
			recw_field_num(w, sizes[i][0], sz);
	if ((v = str_in(&t->item, "attributes.protocol", &n, &t->s1)))
		recw_field_str(w, "resource_protocol", v, n);
	if ((v = str_in(&t->item, "attributes.renderBlockingStatus", &n, &t->s1)))
		recw_field_str(w, "resource_render_blocking_status", v, n);
}

/* faro.user.action, or any other event, as an action. */
static void map_action(struct faro_tls *t, const char *name, size_t nn, int user_action)
{
	struct recw *w = &t->w;
	size_t n;
	const char *v;
	const char *type = "custom";
	if (user_action && (v = str_in(&t->item, "attributes.userActionTrigger", &n, &t->s1)) &&
	    n == 11 && memcmp(v, "pointerdown", 11) == 0)
		type = "click";
	recw_tag(w, "action_type", type, strlen(type));
	if (user_action && (v = str_in(&t->item, "attributes.userActionName", &n, &t->s1)))
		recw_field_str(w, "action_name", v, n);
	else
		recw_field_str(w, "action_name", name, nn);
	if (user_action)
		ms_field(t, "duration", "attributes.userActionDuration");
}

/* The payload being mapped, and where its records go. */
struct faro_run {
	struct faro_tls *t;
	const struct sdk_in *in;
	char app[256];
	size_t appn;
	struct buf *out;
	uint64_t *per_meas;
	struct sdk_tally *tally;
	struct intake_err *err;
	size_t nrec;
	/* web vitals, gathered into one view record */
	double vital[5];
	int has_vital[5];
	int64_t vital_time;
};

static const char *const vital_names[5][2] = {
    {"fcp", "first_contentful_paint"},	  {"lcp", "largest_contentful_paint"},
    {"inp", "interaction_to_next_paint"}, {"ttfb", "first_byte"},
    {"cls", "cumulative_layout_shift"},
};

/* Starts a record of meas: 0, or -1 with err (a measurement not accepted). */
static int record_begin(struct faro_run *r, const char *meas, const char *what, long *mi)
{
	if ((*mi = sdk_check_meas(meas, r->nrec + 1, what, r->err)) < 0)
		return -1;
	recw_begin(&r->t->w);
	map_meta(r->t, r->in, r->app, r->appn);
	return 0;
}

static int record_end(struct faro_run *r, const char *meas, long mi, enum sdk_type st,
		      int64_t time_ns)
{
	r->nrec++;
	if (sdk_finish(&r->t->w, r->in, meas, time_ns < 0 ? r->in->now_ns : time_ns, r->out,
		       r->nrec, r->err) < 0)
		return -1;
	r->per_meas[mi]++;
	r->tally->mapped[st]++;
	return 0;
}

static int64_t item_time(struct faro_tls *t)
{
	size_t n;
	const char *s = str_in(&t->item, "timestamp", &n, &t->s1);
	return iso_ns(s, s ? n : 0);
}

static int do_exception(struct faro_run *r, const char *what)
{
	long mi;
	if (record_begin(r, "error", what, &mi) < 0)
		return -1;
	map_exception(r->t);
	map_item_common(r->t, 0);
	return record_end(r, "error", mi, ST_ERROR, item_time(r->t));
}

static int do_measurement(struct faro_run *r, const char *what)
{
	struct faro_tls *t = r->t;
	size_t n;
	const char *type = str_in(&t->item, "type", &n, &t->s1);
	if (!type || n != 10 || memcmp(type, "web-vitals", 10) != 0) {
		r->tally->dropped[ST_OTHER]++;
		return 0;
	}
	char path[32];
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof path, "values.%s", vital_names[i][0]);
		double v;
		if (!r->has_vital[i] && jent_num(jflat_get(&t->item, path), &v) == 0) {
			r->vital[i] = i == 4 ? v : v * 1e6;
			r->has_vital[i] = 1;
		}
	}
	if (r->vital_time < 0)
		r->vital_time = item_time(t);
	return 0;
}

static int vitals_record(struct faro_run *r)
{
	int any = 0;
	for (int i = 0; i < 5; i++)
		any |= r->has_vital[i];
	if (!any)
		return 0;
	long mi;
	if (record_begin(r, "view", "web vitals", &mi) < 0)
		return -1;
	for (int i = 0; i < 5; i++)
		if (r->has_vital[i])
			recw_field_num(&r->t->w, vital_names[i][1], r->vital[i]);
	return record_end(r, "view", mi, ST_VIEW, r->vital_time);
}

/* Lifecycle events of the session and the view: not records. */
static int is_lifecycle(const char *s, size_t n)
{
	static const char *const names[] = {"session_start", "session_resume", "session_extend",
					    "view_changed",  "route_change",   NULL};
	for (const char *const *p = names; *p; p++)
		if (strlen(*p) == n && memcmp(*p, s, n) == 0)
			return 1;
	return 0;
}

static int do_event(struct faro_run *r, const char *what)
{
	struct faro_tls *t = r->t;
	size_t n;
	const char *s = str_in(&t->item, "name", &n, &t->s1);
	char name[256];
	if (!s || n >= sizeof name)
		return intake_fail(r->err, 400, "rum.badEvent",
				   "%s: no name, or one over 255 bytes", what);
	memcpy(name, s, n);
	name[n] = '\0';
	if (is_lifecycle(name, n)) {
		r->tally->dropped[ST_OTHER]++;
		return 0;
	}
	int nav = strcmp(name, "faro.performance.navigation") == 0;
	long mi;
	if (nav || strcmp(name, "faro.performance.resource") == 0) {
		if (record_begin(r, "resource", what, &mi) < 0)
			return -1;
		map_perf_resource(t, nav);
		map_item_common(t, 0);
		return record_end(r, "resource", mi, ST_RESOURCE, item_time(t));
	}
	int user = strcmp(name, "faro.user.action") == 0;
	if (record_begin(r, "action", what, &mi) < 0)
		return -1;
	map_action(t, name, n, user);
	map_item_common(t, !user);
	return record_end(r, "action", mi, ST_ACTION, item_time(t));
}

typedef int (*item_fn)(struct faro_run *r, const char *what);

/* Each item of the array at path (absent: none), read into t->item. */
static int each_item(struct faro_run *r, const char *path, item_fn fn)
{
	const struct jent *a = jflat_get(&r->t->body, path);
	if (!a)
		return 0;
	if (a->kind != JK_ARRAY)
		return intake_fail(r->err, 400, "rum.badEvent",
				   "not a Faro payload: %s is not an array", path);
	const char *q = a->val + 1, *end = a->val + a->vlen - 1, *why, *at;
	struct json_fail jf;
	char what[64];
	for (size_t i = 0; (q = json_skip_ws(q, end)) < end; i++) {
		const char *s = q;
		if (!(q = json_skip_value(q, end, 0, 64, JSON_UTF8 | JSON_NUM_RANGE, &jf)))
			return intake_fail(r->err, 400, "rum.badJSON", "%s[%zu]: %s", path, i,
					   json_strerror(jf.code));
		snprintf(what, sizeof what, "%s[%zu]", path, i);
		int rc = jflat_parse(&r->t->item, s, q, &why, &at);
		if (rc == -2)
			return intake_fail(r->err, 500, "rum.internal", "out of memory");
		if (rc < 0)
			return intake_fail(r->err, 400, "rum.badEvent", "%s: %s", what, why);
		if (fn && fn(r, what) < 0)
			return -1;
		if (!fn)
			r->tally->dropped[strcmp(path, "logs") == 0 ? ST_LOG : ST_TRACE]++;
		q = json_skip_ws(q, end);
		if (q < end && *q == ',')
			q++;
	}
	return 0;
}

/* The payload's shape and its app_id; 0 or -1 with err. */
static int check_payload(struct faro_run *r)
{
	struct jflat *b = &r->t->body;
	const struct jent *meta = jflat_get(b, "meta");
	if (!meta || meta->kind != JK_OBJECT)
		return intake_fail(r->err, 400, "rum.badEvent",
				   "not a Faro payload: no meta object");
	const char *app = r->in->app_id;
	size_t n = app ? strlen(app) : 0;
	if (!app)
		app = str_in(b, "meta.app.name", &n, &r->t->s1);
	if (app && n >= sizeof r->app)
		return intake_fail(r->err, 400, "rum.badEvent",
				   "payload: app id longer than 255 bytes");
	if (sdk_check_app(app, app ? n : 0, 1,
			  "payload: neither /collect/<app_id> nor meta.app.name", r->err) < 0)
		return -1;
	memcpy(r->app, app, n);
	r->appn = n;
	return 0;
}

int faro_parse(const struct sdk_in *in, struct buf *out, uint64_t *per_meas,
	       struct sdk_tally *tally, struct intake_err *err)
{
	struct faro_tls *t = perthread_get(&tls_slot);
	if (!t)
		return intake_fail(err, 500, "rum.internal", "out of memory");
	const char *why, *at;
	int rc = jflat_parse(&t->body, in->body, in->body + in->len, &why, &at);
	if (rc == -2)
		return intake_fail(err, 500, "rum.internal", "out of memory");
	if (rc < 0)
		return intake_fail(err, 400, "rum.badJSON", "payload (byte %zu): %s",
				   (size_t)(at - in->body) + 1, why);
	struct faro_run r = {.t = t,
			     .in = in,
			     .out = out,
			     .per_meas = per_meas,
			     .tally = tally,
			     .err = err,
			     .vital_time = -1};
	if (check_payload(&r) < 0 || each_item(&r, "exceptions", do_exception) < 0 ||
	    each_item(&r, "measurements", do_measurement) < 0 || vitals_record(&r) < 0 ||
	    each_item(&r, "events", do_event) < 0 || each_item(&r, "logs", NULL) < 0)
		return -1;
	const struct jent *traces = jflat_get(&t->body, "traces");
	if (traces && traces->kind == JK_OBJECT)
		tally->dropped[ST_TRACE]++;
	if (t->body.paths.cap > ((size_t)1 << 20))
		jflat_free(&t->body);
	return 0;
}
