/* multipart/form-data parsing; see multipart.h for what is accepted. */
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "multipart.h"

static int fail(struct mp_parser *mp, const char *at, const char *reason, const char **why)
{
	mp->err_off = (size_t)(at - mp->start);
	*why = reason;
	return -1;
}

/* A cursor over one header value. CR and LF count as white space in it:
 * they can only be there where a folded line was joined. */
struct hv {
	const char *p, *end;
};

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_ws(struct hv *h)
{
	while (h->p < h->end && is_ws(*h->p))
		h->p++;
}

/* Characters of a token (RFC 9110) or of an unquoted parameter value. The
 * value side is more lenient, as Go's parser and browsers are: anything
 * printable but separators of the parameter syntax itself. */
static int is_tchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

static int is_vchar(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != ';' && c != '"';
}

struct param {
	const char *name, *val;
	size_t nlen, vlen;
	int quoted;
};

/* The next "; name=value" of h. 1: one in *pa; 0: the end; -1: malformed. */
static int next_param(struct hv *h, struct param *pa, const char **why)
{
	for (;;) {
		skip_ws(h);
		if (h->p == h->end)
			return 0;
		if (*h->p != ';') {
			*why = "expected ';' before a parameter";
			return -1;
		}
		h->p++;
		skip_ws(h);
		if (h->p == h->end)
			return 0; /* a trailing ';' */
		if (*h->p != ';')
			break;
	}
	pa->name = h->p;
	while (h->p < h->end && is_tchar((unsigned char)*h->p))
		h->p++;
	pa->nlen = (size_t)(h->p - pa->name);
	if (!pa->nlen) {
		*why = "a parameter without a name";
		return -1;
	}
	skip_ws(h);
	if (h->p == h->end || *h->p != '=') {
		*why = "a parameter without '='";
		return -1;
	}
	h->p++;
	skip_ws(h);
	if (h->p < h->end && *h->p == '"') {
		pa->quoted = 1;
		pa->val = ++h->p;
		while (h->p < h->end && *h->p != '"') {
			if (*h->p == '\\' && h->p + 1 < h->end)
				h->p++;
			h->p++;
		}
		if (h->p == h->end) {
			*why = "an unterminated quoted string";
			return -1;
		}
		pa->vlen = (size_t)(h->p - pa->val);
		h->p++;
		return 1;
	}
	pa->quoted = 0;
	pa->val = h->p;
	while (h->p < h->end && is_vchar((unsigned char)*h->p))
		h->p++;
	pa->vlen = (size_t)(h->p - pa->val);
	if (!pa->vlen) {
		*why = "a parameter without a value";
		return -1;
	}
	return 1;
}

static int name_is(const struct param *pa, const char *s)
{
	return pa->nlen == strlen(s) && strncasecmp(pa->name, s, pa->nlen) == 0;
}

/* The value of a parameter, quoted-pairs undone, into out[0..cap).
 * -1 when it does not fit. */
static int param_value(const struct param *pa, char *out, size_t cap, size_t *outlen)
{
	size_t j = 0;
	for (size_t i = 0; i < pa->vlen; i++) {
		char c = pa->val[i];
		if (pa->quoted && c == '\\' && i + 1 < pa->vlen)
			c = pa->val[++i];
		if (j == cap)
			return -1;
		out[j++] = c;
	}
	*outlen = j;
	return 0;
}

/* RFC 5987 ext-value: charset'language'percent-encoded. */
static const char *ext_value(const struct param *pa, char *out, size_t cap, size_t *outlen)
{
	const char *p = pa->val, *end = pa->val + pa->vlen;
	const char *q1 = memchr(p, '\'', pa->vlen);
	const char *q2 = q1 ? memchr(q1 + 1, '\'', (size_t)(end - q1 - 1)) : NULL;
	if (!q2)
		return "filename* is not charset'language'value";
	size_t j = 0;
	for (p = q2 + 1; p < end; p++) {
		char c = *p;
		if (c == '%') {
			if (end - p < 3)
				return "a bad %-escape in filename*";
			int hi = hex_digit((unsigned char)p[1]),
			    lo = hex_digit((unsigned char)p[2]);
			if (hi < 0 || lo < 0)
				return "a bad %-escape in filename*";
			c = (char)(hi << 4 | lo);
			p += 2;
		}
		if (j == cap)
			return "filename* too long";
		out[j++] = c;
	}
	*outlen = j;
	return NULL;
}

int mp_init(struct mp_parser *mp, const char *ctype, size_t ctype_len, const char *body, size_t len,
	    const char **why)
{
	memset(mp, 0, sizeof *mp);
	mp->start = mp->p = body;
	mp->end = body + len;
	struct hv h = {ctype, ctype + ctype_len};
	skip_ws(&h);
	const char *type = h.p;
	while (h.p < h.end && *h.p != ';' && !is_ws(*h.p))
		h.p++;
	size_t tlen = (size_t)(h.p - type);
	if (tlen != 19 || strncasecmp(type, "multipart/form-data", 19) != 0) {
		*why = tlen > 10 && strncasecmp(type, "multipart/", 10) == 0
			   ? "not multipart/form-data (another multipart type)"
			   : "not multipart/form-data";
		return -1;
	}
	struct param pa;
	int rc, found = 0;
	while ((rc = next_param(&h, &pa, why)) == 1) {
		if (!name_is(&pa, "boundary"))
			continue;
		if (found) {
			*why = "two boundary parameters";
			return -1;
		}
		found = 1;
		size_t blen;
		if (param_value(&pa, mp->delim + 4, MP_BOUNDARY_MAX, &blen) < 0) {
			*why = "boundary longer than 200 bytes";
			return -1;
		}
		if (blen == 0) {
			*why = "empty boundary";
			return -1;
		}
		for (size_t i = 0; i < blen; i++) {
			unsigned char c = (unsigned char)mp->delim[4 + i];
			if (c < 0x20 || c == 0x7f) {
				*why = "a control character in the boundary";
				return -1;
			}
		}
		memcpy(mp->delim, "\r\n--", 4);
		mp->dlen = 4 + blen;
	}
	if (rc < 0)
		return -1;
	if (!found) {
		*why = "no boundary in the Content-Type";
		return -1;
	}
	return 0;
}

/* After a delimiter (at p): 2 when it closes ("--"), 1 when a line end
 * follows its padding (*next just past it), 0 when this is not a delimiter
 * after all (the boundary text goes on), -1 when the body ends first. */
static int delim_tail(const struct mp_parser *mp, const char *p, int first, int *lf,
		      const char **next)
{
	if (p == mp->end)
		return -1;
	if (*p == '-') {
		if (p + 1 == mp->end)
			return -1;
		return p[1] == '-' ? 2 : 0;
	}
	while (p < mp->end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == mp->end)
		return -1;
	if (*p == '\r') {
		if (p + 1 == mp->end)
			return -1;
		if (p[1] != '\n')
			return 0;
		if (first)
			*lf = 0;
		*next = p + 2;
		return 1;
	}
	if (*p == '\n' && (first || mp->lf)) {
		if (first)
			*lf = 1;
		*next = p + 1;
		return 1;
	}
	return 0;
}

/* Finds the delimiter that ends a part whose content starts at from:
 * *data_end is where the content stops. The result is delim_tail's. */
static int find_delim(struct mp_parser *mp, const char *from, const char **data_end,
		      const char **next)
{
	const char *d = mp->lf ? mp->delim + 1 : mp->delim;
	size_t dl = mp->lf ? mp->dlen - 1 : mp->dlen;
	const char *p = from;
	for (;;) {
		const char *q = memmem(p, (size_t)(mp->end - p), d, dl);
		if (!q)
			return -1;
		int lf = mp->lf;
		int rc = delim_tail(mp, q + dl, 0, &lf, next);
		if (rc != 0) {
			*data_end = q;
			return rc;
		}
		p = q + 1;
	}
}

/* The first delimiter: at the very start, or after a line end that ends
 * the preamble. Sets the line-end mode. */
static int first_delim(struct mp_parser *mp, const char **why)
{
	const char *b = mp->delim + 2; /* "--boundary" */
	size_t bl = mp->dlen - 2;
	const char *p = mp->start, *next = NULL;
	for (;;) {
		const char *q;
		if (p == mp->start && (size_t)(mp->end - p) >= bl && memcmp(p, b, bl) == 0) {
			q = p;
		} else {
			const char *nl = memmem(p, (size_t)(mp->end - p), b - 1, bl + 1);
			if (!nl)
				return fail(mp, mp->end, "no boundary delimiter in the body", why);
			q = nl + 1;
		}
		int rc = delim_tail(mp, q + bl, 1, &mp->lf, &next);
		if (rc < 0)
			return fail(mp, mp->end, "truncated in the first delimiter", why);
		if (rc == 2) {
			mp->state = 2;
			return 0;
		}
		if (rc == 1) {
			mp->p = next;
			mp->state = 1;
			return 0;
		}
		p = q + 1;
	}
}

static int header_is(const char *name, size_t n, const char *s)
{
	return n == strlen(s) && strncasecmp(name, s, n) == 0;
}

static int content_disposition(struct mp_parser *mp, const char *v, const char *vend,
			       struct mp_part *part, int *has_name, const char **why)
{
	struct hv h = {v, vend};
	skip_ws(&h);
	const char *t = h.p;
	while (h.p < h.end && *h.p != ';' && !is_ws(*h.p))
		h.p++;
	if ((size_t)(h.p - t) != 9 || strncasecmp(t, "form-data", 9) != 0)
		return fail(mp, v, "Content-Disposition is not form-data", why);
	struct param pa;
	int rc, seen_fn = 0, seen_ext = 0;
	while ((rc = next_param(&h, &pa, why)) == 1) {
		if (name_is(&pa, "name")) {
			if (*has_name)
				return fail(mp, pa.name, "two name parameters", why);
			*has_name = 1;
			if (param_value(&pa, part->name, MP_NAME_MAX, &part->name_len) < 0)
				return fail(mp, pa.val, "part name longer than 256 bytes", why);
		} else if (name_is(&pa, "filename")) {
			if (seen_fn++)
				return fail(mp, pa.name, "two filename parameters", why);
			part->has_filename = 1;
			/* filename* wins (RFC 6266) when both are given. */
			if (!seen_ext && param_value(&pa, part->filename, MP_FILENAME_MAX,
						     &part->filename_len) < 0)
				return fail(mp, pa.val, "filename longer than 1024 bytes", why);
		} else if (name_is(&pa, "filename*")) {
			if (seen_ext++)
				return fail(mp, pa.name, "two filename* parameters", why);
			part->has_filename = 1;
			const char *e =
			    ext_value(&pa, part->filename, MP_FILENAME_MAX, &part->filename_len);
			if (e)
				return fail(mp, pa.val, e, why);
		}
	}
	if (rc < 0)
		return fail(mp, h.p, *why, why);
	return 0;
}

/* One header of a part, complete with its continuation lines. */
static int part_header(struct mp_parser *mp, const char *line, const char *vend,
		       struct mp_part *part, int *has_cd, int *has_name, const char **why)
{
	const char *colon = memchr(line, ':', (size_t)(vend - line));
	if (!colon)
		return fail(mp, line, "a part header line without ':'", why);
	size_t nlen = (size_t)(colon - line);
	if (!nlen)
		return fail(mp, line, "a part header without a name", why);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)line[i]))
			return fail(mp, line + i, "a bad character in a part header name", why);
	if (header_is(line, nlen, "Content-Disposition")) {
		if ((*has_cd)++)
			return fail(mp, line, "two Content-Disposition headers in a part", why);
		return content_disposition(mp, colon + 1, vend, part, has_name, why);
	}
	if (header_is(line, nlen, "Content-Type")) {
		struct hv h = {colon + 1, vend};
		skip_ws(&h);
		while (h.end > h.p && is_ws(h.end[-1]))
			h.end--;
		part->ctype = h.p;
		part->ctype_len = (size_t)(h.end - h.p);
	}
	return 0;
}

int mp_next(struct mp_parser *mp, struct mp_part *part, const char **why)
{
	if (mp->state == 0 && first_delim(mp, why) < 0)
		return -1;
	if (mp->state == 2)
		return 0;
	part->name_len = part->filename_len = 0;
	part->has_filename = 0;
	part->ctype = NULL;
	part->ctype_len = 0;

	/* Header lines up to an empty one. */
	const char *p = mp->p, *limit = mp->p;
	limit +=
	    (size_t)(mp->end - mp->p) < MP_HEADERS_MAX ? (size_t)(mp->end - mp->p) : MP_HEADERS_MAX;
	const char *hdr = NULL, *hdr_end = NULL;
	int has_cd = 0, has_name = 0;
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(limit - p));
		if (!nl) {
			if (limit < mp->end)
				return fail(mp, mp->p, "part headers longer than 16384 bytes", why);
			return fail(mp, mp->end, "truncated in a part's headers", why);
		}
		const char *le = nl;
		if (le > p && le[-1] == '\r')
			le--;
		else if (!mp->lf)
			return fail(mp, nl, "a bare LF in part headers (CRLF expected)", why);
		int cont = le > p && (*p == ' ' || *p == '\t');
		if (cont && !hdr)
			return fail(mp, p, "a continuation line before any part header", why);
		if (!cont && hdr &&
		    part_header(mp, hdr, hdr_end, part, &has_cd, &has_name, why) < 0)
			return -1;
		if (le == p) {
			p = nl + 1;
			break;
		}
		if (!cont)
			hdr = p;
		hdr_end = le;
		p = nl + 1;
	}
	if (!has_cd)
		return fail(mp, mp->p, "a part without Content-Disposition", why);
	if (!has_name)
		return fail(mp, mp->p, "a part without a name", why);

	const char *data_end = NULL, *next = NULL;
	int rc = find_delim(mp, p, &data_end, &next);
	if (rc < 0)
		return fail(mp, mp->end, "truncated: no delimiter after a part", why);
	part->data = p;
	part->len = (size_t)(data_end - p);
	mp->nparts++;
	if (rc == 2)
		mp->state = 2;
	else
		mp->p = next;
	return 1;
}
