/* Frame lines, Binary Images and the splice of an iOS crash report. */
#include "iosframe.h"

#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "macho.h"
#include "textscan.h"

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Hex digits after "0x" from p (at most 16): their value and the end. */
static const char *hex_num(const char *p, const char *end, uint64_t *v)
{
	if (end - p < 3 || p[0] != '0' || (p[1] != 'x' && p[1] != 'X') || !is_hex(p[2]))
		return NULL;
	p += 2;
	uint64_t x = 0;
	int n = 0;
	for (; p < end && is_hex(*p); p++, n++) {
		if (n == 16)
			return NULL;
		x = x << 4 | (uint64_t)(*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
	}
	*v = x;
	return p;
}

static const char *dec_num(const char *p, const char *end, uint64_t *v)
{
	uint64_t x = 0;
	const char *s = p;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (x > (UINT64_MAX - 9) / 10)
			return NULL;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return NULL;
	*v = x;
	return p;
}

/* The start of the blank-separated word that ends at e (exclusive). */
static const char *word_back(const char *b, const char *e)
{
	while (e > b && !is_blank(e[-1]))
		e--;
	return e;
}

static const char *blanks_back(const char *b, const char *e)
{
	while (e > b && is_blank(e[-1]))
		e--;
	return e;
}

int ios_parse_frame(const char *line, size_t len, struct ios_frame *f)
{
	const char *b = line, *e = line + len, *p = b;
	memset(f, 0, sizeof *f);
	while (p < e && is_blank(*p))
		p++;
	uint64_t num;
	p = dec_num(p, e, &num);
	if (!p || p == e || !is_blank(*p) || num > 1000000)
		return -1;
	const char *mod = p;
	while (mod < e && is_blank(*mod))
		mod++;
	/* from the right: OFFSET, '+', 0xLOAD, 0xADDR */
	const char *t = e;
	if (t > b && t[-1] == '\r')
		t--;
	t = blanks_back(mod, t);
	const char *w = word_back(mod, t), *q;
	uint64_t off;
	if (w == t)
		return -1;
	q = w[0] == '0' && t - w > 1 && (w[1] == 'x' || w[1] == 'X') ? hex_num(w, t, &off)
								     : dec_num(w, t, &off);
	if (!q || q != t)
		return -1;
	t = blanks_back(mod, w);
	if (t == w || t == mod || t[-1] != '+')
		return -1;
	t = blanks_back(mod, t - 1);
	w = word_back(mod, t);
	if (hex_num(w, t, &f->load) != t)
		return -1;
	f->repl = (size_t)(w - b);
	t = blanks_back(mod, w);
	if (t == w)
		return -1;
	w = word_back(mod, t);
	if (hex_num(w, t, &f->addr) != t)
		return -1;
	t = blanks_back(mod, w);
	if (t == w || t <= mod)
		return -1;
	f->num = (unsigned)num;
	f->line = line;
	f->line_len = len;
	f->module = mod;
	f->module_len = (size_t)(t - mod);
	f->offset = off;
	return 0;
}

int ios_parse_image(const char *line, size_t len, struct ios_image *im)
{
	const char *p = line, *e = line + len;
	memset(im, 0, sizeof *im);
	while (p < e && is_blank(*p))
		p++;
	p = hex_num(p, e, &im->start);
	if (!p)
		return -1;
	while (p < e && is_blank(*p))
		p++;
	if (p == e || *p != '-')
		return -1;
	p++;
	while (p < e && is_blank(*p))
		p++;
	p = hex_num(p, e, &im->end);
	if (!p || p == e || !is_blank(*p))
		return -1;
	while (p < e && is_blank(*p))
		p++;
	if (p < e && *p == '+')
		p++;
	const char *lt = memchr(p, '<', (size_t)(e - p));
	const char *t = lt ? blanks_back(p, lt) : NULL;
	if (lt) {
		const char *gt = memchr(lt, '>', (size_t)(e - lt));
		if (gt && macho_uuid_parse(lt + 1, (size_t)(gt - lt - 1), im->uuid) == 0)
			im->has_uuid = 1;
		/* the word before the UUID is the architecture, when there is
		 * one besides the name */
		const char *w = word_back(p, t);
		if (w > p && blanks_back(p, w) > p) {
			im->arch = w;
			im->arch_len = (size_t)(t - w);
			t = blanks_back(p, w);
		}
	} else {
		/* no UUID: the name is the first word */
		t = p;
		while (t < e && !is_blank(*t) && *t != '\r')
			t++;
	}
	if (t <= p)
		return -1;
	im->name = p;
	im->name_len = (size_t)(t - p);
	return 0;
}

static const char *line_end(const char *p, const char *e)
{
	const char *n = memchr(p, '\n', (size_t)(e - p));
	return n ? n : e;
}

static const char *code_type_arch(const char *p, size_t n)
{
	while (n && is_blank(*p))
		p++, n--;
	if (has_prefix(p, n, "ARM-64E") || has_prefix(p, n, "ARM64E"))
		return "arm64e";
	if (has_prefix(p, n, "ARM-64") || has_prefix(p, n, "ARM64"))
		return "arm64";
	if (has_prefix(p, n, "X86-64") || has_prefix(p, n, "X86_64"))
		return "x86_64";
	if (has_prefix(p, n, "ARM"))
		return "armv7";
	if (has_prefix(p, n, "X86") || has_prefix(p, n, "I386"))
		return "i386";
	return NULL;
}

int ios_report_scan(const char *report, size_t len, struct ios_report *r)
{
	const char *p = report, *e = report + len;
	int in_images = 0;
	r->nimages = 0;
	r->has_images = 0;
	r->code_type = NULL;
	while (p < e) {
		const char *le = line_end(p, e);
		size_t n = (size_t)(le - p);
		const char *s = p;
		while (s < le && is_blank(*s))
			s++;
		size_t sn = (size_t)(le - s);
		if (sn && s[sn - 1] == '\r')
			sn--;
		if (in_images) {
			struct ios_image im;
			if (sn == 0)
				in_images = 0;
			else if (ios_parse_image(p, n, &im) == 0 && r->nimages < IOS_MAX_IMAGES) {
				if (ARRAY_RESERVE(r->images, r->cap, r->nimages + 1,
						  IOS_MAX_IMAGES) < 0)
					return -1;
				r->images[r->nimages++] = im;
			}
		} else if (has_prefix(s, sn, "Binary Images:")) {
			in_images = 1;
			r->has_images = 1;
		} else if (!r->code_type && has_prefix(s, sn, "Code Type:")) {
			r->code_type = code_type_arch(s + 10, sn - 10);
		}
		p = le < e ? le + 1 : e;
	}
	return 0;
}

void ios_report_free(struct ios_report *r)
{
	free(r->images);
	memset(r, 0, sizeof *r);
}

const struct ios_image *ios_frame_image(const struct ios_report *r, const struct ios_frame *f)
{
	for (size_t i = 0; i < r->nimages; i++)
		if (r->images[i].start == f->load)
			return &r->images[i];
	for (size_t i = 0; i < r->nimages; i++)
		if (r->images[i].name_len == f->module_len &&
		    memcmp(r->images[i].name, f->module, f->module_len) == 0)
			return &r->images[i];
	return NULL;
}

int ios_next_frame(const char *report, size_t len, size_t *pos, struct ios_frame *f)
{
	const char *e = report + len;
	while (*pos < len) {
		const char *p = report + *pos, *le = line_end(p, e);
		*pos = le < e ? (size_t)(le - report) + 1 : len;
		if (ios_parse_frame(p, (size_t)(le - p), f) == 0)
			return 1;
	}
	return 0;
}

int ios_splice(const char *report, size_t len, ios_frame_fn fn, void *ctx, struct buf *out,
	       size_t *frames, size_t *restored)
{
	const char *p = report, *e = report + len;
	while (p < e) {
		const char *le = line_end(p, e);
		size_t n = (size_t)(le - p);
		struct ios_frame f;
		int done = 0;
		if (ios_parse_frame(p, n, &f) == 0) {
			size_t mark = out->len;
			if (frames)
				(*frames)++;
			if (buf_add(out, p, f.repl) < 0)
				return -1;
			int r = fn(ctx, &f, out);
			if (r < 0)
				return -1;
			if (r > 0) {
				/* the line's CR stays at the end of the line */
				if (n && p[n - 1] == '\r' && buf_add(out, "\r", 1) < 0)
					return -1;
				if (restored)
					(*restored)++;
				done = 1;
			} else {
				out->len = mark;
			}
		}
		if (!done && buf_add(out, p, n) < 0)
			return -1;
		if (le < e && buf_add(out, "\n", 1) < 0)
			return -1;
		p = le < e ? le + 1 : e;
	}
	return 0;
}

int ios_add_entry(struct buf *out, const char *func, size_t func_len, const char *module,
		  size_t module_len, const char *path, size_t path_len, unsigned line,
		  int has_start, uint64_t delta)
{
	if (buf_add(out, func, func_len) < 0 || buf_add(out, " (in ", 5) < 0 ||
	    buf_add(out, module, module_len) < 0 || buf_add(out, ")", 1) < 0)
		return -1;
	if (line && path_len) {
		const char *base = path + path_len;
		while (base > path && base[-1] != '/')
			base--;
		return buf_printf(out, " (%.*s:%u)", (int)(path + path_len - base), base, line);
	}
	if (has_start)
		return buf_printf(out, " + %llu", (unsigned long long)delta);
	return 0;
}
