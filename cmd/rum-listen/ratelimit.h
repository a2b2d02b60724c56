/* rum-listen: per-client token buckets (--rate-limit, --rate-burst). */
#ifndef RUM_LISTEN_RATELIMIT_H
#define RUM_LISTEN_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/* rate requests per second refill a bucket of burst requests. The table
 * holds at most slots clients (rounded up to a multiple of 8); 0 or -1. */
int rl_init(double rate, double burst, size_t slots);
/* Takes one request from the client's bucket: 0 when allowed, else the
 * whole seconds until it would be (at least 1). */
unsigned rl_take(const uint8_t key[16], int64_t now_ns);
void rl_free(void);

#endif
