/* Drives common/dq.c from the shell for t/dq.bats.
 *   dqtool push DIR CAP                  push each stdin line as one entry
 *   dqtool pushv DIR CAP K               the same, K lines per dq_pushv
 *   dqtool pushstats DIR CAP             push, then print the counters
 *   dqtool pushslow DIR CAP PROGRESS SIZE DELAY_US START
 *                                        push "i:xxx…" for i = START, … forever,
 *                                        appending i to PROGRESS after each push,
 *                                        sleeping DELAY_US between pushes
 *   dqtool pop DIR CAP N [DELAY_US]      read up to N entries, print, ack each
 *   dqtool peek DIR CAP N                read up to N entries, print, no ack
 *   dqtool script DIR CAP CMD...         r: read and print; aK: ack the end of
 *                                        the K-th read; w: rewind; s: stats;
 *                                        kTEXT[*N]: dq_push_keep TEXT (N times)
 *   dqtool stats DIR CAP                 print the counters
 *   dqtool hold DIR CAP MS               open, print "held", sleep MS ms
 *   dqtool bench DIR CAP COUNT SIZE      time COUNT pushes and reads of SIZE bytes
 *   dqtool threads DIR CAP T PER         T threads push PER entries each while a
 *                                        consumer waits, reads and acks; checks
 *   dqtool scan FILE                     dq_scan_segment over a file */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dq.h"

static _Noreturn void fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "dqtool: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static uint64_t num(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		fail("bad number: %s", s);
	return v;
}

static struct dq *open_q(const char *dir, const char *cap)
{
	struct dq *q;
	struct rum_error err;
	if (dq_open(&q, dir, num(cap), &err) < 0)
		fail("%s", err.msg);
	return q;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void print_entry(const struct buf *b)
{
	fwrite(b->p, 1, b->len, stdout);
	putchar('\n');
}

static void print_stats(struct dq *q)
{
	struct dq_stats st;
	dq_get_stats(q, &st);
	printf("entries=%" PRIu64 " bytes=%" PRIu64 " dropped_entries=%" PRIu64
	       " dropped_bytes=%" PRIu64 " corrupt=%" PRIu64 "\n",
	       st.entries, st.bytes, st.dropped_entries, st.dropped_bytes, st.corrupt);
}

static int cmd_push(struct dq *q, size_t batch)
{
	struct buf *lines = calloc(batch, sizeof *lines);
	if (!lines)
		fail("%s", "out of memory");
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;
	int more = 1;
	while (more) {
		len = getline(&line, &cap, stdin);
		more = len >= 0;
		if (more) {
			if (len > 0 && line[len - 1] == '\n')
				len--;
			buf_reset(&lines[n]);
			if (buf_add(&lines[n], line, (size_t)len) < 0)
				fail("%s", "out of memory");
			n++;
		}
		if (n == batch || (!more && n > 0)) {
			int r = batch == 1 ? dq_push(q, lines[0].p, lines[0].len)
					   : dq_pushv(q, lines, n);
			if (r < 0)
				fail("push: %s", strerror(errno));
			n = 0;
		}
	}
	for (size_t i = 0; i < batch; i++)
		buf_free(&lines[i]);
	free(lines);
	free(line);
	return 0;
}

static _Noreturn void cmd_pushslow(struct dq *q, const char *progress, size_t size,
				   uint64_t delay_us, uint64_t start)
{
	int pfd = open(progress, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (pfd < 0)
		fail("%s: cannot open", progress);
	struct buf b = BUF_INIT;
	for (uint64_t i = start;; i++) {
		buf_reset(&b);
		buf_printf(&b, "%" PRIu64 ":", i);
		/* sizes vary so entries straddle segment ends at odd places */
		size_t pad = size / 2 + (size_t)(i * 7919 % (size + 1));
		for (size_t k = 0; k < pad; k++)
			buf_addc(&b, (char)('a' + (i + k) % 26));
		if (b.err)
			fail("%s", "out of memory");
		if (dq_push(q, b.p, b.len) < 0)
			fail("push: %s", strerror(errno));
		char line[32];
		int n = snprintf(line, sizeof line, "%" PRIu64 "\n", i);
		if (write(pfd, line, (size_t)n) != n)
			fail("%s: write failed", progress);
		if (delay_us)
			usleep((useconds_t)delay_us);
	}
}

static int cmd_read(struct dq *q, uint64_t n, int ack, uint64_t delay_us)
{
	struct buf b = BUF_INIT;
	struct dq_pos next;
	for (uint64_t i = 0; i < n; i++) {
		int r = dq_read(q, &b, &next);
		if (r < 0)
			fail("read: %s", strerror(errno));
		if (r == 0)
			break;
		print_entry(&b);
		/* printed before acked: a kill in between shows as a
		 * duplicate, never as a loss */
		if (ack && (fflush(stdout) != 0 || dq_ack(q, next) < 0))
			fail("ack: %s", strerror(errno));
		if (delay_us)
			usleep((useconds_t)delay_us);
	}
	buf_free(&b);
	return 0;
}

static int cmd_script(struct dq *q, int argc, char **argv)
{
	struct dq_pos *ends = calloc((size_t)argc + 1, sizeof *ends);
	if (!ends)
		fail("%s", "out of memory");
	size_t nreads = 0;
	struct buf b = BUF_INIT;
	for (int i = 0; i < argc; i++) {
		const char *c = argv[i];
		if (strcmp(c, "r") == 0) {
			int r = dq_read(q, &b, &ends[nreads + 1]);
			if (r < 0)
				fail("read: %s", strerror(errno));
			if (r == 0) {
				printf("(none)\n");
			} else {
				nreads++;
				print_entry(&b);
			}
		} else if (c[0] == 'a') {
			uint64_t k = num(c + 1);
			if (k < 1 || k > nreads)
				fail("no such read: %s", c);
			if (dq_ack(q, ends[k]) < 0)
				fail("ack: %s", strerror(errno));
		} else if (strcmp(c, "w") == 0) {
			dq_rewind(q);
		} else if (strcmp(c, "s") == 0) {
			print_stats(q);
		} else if (c[0] == 'k') {
			/* kTEXT: push TEXT with dq_push_keep; kTEXT*N: TEXT N times over */
			struct buf e = BUF_INIT;
			const char *star = strchr(c + 1, '*');
			size_t tl = star ? (size_t)(star - c - 1) : strlen(c + 1);
			uint64_t times = star ? num(star + 1) : 1;
			for (uint64_t t = 0; t < times; t++)
				buf_add(&e, c + 1, tl);
			if (e.err || dq_push_keep(q, &e) < 0)
				fail("push_keep: %s", strerror(errno));
			buf_free(&e);
		} else {
			fail("unknown script command: %s", c);
		}
	}
	buf_free(&b);
	free(ends);
	return 0;
}

static int cmd_bench(struct dq *q, uint64_t count, size_t size)
{
	char *p = malloc(size);
	if (!p)
		fail("%s", "out of memory");
	memset(p, 'x', size);
	double t0 = now_ms();
	for (uint64_t i = 0; i < count; i++) {
		memcpy(p, &i, size < sizeof i ? size : sizeof i);
		if (dq_push(q, p, size) < 0)
			fail("push: %s", strerror(errno));
	}
	double t1 = now_ms();
	struct buf b = BUF_INIT;
	struct dq_pos next;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t got = 0;
		if (dq_read(q, &b, &next) != 1 || b.len != size)
			fail("%s", "read back failed");
		memcpy(&got, b.p, size < sizeof got ? size : sizeof got);
		if (size >= sizeof got && got != i)
			fail("%s", "read back out of order");
		if (dq_ack(q, next) < 0)
			fail("ack: %s", strerror(errno));
	}
	double t2 = now_ms();
	printf("push_ms=%.0f read_ms=%.0f\n", t1 - t0, t2 - t1);
	buf_free(&b);
	free(p);
	return 0;
}

struct thr {
	struct dq *q;
	int id;
	uint64_t per;
};

static void *producer(void *arg)
{
	struct thr *t = arg;
	char e[64];
	for (uint64_t i = 0; i < t->per; i++) {
		int n = snprintf(e, sizeof e, "%d:%" PRIu64, t->id, i);
		if (dq_push(t->q, e, (size_t)n) < 0)
			fail("push: %s", strerror(errno));
	}
	return NULL;
}

struct consumer {
	struct dq *q;
	int nthreads;
	uint64_t *seen;
	uint64_t total;
	_Atomic int stop;
	double woke_ms;
};

static void *consumer(void *arg)
{
	struct consumer *c = arg;
	struct buf b = BUF_INIT;
	struct dq_pos next;
	for (;;) {
		int r = dq_read(c->q, &b, &next);
		if (r < 0)
			fail("read: %s", strerror(errno));
		if (r == 0) {
			if (c->stop)
				break;
			/* long timeout: only data or dq_wake ends it in time */
			dq_wait(c->q, 60000);
			continue;
		}
		int id;
		uint64_t i;
		if (!buf_cstr(&b) || sscanf(b.p, "%d:%" SCNu64, &id, &i) != 2 || id < 0 ||
		    id >= c->nthreads)
			fail("bad entry: %s", b.p ? b.p : "");
		if (i != c->seen[id])
			fail("out of order in thread %s", b.p);
		c->seen[id]++;
		c->total++;
		if (dq_ack(c->q, next) < 0)
			fail("ack: %s", strerror(errno));
	}
	c->woke_ms = now_ms();
	buf_free(&b);
	return NULL;
}

static int cmd_threads(struct dq *q, int n, uint64_t per)
{
	struct thr *t = calloc((size_t)n, sizeof *t);
	pthread_t *tid = calloc((size_t)n, sizeof *tid);
	struct consumer c = {.q = q, .nthreads = n};
	c.seen = calloc((size_t)n, sizeof *c.seen);
	if (!t || !tid || !c.seen)
		fail("%s", "out of memory");
	pthread_t ct;
	if (pthread_create(&ct, NULL, consumer, &c) != 0)
		fail("%s", "pthread_create");
	for (int i = 0; i < n; i++) {
		t[i] = (struct thr){q, i, per};
		if (pthread_create(&tid[i], NULL, producer, &t[i]) != 0)
			fail("%s", "pthread_create");
	}
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	/* let the consumer drain and fall asleep in dq_wait, then wake it */
	struct dq_stats st;
	for (int k = 0; k < 10000; k++) {
		dq_get_stats(q, &st);
		if (st.entries == 0)
			break;
		usleep(1000);
	}
	usleep(100000);
	c.stop = 1;
	double t0 = now_ms();
	dq_wake(q);
	pthread_join(ct, NULL);
	printf("total=%" PRIu64 " wake_ms=%.0f\n", c.total, c.woke_ms - t0);
	free(t);
	free(tid);
	free(c.seen);
	return 0;
}

static void scan_count(const unsigned char *e, size_t len, void *ctx)
{
	(void)e;
	(void)len;
	(*(uint64_t *)ctx)++;
}

static int cmd_scan(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail("%s: cannot open", path);
	struct buf b = BUF_INIT;
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		if (buf_add(&b, tmp, n) < 0)
			fail("%s", "out of memory");
	fclose(f);
	uint64_t count = 0;
	size_t valid = dq_scan_segment((const unsigned char *)b.p, b.len, scan_count, &count);
	printf("valid=%zu entries=%" PRIu64 "\n", valid, count);
	buf_free(&b);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "scan") == 0)
		return cmd_scan(argv[2]);
	if (argc < 4)
		fail("%s",
		     "usage: dqtool push|pushv|pushslow|pop|peek|script|stats|hold|bench|threads "
		     "DIR CAP ...");
	const char *cmd = argv[1];
	struct dq *q = open_q(argv[2], argv[3]);
	int r = 0;
	if (strcmp(cmd, "push") == 0 && argc == 4)
		r = cmd_push(q, 1);
	else if (strcmp(cmd, "pushstats") == 0 && argc == 4) {
		r = cmd_push(q, 1);
		print_stats(q);
	} else if (strcmp(cmd, "pushv") == 0 && argc == 5)
		r = cmd_push(q, num(argv[4]) ? num(argv[4]) : 1);
	else if (strcmp(cmd, "pushslow") == 0 && argc == 8)
		cmd_pushslow(q, argv[4], num(argv[5]), num(argv[6]), num(argv[7]));
	else if (strcmp(cmd, "pop") == 0 && (argc == 5 || argc == 6))
		r = cmd_read(q, num(argv[4]), 1, argc == 6 ? num(argv[5]) : 0);
	else if (strcmp(cmd, "peek") == 0 && argc == 5)
		r = cmd_read(q, num(argv[4]), 0, 0);
	else if (strcmp(cmd, "script") == 0)
		r = cmd_script(q, argc - 4, argv + 4);
	else if (strcmp(cmd, "stats") == 0 && argc == 4)
		print_stats(q);
	else if (strcmp(cmd, "hold") == 0 && argc == 5) {
		printf("held\n");
		fflush(stdout);
		usleep((useconds_t)num(argv[4]) * 1000);
	} else if (strcmp(cmd, "bench") == 0 && argc == 6)
		r = cmd_bench(q, num(argv[4]), num(argv[5]));
	else if (strcmp(cmd, "threads") == 0 && argc == 6)
		r = cmd_threads(q, (int)num(argv[4]), num(argv[5]));
	else
		fail("bad arguments for %s", cmd);
	dq_close(q);
	return r;
}
