/* rum-listen: who the client is, from the peer's address and the
 * forwarding headers (X-Forwarded-For, Forwarded, X-Real-IP and
 * --origin-ip-header), every line of each. Nothing here knows HTTP: the
 * caller hands over the header lines, so that the fuzz target and the
 * daemon read them alike. */
#ifndef RUM_LISTEN_CLIENTIP_H
#define RUM_LISTEN_CLIENTIP_H

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

/* DataKit's reading: the first item of a comma list, trimmed, without a
 * port or brackets (not checked to be an address). Its length. */
size_t ip_first_addr(const char *v, char *out, size_t outlen);

/* The headers that name a client. FWD_ORIGIN is --origin-ip-header when it
 * names none of the other three (when it does, that one comes first). */
enum fwd_src { FWD_ORIGIN, FWD_XFF, FWD_FORWARDED, FWD_REAL_IP, FWD_NSRC };

/* Lines kept per header; a request with more is not believed (no proxy
 * chain writes that many lines). */
#define FWD_MAX_LINES 32

struct fwd_headers {
	const char *origin_name; /* NULL: none */
	enum fwd_src first;	 /* the source --origin-ip-header names */
	const char *line[FWD_NSRC][FWD_MAX_LINES];
	unsigned n[FWD_NSRC]; /* lines seen, kept or not */
};

/* Why forwarding headers were not believed (a bit each in client.kinds). */
enum fwd_kind {
	FWD_UNTRUSTED_PEER, /* from a peer not in --trusted-proxies (or loopback, not trusted) */
	FWD_UNKNOWN,	    /* an element that is no address: garbage, unknown, obfuscated */
	FWD_CONFLICT,	    /* two headers name different clients */
	FWD_REAL_IP_LINES,  /* several X-Real-IP lines */
	FWD_TOO_MANY,	    /* more lines or elements than are read */
	FWD_NKINDS
};
extern const char *const fwd_kind_name[FWD_NKINDS];

/* Empty, for a request; origin is --origin-ip-header (NULL: none). */
void fwd_init(struct fwd_headers *h, const char *origin);
/* One header line of the request, in order; other names are ignored.
 * value must live as long as h is used. */
void fwd_add(struct fwd_headers *h, const char *name, const char *value);

struct client {
	char tag[256];	  /* the ip tag */
	uint8_t addr[16]; /* the client the limits count: known, else the peer */
	int known;	  /* addr is the client (--admin-allow may judge it) */
	int local;	  /* the host's own: loopback from the peer to the client */
	unsigned kinds;	  /* 1 << enum fwd_kind */
};

/* The client of a request from peer. trusted empty: DataKit's reading for
 * the tag (the headers from anyone) and the peer for everything else. Else
 * a peer in trusted is believed: each header's list, its lines joined in
 * order, is read from the right past the trusted hops; the headers must
 * agree and every element on the way must be an address, or the client is
 * unknown (not known, not local, counted as the peer). A peer that is not
 * believed and sends forwarding headers is not local either. */
void client_resolve(const struct fwd_headers *h, const uint8_t peer[16],
		    const struct cidr_list *trusted, struct client *out);

#endif
