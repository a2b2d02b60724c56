/* The per-record work of rum-enrich: find the ip tag, look the address up
 * (through a small cache of recent addresses), set city, province, country
 * and isp. Kept apart from main.c so the fuzz target drives the same code. */
#ifndef RUM_ENRICH_ENRICH_H
#define RUM_ENRICH_ENRICH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "geo.h"
#include "record.h"
#include "stageloop.h"

enum { DB_CITY, DB_ISP, DB_N };

struct cache_ent;

struct enricher {
	struct geo_db db[DB_N];
	uint32_t gen; /* bumped on every reload: older cache entries are stale */
	struct cache_ent *cache;
	size_t cache_mask;
	struct record rec;
	struct rec_edit edit;
	struct buf scratch;
	uint64_t *m_records, *m_no_ip, *m_invalid, *m_private, *m_cache_hits;
	uint64_t *m_lookups[DB_N], *m_hits[DB_N], *m_misses[DB_N], *m_errors[DB_N];
	uint64_t *m_reloads[DB_N], *m_reload_failures[DB_N];
};

/* cache_size: entries, rounded down to a power of two; 0 disables it.
 * Set db[].path, option, forced and lang before enrich_init. */
int enrich_init(struct enricher *en, size_t cache_size);
void enrich_free(struct enricher *en);

/* Opens the configured databases; -1 with err filled on the first failure. */
int enrich_open(struct enricher *en, struct rum_error *err);
/* Reopens a database whose file changed (every one when force); a failure
 * is logged and the old database kept. Returns the number reopened. */
int enrich_reload(struct enricher *en, int force);

/* One record: SL_PASS (no ip tag: the line goes out as it was), SL_EDITED
 * (the edited record and its newline appended to out), SL_BAD (err says
 * why) or SL_NOMEM; never SL_DROP. */
enum sl_verdict enrich_line(struct enricher *en, const char *line, size_t len, struct buf *out,
			    struct rum_error *err);

#endif
