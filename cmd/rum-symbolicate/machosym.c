/* llvm-symbolizer as a long-lived process, and atos per call. */
#include "machosym.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "hex.h"
#include "json.h"
#include "log.h"
#include "subproc.h"

/* The first answer for a large dSYM includes parsing it. */
#define BATCH_TIMEOUT_MS 60000
#define ATOS_TIMEOUT_MS 30000
#define READ_MAX ((size_t)64 << 20)

struct proc {
	pid_t pid;
	int fd;
	struct buf rd;
};

static struct proc procs[2] = {{0, -1, BUF_INIT}, {0, -1, BUF_INIT}};
static char program[4096];
static int forget;
static uint64_t starts;

void msym_set_program(const char *path)
{
	snprintf(program, sizeof program, "%s", path ? path : "");
}

const char *msym_program(void)
{
	static const char *const tries[] = {"/usr/bin/llvm-symbolizer",
					    "/usr/lib/llvm-16/bin/llvm-symbolizer",
					    "/usr/lib/llvm-15/bin/llvm-symbolizer",
					    "/usr/lib/llvm-14/bin/llvm-symbolizer",
					    "/usr/bin/llvm-symbolizer-14",
					    NULL};
	if (program[0])
		return program;
	for (int i = 0; tries[i]; i++)
		if (access(tries[i], X_OK) == 0)
			return tries[i];
	return "llvm-symbolizer";
}

uint64_t msym_starts(void)
{
	return starts;
}

static void proc_stop(struct proc *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	p->pid = 0;
	p->rd.len = 0;
}

void msym_shutdown(void)
{
	for (int i = 0; i < 2; i++) {
		proc_stop(&procs[i]);
		buf_free(&procs[i].rd);
	}
}

void msym_forget_files(void)
{
	forget = 1;
}

/* Runs argv with stdin/stdout on one end of a socket pair (in and out
 * set) or stdout on it only; stderr to /dev/null. */
static pid_t spawn(char *const argv[], int with_stdin, int *fd, struct rum_error *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		err_set(err, "socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t pid = spawn_fds(argv[0], argv, NULL, with_stdin ? sv[1] : -1, sv[1], -1);
	int saved = errno;
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		err_set(err, "cannot run %s: %s", argv[0], strerror(saved));
		return -1;
	}
	*fd = sv[0];
	return pid;
}

static int proc_start(struct proc *p, int short_names, struct rum_error *err)
{
	char *argv[] = {(char *)msym_program(),
			"--inlining",
			"--demangle",
			"--output-style=JSON",
			short_names ? "--functions=short" : "--functions=linkage",
			NULL};
	p->pid = spawn(argv, 1, &p->fd, err);
	if (p->pid < 0) {
		p->pid = 0;
		return -1;
	}
	starts++;
	log_debug("started %s (pid %d)", argv[0], (int)p->pid);
	return 0;
}

/* ---- the JSON answers ---- */

struct js {
	const char *p, *e;
	struct buf *text;
};

static void answer_skip_ws(struct js *j)
{
	j->p = json_skip_ws(j->p, j->e);
}

static int lit(struct js *j, char c)
{
	answer_skip_ws(j);
	if (j->p < j->e && *j->p == c) {
		j->p++;
		return 1;
	}
	return 0;
}

/* A string, decoded into text when keep (its offset and length). A lone
 * surrogate half fails the answer, as it fails a record: llvm-symbolizer
 * writes its JSON with LLVM's json::OStream, which escapes only quotes,
 * backslashes and control characters, so an answer never has one. */
static int str(struct js *j, int keep, size_t *off, size_t *len)
{
	answer_skip_ws(j);
	if (j->p >= j->e || *j->p != '"')
		return -1;
	struct json_fail f;
	int esc = 0;
	const char *tok = j->p, *end = json_scan_string(tok, j->e, 0, &esc, &f);
	if (!end)
		return -1;
	j->p = end;
	if (!keep)
		return 0;
	size_t start = j->text->len;
	if (json_decode_append(tok, (size_t)(end - tok), 0, j->text) < 0)
		return -1;
	if (off) {
		*off = start;
		*len = j->text->len - start;
	}
	return 0;
}

/* Any other value, skipped (nested 16 deep at most). */
static int answer_skip_value(struct js *j, int depth)
{
	struct json_fail f;
	answer_skip_ws(j);
	const char *e = json_skip_value(j->p, j->e, depth, 16, 0, &f);
	if (!e)
		return -1;
	j->p = e;
	return 0;
}

/* A non-negative integer. */
static int num(struct js *j, uint64_t *v)
{
	struct json_fail f;
	struct json_num n;
	answer_skip_ws(j);
	if (j->p >= j->e || !json_is_digit(*j->p))
		return -1;
	const char *e = json_scan_number(j->p, j->e, JSON_NUM_RANGE, &n, &f);
	if (!e || !n.is_int)
		return -1;
	j->p = e;
	*v = (uint64_t)n.i;
	return 0;
}

static int key_is(const struct buf *t, size_t off, size_t len, const char *k)
{
	return strlen(k) == len && memcmp(t->p + off, k, len) == 0;
}

/* "0x1a2b": 1 and its value; 0 when it is not that. */
static int hex_str(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	if (n <= 2 || n > 18 || s[0] != '0' || s[1] != 'x')
		return 0;
	for (size_t i = 2; i < n; i++) {
		int d = hex_digit((unsigned char)s[i]);
		if (d < 0)
			return 0;
		x = x << 4 | (uint64_t)d;
	}
	*v = x;
	return 1;
}

static int level(struct js *j, struct msym_level *lv)
{
	memset(lv, 0, sizeof *lv);
	if (!lit(j, '{'))
		return -1;
	if (lit(j, '}'))
		return 0;
	for (;;) {
		size_t ko, kl, mark = j->text->len;
		if (str(j, 1, &ko, &kl) < 0 || !lit(j, ':'))
			return -1;
		uint64_t v;
		if (key_is(j->text, ko, kl, "FunctionName")) {
			j->text->len = mark;
			if (str(j, 1, &lv->func, &lv->func_len) < 0)
				return -1;
		} else if (key_is(j->text, ko, kl, "FileName")) {
			j->text->len = mark;
			if (str(j, 1, &lv->file, &lv->file_len) < 0)
				return -1;
		} else if (key_is(j->text, ko, kl, "Line")) {
			j->text->len = mark;
			if (num(j, &v) < 0)
				return -1;
			lv->line = v > UINT32_MAX ? 0 : (unsigned)v;
		} else if (key_is(j->text, ko, kl, "StartAddress")) {
			j->text->len = mark;
			size_t so, sl;
			if (str(j, 1, &so, &sl) < 0)
				return -1;
			lv->has_start = hex_str(j->text->p + so, sl, &lv->start);
			j->text->len = mark;
		} else {
			j->text->len = mark;
			if (answer_skip_value(j, 1) < 0)
				return -1;
		}
		if (lit(j, '}'))
			return 0;
		if (!lit(j, ','))
			return -1;
	}
}

static int unknown_name(const struct buf *t, const struct msym_level *lv)
{
	return lv->func_len == 0 || (lv->func_len == 2 && memcmp(t->p + lv->func, "??", 2) == 0);
}

int msym_parse_json(const char *line, size_t len, struct msym_answer *a, struct buf *text)
{
	struct js j = {line, line + len, text};
	a->n = 0;
	a->has_addr = 0;
	if (!lit(&j, '{'))
		return -1;
	if (lit(&j, '}'))
		return 0;
	for (;;) {
		size_t ko, kl, mark = text->len;
		if (str(&j, 1, &ko, &kl) < 0 || !lit(&j, ':'))
			return -1;
		int sym = key_is(text, ko, kl, "Symbol"), addr = key_is(text, ko, kl, "Address");
		text->len = mark;
		if (addr) {
			size_t so, sl;
			if (str(&j, 1, &so, &sl) < 0)
				return -1;
			a->has_addr = hex_str(text->p + so, sl, &a->addr);
			text->len = mark;
		} else if (sym) {
			if (!lit(&j, '['))
				return -1;
			if (!lit(&j, ']')) {
				for (;;) {
					struct msym_level lv;
					if (level(&j, &lv) < 0)
						return -1;
					if (a->n < MSYM_MAX_LEVELS)
						a->lv[a->n++] = lv;
					if (lit(&j, ']'))
						break;
					if (!lit(&j, ','))
						return -1;
				}
			}
		} else if (answer_skip_value(&j, 1) < 0) {
			return -1;
		}
		if (lit(&j, '}'))
			break;
		if (!lit(&j, ','))
			return -1;
	}
	answer_skip_ws(&j);
	if (j.p != j.e)
		return -1;
	/* nothing known: a single "??" level */
	if (a->n && unknown_name(text, &a->lv[0]))
		a->n = 0;
	return 0;
}

/* ---- batches ---- */

static int add_query(struct buf *in, const struct msym_query *q)
{
	return buf_printf(in, "\"%s%s%s\" 0x%llx\n", q->obj, q->arch ? ":" : "",
			  q->arch ? q->arch : "", (unsigned long long)q->addr);
}

/* Sends in, reads n answer lines into a. */
static int symbolizer_exchange(struct proc *p, const struct buf *in, const struct msym_query *q,
			       size_t n, struct msym_answer *a, struct buf *text,
			       struct rum_error *err)
{
	size_t sent = 0, got = 0, scan = 0;
	uint64_t deadline = mono_ms() + BATCH_TIMEOUT_MS;
	p->rd.len = 0;
	while (got < n) {
		long long left = (long long)(deadline - mono_ms());
		if (left <= 0) {
			err_set(err, "%s gave no answer in %d s", msym_program(),
				BATCH_TIMEOUT_MS / 1000);
			return -1;
		}
		struct pollfd pf = {p->fd, (short)(POLLIN | (sent < in->len ? POLLOUT : 0)), 0};
		int r = poll(&pf, 1, (int)left);
		if (r < 0 && errno != EINTR) {
			err_set(err, "poll: %s", strerror(errno));
			return -1;
		}
		if (r <= 0)
			continue;
		if ((pf.revents & POLLOUT) && sent < in->len) {
			ssize_t w =
			    send(p->fd, in->p + sent, in->len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				err_set(err, "writing to %s: %s", msym_program(), strerror(errno));
				return -1;
			}
			if (w > 0)
				sent += (size_t)w;
		}
		if (!(pf.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (p->rd.len >= READ_MAX || buf_reserve(&p->rd, 65536) < 0) {
			err_set(err, "an answer of more than %zu bytes", p->rd.len);
			return -1;
		}
		ssize_t rr = recv(p->fd, p->rd.p + p->rd.len, p->rd.cap - p->rd.len, MSG_DONTWAIT);
		if (rr == 0 || (rr < 0 && errno != EAGAIN && errno != EINTR)) {
			err_set(err, "%s stopped after %zu of %zu answers", msym_program(), got, n);
			return -1;
		}
		if (rr < 0)
			continue;
		p->rd.len += (size_t)rr;
		for (;;) {
			char *nl = memchr(p->rd.p + scan, '\n', p->rd.len - scan);
			if (!nl)
				break;
			size_t ll = (size_t)(nl - (p->rd.p + scan));
			if (got < n && msym_parse_json(p->rd.p + scan, ll, &a[got], text) < 0) {
				err_set(err, "%s: an answer that is not its JSON: %.80s",
					msym_program(), p->rd.p + scan);
				return -1;
			}
			/* each answer names its address: a line out of step
			 * would put every later answer on the wrong frame */
			if (got < n && (!a[got].has_addr || a[got].addr != q[got].addr)) {
				err_set(err, "%s: answer %zu is not for 0x%llx: %.80s",
					msym_program(), got, (unsigned long long)q[got].addr,
					p->rd.p + scan);
				return -1;
			}
			got++;
			scan += ll + 1;
		}
	}
	if (scan != p->rd.len) {
		err_set(err, "%s answered more than it was asked", msym_program());
		return -1;
	}
	return 0;
}

static int run_batch(int which, const struct msym_query *q, size_t n, struct msym_answer *a,
		     struct buf *text, struct rum_error *err)
{
	struct proc *p = &procs[which];
	struct buf in = BUF_INIT;
	int rc = -1;
	for (size_t i = 0; i < n; i++)
		if (add_query(&in, &q[i]) < 0) {
			err_set(err, "out of memory");
			goto out;
		}
	/* one retry with a fresh process: it may have died since the last
	 * batch (killed, or crashed on some other file) */
	for (int attempt = 0; attempt < 2 && rc < 0; attempt++) {
		if (!p->pid && proc_start(p, which, err) < 0)
			break;
		size_t mark = text->len;
		rc = symbolizer_exchange(p, &in, q, n, a, text, err);
		if (rc < 0) {
			static struct log_ratelimit rl = LOG_RATELIMIT_INIT(2);
			log_rl(&rl, RLOG_WARN, "%s", err->msg);
			text->len = mark;
			proc_stop(p);
		}
	}
out:
	buf_free(&in);
	return rc;
}

static int swift_mangled(const char *s, size_t n)
{
	if (n && s[0] == '_')
		s++, n--;
	return n > 2 && ((s[0] == '$' && (s[1] == 's' || s[1] == 'S' || s[1] == 'e')) ||
			 (s[0] == 'T' && s[1] == '0'));
}

int msym_batch(const struct msym_query *q, size_t n, struct msym_answer *a, struct buf *text,
	       struct rum_error *err)
{
	if (forget) {
		forget = 0;
		proc_stop(&procs[0]);
		proc_stop(&procs[1]);
	}
	if (run_batch(0, q, n, a, text, err) < 0)
		return -1;
	/* Swift names: the DWARF name instead, from the short-name process */
	size_t ns = 0;
	for (size_t i = 0; i < n; i++)
		for (unsigned k = 0; k < a[i].n; k++)
			if (swift_mangled(text->p + a[i].lv[k].func, a[i].lv[k].func_len)) {
				ns++;
				break;
			}
	if (!ns)
		return 0;
	struct msym_query *sq = malloc(ns * sizeof *sq);
	struct msym_answer *sa = malloc(ns * sizeof *sa);
	size_t *idx = malloc(ns * sizeof *idx), m = 0;
	if (sq && sa && idx) {
		for (size_t i = 0; i < n; i++)
			for (unsigned k = 0; k < a[i].n; k++)
				if (swift_mangled(text->p + a[i].lv[k].func, a[i].lv[k].func_len)) {
					idx[m] = i;
					sq[m++] = q[i];
					break;
				}
		struct rum_error e2;
		if (run_batch(1, sq, m, sa, text, &e2) == 0) {
			for (size_t i = 0; i < m; i++) {
				struct msym_answer *o = &a[idx[i]];
				if (sa[i].n != o->n)
					continue;
				for (unsigned k = 0; k < o->n; k++)
					if (swift_mangled(text->p + o->lv[k].func,
							  o->lv[k].func_len) &&
					    sa[i].lv[k].func_len) {
						o->lv[k].func = sa[i].lv[k].func;
						o->lv[k].func_len = sa[i].lv[k].func_len;
					}
			}
		}
	}
	free(sq);
	free(sa);
	free(idx);
	return 0;
}

/* ---- atos ---- */

/* atos's output read into text until it ends: 0, or -1 (err says why:
 * too slow, too much, a read error). */
static int read_output(const char *atos, int fd, struct buf *text, struct rum_error *err)
{
	size_t start = text->len;
	uint64_t deadline = mono_ms() + ATOS_TIMEOUT_MS;
	for (;;) {
		long long left = (long long)(deadline - mono_ms());
		if (left <= 0) {
			err_set(err, "%s ran longer than %d s", atos, ATOS_TIMEOUT_MS / 1000);
			return -1;
		}
		struct pollfd pf = {fd, POLLIN, 0};
		int r = poll(&pf, 1, (int)left);
		if (r <= 0)
			continue;
		if (text->len - start > (1u << 20) || buf_reserve(text, 65536) < 0) {
			err_set(err, "%s wrote too much", atos);
			return -1;
		}
		ssize_t rr = read(fd, text->p + text->len, text->cap - text->len);
		if (rr < 0 && errno == EINTR)
			continue;
		if (rr < 0) {
			err_set(err, "reading %s: %s", atos, strerror(errno));
			return -1;
		}
		if (rr == 0)
			return 0;
		text->len += (size_t)rr;
	}
}

/* The n lines of text from start on, as offsets and lengths; a line that
 * only repeats its address (atos knows nothing of it) and a missing line
 * have length 0. */
static void split_lines(const struct buf *text, size_t start, size_t n, size_t *line_off,
			size_t *line_len)
{
	size_t p = start, i = 0;
	for (; i < n && p < text->len; i++) {
		char *nl = memchr(text->p + p, '\n', text->len - p);
		size_t e = nl ? (size_t)(nl - text->p) : text->len;
		line_off[i] = p;
		line_len[i] = e - p;
		/* atos repeats an address it knows nothing of */
		if (line_len[i] > 2 && text->p[p] == '0' && text->p[p + 1] == 'x' &&
		    strspn(text->p + p + 2, "0123456789abcdefABCDEF") >= line_len[i] - 2)
			line_len[i] = 0;
		p = nl ? e + 1 : e;
	}
	for (; i < n; i++)
		line_len[i] = 0;
}

int msym_atos(const char *atos, const char *obj, const char *arch, uint64_t load,
	      const uint64_t *addrs, size_t n, size_t *line_off, size_t *line_len, struct buf *text,
	      struct rum_error *err)
{
	if (n > 4096) {
		err_set(err, "too many addresses");
		return -1;
	}
	char **argv = calloc(n + 8, sizeof *argv);
	char *nums = malloc((n + 1) * 20);
	if (!argv || !nums) {
		free(argv);
		free(nums);
		err_set(err, "out of memory");
		return -1;
	}
	size_t k = 0;
	argv[k++] = (char *)atos;
	argv[k++] = "-o";
	argv[k++] = (char *)obj;
	argv[k++] = "-l";
	snprintf(nums, 20, "0x%llx", (unsigned long long)load);
	argv[k++] = nums;
	argv[k++] = "-arch";
	argv[k++] = (char *)arch;
	for (size_t i = 0; i < n; i++) {
		snprintf(nums + 20 * (i + 1), 20, "0x%llx", (unsigned long long)addrs[i]);
		argv[k++] = nums + 20 * (i + 1);
	}
	argv[k] = NULL;
	int fd, rc = -1;
	pid_t pid = spawn(argv, 0, &fd, err);
	if (pid < 0)
		goto out;
	size_t start = text->len;
	rc = read_output(atos, fd, text, err);
	close(fd);
	int status = 0;
	if (rc < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		err_set(err, "%s failed (status %d)", atos, status);
		rc = -1;
	}
	if (rc < 0)
		goto out;
	split_lines(text, start, n, line_off, line_len);
out:
	free(argv);
	free(nums);
	return rc;
}
