/* The per-record work of rum-enrich: find the ip tag, look the address up
 * (through a small cache of recent addresses), set city, province, country
 * and isp. Kept apart from main.c so the fuzz target drives the same code. */
#ifndef RUM_ENRICH_ENRICH_H
#define RUM_ENRICH_ENRICH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "geo.h"
#include "iploc.h"
#include "isp.h"
#include "record.h"
#include "stageloop.h"

/* The sources, in the order metrics and cached answers name them: the two
 * MaxMind DB files, then DataKit's IP2Location BIN file and ip2isp.txt. */
enum { DB_CITY, DB_ISP, DB_N, SRC_IPLOC = DB_N, SRC_ISP_FILE, SRC_N };

/* --region-map: none, or DataKit's TW, HK, MO -> CN with a province. */
enum region_map { REGION_MAP_NONE, REGION_MAP_DATAKIT };

struct cache_ent;

struct enricher {
	struct geo_db db[DB_N];
	struct iploc_db iploc;
	struct isp_file isp_file;
	enum region_map region_map;
	uint32_t gen; /* bumped on every reload: older cache entries are stale */
	struct cache_ent *cache;
	size_t cache_mask;
	struct record rec;
	struct rec_edit edit;
	struct buf scratch;
	uint64_t *m_records, *m_no_ip, *m_invalid, *m_private, *m_cache_hits;
	uint64_t *m_lookups[SRC_N], *m_hits[SRC_N], *m_misses[SRC_N], *m_errors[SRC_N];
	uint64_t *m_reloads[SRC_N], *m_reload_failures[SRC_N];
	uint64_t *m_isp_lines[ISP_NKINDS];
};

/* cache_size: entries, rounded down to a power of two; 0 disables it.
 * Set db[].path, option, forced and lang, iploc and isp_file's path and
 * option, and region_map before enrich_init. */
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
