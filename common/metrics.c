#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "io.h"
#include "log.h"

/* Entries are allocated one by one so the value cells handed out stay put;
 * the list is kept grouped by name so HELP/TYPE are written once a name. */
struct metric_entry {
	uint64_t value;
	char *name;
	char *labels;
	const char *help;
	enum metric_type type;
	struct metric_entry *next;
};

static struct metric_entry *metrics_head;
static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;

uint64_t *metric_get(const char *name, const char *labels, enum metric_type type, const char *help)
{
	if (!labels)
		labels = "";
	pthread_mutex_lock(&metrics_lock);
	struct metric_entry **link = &metrics_head, *last_same = NULL;
	for (struct metric_entry *e = metrics_head; e; e = e->next) {
		if (strcmp(e->name, name) == 0) {
			if (strcmp(e->labels, labels) == 0) {
				pthread_mutex_unlock(&metrics_lock);
				return &e->value;
			}
			last_same = e;
		}
		link = &e->next;
	}
	struct metric_entry *e = calloc(1, sizeof *e);
	if (!e || !(e->name = strdup(name)) || !(e->labels = strdup(labels)))
		die(1, "out of memory");
	e->help = help;
	e->type = type;
	if (last_same) {
		e->next = last_same->next;
		last_same->next = e;
	} else {
		*link = e;
	}
	pthread_mutex_unlock(&metrics_lock);
	return &e->value;
}

int metrics_format(struct buf *out)
{
	pthread_mutex_lock(&metrics_lock);
	const char *prev = NULL;
	for (struct metric_entry *e = metrics_head; e; e = e->next) {
		if (!prev || strcmp(prev, e->name) != 0) {
			if (e->help)
				buf_printf(out, "# HELP %s %s\n", e->name, e->help);
			buf_printf(out, "# TYPE %s %s\n", e->name,
				   e->type == METRIC_COUNTER ? "counter" : "gauge");
			prev = e->name;
		}
		buf_adds(out, e->name);
		if (*e->labels)
			buf_printf(out, "{%s}", e->labels);
		buf_addc(out, ' ');
		buf_add_u64(out, metric_read(&e->value));
		buf_addc(out, '\n');
	}
	pthread_mutex_unlock(&metrics_lock);
	return out->err ? -1 : 0;
}

int metrics_write_file(const char *path)
{
	struct buf b = BUF_INIT;
	char tmp[4096];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof tmp || metrics_format(&b) < 0) {
		buf_free(&b);
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		buf_free(&b);
		return -1;
	}
	int rc = write_all(fd, b.p, b.len);
	int saved = errno;
	if (close(fd) < 0 && rc == 0) {
		rc = -1;
		saved = errno;
	}
	buf_free(&b);
	if (rc == 0 && rename(tmp, path) < 0) {
		rc = -1;
		saved = errno;
	}
	if (rc < 0) {
		unlink(tmp);
		errno = saved;
	}
	return rc;
}

void metrics_maybe_write(const char *path, unsigned interval_ms)
{
	static uint64_t last;
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(1);
	if (!path)
		return;
	uint64_t now = mono_ms();
	if (last && now - last < interval_ms)
		return;
	last = now;
	if (metrics_write_file(path) < 0)
		log_rl(&rl, RLOG_WARN, "cannot write --metrics-file %s: %s", path, strerror(errno));
}
