/* Requests with a body: their start (the limits known from the headers),
 * their pieces (kept in memory within the body budget), and the end of a
 * write (line protocol or JSON → records) or of a session replay upload (→
 * one record). Sourcemap uploads start here and go on in sourcemap_http.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "http.h"

/* Buffers larger than this are given back after the request. */
#define TLS_KEEP ((size_t)4 << 20)

enum MHD_Result body_begin(struct MHD_Connection *c, size_t ep, enum req_kind kind, void **con_cls)
{
	size_t limit = kind == REQ_WRITE || kind >= REQ_DATADOG ? cfg.max_body
		       : kind == REQ_REPLAY			? REPLAY_MAX_BODY
								: SOURCEMAP_MAX_BODY;
	const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long len = strtoull(cl, &end, 10);
		if (errno || end == cl || len > limit)
			return kind == REQ_SOURCEMAP
				   ? sm_too_large(c, ep, limit)
				   : send_error(c, ep, 413, "rum.bodyTooLarge", 1,
						"body larger than %zu bytes", limit);
	}
	if (reqs_enter(cfg.queue) < 0)
		return send_error(c, ep, 503, "rum.overloaded", 1,
				  "too many requests in progress; retry");
	struct req *r = req_get();
	if (!r) {
		reqs_leave();
		return send_error(c, ep, 503, "rum.overloaded", 1, "out of memory; retry");
	}
	r->ep = ep;
	r->kind = kind;
	r->limit = limit;
	r->now_ns = now_ns();
	*con_cls = r;
	if (kind == REQ_SOURCEMAP) {
		sm_upload_begin_req(c, r);
		/* A client waiting for "100 Continue" is told no at once instead
		 * of sending up to 100 MiB for nothing. */
		const char *expect = header(c, MHD_HTTP_HEADER_EXPECT);
		if (r->refused && expect && strcasecmp(expect, "100-continue") == 0 &&
		    sm_error(c, ep, &r->refusal) == MHD_YES)
			r->answered = 1;
	}
	return MHD_YES;
}

/* Refuses the rest of r's body with status; answered now, and MHD closes
 * the connection after it. */
static void refuse_body(struct MHD_Connection *c, struct req *r, unsigned status, const char *code,
			const char *msg)
{
	r->too_large = 1;
	buf_free(&r->body);
	if (send_error(c, r->ep, status, code, 1, "%s", msg) == MHD_YES)
		r->answered = 1;
}

enum MHD_Result body_chunk(struct MHD_Connection *c, struct req *r, const char *p, size_t n)
{
	if (r->answered)
		return MHD_YES;
	if (r->kind == REQ_SOURCEMAP)
		return sm_upload_chunk(c, r, p, n);
	if (r->too_large)
		return MHD_YES;
	if (r->body.len + n > r->limit) {
		char msg[64];
		snprintf(msg, sizeof msg, "body larger than %zu bytes", r->limit);
		refuse_body(c, r, 413, "rum.bodyTooLarge", msg);
		return MHD_YES;
	}
	if (reqs_buffer_take(r, n) < 0) {
		refuse_body(c, r, 503, "rum.overloaded",
			    "too much request data in progress; retry");
		return MHD_YES;
	}
	if (buf_add(&r->body, p, n) < 0) {
		r->too_large = 1;
		buf_free(&r->body);
	}
	return MHD_YES;
}

static int arg_true(struct MHD_Connection *c, const char *name)
{
	const char *v = NULL;
	size_t vlen = 0;
	if (MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
					  &vlen) != MHD_YES)
		return 0;
	if (!v || !*v)
		return 1;
	return !(strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
		 strcasecmp(v, "off") == 0);
}

static int is_json(struct MHD_Connection *c)
{
	const char *ct = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, "; ");
	/* application/json and its relatives, NDJSON included. */
	return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	       (n == 20 && strncasecmp(ct, "application/x-ndjson", 20) == 0) ||
	       (n == 17 && strncasecmp(ct, "application/jsonl", 17) == 0) ||
	       (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0) ||
	       (n == 9 && strncasecmp(ct, "text/json", 9) == 0);
}

static int body_encoding(struct MHD_Connection *c, enum body_enc *e, const char **name)
{
	const char *q = arg(c, "encoding");
	const char *h = header(c, MHD_HTTP_HEADER_CONTENT_ENCODING);
	*name = q && *q ? q : h;
	*e = ENC_IDENTITY;
	if (!*name || !**name)
		return 0;
	return decode_name(*name, e);
}

/* A write's body as the intake reads it: decompressed into t->dec when it
 * came compressed. 0 with *body and *len, or -1 with the refusal answered
 * (*rc). */
static int write_body(struct MHD_Connection *c, struct req *r, struct http_tls *t,
		      const char **body, size_t *len, enum MHD_Result *rc)
{
	size_t ep = r->ep;
	enum body_enc enc;
	const char *encname;
	if (body_encoding(c, &enc, &encname) < 0) {
		*rc = send_error(
		    c, ep, 415, "rum.unsupportedEncoding", 1,
		    "unsupported encoding '%.32s' (gzip, deflate, zstd, br or identity)", encname);
		return -1;
	}
	*body = r->body.p ? r->body.p : "";
	*len = r->body.len;
	if (*len == 0) {
		*rc = send_error(c, ep, 400, "rum.emptyBody", 1, "empty body");
		return -1;
	}
	if (enc == ENC_IDENTITY)
		return 0;
	const char *why;
	int dec = decode_body(enc, *body, *len, cfg.max_body, &t->dec, &why);
	if (dec == DEC_TOOBIG)
		*rc = send_error(c, ep, 413, "rum.bodyTooLarge", 1,
				 "decompressed body larger than %zu bytes", cfg.max_body);
	else if (dec == DEC_NOMEM)
		*rc = send_error(c, ep, 500, "rum.internal", 1, "out of memory");
	else if (dec != DEC_OK)
		*rc = send_error(c, ep, 400, "rum.badEncoding", 1, "%s body: %s", encname, why);
	if (dec != DEC_OK)
		return -1;
	*body = t->dec.p ? t->dec.p : "";
	*len = t->dec.len;
	return 0;
}

static enum MHD_Result write_end(struct MHD_Connection *c, struct req *r, struct http_tls *t)
{
	size_t ep = r->ep;
	enum lp_precision prec = LP_GUESS;
	const char *p = arg(c, "precision");
	if (p && *p && lp_precision_parse(p, &prec) < 0)
		return send_error(c, ep, 400, "rum.badPrecision", 1,
				  "bad precision '%.32s' (ns, us, ms, s, m or h)", p);
	const char *body;
	size_t len;
	enum MHD_Result rc;
	if (write_body(c, r, t, &body, &len, &rc) < 0)
		return rc;
	stats_bytes_in(r->body.len, len);
	char ip[256];
	struct intake_in in = {
	    .body = body,
	    .len = len,
	    .json = is_json(c),
	    .precision = prec,
	    .now_ns = r->now_ns,
	    .ip = ip,
	};
	in.ip_len = client_ip(c, ip, sizeof ip);
	struct intake_err err;
	size_t npoints;
	buf_reset(&t->out);
	memset(t->per_meas, 0, cfg.measurements.n * sizeof *t->per_meas);
	if (intake_parse(&in, &t->out, t->per_meas, &npoints, &err) < 0)
		return send_error(c, ep, err.status, err.code, 1, "%s", err.msg);
	int dry = arg_true(c, "dry"), echo = arg_true(c, "echo");
	if (!dry && output_emit(t->out.p, t->out.len) < 0)
		return send_error(c, ep, 500, "rum.internal", 1, "cannot pass the records on");
	if (!dry)
		for (size_t i = 0; i < cfg.measurements.n; i++)
			stats_points(i, t->per_meas[i]);
	if (echo)
		rc = send_body(c, ep, 200, "application/x-ndjson", t->out.p, t->out.len, 1);
	else
		rc = answer_ok(c, ep);
	if (t->dec.cap > TLS_KEEP)
		buf_free(&t->dec);
	return rc;
}

/* The request headers forwarded with a replay upload (rum-ship sends them on
 * to Dataway with the body). User-Agent and Accept-Language describe the
 * browser that recorded it, Origin and Referer the site it was recorded on,
 * and the address headers (with --origin-ip-header's) let the backend see the
 * client as it would behind any proxy. Not forwarded: what belongs to this
 * one connection (Host, Connection, Content-Length, Transfer-Encoding,
 * Expect), what is a field of its own (Content-Type), and credentials for
 * this collector's site (Cookie, Authorization), which must not leak to
 * another service. */
static const char *const forwarded[] = {
    "User-Agent", "Accept-Language", "Origin", "Referer", "X-Forwarded-For", "X-Real-IP",
};
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])

/* The forwarded headers the request has, into hs (NFORWARDED + 1); their
 * number. */
static size_t forwarded_headers(struct MHD_Connection *c, struct replay_header *hs)
{
	size_t nh = 0;
	int own_ip_header = 0;
	for (size_t i = 0; i < NFORWARDED; i++) {
		const char *v = header(c, forwarded[i]);
		if (v)
			hs[nh++] = (struct replay_header){forwarded[i], v};
		if (strcasecmp(forwarded[i], cfg.origin_ip_header) == 0)
			own_ip_header = 1;
	}
	const char *v = own_ip_header ? NULL : header(c, cfg.origin_ip_header);
	if (v)
		hs[nh++] = (struct replay_header){cfg.origin_ip_header, v};
	return nh;
}

static enum MHD_Result replay_end(struct MHD_Connection *c, struct req *r, struct http_tls *t)
{
	size_t ep = r->ep;
	enum body_enc enc;
	const char *encname;
	if (body_encoding(c, &enc, &encname) < 0 || enc != ENC_IDENTITY)
		return send_error(c, ep, 415, "rum.unsupportedEncoding", 1,
				  "encoding '%.32s': replay uploads are taken uncompressed, as the "
				  "SDKs send them",
				  encname);
	if (r->body.len == 0)
		return send_error(c, ep, 400, "rum.emptyBody", 1, "empty body");
	stats_bytes_in(r->body.len, r->body.len);
	struct replay_header hs[NFORWARDED + 1];
	char ip[256];
	struct replay_in in = {
	    .body = r->body.p,
	    .len = r->body.len,
	    .ctype = header(c, MHD_HTTP_HEADER_CONTENT_TYPE),
	    .headers = hs,
	    .nheaders = forwarded_headers(c, hs),
	    .ip = ip,
	    .now_ns = r->now_ns,
	};
	in.ip_len = client_ip(c, ip, sizeof ip);
	struct intake_err err;
	buf_reset(&t->out);
	if (replay_record(&in, &t->out, &err) < 0)
		return send_error(c, ep, err.status, err.code, 1, "%s", err.msg);
	if (output_emit(t->out.p, t->out.len) < 0)
		return send_error(c, ep, 500, "rum.internal", 1, "cannot pass the record on");
	stats_replay(r->body.len);
	return answer_ok(c, ep);
}

enum MHD_Result body_end(struct MHD_Connection *c, struct req *r)
{
	if (r->too_large)
		return send_error(c, r->ep, 413, "rum.bodyTooLarge", 1,
				  "body larger than %zu bytes", r->limit);
	capture_request(c, r);
	struct http_tls *t = http_tls();
	if (!t)
		return send_error(c, r->ep, 500, "rum.internal", 1, "out of memory");
	enum MHD_Result rc = r->kind == REQ_WRITE ? write_end(c, r, t) : replay_end(c, r, t);
	if (t->out.cap > TLS_KEEP)
		buf_free(&t->out);
	return rc;
}
