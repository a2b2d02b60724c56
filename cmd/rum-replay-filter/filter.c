/* Per-record filtering and the counters of dropped records by app_id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "filter.h"
#include "fnv.h"
#include "metrics.h"
#include "utf8.h"

#define APP_SLOTS 2048 /* a power of two, at least twice RF_MAX_APPS */

struct rf_app {
	char *name; /* NULL: empty slot */
	size_t len;
	uint32_t hash;
	uint64_t *dropped, *bytes, *body_bytes;
};

/* app_id="VALUE" with the text format's escapes; control bytes and
 * invalid UTF-8 become '?', and long values are cut at a character
 * boundary. */
static int app_label(struct buf *b, const char *s, size_t n)
{
	buf_reset(b);
	buf_adds(b, "app_id=\"");
	size_t i = 0;
	while (i < n && i < RF_APP_LABEL_MAX) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80 ? 1 : (size_t)utf8_seq_len(s + i, s + n);
		if (k > 1) {
			if (i + k > RF_APP_LABEL_MAX)
				break;
			buf_add(b, s + i, k);
			i += k;
			continue;
		}
		if (c == '\\')
			buf_adds(b, "\\\\");
		else if (c == '"')
			buf_adds(b, "\\\"");
		else if (c == '\n')
			buf_adds(b, "\\n");
		else if (k == 0 || c < 0x20 || c == 0x7f)
			buf_addc(b, '?');
		else
			buf_addc(b, (char)c);
		i++;
	}
	buf_addc(b, '"');
	return b->err ? -1 : 0;
}

static int app_metrics(struct rf_app *a, struct buf *label)
{
	const char *l = buf_cstr(label);
	if (!l)
		return -1;
	a->dropped = metric_get("rum_replay_filter_dropped_total", l, METRIC_COUNTER,
				"Records dropped because a rule matched them, by app_id.");
	a->bytes = metric_get("rum_replay_filter_dropped_bytes_total", l, METRIC_COUNTER,
			      "Bytes of the dropped records as read (without the newline).");
	a->body_bytes =
	    metric_get("rum_replay_filter_dropped_body_bytes_total", l, METRIC_COUNTER,
		       "Bytes of the uploads the dropped session replay records carried (their "
		       "body field, decoded).");
	return 0;
}

int rf_init(struct replay_filter *f)
{
	if (rule_eval_init(&f->ev) < 0)
		return -1;
	f->apps = calloc(APP_SLOTS, sizeof *f->apps);
	f->other = calloc(1, sizeof *f->other);
	if (!f->apps || !f->other) {
		rf_free(f);
		return -1;
	}
	f->apps_cap = APP_SLOTS;
	f->m_records = metric_get("rum_replay_filter_records_total", NULL, METRIC_COUNTER,
				  "Valid records read from standard input.");
	f->m_checked = metric_get("rum_replay_filter_checked_total", NULL, METRIC_COUNTER,
				  "Records the rules were applied to (session_replay ones, or "
				  "every record with --all or pulled rules).");
	f->m_pulled_dropped =
	    metric_get("rum_replay_filter_pulled_dropped_total", NULL, METRIC_COUNTER,
		       "Records dropped because a rule pulled from Dataway matched them.");
	f->m_regex_errors =
	    metric_get("rum_replay_filter_regex_errors_total", NULL, METRIC_COUNTER,
		       "Regular expression matches that hit PCRE2's limits (taken as no match).");
	buf_adds(&f->label, "app_id=\"(other)\"");
	if (app_metrics(f->other, &f->label) < 0) {
		rf_free(f);
		return -1;
	}
	return 0;
}

void rf_free(struct replay_filter *f)
{
	if (f->apps)
		for (size_t i = 0; i < f->apps_cap; i++)
			free(f->apps[i].name);
	free(f->apps);
	free(f->other);
	f->apps = f->other = NULL;
	f->napps = f->apps_cap = 0;
	rule_eval_free(&f->ev);
	rec_free(&f->rec);
	buf_free(&f->scratch);
	buf_free(&f->label);
}

static struct rf_app *app_for(struct replay_filter *f, const char *s, size_t n)
{
	uint32_t h = fnv1a(s, n);
	size_t i = h & (f->apps_cap - 1);
	for (;; i = (i + 1) & (f->apps_cap - 1)) {
		struct rf_app *a = &f->apps[i];
		if (!a->name)
			break;
		if (a->hash == h && a->len == n && memcmp(a->name, s, n) == 0)
			return a;
	}
	if (f->napps >= RF_MAX_APPS)
		return f->other;
	struct rf_app *a = &f->apps[i];
	char *name = malloc(n + 1);
	if (!name || app_label(&f->label, s, n) < 0) {
		free(name);
		return f->other;
	}
	memcpy(name, s, n);
	name[n] = 0;
	if (app_metrics(a, &f->label) < 0) {
		free(name);
		return f->other;
	}
	a->name = name;
	a->len = n;
	a->hash = h;
	f->napps++;
	return a;
}

static int is_replay(struct replay_filter *f)
{
	return rec_meas_is(&f->rec, "session_replay", &f->scratch);
}

/* The decoded text of a tag (or else field) for counting. */
static void text_of(struct replay_filter *f, const char *key, const char **s, size_t *n)
{
	const struct rec_kv *kv = rec_tag(&f->rec, key);
	if (!kv)
		kv = rec_field(&f->rec, key);
	*s = "";
	*n = 0;
	if (!kv)
		return;
	if (kv->type != RV_STRING || rec_str(kv->val, kv->val_len, &f->scratch, s, n) < 0) {
		*s = kv->val;
		*n = kv->val_len;
	}
}

static void count_drop(struct replay_filter *f, size_t len)
{
	const char *s;
	size_t n;
	text_of(f, "body", &s, &n);
	size_t body = base64_decoded_len(s, n);
	text_of(f, "app_id", &s, &n);
	struct rf_app *a = app_for(f, s, n);
	metric_inc(a->dropped);
	metric_add(a->bytes, len);
	metric_add(a->body_bytes, body);
}

/* The pulled rules against the record, seeing what DataKit's filters see
 * beside a point's tags and fields: its category, and its measurement as
 * source. */
static int pulled_match(struct replay_filter *f)
{
	static const char rum[] = "\"rum\"";
	struct rule_extra extra[2] = {
	    {"category", {.val = rum, .val_len = sizeof rum - 1, .type = RV_STRING}},
	    {"source", {.val = f->rec.meas, .val_len = f->rec.meas_len, .type = RV_STRING}},
	};
	f->ev.extra = extra;
	f->ev.nextra = 2;
	int hit = ruleset_match(f->pulled, &f->rec, &f->ev) >= 0;
	f->ev.extra = NULL;
	f->ev.nextra = 0;
	return hit;
}

enum rf_result rf_line(struct replay_filter *f, const char *line, size_t len, struct rum_error *err)
{
	if (rec_parse_line(&f->rec, line, len, err) < 0)
		return RF_BAD;
	metric_inc(f->m_records);
	int local = f->all || is_replay(f), pulled = ruleset_count(f->pulled) > 0;
	if (!local && !pulled)
		return RF_PASS;
	metric_inc(f->m_checked);
	int hit = local && (ruleset_match(f->fixed, &f->rec, &f->ev) >= 0 ||
			    ruleset_match(f->file, &f->rec, &f->ev) >= 0);
	if (!hit && pulled && pulled_match(f)) {
		hit = 1;
		metric_inc(f->m_pulled_dropped);
	}
	if (f->ev.regex_errors != f->regex_errors_seen) {
		metric_add(f->m_regex_errors, f->ev.regex_errors - f->regex_errors_seen);
		f->regex_errors_seen = f->ev.regex_errors;
	}
	if (!hit)
		return RF_PASS;
	count_drop(f, len);
	return RF_DROP;
}
