/* Filter rules in DataKit's syntax, compiled once and evaluated against
 * records:
 *
 *   { service = 'xxx' or version IN [ 'v1', 'v2'] }; { app_id = re('^t') }
 *
 * A rule is one or more brace blocks separated by ';' (alternatives: any
 * block matching makes the rule match). Inside braces, ',' separates
 * conditions that must all hold; each is an expression of comparisons
 * joined by and/&& (binding tighter) and or/||, with parentheses. A
 * comparison is KEY OP VALUE, KEY being a tag or else a field of the record
 * (a missing key equals NULL). Regular expressions are PCRE2, compiled once
 * (JIT when available), with the options that bring it closest to the Go
 * RE2 syntax DataKit uses. */
#ifndef RUM_REPLAY_FILTER_RULES_H
#define RUM_REPLAY_FILTER_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errmsg.h"
#include "record.h"

/* Limits that keep hostile rule text from exhausting the stack or memory. */
#define RULE_MAX_LEN ((size_t)1 << 20)
#define RULE_MAX_DEPTH 64 /* nested parentheses */

struct ruleset;

struct ruleset *ruleset_new(void);
void ruleset_free(struct ruleset *rs);

/* Compiles one rule and adds it to rs. Returns 1 when added; 0 when the
 * text holds no condition at all (blank, or only comments and ';'), which
 * adds nothing; -1 with err filled (rs unchanged) when it does not parse,
 * or on allocation failure (msg says so): err->msg is "expected X, found
 * Y" and the like, err->offset the byte of the text where it went wrong,
 * err->line and err->column the same as rule_position() says it. */
int ruleset_add(struct ruleset *rs, const char *text, size_t n, struct rum_error *err);
size_t ruleset_count(const struct ruleset *rs);

/* A value rules see beyond the record's tags and fields, under a name the
 * record has neither as a tag nor as a field: DataKit shows its pulled
 * filters a point's category ("rum") and its measurement as "source". */
struct rule_extra {
	const char *name;
	struct rec_kv kv; /* the value, as a record holds it (a raw JSON token) */
};

/* Per-thread evaluation state: the scratch buffer for decoded values and
 * PCRE2's match data and limits, and the extra values in force (none
 * unless the caller sets them). */
struct rule_eval {
	struct buf scratch;
	void *match_data, *match_ctx, *jit_stack;
	uint64_t regex_errors; /* matches that hit a limit (counted as no match) */
	const struct rule_extra *extra;
	size_t nextra;
};

int rule_eval_init(struct rule_eval *ev);
void rule_eval_free(struct rule_eval *ev);

/* The index of the first rule of rs that r matches, or -1. rs may be NULL. */
long ruleset_match(const struct ruleset *rs, const struct record *r, struct rule_eval *ev);

/* 1-based line and column (in characters) of a byte offset in text. */
void rule_position(const char *text, size_t n, size_t offset, size_t *line, size_t *col);

#endif
