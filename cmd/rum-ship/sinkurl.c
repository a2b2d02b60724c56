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
	return err_set(err, "expected http(s)://HOST[:PORT]/?token=TOKEN, "
			    "influx+http(s)://HOST:PORT/PATH, file:PATH or -");
}

void sink_free(struct sink *s)
{
	free(s->url);
	free(s->path);
	free(s->replay_url);
	s->url = s->path = s->replay_url = NULL;
}
