/* The mappers of other browser SDKs' bodies into records (SDK-MAPPING.md):
 * Datadog's NDJSON events (datadog.c) and Faro's JSON payloads (faro.c).
 * All or nothing, as the Guance intake: the first bad event fails the
 * request and the caller emits none of it. Depend on listen.h's cfg
 * (--measurements, --app-id-allow, --global-tags, --time-correction) and
 * common/ only, so the fuzz targets link them alone. */
#ifndef RUM_DATADOG_H
#define RUM_DATADOG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "listen.h"
#include "webtags.h"

/* The event types counted (rum_listen_sdk_events_total). */
enum sdk_type {
	ST_VIEW,
	ST_RESOURCE,
	ST_ACTION,
	ST_LONG_TASK,
	ST_ERROR,
	ST_TELEMETRY,
	ST_VITAL,
	ST_VIEW_UPDATE,
	ST_LOG,
	ST_TRACE,
	ST_REPLAY,
	ST_OTHER,
	ST_COUNT
};
extern const char *const sdk_type_names[ST_COUNT];

/* Events per type: mapped into records, or dropped (not mapped, by design). */
struct sdk_tally {
	uint64_t mapped[ST_COUNT], dropped[ST_COUNT];
};

struct sdk_in {
	const char *body;
	size_t len;
	int64_t now_ns;
	const char *ip;
	size_t ip_len;
	const char *ua;		 /* User-Agent, or NULL */
	const char *sdk_version; /* Datadog: dd-evp-origin-version; or NULL */
	const char *app_id;	 /* Faro: from the path /collect/<app_id>; or NULL */
};

/* Appends one record line per mapped event to out, counting them per
 * measurement into per_meas (cfg.measurements.n cells, zeroed by the
 * caller) and per type into tally. 0, or -1 with err filled (out then holds
 * garbage). */
int datadog_parse(const struct sdk_in *in, struct buf *out, uint64_t *per_meas,
		  struct sdk_tally *tally, struct intake_err *err);

/* What both mappers check and add. The event's app_id (its 1-based index
 * and a description for the message): 0, or -1 with err. */
int sdk_check_app(const char *app, size_t n, size_t index, const char *what,
		  struct intake_err *err);
/* The index of an accepted measurement, or -1 with err. */
long sdk_check_meas(const char *meas, size_t index, const char *what, struct intake_err *err);
/* The tag ip, --global-tags, --time-correction, then the record line. */
int sdk_finish(struct recw *w, const struct sdk_in *in, const char *meas, int64_t time_ns,
	       struct buf *out, size_t index, struct intake_err *err);

#endif
