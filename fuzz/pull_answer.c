/* Fuzz the reader of Dataway's filter pull answers
 * (cmd/rum-replay-filter/pull_answer.c): any bytes either read into a
 * ruleset, or refused with a message; a rule refusal names a rule that
 * does not compile alone either; reading twice gives the same answer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/rum-replay-filter/pull_answer.h"
#include "log.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz-pull-answer");
	log_set_level("error");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct pull_answer a, b;
	struct rum_error e1 = {0}, e2 = {0};
	enum pull_answer_status s1 = pull_answer_parse(p, size, &a, &e1);
	enum pull_answer_status s2 = pull_answer_parse(p, size, &b, &e2);
	CHECK(s1 == s2);
	if (s1 == PA_OK) {
		CHECK(a.rum && b.rum);
		CHECK(ruleset_count(a.rum) == ruleset_count(b.rum));
		CHECK(a.interval_ns == b.interval_ns && a.interval_ns >= 0);
		ruleset_free(a.rum);
		ruleset_free(b.rum);
	} else {
		CHECK(!a.rum && !b.rum);
		CHECK(e1.msg[0] && strcmp(e1.msg, e2.msg) == 0);
		if (s1 == PA_BAD_RULE)
			CHECK(strncmp(e1.msg, "rule ", 5) == 0);
	}
	return 0;
}
