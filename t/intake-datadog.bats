#!/usr/bin/env bats
# rum-listen: the Datadog Browser RUM intake (SDK-MAPPING.md): the captured
# requests of @datadog/browser-rum 7.16.2 replayed give our golden records;
# deflate per request; views of one request deduplicated; bad bodies refused
# whole; the options of the Guance intake honoured.

load lib/common
load lib/listen
load lib/datadog

setup() {
	listen_vars
}

teardown() {
	listen_teardown
}

lines_in() { [ "$(wc -l <"$OUT")" -ge "$1" ]; }

# golden DIR NN: the records of the replayed request equal our golden file.
golden() {
	diff <(jq -S . "$OUT") <(jq -S . "$TOP/t/data/datadog/$1-$2.ndjson")
}

@test "the captured requests replayed give the golden records (plain and compressIntakeRequests)" {
	need_fixtures
	start_listen
	for dir in default compressIntakeRequests; do
		for nn in 01 02 03; do
			: >"$OUT"
			dd_replay "$dir" "$nn"
			[ "$CODE" = 202 ] || { echo "$dir $nn: $CODE $(cat "$D/resp")"; false; }
			[ "$(cat "$D/resp")" = "{}" ]
			grep -qi '^Access-Control-Allow-Origin: http://127.0.0.1:' "$D/hdr"
			wait_for 5 lines_in "$(wc -l <"$TOP/t/data/datadog/$dir-$nn.ndjson")"
			golden "$dir" "$nn" || { echo "$dir $nn differs"; false; }
		done
	done
	# 9 events in 01, the two long tasks among them; the view kept once.
	[ "$(served_metric 'rum_listen_sdk_events_total{sdk="datadog",type="long_task"}')" -ge 2 ]
	[ "$(served_metric 'rum_listen_requests_total{endpoint="/api/v2/rum",code="202"}')" = 6 ]
}

@test "a fixture's records: types and names as SDK-MAPPING.md says" {
	need_fixtures
	start_listen
	dd_replay default 01
	[ "$CODE" = 202 ]
	wait_for 5 lines_in 9
	[ "$(jq -r .measurement "$OUT" | tr '\n' ' ')" = "long_task long_task resource resource resource action error resource view " ]
	grep '"measurement":"error"' "$OUT" | jq -e '
		.tags.error_type == "Error" and .tags.error_source == "custom" and
		.fields.error_message == "boom" and
		(.fields.error_stack | startswith("Error: boom\n  at <anonymous> @ http://127.0.0.1:48583/index.html:")) and
		.fields.where == "bars" and .fields.custom_keys == "[\"where\"]" and
		.tags.sdk_name == "df_web_rum_sdk" and .tags.sdk_version == "7.16.2" and
		.fields.sdk_origin == "datadog" and .tags.env == "test" and
		.tags.app_id == "11111111-2222-3333-4444-555555555555" and
		.tags.browser == "Chrome" and .tags.browser_version == "156.0.0.0" and
		.tags.browser_version_major == "156" and .tags.os == "Linux" and
		.tags.is_signin == "F" and .tags.ip == "127.0.0.1" and
		.time == 1795622283379000000' >/dev/null || { grep '"error"' "$OUT"; false; }
	grep '"measurement":"action"' "$OUT" | jq -e '.tags.action_type == "custom" and
		.fields.action_name == "checkout" and .fields.cart_items == 3 and
		(.fields.cart_items | type) == "number" and .fields.coupon == "SAVE10"' >/dev/null
	grep '"resource_type":"fetch"' "$OUT" | jq -e '
		.tags.resource_status == "200" and .tags.resource_status_group == "2xx" and
		.tags.resource_method == "GET" and .fields.duration == 53200000 and
		.fields.resource_url_path == "/api/data" and
		.fields.resource_url_query == "{\"x\":\"1\"}" and .fields.resource_url_host == "127.0.0.1"' >/dev/null
	grep '"measurement":"view"' "$OUT" | jq -e '.tags.view_loading_type == "initial_load" and
		.fields.is_active == true and .fields.view_error_count == 1 and
		.fields.dom == (.fields.dom_complete - .fields.dom_interactive)' >/dev/null
	# Every number a float, as rum-listen makes of the Guance SDK's.
	! grep -qE '"(duration|time_spent|loading_time)":[0-9]+[,}]' "$OUT"
}

@test "POST /api/v2/rum with the parameters in its own query; derived view tags" {
	start_listen
	q="ddsource=browser&dd-api-key=x&dd-evp-origin-version=7.16.2&dd-evp-origin=browser&dd-request-id=r-1"
	dd_event action '.action = {type: "click", id: "a-1", target: {name: "Buy"}, loading_time: 5000000} | .context = {"": 1, "service": "taken", "k": "v"}' >"$D/b"
	req POST "/api/v2/rum?$q" --data-binary @"$D/b" -H "User-Agent: $DD_UA"
	[ "$CODE" = 202 ]
	wait_for 5 test -s "$OUT"
	jq -e '.measurement == "action" and .tags.action_type == "click" and
		.fields.action_name == "Buy" and .fields.duration == 5000000 and
		.fields.action_id == "a-1" and .tags.env == "prod" and .tags.service == "web" and
		.tags.view_host == "shop.example:8080" and .tags.view_path == "/items/42#/cart" and
		.tags.view_path_group == "/items/?#/cart" and .tags.view_name == "/items/42#/cart" and
		.fields.view_url_query == "{\"x\":\"1\"}" and .tags.sdk_version == "7.16.2" and
		.fields.k == "v" and .fields.custom_keys == "[\"k\"]" and (.fields | has("")  | not)' "$OUT"
}

@test "a view sent twice in one request: only the highest _dd.document_version, whatever the order" {
	start_listen
	{
		dd_event view '._dd = {document_version: 3} | .view.time_spent = 3000'
		dd_event view '._dd = {document_version: 2} | .view.time_spent = 2000'
		dd_event error '.error = {message: "m", source: "source"}'
		dd_event view '._dd = {document_version: 4} | .view.time_spent = 4000 | .view.id = "v-2"'
	} >"$D/b"
	req POST "/dd?$(dd_query)" --data-binary @"$D/b"
	[ "$CODE" = 202 ]
	wait_for 5 test -s "$OUT"
	[ "$(jq -c '[.measurement, .tags.view_id, .fields.time_spent]' "$OUT" | tr '\n' ' ')" = '["view","v-1",3000] ["error","v-1",null] ["view","v-2",4000] ' ] ||
		{ jq -c '[.measurement, .tags.view_id, .fields.time_spent]' "$OUT"; false; }
	{
		dd_event view '._dd = {document_version: 2} | .view.time_spent = 2000'
		dd_event view '._dd = {document_version: 5} | .view.time_spent = 5000'
	} >"$D/b"
	: >"$OUT"
	req POST "/dd?$(dd_query)" --data-binary @"$D/b"
	wait_for 5 test -s "$OUT"
	[ "$(jq -c '.fields.time_spent' "$OUT")" = "5000" ]
	[ "$(served_metric 'rum_listen_points_total{measurement="view"}')" = 3 ]
	[ "$(served_metric 'rum_listen_sdk_dropped_total{sdk="datadog",type="view"}')" = 2 ]
}

@test "deflate per request, as dd-evp-encoding says; a bad stream is 400 and nothing is written" {
	start_listen
	dd_event error '.error = {message: "z"}' >"$D/b"
	python3 -c 'import sys,zlib; sys.stdout.buffer.write(zlib.compress(open(sys.argv[1],"rb").read()))' "$D/b" >"$D/b.z"
	req POST "/?$(dd_query '&dd-evp-encoding=deflate')" --data-binary @"$D/b.z"
	[ "$CODE" = 202 ]
	wait_for 5 test -s "$OUT"
	jq -e '.fields.error_message == "z"' "$OUT"
	: >"$OUT"
	head -c 20 "$D/b.z" >"$D/bad.z"
	printf 'garbage' >>"$D/bad.z"
	req POST "/?$(dd_query '&dd-evp-encoding=deflate')" --data-binary @"$D/bad.z"
	expect_error 400 rum.badEncoding deflate
	grep -qi '^Access-Control-Allow-Origin:' "$D/hdr"
	# The plain body where deflate was announced.
	req POST "/?$(dd_query '&dd-evp-encoding=deflate')" --data-binary @"$D/b"
	expect_error 400 rum.badEncoding
	sleep 0.3
	[ ! -s "$OUT" ]
	[ "$(served_metric 'rum_listen_sdk_mapping_errors_total{sdk="datadog"}')" = 2 ]
}

@test "bad bodies: truncated NDJSON, no application.id, not an object, no type; each 400 naming the event, nothing written" {
	start_listen
	{ dd_event view; dd_event error | head -c 60; } >"$D/b"
	req POST "/dd?$(dd_query)" --data-binary @"$D/b"
	expect_error 400 rum.badJSON "event 2 (line 2"
	{ dd_event view; dd_event error 'del(.application)'; } >"$D/b"
	req POST "/dd?$(dd_query)" --data-binary @"$D/b"
	expect_error 400 rum.missingAppId "event 2 (line 2, type error)"
	{ dd_event view; echo '[1,2]'; } >"$D/b"
	req POST "/dd?$(dd_query)" --data-binary @"$D/b"
	expect_error 400 rum.badJSON "event 2"
	dd_event view 'del(.type)' >"$D/b"
	req POST "/dd?$(dd_query)" --data-binary @"$D/b"
	expect_error 400 rum.badEvent "event 1"
	req POST "/dd?$(dd_query)" --data-binary ''
	expect_error 400 rum.emptyBody
	sleep 0.3
	[ ! -s "$OUT" ]
	[ "$(served_metric 'rum_listen_rejected_total{reason="rum.missingAppId"}')" = 1 ]
}

@test "--app-id-allow, --measurements, --max-body-mb as for the Guance intake" {
	start_listen --app-id-allow app-2 --measurements view,error --max-body-mb 1
	dd_event error >"$D/b"
	req POST "/dd?$(dd_query)" --data-binary @"$D/b"
	expect_error 400 rum.appIdNotAllowed "app-1"
	{ dd_event error '.application.id = "app-2"'; dd_event action '.application.id = "app-2"'; } >"$D/b"
	req POST "/dd?$(dd_query)" --data-binary @"$D/b"
	expect_error 400 rum.badMeasurement "event 2 (line 2, type action)"
	head -c 1100000 /dev/zero | tr '\0' ' ' >"$D/big"
	req POST "/dd?$(dd_query)" --data-binary @"$D/big"
	expect_error 413 rum.bodyTooLarge
	sleep 0.3
	[ ! -s "$OUT" ]
}

@test "dropped by design: vital and unknown event types, replay and logs through the proxy; still 202" {
	start_listen
	{ dd_event vital; dd_event view_update; dd_event error; } >"$D/b"
	req POST "/dd?$(dd_query)" --data-binary @"$D/b"
	[ "$CODE" = 202 ]
	wait_for 5 test -s "$OUT"
	[ "$(wc -l <"$OUT")" = 1 ]
	fw=$(jq -rn '"/api/v2/replay?ddsource=browser&dd-api-key=x" | @uri')
	req POST "/dd?ddforward=$fw" --data-binary 'not a rum body'
	[ "$CODE" = 202 ]
	fw=$(jq -rn '"/api/v2/logs?ddsource=browser&dd-api-key=x" | @uri')
	req POST "/dd?ddforward=$fw" --data-binary '{"message":"x"}'
	[ "$CODE" = 202 ]
	sleep 0.3
	[ "$(wc -l <"$OUT")" = 1 ]
	[ "$(served_metric 'rum_listen_sdk_dropped_total{sdk="datadog",type="vital"}')" = 1 ]
	[ "$(served_metric 'rum_listen_sdk_dropped_total{sdk="datadog",type="view_update"}')" = 1 ]
	[ "$(served_metric 'rum_listen_sdk_dropped_total{sdk="datadog",type="replay"}')" = 1 ]
	[ "$(served_metric 'rum_listen_sdk_dropped_total{sdk="datadog",type="log"}')" = 1 ]
	[ "$(served_metric 'rum_listen_sdk_events_total{sdk="datadog",type="error"}')" = 1 ]
}

@test "echo and dry as on the write endpoint; the client token is never logged" {
	start_listen --log-level debug
	dd_event error >"$D/b"
	req POST "/dd?$(dd_query)&echo=1&dry=1" --data-binary @"$D/b"
	[ "$CODE" = 200 ]
	jq -e '.measurement == "error" and .tags.app_id == "app-1"' "$D/resp"
	dd_event error 'del(.application)' >"$D/b"
	req POST "/dd?$(dd_query)" --data-binary @"$D/b"
	[ "$CODE" = 400 ]
	sleep 0.3
	[ ! -s "$OUT" ]
	! grep -q pubSECRETTOKEN0123 "$ERR"
}
