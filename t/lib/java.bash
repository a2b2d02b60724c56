# Java stack trace helpers for the tests (sourced): compare a retraced
# trace with the un-obfuscated run's, frame by frame.

# The "at" frames of a trace as class.method:line, one a line.
frames() {
	sed -n 's/^[[:space:]]*at \([^(]*\)(\([^)]*\)).*/\1 \2/p' "$1" |
		awk '{ n = split($2, p, ":"); print $1 ":" (n > 1 ? p[n] : "") }'
}

# in_order WANT GOT: every frame of the un-obfuscated run (WANT), in order,
# among the retraced ones (GOT; the JVM folds a cause's frames shared with
# its enclosing trace into "... N more", so the retraced trace can have
# more).
in_order() {
	awk 'NR == FNR { want[++n] = $0; next } i < n && $0 == want[i + 1] { i++ }
	     END { if (i < n) { print "missing from the retrace: " want[i + 1]; exit 1 } }' "$1" "$2"
}
