#include "archname.h"

#include <string.h>

/* The bound on a name before ".zip", below NAME_MAX (255) with it. */
#define NAME_ROOM 250

/* Refuses what no '/' → "__" can make harmless: control characters and
 * backslashes anywhere, "." and ".." as a whole segment. */
static int check_part(const char *what, const char *v, struct rum_error *err)
{
	for (const char *p = v; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f || c == '\\')
			return err_set(
			    err, "%s: control characters and '\\' are not allowed in names", what);
	}
	for (const char *seg = v;;) {
		size_t sl = strcspn(seg, "/");
		if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
			return err_set(err,
				       "%s '%.100s': '.' and '..' path segments are not allowed",
				       what, v);
		if (!seg[sl])
			return 0;
		seg += sl + 1;
	}
}

/* Appends one value to out at *pos, '/' as "__". */
static int add_part(const char *what, const char *v, char *out, size_t *pos, struct rum_error *err)
{
	if (!v || !*v)
		v = "none";
	if (check_part(what, v, err) < 0)
		return -1;
	for (; *v; v++) {
		const char *s = *v == '/' ? "__" : v;
		size_t k = *v == '/' ? 2 : 1;
		if (*pos + k >= NAME_ROOM)
			return err_set(
			    err, "app_id, env and version make a file name longer than 250 bytes");
		memcpy(out + *pos, s, k);
		*pos += k;
	}
	return 0;
}

int archive_name(const char *app_id, const char *env, const char *version,
		 char out[ARCHIVE_NAME_MAX], struct rum_error *err)
{
	if (!app_id || !*app_id)
		return err_set(err, "no app_id");
	size_t pos = 0;
	if (add_part("app_id", app_id, out, &pos, err) < 0)
		return -1;
	out[pos++] = '-';
	if (add_part("env", env, out, &pos, err) < 0)
		return -1;
	out[pos++] = '-';
	if (add_part("version", version, out, &pos, err) < 0)
		return -1;
	memcpy(out + pos, ".zip", 5);
	return 0;
}
