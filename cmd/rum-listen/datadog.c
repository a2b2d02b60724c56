/* Datadog Browser RUM's NDJSON events → records (SDK-MAPPING.md, "Datadog
 * Browser RUM"). One event a line; the event is read into paths (jflat),
 * then written under the Guance SDK's names (recw). Views are re-sent whole
 * with a higher _dd.document_version: of one view.id in one request only
 * the latest is kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datadog.h"
#include "errmsg.h"
#include "jsonbody.h"
#include "perthread.h"
#include "webtags.h"

const char *const sdk_type_names[ST_COUNT] = {
    "view",  "resource",    "action", "long_task", "error",  "telemetry",
    "vital", "view_update", "log",    "trace",	   "replay", "other",
};

/* A view record written to out, in case a later version replaces it. */
struct view_slot {
	char id[64];
	double version;
	size_t off, len; /* in out */
	long meas;
	int dead;
};
#define MAX_VIEWS 256

struct dd_tls {
	struct jflat f;
	struct recw w;
	struct buf s1, s2;
	struct view_slot views[MAX_VIEWS];
	size_t nviews;
	/* The common tags of the last event, and what they came from. */
	struct recw_snap common;
	struct buf common_key, key;
};

static void tls_destroy(void *p)
{
	struct dd_tls *t = p;
	jflat_free(&t->f);
	recw_free(&t->w);
	buf_free(&t->s1);
	buf_free(&t->s2);
	recw_snap_free(&t->common);
	buf_free(&t->common_key);
	buf_free(&t->key);
	free(t);
}

static struct perthread tls_slot = PERTHREAD_INIT(struct dd_tls, tls_destroy);

/* A string entry as C-ish bytes, or NULL. */
static const char *str_of(struct dd_tls *t, const char *path, size_t *n, struct buf *scratch)
{
	const char *s;
	if (jent_str(jflat_get(&t->f, path), scratch, &s, n) < 0)
		return NULL;
	return s;
}

/* Measurement of an event type; -1 for the types dropped. */
static int type_of(const char *s, size_t n, enum sdk_type *st)
{
	for (int i = 0; i < ST_COUNT; i++) {
		if (strlen(sdk_type_names[i]) == n && memcmp(sdk_type_names[i], s, n) == 0) {
			*st = (enum sdk_type)i;
			return i <= ST_TELEMETRY ? 0 : -1;
		}
	}
	*st = ST_OTHER;
	return -1;
}

/* The value of `name:` in ddtags ("sdk_version:7.16.2,env:test,..."). */
static int ddtag(const char *tags, size_t n, const char *name, const char **v, size_t *vn)
{
	size_t kl = strlen(name);
	for (const char *p = tags, *end = tags + n; p < end;) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		const char *e = c ? c : end;
		if ((size_t)(e - p) > kl && memcmp(p, name, kl) == 0 && p[kl] == ':') {
			*v = p + kl + 1;
			*vn = (size_t)(e - p) - kl - 1;
			return 1;
		}
		p = c ? c + 1 : end;
	}
	return 0;
}

int sdk_check_app(const char *app, size_t n, size_t index, const char *what, struct intake_err *err)
{
	char ex[80];
	if (!app || !n)
		return intake_fail(err, 400, "rum.missingAppId", "event %zu (%s): no %s", index,
				   what, "application id");
	if (cfg.app_allow.n && !strlist_has(&cfg.app_allow, app, n)) {
		excerpt(ex, sizeof ex, app, n);
		return intake_fail(err, 400, "rum.appIdNotAllowed",
				   "event %zu (%s): app_id '%s' is not allowed", index, what, ex);
	}
	return 0;
}

long sdk_check_meas(const char *meas, size_t index, const char *what, struct intake_err *err)
{
	long mi = strlist_find(&cfg.measurements, meas, strlen(meas));
	if (mi < 0)
		intake_fail(err, 400, "rum.badMeasurement",
			    "event %zu (%s): measurement '%s' is not accepted (--measurements)",
			    index, what, meas);
	return mi;
}

int sdk_finish(struct recw *w, const struct sdk_in *in, const char *meas, int64_t time_ns,
	       struct buf *out, size_t index, struct intake_err *err)
{
	recw_tag(w, "ip", in->ip, in->ip_len);
	for (size_t i = 0; i < cfg.nglobal_tags; i++) {
		const struct added_tag *a = &cfg.global_tags[i];
		if (!recw_has(w, a->key, strlen(a->key)))
			recw_tag(w, a->key, a->val, a->val_len);
	}
	int64_t bias = cfg.time_correction_ns;
	if (bias && (time_ns > in->now_ns + bias || time_ns < in->now_ns - bias)) {
		recw_field_int(w, ORIG_TIME_FIELD, time_ns);
		time_ns = in->now_ns;
	}
	if (recw_finish(w, meas, time_ns, out) < 0)
		return intake_fail(err, 400, "rum.badEvent",
				   "event %zu: more than %d tags and fields, or out of memory",
				   index, RECW_SLOTS / 2);
	return 0;
}

/* Fields of the same name under a prefix: "view." + names[i]. */
static void fields_under(struct dd_tls *t, const char *prefix, const char *const *names)
{
	char path[96];
	for (; *names; names++) {
		snprintf(path, sizeof path, "%s%s", prefix, *names);
		recw_field_ent(&t->w, *names, strlen(*names), jflat_get(&t->f, path));
	}
}

/* Tag key from the string at path. */
static void tag_at(struct dd_tls *t, const char *key, const char *path)
{
	recw_tag_ent(&t->w, key, jflat_get(&t->f, path));
}

static void field_at(struct dd_tls *t, const char *key, const char *path)
{
	recw_field_ent(&t->w, key, strlen(key), jflat_get(&t->f, path));
}

/* The tags every event has (SDK-MAPPING.md's first table). */
static void map_common(struct dd_tls *t, const struct sdk_in *in, const char *app, size_t appn)
{
	struct recw *w = &t->w;
	size_t n, tn = 0, vn;
	const char *v, *tags = str_of(t, "ddtags", &tn, &t->s2);
	recw_tag(w, "sdk_name", "df_web_rum_sdk", 14);
	if (tags && ddtag(tags, tn, "sdk_version", &v, &vn))
		recw_tag(w, "sdk_version", v, vn);
	else if (in->sdk_version)
		recw_tag(w, "sdk_version", in->sdk_version, strlen(in->sdk_version));
	recw_tag(w, "app_id", app, appn);
	if (tags && ddtag(tags, tn, "env", &v, &vn))
		recw_tag(w, "env", v, vn);
	static const char *const same[] = {"service", "version"};
	for (size_t i = 0; i < 2; i++) {
		tag_at(t, same[i], same[i]);
		if (tags && ddtag(tags, tn, same[i], &v, &vn))
			recw_tag(w, same[i], v, vn);
	}
	tag_at(t, "source", "source");
	tag_at(t, "session_id", "session.id");
	tag_at(t, "session_type", "session.type");
	const struct jent *uid = jflat_get(&t->f, "usr.id");
	tag_at(t, "userid", uid ? "usr.id" : "usr.anonymous_id");
	recw_tag(w, "is_signin", uid ? "T" : "F", 1);
	tag_at(t, "user_email", "usr.email");
	tag_at(t, "user_name", "usr.name");
	/* connectivity.interfaces[0] ?? effective_type */
	const char *net = NULL;
	const struct jent *ifs = jflat_get(&t->f, "connectivity.interfaces");
	if (ifs && ifs->kind == JK_ARRAY) {
		const char *q = json_skip_ws(ifs->val + 1, ifs->val + ifs->vlen);
		if (*q == '"') {
			const char *e = memchr(q + 1, '"', (size_t)(ifs->val + ifs->vlen - q - 1));
			if (e)
				net = web_network_type(q + 1, (size_t)(e - q - 1));
		}
	}
	if (!net && (v = str_of(t, "connectivity.effective_type", &n, &t->s1)))
		net = web_network_type(v, n);
	if (net)
		recw_tag(w, "network_type", net, strlen(net));
	tag_at(t, "time_zone", "device.time_zone");
	web_user_agent(w, in->ua);
	tag_at(t, "view_id", "view.id");
	tag_at(t, "view_referrer", "view.referrer");
	char path[2048];
	path[0] = '\0';
	if ((v = str_of(t, "view.url", &n, &t->s1)))
		web_view_url(w, v, n, path, sizeof path);
	if ((v = str_of(t, "view.name", &n, &t->s1)) && n)
		recw_tag(w, "view_name", v, n);
	else if (path[0])
		recw_tag(w, "view_name", path, strlen(path));
	recw_field_str(w, "sdk_origin", "datadog", 7);
}

/* Every entry map_common reads: events with the same raw tokens of them
 * (most of one request) get the same common tags. */
static const char *const common_paths[] = {"ddtags",
					   "service",
					   "version",
					   "source",
					   "session.id",
					   "session.type",
					   "usr.id",
					   "usr.anonymous_id",
					   "usr.email",
					   "usr.name",
					   "connectivity.interfaces",
					   "connectivity.effective_type",
					   "device.time_zone",
					   "view.id",
					   "view.referrer",
					   "view.url",
					   "view.name",
					   NULL};

/* map_common, or its result for the last event when it read the same. */
static int common_tags(struct dd_tls *t, const struct sdk_in *in, const char *app, size_t appn)
{
	struct buf *k = &t->key;
	buf_reset(k);
	int rc = buf_add(k, app, appn);
	for (const char *const *p = common_paths; *p; p++) {
		const struct jent *e = jflat_get(&t->f, *p);
		/* Tokens are separated by a byte no JSON token holds. */
		rc |= buf_addc(k, '\x01');
		if (e)
			rc |= buf_add(k, e->val, e->vlen);
	}
	if (rc < 0)
		return -1;
	if (t->common.valid && k->len == t->common_key.len &&
	    memcmp(k->p, t->common_key.p, k->len) == 0)
		return recw_restore(&t->w, &t->common);
	recw_begin(&t->w);
	map_common(t, in, app, appn);
	buf_reset(&t->common_key);
	if (buf_add(&t->common_key, k->p, k->len) < 0 || recw_save(&t->w, &t->common) < 0)
		t->common.valid = 0;
	return t->w.failed ? -1 : 0;
}

/* action.id on an error, resource or long task: a string or an array. */
static void map_action_ids(struct dd_tls *t)
{
	const struct jent *e = jflat_get(&t->f, "action.id");
	if (!e)
		return;
	if (e->kind == JK_STRING) {
		recw_field_ent(&t->w, "action_id", 9, e);
		return;
	}
	if (e->kind != JK_ARRAY)
		return;
	/* The last string of the array. */
	const char *q = e->val + 1, *end = e->val + e->vlen - 1, *last = NULL, *lastend = NULL;
	struct json_fail jf;
	int esc;
	while ((q = json_skip_ws(q, end)) < end) {
		const char *s = q;
		if (!(q = json_skip_value(q, end, 0, 8, JSON_UTF8, &jf)))
			break;
		if (*s == '"')
			last = s, lastend = q;
		q = json_skip_ws(q, end);
		if (q < end && *q == ',')
			q++;
	}
	(void)esc;
	if (last) {
		struct jent one = {
		    .kind = JK_STRING, .val = last, .vlen = (size_t)(lastend - last)};
		recw_field_ent(&t->w, "action_id", 9, &one);
	}
	recw_field_ent(&t->w, "action_ids", 10, e);
}

static void map_view(struct dd_tls *t)
{
	static const char *const same[] = {"loading_time",
					   "time_spent",
					   "first_byte",
					   "dom_interactive",
					   "dom_content_loaded",
					   "dom_complete",
					   "load_event",
					   "first_contentful_paint",
					   "largest_contentful_paint",
					   "cumulative_layout_shift",
					   "first_input_delay",
					   "first_input_time",
					   "interaction_to_next_paint",
					   "custom_timings",
					   "is_active",
					   NULL};
	tag_at(t, "view_loading_type", "view.loading_type");
	fields_under(t, "view.", same);
	static const char *const counts[] = {"action", "error", "resource", "long_task"};
	char key[48], path[64];
	for (size_t i = 0; i < 4; i++) {
		snprintf(key, sizeof key, "view_%s_count", counts[i]);
		snprintf(path, sizeof path, "view.%s.count", counts[i]);
		field_at(t, key, path);
	}
	field_at(t, "frustration_count", "view.frustration.count");
	double a, b;
	if (jent_num(jflat_get(&t->f, "view.dom_complete"), &a) == 0 &&
	    jent_num(jflat_get(&t->f, "view.dom_interactive"), &b) == 0)
		recw_field_num(&t->w, "dom", a - b);
}

static void map_resource(struct dd_tls *t)
{
	struct recw *w = &t->w;
	size_t n;
	const char *v;
	tag_at(t, "resource_id", "resource.id");
	double st;
	if (jent_num(jflat_get(&t->f, "resource.status_code"), &st) == 0)
		web_status(w, st);
	if ((v = str_of(t, "resource.method", &n, &t->s1)) && n)
		recw_tag(w, "resource_method", v, n);
	else
		recw_tag(w, "resource_method", "GET", 3);
	field_at(t, "duration", "resource.duration");
	field_at(t, "resource_size", "resource.size");
	if ((v = str_of(t, "resource.url", &n, &t->s1)))
		web_resource_url(w, v, n);
	static const char *const same[][2] = {
	    {"resource_type", "resource.type"},
	    {"resource_protocol", "resource.protocol"},
	    {"resource_delivery_type", "resource.delivery_type"},
	    {"resource_render_blocking_status", "resource.render_blocking_status"},
	    {"resource_encode_size", "resource.encoded_body_size"},
	    {"resource_decode_size", "resource.decoded_body_size"},
	    {"resource_transfer_size", "resource.transfer_size"},
	    {"resource_dns", "resource.dns.duration"},
	    {"resource_tcp", "resource.connect.duration"},
	    {"resource_ssl", "resource.ssl.duration"},
	    {"resource_ttfb", "resource.first_byte.duration"},
	    {"resource_first_byte", "resource.first_byte.duration"},
	    {"resource_trans", "resource.download.duration"},
	    {"resource_redirect", "resource.redirect.duration"},
	};
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
		field_at(t, same[i][0], same[i][1]);
	map_action_ids(t);
}

static void map_error(struct dd_tls *t)
{
	static const char *const tags[][2] = {
	    {"error_id", "error.id"},
	    {"error_source", "error.source"},
	    {"error_type", "error.type"},
	    {"error_handling", "error.handling"},
	};
	for (size_t i = 0; i < 4; i++)
		tag_at(t, tags[i][0], tags[i][1]);
	field_at(t, "error_message", "error.message");
	field_at(t, "error_stack", "error.stack");
	field_at(t, "error_handling_stack", "error.handling_stack");
	field_at(t, "error_causes", "error.causes");
	map_action_ids(t);
}

static void map_long_task(struct dd_tls *t)
{
	tag_at(t, "long_task_id", "long_task.id");
	static const char *const same[] = {"duration",
					   "blocking_duration",
					   "first_ui_event_timestamp",
					   "render_start",
					   "style_and_layout_start",
					   "scripts",
					   NULL};
	fields_under(t, "long_task.", same);
	field_at(t, "long_task_start_time", "long_task.start_time");
	map_action_ids(t);
}

static void map_action(struct dd_tls *t)
{
	tag_at(t, "action_type", "action.type");
	field_at(t, "action_name", "action.target.name");
	field_at(t, "action_id", "action.id");
	field_at(t, "duration", "action.loading_time");
	field_at(t, "action_error_count", "action.error.count");
	field_at(t, "action_resource_count", "action.resource.count");
	field_at(t, "action_long_task_count", "action.long_task.count");
	field_at(t, "action_frustration_types", "action.frustration.type");
}

static void map_telemetry(struct dd_tls *t)
{
	field_at(t, "status", "telemetry.status");
	field_at(t, "message", "telemetry.message");
	field_at(t, "type", "telemetry.type");
	field_at(t, "error_stack", "telemetry.error.stack");
	field_at(t, "error_kind", "telemetry.error.kind");
}

/* context.* as fields (a name already taken is left out), their names in
 * custom_keys. */
static void map_custom(struct dd_tls *t, const char *prefix)
{
	size_t pl = strlen(prefix), count = 0;
	struct buf *keys = &t->s2;
	buf_reset(keys);
	int rc = buf_addc(keys, '[');
	for (size_t i = 0; i < t->f.n; i++) {
		const struct jent *e = &t->f.e[i];
		const char *path = jent_path(&t->f, e);
		if (e->depth != 1 || e->path_len <= pl || memcmp(path, prefix, pl) != 0 ||
		    path[pl] != '.')
			continue;
		const char *key = path + pl + 1;
		size_t kl = e->path_len - pl - 1;
		if (kl == 0 || recw_has(&t->w, key, kl))
			continue;
		recw_field_ent(&t->w, key, kl, e);
		rc |= count++ ? buf_addc(keys, ',') : 0;
		rc |= json_add_str(keys, key, kl);
	}
	rc |= buf_addc(keys, ']');
	if (count && rc == 0)
		recw_field_str(&t->w, "custom_keys", keys->p, keys->len);
	else if (rc)
		t->w.failed = 1;
}

/* A view already written with this view.id: the later version stays. 1
 * when this one is older and is to be skipped. */
static int view_superseded(struct dd_tls *t, const char *id, size_t idn, double version,
			   size_t *slot)
{
	*slot = MAX_VIEWS;
	if (idn == 0 || idn >= sizeof t->views[0].id)
		return 0;
	for (size_t i = 0; i < t->nviews; i++) {
		struct view_slot *v = &t->views[i];
		if (v->dead || strlen(v->id) != idn || memcmp(v->id, id, idn) != 0)
			continue;
		if (v->version > version)
			return 1;
		v->dead = 1;
		break;
	}
	if (t->nviews < MAX_VIEWS) {
		*slot = t->nviews++;
		memcpy(t->views[*slot].id, id, idn);
		t->views[*slot].id[idn] = '\0';
		t->views[*slot].version = version;
		t->views[*slot].dead = 0;
	}
	return 0;
}

/* Takes the replaced views out of out, and out of the counts. */
static void drop_dead_views(struct dd_tls *t, struct buf *out, uint64_t *per_meas,
			    struct sdk_tally *tally)
{
	size_t shift = 0;
	for (size_t i = 0; i < t->nviews; i++) {
		struct view_slot *v = &t->views[i];
		v->off -= shift;
		if (!v->dead)
			continue;
		memmove(out->p + v->off, out->p + v->off + v->len, out->len - v->off - v->len);
		out->len -= v->len;
		shift += v->len;
		per_meas[v->meas]--;
		tally->mapped[ST_VIEW]--;
		tally->dropped[ST_VIEW]++;
	}
}

/* What the mapping never looks into (SDK-MAPPING.md drops them): kept
 * whole, which saves a third of the reading of a view. */
static const char *const dd_whole[] = {
    "_dd.configuration", "display", "tab", "view.performance", "resource.response", NULL,
};

/* One event line into a record; 0 (mapped or dropped), -1 with err. */
static int dd_event(struct dd_tls *t, const struct sdk_in *in, const char *line, size_t n,
		    size_t index, struct buf *out, uint64_t *per_meas, struct sdk_tally *tally,
		    struct intake_err *err)
{
	const char *why, *at;
	t->f.whole = dd_whole;
	int rc = jflat_parse(&t->f, line, line + n, &why, &at);
	if (rc == -2)
		return intake_fail(err, 500, "rum.internal", "out of memory");
	if (rc < 0)
		return intake_fail(err, 400, "rum.badJSON", "event %zu (line %zu, byte %zu): %s",
				   index, index, (size_t)(at - line) + 1, why);
	size_t tn, appn;
	const char *type = str_of(t, "type", &tn, &t->s1);
	if (!type)
		return intake_fail(err, 400, "rum.badEvent", "event %zu (line %zu): no type", index,
				   index);
	enum sdk_type st;
	if (type_of(type, tn, &st) < 0) {
		tally->dropped[st]++;
		return 0;
	}
	const char *meas = sdk_type_names[st];
	/* What the messages call the event: written only for one. */
	char what[48];
	const char *app = str_of(t, "application.id", &appn, &t->s1);
	long mi = strlist_find(&cfg.measurements, meas, strlen(meas));
	if (!app || !appn || (cfg.app_allow.n && !strlist_has(&cfg.app_allow, app, appn)) ||
	    mi < 0) {
		snprintf(what, sizeof what, "line %zu, type %s", index, meas);
		if (sdk_check_app(app, app ? appn : 0, index, what, err) < 0)
			return -1;
		return (int)sdk_check_meas(meas, index, what, err);
	}
	size_t slot = MAX_VIEWS;
	if (st == ST_VIEW) {
		size_t idn = 0;
		double ver = 0;
		const char *id = str_of(t, "view.id", &idn, &t->s1);
		jent_num(jflat_get(&t->f, "_dd.document_version"), &ver);
		if (id && view_superseded(t, id, idn, ver, &slot)) {
			tally->dropped[ST_VIEW]++;
			return 0;
		}
	}
	/* application.id again: s1 was reused meanwhile. */
	app = str_of(t, "application.id", &appn, &t->s2);
	char appbuf[256];
	if (appn >= sizeof appbuf)
		return intake_fail(err, 400, "rum.badEvent",
				   "event %zu (line %zu, type %s): application.id longer than 255 "
				   "bytes",
				   index, index, meas);
	memcpy(appbuf, app, appn);
	if (common_tags(t, in, appbuf, appn) < 0)
		return intake_fail(err, 500, "rum.internal", "out of memory");
	switch (st) {
	case ST_VIEW:
		map_view(t);
		break;
	case ST_RESOURCE:
		map_resource(t);
		break;
	case ST_ERROR:
		map_error(t);
		break;
	case ST_LONG_TASK:
		map_long_task(t);
		break;
	case ST_ACTION:
		map_action(t);
		break;
	default:
		map_telemetry(t);
		break;
	}
	map_custom(t, "context");
	double date;
	int64_t time_ns = in->now_ns;
	if (jent_num(jflat_get(&t->f, "date"), &date) == 0 && date >= 0 && date < 9.2e12)
		time_ns = (int64_t)date * 1000000;
	size_t off = out->len;
	if (sdk_finish(&t->w, in, meas, time_ns, out, index, err) < 0)
		return -1;
	if (slot < MAX_VIEWS) {
		t->views[slot].off = off;
		t->views[slot].len = out->len - off;
		t->views[slot].meas = mi;
	}
	per_meas[mi]++;
	tally->mapped[st]++;
	return 0;
}

int datadog_parse(const struct sdk_in *in, struct buf *out, uint64_t *per_meas,
		  struct sdk_tally *tally, struct intake_err *err)
{
	struct dd_tls *t = perthread_get(&tls_slot);
	if (!t)
		return intake_fail(err, 500, "rum.internal", "out of memory");
	t->nviews = 0;
	/* The User-Agent and the SDK version are the request's. */
	t->common.valid = 0;
	size_t index = 0, nonblank = 0;
	for (const char *p = in->body, *end = in->body + in->len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		index++;
		if (json_skip_ws(p, e) < e) {
			nonblank++;
			if (dd_event(t, in, p, (size_t)(e - p), index, out, per_meas, tally, err) <
			    0)
				return -1;
		}
		p = nl ? nl + 1 : end;
	}
	if (!nonblank)
		return intake_fail(err, 400, "rum.emptyBody", "no events in the body");
	drop_dead_views(t, out, per_meas, tally);
	/* One huge request must not pin its memory in every thread. */
	if (t->f.paths.cap > ((size_t)1 << 20))
		jflat_free(&t->f);
	return 0;
}
