/* The sourcemap API's work: naming archives as rum-symbolicate looks for
 * them, storing uploads atomically, deleting, and asking rum-symbolicate to
 * restore a stack for /v1/sourcemap/check. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archname.h"
#include "bytes.h"
#include "clock.h"
#include "fsutil.h"
#include "io.h"
#include "listen.h"
#include "log.h"
#include "multipart.h"
#include "subproc.h"

extern char **environ;

int sm_token_check(const char *given, struct intake_err *err)
{
	if (!cfg.token)
		return intake_fail(
		    err, 403, "rum.tokenNotConfigured",
		    "the sourcemap API is off: rum-listen was started without --token");
	if (!given || !*given)
		return intake_fail(err, 403, "rum.badToken", "no token (the token query argument)");
	/* Every byte of the longer string is looked at, whatever differs. */
	size_t a = strlen(cfg.token), b = strlen(given), n = a > b ? a : b;
	unsigned char diff = a != b;
	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < a ? (unsigned char)cfg.token[i] : 0;
		unsigned char y = i < b ? (unsigned char)given[i] : 0;
		diff |= x ^ y;
	}
	if (diff)
		return intake_fail(err, 403, "rum.badToken", "the token is not correct");
	return 0;
}

static const char *const platforms[] = {"web", "miniapp", "android", "ios"};

int sm_target_of(const char *platform, const char *app_id, const char *env, const char *version,
		 struct sm_target *t, struct intake_err *err)
{
	if (!platform || !*platform)
		platform = "web";
	size_t i;
	for (i = 0; i < sizeof platforms / sizeof platforms[0]; i++)
		if (strcmp(platform, platforms[i]) == 0)
			break;
	if (i == sizeof platforms / sizeof platforms[0])
		return intake_fail(
		    err, 400, "rum.badPlatform",
		    "platform '%.40s' is not supported: web, miniapp, android or ios", platform);
	snprintf(t->platform, sizeof t->platform, "%s", platform);
	if (!app_id || !*app_id)
		return intake_fail(err, 400, "rum.missingAppId", "no app_id (query argument)");
	struct rum_error why;
	if (archive_name(app_id, env, version, t->name, &why) < 0)
		return intake_fail(err, 400, "rum.badName", "%s", why.msg);
	if ((size_t)snprintf(t->dir, sizeof t->dir, "%s/rum/%s", cfg.data_dir, t->platform) >=
		sizeof t->dir ||
	    (size_t)snprintf(t->path, sizeof t->path, "%s/%s", t->dir, t->name) >= sizeof t->path)
		return intake_fail(err, 500, "rum.internal", "--data-dir is too long a path");
	return 0;
}

int sm_upload_begin(const struct sm_target *t, struct intake_err *err)
{
	if (mkdir_p(t->dir, 0755) < 0)
		return intake_fail(err, 500, "rum.internal", "cannot create %s: %s", t->dir,
				   strerror(errno));
	/* Nameless, so that a failed upload leaves nothing behind, even after a
	 * crash; in the target directory, so that the file part can be copied
	 * out of it within one file system. */
	int fd = open(t->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		char tmpl[4400];
		snprintf(tmpl, sizeof tmpl, "%s/.upload.XXXXXX", t->dir);
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmpl);
	}
	if (fd < 0)
		return intake_fail(err, 500, "rum.internal", "cannot create a file in %s: %s",
				   t->dir, strerror(errno));
	return fd;
}

/* Is this a zip archive? Its first record and its end-of-central-directory
 * record (found from the end, past a comment of up to 64 KiB, and agreeing
 * with the file's length) must be where a zip has them. NULL when it is,
 * else why not. */
static const char *zip_check(const unsigned char *p, size_t n)
{
	if (n < 22)
		return "too short to be a zip archive";
	if (memcmp(p, "PK\3\4", 4) != 0 && memcmp(p, "PK\5\6", 4) != 0)
		return "no zip signature at the start (PK\\3\\4)";
	size_t lo = n - 22 > 65535 ? n - 22 - 65535 : 0;
	for (size_t e = n - 22 + 1; e-- > lo;) {
		const unsigned char *r = p + e;
		if (memcmp(r, "PK\5\6", 4) != 0 || e + 22 + get_le16(r + 20) != n)
			continue;
		uint32_t cd_size = get_le32(r + 12), cd_off = get_le32(r + 16);
		if (cd_size == 0xffffffff || cd_off == 0xffffffff || get_le16(r + 10) == 0xffff) {
			/* Zip64: its locator sits just before. */
			if (e >= 20 && memcmp(r - 20, "PK\6\7", 4) == 0)
				return NULL;
			return "zip64 end record without its locator";
		}
		if ((uint64_t)cd_off + cd_size > e)
			return "the central directory lies outside the archive";
		if (get_le16(r + 10) && memcmp(p + cd_off, "PK\1\2", 4) != 0)
			return "no central directory where the end record says";
		return NULL;
	}
	return "no end-of-central-directory record (truncated?)";
}

static int copy_out(int from, off_t off, const char *map, size_t len, int to)
{
	size_t left = len;
	loff_t in_off = off;
	while (left) {
		ssize_t k = copy_file_range(from, &in_off, to, NULL, left, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		left -= (size_t)k;
	}
	if (!left)
		return 0;
	/* Not supported here (or a short copy): write from the mapping. */
	size_t done = len - left;
	return write_all(to, map + off + done, left);
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			log_warn("fsync %s: %s", dir, strerror(errno));
		close(fd);
	}
}

static int store(int fd, const char *map, const struct mp_part *file, const struct sm_target *t,
		 struct intake_err *err)
{
	char tmp[4400];
	snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", t->dir, t->name);
	int out = mkostemp(tmp, O_CLOEXEC);
	if (out < 0)
		return intake_fail(err, 500, "rum.internal", "cannot create a file in %s: %s",
				   t->dir, strerror(errno));
	int rc = copy_out(fd, file->data - map, map, file->len, out);
	if (rc == 0)
		rc = fchmod(out, 0644);
	if (rc == 0)
		rc = fsync(out);
	int e = errno;
	if (close(out) < 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc == 0 && rename(tmp, t->path) < 0) {
		rc = -1;
		e = errno;
	}
	if (rc < 0) {
		unlink(tmp);
		return intake_fail(err, 500, "rum.internal", "cannot write %s: %s", t->path,
				   strerror(e));
	}
	fsync_dir(t->dir);
	return 0;
}

int sm_upload_finish(int fd, size_t len, const char *ctype, const struct sm_target *t,
		     struct intake_err *err)
{
	if (!ctype || !*ctype)
		return intake_fail(err, 400, "rum.notMultipart",
				   "no Content-Type: upload the zip as the multipart part 'file'");
	if (len == 0)
		return intake_fail(err, 400, "rum.emptyBody", "empty body");
	char *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return intake_fail(err, 500, "rum.internal", "cannot map the upload: %s",
				   strerror(errno));
	struct mp_parser mp;
	struct mp_part part;
	const char *why;
	int rc, found = 0;
	if (mp_init(&mp, ctype, strlen(ctype), map, len, &why) < 0) {
		rc = intake_fail(err, 400,
				 strncmp(why, "not multipart", 13) == 0 ? "rum.notMultipart"
									: "rum.badMultipart",
				 "Content-Type '%.100s': %s", ctype, why);
		goto out;
	}
	while ((rc = mp_next(&mp, &part, &why)) == 1)
		if (part.name_len == 4 && memcmp(part.name, "file", 4) == 0) {
			found = 1;
			break;
		}
	if (rc < 0) {
		rc = intake_fail(err, 400, "rum.badMultipart", "multipart body, byte %zu: %s",
				 mp.err_off, why);
		goto out;
	}
	if (!found) {
		rc = intake_fail(err, 400, "rum.missingFile", "no part named 'file' in the form");
		goto out;
	}
	if (part.len > SOURCEMAP_MAX_FILE) {
		rc = intake_fail(err, 413, "rum.bodyTooLarge", "the file is larger than %zu bytes",
				 SOURCEMAP_MAX_FILE);
		goto out;
	}
	const char *notzip = zip_check((const unsigned char *)part.data, part.len);
	if (notzip) {
		rc = intake_fail(err, 400, "rum.notZip", "the file is not a zip archive: %s",
				 notzip);
		goto out;
	}
	rc = store(fd, map, &part, t, err);
out:
	munmap(map, len);
	return rc;
}

int sm_delete(const struct sm_target *t, struct intake_err *err)
{
	if (unlink(t->path) == 0) {
		fsync_dir(t->dir);
		return 0;
	}
	if (errno == ENOENT)
		return intake_fail(err, 404, "rum.sourcemapNotFound", "no archive %s/%s",
				   t->platform, t->name);
	return intake_fail(err, 500, "rum.internal", "cannot delete %s: %s", t->path,
			   strerror(errno));
}

/* ---- /v1/sourcemap/check ---- */

#define CHECK_OUT_MAX ((size_t)8 << 20)
#define CHECK_ERR_MAX 4096

static char **child_env;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

/* Our environment without RUM_* variables: those are our options (a
 * RUM_METRICS_FILE would make the child overwrite our metrics file); the
 * child's options are all on its command line. */
static void env_init(void)
{
	size_t n = 0;
	for (char **e = environ; *e; e++)
		n++;
	child_env = calloc(n + 1, sizeof *child_env);
	if (!child_env)
		return;
	size_t j = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "RUM_", 4) != 0)
			child_env[j++] = *e;
	child_env[j] = NULL;
}

/* The last non-empty line of rum-symbolicate's stderr, without its
 * "rum-symbolicate: error: " prefix. */
static void reason_of(char *s, size_t n, char *out, size_t outlen)
{
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	s[n] = '\0';
	char *line = memrchr(s, '\n', n);
	line = line ? line + 1 : s;
	const char *prefixes[] = {"rum-symbolicate: ", "error: ", "warn: ", "warning: "};
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(line, prefixes[i], strlen(prefixes[i])) == 0)
			line += strlen(prefixes[i]);
	snprintf(out, outlen, "%s", *line ? line : "rum-symbolicate restored nothing");
}

/* The program that restores stacks: --symbolicate, else rum-symbolicate
 * next to our executable, else from PATH. */
static const char *symbolicate_prog(void)
{
	if (cfg.symbolicate)
		return cfg.symbolicate;
	return cfg.symbolicate_auto[0] && access(cfg.symbolicate_auto, X_OK) == 0
		   ? cfg.symbolicate_auto
		   : "rum-symbolicate";
}

/* `rum-symbolicate stack` and its options, for in; argv has room for 16. */
static void check_argv(const char *prog, const struct sm_check_in *in, const char *argv[16])
{
	size_t a = 0;
	argv[a++] = prog;
	argv[a++] = "stack";
	argv[a++] = "--platform";
	argv[a++] = in->platform && *in->platform ? in->platform : "web";
	argv[a++] = "--data-dir";
	argv[a++] = cfg.data_dir;
	argv[a++] = "--app-id";
	argv[a++] = in->app_id;
	argv[a++] = "--env";
	argv[a++] = in->env && *in->env ? in->env : "none";
	argv[a++] = "--version";
	argv[a++] = in->version && *in->version ? in->version : "none";
	if (in->error_type && *in->error_type) {
		argv[a++] = "--error-type";
		argv[a++] = in->error_type;
	}
	argv[a] = NULL;
}

/* A running rum-symbolicate and our ends of its standard streams (-1 once
 * closed). */
struct child {
	pid_t pid;
	int in, out, err;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Starts prog with its standard streams on pipes. 0 or -1 with err. */
static int child_start(const char *prog, const char *const argv[], struct child *ch,
		       struct intake_err *err)
{
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			close_fd(&pin[i]);
			close_fd(&pout[i]);
		}
		return intake_fail(err, 500, "rum.internal", "pipe: %s", strerror(e));
	}
	/* Our environment without RUM_* (child_env), or all of it when that
	 * copy could not be made. */
	ch->pid = spawn_fds(prog, (char *const *)argv, child_env, pin[0], pout[1], perr[1]);
	int e = errno;
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	ch->in = pin[1];
	ch->out = pout[0];
	ch->err = perr[0];
	if (ch->pid < 0) {
		close_fd(&ch->in);
		close_fd(&ch->out);
		close_fd(&ch->err);
		return intake_fail(err, 500, "rum.symbolicateFailed",
				   "cannot run %s (--symbolicate): %s", prog, strerror(e));
	}
	return 0;
}

enum exchange_end { EX_DONE, EX_TIMED_OUT, EX_TOO_BIG };

/* One round of the exchange once poll() says which streams are ready: more
 * of the stack to the child, its answer into out, its complaints into errtext
 * (CHECK_ERR_MAX bytes at most, the rest dropped). 0, or EX_TOO_BIG. */
static int exchange_step(struct child *ch, const struct pollfd pf[3], const char **stack,
			 size_t *stack_left, struct buf *out, char *errtext, size_t *errlen)
{
	if (ch->in >= 0 && pf[0].revents) {
		ssize_t k = write(ch->in, *stack, *stack_left);
		if (k > 0) {
			*stack += k;
			*stack_left -= (size_t)k;
		}
		if (!*stack_left || (k < 0 && errno != EAGAIN && errno != EINTR))
			close_fd(&ch->in);
	}
	if (ch->out >= 0 && pf[1].revents) {
		if (buf_reserve(out, 65536) < 0)
			return EX_TOO_BIG;
		ssize_t k = read(ch->out, out->p + out->len, 65536);
		if (k > 0) {
			out->len += (size_t)k;
			if (out->len > CHECK_OUT_MAX)
				return EX_TOO_BIG;
		} else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
			close_fd(&ch->out);
		}
	}
	if (ch->err >= 0 && pf[2].revents) {
		char tmp[4096];
		ssize_t k = read(ch->err, tmp, sizeof tmp);
		if (k > 0) {
			size_t c = (size_t)k < CHECK_ERR_MAX - *errlen ? (size_t)k
								       : CHECK_ERR_MAX - *errlen;
			memcpy(errtext + *errlen, tmp, c);
			*errlen += c;
		} else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
			close_fd(&ch->err);
		}
	}
	return EX_DONE;
}

/* Writes the stack to the child and reads what it says until it closes its
 * output, within --symbolicate-timeout. Closes our ends of the pipes. */
static enum exchange_end exchange(struct child *ch, const char *stack, struct buf *out,
				  char *errtext, size_t *errlen)
{
	size_t stack_left = strlen(stack);
	enum exchange_end end = EX_DONE;
	uint64_t deadline = mono_ms() + (uint64_t)cfg.symbolicate_timeout * 1000;
	fcntl(ch->in, F_SETFL, O_NONBLOCK);
	if (!stack_left)
		close_fd(&ch->in);
	while (ch->out >= 0 || ch->err >= 0) {
		struct pollfd pf[3] = {
		    {ch->in, POLLOUT, 0}, {ch->out, POLLIN, 0}, {ch->err, POLLIN, 0}};
		uint64_t now = mono_ms();
		if (now >= deadline) {
			end = EX_TIMED_OUT;
			break;
		}
		int pr = poll(pf, 3, (int)(deadline - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			break;
		end = exchange_step(ch, pf, &stack, &stack_left, out, errtext, errlen);
		if (end != EX_DONE)
			break;
	}
	close_fd(&ch->in);
	close_fd(&ch->out);
	close_fd(&ch->err);
	return end;
}

int sm_check(const struct sm_check_in *in, struct buf *out, struct intake_err *err)
{
	pthread_once(&env_once, env_init);
	const char *prog = symbolicate_prog();
	const char *argv[16];
	check_argv(prog, in, argv);
	struct child ch = {-1, -1, -1, -1};
	if (child_start(prog, argv, &ch, err) < 0)
		return -1;
	char errtext[CHECK_ERR_MAX + 1];
	size_t errlen = 0;
	enum exchange_end end = exchange(&ch, in->stack, out, errtext, &errlen);
	if (end != EX_DONE)
		kill(ch.pid, SIGKILL);
	int status;
	while (waitpid(ch.pid, &status, 0) < 0 && errno == EINTR)
		;
	if (end == EX_TIMED_OUT)
		return intake_fail(err, 500, "rum.symbolicateFailed", "%s took more than %u s",
				   prog, cfg.symbolicate_timeout);
	if (end == EX_TOO_BIG)
		return intake_fail(err, 500, "rum.symbolicateFailed",
				   "%s wrote more than %zu bytes", prog, CHECK_OUT_MAX);
	errtext[errlen] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
		reason_of(errtext, errlen, err->msg, sizeof err->msg);
		err->status = 200;
		err->code = NULL;
		return 0;
	}
	char reason[300];
	reason_of(errtext, errlen, reason, sizeof reason);
	if (WIFEXITED(status))
		return intake_fail(err, 500, "rum.symbolicateFailed",
				   "%s exited with status %d: %s", prog, WEXITSTATUS(status),
				   reason);
	return intake_fail(err, 500, "rum.symbolicateFailed", "%s was killed by signal %d", prog,
			   WTERMSIG(status));
}
