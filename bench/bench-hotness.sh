#!/usr/bin/env bash
# make bench-hotness: does `faultline lazy-pages --hotness MAP` help a skewed workload
# during a post-copy migration?
#
# One dump, many restores:
#   1. tests/workloads/zipf (MIB MiB, default 512; Zipf s = 0.99 over its pages, hot
#      pages scattered over the mapping) runs in its own pid namespace, as fast as it
#      can, appending "t_ms ops total" to DIR/tput.txt every 50 ms;
#   2. `faultline probe hotness --pid PID --duration PROBE_S --map hot.map` (default 2 s)
#      on it, then 1 s more of undisturbed running: the pre-dump throughput is taken
#      over that last second;
#   3. `criu dump`; `faultline page-server --pki` (TLS) serves the images;
#   4. REPS times (default 3), alternating which goes first: `criu restore --lazy-pages`
#      with `faultline lazy-pages --page-server --pki ... --bg-pages BG_PAGES --bg-depth
#      BG_DEPTH` without, and with `--hotness hot.map`. The background stream is kept
#      small (default 16 pages per GET, 1 GET in flight; it also yields to faults) so
#      that the migration takes seconds and the order in which pages come matters.
#      Each run first waits (up to 30 s) for a machine under 15% busy. Per run: pages
#      faulted and fault requests, time until every page is in (the daemon's summary),
#      background GETs (the server's log), CPU of the daemon and the server, the
#      workload's ops in the first 1 and 2 s after it resumed (its first tput.txt line
#      after the restore), its mean and median (over 50 ms intervals) throughput from
#      then until the daemon exited with every page in, and the time until a 50 ms
#      interval first reached 50% and 90% of the pre-dump throughput. 0.5 s after the
#      daemon exits, the workload checks every byte (tests/workloads/zipf.c); a wrong
#      run fails the benchmark.
#
# usage: bench/bench-hotness.sh [--reps N] [--mib N] [--s S] [--probe-secs N]
#                               [--bg-pages N] [--bg-depth N] [--out FILE | --no-out]
#                               [--keep]
#   --out FILE   markdown report (default docs/results/hotness.md); a section headed
#                "## Notes (hand-written)" in it is kept
# Environment: CRIU (default .deps/bin/criu), FAULTLINE (default build/faultline: another
# build to compare), BENCH_DIR (work dir; default a new /tmp/faultline-bench-hotness.XXXXXX,
# removed on success unless --keep). Needs root.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPS=3 MIB=512 S=0.99 PROBE_S=2 BG_PAGES=16 BG_DEPTH=1 KEEP='' OUT=$ROOT/docs/results/hotness.md
ARGS=("$@")
while [[ $# -gt 0 ]]; do
	case $1 in
	--reps) REPS=$2; shift 2 ;;
	--mib) MIB=$2; shift 2 ;;
	--s) S=$2; shift 2 ;;
	--probe-secs) PROBE_S=$2; shift 2 ;;
	--bg-pages) BG_PAGES=$2; shift 2 ;;
	--bg-depth) BG_DEPTH=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--no-out) OUT=; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-hotness: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
for v in "$REPS" "$MIB" "$PROBE_S" "$BG_PAGES" "$BG_DEPTH"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench-hotness: bad number '$v'" >&2; exit 2; }
done

T_NAME=bench-hotness
T_OUT=${BENCH_DIR:-$(mktemp -d /tmp/faultline-bench-hotness.XXXXXX)}
# shellcheck source=tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"
# shellcheck source=tests/e2e/lib_lp.sh
. "$ROOT/tests/e2e/lib_lp.sh"
ZIPF=${ZIPF:-$ROOT/build/workloads/zipf}

die() { printf 'bench-hotness: FAILED: %s\n  work dir kept: %s\n' "$*" "$T_OUT" >&2; exit 1; }
say() { printf '[bench] %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }

[[ $(id -u) -eq 0 ]] || die "needs root"
[[ -x $FAULTLINE && -x $ZIPF ]] || die "build first: make"
"$CRIU" --version >/dev/null 2>&1 || die "$CRIU does not run (make deps)"
"$FAULTLINE" probe hotness --help >/dev/null 2>&1 || die "faultline was built without probes"
command -v python3 >/dev/null || die "python3 missing"

t_init
T_KEEP=$KEEP
CRIU_VER=$("$CRIU" --version | sed -n 's/^Version: *//p')
wl=$T_OUT/wl img=$T_OUT/img pki=$T_OUT/pki map=$T_OUT/hot.map res=$T_OUT/results.tsv
"$FAULTLINE" pki init "$pki" >"$T_OUT/pki.log" 2>&1 || die "faultline pki init failed"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# tput_rate FILE FROM_MS TO_MS: mean ops/s between the first and the last line with
# FROM_MS <= t <= TO_MS (from their cumulative totals).
tput_rate() {
	awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b { if (!n++) { t0 = $1; c0 = $3 } t1 = $1; c1 = $3 }
		END { if (n < 2 || t1 == t0) print 0; else printf "%.0f\n", (c1 - c0) * 1000 / (t1 - t0) }' "$1"
}

# 1-2: workload, probe, baseline.
pid=$(lp_start_prog "$wl" zipf $((30 + MIB / 16)) "$ZIPF" --size "$MIB" --s "$S" --dir "$wl") ||
	die "zipf did not start"
sleep 1
say "zipf: $MIB MiB, s=$S, pid $pid; probing for $PROBE_S s"
"$FAULTLINE" probe hotness --pid "$pid" --duration "$PROBE_S" --map "$map" \
	>"$T_OUT/probe.out" 2>"$T_OUT/probe.err" </dev/null || die "probe failed: $(cat "$T_OUT/probe.err")"
sleep 1.1
t_dump_ms=$(now_ms)
BASE=$(tput_rate "$wl/tput.txt" $((t_dump_ms - 1000)) "$t_dump_ms")
PROBE_RATE=$(awk -v a=$((t_dump_ms - 1100 - PROBE_S * 1000)) -v b=$((t_dump_ms - 1100)) \
	'$1 > a && $1 <= b { s += $2; n++ } END { printf "%.0f\n", n ? s * 20 / n : 0 }' "$wl/tput.txt")
t_dump "$pid" "$img" || die "criu dump failed"
t_wait_exit "$pid" 10 || die "dumped zipf still runs"
MAP_LINES=$(grep -vc '^#' "$map" || true)
MAP_PAGES=$(python3 -c '
import sys
print(sum((int(l.split()[2], 16) - int(l.split()[1], 16)) // 4096 for l in open(sys.argv[1]) if not l.startswith("#")))' "$map")
say "baseline $BASE ops/s (during the probe: $PROBE_RATE ops/s); map: $MAP_LINES ranges, $MAP_PAGES pages"

t_fl_page_server "$T_OUT/ps.log" "$img" --pki "$pki" || die "page server did not start"
LAZY=$T_PS_LAZY
say "page server: $LAZY lazy pages"

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

# cpu_ms PID: user + system CPU of a live process, in ms.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%d\n", ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }

# run_one MODE REP: MODE plain|hot; appends a line to $res.
run_one() {
	local mode=$1 rep=$2 wd n0 ps0 pscpu0 pscpu t0 t1 t_end rc=0 f p z allin p50 p99 nf lp lpc
	local resume total0 rate rmed r50 r90 o1 o2 other rpid lu ls bg_gets deadline=$((SECONDS + 30))
	local -a extra=()
	wd=$T_OUT/run/$mode-$rep
	# Wait (up to 30 s) for a machine under 15% busy; the others' CPU use is recorded.
	while (($(busy_pct 1) >= 15 && SECONDS < deadline)); do :; done
	mkdir -p "$wd"
	mkfifo "$wd/lp.status"
	python3 "$ROOT/bench/othercpu.py" snap "$wd/other.snap" $$
	[[ $mode == hot ]] && extra=(--hotness "$map")
	rm -f "$wl/go" "$wl/result"
	n0=$(wc -l <"$wl/tput.txt")
	ps0=$(wc -l <"$T_OUT/ps.log")
	pscpu0=$(cpu_ms "$T_PS_PID")
	python3 "$ROOT/bench/rtime.py" "$wd/lp.time" "$FAULTLINE" lazy-pages -D "$img" -W "$wd" \
		--page-server --address 127.0.0.1 --port "$T_PS_PORT" --pki "$pki" -o "$wd/lp.log" \
		--bg-pages "$BG_PAGES" --bg-depth "$BG_DEPTH" "${extra[@]}" --status-fd 3 \
		3>"$wd/lp.status" </dev/null >"$wd/lp.out" 2>&1 &
	lp=$!
	t_track "$lp"
	[[ $(timeout 30 head -c1 "$wd/lp.status" | wc -c) -eq 1 ]] || die "lazy-pages did not start ($wd)"
	lpc=$(pgrep -P "$lp")
	t_track "$lpc"
	t0=$(now_ms)
	t_restore_wd "$wd" "$img" --lazy-pages || die "lazy restore failed ($wd)"
	t1=$(now_ms)
	rpid=$(cat "$wd/restored.pid")
	[[ $(readlink "/proc/$rpid/ns/time") == $(readlink /proc/self/ns/time) ]] || TIMENS=new
	# Not lp_wait: it polls every 20 ms; this returns as the daemon exits.
	timeout 300 tail --pid="$lpc" -f /dev/null || die "lazy-pages still runs after 300 s ($wd)"
	t_end=$(now_ms)
	other=$(python3 "$ROOT/bench/othercpu.py" diff "$wd/other.snap" $$ "$rpid")
	pscpu=$(($(cpu_ms "$T_PS_PID") - pscpu0))
	wait "$lp" || rc=$?
	((rc == 0)) || die "lazy-pages exited with $rc ($wd/lp.log)"
	read -r _ lu ls _ _ <"$wd/lp.time"
	read -r f p z <<<"$(lp_summary "$wd/lp.log")"
	[[ -n $f ]] || die "no summary ($wd/lp.log)"
	((f + p == LAZY)) || die "summary: $f faulted + $p prefetched != $LAZY ($wd/lp.log)"
	read -r allin p50 p99 nf < <(sed -n 's/.*all pages in \([0-9.]*\) s after.*p50 \([0-9.]*\) us, p99 \([0-9.]*\) us (\([0-9]*\) faults).*/\1 \2 \3 \4/p' \
		"$wd/lp.log" | tail -1)
	[[ $mode == plain ]] || grep -q "hotness map .*: $MAP_LINES ranges" "$wd/lp.log" ||
		die "lazy-pages did not load the map ($wd/lp.log)"
	# The background link's GETs: the second connection of this run in the server's log
	# (lazy-pages opens the fault link at startup, the background link after restore).
	sleep 0.1
	bg_gets=$(tail -n +"$((ps0 + 1))" "$T_OUT/ps.log" | awk '
		/: connected \(TLS\)/ && ++n == 2 { match($0, /[^ ]+: connected/); peer = substr($0, RSTART, RLENGTH - 10) }
		peer != "" && index($0, " " peer " session closed: ") { sub(/.* session closed: /, ""); print $1; exit }')
	[[ -n $bg_gets ]] || die "no background session in the server's log ($T_OUT/ps.log)"
	sleep 0.4
	t_verify "$wl" 120 || die "memory verification failed after the $mode run $rep"
	tail -n +"$((n0 + 1))" "$wl/tput.txt" >"$wd/tput.txt"
	# The first line after the restore is written within 16 ops of resuming.
	read -r resume _ total0 <"$wd/tput.txt"
	rate=$(tput_rate "$wd/tput.txt" "$resume" "$t_end")
	# The median of the 50 ms intervals in that window: the mean is dominated by its last
	# few intervals, once the workload runs at full speed again.
	rmed=$(awk -v b="$t_end" 'NR > 1 && $1 <= b { printf "%.0f\n", $2 * 1000 / ($1 - prev) } { prev = $1 }' \
		"$wd/tput.txt" | sort -n | awk '{ x[++n] = $1 }
		END { print n ? (n % 2 ? x[(n + 1) / 2] : int((x[n / 2] + x[n / 2 + 1]) / 2)) : 0 }')
	read -r r50 r90 < <(awk -v base="$BASE" -v r="$resume" 'NR > 1 {
			x = $2 * 1000 / ($1 - prev); if (!a && x >= base / 2) a = $1 - r
			if (!b && x >= base * 0.9) b = $1 - r }
		{ prev = $1 } END { print (a ? a : "-"), (b ? b : "-") }' "$wd/tput.txt")
	# Ops done in the first 1 and 2 s after resuming (interpolated at the boundary).
	read -r o1 o2 < <(awk -v r="$resume" -v c0="$total0" 'function at(T) {
			for (i = 1; i <= n; i++) if (t[i] >= T)
				return i == 1 ? c[1] : c[i-1] + (c[i] - c[i-1]) * (T - t[i-1]) / (t[i] - t[i-1])
			return c[n] }
		{ t[++n] = $1; c[n] = $3 } END { printf "%.0f %.0f\n", at(r + 1000) - c0, at(r + 2000) - c0 }' \
		"$wd/tput.txt")
	printf '%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%d\n' \
		"$mode" "$rep" "$f" "$p" "$z" "$nf" "$allin" "$p50" "$p99" $((t1 - t0)) $((resume - t0)) \
		$((t_end - t0)) "$rate" "$r50" "$r90" "$o1" "$o2" "$other" "$bg_gets" "$rmed" \
		"$(echo "($lu + $ls) * 1000" | bc -l)" "$pscpu" >>"$res"
	say "$(printf '%-5s run %d: %6d pages faulted, %6d background GETs, all in %s s (resumed after %d ms); ops in the first 1 s / 2 s: %s / %s; %s ops/s during migration; 50%%/90%% of pre-dump after %s/%s ms; CPU daemon %.0f ms, server %d ms, others %s ms; verified' \
		"$mode" "$rep" "$f" "$bg_gets" "$allin" $((resume - t0)) "$o1" "$o2" "$rate" "$r50" "$r90" \
		"$(echo "($lu + $ls) * 1000" | bc -l)" "$pscpu" "$other")"
}

command -v bc >/dev/null || die "bc missing"
printf 'mode\trep\tfaulted\tprefetched\tzeroed\tfault_reqs\tallin_s\tp50_us\tp99_us\trestore_ms\tresume_ms\texit_ms\tops_s\tt50_ms\tt90_ms\tops_1s\tops_2s\tother_ms\tbg_gets\tops_s_med\tlp_cpu_ms\tps_cpu_ms\n' >"$res"
TIMENS=root
for ((rep = 1; rep <= REPS; rep++)); do
	if ((rep % 2)); then order=(plain hot); else order=(hot plain); fi
	for m in "${order[@]}"; do run_one "$m" "$rep"; done
done
kill -TERM "$T_PS_PID"
t_fl_ps_wait 10 >/dev/null || die "page server did not stop cleanly"

label=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
[[ $FAULTLINE == "$ROOT/build/faultline" ]] || label="$FAULTLINE (FAULTLINE=)"
cmdline="bench/bench-hotness.sh${ARGS[*]:+ ${ARGS[*]}}"
# shellcheck disable=SC2016 # backquotes for markdown
[[ ${#ARGS[@]} -eq 0 ]] && cmdline+=' (`make bench-hotness`)'
report=$(python3 "$ROOT/bench/hotness_report.py" "$res" \
	"command=$cmdline" "date=$(date -u '+%Y-%m-%d %H:%M UTC')" "criu=$CRIU_VER" \
	"kernel=$(uname -r)" "nproc=$(nproc)" "faultline=$label" "timens=$TIMENS" \
	"load_start=$LOAD_START" "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" \
	"mib=$MIB" "s=$S" "probe_s=$PROBE_S" "bg_pages=$BG_PAGES" "bg_depth=$BG_DEPTH" "reps=$REPS" \
	"base=$BASE" "probe_rate=$PROBE_RATE" "map_lines=$MAP_LINES" "map_pages=$MAP_PAGES" \
	"lazy=$LAZY") || die "report failed"
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
