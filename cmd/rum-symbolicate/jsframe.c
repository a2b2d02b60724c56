/* JavaScript stack frames: find them, rewrite them. */
#include "jsframe.h"

#include <string.h>

#include "hex.h"
#include "textscan.h"

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* URL:LINE:COL in s[start, end). Anchored: COL must end at end (V8,
 * Firefox). Otherwise the last ":LINE:COL" wins and text may follow it,
 * as with DataKit's `@ .*:\d+:\d+`. A URL holds no blanks, which keeps
 * eval frames ("eval at f (…), <anonymous>:1:2") as they are. Linear in
 * the length: each run of digits is looked at twice at most. */
static int find_location(const char *s, size_t start, size_t end, int anchored, struct js_frame *f)
{
	size_t blank = start; /* the first blank: a URL ends before it */
	while (blank < end && !is_blank(s[blank]))
		blank++;
	size_t e = end;
	while (e > start) {
		if (!is_digit(s[e - 1])) {
			if (anchored)
				return 0;
			e--;
			continue;
		}
		size_t cb = e;
		while (cb > start && is_digit(s[cb - 1]))
			cb--;
		if (cb > start && s[cb - 1] == ':') {
			size_t le = cb - 1, lb = le;
			while (lb > start && is_digit(s[lb - 1]))
				lb--;
			if (lb < le && lb > start + 1 && s[lb - 1] == ':' && lb - 1 <= blank &&
			    parse_u32_max(s + lb, le - lb, UINT32_MAX, &f->line) == 0 &&
			    parse_u32_max(s + cb, e - cb, UINT32_MAX, &f->col) == 0) {
				f->loc_off = start;
				f->loc_len = e - start;
				f->url_len = lb - 1 - start;
				return 1;
			}
		}
		if (anchored)
			return 0;
		e = cb;
	}
	return 0;
}

/* The function name in s[b, e), blanks trimmed; "async " and "new " stay
 * outside it so that --names keeps them. */
static void set_fn(const char *s, size_t b, size_t e, struct js_frame *f)
{
	while (b < e && is_blank(s[b]))
		b++;
	while (e > b && is_blank(s[e - 1]))
		e--;
	if (e - b > 6 && memcmp(s + b, "async ", 6) == 0)
		b += 6;
	else if (e - b > 4 && memcmp(s + b, "new ", 4) == 0)
		b += 4;
	f->fn_off = b;
	f->fn_len = e - b;
}

int js_frame_parse(const char *s, size_t n, struct js_frame *f)
{
	size_t end = n, p = 0;
	while (end > 0 && (is_blank(s[end - 1]) || s[end - 1] == '\r'))
		end--;
	while (p < end && is_blank(s[p]))
		p++;
	if (end - p < 5)
		return 0;
	memset(f, 0, sizeof *f);
	int at = memcmp(s + p, "at ", 3) == 0;
	size_t body = at ? p + 3 : p;

	/* DataKit / Guance: "[at ]fn @ URL:LINE:COL" */
	const char *m = end > body ? memmem(s + body, end - body, "@ ", 2) : NULL;
	if (m) {
		size_t ls = (size_t)(m - s) + 2;
		while (ls < end && is_blank(s[ls]))
			ls++;
		if (find_location(s, ls, end, 0, f)) {
			set_fn(s, body, (size_t)(m - s), f);
			return 1;
		}
	}
	if (at) {
		/* V8 "at fn (URL:LINE:COL)": a URL has no blanks, so its "("
		 * follows the last blank of the line. */
		if (s[end - 1] == ')') {
			size_t q = end - 1;
			while (q > body && !is_blank(s[q - 1]))
				q--;
			if (q > body && s[q - 1] == ' ' && s[q] == '(' &&
			    find_location(s, q + 1, end - 1, 1, f)) {
				set_fn(s, body, q - 1, f);
				return 1;
			}
		}
		/* V8 "at URL:LINE:COL" */
		return find_location(s, body, end, 1, f);
	}
	/* Firefox / Safari "fn@URL:LINE:COL": the first '@' (a URL may hold
	 * one in its user part; names seldom do). */
	const char *a = memchr(s + p, '@', end - p);
	if (a && find_location(s, (size_t)(a - s) + 1, end, 1, f)) {
		set_fn(s, p, (size_t)(a - s), f);
		return 1;
	}
	return 0;
}

int js_url_path(const char *u, size_t n, char *out, size_t cap)
{
	size_t i = 0, j;
	/* scheme "://" authority */
	for (j = 0; j < n; j++) {
		char c = u[j];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (j > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))))
			break;
	}
	if (j > 0 && n - j >= 3 && memcmp(u + j, "://", 3) == 0) {
		i = j + 3;
		while (i < n && u[i] != '/' && u[i] != '?' && u[i] != '#')
			i++;
	}
	size_t e = i;
	while (e < n && u[e] != '?' && u[e] != '#')
		e++;
	if (i < e && u[i] == '/')
		i++;
	size_t o = 0;
	for (; i < e; i++) {
		char c = u[i];
		int h, l;
		if (c == '%' && e - i >= 3 && (h = hex_digit(u[i + 1])) >= 0 &&
		    (l = hex_digit(u[i + 2])) >= 0) {
			c = (char)(h * 16 + l);
			i += 2;
		}
		if (c == '\0' || o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	if (o == 0)
		return -1;
	out[o] = '\0';
	return (int)o;
}

#define PATH_CAP 4096

static int rewrite_line(const char *s, size_t n, int names, js_resolve_fn resolve, void *ctx,
			struct buf *out, struct js_stats *st, unsigned lineno)
{
	struct js_frame f;
	if (!js_frame_parse(s, n, &f))
		return buf_add(out, s, n);
	st->frames++;
	char path[PATH_CAP];
	int why;
	struct js_original o = {0};
	if (js_url_path(s + f.loc_off, f.url_len, path, sizeof path) < 0)
		why = JS_MISS_BAD_URL;
	else if (f.line == 0)
		why = JS_MISS_BAD_POS;
	else
		why = resolve(ctx, path, f.line - 1, f.col ? f.col - 1 : 0, &o);
	if (why) {
		if (!st->first_miss) {
			st->first_miss = why;
			st->first_miss_line = lineno;
		}
		return buf_add(out, s, n);
	}
	st->restored++;
	size_t pos = 0;
	if (names && o.name && *o.name && f.fn_len) {
		buf_add(out, s, f.fn_off);
		buf_adds(out, o.name);
		pos = f.fn_off + f.fn_len;
	}
	buf_add(out, s + pos, f.loc_off - pos);
	buf_adds(out, o.source);
	buf_addc(out, ':');
	buf_add_u64(out, (uint64_t)o.line + 1);
	buf_addc(out, ':');
	buf_add_u64(out, o.column);
	size_t le = f.loc_off + f.loc_len;
	return buf_add(out, s + le, n - le);
}

int js_stack_rewrite(const char *stack, size_t n, int names, js_resolve_fn resolve, void *ctx,
		     struct buf *out, struct js_stats *st)
{
	memset(st, 0, sizeof *st);
	const char *p = stack, *end = stack + n;
	unsigned lineno = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		if (rewrite_line(p, len, names, resolve, ctx, out, st, lineno) < 0)
			return -1;
		if (nl && buf_addc(out, '\n') < 0)
			return -1;
		p += len + (nl ? 1 : 0);
	}
	return out->err ? -1 : 0;
}
