/* multipart/form-data (RFC 7578 over RFC 2046) over a body held whole in
 * memory (a buffer or a mapped file). Parts come out one at a time as views
 * into the body; the parser allocates nothing, so hostile input costs only
 * the fixed size of its structures.
 *
 * What is accepted:
 * - the boundary from the Content-Type, as a token or a quoted string, 1 to
 *   MP_BOUNDARY_MAX bytes (RFC 2046 says 70; longer ones are taken as Go's
 *   mime/multipart, DataKit's parser, takes them);
 * - a preamble before the first delimiter and an epilogue after the last,
 *   both ignored;
 * - transport padding (spaces, tabs) after a delimiter;
 * - CRLF line ends; when the first delimiter line ends with a bare LF the
 *   whole body is read with LF line ends, as Go's parser does;
 * - part headers folded onto continuation lines;
 * - Content-Disposition: form-data with name (required), filename and
 *   filename* (RFC 5987, percent-decoded), values quoted or not.
 * Everything else (no closing delimiter, a part without a name, a header
 * line without ':', ...) is an error with a static reason and the byte
 * offset where it was found. */
#ifndef RUM_MULTIPART_H
#define RUM_MULTIPART_H

#include <stddef.h>

#define MP_BOUNDARY_MAX 200
#define MP_NAME_MAX 256	     /* a part's name, decoded */
#define MP_FILENAME_MAX 1024 /* a part's filename, decoded */
#define MP_HEADERS_MAX 16384 /* one part's header block */

struct mp_part {
	char name[MP_NAME_MAX];
	size_t name_len;
	char filename[MP_FILENAME_MAX];
	size_t filename_len;
	int has_filename;  /* a file part (filename or filename* given) */
	const char *ctype; /* the part's Content-Type value, or NULL */
	size_t ctype_len;
	const char *data; /* the part's content, a view into the body */
	size_t len;
};

struct mp_parser {
	const char *start, *p, *end;
	char delim[4 + MP_BOUNDARY_MAX]; /* "\r\n--" + boundary */
	size_t dlen;			 /* of delim, from its "\r\n" */
	int lf;				 /* bare LF line ends */
	int state;			 /* 0 before the first part, 1 between parts, 2 done */
	size_t nparts;
	size_t err_off; /* where the last error was found */
};

/* Is this Content-Type value multipart/form-data? Takes its boundary. 0, or
 * -1 with a reason ("not multipart/form-data", "no boundary", ...). */
int mp_init(struct mp_parser *mp, const char *ctype, size_t ctype_len, const char *body, size_t len,
	    const char **why);

/* 1: the next part is in *part; 0: the closing delimiter was reached;
 * -1: malformed or truncated, *why says how and mp->err_off where. */
int mp_next(struct mp_parser *mp, struct mp_part *part, const char **why);

#endif
