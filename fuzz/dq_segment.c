/* The disk queue's segment reader: dq_scan_segment on arbitrary bytes, then
 * the same bytes as segment files (and maybe an ack file) in a queue
 * directory that is opened, read to the end and appended to. It must not
 * crash, must terminate, and must agree with dq_scan_segment.
 *
 * Input: byte 0 selects the mode, the rest is segment data.
 *   bit 0: split the data into two segments at the offset in bytes 1-2
 *   bit 1: write a valid ack file pointing at (segment 1, offset in bytes 3-4)
 *   bit 2: a small capacity, so opening evicts
 *   bit 3: acknowledge every other entry read
 *   bit 4: rewind once in the middle
 *   bit 5: fix up the checksums of entries whose headers fit, so mutations
 *          reach lengths and batch flags instead of failing the CRC */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "bytes.h"
#include "dq.h"
#include "log.h"

static char dir[64];

static void count_cb(const unsigned char *e, size_t len, void *ctx)
{
	(void)e;
	(void)len;
	(*(size_t *)ctx)++;
}

static void write_file(const char *name, const void *p, size_t n)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		abort();
	if (n > 0 && write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

static void clear_dir(void)
{
	static const char *const names[] = {"lock", "ack", "00000000000000000001.seg",
					    "00000000000000000002.seg", "00000000000000000003.seg"};
	char path[128];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
}

static void remove_dir(void)
{
	clear_dir();
	rmdir(dir);
}

/* The entry layout, as common/dq_seg.c writes it: magic, length (top bit: more
 * of the batch follows), CRC32 of the length field and the payload. */
static void fix_crcs(uint8_t *p, size_t n)
{
	size_t off = 0;
	while (n - off >= 12 && get_le32(p + off) == 0x31515244u) {
		size_t l = get_le32(p + off + 4) & 0x7fffffffu;
		if (l > n - off - 12)
			break;
		uLong c = crc32(0L, p + off + 4, 4);
		if (l > 0)
			c = crc32(c, p + off + 12, (uInt)l);
		put_le32(p + off + 8, (uint32_t)c);
		off += 12 + l;
	}
}

/* The ack file's layout, as common/dq.c writes it. */
static void write_ack(uint64_t seg, uint64_t off)
{
	unsigned char b[32];
	put_le32(b, 0x4b415144u); /* magic, then the crc of the rest */
	put_le64(b + 8, 1);
	put_le64(b + 16, seg);
	put_le64(b + 24, off);
	put_le32(b + 4, (uint32_t)crc32(0L, b + 8, 24));
	write_file("ack", b, sizeof b);
}

/* The queue directory from the input: one or two segment files, an ack
 * file, and a capacity. mode, split and ackoff come from its first bytes. */
static uint64_t write_queue(unsigned mode, size_t split, uint64_t ackoff, const uint8_t *seg,
			    size_t len, int *two)
{
	*two = (mode & 1) && split < len;
	if (*two) {
		write_file("00000000000000000001.seg", seg, split);
		write_file("00000000000000000002.seg", seg + split, len - split);
	} else {
		write_file("00000000000000000001.seg", seg, len);
	}
	if (mode & 2)
		write_ack(1, ackoff);
	return (mode & 4) ? 64 + len / 2 : (uint64_t)1 << 30;
}

/* Reads everything, acking and rewinding as mode says; returns the count. */
static size_t read_all(struct dq *q, unsigned mode, size_t limit, struct buf *b)
{
	struct dq_pos next;
	size_t got = 0;
	int rewound = 0;
	for (;;) {
		int r = dq_read(q, b, &next);
		if (r < 0)
			abort();
		if (r == 0)
			break;
		if (++got > limit)
			abort(); /* reads must end */
		if ((mode & 8) && got % 2 == 0 && dq_ack(q, next) < 0)
			abort();
		if ((mode & 16) && !rewound && got == 3) {
			dq_rewind(q);
			rewound = 1;
		}
	}
	return got;
}

/* A push after all that is read back and acked, leaving nothing. */
static void probe(struct dq *q, struct buf *b)
{
	static const char text[] = "probe";
	struct dq_pos next;
	if (dq_push(q, text, sizeof text - 1) < 0)
		abort();
	if (dq_read(q, b, &next) != 1 || b->len != sizeof text - 1 ||
	    memcmp(b->p, text, b->len) != 0)
		abort();
	if (dq_ack(q, next) < 0)
		abort();
	struct dq_stats st;
	dq_get_stats(q, &st);
	if (st.entries != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n_scan = 0;
	size_t valid = dq_scan_segment(data, size, count_cb, &n_scan);
	if (valid > size)
		abort();
	if (size < 5)
		return 0;

	if (!dir[0]) {
		log_level = RLOG_ERROR;
		snprintf(dir, sizeof dir, "/tmp/dq_fuzz.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(remove_dir);
	}
	clear_dir();
	unsigned mode = data[0];
	size_t len = size - 5;
	uint8_t *seg = malloc(len + 1);
	if (!seg)
		abort();
	memcpy(seg, data + 5, len);
	if (mode & 32)
		fix_crcs(seg, len);
	int two;
	uint64_t cap = write_queue(mode, (size_t)(data[1] | data[2] << 8),
				   (uint64_t)(data[3] | data[4] << 8), seg, len, &two);

	struct dq *q;
	struct rum_error err = {0};
	if (dq_open(&q, dir, cap, &err) < 0) {
		fprintf(stderr, "dq_open: %s\n", err.msg);
		abort();
	}
	size_t ours = 0;
	dq_scan_segment(seg, len, count_cb, &ours);
	struct buf b = BUF_INIT;
	size_t got = read_all(q, mode, 2 * (len / 12 + 4), &b);
	/* one segment, nothing acked, nothing evicted, no rewind: exactly the
	 * entries dq_scan_segment finds */
	if (!two && !(mode & (2 | 4 | 16)) && got != ours)
		abort();
	probe(q, &b);
	dq_close(q);
	buf_free(&b);
	free(seg);
	return 0;
}
