/* DataKit's ip2isp.txt: one "CIDR ISP" pair a line, separated by one
 * space, IPv4 only; the longest prefix that matches an address wins, and
 * of two lines with the same prefix the later one, as in DataKit. A CIDR
 * without "/n" is a /32. Comments (#), blank lines and lines DataKit would
 * not take (another separator, a bad address, a prefix outside 1..32, no
 * name) are skipped and counted. */
#ifndef RUM_ENRICH_ISP_H
#define RUM_ENRICH_ISP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "errmsg.h"
#include "geo.h"

#define ISP_FILE_MAX ((size_t)16 << 20) /* bytes; DataKit's file is a few hundred KB */

struct isp_rule {
	uint32_t net; /* host bits cleared */
	uint32_t line;
	uint32_t name; /* offset in names */
	uint8_t len, name_len;
};

enum { ISP_RULE, ISP_COMMENT, ISP_BLANK, ISP_MALFORMED, ISP_NKINDS };

struct isp_file {
	const char *path;   /* NULL: none configured */
	const char *option; /* "--isp-file" */
	int is_open;
	struct isp_rule *rules; /* by prefix length, then network */
	size_t n;
	char *names;
	uint32_t start[34];	     /* rules of length L: [start[L], start[L + 1]) */
	uint64_t lens;		     /* bit L: some rule has length L */
	size_t lines[ISP_NKINDS];    /* of the file in use, by kind */
	size_t first_malformed_line; /* 0: none */
	struct file_sig sig, failed_sig;
	int has_failed;
};

/* Reads and parses f->path, replacing the rules in use only on success (a
 * file without a single rule fails); -1 with the reason in err. */
int isp_file_open(struct isp_file *f, struct rum_error *err);
/* The same from bytes (the fuzz target's way in); fills f, which must be
 * empty. 0, or -1 with err (no rule, or no memory). */
int isp_file_parse(struct isp_file *f, const char *p, size_t n, struct rum_error *err);
int isp_file_changed(const struct isp_file *f);
void isp_file_close(struct isp_file *f);

/* Sets v's isp unless it has one. */
enum geo_status isp_file_lookup(const struct isp_file *f, const struct sockaddr *sa,
				struct geo_vals *v);

#endif
