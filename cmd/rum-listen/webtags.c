/* Events read into paths, the record written, and the Guance web SDK's
 * derived tags, for the Datadog and Faro mappers (webtags.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"
#include "record.h"
#include "webtags.h"

#define JSON_FLAGS (JSON_UTF8 | JSON_NUM_RANGE)

/* ---- jflat ---- */

void jflat_free(struct jflat *f)
{
	free(f->e);
	free(f->slot);
	buf_free(&f->paths);
	buf_free(&f->cur);
	memset(f, 0, sizeof *f);
}

static int jflat_add(struct jflat *f, size_t path_off, size_t path_len, uint32_t h, int depth,
		     enum jkind kind, const char *val, size_t vlen)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 128;
		struct jent *e = realloc(f->e, cap * sizeof *e);
		if (!e)
			return -2;
		f->e = e;
		f->cap = cap;
	}
	f->e[f->n] =
	    (struct jent){(uint32_t)path_off, (uint32_t)path_len, h, depth, kind, val, vlen};
	/* The first of duplicate keys is the one found, as no JSON parser
	 * promises otherwise and the SDKs never send them. */
	size_t s = h & (JFLAT_SLOTS - 1);
	while (f->slot[s].gen == f->gen) {
		const struct jent *o = &f->e[f->slot[s].idx];
		if (o->hash == h && o->path_len == path_len &&
		    memcmp(f->paths.p + o->path_off, f->paths.p + path_off, path_len) == 0)
			break;
		s = (s + 1) & (JFLAT_SLOTS - 1);
	}
	if (f->slot[s].gen != f->gen)
		f->slot[s] = (struct jslot){f->gen, (uint32_t)f->n};
	f->n++;
	return 0;
}

static enum jkind kind_of(char c)
{
	switch (c) {
	case '"':
		return JK_STRING;
	case 't':
		return JK_TRUE;
	case 'f':
		return JK_FALSE;
	case 'n':
		return JK_NULL;
	case '{':
		return JK_OBJECT;
	case '[':
		return JK_ARRAY;
	}
	return JK_NUMBER;
}

static int flat_fail(const char **why, const char **at, const char *msg, const char *where)
{
	*why = msg;
	*at = where;
	return -1;
}

static int kept_whole(const struct jflat *f, const char *path)
{
	for (const char *const *w = f->whole; w && *w; w++)
		if (strcmp(*w, path) == 0)
			return 1;
	return 0;
}

/* The members of the object whose '{' is at q, their paths under its own
 * (poff, plen_parent in f->paths, hash ph; length 0 for the event itself);
 * *next gets the position past its '}'. */
static int flat_object(struct jflat *f, const char *q, size_t poff, size_t plen_parent, uint32_t ph,
		       int depth, const char **next, const char **why, const char **at)
{
	const char *end = f->end;
	struct json_fail jf;
	q = json_skip_ws(q + 1, end);
	if (q < end && *q == '}') {
		*next = q + 1;
		return 0;
	}
	for (;;) {
		int esc = 0;
		if (q >= end || *q != '"')
			return flat_fail(why, at, q >= end ? "unexpected end" : "expected a key",
					 q);
		const char *k = q;
		if (!(q = json_scan_string(q, end, JSON_FLAGS, &esc, &jf)))
			return flat_fail(why, at, json_strerror(jf.code), jf.at);
		/* The path: the parent's, '.', the key (decoded when it has
		 * escapes), written at the end of paths. */
		const char *key = k + 1;
		size_t kl = (size_t)(q - k) - 2;
		if (esc) {
			buf_reset(&f->cur);
			if (json_decode_append(k, (size_t)(q - k), JSON_FLAGS, &f->cur) < 0)
				return -2;
			key = f->cur.p ? f->cur.p : "";
			kl = f->cur.len;
		}
		size_t off = f->paths.len, plen = plen_parent + (plen_parent ? 1 : 0) + kl;
		if (buf_reserve(&f->paths, plen + 1) < 0)
			return -2;
		char *dst = f->paths.p + off;
		uint32_t h = ph;
		if (plen_parent) {
			memcpy(dst, f->paths.p + poff, plen_parent);
			dst[plen_parent] = '.';
			h = fnv1a_more(h, ".", 1);
		}
		memcpy(dst + plen - kl, key, kl);
		dst[plen] = '\0';
		f->paths.len += plen + 1;
		h = fnv1a_more(h, key, kl);
		q = json_skip_ws(q, end);
		if (q >= end || *q != ':')
			return flat_fail(why, at, "expected ':'", q);
		q = json_skip_ws(q + 1, end);
		if (q >= end)
			return flat_fail(why, at, "unexpected end", q);
		if (f->n >= JFLAT_MAX_ENTRIES)
			return flat_fail(why, at, "more than 2048 members", k);
		const char *v = q;
		enum jkind kind = kind_of(*v);
		size_t idx = f->n;
		if (jflat_add(f, off, plen, h, depth, kind, v, 0) < 0)
			return -2;
		if (kind == JK_OBJECT && depth + 1 < JFLAT_MAX_DEPTH &&
		    !(f->whole && kept_whole(f, f->paths.p + off))) {
			int rc = flat_object(f, v, off, plen, h, depth + 1, &q, why, at);
			if (rc < 0)
				return rc;
		} else if (!(q = json_skip_value(v, end, depth + 1, JFLAT_MAX_DEPTH + 56,
						 JSON_FLAGS, &jf))) {
			return flat_fail(why, at, json_strerror(jf.code), jf.at);
		}
		f->e[idx].vlen = (size_t)(q - v);
		q = json_skip_ws(q, end);
		if (q < end && *q == ',') {
			q = json_skip_ws(q + 1, end);
			continue;
		}
		if (q < end && *q == '}') {
			*next = q + 1;
			return 0;
		}
		return flat_fail(why, at, q >= end ? "unexpected end" : "expected ',' or '}'", q);
	}
}

int jflat_parse(struct jflat *f, const char *p, const char *end, const char **why, const char **at)
{
	if (!f->slot && !(f->slot = calloc(JFLAT_SLOTS, sizeof *f->slot)))
		return -2;
	/* A new generation empties the table without clearing it. */
	if (++f->gen == 0) {
		memset(f->slot, 0, JFLAT_SLOTS * sizeof *f->slot);
		f->gen = 1;
	}
	f->n = 0;
	buf_reset(&f->paths);
	buf_reset(&f->cur);
	f->src = p;
	f->end = end;
	p = json_skip_ws(p, end);
	if (p >= end || *p != '{')
		return flat_fail(why, at, p >= end ? "empty event" : "an event is a JSON object",
				 p);
	int rc = flat_object(f, p, 0, 0, FNV1A_INIT, 0, &p, why, at);
	if (rc < 0)
		return rc;
	p = json_skip_ws(p, end);
	if (p < end)
		return flat_fail(why, at, "more after the event's object", p);
	return 0;
}

/* The length and hash of a path looked up before: the mappers ask for the
 * same few dozen paths (most of them literals) for every event, and the
 * hash costs more than a comparison. Keyed by address, checked by
 * content (a path built in a buffer may differ at the same address). */
struct path_memo {
	const char *p;
	uint32_t n, h;
	char copy[48];
};

static void path_hash(const char *path, size_t *n, uint32_t *h)
{
	static _Thread_local struct path_memo memo[256];
	struct path_memo *m = &memo[((uintptr_t)path >> 3) & 255];
	if (m->p == path && strcmp(m->copy, path) == 0) {
		*n = m->n;
		*h = m->h;
		return;
	}
	*n = strlen(path);
	*h = fnv1a(path, *n);
	if (*n < sizeof m->copy) {
		m->p = path;
		m->n = (uint32_t)*n;
		m->h = *h;
		memcpy(m->copy, path, *n + 1);
	}
}

const struct jent *jflat_get(const struct jflat *f, const char *path)
{
	size_t n;
	uint32_t h;
	path_hash(path, &n, &h);
	if (!f->slot)
		return NULL;
	for (size_t s = h & (JFLAT_SLOTS - 1); f->slot[s].gen == f->gen;
	     s = (s + 1) & (JFLAT_SLOTS - 1)) {
		const struct jent *e = &f->e[f->slot[s].idx];
		if (e->hash == h && e->path_len == n &&
		    memcmp(f->paths.p + e->path_off, path, n) == 0)
			return e;
	}
	return NULL;
}

int jent_str(const struct jent *e, struct buf *scratch, const char **s, size_t *n)
{
	if (!e || e->kind != JK_STRING)
		return -1;
	return json_unescape(e->val, e->vlen, JSON_FLAGS, scratch, s, n);
}

int jent_num(const struct jent *e, double *v)
{
	if (!e || e->kind != JK_NUMBER)
		return -1;
	return rec_double(e->val, e->vlen, v);
}

/* ---- recw ---- */

void recw_begin(struct recw *w)
{
	buf_reset(&w->tags);
	buf_reset(&w->fields);
	buf_reset(&w->keys);
	w->ntags = w->nfields = 0;
	w->failed = 0;
	/* A new generation empties the key table without clearing it. */
	if (++w->gen == 0) {
		memset(w->slot_gen, 0, sizeof w->slot_gen);
		w->gen = 1;
	}
}

void recw_free(struct recw *w)
{
	buf_free(&w->tags);
	buf_free(&w->fields);
	buf_free(&w->keys);
	buf_free(&w->scratch);
	buf_free(&w->derived);
}

/* 1 when key was there already, else 0 with key taken; -1 when full. */
static int key_take(struct recw *w, const char *key, size_t klen)
{
	uint32_t h = fnv1a(key, klen);
	size_t s = h & (RECW_SLOTS - 1);
	for (size_t probes = 0; probes < RECW_SLOTS; probes++, s = (s + 1) & (RECW_SLOTS - 1)) {
		if (w->slot_gen[s] != w->gen) {
			if (w->ntags + w->nfields >= RECW_SLOTS / 2)
				return -1;
			w->slot_gen[s] = w->gen;
			w->slot_hash[s] = h;
			w->slot_off[s] = (uint32_t)w->keys.len;
			w->slot_len[s] = (uint32_t)klen;
			if (buf_add(&w->keys, key, klen) < 0 || buf_addc(&w->keys, '\0') < 0)
				return -1;
			return 0;
		}
		if (w->slot_hash[s] == h && w->slot_len[s] == klen &&
		    memcmp(w->keys.p + w->slot_off[s], key, klen) == 0)
			return 1;
	}
	return -1;
}

int recw_has(struct recw *w, const char *key, size_t klen)
{
	uint32_t h = fnv1a(key, klen);
	size_t s = h & (RECW_SLOTS - 1);
	for (size_t probes = 0; probes < RECW_SLOTS && w->slot_gen[s] == w->gen;
	     probes++, s = (s + 1) & (RECW_SLOTS - 1)) {
		if (w->slot_hash[s] == h && w->slot_len[s] == klen &&
		    memcmp(w->keys.p + w->slot_off[s], key, klen) == 0)
			return 1;
	}
	return 0;
}

/* Starts `,"key":` in b, the key new to the record: 1; 0 when the key is
 * there already; -1 failed. */
static int member(struct recw *w, struct buf *b, size_t *count, const char *key, size_t klen)
{
	if (w->failed)
		return -1;
	/* A record has no empty keys (a custom attribute may be named ""). */
	if (klen == 0)
		return 0;
	int t = key_take(w, key, klen);
	if (t != 0) {
		if (t < 0)
			w->failed = 1;
		return t < 0 ? -1 : 0;
	}
	if ((*count && buf_addc(b, ',') < 0) || json_add_str(b, key, klen) < 0 ||
	    buf_addc(b, ':') < 0) {
		w->failed = 1;
		return -1;
	}
	(*count)++;
	return 1;
}

static int done(struct recw *w, int rc)
{
	if (rc < 0)
		w->failed = 1;
	return w->failed ? -1 : 0;
}

int recw_tag(struct recw *w, const char *key, const char *s, size_t n)
{
	if (!n)
		return w->failed ? -1 : 0;
	int m = member(w, &w->tags, &w->ntags, key, strlen(key));
	if (m <= 0)
		return m;
	return done(w, json_add_str(&w->tags, s, n));
}

int recw_field_str(struct recw *w, const char *key, const char *s, size_t n)
{
	if (!n)
		return w->failed ? -1 : 0;
	int m = member(w, &w->fields, &w->nfields, key, strlen(key));
	if (m <= 0)
		return m;
	return done(w, json_add_str(&w->fields, s, n));
}

/* json_add_double's text, without its printf for the integers that most
 * numbers here are (below 1e15 %.15g writes their digits, then ".0"). */
static int add_num(struct buf *b, double v)
{
	if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v && !(v == 0 && signbit(v)))
		return buf_add_i64(b, (int64_t)v) | buf_add(b, ".0", 2);
	return json_add_double(b, v);
}

/* A JSON integer token of up to 15 digits: as a float, its digits and
 * ".0" (what add_num would write); else 0. */
static int int_token(const char *t, size_t n)
{
	size_t i = t[0] == '-';
	if (n - i == 0 || n - i > 15 || (i && n == 2 && t[1] == '0'))
		return 0;
	for (; i < n; i++)
		if (t[i] < '0' || t[i] > '9')
			return 0;
	return 1;
}

int recw_field_num(struct recw *w, const char *key, double v)
{
	int m = member(w, &w->fields, &w->nfields, key, strlen(key));
	if (m <= 0)
		return m;
	return done(w, add_num(&w->fields, v));
}

int recw_field_int(struct recw *w, const char *key, int64_t v)
{
	int m = member(w, &w->fields, &w->nfields, key, strlen(key));
	if (m <= 0)
		return m;
	return done(w, buf_add_i64(&w->fields, v));
}

int recw_field_bool(struct recw *w, const char *key, int v)
{
	int m = member(w, &w->fields, &w->nfields, key, strlen(key));
	if (m <= 0)
		return m;
	return done(w, buf_adds(&w->fields, v ? "true" : "false"));
}

int recw_tag_ent(struct recw *w, const char *key, const struct jent *e)
{
	if (!e)
		return w->failed ? -1 : 0;
	const char *s;
	size_t n;
	if (e->kind == JK_NUMBER)
		return recw_tag(w, key, e->val, e->vlen);
	if (e->kind != JK_STRING)
		return w->failed ? -1 : 0;
	if (jent_str(e, &w->scratch, &s, &n) < 0)
		return done(w, -1);
	return recw_tag(w, key, s, n);
}

int recw_field_ent(struct recw *w, const char *key, size_t klen, const struct jent *e)
{
	if (!e || e->kind == JK_NULL)
		return w->failed ? -1 : 0;
	const char *s;
	size_t n;
	double v;
	if (e->kind == JK_STRING) {
		if (jent_str(e, &w->scratch, &s, &n) < 0)
			return done(w, -1);
		if (!n)
			return w->failed ? -1 : 0;
	} else if (e->kind == JK_NUMBER && int_token(e->val, e->vlen)) {
		int m = member(w, &w->fields, &w->nfields, key, klen);
		if (m <= 0)
			return m;
		return done(w, buf_add(&w->fields, e->val, e->vlen) | buf_add(&w->fields, ".0", 2));
	} else if (e->kind == JK_NUMBER && jent_num(e, &v) < 0) {
		return done(w, -1);
	} else if ((e->kind == JK_OBJECT || e->kind == JK_ARRAY) &&
		   json_skip_ws(e->val + 1, e->val + e->vlen) == e->val + e->vlen - 1) {
		return w->failed ? -1 : 0; /* {} and [] are empty values */
	}
	int m = member(w, &w->fields, &w->nfields, key, klen);
	if (m <= 0)
		return m;
	switch (e->kind) {
	case JK_STRING:
		return done(w, json_add_str(&w->fields, s, n));
	case JK_NUMBER:
		return done(w, add_num(&w->fields, v));
	case JK_TRUE:
	case JK_FALSE:
		return done(w, buf_adds(&w->fields, e->kind == JK_TRUE ? "true" : "false"));
	default:
		/* The raw text of an object or array, as a string. */
		return done(w, json_add_str(&w->fields, e->val, e->vlen));
	}
}

int recw_save(const struct recw *w, struct recw_snap *s)
{
	buf_reset(&s->tags);
	buf_reset(&s->fields);
	buf_reset(&s->keys);
	s->valid = 0;
	if (w->failed)
		return -1;
	int rc = buf_add(&s->tags, w->tags.p ? w->tags.p : "", w->tags.len);
	rc |= buf_add(&s->fields, w->fields.p ? w->fields.p : "", w->fields.len);
	rc |= buf_add(&s->keys, w->keys.p ? w->keys.p : "", w->keys.len);
	s->ntags = w->ntags;
	s->nfields = w->nfields;
	s->valid = rc == 0;
	return rc < 0 ? -1 : 0;
}

int recw_restore(struct recw *w, const struct recw_snap *s)
{
	recw_begin(w);
	for (size_t off = 0; off < s->keys.len;) {
		const char *k = s->keys.p + off;
		size_t n = strlen(k);
		if (key_take(w, k, n) != 0)
			return done(w, -1);
		off += n + 1;
	}
	int rc = buf_add(&w->tags, s->tags.p ? s->tags.p : "", s->tags.len);
	rc |= buf_add(&w->fields, s->fields.p ? s->fields.p : "", s->fields.len);
	w->ntags = s->ntags;
	w->nfields = s->nfields;
	return done(w, rc);
}

void recw_snap_free(struct recw_snap *s)
{
	buf_free(&s->tags);
	buf_free(&s->fields);
	buf_free(&s->keys);
	s->valid = 0;
}

int recw_finish(struct recw *w, const char *meas, int64_t time_ns, struct buf *out)
{
	if (w->failed)
		return -1;
	int rc = buf_adds(out, "{\"measurement\":");
	rc |= json_add_str(out, meas, strlen(meas));
	rc |= buf_adds(out, ",\"tags\":{");
	rc |= buf_add(out, w->tags.p ? w->tags.p : "", w->tags.len);
	rc |= buf_adds(out, "},\"fields\":{");
	rc |= buf_add(out, w->fields.p ? w->fields.p : "", w->fields.len);
	rc |= buf_adds(out, "},\"time\":");
	rc |= buf_add_i64(out, time_ns);
	rc |= buf_adds(out, "}\n");
	return rc < 0 ? -1 : 0;
}

/* ---- derived tags ---- */

struct url_parts {
	const char *host, *path, *query, *frag; /* host with its port */
	size_t host_len, path_len, query_len, frag_len;
};

/* scheme://[user@]host[:port]/path?query#fragment; a URL without "://" is
 * all path. */
static void url_split(const char *u, size_t n, struct url_parts *p)
{
	memset(p, 0, sizeof *p);
	const char *end = u + n, *q = u;
	const char *sep = n >= 3 ? memmem(u, n, "://", 3) : NULL;
	if (sep) {
		q = sep + 3;
		const char *a = q;
		while (q < end && *q != '/' && *q != '?' && *q != '#')
			q++;
		const char *at = memchr(a, '@', (size_t)(q - a));
		p->host = at ? at + 1 : a;
		p->host_len = (size_t)(q - p->host);
	}
	p->path = q;
	while (q < end && *q != '?' && *q != '#')
		q++;
	p->path_len = (size_t)(q - p->path);
	if (q < end && *q == '?') {
		p->query = ++q;
		while (q < end && *q != '#')
			q++;
		p->query_len = (size_t)(q - p->query);
	}
	if (q < end && *q == '#') {
		p->frag = q + 1;
		p->frag_len = (size_t)(end - q - 1);
	}
}

/* The host without its port ([v6] brackets kept off too). */
static void host_name(const char *h, size_t n, const char **s, size_t *len)
{
	if (n && h[0] == '[') {
		const char *c = memchr(h, ']', n);
		*s = h + 1;
		*len = c ? (size_t)(c - h - 1) : n - 1;
		return;
	}
	const char *c = memchr(h, ':', n);
	*s = h;
	*len = c ? (size_t)(c - h) : n;
}

/* Digit runs → '?', no trailing slash (the root stays "/"). */
static int path_group(struct buf *b, const char *p, size_t n)
{
	buf_reset(b);
	for (size_t i = 0; i < n;) {
		if (p[i] >= '0' && p[i] <= '9') {
			while (i < n && p[i] >= '0' && p[i] <= '9')
				i++;
			if (buf_addc(b, '?') < 0)
				return -1;
			continue;
		}
		if (buf_addc(b, p[i++]) < 0)
			return -1;
	}
	while (b->len > 1 && b->p[b->len - 1] == '/')
		b->len--;
	return 0;
}

/* a=1&b=2 as {"a":"1","b":"2"} (values as they are in the URL). */
static int query_json(struct buf *b, const char *q, size_t n)
{
	buf_reset(b);
	int rc = buf_addc(b, '{');
	size_t count = 0;
	for (const char *p = q, *end = q + n; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		if (e > p) {
			const char *ke = eq ? eq : e;
			rc |= count++ ? buf_addc(b, ',') : 0;
			rc |= json_add_str(b, p, (size_t)(ke - p));
			rc |= buf_addc(b, ':');
			rc |= eq ? json_add_str(b, eq + 1, (size_t)(e - eq - 1))
				 : buf_adds(b, "\"\"");
		}
		p = amp ? amp + 1 : end;
	}
	rc |= buf_addc(b, '}');
	return rc < 0 ? -1 : 0;
}

/* The fields view_url_query / resource_url_query and the path group: one
 * scratch buffer each, so a local one. */
static int add_query_and_group(struct recw *w, const char *qkey, const struct url_parts *u,
			       const char *gkey, const char *path, size_t path_len, int group_tag)
{
	struct buf *b = &w->derived;
	int rc = 0;
	if (u->query_len) {
		rc |= query_json(b, u->query, u->query_len);
		if (rc == 0)
			rc |= recw_field_str(w, qkey, b->p, b->len);
	}
	rc |= path_group(b, path, path_len);
	if (rc == 0)
		rc |= group_tag ? recw_tag(w, gkey, b->p, b->len)
				: recw_field_str(w, gkey, b->p, b->len);
	return done(w, rc);
}

int web_view_url(struct recw *w, const char *url, size_t n, char *path, size_t pathcap)
{
	struct url_parts u;
	url_split(url, n, &u);
	recw_tag(w, "view_url", url, n);
	recw_tag(w, "view_host", u.host, u.host_len);
	/* Hash routing (#/x) is part of the view's path, as in the Guance
	 * SDK. */
	size_t plen = 0;
	const char *p = u.path_len ? u.path : "/";
	size_t pl = u.path_len ? u.path_len : 1;
	plen = pl < pathcap ? pl : pathcap - 1;
	memcpy(path, p, plen);
	if (u.frag_len && u.frag[0] == '/') {
		const char *fq = memchr(u.frag, '?', u.frag_len);
		size_t fl = fq ? (size_t)(fq - u.frag) : u.frag_len;
		if (plen + 1 + fl < pathcap) {
			path[plen++] = '#';
			memcpy(path + plen, u.frag, fl);
			plen += fl;
		}
	}
	path[plen] = '\0';
	recw_tag(w, "view_path", path, plen);
	return add_query_and_group(w, "view_url_query", &u, "view_path_group", path, plen, 1);
}

int web_resource_url(struct recw *w, const char *url, size_t n)
{
	struct url_parts u;
	url_split(url, n, &u);
	const char *h;
	size_t hl;
	host_name(u.host ? u.host : "", u.host_len, &h, &hl);
	recw_field_str(w, "resource_url", url, n);
	recw_field_str(w, "resource_url_host", h, hl);
	const char *p = u.path_len ? u.path : "/";
	size_t pl = u.path_len ? u.path_len : 1;
	recw_field_str(w, "resource_url_path", p, pl);
	return add_query_and_group(w, "resource_url_query", &u, "resource_url_path_group", p, pl,
				   0);
}

int web_status(struct recw *w, double status)
{
	if (!(status >= 0 && status < 1000))
		return w->failed ? -1 : 0;
	char s[16], g[16];
	int n = snprintf(s, sizeof s, "%d", (int)status);
	recw_tag(w, "resource_status", s, (size_t)n);
	if (status < 100)
		return w->failed ? -1 : 0;
	snprintf(g, sizeof g, "%dxx", (int)status / 100);
	return recw_tag(w, "resource_status_group", g, 3);
}

const char *web_network_type(const char *s, size_t n)
{
#define IS(lit) (n == sizeof lit - 1 && memcmp(s, lit, n) == 0)
	if (IS("bluetooth") || IS("cellular") || IS("slow-2g") || IS("2g") || IS("3g"))
		return "cellular";
	if (IS("none"))
		return "none";
	if (IS("ethernet") || IS("wifi") || IS("wimax"))
		return "wifi";
	/* SDK-MAPPING.md keeps 4g as it is (the Guance SDK's deviceInfo.js
	 * would say wifi). */
	if (IS("4g"))
		return "4g";
	return "unknown";
#undef IS
}

/* ---- User-Agent, as the Guance SDK's deviceInfo.js reads it ---- */

static int has(const char *ua, const char *s)
{
	return strstr(ua, s) != NULL;
}

/* The digits and dots after the first `prefix` in ua (for iOS and Mac OS
 * also underscores, turned into dots); 0 when none. */
static size_t version_after(const char *ua, const char *prefix, char *out, size_t cap)
{
	const char *p = strstr(ua, prefix);
	if (!p)
		return 0;
	p += strlen(prefix);
	size_t n = 0;
	while (n + 1 < cap && ((*p >= '0' && *p <= '9') || *p == '.' || *p == '_')) {
		out[n++] = *p == '_' ? '.' : *p;
		p++;
	}
	out[n] = '\0';
	return n;
}

/* The browsers deviceInfo.js knows that are still met, in its order: the
 * last that matches wins, as there. */
static const char *browser_of(const char *ua, const char **vprefix)
{
	const char *b = NULL;
	*vprefix = NULL;
	if (has(ua, "Safari"))
		b = "Safari", *vprefix = "Version/";
	if (has(ua, "Chrome") || has(ua, "CriOS"))
		b = "Chrome", *vprefix = has(ua, "CriOS") ? "CriOS/" : "Chrome/";
	if (has(ua, "Edge") || has(ua, "Edg"))
		b = "Edge", *vprefix = has(ua, "Edge/") ? "Edge/" : "Edg/";
	if (has(ua, "MSIE") || has(ua, "Trident"))
		b = "IE", *vprefix = has(ua, "MSIE ") ? "MSIE " : "rv:";
	if (has(ua, "Firefox") || has(ua, "FxiOS"))
		b = "Firefox", *vprefix = has(ua, "FxiOS/") ? "FxiOS/" : "Firefox/";
	if (has(ua, "Opera") || has(ua, "OPR"))
		b = "Opera", *vprefix = has(ua, "OPR/") ? "OPR/" : "Opera/";
	if (has(ua, "Vivaldi"))
		b = "Vivaldi", *vprefix = "Vivaldi/";
	if (has(ua, "YaBrowser"))
		b = "Yandex", *vprefix = "YaBrowser/";
	if (has(ua, "QQBrowser"))
		b = "QQBrowser", *vprefix = "QQBrowser/";
	if (has(ua, "MicroMessenger"))
		b = "Wechat", *vprefix = "MicroMessenger/";
	return b;
}

static const char *os_of(const char *ua, const char **vprefix)
{
	const char *o = NULL;
	*vprefix = NULL;
	if (has(ua, "Windows"))
		o = "Windows", *vprefix = "Windows NT ";
	if (has(ua, "Linux") || has(ua, "X11"))
		o = "Linux";
	if (has(ua, "Macintosh"))
		o = "Mac OS", *vprefix = "Mac OS X ";
	if (has(ua, "Android") || has(ua, "Adr"))
		o = "Android", *vprefix = "Android ";
	if (has(ua, "Ubuntu"))
		o = "Ubuntu", *vprefix = NULL;
	if (has(ua, "FreeBSD"))
		o = "FreeBSD", *vprefix = NULL;
	if (has(ua, "Debian"))
		o = "Debian", *vprefix = "Debian/";
	if (has(ua, "like Mac OS X"))
		o = "iOS", *vprefix = "OS ";
	if (has(ua, "IEMobile") || has(ua, "Windows Phone"))
		o = "Windows Phone", *vprefix = "Windows Phone ";
	if (has(ua, "CrOS"))
		o = "Chrome OS", *vprefix = NULL;
	return o;
}

/* Old Windows NT numbers as deviceInfo.js names them. */
static const char *windows_name(const char *v)
{
	static const char *const map[][2] = {
	    {"6.4", "10"},    {"6.3", "8.1"}, {"6.2", "8"},  {"6.1", "7"},
	    {"6.0", "Vista"}, {"5.2", "XP"},  {"5.1", "XP"}, {"5.0", "2000"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(v, map[i][0]) == 0)
			return map[i][1];
	return v;
}

/* The tags of one User-Agent: worked out once, as every event of a
 * request (and most requests of a client) has the same. */
struct ua_tags {
	char ua[512];
	size_t n;
	const char *key[7];
	char val[7][40];
};

static void ua_add(struct ua_tags *u, const char *key, const char *v, size_t n)
{
	if (!n || u->n >= 7 || n >= sizeof u->val[0])
		return;
	u->key[u->n] = key;
	memcpy(u->val[u->n], v, n);
	u->val[u->n][n] = '\0';
	u->n++;
}

/* key and key_major (the part before the first dot). */
static void version_tags(struct ua_tags *u, const char *key, const char *major_key, const char *v)
{
	size_t n = strlen(v);
	ua_add(u, key, v, n);
	ua_add(u, major_key, v, strcspn(v, "."));
}

static void ua_parse(const char *ua, struct ua_tags *u)
{
	u->n = 0;
	char v[32];
	const char *vp;
	const char *b = browser_of(ua, &vp);
	if (b) {
		ua_add(u, "browser", b, strlen(b));
		if (vp && version_after(ua, vp, v, sizeof v))
			version_tags(u, "browser_version", "browser_version_major", v);
	}
	const char *o = os_of(ua, &vp);
	ua_add(u, "os", o ? o : "Unknown", strlen(o ? o : "Unknown"));
	if (o && vp && version_after(ua, vp, v, sizeof v))
		version_tags(u, "os_version", "os_version_major",
			     strcmp(o, "Windows") == 0 ? windows_name(v) : v);
	const char *d = "PC";
	if ((has(ua, "Mobi") || has(ua, "iPh") || has(ua, "480")) && !has(ua, "iPad"))
		d = "Mobile";
	if (has(ua, "Tablet") || has(ua, "Nexus 7"))
		d = "Tablet";
	if (has(ua, "iPad"))
		d = "iPad";
	ua_add(u, "device", d, strlen(d));
}

int web_user_agent(struct recw *w, const char *ua)
{
	static _Thread_local struct ua_tags memo;
	if (!ua || !*ua)
		return w->failed ? -1 : 0;
	size_t n = strlen(ua);
	if (n >= sizeof memo.ua || strcmp(memo.ua, ua) != 0) {
		ua_parse(ua, &memo);
		/* A User-Agent too long to keep is parsed every time. */
		if (n < sizeof memo.ua)
			memcpy(memo.ua, ua, n + 1);
		else
			memo.ua[0] = '\0';
	}
	for (size_t i = 0; i < memo.n; i++)
		recw_tag(w, memo.key[i], memo.val[i], strlen(memo.val[i]));
	return w->failed ? -1 : 0;
}
