/* Clocks. Intervals, deadlines and timeouts use the monotonic clock, which
 * no change of the wall clock moves; only timestamps that leave the program
 * (a record's time) use the real-time clock. */
#ifndef RUM_CLOCK_H
#define RUM_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock (CLOCK_MONOTONIC). */
uint64_t mono_ms(void);
/* Milliseconds on the coarse monotonic clock (CLOCK_MONOTONIC_COARSE):
 * a few nanoseconds a call instead of tens to a hundred, and exact to a
 * scheduler tick (1-4 ms). For checks made once per record, such as "is it
 * time to look at the database file again". */
uint64_t mono_ms_coarse(void);
/* Nanoseconds on the monotonic clock. */
uint64_t mono_ns(void);
/* Nanoseconds since the Unix epoch on the real-time clock. */
int64_t now_ns(void);

#endif
