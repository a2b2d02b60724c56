/* Diagnostics on stderr as "prog: level: message". */
#ifndef RUM_LOG_H
#define RUM_LOG_H

#include <time.h>

enum log_level { RLOG_ERROR = 0, RLOG_WARN, RLOG_INFO, RLOG_DEBUG };

extern enum log_level log_level;
extern const char *log_prog;

void log_init(const char *prog);
/* "error", "warn", "info", "debug"; returns -1 on anything else. */
int log_set_level(const char *name);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(RLOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(RLOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(RLOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(RLOG_DEBUG, __VA_ARGS__)

/* A rate limit for one kind of message: at most `burst` messages a second;
 * the number suppressed is reported with the next message that goes out. */
struct log_ratelimit {
	time_t second;
	unsigned sent;
	unsigned long suppressed;
	unsigned burst;
};
#define LOG_RATELIMIT_INIT(burst_)                                                                 \
	{                                                                                          \
		0, 0, 0, (burst_)                                                                  \
	}

void log_rl(struct log_ratelimit *rl, enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Print "prog: error: message" and exit(status). */
_Noreturn void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
