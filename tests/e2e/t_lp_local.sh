#!/usr/bin/env bash
# faultline lazy-pages in local mode (-D with no page server: pages from pages-N.img):
#   criu dump of a 256 MiB single-process workload; faultline lazy-pages -D IMG -W WD;
#   criu restore --lazy-pages -W WD; every byte verified.
# lazy-pages must exit 0, and its summary must account for every lazy page of the dump
# (faulted + prefetched == the lazy pages handed over >= 256 MiB).
# e2e-criu: 4.2
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$(dirname "$0")/lib_lp.sh"

wl=$T_OUT/wl img=$T_OUT/img wd=$T_OUT/dst mib=256
t_init
lp_require
t_pipe_max_default

pid=$(t_start_workload "$wl" "$mib") || t_fail "workload did not start"
t_dump_gone "$pid" "$img"

lp_start "$wd" "$img"
grep -q 'pages from local images' "$wd/lp.log" || t_fail "lazy-pages is not in local mode"
t0=$(date +%s%N)
t_restore_wd "$wd" "$img" --lazy-pages || { lp_log_tail "$wd"; t_fail "lazy restore failed"; }
t1=$(date +%s%N)
t_verify "$wl" 60 || { lp_log_tail "$wd"; t_fail "memory verification failed"; }
rc=0
lp_wait 60 || rc=$?
t2=$(date +%s%N)
((rc == 0)) || { lp_log_tail "$wd"; t_fail "faultline lazy-pages exited with $rc"; }
total=$(lp_total "$wd/lp.log")
((total >= mib * 256)) || t_fail "lazy-pages was handed only $total lazy pages"
read -r f p z < <(lp_check_summary "$wd" "$total")
t_pipe_max_default

t_pass "$mib MiB: restore $(((t1 - t0) / 1000000)) ms, verified + all in" \
	"$(((t2 - t0) / 1000000)) ms; $f faulted + $p prefetched = $total, $z zero-filled"
