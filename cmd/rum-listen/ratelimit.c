/* Token buckets per client address, in a table of fixed size: a flood from
 * many source addresses cannot grow it. The table is set-associative (8
 * ways per set, a set chosen by a keyed hash, so an attacker cannot aim at
 * one set); a new client takes the way unused longest. Evicting a bucket
 * forgets that client's debt, which is the price of bounded memory; the
 * least recently seen bucket is the one most likely to have refilled
 * anyway. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ratelimit.h"

#define WAYS 8
#define NLOCKS 64

struct bucket {
	uint8_t key[16];
	int used;
	double tokens;
	int64_t last_ns;
};

static struct bucket *table;
static size_t nsets;
static double rate, burst;
static uint64_t seed[2];
static pthread_mutex_t locks[NLOCKS];

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t key_hash(const uint8_t k[16])
{
	uint64_t a, b;
	memcpy(&a, k, 8);
	memcpy(&b, k + 8, 8);
	return mix(mix(a ^ seed[0]) ^ b ^ seed[1]);
}

int rl_init(double r, double b, size_t slots)
{
	rate = r;
	burst = b < 1 ? 1 : b;
	nsets = (slots + WAYS - 1) / WAYS;
	if (nsets == 0)
		nsets = 1;
	table = calloc(nsets * WAYS, sizeof *table);
	if (!table)
		return -1;
	if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
		/* A fixed seed only makes the sets predictable. */
		seed[0] = 0x9e3779b97f4a7c15ULL;
		seed[1] = (uint64_t)(uintptr_t)table;
	}
	for (size_t i = 0; i < NLOCKS; i++)
		if (pthread_mutex_init(&locks[i], NULL) != 0)
			return -1;
	return 0;
}

unsigned rl_take(const uint8_t key[16], int64_t now_ns)
{
	if (!table)
		return 0;
	size_t set = (size_t)(key_hash(key) % nsets);
	struct bucket *ways = table + set * WAYS;
	pthread_mutex_t *lock = &locks[set % NLOCKS];
	pthread_mutex_lock(lock);
	struct bucket *b = NULL, *victim = &ways[0];
	for (size_t i = 0; i < WAYS; i++) {
		struct bucket *w = &ways[i];
		if (w->used && memcmp(w->key, key, 16) == 0) {
			b = w;
			break;
		}
		if (!w->used ? victim->used : victim->used && w->last_ns < victim->last_ns)
			victim = w;
	}
	if (!b) {
		b = victim;
		memcpy(b->key, key, 16);
		b->used = 1;
		b->tokens = burst;
		b->last_ns = now_ns;
	}
	if (now_ns > b->last_ns) {
		b->tokens += (double)(now_ns - b->last_ns) * 1e-9 * rate;
		if (b->tokens > burst)
			b->tokens = burst;
	}
	b->last_ns = now_ns;
	unsigned wait = 0;
	if (b->tokens >= 1) {
		b->tokens -= 1;
	} else {
		double s = (1 - b->tokens) / rate;
		wait = s < 1 ? 1 : s > 3600 ? 3600 : (unsigned)s + 1;
	}
	pthread_mutex_unlock(lock);
	return wait;
}

void rl_free(void)
{
	free(table);
	table = NULL;
}
