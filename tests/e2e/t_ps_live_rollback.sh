#!/usr/bin/env bash
# Rollback of a live post-copy: the page server dies mid-transfer, the source resumes.
#   256 MiB workload; criu dump --lazy-pages (tasks frozen); faultline page-server --pid
#   over TLS; faultline lazy-pages --page-server with a slow background and
#   --reconnect-timeout 2; criu restore --lazy-pages. Mid-background the page server
#   is SIGKILLed: lazy-pages must kill the restored task and exit 1. Then
#   faultline criu-release --resume: criu dump must roll back (exit 1, "Lazy pages
#   transfer FAILED"), the source task must run again and pass t_verify, and it must
#   be the only copy alive.
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$(dirname "$0")/lib_lp.sh"

wl=$T_OUT/wl img=$T_OUT/img wd=$T_OUT/dst pki=$T_OUT/pki mib=256
t_init
lp_require
t_pipe_max_default

pid=$(t_start_workload "$wl" "$mib") || t_fail "workload did not start"
dport=$(t_free_port)
mkdir -p "$img"
"$CRIU" dump -t "$pid" -D "$img" -o dump.log -v4 --lazy-pages --address 127.0.0.1 \
	--port "$dport" --status-fd 9 9>"$T_OUT/dump.status" &
dpid=$!
t_track "$dpid"
{ t_wait_for 30 eval "[[ -s $(printf %q "$T_OUT")/dump.status ]] || ! t_alive $dpid" &&
	t_alive "$dpid"; } || { t_criu_log "$img/dump.log"; t_fail "criu dump --lazy-pages did not get to listening"; }

lp_pki "$pki"
t_fl_page_server "$T_OUT/ps.log" "$img" --pid "$pid" --pki "$pki" ||
	t_fail "page-server --pid did not start"
lazy=$T_PS_LAZY
lp_start "$wd" "$img" --page-server --address 127.0.0.1 --port "$T_PS_PORT" --pki "$pki" \
	--bg-pages 1 --bg-depth 1 --reconnect-timeout 2 -v
t_restore_wd "$wd" "$img" --lazy-pages || { lp_log_tail "$wd"; t_fail "lazy restore failed"; }
restored=$(cat "$wd/restored.pid")
lp_wait_progress "$wd" $((lazy / 20)) 30 ||
	{ lp_log_tail "$wd"; t_fail "the background did not get going"; }
kill -KILL "$T_PS_PID"
wait "$T_PS_PID" 2>/dev/null || true
at_kill=$(lp_progress "$wd")
((at_kill < lazy * 3 / 4)) || t_fail "too late: $at_kill of $lazy pages were in when the server died"

rc=0
lp_wait 20 || rc=$?
((rc == 1)) || { lp_log_tail "$wd"; t_fail "lazy-pages exited with $rc, want 1"; }
t_wait_exit "$restored" 5 || t_fail "restored task $restored still runs"
t_alive "$dpid" || t_fail "criu dump ended before criu-release"
grep -q '^State:.*t (tracing stop)' "/proc/$pid/status" || t_fail "source task $pid is not frozen"
[[ ! -e $wl/result ]] || t_fail "a verdict exists before the source resumed: $(cat "$wl/result")"

"$FAULTLINE" criu-release --address 127.0.0.1 --port "$dport" --no-tls --resume --pid "$pid" \
	2>"$T_OUT/release.err" ||
	{ cat "$T_OUT/release.err" >&2; t_criu_log "$img/dump.log"; t_fail "criu-release --resume failed"; }
rc=0
t_wait_child "$dpid" 20 "criu dump" || rc=$?
((rc == 1)) || { t_criu_log "$img/dump.log"; t_fail "criu dump exited with $rc, want 1 (rolled back)"; }
grep -q 'Lazy pages transfer FAILED' "$img/dump.log" || t_fail "criu dump did not fail its transfer"
t_alive "$pid" || t_fail "source task $pid is gone after --resume"
! t_alive "$restored" || t_fail "two copies alive"
copies=$(pgrep -c -f -x "$MEMFILL --size $mib --dir $wl") || true
((copies == 1)) || t_fail "$copies copies of the workload run, want 1"
t_verify "$wl" 30 || t_fail "the resumed source fails its memory check"

t_pass "server killed at $at_kill/$lazy pages: lazy-pages exited 1, task $restored killed;" \
	"criu-release --resume: criu dump rolled back, source $pid verified"
