/* Test and benchmark tool for common/lp.c.
 *   lptool tojson [-p PREC] [--now NS] [--set KEY=VAL]...  LP body on stdin → NDJSON
 *   lptool fromjson [--now NS]                             NDJSON → LP
 *   lptool roundtrip [-p PREC] [--now NS]   LP → JSON → LP → JSON, both JSON equal
 *   lptool bench [-p PREC] [-n ITER] [--parse-only]  parse + JSON of stdin ITER times: MB/s
 * Errors go to stderr as "lptool: line L, column C: reason"; exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "errmsg.h"
#include "lp.h"
#include "record.h"

#define MAX_SET 16

static enum lp_precision prec = LP_NS;
static int64_t now_ns = 0;
static long iters = 1000;
static int parse_only;
static struct lp_tag_set sets[MAX_SET];
static size_t nsets;

static void usage(void)
{
	fputs("usage: lptool tojson|fromjson|roundtrip|bench [-p PREC] [--now NS] "
	      "[--set K=V] [-n ITER]\n",
	      stderr);
	exit(2);
}

static void read_all(struct buf *in)
{
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, stdin)) > 0)
		if (buf_add(in, tmp, n) < 0) {
			fputs("lptool: out of memory\n", stderr);
			exit(1);
		}
	if (ferror(stdin)) {
		perror("lptool: stdin");
		exit(1);
	}
}

static void write_out(struct buf *out)
{
	if (out->err || (out->len && fwrite(out->p, 1, out->len, stdout) != out->len)) {
		fputs("lptool: write failed\n", stderr);
		exit(1);
	}
	buf_reset(out);
}

static void report(const struct rum_error *e)
{
	fprintf(stderr, "lptool: line %zu, column %zu: %s\n", e->line, e->column, e->msg);
}

static int cmd_tojson(const struct buf *in)
{
	struct lp_parser ps;
	struct lp_point pt = {0};
	struct rum_error e;
	struct buf out = BUF_INIT;
	int r, rc = 0;
	lp_parser_init(&ps, in->p, in->len, prec, now_ns);
	while ((r = lp_next(&ps, &pt, &e)) == 1) {
		if (lp_point_to_json(&pt, sets, nsets, &out) < 0 || buf_addc(&out, '\n') < 0) {
			fputs("lptool: out of memory\n", stderr);
			rc = 1;
			break;
		}
		if (out.len > 65536)
			write_out(&out);
	}
	if (r < 0) {
		report(&e);
		rc = 1;
	}
	write_out(&out);
	buf_free(&out);
	lp_point_free(&pt);
	return rc;
}

/* Each NDJSON line of in to line protocol; the line number of the first
 * failure in *bad_line. */
static int json_to_lp(const char *p, size_t n, struct buf *out, int verbose)
{
	struct record rec = {0};
	struct rum_error re;
	size_t line = 0;
	int rc = 0;
	if (n == 0)
		return 0;
	const char *end = p + n;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		line++;
		if (le > p) {
			if (rec_parse_line(&rec, p, (size_t)(le - p), &re) < 0) {
				if (verbose)
					fprintf(stderr, "lptool: line %zu: bad record: %s\n", line,
						re.msg);
				rc = 1;
			} else if (lp_write_record(&rec, now_ns, out) < 0) {
				if (verbose)
					fprintf(stderr,
						"lptool: line %zu: cannot be written as line "
						"protocol\n",
						line);
				rc = 1;
			}
		}
		p = nl ? nl + 1 : end;
	}
	rec_free(&rec);
	return rc;
}

static int cmd_fromjson(const struct buf *in)
{
	struct buf out = BUF_INIT;
	int rc = json_to_lp(in->p, in->len, &out, 1);
	write_out(&out);
	buf_free(&out);
	return rc;
}

static int to_json_all(const char *p, size_t n, enum lp_precision pr, struct buf *out,
		       size_t *npoints)
{
	struct lp_parser ps;
	struct lp_point pt = {0};
	struct rum_error e;
	int r;
	*npoints = 0;
	lp_parser_init(&ps, p, n, pr, now_ns);
	while ((r = lp_next(&ps, &pt, &e)) == 1) {
		(*npoints)++;
		if (lp_point_to_json(&pt, NULL, 0, out) < 0 || buf_addc(out, '\n') < 0) {
			r = err_set(&e, "out of memory");
			break;
		}
	}
	lp_point_free(&pt);
	if (r < 0)
		report(&e);
	return r < 0 ? -1 : 0;
}

static int cmd_roundtrip(const struct buf *in)
{
	struct buf j1 = BUF_INIT, lp = BUF_INIT, j2 = BUF_INIT;
	size_t n1, n2;
	int rc = 1;
	if (to_json_all(in->p, in->len, prec, &j1, &n1) < 0)
		goto out;
	if (json_to_lp(j1.p, j1.len, &lp, 1) != 0)
		goto out;
	/* The writer writes nanoseconds. */
	if (to_json_all(lp.p, lp.len, LP_NS, &j2, &n2) < 0) {
		fputs("lptool: the written line protocol does not parse:\n", stderr);
		fwrite(lp.p, 1, lp.len, stderr);
		goto out;
	}
	if (n1 != n2 || j1.len != j2.len || (j1.len && memcmp(j1.p, j2.p, j1.len) != 0)) {
		fputs("lptool: round trip differs\n--- first\n", stderr);
		fwrite(j1.p, 1, j1.len, stderr);
		fputs("--- line protocol\n", stderr);
		fwrite(lp.p, 1, lp.len, stderr);
		fputs("--- second\n", stderr);
		fwrite(j2.p, 1, j2.len, stderr);
		goto out;
	}
	printf("%zu points\n", n1);
	rc = 0;
out:
	buf_free(&j1);
	buf_free(&lp);
	buf_free(&j2);
	return rc;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_bench(const struct buf *in)
{
	struct lp_parser ps;
	struct lp_point pt = {0};
	struct rum_error e;
	struct buf out = BUF_INIT;
	size_t points = 0, outbytes = 0;
	double t0 = now_s();
	for (long i = 0; i < iters; i++) {
		int r;
		buf_reset(&out);
		lp_parser_init(&ps, in->p, in->len, prec, now_ns);
		while ((r = lp_next(&ps, &pt, &e)) == 1) {
			points++;
			if (!parse_only && (lp_point_to_json(&pt, sets, nsets, &out) < 0 ||
					    buf_addc(&out, '\n') < 0))
				return 1;
		}
		if (r < 0) {
			report(&e);
			return 1;
		}
		outbytes += out.len;
	}
	double dt = now_s() - t0;
	double mb = (double)in->len * (double)iters / 1e6;
	printf("%.0f MB/s, %.0f points/s, %.2f us per body of %zu bytes (%zu bytes of JSON)\n",
	       mb / dt, (double)points / dt, dt * 1e6 / (double)iters, in->len,
	       outbytes / (size_t)iters);
	buf_free(&out);
	lp_point_free(&pt);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *cmd = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if ((!strcmp(a, "-p") || !strcmp(a, "--precision")) && i + 1 < argc) {
			const char *v = argv[++i];
			if (!strcmp(v, "guess"))
				prec = LP_GUESS;
			else if (lp_precision_parse(v, &prec) < 0)
				usage();
		} else if (!strcmp(a, "--now") && i + 1 < argc) {
			now_ns = strtoll(argv[++i], NULL, 10);
		} else if (!strcmp(a, "-n") && i + 1 < argc) {
			iters = strtol(argv[++i], NULL, 10);
			if (iters < 1)
				usage();
		} else if (!strcmp(a, "--parse-only")) {
			parse_only = 1;
		} else if (!strcmp(a, "--set") && i + 1 < argc && nsets < MAX_SET) {
			char *kv = argv[++i], *eq = strchr(kv, '=');
			if (!eq)
				usage();
			*eq = 0;
			sets[nsets].key = kv;
			sets[nsets].val = eq + 1;
			sets[nsets].val_len = strlen(eq + 1);
			nsets++;
		} else {
			usage();
		}
	}
	struct buf in = BUF_INIT;
	read_all(&in);
	int rc;
	if (!strcmp(cmd, "tojson"))
		rc = cmd_tojson(&in);
	else if (!strcmp(cmd, "fromjson"))
		rc = cmd_fromjson(&in);
	else if (!strcmp(cmd, "roundtrip"))
		rc = cmd_roundtrip(&in);
	else if (!strcmp(cmd, "bench"))
		rc = cmd_bench(&in);
	else
		usage();
	buf_free(&in);
	if (fflush(stdout) != 0)
		rc = 1;
	return rc;
}
