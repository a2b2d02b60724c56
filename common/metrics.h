/* Counters and gauges in Prometheus text format. A metric is identified by
 * its name and label string; lookups are done once at start-up (or per new
 * label value) and the returned pointer is bumped with metric_inc/metric_add,
 * which are atomic, so any thread may count. */
#ifndef RUM_METRICS_H
#define RUM_METRICS_H

#include <stdint.h>

#include "buf.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE };

/* name: e.g. "rum_listen_requests_total"; labels: NULL or e.g.
 * "endpoint=\"/v1/write/rum\",code=\"200\"". Returns the value cell (never
 * NULL: exits on allocation failure, which at start-up is fatal anyway). */
uint64_t *metric_get(const char *name, const char *labels, enum metric_type type, const char *help);

static inline void metric_add(uint64_t *m, uint64_t n)
{
	__atomic_fetch_add(m, n, __ATOMIC_RELAXED);
}
static inline void metric_inc(uint64_t *m)
{
	__atomic_fetch_add(m, 1, __ATOMIC_RELAXED);
}
static inline void metric_set(uint64_t *m, uint64_t v)
{
	__atomic_store_n(m, v, __ATOMIC_RELAXED);
}
static inline uint64_t metric_read(const uint64_t *m)
{
	return __atomic_load_n(m, __ATOMIC_RELAXED);
}

/* Append every metric in text exposition format. */
int metrics_format(struct buf *out);
/* Write to path atomically (temporary file in the same directory, rename). */
int metrics_write_file(const char *path);
/* Write to path when at least interval_ms passed since the last write;
 * path NULL does nothing. */
void metrics_maybe_write(const char *path, unsigned interval_ms);

#endif
