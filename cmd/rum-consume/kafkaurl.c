#include "kafkaurl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCHEME "kafka://"

static int is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

static int is_topic_char(char c)
{
	return is_host_char(c);
}

/* One HOST[:PORT] or [IPV6][:PORT] of s[at..at+n). */
static int check_broker(const char *s, size_t at, size_t n, struct rum_error *err)
{
	const char *b = s + at;
	size_t i = 0;
	if (n && b[0] == '[') {
		const char *close = memchr(b, ']', n);
		if (!close || close == b + 1)
			return err_at(err, at, "broker %.*s: an IPv6 address is [ADDRESS]", (int)n,
				      b);
		for (i = 1; b + i < close; i++)
			if (!(b[i] == ':' || b[i] == '.' || is_host_char(b[i])))
				return err_at(err, at + i, "broker %.*s: unexpected '%c'", (int)n,
					      b, b[i]);
		i++;
	} else {
		while (i < n && is_host_char(b[i]))
			i++;
		if (i == 0)
			return err_at(err, at, "empty broker host");
	}
	if (i == n)
		return 0;
	if (b[i] != ':')
		return err_at(err, at + i, "broker %.*s: unexpected '%c' (expected HOST:PORT)",
			      (int)n, b, b[i]);
	unsigned long port = 0;
	size_t digits = 0;
	for (i++; i < n && b[i] >= '0' && b[i] <= '9' && port <= 65535; i++, digits++)
		port = port * 10 + (unsigned long)(b[i] - '0');
	if (i != n || digits == 0 || port == 0 || port > 65535)
		return err_at(err, at, "broker %.*s: the port is a number from 1 to 65535", (int)n,
			      b);
	return 0;
}

static int parse_brokers(char *s, size_t at, size_t end, struct rum_error *err)
{
	if (at == end)
		return err_at(err, at, "no broker before '/' (kafka://HOST:PORT/TOPIC?group=G)");
	while (at <= end) {
		const char *comma = memchr(s + at, ',', end - at);
		size_t n = comma ? (size_t)(comma - (s + at)) : end - at;
		if (check_broker(s, at, n, err) < 0)
			return -1;
		at += n + 1;
	}
	return 0;
}

static int parse_topics(struct kafka_url *u, char *s, size_t at, size_t end, struct rum_error *err)
{
	if (at == end)
		return err_at(err, at,
			      "no topic after the brokers (kafka://HOST:PORT/TOPIC?group=G)");
	while (at <= end) {
		char *t = s + at;
		const char *comma = memchr(t, ',', end - at);
		size_t n = comma ? (size_t)(comma - t) : end - at;
		for (size_t i = 0; i < n; i++)
			if (!is_topic_char(t[i]))
				return err_at(err, at + i,
					      "unexpected '%c' in a topic name (letters, digits, "
					      "'.', '_' and '-')",
					      t[i]);
		if (n == 0)
			return err_at(err, at, "empty topic name");
		if (n > KURL_TOPIC_MAX)
			return err_at(err, at, "a topic name longer than %d bytes", KURL_TOPIC_MAX);
		if ((n == 1 && t[0] == '.') || (n == 2 && t[0] == '.' && t[1] == '.'))
			return err_at(err, at, "'.' and '..' are not topic names");
		if (u->ntopics == KURL_TOPICS_MAX)
			return err_at(err, at, "more than %d topics", KURL_TOPICS_MAX);
		u->topics[u->ntopics++] = t;
		t[n] = '\0';
		at += n + 1;
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX in s[at..end) in place, NUL-terminated; stores its length. */
static int percent_decode(char *s, size_t at, size_t end, size_t *len, struct rum_error *err)
{
	size_t o = at;
	for (size_t i = at; i < end; i++) {
		char c = s[i];
		if (c == '%') {
			int hi = i + 2 < end ? hexval(s[i + 1]) : -1;
			int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
			if (lo < 0)
				return err_at(err, i, "'%%' not followed by two hex digits");
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0' || (unsigned char)c < 0x20 || c == 0x7f)
			return err_at(err, i, "a control character in the group");
		s[o++] = c;
	}
	s[o] = '\0';
	*len = o - at;
	return 0;
}

static int parse_query(struct kafka_url *u, char *s, size_t at, size_t end, struct rum_error *err)
{
	while (at < end) {
		char *p = s + at;
		const char *amp = memchr(p, '&', end - at);
		size_t n = amp ? (size_t)(amp - p) : end - at;
		if (n > 6 && strncmp(p, "group=", 6) == 0) {
			size_t len = 0;
			if (u->group)
				return err_at(err, at, "group= given twice");
			if (percent_decode(s, at + 6, at + n, &len, err) < 0)
				return -1;
			if (len > KURL_GROUP_MAX)
				return err_at(err, at, "a group longer than %d bytes",
					      KURL_GROUP_MAX);
			u->group = p + 6;
		} else if (n) {
			const char *eq = memchr(p, '=', n);
			size_t k = eq ? (size_t)(eq - p) : n;
			return err_at(err, at, "unknown parameter '%.*s' (expected group=G)",
				      (int)(k > 64 ? 64 : k), p);
		}
		at += n + 1;
	}
	if (!u->group || !*u->group)
		return err_at(err, end, "no group (kafka://HOST:PORT/TOPIC?group=G)");
	return 0;
}

int kafka_url_parse(struct kafka_url *u, const char *s, struct rum_error *err)
{
	memset(u, 0, sizeof *u);
	size_t slen = strlen(s), plen = strlen(SCHEME);
	if (slen < plen || strncasecmp(s, SCHEME, plen) != 0)
		return err_set(err, "expected kafka://HOST:PORT[,HOST:PORT...]/TOPIC[,TOPIC...]"
				    "?group=G");
	u->mem = malloc(slen + 1);
	if (!u->mem)
		return err_set(err, "out of memory");
	memcpy(u->mem, s, slen + 1);
	char *m = u->mem;
	const char *slash = strchr(m + plen, '/');
	if (!slash) {
		kafka_url_free(u);
		return err_at(err, slen, "no '/' and topic after the brokers");
	}
	size_t bend = (size_t)(slash - m);
	const char *q = strchr(slash, '?');
	size_t tend = q ? (size_t)(q - m) : slen;
	if (memchr(m, '#', slen)) {
		size_t at = (size_t)((char *)memchr(m, '#', slen) - m);
		kafka_url_free(u);
		return err_at(err, at, "unexpected '#'");
	}
	if (parse_brokers(m, plen, bend, err) < 0 || parse_topics(u, m, bend + 1, tend, err) < 0 ||
	    parse_query(u, m, q ? tend + 1 : slen, slen, err) < 0) {
		kafka_url_free(u);
		return -1;
	}
	m[bend] = '\0';
	u->brokers = m + plen;
	return 0;
}

void kafka_url_free(struct kafka_url *u)
{
	free(u->mem);
	memset(u, 0, sizeof *u);
}
