/* Archives by path, with change detection. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "lru.h"
#include "metrics.h"

#define MAX_SLOTS 4096 /* archives remembered (open or not) */
#define MAX_OPEN 128   /* zips kept open: one descriptor each */
#define MAX_WATCHED 16 /* platform directories watched */
#define PATH_CAP 4096

struct slot {
	char *path;
	size_t hash;
	enum store_status state;
	struct archive ar; /* ar.za NULL: not open (missing, bad, or closed to save fds) */
	uint64_t aid;	   /* id of the archive whose objects are cached */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	char *reason; /* why it is missing or bad */
	uint64_t checked_gen, checked_ms;
	struct lru_link lru; /* of all slots */
	struct slot *hnext;
};

struct store {
	char *data_dir;
	uint32_t check_ms;
	struct objcache *cache;
	struct slot **tab;
	size_t mask, nslots, nopen;
	struct lru_list lru; /* head most recently used */
	uint64_t gen;
	int ifd;      /* inotify; -1 when not watching */
	int watching; /* a long-running stage (not `stack`): tell what is opened */
	char *watched[MAX_WATCHED];
	size_t nwatched;
	uint64_t *m_opened, *m_failed, *m_removed, *m_ignored;
};

static size_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)(h ^ (h >> 31));
}

static void add_watches(struct store *s)
{
	if (s->ifd < 0)
		return;
	char p[PATH_CAP];
	const uint32_t parent = IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM |
				IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
	const uint32_t dir = parent | IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB;
	/* A missing directory is fine: its parent's IN_CREATE brings us
	 * back here. */
	(void)inotify_add_watch(s->ifd, s->data_dir, parent);
	snprintf(p, sizeof p, "%s/rum", s->data_dir);
	(void)inotify_add_watch(s->ifd, p, parent);
	for (size_t i = 0; i < s->nwatched; i++) {
		snprintf(p, sizeof p, "%s/rum/%s", s->data_dir, s->watched[i]);
		(void)inotify_add_watch(s->ifd, p, dir);
	}
}

static void watch_dir(struct store *s, const char *dir)
{
	if (s->ifd < 0)
		return;
	for (size_t i = 0; i < s->nwatched; i++)
		if (strcmp(s->watched[i], dir) == 0)
			return;
	if (s->nwatched == MAX_WATCHED || !(s->watched[s->nwatched] = strdup(dir)))
		return; /* the periodic stat still sees changes */
	s->nwatched++;
	add_watches(s);
}

/* Anything that happened in the watched directories makes every archive
 * be looked at again: changes are rare, and a stat is cheap. */
static void drain_events(struct store *s)
{
	if (s->ifd < 0)
		return;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int any = 0;
	for (;;) {
		ssize_t r = read(s->ifd, buf, sizeof buf);
		if (r > 0) {
			any = 1;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		break;
	}
	if (any) {
		s->gen++;
		add_watches(s);
	}
}

struct store *store_new(const char *data_dir, uint32_t check_ms, int watch, struct objcache *cache)
{
	struct store *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->mask = 63;
	s->tab = calloc(s->mask + 1, sizeof *s->tab);
	s->data_dir = data_dir ? strdup(data_dir) : NULL;
	if (!s->tab || (data_dir && !s->data_dir)) {
		free(s->tab);
		free(s);
		return NULL;
	}
	s->check_ms = check_ms;
	s->cache = cache;
	s->gen = 1;
	s->ifd = -1;
	s->watching = watch;
	if (watch && data_dir) {
		s->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (s->ifd < 0)
			log_warn("inotify: %s; archives are looked at every %u ms instead",
				 strerror(errno), check_ms);
		add_watches(s);
	}
	s->m_opened = metric_get("rum_symbolicate_archives_opened_total", NULL, METRIC_COUNTER,
				 "Zips opened (a new or changed archive).");
	s->m_failed = metric_get("rum_symbolicate_archive_failures_total", NULL, METRIC_COUNTER,
				 "Zips that could not be opened.");
	s->m_removed = metric_get("rum_symbolicate_archives_removed_total", NULL, METRIC_COUNTER,
				  "Archives seen to disappear.");
	s->m_ignored =
	    metric_get("rum_symbolicate_archive_entries_ignored_total", NULL, METRIC_COUNTER,
		       "Zip entries ignored because their names leave the archive's root.");
	return s;
}

static void close_zip(struct store *s, struct slot *sl)
{
	if (sl->ar.za) {
		archive_close(&sl->ar);
		s->nopen--;
	}
}

/* The archive is gone or changed: what was parsed out of it goes too. */
static void forget(struct store *s, struct slot *sl)
{
	close_zip(s, sl);
	if (sl->aid)
		objcache_drop_archive(s->cache, sl->aid);
	sl->aid = 0;
}

static void remove_slot(struct store *s, struct slot *sl)
{
	struct slot **pp = &s->tab[sl->hash & s->mask];
	while (*pp != sl)
		pp = &(*pp)->hnext;
	*pp = sl->hnext;
	lru_unlink(&s->lru, &sl->lru);
	forget(s, sl);
	s->nslots--;
	free(sl->reason);
	free(sl->path);
	free(sl);
}

void store_free(struct store *s)
{
	if (!s)
		return;
	while (s->lru.head)
		remove_slot(s, LRU_ENTRY(s->lru.head, struct slot, lru));
	if (s->ifd >= 0)
		close(s->ifd);
	for (size_t i = 0; i < s->nwatched; i++)
		free(s->watched[i]);
	free(s->tab);
	free(s->data_dir);
	free(s);
}

void store_recheck_all(struct store *s)
{
	s->gen++;
}

static void set_reason(struct slot *sl, const char *why)
{
	free(sl->reason);
	sl->reason = strdup(why);
}

static int same_file(const struct slot *sl, const struct stat *st)
{
	return sl->dev == st->st_dev && sl->ino == st->st_ino && sl->size == st->st_size &&
	       sl->mtime.tv_sec == st->st_mtim.tv_sec && sl->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void remember_identity(struct slot *sl, const struct stat *st)
{
	sl->dev = st->st_dev;
	sl->ino = st->st_ino;
	sl->size = st->st_size;
	sl->mtime = st->st_mtim;
}

/* Keeps at most MAX_OPEN zips open: the least recently used is closed,
 * its parsed objects stay (reopening the same file keeps them). */
static void limit_open(struct store *s, struct slot *keep)
{
	for (struct lru_link *l = s->lru.tail; l && s->nopen >= MAX_OPEN; l = l->prev) {
		struct slot *sl = LRU_ENTRY(l, struct slot, lru);
		if (sl != keep && sl->ar.za)
			close_zip(s, sl);
	}
}

static void open_slot(struct store *s, struct slot *sl, const struct stat *seen)
{
	struct rum_error e;
	const char *err = e.msg;
	int missing;
	struct archive nar;
	int was_closed = sl->state == STORE_OK && !sl->ar.za;
	limit_open(s, sl);
	if (archive_open(&nar, sl->path, &missing, &e) < 0) {
		forget(s, sl);
		if (missing) {
			if (sl->state != STORE_MISSING)
				metric_inc(s->m_removed);
			sl->state = STORE_MISSING;
			set_reason(sl, err);
			return;
		}
		metric_inc(s->m_failed);
		log_warn("%s", err);
		sl->state = STORE_BAD;
		set_reason(sl, err);
		/* Not tried again until the file changes; a failure with no
		 * file seen (a reopen) is tried again at the next check. */
		if (seen) {
			remember_identity(sl, seen);
		} else {
			sl->ino = 0;
			sl->size = -1;
		}
		return;
	}
	if (was_closed && same_file(sl, &nar.st)) {
		nar.id = sl->aid; /* the same file: its cached objects still hold */
		sl->ar = nar;
		s->nopen++;
		return;
	}
	forget(s, sl);
	sl->ar = nar;
	s->nopen++;
	sl->aid = nar.id;
	sl->state = STORE_OK;
	remember_identity(sl, &nar.st);
	metric_inc(s->m_opened);
	metric_add(s->m_ignored, nar.ignored);
	log_msg(s->watching ? RLOG_INFO : RLOG_DEBUG, "%s: opened (%lld entries)", sl->path,
		(long long)zip_get_num_entries(nar.za, 0));
}

static void refresh(struct store *s, struct slot *sl)
{
	struct stat st;
	if (stat(sl->path, &st) < 0) {
		int e = errno;
		if (sl->state != STORE_MISSING) {
			log_info("%s: gone", sl->path);
			metric_inc(s->m_removed);
		}
		forget(s, sl);
		sl->state = STORE_MISSING;
		char err[PATH_CAP + 64];
		if (e == ENOENT || e == ENOTDIR)
			snprintf(err, sizeof err, "no archive %s", sl->path);
		else
			snprintf(err, sizeof err, "%s: %s", sl->path, strerror(e));
		set_reason(sl, err);
		return;
	}
	if (sl->state == STORE_OK && same_file(sl, &st)) {
		if (!sl->ar.za)
			open_slot(s, sl, &st);
		return;
	}
	if (sl->state == STORE_BAD && same_file(sl, &st))
		return; /* still the file that failed */
	open_slot(s, sl, &st);
}

static struct slot *find_slot(struct store *s, const char *path)
{
	size_t h = hash_str(path);
	for (struct slot *sl = s->tab[h & s->mask]; sl; sl = sl->hnext)
		if (sl->hash == h && strcmp(sl->path, path) == 0)
			return sl;
	if (s->nslots >= MAX_SLOTS)
		remove_slot(s, LRU_ENTRY(s->lru.tail, struct slot, lru));
	struct slot *sl = calloc(1, sizeof *sl);
	if (!sl || !(sl->path = strdup(path))) {
		free(sl);
		return NULL;
	}
	sl->hash = h;
	sl->state = STORE_MISSING;
	sl->hnext = s->tab[h & s->mask];
	s->tab[h & s->mask] = sl;
	lru_push(&s->lru, &sl->lru);
	s->nslots++;
	return sl;
}

struct archive *store_get_path(struct store *s, const char *path, enum store_status *st,
			       struct rum_error *err)
{
	drain_events(s);
	struct slot *sl = find_slot(s, path);
	if (!sl) {
		*st = STORE_BAD;
		err_set(err, "out of memory");
		return NULL;
	}
	lru_touch(&s->lru, &sl->lru);
	uint64_t now = 0;
	int due = sl->checked_gen == 0 || sl->checked_gen != s->gen;
	if (!due && s->check_ms != STORE_NEVER_RECHECK) {
		now = mono_ms_coarse();
		due = now - sl->checked_ms >= s->check_ms;
	}
	if (due) {
		refresh(s, sl);
		sl->checked_gen = s->gen;
		sl->checked_ms = now ? now : mono_ms_coarse();
	} else if (sl->state == STORE_OK && !sl->ar.za) {
		open_slot(s, sl, NULL);
	}
	*st = sl->state;
	if (sl->state == STORE_OK && sl->ar.za)
		return &sl->ar;
	if (sl->state == STORE_OK)
		*st = STORE_BAD; /* could not be reopened */
	err_reason(err, 0, sl->reason ? sl->reason : "cannot be opened");
	return NULL;
}

struct archive *store_get(struct store *s, const char *dir, const char *name, enum store_status *st,
			  struct rum_error *err)
{
	char path[PATH_CAP];
	if (!s->data_dir || (size_t)snprintf(path, sizeof path, "%s/rum/%s/%s", s->data_dir, dir,
					     name) >= sizeof path) {
		*st = STORE_MISSING;
		err_set(err, "archive name too long");
		return NULL;
	}
	watch_dir(s, dir);
	return store_get_path(s, path, st, err);
}
