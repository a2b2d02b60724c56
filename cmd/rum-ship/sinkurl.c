/* --sink URLs: the kind of sink is chosen by the URL's form. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ship.h"

#define DATAWAY_PATH "/v1/write/rum"
#define REPLAY_SUFFIX "/replay"

static int has_prefix(const char *s, const char *p)
{
	return strncasecmp(s, p, strlen(p)) == 0;
}

/* Whether a query string holds a non-empty token= argument. */
static int query_has_token(const char *q)
{
	while (q && *q) {
		if (strncmp(q, "token=", 6) == 0 && q[6] && q[6] != '&')
			return 1;
		q = strchr(q, '&');
		if (q)
			q++;
	}
	return 0;
}

/* A Dataway URL names the host (and an optional path prefix, for a Dataway
 * behind a reverse proxy); the write path is always /v1/write/rum under it. */
static char *dataway_path(const char *path)
{
	size_t n = path ? strlen(path) : 0;
	while (n && path[n - 1] == '/')
		n--;
	size_t plen = strlen(DATAWAY_PATH);
	if (n >= plen && strncmp(path + n - plen, DATAWAY_PATH, plen) == 0)
		n -= plen;
	/* room for the replay path as well */
	char *out = malloc(n + plen + sizeof REPLAY_SUFFIX);
	if (!out)
		return NULL;
	if (n)
		memcpy(out, path, n);
	memcpy(out + n, DATAWAY_PATH, plen + 1);
	return out;
}

static int parse_http(const char *s, struct sink *out, int dataway, struct rum_error *err)
{
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return err_set(err, "spaces or control characters in the URL");
	CURLU *u = curl_url();
	if (!u)
		return err_set(err, "out of memory");
	char *host = NULL, *path = NULL, *query = NULL, *url = NULL, *newpath = NULL;
	int rc = -1;
	CURLUcode uc = curl_url_set(u, CURLUPART_URL, s, 0);
	if (uc != CURLUE_OK) {
		err_set(err, "not a valid URL (%s)", curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
		err_set(err, "no host in the URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		path = NULL;
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	if (dataway) {
		newpath = dataway_path(path);
		if (!newpath || curl_url_set(u, CURLUPART_PATH, newpath, 0) != CURLUE_OK) {
			err_set(err, "cannot build the write URL");
			goto out;
		}
		out->has_token = query_has_token(query);
		/* the replay endpoint: same host, prefix and query */
		strcat(newpath, REPLAY_SUFFIX);
		if (curl_url_set(u, CURLUPART_PATH, newpath, 0) != CURLUE_OK ||
		    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
		    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK || !url ||
		    !(out->replay_url = strdup(url))) {
			err_set(err, "cannot build the replay URL");
			goto out;
		}
		curl_free(url);
		url = NULL;
		newpath[strlen(newpath) - strlen(REPLAY_SUFFIX)] = '\0';
		if (curl_url_set(u, CURLUPART_PATH, newpath, 0) != CURLUE_OK) {
			err_set(err, "cannot build the write URL");
			goto out;
		}
	}
	curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
	if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK || !url) {
		err_set(err, "cannot build the write URL");
		goto out;
	}
	out->url = strdup(url);
	if (!out->url) {
		err_set(err, "out of memory");
		goto out;
	}
	out->kind = dataway ? SINK_DATAWAY : SINK_INFLUX;
	rc = 0;
out:
	curl_free(host);
	curl_free(path);
	curl_free(query);
	curl_free(url);
	free(newpath);
	curl_url_cleanup(u);
	return rc;
}

/* A Kafka topic name: what brokers accept (1 to 249 of [A-Za-z0-9._-]). */
static int topic_ok(const char *t, size_t n)
{
	if (n == 0 || n > 249)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			    t[i]) ||
		    !t[i])
			return 0;
	return 1;
}

/* HOST:PORT[,HOST:PORT...], each with a port of 1 to 65535 ([V6]:PORT too). */
static int brokers_ok(const char *b, size_t n, struct rum_error *err)
{
	const char *end = b + n;
	while (b <= end) {
		const char *comma = memchr(b, ',', (size_t)(end - b));
		const char *e = comma ? comma : end;
		const char *colon = NULL;
		for (const char *c = b; c < e; c++)
			if (*c == ':')
				colon = c;
		if (!colon || colon == b || colon + 1 == e)
			return err_set(err, "broker '%.*s' is not HOST:PORT", (int)(e - b), b);
		unsigned long port = 0;
		for (const char *c = colon + 1; c < e; c++) {
			if (*c < '0' || *c > '9' || port > 65535)
				return err_set(err, "broker '%.*s': bad port", (int)(e - b), b);
			port = port * 10 + (unsigned long)(*c - '0');
		}
		if (port == 0 || port > 65535)
			return err_set(err, "broker '%.*s': bad port", (int)(e - b), b);
		for (const char *c = b; c < colon; c++)
			if ((unsigned char)*c <= ' ' || *c == '/' || *c == '?' || *c == 0x7f)
				return err_set(err, "broker '%.*s': bad host", (int)(e - b), b);
		if (!comma)
			break;
		b = comma + 1;
	}
	return 0;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* The query of a kafka URL: replay_topic=T is the one argument. */
static int kafka_query(const char *q, struct sink *out, struct rum_error *err)
{
	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		size_t kn = eq ? (size_t)(eq - q) : n;
		if (kn == 12 && strncmp(q, "replay_topic", 12) == 0 && eq) {
			size_t vn = n - kn - 1;
			if (!topic_ok(eq + 1, vn))
				return err_set(err,
					       "replay_topic '%.*s' is not a topic name "
					       "(1 to 249 of A-Z a-z 0-9 . _ -)",
					       (int)vn, eq + 1);
			free(out->replay_topic);
			if (!(out->replay_topic = dup_n(eq + 1, vn)))
				return err_set(err, "out of memory");
		} else if (n) {
			return err_set(err,
				       "unknown argument '%.*s' (replay_topic=TOPIC is the one "
				       "argument; librdkafka settings go in --kafka-opt)",
				       (int)n, q);
		}
		q += n + (q[n] == '&');
	}
	return 0;
}

/* kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?replay_topic=TOPIC] (s after the
 * scheme). */
static int parse_kafka(const char *s, struct sink *out, struct rum_error *err)
{
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return err_set(err, "spaces or control characters in the URL");
	const char *slash = strchr(s, '/');
	if (!slash || slash == s)
		return err_set(err, "expected kafka://HOST:PORT[,HOST:PORT...]/TOPIC");
	const char *q = strchr(slash, '?');
	const char *tend = q ? q : slash + strlen(slash);
	size_t tn = (size_t)(tend - slash - 1);
	if (brokers_ok(s, (size_t)(slash - s), err) < 0)
		return -1;
	if (!topic_ok(slash + 1, tn))
		return err_set(err,
			       "topic '%.*s' is not a topic name (1 to 249 of A-Z a-z 0-9 . _ -)",
			       (int)tn, slash + 1);
	out->kind = SINK_KAFKA;
	out->brokers = dup_n(s, (size_t)(slash - s));
	out->topic = dup_n(slash + 1, tn);
	if (!out->brokers || !out->topic)
		return err_set(err, "out of memory");
	return q ? kafka_query(q + 1, out, err) : 0;
}

int sink_parse(const char *s, struct sink *out, struct rum_error *err)
{
	memset(out, 0, sizeof *out);
	if (strcmp(s, "-") == 0) {
		out->kind = SINK_STDOUT;
		return 0;
	}
	if (has_prefix(s, "file:")) {
		const char *p = s + 5;
		/* file:///var/x as well as file:/var/x and file:x */
		if (strncmp(p, "//", 2) == 0 && p[2] == '/')
			p += 2;
		if (!*p)
			return err_set(err, "no file name after file:");
		out->kind = SINK_FILE;
		out->path = strdup(p);
		return out->path ? 0 : err_set(err, "out of memory");
	}
	if (has_prefix(s, "influx+http://") || has_prefix(s, "influx+https://"))
		return parse_http(s + 7, out, 0, err);
	if (has_prefix(s, "http://") || has_prefix(s, "https://"))
		return parse_http(s, out, 1, err);
	if (has_prefix(s, "kafka://"))
		return parse_kafka(s + 8, out, err);
	return err_set(err, "expected http(s)://HOST[:PORT]/?token=TOKEN, "
			    "influx+http(s)://HOST:PORT/PATH, kafka://HOST:PORT[,...]/TOPIC, "
			    "file:PATH or -");
}

void sink_free(struct sink *s)
{
	free(s->url);
	free(s->path);
	free(s->replay_url);
	free(s->brokers);
	free(s->topic);
	free(s->replay_topic);
	s->url = s->path = s->replay_url = s->brokers = s->topic = s->replay_topic = NULL;
}

const char *sink_labels(const struct ship_conf *c, const char *labels, char *buf, size_t n)
{
	if (!c->metric_labels)
		return labels;
	if (!labels)
		return c->metric_labels;
	snprintf(buf, n, "%s,%s", c->metric_labels, labels);
	return buf;
}
