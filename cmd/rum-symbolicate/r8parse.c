/* Parsing mapping.txt, line by line, into an r8map: class and member
 * lines, and the "# {json}" metadata comments that apply to the line above
 * them. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "r8map_int.h"
#include "textscan.h"

/* Longest mapping line accepted from a stream: R8 writes long Kotlin
 * signatures and outline call-site tables on one line, never megabytes. */
#define R8_MAX_LINE (1u << 20)
#define R8_CHUNK (64u << 10)

/* Line numbers and counts: R8_NONE (UINT32_MAX) is never one. */
static bool parse_u32(const char *p, size_t n, uint32_t *out)
{
	return parse_u32_max(p, n, UINT32_MAX - 1, out) == 0;
}

/* Metadata that only applies from a mapping version on (doc/retrace.md). */
#define V(major, minor) ((major)*1000u + (minor))
#define V_EXPERIMENTAL 0xffffffu

enum last_kind { LAST_NONE, LAST_CLASS, LAST_MEMBER, LAST_FIELD };

struct pstate {
	struct r8map *m;
	uint32_t version;
	long cur; /* class index or -1 */
	enum last_kind last;
	size_t lineno;
	struct rum_error *err;
};

static void line_fail(struct pstate *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void line_fail(struct pstate *st, const char *fmt, ...)
{
	char msg[RUM_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	err_set(st->err, "line %zu: %s", st->lineno, msg);
	st->err->line = st->lineno;
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

/* A key or scalar value of a metadata comment, quoted or not. */
static const char *meta_scalar(const char *p, const char *e, struct span *out)
{
	struct json_fail f;
	return json_scan_lenient_scalar(p, e, &out->p, &out->n, &f);
}

/* A value of a member that does not matter here, a container: skipped,
 * nested as deep as R8 ever writes. */
static const char *skip_meta_container(const char *p, const char *e)
{
	struct json_fail f;
	return json_skip_value(p, e, 0, 16, JSON_LENIENT, &f);
}

static const char *parse_positions(struct pstate *st, const char *p, const char *e, struct meta *mt)
{
	struct r8map *m = st->m;
	p++; /* '{' */
	mt->has_positions = true;
	mt->pairs_at = m->npairs;
	for (;;) {
		p = json_skip_ws(p, e);
		if (p >= e)
			return NULL;
		if (*p == '}')
			return p + 1;
		if (*p == ',') {
			p++;
			continue;
		}
		struct span k, v;
		p = meta_scalar(p, e, &k);
		if (!p)
			return NULL;
		p = json_skip_ws(p, e);
		if (p >= e || *p != ':')
			return NULL;
		p = json_skip_ws(p + 1, e);
		p = meta_scalar(p, e, &v);
		if (!p)
			return NULL;
		uint32_t a, b;
		if (!parse_u32(k.p, k.n, &a) || !parse_u32(v.p, v.n, &b))
			continue;
		void *arr = m->pairs;
		if (r8map_grow(m, &arr, &m->pairs_cap, m->npairs + 1, sizeof *m->pairs) < 0)
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
		p = json_skip_ws(p, e);
		if (p >= e)
			return NULL;
		if (*p == ']')
			return p + 1;
		if (*p == ',') {
			p++;
			continue;
		}
		struct span s, arg;
		p = meta_scalar(p, e, &s);
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
	p = json_skip_ws(p, e);
	if (p >= e || *p != '{')
		return false;
	p++;
	for (;;) {
		p = json_skip_ws(p, e);
		if (p >= e)
			return false;
		if (*p == '}')
			return mt->id.p != NULL;
		if (*p == ',') {
			p++;
			continue;
		}
		struct span key;
		p = meta_scalar(p, e, &key);
		if (!p)
			return false;
		p = json_skip_ws(p, e);
		if (p >= e || *p != ':')
			return false;
		p = json_skip_ws(p + 1, e);
		if (p >= e)
			return false;
		if (*p == '{') {
			p = span_is(key, "positions") ? parse_positions(st, p, e, mt)
						      : skip_meta_container(p, e);
		} else if (*p == '[') {
			p = parse_strings(p, e, key, mt);
		} else {
			struct span v;
			p = meta_scalar(p, e, &v);
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
			uint32_t off = r8map_intern(m, mt.file_name.p, mt.file_name.n);
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
			uint32_t t = r8map_intern(m, mt.throws_.p, mt.throws_.n);
			void *arr = m->rw;
			if (t == R8_NONE ||
			    r8map_grow(m, &arr, &m->rw_cap, m->nrw + 1, sizeof *m->rw) < 0)
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
	const char *obf = json_skip_ws(arrow + 4, e);
	const char *obf_e = e - 1; /* the ':' */
	obf_e = rtrim(obf, obf_e);
	if (orig_e == p || obf_e == obf) {
		line_fail(st, "class mapping without a name");
		return -1;
	}
	uint32_t o = r8map_intern(m, p, (size_t)(orig_e - p));
	uint32_t b = r8map_intern(m, obf, (size_t)(obf_e - obf));
	void *arr = m->cls;
	if (o == R8_NONE || b == R8_NONE ||
	    r8map_grow(m, &arr, &m->cls_cap, m->ncls + 1, sizeof *m->cls) < 0) {
		line_fail(st, "mapping needs more memory than allowed");
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

/* "a:b:" or "a:" before a member's signature: its obfuscated line range
 * into mb. Moves *p past it; -1 (failed) when it is not a valid range. */
static int obf_range(struct pstate *st, const char **p, const char *arrow, struct r8_member *mb)
{
	const char *q = *p;
	bool ok;
	if (!(q < arrow && *q >= '0' && *q <= '9'))
		return 0;
	q = digits(q, arrow, &mb->min_start, &ok);
	if (!ok || q >= arrow || *q != ':') {
		line_fail(st, "bad obfuscated line range");
		return -1;
	}
	q++;
	mb->min_end = mb->min_start;
	if (q < arrow && *q >= '0' && *q <= '9') {
		q = digits(q, arrow, &mb->min_end, &ok);
		if (!ok || q >= arrow || *q != ':') {
			line_fail(st, "bad obfuscated line range");
			return -1;
		}
		q++;
	}
	if (mb->min_end < mb->min_start) {
		line_fail(st, "obfuscated line range ends before it starts");
		return -1;
	}
	mb->flags |= R8M_RANGE;
	*p = q;
	return 0;
}

/* ":c" or ":c:d" after a member's signature (q is past its ')'): its
 * original line or lines into mb; nothing else may follow but blanks. */
static int orig_lines(struct pstate *st, const char *q, const char *arrow, struct r8_member *mb)
{
	bool ok;
	if (q < arrow && *q == ':') {
		q = digits(q + 1, arrow, &mb->orig_start, &ok);
		if (!ok) {
			line_fail(st, "bad original line");
			return -1;
		}
		mb->orig_end = mb->orig_start;
		mb->flags |= R8M_ORIG;
		if (q < arrow && *q == ':') {
			q = digits(q + 1, arrow, &mb->orig_end, &ok);
			if (!ok) {
				line_fail(st, "bad original line range");
				return -1;
			}
			mb->flags |= R8M_ORIG_RANGE;
		}
	}
	if (rtrim(q, arrow) != q) {
		line_fail(st, "unexpected text after the method signature");
		return -1;
	}
	return 0;
}

/* Same obfuscated range right below, with one original line: the caller
 * into which the lines above were inlined. */
static bool inlining_caller(const struct pstate *st, const struct r8_class *c,
			    const struct r8_member *mb)
{
	const struct r8map *m = st->m;
	if (!(st->last == LAST_MEMBER && m->nmem > c->first && (mb->flags & R8M_RANGE) &&
	      (mb->flags & R8M_ORIG) && !(mb->flags & R8M_ORIG_RANGE)))
		return false;
	const struct r8_member *prev = &m->mem[m->nmem - 1];
	return (prev->flags & R8M_RANGE) && prev->min_start == mb->min_start &&
	       prev->min_end == mb->min_end && prev->obf == mb->obf;
}

/* The member, complete, appended to the current class. */
static int add_member(struct pstate *st, struct r8_class *c, struct r8_member *mb)
{
	struct r8map *m = st->m;
	if (m->nmem >= UINT32_MAX - 1) {
		line_fail(st, "too many members");
		return -1;
	}
	mb->seq = (uint32_t)m->nmem;
	void *arr = m->mem;
	if (r8map_grow(m, &arr, &m->mem_cap, m->nmem + 1, sizeof *m->mem) < 0) {
		line_fail(st, "mapping needs more memory than allowed");
		return -1;
	}
	m->mem = arr;
	m->mem[m->nmem++] = *mb;
	c->count++;
	st->last = LAST_MEMBER;
	return 0;
}

static int member_line(struct pstate *st, const char *p, const char *arrow, const char *e)
{
	struct r8map *m = st->m;
	if (st->cur < 0) {
		line_fail(st, "member mapping before any class");
		return -1;
	}
	struct r8_member mb;
	memset(&mb, 0, sizeof mb);
	if (obf_range(st, &p, arrow, &mb) < 0)
		return -1;
	const char *open = memchr(p, '(', (size_t)(arrow - p));
	if (!open) {
		st->last = LAST_FIELD;
		return 0;
	}
	const char *close = memchr(open, ')', (size_t)(arrow - open));
	if (!close) {
		line_fail(st, "method mapping without ')'");
		return -1;
	}
	const char *name = open;
	while (name > p && name[-1] != ' ')
		name--;
	if (name == p || name == open) {
		line_fail(st, "method mapping without a return type or name");
		return -1;
	}
	if (orig_lines(st, close + 1, arrow, &mb) < 0)
		return -1;
	const char *obf = json_skip_ws(arrow + 4, e);
	if (obf == e) {
		line_fail(st, "method mapping without an obfuscated name");
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
	mb.obf = r8map_intern(m, obf, (size_t)(e - obf));
	mb.name = r8map_intern(m, mname, (size_t)(open - mname));
	if (dot) {
		mb.cls = r8map_intern(m, name, (size_t)(dot - name));
		if (mb.cls == c->orig)
			mb.cls = 0;
	}
	if (mb.obf == R8_NONE || mb.name == R8_NONE || mb.cls == R8_NONE || mb.name == 0) {
		line_fail(st, mb.name == 0 ? "method mapping without a name"
					   : "mapping needs more memory than allowed");
		return -1;
	}
	if (inlining_caller(st, c, &mb))
		mb.flags |= R8M_CALLER;
	return add_member(st, c, &mb);
}

static int parse_line(struct pstate *st, const char *p, const char *e)
{
	st->lineno++;
	/* a UTF-8 byte order mark, as some editors and CI uploads add */
	if (st->lineno == 1 && e - p >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	e = rtrim(p, e);
	const char *s = json_skip_ws(p, e);
	if (s == e)
		return 0;
	if (*s == '#')
		return comment_line(st, s + 1, e);
	const char *arrow = find_arrow(s, e);
	if (!arrow) {
		line_fail(st, "not a mapping line (no ' -> ')");
		return -1;
	}
	if (e[-1] == ':' && s == p)
		return class_line(st, s, arrow, e);
	return member_line(st, s, arrow, e);
}

static struct r8map *finish(struct pstate *st, int rc)
{
	if (rc == 0 && r8map_build_index(st->m) < 0) {
		err_set(st->err, "mapping needs more memory than allowed");
		rc = -1;
	}
	if (rc < 0) {
		r8map_free(st->m);
		return NULL;
	}
	return st->m;
}

static void init_state(struct pstate *st, struct r8map *m, struct rum_error *err)
{
	memset(st, 0, sizeof *st);
	st->m = m;
	st->cur = -1;
	st->err = err;
}

struct r8map *r8map_parse_mem(const char *data, size_t len, size_t mem_limit, struct rum_error *err)
{
	struct r8map *m = r8map_new(mem_limit);
	if (!m) {
		err_set(err, "out of memory");
		return NULL;
	}
	struct pstate st;
	init_state(&st, m, err);
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

struct r8map *r8map_parse(r8_read_fn read, void *ctx, size_t mem_limit, struct rum_error *err)
{
	struct r8map *m = r8map_new(mem_limit);
	char *lb = malloc(R8_CHUNK);
	if (!m || !lb) {
		free(lb);
		r8map_free(m);
		err_set(err, "out of memory");
		return NULL;
	}
	size_t cap = R8_CHUNK, len = 0;
	struct pstate st;
	init_state(&st, m, err);
	int rc = 0;
	bool eof = false;
	while (rc == 0 && !eof) {
		if (len == cap) {
			/* one line fills the buffer: grow it, up to the line cap */
			if (cap >= R8_MAX_LINE) {
				st.lineno++;
				line_fail(&st, "line longer than %u bytes", R8_MAX_LINE);
				rc = -1;
				break;
			}
			char *nb = realloc(lb, cap * 2);
			if (!nb) {
				err_set(err, "out of memory");
				rc = -1;
				break;
			}
			lb = nb;
			cap *= 2;
		}
		ssize_t r = read(ctx, lb + len, cap - len);
		if (r < 0) {
			err_set(err, "read error");
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
