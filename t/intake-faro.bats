#!/usr/bin/env bats
# rum-listen: the Grafana Faro Web SDK intake (SDK-MAPPING.md): preflight,
# payloads (plain and gzip) into records field by field, the app id from
# the path or meta, --faro-api-key, bad shapes refused whole.

load lib/common
load lib/listen

setup() {
	listen_vars
	P=$TOP/t/data/faro/payload.json
}

teardown() {
	listen_teardown
}

lines_in() { [ "$(wc -l <"$OUT")" -ge "$1" ]; }

# rec MEASUREMENT [GREP]: the record of that measurement (and line match).
rec() {
	grep "\"measurement\":\"$1\"" "$OUT" | grep -- "${2:-.}"
}

post_faro() { # PATH [CURL-ARG]...
	req POST "$1" -H 'Content-Type: application/json' -H 'x-faro-session-id: sess-1' "${@:2}"
}

@test "preflight of /collect/<app>: the requested headers allowed, Retry-After exposed" {
	start_listen
	req OPTIONS /collect/shop -H 'Origin: http://page.example' \
		-H 'Access-Control-Request-Method: POST' \
		-H 'Access-Control-Request-Headers: content-type,x-faro-session-id,x-api-key'
	[ "$CODE" = 204 ]
	grep -qi '^Access-Control-Allow-Origin: http://page.example' "$D/hdr"
	grep -qi '^Access-Control-Allow-Headers: content-type,x-faro-session-id,x-api-key' "$D/hdr"
	grep -qi '^Access-Control-Expose-Headers: Retry-After' "$D/hdr"
	# Two segments are no Faro path.
	req OPTIONS /collect/shop/x
	[ "$CODE" = 404 ]
}

@test "a payload into records, field by field and typed as SDK-MAPPING.md says" {
	start_listen
	post_faro /collect/shop-app --data-binary @"$P" -H 'Origin: http://page.example'
	[ "$CODE" = 202 ]
	grep -qi '^Access-Control-Allow-Origin: http://page.example' "$D/hdr"
	wait_for 5 lines_in 5
	[ "$(jq -r .measurement "$OUT" | tr '\n' ' ')" = "error view action resource action " ]
	# meta, in every record
	jq -e '.tags.app_id == "shop-app" and .tags.service == "shop" and .tags.version == "1.4.0" and
		.tags.env == "production" and .tags.sdk_name == "df_web_rum_sdk" and
		.tags.sdk_version == "2.0.2" and .fields.sdk_origin == "faro" and
		.tags.session_id == "sess-1" and .tags.userid == "u-7" and .tags.is_signin == "T" and
		.tags.user_email == "a@example.com" and .tags.user_name == "ann" and
		.tags.browser == "Chrome" and .tags.browser_version_major == "156" and .tags.os == "Linux" and
		.tags.view_url == "https://shop.example/items/42?ref=mail" and
		.tags.view_host == "shop.example" and .tags.view_path == "/items/42" and
		.tags.view_path_group == "/items/?" and .tags.view_name == "/items/42" and
		(.tags.view_id | test("^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")) and
		.fields.view_url_query == "{\"ref\":\"mail\"}" and .tags.ip == "127.0.0.1"' "$OUT" >/dev/null
	# one view id for the page
	[ "$(jq -r .tags.view_id "$OUT" | sort -u | wc -l)" = 1 ]
	rec error | jq -e '.tags.error_type == "Error" and .fields.error_message == "boom" and
		.fields.error_stack == "Error: boom\n  at onClick @ https://shop.example/app.js:1:120\n  at <anonymous> @ https://shop.example/app.js:1:80" and
		.tags.trace_id == "t1" and .tags.span_id == "s1" and .fields.where == "cart" and
		.fields.custom_keys == "[\"where\"]" and .time == 1796688600123000000 and
		(.tags | has("error_source") | not)' >/dev/null
	rec view | jq -e '.fields.largest_contentful_paint == 1200500000 and
		.fields.first_contentful_paint == 300000000 and .fields.first_byte == 80500000 and
		.fields.cumulative_layout_shift == 0.02 and .time == 1796688601000000000' >/dev/null
	rec action buy | jq -e '.tags.action_type == "click" and .fields.action_name == "buy" and
		.fields.duration == 120000000' >/dev/null
	rec resource | jq -e '.fields.resource_url == "https://api.example/v1/cart?id=3" and
		.fields.resource_url_host == "api.example" and .fields.resource_type == "xhr" and
		.tags.resource_status == "200" and .tags.resource_status_group == "2xx" and
		.fields.duration == 45500000 and .fields.resource_dns == 1000000 and
		.fields.resource_tcp == 2000000 and .fields.resource_ssl == 3000000 and
		.fields.resource_ttfb == 30000000 and .fields.resource_trans == 5000000 and
		(.fields | has("resource_decode_size") | not) and .fields.resource_transfer_size == 400' >/dev/null
	rec action checkout_done | jq -e '.tags.action_type == "custom" and .fields.total == "9.99" and
		.time == 1796685004000000000' >/dev/null
	# floats, as the Guance SDK's numbers become
	! rec resource | grep -qE '"duration":[0-9]+[,}]'
	[ "$(served_metric 'rum_listen_sdk_events_total{sdk="faro",type="action"}')" = 2 ]
	[ "$(served_metric 'rum_listen_sdk_dropped_total{sdk="faro",type="log"}')" = 1 ]
	[ "$(served_metric 'rum_listen_sdk_dropped_total{sdk="faro",type="other"}')" = 1 ]
	[ "$(served_metric 'rum_listen_requests_total{endpoint="/collect",code="202"}')" = 1 ]
}

@test "gzip body; /collect takes the app id from meta.app.name; page.id and view.name win" {
	start_listen
	jq -c '.meta.page.id = "page-9" | .meta.view.name = "cart" | .meta.session.overrides.serviceName = "svc"' "$P" | gzip >"$D/b.gz"
	post_faro /collect --data-binary @"$D/b.gz" -H 'Content-Encoding: gzip'
	[ "$CODE" = 202 ]
	wait_for 5 lines_in 5
	jq -e '.tags.app_id == "shop" and .tags.view_id == "page-9" and .tags.view_name == "cart" and
		.tags.service == "svc"' "$OUT" >/dev/null
	[ "$(jq -r .tags.app_id "$OUT" | sort -u)" = shop ]
}

@test "--faro-api-key: 401 without it or with another; --faro-endpoint moves the path" {
	start_listen --faro-api-key s3cret --faro-endpoint /faro
	post_faro /faro/app --data-binary @"$P"
	expect_error 401 rum.unauthorized "no x-api-key"
	post_faro /faro/app --data-binary @"$P" -H 'x-api-key: s3cre'
	expect_error 401 rum.unauthorized "wrong x-api-key"
	post_faro /collect/app --data-binary @"$P" -H 'x-api-key: s3cret'
	[ "$CODE" = 404 ]
	sleep 0.3
	[ ! -s "$OUT" ]
	post_faro /faro/app --data-binary @"$P" -H 'x-api-key: s3cret'
	[ "$CODE" = 202 ]
	wait_for 5 lines_in 5
}

@test "bad shapes: not JSON, no meta, an array that is not one, an item that is not an object, no app id; each 400, nothing written" {
	start_listen --app-id-allow shop,other
	post_faro /collect --data-binary '{"meta":{"app":{"name":"shop"}},"events":[{"name":"x"}'
	expect_error 400 rum.badJSON "payload (byte"
	post_faro /collect --data-binary '{"events":[{"name":"x"}]}'
	expect_error 400 rum.badEvent "no meta object"
	post_faro /collect --data-binary '{"meta":{"app":{"name":"shop"}},"exceptions":{"type":"Error"}}'
	expect_error 400 rum.badEvent "exceptions is not an array"
	post_faro /collect --data-binary '{"meta":{"app":{"name":"shop"}},"events":[{"name":"ok"},7]}'
	expect_error 400 rum.badEvent "events[1]"
	post_faro /collect --data-binary '{"meta":{"app":{"version":"1"}},"events":[{"name":"x"}]}'
	expect_error 400 rum.missingAppId
	post_faro /collect/nope --data-binary @"$P"
	expect_error 400 rum.appIdNotAllowed nope
	printf 'not gzip' >"$D/bad.gz"
	post_faro /collect --data-binary @"$D/bad.gz" -H 'Content-Encoding: gzip'
	expect_error 400 rum.badEncoding
	sleep 0.3
	[ ! -s "$OUT" ]
	[ "$(served_metric 'rum_listen_sdk_mapping_errors_total{sdk="faro"}')" = 7 ]
}

@test "--measurements: an error record not accepted fails the payload whole" {
	start_listen --measurements view,action,resource
	post_faro /collect/shop --data-binary @"$P"
	expect_error 400 rum.badMeasurement "exceptions[0]"
	sleep 0.3
	[ ! -s "$OUT" ]
}
