/* The evaluator: a compiled ruleset against one record, looking values up
 * lazily (a key's value is fetched, decoded and read as a number only when
 * a comparison needs it). Per record, so kept lean: no allocation once the
 * scratch buffer has grown. */
#include <string.h>

#include "rules_int.h"

/* Backtracking limits: a pathological pattern costs at most this much per
 * value and then counts as not matching. */
#define RE_MATCH_LIMIT 1000000
#define RE_HEAP_LIMIT_KIB 8192
#define RE_JIT_STACK_MAX (1024 * 1024)

int rule_eval_init(struct rule_eval *ev)
{
	memset(ev, 0, sizeof *ev);
	pcre2_match_context *mc = pcre2_match_context_create(NULL);
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	if (!mc || !md) {
		pcre2_match_context_free(mc);
		pcre2_match_data_free(md);
		return -1;
	}
	pcre2_set_match_limit(mc, RE_MATCH_LIMIT);
	pcre2_set_heap_limit(mc, RE_HEAP_LIMIT_KIB);
	/* JIT's own stack (the default 32 KiB is small for some patterns);
	 * none means the default, which only makes such matches fail. */
	pcre2_jit_stack *js = pcre2_jit_stack_create(32 * 1024, RE_JIT_STACK_MAX, NULL);
	if (js)
		pcre2_jit_stack_assign(mc, NULL, js);
	ev->match_ctx = mc;
	ev->match_data = md;
	ev->jit_stack = js;
	return 0;
}

void rule_eval_free(struct rule_eval *ev)
{
	pcre2_match_data_free(ev->match_data);
	pcre2_match_context_free(ev->match_ctx);
	if (ev->jit_stack)
		pcre2_jit_stack_free(ev->jit_stack);
	buf_free(&ev->scratch);
	memset(ev, 0, sizeof *ev);
}

/* What a key holds in a record, looked at lazily. */
struct val {
	const struct rec_kv *kv; /* NULL: missing */
	const char *text;	 /* decoded string, or the raw token of a number/bool */
	size_t len;
	int num_state; /* 0: not looked at, 1: a number (num), -1: not a number */
	struct num num;
};

static void fetch(const struct ruleset *rs, uint32_t key, const struct record *r,
		  struct rule_eval *ev, struct val *v)
{
	const char *name = rs->strs.p + rs->keys[key].off;
	v->kv = rec_tag(r, name);
	if (!v->kv)
		v->kv = rec_field(r, name);
	for (size_t i = 0; !v->kv && i < ev->nextra; i++)
		if (strcmp(ev->extra[i].name, name) == 0)
			v->kv = &ev->extra[i].kv;
	v->num_state = 0;
	if (!v->kv)
		return;
	if (v->kv->type == RV_STRING) {
		if (rec_str(v->kv->val, v->kv->val_len, &ev->scratch, &v->text, &v->len) < 0) {
			/* Only on allocation failure: compare the raw token. */
			v->text = v->kv->val;
			v->len = v->kv->val_len;
		}
	} else {
		v->text = v->kv->val;
		v->len = v->kv->val_len;
	}
}

/* Strings of a record are numbers when their whole text is a decimal
 * number: tags are strings, and raw_segment_size > 1000 should work. */
static int val_num(struct val *v)
{
	if (v->num_state)
		return v->num_state > 0;
	v->num_state = -1;
	if (v->kv->type == RV_BOOL || v->len == 0 || v->len > NUM_TEXT_MAX)
		return 0;
	int range_err;
	size_t n = scan_number(v->text, v->len, 0, &v->num, &range_err);
	if (n == v->len && !range_err)
		v->num_state = 1;
	return v->num_state > 0;
}

static int num_cmp(const struct num *a, const struct num *b)
{
	if (a->is_int && b->is_int)
		return (a->i > b->i) - (a->i < b->i);
	/* long double holds every int64 exactly on the targets we build for;
	 * elsewhere the comparison is as exact as double. */
	long double x = a->is_int ? (long double)a->i : (long double)a->d;
	long double y = b->is_int ? (long double)b->i : (long double)b->d;
	return (x > y) - (x < y);
}

static int str_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	if (c)
		return c < 0 ? -1 : 1;
	return (an > bn) - (an < bn);
}

static int re_match(pcre2_code *re, const struct val *v, struct rule_eval *ev)
{
	int rc = pcre2_match(re, (PCRE2_SPTR)v->text, v->len, 0, 0, ev->match_data, ev->match_ctx);
	if (rc >= 0)
		return 1;
	if (rc != PCRE2_ERROR_NOMATCH)
		ev->regex_errors++;
	return 0;
}

/* v = l, with NULL equal only to a missing key. */
static int equals(const struct ruleset *rs, const struct lit *l, struct val *v,
		  struct rule_eval *ev)
{
	if (l->kind == L_NULL)
		return v->kv == NULL;
	if (!v->kv)
		return 0;
	switch (l->kind) {
	case L_STR:
		return v->len == l->len && memcmp(v->text, rs->strs.p + l->off, l->len) == 0;
	case L_NUM:
		return val_num(v) && num_cmp(&v->num, &l->num) == 0;
	case L_BOOL:
		return l->b ? v->len == 4 && memcmp(v->text, "true", 4) == 0
			    : v->len == 5 && memcmp(v->text, "false", 5) == 0;
	case L_RE:
		return re_match(l->re, v, ev);
	case L_NULL:
		break;
	}
	return 0;
}

static int order(const struct ruleset *rs, enum cmpop op, const struct lit *l, struct val *v)
{
	if (!v->kv)
		return 0;
	int c;
	if (l->kind == L_NUM) {
		if (!val_num(v))
			return 0;
		c = num_cmp(&v->num, &l->num);
	} else {
		c = str_cmp(v->text, v->len, rs->strs.p + l->off, l->len);
	}
	switch (op) {
	case OP_LT:
		return c < 0;
	case OP_LE:
		return c <= 0;
	case OP_GT:
		return c > 0;
	case OP_GE:
		return c >= 0;
	default:
		return 0;
	}
}

static int eval(const struct ruleset *rs, uint32_t ni, const struct record *r, struct rule_eval *ev)
{
	const struct node *nd = &rs->nodes[ni];
	struct val v;
	switch (nd->kind) {
	case N_OR:
		for (uint32_t i = 0; i < nd->n; i++)
			if (eval(rs, rs->kids[nd->a + i], r, ev))
				return 1;
		return 0;
	case N_AND:
		for (uint32_t i = 0; i < nd->n; i++)
			if (!eval(rs, rs->kids[nd->a + i], r, ev))
				return 0;
		return 1;
	case N_CMP:
		fetch(rs, nd->a, r, ev, &v);
		if (nd->op == OP_EQ)
			return equals(rs, &rs->lits[nd->b], &v, ev);
		if (nd->op == OP_NE)
			return !equals(rs, &rs->lits[nd->b], &v, ev);
		return order(rs, nd->op, &rs->lits[nd->b], &v);
	case N_IN:
	case N_NOTIN: {
		fetch(rs, nd->a, r, ev, &v);
		int in = 0;
		for (uint32_t i = 0; i < nd->n && !in; i++)
			in = equals(rs, &rs->lits[nd->b + i], &v, ev);
		return nd->kind == N_IN ? in : !in;
	}
	case N_MATCH:
	case N_NOTMATCH: {
		/* DataKit's notmatch holds when some expression of the list
		 * does not match: with none listed, never. */
		if (nd->n == 0)
			return 0;
		fetch(rs, nd->a, r, ev, &v);
		int m = 0;
		for (uint32_t i = 0; i < nd->n && !m && v.kv; i++)
			m = re_match(rs->lits[nd->b + i].re, &v, ev);
		return nd->kind == N_MATCH ? m : !m;
	}
	case N_NEVER:
		return 0;
	}
	return 0;
}

long ruleset_match(const struct ruleset *rs, const struct record *r, struct rule_eval *ev)
{
	if (!rs)
		return -1;
	for (size_t i = 0; i < rs->nroots; i++)
		if (eval(rs, rs->roots[i], r, ev))
			return (long)i;
	return -1;
}
