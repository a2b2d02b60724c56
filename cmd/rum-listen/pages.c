/* The pages rum-listen serves itself: /v1/ping (DataKit's answer, with our
 * version and uptime) and /metrics (our counters, and other programs'
 * textfile counters from --metrics-dir). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"
#include "metrics.h"
#include "opts.h"

#define PROM_FILE_MAX ((size_t)1 << 20)

static uint64_t started_ms;

void pages_init(void)
{
	started_ms = mono_ms();
}

enum MHD_Result ping(struct MHD_Connection *c)
{
	long up = (long)((mono_ms() - started_ms) / 1000);
	char body[160];
	int n;
	if (up >= 3600)
		n = snprintf(body, sizeof body,
			     "{\"content\":{\"version\":\"%s\",\"uptime\":\"%ldh%ldm%lds\"}}",
			     RUM_VERSION, up / 3600, up / 60 % 60, up % 60);
	else if (up >= 60)
		n = snprintf(body, sizeof body,
			     "{\"content\":{\"version\":\"%s\",\"uptime\":\"%ldm%lds\"}}",
			     RUM_VERSION, up / 60, up % 60);
	else
		n = snprintf(body, sizeof body,
			     "{\"content\":{\"version\":\"%s\",\"uptime\":\"%lds\"}}", RUM_VERSION,
			     up);
	return send_body(c, stats_ep_ping(), 200, "application/json", body, (size_t)n, 1);
}
static int prom_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".prom") == 0;
}

/* Other programs' textfile counters, as node_exporter's textfile collector
 * serves them. Files that vanish or cannot be read are skipped. */
static void add_prom_files(struct buf *b)
{
	int dfd = open(cfg.metrics_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	struct dirent **names;
	int n = scandirat(dfd, ".", &names, prom_filter, alphasort);
	for (int i = 0; i < n; i++) {
		int fd = openat(dfd, names[i]->d_name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		free(names[i]);
		if (fd < 0)
			continue;
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			size_t start = b->len, got = 0;
			while (got < PROM_FILE_MAX && buf_reserve(b, 65536) == 0) {
				ssize_t r = read(fd, b->p + b->len, 65536);
				if (r < 0 && errno == EINTR)
					continue;
				if (r <= 0)
					break;
				b->len += (size_t)r;
				got += (size_t)r;
			}
			if (b->len > start && b->p[b->len - 1] != '\n')
				buf_addc(b, '\n');
		}
		close(fd);
	}
	if (n >= 0)
		free(names);
	close(dfd);
}

enum MHD_Result metrics_page(struct MHD_Connection *c)
{
	struct buf b = BUF_INIT;
	/* Counted before formatting so that this request shows itself. */
	stats_refresh();
	metrics_format(&b);
	if (cfg.metrics_dir)
		add_prom_files(&b);
	enum MHD_Result rc =
	    b.err ? send_error(c, stats_ep_metrics(), 500, "rum.internal", 0, "out of memory")
		  : send_body(c, stats_ep_metrics(), 200, "text/plain; version=0.0.4",
			      b.p ? b.p : "", b.len, 0);
	buf_free(&b);
	return rc;
}
