#!/usr/bin/env bash
# `faultline probe fault-latency --lazy-pages-pidfile` on a real lazy restore: a 32 MiB
# memfill is dumped, `faultline lazy-pages` (pages from `faultline page-server --no-tls`,
# --bg-depth 0: no background fetch, so every lazy page the workload touches comes
# through a fault) serves `criu restore --lazy-pages`,
# with the probe attached to the daemon before the restore. The probe must find the
# restored task by itself (uffd_trace_task marker, lazy-pages.pids), see at least the
# 8192 faults of the workload's verify pass, with the full breakdown for each, and exit
# when the daemon does. When the daemon ends by itself, its own count (fault requests
# plus zero-page faults) may exceed the probe's by a few at most: the faults CRIU's
# restorer takes in the task before the daemon has handled its hand-off, when the probe
# cannot know the pid yet. Skips (77) where BPF cannot be loaded or CRIU does not run.
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$(dirname "$0")/lib_lp.sh"
# shellcheck source=tests/e2e/lib_probe.sh
. "$(dirname "$0")/lib_probe.sh"

wl=$T_OUT/wl img=$T_OUT/img wd=$T_OUT/dst mib=32
t_init
lp_require
t_pipe_max_default

pid=$(t_start_workload "$wl" "$mib") || t_fail "workload did not start"
t_dump_gone "$pid" "$img"

t_fl_page_server "$T_OUT/ps.log" "$img" --no-tls || t_fail "page-server did not start"
lp_start "$wd" "$img" --page-server --address 127.0.0.1 --port "$T_PS_PORT" --no-tls \
	--bg-depth 0 --pidfile "$wd/lp.pid"
probe_start "$T_OUT/probe" fault-latency --lazy-pages-pidfile "$wd/lp.pid"
t_restore_wd "$wd" "$img" --lazy-pages || { lp_log_tail "$wd"; t_fail "lazy restore failed"; }
restored=$(cat "$wd/restored.pid")
grep -q "^$restored " "$wd/lazy-pages.pids" || t_fail "lazy-pages.pids lacks pid $restored"
t_verify "$wl" 60 || { lp_log_tail "$wd"; t_fail "memory verification failed"; }
# With no background fetch the daemon ends by itself only if the workload touched every
# lazy page; it does not notice a task's exit otherwise. Then stop it (exit 1, no summary).
t_wait_exit "$restored" 20 || t_fail "restored workload $restored still runs"
rc=0
lp_wait 5 || rc=$?
((rc == 0 || rc == 124)) || { lp_log_tail "$wd"; t_fail "faultline lazy-pages exited with $rc"; }
probe_wait 10

read -r n p50 p99 fr fe cw wr < <(probe_total "$T_OUT/probe" faults p50_us p99_us \
	stages.fault_request.n stages.fetch.n stages.copy_wake.n stages.wake_resume.n) ||
	t_fail "no total in the probe's output: $(cat "$T_OUT/probe.err")"
((n >= mib * 256)) || t_fail "probe counted $n uffd faults, fewer than the $((mib * 256)) pages verified"
for s in "$fr" "$fe" "$cw" "$wr"; do
	((s == n)) || t_fail "a stage has $s faults, want $n: $(tail -1 "$T_OUT/probe.json")"
done
if ((rc == 124)); then
	t_pass "$n uffd faults; probe p50 $p50 us, p99 $p99 us (lazy-pages stopped: a lazy page untouched)"
fi
# The daemon's own count: fault requests (its latency histogram) + zero-page faults.
read -r lp_faults < <(sed -n 's/.*summary: .*(\([0-9]*\) faults).*/\1/p' "$wd/lp.log" | tail -1)
read -r _ _ zeroed < <(lp_summary "$wd/lp.log")
early=$((lp_faults + zeroed - n))
((early >= 0 && early <= 4)) ||
	t_fail "probe counted $n uffd faults, lazy-pages answered $lp_faults + $zeroed zero pages"
t_pass "$n uffd faults (lazy-pages: $lp_faults + $zeroed zero pages, $early before the" \
	"hand-off); probe p50 $p50 us, p99 $p99 us"
