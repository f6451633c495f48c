#!/usr/bin/env bash
# make bench (bench/bench-migrate.sh): the migration studies of docs/results/migrate.md.
#
# 1. Grid: the synthetic workload (tests/workloads/synth.c, zipf writes over a working set
#    of a quarter of its memory) migrated by every mode and by --mode auto, for each memory
#    size x link rate x dirty rate, each run through `faultline migrate` in the netns lab
#    with TLS and a client pinging every 10 ms through the migration. Every run verifies the
#    workload's memory; a run that does not verify is reported as failed.
#    Gives: freeze time against dirty rate per mode, total time, bytes on the link, the
#    client-visible gap per mode, and the policy's evaluation (bench/policy_eval.py).
# 2. Hotness: post-copy of a zipf workload over a 100 Mbit/s link, remote faults against
#    its working-set size, without and with a hotness map (`faultline probe hotness --map`
#    on the source, `lazy-pages --hotness` on the destination; migrate --hotness).
# 3. Pre-emption: fault latency during post-copy's background fetch over the shaped link,
#    with lazy-pages asking again on its low-delay fault link for a page already in flight
#    in the background (the default) and without (--no-preempt).
# 4. Fault latency: the CDF of first-touch fault latency right after restore, faultline
#    lazy-pages against CRIU's `criu lazy-pages` on the same images and page server
#    (bench/bench-lazy.sh --only latency; all on one CPU).
# Then tables (markdown) and gnuplot plots (PNG and SVG) in docs/results/.
#
# usage: bench/bench-migrate.sh [--short | --full] [--out DIR] [--work DIR] [--keep]
#   --short      a small grid that fits a CI run (32 MiB, 1 Gbit/s, dirty 0 and 16 MB/s;
#                one hotness pair; 64 MiB latency workload). Default.
#   --full       64 and 256 MiB x 100 Mbit/s and 1 Gbit/s x dirty 0, 8, 32 MB/s;
#                working sets 8, 32, 128 MiB of 256 MiB; 512 MiB latency workload, 3 reps
#   --out DIR    results (default docs/results); runs go to DIR/migrate-runs-MODE/
#   --work DIR   scratch (default /tmp/faultline-bench-migrate.XXXXXX)
#   --reps N     runs per grid point of each fixed mode (default 1 short, 2 full; auto
#                runs once per point); the policy's evaluation uses medians
# Exit status 0 if every run migrated and verified, and the report was written.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FAULTLINE=${FAULTLINE:-$ROOT/build/faultline}
SIZE=short OUT=$ROOT/docs/results WORK="" KEEP=0 REPS=""
while (($#)); do
	case $1 in
	--short) SIZE=short; shift ;;
	--full) SIZE=full; shift ;;
	--out) OUT=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--reps) REPS=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "bench-migrate: unknown option '$1'" >&2; exit 2 ;;
	esac
done
if [[ $SIZE == short ]]; then
	MEMS=(32) RATES=(1gbit) DIRTIES=(0 16) HOT_WSS=(4) HOT_MEM=32 HOT_RATE=100mbit REPS=${REPS:-1}
	LAT=(--reps 1 --lat-mib 64 --touches 300)
else
	MEMS=(64 256) RATES=(100mbit 1gbit) DIRTIES=(0 8 32) HOT_WSS=(8 32 128) HOT_MEM=256
	HOT_RATE=100mbit LAT=(--reps 3 --lat-mib 512 --touches 1000) REPS=${REPS:-2}
fi
MODES=(stop-and-copy pre-copy post-copy hybrid auto)
WORK=${WORK:-$(mktemp -d /tmp/faultline-bench-migrate.XXXXXX)}
RUNS=$OUT/migrate-runs-$SIZE
mkdir -p "$RUNS" "$WORK" && rm -f "$RUNS"/*.json "$RUNS"/{grid,hotness,preempt}/*.json
T0=$SECONDS
FAILED=()

say() { printf '[bench-migrate %5ds] %s\n' $((SECONDS - T0)) "$*" >&2; }

# run [--dir SUB] NAME ARGS...: one `faultline migrate`, its JSON kept as RUNS[/SUB]/NAME.json.
run() {
	local dir=$RUNS name rc=0
	[[ $1 == --dir ]] && { dir=$RUNS/$2; shift 2; mkdir -p "$dir"; }
	name=$1
	shift
	say "$name: faultline migrate $*"
	timeout 900 "$FAULTLINE" migrate --lab fl-bench -W "$WORK/$name" --json "$dir/$name.json" \
		"$@" >"$WORK/$name.out" 2>&1 || rc=$?
	sed 's/^/    /' "$WORK/$name.out" | grep -v '^\s*\[migrate' >&2
	if ((rc != 0)); then
		FAILED+=("$name (exit $rc)")
		say "$name FAILED (exit $rc): $(grep -m2 -i 'fail\|error' "$WORK/$name.out")"
	elif ((!KEEP)); then
		rm -rf "$WORK/$name"
	fi
}

grid() {
	local mem rate dirty mode rep
	for rep in $(seq 1 "$REPS"); do
		for mem in "${MEMS[@]}"; do
			for rate in "${RATES[@]}"; do
				for dirty in "${DIRTIES[@]}"; do
					for mode in "${MODES[@]}"; do
						[[ $mode == auto && $rep -gt 1 ]] && continue
						run --dir grid "grid-m${mem}-${rate}-d${dirty}-${mode}-r$rep" --mode "$mode" \
							--rate "$rate" \
							--workload "synth:size=$mem,wss=$((mem / 4)),rate=$dirty,skew=zipf"
					done
				done
			done
		done
	done
}

# Fault latency during the background fetch over a shaped link, with lazy-pages asking
# again on the fault link for a faulting page still in flight in the background
# (default) and without (--no-preempt).
preempt() {
	local rep p
	for rep in $(seq 1 "$REPS"); do
		for p in on off; do
			run --dir preempt "pre-m${HOT_MEM}-$p-r$rep" --mode post-copy --rate "$HOT_RATE" \
				$([[ $p == off ]] && echo --no-preempt) \
				--workload "synth:size=$HOT_MEM,wss=$((HOT_MEM / 4)),rate=8,skew=zipf"
		done
	done
}

hotness() {
	local wss h
	for wss in "${HOT_WSS[@]}"; do
		for h in off on; do
			run --dir hotness "hot-m${HOT_MEM}-w${wss}-$h" --mode post-copy --rate "$HOT_RATE" \
				$([[ $h == on ]] && echo --hotness) \
				--workload "synth:size=$HOT_MEM,wss=$wss,rate=8,skew=zipf"
		done
	done
}

latency() {
	say "fault latency: bench/bench-lazy.sh --only latency ${LAT[*]}"
	BENCH_DIR=$WORK/lat "$ROOT/bench/bench-lazy.sh" --only latency "${LAT[@]}" --no-out --keep \
		>"$WORK/lat.out" 2>&1 || FAILED+=("latency (bench-lazy.sh)")
	mkdir -p "$RUNS/latency"
	python3 "$ROOT/bench/migrate_plots.py" collect-latency "$WORK/lat" "$RUNS/latency" ||
		FAILED+=("latency (no lat.txt files)")
}

"$ROOT/bench/netlab.sh" down fl-bench 2>/dev/null
grid
hotness
preempt
latency
"$ROOT/bench/netlab.sh" down fl-bench 2>/dev/null
say "report: bench/migrate_plots.py report $RUNS $OUT ($SIZE)"
python3 "$ROOT/bench/migrate_plots.py" report "$RUNS" "$OUT" --size "$SIZE" \
	--failed "${FAILED[*]:-}" || FAILED+=("report")
((KEEP)) || rm -rf "$WORK"
if ((${#FAILED[@]})); then
	say "FAILED: ${FAILED[*]}"
	exit 1
fi
say "done: $OUT/migrate-$SIZE.md"
