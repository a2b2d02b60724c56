/* Compiling and running one jq program (see program.h). */
#include "program.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "watchdog.h"

/* Bytes of jq's compile messages kept: the first errors, which say most. */
#define MESSAGES_MAX (RUM_ERROR_MAX - 64)

/* jq's messages (several lines each) as one line, "; " between them. */
static void collect_message(void *data, jv msg)
{
	struct buf *b = data;
	jv s = jq_format_error(msg);
	if (jv_get_kind(s) != JV_KIND_STRING || b->len >= MESSAGES_MAX) {
		jv_free(s);
		return;
	}
	if (b->len)
		buf_adds(b, "; ");
	/* Line by line, each without its trailing blanks. */
	const char *p = jv_string_value(s);
	while (*p) {
		size_t n = strcspn(p, "\n"), k = n;
		while (k && (p[k - 1] == ' ' || p[k - 1] == '\t'))
			k--;
		buf_add(b, p, k);
		p += n;
		if (*p == '\n' && *++p)
			buf_addc(b, ' ');
	}
	jv_free(s);
	if (b->len > MESSAGES_MAX) {
		size_t cut = MESSAGES_MAX;
		while (cut && ((unsigned char)b->p[cut] & 0xC0) == 0x80)
			cut--; /* not inside a UTF-8 sequence */
		b->len = cut;
		buf_adds(b, "...");
	}
}

/* Reported by libjq while a program runs (rare: runtime errors come back
 * from jq_next). */
static void runtime_message(void *data, jv msg)
{
	(void)data;
	jv s = jq_format_error(msg);
	if (jv_get_kind(s) == JV_KIND_STRING)
		log_warn("%s", jv_string_value(s));
	jv_free(s);
}

/* What the program's `debug` writes. */
static void debug_message(void *data, jv v)
{
	(void)data;
	jv s = jv_dump_string(v, 0);
	if (jv_get_kind(s) == JV_KIND_STRING)
		log_debug("jq debug: %s", jv_string_value(s));
	jv_free(s);
}

static void out_of_memory(void *data)
{
	(void)data;
	log_error("libjq: out of memory");
}

jq_state *program_compile(const char *text, const char *lib_dir, struct rum_error *err)
{
	jq_state *jq = jq_init();
	if (!jq) {
		err_set(err, "out of memory");
		return NULL;
	}
	struct buf msgs = BUF_INIT;
	/* jq_init leaves these unset in jq 1.6: every one is set here. */
	jq_set_nomem_handler(jq, out_of_memory, NULL);
	jq_set_debug_cb(jq, debug_message, NULL);
	jq_set_input_cb(jq, NULL, NULL);
	jq_set_error_cb(jq, collect_message, &msgs);
	jv dirs = jv_array();
	if (lib_dir)
		dirs = jv_array_append(dirs, jv_string(lib_dir));
	jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), dirs);
	int ok = jq_compile_args(jq, text, jv_object());
	jq_set_error_cb(jq, runtime_message, NULL);
	if (!ok) {
		const char *m = buf_cstr(&msgs);
		err_set(err, "%s", m && *m ? m : "does not compile");
		jq_teardown(&jq);
	}
	buf_free(&msgs);
	return jq;
}

/* name with '"', '\' and line ends escaped for a label value. */
static void label_value(char *out, size_t outlen, const char *name)
{
	size_t k = 0;
	for (const char *p = name; *p && k + 3 < outlen; p++) {
		if (*p == '"' || *p == '\\' || *p == '\n') {
			out[k++] = '\\';
			out[k++] = *p == '\n' ? 'n' : *p;
		} else {
			out[k++] = *p;
		}
	}
	out[k] = 0;
}

struct program *program_new(const char *name, jq_state *jq)
{
	struct program *p = calloc(1, sizeof *p);
	if (!p || !(p->name = strdup(name))) {
		free(p);
		return NULL;
	}
	p->jq = jq;
	char v[256], l[320];
	label_value(v, sizeof v, name);
	snprintf(l, sizeof l, "program=\"%s\"", v);
	p->m_records = metric_get("rum_jq_records_total", l, METRIC_COUNTER,
				  "Records given to a program, by program.");
	p->m_transformed = metric_get("rum_jq_transformed_total", l, METRIC_COUNTER,
				      "Records a program ran on without an error.");
	p->m_dropped = metric_get("rum_jq_dropped_total", l, METRIC_COUNTER,
				  "Records a program emitted nothing for (dropped).");
	p->m_emitted = metric_get("rum_jq_emitted_total", l, METRIC_COUNTER,
				  "Records programs emitted and were written.");
	p->m_compile_errors =
	    metric_get("rum_jq_compile_errors_total", l, METRIC_COUNTER,
		       "Versions of a program that did not compile (the one in use was kept).");
	static const char *const reasons[RUN_NERRORS] = {"runtime", "invalid", "timeout"};
	for (int i = 0; i < RUN_NERRORS; i++) {
		snprintf(l, sizeof l, "program=\"%s\",reason=\"%s\"", v, reasons[i]);
		p->m_errors[i] = metric_get(
		    "rum_jq_errors_total", l, METRIC_COUNTER,
		    "Records a program failed on (a jq error, an output that is not a record, "
		    "--max-ms spent), by program and reason; the original record passed "
		    "(--on-error pass) or was dropped.");
	}
	return p;
}

void program_free(struct program *p)
{
	if (!p)
		return;
	jq_teardown(&p->jq);
	free(p->name);
	free(p);
}

static enum run_outcome failed(struct run *run, enum run_error why)
{
	run->why = why;
	run->out.len = 0;
	run->out.err = 0;
	return RUN_FAILED;
}

/* A jq error value as a message. */
static void error_text(jv msg, const char *prefix, struct rum_error *err)
{
	if (jv_get_kind(msg) == JV_KIND_STRING) {
		err_set(err, "%s%s", prefix, jv_string_value(msg));
		jv_free(msg);
		return;
	}
	jv s = jv_dump_string(msg, 0);
	err_set(err, "%s%s (not a string)", prefix,
		jv_get_kind(s) == JV_KIND_STRING ? jv_string_value(s) : "?");
	jv_free(s);
}

/* jq_next gave no value: the end, or why not. -1: the run failed. */
static int ended(struct program *p, struct run *run, jv o, struct rum_error *err)
{
	if (watchdog_fired) {
		jv_free(o);
		failed(run, RUN_TIMEOUT);
		return err_set(err, "stopped after --max-ms %u ms", run->max_ms);
	}
	if (jq_halted(p->jq)) {
		/* halt ends the program; halt_error is an error. */
		jv_free(o);
		jv m = jq_get_error_message(p->jq);
		if (!jv_is_valid(m)) {
			jv_free(m);
			return 0;
		}
		error_text(m, "halt_error: ", err);
		failed(run, RUN_RUNTIME);
		return -1;
	}
	if (!jv_invalid_has_msg(jv_copy(o))) {
		jv_free(o);
		return 0;
	}
	error_text(jv_invalid_get_msg(o), "", err);
	failed(run, RUN_RUNTIME);
	return -1;
}

/* One value the program emitted, into run->out. */
static int emit(struct run *run, jv o, jv in, const char *line, size_t len, const struct record *r,
		struct rum_error *err)
{
	if (run->emitted == PROGRAM_MAX_EMIT) {
		failed(run, RUN_INVALID);
		return err_set(err, "emitted more than %d records for one", PROGRAM_MAX_EMIT);
	}
	size_t at = run->out.len;
	/* The record itself, unchanged: its own bytes. */
	if (jv_identical(jv_copy(o), jv_copy(in))) {
		buf_add(&run->out, line, len);
	} else if (jvrec_write(&run->w, o, r, &run->out, err) < 0) {
		failed(run, RUN_INVALID);
		return -1;
	}
	if (run->out.len - at > run->max_line) {
		failed(run, RUN_INVALID);
		return err_set(err, "emitted a record longer than --max-line %zu", run->max_line);
	}
	buf_addc(&run->out, '\n');
	run->emitted++;
	return 0;
}

static void count(struct program *p, enum run_outcome rc, struct run *run)
{
	if (rc == RUN_FAILED) {
		metric_inc(p->m_errors[run->why]);
		return;
	}
	metric_inc(p->m_transformed);
	metric_add(p->m_emitted, run->emitted);
	if (run->emitted == 0)
		metric_inc(p->m_dropped);
}

enum run_outcome program_run(struct program *p, struct run *run, const char *line, size_t len,
			     const struct record *r, struct rum_error *err)
{
	run->out.len = 0;
	run->out.err = 0;
	run->emitted = 0;
	metric_inc(p->m_records);
	jv in = jvrec_parse(line, len);
	if (!jv_is_valid(in)) {
		error_text(jv_invalid_get_msg(in), "libjq cannot read the record: ", err);
		failed(run, RUN_RUNTIME);
		count(p, RUN_FAILED, run);
		return RUN_FAILED;
	}
	jv keep = jv_copy(in);
	enum run_outcome rc = RUN_OK;
	watchdog_enter(p->jq);
	jq_start(p->jq, in, 0);
	for (;;) {
		jv o = jq_next(p->jq);
		if (!jv_is_valid(o)) {
			if (ended(p, run, o, err) < 0)
				rc = RUN_FAILED;
			break;
		}
		int e = emit(run, o, keep, line, len, r, err);
		jv_free(o);
		if (e < 0) {
			rc = RUN_FAILED;
			break;
		}
	}
	watchdog_leave();
	jv_free(keep);
	if (rc == RUN_OK && run->out.err)
		return RUN_NOMEM;
	count(p, rc, run);
	return rc;
}
