/* rum-listen's Datadog intake body (datadog.c, webtags.c): NDJSON events
 * of any shape into records (sdk_body.h says what is checked). */
#include "sdk_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return sdk_fuzz_one(data, size, datadog_parse, 0);
}
