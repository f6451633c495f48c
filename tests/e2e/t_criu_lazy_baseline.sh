#!/usr/bin/env bash
# Baseline: CRIU's own post-copy flow, with no faultline in it, over TCP and over TLS.
#   criu dump; criu page-server --lazy-pages; criu lazy-pages --page-server;
#   criu restore --lazy-pages; the 64 MiB workload then verifies every byte.
# CRIU's lazy page server needs fs.pipe-max-size = 4 MiB here (docs/criu-interop.md),
# so the test raises it and puts it back on exit.
# CRIU=.deps/bin/criu-4.1 runs it against CRIU 4.1.
# e2e-criu: 4.2 4.1
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# lazy_flow NAME [criu TLS args]: one dump + remote lazy restore + verification.
lazy_flow() {
	local name=$1 wl=$T_OUT/$1/wl img=$T_OUT/$1/img pid port lp t0 t1 t2
	shift
	pid=$(t_start_workload "$wl" 64) || t_fail "$name: workload did not start"
	t_dump "$pid" "$img" || t_fail "$name: dump failed"
	t_wait_exit "$pid" 10 || t_fail "$name: dumped task $pid still runs"

	port=$(t_free_port)
	t_daemon "$img/ps.pid" "$CRIU" page-server -D "$img" --lazy-pages --address 127.0.0.1 \
		--port "$port" --daemon --pidfile "$img/ps.pid" -o ps.log -v4 "$@" ||
		{ t_criu_log "$img/ps.log"; t_fail "$name: page-server did not start"; }
	t_daemon "$img/lp.pid" "$CRIU" lazy-pages -D "$img" --page-server --address 127.0.0.1 \
		--port "$port" --daemon --pidfile "$img/lp.pid" -o lp.log -v4 "$@" ||
		{ t_criu_log "$img/lp.log"; t_fail "$name: lazy-pages did not start"; }
	lp=$(cat "$img/lp.pid")

	t0=$(date +%s%N)
	t_restore "$img" --lazy-pages || t_fail "$name: lazy restore failed"
	t1=$(date +%s%N)
	t_verify "$wl" 60 || { t_criu_log "$img/lp.log"; t_fail "$name: memory verification failed"; }
	t_wait_exit "$lp" 60 || { t_criu_log "$img/lp.log"; t_fail "$name: lazy-pages did not finish"; }
	t2=$(date +%s%N)
	grep -q 'UFFD transferred pages' "$img/lp.log" || t_fail "$name: lazy-pages log lacks its summary"
	t_log "$name: restore $(((t1 - t0) / 1000000)) ms, verified + all pages in" \
		"$(((t2 - t0) / 1000000)) ms; $(grep -o 'UFFD transferred pages: ([0-9/]*)' "$img/lp.log")"
}

t_init
t_require_criu "$CRIU"
[[ -e /dev/userfaultfd || -e /proc/sys/vm/unprivileged_userfaultfd ]] || t_skip "no userfaultfd"
t_pipe_max_raise 4194304
t_make_pki "$T_OUT/pki" || t_fail "cannot make test certificates"

lazy_flow tcp
lazy_flow tls --tls --tls-cacert "$T_OUT/pki/cacert.pem" --tls-cert "$T_OUT/pki/cert.pem" \
	--tls-key "$T_OUT/pki/key.pem"
t_pass "CRIU $("$CRIU" --version | sed -n 's/Version: //p')"
