/* The ring of held records, the lookups in flight and the c-ares event loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fsutil.h"
#include "metrics.h"
#include "opts.h"
#include "sig.h"
#include "stage.h"

#define NONE UINT64_MAX
#define NIL UINT32_MAX
/* Bytes of records held at most (one record of any size always fits). */
#define PENDING_BYTES ((size_t)16 << 20)
#define METRICS_EVERY_MS 2000
/* While input flows without a pause, the answers are looked at every this
 * many lines. */
#define STEP_EVERY 16

enum pstate { P_PASS, P_READY, P_WAIT };

struct pend {
	uint64_t off; /* stream offset of the line in s->bytes */
	size_t len;
	uint64_t deadline_ms;
	uint64_t next_waiter; /* the next record waiting on the same lookup */
	const struct cdn_provider *prov;
	uint32_t lookup;
	uint8_t state, type;
};

struct lookup {
	struct stage *s;
	uint32_t idx, hnext, hash;
	uint64_t first, last; /* records waiting, oldest first */
	size_t host_len;
	char host[HOST_MAX];
};

/* ---- the dictionary ---- */

struct cdn_map *stage_load_map(const char *arg, struct rum_error *err)
{
	const char *text, *what;
	size_t len;
	struct buf file = BUF_INIT;
	const char *a = arg;
	while (a && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r'))
		a++;
	if (!a || !*a) {
		text = cdnmap_builtin;
		len = cdnmap_builtin_len;
		what = "the built-in map";
	} else if (*a == '[') {
		text = arg;
		len = strlen(arg);
		what = "--cdn-map (JSON)";
	} else {
		if (read_file(arg, CDNMAP_MAX_BYTES, &file, err) < 0) {
			buf_free(&file);
			err_prefix(err, "--cdn-map '%s'", arg);
			return NULL;
		}
		text = file.p ? file.p : "";
		len = file.len;
		what = NULL;
	}
	struct rum_error e;
	struct cdn_map *m = cdnmap_parse(text, len, &e);
	buf_free(&file);
	if (!m) {
		if (what)
			err_set(err, "%s: line %zu, column %zu (byte %zu): %s", what, e.line,
				e.column, e.offset, e.msg);
		else
			err_set(err, "--cdn-map '%s': line %zu, column %zu (byte %zu): %s", arg,
				e.line, e.column, e.offset, e.msg);
	}
	return m;
}

static void free_retired(struct stage *s)
{
	for (int i = 0; i < s->nretired; i++)
		cdnmap_free(s->retired[i]);
	s->nretired = 0;
}

void stage_reload(struct stage *s)
{
	sig_hup = 0;
	/* Records held may name providers of every map retired so far. */
	if (s->head != s->tail && s->nretired == MAX_RETIRED) {
		s->reload_wanted = 1;
		return;
	}
	s->reload_wanted = 0;
	struct rum_error err;
	struct cdn_map *m = stage_load_map(s->cfg.map_arg, &err);
	if (!m) {
		metric_inc(s->m_reload_failures);
		log_error("cannot reload the map; keeping the one in use: %s", err.msg);
		return;
	}
	if (s->head == s->tail)
		cdnmap_free(s->map);
	else
		s->retired[s->nretired++] = s->map;
	s->map = m;
	s->map_gen++;
	metric_inc(s->m_reloads);
	log_info("map reloaded: %zu entries", cdnmap_count(m));
}

/* ---- output ---- */

static int write_record(struct stage *s, const struct record *r, enum cdn_type type,
			const struct cdn_provider *prov)
{
	metric_inc(s->m_types[type]);
	if (prov)
		metric_inc(s->m_matches);
	if (cdn_write_record(r, &s->edit, type, prov, &s->out.b) < 0) {
		s->out.err = ENOMEM;
		return -1;
	}
	if (s->out.b.len >= s->out.flush_at)
		return out_flush(&s->out);
	return 0;
}

static int write_raw(struct stage *s, const char *line, size_t len)
{
	if (out_write(&s->out, line, len) < 0 || out_write(&s->out, "\n", 1) < 0)
		return -1;
	return 0;
}

static int write_pend(struct stage *s, const struct pend *p)
{
	const char *line = s->bytes.p + (p->off - s->bytes_base);
	if (p->state == P_PASS)
		return write_raw(s, line, p->len);
	struct rum_error err;
	if (rec_parse_line(&s->rec_out, line, p->len, &err) < 0) {
		/* It parsed when it came: only memory can fail now. */
		s->out.err = ENOMEM;
		return -1;
	}
	return write_record(s, &s->rec_out, p->type, p->prov);
}

static size_t ring_count(const struct stage *s)
{
	return (size_t)(s->tail - s->head);
}

/* Records at the head whose answer is in (or whose time is up) leave. */
static int emit_ready(struct stage *s)
{
	if (s->head == s->tail)
		return 0;
	uint64_t now = mono_ms();
	while (s->head != s->tail) {
		struct pend *p = &s->ring[s->head & s->ring_mask];
		if (p->state == P_WAIT) {
			if (now < p->deadline_ms)
				break;
			/* The oldest record is first in its lookup's list. */
			struct lookup *l = &s->lk[p->lookup];
			l->first = p->next_waiter;
			if (l->first == NONE)
				l->last = NONE;
			metric_inc(s->m_fail[FAIL_DEADLINE]);
			p->state = P_READY;
			p->type = CDN_UNKNOWN;
			p->prov = NULL;
		}
		if (write_pend(s, p) < 0)
			return -1;
		s->head++;
	}
	if (s->head == s->tail) {
		s->bytes_base += s->bytes.len;
		s->bytes.len = 0;
		/* A huge record held once (a session replay behind a lookup)
		 * need not stay allocated. */
		if (s->bytes.cap > PENDING_BYTES)
			buf_free(&s->bytes);
		free_retired(s);
		if (s->reload_wanted)
			stage_reload(s);
	} else {
		size_t used = (size_t)(s->ring[s->head & s->ring_mask].off - s->bytes_base);
		if (used > ((size_t)1 << 20) && used > s->bytes.len / 2) {
			memmove(s->bytes.p, s->bytes.p + used, s->bytes.len - used);
			s->bytes.len -= used;
			s->bytes_base += used;
		}
	}
	return 0;
}

static struct pend *enqueue(struct stage *s, const char *line, size_t len, enum pstate st)
{
	if (buf_add(&s->bytes, line, len) < 0)
		return NULL;
	struct pend *p = &s->ring[s->tail & s->ring_mask];
	memset(p, 0, sizeof *p);
	p->off = s->bytes_base + s->bytes.len - len;
	p->len = len;
	p->state = (uint8_t)st;
	p->next_waiter = NONE;
	s->tail++;
	return p;
}

/* ---- lookups ---- */

static struct lookup *lookup_find(struct stage *s, const char *host, size_t n, uint32_t hash)
{
	for (uint32_t i = s->lk_buckets[hash & s->lk_mask]; i != NIL; i = s->lk[i].hnext) {
		struct lookup *l = &s->lk[i];
		if (l->hash == hash && l->host_len == n && memcmp(l->host, host, n) == 0)
			return l;
	}
	return NULL;
}

static void lookup_release(struct stage *s, struct lookup *l)
{
	uint32_t *pp = &s->lk_buckets[l->hash & s->lk_mask];
	while (*pp != l->idx)
		pp = &s->lk[*pp].hnext;
	*pp = l->hnext;
	s->lk_free[s->nfree++] = l->idx;
	s->inflight--;
}

static const struct cdn_provider *entry_provider(struct stage *s, struct cache_ent *e)
{
	if (e->type == CDN_UNKNOWN)
		return NULL;
	if (e->map_gen != s->map_gen) {
		e->prov = cdnmap_match(s->map, e->str + e->host_len + 1, e->canon_len);
		e->map_gen = s->map_gen;
	}
	return e->prov;
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *l = arg;
	struct stage *s = l->s;
	static struct cdn_answer a;
	(void)timeouts;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		a.type = CDN_UNKNOWN;
		a.fail = FAIL_ERROR;
		a.canon_len = 0;
	} else {
		cdn_answer_read(l->host, l->host_len, status, abuf, alen, &a);
	}
	const struct cdn_provider *prov = NULL;
	if (a.type != CDN_UNKNOWN)
		prov = cdnmap_match(s->map, a.canon, a.canon_len);
	else
		metric_inc(s->m_fail[a.fail]);
	if (status != ARES_EDESTRUCTION && status != ARES_ECANCELLED) {
		uint64_t ttl = a.type == CDN_UNKNOWN ? s->cfg.negative_ttl_s : s->cfg.cache_ttl_s;
		struct cache_ent *e = ttl ? cache_put(&s->cache, l->host, l->host_len, l->hash,
						      a.canon, a.canon_len, mono_ms() + ttl * 1000)
					  : NULL;
		if (e) {
			e->type = (uint8_t)a.type;
			e->fail = (uint8_t)a.fail;
			e->prov = prov;
			e->map_gen = s->map_gen;
		}
	}
	log_debug("%s: %s: %s%s%s (%s)", l->host, ares_strerror(status), cdn_type_names[a.type],
		  a.canon_len ? " " : "", a.canon,
		  a.type == CDN_UNKNOWN ? cdn_fail_names[a.fail]
		  : prov		? prov->name
					: "-");
	for (uint64_t w = l->first; w != NONE;) {
		struct pend *p = &s->ring[w & s->ring_mask];
		w = p->next_waiter;
		p->state = P_READY;
		p->type = (uint8_t)a.type;
		p->prov = prov;
	}
	lookup_release(s, l);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct stage *s = data;
	int i;
	for (i = 0; i < s->nafd && s->afd[i].fd != fd; i++)
		;
	if (!readable && !writable) {
		if (i < s->nafd)
			s->afd[i] = s->afd[--s->nafd];
		return;
	}
	if (i == s->nafd) {
		if (s->nafd == MAX_ARES_FDS) {
			log_error("more than %d resolver sockets; some answers will time out",
				  MAX_ARES_FDS);
			return;
		}
		s->nafd++;
	}
	s->afd[i].fd = fd;
	s->afd[i].r = readable;
	s->afd[i].w = writable;
}

/* Wait up to max_ms for an answer, the head's deadline or (watch_in) input,
 * then handle what came. 1: input is readable; 0; -1: output failed. */
static int event_step(struct stage *s, int watch_in, uint64_t max_ms)
{
	if (max_ms && out_flush(&s->out) < 0)
		return -1;
	struct pollfd pfd[MAX_ARES_FDS + 1];
	int n = 0;
	if (watch_in)
		pfd[n++] = (struct pollfd){.fd = s->lr.fd, .events = POLLIN};
	int first_ares = n;
	for (int i = 0; i < s->nafd; i++)
		pfd[n++] = (struct pollfd){
		    .fd = s->afd[i].fd,
		    .events = (short)((s->afd[i].r ? POLLIN : 0) | (s->afd[i].w ? POLLOUT : 0))};
	uint64_t wait = max_ms < METRICS_EVERY_MS ? max_ms : METRICS_EVERY_MS;
	if (wait && s->head != s->tail) {
		const struct pend *p = &s->ring[s->head & s->ring_mask];
		if (p->state != P_WAIT) {
			wait = 0;
		} else {
			uint64_t now = mono_ms();
			uint64_t left = p->deadline_ms > now ? p->deadline_ms - now : 0;
			if (left < wait)
				wait = left;
		}
	}
	if (wait && s->inflight) {
		struct timeval tv;
		struct timeval *t = ares_timeout(s->ch, NULL, &tv);
		if (t) {
			uint64_t ms =
			    (uint64_t)t->tv_sec * 1000 + (uint64_t)(t->tv_usec + 999) / 1000;
			if (ms < wait)
				wait = ms;
		}
	}
	int r = poll(pfd, (nfds_t)n, (int)wait);
	int in_ready = 0, processed = 0;
	if (r > 0) {
		if (watch_in && pfd[0].revents)
			in_ready = 1;
		for (int i = first_ares; i < n; i++) {
			short ev = pfd[i].revents;
			if (!ev)
				continue;
			ares_process_fd(s->ch,
					ev & (POLLIN | POLLERR | POLLHUP | POLLNVAL)
					    ? pfd[i].fd
					    : ARES_SOCKET_BAD,
					ev & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
			processed = 1;
		}
	}
	if (!processed && s->inflight)
		ares_process_fd(s->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
	if (emit_ready(s) < 0)
		return -1;
	if (common_opts.metrics_file) {
		stage_write_metrics(s, 0);
	}
	return in_ready;
}

void stage_write_metrics(struct stage *s, int now)
{
	metric_set(s->m_inflight, s->inflight);
	metric_set(s->m_pending, ring_count(s));
	metric_set(s->m_cache_entries, s->cache.n);
	metric_set(s->m_map_entries, cdnmap_count(s->map));
	if (!common_opts.metrics_file)
		return;
	if (now) {
		if (metrics_write_file(common_opts.metrics_file) < 0)
			log_warn("cannot write --metrics-file %s: %s", common_opts.metrics_file,
				 strerror(errno));
	} else {
		metrics_maybe_write(common_opts.metrics_file, METRICS_EVERY_MS);
	}
}

void stage_idle(void *ctx)
{
	struct stage *s = ctx;
	for (;;) {
		if (sig_term)
			s->finish(s);
		if (sig_hup)
			stage_reload(s);
		if (event_step(s, 1, METRICS_EVERY_MS) != 0)
			return; /* input, or an output error the caller will meet */
	}
}

void stage_drain(struct stage *s)
{
	while (s->head != s->tail)
		if (event_step(s, 0, METRICS_EVERY_MS) < 0)
			return;
	out_flush(&s->out);
}

/* ---- records ---- */

static int pass(struct stage *s, const char *line, size_t len)
{
	if (s->head == s->tail || !s->cfg.keep_order)
		return write_raw(s, line, len);
	if (!enqueue(s, line, len, P_PASS)) {
		s->out.err = ENOMEM;
		return -1;
	}
	return 0;
}

static int emit_answered(struct stage *s, const char *line, size_t len, enum cdn_type type,
			 const struct cdn_provider *prov)
{
	if (s->head == s->tail || !s->cfg.keep_order)
		return write_record(s, &s->rec, type, prov);
	struct pend *p = enqueue(s, line, len, P_READY);
	if (!p) {
		s->out.err = ENOMEM;
		return -1;
	}
	p->type = (uint8_t)type;
	p->prov = prov;
	return 0;
}

static int wait_on(struct stage *s, const char *line, size_t len, struct lookup *l,
		   uint64_t deadline)
{
	struct pend *p = enqueue(s, line, len, P_WAIT);
	if (!p) {
		s->out.err = ENOMEM;
		return -1;
	}
	p->lookup = l->idx;
	p->deadline_ms = deadline;
	uint64_t seq = s->tail - 1;
	if (l->last != NONE)
		s->ring[l->last & s->ring_mask].next_waiter = seq;
	else
		l->first = seq;
	l->last = seq;
	return 0;
}

static int ring_full(const struct stage *s)
{
	return s->head != s->tail &&
	       (ring_count(s) >= s->cfg.max_pending || s->bytes.len >= PENDING_BYTES);
}

int stage_line(struct stage *s, const char *line, size_t len)
{
	if (sig_hup)
		stage_reload(s);
	struct rum_error err;
	if (rec_parse_line(&s->rec, line, len, &err) < 0) {
		metric_inc(s->m_bad_record);
		log_rl(&s->rl_bad, RLOG_WARN, "line %" PRIu64 ": %s (at byte %zu); dropped",
		       s->lr.lineno, err.msg, err.offset);
		return 0;
	}
	metric_inc(s->m_records);
	/* Room first: nothing below waits once a lookup is chosen. */
	while (ring_full(s))
		if (event_step(s, 0, METRICS_EVERY_MS) < 0)
			return -1;
	int rc;
	const char *h;
	size_t hn;
	if (!cdn_record_host(&s->rec, &s->scratch, &h, &hn)) {
		metric_inc(s->m_no_host);
		rc = pass(s, line, len);
		goto out;
	}
	char host[HOST_MAX];
	size_t hl = 0;
	enum host_kind k = cdn_host_parse(h, hn, host, &hl);
	metric_inc(s->m_hosts[k]);
	if (k != HOST_NAME) {
		rc = emit_answered(s, line, len, CDN_UNKNOWN, NULL);
		goto out;
	}
	uint32_t hash = cache_hash(host, hl);
	uint64_t deadline = mono_ms() + s->cfg.dns_timeout_ms;
	for (;;) {
		uint64_t now = mono_ms();
		struct cache_ent *e = cache_get(&s->cache, host, hl, hash, now);
		if (e) {
			metric_inc(s->m_cache_hits);
			rc = emit_answered(s, line, len, (enum cdn_type)e->type,
					   entry_provider(s, e));
			break;
		}
		struct lookup *l = lookup_find(s, host, hl, hash);
		if (l) {
			metric_inc(s->m_joined);
			rc = wait_on(s, line, len, l, deadline);
			break;
		}
		if (s->nfree) {
			l = &s->lk[s->lk_free[--s->nfree]];
			s->inflight++;
			memcpy(l->host, host, hl + 1);
			l->host_len = hl;
			l->hash = hash;
			l->first = l->last = NONE;
			l->hnext = s->lk_buckets[hash & s->lk_mask];
			s->lk_buckets[hash & s->lk_mask] = l->idx;
			/* Waiting before the query: c-ares may answer at once. */
			rc = wait_on(s, line, len, l, deadline);
			metric_inc(s->m_lookups);
			ares_query(s->ch, l->host, 1 /* IN */, 1 /* A */, on_answer, l);
			break;
		}
		if (now >= deadline) {
			metric_inc(s->m_fail[FAIL_DEADLINE]);
			rc = emit_answered(s, line, len, CDN_UNKNOWN, NULL);
			break;
		}
		/* Every lookup slot is busy: wait for one. */
		if (event_step(s, 0, deadline - now) < 0)
			return -1;
	}
out:
	if (rc == 0 && (s->inflight || s->head != s->tail) && ++s->since_step >= STEP_EVERY) {
		s->since_step = 0;
		if (event_step(s, 0, 0) < 0)
			return -1;
	}
	return rc;
}

/* ---- set-up ---- */

/* IP[:PORT] items, comma separated, as c-ares' "host:port" list. */
static const char *servers_csv(const char *arg, struct buf *csv)
{
	const char *p = arg;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char item[80], addr[80];
		const char *port = NULL;
		if (n == 0 || n >= sizeof item)
			return "not IP[:PORT]";
		memcpy(item, p, n);
		item[n] = 0;
		unsigned char tmp[16];
		int v6;
		if (item[0] == '[') {
			char *close = strchr(item, ']');
			if (!close || (close[1] && close[1] != ':'))
				return "not IP[:PORT]";
			*close = 0;
			snprintf(addr, sizeof addr, "%s", item + 1);
			port = close[1] ? close + 2 : NULL;
			v6 = 1;
		} else {
			char *c = strchr(item, ':');
			if (c && strchr(c + 1, ':')) {
				snprintf(addr, sizeof addr, "%s", item);
				v6 = 1;
			} else {
				if (c) {
					*c = 0;
					port = c + 1;
				}
				snprintf(addr, sizeof addr, "%s", item);
				v6 = 0;
			}
		}
		if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, tmp) != 1)
			return "not an IP address";
		uint64_t pv = 53;
		if (port && opt_u64(port, 1, 65535, &pv))
			return "port not in 1..65535";
		if (csv->len)
			buf_addc(csv, ',');
		buf_printf(csv, v6 ? "[%s]:%" PRIu64 : "%s:%" PRIu64, addr, pv);
		p += n;
		if (*p == ',')
			p++;
	}
	if (!csv->len)
		return "no address";
	return csv->err ? "out of memory" : NULL;
}

/* c-ares and its channel. */
static int start_resolver(struct stage *s, struct rum_error *err)
{
	const struct stage_config *c = &s->cfg;
	int r = ares_library_init(ARES_LIB_INIT_ALL);
	if (r != ARES_SUCCESS)
		return err_set(err, "cannot start c-ares: %s", ares_strerror(r));
	struct ares_options o;
	memset(&o, 0, sizeof o);
	/* c-ares doubles the wait after each round: t + 2t = --dns-timeout, so
	 * a lookup ends about when the records waiting for it leave. */
	o.timeout = (int)(c->dns_timeout_ms / 3 ? c->dns_timeout_ms / 3 : 1);
	o.tries = 2;
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = s;
	r = ares_init_options(&s->ch, &o,
			      ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
	if (r != ARES_SUCCESS)
		return err_set(err, "cannot start the resolver: %s", ares_strerror(r));
	return 0;
}

int stage_set_dns_servers(struct stage *s, struct rum_error *err)
{
	const char *arg = s->cfg.dns_server;
	if (!arg || !*arg)
		return 0;
	struct buf csv = BUF_INIT;
	const char *why = servers_csv(arg, &csv);
	int r = why ? ARES_SUCCESS : ares_set_servers_ports_csv(s->ch, buf_cstr(&csv));
	buf_free(&csv);
	if (why)
		return err_set(err, "--dns-server '%s': %s", arg, why);
	if (r != ARES_SUCCESS)
		return err_set(err, "--dns-server '%s': %s", arg, ares_strerror(r));
	return 0;
}

/* The cache, the lookup slots and their hash buckets, the ring. */
static int alloc_tables(struct stage *s, struct rum_error *err)
{
	const struct stage_config *c = &s->cfg;
	if (cache_init(&s->cache, (uint32_t)c->cache_size) < 0)
		return err_set(err, "out of memory");
	uint32_t nl = (uint32_t)c->max_inflight;
	s->lk = calloc(nl, sizeof *s->lk);
	s->lk_free = calloc(nl, sizeof *s->lk_free);
	uint32_t nb = 16;
	while (nb < nl * 2)
		nb *= 2;
	s->lk_buckets = malloc(nb * sizeof *s->lk_buckets);
	size_t rc = 16;
	while (rc < c->max_pending)
		rc *= 2;
	s->ring = calloc(rc, sizeof *s->ring);
	if (!s->lk || !s->lk_free || !s->lk_buckets || !s->ring)
		return err_set(err, "out of memory");
	memset(s->lk_buckets, 0xFF, nb * sizeof *s->lk_buckets);
	s->lk_mask = nb - 1;
	for (uint32_t i = 0; i < nl; i++) {
		s->lk[i].s = s;
		s->lk[i].idx = i;
		s->lk_free[i] = nl - 1 - i;
	}
	s->nfree = nl;
	s->ring_mask = rc - 1;
	return 0;
}

static void register_metrics(struct stage *s)
{
	s->m_records = metric_get("rum_cdn_records_total", NULL, METRIC_COUNTER,
				  "Valid records read from standard input.");
	s->m_bad_record = metric_get("rum_cdn_invalid_lines_total", "reason=\"record\"",
				     METRIC_COUNTER, "Input lines dropped as invalid, by reason.");
	s->m_bad_long =
	    metric_get("rum_cdn_invalid_lines_total", "reason=\"too_long\"", METRIC_COUNTER, NULL);
	s->m_no_host =
	    metric_get("rum_cdn_passed_total", NULL, METRIC_COUNTER,
		       "Records passed byte for byte: not resource records, or without a "
		       "resource_url_host.");
	static const char *const kinds[3] = {"kind=\"name\"", "kind=\"ip\"", "kind=\"invalid\""};
	for (int i = 0; i < 3; i++)
		s->m_hosts[i] =
		    metric_get("rum_cdn_hosts_total", kinds[i], METRIC_COUNTER,
			       "Resource records by their host: a domain name (looked up), an IP "
			       "literal or not a valid name (both unknown, nothing sent).");
	s->m_cache_hits = metric_get("rum_cdn_cache_hits_total", NULL, METRIC_COUNTER,
				     "Records answered from the cache (answers and failures).");
	s->m_lookups = metric_get("rum_cdn_lookups_total", NULL, METRIC_COUNTER,
				  "DNS lookups started (one per host however many records wait).");
	s->m_joined =
	    metric_get("rum_cdn_lookups_shared_total", NULL, METRIC_COUNTER,
		       "Records that waited on a lookup of their host already in flight.");
	for (int i = 1; i < FAIL_N; i++) {
		char l[48];
		snprintf(l, sizeof l, "kind=\"%s\"", cdn_fail_names[i]);
		s->m_fail[i] = metric_get("rum_cdn_failures_total", l, METRIC_COUNTER,
					  "Lookups that failed, by kind; deadline: records that "
					  "left unknown after --dns-timeout.");
	}
	static const char *const types[3] = {"type=\"unknown\"", "type=\"first-party\"",
					     "type=\"CDN\""};
	for (int i = 0; i < 3; i++)
		s->m_types[i] = metric_get("rum_cdn_provider_types_total", types[i], METRIC_COUNTER,
					   "Records written, by provider_type.");
	s->m_matches = metric_get("rum_cdn_matches_total", NULL, METRIC_COUNTER,
				  "Records whose canonical name matched the CDN map.");
	s->m_inflight =
	    metric_get("rum_cdn_inflight", NULL, METRIC_GAUGE, "DNS lookups in flight.");
	s->m_pending = metric_get("rum_cdn_pending_records", NULL, METRIC_GAUGE,
				  "Records held waiting for an answer (or behind one that is).");
	s->m_cache_entries =
	    metric_get("rum_cdn_cache_entries", NULL, METRIC_GAUGE, "Hosts in the cache.");
	s->m_map_entries =
	    metric_get("rum_cdn_map_entries", NULL, METRIC_GAUGE, "Entries of the CDN map in use.");
	s->m_reloads =
	    metric_get("rum_cdn_reloads_total", NULL, METRIC_COUNTER, "Map reloads on SIGHUP.");
	s->m_reload_failures = metric_get("rum_cdn_reload_failures_total", NULL, METRIC_COUNTER,
					  "Reloads that failed (the map in use was kept).");
}

int stage_init(struct stage *s, struct rum_error *err)
{
	rec_edit_init(&s->edit);
	s->rl_bad = (struct log_ratelimit)LOG_RATELIMIT_INIT(5);
	s->map_gen = 1;
	if (start_resolver(s, err) < 0 || alloc_tables(s, err) < 0)
		return -1;
	register_metrics(s);
	return 0;
}

void stage_free(struct stage *s)
{
	if (s->ch)
		ares_destroy(s->ch);
	s->ch = NULL;
	ares_library_cleanup();
	cache_free(&s->cache);
	free_retired(s);
	cdnmap_free(s->map);
	s->map = NULL;
	free(s->lk);
	free(s->lk_free);
	free(s->lk_buckets);
	free(s->ring);
	buf_free(&s->bytes);
	rec_free(&s->rec);
	rec_free(&s->rec_out);
	rec_edit_free(&s->edit);
	buf_free(&s->scratch);
	lr_free(&s->lr);
	out_free(&s->out);
}
