# Helpers for the tests of rum-symbolicate (sourced after common.bash).

# The app, env and version of the mobile (Android, iOS) tests' records and
# archives.
APP=com.demo.shop
ENV=prod
VER=2.1.0

# symbolicate_vars: S (the program), T (the test's directory), D (its
# --data-dir), M (its --metrics-file) and MKZIP (t/lib/mkzip).
symbolicate_vars() {
	S=$BIN/rum-symbolicate
	T=$BATS_TEST_TMPDIR
	D=$T/data
	M=$T/metrics.prom
	MKZIP=$BATS_TEST_DIRNAME/lib/mkzip
}

# stop_symbolicate: for teardown, kills the stage a test left running
# (S_PID).
stop_symbolicate() {
	[ -n "${S_PID:-}" ] && stop_pid "$S_PID" KILL
	true
}

# mobile_error_rec SDK ERROR-TYPE STACK-FILE [APP]: an error record of a
# mobile SDK with the stack in STACK-FILE, for APP (or $APP), $ENV, $VER.
mobile_error_rec() {
	jq -nc --rawfile s "$3" --arg k "$1" --arg t "$2" --arg a "${4:-$APP}" --arg e "$ENV" --arg v "$VER" \
		'{measurement:"error",tags:{app_id:$a,env:$e,version:$v,sdk_name:$k,error_type:$t},fields:{error_stack:$s,error_message:"boom"},time:1}'
}
