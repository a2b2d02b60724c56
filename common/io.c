#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define OUT_FLUSH_AT (64 * 1024)
#define LR_INITIAL (64 * 1024)
#define LR_BATCH (1024 * 1024)

int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

void out_init(struct outbuf *o, int fd)
{
	memset(o, 0, sizeof *o);
	o->fd = fd;
	o->flush_at = OUT_FLUSH_AT;
}

int out_flush(struct outbuf *o)
{
	if (o->err)
		return -1;
	if (o->b.len && write_all(o->fd, o->b.p, o->b.len) < 0) {
		o->err = errno ? errno : EIO;
		return -1;
	}
	o->b.len = 0;
	return 0;
}

int out_write(struct outbuf *o, const void *p, size_t n)
{
	if (o->err)
		return -1;
	/* Large writes skip the copy. */
	if (n >= o->flush_at) {
		if (out_flush(o) < 0)
			return -1;
		if (write_all(o->fd, p, n) < 0) {
			o->err = errno ? errno : EIO;
			return -1;
		}
		return 0;
	}
	if (buf_add(&o->b, p, n) < 0) {
		o->err = ENOMEM;
		return -1;
	}
	if (o->b.len >= o->flush_at)
		return out_flush(o);
	return 0;
}

void out_free(struct outbuf *o)
{
	buf_free(&o->b);
}

int lr_init(struct linereader *lr, int fd, size_t max_line)
{
	memset(lr, 0, sizeof *lr);
	lr->fd = fd;
	lr->max_line = max_line ? max_line : ((size_t)64 << 20);
	lr->cap = LR_INITIAL;
	lr->buf = malloc(lr->cap);
	return lr->buf ? 0 : -1;
}

int lr_preload(struct linereader *lr, const void *p, size_t n)
{
	size_t part = lr->end - lr->start;
	if (n + part > lr->cap) {
		char *b = realloc(lr->buf, n + part);
		if (!b)
			return -1;
		lr->buf = b;
		lr->cap = n + part;
	}
	memmove(lr->buf + n, lr->buf + lr->start, part);
	memcpy(lr->buf, p, n);
	lr->start = 0;
	lr->end = n + part;
	return 0;
}

void lr_free(struct linereader *lr)
{
	free(lr->buf);
	lr->buf = NULL;
}

/* Make room for reading. The partial line is moved to the front only once
 * the free tail is small, and below LR_BATCH the buffer grows while the
 * partial line takes more than a quarter of it: with lines of tens of KB
 * (replay records) moving the partial line before every read cost as much
 * as the read, and one read now takes several lines. Grows up to
 * max_line + 1; 1 when a line fills all of that (too long). */
static int lr_make_room(struct linereader *lr)
{
	size_t part = lr->end - lr->start;
	if (lr->start > 0 && lr->cap - lr->end < lr->cap / 4) {
		memmove(lr->buf, lr->buf + lr->start, part);
		lr->end = part;
		lr->start = 0;
	}
	size_t limit = lr->max_line + 1;
	int full = lr->end == lr->cap; /* then start is 0: part is all of it */
	int batch = part > lr->cap / 4 && lr->cap < LR_BATCH;
	if (!full && (!batch || lr->cap >= limit))
		return 0;
	if (lr->cap >= limit)
		return 1; /* full: the line is too long */
	size_t ncap = lr->cap * 2 > limit ? limit : lr->cap * 2;
	char *p = realloc(lr->buf, ncap);
	if (!p)
		return -1;
	lr->buf = p;
	lr->cap = ncap;
	return 0;
}

static int would_block(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int r = poll(&pfd, 1, 0);
	return r == 0;
}

enum lr_status lr_next(struct linereader *lr, const char **line, size_t *len)
{
	size_t scanned = 0; /* bytes of the current window already searched */
	for (;;) {
		char *start = lr->buf + lr->start;
		size_t avail = lr->end - lr->start;
		char *nl = avail > scanned ? memchr(start + scanned, '\n', avail - scanned) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - start);
			lr->start += n + 1;
			if (lr->skipping) {
				lr->skipping = 0;
				lr->lineno++;
				return LR_TOOLONG;
			}
			lr->lineno++;
			if (n > lr->max_line)
				return LR_TOOLONG;
			*line = start;
			*len = n;
			return LR_LINE;
		}
		scanned = avail;
		if (lr->eof) {
			if (avail == 0 && !lr->skipping)
				return LR_EOF;
			lr->start = lr->end;
			lr->lineno++;
			if (lr->skipping || avail > lr->max_line) {
				lr->skipping = 0;
				return LR_TOOLONG;
			}
			*line = start;
			*len = avail;
			return LR_LINE;
		}
		int room = lr_make_room(lr);
		if (room < 0)
			return LR_ERROR;
		if (room == 1) {
			/* Over-long line: throw away what we have and skip to its end. */
			lr->skipping = 1;
			lr->start = lr->end = 0;
			scanned = 0;
		}
		if (lr->idle && would_block(lr->fd))
			lr->idle(lr->idle_ctx);
		ssize_t r = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
		if (r < 0)
			return LR_ERROR;
		if (r == 0)
			lr->eof = 1;
		else if (lr->on_read)
			lr->on_read(lr->read_ctx, lr->buf + lr->end, (size_t)r);
		lr->end += (size_t)r;
	}
}

void pipe_grow(int fd, int want)
{
	int sz = fcntl(fd, F_GETPIPE_SZ);
	if (sz >= 0 && sz < want && fcntl(fd, F_SETPIPE_SZ, want) < 0)
		log_debug("cannot enlarge the pipe on descriptor %d: %s", fd, strerror(errno));
}
