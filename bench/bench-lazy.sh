#!/usr/bin/env bash
# make bench-lazy: CRIU's own `criu lazy-pages` against `faultline lazy-pages`, side by
# side, in one run, on the same images, both pulling from `faultline page-server`.
#
# Two workloads are dumped once each with `criu dump` (own pid namespace):
#   - throughput: a MIB (default 1024) MiB memfill. Per run: time from the start of
#     `criu restore --lazy-pages` until the lazy-pages daemon exits, which both do once
#     every lazy page is in (CRIU's log must say "UFFD transferred pages: (N/N)";
#     faultline's summary must account for every page, and its own "all pages in"
#     time is kept as a cross-check). Then memfill checks every byte; a wrong run fails
#     the benchmark.
#   - latency: a LAT_MIB (default 512) MiB randtouch (tests/workloads/randtouch.c).
#     DIR/go is created after the dump, before the restore, so the restored process
#     starts touching TOUCHES random distinct pages at once (within ~1 ms of resuming),
#     timing each first touch, then checks every byte. Fault latency p50/p99 come
#     from its DIR/lat.txt (touches of pages that were already resident are left out;
#     "during background" = touches that ended before the daemon exited). Three
#     daemons: faultline with --bg-depth 0 (nothing else running: no background
#     fetch, the daemon ends once the workload's final check has faulted in every
#     page), faultline with default settings and CRIU (background fetch running;
#     CRIU always prefetches after restore, so it has no "idle" number).
# REPS runs per configuration, alternating/rotating which daemon goes first; medians of
# runs for times, pooled touches of all runs for latency percentiles.
#
# Pinning (taskset):  split = page server on CPU 0; lazy-pages daemon, restore and the
#                             restored task on CPU 1 (the restored task inherits it);
#                     same  = all of them on CPU 1;   none = no pinning.
# The affinity of every restored task, daemon and server is checked (taskset -p).
#
# usage: bench/bench-lazy.sh [--reps N] [--mib N] [--lat-mib N] [--touches N]
#                            [--pin LIST] [--lat-pin LIST] [--transport LIST]
#                            [--only throughput|latency] [--quiet-wait SECS]
#                            [--other-max MS] [--out FILE | --no-out] [--keep]
#                            [--daemons LIST] [--fl-args ARGS]
#   --reps N          runs per daemon and configuration (default 3)
#   --mib N           throughput workload size (default 1024)
#   --lat-mib N       latency workload size (default 512)
#   --touches N       random pages the latency workload touches (default 1000)
#   --pin LIST        throughput pinnings: split,same,none (default split,none)
#   --lat-pin LIST    latency pinnings (default same)
#   --transport LIST  tcp,tls (default both)
#   --only PART       run only the throughput or only the latency part
#   --quiet-wait SECS first wait up to SECS for a quiet machine (CPU < 10% busy over
#                     5 s and no other criu running); the report says how quiet it was
#   --other-max MS    a run during which other processes used more than MS ms of CPU
#                     (bench/othercpu.py) is run again, up to 3 attempts (default 100);
#                     each run also first waits (up to 30 s) for < 15% CPU busy
#   --out FILE        markdown report (default docs/results/lazy.md); --no-out: none
#   --keep            keep the work dir (images, logs, lat.txt files)
#   --daemons LIST    only these: criu,faultline,faultline-nobg (default all; for
#                     experiments: the report then lacks the comparisons)
#   --fl-args ARGS    extra arguments for every `faultline lazy-pages` (one string, split
#                     at spaces; e.g. "--bg-depth 2 --bg-pages 64"); the report shows them
# Environment: CRIU (default .deps/bin/criu), BENCH_DIR (work dir; default a new
# /tmp/faultline-bench-lazy.XXXXXX, removed on success unless --keep). Needs root.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPS=3 MIB=1024 LAT_MIB=512 TOUCHES=1000 PINS=split,none LAT_PINS=same TRANSPORTS=tcp,tls
DAEMONS=criu,faultline,faultline-nobg FL_ARGS='' ONLY='' QUIET_WAIT=0 KEEP='' OUT=$ROOT/docs/results/lazy.md LAT_CPU=1 OTHER_MAX=100
ARGS=("$@")
while [[ $# -gt 0 ]]; do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	--mib) MIB=$2; shift 2 ;;
	--lat-mib) LAT_MIB=$2; shift 2 ;;
	--touches) TOUCHES=$2; shift 2 ;;
	--pin) PINS=$2; shift 2 ;;
	--lat-pin) LAT_PINS=$2; shift 2 ;;
	--transport) TRANSPORTS=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--quiet-wait) QUIET_WAIT=$2; shift 2 ;;
	--other-max) OTHER_MAX=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--no-out) OUT=; shift ;;
	--keep) KEEP=1; shift ;;
	--daemons) DAEMONS=$2; shift 2 ;;
	--fl-args) FL_ARGS=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-lazy: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
for v in "$REPS" "$MIB" "$LAT_MIB" "$TOUCHES"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench-lazy: bad number '$v'" >&2; exit 2; }
done
[[ $QUIET_WAIT =~ ^[0-9]+$ && $OTHER_MAX =~ ^[0-9]+$ ]] ||
	{ echo "bench-lazy: bad --quiet-wait/--other-max" >&2; exit 2; }
[[ -z $ONLY || $ONLY == throughput || $ONLY == latency ]] || { echo "bad --only" >&2; exit 2; }

T_NAME=bench-lazy
T_OUT=${BENCH_DIR:-$(mktemp -d /tmp/faultline-bench-lazy.XXXXXX)}
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$ROOT/tests/e2e/lib_lp.sh"
RANDTOUCH=${RANDTOUCH:-$ROOT/build/workloads/randtouch}

die() { printf 'bench-lazy: FAILED: %s\n  work dir kept: %s\n' "$*" "$T_OUT" >&2; exit 1; }
say() { printf '[bench] %s\n' "$*" >&2; }
now() { date +%s%N; }

[[ $(id -u) -eq 0 ]] || die "needs root"
[[ -x $FAULTLINE && -x $MEMFILL && -x $RANDTOUCH ]] || die "build first: make"
"$CRIU" --version >/dev/null 2>&1 || die "$CRIU does not run (make deps)"
command -v python3 >/dev/null || die "python3 missing"
command -v taskset >/dev/null || die "taskset missing"

# busy_pct SECS: percent of all CPU time not idle/iowait over SECS seconds.
busy_pct() {
	local a b
	a=$(head -1 /proc/stat)
	sleep "$1"
	b=$(head -1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {
		n = split(a, x, " "); split(b, y, " ")
		for (i = 2; i <= n; i++) { d = y[i] - x[i]; t += d; if (i == 5 || i == 6) idle += d }
		printf "%.0f", t ? 100 * (t - idle) / t : 0 }'
}

# others: other people's CRIU, workloads and faultline processes, one line each.
others() {
	ps -eo pid=,stat=,etime=,args= | awk -v me=$$ '$1 != me && $4 !~ /awk/ &&
		($4 ~ /(criu|memfill|randtouch|mtwork|faultline)$/ || $0 ~ /e2e\/(run|t_)[a-z_]*\.sh/) {
		a = $4; for (i = 5; i <= NF && i < 9; i++) a = a " " $i; print $1, $2, $3, a }'
}

# quiet_check: sets QUIET (a line for the report); waits up to QUIET_WAIT s for quiet.
quiet_check() {
	local deadline=$((SECONDS + QUIET_WAIT)) busy crius waited=0
	while :; do
		busy=$(busy_pct 5)
		crius=$(others | awk '$4 ~ /criu$/' | wc -l)
		((busy < 10 && crius == 0)) && break
		((SECONDS + 30 <= deadline)) || break
		say "machine busy (${busy}% CPU, $crius criu processes); waiting"
		sleep 25
		waited=1
	done
	QUIET="CPU ${busy}% busy over 5 s before the start, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	QUIET+="; $(others | wc -l) other CRIU/workload/faultline processes ($(others | awk '{print $2}' |
		sort | uniq -c | awk '{printf "%s%d in state %s", (NR > 1 ? ", " : ""), $1, $2}'))"
	((waited)) && QUIET+="; waited $((SECONDS - deadline + QUIET_WAIT)) s for quiet"
	return 0
}

quiet_check
say "$QUIET"
t_init
T_KEEP=$KEEP
CRIU_VER=$("$CRIU" --version | sed -n 's/^Version: *//p')
# Others may rebuild build/ while this runs: measure copies taken now.
FL_DESC=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
make -C "$ROOT" -q "${FAULTLINE#"$ROOT"/}" 2>/dev/null || FL_DESC+=", build/faultline older than the tree"
mkdir -p "$T_OUT/bin"
cp "$FAULTLINE" "$MEMFILL" "$RANDTOUCH" "$T_OUT/bin/" || die "cannot copy the binaries"
FAULTLINE=$T_OUT/bin/faultline MEMFILL=$T_OUT/bin/memfill RANDTOUCH=$T_OUT/bin/randtouch
FL_DESC+=", sha256 $(sha256sum "$FAULTLINE" | cut -c1-12)"
img=$T_OUT/img wl=$T_OUT/wl limg=$T_OUT/limg lw=$T_OUT/lw pki=$T_OUT/pki res=$T_OUT/results.tsv
"$FAULTLINE" pki init "$pki" >"$T_OUT/pki.log" 2>&1 || die "faultline pki init failed"

# lazy_count IMG: the lazy pages faultline's page server finds in IMG.
lazy_count() {
	t_fl_page_server "$T_OUT/probe.log" "$1" --no-tls >/dev/null || die "faultline page-server rejects $1"
	kill -TERM "$T_PS_PID"
	t_fl_ps_wait 10 >/dev/null || die "faultline page-server did not stop"
	echo "$T_PS_LAZY"
}

if [[ $ONLY != latency ]]; then
	pid=$(t_start_workload "$wl" "$MIB") || die "memfill did not start"
	t_dump "$pid" "$img" || die "criu dump of memfill failed"
	t_wait_exit "$pid" 10 || die "dumped memfill still runs"
	TP_LAZY=$(lazy_count "$img") && [[ -n $TP_LAZY ]] || die "cannot count lazy pages"
	say "memfill: $MIB MiB dumped, $TP_LAZY lazy pages"
fi
if [[ $ONLY != throughput ]]; then
	pid=$(lp_start_prog "$lw" randtouch $((30 + LAT_MIB / 16)) "$RANDTOUCH" --size "$LAT_MIB" \
		--dir "$lw" --touches "$TOUCHES") || die "randtouch did not start"
	t_dump "$pid" "$limg" || die "criu dump of randtouch failed"
	t_wait_exit "$pid" 10 || die "dumped randtouch still runs"
	touch "$lw/go" # the restored copies find it at once
	LAT_LAZY=$(lazy_count "$limg") && [[ -n $LAT_LAZY ]] || die "cannot count lazy pages"
	say "randtouch: $LAT_MIB MiB dumped, $LAT_LAZY lazy pages, $TOUCHES touches per run"
fi

# pin_cmd ROLE: the taskset prefix for ROLE (server|client) under pinning $PIN.
pin_cmd() {
	case $PIN:$1 in
	split:server) echo "taskset -c 0" ;;
	split:client) echo "taskset -c 1" ;;
	same:*) echo "taskset -c $LAT_CPU" ;;
	*) echo "" ;;
	esac
}

# cpus PID: the CPU affinity list of PID, or "?".
cpus() { taskset -cp "$1" 2>/dev/null | sed -n 's/.*list: *//p' | grep . || echo "?"; }

wait_status() { [[ $(timeout 30 head -c1 "$1" 2>/dev/null | wc -c) -eq 1 ]]; }

# quiet_gate: before a run, wait (up to 30 s) until the machine is under 15% busy.
quiet_gate() {
	local deadline=$((SECONDS + 30))
	while (($(busy_pct 1) >= 15 && SECONDS < deadline)); do :; done
}

# run_one PART DAEMON TRANSPORT PIN REP ATTEMPT: one restore; appends a line to $res.
#   PART: tp (memfill) or lat (randtouch); DAEMON: criu, faultline or faultline-nobg.
#   Returns 1 (nothing appended) when other processes used more than OTHER_MAX ms of
#   CPU during the run and ATTEMPT < 3: the caller runs it again.
run_one() {
	local part=$1 dmn=$2 tr=$3 rep=$5 att=$6 run ps lp lpc psc port t0 t1 t2 rc=0 wd_pid rpid
	local idir wdir u s lu ls sum f p z fl_allin fl_p50 fl_p99 fl_n cpu_w cpu_l cpu_s pages other
	local -a spin cpin ps_tls lp_tls cmd extra
	PIN=$4
	run=$T_OUT/run/$part-$tr-$PIN-$dmn-$rep
	((att == 1)) || mv "$run" "$run.interfered-$((att - 1))"
	quiet_gate
	mkdir -p "$run"
	mkfifo "$run/ps.status" "$run/lp.status"
	python3 "$ROOT/bench/othercpu.py" snap "$run/other.snap" $$
	read -ra spin <<<"$(pin_cmd server)"
	read -ra cpin <<<"$(pin_cmd client)"
	if [[ $part == tp ]]; then idir=$img wdir=$wl pages=$TP_LAZY; else idir=$limg wdir=$lw pages=$LAT_LAZY; fi
	rm -f "$wdir/result" "$wdir/lat.txt"
	[[ $part == tp ]] && rm -f "$wdir/go"
	if [[ $tr == tls ]]; then
		ps_tls=(--pki "$pki")
		lp_tls=(--pki "$pki")
		[[ $dmn == criu ]] && lp_tls=(--tls --tls-cacert "$pki/ca.pem" --tls-cert "$pki/client.pem"
			--tls-key "$pki/client.key")
	else
		ps_tls=(--no-tls)
		lp_tls=(--no-tls)
		[[ $dmn == criu ]] && lp_tls=()
	fi
	port=$(t_free_port)
	"${spin[@]}" python3 "$ROOT/bench/rtime.py" "$run/ps.time" "$FAULTLINE" page-server -D "$idir" \
		--address 127.0.0.1 --port "$port" "${ps_tls[@]}" -o "$run/ps.log" --status-fd 3 \
		3>"$run/ps.status" </dev/null >"$run/ps.out" 2>&1 &
	ps=$!
	t_track "$ps"
	wait_status "$run/ps.status" || die "page server did not start ($run)"
	psc=$(pgrep -P "$ps")
	t_track "$psc"
	if [[ $dmn == criu ]]; then
		# -v4: "UFFD transferred pages" is a debug line. Latency runs keep CRIU's
		# default level, so no debug line per fault adds to its fault latency.
		cmd=("$CRIU" lazy-pages --page-server --address 127.0.0.1 --port "$port" -D "$idir"
			-W "$run" -o lp.log "${lp_tls[@]}")
		[[ $part == tp ]] && cmd+=(-v4)
	else
		cmd=("$FAULTLINE" lazy-pages -D "$idir" -W "$run" --page-server --address 127.0.0.1
			--port "$port" "${lp_tls[@]}" -o "$run/lp.log")
		read -ra extra <<<"$FL_ARGS"
		cmd+=("${extra[@]}")
		[[ $dmn == faultline-nobg ]] && cmd+=(--bg-depth 0)
	fi
	"${cpin[@]}" python3 "$ROOT/bench/rtime.py" "$run/lp.time" "${cmd[@]}" --status-fd 3 \
		3>"$run/lp.status" </dev/null >"$run/lp.out" 2>&1 &
	lp=$!
	t_track "$lp"
	wait_status "$run/lp.status" || die "$dmn lazy-pages did not start ($run)"
	lpc=$(pgrep -P "$lp")
	t_track "$lpc"
	# Watchdog: a hung run is killed after 180 s (its sleep dies with it).
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep 180 &
		s=$!
		wait "$s" && kill -KILL "$lpc" "$psc" 2>/dev/null
	) &
	wd_pid=$!
	t_track "$wd_pid" # if the benchmark dies, its watchdog must not fire later

	t0=$(now)
	"${cpin[@]}" timeout 60 "$CRIU" restore --lazy-pages -D "$idir" -W "$run" -d \
		--pidfile restored.pid -o restore.log -v4 </dev/null >"$run/restore.out" 2>&1 ||
		die "criu restore failed ($run/restore.log)"
	t1=$(now)
	rpid=$(cat "$run/restored.pid")
	t_track "$rpid"
	cpu_w=$(cpus "$rpid") cpu_l=$(cpus "$lpc") cpu_s=$(cpus "$psc")
	wait "$lp" || rc=$?
	other=$(python3 "$ROOT/bench/othercpu.py" diff "$run/other.snap" $$ "$rpid")
	read -r _ lu ls _ t2 <"$run/lp.time" || die "no timing from lazy-pages ($run)"
	((rc == 0)) || die "$dmn lazy-pages exited with $rc ($run/lp.log)"
	kill -TERM "$psc" 2>/dev/null || true
	rc=0
	wait "$ps" || rc=$?
	kill "$wd_pid" 2>/dev/null || true
	wait "$wd_pid" 2>/dev/null || true
	((rc == 0)) || die "page server exited with $rc ($run/ps.log)"

	fl_allin=- fl_p50=- fl_p99=- fl_n=-
	if [[ $dmn == criu && $part == lat ]]; then
		: # default log level: no summary line; the workload checks every byte
	elif [[ $dmn == criu ]]; then
		sum=$(t_lp_summary "$run/lp.log")
		[[ -n $sum && ${sum% *} -eq ${sum#* } && ${sum#* } -eq $pages ]] ||
			die "criu lazy-pages did not transfer all $pages pages: '$sum' ($run/lp.log)"
	else
		read -r f p z <<<"$(lp_summary "$run/lp.log")"
		[[ -n $f ]] || die "faultline lazy-pages logged no summary ($run/lp.log)"
		# Pages never touched outside the data mapping may leave with their task.
		[[ $part == lat ]] || ((f + p == pages)) ||
			die "faultline summary: $f faulted + $p prefetched != $pages ($run/lp.log)"
		read -r fl_allin fl_p50 fl_p99 fl_n < <(sed -n 's/.*all pages in \([0-9.]*\) s after.*p50 \([0-9.]*\) us, p99 \([0-9.]*\) us (\([0-9]*\) faults).*/\1 \2 \3 \4/p' \
			"$run/lp.log" | tail -1)
	fi
	if [[ $part == tp ]]; then
		t_verify "$wdir" 120 || die "restored memfill memory is wrong after $dmn/$tr/$PIN run $rep"
	else
		t_wait_for 120 test -s "$wdir/result" || die "randtouch gave no result ($run)"
		[[ $(cat "$wdir/result") == OK* ]] || die "randtouch says: $(cat "$wdir/result") ($run)"
		cp "$wdir/lat.txt" "$wdir/result" "$run/"
	fi
	t_wait_exit "$rpid" 10 || true
	rm -f "$run/ps.status" "$run/lp.status"
	if ((other > OTHER_MAX && att < 3)); then
		say "$part $tr $PIN $dmn run $rep: other processes used $other ms of CPU meanwhile; again"
		return 1
	fi
	read -r _ u s _ <"$run/ps.time"
	printf '%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$part" "$tr" "$PIN" "$dmn" "$rep" $(((t2 - t0) / 1000000)) $(((t1 - t0) / 1000000)) \
		"$(echo "($lu + $ls) * 1000" | bc -l)" "$(echo "($u + $s) * 1000" | bc -l)" "$pages" \
		"$fl_allin" "$fl_p50" "$fl_p99" "$fl_n" "$t0" "$t2" "$run" "$cpu_w/$cpu_l/$cpu_s" "$other" \
		"$att" >>"$res"
	say "$(printf '%-3s %-3s %-5s %-14s run %d: daemon exit %5d ms after restore began (restore %3d ms)%s; cpus task/daemon/server %s; other CPU %d ms; verified' \
		"$part" "$tr" "$PIN" "$dmn" "$rep" $(((t2 - t0) / 1000000)) $(((t1 - t0) / 1000000)) \
		"$([[ $fl_p50 != - ]] && echo ", faultline summary: all in $fl_allin s, p50 $fl_p50 us p99 $fl_p99 us")" \
		"$cpu_w/$cpu_l/$cpu_s" "$other")"
}

# run_rep ARGS...: run_one ARGS, again (up to 3 attempts) while others interfere.
run_rep() {
	local a
	for a in 1 2 3; do run_one "$@" "$a" && return 0; done
}

command -v bc >/dev/null || die "bc missing"
want() { [[ ,$DAEMONS, == *",$1,"* ]]; }
printf 'part\ttransport\tpin\tdaemon\trep\tdone_ms\trestore_ms\tlp_cpu_ms\tps_cpu_ms\tpages\tfl_allin_s\tfl_p50_us\tfl_p99_us\tfl_faults\tt0_ns\tend_ns\trun\tcpus\tother_ms\tattempt\n' >"$res"
IFS=, read -ra transports <<<"$TRANSPORTS"
if [[ $ONLY != latency ]]; then
	IFS=, read -ra pins <<<"$PINS"
	for tr in "${transports[@]}"; do
		for pin in "${pins[@]}"; do
			for ((rep = 1; rep <= REPS; rep++)); do
				if ((rep % 2)); then order=(criu faultline); else order=(faultline criu); fi
				for d in "${order[@]}"; do
					want "$d" && run_rep tp "$d" "$tr" "$pin" "$rep"
				done
			done
		done
	done
fi
if [[ $ONLY != throughput ]]; then
	IFS=, read -ra pins <<<"$LAT_PINS"
	daemons=(criu faultline faultline-nobg)
	for tr in "${transports[@]}"; do
		for pin in "${pins[@]}"; do
			for ((rep = 1; rep <= REPS; rep++)); do
				for ((i = 0; i < 3; i++)); do
					d=${daemons[(i + rep - 1) % 3]}
					want "$d" && run_rep lat "$d" "$tr" "$pin" "$rep"
				done
			done
		done
	done
fi
QUIET_END="CPU $(busy_pct 2)% busy over 2 s after the last run (our processes gone), load average $(cut -d' ' -f1-3 /proc/loadavg)"

cmdline="bench/bench-lazy.sh$( ((${#ARGS[@]})) && printf ' %q' "${ARGS[@]}")"
[[ ${#ARGS[@]} -eq 0 ]] && cmdline+=' (`make bench-lazy`)'
report=$(python3 "$ROOT/bench/lazy_report.py" "$res" \
	"command=$cmdline" \
	"date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
	"criu=$CRIU_VER" "kernel=$(uname -r)" "nproc=$(nproc)" \
	"cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)" \
	"faultline=$FL_DESC" \
	"mib=$MIB" "lat_mib=$LAT_MIB" "touches=$TOUCHES" "reps=$REPS" \
	"tp_lazy=${TP_LAZY:-0}" "lat_lazy=${LAT_LAZY:-0}" "lat_cpu=$LAT_CPU" \
	"quiet=$QUIET" "quiet_end=$QUIET_END" "other_max=$OTHER_MAX" \
	"redone=$(find "$T_OUT/run" -maxdepth 1 -name '*.interfered-*' | wc -l)" "pipe_max=$(cat /proc/sys/fs/pipe-max-size)") ||
	die "report failed"
echo
echo "$report"
if [[ -n $OUT ]]; then
	mkdir -p "$(dirname "$OUT")"
	# A hand-written section (from its heading to the end) survives a new report.
	notes=$(sed -n '/^## Notes (hand-written)/,$p' "$OUT" 2>/dev/null || true)
	printf '%s\n%s' "$report" "${notes:+
$notes
}" >"$OUT"
	say "report written to $OUT"
fi
