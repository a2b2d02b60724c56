#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum log_level log_level = RLOG_INFO;
const char *log_prog = "rumpipe";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *prog)
{
	log_prog = prog;
}

int log_set_level(const char *name)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			log_level = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(name, "warning") == 0) {
		log_level = RLOG_WARN;
		return 0;
	}
	return -1;
}

/* One fprintf per message: stderr is unbuffered, and a single call keeps
 * lines from several threads from interleaving. */
static void vlog(enum log_level lvl, const char *suffix, const char *fmt, va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	fprintf(stderr, "%s: %s: %s%s\n", log_prog, level_names[lvl], msg, suffix);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if (lvl > log_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, "", fmt, ap);
	va_end(ap);
}

void log_rl(struct log_ratelimit *rl, enum log_level lvl, const char *fmt, ...)
{
	if (lvl > log_level)
		return;
	time_t now = time(NULL);
	if (now != rl->second) {
		rl->second = now;
		rl->sent = 0;
	}
	if (rl->sent >= (rl->burst ? rl->burst : 10)) {
		rl->suppressed++;
		return;
	}
	rl->sent++;
	char suffix[96] = "";
	if (rl->suppressed) {
		snprintf(suffix, sizeof suffix, " (%lu similar messages suppressed)",
			 rl->suppressed);
		rl->suppressed = 0;
	}
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, suffix, fmt, ap);
	va_end(ap);
}

void die(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(RLOG_ERROR, "", fmt, ap);
	va_end(ap);
	exit(status);
}
