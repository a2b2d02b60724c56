/* The per-record work of rum-replay-filter: parse the line, and for a
 * session_replay record (any record with --all) drop it when a rule
 * matches, and any record when a pulled rule does, counting it by app_id. Kept apart from main.c so
 * the fuzz target drives the same code. */
#ifndef RUM_REPLAY_FILTER_FILTER_H
#define RUM_REPLAY_FILTER_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "rules.h"

/* app_id label values counted apart; later ones share app_id="(other)" so
 * that hostile input cannot grow the metrics without bound. */
#define RF_MAX_APPS 1000
#define RF_APP_LABEL_MAX 128 /* bytes of an app_id kept in its label */

struct rf_app;

struct replay_filter {
	/* Rules from the command line, and from --rules-file (replaced on
	 * reload); either may be NULL. A record matching any rule of either
	 * is dropped. */
	struct ruleset *fixed, *file;
	/* Rules pulled from Dataway (--pull), replaced as new ones come; NULL
	 * or empty: none. They apply to every record, as DataKit applies its
	 * pulled filters to every RUM point, and see two more names: category
	 * ("rum") and source (the measurement). */
	struct ruleset *pulled;
	int all; /* --all: every record, not only session_replay ones */
	struct record rec;
	struct rule_eval ev;
	struct buf scratch;  /* decoded values */
	struct buf label;    /* a metric label being built */
	struct rf_app *apps; /* open-addressed table of app_id counters */
	size_t napps, apps_cap;
	struct rf_app *other;
	uint64_t *m_records, *m_checked, *m_regex_errors, *m_pulled_dropped;
	uint64_t regex_errors_seen;
};

enum rf_result {
	RF_PASS, /* the caller writes the line as it was */
	RF_DROP, /* matched a rule: counted, not written */
	RF_BAD,	 /* not a record; err says why */
};

int rf_init(struct replay_filter *f);
void rf_free(struct replay_filter *f);

enum rf_result rf_line(struct replay_filter *f, const char *line, size_t len,
		       struct rum_error *err);

#endif
