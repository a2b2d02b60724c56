/* rum-listen: addresses and CIDR lists (--admin-allow, --trusted-proxies).
 * Every address is kept as 16 bytes, IPv4 as IPv4-mapped IPv6, so that one
 * comparison serves both families and a v4 client on a dual-stack socket
 * matches a v4 rule. */
#ifndef RUM_LISTEN_CIDR_H
#define RUM_LISTEN_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	uint8_t addr[16]; /* host bits cleared */
	unsigned bits;	  /* prefix length over the 16 bytes (96 + n for IPv4) */
};

struct cidr_list {
	struct cidr *v;
	size_t n, cap;
};

#define CIDR_LIST_MAX 4096

/* Adds one rule: ADDR or ADDR/LEN, IPv4 or IPv6 (without brackets). NULL
 * when ok, else why not. */
const char *cidr_add(struct cidr_list *l, const char *s, size_t n);
/* A comma or space separated list of rules, appended. */
const char *cidr_list_parse(struct cidr_list *l, const char *s);
int cidr_list_match(const struct cidr_list *l, const uint8_t a[16]);
void cidr_list_free(struct cidr_list *l);

/* A textual IPv4 or IPv6 address of n bytes (no port, no brackets) as 16
 * bytes. 0 or -1. */
int addr_parse(const char *s, size_t n, uint8_t out[16]);
/* The address of a socket peer. 0 or -1 (not IP). */
int addr_of_sockaddr(const struct sockaddr *sa, uint8_t out[16]);
int addr_is_loopback(const uint8_t a[16]);
/* The part of an address that limits key on: IPv4 whole, IPv6 its /64 (a
 * single host usually holds a whole /64, so per-address limits on IPv6
 * would be per-connection ones). */
void addr_limit_key(uint8_t a[16]);
/* Text form, IPv4-mapped addresses as dotted IPv4. */
void addr_format(const uint8_t a[16], char *out, size_t outlen);

#endif
