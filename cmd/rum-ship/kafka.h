/* The Kafka sink's internals (sink_kafka.c is the sink itself).
 *
 * A batch of records is one queue entry (memory or the disk queue), so that
 * the engine's in-order acknowledgement holds for Kafka as for HTTP: the
 * entry is acknowledged once every message of it has a delivery report.
 * An entry (kafka_entry.c), little-endian:
 *
 *   "RKB1" magic, u32 count, then per record:
 *   u32 line length, u16 key length, u16 measurement length, u16 app_id
 *   length, u16 flags; the line (the record as read, no newline), then the
 *   key (the session_id tag, decoded), the measurement and the app_id
 *   (decoded). KE_ABSENT as a length: no such value.
 *
 * The decoded values are kept beside the line so that sending (maybe from
 * the disk queue, after a restart) does not parse the record again.
 *
 * The producer configuration (kafka_conf.c): our defaults, then every
 * --kafka-opt as given, then, for the replay producer, its message size. */
#ifndef RUM_SHIP_KAFKA_H
#define RUM_SHIP_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "buf.h"
#include "errmsg.h"
#include "record.h"
#include "ship.h"

#define KE_MAGIC 0x31424b52u /* "RKB1" little-endian */
#define KE_HDR 8
#define KE_REC_HDR 12
#define KE_ABSENT 0xffffu
#define KE_REPLAY 1u /* a session_replay record: to the replay topic */

enum kmsg_state { KM_PENDING, KM_INFLIGHT, KM_DONE, KM_DROPPED, KM_FAILED };

/* One message of an entry in a slot, and its delivery state. */
struct kmsg {
	const char *p, *key, *meas, *app; /* key, app: NULL when absent */
	uint32_t len;
	uint16_t key_len, meas_len, app_len;
	uint8_t replay;
	uint8_t state; /* enum kmsg_state */
	uint32_t slot; /* the sink's slot holding it */
};

/* Starts an entry in b (reset first). 0 or -1 (out of memory). */
int ke_begin(struct buf *b);
/* Appends one record (rec parsed from line[0..len)). scratch: for decoding
 * escaped values. 0 or -1 (out of memory, or a line past 4 GiB). */
int ke_add(struct buf *b, const struct record *rec, const char *line, size_t len, int replay,
	   struct buf *scratch);
/* Writes the number of records into the entry's header. */
void ke_seal(struct buf *b, uint32_t count);
/* The messages of the entry p[0..n) into *msgs (grown as needed, *cap its
 * size), each pointing into p; *count their number. 0, or -1 when it is not
 * an entry or is damaged (a length past its end), or out of memory. */
int ke_index(const char *p, size_t n, struct kmsg **msgs, size_t *cap, uint32_t *count);

/* Whether KEY=VALUE is a setting librdkafka takes. 0, or -1 with
 * librdkafka's reason in err. */
int kafka_opt_check(const char *kv, struct rum_error *err);
/* A producer configuration: bootstrap servers, idempotence, zstd, linger,
 * then c->kafka_opts in order; replay: its message.max.bytes last. NULL
 * with the reason in err (which setting, librdkafka's words). */
rd_kafka_conf_t *kafka_conf_new(const struct ship_conf *c, int replay, struct rum_error *err);

#endif
