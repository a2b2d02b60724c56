/* Every stage is throughput work fed through pipes: one stage's write wakes
 * the next, and under the default policy the woken stage preempts the writer
 * at once, so two busy stages on a small machine switch back and forth on
 * every record batch. SCHED_BATCH keeps the wakeup from preempting: each
 * runs out its slice and the batches grow. Measured on the intake bench
 * (rum-listen | rum-ship, 2 cores): about 9% more requests/s. */
#ifndef RUM_CPUSCHED_H
#define RUM_CPUSCHED_H

/* Switches the calling process (and threads it starts later) to SCHED_BATCH
 * when it runs under the default policy and --sched other was not given; a
 * policy someone chose (chrt, systemd's CPUSchedulingPolicy=) is left
 * alone. Failure is not an error: the program runs as before. Call it after
 * opts_parse. */
void sched_batch(void);

#endif
