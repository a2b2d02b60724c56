/* "mappings": decoded byte by byte (eight segments at a time where they are
 * plain) into an array of fixed-size segments, line by line, so that a
 * lookup is one binary search in one line. */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "hugemem.h"
#include "sourcemap_int.h"

/* Base64 digit values; -1 for anything else. A constant, so that maps can
 * be parsed in several threads at once. */
/* clang-format off */
static const signed char b64[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
/* clang-format on */

/* o packed into b->origs[at] (room for it made by the caller). */
bool smp_put_orig(struct parser *ps, struct body *b, size_t at, struct orig o)
{
	if (o.src == NONE) {
		b->origs[at] = P_NOSOURCE;
		return true;
	}
	uint64_t name = o.name == NONE ? 0 : (uint64_t)o.name + 1;
	if (o.src <= P_MASK(P_SRC_BITS) && name <= P_MASK(P_NAME_BITS) &&
	    o.oline <= P_MASK(P_LINE_BITS) && o.ocol <= P_MASK(P_COL_BITS)) {
		b->origs[at] = o.src | name << P_SRC_BITS |
			       (uint64_t)o.oline << (P_SRC_BITS + P_NAME_BITS) |
			       (uint64_t)o.ocol << (P_SRC_BITS + P_NAME_BITS + P_LINE_BITS);
		return true;
	}
	if (!smp_grow(ps, (void **)&b->wide, &b->widecap, b->nwide + 1, sizeof *b->wide))
		return false;
	b->wide[b->nwide] = o;
	b->origs[at] = P_WIDE | b->nwide++;
	return true;
}

void smp_body_free(struct parser *ps, struct body *b)
{
	if (ps)
		ps->mem -= b->gcolcap * sizeof *b->gcols + b->origcap * sizeof *b->origs +
			   b->widecap * sizeof *b->wide + b->linecap * sizeof *b->lines +
			   b->srccap * sizeof *b->srcs + b->namecap * sizeof *b->names + b->str.cap;
	free(b->gcols);
	free(b->origs);
	free(b->wide);
	free(b->lines);
	free(b->srcs);
	free(b->names);
	free(b->str.d);
	memset(b, 0, sizeof *b);
	b->file = NOSTR;
}

/* ---- mappings ---- */

struct decoder {
	struct parser *ps;
	struct body *b;
	struct refs *refs;
	long long gcol, src, oline, ocol, name;
	long long f[5];
	int nf;
	unsigned long long acc;
	unsigned shift;
	bool in_vlq;
	bool after_comma;
	bool unsorted;
	size_t line_first;
	uint32_t lastcol;
	unsigned long long seg_at; /* where the current segment starts */
};

static bool push_line(struct decoder *d)
{
	struct body *b = d->b;
	if (b->nlines >= UINT32_MAX)
		return fail(d->ps, "more than 2^32 generated lines");
	if (!smp_grow(d->ps, (void **)&b->lines, &b->linecap, b->nlines + 1, sizeof *b->lines))
		return false;
	b->lines[b->nlines++] = (uint32_t)b->nsegs;
	d->line_first = b->nsegs;
	d->unsorted = false;
	d->lastcol = 0;
	return true;
}

/* Stable sort of one line's segments by generated column (a generator may
 * write them out of order; equal columns keep their order, as trace-mapping's
 * sort does). */
struct sortseg {
	uint32_t gcol;
	uint64_t p;
};

static bool sort_line(struct parser *ps, uint32_t *gcols, uint64_t *origs, size_t n)
{
	if (n < 2)
		return true;
	size_t cap = 0, tcap = 0;
	struct sortseg *s = NULL, *tmp = NULL;
	if (!smp_grow(ps, (void **)&s, &cap, n, sizeof *s) ||
	    !smp_grow(ps, (void **)&tmp, &tcap, n, sizeof *tmp)) {
		free(s);
		ps->mem -= cap * sizeof *s;
		return false;
	}
	for (size_t i = 0; i < n; i++)
		s[i] = (struct sortseg){gcols[i], origs[i]};
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n - w; lo += 2 * w) {
			size_t mid = lo + w, hi = mid + w < n ? mid + w : n;
			size_t i = lo, j = mid, k = 0;
			while (i < mid && j < hi)
				tmp[k++] = s[j].gcol < s[i].gcol ? s[j++] : s[i++];
			while (i < mid)
				tmp[k++] = s[i++];
			while (j < hi)
				tmp[k++] = s[j++];
			memcpy(s + lo, tmp, k * sizeof *tmp);
		}
	}
	for (size_t i = 0; i < n; i++) {
		gcols[i] = s[i].gcol;
		origs[i] = s[i].p;
	}
	free(s);
	free(tmp);
	ps->mem -= (cap + tcap) * sizeof *s;
	return true;
}

static bool end_line(struct decoder *d)
{
	if (d->unsorted)
		return sort_line(d->ps, d->b->gcols + d->line_first, d->b->origs + d->line_first,
				 d->b->nsegs - d->line_first);
	return true;
}

static bool field_range(struct decoder *d, long long v, const char *what, unsigned long long at)
{
	if (v < 0)
		return smp_fail_at(d->ps, at, "%s is negative (%lld)", what, v);
	if (v > (long long)UINT32_MAX - 1)
		return smp_fail_at(d->ps, at, "%s exceeds 32 bits (%lld)", what, v);
	return true;
}

static inline bool emit(struct decoder *d, unsigned long long at)
{
	struct seg s;
	if (d->nf == 2 || d->nf == 3)
		return smp_fail_at(d->ps, at, "segment with %d fields (1, 4 or 5 expected)", d->nf);
	d->gcol += d->f[0];
	if (!field_range(d, d->gcol, "generated column", at))
		return false;
	s.gcol = (uint32_t)d->gcol;
	s.o.src = s.o.name = NONE;
	s.o.oline = s.o.ocol = 0;
	if (d->nf >= 4) {
		d->src += d->f[1];
		d->oline += d->f[2];
		d->ocol += d->f[3];
		if (!field_range(d, d->src, "source index", at) ||
		    !field_range(d, d->oline, "original line", at) ||
		    !field_range(d, d->ocol, "original column", at))
			return false;
		s.o.src = (uint32_t)d->src;
		s.o.oline = (uint32_t)d->oline;
		s.o.ocol = (uint32_t)d->ocol;
		if (d->src > d->refs->maxsrc) {
			d->refs->maxsrc = d->src;
			d->refs->srcat = at;
		}
		if (d->nf == 5) {
			d->name += d->f[4];
			if (!field_range(d, d->name, "name index", at))
				return false;
			s.o.name = (uint32_t)d->name;
			if (d->name > d->refs->maxname) {
				d->refs->maxname = d->name;
				d->refs->nameat = at;
			}
		}
	}
	struct body *b = d->b;
	if (b->nsegs >= UINT32_MAX)
		return smp_fail_at(d->ps, at, "more than 2^32 segments");
	if (b->nsegs == b->gcolcap &&
	    !smp_grow(d->ps, (void **)&b->gcols, &b->gcolcap, b->nsegs + 1, sizeof *b->gcols))
		return false;
	if (b->nsegs == b->origcap &&
	    !smp_grow(d->ps, (void **)&b->origs, &b->origcap, b->nsegs + 1, sizeof *b->origs))
		return false;
	if (s.gcol < d->lastcol)
		d->unsorted = true;
	d->lastcol = s.gcol;
	if (!smp_put_orig(d->ps, b, b->nsegs, s.o))
		return false;
	b->gcols[b->nsegs++] = s.gcol;
	d->nf = 0;
	return true;
}

static bool vlq_digit(struct decoder *d, int v, unsigned long long at)
{
	if (d->shift <= 32) {
		d->acc |= (unsigned long long)(v & 31) << d->shift;
		if (d->acc > UINT32_MAX)
			return smp_fail_at(d->ps, at, "VLQ value exceeds 32 bits");
	} else if (v & 31) {
		return smp_fail_at(d->ps, at, "VLQ value exceeds 32 bits");
	}
	if (v & 32) {
		d->in_vlq = true;
		if (d->shift <= 32)
			d->shift += 5;
		return true;
	}
	if (d->nf == 5)
		return smp_fail_at(d->ps, at, "segment with more than 5 fields");
	long long val = (long long)(d->acc >> 1);
	if (d->acc & 1)
		val = val ? -val : -2147483648LL;
	d->f[d->nf++] = val;
	d->acc = 0;
	d->shift = 0;
	d->in_vlq = false;
	return true;
}

/* ',' ';' or the end of the string (c == '"'). */
static bool separator(struct decoder *d, int c, unsigned long long at)
{
	if (d->in_vlq)
		return smp_fail_at(d->ps, at, "VLQ ends with a continuation digit");
	if (d->nf) {
		if (!emit(d, d->seg_at))
			return false;
	} else if (c == ',' || d->after_comma) {
		return smp_fail_at(d->ps, at, "empty segment");
	}
	d->after_comma = c == ',';
	d->seg_at = at + 1;
	if (c == ',')
		return true;
	if (!end_line(d))
		return false;
	d->gcol = 0;
	return c == '"' || push_line(d);
}

static bool other_char(struct decoder *d, int c, unsigned long long at)
{
	int v = c < 256 ? b64[c] : -1;
	if (v >= 0)
		return vlq_digit(d, v, at);
	if (c == ',' || c == ';')
		return separator(d, c, at);
	if (c == '=')
		return smp_fail_at(d->ps, at, "'=' in mappings (base64 padding is not allowed)");
	if (c >= 0x20 && c < 0x7f)
		return smp_fail_at(d->ps, at, "'%c' in mappings is not a base64 digit or separator",
				   c);
	return smp_fail_at(d->ps, at, "character U+%04X in mappings", (unsigned)c);
}

/* One segment from *pp when it is whole in [*pp, end) and valid: its
 * fields decoded, the decoder's running values it leads to in st (gcol,
 * src, oline, ocol, name), and *pp on the separator after it. Anything else
 * (including VLQs of more than 6 digits) is left to the byte-by-byte path:
 * false, nothing changed. */
static inline bool fast_segment(const struct decoder *d, const unsigned char **pp,
				const unsigned char *end, struct seg *sg, long long st[5])
{
	const unsigned char *p = *pp;
	long long f[5];
	int nf = 0;
	/* Five fields of at most six digits and what follows them fit in 32
	 * bytes: with that many left, no check for the end is needed. */
	if (end - p < 32)
		return false;
	for (;;) {
		int v = b64[*p++];
		uint32_t acc;
		if ((unsigned)v < 32) {
			acc = (uint32_t)v; /* one digit: most fields */
		} else {
			if (v < 0)
				return false;
			acc = (uint32_t)v & 31;
			unsigned shift = 5;
			do {
				v = b64[*p++];
				if (v < 0 || shift > 25)
					return false;
				acc |= (uint32_t)(v & 31) << shift;
				shift += 5;
			} while (v & 32);
		}
		long long val = acc >> 1;
		f[nf++] = (acc & 1) ? (val ? -val : -2147483648LL) : val;
		if (b64[*p] < 0)
			break;
		if (nf == 5)
			return false;
	}
	if ((*p != ',' && *p != ';' && *p != '"') || nf == 2 || nf == 3)
		return false;
	const long long max = (long long)UINT32_MAX - 1;
	st[0] = d->gcol + f[0];
	st[1] = d->src;
	st[2] = d->oline;
	st[3] = d->ocol;
	st[4] = d->name;
	if (st[0] < 0 || st[0] > max)
		return false;
	sg->gcol = (uint32_t)st[0];
	sg->o.src = sg->o.name = NONE;
	sg->o.oline = sg->o.ocol = 0;
	if (nf >= 4) {
		st[1] += f[1];
		st[2] += f[2];
		st[3] += f[3];
		if (st[1] < 0 || st[1] > max || st[2] < 0 || st[2] > max || st[3] < 0 ||
		    st[3] > max)
			return false;
		sg->o.src = (uint32_t)st[1];
		sg->o.oline = (uint32_t)st[2];
		sg->o.ocol = (uint32_t)st[3];
		if (nf == 5) {
			st[4] += f[4];
			if (st[4] < 0 || st[4] > max)
				return false;
			sg->o.name = (uint32_t)st[4];
		}
	}
	*pp = p;
	return true;
}

/* The segments in the mappings string at p (bytes that follow a ',' or a
 * ';' or start it, and are neither), when all of it is at hand and it has
 * no escapes; 0 when not known. Counted as they are, not as lines and
 * commas: a map of empty lines reserves nothing. */
static size_t count_segments(const unsigned char *p, const unsigned char *end)
{
	size_t n = 0;
	unsigned after_sep = 1; /* the byte before p was a separator */
#if defined(__SSE2__)
	const __m128i quote = _mm_set1_epi8('"'), bsl = _mm_set1_epi8('\\');
	const __m128i comma = _mm_set1_epi8(','), semi = _mm_set1_epi8(';');
	for (; end - p >= 16; p += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned stop = (unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bsl)));
		if (stop)
			break; /* the end is in these 16: byte by byte below */
		unsigned sep = (unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, semi)));
		unsigned starts = ~sep & ((sep << 1) | after_sep) & 0xffffu;
		n += (size_t)__builtin_popcount(starts);
		after_sep = sep >> 15;
	}
#endif
	for (; p < end; p++) {
		if (*p == '"')
			return n;
		if (*p == '\\')
			return 0;
		unsigned sep = *p == ',' || *p == ';';
		n += !sep && after_sep;
		after_sep = sep;
	}
	return 0;
}

/* "mappings", p on its opening quote, decoded into d->b. */
bool smp_mappings(struct parser *ps, struct body *b, struct refs *refs)
{
	struct decoder d = {.ps = ps, .b = b, .refs = refs};
	ps->p++;
	d.seg_at = pos(ps);
	/* Sized once when the count is at hand: grown by doubling, the two
	 * largest arrays were copied and faulted in page by page again at
	 * every step (a tenth of loading a 13 MiB map). */
	size_t most = count_segments(ps->p, ps->end);
	if (most && most < UINT32_MAX) {
		size_t want = b->nsegs + most;
		if (want > b->gcolcap &&
		    !smp_resize(ps, (void **)&b->gcols, &b->gcolcap, want, sizeof *b->gcols))
			return false;
		if (want > b->origcap &&
		    !smp_resize(ps, (void **)&b->origs, &b->origcap, want, sizeof *b->origs))
			return false;
	}
	if (!push_line(&d))
		return false;
	for (;;) {
		if (ps->p == ps->end && !smp_refill(ps))
			return ps->failed ? false : fail(ps, "unterminated mappings string");
		/* Whole segments decoded here while they are ordinary; the
		 * rest (a segment split between chunks, escapes, anything
		 * wrong) byte by byte below, which also says what is wrong. */
		const unsigned char *p = ps->p, *end = ps->end;
		while (d.nf == 0 && !d.in_vlq) {
			const unsigned char *q = p;
			struct seg sg;
			long long st[5];
			if (!fast_segment(&d, &q, end, &sg, st))
				break;
			struct body *bb = d.b;
			if (bb->nsegs >= UINT32_MAX - 1 ||
			    (bb->nsegs == bb->gcolcap &&
			     !smp_grow(ps, (void **)&bb->gcols, &bb->gcolcap, bb->nsegs + 1,
				       sizeof *bb->gcols)) ||
			    (bb->nsegs == bb->origcap &&
			     !smp_grow(ps, (void **)&bb->origs, &bb->origcap, bb->nsegs + 1,
				       sizeof *bb->origs)))
				break; /* the slow path says why */
			d.gcol = st[0];
			d.src = st[1];
			d.oline = st[2];
			d.ocol = st[3];
			d.name = st[4];
			if (sg.o.src != NONE && d.src > refs->maxsrc) {
				refs->maxsrc = d.src;
				refs->srcat = d.seg_at;
			}
			if (sg.o.name != NONE && d.name > refs->maxname) {
				refs->maxname = d.name;
				refs->nameat = d.seg_at;
			}
			if (sg.gcol < d.lastcol)
				d.unsorted = true;
			d.lastcol = sg.gcol;
			if (!smp_put_orig(ps, bb, bb->nsegs, sg.o))
				return false;
			bb->gcols[bb->nsegs++] = sg.gcol;
			d.after_comma = false;
			p = q;
			if (*p != ',')
				break;
			d.after_comma = true;
			d.seg_at = ps->base + (unsigned long long)(p - ps->start) + 1;
			p++;
		}
		ps->p = p;
		if (p == end)
			continue;
		int c = *p;
		unsigned long long at = pos(ps);
		ps->p++;
		if (c == '"')
			return separator(&d, c, at);
		if (c == '\\') {
			/* "\/" is how some JSON writers put '/'. */
			long cp = smp_escape1(ps);
			if (cp < 0 || !other_char(&d, (int)cp, at))
				return false;
			continue;
		}
		if (c < 0x20)
			return smp_fail_at(ps, at, "control character 0x%02x in string", c);
		if (!other_char(&d, c, at))
			return false;
	}
}

int sm_lookup(const struct sourcemap *map, uint32_t line, uint32_t column, struct sm_original *out)
{
	const struct body *b = &map->b;
	out->source = out->name = NULL;
	out->line = out->column = 0;
	out->mapped = 0;
	if (line >= b->nlines)
		return -1;
	size_t lo = b->lines[line];
	size_t hi = line + 1 < b->nlines ? b->lines[line + 1] : b->nsegs;
	const uint32_t *g = b->gcols;
	if (lo == hi || g[lo] > column)
		return -1;
	/* The last segment at or before the column: the greatest lower bound
	 * (g[lo] <= column holds, so i stays a candidate). Without branches on
	 * the comparisons, which a random column makes unpredictable. On an
	 * exact hit, the first of equal columns; otherwise the last below, as
	 * trace-mapping's originalPositionFor picks. */
	size_t i = lo, n = hi - lo;
	if (n > BLOCK) {
		/* Blocks that start inside the line: jlo to jhi. */
		const uint32_t *bl = map->blocks;
		size_t jlo = (lo + BLOCK - 1) / BLOCK, jhi = (hi - 1) / BLOCK;
		if (bl[jlo] <= column) {
			size_t j = jlo, m = jhi - jlo + 1;
			while (m > 1) {
				size_t half = m / 2;
				j = bl[j + half] <= column ? j + half : j;
				m -= half;
			}
			i = j * BLOCK;
			n = (i + BLOCK < hi ? i + BLOCK : hi) - i;
		} else {
			n = jlo * BLOCK - lo; /* before the first block: g[lo] fits */
		}
	}
	while (n > 1) {
		size_t half = n / 2;
		i = g[i + half] <= column ? i + half : i;
		n -= half;
	}
	while (i > lo && g[i] == column && g[i - 1] == column)
		i--;
	struct orig s = unpack(b, b->origs[i]);
	if (s.src == NONE)
		return -1;
	out->mapped = 1;
	out->line = s.oline;
	out->column = s.ocol;
	if (s.name != NONE)
		out->name = b->str.d + b->names[s.name];
	if (b->srcs[s.src] == NOSTR)
		return -1;
	out->source = b->str.d + b->srcs[s.src];
	return 0;
}

size_t sm_segment_count(const struct sourcemap *map)
{
	return map->b.nsegs;
}

int sm_segment(const struct sourcemap *map, size_t i, uint32_t *line, uint32_t *column)
{
	const struct body *b = &map->b;
	if (i >= b->nsegs)
		return -1;
	/* The last line starting at or before i: lines may be empty, so the
	 * last of equal starts. */
	size_t lo = 0, n = b->nlines;
	while (n > 0) {
		size_t half = n / 2;
		if (b->lines[lo + half] <= i) {
			lo += half + 1;
			n -= half + 1;
		} else {
			n = half;
		}
	}
	*line = (uint32_t)(lo - 1);
	*column = b->gcols[i];
	return 0;
}
