/* Addresses and CIDR rules. Parsing takes untrusted text (header values
 * through addr_parse), so it never reads past n bytes and never allocates
 * more than CIDR_LIST_MAX rules. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "grow.h"
#include "opts.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int addr_parse(const char *s, size_t n, uint8_t out[16])
{
	char tmp[INET6_ADDRSTRLEN + 1];
	if (n == 0 || n >= sizeof tmp || memchr(s, '\0', n))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	struct in_addr a4;
	if (inet_pton(AF_INET, tmp, &a4) == 1) {
		memcpy(out, v4mapped, 12);
		memcpy(out + 12, &a4, 4);
		return 0;
	}
	struct in6_addr a6;
	if (inet_pton(AF_INET6, tmp, &a6) == 1) {
		memcpy(out, &a6, 16);
		return 0;
	}
	return -1;
}

int addr_of_sockaddr(const struct sockaddr *sa, uint8_t out[16])
{
	if (!sa)
		return -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		memcpy(out, v4mapped, 12);
		memcpy(out + 12, &in->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		memcpy(out, &in6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

int addr_is_loopback(const uint8_t a[16])
{
	static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	if (memcmp(a, v4mapped, 12) == 0)
		return a[12] == 127;
	return memcmp(a, v6lo, 16) == 0;
}

void addr_limit_key(uint8_t a[16])
{
	if (memcmp(a, v4mapped, 12) != 0)
		memset(a + 8, 0, 8);
}

void addr_format(const uint8_t a[16], char *out, size_t outlen)
{
	if (memcmp(a, v4mapped, 12) == 0) {
		if (!inet_ntop(AF_INET, a + 12, out, (socklen_t)outlen) && outlen)
			out[0] = '\0';
	} else if (!inet_ntop(AF_INET6, a, out, (socklen_t)outlen) && outlen) {
		out[0] = '\0';
	}
}

static void mask(uint8_t a[16], unsigned bits)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
		a[i] &= (uint8_t)(0xff00u >> keep);
	}
}

const char *cidr_add(struct cidr_list *l, const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	struct cidr r;
	if (addr_parse(s, alen, r.addr) < 0)
		return "not an IPv4 or IPv6 address (ADDR or ADDR/LEN)";
	int v4 = memcmp(r.addr, v4mapped, 12) == 0 && !memchr(s, ':', alen);
	unsigned max = v4 ? 32 : 128;
	unsigned len = max;
	if (slash) {
		const char *p = slash + 1, *end = s + n;
		if (p == end || end - p > 3)
			return "bad prefix length";
		len = 0;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return "bad prefix length";
			len = len * 10 + (unsigned)(*p - '0');
		}
		if (len > max)
			return v4 ? "an IPv4 prefix length is at most 32"
				  : "an IPv6 prefix length is at most 128";
	}
	r.bits = v4 ? 96 + len : len;
	mask(r.addr, r.bits);
	if (l->n >= CIDR_LIST_MAX)
		return "too many addresses";
	if (ARRAY_RESERVE(l->v, l->cap, l->n + 1, CIDR_LIST_MAX) < 0)
		return "out of memory";
	l->v[l->n++] = r;
	return NULL;
}

static const char *add_one(const char *s, size_t n, void *ctx)
{
	return cidr_add(ctx, s, n);
}

const char *cidr_list_parse(struct cidr_list *l, const char *s)
{
	return opt_list(s, add_one, l);
}

int cidr_list_match(const struct cidr_list *l, const uint8_t a[16])
{
	for (size_t i = 0; i < l->n; i++) {
		uint8_t m[16];
		memcpy(m, a, 16);
		mask(m, l->v[i].bits);
		if (memcmp(m, l->v[i].addr, 16) == 0)
			return 1;
	}
	return 0;
}

void cidr_list_free(struct cidr_list *l)
{
	free(l->v);
	memset(l, 0, sizeof *l);
}
