/* The JSON scanner every reader in the tree uses: the record codec, the CDN
 * map, llvm-symbolizer's answers, JSON request bodies (through the codec)
 * and source maps (which read a stream, and take the pieces: escapes,
 * surrogates, UTF-8, the run finder).
 * R8's mapping metadata reads the lenient JSON Gson reads (JSON_LENIENT).
 *
 * It works on bytes in memory, p up to end, and returns the position just
 * past what it read; NULL on failure, with a json_fail saying what and
 * where. That is a code, not a message: the codec's hot path must not format
 * text, and each reader words its errors its own way (json_strerror() is the
 * codec's wording, which others may use). Nothing here allocates except the
 * decoders that write into a struct buf.
 *
 * One rule for surrogates: \u escapes of a high and a low half in a row are
 * one code point; a half alone is an error (UTF-8 cannot carry it), unless
 * the caller asks for JSON_LONE_FFFD.
 *
 * What runs per record is inline here; json.c has the rest. */
#ifndef RUM_JSON_H
#define RUM_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "hex.h"
#include "utf8.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The string and number scanners are inlined into their caller whatever
 * the compiler thinks of their size: the codec calls json_scan_number for
 * every number from one small wrapper, and a call more there cost it 2 %
 * of its instructions (cachegrind, contrib/bench's sample mix). */
#if defined(__GNUC__)
#define JSON_INLINE static inline __attribute__((always_inline))
#else
#define JSON_INLINE static inline
#endif

enum json_err {
	JSON_OK,
	JSON_E_UNTERMINATED, /* a string without its closing quote */
	JSON_E_ESCAPE,	     /* a backslash before none of "\/bfnrtu */
	JSON_E_U_ESCAPE,     /* \u without four hex digits */
	JSON_E_SURROGATE,    /* a surrogate half without its other half */
	JSON_E_CONTROL,	     /* a control character in a string */
	JSON_E_UTF8,	     /* invalid UTF-8 in a string (JSON_UTF8) */
	JSON_E_NUMBER,	     /* not a number's syntax; at: the byte that is wrong */
	JSON_E_INT_RANGE,    /* an integer past int64_t (JSON_NUM_RANGE) */
	JSON_E_RANGE,	     /* a number past a double (JSON_NUM_RANGE) */
	JSON_E_LITERAL,	     /* t, f or n not starting true, false, null */
	JSON_E_VALUE,	     /* no value starts here */
	JSON_E_END,	     /* the input ends where more was needed */
	JSON_E_KEY,	     /* an object member without a string key */
	JSON_E_COLON,	     /* a key not followed by ':' */
	JSON_E_OBJ_SEP,	     /* a member not followed by ',' or '}' */
	JSON_E_ARR_SEP,	     /* an element not followed by ',' or ']' */
	JSON_E_DEPTH,	     /* arrays and objects nested past the bound */
};

struct json_fail {
	const char *at; /* where in the input */
	enum json_err code;
};

/* Flags of the string, number and value scanners. */
enum {
	/* Bytes of strings must be valid UTF-8 (records: what we write out
	 * must be valid, and we copy strings byte for byte). */
	JSON_UTF8 = 1,
	/* Integers must fit int64_t and other numbers a finite double
	 * (records: a number we keep must be one we can write again). */
	JSON_NUM_RANGE = 2,
	/* A lone surrogate half decodes to U+FFFD instead of failing. Only
	 * for source maps: JavaScript strings may hold lone halves, JSON.parse
	 * accepts them in every browser, and a build tool writes a map's
	 * "names" from such strings; refusing the map would lose every frame
	 * of the bundle over one name. */
	JSON_LONE_FFFD = 4,
	/* json_skip_value also takes JSON as Gson reads it by default
	 * (lenient): strings in single quotes, and keys and scalar values as
	 * bare words (json_scan_lenient_scalar). R8 writes its mapping
	 * metadata as JSON, its documentation and hand-written maps with
	 * single quotes and bare keys, and R8's retrace reads both. */
	JSON_LENIENT = 8,
};

/* The codec's message for a code ("unterminated string", ...). */
const char *json_strerror(enum json_err code);

static inline const char *json_skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* The first byte from p on that ends a run of plain string bytes: '"', '\\',
 * a control character and, when non_ascii, any byte >= 0x80 (for readers
 * that validate UTF-8 one sequence at a time); end when there is none.
 * Sixteen bytes at a time with SSE2, then eight. */
static inline const char *json_plain_end(const char *p, const char *end, int non_ascii)
{
#if defined(__SSE2__)
	const __m128i quote = _mm_set1_epi8('"');
	const __m128i bslash = _mm_set1_epi8('\\');
	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash));
		if (non_ascii)
			/* Signed compare: bytes >= 0x80 are negative, so
			 * "< 0x20" catches both. */
			m = _mm_or_si128(m, _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
		else
			/* v <= 0x1f unsigned: nothing left after subtracting
			 * 0x1f with saturation. */
			m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_subs_epu8(v, _mm_set1_epi8(0x1f)),
							   _mm_setzero_si128()));
		int bits = _mm_movemask_epi8(m);
		if (bits)
			return p + __builtin_ctz((unsigned)bits);
		p += 16;
	}
#endif
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Of the bytes these bit tricks flag, the lowest is always a true
	 * match (borrows only run upwards from one), and that is the one
	 * taken. */
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	/* With SSE2, the codec's strings (non_ascii) are short and measured
	 * faster byte by byte after it than eight at a time. */
	while (end - p >= 8
#if defined(__SSE2__)
	       && !non_ascii
#endif
	) {
		uint64_t x;
		memcpy(&x, p, 8);
		uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
		uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x);
		if (non_ascii)
			hit |= x;
		hit &= highs;
		if (hit)
			return p + (__builtin_ctzll(hit) >> 3);
		p += 8;
	}
#endif
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || (non_ascii && c >= 0x80) || c == '"' || c == '\\')
			break;
		p++;
	}
	return p;
}

/* The byte a one-letter escape (the letter after the backslash) stands for,
 * or -1: 'u' and anything not an escape. */
static inline int json_escape_byte(int c)
{
	switch (c) {
	case '"':
	case '\\':
	case '/':
		return c;
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	}
	return -1;
}

/* The value of the four hex digits at p (which has four bytes), or -1. */
static inline int json_hex4(const char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int d = hex_digit((unsigned char)p[i]);
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* p is at a backslash inside a string that ends before end. Writes what the
 * escape stands for (1..4 bytes of UTF-8) to o and returns how many, with
 * *adv the input bytes taken; or minus a JSON_E_* code. */
static inline int json_escape(const char *p, const char *end, unsigned flags, char *o, size_t *adv)
{
	if (end - p < 2)
		return -JSON_E_UNTERMINATED;
	*adv = 2;
	if (p[1] != 'u') {
		int c = json_escape_byte((unsigned char)p[1]);
		if (c < 0)
			return -JSON_E_ESCAPE;
		o[0] = (char)c;
		return 1;
	}
	int u = end - p >= 6 ? json_hex4(p + 2) : -1;
	if (u < 0)
		return -JSON_E_U_ESCAPE;
	uint32_t cp = (uint32_t)u;
	*adv = 6;
	if (utf16_high(cp)) {
		int lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? json_hex4(p + 8) : -1;
		if (lo >= 0 && utf16_low((uint32_t)lo)) {
			cp = utf16_join(cp, (uint32_t)lo);
			*adv = 12;
		} else if (flags & JSON_LONE_FFFD) {
			cp = UTF8_REPLACEMENT;
		} else {
			return -JSON_E_SURROGATE;
		}
	} else if (utf16_low(cp)) {
		if (!(flags & JSON_LONE_FFFD))
			return -JSON_E_SURROGATE;
		cp = UTF8_REPLACEMENT;
	}
	return utf8_encode(cp, o);
}

/* A string token: q is at its opening quote. Returns the position past the
 * closing quote, *esc set when the string has escapes; or NULL. */
JSON_INLINE const char *json_scan_string(const char *q, const char *end, unsigned flags, int *esc,
					 struct json_fail *f)
{
	q++;
	for (;;) {
		q = json_plain_end(q, end, flags & JSON_UTF8);
		if (q >= end) {
			f->at = end;
			f->code = JSON_E_UNTERMINATED;
			return NULL;
		}
		unsigned char ch = (unsigned char)*q;
		if (ch == '"')
			return q + 1;
		if (ch == '\\') {
			char tmp[4];
			size_t adv;
			int k = json_escape(q, end, flags, tmp, &adv);
			if (k < 0) {
				f->at = q;
				f->code = (enum json_err) - k;
				return NULL;
			}
			*esc = 1;
			q += adv;
			continue;
		}
		if (ch < 0x20) {
			f->at = q;
			f->code = JSON_E_CONTROL;
			return NULL;
		}
		int l = utf8_seq_len(q, end);
		if (!l) {
			f->at = q;
			f->code = JSON_E_UTF8;
			return NULL;
		}
		q += l;
	}
}

/* The range check of big floats (json.c): only a number with this many
 * digits before its point, exponent included, can overflow a double. */
int json_double(const char *tok, size_t n, double *v);

static inline int json_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

struct json_num {
	int is_int; /* no fraction and no exponent */
	int64_t i;  /* its value, when is_int and JSON_NUM_RANGE */
};

static inline const char *json_num_fail(struct json_fail *f, const char *at, enum json_err code)
{
	f->at = at;
	f->code = code;
	return NULL;
}

/* A number: q is at its first byte. Returns the position past it, or NULL.
 * JSON_E_NUMBER points at the byte that is wrong (for "01", the '1'). */
JSON_INLINE const char *json_scan_number(const char *q, const char *end, unsigned flags,
					 struct json_num *num, struct json_fail *f)
{
	const char *start = q;
	int neg = 0;
	if (q < end && *q == '-') {
		neg = 1;
		q++;
	}
	if (q >= end || !json_is_digit(*q))
		return json_num_fail(f, q, JSON_E_NUMBER);
	uint64_t v = 0;
	int ovf = 0;
	const char *ds = q;
	if (*q == '0') {
		q++;
	} else {
		while (q < end && json_is_digit(*q)) {
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
		if (q >= end || !json_is_digit(*q))
			return json_num_fail(f, q, JSON_E_NUMBER);
		while (q < end && json_is_digit(*q))
			q++;
		isfloat = 1;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		int eneg = 0;
		if (q < end && (*q == '+' || *q == '-'))
			eneg = *q++ == '-';
		if (q >= end || !json_is_digit(*q))
			return json_num_fail(f, q, JSON_E_NUMBER);
		while (q < end && json_is_digit(*q)) {
			if (exp < 100000)
				exp = exp * 10 + (*q - '0');
			q++;
		}
		if (eneg)
			exp = -exp;
		isfloat = 1;
	}
	if (q < end && json_is_digit(*q))
		return json_num_fail(f, q, JSON_E_NUMBER); /* after a leading zero */
	num->is_int = !isfloat;
	if (!isfloat) {
		uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		if (ovf || v > lim) {
			if (flags & JSON_NUM_RANGE)
				return json_num_fail(f, start, JSON_E_INT_RANGE);
			v = lim;
		}
		if (!neg)
			num->i = (int64_t)v;
		else
			num->i = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
		return q;
	}
	/* Only a number this large can overflow a double. */
	if ((flags & JSON_NUM_RANGE) && intdigits + exp > 300) {
		double d;
		if (json_double(start, (size_t)(q - start), &d) < 0)
			return json_num_fail(f, start, JSON_E_RANGE);
	}
	return q;
}

/* true, false or null at q (q is at its first letter). */
static inline const char *json_scan_literal(const char *q, const char *end, struct json_fail *f)
{
	/* memcmp of a constant size is inlined; of a variable one, it was a
	 * libc call for every literal of the codec (0.7 % of its time). */
	size_t avail = (size_t)(end - q), n = 4;
	int ok;
	if (*q == 't') {
		ok = avail >= 4 && memcmp(q, "true", 4) == 0;
	} else if (*q == 'f') {
		n = 5;
		ok = avail >= 5 && memcmp(q, "false", 5) == 0;
	} else {
		ok = avail >= 4 && memcmp(q, "null", 4) == 0;
	}
	if (!ok) {
		f->at = q;
		f->code = JSON_E_LITERAL;
		return NULL;
	}
	return q + n;
}

/* Any value, checked and skipped: q is at its first byte (no whitespace
 * before it). depth is the value's own nesting level; an array or object at
 * max_depth or deeper fails with JSON_E_DEPTH. */
const char *json_skip_value(const char *q, const char *end, int depth, int max_depth,
			    unsigned flags, struct json_fail *f);

/* A scalar as JSON_LENIENT reads it, q at its first byte: a string in
 * double quotes (checked as json_scan_string does) or in single quotes, or
 * a bare word (a number, a literal, an unquoted name: the bytes up to a
 * blank or one of ,:{}[]). *s and *n get a string's bytes between its
 * quotes, escapes left as they are, or the word. Returns the position past
 * it, or NULL (JSON_E_UNTERMINATED, a bad escape, or JSON_E_VALUE: nothing
 * that is a scalar). */
const char *json_scan_lenient_scalar(const char *q, const char *end, const char **s, size_t *n,
				     struct json_fail *f);

/* Decode a checked string token (quotes included) to UTF-8. Without
 * escapes the result points into the token and scratch is unused; else it
 * is decoded into scratch (reset first). 0, or -1 (a bad token, or no
 * memory: then scratch->err is set). */
int json_unescape(const char *tok, size_t n, unsigned flags, struct buf *scratch, const char **s,
		  size_t *len);

/* Appends what a checked string token (quotes included) stands for to out.
 * 0, or -1 (a bad token, or no memory: then out->err is set). */
int json_decode_append(const char *tok, size_t n, unsigned flags, struct buf *out);

/* JSON writers. json_add_str escapes (", \, control characters) and
 * replaces invalid UTF-8 with U+FFFD. */
int json_add_str(struct buf *b, const char *s, size_t n);
/* A float always with a '.' or an exponent; non-finite values are refused. */
int json_add_double(struct buf *b, double v);

#endif
