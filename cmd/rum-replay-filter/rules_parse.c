/* The parser of rule text: recursive descent over the lexer's tokens,
 * building the ruleset's flat tree, with messages that say what was
 * expected and what was found. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "rules_int.h"

/* "'}'", "end of rule", "identifier 'foo'", ... for messages. */
static const char *describe(struct parser *p, char *out, size_t outlen)
{
	const struct tok *t = &p->t;
	char ex[72];
	excerpt(ex, 48 + 4, p->s + t->start, t->end - t->start);
	switch (t->kind) {
	case T_EOF:
		snprintf(out, outlen, "end of rule");
		break;
	case T_IDENT:
		snprintf(out, outlen, ex[0] == '`' ? "name %s" : "name '%s'", ex);
		break;
	case T_STRING:
		snprintf(out, outlen, "string %s", ex);
		break;
	case T_NUMBER:
		snprintf(out, outlen, "number %s", ex);
		break;
	case T_AND:
	case T_OR:
	case T_IN:
	case T_NOTIN:
	case T_MATCH:
	case T_NOTMATCH:
	case T_NULL:
	case T_TRUE:
	case T_FALSE:
	case T_RE:
		if (ex[0] == '&' || ex[0] == '|')
			snprintf(out, outlen, "'%s'", ex);
		else
			snprintf(out, outlen, "keyword '%s'", ex);
		break;
	default:
		snprintf(out, outlen, "'%s'", ex);
		break;
	}
	return out;
}

static int expected(struct parser *p, const char *what)
{
	char d[96];
	describe(p, d, sizeof d);
	return parse_fail(p, p->t.start, "expected %s, found %s", what, d);
}

/* ---- building ---- */

static int push(struct parser *p, uint32_t v)
{
	if (ARRAY_RESERVE(p->stack, p->cstack, p->nstack + 1, RULE_ARRAY_MAX) < 0)
		return parse_nomem(p);
	p->stack[p->nstack++] = v;
	return 0;
}

static long add_node(struct parser *p, struct node nd)
{
	struct ruleset *rs = p->rs;
	if (ARRAY_RESERVE(rs->nodes, rs->cnodes, rs->nnodes + 1, RULE_ARRAY_MAX) < 0)
		return parse_nomem(p);
	rs->nodes[rs->nnodes] = nd;
	return (long)rs->nnodes++;
}

/* The children stack[base..] become one N_OR / N_AND node (or stay the one
 * child they are). */
static long group(struct parser *p, size_t base, enum nkind kind)
{
	struct ruleset *rs = p->rs;
	size_t n = p->nstack - base;
	if (n == 1) {
		p->nstack = base;
		return (long)p->stack[base];
	}
	size_t first = rs->nkids;
	for (size_t i = 0; i < n; i++) {
		if (ARRAY_RESERVE(rs->kids, rs->ckids, rs->nkids + 1, RULE_ARRAY_MAX) < 0)
			return parse_nomem(p);
		rs->kids[rs->nkids++] = p->stack[base + i];
	}
	p->nstack = base;
	return add_node(p, (struct node){kind, OP_EQ, (uint32_t)first, 0, (uint32_t)n});
}

static long add_key(struct parser *p)
{
	struct ruleset *rs = p->rs;
	if (p->text.len == 0)
		return parse_fail(p, p->t.start, "empty quoted name ``");
	if (memchr(p->text.p, 0, p->text.len))
		return parse_fail(p, p->t.start, "NUL byte in a name");
	if (ARRAY_RESERVE(rs->keys, rs->ckeys, rs->nkeys + 1, RULE_ARRAY_MAX) < 0)
		return parse_nomem(p);
	size_t off = rs->strs.len;
	if (buf_add(&rs->strs, p->text.p, p->text.len) < 0 || buf_addc(&rs->strs, 0) < 0)
		return parse_nomem(p);
	rs->keys[rs->nkeys].off = off;
	return (long)rs->nkeys++;
}

static long add_lit(struct parser *p, struct lit l)
{
	struct ruleset *rs = p->rs;
	if (ARRAY_RESERVE(rs->lits, rs->clits, rs->nlits + 1, RULE_ARRAY_MAX) < 0) {
		if (l.re)
			pcre2_code_free(l.re);
		return parse_nomem(p);
	}
	rs->lits[rs->nlits] = l;
	return (long)rs->nlits++;
}

/* The current T_STRING compiled as a regular expression into l->re. */
static int compile_re(struct parser *p, struct lit *l)
{
	int code;
	PCRE2_SIZE at;
	const char *pattern = p->text.p ? p->text.p : "";
	l->re = pcre2_compile((PCRE2_SPTR)pattern, p->text.len, RE_OPTIONS, &code, &at, NULL);
	if (!l->re) {
		PCRE2_UCHAR msg[160];
		if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", code);
		char ex[72];
		excerpt(ex, 48 + 4, pattern, p->text.len);
		return parse_fail(p, p->t.start,
				  "invalid regular expression '%s': %s (at character %zu of it)",
				  ex, (const char *)msg, (size_t)at + 1);
	}
	/* Without JIT (no support on this CPU, or no executable memory) the
	 * interpreter answers the same. */
	(void)pcre2_jit_compile(l->re, PCRE2_JIT_COMPLETE);
	return 0;
}

/* The current T_STRING as a literal; compiled as a regular expression
 * when re. */
static long string_lit(struct parser *p, int re)
{
	struct ruleset *rs = p->rs;
	struct lit l = {.kind = re ? L_RE : L_STR, .off = rs->strs.len, .len = p->text.len};
	if (buf_add(&rs->strs, p->text.p, p->text.len) < 0 || buf_addc(&rs->strs, 0) < 0)
		return parse_nomem(p);
	if (re && compile_re(p, &l) < 0)
		return -1;
	return add_lit(p, l);
}

#define WHAT_VALUE "a value (a string, a number, NULL, nil, true, false or re('...'))"
#define WHAT_ITEM "a string, a number, NULL, true or false"
#define WHAT_OP "an operator (=, !=, <, <=, >, >=, in, notin, match or notmatch)"
#define WHAT_COND "a condition (a name, or '(')"

/* re('...') from its keyword: the regular expression's literal. As in
 * DataKit, the pattern may be a raw string in backquotes, re(`^a\.b$`),
 * taken as written. */
static long regex_lit(struct parser *p)
{
	if (lex_next(p) < 0)
		return -1;
	if (p->t.kind != T_LPAREN)
		return expected(p, "'(' after re");
	if (lex_next(p) < 0)
		return -1;
	if (p->t.kind != T_STRING && !(p->t.kind == T_IDENT && p->t.quoted))
		return expected(p, "a string (the regular expression) in re(...)");
	long li = string_lit(p, 1);
	if (li < 0)
		return -1;
	if (lex_next(p) < 0)
		return -1;
	if (p->t.kind != T_RPAREN)
		return expected(p, "')' closing re(...)");
	return li;
}

/* A value after = or != (re allowed), or an item of an in-list. */
static long value_lit(struct parser *p, int allow_re, const char *what)
{
	struct lit l = {.kind = L_NULL};
	switch (p->t.kind) {
	case T_STRING:
		return string_lit(p, 0);
	case T_NUMBER:
		l.kind = L_NUM;
		l.num = p->t.num;
		break;
	case T_NULL:
		break;
	case T_TRUE:
	case T_FALSE:
		l.kind = L_BOOL;
		l.b = p->t.kind == T_TRUE;
		break;
	case T_RE:
		if (!allow_re)
			return expected(p, what);
		return regex_lit(p);
	default:
		return expected(p, what);
	}
	return add_lit(p, l);
}

static long parse_or(struct parser *p);

/* One item of a list at the current token: its literal added to the
 * ruleset (1), or a name, which DataKit skips when it evaluates an in or
 * notin list and so is left out here (0); -1 after parse_fail(). */
static int list_item(struct parser *p, int regex)
{
	long li;
	if (regex) {
		if (p->t.kind != T_STRING)
			return expected(p, "a string (a regular expression)");
		li = string_lit(p, 1);
	} else if (p->t.kind == T_IDENT) {
		return 0;
	} else {
		li = value_lit(p, 0, WHAT_ITEM);
	}
	return li < 0 ? -1 : 1;
}

/* [ item, ... ] after in, notin, match or notmatch. The list may be empty,
 * as in DataKit: in [] is never true and notin [] always; match [] and
 * notmatch [] are never true. */
static long parse_list(struct parser *p, uint32_t key, enum nkind kind)
{
	int regex = kind == N_MATCH || kind == N_NOTMATCH;
	if (p->t.kind != T_LBRACKET)
		return expected(p, regex ? "'[' (a list of regular expressions)" : "'[' (a list)");
	uint32_t first = (uint32_t)p->rs->nlits, n = 0;
	if (lex_next(p) < 0)
		return -1;
	/* Items separated by ',', with none after the last one. */
	for (int more = p->t.kind != T_RBRACKET; more;) {
		int added = list_item(p, regex);
		if (added < 0)
			return -1;
		n += (uint32_t)added;
		if (lex_next(p) < 0)
			return -1;
		more = p->t.kind == T_COMMA;
		if (!more && p->t.kind != T_RBRACKET)
			return expected(p, "',' or ']'");
		if (more && lex_next(p) < 0)
			return -1;
	}
	if (lex_next(p) < 0)
		return -1;
	return add_node(p, (struct node){kind, OP_EQ, key, first, n});
}

/* A name on the right of a comparison ({ service = env }, backquoted or
 * not): DataKit parses it, and its evaluator finds such a comparison false
 * whatever the operator (!= included) and whatever the record holds; so
 * does this one. */
static long name_on_right(struct parser *p)
{
	if (lex_next(p) < 0)
		return -1;
	return add_node(p, (struct node){N_NEVER, OP_EQ, 0, 0, 0});
}

/* ( expression ) from its '('. */
static long parse_parens(struct parser *p)
{
	if (++p->depth > RULE_MAX_DEPTH)
		return parse_fail(p, p->t.start, "parentheses nested deeper than %d",
				  RULE_MAX_DEPTH);
	if (lex_next(p) < 0)
		return -1;
	long e = parse_or(p);
	if (e < 0)
		return -1;
	if (p->t.kind != T_RPAREN)
		return expected(p, "'and', 'or' or ')'");
	p->depth--;
	if (lex_next(p) < 0)
		return -1;
	return e;
}

/* What follows a key: the operator and its value or list. */
static long parse_comparison(struct parser *p, uint32_t key)
{
	enum tkind op = p->t.kind;
	long li;
	switch (op) {
	case T_EQ:
	case T_NE:
		if (lex_next(p) < 0)
			return -1;
		if (p->t.kind == T_IDENT)
			return name_on_right(p);
		li = value_lit(p, 1, WHAT_VALUE);
		if (li < 0 || lex_next(p) < 0)
			return -1;
		return add_node(
		    p, (struct node){N_CMP, op == T_EQ ? OP_EQ : OP_NE, key, (uint32_t)li, 1});
	case T_LT:
	case T_LE:
	case T_GT:
	case T_GE: {
		if (lex_next(p) < 0)
			return -1;
		if (p->t.kind == T_IDENT)
			return name_on_right(p);
		if (p->t.kind != T_STRING && p->t.kind != T_NUMBER)
			return expected(p, "a string or a number");
		li = value_lit(p, 0, "");
		if (li < 0 || lex_next(p) < 0)
			return -1;
		enum cmpop o = op == T_LT ? OP_LT : op == T_LE ? OP_LE : op == T_GT ? OP_GT : OP_GE;
		return add_node(p, (struct node){N_CMP, o, key, (uint32_t)li, 1});
	}
	case T_IN:
	case T_NOTIN:
	case T_MATCH:
	case T_NOTMATCH: {
		enum nkind k = op == T_IN      ? N_IN
			       : op == T_NOTIN ? N_NOTIN
			       : op == T_MATCH ? N_MATCH
					       : N_NOTMATCH;
		if (lex_next(p) < 0)
			return -1;
		return parse_list(p, key, k);
	}
	default:
		return expected(p, WHAT_OP);
	}
}

/* A condition: ( expression ), or KEY OP VALUE. */
static long parse_primary(struct parser *p)
{
	if (p->t.kind == T_LPAREN)
		return parse_parens(p);
	if (p->t.kind != T_IDENT) {
		if (p->t.kind >= T_AND && p->t.kind <= T_RE &&
		    is_word_start((unsigned char)p->s[p->t.start])) {
			char ex[72];
			excerpt(ex, 48 + 4, p->s + p->t.start, p->t.end - p->t.start);
			return parse_fail(
			    p, p->t.start,
			    "expected %s, found keyword '%s' (write `%s` for a key of "
			    "that name)",
			    WHAT_COND, ex, ex);
		}
		return expected(p, WHAT_COND);
	}
	long key = add_key(p);
	if (key < 0)
		return -1;
	if (lex_next(p) < 0)
		return -1;
	return parse_comparison(p, (uint32_t)key);
}

/* operand (op operand)...: the operands joined under one node of kind (or
 * the one operand as it is). */
static long parse_joined(struct parser *p, long (*operand)(struct parser *), enum tkind op,
			 enum nkind kind)
{
	size_t base = p->nstack;
	for (;;) {
		long e = operand(p);
		if (e < 0 || push(p, (uint32_t)e) < 0)
			return -1;
		if (p->t.kind != op)
			break;
		if (lex_next(p) < 0)
			return -1;
	}
	return group(p, base, kind);
}

/* and binds tighter than or. */
static long parse_and(struct parser *p)
{
	return parse_joined(p, parse_primary, T_AND, N_AND);
}

static long parse_or(struct parser *p)
{
	return parse_joined(p, parse_and, T_OR, N_OR);
}

/* { cond, cond, ... } with the current token the '{'. */
static long parse_braces(struct parser *p)
{
	size_t base = p->nstack;
	size_t open = p->t.start;
	if (lex_next(p) < 0)
		return -1;
	for (;;) {
		if (p->t.kind == T_RBRACE) {
			if (p->nstack == base)
				return parse_fail(p, p->t.start,
						  "expected %s, found '}' (an empty {} would match "
						  "every record)",
						  WHAT_COND);
			break;
		}
		if (p->t.kind == T_EOF)
			return p->nstack == base ? expected(p, WHAT_COND)
						 : parse_fail(p, open, "'{' is never closed");
		long e = parse_or(p);
		if (e < 0 || push(p, (uint32_t)e) < 0)
			return -1;
		if (p->t.kind == T_COMMA) {
			if (lex_next(p) < 0)
				return -1;
			continue;
		}
		if (p->t.kind == T_EOF)
			return parse_fail(p, open, "'{' is never closed");
		if (p->t.kind != T_RBRACE)
			return expected(p, "'and', 'or', ',' or '}'");
	}
	if (lex_next(p) < 0)
		return -1;
	return group(p, base, N_AND);
}

static int parse_rule(struct parser *p, long *root)
{
	if (lex_next(p) < 0)
		return -1;
	size_t base = p->nstack;
	for (;;) {
		if (p->t.kind == T_SEMI) {
			if (lex_next(p) < 0)
				return -1;
			continue;
		}
		if (p->t.kind == T_EOF)
			break;
		if (p->t.kind != T_LBRACE)
			return expected(p, "'{'");
		long e = parse_braces(p);
		if (e < 0 || push(p, (uint32_t)e) < 0)
			return -1;
		if (p->t.kind != T_SEMI && p->t.kind != T_EOF)
			return expected(p, "';' or the end of the rule");
	}
	if (p->nstack == base)
		return 0;
	*root = group(p, base, N_OR);
	return *root < 0 ? -1 : 1;
}

int ruleset_add(struct ruleset *rs, const char *text, size_t n, struct rum_error *err)
{
	if (n > RULE_MAX_LEN) {
		err_at(err, RULE_MAX_LEN, "rule longer than %zu bytes", RULE_MAX_LEN);
		rule_position(text, n, err->offset, &err->line, &err->column);
		return -1;
	}
	struct parser p = {.s = text, .n = n, .rs = rs, .err = err};
	size_t nnodes = rs->nnodes, nlits = rs->nlits, nkids = rs->nkids, nkeys = rs->nkeys,
	       nstrs = rs->strs.len;
	long root = -1;
	int rc = parse_rule(&p, &root);
	if (rc == 1 && ARRAY_RESERVE(rs->roots, rs->croots, rs->nroots + 1, RULE_ARRAY_MAX) < 0)
		rc = parse_nomem(&p);
	if (rc == 1)
		rs->roots[rs->nroots++] = (uint32_t)root;
	if (rc <= 0) {
		rs->nnodes = nnodes;
		ruleset_free_lits(rs, nlits);
		rs->nkids = nkids;
		rs->nkeys = nkeys;
		rs->strs.len = nstrs;
		rs->strs.err = 0;
	}
	if (rc < 0)
		rule_position(text, n, err->offset, &err->line, &err->column);
	free(p.stack);
	buf_free(&p.text);
	return rc;
}
