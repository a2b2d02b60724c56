/* What rum-cdn decides for one record, apart from the network: which host a
 * resource record names, what a DNS answer says about that host, and the
 * record written with provider_type and provider_name. The fuzz target and
 * the program share these. */
#ifndef RUM_CDN_CDN_H
#define RUM_CDN_CDN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cdnmap.h"
#include "record.h"

enum cdn_type { CDN_UNKNOWN, CDN_FIRST_PARTY, CDN_CDN };

/* Why a lookup gave no canonical name (the metrics' "kind" label). */
enum cdn_fail {
	FAIL_NONE,
	FAIL_NXDOMAIN,
	FAIL_SERVFAIL,
	FAIL_REFUSED,
	FAIL_TIMEOUT,	 /* the resolver gave up */
	FAIL_BAD_ANSWER, /* malformed, or a CNAME loop */
	FAIL_ERROR,	 /* anything else the resolver reported */
	FAIL_DEADLINE,	 /* --dns-timeout passed while the record waited */
	FAIL_N,
};
extern const char *const cdn_fail_names[FAIL_N];

enum host_kind { HOST_NAME, HOST_IP, HOST_INVALID };

/* Longest host kept: 253 characters of name plus the NUL. */
#define HOST_MAX 254

/* The host of a URL as the SDKs report it: a domain name (with an optional
 * :port and trailing dot), or an IP literal ("192.0.2.1", "[2001:db8::1]"
 * with an optional :port, or a bare IPv6 address). A domain name follows
 * RFC 1035's presentation rules as resolvers accept them: labels of 1-63
 * letters, digits, '-' (not first or last) or '_', at most 253 characters,
 * not all digits. For HOST_NAME, out gets it in lower case without port or
 * trailing dot. */
enum host_kind cdn_host_parse(const char *s, size_t n, char out[HOST_MAX], size_t *outlen);

/* The host named by a parsed record: the resource_url_host tag (or field)
 * of a "resource" record. Returns 1 with *host (decoded, maybe in scratch),
 * 0 when the record is no resource record or has no string
 * resource_url_host: it passes untouched. */
int cdn_record_host(const struct record *r, struct buf *scratch, const char **host, size_t *n);

/* The outcome of one lookup of qname (lower case, no trailing dot). */
struct cdn_answer {
	enum cdn_type type;
	enum cdn_fail fail; /* FAIL_NONE unless type is CDN_UNKNOWN */
	size_t canon_len;
	char canon[1024]; /* the end of the CNAME chain (qname when first-party) */
};

/* Read what the resolver returned for an A query of qname: status is the
 * c-ares status of the query, abuf/alen the response (NULL/0 when there is
 * none). The CNAME chain is followed from qname by owner name, in whatever
 * order the records come, up to CDN_MAX_HOPS; its end is the canonical
 * name, even when the response is NXDOMAIN (the alias exists; its target
 * does not). No chain and NOERROR: first-party. */
#define CDN_MAX_HOPS 16
void cdn_answer_read(const char *qname, size_t qlen, int status, const unsigned char *abuf,
		     int alen, struct cdn_answer *a);

/* r with the fields provider_type and provider_name (prov NULL: unknown),
 * and a newline, appended to out. -1 when out of memory. */
int cdn_write_record(const struct record *r, struct rec_edit *e, enum cdn_type type,
		     const struct cdn_provider *prov, struct buf *out);

extern const char *const cdn_type_names[3];

#endif
