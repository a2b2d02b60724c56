/* One record through rum-symbolicate. */
#include "stage.h"

#include <string.h>

#include "base64.h"
#include "metrics.h"

#define NAME_CAP 1024 /* app_id, env, version, error_type, sdk_name */

void symstage_init(struct symstage *st, struct sym_ctx *cx, int datakit_compat)
{
	memset(st, 0, sizeof *st);
	st->cx = cx;
	st->datakit_compat = datakit_compat;
	rec_edit_init(&st->edit);
	st->m_records = metric_get("rum_symbolicate_records_total", NULL, METRIC_COUNTER,
				   "Valid records read from standard input.");
}

void symstage_free(struct symstage *st)
{
	rec_free(&st->rec);
	rec_edit_free(&st->edit);
	struct buf *bufs[] = {&st->stack,      &st->app_id, &st->env,	   &st->version,
			      &st->error_type, &st->sdk,    &st->restored, &st->b64};
	for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
		buf_free(bufs[i]);
}

/* A tag (or, failing that, a field) as a NUL-terminated string in b; ""
 * when absent or not a string. -1 when it holds a NUL or is too long to be
 * a name. */
static int tag_or_field_str(const struct record *r, const char *key, struct buf *b, size_t cap)
{
	const struct rec_kv *kv = rec_tag(r, key);
	if (!kv)
		kv = rec_field(r, key);
	buf_reset(b);
	const char *s = "";
	size_t n = 0;
	if (kv && kv->type == RV_STRING && rec_str(kv->val, kv->val_len, b, &s, &n) < 0)
		return -1;
	if (n > cap || memchr(s, 0, n))
		return -1;
	if (s != b->p) {
		buf_reset(b);
		buf_add(b, s, n);
	}
	b->len = n;
	return buf_cstr(b) ? 0 : -1;
}

static int is_error(const struct record *r)
{
	return r->meas_len == 7 && memcmp(r->meas, "\"error\"", 7) == 0;
}

enum sl_verdict symstage_line(struct symstage *st, const char *line, size_t len, struct buf *out,
			      struct rum_error *err)
{
	struct record *r = &st->rec;
	if (rec_parse_line(r, line, len, err) < 0)
		return SL_BAD;
	metric_inc(st->m_records);
	if (!is_error(r))
		return SL_PASS;
	const struct rec_kv *sdk = rec_tag(r, "sdk_name");
	if (!sdk || sdk->type != RV_STRING)
		return SL_PASS;
	const struct platform *pf = platform_by_sdk(sdk->val + 1, sdk->val_len - 2);
	if (!pf) {
		/* An escaped name is still a name. */
		if (tag_or_field_str(r, "sdk_name", &st->sdk, NAME_CAP) < 0 ||
		    !(pf = platform_by_sdk(st->sdk.p, st->sdk.len)))
			return SL_PASS;
	}
	const struct rec_kv *es = rec_field(r, "error_stack");
	if (!es || es->type != RV_STRING)
		return SL_PASS;
	const char *stack;
	size_t stack_len;
	if (rec_str(es->val, es->val_len, &st->stack, &stack, &stack_len) < 0)
		return SL_NOMEM;

	struct sym_request rq = {"", "", "", "", stack, stack_len};
	int names_ok = tag_or_field_str(r, "app_id", &st->app_id, NAME_CAP) == 0 &&
		       tag_or_field_str(r, "env", &st->env, NAME_CAP) == 0 &&
		       tag_or_field_str(r, "version", &st->version, NAME_CAP) == 0 &&
		       tag_or_field_str(r, "error_type", &st->error_type, NAME_CAP) == 0;
	struct sym_result res;
	if (!names_ok) {
		rq.app_id = NULL; /* counted as bad_name */
	} else {
		rq.app_id = st->app_id.p;
		rq.env = st->env.p;
		rq.version = st->version.p;
		rq.error_type = st->error_type.p;
	}
	buf_reset(&st->restored);
	if (sym_restore(st->cx, pf, &rq, &st->restored, &res) < 0)
		return SL_NOMEM;
	if (!res.restored)
		return SL_PASS;

	rec_edit_reset(&st->edit);
	rec_edit_field_str(&st->edit, "error_stack_source", st->restored.p, st->restored.len);
	if (st->datakit_compat) {
		buf_reset(&st->b64);
		if (base64_encode(&st->b64, st->restored.p, st->restored.len) < 0)
			return SL_NOMEM;
		rec_edit_field_str(&st->edit, "error_stack_source_base64", st->b64.p, st->b64.len);
	}
	if (rec_edit_apply(r, &st->edit, out) < 0 || buf_addc(out, '\n') < 0)
		return SL_NOMEM;
	return SL_EDITED;
}
