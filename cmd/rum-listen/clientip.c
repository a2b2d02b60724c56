/* The client's address from the forwarding headers. Header values are the
 * client's text: read within their NUL, never copied whole, and every
 * output is terminated within its buffer.
 *
 * Each header's lines are one list, in order (RFC 9110 section 5.3): a
 * proxy that finds the client's own X-Forwarded-For adds a line of its own
 * (haproxy) or appends to that line (nginx), and either way the elements it
 * wrote are the rightmost. So the list is read from the right: an element
 * naming a trusted proxy passes on to the one left of it, the first other
 * address is the client, and an element that is no address (garbage,
 * "unknown", an obfuscated RFC 7239 node) stops the reading: nothing left
 * of it was written by a trusted hop. */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "clientip.h"

const char *const fwd_kind_name[FWD_NKINDS] = {"untrusted_peer", "unknown", "conflict",
					       "real_ip_lines", "too_many"};

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

static const char *const src_name[FWD_NSRC] = {NULL, "X-Forwarded-For", "Forwarded", "X-Real-IP"};

void fwd_init(struct fwd_headers *h, const char *origin)
{
	memset(h, 0, sizeof *h);
	h->first = FWD_XFF;
	if (!origin || !*origin)
		return;
	for (int s = FWD_XFF; s < FWD_NSRC; s++)
		if (strcasecmp(origin, src_name[s]) == 0)
			h->first = (enum fwd_src)s;
	if (h->first == FWD_XFF && strcasecmp(origin, src_name[FWD_XFF]) != 0) {
		h->first = FWD_ORIGIN;
		h->origin_name = origin;
	}
}

void fwd_add(struct fwd_headers *h, const char *name, const char *value)
{
	int s = -1;
	if (h->origin_name && strcasecmp(name, h->origin_name) == 0)
		s = FWD_ORIGIN;
	for (int i = FWD_XFF; s < 0 && i < FWD_NSRC; i++)
		if (strcasecmp(name, src_name[i]) == 0)
			s = i;
	if (s < 0 || !value)
		return;
	if (h->n[s] < FWD_MAX_LINES)
		h->line[s][h->n[s]] = value;
	if (h->n[s] < UINT32_MAX)
		h->n[s]++;
}

/* ---- one element ---- */

enum elem { EL_EMPTY, EL_BAD, EL_ADDR };

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* A port after an address: digits, or an RFC 7239 obfuscated one. */
static int is_port(const char *s, size_t n)
{
	if (n == 0 || n > 16)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    c != '.' && c != '_' && c != '-')
			return 0;
	}
	return 1;
}

/* A node: IPv4, IPv4:port, IPv6, [IPv6], [IPv6]:port. */
static enum elem parse_node(const char *s, size_t n, uint8_t out[16])
{
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return EL_BAD;
		size_t alen = (size_t)(close - s) - 1, rest = n - alen - 2;
		if (rest && (close[1] != ':' || !is_port(close + 2, rest - 1)))
			return EL_BAD;
		return addr_parse(s + 1, alen, out) == 0 && memchr(s + 1, ':', alen) ? EL_ADDR
										     : EL_BAD;
	}
	if (addr_parse(s, n, out) == 0)
		return EL_ADDR;
	const char *colon = memchr(s, ':', n);
	if (!colon || memchr(colon + 1, ':', n - (size_t)(colon - s) - 1))
		return EL_BAD;
	size_t alen = (size_t)(colon - s);
	if (!is_port(colon + 1, n - alen - 1) || addr_parse(s, alen, out) < 0)
		return EL_BAD;
	return EL_ADDR;
}

/* A token character of RFC 9110. */
static int is_tchar(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A value at s[*i]: a token or a whole quoted-string, unquoted into val
 * (up to vcap bytes; longer is no node anyway). 0, or -1 when malformed. */
static int pair_value(const char *s, size_t n, size_t *i, char *val, size_t vcap, size_t *vlen)
{
	size_t j = *i, k = 0;
	if (j < n && s[j] == '"') {
		for (j++; j < n && s[j] != '"'; j++) {
			if (s[j] == '\\' && ++j == n)
				return -1;
			if (k < vcap)
				val[k] = s[j];
			k++;
		}
		if (j == n)
			return -1;
		j++;
	} else {
		/* Ports and IPv6 need quotes, which some proxies forget. */
		for (; j < n && (is_tchar(s[j]) || s[j] == ':' || s[j] == '[' || s[j] == ']');
		     j++) {
			if (k < vcap)
				val[k] = s[j];
			k++;
		}
		if (k == 0)
			return -1;
	}
	*i = j;
	*vlen = k > vcap ? vcap + 1 : k;
	return 0;
}

/* An RFC 7239 element, strictly: pair *( ";" pair ), each token=value. Only
 * for= is used; an element without it names no client. Strictness is what
 * keeps a quote opened in the client's part from turning the proxy's part
 * into a pair that names another address. */
static enum elem parse_forwarded(const char *s, size_t n, uint8_t out[16])
{
	char node[INET6_ADDRSTRLEN + 24];
	size_t i = 0, nlen = 0;
	int have_for = 0;
	for (;;) {
		while (i < n && is_ows(s[i]))
			i++;
		size_t name = i;
		while (i < n && is_tchar(s[i]))
			i++;
		size_t name_len = i - name;
		if (name_len == 0 || i == n || s[i] != '=')
			return EL_BAD;
		i++;
		char val[sizeof node];
		size_t vlen;
		if (pair_value(s, n, &i, val, sizeof val, &vlen) < 0)
			return EL_BAD;
		if (name_len == 3 && strncasecmp(s + name, "for", 3) == 0) {
			if (have_for++)
				return EL_BAD; /* two for= in one element: which? */
			if (vlen > sizeof node)
				return EL_BAD;
			memcpy(node, val, vlen);
			nlen = vlen;
		}
		while (i < n && is_ows(s[i]))
			i++;
		if (i == n)
			break;
		if (s[i++] != ';')
			return EL_BAD;
	}
	return have_for ? parse_node(node, nlen, out) : EL_BAD;
}

/* ---- a header's list ---- */

#define MAX_ELEMS 64 /* per line */

struct span {
	size_t off, len;
};

/* The elements of one line, trimmed; quotes protect commas in Forwarded.
 * Their number, or -1 when there are more than max (or a quote never
 * closes: the rightmost element is then malformed, which is what it
 * becomes). */
static int split_line(const char *v, int quotes, struct span *sp, int max)
{
	int k = 0;
	size_t i = 0, start = 0;
	int inq = 0;
	for (;; i++) {
		char c = v[i];
		if (quotes && inq && c == '\\' && v[i + 1]) {
			i++;
			continue;
		}
		if (quotes && c == '"')
			inq = !inq;
		if (c == '\0' || (c == ',' && !inq)) {
			if (k == max)
				return -1;
			size_t a = start, b = i;
			while (a < b && is_ows(v[a]))
				a++;
			while (b > a && is_ows(v[b - 1]))
				b--;
			sp[k].off = a;
			sp[k].len = b - a;
			k++;
			if (c == '\0')
				return k;
			start = i + 1;
		}
	}
}

enum walk { W_ABSENT, W_UNKNOWN, W_CLIENT, W_ALL_TRUSTED };

struct walk_out {
	uint8_t addr[16];
	int loopback; /* every hop from the peer to addr is loopback */
};

/* Reads one header's lines from the right (see the top of the file). */
static enum walk walk(const char *const *lines, unsigned n, int forwarded,
		      const struct cidr_list *trusted, int peer_loopback, struct walk_out *w,
		      unsigned *kinds)
{
	if (n > FWD_MAX_LINES) {
		*kinds |= 1u << FWD_TOO_MANY;
		return W_UNKNOWN;
	}
	int seen = 0, loop = peer_loopback;
	for (unsigned l = n; l-- > 0;) {
		struct span sp[MAX_ELEMS];
		int k = split_line(lines[l], forwarded, sp, MAX_ELEMS);
		if (k < 0) {
			*kinds |= 1u << FWD_TOO_MANY;
			return W_UNKNOWN;
		}
		while (k-- > 0) {
			const char *e = lines[l] + sp[k].off;
			if (sp[k].len == 0)
				continue; /* empty list elements are not elements */
			uint8_t a[16];
			enum elem r = forwarded ? parse_forwarded(e, sp[k].len, a)
						: parse_node(e, sp[k].len, a);
			if (r != EL_ADDR) {
				*kinds |= 1u << FWD_UNKNOWN;
				return W_UNKNOWN;
			}
			memcpy(w->addr, a, 16);
			loop = loop && addr_is_loopback(a);
			w->loopback = loop;
			seen = 1;
			if (!cidr_list_match(trusted, a))
				return W_CLIENT;
		}
	}
	if (seen)
		return W_ALL_TRUSTED;
	if (n) {
		/* Lines naming nobody: no proxy appends nothing. */
		*kinds |= 1u << FWD_UNKNOWN;
		return W_UNKNOWN;
	}
	return W_ABSENT;
}

/* ---- the client ---- */

static void set_known(struct client *c, const uint8_t a[16], int local)
{
	memcpy(c->addr, a, 16);
	c->known = 1;
	c->local = local;
	addr_format(a, c->tag, sizeof c->tag);
}

static void set_unknown(struct client *c, const uint8_t peer[16])
{
	memcpy(c->addr, peer, 16);
	c->known = 0;
	c->local = 0;
	addr_format(peer, c->tag, sizeof c->tag);
}

/* The sources in the order they are asked: --origin-ip-header's first. */
static int order(const struct fwd_headers *h, enum fwd_src out[FWD_NSRC])
{
	int k = 0;
	out[k++] = h->first;
	for (int s = FWD_XFF; s < FWD_NSRC; s++)
		if (s != (int)h->first)
			out[k++] = (enum fwd_src)s;
	return k;
}

/* Behind a trusted peer: each header read, the results combined. A header
 * the operator named in --origin-ip-header (not one of the usual three) is
 * the one to believe when present. Otherwise every header present must
 * agree: a proxy writes some of them and passes the client's others on, so
 * a client naming another address in one it does not write is a forgery,
 * and which header is the proxy's cannot be known. */
static void resolve_trusted(const struct fwd_headers *h, const uint8_t peer[16],
			    const struct cidr_list *trusted, struct client *c)
{
	int peer_lo = addr_is_loopback(peer);
	enum fwd_src ord[FWD_NSRC];
	int ns = order(h, ord);
	int have_client = 0, unknown = 0, have_trusted = 0;
	struct walk_out client = {0}, first_trusted = {0};
	for (int i = 0; i < ns; i++) {
		enum fwd_src s = ord[i];
		struct walk_out w = {0};
		enum walk r;
		if (s == FWD_REAL_IP && h->n[s] > 1) {
			c->kinds |= 1u << FWD_REAL_IP_LINES;
			r = W_UNKNOWN;
		} else {
			r = walk(h->line[s], h->n[s], s == FWD_FORWARDED, trusted, peer_lo, &w,
				 &c->kinds);
		}
		if (s == FWD_ORIGIN && r != W_ABSENT) {
			if (r == W_UNKNOWN)
				set_unknown(c, peer);
			else
				set_known(c, w.addr, w.loopback);
			return;
		}
		if (r == W_UNKNOWN) {
			unknown = 1;
		} else if (r == W_CLIENT) {
			if (have_client && memcmp(client.addr, w.addr, 16) != 0) {
				c->kinds |= 1u << FWD_CONFLICT;
				unknown = 1;
			}
			if (!have_client)
				client = w;
			have_client = 1;
		} else if (r == W_ALL_TRUSTED && !have_trusted) {
			first_trusted = w;
			have_trusted = 1;
		}
	}
	if (unknown)
		set_unknown(c, peer);
	else if (have_client)
		set_known(c, client.addr, client.loopback);
	else if (have_trusted)
		set_known(c, first_trusted.addr, first_trusted.loopback);
	else
		set_known(c, peer, peer_lo); /* the proxy's own request */
}

/* DataKit's tag: the first element of the first header present, whoever
 * sent it. */
static int datakit_tag(const struct fwd_headers *h, struct client *c)
{
	enum fwd_src ord[FWD_NSRC];
	int ns = order(h, ord);
	for (int i = 0; i < ns; i++) {
		enum fwd_src s = ord[i];
		unsigned n = h->n[s] < FWD_MAX_LINES ? h->n[s] : FWD_MAX_LINES;
		if (s == FWD_REAL_IP && h->n[s] > 1) {
			c->kinds |= 1u << FWD_REAL_IP_LINES;
			continue;
		}
		for (unsigned l = 0; l < n; l++) {
			struct span sp[MAX_ELEMS];
			int k = split_line(h->line[s][l], s == FWD_FORWARDED, sp, MAX_ELEMS);
			if (k < 0 && s != FWD_FORWARDED)
				return ip_first_addr(h->line[s][l], c->tag, sizeof c->tag) > 0;
			for (int j = 0; j < k; j++) {
				const char *e = h->line[s][l] + sp[j].off;
				if (sp[j].len == 0)
					continue;
				uint8_t a[16];
				if (s != FWD_FORWARDED)
					return ip_first_addr(e, c->tag, sizeof c->tag) > 0;
				if (parse_forwarded(e, sp[j].len, a) != EL_ADDR)
					return 0;
				addr_format(a, c->tag, sizeof c->tag);
				return 1;
			}
		}
	}
	return 0;
}

void client_resolve(const struct fwd_headers *h, const uint8_t peer[16],
		    const struct cidr_list *trusted, struct client *c)
{
	memset(c, 0, sizeof *c);
	int trusted_mode = trusted && trusted->n > 0;
	if (trusted_mode && cidr_list_match(trusted, peer)) {
		resolve_trusted(h, peer, trusted, c);
		return;
	}
	int forwarded = 0;
	for (int s = 0; s < FWD_NSRC; s++)
		forwarded |= h->n[s] > 0;
	if (forwarded) {
		/* A proxy not believed: its clients are not the host's own,
		 * whatever they are, and count as the proxy. */
		set_unknown(c, peer);
		if (trusted_mode || addr_is_loopback(peer))
			c->kinds |= 1u << FWD_UNTRUSTED_PEER;
	} else {
		set_known(c, peer, addr_is_loopback(peer));
	}
	if (!trusted_mode && forwarded) {
		char tag[sizeof c->tag];
		memcpy(tag, c->tag, sizeof tag);
		if (!datakit_tag(h, c))
			memcpy(c->tag, tag, sizeof tag);
	}
}
