/* One jq program: compiled once with libjq, run on a record, what it emits
 * checked and written as records, and its counters. */
#ifndef RUM_JQ_PROGRAM_H
#define RUM_JQ_PROGRAM_H

#include <jq.h>
#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"
#include "errmsg.h"
#include "jvrec.h"
#include "record.h"

/* Records one run of a program may emit: more is an error (a program that
 * multiplies records without end must not take all memory). */
#define PROGRAM_MAX_EMIT 1000

enum run_error { RUN_RUNTIME, RUN_INVALID, RUN_TIMEOUT, RUN_NERRORS };

struct program {
	char *name;   /* the file name ("view.jq"), or "PROGRAM" for the operand */
	jq_state *jq; /* NULL: it never compiled (a new file with an error) */
	/* The file it was compiled from, to see when it changes. */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	uint64_t *m_records, *m_transformed, *m_dropped, *m_emitted, *m_compile_errors;
	uint64_t *m_errors[RUN_NERRORS];
};

/* Compiles text (NUL-terminated) into a new jq state. lib_dir: where
 * `import` and `include` look (NULL: nowhere). NULL, with jq's own
 * messages in err, when it does not compile. */
jq_state *program_compile(const char *text, const char *lib_dir, struct rum_error *err);

/* A program named name with jq (which it owns; NULL for one that never
 * compiled), its counters labelled program="name". NULL: out of memory. */
struct program *program_new(const char *name, jq_state *jq);
void program_free(struct program *p);

enum run_outcome { RUN_OK, RUN_FAILED, RUN_NOMEM };

struct run {
	struct jvrec w;
	struct buf out;	    /* the records emitted, each with its '\n' */
	size_t emitted;	    /* how many */
	size_t max_line;    /* longest record that may be emitted */
	unsigned max_ms;    /* the budget, for its message */
	enum run_error why; /* RUN_FAILED: which kind of error */
};

/* Runs p on the record r parsed from line[0..len). RUN_OK: run->out holds
 * what it emitted (an output identical to its input is the line itself,
 * byte for byte); RUN_FAILED: run->why and err say why, run->out is empty. */
enum run_outcome program_run(struct program *p, struct run *run, const char *line, size_t len,
			     const struct record *r, struct rum_error *err);

#endif
