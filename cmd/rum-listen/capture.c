/* Capture of the intake's requests (--capture-dir): each sampled request is
 * written as one raw HTTP/1.1 message, request line, headers and the body
 * as it came (still compressed), into a file of its own:
 *
 *   POST /v1/write/rum?precision=ms HTTP/1.1
 *   X-Rumpipe-Capture: peer=203.0.113.7:51234; time=1765153501.123456
 *   Host: ...
 *   ...
 *   Content-Length: 466
 *
 *   <body>
 *
 * X-Rumpipe-Capture says who sent it (the TCP peer) and when its headers
 * arrived (Unix seconds, microseconds); rum-replay reads it for --pace
 * captured and --forwarded-for, and does not send it.
 * The file is named after the time its body was complete,
 * YYYYmmdd-HHMMSS.nnnnnnnnn.http (UTC, strictly increasing), so `ls` lists
 * the requests in the order rum-listen passed their records on. It is
 * written to a hidden temporary name and renamed, so a reader never sees
 * half of one.
 *
 * MHD hands the request over parsed: the path is the endpoint it matched,
 * the query is written again from its parsed arguments (percent-encoded,
 * in their order), the headers in their order. The body is written
 * without Transfer-Encoding (a chunked body is stored whole, with
 * Content-Length) and without Expect. Secrets are redacted: the Cookie,
 * Authorization, Proxy-Authorization and DD-API-KEY headers and the token
 * and dd-api-key query parameters keep their place with the value
 * "redacted", unless --capture-keep-header names them.
 *
 * The request's thread only copies the message into a queue (bounded, 32
 * MiB); a thread of its own writes the files, in the page cache (no
 * fsync), so that a slow disk never slows a request: a message that finds
 * the queue full is dropped and counted. With --capture-sample 100 the
 * intake benchmark keeps its rate (contrib/bench/capture). A failed write
 * (a full disk) is counted, logged once until a write succeeds again, and
 * the request goes on as if nothing was captured. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "clock.h"
#include "fsutil.h"
#include "grow.h"
#include "http.h"
#include "io.h"
#include "log.h"
#include "metrics.h"

#define NAME_LEN 48 /* room for "20261208-002501.123456789.http" */
#define NAME_CHARS 30
#define MAX_KEEP 64
#define MAX_FILES ((size_t)1 << 24)

static const char *const redacted_headers[] = {"Cookie", "Authorization", "Proxy-Authorization",
					       "DD-API-KEY"};
static const char *const redacted_args[] = {"token", "dd-api-key"};
static const char *keep[MAX_KEEP];
static size_t nkeep;

static const struct capture_cfg *ccfg;
static uint64_t *m_requests, *m_bytes, *m_redactions, *m_drops;
static uint64_t seen;	     /* requests offered, for the sampling */
static int64_t last_name_ns; /* the newest file's name, as ns */
static int failing;	     /* a write failed and was logged; reset by a success */

/* The files in the directory, oldest first, between head and n: the
 * writer thread's alone once it runs. */
struct capfile {
	char name[NAME_LEN];
	uint64_t size;
};
static struct capfile *files;
static size_t files_head, files_n, files_cap;
static uint64_t files_bytes;

const char *capture_keep_header(const char *name)
{
	if (!*name || strpbrk(name, " \t\r\n:=&"))
		return "not a header or parameter name";
	if (nkeep == MAX_KEEP)
		return "more than 64 names";
	keep[nkeep++] = name;
	return NULL;
}

static int is_kept(const char *name, size_t n)
{
	for (size_t i = 0; i < nkeep; i++)
		if (strlen(keep[i]) == n && strncasecmp(keep[i], name, n) == 0)
			return 1;
	return 0;
}

static int in_list(const char *const *list, size_t nlist, const char *name, size_t n)
{
	for (size_t i = 0; i < nlist; i++)
		if (strlen(list[i]) == n && strncasecmp(list[i], name, n) == 0)
			return !is_kept(name, n);
	return 0;
}

/* ---- the files in the directory ---- */

static int add_file(const char *name, uint64_t size)
{
	if (files_head && files_n == files_cap) { /* slide the live ones down */
		memmove(files, files + files_head, (files_n - files_head) * sizeof *files);
		files_n -= files_head;
		files_head = 0;
	}
	if (ARRAY_RESERVE(files, files_cap, files_n + 1, MAX_FILES) < 0)
		return -1;
	snprintf(files[files_n].name, NAME_LEN, "%s", name);
	files[files_n].size = size;
	files_n++;
	files_bytes += size;
	return 0;
}

/* Removes the oldest files while there are more than max bytes. */
static void trim_files(uint64_t max)
{
	char path[4096 + NAME_LEN];
	while (files_bytes > max && files_head < files_n) {
		struct capfile *f = &files[files_head++];
		snprintf(path, sizeof path, "%s/%s", ccfg->dir, f->name);
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("--capture-dir: cannot remove %s: %s", path, strerror(errno));
		files_bytes -= f->size;
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct capfile *)a)->name, ((const struct capfile *)b)->name);
}

static int is_capture_name(const char *s)
{
	size_t n = strlen(s);
	return n == NAME_CHARS && strcmp(s + n - 5, ".http") == 0;
}

/* The files a previous run left, oldest first; its temporary files go. */
static int scan_dir(struct rum_error *err)
{
	DIR *d = opendir(ccfg->dir);
	if (!d)
		return err_set(err, "--capture-dir %s: %s", ccfg->dir, strerror(errno));
	struct dirent *e;
	struct stat st;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, ".tmp-", 5) == 0) {
			unlinkat(dirfd(d), e->d_name, 0);
			continue;
		}
		if (!is_capture_name(e->d_name) || fstatat(dirfd(d), e->d_name, &st, 0) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (add_file(e->d_name, (uint64_t)st.st_size) < 0) {
			closedir(d);
			return err_set(err, "--capture-dir %s: out of memory", ccfg->dir);
		}
	}
	closedir(d);
	if (files_n) /* qsort takes no NULL, even for nothing */
		qsort(files, files_n, sizeof *files, by_name);
	trim_files(ccfg->max_bytes);
	return 0;
}

static int writer_start(struct rum_error *err);

int capture_start(const struct capture_cfg *c, struct rum_error *err)
{
	if (!c->dir)
		return 0;
	ccfg = c;
	if (mkdir_p(c->dir, 0700) < 0)
		return err_set(err, "--capture-dir %s: %s", c->dir, strerror(errno));
	m_requests = metric_get("rum_listen_capture_requests_total", NULL, METRIC_COUNTER,
				"Requests written to --capture-dir.");
	m_bytes = metric_get("rum_listen_capture_bytes_total", NULL, METRIC_COUNTER,
			     "Bytes of the files written to --capture-dir.");
	m_redactions = metric_get("rum_listen_capture_redactions_total", NULL, METRIC_COUNTER,
				  "Header and query values redacted in captured requests.");
	m_drops = metric_get("rum_listen_capture_drops_total", NULL, METRIC_COUNTER,
			     "Sampled requests not captured (the writing thread's queue full, a "
			     "write failed, or larger than --capture-max-mb).");
	if (scan_dir(err) < 0)
		return -1;
	return writer_start(err);
}

/* ---- the message ---- */

static int add_encoded(struct buf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || strchr("-._~,:/@", ch);
		int fail = ch && plain ? buf_addc(b, (char)ch) < 0
				       : buf_addc(b, '%') < 0 || buf_addc(b, hexd[ch >> 4]) < 0 ||
					     buf_addc(b, hexd[ch & 15]) < 0;
		if (fail)
			return -1;
	}
	return 0;
}

struct head {
	struct buf *b;
	int first;
	int fail;
	unsigned redactions; /* counted once the message is queued */
};

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
			       const char *value, size_t value_size)
{
	struct head *h = cls;
	struct buf *b = h->b;
	h->fail |= buf_addc(b, h->first ? '?' : '&') < 0 || add_encoded(b, key, key_size) < 0;
	h->first = 0;
	if (!value)
		return MHD_YES;
	h->fail |= buf_addc(b, '=') < 0;
	if (in_list(redacted_args, 2, key, key_size)) {
		h->redactions++;
		h->fail |= buf_adds(b, "redacted") < 0;
	} else {
		h->fail |= add_encoded(b, value, value_size) < 0;
	}
	return MHD_YES;
}

/* Written again by us from the body we hold, or about a transport we do not
 * replay: not copied. */
static int is_framing(const char *key, size_t n)
{
	return (n == 14 && strncasecmp(key, "Content-Length", n) == 0) ||
	       (n == 17 && strncasecmp(key, "Transfer-Encoding", n) == 0) ||
	       (n == 6 && strncasecmp(key, "Expect", n) == 0) ||
	       (n == 17 && strncasecmp(key, "X-Rumpipe-Capture", n) == 0);
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
				  size_t key_size, const char *value, size_t value_size)
{
	struct head *h = cls;
	if (is_framing(key, key_size))
		return MHD_YES;
	struct buf *b = h->b;
	h->fail |= buf_add(b, key, key_size) < 0 || buf_add(b, ": ", 2) < 0;
	if (in_list(redacted_headers, 4, key, key_size)) {
		h->redactions++;
		h->fail |= buf_adds(b, "redacted") < 0;
	} else if (value) {
		h->fail |= buf_add(b, value, value_size) < 0;
	}
	h->fail |= buf_add(b, "\r\n", 2) < 0;
	return MHD_YES;
}

static const char *path_of(const struct req *r)
{
	if (r->kind == REQ_WRITE)
		return cfg.endpoints.v[r->ep];
	return cfg.replay_endpoints.v[r->ep - stats_ep_replay(0)];
}

static void peer_of(struct MHD_Connection *c, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[INET6_ADDRSTRLEN] = "unknown";
	unsigned port = 0;
	int v6 = 0;
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ci->client_addr;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ci->client_addr;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
		v6 = 1;
	}
	snprintf(out, outlen, v6 ? "[%s]:%u" : "%s:%u", host, port);
}

/* The request line and headers of r, up to the blank line. -1: out of
 * memory. */
static int build_head(struct MHD_Connection *c, const struct req *r, size_t body_len, struct buf *b,
		      unsigned *redactions)
{
	struct head h = {.b = b, .first = 1};
	char peer[INET6_ADDRSTRLEN + 16];
	peer_of(c, peer, sizeof peer);
	h.fail |= buf_adds(b, "POST ") < 0 || add_encoded(b, path_of(r), strlen(path_of(r))) < 0;
	MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, add_arg, &h);
	h.fail |= buf_printf(b, " HTTP/1.1\r\nX-Rumpipe-Capture: peer=%s; time=%lld.%06lld", peer,
			     (long long)(r->now_ns / 1000000000),
			     (long long)(r->now_ns % 1000000000 / 1000)) < 0;
	if (body_len < r->body.len)
		h.fail |= buf_printf(b, "; omitted=%zu", r->body.len) < 0;
	h.fail |= buf_adds(b, "\r\n") < 0;
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, add_header, &h);
	h.fail |= buf_printf(b, "Content-Length: %zu\r\n\r\n", body_len) < 0;
	*redactions = h.redactions;
	return h.fail ? -1 : 0;
}

/* A name later than every earlier one, from the wall clock. */
static void next_name(char *out)
{
	int64_t t = now_ns(), last = __atomic_load_n(&last_name_ns, __ATOMIC_RELAXED);
	do {
		if (t <= last)
			t = last + 1;
	} while (!__atomic_compare_exchange_n(&last_name_ns, &last, t, 0, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	time_t sec = (time_t)(t / 1000000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char day[16];
	strftime(day, sizeof day, "%Y%m%d-%H%M%S", &tm);
	snprintf(out, NAME_LEN, "%s.%09lld.http", day, (long long)(t % 1000000000));
}

static void failed(const char *what, const char *path, int e)
{
	metric_inc(m_drops);
	if (!__atomic_exchange_n(&failing, 1, __ATOMIC_RELAXED))
		log_warn("--capture-dir: cannot %s %s: %s (counted in "
			 "rum_listen_capture_drops_total; logged again after a success)",
			 what, path, strerror(e));
}

/* Writes data under name, atomically. 0, or -1 (counted). */
static int write_capture(const char *name, const char *data, size_t n)
{
	char tmp[4096 + NAME_LEN + 8], path[4096 + NAME_LEN];
	snprintf(tmp, sizeof tmp, "%s/.tmp-%s", ccfg->dir, name);
	snprintf(path, sizeof path, "%s/%s", ccfg->dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		failed("create", tmp, errno);
		return -1;
	}
	int rc = write_all(fd, data, n) < 0;
	int e = errno;
	if (close(fd) < 0 && !rc) {
		rc = 1;
		e = errno;
	}
	if (!rc && rename(tmp, path) < 0) {
		rc = 1;
		e = errno;
	}
	if (rc) {
		unlink(tmp);
		failed("write", path, e);
		return -1;
	}
	return 0;
}

/* ---- the writer thread ----
 * Creating a file costs from tens of microseconds to milliseconds on a busy
 * disk (4.6 ms measured on the loaded development machine): on the thread
 * that answers requests that would slow the intake, so the requests go
 * through a queue of at most QUEUE_MAX bytes to a thread of their own, and a
 * request that finds it full is dropped (counted) rather than waited for. */
#define QUEUE_MAX ((size_t)32 << 20)

struct capitem {
	struct capitem *next;
	size_t len;
	char name[NAME_LEN];
	char data[];
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static struct capitem *q_head, **q_tail = &q_head;
static size_t q_bytes;
static int q_stop;
static pthread_t writer;
static int writer_running;

static void write_item(struct capitem *it)
{
	if (write_capture(it->name, it->data, it->len) == 0) {
		__atomic_store_n(&failing, 0, __ATOMIC_RELAXED);
		metric_inc(m_requests);
		metric_add(m_bytes, it->len);
		if (add_file(it->name, it->len) == 0)
			trim_files(ccfg->max_bytes);
	}
}

static void *writer_main(void *arg)
{
	pthread_mutex_lock(&q_lock);
	for (;;) {
		while (!q_head && !q_stop)
			pthread_cond_wait(&q_cond, &q_lock);
		struct capitem *it = q_head;
		if (!it)
			break;
		q_head = it->next;
		if (!q_head)
			q_tail = &q_head;
		pthread_mutex_unlock(&q_lock);
		write_item(it);
		pthread_mutex_lock(&q_lock);
		q_bytes -= it->len;
		free(it);
	}
	pthread_mutex_unlock(&q_lock);
	return NULL;
}

static int writer_start(struct rum_error *err)
{
	int e = pthread_create(&writer, NULL, writer_main, NULL);
	if (e)
		return err_set(err, "--capture-dir: cannot start its thread: %s", strerror(e));
	writer_running = 1;
	return 0;
}

/* What is queued is written, then the thread ends. */
void capture_free(void)
{
	if (writer_running) {
		pthread_mutex_lock(&q_lock);
		q_stop = 1;
		pthread_cond_signal(&q_cond);
		pthread_mutex_unlock(&q_lock);
		pthread_join(writer, NULL);
		writer_running = 0;
	}
	free(files);
	files = NULL;
	files_head = files_n = files_cap = 0;
}

/* Takes len bytes of the queue: 0, or -1 when it is full. */
static int queue_reserve(size_t len)
{
	pthread_mutex_lock(&q_lock);
	int ok = q_bytes + len <= QUEUE_MAX;
	if (ok)
		q_bytes += len;
	pthread_mutex_unlock(&q_lock);
	return ok ? 0 : -1;
}

static void queue_unreserve(size_t len)
{
	pthread_mutex_lock(&q_lock);
	q_bytes -= len;
	pthread_mutex_unlock(&q_lock);
}

/* The item is named under the lock, so that the queue (and the writing)
 * follows the order of the names. */
static void queue_push(struct capitem *it)
{
	pthread_mutex_lock(&q_lock);
	next_name(it->name);
	it->next = NULL;
	*q_tail = it;
	q_tail = &it->next;
	pthread_cond_signal(&q_cond);
	pthread_mutex_unlock(&q_lock);
}

void capture_request(struct MHD_Connection *c, const struct req *r)
{
	if (!ccfg || r->too_large ||
	    __atomic_fetch_add(&seen, 1, __ATOMIC_RELAXED) % ccfg->sample != 0)
		return;
	size_t body_len = r->kind == REQ_REPLAY && !ccfg->replay_bodies ? 0 : r->body.len;
	struct buf head = {0};
	struct capitem *it = NULL;
	unsigned redactions;
	if (build_head(c, r, body_len, &head, &redactions) < 0)
		goto drop;
	size_t len = head.len + body_len;
	if (len > ccfg->max_bytes || queue_reserve(len) < 0)
		goto drop;
	it = malloc(sizeof *it + len);
	if (!it) {
		queue_unreserve(len);
		goto drop;
	}
	memcpy(it->data, head.p, head.len);
	if (body_len)
		memcpy(it->data + head.len, r->body.p, body_len);
	it->len = len;
	buf_free(&head);
	queue_push(it);
	metric_add(m_redactions, redactions);
	return;
drop:
	buf_free(&head);
	metric_inc(m_drops);
}
