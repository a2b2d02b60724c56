/* Command-line options with getopt_long, every long option also read from the
 * environment as RUM_<OPTION> (upper case, '-' → '_') when the command line
 * does not give it: flags win. The common options of every program
 * (--metrics-file, --max-line, --log-level, --sched, --check-config,
 * -h/--help, --version) are handled here and land in `common_opts`.
 *
 * A bad value or an unknown option prints "prog: error: ..." naming the
 * option (or the environment variable) and exits 2. */
#ifndef RUM_OPTS_H
#define RUM_OPTS_H

#include <stddef.h>
#include <stdint.h>

struct opt {
	const char *name;     /* long name without "--"; NULL ends the table */
	int short_name;	      /* 0 for none */
	int has_arg;	      /* 0: flag, 1: takes a value */
	int key;	      /* passed to the handler */
	const char *arg_name; /* for --help, e.g. "HOST:PORT" */
	const char *help;
};

/* Returns NULL when val is accepted, else a short reason ("not a number").
 * For flags val is "1" (given) — an environment value of 0/false/no/off/""
 * means not given and the handler is not called. */
typedef const char *(*opt_handler)(int key, const char *val, void *ctx);

struct prog_info {
	const char *name;     /* "rum-listen" */
	const char *synopsis; /* "[OPTION]..." */
	const char *summary;  /* one paragraph */
};

struct common_opts {
	const char *metrics_file;
	size_t max_line;
	int check_config; /* --check-config: validate the options and exit */
	int sched_other;  /* --sched other: stay under SCHED_OTHER */
};
extern struct common_opts common_opts;

#define RUM_VERSION "0.1.0"
#define DEFAULT_MAX_LINE ((size_t)64 << 20)

/* Parses argv; returns the index of the first operand. */
int opts_parse(int argc, char **argv, const struct prog_info *info, const struct opt *opts,
	       opt_handler handler, void *ctx);

/* Call once the program has validated its configuration (after opening
 * what it must open at start-up): with --check-config it exits 0 here. */
void opts_check_done(void);

/* Value parsers for handlers: return NULL when ok, else a reason. */
const char *opt_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Sizes with an optional k/K, m/M, g/G suffix (powers of 1024). */
const char *opt_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Splits a comma (or space) separated list; calls add for each non-empty item. */
const char *opt_list(const char *s, const char *(*add)(const char *item, size_t n, void *ctx),
		     void *ctx);

/* The state directory when --data-dir is not given: /var/lib/rumpipe for
 * root, else $XDG_STATE_HOME/rumpipe or ~/.local/state/rumpipe. rum-listen,
 * rum-symbolicate and rum-collector agree on it. */
const char *opts_default_data_dir(void);

#endif
