/* rum-ship's Kafka batches (cmd/rum-ship/kafka_entry.c): any bytes, as a
 * damaged disk queue entry, are indexed or refused without reading outside
 * them; a record that parses becomes an entry that indexes back to its line
 * byte for byte, with its key and headers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

static void inside(const char *base, size_t n, const char *p, size_t len)
{
	if (p && (p < base || (size_t)(p - base) > n || len > n - (size_t)(p - base)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kmsg *msgs;
	static size_t cap;
	static struct buf entry, scratch;
	static struct record rec;
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	uint32_t n = 0;
	if (ke_index(p, size, &msgs, &cap, &n) == 0)
		for (uint32_t i = 0; i < n; i++) {
			inside(p, size, msgs[i].p, msgs[i].len);
			inside(p, size, msgs[i].key, msgs[i].key_len);
			inside(p, size, msgs[i].meas, msgs[i].meas_len);
			inside(p, size, msgs[i].app, msgs[i].app_len);
		}
	struct rum_error err;
	if (rec_parse_line(&rec, p, size, &err) == 0) {
		if (ke_begin(&entry) < 0 || ke_add(&entry, &rec, p, size, 0, &scratch) < 0)
			abort();
		ke_seal(&entry, 1);
		if (ke_index(entry.p, entry.len, &msgs, &cap, &n) < 0 || n != 1 ||
		    msgs[0].len != size || memcmp(msgs[0].p, p, size) != 0 || !msgs[0].meas)
			abort();
		const struct rec_kv *sid = rec_tag(&rec, "session_id");
		if ((!sid && msgs[0].key) || (sid && sid->val_len < 1000 && !msgs[0].key))
			abort();
	}
	free(p);
	return 0;
}
