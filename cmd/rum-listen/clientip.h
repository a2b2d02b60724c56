/* rum-listen: client addresses from proxy headers. */
#ifndef RUM_LISTEN_CLIENTIP_H
#define RUM_LISTEN_CLIENTIP_H

#include <stddef.h>

#include "cidr.h"

/* DataKit's reading: the first item of a comma list, trimmed, without a
 * port or brackets (not checked to be an address). Its length. */
size_t ip_first_addr(const char *v, char *out, size_t outlen);
/* Behind trusted proxies: from the right, the first item that is an
 * address and not in trusted; else the leftmost address. Its length, 0 when
 * no item is an address. */
size_t ip_trusted_addr(const char *v, const struct cidr_list *trusted, char *out, size_t outlen);

#endif
