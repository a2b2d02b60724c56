/* The programs of --dir (see progdir.h). */
#include "progdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fnv.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"

/* The name without ".jq". */
static size_t stem_len(const struct program *p)
{
	return strlen(p->name) - 3;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp((*(struct program *const *)a)->name, (*(struct program *const *)b)->name);
}

static struct program *by_name(const struct progdir *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i]->name, name) == 0)
			return d->v[i];
	return NULL;
}

/* The table of the programs that compiled. -1: out of memory. */
static int build_table(struct progdir *d)
{
	size_t slots = 8;
	while (slots < d->n * 2)
		slots *= 2;
	struct program **t = calloc(slots, sizeof *t);
	if (!t)
		return -1;
	d->def = NULL;
	for (size_t i = 0; i < d->n; i++) {
		struct program *p = d->v[i];
		if (!p->jq)
			continue;
		if (strcmp(p->name, "default.jq") == 0)
			d->def = p;
		size_t k = fnv1a_more(FNV1A_INIT, p->name, stem_len(p)) & (slots - 1);
		while (t[k])
			k = (k + 1) & (slots - 1);
		t[k] = p;
	}
	free(d->table);
	d->table = t;
	d->mask = slots - 1;
	return 0;
}

/* The program named a + sep + b (sep 0: none) + ".jq". */
static struct program *lookup(const struct progdir *d, const char *a, size_t alen, char sep,
			      const char *b, size_t blen)
{
	uint32_t h = fnv1a_more(FNV1A_INIT, a, alen);
	size_t n = alen;
	if (sep) {
		h = fnv1a_more(h, &sep, 1);
		h = fnv1a_more(h, b, blen);
		n += 1 + blen;
	}
	for (size_t k = h & d->mask; d->table[k]; k = (k + 1) & d->mask) {
		const struct program *p = d->table[k];
		const char *s = p->name;
		if (stem_len(p) != n || memcmp(s, a, alen) != 0)
			continue;
		if (!sep || (s[alen] == sep && memcmp(s + alen + 1, b, blen) == 0))
			return d->table[k];
	}
	return NULL;
}

struct program *progdir_find(const struct progdir *d, const char *app, size_t alen,
			     const char *meas, size_t mlen)
{
	if (!d->table)
		return NULL;
	struct program *p = NULL;
	if (app)
		p = lookup(d, app, alen, '_', meas, mlen);
	if (!p)
		p = lookup(d, meas, mlen, 0, NULL, 0);
	return p ? p : d->def;
}

size_t progdir_count(const struct progdir *d)
{
	size_t n = 0;
	for (size_t i = 0; i < d->n; i++)
		n += d->v[i]->jq != NULL;
	return n;
}

static int is_program_name(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 3 && strcmp(name + n - 3, ".jq") == 0;
}

static int same_file(const struct program *p, const struct stat *st)
{
	return p->dev == st->st_dev && p->ino == st->st_ino && p->size == st->st_size &&
	       p->mtime.tv_sec == st->st_mtim.tv_sec && p->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void set_file(struct program *p, const struct stat *st)
{
	p->dev = st->st_dev;
	p->ino = st->st_ino;
	p->size = st->st_size;
	p->mtime = st->st_mtim;
}

/* Reads and compiles DIR/name. NULL with err when it cannot. */
static jq_state *compile_file(const struct progdir *d, const char *name, struct rum_error *err)
{
	char path[4096];
	struct buf text = BUF_INIT;
	snprintf(path, sizeof path, "%s/%s", d->dir, name);
	jq_state *jq = NULL;
	if (read_file(path, PROGDIR_FILE_MAX, &text, err) == 0)
		jq = program_compile(text.p ? text.p : "", d->dir, err);
	buf_free(&text);
	return jq;
}

/* One file of the directory, as found (st) now; old: the program of
 * that name in use, or NULL. The program to keep, or NULL with err (a
 * failure at start, or out of memory). */
static struct program *refresh(struct progdir *d, const char *name, const struct stat *st,
			       struct program *old, int at_start, struct rum_error *err)
{
	if (old && same_file(old, st))
		return old;
	struct rum_error cerr;
	jq_state *jq = compile_file(d, name, &cerr);
	if (!jq) {
		if (at_start) {
			err_set(err, "--dir %s: %s: %s", d->dir, name, cerr.msg);
			return NULL;
		}
		struct program *keep = old ? old : program_new(name, NULL);
		if (!keep) {
			err_set(err, "out of memory");
			return NULL;
		}
		metric_inc(keep->m_compile_errors);
		log_error("--dir %s: %s: %s; %s", d->dir, name, cerr.msg,
			  keep->jq ? "keeping the version in use" : "not in use");
		/* Not tried again until the file changes again. */
		set_file(keep, st);
		return keep;
	}
	struct program *p = program_new(name, jq);
	if (!p) {
		jq_teardown(&jq);
		err_set(err, "out of memory");
		return NULL;
	}
	set_file(p, st);
	if (!at_start)
		log_info("--dir %s: %s %s", d->dir, name,
			 old ? "changed: compiled again" : "added");
	if (old)
		program_free(old);
	return p;
}

static int add(struct program ***v, size_t *n, size_t *cap, struct program *p)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct program **nv = realloc(*v, ncap * sizeof *nv);
		if (!nv)
			return -1;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = p;
	return 0;
}

int progdir_scan(struct progdir *d, int at_start, struct rum_error *err)
{
	DIR *dh = opendir(d->dir);
	if (!dh)
		return err_set(err, "--dir %s: %s", d->dir, strerror(errno));
	struct program **nv = NULL;
	size_t nn = 0, ncap = 0;
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(dh))) {
		struct stat st;
		if (!is_program_name(de->d_name))
			continue;
		if (fstatat(dirfd(dh), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		struct program *old = by_name(d, de->d_name);
		struct program *p = refresh(d, de->d_name, &st, old, at_start, err);
		if (!p) {
			rc = -1;
			break;
		}
		/* old is p now, or was freed by refresh. */
		for (size_t i = 0; old && i < d->n; i++)
			if (d->v[i] == old)
				d->v[i] = NULL;
		if (add(&nv, &nn, &ncap, p) < 0) {
			program_free(p);
			rc = err_set(err, "out of memory");
		}
	}
	closedir(dh);
	if (rc < 0) {
		/* A failure at start, or out of memory: fatal either way (the
		 * caller exits), so nothing is kept. */
		for (size_t i = 0; i < nn; i++)
			program_free(nv[i]);
		free(nv);
		progdir_free(d);
		return -2;
	}
	for (size_t i = 0; i < d->n; i++) {
		if (!d->v[i])
			continue;
		if (d->v[i]->jq)
			log_info("--dir %s: %s removed", d->dir, d->v[i]->name);
		program_free(d->v[i]);
	}
	free(d->v);
	if (nn)
		qsort(nv, nn, sizeof *nv, cmp_name);
	d->v = nv;
	d->n = nn;
	if (build_table(d) < 0) {
		progdir_free(d);
		err_set(err, "out of memory");
		return -2;
	}
	return 0;
}

void progdir_free(struct progdir *d)
{
	for (size_t i = 0; i < d->n; i++)
		program_free(d->v[i]); /* NULL for one taken over */
	free(d->v);
	free(d->table);
	d->v = NULL;
	d->table = NULL;
	d->n = 0;
}
