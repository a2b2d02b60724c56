/* Which path a request is for, and who answers it. MHD calls the handler
 * once when the headers are in, once per piece of the body, and once more
 * at its end; a request with a body we take (a write, a replay or sourcemap
 * upload) has a struct req from the first call on, every other request is
 * answered at its end, whatever body it had being dropped. */
#include <string.h>

#include "conns.h"
#include "http.h"

static char other_marker; /* con_cls of a request without a body we keep */

/* The counters' index of a path; *kind the kind of body it takes by
 * POST/PUT, or -1. */
static size_t endpoint_of(struct MHD_Connection *c, const char *url, int *kind)
{
	if (sdk_is_datadog(c, url)) {
		*kind = REQ_DATADOG;
		return stats_ep_datadog();
	}
	if (sdk_is_faro(url)) {
		*kind = REQ_FARO;
		return stats_ep_faro();
	}
	size_t n = strlen(url);
	long i = strlist_find(&cfg.endpoints, url, n);
	*kind = -1;
	if (i >= 0) {
		*kind = REQ_WRITE;
		return (size_t)i;
	}
	i = strlist_find(&cfg.replay_endpoints, url, n);
	if (i >= 0) {
		*kind = REQ_REPLAY;
		return stats_ep_replay((size_t)i);
	}
	if (strcmp(url, "/v1/sourcemap") == 0) {
		*kind = REQ_SOURCEMAP;
		return stats_ep_sourcemap();
	}
	if (strcmp(url, "/v1/env_variable") == 0)
		return stats_ep_env_variable();
	return strcmp(url, "/v1/ping") == 0		 ? stats_ep_ping()
	       : strcmp(url, "/metrics") == 0		 ? stats_ep_metrics()
	       : strcmp(url, "/v1/sourcemap/check") == 0 ? stats_ep_sourcemap_check()
							 : stats_ep_other();
}

static int is_sdk_path(const char *url)
{
	size_t n = strlen(url);
	return strlist_has(&cfg.endpoints, url, n) || strlist_has(&cfg.replay_endpoints, url, n) ||
	       sdk_is_faro(url) || strcmp(url, "/v1/ping") == 0 ||
	       strcmp(url, "/v1/env_variable") == 0;
}

/* Every path but a write: answered once the request (and any body, which is
 * discarded) is complete. MHD closes the connection after a response
 * queued at the first call, so waiting for the end keeps it alive. */
static enum MHD_Result other_request(struct MHD_Connection *c, const char *url, const char *method,
				     size_t ep, int post_only, void **con_cls)
{
	size_t urllen = strlen(url);
	int sdk = is_sdk_path(url);
	if (!is_public(c, url, urllen) && ep != stats_ep_faro() && ep != stats_ep_datadog())
		return send_error(c, ep, 403, "rum.forbidden", sdk, "%s is not a public API", url);
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	if (sdk && strcmp(method, "OPTIONS") == 0)
		return preflight(c, ep);
	if (post_only)
		return send_error(c, ep, 405, "rum.methodNotAllowed", 1,
				  "%s takes POST (and OPTIONS), not %s", url, method);
	if (ep == stats_ep_sourcemap()) {
		if (strcmp(method, "DELETE") == 0)
			return sm_delete_req(c, ep);
		return send_error(c, ep, 405, "rum.methodNotAllowed", 0,
				  "%s takes PUT and DELETE, not %s", url, method);
	}
	if (ep == stats_ep_sourcemap_check()) {
		if (!get)
			return send_error(c, ep, 405, "rum.methodNotAllowed", 0,
					  "%s takes GET, not %s", url, method);
		return sm_check_req(c, ep, con_cls);
	}
	if (ep == stats_ep_env_variable()) {
		if (!get)
			return send_error(c, ep, 405, "rum.methodNotAllowed", 1,
					  "%s takes GET, not %s", url, method);
		return env_variable_req(c, ep, con_cls);
	}
	if (ep == stats_ep_ping() || ep == stats_ep_metrics()) {
		if (!get)
			return send_error(c, ep, 405, "rum.methodNotAllowed", sdk,
					  "%s takes GET, not %s", url, method);
		return ep == stats_ep_ping() ? ping(c) : metrics_page(c);
	}
	if (cfg.disable_404) {
		stats_reject("rum.notFound");
		return send_resp(c, ep, 404,
				 MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT),
				 0);
	}
	return send_error(c, ep, 404, "rum.notFound", 0, "no such path: %s", url);
}

/* The first call: the headers are in. */
static enum MHD_Result request_begin(struct MHD_Connection *c, const char *url, const char *method,
				     void **con_cls)
{
	int kind;
	size_t ep = endpoint_of(c, url, &kind);
	if (conn_headers_done(conn_of(c), ep) < 0)
		return MHD_NO;
	enum MHD_Result early;
	if (refuse_early(c, ep, kind != REQ_SOURCEMAP, &early))
		return early;
	/* Datadog's requests come to whatever path its proxy option names:
	 * public as the write endpoints are. */
	if (kind >= 0 && strcmp(method, kind == REQ_SOURCEMAP ? "PUT" : "POST") == 0 &&
	    (kind == REQ_DATADOG || kind == REQ_FARO || is_public(c, url, strlen(url))))
		return body_begin(c, ep, (enum req_kind)kind, con_cls);
	*con_cls = &other_marker;
	return MHD_YES;
}

/* The last call of a request with a struct req: its answer. */
static enum MHD_Result request_end(struct MHD_Connection *c, struct req *r, const char *url)
{
	if (r->answered)
		return MHD_YES;
	switch (r->kind) {
	case REQ_SOURCEMAP:
		return sm_upload_end(c, r);
	case REQ_CHECK:
		return check_end(c, r);
	case REQ_ENV:
		return env_variable_end(c, r);
	case REQ_DATADOG:
	case REQ_FARO:
		return sdk_body_end(c, r, url);
	default:
		return body_end(c, r);
	}
}

enum MHD_Result route_request(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	if (!*con_cls)
		return request_begin(c, url, method, con_cls);
	struct conn *k = conn_of(c);
	if (conn_is_cut(k))
		return MHD_NO;
	size_t n = *upload_size;
	*upload_size = 0;
	if (n)
		stats_received(0, n);
	else if (conn_body_done(k) < 0)
		return MHD_NO;
	if (*con_cls == &other_marker) {
		if (n)
			return MHD_YES;
		int kind;
		size_t ep = endpoint_of(c, url, &kind);
		return other_request(c, url, method, ep,
				     kind == REQ_WRITE || kind == REQ_REPLAY || kind >= REQ_DATADOG,
				     con_cls);
	}
	struct req *r = *con_cls;
	return n ? body_chunk(c, r, upload, n) : request_end(c, r, url);
}

void route_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		     enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;
	conn_request_done(conn_of(c));
	if (!r || *con_cls == &other_marker)
		return;
	*con_cls = NULL;
	req_done(r);
}
