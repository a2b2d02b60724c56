/* rum-cdn's stream: records wait in a ring, in the order they came, for the
 * lookups of their hosts (c-ares, many in flight, one per host however many
 * records name it); each leaves when its answer is in and everything before
 * it has left, or when --dns-timeout has passed since it came. A record that
 * needs no lookup (no host, an IP, a cached answer) leaves at once, unless
 * --keep-order: then it waits in the ring behind those before it. */
#ifndef RUM_CDN_STAGE_H
#define RUM_CDN_STAGE_H

#include <ares.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cache.h"
#include "cdn.h"
#include "cdnmap.h"
#include "errmsg.h"
#include "io.h"
#include "log.h"
#include "record.h"

struct stage_config {
	const char *map_arg;	/* --cdn-map: NULL built-in, "[..." JSON, else a file */
	const char *dns_server; /* NULL: the system's resolver configuration */
	uint64_t dns_timeout_ms, cache_ttl_s, negative_ttl_s;
	uint64_t cache_size, max_inflight, max_pending;
	int keep_order; /* records needing no lookup wait behind those that do */
};

struct lookup;
struct pend;

#define MAX_ARES_FDS 32
#define MAX_RETIRED 8

struct stage {
	struct stage_config cfg;
	ares_channel ch;
	struct {
		ares_socket_t fd;
		int r, w;
	} afd[MAX_ARES_FDS];
	int nafd;

	struct cdn_map *map;
	uint32_t map_gen;
	/* Maps replaced by a reload while records that name their providers
	 * still wait: freed when the ring is next empty. */
	struct cdn_map *retired[MAX_RETIRED];
	int nretired;
	int reload_wanted;

	struct cdn_cache cache;

	struct lookup *lk; /* max_inflight slots */
	uint32_t *lk_free, nfree;
	uint32_t *lk_buckets, lk_mask;
	uint32_t inflight;

	/* The ring: records by sequence number, their bytes in `bytes` from
	 * stream offset bytes_base. */
	struct pend *ring;
	uint64_t ring_mask, head, tail;
	struct buf bytes;
	uint64_t bytes_base;

	struct linereader lr;
	struct outbuf out;
	struct record rec;     /* the line just read */
	struct record rec_out; /* a held line on its way out */
	struct rec_edit edit;
	struct buf scratch;
	struct log_ratelimit rl_bad;
	int failed;
	unsigned since_step;
	void (*finish)(struct stage *s); /* SIGTERM seen while waiting for input; exits */

	uint64_t *m_records, *m_bad_record, *m_bad_long, *m_hosts[3], *m_no_host;
	uint64_t *m_cache_hits, *m_lookups, *m_joined, *m_fail[FAIL_N], *m_types[3], *m_matches;
	uint64_t *m_inflight, *m_pending, *m_cache_entries, *m_map_entries, *m_reloads,
	    *m_reload_failures;
};

/* Loads the map cfg->map_arg names (NULL or blank: the built-in one); NULL
 * with err saying why, after "--cdn-map '<path>'" for a file. */
struct cdn_map *stage_load_map(const char *map_arg, struct rum_error *err);

/* Everything but the input and the DNS servers: the resolver, the tables
 * and the counters. -1 when the resolver or memory cannot be had. */
int stage_init(struct stage *s, struct rum_error *err);
/* After stage_init: the servers of --dns-server, when given, instead of the
 * system's. -1 on a bad list (a configuration error). */
int stage_set_dns_servers(struct stage *s, struct rum_error *err);
/* One input line. -1 when output failed. */
int stage_line(struct stage *s, const char *line, size_t len);
/* Waits for input (called by the line reader before a read that would
 * block), doing the DNS work meanwhile. */
void stage_idle(void *ctx);
/* Input is over (EOF or SIGTERM): lets every held record leave. */
void stage_drain(struct stage *s);
void stage_free(struct stage *s);
/* SIGHUP: reread the map (a bad one is reported and the old one kept). */
void stage_reload(struct stage *s);
void stage_write_metrics(struct stage *s, int now);

#endif
