#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time from its seed corpus.
# usage: tests/fuzz/run.sh SECONDS FUZZER...
set -euo pipefail
secs=${1:-30}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
fail=0
for f in "$@"; do
	name=$(basename "$f")          # fuzz_proto -> corpus/proto
	corpus=$root/tests/fuzz/corpus/${name#fuzz_}
	work=$(mktemp -d)
	[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
	printf '  %-8s %s (%ss)\n' FUZZ "$name" "$secs"
	if ! "$f" -max_total_time="$secs" -print_final_stats=0 -artifact_prefix="$work/" \
		"$work" >"$work.log" 2>&1; then
		echo "fuzz: $name found a crash; log and reproducer:" >&2
		tail -40 "$work.log" >&2
		ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null >&2 || true
		fail=1
	else
		grep -E '^#[0-9]+.*(DONE|pulse)' "$work.log" | tail -1 | sed 's/^/    /'
		rm -rf "$work" "$work.log"
	fi
done
if [ $fail -ne 0 ]; then
	echo "fuzz: 0 passed, 1 failed"
	exit 1
fi
echo "fuzz: $# passed, 0 failed"
