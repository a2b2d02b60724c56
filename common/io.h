/* Line input with no fixed limit below --max-line, and buffered output that
 * is flushed whenever input would block, so a lone record never waits. */
#ifndef RUM_IO_H
#define RUM_IO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct outbuf {
	int fd;
	struct buf b;
	size_t flush_at; /* flush when this many bytes are buffered */
	int err;	 /* sticky errno of a failed write (EPIPE, ...) */
};

void out_init(struct outbuf *o, int fd);
int out_write(struct outbuf *o, const void *p, size_t n); /* -1 on write error */
int out_flush(struct outbuf *o);
void out_free(struct outbuf *o);

enum lr_status {
	LR_LINE = 1, /* *line, *len: one line without its '\n' (a trailing '\r' is kept) */
	LR_EOF = 0,
	LR_ERROR = -1,	 /* read failed; errno set (EINTR when a signal came: look at sig_term) */
	LR_TOOLONG = -2, /* a line passed max_line; it was skipped up to its '\n' */
};

struct linereader {
	int fd;
	char *buf;
	size_t cap, start, end;
	size_t max_line;
	uint64_t lineno; /* number of the line last returned (1-based) */
	int eof;
	int skipping;		 /* inside an over-long line */
	void (*idle)(void *ctx); /* called before a read that would block */
	void *idle_ctx;
	/* called with the bytes of every read, before any line of them is
	 * returned (a write-ahead journal); NULL: none */
	void (*on_read)(void *ctx, const char *p, size_t n);
	void *read_ctx;
};

int lr_init(struct linereader *lr, int fd, size_t max_line);
enum lr_status lr_next(struct linereader *lr, const char **line, size_t *len);
void lr_free(struct linereader *lr);
/* Puts n bytes in front of what is still to be read, as if read first (no
 * on_read for them): input kept from an earlier run. 0, or -1 when out of
 * memory. */
int lr_preload(struct linereader *lr, const void *p, size_t n);

/* write(2) all of p, retrying on EINTR and partial writes. */
int write_all(int fd, const void *p, size_t n);

/* Makes the pipe fd hold want bytes when it holds less: a stage whose
 * records are large (a session replay is ~70 KB) would otherwise wake its
 * writer in the middle of every one. Not a pipe, or over the system's limit
 * (/proc/sys/fs/pipe-max-size): the pipe stays as it is, logged at debug. */
void pipe_grow(int fd, int want);

#endif
