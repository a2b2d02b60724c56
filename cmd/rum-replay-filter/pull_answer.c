/* Reading the answer of Dataway's filter pull: the JSON walk, the rum
 * list compiled into a ruleset, and the messages that say what was wrong.
 * Go's JSON reader is the model: object member names of the struct match
 * in any case ("Filters"), map keys exactly ("rum"); a later member of
 * the same name wins; null is "nothing"; a value of the wrong type refuses
 * the whole answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "pull_answer.h"

#define ANSWER_MAX_DEPTH 64
#define RULE_SHOWN_MAX 120 /* bytes of a rule quoted in a message */

struct walk {
	const char *start, *end;
	struct buf key, text; /* decoded member name, decoded string value */
	struct rum_error *err;
};

static int json_error(struct walk *w, const char *at, const char *what)
{
	err_at(w->err, (size_t)(at - w->start), "%s at byte %zu", what, (size_t)(at - w->start));
	return -1;
}

static int scan_fail(struct walk *w, const struct json_fail *f)
{
	return json_error(w, f->at ? f->at : w->end, json_strerror(f->code));
}

/* The string token at *p decoded into b; *p moves past it. */
static int read_string(struct walk *w, const char **p, struct buf *b)
{
	struct json_fail f = {0};
	int esc = 0;
	const char *q = json_scan_string(*p, w->end, 0, &esc, &f);
	if (!q)
		return scan_fail(w, &f);
	const char *s;
	size_t n;
	if (json_unescape(*p, (size_t)(q - *p), 0, b, &s, &n) < 0)
		return json_error(w, *p, b->err ? "out of memory" : "bad string");
	if (s != b->p) { /* no escapes: the token's own bytes, copied */
		buf_reset(b);
		if (buf_add(b, s, n) < 0)
			return json_error(w, *p, "out of memory");
	}
	*p = q;
	return 0;
}

static int is_null(struct walk *w, const char *p)
{
	return w->end - p >= 4 && memcmp(p, "null", 4) == 0;
}

/* Any value at *p, checked and skipped. */
static int skip_value(struct walk *w, const char **p, int depth)
{
	struct json_fail f = {0};
	const char *q = json_skip_value(*p, w->end, depth, ANSWER_MAX_DEPTH, 0, &f);
	if (!q)
		return scan_fail(w, &f);
	*p = q;
	return 0;
}

/* Calls member(w, p, ctx) for each member of the object at *p, with its
 * name decoded in w->key and *p at its value (which member must read). */
static int each_member(struct walk *w, const char **p,
		       int (*member)(struct walk *, const char **, void *), void *ctx)
{
	const char *q = json_skip_ws(*p + 1, w->end);
	if (q < w->end && *q == '}') {
		*p = q + 1;
		return 0;
	}
	for (;;) {
		if (q >= w->end || *q != '"')
			return json_error(w, q, "expected a member name");
		if (read_string(w, &q, &w->key) < 0)
			return -1;
		q = json_skip_ws(q, w->end);
		if (q >= w->end || *q != ':')
			return json_error(w, q, "expected ':'");
		q = json_skip_ws(q + 1, w->end);
		if (q >= w->end)
			return json_error(w, q, "the answer ends before a value");
		if (member(w, &q, ctx) < 0)
			return -1;
		q = json_skip_ws(q, w->end);
		if (q < w->end && *q == ',') {
			q = json_skip_ws(q + 1, w->end);
			continue;
		}
		if (q < w->end && *q == '}') {
			*p = q + 1;
			return 0;
		}
		return json_error(w, q, "expected ',' or '}'");
	}
}

/* Calls item(w, p, index, ctx) for each element of the array at *p. */
static int each_item(struct walk *w, const char **p,
		     int (*item)(struct walk *, const char **, size_t, void *), void *ctx)
{
	const char *q = json_skip_ws(*p + 1, w->end);
	if (q < w->end && *q == ']') {
		*p = q + 1;
		return 0;
	}
	for (size_t i = 0;; i++) {
		if (q >= w->end)
			return json_error(w, q, "the answer ends inside a list");
		if (item(w, &q, i, ctx) < 0)
			return -1;
		q = json_skip_ws(q, w->end);
		if (q < w->end && *q == ',') {
			q = json_skip_ws(q + 1, w->end);
			continue;
		}
		if (q < w->end && *q == ']') {
			*p = q + 1;
			return 0;
		}
		return json_error(w, q, "expected ',' or ']'");
	}
}

struct rules_ctx {
	struct ruleset *rs;
	int bad_rule, nomem;
};

/* "rule 2 of filters.rum '{ a = }': column 7: expected ..." */
static int bad_rule(struct walk *w, size_t index, const char *text, size_t n,
		    const struct rum_error *e)
{
	char shown[RULE_SHOWN_MAX + 4];
	excerpt(shown, sizeof shown, text, n);
	size_t line, col;
	rule_position(text, n, e->offset, &line, &col);
	if (memchr(text, '\n', n))
		return err_set(w->err, "rule %zu of filters.rum '%s': line %zu, column %zu: %s",
			       index + 1, shown, line, col, e->msg);
	return err_set(w->err, "rule %zu of filters.rum '%s': column %zu: %s", index + 1, shown,
		       col, e->msg);
}

static int rum_rule(struct walk *w, const char **p, size_t index, void *ctx)
{
	struct rules_ctx *rc = ctx;
	if (is_null(w, *p)) { /* Go reads it as "": no condition, nothing added */
		*p += 4;
		return 0;
	}
	if (**p != '"')
		return json_error(w, *p, "a rule that is not a string");
	if (read_string(w, p, &w->text) < 0)
		return -1;
	struct rum_error e;
	const char *text = w->text.p ? w->text.p : "";
	if (ruleset_add(rc->rs, text, w->text.len, &e) < 0) {
		if (strcmp(e.msg, "out of memory") == 0)
			rc->nomem = 1;
		rc->bad_rule = 1;
		return bad_rule(w, index, text, w->text.len, &e);
	}
	return 0;
}

static int other_rule(struct walk *w, const char **p, size_t index, void *ctx)
{
	(void)index;
	(void)ctx;
	if (is_null(w, *p)) {
		*p += 4;
		return 0;
	}
	if (**p != '"')
		return json_error(w, *p, "a rule that is not a string");
	return skip_value(w, p, 2);
}

struct answer_ctx {
	struct pull_answer *out;
	struct rules_ctx rules;
};

/* The rum list replaces the rules read so far (a later "rum" wins). */
static int rum_list(struct walk *w, const char **p, struct answer_ctx *ac)
{
	struct ruleset *rs = ruleset_new();
	if (!rs) {
		ac->rules.nomem = 1;
		return json_error(w, *p, "out of memory");
	}
	ruleset_free(ac->out->rum);
	ac->out->rum = rs;
	if (is_null(w, *p)) {
		*p += 4;
		return 0;
	}
	if (**p != '[')
		return json_error(w, *p, "filters.rum is not a list");
	ac->rules.rs = rs;
	return each_item(w, p, rum_rule, &ac->rules);
}

static int category(struct walk *w, const char **p, void *ctx)
{
	struct answer_ctx *ac = ctx;
	if (w->key.len == 3 && memcmp(w->key.p, "rum", 3) == 0)
		return rum_list(w, p, ac);
	if (is_null(w, *p)) {
		*p += 4;
		return 0;
	}
	if (**p != '[')
		return json_error(w, *p, "a category of filters that is not a list");
	return each_item(w, p, other_rule, NULL);
}

/* pull_interval: an integer of nanoseconds (Go's time.Duration). */
static int interval(struct walk *w, const char **p, struct pull_answer *out)
{
	if (is_null(w, *p)) {
		*p += 4;
		return 0;
	}
	const char *start = *p;
	if (skip_value(w, p, 1) < 0)
		return -1;
	size_t n = (size_t)(*p - start);
	char num[32];
	if (n >= sizeof num)
		return json_error(w, start, "pull_interval is not a 64-bit integer");
	for (size_t i = 0; i < n; i++)
		if ((start[i] < '0' || start[i] > '9') && !(i == 0 && start[i] == '-'))
			return json_error(w, start, "pull_interval is not an integer");
	memcpy(num, start, n);
	num[n] = 0;
	errno = 0;
	char *e;
	long long v = strtoll(num, &e, 10);
	if (errno || *e)
		return json_error(w, start, "pull_interval is not a 64-bit integer");
	out->interval_ns = v > 0 ? (int64_t)v : 0;
	return 0;
}

static int key_is(const struct buf *key, const char *name)
{
	size_t n = strlen(name);
	return key->len == n && strncasecmp(key->p, name, n) == 0;
}

static int top_member(struct walk *w, const char **p, void *ctx)
{
	struct answer_ctx *ac = ctx;
	if (key_is(&w->key, "filters")) {
		if (is_null(w, *p)) { /* the map goes: no rules */
			*p += 4;
			ruleset_free(ac->out->rum);
			ac->out->rum = NULL;
			return 0;
		}
		if (**p != '{')
			return json_error(w, *p, "filters is not an object");
		return each_member(w, p, category, ac);
	}
	if (key_is(&w->key, "pull_interval"))
		return interval(w, p, ac->out);
	return skip_value(w, p, 1);
}

static int walk_answer(struct walk *w, struct answer_ctx *ac)
{
	const char *p = json_skip_ws(w->start, w->end);
	if (p >= w->end)
		return json_error(w, p, "an empty answer");
	if (is_null(w, p)) {
		p += 4;
	} else {
		if (*p != '{')
			return json_error(w, p, "the answer is not a JSON object");
		if (each_member(w, &p, top_member, ac) < 0)
			return -1;
	}
	p = json_skip_ws(p, w->end);
	if (p < w->end)
		return json_error(w, p, "more after the JSON object");
	return 0;
}

enum pull_answer_status pull_answer_parse(const char *body, size_t n, struct pull_answer *out,
					  struct rum_error *err)
{
	struct walk w = {.start = body, .end = body + n, .err = err};
	struct answer_ctx ac = {.out = out};
	out->rum = NULL;
	out->interval_ns = 0;
	int rc = walk_answer(&w, &ac);
	if (rc == 0 && !out->rum && !(out->rum = ruleset_new())) {
		ac.rules.nomem = 1;
		rc = err_set(err, "out of memory");
	}
	buf_free(&w.key);
	buf_free(&w.text);
	if (rc == 0)
		return PA_OK;
	ruleset_free(out->rum);
	out->rum = NULL;
	return ac.rules.nomem ? PA_NOMEM : ac.rules.bad_rule ? PA_BAD_RULE : PA_BAD_JSON;
}
