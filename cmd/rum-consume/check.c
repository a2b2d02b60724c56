/* The record check of a batch on two threads (check.h). */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "check.h"

/* Below this many messages the hand-over costs more than it saves. */
#define SPLIT_MIN 32

static void check_range(struct record *rec, size_t max_line, rd_kafka_message_t **msgs, size_t from,
			size_t to, struct check_verdict *out)
{
	for (size_t i = from; i < to; i++) {
		const rd_kafka_message_t *m = msgs[i];
		struct check_verdict *v = &out[i];
		v->ok = 0;
		if (m->err || m->len > max_line)
			continue;
		const char *s = m->payload ? m->payload : "";
		/* A newline inside the record would split it in two lines. */
		if (rec_parse_line(rec, s, m->len, NULL) < 0 || memchr(rec->src, '\n', rec->len))
			continue;
		v->ok = 1;
		v->skip = (uint32_t)(rec->src - s);
		v->len = rec->len;
	}
}

static void *worker(void *arg)
{
	struct checker *k = arg;
	pthread_mutex_lock(&k->mu);
	for (;;) {
		while (!k->quit && k->done == k->posted)
			pthread_cond_wait(&k->cv, &k->mu);
		if (k->quit)
			break;
		size_t half = k->n / 2;
		pthread_mutex_unlock(&k->mu);
		check_range(&k->rec, k->max_line, k->msgs, 0, half, k->out);
		pthread_mutex_lock(&k->mu);
		k->done = k->posted;
		pthread_cond_broadcast(&k->cv);
	}
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

int checker_start(struct checker *k, size_t max_line)
{
	memset(k, 0, sizeof *k);
	k->max_line = max_line;
	if (pthread_mutex_init(&k->mu, NULL) != 0)
		return -1;
	if (pthread_cond_init(&k->cv, NULL) != 0) {
		pthread_mutex_destroy(&k->mu);
		return -1;
	}
	/* Signals are the main thread's: the worker blocks them all. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&k->thread, NULL, worker, k);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&k->cv);
		pthread_mutex_destroy(&k->mu);
		errno = rc;
		return -1;
	}
	k->running = 1;
	return 0;
}

void checker_run(struct checker *k, struct record *own, rd_kafka_message_t **msgs, size_t n,
		 struct check_verdict *out)
{
	if (!k->running || n < SPLIT_MIN) {
		check_range(own, k->max_line, msgs, 0, n, out);
		return;
	}
	pthread_mutex_lock(&k->mu);
	k->msgs = msgs;
	k->out = out;
	k->n = n;
	k->posted++;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	check_range(own, k->max_line, msgs, n / 2, n, out);
	pthread_mutex_lock(&k->mu);
	while (k->done != k->posted)
		pthread_cond_wait(&k->cv, &k->mu);
	pthread_mutex_unlock(&k->mu);
}

void checker_stop(struct checker *k)
{
	if (k->running) {
		pthread_mutex_lock(&k->mu);
		k->quit = 1;
		pthread_cond_broadcast(&k->cv);
		pthread_mutex_unlock(&k->mu);
		pthread_join(k->thread, NULL);
		pthread_cond_destroy(&k->cv);
		pthread_mutex_destroy(&k->mu);
		k->running = 0;
	}
	rec_free(&k->rec);
}
