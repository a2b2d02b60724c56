/* --pull: the workspace's filters pulled from Dataway as DataKit pulls
 * them (GET <dataway>/v1/datakit/pull?token=...&filters=true, every 30 s by
 * default), on a thread of its own so that records never wait for the
 * network. A good answer becomes a new ruleset handed over to the record
 * path; a failed pull or an answer that does not read (a rule that does
 * not parse included) is logged and counted, and the set in use stays. */
#ifndef RUM_REPLAY_FILTER_PULL_H
#define RUM_REPLAY_FILTER_PULL_H

#include <pthread.h>
#include <stdint.h>

#include "buf.h"
#include "errmsg.h"
#include "log.h"
#include "rules.h"

#define PULL_PATH "/v1/datakit/pull"
#define PULL_TIMEOUT_S 30	   /* one request, at most */
#define PULL_INTERVAL_MIN_MS 1000u /* Dataway's pull_interval is kept at least this */
#define PULL_INTERVAL_MAX_MS 86400000u

enum pull_result { PR_NEW, PR_UNCHANGED, PR_NETWORK, PR_STATUS, PR_ANSWER, PR_RULE, PR_COUNT };

struct puller {
	char *url;   /* the request's URL, token included */
	char *shown; /* the same without its query, for messages */
	uint64_t interval_ms;
	void *curl;
	struct buf body, last; /* this answer; the last one read */
	int have_last, too_big;
	struct ruleset *pending; /* a new set for the record path (atomic) */
	size_t rules_in_use;	 /* rules of the last set handed over */
	int stop;		 /* atomic */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int started;
	struct log_ratelimit rl;
	uint64_t *m_pulls[PR_COUNT];
};

/* The request URL from the Dataway URL given to --pull (http or https,
 * host, optional path prefix and ?token=): 0, or -1 with err. No thread
 * yet: --check-config stops after this. */
int puller_init(struct puller *pl, const char *dataway, uint64_t interval_ms,
		struct rum_error *err);

/* Starts the thread, which pulls at once and then every interval. */
int puller_start(struct puller *pl, struct rum_error *err);

/* A new set pulled since the last call (the caller owns it), or NULL.
 * Cheap: one atomic load when there is none. */
static inline struct ruleset *puller_take(struct puller *pl)
{
	if (!__atomic_load_n(&pl->pending, __ATOMIC_RELAXED))
		return NULL;
	return __atomic_exchange_n(&pl->pending, NULL, __ATOMIC_ACQ_REL);
}

/* Stops the thread (an answer on its way is abandoned) and frees it all. */
void puller_stop(struct puller *pl);

#endif
