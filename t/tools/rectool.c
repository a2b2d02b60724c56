/* rectool: drive the record codec from the shell, for tests and benchmarks.
 *
 *   rectool parse [FILE]      count valid and invalid lines
 *   rectool check [FILE]      per line: "ok" or "error OFFSET: REASON"
 *   rectool pass [FILE]       each valid line written back as read (a stage's
 *                             pass-through path); invalid ones reported, dropped
 *   rectool canon [FILE]      each valid record in the canonical form (rec_write)
 *   rectool edit EDIT... [FILE]   apply edits: --tag K=V --field-str K=V
 *                             --field-int K=N --field-float K=X --field-bool K=true|false
 *   rectool dump [FILE]       decoded view: measurement, tags, fields (with type), time
 *   rectool get (--tag K | --field K)... [FILE]   look keys up (rec_tag, rec_field)
 *   rectool jstr              stdin (bytes) as one JSON string (json_add_str)
 *   rectool jdouble X...      each X (strtod) as json_add_double writes it
 *   rectool bench [-t SECONDS] FILE   records/s and MB/s: parse, pass, canon, edit
 *
 * FILE defaults to stdin. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"
#include "record.h"

static const char *usage_text =
    "usage: rectool parse|check|pass|canon|dump [FILE]\n"
    "       rectool edit [--tag K=V] [--field-str K=V] [--field-int K=N] [--field-float K=X]\n"
    "                    [--field-bool K=true|false]... [FILE]\n"
    "       rectool get (--tag K | --field K)... [FILE]\n"
    "       rectool jstr < BYTES\n"
    "       rectool jdouble X...\n"
    "       rectool bench [-t SECONDS] FILE\n";

static void usage(void)
{
	fputs(usage_text, stderr);
	exit(2);
}

static int open_input(const char *path)
{
	if (!path || !strcmp(path, "-"))
		return 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "rectool: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

static void die_write(void)
{
	fprintf(stderr, "rectool: write error: %s\n", strerror(errno));
	exit(1);
}

enum mode { M_PARSE, M_CHECK, M_PASS, M_CANON, M_EDIT, M_DUMP, M_GET };

struct lookup {
	int is_field;
	const char *key;
};

static void print_decoded(struct outbuf *o, struct buf *scratch, const char *tok, size_t n)
{
	const char *s;
	size_t len;
	if (rec_str(tok, n, scratch, &s, &len) < 0) {
		out_write(o, "(undecodable)", 13);
		return;
	}
	out_write(o, s, len);
}

static const char *type_name(enum rec_vtype t)
{
	switch (t) {
	case RV_STRING:
		return "string";
	case RV_INT:
		return "int";
	case RV_FLOAT:
		return "float";
	default:
		return "bool";
	}
}

static void dump(struct outbuf *o, struct buf *scratch, const struct record *r)
{
	out_write(o, "measurement ", 12);
	print_decoded(o, scratch, r->meas, r->meas_len);
	out_write(o, "\n", 1);
	for (size_t i = 0; i < r->ntags; i++) {
		out_write(o, "tag ", 4);
		print_decoded(o, scratch, r->tags[i].key, r->tags[i].key_len);
		out_write(o, "=", 1);
		print_decoded(o, scratch, r->tags[i].val, r->tags[i].val_len);
		out_write(o, "\n", 1);
	}
	for (size_t i = 0; i < r->nfields; i++) {
		const struct rec_kv *kv = &r->fields[i];
		char tmp[64];
		out_write(o, "field ", 6);
		print_decoded(o, scratch, kv->key, kv->key_len);
		int n = snprintf(tmp, sizeof tmp, " %s ", type_name(kv->type));
		out_write(o, tmp, (size_t)n);
		if (kv->type == RV_STRING) {
			print_decoded(o, scratch, kv->val, kv->val_len);
		} else if (kv->type == RV_INT) {
			int64_t v;
			if (rec_int(kv->val, kv->val_len, &v) < 0)
				n = snprintf(tmp, sizeof tmp, "(bad int)");
			else
				n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
			out_write(o, tmp, (size_t)n);
		} else if (kv->type == RV_FLOAT) {
			double v;
			struct buf b = BUF_INIT;
			if (rec_double(kv->val, kv->val_len, &v) < 0 || json_add_double(&b, v) < 0)
				out_write(o, "(bad float)", 11);
			else
				out_write(o, b.p, b.len);
			buf_free(&b);
		} else {
			out_write(o, kv->val, kv->val_len);
		}
		out_write(o, "\n", 1);
	}
	if (r->has_time) {
		char tmp[40];
		int n = snprintf(tmp, sizeof tmp, "time %" PRId64 "\n", r->time);
		out_write(o, tmp, (size_t)n);
	}
}

static int add_edit(struct rec_edit *e, const char *opt, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg) {
		fprintf(stderr, "rectool: %s: expected KEY=VALUE, got '%s'\n", opt, arg);
		exit(2);
	}
	char key[1024];
	size_t klen = (size_t)(eq - arg);
	if (klen >= sizeof key) {
		fprintf(stderr, "rectool: %s: key too long\n", opt);
		exit(2);
	}
	memcpy(key, arg, klen);
	key[klen] = '\0';
	const char *v = eq + 1;
	char *end;
	if (!strcmp(opt, "--tag"))
		return rec_edit_tag(e, key, v, strlen(v));
	if (!strcmp(opt, "--field-str"))
		return rec_edit_field_str(e, key, v, strlen(v));
	if (!strcmp(opt, "--field-int")) {
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (errno || *end || end == v) {
			fprintf(stderr, "rectool: %s: bad integer '%s'\n", opt, v);
			exit(2);
		}
		return rec_edit_field_int(e, key, n);
	}
	if (!strcmp(opt, "--field-float")) {
		double d = strtod(v, &end);
		if (*end || end == v) {
			fprintf(stderr, "rectool: %s: bad number '%s'\n", opt, v);
			exit(2);
		}
		return rec_edit_field_double(e, key, d);
	}
	if (!strcmp(opt, "--field-bool")) {
		if (strcmp(v, "true") && strcmp(v, "false")) {
			fprintf(stderr, "rectool: %s: expected true or false\n", opt);
			exit(2);
		}
		return rec_edit_field_bool(e, key, !strcmp(v, "true"));
	}
	fprintf(stderr, "rectool: unknown option %s\n", opt);
	exit(2);
}

static int run_lines(enum mode m, int argc, char **argv)
{
	struct rec_edit e;
	struct lookup looks[64];
	size_t nlooks = 0;
	const char *path = NULL;
	rec_edit_init(&e);
	for (int i = 0; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] == '-' && i + 1 < argc) {
			if (m == M_EDIT) {
				if (add_edit(&e, argv[i], argv[i + 1]) < 0) {
					fprintf(stderr, "rectool: %s %s: refused\n", argv[i],
						argv[i + 1]);
					return 2;
				}
			} else if (m == M_GET && nlooks < 64 &&
				   (!strcmp(argv[i], "--tag") || !strcmp(argv[i], "--field"))) {
				looks[nlooks].is_field = !strcmp(argv[i], "--field");
				looks[nlooks++].key = argv[i + 1];
			} else {
				usage();
			}
			i++;
		} else if (!path) {
			path = argv[i];
		} else {
			usage();
		}
	}

	struct linereader lr;
	struct outbuf o;
	struct record r = {0};
	struct rum_error err;
	struct buf out = BUF_INIT, scratch = BUF_INIT;
	uint64_t valid = 0, invalid = 0;
	if (lr_init(&lr, open_input(path), 0) < 0) {
		fprintf(stderr, "rectool: out of memory\n");
		return 1;
	}
	out_init(&o, 1);
	for (;;) {
		const char *line;
		size_t len;
		enum lr_status st = lr_next(&lr, &line, &len);
		if (st == LR_EOF)
			break;
		if (st == LR_ERROR) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "rectool: read error: %s\n", strerror(errno));
			return 1;
		}
		if (st == LR_TOOLONG) {
			fprintf(stderr, "rectool: line %" PRIu64 ": too long\n", lr.lineno);
			invalid++;
			continue;
		}
		if (rec_parse_line(&r, line, len, &err) < 0) {
			invalid++;
			if (m == M_CHECK) {
				char tmp[200];
				int n = snprintf(tmp, sizeof tmp, "error %zu: %s\n", err.offset,
						 err.msg);
				out_write(&o, tmp, (size_t)n);
			} else if (m != M_PARSE) {
				fprintf(stderr, "rectool: line %" PRIu64 ": offset %zu: %s\n",
					lr.lineno, err.offset, err.msg);
			}
			continue;
		}
		valid++;
		switch (m) {
		case M_CHECK:
			out_write(&o, "ok\n", 3);
			break;
		case M_PASS:
			out_write(&o, line, len);
			out_write(&o, "\n", 1);
			break;
		case M_CANON:
		case M_EDIT:
			buf_reset(&out);
			if ((m == M_CANON ? rec_write(&r, &out) : rec_edit_apply(&r, &e, &out)) <
				0 ||
			    buf_addc(&out, '\n') < 0) {
				fprintf(stderr, "rectool: line %" PRIu64 ": cannot write\n",
					lr.lineno);
				return 1;
			}
			out_write(&o, out.p, out.len);
			break;
		case M_DUMP:
			dump(&o, &scratch, &r);
			break;
		case M_GET:
			for (size_t i = 0; i < nlooks; i++) {
				const struct rec_kv *kv = looks[i].is_field
							      ? rec_field(&r, looks[i].key)
							      : rec_tag(&r, looks[i].key);
				const char *what = looks[i].is_field ? "field " : "tag ";
				out_write(&o, what, strlen(what));
				out_write(&o, looks[i].key, strlen(looks[i].key));
				if (!kv) {
					out_write(&o, " absent\n", 8);
					continue;
				}
				out_write(&o, "=", 1);
				if (kv->type == RV_STRING)
					print_decoded(&o, &scratch, kv->val, kv->val_len);
				else
					out_write(&o, kv->val, kv->val_len);
				out_write(&o, "\n", 1);
			}
			break;
		default:
			break;
		}
	}
	if (m == M_PARSE) {
		char tmp[100];
		int n = snprintf(tmp, sizeof tmp, "valid %" PRIu64 "\ninvalid %" PRIu64 "\n", valid,
				 invalid);
		out_write(&o, tmp, (size_t)n);
	}
	if (out_flush(&o) < 0)
		die_write();
	out_free(&o);
	lr_free(&lr);
	rec_free(&r);
	rec_edit_free(&e);
	buf_free(&out);
	buf_free(&scratch);
	return 0;
}

static int run_jstr(void)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	char tmp[65536];
	ssize_t n;
	while ((n = read(0, tmp, sizeof tmp)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "rectool: read error: %s\n", strerror(errno));
			return 1;
		}
		if (buf_add(&in, tmp, (size_t)n) < 0)
			return 1;
	}
	if (json_add_str(&out, in.p, in.len) < 0 || buf_addc(&out, '\n') < 0)
		return 1;
	if (write_all(1, out.p, out.len) < 0)
		die_write();
	buf_free(&in);
	buf_free(&out);
	return 0;
}

static int run_jdouble(int argc, char **argv)
{
	struct buf out = BUF_INIT;
	int rc = 0;
	for (int i = 0; i < argc; i++) {
		buf_reset(&out);
		if (json_add_double(&out, strtod(argv[i], NULL)) < 0) {
			printf("refused\n");
			rc = 1;
			continue;
		}
		printf("%.*s\n", (int)out.len, out.p);
	}
	buf_free(&out);
	return rc;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum bench_kind { B_PARSE, B_PASS, B_CANON, B_EDIT };

static int run_bench(int argc, char **argv)
{
	double seconds = 2.0;
	const char *path = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-t") && i + 1 < argc)
			seconds = strtod(argv[++i], NULL);
		else if (!path)
			path = argv[i];
		else
			usage();
	}
	if (!path || seconds <= 0)
		usage();
	int fd = open_input(path);
	struct buf data = BUF_INIT;
	char tmp[1 << 16];
	ssize_t n;
	while ((n = read(fd, tmp, sizeof tmp)) > 0)
		if (buf_add(&data, tmp, (size_t)n) < 0) {
			fprintf(stderr, "rectool: out of memory\n");
			return 1;
		}
	if (n < 0) {
		fprintf(stderr, "rectool: %s: %s\n", path, strerror(errno));
		return 1;
	}
	/* Line boundaries first, so that the timing is the codec's alone. */
	size_t nlines = 0, cap = 0;
	size_t *starts = NULL;
	for (size_t p = 0; p < data.len;) {
		const char *nl = memchr(data.p + p, '\n', data.len - p);
		size_t e = nl ? (size_t)(nl - data.p) : data.len;
		if (nlines + 1 >= cap) {
			cap = cap ? cap * 2 : 4096;
			size_t *ns = realloc(starts, cap * sizeof *ns);
			if (!ns)
				return 1;
			starts = ns;
		}
		starts[nlines++] = p;
		p = e + 1;
	}
	if (!nlines) {
		fprintf(stderr, "rectool: %s: empty\n", path);
		return 1;
	}
	starts[nlines] = data.len + 1;

	struct record r = {0};
	struct rum_error err;
	struct buf out = BUF_INIT;
	struct rec_edit e;
	rec_edit_init(&e);
	if (rec_edit_tag(&e, "city", "Hangzhou", 8) < 0 ||
	    rec_edit_field_str(&e, "provider_type", "CDN", 3) < 0)
		return 1;
	static const char *const names[] = {"parse", "pass-through", "canon", "edit"};
	for (int k = B_PARSE; k <= B_EDIT; k++) {
		uint64_t recs = 0, bytes = 0, bad = 0;
		double t0 = now(), t;
		do {
			for (size_t i = 0; i < nlines; i++) {
				const char *line = data.p + starts[i];
				size_t len = starts[i + 1] - 1 - starts[i];
				bytes += len + 1;
				if (rec_parse_line(&r, line, len, &err) < 0) {
					bad++;
					continue;
				}
				recs++;
				if (k == B_PASS) {
					buf_add(&out, line, len);
					buf_addc(&out, '\n');
				} else if (k == B_CANON) {
					rec_write(&r, &out);
					buf_addc(&out, '\n');
				} else if (k == B_EDIT) {
					rec_edit_apply(&r, &e, &out);
					buf_addc(&out, '\n');
				}
				if (out.len >= 1 << 16)
					buf_reset(&out);
			}
			t = now() - t0;
		} while (t < seconds);
		if (out.err) {
			fprintf(stderr, "rectool: out of memory\n");
			return 1;
		}
		printf("%-13s %10.0f records/s %8.1f MB/s (%" PRIu64 " invalid)\n", names[k],
		       (double)(recs + bad) / t, (double)bytes / t / 1e6, bad);
	}
	rec_free(&r);
	rec_edit_free(&e);
	buf_free(&out);
	buf_free(&data);
	free(starts);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	static const struct {
		const char *name;
		enum mode m;
	} modes[] = {{"parse", M_PARSE}, {"check", M_CHECK}, {"pass", M_PASS}, {"canon", M_CANON},
		     {"edit", M_EDIT},	 {"dump", M_DUMP},   {"get", M_GET}};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (!strcmp(argv[1], modes[i].name))
			return run_lines(modes[i].m, argc - 2, argv + 2);
	if (!strcmp(argv[1], "jstr"))
		return run_jstr();
	if (!strcmp(argv[1], "jdouble"))
		return run_jdouble(argc - 2, argv + 2);
	if (!strcmp(argv[1], "bench"))
		return run_bench(argc - 2, argv + 2);
	usage();
}
