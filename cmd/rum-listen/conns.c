/* Every connection is registered from MHD's connection notification to its
 * close notification (which MHD sends before closing the socket), so that a
 * thread of ours can cut off the ones past their deadline: it shuts the
 * socket down, and MHD, seeing the end of the stream, closes it and frees
 * the connection in its own thread. A 408 is written to plain-HTTP clients
 * before; over TLS the connection is only closed, as nothing may write
 * between GnuTLS's records.
 *
 * The state of a connection is changed by compare-and-swap, so that the
 * handler and this thread never both answer a request: whoever moves it out
 * of HEADERS or BODY first owns the answer. */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cidr.h"
#include "clock.h"
#include "conns.h"
#include "listen.h"
#include "log.h"

enum { CS_HEADERS, CS_BODY, CS_PROCESSING, CS_IDLE, CS_CUT };

struct conn {
	struct conn *prev, *next;
	int fd;
	uint8_t peer[16];
	uint8_t key[16]; /* peer as limits count it (an IPv6 /64) */
	int limited;	 /* counted against --max-connections-per-ip */
	int state;
	uint64_t deadline_ns; /* of HEADERS, BODY and IDLE, on mono_ns() */
	unsigned requests;
	size_t ep;
};

/* Connections per client address, for --max-connections-per-ip. */
struct ipcount {
	struct ipcount *next;
	uint8_t addr[16];
	unsigned n;
};
#define IP_BUCKETS 16384

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *head;
static unsigned total;
static struct ipcount *ipbuckets[IP_BUCKETS];
static pthread_t sweeper;
static int sweeper_running;
static volatile int sweeper_stop;

static uint64_t secs(unsigned s)
{
	return (uint64_t)s * 1000000000;
}

static size_t ip_slot(const uint8_t a[16])
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < 16; i++)
		h = (h ^ a[i]) * 1099511628211ULL;
	return (size_t)(h % IP_BUCKETS);
}

/* With the lock held: the count after adding delta (missing: 0). */
static unsigned ip_add(const uint8_t a[16], int delta)
{
	struct ipcount **pp = &ipbuckets[ip_slot(a)];
	for (; *pp; pp = &(*pp)->next)
		if (memcmp((*pp)->addr, a, 16) == 0)
			break;
	struct ipcount *e = *pp;
	if (!e) {
		if (delta <= 0)
			return 0;
		e = calloc(1, sizeof *e);
		if (!e)
			return 0; /* unlimited rather than refused for our shortage */
		memcpy(e->addr, a, 16);
		*pp = e;
	}
	e->n = delta < 0 && e->n == 0 ? 0 : (unsigned)((int)e->n + delta);
	unsigned n = e->n;
	if (n == 0) {
		*pp = e->next;
		free(e);
	}
	return n;
}

void conn_opened(struct MHD_Connection *c, void **socket_context)
{
	stats_conn(1);
	struct conn *k = calloc(1, sizeof *k);
	const union MHD_ConnectionInfo *fi =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *ai =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!k || !fi) {
		free(k);
		*socket_context = NULL;
		return;
	}
	k->fd = fi->connect_fd;
	if (!ai || addr_of_sockaddr(ai->client_addr, k->peer) < 0)
		memset(k->peer, 0, sizeof k->peer);
	k->limited = !addr_is_loopback(k->peer) && !cidr_list_match(&cfg.trusted_proxies, k->peer);
	memcpy(k->key, k->peer, 16);
	addr_limit_key(k->key);
	k->state = CS_HEADERS;
	k->deadline_ns = mono_ns() + secs(cfg.header_timeout);
	const char *refused = NULL;
	pthread_mutex_lock(&lock);
	k->next = head;
	if (head)
		head->prev = k;
	head = k;
	total++;
	if (total > cfg.max_conns)
		refused = "rum.tooManyConnections";
	if (k->limited && ip_add(k->key, 1) > cfg.max_conns_per_ip && !refused)
		refused = "rum.tooManyConnectionsPerIp";
	if (refused) {
		/* MHD reads the end of the stream and closes it. */
		k->state = CS_CUT;
		shutdown(k->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&lock);
	if (refused) {
		stats_reject(refused);
		char a[64];
		addr_format(k->peer, a, sizeof a);
		log_debug("connection from %s refused: %s", a, refused);
	}
	*socket_context = k;
}

int conn_count_late(struct conn *k)
{
	if (!k)
		return 0;
	pthread_mutex_lock(&lock);
	int over = 0;
	if (!k->limited) {
		k->limited = 1;
		over = ip_add(k->key, 1) > cfg.max_conns_per_ip;
	}
	pthread_mutex_unlock(&lock);
	return over;
}

void conn_closed(void **socket_context)
{
	stats_conn(-1);
	struct conn *k = *socket_context;
	if (!k)
		return;
	*socket_context = NULL;
	pthread_mutex_lock(&lock);
	if (k->prev)
		k->prev->next = k->next;
	else
		head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	total--;
	if (k->limited)
		ip_add(k->key, -1);
	pthread_mutex_unlock(&lock);
	free(k);
}

struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return i ? i->socket_context : NULL;
}

static int cas(struct conn *k, int from, int to)
{
	return __atomic_compare_exchange_n(&k->state, &from, to, 0, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

static int state(const struct conn *k)
{
	return __atomic_load_n(&k->state, __ATOMIC_ACQUIRE);
}

int conn_is_cut(const struct conn *k)
{
	return k && state(k) == CS_CUT;
}

void conn_request_line(struct conn *k)
{
	if (!k)
		return;
	/* The deadline is stored before the state says it applies. */
	uint64_t d = mono_ns() + secs(cfg.header_timeout);
	if (state(k) == CS_IDLE) {
		__atomic_store_n(&k->deadline_ns, d, __ATOMIC_RELEASE);
		cas(k, CS_IDLE, CS_HEADERS);
	}
}

int conn_headers_done(struct conn *k, size_t ep)
{
	if (!k)
		return 0;
	__atomic_store_n(&k->ep, ep, __ATOMIC_RELAXED);
	__atomic_store_n(&k->deadline_ns, mono_ns() + secs(cfg.body_timeout), __ATOMIC_RELEASE);
	/* A request can come without a request line seen as such (pipelined
	 * behind a previous one): IDLE moves on as well. */
	return cas(k, CS_HEADERS, CS_BODY) || cas(k, CS_IDLE, CS_BODY) ? 0 : -1;
}

int conn_body_done(struct conn *k)
{
	if (!k)
		return 0;
	int s = state(k);
	if (s == CS_PROCESSING)
		return 0;
	return cas(k, CS_BODY, CS_PROCESSING) ? 0 : -1;
}

int conn_respond(struct conn *k)
{
	if (!k)
		return 0;
	int s = state(k);
	if (s == CS_CUT || (s == CS_BODY && !cas(k, CS_BODY, CS_PROCESSING)))
		return -1;
	return cfg.max_requests_per_conn && k->requests + 1 >= cfg.max_requests_per_conn;
}

void conn_request_done(struct conn *k)
{
	if (!k)
		return;
	k->requests++;
	__atomic_store_n(&k->deadline_ns, mono_ns() + secs(cfg.keepalive_timeout),
			 __ATOMIC_RELEASE);
	int s = state(k);
	if (s != CS_CUT)
		cas(k, s, CS_IDLE);
}

/* The answer to a request cut off, written straight to the socket: MHD is
 * not writing on it (it is reading a request) and will not (the state is
 * CUT). */
static void send_408(int fd, int body)
{
	char msg[400];
	const char *text = body ? "the request body took too long to arrive"
				: "the request headers took too long to arrive";
	char json[200];
	int jn = snprintf(json, sizeof json, "{\"error_code\":\"%s\",\"message\":\"%s\"}",
			  body ? "rum.bodyTimeout" : "rum.headerTimeout", text);
	int n = snprintf(msg, sizeof msg,
			 "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nAccess-Control-Allow-Origin: *\r\n"
			 "Content-Length: %d\r\n\r\n%s",
			 jn, json);
	if (n > 0 && (size_t)n < sizeof msg &&
	    send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("408: %s", strerror(errno));
}

static void sweep(void)
{
	uint64_t now = mono_ns();
	pthread_mutex_lock(&lock);
	for (struct conn *k = head; k; k = k->next) {
		int s = state(k);
		if (s != CS_HEADERS && s != CS_BODY && s != CS_IDLE)
			continue;
		if (now < __atomic_load_n(&k->deadline_ns, __ATOMIC_ACQUIRE) || !cas(k, s, CS_CUT))
			continue;
		if (s != CS_IDLE) {
			if (!cfg.tls_cert)
				send_408(k->fd, s == CS_BODY);
			stats_request(s == CS_BODY ? __atomic_load_n(&k->ep, __ATOMIC_RELAXED)
						   : stats_ep_other(),
				      408);
			stats_reject(s == CS_BODY ? "rum.bodyTimeout" : "rum.headerTimeout");
		}
		shutdown(k->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&lock);
}

static void *sweeper_main(void *arg)
{
	(void)arg;
	while (!sweeper_stop) {
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
		sweep();
	}
	return NULL;
}

int conns_start(void)
{
	if (pthread_create(&sweeper, NULL, sweeper_main, NULL) != 0)
		return -1;
	sweeper_running = 1;
	return 0;
}

void conns_stop(void)
{
	if (!sweeper_running)
		return;
	sweeper_stop = 1;
	pthread_join(sweeper, NULL);
	sweeper_running = 0;
	for (size_t i = 0; i < IP_BUCKETS; i++) {
		while (ipbuckets[i]) {
			struct ipcount *e = ipbuckets[i];
			ipbuckets[i] = e->next;
			free(e);
		}
	}
}
