#include "opts.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct common_opts common_opts = {NULL, DEFAULT_MAX_LINE, 0, 0};

enum {
	KEY_METRICS_FILE = -100,
	KEY_MAX_LINE,
	KEY_LOG_LEVEL,
	KEY_HELP,
	KEY_VERSION,
	KEY_CHECK_CONFIG,
	KEY_SCHED,
};

static const struct opt common_table[] = {
    {"metrics-file", 0, 1, KEY_METRICS_FILE, "FILE",
     "write counters to FILE (Prometheus text, replaced atomically)"},
    {"max-line", 0, 1, KEY_MAX_LINE, "BYTES", "longest record line accepted (default 64M)"},
    {"log-level", 0, 1, KEY_LOG_LEVEL, "LEVEL", "error, warn, info (default) or debug"},
    {"sched", 0, 1, KEY_SCHED, "POLICY",
     "batch (default: woken by input, do not preempt the writer) or other"},
    {"check-config", 0, 0, KEY_CHECK_CONFIG, NULL,
     "check the options (and the files they name), then exit 0, or 2 with the reason"},
    {"help", 'h', 0, KEY_HELP, NULL, "show this help and exit"},
    {"version", 0, 0, KEY_VERSION, NULL, "show the version and exit"},
    {NULL, 0, 0, 0, NULL, NULL},
};

static size_t table_len(const struct opt *t)
{
	size_t n = 0;
	while (t && t[n].name)
		n++;
	return n;
}

static void print_table(FILE *f, const struct opt *t)
{
	for (; t && t->name; t++) {
		char left[96];
		int n;
		if (t->short_name)
			n = snprintf(left, sizeof left, "  -%c, --%s", t->short_name, t->name);
		else
			n = snprintf(left, sizeof left, "      --%s", t->name);
		if (t->has_arg && n > 0 && (size_t)n < sizeof left)
			snprintf(left + n, sizeof left - (size_t)n, " %s",
				 t->arg_name ? t->arg_name : "VALUE");
		if (strlen(left) > 28)
			fprintf(f, "%s\n%30s%s\n", left, "", t->help ? t->help : "");
		else
			fprintf(f, "%-30s%s\n", left, t->help ? t->help : "");
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

static const char *handle_common(int key, const char *val, const struct prog_info *info,
				 const struct opt *opts)
{
	uint64_t v;
	const char *why;
	switch (key) {
	case KEY_METRICS_FILE:
		if (!*val)
			return "empty file name";
		common_opts.metrics_file = val;
		return NULL;
	case KEY_MAX_LINE:
		why = opt_size(val, 1024, (uint64_t)1 << 40, &v);
		if (why)
			return why;
		common_opts.max_line = (size_t)v;
		return NULL;
	case KEY_LOG_LEVEL:
		return log_set_level(val) < 0 ? "expected error, warn, info or debug" : NULL;
	case KEY_SCHED:
		if (strcmp(val, "batch") && strcmp(val, "other"))
			return "expected batch or other";
		common_opts.sched_other = !strcmp(val, "other");
		return NULL;
	case KEY_CHECK_CONFIG:
		common_opts.check_config = 1;
		return NULL;
	case KEY_HELP:
		print_help(info, opts);
		exit(0);
	case KEY_VERSION:
		printf("%s (rumpipe) %s\n", info->name, RUM_VERSION);
		exit(0);
	}
	return "unknown option";
}

int opts_parse(int argc, char **argv, const struct prog_info *info, const struct opt *opts,
	       opt_handler handler, void *ctx)
{
	log_init(info->name);
	size_t nprog = table_len(opts), ncommon = table_len(common_table);
	size_t total = nprog + ncommon;
	const struct opt **by_index = calloc(total, sizeof *by_index);
	struct option *longopts = calloc(total + 1, sizeof *longopts);
	unsigned char *seen = calloc(total, 1);
	char shortopts[256] = ":";
	size_t slen = 1;
	if (!by_index || !longopts || !seen)
		die(1, "out of memory");
	for (size_t i = 0; i < total; i++) {
		const struct opt *o = i < nprog ? &opts[i] : &common_table[i - nprog];
		by_index[i] = o;
		longopts[i].name = o->name;
		longopts[i].has_arg = o->has_arg ? required_argument : no_argument;
		longopts[i].flag = NULL;
		longopts[i].val = 1000 + (int)i;
		if (o->short_name && slen + 3 < sizeof shortopts) {
			shortopts[slen++] = (char)o->short_name;
			if (o->has_arg)
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
			const char *arg = argv[optind - 1];
			if (optopt && optopt < 1000)
				fprintf(stderr, "%s: error: %s option -%c\n", info->name,
					c == ':' ? "missing value for" : "unknown", optopt);
			else if (c == ':')
				fprintf(stderr, "%s: error: missing value for option %s\n",
					info->name, arg);
			else
				fprintf(stderr, "%s: error: unknown option %s\n", info->name, arg);
			fprintf(stderr, "Try '%s --help' for more information.\n", info->name);
			exit(2);
		} else {
			for (size_t i = 0; i < total; i++)
				if (by_index[i]->short_name == c)
					idx = i;
		}
		if (idx >= total)
			die(2, "unknown option");
		const struct opt *o = by_index[idx];
		const char *val = o->has_arg ? optarg : "1";
		const char *why = idx < nprog ? handler(o->key, val, ctx)
					      : handle_common(o->key, val, info, opts);
		if (why)
			die(2, "invalid value '%s' for --%s: %s", val, o->name, why);
		seen[idx] = 1;
	}

	for (size_t i = 0; i < total; i++) {
		const struct opt *o = by_index[i];
		if (seen[i] || o->key == KEY_HELP || o->key == KEY_VERSION ||
		    o->key == KEY_CHECK_CONFIG)
			continue;
		char name[128];
		env_name(o->name, name, sizeof name);
		const char *val = getenv(name);
		if (!val)
			continue;
		if (!o->has_arg) {
			if (!env_flag_true(val))
				continue;
			val = "1";
		}
		const char *why =
		    i < nprog ? handler(o->key, val, ctx) : handle_common(o->key, val, info, opts);
		if (why)
			die(2, "invalid value '%s' for %s (--%s): %s", val, name, o->name, why);
	}
	free(by_index);
	free(longopts);
	free(seen);
	return optind;
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
