/* See perthread.h. */
#include "perthread.h"

#include <stdlib.h>

/* pthread_once's routine takes no argument; it runs in the calling thread
 * before pthread_once returns, so the slot is handed over here. */
static _Thread_local struct perthread *being_made;

static void make_key(void)
{
	if (pthread_key_create(&being_made->key, being_made->destroy) != 0)
		abort();
}

void *perthread_get(struct perthread *pt)
{
	being_made = pt;
	pthread_once(&pt->once, make_key);
	void *obj = pthread_getspecific(pt->key);
	if (!obj) {
		obj = calloc(1, pt->size);
		if (!obj)
			return NULL;
		if (pthread_setspecific(pt->key, obj) != 0) {
			free(obj);
			return NULL;
		}
	}
	return obj;
}
