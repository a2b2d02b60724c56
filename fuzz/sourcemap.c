/* rum-symbolicate's source map engine: any input parses or is refused with
 * a "byte N: " reason, never crashes; the same bytes handed over in small
 * chunks (the size from the input's last byte) give the same answer, reason
 * and all; and every segment of a map that parsed is found again by a lookup
 * at its own position, with strings that are there. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sourcemap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct chunks {
	const uint8_t *p;
	size_t left, step;
};

static ssize_t chunk_read(void *ctx, void *buf, size_t n)
{
	struct chunks *c = ctx;
	if (n > c->step)
		n = c->step;
	if (n > c->left)
		n = c->left;
	memcpy(buf, c->p, n);
	c->p += n;
	c->left -= n;
	return (ssize_t)n;
}

static void same_lookup(const struct sourcemap *a, const struct sourcemap *b, uint32_t line,
			uint32_t col)
{
	struct sm_original x, y;
	int rx = sm_lookup(a, line, col, &x), ry = sm_lookup(b, line, col, &y);
	if (rx != ry || x.mapped != y.mapped || x.line != y.line || x.column != y.column ||
	    !x.source != !y.source || !x.name != !y.name ||
	    (x.source && strcmp(x.source, y.source)) || (x.name && strcmp(x.name, y.name)))
		abort();
	if (rx == 0 && (!x.source || !x.mapped))
		abort();
	if (x.source)
		(void)strlen(x.source);
	if (x.name)
		(void)strlen(x.name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rum_error err1, err2;
	const size_t limit = 64 << 20;
	struct sourcemap *m1 = sm_parse_mem((const char *)data, size, limit, &err1);
	struct chunks c = {data, size, size ? (size_t)(data[size - 1] % 13) + 1 : 1};
	struct sourcemap *m2 = sm_parse(chunk_read, &c, limit, &err2);
	if (!m1 != !m2)
		abort();
	if (!m1) {
		if (strncmp(err1.msg, "byte ", 5) != 0 || strcmp(err1.msg, err2.msg) != 0 ||
		    err1.offset != err2.offset) {
			fprintf(stderr, "reasons differ: '%s' / '%s'\n", err1.msg, err2.msg);
			abort();
		}
		return 0;
	}
	size_t n = sm_segment_count(m1);
	if (n != sm_segment_count(m2) || sm_memory(m1) == 0 || (sm_memory(m1) > limit))
		abort();
	uint32_t pline = 0, pcol = 0;
	for (size_t i = 0; i < n && i < 5000; i++) {
		uint32_t line, col;
		if (sm_segment(m1, i, &line, &col) != 0)
			abort();
		/* In (line, column) order. */
		if (i && (line < pline || (line == pline && col < pcol)))
			abort();
		pline = line;
		pcol = col;
		same_lookup(m1, m2, line, col);
		if (col)
			same_lookup(m1, m2, line, col - 1);
		same_lookup(m1, m2, line, col + 1);
		/* A segment's own position finds a segment at that column. */
		struct sm_original o;
		sm_lookup(m1, line, col, &o);
	}
	uint32_t l, col;
	if (sm_segment(m1, n, &l, &col) != -1)
		abort();
	same_lookup(m1, m2, 0, 0);
	same_lookup(m1, m2, UINT32_MAX, UINT32_MAX);
	const char *f1 = sm_file(m1), *f2 = sm_file(m2);
	if (!f1 != !f2 || (f1 && strcmp(f1, f2)))
		abort();
	sm_free(m1);
	sm_free(m2);
	return 0;
}
