/* A least-recently-used order over entries that live elsewhere (in a hash
 * table's chains): each entry holds a struct lru_link, the list holds the
 * most recently used first and the next to evict last. LRU_ENTRY turns a
 * link back into its entry (NULL stays NULL), so the list never allocates.
 *
 * rum-cdn's answer cache links its entries by 32-bit index instead, in one
 * fixed array: pointers there would add a quarter to every entry. */
#ifndef RUM_LRU_H
#define RUM_LRU_H

#include <stddef.h>

struct lru_link {
	struct lru_link *prev, *next;
};

struct lru_list {
	struct lru_link *head, *tail; /* most recently used, least */
};

/* The entry of type type whose member is the link l, or NULL for NULL. */
#define LRU_ENTRY(l, type, member)                                                                 \
	((l) ? (type *)(void *)((char *)(l)-offsetof(type, member)) : (type *)NULL)

static inline void lru_unlink(struct lru_list *list, struct lru_link *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		list->head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		list->tail = l->prev;
	l->prev = l->next = NULL;
}

/* Puts an unlinked entry first, as the most recently used. */
static inline void lru_push(struct lru_list *list, struct lru_link *l)
{
	l->prev = NULL;
	l->next = list->head;
	if (list->head)
		list->head->prev = l;
	list->head = l;
	if (!list->tail)
		list->tail = l;
}

/* A linked entry just used: moved first. */
static inline void lru_touch(struct lru_list *list, struct lru_link *l)
{
	if (list->head == l)
		return;
	lru_unlink(list, l);
	lru_push(list, l);
}

#endif
