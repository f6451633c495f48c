#!/usr/bin/env bash
# Post-copy served live from the frozen source: no memory is copied at the freeze.
#   64 MiB workload; criu dump --lazy-pages (CRIU's page server waits, default
#   fs.pipe-max-size, never asked for a page); faultline page-server --pid over TLS
#   reads the pages from the frozen task; faultline lazy-pages --page-server + criu
#   restore --lazy-pages; every byte of the restored copy verified; then
#   faultline criu-release --kill.
# lazy-pages must account for every lazy page and exit 0; criu-release must exit 0;
# the source task must be gone and criu dump must have exited 0 ("Lazy pages
# transfer finished successfully"); the page server stops cleanly on SIGTERM.
# e2e-criu: 4.2 4.1
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$(dirname "$0")/lib_lp.sh"

wl=$T_OUT/wl img=$T_OUT/img wd=$T_OUT/dst pki=$T_OUT/pki mib=64
t_init
lp_require
t_pipe_max_default
ver=$(lp_criu_version)

pid=$(t_start_workload "$wl" "$mib") || t_fail "workload did not start"
# criu dump --lazy-pages writes '\0' to --status-fd once the images are complete and
# its page server listens; the tasks then stay frozen until its session ends.
dport=$(t_free_port)
mkdir -p "$img"
t0=$(date +%s%N)
"$CRIU" dump -t "$pid" -D "$img" -o dump.log -v4 --lazy-pages --address 127.0.0.1 \
	--port "$dport" --status-fd 9 9>"$T_OUT/dump.status" &
dpid=$!
t_track "$dpid"
{ t_wait_for 30 eval "[[ -s $(printf %q "$T_OUT")/dump.status ]] || ! t_alive $dpid" &&
	t_alive "$dpid"; } || { t_criu_log "$img/dump.log"; t_fail "criu dump --lazy-pages did not get to listening"; }
t1=$(date +%s%N)
grep -q '^State:.*t (tracing stop)' "/proc/$pid/status" || t_fail "dumped task $pid is not frozen"
[[ $(stat -c %s "$img"/pages-*.img | awk '{s += $1} END {print s}') -lt $((mib * 1024 * 1024 / 8)) ]] ||
	t_fail "criu dump --lazy-pages wrote the lazy pages to the images"

lp_pki "$pki"
t_fl_page_server "$T_OUT/ps.log" "$img" --pid "$pid" --pki "$pki" ||
	t_fail "page-server --pid did not start"
grep -q "live source: .* frozen tree under pid $pid" "$T_OUT/ps.log" || t_fail "not a live source"
((T_PS_LAZY >= mib * 256)) || t_fail "server found only $T_PS_LAZY lazy pages"
lp_start "$wd" "$img" --page-server --address 127.0.0.1 --port "$T_PS_PORT" --pki "$pki" \
	--criu-version "$ver"
t_restore_wd "$wd" "$img" --lazy-pages || { lp_log_tail "$wd"; t_fail "lazy restore failed"; }
t_verify "$wl" 60 || { lp_log_tail "$wd"; t_fail "memory verification failed"; }
rc=0
lp_wait 60 || rc=$?
((rc == 0)) || { lp_log_tail "$wd"; t_fail "faultline lazy-pages exited with $rc"; }
read -r f p z < <(lp_check_summary "$wd" "$T_PS_LAZY")
grep -q 'connected (TLS)' "$T_OUT/ps.log" || t_fail "session was not TLS"

"$FAULTLINE" criu-release --address 127.0.0.1 --port "$dport" --no-tls --kill --pid "$pid" \
	--criu-version "$ver" 2>"$T_OUT/release.err" ||
	{ cat "$T_OUT/release.err" >&2; t_criu_log "$img/dump.log"; t_fail "criu-release --kill failed"; }
rc=0
t_wait_child "$dpid" 20 "criu dump" || rc=$?
((rc == 0)) || { t_criu_log "$img/dump.log"; t_fail "criu dump exited with $rc"; }
grep -q 'Lazy pages transfer finished successfully' "$img/dump.log" ||
	t_fail "criu dump did not finish its lazy transfer"
! t_alive "$pid" || t_fail "source task $pid still runs after --kill"
kill -TERM "$T_PS_PID"
rc=0
t_fl_ps_wait 10 || rc=$?
((rc == 0)) || { t_criu_log "$T_OUT/ps.log"; t_fail "page-server exited with $rc after SIGTERM"; }
dup=$(lp_dup "$wd") # pages asked for again by a fault, on top of every lazy page once
grep -q "stopped: [0-9]* sessions (0 failed), [0-9]* GETs, $((T_PS_LAZY + dup)) pages served" \
	"$T_OUT/ps.log" ||
	{ t_criu_log "$T_OUT/ps.log"; t_fail "server's exit summary is wrong"; }
t_pipe_max_default

t_pass "CRIU $("$CRIU" --version | sed -n 's/Version: //p'), $mib MiB: freeze to listening" \
	"$(((t1 - t0) / 1000000)) ms; $f faulted + $p prefetched = $T_PS_LAZY from the frozen task"
