/* Requests with a body in progress: their structures (kept on a free list,
 * with their body buffers, for the next requests), how many there are, and
 * how many body bytes they hold between them. Also the per-thread buffers
 * that a request's handling reuses. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "http.h"
#include "perthread.h"

#define FREE_MAX 256
#define BODY_KEEP ((size_t)256 << 10)

static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static struct req *free_reqs;
static unsigned free_count;

static unsigned inflight;
/* Bytes of request bodies held at once, across requests: --queue times
 * --max-body-mb could be a lot of memory, so past a budget new data is
 * refused with 503 instead. */
static uint64_t buffered;
static uint64_t buffered_budget;

void reqs_init(size_t max_body)
{
	buffered_budget = (uint64_t)max_body * 8;
	if (buffered_budget < ((uint64_t)256 << 20))
		buffered_budget = (uint64_t)256 << 20;
}

unsigned http_active_requests(void)
{
	return __atomic_load_n(&inflight, __ATOMIC_RELAXED);
}

int reqs_enter(unsigned max)
{
	if (__atomic_add_fetch(&inflight, 1, __ATOMIC_RELAXED) > max) {
		__atomic_sub_fetch(&inflight, 1, __ATOMIC_RELAXED);
		return -1;
	}
	return 0;
}

void reqs_leave(void)
{
	__atomic_sub_fetch(&inflight, 1, __ATOMIC_RELAXED);
}

int reqs_buffer_take(struct req *r, size_t n)
{
	if (__atomic_add_fetch(&buffered, n, __ATOMIC_RELAXED) > buffered_budget) {
		__atomic_sub_fetch(&buffered, n, __ATOMIC_RELAXED);
		return -1;
	}
	r->counted += n;
	return 0;
}

struct req *req_get(void)
{
	pthread_mutex_lock(&free_lock);
	struct req *r = free_reqs;
	if (r) {
		free_reqs = r->next;
		free_count--;
	}
	pthread_mutex_unlock(&free_lock);
	if (!r) {
		r = calloc(1, sizeof *r);
		if (!r)
			return NULL;
	}
	buf_reset(&r->body);
	r->next = NULL;
	r->too_large = 0;
	r->answered = 0;
	r->counted = 0;
	r->fd = -1;
	r->fd_len = 0;
	r->sm = NULL;
	r->refused = 0;
	r->job = NULL;
	r->conn = NULL;
	r->env_src = 0;
	return r;
}

void req_put(struct req *r)
{
	check_job_free(r->job);
	r->job = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	free(r->sm);
	r->sm = NULL;
	if (r->body.cap > BODY_KEEP)
		buf_free(&r->body);
	pthread_mutex_lock(&free_lock);
	if (free_count < FREE_MAX) {
		r->next = free_reqs;
		free_reqs = r;
		free_count++;
		r = NULL;
	}
	pthread_mutex_unlock(&free_lock);
	if (r) {
		buf_free(&r->body);
		free(r);
	}
}

void req_done(struct req *r)
{
	__atomic_sub_fetch(&buffered, r->counted, __ATOMIC_RELAXED);
	req_put(r);
	reqs_leave();
}

void reqs_free(void)
{
	while (free_reqs) {
		struct req *r = free_reqs;
		free_reqs = r->next;
		buf_free(&r->body);
		free(r);
	}
}

static void tls_destroy(void *p)
{
	struct http_tls *t = p;
	buf_free(&t->out);
	buf_free(&t->dec);
	free(t->per_meas);
	free(t);
}

static struct perthread tls_slot = PERTHREAD_INIT(struct http_tls, tls_destroy);

struct http_tls *http_tls(void)
{
	struct http_tls *t = perthread_get(&tls_slot);
	if (t && !t->per_meas) {
		t->per_meas = calloc(cfg.measurements.n + 1, sizeof *t->per_meas);
		if (!t->per_meas)
			return NULL;
	}
	return t;
}
