/* The sourcemap API's requests: an upload (PUT /v1/sourcemap, its body
 * written to a file as it comes), a deletion (DELETE), and a check
 * (GET /v1/sourcemap/check, answered once rum-symbolicate is done).
 * sourcemap_api.c does the work; this file speaks HTTP. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "io.h"
#include "log.h"
#include "record.h"

/* MHD decodes %00 into the values it hands out as C strings: a NUL would
 * silently cut a name short, so it is refused. */
static int args_nul(struct MHD_Connection *c, struct intake_err *e)
{
	static const char *const names[] = {"platform", "app_id",      "env",	    "version",
					    "token",	"error_stack", "error_type"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *v = NULL;
		size_t n = 0;
		if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, names[i],
						  strlen(names[i]), &v, &n) == MHD_YES &&
		    v && strlen(v) != n)
			return intake_fail(e, 400, "rum.badName", "a NUL byte in %s", names[i]);
	}
	return 0;
}

/* The target an upload or a deletion names, once its token is right. */
static int target_of_args(struct MHD_Connection *c, struct sm_target *t, struct intake_err *e)
{
	if (args_nul(c, e) < 0 || sm_token_check(arg(c, "token"), e) < 0)
		return -1;
	return sm_target_of(arg(c, "platform"), arg(c, "app_id"), arg(c, "env"), arg(c, "version"),
			    t, e);
}

enum MHD_Result sm_too_large(struct MHD_Connection *c, size_t ep, size_t limit)
{
	struct intake_err e;
	intake_fail(&e, 413, "rum.bodyTooLarge",
		    "upload larger than %zu bytes (the file may be %zu)", limit,
		    SOURCEMAP_MAX_FILE);
	return sm_error(c, ep, &e);
}

/* Checks what can be checked from the headers, so that a refused upload
 * writes nothing; its body is then dropped. */
void sm_upload_begin_req(struct MHD_Connection *c, struct req *r)
{
	r->sm = malloc(sizeof *r->sm);
	if (!r->sm) {
		r->refused = 1;
		intake_fail(&r->refusal, 500, "rum.internal", "out of memory");
		return;
	}
	if (target_of_args(c, r->sm, &r->refusal) < 0 ||
	    (r->fd = sm_upload_begin(r->sm, &r->refusal)) < 0)
		r->refused = 1;
}

/* A piece of an upload: to its file, unless it was refused. */
enum MHD_Result sm_upload_chunk(struct MHD_Connection *c, struct req *r, const char *p, size_t n)
{
	if (r->refused || r->too_large)
		return MHD_YES;
	if (r->fd_len + n > r->limit) {
		r->too_large = 1;
		if (sm_too_large(c, r->ep, r->limit) == MHD_YES)
			r->answered = 1;
		return MHD_YES;
	}
	if (write_all(r->fd, p, n) < 0) {
		r->refused = 1;
		intake_fail(&r->refusal, 500, "rum.internal", "writing the upload in %.300s: %s",
			    r->sm->dir, strerror(errno));
		return MHD_YES;
	}
	r->fd_len += n;
	return MHD_YES;
}

enum MHD_Result sm_upload_end(struct MHD_Connection *c, struct req *r)
{
	if (r->refused)
		return sm_error(c, r->ep, &r->refusal);
	if (r->too_large)
		return sm_too_large(c, r->ep, r->limit);
	struct intake_err e;
	if (sm_upload_finish(r->fd, r->fd_len, header(c, MHD_HTTP_HEADER_CONTENT_TYPE), r->sm, &e) <
	    0)
		return sm_error(c, r->ep, &e);
	stats_bytes_in(r->fd_len, r->fd_len);
	stats_sourcemap(1);
	log_info("sourcemap stored: %s", r->sm->path);
	return sm_ok(c, r->ep, "uploaded to", r->sm->path);
}

enum MHD_Result sm_delete_req(struct MHD_Connection *c, size_t ep)
{
	struct intake_err e;
	struct sm_target t;
	if (target_of_args(c, &t, &e) < 0 || sm_delete(&t, &e) < 0)
		return sm_error(c, ep, &e);
	stats_sourcemap(0);
	log_info("sourcemap deleted: %s", t.path);
	return sm_ok(c, ep, "deleted", t.path);
}

/* A check runs rum-symbolicate, which may take a while: its connection is
 * suspended and the child waited for in a thread of its own, so that the
 * worker thread goes on serving the SDKs' connections meanwhile. */
struct check_job {
	struct MHD_Connection *c;
	struct sm_check_in in;
	char *copy; /* the arguments */
	int rc;
	struct intake_err err;
	struct buf restored;
};

static void *check_thread(void *p)
{
	struct check_job *j = p;
	j->rc = sm_check(&j->in, &j->restored, &j->err);
	/* From here on the request may complete and free j. */
	MHD_resume_connection(j->c);
	return NULL;
}

static const char *copy_arg(char **at, const char *v)
{
	if (!v)
		return NULL;
	char *d = *at;
	size_t n = strlen(v) + 1;
	memcpy(d, v, n);
	*at += n;
	return d;
}

/* A job with its own copy of the arguments (MHD's go with the request's
 * first call); NULL when out of memory. */
static struct check_job *check_job_new(struct MHD_Connection *c, const struct sm_check_in *in)
{
	const char *vals[] = {in->platform, in->app_id,	    in->env,
			      in->version,  in->error_type, in->stack};
	size_t total = 0;
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
		total += vals[i] ? strlen(vals[i]) + 1 : 0;
	struct check_job *j = calloc(1, sizeof *j);
	char *copy = j ? malloc(total) : NULL;
	if (!copy) {
		free(j);
		return NULL;
	}
	char *at = copy;
	j->c = c;
	j->copy = copy;
	j->in.platform = copy_arg(&at, in->platform);
	j->in.app_id = copy_arg(&at, in->app_id);
	j->in.env = copy_arg(&at, in->env);
	j->in.version = copy_arg(&at, in->version);
	j->in.error_type = copy_arg(&at, in->error_type);
	j->in.stack = copy_arg(&at, in->stack);
	return j;
}

void check_job_free(struct check_job *j)
{
	if (!j)
		return;
	buf_free(&j->restored);
	free(j->copy);
	free(j);
}

enum MHD_Result sm_check_req(struct MHD_Connection *c, size_t ep, void **con_cls)
{
	struct intake_err e;
	struct sm_target t;
	struct sm_check_in in = {
	    .platform = arg(c, "platform"),
	    .app_id = arg(c, "app_id"),
	    .env = arg(c, "env"),
	    .version = arg(c, "version"),
	    .error_type = arg(c, "error_type"),
	    .stack = arg(c, "error_stack"),
	};
	/* The same checks as an upload's, so that the child is only ever
	 * asked about a name the API could have stored. */
	if (args_nul(c, &e) < 0 ||
	    sm_target_of(in.platform, in.app_id, in.env, in.version, &t, &e) < 0)
		return sm_error(c, ep, &e);
	if (!in.stack || !*in.stack) {
		intake_fail(&e, 400, "rum.missingErrorStack", "no error_stack (query argument)");
		return sm_error(c, ep, &e);
	}
	struct req *r = req_get();
	struct check_job *j = r ? check_job_new(c, &in) : NULL;
	if (!j) {
		if (r)
			req_put(r);
		return send_error(c, ep, 500, "rum.internal", 0, "out of memory");
	}
	r->kind = REQ_CHECK;
	r->ep = ep;
	r->job = j;
	reqs_enter(UINT_MAX); /* counted, but not held to --queue */
	*con_cls = r;
	MHD_suspend_connection(c);
	pthread_t th;
	pthread_attr_t at;
	int started = pthread_attr_init(&at) == 0 &&
		      pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED) == 0 &&
		      pthread_create(&th, &at, check_thread, j) == 0;
	pthread_attr_destroy(&at);
	if (!started)
		check_thread(j); /* no thread to spare: here, then */
	return MHD_YES;
}

/* The check is done: its answer, on the resumed connection. */
enum MHD_Result check_end(struct MHD_Connection *c, struct req *r)
{
	struct check_job *j = r->job;
	size_t ep = r->ep;
	if (j->rc < 0)
		return sm_error(c, ep, &j->err);
	struct buf b = BUF_INIT;
	buf_adds(&b,
		 j->rc ? "{\"success\":true,\"errorMsg\":" : "{\"success\":false,\"errorMsg\":");
	json_add_str(&b, j->rc ? "" : j->err.msg, j->rc ? 0 : strlen(j->err.msg));
	buf_adds(&b, ",\"content\":{\"error_stack\":");
	json_add_str(&b, j->rc ? j->restored.p : "", j->rc ? j->restored.len : 0);
	buf_adds(&b, ",\"original_error_stack\":");
	json_add_str(&b, j->in.stack, strlen(j->in.stack));
	buf_adds(&b, "}}");
	enum MHD_Result rc = b.err || j->restored.err
				 ? send_error(c, ep, 500, "rum.internal", 0, "out of memory")
				 : send_body(c, ep, 200, "application/json", b.p, b.len, 0);
	buf_free(&b);
	return rc;
}
