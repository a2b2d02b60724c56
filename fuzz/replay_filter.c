/* Fuzz rum-replay-filter's rule compiler and evaluator
 * (cmd/rum-replay-filter/rules.c, filter.c). The first line of the input is
 * a rule; each further line is a record, or when it is not one, a KEY=VALUE
 * pair that goes into a session_replay record made of all such pairs (as a
 * tag, and as a number field too when VALUE is a number), so that the
 * names a mutated rule uses can exist. Every record is filtered with and
 * without --all, and by the rule as one pulled from Dataway; the answers
 * must agree with each other and be the same when asked twice. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/rum-replay-filter/filter.h"
#include "../cmd/rum-replay-filter/rules.h"
#include "buf.h"
#include "log.h"
#include "record.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct replay_filter rf;
static struct buf made, tags, fields;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz-replay-filter");
	log_set_level("error");
	if (rf_init(&rf) < 0) {
		fprintf(stderr, "fuzz-replay-filter: out of memory\n");
		exit(1);
	}
	return 0;
}

static enum rf_result filter(const char *p, size_t n, int all)
{
	struct rum_error err = {0};
	rf.all = all;
	enum rf_result r = rf_line(&rf, p, n, &err);
	CHECK(rf_line(&rf, p, n, &err) == r);
	if (r == RF_BAD)
		CHECK(err.msg[0] && err.offset <= n);
	return r;
}

/* The rule as pulled from Dataway: it applies to every record, and sees
 * category and source beside the record's own names. */
static enum rf_result pulled(struct ruleset *rs, const char *p, size_t n)
{
	struct ruleset *fixed = rf.fixed;
	rf.fixed = NULL;
	rf.pulled = rs;
	enum rf_result r = filter(p, n, 0);
	rf.pulled = NULL;
	rf.fixed = fixed;
	return r;
}

static void one(struct ruleset *rs, const char *p, size_t n)
{
	enum rf_result some = filter(p, n, 0), every = filter(p, n, 1);
	CHECK((some == RF_BAD) == (every == RF_BAD));
	/* Dropped without --all means it is a session replay, which --all
	 * drops as well. */
	if (some == RF_DROP)
		CHECK(every == RF_DROP);
	CHECK((pulled(rs, p, n) == RF_BAD) == (every == RF_BAD));
}

static int numeric(const char *s, size_t n)
{
	if (n == 0 || n > 20)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((s[i] < '0' || s[i] > '9') && !(i == 0 && s[i] == '-' && n > 1))
			return 0;
	return !(s[0] == '0' && n > 1) && !(s[0] == '-' && s[1] == '0');
}

static void add_pair(const char *p, size_t n)
{
	const char *eq = memchr(p, '=', n);
	if (!eq || eq == p)
		return;
	size_t kl = (size_t)(eq - p), vl = n - kl - 1;
	struct buf *b[2] = {&tags, &fields};
	for (int i = 0; i < (numeric(eq + 1, vl) ? 2 : 1); i++) {
		buf_addc(b[i], b[i]->len ? ',' : '{');
		json_add_str(b[i], p, kl);
		buf_addc(b[i], ':');
		if (i == 0)
			json_add_str(b[i], eq + 1, vl);
		else
			buf_add(b[i], eq + 1, vl);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	const char *nl = memchr(p, '\n', size);
	size_t rn = nl ? (size_t)(nl - p) : size;

	struct ruleset *rs = ruleset_new();
	CHECK(rs);
	struct rum_error err = {0};
	memset(&err, 0, sizeof err);
	int rc = ruleset_add(rs, p, rn, &err);
	if (rc < 0) {
		CHECK(err.offset <= rn && err.msg[0]);
		size_t line, col;
		rule_position(p, rn, err.offset, &line, &col);
		CHECK(line >= 1 && col >= 1 && col <= rn + 1);
		CHECK(err.line == line && err.column == col);
	}
	CHECK(ruleset_count(rs) == (rc == 1 ? 1u : 0u));
	rf.fixed = rs;

	buf_reset(&tags);
	buf_reset(&fields);
	p += rn + (nl ? 1 : 0);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct rum_error e = {0};
		if (rec_parse_line(&rf.rec, p, n, &e) == 0)
			one(rs, p, n);
		else
			add_pair(p, n);
		p += n + 1;
	}
	buf_reset(&made);
	buf_adds(&made, "{\"measurement\":\"session_replay\",\"tags\":");
	buf_add(&made, tags.len ? tags.p : "{", tags.len ? tags.len : 1);
	buf_adds(&made, "},\"fields\":");
	buf_add(&made, fields.len ? fields.p : "{", fields.len ? fields.len : 1);
	buf_adds(&made, "}}");
	CHECK(!made.err && !tags.err && !fields.err);
	one(rs, made.p, made.len);

	rf.fixed = NULL;
	ruleset_free(rs);
	return 0;
}
