#!/usr/bin/env bash
# One `faultline page-server` (TLS, not --once) serves two post-copy restores of the same
# 256 MiB dump at the same time: two `criu lazy-pages --page-server` daemons in their own
# work dirs and two `criu restore --lazy-pages`, each in a new pid namespace. Both
# restored copies check every byte (memfill --result-unique: each writes its own
# result.<random> into the shared dir). The server must serve every lazy page to each
# client, end both sessions cleanly and exit 0 on SIGTERM. fs.pipe-max-size stays at its
# default.
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

t_init
t_require_criu "$CRIU"
[[ -e /dev/userfaultfd || -e /proc/sys/vm/unprivileged_userfaultfd ]] || t_skip "no userfaultfd"
t_pipe_max_default

wl=$T_OUT/wl img=$T_OUT/img pki=$T_OUT/pki mib=256
pid=$(t_start_workload "$wl" "$mib" --result-unique) || t_fail "workload did not start"
t_dump_gone "$pid" "$img"

"$FAULTLINE" pki init "$pki" >"$T_OUT/pki.log" 2>&1 || t_fail "faultline pki init failed"
tls=(--tls --tls-cacert "$pki/ca.pem" --tls-cert "$pki/client.pem" --tls-key "$pki/client.key")
t_fl_page_server "$T_OUT/ps.log" "$img" --pki "$pki" || t_fail "faultline page-server did not start"

lps=()
for i in 1 2; do
	t_lazy_pages "$T_OUT/dst$i" "$img" "$T_PS_PORT" "${tls[@]}" || t_fail "lazy-pages $i did not start"
	lps+=("$(cat "$T_OUT/dst$i/lp.pid")")
done

# Both restores at once.
t0=$(date +%s%N)
rpids=()
for i in 1 2; do
	t_restore_wd "$T_OUT/dst$i" "$img" --lazy-pages &
	rpids+=($!)
done
for i in 1 2; do
	# (t_restore_wd's t_track in the subshell appends to the shared pid list.)
	wait "${rpids[i - 1]}" || { t_criu_log "$T_OUT/ps.log"; t_fail "lazy restore $i failed"; }
done
[[ $(cat "$T_OUT/dst1/restored.pid") != "$(cat "$T_OUT/dst2/restored.pid")" ]] ||
	t_fail "both restores report the same task"
t_pipe_max_default
for i in 1 2; do
	t_wait_exit "${lps[i - 1]}" 60 ||
		{ t_criu_log "$T_OUT/dst$i/lp.log"; t_fail "lazy-pages $i did not finish"; }
done
t1=$(date +%s%N)
t_verify_n "$wl" 2 60 || t_fail "memory verification failed"

kill -TERM "$T_PS_PID"
rc=0
t_fl_ps_wait 10 || rc=$?
[[ $rc -eq 0 ]] || { t_criu_log "$T_OUT/ps.log"; t_fail "page-server exited with $rc after SIGTERM"; }

for i in 1 2; do
	sum=$(t_lp_summary "$T_OUT/dst$i/lp.log")
	[[ $sum == "$T_PS_LAZY $T_PS_LAZY" ]] ||
		{ t_criu_log "$T_OUT/dst$i/lp.log"; t_fail "lazy-pages $i transferred '$sum', want all $T_PS_LAZY"; }
done
n=$(grep -cE "session closed: [0-9]+ GETs, $T_PS_LAZY pages " "$T_OUT/ps.log" || true)
[[ $n -eq 2 ]] || { t_criu_log "$T_OUT/ps.log"; t_fail "$n of 2 sessions closed cleanly with all pages"; }
# Both sessions overlapped: the second connected before the first one ended.
awk '/connected/ {c++} /session closed/ {if (c < 2) bad = 1} END {exit bad || c != 2}' \
	"$T_OUT/ps.log" || { t_criu_log "$T_OUT/ps.log"; t_fail "the two sessions did not overlap"; }
grep -q "stopped: 2 sessions (0 failed), [0-9]* GETs, $((2 * T_PS_LAZY)) pages served" \
	"$T_OUT/ps.log" || { t_criu_log "$T_OUT/ps.log"; t_fail "server's exit summary is wrong"; }
! grep -q ' err ' "$T_OUT/ps.log" || { t_criu_log "$T_OUT/ps.log"; t_fail "server logged an error"; }
t_pass "two restores of $mib MiB at once, both verified; all pages in for both after" \
	"$(((t1 - t0) / 1000000)) ms"
