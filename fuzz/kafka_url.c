/* rum-consume's source, kafka://BROKERS/TOPICS?group=G, from the input as
 * a C string. Accepted: every part is there and within its bounds, each
 * topic of the allowed bytes, and the URL written back from the parts
 * (the group percent-encoded) parses to the same parts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafkaurl.h"

static void check_topic(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > KURL_TOPIC_MAX ||
	    strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
		      "OPQRSTUVWXYZ0123456789._-") != n)
		abort();
}

/* The URL of u, into out (which is large enough: every byte at most
 * three). */
static void write_back(const struct kafka_url *u, char *out)
{
	out += sprintf(out, "kafka://%s/", u->brokers);
	for (size_t i = 0; i < u->ntopics; i++)
		out += sprintf(out, "%s%s", i ? "," : "", u->topics[i]);
	out += sprintf(out, "?group=");
	for (const unsigned char *g = (const unsigned char *)u->group; *g; g++)
		out += sprintf(out, "%%%02X", *g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	struct kafka_url u, again;
	struct rum_error err;
	if (kafka_url_parse(&u, s, &err) < 0) {
		if (err.offset > size || strlen(err.msg) >= sizeof err.msg)
			abort();
		free(s);
		return 0;
	}
	if (!u.brokers[0] || u.ntopics == 0 || u.ntopics > KURL_TOPICS_MAX || !u.group[0] ||
	    strlen(u.group) > KURL_GROUP_MAX)
		abort();
	for (size_t i = 0; i < u.ntopics; i++)
		check_topic(u.topics[i]);
	char *back = malloc(3 * size + 32);
	if (!back)
		abort();
	write_back(&u, back);
	if (kafka_url_parse(&again, back, &err) < 0 || strcmp(u.brokers, again.brokers) ||
	    u.ntopics != again.ntopics || strcmp(u.group, again.group))
		abort();
	for (size_t i = 0; i < u.ntopics; i++)
		if (strcmp(u.topics[i], again.topics[i]))
			abort();
	kafka_url_free(&again);
	kafka_url_free(&u);
	free(back);
	free(s);
	return 0;
}
