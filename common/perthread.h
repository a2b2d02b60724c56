/* An object of each thread's own (parser state, buffers reused from one
 * request to the next): allocated zeroed on the thread's first use, handed
 * to destroy when the thread exits. */
#ifndef RUM_PERTHREAD_H
#define RUM_PERTHREAD_H

#include <pthread.h>
#include <stddef.h>

struct perthread {
	pthread_once_t once;
	pthread_key_t key;
	size_t size;
	void (*destroy)(void *obj); /* frees what obj holds, then obj */
};

#define PERTHREAD_INIT(type, destroy_)                                                             \
	{                                                                                          \
		.once = PTHREAD_ONCE_INIT, .size = sizeof(type), .destroy = (destroy_)             \
	}

/* This thread's object; NULL when out of memory. */
void *perthread_get(struct perthread *pt);

#endif
