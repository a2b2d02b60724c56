/* rum-enrich: records on stdin → the same records with city, province,
 * country and isp tags from the client's ip (MaxMind DB files) → stdout. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cpusched.h"
#include "enrich.h"
#include "log.h"
#include "opts.h"
#include "sig.h"
#include "stageloop.h"

enum {
	O_CITY_DB = 1,
	O_ISP_DB,
	O_CITY_DB_TYPE,
	O_ISP_DB_TYPE,
	O_LANG,
	O_CACHE_SIZE,
	O_CHECK_INTERVAL,
};

static const struct opt options[] = {
    {"city-db", 0, 1, O_CITY_DB, "FILE",
     "location database: GeoIP2/GeoLite2 City or Country, DB-IP, ip-location-db city "
     "(none: city, province and country are unknown)"},
    {"isp-db", 0, 1, O_ISP_DB, "FILE",
     "ISP database: GeoIP2 ISP or GeoLite2 ASN (none: isp is unknown)"},
    {"city-db-type", 0, 1, O_CITY_DB_TYPE, "auto|city|country|flat",
     "schema of --city-db; auto (default) reads the database's metadata"},
    {"isp-db-type", 0, 1, O_ISP_DB_TYPE, "auto|isp|asn",
     "schema of --isp-db; auto (default) reads the database's metadata"},
    {"lang", 0, 1, O_LANG, "LANG",
     "language of city and province names (default en; en when "
     "the database has no name in LANG)"},
    {"cache-size", 0, 1, O_CACHE_SIZE, "N", "recent addresses remembered (default 1024; 0: none)"},
    {"check-interval", 0, 1, O_CHECK_INTERVAL, "MS",
     "how often the database files are looked at for a new version (default 1000; 0: only "
     "on SIGHUP)"},
    {NULL, 0, 0, 0, NULL, NULL},
};

static const struct prog_info info = {
    "rum-enrich",
    "[OPTION]...",
    "Reads records (one JSON object a line) on standard input and writes them to standard "
    "output with the tags city, province, country and isp set from the address in their ip "
    "tag, looked up in MaxMind DB files (GeoIP2, GeoLite2, DB-IP, ip-location-db). Records "
    "without an ip tag pass unchanged. A database replaced on disk, or SIGHUP, reopens it.",
};

struct cli {
	struct enricher *en;
	uint64_t cache_size;
	uint64_t check_ms;
};

static const char *shape_opt(const char *val, int for_isp, enum geo_shape *out)
{
	static const struct {
		const char *name;
		enum geo_shape shape;
		int for_isp;
	} names[] = {
	    {"auto", SHAPE_AUTO, 0}, {"city", SHAPE_CITY, 0}, {"country", SHAPE_CITY, 0},
	    {"flat", SHAPE_FLAT, 0}, {"auto", SHAPE_AUTO, 1}, {"isp", SHAPE_ISP, 1},
	    {"asn", SHAPE_ASN, 1},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].for_isp == for_isp && strcmp(val, names[i].name) == 0) {
			*out = names[i].shape;
			return NULL;
		}
	return for_isp ? "not one of auto, isp, asn" : "not one of auto, city, country, flat";
}

static const char *on_opt(int key, const char *val, void *ctx)
{
	struct cli *cl = ctx;
	struct enricher *en = cl->en;
	switch (key) {
	case O_CITY_DB:
		/* Empty: no database, so a config file can leave the key blank. */
		en->db[DB_CITY].path = *val ? val : NULL;
		return NULL;
	case O_ISP_DB:
		en->db[DB_ISP].path = *val ? val : NULL;
		return NULL;
	case O_CITY_DB_TYPE:
		return shape_opt(val, 0, &en->db[DB_CITY].forced);
	case O_ISP_DB_TYPE:
		return shape_opt(val, 1, &en->db[DB_ISP].forced);
	case O_LANG:
		if (!*val || strlen(val) > 16)
			return "not a language code";
		en->db[DB_CITY].lang = val;
		return NULL;
	case O_CACHE_SIZE:
		return opt_u64(val, 0, 1 << 20, &cl->cache_size);
	case O_CHECK_INTERVAL:
		return opt_u64(val, 0, 86400000, &cl->check_ms);
	}
	return "unknown option";
}

struct stage {
	struct enricher en;
	struct stageloop loop;
	uint64_t check_ms, next_check;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void maybe_reload(void *ctx)
{
	struct stage *s = ctx;
	if (sig_hup) {
		sig_hup = 0;
		log_info("SIGHUP: reopening the databases");
		enrich_reload(&s->en, 1);
		s->next_check = mono_ms() + s->check_ms;
		return;
	}
	if (!s->check_ms)
		return;
	uint64_t now = mono_ms();
	if (now < s->next_check)
		return;
	s->next_check = now + s->check_ms;
	enrich_reload(&s->en, 0);
}

static enum sl_verdict one_record(void *ctx, const char *line, size_t len, struct buf *out,
				  struct rec_error *err)
{
	struct stage *s = ctx;
	switch (enrich_line(&s->en, line, len, out, err)) {
	case ENRICH_PASS:
		return SL_PASS;
	case ENRICH_EDITED:
		return SL_EDITED;
	case ENRICH_BAD:
		return SL_BAD;
	case ENRICH_NOMEM:
		break;
	}
	return SL_NOMEM;
}

static void release(void *ctx)
{
	struct stage *s = ctx;
	enrich_free(&s->en);
}

static const struct stageloop_hooks hooks = {one_record, maybe_reload, release};

int main(int argc, char **argv)
{
	static struct stage s;
	struct cli cl = {.en = &s.en, .cache_size = 1024, .check_ms = 1000};
	s.en.db[DB_CITY].option = "--city-db";
	s.en.db[DB_ISP].option = "--isp-db";
	s.en.db[DB_CITY].lang = "en";
	int first = opts_parse(argc, argv, &info, options, on_opt, &cl);
	if (first < argc)
		die(2, "unexpected argument '%s' (records are read from standard input)",
		    argv[first]);
	s.en.db[DB_ISP].lang = s.en.db[DB_CITY].lang;
	if (enrich_init(&s.en, cl.cache_size) < 0)
		die(1, "out of memory");
	struct rum_error err;
	if (enrich_open(&s.en, &err) < 0)
		die(2, "cannot open %s", err.msg);
	if (!s.en.db[DB_CITY].path && !s.en.db[DB_ISP].path)
		log_info("no --city-db or --isp-db: every address is tagged unknown");
	opts_check_done();

	sched_batch();
	if (sig_setup() < 0)
		die(1, "cannot install signal handlers: %s", strerror(errno));
	if (stageloop_init(&s.loop, "rum_enrich_invalid_lines_total") < 0)
		die(1, "out of memory");
	s.check_ms = cl.check_ms;
	s.next_check = mono_ms() + s.check_ms;
	/* A new database is looked for while waiting for input too. */
	if (s.check_ms && s.check_ms < STAGELOOP_METRICS_MS)
		s.loop.idle_ms = (int)s.check_ms;
	stageloop_run(&s.loop, &hooks, &s);
}
