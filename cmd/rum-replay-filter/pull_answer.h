/* The answer of Dataway to DataKit's filter pull (GET /v1/datakit/pull
 * ?token=...&filters=true), read as DataKit reads it:
 *
 *   {"filters": {"rum": ["{ app_id = 'x' }", ...], "logging": [...]},
 *    "pull_interval": 30000000000}
 *
 * Only the "rum" list is compiled: the others are for categories that
 * rumpipe does not carry, and are only checked to be lists of strings (a
 * shape DataKit's JSON reader refuses makes the whole answer refused).
 * pull_interval is a Go duration, in nanoseconds. */
#ifndef RUM_REPLAY_FILTER_PULL_ANSWER_H
#define RUM_REPLAY_FILTER_PULL_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"
#include "rules.h"

#define PULL_ANSWER_MAX ((size_t)4 << 20) /* bytes of an answer read at most */

struct pull_answer {
	struct ruleset *rum; /* the rum category's rules: never NULL after success */
	int64_t interval_ns; /* pull_interval when the answer gives one above 0, else 0 */
};

enum pull_answer_status {
	PA_OK,
	PA_BAD_JSON, /* not the JSON DataKit reads; err says what and where */
	PA_BAD_RULE, /* a rule of the rum list does not parse; err names it */
	PA_NOMEM,
};

/* Reads body[0..n) into out (whose rum the caller frees with
 * ruleset_free). Nothing is left allocated unless it returns PA_OK. */
enum pull_answer_status pull_answer_parse(const char *body, size_t n, struct pull_answer *out,
					  struct rum_error *err);

#endif
