# shellcheck shell=bash
# The four migration modes of `faultline migrate` (bench/migrate.sh) and their steps.
# Every step records events (mig_ev) and facts (mig_fact) for bench/migrate_report.py.
# A mode returns 0 (migrated), 3 (failed and rolled back: the source runs) or 1.

# --- steps ----------------------------------------------------------------------------

# mig_freeze_lazy: freeze the source with `criu dump --lazy-pages`: it writes every
# image except the lazy memory and then holds the tasks frozen, serving nothing (we
# never send it a GET), until faultline criu-release ends its session.
mig_freeze_lazy() {
	local st=$M_W/log/dump.status tcp=()
	((M_TCP)) && tcp=(--tcp-established --network-lock nftables)
	: >"$st"
	M_CRIU_PORT=$(mig_port 1)
	if ((M_HOT)); then
		mig_say "hotness: tracking the write hot set for 2 s (faultline probe hotness --map)"
		"$FAULTLINE" probe hotness --pid "$M_PID" --tree --duration 2 \
			--map "$M_W/src/img/hotness.map" >"$M_W/log/hotness-map.out" 2>&1 ||
			mig_say "probe hotness failed, going on without a map: $(tail -2 "$M_W/log/hotness-map.out")"
	fi
	mig_ev freeze
	mig_bg src "$M_W/log/dump.out" "$CRIU" dump --lazy-pages --address 127.0.0.1 \
		--port "$M_CRIU_PORT" -t "$M_PID" -D "$M_W/src/img" -o dump.log -v4 "${tcp[@]}" \
		--status-fd 9 9>"$st"
	M_DUMP=$M_LAST
	# --status-fd: one byte once the images are written and the tasks held frozen.
	if ! mig_wait_for 120 eval "[[ -s $st ]] || ! mig_alive $M_DUMP" || ! mig_alive "$M_DUMP"; then
		mig_say "criu dump --lazy-pages failed: $(tail -3 "$M_W/src/img/dump.log")"
		return 1
	fi
	mig_ev dumped
	local kib
	kib=$(du -sk "$M_W/src/img" | cut -f1)
	mig_fact lazy_dump_images_kib "$kib"
	mig_say "frozen: criu dump --lazy-pages holds the source ($kib KiB of images)"
	# The lazy pages stay in the frozen tasks: images of more than a tenth of the memory
	# mean CRIU dumped pages it should have left lazy. Keep its log for a look.
	if ((kib > M_MEM_MIB * 1024 / 10 + 4096)); then
		mig_say "WARNING: the lazy dump wrote $kib KiB of images for $M_MEM_MIB MiB of memory"
		cp "$M_W/src/img/dump.log" "$M_W/log/lazy-dump-large.log" 2>/dev/null
		M_KEEP=1
	fi
}

# mig_release kill|resume: end the dump's session; CRIU then kills or resumes the source.
mig_release() {
	local rc=0
	mig_ns src "$FAULTLINE" criu-release --address 127.0.0.1 --port "$M_CRIU_PORT" --no-tls \
		"--$1" --pid "$M_PID" --timeout 30 >>"$M_W/log/release.log" 2>&1 || rc=$?
	# CRIU exits 0 after --kill, and 1 ("Dumping FAILED") after rolling back.
	if wait "$M_DUMP" 2>/dev/null; then [[ $1 == kill ]] || rc=1; else [[ $1 == resume ]] || rc=1; fi
	mig_ev "released_$1"
	((rc == 0)) || mig_say "criu-release --$1 failed: $(tail -2 "$M_W/log/release.log")"
	return $rc
}

# mig_images: tar the source's images across the link into the destination's copy.
mig_images() {
	local port addr
	port=$(mig_port 2)
	mig_link_mark images_start
	mig_ev images
	: >"$M_W/log/pipe-img.port"
	mig_bg src "$M_W/log/pipe-img-src.log" bash -c 'tar -C "$1" -cf - . |
		"$2" pipe --listen --address 10.213.0.1 --port "$3" "${@:4}"' _ "$M_W/src/img" \
		"$FAULTLINE" "$port" --stats "$M_W/log/pipe-img.json" --status-fd 9 "${M_TLSOPT[@]}" \
		9>"$M_W/log/pipe-img.port"
	local tx=$M_LAST
	# Connect once it listens (a refused connect is retried only every 100 ms).
	mig_wait_for 10 eval "[[ -s $M_W/log/pipe-img.port ]] || ! mig_alive $tx"
	addr=$(mig_link_addr "$port") || { mig_say "no relay for the images"; return 1; }
	mig_ns dst bash -c '"$1" pipe --connect --address "$2" --port "$3" "${@:5}" |
		tar -C "$4" -xf -' _ "$FAULTLINE" ${addr% *} ${addr#* } "$M_W/dst/img" \
		"${M_TLSOPT[@]}" 2>>"$M_W/log/pipe-img-dst.log" || {
		mig_say "copying the images failed: $(tail -2 "$M_W/log/pipe-img-dst.log")"
		return 1
	}
	wait "$tx" || { mig_say "sending the images failed: $(tail -2 "$M_W/log/pipe-img-src.log")"; return 1; }
	mig_link_mark images_end
	mig_ev images_done
}

# mig_restore [--lazy-pages]: restore on the destination (after moving the service address).
mig_restore() {
	local opts=(-d --pidfile "$M_W/dst/restored.pid" -o restore.log -v4)
	((M_TCP)) && opts+=(--tcp-established --network-lock nftables)
	# The restored sockets need the service address on the destination, but the
	# clients must keep reaching the frozen source (where CRIU's network lock drops
	# their packets) until those sockets exist: a packet reaching the destination
	# before would be answered with a reset. So: address first, route after restore.
	ip -n "$M_LAB-dst" addr replace 10.213.1.1/32 dev lo 2>>"$M_W/log/netlab.log" ||
		{ mig_say "cannot add the service address on the destination"; return 1; }
	mig_ev restore
	mig_ns dst "$CRIU" restore -D "$M_W/dst/img" -W "$M_W/dst/img" "${opts[@]}" "$@" \
		>>"$M_W/log/restore.out" 2>&1 || {
		mig_say "criu restore failed: $(tail -3 "$M_W/dst/img/restore.log")"
		"$MIG_ROOT/bench/netlab.sh" service "$M_LAB" src 2>>"$M_W/log/netlab.log"
		return 1
	}
	mig_ev resumed
	"$MIG_ROOT/bench/netlab.sh" service "$M_LAB" dst 2>>"$M_W/log/netlab.log" ||
		mig_say "cannot move the clients' route to the destination"
	M_RPID=$(cat "$M_W/dst/restored.pid")
	mig_say "resumed on the destination as pid $M_RPID"
}

# mig_ps_start: the page server on the source, reading the frozen tasks' memory. It
# starts while the images cross the link.
mig_ps_start() {
	M_PS_PORT=$(mig_port 3)
	mig_bg src "$M_W/log/page-server.log" "$FAULTLINE" page-server --pid "$M_PID" \
		-D "$M_W/src/img" --address 10.213.0.1 --port "$M_PS_PORT" "${M_TLSOPT[@]}"
	M_PS=$M_LAST
}

# mig_lazy_start: the fault handler on the destination, ready before restore.
mig_lazy_start() {
	local addr st=$M_W/log/lp.status
	mig_alive "$M_PS" || { mig_say "the page server failed: $(tail -2 "$M_W/log/page-server.log")"; return 1; }
	addr=$(mig_link_addr "$M_PS_PORT") || return 1
	: >"$st"
	local hot=()
	[[ -s $M_W/dst/img/hotness.map ]] && hot=(--hotness "$M_W/dst/img/hotness.map")
	mig_bg dst "$M_W/log/lazy-pages.log" "$FAULTLINE" lazy-pages -D "$M_W/dst/img" \
		--page-server --address "${addr% *}" --port "${addr#* }" "${M_TLSOPT[@]}" "${hot[@]}" \
		"${M_LP_EXTRA[@]}" \
		--pidfile "$M_W/dst/lazy-pages.pid" --reconnect-timeout 3600 --status-fd 9 -v 9>"$st"
	M_LP=$M_LAST
	mig_wait_for 30 eval "[[ -s $st ]] || ! mig_alive $M_LP" && mig_alive "$M_LP" ||
		{ mig_say "lazy-pages did not start: $(tail -2 "$M_W/log/lazy-pages.log")"; return 1; }
	if ((M_PROBE)); then
		# The harness's own probe: the wait for it to attach is left out of the freeze
		# (events probe/probe_attached; see migrate_report.py).
		mig_ev probe
		mig_bg dst "$M_W/log/probe.err" bash -c 'exec "$1" probe fault-latency \
			--lazy-pages-pidfile "$2" --json >"$3"' _ "$FAULTLINE" "$M_W/dst/lazy-pages.pid" \
			"$M_W/probe.jsonl"
		M_PROBE_PID=$M_LAST
		mig_wait_for 20 grep -q "attached:" "$M_W/log/probe.err" ||
			mig_say "the fault-latency probe did not attach: $(tail -2 "$M_W/log/probe.err")"
		mig_ev probe_attached
	fi
}

# mig_lazy_watch: wait for lazy-pages to end; 0 if it did, 1 if no page arrived for
# M_LINK_TIMEOUT seconds (the link is dead: lazy-pages itself would retry for an hour).
mig_lazy_watch() {
	local last="" cur since i=0
	since=$(mig_now)
	# Its end is noticed within 10 ms (it is part of the total time); progress is
	# read every half second.
	local st
	while read -r st 2>/dev/null <"/proc/$M_LP/stat" && [[ ! $st =~ \)\ [ZX]\  ]]; do
		sleep 0.01
		((++i % 50)) && continue
		cur=$(tail -c 4096 "$M_W/log/lazy-pages.log" | grep -o '[0-9]*/[0-9]* pages in' | tail -1)
		[[ $cur == "$last" ]] || { last=$cur; since=$(mig_now); }
		if (($(mig_now) - since > M_LINK_TIMEOUT * 1000)); then
			M_STALLED="no page arrived for $M_LINK_TIMEOUT s (at ${last:-0 pages in})"
			return 1
		fi
	done
}

# mig_lazy_finish: wait for every page to arrive; on failure roll back.
mig_lazy_finish() {
	local rc=0
	if [[ -n $M_FAIL_LINK ]]; then
		sleep "$(awk -v m="$M_FAIL_LINK" 'BEGIN { print m / 1000 }')"
		mig_say "taking the link down (--fail-link-after $M_FAIL_LINK)"
		mig_ev link_down
		ip -n "$M_LAB-src" link set nl-src down
	fi
	if ! mig_lazy_watch; then
		mig_ev stalled
		mig_rollback "the link is dead: $M_STALLED"
		return
	fi
	wait "$M_LP" || rc=$?
	mig_ev pages_in
	mig_link_mark postcopy_end
	[[ -n ${M_PROBE_PID:-} ]] && wait "$M_PROBE_PID" 2>/dev/null
	kill "$M_PS" 2>/dev/null
	if ((rc == 0)); then
		mig_say "every page is on the destination: releasing the source"
		mig_release kill || return 1
		return 0
	fi
	mig_rollback "faultline lazy-pages failed (exit $rc): $(grep -m1 -i 'error\|fatal' \
		"$M_W/log/lazy-pages.log")"
}

# mig_rollback WHY: take the service address away from the destination first (so its
# dying sockets cannot reset the clients' connections), stop lazy-pages, which kills
# the restored tasks, make sure they are gone, and resume the source.
mig_rollback() {
	mig_say "ROLLBACK: $1"
	mig_fact rollback_reason "$1"
	"$MIG_ROOT/bench/netlab.sh" service "$M_LAB" src 2>>"$M_W/log/netlab.log"
	if [[ -n ${M_LP:-} ]] && mig_alive "$M_LP"; then
		kill -TERM "$M_LP"
		wait "$M_LP" 2>/dev/null
	fi
	if [[ -n ${M_RPID:-} ]] && mig_alive "$M_RPID"; then
		kill -9 "$M_RPID" 2>/dev/null
		mig_wait_for 5 bash -c "! kill -0 $M_RPID 2>/dev/null"
	fi
	[[ -n ${M_PS:-} ]] && kill "$M_PS" 2>/dev/null
	ip -n "$M_LAB-src" link set nl-src up 2>/dev/null
	if mig_release resume && mig_alive "$M_PID"; then
		mig_ev rolled_back
		# Exactly one copy must run: the source, and nothing in the destination.
		mig_fact rollback_dst_tasks "$(ip netns pids "$M_LAB-dst" 2>/dev/null |
			xargs -r ps -o comm= -p | grep -cvx 'faultline\|relay')"
		mig_fact rollback_src_alive 1
		mig_say "the source runs again (pid $M_PID)"
		return 3
	fi
	mig_say "the source could not be resumed"
	return 1
}

# mig_precopy_start FINAL: pre-copy rounds over the link into the destination's store.
mig_precopy_start() {
	local port addr st=$M_W/precopy.status
	port=$(mig_port 4)
	: >"$st"
	mig_link_mark precopy_start
	mig_ev precopy
	mig_bg src "$M_W/log/precopy-send.log" bash -c '"$1" precopy send --pid "$2" \
		--max-rounds "$3" --stop-dirty "$4" --min-shrink "$5" --final "$6" --status-fd 9 \
		9>>"$7" | "$1" pipe --listen --address 10.213.0.1 --port "$8" "${@:9}"' _ \
		"$FAULTLINE" "$M_PID" "$M_ROUNDS" "$M_STOP_DIRTY" "$M_MIN_SHRINK" "$1" "$st" "$port" \
		--stats "$M_W/log/pipe-precopy.json" "${M_TLSOPT[@]}"
	M_PC_SEND=$M_LAST
	addr=$(mig_link_addr "$port") || return 1
	mig_bg dst "$M_W/log/precopy-recv.log" bash -c '"$1" pipe --connect --address "$2" \
		--port "$3" "${@:6}" | "$1" precopy recv -D "$4" --stats "$5"' _ "$FAULTLINE" \
		${addr% *} ${addr#* } "$M_W/dst/store" "$M_W/log/precopy-recv.json" "${M_TLSOPT[@]}"
	M_PC_RECV=$M_LAST
	# Status lines: one per round, then {"event":"rounds-done"}.
	mig_wait_for 3600 eval "grep -q rounds-done $st || ! mig_alive $M_PC_SEND" || true
	if ! grep -q rounds-done "$M_W/precopy.status"; then
		mig_say "pre-copy failed: $(tail -3 "$M_W/log/precopy-send.log")"
		return 1
	fi
	# The last round may still be on its way (pipe, TLS and socket buffers: megabytes);
	# let the link go idle before the freeze, so the frozen final pass waits for nothing.
	local prev=-1 cur n=0
	while ((n < 1500)); do
		cur=$(mig_link_bytes)
		((cur - prev < 20000)) && break
		prev=$cur n=$((n + 1))
		sleep 0.02
	done
	mig_ev precopy_rounds_done
	mig_say "pre-copy: $(grep -c '"round"' "$M_W/precopy.status") rounds sent"
}

# mig_precopy_final: the source is frozen: send the last dirty pages (or invalidate
# them) and wait for the destination's store to be complete.
mig_precopy_final() {
	local sender
	sender=$(pgrep -f -n "precopy send --pid $M_PID") ||
		{ mig_say "the pre-copy sender is gone"; return 1; }
	kill -USR1 "$sender"
	wait "$M_PC_SEND" || { mig_say "pre-copy final pass failed: $(tail -2 "$M_W/log/precopy-send.log")"; return 1; }
	wait "$M_PC_RECV" || { mig_say "pre-copy receiver failed: $(tail -2 "$M_W/log/precopy-recv.log")"; return 1; }
	mig_link_mark precopy_end
	mig_ev precopy_final_done
}

# mig_merge full|lazy: fold the store into the destination's images.
mig_merge() {
	"$FAULTLINE" precopy merge --store "$M_W/dst/store" -D "$M_W/dst/img" --mode "$1" \
		--stats "$M_W/log/merge.json" >>"$M_W/log/merge.log" 2>&1 ||
		{ mig_say "precopy merge failed: $(tail -3 "$M_W/log/merge.log")"; return 1; }
	mig_ev merged
}

# mig_fail_frozen WHY: a step failed while the source is frozen: resume it.
mig_fail_frozen() {
	mig_say "$1"
	[[ -n ${M_LP:-} ]] && kill "$M_LP" 2>/dev/null
	[[ -n ${M_PS:-} ]] && kill "$M_PS" 2>/dev/null
	mig_rollback "$1"
}

# --- modes ----------------------------------------------------------------------------

mig_mode_stop_and_copy() {
	local tcp=()
	((M_TCP)) && tcp=(--tcp-established --network-lock nftables)
	mig_ev freeze
	mig_ns src "$CRIU" dump -t "$M_PID" -D "$M_W/src/img" -o dump.log -v4 "${tcp[@]}" \
		>>"$M_W/log/dump.out" 2>&1 || {
		mig_say "criu dump failed: $(tail -3 "$M_W/src/img/dump.log")"
		return 1
	}
	mig_ev dumped
	mig_say "dumped: $(du -sh "$M_W/src/img" | cut -f1) of images"
	mig_images && mig_restore && return 0
	mig_rollback_local "the images did not reach the destination, or restore failed"
}

# mig_rollback_local WHY: stop-and-copy has no frozen source to resume (criu dump ended
# it), but the source still has the full images: restore them where they came from.
mig_rollback_local() {
	local tcp=()
	((M_TCP)) && tcp=(--tcp-established --network-lock nftables)
	mig_say "ROLLBACK: $1; restoring the source from its own images"
	mig_fact rollback_reason "$1"
	"$MIG_ROOT/bench/netlab.sh" service "$M_LAB" src 2>>"$M_W/log/netlab.log"
	if mig_ns src "$CRIU" restore -D "$M_W/src/img" -d --pidfile "$M_W/src/restored.pid" \
		-o restore-back.log "${tcp[@]}" >>"$M_W/log/restore-back.out" 2>&1; then
		M_PID=$(cat "$M_W/src/restored.pid")
		mig_ev rolled_back
		mig_say "the source runs again (pid $M_PID)"
		return 3
	fi
	mig_say "restoring the source failed too: $(tail -2 "$M_W/src/img/restore-back.log")"
	return 1
}

mig_mode_post_copy() {
	mig_freeze_lazy || return 1
	mig_ps_start
	mig_images || { mig_fail_frozen "the images did not arrive"; return; }
	mig_lazy_start || { mig_fail_frozen "the lazy transfer did not start"; return; }
	mig_link_mark postcopy_start
	mig_restore --lazy-pages || { mig_fail_frozen "restore failed"; return; }
	mig_lazy_finish
}

mig_mode_pre_copy() {
	mig_precopy_start data || return 1
	mig_freeze_lazy || return 1
	mig_precopy_final || { mig_fail_frozen "the final pre-copy pass failed"; return; }
	mig_images || { mig_fail_frozen "the images did not arrive"; return; }
	mig_merge full || { mig_fail_frozen "the pre-copied pages do not cover the dump"; return; }
	mig_restore || { mig_fail_frozen "restore failed"; return; }
	mig_release kill || return 1
}

mig_mode_hybrid() {
	mig_precopy_start invalidate || return 1
	mig_freeze_lazy || return 1
	mig_precopy_final || { mig_fail_frozen "the final pre-copy pass failed"; return; }
	mig_images || { mig_fail_frozen "the images did not arrive"; return; }
	mig_merge lazy || { mig_fail_frozen "merging the pre-copied pages failed"; return; }
	mig_ps_start
	mig_lazy_start || { mig_fail_frozen "the lazy transfer did not start"; return; }
	mig_link_mark postcopy_start
	mig_restore --lazy-pages || { mig_fail_frozen "restore failed"; return; }
	mig_lazy_finish
}

# mig_auto: measure, ask the policy, and set M_MODE and the pre-copy parameters.
mig_auto() {
	local bw json
	mig_say "auto: measuring the dirty rate and hot set for 2 s (faultline probe hotness)"
	"$FAULTLINE" probe hotness --pid "$M_PID" --tree --interval 200 --duration 2 --json \
		>"$M_W/hotness.json" 2>"$M_W/log/hotness.log" ||
		mig_die "faultline probe hotness failed: $(tail -3 "$M_W/log/hotness.log")"
	bw=${M_RATE:-10gbit}
	json=$(python3 "$MIG_ROOT/bench/migrate_report.py" --policy-args "$M_W/hotness.json" \
		--mem-mib "$M_MEM_MIB") || mig_die "cannot read the hotness measurement"
	# shellcheck disable=SC2086 # the policy's arguments
	"$FAULTLINE" policy $json --bandwidth "$bw" --latency $((200 + ${M_DELAY%.*} * 2000)) \
		--freeze-budget "$M_BUDGET" --json >"$M_W/policy.json" 2>"$M_W/log/policy.log" ||
		mig_die "faultline policy failed: $(tail -3 "$M_W/log/policy.log")"
	eval "$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); pc=p.get("precopy",{})
print("M_MODE=%s M_ROUNDS=%d M_STOP_DIRTY=%d M_MIN_SHRINK=%s" % (p["mode"], pc.get("max_rounds",5),
 pc.get("stop_dirty_pages",256), pc.get("min_shrink",1.5)))' "$M_W/policy.json")" ||
		mig_die "cannot read the policy's answer"
	mig_say "auto: the policy chose $M_MODE ($(python3 -c 'import json,sys
print(json.load(open(sys.argv[1])).get("reason",""))' "$M_W/policy.json"))"
}

mig_run_mode() {
	mig_fact mode "$M_MODE"
	mig_fact requested_mode "$M_REQ_MODE"
	mig_link_mark start
	mig_say "migrating pid $M_PID ($M_MEM_MIB MiB) by $M_MODE"
	case $M_MODE in
	stop-and-copy) mig_mode_stop_and_copy ;;
	pre-copy) mig_mode_pre_copy ;;
	post-copy) mig_mode_post_copy ;;
	hybrid) mig_mode_hybrid ;;
	esac
	local rc=$?
	mig_link_mark end
	mig_ev end
	return $rc
}
