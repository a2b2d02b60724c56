/* What rum-symbolicate needs to know of a Mach-O file (a dSYM's DWARF
 * file, or the binary itself): its slices — one for a thin file, one per
 * architecture for a universal (fat) one — each with its CPU, LC_UUID and
 * the __TEXT segment's VM address (where a load-relative offset starts in
 * the file's own addresses). Only the headers and load commands are read;
 * every offset and size is checked against the bytes given, so any input
 * is safe. Little-endian slices only: every Apple platform since PowerPC. */
#ifndef RUM_SYMBOLICATE_MACHO_H
#define RUM_SYMBOLICATE_MACHO_H

#include <stddef.h>
#include <stdint.h>

#include "errmsg.h"

#define MACHO_MAX_SLICES 16

struct macho_slice {
	uint32_t cputype, cpusubtype;
	uint64_t offset, size; /* of the slice in the file */
	int has_uuid, has_text;
	uint8_t uuid[16];
	uint64_t text_vmaddr;
	char arch[16]; /* "arm64", "arm64e", "x86_64", "armv7", ... or "cpu-T-S" */
};

struct macho_info {
	int fat;
	unsigned nslices;
	struct macho_slice s[MACHO_MAX_SLICES];
};

/* Reads the file's slices; -1 with the reason in err when it is no Mach-O
 * file (or a fat file whose slices are not). */
int macho_parse(const unsigned char *p, size_t len, struct macho_info *mi, struct rum_error *err);

/* The architecture name of a CPU type and subtype, as atos and lipo
 * spell it, written into out. */
void macho_arch_name(uint32_t cputype, uint32_t cpusubtype, char *out, size_t cap);

/* "4C4C44A9-5555-3144-A196-7238B2E31FF2", "4c4c44a955553144a1967238b2e31ff2"
 * (any case): 0 and the 16 bytes, -1 when it is not a UUID. */
int macho_uuid_parse(const char *s, size_t n, uint8_t uuid[16]);
/* The dashed upper-case form (37 bytes with the NUL). */
void macho_uuid_format(const uint8_t uuid[16], char out[37]);

#endif
