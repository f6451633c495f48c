#!/usr/bin/env bash
# faultline lazy-pages when the page server is gone for good: it must not let the
# restored process run on with memory that reads as zeros.
#   256 MiB single-process workload, criu dump, faultline page-server over TLS;
#   faultline lazy-pages --reconnect-timeout 2 with a slow background; criu restore
#   --lazy-pages. Mid-background the server is SIGKILLed and not restarted, and the
#   workload is told to verify (its faults now wait for the server).
# lazy-pages must exit non-zero within a few seconds with a message saying the page
# server was unreachable, the restored process (its pid from the "restored task (pid N
# here)" line) must be gone, and the workload must never have written an OK verdict.
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$(dirname "$0")/lib_lp.sh"

wl=$T_OUT/wl img=$T_OUT/img wd=$T_OUT/dst pki=$T_OUT/pki mib=256
t_init
lp_require

pid=$(t_start_workload "$wl" "$mib") || t_fail "workload did not start"
t_dump_gone "$pid" "$img"

lp_pki "$pki"
t_fl_page_server "$T_OUT/ps.log" "$img" --pki "$pki" || t_fail "page-server did not start"
lazy=$T_PS_LAZY
lp_start "$wd" "$img" --page-server --address 127.0.0.1 --port "$T_PS_PORT" --pki "$pki" \
	--bg-pages 1 --bg-depth 1 --reconnect-timeout 2 -v
t_restore_wd "$wd" "$img" --lazy-pages || { lp_log_tail "$wd"; t_fail "lazy restore failed"; }
restored=$(lp_restored_pids "$wd/lp.log")
[[ -n $restored && $restored == "$(cat "$wd/restored.pid")" ]] ||
	t_fail "lazy-pages logged restored pid '$restored', criu says $(cat "$wd/restored.pid")"

lp_wait_progress "$wd" $((lazy / 20)) 30 ||
	{ lp_log_tail "$wd"; t_fail "the background did not get going"; }
kill -KILL "$T_PS_PID"
wait "$T_PS_PID" 2>/dev/null || true
at_kill=$(lp_progress "$wd")
((at_kill < lazy * 3 / 4)) || t_fail "too late: $at_kill of $lazy pages were in when the server died"
touch "$wl/go" # the workload's faults now wait for a server that will not come back
t_kill=$SECONDS

rc=0
lp_wait 20 || rc=$?
((rc != 124)) || { lp_log_tail "$wd"; t_fail "lazy-pages did not give up within 20 s"; }
((rc != 0)) || { lp_log_tail "$wd"; t_fail "lazy-pages exited 0 without its page server"; }
waited=$((SECONDS - t_kill))
grep -qE 'page server .* unreachable for 2\.0 s' "$wd/lp.stderr" ||
	{ lp_log_tail "$wd"; t_fail "lazy-pages' exit message does not say the page server was unreachable"; }
grep -q "killing restored task $restored" "$wd/lp.log" ||
	{ lp_log_tail "$wd"; t_fail "lazy-pages did not say it killed task $restored"; }
t_wait_exit "$restored" 5 || t_fail "restored task $restored still runs"
sleep 0.2
if [[ -e $wl/result ]]; then
	[[ $(cat "$wl/result") != OK* ]] || t_fail "the workload ran on and verified OK: $(cat "$wl/result")"
fi

t_pass "server killed at $at_kill/$lazy pages: lazy-pages exited $rc after ~${waited}s," \
	"task $restored killed; $(grep -o 'lazy-pages: page server.*' "$wd/lp.stderr" | head -1)"
