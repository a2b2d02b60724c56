/* The parts of the JSON scanner that do not run for every record field:
 * skipping whole values, decoding into a buffer, numbers' range, and the
 * writers. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *json_strerror(enum json_err code)
{
	static const char *const msg[] = {
	    [JSON_OK] = "no error",
	    [JSON_E_UNTERMINATED] = "unterminated string",
	    [JSON_E_ESCAPE] = "invalid escape in string",
	    [JSON_E_U_ESCAPE] = "invalid \\u escape",
	    [JSON_E_SURROGATE] = "unpaired surrogate in \\u escape",
	    [JSON_E_CONTROL] = "control character in string",
	    [JSON_E_UTF8] = "invalid UTF-8",
	    [JSON_E_NUMBER] = "invalid number",
	    [JSON_E_INT_RANGE] = "integer out of range",
	    [JSON_E_RANGE] = "number out of range",
	    [JSON_E_LITERAL] = "invalid literal",
	    [JSON_E_VALUE] = "invalid value",
	    [JSON_E_END] = "unexpected end of input",
	    [JSON_E_KEY] = "expected a key",
	    [JSON_E_COLON] = "expected ':'",
	    [JSON_E_OBJ_SEP] = "expected ',' or '}'",
	    [JSON_E_ARR_SEP] = "expected ',' or ']'",
	    [JSON_E_DEPTH] = "nesting too deep",
	};
	if ((unsigned)code >= sizeof msg / sizeof msg[0] || !msg[code])
		return "invalid JSON";
	return msg[code];
}

int json_double(const char *tok, size_t n, double *v)
{
	char small[64];
	char *tmp = small;
	if (n == 0)
		return -1;
	if (n >= sizeof small) {
		/* Only numbers with hundreds of digits get here. */
		if (n > 1u << 20 || !(tmp = malloc(n + 1)))
			return -1;
	}
	memcpy(tmp, tok, n);
	tmp[n] = '\0';
	char *e;
	errno = 0;
	double d = strtod(tmp, &e);
	int ok = e == tmp + n && isfinite(d);
	if (tmp != small)
		free(tmp);
	if (!ok)
		return -1;
	*v = d;
	return 0;
}

static const char *fail(struct json_fail *f, const char *at, enum json_err code)
{
	f->at = at;
	f->code = code;
	return NULL;
}

static int lenient_word_byte(char c)
{
	switch (c) {
	case ',':
	case ':':
	case '{':
	case '}':
	case '[':
	case ']':
	case ' ':
	case '\t':
	case '\r':
	case '\n':
	case '\f':
	case '"':
	case '\'':
		return 0;
	}
	return 1;
}

const char *json_scan_lenient_scalar(const char *q, const char *end, const char **s, size_t *n,
				     struct json_fail *f)
{
	if (q < end && *q == '"') {
		int esc = 0;
		const char *e = json_scan_string(q, end, 0, &esc, f);
		if (!e)
			return NULL;
		*s = q + 1;
		*n = (size_t)(e - 1 - *s);
		return e;
	}
	if (q < end && *q == '\'') {
		/* Gson's single-quoted string: a backslash takes the byte
		 * after it, whatever it is, so \' does not end the string. */
		const char *p = q + 1;
		while (p < end && *p != '\'') {
			if (*p == '\\' && end - p > 1)
				p++;
			p++;
		}
		if (p >= end)
			return fail(f, q, JSON_E_UNTERMINATED);
		*s = q + 1;
		*n = (size_t)(p - *s);
		return p + 1;
	}
	const char *p = q;
	while (p < end && lenient_word_byte(*p))
		p++;
	if (p == q)
		return fail(f, q, q >= end ? JSON_E_END : JSON_E_VALUE);
	*s = q;
	*n = (size_t)(p - q);
	return p;
}

/* The members of an object or the elements of an array, q past its opening
 * bracket. */
static const char *skip_container(const char *q, const char *end, char close, int depth,
				  int max_depth, unsigned flags, struct json_fail *f)
{
	int esc = 0;
	q = json_skip_ws(q, end);
	if (q < end && *q == close)
		return q + 1;
	for (;;) {
		if (close == '}') {
			const char *key;
			size_t keylen;
			if (flags & JSON_LENIENT)
				q = json_scan_lenient_scalar(q, end, &key, &keylen, f);
			else if (q >= end || *q != '"')
				return fail(f, q, q >= end ? JSON_E_END : JSON_E_KEY);
			else
				q = json_scan_string(q, end, flags, &esc, f);
			if (!q)
				return NULL;
			q = json_skip_ws(q, end);
			if (q >= end || *q != ':')
				return fail(f, q, JSON_E_COLON);
			q = json_skip_ws(q + 1, end);
		}
		if (!(q = json_skip_value(q, end, depth + 1, max_depth, flags, f)))
			return NULL;
		q = json_skip_ws(q, end);
		if (q < end && *q == ',') {
			q = json_skip_ws(q + 1, end);
			continue;
		}
		if (q < end && *q == close)
			return q + 1;
		if (q >= end)
			return fail(f, q, JSON_E_END);
		return fail(f, q, close == '}' ? JSON_E_OBJ_SEP : JSON_E_ARR_SEP);
	}
}

const char *json_skip_value(const char *q, const char *end, int depth, int max_depth,
			    unsigned flags, struct json_fail *f)
{
	int esc = 0;
	struct json_num num;
	if (q >= end)
		return fail(f, q, JSON_E_END);
	if ((flags & JSON_LENIENT) && *q != '{' && *q != '[') {
		const char *s;
		size_t n;
		return json_scan_lenient_scalar(q, end, &s, &n, f);
	}
	switch (*q) {
	case '"':
		return json_scan_string(q, end, flags, &esc, f);
	case 't':
	case 'f':
	case 'n':
		return json_scan_literal(q, end, f);
	case '{':
	case '[':
		if (depth >= max_depth)
			return fail(f, q, JSON_E_DEPTH);
		return skip_container(q + 1, end, *q == '{' ? '}' : ']', depth, max_depth, flags,
				      f);
	default:
		if (*q == '-' || json_is_digit(*q))
			return json_scan_number(q, end, flags, &num, f);
		return fail(f, q, JSON_E_VALUE);
	}
}

int json_decode_append(const char *tok, size_t n, unsigned flags, struct buf *out)
{
	if (n < 2 || tok[0] != '"' || tok[n - 1] != '"')
		return -1;
	const char *p = tok + 1, *end = tok + n - 1;
	/* Decoding never makes a string longer: at most 4 bytes out for the
	 * 6 or 12 of a \u escape, 1 for 2 otherwise. */
	if (buf_reserve(out, n) < 0)
		return -1;
	char *o = out->p + out->len;
	const char *bs;
	while ((bs = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		memcpy(o, p, (size_t)(bs - p));
		o += bs - p;
		size_t adv;
		int k = json_escape(bs, end, flags, o, &adv);
		if (k < 0)
			return -1;
		o += k;
		p = bs + adv;
	}
	memcpy(o, p, (size_t)(end - p));
	o += end - p;
	out->len = (size_t)(o - out->p);
	return 0;
}

int json_unescape(const char *tok, size_t n, unsigned flags, struct buf *scratch, const char **s,
		  size_t *len)
{
	if (n < 2 || tok[0] != '"' || tok[n - 1] != '"')
		return -1;
	if (!memchr(tok + 1, '\\', n - 2)) {
		*s = tok + 1;
		*len = n - 2;
		return 0;
	}
	buf_reset(scratch);
	if (json_decode_append(tok, n, flags, scratch) < 0)
		return -1;
	*s = scratch->p;
	*len = scratch->len;
	return 0;
}

int json_add_str(struct buf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	if (buf_reserve(b, n + 2) < 0)
		return -1;
	b->p[b->len++] = '"';
	const char *p = s, *end = s + n, *run = s;
	while (p < end) {
		p = json_plain_end(p, end, 1);
		if (p >= end)
			break;
		unsigned char ch = (unsigned char)*p;
		if (ch >= 0x80) {
			int l = utf8_seq_len(p, end);
			if (l) {
				p += l;
				continue;
			}
		}
		if (buf_add(b, run, (size_t)(p - run)) < 0)
			return -1;
		char esc[6] = {'\\', 0};
		size_t elen = 2;
		switch (ch) {
		case '"':
		case '\\':
			esc[1] = (char)ch;
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		default:
			if (ch >= 0x80) {
				elen = (size_t)utf8_encode(UTF8_REPLACEMENT, esc);
			} else {
				memcpy(esc, "\\u00", 4);
				esc[4] = hexd[ch >> 4];
				esc[5] = hexd[ch & 15];
				elen = 6;
			}
		}
		if (buf_add(b, esc, elen) < 0)
			return -1;
		run = ++p;
	}
	if (buf_add(b, run, (size_t)(end - run)) < 0)
		return -1;
	return buf_addc(b, '"');
}

int json_add_double(struct buf *b, double v)
{
	if (!isfinite(v))
		return -1;
	char tmp[48];
	int len = 0;
	/* The shortest of 15, 16, 17 significant digits that reads back as
	 * the same double. */
	for (int prec = 15; prec <= 17; prec++) {
		len = snprintf(tmp, sizeof tmp - 2, "%.*g", prec, v);
		if (len < 0 || (size_t)len >= sizeof tmp - 2)
			return -1;
		if (prec == 17 || strtod(tmp, NULL) == v)
			break;
	}
	if (!memchr(tmp, '.', (size_t)len) && !memchr(tmp, 'e', (size_t)len)) {
		tmp[len++] = '.';
		tmp[len++] = '0';
	}
	return buf_add(b, tmp, (size_t)len);
}
