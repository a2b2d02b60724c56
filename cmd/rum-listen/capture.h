/* rum-listen: capture of the requests as they arrived (--capture-dir), one
 * raw HTTP/1.1 message a file, for rum-replay to send again. Only the
 * intake's requests are captured (writes and session replay uploads, once
 * their body is in): the sourcemap API, /metrics and the other admin paths
 * never reach the hook. */
#ifndef RUM_LISTEN_CAPTURE_H
#define RUM_LISTEN_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"

struct capture_cfg {
	const char *dir;   /* NULL: no capture */
	unsigned sample;   /* one request in this many */
	size_t max_bytes;  /* of the files in dir, the oldest removed past it */
	int replay_bodies; /* also the bodies of session replay uploads */
};

/* --capture-keep-header NAME: a header (or query parameter) otherwise
 * redacted is kept as it came. NULL, or why not. */
const char *capture_keep_header(const char *name);
/* Creates the directory and takes stock of the files already there (the
 * oldest go first past the bound). 0, or -1 with err. Nothing to do
 * without --capture-dir. */
int capture_start(const struct capture_cfg *c, struct rum_error *err);
/* Writes the requests queued, then stops its thread. */
void capture_free(void);

struct MHD_Connection;
struct req;
/* The body of r is in: writes the request to the capture directory when
 * it is sampled. Never fails the request: a failure is counted. */
void capture_request(struct MHD_Connection *c, const struct req *r);

#endif
