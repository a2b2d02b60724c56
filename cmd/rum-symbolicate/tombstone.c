/* Tombstone parsing and backtrace splicing. */
#include "tombstone.h"

#include <string.h>

#include "hex.h"
#include "textscan.h"

/* The line's text with blanks and a '\r' trimmed on both sides. */
static void trim(const char **p, size_t *n)
{
	while (*n && (is_blank(**p)))
		(*p)++, (*n)--;
	while (*n && (is_blank((*p)[*n - 1]) || (*p)[*n - 1] == '\r'))
		(*n)--;
}

static void set_lib(struct tomb_frame *f)
{
	f->lib = NULL;
	f->lib_len = 0;
	if (f->path_len < 4 || memcmp(f->path + f->path_len - 3, ".so", 3) != 0)
		return;
	size_t s = f->path_len;
	while (s > 0 && f->path[s - 1] != '/' && f->path[s - 1] != '!')
		s--;
	if (f->path_len - s > 3) {
		f->lib = f->path + s;
		f->lib_len = f->path_len - s;
	}
}

/* The parenthesized groups ending rest[0..n), read from the right: the
 * symbol ("(fn+12)"), "(BuildId: ...)", "(offset 0x...)" into f. Returns
 * the length left for the path. */
static size_t trailing_groups(const char *rest, size_t n, struct tomb_frame *f)
{
	while (n > 0 && rest[n - 1] == ')') {
		size_t j = n - 1;
		int depth = 0;
		for (;;) {
			if (rest[j] == ')')
				depth++;
			else if (rest[j] == '(' && --depth == 0)
				break;
			if (j == 0)
				break;
			j--;
		}
		if (depth != 0 || j == 0 || !is_blank(rest[j - 1]))
			break;
		const char *g = rest + j + 1;
		size_t gl = n - 1 - (j + 1);
		if (has_prefix(g, gl, "BuildId: ") && !f->build_id && !f->sym) {
			f->build_id = g + 9;
			f->build_id_len = gl - 9;
		} else if (has_prefix(g, gl, "offset 0x")) {
			/* the library was mapped out of an APK; the pc is still
			 * relative to the library */
		} else if (gl == 7 && memcmp(g, "deleted", 7) == 0) {
			break;
		} else if (!f->sym && gl > 0) {
			f->sym = g;
			f->sym_len = gl;
		} else {
			break;
		}
		n = j;
		while (n && is_blank(rest[n - 1]))
			n--;
	}
	return n;
}

int tomb_parse_frame(const char *line, size_t len, struct tomb_frame *f)
{
	memset(f, 0, sizeof *f);
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	f->line = line;
	f->line_len = len;
	size_t i = 0;
	while (i < len && is_blank(line[i]))
		i++;
	f->indent = i;
	if (i >= len || line[i] != '#')
		return -1;
	i++;
	size_t d = i;
	unsigned num = 0;
	while (i < len && line[i] >= '0' && line[i] <= '9' && i - d < 6)
		num = num * 10 + (unsigned)(line[i++] - '0');
	if (i == d || i >= len || !is_blank(line[i]))
		return -1;
	f->num = num;
	while (i < len && is_blank(line[i]))
		i++;
	if (!has_prefix(line + i, len - i, "pc") || len - i < 3 || !is_blank(line[i + 2]))
		return -1;
	i += 2;
	while (i < len && is_blank(line[i]))
		i++;
	size_t h = i;
	uint64_t pc = 0;
	while (i < len && hex_digit(line[i]) >= 0 && i - h < 16)
		pc = pc << 4 | (uint64_t)hex_digit(line[i++]);
	if (i == h || (i < len && !is_blank(line[i])))
		return -1;
	f->pc = pc;
	while (i < len && is_blank(line[i]))
		i++;
	/* The rest is the path and then parenthesized groups, read from the
	 * right: symbol names may hold parentheses and blanks themselves
	 * (demangled C++), and a path may end in " (deleted)". */
	const char *rest = line + i;
	size_t n = len - i;
	while (n && is_blank(rest[n - 1]))
		n--;
	n = trailing_groups(rest, n, f);
	f->path = rest;
	f->path_len = n;
	set_lib(f);
	return 0;
}

const char *tomb_abi_dir(const char *name, size_t len)
{
	static const char *const map[][2] = {
	    {"arm64", "arm64-v8a"},	    {"arm", "armeabi-v7a"}, {"arm64-v8a", "arm64-v8a"},
	    {"armeabi-v7a", "armeabi-v7a"}, {"armeabi", "armeabi"}, {"x86", "x86"},
	    {"x86_64", "x86_64"},	    {"riscv64", "riscv64"}, {"mips", "mips"},
	    {"mips64", "mips64"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strlen(map[i][0]) == len && memcmp(map[i][0], name, len) == 0)
			return map[i][1];
	return NULL;
}

/* The quoted value of "KEY: 'v'" (or unquoted). */
static void value_of(const char *p, size_t n, const char **v, size_t *vl)
{
	trim(&p, &n);
	if (n >= 2 && p[0] == '\'' && p[n - 1] == '\'')
		p++, n -= 2;
	*v = p;
	*vl = n;
}

const char *tomb_abi(const char *report, size_t len)
{
	const char *abi = NULL, *listed = NULL;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(report + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - report) : len;
		const char *p = report + pos;
		size_t n = end - pos;
		pos = end + 1;
		trim(&p, &n);
		const char *v;
		size_t vl;
		if (n == 10 && memcmp(p, "backtrace:", 10) == 0)
			break;
		if (has_prefix(p, n, "ABI list:")) {
			value_of(p + 9, n - 9, &v, &vl);
			const char *comma = memchr(v, ',', vl);
			if (comma)
				vl = (size_t)(comma - v);
			if (!listed)
				listed = tomb_abi_dir(v, vl);
		} else if (has_prefix(p, n, "ABI:")) {
			value_of(p + 4, n - 4, &v, &vl);
			if (!abi)
				abi = tomb_abi_dir(v, vl);
		}
	}
	return abi ? abi : listed;
}

int tomb_splice(const char *report, size_t len, tomb_frame_fn fn, void *ctx, struct buf *out,
		struct tomb_stats *stats)
{
	const char *abi = tomb_abi(report, len);
	int in_bt = 0;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(report + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - report) + 1 : len;
		const char *line = report + pos;
		size_t n = end - pos;
		pos = end;
		const char *t = line;
		size_t tl = n;
		trim(&t, &tl);
		if (tl && t[tl - 1] == '\n')
			tl--;
		trim(&t, &tl);
		struct tomb_frame f;
		if (!in_bt) {
			if (tl == 10 && memcmp(t, "backtrace:", 10) == 0) {
				in_bt = 1;
				if (stats)
					stats->has_backtrace = 1;
			}
		} else if (tl == 7 && memcmp(t, "logcat:", 7) == 0) {
			in_bt = 0;
			/* the rest is the log: copied whole */
			if (buf_add(out, line, len - (size_t)(line - report)) < 0)
				return -1;
			return 0;
		} else if (tomb_parse_frame(line, n, &f) == 0) {
			f.abi = abi;
			if (stats)
				stats->frames++;
			if (buf_add(out, line, f.line_len) < 0)
				return -1;
			int r = fn(ctx, &f, out);
			if (r < 0)
				return -1;
			if (r > 0 && stats)
				stats->restored++;
			if (buf_add(out, line + f.line_len, n - f.line_len) < 0)
				return -1;
			continue;
		}
		if (buf_add(out, line, n) < 0)
			return -1;
	}
	return out->err ? -1 : 0;
}

static int add_indent(struct buf *out, const struct tomb_frame *f)
{
	if (buf_addc(out, '\n') < 0)
		return -1;
	return buf_add(out, f->line, f->indent);
}

int tomb_add_locations(struct buf *out, const struct tomb_frame *f, const struct dsym_result *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		const struct dsym_loc *l = &r->loc[i];
		add_indent(out, f);
		buf_adds(out, l->function ? l->function : "??");
		add_indent(out, f);
		buf_printf(out, "%s:%u:%u", l->file ? l->file : "??", l->line, l->column);
	}
	return out->err ? -1 : 0;
}
