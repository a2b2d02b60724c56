/* The source map parser's JSON reader: straight from the reader's chunks
 * (nothing but the current chunk is held), with the parse's errors and its
 * memory bound. Strings use json.h's pieces (escapes, surrogates, UTF-8 and
 * the run finder); the rest of json.h wants its input in one piece. */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "hugemem.h"
#include "json.h"
#include "sourcemap_int.h"
#include "utf8.h"

bool smp_fail_at(struct parser *ps, unsigned long long at, const char *fmt, ...)
{
	if (ps->failed)
		return false;
	ps->failed = true;
	if (!ps->err)
		return false;
	/* The message keeps its "byte N: " lead, which people and tests read;
	 * the offset is in the struct as well. */
	struct rum_error *err = ps->err;
	err->offset = (size_t)at;
	err->line = err->column = 0;
	int n = snprintf(err->msg, sizeof err->msg, "byte %llu: ", at);
	if (n < 0 || (size_t)n >= sizeof err->msg)
		return false;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* Every array of a parse is sized here, within the memory bound. */
bool smp_resize(struct parser *ps, void **ptr, size_t *cap, size_t ncap, size_t elem)
{
	if (ncap > SIZE_MAX / elem)
		return fail(ps, "map too large");
	size_t delta = (ncap - *cap) * elem;
	if (ps->limit && (ps->mem + delta > ps->limit || ps->mem + delta < ps->mem))
		return fail(ps, "map needs more than the memory limit (%zu bytes)", ps->limit);
	void *n = realloc(*ptr, ncap * elem);
	if (!n)
		return fail(ps, "out of memory");
	hugemem_advise(n, ncap * elem);
	*ptr = n;
	*cap = ncap;
	ps->mem += delta;
	return true;
}

bool smp_grow(struct parser *ps, void **ptr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t ncap = *cap ? *cap : 16;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return fail(ps, "map too large");
		ncap *= 2;
	}
	return smp_resize(ps, ptr, cap, ncap, elem);
}

bool smp_sbuf_add(struct parser *ps, struct sbuf *s, const void *d, size_t n)
{
	if (n > SIZE_MAX - s->len - 1)
		return fail(ps, "map too large");
	if (!smp_grow(ps, (void **)&s->d, &s->cap, s->len + n + 1, 1))
		return false;
	memcpy(s->d + s->len, d, n);
	s->len += n;
	s->d[s->len] = 0;
	return true;
}

/* ---- input ---- */

bool smp_refill(struct parser *ps)
{
	if (ps->failed || ps->eof)
		return false;
	ps->base += (unsigned long long)(ps->end - ps->start);
	if (!ps->buf) {
		ps->start = ps->p = ps->end;
		ps->eof = true;
		return false;
	}
	ssize_t n = ps->read(ps->ctx, ps->buf, READ_CHUNK);
	ps->start = ps->p = ps->end = ps->buf;
	if (n < 0)
		return fail(ps, "read error");
	if (n == 0) {
		ps->eof = true;
		return false;
	}
	if ((size_t)n > READ_CHUNK)
		return fail(ps, "read error");
	ps->end = ps->buf + n;
	return true;
}

void smp_ws(struct parser *ps)
{
	for (;;) {
		while (ps->p < ps->end) {
			unsigned char c = *ps->p;
			if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
				return;
			ps->p++;
		}
		if (!smp_refill(ps))
			return;
	}
}

bool smp_unexpected(struct parser *ps, const char *what)
{
	int c = peek(ps);
	if (ps->failed)
		return false;
	if (c < 0)
		return fail(ps, "unexpected end of input, expected %s", what);
	if (c >= 0x20 && c < 0x7f)
		return fail(ps, "unexpected '%c', expected %s", c, what);
	return fail(ps, "unexpected byte 0x%02x, expected %s", c, what);
}

bool smp_expect(struct parser *ps, char c, const char *what)
{
	smp_ws(ps);
	if (peek(ps) != (unsigned char)c)
		return smp_unexpected(ps, what);
	ps->p++;
	return true;
}

bool smp_literal(struct parser *ps, const char *word)
{
	for (const char *w = word; *w; w++) {
		if (peek(ps) != (unsigned char)*w)
			return smp_unexpected(ps, word);
		ps->p++;
	}
	return true;
}

/* ---- JSON strings ---- */

static long hex4(struct parser *ps)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hex_digit(peek(ps));
		if (h < 0) {
			smp_unexpected(ps, "a hex digit in \\u escape");
			return -1;
		}
		ps->p++;
		v = v * 16 + h;
	}
	return v;
}

/* One escape after its backslash: a code point (a surrogate as is), or -1. */
long smp_escape1(struct parser *ps)
{
	int c = peek(ps);
	if (c < 0) {
		smp_unexpected(ps, "an escape");
		return -1;
	}
	if (c == 'u') {
		ps->p++;
		return hex4(ps);
	}
	int b = json_escape_byte(c);
	if (b < 0) {
		fail(ps, "bad escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
		return -1;
	}
	ps->p++;
	return b;
}

/* A code point appended to out while out is shorter than max. */
static bool put_cp(struct parser *ps, struct sbuf *out, size_t max, bool *truncated, long cp)
{
	if (!out)
		return true;
	if (out->len >= max) {
		if (truncated)
			*truncated = true;
		return true;
	}
	char u[4];
	return smp_sbuf_add(ps, out, u, (size_t)utf8_encode((uint32_t)cp, u));
}

/* The first byte from p that is a quote, a backslash or a control
 * character, or end: most of a map's bytes are in strings ("sourcesContent"
 * above all), so json.h's run finder, many bytes at a time. */
static const unsigned char *plain_end(const unsigned char *p, const unsigned char *end)
{
	return (const unsigned char *)json_plain_end((const char *)p, (const char *)end, 0);
}

/* A JSON string (p on the opening quote) appended to out (NULL: checked and
 * dropped) while out is shorter than max; *truncated says it did not fit. */
bool smp_string_to(struct parser *ps, struct sbuf *out, size_t max, bool *truncated)
{
	ps->p++;
	if (truncated)
		*truncated = false;
	/* A \u escape of a high surrogate waits here for a low one: the two
	 * are one code point, as JSON.parse pairs them. Unpaired, either is
	 * U+FFFD (UTF-8 cannot carry it): json.h's JSON_LONE_FFFD rule, which
	 * says why maps get it, here for a string read in chunks. */
	long high = -1;
	for (;;) {
		if (ps->p == ps->end && !smp_refill(ps))
			return ps->failed ? false : fail(ps, "unterminated string");
		const unsigned char *s = ps->p;
		ps->p = plain_end(ps->p, ps->end);
		size_t n = (size_t)(ps->p - s);
		if (n && high >= 0) {
			if (!put_cp(ps, out, max, truncated, UTF8_REPLACEMENT))
				return false;
			high = -1;
		}
		if (n && out) {
			if (out->len + n > max) {
				if (truncated)
					*truncated = true;
				n = out->len < max ? max - out->len : 0;
			}
			if (n && !smp_sbuf_add(ps, out, s, n))
				return false;
		}
		if (ps->p == ps->end)
			continue;
		unsigned char c = *ps->p;
		if (c == '"') {
			ps->p++;
			return high < 0 || put_cp(ps, out, max, truncated, UTF8_REPLACEMENT);
		}
		if (c < 0x20)
			return fail(ps, "control character 0x%02x in string", c);
		ps->p++;
		long u = smp_escape1(ps);
		if (u < 0)
			return false;
		if (utf16_low((uint32_t)u) && high >= 0) {
			u = (long)utf16_join((uint32_t)high, (uint32_t)u);
			high = -1;
		} else {
			if (high >= 0 && !put_cp(ps, out, max, truncated, UTF8_REPLACEMENT))
				return false;
			high = -1;
			if (utf16_high((uint32_t)u)) {
				high = u;
				continue;
			}
			if (utf16_low((uint32_t)u))
				u = UTF8_REPLACEMENT;
		}
		if (!put_cp(ps, out, max, truncated, u))
			return false;
	}
}

void smp_key_reset(struct parser *ps)
{
	ps->key.len = 0;
	if (ps->key.d)
		ps->key.d[0] = 0;
}

/* The member name just read is name: compared by length too, as an escaped
 * NUL makes "version\u0000" another name. */
bool smp_key_is(const struct parser *ps, const char *name)
{
	size_t n = strlen(name);
	return ps->key.d && ps->key.len == n && !memcmp(ps->key.d, name, n);
}

bool smp_skip_string(struct parser *ps)
{
	return smp_string_to(ps, NULL, 0, NULL);
}

/* ---- numbers ---- */

/* A JSON number's syntax checked; its text kept in num (NUL-terminated)
 * when it fits, else *toolong. */
static bool number(struct parser *ps, char num[MAX_NUMBER + 1], bool *toolong)
{
	size_t n = 0;
	*toolong = false;
	int state = 0; /* 0 start, 1 after '-', 2 leading 0, 3 int digits, 4 after
			  '.', 5 frac digits, 6 after e, 7 after e sign, 8 exp digits */
	for (;;) {
		int c = peek(ps);
		int next = -1;
		switch (state) {
		case 0:
			next = c == '-' ? 1 : c == '0' ? 2 : (c >= '1' && c <= '9') ? 3 : -1;
			break;
		case 1:
			next = c == '0' ? 2 : (c >= '1' && c <= '9') ? 3 : -1;
			break;
		case 2:
		case 3:
			if (state == 3 && c >= '0' && c <= '9')
				next = 3;
			else if (c == '.')
				next = 4;
			else if (c == 'e' || c == 'E')
				next = 6;
			else
				next = -2;
			break;
		case 4:
		case 5:
			if (c >= '0' && c <= '9')
				next = 5;
			else if (state == 5 && (c == 'e' || c == 'E'))
				next = 6;
			else
				next = state == 5 ? -2 : -1;
			break;
		case 6:
			next = (c == '+' || c == '-') ? 7 : (c >= '0' && c <= '9') ? 8 : -1;
			break;
		case 7:
		case 8:
			next = (c >= '0' && c <= '9') ? 8 : state == 8 ? -2 : -1;
			break;
		}
		if (next == -2)
			break;
		if (next == -1)
			return smp_unexpected(ps, "a digit");
		if (n < MAX_NUMBER)
			num[n++] = (char)c;
		else
			*toolong = true;
		ps->p++;
		state = next;
	}
	num[n] = 0;
	return true;
}

/* A JSON value that must be a non-negative integral Number below 2^32
 * (JSON.parse makes 3.0 and 3e0 the Number 3, so they are). 0: not a
 * number (nothing read), 1: fits, -1: failed. */
int smp_uint_value(struct parser *ps, const char *what, uint32_t *out)
{
	int c = peek(ps);
	if (c != '-' && !(c >= '0' && c <= '9'))
		return 0;
	unsigned long long at = pos(ps);
	char num[MAX_NUMBER + 1];
	bool toolong;
	if (!number(ps, num, &toolong))
		return -1;
	if (toolong)
		return smp_fail_at(ps, at, "%s: number too long", what), -1;
	char *e;
	double d = strtod(num, &e);
	if (d < 0 || d > (double)UINT32_MAX || d != (double)(uint32_t)d) {
		smp_fail_at(ps, at, "%s must be a non-negative integer below 2^32, not %s", what,
			    num);
		return -1;
	}
	*out = (uint32_t)d;
	return 1;
}

/* ---- any value, skipped ---- */

static bool skip_container(struct parser *ps, int depth, char close)
{
	if (depth > MAX_DEPTH)
		return fail(ps, "nesting deeper than %d", MAX_DEPTH);
	ps->p++;
	smp_ws(ps);
	if (peek(ps) == (unsigned char)close) {
		ps->p++;
		return true;
	}
	for (;;) {
		smp_ws(ps);
		if (close == '}') {
			if (peek(ps) != '"')
				return smp_unexpected(ps, "a member name");
			if (!smp_skip_string(ps) || !smp_expect(ps, ':', "':'"))
				return false;
		}
		if (!smp_skip_value(ps, depth + 1))
			return false;
		int more = smp_next_member(ps, close);
		if (more <= 0)
			return more == 0;
	}
}

bool smp_skip_value(struct parser *ps, int depth)
{
	smp_ws(ps);
	int c = peek(ps);
	char num[MAX_NUMBER + 1];
	bool toolong;
	switch (c) {
	case '{':
		return skip_container(ps, depth, '}');
	case '[':
		return skip_container(ps, depth, ']');
	case '"':
		return smp_skip_string(ps);
	case 't':
		return smp_literal(ps, "true");
	case 'f':
		return smp_literal(ps, "false");
	case 'n':
		return smp_literal(ps, "null");
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return number(ps, num, &toolong);
		return smp_unexpected(ps, "a value");
	}
}

/* The type of the value ahead, for "must be a ..." errors. */
const char *smp_type_ahead(struct parser *ps)
{
	smp_ws(ps);
	switch (peek(ps)) {
	case '{':
		return "an object";
	case '[':
		return "an array";
	case '"':
		return "a string";
	case 't':
	case 'f':
		return "a boolean";
	case 'n':
		return "null";
	default:
		return "a number";
	}
}

/* Iterate over an array: p on '['; calls item() for each element with p on
 * its first byte. */

bool smp_array(struct parser *ps, const char *member, item_fn item, void *arg)
{
	smp_ws(ps);
	if (peek(ps) != '[') {
		if (ps->failed)
			return false;
		return fail(ps, "\"%s\" must be an array, not %s", member, smp_type_ahead(ps));
	}
	ps->p++;
	smp_ws(ps);
	if (peek(ps) == ']') {
		ps->p++;
		return true;
	}
	for (size_t i = 0;; i++) {
		smp_ws(ps);
		if (!item(ps, arg, i))
			return false;
		int more = smp_next_member(ps, ']');
		if (more <= 0)
			return more == 0;
	}
}
