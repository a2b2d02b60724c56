/* Grafana Faro Web SDK payloads → records (faro.c; SDK-MAPPING.md,
 * "Grafana Faro Web SDK"). The types it shares with the Datadog mapper are
 * in datadog.h. */
#ifndef RUM_FARO_H
#define RUM_FARO_H

#include "datadog.h"

/* One Faro payload (a JSON object: meta, exceptions, measurements, events,
 * logs, traces) into record lines appended to out; in->app_id is the
 * <app_id> of /collect/<app_id>, or NULL. Counts as datadog_parse does. 0,
 * or -1 with err filled (out then holds garbage). */
int faro_parse(const struct sdk_in *in, struct buf *out, uint64_t *per_meas,
	       struct sdk_tally *tally, struct intake_err *err);

#endif
