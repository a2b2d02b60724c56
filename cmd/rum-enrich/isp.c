/* ip2isp.txt: parsed into one sorted array, searched from the longest
 * prefix length present down to the shortest. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fsutil.h"
#include "isp.h"

/* "a.b.c.d" or "a.b.c.d/n" (n in 1..32), as DataKit's ParseIPCIDR takes
 * them less its quirks (a /0 that never matches, a /33 that is a /32). */
static int parse_cidr(const char *p, size_t n, uint32_t *net, uint8_t *len)
{
	uint32_t a = 0;
	size_t i = 0;
	for (int octet = 0; octet < 4; octet++) {
		unsigned v = 0, digits = 0;
		if (octet && (i >= n || p[i++] != '.'))
			return -1;
		while (i < n && p[i] >= '0' && p[i] <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(p[i++] - '0');
			digits++;
		}
		if (!digits || digits > 3 || v > 255)
			return -1;
		a = a << 8 | v;
	}
	unsigned l = 32;
	if (i < n) {
		unsigned digits = 0;
		if (p[i++] != '/')
			return -1;
		for (l = 0; i < n && p[i] >= '0' && p[i] <= '9' && digits < 3; digits++)
			l = l * 10 + (unsigned)(p[i++] - '0');
		if (!digits || i != n || l < 1 || l > 32)
			return -1;
	}
	*len = (uint8_t)l;
	*net = l == 32 ? a : a & ~(UINT32_MAX >> l);
	return 0;
}

/* Sorted by length, network, then line: of equal prefixes the last line
 * is the one kept. */
static int rule_cmp(const void *pa, const void *pb)
{
	const struct isp_rule *a = pa, *b = pb;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if (a->net != b->net)
		return a->net < b->net ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

static int classify(const char *p, size_t n, struct isp_rule *r, struct buf *names)
{
	if (n && p[n - 1] == '\r')
		n--; /* Go's line scanner drops it too */
	if (n == 0)
		return ISP_BLANK;
	if (p[0] == '#')
		return ISP_COMMENT;
	const char *sp = memchr(p, ' ', n);
	if (!sp || memchr(sp + 1, ' ', (size_t)(p + n - sp - 1)))
		return ISP_MALFORMED;
	size_t name_len = (size_t)(p + n - sp - 1);
	if (name_len == 0 || parse_cidr(p, (size_t)(sp - p), &r->net, &r->len) < 0)
		return ISP_MALFORMED;
	if (name_len > GEO_VAL_MAX)
		name_len =
		    GEO_VAL_MAX; /* cut at a byte; the JSON writer mends a broken character */
	r->name = (uint32_t)names->len;
	r->name_len = (uint8_t)name_len;
	if (buf_add(names, sp + 1, r->name_len) < 0)
		return -1;
	return ISP_RULE;
}

int isp_file_parse(struct isp_file *f, const char *p, size_t n, struct rum_error *err)
{
	struct buf names = {0};
	size_t cap = 0, line = 0;
	const char *end = p + n;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct isp_rule r;
		line++;
		if (f->n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct isp_rule *nr = realloc(f->rules, ncap * sizeof *nr);
			if (!nr)
				goto nomem;
			f->rules = nr;
			cap = ncap;
		}
		int kind = classify(p, len, &r, &names);
		if (kind < 0)
			goto nomem;
		f->lines[kind]++;
		if (kind == ISP_MALFORMED && !f->first_malformed_line)
			f->first_malformed_line = line;
		if (kind == ISP_RULE) {
			r.line = (uint32_t)line;
			f->rules[f->n++] = r;
		}
		p += len + 1;
	}
	if (f->n == 0) {
		buf_free(&names);
		return err_set(err, "no \"CIDR ISP\" line in %zu lines", line);
	}
	qsort(f->rules, f->n, sizeof *f->rules, rule_cmp);
	size_t k = 0;
	for (size_t i = 0; i < f->n; i++) {
		if (k && f->rules[k - 1].len == f->rules[i].len &&
		    f->rules[k - 1].net == f->rules[i].net)
			k--; /* the later line replaces the earlier */
		f->rules[k++] = f->rules[i];
	}
	f->n = k;
	memset(f->start, 0, sizeof f->start);
	f->lens = 0;
	for (size_t i = 0; i < f->n; i++) {
		f->start[f->rules[i].len + 1]++;
		f->lens |= (uint64_t)1 << f->rules[i].len;
	}
	for (int l = 1; l < 34; l++)
		f->start[l] += f->start[l - 1];
	f->names = names.p;
	return 0;
nomem:
	buf_free(&names);
	return err_set(err, "out of memory");
}

int isp_file_changed(const struct isp_file *f)
{
	struct file_sig s;
	if (!f->path)
		return 0;
	file_sig_of(f->path, &s);
	if (f->is_open && file_sig_eq(&s, &f->sig))
		return 0;
	return !(f->has_failed && file_sig_eq(&s, &f->failed_sig));
}

int isp_file_open(struct isp_file *f, struct rum_error *err)
{
	struct isp_file n = {.path = f->path, .option = f->option};
	struct buf b = {0};
	struct file_sig sig;
	file_sig_of(f->path, &sig);
	int rc = read_file(f->path, ISP_FILE_MAX, &b, err);
	if (rc == 0)
		rc = isp_file_parse(&n, b.p ? b.p : "", b.len, err);
	buf_free(&b);
	if (rc < 0) {
		isp_file_close(&n);
		f->failed_sig = sig;
		f->has_failed = 1;
		err_prefix(err, "%s '%s'", f->option, f->path);
		return -1;
	}
	isp_file_close(f);
	*f = n;
	f->is_open = 1;
	f->sig = sig;
	return 0;
}

void isp_file_close(struct isp_file *f)
{
	free(f->rules);
	free(f->names);
	f->rules = NULL;
	f->names = NULL;
	f->n = 0;
	f->is_open = 0;
}

enum geo_status isp_file_lookup(const struct isp_file *f, const struct sockaddr *sa,
				struct geo_vals *v)
{
	if (!f->n || sa->sa_family != AF_INET)
		return GEO_NOT_FOUND; /* DataKit's file and lookup are IPv4 only */
	const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	uint32_t ip = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	for (int l = 32; l >= 1; l--) {
		if (!(f->lens >> l & 1))
			continue;
		uint32_t net = l == 32 ? ip : ip & ~(UINT32_MAX >> l);
		size_t lo = f->start[l], hi = f->start[l + 1];
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (f->rules[mid].net < net) {
				lo = mid + 1;
			} else if (f->rules[mid].net > net) {
				hi = mid;
			} else {
				const struct isp_rule *r = &f->rules[mid];
				if (!v->len[GEO_ISP]) {
					memcpy(v->s[GEO_ISP], f->names + r->name, r->name_len);
					v->len[GEO_ISP] = r->name_len;
				}
				return GEO_FOUND;
			}
		}
	}
	return GEO_NOT_FOUND;
}
