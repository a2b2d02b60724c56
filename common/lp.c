/* InfluxDB line protocol as DataKit's RUM input reads it from the SDKs:
 * a parser that works on a whole request body (no copy, no allocation per
 * point once the point's arrays have grown), the conversion of a point to a
 * JSON record, and the writer of a record back to line protocol. */
#include "lp.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Byte classes: one table lookup per byte in the scanning loops. */
enum {
	CL_NL = 1,
	CL_SP = 2,
	CL_COMMA = 4,
	CL_EQ = 8,
	CL_BSL = 16,
	CL_CR = 32,
	CL_HI = 64, /* non-ASCII: keys are checked for valid UTF-8 */
	CL_QUOTE = 128,
	CL_CTL = 256, /* control characters but '\n': JSON escapes them */
};

// clang-format off
static const unsigned short cls[256] = {
	256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 1, 256, 256, 288, 256, 256,
	256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256,
	2, 0, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
};
// clang-format on

#define CLS(c) cls[(unsigned char)(c)]
/* The characters a backslash escapes in names and tag values. */
#define CL_ESCAPABLE (CL_COMMA | CL_EQ | CL_SP)

int lp_precision_parse(const char *s, enum lp_precision *p)
{
	static const struct {
		const char *name;
		enum lp_precision p;
	} names[] = {
	    {"ns", LP_NS}, {"n", LP_NS}, {"us", LP_US}, {"u", LP_US},
	    {"ms", LP_MS}, {"s", LP_S},	 {"m", LP_M},	{"h", LP_H},
	};
	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(s, names[i].name) == 0) {
			*p = names[i].p;
			return 0;
		}
	}
	return -1;
}

int lp_time_to_ns(int64_t t, enum lp_precision p, int64_t *ns)
{
	if (p == LP_GUESS) {
		/* |t| without overflowing on INT64_MIN */
		uint64_t a = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
		if (a < 10000000000ull)
			p = LP_S;
		else if (a < 10000000000000ull)
			p = LP_MS;
		else if (a < 10000000000000000ull)
			p = LP_US;
		else
			p = LP_NS;
	}
	int64_t mul;
	switch (p) {
	case LP_NS:
		*ns = t;
		return 0;
	case LP_US:
		mul = 1000;
		break;
	case LP_MS:
		mul = 1000000;
		break;
	case LP_S:
		mul = 1000000000;
		break;
	case LP_M:
		mul = 60ll * 1000000000;
		break;
	case LP_H:
		mul = 3600ll * 1000000000;
		break;
	default:
		return -1;
	}
	if (__builtin_mul_overflow(t, mul, ns))
		return -1;
	return 0;
}

void lp_parser_init(struct lp_parser *ps, const char *p, size_t n, enum lp_precision precision,
		    int64_t now_ns)
{
	memset(ps, 0, sizeof *ps);
	if (!p) { /* an empty body may come as NULL: no arithmetic on it */
		p = "";
		n = 0;
	}
	ps->p = p;
	ps->end = p + n;
	ps->line = 1;
	ps->line_start = p;
	ps->precision = precision;
	ps->now_ns = now_ns;
}

void lp_point_free(struct lp_point *pt)
{
	free(pt->tags);
	free(pt->fields);
	free(pt->dup_tab);
	memset(pt, 0, sizeof *pt);
}

/* Where a point started: errors are located from there, and only on the
 * error path, so the scanners need not track columns. */
struct pstart {
	size_t line;
	const char *line_start;
};

static int fail(struct lp_parser *ps, const struct pstart *st, const char *at, const char *reason,
		struct lp_error *err)
{
	size_t line = st->line;
	const char *ls = st->line_start;
	for (const char *q = ls; q < at; q++) {
		if (*q == '\n') {
			line++;
			ls = q + 1;
		}
	}
	ps->err.line = line;
	ps->err.column = (size_t)(at - ls) + 1;
	ps->err.reason = reason;
	ps->failed = 1;
	ps->p = ps->end;
	*err = ps->err;
	return -1;
}

/* What a scan saw besides plain bytes. */
enum { SF_ESC = 1, SF_HI = 2, SF_CTL = 4 };

/* The bytes a name scan must look at: its terminators, backslashes, and
 * what JSON cannot take as it is ('"', control and non-ASCII bytes). */
#define NAME_CAND (CL_NL | CL_SP | CL_COMMA | CL_EQ | CL_BSL | CL_HI | CL_QUOTE | CL_CTL)
/* The same for a string field. */
#define STR_CAND (CL_QUOTE | CL_BSL | CL_NL | CL_CTL | CL_HI)

/* The first byte at or after p of a string field that is not plain
 * (STR_CAND), 16 bytes at a time where SSE2 is there. */
static inline const char *find_str_cand(const char *p, const char *end)
{
#if defined(__SSE2__)
	const __m128i quote = _mm_set1_epi8('"');
	const __m128i bsl = _mm_set1_epi8('\\');
	const __m128i sp = _mm_set1_epi8(0x20);
	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		/* signed compare: non-ASCII bytes are below 0x20 too */
		__m128i m =
		    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bsl)),
				 _mm_cmplt_epi8(v, sp));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);
		if (bits)
			return p + __builtin_ctz(bits);
		p += 16;
	}
#endif
	while (p < end && !(CLS(*p) & STR_CAND))
		p++;
	return p;
}

/* Name scans go through the line a token at a time, and tokens are
 * shorter than a 16-byte block: each block is classified once and its
 * candidate bits kept for the tokens that follow in it. */
struct names {
	const char *blk; /* start of the classified block, or NULL */
	unsigned bits;	 /* its NAME_CAND bytes, bit i for blk[i] */
};

static inline const char *next_name_cand(struct names *nc, const char *p, const char *end)
{
#if defined(__SSE2__)
	for (;;) {
		if (nc->blk && p >= nc->blk && p < nc->blk + 16) {
			unsigned m = nc->bits >> (p - nc->blk);
			if (m)
				return p + __builtin_ctz(m);
			p = nc->blk + 16;
		}
		if (end - p < 16)
			break;
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
						      _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
					 _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(',')),
						      _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));
		m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('=')),
						 _mm_cmpeq_epi8(v, _mm_set1_epi8(' '))));
		nc->blk = p;
		nc->bits = (unsigned)_mm_movemask_epi8(m);
	}
#else
	(void)nc;
#endif
	while (p < end && !(CLS(*p) & NAME_CAND))
		p++;
	return p;
}

/* Scan a name or tag value up to an unescaped byte of class `stop`. A
 * backslash escapes the next byte only if it is escapable, so "\\," is a
 * literal backslash then an escaped comma, as DataKit reads it. */
static inline const char *scan_name(struct names *nc, const char *p, const char *end, unsigned stop,
				    unsigned *sf)
{
	for (;;) {
		p = next_name_cand(nc, p, end);
		if (p >= end)
			return p;
		unsigned c = CLS(*p);
		if (c & stop)
			return p;
		if (c & CL_BSL) {
			*sf |= SF_ESC;
			p += (p + 1 < end && (CLS(p[1]) & CL_ESCAPABLE)) ? 2 : 1;
			continue;
		}
		if (c & CL_HI)
			*sf |= SF_HI;
		else if (c & (CL_CTL | CL_QUOTE))
			*sf |= SF_CTL;
		p++; /* '=' in a measurement */
	}
}

/* Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		unsigned lo = 0x80, hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			len = 2;
		} else if (c >= 0xE0 && c <= 0xEF) {
			len = 3;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			len = 4;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k < len; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
		i += len;
	}
	return 1;
}

static int grow(struct lp_kv **a, size_t *cap, size_t max)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	if (ncap > max)
		ncap = max;
	if (ncap <= *cap)
		return -1;
	struct lp_kv *n = realloc(*a, ncap * sizeof **a);
	if (!n)
		return -1;
	*a = n;
	*cap = ncap;
	return 0;
}

/* A word-at-a-time hash, seeded per table (an address) so that keys made
 * to collide cannot be prepared in advance. */
static inline uint64_t load64(const char *s)
{
	uint64_t w;
	memcpy(&w, s, 8);
	return w;
}

static inline uint64_t load32(const char *s)
{
	uint32_t w;
	memcpy(&w, s, 4);
	return w;
}

static uint32_t hash_key(const char *s, size_t n, uint64_t seed)
{
	const uint64_t k = 0x9E3779B97F4A7C15ull;
	uint64_t h = (seed ^ n) * k, w;
	size_t i = 0;
	for (; i + 8 < n; i += 8) {
		h = (h ^ load64(s + i)) * k;
		h ^= h >> 29;
	}
	/* The last 1..8 bytes, in fixed-size loads (overlapping when the key
	 * allows: n is in the hash already). */
	if (n >= 8)
		w = load64(s + n - 8);
	else if (n >= 4)
		w = load32(s) | load32(s + n - 4) << 32;
	else if (n)
		w = (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[n / 2] << 8 |
		    (uint64_t)(unsigned char)s[n - 1] << 16;
	else
		w = 0;
	h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
	h ^= h >> 32;
	return (uint32_t)h;
}

/* Index of the first key that repeats an earlier one, or -1. Raw keys can
 * be compared as they are: ',', '=' and ' ' must be escaped in a key and
 * nothing else may be, so each key has exactly one spelling. */
static long find_dup(struct lp_point *pt, const struct lp_kv *kv, size_t n, int *oom)
{
	if (n <= 8) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (kv[i].key_len == kv[j].key_len &&
				    memcmp(kv[i].key, kv[j].key, kv[i].key_len) == 0)
					return (long)i;
		return -1;
	}
	size_t cap = 16;
	while (cap < n * 2)
		cap *= 2;
	if (pt->dup_cap < cap) {
		uint32_t *t = realloc(pt->dup_tab, cap * sizeof *t);
		if (!t) {
			*oom = 1;
			return -1;
		}
		pt->dup_tab = t;
		pt->dup_cap = cap;
	}
	uint32_t *tab = pt->dup_tab;
	uint64_t seed = (uint64_t)(uintptr_t)tab;
	memset(tab, 0, cap * sizeof *tab);
	for (size_t i = 0; i < n; i++) {
		size_t h = hash_key(kv[i].key, kv[i].key_len, seed) & (cap - 1);
		while (tab[h]) {
			const struct lp_kv *o = &kv[tab[h] - 1];
			if (o->key_len == kv[i].key_len &&
			    memcmp(o->key, kv[i].key, o->key_len) == 0)
				return (long)i;
			h = (h + 1) & (cap - 1);
		}
		tab[h] = (uint32_t)i + 1;
	}
	return -1;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* [+-]digits with an i or u suffix already removed. */
static const char *check_int(const char *v, size_t n, int is_unsigned, unsigned *flags)
{
	size_t i = 0;
	int neg = 0, canon = 1;
	if (n && (v[0] == '-' || v[0] == '+')) {
		neg = v[0] == '-';
		canon = !(v[0] == '+');
		i++;
	}
	if (i == n)
		return is_unsigned ? "invalid unsigned integer" : "invalid integer";
	if (neg && is_unsigned)
		return "negative unsigned integer";
	if (v[i] == '0' && n - i > 1)
		canon = 0;
	uint64_t acc = 0;
	uint64_t limit = is_unsigned ? UINT64_MAX : neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;
	for (; i < n; i++) {
		if (!is_digit(v[i]))
			return is_unsigned ? "invalid unsigned integer" : "invalid integer";
		unsigned d = (unsigned)(v[i] - '0');
		if (acc > (limit - d) / 10)
			return is_unsigned ? "unsigned integer out of range (uint64)"
					   : "integer out of range (int64)";
		acc = acc * 10 + d;
	}
	if (canon)
		*flags |= LPF_NUM_JSON;
	return NULL;
}

static int ieq(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	if (n != k)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return 0;
	}
	return 1;
}

/* [+-](digits[.digits*]|.digits)([eE][+-]digits)?; checks the range with
 * strtod only when the literal could be out of double's range. */
static const char *check_float(const char *v, size_t n, unsigned *flags)
{
	size_t i = 0;
	int canon = 1;
	if (v[0] == '+' || v[0] == '-') {
		canon = v[0] == '-';
		i++;
	}
	size_t int_start = i;
	while (i < n && is_digit(v[i]))
		i++;
	size_t nint = i - int_start;
	if (nint > 1 && v[int_start] == '0')
		canon = 0;
	size_t nfrac = 0;
	int dot = 0, exp = 0;
	if (i < n && v[i] == '.') {
		dot = 1;
		i++;
		size_t f = i;
		while (i < n && is_digit(v[i]))
			i++;
		nfrac = i - f;
		if (nfrac == 0)
			canon = 0;
	}
	if (nint + nfrac == 0)
		goto bad;
	if (nint == 0)
		canon = 0;
	if (i < n && (v[i] == 'e' || v[i] == 'E')) {
		exp = 1;
		i++;
		if (i < n && (v[i] == '+' || v[i] == '-'))
			i++;
		size_t e = i;
		while (i < n && is_digit(v[i]))
			i++;
		if (i == e)
			goto bad;
	}
	if (i != n)
		goto bad;
	if (!dot && !exp)
		canon = 0; /* "1" is a float in line protocol, 1.0 in JSON */
	size_t lead = int_start;
	while (lead < int_start + nint && v[lead] == '0')
		lead++;
	if (exp || int_start + nint - lead >= 309) {
		/* Rare: strtod needs a terminated copy. */
		char stackbuf[128];
		char *tmp = n < sizeof stackbuf ? stackbuf : malloc(n + 1);
		if (!tmp)
			return "out of memory";
		memcpy(tmp, v, n);
		tmp[n] = 0;
		double d = strtod(tmp, NULL);
		if (tmp != stackbuf)
			free(tmp);
		if (isinf(d))
			return "float out of range";
	}
	if (canon)
		*flags |= LPF_NUM_JSON;
	return NULL;
bad : {
	size_t s = (v[0] == '+' || v[0] == '-') ? 1 : 0;
	if (ieq(v + s, n - s, "nan") || ieq(v + s, n - s, "inf") || ieq(v + s, n - s, "infinity"))
		return "NaN and Inf are not supported";
	return "invalid number";
}
}

/* Classify an unquoted field value. NULL, or the reason it is invalid. */
static const char *classify(struct lp_kv *kv)
{
	const char *v = kv->val;
	size_t n = kv->val_len;
	char last = v[n - 1];
	char first = v[0];
	if (is_digit(first) || first == '-' || first == '+' || first == '.') {
		if (last == 'i' || last == 'u') {
			kv->type = last == 'i' ? LPV_INT : LPV_UINT;
			kv->val_len = n - 1;
			return check_int(v, n - 1, last == 'u', &kv->flags);
		}
		kv->type = LPV_FLOAT;
		return check_float(v, n, &kv->flags);
	}
	kv->type = LPV_BOOL;
	switch (n) {
	case 1:
		if (first == 't' || first == 'T') {
			kv->bool_val = 1;
			return NULL;
		}
		if (first == 'f' || first == 'F') {
			kv->bool_val = 0;
			return NULL;
		}
		break;
	case 4:
		if (!memcmp(v, "true", 4) || !memcmp(v, "True", 4) || !memcmp(v, "TRUE", 4)) {
			kv->bool_val = 1;
			return NULL;
		}
		break;
	case 5:
		if (!memcmp(v, "false", 5) || !memcmp(v, "False", 5) || !memcmp(v, "FALSE", 5)) {
			kv->bool_val = 0;
			return NULL;
		}
		break;
	}
	if (ieq(v, n, "nan") || ieq(v, n, "inf") || ieq(v, n, "infinity"))
		return "NaN and Inf are not supported";
	return "invalid field value";
}

static int parse_time(const char *t, size_t n, int64_t *v)
{
	size_t i = 0;
	int neg = 0;
	if (n && t[0] == '-') {
		neg = 1;
		i++;
	}
	if (i == n)
		return -1;
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX, acc = 0;
	for (; i < n; i++) {
		if (!is_digit(t[i]))
			return -1;
		unsigned d = (unsigned)(t[i] - '0');
		if (acc > (limit - d) / 10)
			return -2;
		acc = acc * 10 + d;
	}
	*v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	return 0;
}

int lp_next(struct lp_parser *ps, struct lp_point *pt, struct lp_error *err)
{
	if (ps->failed) {
		*err = ps->err;
		return -1;
	}
	const char *p = ps->p, *end = ps->end;

	/* Blank lines and comments. */
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p == '\r' && (p + 1 == end || p[1] == '\n'))
			p++;
		if (p >= end) {
			ps->p = p;
			return 0;
		}
		if (*p == '#') {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			p = nl ? nl : end;
		}
		if (p >= end) {
			ps->p = p;
			return 0;
		}
		if (*p != '\n')
			break;
		p++;
		ps->line++;
		ps->line_start = p;
	}

	struct pstart st = {ps->line, ps->line_start};
	pt->line = ps->line;
	pt->ntags = pt->nfields = 0;
	pt->meas_flags = 0;

	unsigned sf = 0;
	struct names nc = {NULL, 0};
	const char *m = p;
	p = scan_name(&nc, p, end, CL_NL | CL_SP | CL_COMMA, &sf);
	if (p == m)
		return fail(ps, &st, p, "empty measurement", err);
	pt->meas = m;
	pt->meas_len = (size_t)(p - m);
	pt->meas_flags = (sf & SF_ESC ? LPF_KEY_ESC : 0) | (sf ? 0 : LPF_KEY_SAFE);

	while (p < end && *p == ',') {
		p++;
		if (pt->ntags == pt->tags_cap && grow(&pt->tags, &pt->tags_cap, LP_MAX_TAGS) < 0)
			return fail(ps, &st, p,
				    pt->tags_cap == LP_MAX_TAGS ? "too many tags" : "out of memory",
				    err);
		struct lp_kv *kv = &pt->tags[pt->ntags];
		sf = 0;
		const char *k = p;
		p = scan_name(&nc, p, end, CL_NL | CL_SP | CL_COMMA | CL_EQ, &sf);
		if (p == k)
			return fail(ps, &st, p, "empty tag key", err);
		if (p >= end || *p != '=')
			return fail(ps, &st, p, "tag without value (missing '=')", err);
		if ((sf & SF_HI) && !utf8_valid((const unsigned char *)k, (size_t)(p - k)))
			return fail(ps, &st, k, "invalid UTF-8 in tag key", err);
		kv->key = k;
		kv->key_len = (size_t)(p - k);
		kv->flags = (sf & SF_ESC ? LPF_KEY_ESC : 0) | (sf ? 0 : LPF_KEY_SAFE);
		p++;
		sf = 0;
		const char *v = p;
		p = scan_name(&nc, p, end, CL_NL | CL_SP | CL_COMMA | CL_EQ, &sf);
		if (p == v)
			return fail(ps, &st, p, "empty tag value", err);
		if (p < end && *p == '=')
			return fail(ps, &st, p, "unescaped '=' in tag value", err);
		kv->val = v;
		kv->val_len = (size_t)(p - v);
		kv->type = LPV_STRING;
		kv->bool_val = 0;
		kv->flags |= (sf & SF_ESC ? LPF_VAL_ESC : 0) | (sf ? 0 : LPF_VAL_SAFE);
		pt->ntags++;
	}
	if (p >= end || *p != ' ')
		return fail(ps, &st, p, "missing fields", err);
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p == '\n' || *p == '\r')
		return fail(ps, &st, p, "missing fields", err);

	size_t line = ps->line; /* advanced by newlines inside strings */
	const char *line_start = ps->line_start;
	for (;;) {
		if (pt->nfields == pt->fields_cap &&
		    grow(&pt->fields, &pt->fields_cap, LP_MAX_FIELDS) < 0)
			return fail(ps, &st, p,
				    pt->fields_cap == LP_MAX_FIELDS ? "too many fields"
								    : "out of memory",
				    err);
		struct lp_kv *kv = &pt->fields[pt->nfields];
		sf = 0;
		const char *k = p;
		p = scan_name(&nc, p, end, CL_NL | CL_SP | CL_COMMA | CL_EQ, &sf);
		if (p == k)
			return fail(ps, &st, p, "empty field key", err);
		if (p >= end || *p != '=')
			return fail(ps, &st, p, "field without value (missing '=')", err);
		if ((sf & SF_HI) && !utf8_valid((const unsigned char *)k, (size_t)(p - k)))
			return fail(ps, &st, k, "invalid UTF-8 in field key", err);
		kv->key = k;
		kv->key_len = (size_t)(p - k);
		kv->flags = (sf & SF_ESC ? LPF_KEY_ESC : 0) | (sf ? 0 : LPF_KEY_SAFE);
		kv->bool_val = 0;
		p++;
		if (p < end && *p == '"') {
			const char *q = p++;
			const char *s = p;
			sf = 0;
			for (;;) {
				p = find_str_cand(p, end);
				if (p >= end)
					return fail(ps, &st, q, "unterminated string", err);
				if (*p == '"')
					break;
				if (*p == '\\') {
					sf |= SF_ESC;
					p += (p + 1 < end && (p[1] == '"' || p[1] == '\\')) ? 2 : 1;
					continue;
				}
				sf |= SF_CTL;
				if (*p++ == '\n') {
					line++;
					line_start = p;
				}
			}
			kv->flags |= (sf & SF_ESC ? LPF_VAL_ESC : 0) | (sf ? 0 : LPF_VAL_SAFE);
			kv->val = s;
			kv->val_len = (size_t)(p - s);
			kv->type = LPV_STRING;
			p++;
			if (p < end && !(CLS(*p) & (CL_COMMA | CL_SP | CL_NL | CL_CR)))
				return fail(ps, &st, p, "expected ',' or ' ' after string field",
					    err);
		} else {
			const char *v = p;
			while (p < end && !(CLS(*p) & (CL_COMMA | CL_SP | CL_NL | CL_CR)))
				p++;
			if (p == v)
				return fail(ps, &st, p, "missing field value", err);
			kv->val = v;
			kv->val_len = (size_t)(p - v);
			const char *why = classify(kv);
			if (why)
				return fail(ps, &st, v, why, err);
		}
		pt->nfields++;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		break;
	}

	pt->time_ns = ps->now_ns;
	const char *after = "unexpected text after the fields";
	if (p < end && *p == ' ') {
		while (p < end && *p == ' ')
			p++;
		const char *t = p;
		while (p < end && !(CLS(*p) & (CL_SP | CL_NL | CL_CR)) && *p != '\t')
			p++;
		if (p > t) {
			int64_t ts;
			int r = parse_time(t, (size_t)(p - t), &ts);
			if (r == -1)
				return fail(ps, &st, t, "bad timestamp", err);
			if (r == -2 || lp_time_to_ns(ts, ps->precision, &pt->time_ns) < 0)
				return fail(ps, &st, t, "timestamp out of range", err);
			after = "unexpected text after the timestamp";
		}
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
	}
	if (p < end && *p == '\r' && (p + 1 == end || p[1] == '\n'))
		p++;
	if (p < end) {
		if (*p != '\n')
			return fail(ps, &st, p, after, err);
		p++;
		line++;
		line_start = p;
	}

	int oom = 0;
	long d = find_dup(pt, pt->tags, pt->ntags, &oom);
	if (d >= 0)
		return fail(ps, &st, pt->tags[d].key, "duplicate tag key", err);
	d = oom ? -1 : find_dup(pt, pt->fields, pt->nfields, &oom);
	if (d >= 0)
		return fail(ps, &st, pt->fields[d].key, "duplicate field key", err);
	if (oom)
		return fail(ps, &st, m, "out of memory", err);

	ps->p = p;
	ps->line = line;
	ps->line_start = line_start;
	return 1;
}

int lp_unescape(struct buf *out, const char *s, size_t n, int is_string)
{
	size_t i = 0, run = 0;
	if (n == 0)
		return out->err ? -1 : 0;
	while (i < n) {
		if (s[i] == '\\' && i + 1 < n &&
		    (is_string ? (s[i + 1] == '"' || s[i + 1] == '\\')
			       : (CLS(s[i + 1]) & CL_ESCAPABLE) != 0)) {
			buf_add(out, s + run, i - run);
			run = i + 1; /* the escaped byte starts the next run */
			i += 2;
			continue;
		}
		i++;
	}
	buf_add(out, s + run, n - run);
	return out->err ? -1 : 0;
}

int lp_key_eq(const char *raw, size_t raw_len, const char *name)
{
	size_t i = 0;
	for (; i < raw_len; i++, name++) {
		char c = raw[i];
		if (c == '\\' && i + 1 < raw_len && (CLS(raw[i + 1]) & CL_ESCAPABLE))
			c = raw[++i];
		if (*name != c || *name == 0)
			return 0;
	}
	return *name == 0;
}

/* Room for n more bytes; the common case without a call. */
static inline int room(struct buf *b, size_t n)
{
	if (!b->err && b->cap - b->len >= n)
		return 0;
	return buf_reserve(b, n);
}

/* True when s[0..n) can go into a JSON string as it is: no '"', '\\',
 * control or non-ASCII byte (those take json_add_str's careful path). */
static inline int json_plain(const char *s, size_t n)
{
	size_t i = 0;
#if defined(__SSE2__)
	if (n >= 16) {
		const __m128i quote = _mm_set1_epi8('"');
		const __m128i bsl = _mm_set1_epi8('\\');
		const __m128i sp = _mm_set1_epi8(0x20);
		for (;; i += 16) {
			if (i + 16 > n)
				i = n - 16; /* the last block overlaps the one before */
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
			/* signed: non-ASCII bytes are below 0x20 too */
			__m128i m = _mm_or_si128(
			    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bsl)),
			    _mm_cmplt_epi8(v, sp));
			if (_mm_movemask_epi8(m))
				return 0;
			if (i + 16 == n)
				return 1;
		}
	}
#endif
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
			return 0;
	}
	return 1;
}

static int json_put(struct buf *out, const char *s, size_t n)
{
	if (!json_plain(s, n))
		return json_add_str(out, s, n);
	if (room(out, n + 2) < 0)
		return -1;
	char *o = out->p + out->len;
	*o++ = '"';
	memcpy(o, s, n);
	o[n] = '"';
	out->len += n + 2;
	return 0;
}

/* A name, tag value or string as a JSON string; flags as for a key
 * (LPF_KEY_ESC, LPF_KEY_SAFE; values shift theirs down to these). */
static int json_raw(struct buf *out, const char *s, size_t n, unsigned flags, int is_string)
{
	if (flags & LPF_KEY_SAFE) {
		if (room(out, n + 2) < 0)
			return -1;
		char *o = out->p + out->len;
		*o++ = '"';
		memcpy(o, s, n);
		o[n] = '"';
		out->len += n + 2;
		return 0;
	}
	if (!(flags & LPF_KEY_ESC))
		return json_add_str(out, s, n);
	char stackbuf[4096];
	if (n <= sizeof stackbuf) {
		/* Unescaping only shrinks. */
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '\\' && i + 1 < n &&
			    (is_string ? (s[i + 1] == '"' || s[i + 1] == '\\')
				       : (CLS(s[i + 1]) & CL_ESCAPABLE) != 0))
				i++;
			stackbuf[k++] = s[i];
		}
		return json_put(out, stackbuf, k);
	}
	struct buf tmp = BUF_INIT;
	int r = lp_unescape(&tmp, s, n, is_string);
	if (r == 0)
		r = json_put(out, tmp.p, tmp.len);
	buf_free(&tmp);
	return r;
}

/* Records carry int64 integers only (record.h): a larger unsigned value
 * becomes a float, written with all its digits. */
static int above_int64(const char *d, size_t n)
{
	return n > 19 || (n == 19 && memcmp(d, "9223372036854775807", 19) > 0);
}

/* A line-protocol number as JSON: integers without '+' or leading zeros;
 * floats with a digit before and after the '.', and a '.' unless there is
 * an exponent. Done on the text, so no digit of precision is lost. */
static int json_number(struct buf *out, const struct lp_kv *kv)
{
	const char *v = kv->val;
	size_t n = kv->val_len, i = 0;
	/* At most: the literal, a '0' before and after the '.', the '.'. */
	if (room(out, n + 4) < 0)
		return -1;
	char *o = out->p + out->len;
	if (kv->flags & LPF_NUM_JSON) {
		memcpy(o, v, n);
		o += n;
		if (kv->type == LPV_UINT && above_int64(v, n)) {
			*o++ = '.';
			*o++ = '0';
		}
		out->len = (size_t)(o - out->p);
		return 0;
	}
	if (v[0] == '-' || v[0] == '+') {
		if (v[0] == '-')
			*o++ = '-';
		i++;
	}
	size_t s = i;
	while (i < n && is_digit(v[i]))
		i++;
	size_t e = i;
	while (s + 1 < e && v[s] == '0')
		s++;
	if (s == e) {
		*o++ = '0';
	} else {
		memcpy(o, v + s, e - s);
		o += e - s;
	}
	int dot = 0;
	if (kv->type == LPV_UINT && above_int64(v + s, e - s))
		dot = 2; /* as a float: add ".0" */
	if (kv->type == LPV_FLOAT && i < n && v[i] == '.') {
		dot = 1;
		i++;
		size_t f = i;
		while (i < n && is_digit(v[i]))
			i++;
		*o++ = '.';
		if (i == f) {
			*o++ = '0';
		} else {
			memcpy(o, v + f, i - f);
			o += i - f;
		}
	}
	if (kv->type == LPV_FLOAT && i < n) { /* the exponent, valid JSON as it is */
		memcpy(o, v + i, n - i);
		o += n - i;
	} else if (dot == 2 || (kv->type == LPV_FLOAT && !dot)) {
		*o++ = '.';
		*o++ = '0';
	}
	out->len = (size_t)(o - out->p);
	return 0;
}

static inline int put_lit(struct buf *out, const char *s, size_t n)
{
	if (room(out, n) < 0)
		return -1;
	memcpy(out->p + out->len, s, n);
	out->len += n;
	return 0;
}

static inline int set_matches(const struct lp_kv *kv, const struct lp_tag_set *s)
{
	/* Most tags differ at the first byte (unless it is a backslash). */
	if (kv->key[0] != s->key[0] && kv->key[0] != '\\')
		return 0;
	return lp_key_eq(kv->key, kv->key_len, s->key);
}

/* "key":"value" of a tag whose key and value need neither unescaping nor
 * JSON escapes: the common case, in one reservation. */
static inline int json_plain_pair(struct buf *out, const struct lp_kv *kv, int comma)
{
	size_t kn = kv->key_len, vn = kv->val_len;
	if (room(out, kn + vn + 6) < 0)
		return -1;
	char *o = out->p + out->len;
	if (comma)
		*o++ = ',';
	*o++ = '"';
	memcpy(o, kv->key, kn);
	o += kn;
	memcpy(o, "\":\"", 3);
	o += 3;
	memcpy(o, kv->val, vn);
	o += vn;
	*o++ = '"';
	out->len = (size_t)(o - out->p);
	return 0;
}

int lp_point_to_json(const struct lp_point *pt, const struct lp_tag_set *set, size_t nset,
		     struct buf *out)
{
	size_t start = out->len;
	uint64_t matched = 0; /* set entries that replaced a tag (the first 64) */
	put_lit(out, "{\"measurement\":", 15);
	json_raw(out, pt->meas, pt->meas_len, pt->meas_flags, 0);
	put_lit(out, ",\"tags\":{", 9);
	int first = 1;
	for (size_t i = 0; i < pt->ntags; i++) {
		const struct lp_kv *kv = &pt->tags[i];
		const struct lp_tag_set *s = NULL;
		for (size_t j = 0; j < nset && !s; j++) {
			if (set_matches(kv, &set[j])) {
				s = &set[j];
				if (j < 64)
					matched |= 1ull << j;
			}
		}
		if (!s &&
		    (kv->flags & (LPF_KEY_SAFE | LPF_VAL_SAFE)) == (LPF_KEY_SAFE | LPF_VAL_SAFE)) {
			json_plain_pair(out, kv, !first);
			first = 0;
			continue;
		}
		if (!first)
			put_lit(out, ",", 1);
		first = 0;
		json_raw(out, kv->key, kv->key_len, kv->flags, 0);
		put_lit(out, ":", 1);
		if (s)
			json_add_str(out, s->val, s->val_len);
		else
			json_raw(out, kv->val, kv->val_len, kv->flags >> 1, 0);
	}
	for (size_t j = 0; j < nset; j++) {
		int seen = j < 64 ? (matched >> j) & 1 : 0;
		for (size_t i = 0; i < pt->ntags && !seen && j >= 64; i++)
			seen = set_matches(&pt->tags[i], &set[j]);
		for (size_t k = 0; k < j && !seen; k++)
			seen = strcmp(set[k].key, set[j].key) == 0;
		if (seen)
			continue;
		if (!first)
			put_lit(out, ",", 1);
		first = 0;
		json_add_str(out, set[j].key, strlen(set[j].key));
		put_lit(out, ":", 1);
		json_add_str(out, set[j].val, set[j].val_len);
	}
	put_lit(out, "},\"fields\":{", 12);
	for (size_t i = 0; i < pt->nfields; i++) {
		const struct lp_kv *kv = &pt->fields[i];
		if (i)
			put_lit(out, ",", 1);
		json_raw(out, kv->key, kv->key_len, kv->flags, 0);
		put_lit(out, ":", 1);
		switch (kv->type) {
		case LPV_STRING:
			json_raw(out, kv->val, kv->val_len, kv->flags >> 1, 1);
			break;
		case LPV_INT:
		case LPV_UINT:
		case LPV_FLOAT:
			json_number(out, kv);
			break;
		case LPV_BOOL:
			if (kv->bool_val)
				put_lit(out, "true", 4);
			else
				put_lit(out, "false", 5);
			break;
		}
	}
	put_lit(out, "},\"time\":", 9);
	buf_add_i64(out, pt->time_ns);
	put_lit(out, "}", 1);
	if (out->err) {
		if (out->len > start)
			out->len = start;
		return -1;
	}
	return 0;
}

/* A name or tag value as line protocol: ',', '=' and ' ' escaped, a
 * newline (which would end the line) as the two characters \n, trailing
 * backslashes (which would escape the separator after them) dropped. In a
 * measurement '=' is no separator and stays as it is, as InfluxDB writes
 * it, unless a backslash before it would make "\=" of it. */
static void lp_add_name(struct buf *out, const char *s, size_t n, int is_meas)
{
	while (n && s[n - 1] == '\\')
		n--;
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned c = CLS(s[i]);
		if (!(c & (CL_ESCAPABLE | CL_NL)))
			continue;
		if (is_meas && s[i] == '=' && (i == 0 || s[i - 1] != '\\'))
			continue;
		buf_add(out, s + run, i - run);
		if (c & CL_NL) {
			buf_add(out, "\\n", 2);
		} else {
			buf_addc(out, '\\');
			buf_addc(out, s[i]);
		}
		run = i + 1;
	}
	buf_add(out, s + run, n - run);
}

static size_t trimmed_len(const char *s, size_t n)
{
	while (n && s[n - 1] == '\\')
		n--;
	return n;
}

static void lp_add_string(struct buf *out, const char *s, size_t n)
{
	buf_addc(out, '"');
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		buf_add(out, s + run, i - run);
		buf_addc(out, '\\');
		run = i; /* the byte itself starts the next run */
	}
	buf_add(out, s + run, n - run);
	buf_addc(out, '"');
}

/* The writer looks at a record's bytes once, 16 at a time: one bit per byte
 * for backslashes (the token must be decoded first) and one for what a name
 * escapes (',', '=', ' ', a newline). A token with neither is copied as it
 * is, which is nearly every token. Longer records, whose bitmaps would not
 * fit on the stack, take the byte-by-byte path for every token. */
#define LPW_MAX 8192

struct lpw {
	const char *src;
	int mapped; /* the bitmaps below cover src */
	/* bit i of word w: byte 64 * w + i is a backslash (bsl), is either
	 * a backslash or one a name escapes (any) */
	uint64_t bsl[LPW_MAX / 64], any[LPW_MAX / 64];
};

static void lpw_map(struct lpw *w, const char *s, size_t n)
{
	size_t i = 0;
#if defined(__SSE2__)
	const __m128i bsl = _mm_set1_epi8('\\');
	const __m128i comma = _mm_set1_epi8(',');
	const __m128i eq = _mm_set1_epi8('=');
	const __m128i sp = _mm_set1_epi8(' ');
	const __m128i nl = _mm_set1_epi8('\n');
	for (; i + 64 <= n; i += 64) {
		uint64_t b = 0, e = 0;
		for (unsigned k = 0; k < 4; k++) {
			__m128i v =
			    _mm_loadu_si128((const __m128i *)(const void *)(s + i + 16 * k));
			__m128i m = _mm_or_si128(
			    _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, eq)),
			    _mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, nl)));
			b |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bsl))
			     << (16 * k);
			e |= (uint64_t)(unsigned)_mm_movemask_epi8(m) << (16 * k);
		}
		w->bsl[i / 64] = b;
		w->any[i / 64] = b | e;
	}
#endif
	for (; i < n; i += 64) {
		uint64_t b = 0, e = 0;
		for (size_t j = 0; j < 64 && i + j < n; j++) {
			unsigned c = CLS(s[i + j]);
			if (c & CL_BSL)
				b |= 1ull << j;
			if (c & (CL_ESCAPABLE | CL_NL))
				e |= 1ull << j;
		}
		w->bsl[i / 64] = b;
		w->any[i / 64] = b | e;
	}
	w->src = s;
	w->mapped = 1;
}

/* Any bit set for the bytes [a, b) of the record? */
static inline int lpw_any(const uint64_t *bm, size_t a, size_t b)
{
	if (a >= b)
		return 0;
	size_t wa = a / 64, wb = (b - 1) / 64;
	uint64_t first = ~0ull << (a % 64), last = ~0ull >> (63 - (b - 1) % 64);
	if (wa == wb)
		return (bm[wa] & first & last) != 0;
	if (bm[wa] & first)
		return 1;
	for (size_t i = wa + 1; i < wb; i++)
		if (bm[i])
			return 1;
	return (bm[wb] & last) != 0;
}

enum { TOK_COPY, TOK_ESCAPE, TOK_DECODED };

/* The content of a string token, decoded: in place when it has no
 * backslash (TOK_COPY, or TOK_ESCAPE when a name would need escapes),
 * else in scratch (TOK_DECODED; a name's trailing backslashes trimmed). -1 when
 * it cannot be decoded. */
static inline __attribute__((always_inline)) int lpw_str(const struct lpw *w, const char *tok,
							 size_t n, int name, struct buf *scratch,
							 const char **s, size_t *len)
{
	if (w->mapped && n >= 2) {
		size_t a = (size_t)(tok - w->src) + 1, b = a + n - 2;
		*s = tok + 1;
		*len = n - 2;
		if (!lpw_any(w->any, a, b))
			return TOK_COPY;
		if (!lpw_any(w->bsl, a, b))
			return TOK_ESCAPE;
	}
	if (rec_str(tok, n, scratch, s, len) < 0)
		return -1;
	if (name)
		*len = trimmed_len(*s, *len);
	return TOK_DECODED;
}

/* Callers have made room for 2 * n bytes. */
/* Tokens are short: copied in one or two fixed 16-byte moves (no call)
 * when the record goes on far enough past them; the bytes stored past n
 * land in the LPW_SLACK reserved and are overwritten by what follows. */
#define LPW_SLACK 32
static inline void lpw_copy(struct buf *out, const char *s, size_t n, const char *lim)
{
	char *o = out->p + out->len;
	if (n <= 16 && lim - s >= 16)
		memcpy(o, s, 16);
	else if (n <= 32 && lim - s >= 32)
		memcpy(o, s, 32);
	else
		memcpy(o, s, n);
	out->len += n;
}

static inline void lpw_put_name(struct buf *out, const char *s, size_t n, int how, int is_meas,
				const char *lim)
{
	if (how == TOK_COPY) {
		lpw_copy(out, s, n, lim);
	} else {
		lp_add_name(out, s, n, is_meas);
	}
}

static inline void lpw_put_u64(struct buf *out, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(out->p + out->len, tmp + i, sizeof tmp - i);
	out->len += sizeof tmp - i;
}

int lp_write_record(const struct record *r, int64_t default_time_ns, struct buf *out)
{
	size_t start = out->len;
	struct buf sk = BUF_INIT, sv = BUF_INIT;
	struct lpw w;
	const char *s, *v;
	size_t n, vn;
	int how, vhow, ok = 0;

	const char *lim = r->src + r->len;
	w.mapped = 0;
	if (r->len <= LPW_MAX)
		lpw_map(&w, r->src, r->len);

	/* Decoding never makes a string longer, and escaping at most doubles
	 * it: each token needs twice its raw length and a few bytes. */
	if ((how = lpw_str(&w, r->meas, r->meas_len, 1, &sk, &s, &n)) < 0)
		goto done;
	if (n == 0 || s[0] == '#' || s[0] == '\t')
		goto done;
	if (room(out, 2 * n + LPW_SLACK) < 0)
		goto done;
	lpw_put_name(out, s, n, how, 1, lim);

	for (size_t i = 0; i < r->ntags; i++) {
		const struct rec_kv *kv = &r->tags[i];
		if ((how = lpw_str(&w, kv->key, kv->key_len, 1, &sk, &s, &n)) < 0 ||
		    (vhow = lpw_str(&w, kv->val, kv->val_len, 1, &sv, &v, &vn)) < 0)
			goto done;
		if (!n || !vn)
			continue;
		if (room(out, 2 * (n + vn) + 2 + LPW_SLACK) < 0)
			goto done;
		out->p[out->len++] = ',';
		lpw_put_name(out, s, n, how, 0, lim);
		out->p[out->len++] = '=';
		lpw_put_name(out, v, vn, vhow, 0, lim);
	}

	size_t written = 0;
	for (size_t i = 0; i < r->nfields; i++) {
		const struct rec_kv *kv = &r->fields[i];
		if ((how = lpw_str(&w, kv->key, kv->key_len, 1, &sk, &s, &n)) < 0)
			goto done;
		if (!n)
			continue;
		/* a value is never longer in line protocol than twice its token */
		if (room(out, 2 * (n + kv->val_len) + 4 + LPW_SLACK) < 0)
			goto done;
		out->p[out->len++] = written ? ',' : ' ';
		written++;
		lpw_put_name(out, s, n, how, 0, lim);
		out->p[out->len++] = '=';
		switch (kv->type) {
		case RV_STRING:
			if ((vhow = lpw_str(&w, kv->val, kv->val_len, 0, &sv, &v, &vn)) < 0)
				goto done;
			if (vhow == TOK_DECODED) {
				lp_add_string(out, v, vn);
			} else {
				/* no backslash and (JSON) no '"': nothing to escape */
				out->p[out->len++] = '"';
				lpw_copy(out, v, vn, lim);
				out->p[out->len++] = '"';
			}
			break;
		case RV_INT:
			lpw_copy(out, kv->val, kv->val_len, lim);
			/* rec_parse admits only int64 integers */
			out->p[out->len++] = 'i';
			break;
		case RV_FLOAT:
		case RV_BOOL:
			lpw_copy(out, kv->val, kv->val_len, lim);
			break;
		}
	}
	if (!written)
		goto done;
	if (room(out, 24) < 0)
		goto done;
	int64_t t = r->has_time ? r->time : default_time_ns;
	out->p[out->len++] = ' ';
	if (t < 0) {
		out->p[out->len++] = '-';
		lpw_put_u64(out, (uint64_t)0 - (uint64_t)t);
	} else {
		lpw_put_u64(out, (uint64_t)t);
	}
	out->p[out->len++] = '\n';
	ok = !out->err;
done:
	buf_free(&sk);
	buf_free(&sv);
	if (!ok) {
		if (out->len > start)
			out->len = start;
		return -1;
	}
	return 0;
}
