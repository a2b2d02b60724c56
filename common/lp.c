/* InfluxDB line protocol as DataKit's RUM input reads it from the SDKs: a
 * parser that works on a whole request body (no copy, no allocation per
 * point once the point's arrays have grown), and the reading of the raw
 * names it hands out. The conversion of a point to JSON is in lp_json.c,
 * the writer of a record back to line protocol in lp_write.c. */
#include "lp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "lp_int.h"
#include "utf8.h"

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
	if (!p) { /* an empty body may come as NULL: no arithmetic on it */
		p = "";
		n = 0;
	}
	/* ps->err is written when the parser fails, and read only then. */
	ps->failed = 0;
	ps->start = p;
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

/* Stops the parser with an error at `at`, located by line and column from
 * where the point started (ps->line and ps->line_start still say): only on
 * the error path, so that the scanners need not track columns. */
static __attribute__((cold, noinline)) int fail(struct lp_parser *ps, const char *at,
						const char *reason, struct rum_error *err)
{
	size_t line = ps->line;
	const char *ls = ps->line_start;
	for (const char *q = ls; q < at; q++) {
		if (*q == '\n') {
			line++;
			ls = q + 1;
		}
	}
	err_at(&ps->err, (size_t)(at - ps->start), "%s", reason);
	ps->err.line = line;
	ps->err.column = (size_t)(at - ls) + 1;
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
	while (end - p >= 16) {
		unsigned bits = str_special16(p);
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

/* The scan of one point, step by step. Each step returns NULL, or the
 * reason the point is invalid with `at` set to where; the steps are inlined
 * into lp_next, where the scan's state stays in registers. */
struct scan {
	const char *p, *end;
	/* A separate variable of lp_next: scan_name() is not always inlined,
	 * and passing it the address of a member would keep the whole scan
	 * in memory. */
	struct names *nc;
	size_t line; /* advanced by newlines inside strings and at the end */
	const char *line_start;
	const char *at; /* where the reason a step returned applies */
};

static inline const char *invalid(struct scan *s, const char *at, const char *reason)
{
	s->at = at;
	return reason;
}

/* A name's LPF_KEY_* flags from what its scan saw (<< 1 for a value's). */
static inline unsigned name_flags(unsigned sf)
{
	return (sf & SF_ESC ? LPF_KEY_ESC : 0) | (sf ? 0 : LPF_KEY_SAFE);
}

/* Where a field value ends: what may follow it. */
#define FIELD_END (CL_COMMA | CL_SP | CL_NL | CL_CR)

/* Moves ps->p past blank lines and comments: 0 at the end of the input,
 * else 1 with ps->p at the start of a point. */
static inline int skip_blank_lines(struct lp_parser *ps)
{
	const char *p = ps->p, *end = ps->end;
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p == '\r' && (p + 1 == end || p[1] == '\n'))
			p++;
		if (p < end && *p == '#') {
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
	ps->p = p;
	return 1;
}

/* The measurement: up to the first unescaped ',', ' ' or newline ('=' is
 * part of it). */
static inline const char *scan_measurement(struct scan *s, struct lp_point *pt)
{
	unsigned sf = 0;
	const char *m = s->p;
	s->p = scan_name(s->nc, m, s->end, CL_NL | CL_SP | CL_COMMA, &sf);
	if (s->p == m)
		return invalid(s, s->p, "empty measurement");
	pt->meas = m;
	pt->meas_len = (size_t)(s->p - m);
	pt->meas_flags = name_flags(sf);
	return NULL;
}

/* What a tag key's or a field key's errors say. */
struct key_reasons {
	const char *empty, *no_value, *bad_utf8;
};

static const struct key_reasons tag_key = {
    "empty tag key",
    "tag without value (missing '=')",
    "invalid UTF-8 in tag key",
};

static const struct key_reasons field_key = {
    "empty field key",
    "field without value (missing '=')",
    "invalid UTF-8 in field key",
};

/* utf8.h's check, kept out of line: keys with non-ASCII bytes are rare, and
 * inlined here it made scan_key too large to be inlined into lp_next (5 %
 * more instructions for ASCII points, cachegrind on lptool bench). */
#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static int
key_is_utf8(const char *k, size_t n)
{
	return utf8_valid(k, n);
}

/* A tag or field key and the '=' after it: kv's key and its flags. */
static inline const char *scan_key(struct scan *s, struct lp_kv *kv, const struct key_reasons *why)
{
	unsigned sf = 0;
	const char *k = s->p;
	const char *p = scan_name(s->nc, k, s->end, CL_NL | CL_SP | CL_COMMA | CL_EQ, &sf);
	if (p == k)
		return invalid(s, p, why->empty);
	if (p >= s->end || *p != '=')
		return invalid(s, p, why->no_value);
	if ((sf & SF_HI) && !key_is_utf8(k, (size_t)(p - k)))
		return invalid(s, k, why->bad_utf8);
	kv->key = k;
	kv->key_len = (size_t)(p - k);
	kv->flags = name_flags(sf);
	s->p = p + 1;
	return NULL;
}

/* A tag value: up to the next unescaped ',', ' ' or newline. */
static inline const char *scan_tag_value(struct scan *s, struct lp_kv *kv)
{
	unsigned sf = 0;
	const char *v = s->p;
	const char *p = scan_name(s->nc, v, s->end, CL_NL | CL_SP | CL_COMMA | CL_EQ, &sf);
	if (p == v)
		return invalid(s, p, "empty tag value");
	if (p < s->end && *p == '=')
		return invalid(s, p, "unescaped '=' in tag value");
	kv->val = v;
	kv->val_len = (size_t)(p - v);
	kv->type = LPV_STRING;
	kv->bool_val = 0;
	kv->flags |= name_flags(sf) << 1;
	s->p = p;
	return NULL;
}

/* The tag set: ",key=value" after the measurement, any number of times. */
static inline const char *scan_tag_set(struct scan *s, struct lp_point *pt)
{
	while (s->p < s->end && *s->p == ',') {
		s->p++;
		if (ARRAY_RESERVE(pt->tags, pt->tags_cap, pt->ntags + 1, LP_MAX_TAGS) < 0)
			return invalid(s, s->p,
				       pt->tags_cap == LP_MAX_TAGS ? "too many tags"
								   : "out of memory");
		struct lp_kv *kv = &pt->tags[pt->ntags];
		const char *why = scan_key(s, kv, &tag_key);
		if (!why)
			why = scan_tag_value(s, kv);
		if (why)
			return why;
		pt->ntags++;
	}
	return NULL;
}

/* The spaces between the tag set and the field set. */
static inline const char *skip_to_fields(struct scan *s)
{
	const char *p = s->p;
	if (p >= s->end || *p != ' ')
		return invalid(s, p, "missing fields");
	while (p < s->end && *p == ' ')
		p++;
	if (p >= s->end || *p == '\n' || *p == '\r')
		return invalid(s, p, "missing fields");
	s->p = p;
	return NULL;
}

/* A string field's value, from its opening quote: the text between the
 * quotes with its escapes kept. It may hold newlines: they advance the
 * scan's line. */
static inline const char *scan_string(struct scan *s, struct lp_kv *kv)
{
	const char *q = s->p, *end = s->end;
	const char *str = q + 1, *p = str;
	unsigned sf = 0;
	for (;;) {
		p = find_str_cand(p, end);
		if (p >= end)
			return invalid(s, q, "unterminated string");
		if (*p == '"')
			break;
		if (*p == '\\') {
			sf |= SF_ESC;
			p += (p + 1 < end && (p[1] == '"' || p[1] == '\\')) ? 2 : 1;
			continue;
		}
		sf |= SF_CTL;
		if (*p++ == '\n') {
			s->line++;
			s->line_start = p;
		}
	}
	kv->flags |= name_flags(sf) << 1;
	kv->val = str;
	kv->val_len = (size_t)(p - str);
	kv->type = LPV_STRING;
	p++;
	if (p < end && !(CLS(*p) & FIELD_END))
		return invalid(s, p, "expected ',' or ' ' after string field");
	s->p = p;
	return NULL;
}

/* An unquoted field value: a number or a boolean. */
static inline const char *scan_value(struct scan *s, struct lp_kv *kv)
{
	const char *v = s->p, *p = v;
	while (p < s->end && !(CLS(*p) & FIELD_END))
		p++;
	if (p == v)
		return invalid(s, p, "missing field value");
	kv->val = v;
	kv->val_len = (size_t)(p - v);
	s->p = p;
	const char *why = classify(kv);
	return why ? invalid(s, v, why) : NULL;
}

/* The field set: "key=value" separated by ',', at least one. */
static inline const char *scan_field_set(struct scan *s, struct lp_point *pt)
{
	for (;;) {
		if (ARRAY_RESERVE(pt->fields, pt->fields_cap, pt->nfields + 1, LP_MAX_FIELDS) < 0)
			return invalid(s, s->p,
				       pt->fields_cap == LP_MAX_FIELDS ? "too many fields"
								       : "out of memory");
		struct lp_kv *kv = &pt->fields[pt->nfields];
		const char *why = scan_key(s, kv, &field_key);
		if (why)
			return why;
		kv->bool_val = 0;
		why = s->p < s->end && *s->p == '"' ? scan_string(s, kv) : scan_value(s, kv);
		if (why)
			return why;
		pt->nfields++;
		if (s->p >= s->end || *s->p != ',')
			return NULL;
		s->p++;
	}
}

/* The optional timestamp (the parser's `now` without one), and the end of
 * the line: blanks, then an optional '\r', then a newline or the end of
 * the input. */
static inline const char *scan_timestamp(struct scan *s, const struct lp_parser *ps,
					 struct lp_point *pt)
{
	const char *p = s->p, *end = s->end;
	const char *after = "unexpected text after the fields";
	pt->time_ns = ps->now_ns;
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
				return invalid(s, t, "bad timestamp");
			if (r == -2 || lp_time_to_ns(ts, ps->precision, &pt->time_ns) < 0)
				return invalid(s, t, "timestamp out of range");
			after = "unexpected text after the timestamp";
		}
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
	}
	if (p < end && *p == '\r' && (p + 1 == end || p[1] == '\n'))
		p++;
	if (p < end) {
		if (*p != '\n')
			return invalid(s, p, after);
		p++;
		s->line++;
		s->line_start = p;
	}
	s->p = p;
	return NULL;
}

/* Keys are unique among the tags and among the fields. */
static inline const char *check_unique_keys(struct scan *s, struct lp_point *pt)
{
	int oom = 0;
	long d = find_dup(pt, pt->tags, pt->ntags, &oom);
	if (d >= 0)
		return invalid(s, pt->tags[d].key, "duplicate tag key");
	d = oom ? -1 : find_dup(pt, pt->fields, pt->nfields, &oom);
	if (d >= 0)
		return invalid(s, pt->fields[d].key, "duplicate field key");
	if (oom)
		return invalid(s, pt->meas, "out of memory");
	return NULL;
}

int lp_next(struct lp_parser *ps, struct lp_point *pt, struct rum_error *err)
{
	if (ps->failed) {
		*err = ps->err;
		return -1;
	}
	if (!skip_blank_lines(ps))
		return 0;

	struct names nc = {NULL, 0};
	struct scan s = {ps->p, ps->end, &nc, ps->line, ps->line_start, NULL};
	pt->line = ps->line;
	pt->ntags = pt->nfields = 0;
	pt->meas_flags = 0;
	const char *why = scan_measurement(&s, pt);
	if (!why)
		why = scan_tag_set(&s, pt);
	if (!why)
		why = skip_to_fields(&s);
	if (!why)
		why = scan_field_set(&s, pt);
	if (!why)
		why = scan_timestamp(&s, ps, pt);
	if (!why)
		why = check_unique_keys(&s, pt);
	if (why)
		return fail(ps, s.at, why, err);

	ps->p = s.p;
	ps->line = s.line;
	ps->line_start = s.line_start;
	return 1;
}

int lp_unescape(struct buf *out, const char *s, size_t n, int is_string)
{
	size_t i = 0, run = 0;
	if (n == 0)
		return out->err ? -1 : 0;
	while (i < n) {
		if (s[i] == '\\' && escapes_next(s, i, n, is_string)) {
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
		if (c == '\\' && escapes_next(raw, i, raw_len, 0))
			c = raw[++i];
		if (*name != c || *name == 0)
			return 0;
	}
	return *name == 0;
}
