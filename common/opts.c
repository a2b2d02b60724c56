#include "opts.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct common_opts common_opts;

enum {
	KEY_LOG_LEVEL = -100,
	KEY_HELP,
	KEY_VERSION,
	KEY_SCHED,
};

#define COMMON(field) OPT_AT(struct common_opts, field)

/* clang-format off */
static const struct opt common_table[] = {
    {.name = "metrics-file", .type = OPT_STRING, .arg_name = "FILE", COMMON(metrics_file),
     .empty_why = "empty file name",
     .help = "write counters to FILE (Prometheus text, replaced atomically)"},
    {.name = "max-line", .type = OPT_SIZE, .arg_name = "BYTES", COMMON(max_line),
     .def = "64M", .min = 1024, .max = (uint64_t)1 << 40,
     .help = "longest record line accepted"},
    {.name = "log-level", .type = OPT_CALL, .key = KEY_LOG_LEVEL, .arg_name = "LEVEL",
     .def = "info",
     .help = "error, warn, info or debug"},
    {.name = "sched", .type = OPT_CALL, .key = KEY_SCHED, .arg_name = "POLICY",
     .def = "batch",
     .help = "batch (woken by input, do not preempt the writer) or other"},
    {.name = "check-config", .type = OPT_FLAG, COMMON(check_config),
     .flags = OPT_CLI_ONLY,
     .help = "check the options (and the files they name), then exit 0, or 2 with the reason"},
    {.name = "help", .short_name = 'h', .type = OPT_CALL_FLAG, .key = KEY_HELP,
     .flags = OPT_CLI_ONLY,
     .help = "show this help and exit"},
    {.name = "version", .type = OPT_CALL_FLAG, .key = KEY_VERSION,
     .flags = OPT_CLI_ONLY,
     .help = "show the version and exit"},
    {.name = NULL},
};
/* clang-format on */

static size_t table_len(const struct opt *t)
{
	size_t n = 0;
	while (t && t[n].name)
		n++;
	return n;
}

static int takes_value(const struct opt *o)
{
	return o->type != OPT_FLAG && o->type != OPT_CALL_FLAG;
}

static void print_table(FILE *f, const struct opt *t)
{
	for (; t && t->name; t++) {
		char left[96], help[1024];
		int n;
		if (t->short_name)
			n = snprintf(left, sizeof left, "  -%c, --%s", t->short_name, t->name);
		else
			n = snprintf(left, sizeof left, "      --%s", t->name);
		if (takes_value(t) && n > 0 && (size_t)n < sizeof left)
			snprintf(left + n, sizeof left - (size_t)n, " %s",
				 t->arg_name ? t->arg_name : "VALUE");
		if (t->def)
			snprintf(help, sizeof help, "%s (default %s%s)", t->help ? t->help : "",
				 t->def, t->def_note ? t->def_note : "");
		else
			snprintf(help, sizeof help, "%s", t->help ? t->help : "");
		if (strlen(left) > 28)
			fprintf(f, "%s\n%30s%s\n", left, "", help);
		else
			fprintf(f, "%-30s%s\n", left, help);
	}
}

static void print_help(const struct prog_info *info, const struct opt *opts)
{
	printf("Usage: %s %s\n\n", info->name, info->synopsis);
	if (info->summary)
		printf("%s\n\n", info->summary);
	printf("Options (each also from the environment as RUM_<OPTION>; flags win):\n");
	print_table(stdout, opts);
	print_table(stdout, common_table);
	printf("\nExit status: 0 done, 1 runtime failure, 2 bad usage or configuration.\n");
}

static void env_name(const char *opt, char *out, size_t outlen)
{
	size_t i = 0;
	const char *prefix = "RUM_";
	while (*prefix && i + 1 < outlen)
		out[i++] = *prefix++;
	for (; *opt && i + 1 < outlen; opt++)
		out[i++] = *opt == '-' ? '_' : (char)toupper((unsigned char)*opt);
	out[i] = '\0';
}

static int env_flag_true(const char *v)
{
	return !(v[0] == '\0' || strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 ||
		 strcasecmp(v, "no") == 0 || strcasecmp(v, "off") == 0);
}

/* Options of a program and the common ones together, at most. */
#define OPTS_MAX 96

/* One parse: the rows of both tables and which were given. Fixed arrays
 * rather than allocations, so that a die() halfway, which exits, leaves
 * no memory that a leak checker would report. */
struct parse {
	const struct prog_info *info;
	const struct opt *opts; /* the program's table, for --help */
	opt_handler handler;
	void *ctx;
	size_t nprog, total; /* rows[0..nprog) are the program's */
	const struct opt *rows[OPTS_MAX];
	unsigned char seen[OPTS_MAX]; /* given on the command line or in the environment */
};

static const char *handle_common(int key, const char *val, const struct parse *p)
{
	switch (key) {
	case KEY_LOG_LEVEL:
		return log_set_level(val) < 0 ? "expected error, warn, info or debug" : NULL;
	case KEY_SCHED:
		if (strcmp(val, "batch") && strcmp(val, "other"))
			return "expected batch or other";
		common_opts.sched_other = !strcmp(val, "other");
		return NULL;
	case KEY_HELP:
		print_help(p->info, p->opts);
		exit(0);
	case KEY_VERSION:
		printf("%s (rumpipe) %s\n", p->info->name, RUM_VERSION);
		exit(0);
	}
	return "unknown option";
}

/* An unsigned field of 1, 2, 4 or 8 bytes (unsigned, size_t, uint64_t;
 * an int for flags and small numbers). The table's bounds keep v within
 * the field. */
static void store_uint(void *field, size_t size, uint64_t v)
{
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;
	switch (size) {
	case 1:
		memcpy(field, &u8, 1);
		break;
	case 2:
		memcpy(field, &u16, 2);
		break;
	case 4:
		memcpy(field, &u32, 4);
		break;
	case 8:
		memcpy(field, &v, 8);
		break;
	}
}

/* Takes val for the row o: into its field, or through a handler. */
static const char *apply(const struct opt *o, int common, const char *val, const struct parse *p)
{
	char *base = common ? (char *)&common_opts : p->ctx;
	void *field = base ? base + o->offset : NULL;
	uint64_t v;
	const char *why;
	if (o->type == OPT_CALL || o->type == OPT_CALL_FLAG) {
		if (common)
			return handle_common(o->key, val, p);
		return p->handler ? p->handler(o->key, val, p->ctx) : "unknown option";
	}
	if (!field)
		return "unknown option";
	switch (o->type) {
	case OPT_FLAG:
		store_uint(field, o->size, 1);
		return NULL;
	case OPT_STRING:
		if (!*val && o->empty_why)
			return o->empty_why;
		if (!*val && (o->flags & OPT_EMPTY_IS_NONE))
			val = NULL;
		memcpy(field, &val, sizeof val);
		return NULL;
	case OPT_UINT:
		why = opt_u64(val, o->min, o->max, &v);
		if (!why)
			store_uint(field, o->size, v * (o->scale ? o->scale : 1));
		return why;
	case OPT_SIZE:
		why = opt_size(val, o->min, o->max, &v);
		if (!why)
			store_uint(field, o->size, v);
		return why;
	case OPT_CALL:
	case OPT_CALL_FLAG:
		break;
	}
	return "unknown option";
}

static _Noreturn void bad_usage(const struct prog_info *info, int c, char **argv)
{
	const char *arg = argv[optind - 1];
	if (optopt && optopt < 1000)
		fprintf(stderr, "%s: error: %s option -%c\n", info->name,
			c == ':' ? "missing value for" : "unknown", optopt);
	else if (c == ':')
		fprintf(stderr, "%s: error: missing value for option %s\n", info->name, arg);
	else
		fprintf(stderr, "%s: error: unknown option %s\n", info->name, arg);
	fprintf(stderr, "Try '%s --help' for more information.\n", info->name);
	exit(2);
}

/* The command line, marking in seen[] the rows it gives. */
static void parse_argv(int argc, char **argv, struct parse *p)
{
	struct option longopts[OPTS_MAX + 1];
	char shortopts[256] = ":";
	size_t slen = 1, total = p->total;
	memset(longopts, 0, sizeof longopts);
	for (size_t i = 0; i < total; i++) {
		const struct opt *o = p->rows[i];
		longopts[i].name = o->name;
		longopts[i].has_arg = takes_value(o) ? required_argument : no_argument;
		longopts[i].flag = NULL;
		longopts[i].val = 1000 + (int)i;
		if (o->short_name && slen + 3 < sizeof shortopts) {
			shortopts[slen++] = (char)o->short_name;
			if (takes_value(o))
				shortopts[slen++] = ':';
		}
	}
	shortopts[slen] = '\0';

	opterr = 0;
	int c, longindex;
	while ((c = getopt_long(argc, argv, shortopts, longopts, &longindex)) != -1) {
		size_t idx = total;
		if (c >= 1000 && (size_t)(c - 1000) < total) {
			idx = (size_t)(c - 1000);
		} else if (c == '?' || c == ':') {
			bad_usage(p->info, c, argv);
		} else {
			for (size_t i = 0; i < total; i++)
				if (p->rows[i]->short_name == c)
					idx = i;
		}
		if (idx >= total)
			die(2, "unknown option");
		const struct opt *o = p->rows[idx];
		const char *val = takes_value(o) ? optarg : "1";
		const char *why = apply(o, idx >= p->nprog, val, p);
		if (why)
			die(2, "invalid value '%s' for --%s: %s", val, o->name, why);
		p->seen[idx] = 1;
	}
}

/* RUM_<OPTION> for the rows the command line did not give. */
static void parse_env(struct parse *p)
{
	for (size_t i = 0; i < p->total; i++) {
		const struct opt *o = p->rows[i];
		if (p->seen[i] || (o->flags & OPT_CLI_ONLY))
			continue;
		char name[128];
		env_name(o->name, name, sizeof name);
		const char *val = getenv(name);
		if (!val)
			continue;
		if (!takes_value(o)) {
			if (!env_flag_true(val))
				continue;
			val = "1";
		}
		const char *why = apply(o, i >= p->nprog, val, p);
		if (why)
			die(2, "invalid value '%s' for %s (--%s): %s", val, name, o->name, why);
		p->seen[i] = 1;
	}
}

/* The defaults of the rows given nowhere. They are applied last, not
 * first, so that a list option given by the user replaces its default
 * rather than adding to it. */
static void apply_defaults(const struct parse *p)
{
	for (size_t i = 0; i < p->total; i++) {
		const struct opt *o = p->rows[i];
		if (p->seen[i])
			continue;
		const char *val = o->def ? o->def : o->def_fn ? o->def_fn() : NULL;
		if (!val)
			continue;
		const char *why = apply(o, i >= p->nprog, val, p);
		if (why)
			die(1, "the default '%s' of --%s: %s", val, o->name, why);
	}
}

int opts_parse(int argc, char **argv, const struct prog_info *info, const struct opt *opts,
	       opt_handler handler, void *ctx)
{
	log_init(info->name);
	static struct parse p; /* large, and there is one parse per run */
	memset(&p, 0, sizeof p);
	p.info = info;
	p.opts = opts;
	p.handler = handler;
	p.ctx = ctx;
	p.nprog = table_len(opts);
	p.total = p.nprog + table_len(common_table);
	if (p.total > OPTS_MAX)
		die(1, "%zu options: more than OPTS_MAX", p.total);
	for (size_t i = 0; i < p.total; i++)
		p.rows[i] = i < p.nprog ? &opts[i] : &common_table[i - p.nprog];
	parse_argv(argc, argv, &p);
	parse_env(&p);
	apply_defaults(&p);
	return optind;
}

void opts_no_operands(int argc, char **argv, int first, const char *hint)
{
	if (first < argc)
		die(2, "unexpected argument '%s' (%s)", argv[first], hint);
}

void opts_check_done(void)
{
	if (common_opts.check_config)
		exit(0);
}

const char *opt_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!*s || !isdigit((unsigned char)*s))
		return "not a number";
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return "not a number";
	if (v < min || v > max)
		return "out of range";
	*out = v;
	return NULL;
}

const char *opt_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!*s || !isdigit((unsigned char)*s))
		return "not a size";
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return "not a size";
	unsigned shift = 0;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return "not a size (a number with an optional K, M or G suffix)";
	if (shift && v > (UINT64_MAX >> shift))
		return "out of range";
	v <<= shift;
	if (v < min || v > max)
		return "out of range";
	*out = v;
	return NULL;
}

const char *opt_list(const char *s, const char *(*add)(const char *item, size_t n, void *ctx),
		     void *ctx)
{
	while (*s) {
		while (*s == ',' || *s == ' ' || *s == '\t')
			s++;
		const char *start = s;
		while (*s && *s != ',' && *s != ' ' && *s != '\t')
			s++;
		if (s > start) {
			const char *why = add(start, (size_t)(s - start), ctx);
			if (why)
				return why;
		}
	}
	return NULL;
}

const char *opts_default_data_dir(void)
{
	static char dir[4096];
	if (geteuid() == 0)
		return "/var/lib/rumpipe";
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (state && *state)
		snprintf(dir, sizeof dir, "%s/rumpipe", state);
	else
		snprintf(dir, sizeof dir, "%s/.local/state/rumpipe", home && *home ? home : ".");
	return dir;
}
