/* rum-listen's reading of addresses: a --trusted-proxies / --admin-allow
 * list (the input's first line) and an address header's value (the rest),
 * read as the ip tag reads it with and without trusted proxies. Nothing is
 * read outside the input; what comes out is terminated within its buffer;
 * an address found behind trusted proxies parses back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "clientip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t llen = nl ? (size_t)(nl - data) : size;
	size_t hlen = nl ? size - llen - 1 : 0;
	/* C strings of exactly their size, as options and header values are. */
	char *list = malloc(llen + 1);
	char *hdr = malloc(hlen + 1);
	if (!list || !hdr)
		abort();
	memcpy(list, data, llen);
	list[llen] = '\0';
	if (hlen)
		memcpy(hdr, nl + 1, hlen);
	hdr[hlen] = '\0';

	struct cidr_list l = {0};
	const char *why = cidr_list_parse(&l, list);
	if (!why && l.n > CIDR_LIST_MAX)
		abort();
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].bits > 128 || !cidr_list_match(&l, l.v[i].addr))
			abort(); /* a rule matches its own network address */

	char out[64];
	size_t n = ip_first_addr(hdr, out, sizeof out);
	if (n >= sizeof out || strlen(out) != n)
		abort();
	char tiny[4];
	n = ip_first_addr(hdr, tiny, sizeof tiny);
	if (n >= sizeof tiny || strlen(tiny) != n)
		abort();
	n = ip_trusted_addr(hdr, &l, out, sizeof out);
	if (n >= sizeof out || strlen(out) != n)
		abort();
	uint8_t a[16];
	if (n) {
		char again[64];
		if (addr_parse(out, n, a) < 0)
			abort();
		addr_format(a, again, sizeof again);
		if (strcmp(again, out) != 0)
			abort();
	}
	/* The header's bytes as an address, as a limit's key is parsed. */
	if (addr_parse(hdr, hlen, a) == 0)
		(void)addr_is_loopback(a);
	cidr_list_free(&l);
	free(list);
	free(hdr);
	return 0;
}
