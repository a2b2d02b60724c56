/* The built-in dictionary: share/cdn-map.json assembled into the program as
 * it is, so rum-cdn works without an installed share/ directory. The path is
 * relative to the top of the source tree, where make runs the compiler;
 * GNUmakefile makes this object depend on the file. */
#include <stddef.h>

#include "cdnmap.h"

__asm__(".section .rodata\n"
	".global cdnmap_builtin\n"
	".balign 16\n"
	"cdnmap_builtin:\n"
	".incbin \"share/cdn-map.json\"\n"
	"cdnmap_builtin_end:\n"
	".byte 0\n"
	".global cdnmap_builtin_len\n"
	".balign 8\n"
	"cdnmap_builtin_len:\n"
	".quad cdnmap_builtin_end - cdnmap_builtin\n"
	".previous\n");
