#!/usr/bin/env bash
# faultline lazy-pages + faultline page-server over TLS (`faultline pki init`, name
# verification on at both ends), 256 MiB single-process workload:
#   criu dump; faultline page-server --pki; faultline lazy-pages --page-server --pki
#   [--criu-version 4.1]; criu restore --lazy-pages; every byte verified.
# lazy-pages must use its two links (faults, background), exit 0, and its summary must
# account for every lazy page (faulted + prefetched == the lazy pages handed over ==
# what the server serves); the server must see both sessions end cleanly and stop
# cleanly on SIGTERM. Dump and restore use the same CRIU release.
# e2e-criu: 4.2 4.1
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$(dirname "$0")/lib_lp.sh"

wl=$T_OUT/wl img=$T_OUT/img wd=$T_OUT/dst pki=$T_OUT/pki mib=256
t_init
lp_require
t_pipe_max_default
ver=$(lp_criu_version)

pid=$(t_start_workload "$wl" "$mib") || t_fail "workload did not start"
t_dump_gone "$pid" "$img"

lp_pki "$pki"
t_fl_page_server "$T_OUT/ps.log" "$img" --pki "$pki" || t_fail "page-server did not start"
((T_PS_LAZY >= mib * 256)) || t_fail "server found only $T_PS_LAZY lazy pages"
lp_start "$wd" "$img" --page-server --address 127.0.0.1 --port "$T_PS_PORT" --pki "$pki" \
	--criu-version "$ver"

t0=$(date +%s%N)
t_restore_wd "$wd" "$img" --lazy-pages || { lp_log_tail "$wd"; t_fail "lazy restore failed"; }
t1=$(date +%s%N)
t_verify "$wl" 60 || { lp_log_tail "$wd"; t_fail "memory verification failed"; }
rc=0
lp_wait 60 || rc=$?
t2=$(date +%s%N)
((rc == 0)) || { lp_log_tail "$wd"; t_fail "faultline lazy-pages exited with $rc"; }
grep -q 'restore finished: background fetch starts' "$wd/lp.log" ||
	t_fail "lazy-pages never saw restore finish"
grep -q 'connected (TLS)' "$T_OUT/ps.log" || t_fail "session was not TLS"
read -r f p z < <(lp_check_summary "$wd" "$T_PS_LAZY")
grep -q 'background link connected' "$wd/lp.log" || t_fail "lazy-pages did not open its background link"
! grep -q 'background shares the fault link' "$wd/lp.log" || { lp_log_tail "$wd"; t_fail "background link failed"; }
kill -TERM "$T_PS_PID"
rc=0
t_fl_ps_wait 10 || rc=$?
((rc == 0)) || { t_criu_log "$T_OUT/ps.log"; t_fail "page-server exited with $rc after SIGTERM"; }
[[ $(grep -c 'session closed: ' "$T_OUT/ps.log") -eq 2 ]] ||
	{ t_criu_log "$T_OUT/ps.log"; t_fail "server did not see two cleanly closed sessions"; }
# Every lazy page once, plus the pages a fault asked for again while a background
# request carrying them was still in flight (lazy-pages' summary counts them).
dup=$(lp_dup "$wd")
grep -q "stopped: 2 sessions (0 failed), [0-9]* GETs, $((T_PS_LAZY + dup)) pages served" "$T_OUT/ps.log" ||
	{ t_criu_log "$T_OUT/ps.log"; t_fail "server's exit summary is wrong"; }
! grep -qE ' (err|error) ' "$T_OUT/ps.log" || { t_criu_log "$T_OUT/ps.log"; t_fail "server logged an error"; }
t_pipe_max_default

t_pass "CRIU $("$CRIU" --version | sed -n 's/Version: //p'), $mib MiB: restore" \
	"$(((t1 - t0) / 1000000)) ms, verified + all in $(((t2 - t0) / 1000000)) ms;" \
	"$f faulted + $p prefetched = $T_PS_LAZY, $z zero-filled"
