/* Who the client is and what it may do: its address (the peer's, or a
 * proxy's header when that can be trusted), whether it may reach a path
 * (--public-apis, --admin-allow), and the limits checked once a request's
 * headers are in (their size, the client's rate). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cidr.h"
#include "clientip.h"
#include "clock.h"
#include "http.h"
#include "ratelimit.h"

/* The peer's address as 16 bytes (see cidr.h); all zero when unknown. */
static void peer_addr(struct MHD_Connection *c, uint8_t out[16])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || addr_of_sockaddr(ci->client_addr, out) < 0)
		memset(out, 0, 16);
}

int is_admin(struct MHD_Connection *c)
{
	uint8_t a[16];
	peer_addr(c, a);
	return addr_is_loopback(a) || cidr_list_match(&cfg.admin_allow, a);
}

/* DataKit's public_apis: loopback and --admin-allow clients get every path;
 * others only the listed ones, or every path when the list was given empty.
 * The peer's address decides, never a header: a proxy in front that should
 * reach the admin paths is named in --admin-allow. */
int is_public(struct MHD_Connection *c, const char *url, size_t urllen)
{
	if (cfg.public_apis_set && cfg.public_apis.n == 0)
		return 1;
	return strlist_has(&cfg.public_apis, url, urllen) || is_admin(c);
}

/* The client's address: the ip tag, the rate limit's key.
 *
 * Without --trusted-proxies, the tag is DataKit's: the first address of
 * --origin-ip-header, then X-Forwarded-For, then X-Real-IP, whoever sent
 * them, else the peer. With it, those headers count only from a peer in
 * the list (read as trusted_addr says), and other clients are their peer
 * address. Limits (rate, connections) always key on what can be trusted:
 * the peer, or the header of a trusted proxy. */
static size_t client_ip_for(struct MHD_Connection *c, char *out, size_t outlen, int for_limits)
{
	const char *names[] = {cfg.origin_ip_header, "X-Forwarded-For", "X-Real-IP"};
	uint8_t peer[16];
	peer_addr(c, peer);
	int trusted_mode = cfg.trusted_proxies.n > 0;
	int use_headers = trusted_mode ? cidr_list_match(&cfg.trusted_proxies, peer) : !for_limits;
	for (size_t i = 0; use_headers && i < 3; i++) {
		const char *v = names[i] ? header(c, names[i]) : NULL;
		size_t n;
		if (v && (n = trusted_mode ? ip_trusted_addr(v, &cfg.trusted_proxies, out, outlen)
					   : ip_first_addr(v, out, outlen)) > 0)
			return n;
	}
	out[0] = '\0';
	addr_format(peer, out, outlen);
	return strlen(out);
}

size_t client_ip(struct MHD_Connection *c, char *out, size_t outlen)
{
	return client_ip_for(c, out, outlen, 0);
}

/* The rate limit's key (an IPv6 client's /64); 0, or -1 for a client it
 * does not apply to (loopback: the operator's own). */
static int limit_key(struct MHD_Connection *c, uint8_t key[16])
{
	char ip[INET6_ADDRSTRLEN + 8];
	size_t n = client_ip_for(c, ip, sizeof ip, 1);
	if (addr_parse(ip, n, key) < 0)
		peer_addr(c, key);
	if (addr_is_loopback(key))
		return -1;
	addr_limit_key(key);
	return 0;
}

/* An answer at this first call closes the connection after it, which is
 * what a client over a limit deserves. */
int refuse_early(struct MHD_Connection *c, size_t ep, int cors, enum MHD_Result *rc)
{
	const union MHD_ConnectionInfo *hi =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (hi)
		stats_received(hi->header_size, 0);
	if (hi && hi->header_size > cfg.max_header) {
		*rc = send_error(c, ep, 431, "rum.headersTooLarge", cors,
				 "request line and headers larger than %zu bytes", cfg.max_header);
		return 1;
	}
	uint8_t key[16];
	if (cfg.rate_limit > 0 && limit_key(c, key) == 0) {
		/* Refill is an interval: no change of the wall clock may
		 * freeze or flood the buckets. */
		unsigned wait = rl_take(key, (int64_t)mono_ns());
		if (wait) {
			answer_retry_after(wait);
			*rc = send_error(c, ep, 429, "rum.rateLimited", cors,
					 "more than %g requests/s from this address; retry in %u s",
					 cfg.rate_limit, wait);
			return 1;
		}
	}
	return 0;
}
