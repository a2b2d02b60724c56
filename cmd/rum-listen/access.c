/* Who the client is and what it may do: its address (the peer's, or the
 * client a trusted proxy names: clientip.c), whether it may reach a path
 * (--public-apis, --admin-allow), and the limits checked once a request's
 * headers are in (their size, the client's rate). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cidr.h"
#include "clientip.h"
#include "clock.h"
#include "conns.h"
#include "http.h"
#include "metrics.h"
#include "ratelimit.h"

/* The peer's address as 16 bytes (see cidr.h); all zero when unknown. */
static void peer_addr(struct MHD_Connection *c, uint8_t out[16])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || addr_of_sockaddr(ci->client_addr, out) < 0)
		memset(out, 0, 16);
}

static enum MHD_Result add_header(void *h, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	fwd_add(h, key, value);
	return MHD_YES;
}

/* Who the client is (clientip.h): every line of the forwarding headers, in
 * the order received. MHD_lookup_connection_value would give one line of
 * several, and the one a client wrote is as likely as the proxy's. */
static void client_of(struct MHD_Connection *c, struct client *out)
{
	struct fwd_headers h;
	uint8_t peer[16];
	peer_addr(c, peer);
	fwd_init(&h, cfg.origin_ip_header);
	MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, &h);
	client_resolve(&h, peer, &cfg.trusted_proxies, out);
}

static uint64_t *distrusted[FWD_NKINDS];

void access_init(void)
{
	char labels[64];
	for (size_t k = 0; k < FWD_NKINDS; k++) {
		snprintf(labels, sizeof labels, "kind=\"%s\"", fwd_kind_name[k]);
		distrusted[k] =
		    metric_get("rum_listen_forwarding_distrusted_total", labels, METRIC_COUNTER,
			       "requests whose forwarding headers were not believed, by why");
	}
}

/* The admin decision is the effective client's: behind a trusted proxy the
 * client it names, else the peer, and never a peer that forwards for
 * others without being trusted (a proxy on this host would otherwise make
 * every client on the Internet local). */
int is_admin(struct MHD_Connection *c)
{
	struct client cl;
	client_of(c, &cl);
	return cl.local || (cl.known && cidr_list_match(&cfg.admin_allow, cl.addr));
}

/* DataKit's public_apis: local and --admin-allow clients get every path;
 * others only the listed ones, or every path when the list was given empty. */
int is_public(struct MHD_Connection *c, const char *url, size_t urllen)
{
	if (cfg.public_apis_set && cfg.public_apis.n == 0)
		return 1;
	return strlist_has(&cfg.public_apis, url, urllen) || is_admin(c);
}

/* The client's address for the ip tag: without --trusted-proxies DataKit's
 * (the first address of --origin-ip-header, then X-Forwarded-For, then
 * Forwarded, then a lone X-Real-IP, whoever sent them, else the peer); with
 * it, the client a trusted proxy names, else the peer. */
size_t client_ip(struct MHD_Connection *c, char *out, size_t outlen)
{
	struct client cl;
	client_of(c, &cl);
	if (!outlen)
		return 0;
	size_t n = strlen(cl.tag);
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, cl.tag, n);
	out[n] = '\0';
	return n;
}

/* A request the host does not make itself on a loopback connection that
 * was not counted (the peer being loopback): counted now against
 * --max-connections-per-ip. A trusted proxy's connections are not: they
 * carry many clients, and limiting them is the proxy's part. */
static int over_conn_limit(struct MHD_Connection *c, const struct client *cl)
{
	uint8_t peer[16];
	peer_addr(c, peer);
	if (cl->local || !addr_is_loopback(peer) || cidr_list_match(&cfg.trusted_proxies, peer))
		return 0;
	return conn_count_late(conn_of(c)) > 0;
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
	struct client cl;
	client_of(c, &cl);
	for (size_t k = 0; k < FWD_NKINDS; k++)
		if (cl.kinds & (1u << k))
			metric_inc(distrusted[k]);
	if (over_conn_limit(c, &cl)) {
		*rc =
		    send_error(c, ep, 429, "rum.tooManyConnectionsPerIp", cors,
			       "more than %u connections from this address", cfg.max_conns_per_ip);
		return 1;
	}
	/* Limits count the client a trusted proxy names, else the peer (an
	 * IPv6 one as its /64); the host's own requests are not limited. */
	if (cfg.rate_limit > 0 && !cl.local) {
		uint8_t key[16];
		memcpy(key, cl.addr, 16);
		addr_limit_key(key);
		/* Refill is an interval: no change of the wall clock may
		 * freeze or flood the buckets. */
		unsigned wait = rl_take(key, (int64_t)mono_ns());
		if (wait) {
			char a[INET6_ADDRSTRLEN];
			addr_format(key, a, sizeof a);
			answer_retry_after(wait);
			*rc = send_error(c, ep, 429, "rum.rateLimited", cors,
					 "more than %g requests/s from %s%s; retry in %u s",
					 cfg.rate_limit, a, memchr(a, ':', strlen(a)) ? "/64" : "",
					 wait);
			return 1;
		}
	}
	return 0;
}
