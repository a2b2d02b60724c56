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

#include "hugemem.h"
#include "sourcemap_int.h"

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
	if (!smp_grow(ps, (void **)&b->srcs, &b->srccap, b->nsrcs + 1, sizeof *b->srcs))
		return false;
	int c = peek(ps);
	if (c == 'n') {
		b->srcs[b->nsrcs++] = NOSTR;
		return smp_literal(ps, "null");
	}
	if (c != '"')
		return ps->failed ? false
				  : fail(ps, "sources[%zu] must be a string or null, not %s", i,
					 smp_type_ahead(ps));
	size_t off = b->str.len;
	if (!smp_string_to(ps, &b->str, SIZE_MAX, NULL) || !smp_sbuf_add(ps, &b->str, "", 0))
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
			   : fail(ps, "names[%zu] must be a string, not %s", i, smp_type_ahead(ps));
	if (!smp_grow(ps, (void **)&b->names, &b->namecap, b->nnames + 1, sizeof *b->names))
		return false;
	size_t off = b->str.len;
	if (!smp_string_to(ps, &b->str, SIZE_MAX, NULL) || !smp_sbuf_add(ps, &b->str, "", 0))
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
		return smp_literal(ps, "null");
	if (c == '"')
		return smp_skip_string(ps);
	return ps->failed ? false
			  : fail(ps, "sourcesContent[%zu] must be a string or null, not %s", i,
				 smp_type_ahead(ps));
}

static bool ignore_item(struct parser *ps, void *arg, size_t i)
{
	struct map_state *m = arg;
	if (peek(ps) == 'n')
		return smp_literal(ps, "null");
	unsigned long long at = pos(ps);
	char what[48];
	snprintf(what, sizeof what, "ignoreList[%zu]", i);
	uint32_t v;
	int r = smp_uint_value(ps, what, &v);
	if (r < 0)
		return false;
	if (r == 0)
		return fail(ps, "%s must be a number, not %s", what, smp_type_ahead(ps));
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
	if (!smp_sbuf_add(ps, &to->str, prefix, plen) ||
	    (slash && !smp_sbuf_add(ps, &to->str, "/", 1)) ||
	    !smp_sbuf_add(ps, &to->str, s, strlen(s) + 1))
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
		return smp_fail_at(ps, at, "section reaches past 2^32 lines");
	size_t srcbase = g->nsrcs, namebase = g->nnames;
	if ((unsigned long long)srcbase + s->nsrcs >= NONE ||
	    (unsigned long long)namebase + s->nnames >= NONE)
		return smp_fail_at(ps, at, "more than 2^32 sources or names");
	if (!smp_grow(ps, (void **)&g->srcs, &g->srccap, g->nsrcs + s->nsrcs, sizeof *g->srcs) ||
	    !smp_grow(ps, (void **)&g->names, &g->namecap, g->nnames + s->nnames, sizeof *g->names))
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
		return smp_fail_at(ps, at, "more than 2^32 segments");
	if (!smp_grow(ps, (void **)&g->gcols, &g->gcolcap, g->nsegs + s->nsegs, sizeof *g->gcols) ||
	    !smp_grow(ps, (void **)&g->origs, &g->origcap, g->nsegs + s->nsegs, sizeof *g->origs))
		return false;
	/* Lines past `line` hold no segment (the overlap check saw to it):
	 * drop them, or add empty ones up to it. */
	if (g->nlines > (size_t)line + 1)
		g->nlines = (size_t)line + 1;
	while (g->nlines < (size_t)line + 1) {
		if (!smp_grow(ps, (void **)&g->lines, &g->linecap, g->nlines + 1, sizeof *g->lines))
			return false;
		g->lines[g->nlines++] = (uint32_t)g->nsegs;
	}
	for (size_t l = 0; l < s->nlines; l++) {
		if (l > 0) {
			if (!smp_grow(ps, (void **)&g->lines, &g->linecap, g->nlines + 1,
				      sizeof *g->lines))
				return false;
			g->lines[g->nlines++] = (uint32_t)g->nsegs;
		}
		size_t a = s->lines[l], z = l + 1 < s->nlines ? s->lines[l + 1] : s->nsegs;
		for (size_t i = a; i < z; i++) {
			struct seg x = {s->gcols[i], unpack(s, s->origs[i])};
			if (l == 0) {
				if ((unsigned long long)x.gcol + col >= UINT32_MAX)
					return smp_fail_at(ps, at, "section column past 2^32");
				x.gcol += col;
			}
			if (x.o.src != NONE)
				x.o.src += (uint32_t)srcbase;
			if (x.o.name != NONE)
				x.o.name += (uint32_t)namebase;
			if (!smp_put_orig(ps, g, g->nsegs, x.o))
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
	smp_ws(ps);
	if (peek(ps) != '{')
		return ps->failed ? false
				  : fail(ps, "section \"offset\" must be an object, not %s",
					 smp_type_ahead(ps));
	unsigned long long at = pos(ps);
	ps->p++;
	bool have_line = false, have_col = false;
	smp_ws(ps);
	if (peek(ps) == '}')
		ps->p++;
	else
		for (;;) {
			smp_ws(ps);
			if (peek(ps) != '"')
				return smp_unexpected(ps, "a member name");
			bool trunc;
			smp_key_reset(ps);
			if (!smp_string_to(ps, &ps->key, MAX_KEY, &trunc) ||
			    !smp_expect(ps, ':', "':'"))
				return false;
			smp_ws(ps);
			bool is_line = !trunc && smp_key_is(ps, "line");
			bool is_col = !trunc && smp_key_is(ps, "column");
			if (is_line || is_col) {
				const char *what = is_line ? "offset line" : "offset column";
				if ((is_line && have_line) || (is_col && have_col))
					return fail(ps, "duplicate \"%s\"", ps->key.d);
				int r = smp_uint_value(ps, what, is_line ? line : col);
				if (r < 0)
					return false;
				if (r == 0)
					return fail(ps, "%s must be a number, not %s", what,
						    smp_type_ahead(ps));
				*(is_line ? &have_line : &have_col) = true;
			} else if (!smp_skip_value(ps, depth + 1)) {
				return false;
			}
			int more = smp_next_member(ps, '}');
			if (more < 0)
				return false;
			if (!more)
				break;
		}
	if (!have_line)
		return smp_fail_at(ps, at, "section offset has no \"line\"");
	if (!have_col)
		return smp_fail_at(ps, at, "section offset has no \"column\"");
	return true;
}

static bool section_item(struct parser *ps, void *arg, size_t index)
{
	struct section *sec = arg;
	if (peek(ps) != '{')
		return ps->failed ? false
				  : fail(ps, "sections[%zu] must be an object, not %s", index,
					 smp_type_ahead(ps));
	unsigned long long at = pos(ps);
	ps->p++;
	struct body sub;
	memset(&sub, 0, sizeof sub);
	sub.file = NOSTR;
	bool have_offset = false, have_map = false, have_url = false, ok = false;
	uint32_t line = 0, col = 0;
	smp_ws(ps);
	if (peek(ps) == '}') {
		ps->p++;
	} else {
		for (;;) {
			smp_ws(ps);
			if (peek(ps) != '"') {
				smp_unexpected(ps, "a member name");
				goto out;
			}
			bool trunc;
			smp_key_reset(ps);
			if (!smp_string_to(ps, &ps->key, MAX_KEY, &trunc) ||
			    !smp_expect(ps, ':', "':'"))
				goto out;
			(void)trunc; /* a name too long for the buffer is no name known */
			smp_ws(ps);
			if (smp_key_is(ps, "offset")) {
				if (have_offset) {
					fail(ps, "duplicate \"offset\"");
					goto out;
				}
				if (!offset_object(ps, &line, &col, sec->depth + 1))
					goto out;
				have_offset = true;
			} else if (smp_key_is(ps, "map")) {
				if (have_map) {
					fail(ps, "duplicate \"map\"");
					goto out;
				}
				if (peek(ps) != '{') {
					if (!ps->failed)
						fail(ps,
						     "section \"map\" must be an object, not %s",
						     smp_type_ahead(ps));
					goto out;
				}
				if (!parse_map(ps, &sub, sec->nest + 1, sec->depth + 1))
					goto out;
				have_map = true;
			} else {
				if (smp_key_is(ps, "url"))
					have_url = true;
				if (!smp_skip_value(ps, sec->depth + 1))
					goto out;
			}
			int more = smp_next_member(ps, '}');
			if (more < 0)
				goto out;
			if (!more)
				break;
		}
	}
	if (!have_offset) {
		smp_fail_at(ps, at, "sections[%zu] has no \"offset\"", index);
		goto out;
	}
	if (!have_map) {
		if (have_url)
			smp_fail_at(ps, at,
				    "sections[%zu] has a \"url\" (not supported) and no \"map\"",
				    index);
		else
			smp_fail_at(ps, at, "sections[%zu] has no \"map\"", index);
		goto out;
	}
	struct flat *f = sec->flat;
	if (f->have_prev && pos_cmp(line, col, f->prev_line, f->prev_col) < 0) {
		smp_fail_at(ps, at,
			    "sections[%zu] at %u:%u comes before the previous section (%u:%u)",
			    index, line, col, f->prev_line, f->prev_col);
		goto out;
	}
	/* The spec's check is "lesser"; a mapping at the very offset is in
	 * both sections too, and the conformance suite calls that overlap. */
	if (f->have_last && pos_cmp(line, col, f->last_line, f->last_col) <= 0) {
		smp_fail_at(
		    ps, at,
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
	smp_body_free(ps, &sub);
	return ok;
}

/* A map object, p on '{', decoded into b (which is empty); nest counts the
 * index maps it is a section of. A section's map may be an index map
 * itself: TG4 keeps nested index maps (tc39/ecma426#31: generators build
 * them from cached parts) and trace-mapping reads them, although the
 * spec's DecodeIndexSourceMap hands a section's map to DecodeSourceMap.
 * It is flattened like the top one, then placed at its section's offset. */
/* The value of member which (its name read, at keyat), into m and its
 * body; c is the value's first byte. */
static bool member_value(struct parser *ps, struct map_state *m, enum member which, int c,
			 unsigned long long keyat, int nest)
{
	struct body *b = m->b;
	uint32_t v;
	int r;
	switch (which) {
	case M_VERSION:
		r = smp_uint_value(ps, "version", &v);
		if (r < 0)
			return false;
		if (r == 0) {
			fail(ps, "\"version\" must be the number 3, not %s", smp_type_ahead(ps));
			return false;
		}
		if (v != 3) {
			smp_fail_at(ps, keyat, "unsupported version %u (3 expected)", v);
			return false;
		}
		break;
	case M_FILE:
		if (c != '"') {
			if (!ps->failed)
				fail(ps, "\"file\" must be a string, not %s", smp_type_ahead(ps));
			return false;
		}
		b->file = b->str.len;
		if (!smp_string_to(ps, &b->str, SIZE_MAX, NULL) ||
		    !smp_sbuf_add(ps, &b->str, "", 0))
			return false;
		b->str.len++;
		break;
	case M_SOURCEROOT:
		if (c != '"') {
			if (!ps->failed)
				fail(ps, "\"sourceRoot\" must be a string, not %s",
				     smp_type_ahead(ps));
			return false;
		}
		m->has_root = true;
		if (!smp_string_to(ps, &m->root, SIZE_MAX, NULL))
			return false;
		break;
	case M_SOURCES:
		if (!smp_array(ps, "sources", source_item, b))
			return false;
		break;
	case M_SOURCESCONTENT:
		if (!smp_array(ps, "sourcesContent", content_item, NULL))
			return false;
		break;
	case M_NAMES:
		if (!smp_array(ps, "names", name_item, b))
			return false;
		break;
	case M_IGNORELIST:
		if (!smp_array(ps, "ignoreList", ignore_item, m))
			return false;
		break;
	case M_MAPPINGS:
		if (c != '"') {
			if (!ps->failed)
				fail(ps, "\"mappings\" must be a string, not %s",
				     smp_type_ahead(ps));
			return false;
		}
		m->mappings_at = keyat;
		if (!smp_mappings(ps, b, &m->refs))
			return false;
		break;
	case M_SECTIONS: {
		m->sections_at = keyat;
		struct section sec = {ps, &m->flat, nest, m->depth + 1};
		if (!smp_array(ps, "sections", section_item, &sec))
			return false;
		break;
	}
	default:
		if (!smp_skip_value(ps, m->depth + 1))
			return false;
	}
	return true;
}

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
	smp_ws(ps);
	if (peek(ps) == '}') {
		ps->p++;
		goto end;
	}
	for (;;) {
		smp_ws(ps);
		if (peek(ps) != '"') {
			smp_unexpected(ps, "a member name");
			goto out;
		}
		unsigned long long keyat = pos(ps);
		bool trunc;
		smp_key_reset(ps);
		if (!smp_string_to(ps, &ps->key, MAX_KEY, &trunc) || !smp_expect(ps, ':', "':'"))
			goto out;
		enum member which = 0;
		for (size_t i = 0; !trunc && ps->key.d && i < sizeof members / sizeof *members; i++)
			if (smp_key_is(ps, members[i].name))
				which = members[i].m;
		if (which & seen) {
			smp_fail_at(ps, keyat, "duplicate member \"%s\"", ps->key.d);
			goto out;
		}
		seen |= which;
		smp_ws(ps);
		if (!member_value(ps, &m, which, peek(ps), keyat, nest))
			goto out;
		int more = smp_next_member(ps, '}');
		if (more < 0)
			goto out;
		if (!more)
			break;
	}
end:
	if (!(seen & M_VERSION)) {
		smp_fail_at(ps, at, "no \"version\"");
		goto out;
	}
	if (seen & M_SECTIONS) {
		if (seen & M_MAPPINGS) {
			smp_fail_at(ps,
				    m.mappings_at > m.sections_at ? m.mappings_at : m.sections_at,
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
		smp_body_free(ps, b);
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
		smp_fail_at(ps, at, "no \"mappings\"");
		goto out;
	}
	if (!(seen & M_SOURCES)) {
		smp_fail_at(ps, at, "no \"sources\"");
		goto out;
	}
	if (m.refs.maxsrc >= (long long)b->nsrcs) {
		smp_fail_at(ps, m.refs.srcat, "source index %lld out of range (%zu sources)",
			    m.refs.maxsrc, b->nsrcs);
		goto out;
	}
	if (m.refs.maxname >= (long long)b->nnames) {
		smp_fail_at(ps, m.refs.nameat, "name index %lld out of range (%zu names)",
			    m.refs.maxname, b->nnames);
		goto out;
	}
	if (m.maxignore >= (long long)b->nsrcs) {
		smp_fail_at(ps, m.ignoreat, "ignoreList index %lld out of range (%zu sources)",
			    m.maxignore, b->nsrcs);
		goto out;
	}
	ok = join_root(ps, &m);
out:
	smp_body_free(ps, &flat);
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
		if (!smp_literal(ps, ")]}'"))
			goto bad;
		while (peek(ps) >= 0 && *ps->p != '\n')
			ps->p++;
	}
	smp_ws(ps);
	if (peek(ps) != '{') {
		if (!ps->failed)
			fail(ps, "a source map is a JSON object, not %s",
			     peek(ps) < 0 ? "nothing" : smp_type_ahead(ps));
		goto bad;
	}
	if (!parse_map(ps, &map->b, 0, 0))
		goto bad;
	smp_ws(ps);
	if (peek(ps) >= 0) {
		smp_unexpected(ps, "the end of input");
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
	smp_body_free(NULL, &map->b);
	free(map);
	return NULL;
}

struct sourcemap *sm_parse(sm_read_fn read, void *ctx, size_t mem_limit, struct rum_error *err)
{
	struct parser ps;
	memset(&ps, 0, sizeof ps);
	ps.read = read;
	ps.ctx = ctx;
	ps.limit = mem_limit;
	ps.err = err;
	ps.buf = malloc(READ_CHUNK);
	if (!ps.buf) {
		if (err)
			err_set(err, "byte 0: out of memory");
		return NULL;
	}
	ps.start = ps.p = ps.end = ps.buf;
	struct sourcemap *map = parse(&ps);
	free(ps.buf);
	return map;
}

struct sourcemap *sm_parse_mem(const char *data, size_t len, size_t mem_limit,
			       struct rum_error *err)
{
	struct parser ps;
	memset(&ps, 0, sizeof ps);
	ps.limit = mem_limit;
	ps.err = err;
	ps.start = ps.p = (const unsigned char *)data;
	ps.end = ps.p + len;
	return parse(&ps);
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
	smp_body_free(NULL, &map->b);
	free(map->blocks);
	free(map);
}
