#include "cpusched.h"

#include <sched.h>

#include "opts.h"

void sched_batch(void)
{
	struct sched_param sp = {.sched_priority = 0};
	if (!common_opts.sched_other && sched_getscheduler(0) == SCHED_OTHER)
		(void)sched_setscheduler(0, SCHED_BATCH, &sp);
}
