/* The input journal of rum-ship (write-ahead): with --spool-dir, every
 * read of standard input is appended to a disk queue (SPOOL-DIR/input)
 * before any record in it is looked at, and acknowledged there only once
 * every record of it has gone where it is kept (a batch in each sink's
 * spool, a replay upload in its disk queue) or was dropped as invalid. A
 * rum-ship killed with -9 loses nothing it read: at the next start the
 * bytes not acknowledged are read again, before standard input.
 *
 * Positions in the stream are byte counts from the journal's acknowledged
 * position. The caller says how far it has consumed the stream when nothing
 * consumed is held in memory any more (journal_settle); every read that
 * ends at or before that point is acknowledged, and how much of the next
 * one is consumed already goes to a small file (SPOOL-DIR/input/skip)
 * written before the acknowledgement, so the next run starts at the first
 * record not kept: no duplicates come from the journal, except those of a
 * kill between a batch written to the spool and the journal settled. */
#ifndef RUM_SHIP_JOURNAL_H
#define RUM_SHIP_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dq.h"
#include "errmsg.h"
#include "log.h"

struct journal_mark {
	uint64_t end;	    /* stream offset just after the read */
	struct dq_pos next; /* its end in the disk queue */
};

struct journal {
	struct dq *dq;
	char *dir;
	uint64_t in_total; /* stream bytes so far (recovered, then read) */
	uint64_t ack_end;  /* stream offset of the acknowledged position */
	uint64_t settled;  /* the last consumed offset written to the skip file */
	int skipfd;
	struct journal_mark *marks; /* reads not acknowledged: a ring */
	size_t mark_i, mark_n, mark_cap;
	int failing; /* the last append failed */
	struct log_ratelimit rl;
	uint64_t *m_errors, *m_recovered;
};

/* Opens DIR (created) of capacity bytes and reads back into recovered what
 * the last run left unacknowledged; the first *skip bytes of it were dealt
 * with already (stream offsets start at 0 with them). 0, or -1 with err. */
int journal_open(struct journal *j, const char *dir, uint64_t capacity, struct buf *recovered,
		 size_t *skip, struct rum_error *err);
void journal_close(struct journal *j);
/* Records n bytes just read. A failure (disk full) is logged and counted;
 * those bytes are then not protected. */
void journal_append(struct journal *j, const char *p, size_t n);
/* Everything before stream offset consumed is kept elsewhere now. */
void journal_settle(struct journal *j, uint64_t consumed);
/* Records counted as read again from the journal (possible duplicates). */
void journal_count_recovered(struct journal *j, uint64_t n);

#endif
