/* Fuzz the Java retrace engine (cmd/rum-symbolicate/r8map.c, retrace.c).
 * The input is a mapping file, a NUL byte, then a stack trace (without a
 * NUL the whole input is both). The mapping is parsed from memory and as a
 * stream read in small chunks (the first byte picks the size); both parses
 * must agree, and stay under their memory bound. The stack is then retraced
 * with whichever map parsed; every line of it must come out. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "buf.h"
#include "r8map.h"
#include "retrace.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define MEM_LIMIT (8u << 20)

struct src {
	const uint8_t *p;
	size_t len, off, chunk;
};

static ssize_t src_read(void *ctx, void *buf, size_t n)
{
	struct src *s = ctx;
	size_t k = s->len - s->off;
	if (k > n)
		k = n;
	if (k > s->chunk)
		k = s->chunk;
	memcpy(buf, s->p + s->off, k);
	s->off += k;
	return (ssize_t)k;
}

static size_t count_lines(const char *p, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += p[i] == '\n';
	return c + (n && p[n - 1] != '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t map_len = nul ? (size_t)(nul - data) : size;
	const char *stack = nul ? (const char *)nul + 1 : (const char *)data;
	size_t stack_len = nul ? size - map_len - 1 : size;

	struct rum_error err1 = {0}, err2 = {0};
	struct r8map *a = r8map_parse_mem((const char *)data, map_len, MEM_LIMIT, &err1);
	struct src s = {data, map_len, 0, size ? (size_t)data[0] % 37 + 1 : 1};
	struct r8map *b = r8map_parse(src_read, &s, MEM_LIMIT, &err2);
	CHECK(!a == !b);
	if (a) {
		CHECK(r8map_classes(a) == r8map_classes(b));
		CHECK(r8map_methods(a) == r8map_methods(b));
		CHECK(r8map_memory(a) <= MEM_LIMIT);
	} else {
		CHECK(strcmp(err1.msg, err2.msg) == 0);
		CHECK(err1.msg[0] != '\0');
	}
	static const char fallback[] = "x.Y -> a:\n  1:3:void f():10:12 -> a\n"
				       "  1:3:void g():5 -> a\n";
	struct r8map *m = a ? a : r8map_parse_mem(fallback, sizeof fallback - 1, 0, &err1);
	CHECK(m);
	struct buf out = BUF_INIT;
	out.limit = 64u << 20;
	struct retrace_stats st = {0};
	CHECK(retrace_stack(m, stack, stack_len, &out, &st) == 0);
	/* every line is there: frames may grow into several, never vanish
	 * (except an outline's, folded into the next) */
	if (st.frames == 0)
		CHECK(count_lines(out.p ? out.p : "", out.len) == count_lines(stack, stack_len));
	CHECK(st.mapped <= st.frames && st.ambiguous <= st.mapped);
	buf_free(&out);
	r8map_free(m);
	r8map_free(b);
	return 0;
}
