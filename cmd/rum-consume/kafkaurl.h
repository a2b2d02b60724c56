/* rum-consume's source, kafka://BROKERS/TOPIC[,TOPIC...]?group=G:
 * where the brokers are, which topics to read, in which consumer group. */
#ifndef RUM_CONSUME_KAFKAURL_H
#define RUM_CONSUME_KAFKAURL_H

#include <stddef.h>

#include "errmsg.h"

#define KURL_TOPICS_MAX 64
#define KURL_TOPIC_MAX 249 /* Kafka's own limit on a topic name */
#define KURL_GROUP_MAX 255

struct kafka_url {
	char *brokers; /* "HOST:PORT,HOST:PORT", for bootstrap.servers */
	char *topics[KURL_TOPICS_MAX];
	size_t ntopics;
	char *group; /* percent-decoded */
	char *mem;   /* holds the strings above */
};

/* Parses s; on failure err says what and at which byte of s. */
int kafka_url_parse(struct kafka_url *u, const char *s, struct rum_error *err);
void kafka_url_free(struct kafka_url *u);

#endif
