/* The lexer of rule text: tokens, strings with Go's escapes, numbers, and
 * the messages about text that is none of them. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "rules_int.h"
#include "utf8.h"

int parse_fail(struct parser *p, size_t at, const char *fmt, ...)
{
	if (p->failed)
		return -1;
	p->failed = 1;
	va_list ap;
	va_start(ap, fmt);
	char msg[sizeof p->err->msg];
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	err_at(p->err, at, "%s", msg);
	return -1;
}

int parse_nomem(struct parser *p)
{
	return parse_fail(p, p->t.start, "out of memory");
}

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

/* \xHH, \uHHHH or \UHHHHHHHH at s[i] (the backslash) into p->text: the
 * index after it, or 0 after parse_fail(). */
static size_t lex_hex_escape(struct parser *p, size_t i)
{
	const char *s = p->s;
	char e = s[i + 1];
	int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
	uint32_t v = 0;
	for (int d = 0; d < digits; d++) {
		int h = i + 2 + (size_t)d < p->n ? hex_digit((unsigned char)s[i + 2 + d]) : -1;
		if (h < 0) {
			parse_fail(p, i, "escape \\%c needs %d hexadecimal digits", e, digits);
			return 0;
		}
		v = v * 16 + (uint32_t)h;
	}
	if (e == 'x') {
		buf_addc(&p->text, (char)v);
	} else {
		if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) {
			parse_fail(p, i, "escape \\%c%.*s is not a Unicode character", e, digits,
				   s + i + 2);
			return 0;
		}
		char u[4];
		buf_add(&p->text, u, (size_t)utf8_encode(v, u));
	}
	return i + 2 + (size_t)digits;
}

/* \ooo (one to three octal digits) at s[i] into p->text: the index after
 * it, or 0 after parse_fail(). */
static size_t lex_octal_escape(struct parser *p, size_t i)
{
	const char *s = p->s;
	uint32_t v = 0;
	size_t j = i + 1;
	while (j < p->n && j < i + 4 && s[j] >= '0' && s[j] <= '7')
		v = v * 8 + (uint32_t)(s[j++] - '0');
	if (v > 255) {
		parse_fail(p, i, "octal escape \\%.*s is over \\377", (int)(j - i - 1), s + i + 1);
		return 0;
	}
	buf_addc(&p->text, (char)v);
	return j;
}

/* The escape at s[i] (a backslash with a byte after it) into p->text: the
 * index after it, or 0 after parse_fail(). */
static size_t lex_escape(struct parser *p, size_t i)
{
	static const char simple_in[] = "abfnrtv\\'\"`";
	static const char simple_out[] = "\a\b\f\n\r\t\v\\'\"`";
	char e = p->s[i + 1];
	const char *k = e ? strchr(simple_in, e) : NULL;
	if (k) {
		buf_addc(&p->text, simple_out[k - simple_in]);
		return i + 2;
	}
	if (e == 'x' || e == 'u' || e == 'U')
		return lex_hex_escape(p, i);
	if (e >= '0' && e <= '7')
		return lex_octal_escape(p, i);
	buf_add(&p->text, p->s + i, 2);
	return i + 2;
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
			return parse_fail(p, open, "unterminated string: no closing %c", q);
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
			return parse_fail(p, open, "unterminated string: no closing %c", q);
		if ((i = lex_escape(p, i)) == 0)
			return -1;
	}
	if (p->text.err)
		return parse_nomem(p);
	p->pos = i + 1;
	return 0;
}

/* 0x hexadecimal after an optional sign, at s[i] (the '0'). */
static size_t scan_hex(const char *s, size_t n, size_t i, struct num *out, int *range_err)
{
	i += 2;
	uint64_t v = 0;
	while (i < n && hex_digit((unsigned char)s[i]) >= 0) {
		if (v > (UINT64_MAX >> 4))
			*range_err = 1;
		v = (v << 4) | (uint64_t)hex_digit((unsigned char)s[i]);
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

/* The value of the decimal number s[0..n) (n <= NUM_TEXT_MAX): an int64
 * when it is an integer that fits, else a double like any JSON reader's. */
static void decimal_value(const char *s, size_t n, int is_int, struct num *out, int *range_err)
{
	char tmp[NUM_TEXT_MAX + 1];
	memcpy(tmp, s, n);
	tmp[n] = 0;
	errno = 0;
	if (is_int) {
		char *end;
		long long v = strtoll(tmp, &end, 10);
		if (errno == 0 && *end == 0) {
			out->is_int = 1;
			out->i = v;
			out->d = (double)v;
			return;
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
}

size_t scan_number(const char *s, size_t n, int allow_hex, struct num *out, int *range_err)
{
	size_t i = 0;
	*range_err = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if (allow_hex && i + 2 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') &&
	    hex_digit((unsigned char)s[i + 2]) >= 0)
		return scan_hex(s, n, i, out, range_err);
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
	decimal_value(s, i, is_int, out, range_err);
	return i;
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

/* Punctuation and operators of one or two characters: 1 with the token
 * made, 0 when c starts none, -1 after parse_fail(). */
static int lex_punct(struct parser *p, char c, char c2)
{
	static const char single[] = "{}()[],;=";
	static const enum tkind single_kind[] = {
	    T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN, T_LBRACKET, T_RBRACKET, T_COMMA, T_SEMI, T_EQ};
	struct tok *t = &p->t;
	size_t len = 1;
	const char *k = c ? strchr(single, c) : NULL;
	if (k) {
		t->kind = single_kind[k - single];
	} else if (c == '<' || c == '>') {
		len = c2 == '=' ? 2 : 1;
		t->kind = c == '<' ? (len == 2 ? T_LE : T_LT) : (len == 2 ? T_GE : T_GT);
	} else if (c == '!' || c == '&' || c == '|') {
		/* Only in pairs: "!=", "&&", "||". */
		char want = c == '!' ? '=' : c;
		if (c2 != want)
			return parse_fail(p, p->pos,
					  "unexpected character '%c' (did you mean '%c%c'?)", c, c,
					  want);
		t->kind = c == '!' ? T_NE : c == '&' ? T_AND : T_OR;
		len = 2;
	} else {
		return 0;
	}
	p->pos += len;
	t->end = p->pos;
	return 1;
}

/* `text`: any bytes but a backquote, as a T_IDENT marked quoted. DataKit
 * reads it as a name, or as a raw string in re(`...`); the parser says
 * which, and refuses an empty or NUL-holding one where it is a name. */
static int lex_quoted_name(struct parser *p)
{
	const char *s = p->s;
	const char *close = memchr(s + p->pos + 1, '`', p->n - p->pos - 1);
	if (!close)
		return parse_fail(p, p->pos, "unterminated quoted name: no closing `");
	size_t nl = (size_t)(close - (s + p->pos + 1));
	buf_reset(&p->text);
	if (buf_add(&p->text, s + p->pos + 1, nl) < 0)
		return parse_nomem(p);
	p->t.kind = T_IDENT;
	p->t.quoted = 1;
	p->pos += nl + 2;
	p->t.end = p->pos;
	return 0;
}

/* A number: it must end where a word would (no letter, digit, '_' or '.'
 * right after it) and fit. */
static int lex_number(struct parser *p)
{
	const char *s = p->s;
	struct tok *t = &p->t;
	int range_err;
	size_t nl = scan_number(s + p->pos, p->n - p->pos, 1, &t->num, &range_err);
	size_t end = p->pos + nl;
	char ex[48];
	if (nl == 0 || (end < p->n && (is_word(s[end]) || s[end] == '.'))) {
		size_t e = end;
		while (e < p->n && (is_word(s[e]) || s[e] == '.'))
			e++;
		excerpt(ex, 32 + 4, s + p->pos, e - p->pos);
		return parse_fail(p, p->pos, "bad number '%s'", ex);
	}
	if (range_err) {
		excerpt(ex, 32 + 4, s + p->pos, nl);
		return parse_fail(p, p->pos, "number '%s' is out of range", ex);
	}
	t->kind = T_NUMBER;
	p->pos = end;
	t->end = end;
	return 0;
}

/* A word: a keyword (in any case) or else a name. */
static int lex_word(struct parser *p)
{
	const char *s = p->s;
	struct tok *t = &p->t;
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
		return parse_nomem(p);
	p->pos = e;
	t->end = e;
	return 0;
}

/* What a byte that starts no token is called in the message. */
static int lex_unexpected(struct parser *p)
{
	const char *s = p->s;
	char c = s[p->pos];
	if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
		return parse_fail(p, p->pos, "unexpected character '%c'", c);
	size_t k = (size_t)utf8_seq_len(s + p->pos, s + p->n);
	if (k > 1)
		return parse_fail(p, p->pos,
				  "unexpected character '%.*s' (a name of other characters is "
				  "written in backquotes)",
				  (int)k, s + p->pos);
	return parse_fail(p, p->pos, "unexpected byte 0x%02x", (unsigned char)c);
}

int lex_next(struct parser *p)
{
	skip_space(p);
	struct tok *t = &p->t;
	t->start = p->pos;
	t->quoted = 0;
	if (p->pos >= p->n) {
		t->kind = T_EOF;
		t->end = p->pos;
		return 0;
	}
	char c = p->s[p->pos];
	char c2 = p->pos + 1 < p->n ? p->s[p->pos + 1] : 0;
	int r = lex_punct(p, c, c2);
	if (r != 0)
		return r < 0 ? -1 : 0;
	if (c == '\'' || c == '"') {
		if (lex_string(p) < 0)
			return -1;
		t->kind = T_STRING;
		t->end = p->pos;
		return 0;
	}
	if (c == '`')
		return lex_quoted_name(p);
	if ((c >= '0' && c <= '9') || ((c == '.' || c == '+' || c == '-') && c2 &&
				       ((c2 >= '0' && c2 <= '9') || (c2 == '.' && c != '.'))))
		return lex_number(p);
	if (is_word_start((unsigned char)c))
		return lex_word(p);
	return lex_unexpected(p);
}
