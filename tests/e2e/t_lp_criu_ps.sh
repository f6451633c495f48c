#!/usr/bin/env bash
# faultline lazy-pages against CRIU's own page server, over TLS: the one embedded in
#   criu dump --lazy-pages --address 127.0.0.1 --port P --tls ...
# (the dump process keeps the tasks' lazy pages in its pipes and serves them until the
# session ends). 64 MiB single-process workload; faultline lazy-pages --page-server
# --tls-* [--criu-version 4.1]; criu restore --lazy-pages; every byte verified.
# CRIU's server takes exactly one connection, so lazy-pages must fall back to one link
# (its second connection is refused) and still bring in every lazy page; it must exit
# 0 and the dump must end with 0 after the session. Dump and restore use the same CRIU
# release. CRIU's lazy server needs fs.pipe-max-size raised to 4 MiB here
# (docs/criu-interop.md): raised for this test alone, put back on exit.
# e2e-criu: 4.2 4.1
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$(dirname "$0")/lib_lp.sh"

wl=$T_OUT/wl img=$T_OUT/img wd=$T_OUT/dst pki=$T_OUT/pki mib=64
t_init
lp_require
ver=$(lp_criu_version)
command -v ss >/dev/null || t_skip "ss (iproute2) missing"
t_make_pki "$pki" || t_fail "cannot make test certificates"
tls=(--tls --tls-cacert "$pki/cacert.pem" --tls-cert "$pki/cert.pem" --tls-key "$pki/key.pem")
t_pipe_max_raise 4194304

pid=$(t_start_workload "$wl" "$mib") || t_fail "workload did not start"
port=$(t_free_port)
mkdir -p "$img"
"$CRIU" dump -t "$pid" -D "$img" -o dump.log -v4 --lazy-pages --address 127.0.0.1 \
	--port "$port" "${tls[@]}" </dev/null >"$T_OUT/dump.out" 2>&1 &
dump=$!
t_track "$dump"
t_wait_for 60 eval "ss -Hltn 'sport = :$port' | grep -q . || ! t_alive $dump" ||
	t_fail "criu dump --lazy-pages did not listen within 60 s"
t_alive "$dump" || { t_criu_log "$img/dump.log"; t_fail "criu dump --lazy-pages failed"; }

lp_start "$wd" "$img" --page-server --address 127.0.0.1 --port "$port" "${tls[@]}" \
	--criu-version "$ver" -v
t0=$(date +%s%N)
t_restore_wd "$wd" "$img" --lazy-pages ||
	{ lp_log_tail "$wd"; t_criu_log "$img/dump.log"; t_fail "lazy restore failed"; }
t_verify "$wl" 60 || { lp_log_tail "$wd"; t_criu_log "$img/dump.log"; t_fail "memory verification failed"; }
rc=0
lp_wait 60 || rc=$?
t1=$(date +%s%N)
((rc == 0)) || { lp_log_tail "$wd"; t_criu_log "$img/dump.log"; t_fail "faultline lazy-pages exited with $rc"; }
rc=0
t_wait_exit "$dump" 20 || t_fail "criu dump still runs after the session ended"
wait "$dump" || rc=$?
((rc == 0)) || { t_criu_log "$img/dump.log"; t_fail "criu dump --lazy-pages exited with $rc"; }
# One link: the second connection must have been refused, not left hanging.
! grep -q 'background link connected' "$wd/lp.log" ||
	{ lp_log_tail "$wd"; t_fail "a second link to CRIU's one-connection server was accepted?"; }
lazy=$(lp_total "$wd/lp.log")
((lazy >= mib * 256)) || t_fail "lazy-pages was handed only $lazy lazy pages"
read -r f p z < <(lp_check_summary "$wd" "$lazy")

t_pass "CRIU $("$CRIU" --version | sed -n 's/Version: //p'), $mib MiB over CRIU's TLS page" \
	"server: verified + all in $(((t1 - t0) / 1000000)) ms; $f faulted + $p prefetched = $lazy"
