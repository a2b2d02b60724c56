/* Fuzz the iOS crash report parser and splicer (cmd/rum-symbolicate/
 * iosframe.c) and the reader of llvm-symbolizer's JSON answers
 * (machosym.c). The input is a crash report. A splice whose symbolizer
 * restores nothing gives back the input byte for byte; one that restores
 * every frame with a marker must count each frame and leave every other
 * line as it was. Every parsed field lies inside its line. Each line is
 * also read as a JSON answer: every string it yields lies inside the
 * text buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "iosframe.h"
#include "machosym.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct buf out, text;

static int none(void *ctx, const struct ios_frame *f, struct buf *o)
{
	(void)ctx;
	(void)f;
	/* appended, then dropped by the splicer */
	return buf_add(o, "junk", 4) < 0 ? -1 : 0;
}

static int marker(void *ctx, const struct ios_frame *f, struct buf *o)
{
	size_t *n = ctx;
	CHECK(f->repl <= f->line_len);
	CHECK(f->module >= f->line && f->module + f->module_len <= f->line + f->line_len);
	CHECK(f->module_len > 0);
	CHECK(!memchr(f->line, '\n', f->line_len));
	CHECK(f->line[f->repl] == '0');
	(*n)++;
	return buf_add(o, "@", 1) < 0 ? -1 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct ios_report r = {0};
	if (ios_report_scan(p, size, &r) == 0) {
		for (size_t i = 0; i < r.nimages; i++) {
			const struct ios_image *im = &r.images[i];
			CHECK(im->name >= p && im->name + im->name_len <= p + size);
			CHECK(im->name_len > 0);
			CHECK(!im->arch || (im->arch >= p && im->arch + im->arch_len <= p + size));
		}
		CHECK(r.nimages <= IOS_MAX_IMAGES);
	}
	size_t pos = 0, n1 = 0;
	struct ios_frame f;
	while (ios_next_frame(p, size, &pos, &f)) {
		const struct ios_image *im = ios_frame_image(&r, &f);
		CHECK(!im || (im >= r.images && im < r.images + r.nimages));
		n1++;
	}
	ios_report_free(&r);

	size_t frames = 0, restored = 0;
	out.len = 0;
	CHECK(ios_splice(p, size, none, NULL, &out, &frames, &restored) == 0);
	CHECK(out.len == size && (!size || memcmp(out.p, p, size) == 0));
	CHECK(frames == n1 && restored == 0);

	size_t seen = 0;
	frames = restored = 0;
	out.len = 0;
	CHECK(ios_splice(p, size, marker, &seen, &out, &frames, &restored) == 0);
	CHECK(frames == n1 && restored == n1 && seen == n1);
	if (!n1)
		CHECK(out.len == size && (!size || memcmp(out.p, p, size) == 0));

	/* each line as an llvm-symbolizer answer */
	for (const char *l = p, *e = p + size; l < e;) {
		const char *nl = memchr(l, '\n', (size_t)(e - l));
		size_t len = nl ? (size_t)(nl - l) : (size_t)(e - l);
		struct msym_answer a;
		text.len = 0;
		if (msym_parse_json(l, len, &a, &text) == 0) {
			CHECK(a.n <= MSYM_MAX_LEVELS);
			for (unsigned k = 0; k < a.n; k++) {
				CHECK(a.lv[k].func + a.lv[k].func_len <= text.len);
				CHECK(a.lv[k].file + a.lv[k].file_len <= text.len);
			}
		}
		l = nl ? nl + 1 : e;
	}
	return 0;
}
