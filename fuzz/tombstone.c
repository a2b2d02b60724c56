/* Fuzz the tombstone parser and splicer (cmd/rum-symbolicate/tombstone.c).
 * The input is a native crash report. A splice whose symbolizer restores
 * nothing must give back the input byte for byte; one that restores every
 * frame (with a made-up inline chain built from the frame itself) must
 * count each frame as restored and give back the input once the inserted
 * lines are taken out again. Every frame's fields must lie inside its
 * line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tombstone.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct buf out, back;

static int inside(const struct tomb_frame *f, const char *p, size_t n)
{
	return !p || (p >= f->line && p + n <= f->line + f->line_len);
}

static int check_frame(const struct tomb_frame *f)
{
	CHECK(f->indent < f->line_len);
	CHECK(f->line[f->indent] == '#');
	CHECK(inside(f, f->path, f->path_len));
	CHECK(inside(f, f->lib, f->lib_len));
	CHECK(inside(f, f->sym, f->sym_len));
	CHECK(inside(f, f->build_id, f->build_id_len));
	CHECK(!memchr(f->line, '\n', f->line_len));
	if (f->lib)
		CHECK(f->lib_len > 3 && memcmp(f->lib + f->lib_len - 3, ".so", 3) == 0);
	return 0;
}

static int miss(void *ctx, const struct tomb_frame *f, struct buf *o)
{
	(void)ctx;
	(void)o;
	return check_frame(f);
}

/* Inserted lines carry this marker so the check can take them out again. */
#define MARK "\x01"

static int hit(void *ctx, const struct tomb_frame *f, struct buf *o)
{
	unsigned *calls = ctx;
	check_frame(f);
	(*calls)++;
	static struct dsym_result r;
	r.n = 1 + f->num % DSYM_MAX_INLINE;
	for (unsigned i = 0; i < r.n; i++)
		r.loc[i] =
		    (struct dsym_loc){MARK "fn", MARK "/src/a.c", i + 1, (unsigned)f->pc & 0xff};
	return tomb_add_locations(o, f, &r) < 0 ? -1 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	(void)tomb_abi(in, size);

	struct tomb_stats st = {0};
	buf_reset(&out);
	CHECK(tomb_splice(in, size, miss, NULL, &out, &st) == 0);
	CHECK(out.len == size && (size == 0 || memcmp(out.p, in, size) == 0));
	CHECK(st.restored == 0);

	/* the marker must not be in the input for the lines to come out again */
	if (memchr(in, MARK[0], size))
		return 0;
	unsigned calls = 0;
	struct tomb_stats st2 = {0};
	buf_reset(&out);
	CHECK(tomb_splice(in, size, hit, &calls, &out, &st2) == 0);
	CHECK(st2.frames == st.frames && st2.restored == st.frames && calls == st.frames);
	/* take the inserted lines ("\n" + indent + MARK...) out again */
	buf_reset(&back);
	size_t i = 0;
	while (i < out.len) {
		if (out.p[i] == '\n') {
			size_t j = i + 1;
			while (j < out.len && (out.p[j] == ' ' || out.p[j] == '\t'))
				j++;
			if (j < out.len && out.p[j] == MARK[0]) {
				/* up to the frame line's own ending ("\r\n" too) or
				 * the next inserted line */
				size_t e = j;
				while (e < out.len && out.p[e] != '\n' && out.p[e] != '\r')
					e++;
				i = e;
				continue;
			}
		}
		buf_addc(&back, out.p[i]);
		i++;
	}
	CHECK(!back.err);
	CHECK(back.len == size && (size == 0 || memcmp(back.p, in, size) == 0));
	return 0;
}
