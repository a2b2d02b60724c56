/* The rule compiler (a lexer and a recursive-descent parser building a
 * flat tree) and the evaluator. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "rules.h"

/* PCRE2 as close to RE2 as options get: UTF-8 patterns, '$' only at the
 * very end (RE2 has no "before a final newline"), invalid UTF-8 in values
 * simply not matching rather than failing. \d, \w, \s and \b stay ASCII as
 * in RE2. */
#define RE_OPTIONS (PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_MATCH_INVALID_UTF)
/* Backtracking limits: a pathological pattern costs at most this much per
 * value and then counts as not matching. */
#define RE_MATCH_LIMIT 1000000
#define RE_HEAP_LIMIT_KIB 8192
#define RE_JIT_STACK_MAX (1024 * 1024)

/* Values of numbers in rule text and in records: text of at most this
 * length is looked at (longer is not a number). */
#define NUM_TEXT_MAX 64

enum nkind { N_OR, N_AND, N_CMP, N_IN, N_NOTIN, N_MATCH, N_NOTMATCH };
enum cmpop { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum lkind { L_NULL, L_STR, L_NUM, L_BOOL, L_RE };

struct num {
	int is_int;
	int64_t i;
	double d;
};

struct lit {
	enum lkind kind;
	int b;		 /* L_BOOL */
	struct num num;	 /* L_NUM */
	size_t off, len; /* L_STR, L_RE: the (pattern) text in strs */
	pcre2_code *re;	 /* L_RE, and each item of a match list */
};

/* N_OR, N_AND: children kids[a .. a+n). N_CMP: key a, op, lits[b].
 * N_IN .. N_NOTMATCH: key a, lits[b .. b+n). */
struct node {
	enum nkind kind;
	enum cmpop op;
	uint32_t a, b, n;
};

struct key {
	size_t off; /* NUL-terminated name in strs */
};

struct ruleset {
	struct node *nodes;
	size_t nnodes, cnodes;
	struct lit *lits;
	size_t nlits, clits;
	uint32_t *kids;
	size_t nkids, ckids;
	struct key *keys;
	size_t nkeys, ckeys;
	uint32_t *roots;
	size_t nroots, croots;
	struct buf strs;
};

/* Grows *arr (of *cap elements of size sz) to hold one more. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return 0;
	if (n >= UINT32_MAX / 2)
		return -1;
	size_t nc = *cap ? *cap * 2 : 16;
	void *p = realloc(*arr, nc * sz);
	if (!p)
		return -1;
	*arr = p;
	*cap = nc;
	return 0;
}

struct ruleset *ruleset_new(void)
{
	return calloc(1, sizeof(struct ruleset));
}

static void free_lits(struct ruleset *rs, size_t from)
{
	for (size_t i = from; i < rs->nlits; i++)
		if (rs->lits[i].re)
			pcre2_code_free(rs->lits[i].re);
	rs->nlits = from;
}

void ruleset_free(struct ruleset *rs)
{
	if (!rs)
		return;
	free_lits(rs, 0);
	free(rs->nodes);
	free(rs->lits);
	free(rs->kids);
	free(rs->keys);
	free(rs->roots);
	buf_free(&rs->strs);
	free(rs);
}

size_t ruleset_count(const struct ruleset *rs)
{
	return rs ? rs->nroots : 0;
}

void rule_position(const char *text, size_t n, size_t offset, size_t *line, size_t *col)
{
	size_t ln = 1, c = 1;
	if (offset > n)
		offset = n;
	for (size_t i = 0; i < offset; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch == '\n') {
			ln++;
			c = 1;
		} else if ((ch & 0xC0) != 0x80) {
			c++;
		}
	}
	*line = ln;
	*col = c;
}

/* ---- lexer ---- */

enum tkind {
	T_EOF,
	T_LBRACE,
	T_RBRACE,
	T_LPAREN,
	T_RPAREN,
	T_LBRACKET,
	T_RBRACKET,
	T_COMMA,
	T_SEMI,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_AND,
	T_OR,
	T_IN,
	T_NOTIN,
	T_MATCH,
	T_NOTMATCH,
	T_NULL,
	T_TRUE,
	T_FALSE,
	T_RE,
	T_IDENT,
	T_STRING,
	T_NUMBER,
};

static const struct {
	const char *word;
	enum tkind kind;
} keywords[] = {
    {"and", T_AND},
    {"or", T_OR},
    {"in", T_IN},
    {"notin", T_NOTIN},
    {"not_in", T_NOTIN},
    {"match", T_MATCH},
    {"notmatch", T_NOTMATCH},
    {"not_match", T_NOTMATCH},
    {"null", T_NULL},
    {"nil", T_NULL},
    {"true", T_TRUE},
    {"false", T_FALSE},
    {"re", T_RE},
};

struct tok {
	enum tkind kind;
	size_t start, end; /* in the rule text */
	struct num num;	   /* T_NUMBER */
};

struct parser {
	const char *s;
	size_t n, pos;
	struct tok t;	 /* the current token */
	struct buf text; /* decoded text of the current T_STRING / T_IDENT */
	struct ruleset *rs;
	struct rule_error *err;
	int failed;
	int depth;
	uint32_t *stack; /* children being collected, innermost last */
	size_t nstack, cstack;
};

__attribute__((format(printf, 3, 4))) static int fail(struct parser *p, size_t at, const char *fmt,
						      ...)
{
	if (p->failed)
		return -1;
	p->failed = 1;
	p->err->offset = at;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
	va_end(ap);
	return -1;
}

static int nomem(struct parser *p)
{
	return fail(p, p->t.start, "out of memory");
}

/* Up to max bytes of s for a message, non-printable bytes as '?'. */
static void excerpt(char *out, size_t outlen, const char *s, size_t n, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < n && i < max && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (n > max && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = 0;
}

static int is_word_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_word(int c)
{
	return is_word_start(c) || (c >= '0' && c <= '9');
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int add_utf8(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return buf_add(b, u, n);
}

/* A quoted string starting at p->pos (the quote), decoded into p->text.
 * Escapes as Go's (\a \b \f \n \r \t \v \\ \' \" \xHH \ooo \uHHHH
 * \UHHHHHHHH); any other backslash pair is kept as written, so that
 * regular expressions such as '\d+\.js' need no doubling (DataKit rejects
 * those, so no rule it accepts changes meaning). */
static int lex_string(struct parser *p)
{
	const char *s = p->s;
	size_t i = p->pos + 1, open = p->pos;
	char q = s[p->pos];
	buf_reset(&p->text);
	for (;;) {
		if (i >= p->n || s[i] == '\n')
			return fail(p, open, "unterminated string: no closing %c", q);
		char c = s[i];
		if (c == q)
			break;
		if (c != '\\') {
			size_t j = i;
			while (j < p->n && s[j] != q && s[j] != '\\' && s[j] != '\n')
				j++;
			buf_add(&p->text, s + i, j - i);
			i = j;
			continue;
		}
		if (i + 1 >= p->n)
			return fail(p, open, "unterminated string: no closing %c", q);
		char e = s[i + 1];
		static const char simple_in[] = "abfnrtv\\'\"`";
		static const char simple_out[] = "\a\b\f\n\r\t\v\\'\"`";
		const char *k = e ? strchr(simple_in, e) : NULL;
		if (k) {
			buf_addc(&p->text, simple_out[k - simple_in]);
			i += 2;
			continue;
		}
		if (e == 'x' || e == 'u' || e == 'U') {
			int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
			uint32_t v = 0;
			for (int d = 0; d < digits; d++) {
				int h = i + 2 + (size_t)d < p->n
					    ? hexval((unsigned char)s[i + 2 + d])
					    : -1;
				if (h < 0)
					return fail(p, i, "escape \\%c needs %d hexadecimal digits",
						    e, digits);
				v = v * 16 + (uint32_t)h;
			}
			if (e == 'x') {
				buf_addc(&p->text, (char)v);
			} else {
				if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000))
					return fail(p, i,
						    "escape \\%c%.*s is not a Unicode character", e,
						    digits, s + i + 2);
				add_utf8(&p->text, v);
			}
			i += 2 + (size_t)digits;
			continue;
		}
		if (e >= '0' && e <= '7') {
			uint32_t v = 0;
			size_t j = i + 1;
			while (j < p->n && j < i + 4 && s[j] >= '0' && s[j] <= '7')
				v = v * 8 + (uint32_t)(s[j++] - '0');
			if (v > 255)
				return fail(p, i, "octal escape \\%.*s is over \\377",
					    (int)(j - i - 1), s + i + 1);
			buf_addc(&p->text, (char)v);
			i = j;
			continue;
		}
		buf_add(&p->text, s + i, 2);
		i += 2;
	}
	if (p->text.err)
		return nomem(p);
	p->pos = i + 1;
	return 0;
}

/* Decimal (with an optional fraction and exponent) or 0x hexadecimal,
 * with an optional sign: the number's value into *out. Returns the length
 * of the number at s (0: none). */
static size_t scan_number(const char *s, size_t n, int allow_hex, struct num *out, int *range_err)
{
	size_t i = 0;
	*range_err = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if (allow_hex && i + 2 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') &&
	    hexval((unsigned char)s[i + 2]) >= 0) {
		i += 2;
		uint64_t v = 0;
		while (i < n && hexval((unsigned char)s[i]) >= 0) {
			if (v > (UINT64_MAX >> 4))
				*range_err = 1;
			v = (v << 4) | (uint64_t)hexval((unsigned char)s[i]);
			i++;
		}
		int neg = s[0] == '-';
		if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
			*range_err = 1;
		out->is_int = 1;
		out->i = neg ? (int64_t)(0 - v) : (int64_t)v;
		out->d = (double)out->i;
		return i;
	}
	size_t int_digits = 0, frac_digits = 0;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, int_digits++;
	int is_int = 1;
	if (i < n && s[i] == '.') {
		i++;
		is_int = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, frac_digits++;
	}
	if (int_digits + frac_digits == 0)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1;
		if (j < n && (s[j] == '+' || s[j] == '-'))
			j++;
		size_t ed = j;
		while (j < n && s[j] >= '0' && s[j] <= '9')
			j++;
		if (j > ed) {
			i = j;
			is_int = 0;
		}
	}
	if (i > NUM_TEXT_MAX) {
		*range_err = 1;
		return i;
	}
	char tmp[NUM_TEXT_MAX + 1];
	memcpy(tmp, s, i);
	tmp[i] = 0;
	errno = 0;
	if (is_int) {
		char *end;
		long long v = strtoll(tmp, &end, 10);
		if (errno == 0 && *end == 0) {
			out->is_int = 1;
			out->i = v;
			out->d = (double)v;
			return i;
		}
		errno = 0; /* too big for int64: a double like any JSON reader */
	}
	char *end;
	double d = strtod(tmp, &end);
	if (*end || !isfinite(d))
		*range_err = 1;
	out->is_int = 0;
	out->i = 0;
	out->d = d;
	return i;
}

/* Length of the UTF-8 character at s (2..4), or 0 when it is not one. */
static size_t utf8_len(const char *s, size_t n)
{
	unsigned char c = (unsigned char)s[0];
	size_t len = c >= 0xC2 && c <= 0xDF   ? 2
		     : c >= 0xE0 && c <= 0xEF ? 3
		     : c >= 0xF0 && c <= 0xF4 ? 4
					      : 0;
	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			return 0;
	return len;
}

static void skip_space(struct parser *p)
{
	while (p->pos < p->n) {
		char c = p->s[p->pos];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			p->pos++;
		} else if (c == '#') {
			while (p->pos < p->n && p->s[p->pos] != '\n')
				p->pos++;
		} else {
			break;
		}
	}
}

static int next(struct parser *p)
{
	skip_space(p);
	struct tok *t = &p->t;
	const char *s = p->s;
	t->start = p->pos;
	if (p->pos >= p->n) {
		t->kind = T_EOF;
		t->end = p->pos;
		return 0;
	}
	char c = s[p->pos];
	char c2 = p->pos + 1 < p->n ? s[p->pos + 1] : 0;
	size_t len = 1;
	switch (c) {
	case '{':
		t->kind = T_LBRACE;
		break;
	case '}':
		t->kind = T_RBRACE;
		break;
	case '(':
		t->kind = T_LPAREN;
		break;
	case ')':
		t->kind = T_RPAREN;
		break;
	case '[':
		t->kind = T_LBRACKET;
		break;
	case ']':
		t->kind = T_RBRACKET;
		break;
	case ',':
		t->kind = T_COMMA;
		break;
	case ';':
		t->kind = T_SEMI;
		break;
	case '=':
		t->kind = T_EQ;
		break;
	case '!':
		if (c2 != '=')
			return fail(p, p->pos, "unexpected character '!' (did you mean '!='?)");
		t->kind = T_NE;
		len = 2;
		break;
	case '<':
		t->kind = c2 == '=' ? T_LE : T_LT;
		len = c2 == '=' ? 2 : 1;
		break;
	case '>':
		t->kind = c2 == '=' ? T_GE : T_GT;
		len = c2 == '=' ? 2 : 1;
		break;
	case '&':
		if (c2 != '&')
			return fail(p, p->pos, "unexpected character '&' (did you mean '&&'?)");
		t->kind = T_AND;
		len = 2;
		break;
	case '|':
		if (c2 != '|')
			return fail(p, p->pos, "unexpected character '|' (did you mean '||'?)");
		t->kind = T_OR;
		len = 2;
		break;
	case '\'':
	case '"':
		if (lex_string(p) < 0)
			return -1;
		t->kind = T_STRING;
		t->end = p->pos;
		return 0;
	case '`': {
		const char *close = memchr(s + p->pos + 1, '`', p->n - p->pos - 1);
		if (!close)
			return fail(p, p->pos, "unterminated quoted name: no closing `");
		size_t nl = (size_t)(close - (s + p->pos + 1));
		if (nl == 0)
			return fail(p, p->pos, "empty quoted name ``");
		if (memchr(s + p->pos + 1, 0, nl))
			return fail(p, p->pos, "NUL byte in a quoted name");
		buf_reset(&p->text);
		if (buf_add(&p->text, s + p->pos + 1, nl) < 0)
			return nomem(p);
		t->kind = T_IDENT;
		p->pos += nl + 2;
		t->end = p->pos;
		return 0;
	}
	default:
		break;
	}
	if (c == '{' || c == '}' || c == '(' || c == ')' || c == '[' || c == ']' || c == ',' ||
	    c == ';' || c == '=' || c == '!' || c == '<' || c == '>' || c == '&' || c == '|') {
		p->pos += len;
		t->end = p->pos;
		return 0;
	}
	if ((c >= '0' && c <= '9') || ((c == '.' || c == '+' || c == '-') && c2 &&
				       ((c2 >= '0' && c2 <= '9') || (c2 == '.' && c != '.')))) {
		int range_err;
		size_t nl = scan_number(s + p->pos, p->n - p->pos, 1, &t->num, &range_err);
		size_t end = p->pos + nl;
		if (nl == 0 || (end < p->n && (is_word(s[end]) || s[end] == '.'))) {
			size_t e = end;
			while (e < p->n && (is_word(s[e]) || s[e] == '.'))
				e++;
			char ex[48];
			excerpt(ex, sizeof ex, s + p->pos, e - p->pos, 32);
			return fail(p, p->pos, "bad number '%s'", ex);
		}
		if (range_err) {
			char ex[48];
			excerpt(ex, sizeof ex, s + p->pos, nl, 32);
			return fail(p, p->pos, "number '%s' is out of range", ex);
		}
		t->kind = T_NUMBER;
		p->pos = end;
		t->end = end;
		return 0;
	}
	if (is_word_start((unsigned char)c)) {
		size_t e = p->pos;
		while (e < p->n && is_word((unsigned char)s[e]))
			e++;
		size_t wl = e - p->pos;
		t->kind = T_IDENT;
		for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
			if (strlen(keywords[k].word) == wl &&
			    strncasecmp(keywords[k].word, s + p->pos, wl) == 0) {
				t->kind = keywords[k].kind;
				break;
			}
		buf_reset(&p->text);
		if (buf_add(&p->text, s + p->pos, wl) < 0)
			return nomem(p);
		p->pos = e;
		t->end = e;
		return 0;
	}
	if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
		return fail(p, p->pos, "unexpected character '%c'", c);
	size_t k = utf8_len(s + p->pos, p->n - p->pos);
	if (k > 1)
		return fail(p, p->pos,
			    "unexpected character '%.*s' (a name of other characters is written in "
			    "backquotes)",
			    (int)k, s + p->pos);
	return fail(p, p->pos, "unexpected byte 0x%02x", (unsigned char)c);
}

/* "'}'", "end of rule", "identifier 'foo'", ... for messages. */
static const char *describe(struct parser *p, char *out, size_t outlen)
{
	const struct tok *t = &p->t;
	char ex[72];
	excerpt(ex, sizeof ex, p->s + t->start, t->end - t->start, 48);
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
	return fail(p, p->t.start, "expected %s, found %s", what, d);
}

/* ---- building ---- */

static int push(struct parser *p, uint32_t v)
{
	if (grow((void **)&p->stack, &p->cstack, p->nstack, sizeof *p->stack) < 0)
		return nomem(p);
	p->stack[p->nstack++] = v;
	return 0;
}

static long add_node(struct parser *p, struct node nd)
{
	struct ruleset *rs = p->rs;
	if (grow((void **)&rs->nodes, &rs->cnodes, rs->nnodes, sizeof *rs->nodes) < 0)
		return nomem(p);
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
		if (grow((void **)&rs->kids, &rs->ckids, rs->nkids, sizeof *rs->kids) < 0)
			return nomem(p);
		rs->kids[rs->nkids++] = p->stack[base + i];
	}
	p->nstack = base;
	return add_node(p, (struct node){kind, OP_EQ, (uint32_t)first, 0, (uint32_t)n});
}

static long add_key(struct parser *p)
{
	struct ruleset *rs = p->rs;
	if (memchr(p->text.p, 0, p->text.len))
		return fail(p, p->t.start, "NUL byte in a name");
	if (grow((void **)&rs->keys, &rs->ckeys, rs->nkeys, sizeof *rs->keys) < 0)
		return nomem(p);
	size_t off = rs->strs.len;
	if (buf_add(&rs->strs, p->text.p, p->text.len) < 0 || buf_addc(&rs->strs, 0) < 0)
		return nomem(p);
	rs->keys[rs->nkeys].off = off;
	return (long)rs->nkeys++;
}

static long add_lit(struct parser *p, struct lit l)
{
	struct ruleset *rs = p->rs;
	if (grow((void **)&rs->lits, &rs->clits, rs->nlits, sizeof *rs->lits) < 0) {
		if (l.re)
			pcre2_code_free(l.re);
		return nomem(p);
	}
	rs->lits[rs->nlits] = l;
	return (long)rs->nlits++;
}

/* The current T_STRING as a literal; compiled as a regular expression
 * when re. */
static long string_lit(struct parser *p, int re)
{
	struct ruleset *rs = p->rs;
	struct lit l = {.kind = re ? L_RE : L_STR, .off = rs->strs.len, .len = p->text.len};
	if (buf_add(&rs->strs, p->text.p, p->text.len) < 0 || buf_addc(&rs->strs, 0) < 0)
		return nomem(p);
	if (re) {
		int code;
		PCRE2_SIZE at;
		l.re =
		    pcre2_compile((PCRE2_SPTR)p->text.p, p->text.len, RE_OPTIONS, &code, &at, NULL);
		if (!l.re) {
			PCRE2_UCHAR msg[160];
			if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
				snprintf((char *)msg, sizeof msg, "error %d", code);
			char ex[72];
			excerpt(ex, sizeof ex, p->text.p, p->text.len, 48);
			return fail(p, p->t.start,
				    "invalid regular expression '%s': %s (at character %zu of it)",
				    ex, (const char *)msg, (size_t)at + 1);
		}
		/* Without JIT (no support on this CPU, or no executable memory)
		 * the interpreter answers the same. */
		(void)pcre2_jit_compile(l.re, PCRE2_JIT_COMPLETE);
	}
	return add_lit(p, l);
}

#define WHAT_VALUE "a value (a string, a number, NULL, nil, true, false or re('...'))"
#define WHAT_ITEM "a string, a number, NULL, true or false"
#define WHAT_OP "an operator (=, !=, <, <=, >, >=, in, notin, match or notmatch)"
#define WHAT_COND "a condition (a name, or '(')"

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
		if (next(p) < 0)
			return -1;
		if (p->t.kind != T_LPAREN)
			return expected(p, "'(' after re");
		if (next(p) < 0)
			return -1;
		if (p->t.kind != T_STRING)
			return expected(p, "a string (the regular expression) in re(...)");
		long li = string_lit(p, 1);
		if (li < 0)
			return -1;
		if (next(p) < 0)
			return -1;
		if (p->t.kind != T_RPAREN)
			return expected(p, "')' closing re(...)");
		return li;
	default:
		return expected(p, what);
	}
	return add_lit(p, l);
}

static long parse_or(struct parser *p);

static long parse_list(struct parser *p, uint32_t key, enum nkind kind)
{
	int regex = kind == N_MATCH || kind == N_NOTMATCH;
	if (p->t.kind != T_LBRACKET)
		return expected(p, regex ? "'[' (a list of regular expressions)" : "'[' (a list)");
	uint32_t first = (uint32_t)p->rs->nlits, n = 0;
	for (;;) {
		if (next(p) < 0)
			return -1;
		long li;
		if (regex) {
			if (p->t.kind != T_STRING)
				return expected(p, "a string (a regular expression)");
			li = string_lit(p, 1);
		} else {
			li = value_lit(p, 0, WHAT_ITEM);
		}
		if (li < 0)
			return -1;
		n++;
		if (next(p) < 0)
			return -1;
		if (p->t.kind == T_RBRACKET)
			break;
		if (p->t.kind != T_COMMA)
			return expected(p, "',' or ']'");
	}
	if (next(p) < 0)
		return -1;
	return add_node(p, (struct node){kind, OP_EQ, key, first, n});
}

static long parse_primary(struct parser *p)
{
	if (p->t.kind == T_LPAREN) {
		if (++p->depth > RULE_MAX_DEPTH)
			return fail(p, p->t.start, "parentheses nested deeper than %d",
				    RULE_MAX_DEPTH);
		if (next(p) < 0)
			return -1;
		long e = parse_or(p);
		if (e < 0)
			return -1;
		if (p->t.kind != T_RPAREN)
			return expected(p, "'and', 'or' or ')'");
		p->depth--;
		if (next(p) < 0)
			return -1;
		return e;
	}
	if (p->t.kind != T_IDENT) {
		if (p->t.kind >= T_AND && p->t.kind <= T_RE &&
		    is_word_start((unsigned char)p->s[p->t.start])) {
			char ex[72];
			excerpt(ex, sizeof ex, p->s + p->t.start, p->t.end - p->t.start, 48);
			return fail(p, p->t.start,
				    "expected %s, found keyword '%s' (write `%s` for a key of "
				    "that name)",
				    WHAT_COND, ex, ex);
		}
		return expected(p, WHAT_COND);
	}
	long key = add_key(p);
	if (key < 0)
		return -1;
	if (next(p) < 0)
		return -1;
	enum tkind op = p->t.kind;
	switch (op) {
	case T_EQ:
	case T_NE: {
		if (next(p) < 0)
			return -1;
		long li = value_lit(p, 1, WHAT_VALUE);
		if (li < 0 || next(p) < 0)
			return -1;
		return add_node(p, (struct node){N_CMP, op == T_EQ ? OP_EQ : OP_NE, (uint32_t)key,
						 (uint32_t)li, 1});
	}
	case T_LT:
	case T_LE:
	case T_GT:
	case T_GE: {
		if (next(p) < 0)
			return -1;
		if (p->t.kind != T_STRING && p->t.kind != T_NUMBER)
			return expected(p, "a string or a number");
		long li = value_lit(p, 0, "");
		if (li < 0 || next(p) < 0)
			return -1;
		enum cmpop o = op == T_LT ? OP_LT : op == T_LE ? OP_LE : op == T_GT ? OP_GT : OP_GE;
		return add_node(p, (struct node){N_CMP, o, (uint32_t)key, (uint32_t)li, 1});
	}
	case T_IN:
	case T_NOTIN:
	case T_MATCH:
	case T_NOTMATCH: {
		enum nkind k = op == T_IN      ? N_IN
			       : op == T_NOTIN ? N_NOTIN
			       : op == T_MATCH ? N_MATCH
					       : N_NOTMATCH;
		if (next(p) < 0)
			return -1;
		return parse_list(p, (uint32_t)key, k);
	}
	default:
		return expected(p, WHAT_OP);
	}
}

static long parse_and(struct parser *p)
{
	size_t base = p->nstack;
	for (;;) {
		long e = parse_primary(p);
		if (e < 0 || push(p, (uint32_t)e) < 0)
			return -1;
		if (p->t.kind != T_AND)
			break;
		if (next(p) < 0)
			return -1;
	}
	return group(p, base, N_AND);
}

static long parse_or(struct parser *p)
{
	size_t base = p->nstack;
	for (;;) {
		long e = parse_and(p);
		if (e < 0 || push(p, (uint32_t)e) < 0)
			return -1;
		if (p->t.kind != T_OR)
			break;
		if (next(p) < 0)
			return -1;
	}
	return group(p, base, N_OR);
}

/* { cond, cond, ... } with the current token the '{'. */
static long parse_braces(struct parser *p)
{
	size_t base = p->nstack;
	size_t open = p->t.start;
	if (next(p) < 0)
		return -1;
	for (;;) {
		if (p->t.kind == T_RBRACE) {
			if (p->nstack == base)
				return fail(p, p->t.start,
					    "expected %s, found '}' (an empty {} would match "
					    "every record)",
					    WHAT_COND);
			break;
		}
		if (p->t.kind == T_EOF)
			return p->nstack == base ? expected(p, WHAT_COND)
						 : fail(p, open, "'{' is never closed");
		long e = parse_or(p);
		if (e < 0 || push(p, (uint32_t)e) < 0)
			return -1;
		if (p->t.kind == T_COMMA) {
			if (next(p) < 0)
				return -1;
			continue;
		}
		if (p->t.kind == T_EOF)
			return fail(p, open, "'{' is never closed");
		if (p->t.kind != T_RBRACE)
			return expected(p, "'and', 'or', ',' or '}'");
	}
	if (next(p) < 0)
		return -1;
	return group(p, base, N_AND);
}

static int parse_rule(struct parser *p, long *root)
{
	if (next(p) < 0)
		return -1;
	size_t base = p->nstack;
	for (;;) {
		if (p->t.kind == T_SEMI) {
			if (next(p) < 0)
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

int ruleset_add(struct ruleset *rs, const char *text, size_t n, struct rule_error *err)
{
	if (n > RULE_MAX_LEN) {
		err->offset = RULE_MAX_LEN;
		snprintf(err->msg, sizeof err->msg, "rule longer than %zu bytes", RULE_MAX_LEN);
		return -1;
	}
	struct parser p = {.s = text, .n = n, .rs = rs, .err = err};
	size_t nnodes = rs->nnodes, nlits = rs->nlits, nkids = rs->nkids, nkeys = rs->nkeys,
	       nstrs = rs->strs.len;
	long root = -1;
	int rc = parse_rule(&p, &root);
	if (rc == 1 && grow((void **)&rs->roots, &rs->croots, rs->nroots, sizeof *rs->roots) < 0)
		rc = nomem(&p);
	if (rc == 1)
		rs->roots[rs->nroots++] = (uint32_t)root;
	if (rc <= 0) {
		rs->nnodes = nnodes;
		free_lits(rs, nlits);
		rs->nkids = nkids;
		rs->nkeys = nkeys;
		rs->strs.len = nstrs;
		rs->strs.err = 0;
	}
	free(p.stack);
	buf_free(&p.text);
	return rc;
}

/* ---- evaluation ---- */

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
		fetch(rs, nd->a, r, ev, &v);
		int m = 0;
		for (uint32_t i = 0; i < nd->n && !m && v.kv; i++)
			m = re_match(rs->lits[nd->b + i].re, &v, ev);
		return nd->kind == N_MATCH ? m : !m;
	}
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
