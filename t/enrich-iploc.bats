#!/usr/bin/env bats
# rum-enrich with DataKit's own IP databases: IP2Location BIN files written
# here by t/lib/mkiploc from a small table (read also by IP2Location's own
# reader from npm, ip2location-nodejs, pinned; those comparisons are skipped
# when npm cannot reach its registry), DataKit's ip2isp.txt, and DataKit's
# TW/HK/MO rewrite (--region-map datakit).

load lib/common
bats_require_minimum_version 1.5.0

NPM_PKGS="ip2location-nodejs@9.8.0"

# The table: IPv4 and IPv6 ranges, public addresses only (rum-enrich does
# not look private ones up), with gaps between them.
table() {
	cat <<-'EOF'
		{"type": 11, "ranges": [
		 ["1.0.1.0", "1.0.3.255", {"country": "CN", "country_long": "China", "region": "Fujian", "city": "Fuzhou", "isp": "ChinaNet Fujian"}],
		 ["1.0.8.0", "1.0.15.255", {"country": "CN", "country_long": "China", "region": "Guangdong", "city": "Guangzhou", "isp": "ChinaNet Guangdong"}],
		 ["5.5.0.0", "5.5.255.255", {"country": "DE", "country_long": "Germany", "region": "-", "city": "-", "isp": "Telefonica"}],
		 ["8.8.8.0", "8.8.8.255", {"country": "US", "country_long": "United States of America", "region": "California", "city": "Mountain View", "isp": "Google LLC"}],
		 ["36.224.0.0", "36.231.255.255", {"country": "TW", "country_long": "Taiwan", "region": "Taipei City", "city": "Taipei", "isp": "Chunghwa Telecom"}],
		 ["42.2.0.0", "42.3.255.255", {"country": "HK", "country_long": "Hong Kong", "region": "Hong Kong", "city": "Hong Kong", "isp": "Netvigator"}],
		 ["60.246.0.0", "60.246.255.255", {"country": "MO", "country_long": "Macao", "region": "Macau", "city": "Macau", "isp": "CTM"}],
		 ["81.2.69.0", "81.2.69.255", {"country": "GB", "country_long": "United Kingdom", "region": "England", "city": "London", "isp": "Andrews & Arnold"}],
		 ["91.198.174.0", "91.198.174.255", {"country": "SE", "country_long": "Sweden", "region": "Östergötland", "city": "Linköping \"q\"", "isp": "Wikimedia"}],
		 ["203.0.113.0", "203.0.113.127", {"country": "JP", "country_long": "Japan", "region": "Tokyo", "city": "Tokyo", "isp": "Example JP"}],
		 ["223.255.255.0", "255.255.255.255", {"country": "AU", "country_long": "Australia", "region": "Queensland", "city": "Brisbane", "isp": "Last ISP"}],
		 ["2001:db8:100::", "2001:db8:100:ffff:ffff:ffff:ffff:ffff", {"country": "DE", "country_long": "Germany", "region": "Berlin", "city": "Berlin", "isp": "Six GmbH"}],
		 ["2400:cb00::", "2400:cb00::ffff", {"country": "HK", "country_long": "Hong Kong", "region": "Hong Kong", "city": "Kowloon", "isp": "HK Six"}],
		 ["2a00:1450::", "2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff", {"country": "IE", "country_long": "Ireland", "region": "Leinster", "city": "Dublin", "isp": "Google IE"}],
		 ["ffff::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", {"country": "ZZ", "country_long": "End", "region": "End", "city": "End", "isp": "End"}]
		]}
	EOF
}

# mkbin NAME JQ-FILTER: a BIN file from the table changed by the filter.
mkbin() { table | jq "$2" | "$BATS_TEST_DIRNAME/lib/mkiploc" "$BATS_FILE_TMPDIR/$1.bin"; }

setup_file() {
	local D=$BATS_FILE_TMPDIR
	mkbin db11 .
	mkbin db11-4 '.ranges |= map(select(.[0] | contains(".")))'
	mkbin db1 '.type = 1 | .ranges |= map(select(.[0] | contains(".")))'
	mkbin db3 '.type = 3'
	mkbin db3-noindex '.type = 3 | .index = false'
	mkbin db4 '.type = 4'
	mkbin db2 '.type = 2 | .date = [20, 6, 1]'
	mkbin db11-old '.file_size = false'
	# The same table changed: for the reload tests.
	mkbin db11-b '.ranges[3][2].city = "Sunnyvale"'
	# Every address of the table (first, middle, last), the ones either
	# side of each range, 6to4 and Teredo forms of IPv4 ones.
	table | python3 -c '
import ipaddress, json, sys
private = [ipaddress.ip_network(n) for n in ("0.0.0.0/8", "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "::/127", "fc00::/7", "fe80::/10", "::ffff:0:0/96")]
out = []
for lo, hi, _ in json.load(sys.stdin)["ranges"]:
    a, b = ipaddress.ip_address(lo), ipaddress.ip_address(hi)
    for x in (int(a) - 1, int(a), int(a) + 1, (int(a) + int(b)) // 2, int(b) - 1, int(b), int(b) + 1):
        if 0 <= x < 1 << (32 if a.version == 4 else 128):
            ip = ipaddress.ip_address(x) if a.version == 4 else ipaddress.IPv6Address(x)
            if not any(ip in n for n in private if n.version == ip.version):
                out.append(str(ip))
out += ["2002:808:808::1", "2002:5102:4501::", "2001:0:4136:e378:8000:63bf:f7f7:f7f7", "2001:0:4136:e378:8000:63bf:aefd:bafe", "2001:db8:ff::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
print("\n".join(dict.fromkeys(out)))' >"$D/addrs"
	local cache=${XDG_CACHE_HOME:-$HOME/.cache}/rumpipe-npm/enrich-iploc-1
	mkdir -p "$cache"
	(
		flock 9
		[ -f "$cache/ok" ] && exit 0
		command -v npm >/dev/null || exit 0
		cd "$cache" && echo '{"private":true}' >package.json &&
			timeout 300 npm install --no-audit --no-fund --loglevel=error $NPM_PKGS &&
			touch ok
	) 9>"$cache.lock" >"$D/npm.log" 2>&1 || true
	[ -f "$cache/ok" ] && echo "$cache/node_modules" >"$D/node_path"
	true
}

setup() {
	E=$BIN/rum-enrich
	T=$BATS_TEST_TMPDIR
	D=$BATS_FILE_TMPDIR
	M=$T/metrics.prom
}

teardown() {
	[ -n "${E_PID:-}" ] && stop_pid "$E_PID" KILL
	true
}

rec() { printf '{"measurement":"view","tags":{"ip":"%s"}}\n' "$1"; }

# official BIN <ADDRS: "ip|city|province|country|isp" a line from
# ip2location-nodejs, what it says for no value ("-", its messages) as
# unknown, as rum-enrich writes it.
official() {
	[ -f "$D/node_path" ] || skip "ip2location-nodejs not installed (npm unreachable?): $(tail -3 "$D/npm.log")"
	NODE_PATH=$(cat "$D/node_path") node -e '
const {IP2Location} = require("ip2location-nodejs");
const db = new IP2Location();
db.open(process.argv[1]);
const none = v => v === undefined || v === "" || v === "-" || /^(INVALID_IP_ADDRESS|IPV6_NOT_SUPPORTED|MISSING_FILE)$/.test(v) ||
	/^This (method|parameter) is/.test(v);
const u = v => none(v) ? "unknown" : v;
const ips = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
for (const ip of ips) {
	const r = db.getAll(ip);
	console.log([ip, u(r.city), u(r.region), u(r.countryShort), u(r.isp)].join("|"));
}' "$1"
}

# ours ARGS... <ADDRS: the same from rum-enrich ARGS.
ours() {
	local ip
	while read -r ip; do rec "$ip"; done | "$E" "$@" 2>"$T/err" |
		jq -r '[.tags.ip, .tags.city, .tags.province, .tags.country, .tags.isp] | join("|")'
}

# check ARGS... <<TABLE: each "ip|city|province|country|isp" line is what
# rum-enrich ARGS must give for that address.
check() {
	local table
	table=$(cat)
	diff -u <(printf '%s\n' "$table" | sed '/^$/d') <(printf '%s\n' "$table" | sed '/^$/d' | cut -d'|' -f1 | ours "$@")
}

@test "IP2Location's reader and rum-enrich agree on every address of the table and between its ranges (IPv4, IPv6)" {
	[ "$(wc -l <"$D/addrs")" -gt 80 ]
	for db in db11 db11-4 db1 db3 db4 db2 db11-old; do
		official "$D/$db.bin" <"$D/addrs" >"$T/want.$db"
		ours --iploc "$D/$db.bin" <"$D/addrs" >"$T/got.$db"
		diff -u "$T/want.$db" "$T/got.$db"
	done
	# IP2Location's readers need the index; ours does without.
	ours --iploc "$D/db3-noindex.bin" <"$D/addrs" >"$T/got.db3-noindex"
	diff -u "$T/got.db3" "$T/got.db3-noindex"
	# The comparison compares something: values, gaps, and the types'
	# differences are all there.
	grep -qx '8.8.8.127|Mountain View|California|US|unknown' "$T/got.db11"
	grep -qx '8.8.8.127|unknown|unknown|US|unknown' "$T/got.db1"
	grep -qx '8.8.8.127|Mountain View|California|US|Google LLC' "$T/got.db4"
	grep -qx '8.8.8.127|unknown|unknown|US|Google LLC' "$T/got.db2"
	grep -qx '1.0.4.0|unknown|unknown|unknown|unknown' "$T/got.db11"
	grep -qx '2a00:1450::1|Dublin|Leinster|IE|unknown' "$T/got.db11"
	grep -qx '2a00:1450::1|unknown|unknown|unknown|unknown' "$T/got.db11-4"
	grep -qx '2002:808:808::1|Mountain View|California|US|unknown' "$T/got.db11"
	grep -qx '2001:0:4136:e378:8000:63bf:f7f7:f7f7|Mountain View|California|US|unknown' "$T/got.db11"
	grep -qx '255.255.255.255|Brisbane|Queensland|AU|Last ISP' "$T/got.db4"
	grep -qx 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff|End|End|ZZ|End' "$T/got.db4"
	grep -qx '5.5.0.1|unknown|unknown|DE|Telefonica' "$T/got.db4"
	grep -qx '91.198.174.127|Linköping "q"|Östergötland|SE|unknown' "$T/got.db11"
}

@test "--iploc alone: what each database type holds, '-' as unknown; the log names the file" {
	check --iploc "$D/db11.bin" <<-'EOF'
		1.0.2.7|Fuzhou|Fujian|CN|unknown
		5.5.1.1|unknown|unknown|DE|unknown
		81.2.69.142|London|England|GB|unknown
		2001:db8:100::1|Berlin|Berlin|DE|unknown
		10.1.2.3|unknown|unknown|unknown|unknown
		::ffff:8.8.8.8|Mountain View|California|US|unknown
	EOF
	grep -q "opened --iploc '$D/db11.bin' (IP2Location DB11 of 2024-11-01, 22 IPv4 and 8 IPv6 ranges)" "$T/err"
	check --iploc "$D/db4.bin" <<-'EOF'
		81.2.69.142|London|England|GB|Andrews & Arnold
	EOF
}

@test "--region-map datakit: TW, HK and MO are country CN with DataKit's province; without it, unchanged" {
	check --iploc "$D/db11.bin" --region-map datakit <<-'EOF'
		36.225.1.1|Taipei|Taiwan|CN|unknown
		42.2.3.4|Hong Kong|Hong Kong|CN|unknown
		60.246.1.1|Macau|Macao|CN|unknown
		2400:cb00::1|Kowloon|Hong Kong|CN|unknown
		1.0.2.7|Fuzhou|Fujian|CN|unknown
		8.8.8.8|Mountain View|California|US|unknown
	EOF
	grep -q 'region-map datakit' "$T/err"
	check --iploc "$D/db11.bin" <<-'EOF'
		36.225.1.1|Taipei|Taipei City|TW|unknown
		42.2.3.4|Hong Kong|Hong Kong|HK|unknown
		60.246.1.1|Macau|Macau|MO|unknown
	EOF
	# A MaxMind DB's answers are rewritten too, as DataKit does for every
	# ipdb type.
	"$BATS_TEST_DIRNAME/lib/mkmmdb" "$T/tw.mmdb" <<-'EOF'
		{"database_type": "GeoIP2-City", "ip_version": 6, "networks": [
		 ["36.224.0.0/13", {"city": {"names": {"en": "Taichung"}}, "subdivisions": [{"names": {"en": "Taichung City"}}],
		   "country": {"iso_code": "TW"}}]]}
	EOF
	check --city-db "$T/tw.mmdb" --region-map datakit <<-'EOF'
		36.225.1.1|Taichung|Taiwan|CN|unknown
	EOF
	run -2 "$E" --region-map taiwan </dev/null
	[[ "$output" == *"--region-map"*"not one of none, datakit"* ]]
}

@test "ip2isp.txt: the longest prefix wins, the later of equal lines; comments, blank and malformed lines skipped and counted" {
	printf '%s\n' '# DataKit ip2isp.txt' '' '1.0.0.0/8 wide' '1.0.1.0/24 chinanet' \
		'1.0.1.128/25 cmcc' '1.0.1.7 unicom' '1.0.2.9/16 tietong' 'not a line' \
		'1.0.3.0/24  two-spaces' '1.0.3.0/33 toolong' '1.0.3.0/0 zero' '300.1.1.0/24 big' \
		'1.0.4.0/24' '1.0.5.0/24 ' '1.0.1.0/24 chinanet-later' $'81.2.69.0/24 crlf\r' \
		$'1.0.6.0/24\tcernet' '  ' >"$T/ip2isp.txt"
	check --isp-file "$T/ip2isp.txt" --metrics-file "$M" <<-'EOF'
		1.0.1.1|unknown|unknown|unknown|chinanet-later
		1.0.1.200|unknown|unknown|unknown|cmcc
		1.0.1.7|unknown|unknown|unknown|unicom
		1.0.1.8|unknown|unknown|unknown|chinanet-later
		1.0.9.9|unknown|unknown|unknown|tietong
		1.1.9.9|unknown|unknown|unknown|wide
		1.0.3.1|unknown|unknown|unknown|tietong
		81.2.69.1|unknown|unknown|unknown|crlf
		2.2.2.2|unknown|unknown|unknown|unknown
		2001:db8:100::1|unknown|unknown|unknown|unknown
	EOF
	grep -q "opened --isp-file '$T/ip2isp.txt' (7 rules; skipped: 1 comments, 1 blank lines, 9 malformed lines, the first at line 8)" "$T/err"
	[ "$(metric 'rum_enrich_isp_file_lines{kind="rule"}')" = 7 ]
	[ "$(metric 'rum_enrich_isp_file_lines{kind="comment"}')" = 1 ]
	[ "$(metric 'rum_enrich_isp_file_lines{kind="blank"}')" = 1 ]
	[ "$(metric 'rum_enrich_isp_file_lines{kind="malformed"}')" = 9 ]
	[ "$(metric 'rum_enrich_lookups_total{db="isp_file"}')" = 10 ]
	[ "$(metric 'rum_enrich_hits_total{db="isp_file"}')" = 8 ]
	[ "$(metric 'rum_enrich_misses_total{db="isp_file"}')" = 2 ]
	# A file without a single rule is refused.
	printf '# nothing\n\nfoo\n' >"$T/empty.txt"
	run -2 "$E" --isp-file "$T/empty.txt" </dev/null
	[[ "$output" == *"--isp-file '$T/empty.txt': no \"CIDR ISP\" line in 3 lines"* ]]
}

@test "beside the MaxMind DB options: each tag from the first source that has it, metrics by source" {
	"$BATS_TEST_DIRNAME/lib/mkmmdb" "$T/city.mmdb" <<-'EOF'
		{"database_type": "GeoIP2-City", "ip_version": 6, "networks": [
		 ["5.5.0.0/16", {"city": {"names": {"en": "Hamburg"}}, "subdivisions": [{"names": {"en": "Hamburg State"}}],
		   "country": {"iso_code": "AT"}}],
		 ["81.2.69.0/24", {"city": {"names": {"en": "Londinium"}}, "country": {"iso_code": "IT"}}],
		 ["100.64.0.0/10", {"city": {"names": {"en": "Shared"}}, "country": {"iso_code": "NL"}}]]}
	EOF
	"$BATS_TEST_DIRNAME/lib/mkmmdb" "$T/asn.mmdb" <<-'EOF'
		{"database_type": "GeoLite2-ASN", "ip_version": 6, "networks": [
		 ["81.2.69.0/24", {"autonomous_system_organization": "AS Arnold"}],
		 ["8.8.8.0/24", {"autonomous_system_organization": "AS Google"}],
		 ["5.5.0.0/16", {"autonomous_system_organization": "AS Telefonica"}]]}
	EOF
	printf '81.2.69.0/24 aaisp\n' >"$T/ip2isp.txt"
	check --iploc "$D/db4.bin" --isp-file "$T/ip2isp.txt" --city-db "$T/city.mmdb" --isp-db "$T/asn.mmdb" \
		--metrics-file "$M" <<-'EOF'
		81.2.69.142|London|England|GB|aaisp
		8.8.8.8|Mountain View|California|US|Google LLC
		5.5.1.1|Hamburg|Hamburg State|DE|Telefonica
		100.64.1.1|Shared|unknown|NL|unknown
	EOF
	check --iploc "$D/db11.bin" --isp-db "$T/asn.mmdb" <<-'EOF'
		8.8.8.8|Mountain View|California|US|AS Google
	EOF
	# 4 records, each asked of ip2isp.txt (1 hit) and the BIN file (3);
	# the City database only where a location tag was left (2 of them),
	# the ASN database only where isp was (1).
	[ "$(metric 'rum_enrich_lookups_total{db="isp_file"}')" = 4 ]
	[ "$(metric 'rum_enrich_hits_total{db="isp_file"}')" = 1 ]
	[ "$(metric 'rum_enrich_lookups_total{db="iploc"}')" = 4 ]
	[ "$(metric 'rum_enrich_hits_total{db="iploc"}')" = 3 ]
	[ "$(metric 'rum_enrich_misses_total{db="iploc"}')" = 1 ]
	[ "$(metric 'rum_enrich_lookups_total{db="city"}')" = 2 ]
	[ "$(metric 'rum_enrich_lookups_total{db="isp"}')" = 1 ]
	[ "$(metric 'rum_enrich_misses_total{db="isp"}')" = 1 ]
}

@test "the cache answers repeated addresses with the same tags and counts as without it" {
	printf '1.0.1.0/24 chinanet\n' >"$T/ip2isp.txt"
	for i in 1 2 3; do rec 1.0.1.9; rec 8.8.8.8; rec 5.5.0.1; rec 9.9.9.9; done >"$T/in"
	"$E" --iploc "$D/db11.bin" --isp-file "$T/ip2isp.txt" --metrics-file "$T/m0" --cache-size 0 <"$T/in" >"$T/out0"
	"$E" --iploc "$D/db11.bin" --isp-file "$T/ip2isp.txt" --metrics-file "$T/m1" <"$T/in" >"$T/out1"
	cmp "$T/out0" "$T/out1"
	[ "$(metric 'rum_enrich_cache_hits_total' "$T/m1")" = 8 ]
	for m in lookups hits misses lookup_errors; do
		for db in iploc isp_file; do
			[ "$(metric "rum_enrich_${m}_total{db=\"$db\"}" "$T/m0")" = "$(metric "rum_enrich_${m}_total{db=\"$db\"}" "$T/m1")" ]
		done
	done
	[ "$(metric 'rum_enrich_hits_total{db="iploc"}' "$T/m1")" = 9 ]
}

# bad NAME: a damaged copy of db11 (see the cases) at $T/NAME.bin.
bad() {
	local f=$T/$1.bin
	cp "$D/db11.bin" "$f"
	case $1 in
	truncated) truncate -s 70000 "$f" ;;
	short) head -c 40 "$D/db11.bin" >"$f" ;;
	empty) : >"$f" ;;
	type) printf '\x63' | dd of="$f" conv=notrunc status=none ;;
	zip) printf 'PK\x03\x04' | dd of="$f" conv=notrunc status=none ;;
	product) printf '\x07' | dd of="$f" bs=1 seek=29 conv=notrunc status=none ;;
	columns) printf '\x03' | dd of="$f" bs=1 seek=1 conv=notrunc status=none ;;
	rows) printf '\xff\xff\xff\x00' | dd of="$f" bs=1 seek=5 conv=notrunc status=none ;;
	index) # the first entry of the IPv4 index: rows 0 .. 0x7fffffff
		printf '\xff\xff\xff\x7f' | dd of="$f" bs=1 seek=68 conv=notrunc status=none ;;
	order) # row 2's first address below row 1's
		local base
		base=$(od -An -tu4 -j9 -N4 "$f" | tr -d ' ')
		printf '\x00\x00\x00\x00' | dd of="$f" bs=1 seek=$((base - 1 + 2 * 32)) conv=notrunc status=none ;;
	string) # row 0's country points past the end of the file
		local base
		base=$(od -An -tu4 -j9 -N4 "$f" | tr -d ' ')
		printf '\xff\xff\xff\x0f' | dd of="$f" bs=1 seek=$((base - 1 + 4)) conv=notrunc status=none ;;
	old-truncated) # no size in the header: the strings are missed
		cp "$D/db11-old.bin" "$f"
		truncate -s $(($(stat -c %s "$f") - 20)) "$f" ;;
	esac
}

@test "truncated and corrupt BIN files are refused at start with the reason" {
	declare -A why=(
		[truncated]="the header says $(stat -c %s "$D/db11.bin") bytes, the file has 70000 (truncated?)"
		[short]="40 bytes: shorter than the 64-byte header"
		[empty]="empty file"
		[type]="not an IP2Location BIN file (database type 99)"
		[zip]="a zip archive, not the BIN file inside it"
		[product]="not an IP2Location BIN file (product code 7)"
		[columns]="DB11 needs 4 columns, the header says 3"
		[rows]="16777215 IPv4 rows of 32 bytes do not fit in the file"
		[index]="IPv4 index entry 0 points past the 22 rows"
		[order]="IPv4 row 2 is out of address order"
		[string]="IPv4 row 0: a string at offset 268435455 lies outside the file"
		[old-truncated]="IPv6 row 5: a string at offset 1050109 lies outside the file (1050107 bytes; truncated?)"
	)
	for k in "${!why[@]}"; do
		bad "$k"
		run -2 "$E" --iploc "$T/$k.bin" </dev/null
		[[ "$output" == *"cannot open --iploc '$T/$k.bin': ${why[$k]}"* ]] || {
			echo "$k: $output"
			return 1
		}
	done
	run -2 "$E" --iploc "$T/none.bin" </dev/null
	[[ "$output" == *"--iploc '$T/none.bin': No such file or directory"* ]]
	run -2 "$E" --iploc "$T" </dev/null
	[[ "$output" == *"not a regular file"* ]]
	printf '1.0.1.0/24 chinanet\n' >"$T/isp.txt"
	run -0 "$E" --iploc "$D/db11.bin" --isp-file "$T/isp.txt" --check-config
	run -2 "$E" --iploc "$D/db11.bin" --isp-file "$D/addrs" --check-config
	[[ "$output" == *"--isp-file '$D/addrs': no \"CIDR ISP\" line in"* ]]
}

start() { start_fifo_stage E_PID 7 "$E" "$@"; }
send() {
	rec "$1" >&7
	wait_for 5 lines_are "$T/out" "$2"
}
count_is() { [ "$(grep -c "$1" "$T/err")" = "$2" ]; }
tag_of_line() { sed -n "${1}p" "$T/out" | jq -r ".tags.$2"; }

@test "a BIN file and an ip2isp.txt renamed over the old ones are used; damaged ones are refused, the old kept" {
	cp "$D/db11.bin" "$T/iploc.bin"
	printf '8.8.8.0/24 google\n' >"$T/ip2isp.txt"
	start --iploc "$T/iploc.bin" --isp-file "$T/ip2isp.txt" --check-interval 50 --metrics-file "$M"
	send 8.8.8.8 1
	[ "$(tag_of_line 1 city)" = "Mountain View" ] && [ "$(tag_of_line 1 isp)" = google ]
	cp "$D/db11-b.bin" "$T/new" && mv "$T/new" "$T/iploc.bin"
	printf '8.8.8.0/24 google2\n' >"$T/new" && mv "$T/new" "$T/ip2isp.txt"
	wait_for 5 grep -q "reloaded --iploc" "$T/err"
	wait_for 5 grep -q "reloaded --isp-file" "$T/err"
	send 8.8.8.8 2
	[ "$(tag_of_line 2 city)" = Sunnyvale ] && [ "$(tag_of_line 2 isp)" = google2 ]
	# Damaged replacements: refused with the reason, once each; the ones in
	# use stay.
	bad truncated && mv "$T/truncated.bin" "$T/iploc.bin"
	printf 'garbage\n' >"$T/new" && mv "$T/new" "$T/ip2isp.txt"
	wait_for 5 grep -q "cannot reload --iploc '$T/iploc.bin': the header says" "$T/err"
	wait_for 5 grep -q "cannot reload --isp-file '$T/ip2isp.txt': no \"CIDR ISP\" line" "$T/err"
	grep -q 'keeping the database in use' "$T/err"
	sleep 0.3
	send 8.8.8.8 3
	[ "$(tag_of_line 3 city)" = Sunnyvale ] && [ "$(tag_of_line 3 isp)" = google2 ]
	[ "$(grep -c 'cannot reload --iploc' "$T/err")" = 1 ]
	# SIGHUP tries again (and fails again); a sound file is taken.
	kill -HUP "$E_PID"
	wait_for 5 count_is 'cannot reload --iploc' 2
	cp "$D/db11.bin" "$T/new" && mv "$T/new" "$T/iploc.bin"
	wait_for 5 count_is 'reloaded --iploc' 2
	send 8.8.8.8 4
	[ "$(tag_of_line 4 city)" = "Mountain View" ] && [ "$(tag_of_line 4 isp)" = google2 ]
	exec 7>&-
	wait "$E_PID"
	E_PID=
	[ "$(metric 'rum_enrich_reloads_total{db="iploc"}')" = 2 ]
	[ "$(metric 'rum_enrich_reload_failures_total{db="iploc"}')" = 2 ]
	[ "$(metric 'rum_enrich_reloads_total{db="isp_file"}')" -ge 1 ]
	[ "$(metric 'rum_enrich_reload_failures_total{db="isp_file"}')" -ge 1 ]
}

@test "DataKit's data/ipdb/iploc/ directory: iploc.bin and ip2isp.txt, as rum-collector passes them" {
	mkdir -p "$T/data/ipdb/iploc"
	cp "$D/db11.bin" "$T/data/ipdb/iploc/iploc.bin"
	printf '36.224.0.0/12 chinanet\n42.2.0.0/15 pccw\n' >"$T/data/ipdb/iploc/ip2isp.txt"
	check --iploc "$T/data/ipdb/iploc/iploc.bin" --isp-file "$T/data/ipdb/iploc/ip2isp.txt" --region-map datakit <<-'EOF'
		36.225.1.1|Taipei|Taiwan|CN|chinanet
		42.2.3.4|Hong Kong|Hong Kong|CN|pccw
		81.2.69.142|London|England|GB|unknown
	EOF
	RUM_IPLOC=$T/data/ipdb/iploc/iploc.bin RUM_REGION_MAP=datakit check <<-'EOF'
		36.225.1.1|Taipei|Taiwan|CN|unknown
	EOF
}
