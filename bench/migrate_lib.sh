# shellcheck shell=bash
# The parts of `faultline migrate` (bench/migrate.sh) that every mode shares: settings,
# logging, the lab, the PKI, the workloads, the ping client, events and link counters.

mig_defaults() {
	FAULTLINE=${FAULTLINE:-$MIG_ROOT/build/faultline}
	CRIU=${CRIU:-$MIG_ROOT/.deps/bin/criu}
	WL_BIN=$MIG_ROOT/build/workloads
	BENCH_BIN=$MIG_ROOT/build/bench
	M_PID="" M_WORKLOAD="" M_MODE=post-copy M_LAB=fl-mig M_RATE="" M_DELAY=0 M_TCP=0
	M_CLIENT="" M_ROUNDS=5 M_STOP_DIRTY=256 M_MIN_SHRINK=1.5 M_BUDGET=500 M_W="" M_JSON=""
	M_LINK_TIMEOUT=10 M_TLS=1 M_HOT=0 M_PROBE=1 M_VERIFY=0 M_KEEP=0 M_VERBOSE=0 M_FAIL_LINK="" M_WL_KIND="" M_WL_DIR=""
	M_T0=$(date +%s%3N)
	M_BG=() M_LP_EXTRA=()
}

mig_now() { date +%s%3N; }
mig_say() { printf '[migrate %7.3fs] %s\n' "$(awk -v n="$(mig_now)" -v t="$M_T0" \
	'BEGIN { print (n - t) / 1000 }')" "$*" >&2; }
mig_dbg() { ((M_VERBOSE)) && mig_say "$@"; return 0; }
mig_usage_err() { echo "faultline migrate: $*" >&2; echo "(faultline migrate --help)" >&2; exit 2; }
mig_die() {
	echo "faultline migrate: $*" >&2
	[[ -n $M_W ]] && echo "  logs: $M_W" >&2
	mig_cleanup
	exit 1
}

# mig_ev NAME: record the time of an event (ms since the epoch) for the report.
mig_ev() { echo "$1 $(mig_now)" >>"$M_W/events"; mig_dbg "event $1"; }
# mig_fact KEY VALUE: a fact for the report.
mig_fact() { printf '%s\t%s\n' "$1" "$2" >>"$M_W/facts"; }

# mig_ns SIDE CMD...: run CMD in SIDE's network namespace. nsenter, not `ip netns exec`,
# which also makes a new mount namespace: CRIU refuses to dump a task whose mount
# namespace differs from its own ("unreachable sharing"), and restores into its own.
mig_ns() { local side=$1; shift; nsenter --net="/run/netns/$M_LAB-$side" "$@"; }

# mig_bg SIDE LOG CMD...: start CMD in SIDE's namespace in the background; sets M_LAST.
mig_bg() {
	local side=$1 log=$2
	shift 2
	mig_dbg "$side\$ $*"
	nsenter --net="/run/netns/$M_LAB-$side" "$@" </dev/null >>"$log" 2>&1 &
	M_LAST=$!
	M_BG+=("$M_LAST")
}

# mig_wait_for SECS CMD...: poll CMD every 10 ms until it succeeds; 1 on timeout.
mig_wait_for() {
	local end=$(($(mig_now) + $1 * 1000))
	shift
	until "$@"; do
		(($(mig_now) < end)) || return 1
		sleep 0.01
	done
}

mig_alive() { kill -0 "$1" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

mig_preflight() {
	[[ $(id -u) -eq 0 ]] || mig_die "needs root (CRIU, network namespaces, userfaultfd)"
	[[ -x $FAULTLINE ]] || mig_die "$FAULTLINE missing: run make"
	"$CRIU" --version >/dev/null 2>&1 || mig_die "$CRIU does not run: run make deps"
	if [[ -z $M_W ]]; then
		M_W=$(mktemp -d /tmp/faultline-migrate.XXXXXX) || mig_die "cannot make a work dir"
	fi
	mkdir -p "$M_W" && rm -rf "${M_W:?}"/{events,facts,src,dst,wl,log,stop,result.json,pinger.json,pinger.timeline,policy.json,hotness.json,precopy.status,probe.jsonl} &&
		mkdir -p "$M_W/src/img" "$M_W/dst/img" "$M_W/dst/store" "$M_W/log" ||
		mig_die "cannot prepare $M_W"
	trap 'mig_cleanup; exit 130' INT TERM
}

mig_setup() {
	local up=(up "$M_LAB" --client --delay "$M_DELAY")
	[[ -n $M_RATE ]] && up+=(--rate "$M_RATE")
	mig_say "lab $M_LAB: rate ${M_RATE:-unlimited}, delay $M_DELAY ms (work dir $M_W)"
	"$MIG_ROOT/bench/netlab.sh" "${up[@]}" 2>>"$M_W/log/netlab.log" ||
		mig_die "cannot bring up the lab: $(tail -3 "$M_W/log/netlab.log")"
	"$MIG_ROOT/bench/netlab.sh" service "$M_LAB" src 2>>"$M_W/log/netlab.log" ||
		mig_die "cannot place the service address on the source"
	M_TLSOPT=(--no-tls)
	if ((M_TLS)); then
		"$FAULTLINE" pki init "$M_W/pki" --ip 10.213.0.1 --ip 10.213.0.2 --force \
			>"$M_W/log/pki.log" 2>&1 || mig_die "faultline pki init: $(cat "$M_W/log/pki.log")"
		M_TLSOPT=(--pki "$M_W/pki")
	fi
	M_PORT_BASE=$((27100 + RANDOM % 2000))
	mig_fact rate "${M_RATE:-}"
	mig_fact delay_ms "$M_DELAY"
	mig_fact tls "$M_TLS"
	mig_fact criu "$("$CRIU" --version | sed -n 's/^Version: *//p')"
}

# mig_port N: the Nth port of this run (fixed per run, random per run).
mig_port() { echo $((M_PORT_BASE + $1)); }

# mig_link_addr PORT: where the destination connects to reach a source server on PORT:
# straight across the veth, or through a delaying relay when --delay is set.
mig_link_addr() {
	local out
	if [[ $M_DELAY == 0 ]]; then
		echo "10.213.0.1 $1"
		return
	fi
	out=$("$MIG_ROOT/bench/netlab.sh" relay "$M_LAB" "$1" --listen-port "$1" --side dst \
		2>>"$M_W/log/netlab.log") || return 1
	echo "${out%:*} ${out##*:}"
}

# mig_link_bytes: bytes sent plus received on the source's end of the link.
mig_link_bytes() {
	mig_ns src cat /proc/net/dev | awk '$1 == "nl-src:" { printf "%.0f\n", $2 + $10 }'
}

# mig_link_mark NAME: note the link's byte count at this point of the run.
mig_link_mark() { mig_fact "link_bytes_$1" "$(mig_link_bytes)"; }

# --- workloads ---------------------------------------------------------------------

# mig_spec_get SPEC KEY DEFAULT: a key=value of a workload spec "kind:k=v,k=v".
mig_spec_get() {
	local kv
	for kv in $(tr ',' ' ' <<<"${1#*:}"); do
		[[ ${kv%%=*} == "$2" ]] && { echo "${kv#*=}"; return; }
	done
	echo "$3"
}

# mig_child_of PID COMM: the first descendant of PID (depth <= 3) named COMM.
mig_child_of() {
	local p=$1 i c
	for i in 1 2 3; do
		c=$(pgrep -P "$p" | head -1)
		[[ -n $c ]] || return 1
		[[ $(cat "/proc/$c/comm" 2>/dev/null) == "$2"* ]] && { echo "$c"; return 0; }
		p=$c
	done
	return 1
}

mig_start_workload() {
	local spec=$M_WORKLOAD kind=${M_WORKLOAD%%:*} up
	M_WL_KIND=$kind M_WL_DIR=$M_W/wl
	mkdir -p "$M_WL_DIR"
	case $kind in
	synth) mig_start_synth "$spec" ;;
	redis | memcached) mig_start_kv "$kind" "$spec" ;;
	*) mig_usage_err "unknown workload '$kind' (synth, redis, memcached)" ;;
	esac
	M_VERIFY=1
	up=$M_PID
	mig_say "workload $spec: pid $up ($(mig_anon_mib "$up") MiB anonymous)"
}

mig_start_synth() {
	local spec=$1 size wss rate skew
	size=$(mig_spec_get "$spec" size 64) wss=$(mig_spec_get "$spec" wss 16)
	rate=$(mig_spec_get "$spec" rate 0) skew=$(mig_spec_get "$spec" skew uniform)
	[[ -x $WL_BIN/synth ]] || mig_die "$WL_BIN/synth missing: run make"
	mig_fact wl_name synth; mig_fact wl_mem_mib "$size"; mig_fact wl_wss_mib "$wss"
	mig_fact wl_dirty_rate "${rate}MB/s"; mig_fact wl_skew "$skew"
	[[ -n $M_CLIENT ]] || M_CLIENT=line:7000 M_TCP=1
	# The workload's stdio must not be shared with unshare, which writes to its stderr
	# when its child is dumped: CRIU would then refuse the file's size at restore.
	mig_bg src "$M_W/log/unshare.log" unshare -p -f setsid sh -c 'exec "$@" </dev/null \
		>/dev/null 2>>"$0"' "$M_WL_DIR/synth.err" "$WL_BIN/synth" --size "$size" \
		--wss "$wss" --write-rate "$rate" --skew "$skew" --dir "$M_WL_DIR" \
		--port "${M_CLIENT##*:}" --stats "$M_WL_DIR/stats"
	local up=$M_LAST
	mig_wait_for $((20 + size / 32)) test -e "$M_WL_DIR/ready" ||
		mig_die "synth not ready: $(tail -qn 3 "$M_WL_DIR/synth.err" "$M_W/log/unshare.log")"
	M_PID=$(mig_child_of "$up" synth) || mig_die "cannot find synth under $up"
}

mig_start_kv() {
	local kind=$1 spec=$2 mib port up proto
	mib=$(mig_spec_get "$spec" mib 64)
	[[ $kind == redis ]] && port=6379 || port=11211
	[[ -n $M_CLIENT ]] || M_CLIENT=$kind:$port M_TCP=1
	port=${M_CLIENT##*:}
	mig_fact wl_name "$kind"; mig_fact wl_mem_mib "$mib"; mig_fact wl_wss_mib "$mib"
	mig_fact wl_dirty_rate load; mig_fact wl_skew uniform
	if [[ $kind == redis ]]; then
		mig_bg src "$M_W/log/unshare.log" unshare -p -f setsid sh -c 'exec "$@" </dev/null \
			>/dev/null 2>&1' _ redis-server --port "$port" --save "" --appendonly no \
			--enable-debug-command yes --protected-mode no
	else
		mig_bg src "$M_W/log/unshare.log" unshare -p -f setsid sh -c 'exec "$@" </dev/null \
			>/dev/null 2>&1' _ memcached -u root -U 0 -p "$port" -m $((mib * 2 + 64)) -t 2
	fi
	up=$M_LAST
	mig_wait_for 20 mig_ns cli bash -c "exec 3<>/dev/tcp/10.213.1.1/$port" 2>/dev/null ||
		mig_die "$kind does not answer on 10.213.1.1:$port: $(tail -3 "$M_W/log/unshare.log")"
	M_PID=$(mig_child_of "$up" "${kind%-*}") || mig_die "cannot find $kind under $up"
	proto=$kind
	# About MIB of data: 1 KiB values, plus the server's per-key overhead.
	M_KV_ARGS=(--connect "10.213.1.1:$port" --proto "$proto" --keys $((mib * 800))
		--value-size 1024)
	mig_ns cli "$BENCH_BIN/loadgen" "${M_KV_ARGS[@]}" --fill >"$M_WL_DIR/fill.json" \
		2>"$M_WL_DIR/fill.err" || mig_die "loadgen --fill failed: $(tail -3 "$M_WL_DIR/fill.err")"
	mig_bg cli "$M_WL_DIR/loadgen.err" "$BENCH_BIN/loadgen" "${M_KV_ARGS[@]}" --conns 2 \
		--pipeline 8 --set-ratio 0.1 --stats "$M_WL_DIR/stats" --until-file "$M_W/stop"
	M_LOADGEN=$M_LAST
	if [[ $kind == redis ]]; then
		# redis under redis-benchmark as well (its own key space, key:<12 digits>;
		# loadgen's keys are key:<8 digits>, so --verify is unaffected). Its
		# connections move with the server too.
		mig_bg cli "$M_WL_DIR/redis-benchmark.log" redis-benchmark -h 10.213.1.1 -p "$port" \
			-c 2 -P 4 -t set,get -r 100000 -d 128 -n 2000000000 -q
		M_REDISBENCH=$M_LAST
	fi
}

mig_anon_mib() {
	local p kids sum=0 a
	for p in $1 $(pgrep -d ' ' -P "$1"); do
		a=$(awk '/^Anonymous:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null)
		sum=$((sum + ${a:-0}))
	done
	echo $((sum / 1024))
}

mig_check_pid() {
	[[ -d /proc/$M_PID ]] || mig_die "no process $M_PID"
	local ns want
	ns=$(readlink "/proc/$M_PID/ns/net") want=$(mig_ns src readlink /proc/self/ns/net)
	if ((M_TCP)) && [[ $ns != "$want" ]]; then
		mig_die "--tcp-established: process $M_PID is not in $M_LAB-src (start it with ip netns exec $M_LAB-src ...)"
	fi
	M_MEM_MIB=$(mig_anon_mib "$M_PID")
	mig_fact pid "$M_PID"
	mig_fact mem_mib "$M_MEM_MIB"
}

# --- the client that pings through the migration -------------------------------------

mig_client_start() {
	[[ -n $M_CLIENT ]] || return 0
	[[ -x $BENCH_BIN/pinger ]] || mig_die "$BENCH_BIN/pinger missing: run make"
	mig_bg cli "$M_W/log/pinger.err" "$BENCH_BIN/pinger" --connect "10.213.1.1:${M_CLIENT##*:}" \
		--proto "${M_CLIENT%%:*}" --interval-ms 10 --json "$M_W/pinger.json" \
		--timeline "$M_W/pinger.timeline" --until-file "$M_W/stop"
	M_PINGER=$M_LAST
	sleep 0.5
	mig_alive "$M_PINGER" || mig_die "the ping client failed: $(tail -3 "$M_W/log/pinger.err")"
}

mig_client_stop() {
	# One more second of pings and throughput after the migration, for the report.
	[[ -n ${M_PINGER:-}${M_LOADGEN:-} ]] && sleep 1
	touch "$M_W/stop"
	local p
	for p in ${M_PINGER:-} ${M_LOADGEN:-}; do
		mig_wait_for 5 bash -c "! kill -0 $p 2>/dev/null" || kill "$p" 2>/dev/null
	done
	[[ -n ${M_REDISBENCH:-} ]] && kill "$M_REDISBENCH" 2>/dev/null
	return 0
}

# --- the end -------------------------------------------------------------------------

mig_cleanup() {
	local p
	touch "$M_W/stop" 2>/dev/null
	for p in "${M_BG[@]}"; do kill "$p" 2>/dev/null; done
	# A workload this run started ends with it, wherever it runs now.
	if [[ -n $M_WL_KIND ]]; then
		for p in ${M_PID:-} ${M_RPID:-}; do
			[[ $p =~ ^[0-9]+$ ]] && kill -9 "$p" 2>/dev/null
		done
	fi
	"$MIG_ROOT/bench/netlab.sh" relay-stop "$M_LAB" 2>/dev/null
}

# mig_verify: check the migrated workload (or the rolled-back source).
mig_verify() {
	case $M_WL_KIND in
	synth)
		rm -f "$M_WL_DIR/result"
		touch "$M_WL_DIR/go"
		mig_wait_for 120 test -s "$M_WL_DIR/result" || { echo "no verdict from synth"; return 1; }
		cat "$M_WL_DIR/result"
		[[ $(cat "$M_WL_DIR/result") == OK* ]]
		;;
	redis | memcached)
		local out rc=0
		out=$(mig_ns cli "$BENCH_BIN/loadgen" "${M_KV_ARGS[@]}" --verify 2>&1) || rc=$?
		if ((rc == 0)); then
			echo "OK keys=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["gets"])' \
				"$(tail -1 <<<"$out")" 2>/dev/null) values equal"
		else
			echo "FAIL $(tail -2 <<<"$out" | tr '\n' ' ')"
		fi
		return $rc
		;;
	*) echo "not a known workload: skipped"; return 0 ;;
	esac
}

mig_finish() {
	local rc=$1 v
	mig_client_stop
	if ((M_VERIFY)) && ((rc == 0 || rc == 3)); then
		v=$(mig_verify)
		local vrc=$?
		mig_fact verify "$v"
		if ((vrc)); then
			mig_say "VERIFY FAILED: $v"
			rc=1
		else
			mig_say "verified: $v"
		fi
	fi
	mig_fact exit_status "$rc"
	python3 "$MIG_ROOT/bench/migrate_report.py" "$M_W" ${M_JSON:+--json "$M_JSON"} ||
		{ echo "faultline migrate: the report failed" >&2; rc=1; }
	mig_cleanup
	if ((rc == 0 && !M_KEEP)); then rm -rf "$M_W/src/img"/pages-* "$M_W/dst/store"; fi
	exit "$rc"
}
