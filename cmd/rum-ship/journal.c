/* The input journal of rum-ship (journal.h). */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "grow.h"
#include "metrics.h"

/* Reads not yet acknowledged, at most: each is at most one read of the
 * line reader (1 MiB), and they are acknowledged at every batch. */
#define MARKS_MAX ((size_t)1 << 20)

static void init_metrics(struct journal *j)
{
	j->m_errors = metric_get("rum_ship_journal_errors_total", NULL, METRIC_COUNTER,
				 "Reads of standard input the input journal (SPOOL-DIR/input) "
				 "could not keep (disk full, I/O error).");
	j->m_recovered =
	    metric_get("rum_ship_journal_recovered_records_total", NULL, METRIC_COUNTER,
		       "Records read again from the input journal at start: those "
		       "of a run killed before they were in a batch, and a few that "
		       "were (duplicates).");
}

/* The skip file: magic, the acknowledged position it goes with (segment,
 * offset), the bytes after it consumed already, and a check word; one
 * 40-byte pwrite, which a kill cannot tear. */
#define SKIP_MAGIC 0x4b534a52u /* "RJSK" */
#define SKIP_LEN 40

static uint64_t skip_check(const unsigned char *b)
{
	return (get_le64(b + 8) ^ get_le64(b + 16) ^ get_le64(b + 24)) * 0x9e3779b97f4a7c15u + 1;
}

static int write_skip(struct journal *j, struct dq_pos at, uint64_t skip)
{
	unsigned char b[SKIP_LEN] = {0};
	put_le32(b, SKIP_MAGIC);
	put_le64(b + 8, at.seg);
	put_le64(b + 16, at.off);
	put_le64(b + 24, skip);
	put_le64(b + 32, skip_check(b));
	ssize_t w = pwrite(j->skipfd, b, sizeof b, 0);
	if (w == (ssize_t)sizeof b)
		return 0;
	if (w >= 0)
		errno = EIO;
	return -1;
}

/* The bytes consumed after the acknowledged position, as the last run
 * recorded them; 0 when the file is for another position (a kill between
 * the two writes) or unreadable. */
static uint64_t read_skip(struct journal *j)
{
	unsigned char b[SKIP_LEN];
	struct dq_pos at = dq_ack_pos(j->dq);
	if (pread(j->skipfd, b, sizeof b, 0) != (ssize_t)sizeof b || get_le32(b) != SKIP_MAGIC ||
	    get_le64(b + 32) != skip_check(b) || get_le64(b + 8) != at.seg ||
	    get_le64(b + 16) != at.off)
		return 0;
	return get_le64(b + 24);
}

static int read_back(struct journal *j, struct buf *out)
{
	struct buf e = BUF_INIT;
	struct dq_pos next;
	int r;
	while ((r = dq_read(j->dq, &e, &next)) == 1) {
		if (buf_add(out, e.p, e.len) < 0) {
			r = -1;
			errno = ENOMEM;
			break;
		}
	}
	buf_free(&e);
	if (r < 0)
		return -1;
	/* All of it is in memory now and is consumed like fresh input: its
	 * end is one mark, acknowledged once the records are kept. */
	if (out->len) {
		j->marks[0] = (struct journal_mark){out->len, next};
		j->mark_n = 1;
	}
	j->in_total = out->len;
	return 0;
}

int journal_open(struct journal *j, const char *dir, uint64_t capacity, struct buf *recovered,
		 size_t *skip, struct rum_error *err)
{
	memset(j, 0, sizeof *j);
	j->skipfd = -1;
	j->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(2);
	init_metrics(j);
	if (!(j->dir = strdup(dir)) || ARRAY_RESERVE(j->marks, j->mark_cap, 64, MARKS_MAX) < 0)
		return err_set(err, "out of memory");
	if (dq_open(&j->dq, dir, capacity, err) < 0)
		return -1;
	char path[4096];
	if ((size_t)snprintf(path, sizeof path, "%s/skip", dir) >= sizeof path)
		return err_set(err, "%s: name too long", dir);
	j->skipfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (j->skipfd < 0)
		return err_set(err, "cannot open %s: %s", path, strerror(errno));
	uint64_t sk = read_skip(j);
	if (read_back(j, recovered) < 0)
		return err_set(err, "cannot read the input journal %s: %s", dir, strerror(errno));
	*skip = sk < recovered->len ? (size_t)sk : 0;
	j->settled = *skip;
	return 0;
}

void journal_close(struct journal *j)
{
	if (j->dq)
		dq_close(j->dq);
	if (j->skipfd >= 0)
		close(j->skipfd);
	free(j->marks);
	free(j->dir);
	memset(j, 0, sizeof *j);
}

/* Room for one more mark in the ring, unrolled to the front of a bigger
 * array when full. */
static int mark_room(struct journal *j)
{
	if (j->mark_n < j->mark_cap)
		return 0;
	size_t old = j->mark_cap;
	if (ARRAY_RESERVE(j->marks, j->mark_cap, old + 1, MARKS_MAX) < 0)
		return -1;
	/* the ring wrapped at old: move its first part after the rest */
	size_t wrapped = j->mark_i;
	if (wrapped) {
		struct journal_mark *tmp = malloc(wrapped * sizeof *tmp);
		if (!tmp)
			return -1;
		memcpy(tmp, j->marks, wrapped * sizeof *tmp);
		memmove(j->marks, j->marks + wrapped, (old - wrapped) * sizeof *tmp);
		memcpy(j->marks + (old - wrapped), tmp, wrapped * sizeof *tmp);
		free(tmp);
		j->mark_i = 0;
	}
	return 0;
}

void journal_append(struct journal *j, const char *p, size_t n)
{
	struct dq_pos next;
	j->in_total += n;
	if (dq_push_at(j->dq, p, n, &next) < 0) {
		metric_inc(j->m_errors);
		j->failing = 1;
		log_rl(&j->rl, RLOG_ERROR,
		       "cannot write %zu bytes of input to the journal %s: %s; they are lost "
		       "should rum-ship be killed before they are sent",
		       n, j->dir, strerror(errno));
		return;
	}
	if (j->failing) {
		j->failing = 0;
		log_info("the input journal %s takes writes again", j->dir);
	}
	if (mark_room(j) < 0) {
		/* Without a mark the read is acknowledged with a later one. */
		metric_inc(j->m_errors);
		return;
	}
	j->marks[(j->mark_i + j->mark_n) % j->mark_cap] = (struct journal_mark){j->in_total, next};
	j->mark_n++;
}

void journal_settle(struct journal *j, uint64_t consumed)
{
	if (consumed <= j->settled)
		return;
	j->settled = consumed;
	int have = 0;
	struct dq_pos upto = dq_ack_pos(j->dq);
	uint64_t end = j->ack_end;
	while (j->mark_n && j->marks[j->mark_i].end <= consumed) {
		upto = j->marks[j->mark_i].next;
		end = j->marks[j->mark_i].end;
		have = 1;
		j->mark_i = (j->mark_i + 1) % j->mark_cap;
		j->mark_n--;
	}
	/* The skip first: killed between the two writes, the next run finds a
	 * skip for another position, ignores it and sends a few records
	 * twice, rather than skipping records never sent. */
	if (write_skip(j, upto, consumed - end) < 0 || (have && dq_ack(j->dq, upto) < 0)) {
		log_rl(&j->rl, RLOG_WARN, "cannot record progress in the input journal %s: %s",
		       j->dir, strerror(errno));
		return;
	}
	j->ack_end = end;
}

void journal_count_recovered(struct journal *j, uint64_t n)
{
	metric_add(j->m_recovered, n);
}
