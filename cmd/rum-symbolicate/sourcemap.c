/* Source map v3 (ECMA-426) parser and lookup.
 *
 * One pass over the JSON, straight from the reader's chunks: nothing but the
 * current chunk of the text is held. "mappings" is decoded byte by byte into
 * an array of fixed-size segments, line by line, so a lookup is one binary
 * search in one line; "sourcesContent" is checked and dropped. Members can
 * come in any order, so checks that need another member ("mappings" before
 * "sources") are made when the object ends, from the largest index seen and
 * where it was seen.
 *
 * Index maps are flattened: each section's map (an index map itself, maybe)
 * is decoded on its own, then appended with its offset to one segment
 * array, which stays sorted because the sections must be in order and must
 * not overlap (checked as the spec's DecodeIndexSourceMap does). Every "optionally report an error"
 * of the spec is reported: a map we keep must be one every consumer reads the same way. */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "hex.h"
#include "hugemem.h"
#include "json.h"
#include "sourcemap.h"
#include "utf8.h"

#define NONE UINT32_MAX
#define NOSTR SIZE_MAX
#define READ_CHUNK (64 * 1024)
/* Maps nest only sections → map → offset; the rest is unknown members we
 * skip, which may nest but never need to deeply. */
#define MAX_DEPTH 512
/* A JSON number longer than this is refused where its value matters (a
 * version, an offset, an ignoreList index); elsewhere only its syntax. */
#define MAX_NUMBER 64
/* Index maps within index maps, at most. */
#define MAX_NEST 32
/* Keys longer than this are no member we know; only a prefix is kept. */
#define MAX_KEY 32

/* A segment is its generated column (in gcols, searched alone so the
 * binary search touches 4 bytes a step) and where it points (in origs, at
 * the same index, packed: see pack()). */
struct orig {
	uint32_t src; /* NONE: a 1-field segment */
	uint32_t oline;
	uint32_t ocol;
	uint32_t name; /* NONE: no name */
};

struct seg {
	uint32_t gcol;
	struct orig o;
};

struct sbuf {
	char *d;
	size_t len, cap;
};

/* Decoded contents of one map (a section's map while it is parsed, the
 * whole flattened map at the end). */
struct body {
	uint32_t *gcols;
	uint64_t *origs;
	size_t nsegs, gcolcap, origcap;
	struct orig *wide; /* segments whose fields do not fit in 8 bytes */
	size_t nwide, widecap;
	uint32_t *lines; /* index of each line's first segment */
	size_t nlines, linecap;
	size_t *srcs; /* offsets into str; NOSTR for a null source */
	size_t nsrcs, srccap;
	size_t *names;
	size_t nnames, namecap;
	struct sbuf str;
	size_t file; /* offset into str, or NOSTR */
};

/* Where a segment points, in 8 bytes when its fields are small enough (a
 * source index below 4096, a name index below 2^18 - 1, an original line
 * below 2^20, an original column below 4096: nearly all segments), else an
 * index into the body's wide array. 12 bytes a segment with its column
 * instead of 20: more maps in the cache, fewer pages to touch. */
#define P_TAG_SHIFT 62
#define P_NOSOURCE (1ull << P_TAG_SHIFT)
#define P_WIDE (2ull << P_TAG_SHIFT)
#define P_SRC_BITS 12
#define P_NAME_BITS 18
#define P_LINE_BITS 20
#define P_COL_BITS 12
#define P_MASK(bits) ((1ull << (bits)) - 1)

static struct orig unpack(const struct body *b, uint64_t p)
{
	struct orig o;
	if (p & P_NOSOURCE) {
		o.src = o.name = NONE;
		o.oline = o.ocol = 0;
		return o;
	}
	if (p & P_WIDE)
		return b->wide[p & P_MASK(P_TAG_SHIFT)];
	o.src = (uint32_t)(p & P_MASK(P_SRC_BITS));
	p >>= P_SRC_BITS;
	o.name = (uint32_t)(p & P_MASK(P_NAME_BITS)) - 1; /* 0: none */
	p >>= P_NAME_BITS;
	o.oline = (uint32_t)(p & P_MASK(P_LINE_BITS));
	o.ocol = (uint32_t)(p >> P_LINE_BITS);
	return o;
}

/* Every BLOCK-th generated column again, apart: a lookup in a long line
 * (a minified bundle is a few lines of many thousand segments each) first
 * finds its block among these, which stay in cache, then searches the
 * block's 256 bytes, instead of touching a cache line far away at each of
 * twenty steps. */
#define BLOCK 64

struct sourcemap {
	struct body b;
	uint32_t *blocks; /* blocks[j] = b.gcols[j * BLOCK] */
	size_t mem;
};

struct parser {
	sm_read_fn read;
	void *ctx;
	const unsigned char *p, *end, *start;
	unsigned char *buf;	 /* NULL for input in memory */
	unsigned long long base; /* stream offset of *start */
	bool eof;
	bool failed;
	size_t mem, limit;
	char *err;
	size_t errlen;
	struct sbuf key;
};

/* Base64 digit values; -1 for anything else. A constant, so that maps can
 * be parsed in several threads at once. */
/* clang-format off */
static const signed char b64[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
/* clang-format on */

static unsigned long long pos(const struct parser *ps)
{
	return ps->base + (unsigned long long)(ps->p - ps->start);
}

static bool fail_at(struct parser *ps, unsigned long long at, const char *fmt, ...)
{
	if (ps->failed)
		return false;
	ps->failed = true;
	if (!ps->err || !ps->errlen)
		return false;
	int n = snprintf(ps->err, ps->errlen, "byte %llu: ", at);
	if (n < 0 || (size_t)n >= ps->errlen)
		return false;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

#define fail(ps, ...) fail_at((ps), pos(ps), __VA_ARGS__)

/* Every array of a parse is sized here, within the memory bound. */
static bool resize(struct parser *ps, void **ptr, size_t *cap, size_t ncap, size_t elem)
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

static bool grow(struct parser *ps, void **ptr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t ncap = *cap ? *cap : 16;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return fail(ps, "map too large");
		ncap *= 2;
	}
	return resize(ps, ptr, cap, ncap, elem);
}

static bool sbuf_add(struct parser *ps, struct sbuf *s, const void *d, size_t n)
{
	if (n > SIZE_MAX - s->len - 1)
		return fail(ps, "map too large");
	if (!grow(ps, (void **)&s->d, &s->cap, s->len + n + 1, 1))
		return false;
	memcpy(s->d + s->len, d, n);
	s->len += n;
	s->d[s->len] = 0;
	return true;
}

/* o packed into b->origs[at] (room for it made by the caller). */
static bool put_orig(struct parser *ps, struct body *b, size_t at, struct orig o)
{
	if (o.src == NONE) {
		b->origs[at] = P_NOSOURCE;
		return true;
	}
	uint64_t name = o.name == NONE ? 0 : (uint64_t)o.name + 1;
	if (o.src <= P_MASK(P_SRC_BITS) && name <= P_MASK(P_NAME_BITS) &&
	    o.oline <= P_MASK(P_LINE_BITS) && o.ocol <= P_MASK(P_COL_BITS)) {
		b->origs[at] = o.src | name << P_SRC_BITS |
			       (uint64_t)o.oline << (P_SRC_BITS + P_NAME_BITS) |
			       (uint64_t)o.ocol << (P_SRC_BITS + P_NAME_BITS + P_LINE_BITS);
		return true;
	}
	if (!grow(ps, (void **)&b->wide, &b->widecap, b->nwide + 1, sizeof *b->wide))
		return false;
	b->wide[b->nwide] = o;
	b->origs[at] = P_WIDE | b->nwide++;
	return true;
}

static void body_free(struct parser *ps, struct body *b)
{
	if (ps)
		ps->mem -= b->gcolcap * sizeof *b->gcols + b->origcap * sizeof *b->origs +
			   b->widecap * sizeof *b->wide + b->linecap * sizeof *b->lines +
			   b->srccap * sizeof *b->srcs + b->namecap * sizeof *b->names + b->str.cap;
	free(b->gcols);
	free(b->origs);
	free(b->wide);
	free(b->lines);
	free(b->srcs);
	free(b->names);
	free(b->str.d);
	memset(b, 0, sizeof *b);
	b->file = NOSTR;
}

/* ---- input ---- */

static bool refill(struct parser *ps)
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

/* The next byte without taking it, -1 at the end (or after a failure). */
static inline int peek(struct parser *ps)
{
	if (ps->p == ps->end && !refill(ps))
		return -1;
	return *ps->p;
}

static void ws(struct parser *ps)
{
	for (;;) {
		while (ps->p < ps->end) {
			unsigned char c = *ps->p;
			if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
				return;
			ps->p++;
		}
		if (!refill(ps))
			return;
	}
}

static bool unexpected(struct parser *ps, const char *what)
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

static bool expect(struct parser *ps, char c, const char *what)
{
	ws(ps);
	if (peek(ps) != (unsigned char)c)
		return unexpected(ps, what);
	ps->p++;
	return true;
}

static bool literal(struct parser *ps, const char *word)
{
	for (const char *w = word; *w; w++) {
		if (peek(ps) != (unsigned char)*w)
			return unexpected(ps, word);
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
			unexpected(ps, "a hex digit in \\u escape");
			return -1;
		}
		ps->p++;
		v = v * 16 + h;
	}
	return v;
}

/* One escape after its backslash: a code point (a surrogate as is), or -1. */
static long escape1(struct parser *ps)
{
	int c = peek(ps);
	if (c < 0) {
		unexpected(ps, "an escape");
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
	return sbuf_add(ps, out, u, (size_t)utf8_encode((uint32_t)cp, u));
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
static bool string_to(struct parser *ps, struct sbuf *out, size_t max, bool *truncated)
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
		if (ps->p == ps->end && !refill(ps))
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
			if (n && !sbuf_add(ps, out, s, n))
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
		long u = escape1(ps);
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

static void key_reset(struct parser *ps)
{
	ps->key.len = 0;
	if (ps->key.d)
		ps->key.d[0] = 0;
}

/* The member name just read is name: compared by length too, as an escaped
 * NUL makes "version\u0000" another name. */
static bool key_is(const struct parser *ps, const char *name)
{
	size_t n = strlen(name);
	return ps->key.d && ps->key.len == n && !memcmp(ps->key.d, name, n);
}

static bool skip_string(struct parser *ps)
{
	return string_to(ps, NULL, 0, NULL);
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
			return unexpected(ps, "a digit");
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
static int uint_value(struct parser *ps, const char *what, uint32_t *out)
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
		return fail_at(ps, at, "%s: number too long", what), -1;
	char *e;
	double d = strtod(num, &e);
	if (d < 0 || d > (double)UINT32_MAX || d != (double)(uint32_t)d) {
		fail_at(ps, at, "%s must be a non-negative integer below 2^32, not %s", what, num);
		return -1;
	}
	*out = (uint32_t)d;
	return 1;
}

/* ---- any value, skipped ---- */

static bool skip_value(struct parser *ps, int depth);

static bool skip_container(struct parser *ps, int depth, char close)
{
	if (depth > MAX_DEPTH)
		return fail(ps, "nesting deeper than %d", MAX_DEPTH);
	ps->p++;
	ws(ps);
	if (peek(ps) == (unsigned char)close) {
		ps->p++;
		return true;
	}
	for (;;) {
		ws(ps);
		if (close == '}') {
			if (peek(ps) != '"')
				return unexpected(ps, "a member name");
			if (!skip_string(ps) || !expect(ps, ':', "':'"))
				return false;
		}
		if (!skip_value(ps, depth + 1))
			return false;
		ws(ps);
		int c = peek(ps);
		if (c == ',') {
			ps->p++;
			continue;
		}
		if (c == (unsigned char)close) {
			ps->p++;
			return true;
		}
		return unexpected(ps, close == '}' ? "',' or '}'" : "',' or ']'");
	}
}

static bool skip_value(struct parser *ps, int depth)
{
	ws(ps);
	int c = peek(ps);
	char num[MAX_NUMBER + 1];
	bool toolong;
	switch (c) {
	case '{':
		return skip_container(ps, depth, '}');
	case '[':
		return skip_container(ps, depth, ']');
	case '"':
		return skip_string(ps);
	case 't':
		return literal(ps, "true");
	case 'f':
		return literal(ps, "false");
	case 'n':
		return literal(ps, "null");
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return number(ps, num, &toolong);
		return unexpected(ps, "a value");
	}
}

/* The type of the value ahead, for "must be a ..." errors. */
static const char *type_ahead(struct parser *ps)
{
	ws(ps);
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
typedef bool (*item_fn)(struct parser *ps, void *arg, size_t index);

static bool array(struct parser *ps, const char *member, item_fn item, void *arg)
{
	ws(ps);
	if (peek(ps) != '[') {
		if (ps->failed)
			return false;
		return fail(ps, "\"%s\" must be an array, not %s", member, type_ahead(ps));
	}
	ps->p++;
	ws(ps);
	if (peek(ps) == ']') {
		ps->p++;
		return true;
	}
	for (size_t i = 0;; i++) {
		ws(ps);
		if (!item(ps, arg, i))
			return false;
		ws(ps);
		int c = peek(ps);
		if (c == ',') {
			ps->p++;
			continue;
		}
		if (c == ']') {
			ps->p++;
			return true;
		}
		return unexpected(ps, "',' or ']'");
	}
}

/* ---- mappings ---- */

/* Where a source or name index too large for its list was first seen:
 * known only when the object ends, as "sources" may follow "mappings". */
struct refs {
	long long maxsrc, maxname; /* -1: none */
	unsigned long long srcat, nameat;
};

struct decoder {
	struct parser *ps;
	struct body *b;
	struct refs *refs;
	long long gcol, src, oline, ocol, name;
	long long f[5];
	int nf;
	unsigned long long acc;
	unsigned shift;
	bool in_vlq;
	bool after_comma;
	bool unsorted;
	size_t line_first;
	uint32_t lastcol;
	unsigned long long seg_at; /* where the current segment starts */
};

static bool push_line(struct decoder *d)
{
	struct body *b = d->b;
	if (b->nlines >= UINT32_MAX)
		return fail(d->ps, "more than 2^32 generated lines");
	if (!grow(d->ps, (void **)&b->lines, &b->linecap, b->nlines + 1, sizeof *b->lines))
		return false;
	b->lines[b->nlines++] = (uint32_t)b->nsegs;
	d->line_first = b->nsegs;
	d->unsorted = false;
	d->lastcol = 0;
	return true;
}

/* Stable sort of one line's segments by generated column (a generator may
 * write them out of order; equal columns keep their order, as trace-mapping's
 * sort does). */
struct sortseg {
	uint32_t gcol;
	uint64_t p;
};

static bool sort_line(struct parser *ps, uint32_t *gcols, uint64_t *origs, size_t n)
{
	if (n < 2)
		return true;
	size_t cap = 0, tcap = 0;
	struct sortseg *s = NULL, *tmp = NULL;
	if (!grow(ps, (void **)&s, &cap, n, sizeof *s) ||
	    !grow(ps, (void **)&tmp, &tcap, n, sizeof *tmp)) {
		free(s);
		ps->mem -= cap * sizeof *s;
		return false;
	}
	for (size_t i = 0; i < n; i++)
		s[i] = (struct sortseg){gcols[i], origs[i]};
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n - w; lo += 2 * w) {
			size_t mid = lo + w, hi = mid + w < n ? mid + w : n;
			size_t i = lo, j = mid, k = 0;
			while (i < mid && j < hi)
				tmp[k++] = s[j].gcol < s[i].gcol ? s[j++] : s[i++];
			while (i < mid)
				tmp[k++] = s[i++];
			while (j < hi)
				tmp[k++] = s[j++];
			memcpy(s + lo, tmp, k * sizeof *tmp);
		}
	}
	for (size_t i = 0; i < n; i++) {
		gcols[i] = s[i].gcol;
		origs[i] = s[i].p;
	}
	free(s);
	free(tmp);
	ps->mem -= (cap + tcap) * sizeof *s;
	return true;
}

static bool end_line(struct decoder *d)
{
	if (d->unsorted)
		return sort_line(d->ps, d->b->gcols + d->line_first, d->b->origs + d->line_first,
				 d->b->nsegs - d->line_first);
	return true;
}

static bool field_range(struct decoder *d, long long v, const char *what, unsigned long long at)
{
	if (v < 0)
		return fail_at(d->ps, at, "%s is negative (%lld)", what, v);
	if (v > (long long)UINT32_MAX - 1)
		return fail_at(d->ps, at, "%s exceeds 32 bits (%lld)", what, v);
	return true;
}

static inline bool emit(struct decoder *d, unsigned long long at)
{
	struct seg s;
	if (d->nf == 2 || d->nf == 3)
		return fail_at(d->ps, at, "segment with %d fields (1, 4 or 5 expected)", d->nf);
	d->gcol += d->f[0];
	if (!field_range(d, d->gcol, "generated column", at))
		return false;
	s.gcol = (uint32_t)d->gcol;
	s.o.src = s.o.name = NONE;
	s.o.oline = s.o.ocol = 0;
	if (d->nf >= 4) {
		d->src += d->f[1];
		d->oline += d->f[2];
		d->ocol += d->f[3];
		if (!field_range(d, d->src, "source index", at) ||
		    !field_range(d, d->oline, "original line", at) ||
		    !field_range(d, d->ocol, "original column", at))
			return false;
		s.o.src = (uint32_t)d->src;
		s.o.oline = (uint32_t)d->oline;
		s.o.ocol = (uint32_t)d->ocol;
		if (d->src > d->refs->maxsrc) {
			d->refs->maxsrc = d->src;
			d->refs->srcat = at;
		}
		if (d->nf == 5) {
			d->name += d->f[4];
			if (!field_range(d, d->name, "name index", at))
				return false;
			s.o.name = (uint32_t)d->name;
			if (d->name > d->refs->maxname) {
				d->refs->maxname = d->name;
				d->refs->nameat = at;
			}
		}
	}
	struct body *b = d->b;
	if (b->nsegs >= UINT32_MAX)
		return fail_at(d->ps, at, "more than 2^32 segments");
	if (b->nsegs == b->gcolcap &&
	    !grow(d->ps, (void **)&b->gcols, &b->gcolcap, b->nsegs + 1, sizeof *b->gcols))
		return false;
	if (b->nsegs == b->origcap &&
	    !grow(d->ps, (void **)&b->origs, &b->origcap, b->nsegs + 1, sizeof *b->origs))
		return false;
	if (s.gcol < d->lastcol)
		d->unsorted = true;
	d->lastcol = s.gcol;
	if (!put_orig(d->ps, b, b->nsegs, s.o))
		return false;
	b->gcols[b->nsegs++] = s.gcol;
	d->nf = 0;
	return true;
}

static bool vlq_digit(struct decoder *d, int v, unsigned long long at)
{
	if (d->shift <= 32) {
		d->acc |= (unsigned long long)(v & 31) << d->shift;
		if (d->acc > UINT32_MAX)
			return fail_at(d->ps, at, "VLQ value exceeds 32 bits");
	} else if (v & 31) {
		return fail_at(d->ps, at, "VLQ value exceeds 32 bits");
	}
	if (v & 32) {
		d->in_vlq = true;
		if (d->shift <= 32)
			d->shift += 5;
		return true;
	}
	if (d->nf == 5)
		return fail_at(d->ps, at, "segment with more than 5 fields");
	long long val = (long long)(d->acc >> 1);
	if (d->acc & 1)
		val = val ? -val : -2147483648LL;
	d->f[d->nf++] = val;
	d->acc = 0;
	d->shift = 0;
	d->in_vlq = false;
	return true;
}

/* ',' ';' or the end of the string (c == '"'). */
static bool separator(struct decoder *d, int c, unsigned long long at)
{
	if (d->in_vlq)
		return fail_at(d->ps, at, "VLQ ends with a continuation digit");
	if (d->nf) {
		if (!emit(d, d->seg_at))
			return false;
	} else if (c == ',' || d->after_comma) {
		return fail_at(d->ps, at, "empty segment");
	}
	d->after_comma = c == ',';
	d->seg_at = at + 1;
	if (c == ',')
		return true;
	if (!end_line(d))
		return false;
	d->gcol = 0;
	return c == '"' || push_line(d);
}

static bool other_char(struct decoder *d, int c, unsigned long long at)
{
	int v = c < 256 ? b64[c] : -1;
	if (v >= 0)
		return vlq_digit(d, v, at);
	if (c == ',' || c == ';')
		return separator(d, c, at);
	if (c == '=')
		return fail_at(d->ps, at, "'=' in mappings (base64 padding is not allowed)");
	if (c >= 0x20 && c < 0x7f)
		return fail_at(d->ps, at, "'%c' in mappings is not a base64 digit or separator", c);
	return fail_at(d->ps, at, "character U+%04X in mappings", (unsigned)c);
}

/* One segment from *pp when it is whole in [*pp, end) and valid: its
 * fields decoded, the decoder's running values it leads to in st (gcol,
 * src, oline, ocol, name), and *pp on the separator after it. Anything else
 * (including VLQs of more than 6 digits) is left to the byte-by-byte path:
 * false, nothing changed. */
static inline bool fast_segment(const struct decoder *d, const unsigned char **pp,
				const unsigned char *end, struct seg *sg, long long st[5])
{
	const unsigned char *p = *pp;
	long long f[5];
	int nf = 0;
	/* Five fields of at most six digits and what follows them fit in 32
	 * bytes: with that many left, no check for the end is needed. */
	if (end - p < 32)
		return false;
	for (;;) {
		int v = b64[*p++];
		uint32_t acc;
		if ((unsigned)v < 32) {
			acc = (uint32_t)v; /* one digit: most fields */
		} else {
			if (v < 0)
				return false;
			acc = (uint32_t)v & 31;
			unsigned shift = 5;
			do {
				v = b64[*p++];
				if (v < 0 || shift > 25)
					return false;
				acc |= (uint32_t)(v & 31) << shift;
				shift += 5;
			} while (v & 32);
		}
		long long val = acc >> 1;
		f[nf++] = (acc & 1) ? (val ? -val : -2147483648LL) : val;
		if (b64[*p] < 0)
			break;
		if (nf == 5)
			return false;
	}
	if ((*p != ',' && *p != ';' && *p != '"') || nf == 2 || nf == 3)
		return false;
	const long long max = (long long)UINT32_MAX - 1;
	st[0] = d->gcol + f[0];
	st[1] = d->src;
	st[2] = d->oline;
	st[3] = d->ocol;
	st[4] = d->name;
	if (st[0] < 0 || st[0] > max)
		return false;
	sg->gcol = (uint32_t)st[0];
	sg->o.src = sg->o.name = NONE;
	sg->o.oline = sg->o.ocol = 0;
	if (nf >= 4) {
		st[1] += f[1];
		st[2] += f[2];
		st[3] += f[3];
		if (st[1] < 0 || st[1] > max || st[2] < 0 || st[2] > max || st[3] < 0 ||
		    st[3] > max)
			return false;
		sg->o.src = (uint32_t)st[1];
		sg->o.oline = (uint32_t)st[2];
		sg->o.ocol = (uint32_t)st[3];
		if (nf == 5) {
			st[4] += f[4];
			if (st[4] < 0 || st[4] > max)
				return false;
			sg->o.name = (uint32_t)st[4];
		}
	}
	*pp = p;
	return true;
}

/* The segments in the mappings string at p (bytes that follow a ',' or a
 * ';' or start it, and are neither), when all of it is at hand and it has
 * no escapes; 0 when not known. Counted as they are, not as lines and
 * commas: a map of empty lines reserves nothing. */
static size_t count_segments(const unsigned char *p, const unsigned char *end)
{
	size_t n = 0;
	unsigned after_sep = 1; /* the byte before p was a separator */
#if defined(__SSE2__)
	const __m128i quote = _mm_set1_epi8('"'), bsl = _mm_set1_epi8('\\');
	const __m128i comma = _mm_set1_epi8(','), semi = _mm_set1_epi8(';');
	for (; end - p >= 16; p += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned stop = (unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bsl)));
		if (stop)
			break; /* the end is in these 16: byte by byte below */
		unsigned sep = (unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, semi)));
		unsigned starts = ~sep & ((sep << 1) | after_sep) & 0xffffu;
		n += (size_t)__builtin_popcount(starts);
		after_sep = sep >> 15;
	}
#endif
	for (; p < end; p++) {
		if (*p == '"')
			return n;
		if (*p == '\\')
			return 0;
		unsigned sep = *p == ',' || *p == ';';
		n += !sep && after_sep;
		after_sep = sep;
	}
	return 0;
}

/* "mappings", p on its opening quote, decoded into d->b. */
static bool mappings(struct parser *ps, struct body *b, struct refs *refs)
{
	struct decoder d = {.ps = ps, .b = b, .refs = refs};
	ps->p++;
	d.seg_at = pos(ps);
	/* Sized once when the count is at hand: grown by doubling, the two
	 * largest arrays were copied and faulted in page by page again at
	 * every step (a tenth of loading a 13 MiB map). */
	size_t most = count_segments(ps->p, ps->end);
	if (most && most < UINT32_MAX) {
		size_t want = b->nsegs + most;
		if (want > b->gcolcap &&
		    !resize(ps, (void **)&b->gcols, &b->gcolcap, want, sizeof *b->gcols))
			return false;
		if (want > b->origcap &&
		    !resize(ps, (void **)&b->origs, &b->origcap, want, sizeof *b->origs))
			return false;
	}
	if (!push_line(&d))
		return false;
	for (;;) {
		if (ps->p == ps->end && !refill(ps))
			return ps->failed ? false : fail(ps, "unterminated mappings string");
		/* Whole segments decoded here while they are ordinary; the
		 * rest (a segment split between chunks, escapes, anything
		 * wrong) byte by byte below, which also says what is wrong. */
		const unsigned char *p = ps->p, *end = ps->end;
		while (d.nf == 0 && !d.in_vlq) {
			const unsigned char *q = p;
			struct seg sg;
			long long st[5];
			if (!fast_segment(&d, &q, end, &sg, st))
				break;
			struct body *bb = d.b;
			if (bb->nsegs >= UINT32_MAX - 1 ||
			    (bb->nsegs == bb->gcolcap &&
			     !grow(ps, (void **)&bb->gcols, &bb->gcolcap, bb->nsegs + 1,
				   sizeof *bb->gcols)) ||
			    (bb->nsegs == bb->origcap &&
			     !grow(ps, (void **)&bb->origs, &bb->origcap, bb->nsegs + 1,
				   sizeof *bb->origs)))
				break; /* the slow path says why */
			d.gcol = st[0];
			d.src = st[1];
			d.oline = st[2];
			d.ocol = st[3];
			d.name = st[4];
			if (sg.o.src != NONE && d.src > refs->maxsrc) {
				refs->maxsrc = d.src;
				refs->srcat = d.seg_at;
			}
			if (sg.o.name != NONE && d.name > refs->maxname) {
				refs->maxname = d.name;
				refs->nameat = d.seg_at;
			}
			if (sg.gcol < d.lastcol)
				d.unsorted = true;
			d.lastcol = sg.gcol;
			if (!put_orig(ps, bb, bb->nsegs, sg.o))
				return false;
			bb->gcols[bb->nsegs++] = sg.gcol;
			d.after_comma = false;
			p = q;
			if (*p != ',')
				break;
			d.after_comma = true;
			d.seg_at = ps->base + (unsigned long long)(p - ps->start) + 1;
			p++;
		}
		ps->p = p;
		if (p == end)
			continue;
		int c = *p;
		unsigned long long at = pos(ps);
		ps->p++;
		if (c == '"')
			return separator(&d, c, at);
		if (c == '\\') {
			/* "\/" is how some JSON writers put '/'. */
			long cp = escape1(ps);
			if (cp < 0 || !other_char(&d, (int)cp, at))
				return false;
			continue;
		}
		if (c < 0x20)
			return fail_at(ps, at, "control character 0x%02x in string", c);
		if (!other_char(&d, c, at))
			return false;
	}
}

/* ---- the map object ---- */

enum member {
	M_VERSION = 1 << 0,
	M_FILE = 1 << 1,
	M_SOURCEROOT = 1 << 2,
	M_SOURCES = 1 << 3,
	M_SOURCESCONTENT = 1 << 4,
	M_NAMES = 1 << 5,
	M_MAPPINGS = 1 << 6,
	M_IGNORELIST = 1 << 7,
	M_SECTIONS = 1 << 8,
};

static const struct {
	const char *name;
	enum member m;
} members[] = {
    {"version", M_VERSION},
    {"file", M_FILE},
    {"sourceRoot", M_SOURCEROOT},
    {"sources", M_SOURCES},
    {"sourcesContent", M_SOURCESCONTENT},
    {"names", M_NAMES},
    {"mappings", M_MAPPINGS},
    {"ignoreList", M_IGNORELIST},
    {"sections", M_SECTIONS},
};

/* An index map being flattened. */
struct flat {
	struct body *out;
	bool have_prev;
	uint32_t prev_line, prev_col; /* previous section's offset */
	bool have_last;
	uint32_t last_line, last_col; /* last mapping so far */
};

struct map_state {
	struct body *b;
	struct refs refs;
	struct sbuf root;
	bool has_root;
	long long maxignore;
	unsigned long long ignoreat;
	struct flat flat;
	unsigned long long mappings_at, sections_at;
	int depth;
};

static bool parse_map(struct parser *ps, struct body *b, int nest, int depth);

static bool source_item(struct parser *ps, void *arg, size_t i)
{
	struct body *b = arg;
	if (!grow(ps, (void **)&b->srcs, &b->srccap, b->nsrcs + 1, sizeof *b->srcs))
		return false;
	int c = peek(ps);
	if (c == 'n') {
		b->srcs[b->nsrcs++] = NOSTR;
		return literal(ps, "null");
	}
	if (c != '"')
		return ps->failed ? false
				  : fail(ps, "sources[%zu] must be a string or null, not %s", i,
					 type_ahead(ps));
	size_t off = b->str.len;
	if (!string_to(ps, &b->str, SIZE_MAX, NULL) || !sbuf_add(ps, &b->str, "", 0))
		return false;
	b->str.len++; /* keep the NUL */
	b->srcs[b->nsrcs++] = off;
	return true;
}

static bool name_item(struct parser *ps, void *arg, size_t i)
{
	struct body *b = arg;
	if (peek(ps) != '"')
		return ps->failed
			   ? false
			   : fail(ps, "names[%zu] must be a string, not %s", i, type_ahead(ps));
	if (!grow(ps, (void **)&b->names, &b->namecap, b->nnames + 1, sizeof *b->names))
		return false;
	size_t off = b->str.len;
	if (!string_to(ps, &b->str, SIZE_MAX, NULL) || !sbuf_add(ps, &b->str, "", 0))
		return false;
	b->str.len++;
	b->names[b->nnames++] = off;
	return true;
}

static bool content_item(struct parser *ps, void *arg, size_t i)
{
	(void)arg;
	int c = peek(ps);
	if (c == 'n')
		return literal(ps, "null");
	if (c == '"')
		return skip_string(ps);
	return ps->failed ? false
			  : fail(ps, "sourcesContent[%zu] must be a string or null, not %s", i,
				 type_ahead(ps));
}

static bool ignore_item(struct parser *ps, void *arg, size_t i)
{
	struct map_state *m = arg;
	if (peek(ps) == 'n')
		return literal(ps, "null");
	unsigned long long at = pos(ps);
	char what[48];
	snprintf(what, sizeof what, "ignoreList[%zu]", i);
	uint32_t v;
	int r = uint_value(ps, what, &v);
	if (r < 0)
		return false;
	if (r == 0)
		return fail(ps, "%s must be a number, not %s", what, type_ahead(ps));
	if ((long long)v > m->maxignore) {
		m->maxignore = v;
		m->ignoreat = at;
	}
	return true;
}

static bool append_string(struct parser *ps, struct body *to, size_t *off, const char *prefix,
			  size_t plen, bool slash, const char *s)
{
	*off = to->str.len;
	if (!sbuf_add(ps, &to->str, prefix, plen) || (slash && !sbuf_add(ps, &to->str, "/", 1)) ||
	    !sbuf_add(ps, &to->str, s, strlen(s) + 1))
		return false;
	return true;
}

/* sources[i] joined with sourceRoot as DecodeSourceMapSources does: a '/'
 * between them unless the root ends with one. An empty sourceRoot is taken
 * as none (as trace-mapping and mozilla/source-map do): the spec's "" + "/"
 * would turn every relative source into an absolute path. */
static bool join_root(struct parser *ps, struct map_state *m)
{
	struct body *b = m->b;
	if (!m->has_root || m->root.len == 0)
		return true;
	bool slash = m->root.d[m->root.len - 1] != '/';
	for (size_t i = 0; i < b->nsrcs; i++) {
		if (b->srcs[i] == NOSTR)
			continue;
		/* Copied out first: the arena may move while it grows. */
		size_t n = strlen(b->str.d + b->srcs[i]);
		char *copy = malloc(n + 1);
		if (!copy)
			return fail(ps, "out of memory");
		memcpy(copy, b->str.d + b->srcs[i], n + 1);
		bool ok = append_string(ps, b, &b->srcs[i], m->root.d, m->root.len, slash, copy);
		free(copy);
		if (!ok)
			return false;
	}
	return true;
}

static int pos_cmp(uint32_t l1, uint32_t c1, uint32_t l2, uint32_t c2)
{
	if (l1 != l2)
		return l1 < l2 ? -1 : 1;
	if (c1 != c2)
		return c1 < c2 ? -1 : 1;
	return 0;
}

/* A section's decoded map appended to the flattened one at (line, col). */
static bool merge(struct parser *ps, struct flat *f, struct body *s, uint32_t line, uint32_t col,
		  unsigned long long at)
{
	struct body *g = f->out;
	if (s->nlines && (unsigned long long)line + s->nlines - 1 >= UINT32_MAX)
		return fail_at(ps, at, "section reaches past 2^32 lines");
	size_t srcbase = g->nsrcs, namebase = g->nnames;
	if ((unsigned long long)srcbase + s->nsrcs >= NONE ||
	    (unsigned long long)namebase + s->nnames >= NONE)
		return fail_at(ps, at, "more than 2^32 sources or names");
	if (!grow(ps, (void **)&g->srcs, &g->srccap, g->nsrcs + s->nsrcs, sizeof *g->srcs) ||
	    !grow(ps, (void **)&g->names, &g->namecap, g->nnames + s->nnames, sizeof *g->names))
		return false;
	for (size_t i = 0; i < s->nsrcs; i++) {
		if (s->srcs[i] == NOSTR)
			g->srcs[g->nsrcs++] = NOSTR;
		else if (!append_string(ps, g, &g->srcs[g->nsrcs++], "", 0, false,
					s->str.d + s->srcs[i]))
			return false;
	}
	for (size_t i = 0; i < s->nnames; i++)
		if (!append_string(ps, g, &g->names[g->nnames++], "", 0, false,
				   s->str.d + s->names[i]))
			return false;
	if (!s->nsegs)
		return true;
	if ((unsigned long long)g->nsegs + s->nsegs >= UINT32_MAX)
		return fail_at(ps, at, "more than 2^32 segments");
	if (!grow(ps, (void **)&g->gcols, &g->gcolcap, g->nsegs + s->nsegs, sizeof *g->gcols) ||
	    !grow(ps, (void **)&g->origs, &g->origcap, g->nsegs + s->nsegs, sizeof *g->origs))
		return false;
	/* Lines past `line` hold no segment (the overlap check saw to it):
	 * drop them, or add empty ones up to it. */
	if (g->nlines > (size_t)line + 1)
		g->nlines = (size_t)line + 1;
	while (g->nlines < (size_t)line + 1) {
		if (!grow(ps, (void **)&g->lines, &g->linecap, g->nlines + 1, sizeof *g->lines))
			return false;
		g->lines[g->nlines++] = (uint32_t)g->nsegs;
	}
	for (size_t l = 0; l < s->nlines; l++) {
		if (l > 0) {
			if (!grow(ps, (void **)&g->lines, &g->linecap, g->nlines + 1,
				  sizeof *g->lines))
				return false;
			g->lines[g->nlines++] = (uint32_t)g->nsegs;
		}
		size_t a = s->lines[l], z = l + 1 < s->nlines ? s->lines[l + 1] : s->nsegs;
		for (size_t i = a; i < z; i++) {
			struct seg x = {s->gcols[i], unpack(s, s->origs[i])};
			if (l == 0) {
				if ((unsigned long long)x.gcol + col >= UINT32_MAX)
					return fail_at(ps, at, "section column past 2^32");
				x.gcol += col;
			}
			if (x.o.src != NONE)
				x.o.src += (uint32_t)srcbase;
			if (x.o.name != NONE)
				x.o.name += (uint32_t)namebase;
			if (!put_orig(ps, g, g->nsegs, x.o))
				return false;
			g->gcols[g->nsegs++] = x.gcol;
			f->have_last = true;
			f->last_line = line + (uint32_t)l;
			f->last_col = x.gcol;
		}
	}
	return true;
}

struct section {
	struct parser *ps;
	struct flat *flat;
	int nest;
	int depth;
};

static bool offset_object(struct parser *ps, uint32_t *line, uint32_t *col, int depth)
{
	ws(ps);
	if (peek(ps) != '{')
		return ps->failed ? false
				  : fail(ps, "section \"offset\" must be an object, not %s",
					 type_ahead(ps));
	unsigned long long at = pos(ps);
	ps->p++;
	bool have_line = false, have_col = false;
	ws(ps);
	if (peek(ps) == '}')
		ps->p++;
	else
		for (;;) {
			ws(ps);
			if (peek(ps) != '"')
				return unexpected(ps, "a member name");
			bool trunc;
			key_reset(ps);
			if (!string_to(ps, &ps->key, MAX_KEY, &trunc) || !expect(ps, ':', "':'"))
				return false;
			ws(ps);
			bool is_line = !trunc && key_is(ps, "line");
			bool is_col = !trunc && key_is(ps, "column");
			if (is_line || is_col) {
				const char *what = is_line ? "offset line" : "offset column";
				if ((is_line && have_line) || (is_col && have_col))
					return fail(ps, "duplicate \"%s\"", ps->key.d);
				int r = uint_value(ps, what, is_line ? line : col);
				if (r < 0)
					return false;
				if (r == 0)
					return fail(ps, "%s must be a number, not %s", what,
						    type_ahead(ps));
				*(is_line ? &have_line : &have_col) = true;
			} else if (!skip_value(ps, depth + 1)) {
				return false;
			}
			ws(ps);
			int c = peek(ps);
			if (c == ',') {
				ps->p++;
				continue;
			}
			if (c == '}') {
				ps->p++;
				break;
			}
			return unexpected(ps, "',' or '}'");
		}
	if (!have_line)
		return fail_at(ps, at, "section offset has no \"line\"");
	if (!have_col)
		return fail_at(ps, at, "section offset has no \"column\"");
	return true;
}

static bool section_item(struct parser *ps, void *arg, size_t index)
{
	struct section *sec = arg;
	if (peek(ps) != '{')
		return ps->failed ? false
				  : fail(ps, "sections[%zu] must be an object, not %s", index,
					 type_ahead(ps));
	unsigned long long at = pos(ps);
	ps->p++;
	struct body sub;
	memset(&sub, 0, sizeof sub);
	sub.file = NOSTR;
	bool have_offset = false, have_map = false, have_url = false, ok = false;
	uint32_t line = 0, col = 0;
	ws(ps);
	if (peek(ps) == '}') {
		ps->p++;
	} else {
		for (;;) {
			ws(ps);
			if (peek(ps) != '"') {
				unexpected(ps, "a member name");
				goto out;
			}
			bool trunc;
			key_reset(ps);
			if (!string_to(ps, &ps->key, MAX_KEY, &trunc) || !expect(ps, ':', "':'"))
				goto out;
			(void)trunc; /* a name too long for the buffer is no name known */
			ws(ps);
			if (key_is(ps, "offset")) {
				if (have_offset) {
					fail(ps, "duplicate \"offset\"");
					goto out;
				}
				if (!offset_object(ps, &line, &col, sec->depth + 1))
					goto out;
				have_offset = true;
			} else if (key_is(ps, "map")) {
				if (have_map) {
					fail(ps, "duplicate \"map\"");
					goto out;
				}
				if (peek(ps) != '{') {
					if (!ps->failed)
						fail(ps,
						     "section \"map\" must be an object, not %s",
						     type_ahead(ps));
					goto out;
				}
				if (!parse_map(ps, &sub, sec->nest + 1, sec->depth + 1))
					goto out;
				have_map = true;
			} else {
				if (key_is(ps, "url"))
					have_url = true;
				if (!skip_value(ps, sec->depth + 1))
					goto out;
			}
			ws(ps);
			int c = peek(ps);
			if (c == ',') {
				ps->p++;
				continue;
			}
			if (c == '}') {
				ps->p++;
				break;
			}
			unexpected(ps, "',' or '}'");
			goto out;
		}
	}
	if (!have_offset) {
		fail_at(ps, at, "sections[%zu] has no \"offset\"", index);
		goto out;
	}
	if (!have_map) {
		if (have_url)
			fail_at(ps, at,
				"sections[%zu] has a \"url\" (not supported) and no \"map\"",
				index);
		else
			fail_at(ps, at, "sections[%zu] has no \"map\"", index);
		goto out;
	}
	struct flat *f = sec->flat;
	if (f->have_prev && pos_cmp(line, col, f->prev_line, f->prev_col) < 0) {
		fail_at(ps, at, "sections[%zu] at %u:%u comes before the previous section (%u:%u)",
			index, line, col, f->prev_line, f->prev_col);
		goto out;
	}
	/* The spec's check is "lesser"; a mapping at the very offset is in
	 * both sections too, and the conformance suite calls that overlap. */
	if (f->have_last && pos_cmp(line, col, f->last_line, f->last_col) <= 0) {
		fail_at(ps, at,
			"sections[%zu] at %u:%u overlaps the previous section (mapping at %u:%u)",
			index, line, col, f->last_line, f->last_col);
		goto out;
	}
	if (!merge(ps, f, &sub, line, col, at))
		goto out;
	f->have_prev = true;
	f->prev_line = line;
	f->prev_col = col;
	ok = true;
out:
	body_free(ps, &sub);
	return ok;
}

/* A map object, p on '{', decoded into b (which is empty); nest counts the
 * index maps it is a section of. A section's map may be an index map
 * itself: TG4 keeps nested index maps (tc39/ecma426#31: generators build
 * them from cached parts) and trace-mapping reads them, although the
 * spec's DecodeIndexSourceMap hands a section's map to DecodeSourceMap.
 * It is flattened like the top one, then placed at its section's offset. */
static bool parse_map(struct parser *ps, struct body *b, int nest, int depth)
{
	if (depth > MAX_DEPTH)
		return fail(ps, "nesting deeper than %d", MAX_DEPTH);
	if (nest > MAX_NEST)
		return fail(ps, "index maps nested deeper than %d", MAX_NEST);
	struct map_state m;
	memset(&m, 0, sizeof m);
	m.b = b;
	m.refs.maxsrc = m.refs.maxname = m.maxignore = -1;
	m.depth = depth;
	struct body flat;
	memset(&flat, 0, sizeof flat);
	flat.file = NOSTR;
	m.flat.out = &flat;
	unsigned seen = 0;
	bool ok = false;
	unsigned long long at = pos(ps);
	ps->p++;
	ws(ps);
	if (peek(ps) == '}') {
		ps->p++;
		goto end;
	}
	for (;;) {
		ws(ps);
		if (peek(ps) != '"') {
			unexpected(ps, "a member name");
			goto out;
		}
		unsigned long long keyat = pos(ps);
		bool trunc;
		key_reset(ps);
		if (!string_to(ps, &ps->key, MAX_KEY, &trunc) || !expect(ps, ':', "':'"))
			goto out;
		enum member which = 0;
		for (size_t i = 0; !trunc && ps->key.d && i < sizeof members / sizeof *members; i++)
			if (key_is(ps, members[i].name))
				which = members[i].m;
		if (which & seen) {
			fail_at(ps, keyat, "duplicate member \"%s\"", ps->key.d);
			goto out;
		}
		seen |= which;
		ws(ps);
		int c = peek(ps);
		uint32_t v;
		int r;
		switch (which) {
		case M_VERSION:
			r = uint_value(ps, "version", &v);
			if (r < 0)
				goto out;
			if (r == 0) {
				fail(ps, "\"version\" must be the number 3, not %s",
				     type_ahead(ps));
				goto out;
			}
			if (v != 3) {
				fail_at(ps, keyat, "unsupported version %u (3 expected)", v);
				goto out;
			}
			break;
		case M_FILE:
			if (c != '"') {
				if (!ps->failed)
					fail(ps, "\"file\" must be a string, not %s",
					     type_ahead(ps));
				goto out;
			}
			b->file = b->str.len;
			if (!string_to(ps, &b->str, SIZE_MAX, NULL) ||
			    !sbuf_add(ps, &b->str, "", 0))
				goto out;
			b->str.len++;
			break;
		case M_SOURCEROOT:
			if (c != '"') {
				if (!ps->failed)
					fail(ps, "\"sourceRoot\" must be a string, not %s",
					     type_ahead(ps));
				goto out;
			}
			m.has_root = true;
			if (!string_to(ps, &m.root, SIZE_MAX, NULL))
				goto out;
			break;
		case M_SOURCES:
			if (!array(ps, "sources", source_item, b))
				goto out;
			break;
		case M_SOURCESCONTENT:
			if (!array(ps, "sourcesContent", content_item, NULL))
				goto out;
			break;
		case M_NAMES:
			if (!array(ps, "names", name_item, b))
				goto out;
			break;
		case M_IGNORELIST:
			if (!array(ps, "ignoreList", ignore_item, &m))
				goto out;
			break;
		case M_MAPPINGS:
			if (c != '"') {
				if (!ps->failed)
					fail(ps, "\"mappings\" must be a string, not %s",
					     type_ahead(ps));
				goto out;
			}
			m.mappings_at = keyat;
			if (!mappings(ps, b, &m.refs))
				goto out;
			break;
		case M_SECTIONS: {
			m.sections_at = keyat;
			struct section sec = {ps, &m.flat, nest, depth + 1};
			if (!array(ps, "sections", section_item, &sec))
				goto out;
			break;
		}
		default:
			if (!skip_value(ps, depth + 1))
				goto out;
		}
		ws(ps);
		c = peek(ps);
		if (c == ',') {
			ps->p++;
			continue;
		}
		if (c == '}') {
			ps->p++;
			break;
		}
		unexpected(ps, "',' or '}'");
		goto out;
	}
end:
	if (!(seen & M_VERSION)) {
		fail_at(ps, at, "no \"version\"");
		goto out;
	}
	if (seen & M_SECTIONS) {
		if (seen & M_MAPPINGS) {
			fail_at(ps, m.mappings_at > m.sections_at ? m.mappings_at : m.sections_at,
				"an index map (\"sections\") with \"mappings\" too");
			goto out;
		}
		/* The flattened map replaces whatever else was decoded. */
		size_t file = b->file;
		char *fname = NULL;
		if (file != NOSTR && !(fname = strdup(b->str.d + file))) {
			fail(ps, "out of memory");
			goto out;
		}
		body_free(ps, b);
		*b = flat;
		memset(&flat, 0, sizeof flat);
		bool fok = !fname || append_string(ps, b, &b->file, "", 0, false, fname);
		free(fname);
		if (!fok)
			goto out;
		ok = true;
		goto out;
	}
	if (!(seen & M_MAPPINGS)) {
		fail_at(ps, at, "no \"mappings\"");
		goto out;
	}
	if (!(seen & M_SOURCES)) {
		fail_at(ps, at, "no \"sources\"");
		goto out;
	}
	if (m.refs.maxsrc >= (long long)b->nsrcs) {
		fail_at(ps, m.refs.srcat, "source index %lld out of range (%zu sources)",
			m.refs.maxsrc, b->nsrcs);
		goto out;
	}
	if (m.refs.maxname >= (long long)b->nnames) {
		fail_at(ps, m.refs.nameat, "name index %lld out of range (%zu names)",
			m.refs.maxname, b->nnames);
		goto out;
	}
	if (m.maxignore >= (long long)b->nsrcs) {
		fail_at(ps, m.ignoreat, "ignoreList index %lld out of range (%zu sources)",
			m.maxignore, b->nsrcs);
		goto out;
	}
	ok = join_root(ps, &m);
out:
	body_free(ps, &flat);
	if (m.root.d) {
		ps->mem -= m.root.cap;
		free(m.root.d);
	}
	return ok;
}

static void shrink(void **p, size_t *cap, size_t n, size_t elem, size_t *mem)
{
	if (n == *cap)
		return;
	if (n == 0) {
		free(*p);
		*p = NULL;
		*mem -= *cap * elem;
		*cap = 0;
		return;
	}
	void *q = realloc(*p, n * elem);
	if (!q)
		return;
	*p = q;
	*mem -= (*cap - n) * elem;
	*cap = n;
}

static struct sourcemap *parse(struct parser *ps)
{
	struct sourcemap *map = calloc(1, sizeof *map);
	if (!map) {
		fail(ps, "out of memory");
		return NULL;
	}
	map->b.file = NOSTR;
	ps->mem = sizeof *map;
	/* A UTF-8 byte order mark, and the ")]}'" line the spec lets servers
	 * put in front against XSSI, come before the JSON. */
	if (peek(ps) == 0xef) {
		for (int i = 0; i < 3; i++) {
			if (peek(ps) != (unsigned char)"\xef\xbb\xbf"[i]) {
				if (!ps->failed)
					fail(ps, "a byte order mark cut short");
				goto bad;
			}
			ps->p++;
		}
	}
	if (peek(ps) == ')') {
		if (!literal(ps, ")]}'"))
			goto bad;
		while (peek(ps) >= 0 && *ps->p != '\n')
			ps->p++;
	}
	ws(ps);
	if (peek(ps) != '{') {
		if (!ps->failed)
			fail(ps, "a source map is a JSON object, not %s",
			     peek(ps) < 0 ? "nothing" : type_ahead(ps));
		goto bad;
	}
	if (!parse_map(ps, &map->b, 0, 0))
		goto bad;
	ws(ps);
	if (peek(ps) >= 0) {
		unexpected(ps, "the end of input");
		goto bad;
	}
	if (ps->failed)
		goto bad;
	free(ps->key.d);
	ps->mem -= ps->key.cap;
	ps->key.d = NULL;
	struct body *b = &map->b;
	shrink((void **)&b->gcols, &b->gcolcap, b->nsegs, sizeof *b->gcols, &ps->mem);
	shrink((void **)&b->origs, &b->origcap, b->nsegs, sizeof *b->origs, &ps->mem);
	shrink((void **)&b->wide, &b->widecap, b->nwide, sizeof *b->wide, &ps->mem);
	shrink((void **)&b->lines, &b->linecap, b->nlines, sizeof *b->lines, &ps->mem);
	shrink((void **)&b->srcs, &b->srccap, b->nsrcs, sizeof *b->srcs, &ps->mem);
	shrink((void **)&b->names, &b->namecap, b->nnames, sizeof *b->names, &ps->mem);
	shrink((void **)&b->str.d, &b->str.cap, b->str.len, 1, &ps->mem);
	size_t nblocks = (b->nsegs + BLOCK - 1) / BLOCK;
	if (nblocks) {
		size_t need = nblocks * sizeof *map->blocks;
		if (ps->limit && ps->mem + need > ps->limit) {
			fail(ps, "map needs more than the memory limit (%zu bytes)", ps->limit);
			goto bad;
		}
		if (!(map->blocks = malloc(need))) {
			fail(ps, "out of memory");
			goto bad;
		}
		ps->mem += need;
		for (size_t j = 0; j < nblocks; j++)
			map->blocks[j] = b->gcols[j * BLOCK];
	}
	map->mem = ps->mem;
	return map;
bad:
	free(ps->key.d);
	body_free(NULL, &map->b);
	free(map);
	return NULL;
}

struct sourcemap *sm_parse(sm_read_fn read, void *ctx, size_t mem_limit, char *err, size_t errlen)
{
	struct parser ps;
	memset(&ps, 0, sizeof ps);
	ps.read = read;
	ps.ctx = ctx;
	ps.limit = mem_limit;
	ps.err = err;
	ps.errlen = errlen;
	if (err && errlen)
		err[0] = 0;
	ps.buf = malloc(READ_CHUNK);
	if (!ps.buf) {
		if (err && errlen)
			snprintf(err, errlen, "byte 0: out of memory");
		return NULL;
	}
	ps.start = ps.p = ps.end = ps.buf;
	struct sourcemap *map = parse(&ps);
	free(ps.buf);
	return map;
}

struct sourcemap *sm_parse_mem(const char *data, size_t len, size_t mem_limit, char *err,
			       size_t errlen)
{
	struct parser ps;
	memset(&ps, 0, sizeof ps);
	ps.limit = mem_limit;
	ps.err = err;
	ps.errlen = errlen;
	if (err && errlen)
		err[0] = 0;
	ps.start = ps.p = (const unsigned char *)data;
	ps.end = ps.p + len;
	return parse(&ps);
}

int sm_lookup(const struct sourcemap *map, uint32_t line, uint32_t column, struct sm_original *out)
{
	const struct body *b = &map->b;
	out->source = out->name = NULL;
	out->line = out->column = 0;
	out->mapped = 0;
	if (line >= b->nlines)
		return -1;
	size_t lo = b->lines[line];
	size_t hi = line + 1 < b->nlines ? b->lines[line + 1] : b->nsegs;
	const uint32_t *g = b->gcols;
	if (lo == hi || g[lo] > column)
		return -1;
	/* The last segment at or before the column: the greatest lower bound
	 * (g[lo] <= column holds, so i stays a candidate). Without branches on
	 * the comparisons, which a random column makes unpredictable. On an
	 * exact hit, the first of equal columns; otherwise the last below, as
	 * trace-mapping's originalPositionFor picks. */
	size_t i = lo, n = hi - lo;
	if (n > BLOCK) {
		/* Blocks that start inside the line: jlo to jhi. */
		const uint32_t *bl = map->blocks;
		size_t jlo = (lo + BLOCK - 1) / BLOCK, jhi = (hi - 1) / BLOCK;
		if (bl[jlo] <= column) {
			size_t j = jlo, m = jhi - jlo + 1;
			while (m > 1) {
				size_t half = m / 2;
				j = bl[j + half] <= column ? j + half : j;
				m -= half;
			}
			i = j * BLOCK;
			n = (i + BLOCK < hi ? i + BLOCK : hi) - i;
		} else {
			n = jlo * BLOCK - lo; /* before the first block: g[lo] fits */
		}
	}
	while (n > 1) {
		size_t half = n / 2;
		i = g[i + half] <= column ? i + half : i;
		n -= half;
	}
	while (i > lo && g[i] == column && g[i - 1] == column)
		i--;
	struct orig s = unpack(b, b->origs[i]);
	if (s.src == NONE)
		return -1;
	out->mapped = 1;
	out->line = s.oline;
	out->column = s.ocol;
	if (s.name != NONE)
		out->name = b->str.d + b->names[s.name];
	if (b->srcs[s.src] == NOSTR)
		return -1;
	out->source = b->str.d + b->srcs[s.src];
	return 0;
}

size_t sm_segment_count(const struct sourcemap *map)
{
	return map->b.nsegs;
}

int sm_segment(const struct sourcemap *map, size_t i, uint32_t *line, uint32_t *column)
{
	const struct body *b = &map->b;
	if (i >= b->nsegs)
		return -1;
	/* The last line starting at or before i: lines may be empty, so the
	 * last of equal starts. */
	size_t lo = 0, n = b->nlines;
	while (n > 0) {
		size_t half = n / 2;
		if (b->lines[lo + half] <= i) {
			lo += half + 1;
			n -= half + 1;
		} else {
			n = half;
		}
	}
	*line = (uint32_t)(lo - 1);
	*column = b->gcols[i];
	return 0;
}

const char *sm_file(const struct sourcemap *map)
{
	return map->b.file == NOSTR ? NULL : map->b.str.d + map->b.file;
}

size_t sm_memory(const struct sourcemap *map)
{
	return map->mem;
}

void sm_free(struct sourcemap *map)
{
	if (!map)
		return;
	body_free(NULL, &map->b);
	free(map->blocks);
	free(map);
}
