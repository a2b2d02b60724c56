/* gen-records: a deterministic mix of realistic RUM records, one per line,
 * for the codec tests and benchmark.
 *
 *   gen-records [-n] COUNT [-s SEED] [--variety]
 *
 * The mix: view, resource, action, long_task and error records as a web or
 * mobile SDK produces them through rum-listen (~30 tags, 10-40 fields of
 * mixed types, multi-line error stacks with escapes and non-ASCII text).
 * --variety also varies what other writers (jq, hand edits) produce: key
 * order, spacing, unknown top-level keys, missing tags/fields/time, escaped
 * keys, exponents, large integers.
 *
 * Strings are escaped here independently of common/record.c, so the
 * generator does not share the codec's bugs. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64: tiny, good enough, and the same everywhere. */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static int chance(unsigned percent)
{
	return rn(100) < percent;
}

#define PICK(a) (a)[rn(sizeof(a) / sizeof((a)[0]))]

/* The line being built. */
static char *line;
static size_t line_len, line_cap;

static void put(const char *s, size_t n)
{
	if (line_len + n + 1 > line_cap) {
		size_t ncap = line_cap ? line_cap : 4096;
		while (ncap < line_len + n + 1)
			ncap *= 2;
		char *p = realloc(line, ncap);
		if (!p) {
			perror("gen-records");
			exit(1);
		}
		line = p;
		line_cap = ncap;
	}
	memcpy(line + line_len, s, n);
	line_len += n;
}

static void puts_(const char *s)
{
	put(s, strlen(s));
}

static void putf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void putf(const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		fprintf(stderr, "gen-records: internal: format too long\n");
		exit(1);
	}
	put(tmp, (size_t)n);
}

static int variety;

/* JSON string; with --variety, sometimes writes plain ASCII letters as
 * \u escapes (valid JSON that the codec must decode, and keep raw). */
static void put_str(const char *s)
{
	int uesc = variety && chance(5);
	put("\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			puts_("\\\"");
			break;
		case '\\':
			puts_("\\\\");
			break;
		case '\n':
			puts_("\\n");
			break;
		case '\t':
			puts_("\\t");
			break;
		case '\r':
			puts_("\\r");
			break;
		default:
			if (*p < 0x20)
				putf("\\u%04x", *p);
			else if (uesc && *p >= 'a' && *p <= 'z' && chance(30))
				putf("\\u%04x", *p);
			else
				put((const char *)p, 1);
		}
	}
	put("\"", 1);
}

static const char *sp(void)
{
	return variety && chance(10) ? (chance(50) ? " " : "\t ") : "";
}

static int nkv; /* members written in the current object */

static void key(const char *k)
{
	if (nkv++)
		puts_(",");
	puts_(sp());
	put_str(k);
	puts_(sp());
	puts_(":");
	puts_(sp());
}

static void tag(const char *k, const char *v)
{
	key(k);
	put_str(v);
}

static void f_int(const char *k, int64_t v)
{
	key(k);
	putf("%" PRId64, v);
}

static void f_float(const char *k, double v)
{
	key(k);
	char tmp[64];
	if (variety && chance(10))
		snprintf(tmp, sizeof tmp, "%.6e", v);
	else
		snprintf(tmp, sizeof tmp, "%.3f", v);
	puts_(tmp);
}

static void f_bool(const char *k, int v)
{
	key(k);
	puts_(v ? "true" : "false");
}

static void f_str(const char *k, const char *v)
{
	key(k);
	put_str(v);
}

static const char *const apps[] = {"appid_2a9b7f3c41e04d6d", "appid_5f1e0c6b77d248a9",
				   "appid_e3c1b9a0f2d64c55"};
static const char *const envs[] = {"production", "staging", "gray", "dev"};
static const char *const versions[] = {"1.0.0", "2.3.1", "2.4.0-rc.1", "3.12.7"};
static const char *const services[] = {"web-shop", "checkout", "admin-console", "商城前端"};
static const char *const browsers[][2] = {{"Chrome", "119.0.0.0"},
					  {"Safari", "17.1"},
					  {"Firefox", "120.0"},
					  {"Edge", "119.0.2151.97"},
					  {"WeChat", "8.0.43"}};
static const char *const oses[][2] = {
    {"Windows", "10"}, {"Mac OS", "10.15.7"}, {"Android", "13"}, {"iOS", "17.1.1"}, {"Linux", ""}};
static const char *const networks[] = {"wifi", "4g", "5g", "3g", "unknown"};
static const char *const screens[] = {"1920*1080", "1440*900", "390*844", "412*915"};
static const char *const cities[][4] = {{"Hangzhou", "Zhejiang", "CN", "China Telecom"},
					{"上海", "上海", "CN", "中国联通"},
					{"Frankfurt am Main", "Hesse", "DE", "Deutsche Telekom AG"},
					{"São Paulo", "São Paulo", "BR", "Telefônica Brasil S.A"},
					{"unknown", "unknown", "unknown", "unknown"}};
static const char *const users[][2] = {{"u_10023", "alice"},
				       {"u_88412", "张伟"},
				       {"u_00007", "José Müller"},
				       {"u_31337", "O'Brien \"Bob\""},
				       {"", ""}};
static const char *const paths[] = {
    "/",	 "/cart", "/product/1234", "/checkout/pay", "/search", "/user/profile/settings",
    "/订单/详情"};
static const char *const hosts[] = {"shop.example.com", "cdn.example.net", "api.example.com",
				    "static.alicdn.com", "fonts.gstatic.com"};
static const char *const res_types[] = {"xhr", "fetch", "js", "css", "image", "font", "other"};
static const char *const methods[] = {"GET", "POST", "PUT"};
static const char *const action_types[] = {"click", "tap", "launch_cold", "scroll"};
static const char *const action_names[] = {"click on 加入购物车", "click on Checkout",
					   "tap on \"Pay now\"", "click on ❤ Favourite"};
static const char *const err_types[] = {"TypeError",	"ReferenceError", "java_crash",
					"native_crash", "ios_crash",	  "network_error"};
static const char *const err_msgs[] = {"Cannot read properties of undefined (reading 'price')",
				       "t is not a function",
				       "Unexpected token '<' in JSON at position 0",
				       "Script error.",
				       "请求失败: 网络超时 (timeout=30s)",
				       "NullPointerException: \"view\" was null\tat onCreate"};

static void put_stack(char *out, size_t cap)
{
	size_t n = 0;
	int frames = 3 + (int)rn(20);
	const char *type = PICK(err_types);
	n += (size_t)snprintf(out + n, cap - n, "%s: %s\n", type, PICK(err_msgs));
	for (int i = 0; i < frames && n < cap - 200; i++) {
		switch (rn(4)) {
		case 0:
			n += (size_t)snprintf(out + n, cap - n,
					      "  at %c%u @ https://%s/static/js/app.%08x.js:1:%u\n",
					      'a' + rn(26), rn(99), PICK(hosts),
					      (unsigned)(rnd() & 0xffffffff), 100 + rn(90000));
			break;
		case 1:
			n += (size_t)snprintf(out + n, cap - n,
					      "\tat com.example.shop.ui.CartActivity.onCreate("
					      "CartActivity.kt:%u)\n",
					      10 + rn(500));
			break;
		case 2:
			n += (size_t)snprintf(
			    out + n, cap - n,
			    "#%02d pc 0000000000%06x  /data/app/lib/arm64/libnative.so "
			    "(Java_com_example_crash+%u)\n",
			    i, rn(0xffffff), rn(200));
			break;
		default:
			n +=
			    (size_t)snprintf(out + n, cap - n,
					     "%d   ShopApp   0x0000000102%06x 0x102000000 + %u 😱\n",
					     i, rn(0xffffff), rn(100000));
		}
	}
	if (n && out[n - 1] == '\n')
		out[n - 1] = '\0';
}

static void common_tags(const char *meas, uint64_t seq, char *view_id)
{
	char tmp[256];
	int bi = (int)rn(5), oi = (int)rn(5), ci = (int)rn(5), ui = (int)rn(5);
	tag("app_id", PICK(apps));
	tag("env", PICK(envs));
	tag("version", PICK(versions));
	tag("service", PICK(services));
	tag("sdk_name", chance(80) ? "df_web_rum_sdk" : "df_android_rum_sdk");
	tag("sdk_version", "3.1.4");
	tag("source", "browser");
	tag("userid", users[ui][0]);
	tag("user_name", users[ui][1]);
	tag("is_signin", users[ui][0][0] ? "T" : "F");
	snprintf(tmp, sizeof tmp, "%016" PRIx64 "%016" PRIx64, rnd(), rnd());
	tag("session_id", tmp);
	tag("session_type", chance(95) ? "user" : "synthetics");
	tag("browser", browsers[bi][0]);
	tag("browser_version", browsers[bi][1]);
	snprintf(tmp, sizeof tmp, "%.*s", (int)strcspn(browsers[bi][1], "."), browsers[bi][1]);
	tag("browser_version_major", tmp);
	tag("os", oses[oi][0]);
	tag("os_version", oses[oi][1]);
	tag("os_version_major", oses[oi][1][0] ? "10" : "");
	tag("screen_size", PICK(screens));
	tag("network_type", PICK(networks));
	tag("device", oi >= 2 ? "Mobile" : "PC");
	snprintf(view_id, 40, "%08x-%04x-4%03x-%04x-%012" PRIx64, (unsigned)rnd(),
		 (unsigned)rn(0xffff), rn(0xfff), 0x8000 + rn(0x3fff),
		 (uint64_t)(rnd() & 0xffffffffffffull));
	tag("view_id", view_id);
	const char *host = PICK(hosts), *path = PICK(paths);
	snprintf(tmp, sizeof tmp, "https://%s%s?utm_source=%s&q=%u", host, path,
		 chance(50) ? "google" : "wechat", rn(10000));
	tag("view_url", tmp);
	tag("view_host", host);
	tag("view_path", path);
	tag("view_path_group", path);
	snprintf(tmp, sizeof tmp, "https://www.google.com/search?q=%s%u", meas,
		 (unsigned)(seq % 97));
	tag("view_referrer", tmp);
	snprintf(tmp, sizeof tmp, "203.0.%u.%u", rn(256), rn(256));
	tag("ip", tmp);
	tag("city", cities[ci][0]);
	tag("province", cities[ci][1]);
	tag("country", cities[ci][2]);
	tag("isp", cities[ci][3]);
}

/* Extra numeric and string fields to reach the wanted count. */
static void extra_fields(int have, int want)
{
	char k[32], v[64];
	for (int i = have; i < want; i++) {
		snprintf(k, sizeof k, "custom_%d", i);
		switch (rn(5)) {
		case 0:
			f_int(k, (int64_t)rn(1000000));
			break;
		case 1:
			f_float(k, rn(100000) / 7.0);
			break;
		case 2:
			f_bool(k, chance(50));
			break;
		default:
			snprintf(v, sizeof v, "value-%u-%s", rn(1000),
				 chance(10) ? "ünïcödé ✓" : "x");
			f_str(k, v);
		}
	}
}

static void gen_one(uint64_t seq)
{
	static const char *const meas_list[] = {"view",	  "resource",  "resource", "resource",
						"action", "long_task", "error"};
	const char *meas = PICK(meas_list);
	char view_id[40], tmp[8192];
	int64_t ms = 1700000000000LL + (int64_t)(seq * 37) + (int64_t)rn(1000);
	int64_t time = ms * 1000000;
	int want = 10 + (int)rn(31);

	int shuffle = variety && chance(20);
	int omit_tags = variety && chance(3), omit_fields = variety && chance(3);
	int omit_time = variety && chance(3), unknown = variety && chance(5);
	int order[4] = {0, 1, 2, 3};
	if (shuffle)
		for (int i = 3; i > 0; i--) {
			int j = (int)rn((unsigned)i + 1), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}

	line_len = 0;
	puts_(variety && chance(5) ? " {" : "{");
	int top = 0;
	for (int oi = 0; oi < 4; oi++) {
		int part = order[oi];
		if ((part == 1 && omit_tags) || (part == 2 && omit_fields) ||
		    (part == 3 && omit_time))
			continue;
		if (top++)
			puts_(",");
		if (unknown && oi == 1) {
			puts_(
			    "\"_meta\":{\"via\":[\"jq\",1,2.5,true,null,{\"x\":[]}],\"n\":null},");
		}
		puts_(sp());
		switch (part) {
		case 0:
			puts_("\"measurement\":");
			put_str(meas);
			break;
		case 1:
			puts_("\"tags\":{");
			nkv = 0;
			common_tags(meas, seq, view_id);
			if (!strcmp(meas, "resource")) {
				const char *h = PICK(hosts);
				snprintf(tmp, sizeof tmp, "https://%s/assets/img_%u.webp?v=%u", h,
					 rn(5000), rn(100));
				tag("resource_url", tmp);
				tag("resource_url_host", h);
				tag("resource_url_path", "/assets/img.webp");
				tag("resource_type", PICK(res_types));
				tag("resource_method", PICK(methods));
				tag("resource_status", chance(90) ? "200" : "404");
				tag("resource_status_group", chance(90) ? "2xx" : "4xx");
			} else if (!strcmp(meas, "action")) {
				tag("action_name", PICK(action_names));
				tag("action_type", PICK(action_types));
			} else if (!strcmp(meas, "error")) {
				tag("error_source", chance(70) ? "source" : "network");
				tag("error_type", PICK(err_types));
			}
			puts_("}");
			break;
		case 2:
			puts_("\"fields\":{");
			nkv = 0;
			int have = 0;
			if (!strcmp(meas, "view")) {
				f_int("view_error_count", rn(5));
				f_int("view_resource_count", rn(200));
				f_int("view_long_task_count", rn(10));
				f_int("view_action_count", rn(30));
				f_int("first_contentful_paint", 100000000 + rn(2000000000));
				f_int("largest_contentful_paint", 100000000 + rn(2000000000));
				f_float("cumulative_layout_shift", rn(1000) / 1000.0 + 0.0005);
				f_int("loading_time", rn(2000000000));
				f_int("time_spent", rn(2000000000));
				f_bool("is_active", chance(50));
				have = 10;
			} else if (!strcmp(meas, "resource")) {
				f_int("duration", rn(900000000));
				f_int("resource_size", rn(3000000));
				f_int("resource_dns", rn(90000000));
				f_int("resource_tcp", rn(90000000));
				f_int("resource_ssl", rn(90000000));
				f_int("resource_ttfb", rn(90000000));
				f_int("resource_trans", rn(90000000));
				f_float("resource_first_byte", rn(100000) / 3.0);
				have = 8;
			} else if (!strcmp(meas, "action")) {
				f_int("duration", rn(900000000));
				f_int("action_long_task_count", rn(5));
				f_int("action_resource_count", rn(50));
				f_int("action_error_count", rn(3));
				have = 4;
			} else if (!strcmp(meas, "long_task")) {
				f_int("duration", 50000000 + rn(900000000));
				snprintf(tmp, sizeof tmp, "lt-%08x", (unsigned)rnd());
				f_str("long_task_id", tmp);
				have = 2;
			} else {
				f_str("error_message", PICK(err_msgs));
				put_stack(tmp, sizeof tmp);
				f_str("error_stack", tmp);
				f_str("error_handling", chance(50) ? "handled" : "unhandled");
				have = 3;
			}
			if (variety && chance(10)) {
				/* Past 2^53, where jq rounds, but not so near
				 * INT64_MAX that jq's rounding leaves int64. */
				f_int("big_positive", ((int64_t)1 << 62) + (int64_t)rn(1000));
				f_int("big_negative", -((int64_t)1 << 62) - (int64_t)rn(1000));
				f_float("integral_float", (double)rn(100));
				key("tiny");
				puts_("1.5e-300");
				key("neg_zero");
				puts_("-0.0");
				f_str("escapes",
				      "quote \" backslash \\ tab \t cr \r nl \n bell \a");
				key("surrogates");
				puts_("\"\\ud83d\\ude00 \\u00e9\\u4e2d\\u6587 \\u2028 \\/\"");
				have += 7;
			}
			extra_fields(have, want);
			puts_("}");
			break;
		default:
			puts_("\"time\":");
			if (variety && chance(20))
				time += (int64_t)rn(1000000);
			putf("%" PRId64, time);
		}
		puts_(sp());
	}
	puts_(variety && chance(5) ? "} " : "}");
	put("\n", 1);
}

int main(int argc, char **argv)
{
	uint64_t n = 1000, seed = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			n = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 10);
		} else if (argv[i][0] >= '0' && argv[i][0] <= '9') {
			n = strtoull(argv[i], NULL, 10);
		} else if (!strcmp(argv[i], "--variety")) {
			variety = 1;
		} else {
			fprintf(stderr, "usage: gen-records [-n] COUNT [-s SEED] [--variety]\n");
			return 2;
		}
	}
	rng_state = seed;
	static char obuf[1 << 16];
	setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
	for (uint64_t i = 0; i < n; i++) {
		gen_one(i);
		if (fwrite(line, 1, line_len, stdout) != line_len) {
			perror("gen-records: write");
			return 1;
		}
	}
	if (fflush(stdout) != 0) {
		perror("gen-records: write");
		return 1;
	}
	free(line);
	return 0;
}
