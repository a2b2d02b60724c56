/* Hosts, DNS answers and records: the network-free part of rum-cdn. */
#include <ares.h>
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "cdn.h"

const char *const cdn_fail_names[FAIL_N] = {
    "none", "nxdomain", "servfail", "refused", "timeout", "bad_answer", "error", "deadline",
};
const char *const cdn_type_names[3] = {"unknown", "first-party", "CDN"};

static int all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

static enum host_kind ip_literal(const char *s, size_t n, int family)
{
	char tmp[64];
	unsigned char a[16];
	if (n == 0 || n >= sizeof tmp)
		return HOST_INVALID;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	return inet_pton(family, tmp, a) == 1 ? HOST_IP : HOST_INVALID;
}

static int valid_port(const char *s, size_t n)
{
	if (n == 0 || n > 5 || !all_digits(s, n))
		return 0;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	return v <= 65535;
}

enum host_kind cdn_host_parse(const char *s, size_t n, char out[HOST_MAX], size_t *outlen)
{
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return HOST_INVALID;
		size_t rest = n - (size_t)(close - s) - 1;
		if (rest && (close[1] != ':' || !valid_port(close + 2, rest - 1)))
			return HOST_INVALID;
		return ip_literal(s + 1, (size_t)(close - s) - 1, AF_INET6);
	}
	const char *colon = memchr(s, ':', n);
	if (colon) {
		if (memchr(colon + 1, ':', n - (size_t)(colon - s) - 1))
			return ip_literal(s, n, AF_INET6);
		if (!valid_port(colon + 1, n - (size_t)(colon - s) - 1))
			return HOST_INVALID;
		n = (size_t)(colon - s);
	}
	if (n && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return HOST_INVALID;
	if (ip_literal(s, n, AF_INET) == HOST_IP)
		return HOST_IP;
	int non_digit = 0;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return HOST_INVALID;
			label = 0;
			out[i] = '.';
			continue;
		}
		if (c == '-') {
			if (label == 0)
				return HOST_INVALID;
			non_digit = 1;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
			non_digit = 1;
		} else if (c < '0' || c > '9') {
			return HOST_INVALID;
		}
		if (++label > 63)
			return HOST_INVALID;
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	if (s[n - 1] == '-' || !non_digit)
		return HOST_INVALID;
	out[n] = 0;
	*outlen = n;
	return HOST_NAME;
}

static int str_is(const char *tok, size_t n, struct buf *scratch, const char *want)
{
	const char *s;
	size_t len;
	return rec_str(tok, n, scratch, &s, &len) == 0 && len == strlen(want) &&
	       memcmp(s, want, len) == 0;
}

int cdn_record_host(const struct record *r, struct buf *scratch, const char **host, size_t *n)
{
	/* The common case without decoding: "resource" has no escapes. */
	if (!(r->meas_len == 10 && memcmp(r->meas, "\"resource\"", 10) == 0) &&
	    !(memchr(r->meas, '\\', r->meas_len) &&
	      str_is(r->meas, r->meas_len, scratch, "resource")))
		return 0;
	const struct rec_kv *kv = rec_tag(r, "resource_url_host");
	if (!kv) {
		kv = rec_field(r, "resource_url_host");
		if (!kv || kv->type != RV_STRING)
			return 0;
	}
	return rec_str(kv->val, kv->val_len, scratch, host, n) == 0;
}

/* The CNAMEs of an answer section, as owner → target. */
#define MAX_CNAMES 32
struct cnames {
	char *owner[MAX_CNAMES], *target[MAX_CNAMES];
	int n;
};

static void cnames_free(struct cnames *c)
{
	for (int i = 0; i < c->n; i++) {
		ares_free_string(c->owner[i]);
		ares_free_string(c->target[i]);
	}
	c->n = 0;
}

static uint16_t be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Collects the answer section's CNAMEs; -1 when the response is malformed. */
static int read_cnames(const unsigned char *abuf, int alen, struct cnames *c, int *rcode)
{
	if (!abuf || alen < 12)
		return -1;
	const unsigned char *p = abuf + 12, *end = abuf + alen;
	unsigned qd = be16(abuf + 4), an = be16(abuf + 6);
	*rcode = abuf[3] & 0x0F;
	for (unsigned i = 0; i < qd; i++) {
		char *name;
		long len;
		if (ares_expand_name(p, abuf, alen, &name, &len) != ARES_SUCCESS)
			return -1;
		ares_free_string(name);
		if (len < 0 || end - p < len + 4)
			return -1;
		p += len + 4;
	}
	for (unsigned i = 0; i < an; i++) {
		char *owner;
		long len;
		if (ares_expand_name(p, abuf, alen, &owner, &len) != ARES_SUCCESS)
			return -1;
		if (len < 0 || end - p < len + 10) {
			ares_free_string(owner);
			return -1;
		}
		p += len;
		unsigned type = be16(p), klass = be16(p + 2), rdlen = be16(p + 8);
		p += 10;
		if (end - p < (long)rdlen) {
			ares_free_string(owner);
			return -1;
		}
		if (type == 5 && klass == 1 && c->n < MAX_CNAMES) {
			char *target;
			long tl;
			/* The target must lie within the record's data. */
			if (ares_expand_name(p, abuf, alen, &target, &tl) != ARES_SUCCESS) {
				ares_free_string(owner);
				return -1;
			}
			if (tl != (long)rdlen) {
				ares_free_string(owner);
				ares_free_string(target);
				return -1;
			}
			c->owner[c->n] = owner;
			c->target[c->n] = target;
			c->n++;
		} else {
			ares_free_string(owner);
		}
		p += rdlen;
	}
	return 0;
}

static int fail_with(struct cdn_answer *a, enum cdn_fail f)
{
	a->type = CDN_UNKNOWN;
	a->fail = f;
	a->canon_len = 0;
	a->canon[0] = 0;
	return -1;
}

static int answer_read(const char *qname, size_t qlen, int status, const unsigned char *abuf,
		       int alen, struct cdn_answer *a)
{
	switch (status) {
	case ARES_SUCCESS:
	case ARES_ENODATA:
	case ARES_ENOTFOUND:
		break;
	case ARES_ESERVFAIL:
		return fail_with(a, FAIL_SERVFAIL);
	case ARES_EREFUSED:
		return fail_with(a, FAIL_REFUSED);
	case ARES_ETIMEOUT:
		return fail_with(a, FAIL_TIMEOUT);
	case ARES_EFORMERR:
	case ARES_EBADRESP:
		return fail_with(a, FAIL_BAD_ANSWER);
	default:
		return fail_with(a, FAIL_ERROR);
	}
	struct cnames c = {.n = 0};
	int rcode = 0;
	if (read_cnames(abuf, alen, &c, &rcode) < 0) {
		cnames_free(&c);
		return fail_with(a, FAIL_BAD_ANSWER);
	}
	const char *cur = qname;
	size_t curlen = qlen;
	int hops = 0;
	for (;;) {
		int next = -1;
		for (int i = 0; i < c.n; i++) {
			size_t on = strlen(c.owner[i]);
			if (on == curlen && strncasecmp(c.owner[i], cur, curlen) == 0) {
				next = i;
				break;
			}
		}
		if (next < 0)
			break;
		if (++hops > CDN_MAX_HOPS || !*c.target[next]) {
			cnames_free(&c);
			return fail_with(a, FAIL_BAD_ANSWER);
		}
		cur = c.target[next];
		curlen = strlen(cur);
	}
	if (hops == 0 && rcode == 3) {
		cnames_free(&c);
		return fail_with(a, FAIL_NXDOMAIN);
	}
	if (hops == 0 && rcode != 0) {
		cnames_free(&c);
		return fail_with(a, FAIL_ERROR);
	}
	if (curlen >= sizeof a->canon) {
		cnames_free(&c);
		return fail_with(a, FAIL_BAD_ANSWER);
	}
	memcpy(a->canon, cur, curlen);
	a->canon[curlen] = 0;
	a->canon_len = curlen;
	a->fail = FAIL_NONE;
	a->type = hops ? CDN_CDN : CDN_FIRST_PARTY;
	cnames_free(&c);
	return 0;
}

void cdn_answer_read(const char *qname, size_t qlen, int status, const unsigned char *abuf,
		     int alen, struct cdn_answer *a)
{
	answer_read(qname, qlen, status, abuf, alen, a);
}

int cdn_write_record(const struct record *r, struct rec_edit *e, enum cdn_type type,
		     const struct cdn_provider *prov, struct buf *out)
{
	const char *t = cdn_type_names[type];
	rec_edit_reset(e);
	rec_edit_field_str(e, "provider_type", t, strlen(t));
	if (prov)
		rec_edit_field_str(e, "provider_name", prov->name, prov->name_len);
	else
		rec_edit_field_str(e, "provider_name", "unknown", 7);
	if (rec_edit_apply(r, e, out) < 0 || buf_addc(out, '\n') < 0)
		return -1;
	return 0;
}
