#!/usr/bin/env bash
# gotest.sh P PKG...: go test the packages with parallelism P; a package that
# fails is run again, alone, up to twice, and every retry is reported, so a
# flaky VM-typing test does not hide behind a green run: grep the log for RETRY.
set -uo pipefail
P=$1
shift
GO=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
$GO test -p "$P" -timeout "${TEST_TIMEOUT:-25m}" -count=1 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] && exit 0
failed=$(awk '$1=="FAIL" && $2 ~ /^github.com\// {print $2}' "$log" | sort -u)
[ -n "$failed" ] || exit "$rc" # a build failure or similar: no retry
for pkg in $failed; do
	ok=""
	for try in 1 2; do
		echo "RETRY $try: $pkg failed; running it again, alone"
		if $GO test -p 1 -timeout "${TEST_TIMEOUT:-25m}" -count=1 "$pkg"; then
			ok=1
			break
		fi
	done
	[ -n "$ok" ] || { echo "RETRY FAILED: $pkg"; exit 1; }
	echo "RETRY PASSED: $pkg (flaky: it failed $try time(s) in this run)"
done
