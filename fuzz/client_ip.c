/* rum-listen's reading of addresses: a --trusted-proxies / --admin-allow
 * list (the input's first line), the peer (the second line, an address or
 * anything) and the request's header lines (the rest, one a line: the first
 * byte picks the header, --origin-ip-header, X-Forwarded-For, Forwarded,
 * X-Real-IP or another, the rest is the value), read as rum-listen reads
 * them with and without trusted proxies. Nothing is read outside the
 * input; what comes out is terminated within its buffer; a client found
 * behind trusted proxies is an address that parses back to its tag; a
 * client not known is counted as the peer and is never local; the host's
 * own client is loopback all the way. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "clientip.h"

static const char *const names[] = {"X-Client-IP", "X-Forwarded-For", "forwarded", "X-REAL-IP",
				    "X-Other"};

static void check_client(const struct client *c, const uint8_t peer[16], int believed)
{
	size_t n = strnlen(c->tag, sizeof c->tag);
	if (n >= sizeof c->tag)
		abort();
	if (!c->known && (c->local || memcmp(c->addr, peer, 16) != 0))
		abort();
	if (c->local && (!addr_is_loopback(c->addr) || !addr_is_loopback(peer)))
		abort();
	if (c->kinds >> FWD_NKINDS)
		abort();
	if (believed) {
		/* The tag of a believed peer is the client's address, or the
		 * peer's when it is not known. */
		uint8_t a[16];
		char again[64];
		if (addr_parse(c->tag, n, a) < 0)
			abort();
		addr_format(a, again, sizeof again);
		if (strcmp(again, c->tag) != 0 || memcmp(a, c->addr, 16) != 0)
			abort();
	}
}

/* The lines after the first two, as header lines of h (values pointing
 * into buf, which holds them NUL-terminated). */
static void add_lines(struct fwd_headers *h, char *buf, size_t len)
{
	char *p = buf, *end = buf + len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl ? nl : end;
		*e = '\0';
		if (e > p)
			fwd_add(h, names[(unsigned char)p[0] % 5], p + 1);
		p = e + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A NUL-terminated copy: options and header values are C strings. */
	char *buf = malloc(size + 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *list = buf, *rest = memchr(buf, '\n', size);
	char *peer_s = "";
	char *hdrs = buf + size;
	if (rest) {
		*rest = '\0';
		peer_s = rest + 1;
		char *nl = memchr(peer_s, '\n', size - (size_t)(peer_s - buf));
		if (nl) {
			*nl = '\0';
			hdrs = nl + 1;
		}
	}

	struct cidr_list l = {0};
	const char *why = cidr_list_parse(&l, list);
	if (!why && l.n > CIDR_LIST_MAX)
		abort();
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].bits > 128 || !cidr_list_match(&l, l.v[i].addr))
			abort(); /* a rule matches its own network address */

	uint8_t peer[16];
	if (addr_parse(peer_s, strlen(peer_s), peer) < 0)
		memset(peer, 0, 16);
	(void)addr_is_loopback(peer);

	char out[64];
	size_t n = ip_first_addr(hdrs, out, sizeof out);
	if (n >= sizeof out || strlen(out) != n)
		abort();
	char tiny[4];
	n = ip_first_addr(hdrs, tiny, sizeof tiny);
	if (n >= sizeof tiny || strlen(tiny) != n)
		abort();

	struct fwd_headers h;
	fwd_init(&h, peer_s[0] & 1 ? "X-Client-IP" : "X-Forwarded-For");
	add_lines(&h, hdrs, (size_t)(buf + size - hdrs));
	struct client c, again;
	client_resolve(&h, peer, &l, &c);
	check_client(&c, peer, l.n > 0 && cidr_list_match(&l, peer));
	client_resolve(&h, peer, &l, &again);
	if (memcmp(&c, &again, sizeof c) != 0)
		abort(); /* the same request, the same client */
	struct cidr_list none = {0};
	client_resolve(&h, peer, &none, &c);
	check_client(&c, peer, 0);
	cidr_list_free(&l);
	free(buf);
	return 0;
}
