/* The record codec. This is the one JSON reader we write ourselves: every
 * stage parses every record, so the scanner works on runs of bytes (16 at a
 * time with SSE2), validates as it goes (strings, UTF-8, numbers), and keeps
 * raw token positions instead of copying. */
#include "record.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Bytes that end a run of plain string bytes: '"', '\\', control characters,
 * and every non-ASCII byte (validated as UTF-8 one sequence at a time). */
static inline int str_special(unsigned char c)
{
	return c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
}

static inline const char *find_special(const char *p, const char *end)
{
#if defined(__SSE2__)
	const __m128i quote = _mm_set1_epi8('"');
	const __m128i bslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(0x20);
	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* Signed compare: bytes >= 0x80 are negative, so "< 0x20"
		 * catches both control characters and non-ASCII. */
		__m128i m =
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
				 _mm_cmplt_epi8(v, space));
		int bits = _mm_movemask_epi8(m);
		if (bits)
			return p + __builtin_ctz((unsigned)bits);
		p += 16;
	}
#endif
	while (p < end && !str_special((unsigned char)*p))
		p++;
	return p;
}

static inline const char *skip_ws(const char *q, const char *end)
{
	while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
		q++;
	return q;
}

static inline int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of the valid UTF-8 sequence (2..4 bytes) starting with the
 * non-ASCII byte at s, or 0 (overlong forms, surrogates and code points past
 * U+10FFFF are invalid, as RFC 3629 says). */
static inline int utf8_seq(const char *p, const char *pend)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t avail = (size_t)(pend - p);
	unsigned c = s[0];
	if (c >= 0xC2 && c <= 0xDF)
		return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (avail < 3)
			return 0;
		unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (avail < 4)
			return 0;
		unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80
			   ? 4
			   : 0;
	}
	return 0;
}

static int hex4(const char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static int utf8_encode(uint32_t cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

enum { ESC_BAD = -1, ESC_BAD_U = -2, ESC_SURROGATE = -3 };

/* p is at a backslash inside a string that ends before end. Writes the
 * escape's UTF-8 (1..4 bytes) to o and returns its length, with *adv the
 * bytes consumed; or one of ESC_*. */
static int decode_escape(const char *p, const char *end, char *o, size_t *adv)
{
	if (end - p < 2)
		return ESC_BAD;
	*adv = 2;
	switch (p[1]) {
	case '"':
	case '\\':
	case '/':
		o[0] = p[1];
		return 1;
	case 'b':
		o[0] = '\b';
		return 1;
	case 'f':
		o[0] = '\f';
		return 1;
	case 'n':
		o[0] = '\n';
		return 1;
	case 'r':
		o[0] = '\r';
		return 1;
	case 't':
		o[0] = '\t';
		return 1;
	case 'u':
		break;
	default:
		return ESC_BAD;
	}
	int u = end - p >= 6 ? hex4(p + 2) : -1;
	if (u < 0)
		return ESC_BAD_U;
	uint32_t cp = (uint32_t)u;
	*adv = 6;
	if (u >= 0xD800 && u <= 0xDBFF) {
		int lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
		if (lo < 0xDC00 || lo > 0xDFFF)
			return ESC_SURROGATE;
		cp = 0x10000 + (((uint32_t)u - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
		*adv = 12;
	} else if (u >= 0xDC00 && u <= 0xDFFF) {
		return ESC_SURROGATE;
	}
	return utf8_encode(cp, o);
}

/* Decoded bytes of a validated string token, one at a time: for keys with
 * escapes, which are rare enough not to deserve a buffer. */
struct sdec {
	const char *p, *end;
	char pend[4];
	int npend, ipend;
};

static void sdec_init(struct sdec *d, const char *tok, size_t n)
{
	d->p = tok + 1;
	d->end = tok + n - 1;
	d->npend = d->ipend = 0;
}

/* Next byte (0..255), or -1 at the end or on a malformed escape. */
static int sdec_next(struct sdec *d)
{
	if (d->ipend < d->npend)
		return (unsigned char)d->pend[d->ipend++];
	if (d->p >= d->end)
		return -1;
	if (*d->p != '\\')
		return (unsigned char)*d->p++;
	size_t adv;
	int k = decode_escape(d->p, d->end, d->pend, &adv);
	if (k < 0) {
		d->p = d->end;
		return -1;
	}
	d->p += adv;
	d->npend = k;
	d->ipend = 1;
	return (unsigned char)d->pend[0];
}

/* Key hash over decoded bytes, 8 at a time. The plain and the streaming
 * versions must agree: bytes are gathered little-endian into words. */
#define HASH_SEED 0x243F6A8885A308D3ull
static inline uint64_t hmix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9E3779B97F4A7C15ull;
	return h ^ (h >> 31);
}

static inline uint32_t hfinal(uint64_t h, size_t len)
{
	h = hmix(h, (uint64_t)len);
	return (uint32_t)(h ^ (h >> 32));
}

static inline uint64_t load64le(const char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

static uint32_t hash_plain(const char *p, size_t n)
{
	uint64_t h = HASH_SEED;
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		h = hmix(h, load64le(p + i));
	if (i < n) {
		uint64_t w = 0;
		for (size_t j = 0; i + j < n; j++)
			w |= (uint64_t)(unsigned char)p[i + j] << (8 * j);
		h = hmix(h, w);
	}
	return hfinal(h, n);
}

static int tok_has_esc(const char *tok, size_t n)
{
	return memchr(tok + 1, '\\', n - 2) != NULL;
}

static uint32_t tok_hash(const char *tok, size_t n, int esc)
{
	if (!esc)
		return hash_plain(tok + 1, n - 2);
	struct sdec d;
	sdec_init(&d, tok, n);
	uint64_t h = HASH_SEED, w = 0;
	size_t len = 0;
	int c;
	while ((c = sdec_next(&d)) >= 0) {
		w |= (uint64_t)c << (8 * (len & 7));
		if ((++len & 7) == 0) {
			h = hmix(h, w);
			w = 0;
		}
	}
	if (len & 7)
		h = hmix(h, w);
	return hfinal(h, len);
}

/* Does the raw token decode to s[0..len)? */
static int key_eq(const char *tok, size_t n, const char *s, size_t len)
{
	if (!tok_has_esc(tok, n))
		return n - 2 == len && memcmp(tok + 1, s, len) == 0;
	struct sdec d;
	sdec_init(&d, tok, n);
	for (size_t i = 0; i < len; i++)
		if (sdec_next(&d) != (unsigned char)s[i])
			return 0;
	return sdec_next(&d) == -1;
}

static int tok_eq(const char *a, size_t an, const char *b, size_t bn)
{
	if (!tok_has_esc(a, an))
		return key_eq(b, bn, a + 1, an - 2);
	if (!tok_has_esc(b, bn))
		return key_eq(a, an, b + 1, bn - 2);
	struct sdec da, db;
	sdec_init(&da, a, an);
	sdec_init(&db, b, bn);
	for (;;) {
		int ca = sdec_next(&da), cb = sdec_next(&db);
		if (ca != cb)
			return 0;
		if (ca < 0)
			return 1;
	}
}

/* ---- the scanner ---- */

struct pctx {
	const char *base; /* start of the caller's input: error offsets */
	const char *end;
	struct rec_error *err;
};

static const char *fail(struct pctx *c, const char *at, const char *reason)
{
	c->err->offset = (size_t)(at - c->base);
	c->err->reason = reason;
	return NULL;
}

static int failn(struct pctx *c, const char *at, const char *reason)
{
	fail(c, at, reason);
	return -1;
}

/* q is at the opening quote. Returns the position past the closing quote;
 * *esc is set when the string has escapes. */
static const char *scan_string(struct pctx *c, const char *q, int *esc)
{
	const char *end = c->end;
	q++;
	for (;;) {
		q = find_special(q, end);
		if (q >= end)
			return fail(c, end, "unterminated string");
		unsigned char ch = (unsigned char)*q;
		if (ch == '"')
			return q + 1;
		if (ch == '\\') {
			char tmp[4];
			size_t adv;
			int k = decode_escape(q, end, tmp, &adv);
			if (k == ESC_BAD)
				return fail(c, q,
					    end - q < 2 ? "unterminated string"
							: "invalid escape in string");
			if (k == ESC_BAD_U)
				return fail(c, q, "invalid \\u escape");
			if (k == ESC_SURROGATE)
				return fail(c, q, "unpaired surrogate in \\u escape");
			*esc = 1;
			q += adv;
			continue;
		}
		if (ch < 0x20)
			return fail(c, q, "control character in string");
		int l = utf8_seq(q, end);
		if (!l)
			return fail(c, q, "invalid UTF-8");
		q += l;
	}
}

/* q is at '-' or a digit. RV_INT when there is no fraction and no exponent;
 * such a number must fit int64_t. */
static const char *scan_number(struct pctx *c, const char *q, enum rec_vtype *type, int64_t *iv)
{
	const char *start = q, *end = c->end;
	int neg = 0;
	if (*q == '-') {
		neg = 1;
		q++;
	}
	if (q >= end || !is_digit(*q))
		return fail(c, start, "invalid number");
	uint64_t v = 0;
	int ovf = 0;
	const char *ds = q;
	if (*q == '0') {
		q++;
	} else {
		while (q < end && is_digit(*q)) {
			unsigned d = (unsigned)(*q - '0');
			if (v > (UINT64_MAX - d) / 10)
				ovf = 1;
			else
				v = v * 10 + d;
			q++;
		}
	}
	long intdigits = (long)(q - ds);
	int isfloat = 0;
	long exp = 0;
	if (q < end && *q == '.') {
		q++;
		if (q >= end || !is_digit(*q))
			return fail(c, start, "invalid number");
		while (q < end && is_digit(*q))
			q++;
		isfloat = 1;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		int eneg = 0;
		if (q < end && (*q == '+' || *q == '-'))
			eneg = *q++ == '-';
		if (q >= end || !is_digit(*q))
			return fail(c, start, "invalid number");
		while (q < end && is_digit(*q)) {
			if (exp < 100000)
				exp = exp * 10 + (*q - '0');
			q++;
		}
		if (eneg)
			exp = -exp;
		isfloat = 1;
	}
	if (q < end && is_digit(*q))
		return fail(c, start, "invalid number"); /* a leading zero */
	if (!isfloat) {
		uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		if (ovf || v > lim)
			return fail(c, start, "integer out of range");
		if (!neg)
			*iv = (int64_t)v;
		else
			*iv = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
		*type = RV_INT;
		return q;
	}
	/* Only a number this large can overflow a double; such a float
	 * could not be written out again as a finite value. */
	if (intdigits + exp > 300) {
		double d;
		if (rec_double(start, (size_t)(q - start), &d) < 0)
			return fail(c, start, "number out of range");
	}
	*type = RV_FLOAT;
	return q;
}

static const char *scan_lit(struct pctx *c, const char *q, const char *lit, size_t n)
{
	if ((size_t)(c->end - q) < n || memcmp(q, lit, n) != 0)
		return fail(c, q, "invalid literal");
	return q + n;
}

/* Any JSON value, validated and skipped (unknown top-level keys). */
static const char *skip_value(struct pctx *c, const char *q, int depth)
{
	const char *end = c->end;
	int esc = 0;
	enum rec_vtype t;
	int64_t iv;
	if (q >= end)
		return fail(c, q, "unexpected end of input");
	switch (*q) {
	case '"':
		return scan_string(c, q, &esc);
	case 't':
		return scan_lit(c, q, "true", 4);
	case 'f':
		return scan_lit(c, q, "false", 5);
	case 'n':
		return scan_lit(c, q, "null", 4);
	case '{':
	case '[':
		break;
	default:
		if (*q == '-' || is_digit(*q))
			return scan_number(c, q, &t, &iv);
		return fail(c, q, "invalid value");
	}
	if (depth >= REC_MAX_DEPTH)
		return fail(c, q, "nesting too deep");
	char close = *q == '{' ? '}' : ']';
	q = skip_ws(q + 1, end);
	if (q < end && *q == close)
		return q + 1;
	for (;;) {
		if (close == '}') {
			if (q >= end || *q != '"')
				return fail(
				    c, q, q >= end ? "unexpected end of input" : "expected a key");
			if (!(q = scan_string(c, q, &esc)))
				return NULL;
			q = skip_ws(q, end);
			if (q >= end || *q != ':')
				return fail(c, q, "expected ':'");
			q = skip_ws(q + 1, end);
		}
		if (!(q = skip_value(c, q, depth + 1)))
			return NULL;
		q = skip_ws(q, end);
		if (q < end && *q == ',') {
			q = skip_ws(q + 1, end);
			continue;
		}
		if (q < end && *q == close)
			return q + 1;
		if (q >= end)
			return fail(c, q, "unexpected end of input");
		return fail(c, q, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int grow_kvs(struct rec_kv **a, size_t *cap, size_t max)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	if (ncap > max)
		ncap = max;
	struct rec_kv *na = realloc(*a, ncap * sizeof *na);
	if (!na)
		return -1;
	*a = na;
	*cap = ncap;
	return 0;
}

/* The tags or fields object; q is at its '{'. */
static const char *parse_kvs(struct pctx *c, struct record *r, const char *q, int is_field)
{
	const char *end = c->end;
	struct rec_kv **arr = is_field ? &r->fields : &r->tags;
	size_t *cnt = is_field ? &r->nfields : &r->ntags;
	size_t *cap = is_field ? &r->fields_cap : &r->tags_cap;
	size_t max = is_field ? REC_MAX_FIELDS : REC_MAX_TAGS;
	/* A Bloom filter of the keys seen: the duplicate check compares keys
	 * only when a bit says it might be needed. */
	uint64_t seen[16] = {0};

	q = skip_ws(q + 1, end);
	if (q < end && *q == '}')
		return q + 1;
	for (;;) {
		if (q >= end || *q != '"')
			return fail(c, q, q >= end ? "unexpected end of input" : "expected a key");
		const char *k = q;
		int kesc = 0, vesc = 0;
		if (!(q = scan_string(c, q, &kesc)))
			return NULL;
		size_t klen = (size_t)(q - k);
		if (klen == 2)
			return fail(c, k, is_field ? "empty field key" : "empty tag key");
		q = skip_ws(q, end);
		if (q >= end || *q != ':')
			return fail(c, q, "expected ':'");
		q = skip_ws(q + 1, end);
		if (q >= end)
			return fail(c, q, "unexpected end of input");
		const char *v = q;
		enum rec_vtype t = RV_STRING;
		int64_t iv;
		switch (*q) {
		case '"':
			q = scan_string(c, q, &vesc);
			break;
		case 'n':
			return fail(c, q, is_field ? "field value is null" : "tag value is null");
		case '[':
			return fail(c, q,
				    is_field ? "field value is an array" : "tag value is an array");
		case '{':
			return fail(
			    c, q, is_field ? "field value is an object" : "tag value is an object");
		default:
			if (!is_field)
				return fail(c, q, "tag value is not a string");
			if (*q == 't') {
				q = scan_lit(c, q, "true", 4);
				t = RV_BOOL;
			} else if (*q == 'f') {
				q = scan_lit(c, q, "false", 5);
				t = RV_BOOL;
			} else if (*q == '-' || is_digit(*q)) {
				q = scan_number(c, q, &t, &iv);
			} else {
				return fail(c, q, "invalid field value");
			}
		}
		if (!q)
			return NULL;
		if (*cnt == *cap) {
			if (*cap >= max)
				return fail(c, k, is_field ? "too many fields" : "too many tags");
			if (grow_kvs(arr, cap, max) < 0)
				return fail(c, k, "out of memory");
		}
		uint32_t h = tok_hash(k, klen, kesc);
		unsigned bit = h & 1023;
		struct rec_kv *a = *arr;
		if (seen[bit >> 6] & (1ull << (bit & 63))) {
			for (size_t i = 0; i < *cnt; i++)
				if (a[i].hash == h && tok_eq(a[i].key, a[i].key_len, k, klen))
					return fail(c, k,
						    is_field ? "duplicate field key"
							     : "duplicate tag key");
		}
		seen[bit >> 6] |= 1ull << (bit & 63);
		struct rec_kv *kv = &a[(*cnt)++];
		kv->key = k;
		kv->key_len = klen;
		kv->val = v;
		kv->val_len = (size_t)(q - v);
		kv->type = t;
		kv->hash = h;
		q = skip_ws(q, end);
		if (q < end && *q == ',') {
			q = skip_ws(q + 1, end);
			continue;
		}
		if (q < end && *q == '}')
			return q + 1;
		return fail(c, q, q >= end ? "unexpected end of input" : "expected ',' or '}'");
	}
}

enum { K_OTHER, K_MEAS, K_TAGS, K_FIELDS, K_TIME };

static int top_key(const char *k, size_t n, int esc)
{
	const char *s = k + 1;
	size_t len = n - 2;
	char tmp[12];
	if (esc) {
		struct sdec d;
		int ch;
		sdec_init(&d, k, n);
		len = 0;
		while ((ch = sdec_next(&d)) >= 0) {
			if (len == sizeof tmp)
				return K_OTHER;
			tmp[len++] = (char)ch;
		}
		s = tmp;
	}
	switch (len) {
	case 4:
		if (memcmp(s, "tags", 4) == 0)
			return K_TAGS;
		if (memcmp(s, "time", 4) == 0)
			return K_TIME;
		break;
	case 6:
		if (memcmp(s, "fields", 6) == 0)
			return K_FIELDS;
		break;
	case 11:
		if (memcmp(s, "measurement", 11) == 0)
			return K_MEAS;
		break;
	}
	return K_OTHER;
}

#define REC_MAX_OTHER 64 /* unknown top-level keys remembered for duplicates */

static int parse_record(struct pctx *c, struct record *r, const char *p, size_t *consumed)
{
	static const char *const dup_reason[] = {
	    [K_MEAS] = "duplicate key \"measurement\"",
	    [K_TAGS] = "duplicate key \"tags\"",
	    [K_FIELDS] = "duplicate key \"fields\"",
	    [K_TIME] = "duplicate key \"time\"",
	};
	struct {
		const char *k;
		size_t n;
		uint32_t h;
	} other[REC_MAX_OTHER];
	size_t nother = 0;
	const char *end = c->end;
	const char *q = skip_ws(p, end);

	r->src = q;
	r->len = 0;
	r->meas = NULL;
	r->meas_len = 0;
	r->ntags = r->nfields = 0;
	r->time = 0;
	r->has_time = 0;
	r->tags_off = r->tags_end = r->fields_off = r->fields_end = 0;
	r->last_end = 0;
	if (q >= end)
		return failn(c, q, "empty record");
	if (*q != '{')
		return failn(c, q, "expected '{'");
	const char *src = q;
	unsigned seen = 0;
	q = skip_ws(q + 1, end);
	if (q < end && *q == '}')
		return failn(c, src, "missing measurement");
	for (;;) {
		if (q >= end || *q != '"')
			return failn(c, q, q >= end ? "unexpected end of input" : "expected a key");
		const char *k = q;
		int kesc = 0, vesc = 0;
		if (!(q = scan_string(c, q, &kesc)))
			return -1;
		size_t klen = (size_t)(q - k);
		int kid = top_key(k, klen, kesc);
		if (kid != K_OTHER) {
			if (seen & (1u << kid))
				return failn(c, k, dup_reason[kid]);
			seen |= 1u << kid;
		}
		q = skip_ws(q, end);
		if (q >= end || *q != ':')
			return failn(c, q, "expected ':'");
		q = skip_ws(q + 1, end);
		if (q >= end)
			return failn(c, q, "unexpected end of input");
		const char *v = q;
		switch (kid) {
		case K_MEAS:
			if (*q != '"')
				return failn(c, q, "measurement is not a string");
			if (!(q = scan_string(c, q, &vesc)))
				return -1;
			if (q - v == 2)
				return failn(c, v, "empty measurement");
			r->meas = v;
			r->meas_len = (size_t)(q - v);
			break;
		case K_TAGS:
		case K_FIELDS:
			if (*q != '{')
				return failn(c, q,
					     kid == K_TAGS ? "tags is not an object"
							   : "fields is not an object");
			if (!(q = parse_kvs(c, r, q, kid == K_FIELDS)))
				return -1;
			if (kid == K_TAGS) {
				r->tags_off = (size_t)(v - src);
				r->tags_end = (size_t)(q - src);
			} else {
				r->fields_off = (size_t)(v - src);
				r->fields_end = (size_t)(q - src);
			}
			break;
		case K_TIME: {
			enum rec_vtype t;
			int64_t iv;
			if (*q != '-' && !is_digit(*q))
				return failn(c, q, "time is not an integer");
			if (!(q = scan_number(c, q, &t, &iv)))
				return -1;
			if (t != RV_INT)
				return failn(c, v, "time is not an integer");
			r->time = iv;
			r->has_time = 1;
			break;
		}
		default: {
			uint32_t h = tok_hash(k, klen, kesc);
			for (size_t i = 0; i < nother; i++)
				if (other[i].h == h && tok_eq(other[i].k, other[i].n, k, klen))
					return failn(c, k, "duplicate top-level key");
			if (nother == REC_MAX_OTHER)
				return failn(c, k, "too many top-level keys");
			other[nother].k = k;
			other[nother].n = klen;
			other[nother].h = h;
			nother++;
			if (!(q = skip_value(c, q, 1)))
				return -1;
		}
		}
		r->last_end = (size_t)(q - src);
		q = skip_ws(q, end);
		if (q < end && *q == ',') {
			q = skip_ws(q + 1, end);
			continue;
		}
		if (q < end && *q == '}')
			break;
		return failn(c, q, q >= end ? "unexpected end of input" : "expected ',' or '}'");
	}
	if (!(seen & (1u << K_MEAS)))
		return failn(c, src, "missing measurement");
	r->len = (size_t)(q + 1 - src);
	*consumed = (size_t)(q + 1 - p);
	return 0;
}

int rec_parse(struct record *r, const char *p, size_t n, size_t *consumed, struct rec_error *err)
{
	struct rec_error dummy;
	struct pctx c = {p, p + n, err ? err : &dummy};
	size_t used = 0;
	if (parse_record(&c, r, p, &used) < 0)
		return -1;
	if (consumed)
		*consumed = used;
	return 0;
}

int rec_parse_line(struct record *r, const char *p, size_t n, struct rec_error *err)
{
	struct rec_error dummy;
	struct pctx c = {p, p + n, err ? err : &dummy};
	size_t used = 0;
	if (parse_record(&c, r, p, &used) < 0)
		return -1;
	const char *q = skip_ws(p + used, p + n);
	if (q != p + n) {
		fail(&c, q, "trailing characters after the record");
		return -1;
	}
	return 0;
}

void rec_free(struct record *r)
{
	free(r->tags);
	free(r->fields);
	memset(r, 0, sizeof *r);
}

static const struct rec_kv *find_kv(const struct rec_kv *a, size_t n, const char *key, size_t klen)
{
	uint32_t h = hash_plain(key, klen);
	for (size_t i = 0; i < n; i++)
		if (a[i].hash == h && key_eq(a[i].key, a[i].key_len, key, klen))
			return &a[i];
	return NULL;
}

const struct rec_kv *rec_tag(const struct record *r, const char *key)
{
	return find_kv(r->tags, r->ntags, key, strlen(key));
}

const struct rec_kv *rec_field(const struct record *r, const char *key)
{
	return find_kv(r->fields, r->nfields, key, strlen(key));
}

int rec_str(const char *tok, size_t n, struct buf *scratch, const char **s, size_t *len)
{
	if (n < 2 || tok[0] != '"' || tok[n - 1] != '"')
		return -1;
	const char *p = tok + 1, *end = tok + n - 1;
	const char *bs = memchr(p, '\\', (size_t)(end - p));
	if (!bs) {
		*s = p;
		*len = (size_t)(end - p);
		return 0;
	}
	buf_reset(scratch);
	/* Decoding never makes a string longer: at most 4 bytes out for the
	 * 6 or 12 of a \u escape, 1 for 2 otherwise. */
	if (buf_reserve(scratch, n) < 0)
		return -1;
	char *o = scratch->p;
	while (bs) {
		memcpy(o, p, (size_t)(bs - p));
		o += bs - p;
		size_t adv;
		int k = decode_escape(bs, end, o, &adv);
		if (k < 0)
			return -1;
		o += k;
		p = bs + adv;
		bs = memchr(p, '\\', (size_t)(end - p));
	}
	memcpy(o, p, (size_t)(end - p));
	o += end - p;
	scratch->len = (size_t)(o - scratch->p);
	*s = scratch->p;
	*len = scratch->len;
	return 0;
}

int rec_int(const char *tok, size_t n, int64_t *v)
{
	struct rec_error e;
	struct pctx c = {tok, tok + n, &e};
	enum rec_vtype t;
	if (n == 0 || (*tok != '-' && !is_digit(*tok)))
		return -1;
	const char *q = scan_number(&c, tok, &t, v);
	if (!q || q != tok + n || t != RV_INT)
		return -1;
	return 0;
}

int rec_double(const char *tok, size_t n, double *v)
{
	char small[64];
	char *tmp = small;
	if (n == 0)
		return -1;
	if (n >= sizeof small) {
		/* Only numbers with hundreds of digits get here. */
		if (n > 1u << 20 || !(tmp = malloc(n + 1)))
			return -1;
	}
	memcpy(tmp, tok, n);
	tmp[n] = '\0';
	char *e;
	errno = 0;
	double d = strtod(tmp, &e);
	int ok = e == tmp + n && isfinite(d);
	if (tmp != small)
		free(tmp);
	if (!ok)
		return -1;
	*v = d;
	return 0;
}

int json_add_str(struct buf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	if (buf_reserve(b, n + 2) < 0)
		return -1;
	b->p[b->len++] = '"';
	const char *p = s, *end = s + n, *run = s;
	while (p < end) {
		p = find_special(p, end);
		if (p >= end)
			break;
		unsigned char ch = (unsigned char)*p;
		if (ch >= 0x80) {
			int l = utf8_seq(p, end);
			if (l) {
				p += l;
				continue;
			}
		}
		if (buf_add(b, run, (size_t)(p - run)) < 0)
			return -1;
		char esc[6] = {'\\', 0};
		size_t elen = 2;
		switch (ch) {
		case '"':
		case '\\':
			esc[1] = (char)ch;
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		default:
			if (ch >= 0x80) {
				memcpy(esc, "\xEF\xBF\xBD", 3); /* U+FFFD */
				elen = 3;
			} else {
				memcpy(esc, "\\u00", 4);
				esc[4] = hexd[ch >> 4];
				esc[5] = hexd[ch & 15];
				elen = 6;
			}
		}
		if (buf_add(b, esc, elen) < 0)
			return -1;
		run = ++p;
	}
	if (buf_add(b, run, (size_t)(end - run)) < 0)
		return -1;
	return buf_addc(b, '"');
}

int json_add_double(struct buf *b, double v)
{
	if (!isfinite(v))
		return -1;
	char tmp[48];
	int len = 0;
	/* The shortest of 15, 16, 17 significant digits that reads back as
	 * the same double. */
	for (int prec = 15; prec <= 17; prec++) {
		len = snprintf(tmp, sizeof tmp - 2, "%.*g", prec, v);
		if (len < 0 || (size_t)len >= sizeof tmp - 2)
			return -1;
		if (prec == 17 || strtod(tmp, NULL) == v)
			break;
	}
	if (!memchr(tmp, '.', (size_t)len) && !memchr(tmp, 'e', (size_t)len)) {
		tmp[len++] = '.';
		tmp[len++] = '0';
	}
	return buf_add(b, tmp, (size_t)len);
}

/* ---- edits ---- */

void rec_edit_init(struct rec_edit *e)
{
	memset(e, 0, sizeof *e);
}

void rec_edit_reset(struct rec_edit *e)
{
	e->nops = 0;
	buf_reset(&e->data);
}

void rec_edit_free(struct rec_edit *e)
{
	free(e->ops);
	buf_free(&e->data);
	memset(e, 0, sizeof *e);
}

/* Starts an op: its key goes into data. The caller appends the value token
 * and calls op_end. */
static struct rec_edit_op *op_begin(struct rec_edit *e, int is_field, const char *key)
{
	size_t klen = strlen(key);
	if (klen == 0 || e->data.err)
		return NULL;
	if (e->nops == e->cap) {
		size_t ncap = e->cap ? e->cap * 2 : 8;
		if (ncap > REC_MAX_TAGS + REC_MAX_FIELDS)
			return NULL;
		struct rec_edit_op *n = realloc(e->ops, ncap * sizeof *n);
		if (!n)
			return NULL;
		e->ops = n;
		e->cap = ncap;
	}
	struct rec_edit_op *op = &e->ops[e->nops];
	op->is_field = is_field;
	op->key_off = e->data.len;
	op->key_len = klen;
	if (buf_add(&e->data, key, klen) < 0)
		return NULL;
	op->val_off = e->data.len;
	return op;
}

static int op_end(struct rec_edit *e, struct rec_edit_op *op, int rc)
{
	if (rc < 0 || e->data.err) {
		e->data.len = op->key_off; /* forget the half-written op */
		return -1;
	}
	op->val_len = e->data.len - op->val_off;
	e->nops++;
	return 0;
}

int rec_edit_tag(struct rec_edit *e, const char *key, const char *val, size_t val_len)
{
	struct rec_edit_op *op = op_begin(e, 0, key);
	return op ? op_end(e, op, json_add_str(&e->data, val, val_len)) : -1;
}

int rec_edit_field_str(struct rec_edit *e, const char *key, const char *val, size_t val_len)
{
	struct rec_edit_op *op = op_begin(e, 1, key);
	return op ? op_end(e, op, json_add_str(&e->data, val, val_len)) : -1;
}

int rec_edit_field_int(struct rec_edit *e, const char *key, int64_t v)
{
	struct rec_edit_op *op = op_begin(e, 1, key);
	return op ? op_end(e, op, buf_add_i64(&e->data, v)) : -1;
}

int rec_edit_field_double(struct rec_edit *e, const char *key, double v)
{
	if (!isfinite(v))
		return -1;
	struct rec_edit_op *op = op_begin(e, 1, key);
	return op ? op_end(e, op, json_add_double(&e->data, v)) : -1;
}

int rec_edit_field_bool(struct rec_edit *e, const char *key, int v)
{
	struct rec_edit_op *op = op_begin(e, 1, key);
	return op ? op_end(e, op, buf_adds(&e->data, v ? "true" : "false")) : -1;
}

enum { P_REPLACE, P_KEY, P_KEY_FIRST, P_TEXT };

struct patch {
	size_t off, del; /* bytes of src replaced at off */
	size_t seq;	 /* generation order: ties at one offset keep it */
	int kind;
	const struct rec_edit_op *op;
	const char *text;
};

/* Is op i overridden by a later op on the same key? */
static int op_shadowed(const struct rec_edit *e, size_t i)
{
	const struct rec_edit_op *a = &e->ops[i];
	for (size_t j = i + 1; j < e->nops; j++) {
		const struct rec_edit_op *b = &e->ops[j];
		if (b->is_field == a->is_field && b->key_len == a->key_len &&
		    memcmp(e->data.p + a->key_off, e->data.p + b->key_off, a->key_len) == 0)
			return 1;
	}
	return 0;
}

static int emit_patch(struct buf *out, const struct rec_edit *e, const struct patch *pt)
{
	const struct rec_edit_op *op = pt->op;
	switch (pt->kind) {
	case P_TEXT:
		return buf_adds(out, pt->text);
	case P_KEY:
	case P_KEY_FIRST:
		if (pt->kind == P_KEY && buf_addc(out, ',') < 0)
			return -1;
		if (json_add_str(out, e->data.p + op->key_off, op->key_len) < 0 ||
		    buf_addc(out, ':') < 0)
			return -1;
		break;
	}
	return buf_add(out, e->data.p + op->val_off, op->val_len);
}

int rec_edit_apply(const struct record *r, const struct rec_edit *e, struct buf *out)
{
	if (e->data.err || out->err)
		return -1;
	if (e->nops == 0)
		return buf_add(out, r->src, r->len);

	struct patch stack[64], *pt = stack;
	size_t maxp = e->nops + 4, np = 0;
	if (maxp > sizeof stack / sizeof stack[0] && !(pt = malloc(maxp * sizeof *pt)))
		return -1;

	/* Replacements in place, then per object the new keys, in the order
	 * they were given. */
	for (int obj = 0; obj < 2; obj++) {
		const struct rec_kv *kvs = obj ? r->fields : r->tags;
		size_t nkv = obj ? r->nfields : r->ntags;
		size_t o_off = obj ? r->fields_off : r->tags_off;
		size_t o_end = obj ? r->fields_end : r->tags_end;
		size_t ins;
		int first;
		if (o_end) {
			ins = nkv ? (size_t)(kvs[nkv - 1].val - r->src) + kvs[nkv - 1].val_len
				  : o_off + 1;
			first = nkv == 0;
		} else {
			ins = r->last_end;
			first = 1;
		}
		int opened = 0;
		for (size_t i = 0; i < e->nops; i++) {
			const struct rec_edit_op *op = &e->ops[i];
			if (op->is_field != obj || op_shadowed(e, i))
				continue;
			const struct rec_kv *kv =
			    find_kv(kvs, nkv, e->data.p + op->key_off, op->key_len);
			if (kv) {
				pt[np] = (struct patch){(size_t)(kv->val - r->src),
							kv->val_len,
							np,
							P_REPLACE,
							op,
							NULL};
				np++;
				continue;
			}
			if (!o_end && !opened) {
				pt[np] = (struct patch){
				    ins,    0,	  np,
				    P_TEXT, NULL, obj ? ",\"fields\":{" : ",\"tags\":{"};
				np++;
				opened = 1;
			}
			pt[np] = (struct patch){ins, 0, np, first ? P_KEY_FIRST : P_KEY, op, NULL};
			np++;
			first = 0;
		}
		if (opened) {
			pt[np] = (struct patch){ins, 0, np, P_TEXT, NULL, "}"};
			np++;
		}
	}

	for (size_t i = 1; i < np; i++) {
		struct patch x = pt[i];
		size_t j = i;
		while (j > 0 && (pt[j - 1].off > x.off ||
				 (pt[j - 1].off == x.off && pt[j - 1].seq > x.seq))) {
			pt[j] = pt[j - 1];
			j--;
		}
		pt[j] = x;
	}

	int rc = buf_reserve(out, r->len + e->data.len + 64);
	size_t pos = 0;
	for (size_t i = 0; i < np && rc == 0; i++) {
		rc = buf_add(out, r->src + pos, pt[i].off - pos);
		if (rc == 0)
			rc = emit_patch(out, e, &pt[i]);
		pos = pt[i].off + pt[i].del;
	}
	if (rc == 0)
		rc = buf_add(out, r->src + pos, r->len - pos);
	if (pt != stack)
		free(pt);
	return rc;
}

static int write_kvs(struct buf *out, const struct rec_kv *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addc(out, ',');
		buf_add(out, a[i].key, a[i].key_len);
		buf_addc(out, ':');
		buf_add(out, a[i].val, a[i].val_len);
	}
	return out->err ? -1 : 0;
}

int rec_write(const struct record *r, struct buf *out)
{
	if (buf_reserve(out, r->len + 48) < 0)
		return -1;
	buf_add(out, "{\"measurement\":", 15);
	buf_add(out, r->meas, r->meas_len);
	buf_add(out, ",\"tags\":{", 9);
	write_kvs(out, r->tags, r->ntags);
	buf_add(out, "},\"fields\":{", 12);
	write_kvs(out, r->fields, r->nfields);
	buf_addc(out, '}');
	if (r->has_time) {
		buf_add(out, ",\"time\":", 8);
		buf_add_i64(out, r->time);
	}
	buf_addc(out, '}');
	return out->err ? -1 : 0;
}
