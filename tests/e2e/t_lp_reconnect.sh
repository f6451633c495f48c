#!/usr/bin/env bash
# faultline lazy-pages survives a page server that dies in the middle of the transfer:
#   256 MiB single-process workload, criu dump, faultline page-server over TLS;
#   faultline lazy-pages with a slow background (--bg-pages 1 --bg-depth 1: ~2.5 s);
#   criu restore --lazy-pages. Once the background has brought in some pages (but not
#   all), the server is SIGKILLed; the workload is then told to verify (its faults now
#   wait for the server), and a second later a new server is started on the same port.
# lazy-pages must log the lost connection, reconnect, bring in every page (faulted +
# prefetched == lazy pages) and exit 0; the workload must verify every byte.
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
port=$T_PS_PORT lazy=$T_PS_LAZY
lp_start "$wd" "$img" --page-server --address 127.0.0.1 --port "$port" --pki "$pki" \
	--bg-pages 1 --bg-depth 1 --reconnect-timeout 20 -v
t0=$(date +%s%N)
t_restore_wd "$wd" "$img" --lazy-pages || { lp_log_tail "$wd"; t_fail "lazy restore failed"; }
restored=$(cat "$wd/restored.pid")

# Mid-background: some pages in, far from all.
lp_wait_progress "$wd" $((lazy / 20)) 30 ||
	{ lp_log_tail "$wd"; t_fail "the background did not get going"; }
kill -KILL "$T_PS_PID"
wait "$T_PS_PID" 2>/dev/null || true
at_kill=$(lp_progress "$wd")
((at_kill < lazy * 3 / 4)) || t_fail "too late: $at_kill of $lazy pages were in when the server died"
t_wait_for 10 grep -q 'connection lost' "$wd/lp.log" ||
	{ lp_log_tail "$wd"; t_fail "lazy-pages did not notice the lost server"; }
touch "$wl/go" # the workload's faults now wait for the server
sleep 1
t_alive "$LP_PID" || { lp_log_tail "$wd"; t_fail "lazy-pages gave up while the server was down"; }
t_alive "$restored" || t_fail "the restored workload died while the server was down"
[[ ! -e $wl/result ]] || t_fail "the workload finished without its server: $(cat "$wl/result")"

lp_page_server "$T_OUT/ps2.log" "$img" "$port" --pki "$pki"
t_verify "$wl" 60 || { lp_log_tail "$wd"; t_fail "memory verification failed"; }
rc=0
lp_wait 60 || rc=$?
t1=$(date +%s%N)
((rc == 0)) || { lp_log_tail "$wd"; t_fail "faultline lazy-pages exited with $rc"; }
[[ $(grep -c 'fault link connected' "$wd/lp.log") -ge 2 ]] ||
	{ lp_log_tail "$wd"; t_fail "lazy-pages did not reconnect"; }
grep -q 'connected (TLS)' "$T_OUT/ps2.log" || t_fail "the new server saw no TLS client"
read -r f p z < <(lp_check_summary "$wd" "$lazy")

t_pass "$mib MiB: server killed at $at_kill/$lazy pages, restarted 1 s later; verified + all" \
	"in $(((t1 - t0) / 1000000)) ms; $f faulted + $p prefetched = $lazy;" \
	"$(grep -m1 -o 'connection lost.*' "$wd/lp.log")"
