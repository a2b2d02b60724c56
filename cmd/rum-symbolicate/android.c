/* Android stacks, by error_type:
 *  - java_crash: the zip's mapping.txt (R8/ProGuard), parsed once into the
 *    cache, the whole stack retraced with it (retrace.h);
 *  - native_crash: the SDK's tombstone; each backtrace frame's library is
 *    the zip entry <abi>/<lib>.so, opened once into the cache (dwarfsym.h),
 *    and the symbolized lines are spliced into the report (tombstone.h).
 * Other error types (ANRs, ...) have nothing to restore: unsupported. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwarfsym.h"
#include "log.h"
#include "metrics.h"
#include "platform.h"
#include "r8map.h"
#include "retrace.h"
#include "tombstone.h"

#define LIB_NAME_CAP 512

enum { T_JAVA, T_NATIVE, T_OTHER, T_N };
static const char *const type_names[T_N] = {"java_crash", "native_crash", "other"};
static uint64_t *m_types[T_N], *m_types_restored[T_N];

static int type_of(const char *t)
{
	if (strcmp(t, "java_crash") == 0)
		return T_JAVA;
	if (strcmp(t, "native_crash") == 0)
		return T_NATIVE;
	return T_OTHER;
}

static void android_init(void)
{
	char l[64];
	for (int i = 0; i < T_N; i++) {
		snprintf(l, sizeof l, "error_type=\"%s\"", type_names[i]);
		m_types[i] = metric_get("rum_symbolicate_android_stacks_total", l, METRIC_COUNTER,
					"Android error stacks read, by error_type (other: passed "
					"unchanged as unsupported).");
		m_types_restored[i] = metric_get(
		    "rum_symbolicate_android_stacks_restored_total", l, METRIC_COUNTER,
		    "Android error stacks with at least one frame restored, by error_type.");
	}
}

static int android_accepts(const struct sym_request *rq, struct sym_result *res)
{
	int t = type_of(rq->error_type);
	metric_inc(m_types[t]);
	if (t != T_OTHER)
		return 1;
	sym_miss(res, MISS_UNSUPPORTED, "android error_type '%.64s' is not restored%s",
		 rq->error_type, *rq->error_type ? "" : " (none given)");
	return 0;
}

/* ---- what goes into the cache ---- */

struct entry_load {
	struct archive *ar;
	uint64_t idx;
	uint64_t max_size;
};

static int open_entry(struct entry_load *el, struct archive_reader *rd, struct rum_error *err)
{
	struct rum_error e;
	if (archive_reader_open(el->ar, el->idx, el->max_size, rd, &e) == 0)
		return 0;
	err_set(err, "%s in %s: %s", archive_entry_name(el->ar, el->idx), el->ar->path, e.msg);
	log_warn("%s", err->msg);
	return -1;
}

static void *load_mapping(void *ctx, size_t mem_limit, size_t *mem, int *why, struct rum_error *err)
{
	struct entry_load *el = ctx;
	struct archive_reader rd;
	struct rum_error e;
	*why = MISS_BAD_MAP;
	if (open_entry(el, &rd, err) < 0)
		return NULL;
	struct r8map *m = rd.mem ? r8map_parse_mem(rd.mem, rd.size, mem_limit, &e)
				 : r8map_parse(archive_read, &rd, mem_limit, &e);
	if (!m)
		err_set(err, "%s in %s: %s", archive_entry_name(el->ar, el->idx), el->ar->path,
			rd.failed ? rd.err : e.msg);
	archive_reader_close(&rd);
	if (!m) {
		log_warn("%s", err->msg);
		return NULL;
	}
	*mem = r8map_memory(m);
	log_debug("%s in %s: %zu classes, %zu methods, %zu bytes",
		  archive_entry_name(el->ar, el->idx), el->ar->path, r8map_classes(m),
		  r8map_methods(m), *mem);
	return m;
}

static void free_mapping(void *m)
{
	r8map_free(m);
}

static const struct objcache_kind mapping_kind = {"mapping.txt", load_mapping, free_mapping};

/* The ELF machine a library under each ABI directory must be for: a
 * library of another machine would give wrong names, not none. */
static unsigned abi_machine(const char *abi)
{
	static const struct {
		const char *abi;
		unsigned em;
	} t[] = {{"arm64-v8a", EM_AARCH64}, {"armeabi-v7a", EM_ARM}, {"armeabi", EM_ARM},
		 {"x86", EM_386},	    {"x86_64", EM_X86_64},   {"riscv64", EM_RISCV}};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (strcmp(abi, t[i].abi) == 0)
			return t[i].em;
	return 0;
}

struct lib_load {
	struct entry_load el;
	const char *abi;
};

static void *load_lib(void *ctx, size_t mem_limit, size_t *mem, int *why, struct rum_error *err)
{
	struct lib_load *ll = ctx;
	struct entry_load *el = &ll->el;
	const char *name = archive_entry_name(el->ar, el->idx);
	struct archive_reader rd;
	*why = MISS_BAD_MAP;
	if (open_entry(el, &rd, err) < 0)
		return NULL;
	if (rd.size > mem_limit) {
		err_set(err, "%s in %s: %llu bytes, more than --memory-mb", name, el->ar->path,
			(unsigned long long)rd.size);
		archive_reader_close(&rd);
		log_warn("%s", err->msg);
		return NULL;
	}
	/* dsym_open takes a malloc'd image: the inflated entry is handed
	 * over as it is, a streamed one read into a block of its size. */
	char *img = rd.mem;
	rd.mem = NULL;
	if (!img) {
		img = malloc(rd.size ? (size_t)rd.size : 1);
		size_t got = 0;
		ssize_t r = 1;
		while (img && got < rd.size &&
		       (r = archive_read(&rd, img + got, (size_t)rd.size - got)) > 0)
			got += (size_t)r;
		if (!img || got < rd.size) {
			err_set(err, "%s in %s: %s", name, el->ar->path,
				!img	? "out of memory"
				: r < 0 ? rd.err
					: "cut short");
			free(img);
			archive_reader_close(&rd);
			log_warn("%s", err->msg);
			return NULL;
		}
	}
	size_t len = (size_t)rd.size;
	archive_reader_close(&rd);
	struct rum_error e;
	struct dsym *ds = dsym_open(img, len, &e);
	if (!ds) {
		err_set(err, "%s in %s: %s", name, el->ar->path, e.msg);
		log_warn("%s", err->msg);
		return NULL;
	}
	unsigned want = abi_machine(ll->abi);
	if (want && dsym_machine(ds) != want) {
		err_set(err, "%s in %s: an ELF file for machine %u, not for %s", name, el->ar->path,
			dsym_machine(ds), ll->abi);
		dsym_free(ds);
		log_warn("%s", err->msg);
		return NULL;
	}
	*mem = dsym_memory(ds);
	log_debug("%s in %s: opened, %zu bytes", name, el->ar->path, *mem);
	return ds;
}

static void free_lib(void *ds)
{
	dsym_free(ds);
}

static const struct objcache_kind lib_kind = {"native library", load_lib, free_lib};

/* ---- java_crash ---- */

static int java_restore(struct sym_ctx *cx, struct archive *ar, const struct sym_request *rq,
			struct buf *out, struct sym_result *res)
{
	struct rum_error err;
	int64_t idx = archive_locate(ar, "mapping.txt");
	if (idx < 0) {
		sym_miss(res, MISS_NO_MAP, "no mapping.txt in %s", ar->path);
		return 0;
	}
	struct entry_load el = {ar, (uint64_t)idx, cx->max_map_size};
	int why;
	const struct r8map *m =
	    objcache_get(cx->cache, ar->id, (uint64_t)idx, &mapping_kind, &el, &why, &err);
	if (!m) {
		sym_miss(res, (enum sym_miss)why, "%s", err.msg);
		return 0;
	}
	size_t mark = out->len;
	struct retrace_stats st = {0};
	if (retrace_stack(m, rq->stack, rq->stack_len, out, &st) < 0)
		return -1;
	res->frames = (unsigned)st.frames;
	res->restored = (unsigned)st.mapped;
	/* A map that knows the classes but changes nothing (names kept, no
	 * line info) restored nothing: no error_stack_source. */
	if (res->restored && out->len - mark == rq->stack_len &&
	    memcmp(out->p + mark, rq->stack, rq->stack_len) == 0) {
		res->restored = 0;
		sym_miss(res, MISS_UNMAPPED, "mapping.txt in %s changes nothing in the stack",
			 ar->path);
	}
	if (st.frames > res->restored)
		metric_add(cx->m_frame_miss[MISS_UNMAPPED], st.frames - res->restored);
	if (!res->restored && st.frames)
		sym_miss(res, MISS_UNMAPPED, "no frame's class is in mapping.txt of %s", ar->path);
	return 0;
}

/* ---- native_crash ---- */

/* Frames of a backtrace mostly run through a few libraries: the last
 * one's library (or why it had none) is reused without a lookup in the zip
 * or the cache; it stays valid until the next objcache_get. */
struct native {
	struct sym_ctx *cx;
	struct archive *ar;
	struct sym_result *res;
	char last[LIB_NAME_CAP];
	struct dsym *last_ds;
	int last_why;
	struct dsym_result r;
};

static int frame_miss(struct native *n, enum sym_miss why)
{
	metric_inc(n->cx->m_frame_miss[why]);
	return 0;
}

static struct dsym *lib_for(struct native *n, const struct tomb_frame *f, int *why)
{
	char name[LIB_NAME_CAP];
	struct rum_error err;
	if (!f->lib || !f->abi) {
		*why = MISS_NO_MAP;
		sym_miss(n->res, MISS_NO_MAP, "frame #%02u: %s", f->num,
			 f->abi ? "no .so library" : "no known ABI in the report");
		return NULL;
	}
	if (f->lib_len + strlen(f->abi) + 2 > sizeof name) {
		*why = MISS_BAD_URL;
		sym_miss(n->res, MISS_BAD_URL, "frame #%02u: a library name of %zu bytes", f->num,
			 f->lib_len);
		return NULL;
	}
	snprintf(name, sizeof name, "%s/%.*s", f->abi, (int)f->lib_len, f->lib);
	if (strcmp(name, n->last) == 0) {
		*why = n->last_why;
		return n->last_ds;
	}
	struct dsym *ds = NULL;
	*why = 0;
	int64_t idx = memchr(f->lib, 0, f->lib_len) ? -1 : archive_locate(n->ar, name);
	if (idx < 0) {
		*why = MISS_NO_MAP;
		sym_miss(n->res, MISS_NO_MAP, "no %s in %s", name, n->ar->path);
	} else {
		struct lib_load ll = {{n->ar, (uint64_t)idx, n->cx->max_map_size}, f->abi};
		ds =
		    objcache_get(n->cx->cache, n->ar->id, (uint64_t)idx, &lib_kind, &ll, why, &err);
		if (!ds)
			sym_miss(n->res, (enum sym_miss) * why, "%s", err.msg);
	}
	memcpy(n->last, name, strlen(name) + 1);
	n->last_ds = ds;
	n->last_why = *why;
	return ds;
}

static int native_frame(void *ctx, const struct tomb_frame *f, struct buf *out)
{
	struct native *n = ctx;
	int why;
	struct dsym *ds = lib_for(n, f, &why);
	if (!ds)
		return frame_miss(n, (enum sym_miss)why);
	if (dsym_lookup(ds, f->pc, &n->r) == 0) {
		sym_miss(n->res, MISS_UNMAPPED, "frame #%02u: nothing at 0x%llx in %s/%.*s", f->num,
			 (unsigned long long)f->pc, f->abi, (int)f->lib_len, f->lib);
		return frame_miss(n, MISS_UNMAPPED);
	}
	return tomb_add_locations(out, f, &n->r) < 0 ? -1 : 1;
}

static int native_restore(struct sym_ctx *cx, struct archive *ar, const struct sym_request *rq,
			  struct buf *out, struct sym_result *res)
{
	static struct native n; /* the dsym_result is 4 KB; one stack at a time */
	n.cx = cx;
	n.ar = ar;
	n.res = res;
	n.last[0] = 0;
	n.last_ds = NULL;
	if (!tomb_abi(rq->stack, rq->stack_len))
		sym_miss(res, MISS_NO_FRAMES, "no known ABI ('ABI:' or 'ABI list:') in the report");
	struct tomb_stats st = {0};
	if (tomb_splice(rq->stack, rq->stack_len, native_frame, &n, out, &st) < 0)
		return -1;
	if (!st.has_backtrace)
		sym_miss(res, MISS_NO_FRAMES, "no 'backtrace:' line in the report");
	res->frames = (unsigned)st.frames;
	res->restored = (unsigned)st.restored;
	return 0;
}

static int android_restore(struct sym_ctx *cx, struct archive *ar, const struct sym_request *rq,
			   struct buf *out, struct sym_result *res)
{
	int t = type_of(rq->error_type);
	int rc =
	    t == T_JAVA ? java_restore(cx, ar, rq, out, res) : native_restore(cx, ar, rq, out, res);
	if (rc == 0 && res->restored)
		metric_inc(m_types_restored[t]);
	return rc;
}

static const char *const android_sdks[] = {"df_android_rum_sdk", NULL};

const struct platform platform_android = {
    .name = "android",
    .sdk_names = android_sdks,
    .restore = android_restore,
    .accepts = android_accepts,
    .init = android_init,
};
