/* iOS crash stacks: each frame `N  Module  0xADDR 0xLOAD + OFFSET` of a
 * module whose dSYM is in the zip gets what atos prints (iosframe.h).
 *
 * The zip's dSYMs are found by path at any depth
 * (`.../X.app.dSYM/Contents/Resources/DWARF/X`, `X.framework.dSYM/...`),
 * indexed by module name once per archive version. The engine (machosym.h)
 * reads files, so a dSYM is extracted once per archive version into a
 * private directory (mkdtemp under $XDG_CACHE_HOME or /tmp, mode 0700) and
 * held in the object cache like any parsed map: a file evicted, or dropped
 * because its zip was replaced or removed, is deleted (after the stack in
 * progress is done with it), and the directory is removed at exit.
 *
 * The slice of a dSYM: the one whose LC_UUID is the image's UUID when the
 * report has a Binary Images section with one (none such: the dSYM is of
 * another build, a mismatch); else the one of the image's architecture or
 * the report's Code Type; a thin file of unknown architecture is taken as
 * it is. The address asked is OFFSET plus the slice's __TEXT VM address. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grow.h"
#include "iosframe.h"
#include "log.h"
#include "macho.h"
#include "machosym.h"
#include "metrics.h"
#include "platform.h"

/* frames of one report looked up (a whole report of every thread is a few
 * thousand at most); later ones stay as they are */
#define IOS_MAX_FRAMES 4096
#define INDEX_ENTRY UINT64_MAX

static uint64_t *m_extracted, *m_extracted_bytes, *m_starts, *m_batches;

/* ---- the private directory ---- */

static char cache_dir[PATH_MAX];
static uint64_t file_seq;
/* Files of dSYMs dropped from the cache, deleted once the stack that may
 * still name them is done. */
static char **doomed;
static size_t ndoomed, doomed_cap;

static void remove_cache_dir(void)
{
	msym_shutdown();
	if (!cache_dir[0])
		return;
	DIR *d = opendir(cache_dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	if (rmdir(cache_dir) < 0)
		log_warn("cannot remove %s: %s", cache_dir, strerror(errno));
	cache_dir[0] = 0;
}

static const char *get_cache_dir(struct rum_error *err)
{
	if (cache_dir[0])
		return cache_dir;
	const char *x = getenv("XDG_CACHE_HOME");
	char t[PATH_MAX];
	struct stat st;
	/* the symbolizer's input protocol quotes a path: none with '"' */
	if (x && *x == '/' && !strchr(x, '"') && stat(x, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (size_t)snprintf(t, sizeof t, "%s/rumpipe-dsym.XXXXXX", x) < sizeof t - 64 &&
	    mkdtemp(t)) {
		memcpy(cache_dir, t, strlen(t) + 1);
	} else {
		snprintf(t, sizeof t, "/tmp/rumpipe-dsym.XXXXXX");
		if (!mkdtemp(t)) {
			err_set(err, "cannot make a directory for dSYMs: %s", strerror(errno));
			return NULL;
		}
		memcpy(cache_dir, t, strlen(t) + 1);
	}
	static int registered;
	if (!registered++)
		atexit(remove_cache_dir);
	log_debug("dSYMs are extracted into %s", cache_dir);
	return cache_dir;
}

static void delete_doomed(void)
{
	for (size_t i = 0; i < ndoomed; i++) {
		if (unlink(doomed[i]) < 0 && errno != ENOENT)
			log_warn("cannot remove %s: %s", doomed[i], strerror(errno));
		free(doomed[i]);
	}
	if (ndoomed)
		msym_forget_files();
	ndoomed = 0;
}

/* ---- the dSYMs of an archive, by module name ---- */

struct dsym_ent {
	char *module;
	uint64_t idx;
};

struct dsym_index {
	size_t n;
	struct dsym_ent *v;
};

static void free_index(void *p)
{
	struct dsym_index *ix = p;
	for (size_t i = 0; i < ix->n; i++)
		free(ix->v[i].module);
	free(ix->v);
	free(ix);
}

/* "a/b/X.app.dSYM/Contents/Resources/DWARF/X" → "X"; NULL otherwise. */
static const char *dsym_module(const char *name)
{
	static const char mid[] = ".dSYM/Contents/Resources/DWARF/";
	const char *m = strstr(name, mid);
	if (!m)
		return NULL;
	const char *mod = m + sizeof mid - 1;
	/* the bundle's name is a whole component */
	if (m == name || m[-1] == '/' || !*mod || strchr(mod, '/'))
		return NULL;
	return mod;
}

static void *load_index(void *ctx, size_t mem_limit, size_t *mem, int *why, struct rum_error *err)
{
	struct archive *ar = ctx;
	(void)mem_limit;
	struct dsym_index *ix = calloc(1, sizeof *ix);
	zip_int64_t n = zip_get_num_entries(ar->za, 0);
	size_t cap = 0;
	*why = MISS_BAD_MAP;
	if (!ix)
		goto oom;
	*mem = sizeof *ix;
	for (zip_int64_t i = 0; i < n; i++) {
		const char *name = zip_get_name(ar->za, (zip_uint64_t)i, 0), *mod;
		if (!name || !archive_name_safe(name) || !(mod = dsym_module(name)))
			continue;
		if (ARRAY_RESERVE(ix->v, cap, ix->n + 1, SIZE_MAX) < 0)
			goto oom;
		if (!(ix->v[ix->n].module = strdup(mod)))
			goto oom;
		ix->v[ix->n++].idx = (uint64_t)i;
		*mem += sizeof *ix->v + strlen(mod) + 1;
	}
	log_debug("%s: %zu dSYM files", ar->path, ix->n);
	return ix;
oom:
	if (ix)
		free_index(ix);
	err_set(err, "out of memory");
	return NULL;
}

static const struct objcache_kind index_kind = {"dSYM index", load_index, free_index};

/* ---- one dSYM file, extracted ---- */

struct dsym_file {
	char *path;
	struct macho_info mi;
};

static int in_restore;

static void free_dsym_file(void *p)
{
	struct dsym_file *df = p;
	if (!in_restore) {
		/* dropped with its archive, or at exit: no query names it */
		if (unlink(df->path) < 0 && errno != ENOENT)
			log_warn("cannot remove %s: %s", df->path, strerror(errno));
		free(df->path);
		free(df);
		msym_forget_files();
		return;
	}
	if (ARRAY_RESERVE(doomed, doomed_cap, ndoomed + 1, SIZE_MAX) == 0)
		doomed[ndoomed++] = df->path;
	else {
		unlink(df->path);
		free(df->path);
	}
	free(df);
}

struct file_load {
	struct archive *ar;
	uint64_t idx, max_size;
};

static int write_all_fd(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The entry rd reads, written whole into fd (the file at path). */
static int extract_entry(const struct file_load *fl, struct archive_reader *rd, int fd,
			 const char *path, struct rum_error *err)
{
	if (rd->mem) {
		if (write_all_fd(fd, rd->mem, (size_t)rd->size) < 0) {
			err_set(err, "writing %s: %s", path, strerror(errno));
			return -1;
		}
		return 0;
	}
	char chunk[65536];
	ssize_t r;
	while ((r = archive_read(rd, chunk, sizeof chunk)) > 0)
		if (write_all_fd(fd, chunk, (size_t)r) < 0) {
			err_set(err, "writing %s: %s", path, strerror(errno));
			return -1;
		}
	if (r < 0) {
		err_set(err, "%s in %s: %s", archive_entry_name(fl->ar, fl->idx), fl->ar->path,
			rd->err);
		return -1;
	}
	return 0;
}

/* The Mach-O slices of the extracted file (size bytes at fd) into mi. */
static int read_slices(const struct file_load *fl, int fd, uint64_t size, const char *path,
		       struct macho_info *mi, struct rum_error *err)
{
	const char *name = archive_entry_name(fl->ar, fl->idx);
	if (!size) {
		err_set(err, "%s in %s: an empty file", name, fl->ar->path);
		return -1;
	}
	void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		err_set(err, "mmap %s: %s", path, strerror(errno));
		return -1;
	}
	struct rum_error e;
	int rc = macho_parse(map, (size_t)size, mi, &e);
	munmap(map, (size_t)size);
	if (rc < 0) {
		err_set(err, "%s in %s: %s", name, fl->ar->path, e.msg);
		return -1;
	}
	return 0;
}

static void *load_dsym_file(void *ctx, size_t mem_limit, size_t *mem, int *why,
			    struct rum_error *err)
{
	struct file_load *fl = ctx;
	const char *name = archive_entry_name(fl->ar, fl->idx), *dir;
	struct archive_reader rd;
	char path[PATH_MAX];
	struct dsym_file *df = NULL;
	int fd = -1, ok = 0;
	(void)mem_limit;
	*why = MISS_BAD_MAP;
	if (!(dir = get_cache_dir(err)))
		return NULL;
	struct rum_error re;
	if (archive_reader_open(fl->ar, fl->idx, fl->max_size, &rd, &re) < 0) {
		err_set(err, "%s in %s: %s", name, fl->ar->path, re.msg);
		log_warn("%s", err->msg);
		return NULL;
	}
	/* a name never used before: the symbolizer keeps files it opened
	 * by name */
	int plen = snprintf(path, sizeof path, "%s/%llu-%llu", dir, (unsigned long long)++file_seq,
			    (unsigned long long)fl->idx);
	if (plen < 0 || (size_t)plen >= sizeof path) {
		err_set(err, "cache directory name too long: %s", dir);
		goto out;
	}
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(err, "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	if (extract_entry(fl, &rd, fd, path, err) < 0)
		goto out;
	if (!(df = calloc(1, sizeof *df)) || !(df->path = strdup(path))) {
		err_set(err, "out of memory");
		goto out;
	}
	if (read_slices(fl, fd, rd.size, path, &df->mi, err) < 0)
		goto out;
	ok = 1;
	*mem = (size_t)rd.size + sizeof *df;
	metric_inc(m_extracted);
	metric_add(m_extracted_bytes, rd.size);
	log_debug("%s in %s: %llu bytes into %s, %u slice(s)", name, fl->ar->path,
		  (unsigned long long)rd.size, path, df->mi.nslices);
out:
	archive_reader_close(&rd);
	if (fd >= 0)
		close(fd);
	if (!ok) {
		if (fd >= 0)
			unlink(path);
		if (df)
			free(df->path);
		free(df);
		log_warn("%s", err->msg);
		return NULL;
	}
	return df;
}

static const struct objcache_kind dsym_kind = {"dSYM", load_dsym_file, free_dsym_file};

/* ---- a stack ---- */

static int arch_is(const char *a, size_t n, const char *b)
{
	return a && strlen(b) == n && memcmp(a, b, n) == 0;
}

/* The slice for an image: by UUID when it has one, else by arch. */
static const struct macho_slice *pick_slice(const struct dsym_file *df, const struct ios_image *im,
					    const char *arch, size_t arch_len)
{
	const struct macho_info *mi = &df->mi;
	if (im && im->has_uuid) {
		for (unsigned i = 0; i < mi->nslices; i++)
			if (mi->s[i].has_uuid && memcmp(mi->s[i].uuid, im->uuid, 16) == 0)
				return &mi->s[i];
		return NULL;
	}
	if (!arch)
		return mi->nslices == 1 ? &mi->s[0] : NULL;
	for (unsigned i = 0; i < mi->nslices; i++)
		if (arch_is(arch, arch_len, mi->s[i].arch))
			return &mi->s[i];
	/* arm64 and arm64e frames run the same code in this respect */
	for (unsigned i = 0; i < mi->nslices; i++)
		if (arch_len >= 5 && strncmp(mi->s[i].arch, arch, 5) == 0 &&
		    strncmp(arch, "arm64", 5) == 0 && strcmp(mi->s[i].arch, "arm64_32") != 0)
			return &mi->s[i];
	return NULL;
}

struct fstate {
	int q;	  /* query index, or -1 */
	int miss; /* why not, when q < 0 */
};

struct ios_stack {
	struct sym_ctx *cx;
	struct archive *ar;
	struct sym_result *res;
	struct ios_report rep;
	struct fstate *fs;
	size_t nframes, cap, at;
	struct msym_query *q;
	uint64_t *load, *addr; /* per query, for atos */
	struct msym_answer *ans;
	size_t nq, qcap;
	struct buf text;	     /* the queries' paths and archs */
	struct buf atext;	     /* the answers' strings */
	size_t *aline, *alen;	     /* atos answers */
	size_t *path_off, *arch_off; /* per query, into text */
	char *fat;
};

/* The per-query arrays grow together: from one capacity, each gets the
 * same new one; when one cannot, those grown already are merely larger
 * than qcap says. */
static int grow_queries(struct ios_stack *s)
{
	size_t need = s->nq + 1, c;
	if (need <= s->qcap)
		return 0;
	if ((c = s->qcap, ARRAY_RESERVE(s->q, c, need, IOS_MAX_FRAMES)) < 0 ||
	    (c = s->qcap, ARRAY_RESERVE(s->load, c, need, IOS_MAX_FRAMES)) < 0 ||
	    (c = s->qcap, ARRAY_RESERVE(s->addr, c, need, IOS_MAX_FRAMES)) < 0 ||
	    (c = s->qcap, ARRAY_RESERVE(s->path_off, c, need, IOS_MAX_FRAMES)) < 0 ||
	    (c = s->qcap, ARRAY_RESERVE(s->arch_off, c, need, IOS_MAX_FRAMES)) < 0 ||
	    (c = s->qcap, ARRAY_RESERVE(s->fat, c, need, IOS_MAX_FRAMES)) < 0)
		return -1;
	s->qcap = c;
	return 0;
}

/* The query for one frame (appended to s->q), or the reason there is none. */
static int frame_query(struct ios_stack *s, const struct dsym_index *ix, const struct ios_frame *f,
		       void *unused)
{
	(void)unused;
	const struct ios_image *im = s->rep.has_images ? ios_frame_image(&s->rep, f) : NULL;
	const char *arch = im && im->arch ? im->arch : s->rep.code_type;
	size_t arch_len = im && im->arch ? im->arch_len : arch ? strlen(arch) : 0;
	char mod[256];
	struct rum_error err;
	int found = 0, miss = MISS_NO_MAP;
	if (f->module_len >= sizeof mod) {
		sym_miss(s->res, MISS_BAD_URL, "frame %u: a module name of %zu bytes", f->num,
			 f->module_len);
		return MISS_BAD_URL;
	}
	memcpy(mod, f->module, f->module_len);
	mod[f->module_len] = 0;
	for (int pass = 0; pass < 2 && !found; pass++) {
		if (pass == 1) {
			/* the image's own name when the frame column differs */
			if (!im || im->name_len >= sizeof mod ||
			    (im->name_len == f->module_len &&
			     memcmp(im->name, f->module, f->module_len) == 0))
				break;
			memcpy(mod, im->name, im->name_len);
			mod[im->name_len] = 0;
		}
		for (size_t i = 0; i < ix->n; i++) {
			if (strcmp(ix->v[i].module, mod) != 0)
				continue;
			found = 1;
			struct file_load fl = {s->ar, ix->v[i].idx, s->cx->max_map_size};
			int why;
			const struct dsym_file *df = objcache_get(
			    s->cx->cache, s->ar->id, ix->v[i].idx, &dsym_kind, &fl, &why, &err);
			if (!df) {
				sym_miss(s->res, (enum sym_miss)why, "%s", err.msg);
				miss = why;
				continue;
			}
			const struct macho_slice *sl = pick_slice(df, im, arch, arch_len);
			if (!sl) {
				char u[37] = "";
				if (im && im->has_uuid)
					macho_uuid_format(im->uuid, u);
				sym_miss(s->res, MISS_MISMATCH,
					 "frame %u: the dSYM %s in %s is not for %s (%s%s%.*s)",
					 f->num, archive_entry_name(s->ar, ix->v[i].idx),
					 s->ar->path, mod, im && im->has_uuid ? "UUID " : "",
					 u[0] ? u : "", u[0] ? 0 : (int)arch_len,
					 arch ? arch : "architecture unknown");
				miss = MISS_MISMATCH;
				continue;
			}
			if (grow_queries(s) < 0)
				return -1;
			/* text may move as it grows: offsets now, pointers
			 * once every query is in */
			struct msym_query *q = &s->q[s->nq];
			s->path_off[s->nq] = s->text.len;
			if (buf_add(&s->text, df->path, strlen(df->path) + 1) < 0)
				return -1;
			s->arch_off[s->nq] = s->text.len;
			if (buf_add(&s->text, sl->arch, strlen(sl->arch) + 1) < 0)
				return -1;
			s->fat[s->nq] = (char)df->mi.fat;
			q->addr = (sl->has_text ? sl->text_vmaddr : 0) + f->offset;
			s->load[s->nq] = f->load;
			s->addr[s->nq] = f->load + f->offset;
			s->nq++;
			return MISS_NONE;
		}
	}
	if (!found)
		sym_miss(s->res, MISS_NO_MAP, "frame %u: no dSYM for %s in %s", f->num, mod,
			 s->ar->path);
	return miss;
}

static int add_answer(struct ios_stack *s, const struct ios_frame *f, size_t qi, struct buf *out)
{
	const struct msym_answer *a = &s->ans[qi];
	int cr = f->line_len && f->line[f->line_len - 1] == '\r';
	for (unsigned k = 0; k < a->n; k++) {
		const struct msym_level *lv = &a->lv[k];
		if (k) {
			if ((cr && buf_add(out, "\r", 1) < 0) || buf_add(out, "\n", 1) < 0)
				return -1;
			for (size_t i = 0; i < f->repl; i++)
				if (buf_add(out, f->line[i] == '\t' ? "\t" : " ", 1) < 0)
					return -1;
		}
		if (ios_add_entry(out, s->atext.p + lv->func, lv->func_len, f->module,
				  f->module_len, s->atext.p + lv->file, lv->file_len, lv->line,
				  lv->has_start && lv->start <= s->q[qi].addr,
				  s->q[qi].addr - lv->start) < 0)
			return -1;
	}
	return 0;
}

static int splice_frame(void *ctx, const struct ios_frame *f, struct buf *out)
{
	struct ios_stack *s = ctx;
	if (s->at >= s->nframes)
		return 0;
	const struct fstate *fs = &s->fs[s->at++];
	if (fs->q < 0) {
		metric_inc(s->cx->m_frame_miss[fs->miss]);
		return 0;
	}
	if (s->cx->atos) {
		size_t n = s->alen[fs->q];
		if (!n) {
			metric_inc(s->cx->m_frame_miss[MISS_UNMAPPED]);
			return 0;
		}
		return buf_add(out, s->atext.p + s->aline[fs->q], n) < 0 ? -1 : 1;
	}
	if (!s->ans[fs->q].n) {
		sym_miss(s->res, MISS_UNMAPPED, "frame %u: nothing at 0x%llx in the dSYM of %.*s",
			 f->num, (unsigned long long)s->q[fs->q].addr, (int)f->module_len,
			 f->module);
		metric_inc(s->cx->m_frame_miss[MISS_UNMAPPED]);
		return 0;
	}
	return add_answer(s, f, (size_t)fs->q, out) < 0 ? -1 : 1;
}

/* --atos: one run per module (file and slice) of the stack. */
static int run_atos(struct ios_stack *s, struct rum_error *err)
{
	char *done = calloc(s->nq ? s->nq : 1, 1);
	uint64_t *addrs = malloc((s->nq ? s->nq : 1) * sizeof *addrs);
	size_t *qi = malloc((s->nq ? s->nq : 1) * sizeof *qi);
	size_t *lo = malloc((s->nq ? s->nq : 1) * sizeof *lo);
	size_t *ll = malloc((s->nq ? s->nq : 1) * sizeof *ll);
	int rc = -1;
	if (!done || !addrs || !qi || !lo || !ll) {
		err_set(err, "out of memory");
		goto out;
	}
	rc = 0;
	for (size_t i = 0; i < s->nq; i++) {
		if (done[i])
			continue;
		size_t n = 0;
		for (size_t j = i; j < s->nq; j++)
			if (!done[j] && strcmp(s->q[j].obj, s->q[i].obj) == 0 &&
			    strcmp(s->q[j].arch, s->q[i].arch) == 0 && s->load[j] == s->load[i]) {
				done[j] = 1;
				qi[n] = j;
				addrs[n++] = s->addr[j];
			}
		if (msym_atos(s->cx->atos, s->q[i].obj, s->q[i].arch, s->load[i], addrs, n, lo, ll,
			      &s->atext, err) < 0) {
			static struct log_ratelimit rl = LOG_RATELIMIT_INIT(2);
			log_rl(&rl, RLOG_WARN, "%s", err->msg);
			for (size_t k = 0; k < n; k++)
				s->alen[qi[k]] = 0;
			rc = -1;
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			s->aline[qi[k]] = lo[k];
			s->alen[qi[k]] = ll[k];
		}
	}
out:
	free(done);
	free(addrs);
	free(qi);
	free(lo);
	free(ll);
	return rc;
}

/* The module names of the cached index, copied: the index itself may be
 * evicted while the frames' dSYMs are got (a tiny budget). */
static int copy_index(const struct dsym_index *ix, struct dsym_index *local)
{
	*local = (struct dsym_index){0};
	if (!ix->n)
		return 0;
	local->v = malloc(ix->n * sizeof *local->v);
	if (!local->v)
		return -1;
	for (size_t i = 0; i < ix->n; i++) {
		local->v[i].idx = ix->v[i].idx;
		local->v[i].module = strdup(ix->v[i].module);
		if (!local->v[i].module) {
			local->n = i;
			return -1;
		}
	}
	local->n = ix->n;
	return 0;
}

static void free_index_copy(struct dsym_index *local)
{
	for (size_t i = 0; i < local->n; i++)
		free(local->v[i].module);
	free(local->v);
}

/* Pass 2: every query answered, by --atos or by llvm-symbolizer in one
 * batch. A failed engine is a miss (engine) for the frames it had; -1
 * only when out of memory. */
static int answer_queries(struct ios_stack *s, struct rum_error *err)
{
	const struct sym_ctx *cx = s->cx;
	for (size_t i = 0; i < s->nq; i++) {
		s->q[i].obj = s->text.p + s->path_off[i];
		/* atos is always given -arch; llvm-symbolizer a slice of a
		 * universal file only */
		s->q[i].arch = cx->atos || s->fat[i] ? s->text.p + s->arch_off[i] : NULL;
	}
	if (!s->nq)
		return 0;
	int brc;
	if (cx->atos) {
		size_t *lo = realloc(s->aline, s->nq * sizeof *lo);
		if (lo)
			s->aline = lo;
		size_t *ll = realloc(s->alen, s->nq * sizeof *ll);
		if (ll)
			s->alen = ll;
		if (!lo || !ll)
			return -1;
		brc = run_atos(s, err);
	} else {
		struct msym_answer *na = realloc(s->ans, s->nq * sizeof *na);
		if (!na)
			return -1;
		s->ans = na;
		brc = msym_batch(s->q, s->nq, s->ans, &s->atext, err);
		metric_inc(m_batches);
		metric_set(m_starts, msym_starts());
	}
	if (brc < 0) {
		sym_miss(s->res, MISS_ENGINE, "%s", err->msg);
		if (!cx->atos) {
			for (size_t i = 0; i < s->nframes; i++)
				if (s->fs[i].q >= 0) {
					s->fs[i].q = -1;
					s->fs[i].miss = MISS_ENGINE;
				}
		}
	}
	return 0;
}

static int restore_stack(struct sym_ctx *cx, struct archive *ar, const struct sym_request *rq,
			 struct buf *out, struct sym_result *res)
{
	static struct ios_stack s;
	struct rum_error err;
	int rc = 0;
	s.cx = cx;
	s.ar = ar;
	s.res = res;
	s.nframes = s.nq = s.at = 0;
	s.text.len = 0;
	s.atext.len = 0;
	if (cx->symbolizer)
		msym_set_program(cx->symbolizer);

	if (ios_report_scan(rq->stack, rq->stack_len, &s.rep) < 0)
		return -1;
	int why;
	const struct dsym_index *ix =
	    objcache_get(cx->cache, ar->id, INDEX_ENTRY, &index_kind, ar, &why, &err);
	if (!ix) {
		sym_miss(res, (enum sym_miss)why, "%s", err.msg);
		return 0;
	}
	if (!ix->n)
		sym_miss(res, MISS_NO_MAP, "no dSYM in %s", ar->path);
	/* pass 1: a query per frame. ix stays valid: only dSYMs are got
	 * below, and an entry just used is never the one evicted... unless
	 * the budget is tiny, so the module names are copied first. */
	struct dsym_index local;
	if (copy_index(ix, &local) < 0)
		goto oom;
	size_t pos = 0;
	struct ios_frame f;
	while (ios_next_frame(rq->stack, rq->stack_len, &pos, &f) && s.nframes < IOS_MAX_FRAMES) {
		if (ARRAY_RESERVE(s.fs, s.cap, s.nframes + 1, IOS_MAX_FRAMES) < 0)
			goto oom;
		int miss = local.n ? frame_query(&s, &local, &f, NULL) : MISS_NO_MAP;
		if (miss < 0)
			goto oom;
		s.fs[s.nframes].q = miss == MISS_NONE ? (int)s.nq - 1 : -1;
		s.fs[s.nframes].miss = miss;
		s.nframes++;
	}
	if (answer_queries(&s, &err) < 0)
		goto oom;
	size_t frames = 0, restored = 0;
	rc = ios_splice(rq->stack, rq->stack_len, splice_frame, &s, out, &frames, &restored);
	res->frames = (unsigned)frames;
	res->restored = (unsigned)restored;
	goto done;
oom:
	rc = -1;
done:
	free_index_copy(&local);
	return rc;
}

static int ios_restore(struct sym_ctx *cx, struct archive *ar, const struct sym_request *rq,
		       struct buf *out, struct sym_result *res)
{
	in_restore = 1;
	int rc = restore_stack(cx, ar, rq, out, res);
	in_restore = 0;
	delete_doomed();
	return rc;
}

static void ios_init(void)
{
	m_extracted =
	    metric_get("rum_symbolicate_ios_dsyms_extracted_total", NULL, METRIC_COUNTER,
		       "dSYM files extracted from zips into the private cache directory.");
	m_extracted_bytes = metric_get("rum_symbolicate_ios_dsym_bytes_extracted_total", NULL,
				       METRIC_COUNTER, "Bytes of dSYM files extracted.");
	m_starts = metric_get("rum_symbolicate_ios_symbolizer_starts", NULL, METRIC_GAUGE,
			      "Times llvm-symbolizer was started (restarts after removed dSYMs "
			      "or failures included).");
	m_batches = metric_get("rum_symbolicate_ios_batches_total", NULL, METRIC_COUNTER,
			       "Stacks sent to llvm-symbolizer as one batch.");
}

static const char *const ios_sdks[] = {"df_ios_rum_sdk", NULL};

const struct platform platform_ios = {
    .name = "ios",
    .sdk_names = ios_sdks,
    .restore = ios_restore,
    .init = ios_init,
};
