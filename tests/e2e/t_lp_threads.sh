#!/usr/bin/env bash
# faultline lazy-pages with a workload that changes its address space while its memory
# is still arriving: tests/workloads/mtwork (8 threads, 8 regions of 16 MiB, each
# thread keeps touching its own), faultline page-server over TLS.
# Right after restore the workload forks 4 children (each verifies a region in its own
# address space), mremaps a region to a new address, drops one with MADV_DONTNEED, then
# all threads verify their regions (the moved one at its new address, the dropped one
# must read zeros). The workload proves each event came while the transfer was still
# running (it counts the pages not yet resident, with mincore, just before each: all
# must be > 0); the lazy-pages log (-v) must show the FORK, REMAP and REMOVE events
# after the background fetch started, and lazy-pages must exit 0.
# The one dump is restored twice: with a slow background (--bg-pages 4 --bg-depth 1:
# the transfer lasts over a second), and with a busy one (--bg-pages 16 --bg-depth 8:
# many replies are being copied while the events come, which is what caught the
# event/copy races).
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$(dirname "$0")/lib_lp.sh"

wl=$T_OUT/wl img=$T_OUT/img pki=$T_OUT/pki mib=128 children=4 summary=()

# round NAME [lazy-pages args]: restore the dump once, lazily; check everything.
round() {
	local name=$1 wd=$T_OUT/$1 log res n ev nf f p z t0 t1 t2 rc=0 lfork lfin
	shift
	rm -f "$wl"/{go,result} "$wl"/child.*
	lp_start "$wd" "$img" --page-server --address 127.0.0.1 --port "$T_PS_PORT" \
		--pki "$pki" -v "$@"
	t0=$(date +%s%N)
	t_restore_wd "$wd" "$img" --lazy-pages || { lp_log_tail "$wd"; t_fail "$name: lazy restore failed"; }
	t_verify "$wl" 60 || { lp_log_tail "$wd"; t_fail "$name: verification failed"; }
	t1=$(date +%s%N)
	lp_wait 60 || rc=$?
	t2=$(date +%s%N)
	((rc == 0)) || { lp_log_tail "$wd"; t_fail "$name: faultline lazy-pages exited with $rc"; }
	t_wait_exit "$(cat "$wd/restored.pid")" 10 || t_fail "$name: restored workload still runs"

	# The workload's word: every byte right, each event while pages were missing.
	res=$(cat "$wl/result")
	for ev in fork remap dontneed; do
		n=$(sed -n "s/.* $ev=\([0-9]*\).*/\1/p" <<<"$res")
		[[ -n $n ]] || t_fail "$name: cannot parse '$ev=' in: $res"
		((n > 0)) || t_fail "$name: the $ev came after the transfer had ended: $res"
	done
	[[ $res == *" children=$children"* ]] || t_fail "$name: not all $children children verified: $res"

	# The daemon's word: it saw the events, after the background fetch had started.
	log=$wd/lp.log
	nf=$(grep -c 'fork: child .* starts with [0-9]* lazy pages' "$log" || true)
	((nf == children)) || { lp_log_tail "$wd"; t_fail "$name: lazy-pages logged $nf forks, want $children"; }
	grep -q 'remap 0x[0-9a-f]* -> 0x[0-9a-f]* (16777216 bytes)' "$log" ||
		{ lp_log_tail "$wd"; t_fail "$name: lazy-pages logged no remap of the 16 MiB region"; }
	grep -qE 'remove 0x[0-9a-f]+-0x[0-9a-f]+' "$log" ||
		{ lp_log_tail "$wd"; t_fail "$name: lazy-pages logged no remove (MADV_DONTNEED)"; }
	lfin=$(grep -n -m1 'restore finished: background fetch starts' "$log" | cut -d: -f1)
	lfork=$(grep -n -m1 'fork: child' "$log" | cut -d: -f1)
	((${lfin:-0} > 0 && lfork > lfin)) || t_fail "$name: the fork came before the background fetch"
	read -r f p z < <(lp_summary "$log")
	[[ -n ${p:-} ]] || t_fail "$name: lazy-pages logged no summary"
	((p > 0 && f > 0)) || t_fail "$name: want faulted and prefetched pages: $f faulted, $p prefetched"
	summary+=("$name: verified in $(((t1 - t0) / 1000000)) ms, all in $(((t2 - t0) / 1000000)) ms," \
		"${res#OK * }, $f faulted, $p prefetched;")
}

t_init
lp_require
[[ -x $MTWORK ]] || t_fail "$MTWORK missing: run make"

pid=$(lp_start_prog "$wl" mtwork 30 "$MTWORK" --size "$mib" --threads 8 \
	--children "$children" --dir "$wl" --max-wait 600) || t_fail "workload did not start"
threads=(/proc/"$pid"/task/*)
[[ ${#threads[@]} -eq 9 ]] || t_fail "workload runs ${#threads[@]} threads, not 9"
t_dump_gone "$pid" "$img"

lp_pki "$pki"
t_fl_page_server "$T_OUT/ps.log" "$img" --pki "$pki" || t_fail "page-server did not start"
round slow --bg-pages 4 --bg-depth 1
round busy --bg-pages 16 --bg-depth 8
kill -TERM "$T_PS_PID"
rc=0
t_fl_ps_wait 10 || rc=$?
((rc == 0)) || { t_criu_log "$T_OUT/ps.log"; t_fail "page-server exited with $rc after SIGTERM"; }

t_pass "$mib MiB, 8 threads, $children children: ${summary[*]}"
