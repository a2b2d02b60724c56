#include "retrace.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Fixed bounds keep the work per frame independent of what the map claims:
 * R8 never inlines this deep nor maps one line to this many methods. */
#define MAX_ALTS 32
#define MAX_DEPTH 48
/* A single obfuscated line mapped to an original range is ambiguous over
 * its lines; print at most this many of them. */
#define MAX_SPAN_LINES 16
#define NO_LINE (-1)

struct oframe {
	uint32_t cls;  /* original class (string offset) */
	uint32_t name; /* original method name, or the obfuscated one */
	int64_t line;
	const struct r8_member *mb; /* NULL when the method is unknown */
};

struct alt {
	unsigned n;
	struct oframe f[MAX_DEPTH];
};

struct frame_line {
	const char *pre, *pre_e; /* before "at " */
	const char *mod, *mod_e; /* "module/" prefix, kept */
	const char *cls, *cls_e;
	const char *meth, *meth_e;
	const char *src, *src_e;   /* inside the parentheses, before ":line" */
	const char *tail, *tail_e; /* after ')' */
	bool has_line;
	int64_t line;
	bool native;
};

struct ctx {
	const struct r8map *map;
	struct buf *out;
	struct retrace_stats *st;
	/* outline: the position carried to the next frame */
	bool carry;
	uint32_t carry_pos;
	/* the exception line just above (for rewriteFrame) */
	bool after_exception;
	char exc_desc[256];
	size_t exc_desc_len;
	struct alt alts[MAX_ALTS];
	unsigned nalts;
};

static bool is_ident(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Linear in the line, however many "at " it holds: the parentheses found
 * for one candidate serve the next ones, and a candidate's name ends at the
 * first blank, before the next candidate starts. */
static bool parse_frame(const char *p, const char *e, struct frame_line *fl)
{
	const char *open = NULL, *close = NULL;
	for (const char *a = p; a + 3 <= e; a++) {
		if (a[0] != 'a' || a[1] != 't' || !is_space(a[2]) || (a > p && !is_space(a[-1])))
			continue;
		const char *q = a + 3;
		while (q < e && is_space(*q))
			q++;
		if (!open || open < q) {
			open = memchr(q, '(', (size_t)(e - q));
			if (!open)
				return false;
		}
		if (open == q)
			continue;
		if (!close || close < open) {
			close = memchr(open, ')', (size_t)(e - open));
			if (!close)
				return false;
		}
		const char *name = q, *slash = NULL, *dot = NULL;
		bool ok = true;
		for (const char *r = q; r < open && ok; r++) {
			if (*r == '/')
				slash = r;
			else if (*r == '.')
				dot = r;
			else if (is_space(*r))
				ok = false;
		}
		if (!ok)
			continue;
		if (slash)
			name = slash + 1;
		if (!dot || dot < name || dot == name || dot + 1 == open)
			continue;
		memset(fl, 0, sizeof *fl);
		fl->pre = p;
		fl->pre_e = a;
		fl->mod = q;
		fl->mod_e = name;
		fl->cls = name;
		fl->cls_e = dot;
		fl->meth = dot + 1;
		fl->meth_e = open;
		fl->src = open + 1;
		fl->src_e = close;
		fl->tail = close + 1;
		fl->tail_e = e;
		fl->native = close - open - 1 == 13 && memcmp(open + 1, "Native Method", 13) == 0;
		const char *colon = NULL;
		for (const char *r = close - 1; r > open; r--)
			if (*r == ':') {
				colon = r;
				break;
			}
		if (colon) {
			int64_t v = 0;
			const char *r = colon + 1;
			while (r < close && *r >= '0' && *r <= '9' && v < 100000000)
				v = v * 10 + (*r++ - '0');
			if (r == close && r > colon + 1) {
				fl->has_line = true;
				fl->line = v;
				fl->src_e = colon;
			}
		}
		return true;
	}
	return false;
}

static int frame_cmp(const struct r8map *m, const struct oframe *a, const struct oframe *b)
{
	if (a->cls != b->cls) {
		int c = strcmp(r8map_str(m, a->cls), r8map_str(m, b->cls));
		if (c)
			return c;
	}
	if (a->name != b->name) {
		int c = strcmp(r8map_str(m, a->name), r8map_str(m, b->name));
		if (c)
			return c;
	}
	return a->line < b->line ? -1 : a->line > b->line;
}

static int alt_cmp(const struct r8map *m, const struct alt *a, const struct alt *b)
{
	for (unsigned i = 0; i < a->n && i < b->n; i++) {
		int c = frame_cmp(m, &a->f[i], &b->f[i]);
		if (c)
			return c;
	}
	return a->n < b->n ? -1 : a->n > b->n;
}

static struct alt *new_alt(struct ctx *c)
{
	if (c->nalts == MAX_ALTS)
		return NULL;
	struct alt *a = &c->alts[c->nalts++];
	a->n = 0;
	return a;
}

static void alt_push(struct alt *a, uint32_t cls, uint32_t name, int64_t line,
		     const struct r8_member *mb)
{
	if (a->n == MAX_DEPTH)
		return;
	a->f[a->n++] = (struct oframe){cls, name, line, mb};
}

/* One group (an obfuscated range and its inlining callers) as one or more
 * alternatives. */
static void add_group(struct ctx *c, const struct r8_class *cls, const struct r8_member *g,
		      size_t n, bool has_line, int64_t line, bool print_lines, bool guessed)
{
	const struct r8_member *in = &g[0];
	int64_t lines[MAX_SPAN_LINES];
	unsigned nlines = 1;
	lines[0] = NO_LINE;
	if (has_line) {
		if (!(in->flags & R8M_ORIG) ||
		    (!(in->flags & R8M_RANGE) && in->orig_start == 0 && in->orig_end == 0)) {
			/* no original line, or R8's ":0" / ":0:0" on a whole
			 * method: the line is the one the frame has */
			lines[0] = line;
		} else if ((in->flags & R8M_RANGE) && (in->flags & R8M_ORIG_RANGE) &&
			   in->orig_end > in->orig_start) {
			uint32_t smin = in->min_end - in->min_start;
			uint32_t sorig = in->orig_end - in->orig_start;
			if (smin == sorig) {
				lines[0] = (int64_t)in->orig_start + (line - in->min_start);
			} else if (smin == 0 && !guessed) {
				nlines = 0;
				for (uint32_t l = in->orig_start;
				     l <= in->orig_end && nlines < MAX_SPAN_LINES; l++)
					lines[nlines++] = l;
			} else {
				lines[0] = in->orig_start;
			}
		} else {
			lines[0] = in->orig_start;
		}
	} else if (print_lines && (in->flags & R8M_ORIG)) {
		lines[0] = in->orig_start;
	}
	for (unsigned k = 0; k < nlines; k++) {
		struct alt *a = new_alt(c);
		if (!a)
			return;
		for (size_t i = 0; i < n; i++) {
			const struct r8_member *mb = &g[i];
			int64_t l = NO_LINE;
			if (i == 0)
				l = lines[k];
			else if (mb->flags & R8M_ORIG)
				l = (has_line || print_lines) ? (int64_t)mb->orig_start : NO_LINE;
			else if (has_line)
				l = line;
			alt_push(a, mb->cls ? mb->cls : cls->orig, mb->name, l, mb);
		}
	}
}

static size_t group_len(const struct r8_member *m, size_t i, size_t n)
{
	size_t j = i + 1;
	while (j < n && (m[j].flags & R8M_CALLER))
		j++;
	return j - i;
}

static bool in_range(const struct r8_member *mb, int64_t line)
{
	return (mb->flags & R8M_RANGE) && line >= mb->min_start && line <= mb->min_end;
}

/* The alternatives for a frame of a mapped class. */
static void retrace_frame_alts(struct ctx *c, const struct r8_class *cls, uint32_t meth,
			       bool has_line, int64_t line)
{
	const struct r8map *m = c->map;
	const struct r8_member *ms = NULL;
	size_t n = meth ? r8map_methods_named(m, cls, meth, &ms) : 0;
	c->nalts = 0;
	bool guessed = false;
	if (!has_line) {
		/* R8 writes 0:0 ranges for what a frame without a line means;
		 * that line stands for the whole range, not one of its lines */
		for (size_t i = 0; i < n; i += group_len(ms, i, n))
			if (in_range(&ms[i], 0)) {
				has_line = guessed = true;
				line = 0;
				break;
			}
	}
	if (has_line) {
		for (size_t i = 0; i < n; i += group_len(ms, i, n))
			if (in_range(&ms[i], line))
				add_group(c, cls, &ms[i], group_len(ms, i, n), true, line, true,
					  guessed);
		if (!c->nalts)
			for (size_t i = 0; i < n; i += group_len(ms, i, n))
				if (!(ms[i].flags & R8M_RANGE))
					add_group(c, cls, &ms[i], group_len(ms, i, n), true, line,
						  true, guessed);
		if (c->nalts || line != 0 || guessed)
			return;
		/* line 0 outside every range: the JVM's and ART's "no line",
		 * resolved as such, printed as the frame had it */
		retrace_frame_alts(c, cls, meth, false, 0);
		for (unsigned i = 0; i < c->nalts; i++)
			for (unsigned k = 0; k < c->alts[i].n; k++)
				if (c->alts[i].f[k].line == NO_LINE)
					c->alts[i].f[k].line = 0;
		return;
	}
	size_t groups = 0;
	bool ranged = false;
	for (size_t i = 0; i < n; i += group_len(ms, i, n)) {
		groups++;
		ranged |= (ms[i].flags & R8M_RANGE) != 0;
	}
	/* without a line, lines are known only when one mapping applies or
	 * every candidate maps the whole method */
	bool print_lines = groups == 1 || !ranged;
	for (size_t i = 0; i < n; i += group_len(ms, i, n))
		add_group(c, cls, &ms[i], group_len(ms, i, n), false, 0, print_lines, false);
}

/* Drop synthesized frames, apply a rewriteFrame rule, sort and dedupe. */
static void tidy(struct ctx *c, bool first_after_exception)
{
	const struct r8map *m = c->map;
	for (unsigned i = 0; i < c->nalts; i++) {
		struct alt *a = &c->alts[i];
		unsigned keep = 0;
		for (unsigned k = 0; k < a->n; k++)
			if (!a->f[k].mb || !(a->f[k].mb->flags & R8M_SYNTH))
				keep++;
		if (keep && keep < a->n) {
			unsigned w = 0;
			for (unsigned k = 0; k < a->n; k++)
				if (!a->f[k].mb || !(a->f[k].mb->flags & R8M_SYNTH))
					a->f[w++] = a->f[k];
			a->n = w;
		}
		if (!first_after_exception)
			continue;
		for (unsigned k = 0; k < a->n; k++) {
			const struct r8_rewrite *rw =
			    a->f[k].mb ? r8map_rewrite(m, a->f[k].mb->rewrite) : NULL;
			if (!rw)
				continue;
			const char *t = r8map_str(m, rw->throws);
			if (strlen(t) == c->exc_desc_len &&
			    memcmp(t, c->exc_desc, c->exc_desc_len) == 0 &&
			    rw->remove_inner < a->n) {
				memmove(a->f, a->f + rw->remove_inner,
					(a->n - rw->remove_inner) * sizeof a->f[0]);
				a->n -= rw->remove_inner;
				break;
			}
		}
	}
	/* insertion sort: a handful of alternatives at most */
	for (unsigned i = 1; i < c->nalts; i++) {
		struct alt tmp = c->alts[i];
		unsigned j = i;
		while (j > 0 && alt_cmp(m, &c->alts[j - 1], &tmp) > 0) {
			c->alts[j] = c->alts[j - 1];
			j--;
		}
		c->alts[j] = tmp;
	}
	unsigned w = 0;
	for (unsigned i = 0; i < c->nalts; i++)
		if (!w || alt_cmp(m, &c->alts[w - 1], &c->alts[i]) != 0)
			c->alts[w++] = c->alts[i];
	c->nalts = w;
}

static void put_file(struct ctx *c, const struct frame_line *fl, uint32_t cls)
{
	const struct r8map *m = c->map;
	struct buf *o = c->out;
	if (fl->native) {
		buf_add(o, fl->src, (size_t)(fl->src_e - fl->src));
		return;
	}
	const struct r8_class *oc = r8map_class_by_orig(m, cls);
	if (oc && oc->file) {
		buf_adds(o, r8map_str(m, oc->file));
		return;
	}
	const char *name = r8map_str(m, cls);
	const char *s = strrchr(name, '.');
	s = s ? s + 1 : name;
	const char *dollar = strchr(s + (*s == '$'), '$');
	size_t n = dollar ? (size_t)(dollar - s) : strlen(s);
	size_t sl = (size_t)(fl->src_e - fl->src);
	if (n > 2 && s[n - 2] == 'K' && s[n - 1] == 't') {
		/* Kotlin's file facade: FooKt comes from Foo.kt */
		buf_add(o, s, n - 2);
		buf_adds(o, ".kt");
	} else {
		buf_add(o, s, n);
		buf_adds(o, sl >= 3 && memcmp(fl->src_e - 3, ".kt", 3) == 0 ? ".kt" : ".java");
	}
}

static void put_frame(struct ctx *c, const struct frame_line *fl, const struct oframe *f,
		      bool alternative, const char *eol, size_t eol_len)
{
	struct buf *o = c->out;
	buf_add(o, fl->pre, (size_t)(fl->pre_e - fl->pre));
	if (alternative)
		buf_adds(o, "<OR> ");
	buf_adds(o, "at ");
	buf_add(o, fl->mod, (size_t)(fl->mod_e - fl->mod));
	buf_adds(o, r8map_str(c->map, f->cls));
	buf_addc(o, '.');
	buf_adds(o, r8map_str(c->map, f->name));
	buf_addc(o, '(');
	put_file(c, fl, f->cls);
	if (f->line != NO_LINE && !fl->native) {
		buf_addc(o, ':');
		buf_add_i64(o, f->line);
	}
	buf_addc(o, ')');
	buf_add(o, fl->tail, (size_t)(fl->tail_e - fl->tail));
	buf_add(o, eol, eol_len);
}

static void put_alts(struct ctx *c, const struct frame_line *fl, const char *eol, size_t eol_len)
{
	unsigned depth = 0;
	for (unsigned i = 0; i < c->nalts; i++)
		if (c->alts[i].n > depth)
			depth = c->alts[i].n;
	bool ambiguous = false;
	/* R8 prints alternatives frame by frame: at each depth (innermost
	 * first) the distinct candidates, all but the first as "<OR> at" */
	for (unsigned d = 0; d < depth; d++) {
		unsigned shown = 0;
		for (unsigned i = 0; i < c->nalts; i++) {
			const struct alt *a = &c->alts[i];
			if (d >= a->n)
				continue;
			bool dup = false;
			for (unsigned j = 0; j < i && !dup; j++)
				dup = d < c->alts[j].n &&
				      frame_cmp(c->map, &c->alts[j].f[d], &a->f[d]) == 0;
			if (dup)
				continue;
			put_frame(c, fl, &a->f[d], shown > 0, eol, eol_len);
			shown++;
		}
		if (shown > 1)
			ambiguous = true;
	}
	if (ambiguous && c->st)
		c->st->ambiguous++;
}

static const struct r8_class *find_class(const struct r8map *m, const char *s, size_t n)
{
	uint32_t off = r8map_find_str(m, s, n);
	return off ? r8map_class_by_obf(m, off) : NULL;
}

/* An outline's call site: the position the outline reported, mapped
 * through the outlineCallsite table of the frame's range. */
static bool callsite(struct ctx *c, const struct r8_class *cls, uint32_t meth, int64_t line,
		     int64_t *out)
{
	const struct r8_member *ms = NULL;
	size_t n = meth ? r8map_methods_named(c->map, cls, meth, &ms) : 0;
	const struct r8_pair *pairs = r8map_pairs(c->map);
	for (size_t i = 0; i < n; i++) {
		if (!in_range(&ms[i], line) || !ms[i].callsite)
			continue;
		for (size_t k = 0; k < ms[i].ncallsite; k++) {
			const struct r8_pair *p = &pairs[ms[i].callsite - 1 + k];
			if (p->from == c->carry_pos) {
				*out = p->to;
				return true;
			}
		}
	}
	return false;
}

static void frame(struct ctx *c, const struct frame_line *fl, const char *line, const char *eol,
		  size_t eol_len, const char *le)
{
	const struct r8map *m = c->map;
	bool first_after_exception = c->after_exception;
	c->after_exception = false;
	if (c->st)
		c->st->frames++;
	const struct r8_class *cls = find_class(m, fl->cls, (size_t)(fl->cls_e - fl->cls));
	if (!cls) {
		c->carry = false;
		buf_add(c->out, line, (size_t)(le - line));
		buf_add(c->out, eol, eol_len);
		return;
	}
	if (c->st)
		c->st->mapped++;
	uint32_t meth = r8map_find_str(m, fl->meth, (size_t)(fl->meth_e - fl->meth));
	int64_t ln = fl->line;
	bool has_line = fl->has_line;
	if (c->carry && has_line) {
		int64_t to;
		if (callsite(c, cls, meth, ln, &to))
			ln = to;
	}
	c->carry = false;
	retrace_frame_alts(c, cls, meth, has_line, ln);
	if (c->nalts == 1 && c->alts[0].n == 1 && c->alts[0].f[0].mb &&
	    (c->alts[0].f[0].mb->flags & R8M_OUTLINE) && has_line && ln >= 0 && ln <= UINT32_MAX) {
		/* the outline's frame says nothing itself: its position is
		 * resolved at the caller's call site on the next line */
		c->carry = true;
		c->carry_pos = (uint32_t)ln;
		return;
	}
	tidy(c, first_after_exception);
	if (!c->nalts) {
		/* class known, method not: the class's name with the
		 * obfuscated method, as R8 prints it */
		struct oframe f = {cls->orig, 0, has_line ? ln : NO_LINE, NULL};
		struct buf *o = c->out;
		buf_add(o, fl->pre, (size_t)(fl->pre_e - fl->pre));
		buf_adds(o, "at ");
		buf_add(o, fl->mod, (size_t)(fl->mod_e - fl->mod));
		buf_adds(o, r8map_str(m, f.cls));
		buf_addc(o, '.');
		buf_add(o, fl->meth, (size_t)(fl->meth_e - fl->meth));
		buf_addc(o, '(');
		put_file(c, fl, f.cls);
		if (f.line != NO_LINE && !fl->native) {
			buf_addc(o, ':');
			buf_add_i64(o, f.line);
		}
		buf_addc(o, ')');
		buf_add(o, fl->tail, (size_t)(fl->tail_e - fl->tail));
		buf_add(o, eol, eol_len);
		return;
	}
	put_alts(c, fl, eol, eol_len);
}

static void set_exception(struct ctx *c, const char *name, size_t n)
{
	c->after_exception = true;
	c->exc_desc_len = 0;
	if (n + 2 > sizeof c->exc_desc)
		return;
	c->exc_desc[0] = 'L';
	for (size_t i = 0; i < n; i++)
		c->exc_desc[i + 1] = name[i] == '.' ? '/' : name[i];
	c->exc_desc[n + 1] = ';';
	c->exc_desc_len = n + 2;
}

static const char *skip_prefix(const char *p, const char *e, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(e - p) >= n && memcmp(p, lit, n) == 0)
		return p + n;
	return p;
}

/* Not a frame: the exception class at the head of the line, then every
 * qualified name the map knows. */
static void text_line(struct ctx *c, const char *p, const char *e, const char *eol, size_t eol_len)
{
	const struct r8map *m = c->map;
	struct buf *o = c->out;
	c->after_exception = false;
	c->carry = false;
	const char *h = p;
	while (h < e && is_space(*h))
		h++;
	const char *h0 = h;
	h = skip_prefix(h, e, "Caused by: ");
	if (h == h0)
		h = skip_prefix(h, e, "Suppressed: ");
	if (h == h0 && (h = skip_prefix(h, e, "Exception in thread \"")) != h0) {
		const char *q = memchr(h, '"', (size_t)(e - h));
		h = q && q + 1 < e && q[1] == ' ' ? q + 2 : h0;
	}
	const char *t = h;
	while (t < e && (is_ident((unsigned char)*t) || *t == '.'))
		t++;
	const char *head = NULL, *head_e = NULL;
	if (t > h && (t == e || *t == ':') && is_ident((unsigned char)*h) &&
	    !(*h >= '0' && *h <= '9')) {
		head = h;
		head_e = t;
		const struct r8_class *cls = find_class(m, h, (size_t)(t - h));
		const char *orig = cls ? r8map_str(m, cls->orig) : NULL;
		if (orig)
			set_exception(c, orig, strlen(orig));
		else
			set_exception(c, h, (size_t)(t - h));
	}
	const char *w = p; /* written up to here */
	const char *s = p;
	while (s < e) {
		if (!is_ident((unsigned char)*s) ||
		    (s > p && (is_ident((unsigned char)s[-1]) || s[-1] == '.'))) {
			s++;
			continue;
		}
		const char *te = s;
		bool dotted = false;
		while (te < e && (is_ident((unsigned char)*te) || *te == '.')) {
			dotted |= *te == '.';
			te++;
		}
		while (te > s && te[-1] == '.')
			te--;
		bool at_head = s == head && te == head_e;
		const struct r8_class *cls = NULL;
		if ((at_head || dotted) && !(*s >= '0' && *s <= '9'))
			cls = find_class(m, s, (size_t)(te - s));
		if (cls) {
			buf_add(o, w, (size_t)(s - w));
			buf_adds(o, r8map_str(m, cls->orig));
			w = te;
			if (c->st)
				c->st->renamed++;
		}
		s = te > s ? te : s + 1;
	}
	buf_add(o, w, (size_t)(e - w));
	buf_add(o, eol, eol_len);
}

int retrace_stack(const struct r8map *map, const char *stack, size_t len, struct buf *out,
		  struct retrace_stats *stats)
{
	struct ctx c;
	c.map = map;
	c.out = out;
	c.st = stats;
	c.carry = false;
	c.after_exception = false;
	c.exc_desc_len = 0;
	c.nalts = 0;
	const char *p = stack, *end = stack + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if (le > p && le[-1] == '\r')
			le--;
		size_t eol_len = (size_t)((nl ? nl + 1 : end) - le);
		struct frame_line fl;
		if (parse_frame(p, le, &fl))
			frame(&c, &fl, p, le, eol_len, le);
		else
			text_line(&c, p, le, le, eol_len);
		p = nl ? nl + 1 : end;
	}
	return out->err ? -1 : 0;
}
