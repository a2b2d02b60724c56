/* ELF/DWARF symbolization with libdw, for NDK libraries held in memory. */
#include "dwarfsym.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

struct cu_range {
	uint64_t lo, hi;
	Dwarf_Off die_off; /* the unit DIE's offset in .debug_info */
};

/* A function's concrete instance: a subprogram with code, or one inlined
 * copy of a function. */
struct fn_node {
	Dwarf_Off die_off;
	int32_t parent; /* for an inlined copy: the function it was inlined
			   into (node index), else -1 */
	uint32_t depth; /* 0 for a subprogram */
};

/* One address range of a node. Sorted by lo, then depth: an inlined
 * copy's range comes after the range of its caller that holds it. */
struct fn_range {
	uint64_t lo, hi;
	uint32_t node;
	uint32_t depth;
};

struct func_sym {
	uint64_t lo, hi;
	const char *name;
};

/* Bytes of decoded line table (libdw's) per byte of .debug_line, with the
 * DIEs libdw reads on the way: measured with contrib/bench/ndk. */
#define LINE_TABLE_FACTOR 24

struct dsym {
	void *image;
	size_t len;
	Elf *elf;
	Dwarf *dw; /* NULL: no DWARF, symbol table only */
	unsigned machine;
	struct cu_range *cus;
	size_t ncus;
	struct func_sym *syms;
	size_t nsyms;
	struct fn_node *nodes;
	size_t nnodes, cap_nodes;
	struct fn_range *ranges;
	size_t nranges, cap_ranges;
	size_t line_bytes; /* .debug_line's size: what lazily decoded tables grow with */
	size_t memory;
};

static int cmp_cu(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp_sym(const void *a, const void *b)
{
	const struct func_sym *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	/* among aliases, the sized one first: it says where the code ends */
	return (x->hi > y->hi) ? -1 : (x->hi < y->hi);
}

static int cmp_range(const void *a, const void *b)
{
	const struct fn_range *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->depth < y->depth ? -1 : x->depth > y->depth;
}

/* Deeper DIE trees than this are not real code (and would exhaust the
 * stack): their insides are not indexed. */
#define MAX_DIE_DEPTH 256

/* Indexes the functions with code under die: subprograms and their
 * inlined copies, through lexical blocks, namespaces and classes. One walk
 * of each unit at open replaces dwarf_getscopes' walk per lookup (which
 * made a lookup cost a whole unit's DIEs). */
static int walk_functions(struct dsym *ds, Dwarf_Die *die, int32_t fn, unsigned level)
{
	Dwarf_Die child;
	if (level > MAX_DIE_DEPTH || dwarf_child(die, &child) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&child);
		int32_t inner = fn;
		switch (tag) {
		case DW_TAG_subprogram:
		case DW_TAG_inlined_subroutine:
		case DW_TAG_entry_point: {
			int inl = tag == DW_TAG_inlined_subroutine && fn >= 0;
			uint32_t depth = inl ? ds->nodes[fn].depth + 1 : 0;
			Dwarf_Addr base, lo, hi;
			ptrdiff_t off = 0;
			size_t first = ds->nranges;
			while ((off = dwarf_ranges(&child, off, &base, &lo, &hi)) > 0) {
				if (hi <= lo)
					continue;
				if (ARRAY_RESERVE(ds->ranges, ds->cap_ranges, ds->nranges + 1,
						  SIZE_MAX) < 0)
					return -1;
				ds->ranges[ds->nranges++] =
				    (struct fn_range){lo, hi, (uint32_t)ds->nnodes, depth};
			}
			if (ds->nranges == first)
				continue; /* a declaration or an abstract instance: no code */
			if (ds->nnodes >= INT32_MAX ||
			    ARRAY_RESERVE(ds->nodes, ds->cap_nodes, ds->nnodes + 1, SIZE_MAX) < 0)
				return -1;
			ds->nodes[ds->nnodes] =
			    (struct fn_node){dwarf_dieoffset(&child), inl ? fn : -1, depth};
			inner = (int32_t)ds->nnodes++;
			break;
		}
		case DW_TAG_lexical_block:
		case DW_TAG_namespace:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
		case DW_TAG_module:
		case DW_TAG_try_block:
		case DW_TAG_catch_block:
			break;
		default:
			continue;
		}
		if (walk_functions(ds, &child, inner, level + 1) < 0)
			return -1;
	} while (dwarf_siblingof(&child, &child) == 0);
	return 0;
}

/* Every unit's address ranges (DW_AT_low_pc/high_pc or DW_AT_ranges). */
static int index_units(struct dsym *ds)
{
	size_t cap = 0;
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie;
	uint8_t unit_type;
	int r;
	while ((r = dwarf_get_units(ds->dw, cu, &cu, NULL, &unit_type, &cudie, NULL)) == 0) {
		if (dwarf_tag(&cudie) != DW_TAG_compile_unit &&
		    dwarf_tag(&cudie) != DW_TAG_partial_unit)
			continue;
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = 0;
		while ((off = dwarf_ranges(&cudie, off, &base, &lo, &hi)) > 0) {
			if (hi <= lo)
				continue;
			if (ARRAY_RESERVE(ds->cus, cap, ds->ncus + 1, SIZE_MAX) < 0)
				return -1;
			ds->cus[ds->ncus++] = (struct cu_range){lo, hi, dwarf_dieoffset(&cudie)};
		}
		if (walk_functions(ds, &cudie, -1, 0) < 0)
			return -1;
	}
	if (ds->ncus)
		qsort(ds->cus, ds->ncus, sizeof *ds->cus, cmp_cu);
	if (ds->nranges)
		qsort(ds->ranges, ds->nranges, sizeof *ds->ranges, cmp_range);
	return 0;
}

/* Function symbols of .symtab, or of .dynsym when the file has no .symtab. */
static int index_symbols(struct dsym *ds)
{
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
	GElf_Shdr sh;
	while ((scn = elf_nextscn(ds->elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB && !symtab)
			symtab = scn;
		else if (sh.sh_type == SHT_DYNSYM && !dynsym)
			dynsym = scn;
		else if (sh.sh_type == SHT_PROGBITS) {
			size_t shstrndx;
			const char *name = NULL;
			if (elf_getshdrstrndx(ds->elf, &shstrndx) == 0)
				name = elf_strptr(ds->elf, shstrndx, sh.sh_name);
			if (name && strcmp(name, ".debug_line") == 0)
				ds->line_bytes = sh.sh_size < ds->len ? sh.sh_size : ds->len;
		}
	}
	scn = symtab ? symtab : dynsym;
	if (!scn || !gelf_getshdr(scn, &sh))
		return 0;
	Elf_Data *data = elf_getdata(scn, NULL);
	if (!data || sh.sh_entsize == 0)
		return 0;
	size_t n = sh.sh_size / sh.sh_entsize, cap = 0;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		if (!gelf_getsym(data, (int)i, &sym))
			break;
		int type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
		    sym.st_value == 0)
			continue;
		const char *name = elf_strptr(ds->elf, sh.sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		uint64_t lo = sym.st_value;
		if (ds->machine == EM_ARM)
			lo &= ~(uint64_t)1; /* the Thumb bit is not part of the address */
		if (ARRAY_RESERVE(ds->syms, cap, ds->nsyms + 1, SIZE_MAX) < 0)
			return -1;
		ds->syms[ds->nsyms++] = (struct func_sym){lo, lo + sym.st_size, name};
	}
	if (!ds->nsyms)
		return 0;
	qsort(ds->syms, ds->nsyms, sizeof *ds->syms, cmp_sym);
	/* a symbol of size 0 covers up to the next one, as llvm-symbolizer has it */
	for (size_t i = 0; i + 1 < ds->nsyms; i++)
		if (ds->syms[i].hi == ds->syms[i].lo)
			ds->syms[i].hi = ds->syms[i + 1].lo;
	return 0;
}

struct dsym *dsym_open(void *image, size_t len, struct rum_error *err)
{
	static int elf_ready;
	if (!elf_ready) {
		if (elf_version(EV_CURRENT) == EV_NONE) {
			free(image);
			err_set(err, "libelf: %s", elf_errmsg(-1));
			return NULL;
		}
		elf_ready = 1;
	}
	struct dsym *ds = calloc(1, sizeof *ds);
	if (!ds) {
		free(image);
		err_set(err, "out of memory");
		return NULL;
	}
	ds->image = image;
	ds->len = len;
	ds->elf = elf_memory(image, len);
	GElf_Ehdr eh;
	if (!ds->elf || elf_kind(ds->elf) != ELF_K_ELF || !gelf_getehdr(ds->elf, &eh)) {
		err_set(err, "not an ELF file");
		goto fail;
	}
	ds->machine = eh.e_machine;
	if (index_symbols(ds) < 0) {
		err_set(err, "out of memory");
		goto fail;
	}
	ds->dw = dwarf_begin_elf(ds->elf, DWARF_C_READ, NULL);
	if (ds->dw && index_units(ds) < 0) {
		err_set(err, "out of memory");
		goto fail;
	}
	if (!ds->ncus && !ds->nsyms) {
		err_set(err, "no debug info and no function symbols");
		goto fail;
	}
	/* libdw's decoded line tables are charged up front (see
	 * LINE_TABLE_FACTOR) so the cache's budget holds once the library is
	 * in use. */
	ds->memory = sizeof *ds + len + ds->ncus * sizeof *ds->cus + ds->nsyms * sizeof *ds->syms +
		     ds->cap_nodes * sizeof *ds->nodes + ds->cap_ranges * sizeof *ds->ranges +
		     LINE_TABLE_FACTOR * ds->line_bytes;
	return ds;
fail:
	dsym_free(ds);
	return NULL;
}

void dsym_free(struct dsym *ds)
{
	if (!ds)
		return;
	if (ds->dw)
		dwarf_end(ds->dw);
	if (ds->elf)
		elf_end(ds->elf);
	free(ds->cus);
	free(ds->syms);
	free(ds->nodes);
	free(ds->ranges);
	free(ds->image);
	free(ds);
}

unsigned dsym_machine(const struct dsym *ds)
{
	return ds->machine;
}

size_t dsym_memory(const struct dsym *ds)
{
	return ds->memory;
}

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

/* The C++ runtime's demangler, found at run time so that this C program
 * needs no C++ linkage; NULL when libstdc++ is not installed. */
static demangle_fn demangler(void)
{
	static int tried;
	static demangle_fn fn;
	if (tried)
		return fn;
	tried = 1;
	void *sym = dlsym(RTLD_DEFAULT, "__cxa_demangle");
	if (!sym) {
		void *lib = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
		if (lib)
			sym = dlsym(lib, "__cxa_demangle");
	}
	if (sym)
		memcpy(&fn, &sym, sizeof fn); /* object to function pointer, as POSIX allows */
	return fn;
}

static const char *keep(struct dsym_result *res, const char *s)
{
	size_t n = strlen(s) + 1;
	if (n > sizeof res->text - res->text_used)
		return NULL;
	char *p = res->text + res->text_used;
	memcpy(p, s, n);
	res->text_used += n;
	return p;
}

static const char *demangled(struct dsym_result *res, const char *name)
{
	if (strncmp(name, "_Z", 2) != 0)
		return name;
	demangle_fn fn = demangler();
	if (!fn)
		return name;
	int status = 0;
	char *d = fn(name, NULL, NULL, &status);
	if (!d || status != 0) {
		free(d);
		return name;
	}
	const char *k = keep(res, d);
	free(d);
	return k ? k : name;
}

static const char *die_name(struct dsym_result *res, Dwarf_Die *die)
{
	Dwarf_Attribute at;
	const char *s = NULL;
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &at) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &at))
		s = dwarf_formstring(&at);
	if (s)
		return demangled(res, s);
	if (dwarf_attr_integrate(die, DW_AT_name, &at))
		s = dwarf_formstring(&at);
	return s ? s : "??";
}

static const struct func_sym *find_sym(const struct dsym *ds, uint64_t addr)
{
	size_t lo = 0, hi = ds->nsyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ds->syms[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* lo: the first symbol past addr; aliases at one address sort sized first */
	while (lo > 0) {
		const struct func_sym *s = &ds->syms[lo - 1];
		if (addr < s->hi)
			return s;
		if (lo < 2 || ds->syms[lo - 2].lo != s->lo)
			break;
		lo--;
	}
	return NULL;
}

static const struct cu_range *find_cu(const struct dsym *ds, uint64_t addr)
{
	size_t lo = 0, hi = ds->ncus;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ds->cus[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && addr < ds->cus[lo - 1].hi)
		return &ds->cus[lo - 1];
	return NULL;
}

static unsigned from_symtab(const struct dsym *ds, uint64_t addr, struct dsym_result *res)
{
	const struct func_sym *s = find_sym(ds, addr);
	if (!s)
		return 0;
	res->loc[0] = (struct dsym_loc){demangled(res, s->name), "??", 0, 0};
	res->n = 1;
	res->from_symtab = 1;
	return 1;
}

/* Scans back at most this many ranges from the last one starting at or
 * before an address: a function with more inlined copies before the
 * address than this gets its innermost found among the nearest ones. */
#define MAX_SCAN 4096

/* The deepest function instance whose range holds addr, or -1. */
static int32_t innermost(const struct dsym *ds, uint64_t addr)
{
	size_t lo = 0, hi = ds->nranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ds->ranges[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* ranges[0..lo) start at or before addr; an inlined copy holding
	 * addr lies after its caller's range holding addr, so the scan stops
	 * at the first subprogram range that holds it */
	int32_t best = -1;
	uint32_t best_depth = 0;
	for (size_t k = lo, seen = 0; k > 0 && seen < MAX_SCAN; k--, seen++) {
		const struct fn_range *r = &ds->ranges[k - 1];
		if (addr >= r->hi)
			continue;
		if (best < 0 || r->depth > best_depth) {
			best = (int32_t)r->node;
			best_depth = r->depth;
		}
		if (r->depth == 0)
			break;
	}
	return best;
}

static const char *call_file(Dwarf_Die *cudie, Dwarf_Die *inl)
{
	Dwarf_Attribute at;
	Dwarf_Word idx;
	Dwarf_Files *files;
	size_t nfiles;
	if (!dwarf_attr(inl, DW_AT_call_file, &at) || dwarf_formudata(&at, &idx) != 0)
		return "??";
	if (dwarf_getsrcfiles(cudie, &files, &nfiles) != 0 || idx >= nfiles)
		return "??";
	const char *f = dwarf_filesrc(files, idx, NULL, NULL);
	return f ? f : "??";
}

static unsigned attr_uint(Dwarf_Die *die, int name)
{
	Dwarf_Attribute at;
	Dwarf_Word v;
	if (!dwarf_attr(die, name, &at) || dwarf_formudata(&at, &v) != 0 || v > UINT32_MAX)
		return 0;
	return (unsigned)v;
}

unsigned dsym_lookup(struct dsym *ds, uint64_t pc, struct dsym_result *res)
{
	res->n = 0;
	res->from_symtab = 0;
	res->text_used = 0;
	/* A tombstone's pc is Android's rel_pc: the map-relative pc plus the
	 * ELF's load bias, so already an address in the file's own virtual
	 * space (what llvm-symbolizer and ndk-stack take it for). */
	uint64_t addr = pc;
	const struct cu_range *cr = ds->dw ? find_cu(ds, addr) : NULL;
	Dwarf_Die cudie;
	if (!cr || !dwarf_offdie(ds->dw, cr->die_off, &cudie))
		return from_symtab(ds, addr, res);

	Dwarf_Line *line = dwarf_getsrc_die(&cudie, addr);
	int32_t node = innermost(ds, addr);
	Dwarf_Die die;
	if (node >= 0 && !dwarf_offdie(ds->dw, ds->nodes[node].die_off, &die))
		node = -1;
	if (!line && node < 0)
		return from_symtab(ds, addr, res);
	struct dsym_loc *l = &res->loc[0];
	if (node >= 0) {
		l->function = die_name(res, &die);
	} else {
		const struct func_sym *s = find_sym(ds, addr);
		l->function = s ? demangled(res, s->name) : "??";
	}
	l->file = "??";
	l->line = l->column = 0;
	if (line) {
		const char *f = dwarf_linesrc(line, NULL, NULL);
		int ln = 0, col = 0;
		if (f)
			l->file = f;
		if (dwarf_lineno(line, &ln) == 0 && ln > 0)
			l->line = (unsigned)ln;
		if (dwarf_linecol(line, &col) == 0 && col > 0)
			l->column = (unsigned)col;
	}
	res->n = 1;
	/* Each inlined copy's caller: the function it was inlined into, at
	 * the copy's call site (as llvm-symbolizer and eu-addr2line -i). */
	while (node >= 0 && ds->nodes[node].parent >= 0 && res->n < DSYM_MAX_INLINE) {
		int32_t up = ds->nodes[node].parent;
		Dwarf_Die caller;
		struct dsym_loc *c = &res->loc[res->n++];
		c->function = dwarf_offdie(ds->dw, ds->nodes[up].die_off, &caller)
				  ? die_name(res, &caller)
				  : "??";
		c->file = call_file(&cudie, &die);
		c->line = attr_uint(&die, DW_AT_call_line);
		c->column = attr_uint(&die, DW_AT_call_column);
		node = up;
		if (!dwarf_offdie(ds->dw, ds->nodes[node].die_off, &die))
			break;
	}
	return res->n;
}
