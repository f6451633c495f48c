#!/usr/bin/env bash
# `faultline probe fault-latency --pid` counts every userfaultfd fault exactly:
# tests/workloads/ufault registers N pages with its own uffd and resolves each fault
# itself with UFFDIO_COPY (after the uffd_trace_copy marker, as lazy-pages does), so
# exactly N uffd faults happen. The probe must report exactly N faults, every stage
# of the breakdown for each, latencies in (0, 1 s), and stop when the process exits.
# Once with one touching thread, once with 4 (threads of a watched pid count too).
# Skips (77) where BPF cannot be loaded.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_probe.sh
. "$(dirname "$0")/lib_probe.sh"

t_init
[[ -x $UFAULT ]] || t_fail "$UFAULT missing: run make"

# run_case NAME PAGES THREADS: one ufault run under the probe; checks the counts.
run_case() {
	local name=$1 pages=$2 threads=$3 out=$T_OUT/$1 pid own n
	"$UFAULT" --pages "$pages" --threads "$threads" --wait >"$out.ufault" 2>&1 &
	pid=$!
	t_track "$pid"
	t_wait_for 10 grep -q ready "$out.ufault" || t_fail "ufault did not start: $(cat "$out.ufault")"
	probe_start "$out" fault-latency --pid "$pid"
	kill -USR1 "$pid"
	t_wait_exit "$pid" 60 || t_fail "ufault still runs after 60 s"
	wait "$pid" || t_fail "ufault failed: $(cat "$out.ufault")"
	probe_wait 10
	own=$(sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p' "$out.ufault")
	read -r n p50 p99 max fr fe cw wr fw < <(probe_total "$out" faults p50_us p99_us max_us \
		stages.fault_request.n stages.fetch.n stages.copy_wake.n stages.wake_resume.n \
		stages.fault_wake.n) || t_fail "no total in the probe's output: $(cat "$out.err")"
	((n == pages)) || t_fail "$name: probe counted $n uffd faults, ufault made $pages"
	for s in "$fr" "$fe" "$cw" "$wr" "$fw"; do
		((s == pages)) || t_fail "$name: a stage has $s faults, want $pages: $(tail -1 "$out.json")"
	done
	python3 -c "import sys; p50, max = float(sys.argv[1]), float(sys.argv[2]); \
		sys.exit(not (0 < p50 <= max < 1e6))" "$p50" "$max" ||
		t_fail "$name: implausible latency: p50 $p50 us, max $max us"
	t_log "$name: $n faults; probe p50 $p50 us, p99 $p99 us, max $max us; ufault's own p50 $own us"
}

run_case one-thread 3000 1
run_case four-threads 4000 4
t_pass
