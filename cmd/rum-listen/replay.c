/* A session replay upload → one session_replay record: the form's text
 * fields as tags (plus ip), and the request itself (Content-Type, body in
 * base64, forwarded headers) as fields, so that rum-ship can send the upload
 * on exactly as it came. The body is read in place and encoded straight into
 * the output: it is never copied otherwise. */
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "errmsg.h"
#include "listen.h"
#include "multipart.h"
#include "perthread.h"
#include "record.h"

/* The names of the fields seen so far in one upload, to keep the first of
 * duplicates as DataKit does. Per thread so that it is allocated once. */
struct replay_tls {
	struct buf names;
	size_t off[REPLAY_MAX_FIELDS + 1];
	struct buf headers;
};

static void tls_destroy(void *p)
{
	struct replay_tls *t = p;
	buf_free(&t->names);
	buf_free(&t->headers);
	free(t);
}

static struct perthread tls_slot = PERTHREAD_INIT(struct replay_tls, tls_destroy);

static int seen(const struct replay_tls *t, size_t count, const char *name, size_t n)
{
	for (size_t i = 0; i < count; i++)
		if (t->off[i + 1] - t->off[i] == n && memcmp(t->names.p + t->off[i], name, n) == 0)
			return 1;
	return 0;
}

/* The form's fields as tags into out, each name once (the first wins), ip
 * left out; *app the app_id field, or NULL. 0, or -1 with err. */
static int form_tags(struct replay_tls *t, struct mp_parser *mp, struct buf *out, const char **app,
		     size_t *app_len, struct intake_err *err)
{
	buf_reset(&t->names);
	t->off[0] = 0;
	size_t nfields = 0;
	struct mp_part part;
	const char *why;
	int rc;
	while ((rc = mp_next(mp, &part, &why)) == 1) {
		if (part.has_filename)
			continue;
		if (part.name_len == 0)
			return intake_fail(err, 400, "rum.badMultipart",
					   "part %zu: a field without a name", mp->nparts);
		/* ip is ours to set, as on the write endpoints. */
		if (part.name_len == 2 && memcmp(part.name, "ip", 2) == 0)
			continue;
		if (seen(t, nfields, part.name, part.name_len))
			continue;
		if (nfields == REPLAY_MAX_FIELDS)
			return intake_fail(err, 400, "rum.badMultipart", "more than %d form fields",
					   REPLAY_MAX_FIELDS);
		if (buf_add(&t->names, part.name, part.name_len) < 0)
			return intake_fail(err, 500, "rum.internal", "out of memory");
		t->off[++nfields] = t->names.len;
		if (part.name_len == 6 && memcmp(part.name, "app_id", 6) == 0) {
			*app = part.data;
			*app_len = part.len;
		}
		json_add_str(out, part.name, part.name_len);
		buf_addc(out, ':');
		json_add_str(out, part.data, part.len);
		buf_addc(out, ',');
	}
	if (rc < 0)
		return intake_fail(err, 400, "rum.badMultipart", "multipart body, byte %zu: %s",
				   mp->err_off, why);
	return 0;
}

/* The forwarded request headers, as one JSON object in a string field. */
static int headers_field(struct replay_tls *t, const struct replay_in *in, struct buf *out,
			 struct intake_err *err)
{
	buf_reset(&t->headers);
	buf_addc(&t->headers, '{');
	for (size_t i = 0; i < in->nheaders; i++) {
		if (i)
			buf_addc(&t->headers, ',');
		json_add_str(&t->headers, in->headers[i].name, strlen(in->headers[i].name));
		buf_addc(&t->headers, ':');
		json_add_str(&t->headers, in->headers[i].value, strlen(in->headers[i].value));
	}
	buf_addc(&t->headers, '}');
	buf_adds(out, ",\"headers\":");
	if (t->headers.err)
		return intake_fail(err, 500, "rum.internal", "out of memory");
	json_add_str(out, t->headers.p, t->headers.len);
	return 0;
}

int replay_record(const struct replay_in *in, struct buf *out, struct intake_err *err)
{
	struct replay_tls *t = perthread_get(&tls_slot);
	if (!t)
		return intake_fail(err, 500, "rum.internal", "out of memory");
	if (!in->ctype || !*in->ctype)
		return intake_fail(err, 400, "rum.notMultipart",
				   "no Content-Type: a replay upload is multipart/form-data");
	struct mp_parser mp;
	const char *why;
	char ex[120];
	if (mp_init(&mp, in->ctype, strlen(in->ctype), in->body, in->len, &why) < 0) {
		excerpt(ex, sizeof ex, in->ctype, strlen(in->ctype));
		return intake_fail(err, 400,
				   strncmp(why, "not multipart", 13) == 0 ? "rum.notMultipart"
									  : "rum.badMultipart",
				   "Content-Type '%s': %s", ex, why);
	}

	buf_adds(out, "{\"measurement\":\"session_replay\",\"tags\":{");
	const char *app = NULL;
	size_t app_len = 0;
	if (form_tags(t, &mp, out, &app, &app_len, err) < 0)
		return -1;
	if (!app || app_len == 0)
		return intake_fail(err, 400, "rum.missingAppId", "%s app_id field in the form",
				   app ? "an empty" : "no");
	if (cfg.app_allow.n && !strlist_has(&cfg.app_allow, app, app_len)) {
		excerpt(ex, sizeof ex, app, app_len);
		return intake_fail(err, 400, "rum.appIdNotAllowed", "app_id '%s' is not allowed",
				   ex);
	}
	buf_adds(out, "\"ip\":");
	json_add_str(out, in->ip, in->ip_len);

	buf_adds(out, "},\"fields\":{\"content_type\":");
	json_add_str(out, in->ctype, strlen(in->ctype));
	if (headers_field(t, in, out, err) < 0)
		return -1;
	buf_adds(out, ",\"body\":\"");
	base64_encode(out, in->body, in->len);
	buf_adds(out, "\"},\"time\":");
	buf_add_i64(out, in->now_ns);
	buf_adds(out, "}\n");
	if (out->err)
		return intake_fail(err, 500, "rum.internal", "out of memory");
	if (t->names.cap > ((size_t)1 << 20))
		buf_free(&t->names);
	return 0;
}
