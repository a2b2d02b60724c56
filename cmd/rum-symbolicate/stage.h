/* The per-record work of rum-symbolicate: an `error` record from an SDK
 * whose platform has a restorer, with an error_stack field, gets
 * error_stack_source (and error_stack_source_base64 with
 * --datakit-compat) when at least one frame is restored. Every other
 * record, and one that cannot be restored, passes as it was. */
#ifndef RUM_SYMBOLICATE_STAGE_H
#define RUM_SYMBOLICATE_STAGE_H

#include <stddef.h>

#include "buf.h"
#include "platform.h"
#include "record.h"
#include "stageloop.h"

struct symstage {
	struct sym_ctx *cx;
	int datakit_compat;
	struct record rec;
	struct rec_edit edit;
	struct buf stack, app_id, env, version, error_type, sdk; /* decoded values */
	struct buf restored, b64;
	uint64_t *m_records;
};

void symstage_init(struct symstage *st, struct sym_ctx *cx, int datakit_compat);
void symstage_free(struct symstage *st);
/* One record: SL_PASS (the line goes out as it was), SL_EDITED (the edited
 * record and its newline appended to out), SL_BAD (err says why) or
 * SL_NOMEM; never SL_DROP. */
enum sl_verdict symstage_line(struct symstage *st, const char *line, size_t len, struct buf *out,
			      struct rum_error *err);

#endif
