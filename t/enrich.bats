#!/usr/bin/env bats
# rum-enrich against MaxMind DB files built here with Debian's
# libmaxmind-db-writer-perl (t/lib/mkmmdb), and against MaxMind's own test
# databases in ../shared/fixtures/mmdb when they are there.

load lib/common
bats_require_minimum_version 1.5.0

# mkdb NAME <<SPEC: a database from a t/lib/mkmmdb spec.
mkdb() { "$BATS_TEST_DIRNAME/lib/mkmmdb" "$BATS_FILE_TMPDIR/$1.mmdb"; }

setup_file() {
	local D=$BATS_FILE_TMPDIR
	mkdb city <<-'EOF'
		{"database_type": "GeoIP2-City", "ip_version": 6, "networks": [
		 ["81.2.69.0/24", {"city": {"geoname_id": 2643743, "names": {"en": "London", "zh-CN": "伦敦", "de": "London"}},
		   "subdivisions": [{"iso_code": "ENG", "names": {"en": "England", "zh-CN": "英格兰"}}],
		   "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
		   "location": {"latitude": 51.5142, "longitude": -0.0931}}],
		 ["89.160.20.112/28", {"city": {"names": {"en": "Linköping"}},
		   "subdivisions": [{"names": {"en": "Östergötland County"}}, {"names": {"en": "Second"}}],
		   "country": {"iso_code": "SE"}}],
		 ["203.0.113.0/24", {"country": {"iso_code": "JP", "names": {"en": "Japan"}}}],
		 ["198.51.100.0/24", {"city": {"names": {"en": "Say \"hi\" \\ there\ttab"}}, "country": {"iso_code": "US"}}],
		 ["10.0.0.0/8", {"city": {"names": {"en": "Private"}}, "country": {"iso_code": "XX"}}],
		 ["2001:db8:100::/48", {"city": {"names": {"en": "Sixtown"}}, "subdivisions": [{"names": {"en": "Sixland"}}],
		   "country": {"iso_code": "DE"}}]
		]}
	EOF
	mkdb city2 <<-'EOF'
		{"database_type": "GeoIP2-City", "ip_version": 6, "networks": [
		 ["81.2.69.0/24", {"city": {"names": {"en": "Londinium"}}, "subdivisions": [{"names": {"en": "Britannia"}}],
		   "country": {"iso_code": "GB"}}]
		]}
	EOF
	mkdb city4 <<-'EOF'
		{"database_type": "GeoLite2-City", "ip_version": 4, "networks": [
		 ["81.2.69.0/24", {"city": {"names": {"en": "London"}}, "country": {"iso_code": "GB"}}]
		]}
	EOF
	mkdb country <<-'EOF'
		{"database_type": "GeoLite2-Country", "ip_version": 6, "networks": [
		 ["81.2.69.0/24", {"country": {"iso_code": "GB", "names": {"en": "United Kingdom"}}}]
		]}
	EOF
	mkdb isp <<-'EOF'
		{"database_type": "GeoIP2-ISP", "ip_version": 6, "networks": [
		 ["81.2.69.0/24", {"isp": "Andrews & Arnold Ltd", "organization": "AAISP",
		   "autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold Ltd AS"}],
		 ["89.160.20.112/28", {"autonomous_system_number": 29518, "autonomous_system_organization": "Bredband2 AB"}],
		 ["2001:db8:100::/48", {"isp": "Six ISP"}]
		]}
	EOF
	mkdb asn <<-'EOF'
		{"database_type": "GeoLite2-ASN", "ip_version": 6, "networks": [
		 ["81.2.69.0/24", {"autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold Ltd"}],
		 ["2001:db8:100::/48", {"autonomous_system_number": 64500, "autonomous_system_organization": "Six AS"}]
		]}
	EOF
	mkdb flat <<-'EOF'
		{"database_type": "ip-location-db-city", "ip_version": 6, "networks": [
		 ["81.2.69.0/24", {"city": "London", "state1": "England", "state2": "Greater London",
		   "country_code": "GB", "latitude": 51.5, "longitude": -0.1, "postcode": "EC1"}],
		 ["2001:db8:100::/48", {"city": "Sixtown", "country_code": "DE"}]
		]}
	EOF
}

setup() {
	E=$BIN/rum-enrich
	T=$BATS_TEST_TMPDIR
	D=$BATS_FILE_TMPDIR
	M=$T/metrics.prom
	MMDB=${FIXTURES:+$FIXTURES/mmdb}
}

teardown() {
	[ -n "${E_PID:-}" ] && stop_pid "$E_PID" KILL
	true
}

rec() { printf '{"measurement":"view","tags":{"ip":"%s"}}\n' "$1"; }
out() {
	printf '{"measurement":"view","tags":{"ip":"%s","city":"%s","province":"%s","country":"%s","isp":"%s"}}\n' "$@"
}

# check ARGS... <<TABLE: each line "ip|city|province|country|isp" is one
# record through `rum-enrich ARGS`, which must give exactly those tags.
check() {
	local table ip c p k i
	table=$(cat)
	: >"$T/in" && : >"$T/want"
	while IFS='|' read -r ip c p k i; do
		[ -n "$ip" ] || continue
		rec "$ip" >>"$T/in"
		out "$ip" "$c" "$p" "$k" "$i" >>"$T/want"
	done <<<"$table"
	"$E" "$@" <"$T/in" >"$T/got" 2>"$T/err" || { cat "$T/err"; return 1; }
	diff -u "$T/want" "$T/got"
}

@test "records without an ip tag pass byte for byte, whatever their spacing" {
	printf '%s\n' '{"measurement":"view","tags":{"a":"b"},"fields":{"f":1.50},"time":1}' \
		' { "time" : 2 , "measurement" : "e\u0301" , "tags" : { "Ip" : "81.2.69.1" } } ' \
		'{"measurement":"m","fields":{"ip":"81.2.69.1"},"x":[1,{"y":null}]}' >"$T/in"
	printf '{"measurement":"m","tags":{"a":"1"}}\r\n' >>"$T/in"
	"$E" --city-db "$D/city.mmdb" <"$T/in" >"$T/out"
	cmp "$T/in" "$T/out"
}

@test "a City database: IPv4, IPv6 and IPv4-mapped addresses get city, province, country; isp unknown" {
	check --city-db "$D/city.mmdb" <<-'EOF'
		81.2.69.142|London|England|GB|unknown
		81.2.69.0|London|England|GB|unknown
		89.160.20.120|Linköping|Östergötland County|SE|unknown
		203.0.113.9|unknown|unknown|JP|unknown
		2001:db8:100::1|Sixtown|Sixland|DE|unknown
		2001:DB8:100:0:0:0:0:ff|Sixtown|Sixland|DE|unknown
		::ffff:81.2.69.142|London|England|GB|unknown
		::ffff:5102:458e|London|England|GB|unknown
		8.8.8.8|unknown|unknown|unknown|unknown
		2001:db8:200::1|unknown|unknown|unknown|unknown
	EOF
}

@test "existing tag values are replaced in place; every other byte is kept" {
	printf '%s\n' '{"measurement":"view","tags":{"city":"old","ip":"81.2.69.142","isp":"x","z":"\u00e9"},"fields":{"f":1.0e3},"time":5}' |
		"$E" --city-db "$D/city.mmdb" >"$T/out"
	[ "$(cat "$T/out")" = '{"measurement":"view","tags":{"city":"London","ip":"81.2.69.142","isp":"unknown","z":"\u00e9","province":"England","country":"GB"},"fields":{"f":1.0e3},"time":5}' ]
	# A record with the ip but no other tags, an escaped ip, spacing kept.
	printf '%s\n' '{ "measurement" : "v", "tags" : { "ip" : "81.2.69.\u0031" } , "time" : 1 }' |
		"$E" --city-db "$D/city.mmdb" >"$T/out"
	[ "$(cat "$T/out")" = '{ "measurement" : "v", "tags" : { "ip" : "81.2.69.\u0031","city":"London","province":"England","country":"GB","isp":"unknown" } , "time" : 1 }' ]
}

@test "private, loopback, link-local, unspecified and invalid addresses are unknown" {
	check --city-db "$D/city.mmdb" --isp-db "$D/isp.mmdb" --metrics-file "$M" <<-'EOF'
		10.1.2.3|unknown|unknown|unknown|unknown
		172.16.0.1|unknown|unknown|unknown|unknown
		172.31.255.255|unknown|unknown|unknown|unknown
		192.168.1.1|unknown|unknown|unknown|unknown
		127.0.0.1|unknown|unknown|unknown|unknown
		169.254.10.10|unknown|unknown|unknown|unknown
		0.0.0.0|unknown|unknown|unknown|unknown
		::1|unknown|unknown|unknown|unknown
		::|unknown|unknown|unknown|unknown
		fe80::1|unknown|unknown|unknown|unknown
		fd00::1|unknown|unknown|unknown|unknown
		::ffff:10.0.0.1|unknown|unknown|unknown|unknown
		not-an-ip|unknown|unknown|unknown|unknown
		81.2.69.142:443|unknown|unknown|unknown|unknown
		 81.2.69.142|unknown|unknown|unknown|unknown
		81.2.69|unknown|unknown|unknown|unknown
		81.2.69.256|unknown|unknown|unknown|unknown
		fe80::1%eth0|unknown|unknown|unknown|unknown
		1:2:3:4:5:6:7:8:9|unknown|unknown|unknown|unknown
		172.32.0.1|unknown|unknown|unknown|unknown
	EOF
	[ "$(metric 'rum_enrich_addresses_total{kind="private"}')" = 12 ]
	[ "$(metric 'rum_enrich_addresses_total{kind="invalid"}')" = 7 ]
	# 172.32.0.1 is public: looked up, not found.
	[ "$(metric 'rum_enrich_lookups_total{db="city"}')" = 1 ]
	[ "$(metric 'rum_enrich_misses_total{db="city"}')" = 1 ]
	# An empty ip and one with a NUL escape are invalid too.
	printf '%s\n' '{"measurement":"v","tags":{"ip":""}}' '{"measurement":"v","tags":{"ip":"81.2.69.1\u0000"}}' |
		"$E" --city-db "$D/city.mmdb" >"$T/out"
	[ "$(grep -c '"city":"unknown","province":"unknown","country":"unknown","isp":"unknown"' "$T/out")" = 2 ]
}

@test "values are escaped as JSON strings" {
	rec 198.51.100.7 | "$E" --city-db "$D/city.mmdb" >"$T/out"
	[ "$(jq -r .tags.city "$T/out")" = "$(printf 'Say "hi" \\ there\ttab')" ]
	grep -qF '"city":"Say \"hi\" \\ there\ttab"' "$T/out"
}

@test "--lang picks the names' language, with English when the database has none in it" {
	check --city-db "$D/city.mmdb" --lang zh-CN <<-'EOF'
		81.2.69.142|伦敦|英格兰|GB|unknown
		89.160.20.120|Linköping|Östergötland County|SE|unknown
	EOF
	check --city-db "$D/city.mmdb" --lang fr <<-'EOF'
		81.2.69.142|London|England|GB|unknown
	EOF
}

@test "an ISP database gives isp; a GeoLite2 ASN database the AS organisation" {
	check --isp-db "$D/isp.mmdb" <<-'EOF'
		81.2.69.142|unknown|unknown|unknown|Andrews & Arnold Ltd
		89.160.20.120|unknown|unknown|unknown|unknown
		2001:db8:100::7|unknown|unknown|unknown|Six ISP
		8.8.8.8|unknown|unknown|unknown|unknown
	EOF
	grep -q 'GeoIP2-ISP, shape isp' "$T/err"
	check --isp-db "$D/asn.mmdb" <<-'EOF'
		81.2.69.142|unknown|unknown|unknown|Andrews & Arnold Ltd
		2001:db8:100::7|unknown|unknown|unknown|Six AS
		::ffff:81.2.69.1|unknown|unknown|unknown|Andrews & Arnold Ltd
	EOF
	grep -q 'GeoLite2-ASN, shape asn' "$T/err"
	# Forced: the ISP database read for its AS organisation.
	check --isp-db "$D/isp.mmdb" --isp-db-type asn <<-'EOF'
		81.2.69.142|unknown|unknown|unknown|Andrews & Arnold Ltd AS
		89.160.20.120|unknown|unknown|unknown|Bredband2 AB
	EOF
}

@test "both databases at once" {
	check --city-db "$D/city.mmdb" --isp-db "$D/asn.mmdb" <<-'EOF'
		81.2.69.142|London|England|GB|Andrews & Arnold Ltd
		2001:db8:100::7|Sixtown|Sixland|DE|Six AS
		89.160.20.120|Linköping|Östergötland County|SE|unknown
	EOF
}

@test "a flat-schema city database (city, state1, country_code) is recognised, or forced" {
	check --city-db "$D/flat.mmdb" <<-'EOF'
		81.2.69.142|London|England|GB|unknown
		2001:db8:100::7|Sixtown|unknown|DE|unknown
	EOF
	check --city-db "$D/flat.mmdb" --city-db-type flat <<-'EOF'
		81.2.69.142|London|England|GB|unknown
	EOF
	# Forced to the GeoIP2 shape, a flat database has nothing where it looks.
	check --city-db "$D/flat.mmdb" --city-db-type city <<-'EOF'
		81.2.69.142|unknown|unknown|unknown|unknown
	EOF
}

@test "a Country database gives the country only; an IPv4-only database knows no IPv6" {
	check --city-db "$D/country.mmdb" <<-'EOF'
		81.2.69.142|unknown|unknown|GB|unknown
	EOF
	check --city-db "$D/city4.mmdb" --metrics-file "$M" <<-'EOF'
		81.2.69.142|London|unknown|GB|unknown
		::ffff:81.2.69.142|London|unknown|GB|unknown
		2001:db8:100::7|unknown|unknown|unknown|unknown
	EOF
	[ "$(metric 'rum_enrich_lookups_total{db="city"}')" = 3 ]
	[ "$(metric 'rum_enrich_hits_total{db="city"}')" = 2 ]
	[ "$(metric 'rum_enrich_misses_total{db="city"}')" = 1 ]
	[ "$(metric 'rum_enrich_lookup_errors_total{db="city"}')" = 0 ]
}

@test "without a database the stage runs and every address is unknown" {
	check <<-'EOF'
		81.2.69.142|unknown|unknown|unknown|unknown
		10.0.0.1|unknown|unknown|unknown|unknown
	EOF
	# An empty value (a blank config key) is no database as well.
	check --city-db '' --isp-db '' <<-'EOF'
		81.2.69.142|unknown|unknown|unknown|unknown
	EOF
}

@test "the sample mix: every record comes out, only the four tags changed" {
	"$TOOLS/gen-records" -n 3000 -s 7 --variety >"$T/in"
	"$E" --city-db "$D/city.mmdb" --isp-db "$D/asn.mmdb" <"$T/in" >"$T/out"
	[ "$(lines "$T/out")" = "$(lines "$T/in")" ]
	strip='del(.tags.city, .tags.province, .tags.country, .tags.isp)'
	diff <(jq -c "$strip" "$T/in") <(jq -c "$strip" "$T/out")
	# Each record with an ip has all four tags now; the others are as read.
	[ "$(jq -c 'select(.tags.ip != null) | select([.tags.city, .tags.province, .tags.country, .tags.isp] | map(type) != ["string","string","string","string"])' "$T/out" | wc -l)" = 0 ]
	[ "$(jq -c 'select(.tags.ip != null)' "$T/out" | wc -l)" -gt 100 ]
	no_ip='import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    if "ip" not in (json.loads(l).get("tags") or {}):
        sys.stdout.write(l)'
	[ "$(python3 -c "$no_ip" "$T/in" | wc -l)" -gt 10 ]
	diff <(python3 -c "$no_ip" "$T/in") <(python3 -c "$no_ip" "$T/out")
}

@test "invalid lines are counted, reported with their line number and dropped; the stream goes on" {
	{
		rec 81.2.69.142
		echo 'not json'
		echo '{"measurement":"v","tags":{"ip":1}}'
		rec 81.2.69.143
		printf '{"measurement":"v","tags":{"ip":"81.2.69.1","x":"%04000d"}}\n' 0
		rec 81.2.69.144
	} >"$T/in"
	run -0 --separate-stderr "$E" --city-db "$D/city.mmdb" --max-line 1024 --metrics-file "$M" <"$T/in"
	[ "${#lines[@]}" = 3 ]
	[[ ${lines[2]} == *'"ip":"81.2.69.144","city":"London"'* ]]
	[[ $stderr == *"line 2:"*dropped* ]]
	[[ $stderr == *"line 3:"*dropped* ]]
	[[ $stderr == *"line 5: longer than --max-line"* ]]
	[ "$(metric 'rum_enrich_invalid_lines_total{reason="record"}')" = 2 ]
	[ "$(metric 'rum_enrich_invalid_lines_total{reason="too_long"}')" = 1 ]
	[ "$(metric 'rum_enrich_records_total')" = 3 ]
}

@test "a database that cannot be opened at start-up: exit 2, naming the option and the reason" {
	run -2 "$E" --city-db "$T/missing.mmdb" </dev/null
	[[ $output == *"error: cannot open --city-db '$T/missing.mmdb'"*"No such file"* ]]
	echo 'not a database' >"$T/junk.mmdb"
	run -2 "$E" --isp-db "$T/junk.mmdb" </dev/null
	[[ $output == *"--isp-db '$T/junk.mmdb': "*"MaxMind DB"* ]]
	head -c 300 "$D/city.mmdb" >"$T/cut.mmdb"
	run -2 "$E" --city-db "$D/city.mmdb" --isp-db "$T/cut.mmdb" </dev/null
	[[ $output == *"--isp-db '$T/cut.mmdb'"* ]]
	run -2 "$E" --city-db "$D/city.mmdb" --city-db-type nonsense </dev/null
	[[ $output == *nonsense*"--city-db-type"* ]]
	run -2 "$E" --isp-db-type city </dev/null
	[[ $output == *"--isp-db-type"* ]]
	run -2 "$E" --cache-size x </dev/null
	run -2 "$E" extra </dev/null
}

@test "--check-config opens the databases and exits; options also come from RUM_* variables" {
	run -0 "$E" --city-db "$D/city.mmdb" --check-config
	run -2 "$E" --city-db "$T/missing.mmdb" --check-config
	rec 81.2.69.142 | RUM_CITY_DB=$D/city.mmdb RUM_LANG=zh-CN RUM_ISP_DB=$D/asn.mmdb "$E" >"$T/out"
	[ "$(cat "$T/out")" = "$(out 81.2.69.142 伦敦 英格兰 GB 'Andrews & Arnold Ltd')" ]
	# Flags win over the environment.
	rec 81.2.69.142 | RUM_CITY_DB=$T/missing.mmdb "$E" --city-db "$D/city.mmdb" >"$T/out"
	grep -q '"city":"London"' "$T/out"
	run -0 "$E" --help
	[[ $output == *--city-db* && $output == *--isp-db* ]]
}

@test "the cache answers repeated addresses, with the same counts as without it" {
	for i in 1 2 3; do rec 81.2.69.142; rec 8.8.8.8; rec 2001:db8:100::1; done >"$T/in"
	"$E" --city-db "$D/city.mmdb" --metrics-file "$M" <"$T/in" >"$T/a"
	[ "$(metric 'rum_enrich_cache_hits_total')" = 6 ]
	[ "$(metric 'rum_enrich_lookups_total{db="city"}')" = 9 ]
	[ "$(metric 'rum_enrich_hits_total{db="city"}')" = 6 ]
	[ "$(metric 'rum_enrich_misses_total{db="city"}')" = 3 ]
	"$E" --city-db "$D/city.mmdb" --cache-size 0 --metrics-file "$M" <"$T/in" >"$T/b"
	[ "$(metric 'rum_enrich_cache_hits_total')" = 0 ]
	[ "$(metric 'rum_enrich_hits_total{db="city"}')" = 6 ]
	cmp "$T/a" "$T/b"
}

# start ARGS...: rum-enrich reading the FIFO $T/fifo (held open on fd 7),
# writing $T/out.
start() { start_fifo_stage E_PID 7 "$E" "$@"; }
# send IP N: record N (its ip) in; wait until N lines are out.
send() {
	rec "$1" >&7
	wait_for 5 lines_are "$T/out" "$2"
}
city_of_line() { sed -n "${1}p" "$T/out" | jq -r .tags.city; }

@test "a lone record is written while input stays open" {
	start --city-db "$D/city.mmdb"
	send 81.2.69.142 1
	[ "$(city_of_line 1)" = London ]
	exec 7>&-
	wait "$E_PID"
	E_PID=
}

@test "a database renamed over the old one is used for the next records; nothing is lost" {
	cp "$D/city.mmdb" "$T/geo.mmdb"
	start --city-db "$T/geo.mmdb" --check-interval 100 --metrics-file "$M"
	send 81.2.69.142 1
	[ "$(city_of_line 1)" = London ]
	# As updaters do: write beside it, rename over it.
	cp "$D/city2.mmdb" "$T/geo.mmdb.new"
	mv "$T/geo.mmdb.new" "$T/geo.mmdb"
	wait_for 5 grep -q reloaded "$T/err"
	send 81.2.69.142 2
	[ "$(city_of_line 2)" = Londinium ]
	# Records keep flowing while the file changes under the stage.
	for i in $(seq 1 200); do rec 81.2.69.142; done >&7 &
	for i in 1 2 3 4; do
		cp "$D/city.mmdb" "$T/geo.mmdb.new" && mv "$T/geo.mmdb.new" "$T/geo.mmdb"
		sleep 0.15
		cp "$D/city2.mmdb" "$T/geo.mmdb.new" && mv "$T/geo.mmdb.new" "$T/geo.mmdb"
		sleep 0.15
	done
	wait $!
	wait_for 5 lines_are "$T/out" 202
	exec 7>&-
	wait "$E_PID"
	E_PID=
	[ "$(jq -r .tags.city "$T/out" | grep -cv -e '^London$' -e '^Londinium$')" = 0 ]
	[ "$(metric 'rum_enrich_reloads_total{db="city"}')" -ge 2 ]
	[ "$(metric 'rum_enrich_reload_failures_total{db="city"}')" = 0 ]
}

@test "SIGHUP reopens the databases; a replacement that fails keeps the database in use" {
	cp "$D/city.mmdb" "$T/geo.mmdb"
	start --city-db "$T/geo.mmdb" --check-interval 0 --metrics-file "$M"
	send 81.2.69.142 1
	# Without checks, a new file waits for SIGHUP.
	cp "$D/city2.mmdb" "$T/geo.mmdb.new" && mv "$T/geo.mmdb.new" "$T/geo.mmdb"
	sleep 0.3
	send 81.2.69.142 2
	[ "$(city_of_line 2)" = London ]
	kill -HUP "$E_PID"
	wait_for 5 grep -q reloaded "$T/err"
	send 81.2.69.142 3
	[ "$(city_of_line 3)" = Londinium ]
	# A corrupt file, then none at all: the database in use stays.
	head -c 500 "$D/city.mmdb" >"$T/geo.mmdb.new" && mv "$T/geo.mmdb.new" "$T/geo.mmdb"
	kill -HUP "$E_PID"
	wait_for 5 grep -q 'cannot reload --city-db' "$T/err"
	send 81.2.69.142 4
	[ "$(city_of_line 4)" = Londinium ]
	rm "$T/geo.mmdb"
	kill -HUP "$E_PID"
	wait_for 5 grep -q 'No such file' "$T/err"
	send 81.2.69.142 5
	[ "$(city_of_line 5)" = Londinium ]
	grep -q 'keeping the database in use' "$T/err"
	kill -TERM "$E_PID"
	wait "$E_PID"
	E_PID=
	[ "$(metric 'rum_enrich_reloads_total{db="city"}')" = 1 ]
	[ "$(metric 'rum_enrich_reload_failures_total{db="city"}')" = 2 ]
}

@test "a failed file is not retried until it changes; then it is" {
	cp "$D/city.mmdb" "$T/geo.mmdb"
	start --city-db "$T/geo.mmdb" --check-interval 50
	send 81.2.69.142 1
	echo junk >"$T/geo.mmdb.new" && mv "$T/geo.mmdb.new" "$T/geo.mmdb"
	wait_for 5 grep -q 'cannot reload' "$T/err"
	sleep 0.5
	[ "$(grep -c 'cannot reload' "$T/err")" = 1 ]
	cp "$D/city2.mmdb" "$T/geo.mmdb.new" && mv "$T/geo.mmdb.new" "$T/geo.mmdb"
	wait_for 5 grep -q reloaded "$T/err"
	send 81.2.69.142 2
	[ "$(city_of_line 2)" = Londinium ]
}

# ---- MaxMind's test databases -------------------------------------------

fixture_check() { # KIND NAME OPTION
	[ -n "$MMDB" ] && [ -d "$MMDB" ] || skip "no ../shared/fixtures/mmdb"
	"$TOP/t/lib/mmdb-expect" records "$1" "$MMDB/source-data/$2.json" "$T/in" "$T/want"
	"$E" "$3" "$MMDB/$2.mmdb" <"$T/in" >"$T/out"
	"$TOP/t/lib/mmdb-expect" compare "$T/want" "$T/out"
}

@test "fixtures: every network of GeoIP2-City-Test gets the tags its source says" {
	fixture_check city GeoIP2-City-Test --city-db
}

@test "fixtures: every network of GeoIP2-ISP-Test gets its isp" {
	fixture_check isp GeoIP2-ISP-Test --isp-db
}

@test "fixtures: every network of GeoLite2-ASN-Test gets its AS organisation" {
	fixture_check asn GeoLite2-ASN-Test --isp-db
}

@test "fixtures: GeoLite2-City and GeoIP2-Country test databases" {
	[ -n "$MMDB" ] && [ -d "$MMDB" ] || skip "no ../shared/fixtures/mmdb"
	check --city-db "$MMDB/GeoLite2-City-Test.mmdb" <<-'EOF'
		81.2.69.142|London|England|GB|unknown
		2.125.160.216|Boxford|England|GB|unknown
		::ffff:81.2.69.142|London|England|GB|unknown
	EOF
	check --city-db "$MMDB/GeoIP2-Country-Test.mmdb" <<-'EOF'
		81.2.69.142|unknown|unknown|GB|unknown
	EOF
}

# These three are sound databases that tripped other readers.
valid_bad_data() {
	case ${1##*/} in
	*empty-array-last-in-metadata* | *empty-map-last-in-metadata* | *uint64-max-epoch*) return 0 ;;
	esac
	return 1
}

@test "fixtures: every corrupt database is a clean error at start-up" {
	[ -n "$MMDB" ] && [ -d "$MMDB/bad-data" ] || skip "no ../shared/fixtures/mmdb/bad-data"
	local n=0 f
	for f in "$MMDB"/bad-data/*/*.mmdb; do
		n=$((n + 1))
		for opt in --city-db --isp-db; do
			run --separate-stderr "$E" "$opt" "$f" <<<"$(rec 81.2.69.142)"
			if valid_bad_data "$f"; then
				[ "$status" = 0 ] || { echo "$f: $stderr"; return 1; }
				[[ $output == *'"city":'* ]]
			else
				[ "$status" = 2 ] || { echo "$f: status $status: $stderr"; return 1; }
				[[ $stderr == "rum-enrich: error: cannot open $opt '$f': "* ]] ||
					{ echo "$f: $stderr"; return 1; }
			fi
			[[ $stderr != *Sanitizer* && $stderr != *"runtime error"* ]] ||
				{ echo "$f: $stderr"; return 1; }
		done
	done
	[ "$n" -ge 15 ]
}

@test "fixtures: reloading onto a corrupt database keeps the one in use" {
	[ -n "$MMDB" ] && [ -d "$MMDB/bad-data" ] || skip "no ../shared/fixtures/mmdb/bad-data"
	cp "$MMDB/GeoIP2-City-Test.mmdb" "$T/geo.mmdb"
	start --city-db "$T/geo.mmdb" --check-interval 0
	local n=1 f fails=0
	send 81.2.69.142 1
	for f in "$MMDB"/bad-data/*/*.mmdb; do
		valid_bad_data "$f" && continue
		cp "$f" "$T/geo.mmdb.new" && mv "$T/geo.mmdb.new" "$T/geo.mmdb"
		kill -HUP "$E_PID"
		fails=$((fails + 1))
		wait_for 5 count_at_least "$fails" grep -c 'cannot reload' "$T/err"
		n=$((n + 1))
		send 81.2.69.142 "$n"
		[ "$(city_of_line "$n")" = London ] || { echo "after $f"; cat "$T/err"; return 1; }
	done
	kill -TERM "$E_PID"
	wait "$E_PID"
	E_PID=
	! grep -e Sanitizer -e 'runtime error' "$T/err"
}
