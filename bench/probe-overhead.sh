#!/usr/bin/env bash
# Overhead of `faultline probe fault-latency` (docs/results/probe.md): ufault's own p50
# per fault, with and without the probe attached, ROUNDS times each, alternating.
#   bench/probe-overhead.sh [ROUNDS] [PAGES]
# Cases (all threads pinned to CPU 0):
#   uffd        ufault: PAGES userfaultfd faults resolved by UFFDIO_COPY; probe --pid it
#   plain       ufault --no-uffd: PAGES first-touch anonymous faults; probe on another pid
#   plain-watch the same with the probe watching ufault itself (tgid in the set)
# Prints one line per run and the median p50 of each case. Needs root; run in the
# foreground (a background job may not progress between commands here).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FL=$ROOT/build/faultline UF=$ROOT/build/workloads/ufault
rounds=${1:-7} pages=${2:-20000}
out=$(mktemp -d /tmp/probe-overhead.XXXXXX)
trap 'kill $sleeper 2>/dev/null; rm -rf "$out"' EXIT
sleep 1000 & sleeper=$!

# run CASE PROBE(0/1) -> prints ufault's p50
run() {
	local c=$1 probe=$2 args=(--pages "$pages" --cpu 0 --wait) pid pp="" target
	[[ $c == uffd ]] || args+=(--no-uffd)
	exec 3< <("$UF" "${args[@]}")
	read -r _ pid <&3
	if ((probe)); then
		target=$pid
		[[ $c == plain ]] && target=$sleeper
		"$FL" probe fault-latency --pid "$target" --json >"$out/p.json" 2>"$out/p.err" &
		pp=$!
		for _ in $(seq 200); do grep -q attached "$out/p.err" && break; sleep 0.02; done
	fi
	kill -USR1 "$pid"
	sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p' <&3
	exec 3<&-
	if [[ -n $pp ]]; then kill -INT "$pp"; wait "$pp" || true; fi
}

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

for c in uffd plain plain-watch; do
	: >"$out/$c.0"; : >"$out/$c.1"
	for _ in $(seq "$rounds"); do
		for probe in 0 1; do
			v=$(run "$c" "$probe")
			echo "$v" >>"$out/$c.$probe"
			echo "$c probe=$probe p50_us=$v"
		done
	done
	printf '%-12s median p50: without %s us, with %s us\n' "$c" \
		"$(median <"$out/$c.0")" "$(median <"$out/$c.1")"
done
