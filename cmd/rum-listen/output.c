/* Where accepted records go: straight to stdout, one write per request under
 * a lock so that requests never interleave; or, with --spool-dir, into the
 * disk queue (one entry per request) from which a consumer thread copies them
 * to stdout and acknowledges each entry once written. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dq.h"
#include "io.h"
#include "listen.h"
#include "log.h"

volatile int output_failed;

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dq *spool;
static pthread_t consumer;
static int consumer_running;
static volatile int consumer_stop; /* 1: drain then stop; 2: stop now */
static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t drain_cond = PTHREAD_COND_INITIALIZER;
static int consumer_done;

struct dq *output_spool(void)
{
	return spool;
}

static void write_failed(int err)
{
	if (!output_failed)
		log_error("writing to stdout: %s; stopping", strerror(err));
	output_failed = 1;
}

static int stdout_write(const char *p, size_t n)
{
	if (output_failed)
		return -1;
	pthread_mutex_lock(&out_lock);
	int rc = write_all(STDOUT_FILENO, p, n);
	int err = errno;
	pthread_mutex_unlock(&out_lock);
	if (rc < 0)
		write_failed(err);
	return rc;
}

/* Entries are copied out in batches: one write(2) and one acknowledgement
 * for up to BATCH bytes. A crash repeats at most the batch in hand. */
#define BATCH ((size_t)256 << 10)

static void *consume(void *arg)
{
	(void)arg;
	struct buf entry = BUF_INIT, batch = BUF_INIT;
	while (consumer_stop != 2 && !output_failed) {
		struct dq_pos next, last = {0, 0};
		int rc = 0, got = 0;
		buf_reset(&batch);
		while (batch.len < BATCH && (rc = dq_read(spool, &entry, &next)) == 1) {
			if (buf_add(&batch, entry.p, entry.len) < 0) {
				rc = -1;
				errno = ENOMEM;
				break;
			}
			last = next;
			got = 1;
		}
		if (rc < 0) {
			log_error("reading the spool: %s", strerror(errno));
			output_failed = 1;
			break;
		}
		if (!got) {
			if (consumer_stop)
				break;
			dq_sync_due(spool); /* --fsync interval:MS, input paused */
			dq_wait(spool, 200);
			continue;
		}
		if (stdout_write(batch.p, batch.len) < 0)
			break;
		if (dq_ack(spool, last) < 0) {
			log_error("acknowledging the spool: %s", strerror(errno));
			output_failed = 1;
			break;
		}
		if (entry.cap > ((size_t)4 << 20))
			buf_free(&entry);
		if (batch.cap > ((size_t)4 << 20))
			buf_free(&batch);
	}
	buf_free(&entry);
	buf_free(&batch);
	pthread_mutex_lock(&drain_lock);
	consumer_done = 1;
	pthread_cond_broadcast(&drain_cond);
	pthread_mutex_unlock(&drain_lock);
	return NULL;
}

int output_start(void)
{
	if (!cfg.spool_dir)
		return 0;
	struct rum_error err;
	if (dq_open(&spool, cfg.spool_dir, cfg.spool_capacity_mb << 20, &err) < 0) {
		log_error("--spool-dir %s: %s", cfg.spool_dir, err.msg);
		return -1;
	}
	struct dq_stats st;
	dq_get_stats(spool, &st);
	if (st.entries)
		log_info("spool %s holds %llu requests from before; sending them first",
			 cfg.spool_dir, (unsigned long long)st.entries);
	if (pthread_create(&consumer, NULL, consume, NULL) != 0) {
		log_error("cannot start the spool consumer");
		dq_close(spool);
		spool = NULL;
		return -1;
	}
	consumer_running = 1;
	return 0;
}

int output_emit(const char *p, size_t n)
{
	if (!spool)
		return stdout_write(p, n);
	if (output_failed)
		return -1;
	if (dq_push(spool, p, n) < 0) {
		log_error("writing to the spool: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void output_stop(int timeout_ms)
{
	if (!consumer_running)
		return;
	consumer_stop = 1;
	dq_wake(spool);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&drain_lock);
	while (!consumer_done)
		if (pthread_cond_timedwait(&drain_cond, &drain_lock, &until) == ETIMEDOUT)
			break;
	int done = consumer_done;
	pthread_mutex_unlock(&drain_lock);
	if (!done) {
		/* stdout does not take data: what is left stays in the spool
		 * and goes out at the next start. The consumer may be blocked
		 * in write(2); it is left behind, and the queue with it. */
		struct dq_stats st;
		dq_get_stats(spool, &st);
		log_warn(
		    "stdout is not draining; %llu requests stay in the spool for the next start",
		    (unsigned long long)st.entries);
		consumer_stop = 2;
		return;
	}
	pthread_join(consumer, NULL);
	consumer_running = 0;
	dq_close(spool);
	spool = NULL;
}
