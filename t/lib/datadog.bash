# Helpers for the tests of rum-listen's Datadog intake (sourced after
# common.bash and listen.bash).

FIX=$TOP/../shared/fixtures/datadog-browser-rum
DD_UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36'

need_fixtures() {
	[ -d "$FIX/default" ] || skip "no captured Datadog requests in $FIX"
}

# dd_query [EXTRA-PARAMS]: a ddforward query as the SDK builds it (the
# client token in it), deflate when EXTRA-PARAMS holds dd-evp-encoding.
dd_query() {
	local fw="/api/v2/rum?ddsource=browser&dd-api-key=pubSECRETTOKEN0123&dd-evp-origin-version=7.16.2&dd-evp-origin=browser&dd-request-id=474929ee-6a40-4672-b2ed-75f5672c94ed${1:-}&batch_time=1795622312020&_dd.api=fetch"
	printf 'ddforward=%s' "$(jq -rn --arg s "$fw" '$s|@uri')"
}

# dd_replay DIR NN [CURL-ARG]...: the captured request DIR/NN-* sent again
# as the browser sent it (its query, User-Agent and Origin, its raw body).
dd_replay() {
	local dir=$FIX/$1 nn=$2 f body q origin
	shift 2
	f=$(ls "$dir/$nn"-*.request.json)
	body=${f%.request.json}.ndjson
	[ -f "${f%.request.json}.body.deflate" ] && body=${f%.request.json}.body.deflate
	q=$(jq -r .url_query_raw "$f")
	origin=$(jq -r '.headers.Origin // empty' "$f")
	req POST "/proxy?$q" -H "User-Agent: $(jq -r '.headers["User-Agent"]' "$f")" \
		-H "Content-Type: $(jq -r '.headers["Content-Type"]' "$f")" \
		${origin:+-H "Origin: $origin"} --data-binary @"$body" "$@"
}

# dd_event TYPE [JQ-ASSIGNMENTS]: one Datadog event line of TYPE.
dd_event() {
	jq -cn --arg t "$1" '{type: $t, date: 1795622281792, application: {id: "app-1"},
		session: {id: "s-1", type: "user"}, source: "browser", service: "web",
		view: {id: "v-1", url: "http://shop.example:8080/items/42?x=1#/cart", referrer: ""},
		ddtags: "sdk_version:7.16.2,env:prod"} '"${2:+| $2}"
}
