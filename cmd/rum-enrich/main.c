/* rum-enrich: records on stdin → the same records with city, province,
 * country and isp tags from the client's ip (MaxMind DB files, DataKit's
 * IP2Location BIN file and ip2isp.txt) → stdout. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "clock.h"
#include "cpusched.h"
#include "enrich.h"
#include "log.h"
#include "opts.h"
#include "sig.h"
#include "stageloop.h"

struct stage {
	struct enricher en;
	struct stageloop loop;
	uint64_t cache_size;
	uint64_t check_ms, next_check;
};

enum { O_CITY_DB_TYPE = 1, O_ISP_DB_TYPE, O_LANG, O_REGION_MAP };

#define AT(field) OPT_AT(struct stage, field)

/* clang-format off */
static const struct opt options[] = {
    /* Empty: no database, so a config file can leave the key blank. */
    {.name = "city-db", .type = OPT_STRING, .arg_name = "FILE", AT(en.db[DB_CITY].path),
     .flags = OPT_EMPTY_IS_NONE,
     .help = "location database: GeoIP2/GeoLite2 City or Country, DB-IP, ip-location-db city "
             "(none: city, province and country are unknown)"},
    {.name = "isp-db", .type = OPT_STRING, .arg_name = "FILE", AT(en.db[DB_ISP].path),
     .flags = OPT_EMPTY_IS_NONE,
     .help = "ISP database: GeoIP2 ISP or GeoLite2 ASN (none: isp is unknown)"},
    {.name = "city-db-type", .type = OPT_CALL, .key = O_CITY_DB_TYPE,
     .arg_name = "auto|city|country|flat",
     .def = "auto",
     .help = "schema of --city-db; auto reads the database's metadata"},
    {.name = "isp-db-type", .type = OPT_CALL, .key = O_ISP_DB_TYPE, .arg_name = "auto|isp|asn",
     .def = "auto",
     .help = "schema of --isp-db; auto reads the database's metadata"},
    {.name = "lang", .type = OPT_CALL, .key = O_LANG, .arg_name = "LANG",
     .def = "en", .def_note = "; en when the database has no name in LANG",
     .help = "language of city and province names"},
    {.name = "iploc", .type = OPT_STRING, .arg_name = "FILE", AT(en.iploc.path),
     .flags = OPT_EMPTY_IS_NONE,
     .help = "IP2Location BIN database (DataKit's iploc.bin), IPv4 or IPv6, DB1 to DB26; "
             "its values come before --city-db's"},
    {.name = "isp-file", .type = OPT_STRING, .arg_name = "FILE", AT(en.isp_file.path),
     .flags = OPT_EMPTY_IS_NONE,
     .help = "DataKit's ip2isp.txt (\"CIDR ISP\" lines); its isp comes before --iploc's and "
             "--isp-db's"},
    {.name = "region-map", .type = OPT_CALL, .key = O_REGION_MAP, .arg_name = "none|datakit",
     .def = "none",
     .help = "datakit: country TW, HK, MO become CN with province Taiwan, Hong Kong, Macao"},
    {.name = "cache-size", .type = OPT_UINT, .arg_name = "N", AT(cache_size),
     .def = "1024", .def_note = "; 0: none", .min = 0, .max = 1 << 20,
     .help = "recent addresses remembered"},
    {.name = "check-interval", .type = OPT_UINT, .arg_name = "MS", AT(check_ms),
     .def = "1000", .def_note = "; 0: only on SIGHUP", .min = 0, .max = 86400000,
     .help = "how often the database files are looked at for a new version"},
    {.name = NULL},
};
/* clang-format on */

static const struct prog_info info = {
    "rum-enrich",
    "[OPTION]...",
    "Reads records (one JSON object a line) on standard input and writes them to standard "
    "output with the tags city, province, country and isp set from the address in their ip "
    "tag, looked up in MaxMind DB files (GeoIP2, GeoLite2, DB-IP, ip-location-db) and in "
    "DataKit's IP2Location BIN file and ip2isp.txt. Records "
    "without an ip tag pass unchanged. A database replaced on disk, or SIGHUP, reopens it.",
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

static const char *region_map_opt(const char *val, enum region_map *out)
{
	if (strcmp(val, "none") == 0)
		*out = REGION_MAP_NONE;
	else if (strcmp(val, "datakit") == 0)
		*out = REGION_MAP_DATAKIT;
	else
		return "not one of none, datakit";
	return NULL;
}

static const char *set_database_option(int key, const char *val, void *ctx)
{
	struct enricher *en = &((struct stage *)ctx)->en;
	switch (key) {
	case O_CITY_DB_TYPE:
		return shape_opt(val, 0, &en->db[DB_CITY].forced);
	case O_ISP_DB_TYPE:
		return shape_opt(val, 1, &en->db[DB_ISP].forced);
	case O_REGION_MAP:
		return region_map_opt(val, &en->region_map);
	case O_LANG:
		if (!*val || strlen(val) > 16)
			return "not a language code";
		/* One language for both: the ISP database has names too. */
		en->db[DB_CITY].lang = val;
		en->db[DB_ISP].lang = val;
		return NULL;
	}
	return "unknown option";
}

static void reopen_changed_databases(void *ctx)
{
	struct stage *s = ctx;
	if (sig_hup) {
		sig_hup = 0;
		log_info("SIGHUP: reopening the databases");
		enrich_reload(&s->en, 1);
		s->next_check = mono_ms_coarse() + s->check_ms;
		return;
	}
	if (!s->check_ms)
		return;
	uint64_t now = mono_ms_coarse();
	if (now < s->next_check)
		return;
	s->next_check = now + s->check_ms;
	enrich_reload(&s->en, 0);
}

static enum sl_verdict enrich_record(void *ctx, const char *line, size_t len, struct buf *out,
				     struct rum_error *err)
{
	struct stage *s = ctx;
	return enrich_line(&s->en, line, len, out, err);
}

static void free_enricher(void *ctx)
{
	struct stage *s = ctx;
	enrich_free(&s->en);
}

static void name_sources(struct enricher *en)
{
	en->db[DB_CITY].option = "--city-db";
	en->db[DB_ISP].option = "--isp-db";
	en->iploc.option = "--iploc";
	en->isp_file.option = "--isp-file";
}

static void say_sources(const struct enricher *en)
{
	if (!en->db[DB_CITY].path && !en->db[DB_ISP].path && !en->iploc.path && !en->isp_file.path)
		log_info("no --city-db, --isp-db, --iploc or --isp-file: every address is tagged "
			 "unknown");
	if (en->region_map == REGION_MAP_DATAKIT)
		log_info("--region-map datakit: TW, HK and MO are tagged country CN");
}

static const struct stageloop_hooks hooks = {enrich_record, reopen_changed_databases,
					     free_enricher};

int main(int argc, char **argv)
{
	static struct stage s;
	name_sources(&s.en);
	int first = opts_parse(argc, argv, &info, options, set_database_option, &s);
	opts_no_operands(argc, argv, first, "records are read from standard input");
	if (enrich_init(&s.en, s.cache_size) < 0)
		die(1, "out of memory");
	struct rum_error err;
	if (enrich_open(&s.en, &err) < 0)
		die(2, "cannot open %s", err.msg);
	say_sources(&s.en);
	opts_check_done();

	sched_batch();
	if (sig_setup() < 0)
		die(1, "cannot install signal handlers: %s", strerror(errno));
	if (stageloop_init(&s.loop, "rum_enrich_invalid_lines_total") < 0)
		die(1, "out of memory");
	s.next_check = mono_ms_coarse() + s.check_ms;
	/* A new database is looked for while waiting for input too. */
	if (s.check_ms && s.check_ms < STAGELOOP_METRICS_MS)
		s.loop.idle_ms = (int)s.check_ms;
	stageloop_run(&s.loop, &hooks, &s);
}
