/* Fuzz rum-symbolicate's JavaScript frame parser and stack rewriter
 * (cmd/rum-symbolicate/jsframe.c). The input is a stack. A frame found
 * must lie inside its line and end in LINE:COL digits; a rewrite with a
 * resolver that finds nothing must give back the input byte for byte; one
 * that maps every frame must keep the lines, count every frame as restored,
 * and leave each rewritten frame holding the resolver's answer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsframe.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct buf out;

static int miss(void *ctx, const char *path, uint32_t line, uint32_t col, struct js_original *o)
{
	(void)ctx;
	(void)line;
	(void)col;
	(void)o;
	CHECK(*path && strlen(path) < 4096);
	return 7;
}

static int hit(void *ctx, const char *path, uint32_t line, uint32_t col, struct js_original *o)
{
	unsigned *calls = ctx;
	CHECK(*path);
	(*calls)++;
	o->source = "src/mapped.js";
	o->name = (line ^ col) & 1 ? "origName" : NULL;
	o->line = line;
	o->column = col;
	return 0;
}

static size_t count(const char *p, size_t n, char c)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += p[i] == c;
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	/* Each line alone */
	const char *p = s, *end = s + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct js_frame f;
		if (js_frame_parse(p, n, &f)) {
			CHECK(f.loc_off + f.loc_len <= n);
			CHECK(f.url_len > 0 && f.url_len < f.loc_len);
			CHECK(f.fn_off + f.fn_len <= n);
			CHECK(f.fn_len == 0 || f.fn_off + f.fn_len <= f.loc_off);
			const char *loc_end = p + f.loc_off + f.loc_len;
			CHECK(loc_end[-1] >= '0' && loc_end[-1] <= '9');
			CHECK(p[f.loc_off + f.url_len] == ':');
			char path[256];
			int k = js_url_path(p + f.loc_off, f.url_len, path, sizeof path);
			CHECK(k < (int)sizeof path);
			if (k >= 0)
				CHECK(k > 0 && strlen(path) == (size_t)k);
		}
		p += n + (nl ? 1 : 0);
	}

	/* Nothing found: the stack as it was */
	struct js_stats st;
	buf_reset(&out);
	CHECK(js_stack_rewrite(s, size, 1, miss, NULL, &out, &st) == 0);
	CHECK(out.len == size && memcmp(out.p ? out.p : "", s, size) == 0);
	CHECK(st.restored == 0);
	CHECK(st.frames == 0 || st.first_miss != 0);

	/* Everything found */
	unsigned calls = 0;
	buf_reset(&out);
	CHECK(js_stack_rewrite(s, size, 1, hit, &calls, &out, &st) == 0);
	CHECK(st.restored == calls && st.restored <= st.frames);
	CHECK(count(out.p ? out.p : "", out.len, '\n') == count(s, size, '\n'));
	if (st.restored)
		CHECK(out.len >= 13 && memmem(out.p, out.len, "src/mapped.js:", 14));
	return 0;
}
