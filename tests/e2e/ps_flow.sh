# shellcheck shell=bash
# The post-copy flow shared by t_ps_tls.sh and t_ps_plain.sh (source after lib.sh):
#   criu dump of a 256 MiB two-thread workload in its own pid namespace;
#   faultline page-server --once on the images; unmodified `criu lazy-pages
#   --page-server` + `criu restore --lazy-pages`; the restored workload checks every byte.
# fs.pipe-max-size must stay at its default throughout: faultline must not need it.

# ps_expect_proto: the protocol name faultline should detect for $CRIU.
ps_expect_proto() {
	case $("$CRIU" --version | sed -n 's/^Version: *//p') in
	4.1.*) echo "CRIU 4.1 page-server protocol" ;;
	*) echo "CRIU 4.2+ page-server protocol" ;;
	esac
}

# ps_flow tls|plain
ps_flow() {
	local mode=$1 wl=$T_OUT/wl img=$T_OUT/img wd=$T_OUT/dst pki=$T_OUT/pki mib=256
	local pid lp t0 t1 t2 rc=0 sum psargs=() lpargs=() want
	t_init
	t_require_criu "$CRIU"
	[[ -e /dev/userfaultfd || -e /proc/sys/vm/unprivileged_userfaultfd ]] || t_skip "no userfaultfd"
	t_pipe_max_default
	want=$(ps_expect_proto)

	pid=$(t_start_workload "$wl" "$mib" --threads 2) || t_fail "workload did not start"
	t_dump "$pid" "$img" || t_fail "dump failed"
	t_wait_exit "$pid" 10 || t_fail "dumped task $pid still runs"

	if [[ $mode == tls ]]; then
		# Name verification stays on at both ends: lazy-pages checks the server's
		# certificate against --address 127.0.0.1, and the server checks the client's
		# against its own --address; `pki init` puts 127.0.0.1 in both.
		"$FAULTLINE" pki init "$pki" >"$T_OUT/pki.log" 2>&1 ||
			{ cat "$T_OUT/pki.log" >&2; t_fail "faultline pki init failed"; }
		psargs=(--pki "$pki")
		lpargs=(--tls --tls-cacert "$pki/ca.pem" --tls-cert "$pki/client.pem"
			--tls-key "$pki/client.key")
	else
		psargs=(--no-tls)
	fi
	t_fl_page_server "$T_OUT/ps.log" "$img" --once "${psargs[@]}" ||
		t_fail "faultline page-server did not start"
	((T_PS_LAZY >= mib * 256)) || t_fail "server found only $T_PS_LAZY lazy pages"
	t_lazy_pages "$wd" "$img" "$T_PS_PORT" "${lpargs[@]}" || t_fail "lazy-pages did not start"
	lp=$(cat "$wd/lp.pid")

	t0=$(date +%s%N)
	t_restore_wd "$wd" "$img" --lazy-pages || { t_criu_log "$T_OUT/ps.log"; t_fail "lazy restore failed"; }
	t1=$(date +%s%N)
	t_pipe_max_default
	t_wait_exit "$lp" 60 || { t_criu_log "$wd/lp.log"; t_fail "lazy-pages did not finish"; }
	t2=$(date +%s%N)
	t_verify "$wl" 60 || { t_criu_log "$wd/lp.log"; t_fail "memory verification failed"; }
	t_fl_ps_wait 10 || rc=$?
	[[ $rc -eq 0 ]] || { t_criu_log "$T_OUT/ps.log"; t_fail "page-server --once exited with $rc"; }
	t_pipe_max_default

	# What the server says about the session.
	[[ $mode == tls ]] && { grep -q 'connected (TLS)' "$T_OUT/ps.log" || t_fail "session was not TLS"; }
	grep -q "client speaks the $want" "$T_OUT/ps.log" ||
		{ t_criu_log "$T_OUT/ps.log"; t_fail "server did not detect the $want"; }
	grep -qE "session closed: [0-9]+ GETs, $T_PS_LAZY pages " "$T_OUT/ps.log" ||
		{ t_criu_log "$T_OUT/ps.log"; t_fail "no clean session end with all $T_PS_LAZY lazy pages"; }
	grep -q "stopped: 1 sessions (0 failed), [0-9]* GETs, $T_PS_LAZY pages served" "$T_OUT/ps.log" ||
		{ t_criu_log "$T_OUT/ps.log"; t_fail "server's exit summary is wrong"; }
	! grep -q ' err ' "$T_OUT/ps.log" || { t_criu_log "$T_OUT/ps.log"; t_fail "server logged an error"; }
	# What lazy-pages says.
	sum=$(t_lp_summary "$wd/lp.log")
	[[ $sum == "$T_PS_LAZY $T_PS_LAZY" ]] ||
		{ t_criu_log "$wd/lp.log"; t_fail "lazy-pages transferred '$sum', want all $T_PS_LAZY"; }

	t_pass "$("$CRIU" --version | sed -n 's/Version: //p'), $mode, $mib MiB: restore" \
		"$(((t1 - t0) / 1000000)) ms, all $T_PS_LAZY pages in $(((t2 - t0) / 1000000)) ms;" \
		"$(sed -n 's/.*\(session closed: .*\)/\1/p' "$T_OUT/ps.log")"
}
