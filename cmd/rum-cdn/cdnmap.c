/* The CDN dictionary: a strict reader of the map on json.h's scanner
 * (positions in errors, so a user can fix a hand-written map), a hash of
 * plain domains and a list of globs. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cdnmap.h"
#include "fnv.h"
#include "json.h"

#define MAX_DEPTH 64
#define NAME_MAX_LEN 253
#define LABEL_MAX_LEN 63

struct glob {
	uint32_t entry;
	uint16_t labels;
	uint16_t literal; /* characters other than '*': the more, the more specific */
};

struct cdn_map {
	struct cdn_provider *ent;
	size_t n;
	char *strings;
	uint32_t *exact; /* entry index + 1; 0 is an empty slot */
	size_t exact_mask;
	struct glob *globs;
	size_t nglobs;
};

/* Entries while parsing: offsets into the string arena, which may move. */
struct pending {
	size_t domain, name, name_len;
};

struct jp {
	const char *s, *p, *end;
	struct rum_error *err;
	struct buf scratch;
};

static int map_fail(struct jp *j, const char *at, const char *reason)
{
	if (!j->err->msg[0])
		err_reason(j->err, (size_t)(at - j->s), reason);
	return -1;
}

static void map_skip_ws(struct jp *j)
{
	j->p = json_skip_ws(j->p, j->end);
}

/* The scanner's failure in the map's words; tok is where the string being
 * read starts, when it is a string. */
static int scan_failed(struct jp *j, const char *tok, const struct json_fail *f)
{
	switch (f->code) {
	case JSON_E_UNTERMINATED:
		return map_fail(j, tok ? tok : f->at, "unterminated string");
	case JSON_E_CONTROL:
		return map_fail(j, f->at, "control character in a string");
	case JSON_E_U_ESCAPE:
		return map_fail(j, f->at, "bad \\u escape");
	case JSON_E_ESCAPE:
		return map_fail(j, f->at, "bad escape");
	case JSON_E_SURROGATE:
		return map_fail(j, tok ? tok : f->at, "bad escape in a string");
	case JSON_E_NUMBER:
		/* A '-' without digits is no value at all. */
		if (f->at > j->s && f->at[-1] == '-')
			return map_fail(j, f->at - 1, "expected a value");
		return map_fail(j, f->at, "bad number");
	case JSON_E_KEY:
		return map_fail(j, f->at, "expected a string");
	case JSON_E_COLON:
		return map_fail(j, f->at, "expected ':'");
	case JSON_E_OBJ_SEP:
		return map_fail(j, f->at, "expected ',' or '}'");
	case JSON_E_ARR_SEP:
		return map_fail(j, f->at, "expected ',' or ']'");
	case JSON_E_DEPTH:
		return map_fail(j, f->at, "nested too deep");
	default:
		return map_fail(j, f->at, "expected a value");
	}
}

/* A string token, quotes included, checked against the JSON grammar. */
static int string_tok(struct jp *j, const char **tok, size_t *n)
{
	const char *start = j->p;
	struct json_fail f;
	int esc = 0;
	if (j->p >= j->end || *j->p != '"')
		return map_fail(j, j->p, "expected a string");
	const char *e = json_scan_string(j->p, j->end, 0, &esc, &f);
	if (!e)
		return scan_failed(j, start, &f);
	j->p = e;
	*tok = start;
	*n = (size_t)(e - start);
	return 0;
}

static int string_val(struct jp *j, const char **s, size_t *n)
{
	const char *tok = NULL;
	size_t tn = 0;
	if (string_tok(j, &tok, &tn) < 0)
		return -1;
	if (json_unescape(tok, tn, 0, &j->scratch, s, n) < 0)
		return map_fail(j, tok,
				j->scratch.err ? "out of memory" : "bad escape in a string");
	return 0;
}

/* An unknown member's value, checked and skipped; depth is its nesting. */
static int map_skip_value(struct jp *j, int depth)
{
	struct json_fail f;
	map_skip_ws(j);
	const char *e = json_skip_value(j->p, j->end, depth, MAX_DEPTH, 0, &f);
	if (!e)
		return scan_failed(j, NULL, &f);
	j->p = e;
	return 0;
}

/* Lower-case a domain or glob into the arena; NULL reason when fine. */
static const char *add_domain(struct buf *arena, const char *s, size_t n)
{
	if (n && s[n - 1] == '.')
		n--;
	if (n == 0)
		return "empty domain";
	if (n > NAME_MAX_LEN)
		return "domain longer than 253 characters";
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return "empty label in domain";
			label = 0;
			continue;
		}
		if (++label > LABEL_MAX_LEN)
			return "domain label longer than 63 characters";
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '*'))
			return "domain has a character other than letters, digits, '-', '_', '.', "
			       "'*'";
	}
	if (label == 0)
		return "empty label in domain";
	if (buf_reserve(arena, n + 1) < 0)
		return "out of memory";
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		arena->p[arena->len++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	arena->p[arena->len++] = 0;
	return NULL;
}

static int parse_entry(struct jp *j, struct buf *arena, struct pending *pe)
{
	const char *obj = j->p;
	j->p++; /* '{' */
	int have_domain = 0, have_name = 0;
	map_skip_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return map_fail(j, obj, "entry without \"domain\" and \"name\"");
	}
	for (;;) {
		const char *key;
		size_t kn;
		map_skip_ws(j);
		const char *key_at = j->p;
		if (string_val(j, &key, &kn) < 0)
			return -1;
		int which = 0;
		if (kn == 6 && memcmp(key, "domain", 6) == 0)
			which = 1;
		else if (kn == 4 && memcmp(key, "name", 4) == 0)
			which = 2;
		(void)key_at;
		map_skip_ws(j);
		if (j->p >= j->end || *j->p != ':')
			return map_fail(j, j->p, "expected ':'");
		j->p++;
		map_skip_ws(j);
		const char *val_at = j->p;
		if (which) {
			const char *v;
			size_t vn;
			if (j->p >= j->end || *j->p != '"')
				return map_fail(j, j->p,
						which == 1 ? "\"domain\" is not a string"
							   : "\"name\" is not a string");
			if (string_val(j, &v, &vn) < 0)
				return -1;
			if (which == 1) {
				pe->domain = arena->len;
				const char *why = add_domain(arena, v, vn);
				if (why)
					return map_fail(j, val_at, why);
				have_domain = 1;
			} else {
				if (vn == 0)
					return map_fail(j, val_at, "empty \"name\"");
				pe->name = arena->len;
				pe->name_len = vn;
				if (buf_add(arena, v, vn) < 0 || buf_addc(arena, 0) < 0)
					return map_fail(j, val_at, "out of memory");
				have_name = 1;
			}
		} else if (map_skip_value(j, 2) < 0) {
			return -1;
		}
		map_skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == '}')
			break;
		return map_fail(j, j->p, "expected ',' or '}'");
	}
	j->p++;
	if (!have_domain)
		return map_fail(j, obj, "entry without \"domain\"");
	if (!have_name)
		return map_fail(j, obj, "entry without \"name\"");
	return 0;
}

static uint32_t hash_name(const char *s, size_t n)
{
	uint32_t h = fnv1a(s, n);
	return h ^ (h >> 16);
}

static int build_index(struct cdn_map *m)
{
	size_t cap = 16;
	while (cap < m->n * 2)
		cap *= 2;
	m->exact = calloc(cap, sizeof *m->exact);
	m->globs = calloc(m->n, sizeof *m->globs);
	if (!m->exact || !m->globs)
		return -1;
	m->exact_mask = cap - 1;
	for (size_t i = 0; i < m->n; i++) {
		const char *d = m->ent[i].domain;
		size_t dn = strlen(d);
		if (memchr(d, '*', dn)) {
			struct glob *g = &m->globs[m->nglobs++];
			g->entry = (uint32_t)i;
			g->labels = 1;
			for (size_t k = 0; k < dn; k++) {
				if (d[k] == '.')
					g->labels++;
				if (d[k] != '*')
					g->literal++;
			}
			continue;
		}
		size_t slot = hash_name(d, dn) & m->exact_mask;
		for (;;) {
			uint32_t e = m->exact[slot];
			if (!e) {
				m->exact[slot] = (uint32_t)i + 1;
				break;
			}
			if (strcmp(m->ent[e - 1].domain, d) == 0)
				break; /* the first entry of a domain wins */
			slot = (slot + 1) & m->exact_mask;
		}
	}
	return 0;
}

static void line_col(const char *s, size_t off, struct rum_error *err)
{
	size_t line = 1, col = 1;
	for (size_t i = 0; i < off; i++) {
		if (s[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	err->line = line;
	err->column = col;
}

/* The map's text: an array of entries, each parsed into (*pend)[i] and
 * the arena; *npend of them. */
static int parse_entries(struct jp *j, struct buf *arena, struct pending **pend, size_t *npend)
{
	size_t cap = 0;
	/* A UTF-8 byte order mark, as some editors write. */
	if (j->end - j->p >= 3 && memcmp(j->p, "\xEF\xBB\xBF", 3) == 0)
		j->p += 3;
	map_skip_ws(j);
	if (j->p >= j->end || *j->p != '[')
		return map_fail(
		    j, j->p, "expected '[' (a map is an array of {\"domain\",\"name\"} objects)");
	j->p++;
	map_skip_ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
	} else {
		for (;;) {
			map_skip_ws(j);
			if (j->p >= j->end || *j->p != '{')
				return map_fail(
				    j, j->p, "expected an entry ({\"domain\":...,\"name\":...})");
			if (*npend == cap) {
				size_t ncap = cap ? cap * 2 : 256;
				struct pending *np = realloc(*pend, ncap * sizeof *np);
				if (!np)
					return map_fail(j, j->p, "out of memory");
				*pend = np;
				cap = ncap;
			}
			if (parse_entry(j, arena, &(*pend)[*npend]) < 0)
				return -1;
			(*npend)++;
			map_skip_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == ']') {
				j->p++;
				break;
			}
			return map_fail(j, j->p, "expected ',' or ']'");
		}
	}
	map_skip_ws(j);
	if (j->p != j->end)
		return map_fail(j, j->p, "text after the map");
	return 0;
}

struct cdn_map *cdnmap_parse(const char *text, size_t len, struct rum_error *err)
{
	memset(err, 0, sizeof *err);
	struct jp j = {text, text, text + len, err, BUF_INIT};
	struct buf arena = BUF_INIT;
	struct pending *pend = NULL;
	size_t npend = 0;
	struct cdn_map *m = NULL;

	if (len > CDNMAP_MAX_BYTES) {
		map_fail(&j, text, "map larger than 16 MiB");
		goto out;
	}
	if (parse_entries(&j, &arena, &pend, &npend) < 0)
		goto out;
	if (npend == 0) {
		map_fail(&j, text, "the map has no entries");
		goto out;
	}
	if (npend > UINT32_MAX / 2) {
		map_fail(&j, text, "too many entries");
		goto out;
	}
	m = calloc(1, sizeof *m);
	if (!m || !(m->ent = calloc(npend, sizeof *m->ent))) {
		map_fail(&j, text, "out of memory");
		goto out;
	}
	m->strings = arena.p;
	arena.p = NULL;
	m->n = npend;
	for (size_t i = 0; i < npend; i++) {
		m->ent[i].domain = m->strings + pend[i].domain;
		m->ent[i].name = m->strings + pend[i].name;
		m->ent[i].name_len = pend[i].name_len;
	}
	if (build_index(m) < 0)
		map_fail(&j, text, "out of memory");
out:
	free(pend);
	buf_free(&arena);
	buf_free(&j.scratch);
	if (err->msg[0]) {
		cdnmap_free(m);
		line_col(text, err->offset, err);
		return NULL;
	}
	return m;
}

void cdnmap_free(struct cdn_map *m)
{
	if (!m)
		return;
	free(m->ent);
	free(m->strings);
	free(m->exact);
	free(m->globs);
	free(m);
}

size_t cdnmap_count(const struct cdn_map *m)
{
	return m->n;
}

/* '*' matches any run of characters; the label has no dots. */
static int glob_label(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else {
			return 0;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

/* Same number of labels on both sides (the caller checked). */
static int glob_match(const char *pat, const char *s, size_t sn)
{
	const char *se = s + sn;
	for (;;) {
		const char *pd = strchr(pat, '.');
		size_t pl = pd ? (size_t)(pd - pat) : strlen(pat);
		const char *sd = memchr(s, '.', (size_t)(se - s));
		size_t sl = sd ? (size_t)(sd - s) : (size_t)(se - s);
		if (!glob_label(pat, pl, s, sl))
			return 0;
		if (!pd || !sd)
			return !pd && !sd;
		pat = pd + 1;
		s = sd + 1;
	}
}

const struct cdn_provider *cdnmap_match(const struct cdn_map *m, const char *name, size_t len)
{
	char low[1024];
	if (len && name[len - 1] == '.')
		len--;
	if (len == 0 || len >= sizeof low)
		return NULL;
	unsigned labels = 1;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		if (c == '.')
			labels++;
	}
	low[len] = 0;
	/* From the whole name to its last label: the first suffix that matches
	 * anything is the most specific match. */
	for (size_t off = 0;;) {
		const char *suf = low + off;
		size_t sn = len - off;
		size_t slot = hash_name(suf, sn) & m->exact_mask;
		for (uint32_t e; (e = m->exact[slot]); slot = (slot + 1) & m->exact_mask)
			if (strcmp(m->ent[e - 1].domain, suf) == 0)
				return &m->ent[e - 1];
		const struct glob *best = NULL;
		for (size_t g = 0; g < m->nglobs; g++) {
			const struct glob *gl = &m->globs[g];
			if (gl->labels != labels || (best && gl->literal <= best->literal))
				continue;
			if (glob_match(m->ent[gl->entry].domain, suf, sn))
				best = gl;
		}
		if (best)
			return &m->ent[best->entry];
		const char *dot = memchr(suf, '.', sn);
		if (!dot)
			return NULL;
		off = (size_t)(dot - low) + 1;
		labels--;
	}
}
