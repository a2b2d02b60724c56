/* The sourcemap API's work: naming archives as rum-symbolicate looks for
 * them, storing uploads atomically, deleting, and asking rum-symbolicate to
 * restore a stack for /v1/sourcemap/check. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "listen.h"
#include "log.h"
#include "multipart.h"

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

/* A value that becomes part of a file name: '/' turns into "__" (DataKit's
 * rule), so no separator survives; what is refused is what would still be a
 * trick or make an unusable name: "." and ".." segments, control
 * characters, backslashes. */
static int name_part(const char *what, const char *v, char *out, size_t outlen, size_t *pos,
		     struct intake_err *err)
{
	if (!v || !*v)
		v = "none";
	size_t n = strlen(v);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			return intake_fail(
			    err, 400, "rum.badName",
			    "%s: control characters and '\\' are not allowed in names", what);
	}
	const char *seg = v;
	for (;;) {
		size_t sl = strcspn(seg, "/");
		if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
			return intake_fail(
			    err, 400, "rum.badName",
			    "%s '%.100s': '.' and '..' path segments are not allowed", what, v);
		if (!seg[sl])
			break;
		seg += sl + 1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = v[i] == '/' ? "__" : v + i;
		size_t k = v[i] == '/' ? 2 : 1;
		if (*pos + k >= outlen)
			return intake_fail(
			    err, 400, "rum.badName",
			    "app_id, env and version make a file name longer than 250 bytes");
		memcpy(out + *pos, s, k);
		*pos += k;
	}
	return 0;
}

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
	size_t pos = 0;
	const size_t room = 250; /* with ".zip", and a temporary name's extras */
	if (name_part("app_id", app_id, t->name, room, &pos, err) < 0)
		return -1;
	t->name[pos++] = '-';
	if (name_part("env", env, t->name, room, &pos, err) < 0)
		return -1;
	t->name[pos++] = '-';
	if (name_part("version", version, t->name, room, &pos, err) < 0)
		return -1;
	memcpy(t->name + pos, ".zip", 5);
	if ((size_t)snprintf(t->dir, sizeof t->dir, "%s/rum/%s", cfg.data_dir, t->platform) >=
		sizeof t->dir ||
	    (size_t)snprintf(t->path, sizeof t->path, "%s/%s", t->dir, t->name) >= sizeof t->path)
		return intake_fail(err, 500, "rum.internal", "--data-dir is too long a path");
	return 0;
}

/* mkdir -p */
static int make_dirs(const char *path)
{
	char tmp[4096];
	size_t n = strlen(path);
	if (n >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int sm_upload_begin(const struct sm_target *t, struct intake_err *err)
{
	if (make_dirs(t->dir) < 0)
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

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
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
		if (memcmp(r, "PK\5\6", 4) != 0 || e + 22 + le16(r + 20) != n)
			continue;
		uint32_t cd_size = le32(r + 12), cd_off = le32(r + 16);
		if (cd_size == 0xffffffff || cd_off == 0xffffffff || le16(r + 10) == 0xffff) {
			/* Zip64: its locator sits just before. */
			if (e >= 20 && memcmp(r - 20, "PK\6\7", 4) == 0)
				return NULL;
			return "zip64 end record without its locator";
		}
		if ((uint64_t)cd_off + cd_size > e)
			return "the central directory lies outside the archive";
		if (le16(r + 10) && memcmp(p + cd_off, "PK\1\2", 4) != 0)
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

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

int sm_check(const struct sm_check_in *in, struct buf *out, struct intake_err *err)
{
	pthread_once(&env_once, env_init);
	const char *prog = cfg.symbolicate;
	if (!prog)
		prog = cfg.symbolicate_auto[0] && access(cfg.symbolicate_auto, X_OK) == 0
			   ? cfg.symbolicate_auto
			   : "rum-symbolicate";
	const char *argv[20];
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

	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			if (pin[i] >= 0)
				close(pin[i]);
			if (pout[i] >= 0)
				close(pout[i]);
		}
		return intake_fail(err, 500, "rum.internal", "pipe: %s", strerror(e));
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	/* Whatever else is open here (spool files, sockets) is not the
	 * child's business. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* Our threads run with the stop signals blocked and SIGPIPE ignored;
	 * the child starts from the defaults. */
	sigset_t none, def;
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGHUP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	int src = (strchr(prog, '/') ? posix_spawn : posix_spawnp)(
	    &pid, prog, &fa, &at, (char *const *)argv, child_env ? child_env : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	if (src != 0) {
		close(pin[1]);
		close(pout[0]);
		close(perr[0]);
		return intake_fail(err, 500, "rum.symbolicateFailed",
				   "cannot run %s (--symbolicate): %s", prog, strerror(src));
	}

	const char *stack = in->stack;
	size_t stack_left = strlen(stack);
	char errtext[CHECK_ERR_MAX + 1];
	size_t errlen = 0;
	int too_big = 0, timed_out = 0;
	int64_t deadline = now_ms() + (int64_t)cfg.symbolicate_timeout * 1000;
	fcntl(pin[1], F_SETFL, O_NONBLOCK);
	if (!stack_left) {
		close(pin[1]);
		pin[1] = -1;
	}
	while (pout[0] >= 0 || perr[0] >= 0) {
		struct pollfd pf[3] = {
		    {pin[1], POLLOUT, 0}, {pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}};
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		int pr = poll(pf, 3, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			break;
		if (pin[1] >= 0 && pf[0].revents) {
			ssize_t k = write(pin[1], stack, stack_left);
			if (k > 0) {
				stack += k;
				stack_left -= (size_t)k;
			}
			if (!stack_left || (k < 0 && errno != EAGAIN && errno != EINTR)) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
		if (pout[0] >= 0 && pf[1].revents) {
			if (buf_reserve(out, 65536) < 0) {
				too_big = 1;
				break;
			}
			ssize_t k = read(pout[0], out->p + out->len, 65536);
			if (k > 0) {
				out->len += (size_t)k;
				if (out->len > CHECK_OUT_MAX) {
					too_big = 1;
					break;
				}
			} else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(pout[0]);
				pout[0] = -1;
			}
		}
		if (perr[0] >= 0 && pf[2].revents) {
			char tmp[4096];
			ssize_t k = read(perr[0], tmp, sizeof tmp);
			if (k > 0) {
				size_t c = (size_t)k < CHECK_ERR_MAX - errlen
					       ? (size_t)k
					       : CHECK_ERR_MAX - errlen;
				memcpy(errtext + errlen, tmp, c);
				errlen += c;
			} else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(perr[0]);
				perr[0] = -1;
			}
		}
	}
	if (pin[1] >= 0)
		close(pin[1]);
	if (pout[0] >= 0)
		close(pout[0]);
	if (perr[0] >= 0)
		close(perr[0]);
	if (timed_out || too_big)
		kill(pid, SIGKILL);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		return intake_fail(err, 500, "rum.symbolicateFailed", "%s took more than %u s",
				   prog, cfg.symbolicate_timeout);
	if (too_big)
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
