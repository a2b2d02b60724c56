/* The microhttpd daemon: its options (threads, limits, TLS), the budgets
 * set from ours, and the callbacks that follow each connection's life for
 * conns.c. Requests themselves are route.c's. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conns.h"
#include "http.h"
#include "log.h"
#include "ratelimit.h"
#include "tlscert.h"

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		conn_opened(c, socket_context);
	else
		conn_closed(socket_context);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	conn_request_line(conn_of(c));
	return NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("microhttpd: %s", msg);
}

struct MHD_Daemon *http_start(int listen_fd, unsigned conn_limit)
{
	pages_init();
	reqs_init(cfg.max_body);
	if (answer_init() < 0)
		return NULL;
	access_init();
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
			 MHD_USE_TURBO | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	if (cfg.tls_cert)
		flags |= MHD_USE_TLS;
	if (cfg.rate_limit > 0 && rl_init(cfg.rate_limit, cfg.rate_burst, cfg.rate_table) < 0)
		return NULL;
	if (conns_start() < 0)
		return NULL;
	/* MHD's pool holds the headers and the read buffer: room for the
	 * largest headers we take, so that we answer 431 ourselves, and a
	 * little more. No more than that: MHD zeroes the whole pool after
	 * every request, and with 32 KiB extra that memset alone was ~4% of
	 * the intake's CPU; bodies are read in pieces whatever its size. */
	size_t pool = cfg.max_header + ((size_t)8 << 10);
	/* Ours refuses first, counting it; MHD's is the backstop. Both stay
	 * below the descriptors there are. */
	if (cfg.max_conns + 64 > conn_limit)
		cfg.max_conns = conn_limit > 128 ? conn_limit - 64 : conn_limit / 2;
	unsigned hard_limit = cfg.max_conns + 64 < conn_limit ? cfg.max_conns + 64 : conn_limit;
	struct MHD_OptionItem ops[] = {
	    {MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)route_completed, NULL},
	    {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, NULL},
	    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, NULL},
	    {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
	    /* Inactivity in any state; the deadlines of each state are
	     * conns.c's. */
	    {MHD_OPTION_CONNECTION_TIMEOUT, cfg.keepalive_timeout, NULL},
	    {MHD_OPTION_CONNECTION_LIMIT, hard_limit, NULL},
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)pool, NULL},
	    {cfg.threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, cfg.threads, NULL},
	    {MHD_OPTION_END, 0, NULL},
	};
	if (cfg.tls_cert)
		return MHD_start_daemon(flags, 0, NULL, NULL, route_request, NULL, MHD_OPTION_ARRAY,
					ops, MHD_OPTION_HTTPS_CERT_CALLBACK2, tlscert_callback(),
					MHD_OPTION_END);
	return MHD_start_daemon(flags, 0, NULL, NULL, route_request, NULL, MHD_OPTION_ARRAY, ops,
				MHD_OPTION_END);
}

void http_free(void)
{
	answer_free();
	reqs_free();
}
