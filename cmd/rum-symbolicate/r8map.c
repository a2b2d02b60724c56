#include "r8map.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest mapping line accepted from a stream: R8 writes long Kotlin
 * signatures and outline call-site tables on one line, never megabytes. */
#define R8_MAX_LINE (1u << 20)
#define R8_CHUNK (64u << 10)

/* Metadata that only applies from a mapping version on (doc/retrace.md). */
#define V(major, minor) ((major)*1000u + (minor))
#define V_EXPERIMENTAL 0xffffffu

struct str_slot {
	uint32_t off;
	uint32_t hash;
};

struct r8map {
	char *str;
	size_t str_len, str_cap;
	struct str_slot *sht;
	size_t sht_cap, sht_n;
	struct r8_class *cls;
	size_t ncls, cls_cap;
	uint32_t *by_obf, *by_orig; /* class index + 1; 0 empty */
	size_t cht_cap;
	struct r8_member *mem;
	size_t nmem, mem_cap;
	struct r8_pair *pairs;
	size_t npairs, pairs_cap;
	struct r8_rewrite *rw;
	size_t nrw, rw_cap;
	size_t used, limit;
};

enum last_kind { LAST_NONE, LAST_CLASS, LAST_MEMBER, LAST_FIELD };

struct pstate {
	struct r8map *m;
	uint32_t version;
	long cur; /* class index or -1 */
	enum last_kind last;
	size_t lineno;
	char *err;
	size_t errlen;
};

static void fail(struct pstate *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct pstate *st, const char *fmt, ...)
{
	if (!st->err || !st->errlen)
		return;
	int n = snprintf(st->err, st->errlen, "line %zu: ", st->lineno);
	if (n < 0 || (size_t)n >= st->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Grow an array to hold `need` elements, charging the map's budget. */
static int grow(struct r8map *m, void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 4 / elem)
			return -1;
		ncap *= 2;
	}
	size_t add = (ncap - *cap) * elem;
	if (m->limit && m->used + add > m->limit)
		return -1;
	void *np = realloc(*p, ncap * elem);
	if (!np)
		return -1;
	*p = np;
	*cap = ncap;
	m->used += add;
	return 0;
}

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15u ^ n;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdu;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	uint64_t w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
	h ^= h >> 32;
	return (uint32_t)h;
}

static uint32_t mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

static bool str_eq(const struct r8map *m, uint32_t off, const char *s, size_t n)
{
	/* the pool must hold n bytes and a NUL from off before memcmp reads */
	if (n >= m->str_len - off)
		return false;
	const char *p = m->str + off;
	return memcmp(p, s, n) == 0 && p[n] == '\0';
}

static uint32_t find_str_h(const struct r8map *m, const char *s, size_t n, uint32_t h)
{
	if (!m->sht_cap)
		return 0;
	size_t mask = m->sht_cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct str_slot *e = &m->sht[i];
		if (!e->off)
			return 0;
		if (e->hash == h && str_eq(m, e->off, s, n))
			return e->off;
	}
}

uint32_t r8map_find_str(const struct r8map *m, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	return find_str_h(m, s, n, hash_bytes(s, n));
}

static int sht_rehash(struct r8map *m)
{
	size_t ncap = m->sht_cap ? m->sht_cap * 2 : 4096;
	size_t add = (ncap - m->sht_cap) * sizeof(struct str_slot);
	if (m->limit && m->used + add > m->limit)
		return -1;
	struct str_slot *t = calloc(ncap, sizeof *t);
	if (!t)
		return -1;
	for (size_t i = 0; i < m->sht_cap; i++) {
		if (!m->sht[i].off)
			continue;
		size_t j = m->sht[i].hash & (ncap - 1);
		while (t[j].off)
			j = (j + 1) & (ncap - 1);
		t[j] = m->sht[i];
	}
	free(m->sht);
	m->sht = t;
	m->sht_cap = ncap;
	m->used += add;
	return 0;
}

/* Intern a string: its offset in the pool, 0 for the empty string, R8_NONE
 * when out of memory. */
static uint32_t intern(struct r8map *m, const char *s, size_t n)
{
	if (n == 0)
		return 0;
	uint32_t h = hash_bytes(s, n);
	uint32_t off = find_str_h(m, s, n, h);
	if (off)
		return off;
	if ((m->sht_n + 1) * 2 > m->sht_cap && sht_rehash(m) < 0)
		return R8_NONE;
	if (m->str_len + n + 1 >= UINT32_MAX)
		return R8_NONE;
	void *p = m->str;
	if (grow(m, &p, &m->str_cap, m->str_len + n + 1, 1) < 0)
		return R8_NONE;
	m->str = p;
	off = (uint32_t)m->str_len;
	memcpy(m->str + off, s, n);
	m->str[off + n] = '\0';
	m->str_len += n + 1;
	size_t mask = m->sht_cap - 1;
	size_t i = h & mask;
	while (m->sht[i].off)
		i = (i + 1) & mask;
	m->sht[i].off = off;
	m->sht[i].hash = h;
	m->sht_n++;
	return off;
}

const char *r8map_str(const struct r8map *m, uint32_t off)
{
	return m->str + off;
}

/* ---- metadata comments: JSON as R8 writes it, and as its doc writes it
 * (single quotes, bare keys) ---- */

struct span {
	const char *p;
	size_t n;
};

struct meta {
	struct span id, file_name, version, throws_, remove;
	bool has_positions;
	size_t pairs_at; /* first pair added for "positions" */
};

static bool span_is(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static const char *skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* A quoted string (without its quotes, escapes left as they are) or a bare
 * word. NULL when neither is there. */
static const char *scalar(const char *p, const char *e, struct span *out)
{
	if (p < e && (*p == '"' || *p == '\'')) {
		char q = *p++;
		const char *s = p;
		while (p < e && *p != q) {
			if (*p == '\\' && p + 1 < e)
				p++;
			p++;
		}
		if (p >= e)
			return NULL;
		out->p = s;
		out->n = (size_t)(p - s);
		return p + 1;
	}
	const char *s = p;
	while (p < e && *p != ',' && *p != ':' && *p != '}' && *p != ']' && *p != ' ' &&
	       *p != '\t' && *p != '{' && *p != '[')
		p++;
	if (p == s)
		return NULL;
	out->p = s;
	out->n = (size_t)(p - s);
	return p;
}

static bool parse_u32(const char *p, size_t n, uint32_t *out)
{
	if (n == 0 || n > 10)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > UINT32_MAX - 1)
		return false;
	*out = (uint32_t)v;
	return true;
}

static const char *skip_value(const char *p, const char *e, int depth);

static const char *skip_container(const char *p, const char *e, int depth)
{
	if (depth > 16)
		return NULL;
	char close = *p == '{' ? '}' : ']';
	p++;
	for (;;) {
		p = skip_ws(p, e);
		if (p >= e)
			return NULL;
		if (*p == close)
			return p + 1;
		if (*p == ',' || *p == ':') {
			p++;
			continue;
		}
		p = skip_value(p, e, depth + 1);
		if (!p)
			return NULL;
	}
}

static const char *skip_value(const char *p, const char *e, int depth)
{
	if (p < e && (*p == '{' || *p == '['))
		return skip_container(p, e, depth);
	struct span s;
	return scalar(p, e, &s);
}

static const char *parse_positions(struct pstate *st, const char *p, const char *e, struct meta *mt)
{
	struct r8map *m = st->m;
	p++; /* '{' */
	mt->has_positions = true;
	mt->pairs_at = m->npairs;
	for (;;) {
		p = skip_ws(p, e);
		if (p >= e)
			return NULL;
		if (*p == '}')
			return p + 1;
		if (*p == ',') {
			p++;
			continue;
		}
		struct span k, v;
		p = scalar(p, e, &k);
		if (!p)
			return NULL;
		p = skip_ws(p, e);
		if (p >= e || *p != ':')
			return NULL;
		p = skip_ws(p + 1, e);
		p = scalar(p, e, &v);
		if (!p)
			return NULL;
		uint32_t a, b;
		if (!parse_u32(k.p, k.n, &a) || !parse_u32(v.p, v.n, &b))
			continue;
		void *arr = m->pairs;
		if (grow(m, &arr, &m->pairs_cap, m->npairs + 1, sizeof *m->pairs) < 0)
			return NULL;
		m->pairs = arr;
		m->pairs[m->npairs].from = a;
		m->pairs[m->npairs].to = b;
		m->npairs++;
	}
}

/* "throws(Ljava/lang/NullPointerException;)" → the descriptor. */
static bool call_arg(struct span s, const char *fn, struct span *arg)
{
	size_t n = strlen(fn);
	if (s.n < n + 2 || memcmp(s.p, fn, n) != 0 || s.p[n] != '(' || s.p[s.n - 1] != ')')
		return false;
	arg->p = s.p + n + 1;
	arg->n = s.n - n - 2;
	return true;
}

static const char *parse_strings(const char *p, const char *e, struct span key, struct meta *mt)
{
	p++; /* '[' */
	for (;;) {
		p = skip_ws(p, e);
		if (p >= e)
			return NULL;
		if (*p == ']')
			return p + 1;
		if (*p == ',') {
			p++;
			continue;
		}
		struct span s, arg;
		p = scalar(p, e, &s);
		if (!p)
			return NULL;
		if (span_is(key, "conditions") && call_arg(s, "throws", &arg))
			mt->throws_ = arg;
		else if (span_is(key, "actions") && call_arg(s, "removeInnerFrames", &arg))
			mt->remove = arg;
	}
}

/* Returns false when the comment is not a JSON object (a plain comment). */
static bool parse_meta(struct pstate *st, const char *p, const char *e, struct meta *mt)
{
	memset(mt, 0, sizeof *mt);
	p = skip_ws(p, e);
	if (p >= e || *p != '{')
		return false;
	p++;
	for (;;) {
		p = skip_ws(p, e);
		if (p >= e)
			return false;
		if (*p == '}')
			return mt->id.p != NULL;
		if (*p == ',') {
			p++;
			continue;
		}
		struct span key;
		p = scalar(p, e, &key);
		if (!p)
			return false;
		p = skip_ws(p, e);
		if (p >= e || *p != ':')
			return false;
		p = skip_ws(p + 1, e);
		if (p >= e)
			return false;
		if (*p == '{') {
			p = span_is(key, "positions") ? parse_positions(st, p, e, mt)
						      : skip_container(p, e, 0);
		} else if (*p == '[') {
			p = parse_strings(p, e, key, mt);
		} else {
			struct span v;
			p = scalar(p, e, &v);
			if (p && span_is(key, "id"))
				mt->id = v;
			else if (p && span_is(key, "fileName"))
				mt->file_name = v;
			else if (p && span_is(key, "version"))
				mt->version = v;
		}
		if (!p)
			return false;
	}
}

static uint32_t parse_version(struct span v)
{
	if (span_is(v, "experimental"))
		return V_EXPERIMENTAL;
	uint32_t major = 0, minor = 0;
	size_t i = 0;
	while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9' && major < 100000)
		major = major * 10 + (uint32_t)(v.p[i++] - '0');
	if (i < v.n && v.p[i] == '.') {
		i++;
		while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9' && minor < 100)
			minor = minor * 10 + (uint32_t)(v.p[i++] - '0');
	}
	if (major >= V_EXPERIMENTAL / 1000)
		return V_EXPERIMENTAL;
	return V(major, minor > 999 ? 999 : minor);
}

static int comment_line(struct pstate *st, const char *p, const char *e)
{
	struct r8map *m = st->m;
	struct meta mt;
	size_t pairs_before = m->npairs;
	if (!parse_meta(st, p, e, &mt)) {
		m->npairs = pairs_before; /* a half-read positions table */
		return 0;
	}
	struct r8_class *c = st->cur >= 0 ? &m->cls[st->cur] : NULL;
	struct r8_member *mb = st->last == LAST_MEMBER && m->nmem ? &m->mem[m->nmem - 1] : NULL;
	if (span_is(mt.id, "com.android.tools.r8.mapping")) {
		st->version = parse_version(mt.version);
	} else if (span_is(mt.id, "sourceFile")) {
		if (c && mt.file_name.n) {
			uint32_t off = intern(m, mt.file_name.p, mt.file_name.n);
			if (off == R8_NONE)
				return -1;
			c->file = off;
		}
	} else if (span_is(mt.id, "com.android.tools.r8.synthesized")) {
		if (st->version < V(1, 0))
			return 0;
		if (st->last == LAST_CLASS && c)
			c->synth = 1;
		else if (mb)
			mb->flags |= R8M_SYNTH;
	} else if (span_is(mt.id, "com.android.tools.r8.outline")) {
		if (mb && st->version >= V(2, 0))
			mb->flags |= R8M_OUTLINE;
	} else if (span_is(mt.id, "com.android.tools.r8.outlineCallsite")) {
		size_t n = m->npairs - pairs_before;
		if (mb && mt.has_positions && n && n <= UINT16_MAX && st->version >= V(2, 0)) {
			mb->callsite = (uint32_t)pairs_before + 1;
			mb->ncallsite = (uint16_t)n;
		} else {
			m->npairs = pairs_before;
		}
	} else if (span_is(mt.id, "com.android.tools.r8.rewriteFrame")) {
		uint32_t count;
		if (mb && st->version >= V(2, 0) && mt.throws_.n &&
		    parse_u32(mt.remove.p, mt.remove.n, &count)) {
			uint32_t t = intern(m, mt.throws_.p, mt.throws_.n);
			void *arr = m->rw;
			if (t == R8_NONE ||
			    grow(m, &arr, &m->rw_cap, m->nrw + 1, sizeof *m->rw) < 0)
				return -1;
			m->rw = arr;
			m->rw[m->nrw].throws = t;
			m->rw[m->nrw].remove_inner = count;
			m->nrw++;
			mb->rewrite = (uint32_t)m->nrw;
		}
	}
	/* residualsignature and unknown ids only matter to verbose output */
	return 0;
}

static const char *rtrim(const char *p, const char *e)
{
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	return e;
}

/* Last " -> " in [p, e). */
static const char *find_arrow(const char *p, const char *e)
{
	for (const char *q = e - 4; q >= p; q--)
		if (q[0] == ' ' && q[1] == '-' && q[2] == '>' && q[3] == ' ')
			return q;
	return NULL;
}

static const char *digits(const char *p, const char *e, uint32_t *v, bool *ok)
{
	const char *s = p;
	while (p < e && *p >= '0' && *p <= '9')
		p++;
	*ok = parse_u32(s, (size_t)(p - s), v);
	return p;
}

static int class_line(struct pstate *st, const char *p, const char *arrow, const char *e)
{
	struct r8map *m = st->m;
	const char *orig_e = rtrim(p, arrow);
	const char *obf = skip_ws(arrow + 4, e);
	const char *obf_e = e - 1; /* the ':' */
	obf_e = rtrim(obf, obf_e);
	if (orig_e == p || obf_e == obf) {
		fail(st, "class mapping without a name");
		return -1;
	}
	uint32_t o = intern(m, p, (size_t)(orig_e - p));
	uint32_t b = intern(m, obf, (size_t)(obf_e - obf));
	void *arr = m->cls;
	if (o == R8_NONE || b == R8_NONE ||
	    grow(m, &arr, &m->cls_cap, m->ncls + 1, sizeof *m->cls) < 0) {
		fail(st, "mapping needs more memory than allowed");
		return -1;
	}
	m->cls = arr;
	struct r8_class *c = &m->cls[m->ncls];
	memset(c, 0, sizeof *c);
	c->orig = o;
	c->obf = b;
	c->first = (uint32_t)m->nmem;
	st->cur = (long)m->ncls++;
	st->last = LAST_CLASS;
	return 0;
}

static int member_line(struct pstate *st, const char *p, const char *arrow, const char *e)
{
	struct r8map *m = st->m;
	if (st->cur < 0) {
		fail(st, "member mapping before any class");
		return -1;
	}
	struct r8_member mb;
	memset(&mb, 0, sizeof mb);
	bool ok;
	if (p < arrow && *p >= '0' && *p <= '9') {
		p = digits(p, arrow, &mb.min_start, &ok);
		if (!ok || p >= arrow || *p != ':') {
			fail(st, "bad obfuscated line range");
			return -1;
		}
		p++;
		mb.min_end = mb.min_start;
		if (p < arrow && *p >= '0' && *p <= '9') {
			p = digits(p, arrow, &mb.min_end, &ok);
			if (!ok || p >= arrow || *p != ':') {
				fail(st, "bad obfuscated line range");
				return -1;
			}
			p++;
		}
		if (mb.min_end < mb.min_start) {
			fail(st, "obfuscated line range ends before it starts");
			return -1;
		}
		mb.flags |= R8M_RANGE;
	}
	const char *open = memchr(p, '(', (size_t)(arrow - p));
	if (!open) {
		st->last = LAST_FIELD;
		return 0;
	}
	const char *close = memchr(open, ')', (size_t)(arrow - open));
	if (!close) {
		fail(st, "method mapping without ')'");
		return -1;
	}
	const char *name = open;
	while (name > p && name[-1] != ' ')
		name--;
	if (name == p || name == open) {
		fail(st, "method mapping without a return type or name");
		return -1;
	}
	const char *q = close + 1;
	if (q < arrow && *q == ':') {
		q = digits(q + 1, arrow, &mb.orig_start, &ok);
		if (!ok) {
			fail(st, "bad original line");
			return -1;
		}
		mb.orig_end = mb.orig_start;
		mb.flags |= R8M_ORIG;
		if (q < arrow && *q == ':') {
			q = digits(q + 1, arrow, &mb.orig_end, &ok);
			if (!ok) {
				fail(st, "bad original line range");
				return -1;
			}
			mb.flags |= R8M_ORIG_RANGE;
		}
	}
	if (rtrim(q, arrow) != q) {
		fail(st, "unexpected text after the method signature");
		return -1;
	}
	const char *obf = skip_ws(arrow + 4, e);
	if (obf == e) {
		fail(st, "method mapping without an obfuscated name");
		return -1;
	}
	const char *dot = NULL;
	for (const char *r = open - 1; r >= name; r--)
		if (*r == '.') {
			dot = r;
			break;
		}
	const char *mname = dot ? dot + 1 : name;
	struct r8_class *c = &m->cls[st->cur];
	mb.obf = intern(m, obf, (size_t)(e - obf));
	mb.name = intern(m, mname, (size_t)(open - mname));
	if (dot) {
		mb.cls = intern(m, name, (size_t)(dot - name));
		if (mb.cls == c->orig)
			mb.cls = 0;
	}
	if (mb.obf == R8_NONE || mb.name == R8_NONE || mb.cls == R8_NONE || mb.name == 0) {
		fail(st, mb.name == 0 ? "method mapping without a name"
				      : "mapping needs more memory than allowed");
		return -1;
	}
	/* Same obfuscated range right below, with one original line: the
	 * caller into which the lines above were inlined. */
	if (st->last == LAST_MEMBER && m->nmem > c->first && (mb.flags & R8M_RANGE) &&
	    (mb.flags & R8M_ORIG) && !(mb.flags & R8M_ORIG_RANGE)) {
		const struct r8_member *prev = &m->mem[m->nmem - 1];
		if ((prev->flags & R8M_RANGE) && prev->min_start == mb.min_start &&
		    prev->min_end == mb.min_end && prev->obf == mb.obf)
			mb.flags |= R8M_CALLER;
	}
	if (m->nmem >= UINT32_MAX - 1) {
		fail(st, "too many members");
		return -1;
	}
	mb.seq = (uint32_t)m->nmem;
	void *arr = m->mem;
	if (grow(m, &arr, &m->mem_cap, m->nmem + 1, sizeof *m->mem) < 0) {
		fail(st, "mapping needs more memory than allowed");
		return -1;
	}
	m->mem = arr;
	m->mem[m->nmem++] = mb;
	c->count++;
	st->last = LAST_MEMBER;
	return 0;
}

static int parse_line(struct pstate *st, const char *p, const char *e)
{
	st->lineno++;
	/* a UTF-8 byte order mark, as some editors and CI uploads add */
	if (st->lineno == 1 && e - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	e = rtrim(p, e);
	const char *s = skip_ws(p, e);
	if (s == e)
		return 0;
	if (*s == '#')
		return comment_line(st, s + 1, e);
	const char *arrow = find_arrow(s, e);
	if (!arrow) {
		fail(st, "not a mapping line (no ' -> ')");
		return -1;
	}
	if (e[-1] == ':' && s == p)
		return class_line(st, s, arrow, e);
	return member_line(st, s, arrow, e);
}

static int cmp_member(const void *a, const void *b)
{
	const struct r8_member *x = a, *y = b;
	if (x->obf != y->obf)
		return x->obf < y->obf ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Give back what doubling left unused: a parsed map lives in the cache for
 * long, and the cache charges it what it holds. */
static void shrink(struct r8map *m, void **p, size_t *cap, size_t n, size_t elem)
{
	if (!n || n == *cap)
		return;
	void *np = realloc(*p, n * elem);
	if (!np)
		return;
	m->used -= (*cap - n) * elem;
	*p = np;
	*cap = n;
}

static int build_index(struct r8map *m)
{
	shrink(m, (void **)&m->str, &m->str_cap, m->str_len, 1);
	shrink(m, (void **)&m->mem, &m->mem_cap, m->nmem, sizeof *m->mem);
	shrink(m, (void **)&m->cls, &m->cls_cap, m->ncls, sizeof *m->cls);
	shrink(m, (void **)&m->pairs, &m->pairs_cap, m->npairs, sizeof *m->pairs);
	shrink(m, (void **)&m->rw, &m->rw_cap, m->nrw, sizeof *m->rw);
	for (size_t i = 0; i < m->ncls; i++)
		if (m->cls[i].count > 1)
			qsort(m->mem + m->cls[i].first, m->cls[i].count, sizeof *m->mem,
			      cmp_member);
	size_t cap = 16;
	while (cap < m->ncls * 2)
		cap *= 2;
	size_t add = 2 * cap * sizeof(uint32_t);
	if (m->limit && m->used + add > m->limit)
		return -1;
	m->by_obf = calloc(cap, sizeof(uint32_t));
	m->by_orig = calloc(cap, sizeof(uint32_t));
	if (!m->by_obf || !m->by_orig)
		return -1;
	m->cht_cap = cap;
	m->used += add;
	for (size_t i = 0; i < m->ncls; i++) {
		uint32_t keys[2] = {m->cls[i].obf, m->cls[i].orig};
		uint32_t *tabs[2] = {m->by_obf, m->by_orig};
		for (int t = 0; t < 2; t++) {
			size_t j = mix32(keys[t]) & (cap - 1);
			bool dup = false;
			while (tabs[t][j]) {
				if (m->cls[tabs[t][j] - 1].obf == keys[t] && t == 0)
					dup = true;
				if (m->cls[tabs[t][j] - 1].orig == keys[t] && t == 1)
					dup = true;
				if (dup)
					break;
				j = (j + 1) & (cap - 1);
			}
			if (!dup) /* the first mapping of a name wins */
				tabs[t][j] = (uint32_t)i + 1;
		}
	}
	return 0;
}

static struct r8map *map_new(size_t mem_limit)
{
	struct r8map *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->limit = mem_limit;
	m->used = sizeof *m;
	/* offset 0 is the empty string */
	if (grow(m, (void **)&m->str, &m->str_cap, 1, 1) < 0) {
		free(m);
		return NULL;
	}
	m->str[0] = '\0';
	m->str_len = 1;
	return m;
}

static struct r8map *finish(struct pstate *st, int rc)
{
	if (rc == 0 && build_index(st->m) < 0) {
		snprintf(st->err, st->errlen, "mapping needs more memory than allowed");
		rc = -1;
	}
	if (rc < 0) {
		r8map_free(st->m);
		return NULL;
	}
	return st->m;
}

static void init_state(struct pstate *st, struct r8map *m, char *err, size_t errlen)
{
	memset(st, 0, sizeof *st);
	st->m = m;
	st->cur = -1;
	st->err = err;
	st->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
}

struct r8map *r8map_parse_mem(const char *data, size_t len, size_t mem_limit, char *err,
			      size_t errlen)
{
	struct r8map *m = map_new(mem_limit);
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	struct pstate st;
	init_state(&st, m, err, errlen);
	const char *p = data, *end = data + len;
	int rc = 0;
	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		rc = parse_line(&st, p, le);
		p = nl ? nl + 1 : end;
	}
	return finish(&st, rc);
}

struct r8map *r8map_parse(r8_read_fn read, void *ctx, size_t mem_limit, char *err, size_t errlen)
{
	struct r8map *m = map_new(mem_limit);
	char *lb = malloc(R8_CHUNK);
	if (!m || !lb) {
		free(lb);
		r8map_free(m);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	size_t cap = R8_CHUNK, len = 0;
	struct pstate st;
	init_state(&st, m, err, errlen);
	int rc = 0;
	bool eof = false;
	while (rc == 0 && !eof) {
		if (len == cap) {
			/* one line fills the buffer: grow it, up to the line cap */
			if (cap >= R8_MAX_LINE) {
				st.lineno++;
				fail(&st, "line longer than %u bytes", R8_MAX_LINE);
				rc = -1;
				break;
			}
			char *nb = realloc(lb, cap * 2);
			if (!nb) {
				snprintf(err, errlen, "out of memory");
				rc = -1;
				break;
			}
			lb = nb;
			cap *= 2;
		}
		ssize_t r = read(ctx, lb + len, cap - len);
		if (r < 0) {
			snprintf(err, errlen, "read error");
			rc = -1;
			break;
		}
		if (r == 0)
			eof = true;
		size_t scan = len;
		len += (size_t)r;
		size_t start = 0;
		while (rc == 0) {
			char *nl = memchr(lb + scan, '\n', len - scan);
			if (!nl)
				break;
			rc = parse_line(&st, lb + start, nl);
			start = scan = (size_t)(nl - lb) + 1;
		}
		if (rc == 0 && eof && start < len) {
			rc = parse_line(&st, lb + start, lb + len);
			start = len;
		}
		if (start) {
			memmove(lb, lb + start, len - start);
			len -= start;
		}
	}
	free(lb);
	return finish(&st, rc);
}

size_t r8map_memory(const struct r8map *m)
{
	return m ? m->used : 0;
}

size_t r8map_classes(const struct r8map *m)
{
	return m->ncls;
}

size_t r8map_methods(const struct r8map *m)
{
	return m->nmem;
}

void r8map_free(struct r8map *m)
{
	if (!m)
		return;
	free(m->str);
	free(m->sht);
	free(m->cls);
	free(m->by_obf);
	free(m->by_orig);
	free(m->mem);
	free(m->pairs);
	free(m->rw);
	free(m);
}

static const struct r8_class *lookup(const struct r8map *m, const uint32_t *tab, uint32_t key,
				     int orig)
{
	if (!key || !m->cht_cap)
		return NULL;
	size_t mask = m->cht_cap - 1;
	for (size_t j = mix32(key) & mask; tab[j]; j = (j + 1) & mask) {
		const struct r8_class *c = &m->cls[tab[j] - 1];
		if ((orig ? c->orig : c->obf) == key)
			return c;
	}
	return NULL;
}

const struct r8_class *r8map_class_by_obf(const struct r8map *m, uint32_t name)
{
	return lookup(m, m->by_obf, name, 0);
}

const struct r8_class *r8map_class_by_orig(const struct r8map *m, uint32_t name)
{
	return lookup(m, m->by_orig, name, 1);
}

size_t r8map_methods_named(const struct r8map *m, const struct r8_class *c, uint32_t name,
			   const struct r8_member **first)
{
	const struct r8_member *base = m->mem + c->first;
	size_t lo = 0, hi = c->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (base[mid].obf < name)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < c->count && base[end].obf == name)
		end++;
	*first = base + lo;
	return end - lo;
}

const struct r8_pair *r8map_pairs(const struct r8map *m)
{
	return m->pairs;
}

const struct r8_rewrite *r8map_rewrite(const struct r8map *m, uint32_t idx)
{
	return idx && idx <= m->nrw ? &m->rw[idx - 1] : NULL;
}
