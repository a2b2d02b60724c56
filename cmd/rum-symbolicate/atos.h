/* Which atos iOS stacks go to, if any: --atos as given, or a path that is
 * used only when it can be run (DataKit's atos_bin_path, which names a Mac
 * tool that a Linux host seldom has). */
#ifndef RUMPIPE_SYMBOLICATE_ATOS_H
#define RUMPIPE_SYMBOLICATE_ATOS_H

/* 0 when PROG can be run: a path naming an executable regular file, or a
 * name without '/' found so on $PATH (where posix_spawnp looks); else -1
 * with errno set (ENOENT, EACCES, ...). */
int prog_runnable(const char *prog);

/* The atos to run, or NULL for the built-in llvm-symbolizer engine.
 * EXPLICIT (--atos) wins and is taken as it is: checking it is the
 * caller's, at start-up, as for any option. Else IF_PRESENT
 * (--atos-if-present) when prog_runnable() says so; when it does not, the
 * reason is logged once and rum_symbolicate_ios_atos_fallbacks_total
 * counts it, and NULL is returned. Empty strings are as absent. */
const char *atos_choose(const char *explicit_atos, const char *if_present);

#endif
