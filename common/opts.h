/* Command-line options with getopt_long, every long option also read from the
 * environment as RUM_<OPTION> (upper case, '-' → '_') when the command line
 * does not give it: flags win. The common options of every program
 * (--metrics-file, --max-line, --log-level, --sched, --check-config,
 * -h/--help, --version) are handled here and land in `common_opts`.
 *
 * A program describes its options in one table: each row says what the
 * value is (a flag, a string, a number within bounds, a size), where it
 * goes (an offset into the program's configuration, the ctx given to
 * opts_parse), and its default, written as a user would write it. The
 * default is parsed like a given value and is what --help shows, so it is
 * written once. Values that need their own parsing (lists, addresses,
 * names from a set) go through the program's handler instead.
 *
 * A bad value or an unknown option prints "prog: error: ..." naming the
 * option (or the environment variable) and exits 2. */
#ifndef RUM_OPTS_H
#define RUM_OPTS_H

#include <stddef.h>
#include <stdint.h>

enum opt_type {
	OPT_CALL,      /* a value for the handler */
	OPT_CALL_FLAG, /* a flag for the handler (called with "1") */
	OPT_FLAG,      /* sets an int to 1 */
	OPT_STRING,    /* a const char * (the argv or environment string itself) */
	OPT_UINT,      /* a decimal number in [min, max]; stored times scale */
	OPT_SIZE,      /* a number with an optional K, M or G suffix, in [min, max] bytes */
};

/* Row flags. */
#define OPT_EMPTY_IS_NONE 1u /* OPT_STRING: an empty value stores NULL (a config key left blank)   \
			      */
#define OPT_CLI_ONLY 2u	     /* not read from the environment (--help, --check-config) */

struct opt {
	const char *name; /* long name without "--"; NULL ends the table */
	int short_name;	  /* 0 for none */
	enum opt_type type;
	int key;	      /* OPT_CALL, OPT_CALL_FLAG: passed to the handler */
	const char *arg_name; /* for --help, e.g. "HOST:PORT" */
	const char *help;
	/* The value when the option is given neither on the command line nor
	 * in the environment, as a user would write it; --help prints it as
	 * "(default DEF)". NULL: no default (the field stays as it was; the
	 * handler is not called). */
	const char *def;
	const char *def_note; /* --help: follows DEF inside the parentheses, e.g. "; 0: none" */
	/* A default known only at run time (the help text describes it). */
	const char *(*def_fn)(void);
	uint64_t min, max;     /* OPT_UINT, OPT_SIZE */
	uint64_t scale;	       /* OPT_UINT: stored value = value × scale (MB → bytes); 0: 1 */
	const char *empty_why; /* OPT_STRING: refuses "" with this reason; NULL: "" is accepted */
	unsigned flags;	       /* OPT_EMPTY_IS_NONE, OPT_CLI_ONLY */
	size_t offset, size;   /* where the value goes in ctx, and the field's size */
};

/* The destination of a typed row: a field of the program's configuration
 * struct T, which is the ctx given to opts_parse. */
#define OPT_AT(T, field) .offset = offsetof(T, field), .size = sizeof(((T *)0)->field)

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

/* Parses argv (then the environment, then the defaults of the options given
 * in neither) into ctx; returns the index of the first operand. handler
 * may be NULL when the table has no OPT_CALL rows. */
int opts_parse(int argc, char **argv, const struct prog_info *info, const struct opt *opts,
	       opt_handler handler, void *ctx);

/* For a program that takes no operands: exits 2 naming the first one, and
 * `hint` (where the program's input comes from), when there is one. */
void opts_no_operands(int argc, char **argv, int first, const char *hint);

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
