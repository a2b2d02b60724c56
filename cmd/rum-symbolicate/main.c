/* rum-symbolicate: records on stdin → the same records, error stacks
 * restored to original sources from uploaded archives → stdout; or, as
 * `rum-symbolicate stack`, one saved stack restored to stdout. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atos.h"
#include "cpusched.h"
#include "io.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "platform.h"
#include "sig.h"
#include "stage.h"
#include "stageloop.h"

struct cli {
	const char *data_dir, *zip, *platform, *app_id, *env, *version, *error_type, *atos;
	const char *atos_if_present, *symbolizer;
	uint64_t memory_mb, max_map_mb, check_ms;
	int names, datakit_compat;
};

#define AT(field) OPT_AT(struct cli, field)

#define OPT_DATA_DIR                                                                               \
	{                                                                                          \
		.name = "data-dir", .type = OPT_STRING, .arg_name = "DIR",                         \
		.help = "archives are DIR/rum/<platform>/<app_id>-<env>-<version>.zip (default: "  \
			"/var/lib/rumpipe as root, else $XDG_STATE_HOME/rumpipe)",                 \
		.def_fn = opts_default_data_dir, .empty_why = "empty directory name", AT(data_dir) \
	}
#define OPT_MEMORY                                                                                 \
	{                                                                                          \
		.name = "memory-mb", .type = OPT_UINT, .arg_name = "N",                            \
		.help = "memory for parsed maps; the least recently used go first", .def = "512",  \
		.min = 1, .max = 1 << 20, AT(memory_mb)                                            \
	}
#define OPT_MAX_MAP                                                                                \
	{                                                                                          \
		.name = "max-map-mb", .type = OPT_UINT, .arg_name = "N",                           \
		.help = "largest map read out of a zip, uncompressed", .def = "4096", .min = 1,    \
		.max = 1 << 20, AT(max_map_mb)                                                     \
	}
#define OPT_NAMES                                                                                  \
	{                                                                                          \
		.name = "names", .type = OPT_FLAG,                                                 \
		.help = "also replace a frame's function name by the map's original name",         \
		AT(names)                                                                          \
	}
#define OPT_ATOS                                                                                   \
	{                                                                                          \
		.name = "atos", .type = OPT_STRING, .arg_name = "PATH",                            \
		.help =                                                                            \
		    "run this atos or atosl (atos -o DSYM -l LOAD -arch ARCH ADDR...) per module " \
		    "and iOS crash instead of llvm-symbolizer",                                    \
		AT(atos)                                                                           \
	}
#define OPT_ATOS_IF_PRESENT                                                                        \
	{                                                                                          \
		.name = "atos-if-present", .type = OPT_STRING, .arg_name = "PATH",                 \
		.help = "as --atos when PATH can be run; else llvm-symbolizer, logged once "       \
			"(rum-collector's DataKit atos_bin_path)",                                 \
		AT(atos_if_present)                                                                \
	}
#define OPT_SYMBOLIZER                                                                             \
	{                                                                                          \
		.name = "llvm-symbolizer", .type = OPT_STRING, .arg_name = "PATH",                 \
		.help = "the llvm-symbolizer kept running for iOS stacks (default: "               \
			"/usr/bin/llvm-symbolizer, else /usr/lib/llvm-NN/bin/, else PATH)",        \
		.empty_why = "empty file name", AT(symbolizer)                                     \
	}

/* clang-format off */
static const struct opt filter_options[] = {
    OPT_DATA_DIR,
    OPT_MEMORY,
    OPT_MAX_MAP,
    {.name = "check-interval", .type = OPT_UINT, .arg_name = "MS", AT(check_ms),
     .def = "1000", .def_note = "; 0: at every record", .min = 0, .max = 86400000,
     .help = "look at an archive in use again at least this often even without an inotify event"},
    OPT_NAMES,
    {.name = "datakit-compat", .type = OPT_FLAG, AT(datakit_compat),
     .help = "also write error_stack_source_base64, as DataKit does"},
    OPT_ATOS,
    OPT_ATOS_IF_PRESENT,
    OPT_SYMBOLIZER,
    {.name = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct opt stack_options[] = {
    {.name = "platform", .type = OPT_STRING, .arg_name = "P", AT(platform),
     .help = "web, miniapp, android (android needs --error-type) or ios"},
    OPT_DATA_DIR,
    {.name = "zip", .type = OPT_STRING, .arg_name = "FILE", AT(zip),
     .empty_why = "empty file name",
     .help = "read this archive instead of one in --data-dir"},
    {.name = "app-id", .type = OPT_STRING, .arg_name = "A", AT(app_id),
     .help = "the application's app_id"},
    {.name = "env", .type = OPT_STRING, .arg_name = "E", AT(env),
     .help = "its env (default none)"},
    {.name = "version", .type = OPT_STRING, .arg_name = "V", AT(version),
     .help = "its version (default none)"},
    {.name = "error-type", .type = OPT_STRING, .arg_name = "T", AT(error_type),
     .help = "android: java_crash (mapping.txt in the zip) or native_crash (a tombstone; "
             "<abi>/<lib>.so in the zip); ignored for ios (any report with frames)"},
    OPT_NAMES,
    OPT_MEMORY,
    OPT_MAX_MAP,
    OPT_ATOS,
    OPT_ATOS_IF_PRESENT,
    OPT_SYMBOLIZER,
    {.name = NULL},
};
/* clang-format on */

static const struct prog_info filter_info = {
    "rum-symbolicate",
    "[OPTION]...\n       rum-symbolicate stack --platform P (--app-id A [--env E] [--version V] "
    "| --zip FILE) [OPTION]... [FILE]",
    "Reads records (one JSON object a line) on standard input and writes them to standard "
    "output. An error record from the web, mini-program, Android or iOS SDK with an error_stack "
    "gets error_stack_source: its frames mapped to original sources through the archive "
    "DIR/rum/<platform>/<app_id>-<env>-<version>.zip (read in place; a zip added, replaced or "
    "removed is seen at the next record): source maps for web stacks; for Android, "
    "mapping.txt (R8/ProGuard) for error_type java_crash and the unstripped <abi>/<lib>.so "
    "libraries for native_crash; for iOS, the modules' dSYMs (any depth of the zip, matched by "
    "module name and the Binary Images UUID), read by a long-lived llvm-symbolizer (or "
    "--atos). Other records, and stacks that cannot be restored, "
    "pass unchanged. `rum-symbolicate stack --help` describes the stack mode.",
};

static const struct prog_info stack_info = {
    "rum-symbolicate",
    "stack --platform P (--app-id A [--env E] [--version V] [--data-dir DIR] | --zip FILE) "
    "[OPTION]... [FILE]",
    "Restores one saved stack (FILE, or standard input) and writes it to standard output, "
    "frames mapped to original sources through the archive of the app, env and version (or "
    "--zip). Platforms: web, miniapp, android (with --error-type java_crash: a Java/Kotlin "
    "stack trace retraced with the zip's mapping.txt; native_crash: an NDK crash report, "
    "its backtrace symbolized from <abi>/<lib>.so in the zip), ios (an iOS crash report: frames "
    "'N  Module  0xADDR 0xLOAD + OFFSET' of modules with a dSYM in the zip get "
    "'function (in Module) (file:line)' as atos -i prints it). When no frame could be restored, "
    "the stack is written unchanged, the reason is the last line on standard error and the "
    "exit status is 1.",
};

static void setup_ctx(struct sym_ctx *cx, const struct cli *cl, int stage)
{
	size_t budget = (size_t)cl->memory_mb << 20;
	cx->names = cl->names;
	cx->max_map_size = cl->max_map_mb << 20;
	cx->zip_path = cl->zip;
	cx->atos = atos_choose(cl->atos, cl->atos_if_present);
	cx->symbolizer = cl->symbolizer;
	sym_ctx_init_metrics(cx);
	cx->cache = objcache_new(budget);
	uint32_t check = stage ? (uint32_t)cl->check_ms : STORE_NEVER_RECHECK;
	cx->store = store_new(cl->zip ? NULL : cl->data_dir, check, stage, cx->cache);
	if (!cx->cache || !cx->store)
		die(1, "out of memory");
}

/* ---- stack mode ---- */

static int read_all(int fd, struct buf *b, size_t max)
{
	b->limit = max;
	struct stat st;
	/* A file's size known: one allocation, no copies as it grows. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size < max && buf_reserve(b, (size_t)st.st_size + 1) < 0) {
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		if (buf_reserve(b, 65536) < 0) {
			errno = EFBIG;
			return -1;
		}
		ssize_t r = read(fd, b->p + b->len, b->cap - b->len);
		if (r == 0)
			return 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b->len += (size_t)r;
	}
}

static _Noreturn void stack_main(int argc, char **argv)
{
	struct cli cl = {0};
	int first = opts_parse(argc, argv, &stack_info, stack_options, NULL, &cl);
	if (!cl.platform)
		die(2, "stack: --platform is required (%s)", platform_names());
	const struct platform *pf = platform_by_name(cl.platform);
	if (!pf)
		die(2, "invalid value '%s' for --platform: not one of %s", cl.platform,
		    platform_names());
	if (pf && pf->accepts && (!cl.error_type || !*cl.error_type))
		die(2, "stack: --error-type is required for --platform %s", cl.platform);
	if (!cl.zip && (!cl.app_id || !*cl.app_id))
		die(2, "stack: --app-id (or --zip) is required");
	if (first < argc - 1)
		die(2, "stack: one stack FILE at most ('%s' is one too many)", argv[first + 1]);
	const char *file = first < argc ? argv[first] : NULL;
	int fd = STDIN_FILENO;
	if (file && strcmp(file, "-") != 0 && (fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		die(2, "cannot open %s: %s", file, strerror(errno));
	opts_check_done();

	struct buf in = BUF_INIT, out = BUF_INIT;
	if (read_all(fd, &in, common_opts.max_line) < 0)
		die(1, "reading %s: %s", file ? file : "standard input",
		    errno == EFBIG ? "longer than --max-line" : strerror(errno));
	struct sym_ctx cx = {0};
	setup_ctx(&cx, &cl, 0);
	struct sym_request rq = {
	    cl.app_id ? cl.app_id : "",		cl.env ? cl.env : "", cl.version ? cl.version : "",
	    cl.error_type ? cl.error_type : "", in.p ? in.p : "",     in.len};
	struct sym_result res;
	/* Restored frames are longer than minified ones, seldom by half. */
	if (buf_reserve(&out, in.len + in.len / 2) < 0 || sym_restore(&cx, pf, &rq, &out, &res) < 0)
		die(1, "out of memory");
	/* Nothing restored: the stack goes out as it came in, as the stage
	 * passes such a record on, so `stack < s > out` always leaves the
	 * stack in out; the exit status and standard error say why. */
	const struct buf *result = res.restored ? &out : &in;
	if (result->len && write_all(STDOUT_FILENO, result->p, result->len) < 0)
		die(1, "writing standard output: %s", strerror(errno));
	int status = 0;
	if (!res.restored) {
		log_error("nothing restored: %s", res.why);
		status = 1;
	} else if (res.restored < res.frames) {
		log_info("%u of %u frames restored; the first not: %s", res.restored, res.frames,
			 res.why);
	}
	if (common_opts.metrics_file && metrics_write_file(common_opts.metrics_file) < 0)
		log_warn("cannot write --metrics-file %s: %s", common_opts.metrics_file,
			 strerror(errno));
	store_free(cx.store);
	objcache_free(cx.cache);
	buf_free(&in);
	buf_free(&out);
	exit(status);
}

/* ---- filter mode ---- */

struct stage {
	struct sym_ctx cx;
	struct symstage st;
	struct stageloop loop;
};

static void recheck_archives_on_hup(void *ctx)
{
	struct stage *s = ctx;
	if (sig_hup) {
		sig_hup = 0;
		log_info("SIGHUP: looking at every archive again");
		store_recheck_all(s->cx.store);
	}
}

static enum sl_verdict symbolicate_record(void *ctx, const char *line, size_t len, struct buf *out,
					  struct rum_error *err)
{
	struct stage *s = ctx;
	return symstage_line(&s->st, line, len, out, err);
}

static void free_stage(void *ctx)
{
	struct stage *s = ctx;
	symstage_free(&s->st);
	store_free(s->cx.store);
	objcache_free(s->cx.cache);
}

static const struct stageloop_hooks hooks = {symbolicate_record, recheck_archives_on_hup,
					     free_stage};

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "stack") == 0)
		stack_main(argc - 1, argv + 1);

	static struct stage s;
	struct cli cl = {0};
	int first = opts_parse(argc, argv, &filter_info, filter_options, NULL, &cl);
	opts_no_operands(argc, argv, first,
			 "records are read from standard input; `rum-symbolicate stack` restores "
			 "one stack");
	/* --atos is asked for by name: one that cannot be run is a bad option.
	 * A path that may not be here (DataKit's atos_bin_path) is
	 * --atos-if-present, chosen in setup_ctx. */
	if (cl.atos && *cl.atos && prog_runnable(cl.atos) < 0)
		die(2, "invalid value '%s' for --atos: %s", cl.atos, strerror(errno));
	opts_check_done();

	sched_batch();
	if (sig_setup() < 0)
		die(1, "cannot install signal handlers: %s", strerror(errno));
	setup_ctx(&s.cx, &cl, 1);
	symstage_init(&s.st, &s.cx, cl.datakit_compat);
	if (stageloop_init(&s.loop, "rum_symbolicate_invalid_lines_total") < 0)
		die(1, "out of memory");
	stageloop_run(&s.loop, &hooks, &s);
}
