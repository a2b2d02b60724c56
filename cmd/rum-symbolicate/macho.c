/* Mach-O headers and load commands, bounds-checked. */
#include "macho.h"

#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "hex.h"

#define FAT_MAGIC 0xcafebabeu
#define FAT_MAGIC_64 0xcafebabfu
#define MH_MAGIC 0xfeedfaceu
#define MH_MAGIC_64 0xfeedfacfu
#define LC_SEGMENT 0x1u
#define LC_SEGMENT_64 0x19u
#define LC_UUID 0x1bu
#define CPU_ARCH_ABI64 0x01000000u
#define CPU_ARCH_ABI64_32 0x02000000u
#define CPU_TYPE_X86 7u
#define CPU_TYPE_ARM 12u

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

void macho_arch_name(uint32_t cputype, uint32_t cpusubtype, char *out, size_t cap)
{
	uint32_t sub = cpusubtype & 0x00ffffffu;
	const char *n = NULL;
	if (cputype == (CPU_TYPE_ARM | CPU_ARCH_ABI64))
		n = sub == 2 ? "arm64e" : "arm64";
	else if (cputype == (CPU_TYPE_ARM | CPU_ARCH_ABI64_32))
		n = "arm64_32";
	else if (cputype == (CPU_TYPE_X86 | CPU_ARCH_ABI64))
		n = sub == 8 ? "x86_64h" : "x86_64";
	else if (cputype == CPU_TYPE_X86)
		n = "i386";
	else if (cputype == CPU_TYPE_ARM)
		n = sub == 9	? "armv7"
		    : sub == 11 ? "armv7s"
		    : sub == 12 ? "armv7k"
		    : sub == 6	? "armv6"
				: "arm";
	if (n)
		snprintf(out, cap, "%s", n);
	else
		snprintf(out, cap, "cpu-%u-%u", cputype, sub);
}

static int thin(const unsigned char *p, size_t len, struct macho_slice *s, struct rum_error *err)
{
	uint32_t magic = len >= 4 ? get_le32(p) : 0;
	if (magic != MH_MAGIC && magic != MH_MAGIC_64) {
		err_set(err, "not a Mach-O file (magic 0x%08x)", magic);
		return -1;
	}
	int is64 = magic == MH_MAGIC_64;
	size_t hdr = is64 ? 32 : 28;
	if (len < hdr) {
		err_set(err, "a Mach-O header cut short (%zu bytes)", len);
		return -1;
	}
	s->cputype = get_le32(p + 4);
	s->cpusubtype = get_le32(p + 8);
	macho_arch_name(s->cputype, s->cpusubtype, s->arch, sizeof s->arch);
	uint32_t ncmds = get_le32(p + 16), sizeofcmds = get_le32(p + 20);
	if (sizeofcmds > len - hdr) {
		err_set(err, "load commands (%u bytes) past the end of the file", sizeofcmds);
		return -1;
	}
	const unsigned char *c = p + hdr, *end = c + sizeofcmds;
	for (uint32_t i = 0; i < ncmds; i++) {
		if (end - c < 8)
			break;
		uint32_t cmd = get_le32(c), size = get_le32(c + 4);
		if (size < 8 || size > (size_t)(end - c)) {
			err_set(err, "load command %u has a size of %u bytes", i, size);
			return -1;
		}
		if (cmd == LC_UUID && size >= 24) {
			memcpy(s->uuid, c + 8, 16);
			s->has_uuid = 1;
		} else if (cmd == LC_SEGMENT_64 && size >= 32 && !s->has_text &&
			   memcmp(c + 8, "__TEXT\0", 7) == 0) {
			s->text_vmaddr = get_le64(c + 24);
			s->has_text = 1;
		} else if (cmd == LC_SEGMENT && size >= 28 && !s->has_text &&
			   memcmp(c + 8, "__TEXT\0", 7) == 0) {
			s->text_vmaddr = get_le32(c + 24);
			s->has_text = 1;
		}
		c += size;
	}
	return 0;
}

int macho_parse(const unsigned char *p, size_t len, struct macho_info *mi, struct rum_error *err)
{
	memset(mi, 0, sizeof *mi);
	if (len < 8) {
		err_set(err, "not a Mach-O file (%zu bytes)", len);
		return -1;
	}
	uint32_t magic = be32(p);
	if (magic != FAT_MAGIC && magic != FAT_MAGIC_64) {
		mi->nslices = 1;
		mi->s[0].size = len;
		return thin(p, len, &mi->s[0], err);
	}
	/* A Java class file has the same magic; its version (45 and up) is
	 * where a fat file has its slice count. */
	uint32_t n = be32(p + 4);
	size_t esz = magic == FAT_MAGIC_64 ? 32 : 20;
	if (n == 0 || n > MACHO_MAX_SLICES) {
		err_set(err, "a universal file of %u slices", n);
		return -1;
	}
	if ((len - 8) / esz < n) {
		err_set(err, "a universal file's slice table cut short");
		return -1;
	}
	mi->fat = 1;
	for (uint32_t i = 0; i < n; i++) {
		const unsigned char *e = p + 8 + i * esz;
		struct macho_slice *s = &mi->s[i];
		uint64_t off = esz == 32 ? be64(e + 8) : be32(e + 8);
		uint64_t size = esz == 32 ? be64(e + 16) : be32(e + 12);
		if (off > len || size > len - off) {
			err_set(err, "slice %u (offset %llu, %llu bytes) past the end", i,
				(unsigned long long)off, (unsigned long long)size);
			return -1;
		}
		s->offset = off;
		s->size = size;
		if (thin(p + off, (size_t)size, s, err) < 0) {
			err_prefix(err, "slice %u", i);
			return -1;
		}
		/* the table's CPU is the one lipo and atos select by */
		s->cputype = be32(e);
		s->cpusubtype = be32(e + 4);
		macho_arch_name(s->cputype, s->cpusubtype, s->arch, sizeof s->arch);
		mi->nslices++;
	}
	return 0;
}

int macho_uuid_parse(const char *s, size_t n, uint8_t uuid[16])
{
	static const size_t dashes[] = {8, 13, 18, 23};
	int dashed = n == 36;
	if (n != 32 && n != 36)
		return -1;
	size_t o = 0, d = 0;
	for (size_t i = 0; i < n;) {
		if (dashed && d < 4 && i == dashes[d]) {
			if (s[i] != '-')
				return -1;
			d++;
			i++;
			continue;
		}
		if (i + 1 >= n)
			return -1;
		int a = hex_digit(s[i]), b = hex_digit(s[i + 1]);
		if (a < 0 || b < 0 || o >= 16)
			return -1;
		uuid[o++] = (uint8_t)(a << 4 | b);
		i += 2;
	}
	return o == 16 ? 0 : -1;
}

void macho_uuid_format(const uint8_t u[16], char out[37])
{
	snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}
