/* The client addresses named by proxy headers (X-Forwarded-For and the
 * like). Header values are the client's text: read within their NUL, output
 * always terminated within outlen. */
#include <arpa/inet.h>
#include <string.h>

#include "clientip.h"

/* First address of a list header: up to the first comma, trimmed, without
 * a port. */
size_t ip_first_addr(const char *v, char *out, size_t outlen)
{
	if (!outlen)
		return 0;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strcspn(v, ",");
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n && v[0] == '[') {
		const char *close = memchr(v, ']', n);
		if (close) {
			v++;
			n = (size_t)(close - v);
		}
	} else {
		const char *colon = memchr(v, ':', n);
		if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - v) - 1))
			n = (size_t)(colon - v);
	}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, v, n);
	out[n] = '\0';
	return n;
}

/* Behind trusted proxies: the address each proxy appended last is the one
 * it saw, so the list is read from the right, skipping the trusted proxies;
 * the first other address is the client. When all are trusted, the
 * leftmost. 0 when no item is an address. */
size_t ip_trusted_addr(const char *v, const struct cidr_list *trusted, char *out, size_t outlen)
{
	size_t len = strlen(v), end = len, found = 0;
	if (!outlen)
		return 0;
	out[0] = '\0';
	while (end > 0) {
		size_t start = end;
		while (start > 0 && v[start - 1] != ',')
			start--;
		char item[INET6_ADDRSTRLEN + 8];
		size_t n = end - start;
		if (n < sizeof item) {
			memcpy(item, v + start, n);
			item[n] = '\0';
			char a[INET6_ADDRSTRLEN + 8];
			uint8_t bin[16];
			size_t an = ip_first_addr(item, a, sizeof a);
			if (an && addr_parse(a, an, bin) == 0) {
				addr_format(bin, out, outlen);
				found = strlen(out);
				if (!cidr_list_match(trusted, bin))
					return found;
			}
		}
		end = start ? start - 1 : 0;
	}
	return found;
}
