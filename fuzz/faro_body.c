/* rum-listen's Faro intake body (faro.c, webtags.c): a JSON payload of any
 * shape into records (sdk_body.h says what is checked). */
#include "faro.h"
#include "sdk_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return sdk_fuzz_one(data, size, faro_parse, 1);
}
